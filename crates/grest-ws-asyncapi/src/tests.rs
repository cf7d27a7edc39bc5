//! The document's parts on small contracts; the whole documents of a chat and of a contract using every feature
//! are checked by the repository's integration tests (and by the AsyncAPI parser).

use grest_ws::protocol::validate::{Field, Shape, ShapeFn};
use grest_ws::{
    AnchorSchema, Forbidden, Permission, RawContract, RawSchema, ServerError, Validate, ValidationError,
    WebSocketSchema, Wire, contract, define_error,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{AsyncApi, AsyncApiError, AsyncApiInfo};

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Limits {
    #[validate(non_empty, max_length = 8, pattern = "^[a-z]+$")]
    pub(crate) name: String,
    #[validate(min = 5, multiple_of = 5)]
    pub(crate) percent: u8,
    #[validate(ipv6)]
    pub(crate) address: Option<String>,
    #[serde(default)]
    #[validate(max_length = 3)]
    pub(crate) tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub(crate) enum Shape2d {
    Circle { radius: f64 },
    Dot,
}

/// A recursive type, whose `Validate` is written by hand (the derive's `DEEP` would depend on itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Node {
    pub(crate) children: Vec<Node>,
}

impl Validate for Node {
    fn shape() -> Shape {
        fn object() -> Shape {
            fn children() -> Shape {
                Shape::Array(ShapeFn::new(Node::shape))
            }
            static FIELDS: [Field; 1] = [Field::new("children", children)];
            Shape::Object(&FIELDS)
        }
        Shape::Named("Node", ShapeFn::new(object))
    }
}

define_error! { pub struct Gone = ("GONE", 410); }

contract! {
    pub Lab {
        connect { errors: [Forbidden, ServerError], permission: Permission::Scope("lab") }
        client_to_server {
            limits(Limits) -> Shape2d, errors: [ValidationError, Gone, ServerError], permission: Permission::Public;
            tree(Node), permission: Permission::AnyOf(&[Permission::Scope("a"), Permission::Any]);
        }
        server_to_client { tick(u32); }
    }
}

const TOKEN: Wire = Wire::header("token", "authorization").bearer();
const LAB_API: WebSocketSchema<Lab> = WebSocketSchema::new("ws/lab").uses(&[TOKEN]);

fn document() -> Value {
    AsyncApi::new(AsyncApiInfo::new("Lab", "1.0.0"))
        .schema(LAB_API)
        .expect("describable")
        .document()
}

#[test]
fn constraints_are_the_validators() {
    let document = document();
    let limits = &document["components"]["schemas"]["Limits"];
    assert_eq!(
        limits["properties"]["name"],
        json!({ "type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[a-z]+$" })
    );
    assert_eq!(
        limits["properties"]["percent"],
        json!({ "type": "integer", "minimum": 5, "maximum": 255, "multipleOf": 5 })
    );
    assert_eq!(
        limits["properties"]["address"],
        json!({ "type": ["string", "null"], "format": "ipv6" })
    );
    assert_eq!(limits["properties"]["tags"]["maxItems"], 3);
    assert_eq!(
        limits["required"],
        json!(["name", "percent"]),
        "optional and defaulted fields are not required"
    );
}

#[test]
fn internally_tagged_variants_carry_their_tag() {
    let document = document();
    assert_eq!(
        document["components"]["schemas"]["Shape2d"],
        json!({ "oneOf": [
            { "type": "object",
              "properties": { "kind": { "type": "string", "const": "circle" }, "radius": { "type": "number" } },
              "required": ["kind", "radius"] },
            { "type": "object", "properties": { "kind": { "type": "string", "const": "dot" } }, "required": ["kind"] },
        ] })
    );
    assert_eq!(
        document["components"]["schemas"]["Node"]["properties"]["children"]["items"],
        json!({ "$ref": "#/components/schemas/Node" }),
        "a recursive type refers to itself"
    );
}

#[test]
fn operations_take_the_servers_view() {
    let document = document();
    let operations = &document["operations"];
    let keys: Vec<&String> = operations.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "Lab.handshake",
            "clientToServer.Lab.limits",
            "clientToServer.Lab.tree",
            "serverToClient.Lab.tick"
        ]
    );
    let limits = &operations["clientToServer.Lab.limits"];
    assert_eq!(limits["action"], "receive");
    assert_eq!(
        limits["reply"]["messages"],
        json!([
            { "$ref": "#/channels/Lab/messages/clientToServer.Lab.limits.reply" },
            { "$ref": "#/channels/Lab/messages/VALIDATION_ERROR" },
            { "$ref": "#/channels/Lab/messages/GONE" },
            { "$ref": "#/channels/Lab/messages/SERVER_ERROR" },
        ])
    );
    assert_eq!(limits["x-grest-permission"], "public");
    assert_eq!(
        limits["security"],
        json!([{ "$ref": "#/components/securitySchemes/token" }])
    );
    assert_eq!(
        operations["clientToServer.Lab.tree"].get("reply"),
        None,
        "fire-and-forget"
    );
    assert_eq!(
        operations["clientToServer.Lab.tree"]["x-grest-permission"],
        json!({ "anyOf": [{ "scope": "a" }, "any"] })
    );
    assert_eq!(operations["serverToClient.Lab.tick"]["action"], "send");
    let handshake = &operations["Lab.handshake"];
    assert_eq!(handshake["x-grest-permission"], json!({ "scope": "lab" }));
    assert_eq!(
        handshake["reply"]["messages"][1],
        json!({ "$ref": "#/channels/Lab/messages/FORBIDDEN" })
    );
    assert_eq!(
        document["components"]["messages"]["GONE"]["payload"]["properties"]["statusCode"],
        json!({ "type": "integer", "const": 410 })
    );
    assert_eq!(
        document["components"]["securitySchemes"]["token"]["scheme"], "bearer",
        "a bearer authorization header"
    );
}

contract! { pub anchor Hub { connect { errors: [ServerError] } } }
const HUB: AnchorSchema<Hub> = AnchorSchema::new("ws/hub");
contract! { pub Alpha extends Hub { client_to_server { a() -> bool; } server_to_client {} } }
contract! { pub Beta extends Hub { client_to_server { b() -> bool; } server_to_client {} } }
const ALPHA_API: WebSocketSchema<Alpha> = HUB.extend();
const BETA_API: WebSocketSchema<Beta> = HUB.extend();

#[test]
fn modules_share_their_anchors_channel() {
    let document = AsyncApi::new(AsyncApiInfo::new("Hub", "1"))
        .schema(ALPHA_API)
        .and_then(|d| d.schema(BETA_API))
        .expect("modules of one anchor")
        .document();
    let channels = document["channels"].as_object().unwrap();
    assert_eq!(channels.keys().collect::<Vec<_>>(), ["Hub"]);
    assert_eq!(channels["Hub"]["address"], "/ws/hub");
    assert!(document["operations"]["clientToServer.Alpha.a"].is_object());
    assert_eq!(
        document["operations"]["clientToServer.Beta.b"]["tags"],
        json!([{ "name": "Beta" }])
    );
    let twice = AsyncApi::new(AsyncApiInfo::new("Hub", "1"))
        .schema(ALPHA_API)
        .and_then(|d| d.schema(ALPHA_API));
    assert!(matches!(twice, Err(AsyncApiError::DuplicateChannel(_))));
}

pub(crate) struct Desktop;
impl RawContract for Desktop {
    const NAME: &'static str = "Desktop";
    const CUSTOM_CLIENT: bool = true;
    const PROTOCOLS: &'static [&'static str] = &["binary"];
    type Query = ();
}
const DESKTOP_TOKEN: Wire = Wire::query("desktop-token", "token");
const DESKTOP_API: RawSchema<Desktop> = RawSchema::new("desktop/*").uses(&[DESKTOP_TOKEN]);

#[test]
fn a_wildcard_raw_path_is_a_parameter() {
    let document = AsyncApi::new(AsyncApiInfo::new("Desktop", "1"))
        .raw(DESKTOP_API)
        .expect("describable")
        .document();
    let channel = &document["channels"]["Desktop"];
    assert_eq!(channel["address"], "/desktop/{path}");
    assert!(channel["parameters"]["path"]["description"].is_string());
    assert_eq!(
        channel["bindings"]["ws"]["query"]["properties"]["token"]["type"], "string",
        "the query wire"
    );
    assert!(channel["bindings"]["ws"]["headers"]["properties"]["sec-websocket-protocol"].is_object());
    assert!(
        document["operations"].get("Desktop.handshake").is_none(),
        "foreign clients do not handshake"
    );
    assert_eq!(document["operations"]["serverToClient.Desktop"]["action"], "send");
    assert_eq!(channel["messages"]["binary"]["contentType"], "application/octet-stream");
}

mod clash {
    use super::*;

    /// Another type named `Limits`.
    #[derive(Debug, Clone, Serialize, Deserialize, Validate)]
    pub(crate) struct Limits {
        pub(crate) other: bool,
    }

    define_error! { pub struct GoneAgain = ("GONE", 404); }

    contract! {
        pub Clash {
            client_to_server { limits(Limits); gone() -> bool, errors: [GoneAgain]; }
            server_to_client {}
        }
    }
    pub(crate) const TYPES: WebSocketSchema<Clash> = WebSocketSchema::new("ws/clash");
    contract! {
        pub Errors {
            client_to_server { gone() -> bool, errors: [GoneAgain]; }
            server_to_client {}
        }
    }
    pub(crate) const ERRORS: WebSocketSchema<Errors> = WebSocketSchema::new("ws/errors");
    pub(crate) const OTHER_TOKEN: Wire = Wire::cookie("token", "token");
    contract! { pub Cookies { client_to_server {} server_to_client {} } }
    pub(crate) const COOKIES: WebSocketSchema<Cookies> = WebSocketSchema::new("ws/cookies").uses(&[OTHER_TOKEN]);
    pub(crate) const LAB_AGAIN: WebSocketSchema<Lab> = WebSocketSchema::new("ws/lab-again");
}

#[test]
fn what_the_document_cannot_tell_apart_is_refused() {
    let lab = || AsyncApi::new(AsyncApiInfo::new("Lab", "1")).schema(LAB_API).unwrap();
    assert_eq!(
        lab().schema(clash::TYPES).unwrap_err(),
        AsyncApiError::NameCollision("Limits".into())
    );
    assert_eq!(
        lab().schema(clash::ERRORS).unwrap_err(),
        AsyncApiError::ErrorCollision("GONE".into())
    );
    assert_eq!(
        lab().schema(clash::COOKIES).unwrap_err(),
        AsyncApiError::WireCollision("token".into())
    );
    assert_eq!(
        lab().schema(LAB_API).unwrap_err(),
        AsyncApiError::DuplicateChannel("/ws/lab".into())
    );
}

#[test]
fn one_contract_at_two_paths_is_two_channels_with_their_own_operations() {
    let document = AsyncApi::new(AsyncApiInfo::new("Lab", "1"))
        .schema(LAB_API)
        .unwrap()
        .schema(clash::LAB_AGAIN)
        .unwrap()
        .document();
    let channels = document["channels"].as_object().unwrap();
    assert_eq!(channels.keys().collect::<Vec<_>>(), ["Lab", "Lab_ws_lab-again"]);
    assert_eq!(channels["Lab_ws_lab-again"]["address"], "/ws/lab-again");
    assert_eq!(
        channels["Lab_ws_lab-again"]["x-grest-contracts"][0]["path"],
        "/ws/lab-again"
    );
    let operations = &document["operations"];
    assert_eq!(
        operations["clientToServer.Lab.limits"]["channel"]["$ref"],
        "#/channels/Lab"
    );
    assert_eq!(
        operations["Lab_ws_lab-again.clientToServer.Lab.limits"]["channel"]["$ref"],
        "#/channels/Lab_ws_lab-again"
    );
}
