//! `GET /ws/echo`: every text and binary message goes back to its sender unchanged.

use std::sync::Arc;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, MessageStream, Session};
use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    error::SessionError,
    metrics::{Endpoint, Metrics},
    ws::{self, Ending, Heartbeat, close_code},
};

/// Runs one echo connection to its end: peer close, protocol error, heartbeat timeout or server
/// shutdown. Errors are logged here, once; the peer gets the matching close code.
pub async fn run(
    mut session: Session,
    stream: MessageStream,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let stream = ws::aggregate(stream, &config);
    // Every turn of the loop waits on this token; the server-wide one has a single lock that
    // every connection on every worker would take per message. A child per connection has
    // its own, and is cancelled with its parent.
    let shutdown = shutdown.child_token();
    let reason = match drive(&mut session, stream, &config, &metrics, &shutdown).await {
        Ok(Ending::Close(reason)) => reason,
        // The peer's stream ended without a close frame: nobody is left to tell.
        Ok(Ending::Vanished) => return,
        Err(err) => {
            tracing::info!(error = %err, "echo session ended");
            match err.close_reason() {
                Some(reason) => Some(reason),
                None => return,
            }
        }
    };
    metrics.closed(Endpoint::Echo, close_code(reason.as_ref()), true);
    // `Closed` only means the connection is already gone, so there is nothing to close.
    let _ = session.close(reason).await;
}

/// The session loop.
async fn drive(
    session: &mut Session,
    mut stream: AggregatedMessageStream,
    config: &Config,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<Ending, SessionError> {
    let mut heartbeat = Heartbeat::new(config.heartbeat_interval, config.client_timeout);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(Ending::Close(Some(ws::going_away()))),
            message = stream.recv() => {
                heartbeat.saw_peer();
                match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        let len = text.len();
                        metrics.received(Endpoint::Echo, len);
                        session.text(text).await?;
                        metrics.sent(Endpoint::Echo, len);
                    }
                    Some(Ok(AggregatedMessage::Binary(bytes))) => {
                        let len = bytes.len();
                        metrics.received(Endpoint::Echo, len);
                        session.binary(bytes).await?;
                        metrics.sent(Endpoint::Echo, len);
                    }
                    Some(Ok(AggregatedMessage::Ping(payload))) => session.pong(&payload).await?,
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    // Echo the peer's close frame (same code) to complete the handshake.
                    Some(Ok(AggregatedMessage::Close(reason))) => {
                        metrics.closed(Endpoint::Echo, close_code(reason.as_ref()), false);
                        return Ok(Ending::Close(reason));
                    }
                    Some(Err(err)) => return Err(err.into()),
                    None => return Ok(Ending::Vanished),
                }
            }
            () = heartbeat.tick() => {
                if heartbeat.peer_is_silent() {
                    return Err(SessionError::HeartbeatTimeout);
                }
                session.ping(b"").await?;
            }
        }
    }
}
