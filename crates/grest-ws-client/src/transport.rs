//! The client's end of a connection: a TCP stream for `ws://`, rustls over TCP for `wss://` (with the `tls`
//! feature), and why opening one failed, in words a person can act on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Why the URL, the TCP connection, TLS or the WebSocket upgrade failed (the part of
/// [`ConnectError::Transport`](crate::ConnectError::Transport) after the URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL, or a header to send with it, is not valid.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The URL's scheme is neither `ws` nor `wss`.
    #[error("unsupported URL scheme {0:?}: use ws:// or wss://")]
    Scheme(String),
    /// A `wss://` URL, and this build has no TLS.
    #[error("wss:// needs the `tls` feature of grest-ws-client (on by default)")]
    TlsUnavailable,
    /// The network said no: refused, unreachable, unknown host, reset…
    #[error("{message}{}", hint(*.kind))]
    Io {
        /// The kind of failure.
        kind: io::ErrorKind,
        /// The operating system's words.
        message: String,
    },
    /// The TLS handshake failed (an untrusted or mismatched certificate, a server that does not speak TLS…).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The server's answer to the upgrade is not a WebSocket upgrade.
    #[error("the WebSocket upgrade failed: {0}")]
    Upgrade(String),
    /// The connection broke during the handshake.
    #[error("the connection broke during the handshake: {0}")]
    Broken(String),
}

/// What to try, for the failures a person can do something about.
fn hint(kind: io::ErrorKind) -> &'static str {
    match kind {
        io::ErrorKind::ConnectionRefused => " (is the server running and listening on that address?)",
        io::ErrorKind::TimedOut => " (is the address reachable from here?)",
        _ => "",
    }
}

impl From<io::Error> for TransportError {
    fn from(error: io::Error) -> Self {
        let kind = error.kind();
        // The operating system's message without the " (os error 111)" tail.
        let text = error.to_string();
        let message = match text.rfind(" (os error ") {
            Some(at) => text[..at].to_owned(),
            None => text,
        };
        TransportError::Io {
            kind,
            message: lowercase_first(&message),
        }
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A connection the client reads and writes: plain TCP, or TLS over it.
#[derive(Debug)]
pub(crate) enum Stream {
    /// `ws://`.
    Plain(TcpStream),
    /// `wss://`.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Opens a connection to `uri`'s host (`ws://` on port 80, `wss://` on 443 unless the URL names a port), with
/// Nagle off; for `wss://`, the TLS handshake with `tls`'s roots checks the server's certificate against the
/// URL's host.
pub(crate) async fn connect(uri: &http::Uri, config: &crate::ClientConfig) -> Result<Stream, TransportError> {
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        Some(other) => return Err(TransportError::Scheme(other.to_owned())),
        None => {
            return Err(TransportError::Invalid(format!(
                "{uri} is not an absolute ws:// or wss:// URL"
            )));
        }
    };
    open(uri, secure, config).await
}

/// Opens a connection to `uri`'s host: TLS over TCP when `secure` (on port 443 unless the URL names one), plain TCP
/// otherwise (port 80).
pub(crate) async fn open(
    uri: &http::Uri,
    secure: bool,
    config: &crate::ClientConfig,
) -> Result<Stream, TransportError> {
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    if !secure {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        return Ok(Stream::Plain(tcp));
    }
    #[cfg(feature = "tls")]
    {
        let tcp = TcpStream::connect((host, port)).await?;
        tcp.set_nodelay(true)?;
        let tls = config.tls.connect(host, tcp).await?;
        Ok(Stream::Tls(Box::new(tls)))
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = config;
        Err(TransportError::TlsUnavailable)
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => tls.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }
}
