//! `#[derive(Validate)]`: the type's JSON shape and constraint checks, from the same declaration serde reads.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, Token};

use crate::case::rename_all;
use crate::core_path;

/// Field constraints from `#[validate(...)]`.
#[derive(Default)]
struct Rules {
    non_empty: bool,
    min_length: Option<syn::Expr>,
    max_length: Option<syn::Expr>,
    min: Option<syn::Expr>,
    max: Option<syn::Expr>,
}

/// The serde attributes this derive honours.
#[derive(Default)]
struct Serde {
    rename: Option<String>,
    rename_all: Option<String>,
    default: bool,
    skip: bool,
    flatten: bool,
    transparent: bool,
}

fn serde_attrs(attrs: &[syn::Attribute]) -> syn::Result<Serde> {
    let mut out = Serde::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match name.as_str() {
                "rename" | "rename_all" => {
                    let value = if meta.input.peek(Token![=]) {
                        Some(meta.value()?.parse::<LitStr>()?.value())
                    } else {
                        // `rename(serialize = "...", deserialize = "...")`: the wire name we read is the
                        // deserialize one.
                        let mut de = None;
                        meta.parse_nested_meta(|inner| {
                            let v = inner.value()?.parse::<LitStr>()?.value();
                            if inner.path.is_ident("deserialize") {
                                de = Some(v);
                            }
                            Ok(())
                        })?;
                        de
                    };
                    if name == "rename" {
                        out.rename = value;
                    } else {
                        out.rename_all = value;
                    }
                }
                "default" => {
                    out.default = true;
                    if meta.input.peek(Token![=]) {
                        meta.value()?.parse::<LitStr>()?;
                    }
                }
                "skip" | "skip_deserializing" => out.skip = true,
                "flatten" => out.flatten = true,
                "transparent" => out.transparent = true,
                _ => {
                    if meta.input.peek(Token![=]) {
                        meta.value()?.parse::<syn::Expr>()?;
                    } else if meta.input.peek(syn::token::Paren) {
                        meta.parse_nested_meta(|inner| {
                            if inner.input.peek(Token![=]) {
                                inner.value()?.parse::<syn::Expr>()?;
                            }
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn validate_attrs(attrs: &[syn::Attribute]) -> syn::Result<Rules> {
    let mut rules = Rules::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("validate")) {
        attr.parse_nested_meta(|meta| {
            let name = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            match name.as_str() {
                "non_empty" => rules.non_empty = true,
                "min_length" => rules.min_length = Some(meta.value()?.parse()?),
                "max_length" => rules.max_length = Some(meta.value()?.parse()?),
                "min" => rules.min = Some(meta.value()?.parse()?),
                "max" => rules.max = Some(meta.value()?.parse()?),
                _ => {
                    return Err(meta.error(
                        "unknown constraint; expected non_empty, min_length = N, max_length = N, min = N or max = N",
                    ));
                }
            }
            Ok(())
        })?;
    }
    Ok(rules)
}

fn rules_tokens(rules: &Rules) -> TokenStream {
    let core = core_path();
    let non_empty = rules.non_empty;
    let opt_u64 = |e: &Option<syn::Expr>| match e {
        Some(e) => quote!(::core::option::Option::Some((#e) as u64)),
        None => quote!(::core::option::Option::None),
    };
    let opt_f64 = |e: &Option<syn::Expr>| match e {
        Some(e) => quote!(::core::option::Option::Some((#e) as f64)),
        None => quote!(::core::option::Option::None),
    };
    let (min_length, max_length, min, max) = (
        opt_u64(&rules.min_length),
        opt_u64(&rules.max_length),
        opt_f64(&rules.min),
        opt_f64(&rules.max),
    );
    quote! {
        #core::validate::Rules { non_empty: #non_empty, min_length: #min_length, max_length: #max_length, min: #min, max: #max }
    }
}

pub(crate) fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            "#[derive(Validate)] does not support generic types yet",
        ));
    }
    let core = core_path();
    let name = &input.ident;
    let container = serde_attrs(&input.attrs)?;
    let body = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(fields) => named_struct(name, fields, &container)?,
            Fields::Unnamed(fields) if fields.unnamed.len() == 1 => {
                let ty = &fields.unnamed[0].ty;
                quote! {
                    const DEEP: bool = <#ty as #core::Validate>::DEEP;
                    fn shape() -> #core::validate::Shape { <#ty as #core::Validate>::shape() }
                    fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                        #core::Validate::validate(&self.0, path, issues)
                    }
                    fn check_rules(&self, rules: &#core::validate::Rules, path: &#core::validate::Path, issues: &mut #core::validate::Issues) {
                        #core::Validate::check_rules(&self.0, rules, path, issues)
                    }
                }
            }
            Fields::Unit => quote! {
                const DEEP: bool = false;
                fn shape() -> #core::validate::Shape { #core::validate::Shape::Null }
            },
            Fields::Unnamed(_) => {
                return Err(syn::Error::new_spanned(
                    name,
                    "#[derive(Validate)] supports structs with named fields, newtypes and unit-only enums",
                ));
            }
        },
        Data::Enum(data) => {
            let mut names = Vec::new();
            for variant in &data.variants {
                if !matches!(variant.fields, Fields::Unit) {
                    return Err(syn::Error::new_spanned(
                        variant,
                        "#[derive(Validate)] supports only unit variants (string literals on the wire)",
                    ));
                }
                let attrs = serde_attrs(&variant.attrs)?;
                names.push(json_name(
                    &variant.ident.to_string(),
                    &attrs,
                    &container,
                    &variant.ident,
                )?);
            }
            let type_name = type_name(name);
            quote! {
                const DEEP: bool = false;
                fn shape() -> #core::validate::Shape {
                    fn literal() -> #core::validate::Shape { #core::validate::Shape::Literal(&[#(#names),*]) }
                    #core::validate::Shape::Named(#type_name, literal)
                }
            }
        }
        Data::Union(_) => return Err(syn::Error::new_spanned(name, "unions are not supported")),
    };
    Ok(quote! {
        impl #core::Validate for #name {
            #body
        }
    })
}

fn json_name(ident: &str, attrs: &Serde, container: &Serde, span: &impl quote::ToTokens) -> syn::Result<String> {
    if let Some(rename) = &attrs.rename {
        return Ok(rename.clone());
    }
    match &container.rename_all {
        Some(rule) => rename_all(rule, ident)
            .ok_or_else(|| syn::Error::new_spanned(span, format!("unsupported serde rename_all rule {rule:?}"))),
        None => Ok(ident.strip_prefix("r#").unwrap_or(ident).to_owned()),
    }
}

/// The Rust type name a named shape carries (`r#type` → `type`).
fn type_name(ident: &syn::Ident) -> String {
    let name = ident.to_string();
    name.strip_prefix("r#").unwrap_or(&name).to_owned()
}

fn named_struct(name: &syn::Ident, fields: &syn::FieldsNamed, container: &Serde) -> syn::Result<TokenStream> {
    let core = core_path();
    if container.transparent {
        let field = fields.named.first().and_then(|f| f.ident.as_ref());
        let ty = fields.named.first().map(|f| &f.ty);
        return Ok(quote! {
            const DEEP: bool = <#ty as #core::Validate>::DEEP;
            fn shape() -> #core::validate::Shape { <#ty as #core::Validate>::shape() }
            fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
                #core::Validate::validate(&self.#field, path, issues)
            }
        });
    }
    let mut shape_fields = Vec::new();
    let mut checks = Vec::new();
    let mut deep = Vec::new();
    for field in &fields.named {
        let attrs = serde_attrs(&field.attrs)?;
        if attrs.skip {
            continue;
        }
        if attrs.flatten {
            return Err(syn::Error::new_spanned(
                field,
                "#[serde(flatten)] is not supported by #[derive(Validate)]",
            ));
        }
        let ident = field.ident.as_ref().expect("named field");
        let ty = &field.ty;
        let wire = json_name(&ident.to_string(), &attrs, container, ident)?;
        let rules = rules_tokens(&validate_attrs(&field.attrs)?);
        let has_default = attrs.default || container.default;
        shape_fields.push(quote! {
            #core::validate::Field { name: #wire, shape: <#ty as #core::Validate>::shape, rules: #rules, has_default: #has_default }
        });
        deep.push(quote! { !(#rules).is_none() || <#ty as #core::Validate>::DEEP });
        checks.push(quote! {
            // A field with nothing to check costs nothing (the condition is a constant).
            if !(#rules).is_none() || <#ty as #core::Validate>::DEEP {
                const RULES: #core::validate::Rules = #rules;
                let mark = path.push(#wire);
                let before = issues.len();
                #core::Validate::check_rules(&self.#ident, &RULES, path, issues);
                // Like grest, a value that breaks its own constraints (e.g. an array length) is not searched
                // further.
                if issues.len() == before {
                    #core::Validate::validate(&self.#ident, path, issues);
                }
                path.pop_to(mark);
            }
        });
    }
    let count = shape_fields.len();
    let type_name = type_name(name);
    Ok(quote! {
        const DEEP: bool = false #(|| #deep)*;
        fn shape() -> #core::validate::Shape {
            fn object() -> #core::validate::Shape {
                static FIELDS: [#core::validate::Field; #count] = [#(#shape_fields),*];
                #core::validate::Shape::Object(&FIELDS)
            }
            #core::validate::Shape::Named(#type_name, object)
        }
        #[allow(unused_variables)]
        fn validate(&self, path: &mut #core::validate::Path, issues: &mut #core::validate::Issues) {
            #(#checks)*
        }
    })
}
