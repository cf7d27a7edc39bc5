//! The fields of a struct or of an enum variant: their shape entries (object fields, tuple elements) and their
//! checks on a typed value.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::Derive;
use super::attributes::{serde_attrs, validate_attrs, wire_name};

/// What a list of fields renders to.
pub(super) struct Rendered {
    /// The shape entries (`Field { .. }` or `Element { .. }`), in order.
    pub(super) entries: Vec<TokenStream>,
    /// Statements checking the fields of a typed value (paths pushed and popped around each).
    pub(super) checks: TokenStream,
    /// Conditions whose disjunction says whether any field has something to check (`Validate::DEEP`).
    pub(super) deep: Vec<TokenStream>,
}

/// How the fields of an object are named and defaulted.
pub(super) struct Naming<'a> {
    /// The `rename_all` rule that applies to the field names.
    pub(super) rule: Option<&'a String>,
    /// `#[serde(default)]` on the container.
    pub(super) default: bool,
}

impl Derive {
    /// The fields of an object (a struct with named fields, or a struct variant). `access` turns a field's ident
    /// into an expression of type `&FieldType`.
    pub(super) fn object_fields(
        &mut self,
        fields: &syn::FieldsNamed,
        naming: &Naming<'_>,
        access: impl Fn(&syn::Ident) -> TokenStream,
    ) -> syn::Result<Rendered> {
        let core = self.core.clone();
        let mut entries = Vec::new();
        let mut checks = TokenStream::new();
        let mut deep = Vec::new();
        for field in &fields.named {
            let attrs = serde_attrs(&field.attrs)?;
            if attrs.skip {
                continue;
            }
            let ident = field.ident.as_ref().expect("named field");
            let ty = &field.ty;
            let value = access(ident);
            let constraints = validate_attrs(&field.attrs)?;
            let has_default = attrs.default || naming.default;
            if attrs.flatten {
                if !constraints.is_empty() {
                    return Err(syn::Error::new_spanned(
                        field,
                        "a flattened field takes no constraints; declare them on the flattened type's fields",
                    ));
                }
                let name = ident.to_string();
                entries.push(quote! {
                    #core::validate::Field {
                        has_default: #has_default,
                        flatten: true,
                        ..#core::validate::Field::new(#name, <#ty as #core::Validate>::shape)
                    }
                });
                deep.push(quote!(<#ty as #core::Validate>::DEEP));
                // Its fields are the enclosing object's own: same path.
                checks.extend(quote! {
                    if <#ty as #core::Validate>::DEEP {
                        #core::Validate::validate(#value, path, issues);
                    }
                });
                continue;
            }
            let wire = wire_name(ident, &attrs, naming.rule)?;
            let declared = !constraints.is_empty();
            let rules = self.rules(&constraints);
            entries.push(quote! {
                #core::validate::Field {
                    rules: #rules,
                    has_default: #has_default,
                    ..#core::validate::Field::new(#wire, <#ty as #core::Validate>::shape)
                }
            });
            let condition = if declared {
                quote!(true)
            } else {
                quote!(<#ty as #core::Validate>::DEEP)
            };
            deep.push(condition.clone());
            let check = self.value_check(ty, &value, &rules);
            checks.extend(quote! {
                // A field with nothing to check costs nothing (the condition is a constant).
                if #condition {
                    let mark = path.push(#wire);
                    #check
                    path.pop_to(mark);
                }
            });
        }
        Ok(Rendered { entries, checks, deep })
    }

    /// The fields of a tuple struct or tuple variant, as tuple elements. `access` turns a field's index into an
    /// expression of type `&FieldType`.
    pub(super) fn tuple_elements(
        &mut self,
        fields: &syn::FieldsUnnamed,
        access: impl Fn(usize) -> TokenStream,
    ) -> syn::Result<Rendered> {
        let core = self.core.clone();
        let mut entries = Vec::new();
        let mut checks = TokenStream::new();
        let mut deep = Vec::new();
        for (i, field) in fields.unnamed.iter().enumerate() {
            if serde_attrs(&field.attrs)?.skip {
                return Err(syn::Error::new_spanned(
                    field,
                    "#[derive(Validate)] does not support skipped tuple fields",
                ));
            }
            let ty = &field.ty;
            let value = access(i);
            let constraints = validate_attrs(&field.attrs)?;
            let declared = !constraints.is_empty();
            let rules = self.rules(&constraints);
            entries.push(quote! {
                #core::validate::Element { shape: #core::validate::ShapeFn::new(<#ty as #core::Validate>::shape), rules: #rules }
            });
            let condition = if declared {
                quote!(true)
            } else {
                quote!(<#ty as #core::Validate>::DEEP)
            };
            deep.push(condition.clone());
            let check = self.value_check(ty, &value, &rules);
            checks.extend(quote! {
                if #condition {
                    let mark = path.push(#i);
                    #check
                    path.pop_to(mark);
                }
            });
        }
        Ok(Rendered { entries, checks, deep })
    }

    /// Checks one value at the current path: its declared rules, then (when it broke none) what is inside it.
    pub(super) fn value_check(&self, ty: &syn::Type, value: &TokenStream, rules: &TokenStream) -> TokenStream {
        let core = &self.core;
        quote! {
            let before = issues.len();
            #core::Validate::check_rules(#value, &#rules, path, issues);
            // Like grest, a value that breaks its own constraints (e.g. an array length) is not searched further.
            if issues.len() == before && <#ty as #core::Validate>::DEEP {
                #core::Validate::validate(#value, path, issues);
            }
        }
    }

    /// A fresh name for a helper item of this derive: `prefix` and a number.
    pub(super) fn helper(&mut self, prefix: &str) -> syn::Ident {
        self.helpers += 1;
        format_ident!("{}_{}", prefix, self.helpers)
    }
}
