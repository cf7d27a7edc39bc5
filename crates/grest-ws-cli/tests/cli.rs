//! The `grest-ws` binary against a real grest-ws server on a loopback port: calls that succeed, fire-and-forget,
//! `listen` printing pushes and answering requests (by rule and with `ROUTE_NOT_FOUND`), reconnecting and Ctrl-C;
//! and every kind of failure with its one-line message and its exit code. Each test waits for what it expects
//! (the program's exit, its output lines, what the server recorded), never for time to pass.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use grest_ws::asyncapi::{AsyncApi, AsyncApiInfo};
use grest_ws::server::{Connected, GrestWs, TlsIdentity, WireHandler};
use grest_ws::{
    ErrorEnvelope, Forbidden, HandlerResult, NotAuthorized, Permission, RouteNotFound, ServerError, Validate,
    ValidationError, WebSocketSchema, Wire, contract, define_error,
};
use grest_ws_test::TestServer;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

/// Generous: the tests must pass on a busy 2-core machine, and a passing test never waits this long.
const WAIT: Duration = Duration::from_secs(30);

const TOKEN: Wire = Wire::header("token", "authorization").bearer();
const CLIENT: Wire = Wire::header("client", "x-client").ambient();
const THEME: Wire = Wire::cookie("theme", "theme").ambient();

define_error! {
    /// A declared error of the contract's own.
    pub struct RoomFull = ("ROOM_FULL", 409);
}

/// `Desk.greet` input.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Greeting {
    #[validate(non_empty)]
    name: String,
}

/// The handshake query.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate)]
pub struct DeskQuery {
    #[validate(non_empty)]
    room: Option<String>,
}

contract! {
    /// One method per outcome the command line tells apart.
    pub Desk {
        connect { input: DeskQuery, errors: [NotAuthorized, ServerError] }
        client_to_server {
            /// Says who called, with everything the handshake carried.
            greet(Greeting) -> String, errors: [ValidationError, ServerError], permission: Permission::Public;
            /// Always full: a declared error of the contract's own.
            book(String) -> bool, errors: [RoomFull, ServerError], permission: Permission::Public;
            /// Always fails.
            crash() -> bool, errors: [ServerError], permission: Permission::Public;
            /// Needs a scope nobody has.
            admin() -> bool, errors: [Forbidden, ServerError], permission: Permission::Scope("admin");
            /// Never answers in time.
            slow() -> bool, errors: [ServerError], permission: Permission::Public;
            /// Fire-and-forget: recorded.
            note(String), permission: Permission::Public;
            /// The connection's number; never answered on a connection that is dropped.
            attempt() -> u32, errors: [ServerError], permission: Permission::Public;
        }
        server_to_client {
            /// Pushed on the live endpoints, with the connection's number.
            tick(u32), permission: Permission::Public;
            /// Asked on the live endpoints after the tick.
            ask_name() -> String, errors: [RouteNotFound, ServerError], permission: Permission::Public;
        }
    }
}

/// Calls only.
const DESK_API: WebSocketSchema<Desk> = WebSocketSchema::new("ws/desk").uses(&[TOKEN, CLIENT, THEME]);
/// Pushes a tick and asks the name on every connection.
const LIVE_API: WebSocketSchema<Desk> = WebSocketSchema::new("ws/desk-live").uses(&[TOKEN]);
/// Like the live one, and drops the first connection after its question.
const FLAKY_API: WebSocketSchema<Desk> = WebSocketSchema::new("ws/desk-flaky").uses(&[TOKEN]);

/// Any `secret-<user>` token is that user; no scopes.
struct Tokens;

impl WireHandler for Tokens {
    type Principal = String;
    const RESOLVES_PERMISSIONS: bool = true;

    async fn process(&self, token: Option<&str>) -> Result<String, ErrorEnvelope> {
        let token = token.ok_or_else(|| NotAuthorized::with_display_message("Missing token"))?;
        token
            .strip_prefix("secret-")
            .map(str::to_owned)
            .ok_or_else(|| NotAuthorized::with_display_message("Invalid token").into())
    }

    async fn permissions(&self, _: &String) -> Vec<String> {
        Vec::new()
    }
}

/// What the server saw: fire-and-forget notes, and the answers to its questions.
struct Seen {
    notes: mpsc::UnboundedReceiver<String>,
    answers: mpsc::UnboundedReceiver<Result<String, desk::AskNameError>>,
}

struct Session {
    greeting: String,
    notes: mpsc::UnboundedSender<String>,
    /// The live connection's number (0 on the calls-only endpoint).
    number: u32,
    /// Whether the connection is dropped after its question (so `attempt` never answers on it).
    doomed: bool,
}

impl desk::Server for Session {
    async fn greet(&self, input: Greeting) -> HandlerResult<String, desk::GreetError> {
        Ok(format!("hello {} {}", input.name, self.greeting))
    }
    async fn book(&self, _: String) -> HandlerResult<bool, desk::BookError> {
        Err(RoomFull::with_display_message("No seats left").into())
    }
    async fn crash(&self) -> HandlerResult<bool, desk::CrashError> {
        Err(ServerError::with_display_message("Out of paper").into())
    }
    async fn admin(&self) -> HandlerResult<bool, desk::AdminError> {
        Ok(true)
    }
    async fn slow(&self) -> HandlerResult<bool, desk::SlowError> {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(true)
    }
    async fn note(&self, text: String) {
        let _ = self.notes.send(text);
    }
    async fn attempt(&self) -> HandlerResult<u32, desk::AttemptError> {
        if self.doomed {
            std::future::pending::<()>().await;
        }
        Ok(self.number)
    }
}

/// What every connection shares.
#[derive(Clone)]
struct Shared {
    notes: mpsc::UnboundedSender<String>,
    answers: mpsc::UnboundedSender<Result<String, desk::AskNameError>>,
    connections: Arc<AtomicU32>,
}

impl Shared {
    fn session(&self, greeting: String, number: u32, doomed: bool) -> Session {
        Session {
            greeting,
            notes: self.notes.clone(),
            number,
            doomed,
        }
    }

    /// A calls-only connection: its greeting says what the handshake carried.
    fn desk(&self, conn: &Connected<Desk>) -> Session {
        self.session(
            format!(
                "from {} via {}, {} theme, room {}",
                conn.principal::<String>(TOKEN).map_or("-", String::as_str),
                conn.wire(CLIENT).unwrap_or("-"),
                conn.wire(THEME).unwrap_or("-"),
                conn.query.room.as_deref().unwrap_or("-"),
            ),
            0,
            false,
        )
    }

    /// A live connection: a tick with its number, then the question; the first is dropped after it when
    /// `drop_first`.
    fn live(&self, conn: Connected<Desk>, drop_first: bool) -> Session {
        let number = self.connections.fetch_add(1, Ordering::SeqCst) + 1;
        let answers = self.answers.clone();
        let peer = conn.peer;
        let doomed = drop_first && number == 1;
        tokio::spawn(async move {
            let _ = peer.tick(&number).await;
            let _ = answers.send(peer.ask_name().await);
            if doomed {
                peer.handle().close();
            }
        });
        self.session(String::new(), number, doomed)
    }
}

/// The three endpoints, and what they saw; with `document`, the app serves its AsyncAPI document at
/// `/asyncapi.json` as well.
fn app(document: bool) -> (axum::Router, Seen) {
    let (notes, notes_seen) = mpsc::unbounded_channel();
    let (answers, answers_seen) = mpsc::unbounded_channel();
    let shared = Shared {
        notes,
        answers,
        connections: Arc::default(),
    };
    let (desk, live, flaky) = (shared.clone(), shared.clone(), shared);
    let mut server = GrestWs::new();
    if document {
        server = server.asyncapi("/asyncapi.json", AsyncApi::new(AsyncApiInfo::new("Desk", "1.0.0")));
    }
    let router = server
        .bind(TOKEN, Tokens)
        .ws(DESK_API, move |conn: Connected<Desk>| {
            let session = desk.desk(&conn);
            async move { session }
        })
        .ws(LIVE_API, move |conn: Connected<Desk>| {
            let session = live.live(conn, false);
            async move { session }
        })
        .ws(FLAKY_API, move |conn: Connected<Desk>| {
            let session = flaky.live(conn, true);
            async move { session }
        })
        .build()
        .expect("the test server builds");
    let seen = Seen {
        notes: notes_seen,
        answers: answers_seen,
    };
    (router, seen)
}

/// The app on a loopback port, without an AsyncAPI document (so calls go out unchecked, as to a grest-ts server).
async fn start() -> (TestServer, Seen) {
    let (router, seen) = app(false);
    (TestServer::start(router).await, seen)
}

/// The app on a loopback port, serving its AsyncAPI document.
async fn start_documented() -> (TestServer, Seen) {
    let (router, seen) = app(true);
    (TestServer::start(router).await, seen)
}

/// `grest-ws <args>`, without a bearer token from the environment.
fn grest_ws(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_grest-ws"));
    command
        .args(args)
        .env_remove("GREST_WS_BEARER")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs to the end; fails after [`WAIT`].
async fn run(command: &mut Command) -> Output {
    tokio::time::timeout(WAIT, command.output())
        .await
        .expect("the program ends in time")
        .expect("the program runs")
}

/// What a finished run printed and its exit code.
struct Ran {
    code: i32,
    stdout: String,
    stderr: Vec<String>,
}

async fn ran(args: &[&str]) -> Ran {
    let output = run(&mut grest_ws(args)).await;
    Ran {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        stderr: String::from_utf8(output.stderr)
            .expect("UTF-8")
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

impl Ran {
    /// Asserts the exit code and that the last stderr line is the one error message, starting with `message`;
    /// returns the lines before it.
    #[track_caller]
    fn failed(&self, code: i32, message: &str) -> &[String] {
        let (last, before) = self.stderr.split_last().expect("a message on stderr");
        assert!(last.starts_with(&format!("error: {message}")), "{:?}", self.stderr);
        assert_eq!(self.code, code, "{:?}", self.stderr);
        assert_eq!(self.stdout, "", "nothing on stdout");
        before
    }
}

fn url(server: &TestServer, path: &str) -> String {
    format!("ws://{}/{path}", server.addr())
}

/// Reads the next stdout line; fails after [`WAIT`] or at the end of the output.
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>) -> serde_json::Value {
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("a line in time")
        .expect("readable")
        .expect("a line before the end");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
}

/// Starts `grest-ws <args>` with stdout piped.
fn spawn(args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = grest_ws(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program runs");
    let lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    (child, lines)
}

async fn exit_code(child: &mut Child) -> i32 {
    tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the program ends in time")
        .expect("waitable")
        .code()
        .expect("exited, not killed")
}

async fn answer(seen: &mut Seen) -> Result<String, desk::AskNameError> {
    tokio::time::timeout(WAIT, seen.answers.recv())
        .await
        .expect("the question answered in time")
        .expect("the server runs")
}

// ---- call ----------------------------------------------------------------------------------------------------

/// The data on stdout; the token from the environment, headers, cookies and query parameters (in the URL and as
/// flags) all reach the handshake.
#[tokio::test]
async fn a_call_prints_its_data_with_everything_the_handshake_carried() {
    let (server, _seen) = start().await;
    let desk = url(&server, "ws/desk?room=blue");
    let output = run(grest_ws(&[
        "call",
        &desk,
        "Desk.greet",
        r#"{"name": "ada"}"#,
        "--header",
        "X-Client=cli",
        "--cookie",
        "theme=dark",
    ])
    .env("GREST_WS_BEARER", "secret-alice"))
    .await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "\"hello ada from alice via cli, dark theme, room blue\"\n"
    );

    let flags = ran(&[
        "call",
        &url(&server, "ws/desk"),
        "Desk.greet",
        r#"{"name":"bo"}"#,
        "--bearer",
        "secret-bob",
        "-q",
        "room=red",
    ])
    .await;
    assert_eq!(
        (flags.code, flags.stdout.as_str()),
        (0, "\"hello bo from bob via -, - theme, room red\"\n")
    );
}

/// `--send` sends an `m` frame: nothing is printed, and the server gets it.
#[tokio::test]
async fn a_fire_and_forget_message_reaches_the_server() {
    let (server, mut seen) = start().await;
    let sent = ran(&[
        "call",
        &url(&server, "ws/desk"),
        "Desk.note",
        r#""remember the milk""#,
        "--send",
        "--bearer",
        "secret-ada",
    ])
    .await;
    assert_eq!((sent.code, sent.stdout.as_str()), (0, ""), "{:?}", sent.stderr);
    let note = tokio::time::timeout(WAIT, seen.notes.recv()).await.expect("in time");
    assert_eq!(note.as_deref(), Some("remember the milk"));
}

/// Each error reply: its envelope on stderr, then the one-line message, and its own exit code.
#[tokio::test]
async fn error_replies_print_their_envelope_and_exit_by_type() {
    let (server, _seen) = start().await;
    let desk = url(&server, "ws/desk");
    let call = |method: &'static str, json: &'static str| {
        let desk = desk.clone();
        async move { ran(&["call", &desk, method, json, "--bearer", "secret-ada"]).await }
    };
    let cases = [
        (
            call("Desk.nope", "{}").await,
            8,
            "Desk.nope failed: ROUTE_NOT_FOUND (404): Route not found: Desk.nope (check Module.method",
        ),
        (
            call("Desk.greet", r#"{"name":""}"#).await,
            9,
            "Desk.greet failed: VALIDATION_ERROR (422): Invalid arguments — name: ",
        ),
        (
            call("Desk.admin", "null").await,
            11,
            "Desk.admin failed: FORBIDDEN (403)",
        ),
        (
            call("Desk.crash", "null").await,
            12,
            "Desk.crash failed: SERVER_ERROR (500): Out of paper (the server's log",
        ),
        (
            call("Desk.book", r#""a1""#).await,
            1,
            "Desk.book failed: ROOM_FULL (409): No seats left",
        ),
    ];
    for (ran, code, message) in cases {
        let before = ran.failed(code, message);
        let [envelope] = before else {
            panic!("the envelope, then the message: {:?}", ran.stderr)
        };
        let envelope: serde_json::Value = serde_json::from_str(envelope).expect("the envelope is JSON");
        assert_eq!(envelope["success"], false, "{envelope}");
    }
}

/// With `--reconnect`, a call whose connection drops before the reply is sent again on the next connection.
#[tokio::test]
async fn a_call_with_reconnect_is_sent_again_after_a_drop() {
    let (server, _seen) = start().await;
    let flaky = url(&server, "ws/desk-flaky");
    let once = ran(&["call", &flaky, "Desk.attempt", "--bearer", "secret-ada", "--reconnect"]).await;
    assert_eq!((once.code, once.stdout.as_str()), (0, "2\n"), "{:?}", once.stderr);
    assert!(
        once.stderr.iter().any(|line| line.starts_with("reconnected to ")),
        "{:?}",
        once.stderr
    );

    let (server, _seen) = start().await;
    let flaky = url(&server, "ws/desk-flaky");
    let dropped = ran(&["call", &flaky, "Desk.attempt", "--bearer", "secret-ada"]).await;
    dropped.failed(6, &format!("the connection to {flaky} closed"));
}

/// Invalid JSON input is refused before connecting (here there is no server at all).
#[tokio::test]
async fn invalid_json_is_refused_before_connecting() {
    let nowhere = format!("ws://{}/ws/desk", closed_port());
    let refused = ran(&["call", &nowhere, "Desk.greet", "{name: ada}"]).await;
    assert!(refused.failed(3, "the JSON input is not valid JSON (").is_empty());
}

/// No server, a wrong path, a refused handshake, a query the server refuses, a reply that does not come, a
/// malformed command line.
#[tokio::test]
async fn connection_failures_say_what_failed_and_exit_by_kind() {
    let (server, _seen) = start().await;
    let nowhere = format!("ws://{}/ws/desk", closed_port());
    let no_server = ran(&["call", &nowhere, "Desk.crash"]).await;
    no_server.failed(
        4,
        &format!("cannot connect to {nowhere}: connection refused (is the server running"),
    );

    let wrong_path = ran(&["call", &url(&server, "ws/nope"), "Desk.crash"]).await;
    wrong_path.failed(
        4,
        &format!(
            "cannot connect to {}: the server refused the WebSocket upgrade with HTTP status 404",
            url(&server, "ws/nope")
        ),
    );

    let desk = url(&server, "ws/desk");
    let refused = ran(&["call", &desk, "Desk.crash", "--bearer", "stolen"]).await;
    let [envelope] = refused.failed(
        5,
        &format!("{desk} refused the handshake: NOT_AUTHORIZED (401): Invalid token (send credentials: --bearer"),
    ) else {
        panic!("the envelope, then the message: {:?}", refused.stderr)
    };
    assert!(
        envelope.starts_with(r#"{"success":false,"type":"NOT_AUTHORIZED","statusCode":401"#),
        "{envelope}"
    );

    let bad_query = ran(&[
        "call",
        &desk,
        "Desk.crash",
        "--bearer",
        "secret-ada",
        "--query",
        "room=",
    ])
    .await;
    bad_query.failed(
        6,
        &format!(
            "cannot connect to {desk}: the server closed the connection during the handshake with code 4000 (Invalid \
             query parameters) (check the query parameters"
        ),
    );

    let slow = ran(&["call", &desk, "Desk.slow", "--bearer", "secret-ada", "--timeout", "0.5"]).await;
    slow.failed(7, "no reply to Desk.slow within 0.5 s (raise --timeout?)");

    let usage = ran(&["call", &desk, "greet"]).await;
    assert_eq!(usage.code, 2, "{:?}", usage.stderr);
    assert!(usage.stderr[0].contains("expected Module.method"), "{:?}", usage.stderr);
}

/// A loopback port nothing listens on.
fn closed_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// A self-signed certificate for `localhost` in a folder of its own, removed when dropped.
struct Certificate {
    dir: PathBuf,
}

impl Certificate {
    fn generate() -> Certificate {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
        let dir = std::env::temp_dir().join(format!(
            "grest-ws-cli-tls-{}-{}",
            std::process::id(),
            closed_port().port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem written");
        std::fs::write(dir.join("key.pem"), signing_key.serialize_pem()).expect("key.pem written");
        Certificate { dir }
    }

    fn cert(&self) -> String {
        self.dir.join("cert.pem").to_string_lossy().into_owned()
    }
}

impl Drop for Certificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `wss://` with a self-signed certificate: trusted through `--ca`, refused without it; an unreadable `--ca` is a
/// usage error.
#[tokio::test]
async fn wss_trusts_the_certificates_of_ca() {
    let certificate = Certificate::generate();
    let key = certificate.dir.join("key.pem");
    let identity = TlsIdentity::from_pem_files(certificate.cert(), key).expect("a usable identity");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    let (router, _seen) = app(false);
    let server = tokio::spawn(async move { grest_ws::server::serve(listener, router).tls(identity).await });
    let desk = format!("wss://localhost:{port}/ws/desk");
    let call = |extra: &'static [&'static str]| {
        let desk = desk.clone();
        async move {
            let mut args = vec![
                "call",
                desk.as_str(),
                "Desk.greet",
                r#"{"name":"tls"}"#,
                "--bearer",
                "secret-ada",
            ];
            args.extend(extra);
            ran(&args).await
        }
    };

    let cert = certificate.cert();
    let trusted = ran(&[
        "call",
        &desk,
        "Desk.greet",
        r#"{"name":"tls"}"#,
        "--bearer",
        "secret-ada",
        "--ca",
        &cert,
    ])
    .await;
    assert_eq!(trusted.code, 0, "{:?}", trusted.stderr);
    assert!(trusted.stdout.starts_with("\"hello tls from ada"), "{}", trusted.stdout);

    call(&[])
        .await
        .failed(4, &format!("cannot connect to {desk}: TLS handshake failed"));

    let unreadable = call(&["--ca", "/nonexistent/ca.pem"]).await;
    assert_eq!(unreadable.code, 2, "{:?}", unreadable.stderr);
    assert!(
        unreadable.stderr[0].contains("cannot read CA certificates from /nonexistent/ca.pem"),
        "{:?}",
        unreadable.stderr
    );
    server.abort();
}

// ---- listen --------------------------------------------------------------------------------------------------

/// A push and a request, one JSON line each; the request answered by the `--answer` rule; `--count` ends it.
#[tokio::test]
async fn listen_prints_pushes_and_answers_requests_by_rule() {
    let (server, mut seen) = start().await;
    let live = url(&server, "ws/desk-live");
    let (mut child, mut lines) = spawn(&[
        "listen",
        &live,
        "--bearer",
        "secret-ada",
        "--answer",
        r#"Desk.askName="bob""#,
        "--count",
        "2",
    ]);
    assert_eq!(
        next_line(&mut lines).await,
        serde_json::json!({"kind": "push", "path": "Desk.tick", "data": 1})
    );
    let request = next_line(&mut lines).await;
    assert_eq!(
        (request["kind"].as_str(), request["path"].as_str()),
        (Some("request"), Some("Desk.askName"))
    );
    assert!(request["id"].is_string(), "{request}");
    assert_eq!(answer(&mut seen).await.expect("answered"), "bob");
    assert_eq!(exit_code(&mut child).await, 0);
}

/// Without a rule the request is answered ROUTE_NOT_FOUND; Ctrl-C ends listening gracefully.
#[tokio::test]
async fn listen_answers_unknown_requests_route_not_found_and_stops_on_ctrl_c() {
    let (server, mut seen) = start().await;
    let (mut child, mut lines) = spawn(&["listen", &url(&server, "ws/desk-live"), "--bearer", "secret-ada"]);
    assert_eq!(next_line(&mut lines).await["path"], "Desk.tick");
    assert_eq!(next_line(&mut lines).await["path"], "Desk.askName");
    let Err(desk::AskNameError::RouteNotFound(error)) = answer(&mut seen).await else {
        panic!("answered ROUTE_NOT_FOUND")
    };
    assert_eq!(
        error.context.display_message.as_deref(),
        Some("Route not found: Desk.askName")
    );
    // It has printed, so it is in its loop, Ctrl-C handler in place.
    let pid = child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    assert_eq!(exit_code(&mut child).await, 0);
}

/// With `--reconnect`, listening goes on after the server drops the connection.
#[tokio::test]
async fn listen_keeps_printing_after_a_reconnect() {
    let (server, _seen) = start().await;
    let (mut child, mut lines) = spawn(&[
        "listen",
        &url(&server, "ws/desk-flaky"),
        "--bearer",
        "secret-ada",
        "--answer",
        "Desk.askName=\"ada\"",
        "--reconnect",
        "--count",
        "4",
    ]);
    let mut paths = Vec::new();
    for _ in 0..4 {
        let line = next_line(&mut lines).await;
        paths.push(format!("{} {}", line["path"].as_str().unwrap(), line["data"]));
    }
    assert_eq!(
        paths,
        ["Desk.tick 1", "Desk.askName null", "Desk.tick 2", "Desk.askName null"]
    );
    assert_eq!(exit_code(&mut child).await, 0);
}

/// Without `--reconnect`, a dropped connection ends listening with the "closed" exit code.
#[tokio::test]
async fn listen_without_reconnect_ends_when_the_connection_drops() {
    let (server, _seen) = start().await;
    let flaky = url(&server, "ws/desk-flaky");
    let (mut child, mut lines) = spawn(&[
        "listen",
        &flaky,
        "--bearer",
        "secret-ada",
        "--answer",
        "Desk.askName=\"ada\"",
    ]);
    assert_eq!(next_line(&mut lines).await["path"], "Desk.tick");
    assert_eq!(next_line(&mut lines).await["path"], "Desk.askName");
    assert_eq!(exit_code(&mut child).await, 6);
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr)
        .await
        .unwrap();
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: the connection to {flaky} closed")),
        "{stderr}"
    );
}

/// The repository README's exit-code table lists exactly the codes `--help` lists, in the same order.
#[tokio::test]
async fn describe_prints_the_contract_the_server_serves() {
    let (server, _seen) = start_documented().await;
    let described = ran(&["describe", &url(&server, "ws/desk")]).await;
    assert_eq!(described.code, 0, "{:?}", described.stderr);
    let out = &described.stdout;
    let document = format!("http://{}/asyncapi.json", server.addr());
    assert!(
        out.starts_with(&format!(
            "ws://{}/ws/desk\n  described by {document} (Desk 1.0.0)\n",
            server.addr()
        )),
        "{out}"
    );
    for line in [
        "Contract Desk",
        "  handshake query   DeskQuery",
        "  handshake errors  NOT_AUTHORIZED 401, SERVER_ERROR 500",
        "Client to server",
        "  Desk.greet    request  Greeting  string   VALIDATION_ERROR 422, SERVER_ERROR 500",
        "  Desk.note     message  string    -        none",
        "Server to client",
        "  Desk.tick     message  integer  -        none",
        "  Greeting   { name: string (nonEmpty) }",
        "  DeskQuery  { room?: string | null (nonEmpty) }",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }

    let nowhere = ran(&["describe", &url(&server, "ws/nope")]).await;
    nowhere.failed(
        13,
        &format!("the AsyncAPI document {document} describes no endpoint at /ws/nope (it has: /ws/desk, /ws/desk-live, /ws/desk-flaky)"),
    );
    let (plain, _seen) = start().await;
    let undocumented = ran(&["describe", &url(&plain, "ws/desk")]).await;
    undocumented.failed(
        13,
        &format!(
            "no AsyncAPI document at http://{}/asyncapi.json (404): the server does not serve one there",
            plain.addr()
        ),
    );
    let missing = ran(&[
        "describe",
        &url(&server, "ws/desk"),
        "--document",
        "/nonexistent/asyncapi.json",
    ])
    .await;
    missing.failed(13, "cannot read the AsyncAPI document /nonexistent/asyncapi.json: ");
}

#[tokio::test]
async fn a_call_is_checked_against_the_served_contract_before_anything_is_sent() {
    let (server, mut seen) = start_documented().await;
    let desk = url(&server, "ws/desk");
    let call = |method: &'static str, json: &'static str, extra: &'static [&'static str]| {
        let desk = desk.clone();
        async move {
            let mut args = vec!["call", desk.as_str(), method, json, "--bearer", "secret-ada"];
            args.extend_from_slice(extra);
            ran(&args).await
        }
    };

    // The server's own coercions: a number where a string is declared is the string "5".
    let coerced = call("Desk.greet", r#"{"name": 5}"#, &[]).await;
    assert_eq!(
        (coerced.code, coerced.stdout.as_str()),
        (0, "\"hello 5 from ada via -, - theme, room -\"\n")
    );

    let invalid = call("Desk.greet", r#"{"name": ""}"#, &[]).await;
    let envelope = invalid.failed(
        9,
        "Desk.greet: the input breaks the served contract, nothing was sent: VALIDATION_ERROR (422): Invalid arguments \
         — name: Value must not be empty (--no-check sends anyway)",
    );
    let envelope: serde_json::Value = serde_json::from_str(&envelope[0]).expect("the envelope on stderr");
    assert_eq!(envelope["type"], "VALIDATION_ERROR");
    assert_eq!(envelope["data"][0]["code"], "invalid.string.nonEmpty");

    // Nothing reaches the server: the first note it records is the valid one sent after the invalid one.
    let refused = call("Desk.note", r#"{"not": "a string"}"#, &["--send"]).await;
    refused.failed(
        9,
        "Desk.note: the input breaks the served contract, nothing was sent: VALIDATION_ERROR (422)",
    );
    let sent = call("Desk.note", r#""valid""#, &["--send"]).await;
    assert_eq!(sent.code, 0, "{:?}", sent.stderr);
    let note = tokio::time::timeout(WAIT, seen.notes.recv())
        .await
        .expect("a note in time");
    assert_eq!(note.as_deref(), Some("valid"));

    let unknown = call("Desk.nope", "null", &[]).await;
    unknown.failed(
        8,
        &format!(
            "Desk.nope is not a method of {desk}; nothing was sent (it has: Desk.greet, Desk.book, Desk.crash, Desk.admin, \
             Desk.slow, Desk.note, Desk.attempt; --no-check sends anyway)"
        ),
    );
    let backwards = call("Desk.tick", "1", &[]).await;
    backwards.failed(
        8,
        &format!("Desk.tick is a server-to-client method (see it with listen) of {desk}"),
    );

    // --no-check sends it: the server refuses it.
    let unchecked = call("Desk.greet", r#"{"name": ""}"#, &["--no-check"]).await;
    unchecked.failed(
        9,
        "Desk.greet failed: VALIDATION_ERROR (422): Invalid arguments — name: ",
    );
    let unchecked = call("Desk.nope", "null", &["--no-check"]).await;
    unchecked.failed(8, "Desk.nope failed: ROUTE_NOT_FOUND (404)");

    // An explicit document that cannot be read stops the call.
    let missing = call(
        "Desk.greet",
        r#"{"name": "ada"}"#,
        &["--document", "/nonexistent/asyncapi.json"],
    )
    .await;
    missing.failed(13, "cannot read the AsyncAPI document /nonexistent/asyncapi.json: ");
}

#[tokio::test]
async fn describe_json_prints_the_descriptors() {
    let (server, _seen) = start_documented().await;
    let described = ran(&["describe", &url(&server, "ws/desk"), "--json"]).await;
    assert_eq!(described.code, 0, "{:?}", described.stderr);
    let json: serde_json::Value = serde_json::from_str(&described.stdout).expect("JSON on stdout");
    assert_eq!(json["endpoint"], url(&server, "ws/desk"));
    assert_eq!(json["title"], "Desk 1.0.0");
    let desk = &json["contracts"][0];
    assert_eq!(desk["name"], "Desk");
    assert_eq!(desk["clientToServer"]["greet"]["path"], "Desk.greet");
    assert_eq!(desk["serverToClient"]["askName"]["request"], true);
    assert_eq!(
        desk["shapes"]["Greeting"]["fields"][0]["rules"],
        serde_json::json!({"nonEmpty": true})
    );
}

/// The --answer rules are checked against the served contract too, before connecting; a rule that fits is used.
#[tokio::test]
async fn answers_are_checked_against_the_served_contract() {
    let (server, mut seen) = start_documented().await;
    let live = url(&server, "ws/desk-live");
    let not_a_request = ran(&["listen", &live, "--bearer", "secret-ada", "--answer", "Desk.tick=1"]).await;
    not_a_request.failed(
        8,
        &format!(
            "--answer Desk.tick: not a server-to-client request of {live}; nothing was sent (its requests: \
             Desk.askName; --no-check sends anyway)"
        ),
    );
    let wrong_data = ran(&[
        "call",
        &url(&server, "ws/desk"),
        "Desk.crash",
        "--answer",
        r#"Desk.askName={"a":1}"#,
    ])
    .await;
    let envelope = wrong_data.failed(
        9,
        "--answer Desk.askName: the answer breaks the served contract, nothing was sent: VALIDATION_ERROR (422)",
    );
    assert!(envelope[0].contains("invalid.string.type"), "{envelope:?}");

    let (mut child, mut lines) = spawn(&[
        "listen",
        &live,
        "--bearer",
        "secret-ada",
        "--answer",
        r#"Desk.askName="cy""#,
        "--count",
        "2",
    ]);
    assert_eq!(next_line(&mut lines).await["path"], "Desk.tick");
    assert_eq!(next_line(&mut lines).await["path"], "Desk.askName");
    assert_eq!(answer(&mut seen).await.expect("answered"), "cy");
    assert_eq!(exit_code(&mut child).await, 0);
}

#[tokio::test]
async fn the_readme_lists_the_exit_codes_help_lists() {
    let help = ran(&["--help"]).await;
    assert_eq!(help.code, 0);
    let from_help: Vec<String> = help
        .stdout
        .lines()
        .skip_while(|line| !line.starts_with("Exit codes:"))
        .skip(1)
        .map_while(|line| line.trim_start().split_once("  ").map(|(code, _)| code.to_owned()))
        .collect();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README");
    let from_readme: Vec<String> = readme
        .lines()
        .skip_while(|line| !line.starts_with("| exit code |"))
        .skip(2)
        .map_while(|line| {
            line.strip_prefix("| ")
                .and_then(|row| row.split_once(" |"))
                .map(|(code, _)| code.to_owned())
        })
        .collect();
    assert!(from_help.len() > 10, "{:?}", help.stdout);
    assert_eq!(from_readme, from_help);
}
