//! The contract's compile-time checks of declared errors: an error the framework itself can answer a method with
//! must be among the method's declared errors, or a typed peer would receive it as `SERVER_ERROR` "Invalid
//! response". A method with a non-public permission can be refused with `FORBIDDEN`; a request whose input
//! declares constraints can be refused with `VALIDATION_ERROR`; a connection with a non-public permission can be
//! refused with `FORBIDDEN`. Each check is a `const` item, so a missing declaration fails the build with a message
//! that names the fix.

use proc_macro2::TokenStream;
use quote::quote;

use super::method::MethodTokens;
use super::parse::ContractDef;
use crate::core_path;

/// The checks of one request method (a message gets no reply, so nothing to declare).
pub(super) fn method_checks(method: &MethodTokens) -> Option<TokenStream> {
    let m = method.def;
    if !m.is_request() {
        return None;
    }
    let core = core_path();
    let path = &method.path;
    let permission = m.permission.as_ref().map(|permission| {
        let message = format!(
            "`{path}` has a permission, so it can be refused with FORBIDDEN: add `Forbidden` to its `errors: [..]` \
             (an undeclared error reaches a typed client as SERVER_ERROR \"Invalid response\")"
        );
        forbidden_check(&permission_tokens(permission), &message)
    });
    let input = m.input.as_ref().map(|input| {
        let message = format!(
            "the input of `{path}` declares constraints, so it can be refused with VALIDATION_ERROR: add \
             `ValidationError` to its `errors: [..]` (an undeclared error reaches a typed client as SERVER_ERROR \
             \"Invalid response\")"
        );
        quote! {
            if <#input as #core::Validate>::DEEP
                && !#core::ErrorMeta::listed(ERRORS, <#core::ValidationError as #core::GrestError>::TYPE)
            {
                ::core::panic!("{}", #message);
            }
        }
    });
    if permission.is_none() && input.is_none() {
        return None;
    }
    Some(checks_item(&m.errors, quote!(#permission #input)))
}

/// The check of a contract's own connection (a plain contract's or an anchor's).
pub(super) fn connect_checks(def: &ContractDef) -> Option<TokenStream> {
    let permission = def.connect_permission.as_ref()?;
    let message = format!(
        "the connection of `{}` has a permission, so it can be refused with FORBIDDEN: add `Forbidden` to its \
         `connect {{ errors: [..] }}` (an undeclared error reaches a typed client as SERVER_ERROR \"Invalid \
         response\")",
        def.path_name
    );
    let check = forbidden_check(&permission_tokens(permission), &message);
    Some(checks_item(&def.connect_errors, check))
}

/// A permission expression as a value.
fn permission_tokens(permission: &syn::Expr) -> TokenStream {
    quote!(#permission)
}

/// Fails with `message` unless `permission` is public or `FORBIDDEN` is declared.
fn forbidden_check(permission: &TokenStream, message: &str) -> TokenStream {
    let core = core_path();
    quote! {
        if !#core::Permission::is_public(&#permission)
            && !#core::ErrorMeta::listed(ERRORS, <#core::Forbidden as #core::GrestError>::TYPE)
        {
            ::core::panic!("{}", #message);
        }
    }
}

/// A `const` item running `checks` against the declared `errors` (as `ERRORS`).
fn checks_item(errors: &[syn::Path], checks: TokenStream) -> TokenStream {
    let core = core_path();
    quote! {
        const _: () = {
            const ERRORS: &[#core::ErrorMeta] = &[#(#core::ErrorMeta::of::<#errors>()),*];
            #checks
        };
    }
}
