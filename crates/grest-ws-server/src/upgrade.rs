//! The HTTP side of the WebSocket upgrade, done directly on hyper; the upgraded connection becomes the session
//! crate's [`WebSocket`], the same type the client runs.

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use grest_ws_session::websocket::accept_key;
use grest_ws_session::{Role, WebSocket};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;

/// An accepted upgrade: the 101 response to return, and the future socket.
pub(crate) struct Accepted {
    pub(crate) response: Response,
    pub(crate) upgrade: hyper::upgrade::OnUpgrade,
}

/// The upgraded connection as a WebSocket stream.
pub(crate) type ServerSocket = WebSocket<TokioIo<hyper::upgrade::Upgraded>>;

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

/// Waits for the upgrade to complete and wraps it in a WebSocket that reads messages of up to `max_message` bytes.
pub(crate) async fn into_socket(upgrade: hyper::upgrade::OnUpgrade, max_message: usize) -> Option<ServerSocket> {
    match upgrade.await {
        Ok(upgraded) => Some(WebSocket::new(TokioIo::new(upgraded), Role::Server, max_message)),
        Err(e) => {
            tracing::debug!(error = %e, "upgrade did not complete");
            None
        }
    }
}
