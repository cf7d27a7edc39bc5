use serde_json::json;

use super::*;
use crate::validate::{Issues, Path, check_value};

/// A recursive named type with a constrained field, as the derive writes one.
fn tree() -> Shape {
    fn object() -> Shape {
        static FIELDS: &[Field] = &[
            Field {
                rules: Rules {
                    min_length: Some(2),
                    ..Rules::NONE
                },
                ..Field::new("label", <String as crate::Validate>::shape)
            },
            Field::new("children", || Shape::Array(ShapeFn::new(tree))),
        ];
        Shape::Object(FIELDS)
    }
    Shape::Named("Tree", ShapeFn::new(object))
}

fn issues_of(shape: &Shape, mut input: Value) -> Issues {
    let mut issues = Issues::new();
    check_value(Some(&mut input), shape, &Rules::NONE, &mut Path::root(), &mut issues);
    issues
}

#[test]
fn a_recursive_type_is_one_definition_and_reads_back_to_the_same_walk() {
    let found = definitions([tree()]).unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), ["Tree"]);
    assert_eq!(describe(&tree()), json!({"kind": "ref", "name": "Tree"}));
    assert_eq!(
        found["Tree"]["fields"][0],
        json!({"name": "label", "shape": {"kind": "string"}, "rules": {"minLength": 2}})
    );

    let reader = ShapeReader::new(&found).unwrap();
    let read = reader.read(&describe(&tree())).unwrap();
    let input = json!({"label": "root", "children": [{"label": "a", "children": []}, {"children": 5}]});
    let expected = issues_of(&tree(), input.clone());
    assert_eq!(expected.len(), 3, "{expected:?}");
    assert_eq!(issues_of(&read, input), expected);
    // The read shape describes itself as the original does.
    assert_eq!(definitions([read]).unwrap(), found);
}

#[test]
fn two_types_under_one_name_are_refused() {
    fn other() -> Shape {
        Shape::Named("Tree", ShapeFn::new(|| Shape::String))
    }
    assert_eq!(definitions([tree(), other()]), Err(NameCollision("Tree".to_owned())));
}

#[test]
fn a_bad_descriptor_is_an_error_that_says_where() {
    let reader = ShapeReader::new(&Map::new()).unwrap();
    let cases = [
        (json!({}), "malformed descriptor at \"/kind\": present"),
        (
            json!({"kind": "set"}),
            "malformed descriptor at \"/kind\": a known kind",
        ),
        (
            json!({"kind": "object", "fields": [{"name": "a", "shape": {"kind": "array"}}]}),
            "malformed descriptor at \"/fields/0/shape/item\": present",
        ),
        (
            json!({"kind": "literal", "values": ["a", 1]}),
            "malformed descriptor at \"/values/1\": a string",
        ),
        (
            json!({"kind": "union", "tagging": "sideways", "variants": []}),
            "malformed descriptor at \"/tagging\": external, internal, adjacent or untagged",
        ),
        (
            json!({"kind": "ref", "name": "Nowhere"}),
            "reference to an undefined type `Nowhere`",
        ),
        (
            json!({"kind": "tuple", "items": [{"shape": {"kind": "string"}, "rules": {"format": "isbn"}}]}),
            "unknown string format \"isbn\"",
        ),
        (
            json!({"kind": "tuple", "items": [{"shape": {"kind": "number"}, "rules": {"minLength": -1}}]}),
            "malformed descriptor at \"/items/0/rules/minLength\": a whole number",
        ),
    ];
    for (descriptor, message) in cases {
        let error = reader.read(&descriptor).unwrap_err();
        assert_eq!(error.to_string(), message, "{descriptor}");
    }
    let bad = json!({"Bad": {"kind": "tuple", "items": [{"shape": {"kind": "string"}, "rules": {"pattern": "("}}]}});
    let error = ShapeReader::new(bad.as_object().unwrap()).unwrap_err();
    assert!(
        matches!(error, DescriptorError::Pattern(ref p) if p.source == "("),
        "{error}"
    );
}

#[test]
fn every_rule_and_tagging_survives_the_round_trip() {
    let descriptor = json!({"kind": "union", "tagging": "adjacent", "tag": "t", "content": "c", "variants": [
        {"name": "unit"},
        {"name": "text", "shape": {"kind": "string"}, "rules": {
            "nonEmpty": true, "minLength": 1, "maxLength": 9, "pattern": "^[a-z]+$", "format": "email"
        }},
        {"name": "n", "shape": {"kind": "number", "integer": true, "min": 0, "max": 255}, "rules": {
            "min": 1, "max": 10, "multipleOf": 2
        }},
        {"name": "pair", "shape": {"kind": "tuple", "items": [{"shape": {"kind": "boolean"}}, {"shape": {"kind": "null"}}]}},
        {"name": "map", "shape": {"kind": "record", "item": {"kind": "optional", "inner": {"kind": "any"}}}},
        {"name": "pick", "shape": {"kind": "literal", "values": ["a", "b"]}},
        {"name": "obj", "shape": {"kind": "object", "fields": [
            {"name": "x", "shape": {"kind": "string"}, "hasDefault": true},
            {"name": "y", "shape": {"kind": "ref", "name": "Y"}, "flatten": true}
        ]}}
    ]});
    let definitions = json!({"Y": {"kind": "object", "fields": [{"name": "z", "shape": {"kind": "boolean"}}]}});
    let reader = ShapeReader::new(definitions.as_object().unwrap()).unwrap();
    let shape = reader.read(&descriptor).unwrap();
    assert_eq!(describe(&shape), descriptor);
    assert_eq!(
        issues_of(&shape, json!({"t": "n", "c": 3}))
            .iter()
            .map(|i| i.code.as_str())
            .collect::<Vec<_>>(),
        ["invalid.number.multipleOf"]
    );
}
