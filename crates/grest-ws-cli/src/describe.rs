//! `grest-ws describe`: an endpoint's contract, read from its server's AsyncAPI document, printed as tables (the
//! handshake, the methods of each direction, and the payload types with their constraints) or, with `--json`, as
//! its grest descriptors.

use std::fmt::Write as _;

use grest_ws::protocol::contract::{ContractDescriptor, ErrorDescriptor, MethodDescriptor};
use serde_json::{Value, json};

use crate::args::{DescribeArgs, client_config};
use crate::exit::Failure;
use crate::served::Served;

/// Prints the endpoint's contract on stdout.
pub(crate) async fn run(args: DescribeArgs) -> Result<(), Failure> {
    let config = client_config(args.timeout, args.ca.as_ref());
    let served = Served::load(&args.url, &args.document, &config)
        .await
        .map_err(Failure::Document)?;
    if args.json {
        let described = json!({
            "endpoint": args.url.url,
            "document": served.source,
            "title": served.title,
            "contracts": served.contracts,
        });
        println!("{described:#}");
    } else {
        print!("{}", render(&args.url.url, &served));
    }
    Ok(())
}

/// The whole description.
fn render(url: &str, served: &Served) -> String {
    let mut out = format!("{url}\n  described by {} ({})\n", served.source, served.title);
    if served.contracts.is_empty() {
        out.push_str("\nA byte-stream socket: no methods (bytes both ways after the handshake).\n");
    }
    for contract in &served.contracts {
        out.push('\n');
        out.push_str(&contract_section(contract));
    }
    out
}

/// One contract: its handshake, its methods per direction, its types.
fn contract_section(contract: &ContractDescriptor) -> String {
    let mut out = format!("Contract {}\n", contract.name);
    let query = contract.connect.query.as_ref().map_or("none".to_owned(), summary);
    let _ = writeln!(out, "  handshake query   {query}");
    let _ = writeln!(out, "  handshake errors  {}", errors(&contract.connect.errors));
    for (title, methods) in [
        ("Client to server", &contract.client_to_server),
        ("Server to client", &contract.server_to_client),
    ] {
        if !methods.is_empty() {
            let _ = write!(out, "\n{title}\n{}", methods_table(methods.values()));
        }
    }
    if !contract.shapes.is_empty() {
        out.push_str("\nTypes\n");
        let rows: Vec<Vec<String>> = contract
            .shapes
            .iter()
            .map(|(name, shape)| vec![name.clone(), summary(shape)])
            .collect();
        out.push_str(&table(&[], &rows));
    }
    out
}

/// The methods of one direction.
fn methods_table<'a>(methods: impl Iterator<Item = &'a MethodDescriptor>) -> String {
    let optional = |shape: &Option<Value>| shape.as_ref().map_or("-".to_owned(), summary);
    let rows: Vec<Vec<String>> = methods
        .map(|method| {
            vec![
                method.path.clone(),
                if method.request { "request" } else { "message" }.to_owned(),
                optional(&method.input),
                if method.request {
                    optional(&method.success)
                } else {
                    "-".to_owned()
                },
                errors(&method.errors),
            ]
        })
        .collect();
    table(&["METHOD", "KIND", "INPUT", "SUCCESS", "ERRORS"], &rows)
}

/// `TYPE status, …`, or `none`.
fn errors(errors: &[ErrorDescriptor]) -> String {
    if errors.is_empty() {
        return "none".to_owned();
    }
    errors
        .iter()
        .map(|e| format!("{} {}", e.error_type, e.status_code))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rows in aligned columns two spaces apart, indented by two, with an optional header row.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let all: Vec<&Vec<String>> = (!header.is_empty())
        .then_some(&header)
        .into_iter()
        .chain(rows)
        .collect();
    let columns = all.iter().map(|row| row.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let _ = write!(line, "  {cell:<width$}", width = widths[c]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A descriptor in a few words, TypeScript-like, with its declared constraints in parentheses.
fn summary(shape: &Value) -> String {
    let text = |key: &str| shape.get(key).and_then(Value::as_str).unwrap_or_default();
    let list = |key: &str| shape.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    let nested = |key: &str| shape.get(key).map_or("any".to_owned(), summary);
    match text("kind") {
        "ref" => text("name").to_owned(),
        "any" => "any".to_owned(),
        "null" => "null".to_owned(),
        "boolean" => "boolean".to_owned(),
        "string" => "string".to_owned(),
        "number" => {
            let integer = shape.get("integer").and_then(Value::as_bool).unwrap_or(false);
            if integer { "integer" } else { "number" }.to_owned()
        }
        "literal" => list("values")
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        "optional" => format!("{} | null", nested("inner")),
        "array" => format!("{}[]", nested("item")),
        "record" => format!("{{ [key: string]: {} }}", nested("item")),
        "tuple" => {
            let items: Vec<String> = list("items").iter().map(member).collect();
            format!("[{}]", items.join(", "))
        }
        "object" => {
            let fields: Vec<String> = list("fields")
                .iter()
                .map(|field| {
                    let name = field.get("name").and_then(Value::as_str).unwrap_or_default();
                    let optional = field.get("hasDefault").and_then(Value::as_bool).unwrap_or(false)
                        || field["shape"]["kind"] == "optional";
                    match field.get("flatten").and_then(Value::as_bool).unwrap_or(false) {
                        true => format!("...{}", member(field)),
                        false => format!("{name}{}: {}", if optional { "?" } else { "" }, member(field)),
                    }
                })
                .collect();
            format!("{{ {} }}", fields.join(", "))
        }
        "union" => {
            let variants: Vec<String> = list("variants")
                .iter()
                .map(|variant| {
                    let name = variant.get("name").and_then(Value::as_str).unwrap_or_default();
                    match variant.get("shape") {
                        Some(_) => format!("{name} {}", member(variant)),
                        None => name.to_owned(),
                    }
                })
                .collect();
            let tagging = match text("tagging") {
                "internal" => format!("tag {:?}", text("tag")),
                "adjacent" => format!("tag {:?}, content {:?}", text("tag"), text("content")),
                other => other.to_owned(),
            };
            format!("one of ({tagging}): {}", variants.join(" | "))
        }
        other => format!("<{other}>"),
    }
}

/// A field, element or variant: its shape and its rules.
fn member(entry: &Value) -> String {
    let shape = entry.get("shape").map_or("any".to_owned(), summary);
    let Some(rules) = entry.get("rules").and_then(Value::as_object) else {
        return shape;
    };
    let rules: Vec<String> = rules
        .iter()
        .map(|(rule, value)| match value {
            Value::Bool(true) => rule.clone(),
            Value::String(text) => format!("{rule} {text}"),
            other => format!("{rule} {other}"),
        })
        .collect();
    format!("{shape} ({})", rules.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn shapes_read_like_types_with_their_rules() {
        let object = json!({"kind": "object", "fields": [
            {"name": "text", "shape": {"kind": "string"}, "rules": {"nonEmpty": true, "maxLength": 500}},
            {"name": "tags", "shape": {"kind": "array", "item": {"kind": "ref", "name": "Tag"}}, "hasDefault": true},
            {"name": "at", "shape": {"kind": "optional", "inner": {"kind": "number", "integer": true}}},
            {"name": "base", "shape": {"kind": "ref", "name": "Base"}, "flatten": true}
        ]});
        assert_eq!(
            summary(&object),
            "{ text: string (nonEmpty, maxLength 500), tags?: Tag[], at?: integer | null, ...Base }"
        );
        let union = json!({"kind": "union", "tagging": "internal", "tag": "type", "variants": [
            {"name": "circle", "shape": {"kind": "object", "fields": []}},
            {"name": "empty"}
        ]});
        assert_eq!(summary(&union), "one of (tag \"type\"): circle {  } | empty");
        assert_eq!(
            summary(&json!({"kind": "literal", "values": ["a", "b"]})),
            "\"a\" | \"b\""
        );
        assert_eq!(
            summary(&json!({"kind": "tuple", "items": [{"shape": {"kind": "string"}, "rules": {"pattern": "^a"}}]})),
            "[string (pattern ^a)]"
        );
    }

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["Chat.sendMessage".to_owned(), "request".to_owned()],
            vec!["Chat.ping".to_owned(), "message".to_owned()],
        ];
        assert_eq!(
            table(&["METHOD", "KIND"], &rows),
            "  METHOD            KIND\n  Chat.sendMessage  request\n  Chat.ping         message\n"
        );
    }
}
