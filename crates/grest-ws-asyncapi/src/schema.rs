//! [`Shape`] → JSON Schema (draft-07, which an AsyncAPI 3 Schema Object extends): the same shape the validator
//! walks, constraints included, with every named type in `components.schemas`.

use std::collections::BTreeMap;

use grest_ws_core::validate::{Format, Rules, Shape, ShapeFn, Tagging, Variant, number_value};
use serde_json::{Map, Value, json};

use crate::AsyncApiError;

/// The schemas of named types (`components.schemas`), filled while payloads are converted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schemas {
    named: BTreeMap<&'static str, Value>,
    /// Names being converted: a recursive type refers to itself while its body is built.
    in_progress: Vec<&'static str>,
}

impl Schemas {
    /// The schemas of every named type seen, by name.
    pub(crate) fn components(&self) -> Map<String, Value> {
        self.named
            .iter()
            .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
            .collect()
    }

    /// The schema of a shape; a named type becomes a `$ref` to its component.
    pub(crate) fn schema(&mut self, shape: &Shape) -> Result<Value, AsyncApiError> {
        self.constrained(shape, &Rules::NONE)
    }

    /// The schema of a shape with the constraints a field, element or newtype variant declares on it. They apply
    /// where the validator applies them: lengths, `non_empty`, `pattern` and `format` to strings, lengths to arrays,
    /// bounds and `multiple_of` to numbers (narrowing the number type's own bounds); through `Option` to the value
    /// inside; nowhere else.
    pub(crate) fn constrained(&mut self, shape: &Shape, rules: &Rules) -> Result<Value, AsyncApiError> {
        Ok(match shape {
            Shape::Any => json!({}),
            Shape::Null => json!({ "type": "null" }),
            Shape::Boolean => json!({ "type": "boolean" }),
            Shape::String => string(rules),
            Shape::Number { integer, min, max } => number(*integer, *min, *max, rules),
            Shape::Literal([]) | Shape::Union { variants: [], .. } => json!({ "not": {} }),
            Shape::Literal(values) => json!({ "type": "string", "enum": values }),
            Shape::Optional(inner) => nullable(self.constrained(&inner.get(), rules)?),
            Shape::Array(item) => {
                let mut schema = Map::new();
                schema.insert("type".to_owned(), Value::from("array"));
                schema.insert("items".to_owned(), self.schema(&item.get())?);
                insert_number(&mut schema, "minItems", rules.min_length.map(|n| n as f64));
                insert_number(&mut schema, "maxItems", rules.max_length.map(|n| n as f64));
                Value::Object(schema)
            }
            Shape::Record(item) => json!({ "type": "object", "additionalProperties": self.schema(&item.get())? }),
            Shape::Object(fields) => {
                let mut properties = Map::new();
                let mut required = Vec::new();
                let mut flattened = Vec::new();
                for field in *fields {
                    let shape = field.shape.get();
                    if field.flatten {
                        // The flattened type's fields are the enclosing object's own.
                        flattened.push(self.schema(&shape)?);
                        continue;
                    }
                    if !field.has_default && !matches!(shape, Shape::Optional(_)) {
                        required.push(Value::from(field.name));
                    }
                    properties.insert(field.name.to_owned(), self.constrained(&shape, &field.rules)?);
                }
                let own = object(properties, required);
                match (own.get("properties").is_some(), flattened.is_empty()) {
                    (_, true) => own,
                    (false, false) => json!({ "allOf": flattened }),
                    (true, false) => json!({ "allOf": std::iter::once(own).chain(flattened).collect::<Vec<_>>() }),
                }
            }
            Shape::Tuple([]) => json!({ "type": "array", "maxItems": 0 }),
            Shape::Tuple(elements) => {
                let mut items = Vec::new();
                for element in *elements {
                    items.push(self.constrained(&element.shape.get(), &element.rules)?);
                }
                json!({ "type": "array", "items": items, "minItems": items.len(), "maxItems": items.len() })
            }
            Shape::Union { tagging, variants } => {
                let mut members = Vec::new();
                for variant in *variants {
                    members.push(self.variant(*tagging, variant)?);
                }
                // Tags tell the variants apart; untagged ones may overlap (the first that fits is the one).
                let keyword = if *tagging == Tagging::Untagged {
                    "anyOf"
                } else {
                    "oneOf"
                };
                json!({ keyword: members })
            }
            Shape::Named(name, inner) => self.named(name, *inner)?,
        })
    }

    /// The schema of one variant of an enum, as serde writes it under `tagging`.
    fn variant(&mut self, tagging: Tagging, variant: &Variant) -> Result<Value, AsyncApiError> {
        let content = match variant.shape {
            Some(shape) => Some(self.constrained(&shape.get(), &variant.rules)?),
            None => None,
        };
        let name = variant.name;
        Ok(match (tagging, content) {
            (Tagging::External, None) => json!({ "type": "string", "const": name }),
            (Tagging::External, Some(content)) => json!({
                "type": "object",
                "properties": { name: content },
                "required": [name],
                "additionalProperties": false,
            }),
            (Tagging::Internal { tag } | Tagging::Adjacent { tag, .. }, None) => tagged(tag, name),
            // The content's fields sit beside the tag: merged into one object when the content is a plain one.
            (Tagging::Internal { tag }, Some(content)) => match content {
                Value::Object(fields) if fields.get("type") == Some(&Value::from("object")) => {
                    let Value::Object(mut merged) = tagged(tag, name) else {
                        unreachable!("a tag is an object schema")
                    };
                    for (key, value) in fields {
                        match (merged.get_mut(&key), value) {
                            (Some(Value::Object(own)), Value::Object(more)) => own.extend(more),
                            (Some(Value::Array(own)), Value::Array(more)) => own.extend(more),
                            (Some(_), _) => {}
                            (None, value) => {
                                merged.insert(key, value);
                            }
                        }
                    }
                    Value::Object(merged)
                }
                content => json!({ "allOf": [tagged(tag, name), content] }),
            },
            (Tagging::Adjacent { tag, content: key }, Some(content)) => json!({
                "type": "object",
                "properties": { tag: { "type": "string", "const": name }, key: content },
                "required": [tag, key],
            }),
            (Tagging::Untagged, None) => json!({ "type": "null" }),
            (Tagging::Untagged, Some(content)) => content,
        })
    }

    /// Registers a named type (converting it the first time) and returns the reference to it.
    fn named(&mut self, name: &'static str, inner: ShapeFn) -> Result<Value, AsyncApiError> {
        let reference = json!({ "$ref": format!("#/components/schemas/{name}") });
        if self.in_progress.contains(&name) {
            return Ok(reference);
        }
        // Converted again when seen again (nested names stay references), to tell another type of the same name.
        self.in_progress.push(name);
        let body = self.schema(&inner.get());
        self.in_progress.retain(|n| *n != name);
        let body = body?;
        match self.named.get(name) {
            Some(seen) if *seen != body => Err(AsyncApiError::NameCollision(name.to_owned())),
            Some(_) => Ok(reference),
            None => {
                self.named.insert(name, body);
                Ok(reference)
            }
        }
    }
}

/// `{"type": "object", "properties": …, "required": […]}`, without the empty parts.
pub(crate) fn object(properties: Map<String, Value>, required: Vec<Value>) -> Value {
    let mut schema = Map::new();
    schema.insert("type".to_owned(), Value::from("object"));
    if !properties.is_empty() {
        schema.insert("properties".to_owned(), Value::Object(properties));
    }
    if !required.is_empty() {
        schema.insert("required".to_owned(), Value::Array(required));
    }
    Value::Object(schema)
}

/// An object whose `tag` field is the string `name`.
fn tagged(tag: &str, name: &str) -> Value {
    json!({
        "type": "object",
        "properties": { tag: { "type": "string", "const": name } },
        "required": [tag],
    })
}

/// A string with its declared constraints: `non_empty` is a minimum length of 1. Lengths count UTF-16 code units,
/// as the validator (and JavaScript) counts.
fn string(rules: &Rules) -> Value {
    let mut schema = Map::new();
    schema.insert("type".to_owned(), Value::from("string"));
    let min_length = match (rules.non_empty, rules.min_length) {
        (true, min) => Some(min.unwrap_or(0).max(1)),
        (false, min) => min,
    };
    insert_number(&mut schema, "minLength", min_length.map(|n| n as f64));
    insert_number(&mut schema, "maxLength", rules.max_length.map(|n| n as f64));
    if let Some(pattern) = &rules.pattern {
        schema.insert("pattern".to_owned(), Value::from(pattern.source()));
    }
    match rules.format {
        // Either address family: no one JSON Schema format says that.
        Some(Format::Ip) => {
            schema.insert("anyOf".to_owned(), json!([{ "format": "ipv4" }, { "format": "ipv6" }]));
        }
        Some(format) => {
            schema.insert("format".to_owned(), Value::from(json_schema_format(format)));
        }
        None => {}
    }
    Value::Object(schema)
}

/// The JSON Schema format of a single-format [`Format`].
fn json_schema_format(format: Format) -> &'static str {
    match format {
        Format::Email => "email",
        Format::Url => "uri",
        Format::Uuid => "uuid",
        Format::Date => "date",
        Format::DateTime => "date-time",
        Format::Ipv4 | Format::Ip => "ipv4",
        Format::Ipv6 => "ipv6",
    }
}

/// A number: the type's own bounds narrowed by the declared ones (one set of bounds, as the validator checks them),
/// and `multiple_of`.
fn number(integer: bool, min: Option<f64>, max: Option<f64>, rules: &Rules) -> Value {
    let mut schema = Map::new();
    schema.insert(
        "type".to_owned(),
        Value::from(if integer { "integer" } else { "number" }),
    );
    insert_number(
        &mut schema,
        "minimum",
        min.into_iter().chain(rules.min).reduce(f64::max),
    );
    insert_number(
        &mut schema,
        "maximum",
        max.into_iter().chain(rules.max).reduce(f64::min),
    );
    insert_number(&mut schema, "multipleOf", rules.multiple_of);
    Value::Object(schema)
}

fn insert_number(schema: &mut Map<String, Value>, key: &str, value: Option<f64>) {
    if let Some(value) = value {
        schema.insert(key.to_owned(), number_value(value));
    }
}

/// A schema that also accepts `null` (an `Option`): `"type": [t, "null"]` for a plain typed schema, else `anyOf`.
fn nullable(schema: Value) -> Value {
    match schema {
        Value::Object(plain)
            if plain.get("type").is_some_and(Value::is_string)
                && ["enum", "const", "anyOf", "oneOf", "allOf", "not"]
                    .iter()
                    .all(|keyword| !plain.contains_key(*keyword)) =>
        {
            let typed = plain.into_iter().map(|(key, value)| match key.as_str() {
                "type" => (key, json!([value, "null"])),
                _ => (key, value),
            });
            Value::Object(typed.collect())
        }
        // Anything already includes `null`.
        Value::Object(any) if any.is_empty() => Value::Object(any),
        other => json!({ "anyOf": [other, { "type": "null" }] }),
    }
}
