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
//! A Redis Cluster takes [`RedisBackplane::connect_cluster`] with the addresses of some of its nodes:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grest_ws_redis::RedisBackplane;
//!
//! let backplane = RedisBackplane::connect_cluster(&["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]).await?;
//! # let _ = backplane; Ok(()) }
//! ```
//!
//! How it uses Redis:
//!
//! * Topics become channels in a namespace (`grest-ws:` by default, [`RedisBackplane::connect_in`] for another),
//!   so several applications can share one Redis. A node subscribes to a room's channel only while it has members
//!   in that room.
//! * **One server** (Redis, Valkey, KeyDB): classic pub/sub, `PUBLISH` and `SUBSCRIBE`, on two connections (one
//!   publishes, one subscribes).
//! * **A Redis Cluster** (7.0 or later): sharded pub/sub, `SPUBLISH` and `SSUBSCRIBE`. Each channel lives on the
//!   shard that owns its hash slot, so a broadcast crosses one shard instead of every node of the cluster, and
//!   rooms spread over the shards. The cluster client follows the slot map; when a shard's connection drops, the
//!   backplane pings the shards until they answer and subscribes again.
//! * Publishing never waits: broadcasts queue for the publishing connection (bounded, [`DEFAULT_QUEUE`]
//!   messages) and go out pipelined, up to 64 per write. Past the bound, and for messages Redis could not take,
//!   `websocket_backplane_publish_failed_total` counts them and a warning (at most one a second) says so. Local
//!   delivery never depends on Redis.
//! * Connections to a single server reconnect by themselves, with backoff from 100 ms to 2 s, and subscribe
//!   again to every channel the node holds.
//! * A node that reads too slowly is Redis's to cut off (`client-output-buffer-limit pubsub`, 32 MB by default):
//!   the others never wait for it. It reconnects and subscribes again; what it missed meanwhile is gone, as with
//!   any pub/sub.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod cluster;
mod standalone;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use grest_ws_server::{Backplane, Inbox, PublishError};
use grest_ws_session::LogLimit;
use redis::aio::ConnectionLike;
use tokio::sync::{Notify, mpsc};

/// Messages waiting for the publishing connection before broadcasts fail with [`PublishError::Full`].
pub const DEFAULT_QUEUE: usize = 4096;

/// The namespace of channel names unless another is given.
pub const DEFAULT_NAMESPACE: &str = "grest-ws";

/// Messages one pipelined write to Redis carries at most.
const BATCH: usize = 64;

/// A backplane on one Redis server or on a Redis Cluster. Cheap to clone. Its publishing connection lives as long
/// as a clone does; its subscribing connection as long as the runtime.
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

/// What the connection tasks share with the backplane.
struct Shared {
    namespace: String,
    /// The channels this node wants (full names); the subscriber makes Redis agree after each change and after
    /// each reconnect.
    wanted: Mutex<HashSet<String>>,
    changed: Notify,
    inbox: OnceLock<Inbox>,
}

impl Shared {
    fn new(namespace: &str) -> Arc<Shared> {
        Arc::new(Shared {
            namespace: namespace.to_owned(),
            wanted: Mutex::new(HashSet::new()),
            changed: Notify::new(),
            inbox: OnceLock::new(),
        })
    }

    fn wanted(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.wanted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands a message received on `channel` to the inbox, once the server has started.
    fn deliver(&self, channel: &str, payload: &[u8]) {
        if let Some(inbox) = self.inbox.get() {
            let topic = channel.get(self.namespace.len() + 1..).unwrap_or_default();
            inbox.deliver(topic, payload);
        }
    }
}

impl RedisBackplane {
    /// Connects to the Redis at `url` (`redis://host:port`), in the default namespace. Fails when Redis cannot be
    /// reached now; later outages are ridden out.
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        RedisBackplane::connect_in(url, DEFAULT_NAMESPACE).await
    }

    /// Connects with channel names in `namespace` (`namespace:…`).
    pub async fn connect_in(url: &str, namespace: &str) -> Result<Self, redis::RedisError> {
        let shared = Shared::new(namespace);
        let outgoing = standalone::start(url, shared.clone()).await?;
        Ok(RedisBackplane { shared, outgoing })
    }

    /// Connects to the Redis Cluster that `nodes` (`redis://host:port`, one or more of its nodes) belong to, in
    /// the default namespace, with sharded pub/sub. Fails when the cluster cannot be reached now.
    pub async fn connect_cluster(nodes: &[&str]) -> Result<Self, redis::RedisError> {
        RedisBackplane::connect_cluster_in(nodes, DEFAULT_NAMESPACE).await
    }

    /// Connects to a Redis Cluster with channel names in `namespace` (`namespace:…`).
    pub async fn connect_cluster_in(nodes: &[&str], namespace: &str) -> Result<Self, redis::RedisError> {
        let shared = Shared::new(namespace);
        let outgoing = cluster::start(nodes, shared.clone()).await?;
        Ok(RedisBackplane { shared, outgoing })
    }

    fn channel(&self, topic: &str) -> String {
        format!("{}:{topic}", self.shared.namespace)
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
        if self.shared.wanted().insert(self.channel(topic)) {
            self.shared.changed.notify_one();
        }
    }

    fn unsubscribe(&self, topic: &str) {
        if self.shared.wanted().remove(&self.channel(topic)) {
            self.shared.changed.notify_one();
        }
    }
}

/// Waits before reconnection attempt `attempt` (0, 1, …): 100 ms doubling to 2 s, so cross-node delivery resumes
/// within about 2 s of Redis coming back however long it was gone.
async fn backoff(attempt: u32) {
    let delay = Duration::from_millis(100).saturating_mul(1 << attempt.min(5));
    tokio::time::sleep(delay.min(Duration::from_secs(2))).await;
}

/// Counts and reports broadcasts that did not reach Redis.
fn failed(count: usize, error: &redis::RedisError) {
    metrics::counter!("websocket_backplane_publish_failed_total", "stage" => "engine").increment(count as u64);
    static LIMIT: LogLimit = LogLimit::new(1);
    if let Some(suppressed) = LIMIT.admit() {
        tracing::warn!(%error, count, suppressed, "broadcasts could not be published to Redis");
    }
}

/// The publishing loop: sends queued messages in order with `command` (`PUBLISH` or `SPUBLISH`), pipelining what
/// has queued up, on the connection `connect` gives (again after a failure). Messages whose write failed are
/// counted as failed, not retried (their recipients may have moved on by then).
async fn publish<C, F>(command: &str, mut connect: impl FnMut() -> F, mut queue: mpsc::Receiver<(String, Bytes)>)
where
    C: ConnectionLike,
    F: Future<Output = redis::RedisResult<C>>,
{
    let mut connection: Option<C> = None;
    let mut attempt = 0;
    let mut batch = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut batch, BATCH).await > 0 {
        let conn = match &mut connection {
            Some(conn) => conn,
            None => match connect().await {
                Ok(conn) => {
                    attempt = 0;
                    connection.insert(conn)
                }
                Err(error) => {
                    failed(batch.len(), &error);
                    batch.clear();
                    backoff(attempt).await;
                    attempt += 1;
                    continue;
                }
            },
        };
        let mut pipe = redis::pipe();
        for (channel, payload) in batch.drain(..) {
            pipe.cmd(command).arg(channel).arg(payload.as_ref()).ignore();
        }
        if let Err(error) = pipe.exec_async(conn).await {
            failed(pipe.len(), &error);
            connection = None;
        }
    }
}

/// A connection that can hold channel subscriptions.
trait Subscriber {
    async fn add(&mut self, channel: &str) -> redis::RedisResult<()>;
    async fn remove(&mut self, channel: &str) -> redis::RedisResult<()>;
}

/// Makes `subscriber` hold what `shared` wants, given that it holds `held`; `held` follows each change made.
async fn reconcile(
    shared: &Shared,
    subscriber: &mut impl Subscriber,
    held: &mut HashSet<String>,
) -> redis::RedisResult<()> {
    let wanted = shared.wanted().clone();
    for channel in wanted.difference(&held.clone()) {
        subscriber.add(channel).await?;
        held.insert(channel.clone());
    }
    for channel in held.clone().difference(&wanted) {
        subscriber.remove(channel).await?;
        held.remove(channel);
    }
    Ok(())
}
