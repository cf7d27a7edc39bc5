//! One physical client connection and the task that keeps it alive: runs each socket's session, reconnects after
//! drops, and serves every contract attached to it (one, or several sharing the socket through a
//! [`SocketPool`](crate::SocketPool)).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use grest_ws_core::{ContractMeta, Direction};
use grest_ws_session::{
    Call, Dispatch, DuplexContract, LogMode, OwnedDispatch, PeerHandle, Route, Routes, Session, SessionEnd,
};

use crate::open::{ClientSocket, Target};
use crate::pool::PoolKey;
use crate::{ClientError, CloseReason, ConnectError, DisconnectReason, ParamSource, ReconnectConfig, SocketPool};
use grest_ws_session::Role;

type CloseCallback = Box<dyn Fn(CloseReason, Option<&ConnectError>) + Send + Sync>;
type DisconnectCallback = Box<dyn Fn(DisconnectReason) + Send + Sync>;
type ErrorCallback = Box<dyn Fn(&ClientError) + Send + Sync>;
type ReconnectCallback = Box<dyn Fn() + Send + Sync>;

/// The lifecycle callbacks of one client.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub(crate) on_close: Vec<CloseCallback>,
    pub(crate) on_disconnect: Vec<DisconnectCallback>,
    pub(crate) on_error: Vec<ErrorCallback>,
    pub(crate) on_reconnect: Vec<ReconnectCallback>,
}

impl Callbacks {
    /// Tells the `on_reconnect` callbacks that the socket is back.
    pub(crate) fn reconnected(&self) {
        for callback in &self.on_reconnect {
            callback();
        }
    }

    /// Tells the `on_error` callbacks about a failure.
    pub(crate) fn error(&self, error: &ClientError) {
        for callback in &self.on_error {
            callback(error);
        }
    }

    /// Tells the `on_disconnect` callbacks that a socket went away.
    pub(crate) fn disconnected(&self, reason: DisconnectReason) {
        for callback in &self.on_disconnect {
            callback(reason);
        }
    }

    /// A socket's session ended while the client was not closing: a failure goes to `on_error`, then every end to
    /// `on_disconnect` as a drop.
    pub(crate) fn dropped(&self, end: &SessionEnd) {
        if end.is_failure() {
            self.error(&ClientError::Socket(end.clone()));
        }
        self.disconnected(DisconnectReason::Drop);
    }
}

/// Builds a contract's handlers for a (re)connection, given the connection's handle.
pub(crate) type SetupFn = Arc<dyn Fn(&PeerHandle, bool) -> Arc<dyn OwnedDispatch> + Send + Sync>;

/// One contract attached to a connection.
struct Attachment {
    id: usize,
    meta: &'static ContractMeta,
    setup: SetupFn,
    handlers: Arc<dyn OwnedDispatch>,
    callbacks: Arc<Callbacks>,
}

/// The contracts attached to one connection; routes inbound messages to the one that owns the path.
#[derive(Default)]
pub(crate) struct Modules {
    next_id: AtomicUsize,
    attached: RwLock<Attached>,
}

/// What is attached, and one route table over all of it (each route's target is its attachment's id), rebuilt
/// when a contract attaches or detaches.
#[derive(Default)]
struct Attached {
    list: Vec<Attachment>,
    routes: Routes,
}

impl Attached {
    fn reroute(&mut self) {
        let mut routes = Routes::default();
        for attachment in &self.list {
            routes.add(attachment.id, attachment.meta, Direction::ServerToClient);
        }
        self.routes = routes;
    }
}

impl Modules {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Attached> {
        self.attached.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Attached> {
        self.attached.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches a contract not attached yet (its callbacks made only then); `None` when it already is.
    pub(crate) fn attach_new(
        &self,
        handle: &PeerHandle,
        meta: &'static ContractMeta,
        setup: &SetupFn,
        callbacks: impl FnOnce() -> Arc<Callbacks>,
    ) -> Option<usize> {
        let mut attached = self.write();
        if attached.list.iter().any(|a| a.meta.name == meta.name) {
            return None;
        }
        let callbacks = callbacks();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        attached.list.push(Attachment {
            id,
            meta,
            setup: setup.clone(),
            handlers: setup(handle, false),
            callbacks,
        });
        attached.reroute();
        Some(id)
    }

    /// Removes an attachment; returns its callbacks and how many remain.
    fn detach(&self, id: usize) -> (Option<Arc<Callbacks>>, usize) {
        let mut attached = self.write();
        let position = attached.list.iter().position(|a| a.id == id);
        let callbacks = position.map(|i| attached.list.remove(i).callbacks);
        attached.reroute();
        (callbacks, attached.list.len())
    }

    /// After a reconnect: every attachment's setup runs again.
    fn rerun_setups(&self, handle: &PeerHandle) {
        let mut attached = self.write();
        for attachment in attached.list.iter_mut() {
            attachment.handlers = (attachment.setup)(handle, true);
        }
    }

    fn callbacks(&self) -> Vec<Arc<Callbacks>> {
        self.read().list.iter().map(|a| a.callbacks.clone()).collect()
    }
}

impl Dispatch for Modules {
    fn route(&self, path: &str) -> Option<Route> {
        self.read().routes.get(path)
    }

    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_> {
        // The handlers are taken out of the lock: their futures own what they use.
        let handlers = self
            .read()
            .list
            .iter()
            .find(|a| a.id == route.target)
            .map(|a| a.handlers.clone());
        match handlers {
            Some(handlers) => handlers.call_owned(route, data),
            // Detached while the message was in flight.
            None => Call::route_not_found(route.path),
        }
    }
}

/// The typed client's handle: closing it (or dropping its last clone) detaches its contract, and closes the
/// connection when no contract is left.
pub(crate) fn release_handle(handle: &PeerHandle, modules: &Arc<Modules>, id: usize) -> PeerHandle {
    let base = handle.clone();
    let modules = modules.clone();
    handle.wiring().owned_by(move || {
        let (callbacks, remaining) = modules.detach(id);
        if remaining == 0 {
            base.close();
        }
        if let Some(callbacks) = callbacks {
            for callback in &callbacks.on_close {
                callback(CloseReason::Manual, None);
            }
        }
    })
}

/// Reconnects after a drop, for the typed and the raw client alike: waits the backoff delay (or until the client
/// is closed), asks for fresh parameters, opens and handshakes; reports each failure to `on_error`; stops when
/// the failure is terminal or the attempts run out. A socket opened after a close is dropped.
pub(crate) async fn reconnect<C, P, Closing>(
    source: &P,
    target: &Target<C>,
    policy: &ReconnectConfig,
    closing: impl Fn() -> Closing,
    is_closing: impl Fn() -> bool,
    on_error: impl Fn(&ConnectError),
) -> Result<ClientSocket, (CloseReason, Option<ConnectError>)>
where
    C: grest_ws_core::Contract,
    P: ParamSource<C>,
    Closing: std::future::Future<Output = ()>,
{
    let mut attempt = 0u32;
    loop {
        let delay = policy.delay(attempt);
        if target.config.log_mode == LogMode::All {
            tracing::info!(path = target.schema.path(), attempt, ?delay, "ws reconnect-attempt");
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = closing() => return Err((CloseReason::Manual, None)),
        }
        let result = match source.params().await {
            Ok(params) => target.open(&params).await,
            Err(error) => Err(ConnectError::BeforeConnect(error)),
        };
        let error = match result {
            Ok(_) if is_closing() => return Err((CloseReason::Manual, None)),
            Ok(ws) => return Ok(ws),
            Err(error) => error,
        };
        on_error(&error);
        if error.is_invalid_params() || !(policy.should_retry)(&error) {
            return Err((CloseReason::Unrecoverable, Some(error)));
        }
        attempt += 1;
        if policy.max_attempts.is_some_and(|max| attempt >= max) {
            return Err((CloseReason::RetriesExhausted, Some(error)));
        }
    }
}

/// A connection's place in a [`SocketPool`]: the pool and its key there.
pub(crate) type Shared = (SocketPool, PoolKey);

/// A physical connection: where it connects, and the pool it is shared in, if any.
pub(crate) struct Connection<C: DuplexContract, P> {
    source: P,
    target: Target<C>,
    shared: Option<Shared>,
}

impl<C: DuplexContract, P: ParamSource<C>> Connection<C, P> {
    pub(crate) fn new(source: P, target: Target<C>, shared: Option<Shared>) -> Self {
        Connection { source, target, shared }
    }

    /// Starts the connection on its first socket with contract `C` attached; returns `C`'s typed client.
    pub(crate) fn start(self, ws: ClientSocket, setup: SetupFn, callbacks: Callbacks) -> C::Client {
        let session = Session::new(Role::Client, self.target.config.socket_session());
        let handle = session.handle().clone();
        handle.wiring().set_log_mode(self.target.config.log_mode);
        if handle.log_mode() == LogMode::All {
            tracing::info!(path = self.target.schema.path(), "ws open");
        }
        let modules = Arc::new(Modules::default());
        let Some(id) = modules.attach_new(&handle, C::META, &setup, || Arc::new(callbacks)) else {
            unreachable!("a new connection has nothing attached")
        };
        if let Some((pool, key)) = &self.shared {
            pool.share(key, &handle, &modules);
        }
        let client = C::Client::from(release_handle(&handle, &modules, id));
        let driver = Driver {
            connection: self,
            modules,
            handle,
        };
        tokio::spawn(driver.run(ws, session));
        client
    }
}

/// The task that owns a connection's sockets.
struct Driver<C: DuplexContract, P> {
    connection: Connection<C, P>,
    modules: Arc<Modules>,
    handle: PeerHandle,
}

impl<C: DuplexContract, P: ParamSource<C>> Driver<C, P> {
    async fn run(self, mut ws: ClientSocket, mut session: Session) {
        let path = self.connection.target.schema.path();
        loop {
            let end = session.run(ws, &*self.modules).await;
            if self.handle.is_closing() {
                for callbacks in self.modules.callbacks() {
                    callbacks.disconnected(DisconnectReason::Manual);
                }
                return self.finish(CloseReason::Manual, None);
            }
            if self.handle.log_mode() != LogMode::Off {
                tracing::warn!(path, ?end, "ws drop");
            }
            for callbacks in self.modules.callbacks() {
                callbacks.dropped(&end);
            }
            let Some(reconnect) = self.connection.target.config.reconnect.clone() else {
                return self.finish(CloseReason::Drop, None);
            };
            match self.reconnect(&reconnect).await {
                Ok((socket, resumed)) => {
                    ws = socket;
                    session = resumed;
                    self.modules.rerun_setups(&self.handle);
                    if self.handle.log_mode() == LogMode::All {
                        tracing::info!(path, "ws reconnect-success");
                    }
                    for callbacks in self.modules.callbacks() {
                        callbacks.reconnected();
                    }
                }
                Err((reason, error)) => return self.finish(reason, error.as_ref()),
            }
        }
    }

    /// Attempts until one succeeds, the policy gives up, or the client is closed meanwhile.
    async fn reconnect(
        &self,
        policy: &ReconnectConfig,
    ) -> Result<(ClientSocket, Session), (CloseReason, Option<ConnectError>)> {
        let target = &self.connection.target;
        let on_error = |error: &ConnectError| {
            let error = ClientError::Reconnect(error.clone());
            for callbacks in self.modules.callbacks() {
                callbacks.error(&error);
            }
        };
        let closing = || self.handle.closing();
        let ws = reconnect(
            &self.connection.source,
            target,
            policy,
            closing,
            || self.handle.is_closing(),
            on_error,
        )
        .await?;
        Ok((ws, Session::resume(&self.handle, target.config.socket_session())))
    }

    fn finish(&self, reason: CloseReason, error: Option<&ConnectError>) {
        if let Some((pool, key)) = &self.connection.shared {
            pool.remove(key, &self.modules);
        }
        let mode = self.handle.log_mode();
        let path = self.connection.target.schema.path();
        match reason {
            CloseReason::RetriesExhausted | CloseReason::Unrecoverable if mode != LogMode::Off => {
                tracing::error!(path, ?reason, ?error, "ws final-close");
            }
            CloseReason::Drop if mode != LogMode::Off => tracing::warn!(path, "ws final-close after a drop"),
            CloseReason::Manual if mode == LogMode::All => tracing::info!(path, "ws close"),
            _ => {}
        }
        // A manual close already told each released client; only the remaining ones hear it here. They hear it
        // before `closed()` resolves, so whoever awaits it sees what they recorded.
        for callbacks in self.modules.callbacks() {
            for callback in &callbacks.on_close {
                callback(reason, error);
            }
        }
        self.handle.wiring().finish();
    }
}
