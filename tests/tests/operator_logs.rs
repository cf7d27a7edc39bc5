//! What an operator reads at the default `info` level: each connection and disconnection with the peer's address,
//! refused requests at info and the server's own failures at warn, each with the `ERR_REF` its peer received. (Alone
//! in its test binary: a thread-scoped subscriber is only reliable when no other test thread logs meanwhile.)

use grest_ws::client::{Client, ClientConfig};
use grest_ws_tests::{CapturedLogs, JoinInput, LAB_API, LabQuery, PATIENCE, lab, start};

// A current-thread runtime: the server's tasks run on this thread, so the thread's subscriber sees them.
#[tokio::test(flavor = "current_thread")]
async fn connections_and_failures_are_logged_at_info_and_warn() {
    let captured = CapturedLogs::default();
    let _guard = captured.install(tracing::Level::INFO);
    let server = start().await;
    let client = Client::new(LAB_API, server.base_url())
        .query(LabQuery {
            room: "ops".into(),
            version: 1,
        })
        .config(ClientConfig::default().reconnect(None))
        .connect(lab::Handlers::new())
        .await
        .unwrap();
    let missing = JoinInput {
        room_id: "missing".into(),
    };
    let refused_ref = match client.join(&missing).await {
        Err(lab::JoinError::NotFound(e)) => e.context.reference,
        other => panic!("expected NOT_FOUND, got {other:?}"),
    };
    let failed_ref = match client.panic().await {
        Err(lab::PanicError::ServerError(e)) => e.context.reference,
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    };
    let cause_ref = match client.parse(&"forty-two".to_owned()).await {
        Err(lab::ParseError::ServerError(e)) => e.context.reference,
        other => panic!("expected SERVER_ERROR, got {other:?}"),
    };
    client.close();
    // The server logs the disconnection when its session ends: wait for that line.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut logs = String::new();
    while !logs.contains("WebSocket disconnected") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no disconnection logged:\n{logs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        logs.push_str(&captured.take());
    }

    // The server's line with all of `needles` (the client logs its own side of a failed call too).
    let line = |needles: &[&str]| {
        logs.lines()
            .find(|line| needles.iter().all(|needle| line.contains(needle)))
            .unwrap_or_else(|| panic!("no line with {needles:?}:\n{logs}"))
            .to_owned()
    };
    let connected = line(&["WebSocket connected"]);
    assert!(connected.contains(" INFO "), "{connected}");
    assert!(connected.contains("peer=127.0.0.1:"), "the peer's address: {connected}");
    let refused = line(&[&refused_ref, "request refused"]);
    assert!(refused.contains(" INFO ") && refused.contains("NOT_FOUND"), "{refused}");
    let failed = line(&[&failed_ref, "request failed"]);
    assert!(failed.contains(" WARN ") && failed.contains("SERVER_ERROR"), "{failed}");
    // `?` on an error the method does not declare: the peer got SERVER_ERROR, the cause is logged under its ref.
    let cause = line(&[&cause_ref, "handler failed"]);
    assert!(
        cause.contains(" ERROR ") && cause.contains("invalid digit found in string"),
        "{cause}"
    );
    let disconnected = line(&["WebSocket disconnected"]);
    assert!(
        disconnected.contains(" INFO ") && disconnected.contains("peer=127.0.0.1:"),
        "{disconnected}"
    );
    assert!(disconnected.contains("end=closed by the peer"), "{disconnected}");
}
