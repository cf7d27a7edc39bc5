//! The chat example end to end: real server on a loopback port, typed Rust clients, plain HTTP and raw frames.
//! Tests wait for events (pushes, replies), never for time to pass.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chat::{
    CHAT_API, ChatApp, ChatQuery, ChatState, HISTORY, HISTORY_BYTES, MAX_READERS, MAX_TEXT, MarkAsRead, Message,
    SendMessageRequest, app, app_with_presence_ttl, chat as api,
};
use futures_util::{SinkExt, StreamExt};
use grest_ws::client::Client;
use grest_ws::server::Sockets;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite;

/// Generous: the tests must pass on a busy 2-core machine, and a passing test never waits this long.
const WAIT: Duration = Duration::from_secs(20);

struct Server {
    addr: SocketAddr,
    state: ChatState,
    sockets: Sockets,
}

async fn start() -> Server {
    serve(app().unwrap()).await
}

async fn serve(app: ChatApp) -> Server {
    let ChatApp {
        router, sockets, state, ..
    } = app;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { grest_ws::server::serve(listener, router).await.unwrap() });
    Server { addr, state, sockets }
}

/// Sends an HTTP/1.1 GET and returns the connection, to read the response later.
async fn http_send(addr: SocketAddr, path: &str) -> tokio::net::TcpStream {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    tcp
}

/// Reads an HTTP response to its end: status code and body.
async fn http_read(mut tcp: tokio::net::TcpStream) -> (u16, String) {
    let mut response = String::new();
    tokio::time::timeout(WAIT, tcp.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A minimal HTTP/1.1 GET: status code and body.
async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_read(http_send(addr, path).await).await
}

/// What a listening client received, in order.
#[derive(Debug)]
enum Event {
    History(Vec<Message>),
    Message(Message),
    Online(u64),
    AreYouThere,
}

struct Listener {
    client: api::Client,
    events: mpsc::UnboundedReceiver<Event>,
}

impl Listener {
    /// The next event `pick` takes; the others before it are skipped.
    async fn next<T>(&mut self, mut pick: impl FnMut(Event) -> Option<T>) -> T {
        let events = &mut self.events;
        let found = async move {
            loop {
                let event = events.recv().await.expect("the client's handlers are gone");
                if let Some(found) = pick(event) {
                    return found;
                }
            }
        };
        tokio::time::timeout(WAIT, found).await.expect("no such event in time")
    }

    async fn message(&mut self) -> Message {
        self.next(|e| if let Event::Message(m) = e { Some(m) } else { None })
            .await
    }

    async fn history(&mut self) -> Vec<Message> {
        self.next(|e| if let Event::History(h) = e { Some(h) } else { None })
            .await
    }

    async fn online(&mut self) -> u64 {
        self.next(|e| if let Event::Online(n) = e { Some(n) } else { None })
            .await
    }

    async fn send(&self, text: &str) -> String {
        let request = SendMessageRequest {
            text: text.into(),
            channel_id: "general".into(),
        };
        self.client.send_message(&request).await.unwrap().message_id
    }
}

/// A client that reports every push and answers `areYouThere` with `true` once `gate` lets it (`None`: at once).
async fn listener_with(addr: SocketAddr, name: Option<&str>, gate: Option<Arc<Semaphore>>) -> Listener {
    let (tx, events) = mpsc::unbounded_channel();
    let (history, message, online, asked) = (tx.clone(), tx.clone(), tx.clone(), tx);
    let handlers = api::Handlers::new()
        .on_history(move |h| {
            let _ = history.send(Event::History(h.messages));
            async {}
        })
        .on_new_message(move |m| {
            let _ = message.send(Event::Message(m));
            async {}
        })
        .on_online(move |o| {
            let _ = online.send(Event::Online(o.count));
            async {}
        })
        .on_are_you_there(move || {
            let _ = asked.send(Event::AreYouThere);
            let gate = gate.clone();
            async move {
                if let Some(gate) = gate {
                    let _ = gate.acquire().await.unwrap();
                }
                Ok(true)
            }
        });
    let client = Client::new(CHAT_API, format!("ws://{addr}"))
        .query(ChatQuery {
            name: name.map(str::to_owned),
        })
        .connect(handlers)
        .await
        .unwrap();
    Listener { client, events }
}

async fn listener(addr: SocketAddr, name: &str) -> Listener {
    listener_with(addr, Some(name), None).await
}

type RawSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw socket past its handshake.
async fn raw_socket(addr: SocketAddr) -> RawSocket {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws/chat"))
        .await
        .unwrap();
    ws.send(tungstenite::Message::text("h:::{}")).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, "k:::null");
    ws
}

async fn ws_next(ws: &mut RawSocket) -> String {
    match tokio::time::timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap() {
        tungstenite::Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// The next frame that is not a push (`m:`).
async fn ws_next_non_push(ws: &mut RawSocket) -> String {
    loop {
        let frame = ws_next(ws).await;
        if !frame.starts_with("m:") {
            return frame;
        }
    }
}

#[tokio::test]
async fn health_and_http_routes_share_the_listener() {
    let server = start().await;
    assert_eq!(http_get(server.addr, "/health").await, (200, "ok".to_owned()));
    assert_eq!(http_get(server.addr, "/nope").await.0, 404);
}

#[tokio::test]
async fn messages_are_stored_and_broadcast_to_every_socket() {
    let server = start().await;
    let mut alice = listener_with(server.addr, None, None).await;
    let mut bob = listener_with(server.addr, None, None).await;
    let id = alice.send("hello").await;
    let to_alice = alice.message().await;
    let to_bob = bob.message().await;
    assert_eq!(to_alice, to_bob);
    assert_eq!(to_bob.id, id);
    assert_eq!(to_bob.text, "hello");
    assert_eq!(to_bob.sender_id, "user-1");
    let now = grest_ws::protocol::error::now_millis();
    assert!(
        to_bob.timestamp <= now && to_bob.timestamp > now - 60_000,
        "timestamp is epoch milliseconds"
    );
    assert_eq!(server.state.messages(), [to_bob]);
}

#[tokio::test]
async fn empty_message_is_a_validation_error() {
    let server = start().await;
    let alice = listener(server.addr, "alice").await;
    let request = SendMessageRequest {
        text: String::new(),
        channel_id: "general".into(),
    };
    match alice.client.send_message(&request).await {
        Err(api::SendMessageError::ValidationError(e)) => {
            assert_eq!(e.data[0].path, "text");
            assert_eq!(e.data[0].code, "invalid.string.nonEmpty");
        }
        other => panic!("expected VALIDATION_ERROR, got {other:?}"),
    }
    assert!(server.state.messages().is_empty());
}

#[tokio::test]
async fn text_over_the_limit_is_a_validation_error() {
    let server = start().await;
    // The typed client refuses it before sending.
    let alice = listener(server.addr, "alice").await;
    let too_long = SendMessageRequest {
        text: "x".repeat(MAX_TEXT + 1),
        channel_id: "general".into(),
    };
    match alice.client.send_message(&too_long).await {
        Err(api::SendMessageError::ValidationError(e)) => {
            assert_eq!(
                (e.data[0].path.as_str(), e.data[0].code.as_str()),
                ("text", "invalid.string.maxLength")
            );
        }
        other => panic!("expected VALIDATION_ERROR, got {other:?}"),
    }
    // The server refuses it when a client sends it anyway; the longest allowed text and channel still go through.
    let mut raw = raw_socket(server.addr).await;
    let long = "x".repeat(MAX_TEXT + 1);
    raw.send(tungstenite::Message::text(format!(
        r#"r:Chat.sendMessage:1:{{"text":"{long}","channelId":"general"}}"#
    )))
    .await
    .unwrap();
    let reply = ws_next_non_push(&mut raw).await;
    assert!(
        reply.starts_with(r#"s:Chat.sendMessage:1:{"success":false,"type":"VALIDATION_ERROR""#),
        "{reply}"
    );
    assert!(reply.contains(r#""code":"invalid.string.maxLength""#), "{reply}");
    let channel = "c".repeat(65);
    raw.send(tungstenite::Message::text(format!(
        r#"r:Chat.sendMessage:2:{{"text":"hi","channelId":"{channel}"}}"#
    )))
    .await
    .unwrap();
    let reply = ws_next_non_push(&mut raw).await;
    assert!(
        reply.contains(r#""type":"VALIDATION_ERROR""#) && reply.contains(r#""path":"channelId""#),
        "{reply}"
    );
    assert!(server.state.messages().is_empty());
    let longest = "y".repeat(MAX_TEXT);
    alice
        .client
        .send_message(&SendMessageRequest {
            text: longest.clone(),
            channel_id: "c".repeat(64),
        })
        .await
        .unwrap();
    assert_eq!(server.state.messages()[0].text, longest);
}

#[tokio::test]
async fn wire_transcript_matches_the_protocol() {
    let server = start().await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/chat", server.addr))
        .await
        .unwrap();
    ws.send(tungstenite::Message::text("h:::{}")).await.unwrap();
    // `k` first, then this connection's history and the online count.
    assert_eq!(ws_next(&mut ws).await, "k:::null");
    assert_eq!(ws_next(&mut ws).await, r#"m:Chat.history::{"messages":[]}"#);
    assert_eq!(ws_next(&mut ws).await, r#"m:Chat.online::{"count":1}"#);
    ws.send(tungstenite::Message::text(
        r#"r:Chat.sendMessage:1:{"text":"hi","channelId":"general"}"#,
    ))
    .await
    .unwrap();
    let push = ws_next(&mut ws).await;
    assert!(
        push.starts_with(r#"m:Chat.newMessage::{"id":"m1","text":"hi","senderId":"user-1","timestamp":"#),
        "{push}"
    );
    assert_eq!(
        ws_next(&mut ws).await,
        r#"s:Chat.sendMessage:1:{"success":true,"type":"OK","data":{"success":true,"messageId":"m1"}}"#
    );
    ws.send(tungstenite::Message::text(r#"m:Chat.markAsRead::{"messageId":"m1"}"#))
        .await
        .unwrap();
    ws.send(tungstenite::Message::text("m:Chat.ping::")).await.unwrap();
    ws.send(tungstenite::Message::text("r:Chat.ping:2:")).await.unwrap();
    assert_eq!(ws_next(&mut ws).await, r#"s:Chat.ping:2:{"success":true,"type":"OK"}"#);
    assert_eq!(server.state.readers("m1"), ["user-1"]);
    // A second connection's history has the message, as it was pushed.
    let mut second = raw_socket(server.addr).await;
    let history = ws_next(&mut second).await;
    assert_eq!(
        history,
        format!(
            r#"m:Chat.history::{{"messages":[{}]}}"#,
            &push["m:Chat.newMessage::".len()..]
        )
    );
}

#[tokio::test]
async fn a_new_connection_gets_the_last_history_messages_in_order() {
    let server = start().await;
    let mut alice = listener(server.addr, "alice").await;
    assert_eq!(alice.history().await, [], "a new chat has no history");
    for i in 1..=HISTORY + 5 {
        alice.send(&format!("n{i}")).await;
    }
    let mut bob = listener(server.addr, "bob").await;
    let history = bob.history().await;
    let texts: Vec<String> = history.iter().map(|m| m.text.clone()).collect();
    let expected: Vec<String> = (6..=HISTORY + 5).map(|i| format!("n{i}")).collect();
    assert_eq!(texts, expected, "exactly the last {HISTORY}, oldest first");
    assert_eq!(history.first().unwrap().id, "m6");
    assert!(history.iter().all(|m| m.sender_id == "alice"));
    assert_eq!(server.state.messages(), history, "the store keeps only these");
    // Alice got every message as a push, in order.
    for i in 1..=HISTORY + 5 {
        assert_eq!(alice.message().await.text, format!("n{i}"));
    }
}

#[tokio::test]
async fn every_reconnect_gets_the_history_again() {
    let server = start().await;
    let mut alice = listener(server.addr, "alice").await;
    assert_eq!(alice.history().await, []);
    alice.send("before the drop").await;
    assert_eq!(server.sockets.close_where(|_| true), 1);
    // The client reconnects by itself; the new connection starts with the stored messages.
    let history = alice.history().await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "before the drop");
    alice.send("after the drop").await;
    assert_eq!(alice.message().await.text, "after the drop");
}

#[tokio::test]
async fn history_stays_within_its_byte_budget() {
    let server = start().await;
    let alice = listener(server.addr, "alice").await;
    // Control characters: JSON escapes each to six bytes, so the full ring would not fit in one push.
    let heavy = "\u{1}".repeat(MAX_TEXT);
    for _ in 0..HISTORY {
        alice.send(&heavy).await;
    }
    let mut bob = listener(server.addr, "bob").await;
    let history = bob.history().await;
    assert!(
        !history.is_empty() && history.len() < HISTORY,
        "{} messages",
        history.len()
    );
    let bytes = serde_json::to_string(&history).unwrap().len();
    assert!(bytes <= HISTORY_BYTES, "{bytes} bytes");
    let stored = server.state.messages();
    assert_eq!(history[..], stored[stored.len() - history.len()..], "the newest ones");
    assert_eq!(bob.online().await, 2, "bob's connection stays open");
}

#[tokio::test]
async fn the_online_count_is_pushed_on_join_and_leave() {
    let server = start().await;
    let mut alice = listener(server.addr, "alice").await;
    assert_eq!(alice.online().await, 1);
    let mut bob = listener(server.addr, "bob").await;
    assert_eq!(bob.online().await, 2);
    assert_eq!(alice.online().await, 2);
    bob.client.disconnect().await;
    assert_eq!(alice.online().await, 1, "the closing connection is not counted");
    assert_eq!(server.state.connected().await, 1);
    // A socket that just goes away counts as leaving too.
    let raw = raw_socket(server.addr).await;
    assert_eq!(alice.online().await, 2);
    drop(raw);
    assert_eq!(alice.online().await, 1);
}

#[tokio::test]
async fn mark_as_read_records_stored_messages_only_and_each_reader_once() {
    let server = start().await;
    let alice = listener(server.addr, "alice").await;
    let bob = listener(server.addr, "bob").await;
    let id = alice.send("read me").await;
    for message_id in ["m999", &id, &id] {
        let read = MarkAsRead {
            message_id: message_id.into(),
        };
        alice.client.mark_as_read(&read).await.unwrap();
    }
    bob.client
        .mark_as_read(&MarkAsRead { message_id: id.clone() })
        .await
        .unwrap();
    // A later request's reply means the fire-and-forget messages before it were handled.
    alice.send("sync").await;
    bob.send("sync").await;
    assert_eq!(server.state.readers(&id), ["alice", "bob"]);
    assert_eq!(
        server.state.readers("m999"),
        Vec::<String>::new(),
        "an unknown id records nothing"
    );
    assert!(!server.state.mark_read("m999", "alice"));
    // Readers per message are bounded.
    for n in 0..MAX_READERS + 10 {
        server.state.mark_read(&id, &format!("reader-{n}"));
    }
    assert_eq!(server.state.readers(&id).len(), MAX_READERS);
    // When the message leaves the ring, so does its read record.
    for _ in 0..HISTORY {
        server.state.post("newer".into(), "carol".into()).unwrap();
    }
    assert_eq!(server.state.readers(&id), Vec::<String>::new());
    assert!(!server.state.mark_read(&id, "alice"), "no longer stored");
}

#[tokio::test]
async fn presence_counts_sockets_that_answer_true() {
    let empty = start().await;
    assert_eq!(
        http_get(empty.addr, "/api/presence").await,
        (200, r#"{"online":0}"#.to_owned())
    );
    let server = start().await;
    let _a = listener(server.addr, "a").await;
    let _b = listener(server.addr, "b").await;
    // A client without an areYouThere handler answers ROUTE_NOT_FOUND; a raw socket never answers (2 s timeout).
    let _deaf = Client::new(CHAT_API, format!("ws://{}", server.addr))
        .connect(api::Handlers::new())
        .await
        .unwrap();
    let mut silent = raw_socket(server.addr).await;
    assert_eq!(server.state.connected().await, 4);
    assert_eq!(
        http_get(server.addr, "/api/presence").await,
        (200, r#"{"online":2}"#.to_owned())
    );
    assert_eq!(ws_next_non_push(&mut silent).await, "r:Chat.areYouThere:1:");
}

#[tokio::test]
async fn concurrent_presence_requests_share_one_probe() {
    // A long TTL, so that how fast the requests arrive cannot matter: one probe for all of them.
    let server = serve(app_with_presence_ttl(Duration::from_secs(3600)).unwrap()).await;
    let gate = Arc::new(Semaphore::new(0));
    let mut alice = listener_with(server.addr, Some("alice"), Some(gate.clone())).await;
    let first = http_send(server.addr, "/api/presence").await;
    // The probe is in flight (and held by alice's answer) while the other requests arrive.
    alice.next(|e| matches!(e, Event::AreYouThere).then_some(())).await;
    let mut asked = 1;
    let mut pending = vec![first];
    for _ in 0..5 {
        pending.push(http_send(server.addr, "/api/presence").await);
    }
    gate.add_permits(100);
    for response in pending {
        assert_eq!(http_read(response).await, (200, r#"{"online":1}"#.to_owned()));
    }
    // Later requests within the TTL are answered from the cache.
    assert_eq!(http_get(server.addr, "/api/presence").await.1, r#"{"online":1}"#);
    // Every answer needed alice's reply, so any further probe has already reached her handler.
    while let Ok(event) = alice.events.try_recv() {
        if matches!(event, Event::AreYouThere) {
            asked += 1;
        }
    }
    assert_eq!(asked, 1, "7 requests, one areYouThere");
}

#[tokio::test]
async fn presence_probes_again_once_its_answer_is_stale() {
    let server = serve(app_with_presence_ttl(Duration::ZERO).unwrap()).await;
    let mut alice = listener(server.addr, "alice").await;
    for _ in 0..2 {
        assert_eq!(http_get(server.addr, "/api/presence").await.1, r#"{"online":1}"#);
        alice.next(|e| matches!(e, Event::AreYouThere).then_some(())).await;
    }
}

#[tokio::test]
async fn closed_sockets_leave_the_broadcast_list() {
    let server = start().await;
    let alice = listener(server.addr, "alice").await;
    let mut bob = listener(server.addr, "bob").await;
    assert_eq!(bob.online().await, 2);
    alice.client.disconnect().await;
    assert_eq!(bob.online().await, 1);
    assert_eq!(server.state.connected().await, 1);
    bob.send("still works").await;
    assert_eq!(bob.message().await.text, "still works");
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
    let server = start().await;
    let addr = server.addr;
    let before = http_get(addr, "/metrics").await.1;
    let ok = [
        ("api", "Chat"),
        ("path", "/ws/chat"),
        ("method", "Chat.sendMessage"),
        ("result", "OK"),
    ];
    let invalid = [("method", "Chat.sendMessage"), ("result", "VALIDATION_ERROR")];
    let mut alice = listener(addr, "alice").await;
    alice.send("counted").await;
    alice.message().await;
    // An invalid message sent by hand (the typed client would refuse it locally).
    let mut raw = raw_socket(addr).await;
    raw.send(tungstenite::Message::text(
        r#"r:Chat.sendMessage:1:{"text":"","channelId":"x"}"#,
    ))
    .await
    .unwrap();
    assert!(ws_next_non_push(&mut raw).await.contains("VALIDATION_ERROR"));
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

    // Every metric the traffic made has its `# HELP` line, with the server's description.
    let emitted: Vec<&str> = after
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    assert!(emitted.len() >= 6, "{after}");
    for name in emitted {
        let description = grest_ws::server::metrics::DESCRIPTIONS
            .iter()
            .find(|description| description.name == name)
            .unwrap_or_else(|| panic!("{name} is not described in grest_ws::server::metrics::DESCRIPTIONS"));
        let help = format!("# HELP {name} {}\n", description.help);
        assert!(after.contains(&help), "no `{}` in {after}", help.trim_end());
    }
}
