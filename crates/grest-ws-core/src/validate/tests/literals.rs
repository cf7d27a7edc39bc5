//! Unit-only enums as string literals, and named shapes.

use super::*;

validated!(
    struct Painted {
        color: Color,
    }
);

/// A unit-only enum: a string literal on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Color {
    Red,
    Green,
}

impl Validate for Color {
    fn shape() -> Shape {
        Shape::Named("Color", ShapeFn::new(|| Shape::Literal(&["red", "green"])))
    }
}

#[test]
fn literal() {
    assert_eq!(
        both::<Painted>(r#"{"color":"green"}"#),
        Ok(Painted { color: Color::Green })
    );
    assert_eq!(
        issues::<Painted>(r#"{"color":"blue"}"#),
        r#"[{"path":"color","code":"invalid.literal.invalid","message":"Value must be one of: red, green","params":{"expected":"red, green"},"value":"blue"}]"#
    );
    // No coercion and no case folding.
    assert_eq!(
        issue_values::<Painted>(r#"{"color":"Red"}"#)[0]["code"],
        "invalid.literal.invalid"
    );
    assert_eq!(
        issue_values::<Painted>(r#"{"color":1}"#),
        json!([{"path": "color", "code": "invalid.literal.invalid", "message": "Value must be one of: red, green",
                "params": {"expected": "red, green"}, "value": 1}])
    );
}

#[test]
fn named_shapes_carry_the_type_name_and_validate_as_their_inner_shape() {
    let Shape::Named(name, inner) = Painted::shape() else {
        panic!("a derived struct has a named shape")
    };
    assert_eq!(name, "Painted");
    assert!(matches!(inner.get(), Shape::Object(fields) if fields.len() == 1 && fields[0].name == "color"));
    assert!(matches!(Color::shape(), Shape::Named("Color", inner) if matches!(inner.get(), Shape::Literal(_))));
    // A missing or null named value is `required`, exactly as the unnamed shape would be.
    assert_eq!(
        issue_values::<Painted>(r#"{"color":null}"#),
        json!([{"path": "color", "code": "required", "message": "Value is required", "value": null}])
    );
    assert_eq!(
        issue_values::<Painted>("null"),
        json!([{"path": "", "code": "required", "message": "Value is required", "value": null}])
    );
}
