//! The error enums: one per request method and one for the connection (`ConnectError`), each exactly its declared
//! error types as variants, plus `SERVER_ERROR`, with the conversions from each type, from and to the wire, from
//! what a handler's `?` meets, and `Display`/`Error`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::method::MethodTokens;
use crate::{core_path, session_path};

/// The last segment of an error type's path: the name of its variant.
fn last_ident(path: &syn::Path) -> Ident {
    path.segments.last().expect("non-empty path").ident.clone()
}

/// Whether a declared error type is the built-in `ServerError` (whatever path names it).
fn is_server_error(path: &syn::Path) -> bool {
    last_ident(path) == "ServerError"
}

/// The error enum of a request method: its declared errors, plus SERVER_ERROR. None for a message (it gets no reply).
pub(super) fn method_error_enum(method: &MethodTokens) -> Option<TokenStream> {
    if !method.def.is_request() {
        return None;
    }
    let doc = format!(
        "The errors of `{}`: exactly the declared ones, plus `SERVER_ERROR`.",
        method.path
    );
    Some(error_enum(&method.error_ty, &doc, &method.def.errors))
}

/// The error enum of a contract's connection, `ConnectError`: the `connect` section's declared errors, plus
/// SERVER_ERROR — what a connect handler may refuse a connection with, and what a typed client's connect fails with.
pub(super) fn connect_error_enum(contract_path: &str, errors: &[syn::Path]) -> TokenStream {
    let doc = format!(
        "The errors of connecting to `{contract_path}`: exactly the `connect` section's declared ones, plus \
         `SERVER_ERROR`."
    );
    error_enum(&format_ident!("ConnectError"), &doc, errors)
}

/// A module's `ConnectError`: its anchor's, under the same name as a plain contract's.
pub(super) fn anchor_connect_error(anchor: &syn::Path) -> TokenStream {
    let core = core_path();
    quote! {
        /// The errors of connecting: the anchor's (its `connect` section's declared ones, plus `SERVER_ERROR`).
        pub type ConnectError = <#anchor as #core::contract::Anchor>::ConnectError;
    }
}

/// An error enum named `error_ty` over the declared `errors`, plus SERVER_ERROR, with its conversions.
fn error_enum(error_ty: &Ident, enum_doc: &str, errors: &[syn::Path]) -> TokenStream {
    let core = core_path();
    let session = session_path();
    let mut variants: Vec<(Ident, syn::Path)> = errors.iter().map(|e| (last_ident(e), e.clone())).collect();
    if !errors.iter().any(is_server_error) {
        variants.push((format_ident!("ServerError"), syn::parse_quote!(#core::ServerError)));
    }
    let server_variant = variants
        .iter()
        .find(|(_, p)| is_server_error(p))
        .map(|(v, _)| v.clone())
        .expect("ServerError variant");
    let variant_defs = variants.iter().map(|(v, p)| {
        let doc = format!("`{}`, declared.", quote!(#p).to_string().replace(' ', ""));
        quote!(#[doc = #doc] #v(#p))
    });
    let froms = variants.iter().map(|(v, p)| {
        quote! {
            impl ::core::convert::From<#p> for #error_ty {
                fn from(error: #p) -> Self { #error_ty::#v(error) }
            }
        }
    });
    let listed = variants.iter().filter(|(_, p)| !is_server_error(p)).map(|(v, p)| {
        quote! {
            let wire = match #core::error::match_envelope::<#p>(wire) {
                ::core::result::Result::Ok(::core::option::Option::Some(e)) => return #error_ty::#v(e),
                ::core::result::Result::Ok(::core::option::Option::None) => {
                    return #error_ty::#server_variant(#core::ServerError::invalid_response());
                }
                ::core::result::Result::Err(wire) => wire,
            };
        }
    });
    let declared = variants.iter().map(|(v, p)| {
        quote! {
            let error = match error.downcast::<#p>() {
                ::core::result::Result::Ok(e) => return ::core::result::Result::Ok(#error_ty::#v(*e)),
                ::core::result::Result::Err(error) => error,
            };
        }
    });
    let to_envelope_arms = variants
        .iter()
        .map(|(v, _)| quote!(#error_ty::#v(e) => #core::GrestError::to_envelope(e)));
    quote! {
        #[doc = #enum_doc]
        #[derive(Debug, Clone, PartialEq)]
        pub enum #error_ty {
            #(#variant_defs,)*
        }
        #(#froms)*
        impl #core::MethodError for #error_ty {
            fn server_error(error: #core::ServerError) -> Self {
                #error_ty::#server_variant(error)
            }
            fn from_envelope(wire: #core::ErrorEnvelope) -> Self {
                #(#listed)*
                #error_ty::#server_variant(#core::error::unlisted_error(wire))
            }
            fn to_envelope(&self) -> #core::ErrorEnvelope {
                match self { #(#to_envelope_arms,)* }
            }
            fn from_error(
                error: #core::handler::BoxError,
            ) -> ::core::result::Result<Self, #core::handler::BoxError> {
                let error = match error.downcast::<Self>() {
                    ::core::result::Result::Ok(own) => return ::core::result::Result::Ok(*own),
                    ::core::result::Result::Err(error) => error,
                };
                #(#declared)*
                let error = match error.downcast::<#core::ErrorEnvelope>() {
                    ::core::result::Result::Ok(wire) => {
                        return ::core::result::Result::Ok(<Self as #core::MethodError>::from_envelope(*wire));
                    }
                    ::core::result::Result::Err(error) => error,
                };
                match error.downcast::<#session::SendError>() {
                    ::core::result::Result::Ok(failed) => ::core::result::Result::Ok(
                        #error_ty::#server_variant((*failed).into()),
                    ),
                    ::core::result::Result::Err(error) => ::core::result::Result::Err(error),
                }
            }
        }
        /// A received or forwarded error of any type, mapped by the listing rule: a declared type keeps its
        /// variant, anything else becomes `SERVER_ERROR` ("Invalid response" unless it already was one).
        impl ::core::convert::From<#core::ErrorEnvelope> for #error_ty {
            fn from(wire: #core::ErrorEnvelope) -> Self {
                <Self as #core::MethodError>::from_envelope(wire)
            }
        }
        /// A message or request that did not complete on the socket: `SERVER_ERROR` with the original's message,
        /// so `?` works on pushes and raw requests inside a handler.
        impl ::core::convert::From<#session::SendError> for #error_ty {
            fn from(error: #session::SendError) -> Self {
                #error_ty::#server_variant(error.into())
            }
        }
        impl ::core::fmt::Display for #error_ty {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&#core::MethodError::to_envelope(self), f)
            }
        }
        impl ::std::error::Error for #error_ty {}
    }
}
