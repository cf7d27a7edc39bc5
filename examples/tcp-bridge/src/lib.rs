//! A byte-stream bridge from WebSocket clients to TCP services on this host: a customClient raw socket on the
//! wildcard path `/tcp/*`. A foreign client (websocat, a browser terminal, any WebSocket library) opens
//! `ws://HOST/tcp/<port>?token=<token>`; the bridge connects it to `127.0.0.1:<port>` when that port is allowed.
//! Every frame the client sends (binary or text) goes to the service as bytes; everything the service writes comes
//! back as binary frames. Either side closing closes the other.
//!
//! The token travels in the query (a query-credential wire), because a foreign client cannot speak grest's in-band
//! handshake; the server would refuse to build with a header wire here.
//!
//! The example also serves `/echo` ([`echo_router`]): every message comes back as it came, text as text and binary as
//! binary — the endpoint standard WebSocket conformance suites (Autobahn's `fuzzingclient`) expect, so they can test
//! this stack's WebSocket implementation (see RELIABILITY.md).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use grest_ws::SessionConfig;
use grest_ws::server::{BuildError, GrestWs, RawConnected, WireHandler};
use grest_ws::{CloseFrame, ErrorEnvelope, NotAuthorized, RawContract, RawSchema, Wire};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The bridge: foreign clients, upgrade-only authentication, the `binary` subprotocol when offered.
pub struct TcpBridge;

impl RawContract for TcpBridge {
    const NAME: &'static str = "TcpBridge";
    const CUSTOM_CLIENT: bool = true;
    const PROTOCOLS: &'static [&'static str] = &["binary"];
    type Query = ();
}

/// The access token, in the `token` query parameter.
pub const BRIDGE_TOKEN: Wire = Wire::query("bridge-token", "token");

/// `/tcp` and everything under `/tcp/`; the handler reads the target port from the concrete path.
pub const TCP_API: RawSchema<TcpBridge> = RawSchema::new("tcp/*").uses(&[BRIDGE_TOKEN]);

/// Close code: the path names no allowed port.
pub const CLOSE_UNKNOWN_TARGET: u16 = 4404;
/// Close code: the service refused the TCP connection.
pub const CLOSE_UPSTREAM_UNAVAILABLE: u16 = 4502;

/// What the bridge lets through.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// The token clients must present.
    pub token: String,
    /// The loopback ports clients may reach.
    pub allowed_ports: Vec<u16>,
}

/// Who passed the token check (the principal of a bridged connection).
#[derive(Debug, Clone)]
pub struct Bridged;

struct TokenCheck {
    token: String,
}

impl WireHandler for TokenCheck {
    type Principal = Bridged;

    async fn process(&self, token: Option<&str>) -> Result<Bridged, ErrorEnvelope> {
        match token {
            Some(token) if token == self.token => Ok(Bridged),
            _ => Err(NotAuthorized::with_display_message("Invalid bridge token").into()),
        }
    }
}

/// The bridge's router, to serve or merge into an application's.
pub fn router(config: BridgeConfig) -> Result<Router, BuildError> {
    let allowed: Arc<[u16]> = config.allowed_ports.into();
    GrestWs::new()
        .bind(BRIDGE_TOKEN, TokenCheck { token: config.token })
        .raw(TCP_API, move |conn: RawConnected<TcpBridge>| {
            bridge(conn, allowed.clone())
        })
        .build()
}

fn close_frame(code: u16, reason: &'static str) -> Option<CloseFrame> {
    Some(CloseFrame::new(code, reason))
}

/// One bridged connection: socket → service on this task, service → socket on another.
async fn bridge(conn: RawConnected<TcpBridge>, allowed: Arc<[u16]>) {
    let RawConnected {
        mut socket, upgrade, ..
    } = conn;
    let port = upgrade
        .path
        .strip_prefix("/tcp/")
        .and_then(|port| port.parse::<u16>().ok())
        .filter(|port| allowed.contains(port));
    let Some(port) = port else {
        tracing::debug!(path = %upgrade.path, "no allowed port in the path");
        socket.close_with(close_frame(CLOSE_UNKNOWN_TARGET, "Unknown target"));
        return;
    };
    let upstream = match TcpStream::connect(("127.0.0.1", port)).await {
        Ok(upstream) => upstream,
        Err(error) => {
            tracing::warn!(port, %error, "service unavailable");
            socket.close_with(close_frame(CLOSE_UPSTREAM_UNAVAILABLE, "Upstream unavailable"));
            return;
        }
    };
    tracing::info!(port, peer = ?upgrade.remote_address, "bridging");
    let (mut from_service, mut to_service) = upstream.into_split();
    let sender = socket.sender();
    let downstream = tokio::spawn(async move {
        let mut buffer = vec![0u8; 8 * 1024];
        while let Ok(n @ 1..) = from_service.read(&mut buffer).await {
            if sender.send(buffer[..n].to_vec()).await.is_err() {
                return;
            }
        }
        // The service closed its side (or failed): so does the socket.
        sender.close();
    });
    while let Some(frame) = socket.recv().await {
        if to_service.write_all(frame.as_bytes()).await.is_err() {
            break;
        }
    }
    // The client is gone (or the service stopped reading): drop both directions of the TCP connection.
    downstream.abort();
    socket.close();
    tracing::info!(port, "bridge closed");
}

/// The echo socket: a foreign client with no credentials and no handshake (it only echoes).
pub struct EchoSocket;

impl RawContract for EchoSocket {
    const NAME: &'static str = "Echo";
    const CUSTOM_CLIENT: bool = true;
    type Query = ();
}

/// `/echo`.
pub const ECHO_API: RawSchema<EchoSocket> = RawSchema::new("echo");

/// The largest message `/echo` takes: conformance suites send messages of up to 16 MiB.
pub const ECHO_MAX_MESSAGE: usize = 16 << 20;

/// A router serving `/echo`: each message is sent back unchanged (text as text, binary as binary), in order.
pub fn echo_router() -> Result<Router, BuildError> {
    let session = SessionConfig::default()
        .max_message_size(ECHO_MAX_MESSAGE)
        .outbound_budget(2 * ECHO_MAX_MESSAGE);
    GrestWs::new()
        .endpoint_session(ECHO_API, session)
        .raw(ECHO_API, |conn: RawConnected<EchoSocket>| async move {
            let mut socket = conn.socket;
            while let Some(message) = socket.recv().await {
                // Waits while the client reads slowly, so a large echo cannot outgrow the outbound budget.
                if socket.send(message).await.is_err() {
                    return;
                }
            }
        })
        .build()
}

/// A TCP echo service on an ephemeral loopback port, to try the bridge without a service of your own.
pub async fn spawn_echo_service() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut reader, mut writer) = tcp.split();
                let _ = tokio::io::copy(&mut reader, &mut writer).await;
            });
        }
    });
    Ok(addr)
}
