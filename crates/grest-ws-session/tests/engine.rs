//! The session engine (`Session::run`) driven over an in-memory `tokio::io::duplex` stream: a test peer speaks
//! the WebSocket protocol with this crate's own codec (`WebSocket` in the client role) to a server-role session.
//!
//! Every test runs on a paused clock (`start_paused`): no test waits for real time to pass. Timers (heartbeat,
//! request and close timeouts, write deadline) fire when the runtime has nothing else to do, and a test that would
//! hang fails at once on its guard timeout instead of after minutes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use grest_ws_core::frame::{Frame, FrameKind};
use grest_ws_session::{
    Call, CloseFrame, Dispatch, Envelope, Heartbeat, Message, Observer, PeerHandle, PushError, Role, Route, SendError,
    Session, SessionConfig, SessionEnd, SlowConsumer, WebSocket,
};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};

/// A failure guard only. On the paused clock it elapses as soon as nothing else can happen, so it is generous
/// without costing anything, and it is longer than every timer a test waits for.
const GUARD: Duration = Duration::from_secs(3600);

/// The test peer's read limit.
const PEER_MAX: usize = 1 << 20;

/// Answers at once with its input as the data (`null` without input).
const ECHO: &str = "Test.echo";
/// Announces its key (the input, a JSON string) on `started`, waits until the test opens that gate, answers the key.
const GATE: &str = "Test.gate";
/// Pushes `m:Test.pushed::1` (`notify`), awaits once, pushes `m:Test.pushed::2` (typed `send`), answers "done".
const PUSH: &str = "Test.push";
/// Pushes 1 and 2 with `try_notify` and answers "done" without ever awaiting (done on its first poll).
const PUSH_NOW: &str = "Test.pushNow";
/// Panics: at once, or after one await when the input is "later".
const PANIC: &str = "Test.panic";
/// Fire-and-forget: reports its raw input on `fired`.
const FIRE: &str = "Test.fire";

/// Every route: path, and whether it is request-response.
const ROUTES: [(&str, bool); 6] = [
    (ECHO, true),
    (GATE, true),
    (PUSH, true),
    (PUSH_NOW, true),
    (PANIC, true),
    (FIRE, false),
];

/// The pushes of [`PUSH`] and [`PUSH_NOW`].
const PUSHED: &str = "Test.pushed";

struct TestDispatch {
    handle: PeerHandle,
    /// Open gates of waiting [`GATE`] handlers, by key.
    gates: Mutex<HashMap<String, oneshot::Sender<()>>>,
    started: mpsc::UnboundedSender<String>,
    fired: mpsc::UnboundedSender<String>,
}

impl Dispatch for TestDispatch {
    fn route(&self, path: &str) -> Option<Route> {
        let method = ROUTES.iter().position(|(p, _)| *p == path)?;
        let (path, is_request) = ROUTES[method];
        Some(Route {
            target: 0,
            method,
            path,
            is_request,
        })
    }

    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_> {
        match route.path {
            ECHO => {
                let input = data.map(|data| RawValue::from_string(data.to_owned()).expect("JSON input"));
                Call::Ready(Envelope::ok(&input).expect("serializes"))
            }
            GATE => {
                let key: String = serde_json::from_str(data.expect("a key")).expect("a JSON string");
                Call::Pending(Box::pin(async move {
                    let (open, opened) = oneshot::channel();
                    self.gates.lock().unwrap().insert(key.clone(), open);
                    self.started.send(key.clone()).expect("the test listens");
                    opened.await.expect("the gate is opened, not dropped");
                    Envelope::ok(&key).expect("serializes")
                }))
            }
            PUSH => Call::Pending(Box::pin(async move {
                self.handle.notify(PUSHED, Some(&1)).await.expect("queued");
                tokio::task::yield_now().await;
                self.handle.send(PUSHED, Some(&2)).await.expect("queued");
                Envelope::ok("done").expect("serializes")
            })),
            PUSH_NOW => Call::Pending(Box::pin(async move {
                self.handle.try_notify(PUSHED, Some(&1)).expect("queued");
                self.handle.try_notify(PUSHED, Some(&2)).expect("queued");
                Envelope::ok("done").expect("serializes")
            })),
            PANIC => {
                let later = data == Some(r#""later""#);
                Call::Pending(Box::pin(async move {
                    if later {
                        tokio::task::yield_now().await;
                    }
                    explode()
                }))
            }
            FIRE => {
                let data = data.unwrap_or_default().to_owned();
                Call::Pending(Box::pin(async move {
                    self.fired.send(data).expect("the test listens");
                    Envelope::OK_WITHOUT_DATA
                }))
            }
            _ => unreachable!("routed paths only"),
        }
    }
}

fn explode() -> Envelope {
    panic!("this handler panics on purpose (engine test)")
}

/// Records what the session reports.
#[derive(Default)]
struct Recorder {
    inbound: Mutex<Vec<(Option<&'static str>, String)>>,
    dropped: AtomicU64,
    ended: Mutex<Vec<SessionEnd>>,
}

impl Observer for Recorder {
    fn inbound(&self, path: Option<&'static str>, result: &str, _elapsed: Duration) {
        self.inbound.lock().unwrap().push((path, result.to_owned()));
    }

    fn dropped(&self, frames: u64) {
        self.dropped.fetch_add(frames, Ordering::SeqCst);
    }

    fn ended(&self, end: &SessionEnd) {
        self.ended.lock().unwrap().push(end.clone());
    }
}

impl Recorder {
    fn inbound(&self) -> Vec<(Option<&'static str>, String)> {
        self.inbound.lock().unwrap().clone()
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }

    fn ended(&self) -> Vec<SessionEnd> {
        self.ended.lock().unwrap().clone()
    }
}

/// The server end: a session task running on one end of the duplex.
struct Server {
    handle: PeerHandle,
    dispatch: Arc<TestDispatch>,
    started: mpsc::UnboundedReceiver<String>,
    fired: mpsc::UnboundedReceiver<String>,
    recorder: Arc<Recorder>,
    run: JoinHandle<SessionEnd>,
}

impl Server {
    /// The key of the next [`GATE`] handler to start.
    async fn next_started(&mut self) -> String {
        within("a gate handler to start", self.started.recv())
            .await
            .expect("the dispatch lives")
    }

    /// Lets the [`GATE`] handler with this key finish.
    fn open(&self, key: &str) {
        let gate = self.dispatch.gates.lock().unwrap().remove(key);
        gate.unwrap_or_else(|| panic!("no handler waits at gate {key}"))
            .send(())
            .expect("the handler waits");
    }

    /// The input of the next [`FIRE`] message handled.
    async fn next_fired(&mut self) -> String {
        within("a message handler to run", self.fired.recv())
            .await
            .expect("the dispatch lives")
    }

    /// How the session ended.
    async fn end(self) -> SessionEnd {
        within("the session to end", self.run)
            .await
            .expect("the session task panicked")
    }

    /// Closes from the peer with 1000 and checks the session answered and ended normally: it was still healthy.
    async fn close_from<S: AsyncRead + AsyncWrite + Unpin>(self, peer: &mut WebSocket<S>) {
        send_message(peer, Message::Close(Some(CloseFrame::new(1000, "done")))).await;
        assert_eq!(recv(peer).await, Message::Close(Some(CloseFrame::new(1000, ""))));
        assert_eq!(self.end().await, SessionEnd::PeerClosed(Some(1000)));
    }
}

/// Defaults, minus the heartbeat (tests that want it say so): pings would add frames to every exchange.
fn config() -> SessionConfig {
    SessionConfig::default().heartbeat(None)
}

/// Starts a server-role session on `io`, as the server does: the socket's size limit is the config's.
fn serve(config: SessionConfig, io: DuplexStream) -> Server {
    let ws = WebSocket::new(io, Role::Server, config.max_message_size);
    let session = Session::new(Role::Server, config);
    let handle = session.handle().clone();
    let recorder = Arc::new(Recorder::default());
    handle.wiring().set_observer(recorder.clone());
    let (started_tx, started) = mpsc::unbounded_channel();
    let (fired_tx, fired) = mpsc::unbounded_channel();
    let dispatch = Arc::new(TestDispatch {
        handle: handle.clone(),
        gates: Mutex::new(HashMap::new()),
        started: started_tx,
        fired: fired_tx,
    });
    let run = tokio::spawn({
        let dispatch = dispatch.clone();
        async move { session.run(ws, &*dispatch).await }
    });
    Server {
        handle,
        dispatch,
        started,
        fired,
        recorder,
        run,
    }
}

/// A session and a client-role test peer on a duplex of `capacity` bytes each way.
fn connect_with(config: SessionConfig, capacity: usize) -> (Server, WebSocket<DuplexStream>) {
    let (server_io, peer_io) = tokio::io::duplex(capacity);
    (
        serve(config, server_io),
        WebSocket::new(peer_io, Role::Client, PEER_MAX),
    )
}

fn connect(config: SessionConfig) -> (Server, WebSocket<DuplexStream>) {
    connect_with(config, 64 * 1024)
}

/// `future`, failing the test if it does not finish within [`GUARD`].
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    timeout(GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("stuck waiting for {what}"))
}

async fn send_message<S: AsyncRead + AsyncWrite + Unpin>(peer: &mut WebSocket<S>, message: Message) {
    within("the socket to take a frame", peer.send(&message))
        .await
        .expect("the peer writes");
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(peer: &mut WebSocket<S>, text: &str) {
    send_message(peer, Message::text(text)).await;
}

async fn recv<S: AsyncRead + Unpin>(peer: &mut WebSocket<S>) -> Message {
    within("a frame from the session", peer.next())
        .await
        .expect("the stream ended")
        .expect("a well-formed frame")
}

async fn recv_text<S: AsyncRead + Unpin>(peer: &mut WebSocket<S>) -> String {
    match recv(peer).await {
        Message::Text(text) => text,
        other => panic!("expected a text frame, got {other:?}"),
    }
}

/// Asserts the stream ends without another frame. (Only meaningful before the peer has read a Close: after one,
/// the codec reports the end by itself.)
async fn assert_end_of_stream<S: AsyncRead + Unpin>(peer: &mut WebSocket<S>) {
    let next = within("the end of the stream", peer.next()).await;
    assert!(next.is_none(), "expected the end of the stream, got {next:?}");
}

/// The path, id and parsed envelope of an `s` frame.
fn parse_reply(text: &str) -> (String, Option<String>, Value) {
    let frame = Frame::parse(text).unwrap_or_else(|| panic!("not a frame: {text}"));
    assert_eq!(frame.kind, FrameKind::Response, "{text}");
    let envelope = serde_json::from_str(frame.data.expect("an envelope")).expect("JSON envelope");
    (frame.path.to_owned(), frame.id.map(str::to_owned), envelope)
}

/// The exact `s` frame of a successful reply with this data.
fn ok_reply(path: &str, id: &str, data: &str) -> String {
    format!(r#"s:{path}:{id}:{{"success":true,"type":"OK","data":{data}}}"#)
}

fn assert_error_envelope(envelope: &Value, error_type: &str, status: u64) {
    assert_eq!(envelope["success"], json!(false), "{envelope}");
    assert_eq!(envelope["type"], json!(error_type), "{envelope}");
    assert_eq!(envelope["statusCode"], json!(status), "{envelope}");
    let reference = envelope["context"]["ref"].as_str().expect("an error reference");
    assert!(reference.starts_with("ERR_REF_"), "{envelope}");
}

/// A masked client frame (all-zero mask key, so the payload goes as it is) with the raw first header byte `b0`.
fn masked_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![b0, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

// 1. Request/reply correlation.

/// Concurrent requests are answered with their own ids (echoed byte for byte) and envelopes; handlers that await
/// answer when they finish, out of order.
#[tokio::test(start_paused = true)]
async fn replies_carry_their_request_ids_and_may_come_out_of_order() {
    let (mut server, mut peer) = connect(config());
    send(&mut peer, r#"r:Test.gate:1:"a""#).await;
    send(&mut peer, r#"r:Test.gate:2:"b""#).await;
    send(&mut peer, r#"r:Test.echo:3:{"x":[1,2]}"#).await;
    send(&mut peer, "r:Test.echo:007:null").await;
    send(&mut peer, r#"r:Test.echo:req-5:"five""#).await;
    // Immediate answers overtake the waiting handlers.
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "3", r#"{"x":[1,2]}"#));
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "007", "null"));
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "req-5", r#""five""#));
    assert_eq!(server.next_started().await, "a");
    assert_eq!(server.next_started().await, "b");
    // The later request finishes first.
    server.open("b");
    assert_eq!(recv_text(&mut peer).await, ok_reply(GATE, "2", r#""b""#));
    server.open("a");
    assert_eq!(recv_text(&mut peer).await, ok_reply(GATE, "1", r#""a""#));
    let results: Vec<_> = server.recorder.inbound().into_iter().map(|(path, _)| path).collect();
    assert_eq!(results, [Some(ECHO), Some(ECHO), Some(ECHO), Some(GATE), Some(GATE)]);
    server.close_from(&mut peer).await;
}

// 2. Ordering of a handler's pushes and its reply.

/// What a handler pushes through the session's handle before it returns goes out before its reply: for a
/// handler that awaits between pushes (`notify`, then `send`) and for one done on its first poll (`try_notify`).
#[tokio::test(start_paused = true)]
async fn pushes_made_by_a_handler_go_out_before_its_reply() {
    let (server, mut peer) = connect(config());
    for (path, id) in [(PUSH, "1"), (PUSH_NOW, "2"), (PUSH, "3")] {
        send(&mut peer, &format!("r:{path}:{id}:")).await;
        assert_eq!(recv_text(&mut peer).await, "m:Test.pushed::1");
        assert_eq!(recv_text(&mut peer).await, "m:Test.pushed::2");
        assert_eq!(recv_text(&mut peer).await, ok_reply(path, id, r#""done""#));
    }
    server.close_from(&mut peer).await;
}

// 3. Unknown routes; fire-and-forget.

/// An `r` for an unknown path is answered `ROUTE_NOT_FOUND` (404, "Route not found: <path>"); an `m` for one gets
/// nothing; both are reported to the observer without a path, and the session carries on. An `m` for a known path
/// runs its handler without a reply; an `r` for it is acknowledged with `{"success":true,"type":"OK"}`.
#[tokio::test(start_paused = true)]
async fn unknown_routes_answer_route_not_found_and_messages_get_no_reply() {
    let (mut server, mut peer) = connect(config());
    send(&mut peer, r#"r:Nope.missing:5:{"a":1}"#).await;
    let (path, id, envelope) = parse_reply(&recv_text(&mut peer).await);
    assert_eq!((path.as_str(), id.as_deref()), ("Nope.missing", Some("5")));
    assert_error_envelope(&envelope, "ROUTE_NOT_FOUND", 404);
    assert_eq!(
        envelope["context"]["displayMessage"],
        json!("Route not found: Nope.missing")
    );

    send(&mut peer, r#"m:Nope.gone::{"a":1}"#).await;
    send(&mut peer, r#"m:Test.fire::"hello""#).await;
    send(&mut peer, "r:Test.echo:6:1").await;
    // Neither message was answered: the next frame is the echo's reply.
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "6", "1"));
    assert_eq!(server.next_fired().await, r#""hello""#);

    send(&mut peer, "r:Test.fire:7:2").await;
    assert_eq!(
        recv_text(&mut peer).await,
        r#"s:Test.fire:7:{"success":true,"type":"OK"}"#
    );
    assert_eq!(server.next_fired().await, "2");

    let not_found = || (None, "ROUTE_NOT_FOUND".to_owned());
    let ok = |path| (Some(path), "OK".to_owned());
    assert_eq!(
        server.recorder.inbound(),
        [not_found(), not_found(), ok(FIRE), ok(ECHO), ok(FIRE)]
    );
    server.close_from(&mut peer).await;
}

// 4. Malformed frames.

/// Text the frame grammar rejects, unknown frame types, replies to requests never made, stray control frames and
/// binary frames that are not UTF-8 are ignored; a binary frame carrying a valid text frame is handled like text
/// (Node compatibility); the session carries on.
#[tokio::test(start_paused = true)]
async fn malformed_frames_are_ignored() {
    let (server, mut peer) = connect(config());
    for text in [
        "",
        ":",
        ":::",
        "r",
        "r::1:{}",
        "m:::",
        "garbage",
        "z:Test.echo:1:{}",
        "s:Test.echo:999:{}",
        "s:Test.echo:not-a-number:{}",
        "s:::",
        "o:::",
        "k:::null",
        "h:::{}",
    ] {
        send(&mut peer, text).await;
    }
    send_message(&mut peer, Message::Binary(Bytes::from_static(&[0xff, 0xfe, 0x00]))).await;
    send_message(
        &mut peer,
        Message::Binary(Bytes::from_static(br#"r:Test.echo:8:"bin""#)),
    )
    .await;
    send(&mut peer, r#"r:Test.echo:9:"after""#).await;
    // Replies to binary frames go out as text.
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "8", r#""bin""#));
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "9", r#""after""#));
    // Nothing but the two echoes reached a handler or the observer.
    assert_eq!(
        server.recorder.inbound(),
        [(Some(ECHO), "OK".to_owned()), (Some(ECHO), "OK".to_owned())]
    );
    server.close_from(&mut peer).await;
}

/// A text frame that is not UTF-8 breaks the WebSocket protocol: the session fails the connection with 1007 and
/// ends with `ProtocolViolation(1007)`.
#[tokio::test(start_paused = true)]
async fn text_that_is_not_utf8_closes_with_1007() {
    let (server_io, peer_io) = tokio::io::duplex(64 * 1024);
    let server = serve(config(), server_io);
    let (read, mut write) = tokio::io::split(peer_io);
    let mut peer = WebSocket::new(read, Role::Client, PEER_MAX);
    write
        .write_all(&masked_frame(0x81, &[b'r', b':', 0xff, 0xfe]))
        .await
        .unwrap();
    assert_eq!(
        recv(&mut peer).await,
        Message::Close(Some(CloseFrame::new(1007, "Invalid UTF-8")))
    );
    assert_eq!(server.end().await, SessionEnd::ProtocolViolation(1007));
}

/// An unmasked client frame breaks the WebSocket protocol: the session fails the connection with 1002.
#[tokio::test(start_paused = true)]
async fn an_unmasked_frame_closes_with_1002() {
    let (server_io, peer_io) = tokio::io::duplex(64 * 1024);
    let server = serve(config(), server_io);
    let (read, mut write) = tokio::io::split(peer_io);
    let mut peer = WebSocket::new(read, Role::Client, PEER_MAX);
    let text = b"r:Test.echo:1:1";
    let mut frame = vec![0x81, text.len() as u8];
    frame.extend_from_slice(text);
    write.write_all(&frame).await.unwrap();
    assert_eq!(
        recv(&mut peer).await,
        Message::Close(Some(CloseFrame::new(1002, "Protocol error")))
    );
    assert_eq!(server.end().await, SessionEnd::ProtocolViolation(1002));
}

// 5. Panicking handlers.

/// A handler that panics — on its first poll or after awaiting — is answered `SERVER_ERROR` (500, no display
/// message) and reported as such; a panicking message handler gets no reply; the session carries on.
#[tokio::test(start_paused = true)]
async fn a_panicking_handler_is_answered_server_error() {
    let (server, mut peer) = connect(config());
    for (id, input) in [("1", "now"), ("2", "later")] {
        send(&mut peer, &format!(r#"r:Test.panic:{id}:"{input}""#)).await;
        let (path, reply_id, envelope) = parse_reply(&recv_text(&mut peer).await);
        assert_eq!((path.as_str(), reply_id.as_deref()), (PANIC, Some(id)));
        assert_error_envelope(&envelope, "SERVER_ERROR", 500);
        assert_eq!(envelope["context"].get("displayMessage"), None, "{envelope}");
    }
    send(&mut peer, r#"m:Test.panic::"now""#).await;
    send(&mut peer, "r:Test.echo:3:true").await;
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "3", "true"));
    let error = |path| (Some(path), "SERVER_ERROR".to_owned());
    assert_eq!(
        server.recorder.inbound(),
        [error(PANIC), error(PANIC), error(PANIC), (Some(ECHO), "OK".to_owned())]
    );
    server.close_from(&mut peer).await;
}

// 6. max_in_flight.

/// At `max_in_flight` running handlers, further requests and messages — even ones answered without awaiting —
/// wait, in order, until a handler finishes, while pings are still answered; every request is answered in the end.
#[tokio::test(start_paused = true)]
async fn requests_past_max_in_flight_wait_for_a_free_slot() {
    let (mut server, mut peer) = connect(config().max_in_flight(2));
    send(&mut peer, r#"r:Test.gate:1:"a""#).await;
    send(&mut peer, r#"r:Test.gate:2:"b""#).await;
    send(&mut peer, r#"r:Test.gate:3:"c""#).await;
    send(&mut peer, r#"m:Test.fire::"x""#).await;
    send(&mut peer, "r:Test.echo:4:4").await;
    send(&mut peer, "p:::").await;
    // The ping was read after everything before it, and answered: the echo was held back.
    assert_eq!(recv_text(&mut peer).await, "o:::");
    assert_eq!(server.next_started().await, "a");
    assert_eq!(server.next_started().await, "b");
    assert!(server.started.try_recv().is_err(), "a third handler started");
    assert!(server.fired.try_recv().is_err(), "a message handler ran");

    // One slot frees: the next waiting request (c) takes it; the rest keep waiting.
    server.open("a");
    assert_eq!(recv_text(&mut peer).await, ok_reply(GATE, "1", r#""a""#));
    assert_eq!(server.next_started().await, "c");
    assert!(
        server.fired.try_recv().is_err(),
        "the message overtook the request before it"
    );

    // Another frees: the message and the echo, done at once, both run.
    server.open("b");
    assert_eq!(recv_text(&mut peer).await, ok_reply(GATE, "2", r#""b""#));
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "4", "4"));
    assert_eq!(server.next_fired().await, r#""x""#);

    server.open("c");
    assert_eq!(recv_text(&mut peer).await, ok_reply(GATE, "3", r#""c""#));
    server.close_from(&mut peer).await;
}

// 7. Requests from the session's side.

/// `PeerHandle::request` sends `r:<path>:<id>:<data>` with ids from 1; each `s` reply resolves its own request
/// (replies may come out of order) with the envelope text.
#[tokio::test(start_paused = true)]
async fn requests_to_the_peer_resolve_with_their_replies() {
    let (server, mut peer) = connect(config());
    let ask = |data: Value| {
        let handle = server.handle.clone();
        tokio::spawn(async move { handle.request("Client.ask", Some(&data)).await })
    };
    let first = ask(json!({"q": 1}));
    assert_eq!(recv_text(&mut peer).await, r#"r:Client.ask:1:{"q":1}"#);
    let second = ask(json!({"q": 2}));
    assert_eq!(recv_text(&mut peer).await, r#"r:Client.ask:2:{"q":2}"#);
    assert_eq!(server.handle.pending_requests(), 2);

    let two = r#"{"success":true,"type":"OK","data":"two"}"#;
    send(&mut peer, &format!("s:Client.ask:2:{two}")).await;
    let result = within("the second request", second).await.unwrap();
    assert_eq!(result, Ok(Some(two.to_owned())));
    assert_eq!(server.handle.pending_requests(), 1);

    send(&mut peer, "s:Client.ask:1:").await;
    let result = within("the first request", first).await.unwrap();
    assert_eq!(result, Ok(None), "a reply without data");
    assert_eq!(server.handle.pending_requests(), 0);
    server.close_from(&mut peer).await;
}

/// A request without a reply fails with `SendError::TimedOut` once `request_timeout` has passed (paused clock);
/// a reply that comes later is ignored.
#[tokio::test(start_paused = true)]
async fn an_unanswered_request_times_out() {
    let timeout = Duration::from_secs(5);
    let (server, mut peer) = connect(config().request_timeout(timeout));
    let start = Instant::now();
    let handle = server.handle.clone();
    let request = tokio::spawn(async move { handle.request("Client.ask", Some(&1)).await });
    assert_eq!(recv_text(&mut peer).await, "r:Client.ask:1:1");
    let result = within("the request to time out", request).await.unwrap();
    assert_eq!(result, Err(SendError::TimedOut));
    let waited = start.elapsed();
    assert!(
        waited >= timeout && waited < timeout + Duration::from_millis(50),
        "timed out after {waited:?}"
    );
    assert_eq!(server.handle.pending_requests(), 0);

    send(&mut peer, r#"s:Client.ask:1:{"success":true,"type":"OK"}"#).await;
    send(&mut peer, "r:Test.echo:2:2").await;
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "2", "2"));
    server.close_from(&mut peer).await;
}

/// When the socket ends, outstanding requests fail with `SendError::Closed`; afterwards the handle has no socket
/// (`NotConnected`, and pushes fail with `PushError::Closed`).
#[tokio::test(start_paused = true)]
async fn outstanding_requests_fail_when_the_socket_closes() {
    let (server, mut peer) = connect(config());
    let handle = server.handle.clone();
    let request = tokio::spawn({
        let handle = handle.clone();
        async move { handle.request("Client.ask", Some(&1)).await }
    });
    assert_eq!(recv_text(&mut peer).await, "r:Client.ask:1:1");
    send_message(&mut peer, Message::Close(Some(CloseFrame::new(1000, "bye")))).await;
    let result = within("the request to fail", request).await.unwrap();
    assert_eq!(result, Err(SendError::Closed));
    assert_eq!(recv(&mut peer).await, Message::Close(Some(CloseFrame::new(1000, ""))));
    let recorder = server.recorder.clone();
    assert_eq!(server.end().await, SessionEnd::PeerClosed(Some(1000)));
    assert_eq!(recorder.ended(), [SessionEnd::PeerClosed(Some(1000))]);
    assert_eq!(
        handle.request("Client.ask", Some(&2)).await,
        Err(SendError::NotConnected)
    );
    assert_eq!(handle.try_notify("Client.note", Some(&2)), Err(PushError::Closed));
    assert!(!handle.is_connected());
}

// 8. Pings, pongs and the heartbeat.

/// A silent peer gets a protocol ping every `interval` and is dropped — end of stream, no Close frame —
/// `interval + timeout` after it was last heard from; `run` returns `HeartbeatTimeout`.
#[tokio::test(start_paused = true)]
async fn a_silent_peer_is_dropped_after_interval_plus_timeout() {
    let heartbeat = Heartbeat {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
    };
    let (server, mut peer) = connect(config().heartbeat(Some(heartbeat)));
    let start = Instant::now();
    // The peer's codec queues a pong for the ping, but the peer never writes it: it stays silent.
    assert_eq!(recv(&mut peer).await, Message::Ping(Bytes::new()));
    assert_at(start, Duration::from_secs(10));
    assert_end_of_stream(&mut peer).await;
    assert_at(start, Duration::from_secs(15));
    let recorder = server.recorder.clone();
    assert_eq!(server.end().await, SessionEnd::HeartbeatTimeout);
    assert_eq!(recorder.ended(), [SessionEnd::HeartbeatTimeout]);
}

/// A peer that answers the pings (or sends anything) stays connected well past `interval + timeout`; once it
/// falls silent, it is dropped `interval + timeout` after the last frame heard.
#[tokio::test(start_paused = true)]
async fn a_peer_that_answers_pings_stays_connected() {
    let heartbeat = Heartbeat {
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
    };
    let (server, mut peer) = connect(config().heartbeat(Some(heartbeat)));
    let start = Instant::now();
    for round in 1..=4 {
        assert_eq!(recv(&mut peer).await, Message::Ping(Bytes::new()));
        assert_at(start, Duration::from_secs(10 * round));
        // Writes the pong the codec queued for the ping.
        within("the pong to leave", peer.drain()).await.unwrap();
    }
    send(&mut peer, "r:Test.echo:1:1").await;
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "1", "1"));
    // Silent from 40 s on: one more ping at 50 s, dropped at 40 + 15 s.
    assert_eq!(recv(&mut peer).await, Message::Ping(Bytes::new()));
    assert_at(start, Duration::from_secs(50));
    assert_end_of_stream(&mut peer).await;
    assert_at(start, Duration::from_secs(55));
    assert_eq!(server.end().await, SessionEnd::HeartbeatTimeout);
}

/// The paused clock reads `expected` after `start` (to the timer's millisecond resolution).
fn assert_at(start: Instant, expected: Duration) {
    let elapsed = start.elapsed();
    assert!(
        elapsed >= expected && elapsed < expected + Duration::from_millis(50),
        "expected {expected:?}, the clock reads {elapsed:?}"
    );
}

/// An application ping `p:::` is answered `o:::`; a protocol ping is answered with a pong carrying its payload.
#[tokio::test(start_paused = true)]
async fn pings_are_answered() {
    let (server, mut peer) = connect(config());
    send(&mut peer, "p:::").await;
    assert_eq!(recv_text(&mut peer).await, "o:::");
    send_message(&mut peer, Message::Ping(Bytes::from_static(b"hi"))).await;
    assert_eq!(recv(&mut peer).await, Message::Pong(Bytes::from_static(b"hi")));
    server.close_from(&mut peer).await;
}

// 9. Closing.

/// `close_with` sends a Close frame with that code and reason; once the peer answers, `run` returns `Closed`.
/// The handle is closing from then on: requests and pushes fail without a socket.
#[tokio::test(start_paused = true)]
async fn close_with_sends_the_close_frame_and_ends_closed() {
    let (server, mut peer) = connect(config());
    server.handle.close_with(Some(CloseFrame::new(4321, "bye now")));
    assert!(server.handle.is_closing());
    assert_eq!(
        recv(&mut peer).await,
        Message::Close(Some(CloseFrame::new(4321, "bye now")))
    );
    // Writes the answer the codec queued.
    within("the answer to leave", peer.drain()).await.unwrap();
    let handle = server.handle.clone();
    let recorder = server.recorder.clone();
    assert_eq!(server.end().await, SessionEnd::Closed);
    assert_eq!(recorder.ended(), [SessionEnd::Closed]);
    assert_eq!(handle.request("Client.ask", Some(&1)).await, Err(SendError::Closed));
    assert_eq!(handle.try_notify("Client.note", Some(&1)), Err(PushError::Closed));
}

/// `close()` sends a Close frame without a status code; a peer that never answers it is dropped after
/// `close_timeout` (paused clock), and `run` still returns `Closed`.
#[tokio::test(start_paused = true)]
async fn an_unanswered_close_is_bounded_by_close_timeout() {
    let close_timeout = Duration::from_secs(2);
    let (server, mut peer) = connect(config().close_timeout(close_timeout));
    let start = Instant::now();
    server.handle.close();
    assert_eq!(recv(&mut peer).await, Message::Close(None));
    // The peer's answer stays queued in its codec: it never reaches the session, which gives up after the timeout.
    assert_eq!(server.end().await, SessionEnd::Closed);
    assert_at(start, close_timeout);
}

/// The peer's Close is answered with a Close echoing its code (no reason), and `run` returns `PeerClosed` with
/// that code; a Close without a code is answered without one (`PeerClosed(None)`).
#[tokio::test(start_paused = true)]
async fn the_peer_closing_ends_peer_closed_with_its_code() {
    let (server, mut peer) = connect(config());
    send_message(&mut peer, Message::Close(Some(CloseFrame::new(4000, "leaving")))).await;
    assert_eq!(recv(&mut peer).await, Message::Close(Some(CloseFrame::new(4000, ""))));
    assert_eq!(server.end().await, SessionEnd::PeerClosed(Some(4000)));

    let (server, mut peer) = connect(config());
    send_message(&mut peer, Message::Close(None)).await;
    assert_eq!(recv(&mut peer).await, Message::Close(None));
    assert_eq!(server.end().await, SessionEnd::PeerClosed(None));
}

/// The peer's stream ending without a Close frame ends the session with `ConnectionLost`, a failure; the
/// peer's Close, with or without a code, is a failure only with a code other than 1000/1001.
#[tokio::test(start_paused = true)]
async fn the_stream_ending_ends_connection_lost() {
    let (server, peer) = connect(config());
    drop(peer);
    let end = server.end().await;
    assert_eq!(end, SessionEnd::ConnectionLost);
    assert!(end.is_failure());
    for (code, failure) in [
        (None, false),
        (Some(1000), false),
        (Some(1001), false),
        (Some(1011), true),
    ] {
        assert_eq!(SessionEnd::PeerClosed(code).is_failure(), failure, "{code:?}");
    }
    assert!(!SessionEnd::Closed.is_failure() && SessionEnd::HeartbeatTimeout.is_failure());
}

/// A message of exactly the socket's size limit is handled; one byte more closes with 1009 "Message too big"
/// and `run` returns `MessageTooBig`.
#[tokio::test(start_paused = true)]
async fn a_message_over_the_size_limit_closes_with_1009() {
    let limit = 64;
    let (server, mut peer) = connect(config().max_message_size(limit));
    let fits = format!(r#"r:Test.echo:1:"{}""#, "x".repeat(limit - 16));
    assert_eq!(fits.len(), limit);
    send(&mut peer, &fits).await;
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "1", &fits[14..]));

    let too_big = format!(r#"r:Test.echo:2:"{}""#, "x".repeat(limit - 15));
    assert_eq!(too_big.len(), limit + 1);
    send(&mut peer, &too_big).await;
    assert_eq!(
        recv(&mut peer).await,
        Message::Close(Some(CloseFrame::new(1009, "Message too big")))
    );
    // The session reads on (discarding) until the peer goes away or close_timeout passes.
    drop(peer);
    let recorder = server.recorder.clone();
    assert_eq!(server.end().await, SessionEnd::MessageTooBig);
    assert_eq!(
        recorder.inbound(),
        [(Some(ECHO), "OK".to_owned())],
        "only the first message was handled"
    );
}

// 10. Slow consumers.

/// A push of about 110 bytes, numbered.
fn tick(i: usize) -> String {
    format!("{i:04}{}", "-".repeat(100))
}

/// The number of a `m:Test.tick::"<tick>"` frame.
fn tick_number(text: &str) -> usize {
    let data = text
        .strip_prefix("m:Test.tick::")
        .unwrap_or_else(|| panic!("not a tick: {text}"));
    let tick: String = serde_json::from_str(data).expect("a JSON string");
    tick[..4].parse().expect("numbered")
}

/// Under `SlowConsumer::Close`, with a small outbound budget and a peer that does not read (its socket full),
/// `try_notify` past the budget fails with `PushError::SlowConsumer` (and keeps failing); the session lets the
/// frame being written finish, sends Close 1013 "Slow consumer", and `run` returns `SlowConsumer`. Every accepted
/// push is either delivered or counted as dropped.
#[tokio::test(start_paused = true)]
async fn a_slow_consumer_is_closed_with_1013() {
    let (server, mut peer) = connect_with(config().outbound_budget(1024), 256);
    let mut accepted = 0;
    let error = loop {
        assert!(accepted < 1000, "the budget never ran out");
        match server.handle.try_notify("Test.tick", Some(&tick(accepted))) {
            Ok(()) => accepted += 1,
            Err(error) => break error,
        }
        // Lets the session write what it can (the runtime never idles, so the paused clock stands still).
        tokio::task::yield_now().await;
    };
    assert_eq!(error, PushError::SlowConsumer);
    assert_eq!(
        server.handle.try_notify("Test.tick", Some(&tick(accepted))),
        Err(PushError::SlowConsumer),
        "pushes keep failing once the budget overflowed"
    );
    assert!(accepted >= 3, "only {accepted} pushes fit");

    // Only now does the peer read: what was on its way, in order, then the Close.
    let mut delivered = 0;
    let close = loop {
        match recv(&mut peer).await {
            Message::Text(text) => {
                assert_eq!(tick_number(&text), delivered);
                delivered += 1;
            }
            other => break other,
        }
    };
    assert_eq!(close, Message::Close(Some(CloseFrame::new(1013, "Slow consumer"))));
    assert!(delivered < accepted, "everything was delivered");
    within("the answer to leave", peer.drain()).await.unwrap();
    let recorder = server.recorder.clone();
    assert_eq!(server.end().await, SessionEnd::SlowConsumer);
    assert_eq!(recorder.ended(), [SessionEnd::SlowConsumer]);
    // The two refused pushes and every accepted one that was not delivered.
    assert_eq!(recorder.dropped(), (accepted - delivered + 2) as u64);
}

/// A burst of pushes past the budget on an idle socket: the Close 1013 is the first frame the peer gets, so every
/// push — accepted or refused — should be counted as dropped by the observer.
#[tokio::test(start_paused = true)]
async fn a_burst_past_the_budget_counts_every_dropped_push() {
    let (server, mut peer) = connect(config().outbound_budget(1024));
    let mut accepted = 0;
    // No await between pushes: the session does not run until the budget has overflowed.
    while server.handle.try_notify("Test.tick", Some(&tick(accepted))).is_ok() {
        accepted += 1;
    }
    assert!(accepted >= 5, "only {accepted} pushes fit");
    assert_eq!(
        recv(&mut peer).await,
        Message::Close(Some(CloseFrame::new(1013, "Slow consumer")))
    );
    within("the answer to leave", peer.drain()).await.unwrap();
    let recorder = server.recorder.clone();
    assert_eq!(server.end().await, SessionEnd::SlowConsumer);
    assert_eq!(
        recorder.dropped(),
        (accepted + 1) as u64,
        "accepted {accepted} + 1 refused"
    );
}

/// Under `SlowConsumer::DropOldest`, pushes past the budget never fail: the oldest queued ones are dropped and
/// counted, the connection stays, and once the peer reads it gets the surviving pushes in order, the newest among
/// them.
#[tokio::test(start_paused = true)]
async fn drop_oldest_drops_and_counts_the_oldest_pushes() {
    let config = config().outbound_budget(1024).slow_consumer(SlowConsumer::DropOldest);
    let (server, mut peer) = connect_with(config, 256);
    let pushes = 50;
    for i in 0..pushes {
        assert_eq!(server.handle.try_notify("Test.tick", Some(&tick(i))), Ok(()));
        tokio::task::yield_now().await;
    }
    let mut received = Vec::new();
    while received.last() != Some(&(pushes - 1)) {
        received.push(tick_number(&recv_text(&mut peer).await));
    }
    assert!(received.windows(2).all(|w| w[0] < w[1]), "out of order: {received:?}");
    assert!(received.len() < pushes, "nothing was dropped");
    assert_eq!(
        server.recorder.dropped(),
        (pushes - received.len()) as u64,
        "received {received:?}"
    );
    // Still connected and working.
    send(&mut peer, "r:Test.echo:1:1").await;
    assert_eq!(recv_text(&mut peer).await, ok_reply(ECHO, "1", "1"));
    server.close_from(&mut peer).await;
}

/// Queued output that the socket does not take for `write_timeout` (paused clock) closes the slow consumer with
/// 1013, even within its budget: the frame being written finishes first.
#[tokio::test(start_paused = true)]
async fn output_stuck_past_write_timeout_closes_with_1013() {
    let write_timeout = Duration::from_secs(2);
    let (server, mut peer) = connect_with(config().write_timeout(write_timeout), 64);
    let big = "y".repeat(300);
    server.handle.try_notify("Test.big", Some(&big)).unwrap();
    // The paused clock: the session's write deadline fires before this sleep ends.
    tokio::time::sleep(write_timeout + Duration::from_millis(1)).await;
    assert_eq!(recv_text(&mut peer).await, format!(r#"m:Test.big::"{big}""#));
    assert_eq!(
        recv(&mut peer).await,
        Message::Close(Some(CloseFrame::new(1013, "Slow consumer")))
    );
    within("the answer to leave", peer.drain()).await.unwrap();
    assert_eq!(server.end().await, SessionEnd::SlowConsumer);
}
