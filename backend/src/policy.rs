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
//! - [`RoomPolicy`] and the rules: [`decide`] (who may do which [`Act`] to whom), [`Applied`]
//!   (a change made).
//! - The store ([`PolicyStore`]: read, compare-and-set write, publish), the [`Worker`] task,
//!   what the hub asks it ([`Request`]) and what it tells the hub ([`PolicyEvent`]).
//!
//! One piece (about 900 lines) on purpose: the rules, the two stores that keep a policy and
//! the worker that applies a change with compare-and-set are one transaction's parts; its
//! tests are in `policy/tests.rs`.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use redis::{AsyncCommands as _, PushKind, Script, Value};
use rusqlite::{Connection, OptionalExtension as _};
use serde::{Deserialize, Serialize};
use shared::{ModAction, Nick, RoomName, admin::LogEntry};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::redis_set::{Conn, RedisSet};

/// The file of the single-node policy store, in `--data-dir`.
pub const DB_FILE: &str = "rooms.sqlite3";
/// The Redis hash of every room's policy (field: room, value: JSON).
const REDIS_KEY: &str = "chat:{policy}:rooms";
/// Where each change is published (payload: `{"room":..,"policy":..}`).
const CHANNEL: &str = "chat:policy";
/// The Redis stream of the moderation log (field `e`: a JSON [`LogEntry`]), in the policies'
/// slot so that one script writes a change and its line.
const REDIS_LOG_KEY: &str = "chat:{policy}:log";
/// How many lines of the moderation log are kept (the oldest go first): years of a busy
/// team's moderation, a few megabytes.
const LOG_KEPT: u64 = 100_000;

/// A room's rules.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoomPolicy {
    /// The owner's user key (see [`crate::ids::user_key`]); none for a room made by `join`
    /// that server admins moderate.
    #[serde(default)]
    pub owner_key: Option<String>,
    /// The owner's nickname when the room was created (shown to members).
    #[serde(default)]
    pub owner: Option<Nick>,
    /// Invisible to, and closed to, anyone not invited.
    #[serde(default)]
    pub private: bool,
    /// A group conversation (`create_group`): private, its members are `invited`, and
    /// nobody moderates it, server admins included (it is as closed as a direct message).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub group: bool,
    /// Who made a group (its user key): counted against their `--max-owned-rooms`, so that
    /// nobody can bury others in groups. No rank comes with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// At most this many users in the room at once.
    #[serde(default)]
    pub max_members: Option<u32>,
    /// Invited users (private rooms): user key → nickname when invited.
    #[serde(default)]
    pub invited: BTreeMap<String, Nick>,
    /// Moderators: user key → nickname.
    #[serde(default)]
    pub moderators: BTreeMap<String, Nick>,
    /// Banned users: user key → nickname.
    #[serde(default)]
    pub banned: BTreeMap<String, Nick>,
    /// Muted users: user key → until when.
    #[serde(default)]
    pub muted: BTreeMap<String, Muted>,
    /// Messages deleted (by `seq`) before deletions became entries of the room's log
    /// (`delete_message`, issue #10): still hidden from every history and live send, never
    /// added to.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub deleted: BTreeSet<u64>,
    /// What the room is about (`set_topic`; issue #31).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Closed by a server admin (issue #33, [`Act::Close`]): nobody but server admins may
    /// join it, nobody speaks in it; its history is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
    /// Raised by every change; a node applies a policy only if it is newer than its own.
    pub version: u64,
}

/// A mute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Muted {
    /// The muted user's nickname.
    pub nick: Nick,
    /// Until when (ms since the Unix epoch).
    pub until_ms: u64,
}

/// The field (Redis) and row (SQLite) of the server's own policy beside the rooms': no room
/// has the empty name, so loading the rooms passes over it.
const SERVER_FIELD: &str = "";

/// The rules of the whole server (issue #33): who is banned from it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerPolicy {
    /// Banned users: user key → the name they were banned as (an account's name, or a JWT
    /// `sub`, which need not be a nickname).
    #[serde(default)]
    pub banned: BTreeMap<String, String>,
    /// Raised by every change; a node applies a policy only if it is newer than its own.
    #[serde(default)]
    pub version: u64,
}

/// A change of the server's policy: the policy after it, who made it and what it was. (Told
/// apart from a room's [`Applied`] on the policy channel by its `server` field.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerApplied {
    /// The server's policy now.
    pub server: ServerPolicy,
    /// The admin who acted.
    pub by: Nick,
    /// What they did (`banned` or `unbanned`).
    pub action: ModAction,
    /// The user acted on.
    pub target_key: String,
}

/// Any stored policy's version (the rooms' and the server's JSON both carry one).
#[derive(Deserialize)]
struct Versioned {
    #[serde(default)]
    version: u64,
}

/// Who may do what, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// Anyone in the room.
    Member,
    /// Named by the owner (or an admin).
    Moderator,
    /// Created the room.
    Owner,
    /// `--admin`: everywhere.
    Admin,
}

impl RoomPolicy {
    /// Whether the user with `key` may be in the room.
    pub fn admits(&self, key: &str) -> bool {
        !self.banned.contains_key(key)
            && (!self.private
                || self.owner_key.as_deref() == Some(key)
                || self.invited.contains_key(key)
                || self.moderators.contains_key(key))
    }

    /// The rank of the user with `key` (`admin`: a server admin). Someone the room does not
    /// admit (banned, or uninvited from a private room) ranks as a member whatever they were
    /// named: a rank is for acting in a room one may be in. (A ban or an uninvite also takes
    /// the moderator's name off the list; this covers policies stored before that.)
    pub fn rank(&self, key: &str, admin: bool) -> Rank {
        if admin {
            Rank::Admin
        } else if !self.admits(key) {
            Rank::Member
        } else if self.owner_key.as_deref() == Some(key) {
            Rank::Owner
        } else if self.moderators.contains_key(key) {
            Rank::Moderator
        } else {
            Rank::Member
        }
    }

    /// Until when the user with `key` is muted, if they are at `now_ms`.
    pub fn muted_until(&self, key: &str, now_ms: u64) -> Option<u64> {
        self.muted
            .get(key)
            .map(|m| m.until_ms)
            .filter(|&until| until > now_ms)
    }
}

/// Someone acting on a room, or the user acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Their user key.
    pub key: String,
    /// Their nickname.
    pub nick: Nick,
    /// A server admin (`--admin`).
    pub admin: bool,
}

/// What a moderator (or owner, or admin) asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Act {
    /// Invite into a private room.
    Invite,
    /// Take an invitation back.
    Uninvite,
    /// Name (`true`) or unname a moderator.
    SetModerator(bool),
    /// Remove from the room now.
    Kick,
    /// Remove and refuse from now on.
    Ban,
    /// Leave a group for good (the actor acts on themselves).
    LeaveGroup,
    /// Lift a ban.
    Unban,
    /// Mute until `until_ms` (0: unmute).
    Mute {
        /// Until when (ms since the Unix epoch); 0 lifts the mute.
        until_ms: u64,
    },
    /// Set the room's topic (empty: none); about nobody.
    SetTopic(String),
    /// Close the room (`true`) or reopen it: server admins only, never the lobby (everyone's
    /// first room) nor a group; about nobody.
    Close(bool),
}

/// A change made: the room's policy after it, who made it, what the room is told, and the
/// key of the user it was about (whose tabs a kick removes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    /// The room.
    pub room: RoomName,
    /// Its policy now.
    pub policy: RoomPolicy,
    /// Who acted (absent for a room's creation).
    #[serde(default)]
    pub by: Option<Nick>,
    /// What the room is told.
    #[serde(default)]
    pub action: Option<ModAction>,
    /// The user acted on.
    #[serde(default)]
    pub target_key: Option<String>,
}

/// Why an act was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// Not allowed (rank, or the room has no policy and the actor is no admin).
    #[error("{0}")]
    Forbidden(String),
    /// The user named is nowhere to be found.
    #[error("{0}")]
    NoSuchUser(String),
    /// `create_room` of a room that has a policy.
    #[error("{0}")]
    Exists(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] PolicyError),
}

/// Whether `person` moderates `room` (a moderator, its owner or an admin): they may delete
/// anyone's message there. Rooms made by `join` are moderated by admins only.
pub fn moderates(policy: Option<&RoomPolicy>, person: &Person) -> bool {
    if policy.is_some_and(|policy| policy.group) {
        return false;
    }
    let rank = match policy {
        Some(policy) => policy.rank(&person.key, person.admin),
        None if person.admin => Rank::Admin,
        None => Rank::Member,
    };
    rank >= Rank::Moderator
}

/// The rules of moderation, the same in both modes: whether `actor` may do `act` to `target`
/// in `room` (whose policy is `policy`, none for a room made by `join`), and if so the policy
/// after it and what the room is told.
///
/// An owner (or admin) invites, uninvites and names moderators; a moderator (or better)
/// kicks, mutes and bans (and deletes anyone's message, see [`moderates`]); nobody acts on someone of their own rank or above. A room
/// without a policy is moderated by admins only (their first act gives it one).
pub fn decide(
    room: &RoomName,
    policy: Option<&RoomPolicy>,
    actor: &Person,
    act: &Act,
    target: Option<&Person>,
) -> Result<Applied, Refusal> {
    let mut next = policy.cloned().unwrap_or_default();
    if next.group || *act == Act::LeaveGroup {
        return leave_group(room, next, actor, act);
    }
    let rank = next.rank(&actor.key, actor.admin);
    let needs = match act {
        Act::Invite | Act::Uninvite | Act::SetModerator(_) => Rank::Owner,
        // Closing a room is the server's business (an owner who wants it gone makes it
        // private, or bans); the lobby is where everyone starts, and stays open.
        Act::Close(_) if *room == RoomName::default_room() => {
            return Err(Refusal::Forbidden(format!("{room} cannot be closed")));
        }
        Act::Close(_) => Rank::Admin,
        _ => Rank::Moderator,
    };
    // Someone the room does not admit ranks as a member (see `RoomPolicy::rank`), so a
    // banned or uninvited moderator is refused here like any member.
    if rank < needs {
        let who = match needs {
            Rank::Admin => "a server admin",
            Rank::Owner => "its owner (or a server admin)",
            _ => "its moderators (or a server admin)",
        };
        return Err(Refusal::Forbidden(format!(
            "only {who} may do that in {room}"
        )));
    }
    let action = match (act, target) {
        (Act::Close(closed), _) => {
            if next.closed == *closed {
                let already = if *closed { "closed" } else { "open" };
                return Err(Refusal::Forbidden(format!("{room} is {already} already")));
            }
            next.closed = *closed;
            if *closed {
                ModAction::Closed
            } else {
                ModAction::Reopened
            }
        }
        (Act::SetTopic(topic), _) => {
            next.topic = (!topic.is_empty()).then(|| topic.clone());
            ModAction::Topic {
                topic: topic.clone(),
            }
        }
        (_, None) => return Err(Refusal::NoSuchUser("nobody named".into())),
        (act, Some(target)) => {
            if next.rank(&target.key, target.admin) >= rank {
                return Err(Refusal::Forbidden(format!(
                    "{} ranks as high as you in {room}",
                    target.nick
                )));
            }
            let (key, user) = (target.key.clone(), target.nick.clone());
            match act {
                Act::Invite => {
                    next.invited.insert(key, user.clone());
                    ModAction::Invited { user }
                }
                Act::Uninvite => {
                    // A moderator of a private room is admitted by that rank alone: an
                    // uninvite takes it too, or it would keep them in.
                    let invited = next.invited.remove(&key).is_some();
                    let moderator = next.private && next.moderators.remove(&key).is_some();
                    if !invited && !moderator {
                        return Err(Refusal::NoSuchUser(format!(
                            "{user} is not invited to {room}"
                        )));
                    }
                    ModAction::Uninvited { user }
                }
                Act::SetModerator(true) => {
                    next.moderators.insert(key, user.clone());
                    ModAction::ModeratorAdded { user }
                }
                Act::SetModerator(false) => {
                    next.moderators.remove(&key);
                    ModAction::ModeratorRemoved { user }
                }
                Act::Kick => ModAction::Kicked { user },
                Act::Ban => {
                    // A banned moderator is a moderator no more (`room_policy` says so).
                    next.moderators.remove(&key);
                    next.banned.insert(key, user.clone());
                    ModAction::Banned { user }
                }
                Act::Unban => {
                    next.banned.remove(&key);
                    ModAction::Unbanned { user }
                }
                // Decided by `leave_group`.
                Act::LeaveGroup => {
                    return Err(Refusal::Forbidden(format!("{room} is not a group")));
                }
                // Decided above: about nobody.
                Act::SetTopic(_) | Act::Close(_) => {
                    return Err(Refusal::Forbidden("that is about nobody".to_owned()));
                }
                Act::Mute { until_ms: 0 } => {
                    next.muted.remove(&key);
                    ModAction::Unmuted { user }
                }
                Act::Mute { until_ms } => {
                    next.muted.insert(
                        key,
                        Muted {
                            nick: user.clone(),
                            until_ms: *until_ms,
                        },
                    );
                    ModAction::Muted {
                        user,
                        until_ms: *until_ms,
                    }
                }
            }
        }
    };
    next.version += 1;
    Ok(Applied {
        room: room.clone(),
        policy: next,
        by: Some(actor.nick.clone()),
        action: Some(action),
        target_key: target.map(|t| t.key.clone()),
    })
}

/// The one act of a group: a member leaves it (nobody moderates a group, and only a group
/// can be left this way).
fn leave_group(
    room: &RoomName,
    mut next: RoomPolicy,
    actor: &Person,
    act: &Act,
) -> Result<Applied, Refusal> {
    if !next.group {
        return Err(Refusal::Forbidden(format!("{room} is not a group")));
    }
    if *act != Act::LeaveGroup {
        return Err(Refusal::Forbidden(format!(
            "{room} is a group: nobody moderates it"
        )));
    }
    if next.invited.remove(&actor.key).is_none() {
        return Err(Refusal::Forbidden(format!("you are not in {room}")));
    }
    next.version += 1;
    Ok(Applied {
        room: room.clone(),
        policy: next,
        by: Some(actor.nick.clone()),
        action: Some(ModAction::Left {
            user: actor.nick.clone(),
        }),
        target_key: Some(actor.key.clone()),
    })
}

/// The store failed (I/O, Redis unreachable).
#[derive(Debug, Clone, thiserror::Error)]
#[error("room policies: {0}")]
pub struct PolicyError(String);

fn failed(err: impl std::fmt::Display) -> PolicyError {
    PolicyError(err.to_string())
}

/// Why a page of the moderation log was not read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `before` is no position this log gave out (the asker's mistake).
    #[error("not a log position: {0}")]
    Position(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] PolicyError),
}

/// Where policies live.
#[derive(Clone)]
pub enum PolicyStore {
    /// `rooms.sqlite3`, and the data directory whose message store says which rooms were
    /// used (see [`PolicyStore::in_use`]).
    Sqlite(Arc<Mutex<Connection>>, PathBuf),
    /// The hash `chat:{policy}:rooms`; changes published on `chat:policy`.
    Redis(Conn),
}

/// Writes a room's policy if its stored version is still `ARGV[2]` (0: none stored), and
/// publishes the change (`ARGV[4]`, a JSON [`Applied`]) on `ARGV[3]`; 1 if written, 0 if
/// another change came first (the caller decides again on the newer policy). A moderation
/// act's log line (`ARGV[6]`, a JSON [`LogEntry`]; empty: none) joins the stream `KEYS[2]`,
/// which keeps about the last `ARGV[7]`.
const WRITE_LUA: &str = "
local json = redis.call('HGET', KEYS[1], ARGV[1])
local version = 0
if json then version = cjson.decode(json).version end
if version ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'e', ARGV[6])
end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
";

/// How often the subscription's connection is checked (and so re-established after a loss).
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// How many times an act is decided again when another node changed the room meanwhile.
const ATTEMPTS: usize = 8;

impl PolicyStore {
    /// `rooms.sqlite3` in `dir`, or the node's Redis connections.
    pub fn open(dir: &Path, redis: Option<&RedisSet>) -> Result<Self, PolicyError> {
        if let Some(redis) = redis {
            return Ok(Self::Redis(redis.commands()));
        }
        std::fs::create_dir_all(dir).map_err(failed)?;
        let db = Connection::open(dir.join(DB_FILE)).map_err(failed)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS policies (room TEXT PRIMARY KEY, json TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS moderation_log (id INTEGER PRIMARY KEY, entry TEXT NOT NULL);",
        )
        .map_err(failed)?;
        Ok(Self::Sqlite(Arc::new(Mutex::new(db)), dir.to_owned()))
    }

    /// Every room's policy, read at once from the SQLite store (`None` for Redis, which is
    /// read by the worker, perhaps later): a single node starts knowing every policy, so its
    /// first joins are answered in the protocol's usual order.
    pub fn load_now(&self) -> Result<Option<Loaded>, PolicyError> {
        let Self::Sqlite(db, _) = self else {
            return Ok(None);
        };
        let db = db.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Some(loaded(read_rows(&db).map_err(failed)?)))
    }

    /// Every room's policy, and the server's.
    pub async fn load_all(&self) -> Result<Loaded, PolicyError> {
        let rows: Vec<(String, String)> = match self {
            Self::Sqlite(db, _) => {
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
        Ok(loaded(rows))
    }

    /// The server's policy now, read from the store (none stored: nobody banned).
    pub async fn server_policy(&self) -> Result<ServerPolicy, PolicyError> {
        let json = self.read_field(SERVER_FIELD.to_owned()).await?;
        Ok(json.as_deref().map(decode_server).unwrap_or_default())
    }

    /// Bans the user with `key` (known as `name`) from the whole server, or lifts the ban,
    /// as the admin `by`: the server's policy after it, and whether it changed (when it was
    /// so already nothing is written or logged). A server admin (one of `admins`) cannot be
    /// banned.
    pub async fn ban_from_server(
        &self,
        by: &Nick,
        key: &str,
        name: &str,
        banned: bool,
        admins: &HashSet<String>,
    ) -> Result<(ServerApplied, bool), Refusal> {
        if banned && admins.contains(key) {
            return Err(Refusal::Forbidden(format!(
                "{name} is a server admin and cannot be banned"
            )));
        }
        for _ in 0..ATTEMPTS {
            let current = self.server_policy().await?;
            let mut next = current.clone();
            let changed = if banned {
                next.banned
                    .insert(key.to_owned(), name.to_owned())
                    .is_none()
            } else {
                next.banned.remove(key).is_some()
            };
            // The act's user as a nickname (a JWT `sub` may be none: then the log's `target`
            // alone names it).
            let user = Nick::try_from(name)
                .unwrap_or_else(|_| Nick::try_from("jwt-user").expect("a valid nickname"));
            let action = if banned {
                ModAction::Banned { user }
            } else {
                ModAction::Unbanned { user }
            };
            if !changed {
                let unchanged = ServerApplied {
                    server: current,
                    by: by.clone(),
                    action,
                    target_key: key.to_owned(),
                };
                return Ok((unchanged, false));
            }
            next.version = current.version + 1;
            let applied = ServerApplied {
                server: next,
                by: by.clone(),
                action,
                target_key: key.to_owned(),
            };
            let line = log_line(None, by, &applied.action, Some(name))?;
            let json = serde_json::to_string(&applied.server).map_err(failed)?;
            let published = serde_json::to_string(&applied).map_err(failed)?;
            let written = self
                .write_field(
                    SERVER_FIELD.to_owned(),
                    json,
                    published,
                    line,
                    current.version,
                )
                .await?;
            if written {
                return Ok((applied, true));
            }
        }
        Err(Refusal::Store(PolicyError(
            "the server's policy is changing too fast; try again".to_owned(),
        )))
    }

    /// The policy of `room` now, read from the store.
    async fn read(&self, room: &RoomName) -> Result<Option<RoomPolicy>, PolicyError> {
        let json = self.read_field(room.to_string()).await?;
        Ok(json.as_deref().and_then(decode))
    }

    /// The stored JSON of `field` (a room's name, or [`SERVER_FIELD`]).
    async fn read_field(&self, field: String) -> Result<Option<String>, PolicyError> {
        match self {
            Self::Sqlite(db, _) => {
                let db = Arc::clone(db);
                tokio::task::spawn_blocking(move || {
                    let db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    db.query_row("SELECT json FROM policies WHERE room = ?1", [field], |r| {
                        r.get(0)
                    })
                    .optional()
                })
                .await
                .map_err(failed)?
                .map_err(failed)
            }
            Self::Redis(redis) => redis.clone().hget(REDIS_KEY, field).await.map_err(failed),
        }
    }

    /// Writes `applied` if the room's stored version is still `expected` (0: none); whether
    /// it did. In cluster mode the same step publishes it.
    async fn write(&self, applied: &Applied, expected: u64) -> Result<bool, PolicyError> {
        let json = serde_json::to_string(&applied.policy).map_err(failed)?;
        // A moderation act (someone did something) is logged; a room's creation is not, and
        // nothing of a group is (nobody moderates one, and it is as closed as a direct
        // message: its members come and go unseen by admins too).
        let line = match (&applied.by, &applied.action) {
            (Some(by), Some(action)) if !applied.policy.group => {
                log_line(Some(&applied.room), by, action, None)?
            }
            _ => String::new(),
        };
        let published = serde_json::to_string(applied).map_err(failed)?;
        self.write_field(applied.room.to_string(), json, published, line, expected)
            .await
    }

    /// Writes `json` as `field`'s policy if its stored version is still `expected` (0: none),
    /// with the moderation log's `line` (empty: none); whether it did. In cluster mode the
    /// same script publishes `published` to every node.
    async fn write_field(
        &self,
        field: String,
        json: String,
        published: String,
        line: String,
        expected: u64,
    ) -> Result<bool, PolicyError> {
        match self {
            Self::Sqlite(db, _) => {
                let db = Arc::clone(db);
                tokio::task::spawn_blocking(move || {
                    let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    let tx = db.transaction()?;
                    let stored: Option<String> = tx
                        .query_row("SELECT json FROM policies WHERE room = ?1", [&field], |r| {
                            r.get(0)
                        })
                        .optional()?;
                    let version = stored
                        .as_deref()
                        .and_then(|json| serde_json::from_str::<Versioned>(json).ok())
                        .map_or(0, |v| v.version);
                    if version != expected {
                        return Ok(false);
                    }
                    tx.execute(
                        "INSERT INTO policies (room, json) VALUES (?1, ?2) \
                         ON CONFLICT (room) DO UPDATE SET json = excluded.json",
                        [&field, &json],
                    )?;
                    if !line.is_empty() {
                        tx.execute("INSERT INTO moderation_log (entry) VALUES (?1)", [&line])?;
                        tx.execute(
                            "DELETE FROM moderation_log WHERE id <= last_insert_rowid() - ?1",
                            [LOG_KEPT],
                        )?;
                    }
                    tx.commit()?;
                    Ok::<_, rusqlite::Error>(true)
                })
                .await
                .map_err(failed)?
                .map_err(failed)
            }
            Self::Redis(redis) => {
                let written: i64 = Script::new(WRITE_LUA)
                    .key(REDIS_KEY)
                    .key(REDIS_LOG_KEY)
                    .arg(field)
                    .arg(expected)
                    .arg(CHANNEL)
                    .arg(published)
                    .arg(json)
                    .arg(line)
                    .arg(LOG_KEPT)
                    .invoke_async(&mut redis.clone())
                    .await
                    .map_err(failed)?;
                Ok(written == 1)
            }
        }
    }

    /// Adds a line to the moderation log for an act that changes no policy (a message
    /// removed, a password reset): `by`'s `action` in `room` (none: on the whole server),
    /// about `target`.
    pub async fn append_log(
        &self,
        room: Option<&RoomName>,
        by: &Nick,
        action: &ModAction,
        target: Option<&str>,
    ) -> Result<(), PolicyError> {
        let line = log_line(room, by, action, target)?;
        match self {
            Self::Sqlite(db, _) => {
                let db = Arc::clone(db);
                tokio::task::spawn_blocking(move || {
                    let db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    db.execute("INSERT INTO moderation_log (entry) VALUES (?1)", [&line])?;
                    db.execute(
                        "DELETE FROM moderation_log WHERE id <= last_insert_rowid() - ?1",
                        [LOG_KEPT],
                    )
                })
                .await
                .map_err(failed)?
                .map_err(failed)?;
            }
            Self::Redis(redis) => {
                let _: String = redis::cmd("XADD")
                    .arg(REDIS_LOG_KEY)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(LOG_KEPT)
                    .arg("*")
                    .arg("e")
                    .arg(line)
                    .query_async(&mut redis.clone())
                    .await
                    .map_err(failed)?;
            }
        }
        Ok(())
    }

    /// A page of the moderation log, newest first: up to `limit` lines older than `before`
    /// (a page's `next`; none: from the newest), and where the page after it starts.
    pub async fn log_page(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<LogEntry>, Option<String>), LogError> {
        let limit = limit.max(1);
        // (cursor, line) pairs, newest first.
        let rows: Vec<(String, String)> = match self {
            Self::Sqlite(db, _) => {
                let db = Arc::clone(db);
                let before = match before {
                    None => i64::MAX,
                    Some(cursor) => cursor
                        .parse()
                        .map_err(|_| LogError::Position(cursor.to_owned()))?,
                };
                tokio::task::spawn_blocking(move || {
                    let db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    let mut query = db.prepare(
                        "SELECT id, entry FROM moderation_log WHERE id < ?1 \
                         ORDER BY id DESC LIMIT ?2",
                    )?;
                    let rows = query.query_map(
                        rusqlite::params![before, i64::try_from(limit).unwrap_or(i64::MAX)],
                        |row| Ok((row.get::<_, i64>(0)?.to_string(), row.get(1)?)),
                    )?;
                    rows.collect::<Result<Vec<_>, _>>()
                })
                .await
                .map_err(|err| LogError::Store(failed(err)))?
                .map_err(|err| LogError::Store(failed(err)))?
            }
            Self::Redis(redis) => {
                // Stream ids; `(ID` is exclusive. A cursor is only ever one we gave out.
                let end = match before {
                    None => "+".to_owned(),
                    Some(cursor)
                        if cursor.split_once('-').is_some_and(|(ms, seq)| {
                            ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok()
                        }) =>
                    {
                        format!("({cursor}")
                    }
                    Some(cursor) => return Err(LogError::Position(cursor.to_owned())),
                };
                let reply: redis::streams::StreamRangeReply = redis
                    .clone()
                    .xrevrange_count(REDIS_LOG_KEY, end, "-", limit)
                    .await
                    .map_err(|err| LogError::Store(failed(err)))?;
                reply
                    .ids
                    .into_iter()
                    .filter_map(|entry| {
                        let line: String = entry.get("e")?;
                        Some((entry.id, line))
                    })
                    .collect()
            }
        };
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|(cursor, _)| cursor.clone()))
            .flatten();
        let entries = rows
            .iter()
            .filter_map(|(cursor, line)| match serde_json::from_str(line) {
                Ok(entry) => Some(entry),
                Err(err) => {
                    // (A line a newer server wrote, during a rolling upgrade.)
                    tracing::warn!(%cursor, error = %err, "unreadable moderation log line; skipped");
                    None
                }
            })
            .collect();
        Ok((entries, next))
    }

    /// Whether `room` was ever used: it has (or had) messages, or (cluster mode) members on
    /// any node. The single node's members are the hub's to check; its messages are in the
    /// message store's file beside this one, read here through a read-only connection of
    /// its own (rooms are created rarely; the store's thread is not asked).
    pub async fn in_use(&self, room: &RoomName) -> Result<bool, PolicyError> {
        match self {
            Self::Sqlite(_, dir) => {
                let path = dir.join(crate::engine::sqlite::DB_FILE);
                let room = room.to_string();
                tokio::task::spawn_blocking(move || -> rusqlite::Result<bool> {
                    if !path.exists() {
                        return Ok(false);
                    }
                    let db = Connection::open_with_flags(
                        &path,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                            | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    db.query_row(
                        "SELECT EXISTS (SELECT 1 FROM rooms WHERE name = ?1)
                             OR EXISTS (SELECT 1 FROM messages WHERE room = ?1)",
                        [room],
                        |row| row.get(0),
                    )
                })
                .await
                .map_err(failed)?
                .map_err(failed)
            }
            Self::Redis(redis) => {
                let (meta, members): (bool, u64) = redis
                    .clone()
                    .pipeline(
                        redis::pipe()
                            .exists(crate::engine::redis::room_meta_key(room))
                            .hlen(crate::engine::redis::room_members_key(room)),
                    )
                    .await
                    .map_err(failed)?;
                Ok(meta || members > 0)
            }
        }
    }

    /// Creates `room` with `policy` (version 1) unless it has one, or unless it is in use and
    /// `claim_used` is false (see [`Request::Create`]).
    ///
    /// The use check and the write are two steps (their keys live in different Redis hash
    /// slots): a first member arriving between them is then inside a room that has just
    /// become owned, as if they had joined a moment after its creation.
    pub async fn create(
        &self,
        room: &RoomName,
        policy: RoomPolicy,
        claim_used: bool,
    ) -> Result<Applied, Refusal> {
        if !claim_used && self.in_use(room).await? {
            return Err(Refusal::Exists(format!(
                "{room} is in use already (it has messages or members); choose another name"
            )));
        }
        let applied = Applied {
            room: room.clone(),
            policy,
            by: None,
            action: None,
            target_key: None,
        };
        if self.write(&applied, 0).await? {
            Ok(applied)
        } else {
            Err(Refusal::Exists(format!(
                "{room} exists already; choose another name"
            )))
        }
    }

    /// Decides `act` against the room's stored policy ([`decide`]) and writes the result,
    /// deciding again if another change came first.
    pub async fn act(
        &self,
        room: &RoomName,
        actor: &Person,
        act: &Act,
        target: Option<&Person>,
    ) -> Result<Applied, Refusal> {
        for _ in 0..ATTEMPTS {
            let current = self.read(room).await?;
            let expected = current.as_ref().map_or(0, |p| p.version);
            let applied = decide(room, current.as_ref(), actor, act, target)?;
            if self.write(&applied, expected).await? {
                return Ok(applied);
            }
        }
        Err(Refusal::Store(PolicyError(format!(
            "{room} is changing too fast; try again"
        ))))
    }

    /// The key of the user who holds nickname `nick` anywhere in the cluster (cluster mode;
    /// single node: `None`, the hub knows its users).
    pub async fn nick_owner(&self, nick: &Nick) -> Result<Option<String>, PolicyError> {
        match self {
            Self::Sqlite(..) => Ok(None),
            Self::Redis(redis) => crate::engine::redis::nick_holder(&mut redis.clone(), nick)
                .await
                .map(|holder| holder.map(|(owner, _)| owner))
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

/// Every room's policy and the server's, as loaded.
pub type Loaded = (HashMap<RoomName, RoomPolicy>, ServerPolicy);

/// The rooms' policies and the server's (its row, [`SERVER_FIELD`], is no room's).
fn loaded(rows: Vec<(String, String)>) -> Loaded {
    let mut server = ServerPolicy::default();
    let rooms = rows
        .into_iter()
        .filter_map(|(room, json)| {
            if room == SERVER_FIELD {
                server = decode_server(&json);
                return None;
            }
            Some((room.parse().ok()?, decode(&json)?))
        })
        .collect();
    (rooms, server)
}

fn decode_server(json: &str) -> ServerPolicy {
    serde_json::from_str(json).unwrap_or_else(|err| {
        tracing::error!(error = %err, "unreadable server policy; taken as no bans");
        ServerPolicy::default()
    })
}

/// The moderation log's line of `by`'s `action` in `room` (none: the whole server, acting on
/// `target`), now.
fn log_line(
    room: Option<&RoomName>,
    by: &Nick,
    action: &ModAction,
    target: Option<&str>,
) -> Result<String, PolicyError> {
    serde_json::to_string(&LogEntry {
        at_ms: crate::engine::now_ms(),
        room: room.cloned(),
        by: by.clone(),
        action: action.clone(),
        target: target.map(str::to_owned),
    })
    .map_err(failed)
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
        /// The change made, or why not.
        result: Result<Applied, Refusal>,
    },
    /// Every policy, the rooms' and the server's (at start, and after the cluster
    /// subscription was re-established).
    Loaded(Loaded),
    /// A node (this one included) changed a room (cluster mode).
    Changed(Applied),
    /// A node (this one included) changed the server's policy (cluster mode).
    ServerChanged(ServerApplied),
}

/// Who an act is about.
#[derive(Debug, Clone)]
pub enum Whom {
    /// Known to the hub.
    Known(Person),
    /// A nickname held somewhere in the cluster (the worker looks it up).
    Nick(Nick),
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
        /// Whether a room already in use (messages, or members anywhere) may be claimed:
        /// by a server admin only. Anyone else may only create a room nobody used.
        claim_used: bool,
    },
    /// Moderate a room.
    Act {
        /// Returned with the answer.
        ctx: C,
        /// The room.
        room: RoomName,
        /// Who asks.
        actor: Person,
        /// What.
        act: Act,
        /// To whom (none for a deletion).
        whom: Option<Whom>,
    },
    /// Log an act that changes no policy (a moderator's removal of a message); no answer.
    Log {
        /// The room.
        room: RoomName,
        /// Who did it.
        by: Nick,
        /// What.
        action: ModAction,
    },
}

/// The policy worker: runs requests one at a time, in order, and (cluster mode) listens for
/// changes. Ends with `shutdown` or when the hub drops its sender.
pub struct Worker;

impl Worker {
    /// Starts the worker on `store`; returns where to send requests.
    pub fn spawn<C: Send + 'static>(
        store: PolicyStore,
        admins: HashSet<String>,
        redis: Option<RedisSet>,
        events: mpsc::UnboundedSender<PolicyEvent<C>>,
        shutdown: CancellationToken,
    ) -> mpsc::UnboundedSender<Request<C>> {
        let (requests, mut queue) = mpsc::unbounded_channel::<Request<C>>();
        let (pushes, mut heard) = mpsc::unbounded_channel();
        // Single node: nothing to hear (and a closed channel must not be polled again).
        let mut listening = redis.is_some();
        if let Some(redis) = redis {
            tokio::spawn(subscribe(redis, pushes, shutdown.clone()));
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
            // Set when changes may have been missed; retried every second until it works
            // (the commands connection may still be reconnecting).
            let mut reload = false;
            let mut retry = tokio::time::interval(Duration::from_secs(1));
            retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = retry.tick(), if reload => match store.load_all().await {
                        Ok(all) => {
                            reload = false;
                            if events.send(PolicyEvent::Loaded(all)).is_err() {
                                return;
                            }
                        }
                        Err(err) => tracing::warn!(error = %err, "cannot reload room policies; retrying"),
                    },
                    request = queue.recv() => {
                        let Some(request) = request else { return };
                        let Some(event) = run(&store, &admins, request).await else {
                            continue;
                        };
                        if events.send(event).is_err() {
                            return;
                        }
                    }
                    push = heard.recv(), if listening => match push {
                        Some(Heard::Changed(applied)) => {
                            if events.send(PolicyEvent::Changed(*applied)).is_err() {
                                return;
                            }
                        }
                        Some(Heard::Server(applied)) => {
                            if events.send(PolicyEvent::ServerChanged(*applied)).is_err() {
                                return;
                            }
                        }
                        Some(Heard::Resubscribed) => reload = true,
                        // The subscriber ended (shutdown): changes come no more.
                        None => listening = false,
                    },
                }
            }
        });
        requests
    }
}

async fn run<C>(
    store: &PolicyStore,
    admins: &HashSet<String>,
    request: Request<C>,
) -> Option<PolicyEvent<C>> {
    Some(match request {
        Request::Log { room, by, action } => {
            // Logged once here, the task boundary of the log's write.
            if let Err(err) = store.append_log(Some(&room), &by, &action, None).await {
                tracing::error!(error = %err, %room, %by, "cannot keep a moderation log line");
            }
            return None;
        }
        Request::Create {
            ctx,
            room,
            policy,
            claim_used,
        } => PolicyEvent::Done {
            ctx,
            result: store.create(&room, policy, claim_used).await,
        },
        Request::Act {
            ctx,
            room,
            actor,
            act,
            whom,
        } => {
            let target = match whom {
                None => Ok(None),
                Some(Whom::Known(person)) => Ok(Some(person)),
                Some(Whom::Nick(nick)) => match store.nick_owner(&nick).await {
                    Ok(Some(key)) => Ok(Some(Person {
                        admin: admins.contains(&key),
                        key,
                        nick,
                    })),
                    Ok(None) => Err(Refusal::NoSuchUser(format!(
                        "nobody called {nick} is online"
                    ))),
                    Err(err) => Err(Refusal::Store(err)),
                },
            };
            let result = match target {
                Ok(target) => store.act(&room, &actor, &act, target.as_ref()).await,
                Err(refusal) => Err(refusal),
            };
            if let Ok(applied) = &result {
                // Every moderation action is logged, once, by the node that made it.
                tracing::info!(
                    room = %room,
                    by = %actor.nick,
                    action = ?applied.action,
                    "moderation"
                );
            }
            PolicyEvent::Done { ctx, result }
        }
    })
}

enum Heard {
    Changed(Box<Applied>),
    Server(Box<ServerApplied>),
    /// The subscription is back after a loss.
    Resubscribed,
}

/// Listens on [`CHANNEL`] through the node's Pub/Sub connection (which subscribes again by
/// itself after a reconnect).
async fn subscribe(
    redis: RedisSet,
    heard: mpsc::UnboundedSender<Heard>,
    shutdown: CancellationToken,
) {
    let mut pushes = redis.pushes(&[CHANNEL]);
    let mut manager = redis.pubsub();
    // Until the first subscription holds; afterwards the connection keeps it.
    while let Err(err) = manager.subscribe(CHANNEL).await {
        tracing::warn!(error = %err, "cannot subscribe to room policy changes; retrying");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    // The connection manager tells of a lost connection (a `Disconnection` push), and of its
    // automatic resubscription once reconnected (a `Subscribe` push): then every policy is
    // read afresh, since changes published meanwhile were not heard. A PING every second
    // keeps the manager reconnecting while Redis is away (it reconnects when used).
    let mut health = tokio::time::interval(HEALTH_EVERY);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lost = false;
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => return,
            _ = health.tick() => {
                if redis::cmd("PING").query_async::<Value>(&mut manager).await.is_err() {
                    lost = true;
                }
                None
            }
            push = pushes.recv() => match push {
                Some(push) => match push.kind {
                    PushKind::Disconnection => {
                        lost = true;
                        None
                    }
                    PushKind::Subscribe if lost => {
                        lost = false;
                        Some(Heard::Resubscribed)
                    }
                    PushKind::Message => push.data.get(1).and_then(|payload| match payload {
                        // A room's change, or (with `server`, no `room`) the server's.
                        Value::BulkString(bytes) => serde_json::from_slice::<Applied>(bytes)
                            .map(|applied| Heard::Changed(Box::new(applied)))
                            .or_else(|_| {
                                serde_json::from_slice::<ServerApplied>(bytes)
                                    .map(|applied| Heard::Server(Box::new(applied)))
                            })
                            .ok(),
                        _ => None,
                    }),
                    _ => None,
                },
                None => return,
            },
        };
        if let Some(event) = event
            && heard.send(event).is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
