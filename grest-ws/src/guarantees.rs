//! What the compiler refuses, so that mistakes never reach the wire.
//!
//! A server type that does not implement every client-to-server method of its contract does not compile:
//!
//! ```compile_fail,E0046
//! use grest_ws::contract;
//! contract! {
//!     pub Echo {
//!         client_to_server { echo(String) -> String; ping(); }
//!         server_to_client {}
//!     }
//! }
//! struct Session;
//! impl echo::Server for Session {
//!     async fn echo(&self, input: String) -> grest_ws::HandlerResult<String, echo::EchoError> { Ok(input) }
//!     // `ping` is missing
//! }
//! fn main() {}
//! ```
//!
//! A handler cannot send an error type its method does not declare: its result is `HandlerResult<T, E>` over the
//! method's error enum, and anything else it returns with `?` or `.into()` — a database error, or a grest error type
//! the method does not list — answers `SERVER_ERROR` with the cause logged under its `ERR_REF`.
//!
//! An error the framework itself answers with must be declared where it can happen: a method with a permission
//! can be refused with `FORBIDDEN`, so it declares `Forbidden`…
//!
//! ```compile_fail,E0080
//! use grest_ws::{Permission, contract};
//! contract! {
//!     pub Notes {
//!         client_to_server { mine() -> Vec<String>, permission: Permission::Scope("notes:read"); }
//!         server_to_client {}
//!     }
//! }
//! fn main() {}
//! ```
//!
//! …a request whose input declares constraints can be refused with `VALIDATION_ERROR`, so it declares
//! `ValidationError`…
//!
//! ```compile_fail,E0080
//! use grest_ws::{ServerError, Validate, contract};
//! #[derive(serde::Serialize, serde::Deserialize, Validate)]
//! pub struct Note { #[validate(non_empty)] pub text: String }
//! contract! {
//!     pub Notes {
//!         client_to_server { add(Note) -> bool, errors: [ServerError]; }
//!         server_to_client {}
//!     }
//! }
//! fn main() {}
//! ```
//!
//! …and a connection with a permission declares `Forbidden` among its `connect` errors:
//!
//! ```compile_fail,E0080
//! use grest_ws::{NotAuthorized, Permission, contract};
//! contract! {
//!     pub Notes {
//!         connect { errors: [NotAuthorized], permission: Permission::Scope("notes:use") }
//!         client_to_server {}
//!         server_to_client {}
//!     }
//! }
//! fn main() {}
//! ```
//!
//! Settings are written one way, `key: value`, after a method as in `connect`; `errors [..]` without the colon is
//! refused with a message that says so:
//!
//! ```compile_fail
//! use grest_ws::{ServerError, contract};
//! contract! {
//!     pub Echo {
//!         client_to_server { echo(String) -> String, errors [ServerError]; }
//!         server_to_client {}
//!     }
//! }
//! fn main() {}
//! ```
//!
//! A `:` in a wire name would corrupt the `type:path:id:data` framing, so it is rejected:
//!
//! ```compile_fail
//! use grest_ws::contract;
//! contract! {
//!     #[rename = "Chat:v2"]
//!     pub Chat {
//!         client_to_server {}
//!         server_to_client {}
//!     }
//! }
//! fn main() {}
//! ```
//!
//! ```compile_fail
//! use grest_ws::contract;
//! contract! {
//!     pub Chat {
//!         client_to_server { #[rename = "send:message"] send(String); }
//!         server_to_client {}
//!     }
//! }
//! fn main() {}
//! ```
//!
//! An anchor's `extend` accepts only modules created from that anchor:
//!
//! ```compile_fail,E0277
//! use grest_ws::{AnchorSchema, WebSocketSchema, contract};
//! contract! { pub anchor Chat {} }
//! contract! { pub anchor Other {} }
//! contract! { pub Module extends Other { client_to_server {} server_to_client {} } }
//! const CHAT_SOCKET: AnchorSchema<Chat> = AnchorSchema::new("ws/chat");
//! const MODULE_API: WebSocketSchema<Module> = CHAT_SOCKET.extend();
//! fn main() {}
//! ```
//!
//! A client's connection parameters come from one source: `before_connect`, or static ones — never both:
//!
//! ```compile_fail,E0599
//! use grest_ws::{WebSocketSchema, contract};
//! use grest_ws::client::{Client, ConnectParams};
//! contract! { pub Feed { client_to_server {} server_to_client {} } }
//! const FEED_API: WebSocketSchema<Feed> = WebSocketSchema::new("ws/feed");
//! fn main() {
//!     let _ = Client::before_connect(FEED_API, || async { Ok(ConnectParams::new("ws://127.0.0.1:1")) })
//!         .header("x-static", "not allowed");
//! }
//! ```
//!
//! An invalid error type string or status code fails at compile time:
//!
//! ```compile_fail,E0080
//! grest_ws::define_error! { pub struct Bad = ("room-full", 400); }
//! fn main() {}
//! ```
//!
//! ```compile_fail,E0080
//! grest_ws::define_error! { pub struct Bad = ("BAD", 999); }
//! fn main() {}
//! ```
//!
//! And so does an invalid schema path:
//!
//! ```compile_fail,E0080
//! use grest_ws::{WebSocketSchema, contract};
//! contract! { pub Chat { client_to_server {} server_to_client {} } }
//! const API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat?x=1");
//! fn main() {}
//! ```
//!
//! A validation pattern that is not a valid expression is refused when your crate compiles, not at the first
//! message:
//!
//! ```compile_fail
//! use grest_ws::Validate;
//! #[derive(Validate)]
//! struct Slug { #[validate(pattern = "^[a-z+$")] slug: String }
//! fn main() {}
//! ```
//!
//! So is one the TypeScript client's `RegExp` would read differently (here an inline flag):
//!
//! ```compile_fail
//! use grest_ws::Validate;
//! #[derive(Validate)]
//! struct Slug { #[validate(pattern = "(?i)^[a-z]+$")] slug: String }
//! fn main() {}
//! ```
//!
//! A newtype is its field on the wire, so constraints go where the newtype is used, not on its field (they would
//! be lost):
//!
//! ```compile_fail
//! use grest_ws::Validate;
//! #[derive(Validate)]
//! struct Email(#[validate(email)] String);
//! fn main() {}
//! ```
//!
//! For contrast, the same declarations done right compile:
//!
//! ```
//! use grest_ws::{WebSocketSchema, contract};
//! contract! {
//!     #[rename = "ChatV2"]
//!     pub Chat {
//!         client_to_server { #[rename = "sendMessage"] send(String); }
//!         server_to_client {}
//!     }
//! }
//! struct Session;
//! impl chat::Server for Session {
//!     async fn send(&self, _: String) {}
//! }
//! const API: WebSocketSchema<Chat> = WebSocketSchema::new("ws/chat");
//! contract! { pub anchor Hub {} }
//! contract! { pub Module extends Hub { client_to_server {} server_to_client {} } }
//! const HUB_SOCKET: grest_ws::AnchorSchema<Hub> = grest_ws::AnchorSchema::new("ws/hub");
//! const MODULE_API: WebSocketSchema<Module> = HUB_SOCKET.extend();
//! #[derive(grest_ws::Validate)]
//! struct Slug { #[validate(pattern = "^[a-z]+$")] slug: String }
//! #[derive(grest_ws::Validate)]
//! struct Email(String);
//! #[derive(grest_ws::Validate)]
//! struct Contact { #[validate(email)] email: Email }
//! fn main() {
//!     assert_eq!(<Chat as grest_ws::Contract>::META.methods[0].path, "ChatV2.sendMessage");
//!     grest_ws::define_error! { pub struct Fine = ("FINE_1", 418); }
//! }
//! ```
