//! The three wire protocols the load generator speaks, hand-built so every server is driven by the same lean
//! client: grest-ws text frames (also understood by the raw and fastwebsockets peers), JSON-RPC 2.0 (jsonrpsee)
//! and Socket.IO v5 over Engine.IO v4 (socketioxide).

use std::io::{self, Write as _};

use crate::parse_u64;
use crate::wsclient::WsConn;

/// A wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// `type:path:id:data` frames; method `m` travels as `Echo.m`.
    Grest,
    /// JSON-RPC 2.0 over WebSocket.
    JsonRpc,
    /// Socket.IO: events with acknowledgements.
    SocketIo,
}

/// What an inbound frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// The reply to one of our requests.
    Reply {
        /// Its correlation id.
        id: u64,
        /// Whether it reports success.
        ok: bool,
        /// The reply's data (protocol-specific framing around the value).
        data: &'a [u8],
    },
    /// A request from the server that we must answer.
    ServerRequest {
        /// Its id as sent.
        id: &'a [u8],
        /// Its payload value.
        data: &'a [u8],
    },
    /// A message pushed by the server.
    Push(&'a [u8]),
    /// An application ping we must answer.
    Ping,
    /// Anything else (handshake answers, protocol noise).
    Other,
}

impl Proto {
    /// From the runner's name.
    pub fn parse(name: &str) -> Option<Proto> {
        match name {
            "grest" => Some(Proto::Grest),
            "jsonrpc" => Some(Proto::JsonRpc),
            "socketio" => Some(Proto::SocketIo),
            _ => None,
        }
    }

    /// The upgrade path.
    pub fn path(self) -> &'static str {
        match self {
            Proto::Grest => "/ws/echo",
            Proto::JsonRpc => "/",
            Proto::SocketIo => "/socket.io/?EIO=4&transport=websocket",
        }
    }

    /// The protocol's own handshake after the WebSocket upgrade.
    pub async fn handshake(self, conn: &mut WsConn) -> io::Result<()> {
        match self {
            Proto::Grest => {
                conn.queue_text(b"h:::{}");
                conn.flush().await?;
                loop {
                    let f = conn.read_data().await?;
                    if conn.rbuf[f.start..f.end].starts_with(b"k:") {
                        return Ok(());
                    }
                    if conn.rbuf[f.start..f.end].starts_with(b"x:") {
                        return Err(io::Error::other("handshake rejected"));
                    }
                }
            }
            Proto::JsonRpc => Ok(()),
            Proto::SocketIo => {
                // Engine.IO open packet `0{…}`, then connect to the default namespace.
                let f = conn.read_data().await?;
                if !conn.rbuf[f.start..f.end].starts_with(b"0{") {
                    return Err(io::Error::other("no engine.io open packet"));
                }
                conn.queue_text(b"40");
                conn.flush().await?;
                loop {
                    let f = conn.read_data().await?;
                    let data = &conn.rbuf[f.start..f.end];
                    if data.starts_with(b"40") {
                        return Ok(());
                    }
                    if data.starts_with(b"44") {
                        return Err(io::Error::other("namespace connect refused"));
                    }
                }
            }
        }
    }

    /// Sends request `method` (id `id`, JSON `data`, empty for none) on `conn` and reads until its reply, answering
    /// pings meanwhile; the reply's data, or an error for a failure reply.
    pub async fn call(self, conn: &mut WsConn, method: &str, id: u64, data: &[u8]) -> io::Result<Vec<u8>> {
        let mut frame = Vec::new();
        self.request(&mut frame, method, id, data);
        conn.queue_text(&frame);
        conn.flush().await?;
        loop {
            let f = conn.read_data().await?;
            match self.classify(&conn.rbuf[f.start..f.end]) {
                Event::Reply { id: got, ok, data } if got == id => {
                    return if ok {
                        Ok(data.to_vec())
                    } else {
                        Err(io::Error::other(format!(
                            "{method} failed: {}",
                            String::from_utf8_lossy(data)
                        )))
                    };
                }
                Event::Ping => {
                    conn.queue_text(self.pong());
                    conn.flush().await?;
                }
                _ => {}
            }
        }
    }

    /// Writes a request for `method` with id `id` and JSON `data` (empty = no input) into `out` (cleared).
    pub fn request(self, out: &mut Vec<u8>, method: &str, id: u64, data: &[u8]) {
        out.clear();
        let _ = match self {
            Proto::Grest => write!(out, "r:Echo.{method}:{id}:"),
            Proto::JsonRpc => write!(
                out,
                "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"{method}\",\"params\":["
            ),
            Proto::SocketIo => write!(out, "42{id}[\"{method}\"{}", if data.is_empty() { "" } else { "," }),
        };
        out.extend_from_slice(data);
        match self {
            Proto::Grest => {}
            Proto::JsonRpc => out.extend_from_slice(b"]}"),
            Proto::SocketIo => out.push(b']'),
        }
    }

    /// Writes a fire-and-forget message into `out` (cleared). JSON-RPC sends a request with id 0 instead of a
    /// notification: jsonrpsee does not run methods for notifications (its middleware answers them with nothing).
    pub fn message(self, out: &mut Vec<u8>, method: &str, data: &[u8]) {
        out.clear();
        let _ = match self {
            Proto::Grest => write!(out, "m:Echo.{method}::"),
            Proto::JsonRpc => write!(
                out,
                "{{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"{method}\",\"params\":["
            ),
            Proto::SocketIo => write!(out, "42[\"{method}\"{}", if data.is_empty() { "" } else { "," }),
        };
        out.extend_from_slice(data);
        match self {
            Proto::Grest => {}
            Proto::JsonRpc => out.extend_from_slice(b"]}"),
            Proto::SocketIo => out.push(b']'),
        }
    }

    /// The answer to a server request (S3), into `out` (cleared).
    pub fn answer(self, out: &mut Vec<u8>, id: &[u8], data: &[u8]) {
        out.clear();
        match self {
            Proto::Grest => {
                out.extend_from_slice(b"s:Echo.ask:");
                out.extend_from_slice(id);
                out.extend_from_slice(b":{\"success\":true,\"type\":\"OK\",\"data\":");
                out.extend_from_slice(data);
                out.push(b'}');
            }
            Proto::JsonRpc => {}
            Proto::SocketIo => {
                out.extend_from_slice(b"43");
                out.extend_from_slice(id);
                out.push(b'[');
                out.extend_from_slice(data);
                out.push(b']');
            }
        }
    }

    /// The answer to an application ping, if the protocol has one.
    pub fn pong(self) -> &'static [u8] {
        match self {
            Proto::Grest => b"o:::",
            Proto::JsonRpc => b"",
            Proto::SocketIo => b"3",
        }
    }

    /// Classifies an inbound text frame.
    pub fn classify(self, f: &[u8]) -> Event<'_> {
        match self {
            Proto::Grest => classify_grest(f),
            Proto::JsonRpc => classify_jsonrpc(f),
            Proto::SocketIo => classify_socketio(f),
        }
    }
}

/// The four fields of a grest frame: type, path, id, data.
type GrestFields<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

fn split_grest(f: &[u8]) -> Option<GrestFields<'_>> {
    let mut parts = f.splitn(4, |&b| b == b':');
    Some((parts.next()?, parts.next()?, parts.next()?, parts.next().unwrap_or(b"")))
}

fn classify_grest(f: &[u8]) -> Event<'_> {
    let Some((kind, path, id, data)) = split_grest(f) else {
        return Event::Other;
    };
    match kind {
        b"s" => match parse_u64(id) {
            Some((id, _)) => Event::Reply {
                id,
                ok: data.starts_with(b"{\"success\":true"),
                data,
            },
            None => Event::Other,
        },
        // The server asks us (S3).
        b"r" if path == b"Echo.ask" => Event::ServerRequest { id, data },
        // A raw echo server sends our own request back verbatim: that is its reply.
        b"r" => match parse_u64(id) {
            Some((id, _)) => Event::Reply { id, ok: true, data },
            None => Event::Other,
        },
        b"m" => Event::Push(data),
        b"p" => Event::Ping,
        _ => Event::Other,
    }
}

fn classify_jsonrpc(f: &[u8]) -> Event<'_> {
    const ID: &[u8] = b"\"id\":";
    let Some(at) = find(f, ID) else {
        return if find(f, b"\"method\"").is_some() {
            Event::Push(f)
        } else {
            Event::Other
        };
    };
    let Some((id, _)) = parse_u64(&f[at + ID.len()..]) else {
        return Event::Other;
    };
    match find(f, b"\"result\":") {
        Some(r) => Event::Reply {
            id,
            ok: true,
            data: &f[r + 9..],
        },
        None => Event::Reply { id, ok: false, data: f },
    }
}

fn classify_socketio(f: &[u8]) -> Event<'_> {
    match f {
        [b'4', b'3', rest @ ..] => match parse_u64(rest) {
            Some((id, len)) => Event::Reply {
                id,
                ok: true,
                data: &rest[len..],
            },
            None => Event::Other,
        },
        [b'4', b'2', b'[', ..] => Event::Push(f),
        [b'4', b'2', rest @ ..] => match parse_u64(rest) {
            // `42<id>["ask",<data>]`: answer with the data value.
            Some((_, len)) => {
                let id = &rest[..len];
                let array = &rest[len..];
                let data = array
                    .iter()
                    .position(|&b| b == b',')
                    .map_or(&array[..0], |c| &array[c + 1..array.len().saturating_sub(1)]);
                Event::ServerRequest { id, data }
            }
            None => Event::Other,
        },
        [b'2'] => Event::Ping,
        _ => Event::Other,
    }
}

/// The first number in a reply's data (`stats`, `publish`): after `"data":` (grest), or the first digits.
pub fn reply_number(data: &[u8]) -> Option<u64> {
    let start = find(data, b"\"data\":").map_or(0, |at| at + 7);
    let digits = data[start..].iter().position(u8::is_ascii_digit)?;
    parse_u64(&data[start + digits..]).map(|(n, _)| n)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_classifies() {
        let mut out = Vec::new();
        Proto::Grest.request(&mut out, "echo", 7, b"{}");
        assert_eq!(out, b"r:Echo.echo:7:{}");
        Proto::SocketIo.request(&mut out, "stats", 3, b"");
        assert_eq!(out, b"423[\"stats\"]");
        Proto::JsonRpc.request(&mut out, "echo", 1, b"{}");
        assert_eq!(out, br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":[{}]}"#);
        assert_eq!(
            Proto::Grest.classify(br#"s:Echo.echo:7:{"success":true,"type":"OK","data":{}}"#),
            Event::Reply {
                id: 7,
                ok: true,
                data: br#"{"success":true,"type":"OK","data":{}}"#
            }
        );
        assert!(matches!(
            Proto::Grest.classify(b"r:Echo.echo:9:{}"),
            Event::Reply { id: 9, .. }
        ));
        assert_eq!(
            Proto::SocketIo.classify(br#"4212["ask",{"seq":1}]"#),
            Event::ServerRequest {
                id: b"12",
                data: br#"{"seq":1}"#
            }
        );
        assert!(matches!(
            Proto::SocketIo.classify(br#"435[{"a":1}]"#),
            Event::Reply { id: 5, .. }
        ));
        assert!(matches!(
            Proto::JsonRpc.classify(br#"{"jsonrpc":"2.0","id":4,"result":{"seq":1}}"#),
            Event::Reply { id: 4, ok: true, .. }
        ));
        assert_eq!(reply_number(br#"{"success":true,"type":"OK","data":42}"#), Some(42));
        assert_eq!(reply_number(b"[42]"), Some(42));
    }
}
