//! A [`Write`] whose bytes become an HTTP answer's body: a blocking writer (the export, on
//! a blocking thread) hands chunks to a bounded channel that the body stream reads. A slow
//! client makes the writer wait (the channel is full), so an export's memory is the
//! channel's few chunks whatever its size; a client gone, or one that has read nothing for
//! [`STALL`], makes the next write fail, which ends the export (and frees its thread).

use std::io::{self, Write};

use bytes::Bytes;
use futures_util::Stream;
use tokio::{runtime::Handle, sync::mpsc};

/// Bytes gathered before a chunk is handed on.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the writer and the body.
const CHUNKS: usize = 4;
/// How long a client may read nothing before its export is abandoned: a reader that
/// stalls would otherwise hold a blocking thread for as long as it keeps its connection.
pub const STALL: std::time::Duration = std::time::Duration::from_secs(120);

/// The writing half (see the module's docs).
pub struct ChannelWriter {
    chunk: Vec<u8>,
    sender: mpsc::Sender<io::Result<Bytes>>,
    /// The runtime the body is read on: a full channel is waited on there, for at most
    /// [`STALL`].
    runtime: Handle,
}

/// A writer and the body stream it feeds (read on `runtime`); the stream ends when the
/// writer is dropped.
pub fn channel(
    runtime: Handle,
) -> (
    ChannelWriter,
    impl Stream<Item = io::Result<Bytes>> + 'static,
) {
    let (sender, mut receiver) = mpsc::channel(CHUNKS);
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    (
        ChannelWriter {
            chunk: Vec::with_capacity(CHUNK),
            sender,
            runtime,
        },
        body,
    )
}

impl ChannelWriter {
    /// Ends the body with an error instead of its end, so that the client sees a cut
    /// answer (the connection is closed without the chunked body's last chunk) rather
    /// than a short one taken for whole.
    pub fn fail(self, err: io::Error) {
        // (Within the same patience as any chunk: a client that reads nothing does not
        // hold this thread for ever; the body is cut when the writer is dropped anyway.)
        let _ = self
            .runtime
            .block_on(tokio::time::timeout(STALL, self.sender.send(Err(err))));
    }

    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.chunk,
            Vec::with_capacity(CHUNK),
        ));
        let sent = self
            .runtime
            .block_on(tokio::time::timeout(STALL, self.sender.send(Ok(chunk))));
        match sent {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the client went away",
            )),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for too long",
            )),
        }
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

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use futures_util::StreamExt as _;

    use super::*;

    /// What is written arrives whole and in order, in chunks of at most [`CHUNK`], and the
    /// body ends when the writer is dropped. (A current-thread runtime, as actix's workers
    /// are: the writer's thread waits on it while the test's thread drives it.)
    #[tokio::test]
    async fn the_body_carries_every_byte_in_order_then_ends() {
        let (mut writer, body) = channel(Handle::current());
        let bytes: Vec<u8> = (0..3 * CHUNK + 123).map(|n| (n % 251) as u8).collect();
        let written = bytes.clone();
        let writing = tokio::task::spawn_blocking(move || {
            for piece in written.chunks(1000) {
                writer.write_all(piece)?;
            }
            writer.flush()
        });
        let chunks: Vec<Bytes> = body.map(|chunk| chunk.unwrap()).collect().await;
        writing.await.unwrap().unwrap();
        assert!(chunks.iter().all(|c| c.len() <= CHUNK));
        assert_eq!(chunks.concat(), bytes);
    }

    /// A body nobody reads any more makes the next write fail, as a client gone.
    #[tokio::test]
    async fn a_body_dropped_fails_the_writer() {
        let (mut writer, body) = channel(Handle::current());
        drop(body);
        let err = tokio::task::spawn_blocking(move || {
            writer.write_all(&[0; CHUNK])?;
            writer.flush()
        })
        .await
        .unwrap()
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
