//! The HTTP side of the WebSocket upgrade, done directly on hyper; the upgraded connection becomes the session
//! crate's [`WebSocket`], the same type the client runs.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use grest_ws_session::websocket::accept_key;
use grest_ws_session::{Role, WebSocket};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::addresses::Addresses;

/// An accepted upgrade: the 101 response to return, and the future socket.
pub(crate) struct Accepted {
    pub(crate) response: Response,
    pub(crate) upgrade: hyper::upgrade::OnUpgrade,
}

/// The upgraded connection as a WebSocket stream.
pub(crate) type ServerSocket = WebSocket<ServerIo>;

/// An upgraded connection: the TCP stream itself when it could be recovered from hyper (a plain `axum::serve`),
/// otherwise hyper's upgraded stream.
pub(crate) enum ServerIo {
    Tcp(TcpStream),
    Upgraded(TokioIo<Upgraded>),
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            ServerIo::Tcp($io) => $call,
            ServerIo::Upgraded($io) => $call,
        }
    };
}

impl AsyncRead for ServerIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => Pin::new(io).poll_read(cx, buf))
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        delegate!(self, io => Pin::new(io).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => Pin::new(io).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ServerIo::Tcp(io) => io.is_write_vectored(),
            ServerIo::Upgraded(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => Pin::new(io).poll_shutdown(cx))
    }
}

fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Checks an RFC 6455 upgrade request; `Err` is the HTTP response to send instead.
pub(crate) fn accept(request: &mut Request) -> Result<Accepted, Response> {
    accept_with_protocols(request, &[])
}

/// The first of `ours` that the client offered in `Sec-WebSocket-Protocol`, if any (docs/protocol.md §7).
/// Subprotocol names compare exactly, as the original does.
fn negotiate(headers: &HeaderMap, ours: &[&'static str]) -> Option<&'static str> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    ours.iter().copied().find(|protocol| offered.contains(protocol))
}

/// [`accept`] for a socket that speaks subprotocols: the response echoes the first of `protocols` that the client
/// offered, and names none when nothing matches.
pub(crate) fn accept_with_protocols(request: &mut Request, protocols: &[&'static str]) -> Result<Accepted, Response> {
    let headers = request.headers();
    if request.method() != http::Method::GET
        || !header_has_token(headers, header::CONNECTION, "upgrade")
        || !header_has_token(headers, header::UPGRADE, "websocket")
    {
        return Err((StatusCode::UPGRADE_REQUIRED, "WebSocket upgrade required").into_response());
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
        return Err((StatusCode::BAD_REQUEST, "unsupported Sec-WebSocket-Version").into_response());
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err((StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key").into_response());
    };
    if !is_key(key.as_bytes()) {
        return Err((StatusCode::BAD_REQUEST, "invalid Sec-WebSocket-Key").into_response());
    }
    let accept_key = accept_key(key.as_bytes());
    let protocol = negotiate(headers, protocols);
    let Some(upgrade) = request.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() else {
        return Err((StatusCode::UPGRADE_REQUIRED, "connection cannot be upgraded").into_response());
    };
    let mut response = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept_key);
    if let Some(protocol) = protocol {
        response = response.header(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    let response = response
        .body(Body::empty())
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    Ok(Accepted { response, upgrade })
}

/// Waits for the upgrade to complete and wraps it in a WebSocket that reads messages of up to `max_message` bytes;
/// the ends of the connection that `known` lacks are read from the TCP stream when hyper gives it back (the
/// connection was served by `axum::serve`). Bytes hyper read past the upgrade request stay first in line.
pub(crate) async fn into_socket(
    upgrade: hyper::upgrade::OnUpgrade,
    max_message: usize,
    known: Addresses,
) -> Option<(ServerSocket, Addresses)> {
    let upgraded = match upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => {
            tracing::debug!(error = %e, "upgrade did not complete");
            return None;
        }
    };
    if known.is_complete() {
        let io = ServerIo::Upgraded(TokioIo::new(upgraded));
        return Some((WebSocket::new(io, Role::Server, max_message), known));
    }
    match hyper_util::server::conn::auto::upgrade::downcast::<TokioIo<TcpStream>>(upgraded) {
        Ok(parts) => {
            let tcp = parts.io.into_inner();
            let addresses = known.or(Addresses::of_stream(&tcp));
            let ws = WebSocket::with_read(ServerIo::Tcp(tcp), Role::Server, max_message, parts.read_buf.to_vec());
            Some((ws, addresses))
        }
        Err(upgraded) => {
            let io = ServerIo::Upgraded(TokioIo::new(upgraded));
            Some((WebSocket::new(io, Role::Server, max_message), known))
        }
    }
}

/// Whether `key` is what RFC 6455 §4.2.1 asks for: the base64 of 16 bytes (22 base64 digits and `==`).
fn is_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §1.3's sample key and the accept value it must produce.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    /// A valid upgrade request plus `extra` headers, minus those named in `without`, that hyper could upgrade.
    fn upgrade_request(extra: &[(&str, &str)], without: &[&str]) -> Request {
        let mut builder = Request::builder().uri("/ws");
        for (name, value) in [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", KEY),
        ] {
            if !without.contains(&name) {
                builder = builder.header(name, value);
            }
        }
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        let mut request = builder.body(Body::empty()).unwrap();
        // What hyper puts into an upgradable request (here one that never completes; only its presence matters).
        let on_upgrade = hyper::upgrade::on(http::Request::new(()));
        request.extensions_mut().insert(on_upgrade);
        request
    }

    fn status(result: Result<Accepted, Response>) -> StatusCode {
        match result {
            Ok(accepted) => accepted.response.status(),
            Err(response) => response.status(),
        }
    }

    /// A valid request gets 101 with the RFC's accept key, and takes the upgrade out of the request.
    #[test]
    fn a_valid_upgrade_is_switched_with_the_accept_key() {
        let mut request = upgrade_request(&[], &[]);
        let accepted = accept(&mut request).expect("a valid upgrade");
        let response = accepted.response;
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(response.headers()[header::SEC_WEBSOCKET_ACCEPT], ACCEPT);
        assert_eq!(response.headers()[header::UPGRADE], "websocket");
        assert_eq!(response.headers()[header::CONNECTION], "upgrade");
        assert!(response.headers().get(header::SEC_WEBSOCKET_PROTOCOL).is_none());
        assert!(request.extensions().get::<hyper::upgrade::OnUpgrade>().is_none());
    }

    /// `Connection`/`Upgrade` tokens match case-insensitively, inside comma lists and across repeated headers.
    #[test]
    fn upgrade_tokens_are_found_in_lists_in_any_case() {
        let accepted = |extra: &[(&str, &str)]| status(accept(&mut upgrade_request(extra, &["connection", "upgrade"])));
        let switching = StatusCode::SWITCHING_PROTOCOLS;
        assert_eq!(
            accepted(&[("connection", "keep-alive, Upgrade"), ("upgrade", "WebSocket")]),
            switching
        );
        assert_eq!(
            accepted(&[("connection", "keep-alive,upgrade"), ("upgrade", "h2c , websocket")]),
            switching
        );
        assert_eq!(
            accepted(&[
                ("connection", "keep-alive"),
                ("connection", "UPGRADE"),
                ("upgrade", "websocket")
            ]),
            switching
        );
    }

    /// A request that is not a WebSocket upgrade (method, `Connection`, `Upgrade`, not upgradable) gets 426.
    #[test]
    fn requests_that_are_not_upgrades_get_426() {
        let required = StatusCode::UPGRADE_REQUIRED;
        let mut post = upgrade_request(&[], &[]);
        *post.method_mut() = http::Method::POST;
        assert_eq!(status(accept(&mut post)), required);
        assert_eq!(status(accept(&mut upgrade_request(&[], &["connection"]))), required);
        assert_eq!(status(accept(&mut upgrade_request(&[], &["upgrade"]))), required);
        let keep_alive = [("connection", "keep-alive"), ("upgrade", "websocket")];
        assert_eq!(
            status(accept(&mut upgrade_request(&keep_alive, &["connection", "upgrade"]))),
            required
        );
        let h2c = [("connection", "upgrade"), ("upgrade", "h2c")];
        assert_eq!(
            status(accept(&mut upgrade_request(&h2c, &["connection", "upgrade"]))),
            required
        );
        // "upgrade" must be a whole token, not part of one.
        let partial = [("connection", "upgraded"), ("upgrade", "websockets")];
        assert_eq!(
            status(accept(&mut upgrade_request(&partial, &["connection", "upgrade"]))),
            required
        );

        let mut not_upgradable = upgrade_request(&[], &[]);
        not_upgradable.extensions_mut().remove::<hyper::upgrade::OnUpgrade>();
        assert_eq!(status(accept(&mut not_upgradable)), required);
    }

    /// A version other than exactly `13`, or a missing key, gets 400.
    #[test]
    fn wrong_version_or_missing_key_get_400() {
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(
            status(accept(&mut upgrade_request(&[], &["sec-websocket-version"]))),
            bad
        );
        let version_8 = [("sec-websocket-version", "8")];
        assert_eq!(
            status(accept(&mut upgrade_request(&version_8, &["sec-websocket-version"]))),
            bad
        );
        let version_13_padded = [("sec-websocket-version", "13, 8")];
        assert_eq!(
            status(accept(&mut upgrade_request(
                &version_13_padded,
                &["sec-websocket-version"]
            ))),
            bad
        );
        assert_eq!(status(accept(&mut upgrade_request(&[], &["sec-websocket-key"]))), bad);
    }

    /// RFC 6455 §4.2.1: the key must be base64 of 16 bytes, otherwise the server answers 400.
    #[test]
    fn an_invalid_key_gets_400() {
        for key in ["", "not base64!", "c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZSBpcyBsb25nZXI="] {
            let mut request = upgrade_request(&[("sec-websocket-key", key)], &["sec-websocket-key"]);
            assert_eq!(status(accept(&mut request)), StatusCode::BAD_REQUEST, "{key:?}");
        }
    }

    /// The server echoes the first of its own protocols that the client offered; names compare exactly.
    #[test]
    fn subprotocols_follow_the_servers_preference() {
        let ours = ["binary", "base64"];
        let chosen = |offered: &[&str]| {
            let extra: Vec<(&str, &str)> = offered.iter().map(|o| ("sec-websocket-protocol", *o)).collect();
            let accepted = accept_with_protocols(&mut upgrade_request(&extra, &[]), &ours).expect("accepted");
            accepted
                .response
                .headers()
                .get(header::SEC_WEBSOCKET_PROTOCOL)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        assert_eq!(chosen(&["base64, binary"]).as_deref(), Some("binary"));
        assert_eq!(
            chosen(&["chat", "base64"]).as_deref(),
            Some("base64"),
            "across repeated headers"
        );
        assert_eq!(chosen(&[" chat ,base64 "]).as_deref(), Some("base64"));
        assert_eq!(chosen(&["Binary"]), None, "no case folding");
        assert_eq!(chosen(&["chat"]), None, "no match still upgrades, without a protocol");
        assert_eq!(chosen(&[]), None);

        let headers = upgrade_request(&[("sec-websocket-protocol", "binary")], &[]);
        assert_eq!(
            negotiate(headers.headers(), &[]),
            None,
            "a socket without protocols names none"
        );
    }
}
