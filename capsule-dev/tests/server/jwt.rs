//! Tokens are HS256 JWTs: each way a token can be wrong gets `401` with a JSON error saying
//! which, and the `token` subcommand mints tokens a server with the same secret accepts.

use crate::common;

use std::time::{Duration, SystemTime};

use capsule_dev::{DevServer, RunningServer, TokenKeys};
use common::{post_with_token, sample};
use serde_json::Value;

async fn refusal(server: &RunningServer, authorization: Option<&str>) -> Value {
    let mut request = common::client()
        .post(server.events_url())
        .json(&sample("session_start"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401, "{authorization:?}");
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    response.json().await.unwrap()
}

#[tokio::test]
async fn missing_malformed_wrongly_signed_and_expired_tokens_are_told_apart() {
    let server = DevServer::builder().start().unwrap();

    assert_eq!(refusal(&server, None).await["reason"], "missing");
    assert_eq!(
        refusal(&server, Some(&server.token())).await["reason"],
        "malformed"
    );
    assert_eq!(
        refusal(&server, Some("Bearer not.a.jwt")).await["reason"],
        "malformed"
    );
    assert_eq!(
        refusal(&server, Some("Basic dXNlcjpwYXNz")).await["reason"],
        "malformed"
    );

    let foreign = TokenKeys::generate().mint("dev", Duration::from_secs(60));
    let error = refusal(&server, Some(&format!("Bearer {foreign}"))).await;
    assert_eq!(error["reason"], "bad_signature");
    assert!(
        error["error"].as_str().unwrap().contains("secret"),
        "{error}"
    );

    let past = SystemTime::now() - Duration::from_secs(3600);
    let expired = server.token_keys().mint_expiring_at("dev", past);
    let error = refusal(&server, Some(&format!("Bearer {expired}"))).await;
    assert_eq!(error["reason"], "expired");
    assert!(
        error["error"].as_str().unwrap().contains("expired"),
        "{error}"
    );

    assert!(
        server.events().is_empty(),
        "refused events are not recorded"
    );
}

#[tokio::test]
async fn the_tenant_of_the_token_is_recorded() {
    let server = DevServer::builder().start().unwrap();
    let token = server.mint_token("acme", Duration::from_secs(60));
    let response = post_with_token(&server, Some(&token), &sample("session_start")).await;
    assert_eq!(response.status(), 202);
    assert_eq!(server.events()[0].tenant, "acme");
}

#[tokio::test]
async fn a_configured_secret_accepts_tokens_minted_elsewhere_with_it() {
    let server = DevServer::builder()
        .secret("shared-secret-for-tests")
        .start()
        .unwrap();
    let token =
        TokenKeys::from_secret(b"shared-secret-for-tests").mint("dev", Duration::from_secs(60));
    let response = post_with_token(&server, Some(&token), &sample("session_start")).await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn the_token_subcommand_mints_a_token_for_a_tenant_with_an_expiry() {
    let secret = "subcommand-secret";
    let server = DevServer::builder().secret(secret).start().unwrap();
    let output = common::run(
        [
            "token",
            "--tenant",
            "globex",
            "--expires-in",
            "1h",
            "--secret",
            secret,
        ],
        common::NO_PATHS,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();

    let claims = server
        .token_keys()
        .verify(Some(&format!("Bearer {token}")))
        .unwrap();
    assert_eq!(claims.sub, "globex");
    assert!(
        (3590..=3610).contains(&(claims.exp - claims.iat)),
        "expires in an hour"
    );

    let response = post_with_token(&server, Some(&token), &sample("session_start")).await;
    assert_eq!(response.status(), 202);
    assert_eq!(server.events()[0].tenant, "globex");

    // Minted with another secret, the same request is refused.
    let output = common::run(["token", "--secret", "another-secret"], common::NO_PATHS);
    let other = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let response = post_with_token(&server, Some(&other), &sample("session_start")).await;
    assert_eq!(response.status(), 401);
}

#[test]
fn debug_output_shows_neither_the_secret_nor_the_token() {
    let builder = DevServer::builder().secret("do-not-print-me");
    assert!(!format!("{builder:?}").contains("do-not-print-me"));
    let server = builder.start().unwrap();
    let shown = format!("{server:?}");
    assert!(!shown.contains(&server.token()), "{shown}");
    assert!(shown.contains(&server.addr().to_string()), "{shown}");
}

#[test]
fn an_empty_secret_is_refused_with_what_to_pass_instead() {
    // A missing policy file makes a start that took the secret stop there, not serve on.
    let serve = [
        "--no-audit",
        "--policy",
        "/nonexistent/policy.toml",
        "--secret",
    ];
    let token = ["token", "--secret"];
    for args in [&serve[..], &token[..]] {
        let with_option = common::run::<0, _>([], args.iter().chain(&[""]));
        let mut from_env = std::process::Command::new(env!("CARGO_BIN_EXE_capsule-dev"));
        from_env
            .args(&args[..args.len() - 1])
            .env("CAPSULE_DEV_SECRET", "");
        for (how, output) in [
            ("--secret ''", with_option),
            ("CAPSULE_DEV_SECRET=''", from_env.output().unwrap()),
        ] {
            assert!(!output.status.success(), "{how} {args:?} was accepted");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("secret is empty") && stderr.contains("long random string"),
                "{how} {args:?}: {stderr}"
            );
        }
    }
}

#[test]
fn an_embedded_server_refuses_an_empty_secret() {
    let refused = DevServer::builder().secret("").start().err();

    let error = refused.expect("an empty secret is refused");
    assert!(matches!(error, capsule_dev::DevError::EmptySecret));
    assert!(error.to_string().contains("long random string"), "{error}");
}
