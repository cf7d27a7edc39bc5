//! `grest-ws listen`: every push (`m`) and server-to-client request (`r`) as one JSON line on stdout, until Ctrl-C,
//! `--count` lines, or the connection ends for good.

use grest_ws::protocol::frame::{Frame, FrameKind};
use serde_json::{Value, json};

use crate::args::ListenArgs;
use crate::check;
use crate::connect::{Connection, Event};
use crate::exit::Failure;

/// Listens; Ctrl-C and `--count` end it with a graceful close (1000).
pub(crate) async fn run(args: ListenArgs) -> Result<(), Failure> {
    if let Some(served) = check::served(&args.connect).await? {
        check::answers(&served, &args.connect)?;
    }
    let mut connection = Connection::open(&args.connect).await?;
    eprintln!("listening on {} (Ctrl-C stops)", args.connect.url.url);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut printed = 0;
    let outcome = loop {
        if args.count.is_some_and(|count| printed >= count) {
            break Ok(());
        }
        let event = tokio::select! {
            // Without a Ctrl-C handler (`Err`), only --count or the end of the connection stops it.
            Ok(()) = &mut interrupted => break Ok(()),
            event = connection.next() => event,
        };
        match event {
            Event::Frame(text) => {
                if let Some(line) = Frame::parse(&text).as_ref().and_then(line) {
                    println!("{line}");
                    printed += 1;
                }
            }
            Event::Reconnected => {}
            Event::Closed { reason, error } => {
                break Err(Failure::Closed {
                    url: args.connect.url.url.clone(),
                    reason,
                    error,
                });
            }
        }
    };
    connection.close().await;
    outcome
}

/// The line of a push or a request: `{"kind":"push","path":…,"data":…}`, a request with its `id`; data that is
/// missing or not JSON is `null` (docs/protocol.md §1.2). `None` for every other frame.
fn line(frame: &Frame<'_>) -> Option<Value> {
    let kind = match frame.kind {
        FrameKind::Message => "push",
        FrameKind::Request => "request",
        _ => return None,
    };
    let data = frame
        .data
        .and_then(|data| serde_json::from_str::<Value>(data).ok())
        .unwrap_or_default();
    let mut line = json!({"kind": kind, "path": frame.path});
    if let Some(id) = frame.id.filter(|_| frame.kind == FrameKind::Request) {
        line["id"] = id.into();
    }
    line["data"] = data;
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(text: &str) -> Option<String> {
        line(&Frame::parse(text).unwrap()).map(|line| line.to_string())
    }

    #[test]
    fn pushes_and_requests_are_one_line_each_and_nothing_else_is_printed() {
        assert_eq!(
            printed("m:Chat.newMessage::{\"text\":\"a:b\",\n \"id\":\"1\"}").unwrap(),
            r#"{"kind":"push","path":"Chat.newMessage","data":{"text":"a:b","id":"1"}}"#
        );
        assert_eq!(
            printed("r:Chat.areYouThere:4:").unwrap(),
            r#"{"kind":"request","path":"Chat.areYouThere","id":"4","data":null}"#
        );
        assert_eq!(
            printed("m:Chat.typing::{not json").unwrap(),
            r#"{"kind":"push","path":"Chat.typing","data":null}"#
        );
        for other in ["s:Chat.x:1:{}", "k:::null", "o:::", "z:Chat.x::1"] {
            assert_eq!(printed(other), None, "{other}");
        }
    }
}
