//! Room policies: who owns a room, whether it is private, who is invited, how many may be in
//! it. Rooms made by `join` have none (public, unowned); `create_room` makes one.
//!
//! Every node keeps all policies in its hub's memory (they are few and small), so that every
//! check (join, the room list, who is evicted) is a lookup, never a wait. The policies live in
//! `rooms.sqlite3` (single node) or in one Redis hash, `chat:{policy}:rooms` (cluster mode),
//! changed only by the [`Worker`], one change at a time, each raising the room's `version`. In
//! cluster mode each change is published on `chat:policy` by the same script that writes it;
//! every node applies what it hears when the version is newer than its own, and reloads
//! everything after its subscription was re-established (a change may have been missed).
//!
//! # Layout
//! - [`RoomPolicy`], [`Change`], the store ([`PolicyStore`]), the [`Worker`] task and what it
//!   tells the hub ([`PolicyEvent`]).

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use redis::{
    AsyncCommands as _, PushKind, Script, Value,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use rusqlite::{Connection, OptionalExtension as _};
use serde::{Deserialize, Serialize};
use shared::{Nick, RoomName};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The file of the single-node policy store, in `--data-dir`.
pub const DB_FILE: &str = "rooms.sqlite3";
/// The Redis hash of every room's policy (field: room, value: JSON).
const REDIS_KEY: &str = "chat:{policy}:rooms";
/// Where each change is published (payload: `{"room":..,"policy":..}`).
const CHANNEL: &str = "chat:policy";

/// A room's rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomPolicy {
    /// The owner's user key (see `hub::user_key`).
    pub owner_key: String,
    /// The owner's nickname when the room was created (shown to members).
    pub owner: Nick,
    /// Invisible to, and closed to, anyone not invited.
    pub private: bool,
    /// At most this many users in the room at once.
    #[serde(default)]
    pub max_members: Option<u32>,
    /// Invited users (private rooms): user key → nickname when invited.
    #[serde(default)]
    pub invited: BTreeMap<String, Nick>,
    /// Raised by every change; a node applies a policy only if it is newer than its own.
    pub version: u64,
}

impl RoomPolicy {
    /// Whether the user with `key` may be in the room.
    pub fn admits(&self, key: &str) -> bool {
        !self.private || self.owner_key == key || self.invited.contains_key(key)
    }
}

/// A change to an existing room's policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Invite the user with this key (shown as `nick`).
    Invite {
        /// The user's key.
        key: String,
        /// Their nickname.
        nick: Nick,
    },
    /// Take back an invitation (the user is removed from the room).
    Uninvite {
        /// The user's key.
        key: String,
    },
}

impl Change {
    fn apply(&self, policy: &mut RoomPolicy) {
        match self {
            Self::Invite { key, nick } => {
                policy.invited.insert(key.clone(), nick.clone());
            }
            Self::Uninvite { key } => {
                policy.invited.remove(key);
            }
        }
        policy.version += 1;
    }
}

/// The store failed (I/O, Redis unreachable).
#[derive(Debug, Clone, thiserror::Error)]
#[error("room policies: {0}")]
pub struct PolicyError(String);

fn failed(err: impl std::fmt::Display) -> PolicyError {
    PolicyError(err.to_string())
}

/// Where policies live.
#[derive(Clone)]
pub enum PolicyStore {
    /// `rooms.sqlite3`.
    Sqlite(Arc<Mutex<Connection>>),
    /// The hash [`REDIS_KEY`]; changes published on [`CHANNEL`].
    Redis(ConnectionManager),
}

/// Creates the room unless it has a policy; publishes it.
const CREATE_LUA: &str = "
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return false end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], cjson.encode({room = ARGV[1], policy = cjson.decode(ARGV[2])}))
return ARGV[2]
";

/// Applies a change (invite or uninvite) to an existing policy; publishes the result.
const CHANGE_LUA: &str = "
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return false end
local policy = cjson.decode(json)
if type(policy.invited) ~= 'table' then policy.invited = {} end
if ARGV[2] == 'invite' then
  policy.invited[ARGV[3]] = ARGV[4]
else
  policy.invited[ARGV[3]] = nil
end
policy.version = policy.version + 1
local encoded = cjson.encode(policy)
-- cjson writes an empty table as {}: an empty map, as the server reads it.
redis.call('HSET', KEYS[1], ARGV[1], encoded)
redis.call('PUBLISH', ARGV[5], cjson.encode({room = ARGV[1], policy = policy}))
return encoded
";

impl PolicyStore {
    /// `rooms.sqlite3` in `dir`, or the Redis at `redis`.
    pub fn open(dir: &Path, redis: Option<&str>) -> Result<Self, PolicyError> {
        if let Some(url) = redis {
            let client = redis::Client::open(url).map_err(failed)?;
            let config = ConnectionManagerConfig::new()
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_connection_timeout(Some(Duration::from_secs(2)));
            let manager =
                ConnectionManager::new_lazy_with_config(client, config).map_err(failed)?;
            return Ok(Self::Redis(manager));
        }
        std::fs::create_dir_all(dir).map_err(failed)?;
        let db = Connection::open(dir.join(DB_FILE)).map_err(failed)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS policies (room TEXT PRIMARY KEY, json TEXT NOT NULL);",
        )
        .map_err(failed)?;
        Ok(Self::Sqlite(Arc::new(Mutex::new(db))))
    }

    /// Every room's policy, read at once from the SQLite store (`None` for Redis, which is
    /// read by the worker, perhaps later): a single node starts knowing every policy, so its
    /// first joins are answered in the protocol's usual order.
    pub fn load_now(&self) -> Result<Option<HashMap<RoomName, RoomPolicy>>, PolicyError> {
        let Self::Sqlite(db) = self else {
            return Ok(None);
        };
        let db = db.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Some(into_map(read_rows(&db).map_err(failed)?)))
    }

    /// Every room's policy.
    pub async fn load_all(&self) -> Result<HashMap<RoomName, RoomPolicy>, PolicyError> {
        let rows: Vec<(String, String)> = match self {
            Self::Sqlite(db) => {
                let db = Arc::clone(db);
                tokio::task::spawn_blocking(move || {
                    read_rows(&db.lock().unwrap_or_else(PoisonError::into_inner))
                })
                .await
                .map_err(failed)?
                .map_err(failed)?
            }
            Self::Redis(redis) => {
                let map: HashMap<String, String> =
                    redis.clone().hgetall(REDIS_KEY).await.map_err(failed)?;
                map.into_iter().collect()
            }
        };
        Ok(into_map(rows))
    }

    /// Creates `room` with `policy`; `None` if it has a policy already.
    pub async fn create(
        &self,
        room: &RoomName,
        policy: RoomPolicy,
    ) -> Result<Option<RoomPolicy>, PolicyError> {
        let json = serde_json::to_string(&policy).map_err(failed)?;
        match self {
            Self::Sqlite(db) => {
                let db = Arc::clone(db);
                let room = room.to_string();
                let inserted = tokio::task::spawn_blocking(move || {
                    let db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    db.execute(
                        "INSERT OR IGNORE INTO policies (room, json) VALUES (?1, ?2)",
                        [room, json],
                    )
                })
                .await
                .map_err(failed)?
                .map_err(failed)?;
                Ok((inserted == 1).then_some(policy))
            }
            Self::Redis(redis) => {
                let answer: Option<String> = Script::new(CREATE_LUA)
                    .key(REDIS_KEY)
                    .arg(room.as_str())
                    .arg(json)
                    .arg(CHANNEL)
                    .invoke_async(&mut redis.clone())
                    .await
                    .map_err(failed)?;
                Ok(answer.as_deref().and_then(decode))
            }
        }
    }

    /// Applies `change` to `room`'s policy; `None` if the room has none.
    pub async fn change(
        &self,
        room: &RoomName,
        change: &Change,
    ) -> Result<Option<RoomPolicy>, PolicyError> {
        match self {
            Self::Sqlite(db) => {
                let db = Arc::clone(db);
                let room = room.to_string();
                let change = change.clone();
                tokio::task::spawn_blocking(move || {
                    let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    let tx = db.transaction()?;
                    let json: Option<String> = tx
                        .query_row("SELECT json FROM policies WHERE room = ?1", [&room], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    let Some(mut policy) = json.as_deref().and_then(decode) else {
                        return Ok(None);
                    };
                    change.apply(&mut policy);
                    let json = serde_json::to_string(&policy)
                        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                    tx.execute(
                        "UPDATE policies SET json = ?1 WHERE room = ?2",
                        [&json, &room],
                    )?;
                    tx.commit()?;
                    Ok::<_, rusqlite::Error>(Some(policy))
                })
                .await
                .map_err(failed)?
                .map_err(failed)
            }
            Self::Redis(redis) => {
                let (op, key, nick) = match change {
                    Change::Invite { key, nick } => ("invite", key.as_str(), nick.as_str()),
                    Change::Uninvite { key } => ("uninvite", key.as_str(), ""),
                };
                let answer: Option<String> = Script::new(CHANGE_LUA)
                    .key(REDIS_KEY)
                    .arg(room.as_str())
                    .arg(op)
                    .arg(key)
                    .arg(nick)
                    .arg(CHANNEL)
                    .invoke_async(&mut redis.clone())
                    .await
                    .map_err(failed)?;
                Ok(answer.as_deref().and_then(decode))
            }
        }
    }

    /// The key of the user who holds nickname `nick` anywhere in the cluster (cluster mode;
    /// single node: `None`, the hub knows its users).
    pub async fn nick_owner(&self, nick: &Nick) -> Result<Option<String>, PolicyError> {
        match self {
            Self::Sqlite(_) => Ok(None),
            Self::Redis(redis) => redis
                .clone()
                .hget(format!("chat:{{p}}:nick:{}", nick.key()), "owner")
                .await
                .map_err(failed),
        }
    }
}

fn read_rows(db: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut statement = db.prepare("SELECT room, json FROM policies")?;
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect()
}

fn into_map(rows: Vec<(String, String)>) -> HashMap<RoomName, RoomPolicy> {
    rows.into_iter()
        .filter_map(|(room, json)| Some((room.parse().ok()?, decode(&json)?)))
        .collect()
}

fn decode(json: &str) -> Option<RoomPolicy> {
    match serde_json::from_str(json) {
        Ok(policy) => Some(policy),
        Err(err) => {
            tracing::error!(error = %err, "unreadable room policy; ignored");
            None
        }
    }
}

/// What the worker tells the hub.
#[derive(Debug)]
pub enum PolicyEvent<C> {
    /// The answer to a request (`ctx` as given).
    Done {
        /// The request's context.
        ctx: C,
        /// The room's policy after it, `None` when refused (exists / does not exist).
        result: Result<Option<RoomPolicy>, PolicyError>,
    },
    /// Every policy (at start, and after the cluster subscription was re-established).
    Loaded(HashMap<RoomName, RoomPolicy>),
    /// Another node (or this one) changed a room (cluster mode).
    Changed {
        /// The room.
        room: RoomName,
        /// Its policy now.
        policy: RoomPolicy,
    },
}

/// A request to the worker.
#[derive(Debug)]
pub enum Request<C> {
    /// Create a room.
    Create {
        /// Returned with the answer.
        ctx: C,
        /// The room.
        room: RoomName,
        /// Its policy.
        policy: RoomPolicy,
    },
    /// Change a room.
    Change {
        /// Returned with the answer.
        ctx: C,
        /// The room.
        room: RoomName,
        /// What.
        change: Change,
    },
    /// Find the key of `nick`'s holder (cluster), then invite them.
    InviteNick {
        /// Returned with the answer.
        ctx: C,
        /// The room.
        room: RoomName,
        /// Who.
        nick: Nick,
    },
}

/// The policy worker: runs requests one at a time, in order, and (cluster mode) listens for
/// changes. Ends with `shutdown` or when the hub drops its sender.
pub struct Worker;

impl Worker {
    /// Starts the worker on `store`; returns where to send requests.
    pub fn spawn<C: Send + 'static>(
        store: PolicyStore,
        redis_url: Option<String>,
        events: mpsc::UnboundedSender<PolicyEvent<C>>,
        shutdown: CancellationToken,
    ) -> mpsc::UnboundedSender<Request<C>> {
        let (requests, mut queue) = mpsc::unbounded_channel::<Request<C>>();
        let (pushes, mut heard) = mpsc::unbounded_channel();
        if let Some(url) = redis_url {
            tokio::spawn(subscribe(url, pushes, shutdown.clone()));
        } else {
            drop(pushes);
        }
        tokio::spawn(async move {
            // Everything first, then changes; a failed load is retried, since a node without
            // policies must not treat private rooms as public.
            loop {
                match store.load_all().await {
                    Ok(all) => {
                        if events.send(PolicyEvent::Loaded(all)).is_err() {
                            return;
                        }
                        break;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot load room policies; retrying");
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    request = queue.recv() => {
                        let Some(request) = request else { return };
                        let event = run(&store, request).await;
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                    push = heard.recv() => match push {
                        Some(Heard::Changed(room, policy)) => {
                            if events.send(PolicyEvent::Changed { room, policy }).is_err() {
                                return;
                            }
                        }
                        Some(Heard::Resubscribed) => match store.load_all().await {
                            Ok(all) => {
                                if events.send(PolicyEvent::Loaded(all)).is_err() {
                                    return;
                                }
                            }
                            Err(err) => tracing::warn!(error = %err, "cannot reload room policies"),
                        },
                        None => heard = mpsc::unbounded_channel().1,
                    },
                }
            }
        });
        requests
    }
}

async fn run<C>(store: &PolicyStore, request: Request<C>) -> PolicyEvent<C> {
    match request {
        Request::Create { ctx, room, policy } => PolicyEvent::Done {
            ctx,
            result: store.create(&room, policy).await,
        },
        Request::Change { ctx, room, change } => PolicyEvent::Done {
            ctx,
            result: store.change(&room, &change).await,
        },
        Request::InviteNick { ctx, room, nick } => {
            let result = match store.nick_owner(&nick).await {
                Ok(Some(key)) => store.change(&room, &Change::Invite { key, nick }).await,
                Ok(None) => Err(PolicyError(format!("nobody online is called {nick}"))),
                Err(err) => Err(err),
            };
            PolicyEvent::Done { ctx, result }
        }
    }
}

enum Heard {
    Changed(RoomName, RoomPolicy),
    Resubscribed,
}

#[derive(Deserialize)]
struct Published {
    room: RoomName,
    policy: RoomPolicy,
}

type Subscription = (ConnectionManager, mpsc::UnboundedReceiver<redis::PushInfo>);

async fn open_subscription(url: &str) -> Result<Subscription, redis::RedisError> {
    let info = redis::IntoConnectionInfo::into_connection_info(url)?;
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(redis::ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let config = ConnectionManagerConfig::new()
        .set_push_sender(tx)
        .set_automatic_resubscription();
    let mut manager = ConnectionManager::new_with_config(client, config).await?;
    manager.subscribe(CHANNEL).await?;
    Ok((manager, rx))
}

/// Listens on [`CHANNEL`] (RESP3 pushes on a connection manager that resubscribes by itself).
async fn subscribe(url: String, heard: mpsc::UnboundedSender<Heard>, shutdown: CancellationToken) {
    let (manager, mut pushes) = loop {
        let attempt = tokio::select! {
            () = shutdown.cancelled() => return,
            attempt = open_subscription(&url) => attempt,
        };
        match attempt {
            Ok(ready) => break ready,
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to room policy changes; retrying");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    // Kept alive: dropping it would end the subscription.
    let _manager = manager;
    let mut subscribed_once = false;
    loop {
        let push = tokio::select! {
            () = shutdown.cancelled() => return,
            push = pushes.recv() => match push {
                Some(push) => push,
                None => return,
            },
        };
        let event = match push.kind {
            PushKind::Subscribe if subscribed_once => Some(Heard::Resubscribed),
            PushKind::Subscribe => {
                subscribed_once = true;
                None
            }
            PushKind::Message => push.data.get(1).and_then(|payload| match payload {
                Value::BulkString(bytes) => serde_json::from_slice::<Published>(bytes)
                    .ok()
                    .map(|p| Heard::Changed(p.room, p.policy)),
                _ => None,
            }),
            _ => None,
        };
        if let Some(event) = event
            && heard.send(event).is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(private: bool) -> RoomPolicy {
        RoomPolicy {
            owner_key: "owner".into(),
            owner: "Olga".parse().unwrap(),
            private,
            max_members: None,
            invited: BTreeMap::new(),
            version: 1,
        }
    }

    #[test]
    fn private_rooms_admit_their_owner_and_invited_users_only() {
        let mut room = policy(true);
        assert!(room.admits("owner"));
        assert!(!room.admits("guest"));
        Change::Invite {
            key: "guest".into(),
            nick: "Gil".parse().unwrap(),
        }
        .apply(&mut room);
        assert!(room.admits("guest"));
        assert_eq!(room.version, 2);
        Change::Uninvite {
            key: "guest".into(),
        }
        .apply(&mut room);
        assert!(!room.admits("guest"));
        assert!(policy(false).admits("anyone"));
    }

    #[tokio::test]
    async fn sqlite_store_creates_once_and_changes_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = PolicyStore::open(dir.path(), None).unwrap();
        let room: RoomName = "secret".parse().unwrap();
        assert!(store.create(&room, policy(true)).await.unwrap().is_some());
        assert!(store.create(&room, policy(false)).await.unwrap().is_none());
        let invite = Change::Invite {
            key: "guest".into(),
            nick: "Gil".parse().unwrap(),
        };
        let changed = store.change(&room, &invite).await.unwrap().unwrap();
        assert_eq!(changed.version, 2);
        let other: RoomName = "nowhere".parse().unwrap();
        assert!(store.change(&other, &invite).await.unwrap().is_none());
        let all = store.load_all().await.unwrap();
        assert_eq!(all[&room], changed);
    }
}
