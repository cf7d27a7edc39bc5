//! The TCP bridge: `cargo run -p tcp-bridge [-- --addr HOST:PORT]` (default 127.0.0.1:3002).
//!
//! `BRIDGE_TOKEN` sets the token (default `dev-token`), `BRIDGE_PORTS` the comma-separated loopback ports clients
//! may reach. A built-in TCP echo service is always allowed, so this works out of the box:
//! `websocat 'ws://127.0.0.1:3002/tcp/<echo port>?token=dev-token'`.

use std::net::SocketAddr;

use tcp_bridge::{BridgeConfig, echo_router, router, spawn_echo_service};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let addr = parse_addr(std::env::args().skip(1))?;
    let token = std::env::var("BRIDGE_TOKEN").unwrap_or_else(|_| "dev-token".to_owned());
    let mut allowed_ports = match std::env::var("BRIDGE_PORTS") {
        Ok(ports) => ports
            .split(',')
            .map(|port| port.trim().parse::<u16>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("invalid BRIDGE_PORTS: {e}"))?,
        Err(_) => Vec::new(),
    };
    let echo = spawn_echo_service().await?;
    allowed_ports.push(echo.port());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!("TCP echo service on {echo}");
    tracing::info!("bridging ws://{local}/tcp/<port>?token=… to 127.0.0.1:<port> for ports {allowed_ports:?}");
    tracing::info!("try: websocat 'ws://{local}/tcp/{}?token={token}'", echo.port());
    tracing::info!("WebSocket echo (for conformance suites) at ws://{local}/echo");
    let app = router(BridgeConfig { token, allowed_ports })?.merge(echo_router()?);
    grest_ws::server::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}

fn parse_addr(mut args: impl Iterator<Item = String>) -> Result<SocketAddr, String> {
    let mut addr = String::from("127.0.0.1:3002");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?,
            other => match other.strip_prefix("--addr=") {
                Some(value) => addr = value.to_owned(),
                None => {
                    return Err(format!(
                        "unknown argument {other:?}; usage: tcp-bridge [--addr HOST:PORT]"
                    ));
                }
            },
        }
    }
    addr.parse().map_err(|e| format!("invalid --addr {addr:?}: {e}"))
}
