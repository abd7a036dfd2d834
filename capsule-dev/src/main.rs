//! `capsule-dev`: a local Capsule endpoint for developing agents, plus the tools around it
//! (minting tokens, reading a session's timeline from the audit log).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use capsule_dev::{DevServer, EventType, FaultKnobs, Faults, TokenKeys, inspect};
use clap::{Args, Parser, Subcommand};

/// A local endpoint that speaks the Capsule webhook contract.
///
/// With no command it serves `POST /v1/generic-webhook/hooks/events` on 127.0.0.1:8787
/// with the sample policy, prints the URL and a token, and records every accepted event in
/// an audit log. Ctrl-C stops it cleanly.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the endpoint (the default when no command is given).
    Serve(ServeArgs),
    /// Mint a token for a tenant and print it.
    Token(TokenArgs),
    /// Print a session's events from the audit log, or list the sessions in it.
    Timeline(TimelineArgs),
    /// Print the sample policy, to start a policy file of your own.
    SamplePolicy,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "CAPSULE_DEV_BIND", default_value = "127.0.0.1:8787")]
    bind: SocketAddr,

    /// Policy file (TOML), reloaded when it changes; the sample policy when left out.
    #[arg(long, env = "CAPSULE_DEV_POLICY")]
    policy: Option<PathBuf>,

    /// HS256 secret for tokens; a random one is generated at start when left out (then
    /// only the printed token is valid).
    #[arg(long, env = "CAPSULE_DEV_SECRET", hide_env_values = true, value_parser = parse_secret)]
    secret: Option<String>,

    /// Tenant of the token printed at start.
    #[arg(long, default_value = "dev")]
    tenant: String,

    /// Audit log file (JSON lines), appended to and read back at start.
    #[arg(
        long,
        env = "CAPSULE_DEV_AUDIT",
        default_value = "capsule-dev.audit.jsonl"
    )]
    audit: PathBuf,

    /// Keep events in memory only, with no audit file.
    #[arg(long, conflicts_with = "audit")]
    no_audit: bool,

    /// Server-side timeout: a decision that takes longer is answered 408.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    /// Largest body accepted, in bytes; larger ones are answered 413.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_body_bytes: usize,

    /// Fault: latency added before each decision, e.g. 200ms.
    #[arg(long, value_parser = humantime::parse_duration, help_heading = "Faults")]
    latency: Option<Duration>,

    /// Fault: answer this HTTP status instead of the real answer.
    #[arg(long, help_heading = "Faults")]
    fault_status: Option<u16>,

    /// Fault: share of requests, 0 to 1, that get --fault-status.
    #[arg(long, default_value_t = 1.0, help_heading = "Faults")]
    fault_status_share: f64,

    /// Fault: share of requests, 0 to 1, whose connection is closed without an answer.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    close_share: f64,

    /// Fault: apply the fault options above only to this event type (repeatable).
    #[arg(long, value_parser = parse_event_type, help_heading = "Faults")]
    fault_event_type: Vec<EventType>,

    /// Fault knobs as JSON, as `PUT /_dev/faults` takes them (per event type too; see the
    /// README); replaces the fault options above.
    #[arg(long, help_heading = "Faults")]
    faults_json: Option<String>,
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// The tenant the token is scoped to.
    #[arg(long, default_value = "dev")]
    tenant: String,

    /// How long the token is valid, e.g. 1h, 7days.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    expires_in: Duration,

    /// The secret the server runs with (`--secret` or `CAPSULE_DEV_SECRET` there too).
    #[arg(long, env = "CAPSULE_DEV_SECRET", hide_env_values = true, value_parser = parse_secret)]
    secret: String,
}

#[derive(Debug, Args)]
struct TimelineArgs {
    /// The session to show; without it, the sessions in the log are listed.
    session_id: Option<String>,

    /// The audit log to read.
    #[arg(
        long,
        env = "CAPSULE_DEV_AUDIT",
        default_value = "capsule-dev.audit.jsonl"
    )]
    audit: PathBuf,

    /// Only the events of this tenant (the tenant of the tokens they came with).
    #[arg(long)]
    tenant: Option<String>,

    /// Only the events of this agent (`agent.id`).
    #[arg(long)]
    agent: Option<String>,
}

fn parse_event_type(text: &str) -> Result<EventType, String> {
    text.parse()
        .map_err(|err: capsule_dev::UnknownEventType| err.to_string())
}

/// Refuses an empty secret: anyone could mint tokens that an HS256 key of no bytes accepts.
fn parse_secret(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err(
            "the secret is empty, and anyone could mint tokens for it; pass a long random \
             string (the same to the server and to `token`), or leave --secret and \
             CAPSULE_DEV_SECRET unset when serving to have one generated"
                .into(),
        )
    } else {
        Ok(text.to_owned())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        None => serve(&cli.serve),
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::Token(args)) => {
            let keys = TokenKeys::from_secret(args.secret.as_bytes());
            println!("{}", keys.mint(&args.tenant, args.expires_in));
            Ok(())
        }
        Some(Command::Timeline(args)) => timeline(&args),
        Some(Command::SamplePolicy) => {
            print!("{}", capsule_dev::Policy::sample_toml());
            Ok(())
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("capsule-dev: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &ServeArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let faults = faults_of(args)?;
    let mut builder = DevServer::builder()
        .bind(args.bind)
        .faults(faults)
        .timeout(args.timeout)
        .max_body_bytes(args.max_body_bytes);
    if let Some(policy) = &args.policy {
        builder = builder.policy_file(policy);
    }
    if let Some(secret) = &args.secret {
        builder = builder.secret(secret.as_bytes());
    }
    if !args.no_audit {
        builder = builder.audit_file(&args.audit);
    }
    let server = builder.start().map_err(|err| err.to_string())?;

    println!("capsule-dev listening on {}", server.url());
    println!("  events:  POST {}", server.events_url());
    println!(
        "  policy:  {}",
        args.policy
            .as_ref()
            .map_or("the sample policy".into(), |p| {
                format!("{} (reloaded when it changes)", p.display())
            })
    );
    if args.no_audit {
        println!("  audit:   in memory only");
    } else {
        println!("  audit:   {}", args.audit.display());
    }
    println!(
        "  token:   {}",
        server.mint_token(&args.tenant, Duration::from_secs(24 * 3600))
    );
    if args.secret.is_none() {
        println!("  (secret generated for this run; pass --secret to mint more with `token`)");
    }
    println!("Ctrl-C stops it.");

    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|runtime| runtime.block_on(stop_signal()));
    if let Err(err) | Ok(Err(err)) = waited {
        eprintln!("capsule-dev: cannot wait for Ctrl-C ({err}); stopping");
    }
    server.shutdown();
    if args.no_audit {
        println!("capsule-dev stopped");
    } else {
        println!(
            "capsule-dev stopped; audit log {} synced",
            args.audit.display()
        );
    }
    Ok(())
}

/// The fault knobs of the command line.
fn faults_of(args: &ServeArgs) -> Result<Faults, String> {
    let faults = if let Some(json) = &args.faults_json {
        serde_json::from_str(json).map_err(|err| format!("--faults-json is not valid: {err}"))?
    } else {
        let mut knobs = FaultKnobs::default().close_connection(args.close_share);
        if let Some(latency) = args.latency {
            knobs = knobs.latency(latency);
        }
        if let Some(status) = args.fault_status {
            knobs = knobs.status(status, args.fault_status_share);
        }
        if args.fault_event_type.is_empty() {
            Faults::all(knobs)
        } else {
            args.fault_event_type
                .iter()
                .fold(Faults::none(), |faults, &kind| {
                    faults.for_event_type(kind, knobs)
                })
        }
    };
    faults.validate().map(|()| faults)
}

/// Ctrl-C, or SIGTERM where there is one.
async fn stop_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// Prints a session's timeline, or lists the sessions, from the audit log. Whoever can read
/// the file sees every tenant in it, so no token is asked for; a session is one tenant's
/// and one agent's, and a session id that several of them used is not merged.
fn timeline(args: &TimelineArgs) -> Result<(), String> {
    let mut events = capsule_dev::read_audit_log(&args.audit).map_err(|err| {
        format!(
            "cannot read the audit log {}: {err}; pass --audit FILE",
            args.audit.display()
        )
    })?;
    events.retain(|event| {
        args.tenant
            .as_ref()
            .is_none_or(|tenant| event.tenant == *tenant)
            && args
                .agent
                .as_ref()
                .is_none_or(|agent| event.agent_id == *agent)
    });
    let Some(session_id) = &args.session_id else {
        list_sessions(&events);
        return Ok(());
    };

    let session = inspect::session_events(&events, session_id);
    if session.is_empty() {
        return Err(format!(
            "no events of session {session_id:?} in {}; run without a session id to list \
             the sessions",
            args.audit.display()
        ));
    }
    let mut owners: Vec<(&str, &str)> = session
        .iter()
        .map(|event| (event.tenant.as_str(), event.agent_id.as_str()))
        .collect();
    owners.sort_unstable();
    owners.dedup();
    if let [_, _, ..] = owners.as_slice() {
        let owners: Vec<String> = owners
            .iter()
            .map(|(tenant, agent)| format!("tenant {tenant:?} agent {agent:?}"))
            .collect();
        return Err(format!(
            "session {session_id:?} is used by {}; pick one with --tenant and --agent",
            owners.join(", ")
        ));
    }
    print!("{}", inspect::timeline(&session));
    Ok(())
}

/// Lists the sessions of each agent, tenant by tenant.
fn list_sessions(events: &[capsule_dev::Recorded]) {
    let mut tenants: Vec<&str> = Vec::new();
    for event in events {
        if !tenants.contains(&event.tenant.as_str()) {
            tenants.push(&event.tenant);
        }
    }
    for tenant in tenants {
        println!("tenant {tenant}");
        let own = inspect::of_tenant(events, tenant);
        for agent in inspect::agents(own.clone()) {
            println!("  {} ({})", agent.id, agent.name);
            for session in inspect::sessions(own.clone(), &agent.id) {
                println!(
                    "    {}  {} events, {} blocked, last at {}",
                    session.session_id,
                    session.events,
                    session.blocked,
                    session
                        .last_seen
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                );
            }
        }
    }
}
