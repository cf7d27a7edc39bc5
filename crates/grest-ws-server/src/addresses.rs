//! The two ends of the TCP connection a WebSocket arrived on: recorded on the request by [`Serve`](crate::Serve)
//! (over TLS too), read from the upgraded socket when the router runs under a plain `axum::serve`, or — for the
//! peer only — axum's `ConnectInfo<SocketAddr>`. Unknown ends are `None` (an exotic listener, an in-memory test
//! transport).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use tokio::net::TcpStream;

/// Both ends of a connection, as far as they are known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Addresses {
    /// The server's end: the local address and port the client connected to.
    pub(crate) local: Option<SocketAddr>,
    /// The client's end.
    pub(crate) remote: Option<SocketAddr>,
}

impl Addresses {
    /// What a request carries: both ends when [`Serve`](crate::Serve) recorded them, else the peer of axum's
    /// `ConnectInfo<SocketAddr>` (from `into_make_service_with_connect_info`), else nothing.
    pub(crate) fn of_request(request: &Request) -> Addresses {
        let extensions = request.extensions();
        extensions.get::<Addresses>().copied().unwrap_or_else(|| Addresses {
            local: None,
            remote: extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0),
        })
    }

    /// The ends of `tcp`.
    pub(crate) fn of_stream(tcp: &TcpStream) -> Addresses {
        Addresses {
            local: tcp.local_addr().ok(),
            remote: tcp.peer_addr().ok(),
        }
    }

    /// Whether both ends are known.
    pub(crate) fn is_complete(&self) -> bool {
        self.local.is_some() && self.remote.is_some()
    }

    /// These addresses, with the ends they lack taken from `other`.
    pub(crate) fn or(self, other: Addresses) -> Addresses {
        Addresses {
            local: self.local.or(other.local),
            remote: self.remote.or(other.remote),
        }
    }
}
