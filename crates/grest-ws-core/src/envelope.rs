//! Result envelopes of PROTOCOL.md §1.8: what goes into the data of an `s` frame, and how a received one is read.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{MethodError, ServerError, WireError};
use crate::validate::{self, Path, Validate};

/// The success envelope of a method without a success type: `{"success":true,"type":"OK"}`.
pub const OK_WITHOUT_DATA: &str = r#"{"success":true,"type":"OK"}"#;

/// Appends `{"success":true,"type":"OK","data":<data>}` to `out`.
pub fn write_ok<T: Serialize + ?Sized>(out: &mut Vec<u8>, data: &T) -> Result<(), serde_json::Error> {
    out.extend_from_slice(br#"{"success":true,"type":"OK","data":"#);
    serde_json::to_writer(&mut *out, data)?;
    out.push(b'}');
    Ok(())
}

/// The envelope for a handler's result. The success value is checked against its declared constraints first:
/// a reply that breaks its own contract becomes `SERVER_ERROR` "Invalid response", like in the original.
pub fn encode_result<T: Serialize + Validate, E: MethodError>(result: &Result<T, E>) -> Result<String, WireError> {
    match result {
        Ok(value) => {
            let mut issues = Vec::new();
            value.validate(&mut Path::root(), &mut issues);
            if !issues.is_empty() {
                return Err(ServerError::invalid_response().to_wire_error());
            }
            let mut out = Vec::with_capacity(64);
            write_ok(&mut out, value).map_err(|_| ServerError::invalid_response().to_wire_error())?;
            String::from_utf8(out).map_err(|_| ServerError::invalid_response().to_wire_error())
        }
        Err(error) => Ok(error.to_wire().to_json()),
    }
}

impl ServerError {
    /// Shorthand for the wire form.
    pub fn to_wire_error(&self) -> WireError {
        crate::GrestError::to_wire(self)
    }
}

#[derive(Deserialize)]
struct ReplyHead<'a> {
    #[serde(default)]
    success: Option<bool>,
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

/// Reads the data of a received `s` frame as the typed result of a request method (§1.8 receiver rules).
///
/// * `{"success":true,"type":"OK","data":…}` → the data, validated; failure → `SERVER_ERROR` "Invalid response".
/// * `{"success":false,"type":…}` → the method's error enum ([`MethodError::from_wire`] applies the listing rule).
/// * anything else (not an envelope, invalid JSON, no data) → treated as OK data and validated.
pub fn decode_reply<T: DeserializeOwned + Validate, E: MethodError>(data: Option<&str>) -> Result<T, E> {
    let decode_ok =
        |raw: Option<&str>| validate::decode::<T>(raw).map_err(|_| E::server_error(ServerError::invalid_response()));
    let Some(text) = data else {
        return decode_ok(None);
    };
    match serde_json::from_str::<ReplyHead<'_>>(text) {
        Ok(ReplyHead {
            success: Some(true),
            kind: Some(kind),
            data,
        }) if kind == "OK" => decode_ok(data.map(RawValue::get)),
        Ok(ReplyHead {
            success: Some(false),
            kind: Some(_),
            ..
        }) => match serde_json::from_str::<WireError>(text) {
            Ok(wire) => Err(E::from_wire(wire)),
            Err(_) => Err(E::server_error(ServerError::invalid_response())),
        },
        _ => decode_ok(Some(text)),
    }
}

/// Whether a reply to a fire-and-forget method signals success (any OK envelope; errors are dropped).
pub fn is_ok_envelope(data: Option<&str>) -> bool {
    data.and_then(|text| serde_json::from_str::<ReplyHead<'_>>(text).ok())
        .is_some_and(|head| head.success == Some(true))
}
