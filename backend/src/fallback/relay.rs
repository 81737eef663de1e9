//! Cluster mode: POSTs and polls that reach a node other than the one holding their session
//! travel there through Redis, so a load balancer needs no sticky sessions for the HTTP
//! transports either.
//!
//! Every node subscribes to its own channel, `chat:relay:<node>`. A node that gets a request
//! for another node's session (the session id starts with the node's name) publishes it
//! there, with a number and its own name; the owner runs it as if it had come in over HTTP
//! and publishes the [`Outcome`] to the asker's channel. Nobody subscribed (the owner is gone)
//! means the session is gone: 404. No answer in time: 503.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytestring::ByteString;
use redis::{AsyncCommands as _, PushInfo, PushKind, RedisResult, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::registry::{NODE_LEN, Outcome, POLL_WAIT, Registry, poll_here, post_here, probe_here};
use crate::redis_set::{Conn, RedisSet};

/// How long a POST relayed to another node may take to be applied.
const POST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long another node may take to say whether it has a session: a map lookup there, so
/// longer means it does not answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What every node's relay channel starts with.
const CHANNEL_PREFIX: &str = "chat:relay:";

fn channel(node: &str) -> String {
    format!("{CHANNEL_PREFIX}{node}")
}

/// What travels on the relay channels.
#[derive(Serialize, Deserialize)]
enum Message {
    Post {
        from: String,
        number: u64,
        session: String,
        batch: u64,
        messages: Vec<String>,
    },
    Poll {
        from: String,
        number: u64,
        session: String,
        ack: u64,
    },
    /// Is the session there? (Asked before a POST's body is read.)
    Probe {
        from: String,
        number: u64,
        session: String,
    },
    Reply {
        number: u64,
        outcome: Outcome,
    },
}

/// This node's end of the relay.
pub struct Relay {
    node: String,
    commands: Conn,
    /// Requests sent to other nodes, waiting for their outcome.
    waiting: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    next: AtomicU64,
}

/// A fresh node name.
pub fn new_node_name() -> Result<String, getrandom::Error> {
    crate::ids::random_hex(NODE_LEN / 2)
}

impl Relay {
    /// Over the node's Redis connections: subscribes to this node's channel and serves it
    /// from `registry` until `shutdown`.
    pub fn start(
        redis: &RedisSet,
        registry: Arc<Registry>,
        shutdown: CancellationToken,
    ) -> RedisResult<Arc<Self>> {
        let node = registry
            .node()
            .map(str::to_owned)
            .ok_or_else(|| redis::RedisError::from(std::io::Error::other("no node name")))?;
        let commands = redis.commands();
        let pushes = redis.pushes(&[CHANNEL_PREFIX]);
        let mut subscriber = redis.pubsub();
        let relay = Arc::new(Self {
            node,
            commands,
            waiting: Mutex::default(),
            next: AtomicU64::new(1),
        });
        let own = channel(&relay.node);
        let serving = Arc::clone(&relay);
        tokio::spawn(async move {
            // Until the first subscription holds; afterwards the manager keeps it.
            while let Err(err) = subscriber.subscribe(&own).await {
                tracing::warn!(error = %err, "cannot subscribe to the relay channel; retrying");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            serving.serve(pushes, registry, shutdown).await;
            drop(subscriber);
        });
        Ok(relay)
    }

    /// Answers what arrives on this node's channel until shutdown.
    async fn serve(
        self: Arc<Self>,
        mut pushes: mpsc::UnboundedReceiver<PushInfo>,
        registry: Arc<Registry>,
        shutdown: CancellationToken,
    ) {
        loop {
            let push = tokio::select! {
                push = pushes.recv() => match push {
                    Some(push) => push,
                    None => return,
                },
                () = shutdown.cancelled() => return,
            };
            if push.kind != PushKind::Message {
                continue;
            }
            let Some(message) = decode(push.data) else {
                tracing::warn!("an unreadable message on the relay channel; ignored");
                continue;
            };
            match message {
                Message::Reply { number, outcome } => {
                    let waiter = self
                        .waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&number);
                    if let Some(waiter) = waiter {
                        let _ = waiter.send(outcome);
                    }
                }
                // Each request in its own task: a poll may wait for 25 s.
                Message::Post {
                    from,
                    number,
                    session,
                    batch,
                    messages,
                } => {
                    let (relay, registry) = (Arc::clone(&self), Arc::clone(&registry));
                    tokio::spawn(async move {
                        let messages = messages.into_iter().map(ByteString::from).collect();
                        let outcome = post_here(&registry, &session, batch, messages).await;
                        relay.reply(&from, number, outcome).await;
                    });
                }
                Message::Probe {
                    from,
                    number,
                    session,
                } => {
                    let outcome = probe_here(&registry, &session);
                    let relay = Arc::clone(&self);
                    tokio::spawn(async move { relay.reply(&from, number, outcome).await });
                }
                Message::Poll {
                    from,
                    number,
                    session,
                    ack,
                } => {
                    let (relay, registry) = (Arc::clone(&self), Arc::clone(&registry));
                    tokio::spawn(async move {
                        let outcome = poll_here(&registry, &session, ack).await;
                        relay.reply(&from, number, outcome).await;
                    });
                }
            }
        }
    }

    async fn reply(&self, to: &str, number: u64, outcome: Outcome) {
        let message = Message::Reply { number, outcome };
        if let Err(err) = self.publish(to, &message).await {
            tracing::warn!(node = to, error = %err, "cannot answer a relayed request");
        }
    }

    /// Publishes `message` on `node`'s channel; how many nodes heard it.
    async fn publish(&self, node: &str, message: &Message) -> RedisResult<u64> {
        let payload = serde_json::to_string(message)
            .map_err(|err| redis::RedisError::from(std::io::Error::other(err)))?;
        let mut commands = self.commands.clone();
        commands.publish(channel(node), payload).await
    }

    /// Sends a request to `node` and waits up to `limit` for its outcome.
    async fn ask(
        &self,
        node: &str,
        message: impl FnOnce(String, u64) -> Message,
        limit: Duration,
    ) -> Outcome {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let (reply, outcome) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, reply);
        let sent = self
            .publish(node, &message(self.node.clone(), number))
            .await;
        let result = match sent {
            // Nobody listens there: the node, and its sessions, are gone.
            Ok(0) => Outcome::Unknown,
            Ok(_) => match tokio::time::timeout(limit, outcome).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(_)) | Err(_) => Outcome::Unreachable,
            },
            Err(err) => {
                tracing::warn!(error = %err, "cannot relay a request through Redis");
                Outcome::Unreachable
            }
        };
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&number);
        result
    }

    /// A POSTed batch for a session on `node`.
    pub async fn post(
        &self,
        node: &str,
        session: &str,
        batch: u64,
        messages: Vec<ByteString>,
    ) -> Outcome {
        let messages: Vec<String> = messages.iter().map(|m| m.to_string()).collect();
        let session = session.to_owned();
        self.ask(
            node,
            |from, number| Message::Post {
                from,
                number,
                session,
                batch,
                messages,
            },
            POST_TIMEOUT,
        )
        .await
    }

    /// Whether a session runs on `node`: [`Outcome::Found`], or why not.
    pub async fn probe(&self, node: &str, session: &str) -> Outcome {
        let session = session.to_owned();
        self.ask(
            node,
            |from, number| Message::Probe {
                from,
                number,
                session,
            },
            PROBE_TIMEOUT,
        )
        .await
    }

    /// A poll of a session on `node`.
    pub async fn poll(&self, node: &str, session: &str, ack: u64) -> Outcome {
        let session = session.to_owned();
        self.ask(
            node,
            |from, number| Message::Poll {
                from,
                number,
                session,
                ack,
            },
            POLL_WAIT + POST_TIMEOUT,
        )
        .await
    }
}

/// A relay channel's message (`[channel, payload]`).
fn decode(data: Vec<Value>) -> Option<Message> {
    let payload: String = redis::from_redis_value(data.into_iter().nth(1)?).ok()?;
    serde_json::from_str(&payload).ok()
}
