//! The slow path's walk of an enum ([`Shape::Union`]): find the variant the way serde's representation names
//! it, then walk its content; or, untagged, try each variant in turn.
//!
//! [`Shape::Union`]: super::Shape::Union

use serde_json::Value;

use super::coerce::check_value;
use super::issue::{Code, Issues, push_issue};
use super::path::Path;
use super::shape::{Shape, ShapeFn, Tagging, Variant};

/// Walks an enum's value (present, not a missing one) against its variants.
pub(super) fn check_union(
    value: &mut Value,
    tagging: Tagging,
    variants: &'static [Variant],
    path: &mut Path,
    issues: &mut Issues,
) {
    match tagging {
        Tagging::External => external(value, variants, path, issues),
        Tagging::Internal { tag } => {
            let Some(variant) = discriminate(value, tag, variants, path, issues) else {
                return;
            };
            // The content's fields sit beside the tag, which the content's object shape does not know about.
            if let Some(shape) = variant.shape {
                check_value(Some(value), &shape.get(), &variant.rules, path, issues);
            }
        }
        Tagging::Adjacent { tag, content } => {
            let Some(variant) = discriminate(value, tag, variants, path, issues) else {
                return;
            };
            if let (Some(shape), Value::Object(entries)) = (variant.shape, value) {
                let mark = path.push(content);
                check_value(entries.get_mut(content), &shape.get(), &variant.rules, path, issues);
                path.pop_to(mark);
            }
        }
        Tagging::Untagged => untagged(value, variants, path, issues),
    }
}

/// The variant names, for the `expected` param.
fn expected(variants: &[Variant]) -> [(&'static str, Value); 1] {
    let names: Vec<&str> = variants.iter().map(|variant| variant.name).collect();
    [("expected", Value::from(names.join(", ")))]
}

fn find(variants: &'static [Variant], name: &str) -> Option<&'static Variant> {
    variants.iter().find(|variant| variant.name == name)
}

/// A unit variant as its name, any other as `{"<name>": content}`.
fn external(value: &mut Value, variants: &'static [Variant], path: &mut Path, issues: &mut Issues) {
    match value {
        Value::String(name) => match find(variants, name) {
            Some(variant) if variant.shape.is_none() => {}
            // A variant with content must be written as an object.
            Some(_) => push_issue(issues, path, Code::DunionNotObject, &[], Some(value.clone())),
            None => push_issue(
                issues,
                path,
                Code::DunionUnknownVariant,
                &expected(variants),
                Some(value.clone()),
            ),
        },
        Value::Object(entries) if entries.len() == 1 => {
            let Some((name, content)) = entries.iter_mut().next() else {
                return;
            };
            let Some(variant) = find(variants, name) else {
                let name = Value::from(name.as_str());
                push_issue(
                    issues,
                    path,
                    Code::DunionUnknownVariant,
                    &expected(variants),
                    Some(name),
                );
                return;
            };
            let mark = path.push(variant.name);
            // serde reads a unit variant written as an object from `{"<name>": null}`.
            let shape = variant.shape.map_or(Shape::Null, ShapeFn::get);
            check_value(Some(content), &shape, &variant.rules, path, issues);
            path.pop_to(mark);
        }
        Value::Object(_) => push_issue(
            issues,
            path,
            Code::DunionMissingDiscriminator,
            &expected(variants),
            Some(value.clone()),
        ),
        _ => push_issue(issues, path, Code::DunionNotObject, &[], Some(value.clone())),
    }
}

/// The variant a tagged object names in its `tag` field; reports why there is none.
fn discriminate(
    value: &Value,
    tag: &'static str,
    variants: &'static [Variant],
    path: &mut Path,
    issues: &mut Issues,
) -> Option<&'static Variant> {
    let Value::Object(entries) = value else {
        push_issue(issues, path, Code::DunionNotObject, &[], Some(value.clone()));
        return None;
    };
    let mark = path.push(tag);
    let found = match entries.get(tag) {
        None => {
            push_issue(
                issues,
                path,
                Code::DunionMissingDiscriminator,
                &expected(variants),
                None,
            );
            None
        }
        Some(Value::Null) => {
            let null = Some(Value::Null);
            push_issue(
                issues,
                path,
                Code::DunionMissingDiscriminator,
                &expected(variants),
                null,
            );
            None
        }
        Some(name) => {
            let variant = name.as_str().and_then(|name| find(variants, name));
            if variant.is_none() {
                let name = Some(name.clone());
                push_issue(issues, path, Code::DunionUnknownVariant, &expected(variants), name);
            }
            variant
        }
    };
    path.pop_to(mark);
    found
}

/// Reports that a typed value of an untagged enum breaks its variant's constraints: one `invalid.union.invalid`
/// issue at `path`, as the JSON walk reports a value no variant accepts (without the value, which a typed check
/// does not have as JSON). The derived check of an untagged enum calls it in place of its variant's issues.
pub fn untagged_mismatch(path: &Path, issues: &mut Issues) {
    push_issue(issues, path, Code::UnionInvalid, &[], None);
}

/// The first variant the value satisfies (after coercion) wins, and its coerced value is kept; one
/// `invalid.union.invalid` issue when none does.
fn untagged(value: &mut Value, variants: &'static [Variant], path: &mut Path, issues: &mut Issues) {
    for variant in variants {
        let Some(shape) = variant.shape else {
            if value.is_null() {
                return;
            }
            continue;
        };
        let mut candidate = value.clone();
        let mut found = Issues::new();
        check_value(Some(&mut candidate), &shape.get(), &variant.rules, path, &mut found);
        if found.is_empty() {
            *value = candidate;
            return;
        }
    }
    push_issue(issues, path, Code::UnionInvalid, &[], Some(value.clone()));
}
