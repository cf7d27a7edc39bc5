//! Rooms: named groups of the connections of one endpoint, and broadcasts to a room, to everyone, or to either
//! except some connections.
//!
//! Every connection of a typed endpoint is in the endpoint's registry from its handshake until it closes; it
//! joins and leaves any number of rooms, and leaves all of them when it closes. A broadcast serializes its
//! message once ([`PreparedMessage`]) and hands every recipient the same shared frame without waiting: each
//! connection's mailbox queues it and its session writes everything pending with one write. A connection that
//! does not keep up meets its endpoint's slow-consumer policy
//! ([`SessionConfig::slow_consumer`](grest_ws_session::SessionConfig::slow_consumer)); the others never wait
//! for it.
//!
//! With a backplane ([`crate::GrestWs::backplane`]), broadcasts reach the members on every server process and the
//! queries (`members`, `count`, `connections`, all `async`) answer for the whole cluster; code that uses rooms does
//! not change. [`Rooms::join`] and [`Rooms::leave`] act on a connection of this process (its own handler, or its
//! connect handler, is where they usually happen); a [`Broadcast`]'s `join`, `leave` and `close` reach the addressed
//! connections on every node.
//!
//! The `grest-ws` crate's guide has a complete example (its "Rooms and fan-out" section).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use grest_ws_core::contract::{ContractMeta, Direction};
use grest_ws_core::envelope::decode_reply;
use grest_ws_core::error::MethodError;
use grest_ws_core::validate::Validate;
use grest_ws_session::{ConnectionId, Outbox, PeerHandle, PreparedMessage, PreparedRequest};

use crate::backplane::{Action, Answer, Link, Query, RemoteBroadcast, Reply};
use crate::metrics::EndpointMetrics;

/// The rooms of one endpoint, typed by its contract `C` (a broadcast carries `C`'s server-to-client messages).
/// Cheap to clone; get it from [`crate::Connected::rooms`] or [`crate::GrestWs::rooms`].
pub struct Rooms<C> {
    registry: Arc<Registry>,
    contract: PhantomData<fn() -> C>,
}

impl<C> Clone for Rooms<C> {
    fn clone(&self) -> Self {
        Rooms {
            registry: self.registry.clone(),
            contract: PhantomData,
        }
    }
}

impl<C> std::fmt::Debug for Rooms<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.registry.read();
        f.debug_struct("Rooms")
            .field("connections", &state.everyone.len())
            .field("rooms", &state.rooms.len())
            .finish()
    }
}

/// What a broadcast did on this process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Connections the message was queued for.
    pub queued: usize,
    /// Recipients that did not take it: closed, or over their outbound budget (counted by their connection as
    /// dropped).
    pub dropped: usize,
}

impl<C> Rooms<C> {
    pub(crate) fn new(registry: Arc<Registry>) -> Self {
        Rooms {
            registry,
            contract: PhantomData,
        }
    }

    /// Adds a connection of this endpoint to `room` (created on first join). `false` when the connection is not
    /// open on this endpoint (it closed, or belongs to another one). Joining twice is harmless.
    pub fn join(&self, connection: ConnectionId, room: &str) -> bool {
        let mut state = self.registry.write();
        let Some(outbox) = state.everyone.outbox(connection) else {
            return false;
        };
        let room: Arc<str> = match state.rooms.get_key_value(room) {
            Some((name, _)) => name.clone(),
            None => {
                if let Some(link) = self.registry.cluster.get() {
                    link.room_opened(room);
                }
                room.into()
            }
        };
        if state.rooms.entry(room.clone()).or_default().insert(connection, outbox) {
            state.joined.entry(connection).or_default().push(room);
        }
        true
    }

    /// Removes a connection from `room`; `false` when it was not a member. An emptied room is forgotten.
    pub fn leave(&self, connection: ConnectionId, room: &str) -> bool {
        let mut state = self.registry.write();
        let State { rooms, joined, .. } = &mut *state;
        let left = remove_member(rooms, room, connection, self.registry.cluster.get());
        if left {
            if let Some(names) = joined.get_mut(&connection) {
                names.retain(|name| &**name != room);
            }
        }
        left
    }

    /// Removes a connection from every room it joined (it stays on the endpoint).
    pub fn leave_all(&self, connection: ConnectionId) {
        self.registry.write().leave_all(connection, self.registry.cluster.get());
    }

    /// The rooms a connection of this process is in.
    pub fn rooms_of(&self, connection: ConnectionId) -> Vec<String> {
        let state = self.registry.read();
        state
            .joined
            .get(&connection)
            .map(|names| names.iter().map(|name| name.to_string()).collect())
            .unwrap_or_default()
    }

    /// The connections in `room`, on every node when the server has a backplane.
    pub async fn members(&self, room: &str) -> Vec<ConnectionId> {
        let mut members = self.to(room).ids();
        for answer in self.ask(Query::Members(room)).await {
            if let Answer::Members(theirs) = answer {
                members.extend(theirs);
            }
        }
        members
    }

    /// How many connections are in `room`, on every node when the server has a backplane.
    pub async fn count(&self, room: &str) -> usize {
        let here = self.registry.answer(&Query::Count(room));
        self.total(here, Query::Count(room)).await
    }

    /// How many connections the endpoint has, on every node when the server has a backplane.
    pub async fn connections(&self) -> usize {
        let here = self.registry.answer(&Query::Connections);
        self.total(here, Query::Connections).await
    }

    /// The other nodes' answers to `query` (none without a backplane).
    async fn ask(&self, query: Query<'_>) -> Vec<Answer> {
        match self.registry.cluster.get() {
            Some(link) => link.ask(query).await,
            None => Vec::new(),
        }
    }

    /// This node's count plus the other nodes'.
    async fn total(&self, here: Answer, query: Query<'_>) -> usize {
        let answers = self.ask(query).await;
        std::iter::once(here)
            .chain(answers)
            .map(|answer| match answer {
                Answer::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
                Answer::Members(ids) => ids.len(),
                Answer::Replies(replies) => replies.len(),
            })
            .sum()
    }

    /// A broadcast to the members of `room` (add more rooms with [`Broadcast::to`]).
    pub fn to<'r>(&'r self, room: &'r str) -> Broadcast<'r, C> {
        self.all().to(room)
    }

    /// A broadcast to every connection of the endpoint.
    pub fn all(&self) -> Broadcast<'_, C> {
        Broadcast {
            rooms: self,
            to: Vec::new(),
            only: Vec::new(),
            except: Vec::new(),
            except_rooms: Vec::new(),
            local: false,
        }
    }

    /// A broadcast to one connection, wherever it is (with a backplane, on any node): to push to it, make it join
    /// or leave a room, or close it from another connection's handler or an HTTP route. Add more with
    /// [`Broadcast::connection`].
    pub fn connection(&self, connection: ConnectionId) -> Broadcast<'_, C> {
        self.all().connection(connection)
    }
}

/// A set of connections being addressed — [`Rooms::to`] some rooms (their union, each connection once) or
/// [`Rooms::all`], minus [`Broadcast::except`] connections and [`Broadcast::except_room`] members — and what to
/// do with them: [`send`](Broadcast::send) a message, [`gather`](Broadcast::gather) answers to a request,
/// [`join`](Broadcast::join) or [`leave`](Broadcast::leave) a room, [`close`](Broadcast::close), or list them.
#[must_use = "a broadcast does nothing until it is sent"]
pub struct Broadcast<'r, C> {
    rooms: &'r Rooms<C>,
    /// With `only`, empty: every connection of the endpoint.
    to: Vec<&'r str>,
    /// Connections addressed by id.
    only: Vec<ConnectionId>,
    except: Vec<ConnectionId>,
    except_rooms: Vec<&'r str>,
    /// This node's connections only: nothing goes to the backplane.
    local: bool,
}

impl<C> std::fmt::Debug for Broadcast<'_, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("to", &self.to)
            .field("only", &self.only)
            .field("except", &self.except)
            .field("except_rooms", &self.except_rooms)
            .field("local", &self.local)
            .finish()
    }
}

impl<'r, C> Broadcast<'r, C> {
    /// Adds the members of `room` (a connection in several of the rooms is addressed once).
    pub fn to(mut self, room: &'r str) -> Self {
        if !self.to.contains(&room) {
            self.to.push(room);
        }
        self
    }

    /// Adds one connection by id (any node's, with a backplane).
    pub fn connection(mut self, connection: ConnectionId) -> Self {
        if !self.only.contains(&connection) {
            self.only.push(connection);
        }
        self
    }

    /// Leaves this connection out (e.g. the sender).
    pub fn except(mut self, connection: ConnectionId) -> Self {
        self.except.push(connection);
        self
    }

    /// Leaves out every member of `room`.
    pub fn except_room(mut self, room: &'r str) -> Self {
        self.except_rooms.push(room);
        self
    }

    /// Addresses this node's connections only, even with a backplane (Socket.IO's `io.local`): for what every
    /// node does by itself, e.g. on a [`ServerEvents`](crate::ServerEvents) message from another node.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// The link to the other nodes, unless there is none or this broadcast is [`local`](Broadcast::local).
    fn link(&self) -> Option<&Link> {
        self.rooms.registry.cluster.get().filter(|_| !self.local)
    }

    /// Queues `message` for every addressed connection without waiting; the frame is shared, not copied. With a
    /// backplane ([`crate::GrestWs::backplane`]), the other nodes get one message to do the same for their
    /// connections; [`Delivery`] counts this node's.
    pub fn send(&self, message: &PreparedMessage<C>) -> Delivery {
        let delivery = self.send_here(message);
        self.publish(Action::Send {
            method: message.path(),
            text: message.as_str(),
        });
        delivery
    }

    /// Has the other nodes do `action` to their addressed connections (nothing without a backplane).
    fn publish(&self, action: Action<'_>) {
        if let Some(link) = self.link() {
            link.publish(self.remote(link, action));
        }
    }

    /// This broadcast as another node receives it: the same addressing on the link's endpoint, and `action`.
    fn remote<'a>(&'a self, link: &'a Link, action: Action<'a>) -> RemoteBroadcast<'a> {
        RemoteBroadcast {
            path: link.path(),
            to: self.to.clone(),
            only: self.only.clone(),
            except: self.except.clone(),
            except_rooms: self.except_rooms.clone(),
            action,
        }
    }

    /// [`Broadcast::send`] to this node's connections only.
    fn send_here(&self, message: &PreparedMessage<C>) -> Delivery {
        let mut delivery = Delivery::default();
        self.for_each(|_, outbox| match outbox.try_send_prepared(message) {
            Ok(()) => delivery.queued += 1,
            Err(_) => delivery.dropped += 1,
        });
        if let Some(metrics) = self.rooms.registry.metrics.get() {
            metrics.broadcast(message.path(), delivery.queued);
        }
        delivery
    }

    /// Asks every addressed connection of this process at once ([`Broadcast::gather_request`] asks them on every
    /// node) — `ask` gets the connection's typed peer and
    /// typically makes a server-to-client request — and gathers the answers that come within `timeout`
    /// (Socket.IO's `emitWithAck`). A connection that does not answer in time gives `None`; one that closes
    /// meanwhile gives whatever its request returned (`CONNECTION_CLOSED`). The `grest-ws` crate guide's "Rooms and
    /// fan-out" section has an example.
    pub async fn gather<P, T, F, Fut>(&self, timeout: Duration, ask: F) -> Vec<(ConnectionId, Option<T>)>
    where
        P: From<PeerHandle>,
        F: Fn(P) -> Fut,
        Fut: Future<Output = T>,
    {
        let asks = self.handles().into_iter().map(|(id, handle)| {
            let answer = ask(P::from(handle));
            async move { (id, tokio::time::timeout(timeout, answer).await.ok()) }
        });
        futures_util::future::join_all(asks).await
    }

    /// Sends `request` to every addressed connection — with a backplane, on every node — and gathers the answers
    /// that come within `timeout`, each decoded as the method's result (Socket.IO's `emitWithAck` across servers).
    /// A connection that does not answer in time gives `None`; one that closes meanwhile gives `SERVER_ERROR`
    /// "Socket connection closed!". Nodes that do not answer within `timeout` plus
    /// [`CLUSTER_QUERY_TIMEOUT`](crate::CLUSTER_QUERY_TIMEOUT) are left out.
    pub async fn gather_request<O, E>(
        &self,
        request: &PreparedRequest<C, O, E>,
        timeout: Duration,
    ) -> Vec<(ConnectionId, Option<Result<O, E>>)>
    where
        O: serde::de::DeserializeOwned + Validate,
        E: MethodError,
    {
        let remote = async {
            match self.link() {
                Some(link) => {
                    let ask = Action::Ask {
                        // Each node's ask gets its query id when it is sent.
                        id: 0,
                        method: request.path(),
                        data: request.data(),
                        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                    };
                    link.gather(self.remote(link, ask), timeout).await
                }
                None => Vec::new(),
            }
        };
        let (here, there) = futures_util::future::join(self.ask_here(request, timeout), remote).await;
        here.into_iter()
            .chain(there)
            .map(|(id, reply)| {
                let answer = match reply {
                    Reply::Silent => None,
                    Reply::Data(data) => Some(decode_reply::<O, E>(data.as_deref())),
                    Reply::Failed(error) => Some(Err(E::server_error(error.into()))),
                };
                (id, answer)
            })
            .collect()
    }

    /// Sends `request` to this node's addressed connections and gathers what each answers within `timeout`.
    async fn ask_here<O, E>(
        &self,
        request: &PreparedRequest<C, O, E>,
        timeout: Duration,
    ) -> Vec<(ConnectionId, Reply)> {
        let asks = self.handles().into_iter().map(|(id, handle)| async move {
            let reply = match tokio::time::timeout(timeout, handle.request_prepared(request)).await {
                Err(_) => Reply::Silent,
                Ok(Ok(data)) => Reply::Data(data),
                Ok(Err(error)) => Reply::Failed(error),
            };
            (id, reply)
        });
        futures_util::future::join_all(asks).await
    }

    /// The addressed connections of this process.
    pub async fn connections(&self) -> Vec<ConnectionId> {
        self.ids()
    }

    /// Makes every addressed connection join `room` (Socket.IO's `socketsJoin`); how many of this node's were
    /// addressed (with a backplane, the other nodes do the same for theirs).
    pub fn join(&self, room: &str) -> usize {
        self.publish(Action::Join(room));
        self.join_here(room)
    }

    fn join_here(&self, room: &str) -> usize {
        let ids = self.ids();
        for &id in &ids {
            self.rooms.join(id, room);
        }
        ids.len()
    }

    /// Makes every addressed connection leave `room` (Socket.IO's `socketsLeave`); how many of this node's were
    /// members (with a backplane, the other nodes do the same for theirs).
    pub fn leave(&self, room: &str) -> usize {
        self.publish(Action::Leave(room));
        self.leave_here(room)
    }

    fn leave_here(&self, room: &str) -> usize {
        self.ids().into_iter().filter(|&id| self.rooms.leave(id, room)).count()
    }

    /// Closes every addressed connection (Socket.IO's `disconnectSockets`), as [`PeerHandle::close`] does: each
    /// gets a Close frame, its pending requests fail, and it leaves its rooms. How many of this node's were closed
    /// (with a backplane, the other nodes close theirs).
    pub fn close(&self) -> usize {
        self.publish(Action::Close);
        self.close_here()
    }

    fn close_here(&self) -> usize {
        let handles = self.handles();
        for (_, handle) in &handles {
            handle.close();
        }
        handles.len()
    }

    fn ids(&self) -> Vec<ConnectionId> {
        let mut ids = Vec::new();
        self.for_each(|id, _| ids.push(id));
        ids
    }

    fn handles(&self) -> Vec<(ConnectionId, PeerHandle)> {
        let state = self.rooms.registry.read();
        let mut handles = Vec::new();
        self.visit(&state, |id, _| {
            if let Some(handle) = state.handles.get(&id) {
                handles.push((id, handle.clone()));
            }
        });
        handles
    }

    /// Calls `f` once per addressed connection, under the registry's read lock (so `f` must not touch the rooms).
    fn for_each(&self, f: impl FnMut(ConnectionId, &Outbox)) {
        let state = self.rooms.registry.read();
        self.visit(&state, f);
    }

    fn visit(&self, state: &State, mut f: impl FnMut(ConnectionId, &Outbox)) {
        let excluded = |id: &ConnectionId| {
            self.except.contains(id)
                || self
                    .except_rooms
                    .iter()
                    .any(|room| state.rooms.get(*room).is_some_and(|m| m.index.contains_key(id)))
        };
        let everyone = std::slice::from_ref(&state.everyone);
        let rooms = self.to.iter().filter_map(|room| state.rooms.get(*room));
        let sets: &mut dyn Iterator<Item = &Members> = match (self.to.len(), self.only.len()) {
            (0, 0) => &mut everyone.iter(),
            _ => &mut { rooms },
        };
        // Several sources: a connection in more than one of them is addressed once.
        let mut seen = (self.to.len() + self.only.len() > 1).then(HashSet::new);
        let mut address = |id: &ConnectionId, outbox: &Outbox| {
            if !excluded(id) && seen.as_mut().is_none_or(|seen| seen.insert(*id)) {
                f(*id, outbox);
            }
        };
        for members in sets {
            for (id, outbox) in members.ids.iter().zip(&members.outboxes) {
                address(id, outbox);
            }
        }
        for id in &self.only {
            if let Some(&at) = state.everyone.index.get(id) {
                address(id, &state.everyone.outboxes[at]);
            }
        }
    }
}

/// The connections of one endpoint and the rooms they are in.
#[derive(Default)]
pub(crate) struct Registry {
    state: RwLock<State>,
    metrics: OnceLock<EndpointMetrics>,
    /// The endpoint's server-to-client message paths (of every module on it), to name remote broadcasts.
    methods: RwLock<Vec<&'static str>>,
    /// Set when the server has a backplane.
    cluster: OnceLock<Link>,
}

#[derive(Default)]
struct State {
    everyone: Members,
    /// Every connection's handle, for [`Broadcast::gather`]'s requests (broadcasts use the mailboxes).
    handles: HashMap<ConnectionId, PeerHandle>,
    rooms: HashMap<Arc<str>, Members>,
    joined: HashMap<ConnectionId, Vec<Arc<str>>>,
}

impl State {
    fn leave_all(&mut self, connection: ConnectionId, cluster: Option<&Link>) {
        for room in self.joined.remove(&connection).unwrap_or_default() {
            remove_member(&mut self.rooms, &room, connection, cluster);
        }
    }
}

/// Removes a member from a room, forgetting the room when it empties (and telling the cluster that this node has
/// no member there any more); whether it was a member.
fn remove_member(
    rooms: &mut HashMap<Arc<str>, Members>,
    room: &str,
    connection: ConnectionId,
    cluster: Option<&Link>,
) -> bool {
    let Some(members) = rooms.get_mut(room) else {
        return false;
    };
    let removed = members.remove(connection);
    if members.len() == 0 {
        rooms.remove(room);
        if let Some(link) = cluster {
            link.room_closed(room);
        }
    }
    removed
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Labels broadcasts in the endpoint's metrics (once, when the server is built).
    pub(crate) fn set_metrics(&self, metrics: EndpointMetrics) {
        let _ = self.metrics.set(metrics);
    }

    /// A connection opened on the endpoint.
    pub(crate) fn register(&self, handle: &PeerHandle, outbox: Outbox) {
        let mut state = self.write();
        state.everyone.insert(handle.id(), outbox);
        state.handles.insert(handle.id(), handle.clone());
    }

    /// The endpoint's own `&'static` name of the server-to-client method `path`, if it has one.
    fn method(&self, path: &str) -> Option<&'static str> {
        let methods = self.methods.read().unwrap_or_else(|e| e.into_inner());
        methods.iter().copied().find(|known| *known == path)
    }

    /// This node's answer to a query about its connections.
    pub(crate) fn answer(&self, query: &Query<'_>) -> Answer {
        let state = self.read();
        match query {
            Query::Connections => Answer::Count(state.everyone.len() as u64),
            Query::Count(room) => Answer::Count(state.rooms.get(*room).map_or(0, Members::len) as u64),
            Query::Members(room) => Answer::Members(state.rooms.get(*room).map_or_else(Vec::new, |m| m.ids.clone())),
        }
    }

    /// Names remote broadcasts with `meta`'s server-to-client paths (each contract on the endpoint, at build).
    pub(crate) fn add_methods(&self, meta: &'static ContractMeta) {
        let mut methods = self.methods.write().unwrap_or_else(|e| e.into_inner());
        methods.extend(meta.methods_in(Direction::ServerToClient).map(|(_, m)| m.path));
    }

    /// Links the rooms to the cluster (once, when the server is built with a backplane).
    pub(crate) fn join_cluster(&self, link: Link) {
        let _ = self.cluster.set(link);
    }

    /// A connection closed: it leaves its rooms and the endpoint.
    pub(crate) fn unregister(&self, connection: ConnectionId) {
        let mut state = self.write();
        state.leave_all(connection, self.cluster.get());
        state.everyone.remove(connection);
        state.handles.remove(&connection);
    }
}

/// The connections of this node that another node's broadcast addresses.
fn addressed<'m>(rooms: &'m Rooms<()>, message: &'m RemoteBroadcast<'_>) -> Broadcast<'m, ()> {
    Broadcast {
        rooms,
        to: message.to.clone(),
        only: message.only.clone(),
        except: message.except.clone(),
        except_rooms: message.except_rooms.clone(),
        // Never passed on: the broadcasting node published it to every node already.
        local: true,
    }
}

/// Does what another node's broadcast asks to this node's addressed connections.
pub(crate) fn deliver_remote(registry: &Arc<Registry>, message: &RemoteBroadcast<'_>) {
    let rooms = Rooms::<()>::new(registry.clone());
    let broadcast = addressed(&rooms, message);
    match message.action {
        Action::Send { method, text } => match registry.method(method) {
            Some(method) => {
                broadcast.send_here(&PreparedMessage::from_frame_text(method, text));
            }
            None => tracing::debug!(method, "a remote broadcast of a message this endpoint does not send"),
        },
        Action::Join(room) => {
            broadcast.join_here(room);
        }
        Action::Leave(room) => {
            broadcast.leave_here(room);
        }
        Action::Close => {
            broadcast.close_here();
        }
        // Answered by the backplane's task, which gathers the replies (`ask_remote`).
        Action::Ask { .. } => {}
    }
}

/// Sends another node's request to this node's addressed connections and gathers their replies.
pub(crate) async fn ask_remote(registry: &Arc<Registry>, message: &RemoteBroadcast<'_>) -> Vec<(ConnectionId, Reply)> {
    let Action::Ask {
        method,
        data,
        timeout_ms,
        ..
    } = message.action
    else {
        return Vec::new();
    };
    let Some(method) = registry.method(method) else {
        tracing::debug!(method, "a remote request of a method this endpoint does not have");
        return Vec::new();
    };
    let Ok(request) = PreparedRequest::<(), (), ()>::from_parts(method, data) else {
        return Vec::new();
    };
    let rooms = Rooms::<()>::new(registry.clone());
    let broadcast = addressed(&rooms, message);
    broadcast.ask_here(&request, Duration::from_millis(timeout_ms)).await
}

/// A set of connections, stored for iteration: ids and mailboxes side by side, an index for removal.
#[derive(Default)]
struct Members {
    ids: Vec<ConnectionId>,
    outboxes: Vec<Outbox>,
    index: HashMap<ConnectionId, usize>,
}

impl Members {
    fn len(&self) -> usize {
        self.ids.len()
    }

    fn outbox(&self, connection: ConnectionId) -> Option<Outbox> {
        self.index.get(&connection).map(|&at| self.outboxes[at].clone())
    }

    /// Adds a member; `false` when it already was one.
    fn insert(&mut self, connection: ConnectionId, outbox: Outbox) -> bool {
        if self.index.contains_key(&connection) {
            return false;
        }
        self.index.insert(connection, self.ids.len());
        self.ids.push(connection);
        self.outboxes.push(outbox);
        true
    }

    /// Removes a member; `false` when it was none.
    fn remove(&mut self, connection: ConnectionId) -> bool {
        let Some(at) = self.index.remove(&connection) else {
            return false;
        };
        self.ids.swap_remove(at);
        self.outboxes.swap_remove(at);
        if let Some(moved) = self.ids.get(at) {
            self.index.insert(*moved, at);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use grest_ws_session::{Role, Session, SessionConfig};

    use super::*;

    /// An endpoint's rooms with `n` registered connections (sessions without sockets: their mailboxes queue).
    fn endpoint(n: usize, session: SessionConfig) -> (Rooms<()>, Vec<Session>) {
        let registry = Arc::new(Registry::default());
        let sessions: Vec<Session> = (0..n).map(|_| Session::new(Role::Server, session.clone())).collect();
        for session in &sessions {
            let handle = session.handle();
            registry.register(handle, handle.outbox().expect("a session's handle has an outbox"));
        }
        (Rooms::new(registry), sessions)
    }

    fn ids(sessions: &[Session]) -> Vec<ConnectionId> {
        sessions.iter().map(|s| s.handle().id()).collect()
    }

    fn sorted(mut ids: Vec<ConnectionId>) -> Vec<ConnectionId> {
        ids.sort();
        ids
    }

    /// Joins are idempotent, leaves report membership, an emptied room is forgotten, closing leaves every room.
    #[tokio::test]
    async fn joins_and_leaves_track_membership() {
        let (rooms, sessions) = endpoint(2, SessionConfig::default());
        let [a, b] = ids(&sessions)[..] else { unreachable!() };
        assert!(rooms.join(a, "x"));
        assert!(rooms.join(a, "x"), "joining twice is harmless");
        assert!(rooms.join(a, "y"));
        assert!(rooms.join(b, "x"));
        assert_eq!(rooms.count("x").await, 2);
        assert_eq!(rooms.rooms_of(a), ["x", "y"], "each room listed once, in join order");
        assert!(!rooms.leave(b, "y"), "not a member");
        assert!(rooms.leave(b, "x"));
        assert!(!rooms.leave(b, "x"));
        assert_eq!(rooms.members("x").await, [a]);
        assert!(rooms.leave(a, "y"));
        assert_eq!(rooms.registry.read().rooms.len(), 1, "the emptied room is forgotten");
        assert_eq!(rooms.rooms_of(a), ["x"]);

        rooms.join(b, "x");
        rooms.leave_all(a);
        assert_eq!((rooms.rooms_of(a), rooms.members("x").await), (vec![], vec![b]));
        assert_eq!(
            rooms.connections().await,
            2,
            "leaving rooms keeps the connection on the endpoint"
        );

        rooms.registry.unregister(b);
        assert_eq!((rooms.count("x").await, rooms.connections().await), (0, 1));
        assert!(rooms.registry.read().rooms.is_empty());
        assert!(!rooms.join(b, "x"), "a closed connection cannot join");
        let stranger = Session::new(Role::Server, SessionConfig::default());
        assert!(!rooms.join(stranger.handle().id(), "x"), "nor can another endpoint's");
    }

    /// Broadcasts address room unions once per connection, minus excepted connections and rooms.
    #[tokio::test]
    async fn broadcasts_address_unions_minus_exceptions() {
        let (rooms, sessions) = endpoint(4, SessionConfig::default());
        let [a, b, c, d] = ids(&sessions)[..] else {
            unreachable!()
        };
        for (id, room) in [(a, "x"), (b, "x"), (b, "y"), (c, "y")] {
            rooms.join(id, room);
        }
        let addressed = |broadcast: Broadcast<'_, ()>| sorted(broadcast.ids());
        assert_eq!(addressed(rooms.all()), [a, b, c, d]);
        assert_eq!(
            addressed(rooms.to("x").to("y")),
            [a, b, c],
            "b is in both rooms, addressed once"
        );
        assert_eq!(addressed(rooms.to("x").to("x")), [a, b]);
        assert_eq!(addressed(rooms.to("x").to("nowhere")), [a, b]);
        assert_eq!(addressed(rooms.to("nowhere")), []);
        assert_eq!(addressed(rooms.all().except(b).except(d)), [a, c]);
        assert_eq!(addressed(rooms.all().except_room("y")), [a, d]);
        assert_eq!(addressed(rooms.to("x").except_room("y").except_room("x")), []);

        assert_eq!(rooms.to("x").except(a).join("z"), 1);
        assert_eq!(rooms.members("z").await, [b]);
        assert_eq!(rooms.all().leave("x"), 2, "how many were members");
        assert_eq!(rooms.count("x").await, 0);
    }

    /// A broadcast counts the connections that queued the frame and those over their budget that dropped it.
    #[tokio::test]
    async fn broadcasts_count_queued_and_dropped() {
        let tiny = SessionConfig::default().outbound_budget(1);
        let (rooms, sessions) = endpoint(3, tiny);
        let message = PreparedMessage::<()>::new("Feed.post", Some(&"hello".to_owned())).unwrap();
        // With nothing queued, a frame over the budget still goes out; the next one overflows.
        assert_eq!(rooms.all().send(&message), Delivery { queued: 3, dropped: 0 });
        let first = ids(&sessions)[0];
        assert_eq!(
            rooms.all().except(first).send(&message),
            Delivery { queued: 0, dropped: 2 }
        );
    }

    /// Removing a member swaps the last one into its place and keeps the index right for later removals.
    #[test]
    fn members_stay_indexed_after_removals() {
        let sessions: Vec<Session> = (0..3)
            .map(|_| Session::new(Role::Server, SessionConfig::default()))
            .collect();
        let [a, b, c] = ids(&sessions)[..] else { unreachable!() };
        let outbox = |at: usize| sessions[at].handle().outbox().unwrap();
        let mut members = Members::default();
        assert!(members.insert(a, outbox(0)));
        assert!(members.insert(b, outbox(1)));
        assert!(members.insert(c, outbox(2)));
        assert!(!members.insert(b, outbox(1)), "already a member");
        assert!(members.remove(a));
        assert_eq!(members.ids, [c, b]);
        assert_eq!((members.index[&c], members.index[&b]), (0, 1));
        assert!(!members.remove(a));
        assert!(members.remove(c));
        assert_eq!(members.ids, [b]);
        assert_eq!(members.index[&b], 0);
        assert!(members.outbox(b).is_some() && members.outbox(c).is_none());
        assert!(members.remove(b));
        assert_eq!((members.len(), members.index.len(), members.outboxes.len()), (0, 0, 0));
    }
}
