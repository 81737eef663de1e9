//! The echo endpoints (`GET /ws/echo`, and over SSE or long-polling with POST): every text
//! (and, on a WebSocket, binary) message goes back to its sender unchanged.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    error::SessionError,
    link::{Inbound, Link},
    metrics::{Endpoint, Metrics},
    ws::{self, Ending, close_code},
};

/// Runs one echo connection to its end: peer close, protocol error, heartbeat timeout or server
/// shutdown. Errors are logged here, once; the peer gets the matching close code.
pub(crate) async fn run<L: Link>(
    mut link: L,
    config: Arc<Config>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    // Every turn of the loop waits on this token; the server-wide one has a single lock that
    // every connection on every worker would take per message. A child per connection has
    // its own, and is cancelled with its parent.
    let shutdown = shutdown.child_token();
    let reason = match drive(&mut link, &config, &metrics, &shutdown).await {
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
    link.close(reason).await;
}

/// The session loop.
async fn drive<L: Link>(
    link: &mut L,
    config: &Config,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> Result<Ending, SessionError> {
    let mut heartbeat = ws::heartbeat(config.heartbeat_interval);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(Ending::Close(Some(ws::going_away()))),
            message = link.recv() => match message? {
                Inbound::Text(text) => {
                    let len = text.len();
                    metrics.received(Endpoint::Echo, len);
                    link.text(text).await?;
                    metrics.sent(Endpoint::Echo, len);
                }
                Inbound::Binary(bytes) => {
                    let len = bytes.len();
                    metrics.received(Endpoint::Echo, len);
                    link.binary(bytes).await?;
                    metrics.sent(Endpoint::Echo, len);
                }
                // Echo the peer's close frame (same code) to complete the handshake.
                Inbound::Close(reason) => {
                    metrics.closed(Endpoint::Echo, close_code(reason.as_ref()), false);
                    return Ok(Ending::Close(reason));
                }
                Inbound::Vanished => return Ok(Ending::Vanished),
            },
            _ = heartbeat.tick() => link.heartbeat().await?,
        }
    }
}
