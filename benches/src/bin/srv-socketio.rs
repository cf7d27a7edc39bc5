//! **socketioxide** on axum: `echo` as emit-with-ack, `ingest` as a plain emit (counted), `stats`, `startAsk`
//! (the server keeps N `ask` emits-with-ack in flight to the client), `startPush` (the server emits `pushed` as
//! fast as its channel takes them), `subscribe` (join room `news`) and `publish` (room emit). Defaults, or
//! `--read-buf 8192` for an 8 KiB WebSocket read buffer. `--redis redis://HOST:PORT` makes the process one node of
//! a cluster through `socketioxide-redis` (its adapter on the `redis` crate, RESP3), as in S8.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::serve::ListenerExt as _;
use grest_ws_bench::{Control, Payload, announce, arg, args, runtime};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide_core::adapter::DefinedAdapter;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};

fn main() {
    let args = args();
    let read_buf: Option<usize> = arg(&args, "read-buf").and_then(|v| v.parse().ok());
    let redis_url = arg(&args, "redis").map(str::to_owned);
    runtime().block_on(async move {
        let mut builder = SocketIo::builder().ack_timeout(Duration::from_secs(30));
        if let Some(size) = read_buf {
            builder = builder.ws_read_buffer_size(size);
        }
        let app = match redis_url {
            Some(url) => {
                // The adapter's drivers speak RESP3 (Redis 7 and later).
                let client = redis::Client::open(format!("{url}?protocol=resp3")).expect("redis url");
                let adapter = RedisAdapterCtr::new_with_redis(&client).await.expect("redis adapter");
                let (layer, io) = builder.with_adapter::<RedisAdapter<_>>(adapter).build_layer();
                namespace(&io).await.expect("namespace");
                axum::Router::new().layer(layer)
            }
            None => {
                let (layer, io) = builder.build_layer();
                namespace(&io);
                axum::Router::new().layer(layer)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("addr").port());
        let listener = listener.tap_io(|tcp| {
            grest_ws_bench::tune(tcp);
        });
        axum::serve(listener, app).await.expect("serve");
    });
}

/// Sets up namespace `/` on `io`, whatever its adapter (the Redis adapter's setup is a future to await).
fn namespace<A: Adapter + DefinedAdapter>(io: &SocketIo<A>) -> A::InitRes {
    let ingested = Arc::new(AtomicU64::new(0));
    let io2 = io.clone();
    io.ns("/", async move |s: SocketRef<A>| {
        s.on("echo", async |Data::<Payload>(p), ack: AckSender<A>| {
            let _ = ack.send(&p);
        });
        let count = ingested.clone();
        s.on("ingest", async move |Data::<Payload>(_p)| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        let count = ingested.clone();
        s.on("stats", async move |ack: AckSender<A>| {
            let _ = ack.send(&count.load(Ordering::Relaxed));
        });
        s.on("startAsk", async |s: SocketRef<A>, Data::<Control>(c)| {
            for _ in 0..c.n {
                let s = s.clone();
                tokio::spawn(async move {
                    let payload = Payload::new(1);
                    loop {
                        let Ok(ack) = s.emit_with_ack::<_, Payload>("ask", &payload) else {
                            break;
                        };
                        if ack.await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        s.on("startPush", async |s: SocketRef<A>| {
            tokio::spawn(push_loop(s));
        });
        s.on("subscribe", async |s: SocketRef<A>, ack: AckSender<A>| {
            s.join("news");
            let _ = ack.send(&true);
        });
        let io = io2.clone();
        s.on("publish", async move |Data::<Payload>(p), ack: AckSender<A>| {
            let _ = io.to("news").emit("news", &p).await;
            let _ = ack.send(&1);
        });
    })
}

async fn push_loop<A: Adapter>(s: SocketRef<A>) {
    use socketioxide::SendError;
    use socketioxide::SocketError;
    let payload = Payload::new(1);
    loop {
        match s.emit("pushed", &payload) {
            Ok(()) => {}
            // The socket's internal channel is full: let its writer drain it.
            Err(SendError::Socket(SocketError::InternalChannelFull)) => tokio::task::yield_now().await,
            Err(_) => return,
        }
    }
}
