//! A connection's outbound mailbox: any task pushes frames without waiting; the session task drains everything
//! pending at once and writes it with one vectored write.
//!
//! A push appends a shared frame (a reference-counted `Bytes`, built once for every recipient of a broadcast)
//! under a short lock and wakes the session only on the idle → scheduled transition, so a burst of pushes costs
//! one wake. The mailbox has a byte budget covering what it holds plus what the session has taken but not yet
//! written; a push past the budget follows the endpoint's [`SlowConsumer`] policy and never waits. The awaiting
//! push ([`Mailbox::push`]) is for callers that want backpressure instead: it waits for room.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use grest_ws_core::ServerError;
use grest_ws_core::error::{INVALID_ARGUMENTS, REQUEST_TIMEOUT, SOCKET_CLOSED};
use tokio::sync::Notify;

use crate::websocket::CloseFrame;

/// What a connection does when a push would take its outbound queue past its byte budget
/// ([`crate::SessionConfig::outbound_budget`]). Either way the publisher never waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowConsumer {
    /// Close the connection: what is being written finishes, everything still queued is dropped (and counted), a
    /// Close frame with [`CLOSE_SLOW_CONSUMER`] (1013, "Slow consumer") follows, and the socket ends. The client
    /// reconnects as after any drop. The default: memory per stalled connection stays at the budget.
    #[default]
    Close,
    /// Keep the connection and drop its oldest queued pushes (then the new one, if it still does not fit); every
    /// dropped push is counted. Requests to the client are never dropped. For feeds where only the latest state
    /// matters (prices, positions).
    DropOldest,
}

/// The close code sent to a slow consumer: 1013, "Try Again Later" (RFC 6455 §7.4.1, IANA registry).
pub const CLOSE_SLOW_CONSUMER: u16 = 1013;

/// Why a push was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// The connection is closed (or closing).
    #[error("the connection is closed")]
    Closed,
    /// The connection's outbound budget is exhausted: under [`SlowConsumer::Close`] it is being closed; under
    /// [`SlowConsumer::DropOldest`] no older push could make room (only replies were queued), so this one was
    /// dropped. Counted either way.
    #[error("the connection is not reading fast enough; the push was dropped")]
    SlowConsumer,
    /// The message failed its declared constraints or did not serialize; nothing was queued.
    #[error("invalid arguments")]
    Invalid,
}

/// Why a message or request did not complete on the socket — the transport side of a failure, as opposed to an
/// error the peer answered with. Converts into the `SERVER_ERROR` a grest peer reports for each case (the
/// display messages are the original's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// There is no live socket now: a client reconnecting (or not connected yet).
    NotConnected,
    /// The socket ended before the message was queued, or before the reply arrived, or the handle was closed.
    Closed,
    /// No reply within the request timeout ([`crate::SessionConfig::request_timeout`]).
    TimedOut,
    /// The message failed its declared constraints or did not serialize; nothing was sent.
    Invalid,
}

/// The message of [`SendError::NotConnected`]. (The original says "Call connect() first", which is advice for a
/// programmer that end users got to read while a client reconnected.)
const NOT_CONNECTED: &str = "Not connected right now: reconnecting…";

impl SendError {
    /// Whether the failure means the socket was gone (the outbound result `CONNECTION_CLOSED` of metrics).
    pub fn is_disconnect(self) -> bool {
        matches!(self, SendError::NotConnected | SendError::Closed)
    }

    /// The display message of the `SERVER_ERROR` this failure becomes.
    pub fn message(self) -> &'static str {
        match self {
            SendError::NotConnected => NOT_CONNECTED,
            SendError::Closed => SOCKET_CLOSED,
            SendError::TimedOut => REQUEST_TIMEOUT,
            SendError::Invalid => INVALID_ARGUMENTS,
        }
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for ServerError {
    fn from(error: SendError) -> Self {
        ServerError::with_display_message(error.message())
    }
}

/// One queued outbound frame.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A complete server frame (WebSocket header and payload), possibly shared by many connections.
    Frame(Bytes),
    /// A complete server frame in `bytes[start..]`, built for this connection alone (copied into the write queue
    /// when small, so it never needs a shared buffer of its own).
    OwnedFrame(Vec<u8>, usize),
    /// A UTF-8 text payload that the WebSocket layer frames (the client role masks every frame with its own key),
    /// possibly shared.
    Text(Bytes),
    /// A UTF-8 text payload for this connection alone, framed by the WebSocket layer.
    OwnedText(Vec<u8>),
    /// A binary payload that the WebSocket layer frames (raw sockets).
    Binary(Bytes),
}

impl Outgoing {
    fn len(&self) -> usize {
        match self {
            Outgoing::Frame(frame) => frame.len(),
            Outgoing::OwnedFrame(bytes, start) => bytes.len() - start,
            Outgoing::Text(text) => text.len(),
            Outgoing::OwnedText(text) => text.len(),
            Outgoing::Binary(bytes) => bytes.len(),
        }
    }
}

/// What the session is asked to do besides writing frames.
#[derive(Debug)]
pub(crate) enum Control {
    /// Close the socket with this close frame (`None` = no status code) and end the session.
    Close(Option<CloseFrame>),
    /// Let in-flight handlers finish (until the deadline), then close with this frame.
    Drain(tokio::time::Instant, CloseFrame),
}

#[derive(Debug)]
struct Queued {
    item: Outgoing,
    /// Pushes may be dropped by [`SlowConsumer::DropOldest`]; requests may not.
    droppable: bool,
}

#[derive(Default)]
struct Inbox {
    queue: VecDeque<Queued>,
    bytes: usize,
    waker: Option<Waker>,
    /// The session was woken and has not gone back to waiting: further pushes need no wake.
    scheduled: bool,
    control: Option<Control>,
    overflowed: bool,
    closed: bool,
    dropped: u64,
}

impl Inbox {
    /// Something besides frames for the session: a control, an overflow, drops to report.
    fn has_news(&self) -> bool {
        self.control.is_some() || self.overflowed || self.dropped > 0
    }
}

/// What the session took from the mailbox besides frames.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) control: Option<Control>,
    /// A push exceeded the budget under [`SlowConsumer::Close`]: close the connection.
    pub(crate) overflowed: bool,
    /// Pushes dropped since the last take.
    pub(crate) dropped: u64,
}

/// One socket's outbound mailbox.
pub(crate) struct Mailbox {
    inbox: Mutex<Inbox>,
    /// Bytes the session has taken but not yet written.
    backlog: AtomicUsize,
    /// Awaiting pushers, woken when the session frees room.
    space: Notify,
    waiting: AtomicUsize,
    budget: usize,
    policy: SlowConsumer,
}

impl Mailbox {
    pub(crate) fn new(budget: usize, policy: SlowConsumer) -> Self {
        Mailbox {
            inbox: Mutex::new(Inbox::default()),
            backlog: AtomicUsize::new(0),
            space: Notify::new(),
            waiting: AtomicUsize::new(0),
            budget,
            policy,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `len` more bytes would take the queue past the budget. A frame always fits an empty queue, so one
    /// message larger than the budget still goes out.
    fn over(&self, inbox: &Inbox, len: usize) -> bool {
        let queued = inbox.bytes + self.backlog.load(Ordering::Relaxed);
        queued > 0 && queued + len > self.budget
    }

    fn enqueue(inbox: &mut Inbox, item: Outgoing, droppable: bool) {
        inbox.bytes += item.len();
        inbox.queue.push_back(Queued { item, droppable });
        Self::schedule(inbox);
    }

    /// Wakes the session for new frames, unless it already knows there are some.
    fn schedule(inbox: &mut Inbox) {
        if !inbox.scheduled {
            inbox.scheduled = true;
            Self::wake(inbox);
        }
    }

    fn wake(inbox: &Inbox) {
        if let Some(waker) = &inbox.waker {
            waker.wake_by_ref();
        }
    }

    /// Queues a push without waiting; past the budget the slow-consumer policy decides.
    pub(crate) fn try_push(&self, item: Outgoing) -> Result<(), PushError> {
        let mut inbox = self.lock();
        if inbox.closed {
            return Err(PushError::Closed);
        }
        if inbox.overflowed {
            inbox.dropped += 1;
            return Err(PushError::SlowConsumer);
        }
        let len = item.len();
        if self.over(&inbox, len) {
            match self.policy {
                SlowConsumer::Close => {
                    inbox.overflowed = true;
                    inbox.dropped += 1;
                    Self::wake(&inbox);
                    return Err(PushError::SlowConsumer);
                }
                SlowConsumer::DropOldest => {
                    while self.over(&inbox, len) {
                        let Some(at) = inbox.queue.iter().position(|q| q.droppable) else {
                            break;
                        };
                        if let Some(old) = inbox.queue.remove(at) {
                            inbox.bytes -= old.item.len();
                            inbox.dropped += 1;
                        }
                    }
                    if self.over(&inbox, len) {
                        inbox.dropped += 1;
                        return Err(PushError::SlowConsumer);
                    }
                }
            }
        }
        Self::enqueue(&mut inbox, item, true);
        Ok(())
    }

    /// Queues a frame, waiting while the queue is over its budget (backpressure for the caller). `droppable`:
    /// whether [`SlowConsumer::DropOldest`] may drop it later.
    pub(crate) async fn push(&self, item: Outgoing, droppable: bool) -> Result<(), PushError> {
        // A caller pushing in a loop must still let other tasks (the session among them) run.
        tokio::task::coop::consume_budget().await;
        let len = item.len();
        loop {
            {
                let mut inbox = self.lock();
                if inbox.closed || inbox.overflowed {
                    return Err(PushError::Closed);
                }
                if !self.over(&inbox, len) {
                    Self::enqueue(&mut inbox, item, droppable);
                    return Ok(());
                }
            }
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.waiting.fetch_add(1, Ordering::AcqRel);
            let full = {
                let inbox = self.lock();
                !(inbox.closed || inbox.overflowed) && self.over(&inbox, len)
            };
            if full {
                notified.await;
            }
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Asks the session to close or drain. A close replaces a pending drain; a drain never replaces a close.
    pub(crate) fn control(&self, control: Control) {
        let mut inbox = self.lock();
        if inbox.closed || matches!(inbox.control, Some(Control::Close(_))) {
            return;
        }
        inbox.control = Some(control);
        Self::wake(&inbox);
    }

    /// The session takes what is pending — frames up to `limit` bytes (at least one; `0`: none, the socket is
    /// still busy with earlier ones), appended to `frames`, and any control — or registers to be woken. `backlog`
    /// is what the session already holds unwritten.
    ///
    /// Frames the session does not take stay here, where [`SlowConsumer::DropOldest`] can still drop them, and
    /// further pushes do not wake the session for them: it comes back when its socket has room.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        frames: &mut VecDeque<Outgoing>,
        backlog: usize,
        limit: usize,
    ) -> Poll<Taken> {
        let mut inbox = self.lock();
        if !inbox.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            inbox.waker = Some(cx.waker().clone());
        }
        if inbox.has_news() || (limit > 0 && !inbox.queue.is_empty()) {
            return Poll::Ready(self.take_locked(&mut inbox, frames, backlog, limit));
        }
        // Frames left waiting (limit 0) need no wake: the session returns for them when its socket drains.
        inbox.scheduled = !inbox.queue.is_empty();
        Poll::Pending
    }

    /// Takes every pending frame and any control, without registering to be woken.
    pub(crate) fn take(&self, frames: &mut VecDeque<Outgoing>, backlog: usize) -> Option<Taken> {
        let mut inbox = self.lock();
        (inbox.has_news() || !inbox.queue.is_empty()).then(|| self.take_locked(&mut inbox, frames, backlog, usize::MAX))
    }

    fn take_locked(&self, inbox: &mut Inbox, frames: &mut VecDeque<Outgoing>, backlog: usize, limit: usize) -> Taken {
        let mut taken = 0;
        while taken < limit {
            let Some(queued) = inbox.queue.pop_front() else { break };
            taken += queued.item.len();
            frames.push_back(queued.item);
        }
        inbox.bytes -= taken;
        self.backlog.store(backlog + taken, Ordering::Relaxed);
        if inbox.queue.is_empty() && inbox.queue.capacity() > 64 {
            inbox.queue = VecDeque::new();
        }
        Taken {
            control: inbox.control.take(),
            overflowed: inbox.overflowed,
            dropped: std::mem::take(&mut inbox.dropped),
        }
    }

    /// The session wrote some of its backlog; `backlog` is what is left. Wakes awaiting pushers when there is room.
    pub(crate) fn written(&self, backlog: usize) {
        self.backlog.store(backlog, Ordering::Relaxed);
        if self.waiting.load(Ordering::Acquire) > 0 && backlog < self.budget {
            self.space.notify_waiters();
        }
    }

    /// The socket is gone: pushes fail from now on, and what was queued is dropped (returns how many frames).
    pub(crate) fn close(&self) -> usize {
        let mut inbox = self.lock();
        inbox.closed = true;
        inbox.bytes = 0;
        inbox.waker = None;
        let dropped = inbox.queue.len();
        inbox.queue = VecDeque::new();
        drop(inbox);
        self.space.notify_waiters();
        dropped
    }

    /// Whether the socket is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_become_the_originals_server_errors() {
        for (error, message, disconnect) in [
            (SendError::NotConnected, NOT_CONNECTED, true),
            (SendError::Closed, "Socket connection closed!", true),
            (SendError::TimedOut, "Request timeout", false),
            (SendError::Invalid, "Invalid arguments", false),
        ] {
            let server_error = ServerError::from(error);
            assert_eq!(server_error.context.display_message.as_deref(), Some(message));
            assert_eq!(error.to_string(), message);
            assert_eq!(error.is_disconnect(), disconnect);
        }
    }

    fn frame(len: usize) -> Outgoing {
        Outgoing::Frame(Bytes::from(vec![b'x'; len]))
    }

    fn take(mailbox: &Mailbox) -> (Vec<usize>, Taken) {
        let mut frames = VecDeque::new();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        match mailbox.poll_take(&mut cx, &mut frames, 0, usize::MAX) {
            Poll::Ready(taken) => (frames.iter().map(Outgoing::len).collect(), taken),
            Poll::Pending => (Vec::new(), Taken::default()),
        }
    }

    #[test]
    fn close_policy_marks_overflow_and_drops_the_push() {
        let mailbox = Mailbox::new(100, SlowConsumer::Close);
        assert_eq!(mailbox.try_push(frame(60)), Ok(()));
        assert_eq!(mailbox.try_push(frame(60)), Err(PushError::SlowConsumer));
        assert_eq!(mailbox.try_push(frame(1)), Err(PushError::SlowConsumer));
        let (frames, taken) = take(&mailbox);
        assert_eq!(frames, [60]);
        assert!(taken.overflowed);
        assert_eq!(taken.dropped, 2);
    }

    #[test]
    fn a_frame_larger_than_the_budget_fits_an_empty_queue() {
        let mailbox = Mailbox::new(10, SlowConsumer::Close);
        assert_eq!(mailbox.try_push(frame(50)), Ok(()));
        assert_eq!(take(&mailbox).0, [50]);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_within_budget() {
        let mailbox = Mailbox::new(100, SlowConsumer::DropOldest);
        for len in [40, 41, 42] {
            assert_eq!(mailbox.try_push(frame(len)), Ok(()));
        }
        let (frames, taken) = take(&mailbox);
        assert_eq!(frames, [41, 42]);
        assert_eq!(taken.dropped, 1);
        assert!(!taken.overflowed);
    }

    #[test]
    fn the_backlog_counts_against_the_budget() {
        let mailbox = Mailbox::new(100, SlowConsumer::Close);
        mailbox.written(90);
        assert_eq!(mailbox.try_push(frame(20)), Err(PushError::SlowConsumer));
    }

    #[test]
    fn a_busy_session_takes_news_but_leaves_frames_for_later() {
        let mailbox = Mailbox::new(1000, SlowConsumer::Close);
        assert_eq!(mailbox.try_push(frame(10)), Ok(()));
        mailbox.control(Control::Close(None));
        let mut frames = VecDeque::new();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(taken) = mailbox.poll_take(&mut cx, &mut frames, 0, 0) else {
            panic!("the close is news")
        };
        assert!(matches!(taken.control, Some(Control::Close(None))));
        assert!(frames.is_empty());
        assert!(mailbox.poll_take(&mut cx, &mut frames, 0, 0).is_pending());
        assert!(mailbox.poll_take(&mut cx, &mut frames, 0, 5).is_ready());
        assert_eq!(frames.len(), 1);
    }

    #[test]
    fn pushes_fail_once_closed() {
        let mailbox = Mailbox::new(100, SlowConsumer::Close);
        assert_eq!(mailbox.try_push(frame(10)), Ok(()));
        assert_eq!(mailbox.close(), 1);
        assert_eq!(mailbox.try_push(frame(10)), Err(PushError::Closed));
    }
}
