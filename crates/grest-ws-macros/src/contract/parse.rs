//! The `contract!` DSL's syntax tree: parsing the input into a [`ContractDef`] and checking it (wire names safe for
//! the framing, sections allowed by the contract's kind, no duplicate methods). Rendering starts from its result.

use proc_macro2::Span;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitStr, Token, Type, Visibility, braced, bracketed, parenthesized};

use crate::case::camel;

/// What a `contract!` declares.
pub(super) enum Kind {
    /// A duplex contract.
    Plain,
    /// An anchor: only the connection (`connect`), extended by modules that share one socket.
    Anchor,
    /// A module of an anchor: methods of its own, the anchor's connection.
    Extends(syn::Path),
}

/// A parsed and checked `contract!` input.
pub(crate) struct ContractDef {
    /// The attributes on the contract (its docs), without `#[rename]`.
    pub(super) attrs: Vec<Attribute>,
    /// The visibility of the generated marker type and module.
    pub(super) vis: Visibility,
    /// Plain contract, anchor or module.
    pub(super) kind: Kind,
    /// The Rust name of the marker type.
    pub(super) name: Ident,
    /// The contract's name on the wire: `#[rename]`, else the Rust name.
    pub(super) path_name: String,
    /// The `connect` section's query type (`input`).
    pub(super) query: Option<Type>,
    /// The `connect` section's declared errors.
    pub(super) connect_errors: Vec<syn::Path>,
    /// The `connect` section's permission expression.
    pub(super) connect_permission: Option<syn::Expr>,
    /// The methods, client-to-server first, each side in declaration order.
    pub(super) methods: Vec<MethodDef>,
}

/// One method of a `client_to_server` or `server_to_client` section.
pub(super) struct MethodDef {
    /// The attributes on the method (its docs), without `#[rename]`.
    pub(super) attrs: Vec<Attribute>,
    /// The Rust name of the method.
    pub(super) name: Ident,
    /// The method's name on the wire: `#[rename]`, else the camelCase Rust name.
    pub(super) path_name: String,
    /// Whether the client sends it (else the server does).
    pub(super) to_server: bool,
    /// The input type, if the method takes one.
    pub(super) input: Option<Type>,
    /// The success type of a request; none for a message.
    pub(super) success: Option<Type>,
    /// The declared error types.
    pub(super) errors: Vec<syn::Path>,
    /// The permission expression.
    pub(super) permission: Option<syn::Expr>,
}

impl MethodDef {
    /// Whether the method is a request (it declares a success type and gets a reply), not a message.
    pub(super) fn is_request(&self) -> bool {
        self.success.is_some()
    }
}

/// Takes `#[rename = "..."]` out of the attributes; the rest (docs) are kept.
fn take_rename(attrs: &mut Vec<Attribute>) -> syn::Result<Option<LitStr>> {
    let mut found = None;
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if attr.path().is_ident("rename") {
            let value: LitStr = match &attr.meta {
                syn::Meta::NameValue(nv) => syn::parse2(quote::ToTokens::to_token_stream(&nv.value))?,
                _ => return Err(syn::Error::new_spanned(attr, "expected #[rename = \"...\"]")),
            };
            found = Some(value);
        } else {
            kept.push(attr);
        }
    }
    *attrs = kept;
    Ok(found)
}

/// A `:` in a name would corrupt the `type:path:id:data` framing (docs/protocol.md §1.2), so it is refused here.
fn checked_name(lit: Option<LitStr>, default: String, what: &str) -> syn::Result<String> {
    let (name, span) = match lit {
        Some(lit) => (lit.value(), lit.span()),
        None => (default, Span::call_site()),
    };
    if name.contains(':') {
        return Err(syn::Error::new(
            span,
            format!("{what} name {name:?} contains ':', which would break the wire framing"),
        ));
    }
    if name.is_empty() || name.contains('.') || name.chars().any(char::is_whitespace) {
        return Err(syn::Error::new(
            span,
            format!("{what} name {name:?} must be non-empty, without '.' or whitespace"),
        ));
    }
    Ok(name)
}

impl Parse for ContractDef {
    /// Parses `#[attrs] vis [anchor] Name [extends Anchor] { sections }`, then checks the definition.
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut attrs = input.call(Attribute::parse_outer)?;
        let rename_lit = take_rename(&mut attrs)?;
        let vis: Visibility = input.parse()?;
        let anchor = input.peek(Ident) && input.peek2(Ident) && input.fork().parse::<Ident>()? == "anchor";
        if anchor {
            input.parse::<Ident>()?;
        }
        let name: Ident = input.parse()?;
        let path_name = checked_name(rename_lit, name.to_string(), "contract")?;
        let kind = if anchor {
            Kind::Anchor
        } else if input.peek(Ident) && input.fork().parse::<Ident>()? == "extends" {
            input.parse::<Ident>()?;
            Kind::Extends(input.parse()?)
        } else {
            Kind::Plain
        };
        let body;
        braced!(body in input);
        let mut def = ContractDef {
            attrs,
            vis,
            kind,
            name,
            path_name,
            query: None,
            connect_errors: Vec::new(),
            connect_permission: None,
            methods: Vec::new(),
        };
        while !body.is_empty() {
            let section: Ident = body.parse()?;
            let content;
            braced!(content in body);
            match section.to_string().as_str() {
                "connect" => def.parse_connect(&content)?,
                "client_to_server" => def.parse_methods(&content, true)?,
                "server_to_client" => def.parse_methods(&content, false)?,
                _ => {
                    return Err(syn::Error::new_spanned(
                        section,
                        "expected `connect`, `client_to_server` or `server_to_client`",
                    ));
                }
            }
        }
        def.check_sections_fit_kind()?;
        // Client-to-server methods first, so indices are stable whatever the section order.
        def.methods.sort_by_key(|m| !m.to_server);
        def.check_unique_methods()?;
        Ok(def)
    }
}

/// Parses an error list `[ErrorA, ErrorB]`.
/// One `key: value` setting, written the same way in the `connect` section and after a method.
enum Setting {
    /// `input: T` (`connect` only): the handshake query.
    Input(Type),
    /// `errors: [A, B]`: the declared errors.
    Errors(Vec<syn::Path>),
    /// `permission: EXPR`: who may connect or call.
    Permission(syn::Expr),
}

/// Parses one setting; `input` is accepted only in `connect` (`in_connect`).
fn parse_option(input: ParseStream, in_connect: bool) -> syn::Result<Setting> {
    let key: Ident = input.parse()?;
    let expected = if in_connect {
        "expected `input: T`, `errors: [..]` or `permission: EXPR`"
    } else {
        "expected `errors: [..]` or `permission: EXPR`"
    };
    let setting = key.to_string();
    let known = match setting.as_str() {
        "errors" | "permission" => true,
        "input" => in_connect,
        _ => false,
    };
    if !known {
        return Err(syn::Error::new_spanned(key, expected));
    }
    if !input.peek(Token![:]) {
        return Err(syn::Error::new_spanned(
            &key,
            format!("write `{setting}: …`: every setting takes a colon, after a method as in `connect`"),
        ));
    }
    input.parse::<Token![:]>()?;
    Ok(match setting.as_str() {
        "input" => Setting::Input(input.parse()?),
        "errors" => {
            let list;
            bracketed!(list in input);
            Setting::Errors(
                list.parse_terminated(syn::Path::parse, Token![,])?
                    .into_iter()
                    .collect(),
            )
        }
        _ => Setting::Permission(input.parse()?),
    })
}

impl ContractDef {
    /// Parses the body of a `connect { input: T, errors: [..], permission: EXPR }` section.
    fn parse_connect(&mut self, input: ParseStream) -> syn::Result<()> {
        while !input.is_empty() {
            match parse_option(input, true)? {
                Setting::Input(query) => self.query = Some(query),
                Setting::Errors(errors) => self.connect_errors = errors,
                Setting::Permission(permission) => self.connect_permission = Some(permission),
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    }

    /// Parses the body of a `client_to_server` (`to_server`) or `server_to_client` section: methods
    /// `name(Input) -> Success, errors: [..], permission: EXPR;`.
    fn parse_methods(&mut self, input: ParseStream, to_server: bool) -> syn::Result<()> {
        while !input.is_empty() {
            let mut attrs = input.call(Attribute::parse_outer)?;
            let rename_lit = take_rename(&mut attrs)?;
            let name: Ident = input.parse()?;
            let path_name = checked_name(rename_lit, camel(&name.to_string()), "method")?;
            let args;
            parenthesized!(args in input);
            let input_ty: Option<Type> = if args.is_empty() { None } else { Some(args.parse()?) };
            let success = if input.peek(Token![->]) {
                input.parse::<Token![->]>()?;
                Some(input.parse()?)
            } else {
                None
            };
            let mut errors = Vec::new();
            let mut permission = None;
            while input.peek(Token![,]) {
                input.parse::<Token![,]>()?;
                match parse_option(input, false)? {
                    Setting::Errors(declared) => errors = declared,
                    Setting::Permission(expr) => permission = Some(expr),
                    Setting::Input(_) => unreachable!("refused by parse_option for methods"),
                }
            }
            input.parse::<Token![;]>()?;
            self.methods.push(MethodDef {
                attrs,
                name,
                path_name,
                to_server,
                input: input_ty,
                success,
                errors,
                permission,
            });
        }
        Ok(())
    }

    /// An anchor declares no methods; a module declares no `connect` (it uses its anchor's).
    fn check_sections_fit_kind(&self) -> syn::Result<()> {
        match &self.kind {
            Kind::Anchor if !self.methods.is_empty() => Err(syn::Error::new_spanned(
                &self.name,
                "an anchor declares only `connect`; modules extend it",
            )),
            Kind::Extends(_)
                if self.query.is_some() || !self.connect_errors.is_empty() || self.connect_permission.is_some() =>
            {
                Err(syn::Error::new_spanned(
                    &self.name,
                    "a module uses its anchor's `connect`",
                ))
            }
            _ => Ok(()),
        }
    }

    /// No two methods of one direction share a wire name.
    fn check_unique_methods(&self) -> syn::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for m in &self.methods {
            if !seen.insert((m.to_server, m.path_name.clone())) {
                return Err(syn::Error::new_spanned(
                    &m.name,
                    format!("duplicate method {:?}", m.path_name),
                ));
            }
        }
        Ok(())
    }
}
