//! A whole connection attempt from a hostile peer, end to end through the real server stack in memory: hyper's
//! request parsing, the Origin policy (`Origin`, `Host`, `Forwarded`, `X-Forwarded-*`), the RFC 6455 upgrade
//! checks, cookie and query parsing, typed query decoding and validation (close 4000), the in-band `h` frame and
//! the header / cookie / query wires (`x` + close 4001) — with the query, extra header lines and the `h` payload
//! taken from the input. Timers run on paused time, so handshake timeouts fire at once.
//!
//! Checks: no panic; the answer is an HTTP status from the expected set; after a 101 the server's first frame is
//! `k:::null` or an `x` frame, or a Close with 4000/4001 (or 1002/1007/1009 when the input put bytes after the
//! request head that are not a valid frame) — never a bare end of stream.
#![no_main]

use grest_ws::server::{Connected, GrestWs, WireHandler};
use grest_ws::{NotAuthorized, Validate, WebSocketSchema, Wire, ErrorEnvelope, contract};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

/// The typed handshake query.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Query {
    /// Must not be empty.
    #[validate(non_empty, max_length = 32)]
    pub room: String,
    /// Coerced from text.
    pub version: u32,
}

contract! {
    /// A contract that authenticates.
    pub Vault {
        connect { input: Query, errors: [grest_ws::ServerError] }
        client_to_server { whoami() -> String; }
        server_to_client {}
    }
}

const TOKEN: Wire = Wire::header("token", "authorization").bearer();
const SESSION: Wire = Wire::cookie("session", "sid");
const TICKET: Wire = Wire::query("ticket", "ticket");

const TOKEN_API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/token").uses(&[TOKEN]);
const COOKIE_API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/cookie").uses(&[SESSION]);
const TICKET_API: WebSocketSchema<Vault> = WebSocketSchema::new("ws/ticket").uses(&[TICKET]);

/// Accepts the credential `good`.
struct Check;

impl WireHandler for Check {
    type Principal = String;

    async fn process(&self, credential: Option<&str>) -> Result<String, ErrorEnvelope> {
        match credential {
            Some("good") => Ok("alice".to_owned()),
            _ => Err(NotAuthorized::with_display_message("Invalid credential").into()),
        }
    }
}

struct Session;

impl vault::Server for Session {
    async fn whoami(&self) -> grest_ws::HandlerResult<String, vault::WhoamiError> {
        Ok("alice".to_owned())
    }
}

fn router() -> axum::Router {
    let open = |_: Connected<Vault>| async { Session };
    GrestWs::new()
        .bind(TOKEN, Check)
        .bind(SESSION, Check)
        .bind(TICKET, Check)
        .ws(TOKEN_API, open)
        .ws(COOKIE_API, open)
        .ws(TICKET_API, open)
        .build()
        .expect("a valid registration")
}

/// A masked client text frame.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut frame = vec![0x81];
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads until `until` says the bytes so far are enough, or the server closes.
async fn read_until(client: &mut DuplexStream, seen: &mut Vec<u8>, until: impl Fn(&[u8]) -> bool) {
    let mut chunk = [0u8; 4096];
    while !until(seen) {
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
        }
    }
}

/// What the server sent after its 101: the first frame's opcode and payload (server frames are unmasked).
fn first_frame(bytes: &[u8]) -> Option<(u8, &[u8])> {
    let (&b0, rest) = bytes.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, rest) = match b1 & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes(rest.get(..2)?.try_into().ok()?)),
            &rest[2..],
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)).ok()?,
            &rest[8..],
        ),
        n => (usize::from(n), rest),
    };
    Some((b0 & 0x0F, rest.get(..len)?))
}

async fn attempt(input: &[u8]) {
    // [path selector] query 0xFF header lines 0xFF h payload
    let [selector, input @ ..] = input else { return };
    let mut parts = input.splitn(3, |&b| b == 0xFF);
    let query = parts.next().unwrap_or_default();
    let headers = parts.next().unwrap_or_default();
    let hello = parts.next();
    let path = ["/ws/token", "/ws/cookie", "/ws/ticket", "/ws/none"][usize::from(selector % 4)];

    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let service = TowerToHyperService::new(router());
    tokio::spawn(async move {
        let conn = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(server), service)
            .with_upgrades();
        let _ = conn.await;
    });
    let mut request = Vec::new();
    request.extend_from_slice(b"GET ");
    request.extend_from_slice(path.as_bytes());
    request.push(b'?');
    request.extend_from_slice(query);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: grest.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n");
    request.extend_from_slice(b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    request.extend_from_slice(headers);
    if !headers.is_empty() && !headers.ends_with(b"\r\n") {
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    if client.write_all(&request).await.is_err() {
        return;
    }
    let mut seen = Vec::new();
    read_until(&mut client, &mut seen, |s| s.windows(4).any(|w| w == b"\r\n\r\n")).await;
    let Some(head_end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let status: u16 = match std::str::from_utf8(seen.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(status) => status,
        None => panic!("not an HTTP response: {:?}", String::from_utf8_lossy(&seen)),
    };
    assert!(
        matches!(status, 101 | 400 | 403 | 404 | 426 | 431),
        "unexpected status {status}: {:?}",
        String::from_utf8_lossy(&seen)
    );
    if status != 101 {
        return;
    }
    let mut after = seen.split_off(head_end + 4);
    if let Some(hello) = hello {
        let mut frame = b"h:::".to_vec();
        frame.extend_from_slice(hello);
        let _ = client.write_all(&text_frame(&frame)).await;
    }
    read_until(&mut client, &mut after, |s| first_frame(s).is_some()).await;
    let Some((opcode, payload)) = first_frame(&after) else {
        panic!("the server closed without a frame: {after:?}")
    };
    match opcode {
        0x1 => assert!(
            payload == b"k:::null" || payload.starts_with(b"x:::"),
            "first frame {:?}",
            String::from_utf8_lossy(payload)
        ),
        0x8 => {
            let code = payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
            // 4000/4001: query or handshake refused; 1002/1007/1009: the bytes after the head were not a valid
            // frame (a header line that smuggled them in).
            assert!(matches!(code, Some(4000 | 4001 | 1002 | 1007 | 1009)), "close {code:?}");
        }
        other => panic!("unexpected first opcode {other}"),
    }
}

fuzz_target!(|input: &[u8]| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(attempt(input));
});
