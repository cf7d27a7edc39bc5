//! Validation issues as grest writes them: the [`Issue`] record, grest's issue codes with their message
//! templates, and [`push_issue`], through which every check reports.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::format::Format;
use super::path::Path;
use super::shape::{Field, Shape, Validate};

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

/// The issues found so far.
pub type Issues = Vec<Issue>;

impl Validate for Issue {
    fn shape() -> Shape {
        static FIELDS: [Field; 5] = [
            Field::new("path", String::shape),
            Field::new("code", String::shape),
            Field::new("message", String::shape),
            Field::new("params", Option::<Map<String, Value>>::shape),
            Field::new("value", Option::<Value>::shape),
        ];
        Shape::Object(&FIELDS)
    }
}

/// The issue kinds this crate emits, with grest's exact codes and message templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Code {
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
    StringPattern,
    StringFormat(Format),
    NumberMultipleOf,
    TupleType,
    TupleLength,
    UnionInvalid,
    DunionNotObject,
    DunionMissingDiscriminator,
    DunionUnknownVariant,
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
            Code::StringPattern => "invalid.string.pattern",
            Code::StringFormat(format) => match format {
                Format::Email => "invalid.string.email",
                Format::Url => "invalid.string.url",
                Format::Uuid => "invalid.string.uuid",
                Format::Date => "invalid.string.date",
                Format::DateTime => "invalid.string.dateTime",
                Format::Ip => "invalid.string.ip",
                Format::Ipv4 => "invalid.string.ipv4",
                Format::Ipv6 => "invalid.string.ipv6",
            },
            Code::NumberMultipleOf => "invalid.number.multipleOf",
            Code::TupleType => "invalid.tuple.type",
            Code::TupleLength => "invalid.tuple.length",
            Code::UnionInvalid => "invalid.union.invalid",
            Code::DunionNotObject => "invalid.dunion.notObject",
            Code::DunionMissingDiscriminator => "invalid.dunion.missingDiscriminator",
            Code::DunionUnknownVariant => "invalid.dunion.unknownVariant",
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
            Code::ObjectType | Code::RecordType | Code::DunionNotObject => "Value must be an object",
            Code::ArrayType | Code::TupleType => "Value must be an array",
            Code::ArrayMinLength => "Array must have at least {min} items",
            Code::ArrayMaxLength => "Array must have at most {max} items",
            Code::ArrayRange => "Array length must be between {min} and {max}",
            Code::StringPattern => "Value must match the pattern {pattern}",
            Code::StringFormat(format) => match format {
                Format::Email => "Value must be a valid email address",
                Format::Url => "Value must be a valid URL",
                Format::Uuid => "Value must be a valid UUID",
                Format::Date => "Value must be a valid date (YYYY-MM-DD)",
                Format::DateTime => "Value must be a valid date-time (RFC 3339)",
                Format::Ip => "Value must be a valid IP address",
                Format::Ipv4 => "Value must be a valid IPv4 address",
                Format::Ipv6 => "Value must be a valid IPv6 address",
            },
            Code::NumberMultipleOf => "Value must be a multiple of {multipleOf}",
            Code::TupleLength => "Array must have exactly {length} items",
            Code::UnionInvalid => "Value does not match any allowed variant",
            Code::DunionMissingDiscriminator => "Value must name its variant, one of: {expected}",
            Code::DunionUnknownVariant => "Unknown variant; expected one of: {expected}",
        }
    }
}

/// Records one issue at `path`: the code's message template with `params` substituted, and the params themselves.
pub(super) fn push_issue(
    issues: &mut Issues,
    path: &Path,
    code: Code,
    params: &[(&'static str, Value)],
    value: Option<Value>,
) {
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

/// A number as grest writes it in params (and as JavaScript prints it): integral values without a fraction.
pub fn number_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

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
}
