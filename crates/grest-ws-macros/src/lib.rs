//! Procedural macros of grest-ws: `contract!` and `#[derive(Validate)]`.
//!
//! Use them through the [`grest-ws`](https://docs.rs/grest-ws) crate (feature `macros`, on by default): the code
//! they generate refers to `::grest_ws`, whose documentation walks through a contract, its server and its client.
//!
//! ```
//! use grest_ws::protocol::validate::check;
//! use grest_ws::{Contract, ServerError, Validate, ValidationError, contract};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Clone, Serialize, Deserialize, Validate)]
//! #[serde(rename_all = "camelCase")]
//! pub struct SendMessage {
//!     #[validate(non_empty, max_length = 500)]
//!     pub text: String,
//!     pub channel_id: String,
//! }
//!
//! contract! {
//!     pub Chat {
//!         client_to_server {
//!             send_message(SendMessage) -> String, errors: [ValidationError, ServerError];
//!         }
//!         server_to_client {
//!             new_message(String);
//!         }
//!     }
//! }
//!
//! fn main() {
//!     // The contract as data: snake_case in Rust, camelCase on the wire.
//!     let paths: Vec<_> = Chat::META.methods.iter().map(|method| method.path).collect();
//!     assert_eq!(paths, ["Chat.sendMessage", "Chat.newMessage"]);
//!
//!     // The derived checks, with grest's issue codes.
//!     let issues = check(&SendMessage { text: String::new(), channel_id: "general".into() }).unwrap_err();
//!     assert_eq!((issues[0].path.as_str(), issues[0].code.as_str()), ("text", "invalid.string.nonEmpty"));
//! }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod case;
mod contract;
mod validate_derive;

use proc_macro::TokenStream;
use quote::quote;

/// The grest-ws core crate as seen from user code (through the umbrella crate).
fn core_path() -> proc_macro2::TokenStream {
    quote!(::grest_ws::__private::core)
}

/// The grest-ws session crate as seen from user code.
fn session_path() -> proc_macro2::TokenStream {
    quote!(::grest_ws::__private::session)
}

/// Declares a duplex contract: the methods each side may call, their types, declared errors and permissions, and
/// the handshake. Every part but the name and the braces is optional:
///
/// ```text
/// contract! {
///     /// Docs, kept on the generated marker type.
///     #[rename = "Chat"]                      // the name on the wire (default: the Rust name)
///     pub Chat {                              // or `pub anchor App { connect { .. } }`,
///                                             // or `pub Messaging extends App { .. }`
///         connect { input: Query, errors: [ServerError], permission: Permission::Scope("chat") }
///         client_to_server {
///             #[rename = "send"]              // the method's wire name (default: camelCase)
///             send_message(Input) -> Success, errors: [ValidationError, ServerError], permission: EXPR;
///             typing();                       // no `-> Success`: fire-and-forget
///         }
///         server_to_client {
///             new_message(Message);
///             are_you_there() -> bool, errors: [ServerError];
///         }
///     }
/// }
/// ```
///
/// It generates the marker type `Chat` (implementing `Contract`, with `Chat::META` describing it as data) and a
/// module `chat` with `Server` (the trait the server implements: one async method per client-to-server method),
/// `Peer` (the server's handle to one client), `Client` (the client's handle to the server), `Handlers` (the
/// client's partial handlers for server-to-client methods) and one error enum per request method
/// (`SendMessageError` = `ValidationError | ServerError`). The `grest-ws` crate documentation shows them at work.
#[proc_macro]
pub fn contract(input: TokenStream) -> TokenStream {
    let def = syn::parse_macro_input!(input as contract::ContractDef);
    contract::expand(def)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `Validate`: the type's JSON shape (as data, for the slow path and code generators) and the checks of
/// its `#[validate(...)]` constraints, with grest's issue codes.
///
/// # Types
///
/// * A struct with named fields is an object; a newtype is its field (as serde writes it; its field takes no
///   constraints: declare them where the newtype is used); a tuple struct is an
///   array of fixed length (`invalid.tuple.type`, `invalid.tuple.length` with `{length}`); a unit struct is `null`.
/// * A unit-only enum is a string literal (`invalid.literal.invalid`).
/// * Any other enum is a union under serde's representation: externally tagged (the default: `"Unit"` or
///   `{"Variant": content}`), internally tagged (`#[serde(tag = "type")]`), adjacently tagged
///   (`#[serde(tag = "t", content = "c")]`) or `#[serde(untagged)]`, with unit, newtype, tuple and struct
///   variants as serde allows them. A tagged value that is not an object is `invalid.dunion.notObject`, one
///   without a variant name `invalid.dunion.missingDiscriminator`, one naming no variant
///   `invalid.dunion.unknownVariant` (both with `{expected}`, the variant names; at `<path>.<tag>` for internal
///   and adjacent tagging, at the enum's path for external). An untagged value that fits no variant is one
///   `invalid.union.invalid` issue at the enum's path. Content is checked where serde reads it: beside the tag
///   (internal), under the content field (adjacent), under the variant name (external).
/// * Rust tuples `(A, B, ..)` (up to 8) are fixed-length arrays too.
///
/// serde's `rename` (also `deserialize = ".."`), `rename_all`, `rename_all_fields`, `default`, `skip`,
/// `skip_deserializing`, `transparent`, `tag`, `content`, `untagged` and `flatten` (a struct field whose
/// fields, with their constraints, become the enclosing object's) are honoured. Generic types are not supported.
///
/// # Constraints
///
/// On a field (named, tuple, or the field of a newtype variant):
///
/// | constraint | applies to | code |
/// |---|---|---|
/// | `non_empty` | strings | `invalid.string.nonEmpty` |
/// | `min_length = N`, `max_length = N` | strings (UTF-16 units, as JavaScript counts) and arrays (items) | `invalid.string.minLength`…, `invalid.array.minLength`… (`range` when both are set) |
/// | `min = N`, `max = N`, `range(min = N, max = N)` | numbers (narrowing the type's own bounds) | `invalid.number.min`, `max`, `range` |
/// | `multiple_of = N` | numbers (`n % N == 0`, as JavaScript's `%`) | `invalid.number.multipleOf` (`{multipleOf}`) |
/// | `pattern = "regex"` | strings: an unanchored search | `invalid.string.pattern` (`{pattern}`) |
/// | `email`, `url`, `uuid`, `date`, `date_time`, `ip`, `ipv4`, `ipv6` (one per field) | strings | `invalid.string.<format>` (`dateTime` for `date_time`) |
///
/// A pattern is compiled when it is first used and checked when your crate compiles: an invalid expression, or
/// syntax the TypeScript client's `RegExp` would read differently, is a compile error (the subset both share is
/// documented on `grest_ws::protocol::validate::Pattern`). What each format accepts is documented on
/// `grest_ws::protocol::validate::Format`.
///
/// ```
/// use grest_ws::Validate;
/// use grest_ws::protocol::validate::{check, decode};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, Validate)]
/// #[serde(tag = "type", rename_all = "camelCase")]
/// pub enum Invite {
///     Email {
///         #[validate(email)]
///         address: String,
///     },
///     Link {
///         #[validate(pattern = "^[a-z0-9-]{3,32}$")]
///         slug: String,
///         #[validate(date)]
///         expires: Option<String>,
///     },
/// }
///
/// let issues = check(&Invite::Email { address: "ann@".into() }).unwrap_err();
/// assert_eq!((issues[0].path.as_str(), issues[0].code.as_str()), ("address", "invalid.string.email"));
/// let issues = decode::<Invite>(Some(r#"{"type":"sms"}"#)).unwrap_err();
/// assert_eq!((issues[0].path.as_str(), issues[0].code.as_str()), ("type", "invalid.dunion.unknownVariant"));
/// ```
#[proc_macro_derive(Validate, attributes(validate))]
pub fn derive_validate(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    validate_derive::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
