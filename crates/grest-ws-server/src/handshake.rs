//! The connection pipeline every endpoint shares, typed or raw (docs/protocol.md §2.1), as one value that walks a
//! socket from the upgrade to its session:
//!
//! 1. [`Handshake::start`] finishes the HTTP upgrade;
//! 2. [`Handshake::check_query`] closes with 4000 "Invalid query parameters" when the query fails its contract;
//! 3. [`Handshake::authenticate`] runs the wires, the middleware and the connect permission on the
//!    [`Credentials`] — the in-band `h` (grest clients: waited for within the handshake timeout; a failure is `x` +
//!    close 4001) or the upgrade request alone (foreign clients: close 4001 "Unauthorized", no `x`);
//! 4. the endpoint runs its connect handler; [`Handshake::refuse`] answers a handler that failed;
//! 5. [`Handshake::open`] sends `k` (unless the client speaks no grest handshake) and hands over the socket with
//!    an [`Open`] guard that keeps the endpoint's active-connection gauge right however the session ends.
//!
//! Every outcome is counted in `websocket_connections_total` with the endpoint's labels. A peer that closes or
//! breaks the WebSocket protocol during any step gets its Close frame answered ([`end_before_session`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures_util::FutureExt;
use grest_ws_core::auth::Inbound;
use grest_ws_core::error::INVALID_QUERY;
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::validate::Issues;
use grest_ws_core::{ErrorEnvelope, GrestError, ServerError};
use grest_ws_session::{CloseFrame, LogLimit, Message, WsError, close_socket};
use serde_json::{Map, Value};
use tokio::time::Instant;

use crate::ServerConfig;
use crate::auth::{Authenticated, Pipeline};
use crate::metrics::{EndpointMetrics, Outcome};
use crate::upgrade::{self, ServerSocket};

/// Close code: the handshake query failed validation.
pub const CLOSE_INVALID_QUERY: u16 = 4000;
/// Close code: the in-band handshake failed or timed out.
pub const CLOSE_HANDSHAKE_FAILED: u16 = 4001;

/// Refused connections are logged at info, at most 10 lines a second (a misbehaving client cannot flood the log).
static REFUSED: LogLimit = LogLimit::new(10);

/// Where the wires read a connection's credentials.
pub(crate) enum Credentials {
    /// The headers of the in-band `h` frame, with the upgrade's cookie and query (grest clients).
    InBand {
        /// The upgrade request's `Cookie` header.
        cookie: Option<String>,
        /// The upgrade request's query pairs.
        query: Vec<(String, String)>,
        /// What happens to frames that arrive while the wires run: dropped (raw sockets deliver nothing sent
        /// before `k`), or left unread for the session (typed sockets).
        early_frames: EarlyFrames,
    },
    /// The upgrade request alone (foreign clients, which send no `h`); nothing is read from the socket, so early
    /// client bytes wait in its buffers.
    Upgrade(Inbound),
}

/// What a socket does with frames that arrive between `h` and `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EarlyFrames {
    /// Read and dropped.
    Drop,
    /// Left unread: the session reads them after `k`.
    Keep,
}

/// One connection on its way from the upgrade to its session.
pub(crate) struct Handshake<'e> {
    ws: ServerSocket,
    config: &'e ServerConfig,
    metrics: EndpointMetrics,
}

impl<'e> Handshake<'e> {
    /// Finishes the HTTP upgrade; `None` when the client went away first.
    pub(crate) async fn start(
        upgrade: hyper::upgrade::OnUpgrade,
        config: &'e ServerConfig,
        metrics: EndpointMetrics,
    ) -> Option<Self> {
        let ws = upgrade::into_socket(upgrade, config.session.max_message_size).await?;
        Some(Handshake { ws, config, metrics })
    }

    /// The decoded query, or `None` after closing with 4000 "Invalid query parameters".
    pub(crate) async fn check_query<T>(&mut self, decoded: Result<T, Issues>) -> Option<T> {
        match decoded {
            Ok(query) => Some(query),
            Err(issues) => {
                if let Some(suppressed) = REFUSED.admit() {
                    tracing::info!(
                        issues = issues.len(),
                        suppressed,
                        "WebSocket refused: invalid query (4000)"
                    );
                }
                self.metrics.connection(Outcome::QueryInvalid);
                let frame = CloseFrame::new(CLOSE_INVALID_QUERY, INVALID_QUERY);
                close_socket(&mut self.ws, Some(frame), self.config.rejection_grace).await;
                None
            }
        }
    }

    /// Runs `pipeline` on the connection's credentials; `None` after refusing it (or when the client went away).
    pub(crate) async fn authenticate(
        &mut self,
        pipeline: &Pipeline,
        credentials: Credentials,
    ) -> Option<Authenticated> {
        // Boxed: the waiting, the wires and the frames dropped meanwhile would otherwise add their state to every
        // connection's task for its whole life.
        Box::pin(self.authenticate_inline(pipeline, credentials)).await
    }

    async fn authenticate_inline(&mut self, pipeline: &Pipeline, credentials: Credentials) -> Option<Authenticated> {
        let config = self.config;
        let (cookie, query, early_frames) = match credentials {
            Credentials::Upgrade(inbound) => {
                return match pipeline.run(inbound).await {
                    Ok(authenticated) => Some(authenticated),
                    Err(error) => {
                        if let Some(suppressed) = REFUSED.admit() {
                            let error_type = &error.error_type;
                            tracing::info!(%error_type, suppressed, "WebSocket refused: upgrade credentials (4001)");
                        }
                        self.metrics.connection(Outcome::HandshakeFailed);
                        let frame = CloseFrame::new(CLOSE_HANDSHAKE_FAILED, "Unauthorized");
                        close_socket(&mut self.ws, Some(frame), config.rejection_grace).await;
                        None
                    }
                };
            }
            Credentials::InBand {
                cookie,
                query,
                early_frames,
            } => (cookie, query, early_frames),
        };
        let headers = match wait_for_handshake(&mut self.ws, config).await {
            Ok(headers) => headers,
            Err(HandshakeWait::TimedOut) => {
                let error = ServerError::with_display_message("Handshake timeout");
                if let Some(suppressed) = REFUSED.admit() {
                    let error_ref = &error.context.reference;
                    tracing::info!(%error_ref, suppressed, "WebSocket refused: no handshake in time");
                }
                self.refuse_with(Outcome::HandshakeFailed, &error.to_envelope()).await;
                return None;
            }
            Err(HandshakeWait::Gone) => return None,
        };
        let run = pipeline.run(Inbound { headers, cookie, query });
        let result = match early_frames {
            EarlyFrames::Keep => run.await,
            EarlyFrames::Drop => discard_while(&mut self.ws, run, config.rejection_grace).await?,
        };
        match result {
            Ok(authenticated) => Some(authenticated),
            Err(error) => {
                if let Some(suppressed) = REFUSED.admit() {
                    let (error_type, error_ref) = (&error.error_type, &error.context.reference);
                    tracing::info!(%error_type, %error_ref, suppressed, "WebSocket refused: handshake rejected");
                }
                self.refuse_with(Outcome::HandshakeFailed, &error).await;
                None
            }
        }
    }

    /// Refuses an authenticated connection whose connect handler failed or refused it: `x` with `error`, then
    /// close 4001. Logged like a rejected handshake, the server's own failures (status 500 and above) at warn.
    pub(crate) async fn refuse(mut self, error: &ErrorEnvelope) {
        let (error_type, error_ref) = (&error.error_type, &error.context.reference);
        let outcome = if error.status_code >= 500 {
            if let Some(suppressed) = REFUSED.admit() {
                tracing::warn!(%error_type, %error_ref, suppressed, "WebSocket refused: connect handler failed");
            }
            Outcome::Error
        } else {
            if let Some(suppressed) = REFUSED.admit() {
                tracing::info!(%error_type, %error_ref, suppressed, "WebSocket refused by the connect handler");
            }
            Outcome::HandshakeFailed
        };
        self.refuse_with(outcome, error).await;
    }

    async fn refuse_with(&mut self, outcome: Outcome, error: &ErrorEnvelope) {
        self.metrics.connection(outcome);
        let text = frame::frame(FrameKind::HandshakeErr, "", None, Some(&error.to_json()));
        let config = self.config;
        let _ = tokio::time::timeout(config.session.write_timeout, self.ws.send(&Message::text(text))).await;
        let frame = CloseFrame::new(CLOSE_HANDSHAKE_FAILED, "Handshake failed");
        close_socket(&mut self.ws, Some(frame), config.rejection_grace).await;
    }

    /// The connection is open: sends `k` when `send_k` (clients that speak the grest handshake) and hands over the
    /// socket. A failed write of `k` is left to the session, which ends at its first read.
    pub(crate) async fn open(mut self, send_k: bool) -> (ServerSocket, Open) {
        // Counted first, so a client that has read `k` finds its connection counted.
        self.metrics.connection(Outcome::Ok);
        self.metrics.active(1.0);
        let open = Open(self.metrics);
        if send_k {
            if let Err(error) = self.ws.send(&Message::text(frame::HANDSHAKE_OK)).await {
                tracing::debug!(%error, "could not send k");
            }
        }
        tracing::info!("WebSocket connected");
        (self.ws, open)
    }
}

/// An open connection's place in its endpoint's `websocket_connections_active` gauge, given back when dropped
/// (also when the connection's task is cancelled).
pub(crate) struct Open(EndpointMetrics);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.active(-1.0);
    }
}

enum HandshakeWait {
    TimedOut,
    /// The peer closed, broke the protocol (already answered with a Close frame) or went away.
    Gone,
}

/// Waits for the first `h` frame; anything else before it is ignored (docs/protocol.md §2.1 step 3).
async fn wait_for_handshake(
    ws: &mut ServerSocket,
    config: &ServerConfig,
) -> Result<BTreeMap<String, String>, HandshakeWait> {
    let deadline = Instant::now() + config.handshake_timeout;
    loop {
        let message = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(HandshakeWait::TimedOut),
            Ok(None) => return Err(HandshakeWait::Gone),
            Ok(Some(Err(error))) => {
                end_before_session(ws, Some(&error), config.rejection_grace).await;
                return Err(HandshakeWait::Gone);
            }
            Ok(Some(Ok(message))) => message,
        };
        let text = match &message {
            Message::Text(text) => text.as_str(),
            Message::Binary(bytes) => std::str::from_utf8(bytes).unwrap_or(""),
            Message::Close(_) => {
                end_before_session(ws, None, config.rejection_grace).await;
                return Err(HandshakeWait::Gone);
            }
            _ => continue,
        };
        match Frame::parse(text) {
            Some(frame) if frame.kind == FrameKind::Handshake => {
                // The original uses `data || {}` and does not check value types; non-string values are kept as
                // their JSON text.
                let headers = frame
                    .data
                    .and_then(|data| serde_json::from_str::<Map<String, Value>>(data).ok())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    })
                    .collect();
                return Ok(headers);
            }
            _ => tracing::debug!("ignored a frame before the handshake"),
        }
    }
}

/// Runs `work` (the wires) while dropping whatever the client sends meanwhile: nothing sent before `k` reaches a
/// raw socket's application (docs/protocol.md §2.1). Frames already buffered when `work` finishes are dropped too.
/// `None` when the client went away.
async fn discard_while<T>(ws: &mut ServerSocket, work: impl Future<Output = T>, grace: Duration) -> Option<T> {
    tokio::pin!(work);
    let result = loop {
        tokio::select! {
            result = &mut work => break result,
            next = ws.next() => if !discard(ws, next, grace).await {
                return None;
            },
        }
    };
    while let Some(next) = ws.next().now_or_never() {
        if !discard(ws, next, grace).await {
            return None;
        }
    }
    Some(result)
}

/// Drops a frame read before `k` (`true`: the connection carries on). A close, the end of the stream or a protocol
/// error ends the connection instead, answered as [`end_before_session`] does (`false`).
async fn discard(ws: &mut ServerSocket, next: Option<Result<Message, WsError>>, grace: Duration) -> bool {
    match next {
        Some(Ok(Message::Close(_))) | None => end_before_session(ws, None, grace).await,
        Some(Err(error)) => end_before_session(ws, Some(&error), grace).await,
        Some(Ok(_)) => {
            tracing::debug!("dropped a frame sent before the handshake completed");
            return true;
        }
    }
    false
}

/// Ends a connection whose peer closed or broke the WebSocket protocol before its session started: a broken frame
/// is answered with its Close frame (1002/1007/1009), the answer to a peer's Close (queued as it was read) goes out —
/// each within `grace` — and the socket is dropped.
async fn end_before_session(ws: &mut ServerSocket, error: Option<&WsError>, grace: Duration) {
    if let Some(frame) = error.and_then(WsError::close_frame) {
        tracing::debug!(code = frame.code, "WebSocket protocol error before the session started");
        let _ = ws.queue_close(Some(&frame));
    }
    let _ = tokio::time::timeout(grace, ws.drain()).await;
}
