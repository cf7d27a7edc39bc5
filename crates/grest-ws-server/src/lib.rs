//! The grest-ws server: typed WebSocket endpoints mounted on an axum [`Router`], next to ordinary HTTP routes.
//!
//! ```ignore
//! let app = Router::new()
//!     .route("/health", get(|| async { "ok" }))
//!     .merge(GrestWs::new().ws(CHAT_API, |conn: Connected<Chat>| async move { ChatSession::new(conn) }).build()?);
//! ```
//!
//! Each connection runs the handshake pipeline (query validation, in-band handshake), then the connect handler
//! builds the per-connection value that implements the contract's server trait; only then is `k` sent.

mod connection;
mod upgrade;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use grest_ws_core::WebSocketSchema;
use grest_ws_session::{ServeWith, SessionConfig};

pub use connection::{CLOSE_HANDSHAKE_FAILED, CLOSE_INVALID_QUERY, Connected, ConnectionInfo};
use connection::{Endpoint, TypedEndpoint};

/// Server settings (DESIGN.md §7 defaults).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// How long a new connection may take to send its `h` frame. Default 5 s.
    pub handshake_timeout: Duration,
    /// Per-session limits.
    pub session: SessionConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            handshake_timeout: Duration::from_secs(5),
            session: SessionConfig::default(),
        }
    }
}

impl ServerConfig {
    /// Sets the handshake timeout.
    #[must_use]
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the per-session limits.
    #[must_use]
    pub fn session(mut self, session: SessionConfig) -> Self {
        self.session = session;
        self
    }
}

/// Why [`GrestWs::build`] refused to build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Two endpoints on one path.
    #[error("WebSocket path {0:?} is registered more than once")]
    DuplicatePath(String),
}

/// Collects typed WebSocket endpoints and builds them into an axum router.
#[must_use]
pub struct GrestWs {
    config: Arc<ServerConfig>,
    endpoints: Vec<Arc<dyn Endpoint>>,
}

impl Default for GrestWs {
    fn default() -> Self {
        GrestWs::new()
    }
}

impl std::fmt::Debug for GrestWs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrestWs")
            .field("paths", &self.endpoints.iter().map(|e| e.path()).collect::<Vec<_>>())
            .finish()
    }
}

impl GrestWs {
    /// No endpoints, default settings.
    pub fn new() -> Self {
        GrestWs {
            config: Arc::new(ServerConfig::default()),
            endpoints: Vec::new(),
        }
    }

    /// Replaces the settings of the endpoints registered after this call.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = Arc::new(config);
        self
    }

    /// Registers a typed endpoint. `on_connect` runs once per connection after the handshake, with the typed
    /// query and the handle to the client, and returns the per-connection value that implements the contract's
    /// server trait (a missing method is a compile error).
    pub fn ws<C, S, F, Fut>(mut self, schema: WebSocketSchema<C>, on_connect: F) -> Self
    where
        C: ServeWith<S>,
        S: Send + Sync + 'static,
        F: Fn(Connected<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = S> + Send + 'static,
    {
        let endpoint = TypedEndpoint::<C, S, F>::new(schema.route_path(), on_connect, self.config.clone());
        self.endpoints.push(Arc::new(endpoint));
        self
    }

    /// Builds the router. Fails when a path is registered twice. Merge the result into your application's router;
    /// an upgrade to any other path gets the router's 404.
    pub fn build(self) -> Result<Router, BuildError> {
        let mut seen = HashSet::new();
        let mut router = Router::new();
        for endpoint in self.endpoints {
            let path = endpoint.path().to_owned();
            if !seen.insert(path.clone()) {
                return Err(BuildError::DuplicatePath(path));
            }
            router = router.route(
                &path,
                get(move |request: Request| {
                    let endpoint = endpoint.clone();
                    async move { endpoint.handle(request) }
                }),
            );
        }
        Ok(router)
    }
}
