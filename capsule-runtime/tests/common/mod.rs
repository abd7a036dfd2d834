//! What the runtime's integration tests share: clients, events, a panic counter, and a
//! raw HTTP endpoint for the faults `capsule-dev` cannot produce (bodies that are not
//! decisions, connections reset or held open, stale keep-alive connections).

#![allow(dead_code)]

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use capsule_runtime::{
    Agent, Client, Config, ConfigBuilder, Event, EventKind, FailurePolicy, Json, Timestamp, User,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How long a test waits for telemetry before it gives up; only a bound against hangs.
pub const FLUSH: Duration = Duration::from_secs(10);

/// The slack allowed past a deadline on this shared machine, to prove it holds.
pub const SLACK: Duration = Duration::from_secs(2);

/// A builder for a client of `url`, with short telemetry timeouts and retries so that
/// failing telemetry settles quickly.
pub fn builder(url: &str, token: &str, policy: FailurePolicy, deadline: Duration) -> ConfigBuilder {
    Config::builder()
        .url(url)
        .token(token)
        .agent("support-agent", "Customer Support Agent")
        .failure_policy(policy)
        .blocking_timeout(deadline)
        .telemetry_timeout(Duration::from_secs(1))
        .telemetry_retries(1)
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
}

/// A client of `url` made from [`builder`].
pub fn client(url: &str, token: &str, policy: FailurePolicy, deadline: Duration) -> Client {
    let config = builder(url, token, policy, deadline)
        .build()
        .expect("the test configuration is valid");
    Client::new(config).expect("the client starts")
}

/// A loopback address on which nothing listens: bind a port, then let it go.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback is available");
    let addr = listener.local_addr().expect("bound");
    drop(listener);
    format!("http://{addr}")
}

/// An event of `kind` in the session `session`.
pub fn event(session: &str, kind: EventKind) -> Event {
    Event {
        session_id: session.into(),
        timestamp: Timestamp::now(),
        agent: Agent::new("support-agent", "Customer Support Agent"),
        user: User::new("user@example.com"),
        kind,
    }
}

/// A `tool_invocation` the sample policy allows.
pub fn invocation(session: &str) -> Event {
    let input = Json::from_serialize(&serde_json::json!({"order_id": "12345"})).unwrap();
    event(
        session,
        EventKind::ToolInvocation {
            name: Cow::Borrowed("order_lookup"),
            input,
        },
    )
}

/// An `agent_message` with `text`.
pub fn message(session: &str, text: &str) -> Event {
    event(
        session,
        EventKind::AgentMessage {
            content: text.to_owned(),
        },
    )
}

/// Counts panics on the client's own threads (a panic on a test's thread fails that
/// test anyway), so a test can show that nothing panicked there.
pub fn panics() -> usize {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static HOOK: OnceLock<()> = OnceLock::new();
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or_default();
            if name.starts_with("capsule-") && !name.starts_with("capsule-dev") {
                COUNT.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
    COUNT.load(Ordering::SeqCst)
}

/// `emitted` is exactly `sent + failed + dropped + still queued`.
pub fn assert_accounted(client: &Client) {
    let stats = client.stats();
    assert_eq!(
        stats.emitted,
        stats.sent + stats.failed + stats.dropped + stats.queue_depth,
        "{stats:#?}"
    );
    assert_eq!(stats.failed, stats.failed_by.total());
    assert_eq!(stats.dropped, stats.dropped_by.total());
}

/// What a [`RawServer`] does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Writes these bytes and keeps the connection for the next request.
    Send(Vec<u8>),
    /// Waits, then writes these bytes.
    After(Duration, Vec<u8>),
    /// Never answers and keeps the connection open.
    Hold,
    /// Closes the connection without answering.
    Close,
    /// Starts a 200 answer, then resets the connection in the middle of the body.
    ResetMidBody,
    /// Starts a 200 answer of 64 MiB and writes until the client goes away.
    Endless,
}

/// A response with `status`, `headers` (each `name: value`) and `body`.
pub fn response(status: &str, headers: &[&str], body: &str) -> Reply {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    Reply::Send(text.into_bytes())
}

/// The `allow` decision.
pub fn allow() -> Reply {
    response(
        "200 OK",
        &["Content-Type: application/json"],
        r#"{"apiVersion": "1", "response": {"action": "allow"}}"#,
    )
}

/// `202 Accepted`, the answer to telemetry.
pub fn accepted() -> Reply {
    response("202 Accepted", &[], "")
}

/// One request as the raw server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which connection it came on, counting from 0.
    pub connection: usize,
    /// Which request of that connection it was, counting from 0.
    pub on_connection: usize,
    /// Its `x-correlation-id`.
    pub correlation_id: Option<String>,
    /// Its body.
    pub body: serde_json::Value,
    /// When it arrived.
    pub at: Instant,
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A minimal HTTP/1.1 endpoint on loopback whose answers a test scripts, for faults
/// that a well-behaved server like `capsule-dev` cannot produce. It runs on its own
/// thread and runtime, so it outlives any runtime of the test.
pub struct RawServer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl RawServer {
    /// Starts a server that answers request number `n` (from 0, over all connections)
    /// with `script(&request, n)`.
    pub fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);

        let thread_seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("listener");
                let mut connection = 0;
                while let Ok((socket, _)) = listener.accept().await {
                    let seen = Arc::clone(&thread_seen);
                    let script = Arc::clone(&script);
                    tokio::spawn(serve(socket, connection, seen, script));
                    connection += 1;
                }
            });
        });
        Self { url, seen }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: TcpStream,
    connection: usize,
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Script>,
) {
    let mut buffer = Vec::new();
    for on_connection in 0.. {
        let Some((head, body)) = read_request(&mut socket, &mut buffer).await else {
            return;
        };
        let request = Seen {
            connection,
            on_connection,
            correlation_id: header(&head, "x-correlation-id"),
            body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            at: Instant::now(),
        };
        let index = {
            let mut seen = seen.lock().unwrap();
            seen.push(request.clone());
            seen.len() - 1
        };

        match script(&request, index) {
            Reply::Send(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::After(wait, bytes) => {
                tokio::time::sleep(wait).await;
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Hold => {
                let mut sink = [0u8; 1024];
                while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Reply::Close => return,
            Reply::ResetMidBody => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 1000\r\n\r\n{\"apiVersion\": \"1\", ";
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.flush().await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                let _ = socket.set_zero_linger();
                return;
            }
            Reply::Endless => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Content-Length: 67108864\r\n\r\n";
                let _ = socket.write_all(head.as_bytes()).await;
                let chunk = vec![b' '; 64 * 1024];
                for _ in 0..1024 {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                return;
            }
        }
    }
}

/// Reads one request's head and body; `None` when the client closed the connection.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            let length: usize = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                read_more(socket, buffer).await?;
            }
            let body = buffer[end + 4..end + 4 + length].to_vec();
            buffer.drain(..end + 4 + length);
            return Some((head, body));
        }
        read_more(socket, buffer).await?;
    }
}

async fn read_more(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 8192];
    match socket.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Runs the ignored test `name` of this test binary again as a child process, alone, with
/// `env` set: a program that needs a process of its own (no other test's client or
/// session in it, and a real end when its `main` returns). Returns what it did.
pub fn run_program(name: &str, env: &[(&str, String)]) -> std::process::Output {
    let output = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--ignored", "--quiet", "--nocapture"])
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()
        .expect("the program runs");
    assert!(
        output.status.success(),
        "{name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
