//! What `#[capsule::tool]` sends as `tool.input`, for each way of writing parameters,
//! checked on the events a real `capsule-dev` endpoint received.

use crate::common;

use std::sync::Arc;

use common::{guarded_call, server, types};
use serde::Serialize;
use serde_json::json;

#[derive(Serialize, Clone)]
struct Order {
    sku: String,
    qty: u32,
}

/// Not `Serialize`: a parameter of this type can only be left out of the input.
struct Token;

#[capsule::tool]
async fn destructured(
    Order { sku, qty }: Order,
    (x, y): (i32, i32),
    _: Token,
) -> anyhow::Result<String> {
    Ok(format!("{qty} x {sku} at {x},{y}"))
}

#[capsule::tool(input = order)]
async fn whole_order(order: Order, token: &Token) -> anyhow::Result<u32> {
    let Token = token;
    Ok(order.qty)
}

#[capsule::tool(input = count)]
async fn whole_number(count: u32) -> anyhow::Result<u32> {
    Ok(count + 1)
}

#[capsule::tool(skip_all)]
async fn nothing_sent(secret: String, token: Token) -> anyhow::Result<usize> {
    let Token = token;
    Ok(secret.len())
}

#[capsule::tool(skip(secret))]
async fn some_sent(user: &str, secret: &str) -> anyhow::Result<bool> {
    Ok(user != secret)
}

#[capsule::tool]
async fn raw_name(r#type: &str) -> anyhow::Result<String> {
    Ok(r#type.to_uppercase())
}

#[capsule::tool]
async fn shorten(mut text: &str) -> anyhow::Result<String> {
    let trimmed = format!("[{}]", text.trim());
    text = &trimmed;
    Ok(text.to_owned())
}

struct Counter {
    count: u32,
}

impl Counter {
    #[capsule::tool]
    async fn peek(&self, by: u32) -> anyhow::Result<u32> {
        Ok(self.count + by)
    }

    #[capsule::tool]
    async fn bump(&mut self, by: u32) -> anyhow::Result<u32> {
        self.count += by;
        Ok(self.count)
    }

    #[capsule::tool]
    async fn shared(self: Arc<Self>, by: u32) -> anyhow::Result<u32> {
        Ok(self.count * by)
    }

    #[capsule::tool]
    async fn consume(mut self, by: u32) -> anyhow::Result<u32> {
        self.count -= by;
        Ok(Self::double(self.count))
    }

    fn double(n: u32) -> u32 {
        n * 2
    }
}

#[tokio::test]
async fn pattern_parameters_send_each_binding_under_its_name() {
    let server = server();
    let order = Order {
        sku: "SKU-1".to_owned(),
        qty: 2,
    };

    let (output, events) = guarded_call(&server, destructured(order, (3, 4), Token)).await;

    assert_eq!(output.expect("allowed"), "2 x SKU-1 at 3,4");
    assert_eq!(types(&events), ["tool_invocation", "tool_result"]);
    let expected = json!({"sku": "SKU-1", "qty": 2, "x": 3, "y": 4});
    assert_eq!(events[0].body["tool"]["input"], expected);
    assert_eq!(events[1].body["tool"]["input"], expected);
}

#[tokio::test]
async fn input_sends_one_argument_as_the_whole_object() {
    let server = server();
    let order = Order {
        sku: "SKU-9".to_owned(),
        qty: 5,
    };

    let (output, events) = guarded_call(&server, whole_order(order, &Token)).await;

    assert_eq!(output.expect("allowed"), 5);
    assert_eq!(
        events[0].body["tool"]["input"],
        json!({"sku": "SKU-9", "qty": 5})
    );
}

#[tokio::test]
async fn input_that_is_not_an_object_is_sent_under_its_name() {
    let server = server();

    let (output, events) = guarded_call(&server, whole_number(41)).await;

    assert_eq!(output.expect("allowed"), 42);
    assert_eq!(events[0].body["tool"]["input"], json!({"count": 41}));
}

#[tokio::test]
async fn skip_all_sends_an_empty_object_and_skip_leaves_out_the_named() {
    let server = server();

    let (nothing, nothing_events) =
        guarded_call(&server, nothing_sent("hunter2".to_owned(), Token)).await;
    let (some, some_events) = guarded_call(&server, some_sent("ada", "hunter2")).await;

    assert_eq!(nothing.expect("allowed"), 7);
    assert_eq!(nothing_events[0].body["tool"]["input"], json!({}));
    assert!(some.expect("allowed"));
    assert_eq!(some_events[0].body["tool"]["input"], json!({"user": "ada"}));
}

#[tokio::test]
async fn a_raw_identifier_is_sent_without_its_prefix() {
    let server = server();

    let (output, events) = guarded_call(&server, raw_name("order")).await;

    assert_eq!(output.expect("allowed"), "ORDER");
    assert_eq!(events[0].body["tool"]["name"], "raw_name");
    assert_eq!(events[0].body["tool"]["input"], json!({"type": "order"}));
}

#[tokio::test]
async fn a_mut_argument_is_sent_as_passed_and_may_be_reassigned_in_the_body() {
    let server = server();

    let (output, events) = guarded_call(&server, shorten("  hello  ")).await;

    assert_eq!(output.expect("allowed"), "[hello]");
    assert_eq!(
        events[0].body["tool"]["input"],
        json!({"text": "  hello  "})
    );
    assert_eq!(events[1].body["tool"]["output"], json!("[hello]"));
}

#[tokio::test]
async fn no_receiver_is_ever_part_of_the_input() {
    let server = server();
    let mut counter = Counter { count: 10 };

    let (peeked, peek_events) = guarded_call(&server, counter.peek(1)).await;
    let (bumped, bump_events) = guarded_call(&server, counter.bump(2)).await;
    let shared = Arc::new(Counter { count: 3 });
    let (multiplied, shared_events) = guarded_call(&server, shared.shared(4)).await;
    let (consumed, consume_events) = guarded_call(&server, counter.consume(2)).await;

    assert_eq!(peeked.expect("allowed"), 11);
    assert_eq!(bumped.expect("allowed"), 12);
    assert_eq!(multiplied.expect("allowed"), 12);
    assert_eq!(consumed.expect("allowed"), 20);
    for (events, by) in [
        (peek_events, 1),
        (bump_events, 2),
        (shared_events, 4),
        (consume_events, 2),
    ] {
        assert_eq!(events[0].body["tool"]["input"], json!({"by": by}));
    }
}
