//! **socketioxide** on axum: `echo` as emit-with-ack, `ingest` as a plain emit (counted), `stats`, `startAsk`
//! (the server keeps N `ask` emits-with-ack in flight to the client), `startPush` (the server emits `pushed` as
//! fast as its channel takes them), `subscribe` (join room `news`) and `publish` (room emit). Defaults, or
//! `--read-buf 8192` for an 8 KiB WebSocket read buffer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::serve::ListenerExt as _;
use grest_ws_bench::{Control, Payload, announce, arg, args, runtime};
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Data, SocketRef};

fn main() {
    let args = args();
    let read_buf: Option<usize> = arg(&args, "read-buf").and_then(|v| v.parse().ok());
    let ingested = Arc::new(AtomicU64::new(0));
    runtime().block_on(async move {
        let mut builder = SocketIo::builder().ack_timeout(Duration::from_secs(30));
        if let Some(size) = read_buf {
            builder = builder.ws_read_buffer_size(size);
        }
        let (layer, io) = builder.build_layer();
        let io2 = io.clone();
        io.ns("/", async move |s: SocketRef| {
            s.on("echo", async |Data::<Payload>(p), ack: AckSender| {
                let _ = ack.send(&p);
            });
            let count = ingested.clone();
            s.on("ingest", async move |Data::<Payload>(_p)| {
                count.fetch_add(1, Ordering::Relaxed);
            });
            let count = ingested.clone();
            s.on("stats", async move |ack: AckSender| {
                let _ = ack.send(&count.load(Ordering::Relaxed));
            });
            s.on("startAsk", async |s: SocketRef, Data::<Control>(c)| {
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
            s.on("startPush", async |s: SocketRef| {
                tokio::spawn(push_loop(s));
            });
            s.on("subscribe", async |s: SocketRef, ack: AckSender| {
                s.join("news");
                let _ = ack.send(&true);
            });
            let io = io2.clone();
            s.on("publish", async move |Data::<Payload>(p), ack: AckSender| {
                let _ = io.to("news").emit("news", &p).await;
                let _ = ack.send(&1);
            });
        });
        let app = axum::Router::new().layer(layer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("addr").port());
        let listener = listener.tap_io(|tcp| {
            grest_ws_bench::tune(tcp);
        });
        axum::serve(listener, app).await.expect("serve");
    });
}

async fn push_loop(s: SocketRef) {
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
