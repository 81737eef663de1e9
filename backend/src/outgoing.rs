//! The WebSocket connections' outgoing side: frames are encoded once, shared by every
//! recipient, and written by the connection itself straight from its queues.
//!
//! actix-ws writes through a session handle: every frame goes through its channel (the
//! session task's await, a wakeup, the response body's receive) and is copied into a fresh
//! buffer for each recipient before the HTTP dispatcher copies it again into its write buffer.
//! In a room that is paid once per delivery; `bench/results/profile.md` measured it. Here the
//! response body *is* the reader of the connection's queues, so a frame the hub queues is
//! picked up by the dispatcher on its next poll, and every frame queued by then goes out in the
//! same `write()`.
//!
//! Reading still goes through actix-ws (frame limits, reassembly, UTF-8 checks). actix-ws 0.4
//! has no public constructor for its reader without its writer, and the reader ends when its
//! writer is dropped (that is how it learns the connection is gone). So [`accept`] keeps
//! actix-ws's writer, never polled, inside [`Outgoing`]: it is dropped exactly when the
//! dispatcher drops our body, as actix-ws itself would have it.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use actix_http::ws::{CloseReason, OpCode, Parser};
use actix_web::{
    HttpRequest, HttpResponse,
    body::{BodySize, MessageBody},
    http::header,
    web::{self, Bytes, BytesMut},
};
use actix_ws::MessageStream;
use tokio::sync::mpsc;

use crate::metrics::{Endpoint, Metrics};

/// Frames the session itself may queue (pongs, pings, errors to its own peer, the close)
/// before its writes wait: they are few and the connection writes them first.
const CONTROL_CAPACITY: usize = 16;

/// RFC 6455 5.5: a control frame's payload is at most 125 bytes...
const MAX_CONTROL_PAYLOAD: usize = 125;
/// ...so a close frame's reason, after its 2-byte code, at most 123.
const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// One complete, encoded WebSocket frame (header and payload), cheap to clone: a broadcast is
/// encoded once and every recipient's queue holds the same bytes.
#[derive(Debug, Clone)]
pub struct Frame {
    bytes: Bytes,
    /// Where the payload starts (after the 2–10 header bytes).
    payload_at: usize,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A text or binary message: counted in the traffic metrics.
    Data,
    /// Ping or pong.
    Control,
    /// The close frame: the last one the connection writes.
    Close,
}

impl Frame {
    /// A text message.
    pub fn text(text: &str) -> Self {
        Self::encode(text.as_bytes(), OpCode::Text, Kind::Data)
    }

    /// A binary message.
    pub fn binary(bytes: &[u8]) -> Self {
        Self::encode(bytes, OpCode::Binary, Kind::Data)
    }

    /// A ping with an empty payload.
    pub fn ping() -> Self {
        Self::encode(b"", OpCode::Ping, Kind::Control)
    }

    /// The answer to a ping (its payload is at most 125 bytes: actix-ws's reader refuses larger
    /// control frames, so this only cuts as a guard).
    pub fn pong(payload: &[u8]) -> Self {
        let payload = &payload[..payload.len().min(MAX_CONTROL_PAYLOAD)];
        Self::encode(payload, OpCode::Pong, Kind::Control)
    }

    /// A close frame; `None` sends one without a status code.
    pub fn close(reason: Option<CloseReason>) -> Self {
        let mut payload = Vec::new();
        if let Some(reason) = reason {
            payload.extend_from_slice(&u16::from(reason.code).to_be_bytes());
            if let Some(description) = reason.description {
                let mut end = description.len().min(MAX_CLOSE_REASON);
                while !description.is_char_boundary(end) {
                    end -= 1;
                }
                payload.extend_from_slice(&description.as_bytes()[..end]);
            }
        }
        Self::encode(&payload, OpCode::Close, Kind::Close)
    }

    fn encode(payload: &[u8], opcode: OpCode, kind: Kind) -> Self {
        let mut buf = BytesMut::with_capacity(payload.len() + 10);
        // A server's frames are not masked (RFC 6455 5.1).
        Parser::write_message(&mut buf, payload, opcode, true, false);
        Self {
            payload_at: buf.len() - payload.len(),
            bytes: buf.freeze(),
            kind,
        }
    }

    /// The payload: for a text message, its UTF-8 text.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[self.payload_at..]
    }
}

/// The session's handle for frames to its own peer. They go ahead of the hub's queue, which
/// may be full when this is most needed (cutting off a slow reader).
#[derive(Debug)]
pub struct Writer {
    control: mpsc::Sender<Frame>,
}

/// The connection is gone: its body was dropped, so nothing more can be written.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("connection closed while sending")]
pub struct Closed;

impl Writer {
    /// Queues `frame`; waits while [`CONTROL_CAPACITY`] of them are unwritten.
    pub async fn send(&self, frame: Frame) -> Result<(), Closed> {
        self.control.send(frame).await.map_err(|_| Closed)
    }
}

/// A connection's response body: the session's frames first, then the outbox's (the hub's,
/// for chat), ending after a close frame or when the session has gone.
pub struct Outgoing {
    control: mpsc::Receiver<Frame>,
    /// `None` for echo, and once the hub has dropped its sender (it has removed the
    /// connection).
    outbox: Option<mpsc::Receiver<Frame>>,
    endpoint: Endpoint,
    metrics: Arc<Metrics>,
    closed: bool,
    /// actix-ws's writer, kept so its reader keeps reading (see the module docs).
    _reader_alive: HttpResponse,
}

impl MessageBody for Outgoing {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(None);
        }
        let frame = match this.control.poll_recv(cx) {
            Poll::Ready(Some(frame)) => frame,
            // The session has ended without a close frame (its peer vanished): nothing is
            // left to write to.
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                let Some(outbox) = this.outbox.as_mut() else {
                    return Poll::Pending;
                };
                match outbox.poll_recv(cx) {
                    Poll::Ready(Some(frame)) => frame,
                    // Removed by the hub: the session's close frame is on its way.
                    Poll::Ready(None) => {
                        this.outbox = None;
                        return Poll::Pending;
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        };
        match frame.kind {
            Kind::Data => this.metrics.sent(this.endpoint, frame.payload().len()),
            Kind::Control => {}
            Kind::Close => this.closed = true,
        }
        Poll::Ready(Some(Ok(frame.bytes)))
    }
}

/// How to answer a WebSocket handshake.
pub struct Upgrade {
    /// The subprotocol to answer with, which the caller has checked the client offered.
    pub protocol: Option<&'static str>,
    /// Frames queued by others (the hub) for this connection, written after the session's own.
    pub outbox: Option<mpsc::Receiver<Frame>>,
    /// Whose traffic the written messages are counted as.
    pub endpoint: Endpoint,
}

/// Completes the WebSocket handshake for `req`. Returns the `101 Switching Protocols`
/// response, whose body writes the connection's frames, the incoming messages (actix-ws) and
/// the session's writer.
pub fn accept(
    req: &HttpRequest,
    body: web::Payload,
    upgrade: Upgrade,
    metrics: Arc<Metrics>,
) -> Result<(HttpResponse, MessageStream, Writer), actix_web::Error> {
    let mut response = actix_http::ws::handshake(req.head())?;
    if let Some(protocol) = upgrade.protocol {
        response.insert_header((header::SEC_WEBSOCKET_PROTOCOL, protocol));
    }
    let (reader_alive, _unused_writer, stream) = actix_ws::handle(req, body)?;
    let (control_tx, control) = mpsc::channel(CONTROL_CAPACITY);
    let outgoing = Outgoing {
        control,
        outbox: upgrade.outbox,
        endpoint: upgrade.endpoint,
        metrics,
        closed: false,
        _reader_alive: reader_alive,
    };
    let response = HttpResponse::from(response.message_body(outgoing.boxed())?);
    let writer = Writer {
        control: control_tx,
    };
    Ok((response, stream, writer))
}

#[cfg(test)]
mod tests {
    use actix_http::ws::CloseCode;

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
        assert_eq!(&Frame::ping().bytes[..], b"\x89\x00");
        assert_eq!(&Frame::pong(b"p").bytes[..], b"\x8a\x01p");
    }

    #[test]
    fn a_close_reason_is_cut_to_fit_a_control_frame_on_a_char_boundary() {
        let reason = CloseReason {
            code: CloseCode::Away,
            description: Some("é".repeat(100)),
        };
        let frame = Frame::close(Some(reason));
        let payload = frame.payload();
        assert!(payload.len() <= 125, "{}", payload.len());
        assert_eq!(&payload[..2], 1001u16.to_be_bytes());
        assert!(std::str::from_utf8(&payload[2..]).is_ok());
        assert_eq!(&Frame::close(None).bytes[..], b"\x88\x00");
    }
}
