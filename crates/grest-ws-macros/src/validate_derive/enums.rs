//! Enums: a plain unit-only enum is a string literal; any other is a union of its variants under serde's
//! representation (external, internal, adjacent tagging or untagged).

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Fields;

use super::attributes::{Serde, serde_attrs, validate_attrs, wire_name};
use super::fields::Naming;
use super::{Derive, type_name};

/// serde's enum representations, as `#[serde(...)]` on the container chooses them.
enum Tagging {
    External,
    Internal(String),
    Adjacent(String, String),
    Untagged,
}

impl Tagging {
    fn of(name: &syn::Ident, container: &Serde) -> syn::Result<Tagging> {
        Ok(match (&container.tag, &container.content, container.untagged) {
            (None, None, false) => Tagging::External,
            (Some(tag), None, false) => Tagging::Internal(tag.clone()),
            (Some(tag), Some(content), false) => Tagging::Adjacent(tag.clone(), content.clone()),
            (None, None, true) => Tagging::Untagged,
            _ => {
                return Err(syn::Error::new_spanned(
                    name,
                    "serde accepts `tag`, `tag` with `content`, or `untagged`",
                ));
            }
        })
    }
}

/// One variant, rendered.
struct Rendered {
    /// The `Variant { .. }` entry.
    entry: TokenStream,
    /// Helper items the entry refers to (its content's shape function).
    items: TokenStream,
    /// The `match self` arm checking a typed value of this variant.
    arm: TokenStream,
    /// Whether the variant has anything to check (conditions for `Validate::DEEP`).
    deep: Vec<TokenStream>,
}

impl Derive {
    pub(super) fn enumeration(
        &mut self,
        name: &syn::Ident,
        data: &syn::DataEnum,
        container: &Serde,
    ) -> syn::Result<TokenStream> {
        let core = self.core.clone();
        let type_name = type_name(name);
        let tagging = Tagging::of(name, container)?;
        let unit_only = data.variants.iter().all(|v| matches!(v.fields, Fields::Unit));
        if unit_only && matches!(tagging, Tagging::External) {
            let mut names = Vec::new();
            for variant in &data.variants {
                let attrs = serde_attrs(&variant.attrs)?;
                if !attrs.skip {
                    names.push(wire_name(&variant.ident, &attrs, container.rename_all.as_ref())?);
                }
            }
            return Ok(quote! {
                const DEEP: bool = false;
                fn shape() -> #core::validate::Shape {
                    fn literal() -> #core::validate::Shape { #core::validate::Shape::Literal(&[#(#names),*]) }
                    #core::validate::Shape::Named(#type_name, #core::validate::ShapeFn::new(literal))
                }
            });
        }
        let (mut entries, mut items, mut arms, mut deep) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for variant in &data.variants {
            let attrs = serde_attrs(&variant.attrs)?;
            let ident = &variant.ident;
            if attrs.skip {
                arms.push(quote!(Self::#ident { .. } => {}));
                continue;
            }
            let rendered = self.variant(variant, &attrs, &tagging, container)?;
            entries.push(rendered.entry);
            items.push(rendered.items);
            arms.push(rendered.arm);
            deep.extend(rendered.deep);
        }
        let tagging = match &tagging {
            Tagging::External => quote!(#core::validate::Tagging::External),
            Tagging::Internal(tag) => quote!(#core::validate::Tagging::Internal { tag: #tag }),
            Tagging::Adjacent(tag, content) => {
                quote!(#core::validate::Tagging::Adjacent { tag: #tag, content: #content })
            }
            Tagging::Untagged => quote!(#core::validate::Tagging::Untagged),
        };
        let count = entries.len();
        Ok(quote! {
            const DEEP: bool = false #(|| #deep)*;
            fn shape() -> #core::validate::Shape {
                fn union() -> #core::validate::Shape {
                    #(#items)*
                    static VARIANTS: [#core::validate::Variant; #count] = [#(#entries),*];
                    #core::validate::Shape::Union { tagging: #tagging, variants: &VARIANTS }
                }
                #core::validate::Shape::Named(#type_name, #core::validate::ShapeFn::new(union))
            }
            #[allow(unused_variables)]
            fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                match self {
                    #(#arms)*
                }
            }
        })
    }

    fn variant(
        &mut self,
        variant: &syn::Variant,
        attrs: &Serde,
        tagging: &Tagging,
        container: &Serde,
    ) -> syn::Result<Rendered> {
        let core = self.core.clone();
        let ident = &variant.ident;
        let wire = wire_name(ident, attrs, container.rename_all.as_ref())?;
        // Where the content is on the wire, relative to the enum's own path.
        let content_segment = match tagging {
            Tagging::External => Some(wire.clone()),
            Tagging::Adjacent(_, content) => Some(content.clone()),
            Tagging::Internal(_) | Tagging::Untagged => None,
        };
        let untagged = matches!(tagging, Tagging::Untagged);
        let within_content = |checks: TokenStream| match &content_segment {
            Some(segment) => quote! {
                let mark = path.push(#segment);
                #checks
                path.pop_to(mark);
            },
            // An untagged value that breaks its variant's constraints matches no variant: one issue, as the JSON
            // walk reports it.
            None if untagged => quote! {
                let start = issues.len();
                #checks
                if issues.len() > start {
                    issues.truncate(start);
                    #core::validate::untagged_mismatch(path, issues);
                }
            },
            None => checks,
        };
        let none = quote!(::core::option::Option::None);
        let (shape, rules, items, arm, deep) = match &variant.fields {
            Fields::Unit => (
                none,
                quote!(#core::validate::Rules::NONE),
                TokenStream::new(),
                quote!(Self::#ident => {}),
                Vec::new(),
            ),
            Fields::Named(fields) => {
                let naming = Naming {
                    rule: attrs.rename_all.as_ref().or(container.rename_all_fields.as_ref()),
                    default: false,
                };
                // Bound under names of their own: a field named `path` must not hide the walk's path.
                let binding = |field: &syn::Ident| {
                    let name = field.to_string();
                    format_ident!("__grest_field_{}", name.strip_prefix("r#").unwrap_or(&name))
                };
                let rendered = self.object_fields(fields, &naming, |field| {
                    let binding = binding(field);
                    quote!(#binding)
                })?;
                let bindings: Vec<_> = fields
                    .named
                    .iter()
                    .filter(|field| serde_attrs(&field.attrs).is_ok_and(|a| !a.skip))
                    .filter_map(|field| field.ident.as_ref())
                    .map(|field| {
                        let bound = binding(field);
                        quote!(#field: #bound)
                    })
                    .collect();
                let (entries, count) = (&rendered.entries, rendered.entries.len());
                let content = self.helper("__grest_variant");
                let items = quote! {
                    fn #content() -> #core::validate::Shape {
                        static FIELDS: [#core::validate::Field; #count] = [#(#entries),*];
                        #core::validate::Shape::Object(&FIELDS)
                    }
                };
                let checks = within_content(rendered.checks);
                let arm = quote!(Self::#ident { #(#bindings,)* .. } => { #checks });
                let shape = quote!(::core::option::Option::Some(#core::validate::ShapeFn::new(#content)));
                (shape, quote!(#core::validate::Rules::NONE), items, arm, rendered.deep)
            }
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                let field = &fields.unnamed[0];
                let ty = &field.ty;
                let constraints = validate_attrs(&field.attrs)?;
                let declared = !constraints.is_empty();
                let rules = self.rules(&constraints);
                let check = self.value_check(ty, &quote!(value), &rules);
                let condition = if declared {
                    quote!(true)
                } else {
                    quote!(<#ty as #core::Validate>::DEEP)
                };
                let checks = within_content(quote!(if #condition { #check }));
                let arm = quote!(Self::#ident(value) => { #checks });
                let shape = quote!(::core::option::Option::Some(#core::validate::ShapeFn::new(<#ty as #core::Validate>::shape)));
                (shape, rules, TokenStream::new(), arm, vec![condition])
            }
            Fields::Unnamed(fields) => {
                if matches!(tagging, Tagging::Internal(_)) {
                    return Err(syn::Error::new_spanned(
                        variant,
                        "an internally tagged enum cannot have tuple variants (serde refuses them too)",
                    ));
                }
                let bindings: Vec<_> = (0..fields.unnamed.len())
                    .map(|i| format_ident!("value_{}", i))
                    .collect();
                let rendered = self.tuple_elements(fields, |i| {
                    let binding = &bindings[i];
                    quote!(#binding)
                })?;
                let (entries, count) = (&rendered.entries, rendered.entries.len());
                let content = self.helper("__grest_variant");
                let items = quote! {
                    fn #content() -> #core::validate::Shape {
                        static ELEMENTS: [#core::validate::Element; #count] = [#(#entries),*];
                        #core::validate::Shape::Tuple(&ELEMENTS)
                    }
                };
                let checks = within_content(rendered.checks);
                let arm = quote!(Self::#ident(#(#bindings),*) => { #checks });
                let shape = quote!(::core::option::Option::Some(#core::validate::ShapeFn::new(#content)));
                (shape, quote!(#core::validate::Rules::NONE), items, arm, rendered.deep)
            }
        };
        let entry = quote! {
            #core::validate::Variant { name: #wire, shape: #shape, rules: #rules }
        };
        Ok(Rendered {
            entry,
            items,
            arm,
            deep,
        })
    }
}
