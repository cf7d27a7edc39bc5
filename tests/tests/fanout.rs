//! Rooms and fan-out on real sockets: joins, leaves, members and counts, broadcasts to a room, to everyone and
//! except the sender, and what a reader that stops reading does to everyone else (nothing) and to itself (a
//! Close frame with 1013, or dropped oldest pushes when the endpoint prefers that).

use std::time::{Duration, Instant};

use grest_ws::client::Client;
use grest_ws::server::{Connected, GrestWs, Rooms};
use grest_ws::session::SlowConsumer;
use grest_ws::{Permission, ServerError, SessionConfig, Validate, WebSocketSchema, contract};
use grest_ws_test::TestServer;
use grest_ws_tests::{PATIENCE, RawWs, counter, frame_data};
use metrics_util::debugging::DebuggingRecorder;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// One published post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Post {
    /// The room it goes to.
    pub room: String,
    /// A sequence number.
    pub seq: u64,
    /// Filler.
    pub text: String,
}

contract! {
    /// A feed: connections join rooms and publish posts to them.
    pub Feed {
        connect { errors: [ServerError] }
        client_to_server {
            /// Joins a room.
            join(String) -> bool, errors: [ServerError], permission: Permission::Public;
            /// Leaves a room.
            leave(String) -> bool, errors: [ServerError], permission: Permission::Public;
            /// Broadcasts to the post's room (`*`: everyone) except the sender; answers how many got it queued.
            publish(Post) -> u64, errors: [ServerError], permission: Permission::Public;
            /// Members of a room.
            count(String) -> u64, errors: [ServerError], permission: Permission::Public;
            /// The rooms this connection is in.
            mine() -> Vec<String>, errors: [ServerError], permission: Permission::Public;
            /// Asks the server to push `news` to this connection alone, without waiting.
            echo_news(Post), permission: Permission::Public;
            /// Asks the other members of a room `ready` and counts the `true` answers within the roll-call time.
            roll_call(String) -> u64, errors: [ServerError], permission: Permission::Public;
        }
        server_to_client {
            /// A post.
            news(Post), permission: Permission::Public;
            /// Whether the client is there.
            ready() -> bool, errors: [ServerError], permission: Permission::Public;
        }
    }
}

const FEED_API: WebSocketSchema<Feed> = WebSocketSchema::new("ws/feed");

/// How long a roll call waits for answers.
const ROLL_CALL: Duration = Duration::from_secs(2);

struct Member {
    peer: feed::Peer,
    rooms: Rooms<Feed>,
}

impl feed::Server for Member {
    async fn join(&self, room: String) -> grest_ws::HandlerResult<bool, feed::JoinError> {
        Ok(self.rooms.join(self.peer.id(), &room))
    }

    async fn leave(&self, room: String) -> grest_ws::HandlerResult<bool, feed::LeaveError> {
        Ok(self.rooms.leave(self.peer.id(), &room))
    }

    async fn publish(&self, post: Post) -> grest_ws::HandlerResult<u64, feed::PublishError> {
        let message = feed::Peer::prepare_news(&post)?;
        let broadcast = if post.room == "*" {
            self.rooms.all()
        } else {
            self.rooms.to(&post.room)
        };
        Ok(broadcast.except(self.peer.id()).send(&message).queued as u64)
    }

    async fn count(&self, room: String) -> grest_ws::HandlerResult<u64, feed::CountError> {
        Ok(self.rooms.count(&room).await as u64)
    }

    async fn mine(&self) -> grest_ws::HandlerResult<Vec<String>, feed::MineError> {
        Ok(self.rooms.rooms_of(self.peer.id()))
    }

    async fn echo_news(&self, post: Post) {
        let _ = self.peer.try_news(&post);
    }

    async fn roll_call(&self, room: String) -> grest_ws::HandlerResult<u64, feed::RollCallError> {
        let ask = |peer: feed::Peer| async move { peer.ready().await };
        let answers = self.rooms.to(&room).except(self.peer.id()).gather(ROLL_CALL, ask).await;
        Ok(answers
            .iter()
            .filter(|(_, answer)| matches!(answer, Some(Ok(true))))
            .count() as u64)
    }
}

async fn start(session: SessionConfig) -> TestServer {
    start_with_rooms(session).await.0
}

/// Serves the Feed endpoint with its own session settings; the server-wide ones stay at their defaults. Also
/// returns the endpoint's rooms, as an application would keep them for its HTTP routes.
async fn start_with_rooms(session: SessionConfig) -> (TestServer, Rooms<Feed>) {
    let server = GrestWs::new().endpoint_session(FEED_API, session);
    let rooms = server.rooms(FEED_API);
    let router = server
        .ws(FEED_API, |conn: Connected<Feed>| async move {
            Member {
                peer: conn.peer,
                rooms: conn.rooms,
            }
        })
        .build()
        .expect("valid registration");
    (TestServer::start(router).await, rooms)
}

/// A client whose `news` pushes arrive on a channel.
async fn subscriber(base: &str) -> (feed::Client, mpsc::UnboundedReceiver<Post>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let client = Client::new(FEED_API, base)
        .connect(
            feed::Handlers::new()
                .on_news(move |post| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(post);
                    }
                })
                .on_ready(|| async { Ok(true) }),
        )
        .await
        .expect("connect");
    (client, rx)
}

fn post(room: &str, seq: u64, len: usize) -> Post {
    Post {
        room: room.into(),
        seq,
        text: "x".repeat(len),
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Post>) -> Post {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a push within the patience")
        .expect("the client is alive")
}

/// Asks `count` until the room has `expected` members (a leave on close happens on the server's time).
async fn await_count(client: &feed::Client, room: &str, expected: u64) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let count = client.count(&room.to_owned()).await.unwrap();
        if count == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{room} has {count} members, expected {expected}"
        );
        tokio::task::yield_now().await;
    }
}

/// Alice in red, bob in red and blue, carol in blue.
async fn red_and_blue(base: &str) -> [(feed::Client, mpsc::UnboundedReceiver<Post>); 3] {
    let (alice, bob, carol) = (subscriber(base).await, subscriber(base).await, subscriber(base).await);
    for (member, room) in [(&alice, "red"), (&bob, "red"), (&bob, "blue"), (&carol, "blue")] {
        assert!(member.0.join(&room.to_owned()).await.unwrap());
    }
    [alice, bob, carol]
}

#[tokio::test]
async fn rooms_route_broadcasts_to_members_except_the_sender_and_forget_closed_connections() {
    let server = start(SessionConfig::default()).await;
    let base = server.base_url();
    let [(alice, mut alice_rx), (bob, mut bob_rx), (carol, mut carol_rx)] = red_and_blue(&base).await;
    assert!(
        carol.join(&"blue".to_owned()).await.unwrap(),
        "joining twice is harmless"
    );
    assert_eq!(alice.count(&"red".to_owned()).await.unwrap(), 2);
    assert_eq!(alice.count(&"blue".to_owned()).await.unwrap(), 2);
    let mut bobs = bob.mine().await.unwrap();
    bobs.sort();
    assert_eq!(bobs, ["blue", "red"]);

    // To a room, except the sender.
    assert_eq!(alice.publish(&post("red", 1, 8)).await.unwrap(), 1);
    assert_eq!(next(&mut bob_rx).await.seq, 1);
    // To everyone, except the sender.
    assert_eq!(carol.publish(&post("*", 2, 8)).await.unwrap(), 2);
    assert_eq!(next(&mut alice_rx).await.seq, 2);
    assert_eq!(next(&mut bob_rx).await.seq, 2);
    // A single connection, without waiting.
    carol.echo_news(&post("", 3, 8)).await.unwrap();
    assert_eq!(next(&mut carol_rx).await.seq, 3);
    // Nobody got anything else: carol's next push is the marker, not post 1 or 2.
    bob.publish(&post("blue", 4, 8)).await.unwrap();
    assert_eq!(next(&mut carol_rx).await.seq, 4);

    // A request to every other member, answers gathered; a member that never answers is left out at the
    // deadline.
    let mute = stalled_reader(&base, "blue").await;
    assert_eq!(alice.count(&"blue".to_owned()).await.unwrap(), 3);
    assert_eq!(alice.roll_call(&"blue".to_owned()).await.unwrap(), 2);
    assert_eq!(
        bob.roll_call(&"blue".to_owned()).await.unwrap(),
        1,
        "carol; not bob himself"
    );
    drop(mute); // gone without a Close frame: the server forgets it all the same
    await_count(&alice, "blue", 2).await;

    assert!(bob.leave(&"red".to_owned()).await.unwrap());
    assert!(!bob.leave(&"red".to_owned()).await.unwrap(), "not a member any more");
    assert_eq!(alice.publish(&post("red", 5, 8)).await.unwrap(), 0);

    // A closed connection leaves every room.
    carol.handle().close();
    await_count(&alice, "blue", 1).await;
    assert_eq!(alice.publish(&post("*", 6, 8)).await.unwrap(), 1);
    assert_eq!(next(&mut bob_rx).await.seq, 6, "bob sent post 4 himself");
    assert!(alice_rx.try_recv().is_err(), "the sender is left out");
}

#[tokio::test]
async fn broadcasts_address_unions_of_rooms_minus_rooms_and_act_on_whole_rooms() {
    let (server, rooms) = start_with_rooms(SessionConfig::default()).await;
    let base = server.base_url();
    let [(alice, mut alice_rx), (_bob, mut bob_rx), (carol, mut carol_rx)] = red_and_blue(&base).await;
    let news = |seq| feed::Peer::prepare_news(&post("", seq, 8)).expect("a valid post");

    // A union of rooms: bob is in both and gets the post once.
    assert_eq!(rooms.to("red").to("blue").send(&news(1)).queued, 3);
    // Red minus blue's members: alice alone.
    assert_eq!(rooms.to("red").except_room("blue").send(&news(2)).queued, 1);
    assert_eq!(rooms.all().send(&news(3)).queued, 3);
    assert_eq!(next(&mut alice_rx).await.seq, 1);
    assert_eq!(next(&mut alice_rx).await.seq, 2);
    assert_eq!(next(&mut alice_rx).await.seq, 3);
    assert_eq!(next(&mut bob_rx).await.seq, 1);
    assert_eq!(next(&mut bob_rx).await.seq, 3, "no second copy of 1, and not 2");
    assert_eq!(next(&mut carol_rx).await.seq, 1);
    assert_eq!(next(&mut carol_rx).await.seq, 3);

    // Whole rooms join and leave another room.
    assert_eq!(rooms.to("blue").join("green"), 2);
    assert_eq!(rooms.count("green").await, 2);
    let mut carols = carol.mine().await.unwrap();
    carols.sort();
    assert_eq!(carols, ["blue", "green"]);
    assert_eq!(
        rooms.all().except_room("red").leave("green"),
        1,
        "carol leaves; bob is in red"
    );
    assert_eq!(rooms.to("green").connections().await.len(), 1);
    assert_eq!(rooms.all().connections().await.len(), 3);

    // Closing a room's connections: they leave every room, the others stay.
    assert_eq!(rooms.to("blue").except_room("red").close(), 1);
    await_count(&alice, "blue", 1).await;
    assert_eq!(rooms.to("red").send(&news(4)).queued, 2);
    assert_eq!(next(&mut alice_rx).await.seq, 4);
    assert_eq!(next(&mut bob_rx).await.seq, 4);
}

#[tokio::test]
async fn pushes_that_do_not_wait_are_counted_like_the_others() {
    let recorder = DebuggingRecorder::new();
    let metrics = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let server = start(SessionConfig::default()).await;
    let base = server.base_url();
    let (client, mut rx) = subscriber(&base).await;
    for seq in 0..3 {
        client.echo_news(&post("", seq, 8)).await.unwrap();
        assert_eq!(next(&mut rx).await.seq, seq);
    }
    let sent = [("method", "Feed.news"), ("result", "OK")];
    assert_eq!(counter(&metrics, "websocket_out_requests_total", &sent), 3);
}

/// Subscribes a hand-written socket with a small receive buffer to `room`; the test then stops reading it.
async fn stalled_reader(base: &str, room: &str) -> RawWs {
    let mut ws = RawWs::connect_slow_reader(&format!("{base}/ws/feed")).await;
    ws.send("h:::{}").await;
    assert_eq!(ws.recv_text().await, "k:::null");
    ws.send(&format!("r:Feed.join:1:{}", serde_json::to_string(room).unwrap()))
        .await;
    assert_eq!(
        ws.recv_text().await,
        r#"s:Feed.join:1:{"success":true,"type":"OK","data":true}"#
    );
    ws
}

/// Publishes 4 KiB posts to `room` for twice the write deadline; returns how many and the slowest round trip.
async fn publish_for(publisher: &feed::Client, room: &str, write_timeout: Duration) -> (u64, Duration) {
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut sent = 0;
    while started.elapsed() < write_timeout * 2 {
        let began = Instant::now();
        publisher.publish(&post(room, sent, 4096)).await.unwrap();
        slowest = slowest.max(began.elapsed());
        sent += 1;
    }
    (sent, slowest)
}

#[tokio::test]
async fn a_reader_that_stops_reading_never_delays_publishers_and_ends_with_a_close_frame() {
    // A current-thread test: the server's tasks run on this thread and report to this recorder.
    let recorder = DebuggingRecorder::new();
    let metrics = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let write_timeout = Duration::from_secs(1);
    let server = start(
        SessionConfig::default()
            .outbound_budget(64 * 1024)
            .write_timeout(write_timeout)
            // Long enough for the test to come back and read the Close frame.
            .close_timeout(Duration::from_secs(60)),
    )
    .await;
    let base = server.base_url();
    let (healthy, mut healthy_rx) = subscriber(&base).await;
    assert!(healthy.join(&"news".to_owned()).await.unwrap());
    let mut stalled = stalled_reader(&base, "news").await;
    let (publisher, _) = subscriber(&base).await;

    let (sent, slowest) = publish_for(&publisher, "news", write_timeout).await;
    assert!(sent > 10, "published only {sent} posts");
    // Well under the write deadline: no publish waited for the stalled reader.
    assert!(slowest < write_timeout, "a publish took {slowest:?}");

    for seq in 0..sent {
        assert_eq!(
            next(&mut healthy_rx).await.seq,
            seq,
            "the healthy subscriber gets every post in order"
        );
    }
    // The stalled reader gets what was already on its way, then a Close frame with 1013.
    let (posts, close) = stalled.frames_until_close().await;
    for (seq, post) in posts.iter().enumerate() {
        let Message::Text(text) = post else {
            panic!("a binary frame")
        };
        assert_eq!(frame_data(text)["seq"], seq, "posts arrive in order, without gaps");
    }
    assert_eq!(close, (Some(1013), "Slow consumer".to_owned()));
    let received = posts.len() as u64;
    assert!(received < sent, "the stalled reader cannot have taken all {sent} posts");
    stalled.finish().await;
    await_count(&healthy, "news", 1).await;
    assert_eq!(counter(&metrics, "websocket_slow_consumer_disconnects_total", &[]), 1);
}

#[tokio::test]
async fn with_drop_oldest_a_stalled_reader_keeps_its_connection_and_the_newest_posts() {
    let recorder = DebuggingRecorder::new();
    let metrics = recorder.snapshotter();
    let _recording = metrics::set_default_local_recorder(&recorder);
    let server = start(
        SessionConfig::default()
            .outbound_budget(64 * 1024)
            .slow_consumer(SlowConsumer::DropOldest)
            // The write deadline would close it: make sure this test is about the budget alone.
            .write_timeout(Duration::from_secs(3600)),
    )
    .await;
    let base = server.base_url();
    let mut stalled = stalled_reader(&base, "ticks").await;
    let (publisher, _) = subscriber(&base).await;
    // Far more than the budget and the socket buffers hold.
    let total = 2000;
    for seq in 0..total {
        assert_eq!(publisher.publish(&post("ticks", seq, 4096)).await.unwrap(), 1);
    }

    let mut received = 0;
    let mut last = None;
    while last != Some(total - 1) {
        match stalled.recv().await {
            Some(Message::Text(text)) => {
                let seq = frame_data(&text)["seq"].as_u64().expect("a seq");
                assert!(last.is_none_or(|last| seq > last), "posts stay in order");
                last = Some(seq);
                received += 1;
            }
            other => panic!("expected posts, got {other:?}"),
        }
    }
    assert!(
        received < total,
        "the oldest posts were dropped ({received} of {total} arrived)"
    );
    // Every post either arrived or was dropped and counted (drops are reported as the session takes the
    // mailbox, so all of them are in once the last post has arrived).
    assert_eq!(
        counter(&metrics, "websocket_outbound_dropped_total", &[]),
        total - received
    );
    // Still connected: a request gets its reply.
    stalled.send("r:Feed.count:9:\"ticks\"").await;
    assert_eq!(
        stalled.recv_text().await,
        r#"s:Feed.count:9:{"success":true,"type":"OK","data":1}"#
    );
}
