//! The text frame codec of docs/protocol.md §1.2–§1.3: `<type>:<path>:<id>:<data>`.
//!
//! Hand-written because wire compatibility demands the original's exact split rules (colons inside the data are
//! kept, an empty id is "no id", unknown type characters parse but are ignored), which no crate reproduces.
//! Parsing borrows from the input: no allocation, no JSON work. The data stays raw; it is decoded (or found to be
//! invalid JSON, which the protocol treats as "no payload") only by whoever consumes it.

/// The one-character frame type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// `h` — client handshake with its header map.
    Handshake,
    /// `k` — handshake accepted.
    HandshakeOk,
    /// `x` — handshake rejected, with an error object.
    HandshakeErr,
    /// `m` — fire-and-forget message.
    Message,
    /// `r` — request expecting an `s` reply.
    Request,
    /// `s` — reply to a request.
    Response,
    /// `p` — application-level ping.
    Ping,
    /// `o` — application-level pong.
    Pong,
    /// Any other type character: parses, and every dispatcher ignores it.
    Unknown,
}

impl FrameKind {
    /// The wire character(s) of this kind (`Unknown` has none of its own and writes `?`).
    pub const fn as_str(self) -> &'static str {
        match self {
            FrameKind::Handshake => "h",
            FrameKind::HandshakeOk => "k",
            FrameKind::HandshakeErr => "x",
            FrameKind::Message => "m",
            FrameKind::Request => "r",
            FrameKind::Response => "s",
            FrameKind::Ping => "p",
            FrameKind::Pong => "o",
            FrameKind::Unknown => "?",
        }
    }

    fn from_type(t: &str) -> FrameKind {
        match t {
            "h" => FrameKind::Handshake,
            "k" => FrameKind::HandshakeOk,
            "x" => FrameKind::HandshakeErr,
            "m" => FrameKind::Message,
            "r" => FrameKind::Request,
            "s" => FrameKind::Response,
            "p" => FrameKind::Ping,
            "o" => FrameKind::Pong,
            _ => FrameKind::Unknown,
        }
    }

    /// Control frames may have an empty path (`h k x p o`).
    pub const fn is_control(self) -> bool {
        matches!(
            self,
            FrameKind::Handshake | FrameKind::HandshakeOk | FrameKind::HandshakeErr | FrameKind::Ping | FrameKind::Pong
        )
    }
}

/// One parsed frame, borrowing from the received text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The frame type.
    pub kind: FrameKind,
    /// The raw type text (kept so an unknown type can be logged).
    pub type_str: &'a str,
    /// The route, e.g. `Chat.sendMessage`; empty for control frames.
    pub path: &'a str,
    /// The correlation id; `None` when empty or missing.
    pub id: Option<&'a str>,
    /// The raw data text; `None` when empty or missing. Not yet checked to be JSON.
    pub data: Option<&'a str>,
}

impl<'a> Frame<'a> {
    /// Parses a frame by the original's rules; `None` for frames the original rejects (empty text, empty type,
    /// or an empty path on a non-control type).
    pub fn parse(text: &'a str) -> Option<Frame<'a>> {
        if text.is_empty() {
            return None;
        }
        let (type_str, rest) = split_colon(text);
        let (path, rest) = rest.map_or(("", None), split_colon);
        let (id, data) = rest.map_or(("", None), split_colon);
        let id = Some(id).filter(|id| !id.is_empty());
        let data = data.filter(|data| !data.is_empty());
        if type_str.is_empty() {
            return None;
        }
        let kind = FrameKind::from_type(type_str);
        if path.is_empty() && !kind.is_control() {
            return None;
        }
        Some(Frame {
            kind,
            type_str,
            path,
            id,
            data,
        })
    }
}

/// Splits at the first `:` (a byte search: `:` is ASCII, so both sides stay valid UTF-8): the part before it, and
/// the rest after it if there was one.
fn split_colon(text: &str) -> (&str, Option<&str>) {
    match text.bytes().position(|b| b == b':') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    }
}

/// Writes a frame into `out` (cleared first); `data` is already-serialized JSON, or `None` for no payload.
pub fn write_frame(out: &mut String, kind: FrameKind, path: &str, id: Option<&str>, data: Option<&str>) {
    out.clear();
    out.reserve(4 + path.len() + id.map_or(0, str::len) + data.map_or(0, str::len));
    out.push_str(kind.as_str());
    out.push(':');
    out.push_str(path);
    out.push(':');
    if let Some(id) = id {
        out.push_str(id);
    }
    out.push(':');
    if let Some(data) = data {
        out.push_str(data);
    }
}

/// Builds a frame as a new string.
pub fn frame(kind: FrameKind, path: &str, id: Option<&str>, data: Option<&str>) -> String {
    let mut out = String::new();
    write_frame(&mut out, kind, path, id, data);
    out
}

/// Writes the frame header `<type>:<path>:<id>:` into `out`; the caller appends the data.
/// Lets a sender serialize the payload straight into the frame buffer without an intermediate string.
pub fn write_frame_head(out: &mut String, kind: FrameKind, path: &str, id: Option<u64>) {
    out.push_str(kind.as_str());
    out.push(':');
    out.push_str(path);
    out.push(':');
    if let Some(id) = id {
        out.push_str(decimal(id, &mut [0; 20]));
    }
    out.push(':');
}

/// The most bytes of a client-supplied string (a path, a frame type) that a reply or a log line repeats.
pub const CLIP: usize = 128;

/// `text` cut to at most [`CLIP`] bytes at a character boundary: what logs and error replies may repeat of a
/// client-supplied string, so that a hostile peer cannot inflate either.
pub fn clip(text: &str) -> &str {
    if text.len() <= CLIP {
        return text;
    }
    let mut end = CLIP;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `n` in decimal, written into `buf` without the formatting machinery (ids and path indices are written per
/// message).
pub fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
}

/// A request id kept until the reply: the usual decimal ids without an allocation, anything else verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyId {
    /// A canonical decimal id.
    Number(u64),
    /// Any other id, verbatim.
    Text(Box<str>),
}

impl ReplyId {
    /// Keeps `id` as received.
    pub fn new(id: &str) -> ReplyId {
        // Only canonical decimals take the compact form, so the id is echoed byte for byte.
        match id.parse::<u64>() {
            Ok(n) if !id.starts_with(['0', '+']) || id == "0" => ReplyId::Number(n),
            _ => ReplyId::Text(id.into()),
        }
    }

    /// Runs `f` on the id's text, exactly as received.
    pub fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            ReplyId::Number(n) => {
                let mut buf = [0u8; 20];
                f(decimal(*n, &mut buf))
            }
            ReplyId::Text(text) => f(text),
        }
    }
}

/// The exact handshake-accepted frame.
pub const HANDSHAKE_OK: &str = "k:::null";
/// The exact application ping frame.
pub const PING: &str = "p:::";
/// The exact application pong frame.
pub const PONG: &str = "o:::";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_at_a_char_boundary() {
        assert_eq!(clip("Chat.sendMessage"), "Chat.sendMessage");
        let long = "é".repeat(100); // 200 bytes, 2 per char
        assert_eq!(clip(&long), "é".repeat(64));
        let odd = format!("a{}", "é".repeat(100)); // the 128th byte is inside a char
        assert_eq!(clip(&odd).len(), 127);
    }

    #[test]
    fn parses_every_type() {
        let cases = [
            ("h:::{}", FrameKind::Handshake),
            ("k:::null", FrameKind::HandshakeOk),
            ("x:::{\"message\":\"no\"}", FrameKind::HandshakeErr),
            ("m:Chat.ping::", FrameKind::Message),
            ("r:Chat.sendMessage:1:{}", FrameKind::Request),
            ("s:Chat.sendMessage:1:{}", FrameKind::Response),
            ("p:::", FrameKind::Ping),
            ("o:::", FrameKind::Pong),
        ];
        for (text, kind) in cases {
            assert_eq!(Frame::parse(text).map(|f| f.kind), Some(kind), "{text}");
        }
    }

    #[test]
    fn colons_inside_data_are_kept() {
        let f = Frame::parse(r#"r:Chat.sendMessage:7:{"text":"a:b:c","t":"12:00"}"#).unwrap();
        assert_eq!(f.path, "Chat.sendMessage");
        assert_eq!(f.id, Some("7"));
        assert_eq!(f.data, Some(r#"{"text":"a:b:c","t":"12:00"}"#));
    }

    #[test]
    fn missing_and_empty_fields() {
        let f = Frame::parse("m:X.y").unwrap();
        assert_eq!((f.path, f.id, f.data), ("X.y", None, None));
        let f = Frame::parse("r:X.y::").unwrap();
        assert_eq!((f.id, f.data), (None, None));
        let f = Frame::parse("k:::").unwrap();
        assert_eq!(f.data, None);
        let f = Frame::parse("k").unwrap();
        assert_eq!(f.kind, FrameKind::HandshakeOk);
    }

    #[test]
    fn rejects_what_the_original_rejects() {
        assert_eq!(Frame::parse(""), None);
        assert_eq!(Frame::parse(":X.y:1:{}"), None);
        assert_eq!(Frame::parse("r::1:{}"), None);
        assert_eq!(Frame::parse("m"), None);
    }

    #[test]
    fn unknown_types_parse_and_are_marked() {
        let f = Frame::parse("z:Chat.x:1:{}").unwrap();
        assert_eq!(f.kind, FrameKind::Unknown);
        assert_eq!(f.type_str, "z");
        // Case-sensitive, no trimming.
        assert_eq!(Frame::parse("R:Chat.x:1:").unwrap().kind, FrameKind::Unknown);
        assert_eq!(Frame::parse(" r:Chat.x:1:").unwrap().kind, FrameKind::Unknown);
    }

    #[test]
    fn invalid_json_data_is_still_a_frame() {
        let f = Frame::parse("r:Chat.x:1:{not json").unwrap();
        assert_eq!(f.data, Some("{not json"));
    }

    #[test]
    fn writes_exact_frames() {
        assert_eq!(frame(FrameKind::Handshake, "", None, Some("{}")), "h:::{}");
        assert_eq!(frame(FrameKind::HandshakeOk, "", None, Some("null")), HANDSHAKE_OK);
        assert_eq!(frame(FrameKind::Message, "Chat.ping", None, None), "m:Chat.ping::");
        assert_eq!(frame(FrameKind::Request, "A.b", Some("12"), Some("1")), "r:A.b:12:1");
        assert_eq!(frame(FrameKind::Ping, "", None, None), PING);
        assert_eq!(frame(FrameKind::Pong, "", None, None), PONG);
        let mut head = String::new();
        write_frame_head(&mut head, FrameKind::Request, "A.b", Some(3));
        assert_eq!(head, "r:A.b:3:");
    }

    #[test]
    fn round_trips() {
        let text = frame(
            FrameKind::Response,
            "Chat.sendMessage",
            Some("42"),
            Some(r#"{"a":"x:y"}"#),
        );
        let f = Frame::parse(&text).unwrap();
        assert_eq!(f.kind, FrameKind::Response);
        assert_eq!(f.id, Some("42"));
        assert_eq!(f.data, Some(r#"{"a":"x:y"}"#));
    }

    #[test]
    fn reply_ids_are_echoed_byte_for_byte() {
        for id in [
            "1",
            "42",
            "0",
            "007",
            "+5",
            "abc",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
        ] {
            assert_eq!(ReplyId::new(id).with_str(str::to_owned), id);
        }
        assert!(matches!(ReplyId::new("42"), ReplyId::Number(42)));
        assert!(matches!(ReplyId::new("007"), ReplyId::Text(_)));
    }
}
