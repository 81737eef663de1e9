//! WebSocket plumbing shared by the echo and chat sessions: frame limits and reassembly,
//! the heartbeat, close codes.

use std::time::Duration;

use actix_ws::{AggregatedMessageStream, CloseCode, CloseReason, MessageStream};
use tokio::time::{self, Instant, MissedTickBehavior};

use crate::Config;

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

/// Pings on an interval and notices a peer that has gone quiet.
///
/// Anything received counts as a sign of life, not only pongs: a busy peer whose pong is queued
/// behind a large message is not dropped.
pub struct Heartbeat {
    interval: time::Interval,
    timeout: Duration,
    last_seen: Instant,
}

impl Heartbeat {
    /// Starts the clock now; the first ping goes out one `interval` from now.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        let mut ticker = time::interval_at(Instant::now() + interval, interval);
        // After a stall, ping once rather than in a burst.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            interval: ticker,
            timeout,
            last_seen: Instant::now(),
        }
    }

    /// Records that the peer sent something.
    pub fn saw_peer(&mut self) {
        self.last_seen = Instant::now();
    }

    /// Waits for the next ping time.
    pub async fn tick(&mut self) {
        self.interval.tick().await;
    }

    /// Whether nothing has arrived for longer than the client timeout.
    pub fn peer_is_silent(&self) -> bool {
        self.last_seen.elapsed() > self.timeout
    }
}
