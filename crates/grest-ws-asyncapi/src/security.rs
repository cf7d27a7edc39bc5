//! Wires and permissions: credential wires as `components.securitySchemes`, where a client writes every wire of a
//! schema (the `h` frame, the upgrade's query and `Cookie` header), and permissions as data and as prose.

use std::collections::BTreeMap;

use grest_ws_core::Permission;
use grest_ws_core::auth::{Wire, WireSource};
use serde_json::{Map, Value, json};

use crate::AsyncApiError;

/// The security schemes of every credential wire seen, by key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Security {
    schemes: BTreeMap<String, (Wire, Value)>,
}

impl Security {
    /// `components.securitySchemes`.
    pub(crate) fn components(&self) -> Map<String, Value> {
        self.schemes
            .iter()
            .map(|(key, (_, scheme))| (key.clone(), scheme.clone()))
            .collect()
    }

    /// Registers the credential wires among `wires` and returns an operation's `security`: a reference to each
    /// one's scheme, in the schema's order.
    pub(crate) fn register(&mut self, wires: &[Wire]) -> Result<Vec<Value>, AsyncApiError> {
        let mut references = Vec::new();
        for wire in wires.iter().filter(|wire| is_credential(wire)) {
            let key = scheme_key(wire.name());
            match self.schemes.get(&key) {
                Some((seen, _)) if seen != wire => return Err(AsyncApiError::WireCollision(wire.name().to_owned())),
                Some(_) => {}
                None => {
                    self.schemes.insert(key.clone(), (*wire, scheme(wire)));
                }
            }
            references.push(json!({ "$ref": format!("#/components/securitySchemes/{key}") }));
        }
        Ok(references)
    }
}

/// A wire that a handler verifies (not an ambient value, not a middleware slot).
fn is_credential(wire: &Wire) -> bool {
    !wire.is_ambient() && !wire.is_middleware()
}

/// A component key (`^[\w\d.\-_]+$`) for a wire name.
fn scheme_key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The security scheme of a credential wire: `http` bearer for a bearer `authorization` header, else `httpApiKey`
/// where the wire travels.
fn scheme(wire: &Wire) -> Value {
    let description = format!("Wire `{}`: {}.", wire.name(), carrier(wire));
    match wire.source() {
        WireSource::Header {
            name: "authorization",
            bearer: true,
        } => json!({ "type": "http", "scheme": "bearer", "description": description }),
        WireSource::Header { name, .. } => {
            json!({ "type": "httpApiKey", "name": name, "in": "header", "description": description })
        }
        WireSource::Cookie { name } => {
            json!({ "type": "httpApiKey", "name": name, "in": "cookie", "description": description })
        }
        WireSource::Query { name } => {
            json!({ "type": "httpApiKey", "name": name, "in": "query", "description": description })
        }
        WireSource::Middleware => unreachable!("a middleware slot is no credential"),
    }
}

/// Where a wire's value travels, in words.
fn carrier(wire: &Wire) -> String {
    match wire.source() {
        WireSource::Header { name, bearer } => format!(
            "the key `{name}` of the `h` frame, in band, not an HTTP header of the upgrade{}",
            if bearer { ", as `Bearer <token>`" } else { "" }
        ),
        WireSource::Cookie { name } => format!("the cookie `{name}` of the upgrade request"),
        WireSource::Query { name } => format!("the query parameter `{name}` of the upgrade URL"),
        WireSource::Middleware => "where a middleware bound on the server reads what it needs".into(),
    }
}

/// What a wire is, in words.
fn kind(wire: &Wire) -> &'static str {
    match (wire.is_middleware(), wire.is_ambient()) {
        (true, _) => "middleware slot",
        (false, true) => "ambient wire",
        (false, false) => "credential wire",
    }
}

/// The handshake's order in words: each wire of the schema's `uses` list, where it travels.
pub(crate) fn uses_text(wires: &[Wire]) -> String {
    if wires.is_empty() {
        return "The schema uses no wires.".to_owned();
    }
    let steps: Vec<String> = wires
        .iter()
        .map(|wire| format!("{} `{}`, {}", kind(wire), wire.name(), carrier(wire)))
        .collect();
    let ambient = if wires.iter().any(Wire::is_ambient) {
        " Ambient values are kept for handlers, never verified."
    } else {
        ""
    };
    format!(
        "At the handshake the server runs, in this order: {}; then the server-wide middleware.{ambient}",
        steps.join("; ")
    )
}

/// The `h` frame's data: an object of lower-case header names, with the header wires' keys described.
pub(crate) fn handshake_headers(wires: &[Wire]) -> Value {
    let mut properties = Map::new();
    for wire in wires {
        if let WireSource::Header { name, bearer } = wire.source() {
            let mut property = Map::new();
            property.insert("type".to_owned(), Value::from("string"));
            if bearer {
                property.insert("pattern".to_owned(), Value::from("^Bearer "));
            }
            property.insert(
                "description".to_owned(),
                Value::from(format!("The {} `{}`.", kind(wire), wire.name())),
            );
            properties.insert(name.to_owned(), Value::Object(property));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".to_owned(), Value::from("object"));
    if !properties.is_empty() {
        schema.insert("properties".to_owned(), Value::Object(properties));
    }
    // Middleware may read other headers.
    schema.insert("additionalProperties".to_owned(), json!({ "type": "string" }));
    Value::Object(schema)
}

/// The WebSocket binding's `query`: the declared query (`declared`, an inline schema) and the query wires, or
/// `None` when the URL carries neither. The binding wants an object schema with `properties`.
pub(crate) fn query_binding(declared: Option<Value>, wires: &[Wire]) -> Option<Value> {
    let wired: Map<String, Value> = wires
        .iter()
        .filter_map(|wire| match wire.source() {
            WireSource::Query { name } => Some((
                name.to_owned(),
                json!({ "type": "string", "description": format!("The {} `{}`.", kind(wire), wire.name()) }),
            )),
            _ => None,
        })
        .collect();
    let mut schema = match declared {
        None if wired.is_empty() => return None,
        None => Map::from_iter([("type".to_owned(), Value::from("object"))]),
        Some(Value::Object(plain))
            if plain.get("type") == Some(&Value::from("object")) && !plain.contains_key("allOf") =>
        {
            plain
        }
        Some(other) => Map::from_iter([
            ("type".to_owned(), Value::from("object")),
            ("allOf".to_owned(), Value::Array(vec![other])),
        ]),
    };
    if let Value::Object(properties) = schema.entry("properties").or_insert_with(|| Value::Object(Map::new())) {
        properties.extend(wired);
    }
    Some(Value::Object(schema))
}

/// The WebSocket binding's `headers`: the upgrade's `Cookie` header when wires read cookies, and
/// `Sec-WebSocket-Protocol` when the socket speaks subprotocols; `None` when neither.
pub(crate) fn headers_binding(wires: &[Wire], protocols: &[&str]) -> Option<Value> {
    let cookies: Vec<String> = wires
        .iter()
        .filter_map(|wire| match wire.source() {
            WireSource::Cookie { name } => Some(format!("`{name}` ({} `{}`)", kind(wire), wire.name())),
            _ => None,
        })
        .collect();
    let mut properties = Map::new();
    if !cookies.is_empty() {
        properties.insert(
            "cookie".to_owned(),
            json!({ "type": "string", "description": format!("Cookies read at the upgrade: {}.", cookies.join(", ")) }),
        );
    }
    if !protocols.is_empty() {
        let names: Vec<String> = protocols.iter().map(|p| format!("`{p}`")).collect();
        properties.insert(
            "sec-websocket-protocol".to_owned(),
            json!({
                "type": "string",
                "description": format!(
                    "The subprotocols the client offers; the server echoes the first of {} it finds there, and none \
                     when nothing matches.",
                    names.join(", ")
                ),
            }),
        );
    }
    (!properties.is_empty()).then(|| json!({ "type": "object", "properties": properties }))
}

/// A permission as data (the `x-grest-permission` extension): `"public"`, `"any"`, `{"scope": …}`,
/// `{"allOf": […]}` or `{"anyOf": […]}`.
pub(crate) fn permission(permission: &Permission) -> Value {
    match permission {
        Permission::Public => Value::from("public"),
        Permission::Any => Value::from("any"),
        Permission::Scope(scope) => json!({ "scope": scope }),
        Permission::AllOf(all) => json!({ "allOf": all.iter().map(self::permission).collect::<Vec<_>>() }),
        Permission::AnyOf(any) => json!({ "anyOf": any.iter().map(self::permission).collect::<Vec<_>>() }),
    }
}

/// A permission in words.
pub(crate) fn permission_text(permission: &Permission) -> String {
    let list = |items: &[Permission]| items.iter().map(permission_text).collect::<Vec<_>>().join(", ");
    match permission {
        Permission::Public => "public".to_owned(),
        Permission::Any => "any authenticated caller".to_owned(),
        Permission::Scope(scope) => format!("scope `{scope}`"),
        Permission::AllOf(all) => format!("all of ({})", list(all)),
        Permission::AnyOf(any) => format!("any of ({})", list(any)),
    }
}
