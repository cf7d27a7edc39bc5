//! Input validation with grest's issue format (PROTOCOL.md §8).
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
use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One validation issue: `{path, code, message, params?, value?}` in that key order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Dot-separated location (`items.0.name`); record keys as `key[k]`; the root is `""`.
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
    pub fn push(&mut self, segment: impl std::fmt::Display) -> usize {
        let mark = self.0.len();
        if mark > 0 {
            self.0.push('.');
        }
        let _ = write!(self.0, "{segment}");
        mark
    }

    /// Appends a record key as `[key]`; returns the mark to [`Path::pop_to`].
    pub fn push_key(&mut self, key: &str) -> usize {
        let mark = self.0.len();
        self.0.push('[');
        self.0.push_str(key);
        self.0.push(']');
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
            fn shape() -> Shape {
                Shape::Number { integer: true, min: Some(<$t>::MIN as f64), max: Some(<$t>::MAX as f64) }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                rules.check_number(*self as f64, path, issues);
            }
        }
    )*};
}
impl_int!(i8, i16, i32, u8, u16, u32);

macro_rules! impl_wide_int {
    ($($t:ty => $min:expr),*) => {$(
        impl Validate for $t {
            fn shape() -> Shape {
                Shape::Number { integer: true, min: $min, max: None }
            }
            fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
                rules.check_number(*self as f64, path, issues);
            }
        }
    )*};
}
impl_wide_int!(i64 => None, isize => None, u64 => Some(0.0), usize => Some(0.0));

macro_rules! impl_float {
    ($($t:ty),*) => {$(
        impl Validate for $t {
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
    fn shape() -> Shape {
        Shape::Boolean
    }
}

impl Validate for String {
    fn shape() -> Shape {
        Shape::String
    }
    fn check_rules(&self, rules: &Rules, path: &Path, issues: &mut Issues) {
        rules.check_str(self, path, issues);
    }
}

impl Validate for () {
    fn shape() -> Shape {
        Shape::Null
    }
}

impl Validate for Value {
    fn shape() -> Shape {
        Shape::Any
    }
}

impl<T: Validate> Validate for Option<T> {
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
        let mark = path.push_key(key);
        item.validate(path, issues);
        path.pop_to(mark);
    }
}

impl<T: Validate, S> Validate for HashMap<String, T, S> {
    fn shape() -> Shape {
        Shape::Record(T::shape)
    }
    fn validate(&self, path: &mut Path, issues: &mut Issues) {
        validate_entries(self.iter(), path, issues);
    }
}

impl<T: Validate> Validate for BTreeMap<String, T> {
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
    let value = match value {
        Some(v) if !v.is_null() || matches!(shape, Shape::Null | Shape::Any) => v,
        _ => {
            if !matches!(shape, Shape::Optional(_)) {
                push_issue(issues, path, Code::Required, &[], None);
            }
            return;
        }
    };
    match shape {
        Shape::Any => {}
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
                Value::Number(n) => *value = Value::String(n.to_string()),
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
            let n = match &*value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => js_number(s),
                _ => None,
            };
            let Some(n) = n.filter(|n| n.is_finite()) else {
                push_issue(issues, path, Code::NumberType, &[], Some(value.clone()));
                return;
            };
            *value = number_value(n);
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
            rules.check_array_len(items.len(), path, issues, || Value::Array(items.clone()));
            let item_shape = item();
            for (i, element) in items.iter_mut().enumerate() {
                let mark = path.push(i);
                check_value(Some(element), &item_shape, &Rules::NONE, path, issues);
                path.pop_to(mark);
            }
        }
        Shape::Record(item) => {
            let Value::Object(entries) = value else {
                push_issue(issues, path, Code::RecordType, &[], Some(value.clone()));
                return;
            };
            let item_shape = item();
            for (key, element) in entries.iter_mut() {
                let mark = path.push_key(key);
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
                    None if field.has_default => {}
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

/// JavaScript's `Number(string)` for the decimal forms: surrounding whitespace ignored, blank is 0.
fn js_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return Some(0.0);
    }
    if t.chars().any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    t.parse::<f64>().ok()
}

/// Decodes and validates a payload (`None` = no payload) into `T`, returning every issue on failure.
///
/// Invalid JSON counts as no payload, as in the original (PROTOCOL.md §1.2 rule 5).
pub fn decode<T: DeserializeOwned + Validate>(data: Option<&str>) -> Result<T, Issues> {
    if let Some(text) = data {
        if let Ok(value) = serde_json::from_str::<T>(text) {
            let mut issues = Issues::new();
            value.validate(&mut Path::root(), &mut issues);
            return if issues.is_empty() { Ok(value) } else { Err(issues) };
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
    fn shape() -> Shape {
        Shape::Record(Value::shape)
    }
}
