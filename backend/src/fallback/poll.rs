//! `GET /poll`: a session whose events are fetched by long-polls.
//!
//! The link keeps the events the client has not acknowledged, numbered from 1. A poll
//! (`?session=ID&ack=N`) first drops events up to `N`, then is answered at once with every
//! event left, or waits until one comes or [`POLL_WAIT`](super::registry::POLL_WAIT) passes (an empty answer). So a lost
//! answer is sent again, not lost: its events stay until a later poll acknowledges them.
//!
//! The queue holds at most `--outbox-capacity` events; past that the link stops taking the
//! hub's frames, the connection's outbox fills, and the hub cuts it off as a slow reader
//! (close 1013), as with a socket that is not read. A session without a poll waiting ends
//! after the client timeout, leaving its rooms like a closed socket.

use std::{collections::VecDeque, sync::Arc, time::Duration};

use actix_web::{HttpResponse, HttpResponseBuilder, web::Bytes};
use actix_ws::CloseReason;
use bytestring::ByteString;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use tokio_util::sync::CancellationToken;

use super::registry::{
    Batches, POLL_WAIT, PollAnswer, PollRequest, Registered, SESSION_QUEUE, ToSession,
};
use crate::{
    error::SessionError,
    link::{Inbound, Link},
    metrics::{Endpoint, Metrics},
    outgoing::Frame,
    state::AppState,
};

/// The session side of a long-polled session.
pub struct PollLink {
    requests: mpsc::Receiver<ToSession>,
    batches: Batches,
    /// The hub's frames (`None` for echo, and once the hub has dropped its sender).
    outbox: Option<mpsc::Receiver<Frame>>,
    /// Unacknowledged events; `queue[0]` is number `first`.
    queue: VecDeque<Bytes>,
    first: u64,
    capacity: usize,
    waiter: Option<(oneshot::Sender<PollAnswer>, Instant)>,
    /// When the last poll was answered (or the session opened).
    idle_since: Instant,
    wait: Duration,
    timeout: Duration,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
    endpoint: Endpoint,
    registered: Registered,
}

impl PollLink {
    /// A new session's link. `outbox` is the hub's queue for a chat session, `None` for echo.
    pub fn open(state: &AppState, outbox: Option<mpsc::Receiver<Frame>>) -> Self {
        let (requests_tx, requests) = mpsc::channel(SESSION_QUEUE);
        let registered = state.fallback.insert(requests_tx);
        let endpoint = if outbox.is_some() {
            Endpoint::Chat
        } else {
            Endpoint::Echo
        };
        Self {
            requests,
            batches: Batches::default(),
            outbox,
            queue: VecDeque::new(),
            first: 1,
            capacity: state.config.outbox_capacity,
            waiter: None,
            idle_since: Instant::now(),
            wait: POLL_WAIT.min(state.config.client_timeout),
            timeout: state.config.client_timeout,
            shutdown: state.shutdown.clone(),
            metrics: Arc::clone(&state.metrics),
            endpoint,
            registered,
        }
    }

    /// The answer to the request that opened the session: its id, no events yet.
    pub fn first_answer(&self) -> String {
        self.body(None)
    }

    /// A String, not bytes: it travels as one to another node in cluster mode
    /// ([`super::relay`]), and becomes a response body without a copy.
    fn body(&self, close: Option<&CloseReason>) -> String {
        let size: usize = self.queue.iter().map(|event| event.len() + 1).sum();
        let mut body = Vec::with_capacity(size + 96);
        body.extend_from_slice(b"{\"session\":\"");
        body.extend_from_slice(self.registered.id.as_bytes());
        body.extend_from_slice(b"\",\"seq\":");
        body.extend_from_slice(self.first.to_string().as_bytes());
        body.extend_from_slice(b",\"events\":[");
        for (i, event) in self.queue.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(event);
        }
        body.push(b']');
        if let Some(reason) = close {
            let close = serde_json::json!({
                "code": u16::from(reason.code),
                "reason": reason.description.as_deref().unwrap_or(""),
            });
            body.extend_from_slice(b",\"close\":");
            body.extend_from_slice(close.to_string().as_bytes());
        }
        body.push(b'}');
        // Every part is UTF-8 (the events are the JSON of text frames); the check does not copy.
        String::from_utf8(body)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned())
    }

    /// A poll arrived: drop what it acknowledges; it is now the one waiting (a previous one
    /// is told it was replaced).
    fn attach(&mut self, poll: PollRequest) {
        while self.first <= poll.ack && self.queue.pop_front().is_some() {
            self.first += 1;
        }
        if let Some((previous, _)) = self.waiter.take() {
            let _ = previous.send(PollAnswer::Replaced);
        }
        self.waiter = Some((poll.reply, Instant::now() + self.wait));
    }

    /// Answers the waiting poll (if any) with every unacknowledged event.
    fn answer(&mut self, close: Option<&CloseReason>) {
        if let Some((reply, _)) = self.waiter.take() {
            let body = self.body(close);
            let sent: usize = self.queue.iter().map(Bytes::len).sum();
            // A poll whose client gave up is simply not answered: its events stay queued.
            if reply.send(PollAnswer::Events(body)).is_ok() {
                self.metrics.sent(self.endpoint, sent);
            }
            self.idle_since = Instant::now();
        }
    }

    /// Moves what the hub has queued into the event queue, up to its capacity.
    fn take_frames(&mut self, frame: Frame) {
        self.queue.push_back(frame.payload_bytes());
        while self.queue.len() < self.capacity {
            let Some(outbox) = self.outbox.as_mut() else {
                break;
            };
            match outbox.try_recv() {
                Ok(frame) => self.queue.push_back(frame.payload_bytes()),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.outbox = None,
            }
        }
    }
}

/// The next frame of an outbox, or never when there is none.
async fn next_frame(outbox: Option<&mut mpsc::Receiver<Frame>>) -> Option<Frame> {
    match outbox {
        Some(outbox) => outbox.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

impl Link for PollLink {
    async fn recv(&mut self) -> Result<Inbound, SessionError> {
        loop {
            if let Some(text) = self.batches.take() {
                return Ok(Inbound::Text(text));
            }
            let room = self.queue.len() < self.capacity;
            let deadline = self.waiter.as_ref().map(|(_, at)| *at);
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(ToSession::Post(post)) => self.batches.accept(post),
                    Some(ToSession::Poll(poll)) => {
                        self.attach(poll);
                        if !self.queue.is_empty() {
                            self.answer(None);
                        }
                    }
                    None => return Ok(Inbound::Vanished),
                },
                frame = next_frame(self.outbox.as_mut()), if room => match frame {
                    Some(frame) => {
                        self.take_frames(frame);
                        self.answer(None);
                    }
                    None => self.outbox = None,
                },
                () = until(deadline) => self.answer(None),
            }
        }
    }

    async fn text(&mut self, text: ByteString) -> Result<(), SessionError> {
        self.queue.push_back(text.into_bytes());
        self.answer(None);
        Ok(())
    }

    async fn binary(&mut self, _bytes: Bytes) -> Result<(), SessionError> {
        // POST carries text only; nothing binary ever arrives to be echoed.
        Ok(())
    }

    async fn heartbeat(&mut self) -> Result<(), SessionError> {
        if self
            .waiter
            .as_ref()
            .is_some_and(|(reply, _)| reply.is_closed())
        {
            // Its client went away without an answer; the events stay for the next poll.
            self.waiter = None;
            self.idle_since = Instant::now();
        }
        if self.waiter.is_none() && self.idle_since.elapsed() > self.timeout {
            return Err(SessionError::HeartbeatTimeout);
        }
        Ok(())
    }

    async fn close(mut self, reason: Option<CloseReason>) {
        let Some(reason) = reason else {
            return;
        };
        if self.waiter.is_some() {
            self.answer(Some(&reason));
            return;
        }
        if self.shutdown.is_cancelled() {
            return;
        }
        // Nobody is polling right now: the next poll, if it comes within the client timeout,
        // learns why the session ended.
        let give_up = Instant::now() + self.timeout;
        loop {
            tokio::select! {
                request = self.requests.recv() => match request {
                    Some(ToSession::Poll(poll)) => {
                        self.attach(poll);
                        self.answer(Some(&reason));
                        return;
                    }
                    // Batches after the end are not applied; the POST learns the session is gone.
                    Some(ToSession::Post(_)) => {}
                    None => return,
                },
                () = tokio::time::sleep_until(give_up) => return,
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}

/// A poll's response.
pub fn response(mut builder: HttpResponseBuilder, body: String) -> HttpResponse {
    builder
        .content_type("application/json")
        .insert_header(("cache-control", "no-store"))
        .body(body)
}
