//! One typed endpoint: its modules (the contracts of one anchor), the connect handlers that open them, and the
//! dispatch of a connection's messages to them. The steps from upgrade to session are the shared
//! [`Handshake`](crate::handshake) pipeline; between authentication and `k` a typed endpoint registers the
//! connection, joins it to its rooms and runs every module's connect handler.

use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::any::Any;

use grest_ws_core::auth::Grants;
use grest_ws_core::validate::Issues;
use grest_ws_core::{ErrorEnvelope, Forbidden, GrestError, MethodError, ServerError};
use grest_ws_session::{
    BoxFuture, Call, ConnectWith, ContractDispatch, DuplexContract, PeerHandle, Role, Route, Router, Routes, ServeWith,
    Session, error_to_send,
};

use crate::ServerConfig;
use crate::auth::{Authenticated, OriginPolicy, Pipeline, cookie_header, origin_refused, parse_query};
use crate::handshake::{Credentials, EarlyFrames, Handshake};
use crate::metrics::EndpointMetrics;
use crate::rooms::{Registry, Rooms};
use crate::sockets::{SocketInfo, Sockets};
use crate::upgrade;
use grest_ws_session::{ConnectionContext, Observer};
use http::Extensions;
use tracing::Instrument;

/// What the connect handler of a typed endpoint receives.
#[non_exhaustive]
pub struct Connected<C: DuplexContract> {
    /// The typed handle to this client: server-to-client messages and requests, close, on-close hooks.
    pub peer: C::Peer,
    /// The validated handshake query.
    pub query: C::Query,
    /// What the handshake's wires and middleware minted: principals (by type) and ambient context.
    pub extensions: Extensions,
    /// The scopes resolved at the handshake, pinned for the connection's life.
    pub grants: Grants,
    /// Facts about the connection.
    pub info: ConnectionInfo,
    /// The endpoint's rooms: join this connection to some (`rooms.join(peer.id(), "lobby")`), broadcast.
    pub rooms: Rooms<C>,
}

impl<C: DuplexContract> Connected<C> {
    /// The principal (or other context) of type `T` minted at the handshake, if any.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }
}

/// Facts about one connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The endpoint path, with its leading `/`.
    pub path: String,
    /// The peer's address, when the router is served with `into_make_service_with_connect_info::<SocketAddr>()`.
    pub remote_addr: Option<SocketAddr>,
    /// The server port the client addressed (from the `Host` header).
    pub port: Option<u16>,
}

/// What every endpoint of one server shares.
pub(crate) struct Shared {
    pub(crate) origin: OriginPolicy,
    pub(crate) sockets: Sockets,
}

impl Shared {
    /// The answer to an upgrade that must not proceed: the server is shutting down (503), or the Origin policy
    /// refuses it (403).
    pub(crate) fn refusal(&self, request: &Request, path: &str) -> Option<Response> {
        if self.sockets.is_shutting_down() {
            return Some((http::StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response());
        }
        if !self.origin.permits(request) {
            tracing::debug!(path, "upgrade refused by the Origin policy");
            return Some(origin_refused());
        }
        None
    }
}

/// One contract served on an endpoint: a plain contract alone, or one module of an extendable group.
pub(crate) trait Module: Send + Sync + 'static {
    /// Decodes this contract's typed query from the upgrade URL.
    fn decode_query(&self, pairs: &[(String, String)]) -> Result<Box<dyn Any + Send>, Issues>;
    /// Runs the connect handler and returns the connection's dispatcher for this contract, or the error that
    /// refuses the connection (the handler's declared connect error, or `SERVER_ERROR`).
    fn open<'a>(&'a self, opening: Opening<'a>) -> BoxFuture<'a, Result<Box<dyn ContractDispatch>, ErrorEnvelope>>;
}

/// What a module's connect handler is built from.
pub(crate) struct Opening<'a> {
    handle: &'a PeerHandle,
    query: Box<dyn Any + Send>,
    authenticated: &'a Authenticated,
    info: &'a ConnectionInfo,
}

/// A typed contract with its connect handler.
pub(crate) struct TypedModule<C, F> {
    on_connect: F,
    rooms: Arc<Registry>,
    contract: PhantomData<fn() -> C>,
}

impl<C, F> TypedModule<C, F> {
    pub(crate) fn new(on_connect: F, rooms: Arc<Registry>) -> Self {
        TypedModule {
            on_connect,
            rooms,
            contract: PhantomData,
        }
    }
}

impl<C, F, Fut> Module for TypedModule<C, F>
where
    C: ConnectWith<Fut::Output> + ServeWith<<C as ConnectWith<Fut::Output>>::Server>,
    F: Fn(Connected<C>) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
{
    fn decode_query(&self, pairs: &[(String, String)]) -> Result<Box<dyn Any + Send>, Issues> {
        C::decode_query(pairs.to_vec()).map(|query| Box::new(query) as Box<dyn Any + Send>)
    }

    fn open<'a>(&'a self, opening: Opening<'a>) -> BoxFuture<'a, Result<Box<dyn ContractDispatch>, ErrorEnvelope>> {
        Box::pin(async move {
            let Ok(query) = opening.query.downcast::<C::Query>() else {
                unreachable!("the query was decoded by this module")
            };
            let grants = &opening.authenticated.grants;
            let allowed = C::META
                .methods
                .iter()
                .map(|m| grants.allows(m.permission.as_ref()))
                .collect();
            let connected = Connected {
                peer: C::Peer::from(opening.handle.clone()),
                query: *query,
                extensions: opening.authenticated.extensions.clone(),
                grants: grants.clone(),
                info: opening.info.clone(),
                rooms: Rooms::new(self.rooms.clone()),
            };
            match C::into_result((self.on_connect)(connected).await) {
                Ok(handler) => Ok(Box::new(ServerDispatch::<C, _> {
                    handler,
                    allowed,
                    contract: PhantomData,
                }) as Box<dyn ContractDispatch>),
                Err(failure) => Err(error_to_send(C::META.name, failure).to_envelope()),
            }
        })
    }
}

/// A typed endpoint: one path, one handshake, one or more contracts (modules of one anchor).
pub(crate) struct Endpoint {
    pub(crate) path: String,
    pub(crate) pipeline: Pipeline,
    pub(crate) modules: Vec<Arc<dyn Module>>,
    pub(crate) routes: Arc<Routes>,
    pub(crate) rooms: Arc<Registry>,
    /// The server's settings with this endpoint's session override applied.
    pub(crate) config: ServerConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) metrics: EndpointMetrics,
    pub(crate) observer: Arc<dyn Observer>,
}

impl Endpoint {
    async fn run(self: Arc<Self>, upgrade: hyper::upgrade::OnUpgrade, upgrade_info: UpgradeInfo) {
        let config = &self.config;
        let Some(mut handshake) = Handshake::start(upgrade, config, self.metrics).await else {
            return;
        };
        let UpgradeInfo {
            query,
            cookie,
            remote_addr,
            port,
        } = upgrade_info;
        let mut queries = Vec::with_capacity(self.modules.len());
        for module in &self.modules {
            let Some(decoded) = handshake.check_query(module.decode_query(&query)).await else {
                return;
            };
            queries.push(decoded);
        }
        let credentials = Credentials::InBand {
            cookie,
            query,
            early_frames: EarlyFrames::Keep,
        };
        let Some(authenticated) = handshake.authenticate(&self.pipeline, credentials).await else {
            return;
        };
        let session = Session::new(Role::Server, config.session.clone());
        let handle = session.handle().clone();
        // However this task ends — also cancelled, by a runtime shutting down — the handle is finished, so the
        // registry and the rooms (which the handle's hooks leave) never keep a dead connection.
        let _finish = FinishOnDrop(handle.clone());
        handle.wiring().set_observer(self.observer.clone());
        handle
            .wiring()
            .set_connection_context(ConnectionContext::new(self.path.clone(), port));
        let info = ConnectionInfo {
            path: self.path.clone(),
            remote_addr,
            port,
        };
        self.shared.sockets.register(
            SocketInfo {
                path: self.path.clone(),
                extensions: authenticated.extensions.clone(),
            },
            &handle,
        );
        if let Some(outbox) = handle.outbox() {
            let id = handle.id();
            self.rooms.register(&handle, outbox);
            let rooms = self.rooms.clone();
            handle.on_close(move || rooms.unregister(id));
        }
        let mut dispatchers = Vec::with_capacity(self.modules.len());
        for (module, query) in self.modules.iter().zip(queries) {
            let opening = Opening {
                handle: &handle,
                query,
                authenticated: &authenticated,
                info: &info,
            };
            match AssertUnwindSafe(module.open(opening)).catch_unwind().await {
                Ok(Ok(dispatcher)) => dispatchers.push(dispatcher),
                Ok(Err(error)) => {
                    handshake.refuse(&error).await;
                    return;
                }
                Err(_) => {
                    let error = ServerError::new();
                    tracing::error!(error_ref = %error.context.reference, "connect handler panicked");
                    handshake.refuse(&error.to_envelope()).await;
                    return;
                }
            }
        }
        let (ws, _open) = handshake.open(true).await;
        let dispatch = Router::new(self.routes.clone(), dispatchers);
        let end = session.run(ws, &dispatch).await;
        tracing::info!(%end, "WebSocket disconnected");
    }

    /// Answers an upgrade request: Origin policy, RFC 6455 checks, then the connection runs on its own task.
    pub(crate) fn handle(self: Arc<Self>, mut request: Request) -> Response {
        if let Some(refusal) = self.shared.refusal(&request, &self.path) {
            return refusal;
        }
        let accepted = match upgrade::accept(&mut request) {
            Ok(accepted) => accepted,
            Err(response) => return response,
        };
        let info = UpgradeInfo {
            query: parse_query(request.uri().query()),
            cookie: cookie_header(request.headers()),
            remote_addr: request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0),
            port: host_port(request.headers()),
        };
        let span = tracing::info_span!(
            "ws_connection",
            api = self.metrics.api,
            path = self.metrics.path,
            peer = info.remote_addr.map(tracing::field::display)
        );
        tokio::spawn(self.run(accepted.upgrade, info).instrument(span));
        accepted.response
    }
}

/// What the HTTP upgrade request tells the handshake.
struct UpgradeInfo {
    query: Vec<(String, String)>,
    cookie: Option<String>,
    remote_addr: Option<SocketAddr>,
    port: Option<u16>,
}

/// The server's port as the client addressed it (the `Host` header).
fn host_port(headers: &http::HeaderMap) -> Option<u16> {
    let host = headers.get(http::header::HOST)?.to_str().ok()?;
    host.rsplit_once(':').and_then(|(_, port)| port.parse().ok())
}

/// Routes client-to-server messages of contract `C` to one connection's handler.
/// Methods the connection's scopes do not allow are answered `FORBIDDEN` (403) without running the handler; the
/// connection stays open. Decided once per connection, since scopes are pinned at the handshake.
struct ServerDispatch<C, S> {
    handler: S,
    allowed: Box<[bool]>,
    contract: PhantomData<fn() -> C>,
}

impl<C: ServeWith<S>, S: Send + Sync> ContractDispatch for ServerDispatch<C, S> {
    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_> {
        if !self.allowed.get(route.method).copied().unwrap_or(false) {
            return Call::error(&Forbidden::new());
        }
        C::call(&self.handler, route.method, data)
    }
}

/// Finishes a connection's handle when dropped (see [`Endpoint::run`]).
struct FinishOnDrop(PeerHandle);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.wiring().finish();
    }
}
