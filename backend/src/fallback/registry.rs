//! The running sessions of the HTTP transports, by id, and what a request hands one: a
//! POSTed batch ([`post_here`]), a long-poll ([`poll_here`]), a probe ([`probe_here`]). No
//! HTTP here: the routes in `mod.rs` and the cluster relay (`relay.rs`) both reach sessions
//! through it.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytestring::ByteString;
use tokio::sync::{mpsc, oneshot};

/// A node's name: 16 hex digits (64 random bits) in front of its sessions' ids ([`super::relay`]).
pub const NODE_LEN: usize = 16;

/// How many requests (POSTs, polls) may wait for a session before the next is refused.
pub(super) const SESSION_QUEUE: usize = 8;

/// The running sessions of the HTTP transports, by id.
///
/// Each entry is put here by its link and taken out when the link is dropped ([`Registered`]);
/// the lock is never held across an `.await`.
#[derive(Default)]
pub struct Registry {
    sessions: Mutex<HashMap<String, mpsc::Sender<ToSession>>>,
    /// In cluster mode, this node's name (16 hex digits), which starts its sessions' ids so
    /// that any node can tell where a session lives ([`relay`]).
    node: Option<String>,
}

impl Registry {
    /// An empty registry; `node` names this node in cluster mode.
    pub fn new(node: Option<String>) -> Self {
        Self {
            sessions: Mutex::default(),
            node,
        }
    }

    /// This node's name, in cluster mode.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// The node a session id names, if it is another node's.
    pub(super) fn owner_elsewhere<'a>(&self, id: &'a str) -> Option<&'a str> {
        let owner = id.get(..NODE_LEN).filter(|_| id.len() == NODE_LEN + 32)?;
        (Some(owner) != self.node()).then_some(owner)
    }

    pub(super) fn insert(self: &Arc<Self>, sender: mpsc::Sender<ToSession>) -> Registered {
        let id = format!("{}{}", self.node().unwrap_or(""), new_session_id());
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), sender);
        Registered {
            registry: Arc::clone(self),
            id,
        }
    }

    pub(super) fn get(&self, id: &str) -> Option<mpsc::Sender<ToSession>> {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// How many sessions are running.
    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no session is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A session's place in the [`Registry`], given back when dropped.
pub(super) struct Registered {
    registry: Arc<Registry>,
    pub(super) id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

/// 128 random bits from the OS, as 32 hex digits.
pub(super) fn new_session_id() -> String {
    // The OS's random source failing is not something a server can work around.
    crate::ids::random_hex(16).unwrap_or_else(|err| panic!("no random numbers: {err}"))
}

/// What an HTTP request hands a running session.
pub(super) enum ToSession {
    /// A POSTed batch of messages.
    Post(Post),
    /// A long-poll waiting for events.
    Poll(PollRequest),
}

/// A numbered batch of the client's messages (`POST /send`).
pub(super) struct Post {
    batch: u64,
    messages: Vec<ByteString>,
    reply: oneshot::Sender<PostOutcome>,
}

/// What became of a [`Post`].
pub(super) enum PostOutcome {
    /// Applied now, or earlier (a retried batch).
    Applied,
    /// Not the next batch: the session expects `expected` first.
    OutOfOrder { expected: u64 },
}

/// What a POST or a poll came to, on whichever node holds its session; what the HTTP answer
/// says ([`Outcome::response`]).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    /// 204: the batch is applied.
    Applied,
    /// 409: the batch came before `expected`.
    OutOfOrder(u64),
    /// 409: the session's queue is full (several batches at once).
    Busy,
    /// 404: no such session.
    Unknown,
    /// 200: a poll's answer (its JSON body).
    Events(String),
    /// 409: a newer poll took this one's place.
    Replaced,
    /// 400: the session streams over SSE.
    NotPolled,
    /// 503: the node that holds the session did not answer.
    Unreachable,
    /// The session is there (a probe's answer, before a POST's body is read; never sent to
    /// a client by itself).
    Found,
}

/// Hands a POSTed batch to session `id` on this node and waits until it is applied.
pub(super) async fn post_here(
    registry: &Registry,
    id: &str,
    batch: u64,
    messages: Vec<ByteString>,
) -> Outcome {
    let Some(session) = registry.get(id) else {
        return Outcome::Unknown;
    };
    let (reply, outcome) = oneshot::channel();
    let post = ToSession::Post(Post {
        batch,
        messages,
        reply,
    });
    // A session whose queue is full has a client sending several batches at once.
    match session.try_send(post) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => return Outcome::Busy,
        Err(mpsc::error::TrySendError::Closed(_)) => return Outcome::Unknown,
    }
    match outcome.await {
        Ok(PostOutcome::Applied) => Outcome::Applied,
        Ok(PostOutcome::OutOfOrder { expected }) => Outcome::OutOfOrder(expected),
        Err(_) => Outcome::Unknown,
    }
}

/// Whether session `id` runs on this node: [`Outcome::Found`] or [`Outcome::Unknown`].
pub(super) fn probe_here(registry: &Registry, id: &str) -> Outcome {
    match registry.get(id) {
        Some(session) if !session.is_closed() => Outcome::Found,
        _ => Outcome::Unknown,
    }
}

/// Polls session `id` on this node: its events, at once or when they come.
pub(super) async fn poll_here(registry: &Registry, id: &str, ack: u64) -> Outcome {
    let Some(session) = registry.get(id) else {
        return Outcome::Unknown;
    };
    let (reply, answer) = oneshot::channel();
    if session
        .send(ToSession::Poll(PollRequest { ack, reply }))
        .await
        .is_err()
    {
        return Outcome::Unknown;
    }
    match answer.await {
        Ok(PollAnswer::Events(body)) => Outcome::Events(body),
        Ok(PollAnswer::Replaced) => Outcome::Replaced,
        Ok(PollAnswer::NotPolled) => Outcome::NotPolled,
        Err(_) => Outcome::Unknown,
    }
}

/// The upstream half every HTTP link shares: batches are applied in their numbered order,
/// each once; a batch is answered once the session core has taken its last message.
#[derive(Default)]
pub(super) struct Batches {
    pending: VecDeque<ByteString>,
    reply: Option<oneshot::Sender<PostOutcome>>,
    /// The number of the last batch accepted (batches count from 1).
    accepted: u64,
}

impl Batches {
    /// The next message of the batch being applied; answers the batch once the core has
    /// come back for more after its last one.
    pub(super) fn take(&mut self) -> Option<ByteString> {
        if let Some(message) = self.pending.pop_front() {
            return Some(message);
        }
        if let Some(reply) = self.reply.take() {
            // The POST may have given up waiting; the batch is applied all the same.
            let _ = reply.send(PostOutcome::Applied);
        }
        None
    }

    /// Takes a POSTed batch: the next one is queued, an earlier one (a retry) is answered as
    /// applied without applying it again, a later one is refused (an earlier one is missing).
    pub(super) fn accept(&mut self, post: Post) {
        let expected = self.accepted + 1;
        if post.batch == expected {
            self.accepted = expected;
            self.pending = post.messages.into();
            self.reply = Some(post.reply);
        } else if post.batch < expected {
            let _ = post.reply.send(PostOutcome::Applied);
        } else {
            let _ = post.reply.send(PostOutcome::OutOfOrder { expected });
        }
    }
}

/// How long a poll waits for an event before it is answered empty (under the 30 s that
/// proxies commonly allow an idle response); shorter when the client timeout is.
pub const POLL_WAIT: Duration = Duration::from_secs(25);

/// A poll, handed to its session.
pub struct PollRequest {
    /// The number of the last event the client has received.
    pub ack: u64,
    /// Where the answer goes.
    pub reply: oneshot::Sender<PollAnswer>,
}

/// The answer to a [`PollRequest`].
pub enum PollAnswer {
    /// The response body: `{"session":…,"seq":…,"events":[…],"close":…}`.
    Events(String),
    /// A newer poll of the same session took this one's place.
    Replaced,
    /// The session streams over SSE.
    NotPolled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_128_random_bits() {
        let (a, b) = (new_session_id(), new_session_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_batch_is_applied_once_and_in_order() {
        let mut batches = Batches::default();
        let post = |batch: u64, texts: &[&str]| {
            let (reply, outcome) = oneshot::channel();
            let messages = texts.iter().map(|t| ByteString::from(*t)).collect();
            (
                Post {
                    batch,
                    messages,
                    reply,
                },
                outcome,
            )
        };
        let (first, mut first_outcome) = post(1, &["a", "b"]);
        batches.accept(first);
        assert_eq!(batches.take().as_deref(), Some("a"));
        assert_eq!(batches.take().as_deref(), Some("b"));
        // Answered only once the core comes back after the last message.
        assert!(first_outcome.try_recv().is_err());
        assert_eq!(batches.take(), None);
        assert!(matches!(first_outcome.try_recv(), Ok(PostOutcome::Applied)));
        // The retry of batch 1 is answered without its messages coming again.
        let (retry, mut retry_outcome) = post(1, &["a", "b"]);
        batches.accept(retry);
        assert!(matches!(retry_outcome.try_recv(), Ok(PostOutcome::Applied)));
        assert_eq!(batches.take(), None);
        // Batch 3 before 2 is refused, naming 2.
        let (early, mut early_outcome) = post(3, &["c"]);
        batches.accept(early);
        assert!(matches!(
            early_outcome.try_recv(),
            Ok(PostOutcome::OutOfOrder { expected: 2 })
        ));
    }
}
