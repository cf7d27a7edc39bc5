//! Credential wires and permissions, the transport-neutral part (docs/protocol.md §1.9, §6).
//!
//! A [`Wire`] is declared once in shared API code: where a credential travels (a handshake header, the upgrade
//! cookie, or a query parameter). Clients write it ([`Wire::update`]); servers read it ([`Wire::read`]) from an
//! [`Inbound`] view that is the same for a WebSocket handshake and an HTTP request — one wire, two transports.
//! What a credential *means* (verifying it, the principal, the scopes) is bound on the server. A wire can also be
//! [ambient](Wire::ambient) (a value read at the handshake and kept for handlers, never a credential), or a
//! [middleware slot](Wire::middleware) that orders a server-bound middleware among a schema's wires.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a wire's credential travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireSource {
    /// A header in the in-band handshake (`h` frame) — or the HTTP request header on HTTP routes. Names are
    /// lower-case; `bearer` writes `Bearer <value>` and strips that prefix on read.
    Header {
        /// The lower-case header name.
        name: &'static str,
        /// Whether the value uses the bearer scheme.
        bearer: bool,
    },
    /// A cookie, read only from the real upgrade (or HTTP) `Cookie` header, never from the in-band handshake.
    Cookie {
        /// The cookie name.
        name: &'static str,
    },
    /// A query parameter of the upgrade (or HTTP) URL, for browsers and foreign clients.
    Query {
        /// The parameter name.
        name: &'static str,
    },
    /// No single value: the slot of a middleware bound on the server, which reads whatever it needs from the
    /// whole inbound view ([`Wire::middleware`]).
    Middleware,
}

/// A credential wire, declared once and shared by clients and servers.
///
/// ```
/// use grest_ws_core::auth::Wire;
/// pub const USER_TOKEN: Wire = Wire::header("user-token", "authorization").bearer();
/// pub const SESSION: Wire = Wire::cookie("session", "session");
/// pub const TOKEN_QUERY: Wire = Wire::query("token-query", "token");
/// // Read at the handshake and kept for handlers; no handler verifies it.
/// pub const THEME: Wire = Wire::cookie("theme", "theme").ambient();
/// // Where the server's locale middleware runs among a schema's wires.
/// pub const LOCALE: Wire = Wire::middleware("locale");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Wire {
    name: &'static str,
    source: WireSource,
    ambient: bool,
}

impl Wire {
    /// A wire carried in a handshake header (lower-case `header`, checked at compile time for a `const`).
    pub const fn header(name: &'static str, header: &'static str) -> Wire {
        assert!(is_lower_token(header), "header names must be lower-case tokens");
        Wire {
            name,
            source: WireSource::Header {
                name: header,
                bearer: false,
            },
            ambient: false,
        }
    }

    /// A wire carried in a cookie of the upgrade request.
    pub const fn cookie(name: &'static str, cookie: &'static str) -> Wire {
        Wire {
            name,
            source: WireSource::Cookie { name: cookie },
            ambient: false,
        }
    }

    /// A wire carried in a query parameter of the upgrade URL.
    pub const fn query(name: &'static str, parameter: &'static str) -> Wire {
        Wire {
            name,
            source: WireSource::Query { name: parameter },
            ambient: false,
        }
    }

    /// The slot of a middleware in a schema's `uses` list: the server binds the middleware to it once
    /// (`GrestWs::bind_middleware`), and it runs at the handshake in the order the schema lists it among its
    /// wires. Carries no value of its own (clients write nothing for it).
    pub const fn middleware(name: &'static str) -> Wire {
        Wire {
            name,
            source: WireSource::Middleware,
            ambient: false,
        }
    }

    /// Makes this an ambient wire: its value (a locale, a theme) is read at the handshake and kept for the
    /// connection's handlers, no handler is bound to it, and it never authenticates or grants anything.
    pub const fn ambient(self) -> Wire {
        assert!(
            !matches!(self.source, WireSource::Middleware),
            "a middleware slot carries no value to keep"
        );
        Wire { ambient: true, ..self }
    }

    /// Uses the bearer scheme (`Bearer <value>`); only meaningful for header wires.
    pub const fn bearer(self) -> Wire {
        match self.source {
            WireSource::Header { name, .. } => Wire {
                source: WireSource::Header { name, bearer: true },
                ..self
            },
            _ => self,
        }
    }

    /// Whether this is an [ambient](Wire::ambient) wire.
    pub const fn is_ambient(&self) -> bool {
        self.ambient
    }

    /// Whether this is a [middleware slot](Wire::middleware).
    pub const fn is_middleware(&self) -> bool {
        matches!(self.source, WireSource::Middleware)
    }

    /// The wire's name (for messages and logs; never its value).
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Where it travels.
    pub const fn source(&self) -> WireSource {
        self.source
    }

    /// Whether the credential travels in the in-band handshake (so a client must write it there).
    pub const fn is_in_band(&self) -> bool {
        matches!(self.source, WireSource::Header { .. })
    }

    /// Reads the raw credential from an inbound view; `None` when absent (or not in the bearer scheme).
    pub fn read<'a>(&self, inbound: &'a Inbound) -> Option<&'a str> {
        match self.source {
            WireSource::Header { name, bearer } => {
                let value = inbound.headers.get(name)?.as_str();
                if bearer {
                    value.strip_prefix("Bearer ")
                } else {
                    Some(value)
                }
            }
            WireSource::Cookie { name } => inbound.cookie.as_deref().and_then(|c| cookie_value(c, name)),
            WireSource::Query { name } => inbound.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            WireSource::Middleware => None,
        }
    }

    /// Writes a credential where this wire carries it.
    pub fn update(&self, outbound: &mut Outbound, value: &str) {
        match self.source {
            WireSource::Header { name, bearer } => {
                let value = if bearer {
                    format!("Bearer {value}")
                } else {
                    value.to_owned()
                };
                outbound.headers.insert(name.to_owned(), value);
            }
            WireSource::Cookie { name } => outbound.cookies.push((name.to_owned(), value.to_owned())),
            WireSource::Query { name } => outbound.query.push((name.to_owned(), value.to_owned())),
            WireSource::Middleware => {}
        }
    }
}

const fn is_lower_token(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// The value of one cookie in a `Cookie` header (`a=1; b=2`).
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// What the server reads credentials from: the handshake headers (lower-case names), the upgrade's `Cookie`
/// header, and the upgrade URL's raw query pairs. Dropped once the handshake is over; its `Debug` never shows
/// values.
#[derive(Default, Clone)]
pub struct Inbound {
    /// Handshake headers (the `h` frame's object; on HTTP, the request headers), lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The upgrade request's `Cookie` header.
    pub cookie: Option<String>,
    /// The URL's query pairs, as received.
    pub query: Vec<(String, String)>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbound")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cookie", &self.cookie.as_ref().map(|_| "<redacted>"))
            .field("query", &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// What a client writes credentials into: handshake headers, upgrade cookies, query parameters.
#[derive(Default, Clone)]
pub struct Outbound {
    /// Handshake headers for the `h` frame (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// Cookies for the upgrade request.
    pub cookies: Vec<(String, String)>,
    /// Query parameters for the upgrade URL.
    pub query: Vec<(String, String)>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cookies", &self.cookies.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("query", &self.query.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .finish()
    }
}

/// A permission required by a connection or a method (enforced by the auth layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Explicitly public (grest's `GG_NO_PERMISSIONS`).
    Public,
    /// Any authenticated caller (grest's `GG_ANY_PERMISSION`).
    Any,
    /// One scope.
    Scope(&'static str),
    /// Every one of these.
    AllOf(&'static [Permission]),
    /// At least one of these.
    AnyOf(&'static [Permission]),
}

impl Permission {
    /// Whether this is [`Permission::Public`].
    pub const fn is_public(&self) -> bool {
        matches!(self, Permission::Public)
    }

    /// A structural problem (empty `allOf`/`anyOf`, nesting deeper than 3), if any.
    pub fn problem(&self) -> Option<&'static str> {
        fn check(p: &Permission, depth: usize) -> Option<&'static str> {
            match p {
                Permission::AllOf(list) | Permission::AnyOf(list) => {
                    if list.is_empty() {
                        return Some("allOf/anyOf must not be empty");
                    }
                    if depth >= 3 {
                        return Some("permissions nest at most 3 levels deep");
                    }
                    list.iter().find_map(|p| check(p, depth + 1))
                }
                _ => None,
            }
        }
        check(self, 0)
    }
}

/// The scopes granted to one connection, resolved once at the handshake: one list per permission-resolving wire.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// One scope list per permission wire that ran.
    pub scopes: Vec<Vec<String>>,
}

impl Grants {
    /// Whether `permission` is satisfied. `None` and [`Permission::Public`] always are; [`Permission::Any`] is
    /// when at least one permission wire authenticated the connection; a scope when any wire granted it.
    pub fn allows(&self, permission: Option<&Permission>) -> bool {
        match permission {
            None | Some(Permission::Public) => true,
            Some(Permission::Any) => !self.scopes.is_empty(),
            Some(Permission::Scope(scope)) => self.scopes.iter().any(|s| s.iter().any(|g| g == scope)),
            Some(Permission::AllOf(all)) => all.iter().all(|p| self.allows(Some(p))),
            Some(Permission::AnyOf(any)) => any.iter().any(|p| self.allows(Some(p))),
        }
    }
}

/// What a connection's wires produced at the handshake, addressable per wire: the principal each credential wire
/// minted and the value each [ambient](Wire::ambient) wire carried. Raw credentials are not kept; its `Debug`
/// shows wire names only.
#[derive(Clone, Default)]
pub struct WireContext {
    principals: Vec<(Wire, Arc<dyn Any + Send + Sync>)>,
    ambient: Vec<(Wire, Option<String>)>,
}

impl WireContext {
    /// Records the principal `wire` minted.
    pub fn add_principal(&mut self, wire: Wire, principal: Arc<dyn Any + Send + Sync>) {
        self.principals.push((wire, principal));
    }

    /// Records the value ambient `wire` carried (`None`: absent).
    pub fn add_ambient(&mut self, wire: Wire, value: Option<String>) {
        self.ambient.push((wire, value));
    }

    /// The principal `wire` minted, if it ran and minted a `T`.
    pub fn principal<T: Any>(&self, wire: Wire) -> Option<&T> {
        self.principals
            .iter()
            .find(|(w, _)| *w == wire)
            .and_then(|(_, principal)| principal.downcast_ref())
    }

    /// The principal of type `T`, when exactly one wire minted a `T` (`None` when none did, or several did —
    /// then ask [`WireContext::principal`] by wire).
    pub fn get<T: Any>(&self) -> Option<&T> {
        let mut minted = self.principals.iter().filter_map(|(_, p)| p.downcast_ref::<T>());
        match (minted.next(), minted.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// The value ambient `wire` carried at the handshake; `None` when it was absent or `wire` is not an ambient
    /// wire of this connection (credentials are never kept).
    pub fn wire(&self, wire: Wire) -> Option<&str> {
        self.ambient
            .iter()
            .find(|(w, _)| *w == wire)
            .and_then(|(_, value)| value.as_deref())
    }
}

impl std::fmt::Debug for WireContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireContext")
            .field(
                "principals",
                &self.principals.iter().map(|(w, _)| w.name).collect::<Vec<_>>(),
            )
            .field("ambient", &self.ambient.iter().map(|(w, _)| w.name).collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: Wire = Wire::header("token", "authorization").bearer();
    const PLAIN: Wire = Wire::header("version", "x-client-version");
    const SESSION: Wire = Wire::cookie("session", "session");
    const QUERY: Wire = Wire::query("q", "token");

    fn inbound() -> Inbound {
        Inbound {
            headers: [
                ("authorization".to_owned(), "Bearer secret".to_owned()),
                ("x-client-version".to_owned(), "2".to_owned()),
            ]
            .into(),
            cookie: Some("theme=dark; session=abc123; other=1".to_owned()),
            query: vec![("room".into(), "a".into()), ("token".into(), "q-token".into())],
        }
    }

    #[test]
    fn wires_read_their_source() {
        let inbound = inbound();
        assert_eq!(TOKEN.read(&inbound), Some("secret"));
        assert_eq!(PLAIN.read(&inbound), Some("2"));
        assert_eq!(SESSION.read(&inbound), Some("abc123"));
        assert_eq!(QUERY.read(&inbound), Some("q-token"));
        assert_eq!(Wire::cookie("x", "missing").read(&inbound), None);
        let mut no_scheme = inbound.clone();
        no_scheme.headers.insert("authorization".into(), "secret".into());
        assert_eq!(
            TOKEN.read(&no_scheme),
            None,
            "the bearer prefix is required, case-sensitive"
        );
        no_scheme.headers.insert("authorization".into(), "bearer secret".into());
        assert_eq!(TOKEN.read(&no_scheme), None);
    }

    /// Ambient wires read their source like any wire; a middleware slot reads and writes nothing.
    #[test]
    fn ambient_wires_and_middleware_slots() {
        const THEME: Wire = Wire::cookie("theme", "theme").ambient();
        const LOCALE: Wire = Wire::middleware("locale");
        assert!(THEME.is_ambient() && !THEME.is_middleware());
        assert_ne!(THEME, Wire::cookie("theme", "theme"), "ambient is part of the wire");
        assert_eq!(THEME.read(&inbound()), Some("dark"));
        assert!(LOCALE.is_middleware() && !LOCALE.is_ambient() && !LOCALE.is_in_band());
        assert_eq!(LOCALE.read(&inbound()), None);
        let mut out = Outbound::default();
        LOCALE.update(&mut out, "fr");
        assert!(out.headers.is_empty() && out.cookies.is_empty() && out.query.is_empty());
    }

    /// Principals are found per wire, and by type only when one wire minted that type.
    #[test]
    fn wire_context_per_wire_and_by_type() {
        const ADMIN: Wire = Wire::header("admin", "x-admin");
        const THEME: Wire = Wire::cookie("theme", "theme").ambient();
        let mut context = WireContext::default();
        context.add_principal(TOKEN, Arc::new("alice".to_owned()));
        context.add_principal(PLAIN, Arc::new(7u32));
        context.add_ambient(THEME, Some("dark".into()));
        assert_eq!(context.principal::<String>(TOKEN).map(String::as_str), Some("alice"));
        assert_eq!(context.principal::<u32>(TOKEN), None, "not the type that wire minted");
        assert_eq!(context.get::<u32>(), Some(&7));
        assert_eq!(context.get::<String>().map(String::as_str), Some("alice"));
        context.add_principal(ADMIN, Arc::new("root".to_owned()));
        assert_eq!(context.get::<String>(), None, "two wires minted a String");
        assert_eq!(context.principal::<String>(ADMIN).map(String::as_str), Some("root"));
        assert_eq!(context.wire(THEME), Some("dark"));
        assert_eq!(context.wire(TOKEN), None, "credentials are never kept");
        assert!(!format!("{context:?}").contains("dark"));
    }

    #[test]
    fn wires_write_their_source() {
        let mut out = Outbound::default();
        TOKEN.update(&mut out, "secret");
        SESSION.update(&mut out, "abc");
        QUERY.update(&mut out, "t");
        assert_eq!(
            out.headers.get("authorization").map(String::as_str),
            Some("Bearer secret")
        );
        assert_eq!(out.cookies, [("session".to_owned(), "abc".to_owned())]);
        assert_eq!(out.query, [("token".to_owned(), "t".to_owned())]);
        assert!(!format!("{out:?}").contains("secret"), "Debug never shows values");
        assert!(!format!("{:?}", inbound()).contains("abc123"));
    }

    #[test]
    fn permissions_against_grants() {
        let grants = Grants {
            scopes: vec![vec!["chat:read".into()], vec!["chat:write".into(), "admin".into()]],
        };
        assert!(grants.allows(None));
        assert!(grants.allows(Some(&Permission::Public)));
        assert!(grants.allows(Some(&Permission::Any)));
        assert!(grants.allows(Some(&Permission::Scope("admin"))));
        assert!(!grants.allows(Some(&Permission::Scope("root"))));
        assert!(grants.allows(Some(&Permission::AllOf(&[
            Permission::Scope("chat:read"),
            Permission::Scope("admin")
        ]))));
        assert!(!grants.allows(Some(&Permission::AllOf(&[
            Permission::Scope("chat:read"),
            Permission::Scope("root")
        ]))));
        assert!(grants.allows(Some(&Permission::AnyOf(&[
            Permission::Scope("root"),
            Permission::Scope("admin")
        ]))));
        let nested = Permission::AnyOf(&[
            Permission::Scope("root"),
            Permission::AllOf(&[Permission::Scope("chat:write"), Permission::Scope("chat:read")]),
        ]);
        assert!(grants.allows(Some(&nested)));
        let none = Grants::default();
        assert!(!none.allows(Some(&Permission::Any)));
        assert!(none.allows(Some(&Permission::Public)));
    }

    #[test]
    fn permission_structure_is_checked() {
        assert_eq!(Permission::Scope("a").problem(), None);
        assert!(Permission::AllOf(&[]).problem().is_some());
        let deep = Permission::AllOf(&[Permission::AnyOf(&[Permission::AllOf(&[Permission::AnyOf(&[
            Permission::Scope("a"),
        ])])])]);
        assert!(deep.problem().is_some());
        let ok = Permission::AllOf(&[Permission::AnyOf(&[Permission::AllOf(&[Permission::Scope("a")])])]);
        assert_eq!(ok.problem(), None);
    }
}
