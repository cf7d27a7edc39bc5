//! `wss://` end to end: a server presents a certificate generated for the test and serves TLS (`Serve::tls`); the
//! Rust client that trusts it makes typed calls; a client that trusts only the web-PKI roots, and a `ws://` client
//! on the TLS port, fail with messages a person can act on.

use std::sync::Arc;

use grest_ws::client::{Client, ClientConfig, ConnectError, TlsConfig, TransportError};
use grest_ws::server::{TlsIdentity, serve};
use grest_ws_tests::{EchoInput, LAB_API, LabQuery, LabState, TestCertificate, lab_router};

/// The lab endpoint served over TLS with `certificate`, on a free loopback port; the port.
async fn tls_server(certificate: &TestCertificate) -> u16 {
    let identity =
        TlsIdentity::from_pem_files(certificate.cert_path(), certificate.key_path()).expect("valid PEM files");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let router = lab_router(Arc::new(LabState::default()), Default::default());
    tokio::spawn(async move { serve(listener, router).tls(identity).await });
    port
}

fn query() -> LabQuery {
    LabQuery {
        room: "general".into(),
        version: 2,
    }
}

async fn connect(
    url: String,
    config: ClientConfig,
) -> Result<grest_ws_tests::lab::Client, ConnectError<grest_ws_tests::lab::ConnectError>> {
    Client::new(LAB_API, url)
        .query(query())
        .config(config.reconnect(None))
        .connect(grest_ws_tests::lab::Handlers::new())
        .await
}

/// A client that trusts the server's certificate calls over `wss://`, by host name and by IP address.
#[tokio::test]
async fn a_client_that_trusts_the_certificate_calls_over_wss() {
    let certificate = TestCertificate::generate();
    let port = tls_server(&certificate).await;
    let tls = TlsConfig::from_pem_file(certificate.cert_path()).expect("the certificate is a usable CA");
    for host in ["localhost", "127.0.0.1"] {
        let client = connect(format!("wss://{host}:{port}"), ClientConfig::default().tls(tls.clone()))
            .await
            .expect("connects over TLS");
        let echoed = client
            .echo(&EchoInput {
                text: "over TLS".into(),
            })
            .await
            .expect("a typed answer");
        assert_eq!(echoed.text, "over TLS");
    }
}

/// Requests that arrive over TLS have an `https` origin: a browser page served by the same TLS server (Origin
/// `https://localhost:PORT`) passes the default same-origin policy, another site is refused with 403.
#[tokio::test]
async fn the_origin_policy_sees_tls_requests_as_https() {
    let certificate = TestCertificate::generate();
    let port = tls_server(&certificate).await;
    let tls = TlsConfig::from_pem_file(certificate.cert_path()).expect("the certificate is a usable CA");
    let with_origin = |origin: String| {
        Client::new(LAB_API, format!("wss://localhost:{port}"))
            .query(query())
            .config(ClientConfig::default().tls(tls.clone()).reconnect(None))
            .upgrade_header("Origin", origin)
            .connect(grest_ws_tests::lab::Handlers::new())
    };
    let same_site = with_origin(format!("https://localhost:{port}"))
        .await
        .expect("the page's own origin is allowed");
    assert_eq!(same_site.room().await.unwrap(), "general@2");
    let other_site = with_origin("https://evil.example".into()).await;
    assert!(matches!(other_site, Err(ConnectError::Refused(403))), "{other_site:?}");
    let downgraded = with_origin(format!("http://localhost:{port}")).await;
    assert!(matches!(downgraded, Err(ConnectError::Refused(403))), "{downgraded:?}");
}

/// The default client trusts the web-PKI roots only: a self-signed certificate is refused, and the message says
/// which URL, why, and what to do.
#[tokio::test]
async fn an_untrusted_certificate_is_refused_with_a_hint() {
    let certificate = TestCertificate::generate();
    let port = tls_server(&certificate).await;
    let url = format!("wss://localhost:{port}");
    let error = connect(url.clone(), ClientConfig::default())
        .await
        .expect_err("the certificate is not trusted");
    let ConnectError::Transport {
        cause: TransportError::Tls(_),
        ..
    } = &error
    else {
        panic!("not a TLS failure: {error:?}");
    };
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot connect to {url}/ws/lab?")),
        "{message}"
    );
    assert!(message.contains("TlsConfig::from_pem_file"), "{message}");
}

/// `ws://` to a TLS port: the server's TLS answer is not an HTTP upgrade, and the client says so.
#[tokio::test]
async fn plain_websocket_to_a_tls_port_fails_clearly() {
    let certificate = TestCertificate::generate();
    let port = tls_server(&certificate).await;
    let error = connect(format!("ws://127.0.0.1:{port}"), ClientConfig::default())
        .await
        .expect_err("no TLS, no upgrade");
    assert!(
        matches!(
            &error,
            ConnectError::Transport {
                cause: TransportError::Upgrade(_) | TransportError::Io { .. },
                ..
            }
        ),
        "{error:?}"
    );
}

/// Nobody listening: the message names the URL and asks whether the server runs.
#[tokio::test]
async fn a_refused_connection_says_where_and_what_to_check() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let error = connect(format!("ws://127.0.0.1:{port}"), ClientConfig::default())
        .await
        .expect_err("nobody listens");
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("cannot connect to ws://127.0.0.1:{port}/ws/lab?")),
        "{message}"
    );
    assert!(
        message.ends_with("connection refused (is the server running and listening on that address?)"),
        "{message}"
    );
}
