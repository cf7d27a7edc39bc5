//! A Redis Cluster: sharded pub/sub (`SPUBLISH`, `SSUBSCRIBE`) through the cluster client, which routes each
//! channel to the shard owning its slot, follows the slot map and subscribes again after a failover.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use crate::{DEFAULT_QUEUE, Shared, Subscriber, backoff, publish, reconcile};

/// Connects to the cluster of `nodes` and starts the publishing and subscribing tasks; returns the publishing
/// queue.
pub(crate) async fn start(nodes: &[&str], shared: Arc<Shared>) -> redis::RedisResult<mpsc::Sender<(String, Bytes)>> {
    let receiver = shared.clone();
    let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(move |push: PushInfo| {
            receive(&receiver, push);
            Ok::<(), std::convert::Infallible>(())
        })
        .build()?;
    let mut connection = client.get_async_connection().await?;
    // Reachable now: a deployment with a wrong address fails at startup, not at the first broadcast.
    redis::cmd("PING").query_async::<()>(&mut connection).await?;
    let (outgoing, queue) = mpsc::channel(DEFAULT_QUEUE);
    let publisher = connection.clone();
    tokio::spawn(publish(
        "SPUBLISH",
        move || std::future::ready(Ok(publisher.clone())),
        queue,
    ));
    tokio::spawn(subscribe(connection, shared));
    Ok(outgoing)
}

/// Hands a shard message to the inbox; subscription confirmations and other pushes need nothing.
fn receive(shared: &Shared, push: PushInfo) {
    if push.kind != PushKind::SMessage {
        return;
    }
    if let [Value::BulkString(channel), Value::BulkString(payload)] = push.data.as_slice() {
        shared.deliver(std::str::from_utf8(channel).unwrap_or_default(), payload);
    }
}

impl Subscriber for ClusterConnection {
    async fn add(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.ssubscribe(channel).await
    }

    async fn remove(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.sunsubscribe(channel).await
    }
}

/// Keeps the cluster subscribed to the wanted channels; a subscription that failed (its shard unreachable) is
/// tried again with backoff. Runs as long as the runtime.
async fn subscribe(mut connection: ClusterConnection, shared: Arc<Shared>) {
    let mut held = HashSet::new();
    let mut attempt = 0;
    loop {
        // Armed before reading what is wanted, so a change made meanwhile is not missed.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        match reconcile(&shared, &mut connection, &mut held).await {
            Ok(()) => {
                attempt = 0;
                changed.await;
            }
            Err(error) => {
                if attempt == 0 {
                    tracing::warn!(%error, "cannot subscribe on the Redis Cluster; retrying");
                }
                backoff(attempt).await;
                attempt += 1;
            }
        }
    }
}
