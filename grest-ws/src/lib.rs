#![doc = include_str!("../../README.md")]

pub use grest_ws_core::auth::Wire;
pub use grest_ws_core::contract::{Anchor, AnchorSchema, Extends};
pub use grest_ws_core::error::MethodError;
pub use grest_ws_core::{
    BadRequest, Contract, ContractMeta, Direction, ErrorContext, ErrorEnvelope, ErrorMeta, Exists, Forbidden,
    GrestError, Issue, MethodMeta, NotAuthorized, NotFound, PayloadTooLarge, Permission, RawContract, RawSchema,
    RouteNotFound, ServerError, Validate, ValidationError, WebSocketSchema, define_error,
};
#[cfg(feature = "macros")]
pub use grest_ws_macros::{Validate, contract};
pub use grest_ws_session::{CloseFrame, DuplexContract, MessageContext, PeerHandle, SessionConfig, current_message};

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

    /// Validation with grest's issue codes: shapes, rules, the checks and the decoders ([`crate::Validate`] and
    /// [`crate::Issue`] are at the crate root).
    pub mod validate {
        pub use grest_ws_core::validate::{
            Field, Issues, Path, Rules, Segment, Shape, ShapeFn, check, check_value, decode, decode_query, decode_value,
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

#[doc(hidden)]
pub mod __private {
    pub use grest_ws_core as core;
    pub use grest_ws_session as session;
}
