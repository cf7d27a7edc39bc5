//! The chat example end to end: real server on a loopback port, typed Rust clients, plain HTTP and raw frames.

use std::net::SocketAddr;
use std::time::Duration;

use chat::{CHAT_API, ChatState, Message, SendMessageRequest, app, chat as api};
use futures_util::{SinkExt, StreamExt};
use grest_ws::client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite;

async fn start() -> (SocketAddr, ChatState) {
    let state = ChatState::default();
    let router = app(state.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, state)
}

/// A minimal HTTP/1.1 GET: status code and body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

async fn listening_client(addr: SocketAddr) -> (api::Client, mpsc::UnboundedReceiver<Message>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handlers = api::Handlers::new()
        .on_new_message(move |m| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(m);
            }
        })
        .on_are_you_there(|| async { Ok(true) });
    // Dedicated: several chat clients of one process would otherwise share (and refuse to share) one socket.
    let client = Client::new(CHAT_API, format!("ws://{addr}"))
        .dedicated()
        .connect(handlers)
        .await
        .unwrap();
    (client, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Message>) -> Message {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn health_and_http_routes_share_the_listener() {
    let (addr, _) = start().await;
    assert_eq!(http_get(addr, "/health").await, (200, "ok".to_owned()));
    assert_eq!(http_get(addr, "/nope").await.0, 404);
}

#[tokio::test]
async fn messages_are_stored_and_broadcast_to_every_socket() {
    let (addr, state) = start().await;
    let (alice, mut alice_rx) = listening_client(addr).await;
    let (_bob, mut bob_rx) = listening_client(addr).await;
    let reply = alice
        .send_message(&SendMessageRequest {
            text: "hello".into(),
            channel_id: "general".into(),
        })
        .await
        .unwrap();
    assert!(reply.success);
    let to_alice = next(&mut alice_rx).await;
    let to_bob = next(&mut bob_rx).await;
    assert_eq!(to_alice, to_bob);
    assert_eq!(to_bob.id, reply.message_id);
    assert_eq!(to_bob.text, "hello");
    assert_eq!(to_bob.sender_id, "user-1");
    let now = grest_ws::protocol::error::now_millis();
    assert!(
        to_bob.timestamp <= now && to_bob.timestamp > now - 60_000,
        "timestamp is epoch milliseconds"
    );
    assert_eq!(state.messages(), [to_bob]);
}

#[tokio::test]
async fn empty_message_is_a_validation_error() {
    let (addr, state) = start().await;
    let (alice, _rx) = listening_client(addr).await;
    let request = SendMessageRequest {
        text: String::new(),
        channel_id: "general".into(),
    };
    match alice.send_message(&request).await {
        Err(api::SendMessageError::ValidationError(e)) => {
            assert_eq!(e.data[0].path, "text");
            assert_eq!(e.data[0].code, "invalid.string.nonEmpty");
        }
        other => panic!("expected VALIDATION_ERROR, got {other:?}"),
    }
    assert!(state.messages().is_empty());
}

#[tokio::test]
async fn wire_transcript_matches_the_protocol() {
    let (addr, _) = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/chat"))
        .await
        .unwrap();
    ws.send(tungstenite::Message::text("h:::{}")).await.unwrap();
    assert_eq!(text(ws_next(&mut ws).await), "k:::null");
    ws.send(tungstenite::Message::text(
        r#"r:Chat.sendMessage:1:{"text":"hi","channelId":"general"}"#,
    ))
    .await
    .unwrap();
    let push = text(ws_next(&mut ws).await);
    assert!(
        push.starts_with(r#"m:Chat.newMessage::{"id":"m1","text":"hi","senderId":"user-1","timestamp":"#),
        "{push}"
    );
    assert_eq!(
        text(ws_next(&mut ws).await),
        r#"s:Chat.sendMessage:1:{"success":true,"type":"OK","data":{"success":true,"messageId":"m1"}}"#
    );
    ws.send(tungstenite::Message::text(r#"m:Chat.markAsRead::{"messageId":"m1"}"#))
        .await
        .unwrap();
    ws.send(tungstenite::Message::text("m:Chat.ping::")).await.unwrap();
    ws.send(tungstenite::Message::text("r:Chat.ping:2:")).await.unwrap();
    assert_eq!(
        text(ws_next(&mut ws).await),
        r#"s:Chat.ping:2:{"success":true,"type":"OK"}"#
    );
}

fn text(message: tungstenite::Message) -> String {
    match message {
        tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn ws_next<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> tungstenite::Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn presence_counts_sockets_that_answer_true() {
    let (addr, state) = start().await;
    assert_eq!(
        http_get(addr, "/api/presence").await,
        (200, r#"{"online":0}"#.to_owned())
    );
    let (_a, _) = listening_client(addr).await;
    let (_b, _) = listening_client(addr).await;
    // A client without an areYouThere handler answers ROUTE_NOT_FOUND; a raw socket never answers (2 s timeout).
    let _deaf = Client::new(CHAT_API, format!("ws://{addr}"))
        .dedicated()
        .connect(api::Handlers::new())
        .await
        .unwrap();
    let (mut silent, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/chat"))
        .await
        .unwrap();
    silent.send(tungstenite::Message::text("h:::{}")).await.unwrap();
    assert_eq!(text(ws_next(&mut silent).await), "k:::null");
    assert_eq!(state.connected(), 4);
    assert_eq!(
        http_get(addr, "/api/presence").await,
        (200, r#"{"online":2}"#.to_owned())
    );
    let question = text(ws_next(&mut silent).await);
    assert_eq!(question, "r:Chat.areYouThere:1:");
}

#[tokio::test]
async fn closed_sockets_leave_the_broadcast_list() {
    let (addr, state) = start().await;
    let (alice, _) = listening_client(addr).await;
    let (bob, mut bob_rx) = listening_client(addr).await;
    assert_eq!(state.connected(), 2);
    alice.disconnect().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while state.connected() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "alice's socket was not removed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bob.send_message(&SendMessageRequest {
        text: "still works".into(),
        channel_id: "general".into(),
    })
    .await
    .unwrap();
    assert_eq!(next(&mut bob_rx).await.text, "still works");
}

/// The value of the Prometheus sample of `name` whose labels include all of `labels` (0 when absent).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter(|line| labels.iter().all(|(k, v)| line.contains(&format!("{k}=\"{v}\""))))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_move_with_real_traffic() {
    let (addr, _) = start().await;
    let before = http_get(addr, "/metrics").await.1;
    let ok = [
        ("api", "Chat"),
        ("path", "/ws/chat"),
        ("method", "Chat.sendMessage"),
        ("result", "OK"),
    ];
    let invalid = [("method", "Chat.sendMessage"), ("result", "VALIDATION_ERROR")];
    let (alice, mut rx) = listening_client(addr).await;
    alice
        .send_message(&SendMessageRequest {
            text: "counted".into(),
            channel_id: "general".into(),
        })
        .await
        .unwrap();
    next(&mut rx).await;
    // An invalid message sent by hand (the typed client would refuse it locally).
    let (mut raw, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/chat"))
        .await
        .unwrap();
    raw.send(tungstenite::Message::text("h:::{}")).await.unwrap();
    assert_eq!(text(ws_next(&mut raw).await), "k:::null");
    raw.send(tungstenite::Message::text(
        r#"r:Chat.sendMessage:1:{"text":"","channelId":"x"}"#,
    ))
    .await
    .unwrap();
    assert!(text(ws_next(&mut raw).await).contains("VALIDATION_ERROR"));
    assert_eq!(http_get(addr, "/api/presence").await.0, 200);

    let after = http_get(addr, "/metrics").await.1;
    assert!(
        sample(&after, "websocket_requests_total", &ok) >= sample(&before, "websocket_requests_total", &ok) + 1.0,
        "{after}"
    );
    assert!(
        sample(&after, "websocket_requests_total", &invalid)
            >= sample(&before, "websocket_requests_total", &invalid) + 1.0
    );
    let opened = [("api", "Chat"), ("result", "OK")];
    assert!(
        sample(&after, "websocket_connections_total", &opened)
            >= sample(&before, "websocket_connections_total", &opened) + 2.0
    );
    assert!(sample(&after, "websocket_connections_active", &[("api", "Chat")]) >= 2.0);
    assert!(
        sample(
            &after,
            "websocket_request_duration_ms_count",
            &[("method", "Chat.sendMessage")]
        ) >= 2.0
    );
    let asked = [("method", "Chat.areYouThere"), ("result", "OK")];
    assert!(
        sample(&after, "websocket_out_requests_total", &asked)
            >= sample(&before, "websocket_out_requests_total", &asked) + 1.0
    );
    assert!(
        after.contains("websocket_out_request_duration_ms_bucket{"),
        "histogram with buckets: {after}"
    );
    assert!(after.contains(r#"le="2500""#), "the out-request buckets go to 2500 ms");
}
