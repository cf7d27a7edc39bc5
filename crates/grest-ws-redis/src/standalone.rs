//! One Redis server: `PUBLISH` on a multiplexed connection, `SUBSCRIBE` on a connection of its own, each
//! reconnecting by itself.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub, PubSubSink};
use tokio::sync::mpsc;

use crate::{DEFAULT_QUEUE, Shared, Subscriber, backoff, publish, reconcile};

/// Checks that Redis answers at `url` and starts the publishing and subscribing tasks; returns the publishing
/// queue.
pub(crate) async fn start(url: &str, shared: Arc<Shared>) -> redis::RedisResult<mpsc::Sender<(String, Bytes)>> {
    let client = redis::Client::open(url)?;
    // Reachable now: a deployment with a wrong address fails at startup, not at the first broadcast.
    let mut probe = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING").query_async::<()>(&mut probe).await?;
    let (outgoing, queue) = mpsc::channel(DEFAULT_QUEUE);
    let mut first = Some(probe);
    let publisher = client.clone();
    let namespace = shared.namespace.clone();
    tokio::spawn(publish(
        "PUBLISH",
        move || {
            let first = first.take();
            let publisher = publisher.clone();
            let namespace = namespace.clone();
            async move {
                match first {
                    Some(conn) => Ok(conn),
                    None => {
                        let conn: MultiplexedConnection = publisher.get_multiplexed_async_connection().await?;
                        tracing::info!(%namespace, "reconnected to Redis (publishing)");
                        Ok(conn)
                    }
                }
            }
        },
        queue,
    ));
    tokio::spawn(subscribe(client, shared));
    Ok(outgoing)
}

impl Subscriber for PubSubSink {
    async fn add(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.subscribe(channel).await
    }

    async fn remove(&mut self, channel: &str) -> redis::RedisResult<()> {
        self.unsubscribe(channel).await
    }
}

/// The subscribing connection: keeps Redis subscribed to the wanted channels and hands every message to the
/// inbox, reconnecting (and subscribing again) after a failure. Runs as long as the runtime.
async fn subscribe(client: redis::Client, shared: Arc<Shared>) {
    let mut attempt = 0;
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                if attempt > 0 {
                    tracing::info!(namespace = %shared.namespace, "reconnected to Redis (subscribed)");
                }
                attempt = 0;
                serve(&shared, pubsub).await;
            }
            Err(error) => {
                if attempt == 0 {
                    tracing::warn!(%error, "cannot reach Redis to subscribe; retrying");
                }
                backoff(attempt).await;
                attempt += 1;
            }
        }
    }
}

/// Runs one subscribing connection until it fails.
async fn serve(shared: &Shared, pubsub: PubSub) {
    let (mut sink, mut stream) = pubsub.split();
    let mut held = HashSet::new();
    loop {
        // Armed before reading what is wanted, so a change made meanwhile is not missed.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if reconcile(shared, &mut sink, &mut held).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                () = &mut changed => break,
                message = stream.next() => match message {
                    None => return,
                    Some(message) => shared.deliver(message.get_channel_name(), message.get_payload_bytes()),
                },
            }
        }
    }
}
