//! Raw byte-stream sockets (docs/protocol.md §1.11, §7): after the handshake a socket carries opaque text and binary
//! frames. One task owns the socket: it writes what the application queued, delivers what arrives to a bounded
//! inbound queue (and stops reading while the application lags behind), answers the keepalive sentinels, and
//! runs the protocol-ping heartbeat. Shared by the server and the client.
//!
//! Outbound frames go through the same mailbox as a typed session's: a byte budget
//! ([`SessionConfig::outbound_budget`]), the endpoint's [`crate::SlowConsumer`] policy, everything pending written
//! with one vectored write, and a Close frame with [`crate::CLOSE_SLOW_CONSUMER`] for a reader that falls behind.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::outbound::SendError;
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::engine::{Ending, Liveness, finish, invalid_utf8, poll_socket, queue_outgoing, socket_turn};
use crate::outbound::{Control as MailControl, Mailbox, Outgoing, PushError, SlowConsumer};
use crate::websocket::{CloseFrame, Received, WebSocket};
use crate::{SessionConfig, SessionEnd};

/// The keepalive a browser-side grest peer sends on a default-mode raw socket (a text frame: NUL, `gg-raw-ping`,
/// NUL). Answered with [`RAW_PONG`]; neither ever reaches the application.
pub const RAW_PING: &str = "\u{0}gg-raw-ping\u{0}";
/// The answer to [`RAW_PING`].
pub const RAW_PONG: &str = "\u{0}gg-raw-pong\u{0}";

/// One frame of a byte stream, with its WebSocket frame type (the original's `(data, isBinary)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawMessage {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Bytes),
}

impl RawMessage {
    /// Whether it travels (or travelled) as a binary frame.
    pub fn is_binary(&self) -> bool {
        matches!(self, RawMessage::Binary(_))
    }

    /// The payload bytes, whatever the frame type.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            RawMessage::Text(text) => text.as_bytes(),
            RawMessage::Binary(bytes) => bytes,
        }
    }

    fn into_outgoing(self) -> Outgoing {
        match self {
            RawMessage::Text(text) => Outgoing::OwnedText(text.into_bytes()),
            RawMessage::Binary(bytes) => Outgoing::Binary(bytes),
        }
    }
}

impl From<String> for RawMessage {
    fn from(text: String) -> Self {
        RawMessage::Text(text)
    }
}

impl From<&str> for RawMessage {
    fn from(text: &str) -> Self {
        RawMessage::Text(text.to_owned())
    }
}

impl From<Vec<u8>> for RawMessage {
    fn from(bytes: Vec<u8>) -> Self {
        RawMessage::Binary(bytes.into())
    }
}

impl From<&[u8]> for RawMessage {
    fn from(bytes: &[u8]) -> Self {
        RawMessage::Binary(Bytes::copy_from_slice(bytes))
    }
}

impl From<Bytes> for RawMessage {
    fn from(bytes: Bytes) -> Self {
        RawMessage::Binary(bytes)
    }
}

type CloseHook = Box<dyn FnOnce() + Send>;

/// What the socket's task and its handles share: the outbound mailbox (frames and the close request) and the end.
struct Control {
    mailbox: Mailbox,
    /// A close was requested (the first request wins).
    close_requested: AtomicBool,
    ended: AtomicBool,
    ended_notify: Notify,
    on_close: Mutex<Vec<CloseHook>>,
}

/// Closes one raw socket and observes its end, without keeping it open (the server's socket registry holds
/// these). Cheap to clone.
#[derive(Clone)]
pub struct RawControl {
    control: Arc<Control>,
}

impl std::fmt::Debug for RawControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawControl").field("closed", &self.is_closed()).finish()
    }
}

impl RawControl {
    /// Asks the socket's task to close with `frame` (`None` = no status code) after writing the frames already
    /// queued. The first request wins.
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        if !self.control.close_requested.swap(true, Ordering::AcqRel) {
            self.control.mailbox.control(MailControl::Close(frame));
        }
    }

    /// Whether a close was requested or the socket has ended.
    pub fn is_closed(&self) -> bool {
        self.control.ended.load(Ordering::Acquire) || self.control.close_requested.load(Ordering::Acquire)
    }

    /// Resolves once the socket has ended.
    pub async fn closed(&self) {
        loop {
            let notified = self.control.ended_notify.notified();
            if self.control.ended.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// Runs `hook` once when the socket ends (at once if it already has).
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        let mut hooks = self.control.on_close.lock().unwrap_or_else(|e| e.into_inner());
        if self.control.ended.load(Ordering::Acquire) {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    fn finish(&self) {
        if self.control.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        // Pushes fail from now on; whatever was still queued is freed.
        self.control.mailbox.close();
        let hooks = std::mem::take(&mut *self.control.on_close.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)).is_err() {
                tracing::error!("an on-close hook panicked");
            }
        }
        self.control.ended_notify.notify_waiters();
    }
}

/// Sends frames on one raw socket; cheap to clone. The socket closes once it is closed explicitly, or once every
/// sender is gone.
#[derive(Clone)]
pub struct RawSender {
    senders: Arc<Senders>,
}

/// Held by every clone of a socket's [`RawSender`]: the last one to go closes the socket (after what it queued).
struct Senders {
    control: RawControl,
}

impl Drop for Senders {
    fn drop(&mut self) {
        self.control.close_with(None);
    }
}

impl std::fmt::Debug for RawSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSender").field("closed", &self.is_closed()).finish()
    }
}

impl RawSender {
    /// Queues a frame: text for strings, binary for bytes. Waits while the socket's outbound queue is over its
    /// budget (backpressure); fails with [`SendError::Closed`] once the socket is closed.
    pub async fn send(&self, message: impl Into<RawMessage>) -> Result<(), SendError> {
        let control = &self.senders.control;
        if control.is_closed() {
            return Err(SendError::Closed);
        }
        control
            .control
            .mailbox
            .push(message.into().into_outgoing(), true)
            .await
            .map_err(|_| SendError::Closed)
    }

    /// Queues a frame without waiting: past the outbound budget the socket's slow-consumer policy applies
    /// ([`PushError::SlowConsumer`]).
    pub fn try_send(&self, message: impl Into<RawMessage>) -> Result<(), PushError> {
        let control = &self.senders.control;
        if control.is_closed() {
            return Err(PushError::Closed);
        }
        control.control.mailbox.try_push(message.into().into_outgoing())
    }

    /// Closes the socket (close frame without a status code) once the frames already queued are written.
    pub fn close(&self) {
        self.senders.control.close_with(None);
    }

    /// Closes the socket with a status code and reason, once the frames already queued are written.
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        self.senders.control.close_with(frame);
    }

    /// Whether the socket is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.senders.control.is_closed()
    }

    /// Resolves once the socket has ended.
    pub async fn closed(&self) {
        self.senders.control.closed().await;
    }

    /// Runs `hook` once when the socket ends (at once if it already has).
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        self.senders.control.on_close(hook);
    }

    /// The socket's control (close and observe without keeping the socket open).
    pub fn control(&self) -> RawControl {
        self.senders.control.clone()
    }
}

/// One raw socket's task, created before the socket is handed over so the application can hold its sender and
/// receiver while the connection is being set up.
pub struct RawSession {
    inbound: mpsc::Sender<RawMessage>,
    control: RawControl,
    config: SessionConfig,
    keepalive: bool,
}

impl Drop for RawSession {
    /// Ends the socket for its senders and receiver and runs the on-close hooks — after [`RawSession::run`], or when
    /// the session is dropped unrun or cancelled mid-run.
    fn drop(&mut self) {
        self.control.finish();
    }
}

impl std::fmt::Debug for RawSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSession")
            .field("keepalive", &self.keepalive)
            .finish_non_exhaustive()
    }
}

impl RawSession {
    /// A session with its sender and the receiving end of its inbound queue. `keepalive` answers and hides the
    /// [`RAW_PING`]/[`RAW_PONG`] sentinels (default-mode sockets; customClient sockets pass everything through).
    /// The inbound queue holds [`SessionConfig::max_in_flight`] frames; outbound frames wait in a mailbox of
    /// [`SessionConfig::outbound_budget`] bytes under [`SessionConfig::slow_consumer`].
    pub fn new(config: SessionConfig, keepalive: bool) -> (RawSession, RawSender, mpsc::Receiver<RawMessage>) {
        let (inbound, inbound_rx) = mpsc::channel(config.max_in_flight);
        let control = RawControl {
            control: Arc::new(Control {
                mailbox: Mailbox::new(config.outbound_budget, config.slow_consumer),
                close_requested: AtomicBool::new(false),
                ended: AtomicBool::new(false),
                ended_notify: Notify::new(),
                on_close: Mutex::new(Vec::new()),
            }),
        };
        let sender = RawSender {
            senders: Arc::new(Senders {
                control: control.clone(),
            }),
        };
        let session = RawSession {
            inbound,
            control,
            config,
            keepalive,
        };
        (session, sender, inbound_rx)
    }

    /// The socket's control.
    pub fn control(&self) -> RawControl {
        self.control.clone()
    }

    /// Drives the socket until it ends; then the receiver yields `None`, sends fail and on-close hooks run.
    pub async fn run<S>(self, mut ws: WebSocket<S>) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ending = self.drive(&mut ws).await;
        // The control is finished when `self` drops: here, or wherever the task is cancelled.
        finish(&mut ws, ending, &self.config).await
    }

    async fn drive<S>(&self, ws: &mut WebSocket<S>) -> Ending
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = &self.config;
        let mailbox = &self.control.control.mailbox;
        let mut liveness = Liveness::new(config.heartbeat, config.write_timeout);
        let far = || Instant::now() + Duration::from_secs(86_400 * 365);
        let mut armed = liveness.next_deadline();
        let timer = tokio::time::sleep_until(armed.unwrap_or_else(far));
        tokio::pin!(timer);
        let mut frames = VecDeque::new();
        let mut warned_drops = false;
        // A reserved slot in the inbound queue: the socket is read only while there is room (backpressure).
        let mut slot = None;
        // Whether the application still receives; once it has dropped its receiver, frames are discarded.
        let mut listening = true;
        let inbound = &self.inbound;
        loop {
            let next = liveness.next_deadline();
            if next.is_some_and(|next| armed.is_none_or(|armed| next < armed)) {
                timer.as_mut().reset(next.unwrap_or_else(far));
                armed = next;
            }
            let backlog = ws.io().queued();
            let reading = (slot.is_some() || !listening) && backlog < config.outbound_budget;
            let take_limit = if backlog == 0 {
                config.outbound_budget.div_ceil(2)
            } else {
                0
            };
            let mut waiting_since = liveness.write_waiting_since;
            tokio::select! {
                biased;
                taken = std::future::poll_fn(|cx| mailbox.poll_take(cx, &mut frames, backlog, take_limit)) => {
                    if taken.dropped > 0
                        && config.slow_consumer == SlowConsumer::DropOldest
                        && !std::mem::replace(&mut warned_drops, true)
                    {
                        warn_limited!(
                            budget = config.outbound_budget,
                            "slow consumer: dropping its oldest frames (logged once per connection)"
                        );
                    }
                    if taken.overflowed {
                        warn_limited!(budget = config.outbound_budget, "slow consumer: outbound budget exceeded; closing with 1013");
                        return Ending::SlowConsumer;
                    }
                    if let Some(control) = taken.control {
                        // What was queued before the close goes out first, as it would have without the close.
                        mailbox.take(&mut frames, backlog);
                        for item in frames.drain(..) {
                            queue_outgoing(ws, item);
                        }
                        let frame = match control {
                            MailControl::Close(frame) => frame,
                            MailControl::Drain(_, frame) => Some(frame),
                        };
                        return Ending::Close(frame, SessionEnd::Closed);
                    }
                    for item in frames.drain(..) {
                        queue_outgoing(ws, item);
                    }
                }
                () = &mut timer => {
                    if let Err(ending) = liveness.tick(ws, config, Instant::now()) {
                        return ending;
                    }
                    armed = liveness.next_deadline();
                    timer.as_mut().reset(armed.unwrap_or_else(far));
                }
                reserved = inbound.reserve(), if listening && slot.is_none() => match reserved {
                    Ok(permit) => slot = Some(permit),
                    Err(_) => listening = false,
                },
                event = std::future::poll_fn(|cx| poll_socket(ws, cx, reading, &mut waiting_since)) => {
                    liveness.write_waiting_since = waiting_since;
                    let received = match socket_turn(event, ws, &mut liveness, mailbox) {
                        Ok(Some(received)) => received,
                        Ok(None) => continue,
                        Err(ending) => return ending,
                    };
                    if std::mem::take(&mut liveness.heard) && liveness.heartbeat.is_some() {
                        liveness.last_inbound = Instant::now();
                    }
                    let message = match received {
                        Received::Text(payload) => match ws.text(&payload) {
                            Some(text) if self.keepalive && is_sentinel(text, RAW_PING) => {
                                let _ = ws.queue_text(RAW_PONG);
                                continue;
                            }
                            Some(text) if self.keepalive && is_sentinel(text, RAW_PONG) => continue,
                            Some(text) => RawMessage::Text(text.to_owned()),
                            None => return invalid_utf8(),
                        },
                        Received::Binary(payload) => RawMessage::Binary(Bytes::copy_from_slice(ws.payload(&payload))),
                        Received::Close(_) | Received::Ping(_) | Received::Pong(_) => continue,
                    };
                    if let Some(permit) = slot.take() {
                        permit.send(message);
                    }
                }
            }
        }
    }
}

/// docs/protocol.md §1.11: a sentinel is a text frame of exactly 13 bytes equal to it.
fn is_sentinel(text: &str, sentinel: &str) -> bool {
    text.len() == sentinel.len() && text == sentinel
}
