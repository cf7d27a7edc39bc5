//! An [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0) document generated from
//! grest-ws contracts: what tools outside Rust (documentation renderers, code generators, contract tests) read to
//! learn a server's sockets.
//!
//! Like the TypeScript generator, it reads only a contract's static description ([`Contract::META`]), its
//! schema's path and wires, and the [`Shape`](grest_ws_core::validate::Shape)s of its payload types — the same
//! shapes the server validates with, so the document cannot drift from what the server accepts.
//!
//! # Building a document
//!
//! [`AsyncApi`] collects endpoints and renders the document: [`AsyncApi::schema`] adds a typed endpoint (each
//! module of an anchor joins its anchor's channel), [`AsyncApi::raw`] a byte-stream endpoint, and
//! [`AsyncApi::server`] a server to connect to. [`AsyncApi::document`] returns the document as a JSON value,
//! [`AsyncApi::to_json`] as pretty-printed text.
//!
//! ```
//! use grest_ws::asyncapi::{AsyncApi, AsyncApiInfo};
//! use grest_ws::{ServerError, Validate, ValidationError, WebSocketSchema, contract};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Validate)]
//! pub struct SendMessage {
//!     #[validate(non_empty, max_length = 500)]
//!     pub text: String,
//! }
//!
//! contract! {
//!     pub Chat {
//!         client_to_server { send_message(SendMessage) -> String, errors: [ValidationError, ServerError]; }
//!         server_to_client { new_message(String); }
//!     }
//! }
//! pub const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");
//!
//! fn main() -> Result<(), grest_ws::asyncapi::AsyncApiError> {
//!     let document = AsyncApi::new(AsyncApiInfo::new("Chat", "1.0.0"))
//!         .server("production", "chat.example.com", "wss")
//!         .schema(CHAT_API)?
//!         .document();
//!     let text = &document["components"]["schemas"]["SendMessage"]["properties"]["text"];
//!     assert_eq!((text["minLength"].as_u64(), text["maxLength"].as_u64()), (Some(1), Some(500)));
//!     let operation = &document["operations"]["clientToServer.Chat.sendMessage"];
//!     assert_eq!(operation["action"], "receive");
//!     assert!(operation["reply"].is_object(), "a request has a reply");
//!     Ok(())
//! }
//! ```
//!
//! A server built with `grest_ws::server::GrestWs` serves the document of every endpoint registered on it with
//! `GrestWs::asyncapi(path, AsyncApi::new(info))` (the `asyncapi` feature of `grest-ws`); it is off by default.
//!
//! # Whose view
//!
//! The document describes the **server**, the application that owns the endpoints: a `receive` operation is what
//! clients send to it (client-to-server methods, the handshake, raw frames from the client), a `send` operation what
//! it sends to clients (server-to-client methods, raw frames to the client). A client reads the actions the other
//! way round.
//!
//! # What is in it
//!
//! * **A channel per endpoint**, keyed by the contract's name (an anchor's name for modules sharing one socket, the
//!   raw contract's name for a byte stream); its `address` is the upgrade path. A wildcard raw path (`desktop/*`)
//!   becomes `/desktop/{path}` with a `path` parameter. Its WebSocket binding (`bindings.ws`) describes the
//!   upgrade: the handshake query as a `query` object schema (the declared query type's fields and the query
//!   wires), and in `headers` the `Cookie` header (when wires read cookies) and `Sec-WebSocket-Protocol` (when a
//!   foreign-client socket speaks subprotocols).
//! * **An operation per method and direction**, keyed `clientToServer.<Module.method>` or
//!   `serverToClient.<Module.method>`, tagged with its module: a request-response method has an Operation Reply
//!   whose messages are the success envelope and the envelope of each declared error type; a fire-and-forget
//!   method has none. Typed sockets and default-mode raw sockets also have `<Channel>.handshake` (the `h` frame,
//!   replied to with `k` or the declared connect errors in `x`); raw sockets have `clientToServer.<Name>` and
//!   `serverToClient.<Name>` carrying text and binary frames (`text/plain`, `application/octet-stream`).
//! * **Messages** are JSON (`defaultContentType`): a message's payload is a frame's `<data>` part, and the frame
//!   format itself is told once, in `info.description`. Requests' replies are result envelopes
//!   (`{"success":true,"type":"OK","data":…}`); error envelopes are shared in `components.messages`, one per error
//!   type, with its `type` and `statusCode` as constants.
//! * **Payload schemas** are JSON Schema (draft-07, which the AsyncAPI Schema Object extends), derived from each
//!   type's shape with its constraints: `minLength`/`maxLength` (counted in UTF-16 code units, as the validator
//!   counts; `non_empty` is a minimum of 1), `pattern`, `format` (`email`, `uri`, `uuid`, `date`, `date-time`,
//!   `ipv4`, `ipv6`, and either address family for `ip`), `minimum`/`maximum` (the number type's own bounds
//!   narrowed by the declared ones), `multipleOf`, `minItems`/`maxItems`. A field is required unless it is an
//!   `Option` or has a default; an `Option` is nullable; unit-only enums are string `enum`s; tuples are arrays with
//!   one `items` schema per position and a fixed length; maps are `additionalProperties`; flattened fields join
//!   their parent through `allOf`; enums follow serde's representation (`oneOf` of `{"Variant": content}` or the
//!   variant's name when externally tagged, of objects whose tag property is a `const` when internally or adjacently
//!   tagged, `anyOf` of the contents when untagged). Every named type is in `components.schemas` and referenced
//!   by `$ref`, so recursive types work.
//! * **Security**: each credential wire is a security scheme (`http` bearer for a bearer `authorization` header,
//!   else `httpApiKey` in `header`, `cookie` or `query`), listed in the `security` of every operation of the
//!   channels whose schema uses it. A header wire's value travels in the in-band `h` frame, not in an HTTP header of
//!   the upgrade, as its description says; the handshake message's payload lists the header keys. Each handshake
//!   operation's description lists the schema's wires, ambient wires and middleware slots in their order.
//!
//! # Extensions
//!
//! AsyncAPI has no field for a grest permission, so a declared permission is the specification extension
//! `x-grest-permission` on the operation it guards (the handshake for a connect permission): `"public"`, `"any"`,
//! `{"scope": "…"}`, `{"allOf": […]}` or `{"anyOf": […]}`. Each operation's description says it in words too.
//!
//! # Errors
//!
//! Adding an endpoint fails with an [`AsyncApiError`] when the document could not tell two things apart: two
//! different payload types with one name, two endpoints on one path (that are not modules of one anchor) or with
//! one channel name, two different wires with one name, or one error type with two status codes.
//!
//! # Output
//!
//! The document is deterministic: channels and operations in the order they were added (methods in declaration
//! order), fields in declaration order, components sorted by name.
//!
//! [`Contract::META`]: grest_ws_core::Contract::META

#![cfg_attr(docsrs, feature(doc_cfg))]

/// The crate README's example, compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}

mod document;
mod schema;
mod security;

use std::fmt;

use grest_ws_core::{Contract, RawContract, RawSchema, WebSocketSchema};
use serde_json::{Map, Value};

use document::{Document, PROTOCOL, RawEndpoint};

/// The AsyncAPI version of the document.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

/// The document's `info`: what the application is called, its version, and what it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncApiInfo {
    /// The application's title.
    pub title: String,
    /// The application's version (not the AsyncAPI version).
    pub version: String,
    /// What the application does (CommonMark). The document's description is this, followed by how grest frames
    /// work.
    pub description: Option<String>,
}

impl AsyncApiInfo {
    /// A title and a version, no description.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        AsyncApiInfo {
            title: title.into(),
            version: version.into(),
            description: None,
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }
}

/// Why an endpoint cannot join a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsyncApiError {
    /// Two different payload types share one Rust type name (`components.schemas` has one namespace).
    NameCollision(String),
    /// Two endpoints on one path that are not modules of one anchor, or a module added twice. (One contract at
    /// several paths is several channels: the later ones are named `<Contract>_<path>`.)
    DuplicateChannel(String),
    /// Two different wires share one name (security schemes are keyed by wire name).
    WireCollision(String),
    /// One error type is declared with two status codes.
    ErrorCollision(String),
}

impl fmt::Display for AsyncApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsyncApiError::NameCollision(name) => write!(
                f,
                "two different types are named `{name}`; rename one (the document's schemas share one namespace)"
            ),
            AsyncApiError::DuplicateChannel(name) => write!(f, "{name} is described twice as one channel"),
            AsyncApiError::WireCollision(name) => write!(
                f,
                "two different wires are named `{name}`; rename one (security schemes are keyed by wire name)"
            ),
            AsyncApiError::ErrorCollision(name) => {
                write!(f, "error type `{name}` is declared with two different status codes")
            }
        }
    }
}

impl std::error::Error for AsyncApiError {}

/// An AsyncAPI 3.0 document under construction: add endpoints, then render it.
///
/// ```
/// # use grest_ws::{WebSocketSchema, contract};
/// # contract! { pub Room { client_to_server { latest() -> u64; } server_to_client { event(u64); } } }
/// # pub const ROOM_API: WebSocketSchema<Room> = WebSocketSchema::new("ws/room");
/// use grest_ws::asyncapi::{AsyncApi, AsyncApiInfo};
///
/// fn main() -> Result<(), grest_ws::asyncapi::AsyncApiError> {
///     let json = AsyncApi::new(AsyncApiInfo::new("Rooms", "2.1.0").description("Live room events."))
///         .schema(ROOM_API)?
///         .to_json();
///     assert!(json.starts_with("{\n  \"asyncapi\": \"3.0.0\",\n  \"info\": {\n    \"title\": \"Rooms\""));
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncApi {
    info: AsyncApiInfo,
    servers: Map<String, Value>,
    document: Document,
}

impl AsyncApi {
    /// A document without endpoints.
    pub fn new(info: AsyncApiInfo) -> Self {
        AsyncApi {
            info,
            servers: Map::new(),
            document: Document::default(),
        }
    }

    /// Adds a server clients connect to: `name` is its key (letters, digits, `_`, `-`), `host` its host and port
    /// (`chat.example.com`, `127.0.0.1:3000`), `protocol` `ws` or `wss`. Every channel is on every server.
    #[must_use]
    pub fn server(mut self, name: impl Into<String>, host: impl Into<String>, protocol: impl Into<String>) -> Self {
        let server = serde_json::json!({ "host": host.into(), "protocol": protocol.into() });
        self.servers.insert(name.into(), server);
        self
    }

    /// Adds a typed endpoint: a channel at the schema's path with the handshake and every method of its contract.
    /// A module of an anchor ([`AnchorSchema::extend`](grest_ws_core::contract::AnchorSchema::extend)) joins the
    /// channel of the anchor's path when another module is already there: add each module to have all of them.
    pub fn schema<C: Contract>(mut self, schema: WebSocketSchema<C>) -> Result<Self, AsyncApiError> {
        self.document
            .typed(schema.route_path(), C::META, schema.wires(), schema.group())?;
        Ok(self)
    }

    /// Adds a raw byte-stream endpoint: a channel at the schema's path whose messages are text and binary frames.
    pub fn raw<C: RawContract>(mut self, schema: RawSchema<C>) -> Result<Self, AsyncApiError> {
        self.document.raw(RawEndpoint {
            meta: <C as Contract>::META,
            route: schema.route_path(),
            base: schema.base_path(),
            prefix: schema.is_prefix(),
            custom_client: C::CUSTOM_CLIENT,
            protocols: C::PROTOCOLS,
            wires: schema.wires(),
        })?;
        Ok(self)
    }

    /// The document.
    pub fn document(&self) -> Value {
        let mut root = Map::new();
        root.insert("asyncapi".to_owned(), Value::from(ASYNCAPI_VERSION));
        let description = match &self.info.description {
            Some(own) => format!("{}\n\n{PROTOCOL}", own.trim_end()),
            None => PROTOCOL.to_owned(),
        };
        root.insert(
            "info".to_owned(),
            serde_json::json!({
                "title": self.info.title,
                "version": self.info.version,
                "description": description,
            }),
        );
        root.insert("defaultContentType".to_owned(), Value::from("application/json"));
        if !self.servers.is_empty() {
            root.insert("servers".to_owned(), Value::Object(self.servers.clone()));
        }
        root.extend(self.document.render());
        Value::Object(root)
    }

    /// The document as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(&self.document()).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests;
