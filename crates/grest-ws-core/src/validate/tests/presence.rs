//! Missing, `null` and optional values; fields with defaults; payloads that are absent or not JSON.

use super::*;

validated!(struct Optionals {
    text: Option<String> => NON_EMPTY,
    n: Option<u32>,
});

/// A struct with `#[serde(default)]` on a field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Defaulted {
    #[serde(default)]
    n: u32,
    text: String,
}

impl Validate for Defaulted {
    fn shape() -> Shape {
        static FIELDS: [Field; 2] = [
            Field {
                has_default: true,
                ..Field::new("n", <u32 as Validate>::shape)
            },
            Field::new("text", <String as Validate>::shape),
        ];
        Shape::Object(&FIELDS)
    }
}

#[test]
fn missing_field_is_required_without_value() {
    assert_eq!(
        issues::<Msg>(r#"{"n":1}"#),
        r#"[{"path":"text","code":"required","message":"Value is required"}]"#
    );
}

#[test]
fn null_field_is_required_with_null_value() {
    // grest passes the offending `null` to the issue, so JSON.stringify keeps `"value":null`
    // (only `undefined` is dropped).
    assert_eq!(
        issues::<Msg>(r#"{"text":null,"n":1}"#),
        r#"[{"path":"text","code":"required","message":"Value is required","value":null}]"#
    );
}

#[test]
fn missing_payload_is_required_at_root() {
    assert_eq!(
        decode::<Msg>(None).unwrap_err(),
        vec![Issue::new("", "required", "Value is required")]
    );
    assert_eq!(
        decode::<u32>(None).unwrap_err(),
        vec![Issue::new("", "required", "Value is required")]
    );
}

#[test]
fn invalid_json_is_no_payload() {
    for text in [r#"{"text":"#, "{nope", "", "tru", r#"{"text":"hi","n":5"#] {
        assert_eq!(
            serde_json::to_string(&decode::<Msg>(Some(text)).unwrap_err()).unwrap(),
            r#"[{"path":"","code":"required","message":"Value is required"}]"#,
            "{text:?}"
        );
    }
    // An optional payload may be missing, including by being unparseable.
    assert_eq!(decode::<Option<Msg>>(Some("{nope")), Ok(None));
    assert_eq!(decode::<Option<Msg>>(None), Ok(None));
}

#[test]
fn null_payload_is_required_at_root() {
    assert_eq!(
        issues::<Msg>("null"),
        r#"[{"path":"","code":"required","message":"Value is required","value":null}]"#
    );
    assert_eq!(both::<Option<Msg>>("null"), Ok(None));
    assert_eq!(both::<()>("null"), Ok(()));
    assert_eq!(both::<Value>("null"), Ok(Value::Null));
}

#[test]
fn optional_fields_may_be_missing_or_null() {
    let none = Optionals { text: None, n: None };
    assert_eq!(both::<Optionals>("{}"), Ok(none.clone()));
    assert_eq!(both::<Optionals>(r#"{"text":null,"n":null}"#), Ok(none));
    assert_eq!(
        both::<Optionals>(r#"{"text":"x","n":"7"}"#),
        Ok(Optionals {
            text: Some("x".into()),
            n: Some(7)
        })
    );
}

#[test]
fn present_optional_values_are_still_checked() {
    assert_eq!(
        issue_values::<Optionals>(r#"{"text":"","n":-1}"#),
        json!([
            {"path": "text", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            {"path": "n", "code": "invalid.number.range", "message": "Value must be between 0 and 4294967295",
             "params": {"min": 0, "max": 4_294_967_295_u64}, "value": -1},
        ])
    );
    assert_eq!(
        issue_values::<Optionals>(r#"{"text":{}}"#),
        json!([{"path": "text", "code": "invalid.string.type", "message": "Value must be a string", "value": {}}])
    );
}

#[test]
fn defaulted_field_may_be_missing() {
    assert_eq!(
        both::<Defaulted>(r#"{"text":"x"}"#),
        Ok(Defaulted { n: 0, text: "x".into() })
    );
    assert_eq!(
        both::<Defaulted>(r#"{"text":5}"#),
        Ok(Defaulted { n: 0, text: "5".into() })
    );
    // An explicit null takes the default too, as grest applies defaults to null.
    assert_eq!(
        both::<Defaulted>(r#"{"n":null,"text":"x"}"#),
        Ok(Defaulted { n: 0, text: "x".into() })
    );
    assert_eq!(
        issues::<Defaulted>(r#"{"n":"x"}"#),
        r#"[{"path":"n","code":"invalid.number.type","message":"Value must be a number","value":"x"},{"path":"text","code":"required","message":"Value is required"}]"#
    );
}
