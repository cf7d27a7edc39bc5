//! Extendable contracts: several feature modules multiplexed over one socket, one handshake; client pooling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use grest_ws::client::{Client, SocketPool};
use grest_ws::server::{BuildError, Connected, GrestWs};
use grest_ws::{AnchorSchema, ServerError, Validate, WebSocketSchema, contract};
use grest_ws_test::TestServer;
use grest_ws_tests::{PATIENCE, RawWs};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// The anchor's handshake query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct RoomQuery {
    /// The room, shared by every module of the connection.
    #[validate(non_empty)]
    pub room: String,
}

contract! {
    /// The shared connection: declared once.
    pub anchor Hub {
        connect { input: RoomQuery, errors: [ServerError] }
    }
}

/// The anchor's path.
pub const HUB_SOCKET: AnchorSchema<Hub> = AnchorSchema::new("ws/hub");

contract! {
    /// One feature module.
    pub Messaging extends Hub {
        client_to_server {
            send(String) -> String;
            echo_push(String);
        }
        server_to_client {
            message(String);
        }
    }
}

contract! {
    /// Another feature module, from "another file".
    pub Presence extends Hub {
        client_to_server {
            who() -> String;
            ask() -> bool;
        }
        server_to_client {
            ping() -> bool;
        }
    }
}

contract! {
    /// A module whose wire name clashes with `Messaging`.
    #[rename = "Messaging"]
    pub MessagingAgain extends Hub {
        client_to_server { other() -> bool; }
        server_to_client {}
    }
}

contract! {
    /// An unrelated contract.
    pub Stranger {
        client_to_server { hi() -> bool; }
        server_to_client {}
    }
}

/// The messaging module's schema.
pub const MESSAGING_API: WebSocketSchema<Messaging> = HUB_SOCKET.extend();
/// The presence module's schema.
pub const PRESENCE_API: WebSocketSchema<Presence> = HUB_SOCKET.extend();

struct MessagingSession {
    peer: messaging::Peer,
    room: String,
}

impl messaging::Server for MessagingSession {
    async fn send(&self, text: String) -> grest_ws::HandlerResult<String, messaging::SendError> {
        Ok(format!("{}: {text}", self.room))
    }
    async fn echo_push(&self, text: String) {
        let _ = self.peer.message(&text).await;
    }
}

struct PresenceSession {
    peer: presence::Peer,
    room: String,
}

impl presence::Server for PresenceSession {
    async fn who(&self) -> grest_ws::HandlerResult<String, presence::WhoError> {
        Ok(format!("everyone in {}", self.room))
    }
    async fn ask(&self) -> grest_ws::HandlerResult<bool, presence::AskError> {
        Ok(self.peer.ping().await.unwrap_or(false))
    }
}

struct Hubs {
    opened: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
}

fn hub_server() -> (GrestWs, Hubs) {
    let opened = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (o, c) = (opened.clone(), closed.clone());
    let ws = GrestWs::new()
        .ws(MESSAGING_API, move |conn: Connected<Messaging>| {
            // Runs once per physical connection for this module, like the presence one.
            o.fetch_add(1, Ordering::SeqCst);
            let closed = c.clone();
            conn.peer.handle().on_close(move || {
                closed.fetch_add(1, Ordering::SeqCst);
            });
            async move {
                MessagingSession {
                    peer: conn.peer,
                    room: conn.query.room,
                }
            }
        })
        .ws(PRESENCE_API, |conn: Connected<Presence>| async move {
            PresenceSession {
                peer: conn.peer,
                room: conn.query.room,
            }
        });
    (ws, Hubs { opened, closed })
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not reached in time: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_modules_share_one_socket_and_one_handshake() {
    let (ws, hubs) = hub_server();
    let server = TestServer::start(ws.build().unwrap()).await;
    let addr = server.addr();
    let mut raw = RawWs::handshaken(&format!("ws://{addr}/ws/hub?room=lobby")).await;
    raw.send(r#"r:Messaging.send:1:"hi""#).await;
    assert_eq!(
        raw.recv_text().await,
        r#"s:Messaging.send:1:{"success":true,"type":"OK","data":"lobby: hi"}"#
    );
    raw.send("r:Presence.who:2:").await;
    assert_eq!(
        raw.recv_text().await,
        r#"s:Presence.who:2:{"success":true,"type":"OK","data":"everyone in lobby"}"#
    );
    raw.send(r#"m:Messaging.echoPush::"pushed""#).await;
    assert_eq!(raw.recv_text().await, r#"m:Messaging.message::"pushed""#);
    raw.send("r:Presence.ask:3:").await;
    assert_eq!(raw.recv_text().await, "r:Presence.ping:1:");
    raw.send(r#"s:Presence.ping:1:{"success":true,"type":"OK","data":true}"#)
        .await;
    assert_eq!(
        raw.recv_text().await,
        r#"s:Presence.ask:3:{"success":true,"type":"OK","data":true}"#
    );
    // The anchor's name never appears on the wire.
    raw.send("r:Hub.send:4:").await;
    assert!(raw.recv_text().await.contains("ROUTE_NOT_FOUND"));
    assert_eq!(hubs.opened.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn pooled_clients_of_two_modules_share_one_socket() {
    let (ws, hubs) = hub_server();
    let server = TestServer::start(ws.build().unwrap()).await;
    let addr = server.addr();
    let url = format!("ws://{addr}");
    let room = || RoomQuery { room: "lobby".into() };
    let pool = SocketPool::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let messaging = Client::new(MESSAGING_API, url.clone())
        .query(room())
        .pool(&pool)
        .connect(messaging::Handlers::new().on_message(move |m| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(m);
            }
        }))
        .await
        .unwrap();
    let presence = Client::new(PRESENCE_API, url.clone())
        .query(room())
        .pool(&pool)
        .connect(presence::Handlers::new().on_ping(|| async { Ok(true) }))
        .await
        .unwrap();
    assert_eq!(hubs.opened.load(Ordering::SeqCst), 1, "one physical socket");
    assert_eq!(pool.len(), 1);
    assert_eq!(messaging.send(&"hi".to_owned()).await.unwrap(), "lobby: hi");
    assert_eq!(presence.who().await.unwrap(), "everyone in lobby");
    assert!(
        presence.ask().await.unwrap(),
        "server-to-client requests reach the right module's handlers"
    );
    messaging.echo_push(&"for messaging".to_owned()).await.unwrap();
    assert_eq!(
        tokio::time::timeout(PATIENCE, rx.recv()).await.unwrap().as_deref(),
        Some("for messaging")
    );

    // The same contract again in the pool gets a socket of its own, as does any client outside the pool.
    let again = Client::new(MESSAGING_API, url.clone())
        .query(room())
        .pool(&pool)
        .connect(messaging::Handlers::new())
        .await
        .unwrap();
    assert_eq!(hubs.opened.load(Ordering::SeqCst), 2);
    assert_eq!(again.send(&"again".to_owned()).await.unwrap(), "lobby: again");
    let unpooled = Client::new(PRESENCE_API, url.clone())
        .query(room())
        .connect(presence::Handlers::new())
        .await
        .unwrap();
    assert_eq!(hubs.opened.load(Ordering::SeqCst), 3);
    again.close();
    unpooled.close();
    eventually("the two own sockets closed", || hubs.closed.load(Ordering::SeqCst) == 2).await;

    // The shared socket closes with its last client.
    messaging.close();
    assert_eq!(
        presence.who().await.unwrap(),
        "everyone in lobby",
        "the other module keeps the socket"
    );
    assert!(
        messaging.send(&"late".to_owned()).await.is_err(),
        "a released client cannot call"
    );
    drop(presence);
    eventually("the pooled socket closed with its last client", || {
        hubs.closed.load(Ordering::SeqCst) == 3
    })
    .await;
    eventually("the pool is empty", || pool.is_empty()).await;
    // A new client opens a fresh shared socket.
    let fresh = Client::new(PRESENCE_API, url)
        .query(room())
        .pool(&pool)
        .connect(presence::Handlers::new())
        .await
        .unwrap();
    assert_eq!(fresh.who().await.unwrap(), "everyone in lobby");
    assert_eq!(hubs.opened.load(Ordering::SeqCst), 4);
    assert_eq!(pool.len(), 1);
}

#[test]
fn duplicate_module_names_are_refused() {
    let (ws, _) = hub_server();
    struct Again;
    impl messaging_again::Server for Again {
        async fn other(&self) -> grest_ws::HandlerResult<bool, messaging_again::OtherError> {
            Ok(true)
        }
    }
    const AGAIN_API: WebSocketSchema<MessagingAgain> = HUB_SOCKET.extend();
    match ws.ws(AGAIN_API, |_: Connected<MessagingAgain>| async { Again }).build() {
        Err(BuildError::Refused(problems)) => {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert!(
                problems[0].contains(r#"duplicate extension "Messaging" on extendable contract "Hub""#),
                "{problems:?}"
            );
        }
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn an_unrelated_contract_cannot_share_the_path() {
    let (ws, _) = hub_server();
    struct Hi;
    impl stranger::Server for Hi {
        async fn hi(&self) -> grest_ws::HandlerResult<bool, stranger::HiError> {
            Ok(true)
        }
    }
    const STRANGER_API: WebSocketSchema<Stranger> = WebSocketSchema::new("ws/hub");
    assert!(matches!(
        ws.ws(STRANGER_API, |_: Connected<Stranger>| async { Hi }).build(),
        Err(BuildError::DuplicatePath(path)) if path == "/ws/hub"
    ));
}
