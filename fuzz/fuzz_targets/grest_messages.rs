//! Any text as a grest frame of the chat contract: frame parsing, the input a handler would get
//! (`decode_input` + validation), the reply a typed caller would get (`decode_reply`) and the handshake query —
//! each a value or a typed error, never a panic.
#![no_main]

use chat::chat::SendMessageError;
use chat::{Chat, SendMessageRequest, SendMessageResponse};
use grest_ws::__private::session::__macro_support::decode_input;
use grest_ws::Contract;
use grest_ws::protocol::envelope::decode_reply;
use grest_ws::protocol::frame::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    if let Some(frame) = Frame::parse(text) {
        let _ = decode_input::<SendMessageRequest>(frame.data);
        let _ = decode_reply::<SendMessageResponse, SendMessageError>(frame.data);
    }
    let pairs = text
        .split('&')
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key.to_owned(), value.to_owned())
        })
        .collect();
    let _ = <Chat as Contract>::decode_query(pairs);
});
