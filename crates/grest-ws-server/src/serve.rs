//! Serving a router on a TCP listener with limits fit for the open internet (see [`serve`]).

use std::future::{Future, IntoFuture, Pending};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::addresses::Addresses;
use axum::Router;
use axum::extract::ConnectInfo;
use grest_ws_session::{BoxFuture, LogLimit};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The limits of [`serve`]; each field names its default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// How long a connection may take to deliver a complete request head, counted from when it opens or
    /// finished its previous request. `None` waits forever. Default 10 s.
    pub header_read_timeout: Option<Duration>,
    /// How long an HTTP connection that has not been upgraded may move no byte before it is closed. `None` never
    /// closes it. Default 60 s. Routes that stay silent longer (long polling) need a larger value.
    pub idle_timeout: Option<Duration>,
    /// The largest request head (request line and headers) in bytes; larger ones get 431. Default 16 KiB.
    pub max_header_size: usize,
    /// How many connections may be open at once, upgraded WebSockets included. Default: nine tenths of the
    /// process's open-files limit (Linux; 10 000 elsewhere).
    pub max_connections: usize,
    /// How long a graceful shutdown waits for HTTP requests in progress. Default 10 s.
    pub shutdown_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Some(Duration::from_secs(10)),
            idle_timeout: Some(Duration::from_secs(60)),
            max_header_size: 16 * 1024,
            max_connections: default_max_connections(),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ServeConfig {
    /// Sets [`ServeConfig::header_read_timeout`].
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::idle_timeout`].
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::max_header_size`] (at least 1 KiB).
    #[must_use]
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes.max(1024);
        self
    }

    /// Sets [`ServeConfig::max_connections`] (at least 1).
    #[must_use]
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets [`ServeConfig::shutdown_timeout`].
    #[must_use]
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

/// Nine tenths of the soft open-files limit, leaving room for the files, logs and outgoing connections the
/// application opens; 10 000 where the limit cannot be read.
fn default_max_connections() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").ok();
    connection_cap(limits.as_deref().and_then(open_files_limit))
}

/// The soft open-files limit in the text of `/proc/self/limits`; `None` when absent or `unlimited`.
fn open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse::<usize>()
        .ok()
}

/// The connection cap for an open-files limit: nine tenths of it (at least 1); 10 000 without one.
fn connection_cap(open_files: Option<usize>) -> usize {
    match open_files {
        Some(limit) => (limit - limit / 10).max(1),
        None => 10_000,
    }
}

/// Serves `router` on `listener` with the limits of [`ServeConfig::default`]. Await it (it runs until the listener
/// fails or the shutdown signal completes); configure it first with [`Serve::config`] and
/// [`Serve::with_graceful_shutdown`].
///
/// It is what `axum::serve` is, plus the limits a public server needs and `axum::serve` leaves out. Each
/// limit has a default that is safe without configuration ([`ServeConfig`] names them) and can be changed or
/// turned off:
///
/// - **Slow or silent clients**: a connection must deliver a complete request head within
///   [`ServeConfig::header_read_timeout`] (10 s) — from the moment it opens, and again between requests of a
///   keep-alive connection. Silent sockets, requests sent a byte at a time and unterminated header blocks are closed.
/// - **Stalled transfers**: an HTTP connection that has not been upgraded and moves no byte in either direction for
///   [`ServeConfig::idle_timeout`] (60 s) is closed — a request body that stops arriving, a response nobody reads.
///   Upgraded WebSockets are not affected: their sessions have heartbeats of their own.
/// - **Oversized heads**: a request head over [`ServeConfig::max_header_size`] (16 KiB) is answered
///   `431 Request Header Fields Too Large` and the connection closed.
/// - **Too many connections**: at most [`ServeConfig::max_connections`] connections are open at once, WebSockets
///   included (by default nine tenths of the process's open-files limit, so the server never runs out of file
///   descriptors). A connection over the cap is answered `503 Service Unavailable` and closed at once; a warning is
///   logged when the cap is hit, at most once per second, with the number refused.
/// - **Graceful shutdown**: with [`Serve::with_graceful_shutdown`], when the signal completes the listener closes,
///   idle HTTP connections close, requests in progress finish (for at most [`ServeConfig::shutdown_timeout`]) and
///   the returned future completes. Upgraded WebSockets belong to their endpoints: close them from the signal with
///   [`Sockets::shutdown`](crate::Sockets::shutdown), as below.
///
/// Every request carries axum's [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo), so handlers see the
/// peer's address, and sockets learn both ends of their connection
/// ([`ConnectionInfo`](crate::ConnectionInfo)), over TLS too. Sockets get
/// `TCP_NODELAY`. The server speaks HTTP/1.1 (WebSocket upgrades are HTTP/1.1).
///
/// ```no_run
/// use std::time::Duration;
///
/// use grest_ws_server::{GrestWs, ServeConfig, serve};
///
/// # async fn run(ctrl_c: tokio::sync::oneshot::Receiver<()>) -> std::io::Result<()> {
/// let server = GrestWs::new();
/// let sockets = server.sockets();
/// let router = server.build().expect("a valid registration");
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// serve(listener, router)
///     .config(ServeConfig::default().max_connections(5_000))
///     .with_graceful_shutdown(async move {
///         let _ = ctrl_c.await; // e.g. tokio::signal::ctrl_c()
///         // In-flight requests finish, then every socket closes with 1001 and clients reconnect elsewhere.
///         sockets.shutdown(Duration::from_secs(5)).await;
///     })
///     .await
/// # }
/// ```
pub fn serve(listener: TcpListener, router: Router) -> Serve<Pending<()>> {
    Serve {
        listener,
        router,
        config: ServeConfig::default(),
        signal: std::future::pending(),
        #[cfg(feature = "tls")]
        tls: None,
    }
}

/// A server being configured; `.await` runs it. Made by [`serve`].
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<F> {
    listener: TcpListener,
    router: Router,
    config: ServeConfig,
    signal: F,
    #[cfg(feature = "tls")]
    tls: Option<crate::TlsIdentity>,
}

impl<F> Serve<F> {
    /// Serves HTTPS (and so `wss://`) with `identity`'s certificate: every accepted connection first completes a
    /// TLS handshake, within [`ServeConfig::header_read_timeout`]; one that fails or stalls is closed (logged at
    /// debug level).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, identity: crate::TlsIdentity) -> Self {
        self.tls = Some(identity);
        self
    }

    /// Replaces the limits.
    pub fn config(mut self, config: ServeConfig) -> Self {
        self.config = config;
        self
    }

    /// Shuts down gracefully when `signal` completes: the listener closes, idle connections close, requests in
    /// progress get [`ServeConfig::shutdown_timeout`] to finish, then the server's future completes.
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            router: self.router,
            config: self.config,
            signal,
            #[cfg(feature = "tls")]
            tls: self.tls,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<F> IntoFuture for Serve<F>
where
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = BoxFuture<'static, io::Result<()>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run<F>(serve: Serve<F>) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let Serve {
        listener,
        router,
        config,
        signal,
        #[cfg(feature = "tls")]
        tls,
    } = serve;
    #[cfg(feature = "tls")]
    let acceptor = tls.as_ref().map(crate::TlsIdentity::acceptor);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_size);
    let open = Arc::new(AtomicUsize::new(0));
    let (shutdown, shutting_down) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        tokio::select! {
            biased;
            () = &mut signal => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        log_accept_failed(&e);
                        // Out of descriptors or buffers: accepting again at once would spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Some(state) = ConnectionState::open(&open, config.max_connections) else {
                    log_refused(config.max_connections);
                    refuse(&tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let state = Arc::new(state);
                let addresses = Addresses { local: tcp.local_addr().ok(), remote: Some(remote) };
                let io = ServedIo { tcp, state: state.clone() };
                let served = Served { scheme: http::uri::Scheme::HTTP, state, remote, addresses, router: router.clone(), http: http.clone(), idle_timeout: config.idle_timeout, shutting_down: shutting_down.clone() };
                #[cfg(feature = "tls")]
                if let Some(acceptor) = &acceptor {
                    connections.spawn(served.run_tls(acceptor.clone(), io, config.header_read_timeout));
                    continue;
                }
                connections.spawn(served.run(io));
            }
        }
    }
    drop(listener);
    let _ = shutdown.send(true);
    let drained = tokio::time::timeout(config.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "shutdown timeout reached; dropping HTTP connections still busy"
        );
        connections.abort_all();
    }
    Ok(())
}

/// One accepted connection, with what serving it needs.
struct Served {
    /// How requests arrived (`https` over TLS): the Origin policy compares a browser's origin with it.
    scheme: http::uri::Scheme,
    state: Arc<ConnectionState>,
    remote: SocketAddr,
    /// Both ends of the TCP connection, for the sockets' [`ConnectionInfo`](crate::ConnectionInfo).
    addresses: Addresses,
    router: Router,
    http: http1::Builder,
    idle_timeout: Option<Duration>,
    shutting_down: watch::Receiver<bool>,
}

impl Served {
    /// Completes the TLS handshake within `timeout`, then serves the connection; a handshake that fails or
    /// stalls closes it.
    #[cfg(feature = "tls")]
    async fn run_tls(self, acceptor: tokio_rustls::TlsAcceptor, io: ServedIo, timeout: Option<Duration>) {
        let handshake = tokio::time::timeout(timeout.unwrap_or(Duration::MAX), acceptor.accept(io));
        match handshake.await {
            Ok(Ok(tls)) => {
                let secure = Served {
                    scheme: http::uri::Scheme::HTTPS,
                    ..self
                };
                secure.run(tls).await
            }
            Ok(Err(error)) => tracing::debug!(remote = %self.remote, %error, "TLS handshake failed"),
            Err(_) => tracing::debug!(remote = %self.remote, "TLS handshake timed out"),
        }
    }

    /// Serves the connection until it ends, is upgraded (the WebSocket goes on in its own task), stays idle too
    /// long, or shutdown finishes it.
    async fn run<I>(self, io: I)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let Served {
            scheme,
            state,
            remote,
            addresses,
            router,
            http,
            idle_timeout,
            mut shutting_down,
        } = self;
        let router = TowerToHyperService::new(router);
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request.extensions_mut().insert(addresses);
            if scheme == http::uri::Scheme::HTTPS {
                request.extensions_mut().insert(http::uri::Scheme::HTTPS);
            }
            router.call(request)
        });
        let conn = http.serve_connection(TokioIo::new(io), service).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        let mut moved = state.moved.load(Ordering::Relaxed);
        let mut draining = *shutting_down.borrow();
        if draining {
            conn.as_mut().graceful_shutdown();
        }
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%remote, error = %e, "HTTP connection ended with an error");
                    }
                    return;
                }
                _ = shutting_down.changed(), if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                () = tokio::time::sleep(idle_timeout.unwrap_or(Duration::MAX)), if idle_timeout.is_some() => {
                    let now = state.moved.load(Ordering::Relaxed);
                    if now == moved {
                        tracing::debug!(%remote, "closing an HTTP connection that moved no byte within the idle timeout");
                        return;
                    }
                    moved = now;
                }
            }
        }
    }
}

/// What an accepted connection shares with its server: its place under the connection cap (given back when the
/// socket closes, also after an upgrade) and a count of I/O progress for the idle timeout.
struct ConnectionState {
    open: Arc<AtomicUsize>,
    /// Bumped on every read or write that moved bytes.
    moved: AtomicU64,
}

impl ConnectionState {
    /// Takes a place under `max`; `None` when the server is full.
    fn open(open: &Arc<AtomicUsize>, max: usize) -> Option<ConnectionState> {
        open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1))
            .ok()?;
        Some(ConnectionState {
            open: open.clone(),
            moved: AtomicU64::new(0),
        })
    }
}

impl Drop for ConnectionState {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Answers a connection over the cap without reading it: a best-effort 503, then the socket is dropped.
fn refuse(tcp: &TcpStream) {
    const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
    let _ = tcp.try_write(FULL);
}

/// Logs a refused connection: the first at once, then at most one line per second, each with the number refused
/// since the previous line.
fn log_refused(max_connections: usize) {
    static REFUSED: LogLimit = LogLimit::new(1);
    if let Some(suppressed) = REFUSED.admit() {
        tracing::warn!(
            max_connections,
            refused = suppressed + 1,
            "connection limit reached; refusing new connections with 503 (ServeConfig::max_connections)"
        );
    }
}

/// Logs a failed accept, rate-limited like [`log_refused`].
fn log_accept_failed(error: &io::Error) {
    static FAILED: LogLimit = LogLimit::new(1);
    if let Some(suppressed) = FAILED.admit() {
        tracing::warn!(%error, failed = suppressed + 1, "accepting connections failed (out of file descriptors?)");
    }
}

/// An accepted socket that counts its I/O progress and holds its place under the connection cap.
struct ServedIo {
    tcp: TcpStream,
    state: Arc<ConnectionState>,
}

impl ServedIo {
    fn progressed<T>(&self, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Ok(_)) = poll {
            self.state.moved.fetch_add(1, Ordering::Relaxed);
        }
        poll
    }
}

impl AsyncRead for ServedIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.tcp).poll_read(cx, buf);
        self.progressed(poll)
    }
}

impl AsyncWrite for ServedIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write(cx, buf);
        self.progressed(poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs);
        self.progressed(poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/limits` as Linux writes it (trailing blanks trimmed).
    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max file size             unlimited            unlimited            bytes
Max processes             63432                63432                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
";

    /// The soft limit is read from the `Max open files` line; a missing line, `unlimited` or junk give none.
    #[test]
    fn the_soft_open_files_limit_is_read_from_proc_limits() {
        assert_eq!(open_files_limit(LIMITS), Some(1024));
        let unlimited = LIMITS.replace("1024                 524288", "unlimited            unlimited");
        assert_eq!(open_files_limit(&unlimited), None);
        assert_eq!(open_files_limit("Max open files\n"), None);
        assert_eq!(
            open_files_limit("Max open files            -1    4096    files\n"),
            None
        );
        assert_eq!(open_files_limit(""), None);
        assert_eq!(
            open_files_limit(&LIMITS.replace("Max open files", "Max open file")),
            None
        );
    }

    /// The default cap is nine tenths of the limit (rounded up), at least 1, and 10 000 without a limit.
    #[test]
    fn the_connection_cap_is_nine_tenths_of_the_limit() {
        assert_eq!(connection_cap(Some(1024)), 922);
        assert_eq!(connection_cap(Some(1_048_576)), 943_719);
        assert_eq!(connection_cap(Some(10)), 9);
        assert_eq!(connection_cap(Some(5)), 5);
        assert_eq!(connection_cap(Some(1)), 1);
        assert_eq!(connection_cap(Some(0)), 1);
        assert_eq!(connection_cap(None), 10_000);
        assert!(ServeConfig::default().max_connections >= 1);
    }

    /// The builder keeps each limit in its range: at least 1 connection, at least 1 KiB of head.
    #[test]
    fn builder_limits_are_clamped() {
        let config = ServeConfig::default()
            .max_connections(0)
            .max_header_size(10)
            .header_read_timeout(None)
            .idle_timeout(Some(Duration::from_secs(5)));
        assert_eq!(config.max_connections, 1);
        assert_eq!(config.max_header_size, 1024);
        assert_eq!(config.header_read_timeout, None);
        assert_eq!(config.idle_timeout, Some(Duration::from_secs(5)));
        let defaults = ServeConfig::default();
        assert_eq!(defaults.header_read_timeout, Some(Duration::from_secs(10)));
        assert_eq!(defaults.max_header_size, 16 * 1024);
    }

    /// A place under the cap is taken while there is room and given back when its state drops.
    #[test]
    fn connection_places_are_taken_and_given_back() {
        let open = Arc::new(AtomicUsize::new(0));
        let first = ConnectionState::open(&open, 2).expect("room for one");
        let second = ConnectionState::open(&open, 2).expect("room for two");
        assert!(ConnectionState::open(&open, 2).is_none(), "full");
        assert_eq!(open.load(Ordering::Acquire), 2);
        drop(first);
        assert_eq!(open.load(Ordering::Acquire), 1);
        let third = ConnectionState::open(&open, 2).expect("a place was freed");
        drop((second, third));
        assert_eq!(open.load(Ordering::Acquire), 0);
    }
}
