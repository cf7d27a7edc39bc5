//! The socket under a WebSocket: every write — shared pre-framed pushes, replies, pongs, close frames — queues in
//! order, and only the owner decides when the queue leaves, with vectored writes.
//!
//! It also remembers whether the socket may have something to read: every read attempt costs the WebSocket
//! layer a buffer fill, and a connection woken to write (a broadcast) should not pay it for nothing. A read that
//! finds nothing leaves the flag down until the socket itself wakes the session.

use std::collections::VecDeque;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker, ready};

use bytes::{Buf, Bytes};
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// At most this many buffers go to one vectored write (Linux allows 1024).
const MAX_SLICES: usize = 64;
/// Frames up to this size are copied into the queue rather than referenced: copying a few hundred bytes costs
/// less than a buffer of its own in a vectored write.
const COPY_BELOW: usize = 512;

/// An I/O stream whose writes queue until they are drained (see the module docs); the socket under a
/// [`crate::WebSocket`].
#[derive(Debug)]
pub struct QueuedIo<S> {
    io: S,
    queue: WriteQueue,
    /// Bytes were written since the session last asked.
    progress: bool,
    /// Raised by the socket's read readiness; the waker the socket gets for reads.
    readable: Arc<Readable>,
    read_waker: Waker,
}

/// Whether the socket may have something to read, and the session's waker behind the socket's read waker.
#[derive(Debug)]
struct Readable {
    ready: AtomicBool,
    session: AtomicWaker,
}

impl Wake for Readable {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.session.wake();
    }
}

/// Frames waiting to be written, oldest first: shared chunks, then bytes copied in after them.
#[derive(Debug, Default)]
struct WriteQueue {
    chunks: VecDeque<Bytes>,
    /// Bytes written by copy (the WebSocket layer's frames, replies), after every chunk.
    staging: Vec<u8>,
    len: usize,
    /// The front chunk is partly written: it must finish, whatever is discarded.
    front_started: bool,
}

impl WriteQueue {
    fn seal_staging(&mut self) {
        if !self.staging.is_empty() {
            self.chunks.push_back(Bytes::from(std::mem::take(&mut self.staging)));
        }
    }

    fn advance(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else { return };
            if front.len() <= n {
                n -= front.len();
                self.chunks.pop_front();
                self.front_started = false;
            } else {
                front.advance(n);
                self.front_started = true;
                n = 0;
            }
        }
    }
}

impl<S> QueuedIo<S> {
    /// Wraps a socket.
    pub(crate) fn new(io: S) -> Self {
        let readable = Arc::new(Readable {
            ready: AtomicBool::new(true),
            session: AtomicWaker::new(),
        });
        QueuedIo {
            io,
            queue: WriteQueue::default(),
            progress: false,
            read_waker: Waker::from(readable.clone()),
            readable,
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Whether a read may find something: false only after a read found nothing and the socket has not
    /// signalled since. `waker` is woken when the socket signals (registered before the check, so a signal in
    /// between is not lost, whichever task made the last read).
    pub(crate) fn may_read(&self, waker: &Waker) -> bool {
        self.readable.session.register(waker);
        self.readable.ready.load(Ordering::Acquire)
    }

    /// Bytes waiting to be written.
    pub fn queued(&self) -> usize {
        self.queue.len
    }

    /// Queues a complete, shared frame (a small one is copied, so a burst of them leaves as one buffer).
    pub(crate) fn push_frame(&mut self, frame: Bytes) {
        if frame.len() <= COPY_BELOW {
            return self.push_parts(&frame, &[]);
        }
        self.queue.seal_staging();
        self.queue.len += frame.len();
        self.queue.chunks.push_back(frame);
    }

    /// Queues a complete frame in `bytes[start..]` that no one else shares: a small one is copied, a large one
    /// queued as it is.
    pub(crate) fn push_owned_frame(&mut self, bytes: Vec<u8>, start: usize) {
        if bytes.len() - start <= COPY_BELOW {
            return self.push_parts(&bytes[start..], &[]);
        }
        let mut frame = Bytes::from(bytes);
        frame.advance(start);
        self.push_frame(frame);
    }

    /// Queues a frame by copy: its header, then its payload's parts.
    pub(crate) fn push_parts(&mut self, header: &[u8], parts: &[&[u8]]) {
        let len = header.len() + parts.iter().map(|part| part.len()).sum::<usize>();
        self.queue.staging.reserve(len);
        self.queue.staging.extend_from_slice(header);
        for part in parts {
            self.queue.staging.extend_from_slice(part);
        }
        self.queue.len += len;
    }

    /// Queues a client frame: its header (with the masking key), then its payload's parts, masked with `key` as
    /// they are copied.
    pub(crate) fn push_masked(&mut self, header: &[u8], parts: &[&[u8]], key: [u8; 4]) {
        self.push_parts(header, parts);
        let start = self.queue.staging.len() - parts.iter().map(|part| part.len()).sum::<usize>();
        crate::websocket::unmask(&mut self.queue.staging[start..], key);
    }

    /// Drops every queued frame that has not started to leave (a partly written one must finish, or the stream
    /// would be corrupt); returns how many bytes were dropped.
    pub(crate) fn discard_unstarted(&mut self) -> usize {
        let keep = if self.queue.front_started {
            self.queue.chunks.pop_front()
        } else {
            None
        };
        let dropped = self.queue.len - keep.as_ref().map_or(0, Bytes::len);
        self.queue.chunks.clear();
        self.queue.staging.clear();
        self.queue.len = 0;
        if let Some(keep) = keep {
            self.push_frame(keep);
            self.queue.front_started = true;
        }
        dropped
    }

    /// Whether bytes left since the last call.
    pub(crate) fn take_progress(&mut self) -> bool {
        std::mem::take(&mut self.progress)
    }
}

impl<S: AsyncWrite + Unpin> QueuedIo<S> {
    /// Writes queued bytes until the queue is empty (`Ready(Ok)`) or the socket would block (`Pending`, with the
    /// task registered for writability).
    pub(crate) fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.queue.seal_staging();
        while !self.queue.chunks.is_empty() {
            let written = if self.queue.chunks.len() > 1 && self.io.is_write_vectored() {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let mut count = 0;
                for (slot, chunk) in slices.iter_mut().zip(&self.queue.chunks) {
                    *slot = IoSlice::new(chunk);
                    count += 1;
                }
                ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &slices[..count]))?
            } else {
                ready!(Pin::new(&mut self.io).poll_write(cx, &self.queue.chunks[0]))?
            };
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.progress = true;
            self.queue.advance(written);
        }
        // A burst leaves a large ring behind; an idle connection should not keep it.
        if self.queue.chunks.capacity() > 16 {
            self.queue.chunks = VecDeque::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for QueuedIo<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        // Lowered before the attempt, so a wake that comes after it is never lost.
        let this = &mut *self;
        this.readable.session.register(cx.waker());
        this.readable.ready.store(false, Ordering::Release);
        let polled = Pin::new(&mut this.io).poll_read(&mut Context::from_waker(&this.read_waker), buf);
        if polled.is_ready() {
            this.readable.ready.store(true, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn queued_writes_leave_in_order_and_only_on_drain() {
        let (io, mut peer) = tokio::io::duplex(1024);
        let mut queued = QueuedIo::new(io);
        queued.push_frame(Bytes::from_static(b"ab"));
        queued.push_parts(b"c", &[b"d"]);
        queued.push_frame(Bytes::from_static(b"ef"));
        assert_eq!(queued.queued(), 6);
        std::future::poll_fn(|cx| queued.poll_drain(cx)).await.unwrap();
        assert_eq!(queued.queued(), 0);
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"abcdef");
    }

    #[tokio::test]
    async fn discarding_keeps_a_partly_written_frame() {
        // A 4-byte pipe: the first frame leaves half written.
        let (io, mut peer) = tokio::io::duplex(4);
        let mut queued = QueuedIo::new(io);
        queued.push_frame(Bytes::from(vec![b'1'; 600]));
        queued.push_frame(Bytes::from(vec![b'd'; 700]));
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(queued.poll_drain(cx)))
                .await
                .is_pending()
        );
        assert_eq!(queued.discard_unstarted(), 700);
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            got
        });
        std::future::poll_fn(|cx| queued.poll_drain(cx)).await.unwrap();
        drop(queued);
        assert_eq!(reader.await.unwrap(), vec![b'1'; 600]);
    }
}
