//! Enums on the slow path: each tagging finds its variant as serde does, reports the discriminated-union codes
//! at the documented paths, and walks the content where serde reads it; untagged ones try each variant.

use super::*;

fn move_content() -> Shape {
    static FIELDS: &[Field] = &[Field {
        rules: Rules {
            min: Some(0.0),
            ..Rules::NONE
        },
        ..Field::new("x", i64::shape)
    }];
    Shape::Object(FIELDS)
}

static VARIANTS: &[Variant] = &[
    Variant {
        name: "stop",
        shape: None,
        rules: Rules::NONE,
    },
    Variant {
        name: "move",
        shape: Some(ShapeFn::new(move_content)),
        rules: Rules::NONE,
    },
    Variant {
        name: "say",
        shape: Some(ShapeFn::new(String::shape)),
        rules: NON_EMPTY,
    },
];

fn union(tagging: Tagging) -> Shape {
    Shape::Union {
        tagging,
        variants: VARIANTS,
    }
}

const EXPECTED: &str = "stop, move, say";

fn issue(path: &str, code: &str, message: &str, params: Option<Value>, value: Option<Value>) -> Value {
    let mut issue = json!({"path": path, "code": code, "message": message});
    if let Some(params) = params {
        issue["params"] = params;
    }
    if let Some(value) = value {
        issue["value"] = value;
    }
    issue
}

fn not_object(path: &str, value: Value) -> Value {
    issue(
        path,
        "invalid.dunion.notObject",
        "Value must be an object",
        None,
        Some(value),
    )
}

fn missing(path: &str, value: Option<Value>) -> Value {
    let message = format!("Value must name its variant, one of: {EXPECTED}");
    issue(
        path,
        "invalid.dunion.missingDiscriminator",
        &message,
        Some(json!({"expected": EXPECTED})),
        value,
    )
}

fn unknown(path: &str, value: Value) -> Value {
    let message = format!("Unknown variant; expected one of: {EXPECTED}");
    issue(
        path,
        "invalid.dunion.unknownVariant",
        &message,
        Some(json!({"expected": EXPECTED})),
        Some(value),
    )
}

#[test]
fn dunion_not_object() {
    let external = union(Tagging::External);
    assert_eq!(walk(&external, json!(5)).1, json!([not_object("", json!(5))]));
    // A variant with content written as its bare name.
    assert_eq!(walk(&external, json!("move")).1, json!([not_object("", json!("move"))]));
    for tagging in [
        Tagging::Internal { tag: "type" },
        Tagging::Adjacent { tag: "t", content: "c" },
    ] {
        assert_eq!(
            walk(&union(tagging), json!("stop")).1,
            json!([not_object("", json!("stop"))])
        );
    }
}

#[test]
fn dunion_missing_discriminator() {
    let external = union(Tagging::External);
    assert_eq!(walk(&external, json!({})).1, json!([missing("", Some(json!({})))]));
    let two = json!({"stop": null, "say": "x"});
    assert_eq!(walk(&external, two.clone()).1, json!([missing("", Some(two))]));
    let internal = union(Tagging::Internal { tag: "type" });
    assert_eq!(walk(&internal, json!({"x": 1})).1, json!([missing("type", None)]));
    assert_eq!(
        walk(&internal, json!({"type": null})).1,
        json!([missing("type", Some(json!(null)))])
    );
    let adjacent = union(Tagging::Adjacent { tag: "t", content: "c" });
    assert_eq!(walk(&adjacent, json!({"c": "x"})).1, json!([missing("t", None)]));
}

#[test]
fn dunion_unknown_variant() {
    let external = union(Tagging::External);
    assert_eq!(walk(&external, json!("jump")).1, json!([unknown("", json!("jump"))]));
    assert_eq!(
        walk(&external, json!({"jump": 1})).1,
        json!([unknown("", json!("jump"))])
    );
    let internal = union(Tagging::Internal { tag: "type" });
    assert_eq!(
        walk(&internal, json!({"type": "jump"})).1,
        json!([unknown("type", json!("jump"))])
    );
    assert_eq!(
        walk(&internal, json!({"type": 1})).1,
        json!([unknown("type", json!(1))])
    );
}

#[test]
fn content_is_walked_where_serde_reads_it() {
    let external = union(Tagging::External);
    assert_eq!(
        walk(&external, json!({"move": {"x": "-1"}})).0,
        json!({"move": {"x": -1}})
    );
    assert_eq!(walk(&external, json!({"move": {"x": -1}})).1[0]["path"], "move.x");
    assert_eq!(walk(&external, json!({"say": ""})).1[0]["path"], "say");
    assert_eq!(walk(&external, json!({"stop": null})).1, json!([]));
    let internal = union(Tagging::Internal { tag: "type" });
    assert_eq!(walk(&internal, json!({"type": "move", "x": -1})).1[0]["path"], "x");
    assert_eq!(walk(&internal, json!({"type": "stop", "x": "anything"})).1, json!([]));
    let adjacent = union(Tagging::Adjacent { tag: "t", content: "c" });
    assert_eq!(
        walk(&adjacent, json!({"t": "move", "c": {"x": -1}})).1[0]["path"],
        "c.x"
    );
    assert_eq!(
        walk(&adjacent, json!({"t": "say", "c": ""})).1[0]["code"],
        "invalid.string.nonEmpty"
    );
    assert_eq!(
        walk(&adjacent, json!({"t": "say"})).1,
        json!([{"path": "c", "code": "required", "message": "Value is required"}])
    );
    assert_eq!(walk(&adjacent, json!({"t": "stop"})).1, json!([]));
}

#[test]
fn union_invalid() {
    let untagged = union(Tagging::Untagged);
    // The first variant that fits wins, with its coercions: `{"x": "2"}` fits `move`.
    assert_eq!(walk(&untagged, json!({"x": "2"})), (json!({"x": 2}), json!([])));
    assert_eq!(walk(&untagged, json!(null)), (json!(null), json!([])));
    assert_eq!(walk(&untagged, json!(5)), (json!("5"), json!([])));
    for value in [json!({"x": -1}), json!(""), json!([])] {
        assert_eq!(
            walk(&untagged, value.clone()),
            (
                value.clone(),
                json!([issue(
                    "",
                    "invalid.union.invalid",
                    "Value does not match any allowed variant",
                    None,
                    Some(value)
                )])
            )
        );
    }
    // Missing is still missing.
    let mut issues = Issues::new();
    check_value(None, &untagged, &Rules::NONE, &mut Path::root(), &mut issues);
    assert_eq!(issues[0].code, "required");
}
