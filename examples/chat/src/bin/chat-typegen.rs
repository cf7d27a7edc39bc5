//! Writes the chat contract's TypeScript (`static/chat-contract.ts`) and its runtime descriptor as an ES module
//! for the page (`static/chat-contract.js`) and as CommonJS (`static/chat-contract.cjs`), generated from the Rust
//! contract.
//!
//! `cargo run -p chat --bin chat-typegen`

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(chat::web::GENERATED_DIR);
    let written = chat::web::typegen()?.write_to(&dir)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    if written.is_empty() {
        println!("{} is up to date", dir.display());
    }
    Ok(())
}
