//! **grest-ws**: the `Echo` contract served the way a user would write it — a per-connection session value that
//! implements the generated `echo::Server` trait, mounted on axum with `GrestWs` and default settings.
//! Fan-out is a broadcast to a room (`Rooms::to(..).send`): serialized once, queued on every subscriber without
//! waiting. The server itself is [`grest_ws_bench::grest_server`] (shared with `soak serve`).

use grest_ws_bench::{announce, grest_server, runtime};

fn main() {
    runtime().block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("addr").port());
        grest_server::serve(listener).await;
    });
}
