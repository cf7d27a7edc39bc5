//! What a type declares about its input: its JSON [`Shape`] (objects as [`Field`]s) and the [`Validate`] trait
//! that gives it.

use super::issue::Issues;
use super::path::Path;
use super::rules::Rules;

/// A lazily built shape, so recursive types describe themselves without infinite recursion.
pub type ShapeFn = fn() -> Shape;

/// The JSON shape of a type: what the slow path walks, and what docs and code generators read.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Anything (`serde_json::Value`).
    Any,
    /// Only `null` (the unit type).
    Null,
    /// A boolean.
    Boolean,
    /// A number; `integer` and the type's own bounds (e.g. `u8` is 0..=255).
    Number {
        /// Whole numbers only.
        integer: bool,
        /// The type's lower bound.
        min: Option<f64>,
        /// The type's upper bound.
        max: Option<f64>,
    },
    /// A string.
    String,
    /// One of these strings (a unit-only enum).
    Literal(&'static [&'static str]),
    /// A value that may be missing or `null` (`Option<T>`).
    Optional(ShapeFn),
    /// An array of one shape.
    Array(ShapeFn),
    /// A map from string keys to one shape.
    Record(ShapeFn),
    /// An object with named fields.
    Object(&'static [Field]),
    /// A named type (`#[derive(Validate)]` on a struct with named fields or a unit-only enum): the Rust type name
    /// and its shape. Validation looks straight through it; code generators use the name.
    Named(&'static str, ShapeFn),
}

/// One field of an object shape.
#[derive(Debug, Clone)]
pub struct Field {
    /// The field's name on the wire (after serde renames).
    pub name: &'static str,
    /// The field's shape.
    pub shape: ShapeFn,
    /// The declared constraints.
    pub rules: Rules,
    /// Whether the field may be missing even though its shape is not optional (`#[serde(default)]`).
    pub has_default: bool,
}

/// A type that can be validated with grest's issue codes.
///
/// Derive it with `#[derive(Validate)]`; field constraints are declared with `#[validate(...)]`.
pub trait Validate {
    /// Whether [`Validate::validate`] can find anything in a value of this type. `false` for scalars, strings
    /// and containers or structs made only of such without declared constraints: [`check`] and derived structs
    /// then skip the walk and its path bookkeeping entirely. Defaults to `true` (a manual impl is always walked).
    ///
    /// [`check`]: fn@super::check
    const DEEP: bool = true;

    /// The JSON shape of the type.
    fn shape() -> Shape;

    /// Checks the declared constraints of everything inside this value (fields, elements).
    fn validate(&self, _path: &mut Path, _issues: &mut Issues) {}

    /// Checks constraints declared on a field that holds this value.
    fn check_rules(&self, _rules: &Rules, _path: &Path, _issues: &mut Issues) {}
}
