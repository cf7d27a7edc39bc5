//! The live connections of one server, for the application (close a user's sockets after revoking access) and
//! for shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use grest_ws_core::auth::WireContext;
use grest_ws_session::websocket::CLOSE_GOING_AWAY;
use grest_ws_session::{CloseFrame, PeerHandle, RawControl};
use http::Extensions;

/// What the application can see of a live connection.
#[derive(Debug)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The endpoint path (for a wildcard raw socket, the concrete request path).
    pub path: String,
    /// What the handshake put into the connection's extensions (middleware context, and each principal whose type
    /// only one of its wires mints).
    pub extensions: Extensions,
    /// What the handshake's wires produced, per wire: principals and ambient values.
    pub wires: WireContext,
}

struct Entry {
    info: SocketInfo,
    handle: Live,
}

/// A live connection's handle: a typed session or a raw byte stream.
#[derive(Clone)]
enum Live {
    Typed(PeerHandle),
    Raw(RawControl),
}

impl Live {
    fn close(&self) {
        match self {
            Live::Typed(handle) => handle.close(),
            Live::Raw(control) => control.close_with(None),
        }
    }

    /// Typed sessions let in-flight handlers finish first; a raw stream has none and closes at once.
    fn drain(&self, deadline: Instant, frame: CloseFrame) {
        match self {
            Live::Typed(handle) => handle.wiring().drain(deadline, frame),
            Live::Raw(control) => control.close_with(Some(frame)),
        }
    }
}

/// The live connections (typed and raw) of a server; cheap to clone.
#[derive(Clone, Default)]
pub struct Sockets {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
    shutting_down: AtomicBool,
    emptied: Notify,
}

impl std::fmt::Debug for Sockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sockets").field("count", &self.count()).finish()
    }
}

impl Sockets {
    /// The number of live connections.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Closes every connection matching `predicate` (e.g. one user's, after their access was revoked, since
    /// scopes are pinned for a connection's life) and returns how many.
    pub fn close_where(&self, predicate: impl Fn(&SocketInfo) -> bool) -> usize {
        let handles: Vec<Live> = self
            .lock()
            .values()
            .filter(|entry| predicate(&entry.info))
            .map(|entry| entry.handle.clone())
            .collect();
        for handle in &handles {
            handle.close();
        }
        handles.len()
    }

    /// Graceful shutdown: new upgrades are refused (HTTP 503); every live connection lets its in-flight handlers
    /// finish for up to `drain`, then closes with 1001 "going away" (clients treat it as a drop and reconnect).
    /// Resolves when every connection has closed, or shortly after the drain time. Call it from axum's
    /// `with_graceful_shutdown` future.
    pub async fn shutdown(&self, drain: Duration) {
        self.inner.shutting_down.store(true, Ordering::Release);
        let deadline = Instant::now() + drain;
        let handles: Vec<Live> = self.lock().values().map(|entry| entry.handle.clone()).collect();
        tracing::info!(connections = handles.len(), ?drain, "draining WebSocket connections");
        for handle in &handles {
            handle.drain(deadline, CloseFrame::new(CLOSE_GOING_AWAY, "Server shutting down"));
        }
        let all_closed = async {
            loop {
                let emptied = self.inner.emptied.notified();
                if self.count() == 0 {
                    return;
                }
                emptied.await;
            }
        };
        // Closing handshakes get a moment beyond the drain time.
        let _ = tokio::time::timeout_at(deadline + Duration::from_secs(2), all_closed).await;
    }

    /// Whether [`Sockets::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }

    /// Adds a connection; it leaves the registry when its session ends.
    pub(crate) fn register(&self, info: SocketInfo, handle: &PeerHandle) {
        let forget = self.insert(info, Live::Typed(handle.clone()));
        handle.on_close(forget);
    }

    /// Adds a raw connection; it leaves the registry when the socket ends.
    pub(crate) fn register_raw(&self, info: SocketInfo, control: &RawControl) {
        let forget = self.insert(info, Live::Raw(control.clone()));
        control.on_close(forget);
    }

    /// Adds an entry; returns the hook that removes it.
    fn insert(&self, info: SocketInfo, handle: Live) -> impl FnOnce() + Send + 'static {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Entry { info, handle });
        let inner = Arc::downgrade(&self.inner);
        move || {
            if let Some(inner) = inner.upgrade() {
                let mut entries = inner.entries.lock().unwrap_or_else(|e| e.into_inner());
                entries.remove(&id);
                if entries.is_empty() {
                    inner.emptied.notify_waiters();
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::pin::pin;

    use futures_util::FutureExt;
    use grest_ws_session::{RawSender, RawSession, SessionConfig};

    use super::*;

    /// Registers a raw connection on `path`; the entry leaves when the returned session drops.
    fn raw(sockets: &Sockets, path: &str) -> (RawSession, RawSender) {
        let (session, sender, _inbound) = RawSession::new(SessionConfig::default(), true);
        let info = SocketInfo {
            path: path.to_owned(),
            extensions: Extensions::new(),
            wires: WireContext::default(),
        };
        sockets.register_raw(info, &session.control());
        (session, sender)
    }

    /// Connections are counted while live; `close_where` closes exactly the matching ones.
    #[test]
    fn close_where_closes_the_matching_connections() {
        let sockets = Sockets::default();
        let (chat_1, chat_1_sender) = raw(&sockets, "/ws/chat");
        let (_chat_2, chat_2_sender) = raw(&sockets, "/ws/chat");
        let (_pty, pty_sender) = raw(&sockets, "/ws/pty");
        assert_eq!(sockets.count(), 3);
        assert_eq!(sockets.close_where(|info| info.path == "/ws/chat"), 2);
        assert!(chat_1_sender.is_closed() && chat_2_sender.is_closed());
        assert!(!pty_sender.is_closed());
        assert_eq!(
            sockets.count(),
            3,
            "closing is asked; entries leave when the sockets end"
        );
        drop(chat_1);
        assert_eq!(sockets.count(), 2);
        assert_eq!(sockets.close_where(|_| false), 0);
        assert_eq!(format!("{sockets:?}"), "Sockets { count: 2 }");
    }

    /// Shutdown marks the registry, asks every connection to close, and resolves once all have ended.
    #[tokio::test]
    async fn shutdown_closes_everything_and_waits_for_the_ends() {
        let sockets = Sockets::default();
        let (first, first_sender) = raw(&sockets, "/a");
        let (second, second_sender) = raw(&sockets, "/b");
        assert!(!sockets.is_shutting_down());
        let mut shutdown = pin!(sockets.shutdown(Duration::from_secs(60)));
        assert!(shutdown.as_mut().now_or_never().is_none(), "two connections still live");
        assert!(sockets.is_shutting_down());
        assert!(first_sender.is_closed() && second_sender.is_closed());
        drop(first);
        assert!(shutdown.as_mut().now_or_never().is_none(), "one connection still live");
        drop(second);
        assert!(shutdown.now_or_never().is_some(), "the last end wakes the shutdown");
        assert_eq!(sockets.count(), 0);
    }
}
