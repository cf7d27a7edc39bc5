//! `#[derive(Validate)]`: the type's JSON shape and constraint checks, from the same declaration serde reads.
//!
//! The impl is wrapped in `const _: () = { .. };` with one constant per declared set of rules, so that each
//! pattern's matcher (and its compiled expression) exists once, shared by the shape and the typed check.

mod attributes;
mod enums;
mod fields;
mod structs;

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput};

use crate::core_path;
use attributes::{Constraints, serde_attrs};

/// The state of one derive: the core crate's path and the helper items generated so far.
pub(super) struct Derive {
    core: TokenStream,
    /// Items placed beside the impl (rule constants).
    items: Vec<TokenStream>,
    helpers: usize,
}

pub(crate) fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Validate)] does not support generic types yet",
        ));
    }
    let mut derive = Derive {
        core: core_path(),
        items: Vec::new(),
        helpers: 0,
    };
    let name = &input.ident;
    let container = serde_attrs(&input.attrs)?;
    let body = match &input.data {
        Data::Struct(data) => derive.structure(name, &data.fields, &container)?,
        Data::Enum(data) => derive.enumeration(name, data, &container)?,
        Data::Union(_) => return Err(syn::Error::new_spanned(name, "unions are not supported")),
    };
    let core = &derive.core;
    let items = &derive.items;
    Ok(quote! {
        const _: () = {
            #(#items)*
            impl #core::Validate for #name {
                #body
            }
        };
    })
}

impl Derive {
    /// An expression for the declared rules: `Rules::NONE`, or a constant defined beside the impl.
    fn rules(&mut self, constraints: &Constraints) -> TokenStream {
        let core = self.core.clone();
        if constraints.is_empty() {
            return quote!(#core::validate::Rules::NONE);
        }
        let some = |value: TokenStream| quote!(::core::option::Option::Some(#value));
        let none = quote!(::core::option::Option::None);
        let non_empty = constraints.non_empty;
        let [min_length, max_length] = [&constraints.min_length, &constraints.max_length]
            .map(|e| e.as_ref().map_or_else(|| none.clone(), |e| some(quote!((#e) as u64))));
        let [min, max, multiple_of] = [&constraints.min, &constraints.max, &constraints.multiple_of]
            .map(|e| e.as_ref().map_or_else(|| none.clone(), |e| some(quote!((#e) as f64))));
        let pattern = constraints.pattern.as_ref().map_or_else(
            || none.clone(),
            |source| {
                some(quote! {
                    #core::validate::Pattern::new(#source, |s| {
                        static CACHE: #core::validate::PatternCache = #core::validate::PatternCache::new(#source);
                        CACHE.is_match(s)
                    })
                })
            },
        );
        let format = constraints.format.map_or_else(
            || none.clone(),
            |variant| {
                let variant = syn::Ident::new(variant, proc_macro2::Span::call_site());
                some(quote!(#core::validate::Format::#variant))
            },
        );
        let ident = self.helper("__GREST_RULES");
        self.items.push(quote! {
            const #ident: #core::validate::Rules = #core::validate::Rules {
                non_empty: #non_empty,
                min_length: #min_length,
                max_length: #max_length,
                min: #min,
                max: #max,
                multiple_of: #multiple_of,
                pattern: #pattern,
                format: #format,
            };
        });
        quote!(#ident)
    }
}

/// The Rust type name a named shape carries (`r#type` → `type`).
fn type_name(ident: &syn::Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").unwrap_or(&name).to_owned()
}
