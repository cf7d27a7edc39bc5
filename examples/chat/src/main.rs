//! The chat server: `cargo run --release -p chat [-- --addr HOST:PORT]` (default 127.0.0.1:3000).

use std::net::SocketAddr;

use chat::{ChatApp, app};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let addr = parse_addr(std::env::args().skip(1))?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let ChatApp { router, sockets, .. } = app()?;
    tracing::info!(
        "chat server listening on http://{} (WebSocket at ws://{}/ws/chat)",
        listener.local_addr()?,
        listener.local_addr()?
    );
    grest_ws::server::serve(listener, router)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: draining sockets");
            // In-flight requests finish, then every socket closes with 1001 and clients reconnect elsewhere.
            sockets.shutdown(std::time::Duration::from_secs(5)).await;
        })
        .await?;
    Ok(())
}

fn parse_addr(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut addr = String::from("127.0.0.1:3000");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            other => match other.strip_prefix("--addr=") {
                Some(value) => addr = value.to_owned(),
                None => return Err(format!("unknown argument {other:?}; usage: chat [--addr HOST:PORT]")),
            },
        }
    }
    addr.parse().map_err(|e| format!("invalid --addr {addr:?}: {e}"))
}
