//! What the tests share: the contract's sample bodies and a small client for the server.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use capsule_dev::{EVENTS_PATH, RunningServer};
use serde_json::{Value, json};

/// A generous deadline, only to keep a broken test from hanging.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The sample body of the contract for `event_type`.
pub fn sample(event_type: &str) -> Value {
    let mut body = json!({
        "event_type": event_type,
        "session_id": "sess-abc123",
        "timestamp": "2026-03-03T10:30:00Z",
        "agent": {"id": "support-agent", "name": "Customer Support Agent"},
        "user": {"email": "user@example.com"}
    });
    match event_type {
        "tool_invocation" => {
            body["tool"] =
                json!({"name": "database_query", "input": {"query": "SELECT * FROM users"}});
        }
        "tool_result" => {
            body["tool"] = json!({
                "name": "database_query",
                "input": {"query": "SELECT * FROM users"},
                "output": {"row_count": 42}
            });
        }
        "user_message" => {
            body["message"] =
                json!({"content": "Show me all customer records from the last month"});
        }
        "agent_message" => {
            body["message"] =
                json!({"content": "Here are the 42 customer records from the last month..."});
        }
        _ => {}
    }
    body
}

/// A `tool_invocation` of `tool` with `input`.
pub fn invocation(tool: &str, input: Value) -> Value {
    let mut body = sample("tool_invocation");
    body["tool"]["name"] = json!(tool);
    body["tool"]["input"] = input;
    body
}

/// A `user_message` saying `content`.
pub fn prompt(content: &str) -> Value {
    let mut body = sample("user_message");
    body["message"] = json!({"content": content});
    body
}

/// An HTTP client with a deadline.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("a plain HTTP client")
}

/// Posts `body` to the events endpoint with the server's own token.
pub async fn post(server: &RunningServer, body: &Value) -> reqwest::Response {
    post_with_token(server, Some(&server.token()), body).await
}

/// Posts `body` to the events endpoint with `token`, or none.
pub async fn post_with_token(
    server: &RunningServer,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client().post(server.events_url()).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("the server answers")
}

/// The decision of a blocking event: its status and JSON body.
pub async fn decide(server: &RunningServer, body: &Value) -> Value {
    let response = post(server, body).await;
    assert_eq!(response.status(), 200, "a blocking event is answered 200");
    response.json().await.expect("a JSON decision")
}

/// Gets a `/_dev/...` endpoint with the server's token.
pub async fn get_dev(server: &RunningServer, path: &str) -> reqwest::Response {
    get_dev_as(server, &server.token(), path).await
}

/// Gets a `/_dev/...` endpoint with `token`.
pub async fn get_dev_as(server: &RunningServer, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
}

/// Sends raw bytes and reads until the server closes: the whole answer, possibly empty.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

/// A raw HTTP/1.1 request for the events endpoint, with `Connection: close`.
pub fn raw_event_request(server: &RunningServer, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST {EVENTS_PATH} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr(),
        server.token(),
        body.len()
    )
    .into_bytes()
}

/// Polls `check` until it holds or the deadline passes.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The `capsule-dev` binary running as a child process, killed when dropped.
pub struct Binary {
    pub child: std::process::Child,
    pub url: String,
    pub token: String,
    /// What it printed up to its token line.
    pub startup: Vec<String>,
    /// The rest of its standard output, line by line.
    pub stdout: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl Binary {
    /// Starts the binary with `args` and reads its URL and token from what it prints.
    pub fn start(args: &[&str]) -> Binary {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_capsule-dev"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the binary starts");
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut url, mut token, mut startup) = (None, None, Vec::new());
        while token.is_none() {
            let line = stdout
                .next()
                .expect("the binary prints its URL and token")
                .unwrap();
            if let Some(rest) = line.strip_prefix("capsule-dev listening on ") {
                url = Some(rest.trim().to_owned());
            }
            if let Some(rest) = line.trim().strip_prefix("token:") {
                token = Some(rest.trim().to_owned());
            }
            startup.push(line);
        }
        Binary {
            child,
            url: url.expect("a URL line"),
            token: token.unwrap(),
            startup,
            stdout,
        }
    }

    /// The events endpoint of the binary.
    pub fn events_url(&self) -> String {
        format!("{}{EVENTS_PATH}", self.url)
    }

    /// Posts an event and returns the status.
    pub async fn post(&self, body: &Value) -> u16 {
        let response = client()
            .post(self.events_url())
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("the binary answers");
        response.status().as_u16()
    }

    /// Gets a `/_dev/...` endpoint of the binary with its token, as JSON.
    pub async fn get_dev(&self, path: &str) -> Value {
        client()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the binary answers")
            .json()
            .await
            .expect("a JSON answer")
    }

    /// Sends SIGINT, as Ctrl-C does, and waits for the exit.
    pub fn interrupt(mut self) -> (std::process::ExitStatus, String) {
        let status = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("the binary exits");
        let rest: Vec<String> = self.stdout.by_ref().map_while(Result::ok).collect();
        (exit, rest.join("\n"))
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// No trailing path arguments, for [`run`].
pub const NO_PATHS: [&std::path::Path; 0] = [];

/// Runs the binary to the end with `args`, then `paths`, and returns what it did.
pub fn run<const N: usize, P: AsRef<std::ffi::OsStr>>(
    args: [&str; N],
    paths: impl IntoIterator<Item = P>,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_capsule-dev"))
        .args(args)
        .args(paths)
        .output()
        .expect("the binary runs")
}
