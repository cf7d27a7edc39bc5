//! Structs: named fields are an object, a newtype is its field (as serde writes it), a tuple struct is a tuple,
//! a unit struct is `null`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::Fields;

use super::attributes::{Serde, validate_attrs};
use super::fields::Naming;
use super::{Derive, type_name};

impl Derive {
    pub(super) fn structure(
        &mut self,
        name: &syn::Ident,
        fields: &Fields,
        container: &Serde,
    ) -> syn::Result<TokenStream> {
        let core = self.core.clone();
        let type_name = type_name(name);
        match fields {
            Fields::Named(named) if container.transparent => {
                let field = named.named.first().and_then(|f| f.ident.as_ref());
                let ty = named.named.first().map(|f| &f.ty);
                Ok(quote! {
                    const DEEP: bool = <#ty as #core::Validate>::DEEP;
                    fn shape() -> #core::validate::Shape { <#ty as #core::Validate>::shape() }
                    fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                        #core::Validate::validate(&self.#field, path, issues)
                    }
                })
            }
            Fields::Named(named) => {
                let naming = Naming {
                    rule: container.rename_all.as_ref(),
                    default: container.default,
                };
                let rendered = self.object_fields(named, &naming, |ident| quote!(&self.#ident))?;
                let (entries, checks, deep) = (rendered.entries, rendered.checks, rendered.deep);
                let count = entries.len();
                Ok(quote! {
                    const DEEP: bool = false #(|| #deep)*;
                    fn shape() -> #core::validate::Shape {
                        fn object() -> #core::validate::Shape {
                            static FIELDS: [#core::validate::Field; #count] = [#(#entries),*];
                            #core::validate::Shape::Object(&FIELDS)
                        }
                        #core::validate::Shape::Named(#type_name, #core::validate::ShapeFn::new(object))
                    }
                    #[allow(unused_variables)]
                    fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                        #checks
                    }
                })
            }
            Fields::Unnamed(unnamed) if unnamed.unnamed.len() == 1 => {
                let field = &unnamed.unnamed[0];
                if !validate_attrs(&field.attrs)?.is_empty() {
                    return Err(syn::Error::new_spanned(
                        field,
                        "a newtype is its field on the wire; declare the constraints on the field that holds the \
                         newtype",
                    ));
                }
                let ty = &field.ty;
                Ok(quote! {
                    const DEEP: bool = <#ty as #core::Validate>::DEEP;
                    fn shape() -> #core::validate::Shape { <#ty as #core::Validate>::shape() }
                    fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                        #core::Validate::validate(&self.0, path, issues)
                    }
                    fn check_rules(&self, rules: &#core::validate::Rules, path: &#core::validate::Path, issues: &mut #core::validate::Issues) {
                        #core::Validate::check_rules(&self.0, rules, path, issues)
                    }
                })
            }
            Fields::Unnamed(unnamed) => {
                let rendered = self.tuple_elements(unnamed, |i| {
                    let index = syn::Index::from(i);
                    quote!(&self.#index)
                })?;
                let (entries, checks, deep) = (rendered.entries, rendered.checks, rendered.deep);
                let count = entries.len();
                Ok(quote! {
                    const DEEP: bool = false #(|| #deep)*;
                    fn shape() -> #core::validate::Shape {
                        fn tuple() -> #core::validate::Shape {
                            static ELEMENTS: [#core::validate::Element; #count] = [#(#entries),*];
                            #core::validate::Shape::Tuple(&ELEMENTS)
                        }
                        #core::validate::Shape::Named(#type_name, #core::validate::ShapeFn::new(tuple))
                    }
                    fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                        #checks
                    }
                })
            }
            Fields::Unit => Ok(quote! {
                const DEEP: bool = false;
                fn shape() -> #core::validate::Shape { #core::validate::Shape::Null }
            }),
        }
    }
}
