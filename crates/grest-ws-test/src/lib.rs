//! The grest-ws test kit (the original's `callOn(Schema)`), in the spirit of Phoenix.ChannelTest and tower-test:
//! start your real server on an ephemeral loopback port, get a connected typed client per schema, assert on
//! results, errors and validation issues, and script the server-to-client side with mocks. Every push the test
//! did not expect fails it.
//!
//! The testing example of the grest-ts documentation, in Rust:
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
//! # }
//! use grest_ws_test::{ResultExt, TestServer, assert_issues};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() {
//!     let router = GrestWs::new()
//!         .ws(CHAT_API, |conn: Connected<Chat>| async move { Session(conn.peer) })
//!         .build()
//!         .unwrap();
//!     let server = TestServer::start(router).await;
//!     let mut api = server.call_on(CHAT_API).await;
//!
//!     // A success that matches a partial object.
//!     api.client
//!         .send_message(&SendMessageRequest { text: "Hello".into(), channel_id: "general".into() })
//!         .await
//!         .expect_ok_matching(json!({"success": true}));
//!     // The push that came with it.
//!     api.expect_push("new_message").await.to_match(json!({"text": "Hello"}));
//!
//!     // An expected error, with its field issues.
//!     let error = api.client
//!         .send_message(&SendMessageRequest { text: "".into(), channel_id: "general".into() })
//!         .await
//!         .expect_err_type::<ValidationError>();
//!     assert_issues(&error, &[("text", "invalid.string.nonEmpty")]);
//!
//!     // Server-to-client requests are answered by mocks.
//!     api.answer("are_you_there", json!(true));
//!
//!     api.disconnect().await;
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use grest_ws::__private::session::{Call, OwnedDispatch, Route};
use grest_ws::client::Client;
use grest_ws::protocol::envelope::Envelope;
use grest_ws::{
    Direction, DuplexContract, ErrorEnvelope, GrestError, MethodError, ServerError, ValidationError, WebSocketSchema,
};
use serde_json::Value;
use tokio::sync::mpsc;

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
        let mocks = Arc::new(Mocks::new());
        let (tx, pushes) = mpsc::unbounded_channel();
        *mocks.pushes.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        let client = builder
            .config(grest_ws::client::ClientConfig::default().reconnect(None))
            .connect_dispatch(mocks.clone())
            .await
            .unwrap_or_else(|e| panic!("test client for {} failed to connect: {e}", C::META.name));
        TestClient { client, mocks, pushes }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A connected, typed test client. `client` is the contract's real client; pushes and server requests go to the
/// mocks.
pub struct TestClient<C: DuplexContract> {
    /// The typed client: call client-to-server methods on it.
    pub client: C::Client,
    mocks: Arc<Mocks>,
    pushes: mpsc::UnboundedReceiver<Push>,
}

impl<C: DuplexContract> std::fmt::Debug for TestClient<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("contract", &C::META.name)
            .finish_non_exhaustive()
    }
}

/// A server-to-client message the test received.
#[derive(Debug, Clone, PartialEq)]
pub struct Push {
    /// Its wire path.
    pub path: &'static str,
    /// Its data (`Null` when it had none).
    pub data: Value,
}

impl Push {
    /// Asserts the data matches `expected` partially (objects: the listed keys; arrays and scalars: exactly).
    #[track_caller]
    pub fn to_match(&self, expected: Value) -> &Self {
        assert_partial(&self.data, &expected, self.path);
        self
    }

    /// The data decoded into `T`.
    #[track_caller]
    pub fn decoded<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_value(self.data.clone())
            .unwrap_or_else(|e| panic!("push {} does not decode: {e}; data: {}", self.path, self.data))
    }
}

impl<C: DuplexContract> TestClient<C> {
    /// Waits for the next server-to-client message and asserts it is `method` (the Rust name, e.g.
    /// `"new_message"`); fails on any other message, or after [`PATIENCE`].
    #[track_caller]
    pub fn expect_push(&mut self, method: &str) -> impl std::future::Future<Output = Push> + '_ {
        let path = method_path(C::META, method);
        async move {
            match tokio::time::timeout(PATIENCE, self.pushes.recv()).await {
                Ok(Some(push)) if push.path == path => push,
                Ok(Some(push)) => panic!("expected a push of {path}, got {} with {}", push.path, push.data),
                Ok(None) => panic!("the socket closed while waiting for {path}"),
                Err(_) => panic!("no push of {path} within {PATIENCE:?}"),
            }
        }
    }

    /// Answers every server-to-client request of `method` with `value` (validated by the contract on the way).
    pub fn answer(&self, method: &str, value: Value) {
        let path = method_path(C::META, method);
        self.mocks.lock_answers().insert(path, Answer::Ok(value));
    }

    /// Answers every server-to-client request of `method` with an error.
    pub fn answer_error(&self, method: &str, error: impl GrestError) {
        let path = method_path(C::META, method);
        self.mocks.lock_answers().insert(path, Answer::Err(error.to_envelope()));
    }

    /// Asserts no push arrived that the test did not consume.
    #[track_caller]
    pub fn assert_no_pushes(&mut self) {
        if let Ok(push) = self.pushes.try_recv() {
            panic!(
                "unexpected push {} with {}: all socket messages must be mocked or expected in tests",
                push.path, push.data
            );
        }
    }

    /// Closes gracefully, after asserting no unexpected push is left.
    pub async fn disconnect(mut self) {
        self.assert_no_pushes();
        self.client.as_ref().disconnect(Duration::from_secs(5)).await;
    }
}

impl<C: DuplexContract> Drop for TestClient<C> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_no_pushes();
        }
    }
}

fn method_path(meta: &'static grest_ws::ContractMeta, method: &str) -> &'static str {
    meta.methods_in(Direction::ServerToClient)
        .find(|(_, m)| m.name == method || m.path.ends_with(&format!(".{method}")))
        .map(|(_, m)| m.path)
        .unwrap_or_else(|| panic!("{} has no server-to-client method {method:?}", meta.name))
}

enum Answer {
    Ok(Value),
    Err(ErrorEnvelope),
}

/// Records pushes and answers server-to-client requests for a test client.
struct Mocks {
    answers: Mutex<HashMap<&'static str, Answer>>,
    pushes: Mutex<Option<mpsc::UnboundedSender<Push>>>,
}

impl Mocks {
    fn new() -> Self {
        Mocks {
            answers: Mutex::new(HashMap::new()),
            pushes: Mutex::new(None),
        }
    }

    fn lock_answers(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Answer>> {
        self.answers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl OwnedDispatch for Mocks {
    fn call_owned(&self, route: &Route, data: Option<&str>) -> Call<'static> {
        if route.is_request {
            return match self.lock_answers().get(route.path) {
                Some(Answer::Ok(value)) => {
                    Envelope::ok(value).map_or_else(|_| Call::error(&ServerError::invalid_response()), Call::Ready)
                }
                Some(Answer::Err(error)) => Call::Ready(Envelope::failure(error.clone())),
                None => {
                    let data = data.and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
                    if let Some(tx) = self.pushes.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                        let _ = tx.send(Push { path: route.path, data });
                    }
                    Call::route_not_found(route.path)
                }
            };
        }
        let data = data.and_then(|d| serde_json::from_str(d).ok()).unwrap_or(Value::Null);
        if let Some(tx) = self.pushes.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(Push { path: route.path, data });
        }
        Call::Ready(Envelope::OK_WITHOUT_DATA)
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
                let actual = serde_json::to_value(&value).unwrap_or(Value::Null);
                assert_partial(&actual, &expected, "the result");
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

#[track_caller]
fn assert_partial(actual: &Value, expected: &Value, what: &str) {
    assert!(
        matches_partial(actual, expected),
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
