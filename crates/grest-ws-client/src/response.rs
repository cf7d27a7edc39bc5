//! Reading an HTTP/1.1 response head (status and headers) off a fresh connection, bounded in size: what the
//! WebSocket upgrade and the document fetch both read first.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::TransportError;

/// The largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// The most response headers accepted.
const MAX_HEADERS: usize = 32;

/// A response head, and whatever the server sent right behind it.
pub(crate) struct Head {
    /// The status code.
    pub(crate) status: u16,
    headers: Vec<(String, Vec<u8>)>,
    /// The bytes read past the head (the start of the body, or early WebSocket frames).
    pub(crate) rest: Vec<u8>,
}

impl Head {
    /// A header's value (the first of that name, any case).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Whether a comma-separated header lists `token` (any case).
    pub(crate) fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Why no response head could be read.
pub(crate) enum HeadError {
    /// The connection failed.
    Transport(TransportError),
    /// What arrived is not a response head we accept (the reason, in words).
    Malformed(String),
}

/// Reads a response head.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(io: &mut S) -> Result<Head, HeadError> {
    let invalid = |what: &str| HeadError::Malformed(what.to_owned());
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() >= MAX_HEAD {
            return Err(invalid("the response head is too large"));
        }
        buf.reserve(1024);
        let read = io.read_buf(&mut buf).await;
        if read.map_err(|e| HeadError::Transport(e.into()))? == 0 {
            return Err(invalid("the server closed the connection before answering"));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(invalid(&format!("the answer is not HTTP ({e})"))),
        };
        let status = response.code.unwrap_or(0);
        let headers = response
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), h.value.to_vec()))
            .collect();
        return Ok(Head {
            status,
            headers,
            rest: buf.split_off(head_len),
        });
    }
}
