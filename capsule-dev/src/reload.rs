//! Reloading the policy file when it changes.
//!
//! The file is read again at a fixed interval and compared with the text last seen, which
//! catches every kind of edit (in place, or a new file renamed over the old one, as many
//! editors do) without depending on file-system events or time-stamp precision. A policy
//! file is small, so reading it twice a second costs nothing that matters.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::policy::{Policy, PolicyError};
use crate::server::Shared;

/// Watches `path` until the task is dropped. A valid new text replaces the policy; an
/// invalid one, or a file that cannot be read (deleted, say), is reported once, in the log
/// and as the reload error, and the rules in force stay.
pub(crate) async fn watch_policy(
    path: PathBuf,
    mut last_text: String,
    shared: Arc<Shared>,
    every: Duration,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut unreadable = false;
    loop {
        ticker.tick().await;
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                if !unreadable {
                    let err = PolicyError {
                        path: Some(path.clone()),
                        line: None,
                        problem: format!("cannot read the policy file: {err}"),
                    };
                    tracing::warn!("{err}; keeping the rules in force until it is back");
                    shared.set_reload_error(err);
                }
                unreadable = true;
                continue;
            }
        };
        // A file that comes back unchanged is taken again, which clears the read error.
        if text == last_text && !unreadable {
            continue;
        }
        unreadable = false;

        match Policy::from_toml_str(&text) {
            Ok(policy) if policy.rule_names().is_empty() => {
                tracing::warn!(
                    "policy {} reloaded with no rules: every event is now allowed; add \
                     [[rule]] tables to block anything",
                    path.display()
                );
                shared.set_policy(policy);
            }
            Ok(policy) => {
                tracing::info!(
                    "policy {} reloaded: rules {:?}",
                    path.display(),
                    policy.rule_names()
                );
                shared.set_policy(policy);
            }
            Err(err) => {
                let err = err.in_file(&path);
                tracing::warn!("{err}; keeping the previous rules until the file is fixed");
                shared.set_reload_error(err);
            }
        }
        last_text = text;
    }
}
