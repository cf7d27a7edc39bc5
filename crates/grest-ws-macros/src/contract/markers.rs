//! The `push` module of a contract: a marker type per server-to-client method, implementing
//! `ServerToClientMethod` (and `ServerToClientRequest` for a request), so code generic over contracts — the test
//! kit's push expectations and mocks — names a method by type and gets its input, answer and errors typed.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::method::MethodTokens;
use crate::case::pascal;
use crate::session_path;

/// `mod push { pub struct NewMessage; … }` for the server-to-client methods of contract `contract`.
pub(super) fn push_module(contract: &Ident, methods: &[MethodTokens]) -> TokenStream {
    let markers = methods.iter().filter(|m| !m.def.to_server).map(|m| marker(contract, m));
    quote! {
        /// The server-to-client methods as types (pushes and requests), for tools generic over contracts.
        pub mod push {
            #[allow(unused_imports)]
            use super::*;

            #(#markers)*
        }
    }
}

/// One method's marker type and its trait impls.
fn marker(contract: &Ident, method: &MethodTokens) -> TokenStream {
    let session = session_path();
    let MethodTokens {
        def: m,
        path,
        input_ty,
        error_ty,
        ..
    } = method;
    let marker = format_ident!("{}", pascal(&m.name.to_string()));
    let doc = format!("`{path}`, as a type.");
    let request = m.success.as_ref().map(|success| {
        quote! {
            impl #session::ServerToClientRequest for #marker {
                type Success = #success;
                type Error = #error_ty;
            }
        }
    });
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct #marker;

        impl #session::ServerToClientMethod for #marker {
            type Contract = super::super::#contract;
            type Input = #input_ty;
            const PATH: &'static str = #path;
        }

        #request
    }
}
