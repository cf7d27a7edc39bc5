//! Raw byte-stream endpoints (docs/protocol.md §1.11, §7): the connection pipeline of a typed socket (the shared
//! [`Handshake`](crate::handshake)), then opaque text and binary frames.
//!
//! * Default mode (grest clients): query validation (close 4000), the in-band `h`, wires, middleware and the
//!   connect permission (`x` + close 4001), the handler, then `k:::null`. Frames that arrive before `k` are
//!   dropped, never delivered pre-auth; the keepalive sentinels are answered and hidden.
//! * customClient mode (foreign clients): authentication from the upgrade request alone (headers, cookie,
//!   query; close 4001 "Unauthorized" on failure), nothing read from the socket until the handler has it (so
//!   early bytes are kept), no sentinels, subprotocol negotiation, and wildcard prefix paths.

use std::collections::HashSet;
use std::future::Future;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use grest_ws_core::auth::{Grants, Wire, WireContext};
use grest_ws_core::{Permission, RawContract, RawSchema};
use grest_ws_session::{CloseFrame, PushError, RawMessage, RawSender, RawSession, SendError};
use http::{Extensions, HeaderMap};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::addresses::Addresses;
use crate::auth::{Pipeline, cookie_header, http_inbound, parse_query};
use crate::connection::Shared;
use crate::handshake::{Credentials, EarlyFrames, Handshake};
use crate::metrics::EndpointMetrics;
use crate::sockets::SocketInfo;
use crate::upgrade::{self};
use crate::{BuildError, GrestWs, ServerConfig, check_permission};

/// The HTTP upgrade request of a raw connection (the original's `GGWsUpgrade`): what a proxy needs to route
/// upstream, and the peer's address to gate loopback-only endpoints.
#[derive(Clone)]
#[non_exhaustive]
pub struct Upgrade {
    /// The request path without the query; for a wildcard endpoint, the concrete path
    /// (`/code-server/abc/feedback`).
    pub path: String,
    /// The request URL as received: path and query.
    pub url: String,
    /// Every header of the upgrade request.
    pub headers: HeaderMap,
    /// The peer's address, read from the socket as [`ConnectionInfo::remote_addr`](crate::ConnectionInfo::remote_addr)
    /// is (known under [`Serve`](crate::Serve) and a plain `axum::serve`).
    pub remote_address: Option<SocketAddr>,
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL and header values may carry credentials.
        f.debug_struct("Upgrade")
            .field("path", &self.path)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("remote_address", &self.remote_address)
            .finish()
    }
}

/// One raw connection, server side: receive frames with their type, send bytes (binary frames) or text (text
/// frames), close. The socket closes when either side closes it, or once this value and every
/// [`RawSender`] taken from it are dropped.
pub struct RawSocket {
    sender: RawSender,
    inbound: mpsc::Receiver<RawMessage>,
}

impl std::fmt::Debug for RawSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawSocket")
            .field("closed", &self.sender.is_closed())
            .finish_non_exhaustive()
    }
}

impl RawSocket {
    /// The next frame from the client; `None` once the socket has ended. Frames wait in a bounded queue until
    /// read; while it is full the server stops reading from the client (backpressure).
    pub async fn recv(&mut self) -> Option<RawMessage> {
        self.inbound.recv().await
    }

    /// Sends a frame: `String`/`&str` as a text frame, bytes as a binary frame. Waits while the socket's
    /// outbound queue is over its budget (backpressure). Fails with [`SendError::Closed`] once the socket is
    /// closed.
    pub async fn send(&self, message: impl Into<RawMessage>) -> Result<(), SendError> {
        self.sender.send(message).await
    }

    /// Queues a frame without waiting: past the outbound budget the endpoint's slow-consumer policy applies
    /// (by default the socket is closed with 1013).
    pub fn try_send(&self, message: impl Into<RawMessage>) -> Result<(), PushError> {
        self.sender.try_send(message)
    }

    /// A cloneable sender for other tasks (e.g. the one pumping an upstream service into the socket).
    pub fn sender(&self) -> RawSender {
        self.sender.clone()
    }

    /// Closes the socket (close frame without a status code).
    pub fn close(&self) {
        self.sender.close();
    }

    /// Closes the socket with a status code and reason.
    pub fn close_with(&self, frame: Option<CloseFrame>) {
        self.sender.close_with(frame);
    }

    /// Runs `hook` once when the socket ends, whoever ended it.
    pub fn on_close(&self, hook: impl FnOnce() + Send + 'static) {
        self.sender.on_close(hook);
    }
}

/// What a raw endpoint's handler receives.
#[non_exhaustive]
pub struct RawConnected<C: RawContract> {
    /// The byte stream.
    pub socket: RawSocket,
    /// The validated upgrade query.
    pub query: C::Query,
    /// The upgrade request: concrete path, URL, headers, peer address.
    pub upgrade: Upgrade,
    /// What the handshake's middleware stored, and each principal whose type only one of the schema's wires
    /// mints, by type.
    pub extensions: Extensions,
    /// What the handshake's wires produced, per wire: principals and ambient values.
    pub wires: WireContext,
    /// The scopes resolved at the handshake.
    pub grants: Grants,
}

impl<C: RawContract> RawConnected<C> {
    /// The value of type `T` the handshake stored: middleware context, or a principal when only one of the
    /// schema's wires mints a `T` (with two, ask [`RawConnected::principal`] per wire).
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.extensions.get::<T>()
    }

    /// The principal `wire` minted at the handshake.
    pub fn principal<T: Send + Sync + 'static>(&self, wire: Wire) -> Option<&T> {
        self.wires.principal(wire)
    }

    /// The value ambient `wire` carried at the handshake (`None` when absent).
    pub fn wire(&self, wire: Wire) -> Option<&str> {
        self.wires.wire(wire)
    }
}

impl<C: RawContract> std::fmt::Debug for RawConnected<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConnected")
            .field("contract", &C::NAME)
            .field("upgrade", &self.upgrade)
            .finish_non_exhaustive()
    }
}

type MakeRoute = Arc<dyn Fn(Pipeline, ServerConfig, EndpointMetrics, Arc<Shared>) -> Arc<dyn RawRoute> + Send + Sync>;

/// A `.raw(...)` call, kept until the server is built.
pub(crate) struct RawRegistration {
    /// The normalized path, with its `/*` for a prefix.
    path: String,
    /// The path without `/*`.
    base: String,
    prefix: bool,
    name: &'static str,
    custom_client: bool,
    permission: Option<Permission>,
    wires: &'static [Wire],
    make: MakeRoute,
}

impl RawRegistration {
    /// Whether the contract declares a connect permission (which turns strict mode on).
    pub(crate) fn declares_permission(&self) -> bool {
        self.permission.is_some()
    }
}

impl GrestWs {
    /// Registers a raw byte-stream endpoint. After the connection is authenticated, `handler` runs on its own
    /// task with the socket, the typed query, the upgrade request and the principals; it may keep the socket as
    /// long as it likes. In default mode `k` is sent once the handler has the socket, so nothing the client
    /// sends after `k` is lost.
    ///
    /// Refused at [`GrestWs::build`]: a path registered twice, a `CUSTOM_CLIENT` schema that uses a wire
    /// travelling in the in-band handshake (a foreign client could never send it), and the permission and wire
    /// rules of typed endpoints. An exact path beats a wildcard prefix; among prefixes the longest wins.
    pub fn raw<C, F, Fut>(mut self, schema: RawSchema<C>, handler: F) -> Self
    where
        C: RawContract,
        F: Fn(RawConnected<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler = Arc::new(handler);
        #[cfg(feature = "asyncapi")]
        self.asyncapi.raw(schema);
        let path = schema.route_path();
        let endpoint_path = path.clone();
        self.raw.push(RawRegistration {
            path,
            base: schema.base_path(),
            prefix: schema.is_prefix(),
            name: C::NAME,
            custom_client: C::CUSTOM_CLIENT,
            permission: C::PERMISSION,
            wires: schema.wires(),
            make: Arc::new(move |pipeline, config, metrics, shared| {
                Arc::new(RawEndpoint::<C, F> {
                    path: endpoint_path.clone(),
                    pipeline,
                    config,
                    metrics,
                    handler: handler.clone(),
                    shared,
                    contract: PhantomData,
                }) as Arc<dyn RawRoute>
            }),
        });
        self
    }
}

/// The raw endpoints of a server, checked and ready to mount.
pub(crate) struct RawPlan {
    endpoints: Vec<Planned>,
}

struct Planned {
    path: String,
    /// The server's settings with this endpoint's session override applied.
    config: ServerConfig,
    /// The axum routes that lead to this endpoint.
    routes: Vec<String>,
    pipeline: Pipeline,
    metrics: EndpointMetrics,
    make: MakeRoute,
}

/// Checks the raw registrations against each other and the typed ones (`typed_paths`), listing problems;
/// duplicates fail at once.
pub(crate) fn plan(
    ws: &GrestWs,
    typed_paths: &[&str],
    strict: bool,
    problems: &mut Vec<String>,
) -> Result<RawPlan, BuildError> {
    let mut seen: HashSet<&str> = typed_paths.iter().copied().collect();
    for registration in &ws.raw {
        if !seen.insert(&registration.path) {
            return Err(BuildError::DuplicatePath(registration.path.clone()));
        }
    }
    let exact: HashSet<&str> = seen
        .iter()
        .copied()
        .filter(|path| !grest_ws_core::contract::is_prefix_path(path))
        .collect();
    let mut endpoints = Vec::with_capacity(ws.raw.len());
    for registration in &ws.raw {
        let owner = format!("raw socket {} ({})", registration.path, registration.name);
        let stages = ws.endpoint_stages(registration.wires, &owner, problems);
        if registration.custom_client {
            for wire in registration.wires.iter().filter(|w| w.is_in_band()) {
                problems.push(format!(
                    "{owner}: a customClient socket authenticates from the upgrade request alone, but wire {:?} \
                     travels in the in-band handshake a foreign client never sends; use a cookie or query wire",
                    wire.name()
                ));
            }
        }
        let pipeline = Pipeline {
            stages,
            connect_permission: registration.permission,
        };
        match &registration.permission {
            Some(permission) => check_permission(&owner, "it", permission, pipeline.resolves_permissions(), problems),
            None if strict => problems.push(format!(
                "{owner}: declares no permission (RawContract::PERMISSION), but strict mode is on (another surface \
                 declares one); declare Permission::Public to make it public"
            )),
            None => {}
        }
        let routes = if registration.prefix {
            // `/base/{*rest}` needs at least one character after the slash, so `/base/` is its own route; an
            // exact registration of `/base` (or `/base/`) keeps that path.
            let base = &registration.base;
            [base.clone(), format!("{base}/")]
                .into_iter()
                .filter(|path| !exact.contains(path.as_str()))
                .chain([format!("{base}/{{*rest}}")])
                .collect()
        } else {
            vec![registration.path.clone()]
        };
        endpoints.push(Planned {
            path: registration.path.clone(),
            config: ws.endpoint_config(&registration.path),
            routes,
            pipeline,
            metrics: EndpointMetrics::new(registration.name, &registration.path),
            make: registration.make.clone(),
        });
    }
    Ok(RawPlan { endpoints })
}

impl RawPlan {
    /// Whether a raw endpoint is registered at `path`.
    pub(crate) fn serves(&self, path: &str) -> bool {
        self.endpoints.iter().any(|planned| planned.path == path)
    }

    /// Whether a raw endpoint is mounted at the axum route `route` (a prefix endpoint has two).
    #[cfg(feature = "asyncapi")]
    pub(crate) fn has_route(&self, route: &str) -> bool {
        self.endpoints
            .iter()
            .any(|planned| planned.routes.iter().any(|r| r == route))
    }

    /// Mounts every raw endpoint on `router`. Exact paths beat prefixes and longer prefixes beat shorter ones
    /// because axum's router prefers static segments and backtracks to the longest matching catch-all.
    pub(crate) fn mount(self, mut router: Router, shared: &Arc<Shared>) -> Router {
        for planned in self.endpoints {
            let endpoint = (planned.make)(planned.pipeline, planned.config, planned.metrics, shared.clone());
            tracing::debug!(path = %planned.path, routes = ?planned.routes, "raw socket mounted");
            for route in &planned.routes {
                let endpoint = endpoint.clone();
                router = router.route(
                    route,
                    get(move |request: Request| {
                        let endpoint = endpoint.clone();
                        async move { endpoint.handle(request) }
                    }),
                );
            }
        }
        router
    }
}

/// A raw endpoint without its types.
pub(crate) trait RawRoute: Send + Sync + 'static {
    fn handle(self: Arc<Self>, request: Request) -> Response;
}

struct RawEndpoint<C, F> {
    path: String,
    pipeline: Pipeline,
    config: ServerConfig,
    metrics: EndpointMetrics,
    handler: Arc<F>,
    shared: Arc<Shared>,
    contract: PhantomData<fn() -> C>,
}

impl<C, F, Fut> RawRoute for RawEndpoint<C, F>
where
    C: RawContract,
    F: Fn(RawConnected<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn handle(self: Arc<Self>, mut request: Request) -> Response {
        if let Some(refusal) = self.shared.refusal(&request, &self.path) {
            return refusal;
        }
        let accepted = match upgrade::accept_with_protocols(&mut request, C::PROTOCOLS) {
            Ok(accepted) => accepted,
            Err(response) => return response,
        };
        let addresses = Addresses::of_request(&request);
        let upgrade = Upgrade {
            path: request.uri().path().to_owned(),
            url: request.uri().to_string(),
            headers: request.headers().clone(),
            remote_address: addresses.remote,
        };
        // `peer` is recorded once the upgraded socket is known (Handshake::start).
        let span = tracing::info_span!(
            "ws_connection",
            api = self.metrics.api,
            path = %upgrade.path,
            peer = tracing::field::Empty
        );
        tokio::spawn(self.run(accepted.upgrade, addresses, upgrade).instrument(span));
        accepted.response
    }
}

impl<C, F, Fut> RawEndpoint<C, F>
where
    C: RawContract,
    F: Fn(RawConnected<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    async fn run(self: Arc<Self>, on_upgrade: hyper::upgrade::OnUpgrade, known: Addresses, mut upgrade: Upgrade) {
        let config = &self.config;
        let Some(mut handshake) = Handshake::start(on_upgrade, known, config, self.metrics).await else {
            return;
        };
        upgrade.remote_address = handshake.addresses().remote;
        let query_string = upgrade.url.split_once('?').map(|(_, query)| query);
        let query = parse_query(query_string);
        let Some(typed_query) = handshake.check_query(C::decode_query(query.clone())).await else {
            return;
        };
        let credentials = if C::CUSTOM_CLIENT {
            Credentials::Upgrade(http_inbound(&upgrade.headers, query_string))
        } else {
            Credentials::InBand {
                cookie: cookie_header(&upgrade.headers),
                query,
                early_frames: EarlyFrames::Drop,
            }
        };
        let Some(authenticated) = handshake.authenticate(&self.pipeline, credentials).await else {
            return;
        };
        let (session, sender, inbound) = RawSession::new(config.session.clone(), !C::CUSTOM_CLIENT);
        self.shared.sockets.register_raw(
            SocketInfo {
                path: upgrade.path.clone(),
                extensions: authenticated.extensions.clone(),
                wires: authenticated.wires.clone(),
            },
            &session.control(),
        );
        let connected = RawConnected::<C> {
            socket: RawSocket { sender, inbound },
            query: typed_query,
            upgrade,
            extensions: authenticated.extensions,
            wires: authenticated.wires,
            grants: authenticated.grants,
        };
        tokio::spawn((self.handler)(connected));
        // The handler has the socket: from here on frames are delivered.
        let (ws, _open) = handshake.open(!C::CUSTOM_CLIENT).await;
        let end = session.run(ws).await;
        tracing::info!(%end, "raw WebSocket disconnected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A foreign-client contract, allowed on wildcard paths.
    struct Desktop;

    impl RawContract for Desktop {
        const NAME: &'static str = "Desktop";
        const CUSTOM_CLIENT: bool = true;
        type Query = ();
    }

    fn routes_of(plan: &RawPlan) -> Vec<(&str, Vec<&str>)> {
        plan.endpoints
            .iter()
            .map(|p| (p.path.as_str(), p.routes.iter().map(String::as_str).collect()))
            .collect()
    }

    /// A prefix `/base/*` is routed at `/base`, `/base/` and `/base/{*rest}`, minus what exact endpoints own.
    #[test]
    fn prefixes_route_their_base_unless_an_exact_endpoint_owns_it() {
        let ws = GrestWs::new()
            .raw(RawSchema::<Desktop>::new("desktop/*"), |_| async {})
            .raw(RawSchema::<Desktop>::new("files/*"), |_| async {})
            .raw(RawSchema::<Desktop>::new("files/"), |_| async {});
        let mut problems = Vec::new();
        let plan = plan(&ws, &["/desktop"], false, &mut problems).expect("no duplicates");
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            routes_of(&plan),
            [
                ("/desktop/*", vec!["/desktop/", "/desktop/{*rest}"]),
                ("/files/*", vec!["/files", "/files/{*rest}"]),
                ("/files/", vec!["/files/"]),
            ]
        );
        assert!(plan.serves("/desktop/*") && plan.serves("/files/"));
        assert!(!plan.serves("/desktop"), "the typed endpoint is not a raw one");
    }

    /// A raw path that a typed endpoint already has is a duplicate.
    #[test]
    fn a_raw_path_taken_by_a_typed_endpoint_is_a_duplicate() {
        let ws = GrestWs::new().raw(RawSchema::<Desktop>::new("ws/chat"), |_| async {});
        let result = plan(&ws, &["/ws/chat"], false, &mut Vec::new());
        assert!(matches!(result, Err(BuildError::DuplicatePath(path)) if path == "/ws/chat"));
    }
}
