//! The chat connections' outgoing side: the hub's frames are encoded once, shared by every
//! recipient, and written by the connection straight from its outbox.
//!
//! Through actix-ws's `Session`, each delivery would cross the session task (a wakeup),
//! actix-ws's own channel, and be copied into a fresh buffer per recipient before the HTTP
//! dispatcher copies it once more into its write buffer; in a room that is paid once per
//! delivery (`bench/results/profile.md`). Here the `101` response's body reads the outbox
//! itself: a frame the hub queues is picked up on the dispatcher's next poll, and every frame
//! queued by then goes out in the same `write()`.
//!
//! The session's own frames (errors to its peer, pongs, pings, the close) still go through its
//! actix-ws `Session`: [`attach`] wraps actix-ws's response body, and [`Outgoing`] writes what
//! it yields first. Its close frame ends the connection's output, as with actix-ws alone.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use actix_http::ws::{OpCode, Parser};
use actix_web::{
    HttpResponse,
    body::{BodySize, BoxBody, MessageBody},
    web::{Bytes, BytesMut},
};
use tokio::sync::mpsc;

use crate::metrics::{Endpoint, Metrics};

/// One complete, encoded WebSocket text frame (header and payload), cheap to clone: a
/// broadcast is encoded once and every recipient's outbox holds the same bytes.
#[derive(Debug, Clone)]
pub struct Frame {
    bytes: Bytes,
    /// Where the payload starts (after the 2–10 header bytes).
    payload_at: u8,
}

impl Frame {
    /// A text message.
    pub fn text(text: &str) -> Self {
        let mut buf = BytesMut::with_capacity(text.len() + 10);
        // A server's frames are not masked (RFC 6455 5.1).
        Parser::write_message(&mut buf, text, OpCode::Text, true, false);
        let header = buf.len() - text.len();
        Self {
            bytes: buf.freeze(),
            // At most 10 (RFC 6455 5.2).
            payload_at: u8::try_from(header).unwrap_or(u8::MAX),
        }
    }

    /// The payload: the message's UTF-8 text.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[usize::from(self.payload_at)..]
    }

    /// The payload, sharing the frame's buffer (no copy).
    pub fn payload_bytes(&self) -> Bytes {
        self.bytes.slice(usize::from(self.payload_at)..)
    }
}

/// A chat connection's response body: the session's own frames (from actix-ws) first, then
/// the hub's from the outbox.
pub struct Outgoing {
    /// actix-ws's body: what the session writes through its `Session`.
    session: BoxBody,
    /// `None` once the hub has dropped its sender (it has removed the connection).
    outbox: Option<mpsc::Receiver<Frame>>,
    metrics: Arc<Metrics>,
}

impl MessageBody for Outgoing {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.session).poll_next(cx) {
            // actix-ws's body ends after the session's close frame, or when the session has
            // gone without one (its peer vanished): either way nothing more is written.
            ready @ Poll::Ready(_) => return ready,
            Poll::Pending => {}
        }
        let Some(outbox) = this.outbox.as_mut() else {
            return Poll::Pending;
        };
        match outbox.poll_recv(cx) {
            Poll::Ready(Some(frame)) => {
                this.metrics.sent(Endpoint::Chat, frame.payload().len());
                Poll::Ready(Some(Ok(frame.bytes)))
            }
            // Removed by the hub: the session's close frame is on its way.
            Poll::Ready(None) => {
                this.outbox = None;
                Poll::Pending
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Makes the `101` response from actix-ws's handshake write the hub's frames from `outbox`
/// as well as the session's.
pub fn attach(
    response: HttpResponse,
    outbox: mpsc::Receiver<Frame>,
    metrics: Arc<Metrics>,
) -> HttpResponse {
    response
        .map_body(|_, session| Outgoing {
            session,
            outbox: Some(outbox),
            metrics,
        })
        .map_into_boxed_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_rfc_6455_header_unmasked() {
        let frame = Frame::text("hi");
        assert_eq!(&frame.bytes[..], b"\x81\x02hi");
        assert_eq!(frame.payload(), b"hi");
        let long = "x".repeat(300);
        let frame = Frame::text(&long);
        assert_eq!(&frame.bytes[..4], [0x81, 126, 0x01, 0x2c]);
        assert_eq!(frame.payload(), long.as_bytes());
        let huge = "y".repeat(70_000);
        let frame = Frame::text(&huge);
        assert_eq!(frame.bytes[1], 127);
        assert_eq!(frame.payload(), huge.as_bytes());
    }
}
