//! A short-lived program that returns from `main` holding the init guard delivers
//! everything it emitted: the guard flushes when dropped. A program that never calls
//! `init` is told, in its log, that it should.
//!
//! Each program is this test binary run again as a child process, with only one ignored
//! test selected, so that it really ends when its `main` returns.

use std::time::Duration;

use capsule_dev::{DevServer, FaultKnobs, Faults};
use capsule_runtime::Config;

use crate::common::run_program;

const EVENTS: usize = 200;

#[test]
fn a_short_lived_program_delivers_everything_it_emitted() {
    let server = DevServer::builder()
        .faults(Faults::all(
            FaultKnobs::default().latency(Duration::from_millis(2)),
        ))
        .start()
        .unwrap();

    run_program(
        "init_guard::program",
        &[
            ("CAPSULE_URL", server.url()),
            ("CAPSULE_TOKEN", server.token()),
        ],
    );

    let events = server.events();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types.len(), EVENTS + 2, "{types:?}");
    assert_eq!(types.first(), Some(&"session_start"));
    assert_eq!(types.last(), Some(&"session_end"));
}

#[test]
#[ignore = "the program run by a_short_lived_program_delivers_everything_it_emitted"]
fn program() {
    let _capsule = capsule_runtime::init(Config::from_env().unwrap()).unwrap();

    let session = capsule_runtime::global().session("user@example.com");
    for n in 0..EVENTS {
        session.agent_message(format!("reply {n}"));
    }
}

#[test]
fn a_program_without_init_is_told_how_to_keep_its_telemetry() {
    let server = DevServer::builder().start().unwrap();

    let output = run_program(
        "init_guard::program_without_init",
        &[
            ("CAPSULE_URL", server.url()),
            ("CAPSULE_TOKEN", server.token()),
        ],
    );

    let logged = String::from_utf8_lossy(&output.stdout);
    assert!(
        logged.contains("capsule::init(Config::from_env()?)"),
        "no advice to call init: {logged}"
    );
}

#[test]
#[ignore = "the program run by a_program_without_init_is_told_how_to_keep_its_telemetry"]
fn program_without_init() {
    tracing_subscriber::fmt().with_ansi(false).init();

    let session = capsule_runtime::global().session("user@example.com");
    session.agent_message("reply");
}
