//! Validation of enums, tuples, flattened structs, patterns and formats end to end: a typed server rejects bad
//! input with grest's issues over a real socket, and the TypeScript client's validator agrees with the Rust walk
//! case by case (the committed table in `clients/typescript/test/shared/`, which its unit tests replay).

use std::path::Path;

use grest_ws::protocol::validate::{Issues, Rules, Shape, ShapeReader, check_value, definitions, describe};
use grest_ws::server::{Connected, GrestWs};
use grest_ws::typegen::Typegen;
use grest_ws::{Contract, Validate, ValidationError, WebSocketSchema, contract};
use grest_ws_test::TestServer;
use grest_ws_tests::{RawWs, frame_data};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Internally tagged.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Figure {
    /// A circle.
    Circle {
        /// Not negative.
        #[validate(min = 0)]
        radius: f64,
    },
    /// A square, its fields beside the tag.
    Square(Side),
    /// Nothing.
    Empty,
}

/// A square's side.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Side {
    /// 1 to 10.
    #[validate(range(min = 1, max = 10))]
    pub side: u32,
}

/// Externally tagged.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "snake_case")]
pub enum Command {
    /// A unit variant: a string.
    Stop,
    /// A newtype variant with a constraint.
    Say(#[validate(non_empty)] String),
    /// A struct variant.
    MoveTo {
        /// x.
        x: i64,
        /// y.
        y: i64,
    },
    /// A tuple variant.
    Point(i64, #[validate(multiple_of = 2)] i64),
}

/// Adjacently tagged.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(tag = "t", content = "c")]
pub enum Envelope {
    /// No content.
    Ping,
    /// Short text.
    Text(#[validate(max_length = 3)] String),
    /// A pair.
    Pair(String, u8),
}

/// Untagged.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(untagged)]
pub enum Loose {
    /// A number.
    Count(u32),
    /// An object.
    Label {
        /// Not empty.
        #[validate(non_empty)]
        label: String,
    },
    /// `null`.
    Nothing,
}

/// A tuple struct.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Span(#[validate(min = 0)] pub i64, pub i64);

/// Flattened into [`Search`].
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Page {
    /// From 1.
    #[validate(min = 1)]
    pub page: u64,
}

/// A pattern, a flattened struct, a tuple struct and a tuple.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
pub struct Search {
    /// Lower-case letters.
    #[validate(pattern = "^[a-z]+$")]
    pub query: String,
    /// Its fields are this object's.
    #[serde(flatten)]
    pub page: Page,
    /// Optional.
    pub span: Option<Span>,
    /// Optional.
    pub pair: Option<(String, bool)>,
}

/// Every format, each optional.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
pub struct Formats {
    #[validate(email)]
    email: Option<String>,
    #[validate(url)]
    url: Option<String>,
    #[validate(uuid)]
    uuid: Option<String>,
    #[validate(date)]
    date: Option<String>,
    #[validate(date_time)]
    date_time: Option<String>,
    #[validate(ip)]
    ip: Option<String>,
    #[validate(ipv4)]
    ipv4: Option<String>,
    #[validate(ipv6)]
    ipv6: Option<String>,
}

contract! {
    /// One method per kind of shape.
    pub Shapes {
        client_to_server {
            figure(Figure) -> bool, errors: [ValidationError];
            command(Command) -> bool, errors: [ValidationError];
            envelope(Envelope) -> bool, errors: [ValidationError];
            loose(Loose) -> bool, errors: [ValidationError];
            search(Search) -> bool, errors: [ValidationError];
            formats(Formats) -> bool, errors: [ValidationError];
        }
    }
}

const SHAPES_API: WebSocketSchema<Shapes> = WebSocketSchema::new("ws/shapes");

struct Accept;

impl shapes::Server for Accept {
    async fn figure(&self, _: Figure) -> grest_ws::HandlerResult<bool, shapes::FigureError> {
        Ok(true)
    }
    async fn command(&self, _: Command) -> grest_ws::HandlerResult<bool, shapes::CommandError> {
        Ok(true)
    }
    async fn envelope(&self, _: Envelope) -> grest_ws::HandlerResult<bool, shapes::EnvelopeError> {
        Ok(true)
    }
    async fn loose(&self, _: Loose) -> grest_ws::HandlerResult<bool, shapes::LooseError> {
        Ok(true)
    }
    async fn search(&self, _: Search) -> grest_ws::HandlerResult<bool, shapes::SearchError> {
        Ok(true)
    }
    async fn formats(&self, _: Formats) -> grest_ws::HandlerResult<bool, shapes::FormatsError> {
        Ok(true)
    }
}

#[tokio::test]
async fn a_typed_server_rejects_bad_unions_patterns_and_formats_with_every_issue() {
    let router = GrestWs::new()
        .ws(SHAPES_API, |_: Connected<Shapes>| async { Accept })
        .build()
        .unwrap();
    let server = TestServer::start(router).await;
    let mut ws = RawWs::handshaken(&format!("ws://{}/ws/shapes", server.addr())).await;
    let mut call = async |id: u32, method: &str, input: Value| {
        ws.send(&format!("r:Shapes.{method}:{id}:{input}")).await;
        frame_data(&ws.recv_text().await)
    };
    let rejected = |reply: Value| {
        assert_eq!(
            (&reply["type"], &reply["statusCode"]),
            (&json!("VALIDATION_ERROR"), &json!(422))
        );
        reply["data"].clone()
    };

    let ok = call(1, "figure", json!({"type": "square", "side": "3"})).await;
    assert_eq!(ok, json!({"success": true, "type": "OK", "data": true}));
    assert_eq!(
        rejected(call(2, "figure", json!({"type": "hexagon"})).await),
        json!([{"path": "type", "code": "invalid.dunion.unknownVariant",
                "message": "Unknown variant; expected one of: circle, square, empty",
                "params": {"expected": "circle, square, empty"}, "value": "hexagon"}])
    );
    assert_eq!(
        rejected(call(3, "figure", json!({"type": "circle", "radius": -1})).await),
        json!([{"path": "radius", "code": "invalid.number.min", "message": "Value must be at least 0",
                "params": {"min": 0}, "value": -1}])
    );
    assert_eq!(
        rejected(call(4, "search", json!({"query": "Hello", "page": 0, "span": [1]})).await),
        json!([
            {"path": "query", "code": "invalid.string.pattern", "message": "Value must match the pattern ^[a-z]+$",
             "params": {"pattern": "^[a-z]+$"}, "value": "Hello"},
            {"path": "page", "code": "invalid.number.min", "message": "Value must be at least 1", "params": {"min": 1},
             "value": 0},
            {"path": "span", "code": "invalid.tuple.length", "message": "Array must have exactly 2 items",
             "params": {"length": 2}, "value": [1]},
        ])
    );
    assert_eq!(
        rejected(
            call(
                5,
                "formats",
                json!({"email": "a@b", "dateTime": "2024-01-01T00:00:00Z"})
            )
            .await
        ),
        json!([{"path": "email", "code": "invalid.string.email", "message": "Value must be a valid email address",
                "value": "a@b"}])
    );
    assert_eq!(
        rejected(call(6, "loose", json!({"label": ""})).await),
        json!([{"path": "", "code": "invalid.union.invalid", "message": "Value does not match any allowed variant",
                "value": {"label": ""}}])
    );
}

/// Inputs replayed by the TypeScript client's unit tests: (method, input).
fn cases() -> Vec<(&'static str, Value)> {
    let mut cases = vec![
        ("figure", json!({"type": "circle", "radius": "2.5"})),
        ("figure", json!({"type": "square", "side": 11})),
        ("figure", json!({"type": "empty", "extra": 1})),
        ("figure", json!({"type": "hexagon"})),
        ("figure", json!({"type": 7})),
        ("figure", json!({"type": null})),
        ("figure", json!({"radius": 1})),
        ("figure", json!(["circle"])),
        ("figure", json!({"type": "circle"})),
        ("command", json!("stop")),
        ("command", json!({"stop": null})),
        ("command", json!({"say": 5})),
        ("command", json!({"say": ""})),
        ("command", json!({"move_to": {"x": "1", "y": 2}})),
        ("command", json!({"point": [1, 3]})),
        ("command", json!({"point": [1]})),
        ("command", json!({"point": "1,2"})),
        ("command", json!("say")),
        ("command", json!("jump")),
        ("command", json!({"jump": 1})),
        ("command", json!({})),
        ("command", json!({"stop": null, "say": "x"})),
        ("command", json!(5)),
        ("envelope", json!({"t": "Ping"})),
        ("envelope", json!({"t": "Text", "c": "abcd"})),
        ("envelope", json!({"t": "Text"})),
        ("envelope", json!({"t": "Pair", "c": ["a", "7"]})),
        ("envelope", json!({"t": "Pair", "c": ["a", 300, 1]})),
        ("envelope", json!({"c": "x"})),
        ("envelope", json!("Ping")),
        ("loose", json!(5)),
        ("loose", json!("5")),
        ("loose", json!({"label": "a"})),
        ("loose", json!({"label": ""})),
        ("loose", json!(null)),
        ("loose", json!([1])),
        (
            "search",
            json!({"query": "abc", "page": "2", "span": [0, "9"], "pair": ["x", "true"]}),
        ),
        ("search", json!({"query": "ABC", "page": 0})),
        ("search", json!({"query": "abc"})),
        (
            "search",
            json!({"query": "abc", "page": 1, "span": [-1, 0], "pair": ["x"]}),
        ),
        ("search", json!({"query": "abc", "page": 1, "span": {}, "pair": 5})),
    ];
    let formats: [(&str, &[&str]); 8] = [
        (
            "email",
            &[
                "a@b.co",
                "first.last+tag@sub.example.org",
                "a@b",
                "a..b@example.com",
                "é@example.com",
                "a@-x.com",
            ],
        ),
        (
            "url",
            &[
                "https://example.com/a?b#c",
                "http://[::1]:80/",
                "example.com",
                "http://host:65536",
                "http://a b",
                "http://x\u{85}y",
            ],
        ),
        (
            "uuid",
            &[
                "123e4567-e89b-12d3-a456-426614174000",
                "123e4567e89b12d3a456426614174000",
                "g23e4567-e89b-12d3-a456-426614174000",
            ],
        ),
        (
            "date",
            &["2024-02-29", "2023-02-29", "2024-13-01", "2024-1-01", "0000-01-01"],
        ),
        (
            "dateTime",
            &[
                "2024-02-29T23:59:60Z",
                "2024-01-01t00:00:00.5+05:30",
                "2024-01-01T24:00:00Z",
                "2024-01-01T12:00:00",
                "2024-01-01T1é:00:0Z",
            ],
        ),
        ("ip", &["127.0.0.1", "::1", "256.1.1.1", "1::2::3"]),
        ("ipv4", &["0.0.0.0", "01.2.3.4", "1.2.3", "::1"]),
        (
            "ipv6",
            &[
                "::",
                "1:2:3:4:5:6:7:8",
                "::ffff:192.0.2.1",
                "1:2:3:4:5:6:1.2.3.4",
                "1:2:3:4:5:6:7::",
                "::1.2.3.4",
                "1:2:3:4:5:6::1.2.3.4",
                "12345::",
                "1:2:3:4:5:6:7:8:9",
                ":1::",
                "1:::2",
                "fe80::1%eth0",
                "1.2.3.4",
                "::01.2.3.4",
                "FFFF::",
                "0000:0000::",
            ],
        ),
    ];
    for (field, values) in formats {
        cases.extend(values.iter().map(|value| ("formats", json!({ field: value }))));
    }
    cases
}

/// The input shape of a method of `Shapes`.
fn input_shape(method: &str) -> Shape {
    let meta = Shapes::META
        .methods
        .iter()
        .find(|m| m.name == method)
        .expect("a method of Shapes");
    meta.input.expect("every method has an input")()
}

/// What the walk makes of an input: the coerced value and the issues.
fn walk(shape: &Shape, input: &Value) -> (Value, Issues) {
    let mut value = input.clone();
    let mut issues = Issues::new();
    check_value(
        Some(&mut value),
        shape,
        &Rules::NONE,
        &mut Default::default(),
        &mut issues,
    );
    (value, issues)
}

/// The committed table: for each case, the coerced value and the issues of the Rust walk.
fn table() -> Value {
    let rows: Vec<Value> = cases()
        .into_iter()
        .map(|(method, input)| {
            let (value, issues) = walk(&input_shape(method), &input);
            json!({"method": method, "input": input, "value": value, "issues": issues})
        })
        .collect();
    json!({
        "about": "Generated by `GREST_WS_WRITE_CASES=1 cargo test -p grest-ws-tests --test validation`: what the \
                  Rust walk makes of each input of the `Shapes` contract (shapes-contract.js).",
        "cases": rows,
    })
}

#[test]
fn the_typescript_client_s_case_table_is_what_the_rust_walk_says() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/typescript/test/shared");
    let typegen = Typegen::new().schema(SHAPES_API).unwrap();
    let table = serde_json::to_string_pretty(&table()).unwrap() + "\n";
    let table_path = dir.join("validation-cases.json");
    if std::env::var_os("GREST_WS_WRITE_CASES").is_some() {
        typegen.write_to(&dir).unwrap();
        std::fs::write(&table_path, &table).unwrap();
    }
    let stale = typegen.stale_files(&dir).unwrap();
    let hint = "run `GREST_WS_WRITE_CASES=1 cargo test -p grest-ws-tests --test validation` and commit the result";
    assert!(stale.is_empty(), "{stale:?} stale: {hint}");
    assert_eq!(
        std::fs::read_to_string(&table_path).ok(),
        Some(table),
        "{table_path:?} stale: {hint}"
    );
}

/// What a tool that only has a served document (the `grest-ws` command line) checks: each input shape written as a
/// descriptor with its definitions, read back, and walked over every case of the table to the same value and the
/// same issues as the type's own shape.
#[test]
fn a_shape_read_back_from_its_descriptor_walks_every_case_like_the_type_s_own() {
    let shapes: Vec<Shape> = Shapes::META
        .methods
        .iter()
        .filter_map(|m| m.input)
        .map(|f| f())
        .collect();
    let reader = ShapeReader::new(&definitions(shapes).unwrap()).unwrap();
    let cases = cases();
    assert!(cases.len() > 50, "the table covers every kind: {}", cases.len());
    for (method, input) in cases {
        let shape = input_shape(method);
        let read = reader.read(&describe(&shape)).unwrap();
        assert_eq!(walk(&read, &input), walk(&shape, &input), "{method} {input}");
    }
}
