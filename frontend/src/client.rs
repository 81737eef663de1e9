//! The connection to the server: a WebSocket, or when the network breaks WebSocket one of the
//! HTTP transports ([`crate::http_link`]).
//!
//! [`Connection::open`] keeps one connection open to an endpoint for as long as the handle
//! lives: it reports [`ConnectionStatus`] in a signal, hands every received text message to a
//! callback, sends queued messages in order, and after a drop reconnects with exponential
//! backoff and jitter. Dropping the handle closes the connection and ends the task.
//!
//! # Choosing a transport
//! With [`Choice::Auto`] (the chat) WebSocket is tried first. A transport counts as working
//! only once the first message arrives (the chat's `welcome`): an accepted but stalled socket
//! does not. If it cannot open, or nothing has come [`PROBE_TIMEOUT`] after it opened and the
//! first message was sent, the next is tried at once, without backoff (one that opened and
//! closed before anything was sent, e.g. a server restart while the user is on the nickname
//! screen, is not blamed: it is tried again after the backoff). Order:
//! WebSocket, Server-Sent Events + POST, long-polling + POST. The one that worked keeps the
//! normal reconnect backoff for the rest of the page's life, and is remembered for a day in
//! localStorage (per server), so a reload starts with it; after that WebSocket is probed
//! again.

use std::{cell::Cell, rc::Rc, time::Duration};

use futures::{
    FutureExt as _, SinkExt as _, StreamExt as _,
    channel::mpsc,
    future::{AbortHandle, Abortable, Either, select},
};
use gloo_net::websocket::{Message, State, WebSocketError, futures::WebSocket};
use gloo_timers::future::sleep;
use leptos::prelude::*;
use shared::{close, paths};

use crate::http_link::{Down, HttpLink, Urls};

pub use shared::transport::Transport;

/// Which transports a [`Connection`] may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The first that works, remembered (the chat).
    Auto,
    /// This one only (the Echo page's selector).
    Only(Transport),
}

/// How long a transport may take to deliver its first message before the next is tried.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(4);

/// How long the remembered transport is used before WebSocket is probed again.
const REMEMBER_MS: f64 = 24.0 * 3600.0 * 1000.0;

/// With nothing at all from the server for this long (not even a heartbeat), an HTTP link is
/// taken for dead (a WebSocket has its own heartbeat in the browser).
const HTTP_SILENCE: Duration = Duration::from_secs(45);

/// What the user should know about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// A connection is being opened.
    Connecting,
    /// The connection is open over this transport; sends go out now.
    Open(Transport),
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
        matches!(self, Self::Open(_))
    }
}

/// Something the connection tells its owner, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// A socket just opened (first time or after a reconnect).
    Opened,
    /// A text message arrived.
    Text(String),
    /// The message queued first among those not yet sent has just been handed to the
    /// transport (the Echo page times round trips from here).
    Sent,
    /// This many bytes crossed the wire, headers and framing included (the Echo page's bytes
    /// per message).
    Wire(u64),
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
    /// Starts connecting to `url` (the WebSocket URL, e.g. `ws://127.0.0.1:8080/ws/echo`; the
    /// HTTP transports' URLs are derived from it) in the background, offering the WebSocket
    /// subprotocol `protocol` if given, over the transports `choice` allows.
    ///
    /// `status` is kept up to date; `on_event` is called for every [`ConnectionEvent`].
    /// Messages are only sent on a connection that was open when they were queued: whatever is
    /// queued while none is open is dropped when one opens, so that what the owner sends on
    /// [`ConnectionEvent::Opened`] (a greeting) goes first.
    pub fn open(
        url: String,
        protocol: Option<&'static str>,
        choice: Choice,
        status: WriteSignal<ConnectionStatus>,
        on_event: impl Fn(ConnectionEvent) + 'static,
    ) -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded();
        let (task, registration) = AbortHandle::new_pair();
        let offline = Rc::new(Cell::new(false));
        let target = Target {
            urls: http_urls(&url),
            url,
            protocol,
            choice,
        };
        // Behind a pointer: the connection's loop is compiled once, not once per page.
        let on_event: Box<dyn Fn(ConnectionEvent)> = Box::new(on_event);
        let run = maintain(target, status, outbox_rx, on_event, Rc::clone(&offline));
        // wasm-bindgen's executor directly: a connection may be opened before (or without)
        // a Leptos mount, which is what initializes Leptos's own spawner.
        wasm_bindgen_futures::spawn_local(Abortable::new(run, registration).map(|_| ()));
        Self {
            outbox,
            task,
            offline,
        }
    }

    /// Queues a text message; it goes out as soon as a connection is open, in order.
    pub fn send(&self, text: String) {
        // The receiver lives as long as the task, which lives as long as `self`.
        let _ = self.outbox.unbounded_send(Outgoing::Text(text));
    }

    /// `true` drops the open connection as a network failure would and keeps the connection
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
        // Aborting drops the task's link; gloo-net closes a dropped socket, an HttpLink its
        // stream and requests.
        self.task.abort();
    }
}

/// Where a connection goes and how.
struct Target {
    url: String,
    urls: Urls,
    protocol: Option<&'static str>,
    choice: Choice,
}

/// The HTTP transports' URLs of the endpoint whose WebSocket is `ws_url`: `/ws` is the
/// chat's, `/ws/echo` the echo's.
fn http_urls(ws_url: &str) -> Urls {
    let echo = ws_url.ends_with(paths::WS_ECHO);
    let (sse, poll) = if echo {
        (paths::SSE_ECHO, paths::POLL_ECHO)
    } else {
        (paths::SSE_CHAT, paths::POLL_CHAT)
    };
    Urls {
        sse: crate::api::api_url(ws_url, sse),
        poll: crate::api::api_url(ws_url, poll),
        send: crate::api::api_url(ws_url, paths::SEND),
    }
}

/// The localStorage key of the transport remembered for the server at `url`.
fn memory_key(url: &str) -> String {
    format!("chat.transport {url}")
}

/// The transport that worked for `url` within the last day, if any.
fn remembered(url: &str) -> Option<Transport> {
    let stored = crate::browser::storage()?
        .get_item(&memory_key(url))
        .ok()??;
    let (key, until) = stored.split_once(' ')?;
    // Whole milliseconds: parsing or printing an f64 pulls kilobytes of float code into the
    // wasm.
    let until: u64 = until.parse().ok()?;
    ((js_sys::Date::now() as u64) < until).then(|| Transport::from_key(key))?
}

fn remember(url: &str, transport: Transport) {
    if let Some(storage) = crate::browser::storage() {
        let until = (js_sys::Date::now() + REMEMBER_MS) as u64;
        let value = format!("{} {until}", transport.key());
        let _ = storage.set_item(&memory_key(url), &value);
    }
}

/// An open connection, whatever its transport.
enum Link {
    Ws(WebSocket),
    Http(HttpLink),
}

async fn open_link(target: &Target, transport: Transport) -> Result<Link, String> {
    match transport {
        Transport::WebSocket => connect(&target.url, target.protocol).await.map(Link::Ws),
        Transport::Sse => HttpLink::sse(&target.urls).await.map(Link::Http),
        Transport::LongPoll => HttpLink::poll(&target.urls).await.map(Link::Http),
    }
}

/// Connects, pumps, and reconnects until aborted or the outbox is dropped.
async fn maintain(
    target: Target,
    status: WriteSignal<ConnectionStatus>,
    mut outbox: mpsc::UnboundedReceiver<Outgoing>,
    on_event: Box<dyn Fn(ConnectionEvent)>,
    offline: Rc<Cell<bool>>,
) {
    let mut failures: u32 = 0;
    // Not refreshed while it is used: a day after it was found, WebSocket gets its chance.
    let from_memory = match target.choice {
        Choice::Only(_) => None,
        Choice::Auto => remembered(&target.url),
    };
    let first = match target.choice {
        Choice::Only(transport) => transport,
        Choice::Auto => from_memory.unwrap_or(Transport::WebSocket),
    };
    let mut transport = first;
    // The transport that has worked in this page, once one has.
    let mut proven = matches!(target.choice, Choice::Only(_)).then_some(first);
    let mut blameless = false;
    loop {
        while offline.get() {
            status.set(ConnectionStatus::Closed {
                reason: crate::i18n::words().no_network.to_owned(),
                retry_in_secs: 0,
            });
            sleep(OFFLINE_POLL).await;
        }
        status.set(ConnectionStatus::Connecting);
        let probing = proven.is_none();
        // While probing, opening counts against the same deadline: a stream that never
        // names its session (a buffering proxy) is given up like a stalled socket.
        let opened = if probing {
            match select(
                open_link(&target, transport).boxed_local(),
                sleep(PROBE_TIMEOUT),
            )
            .await
            {
                Either::Left((opened, _)) => opened,
                Either::Right(_) => Err(crate::i18n::words().unreachable.to_owned()),
            }
        } else {
            open_link(&target, transport).await
        };
        let reason = match opened {
            Ok(link) => {
                // Stale messages (queued while offline) must not overtake the greeting.
                while outbox.try_recv().is_ok() {}
                status.set(ConnectionStatus::Open(transport));
                on_event(ConnectionEvent::Opened);
                // Remembered as soon as the first message arrives (the page may be closed
                // while the connection is still up).
                let memory = (probing && from_memory != Some(transport))
                    .then_some((target.url.as_str(), transport));
                let ended = pump(link, &mut outbox, &on_event, probing, memory).await;
                on_event(ConnectionEvent::Closed);
                if ended.delivered {
                    failures = 0;
                    proven.get_or_insert(transport);
                }
                // Opened, and closed before anything was asked of it (a server restart
                // while the user is still on the nickname screen): not this transport's
                // fault, so it is tried again after the usual backoff.
                blameless = !ended.delivered && !ended.asked;
                match ended.end {
                    End::OwnerGone => return,
                    End::Closed(reason) => reason,
                }
            }
            Err(reason) => reason,
        };
        if proven.is_none() && !std::mem::take(&mut blameless) {
            // Still looking: the next transport at once; after the last, back off and start
            // over with WebSocket.
            if let Some(next) = transport.next() {
                log::info!(
                    "{} failed ({reason}); trying {}",
                    transport.label(),
                    next.label()
                );
                transport = next;
                continue;
            }
            transport = Transport::WebSocket;
        }
        failures = failures.saturating_add(1);
        let delay = backoff_delay(failures, js_sys::Math::random());
        log::info!(
            "connection closed ({reason}); retrying in {} ms",
            // Whole milliseconds as u64: printing a u128 costs its own code in the wasm.
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)
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
    // gloo-net's sink is ready once the socket left the Connecting state, open or not. A
    // socket stuck connecting (a proxy that accepts and stalls) is given up on by the caller.
    let ready = futures::future::poll_fn(|cx| socket.poll_ready_unpin(cx));
    match select(ready, sleep(PROBE_TIMEOUT).boxed_local()).await {
        Either::Left((result, _)) => result.map_err(|err| describe(&err))?,
        Either::Right(_) => return Err(crate::i18n::words().unreachable.to_owned()),
    }
    match socket.state() {
        State::Open => Ok(socket),
        _ => Err(crate::i18n::words().unreachable.to_owned()),
    }
}

/// How a pump ended.
struct Ended {
    /// Whether any message came from the server (the transport works).
    delivered: bool,
    /// Whether anything was sent (the probe's clock ran).
    asked: bool,
    end: End,
}

enum End {
    /// The [`Connection`] was dropped.
    OwnerGone,
    /// The connection closed, for this reason.
    Closed(String),
}

/// What one turn of a pump saw.
enum Turn {
    /// A message, and the bytes it took where the transport does not say so itself.
    Text(String, Option<u64>),
    Alive,
    Wire(u64),
    Closed(String, Option<u16>),
}

/// Moves messages both ways until the connection closes or the owner goes away; `memory`
/// names the server and the transport to remember once it works. While `probing`, also
/// until [`PROBE_TIMEOUT`] has passed since the first message sent without an answer (the
/// clock starts at the first send: the chat says hello only once the user has picked a
/// nickname, and a socket is not blamed for the user's pause).
async fn pump(
    link: Link,
    outbox: &mut mpsc::UnboundedReceiver<Outgoing>,
    on_event: &dyn Fn(ConnectionEvent),
    probing: bool,
    memory: Option<(&str, Transport)>,
) -> Ended {
    let mut delivered = false;
    let mut deadline: Option<f64> = None;
    let (mut sink, mut stream, http) = match link {
        Link::Ws(socket) => {
            let (sink, stream) = socket.split();
            (Some(sink), Some(stream), None)
        }
        Link::Http(link) => (None, None, Some(link)),
    };
    let mut http = http;
    let http_up = http.as_ref().map(HttpLink::sender);
    let end = |delivered, asked: &Option<f64>, reason| Ended {
        delivered,
        asked: asked.is_some(),
        end: End::Closed(reason),
    };
    loop {
        // The next thing from the server, as one future whatever the transport.
        let incoming = async {
            if let Some(stream) = stream.as_mut() {
                return match stream.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let wire = ws_frame_bytes(text.len(), false);
                        Turn::Text(text, Some(wire))
                    }
                    Some(Ok(Message::Bytes(bytes))) => {
                        log::warn!("ignoring unexpected {}-byte binary frame", bytes.len());
                        Turn::Alive
                    }
                    Some(Err(err)) => {
                        let code = match &err {
                            WebSocketError::ConnectionClose(event) => Some(event.code),
                            _ => None,
                        };
                        Turn::Closed(describe(&err), code)
                    }
                    None => Turn::Closed(crate::i18n::words().close_other.to_owned(), None),
                };
            }
            let Some(link) = http.as_mut() else {
                return Turn::Closed(crate::i18n::words().close_other.to_owned(), None);
            };
            let silence = sleep(HTTP_SILENCE).boxed_local();
            match select(link.next().boxed_local(), silence).await {
                Either::Left((Some(Down::Text(text)), _)) => Turn::Text(text, None),
                Either::Left((Some(Down::Alive), _)) => Turn::Alive,
                Either::Left((Some(Down::Wire(bytes)), _)) => Turn::Wire(bytes),
                Either::Left((Some(Down::Closed(code, reason)), _)) => {
                    Turn::Closed(describe_code(code, &reason), Some(code))
                }
                Either::Left((None, _)) | Either::Right(_) => {
                    Turn::Closed(describe_code(1006, ""), None)
                }
            }
        };
        let waited = match deadline.filter(|_| !delivered) {
            Some(at) => {
                let left = (at - crate::browser::now_ms()).max(0.0);
                let timer = sleep(Duration::from_millis(left as u64)).boxed_local();
                match select(select(incoming.boxed_local(), outbox.next()), timer).await {
                    Either::Left((inner, _)) => inner,
                    Either::Right(_) => {
                        return end(
                            false,
                            &deadline,
                            crate::i18n::words().unreachable.to_owned(),
                        );
                    }
                }
            }
            None => select(incoming.boxed_local(), outbox.next()).await,
        };
        match waited {
            Either::Left((Turn::Text(text, wire), _)) => {
                if !delivered && let Some((url, transport)) = memory {
                    remember(url, transport);
                }
                delivered = true;
                // The message first: the Echo page takes its arrival time there.
                on_event(ConnectionEvent::Text(text));
                if let Some(bytes) = wire {
                    on_event(ConnectionEvent::Wire(bytes));
                }
            }
            Either::Left((Turn::Alive, _)) => {}
            Either::Left((Turn::Wire(bytes), _)) => on_event(ConnectionEvent::Wire(bytes)),
            Either::Left((Turn::Closed(reason, code), _)) => {
                if code == Some(close::UNAUTHENTICATED) {
                    on_event(ConnectionEvent::Unauthenticated);
                }
                return end(delivered, &deadline, reason);
            }
            Either::Right((Some(Outgoing::Text(text)), _)) => {
                if probing && deadline.is_none() {
                    deadline =
                        Some(crate::browser::now_ms() + PROBE_TIMEOUT.as_secs_f64() * 1000.0);
                }
                if let Some(sink) = sink.as_mut() {
                    on_event(ConnectionEvent::Sent);
                    on_event(ConnectionEvent::Wire(ws_frame_bytes(text.len(), true)));
                    if let Err(err) = sink.send(Message::Text(text)).await {
                        return end(delivered, &deadline, describe(&err));
                    }
                } else if let Some(up) = http_up.as_ref() {
                    on_event(ConnectionEvent::Sent);
                    let _ = up.unbounded_send(text);
                }
            }
            Either::Right((Some(Outgoing::Interrupt), _)) => {
                return end(
                    delivered,
                    &deadline,
                    crate::i18n::words().interrupted.to_owned(),
                );
            }
            Either::Right((None, _)) => {
                return Ended {
                    delivered,
                    asked: deadline.is_some(),
                    end: End::OwnerGone,
                };
            }
        }
    }
}

/// The bytes of a WebSocket frame carrying `len` bytes (RFC 6455 5.2): 2 header bytes, 2 or
/// 8 more for a longer length, 4 of mask from a client.
fn ws_frame_bytes(len: usize, from_client: bool) -> u64 {
    let length = match len {
        0..=125 => 0,
        126..=65_535 => 2,
        _ => 8,
    };
    (2 + length + if from_client { 4 } else { 0 } + len) as u64
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
    match err {
        WebSocketError::ConnectionClose(event) => describe_code(event.code, &event.reason),
        // ConnectionError, a failed send, and whatever variant gloo-net adds later.
        _ => crate::i18n::words().connection_error.to_owned(),
    }
}

/// Human words for a close code (and the server's reason, for codes without words of their
/// own), with the code.
fn describe_code(code: u16, reason: &str) -> String {
    let w = crate::i18n::words();
    let what = match code {
        close::NORMAL => w.close_normal,
        close::GOING_AWAY => w.close_going_away,
        // Browsers report an abnormal end (no close frame) as 1006; never on the wire.
        1006 => w.close_lost,
        close::INVALID_PAYLOAD => w.close_invalid_text,
        close::MESSAGE_TOO_BIG => w.close_too_big,
        close::HEARTBEAT_TIMEOUT => w.close_timed_out,
        close::UNAUTHENTICATED => w.close_not_logged_in,
        close::BANNED => w.close_banned,
        close::SLOW_CONSUMER => w.close_slow,
        _ if !reason.is_empty() => reason,
        _ => w.close_other,
    };
    format!("{what} ({code})")
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
        assert!(ConnectionStatus::Open(Transport::Sse).is_open());
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
