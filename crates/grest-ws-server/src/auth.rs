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
use grest_ws_core::{ErrorEnvelope, Forbidden, GrestError, Permission, ServerError};
use grest_ws_session::BoxFuture;
use http::{Extensions, HeaderMap, StatusCode, header};

/// Verifies the credential of one [`Wire`] and mints the connection's principal. Bound once per server with
/// [`GrestWs::bind`](crate::GrestWs::bind); the same binding guards WebSocket handshakes and HTTP routes.
///
/// ```
/// use grest_ws_core::{NotAuthorized, ErrorEnvelope};
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
///     async fn process(&self, token: Option<&str>) -> Result<User, ErrorEnvelope> {
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
    fn process(&self, credential: Option<&str>) -> impl Future<Output = Result<Self::Principal, ErrorEnvelope>> + Send;

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
    fn parse(&self, inbound: &Inbound) -> Result<Self::Parsed, ErrorEnvelope>;

    /// Validates and stores context in the connection's extensions; an error rejects the handshake.
    fn process(
        &self,
        parsed: Self::Parsed,
        extensions: &mut Extensions,
    ) -> impl Future<Output = Result<(), ErrorEnvelope>> + Send;
}

/// A wire handler without its types.
pub(crate) trait ErasedWireHandler: Send + Sync {
    fn resolves_permissions(&self) -> bool;
    fn authenticate<'a>(
        &'a self,
        credential: Option<String>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, ErrorEnvelope>>;
}

impl<H: WireHandler> ErasedWireHandler for H {
    fn resolves_permissions(&self) -> bool {
        H::RESOLVES_PERMISSIONS
    }

    fn authenticate<'a>(
        &'a self,
        credential: Option<String>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<Option<Vec<String>>, ErrorEnvelope>> {
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
    fn parse(&self, inbound: &Inbound) -> Result<Box<dyn Any + Send>, ErrorEnvelope>;
    fn process<'a>(
        &'a self,
        parsed: Box<dyn Any + Send>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<(), ErrorEnvelope>>;
}

impl<M: Middleware> ErasedMiddleware for M {
    fn parse(&self, inbound: &Inbound) -> Result<Box<dyn Any + Send>, ErrorEnvelope> {
        Middleware::parse(self, inbound).map(|parsed| Box::new(parsed) as Box<dyn Any + Send>)
    }

    fn process<'a>(
        &'a self,
        parsed: Box<dyn Any + Send>,
        extensions: &'a mut Extensions,
    ) -> BoxFuture<'a, Result<(), ErrorEnvelope>> {
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
    pub(crate) async fn run(&self, inbound: Inbound) -> Result<Authenticated, ErrorEnvelope> {
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
            Ok::<(), ErrorEnvelope>(())
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

fn error_response(error: &ErrorEnvelope) -> Response {
    let status = StatusCode::from_u16(error.status_code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, "application/json")], error.to_json()).into_response()
}

/// Which browser origins may open sockets (cross-site WebSocket hijacking protection).
///
/// Every browser sends an `Origin` header with a WebSocket upgrade, and a page on any site can open a socket to
/// any server the browser reaches — `localhost`, an intranet host — with the user's cookies. So by default every
/// upgrade that carries an `Origin` must be **same-origin** — the same scheme, host and port as the request — or
/// explicitly [allowed](OriginPolicy::allow); anything else gets HTTP 403 before the upgrade. Upgrades without an
/// `Origin` (native clients, which could send any value anyway) pass unless [`OriginPolicy::require_origin`].
///
/// The request's own origin is its `Host` header and the scheme it arrived with. Behind a proxy that rewrites
/// them, the proxy's `X-Forwarded-Host` / `X-Forwarded-Proto` (or `Forwarded: host=…;proto=…`) are used instead —
/// a browser cannot set those on a WebSocket upgrade. A TLS layer in front of the router marks its requests by
/// inserting the [`http::uri::Scheme::HTTPS`] extension; otherwise the scheme is `http`.
///
/// ```
/// use grest_ws_server::{GrestWs, OriginPolicy};
///
/// // The page is served from another origin, and from every subdomain of example.com.
/// let server = GrestWs::new().origin_policy(
///     OriginPolicy::new().allow("https://app.example.com").allow("https://*.example.com"),
/// );
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct OriginPolicy {
    allowed: Vec<AllowedOrigin>,
    any_origin: bool,
    require_origin: bool,
}

/// One entry of [`OriginPolicy::allow`].
#[derive(Debug, Clone)]
enum AllowedOrigin {
    /// Exactly this origin.
    Exact(Origin),
    /// `scheme://*.domain[:port]`: any subdomain of `domain` (not `domain` itself).
    Subdomains(Origin),
}

/// A parsed origin: lower-case scheme and host, and the port (the scheme's default when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// Parses `scheme://host[:port]` (a trailing `/` is tolerated); `None` for `null`, opaque or odd values.
    fn parse(origin: &str) -> Option<Origin> {
        let (scheme, authority) = origin.trim_end_matches('/').split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        Origin::with_authority(scheme, authority)
    }

    /// `host[:port]` under `scheme`; IPv6 hosts keep their brackets.
    fn with_authority(scheme: String, authority: &str) -> Option<Origin> {
        let default_port = match scheme.as_str() {
            "http" | "ws" => 80,
            "https" | "wss" => 443,
            _ => return None,
        };
        if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
            return None;
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (host, port.parse().ok()?),
            _ => (authority, default_port),
        };
        if host.is_empty() {
            return None;
        }
        // ws/wss name the same origins as http/https.
        let scheme = if default_port == 80 { "http" } else { "https" };
        Some(Origin {
            scheme: scheme.to_owned(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// The origin the request itself was sent to (see [`OriginPolicy`]).
    fn of_request(request: &Request) -> Option<Origin> {
        let headers = request.headers();
        let forwarded = headers.get(header::FORWARDED).and_then(|v| v.to_str().ok());
        let forwarded_param = |name: &str| {
            // The first (client-facing) element: `for=…;host=…;proto=…, …`.
            let first = forwarded?.split(',').next()?;
            first.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.eq_ignore_ascii_case(name).then(|| value.trim_matches('"'))
            })
        };
        let first_value = |name: &str| {
            let value = headers.get(name)?.to_str().ok()?;
            Some(value.split(',').next()?.trim())
        };
        let scheme = forwarded_param("proto")
            .or_else(|| first_value("x-forwarded-proto"))
            .map(str::to_ascii_lowercase)
            .unwrap_or_else(|| {
                let tls = request.extensions().get::<http::uri::Scheme>() == Some(&http::uri::Scheme::HTTPS)
                    || request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
                if tls { "https" } else { "http" }.to_owned()
            });
        let host = forwarded_param("host")
            .or_else(|| first_value("x-forwarded-host"))
            .or_else(|| headers.get(header::HOST)?.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))?;
        Origin::with_authority(scheme, host)
    }
}

impl AllowedOrigin {
    fn parse(origin: &str) -> Option<AllowedOrigin> {
        let (scheme, authority) = origin.trim_end_matches('/').split_once("://")?;
        match authority.strip_prefix("*.") {
            Some(domain) => Origin::with_authority(scheme.to_ascii_lowercase(), domain).map(AllowedOrigin::Subdomains),
            None => Origin::parse(origin).map(AllowedOrigin::Exact),
        }
    }

    fn admits(&self, origin: &Origin) -> bool {
        match self {
            AllowedOrigin::Exact(allowed) => allowed == origin,
            AllowedOrigin::Subdomains(domain) => {
                domain.scheme == origin.scheme
                    && domain.port == origin.port
                    && origin
                        .host
                        .strip_suffix(domain.host.as_str())
                        .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            }
        }
    }
}

impl OriginPolicy {
    /// Same-origin only (the default).
    pub fn new() -> Self {
        OriginPolicy::default()
    }

    /// Also allows this origin: `https://app.example.com`, `http://localhost:5173`, or every subdomain of a
    /// domain with `https://*.example.com`. The scheme and port must match too (a missing port is the scheme's
    /// default).
    ///
    /// # Panics
    ///
    /// When `origin` is not `scheme://host[:port]` with an `http`, `https`, `ws` or `wss` scheme — a
    /// configuration mistake better found at startup than as refused browsers.
    pub fn allow(mut self, origin: impl AsRef<str>) -> Self {
        let origin = origin.as_ref();
        match AllowedOrigin::parse(origin) {
            Some(allowed) => self.allowed.push(allowed),
            None => panic!("OriginPolicy::allow: {origin:?} is not an origin like \"https://app.example.com\""),
        }
        self
    }

    /// Refuses upgrades that carry no `Origin` header (only browsers can be served then).
    pub fn require_origin(mut self) -> Self {
        self.require_origin = true;
        self
    }

    /// **Turns the Origin check off**: a page on any site may open sockets to this server in its visitors'
    /// browsers, with their cookies — on `localhost` and intranet hosts too. Only for servers that hold nothing
    /// a foreign page should reach; prefer [`OriginPolicy::allow`] with the origins you serve pages from.
    pub fn allow_any_origin(mut self) -> Self {
        self.any_origin = true;
        self
    }

    /// Whether this upgrade may proceed.
    pub(crate) fn permits(&self, request: &Request) -> bool {
        if self.any_origin {
            return true;
        }
        let Some(origin) = request.headers().get(header::ORIGIN) else {
            return !self.require_origin;
        };
        let Some(origin) = origin.to_str().ok().and_then(Origin::parse) else {
            return false;
        };
        self.allowed.iter().any(|allowed| allowed.admits(&origin)) || Origin::of_request(request) == Some(origin)
    }
}

/// The handlers bound to wires on one server.
pub(crate) type Bindings = HashMap<Wire, Arc<dyn ErasedWireHandler>>;

/// The refusal for a failed Origin check.
pub(crate) fn origin_refused() -> Response {
    let error = Forbidden::with_display_message("Origin not allowed");
    error_response(&error.to_envelope())
}
