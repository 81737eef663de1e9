//! This node's changes to the shared presence (rooms' members, nicknames), queued and run one
//! at a time by [`presence_loop`].

use super::*;

/// A change to the shared presence (rooms' members, nicknames) or an event for a room's
/// nodes. This node's changes run one at a time in the order the hub made them, so that a
/// quick join and leave cannot be applied the other way round.
pub enum PresenceOp {
    /// A user with tabs here is in a room (entered again after the shared presence lost it;
    /// a join's own entry comes with its history read).
    Join {
        /// The room.
        room: RoomName,
        /// The user.
        joiner: Joiner,
    },
    /// A user's last tab here left a room.
    Leave {
        /// The room.
        room: RoomName,
        /// The user key.
        user: String,
    },
    /// A user's last tab here is gone: their nickname is free unless another node has them.
    Release {
        /// Their nickname.
        nick: Nick,
        /// The user key.
        user: String,
    },
    /// A user renamed: their entry in `room` changes and the room hears `event`.
    Renamed {
        /// The room.
        room: RoomName,
        /// The user key.
        user: String,
        /// The new nickname.
        nick: Nick,
        /// The `renamed` event.
        event: ServerMsg,
    },
    /// An event (typing) for every node with members in `room`.
    Announce {
        /// The room.
        room: RoomName,
        /// Who caused it (user key): their own tabs are left out where the rules say so.
        user: String,
        /// The event.
        event: ServerMsg,
    },
}

/// The presence queue's work: [`PresenceOp`]s, and the parts of other jobs that change
/// presence (a join's entry, a nickname claim), which answer through a channel.
pub(super) enum PresenceWork {
    // Boxed: an op may carry a whole event (a rename's), far larger than the other work.
    Op(Box<PresenceOp>),
    Join(
        RoomName,
        Joiner,
        oneshot::Sender<Result<MemberPage, String>>,
    ),
    Claim(Nick, String, oneshot::Sender<Result<bool, String>>),
    /// Whether this node's entries are gone although it had made some (`true` expected
    /// some): answers `true` when they were lost.
    Check(bool, oneshot::Sender<Result<bool, String>>),
}

/// How often a node renews its lease (and the sweeper looks for dead nodes).
pub(super) const PRESENCE_TICK: Duration = Duration::from_secs(1);

/// Runs presence changes one at a time, in the order the engine queued them.
pub(super) async fn presence_loop(io: Io, mut queue: mpsc::UnboundedReceiver<PresenceWork>) {
    while let Some(work) = queue.recv().await {
        match work {
            PresenceWork::Join(room, joiner, reply) => {
                let members = io.join_room(&room, &joiner).await;
                let _ = reply.send(members.map_err(|e| e.to_string()));
            }
            PresenceWork::Check(expected, reply) => {
                // In the queue, so that every entry queued before has been made.
                let lost = io.present().await.map(|present| expected && !present);
                let _ = reply.send(lost.map_err(|e| e.to_string()));
            }
            PresenceWork::Claim(nick, user, reply) => {
                let granted = io.claim(&nick, &user).await;
                let _ = reply.send(granted.map_err(|e| e.to_string()));
            }
            PresenceWork::Op(op) => {
                let (what, result) = match op.as_ref() {
                    PresenceOp::Join { room, joiner } => (
                        "join",
                        io.join_room(room, joiner).await.map(drop).map_err(|e| {
                            redis::RedisError::from(std::io::Error::other(e.to_string()))
                        }),
                    ),
                    PresenceOp::Leave { room, user } => ("leave", io.leave_room(room, user).await),
                    PresenceOp::Release { nick, user } => ("release", io.release(nick, user).await),
                    PresenceOp::Renamed {
                        room,
                        user,
                        nick,
                        event,
                    } => ("rename", io.renamed(room, user, nick, event).await),
                    PresenceOp::Announce { room, user, event } => {
                        ("announce", io.announce(room, user, event).await)
                    }
                };
                if let Err(err) = result {
                    // Not retried: a dead node's entries are swept, and a live one's are
                    // put right by its next change. Logged once here, at the task boundary.
                    tracing::warn!(what, error = %err, "a presence change did not reach Redis");
                }
            }
        }
    }
}
