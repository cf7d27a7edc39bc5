//! **jsonrpsee**: a JSON-RPC 2.0 WebSocket server with typed methods `echo(Payload) -> Payload`, `ingest`
//! (notification, counted) and `stats`. The default 100-connection cap is raised to 20 000. Server-to-client
//! requests, pushes and fan-out are not JSON-RPC methods (subscriptions are a different model), so S3–S5 are n/a.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use grest_ws_bench::{Payload, announce, runtime};
use jsonrpsee::RpcModule;
use jsonrpsee::server::{Server, ServerConfig};
use jsonrpsee::types::ErrorObjectOwned;

fn main() {
    runtime().block_on(async move {
        let config = ServerConfig::builder()
            .max_connections(20_000)
            .set_tcp_no_delay(true)
            .build();
        let server = Server::builder()
            .set_config(config)
            .build("127.0.0.1:0")
            .await
            .expect("bind");
        let mut module = RpcModule::new(Arc::new(AtomicU64::new(0)));
        module
            .register_method("echo", |params, _, _| params.one::<Payload>())
            .expect("echo");
        module
            .register_method("ingest", |params, count, _| {
                let _payload: Payload = params.one()?;
                count.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ErrorObjectOwned>(())
            })
            .expect("ingest");
        module
            .register_method("stats", |_, count, _| count.load(Ordering::Relaxed))
            .expect("stats");
        announce(server.local_addr().expect("addr").port());
        let handle = server.start(module);
        handle.stopped().await;
    });
}
