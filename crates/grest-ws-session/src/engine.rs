//! The per-connection task: one task owns the socket, reads frames, drives in-flight handler futures (bounded),
//! drains the outbound queue and writes replies. No writer task, no spawn per message.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::{GrestError, RouteNotFound, ServerError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::dispatch::{BoxFuture, Call, Dispatch, Envelope, Route, Routes};
use crate::peer::Command;
use crate::{PeerHandle, SessionConfig};

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The peer closed the socket (with its close code, if any).
    PeerClosed(Option<u16>),
    /// This side closed it through a handle.
    Closed,
    /// A message exceeded the size limit (closed with 1009).
    MessageTooBig,
    /// The peer did not read fast enough: a write missed the write deadline.
    SlowConsumer,
    /// A transport error.
    Error(String),
}

/// A session's queue and handle, created before the socket is handed to [`run`] so handlers can hold the
/// handle while the connection is being set up.
pub struct Session {
    handle: PeerHandle,
    commands: mpsc::Receiver<Command>,
    config: SessionConfig,
}

impl Session {
    /// A new session with its handle.
    pub fn new(config: SessionConfig) -> Self {
        let (tx, commands) = mpsc::channel(config.outbound_capacity);
        Session {
            handle: PeerHandle::new(tx, config.request_timeout),
            commands,
            config,
        }
    }

    /// A handle to this session. The session lives until its socket closes or a handle closes it.
    pub fn handle(&self) -> &PeerHandle {
        &self.handle
    }

    /// A handle that owns this session: when it and all its clones are dropped, the session closes
    /// (a client that is dropped without `close()` does not leak its connection).
    pub fn owning_handle(&self) -> PeerHandle {
        self.handle.owning()
    }

    /// Drives the session on `ws` until it ends; inbound `m`/`r` frames go to `dispatch` through `routes`.
    /// When it returns, pending requests have failed and on-close hooks have run.
    pub async fn run<S, D>(self, ws: WebSocketStream<S>, routes: &Routes, dispatch: &D) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
        D: Dispatch + ?Sized,
    {
        let handle = self.handle.clone();
        let end = drive(ws, self.commands, &self.handle, &self.config, routes, dispatch).await;
        handle.finish();
        end
    }
}

async fn drive<S, D>(
    mut ws: WebSocketStream<S>,
    mut commands: mpsc::Receiver<Command>,
    handle: &PeerHandle,
    config: &SessionConfig,
    routes: &Routes,
    dispatch: &D,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    D: Dispatch + ?Sized,
{
    let mut in_flight: FuturesUnordered<InFlight<'_>> = FuturesUnordered::new();
    let mut out = Outbox { ws: &mut ws, config };
    loop {
        tokio::select! {
            biased;
            Some(reply) = in_flight.next(), if !in_flight.is_empty() => {
                // What the handler queued before it returned (pushes, requests) goes out before its reply.
                while let Ok(command) = commands.try_recv() {
                    if let Err(end) = out.execute(command).await {
                        return end;
                    }
                }
                if let Some(text) = reply {
                    if let Err(end) = out.write(Message::text(text)).await {
                        return end;
                    }
                }
            }
            command = commands.recv() => match command {
                Some(command) => {
                    if let Err(end) = out.execute(command).await {
                        return end;
                    }
                }
                // Unreachable while `handle` holds a sender; ending is the only sane answer.
                None => return SessionEnd::Closed,
            },
            inbound = out.ws.next(), if in_flight.len() < config.max_in_flight => {
                let message = match inbound {
                    None => return SessionEnd::PeerClosed(None),
                    Some(Ok(message)) => message,
                    Some(Err(WsError::Capacity(_))) => {
                        tracing::warn!("inbound message over the size limit; closing with 1009");
                        let close = CloseFrame { code: CloseCode::Size, reason: "Message too big".into() };
                        close_socket(out.ws, Some(close), config.write_timeout).await;
                        return SessionEnd::MessageTooBig;
                    }
                    Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => return SessionEnd::PeerClosed(None),
                    Some(Err(e)) => return SessionEnd::Error(e.to_string()),
                };
                let text = match &message {
                    Message::Text(text) => text.as_str(),
                    // A Node peer accepts binary frames carrying the same text (PROTOCOL.md §1.1).
                    Message::Binary(bytes) => match std::str::from_utf8(bytes) {
                        Ok(text) => text,
                        Err(_) => {
                            tracing::debug!("ignored a binary frame that is not UTF-8");
                            continue;
                        }
                    },
                    Message::Close(frame) => {
                        let code = frame.as_ref().map(|f| u16::from(f.code));
                        // tungstenite answers the close; drain until the stream ends.
                        let _ = tokio::time::timeout(config.write_timeout, out.ws.flush()).await;
                        return SessionEnd::PeerClosed(code);
                    }
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                };
                match handle_text(text, handle, routes, dispatch) {
                    Inbound::Nothing => {}
                    Inbound::Reply(reply) => {
                        if let Err(end) = out.write(Message::text(reply)).await {
                            return end;
                        }
                    }
                    Inbound::Started(future) => in_flight.push(future),
                }
            }
        }
    }
}

/// The socket's write side with the write deadline applied.
struct Outbox<'w, S> {
    ws: &'w mut WebSocketStream<S>,
    config: &'w SessionConfig,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Outbox<'_, S> {
    /// Carries out a handle's command; `Err` when the session is over.
    async fn execute(&mut self, command: Command) -> Result<(), SessionEnd> {
        match command {
            Command::Send(text) => self.write(Message::text(text)).await,
            Command::Close(frame) => {
                close_socket(self.ws, frame, self.config.write_timeout).await;
                Err(SessionEnd::Closed)
            }
        }
    }

    async fn write(&mut self, message: Message) -> Result<(), SessionEnd> {
        match tokio::time::timeout(self.config.write_timeout, self.ws.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SessionEnd::Error(e.to_string())),
            Err(_) => {
                tracing::warn!("peer stopped reading: write deadline missed; dropping the connection");
                Err(SessionEnd::SlowConsumer)
            }
        }
    }
}

enum Inbound<'a> {
    Nothing,
    Reply(String),
    Started(InFlight<'a>),
}

fn handle_text<'a, D: Dispatch + ?Sized>(
    text: &str,
    handle: &PeerHandle,
    routes: &Routes,
    dispatch: &'a D,
) -> Inbound<'a> {
    let Some(frame) = Frame::parse(text) else {
        tracing::debug!(len = text.len(), "ignored a malformed frame");
        return Inbound::Nothing;
    };
    match frame.kind {
        FrameKind::Request | FrameKind::Message => {
            let is_request = frame.kind == FrameKind::Request;
            match routes.get(frame.path) {
                Some(route) => {
                    tracing::trace!(path = route.path, id = frame.id, "inbound");
                    start(route, is_request, frame.id, dispatch.call(route.method, frame.data))
                }
                None if is_request => {
                    let error = RouteNotFound::for_path(frame.path).to_wire().to_json();
                    Inbound::Reply(reply_frame(frame.path, frame.id, &error))
                }
                None => {
                    tracing::warn!(path = frame.path, "no handler for message");
                    Inbound::Nothing
                }
            }
        }
        FrameKind::Response => {
            if !handle.resolve(frame.id, frame.data) {
                tracing::debug!(id = frame.id, path = frame.path, "ignored a reply with an unknown id");
            }
            Inbound::Nothing
        }
        FrameKind::Ping => Inbound::Reply(frame::PONG.to_owned()),
        FrameKind::Pong | FrameKind::Handshake | FrameKind::HandshakeOk | FrameKind::HandshakeErr => Inbound::Nothing,
        FrameKind::Unknown => {
            tracing::debug!(kind = frame.type_str, "ignored a frame of unknown type");
            Inbound::Nothing
        }
    }
}

fn start<'a>(route: Route, is_request: bool, id: Option<&str>, call: Call<'a>) -> Inbound<'a> {
    match call {
        Call::Ready(envelope) if is_request => Inbound::Reply(reply_frame(route.path, id, &envelope)),
        Call::Ready(_) => Inbound::Nothing,
        Call::Pending(future) => Inbound::Started(InFlight {
            future,
            route,
            reply_id: is_request.then(|| id.unwrap_or("").to_owned()),
        }),
    }
}

fn reply_frame(path: &str, id: Option<&str>, envelope: &str) -> String {
    frame::frame(
        FrameKind::Response,
        path,
        id.filter(|id| !id.is_empty()),
        Some(envelope),
    )
}

/// One running handler. Resolves to the reply frame (for `r`) or nothing (for `m`). A panic in the handler is
/// caught here and answered with `SERVER_ERROR`; the connection and the server carry on.
struct InFlight<'a> {
    future: BoxFuture<'a, Envelope>,
    route: Route,
    /// `Some(id)` when the peer expects a reply (`r`).
    reply_id: Option<String>,
}

impl Future for InFlight<'_> {
    type Output = Option<String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let envelope = match std::panic::catch_unwind(AssertUnwindSafe(|| this.future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(envelope)) => envelope,
            Err(_) => {
                let error = ServerError::new();
                tracing::error!(path = this.route.path, error_ref = %error.context.reference, "handler panicked");
                Envelope::Owned(error.to_wire().to_json())
            }
        };
        Poll::Ready(
            this.reply_id
                .as_deref()
                .map(|id| reply_frame(this.route.path, Some(id), &envelope)),
        )
    }
}

/// Sends a close frame and waits (bounded) for the peer to finish, so the close frame is not lost to a TCP reset
/// caused by unread inbound bytes.
pub async fn close_socket<S>(ws: &mut WebSocketStream<S>, frame: Option<CloseFrame>, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let finish = async {
        if ws.close(frame).await.is_err() {
            return;
        }
        // A well-behaved peer answers the close and ends the stream.
        loop {
            match ws.next().await {
                Some(Ok(_)) => continue,
                None => return,
                Some(Err(_)) => break,
            }
        }
        // The WebSocket layer gave up (e.g. an oversize message in the buffer): read raw bytes to the end.
        let mut buf = [0u8; 4096];
        while let Ok(n) = ws.get_mut().read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(limit, finish).await;
}
