//! Tools that answer the model with a plain value are guarded through `on_block`, which
//! turns the block into a value of the tool's own return type.

#![deny(warnings)]

use capsule::{Blocked, Json, ToolOutput};
use serde::Serialize;
use serde_json::{Value, json};

#[capsule::tool(on_block = |blocked| format!("refused: {}", blocked.reason()))]
async fn text(query: String) -> String {
    format!("ran {query}")
}

fn refusal(blocked: Blocked) -> Value {
    json!({ "refused": blocked.to_string() })
}

#[capsule::tool(on_block = refusal)]
async fn value(query: String) -> Value {
    json!({ "ran": query })
}

#[capsule::tool(on_block = |_| None)]
async fn maybe(id: u32) -> Option<u32> {
    Some(id)
}

#[capsule::tool(on_block = |_| ())]
async fn nothing(id: u32) {
    let _ = id;
}

#[derive(Serialize)]
struct Answer {
    text: String,
}

impl ToolOutput for Answer {
    fn to_output(&self) -> Json {
        Json::from_serialize(self).unwrap_or_else(|_| Json::null())
    }
}

#[capsule::tool(on_block = |blocked| Answer { text: blocked.to_string() })]
async fn own_type(query: String) -> Answer {
    Answer { text: query }
}

#[tokio::main]
async fn main() {
    assert_eq!(text("q".to_owned()).await, "ran q");
    assert_eq!(value("q".to_owned()).await, json!({"ran": "q"}));
    assert_eq!(maybe(1).await, Some(1));
    nothing(1).await;
    assert_eq!(own_type("q".to_owned()).await.text, "q");
}
