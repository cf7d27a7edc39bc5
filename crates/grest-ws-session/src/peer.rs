//! The cloneable handle that sends to the peer and correlates requests with their replies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grest_ws_core::error::{MethodError, REQUEST_TIMEOUT, SOCKET_CLOSED};
use grest_ws_core::frame::{FrameKind, write_frame_head};
use grest_ws_core::validate::{Path, Validate};
use grest_ws_core::{GrestError, ServerError, ValidationError};
use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use crate::dispatch::not_connected;

/// What the handle asks the session task to do.
#[derive(Debug)]
pub(crate) enum Command {
    /// Write this text frame.
    Send(String),
    /// Close the socket with this close frame (`None` = no status code) and end the session.
    Close(Option<CloseFrame>),
}

type ReplySlot = oneshot::Sender<Option<String>>;
type CloseHook = Box<dyn FnOnce() + Send>;

pub(crate) struct Shared {
    pub(crate) commands: mpsc::Sender<Command>,
    pending: Mutex<HashMap<u64, ReplySlot>>,
    next_id: AtomicU64,
    closed: AtomicBool,
    closed_notify: Notify,
    settled_notify: Notify,
    on_close: Mutex<Vec<CloseHook>>,
    request_timeout: Duration,
}

/// A cloneable handle to one live session: send messages, make requests, close, observe the end.
///
/// The generated typed handles (`Peer`, `Client`) wrap this.
#[derive(Clone)]
pub struct PeerHandle {
    pub(crate) shared: Arc<Shared>,
    /// Present on handles that own the session: when the last of them is dropped, the session closes.
    _owner: Option<Arc<Owner>>,
}

/// Closes the session when the last owning handle goes away, so a dropped client does not leak its connection.
struct Owner {
    commands: mpsc::Sender<Command>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let _ = self.commands.try_send(Command::Close(None));
    }
}

impl std::fmt::Debug for PeerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerHandle").field("closed", &self.is_closed()).finish()
    }
}

impl PeerHandle {
    /// A handle that owns the session: the session closes once it and all its clones are dropped.
    pub(crate) fn owning(&self) -> PeerHandle {
        PeerHandle {
            shared: self.shared.clone(),
            _owner: Some(Arc::new(Owner {
                commands: self.shared.commands.clone(),
            })),
        }
    }

    pub(crate) fn new(commands: mpsc::Sender<Command>, request_timeout: Duration) -> Self {
        PeerHandle {
            _owner: None,
            shared: Arc::new(Shared {
                commands,
                pending: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                closed: AtomicBool::new(false),
                closed_notify: Notify::new(),
                settled_notify: Notify::new(),
                on_close: Mutex::new(Vec::new()),
                request_timeout,
            }),
        }
    }

    /// Sends a fire-and-forget message; resolves once the frame is queued for the socket.
    pub async fn notify<T: Serialize + ?Sized>(&self, path: &str, data: Option<&T>) -> Result<(), ServerError> {
        let text = encode_frame(FrameKind::Message, path, None, data)?;
        self.enqueue(text).await
    }

    /// Sends a request and waits for the raw reply data (the envelope text), or fails with `SERVER_ERROR`
    /// ("Request timeout", "Socket connection closed!").
    pub async fn request<T: Serialize + ?Sized>(
        &self,
        path: &str,
        data: Option<&T>,
    ) -> Result<Option<String>, ServerError> {
        if self.is_closed() {
            return Err(not_connected());
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let text = encode_frame(FrameKind::Request, path, Some(id), data)?;
        let (slot, reply) = oneshot::channel();
        self.lock_pending().insert(id, slot);
        if let Err(error) = self.enqueue(text).await {
            self.forget(id);
            return Err(error);
        }
        match tokio::time::timeout(self.shared.request_timeout, reply).await {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(_)) => Err(ServerError::with_display_message(SOCKET_CLOSED)),
            Err(_) => {
                self.forget(id);
                Err(ServerError::with_display_message(REQUEST_TIMEOUT))
            }
        }
    }

    /// Typed request: validates the input's declared constraints locally (invalid input never reaches the wire),
    /// sends it, and decodes the reply with the method's listing rule.
    pub async fn call<I, O, E>(&self, path: &str, input: Option<&I>) -> Result<O, E>
    where
        I: Serialize + Validate + ?Sized,
        O: serde::de::DeserializeOwned + Validate,
        E: MethodError,
    {
        check_outgoing(input).map_err(|e| E::from_wire(e.to_wire()))?;
        let data = self.request(path, input).await.map_err(E::server_error)?;
        grest_ws_core::envelope::decode_reply::<O, E>(data.as_deref())
    }

    /// Typed fire-and-forget: validates the input locally, then sends it.
    pub async fn send<I: Serialize + Validate + ?Sized>(
        &self,
        path: &str,
        input: Option<&I>,
    ) -> Result<(), ServerError> {
        check_outgoing(input).map_err(|_| ServerError::with_display_message("Invalid arguments"))?;
        self.notify(path, input).await
    }

    /// Closes the socket at once (close frame without a status code); pending requests fail.
    pub fn close(&self) {
        self.close_with(None);
    }

    /// Closes the socket with a status code and reason.
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        if !self.is_closed() {
            let _ = self.shared.commands.try_send(Command::Close(frame));
        }
    }

    /// Graceful close: waits up to `grace` for this side's outstanding requests to settle, then closes.
    pub async fn disconnect(&self, grace: Duration) {
        let settled = async {
            loop {
                let notified = self.shared.settled_notify.notified();
                if self.lock_pending().is_empty() {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(grace, settled).await;
        self.close();
        self.closed().await;
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Resolves when the session has ended.
    pub async fn closed(&self) {
        loop {
            let notified = self.shared.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Runs `hook` once when the session ends (at once if it already has).
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        let mut hooks = self.shared.on_close.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closed() {
            drop(hooks);
            hook();
        } else {
            hooks.push(Box::new(hook));
        }
    }

    /// Number of this side's requests still waiting for a reply.
    pub fn pending_requests(&self) -> usize {
        self.lock_pending().len()
    }

    async fn enqueue(&self, text: String) -> Result<(), ServerError> {
        if self.is_closed() {
            return Err(not_connected());
        }
        self.shared
            .commands
            .send(Command::Send(text))
            .await
            .map_err(|_| ServerError::with_display_message(SOCKET_CLOSED))
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, ReplySlot>> {
        self.shared.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self, id: u64) {
        self.lock_pending().remove(&id);
        self.shared.settled_notify.notify_waiters();
    }

    /// Hands a received reply to its waiting request; `false` when no request has that id.
    pub(crate) fn resolve(&self, id: Option<&str>, data: Option<&str>) -> bool {
        let Some(id) = id.and_then(|id| id.parse::<u64>().ok()) else {
            return false;
        };
        let slot = self.lock_pending().remove(&id);
        self.shared.settled_notify.notify_waiters();
        match slot {
            Some(slot) => {
                let _ = slot.send(data.map(str::to_owned));
                true
            }
            None => false,
        }
    }

    /// Marks the session ended: pending requests fail, close hooks run, waiters wake. Idempotent.
    pub(crate) fn finish(&self) {
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        self.lock_pending().clear();
        self.shared.settled_notify.notify_waiters();
        let hooks = std::mem::take(&mut *self.shared.on_close.lock().unwrap_or_else(|e| e.into_inner()));
        for hook in hooks {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(hook)).is_err() {
                tracing::error!("an on-close hook panicked");
            }
        }
        self.shared.closed_notify.notify_waiters();
    }
}

fn check_outgoing<I: Validate + ?Sized>(input: Option<&I>) -> Result<(), ValidationError> {
    let Some(input) = input else { return Ok(()) };
    let mut issues = Vec::new();
    input.validate(&mut Path::root(), &mut issues);
    if issues.is_empty() {
        Ok(())
    } else {
        Err(ValidationError::new(issues))
    }
}

/// Builds a text frame with the payload serialized straight into it.
fn encode_frame<T: Serialize + ?Sized>(
    kind: FrameKind,
    path: &str,
    id: Option<u64>,
    data: Option<&T>,
) -> Result<String, ServerError> {
    let mut head = String::with_capacity(32 + path.len());
    write_frame_head(&mut head, kind, path, id);
    let mut bytes = head.into_bytes();
    if let Some(data) = data {
        serde_json::to_writer(&mut bytes, data).map_err(|e| {
            tracing::error!(path, error = %e, "outgoing payload failed to serialize");
            ServerError::new()
        })?;
    }
    String::from_utf8(bytes).map_err(|_| ServerError::new())
}
