//! Number type, integers, declared bounds and the integer types' own ranges.

use super::*;

validated!(struct Bounds {
    min: f64 => Rules { min: Some(1.0), ..Rules::NONE },
    max: f64 => Rules { max: Some(10.0), ..Rules::NONE },
    range: f64 => Rules { min: Some(1.0), max: Some(10.0), ..Rules::NONE },
    half: f64 => Rules { min: Some(0.5), ..Rules::NONE },
});

validated!(
    struct Ints {
        a: u8,
        b: i8,
        c: u16,
        d: i16,
        e: u32,
        f: i32,
        g: u64,
        h: i64,
        i: usize,
    }
);

validated!(struct Bounded {
    n: u32 => Rules { min: Some(5.0), ..Rules::NONE },
    m: u64 => Rules { max: Some(10.0), ..Rules::NONE },
    k: i64 => Rules { min: Some(-3.0), ..Rules::NONE },
});

#[test]
fn number_type() {
    for (value, text) in [
        (json!("abc"), r#""abc""#),
        (json!(true), "true"),
        (json!([]), "[]"),
        (json!({}), "{}"),
        (json!("12abc"), r#""12abc""#),
        (json!("Infinity"), r#""Infinity""#),
        (json!("1e999"), r#""1e999""#),
        (json!("NaN"), r#""NaN""#),
    ] {
        assert_eq!(
            issue_values::<Msg>(&format!(r#"{{"text":"x","n":{text}}}"#)),
            json!([{"path": "n", "code": "invalid.number.type", "message": "Value must be a number", "value": value}]),
            "{text}"
        );
    }
}

#[test]
fn number_integer() {
    assert_eq!(
        issues::<Msg>(r#"{"text":"x","n":1.5}"#),
        r#"[{"path":"n","code":"invalid.number.integer","message":"Value must be an integer","value":1.5}]"#
    );
    // Coerced from a string: the issue carries the coerced number.
    assert_eq!(
        issues::<Msg>(r#"{"text":"x","n":"2.25"}"#),
        r#"[{"path":"n","code":"invalid.number.integer","message":"Value must be an integer","value":2.25}]"#
    );
    // A whole float is an integer.
    assert_eq!(
        both::<Msg>(r#"{"text":"x","n":2.0}"#),
        Ok(Msg { text: "x".into(), n: 2 })
    );
}

#[test]
fn number_min_max_range() {
    assert_eq!(
        issue_values::<Bounds>(r#"{"min":0.5,"max":11,"range":1,"half":0.5}"#),
        json!([
            {"path": "min", "code": "invalid.number.min", "message": "Value must be at least 1",
             "params": {"min": 1}, "value": 0.5},
            {"path": "max", "code": "invalid.number.max", "message": "Value must be at most 10",
             "params": {"max": 10}, "value": 11},
        ])
    );
    let range = |value: Value| {
        json!([{"path": "range", "code": "invalid.number.range", "message": "Value must be between 1 and 10",
                "params": {"min": 1, "max": 10}, "value": value}])
    };
    assert_eq!(
        issue_values::<Bounds>(r#"{"min":1,"max":10,"range":0,"half":1}"#),
        range(json!(0))
    );
    assert_eq!(
        issue_values::<Bounds>(r#"{"min":1,"max":10,"range":10.5,"half":1}"#),
        range(json!(10.5))
    );
    // Fractional bounds are written as such.
    assert_eq!(
        issue_values::<Bounds>(r#"{"min":1,"max":10,"range":5,"half":0.25}"#),
        json!([{"path": "half", "code": "invalid.number.min", "message": "Value must be at least 0.5",
                "params": {"min": 0.5}, "value": 0.25}])
    );
    // Bounds are inclusive.
    assert!(both::<Bounds>(r#"{"min":1,"max":10,"range":10,"half":0.5}"#).is_ok());
}

#[test]
fn integer_types_have_their_range() {
    let ok = r#"{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":0,"h":0,"i":0}"#;
    assert!(both::<Ints>(ok).is_ok());
    let cases: [(&str, Value, Value, Value); 6] = [
        ("a", json!(256), json!(0), json!(255)),
        ("b", json!(-129), json!(-128), json!(127)),
        ("c", json!(65536), json!(0), json!(65535)),
        ("d", json!(32768), json!(-32768), json!(32767)),
        ("e", json!(-1), json!(0), json!(4_294_967_295_u64)),
        (
            "f",
            json!(2_147_483_648_u64),
            json!(-2_147_483_648_i64),
            json!(2_147_483_647),
        ),
    ];
    for (field, value, min, max) in cases {
        let mut input: Value = serde_json::from_str(ok).unwrap();
        input[field] = value.clone();
        let message = format!("Value must be between {min} and {max}");
        assert_eq!(
            issue_values::<Ints>(&input.to_string()),
            json!([{"path": field, "code": "invalid.number.range", "message": message,
                    "params": {"min": min, "max": max}, "value": value}]),
            "{field}"
        );
    }
    for field in ["g", "i"] {
        let mut input: Value = serde_json::from_str(ok).unwrap();
        input[field] = json!(-1);
        assert_eq!(
            issue_values::<Ints>(&input.to_string()),
            json!([{"path": field, "code": "invalid.number.min", "message": "Value must be at least 0",
                    "params": {"min": 0}, "value": -1}]),
            "{field}"
        );
    }
}

#[test]
fn integer_and_bound_issues_come_together() {
    let ok = r#"{"a":0,"b":0,"c":0,"d":0,"e":0,"f":0,"g":-1.5,"h":1.5,"i":0}"#;
    assert_eq!(
        issue_values::<Ints>(ok),
        json!([
            {"path": "g", "code": "invalid.number.integer", "message": "Value must be an integer", "value": -1.5},
            {"path": "g", "code": "invalid.number.min", "message": "Value must be at least 0",
             "params": {"min": 0}, "value": -1.5},
            {"path": "h", "code": "invalid.number.integer", "message": "Value must be an integer", "value": 1.5},
        ])
    );
    assert_eq!(
        issue_values::<Msg>(r#"{"text":"x","n":-0.5}"#),
        json!([
            {"path": "n", "code": "invalid.number.integer", "message": "Value must be an integer", "value": -0.5},
            {"path": "n", "code": "invalid.number.range", "message": "Value must be between 0 and 4294967295",
             "params": {"min": 0, "max": 4_294_967_295_u64}, "value": -0.5},
        ])
    );
}

#[test]
fn declared_bounds_combine_with_the_type_bounds_on_both_paths() {
    // `u32` + `min = 5` is grest's `IsUint32.min(5)`: min and max are both set, so one `range` issue.
    let range = json!([{"path": "n", "code": "invalid.number.range",
                        "message": "Value must be between 5 and 4294967295",
                        "params": {"min": 5, "max": 4_294_967_295_u64}, "value": 3}]);
    // Fast path (serde accepts the input) and slow path (a coerced string) agree.
    assert_eq!(issue_values::<Bounded>(r#"{"n":3,"m":0,"k":0}"#), range);
    assert_eq!(issue_values::<Bounded>(r#"{"n":"3","m":0,"k":0}"#), range);
    // `u64` has min 0, so `max = 10` makes a range as well.
    let range = json!([{"path": "m", "code": "invalid.number.range", "message": "Value must be between 0 and 10",
                        "params": {"min": 0, "max": 10}, "value": 11}]);
    assert_eq!(issue_values::<Bounded>(r#"{"n":5,"m":11,"k":0}"#), range);
    assert_eq!(issue_values::<Bounded>(r#"{"n":5,"m":"11","k":0}"#), range);
    // `i64` has no bounds of its own.
    let min = json!([{"path": "k", "code": "invalid.number.min", "message": "Value must be at least -3",
                      "params": {"min": -3}, "value": -4}]);
    assert_eq!(issue_values::<Bounded>(r#"{"n":5,"m":0,"k":-4}"#), min);
    assert_eq!(issue_values::<Bounded>(r#"{"n":5,"m":0,"k":"-4"}"#), min);
}
