//! `#[derive(Validate)]` on tuple structs and newtypes, Rust tuples, and `#[serde(flatten)]` fields: the wire
//! forms serde gives them, with grest's tuple codes and the flattened fields' rules at the parent's paths.

mod support;

use grest_ws::Validate;
use grest_ws::protocol::validate::{Shape, check};
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{both, issues};

/// A tuple struct: a JSON array of two.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Range(#[validate(min = 0)] i64, #[validate(max = 100)] i64);

/// A newtype: its field, transparently.
#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct UserId(String);

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Page {
    #[validate(min = 1)]
    page: u64,
    #[validate(range(min = 1, max = 50))]
    per_page: u32,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
struct Search {
    #[validate(non_empty)]
    query: String,
    #[serde(flatten)]
    paging: Page,
    owner: UserId,
    window: Option<Range>,
    pair: (String, u8),
    #[validate(max_length = 2)]
    points: Vec<(i64, i64)>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Plain {
    pair: (u8, String),
}

fn search(extra: serde_json::Value) -> String {
    let mut base = json!({"query": "q", "page": 1, "per_page": 10, "owner": "u1", "pair": ["a", 1], "points": []});
    for (key, value) in extra.as_object().unwrap() {
        base[key] = value.clone();
    }
    base.to_string()
}

#[test]
fn tuples_newtypes_and_flattened_fields_decode() {
    assert_eq!(
        both::<Search>(&search(json!({"page": "2", "window": [0, 100], "points": [[1, 2]]}))),
        Ok(Search {
            query: "q".into(),
            paging: Page { page: 2, per_page: 10 },
            owner: UserId("u1".into()),
            window: Some(Range(0, 100)),
            pair: ("a".into(), 1),
            points: vec![(1, 2)],
        })
    );
}

#[test]
fn flattened_fields_are_checked_at_the_parent_path() {
    assert_eq!(
        issues::<Search>(&search(json!({"query": "", "page": 0, "per_page": 51}))),
        json!([
            {"path": "query", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            {"path": "page", "code": "invalid.number.min", "message": "Value must be at least 1", "params": {"min": 1},
             "value": 0},
            {"path": "per_page", "code": "invalid.number.range", "message": "Value must be between 1 and 50",
             "params": {"min": 1, "max": 50}, "value": 51},
        ])
    );
    let search = serde_json::from_str::<serde_json::Value>(&search(json!({}))).unwrap();
    let mut missing = search.clone();
    missing.as_object_mut().unwrap().remove("per_page");
    assert_eq!(
        issues::<Search>(&missing.to_string()),
        json!([{"path": "per_page", "code": "required", "message": "Value is required"}])
    );
}

#[test]
fn tuple_codes_and_element_paths() {
    assert_eq!(
        issues::<Search>(&search(json!({"window": [-1, 101]}))),
        json!([
            {"path": "window.0", "code": "invalid.number.min", "message": "Value must be at least 0",
             "params": {"min": 0}, "value": -1},
            {"path": "window.1", "code": "invalid.number.max", "message": "Value must be at most 100",
             "params": {"max": 100}, "value": 101},
        ])
    );
    assert_eq!(
        issues::<Search>(&search(json!({"window": [1, 2, 3]}))),
        json!([{"path": "window", "code": "invalid.tuple.length", "message": "Array must have exactly 2 items",
                "params": {"length": 2}, "value": [1, 2, 3]}])
    );
    assert_eq!(
        issues::<Search>(&search(json!({"pair": "a,1"}))),
        json!([{"path": "pair", "code": "invalid.tuple.type", "message": "Value must be an array", "value": "a,1"}])
    );
    assert_eq!(
        issues::<Search>(&search(json!({"pair": ["a", 300]}))),
        json!([{"path": "pair.1", "code": "invalid.number.range", "message": "Value must be between 0 and 255",
                "params": {"min": 0, "max": 255}, "value": 300}])
    );
    assert_eq!(
        issues::<Search>(&search(json!({"points": [[1, 2], [3], [5, 6]]})))[0]["code"],
        "invalid.array.maxLength"
    );
    assert_eq!(
        issues::<Search>(&search(json!({"points": [[1, 2], [3]]})))[0]["path"],
        "points.1"
    );
    assert_eq!(issues::<Range>("[-5, 0]")[0]["path"], "0");
    assert_eq!(
        both::<Plain>(r#"{"pair":["1",2]}"#),
        Ok(Plain { pair: (1, "2".into()) })
    );
}

#[test]
fn shapes_and_fast_paths() {
    let Shape::Named("Range", inner) = Range::shape() else {
        panic!("named")
    };
    let Shape::Tuple(elements) = inner.get() else {
        panic!("a tuple")
    };
    assert_eq!(
        (elements.len(), elements[0].rules.min, elements[1].rules.max),
        (2, Some(0.0), Some(100.0))
    );
    assert!(matches!(UserId::shape(), Shape::String));
    assert!(matches!(<(u8, String)>::shape(), Shape::Tuple([_, _])));
    let Shape::Named(_, object) = Search::shape() else {
        panic!("named")
    };
    let Shape::Object(fields) = object.get() else {
        panic!("object")
    };
    let flattened: Vec<_> = fields.iter().map(|f| (f.name, f.flatten)).filter(|f| f.1).collect();
    assert_eq!(flattened, [("paging", true)]);
    // Types without constraints are never walked.
    const { assert!(!<Plain as Validate>::DEEP) };
    const { assert!(!<UserId as Validate>::DEEP) };
    const { assert!(!<(u8, (String, bool))>::DEEP) };
    const { assert!(<Range as Validate>::DEEP) };
    const { assert!(<(u8, Range)>::DEEP) };
    assert!(check(&(1u8, Range(-1, 0))).is_err_and(|issues| issues[0].path == "1.0"));
}
