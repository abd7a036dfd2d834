//! `capsule-dev`: a local Capsule endpoint on `127.0.0.1:8787` for developing agents.

use std::net::SocketAddr;
use std::process::ExitCode;

use capsule_dev::DevServer;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let addr = SocketAddr::from(([127, 0, 0, 1], 8787));
    let server = match DevServer::builder().bind(addr).start() {
        Ok(server) => server,
        Err(err) => {
            eprintln!("capsule-dev: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("capsule-dev listening on {}", server.url());
    println!("token: {}", server.token());

    let waited = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|runtime| runtime.block_on(tokio::signal::ctrl_c()));
    if let Err(err) | Ok(Err(err)) = waited {
        eprintln!("capsule-dev: cannot wait for Ctrl-C ({err}); stopping");
    }
    server.shutdown();
    println!("capsule-dev stopped");
    ExitCode::SUCCESS
}
