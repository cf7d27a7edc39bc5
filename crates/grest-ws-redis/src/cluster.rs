//! A Redis Cluster: sharded pub/sub (`SPUBLISH`, `SSUBSCRIBE`) through the cluster client, which routes each
//! channel to the shard owning its slot and follows the slot map; after a lost shard connection the backplane
//! subscribes again itself.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::{Notify, mpsc};

use crate::{DEFAULT_QUEUE, Shared, Subscriber, backoff, publish, reconcile};

/// Connects to the cluster of `nodes` and starts the publishing and subscribing tasks; returns the publishing
/// queue.
pub(crate) async fn start(nodes: &[&str], shared: Arc<Shared>) -> redis::RedisResult<mpsc::Sender<(String, Bytes)>> {
    let receiver = shared.clone();
    let lost = Arc::new(Notify::new());
    let lost_connection = lost.clone();
    let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(move |push: PushInfo| {
            if push.kind == PushKind::Disconnection {
                lost_connection.notify_one();
            }
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
    tokio::spawn(subscribe(connection, shared, lost));
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
/// tried again with backoff. When a shard's connection is `lost`, pings every shard until all answer (the cluster
/// client repairs connections when a command needs them), then subscribes again to every wanted channel. Runs as
/// long as the runtime.
async fn subscribe(mut connection: ClusterConnection, shared: Arc<Shared>, lost: Arc<Notify>) {
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
                tokio::select! {
                    () = changed => {}
                    () = lost.notified() => {
                        repair(&mut connection).await;
                        // Subscribe again to everything: a shard that restarted remembers nothing.
                        held.clear();
                    }
                }
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

/// Pings every shard, with backoff, until all answer.
async fn repair(connection: &mut ClusterConnection) {
    tracing::warn!("lost a Redis Cluster connection; reconnecting");
    let mut attempt = 0;
    loop {
        backoff(attempt).await;
        if redis::cmd("PING").query_async::<()>(connection).await.is_ok() {
            tracing::info!("reconnected to the Redis Cluster");
            return;
        }
        attempt += 1;
    }
}
