//! Search (issue #30), the same in both modes: an SQLite index of every message's current
//! text ([`index`]), read by one thread of its own ([`Searcher`]) so that a search never waits
//! behind the store's writes nor they behind it. Single node: the index is in the message
//! store's file, written in each message's own transaction (stored ⇒ searchable). Cluster:
//! each node keeps its own index file, fed from the Redis logs by
//! [`crate::engine::redis`]'s indexer, and answers from it (docs/SCALING.md, "Search").
//!
//! # Layout
//! - `fold.rs`: the one folding rule (case, width, Latin accents) and the short-word tokens.
//! - `query.rs`: what a search box's text asks ([`Query`]).
//! - `index.rs`: the tables, their upkeep ([`index::put`], [`index::edit`],
//!   [`index::remove`]) and the query ([`index::search`]).
//! - this file: [`Searcher`], the reading thread.

pub mod fold;
pub mod index;
pub mod query;

use std::{
    path::{Path, PathBuf},
    sync::mpsc as std_mpsc,
    thread,
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

pub use self::{
    index::{Page, Request},
    query::Query,
};
use super::vocabulary::{EngineError, Event};

/// How long a search waits for a writer's lock before it gives up (a checkpoint, say).
const BUSY_WAIT: Duration = Duration::from_secs(2);

/// The most one search may take: then it answers with what it found and a cursor to go on
/// (or, having found nothing yet, fails), so that no query holds the thread for everyone.
const BUDGET: Duration = Duration::from_millis(300);

/// The thread that answers searches from an index file: [`Searcher::search`] queues one,
/// an [`Event::Found`] answers it.
pub struct Searcher<C> {
    jobs: std_mpsc::Sender<(C, Request)>,
}

impl<C: Send + 'static> Searcher<C> {
    /// Starts the thread over the index in `path` (made by its writer first), answering on
    /// `events`. It ends when the searcher is dropped, or when nobody hears its answers.
    pub fn start(
        path: &Path,
        events: mpsc::WeakUnboundedSender<Event<C>>,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = std_mpsc::channel::<(C, Request)>();
        let path: PathBuf = path.to_owned();
        thread::Builder::new()
            .name("chat-search".into())
            .spawn(move || {
                let mut db = None;
                while let Ok((ctx, request)) = queue.recv() {
                    let result = answer(&mut db, &path, &request);
                    if let Err(err) = &result {
                        tracing::warn!(error = %err, "a search failed");
                    }
                    let Some(events) = events.upgrade() else {
                        break;
                    };
                    if events.send(Event::Found { ctx, result }).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Queues a search; an [`Event::Found`] answers it.
    pub fn search(&self, ctx: C, request: Request) {
        // The thread only ends once its answers have nowhere to go.
        let _ = self.jobs.send((ctx, request));
    }
}

/// Opens the index on first use (and again after a failure), then searches it.
fn answer(
    db: &mut Option<Connection>,
    path: &Path,
    request: &Request,
) -> Result<Page, EngineError> {
    if db.is_none() {
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        connection.busy_timeout(BUSY_WAIT)?;
        *db = Some(connection);
    }
    let Some(connection) = db.as_mut() else {
        return Err(EngineError::Store(
            "the search index is not open".to_owned(),
        ));
    };
    let deadline = Instant::now() + BUDGET;
    connection.progress_handler(1000, Some(move || Instant::now() > deadline))?;
    let result = index::search(connection, request);
    connection.progress_handler(0, None::<fn() -> bool>)?;
    result.map_err(|err| match err {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            EngineError::Store("it took too long; add words or a filter".to_owned())
        }
        err => {
            *db = None;
            EngineError::from(err)
        }
    })
}
