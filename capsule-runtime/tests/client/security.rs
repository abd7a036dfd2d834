//! Transport security: plain HTTP only to loopback or by explicit opt-in, redirects
//! never followed (they could carry the token elsewhere), and a token that can be
//! rotated on a running client but never shown.

use crate::common;

use std::time::Duration;

use capsule_dev::DevServer;
use capsule_runtime::{BlockSource, Config, ConfigError, FailurePolicy, Token, Verdict};
use common::{RawServer, invocation, response};

const DEADLINE: Duration = Duration::from_secs(5);

#[test]
fn plain_http_is_refused_unless_loopback_or_allowed_explicitly() {
    let build = |url: &str, allow: bool| {
        Config::builder()
            .url(url)
            .token("a-token")
            .allow_insecure_http(allow)
            .build()
    };

    for loopback in [
        "http://127.0.0.1:8787",
        "http://localhost:8787",
        "http://[::1]:8787",
    ] {
        assert!(build(loopback, false).is_ok(), "{loopback}");
    }
    let refused = build("http://capsule.example.com", false).unwrap_err();
    assert!(matches!(refused, ConfigError::InsecureUrl(_)));
    assert!(refused.to_string().contains("allow_insecure_http"));
    assert!(build("http://capsule.example.com", true).is_ok());
    assert!(build("https://capsule.example.com", false).is_ok());
    assert!(matches!(
        build("ftp://capsule.example.com", true),
        Err(ConfigError::InvalidUrl(_))
    ));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let elsewhere = RawServer::start(|_, _| common::allow());
    let location = format!(
        "Location: {}/v1/generic-webhook/hooks/events",
        elsewhere.url()
    );
    let redirecting =
        RawServer::start(move |_, _| response("307 Temporary Redirect", &[location.as_str()], ""));
    let client = common::client(&redirecting.url(), "t", FailurePolicy::Open, DEADLINE);

    let verdict = client.check(&invocation("sess-redirect")).await;

    let Verdict::Allow {
        failed: Some(cause),
    } = verdict
    else {
        panic!("a redirect is no decision, got {verdict:?}")
    };
    assert_eq!(cause.status(), Some(307));
    assert!(elsewhere.seen().is_empty(), "the redirect was followed");
}

#[tokio::test]
async fn a_rotated_token_is_used_without_a_restart_and_a_bad_one_is_refused() {
    let server = DevServer::builder().start().unwrap();
    let client = common::client(
        &server.url(),
        "expired-token",
        FailurePolicy::Closed,
        DEADLINE,
    );

    let refused = client.check(&invocation("sess-rotate")).await;
    let blocked = refused.into_block().expect("401, fail closed");
    assert!(blocked.reason().contains("refused the client's token"));
    let BlockSource::FailClosed(cause) = blocked.source() else {
        panic!("a 401 is no decision, not a service block: {blocked:?}")
    };
    assert!(cause.to_string().contains("regenerate it in the portal"));

    client.set_token(server.token()).unwrap();
    let verdict = client.check(&invocation("sess-rotate")).await;
    assert_eq!(verdict, Verdict::Allow { failed: None });

    let err = client.set_token("line\nbreak-in-the-token").unwrap_err();
    assert_eq!(err, ConfigError::InvalidToken);
    assert!(!err.to_string().contains("break-in-the-token"));
    let verdict = client.check(&invocation("sess-rotate")).await;
    assert_eq!(
        verdict,
        Verdict::Allow { failed: None },
        "the good token was kept"
    );
}

#[test]
fn the_token_is_redacted_in_debug_and_display() {
    let secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl";
    let token = Token::new(secret);
    let builder = Config::builder().url("https://acme.example").token(secret);
    let config = builder.clone().build().unwrap();

    let shown = format!("{token} {token:?} {builder:?} {config:?}");
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains("<redacted>"));
}

#[tokio::test]
async fn a_fail_closed_block_does_not_carry_the_endpoint_url() {
    let url = common::refused_url();
    let client = common::client(&url, "a-token", FailurePolicy::Closed, DEADLINE);

    let verdict = client.check(&invocation("sess-no-url")).await;

    let Verdict::Block(blocked) = verdict else {
        panic!("expected a fail-closed block, got {verdict:?}");
    };
    assert!(matches!(blocked.source(), BlockSource::FailClosed(_)));
    let address = url.trim_start_matches("http://");
    for shown in [format!("{blocked}"), format!("{blocked:?}")] {
        assert!(!shown.contains(address), "the block shows the URL: {shown}");
    }
}
