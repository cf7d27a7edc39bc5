//! The `/echo` endpoint (the target for WebSocket conformance suites), driven by a foreign client library
//! (tokio-tungstenite) on real sockets.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tcp_bridge::{ECHO_MAX_MESSAGE, echo_router};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{Frame, FrameHeader};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PATIENCE: Duration = Duration::from_secs(10);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn echo() -> Ws {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = echo_router().expect("valid echo router");
    tokio::spawn(async move { grest_ws::server::serve(listener, app).await.unwrap() });
    let config = WebSocketConfig::default().max_message_size(Some(ECHO_MAX_MESSAGE));
    tokio_tungstenite::connect_async_with_config(format!("ws://{addr}/echo"), Some(config), false)
        .await
        .expect("upgrade")
        .0
}

async fn next(ws: &mut Ws) -> Message {
    tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("a message in time")
        .expect("the socket is open")
        .expect("a valid message")
}

/// One frame of a fragmented message: the first carries `opcode`, the rest are continuations.
fn fragment(opcode: OpCode, payload: &[u8], last: bool) -> Message {
    let header = FrameHeader {
        is_final: last,
        opcode,
        ..FrameHeader::default()
    };
    Message::Frame(Frame::from_payload(header, Bytes::copy_from_slice(payload)))
}

#[tokio::test]
async fn echoes_text_as_text_and_binary_as_binary_in_order() {
    let mut ws = echo().await;
    ws.send(Message::text("héllo")).await.unwrap();
    ws.send(Message::binary(vec![0u8, 159, 146, 150])).await.unwrap();
    ws.send(Message::text("")).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::text("héllo"));
    assert_eq!(next(&mut ws).await, Message::binary(vec![0u8, 159, 146, 150]));
    assert_eq!(next(&mut ws).await, Message::text(""));
}

#[tokio::test]
async fn echoes_large_and_fragmented_messages_whole() {
    let mut ws = echo().await;
    let big: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(next(&mut ws).await, Message::binary(big));
    // "κόσμε" split inside a multi-byte character, with a ping between the fragments.
    let text = "κόσμε".as_bytes();
    ws.send(fragment(OpCode::Data(Data::Text), &text[..3], false))
        .await
        .unwrap();
    ws.send(Message::Ping(Bytes::from_static(b"between"))).await.unwrap();
    ws.send(fragment(OpCode::Data(Data::Continue), &text[3..7], false))
        .await
        .unwrap();
    ws.send(fragment(OpCode::Data(Data::Continue), &text[7..], true))
        .await
        .unwrap();
    assert_eq!(next(&mut ws).await, Message::Pong(Bytes::from_static(b"between")));
    assert_eq!(next(&mut ws).await, Message::text("κόσμε"));
}

#[tokio::test]
async fn answers_the_close_handshake_and_fails_invalid_utf8_with_1007() {
    let mut ws = echo().await;
    ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    })))
    .await
    .unwrap();
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Normal),
        other => panic!("expected the close echo, got {other:?}"),
    }

    let mut ws = echo().await;
    ws.send(fragment(OpCode::Data(Data::Text), &[0xce, 0xba, 0xff], true))
        .await
        .unwrap();
    match next(&mut ws).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), 1007),
        other => panic!("expected close 1007, got {other:?}"),
    }
}
