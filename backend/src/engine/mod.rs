//! The engine wing: where messages live, sequenced and fanned out. The hub (the chat rules)
//! talks to one [`Engine`]: the [`SingleNode`] (SQLite and presence in memory), or the
//! Redis [`Cluster`] engine shared by many nodes. Both answer the same questions with the
//! same [`Event`]s; the hub writes every rule once and never asks which mode it is in.
//!
//! # Layout
//! - `vocabulary.rs`: what the hub asks and what engines answer (requests, answers, events,
//!   log positions, errors); imports nothing of either engine.
//! - `rules.rs`: the rules both engines apply (references, reaction caps, the catch-up or
//!   `reset` decision, the clock).
//! - `single.rs`: the single-node engine: `sqlite.rs` (one thread owning one SQLite
//!   connection: messages) and `presence.rs` (who is where, nicknames: in memory).
//! - `redis/`: the cluster engine (Redis scripts, feeds, shared presence, and the indexer
//!   that feeds this node's search index from the logs).
//! - `search/`: search, the same in both modes (an SQLite index and the thread reading it).
//! - this file: [`Engine`], the one door the hub uses.

pub mod presence;
pub mod redis;
pub mod rules;
pub mod search;
pub mod single;
pub mod sqlite;
pub mod vocabulary;

use std::sync::{Arc, atomic::AtomicBool};

use shared::{Nick, RoomName};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{redis::Cluster, single::SingleNode, sqlite::Store};
pub use self::{rules::*, vocabulary::*};
use crate::{Config, metrics::Metrics, redis_set::RedisSet};

/// Where messages are stored, sequenced and fanned out, and who is where: the hub's one
/// door, the same questions and the same [`Event`]s in both modes.
pub enum Engine<C> {
    /// One node: SQLite, presence in memory.
    Single(SingleNode<C>),
    /// Many nodes: Redis, presence shared by every node.
    Cluster(Cluster<C>),
}

impl<C: Send + 'static> Engine<C> {
    /// Opens the engine of this node: over the node's Redis connections (`--redis`), or the
    /// store under `--data-dir`.
    pub fn open(
        config: &Config,
        redis: Option<&RedisSet>,
        metrics: &Metrics,
        shutdown: CancellationToken,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event<C>>), OpenError> {
        if let Some(redis) = redis {
            let (cluster, events) = Cluster::start(
                redis,
                config.store_options(),
                &config.data_dir,
                metrics,
                shutdown,
            )
            .map_err(|err| OpenError {
                path: config.redis.clone().unwrap_or_default().into(),
                reason: err.to_string(),
            })?;
            tracing::info!("cluster mode: messages live in Redis");
            return Ok((Self::Cluster(cluster), events));
        }
        let (store, events) = Store::open(
            &config.data_dir,
            config.store_options(),
            Some(metrics.store()),
        )?;
        tracing::info!(path = %store.path().display(), "message store open");
        let single = SingleNode::new(store).map_err(|err| OpenError {
            path: config.data_dir.clone(),
            reason: format!("cannot start the search thread: {err}"),
        })?;
        Ok((Self::Single(single), events))
    }

    /// Queues a message to store; an [`Event::Appended`] follows (and, for the logs the hub
    /// watches, the entry live: [`Event::LiveRoom`], [`Event::LiveDirect`]).
    pub fn append(&mut self, ctx: C, message: NewMessage) -> Result<(), StoreClosed> {
        match self {
            Self::Single(single) => single.append(ctx, message),
            Self::Cluster(cluster) => cluster.append(ctx, message),
        }
    }

    /// Queues a history read; an [`Event::Read`] follows, after the events of every message
    /// it contains. A join's read (with a [`Joiner`]) enters the reader in the room first.
    pub fn read(&mut self, ctx: C, read: Read) -> Result<(), StoreClosed> {
        match self {
            Self::Single(single) => single.read(ctx, read),
            Self::Cluster(cluster) => cluster.read(ctx, read),
        }
    }

    /// The hub has a first local reader of `log`: its entries are delivered live from now.
    pub fn watch(&self, log: Log) {
        match self {
            Self::Single(single) => closed_drop(single.watch(log)),
            Self::Cluster(cluster) => cluster.watch(log),
        }
    }

    /// The hub's last local reader of `log` is gone.
    pub fn unwatch(&self, log: Log) {
        match self {
            Self::Single(single) => closed_drop(single.unwatch(log)),
            Self::Cluster(cluster) => cluster.unwatch(log),
        }
    }

    /// Claims a nickname for a user (key); [`Event::Claimed`] answers.
    pub fn claim(&mut self, ctx: C, nick: Nick, user: String) {
        match self {
            Self::Single(single) => single.claim(ctx, &nick, &user),
            Self::Cluster(cluster) => cluster.claim(ctx, nick, user),
        }
    }

    /// Changes presence, or tells a room's members something; what the room hears comes
    /// back as [`Event::RoomEvent`]s.
    pub fn presence(&mut self, op: PresenceOp) {
        match self {
            Self::Single(single) => single.presence(op),
            Self::Cluster(cluster) => cluster.presence(op),
        }
    }

    /// Moves `user`'s read position in `place` forward; [`Event::UserEvent`] tells their tabs.
    pub fn mark(&self, user: String, place: Place, position: u64) {
        match self {
            Self::Single(single) => closed_drop(single.mark(user, place, position)),
            Self::Cluster(cluster) => cluster.mark(user, place, position),
        }
    }

    /// Notes that `user` (a key) holds, or held until now, `nick`: a direct message to the
    /// name while nobody holds it reaches them as [`vocabulary::Reach`] allows. Nothing
    /// answers; a later note of another holder wins.
    pub fn remember(&self, nick: Nick, user: String) {
        let holder = vocabulary::Holder {
            user,
            nick,
            at: rules::now_ms(),
        };
        match self {
            Self::Single(single) => closed_drop(single.store().remember(holder)),
            Self::Cluster(cluster) => cluster.remember(holder),
        }
    }

    /// Whom each of `nicks` reaches: whoever holds it now, or, as [`Reach`] allows, its last
    /// holder, away; [`Event::Resolved`] answers (in the order asked).
    pub fn resolve(&self, ctx: C, nicks: Vec<Nick>) {
        match self {
            Self::Single(single) => closed_drop(single.resolve(ctx, nicks)),
            Self::Cluster(cluster) => cluster.resolve(ctx, nicks),
        }
    }

    /// Which of `users` (user keys) are in `room` on no node; [`Event::Absent`] answers.
    pub fn absent(&self, ctx: C, room: RoomName, users: Vec<String>) {
        match self {
            Self::Single(single) => single.absent(ctx, &room, users),
            Self::Cluster(cluster) => cluster.absent(ctx, room, users),
        }
    }

    /// Keeps whether `user` shares their read positions with others ("seen").
    pub fn share(&self, user: String, share: bool) {
        match self {
            Self::Single(single) => closed_drop(single.store().share(user, share)),
            Self::Cluster(cluster) => cluster.share(user, share),
        }
    }

    /// The positions in `place` of those of `users` (user keys) who share them;
    /// [`Event::PositionsOf`] answers.
    pub fn positions_of(&self, ctx: C, place: Place, users: Vec<String>) {
        match self {
            Self::Single(single) => closed_drop(single.store().positions_of(ctx, place, users)),
            Self::Cluster(cluster) => cluster.positions_of(ctx, place, users),
        }
    }

    /// Tells every tab of `user` (a key), on every node, `event` ([`Event::UserEvent`]).
    pub fn tell(&self, user: String, event: shared::ServerMsg) {
        match self {
            Self::Single(single) => single.store().announce(Event::UserEvent { user, event }),
            Self::Cluster(cluster) => cluster.tell(user, event),
        }
    }

    /// Searches what `request` may find; [`Event::Found`] answers.
    pub fn search(&self, ctx: C, request: search::Request) {
        match self {
            Self::Single(single) => single.search(ctx, request),
            Self::Cluster(cluster) => cluster.search(ctx, request),
        }
    }

    /// Asks for every room with members; [`Event::Rooms`] answers.
    pub fn rooms(&self, ctx: C) {
        match self {
            Self::Single(single) => single.rooms(ctx),
            Self::Cluster(cluster) => cluster.rooms(ctx),
        }
    }

    /// Asks for every room with a log, members or not (an export's list of rooms);
    /// [`Event::Logs`] answers.
    pub fn logs(&self, ctx: C) {
        match self {
            Self::Single(single) => closed_drop(single.store().logs(ctx)),
            Self::Cluster(cluster) => cluster.logs(ctx),
        }
    }

    /// Asks for a page of `room`'s members (`prefix` lower-cased); [`Event::Members`]
    /// answers.
    pub fn members(&self, ctx: C, room: RoomName, after: Option<Nick>, prefix: String) {
        match self {
            Self::Single(single) => single.members(ctx, &room, after.as_ref(), &prefix),
            Self::Cluster(cluster) => cluster.members(ctx, room, after, prefix),
        }
    }

    /// Whether sends can be stored now, as a flag `/readyz` reads without asking the hub
    /// (the single node's store while its thread runs; the cluster's while Redis answers).
    pub fn readiness(&self) -> Arc<AtomicBool> {
        match self {
            Self::Single(single) => single.readiness(),
            Self::Cluster(cluster) => cluster.readiness(),
        }
    }
}

/// A job the stopped store could not take: only at shutdown, when nobody waits for it.
fn closed_drop(queued: Result<(), StoreClosed>) {
    if queued.is_err() {
        tracing::debug!("the message store has stopped; a job was dropped");
    }
}
