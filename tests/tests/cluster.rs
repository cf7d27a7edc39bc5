//! Rooms across server processes: two servers sharing a real `redis-server` (or `nats-server`) through a
//! backplane, clients on each, broadcasts and counts that cross from one to the other — and survive a Redis restart.

use std::time::Duration;

use grest_ws::client::Client;
use grest_ws::server::{Connected, GrestWs, Rooms};
use grest_ws::{Permission, ServerError, Validate, WebSocketSchema, contract};
use grest_ws_nats::NatsBackplane;
use grest_ws_redis::RedisBackplane;
use grest_ws_test::TestServer;
use grest_ws_tests::{NatsServer, PATIENCE, RedisCluster, RedisServer, counter};
use metrics_util::debugging::DebuggingRecorder;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A line said in a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Line {
    /// The room (`*`: everyone).
    pub room: String,
    /// What was said.
    pub text: String,
}

contract! {
    /// Rooms of people saying lines.
    pub Talk {
        connect { errors: [ServerError] }
        client_to_server {
            /// Joins a room.
            join(String) -> bool, errors: [ServerError], permission: Permission::Public;
            /// Says a line to its room (`*`: everyone), except the speaker.
            say(Line) -> u64, errors: [ServerError], permission: Permission::Public;
        }
        server_to_client {
            /// A line someone said.
            heard(Line), permission: Permission::Public;
            /// Whether the person is there.
            ready() -> bool, errors: [ServerError], permission: Permission::Public;
        }
    }
}

const TALK_API: WebSocketSchema<Talk> = WebSocketSchema::new("ws/talk");

struct Speaker {
    peer: talk::Peer,
    rooms: Rooms<Talk>,
}

impl talk::Server for Speaker {
    async fn join(&self, room: String) -> grest_ws::HandlerResult<bool, talk::JoinError> {
        Ok(self.rooms.join(self.peer.id(), &room))
    }

    async fn say(&self, line: Line) -> grest_ws::HandlerResult<u64, talk::SayError> {
        let message = talk::Peer::prepare_heard(&line)?;
        let to = if line.room == "*" {
            self.rooms.all()
        } else {
            self.rooms.to(&line.room)
        };
        Ok(to.except(self.peer.id()).send(&message).queued as u64)
    }
}

/// A server on its own port, sharing rooms through `redis` in `namespace`.
async fn node(redis: &RedisServer, namespace: &str) -> TestServer {
    node_with_rooms(redis, namespace).await.0
}

/// [`node`], with the endpoint's rooms as an application keeps them for its HTTP routes.
async fn node_with_rooms(redis: &RedisServer, namespace: &str) -> (TestServer, Rooms<Talk>) {
    let backplane = RedisBackplane::connect_in(&redis.url(), namespace)
        .await
        .expect("redis reachable");
    serve_node(GrestWs::new().backplane(backplane)).await
}

/// A server on its own port, sharing rooms through the Redis Cluster `cluster` in `namespace`.
async fn cluster_node(cluster: &RedisCluster, namespace: &str) -> (TestServer, Rooms<Talk>) {
    let urls = cluster.urls();
    let nodes: Vec<&str> = urls.iter().map(String::as_str).collect();
    let backplane = RedisBackplane::connect_cluster_in(&nodes, namespace)
        .await
        .expect("the cluster reachable");
    serve_node(GrestWs::new().backplane(backplane)).await
}

/// A server on its own port, sharing rooms through `nats` in `namespace`.
async fn nats_node(nats: &NatsServer, namespace: &str) -> (TestServer, Rooms<Talk>) {
    let backplane = NatsBackplane::connect_in(&nats.url(), namespace)
        .await
        .expect("nats reachable");
    serve_node(GrestWs::new().backplane(backplane)).await
}

/// Serves the talk endpoint on `server` (which has its backplane).
async fn serve_node(server: GrestWs) -> (TestServer, Rooms<Talk>) {
    let rooms = server.rooms(TALK_API);
    let router = server
        .ws(TALK_API, |conn: Connected<Talk>| async move {
            Speaker {
                peer: conn.peer,
                rooms: conn.rooms,
            }
        })
        .build()
        .expect("valid registration");
    (TestServer::start(router).await, rooms)
}

/// A client of `node` whose `heard` pushes arrive on a channel.
async fn person(node: &TestServer) -> (talk::Client, mpsc::UnboundedReceiver<Line>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Client::new(TALK_API, node.base_url())
        .connect(
            talk::Handlers::new()
                .on_heard(move |line| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(line);
                    }
                })
                .on_ready(|| async { Ok(true) }),
        )
        .await
        .expect("connects");
    (client, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Line>) -> Line {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a line within the patience")
        .expect("the channel stays open")
}

fn line(room: &str, text: &str) -> Line {
    Line {
        room: room.into(),
        text: text.into(),
    }
}

/// Has `speaker` say numbered lines (`after 0`, `after 1`, …) to `room` until `hears` gets one, failing after
/// `within` (subscriptions and reconnections settle in the background); the line heard and how many were said.
async fn say_until_heard(
    speaker: &talk::Client,
    room: &str,
    hears: &mut mpsc::UnboundedReceiver<Line>,
    within: Duration,
) -> (Line, usize) {
    let deadline = tokio::time::Instant::now() + within;
    let mut said = 0;
    loop {
        speaker.say(&line(room, &format!("after {said}"))).await.unwrap();
        said += 1;
        if let Ok(Some(heard)) = tokio::time::timeout(Duration::from_millis(200), hears.recv()).await {
            assert!(heard.text.starts_with("after "), "{heard:?}");
            return (heard, said);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no line crossed to {room} within {within:?}"
        );
    }
}

/// Waits until Redis counts `expected` subscribers on `channel` (subscriptions are made in the background).
async fn subscribed(redis: &RedisServer, channel: &str, expected: usize) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while redis.subscribers(channel).await != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{channel}: not {expected} subscribers in time"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A line said on one node reaches the room's members on the other node, once; members of other rooms and the
/// speaker hear nothing; a broadcast to everyone crosses too.
#[tokio::test]
async fn broadcasts_reach_members_on_other_nodes() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis, "t1").await, node(&redis, "t1").await);
    let (alice, mut alice_hears) = person(&a).await;
    let (bob, mut bob_hears) = person(&b).await;
    let (carol, mut carol_hears) = person(&b).await;
    assert!(alice.join(&"lobby".into()).await.unwrap());
    assert!(bob.join(&"lobby".into()).await.unwrap());
    assert!(carol.join(&"garden".into()).await.unwrap());
    // Node A holds the lobby for alice, node B for bob; only node B for the garden.
    subscribed(&redis, "t1:/ws/talk:room:lobby", 2).await;
    subscribed(&redis, "t1:/ws/talk:room:garden", 1).await;

    assert_eq!(
        alice.say(&line("lobby", "hello")).await.unwrap(),
        0,
        "nobody else on node A"
    );
    assert_eq!(next(&mut bob_hears).await, line("lobby", "hello"));
    // The next line reaches carol first: the lobby line never did.
    assert_eq!(alice.say(&line("garden", "psst")).await.unwrap(), 0);
    assert_eq!(next(&mut carol_hears).await, line("garden", "psst"));

    assert_eq!(bob.say(&line("*", "everyone")).await.unwrap(), 1, "carol, on node B");
    assert_eq!(next(&mut alice_hears).await, line("*", "everyone"));
    assert_eq!(next(&mut carol_hears).await, line("*", "everyone"));
    // Node B ignored its own message coming back from Redis: carol's next line is a new one, not a second copy.
    alice.say(&line("garden", "again")).await.unwrap();
    assert_eq!(next(&mut carol_hears).await, line("garden", "again"));
    // Bob said it: he hears his next incoming line, not his own.
    alice.say(&line("lobby", "bye")).await.unwrap();
    assert_eq!(next(&mut bob_hears).await, line("lobby", "bye"));
}

/// A node whose last member leaves a room stops receiving it; Redis restarts: while it is down, lines still reach
/// the members on the speaker's node; both nodes reconnect and subscribe again by themselves, and lines cross again.
#[tokio::test]
async fn nodes_follow_their_rooms_and_ride_out_a_redis_restart() {
    // A current-thread test: the servers' and the backplane's tasks run here and report to this recorder.
    let recorder = DebuggingRecorder::new();
    let metrics = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let mut redis = RedisServer::start().await;
    let (a, b) = (node(&redis, "t2").await, node(&redis, "t2").await);
    let (alice, _alice_hears) = person(&a).await;
    let (bob, mut bob_hears) = person(&b).await;
    let (carol, mut carol_hears) = person(&b).await;
    assert!(alice.join(&"lobby".into()).await.unwrap());
    assert!(bob.join(&"lobby".into()).await.unwrap());
    assert!(carol.join(&"lobby".into()).await.unwrap());
    subscribed(&redis, "t2:/ws/talk:room:lobby", 2).await;
    drop(alice);
    subscribed(&redis, "t2:/ws/talk:room:lobby", 1).await;

    redis.kill();
    // Local delivery never depends on Redis: while it is down, a line reaches the members on the same node.
    assert_eq!(bob.say(&line("lobby", "while down")).await.unwrap(), 1);
    assert_eq!(next(&mut carol_hears).await, line("lobby", "while down"));
    redis.resume().await;
    // Both nodes subscribe again: each its endpoint channel, node B the lobby.
    subscribed(&redis, "t2:/ws/talk:all", 2).await;
    subscribed(&redis, "t2:/ws/talk:room:lobby", 1).await;
    let (dave, _dave_hears) = person(&a).await;
    // The publishing connection learns of the restart on its first failed write; say until a line crosses.
    let (_, said) = say_until_heard(&dave, "lobby", &mut bob_hears, PATIENCE).await;
    // What the dead connection could not publish (lines, heartbeats) was counted, not lost silently.
    let failed = counter(
        &metrics,
        "websocket_backplane_publish_failed_total",
        &[("stage", "engine")],
    );
    assert!(failed >= 1, "nothing counted as failed after {said} lines");
}

/// Waits until `check` holds (answers across nodes settle once the nodes have heard each other's heartbeat).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "not reached in time: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts and member lists add up every node's connections; a connection that closes leaves them.
#[tokio::test]
async fn counts_and_members_span_the_nodes() {
    let redis = RedisServer::start().await;
    let ((a, a_rooms), (b, b_rooms)) = (node_with_rooms(&redis, "t3").await, node_with_rooms(&redis, "t3").await);
    let (alice, _alice_hears) = person(&a).await;
    let (bob, _bob_hears) = person(&b).await;
    let (carol, _carol_hears) = person(&b).await;
    assert!(alice.join(&"lobby".into()).await.unwrap());
    assert!(bob.join(&"lobby".into()).await.unwrap());
    assert!(carol.join(&"garden".into()).await.unwrap());
    eventually("the nodes count each other's connections", || async {
        a_rooms.connections().await == 3 && b_rooms.connections().await == 3
    })
    .await;
    assert_eq!(a_rooms.count("lobby").await, 2);
    assert_eq!(b_rooms.count("lobby").await, 2);
    assert_eq!(b_rooms.count("garden").await, 1);
    assert_eq!(a_rooms.count("nowhere").await, 0);
    let members = a_rooms.members("lobby").await;
    assert_eq!(members.len(), 2);
    assert_ne!(members[0], members[1], "alice on node A and bob on node B");
    drop(bob);
    eventually("bob's close reaches node A's count", || async {
        a_rooms.count("lobby").await == 1
    })
    .await;
    assert_eq!(b_rooms.connections().await, 2);
}

/// The same over NATS: counts span the nodes, and a line said on one node reaches the room on the other once.
#[tokio::test]
async fn nats_carries_broadcasts_and_counts() {
    let nats = NatsServer::start().await;
    let ((a, a_rooms), (b, b_rooms)) = (nats_node(&nats, "t4").await, nats_node(&nats, "t4").await);
    let (alice, _alice_hears) = person(&a).await;
    let (bob, mut bob_hears) = person(&b).await;
    assert!(alice.join(&"lobby".into()).await.unwrap());
    assert!(bob.join(&"lobby".into()).await.unwrap());
    eventually("the nodes count each other's connections", || async {
        a_rooms.count("lobby").await == 2 && b_rooms.count("lobby").await == 2
    })
    .await;
    // Node B subscribes to the lobby in the background: say until a line crosses, then every line crosses once.
    say_until_heard(&alice, "lobby", &mut bob_hears, PATIENCE).await;
    alice.say(&line("lobby", "hello")).await.unwrap();
    let mut heard = next(&mut bob_hears).await;
    while heard.text.starts_with("after ") {
        heard = next(&mut bob_hears).await;
    }
    assert_eq!(heard, line("lobby", "hello"));
}

/// One connection addressed by id from another node: a push reaches it, it joins a room there, and it is closed.
#[tokio::test]
async fn a_connection_on_another_node_is_addressed_by_id() {
    let redis = RedisServer::start().await;
    let ((_a, a_rooms), (b, _b_rooms)) = (node_with_rooms(&redis, "t5").await, node_with_rooms(&redis, "t5").await);
    let (bob, mut bob_hears) = person(&b).await;
    assert!(bob.join(&"bobs".into()).await.unwrap());
    eventually("node A sees bob's connection", || async {
        a_rooms.members("bobs").await.len() == 1
    })
    .await;
    let bob_id = a_rooms.members("bobs").await[0];

    let psst = talk::Peer::prepare_heard(&line("", "just for bob")).unwrap();
    a_rooms.connection(bob_id).send(&psst);
    assert_eq!(next(&mut bob_hears).await, line("", "just for bob"));

    assert_eq!(
        a_rooms.connection(bob_id).join("vip"),
        0,
        "none of node A's connections"
    );
    eventually("bob joined vip on node B", || async { a_rooms.count("vip").await == 1 }).await;

    a_rooms.connection(bob_id).close();
    eventually("bob's connection closed and left its rooms", || async {
        a_rooms.count("vip").await == 0 && a_rooms.count("bobs").await == 0
    })
    .await;
}

/// NATS restarts: the client reconnects and subscribes again by itself, and lines cross again within 5 s.
#[tokio::test]
async fn nodes_ride_out_a_nats_restart() {
    let mut nats = NatsServer::start().await;
    let ((a, _), (b, b_rooms)) = (nats_node(&nats, "t6").await, nats_node(&nats, "t6").await);
    let (alice, _alice_hears) = person(&a).await;
    let (bob, mut bob_hears) = person(&b).await;
    assert!(bob.join(&"lobby".into()).await.unwrap());
    eventually("node B knows node A", || async { b_rooms.connections().await == 2 }).await;

    nats.kill();
    nats.resume().await;
    say_until_heard(&alice, "lobby", &mut bob_hears, Duration::from_secs(5)).await;
}

/// A server-to-client request asked of a room's members on every node; each answer comes back typed.
#[tokio::test]
async fn requests_gather_answers_from_every_node() {
    let redis = RedisServer::start().await;
    let ((a, a_rooms), (b, b_rooms)) = (node_with_rooms(&redis, "t7").await, node_with_rooms(&redis, "t7").await);
    let (alice, _alice_hears) = person(&a).await;
    let (bob, _bob_hears) = person(&b).await;
    let (carol, _carol_hears) = person(&b).await;
    for who in [&alice, &bob, &carol] {
        assert!(who.join(&"lobby".into()).await.unwrap());
    }
    eventually("the nodes know each other", || async {
        a_rooms.connections().await == 3 && b_rooms.connections().await == 3
    })
    .await;
    let ready = talk::Peer::prepare_ready().unwrap();
    let answers = a_rooms.to("lobby").gather_request(&ready, Duration::from_secs(2)).await;
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(
        answers.iter().all(|(_, answer)| matches!(answer, Some(Ok(true)))),
        "{answers:?}"
    );
    let mut ids: Vec<_> = answers.iter().map(|(id, _)| *id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each connection answers once");
}

/// On a Redis Cluster the rooms ride sharded pub/sub: each room's channel is a shard channel (no classic
/// subscription anywhere), lines cross between the nodes, and counts span them; after the whole cluster restarts,
/// the nodes subscribe again by themselves and lines cross again.
#[tokio::test]
async fn a_redis_cluster_carries_rooms_on_shard_channels() {
    let mut redis = RedisCluster::start(3).await;
    let ((a, a_rooms), (b, _b_rooms)) = (cluster_node(&redis, "t8").await, cluster_node(&redis, "t8").await);
    let (alice, _alice_hears) = person(&a).await;
    let (bob, mut bob_hears) = person(&b).await;
    let (carol, mut carol_hears) = person(&b).await;
    assert!(alice.join(&"lobby".into()).await.unwrap());
    assert!(bob.join(&"lobby".into()).await.unwrap());
    assert!(carol.join(&"garden".into()).await.unwrap());
    eventually(
        "both nodes hold the lobby's shard channel, node B the garden's",
        || async {
            redis.shard_subscribers("t8:/ws/talk:room:lobby").await == 2
                && redis.shard_subscribers("t8:/ws/talk:room:garden").await == 1
        },
    )
    .await;
    assert_eq!(redis.classic_subscribers("t8:/ws/talk:room:lobby").await, 0);

    alice.say(&line("lobby", "hello")).await.unwrap();
    assert_eq!(next(&mut bob_hears).await, line("lobby", "hello"));
    alice.say(&line("garden", "psst")).await.unwrap();
    assert_eq!(next(&mut carol_hears).await, line("garden", "psst"));
    eventually("node A counts the connections of node B", || async {
        a_rooms.connections().await == 3
    })
    .await;
    assert_eq!(a_rooms.count("lobby").await, 2);

    // The whole cluster restarts: the cluster client reconnects and subscribes again by itself.
    redis.restart().await;
    eventually("both nodes hold the lobby's shard channel again", || async {
        redis.shard_subscribers("t8:/ws/talk:room:lobby").await == 2
    })
    .await;
    say_until_heard(&alice, "lobby", &mut bob_hears, PATIENCE).await;
}

/// A value one node publishes on a server-event channel reaches the other node's receiver, typed; the publishing
/// node's own receiver never gets it back.
#[tokio::test]
async fn server_events_reach_the_other_nodes_only() {
    let redis = RedisServer::start().await;
    let server = |namespace: &'static str| {
        let url = redis.url();
        async move {
            let backplane = RedisBackplane::connect_in(&url, namespace)
                .await
                .expect("redis reachable");
            GrestWs::new().backplane(backplane)
        }
    };
    let (a, b) = (server("t9").await, server("t9").await);
    let (a_events, mut a_incoming) = a.server_events::<Line>("lines");
    let (b_events, mut b_incoming) = b.server_events::<Line>("lines");
    let (_a, _a_rooms) = serve_node(a).await;
    let (_b, _b_rooms) = serve_node(b).await;
    subscribed(&redis, "t9:event:lines", 2).await;

    a_events.publish(&line("news", "from A")).unwrap();
    let heard = tokio::time::timeout(PATIENCE, b_incoming.recv())
        .await
        .expect("in time");
    assert_eq!(heard, Some(line("news", "from A")));
    b_events.publish(&line("news", "from B")).unwrap();
    // A's first value is B's: its own never came back.
    let heard = tokio::time::timeout(PATIENCE, a_incoming.recv())
        .await
        .expect("in time");
    assert_eq!(heard, Some(line("news", "from B")));
}

/// A local broadcast stays on its node (Socket.IO's `io.local`): alice on node A hears it, bob on node B hears the
/// next, ordinary broadcast first.
#[tokio::test]
async fn a_local_broadcast_stays_on_its_node() {
    let redis = RedisServer::start().await;
    let ((a, a_rooms), (b, b_rooms)) = (
        node_with_rooms(&redis, "t10").await,
        node_with_rooms(&redis, "t10").await,
    );
    let (_alice, mut alice_hears) = person(&a).await;
    let (_bob, mut bob_hears) = person(&b).await;
    eventually("the nodes count each other's connections", || async {
        a_rooms.connections().await == 2 && b_rooms.connections().await == 2
    })
    .await;

    let here = talk::Peer::prepare_heard(&line("*", "here only")).unwrap();
    assert_eq!(a_rooms.all().local().send(&here).queued, 1);
    assert_eq!(next(&mut alice_hears).await, line("*", "here only"));
    let everyone = talk::Peer::prepare_heard(&line("*", "everyone")).unwrap();
    a_rooms.all().send(&everyone);
    assert_eq!(next(&mut bob_hears).await, line("*", "everyone"));
}

/// A server with a backplane needs a Tokio runtime for its heartbeat: built outside one, it is refused with a
/// message that says so, not left without a heartbeat.
#[tokio::test]
async fn a_server_with_a_backplane_is_built_inside_a_runtime() {
    let redis = RedisServer::start().await;
    let backplane = RedisBackplane::connect_in(&redis.url(), "t11")
        .await
        .expect("redis reachable");
    let built = std::thread::spawn(move || GrestWs::new().backplane(backplane).build().map(|_| ()))
        .join()
        .expect("the thread ends");
    let error = built.expect_err("refused outside a runtime").to_string();
    assert!(error.contains("inside a Tokio runtime"), "{error}");
}
