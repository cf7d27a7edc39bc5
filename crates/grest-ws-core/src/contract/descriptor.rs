//! A contract as JSON data ([`ContractDescriptor`]): what the TypeScript client reads to call a contract, and what
//! a served AsyncAPI document carries so that a tool holding only the document can call and check like a client.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{ContractMeta, Direction, ErrorMeta};
use crate::validate::{NameCollision, definitions, describe};

/// A contract at its path, as data: the handshake, every method per direction (in declaration order, keyed by the
/// method's name within the contract) with its shapes as [descriptors](crate::validate::describe), and the
/// definitions of the named types they refer to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractDescriptor {
    /// The contract's name (`Chat`).
    pub name: String,
    /// The endpoint path, as the schema declares it (`ws/chat`).
    pub path: String,
    /// The handshake.
    pub connect: ConnectDescriptor,
    /// What the client calls, by name within the contract (`sendMessage`).
    pub client_to_server: IndexMap<String, MethodDescriptor>,
    /// What the server calls.
    pub server_to_client: IndexMap<String, MethodDescriptor>,
    /// Every named type the shapes refer to, by name.
    pub shapes: Map<String, Value>,
}

/// The handshake of a [`ContractDescriptor`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectDescriptor {
    /// The query's descriptor; `null` when the contract takes no query.
    pub query: Option<Value>,
    /// The declared handshake errors.
    pub errors: Vec<ErrorDescriptor>,
}

/// One method of a [`ContractDescriptor`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodDescriptor {
    /// The wire path (`Chat.sendMessage`).
    pub path: String,
    /// Request-response (`true`) or fire-and-forget.
    pub request: bool,
    /// The input's descriptor; `null` when the method takes none.
    pub input: Option<Value>,
    /// The success's descriptor; `null` for fire-and-forget.
    pub success: Option<Value>,
    /// The declared errors.
    pub errors: Vec<ErrorDescriptor>,
}

/// A declared error type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDescriptor {
    /// The wire type (`ROOM_FULL`).
    #[serde(rename = "type")]
    pub error_type: String,
    /// Its status code.
    pub status_code: u16,
}

impl From<&ErrorMeta> for ErrorDescriptor {
    fn from(meta: &ErrorMeta) -> Self {
        ErrorDescriptor {
            error_type: meta.error_type.to_owned(),
            status_code: meta.status_code,
        }
    }
}

impl ContractDescriptor {
    /// The descriptor of contract `meta` served at `path`. Fails when two different types the contract uses share
    /// a name.
    pub fn new(path: &str, meta: &ContractMeta) -> Result<Self, NameCollision> {
        let errors = |list: &[ErrorMeta]| list.iter().map(ErrorDescriptor::from).collect();
        let methods = |direction| {
            meta.methods_in(direction)
                .map(|(_, method)| {
                    let key = method
                        .path
                        .strip_prefix(meta.name)
                        .and_then(|rest| rest.strip_prefix('.'))
                        .unwrap_or(method.path);
                    let descriptor = MethodDescriptor {
                        path: method.path.to_owned(),
                        request: method.is_request,
                        input: method.input.map(|shape| describe(&shape())),
                        success: method.success.map(|shape| describe(&shape())),
                        errors: errors(method.errors),
                    };
                    (key.to_owned(), descriptor)
                })
                .collect()
        };
        let shapes = meta
            .connect
            .query
            .into_iter()
            .chain(meta.methods.iter().flat_map(|m| m.input.into_iter().chain(m.success)))
            .map(|shape| shape());
        Ok(ContractDescriptor {
            name: meta.name.to_owned(),
            path: path.to_owned(),
            connect: ConnectDescriptor {
                query: meta.connect.query.map(|shape| describe(&shape())),
                errors: errors(meta.connect.errors),
            },
            client_to_server: methods(Direction::ClientToServer),
            server_to_client: methods(Direction::ServerToClient),
            shapes: definitions(shapes)?,
        })
    }

    /// The method at wire path `path` (`Chat.sendMessage`), with its direction.
    pub fn method(&self, path: &str) -> Option<(Direction, &MethodDescriptor)> {
        [
            (Direction::ClientToServer, &self.client_to_server),
            (Direction::ServerToClient, &self.server_to_client),
        ]
        .into_iter()
        .find_map(|(direction, methods)| methods.values().find(|m| m.path == path).map(|m| (direction, m)))
    }
}
