//! The document's assembly: a channel per endpoint, an operation per method and direction (plus the handshake),
//! their messages, and the components they share (error envelopes, named payload types, security schemes).

use std::collections::BTreeMap;

use grest_ws_core::auth::Wire;
use grest_ws_core::contract::{ConnectMeta, ContractDescriptor, Direction, ErrorMeta, Group, MethodMeta};
use grest_ws_core::validate::{NameCollision, Shape};
use grest_ws_core::{ContractMeta, Permission};
use serde_json::{Map, Value, json};

use crate::AsyncApiError;
use crate::schema::{Schemas, object};
use crate::security::{self, Security};

/// How grest peers talk, told once in `info.description`.
pub(crate) const PROTOCOL: &str = "\
## How to read this document

It describes the **server**: a `receive` operation is something clients send to it, a `send` operation something \
it sends to clients. Each channel is one WebSocket endpoint (its address is the upgrade path); a request-response \
method's operation has a `reply`.

## Frames

A typed socket carries one protocol message per WebSocket text frame: `<type>:<path>:<id>:<data>`, split on the \
first three colons (the data may contain more). A message's `payload` below is the `<data>` part, JSON; a method \
without input sends no data.

| type | direction | frame |
|---|---|---|
| `h` handshake | client → server, first | `h:::{\"authorization\":\"Bearer …\"}` (the handshake headers) |
| `k` accepted | server → client | `k:::null` |
| `x` refused | server → client | `x:::<error envelope>`, then close 4001 |
| `r` request | both | `r:<Module.method>:<id>:<input>` |
| `s` response | both | `s:<Module.method>:<id>:<result envelope>`, the request's id echoed |
| `m` fire-and-forget | both | `m:<Module.method>::<input>` |
| `p` / `o` | both | `p:::` is answered `o:::` |

A result envelope is `{\"success\":true,\"type\":\"OK\",\"data\":…}` or an error envelope \
`{\"success\":false,\"type\":\"<TYPE>\",\"data\":…,\"statusCode\":<n>,\"context\":{\"displayMessage\":…,\"timestamp\":…,\"ref\":\"ERR_REF_…\"}}`. \
Besides a method's declared errors, any request may be answered `SERVER_ERROR` (500) or `PAYLOAD_TOO_LARGE` (413).

The handshake query travels in the upgrade URL (an invalid one closes the socket with 4000) and cookies in its \
`Cookie` header, never in `h`. Query values are strings on the wire, coerced to the declared types (`?version=2` is \
the number 2). String lengths count UTF-16 code units, as JavaScript does.

Raw channels carry opaque text and binary frames: after the same `h`/`k` handshake by default (the text frames \
NUL `gg-raw-ping` NUL and NUL `gg-raw-pong` NUL are keepalives, never data), or right after the upgrade for \
foreign clients.";

/// Everything added so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    channels: Vec<Channel>,
    operations: Map<String, Value>,
    /// `components.messages`: the handshake's acceptance and one error envelope per error type.
    messages: BTreeMap<String, Value>,
    /// The status code of each error type seen.
    errors: BTreeMap<&'static str, u16>,
    schemas: Schemas,
    security: Security,
}

/// One endpoint.
#[derive(Debug, Clone)]
struct Channel {
    id: String,
    /// What its operations' keys start with: nothing, or the channel's name when its contract is served at an
    /// earlier channel too.
    operations: String,
    /// The path as registered (with its `/*` for a wildcard): what tells two endpoints apart.
    route: String,
    address: String,
    group: Option<Group>,
    summary: String,
    description: String,
    /// The contracts whose methods travel on it: one, or an anchor's modules.
    contracts: Vec<&'static str>,
    /// Their descriptors (`x-grest-contracts`): what a tool holding only the document calls and checks with.
    descriptors: Vec<ContractDescriptor>,
    parameters: Option<Value>,
    messages: Map<String, Value>,
    bindings: Value,
    /// The operations' `security`: the schema's credential wires.
    security: Vec<Value>,
}

/// What an operation says about itself.
struct About {
    title: String,
    summary: String,
    description: String,
}

/// A raw endpoint, as [`Document::raw`] takes it.
pub(crate) struct RawEndpoint<'a> {
    pub(crate) meta: &'static ContractMeta,
    pub(crate) route: String,
    pub(crate) base: String,
    pub(crate) prefix: bool,
    pub(crate) custom_client: bool,
    pub(crate) protocols: &'a [&'a str],
    pub(crate) wires: &'a [Wire],
}

impl Document {
    /// Adds a typed endpoint, or a module to the channel of its anchor's endpoint.
    pub(crate) fn typed(
        &mut self,
        route: String,
        meta: &'static ContractMeta,
        wires: &[Wire],
        group: Option<Group>,
    ) -> Result<(), AsyncApiError> {
        let index = match self.channels.iter().position(|c| c.route == route) {
            Some(index) => match (group, self.channels[index].group) {
                (Some(module), Some(anchor)) if module.same(&anchor) => index,
                _ => return Err(AsyncApiError::DuplicateChannel(route)),
            },
            None => {
                let id = group.map_or(meta.name, |g| g.name);
                let channel = self.open(id, route.clone(), route, meta.connect.query, wires, &[])?;
                self.channels.push(Channel { group, ..channel });
                let index = self.channels.len() - 1;
                self.handshake(index, &meta.connect, wires)?;
                index
            }
        };
        if self.channels[index].contracts.contains(&meta.name) {
            return Err(AsyncApiError::DuplicateChannel(format!(
                "{} ({})",
                self.channels[index].route, meta.name
            )));
        }
        let descriptor = ContractDescriptor::new(&self.channels[index].route, meta)
            .map_err(|NameCollision(name)| AsyncApiError::NameCollision(name))?;
        self.channels[index].contracts.push(meta.name);
        self.channels[index].descriptors.push(descriptor);
        self.describe_typed(index);
        for method in meta.methods {
            self.method(index, meta.name, method)?;
        }
        Ok(())
    }

    /// Adds a raw byte-stream endpoint.
    pub(crate) fn raw(&mut self, endpoint: RawEndpoint<'_>) -> Result<(), AsyncApiError> {
        let name = endpoint.meta.name;
        if self.channels.iter().any(|c| c.route == endpoint.route) {
            return Err(AsyncApiError::DuplicateChannel(endpoint.route));
        }
        let (address, parameters) = if endpoint.prefix {
            let parameters = json!({ "path": { "description": format!(
                "The rest of the path: the endpoint serves `{}` itself and every path below it, and its handler sees \
                 the concrete path.",
                endpoint.base
            ) } });
            (format!("{}/{{path}}", endpoint.base), Some(parameters))
        } else {
            (endpoint.base.clone(), None)
        };
        let protocols = if endpoint.custom_client {
            endpoint.protocols
        } else {
            &[]
        };
        let query = endpoint.meta.connect.query;
        let mut channel = self.open(name, endpoint.route, address, query, endpoint.wires, protocols)?;
        channel.contracts.push(name);
        channel.parameters = parameters;
        let (summary, mode) = if endpoint.custom_client {
            (
                format!("Raw byte stream `{name}` for foreign clients: no grest handshake."),
                "Authentication comes from the upgrade request alone (failure closes with 4001 \"Unauthorized\"); \
                 frames flow right after the upgrade, and bytes sent while authentication runs are kept.",
            )
        } else {
            (
                format!("Raw byte stream `{name}` between grest peers."),
                "After the `h`/`k` handshake every frame, text or binary, is application data; frames sent before \
                 `k` are dropped, and the keepalive sentinels are answered and never delivered.",
            )
        };
        channel.summary = summary;
        channel.description = format!("{mode} {}", security::uses_text(endpoint.wires));
        for (key, title, content_type, payload) in [
            ("text", "Text frame", "text/plain", json!({ "type": "string" })),
            (
                "binary",
                "Binary frame",
                "application/octet-stream",
                json!({ "type": "string", "format": "binary" }),
            ),
        ] {
            channel.messages.insert(
                key.to_owned(),
                json!({
                    "name": key,
                    "title": title,
                    "summary": format!("One WebSocket {} frame of the stream, opaque to grest.", key),
                    "contentType": content_type,
                    "payload": payload,
                }),
            );
        }
        self.channels.push(channel);
        let index = self.channels.len() - 1;
        if !endpoint.custom_client {
            self.handshake(index, &endpoint.meta.connect, endpoint.wires)?;
        }
        let (id, prefix) = (self.channels[index].id.clone(), self.channels[index].operations.clone());
        let messages = [message_ref(&id, "text"), message_ref(&id, "binary")];
        for (direction, summary) in [
            (
                Direction::ClientToServer,
                format!("The client writes to the `{name}` stream."),
            ),
            (
                Direction::ServerToClient,
                format!("The server writes to the `{name}` stream."),
            ),
        ] {
            let about = About {
                title: name.to_owned(),
                summary,
                description: "Every WebSocket frame of the stream, text or binary, is one message.".to_owned(),
            };
            let mut operation = self.operation(index, direction, name, about);
            operation.insert("messages".to_owned(), Value::from(messages.to_vec()));
            self.operations.insert(
                format!("{prefix}{}.{name}", direction_key(direction)),
                Value::Object(operation),
            );
        }
        Ok(())
    }

    /// A new channel's common parts: its id (refused when taken), address, bindings (the upgrade's query and
    /// headers) and credential wires.
    fn open(
        &mut self,
        id: &str,
        route: String,
        address: String,
        query: Option<fn() -> Shape>,
        wires: &[Wire],
        protocols: &[&str],
    ) -> Result<Channel, AsyncApiError> {
        // One contract may be served at several paths: the later channels are named after their path too, and
        // their operations carry the channel's name.
        let (id, operations) = match self.channels.iter().any(|c| c.id == id) {
            false => (id.to_owned(), String::new()),
            true => {
                let path: String = route
                    .trim_start_matches('/')
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' })
                    .collect();
                let id = format!("{id}_{path}");
                if self.channels.iter().any(|c| c.id == id) {
                    return Err(AsyncApiError::DuplicateChannel(id));
                }
                let operations = format!("{id}.");
                (id, operations)
            }
        };
        let security = self.security.register(wires)?;
        let declared = match query.map(|query| query()) {
            None | Some(Shape::Null) => None,
            // Inline: the binding wants the object itself.
            Some(Shape::Named(_, inner)) => Some(self.schemas.schema(&inner.get())?),
            Some(other) => Some(self.schemas.schema(&other)?),
        };
        let mut bindings = json!({ "ws": { "method": "GET", "bindingVersion": "0.1.0" } });
        if let Some(query) = security::query_binding(declared, wires) {
            bindings["ws"]["query"] = query;
        }
        if let Some(headers) = security::headers_binding(wires, protocols) {
            bindings["ws"]["headers"] = headers;
        }
        Ok(Channel {
            id,
            operations,
            route,
            address,
            group: None,
            summary: String::new(),
            description: String::new(),
            contracts: Vec::new(),
            descriptors: Vec::new(),
            parameters: None,
            messages: Map::new(),
            bindings,
            security,
        })
    }

    /// The summary and description of a typed channel, for the contracts it has so far.
    fn describe_typed(&mut self, index: usize) {
        let channel = &mut self.channels[index];
        let names: Vec<String> = channel.contracts.iter().map(|name| format!("`{name}`")).collect();
        channel.summary = match channel.group {
            Some(group) => format!(
                "Typed grest socket of anchor `{}`: modules {} on one connection.",
                group.name,
                names.join(", ")
            ),
            None => format!("Typed grest socket of contract {}.", names.join(", ")),
        };
        channel.description = format!(
            "Open it with a WebSocket upgrade to `{}`, send the `h` handshake, and after `k` call methods and \
             receive what the server sends, as grest frames (see the document's description). Method paths are \
             `<Module>.<method>`.",
            channel.address
        );
    }

    /// The handshake: its messages, the WebSocket binding's query, and its operation.
    fn handshake(&mut self, index: usize, connect: &ConnectMeta, wires: &[Wire]) -> Result<(), AsyncApiError> {
        let accepted = self.shared_message("handshakeAccepted", || {
            json!({
                "name": "handshakeAccepted",
                "title": "Handshake accepted",
                "summary": "The server accepted the connection: `k:::null`.",
                "description": "Sent once the wires, the middleware, the connect permission and the connect handler \
                                have run; only then do method frames flow.",
                "payload": { "type": "null" },
            })
        });
        let errors = self.errors(connect.errors)?;
        let channel = &mut self.channels[index];
        channel.messages.insert(
            "handshake".to_owned(),
            json!({
                "name": "handshake",
                "title": "Handshake",
                "summary": "The client's first frame: `h:::<headers>`.",
                "description": "A JSON object of lower-case header names to strings: the credentials of the header \
                                wires (`{}` when there are none).",
                "payload": security::handshake_headers(wires),
            }),
        );
        channel.messages.insert("handshakeAccepted".to_owned(), accepted);
        let mut reply = vec![message_ref(&channel.id, "handshakeAccepted")];
        for (key, message) in errors {
            reply.push(message_ref(&channel.id, &key));
            channel.messages.insert(key, message);
        }
        let id = channel.id.clone();
        let mut description = vec![security::uses_text(wires)];
        description.push(permission_sentence(connect.permission.as_ref()));
        description.push(errors_sentence(connect.errors, "Declared connect errors (in `x`)"));
        let about = About {
            title: format!("{id} handshake"),
            summary: "The client opens the connection: `h` first, answered by `k`, or by `x` and close 4001."
                .to_owned(),
            description: description.join(" "),
        };
        let mut operation = self.operation(index, Direction::ClientToServer, &id, about);
        operation.insert("messages".to_owned(), json!([message_ref(&id, "handshake")]));
        operation.insert("reply".to_owned(), reply_object(&id, reply));
        if let Some(permission) = &connect.permission {
            operation.insert("x-grest-permission".to_owned(), security::permission(permission));
        }
        self.operations
            .insert(format!("{id}.handshake"), Value::Object(operation));
        Ok(())
    }

    /// One method: its message, its reply and error messages for a request, and its operation.
    fn method(&mut self, index: usize, contract: &str, method: &MethodMeta) -> Result<(), AsyncApiError> {
        let key = format!("{}.{}", direction_key(method.direction), method.path);
        let path = method.path;
        let (sender, receiver) = match method.direction {
            Direction::ClientToServer => ("client", "server"),
            Direction::ServerToClient => ("server", "client"),
        };
        let payload = self.payload(method.input)?;
        let data = if payload.is_some() { "<data>" } else { "" };
        let (frame, kind) = if method.is_request {
            (format!("an `r` frame `r:{path}:<id>:{data}`"), "request")
        } else {
            (format!("an `m` frame `m:{path}::{data}`"), "message")
        };
        let description = match payload {
            Some(_) => format!("Sent by the {sender} as {frame}; the payload is its data."),
            None => format!("Sent by the {sender} as {frame}, without data (the method takes no input)."),
        };
        let mut message = Map::new();
        message.insert("name".to_owned(), Value::from(path));
        message.insert("title".to_owned(), Value::from(format!("{path} {kind}")));
        message.insert("summary".to_owned(), Value::from(format!("The input of `{path}`.")));
        message.insert("description".to_owned(), Value::from(description));
        if let Some(payload) = payload {
            message.insert("payload".to_owned(), payload);
        }
        let mut replies = Vec::new();
        if method.is_request {
            let data = self
                .payload(method.success)?
                .unwrap_or_else(|| json!({ "type": "null" }));
            let mut properties = Map::new();
            properties.insert("success".to_owned(), json!({ "type": "boolean", "const": true }));
            properties.insert("type".to_owned(), json!({ "type": "string", "const": "OK" }));
            properties.insert("data".to_owned(), data);
            let success = json!({
                "name": path,
                "title": format!("{path} reply"),
                "summary": format!("The success envelope answering `{path}`."),
                "description": format!(
                    "Sent by the {receiver} as an `s` frame `s:{path}:<id>:<envelope>`, echoing the request's id; \
                     its `data` is the result."
                ),
                "payload": object(properties, vec![Value::from("success"), Value::from("type")]),
            });
            replies.push((format!("{key}.reply"), success));
            replies.extend(self.errors(method.errors)?);
        }
        let mut description = Vec::new();
        if method.direction == Direction::ClientToServer || method.permission.is_some() {
            description.push(permission_sentence(method.permission.as_ref()));
        }
        if method.is_request {
            description.push(errors_sentence(method.errors, "Declared errors"));
        }
        let channel = &mut self.channels[index];
        channel.messages.insert(key.clone(), Value::Object(message));
        let mut reply = Vec::new();
        for (reply_key, reply_message) in replies {
            reply.push(message_ref(&channel.id, &reply_key));
            channel.messages.insert(reply_key, reply_message);
        }
        let id = channel.id.clone();
        let summary = match (method.direction, method.is_request) {
            (_, true) => format!("The {sender} calls `{path}`; the {receiver} replies."),
            (Direction::ClientToServer, false) => format!("The client sends `{path}`; nothing is replied."),
            (Direction::ServerToClient, false) => format!("The server pushes `{path}` to a client."),
        };
        let about = About {
            title: path.to_owned(),
            summary,
            description: description.join(" "),
        };
        let mut operation = self.operation(index, method.direction, contract, about);
        operation.insert("messages".to_owned(), json!([message_ref(&id, &key)]));
        if method.is_request {
            operation.insert("reply".to_owned(), reply_object(&id, reply));
        }
        if let Some(permission) = &method.permission {
            operation.insert("x-grest-permission".to_owned(), security::permission(permission));
        }
        let key = format!("{}{key}", self.channels[index].operations);
        self.operations.insert(key, Value::Object(operation));
        Ok(())
    }

    /// A payload's schema; `None` without one.
    fn payload(&mut self, shape: Option<fn() -> Shape>) -> Result<Option<Value>, AsyncApiError> {
        shape.map(|shape| self.schemas.schema(&shape())).transpose()
    }

    /// An operation's common parts: action, channel, what it says about itself, security and tag.
    fn operation(&self, index: usize, direction: Direction, tag: &str, about: About) -> Map<String, Value> {
        let channel = &self.channels[index];
        let mut operation = Map::new();
        let action = match direction {
            Direction::ClientToServer => "receive",
            Direction::ServerToClient => "send",
        };
        operation.insert("action".to_owned(), Value::from(action));
        operation.insert("channel".to_owned(), channel_ref(&channel.id));
        operation.insert("title".to_owned(), Value::from(about.title));
        operation.insert("summary".to_owned(), Value::from(about.summary));
        operation.insert("description".to_owned(), Value::from(about.description));
        if !channel.security.is_empty() {
            operation.insert("security".to_owned(), Value::Array(channel.security.clone()));
        }
        operation.insert("tags".to_owned(), json!([{ "name": tag }]));
        operation
    }

    /// The channel messages of `errors`: references to the shared envelopes, registered the first time.
    fn errors(&mut self, errors: &[ErrorMeta]) -> Result<Vec<(String, Value)>, AsyncApiError> {
        let mut messages = Vec::new();
        for error in errors {
            let (kind, status) = (error.error_type, error.status_code);
            match self.errors.insert(kind, status) {
                Some(seen) if seen != status => return Err(AsyncApiError::ErrorCollision(kind.to_owned())),
                _ => {}
            }
            let reference = self.shared_message(kind, || {
                let mut properties = Map::new();
                properties.insert("success".to_owned(), json!({ "type": "boolean", "const": false }));
                properties.insert("type".to_owned(), json!({ "type": "string", "const": kind }));
                properties.insert(
                    "data".to_owned(),
                    json!({ "description": "The error's data, if its type has any." }),
                );
                properties.insert("statusCode".to_owned(), json!({ "type": "integer", "const": status }));
                properties.insert(
                    "context".to_owned(),
                    json!({
                        "type": "object",
                        "properties": {
                            "displayMessage": { "type": "string" },
                            "timestamp": { "type": "number" },
                            "ref": { "type": "string" },
                        },
                    }),
                );
                json!({
                    "name": kind,
                    "title": format!("{kind} ({status})"),
                    "summary": format!("The error `{kind}`, status {status}."),
                    "description": "An error envelope: the data of an `s` frame answering a request, or of the `x` \
                                    frame that refuses a handshake.",
                    "payload": object(properties, vec![Value::from("success"), Value::from("type")]),
                })
            });
            messages.push((kind.to_owned(), reference));
        }
        Ok(messages)
    }

    /// A message shared by channels, in `components.messages` (made the first time), and the reference to it.
    fn shared_message(&mut self, key: &str, make: impl FnOnce() -> Value) -> Value {
        self.messages.entry(key.to_owned()).or_insert_with(make);
        json!({ "$ref": format!("#/components/messages/{key}") })
    }

    /// `channels`, `operations` and `components`, in that order.
    pub(crate) fn render(&self) -> Map<String, Value> {
        let mut root = Map::new();
        let channels: Map<String, Value> = self
            .channels
            .iter()
            .map(|channel| {
                let mut object = Map::new();
                object.insert("address".to_owned(), Value::from(channel.address.as_str()));
                object.insert("title".to_owned(), Value::from(channel.id.as_str()));
                object.insert("summary".to_owned(), Value::from(channel.summary.as_str()));
                object.insert("description".to_owned(), Value::from(channel.description.as_str()));
                if let Some(parameters) = &channel.parameters {
                    object.insert("parameters".to_owned(), parameters.clone());
                }
                object.insert("messages".to_owned(), Value::Object(channel.messages.clone()));
                object.insert("bindings".to_owned(), channel.bindings.clone());
                if !channel.descriptors.is_empty() {
                    let descriptors = serde_json::to_value(&channel.descriptors).unwrap_or_default();
                    object.insert("x-grest-contracts".to_owned(), descriptors);
                }
                (channel.id.clone(), Value::Object(object))
            })
            .collect();
        root.insert("channels".to_owned(), Value::Object(channels));
        root.insert("operations".to_owned(), Value::Object(self.operations.clone()));
        let mut components = Map::new();
        for (key, entries) in [
            ("schemas", self.schemas.components()),
            ("messages", self.messages.clone().into_iter().collect()),
            ("securitySchemes", self.security.components()),
        ] {
            if !entries.is_empty() {
                components.insert(key.to_owned(), Value::Object(entries));
            }
        }
        if !components.is_empty() {
            root.insert("components".to_owned(), Value::Object(components));
        }
        root
    }
}

/// `clientToServer` or `serverToClient`, as `contract!` names the sections.
fn direction_key(direction: Direction) -> &'static str {
    match direction {
        Direction::ClientToServer => "clientToServer",
        Direction::ServerToClient => "serverToClient",
    }
}

fn channel_ref(id: &str) -> Value {
    json!({ "$ref": format!("#/channels/{id}") })
}

fn message_ref(channel: &str, key: &str) -> Value {
    json!({ "$ref": format!("#/channels/{channel}/messages/{key}") })
}

/// An operation's `reply`: messages on the same channel.
fn reply_object(channel: &str, messages: Vec<Value>) -> Value {
    json!({ "channel": channel_ref(channel), "messages": messages })
}

fn permission_sentence(permission: Option<&Permission>) -> String {
    match permission {
        Some(Permission::Public) => "Permission: public.".to_owned(),
        Some(permission) => format!(
            "Permission: {} (else `FORBIDDEN`).",
            security::permission_text(permission)
        ),
        None => "No permission declared.".to_owned(),
    }
}

fn errors_sentence(errors: &[ErrorMeta], heading: &str) -> String {
    if errors.is_empty() {
        return format!("{heading}: none.");
    }
    let listed: Vec<String> = errors
        .iter()
        .map(|e| format!("`{}` ({})", e.error_type, e.status_code))
        .collect();
    format!("{heading}: {}.", listed.join(", "))
}
