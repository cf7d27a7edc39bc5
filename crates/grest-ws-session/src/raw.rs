//! Raw byte-stream sockets (PROTOCOL.md §1.11, §7): after the handshake a socket carries opaque text and binary
//! frames. One task owns the socket: it writes what the application queued, delivers what arrives to a bounded
//! inbound queue (and stops reading while the application lags behind), answers the keepalive sentinels, and
//! runs the protocol-ping heartbeat. Shared by the server and the client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use grest_ws_core::ServerError;
use grest_ws_core::error::SOCKET_CLOSED;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Error as WsError, Message};

use crate::{SessionConfig, SessionEnd, SessionSocket, close_socket};

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

    fn into_frame(self) -> Message {
        match self {
            RawMessage::Text(text) => Message::text(text),
            RawMessage::Binary(bytes) => Message::Binary(bytes),
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

/// What the socket's task and its handles share: close requests and the end.
struct Control {
    /// The first close request (`Some(None)` = close without a status code).
    close: Mutex<Option<Option<CloseFrame>>>,
    close_requested: Notify,
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
        let mut close = self.control.close.lock().unwrap_or_else(|e| e.into_inner());
        if close.is_none() {
            *close = Some(frame);
            // `notify_one` keeps the wake-up for a task that is not waiting yet.
            self.control.close_requested.notify_one();
        }
    }

    /// Whether a close was requested or the socket has ended.
    pub fn is_closed(&self) -> bool {
        self.control.ended.load(Ordering::Acquire)
            || self.control.close.lock().unwrap_or_else(|e| e.into_inner()).is_some()
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

    fn take_close(&self) -> Option<Option<CloseFrame>> {
        self.control.close.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn finish(&self) {
        if self.control.ended.swap(true, Ordering::AcqRel) {
            return;
        }
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
/// sender — and the receiving side — is gone.
#[derive(Clone)]
pub struct RawSender {
    frames: mpsc::Sender<Message>,
    control: RawControl,
}

impl std::fmt::Debug for RawSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSender").field("closed", &self.is_closed()).finish()
    }
}

impl RawSender {
    /// Queues a frame: text for strings, binary for bytes. Waits while the outbound queue is full; fails with
    /// `SERVER_ERROR` "Socket connection closed!" once the socket is closed.
    pub async fn send(&self, message: impl Into<RawMessage>) -> Result<(), ServerError> {
        if self.control.is_closed() {
            return Err(ServerError::with_display_message(SOCKET_CLOSED));
        }
        self.frames
            .send(message.into().into_frame())
            .await
            .map_err(|_| ServerError::with_display_message(SOCKET_CLOSED))
    }

    /// Closes the socket (close frame without a status code) once the frames already queued are written.
    pub fn close(&self) {
        self.control.close_with(None);
    }

    /// Closes the socket with a status code and reason, once the frames already queued are written.
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        self.control.close_with(frame);
    }

    /// Whether the socket is closed (or closing).
    pub fn is_closed(&self) -> bool {
        self.control.is_closed()
    }

    /// Resolves once the socket has ended.
    pub async fn closed(&self) {
        self.control.closed().await;
    }

    /// Runs `hook` once when the socket ends (at once if it already has).
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        self.control.on_close(hook);
    }

    /// The socket's control (close and observe without keeping the socket open).
    pub fn control(&self) -> RawControl {
        self.control.clone()
    }
}

/// One raw socket's task, created before the socket is handed over so the application can hold its sender and
/// receiver while the connection is being set up.
pub struct RawSession {
    frames: mpsc::Receiver<Message>,
    inbound: mpsc::Sender<RawMessage>,
    control: RawControl,
    config: SessionConfig,
    keepalive: bool,
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
    /// The inbound queue holds [`SessionConfig::max_in_flight`] frames, the outbound one
    /// [`SessionConfig::outbound_capacity`].
    pub fn new(config: SessionConfig, keepalive: bool) -> (RawSession, RawSender, mpsc::Receiver<RawMessage>) {
        let (frame_tx, frames) = mpsc::channel(config.outbound_capacity);
        let (inbound, inbound_rx) = mpsc::channel(config.max_in_flight);
        let control = RawControl {
            control: Arc::new(Control {
                close: Mutex::new(None),
                close_requested: Notify::new(),
                ended: AtomicBool::new(false),
                ended_notify: Notify::new(),
                on_close: Mutex::new(Vec::new()),
            }),
        };
        let sender = RawSender {
            frames: frame_tx,
            control: control.clone(),
        };
        let session = RawSession {
            frames,
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
    pub async fn run<S>(self, ws: SessionSocket<S>) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let control = self.control.clone();
        let end = self.drive(ws).await;
        control.finish();
        end
    }

    async fn drive<S>(mut self, mut ws: SessionSocket<S>) -> SessionEnd
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = &self.config;
        let heartbeat = config.heartbeat;
        let mut last_inbound = Instant::now();
        let mut ping_at = last_inbound + heartbeat.map_or(Duration::ZERO, |h| h.interval);
        let next_deadline = |last_inbound: Instant, ping_at: Instant| {
            heartbeat.map_or_else(
                || Instant::now() + Duration::from_secs(86_400 * 365),
                |h| ping_at.min(last_inbound + h.interval + h.timeout),
            )
        };
        let timer = tokio::time::sleep_until(next_deadline(last_inbound, ping_at));
        tokio::pin!(timer);
        // A reserved slot in the inbound queue: the socket is read only while there is room (backpressure).
        let mut slot = None;
        // Whether the application still receives; once it has dropped its receiver, frames are discarded.
        let mut listening = true;
        let inbound = &self.inbound;
        loop {
            tokio::select! {
                biased;
                () = self.control.control.close_requested.notified() => {
                    // What was queued before the close goes out first, as it would have without the close.
                    while let Ok(frame) = self.frames.try_recv() {
                        if let Err(end) = write(&mut ws, frame, config.write_timeout).await {
                            return end;
                        }
                    }
                    let frame = self.control.take_close().flatten();
                    close_socket(&mut ws, frame, config.close_timeout).await;
                    return SessionEnd::Closed;
                }
                frame = self.frames.recv() => match frame {
                    Some(frame) => {
                        if let Err(end) = write(&mut ws, frame, config.write_timeout).await {
                            return end;
                        }
                    }
                    // Every sender is gone (the receiver may live on, but nothing can ever answer it).
                    None => {
                        close_socket(&mut ws, None, config.close_timeout).await;
                        return SessionEnd::Closed;
                    }
                },
                () = &mut timer => {
                    let now = Instant::now();
                    if let Some(h) = heartbeat {
                        if now >= last_inbound + h.interval + h.timeout {
                            tracing::warn!("no inbound traffic within the heartbeat deadline; dropping the connection");
                            return SessionEnd::HeartbeatTimeout;
                        }
                        if now >= ping_at {
                            if let Err(end) = write(&mut ws, Message::Ping(Bytes::new()), config.write_timeout).await {
                                return end;
                            }
                            ping_at = now + h.interval;
                        }
                    }
                    timer.as_mut().reset(next_deadline(last_inbound, ping_at));
                }
                reserved = inbound.reserve(), if listening && slot.is_none() => match reserved {
                    Ok(permit) => slot = Some(permit),
                    Err(_) => listening = false,
                },
                next = ws.next(), if slot.is_some() || !listening => {
                    if heartbeat.is_some() {
                        last_inbound = Instant::now();
                        timer.as_mut().reset(next_deadline(last_inbound, ping_at));
                    }
                    let message = match next {
                        None | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => {
                            return SessionEnd::PeerClosed(None);
                        }
                        Some(Ok(message)) => message,
                        Some(Err(WsError::Capacity(_))) => {
                            tracing::warn!("inbound frame over the size limit; closing with 1009");
                            let close = CloseFrame { code: CloseCode::Size, reason: "Message too big".into() };
                            close_socket(&mut ws, Some(close), config.close_timeout).await;
                            return SessionEnd::MessageTooBig;
                        }
                        Some(Err(e)) => return SessionEnd::Error(e.to_string()),
                    };
                    let message = match message {
                        Message::Text(text) if self.keepalive && is_sentinel(&text, RAW_PING) => {
                            if let Err(end) = write(&mut ws, Message::text(RAW_PONG), config.write_timeout).await {
                                return end;
                            }
                            continue;
                        }
                        Message::Text(text) if self.keepalive && is_sentinel(&text, RAW_PONG) => continue,
                        Message::Text(text) => RawMessage::Text(text.as_str().to_owned()),
                        Message::Binary(bytes) => RawMessage::Binary(bytes),
                        Message::Close(frame) => {
                            // tungstenite answers the close; let it reach the peer.
                            let _ = tokio::time::timeout(config.write_timeout, ws.flush()).await;
                            return SessionEnd::PeerClosed(frame.map(|f| u16::from(f.code)));
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    };
                    if let Some(permit) = slot.take() {
                        permit.send(message);
                    }
                }
            }
        }
    }
}

/// PROTOCOL.md §1.11: a sentinel is a text frame of exactly 13 bytes equal to it.
fn is_sentinel(text: &str, sentinel: &str) -> bool {
    text.len() == sentinel.len() && text == sentinel
}

async fn write<S>(ws: &mut SessionSocket<S>, message: Message, limit: Duration) -> Result<(), SessionEnd>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::time::timeout(limit, ws.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SessionEnd::Error(e.to_string())),
        Err(_) => {
            tracing::warn!("peer stopped reading: write deadline missed; dropping the connection");
            Err(SessionEnd::SlowConsumer)
        }
    }
}
