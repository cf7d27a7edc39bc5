//! What a handler returns when it fails: [`HandlerError`], one of its method's declared errors or any other error.
//!
//! A handler answers with exactly the errors its method declares — the generated error enum (`JoinError` =
//! `RoomFull | ServerError`) says which. Everything else a handler can run into (a database error, an I/O error, a
//! failed parse) is the server's problem, not the caller's: the peer receives `SERVER_ERROR` with a fresh error
//! reference (`ERR_REF_…`), and the cause is logged under that reference and never sent. `?` does both:
//!
//! ```
//! use grest_ws_core::{GrestError, HandlerError, HandlerResult, MethodError, NotFound, ServerError};
//! # use grest_ws_core::ErrorEnvelope;
//! # #[derive(Debug)]
//! # enum FindError { NotFound(NotFound), ServerError(ServerError) }
//! # impl std::fmt::Display for FindError {
//! #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { self.to_envelope().fmt(f) }
//! # }
//! # impl std::error::Error for FindError {}
//! # impl MethodError for FindError {
//! #     fn server_error(error: ServerError) -> Self { FindError::ServerError(error) }
//! #     fn from_envelope(wire: ErrorEnvelope) -> Self { FindError::ServerError(ServerError::invalid_response()) }
//! #     fn to_envelope(&self) -> ErrorEnvelope { match self {
//! #         FindError::NotFound(e) => e.to_envelope(), FindError::ServerError(e) => e.to_envelope() } }
//! #     fn from_error(error: Box<dyn std::error::Error + Send + Sync>)
//! #         -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
//! #         match error.downcast::<NotFound>() { Ok(e) => Ok(FindError::NotFound(*e)), Err(e) => Err(e) }
//! #     }
//! # }
//! // `FindError` is what `contract!` generates for `find(String) -> u64, errors: [NotFound, ServerError]`.
//! fn find(id: &str) -> HandlerResult<u64, FindError> {
//!     if id.is_empty() {
//!         return Err(NotFound::new().into()); // a declared error: the caller receives NOT_FOUND
//!     }
//!     Ok(id.parse::<u64>()?) // any other error: the caller receives SERVER_ERROR, the cause is logged
//! }
//!
//! assert!(matches!(find("").unwrap_err().declared(), Some(FindError::NotFound(_))));
//! let failure = find("x").unwrap_err();
//! assert!(failure.declared().is_none());
//! let (sent, cause) = failure.into_reply();
//! let cause = cause.expect("an undeclared error keeps its cause");
//! assert_eq!(sent.to_envelope().error_type, "SERVER_ERROR");
//! assert_eq!(cause.reference, sent.to_envelope().context.reference); // the log line names what the peer got
//! assert_eq!(cause.error.to_string(), "invalid digit found in string");
//! ```

use std::error::Error;
use std::fmt;

use crate::error::{MethodError, ServerError};

/// A boxed error of any type, as [`HandlerError`] keeps an undeclared cause.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// The result of a handler of a request method: its success, or a [`HandlerError`] over its error enum `E`.
pub type HandlerResult<T, E> = Result<T, HandlerError<E>>;

/// A handler's failure: one of the method's declared errors (`E`, the generated error enum), or any other error,
/// which the peer receives as `SERVER_ERROR` while the cause is logged under that error's reference.
///
/// Every `std::error::Error` converts into it, so `?` works on anything in a handler; a declared error type
/// (`RoomFull`), the method's own enum, a received [`crate::ErrorEnvelope`] and a socket failure land on their
/// declared variant (the generated [`MethodError::from_error`] recognises them). Like `anyhow::Error`, it does not
/// implement `std::error::Error` itself: that is what lets every error convert into it.
pub struct HandlerError<E> {
    repr: Repr<E>,
}

enum Repr<E> {
    Declared(E),
    Undeclared(BoxError),
}

/// An undeclared cause of a failure, with the reference of the `SERVER_ERROR` its peer received instead.
#[derive(Debug)]
pub struct Cause {
    /// The `ERR_REF_…` of the error sent to the peer.
    pub reference: String,
    /// What went wrong (never sent to the peer).
    pub error: BoxError,
}

impl<E: MethodError> HandlerError<E> {
    /// A failure with a cause that is not an error type of its own: a message (`&str`, `String`) or an already
    /// boxed error (`Box<dyn Error>`, `anyhow::Error`). The peer receives `SERVER_ERROR`.
    pub fn undeclared(cause: impl Into<BoxError>) -> Self {
        HandlerError {
            repr: Repr::Undeclared(cause.into()),
        }
    }

    /// The declared error, if this is one.
    pub fn declared(&self) -> Option<&E> {
        match &self.repr {
            Repr::Declared(error) => Some(error),
            Repr::Undeclared(_) => None,
        }
    }

    /// The error to send: the declared one, or a fresh `SERVER_ERROR` together with the cause to log under its
    /// reference.
    pub fn into_reply(self) -> (E, Option<Cause>) {
        match self.repr {
            Repr::Declared(error) => (error, None),
            Repr::Undeclared(error) => {
                let sent = ServerError::new();
                let reference = sent.context.reference.clone();
                (E::server_error(sent), Some(Cause { reference, error }))
            }
        }
    }
}

impl<E: MethodError, X: Error + Send + Sync + 'static> From<X> for HandlerError<E> {
    fn from(error: X) -> Self {
        let repr = match E::from_error(Box::new(error)) {
            Ok(declared) => Repr::Declared(declared),
            Err(cause) => Repr::Undeclared(cause),
        };
        HandlerError { repr }
    }
}

impl<E: fmt::Debug> fmt::Debug for HandlerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Declared(error) => f.debug_tuple("Declared").field(error).finish(),
            Repr::Undeclared(cause) => f.debug_tuple("Undeclared").field(cause).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for HandlerError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Declared(error) => error.fmt(f),
            Repr::Undeclared(cause) => write!(f, "undeclared error (sent as SERVER_ERROR): {cause}"),
        }
    }
}
