//! **grest-ws**: the `Echo` contract served the way a user would write it — a per-connection session value that
//! implements the generated `echo::Server` trait, mounted on axum with `GrestWs` and default settings.
//! Fan-out is a broadcast to a room (`Rooms::to(..).send`): serialized once, queued on every subscriber without
//! waiting. The server itself is [`grest_ws_bench::grest_server`] (shared with `soak serve`).
//!
//! `--redis redis://HOST:PORT` or `--nats nats://HOST:PORT` makes the process one node of a cluster sharing its
//! rooms through that backplane (S8 and the scaling simulation); without either it is a single server.

use grest_ws::server::GrestWs;
use grest_ws_bench::{announce, arg, args, grest_server, runtime};

fn main() {
    let args = args();
    runtime().block_on(async move {
        let mut server = GrestWs::new();
        if let Some(url) = arg(&args, "redis") {
            let backplane = grest_ws_redis::RedisBackplane::connect(url)
                .await
                .expect("redis backplane");
            server = server.backplane(backplane);
        } else if let Some(url) = arg(&args, "nats") {
            let backplane = grest_ws_nats::NatsBackplane::connect(url)
                .await
                .expect("nats backplane");
            server = server.backplane(backplane);
        }
        let router = grest_server::router_on(server);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        announce(listener.local_addr().expect("addr").port());
        grest_server::serve(listener, router).await;
    });
}
