//! The WebSocket connection: the only module that talks to gloo-net.
//!
//! [`Connection::open`] keeps one socket open to a URL for as long as the handle lives:
//! it reports [`ConnectionStatus`] in a signal, hands every received text frame to a callback,
//! sends queued text frames in order, and after a drop reconnects with exponential backoff and
//! jitter. Dropping the handle closes the socket and ends the task.

use std::{cell::Cell, rc::Rc, time::Duration};

use futures::{
    FutureExt as _, SinkExt as _, StreamExt as _,
    channel::mpsc,
    future::{AbortHandle, Abortable, Either, select},
};
use gloo_net::websocket::{Message, State, WebSocketError, futures::WebSocket};
use gloo_timers::future::sleep;
use leptos::prelude::*;
use shared::close;

/// What the user should know about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// A socket is being opened.
    Connecting,
    /// The socket is open; sends go out now.
    Open,
    /// The socket closed or could not be opened; another try follows in `retry_in_secs`.
    Closed {
        /// Why, in words for the status bar (e.g. "server shutting down (1001)").
        reason: String,
        /// Whole seconds until the next attempt, counting down.
        retry_in_secs: u32,
    },
}

impl ConnectionStatus {
    /// Whether sends go out immediately.
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open)
    }
}

/// Something the connection tells its owner, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// A socket just opened (first time or after a reconnect).
    Opened,
    /// A text frame arrived.
    Text(String),
    /// The socket closed; whatever was in flight may be lost.
    Closed,
    /// The server closed the socket with 4401: not logged in (or the login expired). Comes
    /// right before [`ConnectionEvent::Closed`]; reconnecting will not help until the user
    /// logs in again.
    Unauthenticated,
}

/// First retry delay; each failure doubles it up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// Upper bound on the retry delay, so a long outage is noticed within half a minute of its end.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delay before reconnect attempt `attempt` (1-based): exponential with "full jitter" between
/// half and all of the exponential value, so that clients dropped together by a server restart
/// do not all come back in the same millisecond. `random` is uniform in [0, 1).
pub fn backoff_delay(attempt: u32, random: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(16);
    let ceiling = BASE_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF);
    ceiling.mul_f64(0.5 + 0.5 * random.clamp(0.0, 1.0))
}

/// A live connection; dropping it closes the socket and stops reconnecting.
pub struct Connection {
    outbox: mpsc::UnboundedSender<Outgoing>,
    task: AbortHandle,
    offline: Rc<Cell<bool>>,
}

/// What the owner hands the connection task.
enum Outgoing {
    Text(String),
    /// Drop the socket as a network failure would.
    Interrupt,
}

/// How often a connection held offline checks whether it may reconnect.
const OFFLINE_POLL: Duration = Duration::from_millis(50);

impl Connection {
    /// Starts connecting to `url` (e.g. `ws://127.0.0.1:8080/ws/echo`) in the background,
    /// offering the WebSocket subprotocol `protocol` if given.
    ///
    /// `status` is kept up to date; `on_event` is called for every [`ConnectionEvent`]. Frames
    /// are only sent on a socket that was open when they were queued: whatever is queued while
    /// no socket is open is dropped when one opens, so that what the owner sends on
    /// [`ConnectionEvent::Opened`] (a greeting) goes first.
    pub fn open(
        url: String,
        protocol: Option<&'static str>,
        status: WriteSignal<ConnectionStatus>,
        on_event: impl Fn(ConnectionEvent) + 'static,
    ) -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded();
        let (task, registration) = AbortHandle::new_pair();
        let offline = Rc::new(Cell::new(false));
        let run = maintain(
            url,
            protocol,
            status,
            outbox_rx,
            on_event,
            Rc::clone(&offline),
        );
        // wasm-bindgen's executor directly: a connection may be opened before (or without)
        // a Leptos mount, which is what initializes Leptos's own spawner.
        wasm_bindgen_futures::spawn_local(Abortable::new(run, registration).map(|_| ()));
        Self {
            outbox,
            task,
            offline,
        }
    }

    /// Queues a text frame; it goes out as soon as a socket is open, in order.
    pub fn send(&self, text: String) {
        // The receiver lives as long as the task, which lives as long as `self`.
        let _ = self.outbox.unbounded_send(Outgoing::Text(text));
    }

    /// `true` drops the open socket as a network failure would and keeps the connection
    /// offline; `false` lets it reconnect (after the usual backoff). How the browser tests
    /// take a page offline for as long as they need.
    pub fn set_offline(&self, offline: bool) {
        self.offline.set(offline);
        if offline {
            let _ = self.outbox.unbounded_send(Outgoing::Interrupt);
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Aborting drops the task's socket, and gloo-net closes a dropped socket.
        self.task.abort();
    }
}

/// Connects, pumps, and reconnects until aborted or the outbox is dropped.
async fn maintain(
    url: String,
    protocol: Option<&'static str>,
    status: WriteSignal<ConnectionStatus>,
    mut outbox: mpsc::UnboundedReceiver<Outgoing>,
    on_event: impl Fn(ConnectionEvent),
    offline: Rc<Cell<bool>>,
) {
    let mut failures: u32 = 0;
    loop {
        while offline.get() {
            status.set(ConnectionStatus::Closed {
                reason: crate::i18n::words().no_network.to_owned(),
                retry_in_secs: 0,
            });
            sleep(OFFLINE_POLL).await;
        }
        status.set(ConnectionStatus::Connecting);
        let reason = match connect(&url, protocol).await {
            Ok(socket) => {
                failures = 0;
                // Stale frames (queued while offline) must not overtake the greeting.
                while outbox.try_recv().is_ok() {}
                status.set(ConnectionStatus::Open);
                on_event(ConnectionEvent::Opened);
                let ended = pump(socket, &mut outbox, &on_event).await;
                on_event(ConnectionEvent::Closed);
                match ended {
                    PumpEnd::OwnerGone => return,
                    PumpEnd::Closed(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        failures = failures.saturating_add(1);
        let delay = backoff_delay(failures, js_sys::Math::random());
        log::info!(
            "websocket closed ({reason}); retrying in {} ms",
            delay.as_millis()
        );
        count_down(delay, &reason, status).await;
    }
}

/// Opens a socket and waits until it is open, or says why it could not be.
async fn connect(url: &str, protocol: Option<&str>) -> Result<WebSocket, String> {
    let opened = match protocol {
        Some(protocol) => WebSocket::open_with_protocol(url, protocol),
        None => WebSocket::open(url),
    };
    let mut socket = opened.map_err(|err| format!("bad URL {url}: {err}"))?;
    // gloo-net's sink is ready once the socket left the Connecting state, open or not.
    futures::future::poll_fn(|cx| socket.poll_ready_unpin(cx))
        .await
        .map_err(|err| describe(&err))?;
    match socket.state() {
        State::Open => Ok(socket),
        _ => Err(crate::i18n::words().unreachable.to_owned()),
    }
}

enum PumpEnd {
    /// The [`Connection`] was dropped.
    OwnerGone,
    /// The socket closed, for this reason.
    Closed(String),
}

/// Moves frames both ways until the socket closes or the owner goes away.
async fn pump(
    socket: WebSocket,
    outbox: &mut mpsc::UnboundedReceiver<Outgoing>,
    on_event: &impl Fn(ConnectionEvent),
) -> PumpEnd {
    let (mut sink, mut stream) = socket.split();
    loop {
        match select(stream.next(), outbox.next()).await {
            Either::Left((Some(Ok(Message::Text(text))), _)) => {
                on_event(ConnectionEvent::Text(text))
            }
            Either::Left((Some(Ok(Message::Bytes(bytes))), _)) => {
                log::warn!("ignoring unexpected {}-byte binary frame", bytes.len());
            }
            Either::Left((Some(Err(err)), _)) => {
                if matches!(&err, WebSocketError::ConnectionClose(event) if event.code == close::UNAUTHENTICATED)
                {
                    on_event(ConnectionEvent::Unauthenticated);
                }
                return PumpEnd::Closed(describe(&err));
            }
            Either::Left((None, _)) => {
                return PumpEnd::Closed(crate::i18n::words().close_other.to_owned());
            }
            Either::Right((Some(Outgoing::Text(text)), _)) => {
                if let Err(err) = sink.send(Message::Text(text)).await {
                    return PumpEnd::Closed(describe(&err));
                }
            }
            Either::Right((Some(Outgoing::Interrupt), _)) => {
                return PumpEnd::Closed(crate::i18n::words().interrupted.to_owned());
            }
            Either::Right((None, _)) => return PumpEnd::OwnerGone,
        }
    }
}

/// Shows "reconnecting in N s", updated every second, for `delay`.
async fn count_down(delay: Duration, reason: &str, status: WriteSignal<ConnectionStatus>) {
    let mut left = delay;
    while !left.is_zero() {
        status.set(ConnectionStatus::Closed {
            reason: reason.to_owned(),
            retry_in_secs: u32::try_from(left.as_secs_f64().ceil() as u64).unwrap_or(u32::MAX),
        });
        let step = left.min(Duration::from_secs(1));
        sleep(step).await;
        left -= step;
    }
}

/// Human words for a socket error, with the close code where there is one.
fn describe(err: &WebSocketError) -> String {
    let w = crate::i18n::words();
    match err {
        WebSocketError::ConnectionClose(event) => {
            let what = match event.code {
                close::NORMAL => w.close_normal,
                close::GOING_AWAY => w.close_going_away,
                // Browsers report an abnormal end (no close frame) as 1006; never on the wire.
                1006 => w.close_lost,
                close::INVALID_PAYLOAD => w.close_invalid_text,
                close::MESSAGE_TOO_BIG => w.close_too_big,
                close::HEARTBEAT_TIMEOUT => w.close_timed_out,
                close::UNAUTHENTICATED => w.close_not_logged_in,
                close::SLOW_CONSUMER => w.close_slow,
                _ if !event.reason.is_empty() => event.reason.as_str(),
                _ => w.close_other,
            };
            format!("{what} ({})", event.code)
        }
        // ConnectionError, a failed send, and whatever variant gloo-net adds later.
        _ => w.connection_error.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        assert_eq!(backoff_delay(1, 1.0), Duration::from_millis(500));
        assert_eq!(backoff_delay(1, 0.0), Duration::from_millis(250));
        assert_eq!(backoff_delay(2, 1.0), Duration::from_secs(1));
        assert_eq!(backoff_delay(4, 1.0), Duration::from_secs(4));
        assert_eq!(backoff_delay(20, 1.0), MAX_BACKOFF);
        assert_eq!(backoff_delay(u32::MAX, 0.0), MAX_BACKOFF / 2);
    }

    #[test]
    fn only_an_open_socket_sends_at_once() {
        assert!(ConnectionStatus::Open.is_open());
        assert!(!ConnectionStatus::Connecting.is_open());
        let closed = ConnectionStatus::Closed {
            reason: "x".into(),
            retry_in_secs: 1,
        };
        assert!(!closed.is_open());
    }

    #[test]
    fn socket_errors_are_described_in_words_with_their_code() {
        let closed = |code, reason: &str| {
            describe(&WebSocketError::ConnectionClose(
                gloo_net::websocket::events::CloseEvent {
                    code,
                    reason: reason.to_owned(),
                    was_clean: true,
                },
            ))
        };
        assert_eq!(closed(close::NORMAL, ""), "closed normally (1000)");
        assert_eq!(
            closed(close::GOING_AWAY, "bye"),
            "server shutting down (1001)"
        );
        assert_eq!(closed(1006, ""), "connection lost (1006)");
        assert_eq!(
            closed(close::INVALID_PAYLOAD, ""),
            "invalid text sent (1007)"
        );
        assert_eq!(closed(close::MESSAGE_TOO_BIG, ""), "message too big (1009)");
        assert_eq!(closed(close::HEARTBEAT_TIMEOUT, ""), "timed out (4408)");
        assert_eq!(
            closed(close::SLOW_CONSUMER, ""),
            "reading too slowly (1013)"
        );
        // Other codes: the server's reason if it gave one.
        assert_eq!(closed(4000, "custom reason"), "custom reason (4000)");
        assert_eq!(closed(4000, ""), "closed (4000)");
        assert_eq!(
            describe(&WebSocketError::ConnectionError),
            "connection error"
        );
    }
}
