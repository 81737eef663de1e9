//! The records the hub's state holds for its parts: what a connection has loaded of a
//! room's member list, a room's presence changes waiting for their window, what a policy
//! request in flight needs back, and what an import asks ([`ImportOp`]). A leaf:
//! [`super::Hub`] (in `mod.rs`) holds them and its parts (`presence.rs`, `policies.rs`,
//! `imports.rs`) fill them, so both import them from here without a loop.

use std::collections::BTreeMap;

use shared::{Nick, RoomName};
use tokio::time::Instant;

use crate::ids::{ConnId, UserId};

/// How much of a room's member list a connection has: the members it hears presence
/// details about in a large room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Loaded {
    /// Everyone: its pages reached the end.
    All,
    /// The members whose key sorts up to this one (inclusive).
    Upto(String),
}

/// A room's presence changes waiting for its window.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// When the room's last `presence` event went out.
    pub(super) sent: Option<Instant>,
    /// The member count after the latest change.
    pub(super) count: u32,
    /// Who joined since, by key; never also in `left` (each user is where they ended).
    pub(super) joined: BTreeMap<String, Nick>,
    /// Who left since, by key.
    pub(super) left: BTreeMap<String, Nick>,
}

/// What an import asks of the hub (see `HubHandle::import`).
#[derive(Debug)]
pub enum ImportOp {
    /// Makes sure `room` has a policy like `policy` (made now if it has none); answers the
    /// policy the room has, or why it cannot be made.
    Room {
        /// The room.
        room: RoomName,
        /// Its policy, if it has none yet (`None`: a public room without a topic needs none).
        policy: Option<crate::policy::RoomPolicy>,
        /// The answer.
        reply: tokio::sync::oneshot::Sender<Result<Option<crate::policy::RoomPolicy>, String>>,
    },
    /// Stores an entry (a message or a change) as given, its `ts` included.
    Append {
        /// The entry.
        message: crate::engine::NewMessage,
        /// What became of it.
        reply: tokio::sync::oneshot::Sender<crate::engine::Appended>,
    },
    /// Reads a room's log.
    Read {
        /// What to read.
        read: crate::engine::Read,
        /// The engine's answer.
        reply:
            tokio::sync::oneshot::Sender<Result<crate::engine::Answer, crate::engine::EngineError>>,
    },
}

/// What the hub needs back from the policy worker with each answer.
#[derive(Debug)]
pub(super) enum PolicyCtx {
    /// `create_room` from `conn` (user `user`): join it once created.
    Create {
        conn: ConnId,
        user: UserId,
        room: RoomName,
    },
    /// A moderation request from `conn`.
    Act { conn: ConnId },
    /// A room an import makes: the policy made, or why not.
    Import {
        reply: tokio::sync::oneshot::Sender<Result<Option<crate::policy::RoomPolicy>, String>>,
    },
}
