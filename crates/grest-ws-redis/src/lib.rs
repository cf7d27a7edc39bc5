//! A grest-ws [`Backplane`] on Redis pub/sub: the rooms of several server processes behind a load balancer
//! become one set of rooms.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grest_ws_redis::RedisBackplane;
//! use grest_ws_server::GrestWs;
//!
//! let backplane = RedisBackplane::connect("redis://127.0.0.1:6379").await?;
//! let router = GrestWs::new()
//!     .backplane(backplane)
//!     // .ws(CHAT_API, ...) as without a backplane
//!     .build()?;
//! # let _ = router; Ok(()) }
//! ```
//!
//! How it uses Redis:
//!
//! * Topics become channels in a namespace (`grest-ws:` by default, [`RedisBackplane::connect_in`] for another),
//!   so several applications can share one Redis.
//! * Two connections: one publishes (`PUBLISH`, pipelined by the multiplexed connection), one subscribes. A node
//!   subscribes to a room's channel only while it has members in that room.
//! * Publishing never waits: broadcasts queue for the publishing connection (bounded, 4096 messages by default);
//!   past that, and for messages Redis could not take, `websocket_backplane_publish_failed_total` counts them and
//!   a warning (at most one a second) says so. Local delivery never depends on Redis.
//! * Both connections reconnect by themselves, with backoff from 100 ms to 5 s; the subscriber subscribes again
//!   to every channel it holds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use grest_ws_server::{Backplane, Inbox, PublishError};
use grest_ws_session::LogLimit;
use tokio::sync::{Notify, mpsc};

/// Messages waiting for the publishing connection before broadcasts fail with [`PublishError::Full`].
pub const DEFAULT_QUEUE: usize = 4096;

/// The namespace of channel names unless another is given.
pub const DEFAULT_NAMESPACE: &str = "grest-ws";

/// A backplane on one Redis server (or any server speaking its pub/sub: Valkey, KeyDB, a Redis Cluster node).
/// Cheap to clone. Its publishing connection lives as long as a clone does; its subscribing connection as long as
/// the runtime.
#[derive(Clone)]
pub struct RedisBackplane {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<(String, Bytes)>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("namespace", &self.shared.namespace)
            .finish_non_exhaustive()
    }
}

/// What the two connection tasks share with the backplane.
struct Shared {
    client: redis::Client,
    namespace: String,
    /// The channels this node wants (full names); the subscriber makes Redis agree after each change and after
    /// each reconnect.
    wanted: Mutex<HashSet<String>>,
    changed: Notify,
    inbox: OnceLock<Inbox>,
}

impl RedisBackplane {
    /// Connects to the Redis at `url` (`redis://host:port`), in the default namespace. Fails when Redis cannot be
    /// reached now; later outages are ridden out.
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        RedisBackplane::connect_in(url, DEFAULT_NAMESPACE).await
    }

    /// Connects with channel names in `namespace` (`namespace:…`).
    pub async fn connect_in(url: &str, namespace: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        // Reachable now: a deployment with a wrong address fails at startup, not at the first broadcast.
        let mut probe = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<()>(&mut probe).await?;
        let shared = Arc::new(Shared {
            client,
            namespace: namespace.to_owned(),
            wanted: Mutex::new(HashSet::new()),
            changed: Notify::new(),
            inbox: OnceLock::new(),
        });
        let (outgoing, queue) = mpsc::channel(DEFAULT_QUEUE);
        tokio::spawn(publish(shared.clone(), probe, queue));
        tokio::spawn(subscribe(shared.clone()));
        Ok(RedisBackplane { shared, outgoing })
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}:{topic}", self.shared.namespace)
    }

    fn wanted(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.shared.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backplane for RedisBackplane {
    fn start(&self, inbox: Inbox) {
        let _ = self.shared.inbox.set(inbox);
        self.shared.changed.notify_one();
    }

    fn publish(&self, topic: &str, payload: Bytes) -> Result<(), PublishError> {
        self.outgoing
            .try_send((self.channel(topic), payload))
            .map_err(PublishError::from)
    }

    fn subscribe(&self, topic: &str) {
        if self.wanted().insert(self.channel(topic)) {
            self.shared.changed.notify_one();
        }
    }

    fn unsubscribe(&self, topic: &str) {
        if self.wanted().remove(&self.channel(topic)) {
            self.shared.changed.notify_one();
        }
    }
}

/// Waits before reconnection attempt `attempt` (0, 1, …): 100 ms doubling to 5 s.
async fn backoff(attempt: u32) {
    let delay = Duration::from_millis(100).saturating_mul(1 << attempt.min(6));
    tokio::time::sleep(delay.min(Duration::from_secs(5))).await;
}

/// Counts and reports broadcasts that did not reach Redis.
fn failed(count: u64, error: &redis::RedisError) {
    metrics::counter!("websocket_backplane_publish_failed_total", "stage" => "engine").increment(count);
    static LIMIT: LogLimit = LogLimit::new(1);
    if let Some(suppressed) = LIMIT.admit() {
        tracing::warn!(%error, count, suppressed, "broadcasts could not be published to Redis");
    }
}

/// The publishing connection: sends queued messages in order, reconnecting after a failure. A message whose
/// `PUBLISH` failed is counted as failed, not retried (its recipients may have moved on by then).
async fn publish(
    shared: Arc<Shared>,
    first: redis::aio::MultiplexedConnection,
    mut queue: mpsc::Receiver<(String, Bytes)>,
) {
    let mut connection = Some(first);
    let mut attempt = 0;
    while let Some((channel, payload)) = queue.recv().await {
        let conn = match &mut connection {
            Some(conn) => conn,
            None => match shared.client.get_multiplexed_async_connection().await {
                Ok(conn) => {
                    attempt = 0;
                    tracing::info!(namespace = %shared.namespace, "reconnected to Redis (publishing)");
                    connection.insert(conn)
                }
                Err(error) => {
                    failed(1, &error);
                    backoff(attempt).await;
                    attempt += 1;
                    continue;
                }
            },
        };
        let sent = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(payload.as_ref())
            .query_async::<i64>(conn)
            .await;
        if let Err(error) = sent {
            failed(1, &error);
            connection = None;
        }
    }
}

/// The subscribing connection: keeps Redis subscribed to the wanted channels and hands every message to the
/// inbox, reconnecting (and subscribing again) after a failure. Runs as long as the runtime.
async fn subscribe(shared: Arc<Shared>) {
    let mut attempt = 0;
    loop {
        match shared.client.get_async_pubsub().await {
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
async fn serve(shared: &Shared, pubsub: redis::aio::PubSub) {
    let (mut sink, mut stream) = pubsub.split();
    let mut subscribed: HashSet<String> = HashSet::new();
    let namespace_len = shared.namespace.len() + 1;
    loop {
        // Armed before reading what is wanted, so a change made meanwhile is not missed.
        let changed = shared.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let wanted = shared.wanted.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for channel in wanted.difference(&subscribed) {
            if sink.subscribe(channel).await.is_err() {
                return;
            }
        }
        for channel in subscribed.difference(&wanted) {
            if sink.unsubscribe(channel).await.is_err() {
                return;
            }
        }
        subscribed = wanted;
        let inbox = shared.inbox.get().cloned();
        loop {
            tokio::select! {
                () = &mut changed => break,
                message = stream.next() => match message {
                    None => return,
                    Some(message) => {
                        if let Some(inbox) = &inbox {
                            let topic = message.get_channel_name().get(namespace_len..).unwrap_or_default();
                            inbox.deliver(topic, message.get_payload_bytes());
                        }
                    }
                },
            }
        }
    }
}
