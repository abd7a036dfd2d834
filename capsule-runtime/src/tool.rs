//! What `#[capsule::tool]` expands to: the check before a tool runs and the report
//! after. These items are public so that generated code can name them; they are not
//! meant to be called by hand.

use std::borrow::Cow;
use std::fmt::Display;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

use crate::decision::{Blocked, Verdict};
use crate::event::{EventKind, Json};
use crate::session::Scope;

/// A guarded call that has not been checked yet.
#[derive(Debug)]
pub struct ToolCall {
    scope: Scope,
    name: &'static str,
}

impl ToolCall {
    /// Starts a guarded call of the tool `name`; `None` when no enabled client can see
    /// it, in which case the tool runs unguarded.
    #[inline]
    #[must_use]
    pub fn begin(name: &'static str) -> Option<Self> {
        if Scope::none_possible() {
            return None;
        }
        Self::begin_slow(name)
    }

    #[cold]
    fn begin_slow(name: &'static str) -> Option<Self> {
        Scope::current().map(|scope| Self { scope, name })
    }

    /// Sends `tool_invocation` and waits for the verdict.
    ///
    /// # Errors
    /// Returns the block when the service (or the fail-closed policy) refused the call.
    pub async fn check(self, input: Input) -> Result<ToolRun, Blocked> {
        let input = input.finish();
        let kind = EventKind::ToolInvocation {
            name: Cow::Borrowed(self.name),
            input: input.clone(),
        };

        match self.scope.check(kind).await {
            Verdict::Allow { .. } => Ok(ToolRun {
                scope: self.scope,
                name: self.name,
                input,
            }),
            Verdict::Block(blocked) => Err(blocked),
        }
    }
}

/// A guarded call that was allowed and is running.
#[derive(Debug)]
pub struct ToolRun {
    scope: Scope,
    name: &'static str,
    input: Json,
}

impl ToolRun {
    /// Queues `tool_result` with the call's output; never waits.
    pub fn finish<R: ToolOutput + ?Sized>(self, result: &R) {
        let kind = EventKind::ToolResult {
            name: Cow::Borrowed(self.name),
            input: self.input,
            output: result.to_output(),
        };
        self.scope.client.emit(self.scope.event(kind));
    }
}

/// The arguments of a guarded call, collected as a JSON object keyed by parameter name.
#[derive(Debug, Default)]
pub struct Input {
    fields: Vec<(&'static str, Box<RawValue>)>,
}

impl Input {
    /// An empty argument object with room for `capacity` fields.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            fields: Vec::with_capacity(capacity),
        }
    }

    /// Adds one argument. A value that serde cannot turn into JSON is sent as a string
    /// that says so, rather than losing the whole check.
    pub fn field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) {
        let raw = serde_json::value::to_raw_value(value).unwrap_or_else(|err| {
            let note = format!("<not serialisable: {err}>");
            serde_json::value::to_raw_value(&note).unwrap_or_else(|_| null())
        });
        self.fields.push((name, raw));
    }

    fn finish(self) -> Json {
        let text = serde_json::to_string(&self).unwrap_or_else(|_| "{}".to_owned());
        Json::from_json_text(text).unwrap_or_else(|_| Json::null())
    }
}

impl Serialize for Input {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!())
}

/// A return type whose value can be reported in `tool_result`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be reported as a guarded tool's output",
    label = "a guarded tool must return `Result<T, E>` with `T: Serialize` and `E: Display`",
    note = "`#[capsule::tool]` sends the `Ok` value as JSON, or the error's text"
)]
pub trait ToolOutput {
    /// The value as it goes into `tool.output`.
    fn to_output(&self) -> Json;
}

impl<T: Serialize, E: Display> ToolOutput for Result<T, E> {
    fn to_output(&self) -> Json {
        match self {
            Ok(value) => Json::from_serialize(value)
                .unwrap_or_else(|err| Json::string(&format!("<not serialisable: {err}>"))),
            Err(err) => Json::string(&err.to_string()),
        }
    }
}

/// A return type that can carry a block back to the caller.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a Capsule block",
    label = "a guarded tool must return `Result<T, E>` where `E: From<capsule::Blocked>`",
    note = "return for example `anyhow::Result<T>`, `Result<T, Box<dyn Error + Send + Sync>>`, \
            or your own error type with `impl From<capsule::Blocked>`"
)]
pub trait FromBlocked {
    /// The value the guarded function returns instead of running its body.
    fn from_blocked(blocked: Blocked) -> Self;
}

impl<T, E: From<Blocked>> FromBlocked for Result<T, E> {
    fn from_blocked(blocked: Blocked) -> Self {
        Err(E::from(blocked))
    }
}

/// Turns a block into the guarded function's return value; generic so that generated
/// code never has to spell the return type.
#[inline]
#[must_use]
pub fn blocked<R: FromBlocked>(blocked: Blocked) -> R {
    R::from_blocked(blocked)
}
