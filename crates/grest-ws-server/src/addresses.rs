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

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    /// What [`Serve`](crate::Serve) recorded wins; axum's `ConnectInfo` gives the peer only; otherwise nothing.
    #[test]
    fn a_request_gives_what_its_server_recorded() {
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let mut request = Request::new(Body::empty());
        assert_eq!(Addresses::of_request(&request), Addresses::default());
        request.extensions_mut().insert(ConnectInfo(remote));
        let peer_only = Addresses::of_request(&request);
        assert_eq!((peer_only.local, peer_only.remote), (None, Some(remote)));
        assert!(!peer_only.is_complete());
        let both = Addresses {
            local: Some(local),
            remote: Some(remote),
        };
        request.extensions_mut().insert(both);
        assert_eq!(Addresses::of_request(&request), both);
        assert!(both.is_complete());
        assert_eq!(peer_only.or(both), both);
        assert_eq!(both.or(Addresses::default()), both);
    }
}
