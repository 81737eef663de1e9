//! What the engine keeps per watched log, in a leaf so that the engine (`mod.rs`) and its
//! parts (`logs.rs`, `redis_io.rs`) import it without a loop: a log's [`Item`]s, its
//! [`Slot`] (subscription state, feed, the history answers held until the feed catches up)
//! and a room's member changes waiting to be told ([`Members`]).

use std::time::{Duration, Instant};

use shared::{DirectMessage, Epoch, RoomEntry};
use tokio::sync::oneshot;

use super::feed::{Feed, Positioned};
use crate::engine::vocabulary::{Answer, EngineError, Log, MemberPage, Read};

/// A message of either kind of log.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    Room(RoomEntry),
    Direct(DirectMessage),
}

impl Positioned for Item {
    fn position(&self) -> u64 {
        match self {
            Self::Room(m) => m.position(),
            Self::Direct(m) => m.position(),
        }
    }

    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Room(a), Self::Room(b)) => a.same(b),
            (Self::Direct(a), Self::Direct(b)) => a.same(b),
            _ => false,
        }
    }
}

/// A history answer waiting for the feed to deliver up to `tail`.
pub(super) struct Held<C> {
    pub(super) ctx: C,
    pub(super) read: Read,
    pub(super) answer: Answer,
    pub(super) tail: u64,
}

pub(super) enum SlotState<C> {
    /// Subscribing, then learning where the log stands; pushes and reads wait.
    Starting {
        pushes: Vec<(Epoch, Item)>,
        reads: Vec<(C, Read, Members)>,
    },
    /// Delivering.
    Live {
        /// The log's identity; a message of another one means the log was replaced.
        epoch: Epoch,
        /// Epochs this log had before (a late message of one of them is ignored).
        retired: Vec<Epoch>,
        feed: Feed<Item>,
        held: Vec<Held<C>>,
        /// A read of the log (gap or resync) is in flight.
        filling: bool,
    },
}

/// One watched log.
pub(super) struct Slot<C> {
    /// Tells this watch's answers from those of an earlier one of the same log.
    pub(super) generation: u64,
    /// Since when nobody here reads it (the hub said `unwatch` more recently than `watch`):
    /// unsubscribed after [`UNWATCH_GRACE`]. `None` while local readers exist.
    pub(super) idle_since: Option<Instant>,
    pub(super) state: SlotState<C>,
}

/// A log nobody here reads stays subscribed this long, so that a user hopping between rooms
/// does not subscribe and unsubscribe over and over.
pub(super) const UNWATCH_GRACE: Duration = Duration::from_secs(30);

/// Where a join's member list comes from.
pub(super) enum Members {
    /// Not a join.
    None,
    /// The presence queue will answer.
    Pending(oneshot::Receiver<Result<MemberPage, EngineError>>),
    /// Known (a read done again).
    Ready(MemberPage),
}

/// A read's member list, kept for reading again.
pub(super) fn members_of(answer: &Answer) -> Members {
    match answer {
        Answer::Room {
            members: Some(members),
            ..
        } => Members::Ready(members.clone()),
        _ => Members::None,
    }
}

pub(super) fn log_of(read: &Read) -> Log {
    match read {
        Read::Room { room, .. } => Log::Room(room.clone()),
        Read::Direct { user, .. } => Log::User(user.clone()),
    }
}

/// Appends what the feed delivered after a read's tail to its answer.
pub(super) fn extend(answer: &mut Answer, items: Vec<Item>) {
    match answer {
        Answer::Room {
            messages, changes, ..
        } => {
            for item in items {
                match item {
                    Item::Room(RoomEntry::Message(m)) => messages.push(m),
                    Item::Room(RoomEntry::Change(c)) => changes.push(c),
                    Item::Direct(_) => {}
                }
            }
        }
        Answer::Direct { messages, .. } => {
            messages.extend(items.into_iter().filter_map(|i| match i {
                Item::Direct(m) => Some(m),
                Item::Room(_) => None,
            }));
        }
    }
}
