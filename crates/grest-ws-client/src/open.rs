//! One connection attempt: the upgrade request (URL with query and query credentials, `Cookie`, extra headers),
//! the `h` frame with the handshake headers, and the wait for `k` or `x`.

use grest_ws_core::auth::Outbound;
use grest_ws_core::error::INVALID_QUERY;
use grest_ws_core::frame::{self, Frame, FrameKind};
use grest_ws_core::{Contract, ErrorEnvelope, GrestError, ServerError, ValidationError, WebSocketSchema};
use serde_json::Value;
use tokio::time::Instant;

use crate::pool::PoolKey;
use crate::transport::{Stream, connect};
use crate::upgrade::upgrade;
use crate::{ClientConfig, ClientMiddleware, ConnectError, ConnectParams, TransportError};
use grest_ws_session::{Message, WebSocket};

/// A connected, handshaken socket.
pub(crate) type ClientSocket = WebSocket<Stream>;

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

    /// The pool key of these parameters: the full URL, the handshake headers and the sorted cookies (clients that
    /// would send the same bytes share a socket).
    pub(crate) fn pool_key(&self, params: &ConnectParams<C>) -> Result<PoolKey, ConnectError> {
        let outbound = self.outbound(params);
        let url = self.url_with(params, &outbound)?;
        let mut cookies = outbound.cookies;
        cookies.sort();
        Ok(PoolKey {
            url,
            headers: outbound.headers,
            cookies,
        })
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
        let transport = |e: &dyn std::fmt::Display| ConnectError::Transport {
            url: url.clone(),
            cause: TransportError::Invalid(e.to_string()),
        };
        let uri = http::Uri::try_from(url.as_str()).map_err(|e| transport(&e))?;
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
        let broken = |error: &dyn std::fmt::Display| ConnectError::Transport {
            url: request.uri().to_string(),
            cause: TransportError::Broken(error.to_string()),
        };
        let stream = connect(request.uri(), &self.config)
            .await
            .map_err(|cause| ConnectError::Transport {
                url: request.uri().to_string(),
                cause,
            })?;
        let mut ws = upgrade(stream, &request, self.config.session.max_message_size).await?;
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
        ws.send(&Message::text(hello)).await.map_err(|e| broken(&e))?;
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
                Ok(Some(Err(e))) => return Err(broken(&e)),
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

#[cfg(test)]
mod tests {
    use grest_ws_core::auth::Wire;
    use grest_ws_core::contract::{ConnectMeta, ContractMeta};
    use grest_ws_core::validate::{Issues, Shape};
    use grest_ws_core::{Issue, NotFound, Validate};
    use serde::{Deserialize, Serialize};

    use super::*;

    const TOKEN: Wire = Wire::header("token", "authorization").bearer();
    const SESSION: Wire = Wire::cookie("session", "session");
    const THEME: Wire = Wire::cookie("theme", "theme");
    const QUERY_TOKEN: Wire = Wire::query("query-token", "token");

    const META: ContractMeta = ContractMeta {
        name: "Test",
        connect: ConnectMeta {
            query: None,
            errors: &[],
            permission: None,
        },
        methods: &[],
    };

    /// A contract with a typed query.
    struct Lobby;

    #[derive(Clone, Serialize, Deserialize)]
    struct LobbyQuery {
        room: String,
        tags: Vec<String>,
        limit: Option<u32>,
        live: bool,
    }

    impl Validate for LobbyQuery {
        fn shape() -> Shape {
            Shape::Any
        }
    }

    impl Contract for Lobby {
        const META: &'static ContractMeta = &META;
        type Query = LobbyQuery;
        type ConnectError = grest_ws_core::contract::RawConnectError;

        /// What the server checks: a non-empty `room`, and no keys the query does not declare (so query
        /// credentials must not reach this check).
        fn decode_query(pairs: Vec<(String, String)>) -> Result<LobbyQuery, Issues> {
            if let Some((key, _)) = pairs
                .iter()
                .find(|(k, _)| !["room", "tags", "limit", "live"].contains(&k.as_str()))
            {
                return Err(vec![Issue::new(key.as_str(), "unknown", "not declared")]);
            }
            match pairs.iter().find(|(k, _)| k == "room") {
                Some((_, room)) if !room.is_empty() => Ok(LobbyQuery {
                    room: room.clone(),
                    tags: Vec::new(),
                    limit: None,
                    live: false,
                }),
                _ => Err(vec![Issue::new("room", "invalid.string.nonEmpty", "must not be empty")]),
            }
        }
    }

    /// A contract without a query.
    struct Plain;

    impl Contract for Plain {
        const META: &'static ContractMeta = &META;
        type Query = ();
        type ConnectError = grest_ws_core::contract::RawConnectError;

        fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
            Ok(())
        }
    }

    fn target<C: Contract>(path: &'static str) -> Target<C> {
        Target {
            schema: WebSocketSchema::new(path),
            middleware: Vec::new(),
            upgrade_headers: Vec::new(),
            config: ClientConfig::default(),
        }
    }

    fn lobby_query(room: &str) -> LobbyQuery {
        LobbyQuery {
            room: room.to_owned(),
            tags: vec!["x".into(), "y z".into()],
            limit: None,
            live: true,
        }
    }

    /// The URL is the base (trailing `/` dropped), the path, the typed query form-encoded (arrays as repeated
    /// keys, `None` left out), then query credentials.
    #[test]
    fn the_url_carries_the_typed_query_then_query_credentials() {
        let lobby = target::<Lobby>("ws/lobby");
        let params = ConnectParams::<Lobby>::new("ws://127.0.0.1:3000/")
            .query(lobby_query("a&b=c"))
            .credential(QUERY_TOKEN, "t+1")
            .credential(TOKEN, "header-only");
        assert_eq!(
            lobby.url(&params).unwrap(),
            "ws://127.0.0.1:3000/ws/lobby?room=a%26b%3Dc&tags=x&tags=y+z&live=true&token=t%2B1"
        );

        let plain = target::<Plain>("/ws/plain");
        assert_eq!(
            plain.url(&ConnectParams::new("ws://host:1")).unwrap(),
            "ws://host:1/ws/plain",
            "no query, no `?`"
        );
        let with_token = ConnectParams::<Plain>::new("ws://host:1").credential(QUERY_TOKEN, "abc");
        assert_eq!(plain.url(&with_token).unwrap(), "ws://host:1/ws/plain?token=abc");
    }

    /// A query that fails the contract is an `InvalidQuery` error (terminal) before anything is sent.
    #[test]
    fn an_invalid_query_fails_locally() {
        let lobby = target::<Lobby>("ws/lobby");
        for params in [
            ConnectParams::<Lobby>::new("ws://h").query(lobby_query("")),
            ConnectParams::<Lobby>::new("ws://h"),
        ] {
            let Err(error) = lobby.url(&params) else {
                panic!("the query is invalid")
            };
            assert!(error.is_terminal());
            let ConnectError::InvalidQuery(error) = error else {
                panic!("{error}")
            };
            assert_eq!(error.data[0].path, "room");
            assert_eq!(error.context.display_message.as_deref(), Some(INVALID_QUERY));
            assert!(matches!(lobby.pool_key(&params), Err(ConnectError::InvalidQuery(_))));
        }
    }

    /// Adds a header (overriding what the parameters wrote) and a query parameter.
    struct AppVersion;

    impl ClientMiddleware for AppVersion {
        fn update(&self, outbound: &mut Outbound) {
            outbound.headers.insert("x-app".into(), "mw".into());
            outbound.query.push(("v".into(), "2".into()));
        }
    }

    /// The pool key is the URL plus the headers and sorted cookies; middleware writes last.
    #[test]
    fn the_pool_key_names_what_the_client_would_send() {
        let plain = target::<Plain>("ws/plain");
        let params = ConnectParams::<Plain>::new("ws://h")
            .credential(TOKEN, "s")
            .credential(THEME, "dark")
            .credential(SESSION, "s1")
            .credential(QUERY_TOKEN, "q")
            .header("X-App", "1");
        let expected = |url: &str, app: &str| PoolKey {
            url: url.to_owned(),
            headers: [("authorization", "Bearer s"), ("x-app", app)]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            cookies: vec![("session".into(), "s1".into()), ("theme".into(), "dark".into())],
        };
        assert_eq!(
            plain.pool_key(&params).unwrap(),
            expected("ws://h/ws/plain?token=q", "1")
        );

        let mut with_middleware = target::<Plain>("ws/plain");
        with_middleware.middleware.push(Box::new(AppVersion));
        assert_eq!(
            with_middleware.pool_key(&params).unwrap(),
            expected("ws://h/ws/plain?token=q&v=2", "mw")
        );
    }

    /// Equal parameters give equal keys whatever the order they were given in; any difference changes the key.
    #[test]
    fn pool_keys_ignore_order_but_not_content() {
        let plain = target::<Plain>("ws/plain");
        let key = |params: ConnectParams<Plain>| plain.pool_key(&params).unwrap();
        let one = key(ConnectParams::new("ws://h")
            .header("a", "1")
            .header("b", "2")
            .credential(SESSION, "s1")
            .credential(THEME, "dark"));
        let other_order = key(ConnectParams::new("ws://h")
            .credential(THEME, "dark")
            .header("B", "2")
            .credential(SESSION, "s1")
            .header("A", "1"));
        assert_eq!(one, other_order);
        assert_eq!(key(ConnectParams::new("ws://h")), key(ConnectParams::new("ws://h")));
        for different in [
            ConnectParams::new("ws://h")
                .header("a", "1")
                .header("b", "2")
                .credential(SESSION, "s1"),
            ConnectParams::new("ws://h")
                .header("a", "1")
                .header("b", "3")
                .credential(SESSION, "s1")
                .credential(THEME, "dark"),
            ConnectParams::new("ws://other")
                .header("a", "1")
                .header("b", "2")
                .credential(SESSION, "s1")
                .credential(THEME, "dark"),
        ] {
            assert_ne!(key(different), one);
        }
    }

    /// Clients whose handshakes differ never share a socket, whatever characters their values contain.
    #[test]
    fn pool_keys_of_different_handshakes_never_collide() {
        let plain = target::<Plain>("ws/plain");
        let key = |params: ConnectParams<Plain>| plain.pool_key(&params).unwrap();
        assert_ne!(
            key(ConnectParams::new("ws://h").header("a", "1&b=2")),
            key(ConnectParams::new("ws://h").header("a", "1").header("b", "2"))
        );
        assert_ne!(
            key(ConnectParams::new("ws://h").credential(SESSION, "1&cookie:theme=dark")),
            key(ConnectParams::new("ws://h")
                .credential(SESSION, "1")
                .credential(THEME, "dark"))
        );
    }

    /// The upgrade request carries the cookies in one header, in order, and the extra headers as given.
    #[test]
    fn the_upgrade_request_carries_cookies_and_extra_headers() {
        let mut plain = target::<Plain>("ws/plain");
        plain.upgrade_headers = vec![
            ("Origin".into(), "http://app.example".into()),
            ("x-trace".into(), "1".into()),
            ("x-trace".into(), "2".into()),
        ];
        let params = ConnectParams::<Plain>::new("ws://h:9")
            .credential(THEME, "dark")
            .credential(SESSION, "s1");
        let outbound = plain.outbound(&params);
        let request = plain.upgrade_request(plain.url(&params).unwrap(), &outbound).unwrap();
        assert_eq!(request.uri(), "ws://h:9/ws/plain");
        let headers = request.headers();
        assert_eq!(headers[http::header::COOKIE], "theme=dark; session=s1");
        assert_eq!(headers[http::header::ORIGIN], "http://app.example");
        let traces: Vec<_> = headers.get_all("x-trace").iter().collect();
        assert_eq!(traces, ["1", "2"]);

        let no_cookies = plain.upgrade_request("ws://h/x".into(), &Outbound::default()).unwrap();
        assert!(no_cookies.headers().get(http::header::COOKIE).is_none());

        plain.upgrade_headers = vec![("bad name".into(), "v".into())];
        let transport = |result: Result<http::Request<()>, ConnectError>| {
            matches!(
                result,
                Err(ConnectError::Transport {
                    cause: TransportError::Invalid(_),
                    ..
                })
            )
        };
        assert!(transport(
            plain.upgrade_request("ws://h/x".into(), &Outbound::default())
        ));
        plain.upgrade_headers.clear();
        assert!(transport(
            plain.upgrade_request("ws://bad host/x".into(), &Outbound::default())
        ));
        let bad_cookie = Outbound {
            cookies: vec![("s".into(), "line\nbreak".into())],
            ..Outbound::default()
        };
        assert!(transport(plain.upgrade_request("ws://h/x".into(), &bad_cookie)));
    }

    /// An `x` frame's data is the server's envelope; without one it is `SERVER_ERROR` "WebSocket handshake failed".
    #[test]
    fn handshake_errors_decode_the_x_frame() {
        let sent = NotFound::with_display_message("No such room").to_envelope();
        let received = handshake_error(Some(&sent.to_json()));
        assert_eq!(received.error_type, "NOT_FOUND");
        assert_eq!(received.status_code, 404);
        assert_eq!(received.context.display_message.as_deref(), Some("No such room"));
        assert_eq!(received.context.reference, sent.context.reference);
        for data in [None, Some("not json"), Some("{\"unrelated\":1}")] {
            let fallback = handshake_error(data);
            assert_eq!(
                (fallback.error_type.as_str(), fallback.status_code),
                ("SERVER_ERROR", 500),
                "{data:?}"
            );
            assert_eq!(
                fallback.context.display_message.as_deref(),
                Some("WebSocket handshake failed")
            );
        }
    }

    /// Query values become pairs: strings as is, other scalars as JSON text, arrays repeated, nulls dropped.
    #[test]
    fn query_values_flatten_to_pairs() {
        let value = serde_json::json!({
            "s": "a b",
            "n": 5,
            "f": 1.5,
            "b": false,
            "none": null,
            "list": [1, "two", null],
            "nested": {"k": "v"},
        });
        let pairs: Vec<(String, String)> = query_pairs(&value);
        let expected = [
            ("s", "a b"),
            ("n", "5"),
            ("f", "1.5"),
            ("b", "false"),
            ("list", "1"),
            ("list", "two"),
            ("list", "null"),
            ("nested", "{\"k\":\"v\"}"),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert_eq!(pairs, expected);
        assert!(query_pairs(&"not an object").is_empty());
        assert!(query_pairs(&()).is_empty());
    }

    /// Only `ws://` and `wss://` URLs are dialled: any other scheme fails before a connection is tried.
    #[tokio::test]
    async fn only_websocket_urls_are_dialled() {
        let config = ClientConfig::default();
        let uri = |url: &str| http::Uri::try_from(url).unwrap();
        let Err(TransportError::Scheme(scheme)) = connect(&uri("http://example.com/ws"), &config).await else {
            panic!("http:// must not be dialled")
        };
        assert_eq!(scheme, "http");
        assert!(matches!(
            connect(&uri("/relative"), &config).await,
            Err(TransportError::Invalid(_))
        ));
    }
}
