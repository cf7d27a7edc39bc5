//! One connection attempt: the upgrade request (URL with query and query credentials, `Cookie`, extra headers),
//! the `h` frame with the handshake headers, and the wait for `k` or `x`.

use grest_ws_core::auth::Outbound;
use grest_ws_core::error::INVALID_QUERY;
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::{Contract, ErrorEnvelope, GrestError, ServerError, ValidationError, WebSocketSchema};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::upgrade::upgrade;
use crate::{ClientConfig, ClientMiddleware, ConnectError, ConnectParams};
use grest_ws_session::{Message, WebSocket};

/// A connected, handshaken socket.
pub(crate) type ClientSocket = WebSocket<TcpStream>;

/// What stays the same across attempts.
pub(crate) struct Target<C> {
    pub(crate) schema: WebSocketSchema<C>,
    pub(crate) middleware: Vec<Box<dyn ClientMiddleware>>,
    pub(crate) upgrade_headers: Vec<(String, String)>,
    pub(crate) config: ClientConfig,
}

impl<C: Contract> Target<C> {
    /// What the credentials, headers and middleware write, in that order.
    fn outbound(&self, params: &ConnectParams<C>) -> Outbound {
        let mut outbound = Outbound::default();
        params.write(&mut outbound);
        for middleware in &self.middleware {
            middleware.update(&mut outbound);
        }
        outbound
    }

    /// The pool key of these parameters: the full URL plus the sorted handshake headers and cookies (clients
    /// that would send the same bytes share a socket).
    pub(crate) fn pool_key(&self, params: &ConnectParams<C>) -> Result<String, ConnectError> {
        let outbound = self.outbound(params);
        let mut key = self.url_with(params, &outbound)?;
        key.push_str("::");
        for (name, value) in &outbound.headers {
            key.push_str(&format!("{name}={value}&"));
        }
        let mut cookies = outbound.cookies.clone();
        cookies.sort();
        for (name, value) in cookies {
            key.push_str(&format!("cookie:{name}={value}&"));
        }
        Ok(key)
    }

    /// The full URL, with the typed query validated like the server will (failure: nothing is sent).
    pub(crate) fn url(&self, params: &ConnectParams<C>) -> Result<String, ConnectError> {
        self.url_with(params, &self.outbound(params))
    }

    fn url_with(&self, params: &ConnectParams<C>, outbound: &Outbound) -> Result<String, ConnectError> {
        let pairs = params.query.as_ref().map(query_pairs).unwrap_or_default();
        C::decode_query(pairs.clone()).map_err(|issues| {
            ConnectError::InvalidQuery(ValidationError::with_display_message(issues, INVALID_QUERY))
        })?;
        let mut url = format!("{}{}", params.base_url.trim_end_matches('/'), self.schema.route_path());
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

    fn upgrade_request(&self, url: String, outbound: &Outbound) -> Result<http::Request<()>, ConnectError> {
        let transport = |e: &dyn std::fmt::Display| ConnectError::Transport(e.to_string());
        let uri = http::Uri::try_from(url).map_err(|e| transport(&e))?;
        let mut request = http::Request::builder().uri(uri).body(()).map_err(|e| transport(&e))?;
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

    /// Opens a socket and runs the handshake; resolves once the server has sent `k`.
    pub(crate) async fn open(&self, params: &ConnectParams<C>) -> Result<ClientSocket, ConnectError> {
        let outbound = self.outbound(params);
        let request = self.upgrade_request(self.url_with(params, &outbound)?, &outbound)?;
        let tcp = connect_tcp(&request).await?;
        let mut ws = upgrade(tcp, &request, self.config.session.max_message_size).await?;
        let headers = outbound
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
        ws.send(&Message::text(hello))
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
                        code: frame.as_ref().map(|f| f.code),
                        reason: frame.as_ref().map(|f| f.reason.to_string()).unwrap_or_default(),
                    });
                }
                _ => continue,
            };
            match Frame::parse(text) {
                Some(f) if f.kind == FrameKind::HandshakeOk => return Ok(ws),
                Some(f) if f.kind == FrameKind::HandshakeErr => {
                    return Err(ConnectError::Rejected(handshake_error(f.data)));
                }
                _ => tracing::debug!("ignored a frame while waiting for the handshake answer"),
            }
        }
    }
}

/// Opens the TCP connection to the request's host (`ws://` only: this build has no TLS), with Nagle off.
async fn connect_tcp(request: &http::Request<()>) -> Result<TcpStream, ConnectError> {
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(ConnectError::Transport(format!(
            "unsupported URL scheme in {uri}: this client speaks ws:// only"
        )));
    }
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(80);
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| ConnectError::Transport(format!("IO error: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| ConnectError::Transport(format!("IO error: {e}")))?;
    Ok(tcp)
}

/// The error of an `x` frame: a grest error envelope, or `SERVER_ERROR` "WebSocket handshake failed".
fn handshake_error(data: Option<&str>) -> ErrorEnvelope {
    data.and_then(|d| serde_json::from_str::<ErrorEnvelope>(d).ok())
        .unwrap_or_else(|| ServerError::with_display_message("WebSocket handshake failed").to_envelope())
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
