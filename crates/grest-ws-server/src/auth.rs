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
use grest_ws_core::auth::{Grants, Inbound, Wire, WireContext};
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
    /// it per wire ([`Connected::principal`](crate::Connected::principal), or
    /// [`WireContext::principal`](grest_ws_core::auth::WireContext::principal) from a message handler's
    /// `current_message()`), or by type while only one of the connection's wires mints this type
    /// ([`Connected::get`](crate::Connected::get); HTTP handlers with `Extension<Principal>`).
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
/// handshake: every `parse` first, then every `process`, in order. Bound to a schema's
/// [middleware slot](grest_ws_core::auth::Wire::middleware) with [`GrestWs::bind_middleware`](crate::GrestWs::bind_middleware),
/// it runs where the schema lists the slot among its wires; added server-wide with
/// [`GrestWs::middleware`](crate::GrestWs::middleware), it runs on every endpoint after the schema's whole list.
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
    /// Verifies the credential: the principal, and its scopes when this is a permission wire.
    fn authenticate(&self, credential: Option<String>) -> BoxFuture<'_, Result<Minted, ErrorEnvelope>>;
    /// Puts a clone of this handler's principal type into `extensions` when exactly one wire minted that type.
    fn expose_by_type(&self, wires: &WireContext, extensions: &mut Extensions);
}

/// What a wire handler minted.
pub(crate) struct Minted {
    principal: Arc<dyn Any + Send + Sync>,
    scopes: Option<Vec<String>>,
}

impl<H: WireHandler> ErasedWireHandler for H {
    fn resolves_permissions(&self) -> bool {
        H::RESOLVES_PERMISSIONS
    }

    fn authenticate(&self, credential: Option<String>) -> BoxFuture<'_, Result<Minted, ErrorEnvelope>> {
        Box::pin(async move {
            let principal = self.process(credential.as_deref()).await?;
            let scopes = if H::RESOLVES_PERMISSIONS {
                Some(self.permissions(&principal).await)
            } else {
                None
            };
            Ok(Minted {
                principal: Arc::new(principal),
                scopes,
            })
        })
    }

    fn expose_by_type(&self, wires: &WireContext, extensions: &mut Extensions) {
        if let Some(principal) = wires.get::<H::Principal>() {
            extensions.insert(principal.clone());
        }
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

/// What the server binds to a wire: a handler to a credential wire, a middleware to a middleware slot.
#[derive(Clone)]
pub(crate) enum Binding {
    Handler(Arc<dyn ErasedWireHandler>),
    Middleware(Arc<dyn ErasedMiddleware>),
}

/// One step of a handshake.
#[derive(Clone)]
pub(crate) enum Stage {
    /// A credential wire and its handler.
    Credential(Wire, Arc<dyn ErasedWireHandler>),
    /// An ambient wire: its value is kept for handlers.
    Ambient(Wire),
    /// A middleware, bound to a schema's slot or server-wide.
    Middleware(Arc<dyn ErasedMiddleware>),
}

/// What a successful handshake produced.
pub(crate) struct Authenticated {
    /// Middleware context, and each principal whose type only one wire minted, by type.
    pub(crate) extensions: Extensions,
    /// Principals per wire and ambient wire values.
    pub(crate) wires: WireContext,
    pub(crate) grants: Grants,
}

/// The handshake steps of one endpoint (or HTTP guard), resolved when the server is built.
#[derive(Clone, Default)]
pub(crate) struct Pipeline {
    pub(crate) stages: Vec<Stage>,
    pub(crate) connect_permission: Option<Permission>,
}

impl Pipeline {
    /// Runs every `parse` (wires read their values), drops the raw inbound view, runs every `process` in order,
    /// then the connect-permission gate. Any failure is the error to send; a panic becomes `SERVER_ERROR`.
    pub(crate) async fn run(&self, inbound: Inbound) -> Result<Authenticated, ErrorEnvelope> {
        enum Parsed {
            Value(Option<String>),
            Middleware(Box<dyn Any + Send>),
        }
        let mut parsed = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            parsed.push(match stage {
                Stage::Credential(wire, _) | Stage::Ambient(wire) => {
                    Parsed::Value(wire.read(&inbound).map(str::to_owned))
                }
                Stage::Middleware(m) => Parsed::Middleware(m.parse(&inbound)?),
            });
        }
        drop(inbound);
        let mut extensions = Extensions::new();
        let mut wires = WireContext::default();
        let mut grants = Grants::default();
        let process = async {
            for (stage, parsed) in self.stages.iter().zip(parsed) {
                match (stage, parsed) {
                    (Stage::Credential(wire, handler), Parsed::Value(credential)) => {
                        let minted = handler.authenticate(credential).await?;
                        wires.add_principal(*wire, minted.principal);
                        if let Some(scopes) = minted.scopes {
                            grants.scopes.push(scopes);
                        }
                    }
                    (Stage::Ambient(wire), Parsed::Value(value)) => wires.add_ambient(*wire, value),
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
        for stage in &self.stages {
            if let Stage::Credential(_, handler) = stage {
                handler.expose_by_type(&wires, &mut extensions);
            }
        }
        Ok(Authenticated {
            extensions,
            wires,
            grants,
        })
    }

    /// Whether any wire is a permission wire.
    pub(crate) fn resolves_permissions(&self) -> bool {
        self.stages
            .iter()
            .any(|s| matches!(s, Stage::Credential(_, h) if h.resolves_permissions()))
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
/// Get one from [`GrestWs::http_auth_requiring`](crate::GrestWs::http_auth_requiring) (or
/// [`GrestWs::http_auth`](crate::GrestWs::http_auth), which only authenticates) and install it with
/// `axum::middleware::from_fn_with_state(auth, grest_ws::server::require_auth)`; handlers then read the principal
/// with `Extension<Principal>` (by type, when one wire mints it) or `Extension<WireContext>` (per wire), and the
/// scopes with `Extension<Grants>`.
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

/// The axum middleware of [`HttpAuth`]: runs the wires on the request and checks the guard's permission, puts the
/// principals into the request's extensions, or answers with the error envelope as JSON and its status code (401
/// for `NOT_AUTHORIZED`, 403 `FORBIDDEN` for a missing permission, …).
pub async fn require_auth(State(auth): State<HttpAuth>, mut request: Request, next: Next) -> Response {
    let inbound = http_inbound(request.headers(), request.uri().query());
    match auth.pipeline.run(inbound).await {
        Ok(authenticated) => {
            request.extensions_mut().extend(authenticated.extensions);
            request.extensions_mut().insert(authenticated.wires);
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
        // A wildcard is only ever the whole leftmost label: `*example.com` or `app.*.example.com` could never match.
        if authority.strip_prefix("*.").unwrap_or(authority).contains('*') {
            return None;
        }
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

/// What is bound to each wire on one server.
pub(crate) type Bindings = HashMap<Wire, Binding>;

/// The refusal for a failed Origin check.
pub(crate) fn origin_refused() -> Response {
    let error = Forbidden::with_display_message("Origin not allowed");
    error_response(&error.to_envelope())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use grest_ws_core::{BadRequest, NotAuthorized};
    use http::HeaderValue;

    use super::*;

    /// An upgrade request to `/ws` with these headers.
    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri("/ws");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap()
    }

    fn origin(scheme: &str, host: &str, port: u16) -> Origin {
        Origin {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port,
        }
    }

    /// Origins parse to a lower-case scheme and host with the scheme's default port, ws/wss naming http/https.
    #[test]
    fn origins_parse_to_scheme_host_and_port() {
        assert_eq!(
            Origin::parse("HTTPS://App.Example.COM"),
            Some(origin("https", "app.example.com", 443))
        );
        assert_eq!(
            Origin::parse("http://example.com:8080/"),
            Some(origin("http", "example.com", 8080))
        );
        assert_eq!(
            Origin::parse("ws://example.com"),
            Some(origin("http", "example.com", 80))
        );
        assert_eq!(
            Origin::parse("wss://example.com"),
            Some(origin("https", "example.com", 443))
        );
        assert_eq!(Origin::parse("http://[::1]:3000"), Some(origin("http", "[::1]", 3000)));
        assert_eq!(Origin::parse("http://[::1]"), Some(origin("http", "[::1]", 80)));
        for odd in [
            "null",
            "example.com",
            "file:///etc/passwd",
            "ftp://example.com",
            "http://",
            "http://:80",
            "http://example.com/path",
            "http://user@example.com",
            "http://example.com?q",
            "http://example.com:port",
            "http://example.com:70000",
            "http://example.com:",
        ] {
            assert_eq!(Origin::parse(odd), None, "{odd:?}");
        }
    }

    /// Same-origin compares scheme, host and port, with default ports normalized on both sides.
    #[test]
    fn same_origin_normalizes_default_ports() {
        let policy = OriginPolicy::new();
        for (host, origin, ok) in [
            ("example.com", "http://example.com", true),
            ("example.com", "http://example.com:80", true),
            ("example.com:80", "http://example.com", true),
            ("EXAMPLE.com", "http://example.COM/", true),
            ("example.com:8080", "http://example.com:8080", true),
            ("example.com:8080", "http://example.com", false),
            ("example.com", "https://example.com", false),
            ("example.com", "http://www.example.com", false),
            ("[::1]:3000", "http://[::1]:3000", true),
        ] {
            let upgrade = request(&[("host", host), ("origin", origin)]);
            assert_eq!(policy.permits(&upgrade), ok, "Host {host:?}, Origin {origin:?}");
        }
    }

    /// A request marked as TLS (the `Scheme::HTTPS` extension, or an https URI) has an https origin.
    #[test]
    fn tls_requests_have_an_https_origin() {
        let policy = OriginPolicy::new();
        let mut upgrade = request(&[("host", "example.com"), ("origin", "https://example.com:443")]);
        assert!(!policy.permits(&upgrade), "plain by default");
        upgrade.extensions_mut().insert(http::uri::Scheme::HTTPS);
        assert!(policy.permits(&upgrade));
        upgrade
            .headers_mut()
            .insert(header::ORIGIN, HeaderValue::from_static("http://example.com"));
        assert!(!policy.permits(&upgrade));

        // Without a Host header, the absolute request URI names the origin, scheme included.
        let absolute = |uri: &str, origin: &str| {
            Request::builder()
                .uri(uri)
                .header("origin", origin)
                .body(Body::empty())
                .unwrap()
        };
        assert!(policy.permits(&absolute("https://example.com/ws", "https://example.com")));
        assert!(policy.permits(&absolute("http://example.com:8080/ws", "http://example.com:8080")));
        assert!(!policy.permits(&absolute("http://example.com:8080/ws", "http://example.com")));
        assert!(
            !policy.permits(&request(&[("origin", "http://example.com")])),
            "no Host at all"
        );
    }

    /// Behind a proxy, `Forwarded` wins over `X-Forwarded-*`, which win over `Host`; only first values count.
    #[test]
    fn proxy_headers_name_the_requests_origin() {
        let policy = OriginPolicy::new();
        let permits = |headers: &[(&str, &str)], origin: &str| {
            let mut headers = headers.to_vec();
            headers.push(("origin", origin));
            policy.permits(&request(&headers))
        };
        let x_forwarded = [
            ("host", "10.0.0.5:3000"),
            ("x-forwarded-host", "chat.example, internal.example:8080"),
            ("x-forwarded-proto", "HTTPS, http"),
        ];
        assert!(permits(&x_forwarded, "https://chat.example"));
        assert!(!permits(&x_forwarded, "http://chat.example"));
        assert!(!permits(&x_forwarded, "http://10.0.0.5:3000"));
        // A forwarded host without a proto keeps the request's own scheme.
        let host_only = [("host", "10.0.0.5"), ("x-forwarded-host", "chat.example")];
        assert!(permits(&host_only, "http://chat.example"));

        // Parameter names are case-insensitive, values may be quoted; later elements (proxies further in) are
        // ignored.
        let forwarded = (
            "forwarded",
            "for=192.0.2.1;Proto=https;HOST=\"chat.example\", for=10.0.0.2;host=other",
        );
        assert!(permits(&[forwarded, x_forwarded[1]], "https://chat.example"));
        assert!(!permits(&[forwarded], "https://other"));
        let second_only = ("forwarded", "for=192.0.2.1, host=chat.example;proto=https");
        assert!(permits(&[second_only, ("host", "example.com")], "http://example.com"));
        assert!(!permits(
            &[second_only, ("host", "example.com")],
            "https://chat.example"
        ));
        // Forwarded without host or proto falls back to the other headers, parameter by parameter.
        let only_for = ("forwarded", "for=192.0.2.1");
        assert!(permits(&[only_for, ("host", "example.com")], "http://example.com"));
        let only_proto = ("forwarded", "proto=https");
        assert!(permits(
            &[only_proto, ("x-forwarded-host", "chat.example")],
            "https://chat.example"
        ));
    }

    /// `https://*.example.com` admits strict subdomains on the same scheme and port, not the domain itself.
    #[test]
    fn wildcards_admit_strict_subdomains_only() {
        let policy = OriginPolicy::new().allow("https://*.example.com");
        let permits = |origin: &str| policy.permits(&request(&[("host", "server.internal"), ("origin", origin)]));
        for admitted in [
            "https://a.example.com",
            "https://a.b.example.com",
            "https://A.EXAMPLE.COM",
            "https://a.example.com:443",
            "wss://a.example.com",
        ] {
            assert!(permits(admitted), "{admitted}");
        }
        for refused in [
            "https://example.com",
            "https://.example.com",
            "https://evil-example.com",
            "https://aexample.com",
            "https://a.example.com.evil.net",
            "http://a.example.com",
            "https://a.example.com:8443",
            "https://a.example.org",
        ] {
            assert!(!permits(refused), "{refused}");
        }

        let on_port = OriginPolicy::new().allow("https://*.Example.com:8443");
        let permits = |origin: &str| on_port.permits(&request(&[("host", "server.internal"), ("origin", origin)]));
        assert!(permits("https://a.example.com:8443"));
        assert!(!permits("https://a.example.com"));
    }

    /// Exact entries compare scheme, host and port; ws/wss entries name the same origins as http/https.
    #[test]
    fn exact_entries_compare_scheme_host_and_port() {
        let policy = OriginPolicy::new()
            .allow("wss://app.example.com")
            .allow("http://localhost:5173/");
        let permits = |origin: &str| policy.permits(&request(&[("host", "server.internal"), ("origin", origin)]));
        assert!(permits("https://app.example.com"));
        assert!(permits("https://app.example.com:443"));
        assert!(!permits("http://app.example.com"));
        assert!(!permits("https://sub.app.example.com"));
        assert!(permits("http://localhost:5173"));
        assert!(!permits("http://localhost:5174"));
        assert!(!permits("http://localhost"));
    }

    /// Malformed entries are not origins (so `allow` refuses them): path, credentials, scheme, port, empty host.
    #[test]
    fn malformed_allowed_origins_do_not_parse() {
        for malformed in [
            "app.example.com",
            "*.example.com",
            "ftp://app.example.com",
            "https://app.example.com/path",
            "https://user@app.example.com",
            "https://app.example.com:notaport",
            "https://",
            "https://*.",
            "https://*.example.com/x",
            "ftp://*.example.com",
        ] {
            assert!(AllowedOrigin::parse(malformed).is_none(), "{malformed:?}");
        }
        assert!(matches!(
            AllowedOrigin::parse("https://*.example.com"),
            Some(AllowedOrigin::Subdomains(o)) if o == origin("https", "example.com", 443)
        ));
    }

    /// `allow` panics at configuration time on an entry that is not an origin.
    #[test]
    #[should_panic(expected = "\"https://app.example.com/app\" is not an origin")]
    fn allow_panics_on_a_url_with_a_path() {
        let _ = OriginPolicy::new().allow("https://app.example.com/app");
    }

    /// A wildcard that is not a whole leading label (`https://*example.com`, `https://*`) is refused at startup
    /// like any other malformed entry, instead of becoming an exact origin no browser can send.
    #[test]
    fn allow_refuses_a_misplaced_wildcard() {
        for misplaced in ["https://*example.com", "https://*", "https://app.*.example.com"] {
            assert!(AllowedOrigin::parse(misplaced).is_none(), "{misplaced:?}");
        }
    }

    /// Without an `Origin`, upgrades pass unless required; `allow_any_origin` skips every check.
    #[test]
    fn missing_origin_and_the_any_origin_switch() {
        let no_origin = request(&[("host", "example.com")]);
        assert!(OriginPolicy::new().permits(&no_origin));
        assert!(!OriginPolicy::new().require_origin().permits(&no_origin));

        let foreign = request(&[("host", "example.com"), ("origin", "https://evil.example")]);
        assert!(!OriginPolicy::new().permits(&foreign));
        assert!(OriginPolicy::new().allow_any_origin().permits(&foreign));
        assert!(
            OriginPolicy::new()
                .require_origin()
                .allow_any_origin()
                .permits(&no_origin)
        );

        // An Origin that is not an origin (sandboxed iframes send `null`) or not text is refused.
        let policy = OriginPolicy::new();
        assert!(!policy.permits(&request(&[("host", "example.com"), ("origin", "null")])));
        let mut binary = request(&[("host", "example.com")]);
        binary.headers_mut().insert(
            header::ORIGIN,
            HeaderValue::from_bytes(b"http://ex\xffample.com").unwrap(),
        );
        assert!(!policy.permits(&binary));
    }

    /// The refusal for a failed Origin check is a 403 `FORBIDDEN` envelope in JSON.
    #[test]
    fn error_responses_carry_the_envelopes_status() {
        let refused = origin_refused();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(refused.headers()[header::CONTENT_TYPE], "application/json");
        let unauthorized = error_response(&NotAuthorized::new().to_envelope());
        assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
        let mut odd = NotAuthorized::new().to_envelope();
        odd.status_code = 42;
        assert_eq!(error_response(&odd).status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    /// Query strings are percent-decoded (`+` is a space), in order, repeated keys kept.
    #[test]
    fn query_pairs_are_decoded_in_order() {
        let pairs = parse_query(Some(
            "room=a%20b&tag=x&tag=y&plus=1+2&enc=%2B%26&flag&empty=&%E2%9C%93=ok&bad=%zz",
        ));
        let expected = [
            ("room", "a b"),
            ("tag", "x"),
            ("tag", "y"),
            ("plus", "1 2"),
            ("enc", "+&"),
            ("flag", ""),
            ("empty", ""),
            ("\u{2713}", "ok"),
            ("bad", "%zz"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
        assert!(parse_query(None).is_empty());
        assert!(parse_query(Some("")).is_empty());
    }

    /// Several `Cookie` headers join into one value; non-text ones are skipped; none is `None`.
    #[test]
    fn cookie_headers_join() {
        let mut headers = HeaderMap::new();
        assert_eq!(cookie_header(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_bytes(b"bin=\xff").unwrap());
        assert_eq!(cookie_header(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2; c=3"));
        assert_eq!(cookie_header(&headers).as_deref(), Some("a=1; b=2; c=3"));
    }

    /// The HTTP inbound view has lower-case header names, repeated headers joined with `, `, cookie and query.
    #[test]
    fn http_inbound_collects_headers_cookie_and_query() {
        let mut headers = HeaderMap::new();
        headers.insert("Authorization", HeaderValue::from_static("Bearer t"));
        headers.append("X-Tag", HeaderValue::from_static("a"));
        headers.append("X-Tag", HeaderValue::from_static("b"));
        headers.insert("X-Binary", HeaderValue::from_bytes(b"\xff").unwrap());
        headers.insert(header::COOKIE, HeaderValue::from_static("session=s1"));
        let inbound = http_inbound(&headers, Some("token=q%3D1"));
        assert_eq!(
            inbound.headers.get("authorization").map(String::as_str),
            Some("Bearer t")
        );
        assert_eq!(inbound.headers.get("x-tag").map(String::as_str), Some("a, b"));
        assert_eq!(inbound.headers.get("x-binary"), None);
        assert_eq!(inbound.cookie.as_deref(), Some("session=s1"));
        assert_eq!(inbound.query, [("token".to_owned(), "q=1".to_owned())]);
        assert_eq!(Wire::header("t", "authorization").bearer().read(&inbound), Some("t"));
        assert_eq!(Wire::cookie("s", "session").read(&inbound), Some("s1"));
    }

    type Events = Arc<Mutex<Vec<String>>>;

    fn log(events: &Events, event: impl Into<String>) {
        events.lock().unwrap().push(event.into());
    }

    /// The principal minted by [`Tokens`].
    #[derive(Clone, Debug, PartialEq)]
    struct User(String);

    /// A wire handler: `secret-<name>` is user `<name>`, with `scopes` when it is a permission wire.
    struct Tokens {
        events: Events,
        scopes: Option<Vec<String>>,
    }

    impl WireHandler for Tokens {
        type Principal = User;
        const RESOLVES_PERMISSIONS: bool = true;

        async fn process(&self, credential: Option<&str>) -> Result<User, ErrorEnvelope> {
            log(&self.events, format!("token.process({credential:?})"));
            match credential.and_then(|c| c.strip_prefix("secret-")) {
                Some(name) => Ok(User(name.to_owned())),
                None => Err(NotAuthorized::new().into()),
            }
        }

        async fn permissions(&self, _user: &User) -> Vec<String> {
            self.scopes.clone().unwrap_or_default()
        }
    }

    /// A wire that only identifies (no permissions).
    struct Plain;

    impl WireHandler for Plain {
        type Principal = u32;

        async fn process(&self, credential: Option<&str>) -> Result<u32, ErrorEnvelope> {
            credential
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| NotAuthorized::new().into())
        }
    }

    /// Context stored by [`Tagger`].
    #[derive(Clone, Debug, PartialEq)]
    struct Tag(&'static str, String);

    /// Middleware that reads header `header`; `fail_parse` rejects, `panic` panics in `process`.
    struct Tagger {
        name: &'static str,
        header: &'static str,
        events: Events,
        fail_parse: bool,
        panic: bool,
    }

    impl Tagger {
        fn new(name: &'static str, header: &'static str, events: &Events) -> Self {
            Tagger {
                name,
                header,
                events: events.clone(),
                fail_parse: false,
                panic: false,
            }
        }
    }

    impl Middleware for Tagger {
        type Parsed = String;

        fn parse(&self, inbound: &Inbound) -> Result<String, ErrorEnvelope> {
            log(&self.events, format!("{}.parse", self.name));
            if self.fail_parse {
                return Err(BadRequest::new().into());
            }
            Ok(inbound.headers.get(self.header).cloned().unwrap_or_default())
        }

        async fn process(&self, parsed: String, extensions: &mut Extensions) -> Result<(), ErrorEnvelope> {
            log(&self.events, format!("{}.process({parsed})", self.name));
            assert!(!self.panic, "middleware {} panics", self.name);
            extensions.insert(Tag(self.name, parsed));
            Ok(())
        }
    }

    const TOKEN: Wire = Wire::header("token", "authorization").bearer();
    const DEVICE: Wire = Wire::query("device", "device");

    fn tokens(events: &Events, scopes: &[&str]) -> Stage {
        let scopes = Some(scopes.iter().map(|s| s.to_string()).collect());
        let handler = Tokens {
            events: events.clone(),
            scopes,
        };
        Stage::Credential(TOKEN, Arc::new(handler))
    }

    fn inbound(headers: &[(&str, &str)], query: &[(&str, &str)]) -> Inbound {
        Inbound {
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            cookie: None,
            query: query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    fn error_type(result: Result<Authenticated, ErrorEnvelope>) -> String {
        match result {
            Ok(_) => panic!("expected a rejection"),
            Err(error) => error.error_type,
        }
    }

    /// Every stage parses before any processes; wires and middleware process in order, filling the extensions.
    #[tokio::test]
    async fn pipeline_parses_everything_then_processes_in_order() {
        let events = Events::default();
        let pipeline = Pipeline {
            stages: vec![
                tokens(&events, &["chat:use"]),
                Stage::Middleware(Arc::new(Tagger::new("version", "x-version", &events))),
                Stage::Middleware(Arc::new(Tagger::new("locale", "x-locale", &events))),
            ],
            connect_permission: None,
        };
        let inbound = inbound(
            &[
                ("authorization", "Bearer secret-alice"),
                ("x-version", "2"),
                ("x-locale", "fr"),
            ],
            &[],
        );
        let authenticated = pipeline.run(inbound).await.expect("authenticated");
        assert_eq!(
            *events.lock().unwrap(),
            [
                "version.parse",
                "locale.parse",
                "token.process(Some(\"secret-alice\"))",
                "version.process(2)",
                "locale.process(fr)",
            ]
        );
        assert_eq!(authenticated.extensions.get::<User>(), Some(&User("alice".into())));
        assert_eq!(
            authenticated.extensions.get::<Tag>(),
            Some(&Tag("locale", "fr".into())),
            "the last insert of a type wins"
        );
        assert_eq!(authenticated.grants.scopes, [vec!["chat:use".to_owned()]]);
    }

    /// A failed `parse` rejects before anything processes; a failed wire stops the stages after it.
    #[tokio::test]
    async fn pipeline_stops_at_the_first_failure() {
        let events = Events::default();
        let mut failing = Tagger::new("locale", "x-locale", &events);
        failing.fail_parse = true;
        let pipeline = Pipeline {
            stages: vec![
                tokens(&events, &[]),
                Stage::Middleware(Arc::new(Tagger::new("version", "x-version", &events))),
                Stage::Middleware(Arc::new(failing)),
            ],
            connect_permission: None,
        };
        let with_token = inbound(&[("authorization", "Bearer secret-alice")], &[]);
        assert_eq!(error_type(pipeline.run(with_token).await), "BAD_REQUEST");
        assert_eq!(*events.lock().unwrap(), ["version.parse", "locale.parse"]);

        let events = Events::default();
        let pipeline = Pipeline {
            stages: vec![
                tokens(&events, &[]),
                Stage::Middleware(Arc::new(Tagger::new("version", "x-version", &events))),
            ],
            connect_permission: None,
        };
        // Not in the bearer scheme: the wire reads no credential, and its handler refuses.
        let unauthenticated = inbound(&[("authorization", "secret-alice")], &[]);
        assert_eq!(error_type(pipeline.run(unauthenticated).await), "NOT_AUTHORIZED");
        assert_eq!(*events.lock().unwrap(), ["version.parse", "token.process(None)"]);
    }

    /// A panicking middleware rejects the handshake with `SERVER_ERROR` instead of unwinding.
    #[tokio::test]
    async fn pipeline_turns_a_panic_into_a_server_error() {
        let events = Events::default();
        let mut panicking = Tagger::new("version", "x-version", &events);
        panicking.panic = true;
        let pipeline = Pipeline {
            stages: vec![Stage::Middleware(Arc::new(panicking))],
            connect_permission: None,
        };
        let result = pipeline.run(Inbound::default()).await;
        let Err(error) = result else {
            panic!("expected a rejection")
        };
        assert_eq!((error.error_type.as_str(), error.status_code), ("SERVER_ERROR", 500));
    }

    /// The connect permission is checked against the scopes of permission wires only.
    #[tokio::test]
    async fn pipeline_checks_the_connect_permission_against_the_grants() {
        let events = Events::default();
        let both = |permission: Option<Permission>| Pipeline {
            stages: vec![
                tokens(&events, &["chat:use"]),
                Stage::Credential(DEVICE, Arc::new(Plain)),
            ],
            connect_permission: permission,
        };
        let credentials = || inbound(&[("authorization", "Bearer secret-bob")], &[("device", "7")]);
        let authenticated = both(Some(Permission::Scope("chat:use")))
            .run(credentials())
            .await
            .unwrap();
        assert_eq!(
            authenticated.grants.scopes,
            [vec!["chat:use".to_owned()]],
            "the plain wire grants nothing"
        );
        assert_eq!(authenticated.extensions.get::<u32>(), Some(&7));
        assert!(both(Some(Permission::Any)).run(credentials()).await.is_ok());
        assert_eq!(
            error_type(both(Some(Permission::Scope("admin"))).run(credentials()).await),
            "FORBIDDEN"
        );
        assert!(both(None).resolves_permissions());

        let plain_only = |permission: Option<Permission>| Pipeline {
            stages: vec![Stage::Credential(DEVICE, Arc::new(Plain))],
            connect_permission: permission,
        };
        assert!(!plain_only(None).resolves_permissions());
        let device = || inbound(&[], &[("device", "7")]);
        assert!(plain_only(Some(Permission::Public)).run(device()).await.is_ok());
        assert_eq!(
            error_type(plain_only(Some(Permission::Any)).run(device()).await),
            "FORBIDDEN"
        );
    }
}
