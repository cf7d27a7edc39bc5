//! The grest-ws server: typed WebSocket endpoints mounted on an axum [`Router`], next to ordinary HTTP routes.
//!
//! Each connection runs the handshake pipeline — Origin policy, query validation (close 4000), the in-band `h`
//! frame, the schema's `uses` list in its order (credential wires, ambient wires, middleware slots) and the
//! server-wide middleware, the connect permission (`x` + close 4001 on any failure) — then the connect handler
//! builds the per-connection value that implements the contract's server trait; only then is `k` sent.
//!
//! Every typed connection is in its endpoint's [`Rooms`] from the handshake until it closes: broadcasts to a room,
//! to everyone or to either minus some connections are serialized once and never wait for a slow reader. Per
//! endpoint settings ([`GrestWs::endpoint_session`]) choose the outbound budget and the [`SlowConsumer`](grest_ws_session::SlowConsumer) policy.
//!
//! Serve the router with [`serve`](fn@serve): `axum::serve` plus the limits a server on the open internet needs (header and
//! idle timeouts, a header size cap, a connection cap, graceful shutdown; see [`ServeConfig`]).
//!
//! Most users reach this crate as `grest_ws::server` through the [`grest-ws`](https://docs.rs/grest-ws)
//! umbrella crate, whose `contract!` declares the contracts served here:
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
//! use axum::{Router, routing::get};
//! use grest_ws::server::{Connected, GrestWs, serve};
//!
//! struct ChatSession {
//!     peer: chat::Peer,
//! }
//!
//! impl chat::Server for ChatSession {
//!     async fn send_message(&self, input: SendMessageRequest) -> grest_ws::HandlerResult<String, chat::SendMessageError> {
//!         self.peer.new_message(&input.text).await?;
//!         Ok("m1".to_owned())
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let sockets = GrestWs::new()
//!         .ws(CHAT_API, |conn: Connected<Chat>| async move { ChatSession { peer: conn.peer } })
//!         .build()?;
//!     let app = Router::new().route("/health", get(|| async { "ok" })).merge(sockets);
//!     serve(tokio::net::TcpListener::bind("0.0.0.0:3000").await?, app).await?;
//!     Ok(())
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod addresses;
#[cfg(feature = "asyncapi")]
mod asyncapi;
mod auth;
mod backplane;
mod connection;
mod handshake;
pub mod metrics;
mod raw;
mod rooms;
mod serve;
mod server_events;
mod sockets;
#[cfg(feature = "tls")]
mod tls;
mod upgrade;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use grest_ws_core::auth::{Wire, WireSource};
use grest_ws_core::contract::Group;
use grest_ws_core::{ContractMeta, Direction, Permission, WebSocketSchema};
use grest_ws_session::{ConnectWith, Routes, ServeWith, SessionConfig};

use auth::{Binding, Bindings, ErasedMiddleware, Pipeline, Stage};
pub use auth::{HttpAuth, Middleware, OriginPolicy, WireHandler, require_auth};
pub use backplane::{Backplane, CLUSTER_QUERY_TIMEOUT, Inbox, NODE_EXPIRY, NODE_HEARTBEAT, PublishError};
pub use connection::{Connected, ConnectionInfo};
use connection::{Endpoint, Module, Shared, TypedModule};
pub use grest_ws_core::auth::{Grants, Inbound, WireContext};
pub use handshake::{CLOSE_HANDSHAKE_FAILED, CLOSE_INVALID_QUERY};
use metrics::{EndpointMetrics, EndpointObserver};
pub use raw::{RawConnected, RawSocket, Upgrade};
use rooms::Registry;
pub use rooms::{Broadcast, Delivery, Rooms};
pub use serve::{Serve, ServeConfig, serve};
pub use server_events::{SERVER_EVENT_BUFFER, ServerEventError, ServerEventReceiver, ServerEvents};
pub use sockets::{SocketInfo, Sockets};
#[cfg(feature = "tls")]
pub use tls::{TlsIdentity, TlsIdentityError};
/// The rustls crate the server's TLS is built on, for [`TlsIdentity::from_rustls`] and [`TlsIdentity::new`]'s
/// certificate types (`rustls::pki_types`).
#[cfg(feature = "tls")]
pub use tokio_rustls::rustls;

/// Server settings; each field names its default (see also docs/protocol.md §2).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// How long a new connection may take to send its `h` frame. Default 5 s.
    pub handshake_timeout: Duration,
    /// How long a connection refused before its session starts — a bad query (4000), a failed or missing
    /// handshake (`x` + 4001) — gets to answer the Close frame before the TCP connection is dropped. Default 1 s,
    /// so a socket that never handshakes is gone [`ServerConfig::handshake_timeout`] + 1 s after it opened.
    pub rejection_grace: Duration,
    /// Per-session limits.
    pub session: SessionConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            handshake_timeout: Duration::from_secs(5),
            rejection_grace: Duration::from_secs(1),
            session: SessionConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Sets the handshake timeout.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`ServerConfig::rejection_grace`].
    #[must_use]
    pub fn rejection_grace(mut self, grace: Duration) -> Self {
        self.rejection_grace = grace;
        self
    }

    /// Sets the per-session limits.
    #[must_use]
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }
}

/// A schema that names an endpoint path: a typed [`WebSocketSchema`] or a raw
/// [`RawSchema`](grest_ws_core::RawSchema) (see [`GrestWs::endpoint_session`]).
pub trait EndpointPath {
    /// The path with a leading `/`, as registered.
    fn route_path(&self) -> String;
}

impl<C> EndpointPath for WebSocketSchema<C> {
    fn route_path(&self) -> String {
        WebSocketSchema::route_path(self)
    }
}

impl<C> EndpointPath for grest_ws_core::RawSchema<C> {
    fn route_path(&self) -> String {
        grest_ws_core::RawSchema::route_path(self)
    }
}

/// Why [`GrestWs::build`] refused to build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two endpoints on one path.
    #[error("WebSocket path {0:?} is registered more than once")]
    DuplicatePath(String),
    /// The registration is unsafe or inconsistent; every offender is listed.
    #[error("refusing to start:\n  - {}", .0.join("\n  - "))]
    Refused(Vec<String>),
}

/// A `.ws(...)` call, kept until [`GrestWs::build`] has checked the whole server.
struct Registration {
    path: String,
    meta: &'static ContractMeta,
    wires: &'static [Wire],
    group: Option<Group>,
    module: Arc<dyn Module>,
    rooms: Arc<Registry>,
}

/// Collects typed WebSocket endpoints, wire bindings and middleware, checks them, and builds an axum router.
#[must_use]
pub struct GrestWs {
    config: ServerConfig,
    origin: OriginPolicy,
    sockets: Sockets,
    bindings: Bindings,
    middleware: Vec<Arc<dyn ErasedMiddleware>>,
    /// Every HTTP guard made here: who it is (for messages) and the permission it declares.
    guards: std::sync::Mutex<Vec<(String, Option<Permission>)>>,
    registrations: Vec<Registration>,
    raw: Vec<raw::RawRegistration>,
    rooms: std::sync::Mutex<HashMap<String, Arc<Registry>>>,
    events: std::sync::Mutex<HashMap<String, Arc<server_events::Hub>>>,
    endpoint_sessions: HashMap<String, SessionConfig>,
    backplane: Option<Arc<dyn Backplane>>,
    #[cfg(feature = "asyncapi")]
    asyncapi: asyncapi::Endpoints,
}

impl Default for GrestWs {
    fn default() -> Self {
        GrestWs::new()
    }
}

impl std::fmt::Debug for GrestWs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrestWs")
            .field(
                "paths",
                &self.registrations.iter().map(|r| r.path.as_str()).collect::<Vec<_>>(),
            )
            .field("bound", &self.bindings.keys().map(Wire::name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl GrestWs {
    /// No endpoints, default settings.
    pub fn new() -> Self {
        GrestWs {
            config: ServerConfig::default(),
            origin: OriginPolicy::default(),
            sockets: Sockets::default(),
            bindings: HashMap::new(),
            middleware: Vec::new(),
            guards: std::sync::Mutex::new(Vec::new()),
            registrations: Vec::new(),
            raw: Vec::new(),
            endpoint_sessions: HashMap::new(),
            rooms: std::sync::Mutex::new(HashMap::new()),
            events: std::sync::Mutex::new(HashMap::new()),
            backplane: None,
            #[cfg(feature = "asyncapi")]
            asyncapi: asyncapi::Endpoints::default(),
        }
    }

    /// Shares this server's rooms with the other server processes of a deployment through `backplane` (see
    /// [`Backplane`]; the `grest-ws-redis` crate has one on Redis). [`Rooms`] broadcasts then reach the members on
    /// every node; nothing else changes for the application. Without a backplane, rooms are this process's.
    /// [`GrestWs::build`] must then run inside a Tokio runtime (the node's heartbeat is a task).
    pub fn backplane(mut self, backplane: impl Backplane) -> Self {
        self.backplane = Some(Arc::new(backplane));
        self
    }

    /// Replaces the settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the Origin policy (by default every browser upgrade must be same-origin; see [`OriginPolicy`]).
    pub fn origin_policy(mut self, policy: OriginPolicy) -> Self {
        self.origin = policy;
        self
    }

    /// Binds the handler that verifies `wire`'s credentials, once for the whole server: every schema that uses the
    /// wire, and every [`HttpAuth`] built from it, runs this handler. [`GrestWs::build`] refuses a handler bound
    /// to an ambient wire or a middleware slot that a schema uses.
    pub fn bind<H: WireHandler>(mut self, wire: Wire, handler: H) -> Self {
        self.bindings.insert(wire, Binding::Handler(Arc::new(handler)));
        self
    }

    /// Binds `middleware` to a [middleware slot](Wire::middleware), once for the whole server: every schema that
    /// lists the slot in its `uses` runs it at that place among its wires (and so does every [`HttpAuth`] built
    /// with it). [`GrestWs::build`] refuses a middleware bound to a wire that is not a slot and a schema uses.
    pub fn bind_middleware<M: Middleware>(mut self, slot: Wire, middleware: M) -> Self {
        self.bindings.insert(slot, Binding::Middleware(Arc::new(middleware)));
        self
    }

    /// Adds a middleware that runs in every endpoint's handshake (typed and raw), after the schema's whole `uses`
    /// list — its wires and its middleware slots — in the order added. To place a middleware among a schema's
    /// wires, or on some schemas only, give it a slot ([`GrestWs::bind_middleware`]).
    pub fn middleware<M: Middleware>(mut self, middleware: M) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Overrides the session settings of the endpoint at `schema`'s path (a typed [`WebSocketSchema`] or a
    /// [`RawSchema`](grest_ws_core::RawSchema)) — its outbound budget and slow-consumer policy, message size,
    /// timeouts — while every other endpoint keeps [`ServerConfig::session`]. For modules of one anchor, the
    /// override applies to their shared path. [`GrestWs::build`] refuses a path that no endpoint serves.
    pub fn endpoint_session(mut self, schema: impl EndpointPath, session: SessionConfig) -> Self {
        self.endpoint_sessions.insert(schema.route_path(), session);
        self
    }

    /// The settings of the endpoint at `path`: the server's, with its session override applied.
    fn endpoint_config(&self, path: &str) -> ServerConfig {
        match self.endpoint_sessions.get(path) {
            Some(session) => ServerConfig {
                session: session.clone(),
                ..self.config.clone()
            },
            None => self.config.clone(),
        }
    }

    /// The rooms of the endpoint at `schema`'s path (the same registry its connections see in
    /// [`Connected::rooms`]); call it before or after [`GrestWs::ws`], e.g. to broadcast from an HTTP route.
    pub fn rooms<C>(&self, schema: WebSocketSchema<C>) -> Rooms<C> {
        Rooms::new(self.registry(&schema.route_path()))
    }

    /// The two ends of the server-event channel `name`, carrying `T` values between the server processes of a
    /// cluster (Socket.IO's `serverSideEmit`; see [`ServerEvents`]). Each call gives a new receiver; every
    /// receiver of the channel gets each value another node publishes.
    pub fn server_events<T>(&self, name: &str) -> (ServerEvents<T>, ServerEventReceiver<T>) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let hub = events
            .entry(name.to_owned())
            .or_insert_with(|| server_events::Hub::new(name));
        server_events::channel(hub.clone())
    }

    fn registry(&self, path: &str) -> Arc<Registry> {
        let mut rooms = self.rooms.lock().unwrap_or_else(|e| e.into_inner());
        rooms.entry(path.to_owned()).or_default().clone()
    }

    /// The live connections of this server (to close a user's sockets, or count them).
    pub fn sockets(&self) -> Sockets {
        self.sockets.clone()
    }

    /// A guard for axum HTTP routes that runs these wires with the handlers bound here (one wire, two
    /// transports) and only authenticates: it declares no permission, so [`GrestWs::build`] refuses it in strict
    /// mode (use [`GrestWs::http_auth_requiring`] there). Fails when a wire is not bound as [`GrestWs::build`]
    /// requires.
    pub fn http_auth(&self, wires: &[Wire]) -> Result<HttpAuth, BuildError> {
        self.http_guard(wires, None)
    }

    /// A guard for axum HTTP routes that runs these wires, then requires `permission` of the scopes they resolved:
    /// a request without it is answered 403 with a `FORBIDDEN` envelope (one that fails a wire, 401
    /// `NOT_AUTHORIZED` or whatever the handler returned). A guard's permission counts toward strict mode like a
    /// socket's. Fails when a wire is not bound, or the permission is malformed or non-public while no wire
    /// resolves permissions (the guard would refuse every request).
    pub fn http_auth_requiring(&self, wires: &[Wire], permission: Permission) -> Result<HttpAuth, BuildError> {
        self.http_guard(wires, Some(permission))
    }

    fn http_guard(&self, wires: &[Wire], permission: Option<Permission>) -> Result<HttpAuth, BuildError> {
        let mut problems = Vec::new();
        let names: Vec<&'static str> = wires.iter().map(Wire::name).collect();
        let owner = format!("HTTP guard ({})", names.join(", "));
        let pipeline = Pipeline {
            stages: self.wire_stages(wires, &owner, &mut problems),
            connect_permission: permission,
        };
        if let Some(permission) = &permission {
            check_permission(
                &owner,
                "the guard",
                permission,
                pipeline.resolves_permissions(),
                &mut problems,
            );
        }
        if !problems.is_empty() {
            return Err(BuildError::Refused(problems));
        }
        self.guards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((owner, permission));
        Ok(HttpAuth {
            pipeline: Arc::new(pipeline),
        })
    }

    /// Registers a typed endpoint. `on_connect` runs once per connection after the handshake, with the typed
    /// query, the principals and the handle to the client, and returns the per-connection value that implements
    /// the contract's server trait (a missing method is a compile error) — or a `HandlerResult` of it, whose error
    /// refuses the connection: one of the contract's declared connect errors (`x` frame with its envelope, close
    /// 4001; a typed client gets it as the contract's `ConnectError`), or with `?` on any other error,
    /// `SERVER_ERROR` with the cause logged under its reference.
    pub fn ws<C, F, Fut>(mut self, schema: WebSocketSchema<C>, on_connect: F) -> Self
    where
        C: ConnectWith<Fut::Output> + ServeWith<<C as ConnectWith<Fut::Output>>::Server>,
        F: Fn(Connected<C>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
    {
        let path = schema.route_path();
        let rooms = self.registry(&path);
        #[cfg(feature = "asyncapi")]
        self.asyncapi.typed(schema);
        self.registrations.push(Registration {
            path,
            meta: C::META,
            wires: schema.wires(),
            group: schema.group(),
            module: Arc::new(TypedModule::<C, F>::new(on_connect, rooms.clone())),
            rooms,
        });
        self
    }

    /// Checks the whole registration and builds the router. Refuses to build — listing every offender — when a
    /// path is registered twice, a used credential wire has no bound handler (or a used middleware slot no bound
    /// middleware; ambient wires need none, and must have none), two wires of a schema read the same header,
    /// cookie or query parameter, a server-to-client method declares a non-public permission, a non-public
    /// permission sits on a schema without a permission-resolving wire, a permission is malformed, or strict mode
    /// is on (some surface declares a permission) and a client-to-server method declares none.
    ///
    /// Merge the result into your application's router; an upgrade to any other path gets the router's 404.
    pub fn build(self) -> Result<Router, BuildError> {
        metrics::describe();
        let mut problems = Vec::new();
        let runtime = tokio::runtime::Handle::try_current();
        if self.backplane.is_some() && runtime.is_err() {
            problems.push(
                "a server with a backplane must be built inside a Tokio runtime (its node heartbeat is a task)".into(),
            );
        }
        let mut paths: Vec<(&str, Vec<&Registration>)> = Vec::new();
        for registration in &self.registrations {
            match paths.iter_mut().find(|(path, _)| *path == registration.path) {
                Some((_, members)) => members.push(registration),
                None => paths.push((&registration.path, vec![registration])),
            }
        }
        for (path, members) in &paths {
            check_sharing(path, members, &mut problems)?;
        }
        let guards = self.guards.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let strict = self.registrations.iter().any(|r| {
            r.meta.connect.permission.is_some()
                || r.meta
                    .methods_in(Direction::ClientToServer)
                    .any(|(_, m)| m.permission.is_some())
        }) || self.raw.iter().any(raw::RawRegistration::declares_permission)
            || guards.iter().any(|(_, permission)| permission.is_some());
        if strict {
            for (guard, _) in guards.iter().filter(|(_, permission)| permission.is_none()) {
                problems.push(format!(
                    "{guard}: declares no permission, but strict mode is on (another surface declares one); make it \
                     with GrestWs::http_auth_requiring (Permission::Public to keep it public)"
                ));
            }
        }
        let mut planned = Vec::with_capacity(paths.len());
        for (path, members) in &paths {
            let pipeline = self.pipeline_for(members[0], &mut problems);
            let mut routes = Routes::default();
            for (target, member) in members.iter().enumerate() {
                check_permissions(member, &pipeline, strict, &mut problems);
                routes.add(target, member.meta, Direction::ClientToServer);
            }
            let modules = members.iter().map(|m| m.module.clone()).collect();
            let rooms = members[0].rooms.clone();
            for member in members {
                rooms.add_methods(member.meta);
            }
            planned.push((
                path.to_string(),
                members[0].meta.name,
                pipeline,
                modules,
                Arc::new(routes),
                rooms,
            ));
        }
        let typed_paths: Vec<&str> = paths.iter().map(|(path, _)| *path).collect();
        let raw = raw::plan(&self, &typed_paths, strict, &mut problems)?;
        for path in self.endpoint_sessions.keys() {
            if !typed_paths.contains(&path.as_str()) && !raw.serves(path) {
                problems.push(format!("session settings for {path:?}, which no endpoint serves"));
            }
        }
        #[cfg(feature = "asyncapi")]
        let document = self
            .asyncapi
            .render(|path| typed_paths.contains(&path) || raw.has_route(path), &mut problems);
        if !problems.is_empty() {
            return Err(BuildError::Refused(problems));
        }
        let shared = Arc::new(Shared {
            origin: self.origin.clone(),
            sockets: self.sockets.clone(),
        });
        let mut router = Router::new();
        let mut clustered = HashMap::new();
        for (path, api, pipeline, modules, routes, rooms) in planned {
            let metrics = EndpointMetrics::new(api, &path);
            rooms.set_metrics(metrics);
            clustered.insert(path.clone(), rooms.clone());
            let endpoint = Arc::new(Endpoint {
                path: path.clone(),
                config: self.endpoint_config(&path),
                pipeline,
                modules,
                routes,
                rooms,
                shared: shared.clone(),
                metrics,
                observer: Arc::new(EndpointObserver::new(metrics)),
            });
            router = router.route(
                &path,
                get(move |request: Request| {
                    let endpoint = endpoint.clone();
                    async move { endpoint.handle(request) }
                }),
            );
        }
        if let Some(backplane) = self.backplane {
            let events = self.events.into_inner().unwrap_or_else(|e| e.into_inner());
            if let Ok(runtime) = runtime {
                backplane::Cluster::start(&runtime, backplane, clustered, events);
            }
        }
        #[cfg(feature = "asyncapi")]
        if let Some((path, body)) = document {
            router = asyncapi::mount(router, &path, body);
        }
        Ok(raw.mount(router, &shared))
    }

    /// The handshake stages of a `uses` list, in its order; what is missing or mis-bound goes to `problems`.
    fn wire_stages(&self, wires: &[Wire], owner: &str, problems: &mut Vec<String>) -> Vec<Stage> {
        let mut sources = HashSet::new();
        let mut stages = Vec::with_capacity(wires.len());
        for wire in wires {
            let name = wire.name();
            let key = match wire.source() {
                WireSource::Header { name, .. } => format!("header {:?}", name.to_ascii_lowercase()),
                WireSource::Cookie { name } => format!("cookie {name:?}"),
                WireSource::Query { name } => format!("query parameter {name:?}"),
                WireSource::Middleware => format!("middleware slot {name:?}"),
            };
            if !sources.insert(key.clone()) {
                problems.push(format!("{owner}: two wires read the same {key}"));
            }
            let binding = self.bindings.get(wire);
            match (wire.is_middleware(), wire.is_ambient(), binding) {
                (true, _, Some(Binding::Middleware(middleware))) => stages.push(Stage::Middleware(middleware.clone())),
                (true, _, Some(Binding::Handler(_))) => problems.push(format!(
                    "{owner}: middleware slot {name:?} is bound to a wire handler; bind a Middleware to it with \
                     GrestWs::bind_middleware"
                )),
                (true, _, None) => problems.push(format!(
                    "{owner}: middleware slot {name:?} is used but no middleware is bound to it \
                     (GrestWs::bind_middleware)"
                )),
                (false, true, None) => stages.push(Stage::Ambient(*wire)),
                (false, true, Some(_)) => problems.push(format!(
                    "{owner}: wire {name:?} is ambient (its value is kept, never verified) but something is bound \
                     to it; drop .ambient() to make it a credential wire"
                )),
                (false, false, Some(Binding::Handler(handler))) => {
                    stages.push(Stage::Credential(*wire, handler.clone()))
                }
                (false, false, Some(Binding::Middleware(_))) => problems.push(format!(
                    "{owner}: wire {name:?} is bound to a middleware; middleware goes on a Wire::middleware slot"
                )),
                (false, false, None) => problems.push(format!(
                    "{owner}: wire {name:?} is used but no handler is bound to it (GrestWs::bind; or declare it \
                     .ambient() when no handler should verify it)"
                )),
            }
        }
        stages
    }

    /// The handshake stages of an endpoint: its `uses` list in order, then the server-wide middleware.
    fn endpoint_stages(&self, wires: &[Wire], owner: &str, problems: &mut Vec<String>) -> Vec<Stage> {
        let mut stages = self.wire_stages(wires, owner, problems);
        stages.extend(self.middleware.iter().cloned().map(Stage::Middleware));
        stages
    }

    fn pipeline_for(&self, registration: &Registration, problems: &mut Vec<String>) -> Pipeline {
        let owner = format!("socket {} ({})", registration.path, registration.meta.name);
        Pipeline {
            stages: self.endpoint_stages(registration.wires, &owner, problems),
            connect_permission: registration.meta.connect.permission,
        }
    }
}

/// Several registrations may share a path only as modules of one anchor, with distinct module names.
fn check_sharing(path: &str, members: &[&Registration], problems: &mut Vec<String>) -> Result<(), BuildError> {
    let [first, rest @ ..] = members else { return Ok(()) };
    let Some(group) = first.group else {
        return if rest.is_empty() {
            Ok(())
        } else {
            Err(BuildError::DuplicatePath(path.to_owned()))
        };
    };
    if rest.iter().any(|m| !m.group.is_some_and(|g| g.same(&group))) {
        return Err(BuildError::DuplicatePath(path.to_owned()));
    }
    let mut names = HashSet::new();
    for member in members {
        if !names.insert(member.meta.name) {
            problems.push(format!(
                "duplicate extension {:?} on extendable contract {:?} at {path}",
                member.meta.name, group.name
            ));
        }
    }
    Ok(())
}

/// The rules for one declared permission of `surface`: well formed, and satisfiable — a non-public permission
/// needs a permission-resolving wire among `owner`'s (`resolves`), or it would refuse everyone.
fn check_permission(surface: &str, owner: &str, permission: &Permission, resolves: bool, problems: &mut Vec<String>) {
    if let Some(problem) = permission.problem() {
        problems.push(format!("{surface}: {problem}"));
    }
    if !permission.is_public() && !resolves {
        problems.push(format!(
            "{surface} requires a permission, but {owner} uses no permission-resolving wire: it would be \
             permanently FORBIDDEN"
        ));
    }
}

/// The permission rules of one registration (docs/protocol.md §6 refuse-to-start rules).
fn check_permissions(registration: &Registration, pipeline: &Pipeline, strict: bool, problems: &mut Vec<String>) {
    let meta = registration.meta;
    let surfaces = std::iter::once((format!("{} connect", meta.name), meta.connect.permission))
        .chain(meta.methods.iter().map(|m| (m.path.to_owned(), m.permission)));
    for (surface, permission) in surfaces {
        if let Some(permission) = permission {
            let owner = format!("socket {}", registration.path);
            check_permission(&surface, &owner, &permission, pipeline.resolves_permissions(), problems);
        }
    }
    for (_, method) in meta.methods_in(Direction::ServerToClient) {
        if method.permission.is_some_and(|p| !p.is_public()) {
            problems.push(format!(
                "{}: server-to-client methods are never gated; declare Permission::Public",
                method.path
            ));
        }
    }
    if strict {
        for (_, method) in meta.methods_in(Direction::ClientToServer) {
            if method.permission.is_none() {
                problems.push(format!(
                    "{}: declares no permission, but strict mode is on (another surface declares one); \
                     declare Permission::Public to make it public",
                    method.path
                ));
            }
        }
    }
}
