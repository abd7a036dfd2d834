//! The events on the wire: the envelope every body shares, checked field by field.
//!
//! The check is strict about what the contract names (each field present and of the right
//! type) and lenient about everything else: unknown extra fields, such as an `event_id` the
//! SDK adds, are accepted and kept in the recorded body.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The six kinds of event the contract defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// Before a tool runs; blocking.
    ToolInvocation,
    /// Before a user prompt is processed; blocking.
    UserMessage,
    /// After a tool finished; telemetry.
    ToolResult,
    /// After the agent produced a reply; telemetry.
    AgentMessage,
    /// When a session begins; telemetry.
    SessionStart,
    /// When a session ends; telemetry.
    SessionEnd,
}

impl EventType {
    /// Every event type, in the order the contract lists them.
    pub const ALL: [EventType; 6] = [
        EventType::ToolInvocation,
        EventType::UserMessage,
        EventType::ToolResult,
        EventType::AgentMessage,
        EventType::SessionStart,
        EventType::SessionEnd,
    ];

    /// The name on the wire, e.g. `"tool_invocation"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ToolInvocation => "tool_invocation",
            EventType::UserMessage => "user_message",
            EventType::ToolResult => "tool_result",
            EventType::AgentMessage => "agent_message",
            EventType::SessionStart => "session_start",
            EventType::SessionEnd => "session_end",
        }
    }

    /// Whether the caller waits for a decision (`200` with allow or block) rather than
    /// getting `202` with an empty body.
    #[must_use]
    pub fn is_blocking(self) -> bool {
        matches!(self, EventType::ToolInvocation | EventType::UserMessage)
    }

    /// A dense index, `0..6`, for per-type tables.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// A name that is none of the six event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEventType(pub String);

impl fmt::Display for UnknownEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
        write!(
            f,
            "unknown event type {:?}; expected one of {}",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownEventType {}

/// The tool part of a `tool_invocation` or `tool_result`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// The tool's name, e.g. `"database_query"`.
    pub name: String,
    /// The tool's arguments: always a JSON object.
    pub input: Value,
    /// What the tool produced: present on `tool_result` only.
    pub output: Option<Value>,
}

/// An event whose envelope has been checked against the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Which of the six events this is.
    pub event_type: EventType,
    /// The agent session the event belongs to.
    pub session_id: String,
    /// When the caller says the event happened.
    pub timestamp: OffsetDateTime,
    /// `agent.id`.
    pub agent_id: String,
    /// `agent.name`.
    pub agent_name: String,
    /// `user.email`.
    pub user_email: String,
    /// `tool`, on `tool_invocation` and `tool_result`.
    pub tool: Option<Tool>,
    /// `message.content`, on `user_message` and `agent_message`.
    pub message: Option<String>,
}

/// Why a body is not a valid event: the field at fault (a dotted path such as `tool.name`)
/// and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    /// The dotted path of the field, or `body` when the body as a whole is wrong.
    pub field: String,
    /// What is wrong, in words a developer can act on.
    pub problem: String,
}

impl InvalidEvent {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        InvalidEvent {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for InvalidEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.problem)
    }
}

impl std::error::Error for InvalidEvent {}

impl Event {
    /// Checks a parsed body against the envelope of the contract.
    ///
    /// # Errors
    ///
    /// The first field that is missing, of the wrong type, or has a value the contract does
    /// not allow (an unknown `event_type`, a `timestamp` that is not RFC 3339, an empty
    /// `session_id` or `agent.id`).
    pub fn from_json(body: &Value) -> Result<Event, InvalidEvent> {
        let Value::Object(root) = body else {
            return Err(InvalidEvent::new(
                "body",
                format!("must be a JSON object, found {}", kind_of(body)),
            ));
        };

        let event_type: EventType = required_str(root, "", "event_type")?
            .parse()
            .map_err(|err: UnknownEventType| InvalidEvent::new("event_type", err.to_string()))?;
        let session_id = non_empty(required_str(root, "", "session_id")?, "session_id")?;
        let raw_timestamp = required_str(root, "", "timestamp")?;
        // The contract asks for UTC to the second in the form `2026-03-03T10:30:00Z`, so a
        // client that sends fractions, an offset, or the space or lowercase forms RFC 3339
        // also allows is told here rather than by the real service.
        let seconds_in_utc = raw_timestamp.len() == "2026-03-03T10:30:00Z".len()
            && raw_timestamp.as_bytes()[10] == b'T'
            && raw_timestamp.ends_with('Z');
        let timestamp = OffsetDateTime::parse(raw_timestamp, &Rfc3339)
            .ok()
            .filter(|_| seconds_in_utc)
            .ok_or_else(|| {
                InvalidEvent::new(
                    "timestamp",
                    format!(
                        "{raw_timestamp:?} is not RFC 3339 in UTC to the second; send e.g. \
                         \"2026-03-03T10:30:00Z\""
                    ),
                )
            })?;

        let agent = required_object(root, "", "agent")?;
        let agent_id = non_empty(required_str(agent, "agent.", "id")?, "agent.id")?;
        let agent_name = required_str(agent, "agent.", "name")?;
        let user = required_object(root, "", "user")?;
        let user_email = required_str(user, "user.", "email")?;

        let tool = match event_type {
            EventType::ToolInvocation | EventType::ToolResult => {
                Some(tool(root, event_type == EventType::ToolResult)?)
            }
            _ => None,
        };
        let message = match event_type {
            EventType::UserMessage | EventType::AgentMessage => {
                let message = required_object(root, "", "message")?;
                Some(required_str(message, "message.", "content")?.to_owned())
            }
            _ => None,
        };

        Ok(Event {
            event_type,
            session_id: session_id.to_owned(),
            timestamp,
            agent_id: agent_id.to_owned(),
            agent_name: agent_name.to_owned(),
            user_email: user_email.to_owned(),
            tool,
            message,
        })
    }
}

fn tool(root: &Map<String, Value>, with_output: bool) -> Result<Tool, InvalidEvent> {
    let tool = required_object(root, "", "tool")?;
    let name = non_empty(required_str(tool, "tool.", "name")?, "tool.name")?;
    let input = required(tool, "tool.", "input")?;
    if !input.is_object() {
        return Err(InvalidEvent::new(
            "tool.input",
            format!(
                "must be a JSON object of the tool's arguments, found {}",
                kind_of(input)
            ),
        ));
    }
    let output = if with_output {
        Some(required(tool, "tool.", "output")?.clone())
    } else {
        None
    };
    Ok(Tool {
        name: name.to_owned(),
        input: input.clone(),
        output,
    })
}

fn required<'a>(
    object: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a Value, InvalidEvent> {
    object
        .get(key)
        .ok_or_else(|| InvalidEvent::new(format!("{prefix}{key}"), "is missing"))
}

fn required_str<'a>(
    object: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a str, InvalidEvent> {
    let value = required(object, prefix, key)?;
    value.as_str().ok_or_else(|| {
        InvalidEvent::new(
            format!("{prefix}{key}"),
            format!("must be a string, found {}", kind_of(value)),
        )
    })
}

fn required_object<'a>(
    object: &'a Map<String, Value>,
    prefix: &str,
    key: &str,
) -> Result<&'a Map<String, Value>, InvalidEvent> {
    let value = required(object, prefix, key)?;
    value.as_object().ok_or_else(|| {
        InvalidEvent::new(
            format!("{prefix}{key}"),
            format!("must be a JSON object, found {}", kind_of(value)),
        )
    })
}

fn non_empty<'a>(value: &'a str, field: &str) -> Result<&'a str, InvalidEvent> {
    if value.is_empty() {
        Err(InvalidEvent::new(field, "must not be empty"))
    } else {
        Ok(value)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn invocation() -> Value {
        json!({
            "event_type": "tool_invocation",
            "session_id": "sess-1",
            "timestamp": "2026-03-03T10:30:00Z",
            "agent": {"id": "a", "name": "A"},
            "user": {"email": "u@example.com"},
            "tool": {"name": "database_query", "input": {"query": "SELECT 1"}},
            "event_id": "extra fields are fine"
        })
    }

    #[test]
    fn accepts_a_contract_body_with_extra_fields() {
        let event = Event::from_json(&invocation()).unwrap();
        assert_eq!(event.event_type, EventType::ToolInvocation);
        assert_eq!(event.tool.unwrap().name, "database_query");
    }

    #[test]
    fn names_the_nested_field_at_fault() {
        let mut body = invocation();
        body["tool"]["name"] = json!(42);
        let err = Event::from_json(&body).unwrap_err();
        assert_eq!(err.field, "tool.name");
        assert!(err.problem.contains("a number"), "{}", err.problem);
    }

    #[test]
    fn tool_result_needs_an_output() {
        let mut body = invocation();
        body["event_type"] = json!("tool_result");
        assert_eq!(Event::from_json(&body).unwrap_err().field, "tool.output");
    }

    #[test]
    fn event_type_names_round_trip() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>().unwrap(), kind);
            assert_eq!(
                kind.index(),
                EventType::ALL.iter().position(|k| *k == kind).unwrap()
            );
        }
    }
}
