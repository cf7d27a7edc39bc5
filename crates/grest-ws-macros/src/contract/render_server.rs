//! The server side of a contract: the `Server` trait (one method per client-to-server message), its dispatch (the
//! marker type's `ServeWith` impl), and `Peer`, the server's handle to one client for server-to-client messages and
//! requests.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Ident;

use super::method::MethodTokens;
use super::parse::ContractDef;
use crate::{core_path, session_path};

/// The `Server` trait: one handler method per client-to-server message.
pub(super) fn server_trait(def: &ContractDef, methods: &[MethodTokens]) -> TokenStream {
    let path_name = &def.path_name;
    let server_fns = methods.iter().filter(|m| m.def.to_server).map(server_fn);
    let server_doc = format!(
        "The server side of `{path_name}`: one method per client-to-server message. Implement it on your \
         per-connection type; a missing method is a compile error."
    );
    quote! {
        #[doc = #server_doc]
        pub trait Server: Send + Sync + 'static {
            #(#server_fns)*
        }
    }
}

/// The `Server` trait's handler method for one client-to-server message.
fn server_fn(method: &MethodTokens) -> TokenStream {
    let MethodTokens {
        def: m,
        result_ty,
        fn_doc,
        ..
    } = method;
    let fn_name = &m.name;
    let docs = &m.attrs;
    let input_param = m.input.as_ref().map(|t| quote!(input: #t));
    quote! {
        #(#docs)*
        #[doc = ""]
        #[doc = #fn_doc]
        fn #fn_name(&self, #input_param) -> impl ::core::future::Future<Output = #result_ty> + ::core::marker::Send;
    }
}

/// The marker type's `ServeWith` impl (routes a client-to-server method index to the `Server` trait's method), and
/// the `ConnectWith` impls that let a connect handler return a `Server` type or a `HandlerResult` of it.
pub(super) fn serve_with_impl(def: &ContractDef, methods: &[MethodTokens]) -> TokenStream {
    let session = session_path();
    let core = core_path();
    let ContractDef { name, path_name, .. } = def;
    let serve_arms = methods.iter().filter(|m| m.def.to_server).map(serve_arm);
    quote! {
        impl<S: Server> #session::ConnectWith<S> for super::#name {
            type Server = S;
            fn into_result(returned: S) -> #core::HandlerResult<S, ConnectError> {
                ::core::result::Result::Ok(returned)
            }
        }

        impl<S: Server> #session::ConnectWith<#core::HandlerResult<S, ConnectError>> for super::#name {
            type Server = S;
            fn into_result(returned: #core::HandlerResult<S, ConnectError>) -> #core::HandlerResult<S, ConnectError> {
                returned
            }
        }

        impl<S: Server> #session::ServeWith<S> for super::#name {
            #[allow(unused_variables)]
            fn call<'a>(handler: &'a S, method: usize, data: ::core::option::Option<&str>) -> #session::Call<'a> {
                match method {
                    #(#serve_arms,)*
                    _ => #session::Call::route_not_found(#path_name),
                }
            }
        }
    }
}

/// The `ServeWith` arm of one client-to-server method: decode, call the trait method, reply.
fn serve_arm(method: &MethodTokens) -> TokenStream {
    let MethodTokens {
        def: m,
        index,
        input_arg,
        ..
    } = method;
    let fn_name = &m.name;
    let body = method.dispatch_body(quote!(handler.#fn_name(#input_arg)));
    quote!(#index => #body)
}

/// `Peer`: the server's handle to one client, with a calling method per server-to-client method.
pub(super) fn peer_handle(def: &ContractDef, methods: &[MethodTokens]) -> TokenStream {
    let session = session_path();
    let name = &def.name;
    let method_fns = methods.iter().filter(|m| !m.def.to_server).map(|m| peer_fns(name, m));
    quote! {
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
            #(#method_fns)*

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
    }
}

/// The `Peer` methods of one server-to-client method of contract `name`: the calling method, and for a message
/// also `prepare_*` (serialize once for many clients) and `try_*` (queue without waiting).
fn peer_fns(name: &Ident, method: &MethodTokens) -> TokenStream {
    let call = method.call_fn();
    let session = session_path();
    if let Some(success) = &method.def.success {
        let MethodTokens {
            def: m,
            path,
            error_ty,
            input_ref_param,
            input_send,
            ..
        } = method;
        let prepare = format_ident!("prepare_{}", m.name);
        let prepare_doc = format!(
            "Validates and serializes a `{path}` request once, to ask many clients: a room's members on every \
             node (`Rooms::to(room).gather_request`), each answer decoded as its own result."
        );
        return quote! {
            #call

            #[doc = #prepare_doc]
            pub fn #prepare(
                #input_ref_param
            ) -> ::core::result::Result<#session::PreparedRequest<super::#name, #success, #error_ty>, #session::SendError> {
                #session::PreparedRequest::new(#path, #input_send)
            }
        };
    }
    let MethodTokens {
        def: m,
        path,
        input_ty,
        input_ref_param,
        input_send,
        ..
    } = method;
    let fn_name = &m.name;
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
    quote! {
        #call

        #[doc = #prepare_doc]
        pub fn #prepare(#input_ref_param) -> ::core::result::Result<#session::PreparedMessage<super::#name>, #session::SendError> {
            #session::PreparedMessage::new(#path, #input_send)
        }

        #[doc = #try_doc]
        pub fn #try_fn(&self, #input_ref_param) -> ::core::result::Result<(), #session::PushError> {
            self.handle.try_send::<#input_ty>(#path, #input_send)
        }
    }
}
