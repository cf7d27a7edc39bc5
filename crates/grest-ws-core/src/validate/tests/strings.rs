//! String type, non-empty and length constraints (counted in UTF-16 units, like JavaScript).

use super::*;

#[test]
fn string_type() {
    assert_eq!(
        issues::<Msg>(r#"{"text":[1],"n":1}"#),
        r#"[{"path":"text","code":"invalid.string.type","message":"Value must be a string","value":[1]}]"#
    );
    assert_eq!(
        issues::<Msg>(r#"{"text":{"a":1},"n":1}"#),
        r#"[{"path":"text","code":"invalid.string.type","message":"Value must be a string","value":{"a":1}}]"#
    );
}

#[test]
fn string_non_empty() {
    assert_eq!(
        issues::<Msg>(r#"{"text":"","n":1}"#),
        r#"[{"path":"text","code":"invalid.string.nonEmpty","message":"Value must not be empty","value":""}]"#
    );
    // A single space is not empty.
    assert_eq!(both::<Msg>(r#"{"text":" ","n":1}"#), Ok(Msg { text: " ".into(), n: 1 }));
}

#[test]
fn string_min_and_max_length() {
    assert_eq!(
        issue_values::<Lengths>(r#"{"min":"a","max":"abcd","range":"ab"}"#),
        json!([
            {"path": "min", "code": "invalid.string.minLength", "message": "Value must be at least 2 characters",
             "params": {"min": 2}, "value": "a"},
            {"path": "max", "code": "invalid.string.maxLength", "message": "Value must be at most 3 characters",
             "params": {"max": 3}, "value": "abcd"},
        ])
    );
}

#[test]
fn string_with_both_bounds_reports_only_range() {
    let range = |value: &str| {
        json!([{"path": "range", "code": "invalid.string.range",
                "message": "Value must be between 2 and 3 characters",
                "params": {"min": 2, "max": 3}, "value": value}])
    };
    assert_eq!(
        issue_values::<Lengths>(r#"{"min":"ab","max":"abc","range":"a"}"#),
        range("a")
    );
    assert_eq!(
        issue_values::<Lengths>(r#"{"min":"ab","max":"abc","range":"abcd"}"#),
        range("abcd")
    );
    assert!(both::<Lengths>(r#"{"min":"ab","max":"","range":"abc"}"#).is_ok());
}

#[test]
fn string_length_counts_utf16_units_like_js() {
    // "😀" is one char but two UTF-16 units (its JS `length` is 2).
    assert!(both::<Lengths>(r#"{"min":"😀","max":"é😀","range":"😀"}"#).is_ok());
    assert_eq!(
        issue_values::<Lengths>(r#"{"min":"é","max":"😀😀","range":"ab"}"#),
        json!([
            {"path": "min", "code": "invalid.string.minLength", "message": "Value must be at least 2 characters",
             "params": {"min": 2}, "value": "é"},
            {"path": "max", "code": "invalid.string.maxLength", "message": "Value must be at most 3 characters",
             "params": {"max": 3}, "value": "😀😀"},
        ])
    );
}
