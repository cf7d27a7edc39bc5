//! Shared parts of the integration tests: a test contract that exercises every feature, a server for it on an
//! ephemeral loopback port, and a plain WebSocket client for hand-written frames.

/// The repository README's examples, run as doctests (the README is not part of any published crate).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use futures_util::{SinkExt, StreamExt};
use grest_ws::server::{Connected, GrestWs, ServerConfig};
use grest_ws::{NotFound, ServerError, Validate, ValidationError, WebSocketSchema, contract, define_error};
use grest_ws_test::TestServer;
use metrics_util::debugging::{DebugValue, Snapshotter};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The handshake query of the test contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct LabQuery {
    /// A room name; must not be empty.
    #[validate(non_empty)]
    pub room: String,
    /// A version number (coerced from the query string).
    pub version: u32,
}

/// Input and output of `Lab.echo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct EchoInput {
    /// Must not be empty.
    #[validate(non_empty)]
    pub text: String,
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Item {
    /// Must not be empty.
    #[validate(non_empty)]
    pub name: String,
    /// Between 1 and 10.
    #[validate(min = 1, max = 10)]
    pub qty: u32,
}

/// Input of `Lab.order`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Order {
    /// At least one line.
    #[validate(min_length = 1)]
    pub items: Vec<Item>,
    /// Optional note.
    pub note: Option<String>,
}

/// Input of `Lab.join`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct JoinInput {
    /// `"full"` is full, `"missing"` does not exist.
    pub room_id: String,
}

/// Data of the `ROOM_FULL` error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct RoomFullData {
    /// Seats in the room.
    pub capacity: u32,
}

define_error! {
    /// The grest-ts documentation's user-defined error, here with typed data.
    pub struct RoomFull = ("ROOM_FULL", 400, data: RoomFullData);
}

contract! {
    /// A contract that exercises every server and client feature.
    pub Lab {
        connect { input: LabQuery, errors: [ServerError] }
        client_to_server {
            /// Echoes its input.
            echo(EchoInput) -> EchoInput, errors: [ValidationError, ServerError];
            /// Joins a room: `ROOM_FULL` with data, or `NOT_FOUND`.
            join(JoinInput) -> bool, errors: [RoomFull, NotFound, ServerError];
            /// Counts the items of an order.
            order(Order) -> u32, errors: [ValidationError];
            /// Waits until `open_gate` is called (proves requests run concurrently).
            wait_gate() -> String;
            /// Opens the gate.
            open_gate() -> bool;
            /// Panics.
            panic() -> bool;
            /// Returns an error type the method does not declare.
            undeclared() -> bool;
            /// Parses its input as a number with `?`: a bad one fails with an undeclared error (`ParseIntError`).
            parse(String) -> u64;
            /// The handshake query as `room@version`.
            room() -> String;
            /// Records a note (fire-and-forget).
            note(String);
            /// Does nothing (fire-and-forget without input).
            poke();
            /// The recorded notes.
            notes() -> Vec<String>;
            /// Asks the client `question` and returns its answer, or the error's display message.
            ask_client(String) -> String;
            /// Asks the client `question` and returns the raw reply envelope.
            ask_client_raw(String) -> String;
            /// Pushes `pushed` with the input to the client.
            push_me(String);
            /// Closes this connection from the server side.
            close_me();
            /// Sleeps this many milliseconds.
            sleep(u64) -> u64;
            /// The message and connection context the handler sees.
            whereami() -> String;
        }
        server_to_client {
            /// A push.
            pushed(String);
            /// A server-to-client request.
            question(String) -> String, errors: [ServerError];
        }
    }
}

/// The test endpoint.
pub const LAB_API: WebSocketSchema<Lab> = WebSocketSchema::new("ws/lab");

/// State shared by every connection of one test server.
#[derive(Default)]
pub struct LabState {
    /// Notes recorded by `Lab.note`.
    pub notes: Mutex<Vec<String>>,
    /// The gate of `wait_gate`/`open_gate`.
    pub gate: Notify,
    /// Connections whose on-close hook ran.
    pub closed: Mutex<u32>,
    /// Connections opened.
    pub opened: Mutex<u32>,
}

/// One connection's handler.
pub struct LabSession {
    state: Arc<LabState>,
    peer: lab::Peer,
    query: LabQuery,
}

impl lab::Server for LabSession {
    async fn echo(&self, input: EchoInput) -> grest_ws::HandlerResult<EchoInput, lab::EchoError> {
        Ok(input)
    }

    async fn join(&self, input: JoinInput) -> grest_ws::HandlerResult<bool, lab::JoinError> {
        match input.room_id.as_str() {
            "full" => Err(RoomFull::with_display_message(RoomFullData { capacity: 4 }, "Room is full").into()),
            "missing" => Err(NotFound::new().into()),
            _ => Ok(true),
        }
    }

    async fn order(&self, input: Order) -> grest_ws::HandlerResult<u32, lab::OrderError> {
        Ok(input.items.iter().map(|i| i.qty).sum())
    }

    async fn wait_gate(&self) -> grest_ws::HandlerResult<String, lab::WaitGateError> {
        self.state.gate.notified().await;
        Ok("opened".into())
    }

    async fn open_gate(&self) -> grest_ws::HandlerResult<bool, lab::OpenGateError> {
        self.state.gate.notify_waiters();
        Ok(true)
    }

    async fn panic(&self) -> grest_ws::HandlerResult<bool, lab::PanicError> {
        panic!("handler panics on purpose")
    }

    async fn undeclared(&self) -> grest_ws::HandlerResult<bool, lab::UndeclaredError> {
        Err(grest_ws::GrestError::to_envelope(&NotFound::new()).into())
    }

    async fn parse(&self, input: String) -> grest_ws::HandlerResult<u64, lab::ParseError> {
        Ok(input.parse::<u64>()?)
    }

    async fn room(&self) -> grest_ws::HandlerResult<String, lab::RoomError> {
        Ok(format!("{}@{}", self.query.room, self.query.version))
    }

    async fn note(&self, input: String) {
        self.state.notes.lock().unwrap().push(input);
    }

    async fn poke(&self) {}

    async fn notes(&self) -> grest_ws::HandlerResult<Vec<String>, lab::NotesError> {
        Ok(self.state.notes.lock().unwrap().clone())
    }

    async fn ask_client(&self, input: String) -> grest_ws::HandlerResult<String, lab::AskClientError> {
        Ok(match self.peer.question(&input).await {
            Ok(answer) => answer,
            Err(lab::QuestionError::ServerError(e)) => {
                format!("error: {}", e.context.display_message.unwrap_or_default())
            }
        })
    }

    async fn ask_client_raw(&self, input: String) -> grest_ws::HandlerResult<String, lab::AskClientRawError> {
        let raw = self
            .peer
            .handle()
            .request("Lab.question", Some(&input))
            .await
            .map_err(lab::AskClientRawError::from)?;
        Ok(raw.unwrap_or_default())
    }

    async fn push_me(&self, input: String) {
        let _ = self.peer.pushed(&input).await;
    }

    async fn close_me(&self) {
        self.peer.handle().close();
    }

    async fn whereami(&self) -> grest_ws::HandlerResult<String, lab::WhereamiError> {
        let message = grest_ws::current_message().expect("inside a handler");
        tracing::info!(room = %self.query.room, "whereami");
        Ok(format!(
            "{} on {} port {:?}",
            message.path, message.connection.path, message.connection.port
        ))
    }

    async fn sleep(&self, input: u64) -> grest_ws::HandlerResult<u64, lab::SleepError> {
        tokio::time::sleep(Duration::from_millis(input)).await;
        Ok(input)
    }
}

/// The lab server, served by the test kit on an ephemeral loopback port (stopped when dropped), and its state.
pub struct LabServer {
    server: TestServer,
    /// Its shared state.
    pub state: Arc<LabState>,
}

impl LabServer {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The base URL for the client (`ws://127.0.0.1:port`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The endpoint URL with a valid query.
    pub fn lab_url(&self) -> String {
        format!("{}/ws/lab?room=general&version=2", self.base_url())
    }
}

/// The lab router with a config.
pub fn lab_router(state: Arc<LabState>, config: ServerConfig) -> Router {
    GrestWs::new()
        .config(config)
        .ws(LAB_API, lab_connect(state))
        .build()
        .expect("valid registration")
}

/// The lab's connect handler: counts opened and closed connections in `state`.
pub fn lab_connect(
    state: Arc<LabState>,
) -> impl Fn(Connected<Lab>) -> std::pin::Pin<Box<dyn std::future::Future<Output = LabSession> + Send>>
+ Send
+ Sync
+ Clone
+ 'static {
    move |conn: Connected<Lab>| {
        let state = state.clone();
        Box::pin(async move {
            assert_ne!(conn.query.room, "panic", "connect handler panics on purpose");
            *state.opened.lock().unwrap() += 1;
            let on_close = state.clone();
            conn.peer
                .handle()
                .on_close(move || *on_close.closed.lock().unwrap() += 1);
            LabSession {
                state,
                peer: conn.peer,
                query: conn.query,
            }
        })
    }
}

/// Starts the lab server with default settings.
pub async fn start() -> LabServer {
    start_with(ServerConfig::default()).await
}

/// Starts the lab server with a config.
pub async fn start_with(config: ServerConfig) -> LabServer {
    let state = Arc::new(LabState::default());
    let server = TestServer::start(lab_router(state.clone(), config)).await;
    LabServer { server, state }
}

/// How long a test waits for something that should happen promptly before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A plain WebSocket connection (not grest-ws's client), for hand-written frames.
pub struct RawWs {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawWs {
    /// Opens a plain WebSocket.
    pub async fn connect(url: &str) -> RawWs {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connect");
        RawWs { ws }
    }

    /// Opens a plain WebSocket on a socket with a small receive buffer (set before connecting), so that a test that
    /// stops reading from it stalls the server's writes quickly.
    pub async fn connect_slow_reader(url: &str) -> RawWs {
        let authority = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("url has a host");
        let addr: SocketAddr = authority.parse().expect("a loopback address");
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("small receive buffer");
        let tcp = socket.connect(addr).await.expect("tcp connect");
        let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket connect");
        RawWs { ws }
    }

    /// Opens a plain WebSocket with a prepared upgrade request (extra headers such as `Cookie`); returns the
    /// server's 101 response too.
    pub async fn connect_request(
        request: http::Request<()>,
    ) -> (RawWs, tokio_tungstenite::tungstenite::handshake::client::Response) {
        let (ws, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connect");
        (RawWs { ws }, response)
    }

    /// Opens a plain WebSocket and completes the grest handshake (`h:::{}` → `k:::null`).
    pub async fn handshaken(url: &str) -> RawWs {
        let mut ws = RawWs::connect(url).await;
        ws.send("h:::{}").await;
        assert_eq!(ws.recv_text().await, "k:::null");
        ws
    }

    /// Sends a text frame.
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends any message.
    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// The next message that is not a ping or pong.
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .expect("a frame within the patience");
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next text frame; panics on anything else.
    pub async fn recv_text(&mut self) -> String {
        match self.recv().await {
            Some(Message::Text(text)) => text.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Expects a close frame and returns its code and reason.
    pub async fn recv_close(&mut self) -> (Option<u16>, String) {
        match self.recv().await {
            Some(Message::Close(frame)) => (
                frame.as_ref().map(|f| u16::from(f.code)),
                frame.map(|f| f.reason.to_string()).unwrap_or_default(),
            ),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Reads data frames (text or binary, in order) until a close frame, and returns them with its code and
    /// reason; panics on anything else.
    pub async fn frames_until_close(&mut self) -> (Vec<Message>, (Option<u16>, String)) {
        let mut frames = Vec::new();
        loop {
            match self.recv().await {
                Some(message @ (Message::Text(_) | Message::Binary(_))) => frames.push(message),
                Some(Message::Close(frame)) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    return (frames, (code, frame.map(|f| f.reason.to_string()).unwrap_or_default()));
                }
                other => panic!("expected data frames then a close frame, got {other:?}"),
            }
        }
    }

    /// Asserts nothing but pings and pongs arrives for a while (used after frames that must get no reply). Keeps
    /// polling, so the socket answers pings meanwhile.
    pub async fn expect_silence(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(next) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => panic!("expected no frame, got {message:?}"),
                Some(Err(e)) => panic!("the socket failed: {e}"),
                None => panic!("the socket ended"),
            }
        }
    }

    /// Polls until the stream ends (completing a close handshake the server started).
    pub async fn finish(&mut self) {
        while let Ok(Some(_)) = tokio::time::timeout(PATIENCE, self.ws.next()).await {}
    }
}

/// A fake grest server on an ephemeral loopback port, for faults a real one never makes: it accepts connections
/// one after another, answers each client's `h` with `k:::null`, and hands the handshaken socket to the test. Returns
/// the base URL and the sockets, in the order the clients connected.
pub async fn handshaking_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (tx, sockets) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                continue;
            };
            let hello = ws.next().await.and_then(Result::ok);
            assert!(
                hello
                    .as_ref()
                    .and_then(|m| m.to_text().ok())
                    .is_some_and(|t| t.starts_with("h:")),
                "the client opens with its handshake: {hello:?}"
            );
            ws.send(Message::text("k:::null")).await.expect("send k");
            if tx.send(ws).is_err() {
                return;
            }
        }
    });
    (format!("ws://{addr}"), sockets)
}

/// Plays two socket faults against a client of [`handshaking_server`] whose `on_error` sends `socket {SessionEnd:?}`
/// and whose `on_disconnect` sends `disconnect {DisconnectReason:?}` into `events`, checking each is reported before
/// the drop and that the client reconnects after each: a frame that breaks the protocol (the client fails the
/// connection with 1002), then a connection dropped without a Close frame.
pub async fn expect_socket_faults_reported(
    sockets: &mut tokio::sync::mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    use grest_ws::client::DisconnectReason;
    use grest_ws::session::SessionEnd;
    use tokio::io::AsyncWriteExt;

    async fn next(events: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> String {
        tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("an event in time")
            .expect("the sender lives")
    }
    async fn next_socket(
        sockets: &mut tokio::sync::mpsc::UnboundedReceiver<WebSocketStream<TcpStream>>,
    ) -> WebSocketStream<TcpStream> {
        tokio::time::timeout(PATIENCE, sockets.recv())
            .await
            .expect("connects in time")
            .expect("the server lives")
    }

    let mut first = next_socket(sockets).await;
    // FIN + reserved opcode 3: not a WebSocket frame.
    first.get_mut().write_all(&[0x83, 0x00]).await.expect("write");
    assert_eq!(
        next(events).await,
        format!("socket {:?}", SessionEnd::ProtocolViolation(1002))
    );
    assert_eq!(next(events).await, format!("disconnect {:?}", DisconnectReason::Drop));

    drop(next_socket(sockets).await);
    assert_eq!(next(events).await, format!("socket {:?}", SessionEnd::ConnectionLost));
    assert_eq!(next(events).await, format!("disconnect {:?}", DisconnectReason::Drop));
    let _third = next_socket(sockets).await;
    drop(first);
}

/// Parses the JSON data of a text frame `type:path:id:data`.
pub fn frame_data(frame: &str) -> serde_json::Value {
    let data = frame.splitn(4, ':').nth(3).expect("frame has data");
    serde_json::from_str(data).expect("frame data is JSON")
}

/// A frame's text without its volatile context (`timestamp`, `ref`) so it can be compared exactly.
pub fn without_context(frame: &str) -> String {
    let mut parts: Vec<&str> = frame.splitn(4, ':').collect();
    let mut data = frame_data(frame);
    if let Some(context) = data.get_mut("context").and_then(|c| c.as_object_mut()) {
        assert!(
            context.get("timestamp").and_then(|t| t.as_u64()).is_some(),
            "context.timestamp is a number"
        );
        assert!(
            context
                .get("ref")
                .and_then(|r| r.as_str())
                .is_some_and(|r| r.starts_with("ERR_REF_")),
            "context.ref is an ERR_REF_"
        );
        context.remove("timestamp");
        context.remove("ref");
    }
    let data = data.to_string();
    parts[3] = &data;
    parts.join(":")
}

/// Errors that tests construct.
pub fn server_error_message(e: &ServerError) -> Option<&str> {
    e.context.display_message.as_deref()
}

/// A `ValidationError`'s issues as `(path, code)` pairs.
pub fn issue_codes(e: &ValidationError) -> Vec<(String, String)> {
    e.data.iter().map(|i| (i.path.clone(), i.code.clone())).collect()
}

/// A minimal HTTP/1.1 GET with extra headers: status code and body.
pub async fn http_get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let (status, _, body) = http_get_with_head(addr, path, headers).await;
    (status, body)
}

/// A minimal HTTP/1.1 GET with extra headers: status code, the response's head (status line and headers) and body.
pub async fn http_get_with_head(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    let status = response[9..12].parse().expect("status code");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((response.as_str(), ""));
    (status, head.to_owned(), body.to_owned())
}

/// A server in its own runtime on its own thread: [`Process::kill`] drops the runtime, so every socket dies at
/// once like a crashed process; starting again on the same address is a restart.
///
/// A killed process keeps its port: it stays bound, and every connection to it is accepted and dropped at once
/// (what a client sees of a server that is down), until a process starts on that address again. So no other test
/// can take the port meanwhile, and reconnect attempts fail promptly, as they would against a closed port.
pub struct Process {
    addr: SocketAddr,
    runner: Option<Runner>,
}

/// What a port does while its process is down.
static PARKED: Mutex<Vec<(SocketAddr, Runner)>> = Mutex::new(Vec::new());

/// A thread running one runtime on a listener: serving a router, or refusing every connection.
struct Runner {
    listener: std::net::TcpListener,
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Runner {
    /// Runs on a clone of `listener`; `router: None` refuses connections.
    fn spawn(listener: std::net::TcpListener, router: Option<Router>) -> Runner {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let serving = listener.try_clone().expect("clone the listener");
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(serving).expect("a tokio listener");
                let work = async move {
                    match router {
                        Some(router) => {
                            let _ = grest_ws::server::serve(listener, router).await;
                        }
                        // Accepted and dropped at once: the client's handshake fails right away.
                        None => while listener.accept().await.is_ok() {},
                    }
                };
                tokio::select! {
                    () = work => {}
                    _ = tokio::task::spawn_blocking(move || stopped.recv()) => {}
                }
            });
            // Dropping the runtime drops every connection task: sockets close without a goodbye.
            drop(runtime);
        });
        Runner { listener, stop, thread }
    }

    /// Stops the runtime (its connections die with it) and hands back the listener, still bound.
    fn stop(self) -> std::net::TcpListener {
        let _ = self.stop.send(());
        self.thread.join().expect("the server thread ends");
        self.listener
    }
}

impl Process {
    /// Where it listens (also while killed: the port stays reserved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `router` on `addr` (port 0 for any); on the address of a killed process, takes its port back.
    pub fn start(addr: SocketAddr, router: Router) -> Process {
        let parked = {
            let mut parked = PARKED.lock().unwrap();
            let index = parked.iter().position(|(at, _)| *at == addr);
            index.map(|index| parked.swap_remove(index).1)
        };
        let listener = match parked {
            Some(refusing) => refusing.stop(),
            None => {
                let listener = std::net::TcpListener::bind(addr).expect("bind");
                listener.set_nonblocking(true).expect("non-blocking listener");
                listener
            }
        };
        let addr = listener.local_addr().expect("addr");
        Process {
            addr,
            runner: Some(Runner::spawn(listener, Some(router))),
        }
    }

    /// Kills the server; its port refuses connections until a process starts on it again.
    pub fn kill(&mut self) {
        if let Some(runner) = self.runner.take() {
            let listener = runner.stop();
            PARKED.lock().unwrap().push((self.addr, Runner::spawn(listener, None)));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(runner) = self.runner.take() {
            runner.stop();
        }
    }
}

/// Log output captured by a `tracing` subscriber, for tests that check what gets logged.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Sets a subscriber at `level` that writes here, as this thread's default (for a current-thread test).
    pub fn install(&self, level: tracing::Level) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    /// Everything logged so far, emptied.
    pub fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

/// The series of the counter `name` in `metrics`, with their values. Takes a snapshot, which resets the recorder's
/// counters.
fn counter_series(metrics: &Snapshotter, name: &str) -> Vec<(metrics::Key, u64)> {
    metrics
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(value) if key.key().name() == name => Some((key.key().clone(), value)),
            _ => None,
        })
        .collect()
}

/// The counter `name` in `metrics`, summed by the value of its label `label` (one snapshot).
pub fn counters_by(metrics: &Snapshotter, name: &str, label: &str) -> std::collections::BTreeMap<String, u64> {
    let mut sums = std::collections::BTreeMap::new();
    for (key, value) in counter_series(metrics, name) {
        if let Some(found) = key.labels().find(|l| l.key() == label) {
            *sums.entry(found.value().to_owned()).or_default() += value;
        }
    }
    sums
}

/// The value of the counter `name` in `metrics`, summed over the series whose labels include `labels` (one
/// snapshot).
pub fn counter(metrics: &Snapshotter, name: &str, labels: &[(&str, &str)]) -> u64 {
    counter_series(metrics, name)
        .into_iter()
        .filter(|(key, _)| {
            labels
                .iter()
                .all(|(k, v)| key.labels().any(|label| label.key() == *k && label.value() == *v))
        })
        .map(|(_, value)| value)
        .sum()
}

/// A server program a test runs on a free loopback port (`redis-server`, `nats-server`); killed when dropped.
struct Daemon {
    port: u16,
    child: Option<std::process::Child>,
    /// The command line for a port.
    command: Box<dyn Fn(u16) -> std::process::Command + Send + Sync>,
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl Daemon {
    fn new(command: impl Fn(u16) -> std::process::Command + Send + Sync + 'static) -> Daemon {
        Daemon {
            port: free_port(),
            child: None,
            command: Box::new(command),
        }
    }

    /// Starts the program (again) on its port.
    fn spawn(&mut self) {
        let child = (self.command)(self.port)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server program is installed (.ci/run installs it)");
        self.child = Some(child);
    }

    /// Kills it (connections drop at once, as in a crash).
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How long a test waits for a server process it started to be ready: longer than [`PATIENCE`], since a Redis
/// Cluster's nodes agree on its state by gossip, which a busy machine slows down.
const STARTUP_PATIENCE: Duration = Duration::from_secs(30);

/// Retries `ready` until it holds, failing the test after [`STARTUP_PATIENCE`].
async fn until_ready<F: std::future::Future<Output = bool>>(what: &str, ready: impl Fn() -> F) {
    let deadline = tokio::time::Instant::now() + STARTUP_PATIENCE;
    while !ready().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real `redis-server` on a free loopback port, for backplane tests; killed when dropped.
pub struct RedisServer(Daemon);

impl RedisServer {
    /// Starts one and waits until it answers.
    pub async fn start() -> RedisServer {
        RedisServer::start_with(&[]).await
    }

    /// Starts one with `extra` configuration arguments (`--name value` pairs) and waits until it answers.
    pub async fn start_with(extra: &[&str]) -> RedisServer {
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        let mut server = RedisServer(Daemon::new(move |port| {
            let mut command = std::process::Command::new("redis-server");
            command.args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]);
            command.args(&extra);
            command
        }));
        server.resume().await;
        server
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.0.port)
    }

    /// Kills the server (connections drop at once, as in a crash).
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts the server again on the same port and waits until it answers.
    pub async fn resume(&mut self) {
        self.0.spawn();
        let client = redis::Client::open(self.url()).expect("a valid URL");
        until_ready("redis-server", || async {
            match client.get_multiplexed_async_connection().await {
                Ok(mut conn) => redis::cmd("PING").query_async::<()>(&mut conn).await.is_ok(),
                Err(_) => false,
            }
        })
        .await;
    }

    /// How many connections are subscribed to `channel` (Redis's own count).
    pub async fn subscribers(&self, channel: &str) -> usize {
        let client = redis::Client::open(self.url()).expect("a valid URL");
        let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
            return 0;
        };
        let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(channel)
            .query_async(&mut conn)
            .await
            .unwrap_or_default();
        counts.first().map_or(0, |(_, n)| *n)
    }
}

/// `nats-server` on `port` of the loopback interface.
fn nats_command(port: u16) -> std::process::Command {
    let mut command = std::process::Command::new("nats-server");
    command.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
    command
}

/// A real Redis Cluster of `redis-server` processes on free loopback ports, every hash slot served (no replicas),
/// for sharded pub/sub tests; killed, and its files removed, when dropped.
pub struct RedisCluster {
    nodes: Vec<Daemon>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts `count` (≥ 3) nodes, joins them with `redis-cli --cluster create`, and waits until every node says
    /// the cluster is ok.
    pub async fn start(count: usize) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("grest-ws-redis-cluster-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let mut nodes = Vec::new();
        for _ in 0..count {
            let node_dir = dir.clone();
            let bus_port = free_port();
            let mut node = Daemon::new(move |port| {
                let mut command = std::process::Command::new("redis-server");
                command.args(["--port", &port.to_string(), "--bind", "127.0.0.1"]);
                command.args(["--cluster-enabled", "yes", "--cluster-port", &bus_port.to_string()]);
                command.args(["--cluster-config-file", &format!("nodes-{port}.conf")]);
                command.arg("--dir").arg(&node_dir);
                command.args(["--save", "", "--appendonly", "no"]);
                command
            });
            node.spawn();
            nodes.push(node);
        }
        let cluster = RedisCluster { nodes, dir };
        cluster.answering().await;
        let addresses: Vec<String> = cluster.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = tokio::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .expect("redis-cli is installed with redis-server");
        assert!(created.success(), "redis-cli --cluster create failed");
        cluster.ok().await;
        cluster
    }

    /// Kills every node (connections drop at once, as in a crash) and starts them again on the same ports with
    /// their saved cluster configuration; waits until the cluster is ok again.
    pub async fn restart(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        for node in &mut self.nodes {
            node.spawn();
        }
        self.answering().await;
        self.ok().await;
    }

    /// Waits until every node answers `PING`.
    async fn answering(&self) {
        for url in self.urls() {
            let client = redis::Client::open(url).expect("a valid URL");
            until_ready("redis-server (cluster node)", || async {
                match client.get_multiplexed_async_connection().await {
                    Ok(mut conn) => redis::cmd("PING").query_async::<()>(&mut conn).await.is_ok(),
                    Err(_) => false,
                }
            })
            .await;
        }
    }

    /// Waits until every node says the cluster is ok.
    async fn ok(&self) {
        for url in self.urls() {
            let client = redis::Client::open(url).expect("a valid URL");
            until_ready("the Redis Cluster", || async {
                let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
                    return false;
                };
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                info.contains("cluster_state:ok")
            })
            .await;
        }
    }

    /// The URLs of its nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("redis://127.0.0.1:{}", node.port))
            .collect()
    }

    /// How many connections subscribe to `channel`, by the count `command` (`NUMSUB` for classic channels,
    /// `SHARDNUMSUB` for shard channels), summed over the nodes.
    async fn count(&self, command: &str, channel: &str) -> usize {
        let mut total = 0;
        for url in self.urls() {
            let client = redis::Client::open(url).expect("a valid URL");
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let counts: Vec<(String, usize)> = redis::cmd("PUBSUB")
                    .arg(command)
                    .arg(channel)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or_default();
                total += counts.first().map_or(0, |(_, n)| *n);
            }
        }
        total
    }

    /// Shard subscriptions (`SSUBSCRIBE`) to `channel` over the whole cluster.
    pub async fn shard_subscribers(&self, channel: &str) -> usize {
        self.count("SHARDNUMSUB", channel).await
    }

    /// Classic subscriptions (`SUBSCRIBE`) to `channel` over the whole cluster.
    pub async fn classic_subscribers(&self, channel: &str) -> usize {
        self.count("NUMSUB", channel).await
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.0.kill();
        if let Some(file) = &self.1 {
            let _ = std::fs::remove_file(file);
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A real `nats-server` on a free loopback port, for backplane tests; killed (and its configuration file removed)
/// when dropped.
pub struct NatsServer(Daemon, Option<std::path::PathBuf>);

impl NatsServer {
    /// Starts one and waits until it greets a connection.
    pub async fn start() -> NatsServer {
        let mut server = NatsServer(Daemon::new(nats_command), None);
        server.resume().await;
        server
    }

    /// Starts one with `config` as its configuration file (e.g. `max_pending: 65536`) and waits until it greets a
    /// connection.
    pub async fn start_with_config(config: &str) -> NatsServer {
        let file = std::env::temp_dir().join(format!("grest-ws-nats-{}-{}.conf", std::process::id(), free_port()));
        std::fs::write(&file, config).expect("a temporary file");
        let path = file.clone();
        let mut server = NatsServer(
            Daemon::new(move |port| {
                let mut command = nats_command(port);
                command.arg("-c").arg(&path);
                command
            }),
            Some(file),
        );
        server.resume().await;
        server
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.0.port)
    }

    /// Kills the server (connections drop at once, as in a crash).
    pub fn kill(&mut self) {
        self.0.kill();
    }

    /// Starts the server again on the same port and waits until it greets a connection.
    pub async fn resume(&mut self) {
        self.0.spawn();
        let port = self.0.port;
        until_ready("nats-server", || async move {
            let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)).await else {
                return false;
            };
            let mut greeting = [0u8; 4];
            tokio::io::AsyncReadExt::read_exact(&mut tcp, &mut greeting)
                .await
                .is_ok()
                && &greeting == b"INFO"
        })
        .await;
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`, generated for one test (rcgen), with its PEM files in
/// a temporary folder that is removed when dropped.
pub struct TestCertificate {
    dir: std::path::PathBuf,
}

impl TestCertificate {
    /// Generates one and writes `cert.pem` and `key.pem`.
    pub fn generate() -> TestCertificate {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).expect("a certificate is generated");
        let dir = std::env::temp_dir().join(format!("grest-ws-tls-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("cert.pem written");
        std::fs::write(dir.join("key.pem"), signing_key.serialize_pem()).expect("key.pem written");
        TestCertificate { dir }
    }

    /// The certificate, PEM (also the CA a client must trust: it signs itself).
    pub fn cert_path(&self) -> std::path::PathBuf {
        self.dir.join("cert.pem")
    }

    /// The private key, PEM (PKCS#8).
    pub fn key_path(&self) -> std::path::PathBuf {
        self.dir.join("key.pem")
    }
}

impl Drop for TestCertificate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
