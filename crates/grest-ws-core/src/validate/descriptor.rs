//! A [`Shape`] as JSON data, and back.
//!
//! [`describe`] writes a shape as a *descriptor*: a JSON object with a `kind` and whatever that kind carries,
//! constraints included. A named type is a reference (`{"kind": "ref", "name": "Post"}`) to its definition, which
//! [`definitions`] collects for any set of shapes. The TypeScript client's validator walks descriptors, and a
//! served AsyncAPI document carries them, so a tool that only has the document can check input exactly as the
//! server will.
//!
//! [`ShapeReader`] goes the other way: it reads the definitions and then any descriptor into a [`Shape`] that
//! [`check_value`](super::check_value) walks like a type's own, with the same coercions and issue codes.
//!
//! | kind | carries |
//! |---|---|
//! | `any`, `null`, `boolean`, `string` | nothing |
//! | `number` | `integer`, and the type's `min`/`max` when it has them |
//! | `literal` | `values`: the allowed strings |
//! | `optional` | `inner` |
//! | `array`, `record` | `item` |
//! | `object` | `fields`: `{name, shape, rules?, hasDefault?, flatten?}` |
//! | `tuple` | `items`: `{shape, rules?}` |
//! | `union` | `tagging` (`external`, `internal`, `adjacent`, `untagged`), `tag`, `content`, `variants`: `{name, shape?, rules?}` |
//! | `ref` | `name` |
//!
//! Rules are `{nonEmpty, minLength, maxLength, min, max, multipleOf, pattern, format}`, each only when declared.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::format::Format;
use super::issue::number_value;
use super::pattern::{InvalidPattern, Pattern, PatternCache};
use super::rules::Rules;
use super::shape::{Element, Field, Shape, ShapeFn, Tagging, Variant};

/// The descriptor of a shape; a named type is a `ref` to its definition (see [`definitions`]).
pub fn describe(shape: &Shape) -> Value {
    match shape {
        Shape::Any => json!({ "kind": "any" }),
        Shape::Null => json!({ "kind": "null" }),
        Shape::Boolean => json!({ "kind": "boolean" }),
        Shape::String => json!({ "kind": "string" }),
        Shape::Number { integer, min, max } => {
            let mut out = Map::new();
            out.insert("kind".to_owned(), Value::from("number"));
            out.insert("integer".to_owned(), Value::from(*integer));
            if let Some(min) = min {
                out.insert("min".to_owned(), number_value(*min));
            }
            if let Some(max) = max {
                out.insert("max".to_owned(), number_value(*max));
            }
            Value::Object(out)
        }
        Shape::Literal(values) => json!({ "kind": "literal", "values": values }),
        Shape::Optional(inner) => json!({ "kind": "optional", "inner": describe(&inner.get()) }),
        Shape::Array(item) => json!({ "kind": "array", "item": describe(&item.get()) }),
        Shape::Record(item) => json!({ "kind": "record", "item": describe(&item.get()) }),
        Shape::Object(fields) => {
            let fields: Vec<Value> = fields
                .iter()
                .map(|field| {
                    let mut out = Map::new();
                    out.insert("name".to_owned(), Value::from(field.name));
                    out.insert("shape".to_owned(), describe(&field.shape.get()));
                    if let Some(rules) = describe_rules(&field.rules) {
                        out.insert("rules".to_owned(), rules);
                    }
                    if field.has_default {
                        out.insert("hasDefault".to_owned(), Value::Bool(true));
                    }
                    if field.flatten {
                        out.insert("flatten".to_owned(), Value::Bool(true));
                    }
                    Value::Object(out)
                })
                .collect();
            json!({ "kind": "object", "fields": fields })
        }
        Shape::Tuple(elements) => {
            let items: Vec<Value> = elements
                .iter()
                .map(|element| {
                    let mut out = Map::new();
                    out.insert("shape".to_owned(), describe(&element.shape.get()));
                    if let Some(rules) = describe_rules(&element.rules) {
                        out.insert("rules".to_owned(), rules);
                    }
                    Value::Object(out)
                })
                .collect();
            json!({ "kind": "tuple", "items": items })
        }
        Shape::Union { tagging, variants } => {
            let mut out = Map::new();
            out.insert("kind".to_owned(), Value::from("union"));
            let (name, tag, content) = match *tagging {
                Tagging::External => ("external", None, None),
                Tagging::Internal { tag } => ("internal", Some(tag), None),
                Tagging::Adjacent { tag, content } => ("adjacent", Some(tag), Some(content)),
                Tagging::Untagged => ("untagged", None, None),
            };
            out.insert("tagging".to_owned(), Value::from(name));
            if let Some(tag) = tag {
                out.insert("tag".to_owned(), Value::from(tag));
            }
            if let Some(content) = content {
                out.insert("content".to_owned(), Value::from(content));
            }
            let variants: Vec<Value> = variants
                .iter()
                .map(|variant| {
                    let mut entry = Map::new();
                    entry.insert("name".to_owned(), Value::from(variant.name));
                    if let Some(shape) = variant.shape {
                        entry.insert("shape".to_owned(), describe(&shape.get()));
                    }
                    if let Some(rules) = describe_rules(&variant.rules) {
                        entry.insert("rules".to_owned(), rules);
                    }
                    Value::Object(entry)
                })
                .collect();
            out.insert("variants".to_owned(), Value::Array(variants));
            Value::Object(out)
        }
        Shape::Named(name, _) => json!({ "kind": "ref", "name": name }),
    }
}

/// The declared constraints as an object, or `None` when there are none.
pub fn describe_rules(rules: &Rules) -> Option<Value> {
    let mut out = Map::new();
    if rules.non_empty {
        out.insert("nonEmpty".to_owned(), Value::Bool(true));
    }
    if let Some(n) = rules.min_length {
        out.insert("minLength".to_owned(), Value::from(n));
    }
    if let Some(n) = rules.max_length {
        out.insert("maxLength".to_owned(), Value::from(n));
    }
    if let Some(n) = rules.min {
        out.insert("min".to_owned(), number_value(n));
    }
    if let Some(n) = rules.max {
        out.insert("max".to_owned(), number_value(n));
    }
    if let Some(n) = rules.multiple_of {
        out.insert("multipleOf".to_owned(), number_value(n));
    }
    if let Some(pattern) = &rules.pattern {
        out.insert("pattern".to_owned(), Value::from(pattern.source()));
    }
    if let Some(format) = rules.format {
        out.insert("format".to_owned(), Value::from(format.name()));
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The definition of every named type the shapes refer to, directly or through one another, by name.
///
/// Two different types under one name are an error: a reference could not tell them apart.
pub fn definitions(shapes: impl IntoIterator<Item = Shape>) -> Result<Map<String, Value>, NameCollision> {
    let mut found = Map::new();
    for shape in shapes {
        collect(&shape, &mut found)?;
    }
    Ok(found)
}

fn collect(shape: &Shape, found: &mut Map<String, Value>) -> Result<(), NameCollision> {
    fn each(shapes: impl Iterator<Item = Shape>, found: &mut Map<String, Value>) -> Result<(), NameCollision> {
        shapes.into_iter().try_for_each(|shape| collect(&shape, found))
    }
    match shape {
        Shape::Any | Shape::Null | Shape::Boolean | Shape::String | Shape::Number { .. } | Shape::Literal(_) => Ok(()),
        Shape::Optional(inner) | Shape::Array(inner) | Shape::Record(inner) => collect(&inner.get(), found),
        Shape::Object(fields) => each(fields.iter().map(|field| field.shape.get()), found),
        Shape::Tuple(elements) => each(elements.iter().map(|element| element.shape.get()), found),
        Shape::Union { variants, .. } => each(variants.iter().filter_map(|v| v.shape.map(ShapeFn::get)), found),
        Shape::Named(name, inner) => {
            let inner = inner.get();
            let body = describe(&inner);
            match found.get(*name) {
                Some(known) if *known == body => Ok(()),
                Some(_) => Err(NameCollision((*name).to_owned())),
                None => {
                    // Entered before the walk below, so that a recursive type stops at itself.
                    found.insert((*name).to_owned(), body);
                    collect(&inner, found)
                }
            }
        }
    }
}

/// Two different types share the name in it: a reference could not tell them apart ([`definitions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCollision(pub String);

impl fmt::Display for NameCollision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "two different types are both named `{}`", self.0)
    }
}

impl std::error::Error for NameCollision {}

/// Why a descriptor could not be read ([`ShapeReader`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescriptorError {
    /// A value is not what its place in a descriptor needs (`at` is a JSON pointer into the descriptor).
    Malformed {
        /// Where, as a JSON pointer from the descriptor (or the definition) being read.
        at: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A `ref` names no definition.
    UnknownReference(String),
    /// A `format` rule names no [`Format`].
    UnknownFormat(String),
    /// A `pattern` rule does not compile.
    Pattern(InvalidPattern),
}

impl fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DescriptorError::Malformed { at, expected } => write!(f, "malformed descriptor at {at:?}: {expected}"),
            DescriptorError::UnknownReference(name) => write!(f, "reference to an undefined type `{name}`"),
            DescriptorError::UnknownFormat(name) => write!(f, "unknown string format {name:?}"),
            DescriptorError::Pattern(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for DescriptorError {}

/// Reads descriptors back into [`Shape`]s, given the definitions their references name.
///
/// What it builds (names, fields, compiled patterns) is kept for the rest of the process: a reader is meant for a
/// tool that reads one document, not for a server reading documents over and over.
///
/// ```
/// use grest_ws_core::validate::{Path, ShapeReader, check_value, Rules};
/// use serde_json::json;
///
/// let definitions = json!({
///     "Message": {"kind": "object", "fields": [
///         {"name": "text", "shape": {"kind": "string"}, "rules": {"nonEmpty": true}}
///     ]}
/// });
/// let reader = ShapeReader::new(definitions.as_object().unwrap()).unwrap();
/// let shape = reader.read(&json!({"kind": "ref", "name": "Message"})).unwrap();
///
/// let mut input = json!({"text": ""});
/// let mut issues = Vec::new();
/// check_value(Some(&mut input), &shape, &Rules::NONE, &mut Path::root(), &mut issues);
/// assert_eq!(issues[0].code, "invalid.string.nonEmpty");
/// assert_eq!(issues[0].path, "text");
/// ```
#[derive(Debug)]
pub struct ShapeReader {
    named: HashMap<String, (&'static str, &'static OnceLock<Shape>)>,
}

impl ShapeReader {
    /// Reads every definition (they may refer to one another and to themselves).
    pub fn new(definitions: &Map<String, Value>) -> Result<Self, DescriptorError> {
        let named = definitions
            .keys()
            .map(|name| {
                let cell: &'static OnceLock<Shape> = Box::leak(Box::new(OnceLock::new()));
                (name.clone(), (leak(name), cell))
            })
            .collect();
        let reader = ShapeReader { named };
        for (name, definition) in definitions {
            let shape = reader.shape(definition, &format!("/{}", pointer_token(name)))?;
            if let Some((_, cell)) = reader.named.get(name) {
                let _ = cell.set(shape);
            }
        }
        Ok(reader)
    }

    /// Reads one descriptor.
    pub fn read(&self, descriptor: &Value) -> Result<Shape, DescriptorError> {
        self.shape(descriptor, "")
    }

    fn shape(&self, value: &Value, at: &str) -> Result<Shape, DescriptorError> {
        let kind = member(value, at, "kind")?
            .as_str()
            .ok_or_else(|| malformed(at, "kind", "a string"))?;
        Ok(match kind {
            "any" => Shape::Any,
            "null" => Shape::Null,
            "boolean" => Shape::Boolean,
            "string" => Shape::String,
            "number" => Shape::Number {
                integer: value.get("integer").and_then(Value::as_bool).unwrap_or(false),
                min: optional_number(value, at, "min")?,
                max: optional_number(value, at, "max")?,
            },
            "literal" => {
                let values = array(value, at, "values")?
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let at = format!("{at}/values");
                        v.as_str()
                            .map(leak)
                            .ok_or_else(|| malformed(&at, &i.to_string(), "a string"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Shape::Literal(Box::leak(values.into_boxed_slice()))
            }
            "optional" => Shape::Optional(self.built(member(value, at, "inner")?, &format!("{at}/inner"))?),
            "array" => Shape::Array(self.built(member(value, at, "item")?, &format!("{at}/item"))?),
            "record" => Shape::Record(self.built(member(value, at, "item")?, &format!("{at}/item"))?),
            "object" => {
                let fields = array(value, at, "fields")?
                    .iter()
                    .enumerate()
                    .map(|(i, field)| self.field(field, &format!("{at}/fields/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Shape::Object(Box::leak(fields.into_boxed_slice()))
            }
            "tuple" => {
                let elements = array(value, at, "items")?
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let at = format!("{at}/items/{i}");
                        Ok(Element {
                            shape: self.built(member(item, &at, "shape")?, &format!("{at}/shape"))?,
                            rules: rules(item.get("rules"), &at)?,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Shape::Tuple(Box::leak(elements.into_boxed_slice()))
            }
            "union" => self.union(value, at)?,
            "ref" => {
                let name = member(value, at, "name")?
                    .as_str()
                    .ok_or_else(|| malformed(at, "name", "a string"))?;
                let (name, cell) = self
                    .named
                    .get(name)
                    .ok_or_else(|| DescriptorError::UnknownReference(name.to_owned()))?;
                Shape::Named(name, ShapeFn::built(cell))
            }
            _ => return Err(malformed(at, "kind", "a known kind")),
        })
    }

    fn field(&self, value: &Value, at: &str) -> Result<Field, DescriptorError> {
        let name = member(value, at, "name")?
            .as_str()
            .ok_or_else(|| malformed(at, "name", "a string"))?;
        Ok(Field {
            name: leak(name),
            shape: self.built(member(value, at, "shape")?, &format!("{at}/shape"))?,
            rules: rules(value.get("rules"), at)?,
            has_default: flag(value, at, "hasDefault")?,
            flatten: flag(value, at, "flatten")?,
        })
    }

    fn union(&self, value: &Value, at: &str) -> Result<Shape, DescriptorError> {
        let text = |key: &str| {
            member(value, at, key)?
                .as_str()
                .map(leak)
                .ok_or_else(|| malformed(at, key, "a string"))
        };
        let tagging = match text("tagging")? {
            "external" => Tagging::External,
            "internal" => Tagging::Internal { tag: text("tag")? },
            "adjacent" => Tagging::Adjacent {
                tag: text("tag")?,
                content: text("content")?,
            },
            "untagged" => Tagging::Untagged,
            _ => return Err(malformed(at, "tagging", "external, internal, adjacent or untagged")),
        };
        let variants = array(value, at, "variants")?
            .iter()
            .enumerate()
            .map(|(i, variant)| {
                let at = format!("{at}/variants/{i}");
                let name = member(variant, &at, "name")?
                    .as_str()
                    .ok_or_else(|| malformed(&at, "name", "a string"))?;
                let shape = match variant.get("shape") {
                    Some(shape) => Some(self.built(shape, &format!("{at}/shape"))?),
                    None => None,
                };
                Ok(Variant {
                    name: leak(name),
                    shape,
                    rules: rules(variant.get("rules"), &at)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Shape::Union {
            tagging,
            variants: Box::leak(variants.into_boxed_slice()),
        })
    }

    /// A nested descriptor, read now and referred to through a cell.
    fn built(&self, value: &Value, at: &str) -> Result<ShapeFn, DescriptorError> {
        let cell: &'static OnceLock<Shape> = Box::leak(Box::new(OnceLock::from(self.shape(value, at)?)));
        Ok(ShapeFn::built(cell))
    }
}

fn rules(value: Option<&Value>, at: &str) -> Result<Rules, DescriptorError> {
    let Some(value) = value else {
        return Ok(Rules::NONE);
    };
    let at = format!("{at}/rules");
    if !value.is_object() {
        return Err(malformed(&at, "", "an object"));
    }
    let count = |key: &str| match value.get(key) {
        None => Ok(None),
        Some(n) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| malformed(&at, key, "a whole number")),
    };
    let pattern = match value.get("pattern") {
        None => None,
        Some(source) => {
            let source = source.as_str().ok_or_else(|| malformed(&at, "pattern", "a string"))?;
            let cache = PatternCache::compile(leak(source)).map_err(DescriptorError::Pattern)?;
            Some(Pattern::cached(Box::leak(Box::new(cache))))
        }
    };
    let format = match value.get("format") {
        None => None,
        Some(name) => {
            let name = name.as_str().ok_or_else(|| malformed(&at, "format", "a string"))?;
            Some(Format::from_name(name).ok_or_else(|| DescriptorError::UnknownFormat(name.to_owned()))?)
        }
    };
    Ok(Rules {
        non_empty: flag(value, &at, "nonEmpty")?,
        min_length: count("minLength")?,
        max_length: count("maxLength")?,
        min: optional_number(value, &at, "min")?,
        max: optional_number(value, &at, "max")?,
        multiple_of: optional_number(value, &at, "multipleOf")?,
        pattern,
        format,
    })
}

fn member<'a>(value: &'a Value, at: &str, key: &str) -> Result<&'a Value, DescriptorError> {
    value.get(key).ok_or_else(|| malformed(at, key, "present"))
}

fn array<'a>(value: &'a Value, at: &str, key: &str) -> Result<&'a Vec<Value>, DescriptorError> {
    member(value, at, key)?
        .as_array()
        .ok_or_else(|| malformed(at, key, "an array"))
}

fn flag(value: &Value, at: &str, key: &str) -> Result<bool, DescriptorError> {
    match value.get(key) {
        None => Ok(false),
        Some(flag) => flag.as_bool().ok_or_else(|| malformed(at, key, "a boolean")),
    }
}

fn optional_number(value: &Value, at: &str, key: &str) -> Result<Option<f64>, DescriptorError> {
    match value.get(key) {
        None => Ok(None),
        Some(n) => n.as_f64().map(Some).ok_or_else(|| malformed(at, key, "a number")),
    }
}

fn malformed(at: &str, key: &str, expected: &'static str) -> DescriptorError {
    let at = if key.is_empty() {
        at.to_owned()
    } else {
        format!("{at}/{}", pointer_token(key))
    };
    DescriptorError::Malformed { at, expected }
}

/// A key as one JSON pointer token (`~` and `/` escaped).
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[cfg(test)]
mod tests;
