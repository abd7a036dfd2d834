//! What `#[capsule::tool]` expands to: the check before a tool runs and the report
//! after. These items are public so that generated code can name them; they are not
//! meant to be called by hand.

use std::borrow::Cow;
use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

use crate::decision::{Blocked, CheckOptions, NoDecision, Verdict};
use crate::event::{EventKind, Json};
use crate::session::Scope;

/// A guarded call that has not been checked yet.
#[derive(Debug)]
pub struct ToolCall {
    scope: Scope,
    name: &'static str,
    options: CheckOptions,
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

    /// [`ToolCall::begin`] for a tool with settings of its own (deadline, failure
    /// policy, mode) in place of the client's.
    #[inline]
    #[must_use]
    pub fn begin_with(name: &'static str, options: CheckOptions) -> Option<Self> {
        if Scope::none_possible() {
            return None;
        }
        Self::begin_slow(name).map(|call| call.options(options))
    }

    #[cold]
    fn begin_slow(name: &'static str) -> Option<Self> {
        Scope::current().map(|scope| Self {
            scope,
            name,
            options: CheckOptions::new(),
        })
    }

    /// Gives this call settings of its own (deadline, failure policy, mode) in place of
    /// the client's.
    #[inline]
    #[must_use]
    pub fn options(mut self, options: CheckOptions) -> Self {
        self.options = options;
        self
    }

    /// Sends `tool_invocation` and waits for the verdict.
    ///
    /// The future is boxed: it is only made when a client is enabled, where one
    /// allocation is nothing beside the request, and it keeps the guarded function's
    /// own future as small as the unannotated one, which matters on the path where no
    /// client is configured and the future is built and moved on every call.
    ///
    /// # Errors
    /// The future returns the block when the service (or the fail-closed policy)
    /// refused the call.
    #[must_use = "the check only runs when the future is awaited"]
    pub fn check(self, input: Input) -> Check {
        Box::pin(async move {
            let (input, invalid) = input.finish();
            let kind = EventKind::ToolInvocation {
                name: Cow::Borrowed(self.name),
                input: input.clone(),
            };

            let mut verdict = self.scope.check(kind, self.options).await;
            if let (Some(detail), true) = (invalid, verdict.is_allowed()) {
                let cause = NoDecision::InvalidInput(detail);
                verdict = self.scope.client.undecided(self.name, cause, self.options);
            }

            match verdict {
                Verdict::Allow { .. } | Verdict::Unenforced(_) => Ok(ToolRun {
                    open: Some(OpenCall {
                        scope: self.scope,
                        name: self.name,
                        input,
                    }),
                }),
                Verdict::Block(blocked) => Err(blocked),
            }
        })
    }
}

/// The future of [`ToolCall::check`].
pub type Check = Pin<Box<dyn Future<Output = Result<ToolRun, Blocked>> + Send + 'static>>;

/// A guarded call that was allowed and is running.
///
/// When it is dropped unfinished, because the tool panicked or because the caller
/// dropped the call's future while the tool ran (a timeout, a `select!`), it still
/// queues `tool_result`, with a string `output` that says which: the service never sees
/// an allowed call without an end.
#[derive(Debug)]
pub struct ToolRun {
    open: Option<OpenCall>,
}

/// What `tool_result` needs, until it is sent.
#[derive(Debug)]
struct OpenCall {
    scope: Scope,
    name: &'static str,
    input: Json,
}

/// The `output` of a call whose tool panicked.
const PANICKED: &str = "<the tool panicked before it returned>";

/// The `output` of a call whose future was dropped while the tool ran.
const CANCELLED: &str = "<the call was cancelled before the tool returned>";

impl ToolRun {
    /// Queues `tool_result` with the call's output; never waits.
    pub fn finish<R: Report + ?Sized>(mut self, result: &R)
    where
        R::Value: ToolValue,
    {
        if let Some(call) = self.open.take() {
            call.report(result.report());
        }
    }

    /// Queues `tool_result` with `null` for the output, for a tool whose output is not
    /// to be sent; never waits.
    pub fn finish_without_output(mut self) {
        if let Some(call) = self.open.take() {
            call.report(Json::null());
        }
    }
}

impl Drop for ToolRun {
    fn drop(&mut self) {
        if let Some(call) = self.open.take() {
            let output = if std::thread::panicking() {
                PANICKED
            } else {
                CANCELLED
            };
            call.report(Json::string(output));
        }
    }
}

impl OpenCall {
    fn report(self, output: Json) {
        let kind = EventKind::ToolResult {
            name: Cow::Borrowed(self.name),
            input: self.input,
            output,
        };
        self.scope.client.emit(self.scope.event(kind));
    }
}

/// The arguments of a guarded call, collected as a JSON object keyed by binding name.
#[derive(Debug, Default)]
pub struct Input {
    fields: Vec<(&'static str, Box<RawValue>)>,
    /// Set when one argument is the whole input object.
    whole: Option<Box<RawValue>>,
    /// The first argument that could not be serialised, and why.
    invalid: Option<String>,
}

impl Input {
    /// An empty argument object with room for `capacity` fields.
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            fields: Vec::with_capacity(capacity),
            whole: None,
            invalid: None,
        }
    }

    /// An input that is `value` itself, when it serialises to a JSON object; any other
    /// value is sent as `{name: value}`, since `tool.input` is always an object.
    #[must_use]
    pub fn whole<T: ToolArgument + ?Sized>(name: &'static str, value: &T) -> Self {
        let mut input = Self::with_capacity(1);
        let raw = input.raw_json(name, value);
        if raw.get().starts_with('{') {
            input.whole = Some(raw);
        } else {
            input.fields.push((name, raw));
        }
        input
    }

    /// Adds one argument. A value that serde cannot turn into JSON is sent as a string
    /// that says so, and the check then counts as undecided whatever the service
    /// answers: the failure policy decides, since the service never saw the argument.
    pub fn field<T: ToolArgument + ?Sized>(&mut self, name: &'static str, value: &T) {
        let raw = self.raw_json(name, value);
        self.fields.push((name, raw));
    }

    /// The input object, and the first argument that could not be serialised.
    fn finish(mut self) -> (Json, Option<String>) {
        let invalid = self.invalid.take();
        let text = match self.whole {
            Some(whole) => whole.get().to_owned(),
            None => serde_json::to_string(&self).unwrap_or_else(|_| "{}".to_owned()),
        };
        (
            Json::from_json_text(text).unwrap_or_else(|_| Json::null()),
            invalid,
        )
    }

    /// `value` as JSON, or a string saying why it is not, remembering the failure.
    fn raw_json<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Box<RawValue> {
        serde_json::value::to_raw_value(value).unwrap_or_else(|err| {
            let note = format!("<not serialisable: {err}>");
            self.invalid
                .get_or_insert_with(|| format!("argument `{name}`: {err}"));
            serde_json::value::to_raw_value(&note).unwrap_or_else(|_| null())
        })
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

/// `value` as JSON, or a JSON string saying why it could not be serialised.
fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).unwrap_or_else(|_| unreachable!())
}

/// An argument that can be sent in `tool.input`: any `Serialize` value.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent in a guarded tool's `input`",
    label = "this argument is not `Serialize`",
    note = "derive `serde::Serialize` for it, or leave the argument out with \
            `#[capsule::tool(skip(...))]`"
)]
pub trait ToolArgument: Serialize {}

impl<T: Serialize + ?Sized> ToolArgument for T {}

/// How a guarded tool's return value goes into the `output` of `tool_result`.
///
/// `Result<T, E>` reports its `Ok` value as JSON (so `T` must be `Serialize`) and an
/// error as its text; any other type reports itself through [`ToolOutput`].
#[diagnostic::on_unimplemented(
    message = "the output of this guarded tool, `{Self}`, cannot be reported in `tool_result`",
    label = "a guarded tool returns `Result<T, E>` with `E: Display`, or a value that \
             implements `capsule::ToolOutput`",
    note = "implement `capsule::ToolOutput` for a type the tool returns directly, or leave the \
            output out of `tool_result` with `#[capsule::tool(skip_output)]`"
)]
pub trait Report {
    /// The part that is serialised: the `Ok` type of a `Result`; `()` for a value that
    /// reports itself.
    type Value: ?Sized;

    /// The value as it goes into `tool.output`.
    fn report(&self) -> Json
    where
        Self::Value: ToolValue;
}

impl<T, E: Display> Report for Result<T, E> {
    type Value = T;

    fn report(&self) -> Json
    where
        T: ToolValue,
    {
        match self {
            Ok(value) => serialised(value),
            Err(err) => Json::string(&err.to_string()),
        }
    }
}

impl<T: ToolOutput + ?Sized> Report for T {
    type Value = ();

    fn report(&self) -> Json {
        self.to_output()
    }
}

/// A value that a guarded tool reports as JSON: any `Serialize` value.
#[diagnostic::on_unimplemented(
    message = "the output of this guarded tool, `{Self}`, is not `Serialize`",
    label = "the `Ok` value goes into `tool_result` as JSON",
    note = "derive `serde::Serialize` for it, or leave the output out of `tool_result` with \
            `#[capsule::tool(skip_output)]`"
)]
pub trait ToolValue: Serialize {}

impl<T: Serialize + ?Sized> ToolValue for T {}

/// A value that a guarded tool returns directly (not in a `Result`), reported as the
/// `output` of `tool_result`.
///
/// Tools that answer the model with a plain value (a `String`, a `serde_json::Value`, a
/// number, an `Option` or `Vec` of `Serialize` values) are guarded with `on_block`,
/// which turns a block into a value of that type; those types report themselves as
/// JSON. For a type of your own, implement this trait:
///
/// ```
/// # use capsule_runtime as capsule;
/// use capsule::{Json, ToolOutput};
///
/// #[derive(serde::Serialize)]
/// struct Answer {
///     text: String,
/// }
///
/// impl ToolOutput for Answer {
///     fn to_output(&self) -> Json {
///         Json::from_serialize(self).unwrap_or_else(|_| Json::null())
///     }
/// }
/// ```
pub trait ToolOutput {
    /// The value as it goes into `tool.output`.
    fn to_output(&self) -> Json;
}

/// `value` as JSON, or a JSON string saying why it could not be serialised.
fn serialised<T: Serialize + ?Sized>(value: &T) -> Json {
    Json::from_serialize(value)
        .unwrap_or_else(|err| Json::string(&format!("<not serialisable: {err}>")))
}

/// Implements [`ToolOutput`] as plain JSON for values a tool may return directly.
macro_rules! output_as_json {
    ($($ty:ty),* $(,)?) => {
        $(
            impl ToolOutput for $ty {
                fn to_output(&self) -> Json {
                    serialised(self)
                }
            }
        )*
    };
}

output_as_json!(
    (),
    bool,
    char,
    str,
    String,
    Cow<'_, str>,
    serde_json::Value,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64,
);

impl<T: Serialize> ToolOutput for Option<T> {
    fn to_output(&self) -> Json {
        serialised(self)
    }
}

impl<T: Serialize> ToolOutput for Vec<T> {
    fn to_output(&self) -> Json {
        serialised(self)
    }
}

impl ToolOutput for Json {
    fn to_output(&self) -> Json {
        self.clone()
    }
}

impl<T: ToolOutput + ?Sized> ToolOutput for &T {
    fn to_output(&self) -> Json {
        (**self).to_output()
    }
}

impl<T: ToolOutput + ?Sized> ToolOutput for Box<T> {
    fn to_output(&self) -> Json {
        (**self).to_output()
    }
}

impl<T: ToolOutput + ?Sized> ToolOutput for Arc<T> {
    fn to_output(&self) -> Json {
        (**self).to_output()
    }
}

/// A return type that can carry a block back to the caller: a `Result`, whose error
/// type must take the block.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a Capsule block",
    label = "a guarded tool returns `Result<T, E>` with `E: From<capsule::Blocked>`",
    note = "return for example `anyhow::Result<T>` or `Result<T, Box<dyn Error + Send + Sync>>`, \
            or turn the block into a value of this type with \
            `#[capsule::tool(on_block = |blocked| ...)]`"
)]
pub trait FromBlocked {
    /// The error type that the block is converted into.
    type Error;

    /// The value the guarded function returns instead of running its body.
    fn from_error(error: Self::Error) -> Self;
}

impl<T, E> FromBlocked for Result<T, E> {
    type Error = E;

    fn from_error(error: E) -> Self {
        Err(error)
    }
}

/// An error type that a block converts into: any `E: From<Blocked>`.
#[diagnostic::on_unimplemented(
    message = "the error type `{Self}` cannot carry a Capsule block",
    label = "a guarded tool returns `Result<T, E>` with `E: From<capsule::Blocked>`",
    note = "add `impl From<capsule::Blocked> for {Self}` (with `thiserror`, a variant \
            `Blocked(#[from] capsule::Blocked)`), return `anyhow::Result<T>`, or turn the block \
            into a value with `#[capsule::tool(on_block = |blocked| ...)]`"
)]
pub trait BlockError: From<Blocked> {}

impl<E: From<Blocked>> BlockError for E {}

/// The value a guarded tool returns when it is blocked: `Err(blocked.into())`.
#[inline]
#[must_use]
pub fn blocked<R>(blocked: Blocked) -> R
where
    R: FromBlocked,
    R::Error: BlockError,
{
    R::from_error(R::Error::from(blocked))
}

/// Runs the `on_block` handler of a guarded tool; a function rather than a call of the
/// closure in place, so that the closure's parameter and return types are inferred from
/// the tool's signature.
#[inline]
pub fn on_block<R, F: FnOnce(Blocked) -> R>(blocked: Blocked, handler: F) -> R {
    handler(blocked)
}
