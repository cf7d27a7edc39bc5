//! The hardened server (`grest_ws::server::serve`) against slow, silent, oversized and too many clients, and its
//! graceful shutdown — on real sockets.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use grest_ws::server::{ServeConfig, ServerConfig, serve};
use grest_ws_tests::{CapturedLogs, LabState, PATIENCE, RawWs, lab_router};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

/// A short limit, so tests see it act quickly.
const SHORT: Duration = Duration::from_millis(300);

/// Lets a test hold `/slow` in its handler: `entered` is notified when the handler runs, which then answers once
/// `release` is notified.
#[derive(Default)]
struct Gate {
    entered: Notify,
    release: Notify,
}

/// The lab's WebSocket endpoint plus plain routes: `/health`, `/whoami` (the peer address), `/upload` (reads a
/// body), `/slow` (held by `gate`).
fn app(gate: Arc<Gate>) -> Router {
    lab_router(Arc::new(LabState::default()), ServerConfig::default())
        .route("/health", get(|| async { "ok" }))
        .route(
            "/whoami",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
        )
        .route("/upload", post(|body: String| async move { body.len().to_string() }))
        .route(
            "/slow",
            get(move || async move {
                gate.entered.notify_one();
                gate.release.notified().await;
                "done"
            }),
        )
}

async fn start(config: ServeConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(Arc::default());
    tokio::spawn(async move { serve(listener, router).config(config).await.unwrap() });
    addr
}

/// Reads until the server closes the connection; what it sent before closing.
async fn until_closed(tcp: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 4096];
        loop {
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&seen).into_owned()
}

/// Sends one keep-alive request and reads its response head and body (`content-length` bodies only).
async fn request(tcp: &mut TcpStream, addr: SocketAddr, path: &str) -> String {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut chunk))
            .await
            .expect("a response")
            .unwrap();
        assert_ne!(n, 0, "closed before the response");
        response.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&response).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn silent_connections_are_closed_after_the_header_timeout() {
    let addr = start(ServeConfig::default().header_read_timeout(Some(SHORT))).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert_eq!(until_closed(&mut silent).await, "");
}

#[tokio::test]
async fn a_request_head_trickled_in_is_cut_off_at_the_header_timeout() {
    let addr = start(ServeConfig::default().header_read_timeout(Some(SHORT))).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Padding: {}\r\n",
        "a".repeat(10_000)
    );
    let (mut reader, mut writer) = tcp.split();
    // A byte every 20 ms would take minutes; the server must not wait for it.
    let trickle = async {
        for byte in head.as_bytes() {
            if writer.write_all(std::slice::from_ref(byte)).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the whole head was accepted byte by byte");
    };
    let closed = async {
        let mut chunk = [0u8; 256];
        while reader.read(&mut chunk).await.is_ok_and(|n| n > 0) {}
    };
    tokio::time::timeout(PATIENCE, async {
        tokio::select! {
            () = trickle => {}
            () = closed => {}
        }
    })
    .await
    .expect("the slow head was cut off");
}

#[tokio::test]
async fn keep_alive_connections_idle_between_requests_are_closed() {
    let addr = start(ServeConfig::default().header_read_timeout(Some(SHORT))).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let response = request(&mut tcp, addr, "/health").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
    assert_eq!(until_closed(&mut tcp).await, "");
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let addr = start(ServeConfig::default().max_header_size(4096)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nX-Big: {}\r\n\r\n",
        "b".repeat(8192)
    );
    // The server may answer and close before reading everything.
    let _ = tcp.write_all(head.as_bytes()).await;
    let response = until_closed(&mut tcp).await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response}");
    // Heads within the limit are served.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let response = request(&mut tcp, addr, "/health").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn a_request_body_that_stops_arriving_is_closed_at_the_idle_timeout() {
    let addr = start(ServeConfig::default().idle_timeout(Some(SHORT))).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 1000\r\n\r\n{}",
        "x".repeat(10)
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let response = until_closed(&mut tcp).await;
    assert!(!response.contains("200 OK"), "{response}");
}

#[tokio::test]
async fn handlers_see_the_peer_address() {
    let addr = start(ServeConfig::default()).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let response = request(&mut tcp, addr, "/whoami").await;
    assert!(response.ends_with(&local.to_string()), "{response}");
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_a_log_line() {
    let logs = CapturedLogs::default();
    let _guard = logs.install(tracing::Level::WARN);
    let addr = start(ServeConfig::default().max_connections(2)).await;
    // Two sockets fill the server: an upgraded WebSocket counts like any connection.
    let mut ws = RawWs::handshaken(&format!("ws://{addr}/ws/lab?room=general&version=2")).await;
    let mut http = TcpStream::connect(addr).await.unwrap();
    assert!(request(&mut http, addr, "/health").await.starts_with("HTTP/1.1 200"));
    let mut refused = TcpStream::connect(addr).await.unwrap();
    let response = until_closed(&mut refused).await;
    assert!(response.starts_with("HTTP/1.1 503"), "{response}");
    let logged = logs.take();
    assert!(logged.contains("connection limit reached"), "{logged}");
    assert!(logged.contains("max_connections=2"), "{logged}");
    // The WebSocket still works; once it is gone, its place is free again.
    ws.send("p:::").await;
    assert_eq!(ws.recv_text().await, "o:::");
    drop(ws);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let head = format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let _ = tcp.write_all(head.as_bytes()).await;
        if until_closed(&mut tcp).await.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed WebSocket's place was never given back"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn graceful_shutdown_finishes_requests_in_progress_and_closes_idle_connections() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let gate = Arc::new(Gate::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        serve(listener, app(gate.clone()))
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let mut idle = TcpStream::connect(addr).await.unwrap();
    assert!(request(&mut idle, addr, "/health").await.starts_with("HTTP/1.1 200"));
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(format!("GET /slow HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    tokio::time::timeout(PATIENCE, gate.entered.notified())
        .await
        .expect("the slow request reached its handler");
    stop.send(()).unwrap();
    assert_eq!(until_closed(&mut idle).await, "", "the idle connection closes");
    gate.release.notify_one();
    let response = until_closed(&mut busy).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("done"), "{response}");
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}
