//! The bridge on real sockets: a real TCP service behind it, and a plain WebSocket client library
//! (tokio-tungstenite) in front of it, as a foreign client would connect.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tcp_bridge::{BridgeConfig, CLOSE_UNKNOWN_TARGET, CLOSE_UPSTREAM_UNAVAILABLE, router, spawn_echo_service};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PATIENCE: Duration = Duration::from_secs(5);
const TOKEN: &str = "t0ken";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves a bridge that allows `ports`.
async fn bridge(ports: &[u16]) -> SocketAddr {
    let app = router(BridgeConfig {
        token: TOKEN.into(),
        allowed_ports: ports.to_vec(),
    })
    .expect("valid bridge");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { grest_ws::server::serve(listener, app).await.unwrap() });
    addr
}

async fn open(bridge: SocketAddr, path: &str) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{bridge}{path}"))
        .await
        .expect("upgrade")
        .0
}

async fn next(ws: &mut Ws) -> Message {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("a frame in time")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            other => panic!("the socket ended: {other:?}"),
        }
    }
}

/// Reads binary frames until `len` bytes arrived (TCP may split or merge writes).
async fn read_bytes(ws: &mut Ws, len: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < len {
        match next(ws).await {
            Message::Binary(chunk) => bytes.extend_from_slice(&chunk),
            other => panic!("expected binary, got {other:?}"),
        }
    }
    bytes
}

async fn close_code(ws: &mut Ws) -> (Option<u16>, String) {
    match next(ws).await {
        Message::Close(frame) => (
            frame.as_ref().map(|f| u16::from(f.code)),
            frame.map(|f| f.reason.to_string()).unwrap_or_default(),
        ),
        other => panic!("expected a close, got {other:?}"),
    }
}

#[tokio::test]
async fn bridges_bytes_both_ways_with_the_binary_subprotocol() {
    let echo = spawn_echo_service().await.unwrap();
    let addr = bridge(&[echo.port()]).await;
    let mut request = format!("ws://{addr}/tcp/{}?token={TOKEN}", echo.port())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "binary".parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "binary");

    ws.send(Message::binary(b"hello\0world".to_vec())).await.unwrap();
    assert_eq!(read_bytes(&mut ws, 11).await, b"hello\0world");
    // Text frames reach the service as their bytes; the answer comes back binary.
    ws.send(Message::text("ls -l\n")).await.unwrap();
    assert_eq!(read_bytes(&mut ws, 6).await, b"ls -l\n");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for chunk in big.chunks(50_000) {
        ws.send(Message::binary(chunk.to_vec())).await.unwrap();
    }
    assert_eq!(read_bytes(&mut ws, big.len()).await, big);
}

#[tokio::test]
async fn refuses_a_wrong_token_and_unknown_targets() {
    let echo = spawn_echo_service().await.unwrap();
    let addr = bridge(&[echo.port()]).await;
    let mut ws = open(addr, &format!("/tcp/{}?token=wrong", echo.port())).await;
    assert_eq!(close_code(&mut ws).await, (Some(4001), "Unauthorized".into()));
    let mut ws = open(addr, &format!("/tcp/{}", echo.port())).await;
    assert_eq!(close_code(&mut ws).await.0, Some(4001));
    for path in ["/tcp", "/tcp/", "/tcp/ssh", "/tcp/1"] {
        let mut ws = open(addr, &format!("{path}?token={TOKEN}")).await;
        assert_eq!(close_code(&mut ws).await.0, Some(CLOSE_UNKNOWN_TARGET), "{path}");
    }
    // Outside the wildcard: no socket at all.
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/tcpX/1?token={TOKEN}")).await;
    assert!(matches!(refused, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 404));
}

#[tokio::test]
async fn an_unreachable_service_closes_the_socket() {
    let closed_port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    };
    let addr = bridge(&[closed_port]).await;
    let mut ws = open(addr, &format!("/tcp/{closed_port}?token={TOKEN}")).await;
    assert_eq!(close_code(&mut ws).await.0, Some(CLOSE_UPSTREAM_UNAVAILABLE));
}

#[tokio::test]
async fn each_side_closing_closes_the_other() {
    let service = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = service.local_addr().unwrap().port();
    let addr = bridge(&[port]).await;

    // The client leaves: the service sees the end of its stream.
    let mut ws = open(addr, &format!("/tcp/{port}?token={TOKEN}")).await;
    let (mut tcp, _) = service.accept().await.unwrap();
    ws.send(Message::binary(b"bye".to_vec())).await.unwrap();
    ws.close(None).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut received))
        .await
        .expect("the service's stream ends")
        .unwrap();
    assert_eq!(received, b"bye");

    // The service leaves: the client gets its last bytes, then a close.
    let mut ws = open(addr, &format!("/tcp/{port}?token={TOKEN}")).await;
    let (mut tcp, _) = service.accept().await.unwrap();
    tcp.write_all(b"goodbye").await.unwrap();
    drop(tcp);
    assert_eq!(read_bytes(&mut ws, 7).await, b"goodbye");
    assert!(matches!(next(&mut ws).await, Message::Close(_)));
}
