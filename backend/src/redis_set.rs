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
    Client, Cmd, IntoConnectionInfo as _, Pipeline, ProtocolVersion, PushInfo, PushKind,
    RedisFuture, RedisResult, ToRedisArgs, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClientBuilder, ClusterConfig},
    cluster_async::ClusterConnection,
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

/// A connection for commands and scripts: to one Redis, or to a Redis Cluster (routed by
/// each command's keys; a script by its first key, so every script keeps its keys on one
/// hash slot). Cheap to clone: clones share the connection. Everything that speaks to Redis
/// takes this, so it runs unchanged on either.
#[derive(Clone)]
pub enum Conn {
    /// One Redis (multiplexed, reconnecting by itself).
    Single(ConnectionManager),
    /// A Redis Cluster: a multiplexed connection per node, following the slot map.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

impl Conn {
    /// Whether this is a Redis Cluster connection.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Subscribes to `channel` (this is the Pub/Sub connection: [`RedisSet::pubsub`]); its
    /// messages arrive through [`RedisSet::pushes`]. On a cluster, a channel that carries a
    /// hash tag is a sharded one (`SSUBSCRIBE`: the shard owning its slot delivers it, as
    /// `SPUBLISH` in a script of that slot sends it); one without is cluster-wide.
    pub async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(conn) => conn.subscribe(channel).await,
            Self::Cluster(conn) if sharded(channel) => conn.ssubscribe(channel).await,
            Self::Cluster(conn) => conn.subscribe(channel).await,
        }
    }

    /// Undoes [`Conn::subscribe`].
    pub async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Self::Single(conn) => conn.unsubscribe(channel).await,
            Self::Cluster(conn) if sharded(channel) => conn.sunsubscribe(channel).await,
            Self::Cluster(conn) => conn.unsubscribe(channel).await,
        }
    }

    /// Runs `pipe` (not atomic, no ignored commands) and returns its replies. One Redis takes
    /// it in one round trip; a Redis Cluster takes a pipeline only within one hash slot, so
    /// there each command goes on its own, all at once, to the node of its key.
    pub async fn pipeline<T: redis::FromRedisValue>(&mut self, pipe: &Pipeline) -> RedisResult<T> {
        match self {
            Self::Single(conn) => pipe.query_async(conn).await,
            Self::Cluster(conn) => {
                let replies = futures_util::future::try_join_all(pipe.cmd_iter().map(|cmd| {
                    let mut conn = conn.clone();
                    async move { cmd.query_async::<Value>(&mut conn).await }
                }))
                .await?;
                Ok(redis::from_redis_value(Value::Array(replies))?)
            }
        }
    }

    /// Runs `cmd` on the primary that owns `key`'s hash slot (on one Redis: on it). For
    /// commands whose routing by name would be wrong here: `WAIT` goes to every primary by
    /// default, where it must wait for the one that took the write.
    pub async fn on_primary_of<T: redis::FromRedisValue>(
        &mut self,
        key: impl ToRedisArgs,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        match self {
            Self::Single(conn) => cmd.query_async(conn).await,
            Self::Cluster(conn) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let key = key.to_redis_args();
                let route =
                    Route::with_key(key.first().map_or(&[][..], Vec::as_slice), SlotAddr::Master);
                let value = conn
                    .route_command(
                        cmd.clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(route)),
                    )
                    .await?;
                Ok(redis::from_redis_value(value)?)
            }
        }
    }
}

/// Whether `channel` is a sharded channel: it names a hash tag (`chat:{r:ROOM}`), so on a
/// cluster it lives on one shard, published with `SPUBLISH` by a script of that slot.
pub fn sharded(channel: &str) -> bool {
    channel.contains('{')
}

/// What `--redis` names: one Redis, or a Redis Cluster reached through one or more of its
/// nodes (a comma-separated list; one URL of a cluster node is found to be one by asking it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One Redis (its replicas, if any, are for failover by Sentinel or by hand).
    Single(String),
    /// The seed nodes of a Redis Cluster.
    Cluster(Vec<String>),
}

impl Target {
    /// Learns what `spec` names: a list is a cluster; one URL is asked `INFO cluster`
    /// (within [`RESPONSE_TIMEOUT`]). A Redis that cannot be reached at start-up stops the
    /// start: the node cannot know which protocol to speak (a service manager restarts it).
    pub async fn find(spec: &str) -> RedisResult<Self> {
        let urls: Vec<String> = spec
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect();
        match urls.as_slice() {
            [] => Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "--redis names no Redis",
            ))),
            [one] => {
                let client = Client::open(one.as_str())?;
                let info = async {
                    let mut conn = client.get_multiplexed_async_connection().await?;
                    redis::cmd("INFO")
                        .arg("cluster")
                        .query_async::<String>(&mut conn)
                        .await
                };
                let info = tokio::time::timeout(RESPONSE_TIMEOUT, info)
                    .await
                    .map_err(|_| {
                        redis::RedisError::from((
                            redis::ErrorKind::Io,
                            "Redis did not answer in time at start-up",
                        ))
                    })??;
                Ok(if info.contains("cluster_enabled:1") {
                    Self::Cluster(urls)
                } else {
                    Self::Single(one.clone())
                })
            }
            _ => Ok(Self::Cluster(urls)),
        }
    }
}

/// The node's Redis connections; cheap to clone (every clone shares them).
#[derive(Clone)]
pub struct RedisSet {
    commands: Conn,
    pubsub: Conn,
    routes: Arc<Mutex<Vec<Route>>>,
}

/// Where the pushes of some channels go.
struct Route {
    prefixes: Vec<String>,
    to: mpsc::UnboundedSender<PushInfo>,
}

impl RedisSet {
    /// The connections to what `spec` names ([`Target::find`]): they connect on first use;
    /// and the task that routes the Pub/Sub connection's pushes. Must run inside a Tokio
    /// runtime.
    pub async fn open(spec: &str) -> RedisResult<Self> {
        let (pushes, incoming) = mpsc::unbounded_channel();
        let (commands, pubsub) = match Target::find(spec).await? {
            Target::Single(url) => {
                let info = url.as_str().into_connection_info()?;
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
                let pubsub = ConnectionManager::new_lazy_with_config(
                    client,
                    config()
                        .set_push_sender(pushes)
                        .set_automatic_resubscription(),
                )?;
                (Conn::Single(commands), Conn::Single(pubsub))
            }
            Target::Cluster(urls) => {
                let client = ClusterClientBuilder::new(urls)
                    .use_protocol(ProtocolVersion::RESP3)
                    .retries(u32::try_from(RECONNECT_ATTEMPTS).unwrap_or(u32::MAX))
                    .max_retry_wait(u64::try_from(MAX_RECONNECT_DELAY.as_millis()).unwrap_or(500))
                    .build()?;
                let config = || {
                    ClusterConfig::new()
                        .set_connection_timeout(CONNECTION_TIMEOUT)
                        .set_response_timeout(RESPONSE_TIMEOUT)
                };
                // The cluster connection subscribes again by itself after a reconnect or a
                // change of the slot map (to whichever node owns a sharded channel now).
                let commands = client.get_pending_async_connection_with_config(config());
                let pubsub = client
                    .get_pending_async_connection_with_config(config().set_push_sender(pushes));
                (Conn::Cluster(commands), Conn::Cluster(pubsub))
            }
        };
        let routes = Arc::new(Mutex::new(Vec::new()));
        tokio::spawn(route(incoming, Arc::clone(&routes)));
        Ok(Self {
            commands,
            pubsub,
            routes,
        })
    }

    /// The connection for commands and scripts.
    pub fn commands(&self) -> Conn {
        self.commands.clone()
    }

    /// The Pub/Sub connection, to subscribe and unsubscribe on (its pushes come through
    /// [`RedisSet::pushes`]).
    pub fn pubsub(&self) -> Conn {
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
