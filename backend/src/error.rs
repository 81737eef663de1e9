//! Why a WebSocket session ended abnormally, and which close code that maps to.

use std::io;

use actix_ws::{CloseCode, CloseReason, ProtocolError};
use shared::close;

/// A session ended for a reason worth logging (peer close and shutdown are not errors).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The peer sent something RFC 6455 forbids, too big a frame, or invalid UTF-8.
    #[error("websocket protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The connection's writer is gone: the peer vanished while we were sending.
    #[error("connection closed while sending")]
    Closed(#[from] actix_ws::Closed),
    /// Nothing arrived from the peer, not even a pong, within the client timeout.
    #[error("no pong or message within the client timeout")]
    HeartbeatTimeout,
    /// The peer read too slowly: its outbox overflowed and the hub dropped it.
    #[error("slow reader: outbox overflowed")]
    SlowConsumer,
    /// The peer kept sending past the rate limit after being told.
    #[error("sustained rate-limit abuse")]
    RateAbuse,
    /// The server is shutting down (noticed while waiting on a write).
    #[error("server shutting down")]
    ShuttingDown,
    /// The hub has stopped.
    #[error(transparent)]
    Hub(#[from] crate::hub::HubClosed),
}

impl SessionError {
    /// The close frame to send the peer, if the connection can still carry one.
    pub fn close_reason(&self) -> Option<CloseReason> {
        let (code, description) = match self {
            Self::Protocol(err) => protocol_close(err),
            Self::Closed(_) => return None,
            Self::HeartbeatTimeout => (close::HEARTBEAT_TIMEOUT, "heartbeat timeout"),
            Self::SlowConsumer => (close::SLOW_CONSUMER, "reading too slowly"),
            Self::RateAbuse => (close::POLICY_VIOLATION, "too many messages"),
            Self::ShuttingDown | Self::Hub(_) => (close::GOING_AWAY, "server shutting down"),
        };
        Some(CloseReason {
            code: CloseCode::from(code),
            description: Some(description.to_owned()),
        })
    }
}

/// Maps a decoding failure to the RFC 6455 close code that names it.
fn protocol_close(err: &ProtocolError) -> (u16, &'static str) {
    match err {
        ProtocolError::Overflow => (close::MESSAGE_TOO_BIG, "frame too big"),
        // actix-http reports reserved bits as InvalidData too (it has no variant for them yet);
        // tests/conformance.rs fails if this wording changes.
        ProtocolError::Io(io)
            if io.kind() == io::ErrorKind::InvalidData
                && io.to_string().contains("reserved bits") =>
        {
            (
                close::PROTOCOL_ERROR,
                "reserved bits set without an extension",
            )
        }
        // actix-ws reports invalid UTF-8 in a text message (single or reassembled) as InvalidData.
        ProtocolError::Io(io) if io.kind() == io::ErrorKind::InvalidData => {
            (close::INVALID_PAYLOAD, "invalid UTF-8 in text message")
        }
        // actix-ws has no variant for a reassembled message over the limit; it reports an
        // `Other` I/O error with this text (covered by the fragmented-overflow test, which
        // fails if the wording changes).
        ProtocolError::Io(io)
            if io.kind() == io::ErrorKind::Other
                && io.to_string().contains("maximum continuation size") =>
        {
            (close::MESSAGE_TOO_BIG, "message too big")
        }
        ProtocolError::Io(_) => (close::PROTOCOL_ERROR, "connection error"),
        _ => (close::PROTOCOL_ERROR, "protocol error"),
    }
}
