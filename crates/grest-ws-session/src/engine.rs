//! The per-connection task: one task owns the socket, reads frames, drives in-flight handler futures (bounded),
//! drains the outbound queue and writes replies. No writer task, no spawn per message.

use std::collections::VecDeque;
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

use crate::dispatch::{BoxFuture, Call, Dispatch, Envelope, Route};
use crate::observe::{MessageContext, envelope_result, poll_in_context};
use crate::peer::{Command, Link, LogMode};
use crate::{Heartbeat, PeerHandle, SessionConfig};
use std::sync::Arc;
use tokio::time::Instant;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The peer closed the socket (with its close code, if any).
    PeerClosed(Option<u16>),
    /// This side closed it through a handle.
    Closed,
    /// This side drained in-flight handlers and closed (server shutdown, 1001).
    Drained,
    /// Nothing arrived within the heartbeat deadline; the TCP connection was dropped at once.
    HeartbeatTimeout,
    /// A message exceeded the size limit (closed with 1009).
    MessageTooBig,
    /// The peer did not read fast enough: a write missed the write deadline.
    SlowConsumer,
    /// A transport error.
    Error(String),
}

/// One socket's session: its queue and link, attached to a handle before the socket is handed to
/// [`Session::run`], so handlers can hold the handle while the connection is being set up.
pub struct Session {
    handle: PeerHandle,
    link: Arc<Link>,
    commands: mpsc::Receiver<Command>,
    config: SessionConfig,
}

impl Session {
    /// A new handle with this socket's session attached.
    pub fn new(config: SessionConfig) -> Self {
        let handle = PeerHandle::new(config.request_timeout);
        Session::resume(&handle, config)
    }

    /// A new socket's session for an existing handle (a reconnect): the handle's typed wrappers keep working,
    /// request ids start again at 1.
    pub fn resume(handle: &PeerHandle, config: SessionConfig) -> Self {
        let (tx, commands) = mpsc::channel(config.outbound_capacity);
        let link = Arc::new(Link::new(tx));
        handle.attach(link.clone());
        Session {
            handle: handle.clone(),
            link,
            commands,
            config,
        }
    }

    /// The handle this session is attached to.
    pub fn handle(&self) -> &PeerHandle {
        &self.handle
    }

    /// Drives the session on `ws` until the socket ends; inbound `m`/`r` frames go to `dispatch`. When it returns, this socket's outstanding requests have failed. The handle lives on: call
    /// [`PeerHandle::finish`] to end it, or [`Session::resume`] it on a new socket.
    pub async fn run<S, D>(self, ws: WebSocketStream<S>, dispatch: &D) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
        D: Dispatch + ?Sized,
    {
        let observer = self.handle.observer().cloned();
        let end = drive(ws, self.commands, &self.handle, &self.link, &self.config, dispatch).await;
        self.handle.detach(&self.link);
        if let Some(observer) = observer {
            observer.ended(&end);
        }
        end
    }
}

/// When the heartbeat next needs attention.
struct Liveness {
    heartbeat: Option<Heartbeat>,
    last_inbound: Instant,
    ping_at: Instant,
    drain: Option<(Instant, CloseFrame)>,
}

impl Liveness {
    fn new(heartbeat: Option<Heartbeat>) -> Self {
        let now = Instant::now();
        Liveness {
            ping_at: now + heartbeat.map_or(Duration::ZERO, |h| h.interval),
            heartbeat,
            last_inbound: now,
            drain: None,
        }
    }

    fn dead_at(&self) -> Option<Instant> {
        self.heartbeat.map(|h| self.last_inbound + h.interval + h.timeout)
    }

    /// The next instant the timer must fire, if any.
    fn next_deadline(&self) -> Option<Instant> {
        [
            self.heartbeat.map(|_| self.ping_at),
            self.dead_at(),
            self.drain.as_ref().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

async fn drive<S, D>(
    mut ws: WebSocketStream<S>,
    mut commands: mpsc::Receiver<Command>,
    handle: &PeerHandle,
    link: &Link,
    config: &SessionConfig,
    dispatch: &D,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    D: Dispatch + ?Sized,
{
    let mut in_flight: FuturesUnordered<InFlight<'_>> = FuturesUnordered::new();
    let mut deferred = Deferred::default();
    let mut out = Outbox {
        ws: &mut ws,
        config,
        dirty: false,
    };
    let mut liveness = Liveness::new(config.heartbeat);
    let far = || Instant::now() + Duration::from_secs(86_400 * 365);
    let timer = tokio::time::sleep_until(liveness.next_deadline().unwrap_or_else(far));
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            Some(finished) = in_flight.next(), if !in_flight.is_empty() => {
                if let Err(end) = out.complete(finished, &mut commands, &mut liveness, handle, in_flight.is_empty()).await {
                    return end;
                }
                while in_flight.len() < config.max_in_flight {
                    let Some(message) = deferred.pop() else { break };
                    let Some(text) = frame_text(&message) else { continue };
                    let inbound = handle_text(text, handle, link, dispatch);
                    if let Err(end) = deliver(inbound, &mut out, &mut commands, &mut liveness, handle, &mut in_flight).await {
                        return end;
                    }
                }
            }
            command = commands.recv() => match command {
                Some(command) => {
                    if let Some(observer) = handle.observer() {
                        observer.queue_depth(commands.len());
                    }
                    if let Err(end) = out.execute(command, &mut liveness, in_flight.is_empty()).await {
                        return end;
                    }
                    timer.as_mut().reset(liveness.next_deadline().unwrap_or_else(far));
                }
                // Unreachable while the link holds a sender; ending is the only sane answer.
                None => return SessionEnd::Closed,
            },
            () = &mut timer => {
                let now = Instant::now();
                if let Some((at, frame)) = liveness.drain.take() {
                    if now >= at {
                        close_socket(out.ws, Some(frame), config.write_timeout).await;
                        return SessionEnd::Drained;
                    }
                    liveness.drain = Some((at, frame));
                }
                if liveness.dead_at().is_some_and(|dead| now >= dead) {
                    tracing::warn!("no inbound traffic within the heartbeat deadline; dropping the connection");
                    return SessionEnd::HeartbeatTimeout;
                }
                if let Some(heartbeat) = liveness.heartbeat {
                    if now >= liveness.ping_at {
                        if let Err(end) = out.write(Message::Ping(Default::default())).await {
                            return end;
                        }
                        liveness.ping_at = now + heartbeat.interval;
                    }
                }
                timer.as_mut().reset(liveness.next_deadline().unwrap_or_else(far));
            }
            inbound = out.ws.next(), if in_flight.len() < config.max_in_flight || deferred.bytes < config.max_message_size => {
                if liveness.heartbeat.is_some() {
                    liveness.last_inbound = Instant::now();
                }
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
                    // A Node peer accepts binary frames carrying the same text (PROTOCOL.md §1.1).
                    Message::Text(_) | Message::Binary(_) => match frame_text(&message) {
                        Some(text) => text,
                        None => {
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
                // At the in-flight limit, requests and messages wait (bounded by size) while replies, pings and
                // pongs are still read: a handler awaiting its peer's reply must not deadlock a full connection.
                if in_flight.len() >= config.max_in_flight && is_call(text) {
                    deferred.push(message);
                    continue;
                }
                let inbound = handle_text(text, handle, link, dispatch);
                if let Err(end) = deliver(inbound, &mut out, &mut commands, &mut liveness, handle, &mut in_flight).await {
                    return end;
                }
            }
            // Last in the biased order: only when nothing else is ready.
            () = std::future::ready(()), if out.dirty => {
                if let Err(end) = out.flush().await {
                    return end;
                }
            }
        }
    }
}

/// Requests and messages read while the in-flight limit is reached, bounded by their total size (one maximum
/// message's worth), after which the session stops reading.
#[derive(Default)]
struct Deferred {
    frames: VecDeque<Message>,
    bytes: usize,
}

impl Deferred {
    fn push(&mut self, message: Message) {
        self.bytes += message.len();
        self.frames.push_back(message);
    }

    fn pop(&mut self) -> Option<Message> {
        let message = self.frames.pop_front()?;
        self.bytes -= message.len();
        Some(message)
    }
}

/// Whether a frame starts a handler (`r` or `m`).
fn is_call(text: &str) -> bool {
    text.starts_with("r:") || text.starts_with("m:")
}

/// The text of a frame that was accepted for processing (text, or binary carrying UTF-8).
fn frame_text(message: &Message) -> Option<&str> {
    match message {
        Message::Text(text) => Some(text.as_str()),
        Message::Binary(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// Acts on an inbound frame: sends its immediate reply, or starts its handler — polled once right away, so a
/// handler that does not await finishes here without ever entering the in-flight set.
async fn deliver<'a, S: AsyncRead + AsyncWrite + Unpin>(
    inbound: Inbound<'a>,
    out: &mut Outbox<'_, S>,
    commands: &mut mpsc::Receiver<Command>,
    liveness: &mut Liveness,
    handle: &PeerHandle,
    in_flight: &mut FuturesUnordered<InFlight<'a>>,
) -> Result<(), SessionEnd> {
    match inbound {
        Inbound::Nothing => Ok(()),
        Inbound::Reply(reply) => out.write(Message::text(reply)).await,
        Inbound::Started(mut future) => match poll_once(&mut future).await {
            Poll::Ready(finished) => {
                out.complete(finished, commands, liveness, handle, in_flight.is_empty())
                    .await
            }
            Poll::Pending => {
                in_flight.push(future);
                Ok(())
            }
        },
    }
}

/// The socket's write side with the write deadline applied.
struct Outbox<'w, S> {
    ws: &'w mut WebSocketStream<S>,
    config: &'w SessionConfig,
    /// Frames were queued since the last flush.
    dirty: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Outbox<'_, S> {
    /// A handler finished: report it, send what it queued before returning (pushes, requests go out before its
    /// reply), then its reply; close if a drain was waiting for the last handler.
    async fn complete(
        &mut self,
        finished: Finished,
        commands: &mut mpsc::Receiver<Command>,
        liveness: &mut Liveness,
        handle: &PeerHandle,
        idle: bool,
    ) -> Result<(), SessionEnd> {
        log_failure(finished.route.path, &finished.envelope);
        if let Some(observer) = handle.observer() {
            observer.inbound(
                Some(finished.route.path),
                envelope_result(&finished.envelope),
                finished.elapsed,
            );
        }
        while let Ok(command) = commands.try_recv() {
            self.execute(command, liveness, idle).await?;
        }
        if let Some(id) = &finished.reply_id {
            let reply = id.with_str(|id| reply_frame(finished.route.path, Some(id), &finished.envelope));
            self.write(Message::text(reply)).await?;
        }
        if idle {
            if let Some((_, frame)) = liveness.drain.take() {
                close_socket(self.ws, Some(frame), self.config.write_timeout).await;
                return Err(SessionEnd::Drained);
            }
        }
        Ok(())
    }

    /// Carries out a handle's command; `Err` when the session is over.
    async fn execute(&mut self, command: Command, liveness: &mut Liveness, idle: bool) -> Result<(), SessionEnd> {
        match command {
            Command::Send(text) => self.write(Message::Text(text)).await,
            Command::Close(frame) => {
                close_socket(self.ws, frame.map(|f| *f), self.config.write_timeout).await;
                Err(SessionEnd::Closed)
            }
            Command::Drain(drain) if idle => {
                close_socket(self.ws, Some(drain.1), self.config.write_timeout).await;
                Err(SessionEnd::Drained)
            }
            Command::Drain(drain) => {
                liveness.drain = Some(*drain);
                Ok(())
            }
        }
    }

    /// Queues a frame in the write buffer (written out once it holds a buffer's worth, or at the next flush).
    async fn write(&mut self, message: Message) -> Result<(), SessionEnd> {
        self.dirty = true;
        let mut feed = self.ws.feed(message);
        // The common case completes at once (the frame fits the buffer): no timer is armed for it.
        if let Poll::Ready(written) = poll_once(&mut feed).await {
            return Self::outcome(Ok(written));
        }
        Self::outcome(tokio::time::timeout(self.config.write_timeout, feed).await)
    }

    /// Writes out what is buffered: called when the session has nothing else ready, so a burst of replies and
    /// pushes leaves in as few writes as possible.
    async fn flush(&mut self) -> Result<(), SessionEnd> {
        self.dirty = false;
        let mut flush = self.ws.flush();
        if let Poll::Ready(flushed) = poll_once(&mut flush).await {
            return Self::outcome(Ok(flushed));
        }
        Self::outcome(tokio::time::timeout(self.config.write_timeout, flush).await)
    }

    fn outcome(result: Result<Result<(), WsError>, tokio::time::error::Elapsed>) -> Result<(), SessionEnd> {
        match result {
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

fn handle_text<'a, D: Dispatch + ?Sized>(text: &str, handle: &PeerHandle, link: &Link, dispatch: &'a D) -> Inbound<'a> {
    let Some(frame) = Frame::parse(text) else {
        tracing::debug!(len = text.len(), "ignored a malformed frame");
        return Inbound::Nothing;
    };
    match frame.kind {
        FrameKind::Request | FrameKind::Message => {
            let is_request = frame.kind == FrameKind::Request;
            match dispatch.route(frame.path) {
                Some(route) => {
                    if handle.log_mode() == LogMode::All {
                        tracing::info!(path = route.path, id = frame.id, "ws←");
                    }
                    start(route, frame.id, is_request, dispatch.call(&route, frame.data), handle)
                }
                None => {
                    if let Some(observer) = handle.observer() {
                        observer.inbound(None, RouteNotFound::TYPE, Duration::ZERO);
                    }
                    if is_request {
                        let error = RouteNotFound::for_path(frame.path).to_wire().to_json();
                        Inbound::Reply(reply_frame(frame.path, frame.id, &error))
                    } else {
                        tracing::warn!(path = frame.path, "no handler for message");
                        Inbound::Nothing
                    }
                }
            }
        }
        FrameKind::Response => {
            if !handle.resolve(link, frame.id, frame.data) {
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

fn start<'a>(route: Route, id: Option<&str>, is_request: bool, call: Call<'a>, handle: &PeerHandle) -> Inbound<'a> {
    match call {
        Call::Ready(envelope) => {
            log_failure(route.path, &envelope);
            if let Some(observer) = handle.observer() {
                observer.inbound(Some(route.path), envelope_result(&envelope), Duration::ZERO);
            }
            if is_request {
                Inbound::Reply(reply_frame(route.path, id, &envelope))
            } else {
                Inbound::Nothing
            }
        }
        Call::Pending(future) => {
            let context = MessageContext {
                path: route.path,
                connection: handle.connection_context(),
            };
            Inbound::Started(InFlight {
                future,
                context,
                span: tracing::debug_span!("ws_message", path = route.path, id),
                route,
                reply_id: is_request.then(|| ReplyId::new(id.unwrap_or(""))),
                started: Instant::now(),
            })
        }
    }
}

/// Logs a failed request with the error reference its peer received, so a report can be matched to the log.
fn log_failure(path: &str, envelope: &str) {
    let result = envelope_result(envelope);
    if result != "OK" {
        let reference = envelope
            .split_once(r#""ref":""#)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map_or("", |(reference, _)| reference);
        tracing::debug!(path, error_type = result, error_ref = reference, "request failed");
    }
}

/// A request id kept until the reply: the usual decimal ids without an allocation, anything else verbatim.
enum ReplyId {
    Number(u64),
    Text(Box<str>),
}

impl ReplyId {
    fn new(id: &str) -> ReplyId {
        // Only canonical decimals take the compact form, so the id is echoed byte for byte.
        match id.parse::<u64>() {
            Ok(n) if !id.starts_with(['0', '+']) || id == "0" => ReplyId::Number(n),
            _ => ReplyId::Text(id.into()),
        }
    }

    fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            ReplyId::Number(n) => {
                let mut buf = [0u8; 20];
                f(decimal(*n, &mut buf))
            }
            ReplyId::Text(text) => f(text),
        }
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

fn reply_frame(path: &str, id: Option<&str>, envelope: &str) -> String {
    frame::frame(
        FrameKind::Response,
        path,
        id.filter(|id| !id.is_empty()),
        Some(envelope),
    )
}

/// One running handler, in its message context and tracing span. A panic in the handler is caught here and
/// answered with `SERVER_ERROR`; the connection and the server carry on.
struct InFlight<'a> {
    future: BoxFuture<'a, Envelope>,
    context: MessageContext,
    span: tracing::Span,
    route: Route,
    /// `Some(id)` when the peer expects a reply (`r`).
    reply_id: Option<ReplyId>,
    started: Instant,
}

/// Polls a future once, in the current task's context.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *future).poll(cx))).await
}

/// A handler that finished.
struct Finished {
    route: Route,
    reply_id: Option<ReplyId>,
    envelope: Envelope,
    elapsed: Duration,
}

impl Future for InFlight<'_> {
    type Output = Finished;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let future = &mut this.future;
        let polled = poll_in_context(this.context.clone(), || {
            std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)))
        });
        let envelope = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(envelope)) => envelope,
            Err(_) => {
                let error = ServerError::new();
                tracing::error!(path = this.route.path, error_ref = %error.context.reference, "handler panicked");
                Envelope::Owned(error.to_wire().to_json())
            }
        };
        Poll::Ready(Finished {
            route: this.route,
            reply_id: this.reply_id.take(),
            envelope,
            elapsed: this.started.elapsed(),
        })
    }
}

/// Sends a close frame and waits (bounded) for the peer to finish, so the close frame is not lost to a TCP reset
/// caused by unread inbound bytes.
pub async fn close_socket<S>(ws: &mut WebSocketStream<S>, frame: Option<CloseFrame>, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Boxed: this rarely taken path would otherwise add its whole state to every connection's task.
    Box::pin(close_socket_inline(ws, frame, limit)).await
}

async fn close_socket_inline<S>(ws: &mut WebSocketStream<S>, frame: Option<CloseFrame>, limit: Duration)
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
        // On the heap: a 4 KiB array here would live in every connection's task for its whole life.
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = ws.get_mut().read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(limit, finish).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_ids_are_echoed_byte_for_byte() {
        for id in [
            "1",
            "42",
            "0",
            "007",
            "+5",
            "abc",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
        ] {
            assert_eq!(ReplyId::new(id).with_str(str::to_owned), id);
        }
        assert!(matches!(ReplyId::new("42"), ReplyId::Number(42)));
        assert!(matches!(ReplyId::new("007"), ReplyId::Text(_)));
    }
}
