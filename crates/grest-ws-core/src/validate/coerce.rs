//! The slow path's walk: raw JSON checked against a [`Shape`], coerced in place like grest, every issue listed.

use serde_json::Value;

use super::issue::{Code, Issues, number_value, push_issue};
use super::path::Path;
use super::rules::{Rules, max_opt, min_opt};
use super::shape::{Shape, Tagging};
use super::union::check_union;

/// Walks a JSON value against a shape, coercing in place like grest, and lists every issue.
///
/// `value` is `None` when the field (or the whole payload) is missing.
pub fn check_value(value: Option<&mut Value>, shape: &Shape, rules: &Rules, path: &mut Path, issues: &mut Issues) {
    if let Shape::Named(_, inner) = shape {
        return check_value(value, &inner.get(), rules, path, issues);
    }
    let value = match value {
        Some(v) if !v.is_null() || takes_null(shape) => v,
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
        Shape::Optional(inner) => check_value(Some(value), &inner.get(), rules, path, issues),
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
            rules.check_number_within(n, lo, hi, path, issues);
        }
        Shape::Array(item) => {
            let Value::Array(items) = value else {
                push_issue(issues, path, Code::ArrayType, &[], Some(value.clone()));
                return;
            };
            // grest coerces the whole value first, then reports a length issue *instead of* the elements' issues.
            let item_shape = item.get();
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
            let item_shape = item.get();
            for (key, element) in entries.iter_mut() {
                let mark = path.push(key);
                check_value(Some(element), &item_shape, &Rules::NONE, path, issues);
                path.pop_to(mark);
            }
        }
        Shape::Tuple(elements) => {
            let Value::Array(items) = value else {
                push_issue(issues, path, Code::TupleType, &[], Some(value.clone()));
                return;
            };
            if items.len() != elements.len() {
                let params = [("length", Value::from(elements.len()))];
                push_issue(issues, path, Code::TupleLength, &params, Some(value.clone()));
                return;
            }
            for (i, (item, element)) in items.iter_mut().zip(*elements).enumerate() {
                let mark = path.push(i);
                check_value(Some(item), &element.shape.get(), &element.rules, path, issues);
                path.pop_to(mark);
            }
        }
        Shape::Union { tagging, variants } => check_union(value, *tagging, variants, path, issues),
        Shape::Object(fields) => {
            if !value.is_object() {
                push_issue(issues, path, Code::ObjectType, &[], Some(value.clone()));
                return;
            }
            for field in *fields {
                if field.flatten {
                    // The flattened type's fields are the enclosing object's own.
                    check_value(Some(value), &field.shape.get(), &field.rules, path, issues);
                    continue;
                }
                // Checked above; a flattened type's walk leaves the object an object.
                let Value::Object(entries) = &mut *value else {
                    return;
                };
                let mark = path.push(field.name);
                let shape = field.shape.get();
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

/// Whether `null` is a value of the shape rather than a missing one: `null` itself, anything, or an untagged enum
/// with a unit variant.
fn takes_null(shape: &Shape) -> bool {
    match shape {
        Shape::Null | Shape::Any => true,
        Shape::Union {
            tagging: Tagging::Untagged,
            variants,
        } => variants.iter().any(|variant| variant.shape.is_none()),
        _ => false,
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
