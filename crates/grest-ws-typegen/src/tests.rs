//! Tests with hand-written shapes and metadata, exactly as `#[derive(Validate)]` and `contract!` generate them
//! (those macros expand to paths of the umbrella crate, which this crate cannot depend on).

use grest_ws_core::contract::{ConnectMeta, ContractMeta, Direction, ErrorMeta, MethodMeta};
use grest_ws_core::validate::{Field, Issues, Rules, Shape, ShapeFn, Validate};
use grest_ws_core::{Contract, ServerError, ValidationError, WebSocketSchema};
use serde_json::{Value, json};

use super::{GeneratedFile, Typegen, TypegenError, commonjs, javascript, kebab_case, typescript};

const fn field(name: &'static str, shape: fn() -> Shape) -> Field {
    Field::new(name, shape)
}

/// A named struct, as the derive writes it.
macro_rules! named_object {
    ($ty:ident, $name:literal, [$($field:expr),* $(,)?]) => {
        struct $ty;
        impl Validate for $ty {
            fn shape() -> Shape {
                fn object() -> Shape {
                    static FIELDS: &[Field] = &[$($field),*];
                    Shape::Object(FIELDS)
                }
                Shape::Named($name, ShapeFn::new(object))
            }
        }
    };
}

struct Color;
impl Validate for Color {
    fn shape() -> Shape {
        Shape::Named("Color", ShapeFn::new(|| Shape::Literal(&["red", "dark-green"])))
    }
}

named_object!(
    Query,
    "RoomQuery",
    [
        Field {
            rules: Rules {
                non_empty: true,
                ..Rules::NONE
            },
            ..field("room", String::shape)
        },
        field("version", Option::<u32>::shape),
    ]
);

named_object!(
    Post,
    "Post",
    [
        Field {
            rules: Rules {
                non_empty: true,
                max_length: Some(500),
                ..Rules::NONE
            },
            ..field("text", String::shape)
        },
        field("colors", || Shape::Array(ShapeFn::new(Color::shape))),
        field("maybe", || Shape::Array(ShapeFn::new(Option::<Color>::shape))),
        field("tags", std::collections::BTreeMap::<String, u8>::shape),
        Field {
            has_default: true,
            ..field("priority", i64::shape)
        },
        field("extra", Value::shape),
        field("kebab-key", bool::shape),
        field("inline", inline_shape),
    ]
);

fn inline_shape() -> Shape {
    static FIELDS: &[Field] = &[field("x", f64::shape)];
    Shape::Object(FIELDS)
}

named_object!(
    Ack,
    "Ack",
    [
        Field {
            rules: Rules {
                min: Some(0.5),
                max: Some(10.0),
                ..Rules::NONE
            },
            ..field("score", f64::shape)
        },
        field("post", Post::shape),
    ]
);

named_object!(
    Tree,
    "Tree",
    [
        field("label", String::shape),
        field("children", || Shape::Array(ShapeFn::new(Tree::shape)))
    ]
);

const fn method(
    name: &'static str,
    path: &'static str,
    direction: Direction,
    input: Option<fn() -> Shape>,
    success: Option<fn() -> Shape>,
    errors: &'static [ErrorMeta],
) -> MethodMeta {
    MethodMeta {
        name,
        path,
        direction,
        is_request: success.is_some(),
        errors,
        permission: None,
        input,
        success,
    }
}

const SERVER: ErrorMeta = ErrorMeta::of::<ServerError>();
const VALIDATION: ErrorMeta = ErrorMeta::of::<ValidationError>();

struct Room;
impl Contract for Room {
    const META: &'static ContractMeta = &ContractMeta {
        name: "Room",
        connect: ConnectMeta {
            query: Some(Query::shape),
            errors: &[SERVER],
            permission: None,
        },
        methods: &[
            method(
                "post",
                "Room.post",
                Direction::ClientToServer,
                Some(Post::shape),
                Some(Ack::shape),
                &[VALIDATION, SERVER],
            ),
            method("typing", "Room.typing", Direction::ClientToServer, None, None, &[]),
            method(
                "grow",
                "Room.grow",
                Direction::ClientToServer,
                Some(Tree::shape),
                Some(Tree::shape),
                &[],
            ),
            method(
                "pushed",
                "Room.pushed",
                Direction::ServerToClient,
                Some(Post::shape),
                None,
                &[],
            ),
            method(
                "are_you_there",
                "Room.areYouThere",
                Direction::ServerToClient,
                None,
                Some(bool::shape),
                &[SERVER],
            ),
        ],
    };
    type Query = ();
    type ConnectError = grest_ws_core::contract::RawConnectError;
    fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
        Ok(())
    }
}

const ROOM_API: WebSocketSchema<Room> = WebSocketSchema::new("ws/room");

/// The JSON descriptor inside a generated module (`… = {…};`).
fn descriptor(module: &str) -> Value {
    let start = module.find(" = {").expect("descriptor start") + 3;
    let end = module.rfind("};").expect("descriptor end") + 1;
    serde_json::from_str(&module[start..end]).expect("the descriptor is JSON")
}

#[test]
fn payload_structs_become_interfaces_with_their_rust_names() {
    let ts = typescript(ROOM_API).unwrap();
    assert!(ts.starts_with("// Generated by grest-ws-typegen from the Rust contract `Room`."));
    assert!(ts.contains("import type { ContractDescriptor } from \"@grest-ws/client\";\n\n/** Rust `"));
    assert!(
        ts.contains(
            "/** Rust `Post`. */\nexport interface Post {\n  /** Must not be empty; at most 500 long. */\n  text: string;\n  \
             colors: Color[];\n  maybe: (Color | null)[];\n  tags: Record<string, number>;\n  \
             /** Defaults when missing. */\n  priority?: number;\n  extra: unknown;\n  \"kebab-key\": boolean;\n  \
             inline: { x: number };\n}\n"
        ),
        "{ts}"
    );
    assert!(ts.contains("export type Color = \"red\" | \"dark-green\";\n"), "{ts}");
    assert!(
        ts.contains(
            "export interface RoomQuery {\n  /** Must not be empty. */\n  room: string;\n  version?: number | null;\n}"
        ),
        "{ts}"
    );
    assert!(
        ts.contains("  /** At least 0.5; at most 10. */\n  score: number;\n  post: Post;\n"),
        "{ts}"
    );
    // Each named type is declared once, however often it is used.
    assert_eq!(ts.matches("export interface Post ").count(), 1);
    assert_eq!(ts.matches("export type Color ").count(), 1);
}

#[test]
fn the_methods_map_has_kinds_inputs_successes_and_declared_errors_per_direction() {
    let ts = typescript(ROOM_API).unwrap();
    assert!(
        ts.contains(
            "export interface RoomMethods {\n  clientToServer: {\n    /** `Room.post` (request). */\n    \
             post: { request: true; input: Post; success: Ack; errors: \"VALIDATION_ERROR\" | \"SERVER_ERROR\" };\n    \
             /** `Room.typing` (fire-and-forget). */\n    \
             typing: { request: false; input: void; success: void; errors: never };\n"
        ),
        "{ts}"
    );
    assert!(
        ts.contains(
            "  serverToClient: {\n    /** `Room.pushed` (fire-and-forget). */\n    \
             pushed: { request: false; input: Post; success: void; errors: never };\n    \
             /** `Room.areYouThere` (request). */\n    \
             areYouThere: { request: true; input: void; success: boolean; errors: \"SERVER_ERROR\" };\n  };\n}\n"
        ),
        "{ts}"
    );
    assert!(ts.contains("export const RoomContract: ContractDescriptor<RoomMethods, RoomQuery> = {\n"));
}

#[test]
fn the_runtime_descriptor_carries_paths_kinds_errors_and_shapes() {
    let ts = typescript(ROOM_API).unwrap();
    let js = javascript(ROOM_API).unwrap();
    assert!(js.contains("export const RoomContract = {\n"));
    assert!(!js.contains("import"), "the JavaScript module needs nothing else");
    let cjs = commonjs(ROOM_API).unwrap();
    assert!(cjs.contains("\n\n\"use strict\";\n\n/** Contract `Room` at `ws/room`, as the client reads it. */\nexports.RoomContract = {\n"));
    assert!(!cjs.contains("import") && !cjs.contains("export "), "a CommonJS module");
    let d = descriptor(&js);
    assert_eq!(d, descriptor(&ts), "every output carries one descriptor");
    assert_eq!(d, descriptor(&cjs), "every output carries one descriptor");
    assert_eq!(d["name"], "Room");
    assert_eq!(d["path"], "ws/room");
    assert_eq!(
        d["connect"],
        json!({"query": {"kind": "ref", "name": "RoomQuery"}, "errors": [{"type": "SERVER_ERROR", "statusCode": 500}]})
    );
    assert_eq!(
        d["clientToServer"]["post"],
        json!({
            "path": "Room.post", "request": true,
            "input": {"kind": "ref", "name": "Post"}, "success": {"kind": "ref", "name": "Ack"},
            "errors": [{"type": "VALIDATION_ERROR", "statusCode": 422}, {"type": "SERVER_ERROR", "statusCode": 500}],
        })
    );
    assert_eq!(
        d["clientToServer"]["typing"],
        json!({"path": "Room.typing", "request": false, "input": null, "success": null, "errors": []})
    );
    assert_eq!(
        d["serverToClient"]["areYouThere"]["success"],
        json!({"kind": "boolean"})
    );
    assert_eq!(
        d["serverToClient"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["pushed", "areYouThere"]
    );
    let post = &d["shapes"]["Post"]["fields"];
    assert_eq!(
        post[0],
        json!({"name": "text", "shape": {"kind": "string"}, "rules": {"nonEmpty": true, "maxLength": 500}})
    );
    assert_eq!(
        post[2]["shape"],
        json!({"kind": "array", "item": {"kind": "optional", "inner": {"kind": "ref", "name": "Color"}}})
    );
    assert_eq!(
        post[3]["shape"],
        json!({"kind": "record", "item": {"kind": "number", "integer": true, "min": 0, "max": 255}})
    );
    assert_eq!(
        post[4],
        json!({"name": "priority", "shape": {"kind": "number", "integer": true}, "hasDefault": true})
    );
    assert_eq!(
        d["shapes"]["Color"],
        json!({"kind": "literal", "values": ["red", "dark-green"]})
    );
    assert_eq!(d["shapes"]["Ack"]["fields"][0]["rules"], json!({"min": 0.5, "max": 10}));
}

#[test]
fn recursive_types_refer_to_themselves() {
    let ts = typescript(ROOM_API).unwrap();
    assert!(
        ts.contains("export interface Tree {\n  label: string;\n  children: Tree[];\n}"),
        "{ts}"
    );
    assert!(ts.contains("grow: { request: true; input: Tree; success: Tree; errors: never };"));
    let d = descriptor(&ts);
    assert_eq!(
        d["shapes"]["Tree"]["fields"][1]["shape"],
        json!({"kind": "array", "item": {"kind": "ref", "name": "Tree"}})
    );
}

/// A second, different type that is also called `Post`.
struct OtherPost;
impl Validate for OtherPost {
    fn shape() -> Shape {
        fn object() -> Shape {
            static FIELDS: &[Field] = &[field("body", String::shape)];
            Shape::Object(FIELDS)
        }
        Shape::Named("Post", ShapeFn::new(object))
    }
}

/// A payload type named like the generated type map.
struct Reserved;
impl Validate for Reserved {
    fn shape() -> Shape {
        Shape::Named("ClashMethods", ShapeFn::new(|| Shape::Literal(&["a"])))
    }
}

struct Clash;
impl Contract for Clash {
    const META: &'static ContractMeta = &ContractMeta {
        name: "Clash",
        connect: ConnectMeta {
            query: None,
            errors: &[],
            permission: None,
        },
        methods: &[
            method("a", "Clash.a", Direction::ClientToServer, Some(Post::shape), None, &[]),
            method(
                "b",
                "Clash.b",
                Direction::ClientToServer,
                Some(OtherPost::shape),
                None,
                &[],
            ),
        ],
    };
    type Query = ();
    type ConnectError = grest_ws_core::contract::RawConnectError;
    fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
        Ok(())
    }
}

struct ClashReserved;
impl Contract for ClashReserved {
    const META: &'static ContractMeta = &ContractMeta {
        name: "Clash",
        connect: ConnectMeta {
            query: None,
            errors: &[],
            permission: None,
        },
        methods: &[method(
            "a",
            "Clash.a",
            Direction::ServerToClient,
            Some(Reserved::shape),
            None,
            &[],
        )],
    };
    type Query = ();
    type ConnectError = grest_ws_core::contract::RawConnectError;
    fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
        Ok(())
    }
}

#[test]
fn two_types_with_one_name_are_refused() {
    let clash = WebSocketSchema::<Clash>::new("ws/clash");
    assert_eq!(typescript(clash), Err(TypegenError::NameCollision("Post".to_owned())));
    assert_eq!(javascript(clash), Err(TypegenError::NameCollision("Post".to_owned())));
    let reserved = WebSocketSchema::<ClashReserved>::new("ws/clash");
    assert_eq!(
        typescript(reserved),
        Err(TypegenError::NameCollision("ClashMethods".to_owned()))
    );
    assert!(
        TypegenError::NameCollision("Post".to_owned())
            .to_string()
            .contains("`Post`")
    );
}

#[test]
fn a_contract_without_query_or_methods_is_still_a_module() {
    let ts = typescript(WebSocketSchema::<ClashEmpty>::new("/ws/empty")).unwrap();
    assert!(ts.contains("export interface EmptyMethods {\n  clientToServer: {\n  };\n  serverToClient: {\n  };\n}"));
    let d = descriptor(&ts);
    assert_eq!(d["connect"], json!({"query": null, "errors": []}));
    assert_eq!(d["path"], "/ws/empty");
    assert_eq!(d["shapes"], json!({}));
}

struct ClashEmpty;
impl Contract for ClashEmpty {
    const META: &'static ContractMeta = &ContractMeta {
        name: "Empty",
        connect: ConnectMeta {
            query: None,
            errors: &[],
            permission: None,
        },
        methods: &[],
    };
    type Query = ();
    type ConnectError = grest_ws_core::contract::RawConnectError;
    fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
        Ok(())
    }
}

#[test]
fn typegen_holds_three_files_per_contract_named_after_it() {
    let typegen = Typegen::new()
        .schema(ROOM_API)
        .unwrap()
        .schema(WebSocketSchema::<ClashEmpty>::new("ws/empty"))
        .unwrap();
    let names: Vec<&str> = typegen.files().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "room-contract.ts",
            "room-contract.js",
            "room-contract.cjs",
            "empty-contract.ts",
            "empty-contract.js",
            "empty-contract.cjs"
        ]
    );
    assert_eq!(
        typegen.files()[..3],
        [
            GeneratedFile {
                name: "room-contract.ts".to_owned(),
                content: typescript(ROOM_API).unwrap()
            },
            GeneratedFile {
                name: "room-contract.js".to_owned(),
                content: javascript(ROOM_API).unwrap()
            },
            GeneratedFile {
                name: "room-contract.cjs".to_owned(),
                content: commonjs(ROOM_API).unwrap()
            },
        ]
    );
    assert_eq!(kebab_case("RoomFeed2Admin"), "room-feed2-admin");
    assert_eq!(
        Typegen::new()
            .schema(ROOM_API)
            .unwrap()
            .schema(WebSocketSchema::<Room>::new("ws/other"))
            .err(),
        Some(TypegenError::DuplicateContract("Room".to_owned()))
    );
    assert_eq!(
        Typegen::new().schema(WebSocketSchema::<Clash>::new("ws/clash")).err(),
        Some(TypegenError::NameCollision("Post".to_owned()))
    );
}

#[test]
fn write_to_creates_the_folder_writes_what_is_stale_and_leaves_current_files_alone() {
    let dir = std::env::temp_dir().join(format!("grest-ws-typegen-{}/web/generated", std::process::id()));
    let typegen = Typegen::new().schema(ROOM_API).unwrap();
    let all: Vec<_> = typegen.files().iter().map(|f| dir.join(&f.name)).collect();
    assert_eq!(typegen.stale_files(&dir).unwrap(), all, "nothing there yet");
    assert_eq!(typegen.write_to(&dir).unwrap(), all);
    for file in typegen.files() {
        assert_eq!(std::fs::read_to_string(dir.join(&file.name)).unwrap(), file.content);
    }
    assert_eq!(typegen.stale_files(&dir).unwrap(), Vec::<std::path::PathBuf>::new());
    assert_eq!(
        typegen.write_to(&dir).unwrap(),
        Vec::<std::path::PathBuf>::new(),
        "all current"
    );
    std::fs::write(&all[2], "// edited by hand").unwrap();
    assert_eq!(typegen.stale_files(&dir).unwrap(), [all[2].clone()]);
    assert_eq!(typegen.write_to(&dir).unwrap(), [all[2].clone()]);
    assert_eq!(std::fs::read_to_string(&all[2]).unwrap(), commonjs(ROOM_API).unwrap());
    std::fs::remove_dir_all(dir.parent().unwrap().parent().unwrap()).unwrap();
}

/// Enums under each representation, a tuple and a flattened struct, as the derive writes them.
mod unions {
    use grest_ws_core::validate::{Element, Format, Pattern, Tagging, Variant};

    use super::*;

    const fn variant(name: &'static str, shape: Option<fn() -> Shape>) -> Variant {
        Variant {
            name,
            shape: match shape {
                Some(shape) => Some(ShapeFn::new(shape)),
                None => None,
            },
            rules: Rules::NONE,
        }
    }

    fn union(tagging: Tagging) -> Shape {
        static VARIANTS: &[Variant] = &[
            variant("idle", None),
            Variant {
                rules: Rules {
                    format: Some(Format::Email),
                    ..Rules::NONE
                },
                ..variant("mail", Some(String::shape))
            },
            variant("move", Some(inline_shape)),
            variant("ack", Some(Ack::shape)),
        ];
        Shape::Union {
            tagging,
            variants: VARIANTS,
        }
    }

    fn pair() -> Shape {
        static ELEMENTS: &[Element] = &[
            Element {
                shape: ShapeFn::new(String::shape),
                rules: Rules {
                    pattern: Some(Pattern::new("^[a-z]+$", |_| true)),
                    ..Rules::NONE
                },
            },
            Element {
                shape: ShapeFn::new(u8::shape),
                rules: Rules {
                    multiple_of: Some(2.0),
                    ..Rules::NONE
                },
            },
        ];
        Shape::Named("Pair", ShapeFn::new(|| Shape::Tuple(ELEMENTS)))
    }

    named_object!(
        Paged,
        "Paged",
        [
            field("query", String::shape),
            Field {
                flatten: true,
                ..field("page", Ack::shape)
            },
        ]
    );

    struct Kinds;
    impl Contract for Kinds {
        const META: &'static ContractMeta = &ContractMeta {
            name: "Kinds",
            connect: ConnectMeta {
                query: None,
                errors: &[],
                permission: None,
            },
            methods: &[
                method(
                    "external",
                    "Kinds.external",
                    Direction::ClientToServer,
                    Some(|| Shape::Named("External", ShapeFn::new(|| union(Tagging::External)))),
                    None,
                    &[],
                ),
                method(
                    "internal",
                    "Kinds.internal",
                    Direction::ClientToServer,
                    Some(|| Shape::Named("Internal", ShapeFn::new(|| union(Tagging::Internal { tag: "type" })))),
                    None,
                    &[],
                ),
                method(
                    "adjacent",
                    "Kinds.adjacent",
                    Direction::ClientToServer,
                    Some(|| {
                        Shape::Named(
                            "Adjacent",
                            ShapeFn::new(|| union(Tagging::Adjacent { tag: "t", content: "c" })),
                        )
                    }),
                    None,
                    &[],
                ),
                method(
                    "untagged",
                    "Kinds.untagged",
                    Direction::ClientToServer,
                    Some(|| Shape::Named("Untagged", ShapeFn::new(|| union(Tagging::Untagged)))),
                    None,
                    &[],
                ),
                method("pair", "Kinds.pair", Direction::ClientToServer, Some(pair), None, &[]),
                method(
                    "paged",
                    "Kinds.paged",
                    Direction::ClientToServer,
                    Some(Paged::shape),
                    None,
                    &[],
                ),
                method(
                    "inline",
                    "Kinds.inline",
                    Direction::ClientToServer,
                    Some(|| Shape::Array(ShapeFn::new(|| Shape::Tuple(&[])))),
                    None,
                    &[],
                ),
            ],
        };
        type Query = ();
        type ConnectError = grest_ws_core::contract::RawConnectError;
        fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> {
            Ok(())
        }
    }

    const KINDS_API: WebSocketSchema<Kinds> = WebSocketSchema::new("ws/kinds");

    #[test]
    fn enums_become_unions_of_their_wire_forms() {
        let ts = typescript(KINDS_API).unwrap();
        for declaration in [
            "export type External = \"idle\" | { mail: string } | { move: { x: number } } | { ack: Ack };",
            "export type Internal = { type: \"idle\" } | { type: \"mail\" } & string | { type: \"move\"; x: number } \
             | { type: \"ack\" } & Ack;",
            "export type Adjacent = { t: \"idle\" } | { t: \"mail\"; c: string } | { t: \"move\"; c: { x: number } } \
             | { t: \"ack\"; c: Ack };",
            "export type Untagged = null | string | { x: number } | Ack;",
            "/** Rust `Pair`. */\nexport type Pair = [string, number];",
            "/** Rust `Paged`. */\nexport interface Paged extends Ack {\n  query: string;\n}",
            "input: [][];",
        ] {
            assert!(ts.contains(declaration), "{declaration}\nnot in\n{ts}");
        }
    }

    #[test]
    fn descriptors_carry_tagging_variants_tuples_flatten_and_the_new_rules() {
        let shapes = &descriptor(&javascript(KINDS_API).unwrap())["shapes"];
        assert_eq!(
            shapes["Adjacent"],
            json!({"kind": "union", "tagging": "adjacent", "tag": "t", "content": "c", "variants": [
                {"name": "idle"},
                {"name": "mail", "shape": {"kind": "string"}, "rules": {"format": "email"}},
                {"name": "move", "shape": {"kind": "object", "fields": [
                    {"name": "x", "shape": {"kind": "number", "integer": false}}]}},
                {"name": "ack", "shape": {"kind": "ref", "name": "Ack"}},
            ]})
        );
        assert_eq!(shapes["External"]["tagging"], "external");
        assert_eq!(shapes["External"].get("tag"), None);
        assert_eq!(shapes["Internal"]["tag"], "type");
        assert_eq!(shapes["Untagged"]["tagging"], "untagged");
        assert_eq!(
            shapes["Pair"],
            json!({"kind": "tuple", "items": [
                {"shape": {"kind": "string"}, "rules": {"pattern": "^[a-z]+$"}},
                {"shape": {"kind": "number", "integer": true, "min": 0, "max": 255}, "rules": {"multipleOf": 2}},
            ]})
        );
        assert_eq!(
            shapes["Paged"]["fields"][1],
            json!({"name": "page", "shape": {"kind": "ref", "name": "Ack"}, "flatten": true})
        );
    }
}
