//! Where accounts and login sessions live: a SQLite file of their own next to the message
//! store (single node), or Redis (cluster mode, shared by every node). Also the login attempt
//! counters, so that a brute force spread over a cluster's nodes meets one limit.
//!
//! Stored per account: its name (as registered) and its Argon2id PHC string; per session: the
//! SHA-256 of the cookie's value (a database reader cannot log in with it), the account and
//! the expiry. Nothing here ever sees a password in clear.
//!
//! An account is found by its name's lower case ([`Nick::key`], from which its user key
//! follows, so it never changes); a name is free only if it looks like no registered one:
//! each account also holds its name's look-alike keys ([`names::likeness`]), entered for
//! accounts registered before they were kept when the store is first opened (SQLite) or
//! first registered into (Redis).
//!
//! In Redis an account's keys are named by the SHA-256 of its name key, never by the name
//! itself: a name may contain `:`, and `bob:sessions` would otherwise be the key of Bob's
//! session set (issue #27, hole 7). Keys named by names up to that change are renamed the
//! first time a node uses the store ([`migrate_legacy_keys`]).
//! first time a node uses the store ([`migrate_legacy_keys`]).
//!
//! One piece (about 730 lines): the SQLite and the Redis account stores implement the same
//! operations side by side, so each operation's two versions are read together; its tests
//! are in `accounts/tests.rs`.

use std::{
    collections::{HashMap, VecDeque},
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use redis::{AsyncCommands as _, Script};

use crate::redis_set::Conn;
use rusqlite::{Connection, OptionalExtension as _, params};
use sha2::{Digest as _, Sha256};
use shared::Nick;
use tokio::sync::OnceCell;

use crate::names;

/// The accounts database's file, in `--data-dir`.
pub const DB_FILE: &str = "accounts.sqlite3";

/// A stored account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Its name as registered (the key is its lower case).
    pub name: Nick,
    /// The Argon2id PHC string of its password.
    pub phc: String,
}

/// The account store failed (I/O, Redis unreachable).
#[derive(Debug, thiserror::Error)]
#[error("account store: {0}")]
pub struct StoreError(String);

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        Self(err.to_string())
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(err: redis::RedisError) -> Self {
        Self(err.to_string())
    }
}

/// The account store of this server; cheap to clone.
#[derive(Clone)]
pub enum Accounts {
    /// `accounts.sqlite3` in the data directory, and attempt counters in memory.
    Sqlite {
        /// The one connection (its users hold the lock only inside `spawn_blocking`).
        db: Arc<Mutex<Connection>>,
        /// Login attempt counters (held only for a few map operations, never across an await).
        attempts: Arc<Mutex<AttemptTable>>,
    },
    /// Keys `{acct}:ID` (hash: name, phc), `{acct}:ID:sessions` (set of session hashes),
    /// `{acct}-likeness` (hash: look-alike key → name key), `{sess}:HASH` (the account's
    /// name key, expiring) and `{attempts}:COUNTER` (a counter expiring with its window),
    /// where ID and COUNTER are SHA-256 digests (hex) of the account's name key and of the
    /// counter's name: text a client chose never becomes part of a key, so no name can spell
    /// another account's key.
    Redis {
        /// Commands (reconnects by itself).
        redis: Conn,
        /// Set once this process has seen every account's look-alike keys in Redis.
        likeness_filled: Arc<OnceCell<()>>,
        /// Set once [`migrate_legacy_keys`] has run on this node; every use waits for it.
        migrated: Arc<OnceCell<()>>,
    },
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phc TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(key),
    expires_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_account ON sessions(account);
-- Each look-alike key of a registered name (names::likeness), and whose it is.
CREATE TABLE IF NOT EXISTS account_likeness (
    key TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(key)
);
";

/// `PRAGMA user_version` of an accounts file whose `account_likeness` has every account's
/// keys (files from before it was added have 0).
const LIKENESS_FILLED: i64 = 1;

/// Registers an account unless its key exists or a name that looks like it is registered;
/// returns whether it did. KEYS: the account's hash, the look-alike hash. ARGV: name, PHC,
/// the account's key, then the name's look-alike keys.
const REGISTER_LUA: &str = "
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 4, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 1 then return 0 end
end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'phc', ARGV[2])
for i = 4, #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[3])
end
return 1
";

/// The Redis hash of every registered name's look-alike keys, each to its account's key. Not
/// under `{acct}:` (a name can be anything, `likeness` included), but in the same hash slot.
const LIKENESS_KEY: &str = "{acct}-likeness";

/// The field of [`LIKENESS_KEY`] that says the accounts registered before it was kept are in
/// it (look-alike keys start with `c:` or `s:`, so never equal it).
const LIKENESS_FILLED_FIELD: &str = "filled";

/// Counts an attempt on `KEYS[1]`, whose window (`ARGV[1]` ms) starts with its first attempt;
/// returns {count, ms until the window ends}. The expiry is set in the same step, so a counter
/// can never be left without one (which would lock its account out for good), and only when
/// it has none: later attempts, refused ones included, never move the window's end.
const ATTEMPT_LUA: &str = "
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {count, left}
";

/// One login attempt, counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Within the limit.
    Allowed,
    /// Over it until the counter's window ends.
    Refused {
        /// How long until then.
        retry_after: Duration,
    },
}

impl Attempt {
    fn of(count: u32, max: u32, left: Duration) -> Self {
        if count <= max {
            Self::Allowed
        } else {
            Self::Refused { retry_after: left }
        }
    }
}

/// The login attempt counters of a single node, in memory: a fixed window per counter from
/// its first attempt. Each attempt costs O(1) (amortized) however many counters are live:
/// the windows' ends queue up in the order they were opened, and the ended ones leave from
/// the front as attempts come, instead of a scan of the whole table per attempt.
#[derive(Debug, Default)]
pub struct AttemptTable {
    /// Count and window end, per counter.
    counters: HashMap<String, (u32, Instant)>,
    /// (window end, counter) for every window opened, oldest first.
    ends: VecDeque<(Instant, String)>,
}

impl AttemptTable {
    /// Counts an attempt on `counter` at `now`.
    fn count(&mut self, counter: &str, max: u32, window: Duration, now: Instant) -> Attempt {
        while let Some((end, _)) = self.ends.front()
            && *end <= now
        {
            let Some((end, key)) = self.ends.pop_front() else {
                break;
            };
            // Unless the counter has opened a newer window since (queued further back).
            if self.counters.get(&key).is_some_and(|&(_, e)| e == end) {
                self.counters.remove(&key);
            }
        }
        let (count, end) = self.counters.entry(counter.to_owned()).or_insert((0, now));
        // New, or ended (windows of another length may end out of the queue's order).
        if *end <= now {
            *count = 0;
            *end = now + window;
            self.ends.push_back((*end, counter.to_owned()));
        }
        *count = count.saturating_add(1);
        Attempt::of(*count, max, end.saturating_duration_since(now))
    }

    /// How many counters are live.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.counters.len()
    }
}

/// Renames the key `KEYS[1]` to `KEYS[2]` if it is still of type `ARGV[1]` and `KEYS[2]` is
/// free: 1 renamed, 0 not (any more) such a key, -1 the new key exists already.
const MIGRATE_LUA: &str = "
if redis.call('TYPE', KEYS[1]).ok ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
redis.call('RENAME', KEYS[1], KEYS[2])
return 1
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Accounts {
    /// Opens (creating if needed) `accounts.sqlite3` in `dir`.
    pub fn open_sqlite(dir: &Path) -> Result<Self, StoreError> {
        let mut db = Connection::open(dir.join(DB_FILE))?;
        let mode: String = db.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError(format!(
                "{DB_FILE} cannot use WAL journaling (it is in {mode} mode)"
            )));
        }
        db.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        db.busy_timeout(Duration::from_secs(5))?;
        db.execute_batch(SCHEMA)?;
        fill_likeness_sqlite(&mut db)?;
        Ok(Self::Sqlite {
            db: Arc::new(Mutex::new(db)),
            attempts: Arc::default(),
        })
    }

    /// Uses the node's Redis connections.
    pub fn open_redis(redis: &crate::redis_set::RedisSet) -> Result<Self, StoreError> {
        let redis = redis.commands();
        Ok(Self::Redis {
            redis,
            likeness_filled: Arc::default(),
            migrated: Arc::default(),
        })
    }

    /// A connection to Redis, once this node has migrated the legacy keys (a failure is
    /// returned, and the migration tried again on the next use: Redis may be away).
    async fn ready(redis: &Conn, migrated: &OnceCell<()>) -> Result<Conn, StoreError> {
        let mut redis = redis.clone();
        migrated
            .get_or_try_init(|| migrate_legacy_keys(&mut redis))
            .await?;
        Ok(redis)
    }

    /// Runs `work` on the SQLite connection off the async workers.
    async fn blocking<T: Send + 'static>(
        db: &Arc<Mutex<Connection>>,
        work: impl FnOnce(&mut Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(db);
        tokio::task::spawn_blocking(move || {
            let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut db)
        })
        .await
        .map_err(|err| StoreError(err.to_string()))?
        .map_err(StoreError::from)
    }

    /// Creates the account `name` with password hash `phc`; `false` if the name (ignoring
    /// case), or one that looks like it ([`names::likeness`]), is registered already.
    pub async fn register(&self, name: &Nick, phc: String) -> Result<bool, StoreError> {
        let key = name.key();
        let likeness = names::likeness(name);
        match self {
            Self::Sqlite { db, .. } => {
                let name = name.to_string();
                Self::blocking(db, move |db| {
                    // Dropped without a commit (an early return), the transaction rolls back.
                    let tx = db.transaction()?;
                    let inserted = tx.execute(
                        "INSERT OR IGNORE INTO accounts (key, name, phc, created_ms) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![key, name, phc, now_ms()],
                    )?;
                    if inserted == 0 {
                        return Ok(false);
                    }
                    for like in &likeness {
                        let entered = tx.execute(
                            "INSERT OR IGNORE INTO account_likeness (key, account) VALUES (?1, ?2)",
                            params![like, key],
                        )?;
                        if entered == 0 {
                            return Ok(false);
                        }
                    }
                    tx.commit()?;
                    Ok(true)
                })
                .await
            }
            Self::Redis {
                redis,
                likeness_filled,
                migrated,
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                likeness_filled
                    .get_or_try_init(|| fill_likeness_redis(redis.clone()))
                    .await?;
                let created: i64 = Script::new(REGISTER_LUA)
                    .key(account_key(&key))
                    .key(LIKENESS_KEY)
                    .arg(name.as_str())
                    .arg(phc)
                    .arg(&key)
                    .arg(&likeness[..])
                    .invoke_async(&mut redis)
                    .await?;
                Ok(created == 1)
            }
        }
    }

    /// The account called `name` (ignoring case), if registered.
    pub async fn account(&self, name: &Nick) -> Result<Option<Account>, StoreError> {
        let key = name.key();
        let found: Option<(String, String)> = match self {
            Self::Sqlite { db, .. } => {
                Self::blocking(db, move |db| {
                    db.query_row(
                        "SELECT name, phc FROM accounts WHERE key = ?1",
                        [key],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                })
                .await?
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let (name, phc): (Option<String>, Option<String>) = redis::cmd("HMGET")
                    .arg(account_key(&key))
                    .arg("name")
                    .arg("phc")
                    .query_async(&mut redis)
                    .await?;
                name.zip(phc)
            }
        };
        Ok(found.and_then(|(name, phc)| {
            Some(Account {
                name: name.parse().ok()?,
                phc,
            })
        }))
    }

    /// Replaces the password hash of `name`'s account and ends every session of it except
    /// `keep` (the one that asked for the change).
    pub async fn set_password(
        &self,
        name: &Nick,
        phc: String,
        keep: String,
    ) -> Result<(), StoreError> {
        let key = name.key();
        match self {
            Self::Sqlite { db, .. } => {
                Self::blocking(db, move |db| {
                    let tx = db.transaction()?;
                    tx.execute("UPDATE accounts SET phc = ?1 WHERE key = ?2", [&phc, &key])?;
                    tx.execute(
                        "DELETE FROM sessions WHERE account = ?1 AND token_hash != ?2",
                        [&key, &keep],
                    )?;
                    tx.commit()
                })
                .await
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let () = redis.hset(account_key(&key), "phc", phc).await?;
                let sessions_key = sessions_key(&key);
                let sessions: Vec<String> = redis.smembers(&sessions_key).await?;
                for session in sessions.into_iter().filter(|s| *s != keep) {
                    let () = redis.del(session_key(&session)).await?;
                    let () = redis.srem(&sessions_key, &session).await?;
                }
                Ok(())
            }
        }
    }

    /// Ends every session of `name`'s account (a server admin's revocation).
    pub async fn end_sessions(&self, name: &Nick) -> Result<(), StoreError> {
        let key = name.key();
        match self {
            Self::Sqlite { db, .. } => {
                Self::blocking(db, move |db| {
                    db.execute("DELETE FROM sessions WHERE account = ?1", [&key])
                        .map(|_| ())
                })
                .await
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let sessions_key = sessions_key(&key);
                let sessions: Vec<String> = redis.smembers(&sessions_key).await?;
                for session in sessions {
                    let () = redis.del(session_key(&session)).await?;
                    let () = redis.srem(&sessions_key, &session).await?;
                }
                Ok(())
            }
        }
    }

    /// Starts a session `token_hash` for `name`'s account, valid for `ttl`.
    pub async fn start_session(
        &self,
        name: &Nick,
        token_hash: String,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = name.key();
        match self {
            Self::Sqlite { db, .. } => {
                let expires =
                    now_ms().saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
                Self::blocking(db, move |db| {
                    // Expired sessions go when new ones come: no timer needed.
                    db.execute("DELETE FROM sessions WHERE expires_ms < ?1", [now_ms()])?;
                    db.execute(
                        "INSERT INTO sessions (token_hash, account, expires_ms) VALUES (?1, ?2, ?3)",
                        params![token_hash, key, expires],
                    )?;
                    Ok(())
                })
                .await
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                let () = redis.pset_ex(session_key(&token_hash), &key, ms).await?;
                let sessions_key = sessions_key(&key);
                let () = redis.sadd(&sessions_key, &token_hash).await?;
                let () = redis
                    .pexpire(&sessions_key, i64::try_from(ms).unwrap_or(i64::MAX))
                    .await?;
                Ok(())
            }
        }
    }

    /// The account of the live session `token_hash`, if any.
    pub async fn session(&self, token_hash: String) -> Result<Option<Nick>, StoreError> {
        let name: Option<String> = match self {
            Self::Sqlite { db, .. } => {
                Self::blocking(db, move |db| {
                    db.query_row(
                        "SELECT accounts.name FROM sessions JOIN accounts \
                         ON accounts.key = sessions.account \
                         WHERE token_hash = ?1 AND expires_ms >= ?2",
                        params![token_hash, now_ms()],
                        |row| row.get(0),
                    )
                    .optional()
                })
                .await?
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let key: Option<String> = redis.get(session_key(&token_hash)).await?;
                match key {
                    Some(key) => redis.hget(account_key(&key), "name").await?,
                    None => None,
                }
            }
        };
        Ok(name.and_then(|name| name.parse().ok()))
    }

    /// Ends the session `token_hash` (logout).
    pub async fn end_session(&self, token_hash: String) -> Result<(), StoreError> {
        match self {
            Self::Sqlite { db, .. } => {
                Self::blocking(db, move |db| {
                    db.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
                    Ok(())
                })
                .await
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let key: Option<String> = redis.get(session_key(&token_hash)).await?;
                let () = redis.del(session_key(&token_hash)).await?;
                if let Some(key) = key {
                    let () = redis.srem(sessions_key(&key), &token_hash).await?;
                }
                Ok(())
            }
        }
    }

    /// Counts one login attempt against `counter` (an account or an address): allowed while
    /// within `max` per `window`, a window starting with the counter's first attempt and
    /// ending `window` later whatever comes meanwhile.
    pub async fn attempt(
        &self,
        counter: &str,
        max: u32,
        window: Duration,
    ) -> Result<Attempt, StoreError> {
        match self {
            Self::Sqlite { attempts, .. } => {
                let mut attempts = attempts.lock().unwrap_or_else(PoisonError::into_inner);
                Ok(attempts.count(counter, max, window, Instant::now()))
            }
            Self::Redis {
                redis, migrated, ..
            } => {
                let mut redis = Self::ready(redis, migrated).await?;
                let ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
                let (count, left): (u32, u64) = Script::new(ATTEMPT_LUA)
                    .key(attempts_key(counter))
                    .arg(ms)
                    .invoke_async(&mut redis)
                    .await?;
                Ok(Attempt::of(count, max, Duration::from_millis(left)))
            }
        }
    }
}

/// Enters the look-alike keys of the accounts registered before they were kept, oldest first
/// (a name registered twice in look-alike spellings back then: the first has them), once per
/// file.
fn fill_likeness_sqlite(db: &mut Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = db.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version >= LIKENESS_FILLED {
        return Ok(());
    }
    let tx = db.transaction()?;
    {
        let mut accounts = tx.prepare("SELECT key, name FROM accounts ORDER BY created_ms")?;
        let accounts = accounts
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut enter =
            tx.prepare("INSERT OR IGNORE INTO account_likeness (key, account) VALUES (?1, ?2)")?;
        for (key, name) in accounts {
            // Every stored name was a valid nickname when it was registered.
            let Ok(name) = Nick::try_from(name) else {
                continue;
            };
            for like in names::likeness(&name) {
                enter.execute(params![like, key])?;
            }
        }
    }
    tx.pragma_update(None, "user_version", LIKENESS_FILLED)?;
    tx.commit()
}

/// [`fill_likeness_sqlite`] for Redis: scans the accounts unless the look-alike hash says it
/// was done (by any node). Nodes doing it at once enter the same keys; an account may get a
/// key another look-alike account registered back then has too only if it was first.
async fn fill_likeness_redis(mut redis: Conn) -> Result<(), StoreError> {
    let filled: bool = redis.hexists(LIKENESS_KEY, LIKENESS_FILLED_FIELD).await?;
    if filled {
        return Ok(());
    }
    let mut cursor: u64 = 0;
    loop {
        // Account hashes only: `{acct}:ID:sessions` are sets.
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg("{acct}:*")
            .arg("TYPE")
            .arg("hash")
            .arg("COUNT")
            .arg(1000);
        // Every `{acct}` key is on one hash slot: on a Redis Cluster the scan must walk the
        // node that owns it (SCAN is not routed by a key).
        let (next, found): (u64, Vec<String>) = redis.on_primary_of("{acct}", &scan).await?;
        for hash in found {
            let name: Option<String> = redis.hget(&hash, "name").await?;
            let Some(name) = name.and_then(|name| Nick::try_from(name).ok()) else {
                continue;
            };
            let key = name.key();
            for like in names::likeness(&name) {
                let _: bool = redis.hset_nx(LIKENESS_KEY, like, &key).await?;
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let () = redis.hset(LIKENESS_KEY, LIKENESS_FILLED_FIELD, 1).await?;
    Ok(())
}

/// The SHA-256 of `text`, in hex: 64 characters, none of them `:`.
fn digest(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Where the account whose name key is `name_key` lives.
fn account_key(name_key: &str) -> String {
    format!("{{acct}}:{}", digest(name_key))
}

/// The set of the session hashes of the account whose name key is `name_key`.
fn sessions_key(name_key: &str) -> String {
    format!("{}:sessions", account_key(name_key))
}

/// A session's key. `token_hash` is always [`super::session_hash`]'s hex digest, never text
/// a client chose.
fn session_key(token_hash: &str) -> String {
    format!("{{sess}}:{token_hash}")
}

/// A login attempt counter's key (`counter` holds an account's name or an address).
fn attempts_key(counter: &str) -> String {
    format!("{{attempts}}:{}", digest(counter))
}

/// Whether `{acct}:SUFFIX` is of the current form (a digest, or a digest's session set).
/// A name key has at most 32 characters (`Nick::MAX_CHARS`; lower-casing never turns other
/// characters into ASCII hex digits), so a legacy key never looks like one.
fn is_current(suffix: &str) -> bool {
    let is_digest = |text: &str| text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    is_digest(suffix) || suffix.strip_suffix(":sessions").is_some_and(is_digest)
}

/// Where the legacy key `{acct}:SUFFIX` (named by a name key, before hole 7 was closed)
/// belongs now, given its Redis type: a hash is the account whose name key is SUFFIX, a set
/// is the session set of the account whose name key is SUFFIX without `:sessions`. `None`:
/// nothing this store made.
fn migrated_key(suffix: &str, kind: &str) -> Option<String> {
    match kind {
        "hash" => Some(account_key(suffix)),
        "set" => suffix.strip_suffix(":sessions").map(sessions_key),
        _ => None,
    }
}

/// Renames the keys of accounts stored before hole 7 was closed (named by their name key)
/// to the current form, so that accounts and sessions survive the upgrade and nobody can
/// register a name that is still an account. Idempotent, and safe with several nodes doing it
/// at once (each rename is checked and done in one script). A key whose new name is taken
/// is left where it is, with a warning: that account was registered again meanwhile, by a
/// node that did not see the old one (stop every node of the old version before starting the
/// new one).
///
/// `{sess}:*` keys keep their form (they hold the name key, as before) and `{attempts}:*`
/// counters expire within a minute, so neither needs migrating. The SCAN walks the whole
/// keyspace once per node start.
async fn migrate_legacy_keys(redis: &mut Conn) -> Result<(), StoreError> {
    let script = Script::new(MIGRATE_LUA);
    let mut cursor = 0_u64;
    let mut renamed = 0_usize;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg("{acct}:*")
            .arg("COUNT")
            .arg(1000);
        // On a Redis Cluster, on the node that owns the `{acct}` slot (see fill_likeness_redis).
        let (next, keys): (u64, Vec<String>) = redis.on_primary_of("{acct}", &scan).await?;
        for key in keys {
            let Some(suffix) = key.strip_prefix("{acct}:").filter(|s| !is_current(s)) else {
                continue;
            };
            let kind: String = redis::cmd("TYPE").arg(&key).query_async(redis).await?;
            let Some(new_key) = migrated_key(suffix, &kind) else {
                continue;
            };
            let outcome: i64 = script
                .key(&key)
                .key(&new_key)
                .arg(&kind)
                .invoke_async(redis)
                .await?;
            match outcome {
                1 => renamed += 1,
                -1 => tracing::warn!(key, "a legacy account key's new name is taken; left as is"),
                _ => {}
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    if renamed > 0 {
        tracing::info!(
            renamed,
            "account keys renamed to their hashed form (issue #27)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
