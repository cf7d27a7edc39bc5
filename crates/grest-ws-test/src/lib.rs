//! The grest-ws test kit (the original's `callOn(Schema)`), in the spirit of Phoenix.ChannelTest and tower-test:
//! start your real server on an ephemeral loopback port, get a connected typed client per schema, assert on
//! results, errors and validation issues, expect the server's pushes typed, and answer its requests with typed
//! mocks. A push the test did not expect fails it at the next expectation or call.
//!
//! Server-to-client methods are named by the marker types `contract!` generates in the contract's `push` module
//! (`chat::push::NewMessage`), so an expected push arrives as its typed input and a mock answers with the method's
//! typed result. The testing example of the grest-ts documentation, in Rust:
//!
//! ```
//! # use grest_ws::{Permission, ServerError, Validate, ValidationError, WebSocketSchema, contract};
//! # use grest_ws::server::{Connected, GrestWs};
//! # use serde::{Deserialize, Serialize};
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
//! # #[serde(rename_all = "camelCase")]
//! # pub struct SendMessageRequest { #[validate(non_empty)] pub text: String, pub channel_id: String }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
//! # #[serde(rename_all = "camelCase")]
//! # pub struct SendMessageResponse { pub success: bool, pub message_id: String }
//! # #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
//! # pub struct Message { pub text: String }
//! # contract! {
//! #     pub Chat {
//! #         client_to_server {
//! #             send_message(SendMessageRequest) -> SendMessageResponse, errors: [ValidationError, ServerError];
//! #             presence() -> bool, errors: [ServerError];
//! #         }
//! #         server_to_client { new_message(Message); are_you_there() -> bool, errors: [ServerError]; }
//! #     }
//! # }
//! # const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");
//! # struct Session(chat::Peer);
//! # impl chat::Server for Session {
//! #     async fn send_message(&self, r: SendMessageRequest) -> grest_ws::HandlerResult<SendMessageResponse, chat::SendMessageError> {
//! #         let _ = self.0.new_message(&Message { text: r.text }).await;
//! #         Ok(SendMessageResponse { success: true, message_id: "m1".into() })
//! #     }
//! #     async fn presence(&self) -> grest_ws::HandlerResult<bool, chat::PresenceError> {
//! #         Ok(self.0.are_you_there().await.unwrap_or(false))
//! #     }
//! # }
//! use grest_ws_test::{MatchExt, ResultExt, TestServer, assert_issues};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() {
//!     let router = GrestWs::new()
//!         .ws(CHAT_API, |conn: Connected<Chat>| async move { Session(conn.peer) })
//!         .build()
//!         .unwrap();
//!     let server = TestServer::start(router).await;
//!     let api = server.call_on(CHAT_API).await;
//!
//!     // A success that matches a partial object (`api.sendMessage(…).toMatchObject(…)`).
//!     api.send_message(&SendMessageRequest { text: "Hello".into(), channel_id: "general".into() })
//!         .await
//!         .expect_ok_matching(json!({"success": true}));
//!     // The push that came with it, typed (`api.mock.newMessage.toMatchObject(…)`).
//!     api.expect_push(chat::push::NewMessage).await.to_match(json!({"text": "Hello"}));
//!
//!     // An expected error, with its field issues (`.toBeError(VALIDATION_ERROR)`).
//!     let error = api
//!         .send_message(&SendMessageRequest { text: "".into(), channel_id: "general".into() })
//!         .await
//!         .expect_err_type::<ValidationError>();
//!     assert_issues(&error, &[("text", "invalid.string.nonEmpty")]);
//!
//!     // Server-to-client requests are answered by typed mocks.
//!     api.mock(chat::push::AreYouThere, |()| async { Ok(true) });
//!     assert!(api.presence().await.unwrap());
//!
//!     api.disconnect().await;
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use grest_ws::__private::session::{Call, OwnedDispatch, Route, error_to_send};
use grest_ws::client::Client;
use grest_ws::protocol::envelope::{Envelope, encode_result};
use grest_ws::protocol::error::INVALID_ARGUMENTS;
use grest_ws::protocol::validate::decode;
use grest_ws::{
    DuplexContract, GrestError, HandlerResult, MethodError, ServerToClientMethod, ServerToClientRequest,
    ValidationError, WebSocketSchema,
};
use serde_json::Value;
use tokio::sync::Notify;

/// How long an expectation waits before failing the test.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A real server on an ephemeral loopback port; stops when dropped.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `router` (your application's router, with its sockets) on `127.0.0.1:0`.
    pub async fn start(router: Router) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral loopback port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = grest_ws::server::serve(listener, router).await;
        });
        TestServer { addr, task }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for clients (`ws://127.0.0.1:port`).
    pub fn base_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// A connected test client for `schema` (its own socket, no query).
    pub async fn call_on<C: DuplexContract>(&self, schema: WebSocketSchema<C>) -> TestClient<C>
    where
        C::Query: Clone,
    {
        self.call_on_with(Client::new(schema, self.base_url())).await
    }

    /// A connected test client from a configured client builder (query, credentials, headers).
    pub async fn call_on_with<C, P>(&self, builder: Client<C, P>) -> TestClient<C>
    where
        C: DuplexContract,
        P: grest_ws::client::ParamSource<C>,
    {
        let kit = Arc::new(Kit::default());
        let client = builder
            .config(grest_ws::client::ClientConfig::default().reconnect(None))
            .connect_dispatch(kit.clone())
            .await
            .unwrap_or_else(|e| panic!("test client for {} failed to connect: {e}", C::META.name));
        TestClient { client, kit }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A connected test client. It dereferences to the contract's typed client, so calls read like the original's
/// `api.sendMessage(…)`: `api.send_message(&request).await`. Every such access first asserts that no push is
/// waiting that the test did not expect, so an unexpected push fails the next call naming it.
///
/// Server-to-client traffic goes to the kit, not to handlers: expect pushes with [`TestClient::expect_push`] and
/// answer requests with [`TestClient::mock`] (handlers added with the client's `on` are not called).
pub struct TestClient<C: DuplexContract> {
    client: C::Client,
    kit: Arc<Kit>,
}

impl<C: DuplexContract> std::fmt::Debug for TestClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("contract", &C::META.name)
            .finish_non_exhaustive()
    }
}

impl<C: DuplexContract> std::ops::Deref for TestClient<C> {
    type Target = C::Client;

    #[track_caller]
    fn deref(&self) -> &C::Client {
        self.assert_no_pushes();
        &self.client
    }
}

impl<C: DuplexContract> TestClient<C> {
    /// Waits for the next server-to-client message and asserts it is `method`; returns its typed input. Fails on
    /// any other message (naming it), on input that does not decode, when the socket closes, or after
    /// [`PATIENCE`].
    pub fn expect_push<M>(&self, method: M) -> impl Future<Output = M::Input> + '_
    where
        M: ServerToClientMethod<Contract = C>,
    {
        let _ = method;
        async move {
            let push = self.next_push(M::PATH).await;
            if push.path != M::PATH {
                panic!("expected a push of {}, got {push}", M::PATH);
            }
            decode_input::<M::Input>(push.data.as_deref())
                .unwrap_or_else(|issues| panic!("push {push} does not decode as its input: {issues:?}"))
        }
    }

    /// Answers the server's requests of `method` with `handler` from now on (replacing an earlier mock of it):
    /// it gets the typed input and returns the typed result, a [`HandlerResult`] like a real client's handler
    /// (so `?` works in it), which the contract checks on the way out. Input that breaks the contract is answered `VALIDATION_ERROR` without calling it.
    pub fn mock<M, F, Fut>(&self, method: M, handler: F)
    where
        M: ServerToClientRequest<Contract = C>,
        F: Fn(M::Input) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<M::Success, M::Error>> + Send + 'static,
    {
        let _ = method;
        let answer: Answer = Arc::new(move |data| match decode_input::<M::Input>(data) {
            Ok(input) => {
                let pending = handler(input);
                Call::Pending(Box::pin(async move {
                    let result = pending.await.map_err(|failure| error_to_send(M::PATH, failure));
                    encode_result(&result).unwrap_or_else(Envelope::failure)
                }))
            }
            Err(issues) => Call::error(&ValidationError::with_display_message(issues, INVALID_ARGUMENTS)),
        });
        self.kit.lock_mocks().insert(M::PATH, answer);
    }

    /// Asserts that no push is waiting that the test did not expect.
    #[track_caller]
    pub fn assert_no_pushes(&self) {
        if let Some(push) = self.kit.lock_pushes().front() {
            panic!("unexpected push {push}: all socket messages must be mocked or expected in tests");
        }
    }

    /// Closes gracefully, after asserting no unexpected push is left.
    #[track_caller]
    pub fn disconnect(self) -> impl Future<Output = ()> {
        self.assert_no_pushes();
        async move { self.client.as_ref().disconnect(Duration::from_secs(5)).await }
    }

    /// The next push, waiting for it (up to [`PATIENCE`]); `expected` names what the test waits for.
    async fn next_push(&self, expected: &str) -> Push {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let arrived = self.kit.arrived.notified();
            if let Some(push) = self.kit.lock_pushes().pop_front() {
                return push;
            }
            tokio::select! {
                () = arrived => {}
                () = self.client.as_ref().closed() => panic!("the socket closed while waiting for {expected}"),
                () = tokio::time::sleep_until(deadline) => panic!("no push of {expected} within {PATIENCE:?}"),
            }
        }
    }
}

impl<C: DuplexContract> Drop for TestClient<C> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_pushes();
        }
    }
}

/// A method's input from a frame's data; a frame without data carries `null` (the input of a method without one).
fn decode_input<T: serde::de::DeserializeOwned + grest_ws::Validate>(
    data: Option<&str>,
) -> Result<T, grest_ws::protocol::validate::Issues> {
    decode::<T>(Some(data.unwrap_or("null")))
}

/// A server-to-client message the kit received and no mock answered.
struct Push {
    path: &'static str,
    /// Its JSON data, as sent.
    data: Option<String>,
}

impl std::fmt::Display for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} with {}", self.path, self.data.as_deref().unwrap_or("no data"))
    }
}

/// A mock: answers one method's requests from their raw data.
type Answer = Arc<dyn Fn(Option<&str>) -> Call<'static> + Send + Sync>;

/// What the kit's client dispatches to: the mocks, and the pushes waiting for the test.
#[derive(Default)]
struct Kit {
    mocks: Mutex<HashMap<&'static str, Answer>>,
    pushes: Mutex<VecDeque<Push>>,
    arrived: Notify,
}

impl Kit {
    fn lock_mocks(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Answer>> {
        self.mocks.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_pushes(&self) -> std::sync::MutexGuard<'_, VecDeque<Push>> {
        self.pushes.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl OwnedDispatch for Kit {
    fn call_owned(&self, route: &Route, data: Option<&str>) -> Call<'static> {
        if route.is_request {
            let mock = self.lock_mocks().get(route.path).cloned();
            if let Some(answer) = mock {
                return answer(data);
            }
        }
        // A push, or a request nothing mocks (answered as a client without its handler would be): the test must
        // expect it.
        self.lock_pushes().push_back(Push {
            path: route.path,
            data: data.map(str::to_owned),
        });
        self.arrived.notify_one();
        if route.is_request {
            Call::route_not_found(route.path)
        } else {
            Call::Ready(Envelope::OK_WITHOUT_DATA)
        }
    }
}

/// Partial matching of any serializable value, like the original's `toMatchObject`.
pub trait MatchExt: Sized {
    /// Asserts the value matches `expected` partially (see [`matches_partial`]); returns the value.
    #[track_caller]
    fn to_match(self, expected: Value) -> Self;
}

impl<T: serde::Serialize> MatchExt for T {
    fn to_match(self, expected: Value) -> Self {
        assert_matches(&self, &expected, "the value");
        self
    }
}

/// Assertions on typed call results.
pub trait ResultExt<T> {
    /// Asserts success and that the value matches `expected` partially; returns the value.
    #[track_caller]
    fn expect_ok_matching(self, expected: Value) -> T;

    /// Asserts the call failed with error type `E` and returns it typed.
    #[track_caller]
    fn expect_err_type<E: GrestError>(self) -> E;
}

impl<T: serde::Serialize + std::fmt::Debug, M: MethodError> ResultExt<T> for Result<T, M> {
    fn expect_ok_matching(self, expected: Value) -> T {
        match self {
            Ok(value) => {
                assert_matches(&value, &expected, "the result");
                value
            }
            Err(error) => panic!(
                "expected success matching {expected}, got error {:?}",
                error.to_envelope()
            ),
        }
    }

    fn expect_err_type<E: GrestError>(self) -> E {
        match self {
            Ok(value) => panic!("expected error {}, got success {value:?}", E::TYPE),
            Err(error) => {
                let wire = error.to_envelope();
                if wire.error_type != E::TYPE {
                    panic!("expected error {}, got {} ({wire})", E::TYPE, wire.error_type);
                }
                E::from_envelope(wire).unwrap_or_else(|| panic!("error {} has data that does not decode", E::TYPE))
            }
        }
    }
}

/// Asserts a validation error lists exactly these `(path, code)` issues, in order.
#[track_caller]
pub fn assert_issues(error: &ValidationError, expected: &[(&str, &str)]) {
    let actual: Vec<(&str, &str)> = error.data.iter().map(|i| (i.path.as_str(), i.code.as_str())).collect();
    assert_eq!(actual, expected, "validation issues");
}

/// Whether `actual` matches `expected` partially: every key of an expected object must be present and match;
/// arrays match element by element with equal length; everything else compares equal.
pub fn matches_partial(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => expected
            .iter()
            .all(|(key, value)| actual.get(key).is_some_and(|a| matches_partial(a, value))),
        (Value::Array(actual), Value::Array(expected)) => {
            actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| matches_partial(a, e))
        }
        (actual, expected) => actual == expected,
    }
}

/// Asserts `value`, as JSON, matches `expected` partially; `what` names it in the failure.
#[track_caller]
fn assert_matches<T: serde::Serialize>(value: &T, expected: &Value, what: &str) {
    let actual = serde_json::to_value(value).unwrap_or(Value::Null);
    assert!(
        matches_partial(&actual, expected),
        "{what} does not match\n  expected (partial): {expected}\n  actual:             {actual}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn partial_matching() {
        let actual = json!({"a": 1, "b": {"c": [1, {"d": 2, "e": 3}], "f": "x"}});
        assert!(matches_partial(&actual, &json!({"a": 1})));
        assert!(matches_partial(&actual, &json!({"b": {"c": [1, {"d": 2}]}})));
        assert!(
            !matches_partial(&actual, &json!({"b": {"c": [1]}})),
            "arrays match with equal length"
        );
        assert!(!matches_partial(&actual, &json!({"a": 2})));
        assert!(
            !matches_partial(&actual, &json!({"z": null})),
            "a missing key does not match null"
        );
        assert!(matches_partial(&json!(5), &json!(5)));
    }
}
