//! The chat server: the chat page, its typed WebSocket API and the API's AsyncAPI document (`/asyncapi.json`),
//! `/api/presence` and `/metrics` on one port. Run
//! `cargo run --release -p chat -- --help` for the options: the address, a backplane to share rooms with other chat
//! servers (Redis, a Redis Cluster or NATS), and a certificate to serve HTTPS and `wss://` directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use chat::{ChatApp, app, clustered_app};
use clap::Parser;
use grest_ws::server::TlsIdentity;
use grest_ws_nats::NatsBackplane;
use grest_ws_redis::RedisBackplane;
use tracing_subscriber::EnvFilter;

const EXAMPLES: &str = "\
Examples:
  chat                                             one server on http://127.0.0.1:3000/
  chat --addr 0.0.0.0:8080                         listen on every interface, port 8080
  chat --addr 127.0.0.1:3001 --redis redis://127.0.0.1:6379
                                                   one of several servers sharing rooms through Redis
  chat --tls-cert cert.pem --tls-key key.pem       serve https:// and wss:// with this certificate";

/// The grest-ws chat example: a chat page, a typed WebSocket API (`/ws/chat`) described at `/asyncapi.json`,
/// presence and metrics on one port.
#[derive(Parser)]
#[command(version, after_help = EXAMPLES)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "HOST:PORT")]
    addr: SocketAddr,
    /// Share rooms with the other chat servers on this Redis.
    #[arg(long, value_name = "URL", group = "backplane")]
    redis: Option<String>,
    /// Share rooms with the other chat servers on this Redis Cluster (some of its nodes, comma-separated).
    #[arg(long, value_name = "URL,...", value_delimiter = ',', group = "backplane")]
    redis_cluster: Option<Vec<String>>,
    /// Share rooms with the other chat servers on this NATS.
    #[arg(long, value_name = "URL", group = "backplane")]
    nats: Option<String>,
    /// Serve https:// and wss:// with this certificate chain (PEM, leaf first).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    chat::exit_with(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<(), String> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsIdentity::from_pem_files(cert, key).map_err(|e| e.to_string())?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| listen_error(args.addr, &e))?;
    let ChatApp { router, sockets, .. } = build(&args).await?;
    let (http, ws) = if tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let addr = args.addr;
    tracing::info!("chat page at {http}://{addr}/ (WebSocket API at {ws}://{addr}/ws/chat); Ctrl-C stops");
    let mut server = grest_ws::server::serve(listener, router).with_graceful_shutdown(async move {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: draining sockets");
        // In-flight requests finish, then every socket closes with 1001 and clients reconnect elsewhere.
        sockets.shutdown(std::time::Duration::from_secs(5)).await;
    });
    if let Some(identity) = tls {
        server = server.tls(identity);
    }
    server.await.map_err(|e| format!("the server stopped: {e}"))
}

/// The application, on the backplane the arguments name, if any.
async fn build(args: &Args) -> Result<ChatApp, String> {
    let built = if let Some(url) = &args.redis {
        let backplane = RedisBackplane::connect(url)
            .await
            .map_err(|e| format!("cannot reach Redis at {url}: {e}"))?;
        tracing::info!(%url, "sharing rooms with the other chat servers on this Redis");
        clustered_app(backplane)
    } else if let Some(urls) = &args.redis_cluster {
        let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
        let backplane = RedisBackplane::connect_cluster(&nodes)
            .await
            .map_err(|e| format!("cannot reach the Redis Cluster at {}: {e}", urls.join(", ")))?;
        tracing::info!(?urls, "sharing rooms with the other chat servers on this Redis Cluster");
        clustered_app(backplane)
    } else if let Some(url) = &args.nats {
        let backplane = NatsBackplane::connect(url)
            .await
            .map_err(|e| format!("cannot reach NATS at {url}: {e}"))?;
        tracing::info!(%url, "sharing rooms with the other chat servers on this NATS");
        clustered_app(backplane)
    } else {
        app()
    };
    built.map_err(|e| e.to_string())
}

/// Why the server cannot listen on `addr`, with what to do about it.
fn listen_error(addr: SocketAddr, error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {addr}: the address is already in use (is another chat server running? choose \
             another port with --addr)"
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("cannot listen on {addr}: permission denied (ports below 1024 need privileges; try --addr)")
        }
        _ => format!("cannot listen on {addr}: {error}"),
    }
}
