//! The chat as a cluster: chat server processes (the real binary) sharing a real `redis-server` or `nats-server`.
//! Messages, their history, the online count and `/api/presence` span them; a process killed with SIGKILL drops out of the count;
//! a stopped process (SIGSTOP) holds nobody else up, and catches up when it continues.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat::{CHAT_API, ChatQuery, SendMessageRequest, chat as api};
use grest_ws::client::{Client, ClientConfig};
use grest_ws_tests::{NatsServer, RedisServer};
use tokio::sync::mpsc;

/// Generous: the tests must pass on a busy 2-core machine, and a passing test never waits this long.
const WAIT: Duration = Duration::from_secs(20);

/// One chat server process on a free port; killed (SIGKILL) when dropped.
struct Node {
    addr: SocketAddr,
    child: Child,
}

impl Node {
    /// Starts `chat --addr … <backplane flag> <url>` and waits until it serves.
    async fn start(backplane: &[String]) -> Node {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(["--addr", &addr.to_string()])
            .args(backplane)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the chat binary runs");
        let node = Node { addr, child };
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "chat on {addr} did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        node
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to the process.
    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {signal} failed");
    }

    /// SIGKILL: no goodbye to the backplane, its sockets just stop.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a person's client received.
#[derive(Debug)]
enum Event {
    Message(String),
    Online(u64),
    /// The texts of the history push.
    History(Vec<String>),
}

/// A person on `node`: their typed client (no reconnect) and what it receives.
async fn person(node: &Node, name: &str) -> (api::Client, mpsc::UnboundedReceiver<Event>) {
    let (tx, events) = mpsc::unbounded_channel();
    let online = tx.clone();
    let history = tx.clone();
    let handlers = api::Handlers::new()
        .on_history(move |h| {
            let _ = history.send(Event::History(h.messages.into_iter().map(|m| m.text).collect()));
            async {}
        })
        .on_new_message(move |m| {
            let _ = tx.send(Event::Message(m.text));
            async {}
        })
        .on_online(move |o| {
            let _ = online.send(Event::Online(o.count));
            async {}
        })
        .on_are_you_there(|| async { Ok(true) });
    let client = Client::new(CHAT_API, format!("ws://{}", node.addr))
        .query(ChatQuery {
            name: Some(name.to_owned()),
        })
        .config(ClientConfig::default().reconnect(None))
        .connect(handlers)
        .await
        .expect("connects");
    (client, events)
}

/// `GET /api/presence` of `node`: how many sockets of the whole cluster answered the probe.
async fn presence(node: &Node) -> u64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(node.addr).await.expect("connects");
    let request = format!(
        "GET /api/presence HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        node.addr
    );
    tcp.write_all(request.as_bytes()).await.expect("writes");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("reads");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let presence: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    presence["online"].as_u64().expect("an online count")
}

/// Waits until `node`'s presence probe counts `expected` sockets (the nodes learn of each other in the background).
async fn until_presence(node: &Node, expected: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while presence(node).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "presence never counted {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for an event `pick` takes, skipping the others.
async fn wait_for<T>(events: &mut mpsc::UnboundedReceiver<Event>, mut pick: impl FnMut(Event) -> Option<T>) -> T {
    let found = async {
        loop {
            if let Some(found) = pick(events.recv().await.expect("the client's handlers are gone")) {
                return found;
            }
        }
    };
    tokio::time::timeout(WAIT, found).await.expect("no such event in time")
}

/// `--redis URL` for a chat process.
fn redis_flag(redis: &RedisServer) -> Vec<String> {
    vec!["--redis".into(), redis.url()]
}

/// The text of a message event; `None` for other events.
fn message_text(event: Event) -> Option<String> {
    match event {
        Event::Message(text) => Some(text),
        _ => None,
    }
}

#[tokio::test]
async fn two_chat_processes_on_redis_share_messages_and_the_online_count_and_forget_a_killed_one() {
    let redis = RedisServer::start().await;
    share_and_forget(&redis_flag(&redis)).await;
}

#[tokio::test]
async fn two_chat_processes_on_nats_share_messages_and_the_online_count_and_forget_a_killed_one() {
    let nats = NatsServer::start().await;
    share_and_forget(&["--nats".into(), nats.url()]).await;
}

/// Two chat processes on `backplane`: a message crosses and joins the other's history, presence spans both, and a
/// SIGKILLed one leaves the online count within 10 s.
async fn share_and_forget(backplane: &[String]) {
    let (a, mut b) = (Node::start(backplane).await, Node::start(backplane).await);
    let (alice, _alice_hears) = person(&a, "alice").await;
    let (_bob, mut bob_hears) = person(&b, "bob").await;
    let (_dave, _dave_hears) = person(&b, "dave").await;
    // Once the nodes know each other, node A's presence probe reaches node B's sockets.
    until_presence(&a, 3).await;

    let request = SendMessageRequest {
        text: "hello from A".into(),
        channel_id: "general".into(),
    };
    assert!(alice.send_message(&request).await.unwrap().success);
    assert_eq!(wait_for(&mut bob_hears, message_text).await, "hello from A");
    // Node B stored it before pushing it to bob: a newcomer on B finds it in the history.
    let (_erin, mut erin_hears) = person(&b, "erin").await;
    let history = wait_for(&mut erin_hears, |e| match e {
        Event::History(texts) => Some(texts),
        _ => None,
    })
    .await;
    assert_eq!(history, ["hello from A"]);

    // Node B dies without a word; the next count node A announces leaves bob and dave out.
    b.kill();
    let (_carol, mut carol_hears) = person(&a, "carol").await;
    let started = tokio::time::Instant::now();
    let online = wait_for(&mut carol_hears, |e| match e {
        Event::Online(n) => Some(n),
        _ => None,
    })
    .await;
    assert_eq!(online, 2, "alice and carol, on node A");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// Node C stops (SIGSTOP) with a member in the chat, and Redis is told to cut off a subscriber that falls 256 KiB
/// behind (no soft limit, so node B, which keeps reading, is not cut off for lagging a moment on a busy machine): while C is stopped, every one of 3000 messages of 2000 characters posted on node A (6 MB, more than the
/// kernel's socket buffers hold) reaches bob on node B, in order, and Redis cuts C off. C continues (SIGCONT): it
/// reconnects and subscribes again, and a new message reaches its member.
#[tokio::test]
async fn a_stopped_process_holds_nobody_up_on_redis_and_catches_up_when_it_continues() {
    let redis = RedisServer::start_with(&["--client-output-buffer-limit", "pubsub 256kb 0 0"]).await;
    let cut_off = async {
        while redis.subscribers("grest-ws:/ws/chat:all").await != 2 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    stop_and_continue(&redis_flag(&redis), cut_off).await;
}

/// The same on NATS, whose server is told to cut off a client with more than 256 KiB pending (messages of at most 64 KiB): the stopped node
/// holds nobody up, NATS cuts it off (its connection count drops to two), and it catches up when it continues.
#[tokio::test]
async fn a_stopped_process_holds_nobody_up_on_nats_and_catches_up_when_it_continues() {
    let monitor = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let nats = NatsServer::start_with_config(&format!(
        "max_pending: 262144\nmax_payload: 65536\nhttp_port: {monitor}\n"
    ))
    .await;
    let cut_off = async {
        while nats_connections(monitor).await != Some(2) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    stop_and_continue(&["--nats".into(), nats.url()], cut_off).await;
}

/// How many client connections the NATS server with its monitoring port on `monitor` has (`/varz`).
async fn nats_connections(monitor: u16) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", monitor)).await.ok()?;
    let request = "GET /varz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.ok()?;
    let body = response.split_once("\r\n\r\n")?.1;
    let varz: serde_json::Value = serde_json::from_str(body).ok()?;
    varz["connections"].as_u64()
}

/// Three chat processes on `backplane`; node C is stopped while 6 MB of messages cross from A to B, all of which
/// bob on B receives in order; `cut_off` (the engine dropping C) must happen meanwhile; C continues and its member
/// hears a new message.
async fn stop_and_continue(backplane: &[String], cut_off: impl Future<Output = ()>) {
    let (a, b, c) = (
        Node::start(backplane).await,
        Node::start(backplane).await,
        Node::start(backplane).await,
    );
    let (alice, _alice_hears) = person(&a, "alice").await;
    let (_bob, mut bob_hears) = person(&b, "bob").await;
    let (_carol, mut carol_hears) = person(&c, "carol").await;
    until_presence(&a, 3).await;

    c.signal("-STOP");
    for n in 0..3000 {
        let request = SendMessageRequest {
            text: format!("{n:04}{}", "x".repeat(1996)),
            channel_id: "general".into(),
        };
        assert!(alice.send_message(&request).await.unwrap().success);
    }
    for n in 0..3000 {
        let text = wait_for(&mut bob_hears, message_text).await;
        assert_eq!(
            &text[..4],
            format!("{n:04}"),
            "bob's messages arrive in order, none lost"
        );
    }
    tokio::time::timeout(WAIT, cut_off)
        .await
        .expect("the engine cut off the stopped node");

    c.signal("-CONT");
    // Post until carol hears a fresh one: C may take a moment to reconnect and subscribe again.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut round = 0;
    loop {
        let text = format!("after {round}");
        let request = SendMessageRequest {
            text: text.clone(),
            channel_id: "general".into(),
        };
        assert!(alice.send_message(&request).await.unwrap().success);
        let heard = tokio::time::timeout(Duration::from_millis(500), async {
            loop {
                let event = carol_hears.recv().await.expect("carol's client lives");
                if message_text(event).is_some_and(|heard| heard == text) {
                    return;
                }
            }
        })
        .await;
        if heard.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "node C never caught up");
        round += 1;
    }
}
