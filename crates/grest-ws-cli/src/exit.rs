//! How a run fails: [`Failure`], the one-line message a person reads (with a hint where there is one), and the
//! exit code of each kind of failure ([`Exit`], the table `--help` and the README show).

use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use grest_ws::client::{CloseReason, ConnectError};
use grest_ws::{
    ErrorEnvelope, Forbidden, GrestError, Issue, NotAuthorized, RouteNotFound, ServerError, ValidationError,
};

use crate::served::DocumentFailure;

/// The exit codes, each with what it means. Clap's usage errors exit with 2, which no variant takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Done: the call succeeded, the message was sent, or listen stopped.
    Ok = 0,
    /// The server answered an error of another type (one the contract declares, `PAYLOAD_TOO_LARGE`, …).
    OtherError = 1,
    /// The JSON input is not JSON; nothing was sent.
    InvalidJson = 3,
    /// No connection: refused, unreachable, TLS, or an HTTP answer instead of the upgrade (404: no such path).
    Connect = 4,
    /// The server refused the handshake (`x`); its envelope is printed.
    HandshakeRefused = 5,
    /// The connection closed: during the handshake, before the reply, or while listening without --reconnect.
    Closed = 6,
    /// No connection or no reply within the timeout.
    Timeout = 7,
    /// `ROUTE_NOT_FOUND`: the server has no such method.
    RouteNotFound = 8,
    /// `VALIDATION_ERROR`: the server refused the input.
    ValidationError = 9,
    /// `NOT_AUTHORIZED`.
    NotAuthorized = 10,
    /// `FORBIDDEN`: the connection lacks the method's permission.
    Forbidden = 11,
    /// `SERVER_ERROR`.
    ServerError = 12,
    /// The endpoint's AsyncAPI document cannot be read, or does not describe the endpoint.
    Document = 13,
}

impl Exit {
    /// Every code, in order, with the meaning the table shows.
    const TABLE: [(Exit, &'static str); 13] = [
        (Exit::Ok, "success (call: the data is on stdout)"),
        (
            Exit::OtherError,
            "an error reply of another type (one the contract declares)",
        ),
        (Exit::InvalidJson, "the JSON input is not JSON (nothing was sent)"),
        (
            Exit::Connect,
            "cannot connect (refused, unreachable, TLS, HTTP status instead of the upgrade)",
        ),
        (
            Exit::HandshakeRefused,
            "the server refused the handshake (x frame; envelope on stderr)",
        ),
        (
            Exit::Closed,
            "the connection closed (during the handshake, before the reply, or while listening)",
        ),
        (Exit::Timeout, "no connection or no reply within the timeout"),
        (
            Exit::RouteNotFound,
            "ROUTE_NOT_FOUND: no such method (from the server, or from its document: nothing was sent)",
        ),
        (
            Exit::ValidationError,
            "VALIDATION_ERROR: the input was refused (by the server, or by its document: nothing was sent)",
        ),
        (Exit::NotAuthorized, "NOT_AUTHORIZED"),
        (Exit::Forbidden, "FORBIDDEN"),
        (Exit::ServerError, "SERVER_ERROR"),
        (
            Exit::Document,
            "the endpoint's AsyncAPI document cannot be read or does not describe it (describe, --document)",
        ),
    ];

    /// The exit code of an error reply of this type.
    fn of_error_type(error_type: &str) -> Exit {
        match error_type {
            RouteNotFound::TYPE => Exit::RouteNotFound,
            ValidationError::TYPE => Exit::ValidationError,
            NotAuthorized::TYPE => Exit::NotAuthorized,
            Forbidden::TYPE => Exit::Forbidden,
            ServerError::TYPE => Exit::ServerError,
            _ => Exit::OtherError,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// The exit code table, as `--help` shows it (clap's usage code among the others).
pub(crate) fn table() -> String {
    let mut rows: Vec<(u8, &str)> = Exit::TABLE
        .iter()
        .map(|(exit, meaning)| (*exit as u8, *meaning))
        .collect();
    rows.push((USAGE, "usage: a flag or an argument is malformed (nothing was sent)"));
    rows.sort_unstable();
    let mut table = String::from("Exit codes:");
    for (code, meaning) in rows {
        table.push_str(&format!("\n  {code:>2}  {meaning}"));
    }
    table
}

/// The exit code of clap's usage errors.
const USAGE: u8 = 2;

/// What the served contract refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// A call's input.
    Input,
    /// The data of an `--answer` rule.
    Answer,
}

/// Why a run failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The JSON input does not parse.
    InvalidJson(serde_json::Error),
    /// The connection attempt failed.
    Connect {
        /// The endpoint, as given.
        url: String,
        /// How it failed.
        error: ConnectError,
    },
    /// The connection ended for good while it was still needed.
    Closed {
        /// The endpoint, as given.
        url: String,
        /// Why the client ended.
        reason: CloseReason,
        /// The last failed reconnect attempt, when reconnecting gave up.
        error: Option<ConnectError>,
    },
    /// Nothing came in time.
    Timeout {
        /// What was awaited (`a connection to …`, `a reply to …`).
        awaited: String,
        /// For how long.
        after: Duration,
    },
    /// The endpoint's document could not be used.
    Document(DocumentFailure),
    /// The endpoint's document has no such client-to-server method; nothing was sent.
    UnknownMethod {
        /// The method asked for.
        path: String,
        /// The endpoint.
        url: String,
        /// The methods the client may call there.
        callable: Vec<String>,
        /// Whether the method exists, going the other way (server to client).
        server_to_client: bool,
    },
    /// An `--answer` rule names no server-to-client request of the endpoint's document; nothing was sent.
    UnknownAnswer {
        /// The rule's method.
        path: String,
        /// The endpoint.
        url: String,
        /// The server-to-client requests there.
        requests: Vec<String>,
    },
    /// What would be sent breaks its shape in the endpoint's document; nothing was sent.
    Refused {
        /// The method.
        path: String,
        /// What was checked.
        sent: Sent,
        /// What is wrong, as the server (or a grest client) would say it.
        issues: Vec<Issue>,
    },
    /// The server answered a request with an error.
    ErrorReply {
        /// The method.
        path: String,
        /// The error.
        envelope: ErrorEnvelope,
        /// The envelope as the server sent it.
        text: String,
    },
}

impl Failure {
    /// The exit code.
    pub(crate) fn exit(&self) -> Exit {
        match self {
            Failure::InvalidJson(_) => Exit::InvalidJson,
            Failure::Connect { error, .. } => match error {
                ConnectError::Rejected(_) => Exit::HandshakeRefused,
                ConnectError::Closed { .. } => Exit::Closed,
                ConnectError::Timeout => Exit::Timeout,
                _ => Exit::Connect,
            },
            Failure::Closed { .. } => Exit::Closed,
            Failure::Timeout { .. } => Exit::Timeout,
            Failure::Document(_) => Exit::Document,
            Failure::UnknownMethod { .. } | Failure::UnknownAnswer { .. } => Exit::RouteNotFound,
            Failure::Refused { .. } => Exit::ValidationError,
            Failure::ErrorReply { envelope, .. } => Exit::of_error_type(&envelope.error_type),
        }
    }

    /// The error envelope that belongs on stderr before the message, if any: a reply's as sent, a refused
    /// handshake's.
    pub(crate) fn envelope(&self) -> Option<String> {
        match self {
            Failure::ErrorReply { text, .. } => Some(text.clone()),
            Failure::Refused { issues, .. } => Some(local_validation_error(issues).to_envelope().to_json()),
            Failure::Connect {
                error: ConnectError::Rejected(envelope),
                ..
            } => Some(envelope.to_json()),
            _ => None,
        }
    }
}

/// The one-line message: what failed, and what to try.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::InvalidJson(error) => write!(
                f,
                "the JSON input is not valid JSON ({error}); nothing was sent (quote it for the shell: '{{\"text\":\"hi\"}}')"
            ),
            Failure::Connect { url, error } => match error {
                ConnectError::Transport { cause, .. } => write!(f, "cannot connect to {url}: {cause}"),
                ConnectError::Rejected(envelope) => write!(
                    f,
                    "{url} refused the handshake: {}{}",
                    describe(envelope),
                    hint(&envelope.error_type)
                ),
                ConnectError::Timeout => write!(
                    f,
                    "{url} did not answer the handshake in time (is it a grest endpoint? raise --handshake-timeout)"
                ),
                ConnectError::Closed { code: Some(4000), .. } => write!(
                    f,
                    "cannot connect to {url}: {error} (check the query parameters: --query or the URL's)"
                ),
                other => write!(f, "cannot connect to {url}: {other}"),
            },
            Failure::Closed { url, reason, error } => match (reason, error) {
                (CloseReason::RetriesExhausted | CloseReason::Unrecoverable, Some(error)) => {
                    write!(f, "reconnecting to {url} gave up: {error}")
                }
                _ => write!(
                    f,
                    "the connection to {url} closed: the server or the network ended it (pass --reconnect to keep \
                     reconnecting)"
                ),
            },
            Failure::Timeout { awaited, after } => {
                write!(f, "no {awaited} within {} s (raise --timeout?)", after.as_secs_f64())
            }
            Failure::ErrorReply { path, envelope, .. } => {
                write!(f, "{path} failed: {}{}", describe(envelope), hint(&envelope.error_type))
            }
            Failure::Document(failure) => failure.fmt(f),
            Failure::UnknownMethod {
                path,
                url,
                callable,
                server_to_client,
            } => {
                let callable = match callable.is_empty() {
                    true => "none".to_owned(),
                    false => callable.join(", "),
                };
                let why = match server_to_client {
                    true => "is a server-to-client method (see it with listen)",
                    false => "is not a method",
                };
                write!(
                    f,
                    "{path} {why} of {url}; nothing was sent (it has: {callable}; --no-check sends anyway)"
                )
            }
            Failure::UnknownAnswer { path, url, requests } => {
                let requests = match requests.is_empty() {
                    true => "none".to_owned(),
                    false => requests.join(", "),
                };
                write!(
                    f,
                    "--answer {path}: not a server-to-client request of {url}; nothing was sent (its requests: \
                     {requests}; --no-check sends anyway)"
                )
            }
            Failure::Refused { path, sent, issues } => {
                let (subject, what) = match sent {
                    Sent::Input => (path.clone(), "the input"),
                    Sent::Answer => (format!("--answer {path}"), "the answer"),
                };
                write!(
                    f,
                    "{subject}: {what} breaks the served contract, nothing was sent: {} (--no-check sends anyway)",
                    describe(&local_validation_error(issues).to_envelope())
                )
            }
        }
    }
}

/// The `VALIDATION_ERROR` the server would answer for these input issues.
fn local_validation_error(issues: &[Issue]) -> ValidationError {
    ValidationError::with_display_message(issues.to_vec(), grest_ws::protocol::error::INVALID_ARGUMENTS)
}

/// `TYPE (status): display message`, with a validation error's issues.
fn describe(envelope: &ErrorEnvelope) -> String {
    let mut text = format!("{} ({})", envelope.error_type, envelope.status_code);
    if let Some(message) = &envelope.context.display_message {
        text.push_str(&format!(": {message}"));
    }
    if envelope.error_type == ValidationError::TYPE {
        let issues = envelope.data.as_ref().and_then(|data| data.as_array());
        let described: Vec<String> = issues
            .into_iter()
            .flatten()
            .map(|issue| {
                let field = |key: &str| issue.get(key).and_then(|v| v.as_str()).unwrap_or_default();
                match field("path") {
                    "" => field("message").to_owned(),
                    path => format!("{path}: {}", field("message")),
                }
            })
            .collect();
        if !described.is_empty() {
            text.push_str(&format!(" — {}", described.join("; ")));
        }
    }
    text
}

/// What to try after an error of this type.
fn hint(error_type: &str) -> String {
    match error_type {
        RouteNotFound::TYPE => " (check Module.method: names are case-sensitive, e.g. Chat.sendMessage)".into(),
        NotAuthorized::TYPE => " (send credentials: --bearer, --cookie, --header)".into(),
        Forbidden::TYPE => " (these credentials lack the permission)".into(),
        ServerError::TYPE => " (the server's log has the details under the envelope's ref)".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use grest_ws::Issue;

    use super::*;

    fn reply(envelope: ErrorEnvelope) -> Failure {
        Failure::ErrorReply {
            path: "Chat.sendMessage".into(),
            text: envelope.to_json(),
            envelope,
        }
    }

    #[test]
    fn error_replies_exit_by_type() {
        let cases = [
            (RouteNotFound::for_path("Chat.nope").to_envelope(), Exit::RouteNotFound),
            (ValidationError::new(vec![]).to_envelope(), Exit::ValidationError),
            (NotAuthorized::new().to_envelope(), Exit::NotAuthorized),
            (Forbidden::new().to_envelope(), Exit::Forbidden),
            (ServerError::new().to_envelope(), Exit::ServerError),
            (grest_ws::NotFound::new().to_envelope(), Exit::OtherError),
            (grest_ws::PayloadTooLarge::new().to_envelope(), Exit::OtherError),
        ];
        for (envelope, exit) in cases {
            assert_eq!(reply(envelope).exit(), exit);
        }
    }

    #[test]
    fn codes_are_distinct_and_the_table_lists_them_all() {
        let mut codes: Vec<u8> = Exit::TABLE.iter().map(|(exit, _)| *exit as u8).collect();
        codes.push(USAGE);
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Exit::TABLE.len() + 1);
        let table = table();
        assert!(
            table.contains("   2  usage") && table.contains("  12  SERVER_ERROR"),
            "{table}"
        );
    }

    #[test]
    fn messages_are_one_line_with_a_hint() {
        let issue = Issue::new("text", "invalid.string.nonEmpty", "Value must not be empty");
        let validation = reply(ValidationError::with_display_message(vec![issue], "Invalid arguments").to_envelope());
        assert_eq!(
            validation.to_string(),
            "Chat.sendMessage failed: VALIDATION_ERROR (422): Invalid arguments — text: Value must not be empty"
        );
        let unknown = reply(RouteNotFound::for_path("Chat.nope").to_envelope());
        assert!(
            unknown
                .to_string()
                .contains("Route not found: Chat.nope (check Module.method")
        );
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        for failure in [validation, unknown, Failure::InvalidJson(json)] {
            assert!(!failure.to_string().contains('\n'), "{failure}");
        }
    }
}
