//! One typed endpoint and its connection pipeline: upgrade → query validation (close 4000) → in-band handshake
//! (`h` within the timeout, else `x` + close 4001) → the application's connect handler (handlers exist before
//! `k`) → `k:::null` → the session.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use futures_util::{FutureExt, SinkExt, StreamExt};
use grest_ws_core::error::INVALID_QUERY;
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::{Direction, GrestError, ServerError, WireError};
use grest_ws_session::{Call, Dispatch, DuplexContract, Routes, ServeWith, Session, close_socket};
use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::ServerConfig;
use crate::upgrade::{self, ServerSocket};

/// Close code: the handshake query failed validation.
pub const CLOSE_INVALID_QUERY: u16 = 4000;
/// Close code: the in-band handshake failed or timed out.
pub const CLOSE_HANDSHAKE_FAILED: u16 = 4001;

/// What the connect handler of a typed endpoint receives.
#[non_exhaustive]
pub struct Connected<C: DuplexContract> {
    /// The typed handle to this client: server-to-client messages and requests, close, on-close hooks.
    pub peer: C::Peer,
    /// The validated handshake query.
    pub query: C::Query,
    /// Facts about the connection.
    pub info: ConnectionInfo,
}

/// Facts about one connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The endpoint path, with its leading `/`.
    pub path: String,
    /// The peer's address, when the router is served with `into_make_service_with_connect_info::<SocketAddr>()`.
    pub remote_addr: Option<SocketAddr>,
    /// The handshake headers the client sent in its `h` frame (lower-case names).
    pub handshake_headers: Map<String, Value>,
}

/// A registered endpoint, type-erased so endpoints of different contracts live in one list.
pub(crate) trait Endpoint: Send + Sync + 'static {
    fn path(&self) -> &str;
    fn handle(self: Arc<Self>, request: Request) -> Response;
}

pub(crate) struct TypedEndpoint<C, S, F> {
    pub(crate) path: String,
    pub(crate) routes: Routes,
    pub(crate) on_connect: F,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) contract: PhantomData<fn() -> (C, S)>,
}

impl<C, S, F, Fut> TypedEndpoint<C, S, F>
where
    C: ServeWith<S>,
    S: Send + Sync + 'static,
    F: Fn(Connected<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = S> + Send + 'static,
{
    pub(crate) fn new(path: String, on_connect: F, config: Arc<ServerConfig>) -> Self {
        TypedEndpoint {
            path,
            routes: Routes::new(C::META, Direction::ClientToServer),
            on_connect,
            config,
            contract: PhantomData,
        }
    }

    async fn run(
        self: Arc<Self>,
        upgrade: hyper::upgrade::OnUpgrade,
        query: Vec<(String, String)>,
        remote_addr: Option<SocketAddr>,
    ) {
        let config = &self.config;
        let Some(mut ws) = upgrade::into_socket(upgrade, config.session.websocket_config()).await else {
            return;
        };
        let query = match C::decode_query(query) {
            Ok(query) => query,
            Err(issues) => {
                tracing::debug!(path = %self.path, ?issues, "handshake query failed validation");
                let frame = close_frame(CLOSE_INVALID_QUERY, INVALID_QUERY);
                close_socket(&mut ws, Some(frame), config.session.write_timeout).await;
                return;
            }
        };
        let handshake_headers = match wait_for_handshake(&mut ws, config).await {
            Ok(headers) => headers,
            Err(HandshakeWait::TimedOut) => {
                let error = ServerError::with_display_message("Handshake timeout");
                tracing::debug!(path = %self.path, error_ref = %error.context.reference, "no handshake in time");
                reject(&mut ws, &error.to_wire(), config).await;
                return;
            }
            Err(HandshakeWait::Gone) => return,
        };
        let session = Session::new(config.session.clone());
        let connected = Connected {
            peer: C::Peer::from(session.handle().clone()),
            query,
            info: ConnectionInfo {
                path: self.path.clone(),
                remote_addr,
                handshake_headers,
            },
        };
        let handler = match AssertUnwindSafe((self.on_connect)(connected)).catch_unwind().await {
            Ok(handler) => handler,
            Err(_) => {
                let error = ServerError::new();
                tracing::error!(path = %self.path, error_ref = %error.context.reference, "connect handler panicked");
                reject(&mut ws, &error.to_wire(), config).await;
                return;
            }
        };
        if ws.send(Message::text(frame::HANDSHAKE_OK)).await.is_err() {
            return;
        }
        tracing::debug!(path = %self.path, ?remote_addr, "connection open");
        let dispatch = ServerDispatch::<C, S> {
            handler,
            contract: PhantomData,
        };
        let end = session.run(ws, &self.routes, &dispatch).await;
        tracing::debug!(path = %self.path, ?end, "connection closed");
    }
}

impl<C, S, F, Fut> Endpoint for TypedEndpoint<C, S, F>
where
    C: ServeWith<S>,
    S: Send + Sync + 'static,
    F: Fn(Connected<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = S> + Send + 'static,
{
    fn path(&self) -> &str {
        &self.path
    }

    fn handle(self: Arc<Self>, mut request: Request) -> Response {
        let accepted = match upgrade::accept(&mut request) {
            Ok(accepted) => accepted,
            Err(response) => return response,
        };
        let query = request
            .uri()
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let remote_addr = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
        tokio::spawn(self.run(accepted.upgrade, query, remote_addr));
        accepted.response
    }
}

/// Routes client-to-server messages of contract `C` to one connection's handler.
struct ServerDispatch<C, S> {
    handler: S,
    contract: PhantomData<fn() -> C>,
}

impl<C: ServeWith<S>, S: Send + Sync> Dispatch for ServerDispatch<C, S> {
    fn call(&self, method: usize, data: Option<&str>) -> Call<'_> {
        C::call(&self.handler, method, data)
    }
}

enum HandshakeWait {
    TimedOut,
    Gone,
}

/// Waits for the first `h` frame; anything else before it is ignored (PROTOCOL.md §2.1 step 6).
async fn wait_for_handshake(ws: &mut ServerSocket, config: &ServerConfig) -> Result<Map<String, Value>, HandshakeWait> {
    let deadline = Instant::now() + config.handshake_timeout;
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(HandshakeWait::TimedOut),
            Ok(None | Some(Err(_))) => return Err(HandshakeWait::Gone),
            Ok(Some(Ok(message))) => message,
        };
        let text = match &message {
            Message::Text(text) => text.as_str(),
            Message::Binary(bytes) => std::str::from_utf8(bytes).unwrap_or(""),
            Message::Close(_) => return Err(HandshakeWait::Gone),
            _ => continue,
        };
        match Frame::parse(text) {
            Some(frame) if frame.kind == FrameKind::Handshake => {
                let headers = frame
                    .data
                    .and_then(|data| serde_json::from_str::<Map<String, Value>>(data).ok())
                    .unwrap_or_default();
                return Ok(headers);
            }
            _ => tracing::debug!("ignored a frame before the handshake"),
        }
    }
}

/// Rejects the handshake: `x` frame with the error envelope, then close 4001 "Handshake failed".
async fn reject(ws: &mut ServerSocket, error: &WireError, config: &ServerConfig) {
    let text = frame::frame(FrameKind::HandshakeErr, "", None, Some(&error.to_json()));
    let _ = tokio::time::timeout(config.session.write_timeout, ws.send(Message::text(text))).await;
    close_socket(
        ws,
        Some(close_frame(CLOSE_HANDSHAKE_FAILED, "Handshake failed")),
        config.session.write_timeout,
    )
    .await;
}

fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    }
}
