//! The seam between the session engine and generated contract code: routing inbound `m`/`r` frames to typed
//! handlers.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;

use grest_ws_core::contract::{ContractMeta, Direction};
use grest_ws_core::envelope::Envelope;
use grest_ws_core::error::{INVALID_ARGUMENTS, MethodError, RouteNotFound};
use grest_ws_core::handler::{Cause, HandlerError, HandlerResult};
use grest_ws_core::validate::{self, Validate};
use grest_ws_core::{Contract, ErrorEnvelope, GrestError, ValidationError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::PeerHandle;
use crate::live::PartialHandlers;
use crate::log_limit::LogLimit;

/// A boxed, sendable future borrowing the handler.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The outcome of dispatching one inbound message: its result envelope now or later.
pub enum Call<'a> {
    /// Answered without running a handler (bad input, unhandled method).
    Ready(Envelope),
    /// The handler's future; resolves to the result envelope.
    Pending(BoxFuture<'a, Envelope>),
}

impl Call<'_> {
    /// An error envelope, ready to send.
    pub fn error(error: &impl GrestError) -> Self {
        Call::Ready(Envelope::failure(error.to_envelope()))
    }

    /// The answer to a request for a method nobody handles: `ROUTE_NOT_FOUND` naming the path.
    pub fn route_not_found(path: &str) -> Self {
        Call::error(&RouteNotFound::for_path(path))
    }
}

/// Something that handles inbound messages by method index (into [`ContractMeta::methods`]).
pub trait Dispatch: Send + Sync {
    /// The route of an inbound path, if this dispatcher handles it.
    fn route(&self, path: &str) -> Option<Route>;

    /// Runs (or starts) the handler of `route` with the raw frame data.
    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_>;
}

/// One contract's handlers on one connection, called by route (the server: the application's handler behind the
/// generated `ServeWith`, with the connection's permissions).
pub trait ContractDispatch: Send + Sync {
    /// Runs (or starts) the handler of `route` (a method of this contract) with the raw frame data.
    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_>;
}

/// The session's router: every inbound `r`/`m` path is looked up once in one table ([`Routes`]) and handed to the
/// contract that owns it — one contract, or the modules of one anchor sharing a socket.
pub struct Router<T> {
    routes: std::sync::Arc<Routes>,
    contracts: Vec<T>,
}

impl<T> Router<T> {
    /// A router over `contracts`, indexed by the routes' [`Route::target`].
    pub fn new(routes: std::sync::Arc<Routes>, contracts: Vec<T>) -> Self {
        Router { routes, contracts }
    }

    /// The contract a route leads to.
    pub fn contract(&self, route: &Route) -> Option<&T> {
        self.contracts.get(route.target)
    }
}

impl<T: ContractDispatch> Dispatch for Router<T> {
    fn route(&self, path: &str) -> Option<Route> {
        self.routes.get(path)
    }

    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_> {
        match self.contract(route) {
            Some(contract) => contract.call(route, data),
            None => Call::route_not_found(route.path),
        }
    }
}

impl<T: ContractDispatch + ?Sized> ContractDispatch for Box<T> {
    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_> {
        (**self).call(route, data)
    }
}

/// A contract's handlers whose futures own what they use (the client's), so they can be shared behind an `Arc`
/// and swapped while a socket runs (pooled sockets attach and detach contracts).
pub trait OwnedDispatch: Send + Sync {
    /// Like [`Dispatch::call`], with a future that borrows nothing.
    fn call_owned(&self, route: &Route, data: Option<&str>) -> Call<'static>;
}

/// Exact path → method lookup, built once per registration (one contract, or several modules on one socket).
#[derive(Debug, Clone, Default)]
pub struct Routes {
    by_path: HashMap<&'static str, Route, BuildHasherDefault<Fnv>>,
}

/// FNV-1a over the path's bytes. The table is built once from the contract's own paths and only looked up with
/// what a client sends (nothing a client sends is ever inserted), so an unkeyed hash is safe here — and about a
/// tenth of SipHash's cost for a short path.
#[derive(Debug, Clone, Copy)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// One routable method.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// Which contract of a multi-contract dispatcher (0 for a single contract).
    pub target: usize,
    /// Index into that contract's [`ContractMeta::methods`].
    pub method: usize,
    /// The wire path (echoed in replies).
    pub path: &'static str,
    /// Whether the method is request-response.
    pub is_request: bool,
}

impl Routes {
    /// The routes of the methods that travel in `direction` (a server routes client-to-server methods).
    pub fn new(meta: &'static ContractMeta, direction: Direction) -> Self {
        let mut routes = Routes::default();
        routes.add(0, meta, direction);
        routes
    }

    /// Adds one contract's methods as `target`; returns the paths that were already routed (and are left as
    /// they were).
    pub fn add(&mut self, target: usize, meta: &'static ContractMeta, direction: Direction) -> Vec<&'static str> {
        let mut clashes = Vec::new();
        for (method, m) in meta.methods_in(direction) {
            let route = Route {
                target,
                method,
                path: m.path,
                is_request: m.is_request,
            };
            if self.by_path.contains_key(m.path) {
                clashes.push(m.path);
            } else {
                self.by_path.insert(m.path, route);
            }
        }
        clashes
    }

    /// Looks a path up.
    pub fn get(&self, path: &str) -> Option<Route> {
        self.by_path.get(path).copied()
    }
}

/// A contract with typed handles for both ends, as generated by `contract!`.
pub trait DuplexContract: Contract {
    /// The server's typed handle to one connected client (server-to-client calls).
    type Peer: From<PeerHandle> + AsRef<PeerHandle> + Clone + Send + Sync + 'static;
    /// The client's typed handle to the server (client-to-server calls).
    type Client: From<PeerHandle> + AsRef<PeerHandle> + Clone + Send + Sync + 'static;
    /// The client's handlers for server-to-client methods (partial).
    type Handlers: PartialHandlers;
}

/// One server-to-client method of a contract, as a type: `contract!` generates a marker per method (in the
/// contract's `push` module), so tools generic over contracts — the test kit's push expectations — name a method
/// by type and get its input typed.
pub trait ServerToClientMethod: Copy + Send + Sync + 'static {
    /// The contract the method belongs to.
    type Contract: DuplexContract;
    /// Its input (`()` without one).
    type Input: Serialize + DeserializeOwned + Validate + Send + 'static;
    /// Its wire path, `Contract.method`.
    const PATH: &'static str;
}

/// A server-to-client method that expects an answer (request-response), with the types of the answer.
pub trait ServerToClientRequest: ServerToClientMethod {
    /// What the client answers on success.
    type Success: Serialize + DeserializeOwned + Validate + Send + 'static;
    /// The method's declared errors (its generated error enum).
    type Error: MethodError + Send + 'static;
}

/// Implemented by `contract!` for every type that implements the contract's server trait: dispatches
/// client-to-server messages to the handler. (On the contract, not the handler, to satisfy the orphan rule.)
#[diagnostic::on_unimplemented(
    message = "`{S}` does not implement the server trait of contract `{Self}`",
    label = "implement the generated server trait for this type"
)]
pub trait ServeWith<S>: DuplexContract {
    /// Runs (or starts) the handler of client-to-server `method`.
    fn call<'a>(handler: &'a S, method: usize, data: Option<&str>) -> Call<'a>;
}

/// What a connect handler of this contract may return, `R`: the per-connection value that serves the contract (a
/// type implementing its server trait), or a [`HandlerResult`] of it whose error refuses the connection with one of
/// the contract's declared connect errors (`x` frame, close 4001). `contract!` implements both. (On the contract,
/// not the returned type, to satisfy the orphan rule.)
#[diagnostic::on_unimplemented(
    message = "a connect handler of `{Self}` returns `{R}`",
    label = "return the type implementing the contract's server trait, or a `HandlerResult<_, ConnectError>` of it"
)]
pub trait ConnectWith<R>: Contract {
    /// The per-connection value serving the contract.
    type Server: Send + Sync + 'static;
    /// The value, or the refusal.
    fn into_result(returned: R) -> HandlerResult<Self::Server, Self::ConnectError>;
}

/// Decodes an inbound input for a handler; bad input becomes the `VALIDATION_ERROR` envelope (422,
/// "Invalid arguments") regardless of the method's declared errors.
pub fn decode_input<T: DeserializeOwned + Validate>(data: Option<&str>) -> Result<T, Envelope> {
    validate::decode::<T>(data)
        .map_err(|issues| ValidationError::with_display_message(issues, INVALID_ARGUMENTS).into())
}

/// The envelope of a request handler's result (see [`grest_ws_core::envelope::encode_result`]). An undeclared
/// error becomes `SERVER_ERROR` and its cause is logged under the reference the peer receives; an unencodable reply
/// is logged and becomes `SERVER_ERROR` "Invalid response".
pub fn reply<T: serde::Serialize + Validate, E: MethodError>(path: &str, result: HandlerResult<T, E>) -> Envelope {
    let result = result.map_err(|failure| error_to_send(path, failure));
    grest_ws_core::envelope::encode_result(&result).unwrap_or_else(|wire: ErrorEnvelope| {
        tracing::error!(path, error_ref = %wire.context.reference, "handler returned a reply that breaks its contract");
        Envelope::failure(wire)
    })
}

/// The error a failed handler of `path` answers with: its declared error, or `SERVER_ERROR` with the undeclared
/// cause logged under the reference the peer receives.
pub fn error_to_send<E: MethodError>(path: &str, failure: HandlerError<E>) -> E {
    let (sent, cause) = failure.into_reply();
    if let Some(cause) = cause {
        log_cause(path, &cause);
    }
    sent
}

/// How much of a cause's text one log line carries.
const CAUSE_LIMIT: usize = 1024;

/// Logs the cause of an undeclared handler error (with its chain of sources) under the reference its peer got, at
/// most 10 lines a second: a failing database must not flood the log.
fn log_cause(path: &str, cause: &Cause) {
    static CAUSES: LogLimit = LogLimit::new(10);
    if let Some(suppressed) = CAUSES.admit() {
        let mut chain = cause.error.to_string();
        let mut source = cause.error.source();
        while let Some(next) = source {
            chain.push_str(": ");
            chain.push_str(&next.to_string());
            source = next.source();
        }
        if chain.len() > CAUSE_LIMIT {
            let end = (0..=CAUSE_LIMIT)
                .rev()
                .find(|&i| chain.is_char_boundary(i))
                .unwrap_or(0);
            chain.truncate(end);
            chain.push('…');
        }
        tracing::error!(path, error_ref = %cause.reference, error = chain, suppressed, "handler failed");
    }
}

/// The envelope a fire-and-forget method answers when called with `r`.
pub fn ok_without_data() -> Envelope {
    Envelope::OK_WITHOUT_DATA
}
