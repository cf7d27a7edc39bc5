//! A typed Rust client for the chat server: every line on stdin is sent as a message; the history (on every
//! (re)connect) and messages from everyone are printed as they arrive, the online count when it changes; the
//! server's presence probe is answered. It says when the connection drops and when it is back.
//!
//! `cargo run -p chat --bin chat-client -- --help`

use std::path::PathBuf;
use std::process::ExitCode;

use chat::{CHAT_API, ChatQuery, SendMessageRequest, chat as api};
use clap::Parser;
use grest_ws::client::{Client, ClientConfig, DisconnectReason, TlsConfig};
use tokio::io::{AsyncBufReadExt, BufReader};

const EXAMPLES: &str = "\
Examples:
  chat-client --name ada                               chat on the local server as ada
  chat-client --url ws://10.0.0.5:3000 --name ada      another server
  chat-client --url wss://localhost:3443 --ca cert.pem a server with a self-signed certificate";

/// Chats from the terminal: each line typed is sent; messages from everyone are printed as they arrive.
#[derive(Parser)]
#[command(version, after_help = EXAMPLES)]
struct Args {
    /// The chat server (ws:// or wss://).
    #[arg(long, default_value = "ws://127.0.0.1:3000")]
    url: String,
    /// The name the others see.
    #[arg(long)]
    name: Option<String>,
    /// Trust the certificates in this PEM file for wss:// (a private CA, or a self-signed certificate).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let mut config = ClientConfig::default();
    if let Some(ca) = &args.ca {
        config = config.tls(TlsConfig::from_pem_file(ca).map_err(|e| e.to_string())?);
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
    let client = Client::new(CHAT_API, args.url.clone())
        .query(ChatQuery {
            name: args.name.clone(),
        })
        .config(config)
        .on_disconnect(|reason| {
            if reason == DisconnectReason::Drop {
                eprintln!("connection lost; reconnecting…");
            }
        })
        .on_error(|error| eprintln!("still reconnecting: {error}"))
        .on_reconnect(|| eprintln!("reconnected"))
        .connect(handlers)
        .await
        .map_err(|e| e.to_string())?;
    let who = args.name.as_deref().unwrap_or("anonymous");
    eprintln!(
        "connected to {} as {who}; type a message and press Enter (Ctrl-D to quit)",
        args.url
    );
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(|e| format!("cannot read the terminal: {e}"))?
    {
        let request = SendMessageRequest {
            text: line,
            channel_id: "general".into(),
        };
        match client.send_message(&request).await {
            Ok(reply) => eprintln!("sent as {}", reply.message_id),
            Err(api::SendMessageError::ValidationError(e)) => {
                for issue in &e.data {
                    eprintln!("not sent: {} {}", issue.path, issue.message);
                }
            }
            Err(e) => eprintln!("not sent: {e}"),
        }
    }
    client.disconnect().await;
    Ok(())
}
