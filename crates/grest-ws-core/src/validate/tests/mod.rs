//! The validation behaviour end to end, one topic per module. Most cases go through [`both`], which holds the
//! fast and the slow path to the same answer. The fixtures and helpers that several topics share live here.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;
use crate::test_support::Msg;

/// Declares a test struct and implements `Validate` exactly as `#[derive(Validate)]` does (that derive lives in
/// another crate and cannot be used here). `field: Type => RULES` attaches constraints.
macro_rules! validated {
    (struct $name:ident { $($field:ident : $ty:ty $(=> $rules:expr)?),* $(,)? }) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        struct $name {
            $($field: $ty,)*
        }
        impl Validate for $name {
            fn shape() -> Shape {
                fn object() -> Shape {
                    static FIELDS: &[Field] = &[$(Field {
                        rules: validated!(@rules $($rules)?),
                        ..Field::new(stringify!($field), <$ty as Validate>::shape)
                    }),*];
                    Shape::Object(FIELDS)
                }
                Shape::Named(stringify!($name), ShapeFn::new(object))
            }
            fn validate(&self, path: &mut Path, issues: &mut Issues) {
                $({
                    const RULES: Rules = validated!(@rules $($rules)?);
                    let mark = path.push(stringify!($field));
                    self.$field.check_rules(&RULES, path, issues);
                    self.$field.validate(path, issues);
                    path.pop_to(mark);
                })*
            }
        }
    };
    (@rules) => { Rules::NONE };
    (@rules $rules:expr) => { $rules };
}

const NON_EMPTY: Rules = Rules {
    non_empty: true,
    ..Rules::NONE
};

validated!(struct Lengths {
    min: String => Rules { min_length: Some(2), ..Rules::NONE },
    max: String => Rules { max_length: Some(3), ..Rules::NONE },
    range: String => Rules { min_length: Some(2), max_length: Some(3), ..Rules::NONE },
});

validated!(struct Arrays {
    min: Vec<u32> => Rules { min_length: Some(1), ..Rules::NONE },
    max: Vec<u32> => Rules { max_length: Some(2), ..Rules::NONE },
    range: Vec<u32> => Rules { min_length: Some(1), max_length: Some(2), ..Rules::NONE },
});

validated!(struct Item {
    name: String => NON_EMPTY,
});

validated!(
    struct Order {
        items: Vec<Item>,
        meta: BTreeMap<String, Item>,
        note: Option<String>,
    }
);

/// Decodes `json` through [`decode`] (fast path when serde accepts it) and through [`decode_value`] (always the
/// slow path), checks that both agree, and returns the result. When serde accepts the input, the typed check
/// ([`check`]) must find exactly the issues the slow path lists.
///
/// [`decode`]: fn@decode
/// [`check`]: fn@check
fn both<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> Result<T, Issues> {
    let via_decode = decode::<T>(Some(json));
    let via_slow = decode_value::<T>(serde_json::from_str(json).expect("test input must be valid JSON"));
    assert_eq!(via_decode, via_slow, "fast and slow path disagree on {json}");
    if let Ok(typed) = serde_json::from_str::<T>(json) {
        assert_eq!(
            check(&typed).err(),
            via_slow.as_ref().err().cloned(),
            "the typed check disagrees on {json}"
        );
    }
    via_decode
}

/// The issues of an input that must fail, as the JSON text sent on the wire.
fn issues<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> String {
    let issues = both::<T>(json).expect_err("input must be rejected");
    serde_json::to_string(&issues).unwrap()
}

/// The issues of an input that must fail, as a JSON value.
fn issue_values<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> Value {
    serde_json::to_value(both::<T>(json).expect_err("input must be rejected")).unwrap()
}

/// The slow path's walk alone: `input` checked against `shape`; the coerced value and the issues as JSON.
fn walk(shape: &Shape, mut input: Value) -> (Value, Value) {
    let mut issues = Issues::new();
    check_value(Some(&mut input), shape, &Rules::NONE, &mut Path::root(), &mut issues);
    (input, serde_json::to_value(issues).unwrap())
}

// Declared after `validated!`, which they use.
mod coercion;
mod containers;
mod fast_slow;
mod literals;
mod numbers;
mod presence;
mod query;
mod round_trip;
mod strings;
mod tuples;
mod unions;
