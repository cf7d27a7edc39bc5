//! `#[derive(Validate)]` on data-carrying enums, under each of serde's representations: the variant is found as
//! serde finds it, its content is checked at the path serde reads it from, and a value naming no variant gets
//! grest's discriminated-union (or union) codes.

mod support;

use grest_ws::Validate;
use grest_ws::protocol::validate::{Shape, Tagging, check};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{both, issues, walk};

/// Externally tagged (serde's default), with every kind of variant.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "snake_case")]
enum Command {
    Stop,
    Say(#[validate(non_empty)] String),
    MoveTo {
        #[validate(range(min = -10, max = 10))]
        x: i32,
        y: i32,
    },
    Point(i64, #[validate(min = 0)] i64),
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Batch {
    commands: Vec<Command>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Leave {
    #[validate(non_empty)]
    reason: String,
}

/// Internally tagged, with renamed variants and fields.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
enum Event {
    Joined {
        user_name: String,
    },
    Left(Leave),
    Ping,
    #[serde(rename = "msg")]
    Message {
        #[validate(non_empty)]
        text: String,
    },
}

/// Adjacently tagged.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Unit,
    Num(#[validate(max = 5)] u8),
    Pair(String, u32),
    Contact {
        #[validate(email)]
        email: String,
    },
}

/// Untagged: the first variant the value satisfies.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
#[serde(untagged)]
enum Loose {
    Count(u32),
    Label {
        #[validate(non_empty)]
        label: String,
    },
    Nothing,
}

/// A unit-only enum with a tag is an object, not a string.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
#[serde(tag = "kind")]
enum Signal {
    Start,
    Halt,
}

/// A struct variant whose fields are named like the check's own variables.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
enum Shadowing {
    Named {
        #[validate(non_empty)]
        path: String,
        #[validate(non_empty)]
        issues: String,
    },
}

#[test]
fn externally_tagged_variants_decode_in_every_form() {
    assert_eq!(both::<Command>(r#""stop""#), Ok(Command::Stop));
    assert_eq!(both::<Command>(r#"{"say":"hi"}"#), Ok(Command::Say("hi".into())));
    assert_eq!(
        both::<Command>(r#"{"move_to":{"x":"3","y":1}}"#),
        Ok(Command::MoveTo { x: 3, y: 1 })
    );
    assert_eq!(both::<Command>(r#"{"point":[1,"2"]}"#), Ok(Command::Point(1, 2)));
    // serde reads a unit variant written as an object too.
    assert_eq!(both::<Command>(r#"{"stop":null}"#), Ok(Command::Stop));
}

#[test]
fn externally_tagged_content_is_checked_under_the_variant_name() {
    assert_eq!(
        issues::<Command>(r#"{"say":""}"#),
        json!([{"path": "say", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""}])
    );
    assert_eq!(
        issues::<Command>(r#"{"move_to":{"x":11,"y":0}}"#),
        json!([{"path": "move_to.x", "code": "invalid.number.range", "message": "Value must be between -10 and 10",
                "params": {"min": -10, "max": 10}, "value": 11}])
    );
    assert_eq!(
        issues::<Batch>(r#"{"commands":["stop",{"point":[1,-1]}]}"#),
        json!([{"path": "commands.1.point.1", "code": "invalid.number.min", "message": "Value must be at least 0",
                "params": {"min": 0}, "value": -1}])
    );
}

#[test]
fn externally_tagged_discriminator_issues() {
    let expected = json!({"expected": "stop, say, move_to, point"});
    assert_eq!(
        issues::<Command>("5"),
        json!([{"path": "", "code": "invalid.dunion.notObject", "message": "Value must be an object", "value": 5}])
    );
    // A variant with content must be an object.
    assert_eq!(issues::<Command>(r#""say""#)[0]["code"], "invalid.dunion.notObject");
    assert_eq!(
        issues::<Command>(r#""jump""#),
        json!([{"path": "", "code": "invalid.dunion.unknownVariant",
                "message": "Unknown variant; expected one of: stop, say, move_to, point",
                "params": expected, "value": "jump"}])
    );
    assert_eq!(issues::<Command>(r#"{"jump":{}}"#)[0]["value"], "jump");
    for input in ["{}", r#"{"say":"a","stop":null}"#] {
        assert_eq!(
            issues::<Command>(input),
            json!([{"path": "", "code": "invalid.dunion.missingDiscriminator",
                    "message": "Value must name its variant, one of: stop, say, move_to, point",
                    "params": expected, "value": serde_json::from_str::<serde_json::Value>(input).unwrap()}]),
            "{input}"
        );
    }
}

#[test]
fn tuple_variants_have_a_length() {
    assert_eq!(
        issues::<Command>(r#"{"point":[1]}"#),
        json!([{"path": "point", "code": "invalid.tuple.length", "message": "Array must have exactly 2 items",
                "params": {"length": 2}, "value": [1]}])
    );
    assert_eq!(
        issues::<Command>(r#"{"point":{"x":1}}"#),
        json!([{"path": "point", "code": "invalid.tuple.type", "message": "Value must be an array",
                "value": {"x": 1}}])
    );
}

#[test]
fn internally_tagged_variants_share_the_object_with_their_tag() {
    assert_eq!(
        both::<Event>(r#"{"type":"joined","userName":"ann"}"#),
        Ok(Event::Joined {
            user_name: "ann".into()
        })
    );
    assert_eq!(both::<Event>(r#"{"type":"ping"}"#), Ok(Event::Ping));
    assert_eq!(
        both::<Event>(r#"{"type":"left","reason":"bye"}"#),
        Ok(Event::Left(Leave { reason: "bye".into() }))
    );
    assert_eq!(
        issues::<Event>(r#"{"type":"msg","text":""}"#),
        json!([{"path": "text", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""}])
    );
    assert_eq!(issues::<Event>(r#"{"type":"left","reason":""}"#)[0]["path"], "reason");
    assert_eq!(
        issues::<Event>(r#"{"type":"joined"}"#),
        json!([{"path": "userName", "code": "required", "message": "Value is required"}])
    );
}

#[test]
fn internally_tagged_discriminator_issues_are_at_the_tag() {
    let expected = json!({"expected": "joined, left, ping, msg"});
    assert_eq!(
        issues::<Event>(r#"{"userName":"a"}"#),
        json!([{"path": "type", "code": "invalid.dunion.missingDiscriminator",
                "message": "Value must name its variant, one of: joined, left, ping, msg", "params": expected}])
    );
    assert_eq!(issues::<Event>(r#"{"type":null}"#)[0]["value"], json!(null));
    assert_eq!(
        issues::<Event>(r#"{"type":"nope"}"#),
        json!([{"path": "type", "code": "invalid.dunion.unknownVariant",
                "message": "Unknown variant; expected one of: joined, left, ping, msg", "params": expected,
                "value": "nope"}])
    );
    assert_eq!(issues::<Event>(r#"{"type":3}"#)[0]["value"], 3);
    assert_eq!(
        issues::<Event>("[]"),
        json!([{"path": "", "code": "invalid.dunion.notObject", "message": "Value must be an object", "value": []}])
    );
    assert_eq!(both::<Signal>(r#"{"kind":"Halt"}"#), Ok(Signal::Halt));
    assert_eq!(issues::<Signal>(r#""Halt""#)[0]["code"], "invalid.dunion.notObject");
}

#[test]
fn adjacently_tagged_content_is_under_its_field() {
    assert_eq!(both::<Adjacent>(r#"{"t":"Unit"}"#), Ok(Adjacent::Unit));
    assert_eq!(both::<Adjacent>(r#"{"t":"Num","c":"3"}"#), Ok(Adjacent::Num(3)));
    assert_eq!(
        both::<Adjacent>(r#"{"t":"Pair","c":["a",1]}"#),
        Ok(Adjacent::Pair("a".into(), 1))
    );
    assert_eq!(
        issues::<Adjacent>(r#"{"t":"Num","c":6}"#),
        json!([{"path": "c", "code": "invalid.number.range", "message": "Value must be between 0 and 5",
                "params": {"min": 0, "max": 5}, "value": 6}])
    );
    assert_eq!(
        issues::<Adjacent>(r#"{"t":"Contact","c":{"email":"nobody"}}"#),
        json!([{"path": "c.email", "code": "invalid.string.email", "message": "Value must be a valid email address",
                "value": "nobody"}])
    );
    assert_eq!(
        issues::<Adjacent>(r#"{"t":"Num"}"#),
        json!([{"path": "c", "code": "required", "message": "Value is required"}])
    );
    assert_eq!(
        issues::<Adjacent>(r#"{"t":"Pair","c":["a"]}"#)[0]["code"],
        "invalid.tuple.length"
    );
    assert_eq!(issues::<Adjacent>(r#"{"c":1}"#)[0]["path"], "t");
    assert_eq!(
        issues::<Adjacent>(r#"{"c":1}"#)[0]["code"],
        "invalid.dunion.missingDiscriminator"
    );
}

#[test]
fn untagged_takes_the_first_variant_that_fits() {
    assert_eq!(walk::<Loose>("5"), Ok(Loose::Count(5)));
    // After coercion, like every other value.
    assert_eq!(walk::<Loose>(r#""5""#), Ok(Loose::Count(5)));
    assert_eq!(
        walk::<Loose>(r#"{"label":"a"}"#),
        Ok(Loose::Label { label: "a".into() })
    );
    assert_eq!(walk::<Loose>("null"), Ok(Loose::Nothing));
}

#[test]
fn untagged_reports_one_issue_at_its_path() {
    let rejected = |input: &str| serde_json::to_value(walk::<Loose>(input).unwrap_err()).unwrap();
    for (input, value) in [
        (r#"{"label":""}"#, json!({"label": ""})),
        (r#""x""#, json!("x")),
        ("[1]", json!([1])),
    ] {
        assert_eq!(
            rejected(input),
            json!([{"path": "", "code": "invalid.union.invalid", "message": "Value does not match any allowed variant",
                    "value": value}]),
            "{input}"
        );
    }
    // The typed check reports the same code at the same path (it has no JSON value to show).
    let typed = check(&Loose::Label { label: String::new() }).unwrap_err();
    assert_eq!(
        (typed[0].path.as_str(), typed[0].code.as_str(), typed.len()),
        ("", "invalid.union.invalid", 1)
    );
}

#[test]
fn bindings_do_not_hide_the_walk() {
    assert_eq!(
        issues::<Shadowing>(r#"{"Named":{"path":"","issues":""}}"#),
        json!([
            {"path": "Named.path", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            {"path": "Named.issues", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
        ])
    );
}

#[test]
fn the_shape_describes_tagging_and_variants_as_data() {
    let Shape::Named("Event", inner) = Event::shape() else {
        panic!("a named shape");
    };
    let Shape::Union { tagging, variants } = inner.get() else {
        panic!("a union");
    };
    assert_eq!(tagging, Tagging::Internal { tag: "type" });
    let names: Vec<_> = variants.iter().map(|v| (v.name, v.shape.is_some())).collect();
    assert_eq!(
        names,
        [("joined", true), ("left", true), ("ping", false), ("msg", true)]
    );
    let Shape::Object(fields) = variants[3].shape.unwrap().get() else {
        panic!("a struct variant's content is an object");
    };
    assert!(fields[0].rules.non_empty);
    const { assert!(<Command as Validate>::DEEP) };
    const { assert!(!<Signal as Validate>::DEEP) };
}
