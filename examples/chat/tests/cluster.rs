//! The chat as a cluster: two chat server processes (the real binary) sharing a real `redis-server`. Messages, the
//! online count and `/api/presence` span them, and a process killed with SIGKILL drops out of the count.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat::{CHAT_API, ChatQuery, SendMessageRequest, chat as api};
use grest_ws::client::{Client, ClientConfig};
use grest_ws_tests::RedisServer;
use tokio::sync::mpsc;

/// Generous: the tests must pass on a busy 2-core machine, and a passing test never waits this long.
const WAIT: Duration = Duration::from_secs(20);

/// One chat server process on a free port; killed (SIGKILL) when dropped.
struct Node {
    addr: SocketAddr,
    child: Child,
}

impl Node {
    /// Starts `chat --addr … --redis …` and waits until it serves.
    async fn start(redis: &RedisServer) -> Node {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port");
        let child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(["--addr", &addr.to_string(), "--redis", &redis.url()])
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

    /// SIGKILL: no goodbye to Redis, its sockets just stop.
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
}

/// A person on `node`: their typed client (no reconnect) and what it receives.
async fn person(node: &Node, name: &str) -> (api::Client, mpsc::UnboundedReceiver<Event>) {
    let (tx, events) = mpsc::unbounded_channel();
    let online = tx.clone();
    let handlers = api::Handlers::new()
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

#[tokio::test]
async fn two_chat_processes_share_messages_and_the_online_count_and_forget_a_killed_one() {
    let redis = RedisServer::start().await;
    let (a, mut b) = (Node::start(&redis).await, Node::start(&redis).await);
    let (alice, _alice_hears) = person(&a, "alice").await;
    let (_bob, mut bob_hears) = person(&b, "bob").await;
    let (_dave, _dave_hears) = person(&b, "dave").await;
    // Once the nodes know each other, node A's presence probe reaches node B's sockets.
    let deadline = tokio::time::Instant::now() + WAIT;
    while presence(&a).await != 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "presence never counted all three"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let request = SendMessageRequest {
        text: "hello from A".into(),
        channel_id: "general".into(),
    };
    assert!(alice.send_message(&request).await.unwrap().success);
    let text = wait_for(&mut bob_hears, |e| match e {
        Event::Message(text) => Some(text),
        Event::Online(_) => None,
    })
    .await;
    assert_eq!(text, "hello from A");

    // Node B dies without a word; the next count node A announces leaves bob and dave out.
    b.kill();
    let (_carol, mut carol_hears) = person(&a, "carol").await;
    let started = tokio::time::Instant::now();
    let online = wait_for(&mut carol_hears, |e| match e {
        Event::Online(n) => Some(n),
        Event::Message(_) => None,
    })
    .await;
    assert_eq!(online, 2, "alice and carol, on node A");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}
