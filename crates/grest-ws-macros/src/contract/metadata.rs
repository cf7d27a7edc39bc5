//! The contract's description for the runtime and the type generators: the `Contract` impl carrying its
//! `ContractMeta` (a `MethodMeta` per method, the `ConnectMeta` of the connection) and its query decoder, and the
//! anchor side of shared sockets: an anchor's `Anchor` impl, a module's `Extends` impl and its use of the anchor's
//! connection.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::errors::connect_error_enum;
use super::method::MethodTokens;
use super::parse::{ContractDef, Kind};
use crate::case::snake;
use crate::core_path;

/// How a contract connects: what its `Contract`/`Anchor` impl says about the connection.
struct ConnectParts {
    /// The query type (`()` without one).
    query_ty: TokenStream,
    /// The body of `decode_query(pairs)`.
    decode_query: TokenStream,
    /// The `ConnectMeta` value.
    meta: TokenStream,
    /// The connection's error enum.
    error_ty: TokenStream,
}

/// `Some(value)` or `None` as a path-qualified `Option` expression.
fn option_tokens(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

/// The connection declared by a contract's own `connect` (a plain contract's or an anchor's), whose error enum is
/// `error_ty`.
fn declared_connect(def: &ContractDef, error_ty: TokenStream) -> ConnectParts {
    let core = core_path();
    let query_ty = def.query.clone().map_or_else(|| quote!(()), |t| quote!(#t));
    let decode_query = match &def.query {
        Some(t) => quote!(#core::validate::decode_query::<#t>(pairs)),
        None => quote!({
            let _ = pairs;
            ::core::result::Result::Ok(())
        }),
    };
    let query_shape = option_tokens(def.query.as_ref().map(|t| quote!(<#t as #core::Validate>::shape)));
    let connect_errors = def.connect_errors.iter().map(|e| quote!(#core::ErrorMeta::of::<#e>()));
    let connect_permission = option_tokens(def.connect_permission.as_ref().map(|p| quote!(#p)));
    let meta = quote! {
        #core::contract::ConnectMeta {
            query: #query_shape,
            errors: &[#(#connect_errors),*],
            permission: #connect_permission,
        }
    };
    ConnectParts {
        query_ty,
        decode_query,
        meta,
        error_ty,
    }
}

/// The connection of a contract with methods: a module's is its anchor's, a plain contract's is its own.
fn contract_connect(def: &ContractDef) -> ConnectParts {
    let core = core_path();
    match &def.kind {
        Kind::Extends(anchor) => ConnectParts {
            query_ty: quote!(<#anchor as #core::contract::Anchor>::Query),
            decode_query: quote!(<#anchor as #core::contract::Anchor>::decode_query(pairs)),
            meta: quote!(<#anchor as #core::contract::Anchor>::CONNECT),
            error_ty: quote!(<#anchor as #core::contract::Anchor>::ConnectError),
        },
        _ => declared_connect(def, quote!(ConnectError)),
    }
}

/// An anchor: the marker type, its `Anchor` impl (the shared connection of its modules) and a module named after it
/// with the connection's error enum.
pub(super) fn expand_anchor(def: &ContractDef) -> TokenStream {
    let core = core_path();
    let ContractDef {
        attrs,
        vis,
        name,
        path_name,
        connect_errors,
        ..
    } = def;
    let module = format_ident!("{}", snake(&name.to_string()));
    let ConnectParts {
        query_ty,
        decode_query,
        meta: connect_meta,
        error_ty,
    } = declared_connect(def, quote!(#module::ConnectError));
    let connect_error_enum = connect_error_enum(path_name, connect_errors);
    let connect_checks = super::checks::connect_checks(def);
    let module_doc = format!("Generated items of anchor `{path_name}`.");
    quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        #[doc = #module_doc]
        #vis mod #module {
            #[allow(unused_imports)]
            use super::*;

            #connect_error_enum

            #connect_checks
        }

        impl #core::contract::Anchor for #name {
            const NAME: &'static str = #path_name;
            const CONNECT: #core::contract::ConnectMeta = #connect_meta;
            type Query = #query_ty;
            type ConnectError = #error_ty;
            fn decode_query(
                pairs: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<Self::Query, #core::validate::Issues> {
                #decode_query
            }
        }
    }
}

/// The `MethodMeta` of one method: names, direction, errors, permission: and shapes.
fn method_meta(method: &MethodTokens) -> TokenStream {
    let core = core_path();
    let MethodTokens { def: m, path, .. } = method;
    let fn_name = &m.name;
    let direction = if m.to_server {
        quote!(#core::Direction::ClientToServer)
    } else {
        quote!(#core::Direction::ServerToClient)
    };
    let is_request = m.is_request();
    let errors_meta = m.errors.iter().map(|e| quote!(#core::ErrorMeta::of::<#e>()));
    let permission = option_tokens(m.permission.as_ref().map(|p| quote!(#p)));
    let input_shape = option_tokens(m.input.as_ref().map(|t| quote!(<#t as #core::Validate>::shape)));
    let success_shape = option_tokens(m.success.as_ref().map(|t| quote!(<#t as #core::Validate>::shape)));
    quote! {
        #core::MethodMeta {
            name: stringify!(#fn_name),
            path: #path,
            direction: #direction,
            is_request: #is_request,
            errors: &[#(#errors_meta),*],
            permission: #permission,
            input: #input_shape,
            success: #success_shape,
        }
    }
}

/// The `Contract` impl of the marker type: its `ContractMeta` and its query decoder.
pub(super) fn contract_impl(def: &ContractDef, methods: &[MethodTokens]) -> TokenStream {
    let core = core_path();
    let ContractDef { name, path_name, .. } = def;
    let ConnectParts {
        query_ty,
        decode_query,
        meta: connect_meta,
        error_ty,
    } = contract_connect(def);
    let method_metas = methods.iter().map(method_meta);
    quote! {
        impl #core::Contract for super::#name {
            const META: &'static #core::ContractMeta = &#core::ContractMeta {
                name: #path_name,
                connect: #connect_meta,
                methods: &[#(#method_metas),*],
            };
            type Query = #query_ty;
            type ConnectError = #error_ty;
            fn decode_query(
                pairs: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<Self::Query, #core::validate::Issues> {
                #decode_query
            }
        }
    }
}

/// A module's `Extends` impl (which anchor it may be added to); none for a plain contract.
pub(super) fn extends_impl(def: &ContractDef) -> Option<TokenStream> {
    let core = core_path();
    let name = &def.name;
    match &def.kind {
        Kind::Extends(anchor) => Some(quote!(impl #core::contract::Extends<#anchor> for super::#name {})),
        _ => None,
    }
}
