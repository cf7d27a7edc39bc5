//! **raw**: the practical limit. Replies to everything received in one read are written with one flush
//! (`--flush-each` flushes per message instead, like a server that calls `send` per reply). tokio-tungstenite with 8 KiB read/write buffers (or tungstenite's defaults with
//! `--default-buffers`), hand-rolled just enough of the grest frames to run every scenario:
//! `h` → `k:::null`; `r:Echo.echo` echoed verbatim (the same bytes come back, no parse, no copy);
//! `m:Echo.ingest` counted; `r:Echo.stats` answered; `m:Echo.startAsk` keeps N `r:Echo.ask` in flight;
//! `m:Echo.startPush` pushes a pre-serialized frame in a loop; `r:Echo.subscribe`/`r:Echo.publish` fan out one
//! pre-serialized shared payload through a broadcast channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{FutureExt, SinkExt, StreamExt};
use grest_ws_bench::{Payload, announce, arg, args, runtime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

struct State {
    /// `--flush-each`: flush after every reply instead of once per batch of received messages (what a server
    /// that calls `send` per message does); shows what write coalescing is worth.
    flush_each: bool,
    ingested: AtomicU64,
    news: broadcast::Sender<Utf8Bytes>,
    config: WebSocketConfig,
    push_frame: Utf8Bytes,
    ask_body: String,
}

fn main() {
    let args = args();
    let config = if arg(&args, "default-buffers").is_some() {
        WebSocketConfig::default()
    } else {
        WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(8 * 1024)
    };
    let payload = serde_json::to_string(&Payload::new(1)).expect("payload");
    let state = Arc::new(State {
        flush_each: arg(&args, "flush-each").is_some(),
        ingested: AtomicU64::new(0),
        news: broadcast::channel(4096).0,
        config,
        push_frame: Utf8Bytes::from(format!("m:Echo.pushed::{payload}")),
        ask_body: payload,
    });
    runtime().block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("addr").port());
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            grest_ws_bench::tune(&stream);
            tokio::spawn(connection(stream, state.clone()));
        }
    });
}

enum Mode {
    Idle,
    Push,
}

async fn connection(stream: TcpStream, state: Arc<State>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(state.config)).await else {
        return;
    };
    let mut news: Option<broadcast::Receiver<Utf8Bytes>> = None;
    let mut mode = Mode::Idle;
    let mut next_ask: u64 = 1;
    loop {
        tokio::select! {
            biased;
            inbound = ws.next() => {
                let Some(Ok(message)) = inbound else { return };
                // Handle everything already received, then flush the replies with one write.
                let mut next = Some(message);
                while let Some(message) = next.take() {
                    match handle(message, &state, &mut ws, &mut news, &mut mode, &mut next_ask).await {
                        Ok(true) => {}
                        Ok(false) | Err(_) => return,
                    }
                    if state.flush_each && ws.flush().await.is_err() {
                        return;
                    }
                    if let Some(Some(Ok(more))) = ws.next().now_or_never() {
                        next = Some(more);
                    }
                }
                if ws.flush().await.is_err() { return; }
            }
            item = recv(&mut news), if news.is_some() => match item {
                Ok(frame) => {
                    if ws.feed(Message::Text(frame)).await.is_err() { return; }
                    while let Some(Ok(frame)) = news.as_mut().filter(|_| !state.flush_each).map(broadcast::Receiver::try_recv) {
                        if ws.feed(Message::Text(frame)).await.is_err() { return; }
                    }
                    if ws.flush().await.is_err() { return; }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => eprintln!("subscriber lagged by {n}"),
                Err(broadcast::error::RecvError::Closed) => news = None,
            },
            () = std::future::ready(()), if matches!(mode, Mode::Push) => {
                for _ in 0..if state.flush_each { 1 } else { 16 } {
                    if ws.feed(Message::Text(state.push_frame.clone())).await.is_err() { return; }
                }
                if ws.flush().await.is_err() { return; }
            }
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Handles one inbound message, queueing (not flushing) any reply; `Ok(false)` ends the connection.
async fn handle(
    message: Message,
    state: &State,
    ws: &mut Ws,
    news: &mut Option<broadcast::Receiver<Utf8Bytes>>,
    mode: &mut Mode,
    next_ask: &mut u64,
) -> Result<bool, tokio_tungstenite::tungstenite::Error> {
    let Message::Text(text) = message else {
        return Ok(!matches!(message, Message::Close(_)));
    };
    let t = text.as_str();
    let reply = if t.starts_with("h:") {
        Some(Message::text("k:::null"))
    } else if t.starts_with("r:Echo.echo:") {
        Some(Message::Text(text))
    } else if t.starts_with("m:Echo.ingest:") {
        state.ingested.fetch_add(1, Ordering::Relaxed);
        None
    } else if t.starts_with("s:Echo.ask:") {
        // One answered: keep the window full.
        let frame = format!("r:Echo.ask:{next_ask}:{}", state.ask_body);
        *next_ask += 1;
        Some(Message::text(frame))
    } else if let Some(rest) = t.strip_prefix("r:Echo.stats:") {
        let id = rest.split(':').next().unwrap_or("");
        let n = state.ingested.load(Ordering::Relaxed);
        Some(Message::text(format!(
            "s:Echo.stats:{id}:{{\"success\":true,\"type\":\"OK\",\"data\":{n}}}"
        )))
    } else if let Some(rest) = t.strip_prefix("m:Echo.startAsk::") {
        let n = serde_json::from_str::<grest_ws_bench::Control>(rest).map_or(16, |c| c.n);
        for _ in 0..n {
            let frame = format!("r:Echo.ask:{next_ask}:{}", state.ask_body);
            *next_ask += 1;
            ws.feed(Message::text(frame)).await?;
        }
        None
    } else if t.starts_with("m:Echo.startPush:") {
        *mode = Mode::Push;
        None
    } else if let Some(rest) = t.strip_prefix("r:Echo.subscribe:") {
        *news = Some(state.news.subscribe());
        let id = rest.split(':').next().unwrap_or("");
        Some(Message::text(format!(
            "s:Echo.subscribe:{id}:{{\"success\":true,\"type\":\"OK\",\"data\":true}}"
        )))
    } else if let Some(rest) = t.strip_prefix("r:Echo.publish:") {
        let (id, data) = rest.split_once(':').unwrap_or((rest, ""));
        let n = state
            .news
            .send(Utf8Bytes::from(format!("m:Echo.news::{data}")))
            .unwrap_or(0);
        Some(Message::text(format!(
            "s:Echo.publish:{id}:{{\"success\":true,\"type\":\"OK\",\"data\":{n}}}"
        )))
    } else if t.starts_with("m:") {
        None
    } else {
        Some(Message::Text(text))
    };
    if let Some(reply) = reply {
        ws.feed(reply).await?;
    }
    Ok(true)
}

async fn recv(rx: &mut Option<broadcast::Receiver<Utf8Bytes>>) -> Result<Utf8Bytes, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
