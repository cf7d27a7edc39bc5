//! `fetch_document`: the client reads a JSON document a server serves (its AsyncAPI document), over real loopback
//! sockets against a real axum server, with every answer it can get: a plain body, a chunked one, a 404, text that
//! is not JSON, a body over the limit, a server that never answers, and no server at all.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use grest_ws::client::{ClientConfig, DocumentError, MAX_DOCUMENT, TransportError, fetch_document};
use grest_ws_tests::http_get_with_head;
use serde_json::json;
use tokio::net::TcpListener;

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

#[tokio::test]
async fn a_served_document_is_read_whole_or_refused_with_a_reason() {
    let chunks = || {
        let parts = ["{\"info\":", "{\"title\":\"Chat\"}", "}"].map(|part| Ok::<_, std::io::Error>(part.to_owned()));
        Body::from_stream(futures_util::stream::iter(parts))
    };
    let base = serve(
        Router::new()
            .route(
                "/doc.json",
                get(|| async {
                    (
                        [(http::header::CONTENT_TYPE, "application/json")],
                        r#"{"info":{"title":"Chat"}}"#,
                    )
                }),
            )
            .route("/chunked.json", get(move || async move { chunks() }))
            .route("/text", get(|| async { "not json" }))
            .route("/big", get(|| async { vec![b' '; MAX_DOCUMENT + 1] })),
    )
    .await;
    let config = ClientConfig::default();
    let fetch = |path: &str| {
        let url = format!("{base}{path}");
        let config = &config;
        async move { fetch_document(&url, config).await }
    };

    // The two bodies are framed the two ways a server frames one.
    let address = base.trim_start_matches("http://").parse().unwrap();
    let (_, head, _) = http_get_with_head(address, "/doc.json", &[]).await;
    assert!(head.to_ascii_lowercase().contains("content-length: 25"), "{head}");
    let (_, head, _) = http_get_with_head(address, "/chunked.json", &[]).await;
    assert!(
        head.to_ascii_lowercase().contains("transfer-encoding: chunked"),
        "{head}"
    );

    assert_eq!(fetch("/doc.json").await.unwrap(), json!({"info": {"title": "Chat"}}));
    assert_eq!(
        fetch("/chunked.json").await.unwrap(),
        json!({"info": {"title": "Chat"}})
    );
    // A ws:// URL names the same host over HTTP.
    let ws = base.replace("http://", "ws://");
    assert!(fetch_document(&format!("{ws}/doc.json"), &config).await.is_ok());

    assert_eq!(fetch("/missing").await.unwrap_err(), DocumentError::Status(404));
    assert!(matches!(fetch("/text").await.unwrap_err(), DocumentError::NotJson(_)));
    assert_eq!(fetch("/big").await.unwrap_err(), DocumentError::TooLarge);
    let invalid = fetch_document("ftp://127.0.0.1/doc", &config).await.unwrap_err();
    assert_eq!(
        invalid.to_string(),
        "invalid document URL \"ftp://127.0.0.1/doc\": use http://, https://, ws:// or wss://"
    );
}

#[tokio::test]
async fn a_silent_server_times_out_and_an_absent_one_is_a_transport_error() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let config = ClientConfig::default().handshake_timeout(Duration::from_millis(300));
    let error = fetch_document(&format!("http://{address}/doc.json"), &config)
        .await
        .unwrap_err();
    assert_eq!(error, DocumentError::TimedOut(Duration::from_millis(300)));

    drop(silent);
    let error = fetch_document(&format!("http://{address}/doc.json"), &config)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            DocumentError::Transport(TransportError::Io {
                kind: std::io::ErrorKind::ConnectionRefused,
                ..
            })
        ),
        "{error:?}"
    );
}
