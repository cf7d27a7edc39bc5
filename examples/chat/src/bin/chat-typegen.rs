//! Writes the chat contract's TypeScript (`static/chat-contract.ts`) and its runtime descriptor for the page
//! (`static/chat-contract.js`), generated from the Rust contract.
//!
//! `cargo run -p chat --bin chat-typegen`

use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, content) in chat::web::generated_files()? {
        let path = root.join(file);
        std::fs::write(&path, content)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
