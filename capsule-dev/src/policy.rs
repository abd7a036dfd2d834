//! Policies: ordered rules that decide blocking events. The first rule that matches decides;
//! when none does, the event is allowed.
//!
//! A policy is a TOML file of `[[rule]]` tables:
//!
//! ```toml
//! [[rule]]
//! name = "sensitive-table"
//! event_types = ["tool_invocation"]          # any event type when left out
//! tool = "database_*"                        # a glob on tool.name
//! input = { pointer = "/query", regex = '(?i)\bFROM\s+users\b' }
//! action = "block"                           # or "allow"
//! reason = "Policy violation: query accesses sensitive table"
//! ```
//!
//! Every condition a rule names must hold for it to match. `input` and `output` look into
//! `tool.input` and `tool.output` through an optional JSON pointer (the whole value when left
//! out) and test the text there (a string as it is, anything else as compact JSON) with one
//! of `regex`, `contains` (a plain, case-sensitive substring) or `host_not_in` (the text is a
//! URL whose host is none of the listed hosts nor a subdomain of one; text that is not a URL
//! with a host counts as not allowed). `message` tests `message.content` the same way, without
//! a pointer. A condition on a part the event does not have (a `tool` glob on a
//! `user_message`, a pointer that leads nowhere) does not match.
//!
//! Rules also run on telemetry events: a match there is recorded in the audit log, but the
//! answer stays `202`, since the contract gives telemetry no decision.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toml::Spanned;

use crate::event::{Event, EventType};

const SAMPLE: &str = include_str!("../policies/sample.toml");

/// What a matching rule does with a blocking event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the action go ahead.
    Allow,
    /// Stop the action; the caller must not perform it.
    Block,
}

impl Action {
    /// The name on the wire: `"allow"` or `"block"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
        }
    }
}

/// What a policy decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Allow or block.
    pub action: Action,
    /// Why, meant for people; always set on a block.
    pub reason: Option<String>,
    /// The name of the rule that decided, or `None` when no rule matched.
    pub rule: Option<String>,
}

/// A set of ordered rules, checked once and ready to decide events.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// A policy that could not be read: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    /// The file, when the policy came from one.
    pub path: Option<PathBuf>,
    /// The 1-based line of the problem, when it is tied to one.
    pub line: Option<usize>,
    /// What is wrong and, where it helps, how to fix it.
    pub problem: String,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_ref().map(|path| path.display().to_string());
        match (path, self.line) {
            (Some(path), Some(line)) => write!(f, "{path}:{line}: {}", self.problem),
            (Some(path), None) => write!(f, "{path}: {}", self.problem),
            (None, Some(line)) => write!(f, "policy line {line}: {}", self.problem),
            (None, None) => write!(f, "policy: {}", self.problem),
        }
    }
}

impl std::error::Error for PolicyError {}

impl PolicyError {
    /// The same error, said of the file at `path`.
    pub(crate) fn in_file(self, path: &Path) -> PolicyError {
        PolicyError {
            path: Some(path.to_owned()),
            ..self
        }
    }
}

impl Policy {
    /// The sample policy shipped with this crate (`policies/sample.toml`). It blocks a
    /// `tool_invocation` whose `/query` touches the `users`, `credentials` or `payment_cards`
    /// table, a tool input with a shell command that deletes files, a user prompt that tries
    /// to override the agent's instructions, and a `/url` whose host is not on a short allow
    /// list.
    ///
    /// # Panics
    ///
    /// Never: the shipped file is parsed by this crate's tests.
    #[must_use]
    pub fn sample() -> Policy {
        Policy::from_toml_str(SAMPLE).expect("the shipped sample policy is valid")
    }

    /// The text of the shipped sample policy, to copy and adapt.
    #[must_use]
    pub fn sample_toml() -> &'static str {
        SAMPLE
    }

    /// A policy without rules: every event is allowed.
    #[must_use]
    pub fn allow_all() -> Policy {
        Policy { rules: Vec::new() }
    }

    /// Reads a policy from TOML text.
    ///
    /// # Errors
    ///
    /// A [`PolicyError`] with the line and the problem: a TOML syntax error, an unknown key,
    /// a missing `name` or `action`, a repeated rule name, a bad glob, regex or JSON pointer,
    /// or a condition with not exactly one test.
    pub fn from_toml_str(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|err| PolicyError {
            path: None,
            line: err.span().map(|span| line_of(text, &span)),
            problem: err.message().trim_end().to_owned(),
        })?;

        let mut names = HashSet::new();
        let mut rules = Vec::with_capacity(raw.rule.len());
        for raw_rule in raw.rule {
            let span = raw_rule.span();
            let rule = Rule::build(raw_rule.into_inner(), text)?;
            if !names.insert(rule.name.clone()) {
                return Err(PolicyError {
                    path: None,
                    line: Some(line_of(text, &span)),
                    problem: format!(
                        "rule name {:?} is used twice; names must be unique",
                        rule.name
                    ),
                });
            }
            rules.push(rule);
        }
        Ok(Policy { rules })
    }

    /// Reads a policy from a TOML file.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or its text is not a valid policy (see
    /// [`Policy::from_toml_str`]); the error carries the path.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Policy, PolicyError> {
        Policy::read_file(path.as_ref()).map(|(policy, _text)| policy)
    }

    /// Reads a policy file, returning the policy and the text it came from.
    pub(crate) fn read_file(path: &Path) -> Result<(Policy, String), PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|err| PolicyError {
            path: Some(path.to_owned()),
            line: None,
            problem: format!("cannot read the policy file: {err}"),
        })?;
        let policy = Policy::from_toml_str(&text).map_err(|err| err.in_file(path))?;
        Ok((policy, text))
    }

    /// The names of the rules, in the order they are checked.
    #[must_use]
    pub fn rule_names(&self) -> Vec<&str> {
        self.rules.iter().map(|rule| rule.name.as_str()).collect()
    }

    /// Decides an event: the first matching rule's action and reason, or allow.
    #[must_use]
    pub fn evaluate(&self, event: &Event) -> Verdict {
        self.rules.iter().find(|rule| rule.matches(event)).map_or(
            Verdict {
                action: Action::Allow,
                reason: None,
                rule: None,
            },
            |rule| Verdict {
                action: rule.action,
                reason: rule.reason.clone(),
                rule: Some(rule.name.clone()),
            },
        )
    }
}

impl Default for Policy {
    /// The sample policy.
    fn default() -> Self {
        Policy::sample()
    }
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    action: Action,
    reason: Option<String>,
    event_types: Option<Vec<EventType>>,
    tool: Option<GlobMatcher>,
    input: Option<ValueTest>,
    output: Option<ValueTest>,
    message: Option<ValueTest>,
}

impl Rule {
    fn build(raw: RawRule, text: &str) -> Result<Rule, PolicyError> {
        let tool = raw
            .tool
            .map(|glob| {
                Glob::new(glob.get_ref())
                    .map(|glob| glob.compile_matcher())
                    .map_err(|err| at(text, &glob.span(), format!("bad `tool` glob: {err}")))
            })
            .transpose()?;
        let input = raw
            .input
            .map(|test| ValueTest::build(test, "input", text))
            .transpose()?;
        let output = raw
            .output
            .map(|test| ValueTest::build(test, "output", text))
            .transpose()?;
        let message = raw
            .message
            .map(|test| ValueTest::build(test, "message", text))
            .transpose()?;
        let reason = match (raw.action, raw.reason) {
            (Action::Block, None) => Some(format!("Blocked by policy rule {:?}", raw.name)),
            (_, reason) => reason,
        };
        Ok(Rule {
            name: raw.name,
            action: raw.action,
            reason,
            event_types: raw.event_types,
            tool,
            input,
            output,
            message,
        })
    }

    fn matches(&self, event: &Event) -> bool {
        if self
            .event_types
            .as_ref()
            .is_some_and(|kinds| !kinds.contains(&event.event_type))
        {
            return false;
        }
        let tool = event.tool.as_ref();
        if let Some(glob) = &self.tool {
            if !tool.is_some_and(|tool| glob.is_match(&tool.name)) {
                return false;
            }
        }
        if let Some(test) = &self.input {
            if !tool.is_some_and(|tool| test.matches(&tool.input)) {
                return false;
            }
        }
        if let Some(test) = &self.output {
            if !tool
                .and_then(|tool| tool.output.as_ref())
                .is_some_and(|out| test.matches(out))
            {
                return false;
            }
        }
        if let Some(test) = &self.message {
            let Some(content) = &event.message else {
                return false;
            };
            if !test.check.matches(content) {
                return false;
            }
        }
        true
    }
}

/// A JSON pointer into a value and a test on the text found there.
#[derive(Debug, Clone)]
struct ValueTest {
    pointer: String,
    check: TextCheck,
}

impl ValueTest {
    fn build(raw: Spanned<RawTest>, key: &str, text: &str) -> Result<ValueTest, PolicyError> {
        let span = raw.span();
        let raw = raw.into_inner();
        let pointer = raw.pointer.unwrap_or_default();
        if key == "message" && !pointer.is_empty() {
            return Err(at(
                text,
                &span,
                "`message` takes no `pointer`: it tests message.content",
            ));
        }
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(at(
                text,
                &span,
                format!("`{key}.pointer` {pointer:?} must start with '/', e.g. \"/query\""),
            ));
        }

        let check = match (raw.regex, raw.contains, raw.host_not_in) {
            (Some(pattern), None, None) => TextCheck::Regex(
                Regex::new(&pattern)
                    .map_err(|err| at(text, &span, format!("bad `{key}.regex`: {err}")))?,
            ),
            (None, Some(needle), None) => TextCheck::Contains(needle),
            (None, None, Some(hosts)) => {
                TextCheck::HostNotIn(hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect())
            }
            _ => {
                return Err(at(
                    text,
                    &span,
                    format!("`{key}` needs exactly one of `regex`, `contains` or `host_not_in`"),
                ));
            }
        };
        Ok(ValueTest { pointer, check })
    }

    fn matches(&self, value: &Value) -> bool {
        match value.pointer(&self.pointer) {
            Some(Value::String(text)) => self.check.matches(text),
            Some(other) => self.check.matches(&other.to_string()),
            None => false,
        }
    }
}

#[derive(Debug, Clone)]
enum TextCheck {
    Regex(Regex),
    Contains(String),
    HostNotIn(Vec<String>),
}

impl TextCheck {
    fn matches(&self, text: &str) -> bool {
        match self {
            TextCheck::Regex(regex) => regex.is_match(text),
            TextCheck::Contains(needle) => text.contains(needle.as_str()),
            TextCheck::HostNotIn(allowed) => {
                let host = url::Url::parse(text.trim())
                    .ok()
                    .and_then(|url| url.host_str().map(str::to_ascii_lowercase));
                !host.is_some_and(|host| {
                    allowed.iter().any(|allowed| {
                        host == *allowed
                            || host
                                .strip_suffix(allowed.as_str())
                                .is_some_and(|s| s.ends_with('.'))
                    })
                })
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    action: Action,
    reason: Option<String>,
    event_types: Option<Vec<EventType>>,
    tool: Option<Spanned<String>>,
    input: Option<Spanned<RawTest>>,
    output: Option<Spanned<RawTest>>,
    message: Option<Spanned<RawTest>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    pointer: Option<String>,
    regex: Option<String>,
    contains: Option<String>,
    host_not_in: Option<Vec<String>>,
}

fn at(text: &str, span: &Range<usize>, problem: impl Into<String>) -> PolicyError {
    PolicyError {
        path: None,
        line: Some(line_of(text, span)),
        problem: problem.into(),
    }
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    let before = text.get(..span.start).unwrap_or(text);
    before.matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(body: &Value) -> Event {
        Event::from_json(body).unwrap()
    }

    fn invocation(name: &str, input: &Value) -> Event {
        event(&json!({
            "event_type": "tool_invocation", "session_id": "s",
            "timestamp": "2026-03-03T10:30:00Z",
            "agent": {"id": "a", "name": "A"}, "user": {"email": "u@example.com"},
            "tool": {"name": name, "input": input}
        }))
    }

    #[test]
    fn sample_policy_parses_and_names_its_rules() {
        assert!(Policy::sample().rule_names().len() >= 4);
    }

    #[test]
    fn host_allow_list_accepts_subdomains_only() {
        let check = TextCheck::HostNotIn(vec!["example.com".into()]);
        assert!(!check.matches("https://example.com/a"));
        assert!(!check.matches("https://www.example.com/a"));
        assert!(check.matches("https://badexample.com/a"));
        assert!(check.matches("not a url"));
    }

    #[test]
    fn first_match_wins() {
        let policy = Policy::from_toml_str(
            r#"
            [[rule]]
            name = "allow-orders"
            tool = "db_*"
            input = { pointer = "/table", contains = "orders" }
            action = "allow"

            [[rule]]
            name = "block-db"
            tool = "db_*"
            action = "block"
            "#,
        )
        .unwrap();
        let verdict = policy.evaluate(&invocation("db_read", &json!({"table": "orders"})));
        assert_eq!(verdict.rule.as_deref(), Some("allow-orders"));
        let verdict = policy.evaluate(&invocation("db_read", &json!({"table": "users"})));
        assert_eq!(verdict.action, Action::Block);
        assert_eq!(
            verdict.reason.as_deref(),
            Some("Blocked by policy rule \"block-db\"")
        );
    }

    #[test]
    fn errors_carry_the_line() {
        let err = Policy::from_toml_str(
            "[[rule]]\nname = \"x\"\naction = \"block\"\ninput = { regex = \"(\" }\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");
        assert!(err.problem.contains("regex"), "{err}");
    }
}
