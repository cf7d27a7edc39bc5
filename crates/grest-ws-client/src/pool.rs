//! Sharing sockets between clients, by choice: a [`SocketPool`] lets clients with the same URL and handshake
//! headers multiplex over one socket (the original's pooling — the modules of one extendable contract, one
//! handshake). Without a pool every client has a socket of its own.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use grest_ws_session::{DuplexContract, PeerHandle};

use crate::connection::{Callbacks, Modules, SetupFn, release_handle};

/// A set of shared sockets, keyed by URL plus handshake headers and cookies. Cheap to clone (clones share the
/// sockets); sockets leave it when their last client closes.
///
/// A client joins a pool with [`Client::pool`](crate::Client::pool). Clients of *different* contracts with the
/// same parameters share one socket, which runs with the settings of the client that opened it; a second client of
/// a contract already on that socket simply gets a socket of its own.
///
/// ```no_run
/// # use grest_ws_client::{Client, SocketPool};
/// # use grest_ws_core::WebSocketSchema;
/// # use grest_ws_session::DuplexContract;
/// # async fn demo<A, B>(a: WebSocketSchema<A>, b: WebSocketSchema<B>) -> Result<(), Box<dyn std::error::Error>>
/// # where A: DuplexContract<Query = ()>, B: DuplexContract<Query = ()> {
/// let pool = SocketPool::new();
/// let messaging = Client::new(a, "ws://127.0.0.1:3000").pool(&pool).connect(Default::default()).await?;
/// let presence = Client::new(b, "ws://127.0.0.1:3000").pool(&pool).connect(Default::default()).await?;
/// assert_eq!(pool.len(), 1); // one socket, one handshake
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct SocketPool {
    sockets: Arc<Mutex<HashMap<PoolKey, Pooled>>>,
}

/// What clients must send alike to share a socket: the full URL (with the query), the handshake headers and the
/// cookies (sorted).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    pub(crate) url: String,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) cookies: Vec<(String, String)>,
}

impl std::fmt::Debug for SocketPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketPool").field("sockets", &self.len()).finish()
    }
}

/// One shared socket.
struct Pooled {
    handle: PeerHandle,
    modules: Arc<Modules>,
}

impl SocketPool {
    /// An empty pool.
    pub fn new() -> Self {
        SocketPool::default()
    }

    /// How many shared sockets are open.
    pub fn len(&self) -> usize {
        self.lock().values().filter(|p| !p.handle.is_closing()).count()
    }

    /// Whether no shared socket is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<PoolKey, Pooled>> {
        self.sockets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches contract `C` to the open socket of `key`: its typed client, or `None` when there is no such socket
    /// or `C` is already on it (the caller opens a socket of its own then). The callbacks move into the connection
    /// only when the contract is attached.
    pub(crate) fn attach<C: DuplexContract>(
        &self,
        key: &PoolKey,
        setup: &SetupFn,
        callbacks: &mut Option<Callbacks>,
    ) -> Option<C::Client> {
        let sockets = self.lock();
        let pooled = sockets.get(key).filter(|p| !p.handle.is_closing())?;
        let id = pooled.modules.attach_new(&pooled.handle, C::META, setup, || {
            Arc::new(callbacks.take().unwrap_or_default())
        })?;
        Some(C::Client::from(release_handle(&pooled.handle, &pooled.modules, id)))
    }

    /// Shares a newly opened socket under `key`, unless another one took the key meanwhile.
    pub(crate) fn share(&self, key: &PoolKey, handle: &PeerHandle, modules: &Arc<Modules>) {
        let mut sockets = self.lock();
        if sockets.get(key).is_none_or(|p| p.handle.is_closing()) {
            let pooled = Pooled {
                handle: handle.clone(),
                modules: modules.clone(),
            };
            sockets.insert(key.clone(), pooled);
        }
    }

    /// Removes the socket of `modules` from `key` once it has ended.
    pub(crate) fn remove(&self, key: &PoolKey, modules: &Arc<Modules>) {
        let mut sockets = self.lock();
        if sockets.get(key).is_some_and(|p| Arc::ptr_eq(&p.modules, modules)) {
            sockets.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use grest_ws_session::{Role, Session, SessionConfig};

    use super::*;

    fn handle() -> PeerHandle {
        Session::new(Role::Client, SessionConfig::default()).handle().clone()
    }

    fn key(url: &str) -> PoolKey {
        PoolKey {
            url: url.to_owned(),
            headers: BTreeMap::new(),
            cookies: Vec::new(),
        }
    }

    /// A new pool is empty; a shared socket counts until it starts closing; clones see the same sockets.
    #[test]
    fn sockets_count_until_they_close() {
        let pool = SocketPool::new();
        assert!(pool.is_empty());
        assert_eq!(pool.len(), 0);
        let (a, b) = (handle(), handle());
        pool.share(&key("ws://h/a"), &a, &Arc::default());
        pool.share(&key("ws://h/b"), &b, &Arc::default());
        let clone = pool.clone();
        assert_eq!((clone.len(), clone.is_empty()), (2, false));
        assert_eq!(format!("{pool:?}"), "SocketPool { sockets: 2 }");
        a.close();
        assert_eq!(pool.len(), 1, "a closing socket no longer counts");
        b.close();
        assert!(pool.is_empty());
    }

    /// A key keeps its first live socket; a closing one is replaced; removal takes only the socket it names.
    #[test]
    fn a_key_keeps_its_live_socket() {
        let pool = SocketPool::new();
        let (first, second) = (handle(), handle());
        let (first_modules, second_modules): (Arc<Modules>, Arc<Modules>) = (Arc::default(), Arc::default());
        pool.share(&key("ws://h"), &first, &first_modules);
        pool.share(&key("ws://h"), &second, &second_modules);
        pool.remove(&key("ws://h"), &second_modules);
        assert_eq!(
            pool.len(),
            1,
            "the second share did not take the key, so its removal does nothing"
        );
        first.close();
        pool.share(&key("ws://h"), &second, &second_modules);
        assert_eq!(pool.len(), 1, "the closing socket was replaced");
        pool.remove(&key("ws://h"), &first_modules);
        assert_eq!(pool.len(), 1);
        pool.remove(&key("ws://h"), &second_modules);
        assert!(pool.is_empty());
        pool.remove(&key("ws://missing"), &second_modules);
    }
}
