//! `GET /sse`: a session whose events stream down as `text/event-stream`.
//!
//! The body writes the session's own events first (the `session` event, errors, pings, the
//! `close`), then the hub's frames from the connection's outbox, each as the `data:` of one
//! event: exactly the JSON a WebSocket frame carries, encoded once per broadcast (the body
//! takes the payload out of the shared [`Frame`]). Whatever is queued when the connection
//! asks for more goes out as one chunk. The session lives as long as the stream: when the
//! client drops it the session ends like a vanished socket, and a new stream is a new session
//! (the app resumes with `since`, as after any reconnect).

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    HttpResponse, HttpResponseBuilder,
    body::{BodySize, MessageBody},
    web::{Bytes, BytesMut},
};
use actix_ws::CloseReason;
use bytestring::ByteString;
use tokio::sync::mpsc;

use super::registry::{Batches, PollAnswer, Registered, Registry, SESSION_QUEUE, ToSession};
use crate::{
    error::SessionError,
    link::{Inbound, Link},
    metrics::{Endpoint, Metrics},
    outgoing::Frame,
};

/// How many of the session's own events may wait for the stream.
const OWN_QUEUE: usize = 16;

/// The session side of an SSE stream.
pub struct SseLink {
    requests: mpsc::Receiver<ToSession>,
    batches: Batches,
    own: mpsc::Sender<Bytes>,
    /// A place in `own` kept from the start for the `close` event, so a stream nobody reads
    /// (its queue full of pings) is still told why it was cut.
    close_place: Option<mpsc::OwnedPermit<Bytes>>,
    _registered: Registered,
}

/// A new SSE session: its link, and the response body (which starts with the `session`
/// event). `outbox` is the hub's queue for a chat session, `None` for echo.
pub fn open(
    registry: &Arc<Registry>,
    outbox: Option<mpsc::Receiver<Frame>>,
    metrics: Arc<Metrics>,
) -> (SseLink, SseBody) {
    let (requests_tx, requests) = mpsc::channel(SESSION_QUEUE);
    let registered = registry.insert(requests_tx);
    let (own, own_rx) = mpsc::channel(OWN_QUEUE + 1);
    // (A new channel with room: the place is always there.)
    let close_place = own.clone().try_reserve_owned().ok();
    let first = format!(
        "event: session\ndata: {{\"session\":\"{}\"}}\n\n",
        registered.id
    );
    let endpoint = if outbox.is_some() {
        Endpoint::Chat
    } else {
        Endpoint::Echo
    };
    let body = SseBody {
        first: Some(Bytes::from(first)),
        own: own_rx,
        outbox,
        metrics,
        endpoint,
    };
    let link = SseLink {
        requests,
        batches: Batches::default(),
        own,
        close_place,
        _registered: registered,
    };
    (link, body)
}

/// The streaming response: headers that keep proxies from buffering or compressing it.
pub fn response(mut builder: HttpResponseBuilder, body: SseBody) -> HttpResponse {
    builder
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache, no-transform"))
        .insert_header(("x-accel-buffering", "no"))
        .body(body)
}

/// One event's bytes: the type line (unless it is a plain message) and the data, one `data:`
/// line per line of `text` (a chat event's JSON has none; an echo's text may).
fn event(kind: Option<&str>, text: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(text.len() + 24);
    if let Some(kind) = kind {
        buf.extend_from_slice(b"event: ");
        buf.extend_from_slice(kind.as_bytes());
        buf.extend_from_slice(b"\n");
    }
    for line in text.split('\n') {
        buf.extend_from_slice(b"data: ");
        buf.extend_from_slice(line.trim_end_matches('\r').as_bytes());
        buf.extend_from_slice(b"\n");
    }
    buf.extend_from_slice(b"\n");
    buf.freeze()
}

/// The `close` event: the code and reason a WebSocket's close frame would carry.
pub fn close_event(reason: Option<&CloseReason>) -> Bytes {
    let (code, description) = reason.map_or((1000, ""), |r| {
        (u16::from(r.code), r.description.as_deref().unwrap_or(""))
    });
    let data = serde_json::json!({ "code": code, "reason": description });
    event(Some("close"), &data.to_string())
}

impl SseLink {
    async fn write(&mut self, bytes: Bytes) -> Result<(), SessionError> {
        self.own
            .send(bytes)
            .await
            .map_err(|_| SessionError::Closed(actix_ws::Closed))
    }
}

impl Link for SseLink {
    async fn recv(&mut self) -> Result<Inbound, SessionError> {
        loop {
            if let Some(text) = self.batches.take() {
                return Ok(Inbound::Text(text));
            }
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(ToSession::Post(post)) => self.batches.accept(post),
                    Some(ToSession::Poll(poll)) => {
                        let _ = poll.reply.send(PollAnswer::NotPolled);
                    }
                    None => return Ok(Inbound::Vanished),
                },
                // The stream's body is gone: the client closed the connection.
                () = self.own.closed() => return Ok(Inbound::Vanished),
            }
        }
    }

    async fn text(&mut self, text: ByteString) -> Result<(), SessionError> {
        self.write(event(None, &text)).await
    }

    async fn binary(&mut self, _bytes: Bytes) -> Result<(), SessionError> {
        // POST carries text only; nothing binary ever arrives to be echoed.
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), SessionError> {
        // The peer's liveness is the stream's: a dropped stream ends the session (`recv`), a
        // stalled one fills the outbox and is cut off as a slow reader.
        self.write(Bytes::from_static(b"event: ping\ndata: \n\n"))
            .await
    }

    async fn close(mut self, reason: Option<CloseReason>) {
        let event = close_event(reason.as_ref());
        // The kept place never waits; the body sends what is queued, this last, then ends
        // (dropping the link drops the senders).
        match self.close_place.take() {
            Some(place) => {
                place.send(event);
            }
            None => {
                let _ = tokio::time::timeout(Duration::from_secs(1), self.write(event)).await;
            }
        }
    }
}

/// The `text/event-stream` body: the session's own events first, then the hub's frames.
pub struct SseBody {
    first: Option<Bytes>,
    own: mpsc::Receiver<Bytes>,
    /// `None` for echo, and once the hub has dropped its sender.
    outbox: Option<mpsc::Receiver<Frame>>,
    metrics: Arc<Metrics>,
    endpoint: Endpoint,
}

impl MessageBody for SseBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        if let Some(first) = this.first.take() {
            return Poll::Ready(Some(Ok(first)));
        }
        let mut chunk = BytesMut::new();
        loop {
            match this.own.poll_recv(cx) {
                Poll::Ready(Some(bytes)) => chunk.extend_from_slice(&bytes),
                // The session has ended (its close event, if any, is in `chunk`).
                Poll::Ready(None) if chunk.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) => return Poll::Ready(Some(Ok(chunk.freeze()))),
                Poll::Pending => break,
            }
        }
        while let Some(outbox) = this.outbox.as_mut() {
            match outbox.poll_recv(cx) {
                Poll::Ready(Some(frame)) => {
                    let payload = frame.payload();
                    this.metrics.sent(this.endpoint, payload.len());
                    chunk.reserve(payload.len() + 8);
                    chunk.extend_from_slice(b"data: ");
                    chunk.extend_from_slice(payload);
                    chunk.extend_from_slice(b"\n\n");
                    // Bound the chunk so one wake-up does not copy an entire backlog.
                    if chunk.len() >= 64 * 1024 {
                        break;
                    }
                }
                // Removed by the hub: the session's close event is on its way.
                Poll::Ready(None) => this.outbox = None,
                Poll::Pending => break,
            }
        }
        if chunk.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(Some(Ok(chunk.freeze())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_put_each_line_of_text_in_its_own_data_field() {
        assert_eq!(&event(None, "{\"a\":1}")[..], b"data: {\"a\":1}\n\n");
        assert_eq!(&event(Some("ping"), "")[..], b"event: ping\ndata: \n\n");
        assert_eq!(
            &event(None, "a\r\nb\nc")[..],
            b"data: a\ndata: b\ndata: c\n\n"
        );
    }
}
