//! The chat server: `cargo run --release -p chat [-- --addr HOST:PORT] [--redis redis://HOST:PORT |
//! --redis-cluster redis://HOST:PORT,… | --nats nats://HOST:PORT]` (default 127.0.0.1:3000, a single process).
//! With a backplane flag, several chat servers share their rooms through that engine.

use std::net::SocketAddr;

use chat::{ChatApp, app, clustered_app};
use grest_ws_nats::NatsBackplane;
use grest_ws_redis::RedisBackplane;
use tracing_subscriber::EnvFilter;

/// What the command line asks for.
struct Args {
    addr: SocketAddr,
    backplane: Option<Engine>,
}

/// Where the rooms are shared, with its URL.
enum Engine {
    Redis(String),
    /// Some nodes of a Redis Cluster.
    RedisCluster(Vec<String>),
    Nats(String),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let args = parse_args(std::env::args().skip(1))?;
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let ChatApp { router, sockets, .. } = match &args.backplane {
        Some(Engine::Redis(url)) => {
            let backplane = RedisBackplane::connect(url).await?;
            tracing::info!(%url, "sharing rooms with the other chat servers on this Redis");
            clustered_app(backplane)?
        }
        Some(Engine::RedisCluster(urls)) => {
            let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
            let backplane = RedisBackplane::connect_cluster(&nodes).await?;
            tracing::info!(?urls, "sharing rooms with the other chat servers on this Redis Cluster");
            clustered_app(backplane)?
        }
        Some(Engine::Nats(url)) => {
            let backplane = NatsBackplane::connect(url).await?;
            tracing::info!(%url, "sharing rooms with the other chat servers on this NATS");
            clustered_app(backplane)?
        }
        None => app()?,
    };
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

const USAGE: &str = "usage: chat [--addr HOST:PORT] [--redis redis://HOST:PORT | --redis-cluster \
                     redis://HOST:PORT,... | --nats nats://HOST:PORT]";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut addr = String::from("127.0.0.1:3000");
    let mut backplane = None;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value; {USAGE}"))
        };
        match flag.as_str() {
            "--addr" => addr = value()?,
            "--redis" => backplane = Some(Engine::Redis(value()?)),
            "--redis-cluster" => {
                let urls = value()?.split(',').map(str::to_owned).collect();
                backplane = Some(Engine::RedisCluster(urls));
            }
            "--nats" => backplane = Some(Engine::Nats(value()?)),
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    let addr = addr.parse().map_err(|e| format!("invalid --addr {addr:?}: {e}"))?;
    Ok(Args { addr, backplane })
}
