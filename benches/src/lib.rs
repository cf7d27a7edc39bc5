//! Shared pieces of the grest-ws benchmark suite: the `Echo` contract every peer implements in its own way, the
//! payload, `/proc` probes, and a minimal WebSocket client for the load generator.
//!
//! Run the suite with `benches/run.sh quick|full`; see `BENCHMARKS.md` at the repository root.

pub mod grest_server;
pub mod proto;
pub mod wsclient;

use std::io::Write as _;

use grest_ws::{Permission, ServerError, Validate, WebSocketSchema, contract};
use serde::{Deserialize, Serialize};

/// The 64-byte-ish payload of every RPC scenario: `{"seq":N,"text":"…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Payload {
    /// A sequence number (used by fan-out to find the last delivery).
    pub seq: u64,
    /// Filler.
    pub text: String,
}

/// The filler text: with a 6-digit `seq` the JSON is 64 bytes.
pub const TEXT: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCD";

impl Payload {
    /// A payload with the standard filler.
    pub fn new(seq: u64) -> Self {
        Payload {
            seq,
            text: TEXT.to_owned(),
        }
    }
}

/// Arguments of the server-driven scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Validate)]
pub struct Control {
    /// How many server → client requests to keep in flight (`startAsk`); ignored by `startPush`.
    pub n: u32,
}

/// A room to join (the scaling simulation's second room).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Room {
    /// The room's name.
    pub name: String,
}

/// A broadcast to a named room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
pub struct Post {
    /// The room's name.
    pub room: String,
    /// What its members receive as `news`.
    pub news: Payload,
}

contract! {
    /// What every peer server implements, each in its own idiom.
    pub Echo {
        connect { errors: [ServerError] }
        client_to_server {
            /// S1/S2: returns its input.
            echo(Payload) -> Payload, errors: [ServerError], permission: Permission::Public;
            /// S4 ingest: counted, no reply.
            ingest(Payload), permission: Permission::Public;
            /// How many `ingest` messages the server has handled so far.
            stats() -> u64, errors: [ServerError], permission: Permission::Public;
            /// S3: the server keeps `n` `ask` requests in flight to this client until it disconnects.
            start_ask(Control), permission: Permission::Public;
            /// S4 push: the server pushes `pushed` to this client as fast as it can until it disconnects.
            start_push(Control), permission: Permission::Public;
            /// S5: join the fan-out group.
            subscribe() -> bool, errors: [ServerError], permission: Permission::Public;
            /// S5: send `news` to every subscriber; answers the number of subscribers.
            publish(Payload) -> u64, errors: [ServerError], permission: Permission::Public;
            /// Scaling: join the named room.
            join(Room) -> bool, errors: [ServerError], permission: Permission::Public;
            /// Scaling: send `news` to every member of the named room; answers the number queued on this node.
            publish_to(Post) -> u64, errors: [ServerError], permission: Permission::Public;
        }
        server_to_client {
            /// S3: the client answers with the input.
            ask(Payload) -> Payload, errors: [ServerError], permission: Permission::Public;
            /// S4 push.
            pushed(Payload), permission: Permission::Public;
            /// S5 fan-out.
            news(Payload), permission: Permission::Public;
        }
    }
}

/// The grest-ws endpoint of the benchmark contract.
pub const ECHO_API: WebSocketSchema<Echo> = WebSocketSchema::new("ws/echo");

/// A single-threaded tokio runtime: every server runs on one worker thread (pinned to a core by the runner).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Sets up an accepted connection the same way in every server: TCP_NODELAY, and a small kernel send buffer when
/// the runner asks for one (`BENCH_SNDBUF`, bytes; S5-slow sets it so that a subscriber that stops reading fills
/// its socket within the window rather than hiding behind megabytes of loopback autotuning).
pub fn tune(tcp: &tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
    if let Some(bytes) = std::env::var("BENCH_SNDBUF").ok().and_then(|v| v.parse().ok()) {
        let _ = socket2::SockRef::from(tcp).set_send_buffer_size(bytes);
    }
}

/// Tells the runner which port the server listens on (the first stdout line).
pub fn announce(port: u16) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "PORT {port}");
    let _ = out.flush();
}

/// Parses `--flag value` style arguments into (flag, value) pairs; a flag without a value gets "".
pub fn args() -> Vec<(String, String)> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let key = raw[i].trim_start_matches("--").to_owned();
        if i + 1 < raw.len() && !raw[i + 1].starts_with("--") {
            out.push((key, raw[i + 1].clone()));
            i += 2;
        } else {
            out.push((key, String::new()));
            i += 1;
        }
    }
    out
}

/// The value of `--name`, if given.
pub fn arg<'a>(args: &'a [(String, String)], name: &str) -> Option<&'a str> {
    args.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// `utime + stime` of a process in seconds, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    // The command name may contain spaces; fields are counted after the closing parenthesis.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, utime field 14, stime field 15 (1-based over the whole line).
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    // USER_HZ is 100 on every Linux configuration this suite runs on; `getconf CLK_TCK` confirms it.
    100.0
}

/// Resident set size of a process in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// How many file descriptors a process has open (entries of `/proc/<pid>/fd`), if it can be read.
pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd")).ok().map(Iterator::count)
}

/// Finds `"seq":<digits>` in a frame and returns the number.
pub fn find_seq(frame: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"seq\":";
    let at = frame.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    parse_u64(&frame[at..]).map(|(n, _)| n)
}

/// Parses leading ASCII digits; returns the number and how many bytes it took.
pub fn parse_u64(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut n: u64 = 0;
    let mut len = 0;
    for &b in bytes {
        if !b.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        len += 1;
    }
    (len > 0).then_some((n, len))
}
