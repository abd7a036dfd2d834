//! A scripted customer-support agent whose tools are guarded by Capsule.
//!
//! It plays the contract's full session: a prompt, an allowed order lookup, a database
//! query that the policy blocks as touching a sensitive table (the agent handles the
//! block and tells the user), the reply, and the end of the session.
//!
//! With no configuration it starts the local `capsule-dev` endpoint in-process and
//! prints what that endpoint recorded. With `CAPSULE_URL` and `CAPSULE_TOKEN` set it
//! talks to that endpoint instead.
//!
//! ```text
//! cargo run --example support_agent
//! ```

use std::time::Duration;

use capsule::{Config, Verdict};
use serde_json::{Value, json};

/// Looks up an order in the shop's system.
#[capsule::tool]
async fn order_lookup(order_id: String) -> anyhow::Result<Value> {
    Ok(json!({"status": "shipped", "tracking": "1Z999AA10123456784", "order_id": order_id}))
}

/// Runs a read-only SQL query against the customer database.
#[capsule::tool]
async fn database_query(query: String) -> anyhow::Result<Value> {
    println!("    (the query ran: {query})");
    Ok(json!({"row_count": 42}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The SDK reports trouble (an endpoint failing, a bad configuration) through
    // `tracing`; without a subscriber those warnings would go nowhere.
    tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
        .with_target(false)
        .init();

    let external = std::env::var_os("CAPSULE_URL").is_some();
    let (config, local) = if external {
        println!("Using the Capsule endpoint at CAPSULE_URL.");
        (Config::from_env()?, None)
    } else {
        let server = capsule_dev::DevServer::builder().start()?;
        println!("Started a local capsule-dev endpoint at {}.", server.url());
        let config = Config::builder()
            .url(server.url())
            .token(server.token())
            .agent("support-agent", "Customer Support Agent")
            .build()?;
        (config, Some(server))
    };

    let capsule = capsule::init(config)?;
    let session = capsule.client().session("user@example.com");
    println!("\n1. session_start  {}", session.id());

    let prompt = "Look up order #12345, then show me all customer records from the last month";
    println!("2. user_message   \"{prompt}\"");
    let verdict = session.check_prompt(prompt).await;
    println!("   -> {}", describe(&verdict));
    if let Verdict::Block(blocked) = verdict {
        session.agent_message(format!(
            "Sorry, I can't help with that: {}",
            blocked.reason()
        ));
        return Ok(());
    }

    println!("3. tool_invocation order_lookup {{\"order_id\": \"12345\"}}");
    let order = order_lookup("12345".to_owned()).await;
    match &order {
        Ok(output) => println!("   -> allowed; tool_result {output}"),
        Err(err) => println!("   -> {err}"),
    }

    let query = "SELECT * FROM users WHERE created_at > now() - interval '1 month'";
    println!("4. tool_invocation database_query {{\"query\": \"{query}\"}}");
    let records = database_query(query.to_owned()).await;
    let records_part = match &records {
        Ok(output) => {
            println!("   -> allowed; tool_result {output}");
            format!("I found {} customer records.", output["row_count"])
        }
        Err(err) => {
            println!("   -> blocked: {err}");
            "I can't show customer records: that data is protected by policy.".to_owned()
        }
    };

    let tracking = order
        .as_ref()
        .ok()
        .and_then(|o| o["tracking"].as_str())
        .unwrap_or("unknown");
    let reply =
        format!("Order #12345 has been shipped. Tracking number: {tracking}. {records_part}");
    println!("5. agent_message  \"{reply}\"");
    session.agent_message(reply);

    let id = session.id().to_owned();
    drop(session);
    println!("6. session_end    {id}");

    if !capsule.client().flush(Duration::from_secs(5)).await {
        println!("\n(some telemetry could not be delivered within 5 s)");
    }

    match local {
        Some(server) => {
            println!("\nWhat the endpoint recorded for this session:");
            for event in server.events().iter().filter(|e| e.session_id == id) {
                let decision = match (&event.action, &event.reason) {
                    (Some(action), Some(reason)) => format!("{action}: {reason}"),
                    (Some(action), None) if event.rule.is_some() => {
                        format!(
                            "{action} (rule {})",
                            event.rule.as_deref().unwrap_or_default()
                        )
                    }
                    (Some(action), None) => action.clone(),
                    (None, _) => "accepted".to_owned(),
                };
                println!("  {:<16} {decision}", event.event_type);
            }
        }
        None => println!("\nSee the session {id} in the service's audit view."),
    }
    Ok(())
}

fn describe(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allow { failed: None } => "allowed".to_owned(),
        Verdict::Allow {
            failed: Some(cause),
        } => format!("allowed without a decision ({cause})"),
        Verdict::Block(blocked) => format!("blocked: {}", blocked.reason()),
        Verdict::Unenforced(blocked) => {
            format!("would be blocked (monitor mode): {}", blocked.reason())
        }
    }
}
