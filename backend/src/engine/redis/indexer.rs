//! This node's search index in cluster mode: a file of its own (`DATA/search-index.sqlite3`)
//! with the same tables as the single node's ([`crate::engine::search::index`]), fed from
//! the Redis logs. Every node indexes every log, so any node answers any search, the same
//! way (a document's key comes from the message, not from when a node read it).
//!
//! How: every [`POLL`], one round trip asks for the head of every log in the registry
//! (`chat:logs:rooms`, `chat:logs:users`); each log that moved past how far this node has
//! read it (kept in the index, per log, with the log's epoch) is read on from there, in
//! pages, and applied in one transaction per page with the new position. Edits and
//! deletions are entries of the room's log, so they arrive in order; a log with another
//! epoch (replaced) is dropped from the index and read again from its start; what retention
//! removed (a room's entries before its oldest kept, anything older than `--retention-age`)
//! leaves the index on the next [`SWEEP`]. A missing or unreadable index file is made again
//! and filled from the logs (a rebuild; docs/SCALING.md has its time for 100k messages).
//!
//! Its lag is the poll interval plus one page's read and write: the gauge
//! `chat_search_index_lag_seconds` shows it (from the newest message's time to its indexing).

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use rusqlite::{Connection, params};
use shared::{Change, DirectMessage, Epoch, RoomEntry, RoomName};
use tokio_util::sync::CancellationToken;

use super::redis_io::Io;
use crate::engine::{
    rules::now_ms,
    search::index::{self, Doc},
    vocabulary::EngineError,
};

/// The index file's name in the data directory.
pub const INDEX_FILE: &str = "search-index.sqlite3";

/// How often the logs' heads are compared with the index.
const POLL: Duration = Duration::from_millis(100);
/// How often what retention removed is removed from the index.
const SWEEP: Duration = Duration::from_secs(30);
/// Entries read (and written in one transaction) at a time.
const PAGE: u32 = 1000;

/// Where the indexer has read a log to: its epoch and last position.
type Progress = HashMap<String, (String, u64)>;

/// One page of a log, to apply in one transaction.
enum Batch {
    Room {
        room: RoomName,
        epoch: Epoch,
        oldest: u64,
        entries: Vec<RoomEntry>,
    },
    Direct {
        user: String,
        epoch: Epoch,
        messages: Vec<DirectMessage>,
    },
}

/// Opens (making it if needed) the index in `dir`; a file that cannot be read is made again.
pub fn open(dir: &Path) -> Result<(Connection, PathBuf), EngineError> {
    let path = dir.join(INDEX_FILE);
    std::fs::create_dir_all(dir)
        .map_err(|err| EngineError::Store(format!("cannot create {}: {err}", dir.display())))?;
    match open_at(&path) {
        Ok(db) => Ok((db, path)),
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "the search index is unreadable; making it again");
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{}{suffix}", path.display()));
                if let Err(err) = std::fs::remove_file(&file)
                    && err.kind() != std::io::ErrorKind::NotFound
                {
                    return Err(EngineError::Store(format!(
                        "cannot remove {}: {err}",
                        file.display()
                    )));
                }
            }
            Ok((open_at(&path)?, path))
        }
    }
}

fn open_at(path: &Path) -> Result<Connection, EngineError> {
    let db = Connection::open(path)?;
    db.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    // Made again from the logs if lost: a crash may lose the last pages, never corrupt.
    db.execute_batch("PRAGMA synchronous = NORMAL;")?;
    db.execute_batch(index::SCHEMA)?;
    db.execute_batch(
        "CREATE TABLE IF NOT EXISTS search_progress (
             log TEXT PRIMARY KEY,
             epoch TEXT NOT NULL,
             last INTEGER NOT NULL
         ) WITHOUT ROWID;",
    )?;
    Ok(db)
}

/// What the indexer is told by the node.
pub(super) struct Settings {
    /// `--retention-age`: older documents leave the index.
    pub retention_age: Option<Duration>,
    /// Where the lag is shown.
    pub lag: prometheus::Gauge,
}

/// Feeds the index until `shutdown`; Redis errors are logged and retried on the next poll.
pub(super) async fn run(io: Io, db: Connection, settings: Settings, shutdown: CancellationToken) {
    let Settings { retention_age, lag } = settings;
    let mut db = Some(db);
    let mut progress = match db.as_ref().map(load_progress) {
        Some(Ok(progress)) => progress,
        _ => Progress::new(),
    };
    let mut next_sweep = Instant::now();
    let mut failing = false;
    loop {
        let round = feed(
            &io,
            &mut db,
            &mut progress,
            retention_age,
            &mut next_sweep,
            &lag,
        );
        tokio::select! {
            () = shutdown.cancelled() => break,
            result = round => match result {
                Ok(()) => failing = false,
                Err(err) => {
                    // Logged once per outage, not every poll.
                    if !failing {
                        tracing::warn!(error = %err, "the search indexer cannot read the logs; retrying");
                    }
                    failing = true;
                }
            },
        }
        if db.is_none() {
            tracing::error!("the search index was lost; the indexer stops");
            break;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One round: every log that moved (or was replaced) is read up to its head.
async fn feed(
    io: &Io,
    db: &mut Option<Connection>,
    progress: &mut Progress,
    retention_age: Option<Duration>,
    next_sweep: &mut Instant,
    lag: &prometheus::Gauge,
) -> Result<(), EngineError> {
    let (rooms, users) = io.logs().await?;
    // And the logs read before: the registry can be lost with Redis's data while a node
    // still remembers having written to a log (and so does not enter it again).
    let (mut rooms, mut users): (BTreeSet<String>, BTreeSet<String>) =
        (rooms.into_iter().collect(), users.into_iter().collect());
    for key in progress.keys() {
        match key.split_once(':') {
            Some(("r", room)) => rooms.insert(room.to_owned()),
            Some(("u", user)) => users.insert(user.to_owned()),
            _ => false,
        };
    }
    let users: Vec<String> = users.into_iter().collect();
    let rooms: Vec<RoomName> = rooms.iter().filter_map(|r| r.parse().ok()).collect();
    let (room_heads, user_heads) = io.heads(&rooms, &users).await?;
    let sweep = Instant::now() >= *next_sweep;
    let mut feeder = Feeder {
        io,
        db,
        progress,
        lag,
    };
    // One log that cannot be read (an unreadable entry) must not stop the others: its error
    // is the round's (logged once by `run`), the rest go on.
    let mut failed = None;
    for (room, (head, epoch)) in rooms.iter().zip(room_heads) {
        // Read again at a sweep, for what retention trimmed from its start.
        let read = feeder
            .catch_up(Source::Room(room), head, epoch.as_deref(), sweep)
            .await;
        if let Err(err) = read {
            failed.get_or_insert(err);
        }
    }
    for (user, (head, epoch)) in users.iter().zip(user_heads) {
        let read = feeder
            .catch_up(Source::User(user), head, epoch.as_deref(), false)
            .await;
        if let Err(err) = read {
            failed.get_or_insert(err);
        }
    }
    if sweep {
        *next_sweep = Instant::now() + SWEEP;
        if let Some(age) = retention_age {
            let cutoff = now_ms().saturating_sub(crate::engine::rules::millis(age));
            with_db(db, move |db| {
                db.execute("DELETE FROM search_docs WHERE ts < ?1", [cutoff])?;
                Ok(())
            })
            .await?;
        }
    }
    failed.map_or(Ok(()), Err)
}

/// A log the indexer reads.
#[derive(Clone, Copy)]
enum Source<'a> {
    Room(&'a RoomName),
    User(&'a str),
}

impl Source<'_> {
    /// Its key in the progress table.
    fn key(self) -> String {
        match self {
            Source::Room(room) => format!("r:{room}"),
            Source::User(user) => format!("u:{user}"),
        }
    }

    /// The page after `at`, as a batch to apply (with how many entries it holds and the
    /// position of its last).
    async fn page(self, io: &Io, at: u64) -> Result<(Batch, usize, Option<u64>), EngineError> {
        Ok(match self {
            Source::Room(room) => {
                let (epoch, oldest, entries) = io.room_since(room, at, PAGE).await?;
                let (len, last) = (entries.len(), entries.last().map(RoomEntry::seq));
                let room = room.clone();
                let batch = Batch::Room {
                    room,
                    epoch,
                    oldest,
                    entries,
                };
                (batch, len, last)
            }
            Source::User(user) => {
                let (epoch, messages) = io.direct_since(user, at, PAGE).await?;
                let (len, last) = (messages.len(), messages.last().map(|m| m.id.0));
                let user = user.to_owned();
                let batch = Batch::Direct {
                    user,
                    epoch,
                    messages,
                };
                (batch, len, last)
            }
        })
    }
}

/// What one round feeds the index with.
struct Feeder<'a> {
    io: &'a Io,
    db: &'a mut Option<Connection>,
    progress: &'a mut Progress,
    lag: &'a prometheus::Gauge,
}

impl Feeder<'_> {
    /// Reads `source` on from where the index is, if its `head` or `epoch` says it moved
    /// (or `again`), page by page up to its end. A log with another epoch than the one read
    /// (replaced, or Redis lost its data) is dropped from the index and read from its start.
    async fn catch_up(
        &mut self,
        source: Source<'_>,
        head: u64,
        epoch: Option<&str>,
        again: bool,
    ) -> Result<(), EngineError> {
        let key = source.key();
        let known = self.progress.get(&key).cloned();
        let mut at = known.as_ref().map_or(0, |(_, last)| *last);
        let replaced = known
            .as_ref()
            .zip(epoch)
            .is_some_and(|((read, _), now)| read != now);
        if head <= at && !replaced && !again {
            return Ok(());
        }
        loop {
            let (mut batch, len, last) = source.page(self.io, at).await?;
            let epoch = batch.epoch().as_str().to_owned();
            if at > 0
                && self
                    .progress
                    .get(&key)
                    .is_some_and(|(read, _)| *read != epoch)
            {
                // Not the log that was read: forgotten, then read from its start.
                at = 0;
                self.progress.remove(&key);
                batch.clear();
                apply(self.db, self.progress, self.lag, batch).await?;
                continue;
            }
            at = last.unwrap_or(at);
            apply(self.db, self.progress, self.lag, batch).await?;
            if len < PAGE as usize {
                return Ok(());
            }
        }
    }
}

impl Batch {
    fn epoch(&self) -> &Epoch {
        match self {
            Batch::Room { epoch, .. } | Batch::Direct { epoch, .. } => epoch,
        }
    }

    /// The same log with nothing in it (applied: the log's documents go).
    fn clear(&mut self) {
        match self {
            Batch::Room { entries, .. } => entries.clear(),
            Batch::Direct { messages, .. } => messages.clear(),
        }
    }
}

/// Applies one page in one transaction (on a blocking thread: SQLite is synchronous).
async fn apply(
    db: &mut Option<Connection>,
    progress: &mut Progress,
    lag: &prometheus::Gauge,
    batch: Batch,
) -> Result<(), EngineError> {
    let (key, epoch, last) = match &batch {
        Batch::Room {
            room,
            epoch,
            entries,
            ..
        } => {
            let last = entries.last().map(RoomEntry::seq);
            (format!("r:{room}"), epoch.clone(), last)
        }
        Batch::Direct {
            user,
            epoch,
            messages,
        } => {
            let last = messages.last().map(|m| m.id.0);
            (format!("u:{user}"), epoch.clone(), last)
        }
    };
    let known = progress.get(&key).cloned();
    let position = last.or(known.as_ref().map(|(_, at)| *at)).unwrap_or(0);
    let key_for_db = key.clone();
    let epoch_for_db = epoch.clone();
    let newest = with_db(db, move |db| {
        let tx = db.transaction()?;
        let replaced = known
            .as_ref()
            .is_none_or(|(e, _)| e != epoch_for_db.as_str());
        let mut newest = 0;
        match &batch {
            Batch::Room {
                room,
                oldest,
                entries,
                ..
            } => {
                if replaced {
                    tx.execute("DELETE FROM search_docs WHERE room = ?1", [room.as_str()])?;
                }
                if *oldest > 0 {
                    tx.execute(
                        "DELETE FROM search_docs WHERE room = ?1 AND seq < ?2",
                        params![room.as_str(), oldest],
                    )?;
                }
                for entry in entries {
                    newest = newest.max(room_entry(&tx, room, entry)?);
                }
            }
            Batch::Direct { user, messages, .. } => {
                if replaced {
                    tx.execute(
                        "DELETE FROM search_docs WHERE room IS NULL AND owner = ?1",
                        [user],
                    )?;
                }
                for message in messages {
                    index::put(
                        &tx,
                        &Doc {
                            room: None,
                            owner: Some(user),
                            seq: 0,
                            id: message.id,
                            from: &message.from,
                            to: Some(&message.to),
                            ts: message.ts,
                            image: false,
                            text: message.text.as_str(),
                        },
                    )?;
                    newest = newest.max(message.ts);
                }
            }
        }
        tx.execute(
            "INSERT INTO search_progress (log, epoch, last) VALUES (?1, ?2, ?3)
             ON CONFLICT (log) DO UPDATE SET epoch = excluded.epoch, last = excluded.last",
            params![key_for_db, epoch_for_db.as_str(), position],
        )?;
        tx.commit()?;
        Ok(newest)
    })
    .await?;
    if newest > 0 {
        lag.set(now_ms().saturating_sub(newest) as f64 / 1000.0);
    }
    progress.insert(key, (epoch.as_str().to_owned(), position));
    Ok(())
}

/// One entry of `room`'s log into the index; returns its time (0 for a change).
fn room_entry(tx: &Connection, room: &RoomName, entry: &RoomEntry) -> rusqlite::Result<u64> {
    match entry {
        RoomEntry::Message(message) if message.deleted => {
            index::remove(tx, Some(room), message.id)?;
            Ok(0)
        }
        RoomEntry::Message(message) => {
            let doc = Doc {
                room: Some(room),
                owner: None,
                seq: message.seq,
                id: message.id,
                from: &message.from,
                to: None,
                ts: message.ts,
                image: message.image.is_some(),
                text: message.text.as_str(),
            };
            index::put(tx, &doc)?;
            // Read again (a restart, a replaced page): as it is now.
            index::edit(tx, room, message.id, message.text.as_str())?;
            Ok(message.ts)
        }
        RoomEntry::Change(change) => {
            match &change.change {
                Change::Edited { text } => index::edit(tx, room, change.target, text.as_str())?,
                Change::Deleted => index::remove(tx, Some(room), change.target)?,
                Change::Reacted { .. } | Change::Previewed { .. } => {}
            }
            Ok(0)
        }
    }
}

/// Runs `work` on the index on a blocking thread (the connection goes there and back).
async fn with_db<T: Send + 'static>(
    db: &mut Option<Connection>,
    work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, EngineError> {
    let Some(mut connection) = db.take() else {
        return Err(EngineError::Stopped("the search index"));
    };
    let (connection, result) = tokio::task::spawn_blocking(move || {
        let result = work(&mut connection);
        (connection, result)
    })
    .await
    .map_err(|_| EngineError::Stopped("the search indexer"))?;
    *db = Some(connection);
    Ok(result?)
}

fn load_progress(db: &Connection) -> rusqlite::Result<Progress> {
    let mut statement = db.prepare("SELECT log, epoch, last FROM search_progress")?;
    let rows = statement.query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?))))?;
    rows.collect()
}
