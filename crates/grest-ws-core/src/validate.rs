//! Input validation with grest's issue format (docs/protocol.md §8).
//!
//! Two paths, one declaration. A type implements [`Validate`] (usually by `#[derive(Validate)]`), which gives its
//! JSON [`Shape`] (with the field constraints declared on the type) and a check of those constraints on a typed
//! value.
//!
//! * **Fast path** — well-formed input: serde decodes straight into the Rust type, then
//!   [`Validate::validate`] checks the declared constraints on the typed value. No intermediate JSON tree.
//! * **Slow path** — serde refused: the raw JSON is walked against the shape, coercing like grest does
//!   (`"2"` → `2`, `"true"` → `true`, `5` → `"5"`), and **every** issue is listed with grest's codes and paths.
//!   If nothing is wrong after coercion, the coerced value is decoded.
//!
//! The issue codes and message templates are grest's own (`@grest-ts/schema` `Errors.ts`); serde's messages cannot
//! produce them, which is why this module exists.

use std::collections::{BTreeMap, HashMap};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One validation issue: `{path, code, message, params?, value?}` in that key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Dot-separated location (`items.0.name`); a record's values by key (`tags.k`); the root is `""`.
    pub path: String,
    /// The issue code, e.g. `required` or `invalid.string.nonEmpty`.
    pub code: String,
    /// The human-readable message with parameters substituted.
    pub message: String,
    /// Template parameters, e.g. `{"min":8}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Map<String, Value>>,
    /// The offending value, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl Issue {
    /// An issue without params or value.
    pub fn new(path: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        Issue {
            path: path.into(),
            code: code.into(),
            message: message.into(),
            params: None,
            value: None,
        }
    }

    /// Adds the offending value.
    #[must_use]
    pub fn with_value(mut self, value: Value) -> Self {
        self.value = Some(value);
        self
    }
}

impl Validate for Issue {
    fn shape() -> Shape {
        const fn field(name: &'static str, shape: ShapeFn) -> Field {
            Field {
                name,
                shape,
                rules: Rules::NONE,
                has_default: false,
            }
        }
        static FIELDS: [Field; 5] = [
            field("path", String::shape),
            field("code", String::shape),
            field("message", String::shape),
            field("params", Option::<Map<String, Value>>::shape),
            field("value", Option::<Value>::shape),
        ];
        Shape::Object(&FIELDS)
    }
}

/// A location being validated, built up and torn down while walking (no per-field allocation).
#[derive(Debug, Default, Clone)]
pub struct Path(String);

impl Path {
    /// The root path `""`.
    pub fn root() -> Self {
        Path(String::new())
    }

    /// Appends an object field or array index; returns the mark to [`Path::pop_to`].
    pub fn push(&mut self, segment: impl Segment) -> usize {
        let mark = self.0.len();
        if mark > 0 {
            self.0.push('.');
        }
        segment.append_to(&mut self.0);
        mark
    }

    /// Restores the path to a mark returned by a push.
    pub fn pop_to(&mut self, mark: usize) {
        self.0.truncate(mark);
    }

    /// The path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One step of a [`Path`]: an object field or map key (`&str`, `&String`) or an array index (`usize`). Appended
/// without the formatting machinery: validation walks every field of every message, including the many that
/// break no rule.
pub trait Segment {
    /// Appends this segment's text to `path`.
    fn append_to(self, path: &mut String);
}

impl Segment for &str {
    fn append_to(self, path: &mut String) {
        path.push_str(self);
    }
}

impl Segment for &String {
    fn append_to(self, path: &mut String) {
        path.push_str(self);
    }
}

impl Segment for usize {
    fn append_to(self, path: &mut String) {
        path.push_str(crate::frame::decimal(self as u64, &mut [0; 20]));
    }
}

/// Checks `value`'s declared constraints (fields, elements, nested values); every issue found, or `Ok`. The path
/// buffer is reused across calls on one thread, so a value that breaks no rule costs no allocation.
pub fn check<T: Validate + ?Sized>(value: &T) -> Result<(), Issues> {
    if !T::DEEP {
        return Ok(());
    }
    thread_local! {
        static SCRATCH: std::cell::Cell<String> = const { std::cell::Cell::new(String::new()) };
    }
    let mut path = Path(SCRATCH.take());
    path.0.clear();
    let mut issues = Issues::new();
    value.validate(&mut path, &mut issues);
    // A pathological depth should not pin a large buffer to the thread.
    if path.0.capacity() <= 1024 {
        SCRATCH.set(path.0);
    }
    if issues.is_empty() { Ok(()) } else { Err(issues) }
}

/// The issues found so far.
pub type Issues = Vec<Issue>;

/// The issue kinds this crate emits, with grest's exact codes and message templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    Required,
    StringType,
    StringNonEmpty,
    StringMinLength,
    StringMaxLength,
    StringRange,
    NumberType,
    NumberInteger,
    NumberMin,
    NumberMax,
    NumberRange,
    BooleanType,
    LiteralInvalid,
    ObjectType,
    ArrayType,
    ArrayMinLength,
    ArrayMaxLength,
    ArrayRange,
    RecordType,
}

impl Code {
    fn code(self) -> &'static str {
        match self {
            Code::Required => "required",
            Code::StringType => "invalid.string.type",
            Code::StringNonEmpty => "invalid.string.nonEmpty",
            Code::StringMinLength => "invalid.string.minLength",
            Code::StringMaxLength => "invalid.string.maxLength",
            Code::StringRange => "invalid.string.range",
            Code::NumberType => "invalid.number.type",
            Code::NumberInteger => "invalid.number.integer",
            Code::NumberMin => "invalid.number.min",
            Code::NumberMax => "invalid.number.max",
            Code::NumberRange => "invalid.number.range",
            Code::BooleanType => "invalid.boolean.type",
            Code::LiteralInvalid => "invalid.literal.invalid",
            Code::ObjectType => "invalid.object.type",
            Code::ArrayType => "invalid.array.type",
            Code::ArrayMinLength => "invalid.array.minLength",
            Code::ArrayMaxLength => "invalid.array.maxLength",
            Code::ArrayRange => "invalid.array.range",
            Code::RecordType => "invalid.record.type",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Code::Required => "Value is required",
            Code::StringType => "Value must be a string",
            Code::StringNonEmpty => "Value must not be empty",
            Code::StringMinLength => "Value must be at least {min} characters",
            Code::StringMaxLength => "Value must be at most {max} characters",
            Code::StringRange => "Value must be between {min} and {max} characters",
            Code::NumberType => "Value must be a number",
            Code::NumberInteger => "Value must be an integer",
            Code::NumberMin => "Value must be at least {min}",
            Code::NumberMax => "Value must be at most {max}",
            Code::NumberRange => "Value must be between {min} and {max}",
            Code::BooleanType => "Value must be a boolean",
            Code::LiteralInvalid => "Value must be one of: {expected}",
            Code::ObjectType | Code::RecordType => "Value must be an object",
            Code::ArrayType => "Value must be an array",
            Code::ArrayMinLength => "Array must have at least {min} items",
            Code::ArrayMaxLength => "Array must have at most {max} items",
            Code::ArrayRange => "Array length must be between {min} and {max}",
        }
    }
}

fn push_issue(issues: &mut Issues, path: &Path, code: Code, params: &[(&'static str, Value)], value: Option<Value>) {
    let mut message = code.template().to_owned();
    for (key, param) in params {
        let text = match param {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        message = message.replace(&format!("{{{key}}}"), &text);
    }
    let params = (!params.is_empty()).then(|| {
        params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<Map<_, _>>()
    });
    issues.push(Issue {
        path: path.as_str().to_owned(),
        code: code.code().to_owned(),
        message,
        params,
        value,
    });
}

/// A number as grest writes it in params: integral values without a fraction.
fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

/// Constraints declared on a field (`#[validate(non_empty, min_length = 2, max = 10)]`).
///
/// Each applies to whatever the field holds: lengths to strings (characters) and arrays (items), bounds to
/// numbers. When both a minimum and a maximum are set, grest reports one `range` issue instead of `min`/`max`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rules {
    /// A string must not be empty.
    pub non_empty: bool,
    /// Minimum string length (characters) or array length (items).
    pub min_length: Option<u64>,
    /// Maximum string length (characters) or array length (items).
    pub max_length: Option<u64>,
    /// Minimum number.
    pub min: Option<f64>,
    /// Maximum number.
    pub max: Option<f64>,
}

impl Rules {
    /// No constraints.
    pub const NONE: Rules = Rules {
        non_empty: false,
        min_length: None,
        max_length: None,
        min: None,
        max: None,
    };

    /// Whether there is no constraint at all.
    pub const fn is_none(&self) -> bool {
        !self.non_empty
            && self.min_length.is_none()
            && self.max_length.is_none()
            && self.min.is_none()
            && self.max.is_none()
    }

    /// Checks a string value.
    pub fn check_str(&self, s: &str, path: &Path, issues: &mut Issues) {
        if self.non_empty && s.is_empty() {
            push_issue(issues, path, Code::StringNonEmpty, &[], Some(Value::from(s)));
        }
        if self.min_length.is_some() || self.max_length.is_some() {
            let len = s.encode_utf16().count() as u64;
            self.check_length(
                len,
                path,
                issues,
                [Code::StringMinLength, Code::StringMaxLength, Code::StringRange],
                || Value::from(s),
            );
        }
    }

    /// Checks an array length.
    pub fn check_array_len(&self, len: usize, path: &Path, issues: &mut Issues, value: impl FnOnce() -> Value) {
        self.check_length(
            len as u64,
            path,
            issues,
            [Code::ArrayMinLength, Code::ArrayMaxLength, Code::ArrayRange],
            value,
        );
    }

    fn check_length(
        &self,
        len: u64,
        path: &Path,
        issues: &mut Issues,
        codes: [Code; 3],
        value: impl FnOnce() -> Value,
    ) {
        let too_short = self.min_length.is_some_and(|min| len < min);
        let too_long = self.max_length.is_some_and(|max| len > max);
        if !(too_short || too_long) {
            return;
        }
        match (self.min_length, self.max_length) {
            (Some(min), Some(max)) => push_issue(
                issues,
                path,
                codes[2],
                &[("min", min.into()), ("max", max.into())],
                Some(value()),
            ),
            (Some(min), None) => push_issue(issues, path, codes[0], &[("min", min.into())], Some(value())),
            (None, Some(max)) => push_issue(issues, path, codes[1], &[("max", max.into())], Some(value())),
            (None, None) => {}
        }
    }

    /// Checks a number against the declared bounds.
    pub fn check_number(&self, n: f64, path: &Path, issues: &mut Issues) {
        check_bounds(n, self.min, self.max, path, issues);
    }
}

fn check_bounds(n: f64, min: Option<f64>, max: Option<f64>, path: &Path, issues: &mut Issues) {
    let below = min.is_some_and(|m| n < m);
    let above = max.is_some_and(|m| n > m);
    if !(below || above) {
        return;
    }
    let value = Some(number_value(n));
    match (min, max) {
        (Some(lo), Some(hi)) => push_issue(
            issues,
            path,
            Code::NumberRange,
            &[("min", number_value(lo)), ("max", number_value(hi))],
            value,
        ),
        (Some(lo), None) => push_issue(issues, path, Code::NumberMin, &[("min", number_value(lo))], value),
        (None, Some(hi)) => push_issue(issues, path, Code::NumberMax, &[("max", number_value(hi))], value),
        (None, None) => {}
    }
}

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
    const DEEP: bool = true;

    /// The JSON shape of the type.
    fn shape() -> Shape;

    /// Checks the declared constraints of everything inside this value (fields, elements).
    fn validate(&self, _path: &mut Path, _issues: &mut Issues) {}

    /// Checks constraints declared on a field that holds this value.
    fn check_rules(&self, _rules: &Rules, _path: &Path, _issues: &mut Issues) {}
}

macro_rules! impl_int {
    ($($t:ty),*) => {$(
        impl Validate for $t {
            const DEEP: bool = false;
            fn shape() -> Shape {
                Shape::Number { integer: true, min: Some(<$t>::MIN as f64), max: Some(<$t>::MAX as f64) }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                // Declared bounds narrow the type's own, exactly as on the slow path.
                let (lo, hi) = (Some(<$t>::MIN as f64), Some(<$t>::MAX as f64));
                check_bounds(*self as f64, max_opt(lo, rules.min), min_opt(hi, rules.max), path, issues);
            }
        }
    )*};
}
impl_int!(i8, i16, i32, u8, u16, u32);

macro_rules! impl_wide_int {
    ($($t:ty => $min:expr),*) => {$(
        impl Validate for $t {
            const DEEP: bool = false;
            fn shape() -> Shape {
                Shape::Number { integer: true, min: $min, max: None }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                // Declared bounds narrow the type's own, exactly as on the slow path.
                check_bounds(*self as f64, max_opt($min, rules.min), rules.max, path, issues);
            }
        }
    )*};
}
impl_wide_int!(i64 => None, isize => None, u64 => Some(0.0), usize => Some(0.0));

macro_rules! impl_float {
    ($($t:ty),*) => {$(
        impl Validate for $t {
            const DEEP: bool = false;
            fn shape() -> Shape {
                Shape::Number { integer: false, min: None, max: None }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                rules.check_number(*self as f64, path, issues);
            }
        }
    )*};
}
impl_float!(f32, f64);

impl Validate for bool {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Boolean
    }
}

impl Validate for String {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::String
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        rules.check_str(self, path, issues);
    }
}

impl Validate for () {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Null
    }
}

impl Validate for Value {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Any
    }
}

impl<T: Validate> Validate for Option<T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Optional(T::shape)
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        if let Some(v) = self {
            v.validate(path, issues);
        }
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        if let Some(v) = self {
            v.check_rules(rules, path, issues);
        }
    }
}

impl<T: Validate> Validate for Box<T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        T::shape()
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        (**self).validate(path, issues);
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        (**self).check_rules(rules, path, issues);
    }
}

impl<T: Validate + Serialize> Validate for Vec<T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Array(T::shape)
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        for (i, item) in self.iter().enumerate() {
            let mark = path.push(i);
            item.validate(path, issues);
            path.pop_to(mark);
        }
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        rules.check_array_len(self.len(), path, issues, || {
            serde_json::to_value(self).unwrap_or(Value::Null)
        });
    }
}

fn validate_entries<'a, T: Validate + 'a>(
    entries: impl Iterator<Item = (&'a String, &'a T)>,
    path: &mut Path,
    issues: &mut Issues,
) {
    for (key, item) in entries {
        let mark = path.push(key);
        item.validate(path, issues);
        path.pop_to(mark);
    }
}

impl<T: Validate, S> Validate for HashMap<String, T, S> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Record(T::shape)
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        validate_entries(self.iter(), path, issues);
    }
}

impl<T: Validate> Validate for BTreeMap<String, T> {
    const DEEP: bool = T::DEEP;
    fn shape() -> Shape {
        Shape::Record(T::shape)
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        validate_entries(self.iter(), path, issues);
    }
}

/// Walks a JSON value against a shape, coercing in place like grest, and lists every issue.
///
/// `value` is `None` when the field (or the whole payload) is missing.
pub fn check_value(value: Option<&mut Value>, shape: &Shape, rules: &Rules, path: &mut Path, issues: &mut Issues) {
    if let Shape::Named(_, inner) = shape {
        return check_value(value, &inner(), rules, path, issues);
    }
    let value = match value {
        Some(v) if !v.is_null() || matches!(shape, Shape::Null | Shape::Any) => v,
        other => {
            if !matches!(shape, Shape::Optional(_)) {
                // grest hands the offending value to the issue: `null` is kept, a missing value is `undefined`.
                push_issue(issues, path, Code::Required, &[], other.map(|v| v.clone()));
            }
            return;
        }
    };
    match shape {
        // A named shape was looked through above.
        Shape::Any | Shape::Named(..) => {}
        Shape::Null => {}
        Shape::Optional(inner) => check_value(Some(value), &inner(), rules, path, issues),
        Shape::Boolean => {
            let coerced = match value {
                Value::Bool(b) => Some(*b),
                Value::String(s) if s == "true" || s == "1" => Some(true),
                Value::String(s) if s == "false" || s == "0" => Some(false),
                Value::Number(n) if n.as_f64() == Some(1.0) => Some(true),
                Value::Number(n) if n.as_f64() == Some(0.0) => Some(false),
                _ => None,
            };
            match coerced {
                Some(b) => *value = Value::Bool(b),
                None => push_issue(issues, path, Code::BooleanType, &[], Some(value.clone())),
            }
        }
        Shape::String => {
            match value {
                Value::Number(n) => *value = Value::String(js_number_string(n)),
                Value::Bool(b) => *value = Value::String(b.to_string()),
                _ => {}
            }
            match value {
                Value::String(s) => rules.check_str(s, path, issues),
                other => push_issue(issues, path, Code::StringType, &[], Some(other.clone())),
            }
        }
        Shape::Literal(allowed) => match value {
            Value::String(s) if allowed.contains(&s.as_str()) => {}
            other => push_issue(
                issues,
                path,
                Code::LiteralInvalid,
                &[("expected", Value::from(allowed.join(", ")))],
                Some(other.clone()),
            ),
        },
        Shape::Number { integer, min, max } => {
            let (n, exact) = match &*value {
                Value::Number(n) => (n.as_f64(), (n.is_i64() || n.is_u64()).then(|| n.clone())),
                Value::String(s) => (js_number(s), exact_integer(s)),
                _ => (None, None),
            };
            let Some(n) = n.filter(|n| n.is_finite()) else {
                push_issue(issues, path, Code::NumberType, &[], Some(value.clone()));
                return;
            };
            // Whole numbers keep every digit (a `u64` beyond 2^53 must survive); others go through `f64`.
            *value = exact.map_or_else(|| number_value(n), Value::Number);
            if *integer && n.fract() != 0.0 {
                push_issue(issues, path, Code::NumberInteger, &[], Some(value.clone()));
            }
            // The type's own bounds and the declared ones are checked as one set of bounds, like grest's
            // `IsUint32.min(5)` would be.
            let lo = max_opt(*min, rules.min);
            let hi = min_opt(*max, rules.max);
            check_bounds(n, lo, hi, path, issues);
        }
        Shape::Array(item) => {
            let Value::Array(items) = value else {
                push_issue(issues, path, Code::ArrayType, &[], Some(value.clone()));
                return;
            };
            // grest coerces the whole value first, then reports a length issue *instead of* the elements' issues.
            let item_shape = item();
            let mut element_issues = Issues::new();
            for (i, element) in items.iter_mut().enumerate() {
                let mark = path.push(i);
                check_value(Some(element), &item_shape, &Rules::NONE, path, &mut element_issues);
                path.pop_to(mark);
            }
            let before = issues.len();
            rules.check_array_len(items.len(), path, issues, || Value::Array(items.clone()));
            if issues.len() == before {
                issues.append(&mut element_issues);
            }
        }
        Shape::Record(item) => {
            let Value::Object(entries) = value else {
                push_issue(issues, path, Code::RecordType, &[], Some(value.clone()));
                return;
            };
            let item_shape = item();
            for (key, element) in entries.iter_mut() {
                let mark = path.push(key);
                check_value(Some(element), &item_shape, &Rules::NONE, path, issues);
                path.pop_to(mark);
            }
        }
        Shape::Object(fields) => {
            let Value::Object(entries) = value else {
                push_issue(issues, path, Code::ObjectType, &[], Some(value.clone()));
                return;
            };
            for field in *fields {
                let mark = path.push(field.name);
                let shape = (field.shape)();
                match entries.get_mut(field.name) {
                    // A field with a default takes it when missing or null, as grest applies defaults.
                    None if field.has_default => {}
                    Some(Value::Null)
                        if field.has_default && !matches!(shape, Shape::Optional(_) | Shape::Any | Shape::Null) =>
                    {
                        entries.shift_remove(field.name);
                    }
                    entry => check_value(entry, &shape, &field.rules, path, issues),
                }
                path.pop_to(mark);
            }
        }
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// JavaScript's `Number(string)` for finite values: surrounding whitespace ignored, blank is 0, unsigned `0x`/`0o`/`0b`
/// literals accepted.
fn js_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = t.get(..2).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &t[2..]) {
            if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
                return None;
            }
            return Some(digits.chars().fold(0.0, |n, c| {
                n * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
            }));
        }
    }
    if t.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    t.parse::<f64>().ok()
}

/// A decimal integer string as an exact JSON number (no `f64` rounding), when it is one.
fn exact_integer(s: &str) -> Option<serde_json::Number> {
    let t = s.trim();
    t.parse::<u64>()
        .map(serde_json::Number::from)
        .or_else(|_| t.parse::<i64>().map(serde_json::Number::from))
        .ok()
}

/// JavaScript's `String(number)` for the common cases: integers exactly, whole floats without a fraction.
fn js_number_string(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if !(n.is_i64() || n.is_u64()) && f.fract() == 0.0 && f.abs() < 1e21 => {
            // `-0` prints as `0` in JavaScript.
            format!("{:.0}", f + 0.0)
        }
        _ => n.to_string(),
    }
}

/// Decodes and validates a payload (`None` = no payload) into `T`, returning every issue on failure.
///
/// Invalid JSON counts as no payload, as in the original (docs/protocol.md §1.2 rule 5).
pub fn decode<T: DeserializeOwned + Validate>(data: Option<&str>) -> Result<T, Issues> {
    if let Some(text) = data {
        if let Ok(value) = serde_json::from_str::<T>(text) {
            return check(&value).map(|()| value);
        }
    }
    let value = data.and_then(|text| serde_json::from_str::<Value>(text).ok());
    decode_slow(value)
}

/// Decodes an already-parsed JSON value (the slow path only; used for error data and queries).
pub fn decode_value<T: DeserializeOwned + Validate>(value: Value) -> Result<T, Issues> {
    decode_slow(Some(value))
}

fn decode_slow<T: DeserializeOwned + Validate>(mut value: Option<Value>) -> Result<T, Issues> {
    let mut issues = Issues::new();
    check_value(
        value.as_mut(),
        &T::shape(),
        &Rules::NONE,
        &mut Path::root(),
        &mut issues,
    );
    if !issues.is_empty() {
        return Err(issues);
    }
    serde_json::from_value::<T>(value.unwrap_or(Value::Null))
        .map_err(|e| vec![Issue::new("", "invalid.type", e.to_string())])
}

/// Decodes a query string (`a=1&b=x`, already split off the URL) into `T` with coercion, as the original does
/// with `url.parse(url, true)`: values are strings, a repeated key becomes an array.
pub fn decode_query<T: DeserializeOwned + Validate>(
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<T, Issues> {
    let mut object = Map::new();
    for (key, value) in pairs {
        match object.get_mut(&key) {
            Some(Value::Array(values)) => values.push(Value::String(value)),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(value)]);
            }
            None => {
                object.insert(key, Value::String(value));
            }
        }
    }
    decode_value(Value::Object(object))
}

impl Validate for Map<String, Value> {
    const DEEP: bool = false;
    fn shape() -> Shape {
        Shape::Record(Value::shape)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::fmt::Debug;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

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
                            name: stringify!($field),
                            shape: <$ty as Validate>::shape,
                            rules: validated!(@rules $($rules)?),
                            has_default: false,
                        }),*];
                        Shape::Object(FIELDS)
                    }
                    Shape::Named(stringify!($name), object)
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

    use crate::test_support::Msg;

    validated!(struct Lengths {
        min: String => Rules { min_length: Some(2), ..Rules::NONE },
        max: String => Rules { max_length: Some(3), ..Rules::NONE },
        range: String => Rules { min_length: Some(2), max_length: Some(3), ..Rules::NONE },
    });

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

    validated!(
        struct Scalars {
            b: bool,
            s: String,
            i: i32,
            f: f64,
        }
    );

    validated!(struct Optionals {
        text: Option<String> => NON_EMPTY,
        n: Option<u32>,
    });

    validated!(struct Bounded {
        n: u32 => Rules { min: Some(5.0), ..Rules::NONE },
        m: u64 => Rules { max: Some(10.0), ..Rules::NONE },
        k: i64 => Rules { min: Some(-3.0), ..Rules::NONE },
    });

    validated!(
        struct Wide {
            big: u64,
            small: i64,
            flag: bool,
        }
    );

    validated!(
        struct Outer {
            inner: Item,
        }
    );

    validated!(
        struct Tagged {
            tags: HashMap<String, u32>,
        }
    );

    validated!(
        struct Query {
            page: u32,
            ids: Vec<u32>,
            verbose: Option<bool>,
            q: Option<String>,
        }
    );

    validated!(struct ItemList {
        items: Vec<Item> => Rules { min_length: Some(2), ..Rules::NONE },
    });

    validated!(
        struct Painted {
            color: Color,
        }
    );

    /// A unit-only enum: a string literal on the wire.
    #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Color {
        Red,
        Green,
    }

    impl Validate for Color {
        fn shape() -> Shape {
            Shape::Named("Color", || Shape::Literal(&["red", "green"]))
        }
    }

    /// A struct with `#[serde(default)]` on a field.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Defaulted {
        #[serde(default)]
        n: u32,
        text: String,
    }

    impl Validate for Defaulted {
        fn shape() -> Shape {
            static FIELDS: [Field; 2] = [
                Field {
                    name: "n",
                    shape: <u32 as Validate>::shape,
                    rules: Rules::NONE,
                    has_default: true,
                },
                Field {
                    name: "text",
                    shape: <String as Validate>::shape,
                    rules: Rules::NONE,
                    has_default: false,
                },
            ];
            Shape::Object(&FIELDS)
        }
    }

    /// Decodes `json` through [`decode`] (fast path when serde accepts it) and through [`decode_value`] (always the
    /// slow path), checks that both agree, and returns the result.
    fn both<T: DeserializeOwned + Validate + PartialEq + Debug>(json: &str) -> Result<T, Issues> {
        let via_decode = decode::<T>(Some(json));
        let via_slow = decode_value::<T>(serde_json::from_str(json).expect("test input must be valid JSON"));
        assert_eq!(via_decode, via_slow, "fast and slow path disagree on {json}");
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

    // ---- Issue and Path --------------------------------------------------------------------------------------

    #[test]
    fn issue_json_has_grest_key_order() {
        let mut params = Map::new();
        params.insert("min".into(), json!(2));
        params.insert("max".into(), json!(3));
        let issue = Issue {
            path: "a.b".into(),
            code: "invalid.string.range".into(),
            message: "m".into(),
            params: Some(params),
            value: Some(json!("x")),
        };
        assert_eq!(
            serde_json::to_string(&issue).unwrap(),
            r#"{"path":"a.b","code":"invalid.string.range","message":"m","params":{"min":2,"max":3},"value":"x"}"#
        );
    }

    #[test]
    fn issue_without_params_or_value_omits_them() {
        assert_eq!(
            serde_json::to_string(&Issue::new("", "required", "Value is required")).unwrap(),
            r#"{"path":"","code":"required","message":"Value is required"}"#
        );
        let with_value = Issue::new("x", "c", "m").with_value(json!(null));
        assert_eq!(
            serde_json::to_string(&with_value).unwrap(),
            r#"{"path":"x","code":"c","message":"m","value":null}"#
        );
    }

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

    #[test]
    fn path_push_and_pop() {
        let mut path = Path::root();
        assert_eq!(path.as_str(), "");
        let a = path.push("items");
        assert_eq!(path.as_str(), "items");
        let b = path.push(0usize);
        assert_eq!(path.as_str(), "items.0");
        let c = path.push("name");
        assert_eq!(path.as_str(), "items.0.name");
        path.pop_to(c);
        assert_eq!(path.as_str(), "items.0");
        path.pop_to(b);
        path.pop_to(a);
        assert_eq!(path.as_str(), "");
        for (index, text) in [
            (7usize, "7"),
            (10, "10"),
            (1_234_567_890, "1234567890"),
            (usize::MAX, "18446744073709551615"),
        ] {
            let mark = path.push(index);
            assert_eq!(path.as_str(), text);
            path.pop_to(mark);
        }
        let key = String::from("a key");
        path.push(&key);
        assert_eq!(path.as_str(), "a key");
    }

    #[test]
    fn check_reports_paths_from_an_empty_root_every_time() {
        // The reused path buffer starts empty for each value, whatever the previous one left.
        let bad: Vec<crate::test_support::Msg> = serde_json::from_value(json!([{"text": "", "n": 1}])).unwrap();
        for _ in 0..2 {
            let issues = check(&bad).expect_err("an empty text");
            assert_eq!(issues[0].path, "0.text");
        }
        let good: Vec<crate::test_support::Msg> = serde_json::from_value(json!([{"text": "x", "n": 1}])).unwrap();
        assert!(check(&good).is_ok());
    }

    // ---- required / optional --------------------------------------------------------------------------------

    #[test]
    fn missing_field_is_required_without_value() {
        assert_eq!(
            issues::<Msg>(r#"{"n":1}"#),
            r#"[{"path":"text","code":"required","message":"Value is required"}]"#
        );
    }

    #[test]
    fn null_field_is_required_with_null_value() {
        // grest passes the offending `null` to the issue, so JSON.stringify keeps `"value":null`
        // (only `undefined` is dropped).
        assert_eq!(
            issues::<Msg>(r#"{"text":null,"n":1}"#),
            r#"[{"path":"text","code":"required","message":"Value is required","value":null}]"#
        );
    }

    #[test]
    fn missing_payload_is_required_at_root() {
        assert_eq!(
            decode::<Msg>(None).unwrap_err(),
            vec![Issue::new("", "required", "Value is required")]
        );
        assert_eq!(
            decode::<u32>(None).unwrap_err(),
            vec![Issue::new("", "required", "Value is required")]
        );
    }

    #[test]
    fn invalid_json_is_no_payload() {
        for text in [r#"{"text":"#, "{nope", "", "tru", r#"{"text":"hi","n":5"#] {
            assert_eq!(
                serde_json::to_string(&decode::<Msg>(Some(text)).unwrap_err()).unwrap(),
                r#"[{"path":"","code":"required","message":"Value is required"}]"#,
                "{text:?}"
            );
        }
        // An optional payload may be missing, including by being unparseable.
        assert_eq!(decode::<Option<Msg>>(Some("{nope")), Ok(None));
        assert_eq!(decode::<Option<Msg>>(None), Ok(None));
    }

    #[test]
    fn null_payload_is_required_at_root() {
        assert_eq!(
            issues::<Msg>("null"),
            r#"[{"path":"","code":"required","message":"Value is required","value":null}]"#
        );
        assert_eq!(both::<Option<Msg>>("null"), Ok(None));
        assert_eq!(both::<()>("null"), Ok(()));
        assert_eq!(both::<Value>("null"), Ok(Value::Null));
    }

    #[test]
    fn optional_fields_may_be_missing_or_null() {
        let none = Optionals { text: None, n: None };
        assert_eq!(both::<Optionals>("{}"), Ok(none.clone()));
        assert_eq!(both::<Optionals>(r#"{"text":null,"n":null}"#), Ok(none));
        assert_eq!(
            both::<Optionals>(r#"{"text":"x","n":"7"}"#),
            Ok(Optionals {
                text: Some("x".into()),
                n: Some(7)
            })
        );
    }

    #[test]
    fn present_optional_values_are_still_checked() {
        assert_eq!(
            issue_values::<Optionals>(r#"{"text":"","n":-1}"#),
            json!([
                {"path": "text", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
                {"path": "n", "code": "invalid.number.range", "message": "Value must be between 0 and 4294967295",
                 "params": {"min": 0, "max": 4_294_967_295_u64}, "value": -1},
            ])
        );
        assert_eq!(
            issue_values::<Optionals>(r#"{"text":{}}"#),
            json!([{"path": "text", "code": "invalid.string.type", "message": "Value must be a string", "value": {}}])
        );
    }

    #[test]
    fn defaulted_field_may_be_missing() {
        assert_eq!(
            both::<Defaulted>(r#"{"text":"x"}"#),
            Ok(Defaulted { n: 0, text: "x".into() })
        );
        assert_eq!(
            both::<Defaulted>(r#"{"text":5}"#),
            Ok(Defaulted { n: 0, text: "5".into() })
        );
        // An explicit null takes the default too, as grest applies defaults to null.
        assert_eq!(
            both::<Defaulted>(r#"{"n":null,"text":"x"}"#),
            Ok(Defaulted { n: 0, text: "x".into() })
        );
        assert_eq!(
            issues::<Defaulted>(r#"{"n":"x"}"#),
            r#"[{"path":"n","code":"invalid.number.type","message":"Value must be a number","value":"x"},{"path":"text","code":"required","message":"Value is required"}]"#
        );
    }

    // ---- strings ---------------------------------------------------------------------------------------------

    #[test]
    fn string_type() {
        assert_eq!(
            issues::<Msg>(r#"{"text":[1],"n":1}"#),
            r#"[{"path":"text","code":"invalid.string.type","message":"Value must be a string","value":[1]}]"#
        );
        assert_eq!(
            issues::<Msg>(r#"{"text":{"a":1},"n":1}"#),
            r#"[{"path":"text","code":"invalid.string.type","message":"Value must be a string","value":{"a":1}}]"#
        );
    }

    #[test]
    fn string_non_empty() {
        assert_eq!(
            issues::<Msg>(r#"{"text":"","n":1}"#),
            r#"[{"path":"text","code":"invalid.string.nonEmpty","message":"Value must not be empty","value":""}]"#
        );
        // A single space is not empty.
        assert_eq!(both::<Msg>(r#"{"text":" ","n":1}"#), Ok(Msg { text: " ".into(), n: 1 }));
    }

    #[test]
    fn string_min_and_max_length() {
        assert_eq!(
            issue_values::<Lengths>(r#"{"min":"a","max":"abcd","range":"ab"}"#),
            json!([
                {"path": "min", "code": "invalid.string.minLength", "message": "Value must be at least 2 characters",
                 "params": {"min": 2}, "value": "a"},
                {"path": "max", "code": "invalid.string.maxLength", "message": "Value must be at most 3 characters",
                 "params": {"max": 3}, "value": "abcd"},
            ])
        );
    }

    #[test]
    fn string_with_both_bounds_reports_only_range() {
        let range = |value: &str| {
            json!([{"path": "range", "code": "invalid.string.range",
                    "message": "Value must be between 2 and 3 characters",
                    "params": {"min": 2, "max": 3}, "value": value}])
        };
        assert_eq!(
            issue_values::<Lengths>(r#"{"min":"ab","max":"abc","range":"a"}"#),
            range("a")
        );
        assert_eq!(
            issue_values::<Lengths>(r#"{"min":"ab","max":"abc","range":"abcd"}"#),
            range("abcd")
        );
        assert!(both::<Lengths>(r#"{"min":"ab","max":"","range":"abc"}"#).is_ok());
    }

    #[test]
    fn string_length_counts_utf16_units_like_js() {
        // "😀" is one char but two UTF-16 units (its JS `length` is 2).
        assert!(both::<Lengths>(r#"{"min":"😀","max":"é😀","range":"😀"}"#).is_ok());
        assert_eq!(
            issue_values::<Lengths>(r#"{"min":"é","max":"😀😀","range":"ab"}"#),
            json!([
                {"path": "min", "code": "invalid.string.minLength", "message": "Value must be at least 2 characters",
                 "params": {"min": 2}, "value": "é"},
                {"path": "max", "code": "invalid.string.maxLength", "message": "Value must be at most 3 characters",
                 "params": {"max": 3}, "value": "😀😀"},
            ])
        );
    }

    #[test]
    fn non_empty_and_length_are_both_reported() {
        let mut issues = Issues::new();
        let rules = Rules {
            non_empty: true,
            min_length: Some(1),
            ..Rules::NONE
        };
        rules.check_str("", &Path::root(), &mut issues);
        let codes: Vec<_> = issues.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, ["invalid.string.nonEmpty", "invalid.string.minLength"]);
    }

    // ---- numbers ---------------------------------------------------------------------------------------------

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

    // ---- coercion --------------------------------------------------------------------------------------------

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

    // ---- literals --------------------------------------------------------------------------------------------

    #[test]
    fn literal() {
        assert_eq!(
            both::<Painted>(r#"{"color":"green"}"#),
            Ok(Painted { color: Color::Green })
        );
        assert_eq!(
            issues::<Painted>(r#"{"color":"blue"}"#),
            r#"[{"path":"color","code":"invalid.literal.invalid","message":"Value must be one of: red, green","params":{"expected":"red, green"},"value":"blue"}]"#
        );
        // No coercion and no case folding.
        assert_eq!(
            issue_values::<Painted>(r#"{"color":"Red"}"#)[0]["code"],
            "invalid.literal.invalid"
        );
        assert_eq!(
            issue_values::<Painted>(r#"{"color":1}"#),
            json!([{"path": "color", "code": "invalid.literal.invalid", "message": "Value must be one of: red, green",
                    "params": {"expected": "red, green"}, "value": 1}])
        );
    }

    #[test]
    fn named_shapes_carry_the_type_name_and_validate_as_their_inner_shape() {
        let Shape::Named(name, inner) = Painted::shape() else {
            panic!("a derived struct has a named shape")
        };
        assert_eq!(name, "Painted");
        assert!(matches!(inner(), Shape::Object(fields) if fields.len() == 1 && fields[0].name == "color"));
        assert!(matches!(Color::shape(), Shape::Named("Color", inner) if matches!(inner(), Shape::Literal(_))));
        // A missing or null named value is `required`, exactly as the unnamed shape would be.
        assert_eq!(
            issue_values::<Painted>(r#"{"color":null}"#),
            json!([{"path": "color", "code": "required", "message": "Value is required", "value": null}])
        );
        assert_eq!(
            issue_values::<Painted>("null"),
            json!([{"path": "", "code": "required", "message": "Value is required", "value": null}])
        );
    }

    // ---- objects, arrays, records ------------------------------------------------------------------------------

    #[test]
    fn object_type() {
        for (text, value) in [
            ("[]", json!([])),
            (r#""x""#, json!("x")),
            ("5", json!(5)),
            ("true", json!(true)),
        ] {
            assert_eq!(
                issue_values::<Msg>(text),
                json!([{"path": "", "code": "invalid.object.type", "message": "Value must be an object", "value": value}]),
                "{text}"
            );
        }
        assert_eq!(
            issues::<Outer>(r#"{"inner":[1]}"#),
            r#"[{"path":"inner","code":"invalid.object.type","message":"Value must be an object","value":[1]}]"#
        );
        assert_eq!(
            issues::<Outer>(r#"{"inner":{"name":""}}"#),
            r#"[{"path":"inner.name","code":"invalid.string.nonEmpty","message":"Value must not be empty","value":""}]"#
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        assert_eq!(
            both::<Msg>(r#"{"text":"x","n":1,"extra":{"deep":[1]}}"#),
            Ok(Msg { text: "x".into(), n: 1 })
        );
    }

    #[test]
    fn array_type() {
        assert_eq!(
            issues::<Arrays>(r#"{"min":{},"max":[],"range":[1]}"#),
            r#"[{"path":"min","code":"invalid.array.type","message":"Value must be an array","value":{}}]"#
        );
        assert_eq!(
            issue_values::<Vec<u32>>(r#""1,2""#),
            json!([{"path": "", "code": "invalid.array.type", "message": "Value must be an array", "value": "1,2"}])
        );
    }

    #[test]
    fn array_lengths() {
        assert_eq!(
            issue_values::<Arrays>(r#"{"min":[],"max":[1,2,3],"range":[1]}"#),
            json!([
                {"path": "min", "code": "invalid.array.minLength", "message": "Array must have at least 1 items",
                 "params": {"min": 1}, "value": []},
                {"path": "max", "code": "invalid.array.maxLength", "message": "Array must have at most 2 items",
                 "params": {"max": 2}, "value": [1, 2, 3]},
            ])
        );
        let range = |value: Value| {
            json!([{"path": "range", "code": "invalid.array.range", "message": "Array length must be between 1 and 2",
                    "params": {"min": 1, "max": 2}, "value": value}])
        };
        assert_eq!(
            issue_values::<Arrays>(r#"{"min":[1],"max":[],"range":[]}"#),
            range(json!([]))
        );
        assert_eq!(
            issue_values::<Arrays>(r#"{"min":[1],"max":[],"range":[1,2,3]}"#),
            range(json!([1, 2, 3]))
        );
        // The reported array is the coerced one.
        assert_eq!(
            issue_values::<Arrays>(r#"{"min":[1],"max":["1","2","3"],"range":[1]}"#)[0]["value"],
            json!([1, 2, 3])
        );
    }

    #[test]
    fn array_elements_have_numeric_paths() {
        assert_eq!(
            issue_values::<Order>(r#"{"items":[{"name":"a"},{"name":""},{},{"name":null},5],"meta":{}}"#),
            json!([
                {"path": "items.1.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
                {"path": "items.2.name", "code": "required", "message": "Value is required"},
                {"path": "items.3.name", "code": "required", "message": "Value is required", "value": null},
                {"path": "items.4", "code": "invalid.object.type", "message": "Value must be an object", "value": 5},
            ])
        );
        assert_eq!(
            issue_values::<Vec<u32>>(r#"[1,"x",null]"#),
            json!([
                {"path": "1", "code": "invalid.number.type", "message": "Value must be a number", "value": "x"},
                {"path": "2", "code": "required", "message": "Value is required", "value": null},
            ])
        );
    }

    #[test]
    fn array_length_issue_skips_element_checks_on_the_slow_path() {
        // grest's validateArray returns after a length issue without looking at the elements.
        let input = json!({"items": [{"name": ""}]});
        assert_eq!(
            serde_json::to_value(decode_value::<ItemList>(input).unwrap_err()).unwrap(),
            json!([{"path": "items", "code": "invalid.array.minLength", "message": "Array must have at least 2 items",
                    "params": {"min": 2}, "value": [{"name": ""}]}])
        );
        // Elements are checked when the length is fine.
        assert_eq!(
            issue_values::<ItemList>(r#"{"items":[{"name":"a"},{"name":""}]}"#),
            json!([{"path": "items.1.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty",
                    "value": ""}])
        );
    }

    #[test]
    fn record_type() {
        assert_eq!(
            issues::<Order>(r#"{"items":[],"meta":[]}"#),
            r#"[{"path":"meta","code":"invalid.record.type","message":"Value must be an object","value":[]}]"#
        );
        assert_eq!(
            issue_values::<Tagged>(r#"{"tags":"a=1"}"#),
            json!([{"path": "tags", "code": "invalid.record.type", "message": "Value must be an object", "value": "a=1"}])
        );
    }

    #[test]
    fn record_values_are_addressed_by_key() {
        // grest's validateRecord checks each value at `<path>.<key>` (and the key itself at `<path>.<key>[key]`).
        assert_eq!(
            issue_values::<Order>(r#"{"items":[],"meta":{"a":{"name":"ok"},"b c":{"name":""},"d":{}}}"#),
            json!([
                {"path": "meta.b c.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
                {"path": "meta.d.name", "code": "required", "message": "Value is required"},
            ])
        );
        assert_eq!(
            issue_values::<Tagged>(r#"{"tags":{"x":"y"}}"#),
            json!([{"path": "tags.x", "code": "invalid.number.type", "message": "Value must be a number", "value": "y"}])
        );
        assert_eq!(
            issue_values::<BTreeMap<String, u8>>(r#"{"k":300}"#),
            json!([{"path": "k", "code": "invalid.number.range", "message": "Value must be between 0 and 255",
                    "params": {"min": 0, "max": 255}, "value": 300}])
        );
        let ok = both::<Tagged>(r#"{"tags":{"x":"1","y":2}}"#).unwrap();
        assert_eq!(ok.tags, HashMap::from([("x".to_owned(), 1), ("y".to_owned(), 2)]));
    }

    #[test]
    fn every_issue_is_reported_in_order() {
        assert_eq!(
            issue_values::<Order>(r#"{"items":[{"name":""},{"name":7},{}],"meta":{"k":{"name":[]}},"note":{}}"#),
            json!([
                {"path": "items.0.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
                {"path": "items.2.name", "code": "required", "message": "Value is required"},
                {"path": "meta.k.name", "code": "invalid.string.type", "message": "Value must be a string", "value": []},
                {"path": "note", "code": "invalid.string.type", "message": "Value must be a string", "value": {}},
            ])
        );
        assert_eq!(
            issue_values::<Msg>("{}"),
            json!([
                {"path": "text", "code": "required", "message": "Value is required"},
                {"path": "n", "code": "required", "message": "Value is required"},
            ])
        );
    }

    // ---- fast path vs slow path ----------------------------------------------------------------------------

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

    // ---- queries ---------------------------------------------------------------------------------------------

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn query_coerces_and_collects_repeated_keys() {
        let q = decode_query::<Query>(pairs(&[
            ("page", "2"),
            ("ids", "1"),
            ("ids", "20"),
            ("ids", "3"),
            ("verbose", "true"),
        ]))
        .unwrap();
        assert_eq!(
            q,
            Query {
                page: 2,
                ids: vec![1, 20, 3],
                verbose: Some(true),
                q: None
            }
        );
        let q = decode_query::<Query>(pairs(&[("ids", "7"), ("page", "0"), ("ids", "8"), ("q", "5")])).unwrap();
        assert_eq!((q.page, q.ids, q.verbose, q.q), (0, vec![7, 8], None, Some("5".into())));
    }

    #[test]
    fn query_issues() {
        // A single value stays a string, which is not an array; a repeated scalar is an array.
        let issues = decode_query::<Query>(pairs(&[
            ("page", "x"),
            ("page", "y"),
            ("ids", "1"),
            ("verbose", "maybe"),
        ]))
        .unwrap_err();
        assert_eq!(
            serde_json::to_value(issues).unwrap(),
            json!([
                {"path": "page", "code": "invalid.number.type", "message": "Value must be a number", "value": ["x", "y"]},
                {"path": "ids", "code": "invalid.array.type", "message": "Value must be an array", "value": "1"},
                {"path": "verbose", "code": "invalid.boolean.type", "message": "Value must be a boolean", "value": "maybe"},
            ])
        );
        let issues = decode_query::<Query>(Vec::new()).unwrap_err();
        assert_eq!(
            serde_json::to_value(issues).unwrap(),
            json!([
                {"path": "page", "code": "required", "message": "Value is required"},
                {"path": "ids", "code": "required", "message": "Value is required"},
            ])
        );
        let issues = decode_query::<Query>(pairs(&[("page", "1"), ("ids", "1"), ("ids", "-2")])).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].path.as_str(), issues[0].code.as_str()),
            ("ids.1", "invalid.number.range")
        );
        assert_eq!(issues[0].value, Some(json!(-2)));
    }

    // ---- Rules directly ---------------------------------------------------------------------------------------

    #[test]
    fn rules_without_constraints_report_nothing() {
        let mut issues = Issues::new();
        Rules::NONE.check_str("", &Path::root(), &mut issues);
        Rules::NONE.check_number(-1e300, &Path::root(), &mut issues);
        Rules::NONE.check_array_len(0, &Path::root(), &mut issues, || panic!("value must not be built"));
        assert!(issues.is_empty());
        assert_eq!(Rules::default(), Rules::NONE);
    }

    #[test]
    fn vec_rules_on_typed_values() {
        let mut issues = Issues::new();
        let mut path = Path::root();
        let mark = path.push("list");
        let rules = Rules {
            max_length: Some(1),
            ..Rules::NONE
        };
        vec![Item { name: "a".into() }, Item { name: String::new() }].check_rules(&rules, &path, &mut issues);
        vec![Item { name: String::new() }].validate(&mut path, &mut issues);
        path.pop_to(mark);
        assert_eq!(
            serde_json::to_value(issues).unwrap(),
            json!([
                {"path": "list", "code": "invalid.array.maxLength", "message": "Array must have at most 1 items",
                 "params": {"max": 1}, "value": [{"name": "a"}, {"name": ""}]},
                {"path": "list.0.name", "code": "invalid.string.nonEmpty", "message": "Value must not be empty", "value": ""},
            ])
        );
        assert_eq!(path.as_str(), "");
    }
}
