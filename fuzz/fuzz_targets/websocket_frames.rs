//! Any bytes from a peer, in any read sizes, into the WebSocket reader of either role: it yields messages, an
//! error naming a close code, or the end — never a panic, never more memory than the message limit allows.
#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll};

use grest_ws::__private::session::{Role, WebSocket};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

/// The message limit under test (small, so oversized frames are easy to reach).
const LIMIT: usize = 4096;

/// A peer that delivers `data` at most `step` bytes per read, then ends.
struct Chunked<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

fuzz_target!(|input: &[u8]| {
    let [control, data @ ..] = input else { return };
    let role = if control & 1 == 0 { Role::Server } else { Role::Client };
    let step = usize::from(control >> 1) + 1;
    let mut ws = WebSocket::new(Chunked { data, step }, role, LIMIT);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    loop {
        match ws.poll_next(&mut cx) {
            Poll::Ready(Some(Ok(message))) => {
                let _ = std::hint::black_box(message);
            }
            Poll::Ready(Some(Err(error))) => {
                assert!(
                    error.close_code().is_some(),
                    "a reader over memory fails only with a close code: {error}"
                );
                break;
            }
            Poll::Ready(None) | Poll::Pending => break,
        }
    }
    // Answers (pongs, the Close echo) are bounded by what came in: at most three times as many bytes, for a
    // client answering empty 2-byte pings with 6-byte masked pongs.
    assert!(ws.io().queued() <= 3 * data.len());
});
