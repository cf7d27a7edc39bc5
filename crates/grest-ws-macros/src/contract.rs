//! `contract!`: a duplex contract → metadata, per-method error enums, the server trait, the server's peer handle,
//! the client handle and the client's partial handlers.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, LitStr, Token, Type, Visibility, braced, bracketed, parenthesized};

use crate::case::{camel, pascal, snake};
use crate::{core_path, session_path};

/// What a `contract!` declares.
enum Kind {
    /// A duplex contract.
    Plain,
    /// An anchor: only the connection (`connect`), extended by modules that share one socket.
    Anchor,
    /// A module of an anchor: methods of its own, the anchor's connection.
    Extends(syn::Path),
}

pub(crate) struct ContractDef {
    attrs: Vec<Attribute>,
    vis: Visibility,
    kind: Kind,
    name: Ident,
    wire_name: String,
    query: Option<Type>,
    connect_errors: Vec<syn::Path>,
    connect_permission: Option<syn::Expr>,
    methods: Vec<MethodDef>,
}

struct MethodDef {
    attrs: Vec<Attribute>,
    name: Ident,
    wire_name: String,
    to_server: bool,
    input: Option<Type>,
    success: Option<Type>,
    errors: Vec<syn::Path>,
    permission: Option<syn::Expr>,
}

/// Takes `#[wire_name = "..."]` out of the attributes; the rest (docs) are kept.
fn take_wire_name(attrs: &mut Vec<Attribute>) -> syn::Result<Option<LitStr>> {
    let mut found = None;
    let mut kept = Vec::new();
    for attr in attrs.drain(..) {
        if attr.path().is_ident("wire_name") {
            let value: LitStr = match &attr.meta {
                syn::Meta::NameValue(nv) => syn::parse2(quote::ToTokens::to_token_stream(&nv.value))?,
                _ => return Err(syn::Error::new_spanned(attr, "expected #[wire_name = \"...\"]")),
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
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut attrs = input.call(Attribute::parse_outer)?;
        let wire_lit = take_wire_name(&mut attrs)?;
        let vis: Visibility = input.parse()?;
        let anchor = input.peek(Ident) && input.peek2(Ident) && input.fork().parse::<Ident>()? == "anchor";
        if anchor {
            input.parse::<Ident>()?;
        }
        let name: Ident = input.parse()?;
        let wire_name = checked_name(wire_lit, name.to_string(), "contract")?;
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
            wire_name,
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
        match &def.kind {
            Kind::Anchor if !def.methods.is_empty() => {
                return Err(syn::Error::new_spanned(
                    &def.name,
                    "an anchor declares only `connect`; modules extend it",
                ));
            }
            Kind::Extends(_)
                if def.query.is_some() || !def.connect_errors.is_empty() || def.connect_permission.is_some() =>
            {
                return Err(syn::Error::new_spanned(
                    &def.name,
                    "a module uses its anchor's `connect`",
                ));
            }
            _ => {}
        }
        // Client-to-server methods first, so indices are stable whatever the section order.
        def.methods.sort_by_key(|m| !m.to_server);
        let mut seen = std::collections::HashSet::new();
        for m in &def.methods {
            if !seen.insert((m.to_server, m.wire_name.clone())) {
                return Err(syn::Error::new_spanned(
                    &m.name,
                    format!("duplicate method {:?}", m.wire_name),
                ));
            }
        }
        Ok(def)
    }
}

fn parse_errors(input: ParseStream) -> syn::Result<Vec<syn::Path>> {
    let list;
    bracketed!(list in input);
    Ok(list
        .parse_terminated(syn::Path::parse, Token![,])?
        .into_iter()
        .collect())
}

impl ContractDef {
    fn parse_connect(&mut self, input: ParseStream) -> syn::Result<()> {
        while !input.is_empty() {
            let key: Ident = input.parse()?;
            input.parse::<Token![:]>()?;
            match key.to_string().as_str() {
                "input" => self.query = Some(input.parse()?),
                "errors" => self.connect_errors = parse_errors(input)?,
                "permission" => self.connect_permission = Some(input.parse()?),
                _ => {
                    return Err(syn::Error::new_spanned(
                        key,
                        "expected `input`, `errors` or `permission`",
                    ));
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(())
    }

    fn parse_methods(&mut self, input: ParseStream, to_server: bool) -> syn::Result<()> {
        while !input.is_empty() {
            let mut attrs = input.call(Attribute::parse_outer)?;
            let wire_lit = take_wire_name(&mut attrs)?;
            let name: Ident = input.parse()?;
            let wire_name = checked_name(wire_lit, camel(&name.to_string()), "method")?;
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
                let key: Ident = input.parse()?;
                match key.to_string().as_str() {
                    "errors" => errors = parse_errors(input)?,
                    "permission" => permission = Some(input.parse()?),
                    _ => {
                        return Err(syn::Error::new_spanned(
                            key,
                            "expected `errors [..]` or `permission EXPR`",
                        ));
                    }
                }
            }
            input.parse::<Token![;]>()?;
            self.methods.push(MethodDef {
                attrs,
                name,
                wire_name,
                to_server,
                input: input_ty,
                success,
                errors,
                permission,
            });
        }
        Ok(())
    }
}

/// The query type, the query decoder and the `ConnectMeta` of a contract's own `connect`.
fn connect_parts(def: &ContractDef) -> (TokenStream, TokenStream, TokenStream) {
    let core = core_path();
    let query_ty = def.query.clone().map_or_else(|| quote!(()), |t| quote!(#t));
    let decode_query = match &def.query {
        Some(t) => quote!(#core::validate::decode_query::<#t>(pairs)),
        None => quote!({
            let _ = pairs;
            ::core::result::Result::Ok(())
        }),
    };
    let query_shape = option_tokens(def.query.as_ref().map(|t| quote!(<#t as #core::Validate>::shape)));
    let connect_errors = def.connect_errors.iter().map(|e| quote!(#core::ErrorMeta::of::<#e>()));
    let connect_permission = option_tokens(def.connect_permission.as_ref().map(|p| quote!(#p)));
    let connect_meta = quote! {
        #core::contract::ConnectMeta {
            query: #query_shape,
            errors: &[#(#connect_errors),*],
            permission: #connect_permission,
        }
    };
    (query_ty, decode_query, connect_meta)
}

/// An anchor: the marker type and its `Anchor` impl (the shared connection of its modules).
fn expand_anchor(def: &ContractDef) -> TokenStream {
    let core = core_path();
    let ContractDef {
        attrs,
        vis,
        name,
        wire_name,
        ..
    } = def;
    let (query_ty, decode_query, connect_meta) = connect_parts(def);
    quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        impl #core::contract::Anchor for #name {
            const NAME: &'static str = #wire_name;
            const CONNECT: #core::contract::ConnectMeta = #connect_meta;
            type Query = #query_ty;
            fn decode_query(
                pairs: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::core::result::Result<Self::Query, #core::validate::Issues> {
                #decode_query
            }
        }
    }
}

fn last_ident(path: &syn::Path) -> Ident {
    path.segments.last().expect("non-empty path").ident.clone()
}

fn is_server_error(path: &syn::Path) -> bool {
    last_ident(path) == "ServerError"
}

fn option_tokens(value: Option<TokenStream>) -> TokenStream {
    match value {
        Some(v) => quote!(::core::option::Option::Some(#v)),
        None => quote!(::core::option::Option::None),
    }
}

pub(crate) fn expand(def: ContractDef) -> syn::Result<TokenStream> {
    if matches!(def.kind, Kind::Anchor) {
        return Ok(expand_anchor(&def));
    }
    let core = core_path();
    let session = session_path();
    let ContractDef {
        attrs,
        vis,
        name,
        wire_name,
        ..
    } = &def;
    let module = format_ident!("{}", snake(&name.to_string()));
    let (query_ty, decode_query, connect_meta, extends_impl) = match &def.kind {
        Kind::Extends(anchor) => (
            quote!(<#anchor as #core::contract::Anchor>::Query),
            quote!(<#anchor as #core::contract::Anchor>::decode_query(pairs)),
            quote!(<#anchor as #core::contract::Anchor>::CONNECT),
            quote!(impl #core::contract::Extends<#anchor> for super::#name {}),
        ),
        _ => {
            let (query_ty, decode_query, connect_meta) = connect_parts(&def);
            (query_ty, decode_query, connect_meta, quote!())
        }
    };

    let mut method_metas = Vec::new();
    let mut error_enums = Vec::new();
    let mut server_fns = Vec::new();
    let mut serve_arms = Vec::new();
    let mut peer_fns = Vec::new();
    let mut client_fns = Vec::new();
    let mut handler_fields = Vec::new();
    let mut handler_setters = Vec::new();
    let mut handler_arms = Vec::new();

    for (index, m) in def.methods.iter().enumerate() {
        let path = format!("{wire_name}.{}", m.wire_name);
        let fn_name = &m.name;
        let docs = &m.attrs;
        let direction = if m.to_server {
            quote!(#core::Direction::ClientToServer)
        } else {
            quote!(#core::Direction::ServerToClient)
        };
        let is_request = m.success.is_some();
        let errors_meta = m.errors.iter().map(|e| quote!(#core::ErrorMeta::of::<#e>()));
        let permission = option_tokens(m.permission.as_ref().map(|p| quote!(#p)));
        let input_shape = option_tokens(m.input.as_ref().map(|t| quote!(<#t as #core::Validate>::shape)));
        let success_shape = option_tokens(m.success.as_ref().map(|t| quote!(<#t as #core::Validate>::shape)));
        method_metas.push(quote! {
            #core::MethodMeta {
                name: stringify!(#fn_name),
                path: #path,
                direction: #direction,
                is_request: #is_request,
                errors: &[#(#errors_meta),*],
                permission: #permission,
                input: #input_shape,
                success: #success_shape,
            }
        });

        // The error enum of a request method: its declared errors, plus SERVER_ERROR.
        let error_ty = format_ident!("{}Error", pascal(&fn_name.to_string()));
        if let Some(_success) = &m.success {
            let mut variants: Vec<(Ident, syn::Path)> = m.errors.iter().map(|e| (last_ident(e), e.clone())).collect();
            if !m.errors.iter().any(is_server_error) {
                variants.push((format_ident!("ServerError"), syn::parse_quote!(#core::ServerError)));
            }
            let server_variant = variants
                .iter()
                .find(|(_, p)| is_server_error(p))
                .map(|(v, _)| v.clone())
                .expect("ServerError variant");
            let variant_defs = variants.iter().map(|(v, p)| {
                let doc = format!("`{}` declared by `{path}`.", quote!(#p).to_string().replace(' ', ""));
                quote!(#[doc = #doc] #v(#p))
            });
            let froms = variants.iter().map(|(v, p)| {
                quote! {
                    impl ::core::convert::From<#p> for #error_ty {
                        fn from(error: #p) -> Self { #error_ty::#v(error) }
                    }
                }
            });
            let listed = variants.iter().filter(|(_, p)| !is_server_error(p)).map(|(v, p)| {
                quote! {
                    let wire = match #core::error::match_wire::<#p>(wire) {
                        ::core::result::Result::Ok(::core::option::Option::Some(e)) => return #error_ty::#v(e),
                        ::core::result::Result::Ok(::core::option::Option::None) => {
                            return #error_ty::#server_variant(#core::ServerError::invalid_response());
                        }
                        ::core::result::Result::Err(wire) => wire,
                    };
                }
            });
            let to_wire_arms = variants
                .iter()
                .map(|(v, _)| quote!(#error_ty::#v(e) => #core::GrestError::to_wire(e)));
            let enum_doc = format!("The errors of `{path}`: exactly the declared ones, plus `SERVER_ERROR`.");
            error_enums.push(quote! {
                #[doc = #enum_doc]
                #[derive(Debug, Clone, PartialEq)]
                pub enum #error_ty {
                    #(#variant_defs,)*
                }
                #(#froms)*
                impl #core::MethodError for #error_ty {
                    fn server_error(error: #core::ServerError) -> Self {
                        #error_ty::#server_variant(error)
                    }
                    fn from_wire(wire: #core::WireError) -> Self {
                        #(#listed)*
                        #error_ty::#server_variant(#core::error::unlisted_wire_error(wire))
                    }
                    fn to_wire(&self) -> #core::WireError {
                        match self { #(#to_wire_arms,)* }
                    }
                }
                /// A received or forwarded error of any type, mapped by the listing rule: a declared type keeps its
                /// variant, anything else becomes `SERVER_ERROR` ("Invalid response" unless it already was one).
                impl ::core::convert::From<#core::WireError> for #error_ty {
                    fn from(wire: #core::WireError) -> Self {
                        <Self as #core::MethodError>::from_wire(wire)
                    }
                }
                /// A message or request that did not complete on the socket: `SERVER_ERROR` with the original's
                /// message, so `?` works on pushes and raw requests inside a handler.
                impl ::core::convert::From<#session::SendError> for #error_ty {
                    fn from(error: #session::SendError) -> Self {
                        #error_ty::#server_variant(error.into())
                    }
                }
                impl ::core::fmt::Display for #error_ty {
                    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                        ::core::fmt::Display::fmt(&#core::MethodError::to_wire(self), f)
                    }
                }
                impl ::std::error::Error for #error_ty {}
            });
        }

        let input_param = m.input.as_ref().map(|t| quote!(input: #t));
        let input_ref_param = m.input.as_ref().map(|t| quote!(input: &#t));
        let input_arg = m.input.as_ref().map(|_| quote!(input));
        let input_ty = m.input.clone().map_or_else(|| quote!(()), |t| quote!(#t));
        let input_send = if m.input.is_some() {
            quote!(::core::option::Option::Some(input))
        } else {
            quote!(::core::option::Option::None::<&()>)
        };
        let decode = |on_ok: TokenStream| match &m.input {
            Some(t) => quote! {
                match #session::decode_input::<#t>(data) {
                    ::core::result::Result::Ok(input) => #on_ok,
                    ::core::result::Result::Err(envelope) => #session::Call::Ready(envelope),
                }
            },
            None => quote!({ let _ = data; #on_ok }),
        };
        let result_ty = match &m.success {
            Some(s) => quote!(::core::result::Result<#s, #error_ty>),
            None => quote!(()),
        };
        let fn_doc = format!("`{path}`");

        // Handling side: server trait (client-to-server) or client handlers (server-to-client).
        if m.to_server {
            server_fns.push(quote! {
                #(#docs)*
                #[doc = ""]
                #[doc = #fn_doc]
                fn #fn_name(&self, #input_param) -> impl ::core::future::Future<Output = #result_ty> + ::core::marker::Send;
            });
            let run = if is_request {
                quote!(#session::Call::Pending(::std::boxed::Box::pin(async move {
                    #session::reply(#path, &handler.#fn_name(#input_arg).await)
                })))
            } else {
                quote!(#session::Call::Pending(::std::boxed::Box::pin(async move {
                    handler.#fn_name(#input_arg).await;
                    #session::ok_without_data()
                })))
            };
            let body = decode(run);
            serve_arms.push(quote!(#index => #body));
        } else {
            let setter = format_ident!("on_{}", fn_name);
            let handler_fn_ty = if m.input.is_some() {
                quote!(dyn Fn(#input_ty) -> #session::BoxFuture<'static, #result_ty> + Send + Sync)
            } else {
                quote!(dyn Fn() -> #session::BoxFuture<'static, #result_ty> + Send + Sync)
            };
            handler_fields.push(quote!(#fn_name: ::core::option::Option<::std::sync::Arc<#handler_fn_ty>>));
            let (bound, wrap) = if m.input.is_some() {
                (
                    quote!(F: Fn(#input_ty) -> Fut + Send + Sync + 'static),
                    quote!(move |input| ::std::boxed::Box::pin(handler(input)) as #session::BoxFuture<'static, #result_ty>),
                )
            } else {
                (
                    quote!(F: Fn() -> Fut + Send + Sync + 'static),
                    quote!(move || ::std::boxed::Box::pin(handler()) as #session::BoxFuture<'static, #result_ty>),
                )
            };
            let setter_doc = format!("Handles `{path}` sent by the server.");
            handler_setters.push(quote! {
                #[doc = #setter_doc]
                #[must_use]
                pub fn #setter<F, Fut>(mut self, handler: F) -> Self
                where
                    #bound,
                    Fut: ::core::future::Future<Output = #result_ty> + Send + 'static,
                {
                    self.#fn_name = ::core::option::Option::Some(::std::sync::Arc::new(#wrap));
                    self
                }
            });
            let run = if is_request {
                quote!(#session::Call::Pending(::std::boxed::Box::pin(async move {
                    #session::reply(#path, &handler(#input_arg).await)
                })))
            } else {
                quote!(#session::Call::Pending(::std::boxed::Box::pin(async move {
                    handler(#input_arg).await;
                    #session::ok_without_data()
                })))
            };
            let body = decode(run);
            handler_arms.push(quote! {
                #index => match &self.#fn_name {
                    ::core::option::Option::Some(handler) => { let handler = ::std::sync::Arc::clone(handler); #body }
                    ::core::option::Option::None => #session::route_not_found(#path),
                }
            });
        }

        // Calling side: server's peer handle (server-to-client) or the client (client-to-server).
        let call = if let Some(success) = &m.success {
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
        };
        if m.to_server {
            client_fns.push(call);
        } else {
            peer_fns.push(call);
            if m.success.is_none() {
                let prepare = format_ident!("prepare_{}", fn_name);
                let prepare_doc = format!(
                    "Validates and serializes a `{path}` message once, to send to many clients: a room broadcast \
                     (`Rooms::to(room).send`) or [`Peer::try_send_prepared`] / [`Peer::send_prepared`] per client."
                );
                let try_fn = format_ident!("try_{}", fn_name);
                let try_doc = format!(
                    "Queues a `{path}` message without waiting: past this connection's outbound budget its \
                     slow-consumer policy applies. [`Peer::{fn_name}`] waits for room instead."
                );
                peer_fns.push(quote! {
                    #[doc = #prepare_doc]
                    pub fn #prepare(#input_ref_param) -> ::core::result::Result<#session::PreparedMessage<super::#name>, #session::SendError> {
                        #session::PreparedMessage::new(#path, #input_send)
                    }

                    #[doc = #try_doc]
                    pub fn #try_fn(&self, #input_ref_param) -> ::core::result::Result<(), #session::PushError> {
                        self.handle.try_send::<#input_ty>(#path, #input_send)
                    }
                });
            }
        }
    }

    let module_doc = format!("Generated items of contract `{wire_name}`.");
    let server_doc = format!(
        "The server side of `{wire_name}`: one method per client-to-server message. Implement it on your \
         per-connection type; a missing method is a compile error."
    );
    Ok(quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        #[doc = #module_doc]
        #vis mod #module {
            #[allow(unused_imports)]
            use super::*;

            #(#error_enums)*

            #[doc = #server_doc]
            pub trait Server: Send + Sync + 'static {
                #(#server_fns)*
            }

            /// The server's handle to one connected client: server-to-client messages and requests.
            #[derive(Debug, Clone)]
            pub struct Peer {
                handle: #session::PeerHandle,
            }

            impl ::core::convert::From<#session::PeerHandle> for Peer {
                fn from(handle: #session::PeerHandle) -> Self {
                    Peer { handle }
                }
            }

            impl ::core::convert::AsRef<#session::PeerHandle> for Peer {
                fn as_ref(&self) -> &#session::PeerHandle {
                    &self.handle
                }
            }

            impl Peer {
                #(#peer_fns)*

                /// This connection's id (rooms address connections by it).
                pub fn id(&self) -> #session::ConnectionId {
                    self.handle.id()
                }

                /// Queues a message prepared once for many clients without waiting: past this connection's
                /// outbound budget its slow-consumer policy applies.
                pub fn try_send_prepared(
                    &self,
                    message: &#session::PreparedMessage<super::#name>,
                ) -> ::core::result::Result<(), #session::PushError> {
                    self.handle.try_send_prepared(message)
                }

                /// Sends a message prepared once for many clients (fan-out copies a reference, not the payload);
                /// resolves once queued, waiting while the connection's outbound queue is over its budget.
                pub async fn send_prepared(
                    &self,
                    message: &#session::PreparedMessage<super::#name>,
                ) -> ::core::result::Result<(), #session::SendError> {
                    self.handle.send_prepared(message).await
                }

                /// The untyped session handle (close, on-close hooks, connection state).
                pub fn handle(&self) -> &#session::PeerHandle {
                    &self.handle
                }
            }

            /// The client's handle to the server: client-to-server messages and requests.
            #[derive(Debug, Clone)]
            pub struct Client {
                handle: #session::PeerHandle,
            }

            impl ::core::convert::From<#session::PeerHandle> for Client {
                fn from(handle: #session::PeerHandle) -> Self {
                    Client { handle }
                }
            }

            impl ::core::convert::AsRef<#session::PeerHandle> for Client {
                fn as_ref(&self) -> &#session::PeerHandle {
                    &self.handle
                }
            }

            impl Client {
                #(#client_fns)*

                /// The untyped session handle (close, on-close hooks, connection state).
                pub fn handle(&self) -> &#session::PeerHandle {
                    &self.handle
                }

                /// Closes gracefully for good: waits up to 5 s for outstanding requests, then closes.
                pub async fn disconnect(&self) {
                    self.handle.disconnect(::std::time::Duration::from_secs(5)).await
                }

                /// Closes at once; outstanding requests fail with `SERVER_ERROR` "Socket connection closed!".
                pub fn close(&self) {
                    self.handle.close()
                }

                /// Whether a socket is currently connected (false while a reconnecting client is between sockets).
                pub fn is_connected(&self) -> bool {
                    self.handle.is_connected()
                }

                /// Drops the current socket as if the network had; a reconnecting client reconnects (and re-runs
                /// its setup). Outstanding requests fail with "Socket connection closed!".
                pub fn force_reconnect(&self) {
                    self.handle.drop_socket()
                }
            }

            /// The client's handlers for server-to-client messages. Partial: an unhandled request is answered with
            /// `ROUTE_NOT_FOUND`, an unhandled message is ignored.
            #[derive(Clone, Default)]
            pub struct Handlers {
                #(#handler_fields,)*
            }

            impl ::core::fmt::Debug for Handlers {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct("Handlers").finish_non_exhaustive()
                }
            }

            impl Handlers {
                /// No handlers yet.
                pub fn new() -> Self {
                    Self::default()
                }

                #(#handler_setters)*
            }

            impl #session::OwnedDispatch for Handlers {
                #[allow(unused_variables)]
                fn call_owned(
                    &self,
                    route: &#session::Route,
                    data: ::core::option::Option<&str>,
                ) -> #session::Call<'static> {
                    match route.method {
                        #(#handler_arms,)*
                        _ => #session::route_not_found(route.path),
                    }
                }
            }

            impl #session::Dispatch for Handlers {
                fn route(&self, path: &str) -> ::core::option::Option<#session::Route> {
                    static ROUTES: ::std::sync::OnceLock<#session::Routes> = ::std::sync::OnceLock::new();
                    ROUTES
                        .get_or_init(|| {
                            #session::Routes::new(
                                <super::#name as #core::Contract>::META,
                                #core::Direction::ServerToClient,
                            )
                        })
                        .get(path)
                }

                fn call(&self, route: &#session::Route, data: ::core::option::Option<&str>) -> #session::Call<'_> {
                    #session::OwnedDispatch::call_owned(self, route, data)
                }
            }

            impl<S: Server> #session::ServeWith<S> for super::#name {
                #[allow(unused_variables)]
                fn call<'a>(handler: &'a S, method: usize, data: ::core::option::Option<&str>) -> #session::Call<'a> {
                    match method {
                        #(#serve_arms,)*
                        _ => #session::route_not_found(#wire_name),
                    }
                }
            }

            impl #core::Contract for super::#name {
                const META: &'static #core::ContractMeta = &#core::ContractMeta {
                    name: #wire_name,
                    connect: #connect_meta,
                    methods: &[#(#method_metas),*],
                };
                type Query = #query_ty;
                fn decode_query(
                    pairs: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::core::result::Result<Self::Query, #core::validate::Issues> {
                    #decode_query
                }
            }

            #extends_impl

            impl #session::DuplexContract for super::#name {
                type Peer = Peer;
                type Client = Client;
                type Handlers = Handlers;
            }
        }
    })
}
