//! `#[derive(Validate)]` rules beyond lengths: `pattern`, the string formats, `range(..)` and `multiple_of`,
//! each with its grest code, on the typed check and the JSON walk alike.

mod support;

use grest_ws::Validate;
use grest_ws::protocol::validate::{Format, Shape, check};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::{both, issues};

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Formats {
    #[validate(email)]
    email: String,
    #[validate(url)]
    url: String,
    #[validate(uuid)]
    uuid: String,
    #[validate(date)]
    date: String,
    #[validate(date_time)]
    date_time: String,
    #[validate(ip)]
    ip: String,
    #[validate(ipv4)]
    ipv4: String,
    #[validate(ipv6)]
    ipv6: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Patterned {
    #[validate(pattern = "^[a-z0-9-]+$")]
    slug: String,
    /// Rules combine, each one reported.
    #[validate(non_empty, pattern = "^#", max_length = 4)]
    tag: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, Validate)]
struct Numbers {
    #[validate(range(min = 1, max = 10))]
    rating: f64,
    #[validate(multiple_of = 5)]
    step: u32,
    #[validate(multiple_of = 0.5, min = 0)]
    half: f64,
}

fn valid_formats() -> Value {
    json!({
        "email": "ann@example.com", "url": "https://example.com/a?b#c", "uuid": "123e4567-e89b-12d3-a456-426614174000",
        "date": "2024-02-29", "date_time": "2024-02-29T12:00:00.5+01:00", "ip": "::1", "ipv4": "10.0.0.1",
        "ipv6": "2001:db8::1",
    })
}

#[test]
fn each_format_has_its_code_and_message() {
    assert!(both::<Formats>(&valid_formats().to_string()).is_ok());
    let cases = [
        (
            "email",
            "ann@",
            "invalid.string.email",
            "Value must be a valid email address",
        ),
        ("url", "example.com", "invalid.string.url", "Value must be a valid URL"),
        ("uuid", "123", "invalid.string.uuid", "Value must be a valid UUID"),
        (
            "date",
            "2023-02-29",
            "invalid.string.date",
            "Value must be a valid date (YYYY-MM-DD)",
        ),
        (
            "date_time",
            "2024-02-29",
            "invalid.string.dateTime",
            "Value must be a valid date-time (RFC 3339)",
        ),
        ("ip", "1.2.3", "invalid.string.ip", "Value must be a valid IP address"),
        (
            "ipv4",
            "::1",
            "invalid.string.ipv4",
            "Value must be a valid IPv4 address",
        ),
        (
            "ipv6",
            "10.0.0.1",
            "invalid.string.ipv6",
            "Value must be a valid IPv6 address",
        ),
    ];
    for (field, bad, code, message) in cases {
        let mut input = valid_formats();
        input[field] = json!(bad);
        assert_eq!(
            issues::<Formats>(&input.to_string()),
            json!([{"path": field, "code": code, "message": message, "value": bad}]),
            "{field}"
        );
    }
}

#[test]
fn a_format_is_checked_after_coercion() {
    // `5` becomes the string "5", which is no email address.
    let mut input = valid_formats();
    input["email"] = json!(5);
    assert_eq!(issues::<Formats>(&input.to_string())[0]["value"], "5");
}

#[test]
fn pattern_mismatch_names_the_pattern() {
    assert!(both::<Patterned>(r#"{"slug":"my-room-2"}"#).is_ok());
    assert_eq!(
        issues::<Patterned>(r#"{"slug":"My Room"}"#),
        json!([{"path": "slug", "code": "invalid.string.pattern", "message": "Value must match the pattern ^[a-z0-9-]+$",
                "params": {"pattern": "^[a-z0-9-]+$"}, "value": "My Room"}])
    );
    // Unanchored patterns search, as JavaScript's `test` does.
    assert!(both::<Patterned>(r##"{"slug":"a","tag":"#ab"}"##).is_ok());
    let codes = |input: &str| -> Vec<Value> {
        issues::<Patterned>(input)
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["code"].clone())
            .collect()
    };
    assert_eq!(
        codes(r#"{"slug":"a","tag":""}"#),
        ["invalid.string.nonEmpty", "invalid.string.pattern"]
    );
    assert_eq!(
        codes(r#"{"slug":"a","tag":"abcde"}"#),
        ["invalid.string.maxLength", "invalid.string.pattern"]
    );
}

#[test]
fn a_pattern_is_data_in_the_shape() {
    let Shape::Named(_, object) = Patterned::shape() else {
        panic!("named")
    };
    let Shape::Object(fields) = object.get() else {
        panic!("object")
    };
    let pattern = fields[0].rules.pattern.expect("a pattern");
    assert_eq!(pattern.source(), "^[a-z0-9-]+$");
    assert!(pattern.is_match("abc") && !pattern.is_match("ABC"));
    assert_eq!(fields[1].rules.max_length, Some(4));
}

#[test]
fn range_and_multiple_of() {
    assert_eq!(
        both::<Numbers>(r#"{"rating":"2.5","step":"15","half":1.5}"#),
        Ok(Numbers {
            rating: 2.5,
            step: 15,
            half: 1.5
        })
    );
    assert_eq!(
        issues::<Numbers>(r#"{"rating":0,"step":7,"half":0.25}"#),
        json!([
            {"path": "rating", "code": "invalid.number.range", "message": "Value must be between 1 and 10",
             "params": {"min": 1, "max": 10}, "value": 0},
            {"path": "step", "code": "invalid.number.multipleOf", "message": "Value must be a multiple of 5",
             "params": {"multipleOf": 5}, "value": 7},
            {"path": "half", "code": "invalid.number.multipleOf", "message": "Value must be a multiple of 0.5",
             "params": {"multipleOf": 0.5}, "value": 0.25},
        ])
    );
    // A bound and `multiple_of` are separate issues.
    let codes: Vec<_> = check(&Numbers {
        rating: 5.0,
        step: 5,
        half: -0.75,
    })
    .unwrap_err()
    .into_iter()
    .map(|i| i.code)
    .collect();
    assert_eq!(codes, ["invalid.number.min", "invalid.number.multipleOf"]);
}

#[test]
fn formats_are_data_in_the_shape() {
    let Shape::Named(_, object) = Formats::shape() else {
        panic!("named")
    };
    let Shape::Object(fields) = object.get() else {
        panic!("object")
    };
    let formats: Vec<_> = fields.iter().map(|f| f.rules.format.map(Format::name)).collect();
    assert_eq!(
        formats,
        ["email", "url", "uuid", "date", "dateTime", "ip", "ipv4", "ipv6"].map(Some)
    );
}
