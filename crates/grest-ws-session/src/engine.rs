//! The per-connection task: one task owns the socket, reads frames, drives in-flight handler futures (bounded),
//! takes what handles pushed into the mailbox and writes everything pending with one vectored write when it has
//! nothing else to do. No writer task, no spawn per message.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use grest_ws_core::envelope::Envelope;
use grest_ws_core::frame::{self, Frame, FrameKind, ReplyId};
use grest_ws_core::{ErrorEnvelope, GrestError, RouteNotFound, ServerError};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::LogLimit;
use crate::dispatch::{BoxFuture, Call, Dispatch, Route};
use crate::io::QueuedIo;
use crate::observe::{MessageContext, poll_in_context};
use crate::outbound::{CLOSE_SLOW_CONSUMER, Control, Mailbox, Outgoing, SlowConsumer, Taken};
use crate::peer::{Link, LogMode};
use crate::websocket::{CloseFrame, Message, OP_BINARY, OP_TEXT, Received, Role, WebSocket, WsError};
use crate::{Heartbeat, PeerHandle, SessionConfig};

/// Queued output this large is written before more input is read, so a busy connection still writes promptly.
const EAGER_WRITE: usize = 64 * 1024;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The peer closed the socket with a Close frame (with its close code, if any).
    PeerClosed(Option<u16>),
    /// The connection ended without a Close frame (1006): the peer's process or the network dropped it.
    ConnectionLost,
    /// This side closed it through a handle.
    Closed,
    /// This side drained in-flight handlers and closed (server shutdown, 1001).
    Drained,
    /// Nothing arrived within the heartbeat deadline; the TCP connection was dropped at once.
    HeartbeatTimeout,
    /// A message exceeded the size limit (closed with 1009).
    MessageTooBig,
    /// The peer did not read fast enough: its outbound budget was exceeded, or queued output waited longer than
    /// the write deadline. Closed with 1013.
    SlowConsumer,
    /// The peer broke the WebSocket protocol: closed with 1002 (a malformed or unmasked frame, a bad control
    /// frame, an unknown opcode) or 1007 (a text frame that is not UTF-8); the code sent.
    ProtocolViolation(u16),
    /// A transport error.
    Error(String),
}

impl SessionEnd {
    /// Whether the socket ended by a fault rather than by a close either side asked for: a close code other than
    /// 1000 (normal) or 1001 (going away) — a Close without a code counts as asked for — a connection that ended
    /// without a Close frame (1006), a missed
    /// heartbeat, a broken protocol, an oversized message, a slow reader or a transport error.
    pub fn is_failure(&self) -> bool {
        !matches!(
            self,
            SessionEnd::Closed | SessionEnd::Drained | SessionEnd::PeerClosed(None | Some(1000 | 1001))
        )
    }
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionEnd::PeerClosed(Some(code)) => write!(f, "closed by the peer (code {code})"),
            SessionEnd::PeerClosed(None) => f.write_str("closed by the peer"),
            SessionEnd::ConnectionLost => f.write_str("the connection ended without a Close frame (1006)"),
            SessionEnd::Closed => f.write_str("closed by this side"),
            SessionEnd::Drained => f.write_str("drained and closed (shutdown, 1001)"),
            SessionEnd::HeartbeatTimeout => f.write_str("dropped: nothing heard within the heartbeat deadline"),
            SessionEnd::MessageTooBig => f.write_str("closed: a message over the size limit (1009)"),
            SessionEnd::SlowConsumer => f.write_str("closed: the peer reads too slowly (1013)"),
            SessionEnd::ProtocolViolation(code) => write!(f, "closed: the peer broke the WebSocket protocol ({code})"),
            SessionEnd::Error(error) => write!(f, "transport error: {error}"),
        }
    }
}

/// One socket's session: its mailbox and link, attached to a handle before the socket is handed to
/// [`Session::run`], so handlers can hold the handle while the connection is being set up.
pub struct Session {
    handle: PeerHandle,
    link: Arc<Link>,
    config: SessionConfig,
}

impl Session {
    /// A new handle, for the given end of the connection, with this socket's session attached.
    pub fn new(role: Role, config: SessionConfig) -> Self {
        let handle = PeerHandle::new(role, config.request_timeout);
        Session::resume(&handle, config)
    }

    /// A new socket's session for an existing handle (a reconnect): the handle's typed wrappers keep working,
    /// request ids start again at 1.
    pub fn resume(handle: &PeerHandle, config: SessionConfig) -> Self {
        let link = Arc::new(Link::new(&config));
        handle.attach(link.clone());
        Session {
            handle: handle.clone(),
            link,
            config,
        }
    }

    /// The handle this session is attached to.
    pub fn handle(&self) -> &PeerHandle {
        &self.handle
    }

    /// Drives the session on `ws` until the socket ends; inbound `m`/`r` frames go to `dispatch`. When it
    /// returns, this socket's outstanding requests have failed and pushes to it fail. The handle lives on: call
    /// [`Wiring::finish`](crate::Wiring::finish) to end it, or [`Session::resume`] it on a new socket.
    pub async fn run<S, D>(self, mut ws: WebSocket<S>, dispatch: &D) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
        D: Dispatch + ?Sized,
    {
        let observer = self.handle.observer().cloned();
        let end = drive(&mut ws, &self.handle, &self.link, &self.config, dispatch).await;
        let dropped = self.handle.detach(&self.link);
        if let Some(observer) = observer {
            if dropped > 0 {
                observer.dropped(dropped as u64);
            }
            observer.ended(&end);
        }
        end
    }
}

/// When the timer next needs attention: heartbeat, drain deadline, write deadline (typed and raw sessions).
pub(crate) struct Liveness {
    pub(crate) heartbeat: Option<Heartbeat>,
    pub(crate) last_inbound: Instant,
    pub(crate) ping_at: Instant,
    drain: Option<(Instant, CloseFrame)>,
    /// Queued output has been waiting for the socket since then (updated when some of it leaves).
    pub(crate) write_waiting_since: Option<Instant>,
    write_timeout: Duration,
    /// Something arrived since `last_inbound` was last brought up to date.
    pub(crate) heard: bool,
}

impl Liveness {
    pub(crate) fn new(heartbeat: Option<Heartbeat>, write_timeout: Duration) -> Self {
        let now = Instant::now();
        Liveness {
            ping_at: now + heartbeat.map_or(Duration::ZERO, |h| h.interval),
            heartbeat,
            last_inbound: now,
            drain: None,
            write_waiting_since: None,
            write_timeout,
            heard: false,
        }
    }

    pub(crate) fn dead_at(&self) -> Option<Instant> {
        self.heartbeat.map(|h| self.last_inbound + h.interval + h.timeout)
    }

    pub(crate) fn write_deadline(&self) -> Option<Instant> {
        self.write_waiting_since.map(|since| since + self.write_timeout)
    }

    /// The next instant the timer must fire, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        [
            self.heartbeat.map(|_| self.ping_at),
            self.dead_at(),
            self.drain.as_ref().map(|(at, _)| *at),
            self.write_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl Liveness {
    /// The timer fired at `now`: a silent peer is dropped, output stuck past the write deadline closes the slow
    /// consumer (1013), and a protocol ping goes out when one is due.
    pub(crate) fn tick<S>(
        &mut self,
        ws: &mut WebSocket<S>,
        config: &SessionConfig,
        now: Instant,
    ) -> Result<(), Ending> {
        if self.dead_at().is_some_and(|dead| now >= dead) {
            warn_limited!("no inbound traffic within the heartbeat deadline; dropping the connection");
            return Err(Ending::Now(SessionEnd::HeartbeatTimeout));
        }
        if self.write_deadline().is_some_and(|deadline| now >= deadline) {
            warn_limited!(timeout = ?config.write_timeout, "slow consumer: queued output waited past the write deadline; closing with 1013");
            return Err(Ending::SlowConsumer);
        }
        if let Some(heartbeat) = self.heartbeat {
            if now >= self.ping_at {
                // Fails only once a Close is queued, when pings no longer matter.
                let _ = ws.queue(&Message::Ping(Bytes::new()));
                self.ping_at = now + heartbeat.interval;
            }
        }
        Ok(())
    }
}

/// How a session ends: decided while polling, carried out (asynchronously: a Close frame to write, an answer to
/// wait for) by [`finish`]. Shared by typed and raw sessions.
pub(crate) enum Ending {
    /// End at once, without a Close frame (end of stream, heartbeat timeout, transport error).
    Now(SessionEnd),
    /// The peer closed: write the queued answer (bounded), then end.
    PeerClosed(Option<u16>),
    /// Close with this frame, give the peer [`SessionConfig::close_timeout`] to answer, then end with `end`.
    Close(Option<CloseFrame>, SessionEnd),
    /// The peer broke the protocol: fail the connection with this Close frame (1002/1007, see
    /// [`WsError::close_frame`]).
    Violation(CloseFrame),
    /// The peer reads too slowly: drop what has not started to leave, close with 1013.
    SlowConsumer,
}

/// Carries out an [`Ending`].
pub(crate) async fn finish<S>(ws: &mut WebSocket<S>, ending: Ending, config: &SessionConfig) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Boxed: these rarely taken paths would otherwise add their state to every connection's task.
    Box::pin(finish_inline(ws, ending, config)).await
}

async fn finish_inline<S>(ws: &mut WebSocket<S>, ending: Ending, config: &SessionConfig) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match ending {
        Ending::Now(end) => end,
        Ending::PeerClosed(code) => {
            // The answer to the close was queued as it was read: write it out (bounded).
            let _ = tokio::time::timeout(config.close_timeout, ws.drain()).await;
            SessionEnd::PeerClosed(code)
        }
        Ending::Close(frame, end) => {
            close_socket(ws, frame, config.close_timeout).await;
            end
        }
        Ending::Violation(frame) => {
            tracing::debug!(
                code = frame.code,
                "closing a connection that broke the WebSocket protocol"
            );
            // Failing the connection (RFC 6455 §7.1.7): the Close frame goes out, nothing more is read or waited for.
            let _ = ws.queue_close(Some(&frame));
            let _ = tokio::time::timeout(config.close_timeout, ws.drain()).await;
            SessionEnd::ProtocolViolation(frame.code)
        }
        Ending::SlowConsumer => {
            let dropped = ws.io_mut().discard_unstarted();
            tracing::debug!(dropped_bytes = dropped, "dropped the slow consumer's queued output");
            let frame = CloseFrame::new(CLOSE_SLOW_CONSUMER, "Slow consumer");
            close_socket(ws, Some(frame), config.close_timeout).await;
            SessionEnd::SlowConsumer
        }
    }
}

/// The ending for text that is not UTF-8 (1007).
pub(crate) fn invalid_utf8() -> Ending {
    violation(&WsError::InvalidUtf8)
}

/// The ending for a frame that breaks the protocol: the Close frame the codec names for it.
fn violation(error: &WsError) -> Ending {
    match error.close_frame() {
        Some(frame) => Ending::Violation(frame),
        None => Ending::Now(SessionEnd::Error(error.to_string())),
    }
}

/// Settles what the socket had (typed and raw sessions): written output is reported to the mailbox (`Ok(None)`:
/// carry on), a message is returned (`Ok(Some)`, located in the socket's read buffer), and the ends of the
/// connection — the peer's close (answered), end of stream, an oversized message (1009), a protocol violation
/// (1002/1007), a failed write — end the session.
pub(crate) fn socket_turn<S>(
    event: SocketEvent,
    ws: &WebSocket<S>,
    liveness: &mut Liveness,
    mailbox: &Mailbox,
) -> Result<Option<Received>, Ending> {
    let inbound = match event {
        SocketEvent::Flushed => {
            liveness.write_waiting_since = None;
            mailbox.written(0);
            return Ok(None);
        }
        SocketEvent::WriteBlocked => {
            mailbox.written(ws.io().queued());
            return Ok(None);
        }
        SocketEvent::WriteFailed(e) => return Err(Ending::Now(SessionEnd::Error(e.to_string()))),
        SocketEvent::Inbound(inbound) => inbound,
    };
    liveness.heard = true;
    match inbound {
        None => Err(Ending::Now(SessionEnd::ConnectionLost)),
        Some(Err(error @ WsError::TooBig { .. })) => {
            warn_limited!("inbound message over the size limit; closing with 1009");
            Err(Ending::Close(error.close_frame(), SessionEnd::MessageTooBig))
        }
        Some(Err(error)) => {
            tracing::debug!(%error, "WebSocket error from the peer");
            Err(violation(&error))
        }
        Some(Ok(Received::Close(frame))) => Err(Ending::PeerClosed(frame.map(|f| f.code))),
        Some(Ok(received)) => Ok(Some(received)),
    }
}

/// What the socket had for the session.
pub(crate) enum SocketEvent {
    Inbound(Option<Result<Received, WsError>>),
    /// Everything queued has been written.
    Flushed,
    /// Queued output started waiting for the socket.
    WriteBlocked,
    WriteFailed(std::io::Error),
}

/// Polls the socket: a large backlog is written first; then input (when `reading`); then whatever output is
/// queued, since nothing else was ready.
pub(crate) fn poll_socket<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocket<S>,
    cx: &mut Context<'_>,
    reading: bool,
    waiting_since: &mut Option<Instant>,
) -> Poll<SocketEvent> {
    if ws.io().queued() >= EAGER_WRITE {
        if let Poll::Ready(event) = poll_write_queue(ws.io_mut(), cx, waiting_since) {
            return Poll::Ready(event);
        }
    }
    if reading && ws.may_read(cx) {
        if let Poll::Ready(inbound) = ws.poll_received(cx) {
            return Poll::Ready(SocketEvent::Inbound(inbound));
        }
    }
    if ws.io().queued() > 0 {
        return poll_write_queue(ws.io_mut(), cx, waiting_since);
    }
    Poll::Pending
}

fn poll_write_queue<S: AsyncWrite + Unpin>(
    io: &mut QueuedIo<S>,
    cx: &mut Context<'_>,
    waiting_since: &mut Option<Instant>,
) -> Poll<SocketEvent> {
    match io.poll_drain(cx) {
        Poll::Ready(Ok(())) => Poll::Ready(SocketEvent::Flushed),
        Poll::Ready(Err(e)) => Poll::Ready(SocketEvent::WriteFailed(e)),
        Poll::Pending => {
            let progressed = io.take_progress();
            match waiting_since {
                None => {
                    *waiting_since = Some(Instant::now());
                    Poll::Ready(SocketEvent::WriteBlocked)
                }
                // Some of it left: the deadline counts from now (checked lazily when the timer fires).
                Some(since) => {
                    if progressed {
                        *since = Instant::now();
                    }
                    Poll::Pending
                }
            }
        }
    }
}

async fn drive<S, D>(
    ws: &mut WebSocket<S>,
    handle: &PeerHandle,
    link: &Link,
    config: &SessionConfig,
    dispatch: &D,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Unpin,
    D: Dispatch + ?Sized,
{
    let mut driver = Driver {
        parts: Parts { handle, link, config },
        dispatch,
        in_flight: FuturesUnordered::new(),
        deferred: Deferred::default(),
        mail: Mail::default(),
        liveness: Liveness::new(config.heartbeat, config.write_timeout),
        armed: None,
        timer_waker: None,
    };
    driver.armed = driver.next_deadline();
    let timer = tokio::time::sleep_until(driver.armed.unwrap_or_else(far_future));
    tokio::pin!(timer);
    let ending = std::future::poll_fn(|cx| driver.poll(cx, ws, timer.as_mut())).await;
    drop(driver);
    finish(ws, ending, config).await
}

/// A deadline for a timer with nothing to wait for.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// A typed session's state between wakes. Each wake ([`Driver::poll`]) does everything that is ready, in one
/// pass: finished handlers (their pushes, then their replies), the mailbox, the timer (one clock read), and every
/// frame the socket has — each parsed where it was read and dispatched at once — then writes what was queued with
/// one vectored write. It returns only to end the session.
struct Driver<'a, D: ?Sized> {
    parts: Parts<'a>,
    dispatch: &'a D,
    in_flight: FuturesUnordered<InFlight<'a>>,
    deferred: Deferred,
    mail: Mail,
    liveness: Liveness,
    /// The deadline the timer is set to.
    armed: Option<Instant>,
    /// The waker the timer was polled with since it was last set (the timer holds it).
    timer_waker: Option<Waker>,
}

impl<'a, D: Dispatch + ?Sized> Driver<'a, D> {
    fn poll<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut WebSocket<S>,
        mut timer: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Ending> {
        let config = self.parts.config;
        // Passes until one finds nothing to do: by then every source has registered this task's waker.
        loop {
            let mut progressed = false;
            while let Poll::Ready(Some(finished)) = self.in_flight.poll_next_unpin(cx) {
                progressed = true;
                if let Err(ending) = self.complete(ws, finished) {
                    return Poll::Ready(ending);
                }
                if let Err(ending) = self.run_deferred(ws) {
                    return Poll::Ready(ending);
                }
            }
            let backlog = ws.io().queued();
            // New frames are taken only once the socket has written the earlier ones: until then they wait in the
            // mailbox, where the slow-consumer policy can still act on them.
            let take_limit = if backlog == 0 {
                config.outbound_budget.div_ceil(2)
            } else {
                0
            };
            let link = self.parts.link;
            if let Poll::Ready(taken) = link.mailbox.poll_take(cx, &mut self.mail.frames, backlog, take_limit) {
                progressed = true;
                if let Err(ending) = self.process_mail(ws, taken) {
                    return Poll::Ready(ending);
                }
            }
            // A timer that holds this task's waker needs polling again only once it has fired.
            let registered = self.timer_waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
            if !registered || timer.is_elapsed() {
                if timer.as_mut().poll(cx).is_ready() {
                    progressed = true;
                    if let Err(ending) = self.on_timer(ws) {
                        return Poll::Ready(ending);
                    }
                    self.armed = self.next_deadline();
                    timer.as_mut().reset(self.armed.unwrap_or_else(far_future));
                    self.timer_waker = None;
                } else if !registered {
                    self.timer_waker = Some(cx.waker().clone());
                }
            }
            // Every frame the socket has, each dispatched as it is parsed.
            loop {
                let backlog = ws.io().queued();
                // Replies that pile up unread stop the reading of requests (backpressure), never the connection.
                let reading = backlog < config.outbound_budget
                    && (self.in_flight.len() < config.max_in_flight || self.deferred.bytes < config.max_message_size);
                let mut waiting_since = self.liveness.write_waiting_since;
                let Poll::Ready(event) = poll_socket(ws, cx, reading, &mut waiting_since) else {
                    break;
                };
                self.liveness.write_waiting_since = waiting_since;
                progressed = true;
                let received = match socket_turn(event, ws, &mut self.liveness, &link.mailbox) {
                    Ok(Some(received)) => received,
                    Ok(None) => continue,
                    Err(ending) => return Poll::Ready(ending),
                };
                if let Err(ending) = self.on_received(ws, received) {
                    return Poll::Ready(ending);
                }
            }
            if self.liveness.heard {
                // One clock read per wake with inbound traffic, not one per frame.
                self.liveness.heard = false;
                if self.liveness.heartbeat.is_some() {
                    self.liveness.last_inbound = Instant::now();
                }
            }
            // Re-arm only for an earlier deadline; a later one is picked up when the timer fires.
            let next = self.next_deadline();
            if next.is_some_and(|next| self.armed.is_none_or(|armed| next < armed)) {
                timer.as_mut().reset(next.unwrap_or_else(far_future));
                self.armed = next;
                self.timer_waker = None;
                progressed = true;
            }
            if !progressed {
                return Poll::Pending;
            }
        }
    }

    /// The next instant the timer must fire: liveness deadlines and the earliest outstanding request's.
    fn next_deadline(&self) -> Option<Instant> {
        let requests = self.parts.link.request_deadline();
        match (self.liveness.next_deadline(), requests) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The timer fired: requests past their deadline fail, a drain past its deadline closes; then heartbeat and
    /// write deadline.
    fn on_timer<S>(&mut self, ws: &mut WebSocket<S>) -> Result<(), Ending> {
        let now = Instant::now();
        self.parts.link.expire(now);
        if let Some((at, frame)) = self.liveness.drain.take() {
            if now >= at {
                return Err(Ending::Close(Some(frame), SessionEnd::Drained));
            }
            self.liveness.drain = Some((at, frame));
        }
        self.liveness.tick(ws, self.parts.config, now)
    }

    /// A frame arrived: a text (or UTF-8 binary) frame is handled now, or deferred at the in-flight limit.
    fn on_received<S>(&mut self, ws: &mut WebSocket<S>, received: Received) -> Result<(), Ending> {
        let text = match &received {
            Received::Text(payload) => ws.text(payload).ok_or_else(invalid_utf8)?,
            // A Node peer accepts binary frames carrying the same text (docs/protocol.md §1.1).
            Received::Binary(payload) => match ws.text(payload) {
                Some(text) => text,
                None => {
                    tracing::debug!("ignored a binary frame that is not UTF-8");
                    return Ok(());
                }
            },
            Received::Close(_) | Received::Ping(_) | Received::Pong(_) => return Ok(()),
        };
        // At the in-flight limit, requests and messages wait (bounded by size) while replies, pings and pongs are
        // still read: a handler awaiting its peer's reply must not deadlock a full connection.
        if self.in_flight.len() >= self.parts.config.max_in_flight && is_call(text) {
            self.deferred.push(text.to_owned());
            return Ok(());
        }
        let inbound = handle_text(text, self.parts.handle, self.parts.link, self.dispatch);
        self.deliver(ws, inbound)
    }

    /// Starts deferred requests while there is room.
    fn run_deferred<S>(&mut self, ws: &mut WebSocket<S>) -> Result<(), Ending> {
        while self.in_flight.len() < self.parts.config.max_in_flight {
            let Some(text) = self.deferred.pop() else { break };
            let inbound = handle_text(&text, self.parts.handle, self.parts.link, self.dispatch);
            self.deliver(ws, inbound)?;
        }
        Ok(())
    }

    /// Queues what was taken from the mailbox and carries out its control: a close, or a drain (at once when no
    /// handler is running, else when the last one finishes or the deadline passes). An overflowed budget closes
    /// the slow consumer.
    fn process_mail<S>(&mut self, ws: &mut WebSocket<S>, taken: Taken) -> Result<(), Ending> {
        let Taken {
            control,
            overflowed,
            dropped,
        } = taken;
        let config = self.parts.config;
        let mail = &mut self.mail;
        // Closing a slow consumer drops what was just taken for the write queue too: every frame is counted.
        let dropped = if overflowed {
            dropped + mail.frames.len() as u64
        } else {
            dropped
        };
        if dropped > 0 {
            if let Some(observer) = self.parts.handle.observer() {
                observer.dropped(dropped);
            }
            if config.slow_consumer == SlowConsumer::DropOldest && !std::mem::replace(&mut mail.warned_drops, true) {
                warn_limited!(
                    budget = config.outbound_budget,
                    "slow consumer: dropping its oldest pushes (logged once per connection; every drop is counted)"
                );
            }
        }
        if overflowed {
            warn_limited!(
                budget = config.outbound_budget,
                "slow consumer: outbound budget exceeded; closing with 1013"
            );
            mail.frames.clear();
            return Err(Ending::SlowConsumer);
        }
        for item in mail.frames.drain(..) {
            queue_outgoing(ws, item);
        }
        if mail.frames.capacity() > 64 {
            mail.frames = VecDeque::new();
        }
        match control {
            None => Ok(()),
            Some(Control::Close(frame)) => Err(Ending::Close(frame, SessionEnd::Closed)),
            Some(Control::Drain(_, frame)) if self.in_flight.is_empty() => {
                Err(Ending::Close(Some(frame), SessionEnd::Drained))
            }
            Some(Control::Drain(at, frame)) => {
                self.liveness.drain = Some((at, frame));
                Ok(())
            }
        }
    }

    /// Acts on an inbound frame: queues its immediate reply, or starts its handler — polled once right away, so a
    /// handler that does not await finishes here without ever entering the in-flight set.
    fn deliver<S>(&mut self, ws: &mut WebSocket<S>, inbound: Inbound<'a>) -> Result<(), Ending> {
        match inbound {
            Inbound::Nothing => Ok(()),
            Inbound::Unrouted(path) => {
                // A peer can send any number of these: one warning per connection, the rest at debug.
                if std::mem::replace(&mut self.mail.warned_unrouted, true) {
                    tracing::debug!(path, "no handler for message");
                } else {
                    warn_limited!(
                        path,
                        "no handler for message (further ones on this connection are logged at debug)"
                    );
                }
                Ok(())
            }
            Inbound::Reply(reply) => {
                queue_text(ws, &reply);
                Ok(())
            }
            Inbound::Answer { path, id, envelope } => {
                queue_reply(ws, path, &id, envelope.json());
                Ok(())
            }
            Inbound::Started(mut future) => {
                let waker = futures_util::task::noop_waker();
                // Polled with the session's own waker would be better, but the in-flight set re-polls a pending
                // future with its own, so a no-op waker here only costs a wasted first registration.
                match Pin::new(&mut future).poll(&mut Context::from_waker(&waker)) {
                    Poll::Ready(finished) => self.complete(ws, finished),
                    Poll::Pending => {
                        self.in_flight.push(future);
                        Ok(())
                    }
                }
            }
        }
    }

    /// A handler finished: report it, queue its reply (pushes and requests it made were queued before it returned,
    /// so they go out first); close if a drain was waiting for the last handler.
    fn complete<S>(&mut self, ws: &mut WebSocket<S>, finished: Finished) -> Result<(), Ending> {
        let parts = self.parts;
        report(parts.handle, finished.route.path, &finished.envelope, finished.elapsed);
        // What the handler pushed waits in the mailbox: it goes first, so it precedes the reply.
        if let Some(taken) = parts.link.mailbox.take(&mut self.mail.frames, ws.io().queued()) {
            self.process_mail(ws, taken)?;
        }
        if let Some(id) = &finished.reply_id {
            queue_reply(ws, finished.route.path, id, finished.envelope.json());
        }
        if self.in_flight.is_empty() {
            if let Some((_, frame)) = self.liveness.drain.take() {
                return Err(Ending::Close(Some(frame), SessionEnd::Drained));
            }
        }
        Ok(())
    }
}

/// What the session needs from its surroundings, passed by copy.
#[derive(Clone, Copy)]
struct Parts<'a> {
    handle: &'a PeerHandle,
    link: &'a Link,
    config: &'a SessionConfig,
}

/// Frames taken from the mailbox on their way into the write queue, and the connection's once-only warnings.
#[derive(Default)]
struct Mail {
    frames: VecDeque<Outgoing>,
    /// The once-per-connection warning about dropped pushes was logged.
    warned_drops: bool,
    /// The once-per-connection warning about a message nobody handles was logged (later ones go to debug).
    warned_unrouted: bool,
}

/// Requests and messages read while the in-flight limit is reached, bounded by their total size (one maximum
/// message's worth), after which the session stops reading.
#[derive(Default)]
struct Deferred {
    frames: VecDeque<String>,
    bytes: usize,
}

impl Deferred {
    fn push(&mut self, text: String) {
        self.bytes += text.len();
        self.frames.push_back(text);
    }

    fn pop(&mut self) -> Option<String> {
        let text = self.frames.pop_front()?;
        self.bytes -= text.len();
        Some(text)
    }
}

/// Whether a frame starts a handler (`r` or `m`).
fn is_call(text: &str) -> bool {
    text.starts_with("r:") || text.starts_with("m:")
}

/// Queues an outgoing frame from the mailbox (after a Close nothing more is sent, so nothing is queued).
pub(crate) fn queue_outgoing<S>(ws: &mut WebSocket<S>, item: Outgoing) {
    match item {
        Outgoing::Frame(frame) if !ws.close_sent() => ws.io_mut().push_frame(frame),
        Outgoing::OwnedFrame(bytes, start) if !ws.close_sent() => ws.io_mut().push_owned_frame(bytes, start),
        Outgoing::Frame(_) | Outgoing::OwnedFrame(..) => {}
        Outgoing::Text(text) => {
            let _ = ws.queue_frame(OP_TEXT, &text);
        }
        Outgoing::OwnedText(text) => {
            let _ = ws.queue_frame(OP_TEXT, &text);
        }
        Outgoing::Binary(bytes) => {
            let _ = ws.queue_frame(OP_BINARY, &bytes);
        }
    }
}

/// Queues a text frame built here (a reply, a pong). After a Close nothing more is sent.
fn queue_text<S>(ws: &mut WebSocket<S>, text: &str) {
    let _ = ws.queue_text(text);
}

enum Inbound<'a> {
    Nothing,
    /// A frame to send back as it is (a pong, a `ROUTE_NOT_FOUND` reply).
    Reply(String),
    /// A request answered without awaiting.
    Answer {
        path: &'static str,
        id: ReplyId,
        envelope: Envelope,
    },
    Started(InFlight<'a>),
    /// A fire-and-forget message for a path nobody handles (its path clipped).
    Unrouted(String),
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
                    // The path is the client's: replies and logs repeat a bounded prefix of it (the id correlates).
                    let path = frame::clip(frame.path);
                    if is_request {
                        let error = RouteNotFound::for_path(frame.path).to_envelope().to_json();
                        Inbound::Reply(frame::frame(
                            FrameKind::Response,
                            path,
                            frame.id.filter(|id| !id.is_empty()),
                            Some(&error),
                        ))
                    } else {
                        Inbound::Unrouted(path.to_owned())
                    }
                }
            }
        }
        FrameKind::Response => {
            if !handle.resolve(link, frame.id, frame.data) {
                tracing::debug!(
                    id = frame.id.map(frame::clip),
                    path = frame::clip(frame.path),
                    "ignored a reply with an unknown id"
                );
            }
            Inbound::Nothing
        }
        FrameKind::Ping => Inbound::Reply(frame::PONG.to_owned()),
        FrameKind::Pong | FrameKind::Handshake | FrameKind::HandshakeOk | FrameKind::HandshakeErr => Inbound::Nothing,
        FrameKind::Unknown => {
            tracing::debug!(kind = frame::clip(frame.type_str), "ignored a frame of unknown type");
            Inbound::Nothing
        }
    }
}

fn start<'a>(route: Route, id: Option<&str>, is_request: bool, call: Call<'a>, handle: &PeerHandle) -> Inbound<'a> {
    match call {
        Call::Ready(envelope) => {
            report(handle, route.path, &envelope, Duration::ZERO);
            if is_request {
                Inbound::Answer {
                    path: route.path,
                    id: ReplyId::new(id.unwrap_or("")),
                    envelope,
                }
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
                // Timed only when someone records it.
                started: handle.observer().is_some().then(Instant::now),
            })
        }
    }
}

/// Logs a failed call with the error reference its peer received: at warn for the server's own failures
/// (status 500 and above), at info for the peer's (invalid input, not allowed…), each at most 10 lines a second so a
/// misbehaving peer cannot flood the log.
fn log_failed(path: &str, error: &ErrorEnvelope) {
    static SERVER: LogLimit = LogLimit::new(10);
    static PEER: LogLimit = LogLimit::new(10);
    let (error_type, error_ref) = (&error.error_type, &error.context.reference);
    if error.status_code >= 500 {
        if let Some(suppressed) = SERVER.admit() {
            tracing::warn!(path, %error_type, %error_ref, suppressed, "request failed");
        }
    } else if let Some(suppressed) = PEER.admit() {
        tracing::info!(path, %error_type, %error_ref, suppressed, "request refused");
    }
}

/// Reports a handled call: to the observer (its result and how long the handler took), and, when it failed, to
/// the debug log with the error reference its peer received, so a report can be matched to the log.
fn report(handle: &PeerHandle, path: &'static str, envelope: &Envelope, elapsed: Duration) {
    if let Some(error) = envelope.error() {
        log_failed(path, error);
    }
    if let Some(observer) = handle.observer() {
        observer.inbound(Some(path), envelope.result_type(), elapsed);
    }
}

/// Queues the reply `s:<path>:<id>:<envelope>`, written straight into the write queue.
fn queue_reply<S>(ws: &mut WebSocket<S>, path: &str, id: &ReplyId, envelope: &str) {
    id.with_str(|id| {
        let kind = FrameKind::Response.as_str();
        // After a Close nothing more is sent.
        let _ = ws.queue_text_parts(&[kind, ":", path, ":", id, ":", envelope]);
    });
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
    started: Option<Instant>,
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
                Envelope::from(error)
            }
        };
        Poll::Ready(Finished {
            route: this.route,
            reply_id: this.reply_id.take(),
            envelope,
            elapsed: this.started.map_or(Duration::ZERO, |started| started.elapsed()),
        })
    }
}

/// Sends a close frame and waits (bounded) for the peer to finish, so the close frame is not lost to a TCP reset
/// caused by unread inbound bytes.
pub async fn close_socket<S>(ws: &mut WebSocket<S>, frame: Option<CloseFrame>, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Boxed: this rarely taken path would otherwise add its whole state to every connection's task.
    Box::pin(close_socket_inline(ws, frame, limit)).await
}

async fn close_socket_inline<S>(ws: &mut WebSocket<S>, frame: Option<CloseFrame>, limit: Duration)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let finish = async {
        // Already sent (the peer's close was answered): nothing more to queue.
        let _ = ws.queue_close(frame.as_ref());
        if ws.drain().await.is_err() {
            return;
        }
        // A well-behaved peer answers the close (or ends the stream).
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None => return,
                Some(Ok(_)) => continue,
                Some(Err(WsError::TooBig { .. })) => break,
                Some(Err(_)) => return,
            }
        }
        // A peer still sending an oversized message: read raw bytes to the end, so the Close frame is not lost
        // to a TCP reset caused by unread input.
        ws.discard_input().await;
    };
    let _ = tokio::time::timeout(limit, finish).await;
}
