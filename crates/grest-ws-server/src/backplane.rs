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
//! * **Cluster-wide answers.** [`crate::Rooms::count`], [`crate::Rooms::members`] and [`crate::Rooms::connections`]
//!   ask every node serving the endpoint and add up the answers. Nodes announce themselves every
//!   [`NODE_HEARTBEAT`] on the backplane; a node not heard from for [`NODE_EXPIRY`] is gone, and a query waits at most
//!   [`CLUSTER_QUERY_TIMEOUT`] for the nodes it knows. A node killed without a goodbye drops out of the answers at once
//!   (it no longer answers) and out of the list of nodes waited for within [`NODE_EXPIRY`].
//!
//! * **Server events.** [`crate::GrestWs::server_events`] channels carry application values between the nodes
//!   themselves, one topic per channel (see [`crate::ServerEvents`]).
//!
//! Applications do not call any of this. They configure a backplane once, with [`crate::GrestWs::backplane`],
//! and [`crate::Rooms`] work across the cluster.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use grest_ws_session::{ConnectionId, LogLimit, NodeId, SendError};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::rooms::Registry;
use crate::server_events::Hub;

/// How often a node announces itself on the backplane.
pub const NODE_HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a node may stay silent before the others count it gone.
pub const NODE_EXPIRY: Duration = Duration::from_secs(6);
/// How long a cluster-wide query waits for the other nodes' answers.
pub const CLUSTER_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// The topic every node announces itself on.
const NODES_TOPIC: &str = "nodes";

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

/// An adapter's bounded queue refusing a message: full, or its publishing task gone.
impl<T> From<tokio::sync::mpsc::error::TrySendError<T>> for PublishError {
    fn from(error: tokio::sync::mpsc::error::TrySendError<T>) -> Self {
        match error {
            tokio::sync::mpsc::error::TrySendError::Full(_) => PublishError::Full,
            tokio::sync::mpsc::error::TrySendError::Closed(_) => PublishError::Closed,
        }
    }
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
    /// The server-event channels, by name.
    events: HashMap<String, Arc<Hub>>,
    /// The other nodes: when each was last heard from, and the endpoints it serves.
    nodes: Mutex<HashMap<u64, (Instant, Vec<String>)>>,
    /// Queries waiting for answers, by id.
    queries: Mutex<HashMap<u64, Waiting>>,
    next_query: AtomicU64,
}

/// A query waiting for the nodes it asked.
struct Waiting {
    nodes: HashSet<u64>,
    answers: Vec<Answer>,
    done: Option<oneshot::Sender<Vec<Answer>>>,
}

impl Cluster {
    /// Joins the cluster: every endpoint's rooms learn where to publish, and each endpoint's topic is subscribed.
    ///
    /// The node's heartbeat is a task of its own, on `runtime`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        backplane: Arc<dyn Backplane>,
        registries: HashMap<String, Arc<Registry>>,
        events: HashMap<String, Arc<Hub>>,
    ) {
        let cluster = Arc::new(Cluster {
            backplane,
            origin: random_origin(),
            registries,
            events,
            nodes: Mutex::new(HashMap::new()),
            queries: Mutex::new(HashMap::new()),
            next_query: AtomicU64::new(1),
        });
        for (path, registry) in &cluster.registries {
            registry.join_cluster(Link {
                cluster: cluster.clone(),
                path: path.clone(),
            });
            cluster.backplane.subscribe(&cluster.endpoint_topic(path));
        }
        for (name, hub) in &cluster.events {
            hub.join_cluster(cluster.clone());
            cluster.backplane.subscribe(&event_topic(name));
        }
        cluster.backplane.subscribe(NODES_TOPIC);
        cluster.backplane.subscribe(&reply_topic(cluster.origin));
        cluster.backplane.start(Inbox(cluster.clone()));
        runtime.spawn(heartbeat(Arc::downgrade(&cluster)));
    }

    fn lock_nodes(&self) -> MutexGuard<'_, HashMap<u64, (Instant, Vec<String>)>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_queries(&self) -> MutexGuard<'_, HashMap<u64, Waiting>> {
        self.queries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Publishes `message` on `topic`; what the backplane does not take is counted and logged.
    fn publish(&self, topic: &str, message: Message<'_>) -> Result<(), PublishError> {
        self.backplane
            .publish(topic, message.encode(self.origin))
            .inspect_err(|error| {
                metrics::counter!("websocket_backplane_publish_failed_total", "stage" => "queue").increment(1);
                // A failing backplane fails every message: one line a second, the rest are counted.
                static FAILED: LogLimit = LogLimit::new(1);
                if let Some(suppressed) = FAILED.admit() {
                    tracing::warn!(%error, topic, suppressed, "a message could not be published to the other nodes");
                }
            })
    }

    /// Publishes a value of the server-event channel `name` to the other nodes.
    pub(crate) fn publish_event(&self, name: &str, data: &[u8]) -> Result<(), PublishError> {
        self.publish(&event_topic(name), Message::Event { name, data })
    }

    /// Announces this node and forgets the nodes not heard from in time.
    fn beat(&self) {
        let paths: Vec<&str> = self.registries.keys().map(String::as_str).collect();
        let _ = self.publish(NODES_TOPIC, Message::Heartbeat { paths });
        self.lock_nodes().retain(|_, (heard, _)| heard.elapsed() < NODE_EXPIRY);
    }

    /// Asks every other node serving `path` and gathers their answers (those that come within [`CLUSTER_QUERY_TIMEOUT`]).
    async fn ask(&self, path: &str, query: Query<'_>) -> Vec<Answer> {
        self.ask_nodes(path, CLUSTER_QUERY_TIMEOUT, |id| Message::Query { id, path, query })
            .await
    }

    /// Publishes the message `build` makes for a fresh query id to every other node serving `path`, and gathers
    /// their answers (those that come within `timeout`).
    async fn ask_nodes<'m>(
        &self,
        path: &str,
        timeout: Duration,
        build: impl FnOnce(u64) -> Message<'m>,
    ) -> Vec<Answer> {
        let nodes: HashSet<u64> = self
            .lock_nodes()
            .iter()
            .filter(|(_, (heard, paths))| heard.elapsed() < NODE_EXPIRY && paths.iter().any(|p| p == path))
            .map(|(node, _)| *node)
            .collect();
        if nodes.is_empty() {
            return Vec::new();
        }
        let id = self.next_query.fetch_add(1, Ordering::Relaxed);
        let (done, answers) = oneshot::channel();
        self.lock_queries().insert(
            id,
            Waiting {
                nodes,
                answers: Vec::new(),
                done: Some(done),
            },
        );
        if self.publish(&self.endpoint_topic(path), build(id)).is_err() {
            self.lock_queries().remove(&id);
            return Vec::new();
        }
        match tokio::time::timeout(timeout, answers).await {
            Ok(Ok(answers)) => answers,
            // Some nodes did not answer in time: what came is the answer.
            _ => self
                .lock_queries()
                .remove(&id)
                .map(|waiting| waiting.answers)
                .unwrap_or_default(),
        }
    }

    /// Answers another node's query about this node's connections.
    fn answer(&self, from: u64, id: u64, path: &str, query: &Query<'_>) {
        let Some(registry) = self.registries.get(path) else {
            return;
        };
        let answer = registry.answer(query);
        let _ = self.publish(&reply_topic(from), Message::Answer { id, answer });
    }

    /// Takes an answer to one of this node's queries.
    fn take_answer(&self, from: u64, id: u64, answer: Answer) {
        let mut queries = self.lock_queries();
        let Some(waiting) = queries.get_mut(&id) else { return };
        if !waiting.nodes.remove(&from) {
            return;
        }
        waiting.answers.push(answer);
        if waiting.nodes.is_empty()
            && let Some(Waiting {
                answers,
                done: Some(done),
                ..
            }) = queries.remove(&id)
        {
            let _ = done.send(answers);
        }
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

    fn receive(self: &Arc<Self>, topic: &str, payload: &[u8]) {
        let Some((origin, message)) = Message::decode(payload) else {
            metrics::counter!("websocket_backplane_receive_dropped_total", "reason" => "unreadable").increment(1);
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
        if origin == self.origin {
            return;
        }
        match message {
            Message::Broadcast(RemoteBroadcast {
                action: Action::Ask { id, .. },
                path,
                ..
            }) if self.registries.contains_key(path) => {
                // Answered by a task: the connections take their time. The task reads its own copy of the message.
                let cluster = self.clone();
                let payload = payload.to_vec();
                tokio::spawn(async move {
                    let Some((_, Message::Broadcast(broadcast))) = Message::decode(&payload) else {
                        return;
                    };
                    let Some(registry) = cluster.registries.get(broadcast.path) else {
                        return;
                    };
                    let replies = crate::rooms::ask_remote(registry, &broadcast).await;
                    let answer = Message::Answer {
                        id,
                        answer: Answer::Replies(replies),
                    };
                    let _ = cluster.publish(&reply_topic(origin), answer);
                });
            }
            Message::Broadcast(broadcast) => match self.registries.get(broadcast.path) {
                Some(registry) => crate::rooms::deliver_remote(registry, &broadcast),
                None => tracing::debug!(
                    path = broadcast.path,
                    "a broadcast for an endpoint this server does not have"
                ),
            },
            Message::Heartbeat { paths } => {
                let paths = paths.into_iter().map(str::to_owned).collect();
                let newcomer = self.lock_nodes().insert(origin, (Instant::now(), paths)).is_none();
                // A node that just joined learns of this one at once, not a heartbeat later.
                if newcomer {
                    self.beat();
                }
            }
            Message::Query { id, path, query } => self.answer(origin, id, path, &query),
            Message::Answer { id, answer } => self.take_answer(origin, id, answer),
            Message::Event { name, data } => {
                if let Some(hub) = self.events.get(name) {
                    hub.deliver(data);
                }
            }
        }
    }
}

/// Announces the node every [`NODE_HEARTBEAT`] for as long as its server exists — and four times in its first
/// second, so the others' answers to it are not all lost while its subscriptions are still being made.
async fn heartbeat(cluster: std::sync::Weak<Cluster>) {
    for _ in 0..4 {
        let Some(alive) = cluster.upgrade() else { return };
        alive.beat();
        drop(alive);
        tokio::time::sleep(NODE_HEARTBEAT / 8).await;
    }
    let mut ticks = tokio::time::interval(NODE_HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(cluster) = cluster.upgrade() else { return };
        cluster.beat();
    }
}

/// The topic of the server-event channel `name`.
fn event_topic(name: &str) -> String {
    format!("event:{name}")
}

/// The topic of the answers to a node's queries.
fn reply_topic(origin: u64) -> String {
    format!("reply:{origin:016x}")
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

    /// Has the other nodes serving this endpoint send a request to their addressed connections and gathers the
    /// replies (waiting `timeout` for the connections, plus [`CLUSTER_QUERY_TIMEOUT`] for the nodes).
    pub(crate) async fn gather(&self, mut ask: RemoteBroadcast<'_>, timeout: Duration) -> Vec<(ConnectionId, Reply)> {
        let answers = self
            .cluster
            .ask_nodes(&self.path, timeout + CLUSTER_QUERY_TIMEOUT, move |query| {
                if let Action::Ask { id, .. } = &mut ask.action {
                    *id = query;
                }
                Message::Broadcast(ask)
            })
            .await;
        answers
            .into_iter()
            .flat_map(|answer| match answer {
                Answer::Replies(replies) => replies,
                _ => Vec::new(),
            })
            .collect()
    }

    /// The endpoint's path.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Asks the other nodes serving this endpoint; their answers (this node's own is not among them).
    pub(crate) async fn ask(&self, query: Query<'_>) -> Vec<Answer> {
        self.cluster.ask(&self.path, query).await
    }

    /// Publishes a broadcast this node has delivered to its own members; `false` when the backplane did not take it
    /// (counted and logged).
    pub(crate) fn publish(&self, broadcast: RemoteBroadcast<'_>) -> bool {
        let topic = match broadcast.to.as_slice() {
            [room] if broadcast.only.is_empty() && broadcast.except_rooms.is_empty() => {
                self.cluster.room_topic(&self.path, room)
            }
            _ => self.cluster.endpoint_topic(&self.path),
        };
        self.cluster.publish(&topic, Message::Broadcast(broadcast)).is_ok()
    }
}

/// A process-unique id for one server among the nodes (several servers may share a process and its [`NodeId`]).
fn random_origin() -> u64 {
    use std::hash::BuildHasher;
    static SERVERS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SERVERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::collections::hash_map::RandomState::new().hash_one((NodeId::current().get(), n))
}

/// What nodes say to each other, on the wire of the backplane: `version, kind, origin`, then the kind's fields.
/// Strings and lists are length-prefixed (u16), numbers big-endian; the text of a broadcast is the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// A broadcast to some of an endpoint's connections.
    Broadcast(RemoteBroadcast<'a>),
    /// A node is alive and serves these endpoints.
    Heartbeat {
        /// The endpoint paths it serves.
        paths: Vec<&'a str>,
    },
    /// A node asks about the others' connections on an endpoint.
    Query {
        /// Matches the answers to the question.
        id: u64,
        /// The endpoint.
        path: &'a str,
        /// What is asked.
        query: Query<'a>,
    },
    /// A node's answer to a query.
    Answer {
        /// The query's id.
        id: u64,
        /// The answer.
        answer: Answer,
    },
    /// A value published on a server-event channel ([`crate::ServerEvents`]).
    Event {
        /// The channel.
        name: &'a str,
        /// The value, as JSON.
        data: &'a [u8],
    },
}

/// A question about a node's connections on one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Query<'a> {
    /// How many connections it has.
    Connections,
    /// How many of them are in a room.
    Count(&'a str),
    /// Which of them are in a room.
    Members(&'a str),
}

/// A node's answer to a [`Query`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A number of connections.
    Count(u64),
    /// Connections.
    Members(Vec<ConnectionId>),
    /// What each addressed connection answered to a request.
    Replies(Vec<(ConnectionId, Reply)>),
}

/// One connection's answer to a server-to-client request, as it travels back to the asking node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// No answer within the request's time.
    Silent,
    /// The reply's data (the envelope text), if any.
    Data(Option<String>),
    /// The request did not complete on the socket.
    Failed(SendError),
}

/// What a broadcast does to the connections it addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action<'a> {
    /// Queues a message: its path (`Feed.news`) and its `m` frame's text, as the broadcasting node serialized it.
    Send {
        /// The message path.
        method: &'a str,
        /// The frame's text.
        text: &'a str,
    },
    /// Makes them join a room.
    Join(&'a str),
    /// Makes them leave a room.
    Leave(&'a str),
    /// Closes them.
    Close,
    /// Sends them a request and gathers the replies for the asking node.
    Ask {
        /// The asking node's query id.
        id: u64,
        /// The request path.
        method: &'a str,
        /// The input's JSON text.
        data: Option<&'a str>,
        /// How long each connection has to answer, in milliseconds.
        timeout_ms: u64,
    },
}

/// A broadcast as it travels between nodes: which endpoint, which connections, and what to do with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RemoteBroadcast<'a> {
    /// The endpoint path.
    pub(crate) path: &'a str,
    /// Rooms whose members are addressed.
    pub(crate) to: Vec<&'a str>,
    /// Connections addressed by id. With `to`, empty: every connection of the endpoint.
    pub(crate) only: Vec<ConnectionId>,
    /// Connections left out.
    pub(crate) except: Vec<ConnectionId>,
    /// Rooms whose members are left out.
    pub(crate) except_rooms: Vec<&'a str>,
    /// What to do with them.
    pub(crate) action: Action<'a>,
}

/// The version byte of the layout below.
const VERSION: u8 = 1;

impl<'a> Message<'a> {
    fn kind(&self) -> u8 {
        match self {
            Message::Broadcast(_) => 1,
            Message::Heartbeat { .. } => 2,
            Message::Query { .. } => 3,
            Message::Answer { .. } => 4,
            Message::Event { .. } => 5,
        }
    }

    /// The message as node `origin` sends it.
    pub(crate) fn encode(&self, origin: u64) -> Bytes {
        let mut out = Vec::with_capacity(64);
        out.push(VERSION);
        out.push(self.kind());
        out.extend_from_slice(&origin.to_be_bytes());
        match self {
            Message::Broadcast(broadcast) => {
                put_str(&mut out, broadcast.path);
                put_list(&mut out, &broadcast.to);
                put_ids(&mut out, &broadcast.only);
                put_ids(&mut out, &broadcast.except);
                put_list(&mut out, &broadcast.except_rooms);
                match broadcast.action {
                    Action::Send { method, text } => {
                        out.push(0);
                        put_str(&mut out, method);
                        out.extend_from_slice(text.as_bytes());
                    }
                    Action::Join(room) => put_tagged(&mut out, 1, Some(room)),
                    Action::Leave(room) => put_tagged(&mut out, 2, Some(room)),
                    Action::Close => put_tagged(&mut out, 3, None),
                    Action::Ask {
                        id,
                        method,
                        data,
                        timeout_ms,
                    } => {
                        put_tagged(&mut out, 4, Some(method));
                        out.extend_from_slice(&id.to_be_bytes());
                        out.extend_from_slice(&timeout_ms.to_be_bytes());
                        if let Some(data) = data {
                            out.extend_from_slice(data.as_bytes());
                        }
                    }
                }
            }
            Message::Heartbeat { paths } => put_list(&mut out, paths),
            Message::Event { name, data } => {
                put_str(&mut out, name);
                out.extend_from_slice(data);
            }
            Message::Query { id, path, query } => {
                out.extend_from_slice(&id.to_be_bytes());
                put_str(&mut out, path);
                match query {
                    Query::Connections => put_tagged(&mut out, 0, None),
                    Query::Count(room) => put_tagged(&mut out, 1, Some(room)),
                    Query::Members(room) => put_tagged(&mut out, 2, Some(room)),
                }
            }
            Message::Answer { id, answer } => {
                out.extend_from_slice(&id.to_be_bytes());
                match answer {
                    Answer::Count(n) => {
                        out.push(0);
                        out.extend_from_slice(&n.to_be_bytes());
                    }
                    Answer::Members(ids) => {
                        out.push(1);
                        put_ids(&mut out, ids);
                    }
                    Answer::Replies(replies) => {
                        out.push(2);
                        put_len(&mut out, replies.len());
                        for (connection, reply) in replies {
                            put_ids(&mut out, std::slice::from_ref(connection));
                            match reply {
                                Reply::Silent => out.push(0),
                                Reply::Data(None) => out.push(1),
                                Reply::Data(Some(text)) => {
                                    out.push(2);
                                    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
                                    out.extend_from_slice(&len.to_be_bytes());
                                    out.extend_from_slice(&text.as_bytes()[..len as usize]);
                                }
                                Reply::Failed(error) => {
                                    out.push(3);
                                    out.push(send_error_tag(*error));
                                }
                            }
                        }
                    }
                }
            }
        }
        Bytes::from(out)
    }

    /// The sender and the message in `payload`; `None` when it is not one this version reads.
    pub(crate) fn decode(payload: &'a [u8]) -> Option<(u64, Self)> {
        let mut reader = Reader(payload);
        let [version, kind] = reader.take(2)? else { return None };
        if *version != VERSION {
            return None;
        }
        let origin = reader.u64()?;
        let message = match kind {
            1 => Message::Broadcast(RemoteBroadcast {
                path: reader.str()?,
                to: reader.list()?,
                only: reader.ids()?,
                except: reader.ids()?,
                except_rooms: reader.list()?,
                action: match reader.take(1)? {
                    [0] => Action::Send {
                        method: reader.str()?,
                        text: std::str::from_utf8(reader.rest()).ok()?,
                    },
                    [1] => Action::Join(reader.str()?),
                    [2] => Action::Leave(reader.str()?),
                    [3] => Action::Close,
                    [4] => {
                        let method = reader.str()?;
                        let id = reader.u64()?;
                        let timeout_ms = reader.u64()?;
                        let rest = std::str::from_utf8(reader.rest()).ok()?;
                        Action::Ask {
                            id,
                            method,
                            data: (!rest.is_empty()).then_some(rest),
                            timeout_ms,
                        }
                    }
                    _ => return None,
                },
            }),
            2 => Message::Heartbeat { paths: reader.list()? },
            3 => {
                let id = reader.u64()?;
                let path = reader.str()?;
                let query = match reader.take(1)? {
                    [0] => Query::Connections,
                    [1] => Query::Count(reader.str()?),
                    [2] => Query::Members(reader.str()?),
                    _ => return None,
                };
                Message::Query { id, path, query }
            }
            4 => {
                let id = reader.u64()?;
                let answer = match reader.take(1)? {
                    [0] => Answer::Count(reader.u64()?),
                    [1] => Answer::Members(reader.ids()?),
                    [2] => Answer::Replies(
                        (0..reader.len()?)
                            .map(|_| {
                                let connection = *reader.ids()?.first()?;
                                let reply = match reader.take(1)? {
                                    [0] => Reply::Silent,
                                    [1] => Reply::Data(None),
                                    [2] => {
                                        let len = reader.take(4)?;
                                        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
                                        Reply::Data(Some(std::str::from_utf8(reader.take(len)?).ok()?.to_owned()))
                                    }
                                    [3] => Reply::Failed(send_error_from_tag(reader.take(1)?[0])?),
                                    _ => return None,
                                };
                                Some((connection, reply))
                            })
                            .collect::<Option<Vec<_>>>()?,
                    ),
                    _ => return None,
                };
                Message::Answer { id, answer }
            }
            5 => Message::Event {
                name: reader.str()?,
                data: reader.rest(),
            },
            _ => return None,
        };
        Some((origin, message))
    }
}

fn send_error_tag(error: SendError) -> u8 {
    match error {
        SendError::NotConnected => 0,
        SendError::Closed => 1,
        SendError::TimedOut => 2,
        // A future kind travels as the closest: the request did not complete.
        _ => 3,
    }
}

fn send_error_from_tag(tag: u8) -> Option<SendError> {
    Some(match tag {
        0 => SendError::NotConnected,
        1 => SendError::Closed,
        2 => SendError::TimedOut,
        3 => SendError::Invalid,
        _ => return None,
    })
}

/// A variant's tag byte, then the room it names, if any.
fn put_tagged(out: &mut Vec<u8>, tag: u8, room: Option<&str>) {
    out.push(tag);
    if let Some(room) = room {
        put_str(out, room);
    }
}

fn put_ids(out: &mut Vec<u8>, ids: &[ConnectionId]) {
    put_len(out, ids.len());
    for id in ids {
        out.extend_from_slice(&id.node().get().to_be_bytes());
        out.extend_from_slice(&id.seq().to_be_bytes());
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

    fn ids(&mut self) -> Option<Vec<ConnectionId>> {
        (0..self.len()?)
            .map(|_| Some(ConnectionId::from_parts(NodeId::from_u64(self.u64()?), self.u64()?)))
            .collect()
    }

    /// Everything not read yet.
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of message survives encoding and decoding field by field with its sender; truncated payloads,
    /// other versions and unknown kinds are refused.
    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let id = ConnectionId::from_parts(NodeId::from_u64(0xfeed), 42);
        let messages = [
            Message::Broadcast(RemoteBroadcast {
                path: "/ws/feed",
                to: vec!["lobby", "général"],
                only: vec![],
                except: vec![id],
                except_rooms: vec!["muted"],
                action: Action::Send {
                    method: "Feed.news",
                    text: r#"m:Feed.news::{"text":"hi"}"#,
                },
            }),
            Message::Broadcast(RemoteBroadcast {
                path: "/ws/feed",
                to: vec![],
                only: vec![id],
                except: vec![],
                except_rooms: vec![],
                action: Action::Join("vip"),
            }),
            Message::Broadcast(RemoteBroadcast {
                path: "/ws/feed",
                to: vec!["lobby"],
                only: vec![],
                except: vec![],
                except_rooms: vec![],
                action: Action::Leave("lobby"),
            }),
            Message::Broadcast(RemoteBroadcast {
                path: "/ws/feed",
                to: vec![],
                only: vec![id],
                except: vec![],
                except_rooms: vec![],
                action: Action::Close,
            }),
            Message::Heartbeat {
                paths: vec!["/ws/feed", "/ws/chat"],
            },
            Message::Query {
                id: 9,
                path: "/ws/feed",
                query: Query::Connections,
            },
            Message::Query {
                id: 10,
                path: "/ws/feed",
                query: Query::Count("lobby"),
            },
            Message::Query {
                id: 11,
                path: "/ws/feed",
                query: Query::Members("lobby"),
            },
            Message::Answer {
                id: 10,
                answer: Answer::Count(3),
            },
            Message::Answer {
                id: 11,
                answer: Answer::Members(vec![id, id]),
            },
            Message::Broadcast(RemoteBroadcast {
                path: "/ws/feed",
                to: vec!["lobby"],
                only: vec![],
                except: vec![id],
                except_rooms: vec![],
                action: Action::Ask {
                    id: 12,
                    method: "Feed.ready",
                    data: Some(r#"{"q":1}"#),
                    timeout_ms: 2000,
                },
            }),
            Message::Answer {
                id: 12,
                answer: Answer::Replies(vec![
                    (id, Reply::Silent),
                    (id, Reply::Data(None)),
                    (
                        id,
                        Reply::Data(Some(r#"{"success":true,"type":"OK","data":true}"#.into())),
                    ),
                    (id, Reply::Failed(SendError::Closed)),
                ]),
            },
            Message::Event {
                name: "chat-history",
                data: br#"{"id":"m1","text":"hi"}"#,
            },
        ];
        for message in &messages {
            let payload = message.encode(7);
            assert_eq!(Message::decode(&payload), Some((7, message.clone())), "{message:?}");
            // A broadcast's text is the rest of the message: any cut of its fixed part is refused.
            let fixed = match message {
                Message::Broadcast(RemoteBroadcast {
                    action: Action::Send { text, .. },
                    ..
                }) => payload.len() - text.len(),
                Message::Broadcast(RemoteBroadcast {
                    action: Action::Ask { data, .. },
                    ..
                }) => payload.len() - data.map_or(0, str::len),
                Message::Event { data, .. } => payload.len() - data.len(),
                _ => payload.len(),
            };
            for cut in 0..fixed {
                assert!(Message::decode(&payload[..cut]).is_none(), "{message:?} cut at {cut}");
            }
            let mut other_version = payload.to_vec();
            other_version[0] = 2;
            assert!(Message::decode(&other_version).is_none());
            let mut unknown_kind = payload.to_vec();
            unknown_kind[1] = 9;
            assert!(Message::decode(&unknown_kind).is_none());
        }
    }
}
