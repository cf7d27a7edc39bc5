//! A deliberately minimal RFC 6455 client for the load generator: one buffer in, one buffer out, frames built and
//! parsed in place, one `read` and one `write` syscall per batch. It exists so the generator spends far less CPU
//! per message than any server under test (a tungstenite client costs about what a tungstenite server does, and
//! the generator would then be the bottleneck on the second core).
//!
//! Client frames are masked with the all-zero key, which RFC 6455 allows (the mask bit is set; XOR with zero is
//! the identity), so payloads are copied once into the write buffer and never transformed.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Text frame opcode.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame opcode.
pub const OP_BINARY: u8 = 0x2;
/// Close frame opcode.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame opcode.
pub const OP_PING: u8 = 0x9;
/// Pong frame opcode.
pub const OP_PONG: u8 = 0xA;

/// One client connection.
pub struct WsConn {
    stream: TcpStream,
    /// Received bytes; `rpos..` is not yet parsed.
    pub rbuf: Vec<u8>,
    rpos: usize,
    /// Frames queued for the next [`WsConn::flush`].
    pub wbuf: Vec<u8>,
}

/// A frame located in [`WsConn::rbuf`].
#[derive(Debug, Clone, Copy)]
pub struct FrameRef {
    /// Opcode.
    pub opcode: u8,
    /// Payload start in `rbuf`.
    pub start: usize,
    /// Payload end in `rbuf`.
    pub end: usize,
}

impl WsConn {
    /// TCP connect (TCP_NODELAY) and HTTP upgrade on `path`. With `recv_buffer`, the socket's `SO_RCVBUF` is set
    /// to it before connecting (the kernel doubles it): a small one closes the receive window after a few KiB
    /// when the client stops reading (the server's own socket send buffer still takes more).
    pub async fn connect(addr: SocketAddr, path: &str, recv_buffer: Option<u32>) -> io::Result<WsConn> {
        let stream = match recv_buffer {
            Some(size) => {
                let socket = if addr.is_ipv4() {
                    TcpSocket::new_v4()?
                } else {
                    TcpSocket::new_v6()?
                };
                socket.set_recv_buffer_size(size)?;
                socket.connect(addr).await?
            }
            None => TcpStream::connect(addr).await?,
        };
        stream.set_nodelay(true)?;
        let mut conn = WsConn {
            stream,
            rbuf: Vec::with_capacity(16 * 1024),
            rpos: 0,
            wbuf: Vec::with_capacity(16 * 1024),
        };
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        conn.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = find(&conn.rbuf, b"\r\n\r\n") {
                let head = &conn.rbuf[..end];
                if !head.starts_with(b"HTTP/1.1 101") {
                    let line = String::from_utf8_lossy(head.split(|&b| b == b'\r').next().unwrap_or(b"")).into_owned();
                    return Err(io::Error::other(format!("upgrade refused: {line}")));
                }
                conn.rpos = end + 4;
                return Ok(conn);
            }
            if conn.read_more().await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during upgrade"));
            }
        }
    }

    /// Appends a masked (zero key) frame to the write buffer.
    pub fn queue(&mut self, opcode: u8, payload: &[u8]) {
        push_frame(&mut self.wbuf, opcode, payload);
    }

    /// Appends a text frame.
    pub fn queue_text(&mut self, payload: &[u8]) {
        push_frame(&mut self.wbuf, OP_TEXT, payload);
    }

    /// Writes the queued frames.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Reads more bytes (compacting the buffer first); returns 0 at end of stream.
    pub async fn read_more(&mut self) -> io::Result<usize> {
        if self.rpos > 0 && self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        } else if self.rpos > 8 * 1024 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(16 * 1024);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// Discards whatever has arrived without waiting (for flooding senders that ignore replies).
    pub fn discard_available(&mut self) -> io::Result<()> {
        let mut scratch = [0u8; 16 * 1024];
        loop {
            match self.stream.try_read(&mut scratch) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// The next complete frame in the read buffer, if any. Fragmented messages are reported as an error: no
    /// server under test fragments small messages.
    pub fn next_frame(&mut self) -> io::Result<Option<FrameRef>> {
        let buf = &self.rbuf[self.rpos..];
        if buf.len() < 2 {
            return Ok(None);
        }
        let fin = buf[0] & 0x80 != 0;
        let opcode = buf[0] & 0x0F;
        let masked = buf[1] & 0x80 != 0;
        let (len, mut at) = match buf[1] & 0x7F {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[2..10]);
                (u64::from_be_bytes(b), 10)
            }
            n => (u64::from(n), 2),
        };
        if masked {
            return Err(io::Error::other("server sent a masked frame"));
        }
        if !fin || opcode == 0 {
            return Err(io::Error::other("fragmented message"));
        }
        let len = usize::try_from(len).map_err(io::Error::other)?;
        if buf.len() < at + len {
            return Ok(None);
        }
        at += self.rpos;
        self.rpos = at + len;
        Ok(Some(FrameRef {
            opcode,
            start: at,
            end: at + len,
        }))
    }

    /// Reads until one frame is complete and returns it (control frames included).
    pub async fn read_frame(&mut self) -> io::Result<FrameRef> {
        loop {
            if let Some(frame) = self.next_frame()? {
                return Ok(frame);
            }
            if self.read_more().await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
            }
        }
    }

    /// Reads until a text/binary frame arrives, answering pings; returns its payload range.
    pub async fn read_data(&mut self) -> io::Result<FrameRef> {
        loop {
            let frame = self.read_frame().await?;
            match frame.opcode {
                OP_TEXT | OP_BINARY => return Ok(frame),
                OP_PING => {
                    let payload = self.rbuf[frame.start..frame.end].to_vec();
                    self.queue(OP_PONG, &payload);
                    self.flush().await?;
                }
                OP_CLOSE => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "server closed")),
                _ => {}
            }
        }
    }

    /// Sends a close frame (status 1000) and shuts the write side.
    pub async fn close(mut self) {
        self.queue(OP_CLOSE, &1000u16.to_be_bytes());
        let _ = self.flush().await;
        let _ = self.stream.shutdown().await;
    }

    /// Drops the connection abruptly: with `SO_LINGER` set to zero the close sends a TCP reset instead of a FIN,
    /// and no Close frame goes out.
    pub fn reset(self) {
        let _ = socket2::SockRef::from(&self.stream).set_linger(Some(std::time::Duration::ZERO));
    }
}

/// Appends one client frame (FIN, zero mask key) to `out`.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if let Ok(len16) = u16::try_from(len) {
        out.push(0x80 | 126);
        out.extend_from_slice(&len16.to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
