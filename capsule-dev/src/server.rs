//! The HTTP side: the events endpoint of the contract, the `/_dev/...` endpoints for
//! inspection and fault knobs, and the accept loop that serves them.
//!
//! Handlers build their answer as `Result<Response, Response>`: the error side is an
//! answer too (a `400`, a `401`), so its size is not worth boxing.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::LengthLimitError;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::audit::{AuditLog, Recorded};
use crate::auth::{AuthError, Claims, TokenKeys};
use crate::event::Event;
use crate::faults::{FaultCounters, Faults, Injected};
use crate::inspect;
use crate::policy::{Action, Policy, PolicyError, Verdict};

/// The path of the events endpoint, under the server's base URL.
pub const EVENTS_PATH: &str = "/v1/generic-webhook/hooks/events";

const CORRELATION_HEADER: &str = "x-correlation-id";

/// Everything the handlers share: keys, policy, faults, and the audit log.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) keys: TokenKeys,
    pub(crate) audit: AuditLog,
    pub(crate) timeout: Duration,
    pub(crate) max_body_bytes: usize,
    policy: RwLock<Arc<Policy>>,
    /// Why the latest reload of the policy file was refused; cleared by a good reload.
    reload_error: RwLock<Option<PolicyError>>,
    faults: RwLock<Arc<Faults>>,
    counters: FaultCounters,
}

impl Shared {
    pub(crate) fn new(
        keys: TokenKeys,
        audit: AuditLog,
        policy: Policy,
        faults: Faults,
        timeout: Duration,
        max_body_bytes: usize,
    ) -> Shared {
        Shared {
            keys,
            audit,
            timeout,
            max_body_bytes,
            policy: RwLock::new(Arc::new(policy)),
            reload_error: RwLock::new(None),
            faults: RwLock::new(Arc::new(faults)),
            counters: FaultCounters::default(),
        }
    }

    pub(crate) fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
        *self
            .reload_error
            .write()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }

    pub(crate) fn reload_error(&self) -> Option<PolicyError> {
        self.reload_error
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Notes a refused reload; the policy in force stays.
    pub(crate) fn set_reload_error(&self, err: PolicyError) {
        *self
            .reload_error
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(err);
    }

    pub(crate) fn faults(&self) -> Arc<Faults> {
        Arc::clone(&self.faults.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the fault knobs; the next request sees them, and shares count afresh.
    pub(crate) fn set_faults(&self, faults: Faults) {
        let mut slot = self.faults.write().unwrap_or_else(PoisonError::into_inner);
        self.counters.reset();
        *slot = Arc::new(faults);
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<Claims, Response> {
        let header = headers
            .get(AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or(""));
        self.keys.verify(header).map_err(|err| unauthorized(&err))
    }
}

/// The router of every endpoint.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(EVENTS_PATH, post(receive_event))
        .route("/_dev/faults", get(get_faults).put(put_faults))
        .route("/_dev/policy", get(get_policy))
        .route("/_dev/agents", get(list_agents))
        .route("/_dev/agents/{agent_id}/sessions", get(list_sessions))
        .route(
            "/_dev/agents/{agent_id}/sessions/{session_id}/events",
            get(list_agent_session_events),
        )
        .route(
            "/_dev/sessions/{session_id}/events",
            get(list_session_events),
        )
        .fallback(unknown_endpoint)
        .with_state(shared)
}

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Debug, Clone, Copy)]
struct CloseWithoutAnswer;

/// Why a request was refused, in words for the server's log: the `error` of the answer.
#[derive(Debug, Clone)]
struct Refusal(String);

/// Marks an answer that a fault knob put in place of the real one.
#[derive(Debug, Clone, Copy)]
struct InjectedFault;

/// Shows text from a request in a log line with its control characters escaped (a newline
/// as `\n`), so a value a caller sent cannot split the line or forge another one. Other
/// text is shown as it is.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                std::fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Logs an answer that is not a success, one line with the method, the path, the status
/// and the reason, so a developer whose requests fail sees why on the server's side too.
/// Refusals are warnings (the caller has something to fix), server errors are errors, and
/// answers that fault knobs chose are info. The token is never logged: no reason holds it.
fn log_refusal(method: &axum::http::Method, path: &str, response: &Response) {
    let path = Escaped(path);
    let status = response.status();
    if response.extensions().get::<CloseWithoutAnswer>().is_some() {
        tracing::info!("{method} {path}: connection closed without an answer by a fault knob");
        return;
    }
    if !(status.is_client_error() || status.is_server_error()) {
        return;
    }
    // Answers that axum makes itself (a wrong method, say) carry no reason; the status
    // says it all.
    let reason = match response.extensions().get::<Refusal>() {
        Some(Refusal(reason)) => format!(": {}", Escaped(reason)),
        None => String::new(),
    };
    if response.extensions().get::<InjectedFault>().is_some() {
        tracing::info!("{method} {path} -> {status}{reason}");
    } else if status.is_server_error() {
        tracing::error!("{method} {path} -> {status}{reason}");
    } else {
        tracing::warn!("{method} {path} -> {status}{reason}");
    }
}

/// The error that makes hyper drop a connection without writing a response.
#[derive(Debug)]
struct ConnectionClosedOnPurpose;

impl std::fmt::Display for ConnectionClosedOnPurpose {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without an answer by a fault knob")
    }
}

impl std::error::Error for ConnectionClosedOnPurpose {}

/// Accepts connections until `stop` resolves, then lets open requests finish for up to
/// `grace` before returning.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    stop: impl Future<Output = ()>,
    grace: Duration,
) {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!("cannot accept a connection: {err}; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);

        let router = router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let router = router.clone();
            async move {
                let method = request.method().clone();
                let path = request.uri().path().to_owned();
                let response = router
                    .oneshot(request)
                    .await
                    .unwrap_or_else(|e: Infallible| match e {});
                log_refusal(&method, &path, &response);
                if response.extensions().get::<CloseWithoutAnswer>().is_some() {
                    Err(ConnectionClosedOnPurpose)
                } else {
                    Ok(response)
                }
            }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection ended: {err}");
            }
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!("requests still open after {grace:?} of shutdown; dropping them");
        }
    }
}

async fn receive_event(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let received_at = OffsetDateTime::now_utc();
    let correlation_id = headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut response = decide_event(&shared, &headers, body, received_at, correlation_id.clone())
        .await
        .unwrap_or_else(|response| response);
    if let Some(id) = correlation_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(CORRELATION_HEADER, id);
    }
    response
}

async fn decide_event(
    shared: &Shared,
    headers: &HeaderMap,
    body: Body,
    received_at: OffsetDateTime,
    correlation_id: Option<String>,
) -> Result<Response, Response> {
    let claims = shared.authorize(headers)?;
    let is_json = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"));
    if !is_json {
        return Err(bad_request("Content-Type", "must be `application/json`"));
    }
    let bytes = read_body(headers, body, shared.max_body_bytes).await?;
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|err| bad_request("body", &format!("is not valid JSON: {err}")))?;
    let event = Event::from_json(&body).map_err(|err| bad_request(&err.field, &err.problem))?;

    let verdict = tokio::time::timeout(shared.timeout, decide_with_faults(shared, &event))
        .await
        .map_err(|_| timed_out(shared.timeout))??;

    let blocking = event.event_type.is_blocking();
    let response = if blocking {
        decision_response(&verdict)
    } else {
        StatusCode::ACCEPTED.into_response()
    };
    tracing::info!(
        "{} {} {}",
        event.event_type,
        Escaped(&event.session_id),
        match (&verdict.rule, blocking) {
            (Some(rule), true) => format!("-> {} [{rule}]", verdict.action.as_str()),
            (None, true) => format!("-> {}", verdict.action.as_str()),
            (Some(rule), false) => format!("matched [{rule}]"),
            (None, false) => String::new(),
        }
    );

    let record = Recorded {
        body,
        event_type: event.event_type.as_str().to_owned(),
        session_id: event.session_id,
        agent_id: event.agent_id,
        agent_name: event.agent_name,
        tenant: claims.sub,
        correlation_id,
        action: blocking.then(|| verdict.action.as_str().to_owned()),
        reason: verdict.reason,
        rule: verdict.rule,
        received_at,
    };
    if let Err(err) = shared.audit.append(record) {
        return Err(error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": format!(
                "cannot write the audit log: {err}; check the disk and the file's rights"
            )}),
        ));
    }
    Ok(response)
}

/// Applies the fault knobs for the event, then the policy.
async fn decide_with_faults(shared: &Shared, event: &Event) -> Result<Verdict, Response> {
    let faults = shared.faults();
    let knobs = faults.knobs_for(event.event_type);
    let injected = shared.counters.next(event.event_type, knobs);
    if knobs.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(knobs.latency_ms)).await;
    }
    match injected {
        Injected::Nothing => {}
        Injected::Close => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(CloseWithoutAnswer);
            return Err(response);
        }
        Injected::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = error_response(
                status,
                json!({"error": format!("fault injected by capsule-dev: status {status}")}),
            );
            response.extensions_mut().insert(InjectedFault);
            return Err(response);
        }
    }
    Ok(shared.policy().evaluate(event))
}

async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({
                "error": format!("the body is larger than the limit of {limit} bytes"),
                "field": "body",
            }),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, limit).await.map_err(|err| {
        let is_limit = std::error::Error::source(&err)
            .is_some_and(<dyn std::error::Error>::is::<LengthLimitError>);
        if is_limit {
            too_large()
        } else {
            bad_request("body", &format!("cannot be read: {err}"))
        }
    })
}

#[derive(Serialize)]
struct DecisionBody<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    response: DecisionResponse<'a>,
}

#[derive(Serialize)]
struct DecisionResponse<'a> {
    action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn decision_response(verdict: &Verdict) -> Response {
    let reason = match verdict.action {
        Action::Block => verdict.reason.as_deref(),
        Action::Allow => None,
    };
    let body = DecisionBody {
        api_version: "1",
        response: DecisionResponse {
            action: verdict.action.as_str(),
            reason,
        },
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// An answer with a JSON body whose `error` says why; the why goes to the log too.
fn error_response(status: StatusCode, body: Value) -> Response {
    let refusal = body["error"]
        .as_str()
        .map(|error| Refusal(error.to_owned()));
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(refusal) = refusal {
        response.extensions_mut().insert(refusal);
    }
    response
}

fn bad_request(field: &str, problem: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        json!({"error": format!("`{field}` {problem}"), "field": field}),
    )
}

fn unauthorized(err: &AuthError) -> Response {
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        json!({"error": err.to_string(), "reason": err.code()}),
    );
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn timed_out(timeout: Duration) -> Response {
    error_response(
        StatusCode::REQUEST_TIMEOUT,
        json!({
            "error": format!(
                "the decision took longer than the server timeout of {}; treat it as allow",
                humantime::format_duration(timeout)
            )
        }),
    )
}

async fn get_faults(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match shared.authorize(&headers) {
        Ok(_) => axum::Json(&*shared.faults()).into_response(),
        Err(response) => response,
    }
}

async fn put_faults(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = shared.authorize(&headers) {
        return response;
    }
    let faults: Faults = match serde_json::from_slice(&body) {
        Ok(faults) => faults,
        Err(err) => return bad_request("body", &format!("is not a set of fault knobs: {err}")),
    };
    if let Err(problem) = faults.validate() {
        return error_response(StatusCode::BAD_REQUEST, json!({"error": problem}));
    }
    tracing::info!("fault knobs set: {faults:?}");
    shared.set_faults(faults.clone());
    axum::Json(faults).into_response()
}

async fn get_policy(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match shared.authorize(&headers) {
        Ok(_) => axum::Json(json!({
            "rules": shared.policy().rule_names(),
            "reload_error": shared.reload_error().map(|err| err.to_string()),
        }))
        .into_response(),
        Err(response) => response,
    }
}

async fn list_agents(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    tenant_view(&shared, &headers, |events, _tenant| {
        Ok(inspect::agents(events.iter().copied()))
    })
}

async fn list_sessions(
    State(shared): State<Arc<Shared>>,
    Path(agent_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    tenant_view(&shared, &headers, |events, tenant| {
        let sessions = inspect::sessions(events.iter().copied(), &agent_id);
        found_or_404(sessions, || {
            format!(
                "no agent {agent_id:?} of tenant {tenant:?} has sent events; see GET \
                 /_dev/agents"
            )
        })
    })
}

/// The events of a session, when one agent of the tenant uses its id; when several do, a
/// `409` that names them and points to the view per agent.
async fn list_session_events(
    State(shared): State<Arc<Shared>>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    tenant_view(&shared, &headers, |events, tenant| {
        let found = inspect::session_events(events.iter().copied(), &session_id);
        let mut agents: Vec<&str> = found.iter().map(|event| event.agent_id.as_str()).collect();
        agents.sort_unstable();
        agents.dedup();
        if agents.len() > 1 {
            return Err(error_response(
                StatusCode::CONFLICT,
                json!({"error": format!(
                    "session {session_id:?} is used by the agents {agents:?}; ask for one \
                     with GET /_dev/agents/{{agent_id}}/sessions/{{session_id}}/events"
                )}),
            ));
        }
        found_or_404(found, || no_session(&session_id, tenant))
    })
}

async fn list_agent_session_events(
    State(shared): State<Arc<Shared>>,
    Path((agent_id, session_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    tenant_view(&shared, &headers, |events, tenant| {
        let of_agent = events
            .iter()
            .copied()
            .filter(|event| event.agent_id == agent_id);
        let found = inspect::session_events(of_agent, &session_id);
        found_or_404(found, || no_session(&session_id, tenant))
    })
}

fn no_session(session_id: &str, tenant: &str) -> String {
    format!(
        "no session {session_id:?} of tenant {tenant:?} has events; see GET \
         /_dev/agents/{{agent_id}}/sessions"
    )
}

/// Checks the token, then answers `view` of the events of the token's tenant, as JSON.
/// Tokens are scoped to one tenant, so no view shows another tenant's events.
fn tenant_view<T: Serialize>(
    shared: &Shared,
    headers: &HeaderMap,
    view: impl FnOnce(&[&Recorded], &str) -> Result<T, Response>,
) -> Response {
    let tenant = match shared.authorize(headers) {
        Ok(claims) => claims.sub,
        Err(response) => return response,
    };
    let answer = shared.audit.with_events(|events| {
        let own: Vec<&Recorded> = inspect::of_tenant(events, &tenant).collect();
        view(&own, &tenant)
    });
    match answer {
        Ok(items) => axum::Json(items).into_response(),
        Err(response) => response,
    }
}

/// `items`, or a `404` saying `missing` when there are none.
fn found_or_404<T>(items: Vec<T>, missing: impl FnOnce() -> String) -> Result<Vec<T>, Response> {
    if items.is_empty() {
        Err(not_found(&missing()))
    } else {
        Ok(items)
    }
}

async fn unknown_endpoint() -> Response {
    not_found(&format!(
        "no such endpoint; events go to POST {EVENTS_PATH}"
    ))
}

fn not_found(problem: &str) -> Response {
    error_response(StatusCode::NOT_FOUND, json!({"error": problem}))
}
