//! The import ledger: per source, which of its messages are stored and as what, and per room
//! how far this source's entries reach, so that importing the same source again stores
//! nothing new and a run stopped midway goes on where it stopped. Kept where the mode keeps
//! its state: `imports.sqlite3` in `--data-dir` (one node), one Redis hash per source,
//! `chat:{import}:SOURCE` (cluster mode; every node sees the same ledger).
//!
//! [`Imports`] is what the app state keeps of imports: the ledger, and whether one runs.
//!
//! A message is written here only once all its entries (the message, its edit, its
//! reactions) are stored; entries stored before a crash and not yet here are found again in
//! the room's log by their client ids (see `import.rs`).

use std::{
    path::Path,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use redis::AsyncCommands as _;
use rusqlite::{Connection, OptionalExtension as _, params};
use shared::{MessageId, RoomName};

use crate::redis_set::{Conn, RedisSet};

/// The ledger's file in `--data-dir` (one node).
pub const DB_FILE: &str = "imports.sqlite3";

/// What imports need beside the hub and the uploads: the ledger, and whether one runs.
#[derive(Clone)]
pub struct Imports {
    ledger: Ledger,
    busy: Arc<AtomicBool>,
}

/// An import running (one at a time per node); ends when dropped.
pub struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Imports {
    /// The ledger of the server's mode (`imports.sqlite3` in `--data-dir`, or Redis).
    pub fn open(config: &crate::Config, redis: Option<&RedisSet>) -> Result<Self, LedgerError> {
        Ok(Self {
            ledger: Ledger::open(&config.data_dir, redis)?,
            busy: Arc::default(),
        })
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Starts an import, unless one runs on this node.
    pub fn begin(&self) -> Option<Busy> {
        self.busy
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Busy(Arc::clone(&self.busy)))
    }
}

/// The ledger cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the import ledger failed: {0}")]
pub struct LedgerError(String);

fn failed(err: impl std::fmt::Display) -> LedgerError {
    LedgerError(err.to_string())
}

/// What the ledger says of one stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// Its id here.
    pub id: MessageId,
    /// How far this source's entries in its room reached once it was stored (a `seq`).
    pub last: u64,
}

/// Where the ledger is kept.
#[derive(Clone)]
pub enum Ledger {
    /// One node: a table in `imports.sqlite3`.
    Sqlite(Arc<Mutex<Connection>>),
    /// Cluster mode: a Redis hash per source.
    Redis(Conn),
}

impl Ledger {
    /// Opens the ledger of the server's mode (creating the file if needed).
    pub fn open(dir: &Path, redis: Option<&RedisSet>) -> Result<Self, LedgerError> {
        if let Some(redis) = redis {
            return Ok(Self::Redis(redis.commands()));
        }
        // Named as the message store names it: an operator's mistake (a file given as the
        // data directory) is told with the path, whichever store opens first.
        let unusable = |err: &dyn std::fmt::Display| {
            LedgerError(format!(
                "cannot use the data directory {}: {err}",
                dir.display()
            ))
        };
        std::fs::create_dir_all(dir).map_err(|err| unusable(&err))?;
        let db = Connection::open(dir.join(DB_FILE)).map_err(|err| unusable(&err))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS imported (
                 source TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                 PRIMARY KEY (source, key)) WITHOUT ROWID;",
        )
        .map_err(failed)?;
        Ok(Self::Sqlite(Arc::new(Mutex::new(db))))
    }

    /// The message `source_id` of `source`, if it was stored.
    pub async fn message(
        &self,
        source: &str,
        source_id: &str,
    ) -> Result<Option<Done>, LedgerError> {
        let value = self.get(source, format!("m:{source_id}")).await?;
        Ok(value.as_deref().and_then(parse_done))
    }

    /// Notes message `source_id` of `source` as stored, and its room's entries of this source
    /// as reaching `done.last`.
    pub async fn stored(
        &self,
        source: &str,
        room: &RoomName,
        source_id: &str,
        done: Done,
    ) -> Result<(), LedgerError> {
        let entries = [
            (
                format!("m:{source_id}"),
                format!("{} {}", done.id.0, done.last),
            ),
            (format!("r:{room}"), done.last.to_string()),
        ];
        self.put(source, entries).await
    }

    /// The `seq` this source's entries in `room` reach, if it stored any there.
    pub async fn room(&self, source: &str, room: &RoomName) -> Result<Option<u64>, LedgerError> {
        let value = self.get(source, format!("r:{room}")).await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    async fn get(&self, source: &str, key: String) -> Result<Option<String>, LedgerError> {
        match self {
            Self::Sqlite(db) => {
                let (db, source) = (Arc::clone(db), source.to_owned());
                blocking(move || {
                    let db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    db.prepare_cached("SELECT value FROM imported WHERE source = ?1 AND key = ?2")?
                        .query_row(params![source, key], |row| row.get(0))
                        .optional()
                })
                .await
            }
            Self::Redis(redis) => redis
                .clone()
                .hget(redis_key(source), key)
                .await
                .map_err(failed),
        }
    }

    async fn put(&self, source: &str, entries: [(String, String); 2]) -> Result<(), LedgerError> {
        match self {
            Self::Sqlite(db) => {
                let (db, source) = (Arc::clone(db), source.to_owned());
                blocking(move || {
                    let mut db = db.lock().unwrap_or_else(PoisonError::into_inner);
                    let tx = db.transaction()?;
                    for (key, value) in entries {
                        tx.prepare_cached(
                            "INSERT INTO imported (source, key, value) VALUES (?1, ?2, ?3)
                             ON CONFLICT (source, key) DO UPDATE SET value = excluded.value",
                        )?
                        .execute(params![source, key, value])?;
                    }
                    tx.commit()
                })
                .await
            }
            Self::Redis(redis) => redis
                .clone()
                .hset_multiple(redis_key(source), &entries)
                .await
                .map_err(failed),
        }
    }
}

/// The hash of `source` (its own hash slot: a ledger is read and written one field at a
/// time).
fn redis_key(source: &str) -> String {
    format!("chat:{{import}}:{source}")
}

fn parse_done(value: &str) -> Option<Done> {
    let (id, last) = value.split_once(' ')?;
    Some(Done {
        id: MessageId(id.parse().ok()?),
        last: last.parse().ok()?,
    })
}

/// Runs a SQLite call off the async workers (it may wait for the disk).
async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, LedgerError> {
    tokio::task::spawn_blocking(job)
        .await
        .map_err(failed)?
        .map_err(failed)
}
