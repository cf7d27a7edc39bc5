//! Result envelopes of docs/protocol.md §1.8: what goes into the data of an `s` frame, and how a received one is read.

use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::{ErrorEnvelope, GrestError, MethodError, ServerError};
use crate::validate::{self, Validate};

/// The success envelope of a method without a success type: `{"success":true,"type":"OK"}`.
pub const OK_WITHOUT_DATA: &str = r#"{"success":true,"type":"OK"}"#;

/// Appends `{"success":true,"type":"OK","data":<data>}` to `out`.
pub fn write_ok<T: Serialize + ?Sized>(out: &mut Vec<u8>, data: &T) -> Result<(), serde_json::Error> {
    out.extend_from_slice(OK_DATA_HEAD.as_bytes());
    serde_json::to_writer(&mut *out, data)?;
    out.push(b'}');
    Ok(())
}

/// A result envelope on its way out: the JSON text that becomes the data of an `s` frame and, when it reports an
/// error, that error as a value — whoever records the outcome (metrics, logs) reads it from here, never by parsing
/// the text back.
#[derive(Debug, Clone)]
pub struct Envelope {
    json: Cow<'static, str>,
    error: Option<Box<ErrorEnvelope>>,
}

impl Envelope {
    /// The success envelope of a method without a success type ([`OK_WITHOUT_DATA`]).
    pub const OK_WITHOUT_DATA: Envelope = Envelope {
        json: Cow::Borrowed(OK_WITHOUT_DATA),
        error: None,
    };

    /// `{"success":true,"type":"OK","data":<data>}`, without checking the data's constraints (see
    /// [`encode_result`] for the checked form).
    pub fn ok<T: Serialize + ?Sized>(data: &T) -> Result<Self, serde_json::Error> {
        // Room for a typical reply, so the buffer rarely has to grow.
        let mut out = Vec::with_capacity(256);
        write_ok(&mut out, data)?;
        // serde_json writes UTF-8 only, and the head and the brace are ASCII.
        let json = String::from_utf8(out).map_err(serde::ser::Error::custom)?;
        Ok(Envelope {
            json: Cow::Owned(json),
            error: None,
        })
    }

    /// The error envelope of `error`.
    pub fn failure(error: ErrorEnvelope) -> Self {
        Envelope {
            json: Cow::Owned(error.to_json()),
            error: Some(Box::new(error)),
        }
    }

    /// The JSON text, as sent.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The error this envelope reports; `None` for success.
    pub fn error(&self) -> Option<&ErrorEnvelope> {
        self.error.as_deref()
    }

    /// `OK`, or the reported error's type — the result label of metrics and logs.
    pub fn result_type(&self) -> &str {
        self.error.as_ref().map_or("OK", |error| &error.error_type)
    }
}

impl<E: GrestError> From<E> for Envelope {
    fn from(error: E) -> Self {
        Envelope::failure(error.to_envelope())
    }
}

/// The envelope for a handler's result. The success value is checked against its declared constraints first:
/// a reply that breaks its own contract is refused with `SERVER_ERROR` "Invalid response" (the caller sends that
/// instead), like in the original.
pub fn encode_result<T: Serialize + Validate, E: MethodError>(
    result: &Result<T, E>,
) -> Result<Envelope, ErrorEnvelope> {
    match result {
        Ok(value) => {
            if crate::validate::check(value).is_err() {
                return Err(ServerError::invalid_response().to_envelope());
            }
            Envelope::ok(value).map_err(|_| ServerError::invalid_response().to_envelope())
        }
        Err(error) => Ok(Envelope::failure(error.to_envelope())),
    }
}

#[derive(Deserialize)]
struct ReplyHead<'a> {
    #[serde(default)]
    success: Option<bool>,
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    /// `Some` whenever the key is present, `null` included (`Option<&RawValue>` alone would read `null` as absent).
    #[serde(default, borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// A success envelope read with its data typed, in one pass (the common reply).
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct TypedReply<'a, T> {
    #[serde(default)]
    success: Option<bool>,
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    /// `Some` whenever the key is present, `null` included.
    #[serde(default = "absent", deserialize_with = "present_typed")]
    data: Option<T>,
}

fn absent<T>() -> Option<T> {
    None
}

fn present_typed<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// How a success envelope with data begins when written compactly in the original's key order.
const OK_DATA_HEAD: &str = r#"{"success":true,"type":"OK","data":"#;

/// Reads the data of a received `s` frame as the typed result of a request method (§1.8 receiver rules).
///
/// * `{"success":true,"type":"OK","data":…}` → the data, validated; failure → `SERVER_ERROR` "Invalid response".
/// * `{"success":false,"type":…}` → the method's error enum ([`MethodError::from_envelope`] applies the listing rule).
/// * anything else (not an envelope, invalid JSON, no data) → treated as OK data and validated.
pub fn decode_reply<T: DeserializeOwned + Validate, E: MethodError>(data: Option<&str>) -> Result<T, E> {
    let decode_ok =
        |raw: Option<&str>| validate::decode::<T>(raw).map_err(|_| E::server_error(ServerError::invalid_response()));
    let Some(text) = data else {
        return decode_ok(None);
    };
    // The common reply as every grest peer writes it (the original's `JSON.stringify` of `{success, type, data}`, and
    // this crate's encoder): the data is read straight from between the fixed head and the closing brace.
    if let Some(value) = text
        .strip_prefix(OK_DATA_HEAD)
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|data| serde_json::from_str::<T>(data).ok())
    {
        return validate::check(&value)
            .map(|()| value)
            .map_err(|_| E::server_error(ServerError::invalid_response()));
    }
    let is_object = text.trim_start().starts_with('{');
    // Otherwise the common reply in one pass: a success envelope whose data reads as `T` as it is. Anything else (an error,
    // data that needs the validator's coercions) takes the general path below.
    if is_object {
        if let Ok(TypedReply {
            success: Some(true),
            kind: Some(kind),
            data,
        }) = serde_json::from_str::<TypedReply<'_, T>>(text)
        {
            if kind == "OK" {
                return match data {
                    Some(value) => validate::check(&value)
                        .map(|()| value)
                        .map_err(|_| E::server_error(ServerError::invalid_response())),
                    None => decode_ok(None),
                };
            }
        }
    }
    // Only an object can be an envelope; serde would also read a JSON array into the header struct.
    let head = if is_object {
        serde_json::from_str::<ReplyHead<'_>>(text).ok()
    } else {
        None
    };
    match head {
        Some(ReplyHead {
            success: Some(true),
            kind: Some(kind),
            data,
        }) if kind == "OK" => decode_ok(data.map(RawValue::get)),
        Some(ReplyHead {
            success: Some(false),
            kind: Some(_),
            ..
        }) => match serde_json::from_str::<ErrorEnvelope>(text) {
            Ok(wire) => Err(E::from_envelope(wire)),
            Err(_) => Err(E::server_error(ServerError::invalid_response())),
        },
        _ => decode_ok(Some(text)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::error::{INVALID_RESPONSE, match_envelope, unlisted_error};
    use crate::{ErrorContext, GrestError, NotFound};

    #[allow(unreachable_pub, dead_code)]
    mod defs {
        crate::define_error! {
            /// A declared error with data.
            pub struct RoomFull = ("ROOM_FULL", 400, data: u32);
        }
    }
    use defs::RoomFull;

    /// What `contract!` generates for a method declaring `errors: [NotFound, RoomFull]`.
    #[derive(Debug, Clone, PartialEq)]
    enum TestError {
        NotFound(NotFound),
        RoomFull(RoomFull),
        ServerError(ServerError),
    }

    impl std::fmt::Display for TestError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.to_envelope().fmt(f)
        }
    }

    impl std::error::Error for TestError {}

    impl MethodError for TestError {
        fn server_error(error: ServerError) -> Self {
            TestError::ServerError(error)
        }
        fn from_envelope(wire: ErrorEnvelope) -> Self {
            let wire = match match_envelope::<NotFound>(wire) {
                Ok(Some(e)) => return TestError::NotFound(e),
                Ok(None) => return TestError::ServerError(ServerError::invalid_response()),
                Err(wire) => wire,
            };
            let wire = match match_envelope::<RoomFull>(wire) {
                Ok(Some(e)) => return TestError::RoomFull(e),
                Ok(None) => return TestError::ServerError(ServerError::invalid_response()),
                Err(wire) => wire,
            };
            TestError::ServerError(unlisted_error(wire))
        }
        fn to_envelope(&self) -> ErrorEnvelope {
            match self {
                TestError::NotFound(e) => e.to_envelope(),
                TestError::RoomFull(e) => e.to_envelope(),
                TestError::ServerError(e) => e.to_envelope(),
            }
        }
    }

    /// A success type with a declared constraint (`#[validate(non_empty)] text`), implemented as the derive does.
    use crate::test_support::Msg as Reply;

    fn reply(text: &str, n: u32) -> Reply {
        Reply { text: text.into(), n }
    }

    fn decode(data: &str) -> Result<Reply, TestError> {
        decode_reply::<Reply, TestError>(Some(data))
    }

    /// Asserts a local `SERVER_ERROR` "Invalid response".
    #[track_caller]
    fn assert_invalid_response<T: std::fmt::Debug>(result: Result<T, TestError>) {
        match result {
            Err(TestError::ServerError(e)) => {
                assert_eq!(e.context.display_message.as_deref(), Some(INVALID_RESPONSE));
                assert!(e.context.reference.starts_with("ERR_REF_"), "a fresh local error");
            }
            other => panic!("expected SERVER_ERROR \"Invalid response\", got {other:?}"),
        }
    }

    fn context(message: &str) -> ErrorContext {
        ErrorContext {
            display_message: Some(message.into()),
            timestamp: 1_700_000_000_000,
            reference: "ERR_REF_abc123".into(),
        }
    }

    const CONTEXT: &str = r#""context":{"displayMessage":"msg","timestamp":1700000000000,"ref":"ERR_REF_abc123"}"#;

    // ---- sending ---------------------------------------------------------------------------------------------

    #[test]
    fn write_ok_appends_the_exact_envelope() {
        let mut out = b"s:Chat.x:1:".to_vec();
        write_ok(&mut out, &json!({"b": 1, "a": [true, null]})).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"s:Chat.x:1:{"success":true,"type":"OK","data":{"b":1,"a":[true,null]}}"#
        );
        let mut out = Vec::new();
        write_ok(&mut out, "a\"b").unwrap();
        assert_eq!(out, br#"{"success":true,"type":"OK","data":"a\"b"}"#);
        assert_eq!(OK_WITHOUT_DATA, r#"{"success":true,"type":"OK"}"#);
    }

    #[test]
    fn encode_result_success_envelope_exact_bytes() {
        let ok: Result<Reply, TestError> = Ok(reply("hi", 5));
        assert_eq!(
            encode_result(&ok).unwrap().json(),
            r#"{"success":true,"type":"OK","data":{"text":"hi","n":5}}"#
        );
        let ok: Result<u32, TestError> = Ok(7);
        let envelope = encode_result(&ok).unwrap();
        assert_eq!(envelope.json(), r#"{"success":true,"type":"OK","data":7}"#);
        assert_eq!(envelope.result_type(), "OK");
        assert!(envelope.error().is_none());
        assert_eq!(Envelope::OK_WITHOUT_DATA.json(), OK_WITHOUT_DATA);
        assert_eq!(Envelope::OK_WITHOUT_DATA.result_type(), "OK");
        let ok: Result<String, TestError> = Ok("x:y".into());
        assert_eq!(
            encode_result(&ok).unwrap().json(),
            r#"{"success":true,"type":"OK","data":"x:y"}"#
        );
        let ok: Result<Option<u32>, TestError> = Ok(None);
        assert_eq!(
            encode_result(&ok).unwrap().json(),
            r#"{"success":true,"type":"OK","data":null}"#
        );
        let ok: Result<Vec<Reply>, TestError> = Ok(vec![reply("a", 1)]);
        assert_eq!(
            encode_result(&ok).unwrap().json(),
            r#"{"success":true,"type":"OK","data":[{"text":"a","n":1}]}"#
        );
    }

    #[test]
    fn encode_result_rejects_a_success_value_breaking_its_constraints() {
        for bad in [Ok(reply("", 1)), Ok(reply("ok", 1)).map(|_: Reply| reply("", 2))] {
            let result: Result<Reply, TestError> = bad;
            let wire = encode_result(&result).unwrap_err();
            assert_eq!(wire.error_type, "SERVER_ERROR");
            assert_eq!(wire.status_code, 500);
            assert_eq!(wire.data, None);
            assert_eq!(wire.context.display_message.as_deref(), Some(INVALID_RESPONSE));
            assert!(
                wire.to_json()
                    .starts_with(r#"{"success":false,"type":"SERVER_ERROR","statusCode":500,"context":{"displayMessage":"Invalid response","timestamp":"#)
            );
        }
        // Nested values are checked too.
        let nested: Result<Vec<Reply>, TestError> = Ok(vec![reply("a", 1), reply("", 2)]);
        assert_eq!(encode_result(&nested).unwrap_err().error_type, "SERVER_ERROR");
    }

    #[test]
    fn encode_result_writes_errors_as_their_envelope() {
        let err: Result<Reply, TestError> = Err(TestError::NotFound(NotFound {
            context: context("msg"),
        }));
        let envelope = encode_result(&err).unwrap();
        assert_eq!(
            envelope.json(),
            format!(r#"{{"success":false,"type":"NOT_FOUND","statusCode":404,{CONTEXT}}}"#)
        );
        // The outcome travels as a value beside the text.
        assert_eq!(envelope.result_type(), "NOT_FOUND");
        assert_eq!(envelope.error().unwrap().context.reference, "ERR_REF_abc123");
        let err: Result<Reply, TestError> = Err(TestError::RoomFull(RoomFull {
            data: 3,
            context: context("msg"),
        }));
        assert_eq!(
            encode_result(&err).unwrap().json(),
            format!(r#"{{"success":false,"type":"ROOM_FULL","data":3,"statusCode":400,{CONTEXT}}}"#)
        );
    }

    // ---- receiving: OK ---------------------------------------------------------------------------------------

    #[test]
    fn ok_envelope_yields_validated_data() {
        assert_eq!(
            decode(r#"{"success":true,"type":"OK","data":{"text":"hi","n":5}}"#),
            Ok(reply("hi", 5))
        );
        // Key order does not matter, and the data is coerced like any input.
        assert_eq!(
            decode(r#"{"data":{"n":"5","text":7},"type":"OK","success":true}"#),
            Ok(reply("7", 5))
        );
        // The compact head read straight through, and what it cannot take — coercions, keys after the data,
        // whitespace — still decoded by the general path.
        for text in [
            r#"{"success":true,"type":"OK","data":{"text":"hi","n":5} }"#,
            r#"{"success":true,"type":"OK","data":{"text":"hi","n":"5"}}"#,
            r#"{"success":true,"type":"OK","data":{"text":"hi","n":5},"extra":{"a":"}"}}"#,
            r#"{ "success": true, "type": "OK", "data": {"text": "hi", "n": 5} }"#,
        ] {
            assert_eq!(decode(text), Ok(reply("hi", 5)), "{text}");
        }
        // Read straight through, the data is still validated.
        assert_invalid_response(decode(r#"{"success":true,"type":"OK","data":{"text":"","n":5}}"#));
        assert_invalid_response(decode(r#"{"success":true,"type":"OK","data":{"text":"hi","n":5}}}"#));
    }

    #[test]
    fn ok_envelope_with_bad_data_is_invalid_response() {
        assert_invalid_response(decode(r#"{"success":true,"type":"OK","data":{"text":"","n":5}}"#));
        assert_invalid_response(decode(r#"{"success":true,"type":"OK","data":{"text":"x","n":-1}}"#));
        assert_invalid_response(decode(r#"{"success":true,"type":"OK","data":"nope"}"#));
        assert_invalid_response(decode(r#"{"success":true,"type":"OK","data":null}"#));
        assert_invalid_response(decode(r#"{"success":true,"type":"OK"}"#));
    }

    #[test]
    fn ok_envelope_data_null_and_missing() {
        // `null` data is a value: it decodes into types that accept it.
        assert_eq!(
            decode_reply::<Option<Reply>, TestError>(Some(r#"{"success":true,"type":"OK","data":null}"#)),
            Ok(None)
        );
        assert_eq!(
            decode_reply::<(), TestError>(Some(r#"{"success":true,"type":"OK","data":null}"#)),
            Ok(())
        );
        assert_eq!(
            decode_reply::<Value, TestError>(Some(r#"{"success":true,"type":"OK","data":null}"#)),
            Ok(Value::Null)
        );
        // Missing data is only fine for an optional type.
        assert_eq!(
            decode_reply::<Option<Reply>, TestError>(Some(OK_WITHOUT_DATA)),
            Ok(None)
        );
        assert_invalid_response(decode_reply::<u32, TestError>(Some(OK_WITHOUT_DATA)));
    }

    // ---- receiving: errors -----------------------------------------------------------------------------------

    #[test]
    fn listed_error_is_decoded_with_its_context() {
        let text = format!(r#"{{"success":false,"type":"NOT_FOUND","statusCode":404,{CONTEXT}}}"#);
        assert_eq!(
            decode(&text),
            Err(TestError::NotFound(NotFound {
                context: context("msg")
            }))
        );
        // The context is optional on the wire.
        assert_eq!(
            decode(r#"{"success":false,"type":"NOT_FOUND"}"#),
            Err(TestError::NotFound(NotFound {
                context: ErrorContext {
                    display_message: None,
                    timestamp: 0,
                    reference: String::new()
                }
            }))
        );
    }

    #[test]
    fn listed_error_data_is_validated_with_coercion() {
        let text = format!(r#"{{"success":false,"type":"ROOM_FULL","data":"4","statusCode":400,{CONTEXT}}}"#);
        assert_eq!(
            decode(&text),
            Err(TestError::RoomFull(RoomFull {
                data: 4,
                context: context("msg")
            }))
        );
        // Data that fails the error's schema (or is missing) turns into "Invalid response".
        assert_invalid_response(decode(
            r#"{"success":false,"type":"ROOM_FULL","data":"full","statusCode":400}"#,
        ));
        assert_invalid_response(decode(
            r#"{"success":false,"type":"ROOM_FULL","data":-1,"statusCode":400}"#,
        ));
        assert_invalid_response(decode(r#"{"success":false,"type":"ROOM_FULL","statusCode":400}"#));
    }

    #[test]
    fn server_error_and_payload_too_large_pass_as_server_error() {
        let text = format!(r#"{{"success":false,"type":"SERVER_ERROR","statusCode":500,{CONTEXT}}}"#);
        assert_eq!(
            decode(&text),
            Err(TestError::ServerError(ServerError {
                context: context("msg")
            }))
        );
        // PAYLOAD_TOO_LARGE keeps its context (display message, timestamp, ref); its data is dropped.
        let text =
            format!(r#"{{"success":false,"type":"PAYLOAD_TOO_LARGE","data":{{"x":1}},"statusCode":413,{CONTEXT}}}"#);
        assert_eq!(
            decode(&text),
            Err(TestError::ServerError(ServerError {
                context: context("msg")
            }))
        );
    }

    #[test]
    fn unlisted_error_types_become_invalid_response() {
        for ty in [
            "VALIDATION_ERROR",
            "ROUTE_NOT_FOUND",
            "NOT_AUTHORIZED",
            "FORBIDDEN",
            "BAD_REQUEST",
            "EXISTS",
            "SOMETHING_ELSE",
            "not_found",
        ] {
            let text = format!(r#"{{"success":false,"type":"{ty}","data":[],"statusCode":422,{CONTEXT}}}"#);
            let result = decode(&text);
            assert_invalid_response(result.clone());
            // The peer's context is not kept: the local error gets its own reference.
            let Err(TestError::ServerError(e)) = result else {
                unreachable!()
            };
            assert_ne!(e.context.reference, "ERR_REF_abc123", "{ty}");
        }
    }

    #[test]
    fn malformed_error_envelope_is_invalid_response() {
        assert_invalid_response(decode(r#"{"success":false,"type":"NOT_FOUND","statusCode":"x"}"#));
        assert_invalid_response(decode(r#"{"success":false,"type":"NOT_FOUND","context":5}"#));
    }

    // ---- receiving: not an envelope ----------------------------------------------------------------------------

    #[test]
    fn anything_else_is_treated_as_ok_data() {
        // Not an envelope at all: the whole payload is the data.
        assert_eq!(decode(r#"{"text":"bare","n":"2"}"#), Ok(reply("bare", 2)));
        assert_eq!(decode_reply::<u32, TestError>(Some("42")), Ok(42));
        assert_eq!(decode_reply::<Vec<u32>, TestError>(Some("[1,\"2\"]")), Ok(vec![1, 2]));
        // `success` without a string `type`, or `success:true` with another type: still data.
        for text in [
            r#"{"success":false,"type":5}"#,
            r#"{"success":false}"#,
            r#"{"success":true,"type":"NOPE","data":1}"#,
            r#"{"success":"false","type":"NOT_FOUND"}"#,
            r#"{"type":"OK","data":1}"#,
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(decode_reply::<Value, TestError>(Some(text)), Ok(expected), "{text}");
            assert_invalid_response(decode(text));
        }
        // Arrays are data even when they look like an envelope's fields in order.
        for text in [r#"[true,"OK",5]"#, r#"[false,"NOT_FOUND"]"#] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(decode_reply::<Value, TestError>(Some(text)), Ok(expected), "{text}");
        }
    }

    #[test]
    fn no_data_or_invalid_json_is_invalid_response() {
        assert_invalid_response(decode_reply::<Reply, TestError>(None));
        assert_invalid_response(decode("{not json"));
        assert_invalid_response(decode(""));
        assert_eq!(decode_reply::<Option<Reply>, TestError>(None), Ok(None));
        assert_eq!(decode_reply::<Option<Reply>, TestError>(Some("{not json")), Ok(None));
    }

    // ---- round trips and fire-and-forget ------------------------------------------------------------------------

    #[test]
    fn encoded_results_decode_back() {
        let ok: Result<Reply, TestError> = Ok(reply("hi", 9));
        assert_eq!(decode(encode_result(&ok).unwrap().json()), ok);
        let unit: Result<(), TestError> = Ok(());
        assert_eq!(
            decode_reply::<(), TestError>(Some(encode_result(&unit).unwrap().json())),
            Ok(())
        );
        let none: Result<Option<u32>, TestError> = Ok(None);
        assert_eq!(
            decode_reply::<Option<u32>, TestError>(Some(encode_result(&none).unwrap().json())),
            Ok(None)
        );
        for err in [
            TestError::NotFound(NotFound::with_display_message("gone")),
            TestError::RoomFull(RoomFull::with_display_message(2, "full")),
            TestError::ServerError(ServerError::with_display_message("boom")),
        ] {
            let sent: Result<Reply, TestError> = Err(err);
            assert_eq!(decode(encode_result(&sent).unwrap().json()), sent);
        }
    }
}
