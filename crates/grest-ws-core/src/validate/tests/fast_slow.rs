//! The fast path (serde, then the typed check) and the slow path (the JSON walk) agree.

use super::*;

#[test]
fn fast_and_slow_paths_agree_on_valid_input() {
    let order = r#"{"items":[{"name":"a"},{"name":"b"}],"meta":{"x":{"name":"c"}},"note":"n"}"#;
    let expected = Order {
        items: vec![Item { name: "a".into() }, Item { name: "b".into() }],
        meta: BTreeMap::from([("x".to_owned(), Item { name: "c".into() })]),
        note: Some("n".into()),
    };
    assert_eq!(decode::<Order>(Some(order)), Ok(expected.clone()));
    assert_eq!(
        decode_value::<Order>(serde_json::from_str(order).unwrap()),
        Ok(expected)
    );
    // The same input needing coercion gives the same value.
    assert_eq!(
        decode::<Msg>(Some(r#"{"text":"hi","n":5}"#)),
        decode::<Msg>(Some(r#"{"text":"hi","n":"5"}"#))
    );
    assert_eq!(
        decode::<Msg>(Some(r#"{"text":"hi","n":5}"#)),
        Ok(Msg {
            text: "hi".into(),
            n: 5
        })
    );
}

#[test]
fn fast_and_slow_paths_agree_on_constraint_violations() {
    // serde accepts these, so `decode` takes the fast path; `both` compares it with the slow path.
    for input in [
        r#"{"text":"","n":0}"#,
        r#"{"items":[{"name":""}],"meta":{"q":{"name":""}},"note":""}"#,
    ] {
        assert!(serde_json::from_str::<Value>(input).is_ok());
    }
    assert_eq!(issue_values::<Msg>(r#"{"text":"","n":0}"#)[0]["path"], "text");
    let issues = issue_values::<Order>(r#"{"items":[{"name":""}],"meta":{"q":{"name":""}},"note":""}"#);
    let paths: Vec<_> = issues.as_array().unwrap().iter().map(|i| i["path"].clone()).collect();
    assert_eq!(paths, [json!("items.0.name"), json!("meta.q.name")]);
    assert!(issue_values::<Arrays>(r#"{"min":[],"max":[1],"range":[1]}"#)[0]["code"] == "invalid.array.minLength");
}
