//! The command line: commands, flags, and the typed values their arguments parse into (an endpoint URL, `k=v`
//! pairs, `--answer` rules, a CA file, seconds). A malformed value is a usage error (clap's exit code 2) before
//! anything is sent.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use grest_ws::client::{ClientConfig, TlsConfig};
use grest_ws_core::contract::is_valid_socket_path;
use serde_json::value::RawValue;

use crate::exit;

const EXAMPLES: &str = "\
Examples:
  grest-ws describe ws://127.0.0.1:3000/ws/chat
  grest-ws describe ws://127.0.0.1:3000/ws/chat --json
  grest-ws call ws://127.0.0.1:3000/ws/chat Chat.sendMessage '{\"text\":\"hi\",\"channelId\":\"general\"}'
  grest-ws call ws://127.0.0.1:3000/ws/chat Chat.markAsRead '{\"messageId\":\"1\"}' --send
  grest-ws listen ws://127.0.0.1:3000/ws/chat --answer Chat.areYouThere=true
  grest-ws listen wss://chat.example.com/ws/chat --ca ca.pem --bearer \"$TOKEN\" --reconnect
  grest-ws call ws://127.0.0.1:3000/ws/chat Chat.ping --send --query name=ada";

/// The examples and the exit code table (`--help`; `-h` shows the examples).
fn long_help() -> String {
    format!("{EXAMPLES}\n\n{}", exit::table())
}

/// A command line for grest WebSocket endpoints (grest-ws or grest-ts servers): describe an endpoint, call a
/// method, send a fire-and-forget message, or listen to what the server pushes. Speaks only the wire protocol, so
/// it needs no contract; where the server serves its AsyncAPI document, `describe` prints it and `call` checks
/// its input against it before sending.
#[derive(Debug, Parser)]
#[command(name = "grest-ws", version, after_help = EXAMPLES, after_long_help = long_help())]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Prints an endpoint's contract, read from the AsyncAPI document its server serves: the handshake, every
    /// method in both directions with its input, success and declared errors, and the payload types with their
    /// constraints.
    Describe(DescribeArgs),
    /// Calls a client-to-server method (an `r` frame) and prints the result's data as JSON on stdout; an error reply
    /// goes to stderr as its envelope, with an exit code per error type (see --help).
    Call(CallArgs),
    /// Prints every push (`m`) and server-to-client request (`r`) as one JSON line on stdout, answering the
    /// requests; runs until Ctrl-C or --count lines.
    Listen(ListenArgs),
}

/// `grest-ws call`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, after_long_help = long_help())]
pub(crate) struct CallArgs {
    /// The connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// The method, as `Module.method` (e.g. `Chat.sendMessage`).
    #[arg(value_name = "Module.method", value_parser = method_path)]
    pub(crate) method: String,
    /// The input, as JSON; none sends the request without data.
    #[arg(value_name = "JSON")]
    pub(crate) json: Option<String>,
    /// Send it fire-and-forget (an `m` frame): no reply is awaited and nothing is printed.
    #[arg(long, visible_alias = "message")]
    pub(crate) send: bool,
    /// How long to wait for the connection and the reply, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "30", value_parser = seconds)]
    pub(crate) timeout: Duration,
}

/// `grest-ws describe`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, after_long_help = long_help())]
pub(crate) struct DescribeArgs {
    /// The endpoint: ws:// or wss://, host, port and the socket's path (e.g. ws://127.0.0.1:3000/ws/chat).
    #[arg(value_name = "URL", value_parser = Endpoint::parse)]
    pub(crate) url: Endpoint,
    /// Where the contract is read from.
    #[command(flatten)]
    pub(crate) document: DocumentArgs,
    /// Trust the CA certificates in this PEM file for https:// and wss:// instead of the web-PKI roots.
    #[arg(long, value_name = "PEM", value_parser = ca_file)]
    pub(crate) ca: Option<TlsConfig>,
    /// How long the server has to answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub(crate) timeout: Duration,
    /// Print the endpoint's contracts as JSON (their grest descriptors) instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where an endpoint's AsyncAPI document is.
#[derive(Debug, Args)]
pub(crate) struct DocumentArgs {
    /// The AsyncAPI document: an http(s):// URL or a file. By default, /asyncapi.json on the endpoint's host
    /// (http:// for ws://, https:// for wss://).
    #[arg(long, value_name = "URL|FILE")]
    pub(crate) document: Option<String>,
}

/// `grest-ws listen`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES, after_long_help = long_help())]
pub(crate) struct ListenArgs {
    /// The connection.
    #[command(flatten)]
    pub(crate) connect: ConnectArgs,
    /// Stop after this many printed messages (pushes and requests).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: Option<u64>,
}

/// The client settings every command starts from: how long the server has to answer, and the TLS roots.
pub(crate) fn client_config(timeout: Duration, ca: Option<&TlsConfig>) -> ClientConfig {
    let config = ClientConfig::default().handshake_timeout(timeout);
    match ca {
        Some(tls) => config.tls(tls.clone()),
        None => config,
    }
}

/// How to reach the endpoint and what to send with the handshake; shared by `call` and `listen`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The endpoint: ws:// or wss://, host, port and the socket's path (e.g. ws://127.0.0.1:3000/ws/chat); query
    /// parameters in it are sent like --query.
    #[arg(value_name = "URL", value_parser = Endpoint::parse)]
    pub(crate) url: Endpoint,
    /// A handshake header, sent in the `h` frame (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE", value_parser = pair)]
    pub(crate) headers: Vec<(String, String)>,
    /// A cookie, sent in the upgrade request's Cookie header (repeatable).
    #[arg(long = "cookie", value_name = "NAME=VALUE", value_parser = pair)]
    pub(crate) cookies: Vec<(String, String)>,
    /// A query parameter, added to the upgrade URL (repeatable).
    #[arg(long = "query", short = 'q', value_name = "NAME=VALUE", value_parser = pair)]
    pub(crate) query: Vec<(String, String)>,
    /// A bearer token, sent as the `authorization: Bearer <TOKEN>` handshake header.
    #[arg(long, value_name = "TOKEN", env = "GREST_WS_BEARER", hide_env_values = true)]
    pub(crate) bearer: Option<String>,
    /// Answer server-to-client requests for this method with this success data (repeatable); requests without a
    /// rule are answered ROUTE_NOT_FOUND.
    #[arg(long = "answer", value_name = "Module.method=JSON", value_parser = Answer::parse)]
    pub(crate) answers: Vec<Answer>,
    /// Trust the CA certificates in this PEM file for wss:// (a private CA or a self-signed certificate) instead
    /// of the web-PKI roots.
    #[arg(long, value_name = "PEM", value_parser = ca_file)]
    pub(crate) ca: Option<TlsConfig>,
    /// How long the server has to accept the handshake, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub(crate) handshake_timeout: Duration,
    /// Keep reconnecting, with backoff, when the connection drops (a call is sent again on the new connection;
    /// listen keeps printing).
    #[arg(long)]
    pub(crate) reconnect: bool,
    /// Where the endpoint's contract is read from, to check a call's input and the --answer rules before anything
    /// is sent (see `describe`).
    #[command(flatten)]
    pub(crate) document: DocumentArgs,
    /// Send without checking the input and the --answer rules against the served contract.
    #[arg(long)]
    pub(crate) no_check: bool,
}

/// An endpoint URL split the way the client takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The URL as given, for messages.
    pub(crate) url: String,
    /// `ws://host:port` or `wss://host:port`.
    pub(crate) base: String,
    /// The socket's path, with its leading `/`.
    pub(crate) path: String,
    /// The query parameters the URL carries, decoded.
    pub(crate) query: Vec<(String, String)>,
}

impl Endpoint {
    /// Where its server serves the AsyncAPI document by default: `/asyncapi.json` on the same host.
    pub(crate) fn default_document(&self) -> String {
        let base = self
            .base
            .strip_prefix("ws")
            .map_or_else(|| self.base.clone(), |rest| format!("http{rest}"));
        format!("{base}/asyncapi.json")
    }

    fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("expected a ws:// or wss:// URL with the socket's path, e.g. ws://127.0.0.1:3000/ws/chat")?;
        if !["ws", "wss"].contains(&scheme) {
            return Err(format!(
                "unsupported scheme {scheme:?}: use ws:// or wss:// (a grest socket is not plain HTTP)"
            ));
        }
        if rest.contains('#') {
            return Err("a WebSocket URL has no #fragment".into());
        }
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = location.split_at(location.find('/').unwrap_or(location.len()));
        if authority.is_empty() {
            return Err("the URL names no host".into());
        }
        if !is_valid_socket_path(path, false) {
            return Err(format!(
                "the URL has no socket path after {scheme}://{authority}: add the endpoint's path, e.g. /ws/chat"
            ));
        }
        Ok(Endpoint {
            url: url.to_owned(),
            base: format!("{scheme}://{authority}"),
            path: path.to_owned(),
            query: form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
        })
    }
}

/// How to answer server-to-client requests for one method: `Module.method=<json>`.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The method.
    pub(crate) path: String,
    /// The success data.
    pub(crate) data: Box<RawValue>,
}

impl Answer {
    fn parse(rule: &str) -> Result<Answer, String> {
        let (path, data) = rule
            .split_once('=')
            .ok_or("expected Module.method=JSON, e.g. Chat.areYouThere=true")?;
        Ok(Answer {
            path: method_path(path)?,
            data: serde_json::from_str(data).map_err(|e| format!("the answer for {path} is not JSON: {e}"))?,
        })
    }
}

/// A method path: `Module.method`, without the `:` the frame grammar splits on.
fn method_path(path: &str) -> Result<String, String> {
    match path.split_once('.') {
        Some((module, method))
            if !module.is_empty()
                && !method.is_empty()
                && !path.contains(':')
                && !path.contains(char::is_whitespace) =>
        {
            Ok(path.to_owned())
        }
        _ => Err(format!("expected Module.method (e.g. Chat.sendMessage), got {path:?}")),
    }
}

/// `NAME=VALUE`.
fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

/// A positive number of seconds (decimals allowed).
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("expected a positive number of seconds, got {text:?}"))
}

/// The TLS settings that trust the CA certificates of a PEM file.
fn ca_file(path: &str) -> Result<TlsConfig, String> {
    TlsConfig::from_pem_file(PathBuf::from(path)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_base_path_and_query() {
        let endpoint = Endpoint::parse("ws://127.0.0.1:3000/ws/chat?name=ada&x=a%20b").unwrap();
        assert_eq!(endpoint.base, "ws://127.0.0.1:3000");
        assert_eq!(endpoint.path, "/ws/chat");
        assert_eq!(
            endpoint.query,
            [("name".into(), "ada".into()), ("x".into(), "a b".into())]
        );
        assert_eq!(Endpoint::parse("wss://h/a").unwrap().base, "wss://h");
        assert_eq!(endpoint.default_document(), "http://127.0.0.1:3000/asyncapi.json");
        assert_eq!(
            Endpoint::parse("wss://h:8443/a").unwrap().default_document(),
            "https://h:8443/asyncapi.json"
        );
        for bad in [
            "http://h/ws",
            "ws://h",
            "ws://h/",
            "127.0.0.1:3000/ws",
            "ws:///ws",
            "ws://h/a#b",
            "ws://h/a/*",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_parse_or_say_what_is_expected() {
        assert_eq!(pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(pair("=b").is_err() && pair("ab").is_err());
        assert_eq!(seconds("0.5").unwrap(), Duration::from_millis(500));
        assert!(seconds("0").is_err() && seconds("-1").is_err() && seconds("soon").is_err());
        assert_eq!(method_path("Chat.sendMessage").unwrap(), "Chat.sendMessage");
        for bad in ["Chat", ".x", "Chat.", "A:b.c", "A. b"] {
            assert!(method_path(bad).is_err(), "{bad}");
        }
        let answer = Answer::parse("Chat.areYouThere={\"a\": 1}").unwrap();
        assert_eq!(
            (answer.path.as_str(), answer.data.get()),
            ("Chat.areYouThere", "{\"a\": 1}")
        );
        assert!(Answer::parse("Chat.areYouThere=yes").unwrap_err().contains("not JSON"));
        assert!(Answer::parse("Chat.areYouThere").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
