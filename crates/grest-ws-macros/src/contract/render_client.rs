//! The client side of a contract: `Client`, the client's handle to the server for client-to-server messages and
//! requests, and `Handlers`, the client's partial handlers for server-to-client methods with their dispatch.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::method::MethodTokens;
use crate::session_path;

/// `Client`: the client's handle to the server, with a calling method per client-to-server method.
pub(super) fn client_handle(methods: &[MethodTokens]) -> TokenStream {
    let session = session_path();
    let client_fns = methods.iter().filter(|m| m.def.to_server).map(MethodTokens::call_fn);
    quote! {
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

            /// Adds `handlers` to the live client, replacing the handlers of the methods they handle (the
            /// original's `incoming.on(handlers)`): the next message of such a method goes to the new handler.
            /// They stay across reconnects, except where the connect setup's handlers, merged in again on every
            /// reconnection, handle the same method.
            pub fn on(&self, handlers: Handlers) {
                self.handle.wiring().live_handlers::<Handlers>().merge(handlers)
            }

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
    }
}

/// `Handlers`: an optional handler per server-to-client method, their setters, the dispatch to them
/// (`OwnedDispatch`) and their merge (`PartialHandlers`).
pub(super) fn handlers(methods: &[MethodTokens]) -> TokenStream {
    let session = session_path();
    let to_client = || methods.iter().filter(|m| !m.def.to_server);
    let handler_fields = to_client().map(handler_field);
    let handler_setters = to_client().map(handler_setter);
    let handler_arms = to_client().map(handler_arm);
    let handler_names: Vec<_> = to_client().map(|m| &m.def.name).collect();
    quote! {
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
                    _ => #session::Call::route_not_found(route.path),
                }
            }
        }

        impl #session::PartialHandlers for Handlers {
            #[allow(unused_variables)]
            fn merge(&mut self, newer: Self) {
                #(
                    if newer.#handler_names.is_some() {
                        self.#handler_names = newer.#handler_names;
                    }
                )*
            }
        }
    }
}

/// The `Handlers` field of one server-to-client method: its handler, if set.
fn handler_field(method: &MethodTokens) -> TokenStream {
    let session = session_path();
    let MethodTokens {
        def: m,
        input_ty,
        result_ty,
        ..
    } = method;
    let fn_name = &m.name;
    let handler_fn_ty = if m.input.is_some() {
        quote!(dyn Fn(#input_ty) -> #session::BoxFuture<'static, #result_ty> + Send + Sync)
    } else {
        quote!(dyn Fn() -> #session::BoxFuture<'static, #result_ty> + Send + Sync)
    };
    quote!(#fn_name: ::core::option::Option<::std::sync::Arc<#handler_fn_ty>>)
}

/// The `Handlers` setter `on_*` of one server-to-client method: boxes an async handler into its field.
fn handler_setter(method: &MethodTokens) -> TokenStream {
    let session = session_path();
    let MethodTokens {
        def: m,
        path,
        input_ty,
        result_ty,
        ..
    } = method;
    let fn_name = &m.name;
    let setter = format_ident!("on_{}", fn_name);
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
    quote! {
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
    }
}

/// The `OwnedDispatch` arm of one server-to-client method: decode and run its handler if set, else
/// `ROUTE_NOT_FOUND`.
fn handler_arm(method: &MethodTokens) -> TokenStream {
    let session = session_path();
    let MethodTokens {
        def: m,
        index,
        path,
        input_arg,
        ..
    } = method;
    let fn_name = &m.name;
    let body = method.dispatch_body(quote!(handler(#input_arg)));
    quote! {
        #index => match &self.#fn_name {
            ::core::option::Option::Some(handler) => { let handler = ::std::sync::Arc::clone(handler); #body }
            ::core::option::Option::None => #session::Call::route_not_found(#path),
        }
    }
}
