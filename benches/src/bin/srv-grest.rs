//! **grest-ws**: the `Echo` contract served the way a user would write it — a per-connection session value that
//! implements the generated `echo::Server` trait, mounted on axum with `GrestWs` and default settings.
//! Fan-out loops over the subscribers' typed `echo::Peer` handles (there is no shared pre-serialized broadcast
//! in the public API).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::serve::ListenerExt as _;
use grest_ws::server::{Connected, GrestWs};
use grest_ws_bench::{Control, ECHO_API, Echo, Payload, announce, echo, runtime};

#[derive(Default)]
struct State {
    ingested: AtomicU64,
    next_id: AtomicU64,
    subscribers: Mutex<HashMap<u64, echo::Peer>>,
}

struct Session {
    id: u64,
    peer: echo::Peer,
    state: Arc<State>,
}

impl echo::Server for Session {
    async fn echo(&self, input: Payload) -> Result<Payload, echo::EchoError> {
        Ok(input)
    }

    async fn ingest(&self, _input: Payload) {
        self.state.ingested.fetch_add(1, Ordering::Relaxed);
    }

    async fn stats(&self) -> Result<u64, echo::StatsError> {
        Ok(self.state.ingested.load(Ordering::Relaxed))
    }

    async fn start_ask(&self, input: Control) {
        for _ in 0..input.n {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let payload = Payload::new(1);
                while peer.ask(&payload).await.is_ok() {}
            });
        }
    }

    async fn start_push(&self, _input: Control) {
        let peer = self.peer.clone();
        tokio::spawn(async move {
            let payload = Payload::new(1);
            while peer.pushed(&payload).await.is_ok() {}
        });
    }

    async fn subscribe(&self) -> Result<bool, echo::SubscribeError> {
        lock(&self.state.subscribers).insert(self.id, self.peer.clone());
        let state = self.state.clone();
        let id = self.id;
        self.peer.handle().on_close(move || {
            lock(&state.subscribers).remove(&id);
        });
        Ok(true)
    }

    async fn publish(&self, input: Payload) -> Result<u64, echo::PublishError> {
        let subscribers: Vec<echo::Peer> = lock(&self.state.subscribers).values().cloned().collect();
        // Serialized once for every subscriber, as the grest-ws docs recommend for fan-out.
        let prepared = echo::Peer::prepare_news(&input).map_err(echo::PublishError::from)?;
        for peer in &subscribers {
            let _ = peer.send_prepared(&prepared).await;
        }
        Ok(subscribers.len() as u64)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn main() {
    let state = Arc::new(State::default());
    runtime().block_on(async move {
        let router = GrestWs::new()
            .ws(ECHO_API, move |conn: Connected<Echo>| {
                let session = Session {
                    id: state.next_id.fetch_add(1, Ordering::Relaxed),
                    peer: conn.peer,
                    state: state.clone(),
                };
                async move { session }
            })
            .build()
            .expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("addr").port());
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, router).await.expect("serve");
    });
}
