//! The `push` module of a contract: a marker type per server-to-client method, implementing
//! `ServerToClientMethod` (and `ServerToClientRequest` for a request), so code generic over contracts — the test
//! kit's push expectations and mocks — names a method by type and gets its input, answer and errors typed.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::method::MethodTokens;
use crate::case::pascal;
use crate::session_path;

/// `mod push { pub struct NewMessage; … }` for the server-to-client methods of contract `contract`, and the
/// markers' trait impls. The impls stay in the contract's module, where the method's types resolve as the contract
/// wrote them: inside `push`, a marker would shadow an input type of the same name (`history(History)`).
pub(super) fn push_module(contract: &Ident, methods: &[MethodTokens]) -> TokenStream {
    let to_client = || methods.iter().filter(|m| !m.def.to_server);
    let markers = to_client().map(marker);
    let impls = to_client().map(|m| marker_impls(contract, m));
    quote! {
        /// The server-to-client methods as types (pushes and requests), for tools generic over contracts.
        pub mod push {
            #(#markers)*
        }

        #(#impls)*
    }
}

/// The marker name of a method: its name in PascalCase.
fn marker_name(method: &MethodTokens) -> Ident {
    format_ident!("{}", pascal(&method.def.name.to_string()))
}

/// One method's marker type.
fn marker(method: &MethodTokens) -> TokenStream {
    let marker = marker_name(method);
    let doc = format!("`{}`, as a type.", method.path);
    quote! {
        #[doc = #doc]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct #marker;
    }
}

/// One marker's `ServerToClientMethod` impl, and `ServerToClientRequest` for a request.
fn marker_impls(contract: &Ident, method: &MethodTokens) -> TokenStream {
    let session = session_path();
    let MethodTokens {
        def: m,
        path,
        input_ty,
        error_ty,
        ..
    } = method;
    let marker = marker_name(method);
    let request = m.success.as_ref().map(|success| {
        quote! {
            impl #session::ServerToClientRequest for push::#marker {
                type Success = #success;
                type Error = #error_ty;
            }
        }
    });
    quote! {
        impl #session::ServerToClientMethod for push::#marker {
            type Contract = super::#contract;
            type Input = #input_ty;
            const PATH: &'static str = #path;
        }

        #request
    }
}
