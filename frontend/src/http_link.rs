//! The HTTP transports, for networks that break WebSocket: Server-Sent Events or long-polling
//! downstream, POST upstream (docs/PROTOCOL.md, "HTTP fallbacks").
//!
//! An [`HttpLink`] looks like a socket to [`crate::client`]: text messages in order, then one
//! end with its reason. The `EventSource` is used through web-sys (gloo's hides the named
//! events and cannot send credentials); requests go through gloo-net's `fetch`, with
//! credentials, so the session cookie counts as on the socket's handshake.

use futures::{
    FutureExt as _, StreamExt as _,
    channel::mpsc,
    future::{AbortHandle, Abortable},
};
use gloo_timers::future::sleep;
use js_sys::{JSON, Reflect};
use wasm_bindgen::{JsCast as _, JsValue, closure::Closure};
use web_sys::{EventSource, EventSourceInit, MessageEvent, Response};

/// What comes down an [`HttpLink`].
pub enum Down {
    /// A message (exactly the JSON a WebSocket frame carries).
    Text(String),
    /// The server is there (an SSE `ping`, an empty poll): nothing to hand on.
    Alive,
    /// This many bytes crossed the wire (request and response, headers included).
    Wire(u64),
    /// The session ended: the close code (1006 when the connection was lost) and reason.
    Closed(u16, String),
}

/// The URLs of one endpoint's HTTP transports.
pub struct Urls {
    /// `GET`: the event stream.
    pub sse: String,
    /// `GET`: opens, then polls, a long-polled session.
    pub poll: String,
    /// `POST`: batches of messages.
    pub send: String,
}

/// A session over HTTP; dropping it closes the stream and stops its requests.
pub struct HttpLink {
    down: mpsc::UnboundedReceiver<Down>,
    up: mpsc::UnboundedSender<String>,
    /// The request loops (poll, POST), aborted on drop.
    tasks: Vec<AbortHandle>,
    source: Option<EventSource>,
    /// The SSE listeners, kept alive as long as the stream.
    _listeners: Vec<Closure<dyn FnMut(MessageEvent)>>,
}

impl Drop for HttpLink {
    fn drop(&mut self) {
        if let Some(source) = &self.source {
            source.close();
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl HttpLink {
    /// The next thing from the server; `None` only after [`Down::Closed`].
    pub async fn next(&mut self) -> Option<Down> {
        self.down.next().await
    }

    /// Where messages are queued; they are POSTed in order, in batches.
    pub fn sender(&self) -> mpsc::UnboundedSender<String> {
        self.up.clone()
    }

    /// Opens an SSE session: resolves once the stream has named it.
    pub async fn sse(urls: &Urls) -> Result<Self, String> {
        let init = EventSourceInit::new();
        init.set_with_credentials(true);
        let source = EventSource::new_with_event_source_init_dict(&urls.sse, &init)
            .map_err(|_| format!("bad URL {}", urls.sse))?;
        let (down_tx, mut down) = mpsc::unbounded();
        let (session_tx, mut session_rx) = mpsc::unbounded::<String>();
        let mut listeners = Vec::new();
        let mut listen = |kind: &str, handler: Box<dyn FnMut(MessageEvent)>| {
            let closure = Closure::wrap(handler);
            let _ = source.add_event_listener_with_callback(kind, closure.as_ref().unchecked_ref());
            listeners.push(closure);
        };
        listen(
            "session",
            Box::new(move |event: MessageEvent| {
                let id = field(&parse(&data(&event)), "session").as_string();
                let _ = session_tx.unbounded_send(id.unwrap_or_default());
            }),
        );
        let tx = down_tx.clone();
        listen(
            "message",
            Box::new(move |event: MessageEvent| {
                let text = data(&event);
                let bytes = sse_event_bytes(text.len());
                let _ = tx.unbounded_send(Down::Text(text));
                let _ = tx.unbounded_send(Down::Wire(bytes));
            }),
        );
        let tx = down_tx.clone();
        listen(
            "ping",
            Box::new(move |_| {
                let _ = tx.unbounded_send(Down::Alive);
            }),
        );
        let tx = down_tx.clone();
        listen(
            "close",
            Box::new(move |event: MessageEvent| {
                let _ = tx.unbounded_send(closed_from(&parse(&data(&event))));
            }),
        );
        let tx = down_tx.clone();
        let errored = source.clone();
        listen(
            "error",
            Box::new(move |_| {
                // EventSource would reconnect by itself, to a new session nobody knows;
                // the connection decides what happens next.
                errored.close();
                let _ = tx.unbounded_send(Down::Closed(1006, String::new()));
            }),
        );
        // The first event names the session; an error before it means no stream.
        let session = futures::select! {
            id = session_rx.next() => id.unwrap_or_default(),
            first = down.next() => {
                source.close();
                return Err(match first {
                    Some(Down::Closed(_, reason)) if !reason.is_empty() => reason,
                    _ => crate::i18n::words().unreachable.to_owned(),
                });
            }
        };
        let (up, posts) = mpsc::unbounded();
        let poster = spawn(post_loop(urls.send.clone(), session, posts, down_tx));
        Ok(Self {
            down,
            up,
            tasks: vec![poster],
            source: Some(source),
            _listeners: listeners,
        })
    }

    /// Opens a long-polled session: resolves once the server has named it.
    pub async fn poll(urls: &Urls) -> Result<Self, String> {
        let (opened, _) = get(&urls.poll)
            .await
            .map_err(|_| crate::i18n::words().unreachable.to_owned())?;
        let session = field(&opened, "session")
            .as_string()
            .ok_or_else(|| crate::i18n::words().unreachable.to_owned())?;
        let (down_tx, down) = mpsc::unbounded();
        let (up, posts) = mpsc::unbounded();
        let base = format!("{}?session={session}", urls.poll);
        let poller = spawn(poll_loop(base, down_tx.clone()));
        let poster = spawn(post_loop(urls.send.clone(), session, posts, down_tx));
        Ok(Self {
            down,
            up,
            tasks: vec![poller, poster],
            source: None,
            _listeners: Vec::new(),
        })
    }
}

/// Runs `task` until it ends or the returned handle aborts it.
fn spawn(task: impl Future<Output = ()> + 'static) -> AbortHandle {
    let (handle, registration) = AbortHandle::new_pair();
    wasm_bindgen_futures::spawn_local(Abortable::new(task, registration).map(|_| ()));
    handle
}

/// An event's `data`.
fn data(event: &MessageEvent) -> String {
    event.data().as_string().unwrap_or_default()
}

fn parse(text: &str) -> JsValue {
    JSON::parse(text).unwrap_or(JsValue::NULL)
}

fn field(object: &JsValue, name: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// A `close` (`{"code":…,"reason":…}`) as a [`Down::Closed`].
fn closed_from(close: &JsValue) -> Down {
    let code = field(close, "code").as_f64().map_or(1006, |c| c as u16);
    Down::Closed(code, field(close, "reason").as_string().unwrap_or_default())
}

/// The bytes of one SSE event carrying `len` bytes of data, in its own chunk: the chunk's
/// size line and end, `data: `, the data, the blank line.
fn sse_event_bytes(len: usize) -> u64 {
    let chunk = len + 8;
    let size_line = format!("{chunk:x}").len() + 2;
    (size_line + chunk + 2) as u64
}

/// The bytes a finished request to `url` took: the request as the server counted it
/// (`x-request-bytes`) and the response as the browser did (Resource Timing).
fn wire_bytes(url: &str, response: &Response) -> u64 {
    let up: u64 = response
        .headers()
        .get("x-request-bytes")
        .ok()
        .flatten()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let Some(performance) = web_sys::window().and_then(|w| w.performance()) else {
        return up;
    };
    let entries = performance.get_entries_by_name(url);
    let down = entries
        .get(entries.length().saturating_sub(1))
        .dyn_into::<web_sys::PerformanceResourceTiming>()
        .map_or(0.0, |entry| entry.transfer_size());
    // The browser keeps 250 entries unless told otherwise; a chat polls all day.
    if performance.get_entries_by_type("resource").length() > 200 {
        performance.clear_resource_timings();
    }
    up + down as u64
}

/// `GET url` with credentials, parsed as JSON, with the bytes it took; `Err(status)` (0: no
/// answer) otherwise.
async fn get(url: &str) -> Result<(JsValue, u64), u16> {
    let response = crate::fetch::send("GET", url, &[], None)
        .await
        .map_err(|_| 0u16)?;
    if response.status() != 200 {
        return Err(response.status());
    }
    let text = crate::fetch::text(&response).await.map_err(|_| 0u16)?;
    let bytes = wire_bytes(url, &response);
    JSON::parse(&text)
        .map(|json| (json, bytes))
        .map_err(|_| 0u16)
}

/// Polls until the session closes: each answer's events, in order and once (the `ack` names
/// the last one received, so a lost answer comes again).
async fn poll_loop(base: String, down: mpsc::UnboundedSender<Down>) {
    let mut ack = 0u64;
    let mut failures = 0u32;
    loop {
        let (answer, bytes) = match get(&format!("{base}&ack={ack}")).await {
            Ok(answered) => answered,
            // One lost answer is retried at once; the next loss ends the session.
            Err(0) if failures == 0 => {
                failures += 1;
                continue;
            }
            Err(status) => {
                let reason = if status == 404 { "session expired" } else { "" };
                let _ = down.unbounded_send(Down::Closed(1006, reason.to_owned()));
                return;
            }
        };
        failures = 0;
        let first = field(&answer, "seq").as_f64().unwrap_or(1.0) as u64;
        let events: js_sys::Array = field(&answer, "events").unchecked_into();
        let mut handed = false;
        for (i, event) in events.iter().enumerate() {
            let number = first + i as u64;
            if number <= ack {
                continue;
            }
            ack = number;
            handed = true;
            let text = JSON::stringify(&event)
                .map(String::from)
                .unwrap_or_default();
            let _ = down.unbounded_send(Down::Text(text));
        }
        if !handed {
            let _ = down.unbounded_send(Down::Alive);
        }
        // After the messages: the Echo page times their arrival first.
        let _ = down.unbounded_send(Down::Wire(bytes));
        let close = field(&answer, "close");
        if close.is_object() {
            let _ = down.unbounded_send(closed_from(&close));
            return;
        }
    }
}

/// POSTs what is queued, one numbered batch at a time; a failed POST is retried with the same
/// number (the server applies it once). A refused one ends the session.
async fn post_loop(
    url: String,
    session: String,
    mut posts: mpsc::UnboundedReceiver<String>,
    down: mpsc::UnboundedSender<Down>,
) {
    let mut batch = 0u64;
    while let Some(first) = posts.next().await {
        let mut messages = vec![first];
        while let Ok(more) = posts.try_recv() {
            messages.push(more);
        }
        batch += 1;
        let body = format!("[{}]", messages.join(","));
        let target = format!("{url}?session={session}&batch={batch}");
        let mut attempt = 0;
        loop {
            // text/plain: a "simple" cross-origin request, without a preflight.
            let headers = [("content-type", "text/plain;charset=UTF-8")];
            let sent = crate::fetch::send("POST", &target, &headers, Some(&body)).await;
            let status = match sent {
                Ok(response) => {
                    let bytes = wire_bytes(&target, &response);
                    let _ = down.unbounded_send(Down::Wire(bytes));
                    response.status()
                }
                Err(_) => 0,
            };
            match status {
                204 => break,
                0 if attempt < 3 => {
                    attempt += 1;
                    sleep(std::time::Duration::from_millis(250 * attempt)).await;
                }
                _ => {
                    let _ = down.unbounded_send(Down::Closed(1006, String::new()));
                    return;
                }
            }
        }
    }
}
