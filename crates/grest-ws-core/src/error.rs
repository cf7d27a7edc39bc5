//! Errors as docs/protocol.md §1.8 and §9 define them: a wire form ([`ErrorEnvelope`]) of any type, the typed form
//! ([`GrestError`]) for each declared error, the standard set, and [`define_error!`](crate::define_error!) for user-defined ones.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::validate::Issue;

/// The public context every error envelope carries: `{displayMessage?, timestamp, ref}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorContext {
    /// A message meant for the end user; omitted from the wire when `None`.
    #[serde(rename = "displayMessage", default, skip_serializing_if = "Option::is_none")]
    pub display_message: Option<String>,
    /// Milliseconds since the Unix epoch when the error was created.
    #[serde(default)]
    pub timestamp: u64,
    /// A unique reference (`ERR_REF_…`) that ties the peer's report to the server's log line.
    #[serde(rename = "ref", default)]
    pub reference: String,
}

impl ErrorContext {
    /// A fresh context: now, a new reference, no display message.
    pub fn new() -> Self {
        let timestamp = now_millis();
        ErrorContext {
            display_message: None,
            timestamp,
            reference: new_reference(timestamp),
        }
    }

    /// A fresh context with a display message.
    pub fn with_display_message(message: impl Into<String>) -> Self {
        ErrorContext {
            display_message: Some(message.into()),
            ..ErrorContext::new()
        }
    }
}

impl Default for ErrorContext {
    fn default() -> Self {
        ErrorContext::new()
    }
}

/// The current time in milliseconds since the Unix epoch (0 if the clock reads earlier): what
/// [`ErrorContext::timestamp`] holds, public so that application messages can carry timestamps on the same scale.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `ERR_REF_` + 8 random base-36 characters + the time in base 36, as the original builds it.
fn new_reference(timestamp: u64) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u64(timestamp);
    let mut out = String::with_capacity(24);
    out.push_str("ERR_REF_");
    push_base36(&mut out, hasher.finish() % 36u64.pow(8), 8);
    push_base36(&mut out, timestamp, 0);
    out
}

fn push_base36(out: &mut String, mut n: u64, min_width: usize) {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    while n > 0 || buf.len() - i < min_width.max(1) {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    out.extend(buf[i..].iter().map(|&b| b as char));
}

/// An error of any type, in the exact shape of the wire envelope:
/// `{"success":false,"type":…,"data":…,"statusCode":…,"context":{…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEnvelope {
    /// The error type, e.g. `VALIDATION_ERROR` or `ROOM_FULL`.
    pub error_type: String,
    /// The error data; omitted from the wire when `None`.
    pub data: Option<Value>,
    /// The HTTP-like status code.
    pub status_code: u16,
    /// The public context.
    pub context: ErrorContext,
}

#[derive(Serialize, Deserialize)]
struct ErrorEnvelopeRepr<D> {
    success: bool,
    #[serde(rename = "type")]
    error_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<D>,
    #[serde(rename = "statusCode", default)]
    status_code: u16,
    #[serde(default)]
    context: Option<ErrorContext>,
}

impl Serialize for ErrorEnvelope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Repr<'a> {
            success: bool,
            #[serde(rename = "type")]
            error_type: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            data: Option<&'a Value>,
            #[serde(rename = "statusCode")]
            status_code: u16,
            context: &'a ErrorContext,
        }
        Repr {
            success: false,
            error_type: &self.error_type,
            data: self.data.as_ref(),
            status_code: self.status_code,
            context: &self.context,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ErrorEnvelope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let repr = ErrorEnvelopeRepr::<Value>::deserialize(deserializer)?;
        if repr.success {
            return Err(serde::de::Error::custom("not an error envelope"));
        }
        Ok(ErrorEnvelope {
            error_type: repr.error_type,
            data: repr.data,
            status_code: repr.status_code,
            context: repr.context.unwrap_or_else(|| ErrorContext {
                display_message: None,
                timestamp: 0,
                reference: String::new(),
            }),
        })
    }
}

impl<E: GrestError> From<E> for ErrorEnvelope {
    fn from(error: E) -> Self {
        error.to_envelope()
    }
}

impl ErrorEnvelope {
    /// Serializes the envelope to JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("null"))
    }
}

impl fmt::Display for ErrorEnvelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.error_type, self.status_code)?;
        if let Some(message) = &self.context.display_message {
            write!(f, ": {message}")?;
        }
        write!(f, " [{}]", self.context.reference)
    }
}

impl std::error::Error for ErrorEnvelope {}

/// A typed grest error: one type string, one status code, optionally typed data.
///
/// Implemented by the standard errors and by every [`define_error!`](crate::define_error!).
pub trait GrestError: Sized + Send + Sync + fmt::Debug + 'static {
    /// The wire type, `^[A-Z][A-Za-z0-9_]*$`.
    const TYPE: &'static str;
    /// The HTTP-like status code, 100–599.
    const STATUS_CODE: u16;
    /// The public context.
    fn context(&self) -> &ErrorContext;
    /// The wire form.
    fn to_envelope(&self) -> ErrorEnvelope;
    /// The typed form of a received wire error of this type; `None` when its data does not match.
    fn from_envelope(wire: ErrorEnvelope) -> Option<Self>;
}

/// Whether `t` is a valid error type (`^[A-Z][A-Za-z0-9_]*$`). `const` so [`define_error!`](crate::define_error!) checks at compile time.
pub const fn is_valid_error_type(t: &str) -> bool {
    let bytes = t.as_bytes();
    if bytes.is_empty() || !bytes[0].is_ascii_uppercase() {
        return false;
    }
    let mut i = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_') {
            return false;
        }
        i += 1;
    }
    true
}

/// Defines a grest error type: a struct with a public `context` (and `data` when declared), implementing
/// [`GrestError`], `Display` and `std::error::Error`. The type string and status code are checked at compile time.
///
/// ```
/// use grest_ws_core::define_error;
/// define_error! {
///     /// The room has no free seat.
///     pub struct RoomFull = ("ROOM_FULL", 400);
///     /// Too many rooms, with the limit as data.
///     pub struct TooManyRooms = ("TOO_MANY_ROOMS", 429, data: u32);
/// }
/// let e = TooManyRooms::new(3);
/// assert_eq!(e.data, 3);
/// assert_eq!(RoomFull::new().to_string().split(' ').next(), Some("ROOM_FULL"));
/// ```
#[macro_export]
macro_rules! define_error {
    () => {};
    ($(#[$meta:meta])* $vis:vis struct $name:ident = ($ty:literal, $status:literal); $($rest:tt)*) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            /// The public error context.
            pub context: $crate::ErrorContext,
        }
        impl $name {
            /// A new error with a fresh context.
            $vis fn new() -> Self {
                $name { context: $crate::ErrorContext::new() }
            }
            /// A new error with a display message for the end user.
            $vis fn with_display_message(message: impl Into<String>) -> Self {
                $name { context: $crate::ErrorContext::with_display_message(message) }
            }
        }
        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
        impl $crate::GrestError for $name {
            const TYPE: &'static str = $ty;
            const STATUS_CODE: u16 = $status;
            fn context(&self) -> &$crate::ErrorContext {
                &self.context
            }
            fn to_envelope(&self) -> $crate::ErrorEnvelope {
                $crate::ErrorEnvelope {
                    error_type: ::std::string::String::from($ty),
                    data: None,
                    status_code: $status,
                    context: self.context.clone(),
                }
            }
            fn from_envelope(wire: $crate::ErrorEnvelope) -> Option<Self> {
                Some($name { context: wire.context })
            }
        }
        $crate::define_error!(@common $name, $ty, $status);
        $crate::define_error!($($rest)*);
    };
    ($(#[$meta:meta])* $vis:vis struct $name:ident = ($ty:literal, $status:literal, data: $data:ty); $($rest:tt)*) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            /// The error data.
            pub data: $data,
            /// The public error context.
            pub context: $crate::ErrorContext,
        }
        impl $name {
            /// A new error with a fresh context.
            $vis fn new(data: $data) -> Self {
                $name { data, context: $crate::ErrorContext::new() }
            }
            /// A new error with a display message for the end user.
            $vis fn with_display_message(data: $data, message: impl Into<String>) -> Self {
                $name { data, context: $crate::ErrorContext::with_display_message(message) }
            }
        }
        impl $crate::GrestError for $name {
            const TYPE: &'static str = $ty;
            const STATUS_CODE: u16 = $status;
            fn context(&self) -> &$crate::ErrorContext {
                &self.context
            }
            fn to_envelope(&self) -> $crate::ErrorEnvelope {
                $crate::ErrorEnvelope {
                    error_type: ::std::string::String::from($ty),
                    data: $crate::__private::serde_json::to_value(&self.data).ok(),
                    status_code: $status,
                    context: self.context.clone(),
                }
            }
            fn from_envelope(wire: $crate::ErrorEnvelope) -> Option<Self> {
                let data = $crate::validate::decode_value::<$data>(wire.data?).ok()?;
                Some($name { data, context: wire.context })
            }
        }
        $crate::define_error!(@common $name, $ty, $status);
        $crate::define_error!($($rest)*);
    };
    (@common $name:ident, $ty:literal, $status:literal) => {
        const _: () = assert!($crate::is_valid_error_type($ty), "error type must match ^[A-Z][A-Za-z0-9_]*$");
        const _: () = assert!($status >= 100 && $status <= 599, "status code must be in 100..=599");
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&$crate::GrestError::to_envelope(self), f)
            }
        }
        impl ::std::error::Error for $name {}
    };
}

define_error! {
    /// `NOT_AUTHORIZED` (401): no or invalid credentials.
    pub struct NotAuthorized = ("NOT_AUTHORIZED", 401);
    /// `FORBIDDEN` (403): authenticated, but lacking permission.
    pub struct Forbidden = ("FORBIDDEN", 403);
    /// `BAD_REQUEST` (400).
    pub struct BadRequest = ("BAD_REQUEST", 400);
    /// `NOT_FOUND` (404): the addressed entity does not exist.
    pub struct NotFound = ("NOT_FOUND", 404);
    /// `ROUTE_NOT_FOUND` (404): no handler for the message path.
    pub struct RouteNotFound = ("ROUTE_NOT_FOUND", 404);
    /// `EXISTS` (409).
    pub struct Exists = ("EXISTS", 409);
    /// `PAYLOAD_TOO_LARGE` (413).
    pub struct PayloadTooLarge = ("PAYLOAD_TOO_LARGE", 413);
    /// `SERVER_ERROR` (500): anything unexpected; details stay in the server log.
    pub struct ServerError = ("SERVER_ERROR", 500);
    /// `VALIDATION_ERROR` (422), with every issue found.
    pub struct ValidationError = ("VALIDATION_ERROR", 422, data: Vec<Issue>);
}

impl RouteNotFound {
    /// The original's error for an unknown path: display message `Route not found: <path>`, the path cut to
    /// [`crate::frame::CLIP`] bytes (with `…` when cut), since it comes from the client.
    pub fn for_path(path: &str) -> Self {
        let shown = crate::frame::clip(path);
        let more = if shown.len() < path.len() { "…" } else { "" };
        RouteNotFound::with_display_message(format!("Route not found: {shown}{more}"))
    }
}

impl ServerError {
    /// `SERVER_ERROR` "Invalid response": an undeclared error, or a reply that fails its schema.
    pub fn invalid_response() -> Self {
        ServerError::with_display_message(INVALID_RESPONSE)
    }
}

/// Display message of the error sent for undeclared errors and replies that fail their schema.
pub const INVALID_RESPONSE: &str = "Invalid response";
/// Display message of requests that fail because the socket closed.
pub const SOCKET_CLOSED: &str = "Socket connection closed!";
/// Display message of requests that got no reply in time.
pub const REQUEST_TIMEOUT: &str = "Request timeout";
/// Display message of a server-side input validation failure.
pub const INVALID_ARGUMENTS: &str = "Invalid arguments";
/// Display message of a query validation failure.
pub const INVALID_QUERY: &str = "Invalid query parameters";

/// The error type of one contract method: exactly its declared errors, plus `SERVER_ERROR`.
/// The contract macro generates one enum per method implementing this.
pub trait MethodError: Sized + std::error::Error + Send + Sync + 'static {
    /// Wraps a server error (transport failures, undeclared errors).
    fn server_error(error: ServerError) -> Self;
    /// Maps a received wire error: a declared type with matching data becomes its variant, `SERVER_ERROR` and
    /// `PAYLOAD_TOO_LARGE` become a server error, anything else `SERVER_ERROR` "Invalid response" (§1.8).
    fn from_envelope(wire: ErrorEnvelope) -> Self;
    /// The wire form to send.
    fn to_envelope(&self) -> ErrorEnvelope;
    /// Recognises an error a handler ran into (its `?`): this enum itself, one of its declared types, or a
    /// received [`ErrorEnvelope`] (by the listing rule) becomes a value of this enum; anything else is handed back
    /// as an undeclared cause. The generated enums also recognise each declared type and socket failures.
    fn from_error(error: crate::handler::BoxError) -> Result<Self, crate::handler::BoxError> {
        let error = match error.downcast::<Self>() {
            Ok(own) => return Ok(*own),
            Err(error) => error,
        };
        match error.downcast::<ErrorEnvelope>() {
            Ok(wire) => Ok(Self::from_envelope(*wire)),
            Err(error) => Err(error),
        }
    }
}

/// The wire form of an error of a listed type, decoded; `Err` hands the wire error back when the type differs,
/// and `Ok(None)` means the type matched but the data did not. Used by generated [`MethodError::from_envelope`].
pub fn match_envelope<E: GrestError>(wire: ErrorEnvelope) -> Result<Option<E>, ErrorEnvelope> {
    if wire.error_type == E::TYPE {
        Ok(E::from_envelope(wire))
    } else {
        Err(wire)
    }
}

/// The fallback of [`MethodError::from_envelope`] for types the method does not list.
pub fn unlisted_error(wire: ErrorEnvelope) -> ServerError {
    if wire.error_type == ServerError::TYPE || wire.error_type == PayloadTooLarge::TYPE {
        ServerError { context: wire.context }
    } else {
        ServerError::invalid_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_errors_have_the_protocol_codes() {
        let table: [(&str, u16, &str, u16); 9] = [
            (
                ValidationError::TYPE,
                ValidationError::STATUS_CODE,
                "VALIDATION_ERROR",
                422,
            ),
            (NotAuthorized::TYPE, NotAuthorized::STATUS_CODE, "NOT_AUTHORIZED", 401),
            (Forbidden::TYPE, Forbidden::STATUS_CODE, "FORBIDDEN", 403),
            (BadRequest::TYPE, BadRequest::STATUS_CODE, "BAD_REQUEST", 400),
            (NotFound::TYPE, NotFound::STATUS_CODE, "NOT_FOUND", 404),
            (RouteNotFound::TYPE, RouteNotFound::STATUS_CODE, "ROUTE_NOT_FOUND", 404),
            (Exists::TYPE, Exists::STATUS_CODE, "EXISTS", 409),
            (
                PayloadTooLarge::TYPE,
                PayloadTooLarge::STATUS_CODE,
                "PAYLOAD_TOO_LARGE",
                413,
            ),
            (ServerError::TYPE, ServerError::STATUS_CODE, "SERVER_ERROR", 500),
        ];
        for (ty, code, want_ty, want_code) in table {
            assert_eq!((ty, code), (want_ty, want_code));
        }
    }

    #[test]
    fn error_envelope_has_exact_key_order() {
        let e = RouteNotFound::for_path("Chat.nope");
        let json = e.to_envelope().to_json();
        let prefix = r#"{"success":false,"type":"ROUTE_NOT_FOUND","statusCode":404,"context":{"displayMessage":"Route not found: Chat.nope","timestamp":"#;
        assert!(json.starts_with(prefix), "{json}");
        assert!(json.contains(r#","ref":"ERR_REF_"#), "{json}");
        assert!(json.ends_with("\"}}"), "{json}");
    }

    #[test]
    fn error_without_display_message_omits_it() {
        let json = ServerError::new().to_envelope().to_json();
        assert!(json.starts_with(r#"{"success":false,"type":"SERVER_ERROR","statusCode":500,"context":{"timestamp":"#));
    }

    #[test]
    fn data_sits_between_type_and_status() {
        let e = ValidationError::with_display_message(
            vec![
                Issue::new("text", "invalid.string.nonEmpty", "Value must not be empty")
                    .with_value(Value::String(String::new())),
            ],
            INVALID_ARGUMENTS,
        );
        let json = e.to_envelope().to_json();
        assert!(
            json.starts_with(r#"{"success":false,"type":"VALIDATION_ERROR","data":[{"path":"text","code":"invalid.string.nonEmpty","message":"Value must not be empty","value":""}],"statusCode":422,"context":{"displayMessage":"Invalid arguments","timestamp":"#),
            "{json}"
        );
    }

    #[test]
    fn references_are_unique_and_well_formed() {
        let a = ErrorContext::new();
        let b = ErrorContext::new();
        assert_ne!(a.reference, b.reference);
        assert!(a.reference.starts_with("ERR_REF_"));
        assert!(
            a.reference[8..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
        assert!(a.reference.len() >= 8 + 8 + 8);
    }

    #[test]
    fn error_envelope_round_trips_with_typed_data() {
        define_error! {
            /// A user-defined error with data.
            struct RoomFull = ("ROOM_FULL", 400, data: u32);
        }
        assert_eq!(RoomFull::new(7).data, 7);
        let sent = RoomFull::with_display_message(5, "Room is full");
        let json = sent.to_envelope().to_json();
        assert!(json.starts_with(r#"{"success":false,"type":"ROOM_FULL","data":5,"statusCode":400,"#));
        let wire: ErrorEnvelope = serde_json::from_str(&json).unwrap();
        let back = RoomFull::from_envelope(wire).unwrap();
        assert_eq!(back, sent);
        let wrong: ErrorEnvelope = serde_json::from_str(&json.replace("\"data\":5", "\"data\":\"x\"")).unwrap();
        assert_eq!(RoomFull::from_envelope(wrong), None);
    }

    #[test]
    fn error_type_rule() {
        assert!(is_valid_error_type("ROOM_FULL"));
        assert!(is_valid_error_type("A1_b"));
        assert!(!is_valid_error_type("room"));
        assert!(!is_valid_error_type("A-B"));
        assert!(!is_valid_error_type(""));
    }

    #[test]
    fn unlisted_types_become_invalid_response() {
        let wire = NotFound::new().to_envelope();
        let e = unlisted_error(wire);
        assert_eq!(e.context.display_message.as_deref(), Some(INVALID_RESPONSE));
        let wire = ServerError::with_display_message("boom").to_envelope();
        assert_eq!(unlisted_error(wire).context.display_message.as_deref(), Some("boom"));
    }
}
