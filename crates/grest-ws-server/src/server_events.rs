//! Messages between the server processes themselves, not to connections: what one node tells the others so they
//! keep application state in step (a chat's history, a cache to drop). Socket.IO calls it `serverSideEmit`;
//! Phoenix applications use `Phoenix.PubSub` for it.
//!
//! [`GrestWs::server_events`](crate::GrestWs::server_events) names a channel and its message type, and gives the
//! two ends: [`ServerEvents::publish`] sends a value to every *other* node's receivers (one backplane message,
//! serialized once as JSON), and [`ServerEventReceiver::recv`] waits for the next value another node published.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use grest_ws_server::GrestWs;
//!
//! let server = GrestWs::new(); // .backplane(RedisBackplane::connect(..).await?) in a cluster
//! let (events, mut incoming) = server.server_events::<String>("cache-drop");
//! let _router = server.build()?;
//! tokio::spawn(async move {
//!     while let Some(key) = incoming.recv().await {
//!         println!("another node changed {key}");
//!     }
//! });
//! events.publish(&"user:42".to_owned())?;
//! # Ok(()) }
//! ```
//!
//! Without a backplane there are no other nodes: `publish` succeeds and reaches nobody. A receiver holds at most
//! [`SERVER_EVENT_BUFFER`] values it has not taken yet; past that, new ones are dropped, counted as
//! `websocket_backplane_receive_dropped_total{reason="slow"}` and logged (at most once a second). A value that
//! does not deserialize as the channel's type is counted with `reason="unreadable"` and skipped.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use grest_ws_session::LogLimit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::PublishError;
use crate::backplane::Cluster;

/// Values a [`ServerEventReceiver`] holds before newer ones are dropped.
pub const SERVER_EVENT_BUFFER: usize = 1024;

/// One named channel: where its values go out, and the receivers they come in to.
pub(crate) struct Hub {
    name: String,
    cluster: OnceLock<Arc<Cluster>>,
    receivers: Mutex<Vec<mpsc::Sender<Bytes>>>,
}

impl Hub {
    pub(crate) fn new(name: &str) -> Arc<Hub> {
        Arc::new(Hub {
            name: name.to_owned(),
            cluster: OnceLock::new(),
            receivers: Mutex::new(Vec::new()),
        })
    }

    /// Connects the channel to the cluster, once the server is built with a backplane.
    pub(crate) fn join_cluster(&self, cluster: Arc<Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// Hands a value another node published to every receiver (dropping receivers that are gone).
    pub(crate) fn deliver(&self, data: &[u8]) {
        let data = Bytes::copy_from_slice(data);
        let mut receivers = self.receivers.lock().unwrap_or_else(|e| e.into_inner());
        receivers.retain(|receiver| match receiver.try_send(data.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("websocket_backplane_receive_dropped_total", "reason" => "slow").increment(1);
                static LIMIT: LogLimit = LogLimit::new(1);
                if let Some(suppressed) = LIMIT.admit() {
                    tracing::warn!(channel = %self.name, suppressed, "a server event was dropped: its receiver is full");
                }
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    fn receiver(&self) -> mpsc::Receiver<Bytes> {
        let (sender, receiver) = mpsc::channel(SERVER_EVENT_BUFFER);
        self.receivers.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
        receiver
    }
}

/// The sending end of a server-event channel: publishes `T` values to the other nodes. Cheap to clone.
pub struct ServerEvents<T> {
    hub: Arc<Hub>,
    _values: PhantomData<fn(&T)>,
}

impl<T> Clone for ServerEvents<T> {
    fn clone(&self) -> Self {
        ServerEvents {
            hub: self.hub.clone(),
            _values: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for ServerEvents<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEvents").field("name", &self.hub.name).finish()
    }
}

/// Why a server event was not published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerEventError {
    /// The value did not serialize.
    #[error("the server event did not serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The backplane did not take it.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl<T: Serialize> ServerEvents<T> {
    /// Sends `value` to the receivers of this channel on every other node (not this one's). Returns at once;
    /// fails when the value does not serialize or the backplane's queue refuses it (which is also counted in
    /// `websocket_backplane_publish_failed_total`).
    pub fn publish(&self, value: &T) -> Result<(), ServerEventError> {
        let Some(cluster) = self.hub.cluster.get() else {
            return Ok(());
        };
        let data = serde_json::to_vec(value)?;
        cluster.publish_event(&self.hub.name, &data)?;
        Ok(())
    }
}

/// The receiving end of a server-event channel: the `T` values other nodes publish, in the order each node
/// published them.
pub struct ServerEventReceiver<T> {
    name: String,
    incoming: mpsc::Receiver<Bytes>,
    _values: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ServerEventReceiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEventReceiver").field("name", &self.name).finish()
    }
}

impl<T: DeserializeOwned> ServerEventReceiver<T> {
    /// The next value another node published; `None` once the channel is gone (the server and every
    /// [`ServerEvents`] of it dropped).
    pub async fn recv(&mut self) -> Option<T> {
        loop {
            let data = self.incoming.recv().await?;
            match serde_json::from_slice(&data) {
                Ok(value) => return Some(value),
                Err(error) => {
                    metrics::counter!("websocket_backplane_receive_dropped_total", "reason" => "unreadable")
                        .increment(1);
                    static LIMIT: LogLimit = LogLimit::new(1);
                    if let Some(suppressed) = LIMIT.admit() {
                        tracing::warn!(channel = %self.name, %error, suppressed, "a server event did not deserialize");
                    }
                }
            }
        }
    }
}

/// Both ends of the channel `hub`, typed.
pub(crate) fn channel<T>(hub: Arc<Hub>) -> (ServerEvents<T>, ServerEventReceiver<T>) {
    let receiver = ServerEventReceiver {
        name: hub.name.clone(),
        incoming: hub.receiver(),
        _values: PhantomData,
    };
    (
        ServerEvents {
            hub,
            _values: PhantomData,
        },
        receiver,
    )
}
