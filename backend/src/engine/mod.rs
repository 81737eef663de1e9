//! The engine wing: where messages live, sequenced and fanned out. The hub (the chat rules)
//! talks to one [`Engine`]: the embedded SQLite [`Store`] of a single node, or the Redis
//! [`Cluster`] engine shared by many nodes. Both answer with the same [`Event`]s; the hub
//! writes every rule once.
//!
//! # Layout
//! - `vocabulary.rs`: what the hub asks and what engines answer (requests, answers, events,
//!   log positions, errors); imports nothing of either engine.
//! - `rules.rs`: the rules both engines apply (references, reaction caps, the catch-up or
//!   `reset` decision, the clock).
//! - `sqlite.rs`: the single-node engine, one thread owning one SQLite connection.
//! - `redis/`: the cluster engine (Redis scripts, feeds, shared presence).
//! - this file: [`Engine`], the one door the hub uses.

pub mod redis;
pub mod rules;
pub mod sqlite;
pub mod vocabulary;

use std::sync::{Arc, atomic::AtomicBool};

use shared::{Nick, RoomName};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::{
    redis::{Cluster, PresenceOp},
    sqlite::Store,
};
pub use self::{rules::*, vocabulary::*};
use crate::{Config, metrics::Metrics};

/// Where messages are stored, sequenced and fanned out.
pub enum Engine<C> {
    /// One node: SQLite, and the hub broadcasts what it stored.
    Embedded(Store<C>),
    /// Many nodes: Redis, and every message comes back through its log's feed.
    Cluster(Cluster<C>),
}

impl<C: Send + 'static> Engine<C> {
    /// Opens the engine [`Config`] asks for (`--redis`, or the store under `--data-dir`).
    pub fn open(
        config: &Config,
        metrics: &Metrics,
        shutdown: CancellationToken,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event<C>>), OpenError> {
        if let Some(url) = &config.redis {
            let (cluster, events) =
                Cluster::start(url, config.store_options(), shutdown).map_err(|err| OpenError {
                    path: url.into(),
                    reason: err.to_string(),
                })?;
            tracing::info!(redis = %url, "cluster mode: messages live in Redis");
            return Ok((Self::Cluster(cluster), events));
        }
        let (store, events) = Store::open(
            &config.data_dir,
            config.store_options(),
            Some(metrics.store()),
        )?;
        tracing::info!(path = %store.path().display(), "message store open");
        Ok((Self::Embedded(store), events))
    }

    /// Queues a message to store; an [`Event::Appended`] follows.
    pub fn append(&self, ctx: C, message: NewMessage) -> Result<(), StoreClosed> {
        match self {
            Self::Embedded(store) => store.append(ctx, message),
            Self::Cluster(cluster) => cluster.append(ctx, message),
        }
    }

    /// Queues a history read; an [`Event::Read`] follows, after the events of every message
    /// it contains.
    pub fn read(&self, ctx: C, read: Read) -> Result<(), StoreClosed> {
        match self {
            Self::Embedded(store) => store.read(ctx, read),
            Self::Cluster(cluster) => cluster.read(ctx, read),
        }
    }

    /// The hub has a first local reader of `log`.
    pub fn watch(&self, log: Log) {
        if let Self::Cluster(cluster) = self {
            cluster.watch(log);
        }
    }

    /// The hub's last local reader of `log` is gone.
    pub fn unwatch(&self, log: Log) {
        if let Self::Cluster(cluster) = self {
            cluster.unwatch(log);
        }
    }

    /// Whether presence and nicknames are shared with other nodes (cluster mode): then the
    /// engine decides who is in a room and who owns a nickname, and the hub announces what
    /// it is told ([`Event::RoomEvent`], [`Event::Claimed`]).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Claims a nickname for a user (key) across the cluster; [`Event::Claimed`] answers.
    /// Single-node mode has nobody to ask: the hub's own nickname map is the whole truth.
    pub fn claim(&self, ctx: C, nick: Nick, user: String) {
        if let Self::Cluster(cluster) = self {
            cluster.claim(ctx, nick, user);
        }
    }

    /// Changes the shared presence (cluster mode; nothing to share otherwise).
    pub fn presence(&self, op: PresenceOp) {
        if let Self::Cluster(cluster) = self {
            cluster.presence(op);
        }
    }

    /// Moves `user`'s read position in `place` forward; [`Event::UserEvent`] tells their tabs.
    pub fn mark(&self, user: String, place: Place, position: u64) {
        let stored = match self {
            Self::Embedded(store) => store.mark(user, place, position),
            Self::Cluster(cluster) => {
                cluster.mark(user, place, position);
                Ok(())
            }
        };
        if stored.is_err() {
            tracing::warn!("read position dropped: the message store has stopped");
        }
    }

    /// Asks for every room with members across the cluster; [`Event::Rooms`] answers.
    pub fn rooms(&self, ctx: C) {
        if let Self::Cluster(cluster) = self {
            cluster.rooms(ctx);
        }
    }

    /// Asks the shared presence for a page of `room`'s members (cluster mode; the embedded
    /// hub pages its own registry): [`Event::Members`] answers. `prefix` is
    /// lower-cased.
    pub fn members(&self, ctx: C, room: RoomName, after: Option<Nick>, prefix: String) {
        if let Self::Cluster(cluster) = self {
            cluster.members(ctx, room, after, prefix);
        }
    }

    /// Whether sends can be stored now, as a flag `/readyz` reads without asking the hub
    /// (the embedded store is always ready while it runs).
    pub fn readiness(&self) -> Arc<AtomicBool> {
        match self {
            Self::Embedded(_) => Arc::new(AtomicBool::new(true)),
            Self::Cluster(cluster) => cluster.readiness(),
        }
    }
}
