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

use std::{
    collections::HashMap,
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use redis::{AsyncCommands as _, Script, aio::ConnectionManager};
use rusqlite::{Connection, OptionalExtension as _, params};
use shared::Nick;

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
        /// Login attempts per counter key: (count, window start).
        attempts: Arc<Mutex<HashMap<String, (u32, std::time::Instant)>>>,
    },
    /// Keys `{acct}:NAMEKEY` (hash: name, phc), `{acct}:NAMEKEY:sessions` (set of session
    /// hashes), `{acct}-likeness` (hash: look-alike key → NAMEKEY), `{sess}:HASH` (the
    /// account's key, expiring) and `{attempts}:KEY` (a counter expiring with its window).
    Redis {
        /// Commands (reconnects by itself).
        redis: ConnectionManager,
        /// Set once this process has seen every account's look-alike keys in Redis.
        likeness_filled: Arc<tokio::sync::OnceCell<()>>,
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

    /// Uses the Redis at `url` (connects on first use, reconnects by itself).
    pub fn open_redis(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_connection_timeout(Some(Duration::from_secs(2)));
        let redis = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self::Redis {
            redis,
            likeness_filled: Arc::default(),
        })
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
            } => {
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
                    .invoke_async(&mut redis.clone())
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
            Self::Redis { redis, .. } => {
                let (name, phc): (Option<String>, Option<String>) = redis::cmd("HMGET")
                    .arg(account_key(&key))
                    .arg("name")
                    .arg("phc")
                    .query_async(&mut redis.clone())
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
            Self::Redis { redis, .. } => {
                let mut redis = redis.clone();
                let () = redis.hset(account_key(&key), "phc", phc).await?;
                let sessions_key = format!("{}:sessions", account_key(&key));
                let sessions: Vec<String> = redis.smembers(&sessions_key).await?;
                for session in sessions.into_iter().filter(|s| *s != keep) {
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
            Self::Redis { redis, .. } => {
                let mut redis = redis.clone();
                let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
                let () = redis.pset_ex(session_key(&token_hash), &key, ms).await?;
                let sessions_key = format!("{}:sessions", account_key(&key));
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
            Self::Redis { redis, .. } => {
                let mut redis = redis.clone();
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
            Self::Redis { redis, .. } => {
                let mut redis = redis.clone();
                let key: Option<String> = redis.get(session_key(&token_hash)).await?;
                let () = redis.del(session_key(&token_hash)).await?;
                if let Some(key) = key {
                    let () = redis
                        .srem(format!("{}:sessions", account_key(&key)), &token_hash)
                        .await?;
                }
                Ok(())
            }
        }
    }

    /// Counts one login attempt against `counter` (an account or an address) and says
    /// whether it is within `max` per `window`.
    pub async fn attempt(
        &self,
        counter: &str,
        max: u32,
        window: Duration,
    ) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite { attempts, .. } => {
                let now = std::time::Instant::now();
                let mut attempts = attempts.lock().unwrap_or_else(PoisonError::into_inner);
                // Old windows go when the map is touched: it holds only recent counters.
                attempts.retain(|_, (_, start)| now.duration_since(*start) < window);
                let (count, _) = attempts.entry(counter.to_owned()).or_insert((0, now));
                *count = count.saturating_add(1);
                Ok(*count <= max)
            }
            Self::Redis { redis, .. } => {
                let mut redis = redis.clone();
                let key = format!("{{attempts}}:{counter}");
                let count: u32 = redis.incr(&key, 1).await?;
                if count == 1 {
                    let ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
                    let () = redis.pexpire(&key, ms).await?;
                }
                Ok(count <= max)
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
async fn fill_likeness_redis(mut redis: ConnectionManager) -> Result<(), StoreError> {
    let filled: bool = redis.hexists(LIKENESS_KEY, LIKENESS_FILLED_FIELD).await?;
    if filled {
        return Ok(());
    }
    let mut cursor: u64 = 0;
    loop {
        // Account hashes only: `{acct}:NAMEKEY:sessions` are sets.
        let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("{acct}:*")
            .arg("TYPE")
            .arg("hash")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut redis)
            .await?;
        for hash in found {
            let Some(key) = hash.strip_prefix("{acct}:") else {
                continue;
            };
            let name: Option<String> = redis.hget(&hash, "name").await?;
            let Some(name) = name.and_then(|name| Nick::try_from(name).ok()) else {
                continue;
            };
            for like in names::likeness(&name) {
                let _: bool = redis.hset_nx(LIKENESS_KEY, like, key).await?;
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

fn account_key(name_key: &str) -> String {
    format!("{{acct}}:{name_key}")
}

fn session_key(token_hash: &str) -> String {
    format!("{{sess}}:{token_hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn register_login_session_and_password_change_in_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open_sqlite(dir.path()).unwrap();
        let alice: Nick = "Alice".parse().unwrap();
        assert!(accounts.register(&alice, "phc-1".into()).await.unwrap());
        // The same name in another case is the same account.
        let shouting: Nick = "ALICE".parse().unwrap();
        assert!(!accounts.register(&shouting, "phc-2".into()).await.unwrap());
        let found = accounts.account(&shouting).await.unwrap().unwrap();
        assert_eq!(
            (found.name.as_str(), found.phc.as_str()),
            ("Alice", "phc-1")
        );
        let day = Duration::from_secs(86_400);
        accounts
            .start_session(&alice, "s1".into(), day)
            .await
            .unwrap();
        accounts
            .start_session(&alice, "s2".into(), day)
            .await
            .unwrap();
        assert_eq!(
            accounts.session("s1".into()).await.unwrap(),
            Some(alice.clone())
        );
        accounts
            .set_password(&alice, "phc-3".into(), "s2".into())
            .await
            .unwrap();
        assert_eq!(accounts.session("s1".into()).await.unwrap(), None);
        assert_eq!(
            accounts.session("s2".into()).await.unwrap(),
            Some(alice.clone())
        );
        accounts.end_session("s2".into()).await.unwrap();
        assert_eq!(accounts.session("s2".into()).await.unwrap(), None);
        accounts
            .start_session(&alice, "old".into(), Duration::ZERO)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(accounts.session("old".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_look_alike_of_a_registered_name_is_taken_in_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open_sqlite(dir.path()).unwrap();
        let alice: Nick = "Alice".parse().unwrap();
        assert!(accounts.register(&alice, "phc-1".into()).await.unwrap());
        // Cyrillic А; a capital I for the l; the same name ignoring case, all look-alikes.
        for look_alike in ["\u{410}lice", "AIice", "\u{430}LICE"] {
            let name: Nick = look_alike.parse().unwrap();
            assert!(
                !accounts.register(&name, "phc-2".into()).await.unwrap(),
                "{look_alike}"
            );
            // Refused whole: no account row was left behind.
            assert!(accounts.account(&name).await.unwrap().is_none());
        }
        let other: Nick = "Alicia".parse().unwrap();
        assert!(accounts.register(&other, "phc-3".into()).await.unwrap());
    }

    #[tokio::test]
    async fn accounts_registered_before_likeness_was_kept_still_take_their_look_alikes() {
        let dir = tempfile::tempdir().unwrap();
        {
            // An accounts file as the server before this one left it.
            let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
            db.execute_batch(
                "CREATE TABLE accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL, \
                 phc TEXT NOT NULL, created_ms INTEGER NOT NULL); \
                 INSERT INTO accounts VALUES ('alice', 'Alice', 'phc-1', 1);",
            )
            .unwrap();
        }
        let accounts = Accounts::open_sqlite(dir.path()).unwrap();
        let look_alike: Nick = "\u{410}lice".parse().unwrap();
        assert!(
            !accounts
                .register(&look_alike, "phc-2".into())
                .await
                .unwrap()
        );
        // The old account is found as before, under the same key.
        let alice: Nick = "alice".parse().unwrap();
        let found = accounts.account(&alice).await.unwrap().unwrap();
        assert_eq!(found.name.as_str(), "Alice");
        // Done once: the file says so, and the next opening skips the scan.
        drop(accounts);
        let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, LIKENESS_FILLED);
    }

    #[tokio::test]
    async fn attempts_are_counted_per_counter_and_window() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = Accounts::open_sqlite(dir.path()).unwrap();
        let window = Duration::from_millis(200);
        for _ in 0..3 {
            assert!(accounts.attempt("a", 3, window).await.unwrap());
        }
        assert!(!accounts.attempt("a", 3, window).await.unwrap());
        assert!(accounts.attempt("b", 3, window).await.unwrap());
        tokio::time::sleep(window).await;
        assert!(accounts.attempt("a", 3, window).await.unwrap());
    }
}
