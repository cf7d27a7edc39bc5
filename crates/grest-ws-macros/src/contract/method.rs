//! One method prepared for rendering: its wire path and the Rust-side pieces (error type, result type, input forms)
//! that the metadata, the error enums and both sides' renderers share, plus the two renderings that the server side
//! and the client side have in common: the dispatch arm body that decodes the input and runs a handler, and the
//! calling method of a handle (`Peer` for server-to-client methods, `Client` for client-to-server ones).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::parse::MethodDef;
use crate::case::pascal;
use crate::{core_path, session_path};

/// The tokens of one method that more than one renderer needs.
pub(super) struct MethodTokens<'a> {
    /// The parsed method.
    pub(super) def: &'a MethodDef,
    /// The method's index in the contract's method list (client-to-server first): the dispatch key.
    pub(super) index: usize,
    /// The wire path, `contract.method`.
    pub(super) path: String,
    /// The name of the method's error enum, `<Method>Error` (generated for requests only).
    pub(super) error_ty: Ident,
    /// What a handler returns: `HandlerResult<Success, <Method>Error>` for a request, `()` for a message.
    pub(super) result_ty: TokenStream,
    /// The input type, `()` without input.
    pub(super) input_ty: TokenStream,
    /// The calling methods' parameter `input: &Input`; none without input.
    pub(super) input_ref_param: Option<TokenStream>,
    /// The argument a handler is called with, `input`; none without input.
    pub(super) input_arg: Option<TokenStream>,
    /// The input as the session's send functions take it: `Some(input)`, or `None::<&()>` without input.
    pub(super) input_send: TokenStream,
    /// The doc line naming the wire path.
    pub(super) fn_doc: String,
}

impl<'a> MethodTokens<'a> {
    /// Prepares method `m`, at `index` of contract `contract_path_name`'s methods.
    pub(super) fn new(contract_path_name: &str, index: usize, m: &'a MethodDef) -> Self {
        let path = format!("{contract_path_name}.{}", m.path_name);
        let error_ty = format_ident!("{}Error", pascal(&m.name.to_string()));
        let core = core_path();
        let result_ty = match &m.success {
            Some(s) => quote!(#core::HandlerResult<#s, #error_ty>),
            None => quote!(()),
        };
        let input_send = if m.input.is_some() {
            quote!(::core::option::Option::Some(input))
        } else {
            quote!(::core::option::Option::None::<&()>)
        };
        let fn_doc = format!("`{path}`");
        MethodTokens {
            def: m,
            index,
            path,
            error_ty,
            result_ty,
            input_ty: m.input.clone().map_or_else(|| quote!(()), |t| quote!(#t)),
            input_ref_param: m.input.as_ref().map(|t| quote!(input: &#t)),
            input_arg: m.input.as_ref().map(|_| quote!(input)),
            input_send,
            fn_doc,
        }
    }

    /// The body of a dispatch arm (the server's `ServeWith`, the client's `Handlers`): decodes the input from `data`
    /// (a bad one is answered at once), then awaits `invocation`, replying with its result for a request and
    /// acknowledging a message.
    pub(super) fn dispatch_body(&self, invocation: TokenStream) -> TokenStream {
        let session = session_path();
        let path = &self.path;
        let run = if self.def.is_request() {
            quote!(#session::Call::Pending(::std::boxed::Box::pin(async move {
                #session::__macro_support::reply(#path, #invocation.await)
            })))
        } else {
            quote!(#session::Call::Pending(::std::boxed::Box::pin(async move {
                #invocation.await;
                #session::__macro_support::ok_without_data()
            })))
        };
        match &self.def.input {
            Some(t) => quote! {
                match #session::__macro_support::decode_input::<#t>(data) {
                    ::core::result::Result::Ok(input) => #run,
                    ::core::result::Result::Err(envelope) => #session::Call::Ready(envelope),
                }
            },
            None => quote!({ let _ = data; #run }),
        }
    }

    /// The calling method on a handle (`Peer` or `Client`): a request awaits its reply, a message resolves once
    /// queued.
    pub(super) fn call_fn(&self) -> TokenStream {
        let session = session_path();
        let MethodTokens {
            def: m,
            path,
            error_ty,
            input_ty,
            input_ref_param,
            input_send,
            fn_doc,
            ..
        } = self;
        let fn_name = &m.name;
        let docs = &m.attrs;
        if let Some(success) = &m.success {
            quote! {
                #(#docs)*
                #[doc = ""]
                #[doc = #fn_doc]
                pub async fn #fn_name(&self, #input_ref_param) -> ::core::result::Result<#success, #error_ty> {
                    self.handle.call::<#input_ty, #success, #error_ty>(#path, #input_send).await
                }
            }
        } else {
            quote! {
                #(#docs)*
                #[doc = ""]
                #[doc = #fn_doc]
                pub async fn #fn_name(&self, #input_ref_param) -> ::core::result::Result<(), #session::SendError> {
                    self.handle.send::<#input_ty>(#path, #input_send).await
                }
            }
        }
    }
}
