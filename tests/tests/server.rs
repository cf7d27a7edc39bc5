//! Registration: several contracts on one listener next to HTTP routes, duplicate paths, metadata.

use axum::Router;
use axum::routing::get;
use grest_ws::server::{BuildError, Connected, GrestWs};
use grest_ws::{Contract, Direction, Permission, WebSocketSchema, contract};
use grest_ws_test::TestServer;
use grest_ws_tests::{LAB_API, Lab, RawWs, lab_router};

contract! {
    /// A second, unrelated contract.
    pub Clock {
        client_to_server {
            now() -> u64, permission: Permission::Public;
        }
        server_to_client {
            tick(u64);
        }
    }
}

const CLOCK_API: WebSocketSchema<Clock> = WebSocketSchema::new("/ws/clock");

struct ClockSession;

impl clock::Server for ClockSession {
    async fn now(&self) -> grest_ws::HandlerResult<u64, clock::NowError> {
        Ok(42)
    }
}

#[tokio::test]
async fn two_contracts_and_http_share_one_listener() {
    let clock = GrestWs::new()
        .ws(CLOCK_API, |_: Connected<Clock>| async { ClockSession })
        .build()
        .unwrap();
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(clock)
        .merge(lab_router(Default::default(), Default::default()));
    let server = TestServer::start(app).await;
    let addr = server.addr();

    let mut ws = RawWs::handshaken(&format!("ws://{addr}/ws/clock")).await;
    ws.send("r:Clock.now:1:").await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Clock.now:1:{"success":true,"type":"OK","data":42}"#
    );
    // Each socket only routes its own contract.
    ws.send(r#"r:Lab.echo:2:{"text":"x"}"#).await;
    assert!(ws.recv_text().await.contains("ROUTE_NOT_FOUND"));

    let mut lab = RawWs::handshaken(&format!("ws://{addr}/ws/lab?room=a&version=1")).await;
    lab.send("r:Lab.room:1:").await;
    assert_eq!(
        lab.recv_text().await,
        r#"s:Lab.room:1:{"success":true,"type":"OK","data":"a@1"}"#
    );
}

#[tokio::test]
async fn plain_http_get_on_a_socket_path_is_refused() {
    let server = TestServer::start(lab_router(Default::default(), Default::default())).await;
    let addr = server.addr();
    let response = http_status(addr, "/ws/lab").await;
    assert_eq!(response, 426, "upgrade required");
}

async fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    response[9..12].parse().unwrap()
}

#[test]
fn duplicate_paths_fail_the_build() {
    let result = GrestWs::new()
        .ws(CLOCK_API, |_: Connected<Clock>| async { ClockSession })
        .ws(WebSocketSchema::<Clock>::new("ws/clock"), |_: Connected<Clock>| async {
            ClockSession
        })
        .build();
    match result {
        Err(BuildError::DuplicatePath(path)) => assert_eq!(path, "/ws/clock"),
        other => panic!("expected DuplicatePath, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn contract_metadata_describes_every_method() {
    let meta = Lab::META;
    assert_eq!(meta.name, "Lab");
    let send = meta.methods.iter().find(|m| m.path == "Lab.askClient").unwrap();
    assert_eq!(send.name, "ask_client");
    assert_eq!(send.direction, Direction::ClientToServer);
    assert!(send.is_request);
    let join = meta.methods.iter().find(|m| m.path == "Lab.join").unwrap();
    let errors: Vec<_> = join.errors.iter().map(|e| (e.error_type, e.status_code)).collect();
    assert_eq!(errors, [("ROOM_FULL", 400), ("NOT_FOUND", 404), ("SERVER_ERROR", 500)]);
    let pushed = meta.methods.iter().find(|m| m.path == "Lab.pushed").unwrap();
    assert_eq!(pushed.direction, Direction::ServerToClient);
    assert!(!pushed.is_request && pushed.success.is_none() && pushed.input.is_some());
    assert!(meta.connect.query.is_some());
    assert_eq!(Clock::META.methods[0].permission, Some(Permission::Public));
    assert_eq!(LAB_API.route_path(), "/ws/lab");
    assert_eq!(CLOCK_API.route_path(), "/ws/clock");
}

#[test]
fn prepared_messages_are_serialized_once_as_exact_frames() {
    let prepared = grest_ws_tests::lab::Peer::prepare_pushed(&"hello".to_owned()).unwrap();
    assert_eq!(prepared.as_str(), r#"m:Lab.pushed::"hello""#);
    let shared = prepared.clone();
    assert_eq!(shared.as_str(), prepared.as_str());
}

/// A socket that upgrades and then never sends `h`, nor answers the server's Close frame: it gets `x` and Close
/// 4001 at the handshake deadline, and the TCP connection is dropped after the rejection grace — not after the
/// (here, hour-long) close timeout of a running session.
#[tokio::test]
async fn a_socket_that_never_handshakes_is_dropped_after_the_rejection_grace() {
    use grest_ws::SessionConfig;
    use grest_ws::server::ServerConfig;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let config = ServerConfig::default()
        .handshake_timeout(Duration::from_millis(100))
        .rejection_grace(Duration::from_millis(100))
        .session(SessionConfig::default().close_timeout(Duration::from_secs(3600)));
    let server = TestServer::start(lab_router(Default::default(), config)).await;
    let addr = server.addr();
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET /ws/lab?room=general&version=2 HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Everything the server sends until it drops the connection (read never answers anything).
    let mut received = Vec::new();
    let read = tokio::time::timeout(grest_ws_tests::PATIENCE, tcp.read_to_end(&mut received)).await;
    assert!(read.is_ok(), "the server kept the silent socket open");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("x:::"), "the handshake error frame: {text}");
    // Close frame (0x88) with code 4001 (0x0fa1).
    assert!(
        received.windows(4).any(|w| w[0] == 0x88 && w[2..4] == [0x0f, 0xa1]),
        "{received:?}"
    );
}

#[tokio::test]
async fn connections_of_a_runtime_that_shuts_down_leave_the_registry() {
    use grest_ws_tests::{LabState, PATIENCE, Process, lab_connect};
    let server = GrestWs::new().ws(LAB_API, lab_connect(std::sync::Arc::new(LabState::default())));
    let sockets = server.sockets();
    let mut process = Process::start("127.0.0.1:0".parse().unwrap(), server.build().unwrap());
    let url = format!("ws://{}/ws/lab?room=general&version=2", process.addr());
    let _a = RawWs::handshaken(&url).await;
    let _b = RawWs::handshaken(&url).await;
    // `k` is sent after registration.
    assert_eq!(sockets.count(), 2);
    // Dropping the runtime cancels the connection tasks mid-session: they still leave the registry (and rooms).
    tokio::time::timeout(PATIENCE, tokio::task::spawn_blocking(move || process.kill()))
        .await
        .expect("the server stops")
        .unwrap();
    assert_eq!(sockets.count(), 0);
}
