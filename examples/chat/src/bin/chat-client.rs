//! A typed Rust client for the chat server: every line on stdin is sent as a message; the history (on every
//! (re)connect) and messages from everyone are printed as they arrive, the online count when it changes; the
//! server's presence probe is answered.
//!
//! `cargo run -p chat --bin chat-client [-- --url ws://127.0.0.1:3000]`

use chat::{CHAT_API, SendMessageRequest, chat as api};
use grest_ws::client::Client;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut url = String::from("ws://127.0.0.1:3000");
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = args.next().ok_or("--url needs a ws:// URL")?,
            other => {
                return Err(format!("unknown argument {other:?}; usage: chat-client [--url ws://HOST:PORT]").into());
            }
        }
    }
    let handlers = api::Handlers::new()
        .on_history(|h| async move {
            for m in h.messages {
                println!("[{}] {}: {}", m.id, m.sender_id, m.text);
            }
        })
        .on_new_message(|m| async move { println!("[{}] {}: {}", m.id, m.sender_id, m.text) })
        .on_online(|o| async move { eprintln!("{} online", o.count) })
        .on_are_you_there(|| async { Ok(true) });
    let client = Client::new(CHAT_API, url).connect(handlers).await?;
    eprintln!("connected; type a message and press Enter (Ctrl-D to quit)");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let request = SendMessageRequest {
            text: line,
            channel_id: "general".into(),
        };
        match client.send_message(&request).await {
            Ok(reply) => eprintln!("sent as {}", reply.message_id),
            Err(api::SendMessageError::ValidationError(e)) => {
                for issue in &e.data {
                    eprintln!("invalid {}: {}", issue.path, issue.message);
                }
            }
            Err(e) => eprintln!("failed: {e}"),
        }
    }
    client.disconnect().await;
    Ok(())
}
