//! Warnings a peer can provoke at will are rate-limited across all connections (a test binary of its own: the
//! budget is process-wide, so other tests must not spend it).

use std::time::Instant;

use grest_ws_tests::{CapturedLogs, RawWs, start};

// A current-thread runtime: the server's tasks run on this thread, so the thread's subscriber sees them.
#[tokio::test(flavor = "current_thread")]
async fn unknown_paths_on_many_connections_cannot_flood_the_log() {
    let logs = CapturedLogs::default();
    let _guard = logs.install(tracing::Level::WARN);
    let server = start().await;
    let path = "y".repeat(64 * 1024);
    let started = Instant::now();
    for n in 0..60 {
        let mut ws = RawWs::handshaken(&server.lab_url()).await;
        ws.send(&format!("m:{path}{n}::{{}}")).await;
        // The message was handled (and its warning decided) once a later request on the socket is answered.
        ws.send(r#"r:Lab.echo:1:{"text":"after"}"#).await;
        assert!(ws.recv_text().await.starts_with(r#"s:Lab.echo:1:{"success":true"#));
    }
    // The budget is per wall-clock second: a run of d seconds touches at most d + 2 of them.
    let seconds = started.elapsed().as_secs() + 2;
    let logged = logs.take();
    let lines = logged.matches("no handler for message").count();
    assert!(lines >= 1, "{logged}");
    assert!(lines as u64 <= 10 * seconds, "{lines} warnings in {seconds} s");
    assert!(logged.len() <= lines * 400, "{} bytes for {lines} lines", logged.len());
}
