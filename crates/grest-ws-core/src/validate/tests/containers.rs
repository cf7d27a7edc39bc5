//! Objects, arrays and records: their types, lengths, element paths, and the order of issues.

use super::*;

validated!(
    struct Outer {
        inner: Item,
    }
);

validated!(
    struct Tagged {
        tags: HashMap<String, u32>,
    }
);

validated!(struct ItemList {
    items: Vec<Item> => Rules { min_length: Some(2), ..Rules::NONE },
});

#[test]
fn object_type() {
    for (text, value) in [
        ("[]", json!([])),
        (r#""x""#, json!("x")),
        ("5", json!(5)),
        ("true", json!(true)),
    ] {
        assert_eq!(
            issue_values::<Msg>(text),
            json!([{"path": "", "code": "invalid.object.type", "message": "Value must be an object", "value": value}]),
            "{text}"
        );
    }
    assert_eq!(
        issues::<Outer>(r#"{"inner":[1]}"#),
        r#"[{"path":"inner","code":"invalid.object.type","message":"Value must be an object","value":[1]}]"#
    );
    assert_eq!(
        issues::<Outer>(r#"{"inner":{"name":""}}"#),
        r#"[{"path":"inner.name","code":"invalid.string.nonEmpty","message":"Value must not be empty","value":""}]"#
    );
}

#[test]
fn unknown_fields_are_ignored() {
    assert_eq!(
        both::<Msg>(r#"{"text":"x","n":1,"extra":{"deep":[1]}}"#),
        Ok(Msg { text: "x".into(), n: 1 })
    );
}

#[test]
fn array_type() {
    assert_eq!(
        issues::<Arrays>(r#"{"min":{},"max":[],"range":[1]}"#),
        r#"[{"path":"min","code":"invalid.array.type","message":"Value must be an array","value":{}}]"#
    );
    assert_eq!(
        issue_values::<Vec<u32>>(r#""1,2""#),
        json!([{"path": "", "code": "invalid.array.type", "message": "Value must be an array", "value": "1,2"}])
    );
}

#[test]
fn array_lengths() {
    assert_eq!(
        issue_values::<Arrays>(r#"{"min":[],"max":[1,2,3],"range":[1]}"#),
        json!([
            {"path": "min", "code": "invalid.array.minLength", "message": "Array must have at least 1 items",
             "params": {"min": 1}, "value": []},
            {"path": "max", "code": "invalid.array.maxLength", "message": "Array must have at most 2 items",
             "params": {"max": 2}, "value": [1, 2, 3]},
        ])
    );
    let range = |value: Value| {
        json!([{"path": "range", "code": "invalid.array.range", "message": "Array length must be between 1 and 2",
                "params": {"min": 1, "max": 2}, "value": value}])
    };
    assert_eq!(
        issue_values::<Arrays>(r#"{"min":[1],"max":[],"range":[]}"#),
        range(json!([]))
    );
    assert_eq!(
        issue_values::<Arrays>(r#"{"min":[1],"max":[],"range":[1,2,3]}"#),
        range(json!([1, 2, 3]))
    );
    // The reported array is the coerced one.
    assert_eq!(
        issue_values::<Arrays>(r#"{"min":[1],"max":["1","2","3"],"range":[1]}"#)[0]["value"],
        json!([1, 2, 3])
    );
}

#[test]
fn array_elements_have_numeric_paths() {
    assert_eq!(
        issue_values::<Order>(r#"{"items":[{"name":"a"},{"name":""},{},{"name":null},5],"meta":{}}"#),
        json!([
            {"path": "items.1.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            {"path": "items.2.name", "code": "required", "message": "Value is required"},
            {"path": "items.3.name", "code": "required", "message": "Value is required", "value": null},
            {"path": "items.4", "code": "invalid.object.type", "message": "Value must be an object", "value": 5},
        ])
    );
    assert_eq!(
        issue_values::<Vec<u32>>(r#"[1,"x",null]"#),
        json!([
            {"path": "1", "code": "invalid.number.type", "message": "Value must be a number", "value": "x"},
            {"path": "2", "code": "required", "message": "Value is required", "value": null},
        ])
    );
}

#[test]
fn array_length_issue_skips_element_checks_on_the_slow_path() {
    // grest's validateArray returns after a length issue without looking at the elements.
    let input = json!({"items": [{"name": ""}]});
    assert_eq!(
        serde_json::to_value(decode_value::<ItemList>(input).unwrap_err()).unwrap(),
        json!([{"path": "items", "code": "invalid.array.minLength", "message": "Array must have at least 2 items",
                "params": {"min": 2}, "value": [{"name": ""}]}])
    );
    // Elements are checked when the length is fine.
    assert_eq!(
        issue_values::<ItemList>(r#"{"items":[{"name":"a"},{"name":""}]}"#),
        json!([{"path": "items.1.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty",
                "value": ""}])
    );
}

#[test]
fn record_type() {
    assert_eq!(
        issues::<Order>(r#"{"items":[],"meta":[]}"#),
        r#"[{"path":"meta","code":"invalid.record.type","message":"Value must be an object","value":[]}]"#
    );
    assert_eq!(
        issue_values::<Tagged>(r#"{"tags":"a=1"}"#),
        json!([{"path": "tags", "code": "invalid.record.type", "message": "Value must be an object", "value": "a=1"}])
    );
}

#[test]
fn record_values_are_addressed_by_key() {
    // grest's validateRecord checks each value at `<path>.<key>` (and the key itself at `<path>.<key>[key]`).
    assert_eq!(
        issue_values::<Order>(r#"{"items":[],"meta":{"a":{"name":"ok"},"b c":{"name":""},"d":{}}}"#),
        json!([
            {"path": "meta.b c.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            {"path": "meta.d.name", "code": "required", "message": "Value is required"},
        ])
    );
    assert_eq!(
        issue_values::<Tagged>(r#"{"tags":{"x":"y"}}"#),
        json!([{"path": "tags.x", "code": "invalid.number.type", "message": "Value must be a number", "value": "y"}])
    );
    assert_eq!(
        issue_values::<BTreeMap<String, u8>>(r#"{"k":300}"#),
        json!([{"path": "k", "code": "invalid.number.range", "message": "Value must be between 0 and 255",
                "params": {"min": 0, "max": 255}, "value": 300}])
    );
    let ok = both::<Tagged>(r#"{"tags":{"x":"1","y":2}}"#).unwrap();
    assert_eq!(ok.tags, HashMap::from([("x".to_owned(), 1), ("y".to_owned(), 2)]));
}

#[test]
fn every_issue_is_reported_in_order() {
    assert_eq!(
        issue_values::<Order>(r#"{"items":[{"name":""},{"name":7},{}],"meta":{"k":{"name":[]}},"note":{}}"#),
        json!([
            {"path": "items.0.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            {"path": "items.2.name", "code": "required", "message": "Value is required"},
            {"path": "meta.k.name", "code": "invalid.string.type", "message": "Value must be a string", "value": []},
            {"path": "note", "code": "invalid.string.type", "message": "Value must be a string", "value": {}},
        ])
    );
    assert_eq!(
        issue_values::<Msg>("{}"),
        json!([
            {"path": "text", "code": "required", "message": "Value is required"},
            {"path": "n", "code": "required", "message": "Value is required"},
        ])
    );
}

#[test]
fn vec_rules_on_typed_values() {
    let mut issues = Issues::new();
    let mut path = Path::root();
    let mark = path.push("list");
    let rules = Rules {
        max_length: Some(1),
        ..Rules::NONE
    };
    vec![Item { name: "a".into() }, Item { name: String::new() }].check_rules(&rules, &path, &mut issues);
    vec![Item { name: String::new() }].validate(&mut path, &mut issues);
    path.pop_to(mark);
    assert_eq!(
        serde_json::to_value(issues).unwrap(),
        json!([
            {"path": "list", "code": "invalid.array.maxLength", "message": "Array must have at most 1 items",
             "params": {"max": 1}, "value": [{"name": "a"}, {"name": ""}]},
            {"path": "list.0.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
        ])
    );
    assert_eq!(path.as_str(), "");
}
