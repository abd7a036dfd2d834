//! What the client logs, captured from every thread at the most verbose level: the
//! token never appears (nor in errors or `Debug`), a failing endpoint gives one warning
//! with its cause and what to do, then silence, and a recovery gives one info line.
//!
//! One test only: the capture is process-wide, and another test's lines would blur
//! the counts.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use capsule_dev::{DevServer, FaultKnobs, Faults};
use capsule_runtime::{Client, FailurePolicy, Verdict};
use common::{FLUSH, RawServer, invocation, message, response};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn install() -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
        captured
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn lines_with(&self, level: &str, needle: &str) -> usize {
        self.text()
            .lines()
            .filter(|line| line.contains(level) && line.contains(needle))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_warn_once_recover_once_and_never_show_the_token() {
    let logs = Captured::install();
    let server = DevServer::builder().start().unwrap();
    let token = server.token();
    let config = common::builder(&server.url(), &token, FailurePolicy::Closed, FLUSH)
        .build()
        .unwrap();
    let client = Client::new(config.clone()).unwrap();
    let mut texts = vec![format!("{config:?}"), format!("{client:?}")];

    // A healthy start: no warning.
    assert_eq!(
        client.check(&invocation("sess-logs")).await,
        Verdict::Allow { failed: None }
    );
    assert_eq!(logs.lines_with("WARN", "Capsule"), 0, "{}", logs.text());

    // Five failing checks: one warning, with the cause and what to do.
    server.set_faults(Faults::all(FaultKnobs::default().status(500, 1.0)));
    for _ in 0..5 {
        let verdict = client.check(&invocation("sess-logs")).await;
        let blocked = verdict.into_block().expect("fail closed");
        texts.push(format!("{blocked} {blocked:?}"));
    }
    assert_eq!(
        logs.lines_with("WARN", "Capsule gave no decision"),
        1,
        "{}",
        logs.text()
    );
    assert_eq!(logs.lines_with("WARN", "Check CAPSULE_URL"), 1);

    // The endpoint recovers: one info line.
    server.set_faults(Faults::none());
    for _ in 0..3 {
        assert!(client.check(&invocation("sess-logs")).await.is_allowed());
    }
    assert_eq!(
        logs.lines_with("INFO", "decisions are getting through again"),
        1
    );

    // Telemetry that fails warns once too, and its errors are counted.
    server.set_faults(Faults::all(FaultKnobs::default().status(400, 1.0)));
    for n in 0..5 {
        client.emit(message("sess-logs", &format!("reply {n}")));
    }
    assert!(client.flush(FLUSH).await);
    assert_eq!(
        logs.lines_with("WARN", "telemetry is not getting through"),
        1
    );

    // A refused token, then a service that echoes the token back in its answers.
    let wrong = "sk-live-0123456789abcdef0123456789abcdef";
    client.set_token(wrong).unwrap();
    texts.push(format!(
        "{:?}",
        client.check(&invocation("sess-logs")).await
    ));
    let echo = {
        let token = token.clone();
        RawServer::start(move |_, _| {
            response(
                "400 Bad Request",
                &[],
                &format!(r#"{{"error": "bad token {token}"}}"#),
            )
        })
    };
    let echoing = common::client(&echo.url(), &token, FailurePolicy::Open, FLUSH);
    let verdict = echoing.check(&invocation("sess-echo")).await;
    let Verdict::Allow {
        failed: Some(cause),
    } = &verdict
    else {
        panic!("fail open expected, got {verdict:?}")
    };
    assert!(
        cause.to_string().contains("bad token <redacted>"),
        "{cause}"
    );
    texts.push(format!("{cause} {cause:?}"));
    assert!(echoing.flush(Duration::from_secs(1)).await);

    let everything = format!("{}\n{}", logs.text(), texts.join("\n"));
    assert!(
        logs.text().contains("hyper_util::client"),
        "the capture missed the HTTP layer's logs"
    );
    for secret in [token.as_str(), wrong] {
        assert!(
            !everything.contains(secret),
            "the token leaked:\n{everything}"
        );
    }
}
