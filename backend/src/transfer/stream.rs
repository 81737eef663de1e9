//! A [`Write`] whose bytes become an HTTP answer's body: a blocking writer (the export, on
//! a blocking thread) hands chunks to a bounded channel that the body stream reads. A slow
//! client makes the writer wait (the channel is full), so an export's memory is the
//! channel's few chunks whatever its size; a client gone makes the next write fail, which
//! ends the export.

use std::io::{self, Write};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// Bytes gathered before a chunk is handed on.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the writer and the body.
const CHUNKS: usize = 4;

/// The writing half (see the module's docs).
pub struct ChannelWriter {
    chunk: Vec<u8>,
    sender: mpsc::Sender<io::Result<Bytes>>,
}

/// A writer and the body stream it feeds; the stream ends when the writer is dropped.
pub fn channel() -> (
    ChannelWriter,
    impl Stream<Item = io::Result<Bytes>> + 'static,
) {
    let (sender, mut receiver) = mpsc::channel(CHUNKS);
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (
        ChannelWriter {
            chunk: Vec::with_capacity(CHUNK),
            sender,
        },
        body,
    )
}

impl ChannelWriter {
    /// Ends the body with an error instead of its end, so that the client sees a cut
    /// answer (the connection is closed without the chunked body's last chunk) rather
    /// than a short one taken for whole.
    pub fn fail(self, err: io::Error) {
        let _ = self.sender.blocking_send(Err(err));
    }

    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.chunk,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.chunk.len();
        let taken = buf.len().min(room);
        self.chunk.extend_from_slice(&buf[..taken]);
        if self.chunk.len() >= CHUNK {
            self.send()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
