//! The AsyncAPI document of a server's endpoints, served as `GET <path>` (feature `asyncapi`; off until
//! [`GrestWs::asyncapi`] asks for it).

use axum::Router;
use axum::body::Bytes;
use axum::routing::get;
use grest_ws_asyncapi::{AsyncApi, AsyncApiError};
use grest_ws_core::contract::normalize_path;
use grest_ws_core::{Contract, RawContract, RawSchema, WebSocketSchema};
use http::header::{CONTENT_TYPE, HeaderValue};

use crate::GrestWs;

/// Adds one registered endpoint to a document: what `.ws(..)` and `.raw(..)` keep of their schema.
type Describe = Box<dyn Fn(AsyncApi) -> Result<AsyncApi, AsyncApiError> + Send + Sync>;

/// The document asked for, and every endpoint registered so far, in registration order.
#[derive(Default)]
pub(crate) struct Endpoints {
    served: Option<(String, AsyncApi)>,
    described: Vec<Describe>,
}

impl Endpoints {
    /// Records a typed endpoint.
    pub(crate) fn typed<C: Contract>(&mut self, schema: WebSocketSchema<C>) {
        self.described.push(Box::new(move |document| document.schema(schema)));
    }

    /// Records a raw endpoint.
    pub(crate) fn raw<C: RawContract>(&mut self, schema: RawSchema<C>) {
        self.described.push(Box::new(move |document| document.raw(schema)));
    }

    /// The path and the text of the document, when one was asked for; what keeps it from being served goes to
    /// `problems` (`taken`: whether an endpoint already answers at a path).
    pub(crate) fn render(&self, taken: impl Fn(&str) -> bool, problems: &mut Vec<String>) -> Option<(String, Bytes)> {
        let (path, base) = self.served.as_ref()?;
        if taken(path) {
            problems.push(format!("the AsyncAPI document's path {path:?} is an endpoint's"));
            return None;
        }
        let document = self
            .described
            .iter()
            .try_fold(base.clone(), |document, describe| describe(document));
        match document {
            Ok(document) => Some((path.clone(), Bytes::from(document.to_json()))),
            Err(error) => {
                problems.push(format!("the AsyncAPI document cannot describe the endpoints: {error}"));
                None
            }
        }
    }
}

/// Serves `body` as `GET path`, `application/json`.
pub(crate) fn mount(router: Router, path: &str, body: Bytes) -> Router {
    router.route(
        path,
        get(move || {
            let body = body.clone();
            async move { ([(CONTENT_TYPE, HeaderValue::from_static("application/json"))], body) }
        }),
    )
}

impl GrestWs {
    /// Serves the [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0) document of every
    /// endpoint registered on this server — typed ones (each module of an anchor on its anchor's channel) and raw
    /// ones, whenever they are registered — as `GET path` with `content-type: application/json`. `document` is the
    /// document's base: its info and servers (`AsyncApi::new(info).server(..)`); [`GrestWs::build`] adds the
    /// endpoints, renders it once, and refuses to build when it cannot (see `AsyncApiError`) or when `path` is an
    /// endpoint's. Off unless called: the document tells anyone who can reach the server its whole surface.
    ///
    /// ```
    /// # use grest_ws::{WebSocketSchema, contract};
    /// # contract! { pub Room { client_to_server { latest() -> u64; } server_to_client { event(u64); } } }
    /// # pub const ROOM_API: WebSocketSchema<Room> = WebSocketSchema::new("ws/room");
    /// # struct Session;
    /// # impl room::Server for Session {
    /// #     async fn latest(&self) -> grest_ws::HandlerResult<u64, room::LatestError> { Ok(1) }
    /// # }
    /// use grest_ws::asyncapi::{AsyncApi, AsyncApiInfo};
    /// use grest_ws::server::{Connected, GrestWs};
    ///
    /// # fn main() {
    /// let router = GrestWs::new()
    ///     .asyncapi("/asyncapi.json", AsyncApi::new(AsyncApiInfo::new("Rooms", "1.0.0")))
    ///     .ws(ROOM_API, |_: Connected<Room>| async { Session })
    ///     .build();
    /// assert!(router.is_ok());
    /// # }
    /// ```
    pub fn asyncapi(mut self, path: &str, document: AsyncApi) -> Self {
        self.asyncapi.served = Some((normalize_path(path), document));
        self
    }
}
