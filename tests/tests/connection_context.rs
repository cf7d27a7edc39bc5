//! What a connection's handshake leaves for its handlers, on real loopback sockets: middleware bound to slots in a
//! schema's `uses` list and run in its order (the original's `use: [USER_TOKEN_WIRE, LocaleMiddleware]`), ambient
//! wires read by handlers, principals addressable per wire (also from message handlers through
//! `current_message()`, without capturing them at connect), and the connection's addresses under a plain
//! `axum::serve` (whose socket is taken back from hyper with the bytes it read ahead) and under `Serve`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use futures_util::{SinkExt, StreamExt};
use grest_ws::client::{Client, ClientConfig};
use grest_ws::server::{BuildError, Connected, ConnectionInfo, GrestWs, Inbound, Middleware, Sockets, WireHandler};
use grest_ws::{ErrorEnvelope, NotAuthorized, WebSocketSchema, Wire, contract, current_message};
use grest_ws_test::TestServer;
use grest_ws_tests::PATIENCE;
use http::Extensions;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const USER_TOKEN: Wire = Wire::header("user-token", "authorization").bearer();
const ADMIN_TOKEN: Wire = Wire::header("admin-token", "x-admin-token");
const LOCALE: Wire = Wire::middleware("locale");
const VERSION: Wire = Wire::middleware("version");
const THEME: Wire = Wire::cookie("theme", "theme").ambient();

contract! {
    /// Reports what the handshake left for message handlers.
    pub Probe {
        client_to_server {
            /// The principals of both token wires, then the one found by type (`-` for none).
            users() -> Vec<String>;
            /// The ambient theme (`-` when the client sent none).
            theme() -> String;
            /// The locale the locale middleware stored (`-` for none).
            locale() -> String;
            /// The connection's peer address and local port, as `current_message()` has them.
            whereami() -> String;
        }
        server_to_client {}
    }
}

/// The locale middleware and a token wire, interleaved with the version middleware.
const INTERLEAVED_API: WebSocketSchema<Probe> =
    WebSocketSchema::new("ws/interleaved").uses(&[LOCALE, USER_TOKEN, VERSION]);
/// The same three in another order.
const REORDERED_API: WebSocketSchema<Probe> = WebSocketSchema::new("ws/reordered").uses(&[VERSION, LOCALE, USER_TOKEN]);
/// Two wires that mint the same principal type, and an ambient theme.
const TWO_USERS_API: WebSocketSchema<Probe> =
    WebSocketSchema::new("ws/two-users").uses(&[USER_TOKEN, ADMIN_TOKEN, THEME]);
/// One token wire and the ambient theme.
const ONE_USER_API: WebSocketSchema<Probe> = WebSocketSchema::new("ws/one-user").uses(&[USER_TOKEN, THEME]);
/// No wires at all (the address tests).
const OPEN_API: WebSocketSchema<Probe> = WebSocketSchema::new("ws/open");

#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The principal both token wires mint.
#[derive(Debug, Clone, PartialEq)]
struct User(String);

/// A token wire's handler: any token is the user of that name. Records its runs.
struct Tokens {
    wire: &'static str,
    events: Events,
}

impl WireHandler for Tokens {
    type Principal = User;

    async fn process(&self, token: Option<&str>) -> Result<User, ErrorEnvelope> {
        self.events.push(format!("{} process", self.wire));
        token
            .map(|token| User(token.to_owned()))
            .ok_or_else(|| NotAuthorized::with_display_message("Missing token").into())
    }
}

/// The locale middleware's context.
#[derive(Debug, Clone, PartialEq)]
struct Locale(String);

/// A middleware that reads handshake header `name` and records its `parse` and `process`; `store` keeps what it
/// read as context.
struct Recorder {
    name: &'static str,
    events: Events,
    store: fn(&mut Extensions, String),
}

impl Middleware for Recorder {
    type Parsed = Option<String>;

    fn parse(&self, inbound: &Inbound) -> Result<Option<String>, ErrorEnvelope> {
        self.events.push(format!("{} parse", self.name));
        Ok(inbound.headers.get(self.name).cloned())
    }

    async fn process(&self, value: Option<String>, extensions: &mut Extensions) -> Result<(), ErrorEnvelope> {
        self.events.push(format!("{} process", self.name));
        if let Some(value) = value {
            (self.store)(extensions, value);
        }
        Ok(())
    }
}

/// What a connect handler saw.
#[derive(Debug, Clone, PartialEq)]
struct AtConnect {
    user: Option<User>,
    admin: Option<User>,
    by_type: Option<User>,
    theme: Option<String>,
    token_kept: Option<String>,
}

#[derive(Default)]
struct State {
    connects: Mutex<Vec<AtConnect>>,
    infos: Mutex<Vec<ConnectionInfo>>,
}

/// Message handlers read the principals and ambient wires from `current_message()`; only the middleware's
/// context is captured at connect.
struct ProbeSession {
    locale: Option<Locale>,
}

fn dash(value: Option<&str>) -> String {
    value.unwrap_or("-").to_owned()
}

impl probe::Server for ProbeSession {
    async fn users(&self) -> grest_ws::HandlerResult<Vec<String>, probe::UsersError> {
        let message = current_message().expect("inside a handler");
        let wires = &message.connection.wires;
        let name = |user: Option<&User>| dash(user.map(|u| u.0.as_str()));
        Ok(vec![
            name(wires.principal::<User>(USER_TOKEN)),
            name(wires.principal::<User>(ADMIN_TOKEN)),
            name(wires.get::<User>()),
        ])
    }

    async fn theme(&self) -> grest_ws::HandlerResult<String, probe::ThemeError> {
        let message = current_message().expect("inside a handler");
        Ok(dash(message.connection.wires.wire(THEME)))
    }

    async fn locale(&self) -> grest_ws::HandlerResult<String, probe::LocaleError> {
        Ok(dash(self.locale.as_ref().map(|l| l.0.as_str())))
    }

    async fn whereami(&self) -> grest_ws::HandlerResult<String, probe::WhereamiError> {
        let message = current_message().expect("inside a handler");
        let connection = &message.connection;
        Ok(format!("{:?} {:?}", connection.remote_addr, connection.port))
    }
}

fn probe_server(events: &Events, state: &Arc<State>) -> GrestWs {
    let connect = {
        let state = state.clone();
        move |conn: Connected<Probe>| {
            state.connects.lock().unwrap().push(AtConnect {
                user: conn.principal::<User>(USER_TOKEN).cloned(),
                admin: conn.principal::<User>(ADMIN_TOKEN).cloned(),
                by_type: conn.get::<User>().cloned(),
                theme: conn.wire(THEME).map(str::to_owned),
                token_kept: conn.wire(USER_TOKEN).map(str::to_owned),
            });
            state.infos.lock().unwrap().push(conn.info.clone());
            let locale = conn.get::<Locale>().cloned();
            async move { ProbeSession { locale } }
        }
    };
    GrestWs::new()
        .bind(
            USER_TOKEN,
            Tokens {
                wire: "user-token",
                events: events.clone(),
            },
        )
        .bind(
            ADMIN_TOKEN,
            Tokens {
                wire: "admin-token",
                events: events.clone(),
            },
        )
        .bind_middleware(
            LOCALE,
            Recorder {
                name: "locale",
                events: events.clone(),
                store: |extensions, value| {
                    extensions.insert(Locale(value));
                },
            },
        )
        .bind_middleware(
            VERSION,
            Recorder {
                name: "version",
                events: events.clone(),
                store: |_, _| {},
            },
        )
        // Server-wide: after every schema's whole list.
        .middleware(Recorder {
            name: "audit",
            events: events.clone(),
            store: |_, _| {},
        })
        .ws(INTERLEAVED_API, connect.clone())
        .ws(REORDERED_API, connect.clone())
        .ws(TWO_USERS_API, connect.clone())
        .ws(ONE_USER_API, connect.clone())
        .ws(OPEN_API, connect)
}

async fn start() -> (TestServer, Events, Arc<State>, Sockets) {
    let events = Events::default();
    let state = Arc::new(State::default());
    let server = probe_server(&events, &state);
    let sockets = server.sockets();
    let router = server.build().expect("a valid registration");
    (TestServer::start(router).await, events, state, sockets)
}

fn client(server: &TestServer, schema: WebSocketSchema<Probe>) -> Client<Probe> {
    Client::new(schema, format!("ws://{}", server.addr()))
}

fn last_connect(state: &State) -> AtConnect {
    state
        .connects
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a connect handler ran")
}

fn user(name: &str) -> Option<User> {
    Some(User(name.to_owned()))
}

#[tokio::test]
async fn middleware_slots_run_where_each_schema_lists_them_among_its_wires() {
    let (server, events, _, _) = start().await;
    let connect = |schema| {
        client(&server, schema)
            .credential(USER_TOKEN, "alice")
            .header("locale", "et")
            .header("version", "2")
            .connect(Default::default())
    };
    let interleaved = connect(INTERLEAVED_API).await.unwrap();
    assert_eq!(
        events.take(),
        [
            "locale parse",
            "version parse",
            "audit parse",
            "locale process",
            "user-token process",
            "version process",
            "audit process",
        ],
        "every parse first, then every process in the schema's order; server-wide middleware last"
    );
    assert_eq!(interleaved.locale().await.unwrap(), "et");

    let reordered = connect(REORDERED_API).await.unwrap();
    assert_eq!(
        events.take(),
        [
            "version parse",
            "locale parse",
            "audit parse",
            "version process",
            "locale process",
            "user-token process",
            "audit process",
        ]
    );
    assert_eq!(reordered.locale().await.unwrap(), "et");

    // A schema without slots runs no slot middleware; the server-wide one still runs.
    let _open = client(&server, OPEN_API).connect(Default::default()).await.unwrap();
    assert_eq!(events.take(), ["audit parse", "audit process"]);
}

#[tokio::test]
async fn ambient_wires_reach_connect_and_message_handlers_and_credentials_do_not() {
    let (server, _, state, _) = start().await;
    let with_theme = client(&server, ONE_USER_API)
        .credential(USER_TOKEN, "alice")
        .credential(THEME, "dark")
        .connect(Default::default())
        .await
        .unwrap();
    let at_connect = last_connect(&state);
    assert_eq!(at_connect.theme.as_deref(), Some("dark"));
    assert_eq!(at_connect.token_kept, None, "a credential is never kept as a value");
    assert_eq!(with_theme.theme().await.unwrap(), "dark");

    let without = client(&server, ONE_USER_API)
        .credential(USER_TOKEN, "bob")
        .connect(Default::default())
        .await
        .unwrap();
    assert_eq!(last_connect(&state).theme, None);
    assert_eq!(without.theme().await.unwrap(), "-");
    assert_eq!(with_theme.theme().await.unwrap(), "dark", "per connection");
}

#[tokio::test]
async fn two_wires_minting_one_type_are_both_readable_per_wire() {
    let (server, _, state, sockets) = start().await;
    let both = client(&server, TWO_USERS_API)
        .credential(USER_TOKEN, "alice")
        .credential(ADMIN_TOKEN, "root")
        .config(ClientConfig::default().reconnect(None))
        .connect(Default::default())
        .await
        .unwrap();
    assert_eq!(
        last_connect(&state),
        AtConnect {
            user: user("alice"),
            admin: user("root"),
            by_type: None,
            theme: None,
            token_kept: None,
        },
        "by type the principal is ambiguous, so absent rather than either one"
    );
    assert_eq!(both.users().await.unwrap(), ["alice", "root", "-"]);

    let one = client(&server, ONE_USER_API)
        .credential(USER_TOKEN, "carol")
        .connect(Default::default())
        .await
        .unwrap();
    assert_eq!(
        last_connect(&state).by_type,
        user("carol"),
        "unambiguous: found by type"
    );
    assert_eq!(one.users().await.unwrap(), ["carol", "-", "carol"]);

    // The socket registry addresses principals per wire too: close the sockets root joined as the admin.
    let root = User("root".to_owned());
    let closed = sockets.close_where(|socket| socket.wires.principal::<User>(ADMIN_TOKEN) == Some(&root));
    assert_eq!(closed, 1);
    tokio::time::timeout(PATIENCE, both.handle().closed()).await.unwrap();
    assert_eq!(
        one.users().await.unwrap(),
        ["carol", "-", "carol"],
        "the other connection stays"
    );
}

#[test]
fn build_refuses_unbound_and_misbound_slots_and_wires_but_not_unbound_ambient_wires() {
    const UNBOUND: Wire = Wire::header("unbound", "x-unbound");
    const BOUND_AMBIENT: Wire = Wire::header("lang", "x-lang").ambient();
    const HANDLER_ON_SLOT: Wire = Wire::middleware("handler-on-slot");
    const MIDDLEWARE_ON_WIRE: Wire = Wire::query("middleware-on-wire", "m");
    const API: WebSocketSchema<Probe> = WebSocketSchema::new("ws/misbound").uses(&[
        THEME,
        VERSION,
        UNBOUND,
        BOUND_AMBIENT,
        HANDLER_ON_SLOT,
        MIDDLEWARE_ON_WIRE,
    ]);
    let events = Events::default();
    let recorder = || Recorder {
        name: "x",
        events: events.clone(),
        store: |_, _| {},
    };
    let tokens = || Tokens {
        wire: "x",
        events: events.clone(),
    };
    let result = GrestWs::new()
        .bind(BOUND_AMBIENT, tokens())
        .bind(HANDLER_ON_SLOT, tokens())
        .bind_middleware(MIDDLEWARE_ON_WIRE, recorder())
        .ws(API, |_: Connected<Probe>| async { ProbeSession { locale: None } })
        .build();
    let Err(BuildError::Refused(problems)) = result else {
        panic!("expected the build to be refused")
    };
    let text = problems.join("\n");
    for expected in [
        r#"middleware slot "version" is used but no middleware is bound to it"#,
        r#"wire "unbound" is used but no handler is bound to it"#,
        r#"wire "lang" is ambient (its value is kept, never verified) but something is bound to it"#,
        r#"middleware slot "handler-on-slot" is bound to a wire handler"#,
        r#"wire "middleware-on-wire" is bound to a middleware"#,
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert_eq!(problems.len(), 5, "the unbound ambient THEME is fine:\n{text}");
}

/// The peer's address and the local port as the connect handler's `ConnectionInfo` and a message handler's
/// `current_message()` have them, for a connection from a socket whose address the test knows.
async fn addresses_seen(server: SocketAddr, state: &State) -> (SocketAddr, ConnectionInfo, String) {
    let tcp = TcpStream::connect(server).await.unwrap();
    let client_addr = tcp.local_addr().unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{server}/ws/open"), tcp)
        .await
        .unwrap();
    assert_eq!(exchange(&mut ws, "h:::{}").await, "k:::null");
    let reply = exchange(&mut ws, "r:Probe.whereami:1:").await;
    let info = state
        .infos
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("the connect handler ran");
    (client_addr, info, reply)
}

/// Sends a text frame and waits for the next one.
async fn exchange(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>, text: &str) -> String {
    ws.send(Message::text(text)).await.unwrap();
    let reply = tokio::time::timeout(PATIENCE, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    reply.into_text().unwrap().to_string()
}

fn assert_addresses(server: SocketAddr, (client, info, reply): (SocketAddr, ConnectionInfo, String)) {
    assert_eq!(info.remote_addr, Some(client));
    assert_eq!(info.local_addr, Some(server));
    assert_eq!(info.port, Some(server.port()));
    assert_eq!(
        reply,
        format!(
            r#"s:Probe.whereami:1:{{"success":true,"type":"OK","data":"Some({client}) Some({})"}}"#,
            server.port()
        )
    );
}

async fn probe_router(state: &Arc<State>) -> (TcpListener, Router) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router = probe_server(&Events::default(), state).build().unwrap();
    (listener, router)
}

#[tokio::test]
async fn a_plain_axum_serve_gives_the_peer_address_and_local_port() {
    let state = Arc::new(State::default());
    let (listener, router) = probe_router(&state).await;
    let server = listener.local_addr().unwrap();
    // Without `into_make_service_with_connect_info`: the addresses come from the upgraded socket itself.
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });
    assert_addresses(server, addresses_seen(server, &state).await);
    serving.abort();
}

#[tokio::test]
async fn serve_gives_the_peer_address_and_local_port() {
    let state = Arc::new(State::default());
    let (listener, router) = probe_router(&state).await;
    let server = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { grest_ws::server::serve(listener, router).await });
    assert_addresses(server, addresses_seen(server, &state).await);
    serving.abort();
}

/// A client that sends its `h` frame in the same write as the upgrade request: under a plain `axum::serve` the
/// frame may already sit in hyper's read buffer when the socket is taken back from hyper, and must still be read.
#[tokio::test]
async fn bytes_sent_with_the_upgrade_request_are_kept_under_a_plain_axum_serve() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let state = Arc::new(State::default());
    let (listener, router) = probe_router(&state).await;
    let server = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { axum::serve(listener, router).await });
    let mut bytes = format!(
        "GET /ws/open HTTP/1.1\r\nHost: {server}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    .into_bytes();
    // `h:::{}` as a masked text frame (a zero masking key leaves the payload as it is).
    bytes.extend_from_slice(&[0x81, 0x80 | 6, 0, 0, 0, 0]);
    bytes.extend_from_slice(b"h:::{}");
    let mut tcp = TcpStream::connect(server).await.unwrap();
    tcp.write_all(&bytes).await.unwrap();
    let mut received = Vec::new();
    let answered = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 1024];
        while !received.windows(8).any(|w| w == b"k:::null") {
            let n = tcp.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed: {:?}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    assert!(answered.is_ok(), "no k: {:?}", String::from_utf8_lossy(&received));
    assert!(received.starts_with(b"HTTP/1.1 101"));
    serving.abort();
}
