//! The cloneable handle that sends to the peer and correlates requests with their replies.
//!
//! A handle outlives sockets: each socket is a [`Link`] (its own queue, request ids from 1, pending replies); a
//! reconnecting client attaches a new link to the same handle, so typed handles stay valid across reconnects.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::{Buf, Bytes};
use grest_ws_core::error::MethodError;
use grest_ws_core::frame::{self, FrameKind, write_frame_head};
use grest_ws_core::validate::Validate;
use grest_ws_core::{ErrorEnvelope, GrestError, ServerError, ValidationError};
use serde::Serialize;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::SessionConfig;
use crate::live::{LiveHandlers, LiveSets, PartialHandlers};
use crate::observe::{ConnectionContext, Observer};
use crate::outbound::{Control, Mailbox, Outgoing, PushError, SendError};
use crate::websocket::{CloseFrame, Role, text_frame_header};

/// What a waiting request is told.
enum Reply {
    /// The reply's data (the envelope text).
    Data(Option<String>),
    /// Its deadline passed first.
    TimedOut,
}

type ReplySlot = oneshot::Sender<Reply>;

/// Outstanding requests by id, each with its deadline, and the earliest deadline among them (possibly of one
/// already answered: it only tells the session when to look next).
#[derive(Default)]
struct Pending {
    slots: HashMap<u64, (ReplySlot, Instant), BuildHasherDefault<IdHasher>>,
    earliest: Option<Instant>,
}

/// Hashes a request id with one multiplication (Fibonacci hashing, which spreads sequential ids over the whole
/// word). Ids are chosen here, never by the peer, which can only look them up.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 << 8 | u64::from(*byte)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
type CloseHook = Box<dyn FnOnce() + Send>;

/// One socket's share of a handle: its outbound mailbox and its outstanding requests.
///
/// Request deadlines are served by the session's own timer, not one timer per request: the link keeps the
/// earliest deadline (as nanoseconds after `epoch`, readable without the lock), the session arms its timer for it
/// and, when it fires, fails every request past its deadline and looks for the next earliest — one pass over the
/// outstanding requests per deadline reached, typically once per timeout period.
pub(crate) struct Link {
    pub(crate) mailbox: Mailbox,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    epoch: Instant,
    /// The earliest request deadline, in nanoseconds after `epoch`; `u64::MAX` for none.
    earliest: AtomicU64,
}

impl Link {
    pub(crate) fn new(config: &SessionConfig) -> Self {
        Link {
            mailbox: Mailbox::new(config.outbound_budget, config.slow_consumer),
            pending: Mutex::new(Pending::default()),
            next_id: AtomicU64::new(1),
            epoch: Instant::now(),
            earliest: AtomicU64::new(u64::MAX),
        }
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an outstanding request (under the lock, so the earliest deadline stays consistent with a sweep).
    fn add_pending(&self, id: u64, slot: ReplySlot, deadline: Instant) {
        let mut pending = self.lock_pending();
        pending.slots.insert(id, (slot, deadline));
        if pending.earliest.is_none_or(|earliest| deadline < earliest) {
            pending.earliest = Some(deadline);
            self.publish_earliest(Some(deadline));
        }
    }

    fn publish_earliest(&self, earliest: Option<Instant>) {
        let nanos = earliest.map_or(u64::MAX, |at| {
            u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX - 1)
        });
        self.earliest.store(nanos, Ordering::Release);
    }

    /// Fails every outstanding request (the socket ended): their requesters see "Socket connection closed!".
    fn clear_pending(&self) {
        let mut pending = self.lock_pending();
        pending.slots.clear();
        pending.earliest = None;
        self.publish_earliest(None);
    }

    /// When the session should next look for requests past their deadline.
    pub(crate) fn request_deadline(&self) -> Option<Instant> {
        match self.earliest.load(Ordering::Acquire) {
            u64::MAX => None,
            nanos => Some(self.epoch + Duration::from_nanos(nanos)),
        }
    }

    /// Fails every request whose deadline is `now` or earlier with "Request timeout"; returns how many.
    pub(crate) fn expire(&self, now: Instant) -> usize {
        let mut pending = self.lock_pending();
        if pending.earliest.is_none_or(|earliest| earliest > now) {
            return 0;
        }
        let expired: Vec<u64> = pending
            .slots
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            if let Some((slot, _)) = pending.slots.remove(id) {
                // The requester may have stopped waiting: nothing to tell then.
                let _ = slot.send(Reply::TimedOut);
            }
        }
        let earliest = pending.slots.values().map(|(_, deadline)| *deadline).min();
        pending.earliest = earliest;
        self.publish_earliest(earliest);
        expired.len()
    }
}

pub(crate) struct Shared {
    id: ConnectionId,
    role: Role,
    link: Mutex<Option<Arc<Link>>>,
    /// Set once the handle is closed for good (no reconnect).
    closing: AtomicBool,
    /// Set once everything has ended: pending failed, hooks run.
    closed: AtomicBool,
    closed_notify: Notify,
    closing_notify: Notify,
    settled_notify: Notify,
    /// Tasks waiting in [`PeerHandle::disconnect`] for requests to settle: only then is a settled request announced.
    settle_waiters: AtomicUsize,
    on_close: Mutex<Vec<CloseHook>>,
    request_timeout: Duration,
    log_mode: AtomicU8,
    observer: OnceLock<Arc<dyn Observer>>,
    connection: OnceLock<Arc<ConnectionContext>>,
    /// A client's live handler sets for server-to-client methods (empty on the server).
    live: LiveSets,
}

/// Identifies one connection (one handle) across every server process of a deployment: the node that holds it
/// and a number unique within that node. Rooms address connections by it, on this node or, through a backplane,
/// on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId {
    node: NodeId,
    seq: u64,
}

impl ConnectionId {
    fn next() -> ConnectionId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ConnectionId {
            node: NodeId::current(),
            seq: NEXT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The id of connection `seq` of `node`, as another node names it (a backplane message).
    pub fn from_parts(node: NodeId, seq: u64) -> ConnectionId {
        ConnectionId { node, seq }
    }

    /// The node (process) that holds the connection.
    pub fn node(self) -> NodeId {
        self.node
    }

    /// The connection's number within its node.
    pub fn seq(self) -> u64 {
        self.seq
    }
}

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.node, self.seq)
    }
}

/// Identifies one server (or client) process among the nodes of a deployment: chosen at random when the process
/// first needs it, so restarted processes never reuse an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(u64);

impl NodeId {
    /// This process's id.
    pub fn current() -> NodeId {
        static CURRENT: OnceLock<NodeId> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            use std::hash::BuildHasher;
            // `RandomState` is seeded from the operating system's randomness, once per process.
            let seed = std::collections::hash_map::RandomState::new();
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_nanos());
            NodeId(seed.hash_one((std::process::id(), nanos)))
        })
    }

    /// A node id as another node sent it.
    pub fn from_u64(id: u64) -> NodeId {
        NodeId(id)
    }

    /// The number behind the id.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// How much a handle logs about its traffic (through `tracing`): nothing, failed calls only, or every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum LogMode {
    /// Nothing.
    Off = 0,
    /// Calls that fail (warn).
    #[default]
    NonOk = 1,
    /// Every outgoing and incoming message (info), and failures (warn).
    All = 2,
}

/// A cloneable handle to a peer: send messages, make requests, close, observe the end.
///
/// The generated typed handles (`Peer`, `Client`) wrap this.
#[derive(Clone)]
pub struct PeerHandle {
    pub(crate) shared: Arc<Shared>,
    /// Present on handles that own the connection: when the last of them is dropped, it closes.
    _owner: Option<Arc<Owner>>,
}

/// Releases a handle's hold on the connection — on `close()`, or when the last clone is dropped, so a dropped
/// client does not leak its connection. A client alone on its socket closes the connection on release; a client sharing a socket
/// detaches its contract (and closes the connection when it was the last).
struct Owner {
    released: AtomicBool,
    release: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl Owner {
    fn release(&self) {
        self.released.store(true, Ordering::Release);
        let release = self.release.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(release) = release {
            release();
        }
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.release();
    }
}

fn close_shared(shared: &Shared, frame: Option<CloseFrame>) {
    shared.closing.store(true, Ordering::Release);
    shared.closing_notify.notify_waiters();
    let link = shared.link.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(link) = link {
        link.mailbox.control(Control::Close(frame));
    }
}

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHandle")
            .field("connected", &self.is_connected())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl PeerHandle {
    /// A handle without a socket yet, for the given end of the connection.
    pub(crate) fn new(role: Role, request_timeout: Duration) -> Self {
        PeerHandle {
            _owner: None,
            shared: Arc::new(Shared {
                id: ConnectionId::next(),
                role,
                link: Mutex::new(None),
                closing: AtomicBool::new(false),
                closed: AtomicBool::new(false),
                closed_notify: Notify::new(),
                closing_notify: Notify::new(),
                settled_notify: Notify::new(),
                settle_waiters: AtomicUsize::new(0),
                on_close: Mutex::new(Vec::new()),
                request_timeout,
                log_mode: AtomicU8::new(LogMode::Off as u8),
                observer: OnceLock::new(),
                connection: OnceLock::new(),
                live: LiveSets::default(),
            }),
        }
    }

    fn is_released(&self) -> bool {
        self._owner.as_ref().is_some_and(|o| o.released.load(Ordering::Acquire))
    }

    pub(crate) fn attach(&self, link: Arc<Link>) {
        *self.lock_link() = Some(link);
    }

    /// Ends a socket's link: pushes to it fail, and its outstanding requests fail with "Socket connection
    /// closed!". Returns how many queued frames were dropped.
    pub(crate) fn detach(&self, link: &Arc<Link>) -> usize {
        let dropped = link.mailbox.close();
        link.clear_pending();
        let mut current = self.lock_link();
        if current.as_ref().is_some_and(|l| Arc::ptr_eq(l, link)) {
            *current = None;
        }
        drop(current);
        self.shared.settled_notify.notify_waiters();
        dropped
    }

    /// This connection's id.
    pub fn id(&self) -> ConnectionId {
        self.shared.id
    }

    /// Which end of the connection this handle is.
    pub(crate) fn role(&self) -> Role {
        self.shared.role
    }

    /// The current socket's outbound mailbox, for pushing without waiting (rooms hold one per member).
    pub fn outbox(&self) -> Option<Outbox> {
        self.current_link().map(Outbox)
    }

    fn current_link(&self) -> Option<Arc<Link>> {
        self.lock_link().clone()
    }

    fn lock_link(&self) -> std::sync::MutexGuard<'_, Option<Arc<Link>>> {
        self.shared.link.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends a fire-and-forget message; resolves once the frame is queued for the socket, waiting while the
    /// socket's outbound queue is over its budget (backpressure).
    pub async fn notify<T: Serialize + ?Sized>(&self, path: &'static str, data: Option<&T>) -> Result<(), SendError> {
        let link = self.live_link()?;
        let frame = encode_frame(self.role(), FrameKind::Message, path, None, data)?;
        enqueue(&link, frame, true).await
    }

    /// Queues a fire-and-forget message without waiting: past the socket's outbound budget the endpoint's
    /// slow-consumer policy applies (see [`crate::SlowConsumer`]).
    pub fn try_notify<T: Serialize + ?Sized>(&self, path: &'static str, data: Option<&T>) -> Result<(), PushError> {
        let link = self.live_link().map_err(|_| PushError::Closed)?;
        let frame = encode_frame(self.role(), FrameKind::Message, path, None, data).map_err(|_| PushError::Invalid)?;
        link.mailbox.try_push(frame)
    }

    /// Sends a request and waits for the raw reply data (the envelope text).
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        path: &'static str,
        data: Option<&T>,
    ) -> Result<Option<String>, SendError> {
        let link = self.live_link()?;
        let id = link.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = encode_frame(self.role(), FrameKind::Request, path, Some(id), data)?;
        let (slot, reply) = oneshot::channel();
        // The session's timer enforces the deadline (see `Link`).
        link.add_pending(id, slot, Instant::now() + self.shared.request_timeout);
        if let Err(error) = enqueue(&link, frame, false).await {
            self.forget(&link, id);
            return Err(error);
        }
        match reply.await {
            Ok(Reply::Data(data)) => Ok(data),
            Ok(Reply::TimedOut) => {
                self.settled();
                Err(SendError::TimedOut)
            }
            Err(_) => Err(SendError::Closed),
        }
    }

    /// Sends a request prepared once for many peers (see [`PreparedRequest`]) and waits for the raw reply data.
    pub async fn request_prepared<C, O, E>(
        &self,
        request: &PreparedRequest<C, O, E>,
    ) -> Result<Option<String>, SendError> {
        // Timed only when someone records it.
        let started = self.observer().is_some().then(std::time::Instant::now);
        let result = self.request(request.path, request.data.as_deref()).await;
        if let Some(observer) = self.observer() {
            let kind = match &result {
                // The reply's own outcome: an error envelope names its type; anything else is a success.
                Ok(data) => match data
                    .as_deref()
                    .and_then(|text| serde_json::from_str::<ErrorEnvelope>(text).ok())
                {
                    Some(error) => std::borrow::Cow::Owned(error.error_type),
                    None => std::borrow::Cow::Borrowed("OK"),
                },
                Err(error) if error.is_disconnect() => std::borrow::Cow::Borrowed(CONNECTION_CLOSED),
                Err(_) => std::borrow::Cow::Borrowed(ServerError::TYPE),
            };
            observer.outbound(request.path, &kind, started.map(|started| started.elapsed()));
        }
        result
    }

    /// Sends a message serialized once for many peers (see [`PreparedMessage`]); resolves once queued, waiting
    /// while the socket's outbound queue is over its budget.
    pub async fn send_prepared<C>(&self, message: &PreparedMessage<C>) -> Result<(), SendError> {
        let link = self.live_link()?;
        let result = enqueue(&link, message.outgoing(self.role()), true).await;
        if let Some(observer) = self.observer() {
            let kind = match &result {
                Ok(()) => "OK",
                Err(_) => CONNECTION_CLOSED,
            };
            observer.outbound(message.path, kind, None);
        }
        result
    }

    /// Typed request: validates the input's declared constraints locally (invalid input never reaches the wire),
    /// sends it, and decodes the reply with the method's listing rule.
    pub async fn call<I, O, E>(&self, path: &'static str, input: Option<&I>) -> Result<O, E>
    where
        I: Serialize + Validate + ?Sized,
        O: serde::de::DeserializeOwned + Validate,
        E: MethodError,
    {
        // Timed only when someone records it.
        let started = self.observer().is_some().then(std::time::Instant::now);
        let mut disconnected = false;
        let result = match check_outgoing(input) {
            Err(e) => Err(E::from_envelope(e.to_envelope())),
            Ok(()) => match self.request(path, input).await {
                Ok(data) => grest_ws_core::envelope::decode_reply::<O, E>(data.as_deref()),
                Err(e) => {
                    disconnected = e.is_disconnect();
                    Err(E::server_error(e.into()))
                }
            },
        };
        if let Some(observer) = self.observer() {
            let kind = match &result {
                Ok(_) => std::borrow::Cow::Borrowed("OK"),
                Err(_) if disconnected => std::borrow::Cow::Borrowed(CONNECTION_CLOSED),
                Err(e) => std::borrow::Cow::Owned(e.to_envelope().error_type),
            };
            observer.outbound(path, &kind, started.map(|started| started.elapsed()));
        }
        self.log_outgoing(path, result.as_ref().err().map(MethodError::to_envelope));
        result
    }

    fn log_outgoing(&self, path: &str, error: Option<ErrorEnvelope>) {
        match (self.log_mode(), error) {
            (LogMode::Off, _) | (LogMode::NonOk, None) => {}
            // The error may come from the peer: its message is clipped, and the lines rate-limited.
            (_, Some(error)) => warn_limited!(
                path,
                error_type = %error.error_type,
                error_ref = %error.context.reference,
                message = error.context.display_message.as_deref().map(frame::clip),
                "ws→ failed"
            ),
            (LogMode::All, None) => tracing::info!(path, "ws→"),
        }
    }

    /// Queues a prepared message without waiting; past the socket's outbound budget the endpoint's slow-consumer
    /// policy applies.
    pub fn try_send_prepared<C>(&self, message: &PreparedMessage<C>) -> Result<(), PushError> {
        let result = match self.live_link() {
            Ok(link) => link.mailbox.try_push(message.outgoing(self.role())),
            Err(_) => Err(PushError::Closed),
        };
        self.observe_push(message.path, result)
    }

    /// Reports a push that did not wait, as [`PeerHandle::send`] reports one that did; a push the slow-consumer
    /// policy dropped is counted by the session as dropped instead.
    fn observe_push(&self, path: &'static str, result: Result<(), PushError>) -> Result<(), PushError> {
        if let Some(observer) = self.observer() {
            let kind = match result {
                Ok(()) => Some("OK"),
                Err(PushError::Closed) => Some(CONNECTION_CLOSED),
                Err(PushError::Invalid) => Some(ServerError::TYPE),
                Err(PushError::SlowConsumer) => None,
            };
            if let Some(kind) = kind {
                observer.outbound(path, kind, None);
            }
        }
        result
    }

    /// Typed fire-and-forget without waiting: validates the input locally, then queues it; past the socket's
    /// outbound budget the endpoint's slow-consumer policy applies.
    pub fn try_send<I: Serialize + Validate + ?Sized>(
        &self,
        path: &'static str,
        input: Option<&I>,
    ) -> Result<(), PushError> {
        let result = match check_outgoing(input) {
            Ok(()) => self.try_notify(path, input),
            Err(_) => Err(PushError::Invalid),
        };
        self.observe_push(path, result)
    }

    /// Typed fire-and-forget: validates the input locally, then sends it.
    pub async fn send<I: Serialize + Validate + ?Sized>(
        &self,
        path: &'static str,
        input: Option<&I>,
    ) -> Result<(), SendError> {
        let result = match check_outgoing(input) {
            Err(_) => Err(SendError::Invalid),
            Ok(()) => self.notify(path, input).await,
        };
        if let Some(observer) = self.observer() {
            let kind = match &result {
                Ok(()) => "OK",
                Err(e) if e.is_disconnect() => CONNECTION_CLOSED,
                Err(_) => ServerError::TYPE,
            };
            observer.outbound(path, kind, None);
        }
        self.log_outgoing(path, result.err().map(|e| ServerError::from(e).to_envelope()));
        result
    }

    /// Closes for good, at once (close frame without a status code); outstanding requests fail and a
    /// reconnecting client stops reconnecting.
    pub fn close(&self) {
        self.close_with(None);
    }

    /// Closes for good with a status code and reason (a client's handle on a socket it shares releases its hold
    /// instead: the socket closes with its last client).
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        match &self._owner {
            Some(owner) => {
                owner.release();
                self.shared.closed_notify.notify_waiters();
            }
            None => close_shared(&self.shared, frame),
        }
    }

    /// Closes the current socket without closing the handle: a reconnecting client treats it as a drop and
    /// reconnects (the original's `forceReconnect`); elsewhere it is the same as [`PeerHandle::close`] minus the
    /// finality.
    pub fn drop_socket(&self) {
        if let Some(link) = self.current_link() {
            link.mailbox.control(Control::Close(None));
        }
    }

    /// Graceful close: waits up to `grace` for this side's outstanding requests to settle, then closes.
    pub async fn disconnect(&self, grace: Duration) {
        self.shared.settle_waiters.fetch_add(1, Ordering::SeqCst);
        let settled = async {
            loop {
                let notified = self.shared.settled_notify.notified();
                if self.pending_requests() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(grace, settled).await;
        self.shared.settle_waiters.fetch_sub(1, Ordering::SeqCst);
        self.close();
        if self.current_link().is_some() && self._owner.is_none() {
            self.closed().await;
        }
    }

    /// Whether a socket is attached and the handle is not closed.
    pub fn is_connected(&self) -> bool {
        !self.is_closing() && self.current_link().is_some()
    }

    /// Whether [`PeerHandle::close`] was called (or the last owning handle dropped).
    pub fn is_closing(&self) -> bool {
        self.shared.closing.load(Ordering::Acquire) || self.is_released()
    }

    /// Whether the handle has ended for good (or released its hold on a shared connection).
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire) || self.is_released()
    }

    /// Resolves once [`PeerHandle::close`] was called (or the last owning handle dropped).
    pub async fn closing(&self) {
        loop {
            let notified = self.shared.closing_notify.notified();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }

    /// The observer, if one is installed.
    pub(crate) fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.shared.observer.get()
    }

    /// What handlers see of this connection.
    pub fn connection_context(&self) -> Arc<ConnectionContext> {
        self.shared.connection.get_or_init(Default::default).clone()
    }

    /// How much this handle logs.
    pub fn log_mode(&self) -> LogMode {
        match self.shared.log_mode.load(Ordering::Relaxed) {
            0 => LogMode::Off,
            1 => LogMode::NonOk,
            _ => LogMode::All,
        }
    }

    /// Resolves when the handle has ended for good.
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Runs `hook` once when the handle ends for good (at once if it already has).
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        let mut hooks = self.shared.on_close.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closed() {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    /// Number of this side's requests on the current socket still waiting for a reply.
    pub fn pending_requests(&self) -> usize {
        self.current_link().map_or(0, |link| link.lock_pending().slots.len())
    }

    fn live_link(&self) -> Result<Arc<Link>, SendError> {
        if self.is_closing() {
            return Err(SendError::Closed);
        }
        self.current_link().ok_or(SendError::NotConnected)
    }

    fn forget(&self, link: &Link, id: u64) {
        link.lock_pending().slots.remove(&id);
        self.settled();
    }

    /// A request settled: wakes [`PeerHandle::disconnect`] if it is waiting.
    fn settled(&self) {
        if self.shared.settle_waiters.load(Ordering::SeqCst) > 0 {
            self.shared.settled_notify.notify_waiters();
        }
    }

    /// Hands a received reply to its waiting request; `false` when no request on this link has that id.
    pub(crate) fn resolve(&self, link: &Link, id: Option<&str>, data: Option<&str>) -> bool {
        let Some(id) = id.and_then(|id| id.parse::<u64>().ok()) else {
            return false;
        };
        let slot = link.lock_pending().slots.remove(&id);
        self.settled();
        match slot {
            Some((slot, _)) => {
                let _ = slot.send(Reply::Data(data.map(str::to_owned)));
                true
            }
            None => false,
        }
    }
}

/// The side of a handle that the server and the client use to run its sessions — observers, log modes, ownership,
/// shutdown — kept off [`PeerHandle`]'s own API. Not for applications.
#[doc(hidden)]
pub struct Wiring<'a>(&'a PeerHandle);

impl PeerHandle {
    /// This handle's wiring (see [`Wiring`]).
    #[doc(hidden)]
    pub fn wiring(&self) -> Wiring<'_> {
        Wiring(self)
    }
}

impl Wiring<'_> {
    /// A handle whose `close()` — or the drop of its last clone — runs `release` once instead of closing the
    /// connection (a pooled client detaches its contract). Calls through it fail once released.
    pub fn owned_by(&self, release: impl FnOnce() + Send + 'static) -> PeerHandle {
        PeerHandle {
            shared: self.0.shared.clone(),
            _owner: Some(Arc::new(Owner {
                released: AtomicBool::new(false),
                release: Mutex::new(Some(Box::new(release))),
            })),
        }
    }

    /// Lets in-flight handlers finish (up to `deadline`), then closes the socket with `frame`.
    pub fn drain(&self, deadline: tokio::time::Instant, frame: CloseFrame) {
        if let Some(link) = self.0.current_link() {
            link.mailbox.control(Control::Drain(deadline, frame));
        }
    }

    /// Installs the observer of this connection's traffic (once; later calls are ignored).
    pub fn set_observer(&self, observer: Arc<dyn Observer>) {
        let _ = self.0.shared.observer.set(observer);
    }

    /// Sets what handlers see of this connection in [`crate::current_message`] (once).
    pub fn set_connection_context(&self, context: ConnectionContext) {
        let _ = self.0.shared.connection.set(Arc::new(context));
    }

    /// The client's live handlers of handler type `H` on this connection (one set per contract; made empty on
    /// first use). The typed client's `on` merges into it; the client dispatches inbound messages through it.
    pub fn live_handlers<H: PartialHandlers>(&self) -> Arc<LiveHandlers<H>> {
        self.0.shared.live.get::<H>()
    }

    /// Sets how much this handle logs.
    pub fn set_log_mode(&self, mode: LogMode) {
        self.0.shared.log_mode.store(mode as u8, Ordering::Relaxed);
    }

    /// Ends the handle for good: the socket (if any) is closed, pending requests fail, on-close hooks run,
    /// waiters wake. Idempotent. The server calls it when a connection ends; a reconnecting client when it
    /// gives up.
    pub fn finish(&self) {
        self.0.shared.closing.store(true, Ordering::Release);
        self.0.shared.closing_notify.notify_waiters();
        if self.0.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(link) = self.0.lock_link().take() {
            link.clear_pending();
            link.mailbox.control(Control::Close(None));
        }
        self.0.shared.settled_notify.notify_waiters();
        let hooks = std::mem::take(&mut *self.0.shared.on_close.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)).is_err() {
                tracing::error!("an on-close hook panicked");
            }
        }
        self.0.shared.closed_notify.notify_waiters();
    }
}

/// The outbound result of a call that failed because there was no live socket.
const CONNECTION_CLOSED: &str = "CONNECTION_CLOSED";

async fn enqueue(link: &Link, frame: Outgoing, droppable: bool) -> Result<(), SendError> {
    link.mailbox.push(frame, droppable).await.map_err(|_| SendError::Closed)
}

/// A socket's outbound mailbox: pushes queue without waiting (see [`crate::SlowConsumer`] for what happens past
/// the budget). Cheap to clone; it stays valid after the socket ends, when pushes fail with
/// [`PushError::Closed`].
#[derive(Clone)]
pub struct Outbox(Arc<Link>);

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("closed", &self.is_closed()).finish()
    }
}

impl Outbox {
    /// Queues a prepared server-to-client message without waiting.
    pub fn try_send_prepared<C>(&self, message: &PreparedMessage<C>) -> Result<(), PushError> {
        self.0.mailbox.try_push(Outgoing::Frame(message.frame.clone()))
    }

    /// Whether the socket has ended.
    pub fn is_closed(&self) -> bool {
        self.0.mailbox.is_closed()
    }
}

fn check_outgoing<I: Validate + ?Sized>(input: Option<&I>) -> Result<(), ValidationError> {
    let Some(input) = input else { return Ok(()) };
    grest_ws_core::validate::check(input).map_err(ValidationError::new)
}

/// A fire-and-forget message of contract `C`, serialized (and validated) once, to send to many peers: fan-out
/// copies a reference, not the payload. The generated `Peer::prepare_<method>` functions build them.
pub struct PreparedMessage<C> {
    path: &'static str,
    /// The complete server frame: WebSocket header, then the text.
    frame: Bytes,
    header_len: usize,
    contract: std::marker::PhantomData<fn() -> C>,
}

impl<C> Clone for PreparedMessage<C> {
    fn clone(&self) -> Self {
        PreparedMessage {
            path: self.path,
            frame: self.frame.clone(),
            header_len: self.header_len,
            contract: std::marker::PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for PreparedMessage<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedMessage")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<C> PreparedMessage<C> {
    /// Validates and serializes `input` as an `m` frame of `path`.
    pub fn new<I: Serialize + Validate + ?Sized>(path: &'static str, input: Option<&I>) -> Result<Self, SendError> {
        check_outgoing(input).map_err(|_| SendError::Invalid)?;
        let Outgoing::OwnedFrame(bytes, start) = encode_frame(Role::Server, FrameKind::Message, path, None, input)?
        else {
            unreachable!("the server role builds complete frames")
        };
        let mut frame = Bytes::from(bytes);
        frame.advance(start);
        let header_len = frame.len() - text_len(&frame);
        Ok(PreparedMessage {
            path,
            frame,
            header_len,
            contract: std::marker::PhantomData,
        })
    }

    /// A message another node prepared, from its frame text ([`PreparedMessage::as_str`]): framed once here and
    /// shared by this node's recipients. The text was validated where it was prepared.
    pub fn from_frame_text(path: &'static str, text: &str) -> Self {
        let (header, header_len) = text_frame_header(text.len());
        let mut bytes = Vec::with_capacity(header_len + text.len());
        bytes.extend_from_slice(&header[..header_len]);
        bytes.extend_from_slice(text.as_bytes());
        PreparedMessage {
            path,
            frame: Bytes::from(bytes),
            header_len,
            contract: std::marker::PhantomData,
        }
    }

    /// The frame's text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.frame[self.header_len..]).unwrap_or_default()
    }

    /// The message path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The frame as the given end queues it: the server sends the shared frame as it is; a client frames (and
    /// masks) the text itself.
    fn outgoing(&self, role: Role) -> Outgoing {
        match role {
            Role::Server => Outgoing::Frame(self.frame.clone()),
            Role::Client => Outgoing::Text(self.frame.slice(self.header_len..)),
        }
    }
}

/// A server-to-client request of contract `C`, validated and serialized once, to ask many peers — a room's members,
/// with a backplane on every node: each gets it under its own request id, and each answer decodes as
/// `Result<O, E>`. The generated `Peer::prepare_<method>` functions build them.
pub struct PreparedRequest<C, O, E> {
    path: &'static str,
    /// The input's JSON text.
    data: Option<Box<serde_json::value::RawValue>>,
    types: RequestTypes<C, O, E>,
}

/// The contract, success and error types a [`PreparedRequest`] is for (it holds none of them).
type RequestTypes<C, O, E> = std::marker::PhantomData<fn() -> (C, O, E)>;

impl<C, O, E> std::fmt::Debug for PreparedRequest<C, O, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<C, O, E> PreparedRequest<C, O, E> {
    /// Validates and serializes `input` for requests of `path`.
    pub fn new<I: Serialize + Validate + ?Sized>(path: &'static str, input: Option<&I>) -> Result<Self, SendError> {
        check_outgoing(input).map_err(|_| SendError::Invalid)?;
        let data = input
            .map(|input| serde_json::value::to_raw_value(input).map_err(|_| SendError::Invalid))
            .transpose()?;
        Ok(PreparedRequest {
            path,
            data,
            types: std::marker::PhantomData,
        })
    }

    /// A request another node prepared, from its path and input text (validated where it was prepared).
    pub fn from_parts(path: &'static str, data: Option<&str>) -> Result<Self, SendError> {
        let data = data
            .map(|text| serde_json::value::RawValue::from_string(text.to_owned()).map_err(|_| SendError::Invalid))
            .transpose()?;
        Ok(PreparedRequest {
            path,
            data,
            types: std::marker::PhantomData,
        })
    }

    /// The request path.
    pub fn path(&self) -> &'static str {
        self.path
    }

    /// The input's JSON text.
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref().map(serde_json::value::RawValue::get)
    }
}

/// The payload length announced by a server frame's header.
fn text_len(frame: &[u8]) -> usize {
    match frame.get(1).copied().unwrap_or(0) {
        126 => usize::from(u16::from_be_bytes([frame[2], frame[3]])),
        127 => {
            let mut len = [0u8; 8];
            len.copy_from_slice(&frame[2..10]);
            u64::from_be_bytes(len) as usize
        }
        short => usize::from(short),
    }
}

/// Room left in front of a server frame's text for the longest WebSocket header.
const HEADER_ROOM: usize = 10;

/// Builds a frame with the payload serialized straight into it: for the server, the complete WebSocket frame
/// (header written into room reserved in front, so nothing is copied); for a client, the text, which the
/// WebSocket layer frames and masks.
/// Payload bytes a new frame's buffer has room for before it grows.
const SMALL_PAYLOAD: usize = 256;

fn encode_frame<T: Serialize + ?Sized>(
    role: Role,
    kind: FrameKind,
    path: &str,
    id: Option<u64>,
    data: Option<&T>,
) -> Result<Outgoing, SendError> {
    let room = if role == Role::Server { HEADER_ROOM } else { 0 };
    // Room for a small payload too, so the common frame is built without growing.
    let mut head = String::with_capacity(room + 32 + path.len() + SMALL_PAYLOAD);
    head.extend(std::iter::repeat_n('\0', room));
    write_frame_head(&mut head, kind, path, id);
    let mut bytes = head.into_bytes();
    if let Some(data) = data {
        serde_json::to_writer(&mut bytes, data).map_err(|e| {
            tracing::error!(path, error = %e, "outgoing payload failed to serialize");
            SendError::Invalid
        })?;
    }
    match role {
        Role::Server => {
            let (header, header_len) = text_frame_header(bytes.len() - room);
            let start = room - header_len;
            bytes[start..room].copy_from_slice(&header[..header_len]);
            Ok(Outgoing::OwnedFrame(bytes, start))
        }
        // A frame head and JSON: UTF-8 by construction.
        Role::Client => Ok(Outgoing::OwnedText(bytes)),
    }
}
