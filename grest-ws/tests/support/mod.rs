//! Helpers of the derive's behaviour tests: every input goes through both validation paths, which must agree.

use std::fmt::Debug;

use grest_ws::protocol::validate::{check, decode, decode_value};
use grest_ws::{Issue, Validate};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Decodes `json` through `decode` (serde first, then the typed check) and through `decode_value` (the JSON walk),
/// checks that both agree, and returns the result. When serde accepts the input, the typed check must find
/// exactly the issues the walk lists.
pub(crate) fn both<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> Result<T, Vec<Issue>> {
    let slow = walk::<T>(json);
    if let Ok(typed) = serde_json::from_str::<T>(json) {
        assert_eq!(
            check(&typed).err(),
            slow.as_ref().err().cloned(),
            "the typed check disagrees on {json}"
        );
    }
    slow
}

/// Like [`both`], without comparing the typed check (an untagged enum's typed check reports no value).
pub(crate) fn walk<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> Result<T, Vec<Issue>> {
    let fast = decode::<T>(Some(json));
    let slow = decode_value::<T>(serde_json::from_str(json).expect("test input must be valid JSON"));
    assert_eq!(fast, slow, "the two paths disagree on {json}");
    fast
}

/// The issues of an input that must be rejected, as JSON (through [`both`]).
pub(crate) fn issues<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> Value {
    serde_json::to_value(both::<T>(json).expect_err("input must be rejected")).unwrap()
}
