//! Handshake authentication: wire handlers, custom middleware, the pipeline that runs them once per connection
//! (or per HTTP request), and the Origin policy.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use grest_ws_core::auth::{Grants, Inbound, Wire};
use grest_ws_core::{Forbidden, GrestError, Permission, ServerError, WireError};
use grest_ws_session::BoxFuture;
use http::{Extensions, HeaderMap, StatusCode, header};

/// Verifies the credential of one [`Wire`] and mints the connection's principal. Bound once per server with
/// [`GrestWs::bind`](crate::GrestWs::bind); the same binding guards WebSocket handshakes and HTTP routes.
///
/// ```
/// use grest_ws_core::{NotAuthorized, WireError};
/// use grest_ws_server::WireHandler;
///
/// #[derive(Clone)]
/// struct User { id: String, scopes: Vec<String> }
///
/// struct UserTokens;
///
/// impl WireHandler for UserTokens {
///     type Principal = User;
///     const RESOLVES_PERMISSIONS: bool = true;
///
///     async fn process(&self, token: Option<&str>) -> Result<User, WireError> {
///         match token {
///             Some("secret-alice") => Ok(User { id: "alice".into(), scopes: vec!["chat:use".into()] }),
///             _ => Err(NotAuthorized::with_display_message("Invalid token").into()),
///         }
///     }
///
///     async fn permissions(&self, user: &User) -> Vec<String> {
///         user.scopes.clone()
///     }
/// }
/// ```
pub trait WireHandler: Send + Sync + 'static {
    /// The durable principal this wire mints (the raw credential is dropped after the handshake). Handlers read
    /// it from the connection's extensions; HTTP handlers with `Extension<Principal>`.
    type Principal: Clone + Send + Sync + 'static;

    /// Whether [`WireHandler::permissions`] resolves scopes, making this a permission wire. A schema whose
    /// methods declare non-public permissions needs at least one.
    const RESOLVES_PERMISSIONS: bool = false;

    /// Verifies the raw credential (`None` when the client sent none) and mints the principal; an error
    /// (typically `NOT_AUTHORIZED`) rejects the handshake with an `x` frame, or the HTTP request with its status.
    fn process(&self, credential: Option<&str>) -> impl Future<Output = Result<Self::Principal, WireError>> + Send;

    /// The scopes granted to the principal, resolved once per connection and pinned for its life.
    fn permissions(&self, _principal: &Self::Principal) -> impl Future<Output = Vec<String>> + Send {
        async { Vec::new() }
    }
}

/// Custom transport middleware for ambient, non-credential context (client version, locale), run at the
/// handshake after the schema's wires, in registration order: every `parse` first, then every `process`.
pub trait Middleware: Send + Sync + 'static {
    /// What `parse` extracts from the inbound view.
    type Parsed: Send + 'static;

    /// Reads what it needs from the handshake headers, the upgrade cookie and the query; an error rejects.
    fn parse(&self, inbound: &Inbound) -> Result<Self::Parsed, WireError>;

    /// Validates and stores context in the connection's extensions; an error rejects the handshake.
    fn process(
        &self,
        parsed: Self::Parsed,
        extensions: &mut Extensions,
    ) -> impl Future<Output = Result<(), WireError>> + Send;
}

/// A wire handler without its types.
pub(crate) trait ErasedWireHandler: Send + Sync {
    fn resolves_permissions(&self) -> bool;
    fn authenticate<'a>(
        &'a self,
        credential: Option<String>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, WireError>>;
}

impl<H: WireHandler> ErasedWireHandler for H {
    fn resolves_permissions(&self) -> bool {
        H::RESOLVES_PERMISSIONS
    }

    fn authenticate<'a>(
        &'a self,
        credential: Option<String>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, WireError>> {
        Box::pin(async move {
            let principal = self.process(credential.as_deref()).await?;
            let scopes = if H::RESOLVES_PERMISSIONS {
                Some(self.permissions(&principal).await)
            } else {
                None
            };
            extensions.insert(principal);
            Ok(scopes)
        })
    }
}

/// A middleware without its types.
pub(crate) trait ErasedMiddleware: Send + Sync {
    fn parse(&self, inbound: &Inbound) -> Result<Box<dyn Any + Send>, WireError>;
    fn process<'a>(
        &'a self,
        parsed: Box<dyn Any + Send>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<(), WireError>>;
}

impl<M: Middleware> ErasedMiddleware for M {
    fn parse(&self, inbound: &Inbound) -> Result<Box<dyn Any + Send>, WireError> {
        Middleware::parse(self, inbound).map(|parsed| Box::new(parsed) as Box<dyn Any + Send>)
    }

    fn process<'a>(
        &'a self,
        parsed: Box<dyn Any + Send>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<(), WireError>> {
        Box::pin(async move {
            match parsed.downcast::<M::Parsed>() {
                Ok(parsed) => Middleware::process(self, *parsed, extensions).await,
                Err(_) => Err(ServerError::new().into()),
            }
        })
    }
}

/// One step of a handshake.
#[derive(Clone)]
pub(crate) enum Stage {
    Wire(Wire, Arc<dyn ErasedWireHandler>),
    Middleware(Arc<dyn ErasedMiddleware>),
}

/// What a successful handshake produced.
pub(crate) struct Authenticated {
    pub(crate) extensions: Extensions,
    pub(crate) grants: Grants,
}

/// The handshake steps of one endpoint (or HTTP guard), resolved when the server is built.
#[derive(Clone, Default)]
pub(crate) struct Pipeline {
    pub(crate) stages: Vec<Stage>,
    pub(crate) connect_permission: Option<Permission>,
}

impl Pipeline {
    /// Runs every `parse` (wires read their credential), drops the raw inbound view, runs every `process`, then
    /// the connect-permission gate. Any failure is the error to send; a panic becomes `SERVER_ERROR`.
    pub(crate) async fn run(&self, inbound: Inbound) -> Result<Authenticated, WireError> {
        enum Parsed {
            Credential(Option<String>),
            Middleware(Box<dyn Any + Send>),
        }
        let mut parsed = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            parsed.push(match stage {
                Stage::Wire(wire, _) => Parsed::Credential(wire.read(&inbound).map(str::to_owned)),
                Stage::Middleware(m) => Parsed::Middleware(m.parse(&inbound)?),
            });
        }
        drop(inbound);
        let mut extensions = Extensions::new();
        let mut grants = Grants::default();
        let process = async {
            for (stage, parsed) in self.stages.iter().zip(parsed) {
                match (stage, parsed) {
                    (Stage::Wire(_, handler), Parsed::Credential(credential)) => {
                        if let Some(scopes) = handler.authenticate(credential, &mut extensions).await? {
                            grants.scopes.push(scopes);
                        }
                    }
                    (Stage::Middleware(m), Parsed::Middleware(parsed)) => m.process(parsed, &mut extensions).await?,
                    _ => return Err(ServerError::new().into()),
                }
            }
            Ok::<(), WireError>(())
        };
        match AssertUnwindSafe(process).catch_unwind().await {
            Ok(result) => result?,
            Err(_) => {
                let error = ServerError::new();
                tracing::error!(error_ref = %error.context.reference, "a wire handler or middleware panicked");
                return Err(error.into());
            }
        }
        if !grants.allows(self.connect_permission.as_ref()) {
            return Err(Forbidden::new().into());
        }
        Ok(Authenticated { extensions, grants })
    }

    /// Whether any wire is a permission wire.
    pub(crate) fn resolves_permissions(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s, Stage::Wire(_, h) if h.resolves_permissions()))
    }

    /// Whether a wire reads a cookie (such endpoints get the Origin check).
    pub(crate) fn uses_cookies(&self) -> bool {
        self.stages.iter().any(
            |s| matches!(s, Stage::Wire(w, _) if matches!(w.source(), grest_ws_core::auth::WireSource::Cookie { .. })),
        )
    }
}

/// Builds the inbound view of an HTTP request (headers with lower-case names, `Cookie`, query pairs).
pub(crate) fn http_inbound(headers: &HeaderMap, query: Option<&str>) -> Inbound {
    let mut inbound = Inbound {
        cookie: cookie_header(headers),
        query: parse_query(query),
        ..Inbound::default()
    };
    for (name, value) in headers {
        if let Ok(value) = value.to_str() {
            inbound
                .headers
                .entry(name.as_str().to_owned())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.to_owned());
        }
    }
    inbound
}

/// The request's cookies as one `Cookie` header value.
pub(crate) fn cookie_header(headers: &HeaderMap) -> Option<String> {
    let cookies: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!cookies.is_empty()).then(|| cookies.join("; "))
}

/// Query pairs of a URL query string, percent-decoded.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// Guards axum HTTP routes with the same wires and handlers as the sockets: one wire, two transports.
/// Get one from [`GrestWs::http_auth`](crate::GrestWs::http_auth) and install it with
/// `axum::middleware::from_fn_with_state(auth, grest_ws::server::require_auth)`; handlers then read the principal
/// with `Extension<Principal>`.
#[derive(Clone)]
pub struct HttpAuth {
    pub(crate) pipeline: Arc<Pipeline>,
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuth")
            .field("stages", &self.pipeline.stages.len())
            .finish()
    }
}

/// The axum middleware of [`HttpAuth`]: runs the wires on the request, puts the principals into the request's
/// extensions, or answers with the error envelope and its status code (401 for `NOT_AUTHORIZED`, …).
pub async fn require_auth(State(auth): State<HttpAuth>, mut request: Request, next: Next) -> Response {
    let inbound = http_inbound(request.headers(), request.uri().query());
    match auth.pipeline.run(inbound).await {
        Ok(authenticated) => {
            request.extensions_mut().extend(authenticated.extensions);
            request.extensions_mut().insert(authenticated.grants);
            next.run(request).await
        }
        Err(error) => error_response(&error),
    }
}

fn error_response(error: &WireError) -> Response {
    let status = StatusCode::from_u16(error.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], error.to_json()).into_response()
}

/// Which browser origins may open sockets. A schema that authenticates by cookie always checks: an upgrade
/// whose `Origin` is neither same-origin nor allowed gets HTTP 403 before the upgrade (cross-site WebSocket
/// hijacking protection). Requests without `Origin` (non-browser clients) pass unless [`OriginPolicy::require_origin`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct OriginPolicy {
    allowed: Vec<String>,
    every_socket: bool,
    require_origin: bool,
}

impl OriginPolicy {
    /// Same-origin only, for cookie-authenticated sockets.
    pub fn new() -> Self {
        OriginPolicy::default()
    }

    /// Also allows this origin (`https://app.example.com`).
    pub fn allow(mut self, origin: impl Into<String>) -> Self {
        self.allowed.push(origin.into().trim_end_matches('/').to_owned());
        self
    }

    /// Checks every socket, not only cookie-authenticated ones.
    pub fn check_every_socket(mut self) -> Self {
        self.every_socket = true;
        self
    }

    /// Refuses upgrades without an `Origin` header on checked sockets.
    pub fn require_origin(mut self) -> Self {
        self.require_origin = true;
        self
    }

    /// Whether an upgrade with these headers may proceed on a socket that does (`cookie_auth`) or does not use
    /// cookies.
    pub(crate) fn permits(&self, headers: &HeaderMap, cookie_auth: bool) -> bool {
        if !(cookie_auth || self.every_socket) {
            return true;
        }
        let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
            return !self.require_origin;
        };
        let origin = origin.trim_end_matches('/');
        if self.allowed.iter().any(|allowed| allowed == origin) {
            return true;
        }
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let origin_authority = origin.split_once("://").map(|(_, rest)| rest);
        matches!((origin_authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h))
    }
}

/// The handlers bound to wires on one server.
pub(crate) type Bindings = HashMap<Wire, Arc<dyn ErasedWireHandler>>;

/// The refusal for a failed Origin check.
pub(crate) fn origin_refused() -> Response {
    let error = Forbidden::with_display_message("Origin not allowed");
    error_response(&error.to_wire())
}
