//! Drives one grest-ws session over a WebSocket — typed (inbound dispatch by exact path, request/reply
//! correlation, bounded in-flight handlers) or raw (opaque frames) — with an outbound mailbox per connection (a
//! byte budget, a [`SlowConsumer`] policy that never blocks the pusher, everything pending written with one
//! vectored write) and close handling. Shared by the server and the client, so both ends behave the same on the
//! wire.
//!
//! Most users reach these items through the [`grest-ws`](https://docs.rs/grest-ws) umbrella crate (`grest_ws::session`
//! and the root), and meet this crate through its settings: the limits of every session, which the server takes
//! per endpoint and the client per connection.
//!
//! ```
//! use std::time::Duration;
//!
//! use grest_ws_session::{Heartbeat, SessionConfig, SlowConsumer};
//!
//! // A price feed: a reader that falls 256 KiB behind loses its oldest pushes instead of its connection.
//! let feed = SessionConfig::default()
//!     .outbound_budget(256 * 1024)
//!     .slow_consumer(SlowConsumer::DropOldest)
//!     .request_timeout(Duration::from_secs(10))
//!     .heartbeat(Some(Heartbeat { interval: Duration::from_secs(15), timeout: Duration::from_secs(10) }));
//! assert_eq!(feed.max_message_size, 1024 * 1024); // the rest keeps its defaults
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

/// `tracing::warn!` for a line a peer can provoke at will: within a process-wide budget of 10 lines per second for
/// this call site; the rest go to debug, and the first line after a held-back run is preceded by one that says how
/// many were held back.
macro_rules! warn_limited {
    ($($arg:tt)+) => {{
        static LIMIT: $crate::LogLimit = $crate::LogLimit::new(10);
        match LIMIT.admit() {
            Some(0) => tracing::warn!($($arg)+),
            Some(suppressed) => {
                tracing::warn!(suppressed, "rate limit: {suppressed} warnings like the next were logged at debug level");
                tracing::warn!($($arg)+)
            }
            None => tracing::debug!($($arg)+),
        }
    }};
}

mod dispatch;
mod engine;
mod io;
mod live;
mod log_limit;
mod observe;
mod outbound;
mod peer;
mod raw;
pub mod websocket;

use std::time::Duration;

pub use dispatch::{
    BoxFuture, Call, ConnectWith, ContractDispatch, Dispatch, DuplexContract, OwnedDispatch, Route, Router, Routes,
    ServeWith, ServerToClientMethod, ServerToClientRequest, error_to_send,
};
pub use engine::{Session, SessionEnd, close_socket};
pub use grest_ws_core::envelope::Envelope;
pub use io::QueuedIo;
pub use live::{LiveHandlers, PartialHandlers};
pub use log_limit::LogLimit;
pub use observe::{ConnectionContext, MessageContext, Observer, current_message};
pub use outbound::{CLOSE_SLOW_CONSUMER, PushError, SendError, SlowConsumer};
#[doc(hidden)]
pub use peer::Wiring;
pub use peer::{ConnectionId, LogMode, NodeId, Outbox, PeerHandle, PreparedMessage, PreparedRequest};
pub use raw::{RAW_PING, RAW_PONG, RawControl, RawMessage, RawSender, RawSession};
pub use websocket::{CloseFrame, Message, Role, WebSocket, WsError};

/// What the code `contract!` generates calls, and nothing else should: not an API, and free to change with the
/// macro.
#[doc(hidden)]
pub mod __macro_support {
    pub use crate::dispatch::{decode_input, ok_without_data, reply};
}

/// Per-session limits; each field names its default (see also docs/protocol.md §2.4).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// Concurrent in-flight handlers before the session stops reading (backpressure). Default 64.
    pub max_in_flight: usize,
    /// How long an outgoing request waits for its reply. Default 30 s.
    pub request_timeout: Duration,
    /// How long queued output may wait for the socket to accept a single byte before the peer counts as a slow
    /// consumer and is closed (1013). Default 10 s.
    pub write_timeout: Duration,
    /// How long a closing socket gets to deliver its Close frame and hear the answer before the TCP connection
    /// is dropped. Default 5 s.
    pub close_timeout: Duration,
    /// Bytes a connection may have queued and not yet written (pushes, requests, replies, raw frames) before a push
    /// counts as too much for this reader; see [`SlowConsumer`]. A single frame larger than the budget still
    /// goes out when nothing else is queued. Replies never trip it: past the budget the session stops reading
    /// requests instead. Default 1 MiB.
    pub outbound_budget: usize,
    /// What a connection (typed or raw) does when a push exceeds [`SessionConfig::outbound_budget`]. Default
    /// [`SlowConsumer::Close`].
    pub slow_consumer: SlowConsumer,
    /// Largest accepted message; larger ones close the socket with 1009. Default 1 MiB.
    pub max_message_size: usize,
    /// Protocol pings and the dead-peer deadline; `None` disables. Default 25 s + 20 s.
    pub heartbeat: Option<Heartbeat>,
}

/// Liveness: a protocol ping every `interval`; a peer from which nothing at all arrived for
/// `interval + timeout` is dead and its TCP connection is dropped at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Time between pings. Default 25 s.
    pub interval: Duration,
    /// Extra silence tolerated after an interval. Default 20 s.
    pub timeout: Duration,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            interval: Duration::from_secs(25),
            timeout: Duration::from_secs(20),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_in_flight: 64,
            request_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            outbound_budget: 1 << 20,
            slow_consumer: SlowConsumer::Close,
            max_message_size: 1 << 20,
            heartbeat: Some(Heartbeat::default()),
        }
    }
}

impl SessionConfig {
    /// Sets [`SessionConfig::max_in_flight`].
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets [`SessionConfig::request_timeout`].
    #[must_use]
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::write_timeout`].
    #[must_use]
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::close_timeout`].
    #[must_use]
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`SessionConfig::outbound_budget`] (bytes).
    #[must_use]
    pub fn outbound_budget(mut self, bytes: usize) -> Self {
        self.outbound_budget = bytes.max(1);
        self
    }

    /// Sets [`SessionConfig::slow_consumer`].
    #[must_use]
    pub fn slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Sets [`SessionConfig::heartbeat`] (`None` disables it).
    #[must_use]
    pub fn heartbeat(mut self, heartbeat: Option<Heartbeat>) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// Sets [`SessionConfig::max_message_size`].
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }
}
