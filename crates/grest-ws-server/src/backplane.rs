//! Several server processes behind a load balancer, one set of rooms: a [`Backplane`] carries broadcasts between
//! them.
//!
//! A backplane is publish/subscribe on named topics, and nothing more; adapters put it on a real engine (the
//! `grest-ws-redis` crate on Redis pub/sub). Everything grest-specific happens here, the same whatever the
//! engine:
//!
//! * **One backplane message per broadcast**, never one per recipient. The message is serialized once, by the node
//!   that broadcasts; each receiving node frames it once and shares that frame among its own recipients.
//! * **Traffic only where it is needed.** A broadcast to one room goes to that room's topic, which a node
//!   subscribes to while it has a member in the room. Broadcasts to everyone, to several rooms or with rooms left
//!   out go to the endpoint's topic, which every node serving the endpoint subscribes to.
//! * **Local first.** The broadcasting node delivers to its own members before it publishes, and ignores its own
//!   messages when they come back, so local delivery never waits on the backplane or depends on it.
//! * **Nothing is dropped silently.** A message the backplane could not take is counted in
//!   `websocket_backplane_publish_failed_total` (label `stage`: `queue` when the adapter's queue refused it,
//!   `engine` when the engine did) and logged, at most once a second.
//!
//! Applications do not call any of this. They configure a backplane once, with [`crate::GrestWs::backplane`],
//! and [`crate::Rooms`] work across the cluster.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use grest_ws_session::{ConnectionId, LogLimit, NodeId};

use crate::rooms::Registry;

/// Why a message was not published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The backplane's outgoing queue is full: its engine is slow or unreachable.
    #[error("the backplane's outgoing queue is full")]
    Full,
    /// The backplane has shut down.
    #[error("the backplane is closed")]
    Closed,
}

/// Publish/subscribe between the server processes of a deployment: what an adapter implements.
///
/// Topics are given relative (`/ws/chat:room:lobby`); an adapter puts them in a namespace of its own, so several
/// applications can share one engine. Every method returns at once: `publish` queues (bounded, failing with [`PublishError::Full`] rather than
/// waiting), and `subscribe`/`unsubscribe` take effect in the background. An adapter reconnects to its engine by
/// itself and subscribes again to every topic it holds.
pub trait Backplane: Send + Sync + 'static {
    /// Starts delivering received messages to `inbox`; called once, when the server is built.
    fn start(&self, inbox: Inbox);

    /// Publishes `payload` to every process subscribed to `topic` (this one included).
    fn publish(&self, topic: &str, payload: Bytes) -> Result<(), PublishError>;

    /// From now on, messages published to `topic` reach this process's inbox.
    fn subscribe(&self, topic: &str);

    /// Stops receiving `topic`.
    fn unsubscribe(&self, topic: &str);
}

/// Where an adapter hands the messages it receives.
#[derive(Clone)]
pub struct Inbox(Arc<Cluster>);

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("origin", &self.0.origin)
            .finish_non_exhaustive()
    }
}

impl Inbox {
    /// Delivers a message received on `topic` to this process's members. Returns at once (delivery only queues
    /// frames); call it from the adapter's receiving task.
    pub fn deliver(&self, topic: &str, payload: &[u8]) {
        self.0.receive(topic, payload);
    }
}

/// One server's place in the cluster: its backplane, its identity on it, and the rooms of its endpoints.
pub(crate) struct Cluster {
    backplane: Arc<dyn Backplane>,
    /// This server's id in backplane messages (a process may run several servers).
    origin: u64,
    registries: HashMap<String, Arc<Registry>>,
}

impl Cluster {
    /// Joins the cluster: every endpoint's rooms learn where to publish, and each endpoint's topic is subscribed.
    pub(crate) fn start(backplane: Arc<dyn Backplane>, registries: HashMap<String, Arc<Registry>>) {
        let cluster = Arc::new(Cluster {
            backplane,
            origin: random_origin(),
            registries,
        });
        for (path, registry) in &cluster.registries {
            registry.join_cluster(Link {
                cluster: cluster.clone(),
                path: path.clone(),
            });
            cluster.backplane.subscribe(&cluster.endpoint_topic(path));
        }
        cluster.backplane.start(Inbox(cluster.clone()));
    }

    /// The topic of every broadcast on the endpoint at `path` that is not for one room. Topics are relative: an
    /// adapter puts them in its own namespace.
    fn endpoint_topic(&self, path: &str) -> String {
        format!("{path}:all")
    }

    /// The topic of broadcasts to one room of the endpoint at `path`.
    fn room_topic(&self, path: &str, room: &str) -> String {
        format!("{path}:room:{room}")
    }

    fn receive(&self, topic: &str, payload: &[u8]) {
        let Some(message) = RemoteBroadcast::decode(payload) else {
            static UNREADABLE: LogLimit = LogLimit::new(1);
            if UNREADABLE.admit().is_some() {
                tracing::warn!(
                    topic,
                    len = payload.len(),
                    "ignored a backplane message that does not decode"
                );
            }
            return;
        };
        if message.origin == self.origin {
            return;
        }
        match self.registries.get(message.path) {
            Some(registry) => crate::rooms::deliver_remote(registry, &message),
            None => tracing::debug!(
                path = message.path,
                "a backplane message for an endpoint this server does not have"
            ),
        }
    }
}

/// An endpoint's rooms' link to the cluster.
pub(crate) struct Link {
    cluster: Arc<Cluster>,
    path: String,
}

impl Link {
    /// This node now has a member in `room`.
    pub(crate) fn room_opened(&self, room: &str) {
        self.cluster
            .backplane
            .subscribe(&self.cluster.room_topic(&self.path, room));
    }

    /// This node's last member left `room`.
    pub(crate) fn room_closed(&self, room: &str) {
        self.cluster
            .backplane
            .unsubscribe(&self.cluster.room_topic(&self.path, room));
    }

    /// Publishes a broadcast this node has delivered to its own members; `false` when the backplane did not take it
    /// (counted and logged).
    pub(crate) fn publish(&self, broadcast: &RemoteBroadcast<'_>) -> bool {
        let topic = match broadcast.to.as_slice() {
            [room] if broadcast.except_rooms.is_empty() => self.cluster.room_topic(&self.path, room),
            _ => self.cluster.endpoint_topic(&self.path),
        };
        let payload = broadcast.encode(self.cluster.origin, &self.path);
        match self.cluster.backplane.publish(&topic, payload) {
            Ok(()) => true,
            Err(error) => {
                metrics::counter!("websocket_backplane_publish_failed_total", "stage" => "queue").increment(1);
                // A failing backplane fails every broadcast: one line a second, the rest are counted.
                static FAILED: LogLimit = LogLimit::new(1);
                if let Some(suppressed) = FAILED.admit() {
                    tracing::warn!(%error, topic, suppressed, "a broadcast could not be published to the other nodes");
                }
                false
            }
        }
    }
}

/// A process-unique id for one server among the nodes (several servers may share a process and its [`NodeId`]).
fn random_origin() -> u64 {
    use std::hash::BuildHasher;
    static SERVERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one((NodeId::current().get(), n))
}

/// A broadcast as it travels between nodes: which endpoint, which connections, and the message's frame text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteBroadcast<'a> {
    /// The server that published it (filled in on decode).
    pub(crate) origin: u64,
    /// The endpoint path (filled in on decode).
    pub(crate) path: &'a str,
    /// The message path (`Feed.news`).
    pub(crate) method: &'a str,
    /// Rooms whose members are addressed; empty: everyone on the endpoint.
    pub(crate) to: Vec<&'a str>,
    /// Connections left out.
    pub(crate) except: Vec<ConnectionId>,
    /// Rooms whose members are left out.
    pub(crate) except_rooms: Vec<&'a str>,
    /// The `m` frame's text, as the broadcasting node serialized it.
    pub(crate) text: &'a str,
}

/// The version byte of the message layout below.
const VERSION: u8 = 1;

impl<'a> RemoteBroadcast<'a> {
    /// `version, origin, path, method, to[], except[(node, seq)], except_rooms[], text`; strings and lists are
    /// length-prefixed (u16), numbers big-endian.
    fn encode(&self, origin: u64, path: &str) -> Bytes {
        let mut out = Vec::with_capacity(64 + self.text.len());
        out.push(VERSION);
        out.extend_from_slice(&origin.to_be_bytes());
        put_str(&mut out, path);
        put_str(&mut out, self.method);
        put_list(&mut out, &self.to);
        put_len(&mut out, self.except.len());
        for id in &self.except {
            out.extend_from_slice(&id.node().get().to_be_bytes());
            out.extend_from_slice(&id.seq().to_be_bytes());
        }
        put_list(&mut out, &self.except_rooms);
        out.extend_from_slice(self.text.as_bytes());
        Bytes::from(out)
    }

    /// The broadcast in `payload`; `None` when it is not one this version reads.
    pub(crate) fn decode(payload: &'a [u8]) -> Option<Self> {
        let mut reader = Reader(payload);
        if reader.take(1)? != [VERSION] {
            return None;
        }
        let origin = reader.u64()?;
        let path = reader.str()?;
        let method = reader.str()?;
        let to = reader.list()?;
        let except = (0..reader.len()?)
            .map(|_| Some(ConnectionId::from_parts(NodeId::from_u64(reader.u64()?), reader.u64()?)))
            .collect::<Option<Vec<_>>>()?;
        let except_rooms = reader.list()?;
        let text = std::str::from_utf8(reader.0).ok()?;
        Some(RemoteBroadcast {
            origin,
            path,
            method,
            to,
            except,
            except_rooms,
            text,
        })
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    let text = &text.as_bytes()[..text.len().min(usize::from(u16::MAX))];
    put_len(out, text.len());
    out.extend_from_slice(text);
}

fn put_list(out: &mut Vec<u8>, items: &[&str]) {
    put_len(out, items.len());
    for item in items {
        put_str(out, item);
    }
}

/// Reads a message front to back; every read fails (`None`) past the end.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn len(&mut self) -> Option<usize> {
        let bytes = self.take(2)?;
        Some(usize::from(u16::from_be_bytes([bytes[0], bytes[1]])))
    }

    fn u64(&mut self) -> Option<u64> {
        let mut word = [0u8; 8];
        word.copy_from_slice(self.take(8)?);
        Some(u64::from_be_bytes(word))
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = self.len()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn list(&mut self) -> Option<Vec<&'a str>> {
        (0..self.len()?).map(|_| self.str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A broadcast survives encoding and decoding field by field, and truncated or foreign payloads are refused.
    #[test]
    fn broadcasts_round_trip_and_garbage_is_refused() {
        let except = ConnectionId::from_parts(NodeId::from_u64(0xfeed), 42);
        let broadcast = RemoteBroadcast {
            origin: 0,
            path: "",
            method: "Feed.news",
            to: vec!["lobby", "général"],
            except: vec![except],
            except_rooms: vec!["muted"],
            text: r#"m:Feed.news::{"text":"hi"}"#,
        };
        let payload = broadcast.encode(7, "/ws/feed");
        let decoded = RemoteBroadcast::decode(&payload).expect("decodes");
        assert_eq!(
            decoded,
            RemoteBroadcast {
                origin: 7,
                path: "/ws/feed",
                ..broadcast.clone()
            }
        );
        for cut in 0..payload.len() - broadcast.text.len() {
            assert!(RemoteBroadcast::decode(&payload[..cut]).is_none(), "cut at {cut}");
        }
        let mut other_version = payload.to_vec();
        other_version[0] = 2;
        assert!(RemoteBroadcast::decode(&other_version).is_none());
    }
}
