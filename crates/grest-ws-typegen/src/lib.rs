//! TypeScript for the grest-ws TypeScript client (`clients/typescript`), generated from a Rust contract.
//!
//! The generator reads only the contract's static description ([`Contract::META`]) and the [`Shape`]s of its
//! payload types, so what the browser sees cannot drift from what the server checks:
//!
//! * [`typescript`] writes a `.ts` module: one `interface` per named payload struct (extending the structs it
//!   flattens), one string-literal union per unit-only enum, one union of the variants' wire forms per other
//!   enum (`"stop" | { say: string }`, `{ type: "circle"; radius: number } | …`), one `[A, B]` per tuple
//!   struct, a `<Name>Methods` type map (per direction: kind, input, success, declared errors) and the
//!   runtime descriptor `<Name>Contract` typed with them.
//! * [`javascript`] writes the same runtime descriptor as a plain ES module, for pages that load scripts without
//!   a build step. Put both files side by side: TypeScript resolves `./x.js` to `./x.ts`, browsers load `./x.js`.
//! * [`commonjs`] writes it as a CommonJS module (`.cjs`), for Node projects without `"type": "module"` (what
//!   `npm init` makes): `require("./x.cjs")` works, and so does `import { XContract } from "./x.cjs"`.
//! * [`Typegen`] writes all three for every contract of an application into one folder, in one call — from a
//!   small binary or a `build.rs` — and tells a test which committed files are stale.
//!
//! The descriptor carries the paths, kinds, declared errors and a data form of every shape (constraints
//! included: lengths, bounds, `multipleOf`, pattern sources, formats; tuples' items; unions' tagging and variants;
//! flattened fields), which the client uses to validate outgoing input and incoming results exactly like the Rust
//! side.
//!
//! ```
//! # use grest_ws_core::{Contract, ContractMeta, WebSocketSchema};
//! # use grest_ws_core::contract::ConnectMeta;
//! # use grest_ws_core::validate::Issues;
//! # struct Empty;
//! # impl Contract for Empty {
//! #     const META: &'static ContractMeta = &ContractMeta {
//! #         name: "Empty",
//! #         connect: ConnectMeta { query: None, errors: &[], permission: None },
//! #         methods: &[],
//! #     };
//! #     type Query = ();
//! #     type ConnectError = grest_ws_core::contract::RawConnectError;
//! #     fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> { Ok(()) }
//! # }
//! const EMPTY_API: WebSocketSchema<Empty> = WebSocketSchema::new("ws/empty");
//! let ts = grest_ws_typegen::typescript(EMPTY_API).unwrap();
//! assert!(ts.contains("export const EmptyContract: ContractDescriptor<EmptyMethods, void> = {"));
//! ```

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::io;
use std::path::{Path, PathBuf};

use grest_ws_core::contract::{ContractDescriptor, Direction, MethodMeta};
use grest_ws_core::validate::{Field, NameCollision, Shape, ShapeFn, Tagging, Variant, number_value};
use grest_ws_core::{Contract, WebSocketSchema};
use serde_json::Value;

/// The module the generated `.ts` file imports the client's types from (the npm package in `clients/typescript`).
pub const CLIENT_MODULE: &str = "@grest-ws/client";

/// Why a contract cannot be written as TypeScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypegenError {
    /// Two different payload types share one Rust type name (TypeScript has one namespace per file), or a
    /// payload type takes a name the generated file declares or imports itself (`<Contract>Methods`,
    /// `<Contract>Contract`, `ContractDescriptor`).
    NameCollision(String),
    /// Two schemas given to one [`Typegen`] have contracts of the same name, so their files would overwrite each
    /// other.
    DuplicateContract(String),
}

impl fmt::Display for TypegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypegenError::NameCollision(name) => write!(
                f,
                "two different types are named `{name}` in one contract; rename one (TypeScript declarations share \
                 one namespace)"
            ),
            TypegenError::DuplicateContract(name) => write!(
                f,
                "two contracts are named `{name}`; their generated files would overwrite each other"
            ),
        }
    }
}

impl std::error::Error for TypegenError {}

/// The `.ts` module for `schema`'s contract: payload types, the `<Name>Methods` type map and the typed runtime
/// descriptor `<Name>Contract`.
pub fn typescript<C: Contract>(schema: WebSocketSchema<C>) -> Result<String, TypegenError> {
    Ok(Model::build(schema.path(), C::META)?.typescript())
}

/// The runtime descriptor `<Name>Contract` of `schema`'s contract as a plain ES module (no types, no imports).
pub fn javascript<C: Contract>(schema: WebSocketSchema<C>) -> Result<String, TypegenError> {
    Ok(Model::build(schema.path(), C::META)?.descriptor_module(ModuleKind::Es))
}

/// The runtime descriptor `<Name>Contract` of `schema`'s contract as a CommonJS module (`exports.<Name>Contract`),
/// for a `.cjs` file.
pub fn commonjs<C: Contract>(schema: WebSocketSchema<C>) -> Result<String, TypegenError> {
    Ok(Model::build(schema.path(), C::META)?.descriptor_module(ModuleKind::CommonJs))
}

/// One generated file: its name in the output folder and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// `<stem>.ts`, `<stem>.js` or `<stem>.cjs`.
    pub name: String,
    /// The file's text.
    pub content: String,
}

/// The generated files of every contract of an application, for one folder.
///
/// For each schema it holds `<stem>.ts` ([`typescript`]), `<stem>.js` ([`javascript`]) and `<stem>.cjs`
/// ([`commonjs`]), where the stem is the contract's name in kebab case followed by `-contract` (`Chat` →
/// `chat-contract`, `RoomFeed` → `room-feed-contract`).
///
/// ```no_run
/// # use grest_ws_core::{Contract, ContractMeta, WebSocketSchema};
/// # use grest_ws_core::contract::ConnectMeta;
/// # use grest_ws_core::validate::Issues;
/// # struct Chat;
/// # impl Contract for Chat {
/// #     const META: &'static ContractMeta = &ContractMeta {
/// #         name: "Chat",
/// #         connect: ConnectMeta { query: None, errors: &[], permission: None },
/// #         methods: &[],
/// #     };
/// #     type Query = ();
/// #     type ConnectError = grest_ws_core::contract::RawConnectError;
/// #     fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> { Ok(()) }
/// # }
/// # struct Admin;
/// # impl Contract for Admin {
/// #     const META: &'static ContractMeta = &ContractMeta {
/// #         name: "Admin",
/// #         connect: ConnectMeta { query: None, errors: &[], permission: None },
/// #         methods: &[],
/// #     };
/// #     type Query = ();
/// #     type ConnectError = grest_ws_core::contract::RawConnectError;
/// #     fn decode_query(_: Vec<(String, String)>) -> Result<(), Issues> { Ok(()) }
/// # }
/// # const CHAT_API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");
/// # const ADMIN_API: WebSocketSchema<Admin> = WebSocketSchema::new("ws/admin");
/// use grest_ws_typegen::Typegen;
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     // web/generated/chat-contract.{ts,js,cjs} and web/generated/admin-contract.{ts,js,cjs}
///     Typegen::new().schema(CHAT_API)?.schema(ADMIN_API)?.write_to("web/generated")?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Typegen {
    contracts: Vec<&'static str>,
    files: Vec<GeneratedFile>,
}

impl Typegen {
    /// No contracts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the three files of `schema`'s contract.
    pub fn schema<C: Contract>(mut self, schema: WebSocketSchema<C>) -> Result<Self, TypegenError> {
        let name = C::META.name;
        if self.contracts.contains(&name) {
            return Err(TypegenError::DuplicateContract(name.to_owned()));
        }
        let model = Model::build(schema.path(), C::META)?;
        let stem = format!("{}-contract", kebab_case(name));
        for (extension, content) in [
            ("ts", model.typescript()),
            ("js", model.descriptor_module(ModuleKind::Es)),
            ("cjs", model.descriptor_module(ModuleKind::CommonJs)),
        ] {
            self.files.push(GeneratedFile {
                name: format!("{stem}.{extension}"),
                content,
            });
        }
        self.contracts.push(name);
        Ok(self)
    }

    /// Every file, in the order the schemas were added (`.ts`, `.js`, `.cjs` for each).
    pub fn files(&self) -> &[GeneratedFile] {
        &self.files
    }

    /// The paths in `dir` whose content differs from what [`write_to`](Self::write_to) would write there (missing
    /// ones included). Empty when the committed files are current — a test can assert it.
    pub fn stale_files(&self, dir: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        let mut stale = Vec::new();
        for file in &self.files {
            let path = dir.join(&file.name);
            let current = match std::fs::read(&path) {
                Ok(bytes) => bytes == file.content.as_bytes(),
                Err(error) if error.kind() == io::ErrorKind::NotFound => false,
                Err(error) => return Err(error),
            };
            if !current {
                stale.push(path);
            }
        }
        Ok(stale)
    }

    /// Writes every file into `dir` (created when missing). Files that are already current are left alone (their
    /// modification time too, so a `build.rs` does not trigger rebuilds); returns the paths it wrote.
    pub fn write_to(&self, dir: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let stale = self.stale_files(dir)?;
        for file in &self.files {
            let path = dir.join(&file.name);
            if stale.contains(&path) {
                std::fs::write(&path, &file.content)?;
            }
        }
        Ok(stale)
    }
}

/// `RoomFeed` → `room-feed`.
fn kebab_case(name: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() && previous_lower {
            out.push('-');
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// How a descriptor-only module exports `<Name>Contract`.
#[derive(Clone, Copy)]
enum ModuleKind {
    /// `export const …` (`.js`).
    Es,
    /// `exports.… = …` (`.cjs`).
    CommonJs,
}

/// One named payload type, rendered.
struct Named {
    /// The TypeScript of the inner shape, to tell a second type of the same name apart.
    body: String,
    /// `export interface …` / `export type …`.
    declaration: String,
}

/// One method, rendered.
struct Method {
    meta: &'static MethodMeta,
    /// The camelCase key: the wire path without the contract prefix.
    key: &'static str,
    input_ts: String,
    success_ts: String,
    errors_ts: String,
}

impl Method {
    fn kind(&self) -> &'static str {
        if self.meta.is_request {
            "request"
        } else {
            "fire-and-forget"
        }
    }
}

/// Everything the outputs share.
struct Model {
    /// The contract's name.
    name: &'static str,
    /// The socket's path.
    path: String,
    named: Vec<Named>,
    /// Names being rendered (recursive types refer to themselves while their body is built).
    in_progress: Vec<&'static str>,
    index: HashMap<&'static str, usize>,
    methods: Vec<Method>,
    query_ts: String,
    /// The runtime descriptor.
    descriptor: ContractDescriptor,
}

impl Model {
    fn build(path: &str, meta: &'static grest_ws_core::ContractMeta) -> Result<Model, TypegenError> {
        let descriptor =
            ContractDescriptor::new(path, meta).map_err(|NameCollision(name)| TypegenError::NameCollision(name))?;
        let mut model = Model {
            name: meta.name,
            path: path.to_owned(),
            named: Vec::new(),
            in_progress: Vec::new(),
            index: HashMap::new(),
            methods: Vec::new(),
            query_ts: String::new(),
            descriptor,
        };
        model.query_ts = model.optional_ts(meta.connect.query)?;
        for method in meta.methods {
            let key = method
                .path
                .strip_prefix(meta.name)
                .and_then(|rest| rest.strip_prefix('.'))
                .unwrap_or(method.path);
            let input_ts = model.optional_ts(method.input)?;
            let success_ts = model.optional_ts(method.success)?;
            let errors_ts = if method.errors.is_empty() {
                "never".to_owned()
            } else {
                method
                    .errors
                    .iter()
                    .map(|e| Value::from(e.error_type).to_string())
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            model.methods.push(Method {
                meta: method,
                key,
                input_ts,
                success_ts,
                errors_ts,
            });
        }
        // The names the generated file declares or imports itself.
        let reserved = [
            format!("{}Methods", meta.name),
            format!("{}Contract", meta.name),
            "ContractDescriptor".to_owned(),
        ];
        if let Some(name) = reserved.into_iter().find(|r| model.index.contains_key(r.as_str())) {
            return Err(TypegenError::NameCollision(name));
        }
        Ok(model)
    }

    fn descriptor_text(&self) -> String {
        serde_json::to_string_pretty(&self.descriptor).unwrap_or_default()
    }

    /// The `.ts` module: payload types, the methods map and the typed descriptor.
    fn typescript(&self) -> String {
        let name = self.name;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "// Generated by grest-ws-typegen from the Rust contract `{name}`. Do not edit: regenerate it."
        );
        let _ = writeln!(out, "import type {{ ContractDescriptor }} from \"{CLIENT_MODULE}\";");
        for named in &self.named {
            out.push('\n');
            out.push_str(&named.declaration);
        }
        let _ = writeln!(
            out,
            "\n/** The methods of contract `{name}`: kind, input, success and declared errors. */"
        );
        let _ = writeln!(out, "export interface {name}Methods {{");
        for (key, direction) in [
            ("clientToServer", Direction::ClientToServer),
            ("serverToClient", Direction::ServerToClient),
        ] {
            let _ = writeln!(out, "  {key}: {{");
            for method in &self.methods {
                if method.meta.direction == direction {
                    let _ = writeln!(out, "    /** `{}` ({}). */", method.meta.path, method.kind());
                    let _ = writeln!(
                        out,
                        "    {}: {{ request: {}; input: {}; success: {}; errors: {} }};",
                        method.key, method.meta.is_request, method.input_ts, method.success_ts, method.errors_ts
                    );
                }
            }
            out.push_str("  };\n");
        }
        out.push_str("}\n");
        let _ = writeln!(
            out,
            "\n/** Contract `{name}` at `{}`, as the client reads it. */",
            self.path
        );
        let _ = writeln!(
            out,
            "export const {name}Contract: ContractDescriptor<{name}Methods, {}> = {};",
            self.query_ts,
            self.descriptor_text()
        );
        out
    }

    /// The runtime descriptor alone, as an ES or a CommonJS module.
    fn descriptor_module(&self, kind: ModuleKind) -> String {
        let (strict, export) = match kind {
            ModuleKind::Es => ("", "export const "),
            ModuleKind::CommonJs => ("\"use strict\";\n\n", "exports."),
        };
        format!(
            "// Generated by grest-ws-typegen from the Rust contract `{name}`. Do not edit: regenerate it.\n\
             // The types of this descriptor are in the `.ts` file generated beside it.\n\n\
             {strict}/** Contract `{name}` at `{path}`, as the client reads it. */\n\
             {export}{name}Contract = {descriptor};\n",
            name = self.name,
            path = self.path,
            descriptor = self.descriptor_text()
        )
    }

    /// The TypeScript type of an optional shape (`void` when there is none).
    fn optional_ts(&mut self, shape: Option<fn() -> Shape>) -> Result<String, TypegenError> {
        match shape {
            Some(shape) => self.ts(&shape()),
            None => Ok("void".to_owned()),
        }
    }

    /// Registers a named type (rendering it the first time) and returns its name.
    fn named(&mut self, name: &'static str, inner: &Shape) -> Result<&'static str, TypegenError> {
        if self.in_progress.contains(&name) {
            return Ok(name);
        }
        if let Some(&i) = self.index.get(name) {
            // Seen before: render the body again (nested names stay names) and compare.
            self.in_progress.push(name);
            let body = self.ts_body(inner);
            self.in_progress.retain(|n| *n != name);
            return if body? == self.named[i].body {
                Ok(name)
            } else {
                Err(TypegenError::NameCollision(name.to_owned()))
            };
        }
        self.in_progress.push(name);
        let rendered = self.render_named(name, inner);
        self.in_progress.retain(|n| *n != name);
        let (body, declaration) = rendered?;
        self.index.insert(name, self.named.len());
        self.named.push(Named { body, declaration });
        Ok(name)
    }

    /// The TypeScript body, declaration and data form of a named type.
    fn render_named(&mut self, name: &str, inner: &Shape) -> Result<(String, String), TypegenError> {
        let body = self.ts_body(inner)?;
        let declaration = match inner {
            // An interface, extending the named objects it flattens.
            Shape::Object(fields)
                if fields
                    .iter()
                    .filter(|f| f.flatten)
                    .all(|f| is_named_object(&f.shape.get())) =>
            {
                let mut extends = Vec::new();
                for field in fields.iter().filter(|f| f.flatten) {
                    extends.push(self.ts(&field.shape.get())?);
                }
                let extends = if extends.is_empty() {
                    String::new()
                } else {
                    format!(" extends {}", extends.join(", "))
                };
                let mut text = format!("/** Rust `{name}`. */\nexport interface {name}{extends} {{\n");
                for field in fields.iter().filter(|f| !f.flatten) {
                    let (optional, ty) = self.field(field)?;
                    let notes = notes(field);
                    if !notes.is_empty() {
                        let _ = writeln!(text, "  /** {notes}. */");
                    }
                    let _ = writeln!(
                        text,
                        "  {}{}: {ty};",
                        property(field.name),
                        if optional { "?" } else { "" }
                    );
                }
                text.push_str("}\n");
                text
            }
            _ => format!("/** Rust `{name}`. */\nexport type {name} = {body};\n"),
        };
        Ok((body, declaration))
    }

    /// The TypeScript type of a shape.
    fn ts(&mut self, shape: &Shape) -> Result<String, TypegenError> {
        match shape {
            Shape::Named(name, inner) => self.named(name, &inner.get()).map(str::to_owned),
            other => self.ts_body(other),
        }
    }

    /// The TypeScript type of a shape, looking through a name at the top.
    fn ts_body(&mut self, shape: &Shape) -> Result<String, TypegenError> {
        Ok(match shape {
            Shape::Any => "unknown".to_owned(),
            Shape::Null => "null".to_owned(),
            Shape::Boolean => "boolean".to_owned(),
            Shape::Number { .. } => "number".to_owned(),
            Shape::String => "string".to_owned(),
            Shape::Literal([]) => "never".to_owned(),
            Shape::Literal(values) => values
                .iter()
                .map(|v| Value::from(*v).to_string())
                .collect::<Vec<_>>()
                .join(" | "),
            Shape::Optional(inner) => format!("{} | null", self.ts(&inner.get())?),
            Shape::Array(item) => {
                let item = item.get();
                let text = self.ts(&item)?;
                if needs_parens(&item) {
                    format!("({text})[]")
                } else {
                    format!("{text}[]")
                }
            }
            Shape::Record(item) => format!("Record<string, {}>", self.ts(&item.get())?),
            Shape::Object(fields) => {
                let mut parts = Vec::new();
                let mut flattened = Vec::new();
                for field in *fields {
                    if field.flatten {
                        flattened.push(self.ts(&field.shape.get())?);
                        continue;
                    }
                    let (optional, ty) = self.field(field)?;
                    parts.push(format!(
                        "{}{}: {ty}",
                        property(field.name),
                        if optional { "?" } else { "" }
                    ));
                }
                let own = if parts.is_empty() && !flattened.is_empty() {
                    None
                } else if parts.is_empty() {
                    Some("Record<string, never>".to_owned())
                } else {
                    Some(format!("{{ {} }}", parts.join("; ")))
                };
                own.into_iter().chain(flattened).collect::<Vec<_>>().join(" & ")
            }
            Shape::Tuple(elements) => {
                let mut items = Vec::new();
                for element in *elements {
                    items.push(self.ts(&element.shape.get())?);
                }
                format!("[{}]", items.join(", "))
            }
            Shape::Union { variants: [], .. } => "never".to_owned(),
            Shape::Union { tagging, variants } => {
                let mut members = Vec::new();
                for variant in *variants {
                    members.push(self.variant_ts(*tagging, variant)?);
                }
                members.join(" | ")
            }
            Shape::Named(name, inner) => self.named(name, &inner.get())?.to_owned(),
        })
    }

    /// The TypeScript type of one variant of an enum, as serde writes it.
    fn variant_ts(&mut self, tagging: Tagging, variant: &Variant) -> Result<String, TypegenError> {
        let name = Value::from(variant.name).to_string();
        let content = variant.shape.map(ShapeFn::get);
        Ok(match (tagging, content) {
            (Tagging::External, None) => name,
            (Tagging::External, Some(content)) => format!("{{ {}: {} }}", property(variant.name), self.ts(&content)?),
            (Tagging::Internal { tag }, None) => format!("{{ {}: {name} }}", property(tag)),
            // A struct variant's fields sit beside the tag.
            (Tagging::Internal { tag }, Some(Shape::Object(fields))) if !fields.is_empty() => {
                let body = self.ts_body(&Shape::Object(fields))?;
                match body.strip_prefix("{ ") {
                    Some(rest) => format!("{{ {}: {name}; {rest}", property(tag)),
                    None => format!("{{ {}: {name} }} & {body}", property(tag)),
                }
            }
            (Tagging::Internal { tag }, Some(content)) => {
                format!("{{ {}: {name} }} & {}", property(tag), self.ts(&content)?)
            }
            (Tagging::Adjacent { tag, .. }, None) => format!("{{ {}: {name} }}", property(tag)),
            (Tagging::Adjacent { tag, content: key }, Some(content)) => format!(
                "{{ {}: {name}; {}: {} }}",
                property(tag),
                property(key),
                self.ts(&content)?
            ),
            (Tagging::Untagged, None) => "null".to_owned(),
            (Tagging::Untagged, Some(content)) => self.ts(&content)?,
        })
    }

    /// Whether a field may be left out, and its type.
    fn field(&mut self, field: &Field) -> Result<(bool, String), TypegenError> {
        let shape = field.shape.get();
        let optional = field.has_default || matches!(shape, Shape::Optional(_));
        Ok((optional, self.ts(&shape)?))
    }
}

/// The declared constraints of a field, as a doc comment.
fn notes(field: &Field) -> String {
    let r = &field.rules;
    let mut notes = Vec::new();
    if r.non_empty {
        notes.push("must not be empty".to_owned());
    }
    if let Some(n) = r.min_length {
        notes.push(format!("at least {n} long"));
    }
    if let Some(n) = r.max_length {
        notes.push(format!("at most {n} long"));
    }
    if let Some(n) = r.min {
        notes.push(format!("at least {}", number_value(n)));
    }
    if let Some(n) = r.max {
        notes.push(format!("at most {}", number_value(n)));
    }
    if let Some(n) = r.multiple_of {
        notes.push(format!("a multiple of {}", number_value(n)));
    }
    if let Some(pattern) = &r.pattern {
        // `*/` would end the comment.
        notes.push(format!("matches `{}`", pattern.source().replace("*/", "*\\/")));
    }
    if let Some(format) = r.format {
        notes.push(format!("format: {}", format.name()));
    }
    if field.has_default {
        notes.push("defaults when missing".to_owned());
    }
    let text = notes.join("; ");
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Whether a shape is a named object type (which an interface can extend).
fn is_named_object(shape: &Shape) -> bool {
    matches!(shape, Shape::Named(_, inner) if matches!(inner.get(), Shape::Object(_)))
}

/// A property name, quoted unless it is a plain identifier.
fn property(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if plain {
        name.to_owned()
    } else {
        Value::from(name).to_string()
    }
}

/// Whether an array element type must be parenthesized (`(A | B)[]`).
fn needs_parens(item: &Shape) -> bool {
    match item {
        Shape::Optional(_) => true,
        Shape::Literal(values) => values.len() > 1,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
