//! The grest-ws wire protocol, free of I/O: the frame codec, result envelopes, errors, validation issues and
//! contract metadata. Everything here is wire-compatible with the grest-ts original (see `docs/protocol.md`).
//!
//! Most users reach these items through the `grest-ws` umbrella crate.

pub mod auth;
pub mod contract;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod validate;

#[cfg(test)]
mod test_support;

pub use contract::{
    Contract, ContractMeta, Direction, ErrorMeta, MethodMeta, Permission, RawContract, RawSchema, WebSocketSchema,
};
pub use error::{
    BadRequest, ErrorContext, ErrorEnvelope, Exists, Forbidden, GrestError, MethodError, NotAuthorized, NotFound,
    PayloadTooLarge, RouteNotFound, ServerError, ValidationError, is_valid_error_type,
};
pub use frame::{Frame, FrameKind};
pub use validate::{Issue, Validate};

#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}
