//! The HTTP side of the client's WebSocket upgrade (RFC 6455 §4.1): the `GET` with a fresh key, the `101` answer
//! checked against it, and whatever the server sent right behind the answer kept for the WebSocket to read.

use grest_ws_session::websocket::{accept_key, client_key};
use grest_ws_session::{Role, WebSocket};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::response::{HeadError, read_head};
use crate::{ConnectError, TransportError};

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
    let key = client_key();
    io.write_all(&request_head(request, &key)).await.map_err(transport)?;
    let head = read_head(&mut io).await.map_err(|error| match error {
        HeadError::Transport(cause) => fail(cause),
        HeadError::Malformed(what) => fail(TransportError::Upgrade(what)),
    })?;
    if head.status != 101 {
        return Err(ConnectError::Refused(head.status));
    }
    let invalid = |what: &str| fail(TransportError::Upgrade(what.to_owned()));
    if !head.has_token("upgrade", "websocket") || !head.has_token("connection", "upgrade") {
        return Err(invalid("the server's 101 response is not a WebSocket upgrade"));
    }
    if head.header("sec-websocket-accept") != Some(accept_key(key.as_bytes()).as_bytes()) {
        return Err(invalid("the server's Sec-WebSocket-Accept does not match the key sent"));
    }
    Ok(WebSocket::with_read(io, Role::Client, max_message, head.rest))
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
