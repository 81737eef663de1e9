//! The node's one set of Redis connections (cluster mode, `--redis`), opened once by
//! [`crate::run`] and handed to everything that speaks to Redis: the message engine, the room
//! policies, the accounts, the uploads and the fallback relay.
//!
//! Two connections, both multiplexed and reconnecting by themselves: one for commands and
//! scripts (shared by every user: requests are pipelined on it), one for Pub/Sub (RESP3:
//! messages arrive as pushes, and the connection subscribes again after a reconnect). The
//! pushes of the Pub/Sub connection are routed to whoever asked for their channels
//! ([`RedisSet::pushes`]); a lost connection (a `Disconnection` push, which names no
//! channel) is told to every one of them.
//!
//! One set of timeouts for all: a command may take [`RESPONSE_TIMEOUT`] (an fsync on a slow
//! disk, `appendfsync always`, is within it), a lost connection is tried
//! [`RECONNECT_ATTEMPTS`] times before a command fails, so a request while Redis refuses
//! connections fails within about a second (one while Redis hangs, after the timeout).
//!
//! The cost of one Pub/Sub connection: when Redis drops it (a subscriber too far behind), every
//! subscriber loses what was published meanwhile at once. Each recovers its own way: the
//! engine reads its logs' gaps, the policies read every policy again, a relayed request
//! times out and the client retries.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use redis::{
    Client, IntoConnectionInfo as _, ProtocolVersion, PushInfo, PushKind, RedisResult, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::mpsc;

/// How long a command may take: above an fsync on a slow disk (`appendfsync always`), below
/// what a user waits before thinking the message is lost.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection attempt may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts per lost connection before a command fails.
pub const RECONNECT_ATTEMPTS: usize = 3;
/// Between reconnection attempts at most.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// The node's Redis connections; cheap to clone (every clone shares them).
#[derive(Clone)]
pub struct RedisSet {
    commands: ConnectionManager,
    pubsub: ConnectionManager,
    routes: Arc<Mutex<Vec<Route>>>,
}

/// Where the pushes of some channels go.
struct Route {
    prefixes: Vec<String>,
    to: mpsc::UnboundedSender<PushInfo>,
}

impl RedisSet {
    /// The connections to `url` (they connect on first use), and the task that routes the
    /// Pub/Sub connection's pushes. Must run inside a Tokio runtime.
    pub fn open(url: &str) -> RedisResult<Self> {
        let info = url.into_connection_info()?;
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))?;
        let config = || {
            ConnectionManagerConfig::new()
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_connection_timeout(Some(CONNECTION_TIMEOUT))
                .set_number_of_retries(RECONNECT_ATTEMPTS)
                .set_max_delay(MAX_RECONNECT_DELAY)
        };
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config())?;
        let (pushes, incoming) = mpsc::unbounded_channel();
        let pubsub = ConnectionManager::new_lazy_with_config(
            client,
            config()
                .set_push_sender(pushes)
                .set_automatic_resubscription(),
        )?;
        let routes = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(route(incoming, Arc::clone(&routes)));
        Ok(Self {
            commands,
            pubsub,
            routes,
        })
    }

    /// The connection for commands and scripts.
    pub fn commands(&self) -> ConnectionManager {
        self.commands.clone()
    }

    /// The Pub/Sub connection, to subscribe and unsubscribe on (its pushes come through
    /// [`RedisSet::pushes`]).
    pub fn pubsub(&self) -> ConnectionManager {
        self.pubsub.clone()
    }

    /// The pushes about channels whose names start with one of `prefixes` (messages,
    /// subscriptions), and every `Disconnection`, from now on. A channel goes to one route:
    /// prefixes must not overlap (the first asked for wins).
    pub fn pushes(&self, prefixes: &[&str]) -> mpsc::UnboundedReceiver<PushInfo> {
        let (to, pushes) = mpsc::unbounded_channel();
        let route = Route {
            prefixes: prefixes.iter().map(|p| (*p).to_owned()).collect(),
            to,
        };
        self.routes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(route);
        pushes
    }
}

/// Hands each push of the Pub/Sub connection to the routes of its channel, until the
/// connection (and so its sender) is gone.
async fn route(mut incoming: mpsc::UnboundedReceiver<PushInfo>, routes: Arc<Mutex<Vec<Route>>>) {
    while let Some(push) = incoming.recv().await {
        let channel = match push.data.first() {
            Some(Value::BulkString(name)) => Some(String::from_utf8_lossy(name).into_owned()),
            Some(Value::SimpleString(name)) => Some(name.clone()),
            _ => None,
        };
        let mut routes = routes.lock().unwrap_or_else(PoisonError::into_inner);
        // A receiver dropped (its owner stopped) needs no more pushes.
        routes.retain(|route| !route.to.is_closed());
        match (&push.kind, channel) {
            (PushKind::Disconnection, _) | (_, None) => {
                for route in routes.iter() {
                    let _ = route.to.send(push.clone());
                }
            }
            (_, Some(channel)) => {
                let wanted = routes
                    .iter()
                    .find(|route| route.prefixes.iter().any(|p| channel.starts_with(p)));
                match wanted {
                    Some(route) => {
                        let _ = route.to.send(push);
                    }
                    None => tracing::debug!(%channel, "a push nobody asked for"),
                }
            }
        }
    }
}
