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
use grest_ws_core::auth::{Outbound, Wire};
use grest_ws_core::error::INVALID_QUERY;
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::{Direction, GrestError, ValidationError, WebSocketSchema, WireError};
use grest_ws_session::{DuplexContract, Routes, Session, SessionConfig};
use serde_json::{Map, Value};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

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
    /// The server answered the upgrade with this HTTP status instead (404 unknown path, 403 Origin refused).
    #[error("upgrade refused with HTTP status {0}")]
    Refused(u16),
    /// The URL, TCP connection or WebSocket upgrade failed.
    #[error("connection failed: {0}")]
    Transport(String),
}

/// Client-side transport middleware: writes handshake headers, upgrade cookies or query parameters before each
/// connection attempt (the original's `update(outbound)`).
pub trait ClientMiddleware: Send + Sync + 'static {
    /// Adds what this middleware sends.
    fn update(&self, outbound: &mut Outbound);
}

/// Connects a typed client to one endpoint.
#[must_use]
pub struct Client<C: DuplexContract> {
    schema: WebSocketSchema<C>,
    base_url: String,
    query: Option<C::Query>,
    credentials: Vec<(Wire, String)>,
    middleware: Vec<Box<dyn ClientMiddleware>>,
    upgrade_headers: Vec<(String, String)>,
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
            credentials: Vec::new(),
            middleware: Vec::new(),
            upgrade_headers: Vec::new(),
            config: ClientConfig::default(),
        }
    }

    /// The typed handshake query, sent in the upgrade URL.
    pub fn query(mut self, query: C::Query) -> Self {
        self.query = Some(query);
        self
    }

    /// The credential for one of the schema's wires: a header wire writes it into the `h` frame (`Bearer <v>` for
    /// bearer wires), a query wire into the upgrade URL, a cookie wire into the upgrade's `Cookie` header.
    pub fn credential(mut self, wire: Wire, value: impl Into<String>) -> Self {
        self.credentials.push((wire, value.into()));
        self
    }

    /// A handshake header, sent in the `h` frame (names are lower-cased).
    pub fn header(self, name: &str, value: impl Into<String>) -> Self {
        self.middleware(StaticHeader(name.to_ascii_lowercase(), value.into()))
    }

    /// Adds a middleware; middleware runs after the credentials, in the order added.
    pub fn middleware(mut self, middleware: impl ClientMiddleware) -> Self {
        self.middleware.push(Box::new(middleware));
        self
    }

    /// An extra header on the HTTP upgrade request (e.g. `Origin`).
    pub fn upgrade_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.upgrade_headers.push((name.to_owned(), value.into()));
        self
    }

    /// Replaces the settings.
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The full URL this client connects to, with the query validated like the server will.
    pub fn url(&self) -> Result<String, ConnectError> {
        self.url_with(&self.outbound())
    }

    /// What the credentials and middleware write, in order.
    fn outbound(&self) -> Outbound {
        let mut outbound = Outbound::default();
        for (wire, value) in &self.credentials {
            wire.update(&mut outbound, value);
        }
        for middleware in &self.middleware {
            middleware.update(&mut outbound);
        }
        outbound
    }

    fn url_with(&self, outbound: &Outbound) -> Result<String, ConnectError> {
        let pairs = self.query.as_ref().map(query_pairs).unwrap_or_default();
        C::decode_query(pairs.clone()).map_err(|issues| {
            ConnectError::InvalidQuery(ValidationError::with_display_message(issues, INVALID_QUERY))
        })?;
        let mut url = format!("{}{}", self.base_url.trim_end_matches('/'), self.schema.route_path());
        if !pairs.is_empty() || !outbound.query.is_empty() {
            url.push('?');
            url.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.iter().chain(&outbound.query))
                    .finish(),
            );
        }
        Ok(url)
    }

    /// The HTTP upgrade request: the URL plus cookies and extra headers.
    fn upgrade_request(&self, outbound: &Outbound) -> Result<http::Request<()>, ConnectError> {
        let transport = |e: &dyn std::fmt::Display| ConnectError::Transport(e.to_string());
        let mut request = self
            .url_with(outbound)?
            .into_client_request()
            .map_err(|e| transport(&e))?;
        let headers = request.headers_mut();
        if !outbound.cookies.is_empty() {
            let cookie = outbound
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.insert(http::header::COOKIE, cookie.parse().map_err(|e| transport(&e))?);
        }
        for (name, value) in &self.upgrade_headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| transport(&e))?;
            headers.append(name, value.parse().map_err(|e| transport(&e))?);
        }
        Ok(request)
    }

    /// Opens the socket, runs the handshake, and starts the session with `handlers` answering server messages.
    /// Resolves to the typed client once the server has sent `k`.
    pub async fn connect(self, handlers: C::Handlers) -> Result<C::Client, ConnectError> {
        let outbound = self.outbound();
        let request = self.upgrade_request(&outbound)?;
        let config = self.config.session.websocket_config();
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    ConnectError::Refused(response.status().as_u16())
                }
                other => ConnectError::Transport(other.to_string()),
            })?;
        let headers: Map<String, Value> = outbound
            .headers
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        let hello = frame::frame(
            FrameKind::Handshake,
            "",
            None,
            Some(&Value::Object(headers).to_string()),
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

/// A fixed handshake header.
struct StaticHeader(String, String);

impl ClientMiddleware for StaticHeader {
    fn update(&self, outbound: &mut Outbound) {
        outbound.headers.insert(self.0.clone(), self.1.clone());
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
