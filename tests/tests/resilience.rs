//! Liveness and resilience: heartbeats (both sides), half-open detection through a real TCP proxy, reconnect with
//! backoff, rotating credentials, terminal errors, retries exhausted, graceful shutdown.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grest_ws::client::{Client, ClientConfig, ConnectError, ConnectParams, ReconnectConfig};
use grest_ws::server::{GrestWs, ServerConfig, Sockets, WireHandler};
use grest_ws::session::Heartbeat;
use grest_ws::{ErrorEnvelope, NotAuthorized, SessionConfig, WebSocketSchema, Wire};
use grest_ws_tests::{LAB_API, Lab, LabQuery, LabState, PATIENCE, Process, RawWs, lab, lab_connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const TOKEN: Wire = Wire::header("token", "authorization").bearer();
const AUTH_LAB_API: WebSocketSchema<Lab> = WebSocketSchema::new("ws/lab-auth").uses(&[TOKEN]);

/// Accepts the tokens currently in the set and records every token it sees.
#[derive(Clone, Default)]
struct TokenBook {
    valid: Arc<Mutex<HashSet<String>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl TokenBook {
    fn allow_only(&self, token: &str) {
        *self.valid.lock().unwrap() = [token.to_owned()].into();
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

impl WireHandler for TokenBook {
    type Principal = String;

    async fn process(&self, token: Option<&str>) -> Result<String, ErrorEnvelope> {
        let token = token.unwrap_or_default().to_owned();
        self.seen.lock().unwrap().push(token.clone());
        if self.valid.lock().unwrap().contains(&token) {
            Ok(token)
        } else {
            Err(NotAuthorized::new().into())
        }
    }
}

/// The lab server with the token wire, killable.
struct Server {
    process: Process,
    sockets: Sockets,
}

impl Server {
    fn start(addr: SocketAddr, state: Arc<LabState>, tokens: TokenBook, config: ServerConfig) -> Server {
        let ws = GrestWs::new()
            .config(config)
            .bind(TOKEN, tokens)
            .ws(LAB_API, lab_connect(state.clone()))
            .ws(AUTH_LAB_API, lab_connect(state));
        let sockets = ws.sockets();
        Server {
            process: Process::start(addr, ws.build().unwrap()),
            sockets,
        }
    }
}

impl std::ops::Deref for Server {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

fn fast_server_config() -> ServerConfig {
    ServerConfig::default().session(SessionConfig::default().heartbeat(Some(short_heartbeat())))
}

fn short_heartbeat() -> Heartbeat {
    Heartbeat {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(150),
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn query() -> LabQuery {
    LabQuery {
        room: "general".into(),
        version: 2,
    }
}

fn quick_reconnect() -> ReconnectConfig {
    ReconnectConfig::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
}

fn quick_config() -> ClientConfig {
    ClientConfig::default()
        .reconnect(Some(quick_reconnect()))
        .session(SessionConfig::default().heartbeat(Some(short_heartbeat())))
}

/// Lifecycle events a client reported.
#[derive(Clone, Default)]
struct Events {
    log: Arc<Mutex<Vec<String>>>,
}

impl Events {
    fn push(&self, event: String) {
        self.log.lock().unwrap().push(event);
    }
    fn all(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
    fn count(&self, prefix: &str) -> usize {
        self.all().iter().filter(|e| e.starts_with(prefix)).count()
    }
}

fn observed<C: grest_ws::DuplexContract, P: grest_ws::client::ParamSource<C>>(
    client: Client<C, P>,
    events: &Events,
) -> Client<C, P> {
    let (a, b, c, d) = (events.clone(), events.clone(), events.clone(), events.clone());
    client
        .on_close(move |reason, error| {
            a.push(format!(
                "close {reason:?} {}",
                error.map(|e| e.to_string()).unwrap_or_default()
            ))
        })
        .on_disconnect(move |reason| b.push(format!("disconnect {reason:?}")))
        .on_error(move |error| c.push(format!("error {error}")))
        .on_reconnect(move || d.push("reconnect".into()))
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "not reached in time: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connects with a setup callback that counts how often it ran.
async fn counted_client(addr: SocketAddr, events: &Events, setups: &Arc<AtomicUsize>) -> lab::Client {
    let setups = setups.clone();
    observed(
        Client::new(LAB_API, format!("ws://{addr}"))
            .query(query())
            .config(quick_config()),
        events,
    )
    .connect_with(move |setup| {
        setups.fetch_add(1, Ordering::SeqCst);
        let _is_reconnect = setup.is_reconnect;
        lab::Handlers::new().on_question(|q| async move { Ok(format!("re: {q}")) })
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn client_reconnects_after_a_server_restart_and_setup_runs_again() {
    let state = Arc::new(LabState::default());
    let mut server = Server::start(any_port(), state.clone(), TokenBook::default(), fast_server_config());
    let addr = server.addr();
    let events = Events::default();
    let setups = Arc::new(AtomicUsize::new(0));
    let client = counted_client(addr, &events, &setups).await;
    assert_eq!(client.room().await.unwrap(), "general@2");
    assert_eq!(setups.load(Ordering::SeqCst), 1);

    server.kill();
    eventually("the drop is noticed", || events.count("disconnect Drop") == 1).await;
    assert!(!client.is_connected());
    match client.room().await {
        Err(lab::RoomError::ServerError(e)) => assert_eq!(
            e.context.display_message.as_deref(),
            Some("Not connected right now: reconnecting…"),
            "words for end users, not advice for programmers"
        ),
        other => panic!("calls fail while disconnected, got {other:?}"),
    }

    let _restarted = Server::start(addr, state.clone(), TokenBook::default(), fast_server_config());
    eventually("the client reconnects", || client.is_connected()).await;
    eventually("on_reconnect is told", || events.count("reconnect") == 1).await;
    assert_eq!(setups.load(Ordering::SeqCst), 2, "setup ran again");
    assert_eq!(client.room().await.unwrap(), "general@2");
    assert_eq!(
        client.ask_client(&"still there?".to_owned()).await.unwrap(),
        "re: still there?",
        "handlers re-registered"
    );
    assert_eq!(events.count("close"), 0);
}

#[tokio::test]
async fn a_request_in_flight_when_the_server_dies_fails_with_socket_closed() {
    let state = Arc::new(LabState::default());
    let mut server = Server::start(any_port(), state, TokenBook::default(), fast_server_config());
    let events = Events::default();
    let client = counted_client(server.addr(), &events, &Arc::new(AtomicUsize::new(0))).await;
    let waiting = tokio::spawn({
        let client = client.clone();
        async move { client.wait_gate().await }
    });
    eventually("the request is pending", || client.handle().pending_requests() == 1).await;
    server.kill();
    match tokio::time::timeout(PATIENCE, waiting).await.unwrap().unwrap() {
        Err(lab::WaitGateError::ServerError(e)) => {
            assert_eq!(e.context.display_message.as_deref(), Some("Socket connection closed!"));
        }
        other => panic!("expected the drop error, got {other:?}"),
    }
}

#[tokio::test]
async fn before_connect_rotates_the_token_across_a_reconnect() {
    let state = Arc::new(LabState::default());
    let tokens = TokenBook::default();
    tokens.allow_only("token-1");
    let mut server = Server::start(any_port(), state.clone(), tokens.clone(), fast_server_config());
    let addr = server.addr();
    let minted = Arc::new(AtomicUsize::new(0));
    let mint = minted.clone();
    let events = Events::default();
    let client = observed(
        Client::before_connect(AUTH_LAB_API, move || {
            let n = mint.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                Ok(ConnectParams::new(format!("ws://{addr}"))
                    .query(query())
                    .credential(TOKEN, format!("token-{n}")))
            }
        }),
        &events,
    )
    .config(quick_config())
    .connect(lab::Handlers::new())
    .await
    .unwrap();
    assert_eq!(client.room().await.unwrap(), "general@2");

    server.kill();
    eventually("the drop is noticed", || events.count("disconnect Drop") == 1).await;
    tokens.allow_only("token-2");
    let _restarted = Server::start(addr, state, tokens.clone(), fast_server_config());
    eventually("reconnected with the fresh token", || client.is_connected()).await;
    assert_eq!(
        tokens.seen(),
        ["token-1", "token-2"],
        "each attempt minted a fresh token"
    );
    assert_eq!(client.room().await.unwrap(), "general@2");
}

#[tokio::test]
async fn terminal_handshake_error_stops_reconnecting_as_unrecoverable() {
    let state = Arc::new(LabState::default());
    let tokens = TokenBook::default();
    tokens.allow_only("good");
    let mut server = Server::start(any_port(), state.clone(), tokens.clone(), fast_server_config());
    let addr = server.addr();
    let events = Events::default();
    let client = observed(
        Client::new(AUTH_LAB_API, format!("ws://{addr}"))
            .query(query())
            .credential(TOKEN, "good")
            .config(quick_config()),
        &events,
    )
    .connect(lab::Handlers::new())
    .await
    .unwrap();
    server.kill();
    tokens.allow_only("revoked-everything");
    let _restarted = Server::start(addr, state, tokens, fast_server_config());
    tokio::time::timeout(PATIENCE, client.handle().closed()).await.unwrap();
    let all = events.all();
    assert!(
        all.iter()
            .any(|e| e.starts_with("close Unrecoverable handshake rejected: NOT_AUTHORIZED")),
        "{all:?}"
    );
    assert_eq!(events.count("close"), 1, "on_close fires once: {all:?}");
    assert_eq!(
        events.count("error the socket failed: the connection ended without a Close frame"),
        1,
        "the killed server's socket: {all:?}"
    );
    assert_eq!(
        events.count("error a reconnect attempt failed"),
        1,
        "no retry after a terminal error: {all:?}"
    );
}

#[tokio::test]
async fn retries_exhausted_after_max_attempts() {
    let state = Arc::new(LabState::default());
    let mut server = Server::start(any_port(), state, TokenBook::default(), fast_server_config());
    let events = Events::default();
    let config = quick_config().reconnect(Some(quick_reconnect().max_attempts(3)));
    let client = observed(
        Client::new(LAB_API, format!("ws://{}", server.addr()))
            .query(query())
            .config(config),
        &events,
    )
    .connect(lab::Handlers::new())
    .await
    .unwrap();
    server.kill();
    tokio::time::timeout(PATIENCE, client.handle().closed()).await.unwrap();
    assert_eq!(
        events.count("error a reconnect attempt failed"),
        3,
        "{:?}",
        events.all()
    );
    assert_eq!(events.count("error the socket failed"), 1, "{:?}", events.all());
    assert_eq!(events.count("close RetriesExhausted"), 1, "{:?}", events.all());
    assert_eq!(events.count("disconnect Drop"), 1);
}

#[tokio::test]
async fn first_connect_failure_is_returned_not_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let events = Events::default();
    let result = observed(
        Client::new(LAB_API, format!("ws://{addr}"))
            .query(query())
            .config(quick_config()),
        &events,
    )
    .connect(lab::Handlers::new())
    .await;
    assert!(matches!(result, Err(ConnectError::Transport { .. })));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(events.all().is_empty(), "no retries, no callbacks: {:?}", events.all());
}

#[tokio::test]
async fn manual_close_reports_once_and_force_reconnect_reconnects() {
    let state = Arc::new(LabState::default());
    let server = Server::start(any_port(), state.clone(), TokenBook::default(), fast_server_config());
    let events = Events::default();
    let setups = Arc::new(AtomicUsize::new(0));
    let client = counted_client(server.addr(), &events, &setups).await;
    client.force_reconnect();
    eventually("force_reconnect reconnected", || {
        setups.load(Ordering::SeqCst) == 2 && client.is_connected()
    })
    .await;
    assert_eq!(client.room().await.unwrap(), "general@2");
    assert_eq!(events.count("disconnect Drop"), 1);
    client.close();
    tokio::time::timeout(PATIENCE, client.handle().closed()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(events.count("close Manual"), 1, "{:?}", events.all());
    assert_eq!(events.count("close"), 1);
    assert_eq!(setups.load(Ordering::SeqCst), 2, "no reconnect after a manual close");
}

/// A TCP proxy whose existing connections can be frozen: bytes stop flowing both ways, nothing is closed.
struct FreezingProxy {
    addr: SocketAddr,
    frozen: Arc<AtomicBool>,
}

impl FreezingProxy {
    async fn start(upstream: SocketAddr) -> FreezingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = Arc::new(AtomicBool::new(false));
        let freeze = frozen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                // Connections made after a freeze flow normally: only the old link goes half-open.
                let frozen = Arc::new(AtomicBool::new(false));
                if !freeze.load(Ordering::SeqCst) {
                    let global = freeze.clone();
                    let this = frozen.clone();
                    tokio::spawn(async move {
                        while !global.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        this.store(true, Ordering::SeqCst);
                    });
                }
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, frozen.clone()));
                tokio::spawn(pump(sr, cw, frozen));
            }
        });
        FreezingProxy { addr, frozen }
    }

    fn freeze_existing(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                if !frozen.load(Ordering::SeqCst) {
                    let _ = to.shutdown().await;
                }
                // A frozen link never tells the other side anything.
                std::future::pending::<()>().await;
            }
            Ok(n) if frozen.load(Ordering::SeqCst) => {
                let _ = n; // swallowed
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[tokio::test]
async fn client_heartbeat_detects_a_half_open_link_and_reconnects() {
    let state = Arc::new(LabState::default());
    // The server's own heartbeat is off, so only the client can notice.
    let server_config = ServerConfig::default().session(SessionConfig::default().heartbeat(None));
    let server = Server::start(any_port(), state.clone(), TokenBook::default(), server_config);
    let proxy = FreezingProxy::start(server.addr()).await;
    let events = Events::default();
    let setups = Arc::new(AtomicUsize::new(0));
    let client = counted_client(proxy.addr, &events, &setups).await;
    assert_eq!(client.room().await.unwrap(), "general@2");
    proxy.freeze_existing();
    eventually("the half-open link is detected", || {
        events.count("disconnect Drop") == 1
    })
    .await;
    assert_eq!(
        events.count("error the socket failed: dropped: nothing heard within the heartbeat deadline"),
        1,
        "the missed heartbeat is reported before the drop: {:?}",
        events.all()
    );
    eventually("and replaced", || {
        client.is_connected() && setups.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(client.room().await.unwrap(), "general@2");
}

#[tokio::test]
async fn server_reaps_a_dead_client_and_keeps_a_live_one() {
    let state = Arc::new(LabState::default());
    let server = Server::start(any_port(), state.clone(), TokenBook::default(), fast_server_config());
    let url = format!("ws://{}/ws/lab?room=a&version=1", server.addr());
    // This one never reads again, so it never answers the server's pings.
    let _dead = RawWs::handshaken(&url).await;
    let mut live = RawWs::handshaken(&url).await;
    eventually("both are counted", || *state.opened.lock().unwrap() == 2).await;
    // Polling answers pings automatically; nothing else is sent for well past the deadline.
    live.expect_silence(Duration::from_millis(700)).await;
    assert_eq!(
        *state.closed.lock().unwrap(),
        1,
        "the dead client was dropped and its on-close hook ran"
    );
    assert_eq!(server.sockets.count(), 1);
    live.send("r:Lab.room:1:").await;
    assert_eq!(
        live.recv_text().await,
        r#"s:Lab.room:1:{"success":true,"type":"OK","data":"a@1"}"#
    );
}

#[tokio::test]
async fn graceful_shutdown_drains_closes_1001_and_clients_reconnect() {
    let state = Arc::new(LabState::default());
    let mut server = Server::start(any_port(), state.clone(), TokenBook::default(), fast_server_config());
    let addr = server.addr();
    let events = Events::default();
    let setups = Arc::new(AtomicUsize::new(0));
    let client = counted_client(addr, &events, &setups).await;
    let mut raw = RawWs::handshaken(&format!("ws://{addr}/ws/lab?room=a&version=1")).await;
    let slow = tokio::spawn({
        let client = client.clone();
        async move { client.sleep(&300).await }
    });
    eventually("the request is in flight", || client.handle().pending_requests() == 1).await;
    let sockets = server.sockets.clone();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        sockets.shutdown(Duration::from_secs(3)).await;
        let _ = done_tx.send(());
    });
    assert_eq!(
        slow.await.unwrap().unwrap(),
        300,
        "the in-flight request finished during the drain"
    );
    assert_eq!(raw.recv_close().await, (Some(1001), "Server shutting down".to_owned()));
    raw.finish().await;
    tokio::time::timeout(PATIENCE, done_rx.recv()).await.unwrap();
    assert_eq!(server.sockets.count(), 0);
    // New upgrades are refused while shutting down.
    let refused = Client::new(LAB_API, format!("ws://{addr}"))
        .query(query())
        .connect(lab::Handlers::new())
        .await;
    assert!(matches!(refused, Err(ConnectError::Refused(503))), "{refused:?}");

    server.kill();
    let _restarted = Server::start(addr, state, TokenBook::default(), fast_server_config());
    eventually("the client reconnects to the restarted server", || {
        setups.load(Ordering::SeqCst) == 2 && client.is_connected()
    })
    .await;
    assert_eq!(client.room().await.unwrap(), "general@2");
    assert_eq!(events.count("disconnect Drop"), 1);
}

#[tokio::test]
async fn without_reconnect_a_drop_is_final() {
    let state = Arc::new(LabState::default());
    let mut server = Server::start(any_port(), state, TokenBook::default(), fast_server_config());
    let events = Events::default();
    let client = observed(
        Client::new(LAB_API, format!("ws://{}", server.addr()))
            .query(query())
            .config(ClientConfig::default().reconnect(None)),
        &events,
    )
    .connect(lab::Handlers::new())
    .await
    .unwrap();
    server.kill();
    tokio::time::timeout(PATIENCE, client.handle().closed()).await.unwrap();
    assert_eq!(
        events.all(),
        [
            "error the socket failed: the connection ended without a Close frame (1006)",
            "disconnect Drop",
            "close Drop "
        ]
    );
}
