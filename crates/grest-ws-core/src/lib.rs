//! The grest-ws wire protocol, free of I/O: the frame codec, result envelopes, errors, validation issues and
//! contract metadata. Everything here is wire-compatible with the grest-ts original (the repository's
//! `docs/protocol.md` specifies it).
//!
//! Most users reach these items through the [`grest-ws`](https://docs.rs/grest-ws) umbrella crate, whose
//! `contract!` macro writes the [`Contract`] implementations and whose server and client speak the frames. Code
//! that speaks the wire itself — a proxy, a fuzzer, a test that writes frames by hand — uses this crate directly:
//!
//! ```
//! use grest_ws_core::frame::{Frame, FrameKind, write_frame};
//! use grest_ws_core::envelope::write_ok;
//!
//! // A request: `<type>:<path>:<id>:<data>`; colons inside the data are kept.
//! let frame = Frame::parse(r#"r:Chat.sendMessage:1:{"text":"a:b"}"#).unwrap();
//! assert_eq!(frame.kind, FrameKind::Request);
//! assert_eq!((frame.path, frame.id, frame.data), ("Chat.sendMessage", Some("1"), Some(r#"{"text":"a:b"}"#)));
//!
//! // Its reply: a success envelope as the data of an `s` frame with the same id.
//! let mut envelope = Vec::new();
//! write_ok(&mut envelope, "m1").unwrap();
//! let mut reply = String::new();
//! write_frame(&mut reply, FrameKind::Response, frame.path, frame.id, Some(std::str::from_utf8(&envelope).unwrap()));
//! assert_eq!(reply, r#"s:Chat.sendMessage:1:{"success":true,"type":"OK","data":"m1"}"#);
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod contract;
pub mod envelope;
pub mod error;
pub mod frame;
pub mod handler;
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
pub use handler::{HandlerError, HandlerResult};
pub use validate::{Issue, Validate};

#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}
