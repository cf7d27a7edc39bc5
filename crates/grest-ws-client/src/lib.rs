//! The grest-ws native client (tokio): connect to a typed endpoint, call client-to-server methods with typed
//! results, answer server-to-client messages with partial handlers — and stay connected: heartbeats detect
//! half-open links, reconnects back off exponentially with jitter, and `before_connect` refreshes rotating
//! credentials before every attempt.
//!
//! Most users reach this crate as `grest_ws::client` through the [`grest-ws`](https://docs.rs/grest-ws)
//! umbrella crate, whose `contract!` generates the typed client and its handlers:
//!
//! ```no_run
//! # use grest_ws::{ServerError, Validate, ValidationError, WebSocketSchema, contract};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Clone, Serialize, Deserialize, Validate)]
//! # #[serde(rename_all = "camelCase")]
//! # pub struct SendMessageRequest { #[validate(non_empty)] pub text: String, pub channel_id: String }
//! # contract! {
//! #     pub Chat {
//! #         client_to_server { send_message(SendMessageRequest) -> String, errors: [ValidationError, ServerError]; }
//! #         server_to_client { new_message(String); are_you_there() -> bool, errors: [ServerError]; }
//! #     }
//! # }
//! # pub const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");
//! use grest_ws::client::Client;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // Server-to-client handlers are partial: an unhandled request is answered ROUTE_NOT_FOUND.
//! let handlers = chat::Handlers::new()
//!     .on_new_message(|text| async move { println!("pushed: {text}") })
//!     .on_are_you_there(|| async { Ok(true) });
//! let client = Client::new(CHAT_API, "ws://127.0.0.1:3000").connect(handlers).await?;
//! let id = client.send_message(&SendMessageRequest { text: "hi".into(), channel_id: "general".into() }).await?;
//! println!("sent as {id}");
//! # Ok(()) }
//! # fn main() {}
//! ```
//!
//! [`RawClient`] connects to byte-stream sockets, [`SocketPool`] shares one socket among clients of one endpoint,
//! and [`fetch_document`] reads the JSON document a server serves about its endpoints (the AsyncAPI document)
//! with the same transport and TLS settings.

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The builder methods the typed and the raw client share (both have `target` and `callbacks` fields).
macro_rules! builder_methods {
    () => {
        /// Replaces the settings (handshake timeout, limits and heartbeat, reconnect, logging).
        pub fn config(mut self, config: ClientConfig) -> Self {
            self.target.config = config;
            self
        }

        /// Adds a middleware; it runs after the credentials and headers, in the order added.
        pub fn middleware(mut self, middleware: impl ClientMiddleware) -> Self {
            self.target.middleware.push(Box::new(middleware));
            self
        }

        /// An extra header on the HTTP upgrade request (e.g. `Origin`).
        pub fn upgrade_header(mut self, name: &str, value: impl Into<String>) -> Self {
            self.target.upgrade_headers.push((name.to_owned(), value.into()));
            self
        }

        /// Called once when the client ends for good, with the reason and, for the reconnect reasons, the last
        /// failure.
        pub fn on_close(
            mut self,
            callback: impl Fn(CloseReason, Option<&ConnectError>) + Send + Sync + 'static,
        ) -> Self {
            self.callbacks.on_close.push(Box::new(callback));
            self
        }

        /// Called on every socket drop, before any reconnect attempt.
        pub fn on_disconnect(mut self, callback: impl Fn(DisconnectReason) + Send + Sync + 'static) -> Self {
            self.callbacks.on_disconnect.push(Box::new(callback));
            self
        }

        /// Called when the socket fails — a read or write error, a broken protocol, a missed heartbeat, a close
        /// without a Close frame or with a code other than 1000/1001 — before the drop is reported, and for every
        /// failed reconnect attempt.
        pub fn on_error(mut self, callback: impl Fn(&ClientError) + Send + Sync + 'static) -> Self {
            self.callbacks.on_error.push(Box::new(callback));
            self
        }

        /// Called when the socket is back after a drop (handshaken, handlers in place), before any call waits on
        /// it again.
        pub fn on_reconnect(mut self, callback: impl Fn() + Send + Sync + 'static) -> Self {
            self.callbacks.on_reconnect.push(Box::new(callback));
            self
        }
    };
}

/// The fixed-parameter builder methods the typed and the raw client share (a `source: StaticParams` field).
macro_rules! static_param_methods {
    ($query:ty) => {
        /// The typed handshake query, sent in the upgrade URL (validated before anything is sent).
        pub fn query(mut self, query: $query) -> Self {
            self.source.0 = self.source.0.query(query);
            self
        }

        /// The credential for one of the schema's wires: a header wire writes it into the `h` frame (`Bearer <v>`
        /// for bearer wires), a query wire into the upgrade URL, a cookie wire into the upgrade's `Cookie` header.
        pub fn credential(mut self, wire: Wire, value: impl Into<String>) -> Self {
            self.source.0 = self.source.0.credential(wire, value);
            self
        }

        /// A handshake header, sent in the `h` frame (names are lower-cased).
        pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
            self.source.0 = self.source.0.header(name, value);
            self
        }
    };
}

mod config;
mod connection;
mod document;
mod open;
mod params;
mod pool;
mod raw;
mod response;
#[cfg(feature = "tls")]
mod tls;
mod transport;
mod upgrade;

use std::future::Future;

use grest_ws_core::auth::{Outbound, Wire};
use grest_ws_core::{
    ErrorEnvelope, Forbidden, GrestError, MethodError, NotAuthorized, ValidationError, WebSocketSchema,
};
use std::sync::Arc;

use connection::{Callbacks, Connection};
pub use grest_ws_session::SessionEnd;
use grest_ws_session::{DuplexContract, OwnedDispatch, PeerHandle};

pub use config::{ClientConfig, ReconnectConfig, ShouldRetry};
pub use document::{DocumentError, MAX_DOCUMENT, fetch_document};
use open::Target;
pub use params::{BeforeConnect, ConnectParams, ParamSource, StaticParams};
pub use pool::SocketPool;
pub use raw::{RawClient, RawConnection};
#[cfg(feature = "tls")]
pub use tls::{TlsConfig, TlsConfigError};
/// The rustls crate the client's TLS is built on, for building a [`TlsConfig`] by hand.
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;
pub use transport::TransportError;

/// Why a connection attempt failed. `E` is what a refusal decodes to: the contract's generated `ConnectError`
/// (its `connect` section's declared errors, plus `SERVER_ERROR`) from a typed client's `connect`, the raw
/// [`ErrorEnvelope`] where no contract types it (reconnect callbacks, the raw client).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError<E = ErrorEnvelope> {
    /// The query failed the contract's validation; nothing was sent.
    #[error("invalid query: {0}")]
    InvalidQuery(ValidationError),
    /// `before_connect` failed.
    #[error("before_connect failed: {0}")]
    BeforeConnect(ErrorEnvelope),
    /// The server refused the handshake with this error (`x` frame): a wire, the connect permission or the
    /// connect handler.
    #[error("handshake rejected: {0}")]
    Rejected(E),
    /// The server closed the socket during the handshake (4000 = invalid query).
    #[error("the server closed the connection during the handshake{}", closed_detail(*.code, .reason))]
    Closed {
        /// The close code, if any.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// No `k` or `x` within the handshake timeout.
    #[error("the server did not answer the handshake in time")]
    Timeout,
    /// The server answered the upgrade with this HTTP status instead (404 unknown path, 403 Origin refused).
    #[error("the server refused the WebSocket upgrade with HTTP status {status}{hint}", status = .0, hint = refused_hint(*.0))]
    Refused(u16),
    /// The URL, the TCP connection, TLS or the WebSocket upgrade failed.
    #[error("cannot connect to {url}: {cause}")]
    Transport {
        /// The URL the attempt was for.
        url: String,
        /// What failed.
        cause: TransportError,
    },
}

/// What [`Client::on_error`] reports: a live socket that failed, or a reconnect attempt that did.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket failed and was dropped (how it ended, see [`SessionEnd::is_failure`]); a reconnecting client
    /// reconnects next.
    #[error("the socket failed: {0}")]
    Socket(SessionEnd),
    /// A reconnect attempt failed.
    #[error("a reconnect attempt failed: {0}")]
    Reconnect(ConnectError),
}

/// ` with code 4000 (invalid query)`, or nothing without a code.
fn closed_detail(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (None, _) => " without a close code".to_owned(),
        (Some(code), true) => format!(" with code {code}"),
        (Some(code), false) => format!(" with code {code} ({reason})"),
    }
}

/// What an upgrade status usually means.
fn refused_hint(status: u16) -> &'static str {
    match status {
        404 => " (no WebSocket endpoint at that path: check the URL)",
        403 => " (the server's Origin policy refused this client)",
        _ => "",
    }
}

impl ConnectError {
    /// The same failure with a refusal decoded as `E` (a contract's `ConnectError`) by the listing rule: a declared
    /// type keeps its variant, anything else becomes `SERVER_ERROR`.
    pub fn typed<E: MethodError>(self) -> ConnectError<E> {
        match self {
            ConnectError::InvalidQuery(error) => ConnectError::InvalidQuery(error),
            ConnectError::BeforeConnect(error) => ConnectError::BeforeConnect(error),
            ConnectError::Rejected(wire) => ConnectError::Rejected(E::from_envelope(wire)),
            ConnectError::Closed { code, reason } => ConnectError::Closed { code, reason },
            ConnectError::Timeout => ConnectError::Timeout,
            ConnectError::Refused(status) => ConnectError::Refused(status),
            ConnectError::Transport { url, cause } => ConnectError::Transport { url, cause },
        }
    }

    /// Whether retrying cannot help: credentials refused (`NOT_AUTHORIZED`, `FORBIDDEN`) or invalid parameters
    /// (`VALIDATION_ERROR`, close 4000). The default reconnect policy stops on these.
    pub fn is_terminal(&self) -> bool {
        match self {
            ConnectError::InvalidQuery(_) | ConnectError::Closed { code: Some(4000), .. } => true,
            ConnectError::Rejected(e) | ConnectError::BeforeConnect(e) => {
                [NotAuthorized::TYPE, Forbidden::TYPE, ValidationError::TYPE].contains(&e.error_type.as_str())
            }
            _ => false,
        }
    }

    /// Whether this is a validation failure of the connection parameters (never retried).
    pub(crate) fn is_invalid_params(&self) -> bool {
        match self {
            ConnectError::InvalidQuery(_) => true,
            ConnectError::BeforeConnect(e) => e.error_type == "VALIDATION_ERROR",
            _ => false,
        }
    }
}

/// Why a client ended for good (reported once to [`Client::on_close`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// `close()`/`disconnect()` was called, or every client handle was dropped.
    Manual,
    /// The socket dropped and reconnect is off.
    Drop,
    /// Reconnect gave up after `max_attempts` failures.
    RetriesExhausted,
    /// A reconnect attempt failed in a way `should_retry` calls terminal.
    Unrecoverable,
}

/// Why a socket went away (reported on every drop to [`Client::on_disconnect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// This side closed it.
    Manual,
    /// The server, the network or the heartbeat ended it.
    Drop,
}

/// Client-side transport middleware: writes handshake headers, upgrade cookies or query parameters before each
/// connection attempt (the original's `update(outbound)`).
pub trait ClientMiddleware: Send + Sync + 'static {
    /// Adds what this middleware sends.
    fn update(&self, outbound: &mut Outbound);
}

/// What the setup callback gets on every (re)connection.
#[non_exhaustive]
pub struct Setup<C: DuplexContract> {
    /// The client (a handle that does not keep the connection alive by itself, so handlers may hold it).
    pub client: C::Client,
    /// Whether this is a reconnection.
    pub is_reconnect: bool,
}

/// Connects a typed client to one endpoint. `P` is where the connection parameters come from: fixed
/// ([`Client::new`]) or fresh before every attempt ([`Client::before_connect`]).
#[must_use]
pub struct Client<C: DuplexContract, P = StaticParams<C>> {
    source: P,
    target: Target<C>,
    callbacks: Callbacks,
    pool: Option<SocketPool>,
}

impl<C: DuplexContract, P> std::fmt::Debug for Client<C, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.target.schema.path())
            .field("config", &self.target.config)
            .finish_non_exhaustive()
    }
}

impl<C: DuplexContract> Client<C, StaticParams<C>>
where
    C::Query: Clone,
{
    /// A client for `schema` at `base_url` (`ws://host:port`) with fixed parameters.
    pub fn new(schema: WebSocketSchema<C>, base_url: impl Into<String>) -> Self {
        Client::with_source(schema, StaticParams(ConnectParams::new(base_url)))
    }

    static_param_methods!(C::Query);

    /// The full URL this client connects to, with the query validated like the server will.
    pub fn url(&self) -> Result<String, ConnectError> {
        self.target.url(&self.source.0)
    }

    /// Shares a socket with the other clients of `pool` that have the same URL and handshake headers (see
    /// [`SocketPool`]); by default a client has a socket of its own.
    pub fn pool(mut self, pool: &SocketPool) -> Self {
        self.pool = Some(pool.clone());
        self
    }
}

impl<C, F, Fut> Client<C, BeforeConnect<F>>
where
    C: DuplexContract,
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<ConnectParams<C>, ErrorEnvelope>> + Send + 'static,
{
    /// A client whose URL, query and credentials come from `provider`, run before the first connection and
    /// before every reconnect (fresh short-lived tokens, signed URLs). Static parameters cannot be added to it.
    /// Such a client always has its own socket (its parameters change, so it cannot share one).
    pub fn before_connect(schema: WebSocketSchema<C>, provider: F) -> Self {
        Client::with_source(schema, BeforeConnect(provider))
    }
}

impl<C: DuplexContract, P: ParamSource<C>> Client<C, P> {
    fn with_source(schema: WebSocketSchema<C>, source: P) -> Self {
        Client {
            source,
            target: Target {
                schema,
                middleware: Vec::new(),
                upgrade_headers: Vec::new(),
                config: ClientConfig::default(),
            },
            callbacks: Callbacks::default(),
            pool: None,
        }
    }

    builder_methods!();

    /// Connects with fixed handlers for server-to-client messages (reused after reconnects).
    pub async fn connect(self, handlers: C::Handlers) -> Result<C::Client, ConnectError<C::ConnectError>>
    where
        C::Handlers: Clone,
    {
        self.connect_with(move |_| handlers.clone()).await
    }

    /// Connects; `setup` builds the handlers for server-to-client messages on the first connection and again on
    /// every reconnection (so per-connection state starts fresh). The first attempt's failure is returned, not
    /// retried. Resolves once the server has sent `k`.
    ///
    /// A client of a [`SocketPool`] joins the pool's open socket with the same URL and handshake headers when there
    /// is one (and its contract is not on it yet), else opens one and shares it.
    pub async fn connect_with(
        self,
        setup: impl Fn(Setup<C>) -> C::Handlers + Send + Sync + 'static,
    ) -> Result<C::Client, ConnectError<C::ConnectError>> {
        self.connect_setup(module_setup::<C>(setup)).await
    }

    /// Connects with an untyped dispatcher for server-to-client messages, reused after reconnects: it gets every
    /// inbound message of this contract with its route (test kits, proxies, adapters). Handlers added with the
    /// typed client's `on` do not reach such a client: its dispatcher is the only one.
    pub async fn connect_dispatch(
        self,
        dispatch: Arc<dyn OwnedDispatch>,
    ) -> Result<C::Client, ConnectError<C::ConnectError>> {
        self.connect_setup(Arc::new(move |_: &PeerHandle, _: bool| dispatch.clone()))
            .await
    }

    async fn connect_setup(self, setup: connection::SetupFn) -> Result<C::Client, ConnectError<C::ConnectError>> {
        self.connect_untyped(setup).await.map_err(ConnectError::typed)
    }

    async fn connect_untyped(self, setup: connection::SetupFn) -> Result<C::Client, ConnectError> {
        let params = self.source.params().await.map_err(ConnectError::BeforeConnect)?;
        let shared = match self.pool {
            Some(pool) => Some((pool, self.target.pool_key(&params)?)),
            None => None,
        };
        let mut callbacks = Some(self.callbacks);
        if let Some((pool, key)) = &shared {
            if let Some(client) = pool.attach::<C>(key, &setup, &mut callbacks) {
                return Ok(client);
            }
        }
        let ws = self.target.open(&params).await?;
        let connection = Connection::<C, P>::new(self.source, self.target, shared);
        Ok(connection.start(ws, setup, callbacks.unwrap_or_default()))
    }
}

/// The setup of a contract's handlers, without the contract's types (pooled sockets hold several): installs them
/// in the connection's live set of the contract, which the client's `on` adds to.
fn module_setup<C: DuplexContract>(
    setup: impl Fn(Setup<C>) -> C::Handlers + Send + Sync + 'static,
) -> connection::SetupFn {
    Arc::new(move |handle: &PeerHandle, is_reconnect: bool| {
        // The live set: a new attachment starts empty, a reconnection merges the setup's handlers over what the
        // client added with `on` (as the original's setup re-running `incoming.on` does).
        let live = handle.wiring().live_handlers::<C::Handlers>();
        if !is_reconnect {
            live.replace(C::Handlers::default());
        }
        let handlers = setup(Setup {
            client: C::Client::from(handle.clone()),
            is_reconnect,
        });
        live.merge(handlers);
        live as Arc<dyn OwnedDispatch>
    })
}

impl<C: DuplexContract> std::fmt::Debug for Setup<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("is_reconnect", &self.is_reconnect)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use grest_ws_core::{BadRequest, Issue, NotFound, ServerError};

    use super::*;

    fn validation() -> ValidationError {
        ValidationError::new(vec![Issue::new("room", "required", "required")])
    }

    /// Credentials refused and invalid parameters stop reconnecting; transient failures do not.
    #[test]
    fn terminal_errors_are_the_ones_retrying_cannot_fix() {
        let terminal = [
            ConnectError::InvalidQuery(validation()),
            ConnectError::Closed {
                code: Some(4000),
                reason: "Invalid query parameters".into(),
            },
            ConnectError::Rejected(NotAuthorized::new().to_envelope()),
            ConnectError::Rejected(Forbidden::new().to_envelope()),
            ConnectError::Rejected(validation().to_envelope()),
            ConnectError::BeforeConnect(NotAuthorized::new().to_envelope()),
            ConnectError::BeforeConnect(validation().to_envelope()),
        ];
        for error in &terminal {
            assert!(error.is_terminal(), "{error}");
        }
        let transient = [
            ConnectError::Rejected(ServerError::new().to_envelope()),
            ConnectError::Rejected(NotFound::new().to_envelope()),
            ConnectError::BeforeConnect(BadRequest::new().to_envelope()),
            ConnectError::Closed {
                code: Some(4001),
                reason: "Handshake failed".into(),
            },
            ConnectError::Closed {
                code: None,
                reason: String::new(),
            },
            ConnectError::Timeout,
            ConnectError::Refused(403),
            ConnectError::Refused(404),
            ConnectError::Transport {
                url: "ws://127.0.0.1:1/ws".into(),
                cause: TransportError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
            },
        ];
        for error in &transient {
            assert!(!error.is_terminal(), "{error}");
        }
        let should_retry = ReconnectConfig::default().should_retry;
        assert!(terminal.iter().all(|e| !should_retry(e)) && transient.iter().all(|e| should_retry(e)));
    }

    /// Only a bad query or a `VALIDATION_ERROR` from `before_connect` count as invalid parameters (never retried,
    /// whatever `should_retry` says); a server's `VALIDATION_ERROR` is left to the policy.
    #[test]
    fn invalid_params_are_local_validation_failures() {
        assert!(ConnectError::InvalidQuery(validation()).is_invalid_params());
        assert!(ConnectError::BeforeConnect(validation().to_envelope()).is_invalid_params());
        assert!(!ConnectError::BeforeConnect(NotAuthorized::new().to_envelope()).is_invalid_params());
        assert!(!ConnectError::Rejected(validation().to_envelope()).is_invalid_params());
        let closed = ConnectError::Closed {
            code: Some(4000),
            reason: String::new(),
        };
        assert!(!closed.is_invalid_params());
    }

    /// Messages name the failure and its detail.
    #[test]
    fn errors_display_their_detail() {
        type Untyped = ConnectError;
        assert_eq!(
            Untyped::Refused(403).to_string(),
            "the server refused the WebSocket upgrade with HTTP status 403 (the server's Origin policy refused this client)"
        );
        assert_eq!(
            Untyped::Refused(500).to_string(),
            "the server refused the WebSocket upgrade with HTTP status 500"
        );
        assert_eq!(
            Untyped::Timeout.to_string(),
            "the server did not answer the handshake in time"
        );
        let closed = |code, reason: &str| {
            Untyped::Closed {
                code,
                reason: reason.into(),
            }
            .to_string()
        };
        assert_eq!(
            closed(Some(4000), "Invalid query parameters"),
            "the server closed the connection during the handshake with code 4000 (Invalid query parameters)"
        );
        assert_eq!(
            closed(Some(1001), ""),
            "the server closed the connection during the handshake with code 1001"
        );
        assert_eq!(
            closed(None, ""),
            "the server closed the connection during the handshake without a close code"
        );
        let refused: ConnectError = ConnectError::Transport {
            url: "ws://127.0.0.1:9/ws/chat".into(),
            cause: TransportError::from(std::io::Error::from_raw_os_error(111)),
        };
        assert_eq!(
            refused.to_string(),
            "cannot connect to ws://127.0.0.1:9/ws/chat: connection refused (is the server running and listening on that address?)"
        );
        let rejected = ConnectError::Rejected(NotAuthorized::new().to_envelope());
        assert!(rejected.to_string().starts_with("handshake rejected: "), "{rejected}");
        assert!(rejected.to_string().contains("NOT_AUTHORIZED"), "{rejected}");
    }
}
