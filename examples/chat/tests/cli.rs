//! The chat's two programs as a person runs them: `--help`, the line that says where the page is, a port already in
//! use, HTTPS/WSS with a certificate, and the terminal client saying when it drops and reconnects. Each waits for
//! the line it expects (the programs' own output), never for time to pass.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use chat::{CHAT_API, SendMessageRequest, chat as api};
use grest_ws::client::{Client, ClientConfig, TlsConfig};
use grest_ws_tests::TestCertificate;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// Generous: the tests must pass on a busy 2-core machine, and a passing test never waits this long.
const WAIT: Duration = Duration::from_secs(20);

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// Reads lines until one contains `needle`; fails after [`WAIT`] or at the end of the output.
async fn line_with<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut Lines<R>, needle: &str) -> String {
    let found = async {
        loop {
            match lines.next_line().await.expect("readable output") {
                Some(line) if line.contains(needle) => return line,
                Some(_) => {}
                None => panic!("the output ended without {needle:?}"),
            }
        }
    };
    tokio::time::timeout(WAIT, found)
        .await
        .unwrap_or_else(|_| panic!("no line with {needle:?} in time"))
}

/// A chat server process and its log (stdout); killed when dropped.
struct ChatServer {
    child: Child,
    log: Lines<BufReader<ChildStdout>>,
}

impl ChatServer {
    /// Starts `chat --addr addr <extra>` and waits for the line that says where the page is; that line.
    async fn start(addr: SocketAddr, extra: &[&str]) -> (ChatServer, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat"))
            .args(["--addr", &addr.to_string()])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the chat binary runs");
        let mut log = BufReader::new(child.stdout.take().expect("piped")).lines();
        let started = line_with(&mut log, "chat page at").await;
        (ChatServer { child, log }, started)
    }
}

#[tokio::test]
async fn help_lists_the_options_with_examples() {
    for program in [env!("CARGO_BIN_EXE_chat"), env!("CARGO_BIN_EXE_chat-client")] {
        let output = Command::new(program).arg("--help").output().await.expect("runs");
        assert!(output.status.success(), "{program} --help fails");
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("Usage:") && help.contains("Examples:"), "{help}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("--help")
        .output()
        .await
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for option in [
        "--addr",
        "--redis",
        "--redis-cluster",
        "--nats",
        "--tls-cert",
        "--tls-key",
    ] {
        assert!(help.contains(option), "{option} missing from:\n{help}");
    }
}

#[tokio::test]
async fn the_server_says_where_the_page_is() {
    let addr = free_addr();
    let (_server, started) = ChatServer::start(addr, &[]).await;
    assert!(
        started.contains(&format!(
            "chat page at http://{addr}/ (WebSocket API at ws://{addr}/ws/chat)"
        )),
        "{started}"
    );
}

#[tokio::test]
async fn a_port_in_use_is_explained_with_a_hint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to occupy");
    let addr = taken.local_addr().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_chat"))
        .args(["--addr", &addr.to_string()])
        .output()
        .await
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: cannot listen on {addr}: the address is already in use (is another chat server running? \
             choose another port with --addr)"
        )
    );
}

#[tokio::test]
async fn the_server_serves_wss_with_a_certificate() {
    let certificate = TestCertificate::generate();
    let addr = free_addr();
    let (cert, key) = (certificate.cert_path(), certificate.key_path());
    let (_server, started) = ChatServer::start(
        addr,
        &["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()],
    )
    .await;
    let port = addr.port();
    assert!(started.contains(&format!("chat page at https://{addr}/")), "{started}");
    let tls = TlsConfig::from_pem_file(&cert).expect("a usable CA");
    let client = Client::new(CHAT_API, format!("wss://localhost:{port}"))
        .config(ClientConfig::default().tls(tls).reconnect(None))
        .connect(api::Handlers::new().on_are_you_there(|| async { Ok(true) }))
        .await
        .expect("connects over TLS");
    let request = SendMessageRequest {
        text: "over TLS".into(),
        channel_id: "general".into(),
    };
    assert!(client.send_message(&request).await.unwrap().success);
}

/// The terminal client: connects by name, sends what is typed, says when the server goes away and when it is back.
#[tokio::test]
async fn the_terminal_client_says_when_it_drops_and_reconnects() {
    let addr = free_addr();
    let (mut server, _) = ChatServer::start(addr, &[]).await;
    let mut client = Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .args(["--url", &format!("ws://{addr}"), "--name", "ada"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the chat-client binary runs");
    let mut said: Lines<BufReader<ChildStderr>> = BufReader::new(client.stderr.take().unwrap()).lines();
    let connected = line_with(&mut said, "connected to").await;
    assert_eq!(
        connected,
        format!("connected to ws://{addr} as ada; type a message and press Enter (Ctrl-D to quit)")
    );
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    line_with(&mut said, "sent as m1").await;

    server.child.kill().await.expect("the server stops");
    drop(server.log);
    line_with(&mut said, "connection lost; reconnecting…").await;
    let (_again, _) = ChatServer::start(addr, &[]).await;
    line_with(&mut said, "reconnected").await;
}
