//! The codec's hot-path operations in a loop, for instruction counting under callgrind (`benches/codec.sh`):
//! `codec-count OP N` runs OP N times. The script runs each OP with N and with 0 and divides the difference by N,
//! so start-up costs cancel and the result is instructions per operation — deterministic, unlike wall time.
//!
//! `session-echo` is the whole server side of one `Echo.echo` round trip through a real session — WebSocket
//! framing, the session loop, dispatch, the handler, the reply write — over an in-memory pipe, with a minimal
//! client that writes pre-built masked frames and reads replies (its share is small and constant).
//!
//! `session-ask` is the other direction, the S3 path: a task asks `Echo.ask` through the session's handle (typed
//! call: encode, pending slot, mailbox, the session writes it; the reply is read, matched to its slot, handed to
//! the asking task and decoded), one at a time, and a minimal client answers each request with its own input.

use std::hint::black_box;

use grest_ws::__private::session::{
    __macro_support::decode_input, Call, Dispatch, Role, Route, Routes, ServeWith, Session, SessionConfig, WebSocket,
};
use grest_ws::protocol::envelope::{decode_reply, encode_result, write_ok};
use grest_ws::protocol::frame::{Frame, FrameKind, write_frame, write_frame_head};
use grest_ws::{Contract, Direction};
use grest_ws_bench::{Echo, Payload, echo};
use tokio::io::DuplexStream;

const REQUEST: &str = r#"r:Echo.echo:123456:{"seq":123456,"text":"abcdefghijklmnopqrstuvwxyz0123456789ABCD"}"#;
const DATA: &str = r#"{"seq":123456,"text":"abcdefghijklmnopqrstuvwxyz0123456789ABCD"}"#;
const ENVELOPE: &str =
    r#"{"success":true,"type":"OK","data":{"seq":123456,"text":"abcdefghijklmnopqrstuvwxyz0123456789ABCD"}}"#;

/// Every operation the script knows, in the order it prints them.
const OPS: &[&str] = &[
    "frame-parse",
    "frame-write",
    "frame-head",
    "route-lookup",
    "envelope-write-ok",
    "envelope-encode-result",
    "decode-input",
    "decode-reply",
    "server-request-path",
    "session-echo",
    "session-ask",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    if op == "list" {
        println!("{}", OPS.join(" "));
        return;
    }
    let n: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let routes = Routes::new(<Echo as Contract>::META, Direction::ClientToServer);
    let payload = Payload::new(123_456);
    let mut s = String::with_capacity(256);
    let mut v = Vec::with_capacity(256);
    match op.as_str() {
        "frame-parse" => {
            for _ in 0..n {
                black_box(Frame::parse(black_box(REQUEST)));
            }
        }
        "frame-write" => {
            for _ in 0..n {
                write_frame(
                    &mut s,
                    FrameKind::Response,
                    black_box("Echo.echo"),
                    Some("123456"),
                    Some(black_box(ENVELOPE)),
                );
                black_box(&s);
            }
        }
        "frame-head" => {
            for _ in 0..n {
                s.clear();
                write_frame_head(
                    &mut s,
                    FrameKind::Request,
                    black_box("Echo.echo"),
                    Some(black_box(123_456)),
                );
                black_box(&s);
            }
        }
        "route-lookup" => {
            for _ in 0..n {
                black_box(routes.get(black_box("Echo.echo")));
            }
        }
        "envelope-write-ok" => {
            for _ in 0..n {
                v.clear();
                let _ = write_ok(&mut v, black_box(&payload));
                black_box(&v);
            }
        }
        "envelope-encode-result" => {
            let result: Result<Payload, echo::EchoError> = Ok(payload.clone());
            for _ in 0..n {
                black_box(encode_result(black_box(&result)).ok());
            }
        }
        "decode-input" => {
            for _ in 0..n {
                black_box(decode_input::<Payload>(Some(black_box(DATA))).ok());
            }
        }
        "decode-reply" => {
            for _ in 0..n {
                black_box(decode_reply::<Payload, echo::EchoError>(Some(black_box(ENVELOPE))).ok());
            }
        }
        "server-request-path" => {
            // What the server does for one `r` frame outside the socket: parse, route, decode + validate the
            // input, encode the result envelope, build the reply frame.
            for _ in 0..n {
                let Some(frame) = Frame::parse(black_box(REQUEST)) else {
                    continue;
                };
                let Some(route) = routes.get(frame.path) else { continue };
                let Ok(input) = decode_input::<Payload>(frame.data) else {
                    continue;
                };
                let result: Result<Payload, echo::EchoError> = Ok(input);
                let Ok(envelope) = encode_result(&result) else { continue };
                write_frame(&mut s, FrameKind::Response, route.path, frame.id, Some(envelope.json()));
                black_box(&s);
            }
        }
        "session-echo" => session_echo(n),
        "session-ask" => session_ask(n),
        "" => {}
        other => {
            eprintln!("unknown op {other}; known: {}", OPS.join(" "));
            std::process::exit(2);
        }
    }
}

/// The `Echo` handlers `session-echo` dispatches to (only `echo` is called).
struct Handlers;

impl echo::Server for Handlers {
    async fn echo(&self, input: Payload) -> grest_ws::HandlerResult<Payload, echo::EchoError> {
        Ok(input)
    }
    async fn ingest(&self, _: Payload) {}
    async fn stats(&self) -> grest_ws::HandlerResult<u64, echo::StatsError> {
        Ok(0)
    }
    async fn start_ask(&self, _: grest_ws_bench::Control) {}
    async fn start_push(&self, _: grest_ws_bench::Control) {}
    async fn subscribe(&self) -> grest_ws::HandlerResult<bool, echo::SubscribeError> {
        Ok(true)
    }
    async fn publish(&self, _: Payload) -> grest_ws::HandlerResult<u64, echo::PublishError> {
        Ok(0)
    }
    async fn join(&self, _: grest_ws_bench::Room) -> grest_ws::HandlerResult<bool, echo::JoinError> {
        Ok(true)
    }
    async fn publish_to(&self, _: grest_ws_bench::Post) -> grest_ws::HandlerResult<u64, echo::PublishToError> {
        Ok(0)
    }
}

/// Routes a session's frames to [`Handlers`], as the server's dispatcher does for one contract.
struct EchoDispatch {
    routes: Routes,
    handlers: Handlers,
}

impl Dispatch for EchoDispatch {
    fn route(&self, path: &str) -> Option<Route> {
        self.routes.get(path)
    }

    fn call(&self, route: &Route, data: Option<&str>) -> Call<'_> {
        <Echo as ServeWith<Handlers>>::call(&self.handlers, route.method, data)
    }
}

/// One masked client text frame (zero mask key: the payload is sent as is).
fn client_frame(text: &str) -> Vec<u8> {
    let mut frame = vec![0x81];
    match text.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(text.as_bytes());
    frame
}

/// A server session over an in-memory pipe, heartbeats off: its socket, the client's end of the pipe, the dispatcher
/// and the session.
fn piped_session() -> (WebSocket<DuplexStream>, DuplexStream, EchoDispatch, Session) {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let config = SessionConfig::default().heartbeat(None);
    let ws = WebSocket::new(server_io, Role::Server, config.max_message_size);
    let dispatch = EchoDispatch {
        routes: Routes::new(<Echo as Contract>::META, Direction::ClientToServer),
        handlers: Handlers,
    };
    (ws, client_io, dispatch, Session::new(Role::Server, config))
}

/// `n` echo round trips, one at a time, through a server session over an in-memory pipe.
fn session_echo(n: u64) {
    use tokio::io::AsyncWriteExt;

    let runtime = grest_ws_bench::runtime();
    runtime.block_on(async move {
        let (ws, mut client_io, dispatch, session) = piped_session();
        let session = session.run(ws, &dispatch);
        let client = async move {
            let request = client_frame(REQUEST);
            let mut reply = vec![0u8; 4096];
            let mut last = 0..0;
            for _ in 0..n {
                client_io.write_all(&request).await.expect("write");
                last = read_server_frame(&mut client_io, &mut reply).await;
                black_box(&reply[last.clone()]);
            }
            if n > 0 {
                // Counting only means something if every round trip was a real echo.
                assert!(reply[last].starts_with(br#"s:Echo.echo:123456:{"success":true,"type":"OK""#));
            }
            // Dropping the pipe ends the session.
        };
        let (_, ()) = tokio::join!(session, client);
    });
}

/// Reads one unmasked server text frame (payload under 64 KiB) from `io` into `buf`; returns the payload range.
async fn read_server_frame(io: &mut DuplexStream, buf: &mut [u8]) -> std::ops::Range<usize> {
    use tokio::io::AsyncReadExt;
    let mut have = 0;
    loop {
        have += io.read(&mut buf[have..]).await.expect("read");
        let (start, total) = match buf[1] & 0x7f {
            _ if have < 4 => continue,
            126 => (4, 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]))),
            len => (2, 2 + usize::from(len)),
        };
        if have >= total {
            assert_eq!(have, total, "one frame at a time");
            return start..total;
        }
    }
}

/// `n` server → client `Echo.ask` requests, one at a time, from a task of their own through a server session over
/// an in-memory pipe; the client answers each with its input.
fn session_ask(n: u64) {
    use tokio::io::AsyncWriteExt;

    let runtime = grest_ws_bench::runtime();
    runtime.block_on(async move {
        let (ws, mut client_io, dispatch, session) = piped_session();
        let handle = session.handle().clone();
        let asker = tokio::spawn(async move {
            let payload: Payload = serde_json::from_str(DATA).expect("payload");
            for _ in 0..n {
                let answer = handle
                    .call::<Payload, Payload, echo::AskError>("Echo.ask", Some(&payload))
                    .await
                    .expect("answered");
                black_box(answer);
            }
            handle.close();
        });
        let client = async move {
            let mut buf = vec![0u8; 4096];
            let mut reply = String::new();
            for _ in 0..n {
                let range = read_server_frame(&mut client_io, &mut buf).await;
                let request = std::str::from_utf8(&buf[range]).expect("text");
                let frame = Frame::parse(request).expect("a grest frame");
                reply.clear();
                reply.push_str("s:Echo.ask:");
                reply.push_str(frame.id.expect("an id"));
                reply.push_str(r#":{"success":true,"type":"OK","data":"#);
                reply.push_str(frame.data.expect("data"));
                reply.push('}');
                client_io.write_all(&client_frame(&reply)).await.expect("write");
            }
            client_io
        };
        let (_, client_io, asked) = tokio::join!(session.run(ws, &dispatch), client, asker);
        asked.expect("the asker finished");
        drop(client_io);
    });
}
