//! Decoding input into a type: a payload text (fast path first), a parsed JSON value, or query-string pairs.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::check::check;
use super::coerce::check_value;
use super::issue::{Issue, Issues};
use super::path::Path;
use super::rules::Rules;
use super::shape::Validate;

/// Decodes and validates a payload (`None` = no payload) into `T`, returning every issue on failure.
///
/// Input serde accepts and whose constraints hold costs one typed decode and check; anything else is walked as
/// JSON (the slow path), which lists the issues.
///
/// Invalid JSON counts as no payload, as in the original (docs/protocol.md §1.2 rule 5).
pub fn decode<T: DeserializeOwned + Validate>(data: Option<&str>) -> Result<T, Issues> {
    if let Some(text) = data {
        if let Ok(value) = serde_json::from_str::<T>(text) {
            if check(&value).is_ok() {
                return Ok(value);
            }
            // Rejected input takes the JSON walk too: its issues are grest's exactly (the offending values as
            // sent, one issue for an untagged enum whatever its variant broke).
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
    let value = serde_json::from_value::<T>(value.unwrap_or(Value::Null))
        .map_err(|e| vec![Issue::new("", "invalid.type", e.to_string())])?;
    // serde may pick another variant of an untagged enum than the walk did: the typed value must hold too.
    check(&value).map(|()| value)
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
