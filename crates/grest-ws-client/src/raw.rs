//! The raw byte-stream client (default mode, docs/protocol.md §7): the typed client's connection — URL and query,
//! credentials, in-band handshake, heartbeat, reconnect with backoff, `before_connect` — carrying opaque text and
//! binary frames. A reconnected stream is a fresh stream: nothing sent while it was down is replayed.
//!
//! ```ignore
//! let pty = RawClient::new(PTY_API, "ws://127.0.0.1:3000")
//!     .query(PtyQuery { vm_id: "vm-1".into() })
//!     .on_message(|frame| print!("{}", String::from_utf8_lossy(frame.as_bytes())))
//!     .connect()
//!     .await?;
//! pty.send("ls\n").await?;
//! pty.disconnect().await; // Close 1000, then waits (bounded) for the server's answer
//! ```

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use grest_ws_core::auth::Wire;
use grest_ws_core::{ErrorEnvelope, RawContract, RawSchema, WebSocketSchema};
use grest_ws_session::websocket::CLOSE_NORMAL;
use grest_ws_session::{CloseFrame, LogMode, RawMessage, RawSender, RawSession, SendError};
use tokio::sync::{Notify, mpsc};

use crate::connection::{Callbacks, reconnect};
use crate::open::{ClientSocket, Target};
use crate::{
    BeforeConnect, ClientConfig, ClientError, ClientMiddleware, CloseReason, ConnectError, ConnectParams,
    DisconnectReason, ParamSource, ReconnectConfig, StaticParams,
};

type MessageCallback = Box<dyn Fn(&RawMessage) + Send + Sync>;

/// Connects to a default-mode raw endpoint. `P` is where the connection parameters come from: fixed
/// ([`RawClient::new`]) or fresh before every attempt ([`RawClient::before_connect`]). A `CUSTOM_CLIENT`
/// contract has no grest client: building one for it does not compile.
///
/// ```compile_fail
/// use grest_ws_client::RawClient;
/// use grest_ws_core::{RawContract, RawSchema};
///
/// struct Desktop;
/// impl RawContract for Desktop {
///     const NAME: &'static str = "Desktop";
///     const CUSTOM_CLIENT: bool = true;
///     type Query = ();
/// }
/// const DESKTOP_API: RawSchema<Desktop> = RawSchema::new("desktop");
/// let client = RawClient::new(DESKTOP_API, "ws://127.0.0.1:3000");
/// ```
#[must_use]
pub struct RawClient<C: RawContract, P = StaticParams<C>> {
    source: P,
    target: Target<C>,
    callbacks: Callbacks,
    on_message: Vec<MessageCallback>,
}

impl<C: RawContract, P> std::fmt::Debug for RawClient<C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawClient")
            .field("path", &self.target.schema.path())
            .field("config", &self.target.config)
            .finish_non_exhaustive()
    }
}

impl<C: RawContract> RawClient<C, StaticParams<C>>
where
    <C as RawContract>::Query: Clone,
{
    /// A client for `schema` at `base_url` (`ws://host:port`) with fixed parameters.
    pub fn new(schema: RawSchema<C>, base_url: impl Into<String>) -> Self {
        RawClient::with_source(schema, StaticParams(ConnectParams::new(base_url)))
    }

    static_param_methods!(<C as RawContract>::Query);
}

impl<C, F, Fut> RawClient<C, BeforeConnect<F>>
where
    C: RawContract,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ConnectParams<C>, ErrorEnvelope>> + Send + 'static,
{
    /// A client whose URL, query and credentials come from `provider`, run before the first connection and before
    /// every reconnect.
    pub fn before_connect(schema: RawSchema<C>, provider: F) -> Self {
        RawClient::with_source(schema, BeforeConnect(provider))
    }
}

impl<C: RawContract, P: ParamSource<C>> RawClient<C, P> {
    fn with_source(schema: RawSchema<C>, source: P) -> Self {
        const {
            assert!(
                !C::CUSTOM_CLIENT,
                "a CUSTOM_CLIENT raw contract is for foreign clients; it has no grest client"
            )
        };
        RawClient {
            source,
            target: Target {
                // The connection is a typed one's without methods: the same URL, wires and handshake.
                schema: WebSocketSchema::new(schema.path()).uses(schema.wires()),
                middleware: Vec::new(),
                upgrade_headers: Vec::new(),
                config: ClientConfig::default(),
            },
            callbacks: Callbacks::default(),
            on_message: Vec::new(),
        }
    }

    builder_methods!();

    /// Called with every frame from the server, with its frame type; kept across reconnects. Runs on the
    /// connection's task: hand long work to another task.
    pub fn on_message(mut self, callback: impl Fn(&RawMessage) + Send + Sync + 'static) -> Self {
        self.on_message.push(Box::new(callback));
        self
    }

    /// Connects and runs the handshake; resolves once the server has sent `k`, so frames sent from then on reach
    /// the server's handler. The first attempt's failure is returned, not retried.
    pub async fn connect(self) -> Result<RawConnection, ConnectError> {
        let params = self.source.params().await.map_err(ConnectError::BeforeConnect)?;
        let ws = self.target.open(&params).await?;
        let state = Arc::new(State {
            current: Mutex::new(None),
            closing: AtomicBool::new(false),
            closing_notify: Notify::new(),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            reconnects: self.target.config.reconnect.is_some(),
        });
        if self.target.config.log_mode == LogMode::All {
            tracing::info!(path = self.target.schema.path(), "raw ws open");
        }
        let driver = Driver {
            source: self.source,
            target: self.target,
            callbacks: self.callbacks,
            on_message: self.on_message,
            state: state.clone(),
        };
        let (session, inbound) = driver.attach();
        tokio::spawn(driver.run(ws, session, inbound));
        Ok(RawConnection {
            _owner: Arc::new(Owner { state: state.clone() }),
            state,
        })
    }
}

/// What the connection handles and the task share.
struct State {
    /// The current socket's sender, while connected.
    current: Mutex<Option<RawSender>>,
    /// Set once the client is closed for good (no reconnect).
    closing: AtomicBool,
    closing_notify: Notify,
    /// Set once everything has ended.
    closed: AtomicBool,
    closed_notify: Notify,
    reconnects: bool,
}

impl State {
    fn current(&self) -> Option<RawSender> {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_current(&self, sender: Option<RawSender>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = sender;
    }

    fn is_closing(&self) -> bool {
        self.closing.load(Ordering::SeqCst)
    }

    /// Stops reconnecting and closes the current socket with `frame`.
    fn close(&self, frame: Option<CloseFrame>) {
        self.closing.store(true, Ordering::SeqCst);
        self.closing_notify.notify_waiters();
        if let Some(sender) = self.current() {
            sender.close_with(frame);
        }
    }

    async fn closing(&self) {
        loop {
            let notified = self.closing_notify.notified();
            if self.is_closing() {
                return;
            }
            notified.await;
        }
    }
}

/// Closes the connection when the last [`RawConnection`] clone is dropped, so a dropped client does not leak it.
struct Owner {
    state: Arc<State>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.state.close(None);
    }
}

/// A connected raw client: send frames, observe the connection, reconnect or close. Cheap to clone; dropping
/// every clone closes it.
#[derive(Clone)]
pub struct RawConnection {
    state: Arc<State>,
    _owner: Arc<Owner>,
}

impl std::fmt::Debug for RawConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnection")
            .field("connected", &self.is_connected())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl RawConnection {
    /// Sends a frame: `String`/`&str` as a text frame, bytes as a binary frame. While reconnecting it fails with
    /// [`SendError::NotConnected`] (nothing is queued for a later socket), once closed with [`SendError::Closed`].
    pub async fn send(&self, message: impl Into<RawMessage>) -> Result<(), SendError> {
        if self.state.is_closing() {
            return Err(SendError::Closed);
        }
        match self.state.current() {
            Some(sender) => sender.send(message).await,
            None => Err(SendError::NotConnected),
        }
    }

    /// Whether a socket is up and the client is not closed.
    pub fn is_connected(&self) -> bool {
        !self.state.is_closing() && self.state.current().is_some_and(|sender| !sender.is_closed())
    }

    /// Whether the client has ended for good.
    pub fn is_closed(&self) -> bool {
        self.state.closed.load(Ordering::SeqCst)
    }

    /// Closes the current socket as if it had dropped, so the client reconnects (a fresh stream). Does nothing
    /// when reconnect is off, the client is closed, or no socket is up.
    pub fn force_reconnect(&self) {
        if !self.state.reconnects || self.state.is_closing() {
            return;
        }
        if let Some(sender) = self.state.current() {
            sender.close();
        }
    }

    /// Closes for good, at once: stops reconnecting and closes the socket.
    pub fn close(&self) {
        self.state.close(None);
    }

    /// Closes for good, gracefully: stops reconnecting, sends what was already queued, then a Close frame with
    /// 1000 (normal closure), and resolves once the server has answered it (or the session's
    /// [`close_timeout`](grest_ws_session::SessionConfig::close_timeout) has passed) and the client has ended.
    /// Sends fail with [`SendError::Closed`] from the moment it is called.
    pub async fn disconnect(&self) {
        self.state.close(Some(CloseFrame::new(CLOSE_NORMAL, "")));
        self.closed().await;
    }

    /// Resolves once the client has ended for good (after [`RawConnection::close`], or when reconnect gives up).
    pub async fn closed(&self) {
        loop {
            let notified = self.state.closed_notify.notified();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

/// The task that owns a raw client's sockets: pumps each one, delivers its frames, reconnects after drops.
struct Driver<C: RawContract, P> {
    source: P,
    target: Target<C>,
    callbacks: Callbacks,
    on_message: Vec<MessageCallback>,
    state: Arc<State>,
}

impl<C: RawContract, P: ParamSource<C>> Driver<C, P> {
    /// A session for a new socket, its sender installed as the current one.
    fn attach(&self) -> (RawSession, mpsc::Receiver<RawMessage>) {
        let (session, sender, inbound) = RawSession::new(self.target.config.socket_session(), true);
        self.state.set_current(Some(sender.clone()));
        // A close that raced with the attach still closes this socket.
        if self.state.is_closing() {
            sender.close();
        }
        (session, inbound)
    }

    async fn run(self, mut ws: ClientSocket, mut session: RawSession, mut inbound: mpsc::Receiver<RawMessage>) {
        let path = self.target.schema.path();
        let log_mode = self.target.config.log_mode;
        loop {
            let end = {
                let run = session.run(ws);
                tokio::pin!(run);
                loop {
                    tokio::select! {
                        end = &mut run => break end,
                        Some(message) = inbound.recv() => self.deliver(&message),
                    }
                }
            };
            // Frames that arrived before the end are still the application's.
            while let Ok(message) = inbound.try_recv() {
                self.deliver(&message);
            }
            self.state.set_current(None);
            if self.state.is_closing() {
                self.callbacks.disconnected(DisconnectReason::Manual);
                return self.finish(CloseReason::Manual, None);
            }
            if log_mode != LogMode::Off {
                tracing::warn!(path, ?end, "raw ws drop");
            }
            self.callbacks.dropped(&end);
            let Some(policy) = self.target.config.reconnect.clone() else {
                return self.finish(CloseReason::Drop, None);
            };
            match self.reconnect(&policy).await {
                Ok(socket) => {
                    ws = socket;
                    (session, inbound) = self.attach();
                    if log_mode == LogMode::All {
                        tracing::info!(path, "raw ws reconnect-success");
                    }
                    self.callbacks.reconnected();
                }
                Err((reason, error)) => return self.finish(reason, error.as_ref()),
            }
        }
    }

    fn deliver(&self, message: &RawMessage) {
        for callback in &self.on_message {
            callback(message);
        }
    }

    /// Attempts until one succeeds, the policy gives up, or the client is closed meanwhile.
    async fn reconnect(&self, policy: &ReconnectConfig) -> Result<ClientSocket, (CloseReason, Option<ConnectError>)> {
        let on_error = |error: &ConnectError| self.callbacks.error(&ClientError::Reconnect(error.clone()));
        let closing = || self.state.closing();
        reconnect(
            &self.source,
            &self.target,
            policy,
            closing,
            || self.state.is_closing(),
            on_error,
        )
        .await
    }

    fn finish(&self, reason: CloseReason, error: Option<&ConnectError>) {
        if self.target.config.log_mode != LogMode::Off && reason != CloseReason::Manual {
            tracing::warn!(path = self.target.schema.path(), ?reason, ?error, "raw ws final-close");
        }
        self.state.closing.store(true, Ordering::SeqCst);
        self.state.closing_notify.notify_waiters();
        // The hooks run before `closed()` resolves, so whoever awaits it sees what they recorded.
        for callback in &self.callbacks.on_close {
            callback(reason, error);
        }
        self.state.closed.store(true, Ordering::SeqCst);
        self.state.closed_notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use grest_ws_session::SessionConfig;

    use super::*;

    /// A default-mode raw contract.
    struct Pty;

    impl RawContract for Pty {
        const NAME: &'static str = "Pty";
        type Query = ();
    }

    fn state(reconnects: bool) -> Arc<State> {
        Arc::new(State {
            current: Mutex::new(None),
            closing: AtomicBool::new(false),
            closing_notify: Notify::new(),
            closed: AtomicBool::new(false),
            closed_notify: Notify::new(),
            reconnects,
        })
    }

    fn connection(state: &Arc<State>) -> RawConnection {
        RawConnection {
            state: state.clone(),
            _owner: Arc::new(Owner { state: state.clone() }),
        }
    }

    /// A socket's sender, as a driver installs it (its session is returned to keep the socket open).
    fn socket(state: &State) -> (RawSession, RawSender) {
        let (session, sender, _inbound) = RawSession::new(SessionConfig::default(), true);
        state.set_current(Some(sender.clone()));
        (session, sender)
    }

    /// Sends need a current socket; `close` closes it, and sends fail from then on.
    #[tokio::test]
    async fn sends_need_a_socket_and_close_ends_them() {
        let state = state(true);
        let raw = connection(&state);
        assert!(matches!(raw.send("x").await, Err(SendError::NotConnected)));
        assert!(!raw.is_connected() && !raw.is_closed());

        let (_session, sender) = socket(&state);
        assert!(raw.is_connected());
        assert!(raw.send("queued").await.is_ok());
        raw.close();
        assert!(sender.is_closed());
        assert!(!raw.is_connected());
        assert!(matches!(raw.send("late").await, Err(SendError::Closed)));
        assert!(!raw.is_closed(), "closed for good only once the driver finishes");
    }

    /// `force_reconnect` closes the current socket only while reconnecting is on and the client is not closing.
    #[test]
    fn force_reconnect_closes_only_the_socket() {
        let state = state(true);
        let raw = connection(&state);
        let (_session, sender) = socket(&state);
        raw.force_reconnect();
        assert!(sender.is_closed());
        assert!(!state.is_closing(), "the client itself carries on");

        let without_reconnect = self::state(false);
        let raw = connection(&without_reconnect);
        let (_session, sender) = socket(&without_reconnect);
        raw.force_reconnect();
        assert!(
            !sender.is_closed(),
            "without reconnect there would be nothing to come back to"
        );
    }

    /// Dropping the last handle closes the client; dropping a clone does not.
    #[test]
    fn the_last_handle_closes_the_client() {
        let state = state(true);
        let raw = connection(&state);
        let (_session, sender) = socket(&state);
        let clone = raw.clone();
        drop(raw);
        assert!(!state.is_closing() && clone.is_connected());
        drop(clone);
        assert!(state.is_closing());
        assert!(sender.is_closed());
    }

    fn driver(
        state: &Arc<State>,
        callbacks: Callbacks,
        on_message: Vec<MessageCallback>,
    ) -> Driver<Pty, StaticParams<Pty>> {
        Driver {
            source: StaticParams(ConnectParams::new("ws://h")),
            target: Target {
                schema: WebSocketSchema::new("ws/pty"),
                middleware: Vec::new(),
                upgrade_headers: Vec::new(),
                config: ClientConfig::default(),
            },
            callbacks,
            on_message,
            state: state.clone(),
        }
    }

    /// A new socket's sender becomes the current one, closed at once if the client closed meanwhile.
    #[test]
    fn attach_installs_the_new_socket() {
        let state = state(true);
        let driver = driver(&state, Callbacks::default(), Vec::new());
        let (_session, _inbound) = driver.attach();
        let current = state.current().expect("installed");
        assert!(!current.is_closed());
        state.close(None);
        assert!(current.is_closed());
        let (_session, _inbound) = driver.attach();
        assert!(
            state.current().expect("installed").is_closed(),
            "a close that raced with the attach wins"
        );
    }

    /// Frames go to every message callback; `finish` reports once, then marks the client closed.
    #[test]
    fn delivery_and_finish_reach_the_callbacks() {
        let state = state(true);
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let on_message: Vec<MessageCallback> = (0..2)
            .map(|n| {
                let seen = seen.clone();
                Box::new(move |m: &RawMessage| {
                    seen.lock()
                        .unwrap()
                        .push(format!("{n}:{}", String::from_utf8_lossy(m.as_bytes())))
                }) as MessageCallback
            })
            .collect();
        let mut callbacks = Callbacks::default();
        let (observed, flags) = (seen.clone(), state.clone());
        callbacks.on_close.push(Box::new(move |reason, error| {
            let closed = flags.closed.load(Ordering::SeqCst);
            observed.lock().unwrap().push(format!(
                "{reason:?} {:?} closed={closed}",
                error.map(ToString::to_string)
            ));
        }));
        let driver = driver(&state, callbacks, on_message);
        driver.deliver(&RawMessage::from("hi"));
        let raw = connection(&state);
        assert!(raw.closed().now_or_never().is_none());
        driver.finish(CloseReason::RetriesExhausted, Some(&ConnectError::Timeout));
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "0:hi",
                "1:hi",
                "RetriesExhausted Some(\"the server did not answer the handshake in time\") closed=false",
            ]
        );
        assert!(state.is_closing() && raw.is_closed());
        assert!(raw.closed().now_or_never().is_some());
    }
}
