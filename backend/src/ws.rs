//! WebSocket plumbing shared by the echo and chat sessions: frame limits and reassembly,
//! [`WsLink`] (the WebSocket as a [`Link`]), the heartbeat, close codes.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, MessageStream, Session,
};
use bytestring::ByteString;
use tokio::time::{self, Instant, MissedTickBehavior};

use crate::{
    Config,
    error::SessionError,
    link::{Inbound, Link},
};

/// A WebSocket connection as a session's [`Link`]: pings are answered and pongs noted here;
/// the peer counts as alive while anything at all arrives.
pub struct WsLink {
    session: Session,
    stream: AggregatedMessageStream,
    last_seen: Instant,
    timeout: Duration,
}

impl WsLink {
    /// Wraps an accepted handshake's session and stream, with the configured limits.
    pub fn new(session: Session, stream: MessageStream, config: &Config) -> Self {
        Self {
            session,
            stream: aggregate(stream, config),
            last_seen: Instant::now(),
            timeout: config.client_timeout,
        }
    }
}

impl Link for WsLink {
    async fn recv(&mut self) -> Result<Inbound, SessionError> {
        loop {
            let message = self.stream.recv().await;
            self.last_seen = Instant::now();
            return match message {
                Some(Ok(AggregatedMessage::Text(text))) => Ok(Inbound::Text(text)),
                Some(Ok(AggregatedMessage::Binary(bytes))) => Ok(Inbound::Binary(bytes)),
                Some(Ok(AggregatedMessage::Ping(payload))) => {
                    self.session.pong(&payload).await?;
                    continue;
                }
                Some(Ok(AggregatedMessage::Pong(_))) => continue,
                Some(Ok(AggregatedMessage::Close(reason))) => Ok(Inbound::Close(reason)),
                Some(Err(err)) => Err(err.into()),
                None => Ok(Inbound::Vanished),
            };
        }
    }

    async fn text(&mut self, text: ByteString) -> Result<(), SessionError> {
        Ok(self.session.text(text).await?)
    }

    async fn binary(&mut self, bytes: Bytes) -> Result<(), SessionError> {
        Ok(self.session.binary(bytes).await?)
    }

    async fn heartbeat(&mut self) -> Result<(), SessionError> {
        if self.last_seen.elapsed() > self.timeout {
            return Err(SessionError::HeartbeatTimeout);
        }
        Ok(self.session.ping(b"").await?)
    }

    async fn close(self, reason: Option<CloseReason>) {
        // A slow reader's socket may not take even a close frame; don't wait on it forever.
        // `Closed` only means the connection is already gone: nothing to close.
        let _ = time::timeout(Duration::from_secs(1), self.session.close(reason)).await;
    }
}

/// The incoming side with the configured limits: frames over `max_frame_size` are an error
/// (1009), and fragments are reassembled into whole messages up to the same size.
pub fn aggregate(stream: MessageStream, config: &Config) -> AggregatedMessageStream {
    stream
        .max_frame_size(config.max_frame_size)
        .aggregate_continuations()
        .max_continuation_size(config.max_frame_size)
}

/// How a session loop ended without an error.
pub enum Ending {
    /// Send this close frame (`None`: one without a status code, as the peer's was).
    Close(Option<CloseReason>),
    /// The connection is gone; there is nobody to send a close frame to.
    Vanished,
}

/// The close frame every session sends when the server shuts down.
pub fn going_away() -> CloseReason {
    CloseReason {
        code: CloseCode::Away,
        description: Some("server shutting down".to_owned()),
    }
}

/// The numeric code of a close frame, if it has one.
pub fn close_code(reason: Option<&CloseReason>) -> Option<u16> {
    reason.map(|r| u16::from(r.code))
}

/// The heartbeat's schedule: the first beat one `interval` from now; after a stall, one beat
/// rather than a burst.
pub fn heartbeat(interval: Duration) -> time::Interval {
    let mut ticker = time::interval_at(Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}
