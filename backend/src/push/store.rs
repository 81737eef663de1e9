//! Where browsers' push subscriptions are kept, by user key: `push.sqlite3` in the data
//! directory (one node) or Redis (cluster mode, every node reads the same).
//!
//! An endpoint belongs to one user at a time: a browser that subscribes for another user
//! (someone else logged in on it) is moved, so the one who logged out is no longer pushed
//! to there. A user keeps at most [`MAX_PER_USER`] subscriptions (the oldest goes).

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::redis_set::Conn;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The subscriptions database's file, in `--data-dir`.
pub const DB_FILE: &str = "push.sqlite3";
/// Subscriptions (devices) one user keeps at most.
pub const MAX_PER_USER: usize = 10;

/// A stored subscription: where to push, and the browser's keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The push service's URL for the browser.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
    /// "New message" only: no sender, no text.
    pub private: bool,
    /// When it was registered (milliseconds since the Unix epoch).
    pub at: u64,
}

/// The store failed (I/O, Redis unreachable).
#[derive(Debug, thiserror::Error)]
#[error("push subscriptions: {0}")]
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

/// The subscription store; cheap to clone.
#[derive(Clone)]
pub enum Subscriptions {
    /// `push.sqlite3` (its users hold the lock only inside `spawn_blocking`).
    Sqlite(Arc<Mutex<Connection>>),
    /// Keys `chat:push:subs:USER` (hash: endpoint → [`Stored`] as JSON) and
    /// `chat:push:owner:HASH` (the user an endpoint belongs to, by its SHA-256).
    Redis(Conn),
}

const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS subscriptions (
        endpoint TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        private INTEGER NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS subscriptions_user ON subscriptions (user, at);
";

fn subs_key(user: &str) -> String {
    format!("chat:push:subs:{user}")
}

fn owner_key(endpoint: &str) -> String {
    let digest = Sha256::digest(endpoint.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("chat:push:owner:{hex}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Subscriptions {
    /// The store of this server: Redis's with `redis`, else the file in `dir`.
    pub fn open(
        dir: &Path,
        redis: Option<&crate::redis_set::RedisSet>,
    ) -> Result<Self, StoreError> {
        if let Some(redis) = redis {
            return Ok(Self::Redis(redis.commands()));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(DB_FILE);
        let named = |e: rusqlite::Error| StoreError(format!("{}: {e}", path.display()));
        let db = Connection::open(&path).map_err(named)?;
        db.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(named)?;
        db.busy_timeout(Duration::from_secs(5)).map_err(named)?;
        db.execute_batch(SCHEMA).map_err(named)?;
        Ok(Self::Sqlite(Arc::new(Mutex::new(db))))
    }

    async fn blocking<T: Send + 'static>(
        db: &Arc<Mutex<Connection>>,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
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

    /// Keeps `sub` for `user` (replacing what the endpoint had, whoever it was for).
    pub async fn add(&self, user: &str, mut sub: Stored) -> Result<(), StoreError> {
        sub.at = now_ms();
        match self {
            Self::Sqlite(db) => {
                let user = user.to_owned();
                Self::blocking(db, move |db| {
                    let tx = db.transaction()?;
                    tx.execute(
                        "INSERT OR REPLACE INTO subscriptions
                             (endpoint, user, p256dh, auth, private, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            sub.endpoint,
                            user,
                            sub.p256dh,
                            sub.auth,
                            sub.private,
                            i64::try_from(sub.at).unwrap_or(i64::MAX)
                        ],
                    )?;
                    // The oldest beyond the cap go.
                    tx.execute(
                        "DELETE FROM subscriptions WHERE user = ?1 AND endpoint NOT IN
                             (SELECT endpoint FROM subscriptions WHERE user = ?1
                              ORDER BY at DESC, rowid DESC LIMIT ?2)",
                        params![user, MAX_PER_USER as i64],
                    )?;
                    tx.commit()
                })
                .await
            }
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let owner = owner_key(&sub.endpoint);
                let previous: Option<String> =
                    redis::cmd("GET").arg(&owner).query_async(&mut conn).await?;
                if let Some(previous) = previous.filter(|p| p != user) {
                    redis::cmd("HDEL")
                        .arg(subs_key(&previous))
                        .arg(&sub.endpoint)
                        .query_async::<i64>(&mut conn)
                        .await?;
                }
                let json = serde_json::to_string(&sub).map_err(|e| StoreError(e.to_string()))?;
                // Two keys that may live on two shards of a Redis Cluster, so not one
                // transaction: the subscription first, then its owner. A stop in between
                // leaves a subscription without an owner record, which the next subscribe of
                // the same endpoint writes (and a send to it still works).
                redis::cmd("HSET")
                    .arg(subs_key(user))
                    .arg(&sub.endpoint)
                    .arg(json)
                    .query_async::<i64>(&mut conn)
                    .await?;
                redis::cmd("SET")
                    .arg(&owner)
                    .arg(user)
                    .query_async::<()>(&mut conn)
                    .await?;
                // The oldest beyond the cap go.
                let mut all = self.of(user).await?;
                if all.len() > MAX_PER_USER {
                    all.sort_by_key(|s| std::cmp::Reverse(s.at));
                    for old in &all[MAX_PER_USER..] {
                        self.remove(user, &old.endpoint).await?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Forgets `user`'s subscription at `endpoint`; whether there was one.
    pub async fn remove(&self, user: &str, endpoint: &str) -> Result<bool, StoreError> {
        match self {
            Self::Sqlite(db) => {
                let (user, endpoint) = (user.to_owned(), endpoint.to_owned());
                Self::blocking(db, move |db| {
                    db.execute(
                        "DELETE FROM subscriptions WHERE user = ?1 AND endpoint = ?2",
                        params![user, endpoint],
                    )
                    .map(|n| n > 0)
                })
                .await
            }
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let removed: i64 = redis::cmd("HDEL")
                    .arg(subs_key(user))
                    .arg(endpoint)
                    .query_async(&mut conn)
                    .await?;
                // The owner record goes only if it still names this user.
                let owner = owner_key(endpoint);
                let current: Option<String> =
                    redis::cmd("GET").arg(&owner).query_async(&mut conn).await?;
                if current.as_deref() == Some(user) {
                    redis::cmd("DEL")
                        .arg(&owner)
                        .query_async::<i64>(&mut conn)
                        .await?;
                }
                Ok(removed > 0)
            }
        }
    }

    /// `user`'s subscriptions, newest first.
    pub async fn of(&self, user: &str) -> Result<Vec<Stored>, StoreError> {
        match self {
            Self::Sqlite(db) => {
                let user = user.to_owned();
                Self::blocking(db, move |db| {
                    db.prepare_cached(
                        "SELECT endpoint, p256dh, auth, private, at FROM subscriptions
                         WHERE user = ?1 ORDER BY at DESC, rowid DESC",
                    )?
                    .query_map(params![user], |row| {
                        Ok(Stored {
                            endpoint: row.get(0)?,
                            p256dh: row.get(1)?,
                            auth: row.get(2)?,
                            private: row.get(3)?,
                            at: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
                        })
                    })?
                    .collect()
                })
                .await
            }
            Self::Redis(conn) => {
                let mut conn = conn.clone();
                let all: Vec<(String, String)> = redis::cmd("HGETALL")
                    .arg(subs_key(user))
                    .query_async(&mut conn)
                    .await?;
                let mut subs: Vec<Stored> = all
                    .into_iter()
                    .filter_map(|(_, json)| {
                        serde_json::from_str(&json)
                            .inspect_err(
                                |e| tracing::warn!(error = %e, "an unreadable push subscription"),
                            )
                            .ok()
                    })
                    .collect();
                subs.sort_by_key(|s| std::cmp::Reverse(s.at));
                Ok(subs)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sub(endpoint: &str) -> Stored {
        Stored {
            endpoint: endpoint.to_owned(),
            p256dh: "key".to_owned(),
            auth: "secret".to_owned(),
            private: false,
            at: 0,
        }
    }

    #[actix_web::test]
    async fn an_endpoint_moves_to_whoever_subscribes_with_it_and_the_oldest_go_past_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let store = Subscriptions::open(dir.path(), None).unwrap();
        store
            .add("ann", sub("https://push.example/1"))
            .await
            .unwrap();
        store
            .add("ben", sub("https://push.example/1"))
            .await
            .unwrap();
        assert!(store.of("ann").await.unwrap().is_empty());
        assert_eq!(store.of("ben").await.unwrap().len(), 1);
        for i in 0..=MAX_PER_USER {
            store
                .add("ben", sub(&format!("https://push.example/d{i}")))
                .await
                .unwrap();
        }
        let kept = store.of("ben").await.unwrap();
        assert_eq!(kept.len(), MAX_PER_USER);
        assert_eq!(
            kept[0].endpoint,
            format!("https://push.example/d{MAX_PER_USER}")
        );
        assert!(store.remove("ben", &kept[0].endpoint).await.unwrap());
        assert!(!store.remove("ben", &kept[0].endpoint).await.unwrap());
    }
}
