//! The seed's chat, served by grest-ws: the `Chat` contract at `ws/chat`, an in-memory message store, broadcast to
//! every connected socket, and HTTP routes on the same listener (`GET /health`, `GET /api/presence`, and the chat
//! web page with the TypeScript client, see [`web`]).

pub mod web;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use grest_ws::server::{BuildError, Connected, GrestWs, Sockets};
use grest_ws::{Permission, ServerError, Validate, ValidationError, WebSocketSchema, contract};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;

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
    /// The text; must not be empty.
    #[validate(non_empty)]
    pub text: String,
    /// The channel.
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
    /// The message read.
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

/// The handshake query: `?name=alice` makes `alice` the sender of this socket's messages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
pub struct ChatQuery {
    /// The display name; when absent the socket is `user-<n>`.
    #[validate(non_empty, max_length = 32)]
    pub name: Option<String>,
}

contract! {
    /// The seed's `ChatContract`: a public socket with one request, two fire-and-forget messages, two pushes and
    /// one server-to-client request, plus an optional display name in the handshake query.
    pub Chat {
        connect { input: ChatQuery, errors: [ServerError] }
        client_to_server {
            /// Stores and broadcasts a message.
            send_message(SendMessageRequest) -> SendMessageResponse, errors [ValidationError, ServerError], permission Permission::Public;
            /// Marks a message as read.
            mark_as_read(MarkAsRead), permission Permission::Public;
            /// Keeps nothing alive; exists because the seed has it.
            ping(), permission Permission::Public;
        }
        server_to_client {
            /// A new message, pushed to every socket.
            new_message(Message), permission Permission::Public;
            /// Someone is typing.
            typing(TypingEvent), permission Permission::Public;
            /// Presence probe: the client answers `true`.
            are_you_there() -> bool, errors [ServerError], permission Permission::Public;
        }
    }
}

/// The chat endpoint.
pub const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");

/// How long `/api/presence` waits for each socket's answer.
pub const PRESENCE_TIMEOUT: Duration = Duration::from_secs(2);

/// The shared state: stored messages and the connected sockets.
#[derive(Clone, Default)]
pub struct ChatState {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next_connection: AtomicU64,
    next_message: AtomicU64,
    messages: Mutex<Vec<Message>>,
    read: Mutex<HashMap<String, Vec<String>>>,
    peers: Mutex<HashMap<u64, chat::Peer>>,
}

impl ChatState {
    /// Every stored message, oldest first.
    pub fn messages(&self) -> Vec<Message> {
        lock(&self.inner.messages).clone()
    }

    /// Who has read a message.
    pub fn readers(&self, message_id: &str) -> Vec<String> {
        lock(&self.inner.read).get(message_id).cloned().unwrap_or_default()
    }

    /// The number of connected sockets.
    pub fn connected(&self) -> usize {
        lock(&self.inner.peers).len()
    }

    fn peers(&self) -> Vec<chat::Peer> {
        lock(&self.inner.peers).values().cloned().collect()
    }

    fn store(&self, text: String, sender_id: String) -> Message {
        let n = self.inner.next_message.fetch_add(1, Ordering::Relaxed) + 1;
        let message = Message {
            id: format!("m{n}"),
            text,
            sender_id,
            timestamp: grest_ws::protocol::error::now_millis(),
        };
        lock(&self.inner.messages).push(message.clone());
        message
    }

    /// Sends a message to every connected socket (serialized once for everyone); a socket that is gone is
    /// skipped.
    pub async fn broadcast(&self, message: &Message) {
        let prepared = match chat::Peer::prepare_new_message(message) {
            Ok(prepared) => prepared,
            Err(error) => return tracing::error!(%error, "a stored message failed to serialize"),
        };
        for peer in self.peers() {
            if let Err(error) = peer.send_prepared(&prepared).await {
                tracing::debug!(%error, "broadcast skipped a closed socket");
            }
        }
    }

    /// Asks every socket `areYouThere` and counts the `true` answers within [`PRESENCE_TIMEOUT`].
    pub async fn presence(&self) -> usize {
        let asks = self.peers().into_iter().map(|peer| async move {
            matches!(
                tokio::time::timeout(PRESENCE_TIMEOUT, peer.are_you_there()).await,
                Ok(Ok(true))
            )
        });
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .filter(|&there| there)
            .count()
    }

    /// Registers a new connection and returns its session.
    fn connect(&self, conn: Connected<Chat>) -> ChatSession {
        let id = self.inner.next_connection.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.inner.peers).insert(id, conn.peer.clone());
        let state = self.clone();
        conn.peer.handle().on_close(move || {
            lock(&state.inner.peers).remove(&id);
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
    async fn send_message(&self, input: SendMessageRequest) -> Result<SendMessageResponse, chat::SendMessageError> {
        let message = self.state.store(input.text, self.user_id.clone());
        self.state.broadcast(&message).await;
        Ok(SendMessageResponse {
            success: true,
            message_id: message.id,
        })
    }

    async fn mark_as_read(&self, input: MarkAsRead) {
        lock(&self.state.inner.read)
            .entry(input.message_id)
            .or_default()
            .push(self.user_id.clone());
    }

    async fn ping(&self) {}
}

/// Presence answer of `GET /api/presence`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Presence {
    /// Sockets that answered `areYouThere` with `true`.
    pub online: usize,
}

/// The whole application: the chat socket and the HTTP routes, on one router.
pub fn app(state: ChatState) -> Result<Router, BuildError> {
    app_with_sockets(state).map(|(router, _)| router)
}

/// The application and its live sockets (for a graceful shutdown that closes them with 1001).
pub fn app_with_sockets(state: ChatState) -> Result<(Router, Sockets), BuildError> {
    let ws_state = state.clone();
    let ws = GrestWs::new().ws(CHAT_API, move |conn: Connected<Chat>| {
        let session = ws_state.connect(conn);
        async move { session }
    });
    let live = ws.sockets();
    let sockets = ws.build()?;
    let metrics = metrics_handle();
    let router = web::routes()
        .route("/health", get(|| async { "ok" }))
        .route("/metrics", get(move || std::future::ready(metrics.render())))
        .route(
            "/api/presence",
            get(move || {
                let state = state.clone();
                async move {
                    Json(Presence {
                        online: state.presence().await,
                    })
                }
            }),
        )
        .merge(sockets);
    Ok((router, live))
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
