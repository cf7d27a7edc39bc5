//! Input validation with grest's issue format (docs/protocol.md §8).
//!
//! Two paths, one declaration. A type implements [`Validate`] (usually by `#[derive(Validate)]`), which gives its
//! JSON [`Shape`] (with the field constraints declared on the type) and a check of those constraints on a typed
//! value.
//!
//! * **Fast path** — well-formed input: serde decodes straight into the Rust type, then
//!   [`Validate::validate`] checks the declared constraints on the typed value. No intermediate JSON tree.
//! * **Slow path** — serde refused, or the typed check found something: the raw JSON is walked against the
//!   shape, coercing like grest does (`"2"` → `2`, `"true"` → `true`, `5` → `"5"`), and **every** issue is listed
//!   with grest's codes and paths. If nothing is wrong after coercion, the coerced value is decoded.
//!
//! The issue codes and message templates are grest's own (`@grest-ts/schema` `Errors.ts`); serde's messages cannot
//! produce them, which is why this module exists.
//!
//! # Declaring what is valid
//!
//! [`Validate::shape`] describes a type as a [`Shape`]: scalars, string literals (unit-only enums), optional
//! values, arrays, records, tuples of [`Element`]s, objects made of [`Field`]s, and unions of [`Variant`]s under
//! a [`Tagging`] (serde's enum representations). A field carries its wire name, its shape (a [`ShapeFn`], built
//! lazily so that recursive types can describe themselves), its [`Rules`], whether serde fills it in when it is
//! missing, and whether it is flattened into its parent. [`Shape::Named`] adds a derived type's Rust name for code
//! generators; validation looks straight through it. Everything a type declares is in its shape as data, so that
//! generators (TypeScript descriptors, schemas) see every constraint the checks apply.
//!
//! [`Rules`] are the `#[validate(...)]` constraints: `non_empty`, a [`Pattern`] and a [`Format`] for strings,
//! `min_length`/`max_length` for strings (counted in UTF-16 units, as JavaScript counts) and arrays (items),
//! `min`/`max` and `multiple_of` for numbers. Declared bounds narrow a number type's own (`u8` is already
//! `0..=255`), and when both ends are set grest reports one `range` issue instead of a `min` or a `max`.
//!
//! The std and serde_json types a payload is made of implement [`Validate`] here: the integer and float types,
//! `bool`, `String`, `()`, tuples up to 8 elements, `Option`, `Box`, `Vec`, `HashMap` and `BTreeMap` with
//! `String` keys, `serde_json::Value` and `serde_json::Map`.
//!
//! # Decoding input
//!
//! * [`decode`] — a payload as received (`None` when there is none): the fast path, and the slow path when serde
//!   refuses. Invalid JSON counts as no payload.
//! * [`decode_value`] — an already-parsed JSON value, always through the slow path (error data, for instance).
//! * [`decode_query`] — query-string pairs: every value a string, a repeated key an array, then coerced like a
//!   payload.
//!
//! Each returns the decoded value, or every [`Issue`] found.
//!
//! [`check_value`] is the slow path's walk on its own: a JSON value checked and coerced in place against a shape.
//!
//! # Checking a typed value
//!
//! [`check`] runs the declared constraints on a value already built in Rust: the fast path's second half, and the
//! check a peer runs on what it sends. [`Validate::DEEP`] lets it skip types that have nothing to check. An
//! untagged enum whose variant breaks a constraint is one `invalid.union.invalid` issue
//! ([`untagged_mismatch`]), as on the slow path.
//!
//! # Issues and paths
//!
//! An [`Issue`] is `{path, code, message, params?, value?}`, in that key order; [`Issues`] is the list a check
//! fills. The path is dot-separated from the root `""`: object fields by name, array elements by index, record
//! values by key (`items.0.name`, `tags.k`). A walk builds it as one [`Path`], pushing a [`Segment`] per step and
//! popping back to a mark: no allocation per field.
//!
//! [`check`]: fn@check
//! [`decode`]: fn@decode

mod check;
mod coerce;
mod decode;
mod format;
mod issue;
mod path;
mod pattern;
mod rules;
mod shape;
mod std_impls;
#[cfg(test)]
mod tests;
mod union;

pub use check::check;
pub use coerce::check_value;
pub use decode::{decode, decode_query, decode_value};
pub use format::Format;
pub use issue::{Issue, Issues, number_value};
pub use path::{Path, Segment};
pub use pattern::{Pattern, PatternCache};
pub use rules::Rules;
pub use shape::{Element, Field, Shape, ShapeFn, Tagging, Validate, Variant};
pub use union::untagged_mismatch;
