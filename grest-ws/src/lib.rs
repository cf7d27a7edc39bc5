//! Contract-first, type-safe, bidirectional RPC over WebSocket — a wire-compatible implementation of the
//! [grest-ts](https://github.com/grest-ts/grest-ts) WebSocket package (`@grest-ts/websocket`).
//!
//! You declare a **duplex contract** once: the methods the client calls on the server, the messages and requests
//! the server sends to the client, their input and success types, their declared errors and the handshake query.
//! From that one declaration [`contract!`] generates a typed server trait (a missing handler is a compile error),
//! a typed client, one error enum per request method, input validation with grest's issue codes and a static
//! description of the contract ([`Contract::META`]). Servers mount on [axum](https://docs.rs/axum) next to
//! ordinary HTTP routes; grest-ts clients, browsers and the Rust client all speak the same bytes
//! (`type:path:id:data` text frames).
//!
//! # A contract, a server and a client
//!
//! ```
//! use grest_ws::client::Client;
//! use grest_ws::server::{Connected, GrestWs, serve};
//! use grest_ws::{ServerError, Validate, ValidationError, WebSocketSchema, contract};
//! use serde::{Deserialize, Serialize};
//!
//! // Payload types derive serde and `Validate`; the constraints drive decoding and the issues a peer receives.
//! #[derive(Debug, Clone, Serialize, Deserialize, Validate)]
//! #[serde(rename_all = "camelCase")]
//! pub struct SendMessage {
//!     #[validate(non_empty, max_length = 500)]
//!     pub text: String,
//!     pub channel_id: String,
//! }
//!
//! contract! {
//!     pub Chat {
//!         client_to_server {
//!             // Request-response (`-> Success`) with its declared errors; `Chat.sendMessage` on the wire.
//!             send_message(SendMessage) -> String, errors: [ValidationError, ServerError];
//!             // Fire-and-forget.
//!             typing();
//!         }
//!         server_to_client {
//!             new_message(String);
//!         }
//!     }
//! }
//!
//! pub const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");
//!
//! // One value per connection handles its messages; `chat::Peer` reaches that client.
//! struct ChatSession {
//!     peer: chat::Peer,
//! }
//!
//! impl chat::Server for ChatSession {
//!     async fn send_message(&self, input: SendMessage) -> grest_ws::HandlerResult<String, chat::SendMessageError> {
//!         self.peer.new_message(&input.text).await?; // a push back to the sender
//!         Ok("m1".to_owned())
//!     }
//!
//!     async fn typing(&self) {}
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The server: an axum router with the endpoint, served with limits for the open internet.
//!     let sockets = GrestWs::new()
//!         .ws(CHAT_API, |conn: Connected<Chat>| async move { ChatSession { peer: conn.peer } })
//!         .build()?;
//!     let app = axum::Router::new().route("/health", axum::routing::get(|| async { "ok" })).merge(sockets);
//!     let server = serve(tokio::net::TcpListener::bind("127.0.0.1:0").await?, app);
//!     let url = format!("ws://{}", server.local_addr()?);
//!     tokio::spawn(async move { server.await });
//!
//!     // The client: partial handlers for what the server sends, typed calls for the rest.
//!     let (pushed, mut pushes) = tokio::sync::mpsc::unbounded_channel();
//!     let handlers = chat::Handlers::new().on_new_message(move |text| {
//!         let _ = pushed.send(text);
//!         async {}
//!     });
//!     let client = Client::new(CHAT_API, url).connect(handlers).await?;
//!
//!     let message = SendMessage { text: "hello".into(), channel_id: "general".into() };
//!     assert_eq!(client.send_message(&message).await?, "m1");
//!     assert_eq!(pushes.recv().await.as_deref(), Some("hello"));
//!
//!     // Invalid input fails locally, with every issue listed; it never reaches the wire.
//!     let empty = SendMessage { text: String::new(), channel_id: "general".into() };
//!     match client.send_message(&empty).await {
//!         Err(chat::SendMessageError::ValidationError(error)) => assert_eq!(error.data[0].path, "text"),
//!         other => panic!("expected a validation error, got {other:?}"),
//!     }
//!
//!     client.typing().await?;
//!     client.disconnect().await;
//!     Ok(())
//! }
//! ```
//!
//! `contract!` generates the marker type `Chat` and a module `chat` with `chat::Server` (the trait the server
//! implements), `chat::Peer` (the server's handle to one client), `chat::Client` (the client's handle to the
//! server), `chat::Handlers` (the client's handlers for server messages, given at connect or added later with
//! `client.on(…)`), one error enum per request method (`chat::SendMessageError`), `chat::ConnectError` for the
//! `connect` section's errors, and `chat::push`, a marker type per server-to-client method
//! (`chat::push::NewMessage`) that the test kit names methods by. Declared errors are types: the built-in ones
//! ([`ValidationError`], [`NotFound`], [`ServerError`], …) and your own ([`define_error!`]).
//!
//! Handlers return [`HandlerResult`]: a declared error goes to the peer as it is, `?` on any other
//! `std::error::Error` answers `SERVER_ERROR` and logs the cause under the `ERR_REF` the peer received. A connect
//! handler may return a `HandlerResult` too, refusing the connection with a declared connect error, which a typed
//! client receives as `ConnectError::Rejected(chat::ConnectError::…)`.
//!
//! # What else is here
//!
//! * Validation with grest's issue codes from `#[derive(Validate)]`: structs, tuples, flattened fields and enums
//!   under each of serde's representations, with length, bound, `multiple_of`, `pattern` and format constraints
//!   (the derive's documentation lists them).
//! * Handshake queries (`connect { input: Query }`), credentials on [`Wire`]s bound to handlers, ambient wires,
//!   middleware in the schema's order, and [`Permission`]s on sockets and HTTP guards: see [`server::GrestWs`] and
//!   [`client::Client`]. Message handlers read their connection — peer address, port, principals per wire — through
//!   [`current_message`].
//! * Rooms with non-blocking fan-out ([`server::Rooms`]), and the same rooms across server processes on a
//!   backplane: [grest-ws-redis](https://docs.rs/grest-ws-redis) or [grest-ws-nats](https://docs.rs/grest-ws-nats).
//! * Reconnects with backoff, heartbeats, rotating credentials and socket pools on the client ([`client`]).
//! * Raw byte-stream sockets next to typed ones ([`RawContract`], [`RawSchema`]).
//! * Metrics through the [`metrics`](https://docs.rs/metrics) facade (the table is in [`server::metrics`]) and a
//!   `tracing` span per connection and per message.
//! * TypeScript types and a runtime contract descriptor for the TypeScript client (`typegen`, feature `typegen`).
//! * An AsyncAPI 3.0 document of the server's sockets, built or served (`asyncapi`, feature `asyncapi`).
//! * A test kit that starts your real server on an ephemeral port, with typed push expectations and typed mocks of
//!   server-to-client requests: [grest-ws-test](https://docs.rs/grest-ws-test).
//! * What the compiler refuses, so that mistakes never reach the wire: [`guarantees`].
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `server` | yes | the [`server`] module: endpoints on axum, rooms, [`serve`](server::serve) |
//! | `client` | yes | the [`client`] module: the native tokio client |
//! | `client-tls` | yes | `wss://` in the client (rustls with the web-PKI roots) |
//! | `macros` | yes | [`contract!`] and `#[derive(Validate)]` |
//! | `client-tls-native-roots` | no | the client can trust the operating system's certificate store |
//! | `server-tls` | no | `Serve::tls`: HTTPS and `wss://` served directly (rustls) |
//! | `typegen` | no | the `typegen` module: TypeScript generated from a contract |
//! | `asyncapi` | no | the `asyncapi` module and `GrestWs::asyncapi`: an AsyncAPI document generated from contracts |
//! | `full` | no | all of the above but `client-tls-native-roots` |
//!
//! Without `server` or `client`, the crate is the contract vocabulary alone: a crate that only declares the
//! shared contract can depend on `grest-ws` with `default-features = false, features = ["macros"]`.
//!
//! # The crates
//!
//! This crate re-exports the others, one path per public item; depend on it rather than on them.
//!
//! | crate | job |
//! |---|---|
//! | [grest-ws-core](https://docs.rs/grest-ws-core) | the wire protocol as values, no I/O: frames, envelopes, errors, validation, contract metadata ([`protocol`]) |
//! | [grest-ws-macros](https://docs.rs/grest-ws-macros) | `contract!` and `#[derive(Validate)]` |
//! | [grest-ws-session](https://docs.rs/grest-ws-session) | drives one socket for either end: dispatch, correlation, the outbound mailbox ([`session`]) |
//! | [grest-ws-server](https://docs.rs/grest-ws-server) | the axum server ([`server`]) |
//! | [grest-ws-client](https://docs.rs/grest-ws-client) | the native client ([`client`]) |
//! | [grest-ws-typegen](https://docs.rs/grest-ws-typegen) | TypeScript generation (`typegen`) |
//! | [grest-ws-asyncapi](https://docs.rs/grest-ws-asyncapi) | the AsyncAPI document (`asyncapi`) |
//! | [grest-ws-redis](https://docs.rs/grest-ws-redis), [grest-ws-nats](https://docs.rs/grest-ws-nats) | backplanes: rooms across server processes |
//! | [grest-ws-test](https://docs.rs/grest-ws-test) | the test kit |
//!
//! The [repository](https://github.com/grest-ws/grest-ws) has the wire protocol (`docs/protocol.md`), the
//! architecture (`docs/architecture.md`), a runnable chat example with a web page and the TypeScript client.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub use grest_ws_core::auth::{Wire, WireContext};
pub use grest_ws_core::contract::{Anchor, AnchorSchema, Extends};
pub use grest_ws_core::error::MethodError;
pub use grest_ws_core::{
    BadRequest, Contract, ContractMeta, Direction, ErrorContext, ErrorEnvelope, ErrorMeta, Exists, Forbidden,
    GrestError, HandlerError, HandlerResult, Issue, MethodMeta, NotAuthorized, NotFound, PayloadTooLarge, Permission,
    RawContract, RawSchema, RouteNotFound, ServerError, Validate, ValidationError, WebSocketSchema, define_error,
};
#[cfg(feature = "macros")]
pub use grest_ws_macros::{Validate, contract};
pub use grest_ws_session::{
    CloseFrame, ConnectionContext, DuplexContract, MessageContext, PeerHandle, ServerToClientMethod,
    ServerToClientRequest, SessionConfig, current_message,
};

/// Per-socket types shared by both ends (the `grest-ws-session` crate): connection ids, outbound queues and their
/// errors, heartbeats, raw frames, how a session ended.
pub mod session {
    pub use grest_ws_session::{
        CLOSE_SLOW_CONSUMER, ConnectionId, Heartbeat, LogMode, NodeId, Outbox, PreparedMessage, PreparedRequest,
        PushError, RAW_PING, RAW_PONG, RawControl, RawMessage, RawSender, SendError, SessionEnd, SlowConsumer,
    };
}

pub mod guarantees;

/// The wire protocol below the contract (the `grest-ws-core` crate): the frame codec, result envelopes, the
/// validation machinery, credential sources and error constants. What a contract author needs is at the crate
/// root; this is for code that speaks the wire itself.
pub mod protocol {
    pub use grest_ws_core::{envelope, frame};

    /// A contract as JSON data: what the TypeScript client reads and a served AsyncAPI document carries.
    pub mod contract {
        pub use grest_ws_core::contract::{ConnectDescriptor, ContractDescriptor, ErrorDescriptor, MethodDescriptor};
    }

    /// Credential sources of a handshake.
    pub mod auth {
        pub use grest_ws_core::auth::{Outbound, WireSource, cookie_value};
    }

    /// The original's fixed error messages and the listing rule for received errors.
    pub mod error {
        pub use grest_ws_core::error::{
            INVALID_ARGUMENTS, INVALID_QUERY, INVALID_RESPONSE, REQUEST_TIMEOUT, SOCKET_CLOSED, is_valid_error_type,
            match_envelope, now_millis, unlisted_error,
        };
    }

    /// Validation with grest's issue codes: shapes, rules, the checks and the decoders, and shapes as JSON
    /// descriptors and back ([`crate::Validate`] and [`crate::Issue`] are at the crate root).
    pub mod validate {
        pub use grest_ws_core::validate::{
            DescriptorError, Element, Field, Format, InvalidPattern, Issues, NameCollision, Path, Pattern,
            PatternCache, Rules, Segment, Shape, ShapeFn, ShapeReader, Tagging, Variant, check, check_value, decode,
            decode_query, decode_value, definitions, describe, describe_rules, number_value, untagged_mismatch,
        };
    }
}

/// The server (the `grest-ws-server` crate).
#[cfg(feature = "server")]
pub mod server {
    pub use grest_ws_server::*;
}

/// The native client (the `grest-ws-client` crate).
#[cfg(feature = "client")]
pub mod client {
    pub use grest_ws_client::*;
}

/// TypeScript types and the runtime contract descriptor for the TypeScript client (the `grest-ws-typegen`
/// crate; feature `typegen`).
#[cfg(feature = "typegen")]
pub mod typegen {
    pub use grest_ws_typegen::*;
}

/// The AsyncAPI 3.0 document of a server's sockets, generated from their contracts (the `grest-ws-asyncapi` crate;
/// feature `asyncapi`, which also adds `GrestWs::asyncapi` to the server).
#[cfg(feature = "asyncapi")]
pub mod asyncapi {
    pub use grest_ws_asyncapi::*;
}

#[doc(hidden)]
pub mod __private {
    pub use grest_ws_core as core;
    pub use grest_ws_session as session;
}

/// The crate README's example (the page crates.io shows), compiled as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
mod readme {}
