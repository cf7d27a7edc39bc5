//! The chat web page and the files it loads, served on the chat server's own listener. Nothing is built: the page
//! is plain HTML, CSS and ES modules, the TypeScript client is served from `clients/typescript/src`, and the
//! contract descriptor is the one `chat-typegen` generated from the Rust contract.
//!
//! | path | file |
//! |---|---|
//! | `GET /` | `static/index.html` |
//! | `GET /app.js`, `/style.css`, `/chat-contract.js` | the page's script, style and generated contract |
//! | `GET /client/<file>.js` | the TypeScript client's modules (`clients/typescript/src`) |

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use grest_ws::typegen::{Typegen, TypegenError};

use crate::CHAT_API;

/// The page's own files: (URL path, content type, content).
pub const PAGE_FILES: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("../static/index.html")),
    ("/app.js", JAVASCRIPT, include_str!("../static/app.js")),
    ("/style.css", CSS, include_str!("../static/style.css")),
    (
        "/chat-contract.js",
        JAVASCRIPT,
        include_str!("../static/chat-contract.js"),
    ),
];

/// The TypeScript client's modules, served under `/client/`: (file name, content).
pub const CLIENT_FILES: &[(&str, &str)] = &[
    ("index.js", include_str!("../../../clients/typescript/src/index.js")),
    ("client.js", include_str!("../../../clients/typescript/src/client.js")),
    (
        "connection.js",
        include_str!("../../../clients/typescript/src/connection.js"),
    ),
    ("errors.js", include_str!("../../../clients/typescript/src/errors.js")),
    ("formats.js", include_str!("../../../clients/typescript/src/formats.js")),
    ("frame.js", include_str!("../../../clients/typescript/src/frame.js")),
    ("raw.js", include_str!("../../../clients/typescript/src/raw.js")),
    (
        "validate.js",
        include_str!("../../../clients/typescript/src/validate.js"),
    ),
];

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The folder, relative to this crate, that `chat-typegen` writes the generated files into.
pub const GENERATED_DIR: &str = "static";

/// What `chat-typegen` writes into [`GENERATED_DIR`]: `chat-contract.ts`, `.js` and `.cjs`, with the content the
/// Rust contract gives them now. The committed files must equal these (a test checks it).
pub fn typegen() -> Result<Typegen, TypegenError> {
    Typegen::new().schema(CHAT_API)
}

/// The routes of the page and its files.
pub fn routes() -> Router {
    let mut router = Router::new();
    for &(path, content_type, body) in PAGE_FILES {
        router = router.route(path, get(move || async move { file(content_type, body) }));
    }
    router.route("/client/{file}", get(client_file))
}

async fn client_file(Path(name): Path<String>) -> Response {
    match CLIENT_FILES.iter().find(|(file, _)| *file == name) {
        Some((_, body)) => file(JAVASCRIPT, body),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}
