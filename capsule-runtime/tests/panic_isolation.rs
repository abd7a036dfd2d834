//! A panic while sending one telemetry event does not stop the events after it.
//!
//! The panic comes from a real source, not a hook in the client: a logging layer that
//! panics on the client's first warning, as a buggy subscriber might. It runs on the
//! client's sending task, so this file installs it process-wide and has one test.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use capsule_dev::{DevServer, EventType, FaultKnobs, Faults};
use capsule_runtime::FailurePolicy;
use common::FLUSH;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Panics on the first warning logged by the Capsule runtime.
struct PanicOnFirstWarning(AtomicBool);

impl<S: Subscriber> Layer<S> for PanicOnFirstWarning {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let ours = event.metadata().target().starts_with("capsule_runtime");
        if ours
            && *event.metadata().level() == tracing::Level::WARN
            && !self.0.swap(true, Ordering::SeqCst)
        {
            panic!("the logging layer failed");
        }
    }
}

#[tokio::test]
async fn a_panic_while_sending_one_event_does_not_stop_later_events() {
    let panics_before = common::panics();
    let layer = PanicOnFirstWarning(AtomicBool::new(false));
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();

    let server = DevServer::builder()
        .faults(Faults::none().for_event_type(
            EventType::AgentMessage,
            FaultKnobs::default().status(400, 1.0),
        ))
        .start()
        .unwrap();
    let config = common::builder(&server.url(), &server.token(), FailurePolicy::Open, FLUSH)
        .telemetry_concurrency(1)
        .build()
        .unwrap();
    let client = capsule_runtime::Client::new(config).unwrap();
    let session = client.session_with_id("sess-panic", "user@example.com");

    session.agent_message("refused with 400: its warning panics");
    session.agent_message("refused with 400 again");
    drop(session);
    assert!(
        client.flush(FLUSH).await,
        "the lane stopped after the panic"
    );

    let stats = client.stats();
    assert_eq!(
        common::panics(),
        panics_before + 1,
        "the layer's panic happened on the client's thread"
    );
    assert_eq!(
        (stats.sent, stats.failed, stats.dropped),
        (2, 2, 0),
        "{stats:#?}"
    );
    let types: Vec<String> = server.events().into_iter().map(|e| e.event_type).collect();
    assert_eq!(types, ["session_start", "session_end"]);
}
