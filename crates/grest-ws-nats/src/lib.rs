//! A grest-ws [`Backplane`] on NATS core subjects: the rooms of several server processes behind a load balancer
//! become one set of rooms.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grest_ws_nats::NatsBackplane;
//! use grest_ws_server::GrestWs;
//!
//! let backplane = NatsBackplane::connect("nats://127.0.0.1:4222").await?;
//! let router = GrestWs::new()
//!     .backplane(backplane)
//!     // .ws(CHAT_API, ...) as without a backplane
//!     .build()?;
//! # let _ = router; Ok(()) }
//! ```
//!
//! How it uses NATS:
//!
//! * Topics become subjects under a namespace token (`grest-ws.` by default, [`NatsBackplane::connect_in`] for
//!   another); characters that mean something in a subject (`.`, `*`, `>`, whitespace) and any other outside
//!   `A-Z a-z 0-9 _ - / :` are written `%XX`, so every topic is one token.
//! * One connection publishes and subscribes. The client reconnects by itself (at once, then with backoff from
//!   100 ms to 2 s) and subscribes again; what is published meanwhile waits in its buffer.
//! * Publishing never waits: broadcasts queue (bounded, 4096 messages); past that, and for messages the client
//!   refuses, `websocket_backplane_publish_failed_total` counts them and a warning (at most one a second) says so.
//! * A node that falls behind never holds the others up: NATS drops what a slow subscriber cannot take, and the
//!   client drops what overflows a subscription's buffer; the second kind is counted as
//!   `websocket_backplane_receive_dropped_total{reason="slow"}` and logged (at most once a second). Losing and
//!   regaining the server is logged too.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use futures_util::StreamExt;
use grest_ws_server::{Backplane, Inbox, PublishError};
use grest_ws_session::LogLimit;
use tokio::sync::mpsc;

/// Messages waiting for the connection before broadcasts fail with [`PublishError::Full`].
pub const DEFAULT_QUEUE: usize = 4096;

/// The namespace token of subjects unless another is given.
pub const DEFAULT_NAMESPACE: &str = "grest-ws";

/// Why a backplane could not be set up.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The namespace is not one subject token (empty, or with `.`, `*`, `>` or whitespace).
    Namespace(String),
    /// NATS could not be reached.
    Nats(async_nats::ConnectError),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Namespace(namespace) => write!(f, "{namespace:?} is not a NATS subject token"),
            ConnectError::Nats(error) => write!(f, "cannot reach NATS: {error}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// A backplane on a NATS server or cluster. Cheap to clone.
#[derive(Clone)]
pub struct NatsBackplane {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<(String, Bytes)>,
    subscriptions: mpsc::UnboundedSender<Change>,
}

impl std::fmt::Debug for NatsBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBackplane")
            .field("namespace", &self.shared.namespace)
            .finish_non_exhaustive()
    }
}

struct Shared {
    namespace: String,
    inbox: OnceLock<Inbox>,
}

/// A subscription to make or drop, by topic.
enum Change {
    Subscribe(String),
    Unsubscribe(String),
}

impl NatsBackplane {
    /// Connects to the NATS at `url` (`nats://host:port`), in the default namespace. Fails when NATS cannot be
    /// reached now; later outages are ridden out.
    pub async fn connect(url: &str) -> Result<Self, ConnectError> {
        NatsBackplane::connect_in(url, DEFAULT_NAMESPACE).await
    }

    /// Connects with subjects under the token `namespace` (`namespace.…`).
    pub async fn connect_in(url: &str, namespace: &str) -> Result<Self, ConnectError> {
        if namespace.is_empty() || namespace.contains(|c: char| matches!(c, '.' | '*' | '>') || c.is_whitespace()) {
            return Err(ConnectError::Namespace(namespace.to_owned()));
        }
        let client = async_nats::ConnectOptions::new()
            .event_callback(|event| async move { observe(event) })
            .reconnect_delay_callback(reconnect_delay)
            .connect(url)
            .await
            .map_err(ConnectError::Nats)?;
        let shared = Arc::new(Shared {
            namespace: namespace.to_owned(),
            inbox: OnceLock::new(),
        });
        let (outgoing, queue) = mpsc::channel(DEFAULT_QUEUE);
        let (subscriptions, changes) = mpsc::unbounded_channel();
        tokio::spawn(publish(client.clone(), queue));
        tokio::spawn(subscribe(client, shared.clone(), changes));
        Ok(NatsBackplane {
            shared,
            outgoing,
            subscriptions,
        })
    }
}

impl Backplane for NatsBackplane {
    fn start(&self, inbox: Inbox) {
        let _ = self.shared.inbox.set(inbox);
    }

    fn publish(&self, topic: &str, payload: Bytes) -> Result<(), PublishError> {
        let subject = subject(&self.shared.namespace, topic);
        self.outgoing.try_send((subject, payload)).map_err(PublishError::from)
    }

    fn subscribe(&self, topic: &str) {
        let _ = self.subscriptions.send(Change::Subscribe(topic.to_owned()));
    }

    fn unsubscribe(&self, topic: &str) {
        let _ = self.subscriptions.send(Change::Unsubscribe(topic.to_owned()));
    }
}

/// `namespace.topic`, the topic escaped into one subject token.
fn subject(namespace: &str, topic: &str) -> String {
    let mut subject = String::with_capacity(namespace.len() + 1 + topic.len());
    subject.push_str(namespace);
    subject.push('.');
    for byte in topic.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'/' | b':') {
            subject.push(char::from(byte));
        } else {
            subject.push_str(&format!("%{byte:02X}"));
        }
    }
    subject
}

/// The wait before reconnection attempt `attempts` (1, 2, …): none, then 100 ms doubling to 2 s, so cross-node
/// delivery resumes within about 2 s of NATS coming back however long it was gone.
fn reconnect_delay(attempts: usize) -> std::time::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(2)).unwrap_or(u32::MAX).min(5);
    match attempts {
        0 | 1 => std::time::Duration::ZERO,
        _ => std::time::Duration::from_millis(100 << doublings).min(std::time::Duration::from_secs(2)),
    }
}

/// Counts and logs what the client reports: messages dropped for a full subscription buffer, lost and regained
/// connections.
fn observe(event: async_nats::Event) {
    match event {
        async_nats::Event::SlowConsumer(_) => {
            metrics::counter!("websocket_backplane_receive_dropped_total", "reason" => "slow").increment(1);
            static LIMIT: LogLimit = LogLimit::new(1);
            if let Some(suppressed) = LIMIT.admit() {
                tracing::warn!(
                    suppressed,
                    "backplane messages dropped: this node reads NATS too slowly"
                );
            }
        }
        async_nats::Event::Disconnected => tracing::warn!("lost NATS; reconnecting"),
        async_nats::Event::Connected => tracing::info!("connected to NATS"),
        other => tracing::debug!(event = %other, "NATS client event"),
    }
}

/// Sends queued messages in order; a message the client refuses is counted as failed.
async fn publish(client: async_nats::Client, mut queue: mpsc::Receiver<(String, Bytes)>) {
    while let Some((subject, payload)) = queue.recv().await {
        if let Err(error) = client.publish(subject, payload).await {
            metrics::counter!("websocket_backplane_publish_failed_total", "stage" => "engine").increment(1);
            static LIMIT: LogLimit = LogLimit::new(1);
            if let Some(suppressed) = LIMIT.admit() {
                tracing::warn!(%error, suppressed, "a broadcast could not be published to NATS");
            }
        }
    }
}

/// Makes and drops subscriptions as asked; each subscription forwards its messages to the inbox on a task of its
/// own (the client subscribes again after a reconnect by itself).
async fn subscribe(client: async_nats::Client, shared: Arc<Shared>, mut changes: mpsc::UnboundedReceiver<Change>) {
    let mut held: HashMap<String, tokio::task::JoinHandle<()>> = HashMap::new();
    while let Some(change) = changes.recv().await {
        match change {
            Change::Subscribe(topic) if !held.contains_key(&topic) => {
                match client.subscribe(subject(&shared.namespace, &topic)).await {
                    Ok(mut subscriber) => {
                        let shared = shared.clone();
                        let forwarded = topic.clone();
                        let task = tokio::spawn(async move {
                            while let Some(message) = subscriber.next().await {
                                if let Some(inbox) = shared.inbox.get() {
                                    inbox.deliver(&forwarded, &message.payload);
                                }
                            }
                        });
                        held.insert(topic, task);
                    }
                    Err(error) => tracing::warn!(%error, topic, "cannot subscribe on NATS"),
                }
            }
            Change::Subscribe(_) => {}
            Change::Unsubscribe(topic) => {
                // Dropping the subscriber (with its task) unsubscribes.
                if let Some(task) = held.remove(&topic) {
                    task.abort();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Topics become one token under the namespace; subject syntax and anything unusual is escaped.
    #[test]
    fn topics_become_one_subject_token() {
        assert_eq!(subject("grest-ws", "/ws/chat:all"), "grest-ws./ws/chat:all");
        assert_eq!(
            subject("app", "/ws/chat:room:a.b *>%é"),
            "app./ws/chat:room:a%2Eb%20%2A%3E%25%C3%A9"
        );
    }
}
