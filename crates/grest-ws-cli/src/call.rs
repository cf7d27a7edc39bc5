//! `grest-ws call`: one request (`r`) whose reply (`s`, matched by id) is printed, or one fire-and-forget message
//! (`m`, with `--send`).

use std::fmt;

use grest_ws::protocol::envelope::decode_reply;
use grest_ws::protocol::frame::{Frame, FrameKind, frame};
use grest_ws::{ErrorEnvelope, GrestError, MethodError, ServerError};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::{Instant, timeout_at};

use crate::args::CallArgs;
use crate::check;
use crate::connect::{Connection, Event};
use crate::exit::Failure;

/// The id of the request: one request per connection.
const REQUEST_ID: &str = "1";

/// Runs the call; on success the data is on stdout (`null` when the method returns none).
pub(crate) async fn run(args: CallArgs) -> Result<(), Failure> {
    let input = args.json.as_deref().map(input).transpose()?;
    if let Some(served) = check::served(&args.connect).await? {
        check::call(&served, &args.connect, &args.method, input.as_deref())?;
        check::answers(&served, &args.connect)?;
    }
    let (kind, id) = match args.send {
        true => (FrameKind::Message, None),
        false => (FrameKind::Request, Some(REQUEST_ID)),
    };
    let frame = frame(kind, &args.method, id, input.as_deref().map(RawValue::get));
    let deadline = Instant::now() + args.timeout;
    let timeout = |awaited: String| Failure::Timeout {
        awaited,
        after: args.timeout,
    };
    let mut connection = timeout_at(deadline, Connection::open(&args.connect))
        .await
        .map_err(|_| timeout(format!("connection to {}", args.connect.url.url)))??;
    let outcome = timeout_at(deadline, exchange(&mut connection, &frame, &args))
        .await
        .unwrap_or_else(|_| Err(timeout(format!("reply to {}", args.method))));
    connection.close().await;
    if let Some(data) = outcome? {
        println!("{data}");
    }
    Ok(())
}

/// The JSON input, checked before anything is sent.
fn input(json: &str) -> Result<Box<RawValue>, Failure> {
    serde_json::from_str(json).map_err(Failure::InvalidJson)
}

/// Sends the frame (again after each reconnect) until it is through: for a request, until its reply, whose data
/// it returns.
async fn exchange(connection: &mut Connection, frame: &str, args: &CallArgs) -> Result<Option<Value>, Failure> {
    if connection.send(frame).await.is_ok() && args.send {
        return Ok(None);
    }
    loop {
        match connection.next().await {
            Event::Reconnected => {
                if connection.send(frame).await.is_ok() && args.send {
                    return Ok(None);
                }
            }
            Event::Closed { reason, error } => {
                return Err(Failure::Closed {
                    url: args.connect.url.url.clone(),
                    reason,
                    error,
                });
            }
            Event::Frame(text) => match Frame::parse(&text) {
                Some(reply) if reply.kind == FrameKind::Response && reply.id == Some(REQUEST_ID) => {
                    return result(&args.method, reply.data).map(Some);
                }
                _ => {}
            },
        }
    }
}

/// The data of a reply (`null` when there is none), or its error (docs/protocol.md §1.8).
fn result(path: &str, data: Option<&str>) -> Result<Value, Failure> {
    decode_reply::<Option<Value>, AnyError>(data)
        .map(Option::unwrap_or_default)
        .map_err(|AnyError(envelope)| Failure::ErrorReply {
            path: path.to_owned(),
            envelope,
            text: data.unwrap_or_default().to_owned(),
        })
}

/// A method error that keeps every error type the server answers (a contract's generated error keeps only the
/// ones the method declares).
#[derive(Debug)]
struct AnyError(ErrorEnvelope);

impl fmt::Display for AnyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for AnyError {}

impl MethodError for AnyError {
    fn server_error(error: ServerError) -> Self {
        AnyError(error.to_envelope())
    }

    fn from_envelope(wire: ErrorEnvelope) -> Self {
        AnyError(wire)
    }

    fn to_envelope(&self) -> ErrorEnvelope {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::exit::Exit;

    #[test]
    fn replies_give_their_data_or_their_error() {
        let ok = |data| result("A.b", Some(data)).unwrap();
        assert_eq!(
            ok(r#"{"success":true,"type":"OK","data":{"b":1,"a":2}}"#),
            json!({"b":1,"a":2})
        );
        assert_eq!(ok(r#"{"success":true,"type":"OK"}"#), Value::Null);
        assert_eq!(
            ok("[1,2]"),
            json!([1, 2]),
            "not an envelope: the whole payload is the data"
        );
        assert_eq!(result("A.b", None).unwrap(), Value::Null);

        let sent = r#"{"success":false,"type":"ROOM_FULL","data":3,"statusCode":400}"#;
        let Err(failure) = result("A.b", Some(sent)) else {
            panic!("an error reply")
        };
        assert_eq!(failure.exit(), Exit::OtherError, "any declared type is kept");
        assert_eq!(
            failure.envelope().as_deref(),
            Some(sent),
            "printed as the server sent it"
        );
    }

    #[test]
    fn invalid_json_is_refused_locally() {
        assert_eq!(input(r#" {"a": [1]} "#).unwrap().get(), r#"{"a": [1]}"#);
        for bad in ["{", "hi", "{'a':1}", ""] {
            assert_eq!(input(bad).unwrap_err().exit(), Exit::InvalidJson, "{bad}");
        }
    }
}
