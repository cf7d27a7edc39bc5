//! What operators see: tracing spans and error references, and that credentials never reach the logs. (Alone in
//! its test binary: a thread-scoped subscriber is only reliable when no other test thread logs meanwhile.)

use std::sync::Arc;

use grest_ws::client::Client;
use grest_ws::server::{GrestWs, WireHandler};
use grest_ws::{ErrorEnvelope, WebSocketSchema, Wire};
use grest_ws_test::TestServer;
use grest_ws_tests::{CapturedLogs, Lab, LabQuery, LabState, lab, lab_connect};

const TOKEN: Wire = Wire::header("token", "authorization").bearer();
const SECRET_LAB_API: WebSocketSchema<Lab> = WebSocketSchema::new("ws/secret-lab").uses(&[TOKEN]);

struct AnyToken;

impl WireHandler for AnyToken {
    type Principal = String;
    async fn process(&self, token: Option<&str>) -> Result<String, ErrorEnvelope> {
        Ok(token.unwrap_or_default().len().to_string())
    }
}

fn query() -> LabQuery {
    LabQuery {
        room: "obs".into(),
        version: 3,
    }
}

// A current-thread runtime: the server's tasks run on this thread, so the thread's subscriber sees them.
#[tokio::test(flavor = "current_thread")]
async fn spans_and_error_refs_are_logged_and_tokens_never_are() {
    let captured = CapturedLogs::default();
    let _guard = captured.install(tracing::Level::DEBUG);

    let state = Arc::new(LabState::default());
    let router = GrestWs::new()
        .bind(TOKEN, AnyToken)
        .ws(SECRET_LAB_API, lab_connect(state))
        .build()
        .unwrap();
    let server = TestServer::start(router).await;
    let addr = server.addr();
    let client = Client::new(SECRET_LAB_API, format!("ws://{addr}"))
        .query(query())
        .credential(TOKEN, "very-secret-token-123")
        .connect(lab::Handlers::new())
        .await
        .unwrap();
    let error_ref = match client.panic().await {
        Err(lab::PanicError::ServerError(e)) => e.context.reference,
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    };
    assert!(client.whereami().await.unwrap().starts_with("Lab.whereami"));
    let undeclared_ref = match client.undeclared().await {
        Err(lab::UndeclaredError::ServerError(e)) => e.context.reference,
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    };
    client.close();
    tokio::time::timeout(grest_ws_tests::PATIENCE, client.handle().closed())
        .await
        .unwrap();
    tokio::task::yield_now().await;

    let logs = captured.take();
    assert!(
        logs.contains(&error_ref),
        "the panic is logged with the ref the peer got:\n{logs}"
    );
    assert!(
        logs.contains(&undeclared_ref),
        "a failed request is logged with its ref:\n{logs}"
    );
    assert!(
        logs.contains("ws_connection{api=\"Lab\" path=\"/ws/secret-lab\""),
        "a span per connection:\n{logs}"
    );
    assert!(
        logs.contains("ws_message{path=\"Lab.whereami\" id=\"2\"}"),
        "a span per message:\n{logs}"
    );
    assert!(
        !logs.contains("very-secret-token-123"),
        "credentials never reach the logs:\n{logs}"
    );
}
