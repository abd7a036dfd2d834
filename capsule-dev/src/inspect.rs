//! Views over the recorded events: the agents seen, the sessions of an agent, and a
//! session's timeline. They back the `/_dev/...` JSON endpoints and the `timeline`
//! subcommand.
//!
//! Each view takes the events to look at, so a caller shows one tenant at a time by passing
//! that tenant's events only ([`of_tenant`]): tokens are scoped to one tenant, and two
//! tenants may well use the same agent or session ids.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::audit::Recorded;

/// An agent that sent at least one accepted event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSummary {
    /// `agent.id`.
    pub id: String,
    /// `agent.name` of its latest event.
    pub name: String,
    /// When its first event was received.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// When its latest event was received.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// How many sessions it had.
    pub sessions: usize,
    /// How many events it sent.
    pub events: usize,
}

/// One session of an agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    /// `session_id`.
    pub session_id: String,
    /// `agent.id`.
    pub agent_id: String,
    /// When its first event was received.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    /// When its latest event was received.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
    /// How many events it had.
    pub events: usize,
    /// How many of its blocking events were blocked.
    pub blocked: usize,
}

/// The events recorded for `tenant`, in arrival order.
pub fn of_tenant<'a>(
    events: &'a [Recorded],
    tenant: &'a str,
) -> impl Iterator<Item = &'a Recorded> + Clone {
    events.iter().filter(move |event| event.tenant == tenant)
}

/// The agents seen, in the order they were first seen.
#[must_use]
pub fn agents<'a>(events: impl IntoIterator<Item = &'a Recorded>) -> Vec<AgentSummary> {
    let mut agents: Vec<AgentSummary> = Vec::new();
    let mut sessions: Vec<Vec<&str>> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for event in events {
        let slot = *index.entry(&event.agent_id).or_insert_with(|| {
            agents.push(AgentSummary {
                id: event.agent_id.clone(),
                name: event.agent_name.clone(),
                first_seen: event.received_at,
                last_seen: event.received_at,
                sessions: 0,
                events: 0,
            });
            sessions.push(Vec::new());
            agents.len() - 1
        });
        let agent = &mut agents[slot];
        agent.name.clone_from(&event.agent_name);
        agent.last_seen = agent.last_seen.max(event.received_at);
        agent.events += 1;
        if !sessions[slot].contains(&event.session_id.as_str()) {
            sessions[slot].push(&event.session_id);
            agent.sessions += 1;
        }
    }
    agents
}

/// The sessions of one agent, in the order they began.
#[must_use]
pub fn sessions<'a>(
    events: impl IntoIterator<Item = &'a Recorded>,
    agent_id: &str,
) -> Vec<SessionSummary> {
    let mut sessions: Vec<SessionSummary> = Vec::new();
    for event in events
        .into_iter()
        .filter(|event| event.agent_id == agent_id)
    {
        let position = sessions
            .iter()
            .position(|s| s.session_id == event.session_id);
        let position = position.unwrap_or_else(|| {
            sessions.push(SessionSummary {
                session_id: event.session_id.clone(),
                agent_id: event.agent_id.clone(),
                first_seen: event.received_at,
                last_seen: event.received_at,
                events: 0,
                blocked: 0,
            });
            sessions.len() - 1
        });
        let session = &mut sessions[position];
        session.last_seen = session.last_seen.max(event.received_at);
        session.events += 1;
        if event.action.as_deref() == Some("block") {
            session.blocked += 1;
        }
    }
    sessions
}

/// The events with `session_id`, in arrival order. Two agents (or two tenants) may use the
/// same id: pass the events of one agent to keep them apart.
#[must_use]
pub fn session_events<'a>(
    events: impl IntoIterator<Item = &'a Recorded>,
    session_id: &str,
) -> Vec<Recorded> {
    events
        .into_iter()
        .filter(|event| event.session_id == session_id)
        .cloned()
        .collect()
}

/// A session's events as lines for a terminal: time, event type, what it was about, and
/// the decision.
#[must_use]
pub fn timeline(events: &[Recorded]) -> String {
    let mut out = String::new();
    for event in events {
        let at = event.received_at.format(&Rfc3339).unwrap_or_default();
        let subject = subject_of(event);
        let _ = write!(out, "{at}  {:<16} {subject}", event.event_type);
        if let Some(action) = &event.action {
            let _ = write!(out, "  -> {}", action.to_uppercase());
        }
        match (&event.rule, &event.reason) {
            (Some(rule), Some(reason)) => {
                let _ = write!(out, " [{rule}] {reason}");
            }
            (Some(rule), None) => {
                let _ = write!(out, " [{rule}]");
            }
            _ => {}
        }
        if let Some(id) = &event.correlation_id {
            let _ = write!(out, "  (correlation {id})");
        }
        out.push('\n');
    }
    out
}

fn subject_of(event: &Recorded) -> String {
    let body = &event.body;
    if let Some(name) = body.pointer("/tool/name").and_then(|name| name.as_str()) {
        // An invocation is about what the tool was asked; a result, about what it produced.
        let part = if event.event_type == "tool_result" {
            "/tool/output"
        } else {
            "/tool/input"
        };
        let value = body
            .pointer(part)
            .map(ToString::to_string)
            .unwrap_or_default();
        return format!("{name} {}", shorten(&value, 60));
    }
    if let Some(content) = body.pointer("/message/content").and_then(|c| c.as_str()) {
        return format!("{:?}", shorten(content, 60));
    }
    String::new()
}

fn shorten(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max_chars - 1).collect();
        short.push('…');
        short
    }
}
