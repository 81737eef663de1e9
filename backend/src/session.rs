//! `GET /ws` sessions: one task per chat connection between its socket and the hub.
//!
//! The session decodes frames (bad input gets a typed `error`; the connection stays open),
//! enforces the per-connection rate limit and forwards requests to the hub. What the hub sends
//! does not pass through here: the connection writes it from its bounded outbox itself
//! ([`crate::outgoing`]). The session writes only its own frames (errors, pongs, pings, the
//! close). It ends on peer close, protocol error, heartbeat timeout, rate abuse (1008), being
//! cut off as a slow reader (1013) or server shutdown (1001).

use std::{sync::Arc, time::Duration};

use actix_ws::{AggregatedMessage, AggregatedMessageStream, MessageStream, Session};
use shared::{ClientMsg, ErrorCode, ServerMsg};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    error::SessionError,
    hub::HubHandle,
    ids::ConnId,
    metrics::{Endpoint, Metrics},
    outgoing::Frame,
    ws::{self, Ending, Heartbeat, close_code},
};

/// Runs one chat connection to its end; errors are logged here, once.
///
/// `outbox` is the sending end of the queue the connection writes the hub's frames from
/// ([`crate::outgoing::attach`]).
pub async fn run(
    mut session: Session,
    stream: MessageStream,
    outbox: mpsc::Sender<Frame>,
    hub: HubHandle,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let stream = ws::aggregate(stream, &config);
    // A child of the shutdown token: one signal to watch per wake-up instead of two (which
    // of the two fired is told apart afterwards).
    let kick = shutdown.child_token();
    let conn = match hub.connect(outbox, kick.clone()).await {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(error = %err, "chat session refused");
            let reason = ws::going_away();
            metrics.closed(Endpoint::Chat, Some(u16::from(reason.code)), true);
            let _ = session.close(Some(reason)).await;
            return;
        }
    };
    let mut io = Io {
        session: &mut session,
        kick: &kick,
        shutdown: &shutdown,
        metrics: &metrics,
    };
    let ending = drive(&mut io, stream, conn, &hub, &config).await;
    // Always leave the hub, whatever ended the session (it may be gone on shutdown).
    let _ = hub.disconnect(conn).await;
    let reason = match ending {
        Ok(Ending::Close(reason)) => reason,
        // The peer's stream ended without a close frame: nobody is left to tell.
        Ok(Ending::Vanished) => return,
        Err(err) => {
            tracing::info!(conn = conn.0, error = %err, "chat session ended");
            match err.close_reason() {
                Some(reason) => Some(reason),
                None => return,
            }
        }
    };
    metrics.closed(Endpoint::Chat, close_code(reason.as_ref()), true);
    // A slow reader's socket may not take even a close frame; don't wait on it forever.
    let _ = tokio::time::timeout(Duration::from_secs(1), session.close(reason)).await;
}

/// The session's writes to its own peer, watching the cut-off signal while a write waits on a
/// full socket.
struct Io<'a> {
    session: &'a mut Session,
    kick: &'a CancellationToken,
    shutdown: &'a CancellationToken,
    metrics: &'a Metrics,
}

impl Io<'_> {
    async fn text(&mut self, frame: impl Into<bytestring::ByteString>) -> Result<(), SessionError> {
        let frame = frame.into();
        let len = frame.len();
        tokio::select! {
            // The write first: when the socket has room it completes on its first poll, and
            // the cut-off signals are then never polled (registering and dropping their
            // waiters cost more than the write itself in a busy room).
            biased;
            result = self.session.text(frame) => {
                result?;
                self.metrics.sent(Endpoint::Chat, len);
                Ok(())
            }
            () = self.kick.cancelled() => Err(self.cut_off()),
        }
    }

    /// Why the kick token fired: shutdown (its parent) or the hub cutting off a slow reader.
    fn cut_off(&self) -> SessionError {
        if self.shutdown.is_cancelled() {
            SessionError::ShuttingDown
        } else {
            SessionError::SlowConsumer
        }
    }

    async fn error(
        &mut self,
        code: ErrorCode,
        message: String,
        client_id: Option<shared::ClientMsgId>,
    ) -> Result<(), SessionError> {
        let event = ServerMsg::Error {
            code,
            message,
            client_id,
        };
        match shared::encode(&event) {
            Ok(json) => self.text(json).await,
            Err(err) => {
                tracing::error!(error = %err, "cannot encode an error event");
                Ok(())
            }
        }
    }
}

/// The session loop.
async fn drive(
    io: &mut Io<'_>,
    mut stream: AggregatedMessageStream,
    conn: ConnId,
    hub: &HubHandle,
    config: &Config,
) -> Result<Ending, SessionError> {
    let mut heartbeat = Heartbeat::new(config.heartbeat_interval, config.client_timeout);
    let mut limiter = RateLimiter::new(config.rate_per_sec, config.rate_burst, Instant::now());
    let mut strikes = 0u32;
    loop {
        tokio::select! {
            biased;
            () = io.kick.cancelled() => return match io.cut_off() {
                SessionError::ShuttingDown => Ok(Ending::Close(Some(ws::going_away()))),
                other => Err(other),
            },
            message = stream.recv() => {
                heartbeat.saw_peer();
                let text = match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        io.metrics.received(Endpoint::Chat, text.len());
                        text
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        io.metrics.received(Endpoint::Chat, bytes.len());
                        let message = format!("binary frames are not part of {}; send JSON text", shared::SUBPROTOCOL);
                        io.error(ErrorCode::BinaryNotSupported, message, None).await?;
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Ping(payload))) => {
                        io.session.pong(&payload).await?;
                        continue;
                    }
                    Some(Ok(AggregatedMessage::Pong(_))) => continue,
                    Some(Ok(AggregatedMessage::Close(reason))) => {
                        io.metrics.closed(Endpoint::Chat, close_code(reason.as_ref()), false);
                        return Ok(Ending::Close(reason));
                    }
                    Some(Err(err)) => return Err(err.into()),
                    None => return Ok(Ending::Vanished),
                };
                // Counted before the hub sees anything; a refused message is parsed only to
                // return its client_id, so the sender can mark it failed.
                let allowed = limiter.try_take(Instant::now());
                let parsed = ClientMsg::parse(&text);
                if !allowed {
                    io.metrics.rate_limited.inc();
                    strikes += 1;
                    if strikes >= config.rate_strikes {
                        return Err(SessionError::RateAbuse);
                    }
                    let message = format!(
                        "slow down: at most {} messages per second (burst {})",
                        config.rate_per_sec, config.rate_burst
                    );
                    let client_id = parsed.ok().and_then(ClientMsg::into_client_id);
                    io.error(ErrorCode::RateLimited, message, client_id).await?;
                    continue;
                }
                strikes = 0;
                match parsed {
                    Ok(request) => hub.request(conn, request).await?,
                    Err(refused) => io.error(refused.code, refused.message, None).await?,
                }
            }
            () = heartbeat.tick() => {
                if heartbeat.peer_is_silent() {
                    return Err(SessionError::HeartbeatTimeout);
                }
                io.session.ping(b"").await?;
            }
        }
    }
}

/// A token bucket: `burst` messages at once, refilled at `per_sec`.
#[derive(Debug)]
pub struct RateLimiter {
    tokens: f64,
    burst: f64,
    per_sec: f64,
    last: Instant,
}

impl RateLimiter {
    /// A full bucket at `now`.
    pub fn new(per_sec: u32, burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_sec: f64::from(per_sec),
            last: now,
        }
    }

    /// Whether the bucket has refilled to its burst by `now` (nothing left to remember).
    pub fn is_full(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.per_sec >= self.burst
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_the_rate() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 3, start);
        assert!((0..3).all(|_| limiter.try_take(start)));
        assert!(!limiter.try_take(start));
        assert!(limiter.try_take(start + Duration::from_millis(100)));
        assert!(!limiter.try_take(start + Duration::from_millis(150)));
        // A long pause refills to the burst, not beyond.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.try_take(later)));
        assert!(!limiter.try_take(later));
    }
}
