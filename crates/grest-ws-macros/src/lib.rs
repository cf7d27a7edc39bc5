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

/// Derives `Validate`: the type's JSON shape and the checks of its `#[validate(...)]` field constraints
/// (`non_empty`, `min_length = N`, `max_length = N`, `min = N`, `max = N`). Honours serde's `rename`,
/// `rename_all`, `default` and `skip`.
#[proc_macro_derive(Validate, attributes(validate))]
pub fn derive_validate(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    validate_derive::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
