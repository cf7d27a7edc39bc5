//! The grest-ws server of the `Echo` contract, written the way a user would write it — a per-connection session
//! value that implements the generated `echo::Server` trait, mounted on axum with `GrestWs` and default settings.
//! Fan-out is a broadcast to a room (`Rooms::to(..).send`): serialized once, queued on every subscriber without
//! waiting. Shared by `srv-grest` (the benchmark peer) and `soak serve` (the soak test's server).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::serve::ListenerExt as _;
use grest_ws::server::{Connected, GrestWs, Rooms};

use crate::{Control, ECHO_API, Echo, Payload, Post, Room, echo};

/// The room every subscriber joins.
const SUBSCRIBERS: &str = "subscribers";

/// What every connection of one server shares.
#[derive(Default)]
struct State {
    /// `ingest` messages handled so far.
    ingested: AtomicU64,
}

/// One connection's session value.
struct Session {
    peer: echo::Peer,
    rooms: Rooms<Echo>,
    state: Arc<State>,
}

impl echo::Server for Session {
    async fn echo(&self, input: Payload) -> grest_ws::HandlerResult<Payload, echo::EchoError> {
        Ok(input)
    }

    async fn ingest(&self, _input: Payload) {
        self.state.ingested.fetch_add(1, Ordering::Relaxed);
    }

    async fn stats(&self) -> grest_ws::HandlerResult<u64, echo::StatsError> {
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

    async fn subscribe(&self) -> grest_ws::HandlerResult<bool, echo::SubscribeError> {
        Ok(self.rooms.join(self.peer.id(), SUBSCRIBERS))
    }

    async fn publish(&self, input: Payload) -> grest_ws::HandlerResult<u64, echo::PublishError> {
        let prepared = echo::Peer::prepare_news(&input).map_err(echo::PublishError::from)?;
        Ok(self.rooms.to(SUBSCRIBERS).send(&prepared).queued as u64)
    }

    async fn join(&self, input: Room) -> grest_ws::HandlerResult<bool, echo::JoinError> {
        Ok(self.rooms.join(self.peer.id(), &input.name))
    }

    async fn publish_to(&self, input: Post) -> grest_ws::HandlerResult<u64, echo::PublishToError> {
        let prepared = echo::Peer::prepare_news(&input.news).map_err(echo::PublishToError::from)?;
        Ok(self.rooms.to(&input.room).send(&prepared).queued as u64)
    }
}

/// The `Echo` contract's router with default settings.
pub fn router() -> axum::Router {
    router_on(GrestWs::new())
}

/// The `Echo` contract's router on `server` (a [`GrestWs`] with a backplane, in the cross-node benchmarks).
pub fn router_on(server: GrestWs) -> axum::Router {
    let state = Arc::new(State::default());
    server
        .ws(ECHO_API, move |conn: Connected<Echo>| {
            let session = Session {
                peer: conn.peer,
                rooms: conn.rooms,
                state: state.clone(),
            };
            async move { session }
        })
        .build()
        .expect("router")
}

/// Serves `router` (from [`router`] or [`router_on`]) on `listener` with `axum::serve`, as every benchmark peer is
/// served, until the process ends; every accepted socket goes through [`crate::tune`].
pub async fn serve(listener: tokio::net::TcpListener, router: axum::Router) {
    let listener = listener.tap_io(|tcp| {
        crate::tune(tcp);
    });
    axum::serve(listener, router).await.expect("serve");
}
