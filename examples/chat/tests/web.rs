//! The web page side of the chat example: the generated TypeScript is current, the page and the client's modules
//! are served, and the handshake query's name becomes the sender.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use chat::web::{CLIENT_FILES, GENERATED_DIR, PAGE_FILES, typegen};
use chat::{CHAT_API, ChatQuery, MAX_TEXT, SendMessageRequest, app, chat as api};
use grest_ws::client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn committed_typescript_matches_the_rust_contract() {
    let typegen = typegen().expect("the chat contract generates");
    let stale = typegen.stale_files(Path::new(CRATE).join(GENERATED_DIR)).unwrap();
    assert!(
        stale.is_empty(),
        "{stale:?} stale: run `cargo run -p chat --bin chat-typegen` and commit the result"
    );
}

#[test]
fn generated_typescript_describes_the_chat_contract() {
    let typegen = typegen().unwrap();
    let [ts, js, cjs] = typegen.files() else {
        panic!("chat-contract.ts, .js and .cjs");
    };
    let (ts, js, cjs) = (&ts.content, &js.content, &cjs.content);
    // Interfaces named after the Rust types, with the wire's field names and constraints.
    assert!(ts.contains(
        "export interface SendMessageRequest {\n  /** Must not be empty; at most 2000 long. */\n  text: string;\n  /** At most 64 long. */\n  channelId: string;\n}"
    ));
    assert!(ts.contains("export interface History {\n  /** At most 100 long. */\n  messages: Message[];\n}"));
    assert!(ts.contains("export interface Online {\n  count: number;\n}"));
    assert!(ts.contains("history: { request: false; input: History; success: void; errors: never };"));
    assert!(ts.contains("online: { request: false; input: Online; success: void; errors: never };"));
    assert!(ts.contains(
        "export interface ChatQuery {\n  /** Must not be empty; at most 32 long. */\n  name?: string | null;\n}"
    ));
    assert!(ts.contains(
        "sendMessage: { request: true; input: SendMessageRequest; success: SendMessageResponse; errors: \"VALIDATION_ERROR\" | \"SERVER_ERROR\" };"
    ));
    assert!(ts.contains("areYouThere: { request: true; input: void; success: boolean; errors: \"SERVER_ERROR\" };"));
    assert!(ts.contains("export const ChatContract: ContractDescriptor<ChatMethods, ChatQuery> = {"));
    assert!(js.contains("export const ChatContract = {"));
    assert!(js.contains("\"path\": \"ws/chat\""));
    assert!(cjs.contains("\"use strict\";"));
    assert!(cjs.contains("exports.ChatContract = {"));
}

#[test]
fn every_client_module_is_served() {
    let dir = Path::new(CRATE).join("../../clients/typescript/src");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".js"))
        .collect();
    on_disk.sort();
    let mut served: Vec<String> = CLIENT_FILES.iter().map(|(name, _)| (*name).to_owned()).collect();
    served.sort();
    assert_eq!(served, on_disk, "a client module the page would import is not served");
    for (name, body) in CLIENT_FILES {
        assert_eq!(*body, std::fs::read_to_string(dir.join(name)).unwrap());
    }
}

#[test]
fn the_page_enforces_the_contract_s_text_limit() {
    let html = PAGE_FILES.iter().find(|(path, ..)| *path == "/").unwrap().2;
    assert!(
        html.contains(&format!(r#"maxlength="{MAX_TEXT}""#)),
        "the message input's maxlength is MAX_TEXT"
    );
}

async fn start() -> SocketAddr {
    let router = app().unwrap().router;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { grest_ws::server::serve(listener, router).await.unwrap() });
    addr
}

/// A minimal HTTP/1.1 GET: status, content type and body.
async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (response[9..12].parse().unwrap(), content_type, body.to_owned())
}

#[tokio::test]
async fn the_page_and_its_modules_are_served_next_to_the_socket() {
    let addr = start().await;
    let (status, content_type, body) = get(addr, "/").await;
    assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(body.contains(r#"<script type="module" src="/app.js"></script>"#));
    for (path, content_type, content) in PAGE_FILES {
        assert_eq!(
            get(addr, path).await,
            (200, (*content_type).to_owned(), (*content).to_owned())
        );
    }
    let (status, content_type, body) = get(addr, "/client/index.js").await;
    assert_eq!((status, content_type.as_str()), (200, "text/javascript; charset=utf-8"));
    assert!(body.contains("export { createClient"));
    assert_eq!(get(addr, "/client/nope.js").await.0, 404);
    assert_eq!(get(addr, "/client/../Cargo.toml").await.0, 404);
    // The served descriptor is the committed one.
    let committed = std::fs::read_to_string(Path::new(CRATE).join("static/chat-contract.js")).unwrap();
    assert_eq!(get(addr, "/chat-contract.js").await.2, committed);
}

#[tokio::test]
async fn the_query_name_is_the_sender_and_is_validated() {
    let addr = start().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let handlers = api::Handlers::new().on_new_message(move |m| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(m);
        }
    });
    let alice = Client::new(CHAT_API, format!("ws://{addr}"))
        .query(ChatQuery {
            name: Some("alice".into()),
        })
        .connect(handlers)
        .await
        .unwrap();
    alice
        .send_message(&SendMessageRequest {
            text: "hi".into(),
            channel_id: "general".into(),
        })
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.sender_id, "alice");
    let too_long = Client::new(CHAT_API, format!("ws://{addr}")).query(ChatQuery {
        name: Some("x".repeat(33)),
    });
    assert!(
        too_long.url().is_err(),
        "the client refuses the query before connecting"
    );
}
