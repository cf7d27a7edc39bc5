//! What a type declares about its input: its JSON [`Shape`] (objects as [`Field`]s, tuples as [`Element`]s,
//! enums as [`Variant`]s under a [`Tagging`]) and the [`Validate`] trait that gives it.

use std::fmt;
use std::sync::OnceLock;

use super::issue::Issues;
use super::path::Path;
use super::rules::Rules;

/// How a shape refers to another one, built when it is asked for ([`ShapeFn::get`]), so that recursive types
/// describe themselves without infinite recursion.
///
/// Types declare their shapes with functions ([`ShapeFn::new`], what the derive and the std impls use); a shape
/// read at run time from a document ([`ShapeReader`](super::ShapeReader)) refers to shapes it built itself
/// ([`ShapeFn::built`]).
#[derive(Clone, Copy)]
pub struct ShapeFn(Source);

#[derive(Clone, Copy)]
enum Source {
    /// A function that builds the shape (usually a type's [`Validate::shape`]).
    Function(fn() -> Shape),
    /// A shape built at run time; it is set once the whole document has been read (so a shape may refer to
    /// itself).
    Built(&'static OnceLock<Shape>),
}

impl ShapeFn {
    /// A shape built by a function, usually a type's [`Validate::shape`] (`ShapeFn::new(String::shape)`).
    pub const fn new(build: fn() -> Shape) -> Self {
        ShapeFn(Source::Function(build))
    }

    /// A shape built at run time, set in `cell` before it is first asked for. An empty cell reads as
    /// [`Shape::Any`].
    pub const fn built(cell: &'static OnceLock<Shape>) -> Self {
        ShapeFn(Source::Built(cell))
    }

    /// The shape.
    pub fn get(self) -> Shape {
        match self.0 {
            Source::Function(build) => build(),
            Source::Built(cell) => cell.get().cloned().unwrap_or(Shape::Any),
        }
    }
}

impl fmt::Debug for ShapeFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Source::Function(build) => f.debug_tuple("ShapeFn").field(&build).finish(),
            Source::Built(_) => f.write_str("ShapeFn(built)"),
        }
    }
}

/// The JSON shape of a type: what the slow path walks, and what docs and code generators read. Every constraint
/// a type declares is in it as data.
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
    /// A fixed-length array with one shape per position (a Rust tuple or tuple struct). An input that is not an
    /// array is `invalid.tuple.type`; one of another length is `invalid.tuple.length` (`{length}`).
    Tuple(&'static [Element]),
    /// An enum whose variants serde writes as [`Tagging`] says (any enum but a plain unit-only one).
    Union {
        /// How the variant is told apart on the wire.
        tagging: Tagging,
        /// The variants, in declaration order.
        variants: &'static [Variant],
    },
    /// A named type (`#[derive(Validate)]` on a struct or an enum): the Rust type name and its shape. Validation
    /// looks straight through it; code generators use the name.
    Named(&'static str, ShapeFn),
}

/// How serde tells an enum's variants apart (the `#[serde(tag, content, untagged)]` container attributes).
///
/// The tagged forms are discriminated unions: an input that is not an object is `invalid.dunion.notObject`, one
/// without a variant name `invalid.dunion.missingDiscriminator` and one naming no variant
/// `invalid.dunion.unknownVariant` (both with `{expected}`, the variant names). An untagged input that matches no
/// variant is one `invalid.union.invalid` issue at the union's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagging {
    /// serde's default: a unit variant is its name (`"Idle"`); any other variant is an object with one key, its
    /// name, holding its content (`{"Move": {"x": 1}}`). Discriminator issues are reported at the union's path.
    External,
    /// `#[serde(tag = "type")]`: an object whose `tag` field names the variant, next to the variant's own fields
    /// (`{"type": "Move", "x": 1}`). Discriminator issues are reported at `<path>.<tag>`.
    Internal {
        /// The discriminator field's name.
        tag: &'static str,
    },
    /// `#[serde(tag = "t", content = "c")]`: `{"t": "Move", "c": {"x": 1}}`; a unit variant has no content.
    /// Discriminator issues are reported at `<path>.<tag>`, content issues under `<path>.<content>`.
    Adjacent {
        /// The discriminator field's name.
        tag: &'static str,
        /// The content field's name.
        content: &'static str,
    },
    /// `#[serde(untagged)]`: the content alone; the first variant it satisfies (after coercion) is the one. A unit
    /// variant is `null`.
    Untagged,
}

/// One variant of a [`Shape::Union`].
#[derive(Debug, Clone)]
pub struct Variant {
    /// The variant's name on the wire (after serde renames); informational for an untagged enum.
    pub name: &'static str,
    /// The content's shape: `None` for a unit variant. A struct variant's fields are an object (merged with the
    /// tag under internal tagging), a newtype variant its type's shape, a tuple variant a [`Shape::Tuple`].
    pub shape: Option<ShapeFn>,
    /// The constraints declared on a newtype variant's field, checked on its content.
    pub rules: Rules,
}

/// One position of a [`Shape::Tuple`].
#[derive(Debug, Clone)]
pub struct Element {
    /// The element's shape.
    pub shape: ShapeFn,
    /// The declared constraints (on a tuple struct's field).
    pub rules: Rules,
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
    /// `#[serde(flatten)]`: the field's own fields are read from the enclosing object (at its path), not from a
    /// field named `name`. Its shape is an object (usually a [`Shape::Named`] one).
    pub flatten: bool,
}

impl Field {
    /// A plain field of the shape `shape` builds (usually a type's [`Validate::shape`]): no constraints, no
    /// default, not flattened.
    pub const fn new(name: &'static str, shape: fn() -> Shape) -> Field {
        Field {
            name,
            shape: ShapeFn::new(shape),
            rules: Rules::NONE,
            has_default: false,
            flatten: false,
        }
    }
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
