//! What a session tells the outside world: an [`Observer`] for metrics and logs, and the task-local
//! [`MessageContext`] that handlers read (the original's `GG_WS_MESSAGE` / `GG_WS_CONNECTION`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use grest_ws_core::auth::WireContext;

use crate::SessionEnd;

/// Receives a session's events; the server installs one per endpoint (metrics), clients usually none.
/// Every method has an empty default.
pub trait Observer: Send + Sync + 'static {
    /// An inbound `r` or `m` was handled: its path (`None` when no handler has it; the result is then
    /// `ROUTE_NOT_FOUND`), its result (`OK` or an error type) and how long the handler took.
    fn inbound(&self, _path: Option<&'static str>, _result: &str, _elapsed: Duration) {}

    /// An outbound request or message finished: its path, its result (`OK`, an error type, or
    /// `CONNECTION_CLOSED`) and, for requests, the round-trip time.
    fn outbound(&self, _path: &'static str, _result: &str, _elapsed: Option<Duration>) {}

    /// Outbound frames were dropped because the peer did not read them: pushes past the budget under
    /// [`crate::SlowConsumer::DropOldest`], or the queue of a connection closed as a slow consumer (or that ended
    /// with frames still queued).
    fn dropped(&self, _frames: u64) {}

    /// The socket ended.
    fn ended(&self, _end: &SessionEnd) {}
}

/// Facts about the connection a message arrived on.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ConnectionContext {
    /// Server: the endpoint path (`/ws/chat`); client: the base URL.
    pub path: String,
    /// Server: the local port the connection arrived on; client: `None`.
    pub port: Option<u16>,
    /// Server: the peer's address; client: `None`.
    pub remote_addr: Option<SocketAddr>,
    /// Server: what the handshake's wires produced — principals per wire, ambient wire values; client: empty.
    pub wires: WireContext,
}

impl ConnectionContext {
    /// A connection context with no peer address and no wire context.
    pub fn new(path: impl Into<String>, port: Option<u16>) -> Self {
        ConnectionContext {
            path: path.into(),
            port,
            ..ConnectionContext::default()
        }
    }

    /// With the peer's address.
    #[must_use]
    pub fn remote_addr(mut self, remote_addr: Option<SocketAddr>) -> Self {
        self.remote_addr = remote_addr;
        self
    }

    /// With what the handshake's wires produced.
    #[must_use]
    pub fn wires(mut self, wires: WireContext) -> Self {
        self.wires = wires;
        self
    }
}

/// The message being handled, available to handler code through [`current_message`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MessageContext {
    /// The message path (`Chat.sendMessage`).
    pub path: &'static str,
    /// The connection it arrived on.
    pub connection: Arc<ConnectionContext>,
}

tokio::task_local! {
    static MESSAGE: MessageContext;
}

/// The message whose handler is running, if called from one (a handler's own future, not tasks it spawns).
pub fn current_message() -> Option<MessageContext> {
    MESSAGE.try_with(Clone::clone).ok()
}

/// Runs one poll of a handler with its message context set.
pub(crate) fn poll_in_context<R>(context: MessageContext, poll: impl FnOnce() -> R) -> R {
    MESSAGE.sync_scope(context, poll)
}
