//! The seam between a session and its transport: what the session core (chat or echo) reads
//! from its peer and writes to it, whatever carries the bytes.
//!
//! The WebSocket ([`crate::ws::WsLink`]), Server-Sent Events with POST and long-polling with
//! POST ([`crate::fallback`]) each implement [`Link`]; decoding, rate limits, the hub, the
//! heartbeat's schedule and the close codes stay in the session core, written once. The hub's
//! frames do not pass through a link at all: each transport's response body reads the
//! connection's outbox itself.

use actix_ws::CloseReason;
use bytes::Bytes;
use bytestring::ByteString;

use crate::error::SessionError;

/// One thing that arrived from the peer.
#[derive(Debug)]
pub enum Inbound {
    /// A text message (one chat request, or one echo).
    Text(ByteString),
    /// A binary message (only a WebSocket carries them).
    Binary(Bytes),
    /// The peer closed, with this reason.
    Close(Option<CloseReason>),
    /// The peer is gone without a word; nobody is left to tell anything.
    Vanished,
}

/// A transport as the session core sees it.
///
/// Every method is cancel-safe where the core waits on it inside a `select!`: `recv` may be
/// dropped before it completes without losing anything.
pub(crate) trait Link {
    /// The next message from the peer.
    async fn recv(&mut self) -> Result<Inbound, SessionError>;
    /// One of the session's own messages (an error, an answer: JSON text) to the peer.
    async fn text(&mut self, text: ByteString) -> Result<(), SessionError>;
    /// A binary message back to the peer (echo only; links without them drop it).
    async fn binary(&mut self, bytes: Bytes) -> Result<(), SessionError>;
    /// The heartbeat came round: ping the peer, or fail with
    /// [`SessionError::HeartbeatTimeout`] when it has gone quiet for the client timeout.
    async fn heartbeat(&mut self) -> Result<(), SessionError>;
    /// Ends the connection, telling the peer `reason` if it can still hear it.
    async fn close(self, reason: Option<CloseReason>);
}
