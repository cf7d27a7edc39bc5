//! `contract!`: a duplex contract → metadata, per-method error enums, the server trait, the server's peer handle,
//! the client handle and the client's partial handlers.
//!
//! The expansion is a pipeline:
//!
//! 1. **parse** ([`parse`]): the DSL becomes a [`ContractDef`], checked on the way (wire names safe for the
//!    framing, sections the contract's kind allows, no duplicate methods), its methods ordered client-to-server
//!    first so that a method's index, the dispatch key, does not depend on the section order.
//! 2. **prepare** ([`method`]): each method gets the tokens several renderers share (its wire path, error type,
//!    result type and input forms), and the two renderings both sides have in common (the dispatch arm body, the
//!    calling method of a handle).
//! 3. **metadata** ([`metadata`], [`errors`]): the `Contract` impl with the `ContractMeta` the runtime routes and
//!    validates by, the `Extends` impl of a module, and the error enum of each request. An anchor is expanded here
//!    entirely (marker type and `Anchor` impl): it has no methods to render.
//! 4. **render** ([`render_server`], [`render_client`]): the server's `Server` trait, its `ServeWith` dispatch and
//!    its `Peer` handle; the client's `Client` handle and its `Handlers`; the `push` module's marker type per
//!    server-to-client method ([`markers`]).
//!
//! [`expand`] runs the steps in order and assembles the output: the marker type, then a module named after the
//! contract holding every generated item.

mod checks;
mod errors;
mod markers;
mod metadata;
mod method;
mod parse;
mod render_client;
mod render_server;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use self::method::MethodTokens;
pub(crate) use self::parse::ContractDef;
use self::parse::Kind;
use crate::case::snake;
use crate::session_path;

/// Expands a parsed contract: an anchor into its marker type and `Anchor` impl; any other contract into its marker
/// type and the module of its generated items.
pub(crate) fn expand(def: ContractDef) -> syn::Result<TokenStream> {
    if matches!(def.kind, Kind::Anchor) {
        return Ok(metadata::expand_anchor(&def));
    }
    let session = session_path();
    let ContractDef {
        attrs,
        vis,
        name,
        path_name,
        ..
    } = &def;
    let module = format_ident!("{}", snake(&name.to_string()));
    let methods: Vec<MethodTokens> = def
        .methods
        .iter()
        .enumerate()
        .map(|(index, m)| MethodTokens::new(path_name, index, m))
        .collect();

    let error_enums = methods.iter().filter_map(errors::method_error_enum);
    let connect_error_enum = match &def.kind {
        Kind::Extends(anchor) => errors::anchor_connect_error(anchor),
        _ => errors::connect_error_enum(path_name, &def.connect_errors),
    };
    let server_trait = render_server::server_trait(&def, &methods);
    let peer_handle = render_server::peer_handle(&def, &methods);
    let client_handle = render_client::client_handle(&methods);
    let handlers = render_client::handlers(&methods);
    let push_module = markers::push_module(name, &methods);
    let serve_with_impl = render_server::serve_with_impl(&def, &methods);
    let method_checks = methods.iter().filter_map(checks::method_checks);
    let connect_checks = checks::connect_checks(&def);
    let contract_impl = metadata::contract_impl(&def, &methods);
    let extends_impl = metadata::extends_impl(&def);

    let module_doc = format!("Generated items of contract `{path_name}`.");
    Ok(quote! {
        #(#attrs)*
        #[derive(Debug, Clone, Copy, Default)]
        #vis struct #name;

        #[doc = #module_doc]
        #vis mod #module {
            #[allow(unused_imports)]
            use super::*;

            #connect_error_enum

            #(#error_enums)*

            #server_trait

            #peer_handle

            #client_handle

            #handlers

            #push_module

            #serve_with_impl

            #contract_impl

            #extends_impl

            #(#method_checks)*

            #connect_checks

            impl #session::DuplexContract for super::#name {
                type Peer = Peer;
                type Client = Client;
                type Handlers = Handlers;
            }
        }
    })
}
