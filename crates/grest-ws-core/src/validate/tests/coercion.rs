//! grest's coercions on the slow path: strings to numbers and booleans, numbers and booleans to strings.

use super::*;

validated!(
    struct Scalars {
        b: bool,
        s: String,
        i: i32,
        f: f64,
    }
);

validated!(
    struct Wide {
        big: u64,
        small: i64,
        flag: bool,
    }
);

#[test]
fn strings_coerce_to_integers() {
    let msg = |n| Msg { text: "x".into(), n };
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"5"}"#), Ok(msg(5)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":" 7 "}"#), Ok(msg(7)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"1e2"}"#), Ok(msg(100)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"+3"}"#), Ok(msg(3)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"4.0"}"#), Ok(msg(4)));
    // JavaScript's Number(): a blank string is 0; hexadecimal, octal and binary literals are numbers.
    assert_eq!(both::<Msg>(r#"{"text":"x","n":""}"#), Ok(msg(0)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"   "}"#), Ok(msg(0)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"0x1F"}"#), Ok(msg(31)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"0o17"}"#), Ok(msg(15)));
    assert_eq!(both::<Msg>(r#"{"text":"x","n":"0b101"}"#), Ok(msg(5)));
    // ... but not signed ones, nor anything with trailing garbage.
    for bad in ["abc", "-0x1F", "0x", "5px", "1_000", "0x1G"] {
        assert_eq!(
            issue_values::<Msg>(&format!(r#"{{"text":"x","n":"{bad}"}}"#)),
            json!([{"path": "n", "code": "invalid.number.type", "message": "Value must be a number", "value": bad}]),
            "{bad}"
        );
    }
    assert_eq!(decode::<u32>(Some(r#""5""#)), Ok(5));
    assert_eq!(decode::<f64>(Some(r#""-2.5""#)), Ok(-2.5));
}

#[test]
fn booleans_coerce_like_grest() {
    let cases = [
        ("true", true),
        ("false", false),
        (r#""true""#, true),
        (r#""1""#, true),
        ("1", true),
        ("1.0", true),
        (r#""false""#, false),
        (r#""0""#, false),
        ("0", false),
    ];
    for (text, expected) in cases {
        let json = format!(r#"{{"b":{text},"s":"","i":0,"f":0}}"#);
        assert_eq!(both::<Scalars>(&json).map(|s| s.b), Ok(expected), "{text}");
    }
    for (text, value) in [
        (r#""yes""#, json!("yes")),
        (r#""TRUE""#, json!("TRUE")),
        ("2", json!(2)),
        (r#""""#, json!("")),
        ("[]", json!([])),
    ] {
        let json = format!(r#"{{"b":{text},"s":"","i":0,"f":0}}"#);
        assert_eq!(
            issue_values::<Scalars>(&json),
            json!([{"path": "b", "code": "invalid.boolean.type", "message": "Value must be a boolean", "value": value}]),
            "{text}"
        );
    }
}

#[test]
fn numbers_and_booleans_coerce_to_strings_like_js_string() {
    let s = |text: &str| both::<Scalars>(&format!(r#"{{"b":true,"s":{text},"i":0,"f":0}}"#)).map(|s| s.s);
    assert_eq!(s("5"), Ok("5".into()));
    assert_eq!(s("-12"), Ok("-12".into()));
    assert_eq!(s("1.5"), Ok("1.5".into()));
    assert_eq!(s("true"), Ok("true".into()));
    assert_eq!(s("false"), Ok("false".into()));
    // JSON.parse("1.0") is the number 1, and String(1) is "1".
    assert_eq!(s("1.0"), Ok("1".into()));
    assert_eq!(s("-0.0"), Ok("0".into()));
    assert_eq!(s("1e3"), Ok("1000".into()));
    assert_eq!(s("18446744073709551615"), Ok("18446744073709551615".into()));
}

#[test]
fn coercion_fills_every_field_of_the_slow_path() {
    assert_eq!(
        both::<Scalars>(r#"{"b":"1","s":42,"i":"-7","f":"0.25"}"#),
        Ok(Scalars {
            b: true,
            s: "42".into(),
            i: -7,
            f: 0.25
        })
    );
}

#[test]
fn wide_integers_survive_the_slow_path_exactly() {
    // The boolean needs coercion, so the whole object takes the slow path.
    assert_eq!(
        both::<Wide>(r#"{"big":18446744073709551615,"small":-9223372036854775808,"flag":"true"}"#),
        Ok(Wide {
            big: u64::MAX,
            small: i64::MIN,
            flag: true
        })
    );
    assert_eq!(
        both::<Wide>(r#"{"big":"9007199254740993","small":"-9007199254740993","flag":1}"#),
        Ok(Wide {
            big: 9_007_199_254_740_993,
            small: -9_007_199_254_740_993,
            flag: true
        })
    );
}
