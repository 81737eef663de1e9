//! The single-node engine: durable history in SQLite, owned by one thread.
//!
//! Every chat message is written here before anyone sees it. One thread owns the one
//! connection and takes jobs from a queue in order; it gathers the appends that are waiting
//! into one transaction (group commit: one `fsync` for many messages, not one each) and answers
//! each job with an [`Event`] on a channel, in the same order as the jobs.
//!
//! That order is what makes catch-up exact. The hub broadcasts a message when its
//! [`Event::Appended`] arrives, and asks for history through the same queue. So a read sees
//! every message whose event arrives before the read's answer, and none whose event arrives
//! after it: a connection that drops live messages of a room while its read is in flight, then
//! sends the answer, has each message exactly once, in order.
//!
//! The store is generic over a context `C` that it hands back untouched with each event (the
//! hub's "who asked"), so it knows nothing of connections.
//!
//! Durability: WAL journal with `synchronous=FULL`, so an acknowledged message survives a
//! process crash and a power cut. Rooms keep their last sequence number in a table of their
//! own, so a number is never reused, even after retention has deleted every message of a room;
//! message ids come from `AUTOINCREMENT` for the same reason.
//!
//! One piece (about 1,300 lines) on purpose: everything here runs on the one thread that owns
//! the connection, and the writes (group commit, change folding, retention) and the reads
//! (pages, catch-up) share its column lists and transaction rules; split, each half would
//! import the other's private SQL. Its tests are in `sqlite/tests.rs`; the nickname
//! directory (who last held a name, for direct messages to people who are away) shares none
//! of that and is in `sqlite/directory.rs`.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc as std_mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use prometheus::{Histogram, IntCounter};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use shared::{
    Change, ClientMsgId, DirectMessage, Emoji, Epoch, ErrorCode, HistoryMode, MessageId, Nick,
    Quote, RoomChange, RoomEntry, RoomMessage, RoomName, Text,
};
use tokio::sync::mpsc;

use super::{rules::*, search, vocabulary::*};

/// The database's file name inside the data directory.
pub const DB_FILE: &str = "chat.sqlite3";

/// Schema migrations, applied in order at start-up; `PRAGMA user_version` counts the applied
/// ones. Append only: never edit a migration that has shipped. (Two dozen lines of our own
/// instead of a migration crate that would pin our rusqlite version.)
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE rooms (
        name TEXT PRIMARY KEY,
        last_seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        room TEXT,
        seq INTEGER,
        recipient TEXT,
        recipient_nick TEXT,
        sender TEXT NOT NULL,
        sender_nick TEXT NOT NULL,
        client_id TEXT NOT NULL,
        text TEXT NOT NULL,
        ts INTEGER NOT NULL,
        CHECK ((room IS NULL) <> (recipient IS NULL))
    );
    CREATE UNIQUE INDEX messages_room_seq ON messages (room, seq) WHERE room IS NOT NULL;
    CREATE INDEX messages_sender_client ON messages (sender, client_id);
    CREATE INDEX messages_direct_sender ON messages (sender, id) WHERE room IS NULL;
    CREATE INDEX messages_direct_recipient ON messages (recipient, id) WHERE room IS NULL;
    CREATE INDEX messages_ts ON messages (ts);
",
    "
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
",
    // Changes (edits, deletions, reactions) are rows of the room's log too, with their own
    // seq: `target` is the message changed, `change` the JSON of what changed, `text` ''.
    // `reply` is a reply's quote (JSON).
    "
    ALTER TABLE messages ADD COLUMN target INTEGER;
    ALTER TABLE messages ADD COLUMN change TEXT;
    ALTER TABLE messages ADD COLUMN reply TEXT;
    CREATE INDEX messages_target ON messages (target, seq) WHERE target IS NOT NULL;
",
    // How far each user (key) has read each room ('r:ROOM', a seq) and direct conversation
    // ('d:NICKNAME-KEY', a direct message's seq: its id here).
    "
    CREATE TABLE reads (
        user TEXT NOT NULL,
        place TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (user, place)
    ) WITHOUT ROWID;
",
    // A message's image (JSON: shared::Image; the bytes are in the uploads directory).
    "
    ALTER TABLE messages ADD COLUMN image TEXT;
",
    // A deletion forgets the words (issue #27): replies' quotes are found by the id they
    // quote, and what was deleted before this version is forgotten now, as `forget` does.
    "
    CREATE INDEX messages_quoted ON messages (json_extract(reply, '$.id')) WHERE reply IS NOT NULL;
    CREATE TEMP TABLE gone AS
        SELECT DISTINCT target AS id FROM messages
        WHERE target IS NOT NULL AND json_extract(change, '$.kind') = 'deleted';
    UPDATE messages SET text = 'message deleted', image = NULL, reply = NULL
        WHERE target IS NULL AND room IS NOT NULL AND id IN (SELECT id FROM gone);
    UPDATE messages SET change = '{\"kind\":\"deleted\"}'
        WHERE target IN (SELECT id FROM gone) AND json_extract(change, '$.kind') = 'edited';
    UPDATE messages SET reply = json_set(json_remove(reply, '$.text'), '$.deleted', json('true'))
        WHERE reply IS NOT NULL AND json_extract(reply, '$.id') IN (SELECT id FROM gone);
    DROP TABLE gone;
",
    // Each message's current state, kept up to date by every change (`apply_change`), so
    // that neither a change nor a read replays the changes before it (issue #27): the text
    // after the last edit, whether it was deleted, and its reactions (with how many users
    // each emoji has, for the caps). A message retention removes takes its state along.
    // What changed before this version is replayed once (`fill_state`).
    "
    ALTER TABLE messages ADD COLUMN edited_text TEXT;
    ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE reactions (
        message INTEGER NOT NULL,
        emoji TEXT NOT NULL,
        user TEXT NOT NULL,
        nick TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (message, emoji, user)
    ) WITHOUT ROWID;
    CREATE INDEX reactions_user ON reactions (message, user);
    CREATE TABLE reaction_kinds (
        message INTEGER NOT NULL,
        emoji TEXT NOT NULL,
        users INTEGER NOT NULL,
        PRIMARY KEY (message, emoji)
    ) WITHOUT ROWID;
    CREATE TRIGGER message_state_gone AFTER DELETE ON messages WHEN old.target IS NULL
    BEGIN
        DELETE FROM reactions WHERE message = old.id;
        DELETE FROM reaction_kinds WHERE message = old.id;
    END;
",
    // The messages with an image, by room: what the sweep of unused uploads asks.
    "
    CREATE INDEX messages_image ON messages (room) WHERE image IS NOT NULL;
",
    // Who last held each nickname (by its lower case), for direct messages to people who
    // are away (issue #29, `directory.rs`).
    "
    CREATE TABLE directory (
        nick_key TEXT PRIMARY KEY,
        nick TEXT NOT NULL,
        user TEXT NOT NULL,
        held INTEGER NOT NULL
    ) WITHOUT ROWID;
",
    // The search index (issue #30, `search::index`; its tables are made by the migration's
    // Rust step, [`index_all`], which also indexes what is stored already). What retention
    // deletes leaves the index with it; a deletion or an edit is applied by `apply_change`.
    "
    CREATE TRIGGER search_room_gone AFTER DELETE ON messages
        WHEN old.target IS NULL AND old.room IS NOT NULL
    BEGIN
        DELETE FROM search_docs WHERE room = old.room AND id = old.id;
    END;
    CREATE TRIGGER search_direct_gone AFTER DELETE ON messages WHEN old.room IS NULL
    BEGIN
        DELETE FROM search_docs WHERE room IS NULL AND id = old.id;
    END;
",
    // A message's file (JSON: shared::File; the bytes are in the uploads directory), and the
    // messages with one by room, for the sweep as `messages_image`.
    "
    ALTER TABLE messages ADD COLUMN file TEXT;
    CREATE INDEX messages_file ON messages (room) WHERE file IS NOT NULL;
",
    // A message's link preview (issue #31: JSON of shared::LinkPreview), state kept by
    // `apply_change` like `edited_text`; the index is for the sweep of unused uploads.
    "
    ALTER TABLE messages ADD COLUMN preview TEXT;
    CREATE INDEX messages_preview ON messages (room) WHERE preview IS NOT NULL;
",
];

/// The migration (counted from 1) whose first step makes the search index's tables and
/// fills them ([`index_all`]).
const SEARCH_MIGRATION: usize = 10;

/// The migration (its number, counted from 1: the state tables) after which [`fill_state`]
/// replays the changes stored before it.
const STATE_MIGRATION: usize = 7;

/// Prometheus handles the store thread updates (see [`crate::metrics`]).
#[derive(Clone)]
pub struct StoreMetrics {
    /// Seconds per committed transaction (including its fsync).
    pub commit_seconds: Histogram,
    /// Appends per committed transaction.
    pub batch_size: Histogram,
    /// Appends that could not be stored.
    pub failures: IntCounter,
}

enum Job<C> {
    Append {
        ctx: C,
        message: NewMessage,
    },
    Read {
        ctx: C,
        read: Read,
        /// A join's member page, put in the answer as it is (see [`Store::read_joined`]).
        members: Option<MemberPage>,
    },
    /// The hub has readers of this log now: its new entries are delivered live.
    Watch(Log),
    /// The hub's last reader of this log is gone.
    Unwatch(Log),
    Mark {
        user: String,
        place: Place,
        position: u64,
    },
    /// A nickname's holder, for the directory.
    Remember(Holder),
    /// Shares (or stops sharing) a user's read positions.
    Share {
        user: String,
        share: bool,
    },
    /// The positions in `place` of those of `users` who share them.
    PositionsOf {
        ctx: C,
        place: Place,
        users: Vec<String>,
    },
    /// Every room with a log (an export's list).
    Logs {
        ctx: C,
    },
    /// Whom nicknames reach: those not `known` (held here) are looked up.
    Resolve {
        ctx: C,
        nicks: Vec<Nick>,
        known: Vec<Option<Reached>>,
    },
}

/// The handle jobs are queued through; dropping it lets the thread finish the queue and stop.
pub struct Store<C> {
    jobs: std_mpsc::Sender<Job<C>>,
    path: PathBuf,
    /// The thread's event channel, for the answers the engine gives without the thread
    /// (presence, see [`super::single`]). Weak: the channel closes when the thread ends, so
    /// the hub hears that the store stopped.
    events: mpsc::WeakUnboundedSender<Event<C>>,
    /// Whether the store thread still runs (false once it has ended, however).
    running: Arc<AtomicBool>,
}

/// Marks the store thread as ended when dropped.
struct Stopped(Arc<AtomicBool>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl<C: Send + 'static> Store<C> {
    /// Opens (creating if needed) `dir/chat.sqlite3`, migrates it, and starts the store
    /// thread. Events arrive on the returned receiver.
    pub fn open(
        dir: &Path,
        options: StoreOptions,
        metrics: Option<StoreMetrics>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event<C>>), OpenError> {
        let path = dir.join(DB_FILE);
        std::fs::create_dir_all(dir).map_err(|err| OpenError {
            path: dir.to_owned(),
            reason: format!("cannot create the data directory: {err}"),
        })?;
        let (connection, epoch) = open_connection(&path, &options).map_err(|err| OpenError {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        let (jobs, queue) = std_mpsc::channel();
        let (events, receiver) = mpsc::unbounded_channel();
        let writer = Writer {
            db: connection,
            epoch,
            options,
            metrics,
            events: events.clone(),
            watched_rooms: HashSet::new(),
            watched_users: HashSet::new(),
        };
        let running = Arc::new(AtomicBool::new(true));
        let stopped = Stopped(Arc::clone(&running));
        thread::Builder::new()
            .name("chat-store".into())
            .spawn(move || {
                // Dropped when the thread ends, by returning or by a panic.
                let _stopped = stopped;
                writer.run(&queue);
            })
            .map_err(|err| OpenError {
                path: path.clone(),
                reason: format!("cannot start the store thread: {err}"),
            })?;
        let store = Self {
            jobs,
            path,
            events: events.downgrade(),
            running,
        };
        Ok((store, receiver))
    }

    /// The thread answering searches over this store's index (in its file).
    pub fn searcher(&self) -> std::io::Result<search::Searcher<C>> {
        search::Searcher::start(&self.path, self.events.clone())
    }

    /// Queues a message to store; its [`Event::Appended`] follows.
    pub fn append(&self, ctx: C, message: NewMessage) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::Append { ctx, message })
            .map_err(|_| StoreClosed)
    }

    /// Queues a read; its [`Event::Read`] follows, after the events of every job queued
    /// before it.
    pub fn read(&self, ctx: C, read: Read) -> Result<(), StoreClosed> {
        self.read_joined(ctx, read, None)
    }

    /// Queues a join's read: like [`Store::read`], and its answer carries `members` (the
    /// room's member page at the join, which the engine's presence gave).
    pub fn read_joined(
        &self,
        ctx: C,
        read: Read,
        members: Option<MemberPage>,
    ) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::Read { ctx, read, members })
            .map_err(|_| StoreClosed)
    }

    /// From now on, entries of `log` are delivered live ([`Event::LiveRoom`],
    /// [`Event::LiveDirect`]) and their appends answered [`Appended::Sent`] (with the entry), as the cluster
    /// does for the logs a node watches; an entry nobody watches comes back in its
    /// [`Appended::New`].
    pub fn watch(&self, log: Log) -> Result<(), StoreClosed> {
        self.jobs.send(Job::Watch(log)).map_err(|_| StoreClosed)
    }

    /// Stops delivering `log`'s entries live.
    pub fn unwatch(&self, log: Log) -> Result<(), StoreClosed> {
        self.jobs.send(Job::Unwatch(log)).map_err(|_| StoreClosed)
    }

    /// Puts `event` on the store's event channel (after what the thread has sent so far);
    /// dropped once the thread has ended (the hub is told by the channel closing).
    pub fn announce(&self, event: Event<C>) {
        if let Some(events) = self.events.upgrade() {
            // Only fails once the hub is gone (shutdown).
            let _ = events.send(event);
        }
    }

    /// Moves `user`'s read position in `place` forward to `position` (never back); if it
    /// moved, an [`Event::UserEvent`] tells the user's tabs.
    pub fn mark(&self, user: String, place: Place, position: u64) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::Mark {
                user,
                place,
                position,
            })
            .map_err(|_| StoreClosed)
    }

    /// Completes `known` (whom each of `nicks` reaches, where someone holds it here) from
    /// the directory; [`Event::Resolved`] answers.
    pub fn resolve(
        &self,
        ctx: C,
        nicks: Vec<Nick>,
        known: Vec<Option<Reached>>,
    ) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::Resolve { ctx, nicks, known })
            .map_err(|_| StoreClosed)
    }

    /// Lists every room with a log; [`Event::Logs`] answers.
    pub fn logs(&self, ctx: C) -> Result<(), StoreClosed> {
        self.jobs.send(Job::Logs { ctx }).map_err(|_| StoreClosed)
    }

    /// Keeps whether `user` shares their read positions.
    pub fn share(&self, user: String, share: bool) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::Share { user, share })
            .map_err(|_| StoreClosed)
    }

    /// Asks for the positions in `place` of those of `users` who share them;
    /// [`Event::PositionsOf`] answers.
    pub fn positions_of(
        &self,
        ctx: C,
        place: Place,
        users: Vec<String>,
    ) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::PositionsOf { ctx, place, users })
            .map_err(|_| StoreClosed)
    }

    /// Notes `holder` as the nickname's last holder (unless a later one is noted already).
    pub fn remember(&self, holder: Holder) -> Result<(), StoreClosed> {
        self.jobs
            .send(Job::Remember(holder))
            .map_err(|_| StoreClosed)
    }

    /// Whether the store can take messages: its thread runs (a flag `/readyz` reads).
    pub fn readiness(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.running)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens, configures and migrates the database; returns it with its epoch (created with the
/// database, so a replaced or wiped data directory has another one).
fn open_connection(
    path: &Path,
    options: &StoreOptions,
) -> Result<(Connection, Epoch), EngineError> {
    let mut db = Connection::open(path)?;
    // journal_mode answers with the mode it is in; a database that cannot do WAL (e.g. on a
    // network file system) says so here rather than silently running slower and less safe.
    let mode: String = db.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(EngineError::Store(format!(
            "the database cannot use WAL journaling (it is in {mode} mode)"
        )));
    }
    db.execute_batch("PRAGMA synchronous = FULL;")?;
    // The query planner's stability guarantee: a statement's plan does not depend on the
    // values bound to it. Without it SQLite recompiled the duplicate lookup (`find_sent`) on
    // every step (it re-plans when a bound value might allow a better plan); that was a
    // tenth of the store thread's work at 15,000 messages/s (bench W5, perf). The reads
    // keep their indexes (unit test below).
    db.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    if let Some(bytes) = options.max_bytes {
        let page_size: u64 = db.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        let pages = (bytes / page_size.max(1)).max(1);
        db.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
    }
    migrate(&mut db)?;
    db.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch', ?1)",
        [crate::ids::new_epoch()
            .map_err(|e| EngineError::Randomness(format!("an epoch: {e}")))?
            .as_str()],
    )?;
    let epoch: String = db.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |row| {
        row.get(0)
    })?;
    Ok((db, Epoch::try_from(epoch).map_err(EngineError::unreadable)?))
}

fn migrate(db: &mut Connection) -> Result<(), EngineError> {
    let version: usize = db.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(EngineError::Store(format!(
            "the database has schema version {version}, newer than this server's {}; \
             run a newer server",
            MIGRATIONS.len()
        )));
    }
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = db.transaction()?;
        if done + 1 == SEARCH_MIGRATION {
            tx.execute_batch(search::index::SCHEMA)?;
            index_all(&tx)?;
        }
        tx.execute_batch(migration)?;
        if done + 1 == STATE_MIGRATION {
            fill_state(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", done + 1))?;
        tx.commit()?;
        tracing::info!(version = done + 1, "message store migrated");
    }
    Ok(())
}

/// Jobs taken from the queue per round, so that retention still runs under constant load.
const MAX_ROUND: usize = 4096;

struct Writer<C> {
    db: Connection,
    epoch: Epoch,
    options: StoreOptions,
    metrics: Option<StoreMetrics>,
    events: mpsc::UnboundedSender<Event<C>>,
    /// The rooms the hub reads ([`Job::Watch`]): their entries are delivered live.
    watched_rooms: HashSet<RoomName>,
    /// The users (keys) whose direct messages the hub reads.
    watched_users: HashSet<String>,
}

impl<C> Writer<C> {
    /// Serves jobs until every handle is dropped and the queue is empty.
    fn run(mut self, queue: &std_mpsc::Receiver<Job<C>>) {
        let retention =
            self.options.retention_messages.is_some() || self.options.retention_age.is_some();
        let mut next_sweep = Instant::now();
        loop {
            if retention && Instant::now() >= next_sweep {
                self.sweep();
                next_sweep = Instant::now() + self.options.retention_interval;
            }
            let wait = if retention {
                next_sweep.saturating_duration_since(Instant::now())
            } else {
                Duration::from_secs(3600)
            };
            let first = match queue.recv_timeout(wait) {
                Ok(job) => job,
                Err(std_mpsc::RecvTimeoutError::Timeout) => continue,
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            };
            // Everything queued meanwhile joins this round: that is the group commit.
            let round = std::iter::once(first)
                .chain(std::iter::from_fn(|| queue.try_recv().ok()))
                .take(MAX_ROUND);
            let mut appends = Vec::new();
            for job in round {
                match job {
                    Job::Append { ctx, mut message } => {
                        if let Err(to) = self.address(&mut message) {
                            // Answered in order: what was queued before it first.
                            self.commit(std::mem::take(&mut appends));
                            let outcome = Appended::NoRecipient(to);
                            self.emit(Event::Appended { ctx, outcome });
                            continue;
                        }
                        appends.push((ctx, message));
                        if appends.len() >= self.options.max_batch {
                            self.commit(std::mem::take(&mut appends));
                        }
                    }
                    Job::Read { ctx, read, members } => {
                        // Appends queued before the read are committed (and announced) first.
                        self.commit(std::mem::take(&mut appends));
                        let answer = self.read(&read).map_err(|err| {
                            tracing::error!(error = %err, ?read, "history read failed");
                            EngineError::Store("could not read the history".to_owned())
                        });
                        let answer = answer.map(|mut answer| {
                            if let Answer::Room { members: page, .. } = &mut answer {
                                *page = members;
                            }
                            answer
                        });
                        self.emit(Event::Read { ctx, answer });
                    }
                    // Appends queued before it are announced by the watches of then.
                    Job::Watch(log) => {
                        self.commit(std::mem::take(&mut appends));
                        match log {
                            Log::Room(room) => self.watched_rooms.insert(room),
                            Log::User(user) => self.watched_users.insert(user),
                        };
                    }
                    Job::Unwatch(log) => {
                        self.commit(std::mem::take(&mut appends));
                        match log {
                            Log::Room(room) => self.watched_rooms.remove(&room),
                            Log::User(user) => self.watched_users.remove(&user),
                        };
                    }
                    Job::Mark {
                        user,
                        place,
                        position,
                    } => match mark(&self.db, &user, &place, position) {
                        Ok(true) => {
                            let event = Positions::one(&place, position).into_event();
                            self.emit(Event::UserEvent { user, event });
                        }
                        Ok(false) => {}
                        Err(err) => tracing::error!(error = %err, "storing a read position failed"),
                    },
                    Job::Remember(holder) => {
                        if let Err(err) = directory::remember(&self.db, &holder) {
                            tracing::error!(error = %err, "noting a nickname's holder failed");
                        }
                    }
                    Job::Share { user, share } => {
                        if let Err(err) = share_reads(&self.db, &user, share) {
                            tracing::error!(error = %err, "storing whether reads are shared failed");
                        }
                    }
                    Job::PositionsOf { ctx, place, users } => {
                        let positions = shared_positions(&self.db, &place, &users)
                            .unwrap_or_else(|err| {
                                // Nobody is shown as having read: a display, not a rule.
                                tracing::error!(error = %err, "reading others' read positions failed");
                                Vec::new()
                            });
                        self.emit(Event::PositionsOf { ctx, positions });
                    }
                    Job::Logs { ctx } => {
                        // Rooms created by the appends queued before it are listed.
                        self.commit(std::mem::take(&mut appends));
                        let rooms = room_logs(&self.db).map_err(|err| {
                            tracing::error!(error = %err, "listing the rooms failed");
                            EngineError::Store("could not list the rooms".to_owned())
                        });
                        self.emit(Event::Logs { ctx, rooms });
                    }
                    Job::Resolve { ctx, nicks, known } => {
                        let found = nicks
                            .iter()
                            .zip(known)
                            .map(|(nick, known)| match known {
                                Some(known) => Ok(Some(known)),
                                None => self.away(nick),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map_err(|err| {
                                tracing::error!(error = %err, "reading the nickname directory failed");
                                EngineError::Store("could not look the names up".to_owned())
                            });
                        self.emit(Event::Resolved { ctx, found });
                    }
                }
            }
            self.commit(appends);
        }
        tracing::debug!("message store stopped");
    }

    /// Whom `nick`, which nobody holds now, reaches: its last holder, away, if the rules
    /// let it ([`reachable`]).
    fn away(&self, nick: &Nick) -> rusqlite::Result<Option<Reached>> {
        Ok(directory::holder(&self.db, nick)?
            .filter(|h| reachable(self.options.reach, h, now_ms()))
            .map(|holder| Reached {
                user: holder.user,
                nick: holder.nick,
                away: true,
            }))
    }

    /// Gives a direct message to a nickname nobody holds now its recipient: the name's last
    /// holder, if the rules let it reach them ([`reachable`]); otherwise the nickname back.
    fn address(&self, message: &mut NewMessage) -> Result<(), Nick> {
        let Target::Direct {
            recipient: recipient @ None,
            to,
            away,
        } = &mut message.target
        else {
            return Ok(());
        };
        let found = self.away(to).unwrap_or_else(|err| {
            // Refused like a name nobody has: the sender can try again.
            tracing::error!(error = %err, "reading the nickname directory failed");
            None
        });
        match found {
            Some(found) => {
                *recipient = Some(found.user);
                *to = found.nick;
                *away = true;
                Ok(())
            }
            None => Err(to.clone()),
        }
    }

    fn emit(&self, event: Event<C>) {
        // Only fails once the hub is gone (shutdown); the writes themselves are done.
        let _ = self.events.send(event);
    }

    /// Stores `appends` in one transaction and announces each outcome, in order.
    fn commit(&mut self, appends: Vec<(C, NewMessage)>) {
        if appends.is_empty() {
            return;
        }
        let started = Instant::now();
        let dedup_since = now_ms().saturating_sub(millis(self.options.dedup_window));
        let (contexts, messages): (Vec<C>, Vec<NewMessage>) = appends.into_iter().unzip();
        let index = self.options.search_index;
        let outcomes = match append_all(&mut self.db, &messages, dedup_since, index) {
            Ok(outcomes) => {
                // Committed transactions only: a rolled-back one stored nothing, and is counted
                // by `failures` instead; so `store_batch_messages`' sum is the messages stored
                // and `store_commit_seconds` times commits, not disk-full errors.
                if let Some(metrics) = &self.metrics {
                    metrics
                        .commit_seconds
                        .observe(started.elapsed().as_secs_f64());
                    metrics.batch_size.observe(messages.len() as f64);
                }
                outcomes
            }
            Err(err) => {
                // Rolled back: none of these were stored, so none may be broadcast.
                tracing::error!(error = %err, messages = messages.len(), "storing messages failed");
                if let Some(metrics) = &self.metrics {
                    metrics.failures.inc_by(messages.len() as u64);
                }
                let reason = format!("the message could not be stored ({err}); it was not sent");
                vec![Appended::Failed(EngineError::Store(reason)); messages.len()]
            }
        };
        for ((ctx, outcome), message) in contexts.into_iter().zip(outcomes).zip(&messages) {
            self.deliver(ctx, outcome, message);
        }
    }

    /// Announces an append's outcome: a new entry of a watched log goes out live, to each of
    /// its readers' logs once, and the appender hears [`Appended::Sent`] (the cluster's
    /// way); an entry nobody watches comes back in [`Appended::New`].
    fn deliver(&self, ctx: C, outcome: Appended, message: &NewMessage) {
        match outcome {
            Appended::New(Stored::Room { room, entry }) if self.watched_rooms.contains(&room) => {
                let stored = Stored::Room {
                    room: room.clone(),
                    entry: entry.clone(),
                };
                self.sent(ctx, stored);
                self.emit(Event::LiveRoom { room, entry });
            }
            Appended::New(Stored::Direct(stored)) => {
                let (recipient, away) = match &message.target {
                    Target::Direct {
                        recipient, away, ..
                    } => (recipient.as_deref(), *away),
                    Target::Room(_) => (None, false),
                };
                if let Some(user) = recipient.filter(|_| away) {
                    self.emit(Event::Away {
                        user: user.to_owned(),
                        message: stored.clone(),
                    });
                }
                let readers: Vec<&str> = std::iter::once(message.sender.as_str())
                    .chain(recipient.filter(|r| *r != message.sender))
                    .filter(|user| self.watched_users.contains(*user))
                    .collect();
                if readers.is_empty() {
                    let outcome = Appended::New(Stored::Direct(stored));
                    return self.emit(Event::Appended { ctx, outcome });
                }
                self.sent(ctx, Stored::Direct(stored.clone()));
                for user in readers {
                    self.emit(Event::LiveDirect {
                        user: user.to_owned(),
                        message: stored.clone(),
                    });
                }
            }
            outcome => self.emit(Event::Appended { ctx, outcome }),
        }
    }

    fn sent(&self, ctx: C, stored: Stored) {
        self.emit(Event::Appended {
            ctx,
            outcome: Appended::Sent(stored),
        });
    }

    fn read(&mut self, read: &Read) -> rusqlite::Result<Answer> {
        let tx = self.db.transaction()?;
        let answer = match read {
            Read::Room {
                room, range, epoch, ..
            } => {
                let range = match range {
                    // A `since` from another log means nothing here.
                    RoomRange::Since(_) if epoch.as_ref().is_some_and(|e| *e != self.epoch) => {
                        RoomRange::Reset
                    }
                    range => *range,
                };
                read_room(&tx, &self.options, room, range, &self.epoch)?
            }
            Read::Direct { user, range, epoch } => {
                let range = match range {
                    DirectRange::Since(_) if epoch.as_ref().is_some_and(|e| *e != self.epoch) => {
                        DirectRange::Reset
                    }
                    range => *range,
                };
                read_direct(&tx, &self.options, user, range, &self.epoch)?
            }
        };
        tx.finish()?;
        Ok(answer)
    }

    fn sweep(&mut self) {
        match sweep(&mut self.db, &self.options) {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "retention removed old messages"),
            Err(err) => tracing::error!(error = %err, "retention failed; retrying later"),
        }
    }
}

/// The ids of the images and files that the stored messages of each of `rooms` name (for the
/// sweep of unused uploads, [`crate::uploads`]): read through a read-only connection of its own
/// to the store in `dir` (committed messages only: one being stored now was checked against
/// the upload's record, which the sweep leaves alone for a while after that check). Blocking.
pub fn images_in_use(
    dir: &Path,
    rooms: &[RoomName],
) -> rusqlite::Result<Vec<std::collections::HashSet<String>>> {
    let path = dir.join(DB_FILE);
    if !path.exists() {
        return Ok(vec![Default::default(); rooms.len()]);
    }
    let db = Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut images =
        db.prepare("SELECT image FROM messages WHERE room = ?1 AND image IS NOT NULL")?;
    let mut files = db.prepare("SELECT file FROM messages WHERE room = ?1 AND file IS NOT NULL")?;
    // Link previews' images too (the hub has migrated the store before the first sweep).
    let mut previews =
        db.prepare("SELECT preview FROM messages WHERE room = ?1 AND preview IS NOT NULL")?;
    rooms
        .iter()
        .map(|room| {
            let mut ids = std::collections::HashSet::new();
            let mut rows = images.query([room.as_str()])?;
            while let Some(row) = rows.next()? {
                let image: shared::Image = parse_json(0, &row.get::<_, String>(0)?)?;
                ids.insert(image.id.as_str().to_owned());
            }
            let mut rows = files.query([room.as_str()])?;
            while let Some(row) = rows.next()? {
                let file: shared::File = parse_json(0, &row.get::<_, String>(0)?)?;
                ids.insert(file.id.as_str().to_owned());
            }
            let mut rows = previews.query([room.as_str()])?;
            while let Some(row) = rows.next()? {
                let preview: shared::LinkPreview = parse_json(0, &row.get::<_, String>(0)?)?;
                if let Some(image) = preview.image {
                    ids.insert(image.id.as_str().to_owned());
                }
            }
            Ok(ids)
        })
        .collect()
}

/// Stores a read position if it is further than the stored one; whether it was.
fn mark(db: &Connection, user: &str, place: &Place, position: u64) -> rusqlite::Result<bool> {
    let changed = db
        .prepare_cached(
            "INSERT INTO reads (user, place, position) VALUES (?1, ?2, ?3)
             ON CONFLICT (user, place) DO UPDATE SET position = excluded.position
             WHERE excluded.position > reads.position",
        )?
        .execute(params![user, place.key(), position])?;
    Ok(changed > 0)
}

/// Keeps (as a position of its own, [`PRIVATE_READS`]) whether `user` shares their read
/// positions.
fn share_reads(db: &Connection, user: &str, share: bool) -> rusqlite::Result<()> {
    if share {
        db.prepare_cached("DELETE FROM reads WHERE user = ?1 AND place = ?2")?
            .execute(params![user, PRIVATE_READS])?;
    } else {
        db.prepare_cached(
            "INSERT OR REPLACE INTO reads (user, place, position) VALUES (?1, ?2, 1)",
        )?
        .execute(params![user, PRIVATE_READS])?;
    }
    Ok(())
}

/// The positions in `place` of those of `users` who share them.
fn shared_positions(
    db: &Connection,
    place: &Place,
    users: &[String],
) -> rusqlite::Result<Vec<(String, u64)>> {
    let mut query = db.prepare_cached(
        "SELECT position FROM reads AS r WHERE user = ?1 AND place = ?2
         AND NOT EXISTS (SELECT 1 FROM reads WHERE user = r.user AND place = ?3 AND position <> 0)",
    )?;
    let mut found = Vec::new();
    for user in users {
        if let Some(position) = query
            .query_row(params![user, place.key(), PRIVATE_READS], |row| row.get(0))
            .optional()?
        {
            found.push((user.clone(), position));
        }
    }
    Ok(found)
}

/// Every read position of `user`.
fn positions(tx: &Transaction<'_>, user: &str) -> rusqlite::Result<Positions> {
    let mut positions = Positions::default();
    let mut query = tx.prepare_cached("SELECT place, position FROM reads WHERE user = ?1")?;
    let mut rows = query.query([user])?;
    while let Some(row) = rows.next()? {
        positions.insert(&row.get::<_, String>(0)?, row.get(1)?);
    }
    Ok(positions)
}

fn append_all(
    db: &mut Connection,
    messages: &[NewMessage],
    dedup_since: u64,
    index: bool,
) -> rusqlite::Result<Vec<Appended>> {
    // IMMEDIATE: take the write lock first. A deferred transaction would read (the
    // idempotency lookup) and then fail at once with "database is locked" when it tries to
    // write while another process holds the lock (an operator's `sqlite3`, a backup), because
    // SQLite cannot wait for a lock upgrade; taking the lock up front waits the busy timeout.
    let tx = db.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(messages.len());
    for message in messages {
        // Inside the transaction, so a retry in the same batch finds the first copy.
        if let Some(original) = find_sent(&tx, &message.sender, &message.client_id, dedup_since)? {
            outcomes.push(Appended::Duplicate(original));
            continue;
        }
        outcomes.push(match check(&tx, message)? {
            Ok(quote) => Appended::New(insert(&tx, message, quote, index)?),
            Err((code, reason)) => Appended::Refused(code, reason),
        });
    }
    tx.commit()?;
    Ok(outcomes)
}

/// Checks a room entry against the message it refers to, if any (the rules are the engines'
/// common [`refer`]); a reply's quote comes back.
fn check(
    tx: &Transaction<'_>,
    message: &NewMessage,
) -> rusqlite::Result<Result<Option<shared::Quote>, Refusal>> {
    let room = match (&message.target, &message.body) {
        (Target::Room(room), _) => room,
        (
            Target::Direct { .. },
            Body::Text {
                reply_to: None,
                image: None,
                file: None,
                ..
            },
        ) => return Ok(Ok(None)),
        (Target::Direct { .. }, _) => {
            let reason =
                "direct messages cannot be answered, changed or carry images or files".to_owned();
            return Ok(Err((ErrorCode::Invalid, reason)));
        }
    };
    let Some((id, authority)) = referred(&message.body) else {
        return Ok(Ok(None));
    };
    let found = tx
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS}, sender FROM messages
             WHERE id = ?1 AND room = ?2 AND target IS NULL"
        ))?
        .query_row(params![id.0, room.as_str()], |row| {
            Ok((room_message(row)?, row.get::<_, String>(ROOM_COLUMN_COUNT)?))
        })
        .optional()?;
    let found = match found {
        Some((mut original, author)) => {
            fold_text(tx, &mut original)?;
            Some((original, author))
        }
        None => None,
    };
    let quote = match refer(room, id, authority, &message.sender, found) {
        Ok(quote) => quote,
        Err(refusal) => return Ok(Err(refusal)),
    };
    if let Body::Change {
        change: Change::Reacted { emoji, on: true },
        ..
    } = &message.body
        && let Err(refusal) = within_reaction_caps(tx, id, emoji, &message.sender)?
    {
        return Ok(Err(refusal));
    }
    Ok(Ok(quote))
}

/// Stores one entry (and, with `index`, keeps the search index in step with it).
fn insert(
    tx: &Transaction<'_>,
    message: &NewMessage,
    quote: Option<Quote>,
    index: bool,
) -> rusqlite::Result<Stored> {
    let NewMessage {
        target,
        sender,
        from,
        body,
        client_id,
        ts,
    } = message;
    match target {
        Target::Room(room) => {
            let seq = tx
                .prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?
                .query_row([room.as_str()], |row| row.get::<_, u64>(0))
                .optional()?
                .unwrap_or(0)
                + 1;
            tx.prepare_cached(
                "INSERT INTO rooms (name, last_seq) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq",
            )?
            .execute(params![room.as_str(), seq])?;
            let (text, change_target, change, reply, image, file) = match body {
                Body::Text {
                    text, image, file, ..
                } => {
                    let reply = quote.as_ref().map(to_json).transpose()?;
                    let image = image.as_ref().map(to_json).transpose()?;
                    let file = file.as_ref().map(to_json).transpose()?;
                    (text.as_str(), None, None, reply, image, file)
                }
                Body::Change { target, change, .. } => {
                    ("", Some(target.0), Some(to_json(change)?), None, None, None)
                }
            };
            tx.prepare_cached(
                "INSERT INTO messages
                     (room, seq, sender, sender_nick, client_id, text, ts, target, change, reply,
                      image, file)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                room.as_str(),
                seq,
                sender,
                from.as_str(),
                client_id.as_str(),
                text,
                ts,
                change_target,
                change,
                reply,
                image,
                file
            ])?;
            let id = MessageId(row_id(tx));
            let entry = match body {
                Body::Text {
                    text, image, file, ..
                } => RoomEntry::Message(RoomMessage {
                    reply_to: quote,
                    image: image.clone(),
                    file: file.clone(),
                    ..RoomMessage::new(id, seq, from.clone(), text.clone(), *ts, client_id.clone())
                }),
                Body::Change { target, change, .. } => RoomEntry::Change(RoomChange {
                    id,
                    seq,
                    from: from.clone(),
                    ts: *ts,
                    client_id: client_id.clone(),
                    target: *target,
                    change: change.clone(),
                }),
            };
            match body {
                Body::Change { target, change, .. } => {
                    let state = State {
                        index,
                        files: true,
                        preview: true,
                    };
                    apply_change(tx, state, room, *target, sender, from, seq, change)?;
                }
                Body::Text { .. } if !index => {}
                // Searchable once stored: in the same transaction.
                Body::Text { text, image, .. } => search::index::put(
                    tx,
                    &search::index::Doc {
                        room: Some(room),
                        owner: None,
                        seq,
                        id,
                        from,
                        to: None,
                        ts: *ts,
                        image: image.is_some(),
                        text: text.as_str(),
                    },
                )?,
            }
            Ok(Stored::Room {
                room: room.clone(),
                entry,
            })
        }
        Target::Direct { recipient, to, .. } => {
            let Body::Text { text, .. } = body else {
                // check() refuses these first.
                return Err(rusqlite::Error::InvalidQuery);
            };
            tx.prepare_cached(
                "INSERT INTO messages
                     (recipient, recipient_nick, sender, sender_nick, client_id, text, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                recipient,
                to.as_str(),
                sender,
                from.as_str(),
                client_id.as_str(),
                text.as_str(),
                ts
            ])?;
            let id = MessageId(row_id(tx));
            if let Some(recipient) = recipient.as_deref()
                && index
            {
                index_direct(tx, id, sender, recipient, from, to, *ts, text.as_str())?;
            }
            Ok(Stored::Direct(DirectMessage {
                id,
                // One id counter for every message: its order is each conversation's too.
                seq: id.0,
                from: from.clone(),
                to: to.clone(),
                text: text.clone(),
                ts: *ts,
                client_id: client_id.clone(),
            }))
        }
    }
}

/// Brings message `target`'s state up to date with one change (by `sender`, nickname `from`,
/// at `seq`): O(1) whatever came before. Caps are checked before ([`check`]); the replay of
/// old changes ([`fill_state`]) applies them as they were accepted.
#[allow(clippy::too_many_arguments)]
fn apply_change(
    tx: &Transaction<'_>,
    state: State,
    room: &RoomName,
    target: MessageId,
    sender: &str,
    from: &Nick,
    seq: u64,
    change: &Change,
) -> rusqlite::Result<()> {
    match change {
        Change::Edited { text } => {
            tx.prepare_cached(
                "UPDATE messages SET edited_text = ?2 WHERE id = ?1 AND deleted = 0",
            )?
            .execute(params![target.0, text.as_str()])?;
            // RoomMessage::apply's rule: an edit drops the preview.
            if state.preview {
                tx.prepare_cached("UPDATE messages SET preview = NULL WHERE id = ?1")?
                    .execute([target.0])?;
            }
            if state.index {
                search::index::edit(tx, room, target, text.as_str())?;
            }
        }
        Change::Deleted => {
            forget(tx, room, target, state.files)?;
            if state.index {
                search::index::remove(tx, Some(room), target)?;
            }
            tx.prepare_cached("UPDATE messages SET deleted = 1, edited_text = NULL WHERE id = ?1")?
                .execute([target.0])?;
            if state.preview {
                tx.prepare_cached("UPDATE messages SET preview = NULL WHERE id = ?1")?
                    .execute([target.0])?;
            }
            tx.prepare_cached("DELETE FROM reactions WHERE message = ?1")?
                .execute([target.0])?;
            tx.prepare_cached("DELETE FROM reaction_kinds WHERE message = ?1")?
                .execute([target.0])?;
        }
        Change::Previewed { preview } => {
            // RoomMessage::apply's rule: only while its link is the text's first.
            let current: Option<String> = tx
                .prepare_cached(
                    "SELECT COALESCE(edited_text, text) FROM messages WHERE id = ?1 AND deleted = 0",
                )?
                .query_row([target.0], |row| row.get(0))
                .optional()?;
            if current.is_some_and(|text| {
                shared::format::first_link(&text).as_deref() == Some(preview.url.as_str())
            }) {
                tx.prepare_cached("UPDATE messages SET preview = ?2 WHERE id = ?1")?
                    .execute(params![target.0, to_json(preview)?])?;
            }
        }
        Change::Reacted { emoji, on: true } => {
            let added = tx
                .prepare_cached(
                    "INSERT INTO reactions (message, emoji, user, nick, seq)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                )?
                .execute(params![
                    target.0,
                    emoji.as_str(),
                    sender,
                    from.as_str(),
                    seq
                ])?;
            if added > 0 {
                tx.prepare_cached(
                    "INSERT INTO reaction_kinds (message, emoji, users) VALUES (?1, ?2, 1)
                     ON CONFLICT (message, emoji) DO UPDATE SET users = users + 1",
                )?
                .execute(params![target.0, emoji.as_str()])?;
            }
        }
        Change::Reacted { emoji, on: false } => {
            let removed = tx
                .prepare_cached(
                    "DELETE FROM reactions WHERE message = ?1 AND emoji = ?2 AND user = ?3",
                )?
                .execute(params![target.0, emoji.as_str(), sender])?;
            if removed > 0 {
                tx.prepare_cached(
                    "UPDATE reaction_kinds SET users = users - 1 WHERE message = ?1 AND emoji = ?2",
                )?
                .execute(params![target.0, emoji.as_str()])?;
                tx.prepare_cached(
                    "DELETE FROM reaction_kinds WHERE message = ?1 AND emoji = ?2 AND users <= 0",
                )?
                .execute(params![target.0, emoji.as_str()])?;
            }
        }
    }
    Ok(())
}

/// What a change keeps up to date besides the message's state.
#[derive(Debug, Clone, Copy)]
struct State {
    /// The search index (not before it exists, nor in the benchmark's baseline).
    index: bool,
    /// The messages' `file` column (not before it exists: the changes replayed by an older
    /// migration, [`fill_state`], are older than files).
    files: bool,
    /// The link preview column (not before it exists: the replay of [`fill_state`]).
    preview: bool,
}

/// A direct message in the search index: once for each of its two people.
#[allow(clippy::too_many_arguments)]
fn index_direct(
    tx: &Transaction<'_>,
    id: MessageId,
    sender: &str,
    recipient: &str,
    from: &Nick,
    to: &Nick,
    ts: u64,
    text: &str,
) -> rusqlite::Result<()> {
    for owner in [sender, recipient] {
        search::index::put(
            tx,
            &search::index::Doc {
                room: None,
                owner: Some(owner),
                seq: 0,
                id,
                from,
                to: Some(to),
                ts,
                image: false,
                text,
            },
        )?;
    }
    Ok(())
}

/// Indexes every message stored before the search index existed (the migration to
/// [`SEARCH_MIGRATION`]): room messages as they are now (last edit; deleted ones not),
/// direct messages for both their people.
fn index_all(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut rows = tx.prepare(
        "SELECT id, room, seq, recipient, recipient_nick, sender, sender_nick,
                COALESCE(edited_text, text), ts, image IS NOT NULL
         FROM messages WHERE target IS NULL AND deleted = 0",
    )?;
    let mut rows = rows.query([])?;
    let mut indexed = 0u64;
    while let Some(row) = rows.next()? {
        let id = MessageId(row.get(0)?);
        let room: Option<String> = row.get(1)?;
        let from: String = row.get(6)?;
        let text: String = row.get(7)?;
        let ts: u64 = row.get(8)?;
        let Ok(from) = from.parse::<Nick>() else {
            continue;
        };
        match room.map(|room| room.parse::<RoomName>()) {
            Some(Ok(room)) => search::index::put(
                tx,
                &search::index::Doc {
                    room: Some(&room),
                    owner: None,
                    seq: row.get(2)?,
                    id,
                    from: &from,
                    to: None,
                    ts,
                    image: row.get(9)?,
                    text: &text,
                },
            )?,
            Some(Err(_)) => continue,
            None => {
                let (recipient, to, sender): (String, String, String) =
                    (row.get(3)?, row.get(4)?, row.get(5)?);
                let Ok(to) = to.parse::<Nick>() else {
                    continue;
                };
                index_direct(tx, id, &sender, &recipient, &from, &to, ts, &text)?;
            }
        }
        indexed += 1;
    }
    tracing::info!(messages = indexed, "search index made");
    Ok(())
}

/// Replays every stored change once, in order, into the state tables (the migration to
/// [`STATE_MIGRATION`]). Changes were accepted under the rules of their day: no caps here.
fn fill_state(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut changes = tx.prepare(
        "SELECT room, target, sender, sender_nick, seq, change FROM messages
         WHERE target IS NOT NULL ORDER BY id",
    )?;
    let mut rows = changes.query([])?;
    while let Some(row) = rows.next()? {
        let room: RoomName = parse(row, 0, row.get(0)?)?;
        let from: Nick = parse(row, 3, row.get(3)?)?;
        let change: Change = parse_json(5, &row.get::<_, String>(5)?)?;
        let sender: String = row.get(2)?;
        // Before the search index existed (it is filled from the state afterwards).
        apply_change(
            tx,
            State {
                index: false,
                files: false,
                preview: false,
            },
            &room,
            MessageId(row.get(1)?),
            &sender,
            &from,
            row.get(4)?,
            &change,
        )?;
    }
    Ok(())
}

/// Whether a reaction may be added: `Ok` for one the sender already has (idempotent) or one
/// within [`Reaction::MAX_PER_MESSAGE`] and [`Reaction::MAX_PER_USER`]. Reads at most the
/// message's distinct emoji and the sender's own reactions (both capped), never its history.
fn within_reaction_caps(
    tx: &Transaction<'_>,
    target: MessageId,
    emoji: &Emoji,
    sender: &str,
) -> rusqlite::Result<Result<(), Refusal>> {
    let (has, mine, known, kinds): (bool, u32, bool, u32) = tx
        .prepare_cached(
            "SELECT
                 EXISTS (SELECT 1 FROM reactions WHERE message = ?1 AND emoji = ?2 AND user = ?3),
                 (SELECT count(*) FROM reactions WHERE message = ?1 AND user = ?3),
                 EXISTS (SELECT 1 FROM reaction_kinds WHERE message = ?1 AND emoji = ?2),
                 (SELECT count(*) FROM reaction_kinds WHERE message = ?1)",
        )?
        .query_row(params![target.0, emoji.as_str(), sender], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })?;
    Ok(reaction_caps(has, mine, known, kinds))
}

/// A deletion's promise kept on disk: the words of message `target` of `room` are
/// overwritten (its text by the placeholder every reader shows, its image or file reference
/// and quote dropped; `files`: the store has the `file` column), its earlier edits become
/// entries that say it was deleted (a catch-up still lists them, without their text), and
/// replies quoting it keep who and where, not what. In the deletion's own transaction, so
/// no reader sees a deleted message's words after it.
fn forget(
    tx: &Transaction<'_>,
    room: &RoomName,
    target: MessageId,
    files: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached(if files {
        "UPDATE messages SET text = ?3, image = NULL, file = NULL, reply = NULL
         WHERE id = ?1 AND room = ?2 AND target IS NULL"
    } else {
        "UPDATE messages SET text = ?3, image = NULL, reply = NULL
         WHERE id = ?1 AND room = ?2 AND target IS NULL"
    })?
    .execute(params![target.0, room.as_str(), RoomMessage::DELETED_TEXT])?;
    tx.prepare_cached(
        "UPDATE messages SET change = ?3
         WHERE target = ?1 AND room = ?2
           AND json_extract(change, '$.kind') IN ('edited', 'previewed')",
    )?
    .execute(params![target.0, room.as_str(), to_json(&Change::Deleted)?])?;
    tx.prepare_cached(
        "UPDATE messages
         SET reply = json_set(json_remove(reply, '$.text'), '$.deleted', json('true'))
         WHERE json_extract(reply, '$.id') = ?1 AND reply IS NOT NULL AND room = ?2",
    )?
    .execute(params![target.0, room.as_str()])?;
    Ok(())
}

fn to_json(value: &impl serde::Serialize) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))
}

fn row_id(tx: &Transaction<'_>) -> u64 {
    // AUTOINCREMENT ids start at 1 and only grow.
    u64::try_from(tx.last_insert_rowid()).unwrap_or(0)
}

/// The duplicate lookup: the sender's latest message with a client id, within the window.
fn find_sent_sql() -> String {
    format!(
        "SELECT {ROOM_COLUMNS}, room, recipient_nick FROM messages
         WHERE sender = ?1 AND client_id = ?2 AND ts >= ?3 ORDER BY id DESC LIMIT 1"
    )
}

fn find_sent(
    tx: &Transaction<'_>,
    sender: &str,
    client_id: &ClientMsgId,
    since_ms: u64,
) -> rusqlite::Result<Option<Stored>> {
    tx.prepare_cached(&find_sent_sql())?
        .query_row(params![sender, client_id.as_str(), since_ms], |row| {
            let room: Option<String> = row.get(ROOM_COLUMN_COUNT)?;
            match room {
                Some(room) => Ok(Stored::Room {
                    room: parse(row, ROOM_COLUMN_COUNT, room)?,
                    entry: room_entry(row)?,
                }),
                None => Ok(Stored::Direct(DirectMessage {
                    id: MessageId(row.get(0)?),
                    seq: row.get(0)?,
                    from: parse(row, 2, row.get(2)?)?,
                    to: parse(row, ROOM_COLUMN_COUNT + 1, row.get(ROOM_COLUMN_COUNT + 1)?)?,
                    text: parse(row, 3, row.get(3)?)?,
                    ts: row.get(4)?,
                    client_id: parse(row, 5, row.get(5)?)?,
                })),
            }
        })
        .optional()
}

/// Turns stored text back into a validated type; it was valid when written, so a failure
/// means the file was edited by hand.
fn parse<T>(_row: &Row<'_>, column: usize, value: String) -> rusqlite::Result<T>
where
    T: TryFrom<String>,
    T::Error: std::error::Error + Send + Sync + 'static,
{
    T::try_from(value).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, err.into())
    })
}

/// The same for stored JSON.
fn parse_json<T: serde::de::DeserializeOwned>(column: usize, json: &str) -> rusqlite::Result<T> {
    serde_json::from_str(json).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, err.into())
    })
}

/// The columns of a room log entry, in the order [`room_entry`] reads them.
const ROOM_COLUMNS: &str =
    "id, seq, sender_nick, text, ts, client_id, target, change, reply, image, file";
const ROOM_COLUMN_COUNT: usize = 11;

/// A row of a room's log (see [`ROOM_COLUMNS`]), as stored (changes not applied).
fn room_entry(row: &Row<'_>) -> rusqlite::Result<RoomEntry> {
    let (id, seq, from, ts) = (
        MessageId(row.get(0)?),
        row.get(1)?,
        parse(row, 2, row.get(2)?)?,
        row.get(4)?,
    );
    let client_id = parse(row, 5, row.get(5)?)?;
    if let Some(target) = row.get::<_, Option<u64>>(6)? {
        let change: String = row.get(7)?;
        return Ok(RoomEntry::Change(RoomChange {
            id,
            seq,
            from,
            ts,
            client_id,
            target: MessageId(target),
            change: parse_json(7, &change)?,
        }));
    }
    let reply = row
        .get::<_, Option<String>>(8)?
        .map(|json| parse_json(8, &json))
        .transpose()?;
    let image = row
        .get::<_, Option<String>>(9)?
        .map(|json| parse_json(9, &json))
        .transpose()?;
    let file = row
        .get::<_, Option<String>>(10)?
        .map(|json| parse_json(10, &json))
        .transpose()?;
    Ok(RoomEntry::Message(RoomMessage {
        reply_to: reply,
        image,
        file,
        ..RoomMessage::new(id, seq, from, parse(row, 3, row.get(3)?)?, ts, client_id)
    }))
}

/// A row known to be a message (`target IS NULL` in the query).
fn room_message(row: &Row<'_>) -> rusqlite::Result<RoomMessage> {
    match room_entry(row)? {
        RoomEntry::Message(message) => Ok(message),
        RoomEntry::Change(_) => Err(rusqlite::Error::InvalidColumnType(
            6,
            "target".into(),
            rusqlite::types::Type::Integer,
        )),
    }
}

/// Brings `message` to its current state, from the state its changes keep
/// ([`apply_change`]): its text and whether it was deleted ([`fold_text`]), and its reactions,
/// each emoji in the order it first came, its users in the order they reacted.
fn fold(tx: &Transaction<'_>, message: &mut RoomMessage) -> rusqlite::Result<()> {
    fold_text(tx, message)?;
    if message.deleted {
        return Ok(());
    }
    let mut query =
        tx.prepare_cached("SELECT emoji, nick FROM reactions WHERE message = ?1 ORDER BY seq")?;
    let found = query
        .query_map([message.id.0], |row| {
            Ok((parse(row, 0, row.get(0)?)?, parse(row, 1, row.get(1)?)?))
        })?
        .collect::<rusqlite::Result<Vec<(Emoji, Nick)>>>()?;
    message.reactions = in_order(found);
    Ok(())
}

/// `message`'s current text: the last edit's, or the deletion's placeholder; and its link
/// preview.
fn fold_text(tx: &Transaction<'_>, message: &mut RoomMessage) -> rusqlite::Result<()> {
    let (edited, deleted, preview): (Option<String>, bool, Option<String>) = tx
        .prepare_cached("SELECT edited_text, deleted, preview FROM messages WHERE id = ?1")?
        .query_row([message.id.0], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
    message.preview = preview.map(|json| parse_json(2, &json)).transpose()?;
    if deleted {
        let from = message.from.clone();
        message.apply(&from, &Change::Deleted);
    } else if let Some(text) = edited {
        message.text = Text::try_from(text).map_err(|err| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, err.into())
        })?;
        message.edited = true;
    }
    Ok(())
}

/// Up to `count` of `room`'s messages before `before`, oldest first.
fn messages_before(
    tx: &Transaction<'_>,
    room: &str,
    before: u64,
    count: u32,
) -> rusqlite::Result<Vec<RoomMessage>> {
    let mut page: Vec<RoomMessage> = tx
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS} FROM messages
             WHERE room = ?1 AND seq < ?2 AND target IS NULL
             ORDER BY seq DESC LIMIT ?3"
        ))?
        .query_map(params![room, before, count], room_message)?
        .collect::<rusqlite::Result<_>>()?;
    page.reverse();
    Ok(page)
}

/// Up to `count` of `room`'s messages after `after`, oldest first.
fn messages_after(
    tx: &Transaction<'_>,
    room: &str,
    after: u64,
    count: u32,
) -> rusqlite::Result<Vec<RoomMessage>> {
    tx.prepare_cached(&format!(
        "SELECT {ROOM_COLUMNS} FROM messages
         WHERE room = ?1 AND seq > ?2 AND target IS NULL
         ORDER BY seq LIMIT ?3"
    ))?
    .query_map(params![room, after, count], room_message)?
    .collect()
}
/// Messages (in their current state) out of `entries`, in order.
fn current(
    tx: &Transaction<'_>,
    messages: impl IntoIterator<Item = RoomMessage>,
) -> rusqlite::Result<Vec<RoomMessage>> {
    messages
        .into_iter()
        .map(|mut message| {
            fold(tx, &mut message)?;
            Ok(message)
        })
        .collect()
}

fn read_room(
    tx: &Transaction<'_>,
    options: &StoreOptions,
    room: &RoomName,
    range: RoomRange,
    epoch: &Epoch,
) -> rusqlite::Result<Answer> {
    let name = room.as_str();
    let last_seq: u64 = tx
        .prepare_cached("SELECT last_seq FROM rooms WHERE name = ?1")?
        .query_row([name], |row| row.get(0))
        .optional()?
        .unwrap_or(0);
    let mut changes = Vec::new();
    let (mode, messages) = match range {
        RoomRange::Latest => (HistoryMode::Latest, latest_page(tx, options, name)?),
        RoomRange::Reset => (HistoryMode::Reset, latest_page(tx, options, name)?),
        RoomRange::Before(before) => {
            let page = messages_before(tx, name, before, options.page)?;
            (HistoryMode::Older, current(tx, page)?)
        }
        RoomRange::After(after) => {
            let page = messages_after(tx, name, after, options.page)?;
            (HistoryMode::Newer, current(tx, page)?)
        }
        RoomRange::Around(at) => {
            let half = options.page / 2;
            let mut page = messages_before(tx, name, at, half)?;
            page.extend(messages_after(
                tx,
                name,
                at.saturating_sub(1),
                options.page - half,
            )?);
            (HistoryMode::Around, current(tx, page)?)
        }
        RoomRange::Since(since) => {
            let missed: Vec<RoomEntry> = tx
                .prepare_cached(&format!(
                    "SELECT {ROOM_COLUMNS} FROM messages WHERE room = ?1 AND seq > ?2
                     ORDER BY seq LIMIT ?3"
                ))?
                .query_map(
                    params![name, since, u64::from(options.max_catch_up) + 1],
                    room_entry,
                )?
                .collect::<rusqlite::Result<_>>()?;
            if catch_up_resets(since, last_seq, &missed, options.max_catch_up) {
                (HistoryMode::Reset, latest_page(tx, options, name)?)
            } else {
                let (messages, missed_changes) = split(missed);
                changes = missed_changes;
                (HistoryMode::CatchUp, current(tx, messages)?)
            }
        }
    };
    let first = messages
        .first()
        .map(|m| m.seq)
        .into_iter()
        .chain(changes.first().map(|c| c.seq))
        .min();
    let oldest = match (&range, first) {
        (_, Some(first)) => first,
        (RoomRange::Since(since), None) => since + 1,
        (RoomRange::Before(before), None) => *before,
        // (At most SQLite's largest integer: the hub clamps `after` to it.)
        (RoomRange::After(after), None) => after.saturating_add(1).min(i64::MAX as u64),
        (RoomRange::Around(at), None) => *at,
        (RoomRange::Latest | RoomRange::Reset, None) => 0,
    };
    let more_before = tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM messages
             WHERE room = ?1 AND seq < ?2 AND target IS NULL)",
        )?
        .query_row(params![name, oldest], |row| row.get(0))?;
    Ok(Answer::Room {
        room: room.clone(),
        mode,
        messages,
        changes,
        more_before,
        epoch: epoch.clone(),
        members: None,
    })
}

fn latest_page(
    tx: &Transaction<'_>,
    options: &StoreOptions,
    room: &str,
) -> rusqlite::Result<Vec<RoomMessage>> {
    let mut page: Vec<RoomMessage> = tx
        .prepare_cached(&format!(
            "SELECT {ROOM_COLUMNS} FROM messages WHERE room = ?1 AND target IS NULL
             ORDER BY seq DESC LIMIT ?2"
        ))?
        .query_map(params![room, options.page], room_message)?
        .collect::<rusqlite::Result<_>>()?;
    page.reverse();
    current(tx, page)
}

/// Every room with a log, by name (a room keeps its row once its messages are gone, so
/// that its numbers are never reused: a room whose messages retention removed is listed,
/// empty).
fn room_logs(db: &Connection) -> rusqlite::Result<Vec<RoomName>> {
    db.prepare("SELECT name FROM rooms ORDER BY name")?
        .query_map([], |row| parse(row, 0, row.get(0)?))?
        .collect()
}

fn read_direct(
    tx: &Transaction<'_>,
    options: &StoreOptions,
    user: &str,
    range: DirectRange,
    epoch: &Epoch,
) -> rusqlite::Result<Answer> {
    let query =
        |after: u64, descending: bool, limit: u64| -> rusqlite::Result<Vec<DirectMessage>> {
            let order = if descending { "DESC" } else { "" };
            // Two index range scans (sent, received) merged by id.
            let mut messages: Vec<DirectMessage> = tx
                .prepare_cached(&format!(
                    "SELECT id, sender_nick, recipient_nick, text, ts, client_id FROM messages
                 WHERE room IS NULL AND (sender = ?1 OR recipient = ?1) AND id > ?2
                 ORDER BY id {order} LIMIT ?3"
                ))?
                .query_map(params![user, after, limit], |row| {
                    Ok(DirectMessage {
                        id: MessageId(row.get(0)?),
                        seq: row.get(0)?,
                        from: parse(row, 1, row.get(1)?)?,
                        to: parse(row, 2, row.get(2)?)?,
                        text: parse(row, 3, row.get(3)?)?,
                        ts: row.get(4)?,
                        client_id: parse(row, 5, row.get(5)?)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            if descending {
                messages.reverse();
            }
            Ok(messages)
        };
    let latest = || query(0, true, u64::from(options.page));
    let (mode, messages) = match range {
        DirectRange::Latest => (HistoryMode::Latest, latest()?),
        DirectRange::Reset => (HistoryMode::Reset, latest()?),
        DirectRange::After(MessageId(after)) => (
            HistoryMode::Newer,
            query(after, false, u64::from(options.page))?,
        ),
        DirectRange::Since(MessageId(since)) => {
            let missed = query(since, false, u64::from(options.max_catch_up) + 1)?;
            if direct_catch_up_resets(&missed, options.max_catch_up) {
                (HistoryMode::Reset, latest()?)
            } else {
                (HistoryMode::CatchUp, missed)
            }
        }
    };
    Ok(Answer::Direct {
        mode,
        messages,
        epoch: epoch.clone(),
        positions: positions(tx, user)?,
    })
}

fn sweep(db: &mut Connection, options: &StoreOptions) -> rusqlite::Result<usize> {
    let tx = db.transaction()?;
    let mut deleted = 0;
    if let Some(age) = options.retention_age {
        let cutoff = now_ms().saturating_sub(millis(age));
        deleted += tx.execute("DELETE FROM messages WHERE ts < ?1", [cutoff])?;
    }
    if let Some(keep) = options.retention_messages {
        let rooms: Vec<(String, u64)> = tx
            .prepare("SELECT name, last_seq FROM rooms")?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut delete = tx.prepare("DELETE FROM messages WHERE room = ?1 AND seq <= ?2")?;
        for (room, last_seq) in rooms {
            if last_seq > keep {
                deleted += delete.execute(params![room, last_seq - keep])?;
            }
        }
    }
    tx.commit()?;
    Ok(deleted)
}

mod directory;
#[cfg(test)]
mod tests;
