//! The WebSocket protocol (RFC 6455) on a session's socket, written for this engine: frames are parsed where they
//! were read, replies and pushes are framed straight into the write queue, and an idle connection holds no
//! buffer at all.
//!
//! # Reading
//!
//! Bytes are read into a per-thread scratch buffer (zeroed once per thread, never per read) and only what arrived
//! moves to the connection's own buffer, which exists only while bytes are waiting: once everything read has been
//! parsed and the socket has nothing more, it is freed. A frame too large for the scratch buffer is read straight
//! into the connection's buffer, into spare capacity that is never zero-filled. Each complete frame
//! is unmasked in place and handed out as a position in that buffer, so the typed session reads a
//! request's text without copying it; [`WebSocket::next`] gives owned [`Message`]s to code that wants them (the
//! handshake, raw sockets). Fragmented messages are assembled in a second buffer, freed once the message is
//! consumed.
//!
//! Every frame is checked as RFC 6455 §5 asks — masking by role, reserved bits, known opcodes, control frames
//! final and at most 125 bytes, continuations only inside a fragmented message — and a violation is a
//! [`WsError`] that names the close code to answer with. No frame or message larger than the configured limit is
//! buffered: its header alone decides ([`WsError::TooBig`]). Text is checked for UTF-8 by whoever reads it
//! (the typed session, or [`WebSocket::next`]), exactly once.
//!
//! A ping is answered with a pong carrying its payload, and a peer's Close with a Close echoing its code, both
//! queued as the frame is read; after the peer's Close nothing more is read.
//!
//! # Writing
//!
//! Frames go into the socket's [`QueuedIo`] queue and leave when the owner drains it. A server writes unmasked
//! frames (the header built in place in front of the payload); a client masks every frame with a fresh random
//! key, as the RFC requires. After a Close has been sent, nothing else is.

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::ops::Range;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::io::QueuedIo;

/// Which end of the connection this side is: it decides which frames are masked (the client's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The accepting side: reads masked frames, writes unmasked ones.
    Server,
    /// The connecting side: reads unmasked frames, masks what it writes.
    Client,
}

/// The payload of a Close frame: a status code (RFC 6455 §7.4) and a short reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code, e.g. 1000 (normal), 1001 (going away), or an application code 4000–4999.
    pub code: u16,
    /// A reason for humans; at most 123 bytes of it are sent.
    pub reason: Cow<'static, str>,
}

impl CloseFrame {
    /// A close frame with this code and reason.
    pub fn new(code: u16, reason: impl Into<Cow<'static, str>>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// Normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// The endpoint is going away (server shutdown).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// The peer broke the protocol.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// A text message that is not UTF-8.
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
/// A message over the size limit.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// One whole WebSocket message, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (already answered when it is read).
    Ping(Bytes),
    /// A pong.
    Pong(Bytes),
    /// The peer's Close (already answered when it is read); `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(text.into())
    }
}

/// Why reading or writing a WebSocket failed. [`WsError::close_code`] names the Close code the peer should get.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WsError {
    /// A Close frame was already sent: nothing more is.
    #[error("the WebSocket is closing")]
    Closing,
    /// A frame or message over the size limit (1009).
    #[error("message over the size limit of {limit} bytes")]
    TooBig {
        /// The limit.
        limit: usize,
    },
    /// The peer broke RFC 6455 (1002).
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    /// A text message or close reason that is not UTF-8 (1007).
    #[error("text that is not UTF-8")]
    InvalidUtf8,
    /// The transport failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl WsError {
    /// The Close code this error is answered with, if the peer gets one.
    pub fn close_code(&self) -> Option<u16> {
        self.close_frame().map(|frame| frame.code)
    }

    /// The Close frame this error is answered with (1002, 1007 or 1009 and a short reason), if the peer gets one.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            WsError::TooBig { .. } => (CLOSE_TOO_BIG, "Message too big"),
            WsError::Protocol(_) => (CLOSE_PROTOCOL_ERROR, "Protocol error"),
            WsError::InvalidUtf8 => (CLOSE_INVALID_PAYLOAD, "Invalid UTF-8"),
            WsError::Closing | WsError::Io(_) => return None,
        };
        Some(CloseFrame::new(code, reason))
    }
}

const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Bytes asked of the socket per read when no frame needs more.
const READ_CHUNK: usize = 8 * 1024;
/// The per-thread buffer reads land in before their bytes move to the connection.
const SCRATCH_LEN: usize = 16 * 1024;

thread_local! {
    /// Where a read lands first: zeroed once per thread, so no read pays for zeroing, and only the bytes that
    /// arrived move to the connection's buffer (an idle connection holds none).
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; SCRATCH_LEN].into_boxed_slice());
}

/// A frame or message read, located in the socket's buffers (valid until the socket is read again).
#[derive(Debug)]
pub(crate) enum Received {
    Text(Payload),
    Binary(Payload),
    Ping(Payload),
    Pong(Payload),
    Close(Option<CloseFrame>),
}

/// Where a payload lies: in the read buffer, or (a fragmented message) in the assembly buffer.
#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Read(Range<usize>),
    Assembled,
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Fragments {
    opcode: u8,
    bytes: Vec<u8>,
}

/// A WebSocket over a socket whose writes queue in [`QueuedIo`]; see the module docs.
#[derive(Debug)]
pub struct WebSocket<S> {
    io: QueuedIo<S>,
    role: Role,
    max_message: usize,
    /// Bytes read; `buf[start..]` is not parsed yet. Empty (unallocated) while idle.
    buf: Vec<u8>,
    start: usize,
    /// Bytes the next frame needs in `buf[start..]` before it can be parsed.
    need: usize,
    fragments: Option<Fragments>,
    /// The last assembled message, until the next read.
    assembled: Vec<u8>,
    close_sent: bool,
    close_received: bool,
}

impl<S> WebSocket<S> {
    /// A WebSocket on a socket whose HTTP upgrade is done; `max_message` bounds every frame and message read.
    pub fn new(io: S, role: Role, max_message: usize) -> Self {
        WebSocket::with_read(io, role, max_message, Vec::new())
    }

    /// [`WebSocket::new`], with bytes already read past the upgrade response (they are parsed first).
    pub fn with_read(io: S, role: Role, max_message: usize, read: Vec<u8>) -> Self {
        WebSocket {
            io: QueuedIo::new(io),
            role,
            max_message,
            buf: read,
            start: 0,
            need: 2,
            fragments: None,
            assembled: Vec::new(),
            close_sent: false,
            close_received: false,
        }
    }

    /// The queued socket.
    pub fn io(&self) -> &QueuedIo<S> {
        &self.io
    }

    pub(crate) fn io_mut(&mut self) -> &mut QueuedIo<S> {
        &mut self.io
    }

    /// Whether reading may find something: a socket that has not reported "nothing to read" since it last
    /// signalled (bytes read and not parsed yet are only ever left behind by a read that found something). The
    /// task of `cx` is woken when the socket signals.
    pub(crate) fn may_read(&self, cx: &Context<'_>) -> bool {
        self.io.may_read(cx.waker())
    }

    /// Whether a Close frame has been sent.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// The bytes of a payload returned by the last read.
    pub(crate) fn payload(&self, payload: &Payload) -> &[u8] {
        match payload {
            Payload::Read(range) => &self.buf[range.clone()],
            Payload::Assembled => &self.assembled,
        }
    }

    /// The text of a payload returned by the last read, if it is UTF-8.
    pub(crate) fn text(&self, payload: &Payload) -> Option<&str> {
        std::str::from_utf8(self.payload(payload)).ok()
    }

    /// Queues a text frame.
    pub fn queue_text(&mut self, text: &str) -> Result<(), WsError> {
        self.queue_frame(OP_TEXT, text.as_bytes())
    }

    /// Queues a message (a Close marks the socket closing: nothing is queued after it).
    pub fn queue(&mut self, message: &Message) -> Result<(), WsError> {
        match message {
            Message::Text(text) => self.queue_frame(OP_TEXT, text.as_bytes()),
            Message::Binary(bytes) => self.queue_frame(OP_BINARY, bytes),
            Message::Ping(bytes) => self.queue_frame(OP_PING, &bytes[..bytes.len().min(125)]),
            Message::Pong(bytes) => self.queue_frame(OP_PONG, &bytes[..bytes.len().min(125)]),
            Message::Close(frame) => self.queue_close(frame.as_ref()),
        }
    }

    /// Queues a Close frame, once; later calls (and every other frame after it) do nothing.
    pub fn queue_close(&mut self, frame: Option<&CloseFrame>) -> Result<(), WsError> {
        if self.close_sent {
            return Err(WsError::Closing);
        }
        let mut payload = [0u8; 125];
        let len = match frame {
            None => 0,
            Some(frame) => {
                payload[..2].copy_from_slice(&frame.code.to_be_bytes());
                let reason = clip_reason(&frame.reason);
                payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
                2 + reason.len()
            }
        };
        self.queue_frame(OP_CLOSE, &payload[..len])?;
        self.close_sent = true;
        Ok(())
    }

    /// Queues one final frame of `opcode` carrying `payload`.
    pub(crate) fn queue_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        self.queue_frame_parts(opcode, &[payload])
    }

    /// Queues one text frame whose payload is `parts` joined (a reply written straight into the queue, with no
    /// string of its own).
    pub(crate) fn queue_text_parts(&mut self, parts: &[&str]) -> Result<(), WsError> {
        debug_assert!(parts.len() <= 8, "at most 8 parts");
        let mut bytes: [&[u8]; 8] = [&[]; 8];
        for (slot, part) in bytes.iter_mut().zip(parts) {
            *slot = part.as_bytes();
        }
        self.queue_frame_parts(OP_TEXT, &bytes[..parts.len().min(8)])
    }

    /// Queues one final frame of `opcode` whose payload is `parts` joined.
    fn queue_frame_parts(&mut self, opcode: u8, parts: &[&[u8]]) -> Result<(), WsError> {
        if self.close_sent {
            return Err(WsError::Closing);
        }
        let len = parts.iter().map(|part| part.len()).sum();
        let (mut header, header_len) = frame_header(opcode, len);
        match self.role {
            Role::Server => self.io.push_parts(&header[..header_len], parts),
            Role::Client => {
                let key: [u8; 4] = rand::random();
                header[1] |= 0x80;
                header[header_len..header_len + 4].copy_from_slice(&key);
                self.io.push_masked(&header[..header_len + 4], parts, key);
            }
        }
        Ok(())
    }

    /// Parses the next complete frame in the read buffer: `Ok(None)` when more bytes are needed.
    fn parse(&mut self) -> Result<Option<Received>, WsError> {
        if !self.assembled.is_empty() {
            self.assembled = Vec::new();
        }
        loop {
            let available = &self.buf[self.start..];
            if available.len() < 2 {
                self.need = 2;
                return Ok(None);
            }
            let (b0, b1) = (available[0], available[1]);
            let fin = b0 & 0x80 != 0;
            let opcode = b0 & 0x0F;
            if b0 & 0x70 != 0 {
                return Err(WsError::Protocol("reserved bits set without an extension"));
            }
            let masked = b1 & 0x80 != 0;
            match (self.role, masked) {
                (Role::Server, false) => return Err(WsError::Protocol("unmasked client frame")),
                (Role::Client, true) => return Err(WsError::Protocol("masked server frame")),
                _ => {}
            }
            let (len, mut header) = match b1 & 0x7F {
                126 => {
                    let Some(bytes) = available.get(2..4) else {
                        self.need = 4;
                        return Ok(None);
                    };
                    (u64::from(u16::from_be_bytes([bytes[0], bytes[1]])), 4)
                }
                127 => {
                    let Some(bytes) = available.get(2..10) else {
                        self.need = 10;
                        return Ok(None);
                    };
                    let mut be = [0u8; 8];
                    be.copy_from_slice(bytes);
                    let len = u64::from_be_bytes(be);
                    if len >> 63 != 0 {
                        return Err(WsError::Protocol("frame length with the high bit set"));
                    }
                    (len, 10)
                }
                short => (u64::from(short), 2),
            };
            if masked {
                header += 4;
            }
            match opcode {
                OP_CLOSE | OP_PING | OP_PONG => {
                    if !fin {
                        return Err(WsError::Protocol("fragmented control frame"));
                    }
                    if len > 125 {
                        return Err(WsError::Protocol("control frame over 125 bytes"));
                    }
                }
                OP_CONTINUATION | OP_TEXT | OP_BINARY => {
                    let before = self.fragments.as_ref().map_or(0, |f| f.bytes.len());
                    if len.saturating_add(before as u64) > self.max_message as u64 {
                        return Err(WsError::TooBig {
                            limit: self.max_message,
                        });
                    }
                }
                _ => return Err(WsError::Protocol("unknown opcode")),
            }
            // Within the limit, so it fits in memory.
            let len = len as usize;
            if available.len() < header + len {
                self.need = header + len;
                return Ok(None);
            }
            let payload = self.start + header..self.start + header + len;
            if masked {
                let key = &self.buf[self.start + header - 4..self.start + header];
                let key = [key[0], key[1], key[2], key[3]];
                unmask(&mut self.buf[payload.clone()], key);
            }
            self.start = payload.end;
            self.need = 2;
            match opcode {
                OP_CONTINUATION => {
                    let Some(fragments) = self.fragments.as_mut() else {
                        return Err(WsError::Protocol("continuation frame outside a fragmented message"));
                    };
                    fragments.bytes.extend_from_slice(&self.buf[payload]);
                    if fin {
                        let Fragments { opcode, bytes } = self.fragments.take().unwrap_or(Fragments {
                            opcode: OP_BINARY,
                            bytes: Vec::new(),
                        });
                        self.assembled = bytes;
                        return Ok(Some(if opcode == OP_TEXT {
                            Received::Text(Payload::Assembled)
                        } else {
                            Received::Binary(Payload::Assembled)
                        }));
                    }
                }
                OP_TEXT | OP_BINARY => {
                    if self.fragments.is_some() {
                        return Err(WsError::Protocol("new message inside a fragmented one"));
                    }
                    if !fin {
                        self.fragments = Some(Fragments {
                            opcode,
                            bytes: self.buf[payload].to_vec(),
                        });
                        continue;
                    }
                    let payload = Payload::Read(payload);
                    return Ok(Some(if opcode == OP_TEXT {
                        Received::Text(payload)
                    } else {
                        Received::Binary(payload)
                    }));
                }
                OP_PING => return Ok(Some(Received::Ping(Payload::Read(payload)))),
                OP_PONG => return Ok(Some(Received::Pong(Payload::Read(payload)))),
                _ => return parse_close(&self.buf[payload]).map(|frame| Some(Received::Close(frame))),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> WebSocket<S> {
    /// Reads more bytes into the buffer: `Ok(0)` at the end of the stream. Frees the buffer when the socket has
    /// nothing and nothing is left to parse.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.start > 0 {
            // Earlier frames are consumed: what is left (part of a frame) moves to the front.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let missing = self.need.saturating_sub(self.buf.len());
        let read = if missing > SCRATCH_LEN {
            // A large frame: read straight into its place (spare capacity, never zeroed).
            self.buf.reserve(missing);
            pin!(self.io.read_buf(&mut self.buf)).poll(cx)
        } else {
            SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
                Ok(mut scratch) => {
                    let mut read = ReadBuf::new(&mut scratch[..]);
                    let polled = Pin::new(&mut self.io).poll_read(cx, &mut read);
                    // Only what arrived is kept, in a buffer of its size.
                    self.buf.extend_from_slice(read.filled());
                    polled.map_ok(|()| read.filled().len())
                }
                // Only if a read re-entered this one: read without the scratch buffer.
                Err(_) => {
                    self.buf.reserve(READ_CHUNK);
                    pin!(self.io.read_buf(&mut self.buf)).poll(cx)
                }
            })
        };
        if self.buf.is_empty() && matches!(read, Poll::Pending | Poll::Ready(Ok(0))) {
            // Idle (or ended): an idle connection keeps no buffer.
            self.buf = Vec::new();
            self.start = 0;
        }
        read
    }

    /// The next frame or message, located in the socket's buffers; pings and the peer's Close are answered as
    /// they are read. `None` at the end of the stream, and after the peer's Close.
    pub(crate) fn poll_received(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Received, WsError>>> {
        if self.close_received {
            return Poll::Ready(None);
        }
        loop {
            match self.parse() {
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(Some(received)) => {
                    self.answer(&received);
                    return Poll::Ready(Some(Ok(received)));
                }
                Ok(None) => {}
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) => return Poll::Ready(None),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
            }
        }
    }

    /// What a frame asks of this side as it is read: a pong for a ping, a Close for a Close.
    fn answer(&mut self, received: &Received) {
        match received {
            Received::Ping(payload) if !self.close_sent => {
                let range = match payload {
                    Payload::Read(range) => range.clone(),
                    Payload::Assembled => 0..0,
                };
                // Borrow the payload out of the read buffer, which framing does not touch.
                let ping = std::mem::take(&mut self.buf);
                let _ = self.queue_frame(OP_PONG, &ping[range]);
                self.buf = ping;
            }
            Received::Close(frame) => {
                self.close_received = true;
                // Echo the code (RFC 6455 §5.5.1); a Close without one is answered without one.
                let echo = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                let _ = self.queue_close(echo.as_ref());
            }
            _ => {}
        }
    }

    /// Polls for the next whole message, owned (see [`WebSocket::next`]).
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, WsError>>> {
        let received = match ready!(self.poll_received(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e))),
            Some(Ok(received)) => received,
        };
        let bytes = |payload: &Payload| Bytes::copy_from_slice(self.payload(payload));
        Poll::Ready(Some(Ok(match received {
            Received::Text(payload) => match self.text(&payload) {
                Some(text) => Message::Text(text.to_owned()),
                None => return Poll::Ready(Some(Err(WsError::InvalidUtf8))),
            },
            Received::Binary(payload) => Message::Binary(bytes(&payload)),
            Received::Ping(payload) => Message::Ping(bytes(&payload)),
            Received::Pong(payload) => Message::Pong(bytes(&payload)),
            Received::Close(frame) => Message::Close(frame),
        })))
    }

    /// The next whole message: pings and the peer's Close are answered as they are read (queued: drain to send
    /// the answers). `None` at the end of the stream, and after the peer's Close.
    pub async fn next(&mut self) -> Option<Result<Message, WsError>> {
        poll_fn(|cx| self.poll_next(cx)).await
    }

    /// Reads and drops bytes until the end of the stream (after a close, when frames no longer matter).
    pub async fn discard_input(&mut self) {
        loop {
            self.buf.clear();
            self.start = 0;
            self.buf.reserve(READ_CHUNK);
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        self.buf = Vec::new();
    }
}

impl<S: AsyncWrite + Unpin> WebSocket<S> {
    /// Writes everything queued.
    pub async fn drain(&mut self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_drain(cx)).await
    }

    /// Queues a message and writes everything queued.
    pub async fn send(&mut self, message: &Message) -> Result<(), WsError> {
        self.queue(message)?;
        Ok(self.drain().await?)
    }
}

/// The header of a final, unmasked frame of `opcode` carrying `len` bytes (RFC 6455 §5.2), with room after it for
/// a masking key: the buffer and how many of its bytes are the header.
pub(crate) fn frame_header(opcode: u8, len: usize) -> ([u8; 14], usize) {
    let mut header = [0u8; 14];
    header[0] = 0x80 | opcode;
    if len < 126 {
        header[1] = len as u8;
        (header, 2)
    } else if let Ok(len) = u16::try_from(len) {
        header[1] = 126;
        header[2..4].copy_from_slice(&len.to_be_bytes());
        (header, 4)
    } else {
        header[1] = 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (header, 10)
    }
}

/// The header of a server's text frame carrying `len` bytes.
pub(crate) fn text_frame_header(len: usize) -> ([u8; 14], usize) {
    frame_header(OP_TEXT, len)
}

/// XORs `payload` with the repeating 4-byte `key` (RFC 6455 §5.3), eight bytes at a time.
pub(crate) fn unmask(payload: &mut [u8], key: [u8; 4]) {
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// The `Sec-WebSocket-Accept` value that answers a `Sec-WebSocket-Key` (RFC 6455 §4.2.2): base64 of the SHA-1 of
/// the key and the protocol's GUID.
pub fn accept_key(key: &[u8]) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha1 = sha1::Sha1::new();
    sha1.update(key);
    sha1.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

/// A fresh `Sec-WebSocket-Key` for a client's upgrade request: 16 random bytes, base64.
pub fn client_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
}

/// The longest prefix of `reason` that fits a Close frame (123 bytes), cut at a character boundary.
fn clip_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// The payload of a Close frame: empty, or a valid status code and a UTF-8 reason (RFC 6455 §5.5.1, §7.4).
fn parse_close(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            if !valid {
                return Err(WsError::Protocol("close frame with an invalid status code"));
            }
            let reason = std::str::from_utf8(reason).map_err(|_| WsError::InvalidUtf8)?;
            Ok(Some(CloseFrame::new(code, reason.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A masked client frame, as a browser sends it.
    fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let (mut header, len) = frame_header(b0 & 0x0F, payload.len());
        header[0] = b0;
        header[1] |= 0x80;
        let mut frame = header[..len].to_vec();
        frame.extend_from_slice(&key);
        let mut body = payload.to_vec();
        unmask(&mut body, key);
        frame.extend_from_slice(&body);
        frame
    }

    async fn server_reading(bytes: &[u8]) -> (WebSocket<tokio::io::DuplexStream>, tokio::io::DuplexStream) {
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        peer.write_all(bytes).await.unwrap();
        (WebSocket::new(io, Role::Server, 1000), peer)
    }

    #[test]
    fn headers_use_the_shortest_length_form() {
        assert_eq!(text_frame_header(5).1, 2);
        assert_eq!(&text_frame_header(125).0[..2], &[0x81, 125]);
        assert_eq!(&text_frame_header(126).0[..4], &[0x81, 126, 0, 126]);
        assert_eq!(&text_frame_header(65_535).0[..4], &[0x81, 126, 0xff, 0xff]);
        assert_eq!(&text_frame_header(65_536).0[..10], &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn the_accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(client_key().len(), 24);
    }

    #[test]
    fn unmasking_matches_the_bytewise_definition() {
        let key = [0x12, 0x34, 0x56, 0x78];
        let original: Vec<u8> = (0..=200u8).collect();
        let mut fast = original.clone();
        unmask(&mut fast, key);
        let slow: Vec<u8> = original.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
        assert_eq!(fast, slow);
    }

    #[tokio::test]
    async fn reads_masked_text_split_across_reads_and_fragmented_messages() {
        let mut bytes = client_frame(0x81, b"hello", [1, 2, 3, 4]);
        bytes.extend(client_frame(0x01, b"frag", [9, 9, 9, 9]));
        bytes.extend(client_frame(0x89, b"p", [5, 5, 5, 5]));
        bytes.extend(client_frame(0x80, b"mented", [7, 0, 7, 0]));
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        let mut ws = WebSocket::new(io, Role::Server, 1000);
        // One byte at a time: every partial header and payload is waited for.
        let writer = tokio::spawn(async move {
            for byte in bytes {
                peer.write_all(&[byte]).await.unwrap();
            }
            peer
        });
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Ping(Bytes::from_static(b"p"))
        );
        // The pong was queued as the ping was read.
        assert_eq!(ws.io().queued(), 3);
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("fragmented"));
        drop(writer.await.unwrap());
        assert!(ws.next().await.is_none());
    }

    /// A small deterministic generator (xorshift), so the test needs no extra crate and every run is the same.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random messages — every length form, fragmented or not, with pings between fragments — arrive in random
    /// read sizes and come out whole and in order.
    #[tokio::test]
    async fn random_messages_in_random_pieces_arrive_whole() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..60 {
            let mut wire = Vec::new();
            let mut expected = Vec::new();
            for _ in 0..rng.below(6) + 1 {
                let len = [0, 1, 125, 126, 127, 1000, 65_535, 65_536, 70_000][rng.below(9)];
                let text = rng.below(2) == 0;
                let payload: Vec<u8> = if text {
                    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
                } else {
                    (0..len).map(|_| rng.next() as u8).collect()
                };
                let pieces = rng.below(3) + 1;
                let mut at = 0;
                let mut trailing_ping = false;
                for piece in 0..pieces {
                    let end = if piece + 1 == pieces {
                        len
                    } else {
                        at + rng.below(len - at + 1)
                    };
                    let opcode = match (piece, text) {
                        (0, true) => OP_TEXT,
                        (0, false) => OP_BINARY,
                        _ => OP_CONTINUATION,
                    };
                    let fin = if piece + 1 == pieces { 0x80 } else { 0 };
                    let key = (rng.next() as u32).to_be_bytes();
                    wire.extend(client_frame(fin | opcode, &payload[at..end], key));
                    if rng.below(3) == 0 {
                        wire.extend(client_frame(0x80 | OP_PING, b"hb", key));
                        // A ping between fragments comes out before the message it interrupts, one after the last
                        // fragment after it.
                        if piece + 1 < pieces {
                            expected.push(Message::Ping(Bytes::from_static(b"hb")));
                        } else {
                            trailing_ping = true;
                        }
                    }
                    at = end;
                }
                expected.push(if text {
                    Message::Text(String::from_utf8(payload).unwrap())
                } else {
                    Message::Binary(Bytes::from(payload))
                });
                if trailing_ping {
                    expected.push(Message::Ping(Bytes::from_static(b"hb")));
                }
            }
            let (io, mut peer) = tokio::io::duplex(1 << 20);
            let mut ws = WebSocket::new(io, Role::Server, 1 << 20);
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < wire.len() {
                let end = (at + 1 + rng.below(20_000)).min(wire.len());
                chunks.push(wire[at..end].to_vec());
                at = end;
            }
            let writer = tokio::spawn(async move {
                for chunk in chunks {
                    peer.write_all(&chunk).await.unwrap();
                }
                peer
            });
            for message in expected {
                assert_eq!(ws.next().await.unwrap().unwrap(), message);
            }
            drop(writer.await.unwrap());
            assert!(ws.next().await.is_none());
            assert_eq!(ws.buf.capacity(), 0, "nothing is kept once the stream is read");
        }
    }

    #[tokio::test]
    async fn protocol_violations_name_their_close_code() {
        let cases: [(Vec<u8>, u16); 7] = [
            // Unmasked client frame.
            (vec![0x81, 0x01, b'a'], 1002),
            // Reserved bit.
            (client_frame(0xC1, b"a", [1, 1, 1, 1]), 1002),
            // Unknown opcode.
            (client_frame(0x83, b"a", [1, 1, 1, 1]), 1002),
            // Fragmented ping.
            (client_frame(0x09, b"a", [1, 1, 1, 1]), 1002),
            // Continuation without a message.
            (client_frame(0x80, b"a", [1, 1, 1, 1]), 1002),
            // Over the 1000-byte limit: refused from the header alone.
            (vec![0x82, 0xFE, 0x10, 0x00], 1009),
            // Close with a reserved code.
            (client_frame(0x88, &1005u16.to_be_bytes(), [1, 1, 1, 1]), 1002),
        ];
        for (bytes, code) in cases {
            let (mut ws, _peer) = server_reading(&bytes).await;
            let error = ws.next().await.unwrap().unwrap_err();
            assert_eq!(error.close_code(), Some(code), "{error} for {bytes:?}");
        }
        let (mut ws, _peer) = server_reading(&client_frame(0x81, &[0xFF, 0xFE], [1, 1, 1, 1])).await;
        assert_eq!(ws.next().await.unwrap().unwrap_err().close_code(), Some(1007));
    }

    #[tokio::test]
    async fn a_close_is_echoed_and_ends_reading() {
        let mut bytes = client_frame(0x88, &[0x0F, 0xA0, b'b', b'y', b'e'], [3, 1, 4, 1]);
        bytes.extend(client_frame(0x81, b"after", [1, 1, 1, 1]));
        let (mut ws, _peer) = server_reading(&bytes).await;
        assert_eq!(
            ws.next().await.unwrap().unwrap(),
            Message::Close(Some(CloseFrame::new(4000, "bye")))
        );
        assert!(ws.close_sent());
        assert!(ws.next().await.is_none());
        assert!(matches!(ws.queue_text("late"), Err(WsError::Closing)));
    }

    #[tokio::test]
    async fn a_client_masks_what_it_writes_and_an_idle_socket_keeps_no_buffer() {
        let (io, mut peer) = tokio::io::duplex(1 << 16);
        let mut client = WebSocket::new(io, Role::Client, 1000);
        client.send(&Message::text("hi")).await.unwrap();
        let mut frame = [0u8; 8];
        tokio::io::AsyncReadExt::read_exact(&mut peer, &mut frame)
            .await
            .unwrap();
        assert_eq!(&frame[..2], &[0x81, 0x82]);
        let mut payload = [frame[6], frame[7]];
        unmask(&mut payload, [frame[2], frame[3], frame[4], frame[5]]);
        assert_eq!(&payload, b"hi");
        // A server frame arrives, is read, and the buffer goes once nothing more is waiting.
        peer.write_all(&[0x81, 0x02, b'o', b'k']).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), Message::text("ok"));
        let waker = futures_util::task::noop_waker();
        assert!(client.poll_next(&mut Context::from_waker(&waker)).is_pending());
        assert_eq!(client.buf.capacity(), 0);
    }
}
