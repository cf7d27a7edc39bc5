//! Fetching the JSON document a server publishes about its endpoints (the AsyncAPI document a grest-ws server
//! serves when its app is built with `GrestWs::asyncapi`) over the client's own transport: the same TLS roots,
//! the same handshake timeout.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::response::{HeadError, read_head};
use crate::transport::open;
use crate::{ClientConfig, TransportError};

/// The largest document accepted (bytes of body).
pub const MAX_DOCUMENT: usize = 8 * 1024 * 1024;

/// Why a document could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The URL is not an absolute `http(s)://` or `ws(s)://` URL.
    #[error("invalid document URL {0:?}: use http://, https://, ws:// or wss://")]
    Invalid(String),
    /// The connection failed.
    #[error(transparent)]
    Transport(TransportError),
    /// The server answered, with another status than 200 (404: it serves no document there).
    #[error("the server answered {0}")]
    Status(u16),
    /// The answer is not an HTTP response we read, or its body is cut short.
    #[error("the answer is not a valid HTTP response: {0}")]
    Malformed(String),
    /// The body is larger than [`MAX_DOCUMENT`].
    #[error("the document is larger than {MAX_DOCUMENT} bytes")]
    TooLarge,
    /// The body is not JSON.
    #[error("the document is not JSON: {0}")]
    NotJson(String),
    /// No answer within the configured handshake timeout.
    #[error("no answer within {0:?}")]
    TimedOut(std::time::Duration),
}

/// Fetches the JSON document at `url` with a `GET` (`ws://`/`wss://` URLs are read as `http://`/`https://`), with
/// `config`'s TLS settings, within its handshake timeout.
///
/// ```no_run
/// # async fn run() -> Result<(), grest_ws_client::DocumentError> {
/// use grest_ws_client::{ClientConfig, fetch_document};
///
/// let document = fetch_document("http://127.0.0.1:3000/asyncapi.json", &ClientConfig::default()).await?;
/// println!("{}", document["info"]["title"]);
/// # Ok(())
/// # }
/// ```
pub async fn fetch_document(url: &str, config: &ClientConfig) -> Result<Value, DocumentError> {
    let uri: http::Uri = url.parse().map_err(|_| DocumentError::Invalid(url.to_owned()))?;
    let secure = match uri.scheme_str() {
        Some("http" | "ws") => false,
        Some("https" | "wss") => true,
        _ => return Err(DocumentError::Invalid(url.to_owned())),
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(DocumentError::Invalid(url.to_owned()));
    }
    let timeout = config.handshake_timeout;
    let body = tokio::time::timeout(timeout, get(&uri, secure, config))
        .await
        .map_err(|_| DocumentError::TimedOut(timeout))??;
    serde_json::from_slice(&body).map_err(|e| DocumentError::NotJson(e.to_string()))
}

/// The body of a `GET` that closes the connection after answering.
async fn get(uri: &http::Uri, secure: bool, config: &ClientConfig) -> Result<Vec<u8>, DocumentError> {
    let transport = |e: std::io::Error| DocumentError::Transport(e.into());
    let mut io = open(uri, secure, config).await.map_err(DocumentError::Transport)?;
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let host = uri.authority().map_or("", |a| a.as_str());
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n");
    io.write_all(request.as_bytes()).await.map_err(transport)?;
    let head = read_head(&mut io).await.map_err(|error| match error {
        HeadError::Transport(cause) => DocumentError::Transport(cause),
        HeadError::Malformed(what) => DocumentError::Malformed(what),
    })?;
    if head.status != 200 {
        return Err(DocumentError::Status(head.status));
    }
    let length = match head.header("content-length") {
        Some(value) => Some(
            std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| DocumentError::Malformed("an invalid Content-Length".to_owned()))?,
        ),
        None => None,
    };
    if length.is_some_and(|length| length > MAX_DOCUMENT) {
        return Err(DocumentError::TooLarge);
    }
    let chunked = head.has_token("transfer-encoding", "chunked");
    // The connection closes after the answer: read to its end, bounded.
    let mut raw = head.rest;
    let limit = MAX_DOCUMENT + if chunked { 64 * 1024 } else { 0 };
    loop {
        if raw.len() > limit {
            return Err(DocumentError::TooLarge);
        }
        if length.is_some_and(|length| raw.len() >= length) {
            break;
        }
        raw.reserve(16 * 1024);
        if io.read_buf(&mut raw).await.map_err(transport)? == 0 {
            break;
        }
    }
    match (chunked, length) {
        (true, _) => dechunk(&raw),
        (false, Some(length)) if raw.len() < length => Err(DocumentError::Malformed(
            "the body is shorter than its Content-Length".to_owned(),
        )),
        (false, Some(length)) => {
            raw.truncate(length);
            Ok(raw)
        }
        (false, None) => Ok(raw),
    }
}

/// The body of a `Transfer-Encoding: chunked` message (trailers ignored).
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, DocumentError> {
    let malformed = || DocumentError::Malformed("an invalid chunked body".to_owned());
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").ok_or_else(malformed)?;
        let size_text = std::str::from_utf8(&raw[..line_end]).map_err(|_| malformed())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| malformed())?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if body.len() + size > MAX_DOCUMENT {
            return Err(DocumentError::TooLarge);
        }
        if raw.len() < size + 2 || &raw[size..size + 2] != b"\r\n" {
            return Err(malformed());
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_body_is_joined_and_a_broken_one_refused() {
        assert_eq!(
            dechunk(b"4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\n\r\n").unwrap(),
            b"{\"a\":1}"
        );
        assert_eq!(
            dechunk(b"4\r\n{\"a\"\r\n"),
            Err(DocumentError::Malformed("an invalid chunked body".to_owned()))
        );
        assert!(matches!(dechunk(b"zz\r\n"), Err(DocumentError::Malformed(_))));
        assert!(matches!(
            dechunk(b"5\r\nab\r\n0\r\n\r\n"),
            Err(DocumentError::Malformed(_))
        ));
    }
}
