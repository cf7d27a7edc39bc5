//! Procedural macros of grest-ws: `contract!` and `#[derive(Validate)]`. Use them through the `grest-ws` crate,
//! whose documentation shows both.

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

/// Declares a duplex contract. See the `grest-ws` crate documentation for the syntax and what is generated.
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
