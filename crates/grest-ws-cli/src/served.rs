//! The endpoint's contract as its server publishes it: the AsyncAPI document (`GrestWs::asyncapi`), fetched over
//! HTTP(S) or read from a file, and in it the channel of the endpoint's path with the contracts it carries
//! (`x-grest-contracts`, one descriptor per module on the socket).

use grest_ws::Direction;
use grest_ws::client::{ClientConfig, DocumentError, fetch_document};
use grest_ws::protocol::contract::{ContractDescriptor, MethodDescriptor};
use serde_json::Value;

use crate::args::{DocumentArgs, Endpoint};

/// An endpoint as its document describes it.
#[derive(Debug)]
pub(crate) struct Served {
    /// Where the document came from (a URL or a file).
    pub(crate) source: String,
    /// The document's title and version (`info`).
    pub(crate) title: String,
    /// The contracts on the endpoint's socket; none for a byte-stream socket.
    pub(crate) contracts: Vec<ContractDescriptor>,
}

/// Why the document could not be used.
#[derive(Debug)]
pub(crate) enum DocumentFailure {
    /// Fetching it failed.
    Fetch {
        /// The document's URL.
        url: String,
        /// How.
        error: DocumentError,
    },
    /// Reading the file failed, or it is not JSON.
    File {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The document has no channel at the endpoint's path.
    NoChannel {
        /// The document.
        source: String,
        /// The endpoint's path.
        path: String,
        /// The paths it does describe.
        available: Vec<String>,
    },
    /// The channel's `x-grest-contracts` is not a list of contract descriptors.
    Malformed {
        /// The document.
        source: String,
        /// What is wrong.
        reason: String,
    },
}

impl Served {
    /// Loads the document `args` names (or the endpoint's default one) and finds the endpoint in it.
    pub(crate) async fn load(
        endpoint: &Endpoint,
        args: &DocumentArgs,
        config: &ClientConfig,
    ) -> Result<Served, DocumentFailure> {
        let source = args.document.clone().unwrap_or_else(|| endpoint.default_document());
        let document = if source.contains("://") {
            fetch_document(&source, config)
                .await
                .map_err(|error| DocumentFailure::Fetch {
                    url: source.clone(),
                    error,
                })?
        } else {
            let file = |reason: String| DocumentFailure::File {
                path: source.clone(),
                reason,
            };
            let text = std::fs::read_to_string(&source).map_err(|e| file(e.to_string()))?;
            serde_json::from_str(&text).map_err(|e| file(format!("not JSON: {e}")))?
        };
        Served::find(source, &document, &endpoint.path)
    }

    /// The endpoint at `path` in `document`.
    fn find(source: String, document: &Value, path: &str) -> Result<Served, DocumentFailure> {
        let channels = document.get("channels").and_then(Value::as_object);
        let address = |channel: &Value| {
            channel
                .get("address")
                .and_then(Value::as_str)
                .map(|address| format!("/{}", address.trim_start_matches('/')))
        };
        // A wildcard endpoint's address ends with `/{path}`: it serves every path below its base.
        let serves = |address: &str| match address.strip_suffix("/{path}") {
            Some(base) => path
                .strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
            None => address == path,
        };
        let Some(channel) = channels
            .into_iter()
            .flat_map(|channels| channels.values())
            .find(|channel| address(channel).is_some_and(|address| serves(&address)))
        else {
            let available = channels
                .into_iter()
                .flat_map(|channels| channels.values())
                .filter_map(address)
                .collect();
            return Err(DocumentFailure::NoChannel {
                source,
                path: path.to_owned(),
                available,
            });
        };
        let contracts = match channel.get("x-grest-contracts") {
            None => Vec::new(),
            Some(list) => serde_json::from_value(list.clone()).map_err(|e| DocumentFailure::Malformed {
                source: source.clone(),
                reason: format!("x-grest-contracts of {path}: {e}"),
            })?,
        };
        let info = |key: &str| document["info"][key].as_str().unwrap_or_default().to_owned();
        Ok(Served {
            source,
            title: format!("{} {}", info("title"), info("version")).trim().to_owned(),
            contracts,
        })
    }

    /// The method at wire path `path`, with its contract and direction.
    pub(crate) fn method(&self, path: &str) -> Option<(&ContractDescriptor, Direction, &MethodDescriptor)> {
        self.contracts.iter().find_map(|contract| {
            contract
                .method(path)
                .map(|(direction, method)| (contract, direction, method))
        })
    }

    /// The wire paths of the methods going `direction` (only the request-response ones with `requests`).
    pub(crate) fn methods(&self, direction: Direction, requests: bool) -> Vec<String> {
        self.contracts
            .iter()
            .flat_map(|contract| match direction {
                Direction::ClientToServer => contract.client_to_server.values(),
                Direction::ServerToClient => contract.server_to_client.values(),
            })
            .filter(|method| method.request || !requests)
            .map(|method| method.path.clone())
            .collect()
    }
}

impl std::fmt::Display for DocumentFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentFailure::Fetch {
                url,
                error: DocumentError::Status(404),
            } => write!(
                f,
                "no AsyncAPI document at {url} (404): the server does not serve one there (GrestWs::asyncapi); pass \
                 --document with its URL or a file"
            ),
            DocumentFailure::Fetch { url, error } => write!(f, "cannot read the AsyncAPI document at {url}: {error}"),
            DocumentFailure::File { path, reason } => write!(f, "cannot read the AsyncAPI document {path}: {reason}"),
            DocumentFailure::NoChannel {
                source,
                path,
                available,
            } => {
                let available = match available.is_empty() {
                    true => "none".to_owned(),
                    false => available.join(", "),
                };
                write!(
                    f,
                    "the AsyncAPI document {source} describes no endpoint at {path} (it has: {available})"
                )
            }
            DocumentFailure::Malformed { source, reason } => {
                write!(f, "the AsyncAPI document {source} is not one grest-ws wrote: {reason}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_endpoint_is_the_channel_at_its_path() {
        let contract = json!({
            "name": "Chat", "path": "ws/chat",
            "connect": {"query": null, "errors": []},
            "clientToServer": {"send": {"path": "Chat.send", "request": true, "input": null, "success": null, "errors": []}},
            "serverToClient": {},
            "shapes": {}
        });
        let document = json!({
            "info": {"title": "Chat", "version": "1.0.0"},
            "channels": {
                "chat": {"address": "/ws/chat", "x-grest-contracts": [contract]},
                "pty": {"address": "ws/pty"},
                "desktop": {"address": "/desktop/{path}"}
            }
        });
        let served = Served::find("doc".into(), &document, "/ws/chat").unwrap();
        assert_eq!(served.title, "Chat 1.0.0");
        assert_eq!(served.methods(Direction::ClientToServer, false), ["Chat.send"]);
        assert!(served.methods(Direction::ServerToClient, true).is_empty());
        assert!(served.method("Chat.send").is_some() && served.method("Chat.nope").is_none());
        assert!(
            Served::find("doc".into(), &document, "/ws/pty")
                .unwrap()
                .contracts
                .is_empty()
        );

        let missing = Served::find("doc".into(), &document, "/ws/other").unwrap_err();
        assert_eq!(
            missing.to_string(),
            "the AsyncAPI document doc describes no endpoint at /ws/other (it has: /ws/chat, /ws/pty, /desktop/{path})"
        );
        let broken = json!({"channels": {"c": {"address": "/a", "x-grest-contracts": [1]}}});
        assert!(matches!(
            Served::find("doc".into(), &broken, "/a"),
            Err(DocumentFailure::Malformed { .. })
        ));
    }
}
