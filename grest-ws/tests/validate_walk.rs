//! `#[derive(Validate)]` knows at compile time which types have anything to check, so plain payloads cost nothing
//! to validate, while declared constraints anywhere inside a value are still found, with their paths.

use grest_ws::Validate;
use grest_ws::protocol::validate::check;
use serde::{Deserialize, Serialize};

/// No constraint anywhere.
#[derive(Debug, Serialize, Deserialize, Validate)]
struct Plain {
    seq: u64,
    text: String,
    tags: Vec<String>,
    note: Option<String>,
}

/// A constraint on a field.
#[derive(Debug, Serialize, Deserialize, Validate)]
struct Named {
    #[validate(non_empty)]
    name: String,
}

/// A constraint only inside a nested value.
#[derive(Debug, Serialize, Deserialize, Validate)]
#[serde(rename_all = "camelCase")]
struct Outer {
    plain: Plain,
    members: Vec<Named>,
}

#[test]
fn plain_types_need_no_walk_and_constrained_ones_do() {
    const { assert!(!<Plain as Validate>::DEEP) };
    const { assert!(<Named as Validate>::DEEP) };
    const { assert!(<Outer as Validate>::DEEP) };
    const { assert!(<Option<Vec<Named>> as Validate>::DEEP) };
    const { assert!(!<Option<Vec<Plain>> as Validate>::DEEP) };
}

#[test]
fn nested_constraints_are_still_found_with_their_paths() {
    let plain = || Plain {
        seq: 1,
        text: String::new(),
        tags: vec![],
        note: None,
    };
    assert!(check(&plain()).is_ok());
    let outer = Outer {
        plain: plain(),
        members: vec![Named { name: "a".into() }, Named { name: String::new() }],
    };
    let issues = check(&outer).unwrap_err();
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].path, "members.1.name");
}
