//! The chat of the grest-ts documentation, served by grest-ws on the rooms API: the `Chat` contract at `ws/chat`, a
//! bounded in-memory message ring, and HTTP routes on the same listener (`GET /health`, `GET /metrics`,
//! `GET /api/presence`, the AsyncAPI document of the socket at [`ASYNCAPI_PATH`], and the chat web page with the
//! TypeScript client, see [`web`]).
//!
//! What a connection sees, in order: `k` (connected), a [`History`] push with the last [`HISTORY`] messages (so
//! every reconnect starts from the same list), an [`Online`] push with the number of connections (pushed to
//! everyone whenever a connection opens or closes), then every new [`Message`] as it is posted. Broadcasts go
//! through [`Rooms::all`], which queues one shared frame per connection and never waits for a slow reader.

pub mod web;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use grest_ws::asyncapi::{AsyncApi, AsyncApiInfo};
use grest_ws::server::{Backplane, BuildError, Connected, GrestWs, Rooms, ServerEventReceiver, ServerEvents, Sockets};
use grest_ws::session::NodeId;
use grest_ws::{Permission, ServerError, Validate, ValidationError, WebSocketSchema, contract};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// How many messages the server keeps; older ones (and who read them) are forgotten.
pub const HISTORY: usize = 100;

/// The largest [`History`] push, in bytes of JSON. [`HISTORY`] messages of [`MAX_TEXT`] ordinary characters fit;
/// when the newest ones are bigger (text that JSON escapes to six bytes a character), the push carries only the
/// newest that fit, so it stays well under the clients' 1 MiB message limit.
pub const HISTORY_BYTES: usize = 512 * 1024;

/// The longest message text, in UTF-16 code units (what a browser's `maxlength` counts).
pub const MAX_TEXT: usize = 2000;

/// The server-event channel on which the nodes of a clustered chat tell each other of new messages.
pub const HISTORY_CHANNEL: &str = "chat-history";

/// How many readers a message records; later ones are not recorded.
pub const MAX_READERS: usize = 256;

/// How long `/api/presence` waits for each socket's answer.
pub const PRESENCE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a `/api/presence` answer is reused: requests within this time after a probe (and requests that arrive
/// while a probe is in flight) share it instead of asking every socket again.
pub const PRESENCE_TTL: Duration = Duration::from_secs(1);

/// A chat message as broadcast to every socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Message id.
    pub id: String,
    /// Message text.
    pub text: String,
    /// Who sent it.
    pub sender_id: String,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub timestamp: u64,
}

/// `Chat.sendMessage` input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageRequest {
    /// The text: not empty, at most [`MAX_TEXT`] long.
    #[validate(non_empty, max_length = MAX_TEXT)]
    pub text: String,
    /// The channel.
    #[validate(max_length = 64)]
    pub channel_id: String,
}

/// `Chat.sendMessage` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct SendMessageResponse {
    /// Always `true` on success.
    pub success: bool,
    /// The id of the stored message.
    pub message_id: String,
}

/// `Chat.markAsRead` input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct MarkAsRead {
    /// The message read; recorded only while the message is among the stored ones.
    #[validate(max_length = 64)]
    pub message_id: String,
}

/// `Chat.typing` push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct TypingEvent {
    /// Who is typing.
    pub user_id: String,
    /// Where.
    pub channel_id: String,
}

/// `Chat.history` push: the stored messages, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The last [`HISTORY`] messages (fewer when the chat is younger, or when they exceed [`HISTORY_BYTES`]).
    #[validate(max_length = HISTORY)]
    pub messages: Vec<Message>,
}

/// `Chat.online` push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct Online {
    /// How many connections the chat has.
    pub count: u64,
}

/// The handshake query: `?name=alice` makes `alice` the sender of this socket's messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
pub struct ChatQuery {
    /// The display name; when absent the socket is `user-<n>`.
    #[validate(non_empty, max_length = 32)]
    pub name: Option<String>,
}

contract! {
    /// The `ChatContract` of the grest-ts documentation plus history and an online count: a public socket with one
    /// request, two fire-and-forget messages, four pushes and one server-to-client request, plus an optional display
    /// name in the handshake query.
    pub Chat {
        connect { input: ChatQuery, errors: [ServerError] }
        client_to_server {
            /// Stores and broadcasts a message.
            send_message(SendMessageRequest) -> SendMessageResponse, errors: [ValidationError, ServerError], permission: Permission::Public;
            /// Marks a stored message as read.
            mark_as_read(MarkAsRead), permission: Permission::Public;
            /// Keeps nothing alive; exists because the original contract has it.
            ping(), permission: Permission::Public;
        }
        server_to_client {
            /// A new message, pushed to every socket.
            new_message(Message), permission: Permission::Public;
            /// Someone is typing.
            typing(TypingEvent), permission: Permission::Public;
            /// The stored messages, pushed to each connection when it opens (so on every reconnect), right after
            /// `k`: the client replaces its list with them.
            history(History), permission: Permission::Public;
            /// The number of connections, pushed to everyone when one opens or closes.
            online(Online), permission: Permission::Public;
            /// Presence probe: the client answers `true`.
            are_you_there() -> bool, errors: [ServerError], permission: Permission::Public;
        }
    }
}

/// The chat endpoint.
pub const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");

/// Where the server serves the AsyncAPI document of its socket.
pub const ASYNCAPI_PATH: &str = "/asyncapi.json";

/// The base of the chat's AsyncAPI document (its info); the server adds the socket.
pub fn asyncapi() -> AsyncApi {
    AsyncApi::new(AsyncApiInfo::new("grest-ws chat", "1.0.0").description(
        "The chat of the grest-ts documentation: post messages, mark them read, and get every new message, the last \
         messages on (re)connect, who is typing and how many are online.",
    ))
}

/// The chat's state: the message ring, the endpoint's rooms and the presence cache. Cheap to clone.
#[derive(Clone)]
pub struct ChatState {
    inner: Arc<Inner>,
}

struct Inner {
    rooms: Rooms<Chat>,
    /// In a cluster: tells the other nodes of each message posted here, so every node keeps the whole history.
    peers: Option<ServerEvents<Message>>,
    next_connection: AtomicU64,
    next_message: AtomicU64,
    /// The ring. A post stores and broadcasts under this lock, and a connection takes its history under it, so no
    /// message slips between a new connection's history and its pushes: each is in the history or pushed after
    /// it (or both, when it was pushed just before the history, which the client's list then replaces).
    store: Mutex<VecDeque<Stored>>,
    /// Serializes the online-count broadcasts, so the last one queued carries the latest count.
    online: tokio::sync::Mutex<()>,
    /// The last presence answer; held across a probe, so concurrent requests wait for the one in flight.
    presence: tokio::sync::Mutex<Option<(Instant, usize)>>,
    /// Probes completed: a request that sees it move while it waited takes the answer of the probe it waited for.
    presence_probes: AtomicU64,
    presence_ttl: Duration,
}

/// One stored message: its text, how large its push is, and who read it.
struct Stored {
    message: Message,
    bytes: usize,
    readers: Vec<String>,
}

impl ChatState {
    /// A state for the endpoint whose rooms are `rooms` (`GrestWs::rooms(CHAT_API)`); presence answers are reused
    /// for `presence_ttl`. In a cluster, `peers` is the [`HISTORY_CHANNEL`] on which the nodes tell each other of
    /// the messages posted on them (and [`ChatState::follow`] takes the other end).
    pub fn new(rooms: Rooms<Chat>, peers: Option<ServerEvents<Message>>, presence_ttl: Duration) -> Self {
        ChatState {
            inner: Arc::new(Inner {
                rooms,
                peers,
                next_connection: AtomicU64::new(0),
                next_message: AtomicU64::new(0),
                store: Mutex::new(VecDeque::with_capacity(HISTORY)),
                online: tokio::sync::Mutex::new(()),
                presence: tokio::sync::Mutex::new(None),
                presence_probes: AtomicU64::new(0),
                presence_ttl,
            }),
        }
    }

    /// The stored messages (at most [`HISTORY`]), oldest first.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.inner.store).iter().map(|s| s.message.clone()).collect()
    }

    /// Who has read a stored message (each reader once, at most [`MAX_READERS`]); empty for any other id.
    pub fn readers(&self, message_id: &str) -> Vec<String> {
        lock(&self.inner.store)
            .iter()
            .find(|s| s.message.id == message_id)
            .map(|s| s.readers.clone())
            .unwrap_or_default()
    }

    /// The number of connected sockets.
    pub async fn connected(&self) -> usize {
        self.inner.rooms.connections().await
    }

    /// Stores a message (forgetting the oldest beyond [`HISTORY`]) and queues it for every connected socket,
    /// serialized once; in a cluster, the other nodes are told and do the same for theirs.
    pub fn post(&self, text: String, sender_id: String) -> Result<Message, ServerError> {
        let message = {
            // Numbered under the lock, so the history holds the messages in the order of their ids.
            let mut store = lock(&self.inner.store);
            let n = self.inner.next_message.fetch_add(1, Ordering::Relaxed) + 1;
            let message = Message {
                // Unique across the nodes of a cluster.
                id: match &self.inner.peers {
                    Some(_) => format!("m{n}-{}", NodeId::current()),
                    None => format!("m{n}"),
                },
                text,
                sender_id,
                timestamp: grest_ws::protocol::error::now_millis(),
            };
            self.store_and_push(&mut store, &message)?;
            message
        };
        if let Some(peers) = &self.inner.peers
            && let Err(error) = peers.publish(&message)
        {
            tracing::warn!(%error, id = message.id, "the other nodes were not told of a message");
        }
        Ok(message)
    }

    /// Stores the messages other nodes post and pushes each to this node's sockets; returns when the node's server
    /// is gone. In a cluster, run it on a task of its own with the receiving end of `peers` (see [`ChatState::new`]).
    pub async fn follow(&self, mut incoming: ServerEventReceiver<Message>) {
        while let Some(message) = incoming.recv().await {
            if let Err(error) = self.store_and_push(&mut lock(&self.inner.store), &message) {
                tracing::warn!(%error, id = message.id, "a message from another node was not stored");
            }
        }
    }

    /// Stores `message` in `store` (the locked ring, see `Inner::store`) and queues it for this node's sockets.
    fn store_and_push(&self, store: &mut VecDeque<Stored>, message: &Message) -> Result<(), ServerError> {
        let prepared = chat::Peer::prepare_new_message(message)?;
        if store.len() == HISTORY {
            store.pop_front();
        }
        store.push_back(Stored {
            message: message.clone(),
            bytes: prepared.as_str().len(),
            readers: Vec::new(),
        });
        self.inner.rooms.all().local().send(&prepared);
        Ok(())
    }

    /// Records that `reader` read `message_id`, if that message is stored; `false` when it is not.
    pub fn mark_read(&self, message_id: &str, reader: &str) -> bool {
        let mut store = lock(&self.inner.store);
        let Some(stored) = store.iter_mut().find(|s| s.message.id == message_id) else {
            return false;
        };
        if stored.readers.len() < MAX_READERS && !stored.readers.iter().any(|r| r == reader) {
            stored.readers.push(reader.to_owned());
        }
        true
    }

    /// Queues the history for one connection (taken under the store lock, see `Inner::store`).
    fn push_history(&self, peer: &chat::Peer) {
        let store = lock(&self.inner.store);
        let mut bytes = 0;
        let fitting = store
            .iter()
            .rev()
            .take_while(|s| {
                bytes += s.bytes;
                bytes <= HISTORY_BYTES
            })
            .count();
        let history = History {
            messages: store
                .iter()
                .skip(store.len() - fitting)
                .map(|s| s.message.clone())
                .collect(),
        };
        if let Err(error) = peer.try_history(&history) {
            tracing::debug!(%error, "history not queued");
        }
    }

    /// Pushes the number of connections to every connection.
    async fn announce_online(&self) {
        let _turn = self.inner.online.lock().await;
        let count = self.inner.rooms.connections().await as u64;
        match chat::Peer::prepare_online(&Online { count }) {
            Ok(online) => {
                self.inner.rooms.all().send(&online);
            }
            Err(error) => tracing::error!(%error, "the online count failed to serialize"),
        }
    }

    /// Asks every socket (of every node, in a cluster) `areYouThere` and counts the `true` answers within
    /// [`PRESENCE_TIMEOUT`]. One probe at a
    /// time: a request that arrives while one is in flight waits for it and takes its answer, and an answer is
    /// reused for the state's presence TTL ([`PRESENCE_TTL`] by default).
    pub async fn presence(&self) -> usize {
        let probes_before = self.inner.presence_probes.load(Ordering::Acquire);
        let mut last = self.inner.presence.lock().await;
        if let Some((at, online)) = *last {
            let waited_for_one = self.inner.presence_probes.load(Ordering::Acquire) != probes_before;
            if waited_for_one || at.elapsed() < self.inner.presence_ttl {
                return online;
            }
        }
        // Every socket, on every node when the chat runs as a cluster.
        let answers = match chat::Peer::prepare_are_you_there() {
            Ok(probe) => self.inner.rooms.all().gather_request(&probe, PRESENCE_TIMEOUT).await,
            Err(error) => {
                tracing::error!(%error, "the presence probe failed to serialize");
                Vec::new()
            }
        };
        let online = answers
            .iter()
            .filter(|(_, answer)| matches!(answer, Some(Ok(true))))
            .count();
        *last = Some((Instant::now(), online));
        self.inner.presence_probes.fetch_add(1, Ordering::Release);
        online
    }

    /// Sets up a new connection: its history, the new online count for everyone, and the count again when it
    /// closes.
    async fn open(&self, conn: Connected<Chat>) -> ChatSession {
        let id = self.inner.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
        // The server sends `k` when this handler returns, and the connection's queue is written only after it, so
        // these pushes reach the client after `k`, when its handlers are in place.
        self.push_history(&conn.peer);
        self.announce_online().await;
        let state = self.clone();
        // The rooms drop a connection in an on-close hook registered before this handler ran; hooks run in order,
        // so by now this connection is no longer counted.
        conn.peer.handle().on_close(move || {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move { state.announce_online().await });
            }
        });
        ChatSession {
            state: self.clone(),
            user_id: conn.query.name.unwrap_or_else(|| format!("user-{id}")),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One connected socket.
pub struct ChatSession {
    state: ChatState,
    user_id: String,
}

impl chat::Server for ChatSession {
    async fn send_message(
        &self,
        input: SendMessageRequest,
    ) -> grest_ws::HandlerResult<SendMessageResponse, chat::SendMessageError> {
        let message = self.state.post(input.text, self.user_id.clone())?;
        Ok(SendMessageResponse {
            success: true,
            message_id: message.id,
        })
    }

    async fn mark_as_read(&self, input: MarkAsRead) {
        self.state.mark_read(&input.message_id, &self.user_id);
    }

    async fn ping(&self) {}
}

/// Presence answer of `GET /api/presence`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Presence {
    /// Sockets that answered `areYouThere` with `true`.
    pub online: usize,
}

/// The whole application: the chat socket, the page and the HTTP routes on one router, its live sockets (for a
/// graceful shutdown that closes them with 1001) and its state.
#[non_exhaustive]
pub struct ChatApp {
    /// Serve this.
    pub router: Router,
    /// The live sockets.
    pub sockets: Sockets,
    /// The messages and the endpoint's rooms.
    pub state: ChatState,
}

/// Builds the application with [`PRESENCE_TTL`].
pub fn app() -> Result<ChatApp, BuildError> {
    app_with_presence_ttl(PRESENCE_TTL)
}

/// Builds the application with another presence TTL (`Duration::ZERO`: only requests that arrive while a probe is
/// in flight share it).
pub fn app_with_presence_ttl(presence_ttl: Duration) -> Result<ChatApp, BuildError> {
    app_on(GrestWs::new(), None, presence_ttl)
}

/// Builds the application as one node of a cluster sharing rooms through `backplane`: messages, their history, the
/// online count and `/api/presence` span every node (who read a message is each node's own). Call it inside a Tokio
/// runtime.
pub fn clustered_app(backplane: impl Backplane) -> Result<ChatApp, BuildError> {
    let server = GrestWs::new().backplane(backplane);
    let (peers, incoming) = server.server_events(HISTORY_CHANNEL);
    let app = app_on(server, Some(peers), PRESENCE_TTL)?;
    let state = app.state.clone();
    tokio::spawn(async move { state.follow(incoming).await });
    Ok(app)
}

fn app_on(
    server: GrestWs,
    peers: Option<ServerEvents<Message>>,
    presence_ttl: Duration,
) -> Result<ChatApp, BuildError> {
    let state = ChatState::new(server.rooms(CHAT_API), peers, presence_ttl);
    let ws_state = state.clone();
    let ws = server
        .asyncapi(ASYNCAPI_PATH, asyncapi())
        .ws(CHAT_API, move |conn: Connected<Chat>| {
            let state = ws_state.clone();
            async move { state.open(conn).await }
        });
    let sockets = ws.sockets();
    // The recorder first: `build` hands it the metrics' descriptions (`# HELP`).
    let metrics = metrics_handle();
    let routes = ws.build()?;
    let presence_state = state.clone();
    let router = web::routes()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route(
            "/api/presence",
            get(move || {
                let state = presence_state.clone();
                async move {
                    Json(Presence {
                        online: state.presence().await,
                    })
                }
            }),
        )
        .merge(routes);
    Ok(ChatApp { router, sockets, state })
}

/// The process's Prometheus recorder (installed on first use), with the original's histogram buckets.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let request = Matcher::Full("websocket_request_duration_ms".into());
            let out = Matcher::Full("websocket_out_request_duration_ms".into());
            PrometheusBuilder::new()
                .set_buckets_for_metric(request, grest_ws::server::metrics::REQUEST_DURATION_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(out, grest_ws::server::metrics::OUT_REQUEST_DURATION_BUCKETS))
                .expect("bucket lists are not empty")
                .install_recorder()
                .expect("the chat example installs the only metrics recorder")
        })
        .clone()
}

/// The exit of a chat program: success, or `error: <message>` on stderr and exit code 1.
pub fn exit_with(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
