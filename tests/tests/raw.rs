//! Raw byte-stream sockets on real loopback sockets: the default-mode handshake (`h` → `k`/`x`), frames dropped
//! before `k`, keepalive sentinels, frame types both ways, query validation; customClient authentication from the
//! upgrade (cookie, query), early bytes, subprotocols, the build-time invariant; wildcard path precedence; the
//! raw client (reconnect after a server restart, message handlers across reconnects); the socket registry; a reader
//! that falls behind its outbound budget (Close 1013, the sender never waits).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use grest_ws::client::{ClientConfig, ClientError, CloseReason, ConnectError, RawClient, ReconnectConfig};
use grest_ws::server::{BuildError, GrestWs, RawConnected, RawSocket, ServerConfig, Sockets, WireHandler};
use grest_ws::session::PushError;
use grest_ws::session::{Heartbeat, RAW_PING, RAW_PONG, RawMessage};
use grest_ws::{ErrorEnvelope, NotAuthorized, Permission, RawContract, RawSchema, SessionConfig, Validate, Wire};
use grest_ws_test::TestServer;
use grest_ws_tests::{LAB_API, LabState, PATIENCE, Process, RawWs, counters_by, frame_data, http_get, lab_connect};
use metrics_util::debugging::DebuggingRecorder;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The upgrade query of the default-mode stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
struct StreamQuery {
    /// Must not be empty.
    #[validate(non_empty)]
    room: String,
}

/// A default-mode stream: grest clients on both ends.
struct Stream;
impl RawContract for Stream {
    const NAME: &'static str = "Stream";
    type Query = StreamQuery;
}

/// A customClient stream for foreign clients, speaking two subprotocols.
struct Desktop;
impl RawContract for Desktop {
    const NAME: &'static str = "Desktop";
    const CUSTOM_CLIENT: bool = true;
    const PROTOCOLS: &'static [&'static str] = &["binary", "base64"];
    type Query = ();
}

/// A customClient stream for the path precedence tests.
struct Paths;
impl RawContract for Paths {
    const NAME: &'static str = "Paths";
    const CUSTOM_CLIENT: bool = true;
    type Query = ();
}

/// A customClient stream whose server floods the client without waiting (the slow-consumer test).
struct Flood;
impl RawContract for Flood {
    const NAME: &'static str = "Flood";
    const CUSTOM_CLIENT: bool = true;
    type Query = ();
}

const FLOOD_API: RawSchema<Flood> = RawSchema::new("raw/flood");

const TOKEN: Wire = Wire::header("token", "authorization").bearer();
const SESSION: Wire = Wire::cookie("session", "session");
const TOKEN_QUERY: Wire = Wire::query("token-query", "token");

const STREAM_API: RawSchema<Stream> = RawSchema::new("raw/stream").uses(&[TOKEN]);
const DESKTOP_COOKIE_API: RawSchema<Desktop> = RawSchema::new("desktop/cookie").uses(&[SESSION]);
const DESKTOP_QUERY_API: RawSchema<Desktop> = RawSchema::new("desktop/query").uses(&[TOKEN_QUERY]);

/// The principal the test wires mint.
#[derive(Debug, Clone, PartialEq)]
struct User(String);

/// Accepts `secret` at once and `slow` after 300 ms.
#[derive(Clone)]
struct Tokens;

impl WireHandler for Tokens {
    type Principal = User;

    async fn process(&self, token: Option<&str>) -> Result<User, ErrorEnvelope> {
        match token {
            Some("secret") => Ok(User("alice".into())),
            Some("slow") => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(User("slow".into()))
            }
            _ => Err(NotAuthorized::with_display_message("Invalid token").into()),
        }
    }
}

/// What the server's handlers saw.
#[derive(Default)]
struct State {
    /// Every frame a handler received, in order.
    received: Mutex<Vec<RawMessage>>,
    /// Handlers started.
    opened: AtomicUsize,
}

impl State {
    fn received(&self) -> Vec<RawMessage> {
        self.received.lock().unwrap().clone()
    }
}

/// Records and echoes every frame until the socket ends.
async fn echo(mut socket: RawSocket, state: Arc<State>) {
    while let Some(message) = socket.recv().await {
        state.received.lock().unwrap().push(message.clone());
        if socket.send(message).await.is_err() {
            return;
        }
    }
}

type Handler<C> = Box<dyn Fn(RawConnected<C>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Greets with the room and the principal, then echoes.
fn stream_handler(state: Arc<State>) -> Handler<Stream> {
    Box::new(move |conn: RawConnected<Stream>| {
        let state = state.clone();
        Box::pin(async move {
            state.opened.fetch_add(1, Ordering::SeqCst);
            let user = conn.get::<User>().cloned().expect("the wire minted a user");
            let greeting = format!("hello {} from {}", conn.query.room, user.0);
            let socket = conn.socket;
            socket.send(greeting).await.expect("greeting");
            echo(socket, state).await;
        })
    })
}

fn desktop_handler(state: Arc<State>) -> Handler<Desktop> {
    Box::new(move |conn: RawConnected<Desktop>| {
        let state = state.clone();
        Box::pin(async move {
            state.opened.fetch_add(1, Ordering::SeqCst);
            echo(conn.socket, state).await;
        })
    })
}

fn raw_server(state: Arc<State>, config: ServerConfig) -> GrestWs {
    GrestWs::new()
        .config(config)
        .bind(TOKEN, Tokens)
        .bind(SESSION, Tokens)
        .bind(TOKEN_QUERY, Tokens)
        .raw(STREAM_API, stream_handler(state.clone()))
        .raw(DESKTOP_COOKIE_API, desktop_handler(state.clone()))
        .raw(DESKTOP_QUERY_API, desktop_handler(state))
}

async fn start() -> (TestServer, Arc<State>, Sockets) {
    start_with(ServerConfig::default()).await
}

async fn start_with(config: ServerConfig) -> (TestServer, Arc<State>, Sockets) {
    let state = Arc::new(State::default());
    let server = raw_server(state.clone(), config);
    let sockets = server.sockets();
    let serving = TestServer::start(server.build().expect("valid registration")).await;
    (serving, state, sockets)
}

/// Connects to the default-mode stream and completes the handshake with `token`.
async fn stream_connected(addr: SocketAddr, token: &str) -> RawWs {
    let mut ws = RawWs::connect(&format!("ws://{addr}/raw/stream?room=lab")).await;
    ws.send(&format!(r#"h:::{{"authorization":"Bearer {token}"}}"#)).await;
    assert_eq!(ws.recv_text().await, "k:::null");
    ws
}

fn binary(bytes: &[u8]) -> Message {
    Message::binary(bytes.to_vec())
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not reached in time: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn sentinels_are_the_wire_strings() {
    assert_eq!(RAW_PING, "\0gg-raw-ping\0");
    assert_eq!(RAW_PONG, "\0gg-raw-pong\0");
    assert_eq!((RAW_PING.len(), RAW_PONG.len()), (13, 13));
}

#[tokio::test]
async fn default_mode_handshakes_then_carries_text_and_binary_both_ways() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let mut ws = stream_connected(addr, "secret").await;
    // The handler had the socket before `k`: what it sent at once follows `k`.
    assert_eq!(ws.recv_text().await, "hello lab from alice");
    ws.send("plain text").await;
    assert_eq!(ws.recv_text().await, "plain text");
    ws.send_message(binary(&[0, 1, 2, 255])).await;
    assert_eq!(ws.recv().await, Some(binary(&[0, 1, 2, 255])));
    // Text that looks like a grest frame is just text now.
    ws.send("r:Lab.echo:1:{}").await;
    assert_eq!(ws.recv_text().await, "r:Lab.echo:1:{}");
    assert_eq!(
        state.received(),
        [
            RawMessage::from("plain text"),
            RawMessage::from(vec![0, 1, 2, 255]),
            RawMessage::from("r:Lab.echo:1:{}"),
        ]
    );
    assert!(!state.received()[0].is_binary() && state.received()[1].is_binary());
}

#[tokio::test]
async fn raw_upgrades_from_a_foreign_origin_are_refused_with_403() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let upgrade = [
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "https://evil.example"),
    ];
    for path in ["/raw/stream?room=lab", "/desktop/cookie"] {
        let (status, body) = http_get(addr, path, &upgrade).await;
        assert_eq!(status, 403, "{path}");
        assert!(body.contains("Origin not allowed"), "{body}");
    }
    assert_eq!(state.opened.load(Ordering::SeqCst), 0, "no handler ran");
}

#[tokio::test]
async fn default_mode_rejects_bad_credentials_with_x_and_4001() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let mut ws = RawWs::connect(&format!("ws://{addr}/raw/stream?room=lab")).await;
    ws.send(r#"h:::{"authorization":"Bearer wrong"}"#).await;
    let x = ws.recv_text().await;
    assert!(x.starts_with("x:::"), "{x}");
    let error = frame_data(&x);
    assert_eq!(error["type"], "NOT_AUTHORIZED");
    assert_eq!(error["context"]["displayMessage"], "Invalid token");
    assert_eq!(ws.recv_close().await, (Some(4001), "Handshake failed".to_owned()));
    assert_eq!(state.opened.load(Ordering::SeqCst), 0, "the handler never ran");
}

/// Raw endpoints count their connections by outcome, as typed ones do: both walk the same handshake pipeline.
#[tokio::test]
async fn raw_connections_are_counted_by_outcome() {
    // A current-thread test: the server's tasks run on this thread and report to this recorder.
    let recorder = DebuggingRecorder::new();
    let metrics = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let (server, _, _) = start().await;
    let addr = server.addr();
    let _open = stream_connected(addr, "secret").await;
    let mut refused = RawWs::connect(&format!("ws://{addr}/raw/stream?room=lab")).await;
    refused.send(r#"h:::{"authorization":"Bearer wrong"}"#).await;
    assert!(refused.recv_text().await.starts_with("x:::"));
    assert_eq!(refused.recv_close().await.0, Some(4001));
    let mut invalid = RawWs::connect(&format!("ws://{addr}/raw/stream?room=")).await;
    assert_eq!(invalid.recv_close().await.0, Some(4000));
    // One snapshot: taking one resets the recorder's counters.
    let by_result = counters_by(&metrics, "websocket_connections_total", "result");
    let expected = [("HANDSHAKE_FAILED", 1), ("OK", 1), ("QUERY_INVALID", 1)];
    assert_eq!(by_result, expected.map(|(result, n)| (result.to_owned(), n)).into());
}

#[tokio::test]
async fn default_mode_validates_the_query_with_4000() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let mut ws = RawWs::connect(&format!("ws://{addr}/raw/stream?room=")).await;
    assert_eq!(
        ws.recv_close().await,
        (Some(4000), "Invalid query parameters".to_owned()),
        "closed without an x frame"
    );
    let mut ws = RawWs::connect(&format!("ws://{addr}/raw/stream")).await;
    assert_eq!(ws.recv_close().await.0, Some(4000));
    assert_eq!(state.opened.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn frames_sent_before_k_are_dropped() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    // The wire takes 300 ms: the early frames arrive while it runs.
    for _ in 0..2 {
        let mut ws = RawWs::connect(&format!("ws://{addr}/raw/stream?room=lab")).await;
        ws.send(r#"h:::{"authorization":"Bearer slow"}"#).await;
        ws.send("early text").await;
        ws.send_message(binary(b"early bytes")).await;
        assert_eq!(ws.recv_text().await, "k:::null");
        assert!(ws.recv_text().await.starts_with("hello lab"));
        ws.send("late").await;
        assert_eq!(
            ws.recv_text().await,
            "late",
            "the first echo is of the first frame after k"
        );
    }
    assert_eq!(state.received(), [RawMessage::from("late"), RawMessage::from("late")]);
}

#[tokio::test]
async fn default_mode_answers_and_hides_the_keepalive_sentinels() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let mut ws = stream_connected(addr, "secret").await;
    assert!(ws.recv_text().await.starts_with("hello"));
    ws.send(RAW_PING).await;
    assert_eq!(ws.recv_text().await, RAW_PONG);
    ws.send(RAW_PONG).await;
    // Only text frames are sentinels: the same bytes in a binary frame are data.
    ws.send_message(binary(RAW_PING.as_bytes())).await;
    assert_eq!(ws.recv().await, Some(binary(RAW_PING.as_bytes())));
    ws.send("after").await;
    assert_eq!(ws.recv_text().await, "after");
    assert_eq!(
        state.received(),
        [RawMessage::from(RAW_PING.as_bytes()), RawMessage::from("after")],
        "neither text sentinel reached the application"
    );
}

#[tokio::test]
async fn raw_sockets_get_protocol_pings() {
    let heartbeat = Heartbeat {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
    };
    let config = ServerConfig::default().session(SessionConfig::default().heartbeat(Some(heartbeat)));
    let (server, _, _) = start_with(config).await;
    let addr = server.addr();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/desktop/query?token=secret"))
        .await
        .unwrap();
    let ping = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(Ok(Message::Ping(_))) = ws.next().await {
                return;
            }
        }
    });
    ping.await.expect("a protocol ping");
}

/// A customClient upgrade request for `path` with extra headers.
fn custom_request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

#[tokio::test]
async fn custom_client_authenticates_by_cookie() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let request = custom_request(addr, "/desktop/cookie", &[("cookie", "theme=dark; session=secret")]);
    let (mut ws, _) = RawWs::connect_request(request).await;
    // No `h`, no `k`: bytes flow at once, both frame types.
    ws.send_message(binary(&[1, 2, 3])).await;
    assert_eq!(ws.recv().await, Some(binary(&[1, 2, 3])));
    ws.send("text").await;
    assert_eq!(ws.recv_text().await, "text");

    let request = custom_request(addr, "/desktop/cookie", &[("cookie", "session=wrong")]);
    let (mut ws, _) = RawWs::connect_request(request).await;
    assert_eq!(
        ws.recv_close().await,
        (Some(4001), "Unauthorized".to_owned()),
        "no frames before the close"
    );
    let (mut ws, _) = RawWs::connect_request(custom_request(addr, "/desktop/cookie", &[])).await;
    assert_eq!(ws.recv_close().await.0, Some(4001));
    assert_eq!(state.opened.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn custom_client_authenticates_by_query_and_keeps_early_bytes() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let mut ws = RawWs::connect(&format!("ws://{addr}/desktop/query?token=wrong")).await;
    assert_eq!(ws.recv_close().await, (Some(4001), "Unauthorized".to_owned()));
    assert_eq!(state.opened.load(Ordering::SeqCst), 0);

    // The wire takes 300 ms; what the client sends meanwhile is delivered once the handler has the socket.
    let mut ws = RawWs::connect(&format!("ws://{addr}/desktop/query?token=slow")).await;
    ws.send_message(binary(b"typed before auth")).await;
    ws.send("and this").await;
    assert_eq!(ws.recv().await, Some(binary(b"typed before auth")));
    assert_eq!(ws.recv_text().await, "and this");
    assert_eq!(state.opened.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn custom_client_passes_sentinels_through() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let mut ws = RawWs::connect(&format!("ws://{addr}/desktop/query?token=secret")).await;
    ws.send(RAW_PING).await;
    assert_eq!(
        ws.recv_text().await,
        RAW_PING,
        "echoed by the application, not answered with a pong"
    );
    assert_eq!(state.received(), [RawMessage::from(RAW_PING)]);
}

/// Sends an upgrade request by hand and returns the response head, lower-cased.
async fn upgrade_head(addr: SocketAddr, path: &str, protocols: Option<&str>) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    if let Some(protocols) = protocols {
        request.push_str(&format!("Sec-WebSocket-Protocol: {protocols}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut byte))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 1, "the response head ended early");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

#[tokio::test]
async fn custom_client_echoes_the_first_of_its_protocols_the_client_offered() {
    let (server, _, _) = start().await;
    let addr = server.addr();
    let path = "/desktop/query?token=secret";
    let head = upgrade_head(addr, path, Some("chat, base64, binary")).await;
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-protocol: binary\r\n"),
        "the server's order decides: {head}"
    );
    let head = upgrade_head(addr, path, Some("base64")).await;
    assert!(head.contains("sec-websocket-protocol: base64\r\n"), "{head}");
    let head = upgrade_head(addr, path, Some("chat, BINARY")).await;
    assert!(
        head.starts_with("http/1.1 101") && !head.contains("sec-websocket-protocol"),
        "{head}"
    );
    let head = upgrade_head(addr, path, None).await;
    assert!(!head.contains("sec-websocket-protocol"), "{head}");
    // A WebSocket library that offered a protocol sees it chosen.
    let request = custom_request(addr, path, &[("sec-websocket-protocol", "binary")]);
    let (_, response) = RawWs::connect_request(request).await;
    assert_eq!(response.headers()["sec-websocket-protocol"], "binary");
}

#[test]
fn custom_client_schemas_with_in_band_wires_refuse_to_build() {
    const HEADER_DESKTOP: RawSchema<Desktop> = RawSchema::new("desktop/header").uses(&[TOKEN]);
    let refused = GrestWs::new()
        .bind(TOKEN, Tokens)
        .raw(HEADER_DESKTOP, |_: RawConnected<Desktop>| async {})
        .build();
    match refused {
        Err(BuildError::Refused(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains("/desktop/header") && problems[0].contains("\"token\""),
                "{problems:?}"
            );
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
    // The same wire is fine in default mode, and cookie/query wires are fine in customClient mode.
    let _router = GrestWs::new()
        .bind(TOKEN, Tokens)
        .bind(TOKEN_QUERY, Tokens)
        .raw(STREAM_API, |_: RawConnected<Stream>| async {})
        .raw(DESKTOP_QUERY_API, |_: RawConnected<Desktop>| async {})
        .build()
        .expect("valid");
    // A wildcard path on a default-mode contract cannot even be declared (a compile error for a const).
    assert!(std::panic::catch_unwind(|| RawSchema::<Stream>::new("raw/stream/*")).is_err());
}

/// A default-mode stream that requires a scope to connect.
struct Gated;
impl RawContract for Gated {
    const NAME: &'static str = "Gated";
    const PERMISSION: Option<Permission> = Some(Permission::Scope("stream:use"));
    type Query = ();
}

/// A customClient stream that requires a scope to connect.
struct GatedDesktop;
impl RawContract for GatedDesktop {
    const NAME: &'static str = "GatedDesktop";
    const CUSTOM_CLIENT: bool = true;
    const PERMISSION: Option<Permission> = Some(Permission::Scope("stream:use"));
    type Query = ();
}

/// A permission wire: the user `scoped-<name>` has `stream:use`, `plain-<name>` nothing.
struct Scoped;

impl WireHandler for Scoped {
    type Principal = User;
    const RESOLVES_PERMISSIONS: bool = true;

    async fn process(&self, token: Option<&str>) -> Result<User, ErrorEnvelope> {
        match token {
            Some(token) if token.starts_with("scoped-") || token.starts_with("plain-") => Ok(User(token.to_owned())),
            _ => Err(NotAuthorized::with_display_message("Invalid token").into()),
        }
    }

    async fn permissions(&self, user: &User) -> Vec<String> {
        if user.0.starts_with("scoped-") {
            vec!["stream:use".to_owned()]
        } else {
            Vec::new()
        }
    }
}

/// Counts the connection in `state`, then echoes.
fn counting_echo<C: RawContract>(state: &Arc<State>) -> Handler<C> {
    let state = state.clone();
    Box::new(move |conn: RawConnected<C>| {
        let state = state.clone();
        Box::pin(async move {
            state.opened.fetch_add(1, Ordering::SeqCst);
            echo(conn.socket, state).await;
        })
    })
}

#[tokio::test]
async fn raw_sockets_honour_their_connect_permission() {
    const GATED_API: RawSchema<Gated> = RawSchema::new("raw/gated").uses(&[TOKEN]);
    const GATED_DESKTOP_API: RawSchema<GatedDesktop> = RawSchema::new("desktop/gated").uses(&[SESSION]);
    let state = Arc::new(State::default());
    let router = GrestWs::new()
        .bind(TOKEN, Scoped)
        .bind(SESSION, Scoped)
        .raw(GATED_API, counting_echo(&state))
        .raw(GATED_DESKTOP_API, counting_echo(&state))
        .build()
        .expect("valid registration");
    let server = TestServer::start(router).await;
    let addr = server.addr();

    // Default mode: authenticated without the scope is `x` FORBIDDEN and 4001.
    let mut ws = RawWs::connect(&format!("ws://{addr}/raw/gated")).await;
    ws.send(r#"h:::{"authorization":"Bearer plain-eve"}"#).await;
    let x = ws.recv_text().await;
    assert_eq!(
        (frame_data(&x)["type"].as_str(), frame_data(&x)["statusCode"].as_u64()),
        (Some("FORBIDDEN"), Some(403)),
        "{x}"
    );
    assert_eq!(ws.recv_close().await, (Some(4001), "Handshake failed".to_owned()));
    let mut ws = RawWs::connect(&format!("ws://{addr}/raw/gated")).await;
    ws.send(r#"h:::{"authorization":"Bearer scoped-alice"}"#).await;
    assert_eq!(ws.recv_text().await, "k:::null");
    ws.send("through").await;
    assert_eq!(ws.recv_text().await, "through");

    // customClient: the same refusal is close 4001 "Unauthorized" (a foreign client reads no `x`).
    let request = custom_request(addr, "/desktop/gated", &[("cookie", "session=plain-eve")]);
    let (mut ws, _) = RawWs::connect_request(request).await;
    assert_eq!(ws.recv_close().await, (Some(4001), "Unauthorized".to_owned()));
    let request = custom_request(addr, "/desktop/gated", &[("cookie", "session=scoped-alice")]);
    let (mut ws, _) = RawWs::connect_request(request).await;
    ws.send("through").await;
    assert_eq!(ws.recv_text().await, "through");
    assert_eq!(
        state.opened.load(Ordering::SeqCst),
        2,
        "only the permitted connections reached a handler"
    );
}

#[test]
fn strict_mode_covers_raw_sockets() {
    const GATED_API: RawSchema<Gated> = RawSchema::new("raw/gated").uses(&[TOKEN]);
    // A raw socket that declares a permission turns strict mode on: a raw socket that declares none is refused.
    let refused = GrestWs::new()
        .bind(TOKEN, Scoped)
        .bind(SESSION, Scoped)
        .raw(GATED_API, |_: RawConnected<Gated>| async {})
        .raw(DESKTOP_COOKIE_API, |_: RawConnected<Desktop>| async {})
        .build();
    let Err(BuildError::Refused(problems)) = refused else {
        panic!("expected a refusal")
    };
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("raw socket /desktop/cookie (Desktop): declares no permission")
            && problems[0].contains("strict mode is on"),
        "{problems:?}"
    );
    // Without the gated socket, nothing declares a permission: no strict mode.
    let _router = GrestWs::new()
        .bind(SESSION, Scoped)
        .raw(DESKTOP_COOKIE_API, |_: RawConnected<Desktop>| async {})
        .build()
        .expect("not strict");
}

#[test]
fn duplicate_raw_paths_refuse_to_build() {
    let duplicate = GrestWs::new()
        .bind(TOKEN_QUERY, Tokens)
        .raw(DESKTOP_QUERY_API, |_: RawConnected<Desktop>| async {})
        .raw(DESKTOP_QUERY_API, |_: RawConnected<Desktop>| async {})
        .build();
    assert!(matches!(duplicate, Err(BuildError::DuplicatePath(p)) if p == "/desktop/query"));
    const ON_LAB: RawSchema<Paths> = RawSchema::new("ws/lab");
    let clash = GrestWs::new()
        .ws(LAB_API, lab_connect(Arc::new(LabState::default())))
        .raw(ON_LAB, |_: RawConnected<Paths>| async {})
        .build();
    assert!(matches!(clash, Err(BuildError::DuplicatePath(p)) if p == "/ws/lab"));
    const PREFIX: RawSchema<Paths> = RawSchema::new("base/*");
    let prefixes = GrestWs::new()
        .raw(PREFIX, |_: RawConnected<Paths>| async {})
        .raw(PREFIX, |_: RawConnected<Paths>| async {})
        .build();
    assert!(matches!(prefixes, Err(BuildError::DuplicatePath(p)) if p == "/base/*"));
}

/// Sends `<tag>:<concrete path>` and keeps the socket until the client leaves.
fn tagged(tag: &'static str) -> Handler<Paths> {
    Box::new(move |conn: RawConnected<Paths>| {
        Box::pin(async move {
            let mut socket = conn.socket;
            socket.send(format!("{tag}:{}", conn.upgrade.path)).await.expect("send");
            while socket.recv().await.is_some() {}
        })
    })
}

#[tokio::test]
async fn exact_paths_beat_prefixes_and_the_longest_prefix_wins() {
    const BASE: RawSchema<Paths> = RawSchema::new("base/*");
    const DEEP: RawSchema<Paths> = RawSchema::new("/base/deep/*");
    const EXACT: RawSchema<Paths> = RawSchema::new("base/exact");
    const OTHER: RawSchema<Paths> = RawSchema::new("other");
    const OTHER_PREFIX: RawSchema<Paths> = RawSchema::new("other/*");
    let router = GrestWs::new()
        .raw(BASE, tagged("base"))
        .raw(DEEP, tagged("deep"))
        .raw(EXACT, tagged("exact"))
        .raw(OTHER, tagged("other-exact"))
        .raw(OTHER_PREFIX, tagged("other-prefix"))
        .ws(LAB_API, lab_connect(Arc::new(LabState::default())))
        .build()
        .expect("valid registration");
    let server = TestServer::start(router).await;
    let addr = server.addr();
    let cases = [
        ("/base", "base:/base"),
        ("/base/", "base:/base/"),
        ("/base/x/y?token=1", "base:/base/x/y"),
        ("/base/deep", "deep:/base/deep"),
        ("/base/deep/z/1", "deep:/base/deep/z/1"),
        ("/base/deepX", "base:/base/deepX"),
        ("/base/exact", "exact:/base/exact"),
        ("/base/exact/more", "base:/base/exact/more"),
        ("/other", "other-exact:/other"),
        ("/other/a", "other-prefix:/other/a"),
    ];
    for (path, expected) in cases {
        let mut ws = RawWs::connect(&format!("ws://{addr}{path}")).await;
        assert_eq!(ws.recv_text().await, expected, "{path}");
    }
    for path in ["/baseX", "/bas", "/ws/labX"] {
        match tokio_tungstenite::connect_async(format!("ws://{addr}{path}")).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 404, "{path}")
            }
            other => panic!("{path}: expected 404, got {:?}", other.map(|_| ())),
        }
    }
    // The typed endpoint next to them is untouched.
    RawWs::handshaken(&format!("ws://{addr}/ws/lab?room=general&version=2")).await;
}

#[tokio::test]
async fn raw_sockets_are_in_the_registry() {
    let (server, _, sockets) = start().await;
    let addr = server.addr();
    let mut ws = RawWs::connect(&format!("ws://{addr}/desktop/query?token=secret")).await;
    let mut other = stream_connected(addr, "slow").await;
    eventually("two sockets registered", || sockets.count() == 2).await;
    let closed = sockets.close_where(|s| s.extensions.get::<User>() == Some(&User("alice".into())));
    assert_eq!(closed, 1);
    assert_eq!(ws.recv_close().await.0, None, "closed without a status code");
    ws.finish().await;
    eventually("one socket left", || sockets.count() == 1).await;
    assert!(other.recv_text().await.starts_with("hello lab from slow"));
    let draining = sockets.clone();
    let shutdown = tokio::spawn(async move { draining.shutdown(Duration::from_millis(200)).await });
    assert_eq!(
        other.recv_close().await,
        (Some(1001), "Server shutting down".to_owned())
    );
    other.finish().await;
    shutdown.await.unwrap();
    assert_eq!(sockets.count(), 0);
}

fn quick_config() -> ClientConfig {
    ClientConfig::default()
        .reconnect(Some(
            ReconnectConfig::default()
                .initial_delay(Duration::from_millis(20))
                .max_delay(Duration::from_millis(100)),
        ))
        .handshake_timeout(Duration::from_secs(2))
}

/// Frames a client received.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<RawMessage>>>);

impl Inbox {
    fn all(&self) -> Vec<RawMessage> {
        self.0.lock().unwrap().clone()
    }
    fn count(&self, message: &RawMessage) -> usize {
        self.all().iter().filter(|m| *m == message).count()
    }
}

fn stream_client(base_url: String, token: &str, inbox: &Inbox) -> RawClient<Stream> {
    let inbox = inbox.clone();
    RawClient::new(STREAM_API, base_url)
        .query(StreamQuery { room: "lab".into() })
        .credential(TOKEN, token)
        .config(quick_config())
        .on_message(move |message| inbox.0.lock().unwrap().push(message.clone()))
}

#[tokio::test]
async fn raw_client_streams_text_and_binary() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let inbox = Inbox::default();
    let client = stream_client(format!("ws://{addr}"), "secret", &inbox)
        .connect()
        .await
        .expect("connects");
    assert!(client.is_connected());
    // Sent right after connect() resolved: after `k`, so nothing is dropped.
    client.send("ls\n").await.unwrap();
    client.send(vec![0u8, 159, 146, 150]).await.unwrap();
    let hello = RawMessage::from("hello lab from alice");
    eventually("greeting and both echoes", || inbox.all().len() == 3).await;
    assert_eq!(
        inbox.all(),
        [
            hello,
            RawMessage::from("ls\n"),
            RawMessage::from(vec![0u8, 159, 146, 150])
        ]
    );
    assert_eq!(
        state.received(),
        [RawMessage::from("ls\n"), RawMessage::from(vec![0u8, 159, 146, 150])]
    );
    client.close();
    tokio::time::timeout(PATIENCE, client.closed()).await.expect("closes");
    assert!(!client.is_connected());
    assert!(client.send("late").await.is_err());
}

#[tokio::test]
async fn raw_client_reports_a_rejected_handshake() {
    let (server, _, _) = start().await;
    let addr = server.addr();
    let error = stream_client(format!("ws://{addr}"), "wrong", &Inbox::default())
        .connect()
        .await
        .expect_err("rejected");
    match error {
        ConnectError::Rejected(e) => assert_eq!(e.error_type, "NOT_AUTHORIZED"),
        other => panic!("expected a rejection, got {other}"),
    }
}

#[tokio::test]
async fn raw_client_force_reconnect_starts_a_fresh_stream() {
    let (server, state, _) = start().await;
    let addr = server.addr();
    let inbox = Inbox::default();
    let disconnects = Arc::new(AtomicUsize::new(0));
    let counter = disconnects.clone();
    let client = stream_client(format!("ws://{addr}"), "secret", &inbox)
        .on_disconnect(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .connect()
        .await
        .unwrap();
    let hello = RawMessage::from("hello lab from alice");
    eventually("first greeting", || inbox.count(&hello) == 1).await;
    client.force_reconnect();
    eventually("a second connection greeted the same handler", || {
        inbox.count(&hello) == 2
    })
    .await;
    assert_eq!(disconnects.load(Ordering::SeqCst), 1);
    assert_eq!(state.opened.load(Ordering::SeqCst), 2);
    eventually("connected again", || client.is_connected()).await;
    client.send("on the new stream").await.unwrap();
    eventually("echo", || inbox.count(&RawMessage::from("on the new stream")) == 1).await;
}

fn start_raw_process(addr: SocketAddr, state: Arc<State>) -> Process {
    Process::start(addr, raw_server(state, ServerConfig::default()).build().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_reconnects_after_a_server_restart_with_its_message_handler() {
    let state = Arc::new(State::default());
    let mut server = start_raw_process("127.0.0.1:0".parse().unwrap(), state.clone());
    let addr = server.addr();
    let inbox = Inbox::default();
    let closes = Arc::new(Mutex::new(Vec::new()));
    let seen = closes.clone();
    let client = stream_client(format!("ws://{addr}"), "secret", &inbox)
        .on_close(move |reason, _| seen.lock().unwrap().push(reason))
        .connect()
        .await
        .unwrap();
    let hello = RawMessage::from("hello lab from alice");
    eventually("first greeting", || inbox.count(&hello) == 1).await;
    client.send("before").await.unwrap();
    eventually("first echo", || inbox.count(&RawMessage::from("before")) == 1).await;

    server.kill();
    eventually("the drop is noticed", || !client.is_connected()).await;
    assert!(client.send("while down").await.is_err(), "nothing is queued for later");
    let _server = start_raw_process(addr, state.clone());
    eventually("reconnected", || client.is_connected()).await;
    eventually("the handler registered before connect sees the new stream", || {
        inbox.count(&hello) == 2
    })
    .await;
    client.send("after").await.unwrap();
    eventually("echo on the new stream", || {
        inbox.count(&RawMessage::from("after")) == 1
    })
    .await;
    assert_eq!(inbox.count(&RawMessage::from("while down")), 0);
    assert_eq!(state.opened.load(Ordering::SeqCst), 2);

    drop(client);
    eventually("dropping the client closes it", || {
        closes.lock().unwrap().as_slice() == [CloseReason::Manual]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_reports_failed_reconnects_and_gives_up_after_max_attempts() {
    let state = Arc::new(State::default());
    let mut server = start_raw_process("127.0.0.1:0".parse().unwrap(), state);
    let errors = Arc::new(Mutex::new(Vec::new()));
    let closes = Arc::new(Mutex::new(Vec::new()));
    let (counted, seen) = (errors.clone(), closes.clone());
    let config = quick_config().reconnect(Some(
        ReconnectConfig::default()
            .initial_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(40))
            .max_attempts(3),
    ));
    let client = stream_client(format!("ws://{}", server.addr()), "secret", &Inbox::default())
        .config(config)
        .on_error(move |error| {
            counted.lock().unwrap().push(match error {
                ClientError::Socket(_) => "socket",
                ClientError::Reconnect(_) => "reconnect",
                _ => "other",
            });
        })
        .on_close(move |reason, error| seen.lock().unwrap().push((reason, error.is_some())))
        .connect()
        .await
        .unwrap();
    server.kill();
    tokio::time::timeout(PATIENCE, client.closed()).await.unwrap();
    assert_eq!(
        *errors.lock().unwrap(),
        ["socket", "reconnect", "reconnect", "reconnect"],
        "the killed server's socket, then every failed attempt"
    );
    assert_eq!(
        closes.lock().unwrap().as_slice(),
        [(CloseReason::RetriesExhausted, true)]
    );
}

#[tokio::test]
async fn a_raw_socket_that_stops_reading_is_closed_with_1013_and_never_blocks_its_sender() {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let done_tx = Mutex::new(Some(done_tx));
    let router = GrestWs::new()
        // This endpoint's own budget; the server-wide settings stay at their defaults.
        .endpoint_session(FLOOD_API, SessionConfig::default().outbound_budget(64 * 1024))
        .raw(FLOOD_API, move |conn: RawConnected<Flood>| {
            let done = done_tx.lock().unwrap().take();
            async move {
                // Numbered 4 KiB frames, queued without waiting until the budget says no.
                let mut sent = 0u64;
                let error = loop {
                    let mut frame = vec![0u8; 4096];
                    frame[..8].copy_from_slice(&sent.to_be_bytes());
                    match conn.socket.try_send(frame) {
                        Ok(()) => sent += 1,
                        Err(error) => break error,
                    }
                };
                if let Some(done) = done {
                    let _ = done.send((sent, error));
                }
                let mut socket = conn.socket;
                while socket.recv().await.is_some() {}
            }
        })
        .build()
        .expect("valid registration");
    let server = TestServer::start(router).await;
    let addr = server.addr();
    let mut ws = RawWs::connect_slow_reader(&format!("ws://{addr}/raw/flood")).await;
    let (sent, error) = tokio::time::timeout(PATIENCE, done_rx).await.unwrap().unwrap();
    assert_eq!(error, PushError::SlowConsumer);
    assert!(sent >= 16, "the budget holds 16 frames, {sent} were queued");

    // What was written before the overflow arrives in order, then the Close frame.
    let (frames, close) = ws.frames_until_close().await;
    for (seq, frame) in (0u64..).zip(&frames) {
        let Message::Binary(frame) = frame else {
            panic!("a text frame")
        };
        assert_eq!(frame[..8], seq.to_be_bytes(), "frames arrive in order, without gaps");
    }
    assert_eq!(close, (Some(1013), "Slow consumer".to_owned()));
    let received = frames.len() as u64;
    assert!(received <= sent);
}

#[test]
fn session_settings_for_a_path_nobody_serves_refuse_to_build() {
    let refused = GrestWs::new()
        .endpoint_session(FLOOD_API, SessionConfig::default())
        .build()
        .expect_err("no endpoint at raw/flood");
    assert!(
        refused
            .to_string()
            .contains(r#"session settings for "/raw/flood", which no endpoint serves"#),
        "{refused}"
    );
}

/// `disconnect()` closes with 1000 and waits for the server's answer: the server reads a clean 1000 close, the
/// client ends for good (a manual close, no reconnect), and `send` fails with `SendError::Closed`.
#[tokio::test]
async fn raw_disconnect_closes_with_1000_and_ends_for_good() {
    use grest_ws::client::DisconnectReason;
    use grest_ws::session::SendError;

    let (url, mut sockets) = grest_ws_tests::handshaking_server().await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (closes, disconnects) = (tx.clone(), tx);
    let client = RawClient::new(STREAM_API, url)
        .query(StreamQuery { room: "lab".into() })
        .credential(TOKEN, "secret")
        .config(quick_config())
        .on_close(move |reason, _| {
            let _ = closes.send(format!("close {reason:?}"));
        })
        .on_disconnect(move |reason| {
            let _ = disconnects.send(format!("disconnect {reason:?}"));
        })
        .connect()
        .await
        .expect("connects");
    let mut server_side = sockets.recv().await.expect("the socket");
    let (code_tx, code) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut code_tx = Some(code_tx);
        // Reading on answers the close (tungstenite queues the reply and writes it on the next poll).
        while let Some(Ok(message)) = server_side.next().await {
            if let Message::Close(frame) = message {
                let code = frame.map(|f| u16::from(f.code));
                if let Some(tx) = code_tx.take() {
                    let _ = tx.send(code);
                }
            }
        }
    });
    tokio::time::timeout(PATIENCE, client.disconnect())
        .await
        .expect("the close handshake completes in time");
    assert_eq!(code.await.expect("the server read a Close"), Some(1000));
    assert!(client.is_closed() && !client.is_connected());
    assert!(matches!(client.send("late").await, Err(SendError::Closed)));
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    assert_eq!(
        seen,
        [
            format!("disconnect {:?}", DisconnectReason::Manual),
            format!("close {:?}", CloseReason::Manual)
        ],
        "a manual close, not a drop: nothing reconnects"
    );
}

/// The raw client's `on_error` reports socket faults as typed values before the drop: a frame that breaks the
/// protocol (1002), then a connection dropped without a Close frame; it reconnects after each.
#[tokio::test]
async fn raw_on_error_reports_socket_faults_as_typed_values() {
    let (url, mut sockets) = grest_ws_tests::handshaking_server().await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (errors, disconnects) = (tx.clone(), tx);
    let client = RawClient::new(STREAM_API, url)
        .query(StreamQuery { room: "lab".into() })
        .credential(TOKEN, "secret")
        .config(quick_config())
        .on_error(move |error| {
            let _ = errors.send(match error {
                ClientError::Socket(end) => format!("socket {end:?}"),
                other => format!("other {other}"),
            });
        })
        .on_disconnect(move |reason| {
            let _ = disconnects.send(format!("disconnect {reason:?}"));
        })
        .connect()
        .await
        .expect("connects");
    grest_ws_tests::expect_socket_faults_reported(&mut sockets, &mut events).await;
    client.close();
}
