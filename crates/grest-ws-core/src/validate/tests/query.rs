//! Query strings: every value a string, repeated keys an array, then coerced like a payload.

use super::*;

validated!(
    struct Query {
        page: u32,
        ids: Vec<u32>,
        verbose: Option<bool>,
        q: Option<String>,
    }
);

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn query_coerces_and_collects_repeated_keys() {
    let q = decode_query::<Query>(pairs(&[
        ("page", "2"),
        ("ids", "1"),
        ("ids", "20"),
        ("ids", "3"),
        ("verbose", "true"),
    ]))
    .unwrap();
    assert_eq!(
        q,
        Query {
            page: 2,
            ids: vec![1, 20, 3],
            verbose: Some(true),
            q: None
        }
    );
    let q = decode_query::<Query>(pairs(&[("ids", "7"), ("page", "0"), ("ids", "8"), ("q", "5")])).unwrap();
    assert_eq!((q.page, q.ids, q.verbose, q.q), (0, vec![7, 8], None, Some("5".into())));
}

#[test]
fn query_issues() {
    // A single value stays a string, which is not an array; a repeated scalar is an array.
    let issues = decode_query::<Query>(pairs(&[
        ("page", "x"),
        ("page", "y"),
        ("ids", "1"),
        ("verbose", "maybe"),
    ]))
    .unwrap_err();
    assert_eq!(
        serde_json::to_value(issues).unwrap(),
        json!([
            {"path": "page", "code": "invalid.number.type", "message": "Value must be a number", "value": ["x", "y"]},
            {"path": "ids", "code": "invalid.array.type", "message": "Value must be an array", "value": "1"},
            {"path": "verbose", "code": "invalid.boolean.type", "message": "Value must be a boolean", "value": "maybe"},
        ])
    );
    let issues = decode_query::<Query>(Vec::new()).unwrap_err();
    assert_eq!(
        serde_json::to_value(issues).unwrap(),
        json!([
            {"path": "page", "code": "required", "message": "Value is required"},
            {"path": "ids", "code": "required", "message": "Value is required"},
        ])
    );
    let issues = decode_query::<Query>(pairs(&[("page", "1"), ("ids", "1"), ("ids", "-2")])).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(
        (issues[0].path.as_str(), issues[0].code.as_str()),
        ("ids.1", "invalid.number.range")
    );
    assert_eq!(issues[0].value, Some(json!(-2)));
}
