//! The bytes on the wire, proven with a plain WebSocket client and hand-written frames.

use std::time::Duration;

use grest_ws::server::ServerConfig;
use grest_ws_tests::{CapturedLogs, RawWs, frame_data, start, start_with, without_context};
use tokio_tungstenite::tungstenite::Message;

const SHORT: Duration = Duration::from_millis(300);

#[tokio::test]
async fn handshake_is_answered_with_exact_k_frame() {
    let server = start().await;
    let mut ws = RawWs::connect(&server.lab_url()).await;
    ws.send(r#"h:::{"authorization":"Bearer abc"}"#).await;
    assert_eq!(ws.recv_text().await, "k:::null");
}

#[tokio::test]
async fn frames_before_the_handshake_are_ignored() {
    let server = start().await;
    let mut ws = RawWs::connect(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo:1:{"text":"early"}"#).await;
    ws.send("m:Lab.note::\"early\"").await;
    ws.send("h:::{}").await;
    assert_eq!(
        ws.recv_text().await,
        "k:::null",
        "the pre-handshake request got no reply"
    );
    ws.send("r:Lab.notes:2:").await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.notes:2:{"success":true,"type":"OK","data":[]}"#
    );
}

#[tokio::test]
async fn handshake_timeout_sends_x_then_closes_4001() {
    let config = ServerConfig::default().handshake_timeout(Duration::from_millis(200));
    let server = start_with(config).await;
    let mut ws = RawWs::connect(&server.lab_url()).await;
    let x = ws.recv_text().await;
    assert_eq!(
        without_context(&x),
        r#"x:::{"success":false,"type":"SERVER_ERROR","statusCode":500,"context":{"displayMessage":"Handshake timeout"}}"#
    );
    assert_eq!(ws.recv_close().await, (Some(4001), "Handshake failed".to_owned()));
}

#[tokio::test]
async fn invalid_query_closes_4000_without_x_frame() {
    let server = start().await;
    for query in ["room=general&version=abc", "room=&version=1", "version=1", ""] {
        let mut ws = RawWs::connect(&format!("ws://{}/ws/lab?{query}", server.addr())).await;
        assert_eq!(
            ws.recv_close().await,
            (Some(4000), "Invalid query parameters".to_owned()),
            "{query}"
        );
    }
    // The query is coerced: "2" satisfies the integer.
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("r:Lab.room:1:").await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.room:1:{"success":true,"type":"OK","data":"general@2"}"#
    );
}

#[tokio::test]
async fn unknown_path_is_http_404() {
    let server = start().await;
    let err = tokio_tungstenite::connect_async(format!("ws://{}/ws/nope", server.addr()))
        .await
        .expect_err("no endpoint at /ws/nope");
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => assert_eq!(response.status(), 404),
        other => panic!("expected an HTTP error, got {other}"),
    }
}

#[tokio::test]
async fn success_envelope_is_exact() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo:1:{"text":"hi"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.echo:1:{"success":true,"type":"OK","data":{"text":"hi"}}"#
    );
}

#[tokio::test]
async fn colons_inside_data_survive() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo:7:{"text":"a:b::c"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.echo:7:{"success":true,"type":"OK","data":{"text":"a:b::c"}}"#
    );
}

#[tokio::test]
async fn request_without_id_is_answered_with_empty_id() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo::{"text":"x"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.echo::{"success":true,"type":"OK","data":{"text":"x"}}"#
    );
}

#[tokio::test]
async fn unknown_route_request_gets_route_not_found_and_message_is_dropped() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("r:Lab.nope:3:{}").await;
    assert_eq!(
        without_context(&ws.recv_text().await),
        r#"s:Lab.nope:3:{"success":false,"type":"ROUTE_NOT_FOUND","statusCode":404,"context":{"displayMessage":"Route not found: Lab.nope"}}"#
    );
    ws.send("m:Lab.nope::{}").await;
    ws.expect_silence(SHORT).await;
    ws.send(r#"r:Lab.echo:4:{"text":"still here"}"#).await;
    assert!(ws.recv_text().await.starts_with(r#"s:Lab.echo:4:{"success":true"#));
}

// A current-thread runtime: the server's tasks run on this thread, so the thread's subscriber sees them.
#[tokio::test(flavor = "current_thread")]
async fn a_huge_unknown_path_is_answered_and_logged_as_a_bounded_prefix_once_per_connection() {
    let logs = CapturedLogs::default();
    let _guard = logs.install(tracing::Level::WARN);
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    let path = "x".repeat(600 * 1024);
    let clipped = "x".repeat(128);
    ws.send(&format!("r:{path}:5:{{}}")).await;
    assert_eq!(
        without_context(&ws.recv_text().await),
        format!(
            r#"s:{clipped}:5:{{"success":false,"type":"ROUTE_NOT_FOUND","statusCode":404,"context":{{"displayMessage":"Route not found: {clipped}…"}}}}"#
        )
    );
    // Many unhandled messages: one warning for the connection.
    for _ in 0..3 {
        ws.send(&format!("m:{path}::{{}}")).await;
    }
    ws.send(r#"r:Lab.echo:6:{"text":"still here"}"#).await;
    assert!(ws.recv_text().await.starts_with(r#"s:Lab.echo:6:{"success":true"#));
    let logged = logs.take();
    assert_eq!(logged.matches("no handler for message").count(), 1, "{logged}");
    assert!(logged.contains(&clipped) && !logged.contains(&"x".repeat(129)));
    assert!(logged.len() < 1024, "{} bytes of log for one message", logged.len());
}

#[tokio::test]
async fn bad_input_gets_validation_error_with_every_issue() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo:1:{"text":""}"#).await;
    assert_eq!(
        without_context(&ws.recv_text().await),
        r#"s:Lab.echo:1:{"success":false,"type":"VALIDATION_ERROR","data":[{"path":"text","code":"invalid.string.nonEmpty","message":"Value must not be empty","value":""}],"statusCode":422,"context":{"displayMessage":"Invalid arguments"}}"#
    );
    ws.send(r#"r:Lab.order:2:{"items":[{"name":"","qty":0},{"qty":"x"},{"name":"ok","qty":"3"}],"note":5}"#)
        .await;
    let reply = frame_data(&ws.recv_text().await);
    assert_eq!(reply["type"], "VALIDATION_ERROR");
    assert_eq!(reply["statusCode"], 422);
    let issues: Vec<(String, String)> = reply["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_owned(),
                i["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("items.0.name", "invalid.string.nonEmpty"),
        ("items.0.qty", "invalid.number.range"),
        ("items.1.name", "required"),
        ("items.1.qty", "invalid.number.type"),
    ];
    assert_eq!(
        issues,
        expected
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect::<Vec<_>>(),
        "every issue, in order; `note: 5` is coerced to \"5\" and \"3\" to 3"
    );
    assert_eq!(reply["data"][1]["params"], serde_json::json!({"min": 1, "max": 10}));
    assert_eq!(reply["data"][1]["message"], "Value must be between 1 and 10");
}

#[tokio::test]
async fn coercible_input_is_accepted() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.order:1:{"items":[{"name":"a","qty":"3"},{"name":"b","qty":2.0}],"note":5}"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.order:1:{"success":true,"type":"OK","data":5}"#
    );
}

#[tokio::test]
async fn invalid_json_counts_as_no_payload() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo:9:{"text":"#).await;
    let reply = frame_data(&ws.recv_text().await);
    assert_eq!(reply["type"], "VALIDATION_ERROR");
    assert_eq!(
        reply["data"],
        serde_json::json!([{"path": "", "code": "required", "message": "Value is required"}])
    );
    // A method without input ignores whatever data arrives.
    ws.send("r:Lab.room:10:{garbage").await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.room:10:{"success":true,"type":"OK","data":"general@2"}"#
    );
}

#[tokio::test]
async fn request_for_fire_and_forget_method_gets_ok_without_data() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.note:5:"via r""#).await;
    assert_eq!(ws.recv_text().await, r#"s:Lab.note:5:{"success":true,"type":"OK"}"#);
    ws.send("r:Lab.poke:6:").await;
    assert_eq!(ws.recv_text().await, r#"s:Lab.poke:6:{"success":true,"type":"OK"}"#);
    assert_eq!(server.state.notes.lock().unwrap().as_slice(), ["via r"]);
}

#[tokio::test]
async fn message_for_request_method_runs_without_reply() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"m:Lab.echo::{"text":"no reply"}"#).await;
    ws.send("m:Lab.note::\"fire\"").await;
    ws.expect_silence(SHORT).await;
    ws.send("r:Lab.notes:1:").await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.notes:1:{"success":true,"type":"OK","data":["fire"]}"#
    );
}

#[tokio::test]
async fn replies_come_out_of_order_for_concurrent_requests() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("r:Lab.waitGate:1:").await;
    ws.send("r:Lab.openGate:2:").await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.openGate:2:{"success":true,"type":"OK","data":true}"#
    );
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.waitGate:1:{"success":true,"type":"OK","data":"opened"}"#
    );
}

#[tokio::test]
async fn undeclared_error_becomes_invalid_response() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("r:Lab.undeclared:1:").await;
    assert_eq!(
        without_context(&ws.recv_text().await),
        r#"s:Lab.undeclared:1:{"success":false,"type":"SERVER_ERROR","statusCode":500,"context":{"displayMessage":"Invalid response"}}"#
    );
}

#[tokio::test]
async fn declared_error_with_data_is_sent_as_declared() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.join:1:{"roomId":"full"}"#).await;
    assert_eq!(
        without_context(&ws.recv_text().await),
        r#"s:Lab.join:1:{"success":false,"type":"ROOM_FULL","data":{"capacity":4},"statusCode":400,"context":{"displayMessage":"Room is full"}}"#
    );
}

#[tokio::test]
async fn panicking_handler_gets_server_error_and_everything_survives() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("r:Lab.panic:1:").await;
    assert_eq!(
        without_context(&ws.recv_text().await),
        r#"s:Lab.panic:1:{"success":false,"type":"SERVER_ERROR","statusCode":500,"context":{}}"#
    );
    ws.send(r#"r:Lab.echo:2:{"text":"same socket"}"#).await;
    assert!(ws.recv_text().await.starts_with(r#"s:Lab.echo:2:{"success":true"#));
    let mut other = RawWs::handshaken(&server.lab_url()).await;
    other.send(r#"r:Lab.echo:1:{"text":"new socket"}"#).await;
    assert!(other.recv_text().await.starts_with(r#"s:Lab.echo:1:{"success":true"#));
}

#[tokio::test]
async fn garbage_frames_leave_the_connection_working() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    for garbage in [
        "",
        "zzz",
        ":::",
        "r",
        "r::1:{}",
        "s:Lab.echo:999:{}",
        "s:::",
        "k:::null",
        "h:::{}",
        "x:::{}",
        "q:Lab.echo:1:{}",
    ] {
        ws.send(garbage).await;
    }
    ws.send_message(Message::binary(vec![0xff, 0xfe, 0x00])).await;
    ws.expect_silence(SHORT).await;
    ws.send(r#"r:Lab.echo:1:{"text":"alive"}"#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.echo:1:{"success":true,"type":"OK","data":{"text":"alive"}}"#
    );
}

#[tokio::test]
async fn binary_frame_with_protocol_text_is_accepted() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send_message(Message::binary(br#"r:Lab.echo:1:{"text":"bin"}"#.to_vec()))
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.echo:1:{"success":true,"type":"OK","data":{"text":"bin"}}"#
    );
}

#[tokio::test]
async fn app_ping_gets_pong() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("p:::").await;
    assert_eq!(ws.recv_text().await, "o:::");
    ws.send("o:::").await;
    ws.expect_silence(SHORT).await;
}

#[tokio::test]
async fn oversize_message_closes_1009_and_server_keeps_serving() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    let huge = format!(r#"r:Lab.echo:1:{{"text":"{}"}}"#, "x".repeat((1 << 20) + 10));
    ws.send(&huge).await;
    assert_eq!(ws.recv_close().await, (Some(1009), "Message too big".to_owned()));
    let mut other = RawWs::handshaken(&server.lab_url()).await;
    // Just under the limit is fine.
    let big = format!(r#"r:Lab.echo:1:{{"text":"{}"}}"#, "y".repeat((1 << 20) - 100));
    other.send(&big).await;
    assert!(other.recv_text().await.starts_with(r#"s:Lab.echo:1:{"success":true"#));
}

#[tokio::test]
async fn server_push_and_server_request_on_the_wire() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"m:Lab.pushMe::"hello""#).await;
    assert_eq!(ws.recv_text().await, r#"m:Lab.pushed::"hello""#);

    ws.send(r#"r:Lab.askClient:1:"name?""#).await;
    assert_eq!(
        ws.recv_text().await,
        r#"r:Lab.question:1:"name?""#,
        "server requests are numbered from 1"
    );
    ws.send(r#"s:Lab.question:1:{"success":true,"type":"OK","data":"raw client"}"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.askClient:1:{"success":true,"type":"OK","data":"raw client"}"#
    );

    // A reply that breaks the success schema is a local SERVER_ERROR "Invalid response".
    ws.send(r#"r:Lab.askClient:2:"again?""#).await;
    assert_eq!(ws.recv_text().await, r#"r:Lab.question:2:"again?""#);
    ws.send(r#"s:Lab.question:2:{"success":true,"type":"OK","data":42}"#)
        .await;
    // 42 is coerced to "42" like grest does, so this one is accepted.
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.askClient:2:{"success":true,"type":"OK","data":"42"}"#
    );

    ws.send(r#"r:Lab.askClient:3:"once more?""#).await;
    assert_eq!(ws.recv_text().await, r#"r:Lab.question:3:"once more?""#);
    ws.send(r#"s:Lab.question:3:{"success":true,"type":"OK","data":{"not":"a string"}}"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.askClient:3:{"success":true,"type":"OK","data":"error: Invalid response"}"#
    );
}

#[tokio::test]
async fn server_close_is_a_close_frame_without_code() {
    let server = start().await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send("m:Lab.closeMe::").await;
    assert_eq!(ws.recv_close().await, (None, String::new()));
}

#[tokio::test]
async fn replies_are_still_read_when_the_in_flight_limit_is_reached() {
    // One handler at a time: the first request waits for the client's answer while a second request queues.
    let config = ServerConfig::default().session(grest_ws::SessionConfig::default().max_in_flight(1));
    let server = start_with(config).await;
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.askClient:1:"first""#).await;
    assert_eq!(ws.recv_text().await, r#"r:Lab.question:1:"first""#);
    ws.send(r#"r:Lab.askClient:2:"second""#).await;
    ws.send(r#"s:Lab.question:1:{"success":true,"type":"OK","data":"one"}"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.askClient:1:{"success":true,"type":"OK","data":"one"}"#
    );
    assert_eq!(
        ws.recv_text().await,
        r#"r:Lab.question:2:"second""#,
        "the queued request runs next"
    );
    ws.send(r#"s:Lab.question:2:{"success":true,"type":"OK","data":"two"}"#)
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Lab.askClient:2:{"success":true,"type":"OK","data":"two"}"#
    );
}

/// Reads from `tcp` until `seen` contains `marker`.
async fn read_past(tcp: &mut tokio::net::TcpStream, marker: &str) {
    use tokio::io::AsyncReadExt;
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let mut chunk = [0u8; 1024];
        let n = tokio::time::timeout(grest_ws_tests::PATIENCE, tcp.read(&mut chunk))
            .await
            .expect("the server's answer")
            .unwrap();
        assert!(n > 0, "closed before {marker:?}");
        seen.extend_from_slice(&chunk[..n]);
    }
}

/// Upgrades a plain TCP connection to the lab endpoint by hand; with `handshake`, also completes the grest
/// handshake (`h:::{}` → `k:::null`).
async fn upgraded_tcp(server: &grest_ws_tests::LabServer, handshake: bool) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
    let request = format!(
        "GET /ws/lab?room=general&version=2 HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    read_past(&mut tcp, "\r\n\r\n").await;
    if handshake {
        // `h:::{}` as a masked text frame (zero mask key).
        tcp.write_all(&[0x81, 0x86, 0, 0, 0, 0, b'h', b':', b':', b':', b'{', b'}'])
            .await
            .unwrap();
        read_past(&mut tcp, "k:::null").await;
    }
    tcp
}

/// Sends `frame` raw (after the grest handshake, or before it) and returns the close code of the Close frame the
/// server answers with before it ends.
async fn close_code_after(server: &grest_ws_tests::LabServer, frame: &[u8], handshake: bool) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = upgraded_tcp(server, handshake).await;
    tcp.write_all(frame).await.unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(grest_ws_tests::PATIENCE, tcp.read_to_end(&mut received))
        .await
        .expect("the server ends the connection")
        .unwrap();
    received
        .windows(4)
        .find(|w| w[0] == 0x88 && w[1] >= 2)
        .map(|w| u16::from_be_bytes([w[2], w[3]]))
}

#[tokio::test]
async fn protocol_violations_end_with_a_close_frame_and_the_rfc_code() {
    let server = start().await;
    let mut long_ping = vec![0x89, 0xfe, 0x00, 126, 0, 0, 0, 0];
    long_ping.extend_from_slice(&[b'p'; 126]);
    let violations: [(&str, &[u8], u16); 6] = [
        (
            "a text frame that is not UTF-8",
            &[0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe],
            1007,
        ),
        ("an unmasked client frame", &[0x81, 0x02, b'h', b'i'], 1002),
        ("reserved bits", &[0xf1, 0x80, 0, 0, 0, 0], 1002),
        ("an unknown opcode", &[0x83, 0x80, 0, 0, 0, 0], 1002),
        ("a ping over 125 bytes", &long_ping, 1002),
        ("a fragmented ping", &[0x09, 0x80, 0, 0, 0, 0], 1002),
    ];
    // During a session, and while the server still waits for the `h` frame.
    for handshake in [true, false] {
        for (what, frame, code) in violations {
            assert_eq!(
                close_code_after(&server, frame, handshake).await,
                Some(code),
                "{what} (handshake done: {handshake})"
            );
        }
    }
    // The server itself is fine.
    let mut ws = RawWs::handshaken(&server.lab_url()).await;
    ws.send(r#"r:Lab.echo:1:{"text":"still here"}"#).await;
    assert!(ws.recv_text().await.starts_with(r#"s:Lab.echo:1:{"success":true"#));
}
