//! The grest-ws native client (tokio): connect to a typed endpoint, call client-to-server methods with typed
//! results, and answer server-to-client messages with partial handlers.
//!
//! ```ignore
//! let client = Client::new(CHAT_API, "ws://127.0.0.1:3000")
//!     .connect(chat::Handlers::new().on_are_you_there(|| async { Ok(true) }))
//!     .await?;
//! let reply = client.send_message(&SendMessageRequest { text: "hi".into(), channel_id: "general".into() }).await?;
//! ```

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use grest_ws_core::error::INVALID_QUERY;
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::{Direction, GrestError, ValidationError, WebSocketSchema, WireError};
use grest_ws_session::{DuplexContract, Routes, Session, SessionConfig};
use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

/// Client settings (DESIGN.md §7 defaults).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// How long to wait for the server's `k`/`x` after sending `h`. Default 5 s.
    pub handshake_timeout: Duration,
    /// Per-session limits (request timeout 30 s, …).
    pub session: SessionConfig,
}

impl ClientConfig {
    /// Sets the handshake timeout.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the per-session limits.
    #[must_use]
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            handshake_timeout: Duration::from_secs(5),
            session: SessionConfig::default(),
        }
    }
}

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The query failed the contract's validation; nothing was sent.
    #[error("invalid query: {0}")]
    InvalidQuery(ValidationError),
    /// The server rejected the handshake with this error (`x` frame).
    #[error("handshake rejected: {0}")]
    Rejected(WireError),
    /// The server closed the socket during the handshake (4000 = invalid query).
    #[error("closed during the handshake with code {code:?}: {reason}")]
    Closed {
        /// The close code, if any.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
    /// No `k` or `x` within the handshake timeout.
    #[error("handshake timeout")]
    Timeout,
    /// The URL, TCP connection or WebSocket upgrade failed.
    #[error("connection failed: {0}")]
    Transport(String),
}

/// Connects a typed client to one endpoint.
#[must_use]
pub struct Client<C: DuplexContract> {
    schema: WebSocketSchema<C>,
    base_url: String,
    query: Option<C::Query>,
    headers: Map<String, Value>,
    config: ClientConfig,
}

impl<C: DuplexContract> std::fmt::Debug for Client<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("path", &self.schema.path())
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl<C: DuplexContract> Client<C> {
    /// A client for `schema` at `base_url` (`ws://host:port`).
    pub fn new(schema: WebSocketSchema<C>, base_url: impl Into<String>) -> Self {
        Client {
            schema,
            base_url: base_url.into(),
            query: None,
            headers: Map::new(),
            config: ClientConfig::default(),
        }
    }

    /// The typed handshake query, sent in the upgrade URL.
    pub fn query(mut self, query: C::Query) -> Self {
        self.query = Some(query);
        self
    }

    /// A handshake header, sent in the `h` frame (names are lower-cased).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers
            .insert(name.to_ascii_lowercase(), Value::String(value.into()));
        self
    }

    /// Replaces the settings.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The full URL this client connects to, with the query validated like the server will.
    pub fn url(&self) -> Result<String, ConnectError> {
        let pairs = self.query.as_ref().map(query_pairs).unwrap_or_default();
        C::decode_query(pairs.clone()).map_err(|issues| {
            ConnectError::InvalidQuery(ValidationError::with_display_message(issues, INVALID_QUERY))
        })?;
        let mut url = format!("{}{}", self.base_url.trim_end_matches('/'), self.schema.route_path());
        if !pairs.is_empty() {
            url.push('?');
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish(),
            );
        }
        Ok(url)
    }

    /// Opens the socket, runs the handshake, and starts the session with `handlers` answering server messages.
    /// Resolves to the typed client once the server has sent `k`.
    pub async fn connect(self, handlers: C::Handlers) -> Result<C::Client, ConnectError> {
        let url = self.url()?;
        let (mut ws, _) =
            tokio_tungstenite::connect_async_with_config(&url, Some(self.config.session.websocket_config()), true)
                .await
                .map_err(|e| ConnectError::Transport(e.to_string()))?;
        let hello = frame::frame(
            FrameKind::Handshake,
            "",
            None,
            Some(&Value::Object(self.headers).to_string()),
        );
        ws.send(Message::text(hello))
            .await
            .map_err(|e| ConnectError::Transport(e.to_string()))?;
        let deadline = Instant::now() + self.config.handshake_timeout;
        loop {
            let message = match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return Err(ConnectError::Timeout),
                Ok(None) => {
                    return Err(ConnectError::Closed {
                        code: None,
                        reason: String::new(),
                    });
                }
                Ok(Some(Err(e))) => return Err(ConnectError::Transport(e.to_string())),
                Ok(Some(Ok(message))) => message,
            };
            let text = match &message {
                Message::Text(text) => text.as_str(),
                Message::Close(frame) => {
                    return Err(ConnectError::Closed {
                        code: frame.as_ref().map(|f| u16::from(f.code)),
                        reason: frame.as_ref().map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                _ => continue,
            };
            match Frame::parse(text) {
                Some(f) if f.kind == FrameKind::HandshakeOk => break,
                Some(f) if f.kind == FrameKind::HandshakeErr => {
                    return Err(ConnectError::Rejected(handshake_error(f.data)));
                }
                _ => tracing::debug!("ignored a frame while waiting for the handshake answer"),
            }
        }
        let session = Session::new(self.config.session.clone());
        let client = C::Client::from(session.owning_handle());
        tokio::spawn(async move {
            let routes = Routes::new(C::META, Direction::ServerToClient);
            let end = session.run(ws, &routes, &handlers).await;
            tracing::debug!(?end, "client session ended");
        });
        Ok(client)
    }
}

/// The error of an `x` frame: a grest error envelope, or `SERVER_ERROR` "WebSocket handshake failed".
fn handshake_error(data: Option<&str>) -> WireError {
    data.and_then(|d| serde_json::from_str::<WireError>(d).ok())
        .unwrap_or_else(|| grest_ws_core::ServerError::with_display_message("WebSocket handshake failed").to_wire())
}

/// A query value as URL pairs: strings as they are, other scalars as JSON text, arrays as repeated keys.
fn query_pairs<Q: serde::Serialize>(query: &Q) -> Vec<(String, String)> {
    let Ok(Value::Object(object)) = serde_json::to_value(query) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for (key, value) in object {
        let values = match value {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
            pairs.push((key.clone(), text));
        }
    }
    pairs
}
