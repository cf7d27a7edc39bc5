//! Handshake auth and permissions: wires, middleware, principals, scopes, refuse-to-start, Origin policy, and the
//! same wire guarding an HTTP route.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Extension, Router};
use grest_ws::client::{Client, ClientConfig, ConnectError};
use grest_ws::server::{BuildError, Connected, GrestWs, HttpAuth, Inbound, Middleware, OriginPolicy, WireHandler};
use grest_ws::{
    BadRequest, ErrorEnvelope, Forbidden, NotAuthorized, Permission, ServerError, WebSocketSchema, Wire, contract,
};
use grest_ws_test::TestServer;
use grest_ws_tests::{RawWs, frame_data, http_get, without_context};
use http::Extensions;

const USER_TOKEN: Wire = Wire::header("user-token", "authorization").bearer();
const SESSION: Wire = Wire::cookie("session", "session");
const TICKET: Wire = Wire::query("ticket", "ticket");

#[derive(Debug, Clone, PartialEq)]
struct User {
    id: String,
    scopes: Vec<String>,
}

fn user(id: &str) -> Option<User> {
    let scopes: &[&str] = match id {
        "alice" => &["vault:use", "vault:read", "vault:write"],
        "bob" => &["vault:use", "vault:read"],
        "eve" => &[],
        _ => return None,
    };
    Some(User {
        id: id.to_owned(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    })
}

/// The handler of all three credential wires: a credential `<prefix><user>` is that user. Records each run.
struct Credentials {
    prefix: &'static str,
    events: Events,
}

impl Credentials {
    fn new(prefix: &'static str, events: &Events) -> Self {
        Credentials {
            prefix,
            events: events.clone(),
        }
    }
}

impl WireHandler for Credentials {
    type Principal = User;
    const RESOLVES_PERMISSIONS: bool = true;

    async fn process(&self, credential: Option<&str>) -> Result<User, ErrorEnvelope> {
        self.events.push(&format!("process {}", self.prefix));
        let credential = credential.ok_or_else(|| NotAuthorized::with_display_message("Missing credential"))?;
        credential
            .strip_prefix(self.prefix)
            .and_then(user)
            .ok_or_else(|| NotAuthorized::with_display_message("Invalid credential").into())
    }

    async fn permissions(&self, user: &User) -> Vec<String> {
        user.scopes.clone()
    }
}

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn push(&self, event: &str) {
        self.0.lock().unwrap().push(event.to_owned());
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Ambient context from a handshake header.
#[derive(Debug, Clone, PartialEq)]
struct Locale(String);

/// Reads `accept-language`; rejects "xx"; records its calls.
struct LocaleMiddleware {
    name: &'static str,
    events: Events,
}

impl Middleware for LocaleMiddleware {
    type Parsed = Option<String>;

    fn parse(&self, inbound: &Inbound) -> Result<Option<String>, ErrorEnvelope> {
        self.events.push(&format!("parse {}", self.name));
        Ok(inbound.headers.get("accept-language").cloned())
    }

    async fn process(&self, language: Option<String>, extensions: &mut Extensions) -> Result<(), ErrorEnvelope> {
        self.events.push(&format!("process {}", self.name));
        match language.as_deref() {
            Some("xx") => Err(BadRequest::with_display_message("Unsupported language").into()),
            Some(language) => {
                extensions.insert(Locale(language.to_owned()));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

contract! {
    /// A permissioned contract.
    pub Vault {
        connect { errors: [NotAuthorized, Forbidden, BadRequest, ServerError], permission: Permission::Scope("vault:use") }
        client_to_server {
            whoami() -> String, errors: [Forbidden, ServerError], permission: Permission::Any;
            read() -> String, errors: [Forbidden, ServerError], permission: Permission::Scope("vault:read");
            write(String) -> bool, errors: [Forbidden, ServerError],
                permission: Permission::AllOf(&[Permission::Scope("vault:read"), Permission::Scope("vault:write")]);
            admin_or_write() -> bool, errors: [Forbidden, ServerError],
                permission: Permission::AnyOf(&[Permission::Scope("admin"), Permission::Scope("vault:write")]);
            locale() -> String, permission: Permission::Public;
        }
        server_to_client {
            notice(String), permission: Permission::Public;
        }
    }
}

const TOKEN_API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/vault").uses(&[USER_TOKEN]);
const COOKIE_API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/vault-cookie").uses(&[SESSION]);
const TICKET_API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/vault-ticket").uses(&[TICKET]);

struct VaultSession {
    user: User,
    locale: Option<Locale>,
}

impl vault::Server for VaultSession {
    async fn whoami(&self) -> grest_ws::HandlerResult<String, vault::WhoamiError> {
        Ok(self.user.id.clone())
    }
    async fn read(&self) -> grest_ws::HandlerResult<String, vault::ReadError> {
        Ok(format!("secrets for {}", self.user.id))
    }
    async fn write(&self, _: String) -> grest_ws::HandlerResult<bool, vault::WriteError> {
        Ok(true)
    }
    async fn admin_or_write(&self) -> grest_ws::HandlerResult<bool, vault::AdminOrWriteError> {
        Ok(true)
    }
    async fn locale(&self) -> grest_ws::HandlerResult<String, vault::LocaleError> {
        Ok(self.locale.as_ref().map_or_else(|| "none".to_owned(), |l| l.0.clone()))
    }
}

async fn session(conn: Connected<Vault>) -> VaultSession {
    VaultSession {
        user: conn.get::<User>().cloned().expect("the wire minted a user"),
        locale: conn.get::<Locale>().cloned(),
    }
}

struct Server {
    serving: TestServer,
    events: Events,
    sockets: grest_ws::server::Sockets,
}

impl Server {
    fn addr(&self) -> SocketAddr {
        self.serving.addr()
    }
}

fn vault_server(origin: OriginPolicy, events: &Events) -> (GrestWs, HttpAuth) {
    let ws = GrestWs::new()
        .origin_policy(origin)
        .bind(USER_TOKEN, Credentials::new("secret-", events))
        .bind(SESSION, Credentials::new("s-", events))
        .bind(TICKET, Credentials::new("t-", events))
        .middleware(LocaleMiddleware {
            name: "a",
            events: events.clone(),
        })
        .middleware(LocaleMiddleware {
            name: "b",
            events: events.clone(),
        })
        .ws(TOKEN_API, session)
        .ws(COOKIE_API, session)
        .ws(TICKET_API, session);
    let auth = ws.http_auth(&[USER_TOKEN]).unwrap();
    (ws, auth)
}

async fn start_with(origin: OriginPolicy) -> Server {
    let events = Events::default();
    let (ws, auth) = vault_server(origin, &events);
    let sockets = ws.sockets();
    let me = Router::new()
        .route(
            "/api/me",
            get(|Extension(user): Extension<User>| async move { user.id }),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            auth,
            grest_ws::server::require_auth,
        ));
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(me)
        .merge(ws.build().unwrap());
    let serving = TestServer::start(app).await;
    events.take();
    Server {
        serving,
        events,
        sockets,
    }
}

async fn start() -> Server {
    start_with(OriginPolicy::new()).await
}

fn client(server: &Server, schema: WebSocketSchema<Vault>) -> Client<Vault> {
    Client::new(schema, format!("ws://{}", server.addr()))
}

/// Connects to `schema` with one credential and no other settings.
async fn connect_as(
    server: &Server,
    schema: WebSocketSchema<Vault>,
    wire: Wire,
    credential: &str,
) -> Result<vault::Client, ConnectError<vault::ConnectError>> {
    client(server, schema)
        .credential(wire, credential)
        .connect(Default::default())
        .await
}

/// The envelope of a refusal (decoded as the typed `vault::ConnectError`, re-encoded to compare wire fields).
async fn rejected(result: Result<vault::Client, ConnectError<vault::ConnectError>>) -> ErrorEnvelope {
    match result {
        Err(ConnectError::Rejected(error)) => grest_ws::MethodError::to_envelope(&error),
        other => panic!("expected a rejected handshake, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn valid_bearer_token_mints_the_principal() {
    let server = start().await;
    let alice = connect_as(&server, TOKEN_API, USER_TOKEN, "secret-alice")
        .await
        .unwrap();
    assert_eq!(alice.whoami().await.unwrap(), "alice");
    assert_eq!(alice.read().await.unwrap(), "secrets for alice");

    let mut raw = RawWs::connect(&format!("ws://{}/ws/vault", server.addr())).await;
    raw.send(r#"h:::{"authorization":"Bearer secret-bob"}"#).await;
    assert_eq!(raw.recv_text().await, "k:::null");
    raw.send("r:Vault.whoami:1:").await;
    assert_eq!(
        raw.recv_text().await,
        r#"s:Vault.whoami:1:{"success":true,"type":"OK","data":"bob"}"#
    );
}

#[tokio::test]
async fn invalid_and_missing_tokens_are_not_authorized() {
    let server = start().await;
    let wire = rejected(connect_as(&server, TOKEN_API, USER_TOKEN, "secret-mallory").await).await;
    assert_eq!((wire.error_type.as_str(), wire.status_code), ("NOT_AUTHORIZED", 401));
    assert_eq!(wire.context.display_message.as_deref(), Some("Invalid credential"));
    let wire = rejected(client(&server, TOKEN_API).connect(Default::default()).await).await;
    assert_eq!(wire.context.display_message.as_deref(), Some("Missing credential"));

    // On the wire: `x` with the envelope, then close 4001. A token without the bearer scheme is no token.
    let mut raw = RawWs::connect(&format!("ws://{}/ws/vault", server.addr())).await;
    raw.send(r#"h:::{"authorization":"secret-alice"}"#).await;
    assert_eq!(
        without_context(&raw.recv_text().await),
        r#"x:::{"success":false,"type":"NOT_AUTHORIZED","statusCode":401,"context":{"displayMessage":"Missing credential"}}"#
    );
    assert_eq!(raw.recv_close().await, (Some(4001), "Handshake failed".to_owned()));
}

#[tokio::test]
async fn connect_permission_is_checked_at_the_handshake() {
    let server = start().await;
    let wire = rejected(connect_as(&server, TOKEN_API, USER_TOKEN, "secret-eve").await).await;
    assert_eq!((wire.error_type.as_str(), wire.status_code), ("FORBIDDEN", 403));
}

#[tokio::test]
async fn method_permissions_are_checked_per_message_and_the_connection_stays_open() {
    let server = start().await;
    let bob = connect_as(&server, TOKEN_API, USER_TOKEN, "secret-bob").await.unwrap();
    assert!(
        matches!(bob.write(&"x".to_owned()).await, Err(vault::WriteError::Forbidden(_))),
        "allOf needs both scopes"
    );
    assert!(matches!(
        bob.admin_or_write().await,
        Err(vault::AdminOrWriteError::Forbidden(_))
    ));
    assert_eq!(
        bob.read().await.unwrap(),
        "secrets for bob",
        "the connection stays open"
    );
    assert_eq!(
        bob.whoami().await.unwrap(),
        "bob",
        "`Any` passes for an authenticated connection"
    );

    let alice = connect_as(&server, TOKEN_API, USER_TOKEN, "secret-alice")
        .await
        .unwrap();
    assert!(alice.write(&"x".to_owned()).await.unwrap());
    assert!(
        alice.admin_or_write().await.unwrap(),
        "anyOf passes with one of its scopes"
    );

    let mut raw = RawWs::connect(&format!("ws://{}/ws/vault", server.addr())).await;
    raw.send(r#"h:::{"authorization":"Bearer secret-bob"}"#).await;
    assert_eq!(raw.recv_text().await, "k:::null");
    raw.send(r#"r:Vault.write:1:"x""#).await;
    assert_eq!(
        without_context(&raw.recv_text().await),
        r#"s:Vault.write:1:{"success":false,"type":"FORBIDDEN","statusCode":403,"context":{}}"#
    );
}

#[tokio::test]
async fn cookie_comes_from_the_upgrade_never_from_the_handshake() {
    let server = start().await;
    let alice = connect_as(&server, COOKIE_API, SESSION, "s-alice").await.unwrap();
    assert_eq!(alice.whoami().await.unwrap(), "alice");

    let mut raw = RawWs::connect(&format!("ws://{}/ws/vault-cookie", server.addr())).await;
    raw.send(r#"h:::{"cookie":"session=s-alice"}"#).await;
    let x = raw.recv_text().await;
    assert!(x.starts_with("x:::"), "{x}");
    assert_eq!(frame_data(&x)["type"], "NOT_AUTHORIZED");
}

#[tokio::test]
async fn query_credential_is_read_from_the_url() {
    let server = start().await;
    let bob = connect_as(&server, TICKET_API, TICKET, "t-bob").await.unwrap();
    assert_eq!(bob.whoami().await.unwrap(), "bob");
    let wire = rejected(connect_as(&server, TICKET_API, TICKET, "t-nobody").await).await;
    assert_eq!(wire.error_type, "NOT_AUTHORIZED");
}

#[tokio::test]
async fn wires_then_middleware_run_in_order_and_their_context_reaches_handlers() {
    let server = start().await;
    let alice = client(&server, TOKEN_API)
        .credential(USER_TOKEN, "secret-alice")
        .header("Accept-Language", "et")
        .connect(Default::default())
        .await
        .unwrap();
    assert_eq!(
        server.events.take(),
        ["parse a", "parse b", "process secret-", "process a", "process b"]
    );
    assert_eq!(alice.locale().await.unwrap(), "et");

    let wire = rejected(
        client(&server, TOKEN_API)
            .credential(USER_TOKEN, "secret-alice")
            .header("accept-language", "xx")
            .connect(Default::default())
            .await,
    )
    .await;
    assert_eq!((wire.error_type.as_str(), wire.status_code), ("BAD_REQUEST", 400));
    assert_eq!(
        server.events.take(),
        ["parse a", "parse b", "process secret-", "process a"],
        "the chain stops at the failure"
    );
}

#[tokio::test]
async fn the_app_can_close_one_users_sockets() {
    let server = start().await;
    let alice = connect_as(&server, TOKEN_API, USER_TOKEN, "secret-alice")
        .await
        .unwrap();
    // Without reconnect, so the closed sockets stay closed (a real app also revokes the credential).
    let no_reconnect = || ClientConfig::default().reconnect(None);
    let bob = client(&server, TOKEN_API)
        .credential(USER_TOKEN, "secret-bob")
        .config(no_reconnect())
        .connect(Default::default())
        .await
        .unwrap();
    let bob_cookie = client(&server, COOKIE_API)
        .credential(SESSION, "s-bob")
        .config(no_reconnect())
        .connect(Default::default())
        .await
        .unwrap();
    assert_eq!(server.sockets.count(), 3);
    let closed = server
        .sockets
        .close_where(|socket| socket.extensions.get::<User>().is_some_and(|u| u.id == "bob"));
    assert_eq!(closed, 2);
    tokio::time::timeout(grest_ws_tests::PATIENCE, bob.handle().closed())
        .await
        .unwrap();
    tokio::time::timeout(grest_ws_tests::PATIENCE, bob_cookie.handle().closed())
        .await
        .unwrap();
    assert_eq!(alice.whoami().await.unwrap(), "alice");
    assert_eq!(server.sockets.count(), 1);
}

/// Connects to `schema` with this `Origin` (and extra upgrade headers); `Ok` when the upgrade was accepted,
/// `Err(())` on the policy's 403.
async fn connect_from(server: &Server, schema: WebSocketSchema<Vault>, headers: &[(&str, &str)]) -> Result<(), ()> {
    let mut c = client(server, schema);
    c = if schema.route_path() == COOKIE_API.route_path() {
        c.credential(SESSION, "s-alice")
    } else {
        c.credential(USER_TOKEN, "secret-alice")
    };
    for (name, value) in headers {
        c = c.upgrade_header(name, *value);
    }
    match c.connect(Default::default()).await {
        Ok(client) => {
            assert_eq!(client.whoami().await.unwrap(), "alice");
            Ok(())
        }
        Err(ConnectError::Refused(403)) => Err(()),
        Err(other) => panic!("{headers:?}: unexpected {other}"),
    }
}

#[tokio::test]
async fn origin_policy_refuses_foreign_browsers_on_every_socket() {
    let server = start_with(
        OriginPolicy::new()
            .allow("https://app.example")
            .allow("https://*.corp.example"),
    )
    .await;
    let port = server.addr().port();
    let same_origin = format!("http://{}", server.addr());
    let localhost = format!("http://localhost:{port}");
    let https_same_host = format!("https://{}", server.addr());
    let other_port = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    // Both schemas are checked: the one that authenticates by cookie and the one that uses a bearer token.
    for schema in [COOKIE_API, TOKEN_API] {
        for (origin, ok) in [
            ("https://evil.example", false),
            ("null", false),
            ("not an origin", false),
            (same_origin.as_str(), true),
            (&format!("{same_origin}/"), true),
            (https_same_host.as_str(), false), // same host and port, other scheme
            (other_port.as_str(), false),
            (localhost.as_str(), false), // another name for the same machine is another origin
            ("https://app.example", true),
            ("https://app.example:443", true),
            ("http://app.example", false),
            ("https://eu.corp.example", true),
            ("https://a.b.corp.example", true),
            ("https://corp.example", false),
            ("https://evilcorp.example", false),
            ("https://eu.corp.example:8443", false),
        ] {
            let outcome = connect_from(&server, schema, &[("Origin", origin)]).await;
            assert_eq!(outcome.is_ok(), ok, "{} from {origin:?}", schema.route_path());
        }
        // Native clients send no Origin.
        assert!(connect_from(&server, schema, &[]).await.is_ok());
    }
}

#[tokio::test]
async fn origin_policy_follows_the_proxy_headers() {
    let server = start().await;
    let proxied = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "chat.example")];
    assert!(
        connect_from(
            &server,
            TOKEN_API,
            &[("Origin", "https://chat.example"), proxied[0], proxied[1]]
        )
        .await
        .is_ok()
    );
    assert!(
        connect_from(
            &server,
            TOKEN_API,
            &[("Origin", "http://chat.example"), proxied[0], proxied[1]]
        )
        .await
        .is_err()
    );
    let forwarded = ("Forwarded", "for=10.0.0.1;host=chat.example;proto=https, for=10.0.0.2");
    assert!(
        connect_from(&server, TOKEN_API, &[("Origin", "https://chat.example"), forwarded])
            .await
            .is_ok()
    );
    // A proxy terminating TLS without saying so: the page's https origin does not match the plain request.
    let same_host_https = format!("https://{}", server.addr());
    assert!(
        connect_from(&server, TOKEN_API, &[("Origin", same_host_https.as_str())])
            .await
            .is_err()
    );
}

#[tokio::test]
async fn origin_policy_can_require_an_origin_or_be_turned_off() {
    let server = start_with(OriginPolicy::new().require_origin()).await;
    assert!(connect_from(&server, TOKEN_API, &[]).await.is_err());
    let same_origin = format!("http://{}", server.addr());
    assert!(
        connect_from(&server, TOKEN_API, &[("Origin", same_origin.as_str())])
            .await
            .is_ok()
    );

    let open = start_with(OriginPolicy::new().allow_any_origin()).await;
    assert!(
        connect_from(&open, COOKIE_API, &[("Origin", "https://evil.example")])
            .await
            .is_ok()
    );
}

#[test]
#[should_panic(expected = "is not an origin")]
fn origin_policy_refuses_a_malformed_allowed_origin() {
    let _ = OriginPolicy::new().allow("app.example.com");
}

#[tokio::test]
async fn the_same_wire_guards_an_http_route() {
    let server = start().await;
    assert_eq!(
        http_get(server.addr(), "/api/me", &[("Authorization", "Bearer secret-alice")]).await,
        (200, "alice".to_owned())
    );
    let (status, body) = http_get(server.addr(), "/api/me", &[]).await;
    assert_eq!(status, 401);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["type"], "NOT_AUTHORIZED");
    assert_eq!(error["context"]["displayMessage"], "Missing credential");
    assert_eq!(
        http_get(server.addr(), "/health", &[]).await,
        (200, "ok".to_owned()),
        "unguarded routes stay open"
    );
}

// ---- refuse to start ------------------------------------------------------------------------------------------

contract! {
    /// Declares a permission on one method but not the other (strict mode offender), and a gated push.
    pub Sloppy {
        client_to_server {
            guarded() -> bool, errors: [Forbidden, ServerError], permission: Permission::Scope("x");
            open() -> bool;
        }
        server_to_client {
            push(String), permission: Permission::Scope("x");
        }
    }
}

struct SloppySession;

impl sloppy::Server for SloppySession {
    async fn guarded(&self) -> grest_ws::HandlerResult<bool, sloppy::GuardedError> {
        Ok(true)
    }
    async fn open(&self) -> grest_ws::HandlerResult<bool, sloppy::OpenError> {
        Ok(true)
    }
}

contract! {
    /// Every method declares Public: nothing to complain about.
    pub Tidy {
        client_to_server { hello() -> bool, permission: Permission::Public; }
        server_to_client {}
    }
}

struct TidySession;

impl tidy::Server for TidySession {
    async fn hello(&self) -> grest_ws::HandlerResult<bool, tidy::HelloError> {
        Ok(true)
    }
}

fn refused(result: Result<Router, BuildError>) -> Vec<String> {
    match result {
        Err(BuildError::Refused(problems)) => problems,
        Err(other) => panic!("expected Refused, got {other}"),
        Ok(_) => panic!("expected the build to be refused"),
    }
}

#[test]
fn build_lists_every_offender() {
    const SLOPPY_API: WebSocketSchema<Sloppy> = WebSocketSchema::new("ws/sloppy").uses(&[USER_TOKEN, SESSION]);
    const SAME_HEADER: Wire = Wire::header("other-token", "authorization");
    const TIDY_API: WebSocketSchema<Tidy> = WebSocketSchema::new("ws/tidy").uses(&[USER_TOKEN, SAME_HEADER]);
    let problems = refused(
        GrestWs::new()
            .bind(USER_TOKEN, Credentials::new("secret-", &Events::default()))
            .bind(SAME_HEADER, Credentials::new("t-", &Events::default()))
            .ws(SLOPPY_API, |_: Connected<Sloppy>| async { SloppySession })
            .ws(TIDY_API, |_: Connected<Tidy>| async { TidySession })
            .build(),
    );
    let text = problems.join("\n");
    assert!(
        text.contains(r#"wire "session" is used but no handler is bound"#),
        "{text}"
    );
    assert!(
        text.contains("Sloppy.push: server-to-client methods are never gated"),
        "{text}"
    );
    assert!(
        text.contains("Sloppy.open: declares no permission, but strict mode is on"),
        "{text}"
    );
    assert!(
        text.contains(r#"two wires read the same header "authorization""#),
        "{text}"
    );
    assert_eq!(problems.len(), 4, "{text}");
    let error = BuildError::Refused(problems);
    assert!(error.to_string().starts_with("refusing to start:\n  - "));
}

#[test]
fn non_public_permission_needs_a_permission_wire() {
    const PLAIN: Wire = Wire::header("version", "x-version");
    struct Version;
    impl WireHandler for Version {
        type Principal = String;
        async fn process(&self, v: Option<&str>) -> Result<String, ErrorEnvelope> {
            Ok(v.unwrap_or("1").to_owned())
        }
    }
    const API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/vault").uses(&[PLAIN]);
    let problems = refused(GrestWs::new().bind(PLAIN, Version).ws(API, session).build());
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Vault connect requires a permission")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("Vault.read requires a permission")),
        "{problems:?}"
    );
    assert!(
        problems.iter().all(|p| p.contains("permanently FORBIDDEN")),
        "{problems:?}"
    );
    assert_eq!(
        problems.len(),
        5,
        "connect, whoami (Any), read, write, adminOrWrite: {problems:?}"
    );
}

#[test]
fn http_auth_needs_bound_wires_and_tidy_servers_build() {
    assert!(matches!(
        GrestWs::new().http_auth(&[USER_TOKEN]),
        Err(BuildError::Refused(_))
    ));
    const TIDY_API: WebSocketSchema<Tidy> = WebSocketSchema::new("ws/tidy");
    assert!(
        GrestWs::new()
            .ws(TIDY_API, |_: Connected<Tidy>| async { TidySession })
            .build()
            .is_ok()
    );
    let (ws, _) = vault_server(OriginPolicy::new(), &Events::default());
    assert!(ws.build().is_ok());
}

contract! {
    /// No permissions anywhere.
    pub Loose {
        client_to_server { a() -> bool; }
        server_to_client {}
    }
}

struct LooseSession;

impl loose::Server for LooseSession {
    async fn a(&self) -> grest_ws::HandlerResult<bool, loose::AError> {
        Ok(true)
    }
}

#[test]
fn strict_mode_is_off_when_no_surface_declares_a_permission() {
    const LOOSE_API: WebSocketSchema<Loose> = WebSocketSchema::new("ws/loose");
    assert!(
        GrestWs::new()
            .ws(LOOSE_API, |_: Connected<Loose>| async { LooseSession })
            .build()
            .is_ok()
    );
}
