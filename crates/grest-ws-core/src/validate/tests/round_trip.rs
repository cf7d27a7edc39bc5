//! Issue lists are valid input themselves: what a server sends, a peer decodes under the same rules.

use super::*;

#[test]
fn issues_decode_from_their_own_json() {
    let text = issues::<Lengths>(r#"{"min":"a","max":"abcd","range":"a"}"#);
    let back = decode_value::<Vec<Issue>>(serde_json::from_str(&text).unwrap()).unwrap();
    assert_eq!(back.len(), 3);
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
    // An issue lacking a required member is itself rejected with grest's codes.
    let bad = decode_value::<Vec<Issue>>(json!([{"path": "x", "message": 1}])).unwrap_err();
    assert_eq!(
        serde_json::to_value(bad).unwrap(),
        json!([{"path": "0.code", "code": "required", "message": "Value is required"}])
    );
}
