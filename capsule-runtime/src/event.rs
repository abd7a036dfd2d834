//! The six events of the Capsule webhook contract, as they go on the wire.
//!
//! Every event shares one envelope (`event_type`, `session_id`, `timestamp`, `agent`,
//! `user`) and, depending on its type, carries a `tool` or a `message` object.
//! [`Event`] serialises to exactly that shape.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The agent that sends events: its stable id and a human-readable name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    id: Arc<str>,
    name: Arc<str>,
}

impl Agent {
    /// An agent with the given id (stable across runs) and display name.
    pub fn new(id: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
        }
    }

    /// The agent's stable id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The agent's display name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The person an agent acts for, identified by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    email: Arc<str>,
}

impl User {
    /// A user identified by `email`.
    pub fn new(email: impl Into<Arc<str>>) -> Self {
        Self {
            email: email.into(),
        }
    }

    /// The user's email.
    #[must_use]
    pub fn email(&self) -> &str {
        &self.email
    }
}

impl From<&str> for User {
    fn from(email: &str) -> Self {
        Self::new(email)
    }
}

impl From<String> for User {
    fn from(email: String) -> Self {
        Self::new(email)
    }
}

/// A moment in time, written as RFC 3339 in UTC with seconds precision and a `Z`
/// suffix (`2026-03-03T10:30:00Z`), as the contract requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// The current time, truncated to whole seconds.
    #[must_use]
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Parses an RFC 3339 timestamp; fractions of a second are dropped.
    ///
    /// # Errors
    /// Returns [`TimestampError`], which says what is wrong, when `text` is not RFC 3339.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Self::from_datetime)
            .map_err(|err| TimestampError(err.to_string()))
    }

    fn from_datetime(at: OffsetDateTime) -> Self {
        let utc = at.to_offset(time::UtcOffset::UTC);
        Self(utc.replace_nanosecond(0).unwrap_or(utc))
    }
}

/// Why a text is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError(String);

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an RFC 3339 timestamp: {}", self.0)
    }
}

impl std::error::Error for TimestampError {}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A piece of JSON that was serialised once and is shared between events.
///
/// A tool's `input` goes out twice (with the invocation and with the result); keeping
/// it as serialised text avoids building and encoding it again.
#[derive(Clone)]
pub struct Json(Arc<RawValue>);

impl Json {
    /// Serialises `value` to JSON.
    ///
    /// # Errors
    /// Returns serde's error when `value` cannot be represented as JSON (for example a
    /// map with non-string keys).
    pub fn from_serialize<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let text = serde_json::to_string(value)?;
        Self::from_json_text(text)
    }

    /// Wraps text that must already be valid JSON.
    ///
    /// # Errors
    /// Returns serde's error when `text` is not valid JSON.
    pub fn from_json_text(text: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text).map(|raw| Self(Arc::from(raw)))
    }

    /// A JSON string holding `text`.
    #[must_use]
    pub fn string(text: &str) -> Self {
        Self::from_serialize(text).unwrap_or_else(|_| Self::null())
    }

    /// JSON `null`.
    #[must_use]
    pub fn null() -> Self {
        Self::from_json_text("null".to_owned()).unwrap_or_else(|_| unreachable!())
    }

    /// The JSON text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Parses the JSON into a [`serde_json::Value`].
    #[must_use]
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.as_str()).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// Text for an event field: a message's content. Strings are taken as they are; bytes
/// that are not valid UTF-8 have the bad sequences replaced with `U+FFFD`, so that odd
/// input never costs the event.
pub trait IntoText {
    /// The text.
    fn into_text(self) -> String;
}

impl IntoText for String {
    fn into_text(self) -> String {
        self
    }
}

impl IntoText for &str {
    fn into_text(self) -> String {
        self.to_owned()
    }
}

impl IntoText for &String {
    fn into_text(self) -> String {
        self.clone()
    }
}

impl IntoText for Cow<'_, str> {
    fn into_text(self) -> String {
        self.into_owned()
    }
}

impl IntoText for Box<str> {
    fn into_text(self) -> String {
        self.into_string()
    }
}

impl IntoText for Vec<u8> {
    fn into_text(self) -> String {
        String::from_utf8(self)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }
}

impl IntoText for &[u8] {
    fn into_text(self) -> String {
        String::from_utf8_lossy(self).into_owned()
    }
}

impl<const N: usize> IntoText for &[u8; N] {
    fn into_text(self) -> String {
        String::from_utf8_lossy(self).into_owned()
    }
}

/// What happened, with the object that the event type carries.
#[derive(Debug, Clone)]
pub enum EventKind {
    /// Before a tool runs; blocking.
    ToolInvocation {
        /// The tool's name.
        name: Cow<'static, str>,
        /// The tool's arguments, a JSON object.
        input: Json,
    },
    /// After a tool finished; telemetry.
    ToolResult {
        /// The tool's name.
        name: Cow<'static, str>,
        /// The tool's arguments, a JSON object.
        input: Json,
        /// What the tool produced.
        output: Json,
    },
    /// Before a user prompt is processed; blocking.
    UserMessage {
        /// The prompt.
        content: String,
    },
    /// After the agent produced a reply; telemetry.
    AgentMessage {
        /// The reply.
        content: String,
    },
    /// A session began; telemetry.
    SessionStart,
    /// A session ended; telemetry.
    SessionEnd,
}

impl EventKind {
    /// The `event_type` name on the wire.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::ToolInvocation { .. } => "tool_invocation",
            Self::ToolResult { .. } => "tool_result",
            Self::UserMessage { .. } => "user_message",
            Self::AgentMessage { .. } => "agent_message",
            Self::SessionStart => "session_start",
            Self::SessionEnd => "session_end",
        }
    }

    /// Whether the caller waits for a decision on this event before acting.
    #[must_use]
    pub fn is_blocking(&self) -> bool {
        matches!(self, Self::ToolInvocation { .. } | Self::UserMessage { .. })
    }

    /// Whether a field is longer than `limit` bytes, so that [`EventKind::truncate`]
    /// would change it. Cheap: it only compares lengths.
    pub(crate) fn exceeds(&self, limit: usize) -> bool {
        match self {
            Self::ToolInvocation { input, .. } => input.as_str().len() > limit,
            Self::ToolResult { input, output, .. } => {
                input.as_str().len() > limit || output.as_str().len() > limit
            }
            Self::UserMessage { content } | Self::AgentMessage { content } => content.len() > limit,
            Self::SessionStart | Self::SessionEnd => false,
        }
    }

    /// Cuts every field longer than `limit` bytes and marks it: a message keeps its
    /// start and ends with a note of its full length; a JSON value becomes
    /// `{"truncated": true, "original_bytes": N, "preview": "<start of its JSON>"}`.
    pub(crate) fn truncate(&mut self, limit: usize) {
        match self {
            Self::ToolInvocation { input, .. } => input.truncate(limit),
            Self::ToolResult { input, output, .. } => {
                input.truncate(limit);
                output.truncate(limit);
            }
            Self::UserMessage { content } | Self::AgentMessage { content } => {
                truncate_text(content, limit);
            }
            Self::SessionStart | Self::SessionEnd => {}
        }
    }

    /// About how much memory the event's own fields hold, for the queue's byte bound.
    pub(crate) fn heap_bytes(&self) -> usize {
        let name_len = |name: &Cow<'static, str>| match name {
            Cow::Borrowed(_) => 0,
            Cow::Owned(owned) => owned.len(),
        };
        match self {
            Self::ToolInvocation { name, input } => name_len(name) + input.as_str().len(),
            Self::ToolResult {
                name,
                input,
                output,
            } => name_len(name) + input.as_str().len() + output.as_str().len(),
            Self::UserMessage { content } | Self::AgentMessage { content } => content.len(),
            Self::SessionStart | Self::SessionEnd => 0,
        }
    }
}

/// The note that ends a cut message.
fn truncation_note(original: usize) -> String {
    format!(" [truncated by Capsule: {original} bytes in all]")
}

fn truncate_text(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let note = truncation_note(text.len());
    let cut = floor_char_boundary(text, limit.saturating_sub(note.len()));
    text.truncate(cut);
    text.push_str(&note);
}

/// The largest index up to `index` that falls between two characters of `text`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}

impl Json {
    fn truncate(&mut self, limit: usize) {
        let text = self.as_str();
        if text.len() <= limit {
            return;
        }

        // Escaping the preview as a JSON string at most doubles it (the text is JSON,
        // so it has no raw control characters), which keeps the marker within `limit`.
        let room = limit.saturating_sub(80) / 2;
        let preview = &text[..floor_char_boundary(text, room)];
        let marker = serde_json::json!({
            "truncated": true,
            "original_bytes": text.len(),
            "preview": preview,
        });
        *self = Self::from_serialize(&marker).unwrap_or_else(|_| Self::null());
    }
}

/// One event of the contract: the shared envelope and its kind.
#[derive(Debug, Clone)]
pub struct Event {
    /// The session this event belongs to, e.g. `sess-<uuid>`.
    pub session_id: Arc<str>,
    /// When it happened.
    pub timestamp: Timestamp,
    /// The instrumented agent.
    pub agent: Agent,
    /// The person the agent acts for.
    pub user: User,
    /// What happened.
    pub kind: EventKind,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct ToolBody<'a> {
            name: &'a str,
            input: &'a Json,
            #[serde(skip_serializing_if = "Option::is_none")]
            output: Option<&'a Json>,
        }

        #[derive(Serialize)]
        struct MessageBody<'a> {
            content: &'a str,
        }

        let extra = !matches!(self.kind, EventKind::SessionStart | EventKind::SessionEnd);
        let mut out = serializer.serialize_struct("Event", 5 + usize::from(extra))?;
        out.serialize_field("event_type", self.kind.name())?;
        out.serialize_field("session_id", &*self.session_id)?;
        out.serialize_field("timestamp", &self.timestamp)?;
        out.serialize_field("agent", &self.agent)?;
        out.serialize_field("user", &self.user)?;

        match &self.kind {
            EventKind::ToolInvocation { name, input } => {
                out.serialize_field(
                    "tool",
                    &ToolBody {
                        name,
                        input,
                        output: None,
                    },
                )?;
            }
            EventKind::ToolResult {
                name,
                input,
                output,
            } => {
                out.serialize_field(
                    "tool",
                    &ToolBody {
                        name,
                        input,
                        output: Some(output),
                    },
                )?;
            }
            EventKind::UserMessage { content } | EventKind::AgentMessage { content } => {
                out.serialize_field("message", &MessageBody { content })?;
            }
            EventKind::SessionStart | EventKind::SessionEnd => {}
        }
        out.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_that_is_not_rfc_3339_is_refused_with_what_is_wrong() {
        let err = Timestamp::parse("yesterday at noon").unwrap_err();
        assert!(
            err.to_string().starts_with("not an RFC 3339 timestamp: "),
            "{err}"
        );
    }

    #[test]
    fn timestamp_has_seconds_precision_and_z_suffix() {
        let at = Timestamp::parse("2026-03-03T11:30:00.123456+01:00").unwrap();
        assert_eq!(at.to_string(), "2026-03-03T10:30:00Z");
    }

    #[test]
    fn a_long_message_is_cut_on_a_character_boundary_and_marked() {
        let mut kind = EventKind::AgentMessage {
            content: "é".repeat(1000),
        };
        assert!(kind.exceeds(500));

        kind.truncate(500);

        let EventKind::AgentMessage { content } = &kind else {
            unreachable!()
        };
        assert!(content.len() <= 500, "{}", content.len());
        assert!(content.ends_with("[truncated by Capsule: 2000 bytes in all]"));
        assert!(!kind.exceeds(500));
    }

    #[test]
    fn a_long_json_value_becomes_a_marked_preview_within_the_limit() {
        let big = serde_json::json!({"rows": vec!["a \"quoted\" row"; 500]});
        let mut kind = EventKind::ToolResult {
            name: Cow::Borrowed("t"),
            input: Json::from_serialize(&serde_json::json!({"q": 1})).unwrap(),
            output: Json::from_serialize(&big).unwrap(),
        };

        kind.truncate(1024);

        let EventKind::ToolResult { input, output, .. } = &kind else {
            unreachable!()
        };
        assert_eq!(input.as_str(), r#"{"q":1}"#);
        assert!(output.as_str().len() <= 1024, "{}", output.as_str().len());
        let marker = output.to_value();
        assert_eq!(marker["truncated"], true);
        assert!(
            marker["preview"]
                .as_str()
                .unwrap()
                .starts_with(r#"{"rows":["#)
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        assert_eq!(b"ok \xff!".into_text(), "ok \u{fffd}!");
        assert_eq!(vec![b'h', 0xC0, b'i'].into_text(), "h\u{fffd}i");
        assert_eq!(String::from("kept").into_text(), "kept");
    }

    #[test]
    fn json_string_escapes_quotes() {
        assert_eq!(Json::string("say \"hi\"").as_str(), r#""say \"hi\"""#);
    }
}
