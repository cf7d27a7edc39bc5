//! The live connections of one server, for the application (close a user's sockets after revoking access) and
//! for shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use grest_ws_session::PeerHandle;
use http::Extensions;

/// What the application can see of a live connection.
#[derive(Debug)]
#[non_exhaustive]
pub struct SocketInfo {
    /// The endpoint path.
    pub path: String,
    /// What the handshake put into the connection's extensions (principals, middleware context).
    pub extensions: Extensions,
}

struct Entry {
    info: SocketInfo,
    handle: PeerHandle,
}

/// The live typed connections of a server; cheap to clone.
#[derive(Clone, Default)]
pub struct Sockets {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Entry>>,
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
        let handles: Vec<PeerHandle> = self
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

    /// Adds a connection; it leaves the registry when its session ends.
    pub(crate) fn register(&self, info: SocketInfo, handle: &PeerHandle) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Entry {
                info,
                handle: handle.clone(),
            },
        );
        let inner = Arc::downgrade(&self.inner);
        handle.on_close(move || {
            if let Some(inner) = inner.upgrade() {
                inner.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            }
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.inner.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
