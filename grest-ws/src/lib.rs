#![doc = include_str!("../../README.md")]

pub use grest_ws_core::auth::Wire;
pub use grest_ws_core::contract::{Anchor, AnchorSchema, Extends};
pub use grest_ws_core::error::MethodError;
pub use grest_ws_core::{
    BadRequest, Contract, ContractMeta, Direction, ErrorContext, ErrorMeta, Exists, Forbidden, GrestError, Issue,
    MethodMeta, NotAuthorized, NotFound, PayloadTooLarge, Permission, RawContract, RawSchema, RouteNotFound,
    ServerError, Validate, ValidationError, WebSocketSchema, WireError, define_error,
};
#[cfg(feature = "macros")]
pub use grest_ws_macros::{Validate, contract};
pub use grest_ws_session::{CloseFrame, DuplexContract, MessageContext, PeerHandle, SessionConfig, current_message};

/// Per-socket settings shared by both ends (the `grest-ws-session` crate).
pub mod session {
    pub use grest_ws_session::{
        CLOSE_SLOW_CONSUMER, ConnectionId, Heartbeat, LogMode, Outbox, PreparedMessage, PushError, RAW_PING, RAW_PONG,
        RawControl, RawMessage, RawSender, SendError, SessionConfig, SessionEnd, SlowConsumer,
    };
}

pub mod guarantees;

/// The wire protocol: frame codec, envelopes, validation (the `grest-ws-core` crate).
pub mod protocol {
    pub use grest_ws_core::{auth, envelope, error, frame, validate};
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

#[doc(hidden)]
pub mod __private {
    pub use grest_ws_core as core;
    pub use grest_ws_session as session;
}
