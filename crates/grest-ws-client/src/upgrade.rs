//! The HTTP side of the client's WebSocket upgrade (RFC 6455 §4.1): the `GET` with a fresh key, the `101` answer
//! checked against it, and whatever the server sent right behind the answer kept for the WebSocket to read.

use grest_ws_session::websocket::{accept_key, client_key};
use grest_ws_session::{Role, WebSocket};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{ConnectError, TransportError};

/// The largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// The most response headers accepted.
const MAX_HEADERS: usize = 32;

/// Sends the upgrade request for `request` (its URI, plus its headers: cookies, extras) and reads the answer;
/// a `101` with the right accept key becomes a client WebSocket reading messages of up to `max_message` bytes.
pub(crate) async fn upgrade<S>(
    mut io: S,
    request: &http::Request<()>,
    max_message: usize,
) -> Result<WebSocket<S>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let fail = |cause: TransportError| ConnectError::Transport {
        url: request.uri().to_string(),
        cause,
    };
    let transport = |e: std::io::Error| fail(TransportError::from(e));
    let invalid = |what: &str| fail(TransportError::Upgrade(what.to_owned()));
    let key = client_key();
    io.write_all(&request_head(request, &key)).await.map_err(transport)?;
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() >= MAX_HEAD {
            return Err(invalid("the response head is too large"));
        }
        buf.reserve(1024);
        if io.read_buf(&mut buf).await.map_err(transport)? == 0 {
            return Err(invalid("the server closed the connection before answering"));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(invalid(&format!("the answer is not HTTP ({e})"))),
        };
        let status = response.code.unwrap_or(0);
        if status != 101 {
            return Err(ConnectError::Refused(status));
        }
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
        };
        let has_token = |name: &str, token: &str| {
            header(name)
                .and_then(|v| std::str::from_utf8(v).ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        };
        if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
            return Err(invalid("the server's 101 response is not a WebSocket upgrade"));
        }
        if header("sec-websocket-accept") != Some(accept_key(key.as_bytes()).as_bytes()) {
            return Err(invalid("the server's Sec-WebSocket-Accept does not match the key sent"));
        }
        let early = buf.split_off(head_len);
        return Ok(WebSocket::with_read(io, Role::Client, max_message, early));
    }
}

/// The request head: request line, `Host`, the upgrade headers with `key`, then the request's own headers.
fn request_head(request: &http::Request<()>, key: &str) -> Vec<u8> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = uri.authority().map_or("", |a| a.as_str());
    // The authority may carry credentials (`user@host`); `Host` never does.
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let mut head = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
    )
    .into_bytes();
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request head has the target, a `Host` without credentials, the key, then the extra headers.
    #[test]
    fn the_head_names_the_target_host_and_key_and_keeps_extra_headers() {
        let request = http::Request::builder()
            .uri("ws://user@127.0.0.1:9000/ws/chat?room=a")
            .header("cookie", "sid=1")
            .body(())
            .unwrap();
        let head = String::from_utf8(request_head(&request, "KEY==")).unwrap();
        assert!(head.starts_with("GET /ws/chat?room=a HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n"));
        assert!(head.contains("Sec-WebSocket-Key: KEY==\r\n"));
        assert!(head.ends_with("cookie: sid=1\r\n\r\n"));
    }
}
