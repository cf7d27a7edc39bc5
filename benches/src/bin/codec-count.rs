//! The codec's hot-path operations in a loop, for instruction counting under callgrind (`benches/codec.sh`):
//! `codec-count OP N` runs OP N times. The script runs each OP with N and with 0 and divides the difference by N,
//! so start-up costs cancel and the result is instructions per operation — deterministic, unlike wall time.

use std::hint::black_box;

use grest_ws::__private::session::{Routes, decode_input};
use grest_ws::protocol::envelope::{decode_reply, encode_result, write_ok};
use grest_ws::protocol::frame::{Frame, FrameKind, write_frame, write_frame_head};
use grest_ws::{Contract, Direction};
use grest_ws_bench::{Echo, Payload, echo};

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
                write_frame(&mut s, FrameKind::Response, route.path, frame.id, Some(&envelope));
                black_box(&s);
            }
        }
        "" => {}
        other => {
            eprintln!("unknown op {other}; known: {}", OPS.join(" "));
            std::process::exit(2);
        }
    }
}
