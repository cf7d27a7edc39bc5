//! The AsyncAPI document: the committed documents of the chat example and of a contract using every feature are
//! current, a real server serves the same text, a server without the option does not, and the document says what
//! the contracts declare. (`tests/asyncapi/` also parses the committed documents with the AsyncAPI parser.)
//!
//! Regenerate the committed documents with `GREST_WS_WRITE_ASYNCAPI=1 cargo test -p grest-ws-tests --test asyncapi`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use grest_ws::asyncapi::{AsyncApi, AsyncApiError, AsyncApiInfo};
use grest_ws::protocol::validate::{Field, Shape, ShapeFn};
use grest_ws::server::{BuildError, Connected, GrestWs, Inbound, Middleware, RawConnected, WireHandler};
use grest_ws::{
    AnchorSchema, ErrorEnvelope, Forbidden, NotAuthorized, Permission, RawContract, RawSchema, ServerError, Validate,
    ValidationError, WebSocketSchema, Wire, contract, define_error,
};
use grest_ws_test::TestServer;
use grest_ws_tests::http_get_with_head;
use http::Extensions;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Every string format and constraint, every number kind and bound, and every other kind of shape.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// A non-empty name of 2 to 32 characters.
    #[validate(non_empty, min_length = 2, max_length = 32)]
    pub name: String,
    /// A slug matching a pattern.
    #[validate(pattern = "^[a-z0-9-]{3,32}$")]
    pub slug: String,
    /// An email address.
    #[validate(email)]
    pub email: String,
    /// An optional URL.
    #[validate(url)]
    pub homepage: Option<String>,
    /// A UUID.
    #[validate(uuid)]
    pub id: String,
    /// An optional date.
    #[validate(date)]
    pub born: Option<String>,
    /// A date-time.
    #[validate(date_time)]
    pub seen_at: String,
    /// An IPv4 or IPv6 address.
    #[validate(ip)]
    pub address: String,
    /// An IPv4 address.
    #[validate(ipv4)]
    pub v4: String,
    /// An IPv6 address.
    #[validate(ipv6)]
    pub v6: String,
    /// A bounded integer.
    #[validate(min = 1, max = 10)]
    pub level: u8,
    /// A number in a range.
    #[validate(range(min = 0.5, max = 99.5))]
    pub score: f64,
    /// A multiple of a quarter.
    #[validate(multiple_of = 0.25)]
    pub step: f32,
    /// A wide integer with a lower bound.
    #[validate(min = -3)]
    pub delta: i64,
    /// One to five tags.
    #[validate(min_length = 1, max_length = 5)]
    pub tags: Vec<String>,
    /// Defaults when missing.
    #[serde(default)]
    pub verified: bool,
    /// Anything.
    pub extra: Value,
    /// Only `null`.
    pub nothing: (),
    /// A string literal.
    pub color: Color,
    /// A record.
    pub scores: BTreeMap<String, u16>,
    /// A tuple.
    pub pair: (String, u32),
    /// A tuple struct.
    pub at: Point,
    /// Flattened.
    #[serde(flatten)]
    pub audit: Audit,
}

/// A unit-only enum: a string literal.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "kebab-case")]
pub enum Color {
    /// Red.
    Red,
    /// Dark green.
    DarkGreen,
}

/// A tuple struct with a constrained element.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Point(#[validate(min = 0)] pub i32, pub i32);

/// Flattened into [`Profile`].
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct Audit {
    /// Who made it.
    pub created_by: String,
    /// Its revision.
    pub revision: u32,
}

/// Externally tagged (serde's default).
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub enum Command {
    /// A unit variant.
    Stop,
    /// A newtype variant with a constraint.
    Say(#[validate(non_empty)] String),
    /// A struct variant.
    Move {
        /// Across.
        x: i32,
        /// Down.
        y: i32,
    },
}

/// Internally tagged, with a struct variant, a newtype variant of a struct, and a unit variant.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Figure {
    /// A struct variant.
    Circle {
        /// Not negative.
        #[validate(min = 0)]
        radius: f64,
    },
    /// A newtype variant of a struct.
    Square(Side),
    /// A unit variant.
    Empty,
}

/// The content of [`Figure::Square`].
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Side {
    /// The side's length.
    pub length: f64,
}

/// Adjacently tagged, with a unit, a newtype and a tuple variant.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(tag = "t", content = "c")]
pub enum Event {
    /// A unit variant.
    Ping,
    /// A newtype variant.
    Text(String),
    /// A tuple variant.
    Pos(i32, i32),
}

/// Untagged: the first variant that fits.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(untagged)]
pub enum Loose {
    /// A number.
    Number(f64),
    /// A newtype variant.
    Text(String),
    /// `null`.
    Nothing,
}

/// A recursive type (its `Validate` is written by hand: the derive's `DEEP` would depend on itself).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tree {
    /// The node's label.
    pub label: String,
    /// Its children.
    pub children: Vec<Tree>,
}

impl Validate for Tree {
    fn shape() -> Shape {
        fn object() -> Shape {
            fn children() -> Shape {
                Shape::Array(ShapeFn::new(Tree::shape))
            }
            static FIELDS: [Field; 2] = [Field::new("label", String::shape), Field::new("children", children)];
            Shape::Object(&FIELDS)
        }
        Shape::Named("Tree", ShapeFn::new(object))
    }
}

/// The studio's handshake query.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct StudioQuery {
    /// The project, not empty.
    #[validate(non_empty)]
    pub project: String,
    /// An optional version.
    pub version: Option<u32>,
}

/// A raw stream's query.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct TailQuery {
    /// How many lines, 1 to 1000.
    #[validate(min = 1, max = 1000)]
    pub lines: u32,
}

define_error! {
    /// A user-defined error.
    pub struct Locked = ("LOCKED", 423);
}

contract! {
    /// The shared connection of the studio's modules.
    pub anchor Studio {
        connect {
            input: StudioQuery,
            errors: [NotAuthorized, Forbidden, ServerError],
            permission: Permission::Any
        }
    }
}

/// A bearer token in the `h` frame: the permission-resolving wire.
pub const USER_TOKEN: Wire = Wire::header("user-token", "authorization").bearer();
/// A plain header in the `h` frame.
pub const AGENT: Wire = Wire::header("agent", "x-agent");
/// A session cookie.
pub const SESSION: Wire = Wire::cookie("session", "session");
/// An API key in the query.
pub const API_KEY: Wire = Wire::query("api-key", "key");
/// An ambient cookie.
pub const THEME: Wire = Wire::cookie("theme", "theme").ambient();
/// A middleware slot.
pub const LOCALE: Wire = Wire::middleware("locale");

/// The studio's socket.
pub const STUDIO: AnchorSchema<Studio> =
    AnchorSchema::new("ws/studio").uses(&[LOCALE, USER_TOKEN, AGENT, SESSION, API_KEY, THEME]);

contract! {
    /// Every shape, in both directions.
    pub Editor extends Studio {
        client_to_server {
            save(Profile) -> Profile, errors: [ValidationError, Locked, Forbidden, ServerError],
                permission: Permission::Scope("editor:write");
            run(Command) -> Figure, errors: [ValidationError, Forbidden, ServerError],
                permission: Permission::AllOf(&[Permission::Scope("editor:run"), Permission::Scope("admin")]);
            send(Event), permission: Permission::AnyOf(&[Permission::Scope("editor:write"), Permission::Any]);
            probe(Loose) -> Option<Tree>, errors: [Forbidden, ServerError], permission: Permission::Public;
        }
        server_to_client {
            changed(Tree);
            confirm(String) -> bool, errors: [ServerError];
        }
    }
}

contract! {
    /// A second module on the same socket.
    pub Presence extends Studio {
        client_to_server {
            here(), permission: Permission::Public;
            who() -> Vec<String>, errors: [Forbidden, ServerError], permission: Permission::Scope("presence");
        }
        server_to_client {
            joined(String);
        }
    }
}

/// The editor module's schema.
pub const EDITOR_API: WebSocketSchema<Editor> = STUDIO.extend();
/// The presence module's schema.
pub const PRESENCE_API: WebSocketSchema<Presence> = STUDIO.extend();

/// A log tail between grest peers.
pub struct Tail;
impl RawContract for Tail {
    const NAME: &'static str = "Tail";
    const PERMISSION: Option<Permission> = Some(Permission::Scope("logs"));
    type Query = TailQuery;
}
/// The tail's schema.
pub const TAIL_API: RawSchema<Tail> = RawSchema::new("ws/tail").uses(&[USER_TOKEN]);

/// A foreign client anywhere under `/desktop`.
pub struct Desktop;
impl RawContract for Desktop {
    const NAME: &'static str = "Desktop";
    const CUSTOM_CLIENT: bool = true;
    const PROTOCOLS: &'static [&'static str] = &["binary", "base64"];
    const PERMISSION: Option<Permission> = Some(Permission::Public);
    type Query = ();
}
/// The desktop's schema.
pub const DESKTOP_API: RawSchema<Desktop> = RawSchema::new("desktop/*").uses(&[API_KEY, THEME]);

/// Accepts every credential, granting every scope the contracts name.
struct Accept;
impl WireHandler for Accept {
    type Principal = String;
    const RESOLVES_PERMISSIONS: bool = true;

    async fn process(&self, credential: Option<&str>) -> Result<String, ErrorEnvelope> {
        Ok(credential.unwrap_or_default().to_owned())
    }

    async fn permissions(&self, _: &String) -> Vec<String> {
        ["editor:write", "editor:run", "admin", "presence", "logs"]
            .map(str::to_owned)
            .to_vec()
    }
}

/// Reads nothing, stores nothing.
struct Locales;
impl Middleware for Locales {
    type Parsed = ();

    fn parse(&self, _: &Inbound) -> Result<(), ErrorEnvelope> {
        Ok(())
    }

    async fn process(&self, _: (), _: &mut Extensions) -> Result<(), ErrorEnvelope> {
        Ok(())
    }
}

struct EditorSession;
impl editor::Server for EditorSession {
    async fn save(&self, profile: Profile) -> grest_ws::HandlerResult<Profile, editor::SaveError> {
        Ok(profile)
    }
    async fn run(&self, _: Command) -> grest_ws::HandlerResult<Figure, editor::RunError> {
        Ok(Figure::Empty)
    }
    async fn send(&self, _: Event) {}
    async fn probe(&self, _: Loose) -> grest_ws::HandlerResult<Option<Tree>, editor::ProbeError> {
        Ok(None)
    }
}

struct PresenceSession;
impl presence::Server for PresenceSession {
    async fn here(&self) {}
    async fn who(&self) -> grest_ws::HandlerResult<Vec<String>, presence::WhoError> {
        Ok(Vec::new())
    }
}

/// Where the servers here serve the document.
const PATH: &str = "/asyncapi.json";

/// The committed documents' folder.
fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("asyncapi")
}

/// The base of the everything document.
fn studio_info() -> AsyncApi {
    AsyncApi::new(
        AsyncApiInfo::new("grest-ws studio", "1.0.0")
            .description("A test application that uses every feature the AsyncAPI document describes."),
    )
    .server("local", "127.0.0.1:3000", "ws")
}

/// The everything server's registrations; `document` turns the AsyncAPI document on.
fn studio(document: bool) -> GrestWs {
    let server = GrestWs::new();
    let server = if document {
        server.asyncapi(PATH, studio_info())
    } else {
        server
    };
    server
        .bind(USER_TOKEN, Accept)
        .bind(AGENT, Accept)
        .bind(SESSION, Accept)
        .bind(API_KEY, Accept)
        .bind_middleware(LOCALE, Locales)
        .ws(EDITOR_API, |_: Connected<Editor>| async { EditorSession })
        .ws(PRESENCE_API, |_: Connected<Presence>| async { PresenceSession })
        .raw(TAIL_API, |_: RawConnected<Tail>| async {})
        .raw(DESKTOP_API, |_: RawConnected<Desktop>| async {})
}

/// The everything document, generated without a server.
fn everything() -> String {
    studio_info()
        .schema(EDITOR_API)
        .and_then(|d| d.schema(PRESENCE_API))
        .and_then(|d| d.raw(TAIL_API))
        .and_then(|d| d.raw(DESKTOP_API))
        .expect("describable")
        .to_json()
}

/// The chat example's document, generated without a server.
fn chat() -> String {
    chat::asyncapi().schema(chat::CHAT_API).expect("describable").to_json()
}

/// `(file name, generated text)` of every committed document.
fn documents() -> [(&'static str, String); 2] {
    [("chat.json", chat()), ("everything.json", everything())]
}

#[test]
fn the_committed_documents_are_current() {
    let write = std::env::var_os("GREST_WS_WRITE_ASYNCAPI").is_some();
    let mut stale = Vec::new();
    for (name, text) in documents() {
        let path = committed().join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            if write {
                std::fs::write(&path, &text).expect("write the document");
            } else {
                stale.push(path);
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} stale: run `GREST_WS_WRITE_ASYNCAPI=1 cargo test -p grest-ws-tests --test asyncapi` and commit \
         the result"
    );
}

/// `GET /asyncapi.json` of a router on a real loopback socket: status, whether the content type is JSON, body.
async fn fetch(router: axum::Router) -> (u16, bool, String) {
    let server = TestServer::start(router).await;
    let (status, head, body) = http_get_with_head(server.addr(), PATH, &[]).await;
    let json = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("content-type: application/json"));
    (status, json, body)
}

#[tokio::test]
async fn servers_serve_their_document_only_when_asked() {
    let router = studio(true).build().expect("valid registration");
    assert_eq!(fetch(router).await, (200, true, everything()));
    let chat_router = chat::app().expect("the chat builds").router;
    assert_eq!(fetch(chat_router).await, (200, true, chat()));
    let router = studio(false).build().expect("valid registration");
    assert_eq!(fetch(router).await.0, 404, "off by default");
}

/// A contract whose payload type is another `Tree`.
mod clash {
    use super::*;

    /// Another type named `Tree`.
    #[derive(Debug, Clone, Serialize, Deserialize, Validate)]
    pub(super) struct Tree {
        /// Whether it is a leaf.
        pub(super) leaf: bool,
    }

    contract! {
        pub Forest {
            client_to_server { plant(Tree), permission: Permission::Public; }
            server_to_client {}
        }
    }
    pub(super) const FOREST_API: WebSocketSchema<Forest> = WebSocketSchema::new("ws/forest");

    pub(super) struct Planter;
    impl forest::Server for Planter {
        async fn plant(&self, _: Tree) {}
    }
}

/// A refused build's problems.
fn refused(result: Result<axum::Router, BuildError>) -> Vec<String> {
    match result {
        Err(BuildError::Refused(problems)) => problems,
        other => panic!("expected a refusal, got {:?}", other.map(|_| "a router")),
    }
}

#[test]
fn a_document_that_cannot_be_served_refuses_to_build() {
    let problems = refused(studio(false).asyncapi("ws/studio", studio_info()).build());
    assert!(
        problems.iter().any(|p| p.contains("\"/ws/studio\" is an endpoint's")),
        "{problems:?}"
    );
    let planted = studio(true).ws(clash::FOREST_API, |_: Connected<clash::Forest>| async {
        clash::Planter
    });
    let problems = refused(planted.build());
    let expected = format!(
        "the AsyncAPI document cannot describe the endpoints: {}",
        AsyncApiError::NameCollision("Tree".into())
    );
    assert!(problems.contains(&expected), "{problems:?}");
}

/// What the everything document says.
fn document() -> Value {
    serde_json::from_str(&everything()).expect("JSON")
}

#[test]
fn every_module_of_the_socket_and_every_raw_stream_is_a_channel() {
    let document = document();
    let channels = document["channels"].as_object().expect("channels");
    assert_eq!(channels.keys().collect::<Vec<_>>(), ["Studio", "Tail", "Desktop"]);
    assert_eq!(channels["Studio"]["address"], "/ws/studio");
    assert_eq!(channels["Desktop"]["address"], "/desktop/{path}");
    let operations: Vec<&String> = document["operations"].as_object().expect("operations").keys().collect();
    assert_eq!(
        operations,
        [
            "Studio.handshake",
            "clientToServer.Editor.save",
            "clientToServer.Editor.run",
            "clientToServer.Editor.send",
            "clientToServer.Editor.probe",
            "serverToClient.Editor.changed",
            "serverToClient.Editor.confirm",
            "clientToServer.Presence.here",
            "clientToServer.Presence.who",
            "serverToClient.Presence.joined",
            "Tail.handshake",
            "clientToServer.Tail",
            "serverToClient.Tail",
            "clientToServer.Desktop",
            "serverToClient.Desktop",
        ]
    );
    assert_eq!(
        channels["Tail"]["messages"]["binary"]["contentType"],
        "application/octet-stream"
    );
}

#[test]
fn constraints_and_formats_are_in_the_schemas() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let profile = &schemas["Profile"]["allOf"][0];
    let property = |name: &str| &profile["properties"][name];
    assert_eq!(
        property("name"),
        &json!({ "type": "string", "minLength": 2, "maxLength": 32 })
    );
    assert_eq!(property("slug")["pattern"], "^[a-z0-9-]{3,32}$");
    for (name, format) in [
        ("email", "email"),
        ("id", "uuid"),
        ("seenAt", "date-time"),
        ("v4", "ipv4"),
        ("v6", "ipv6"),
    ] {
        assert_eq!(property(name)["format"], format, "{name}");
    }
    assert_eq!(
        property("homepage"),
        &json!({ "type": ["string", "null"], "format": "uri" })
    );
    assert_eq!(property("born")["format"], "date");
    assert_eq!(
        property("level"),
        &json!({ "type": "integer", "minimum": 1, "maximum": 10 })
    );
    assert_eq!(
        property("score"),
        &json!({ "type": "number", "minimum": 0.5, "maximum": 99.5 })
    );
    assert_eq!(property("step")["multipleOf"], 0.25);
    assert_eq!(property("delta"), &json!({ "type": "integer", "minimum": -3 }));
    assert_eq!(property("tags")["minItems"], 1);
    assert_eq!(property("tags")["maxItems"], 5);
    assert_eq!(
        property("pair")["items"],
        json!([{ "type": "string" }, { "type": "integer", "minimum": 0, "maximum": 4294967295u32 }])
    );
    assert_eq!(
        profile["required"].as_array().map(|r| r.contains(&json!("verified"))),
        Some(false),
        "a default"
    );
    assert_eq!(
        schemas["Profile"]["allOf"][1],
        json!({ "$ref": "#/components/schemas/Audit" }),
        "flattened"
    );
    assert_eq!(
        schemas["Color"],
        json!({ "type": "string", "enum": ["red", "dark-green"] })
    );
    assert_eq!(schemas["Point"]["items"][0]["minimum"], 0);
    assert_eq!(
        schemas["Tree"]["properties"]["children"]["items"],
        json!({ "$ref": "#/components/schemas/Tree" })
    );
}

#[test]
fn unions_follow_serdes_representations() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    assert_eq!(
        schemas["Command"]["oneOf"][0],
        json!({ "type": "string", "const": "stop" })
    );
    assert_eq!(schemas["Command"]["oneOf"][1]["properties"]["say"]["minLength"], 1);
    assert_eq!(
        schemas["Figure"]["oneOf"][1],
        json!({ "allOf": [
            { "type": "object", "properties": { "type": { "type": "string", "const": "square" } }, "required": ["type"] },
            { "$ref": "#/components/schemas/Side" },
        ] })
    );
    assert_eq!(schemas["Figure"]["oneOf"][0]["required"], json!(["type", "radius"]));
    assert_eq!(schemas["Event"]["oneOf"][2]["required"], json!(["t", "c"]));
    assert_eq!(schemas["Event"]["oneOf"][2]["properties"]["c"]["minItems"], 2);
    assert_eq!(schemas["Loose"]["anyOf"][2], json!({ "type": "null" }));
}

#[test]
fn requests_have_replies_with_their_declared_errors() {
    let document = document();
    let save = &document["operations"]["clientToServer.Editor.save"];
    assert_eq!(save["action"], "receive");
    let replies: Vec<&str> = save["reply"]["messages"]
        .as_array()
        .expect("a reply")
        .iter()
        .filter_map(|r| r["$ref"].as_str())
        .collect();
    assert_eq!(
        replies,
        [
            "#/channels/Studio/messages/clientToServer.Editor.save.reply",
            "#/channels/Studio/messages/VALIDATION_ERROR",
            "#/channels/Studio/messages/LOCKED",
            "#/channels/Studio/messages/FORBIDDEN",
            "#/channels/Studio/messages/SERVER_ERROR",
        ]
    );
    let locked = &document["components"]["messages"]["LOCKED"]["payload"]["properties"];
    assert_eq!(
        (&locked["type"]["const"], &locked["statusCode"]["const"]),
        (&json!("LOCKED"), &json!(423))
    );
    assert!(
        document["operations"]["clientToServer.Editor.send"]
            .get("reply")
            .is_none(),
        "fire-and-forget"
    );
    let confirm = &document["operations"]["serverToClient.Editor.confirm"];
    assert_eq!(confirm["action"], "send");
    assert_eq!(confirm["reply"]["messages"].as_array().map(Vec::len), Some(2));
    let handshake = &document["operations"]["Studio.handshake"];
    assert_eq!(
        handshake["reply"]["messages"].as_array().map(Vec::len),
        Some(4),
        "k and three connect errors"
    );
}

#[test]
fn wires_are_security_schemes_and_permissions_are_extensions() {
    let document = document();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(
        schemes
            .as_object()
            .map(|s| s.keys().map(String::as_str).collect::<Vec<_>>()),
        Some(vec!["agent", "api-key", "session", "user-token"]),
        "credential wires only: not the ambient theme, not the middleware slot"
    );
    assert_eq!(schemes["user-token"]["type"], "http");
    assert_eq!(schemes["user-token"]["scheme"], "bearer");
    assert_eq!(
        (&schemes["agent"]["in"], &schemes["agent"]["name"]),
        (&json!("header"), &json!("x-agent"))
    );
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(
        (&schemes["api-key"]["in"], &schemes["api-key"]["name"]),
        (&json!("query"), &json!("key"))
    );
    let operations = &document["operations"];
    assert_eq!(
        operations["clientToServer.Presence.who"]["security"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    assert_eq!(
        operations["clientToServer.Editor.save"]["x-grest-permission"],
        json!({ "scope": "editor:write" })
    );
    assert_eq!(
        operations["clientToServer.Editor.run"]["x-grest-permission"],
        json!({ "allOf": [{ "scope": "editor:run" }, { "scope": "admin" }] })
    );
    assert_eq!(operations["Studio.handshake"]["x-grest-permission"], "any");
    assert_eq!(
        operations["Tail.handshake"]["x-grest-permission"],
        json!({ "scope": "logs" })
    );
    let studio = &document["channels"]["Studio"];
    let query = &studio["bindings"]["ws"]["query"];
    assert_eq!(query["properties"]["project"]["minLength"], 1);
    assert_eq!(query["properties"]["key"]["type"], "string", "the query wire");
    assert!(
        studio["bindings"]["ws"]["headers"]["properties"]["cookie"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("`theme`") && d.contains("`session`"))
    );
    let handshake = &studio["messages"]["handshake"]["payload"]["properties"];
    assert_eq!(handshake["authorization"]["pattern"], "^Bearer ");
    assert!(handshake["x-agent"].is_object());
}
