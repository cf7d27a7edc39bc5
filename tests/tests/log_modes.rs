//! Client log modes through `tracing`: `Off` logs nothing, `NonOk` only failures, `All` every message. (Alone in
//! its test binary, like `observability.rs`, for a reliable thread-scoped subscriber.)

use grest_ws::client::{Client, ClientConfig};
use grest_ws::session::LogMode;
use grest_ws_tests::{CapturedLogs, LAB_API, LabQuery, lab, start};

#[tokio::test(flavor = "current_thread")]
async fn each_mode_logs_what_it_promises() {
    let captured = CapturedLogs::default();
    let _guard = captured.install(tracing::Level::INFO);
    let server = start().await;
    let query = LabQuery {
        room: "logs".into(),
        version: 1,
    };

    for mode in [LogMode::Off, LogMode::NonOk, LogMode::All] {
        let client = Client::new(LAB_API, server.base_url())
            .query(query.clone())
            .config(ClientConfig::default().log_mode(mode))
            .connect(lab::Handlers::new())
            .await
            .unwrap();
        client.room().await.unwrap();
        assert!(client.panic().await.is_err());
        client.close();
        tokio::time::timeout(grest_ws_tests::PATIENCE, client.handle().closed())
            .await
            .unwrap();
        let logs = captured.take();
        let ok_call = logs.contains(r#"ws→ path="Lab.room""#);
        let failed_call = logs.contains(r#"ws→ failed path="Lab.panic""#);
        match mode {
            LogMode::Off => assert!(!ok_call && !failed_call, "Off logs no calls:\n{logs}"),
            LogMode::NonOk => assert!(!ok_call && failed_call, "NonOk logs only the failure:\n{logs}"),
            LogMode::All => assert!(
                ok_call && failed_call && logs.contains("ws open"),
                "All logs everything:\n{logs}"
            ),
        }
    }
}
