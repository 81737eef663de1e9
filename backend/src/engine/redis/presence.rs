//! This node's changes to the shared presence (rooms' members, nicknames), queued and run by
//! [`presence_loop`]: in order for each user (and each nickname), side by side for different
//! ones.

use std::time::Duration;

use shared::{Nick, RoomName};
use tokio::sync::{mpsc, oneshot};

use super::{directory, redis_io::Io};
use crate::engine::{
    rules::now_ms,
    vocabulary::{EngineError, Holder, Joiner, MemberPage, PresenceOp},
};

/// The presence queue's work: [`PresenceOp`]s, and the parts of other jobs that change
/// presence (a join's entry, a nickname claim), which answer through a channel.
pub(super) enum PresenceWork {
    // Boxed: an op may carry a whole event (a rename's), far larger than the other work.
    Op(Box<PresenceOp>),
    Join(
        RoomName,
        Joiner,
        oneshot::Sender<Result<MemberPage, EngineError>>,
    ),
    Claim(Nick, String, oneshot::Sender<Result<bool, EngineError>>),
    /// Whether this node's entries are gone although it had made some (`true` expected
    /// some): answers `true` when they were lost.
    Check(bool, oneshot::Sender<Result<bool, EngineError>>),
}

/// How often a node renews its lease (and the sweeper looks for dead nodes).
pub(super) const PRESENCE_TICK: Duration = Duration::from_secs(1);

/// Lanes of presence work run side by side. One lane awaited each script's reply before
/// sending the next, so a node's joins were bounded by round trips (a two-node storm of
/// 10,000 joins took 12-21 s; with 16 lanes 4.6-5.6 s, bench/results/large-rooms.md); Redis
/// runs the scripts one at a time anyway, and its own order decides the counts it announces.
const LANES: usize = 16;

/// What a lane runs: work, or a mark answered once everything given before it is done.
enum LaneWork {
    Work(PresenceWork),
    Mark(oneshot::Sender<()>),
}

/// Runs presence changes in the order the engine queued them for each user: the work of one
/// user key (a nickname's claim and release: of one nickname key) goes to one lane, which runs
/// it one at a time; different users' work runs side by side. A [`PresenceWork::Check`]
/// waits until every lane has done what was queued before it. Ends when the engine's sender
/// is dropped (the lanes then end with it).
pub(super) async fn presence_loop(io: Io, mut queue: mpsc::UnboundedReceiver<PresenceWork>) {
    // Before this node's first change: an older version's layout would otherwise linger
    // (and its room list, a set, would refuse the counts written now).
    match io.forget_old_presence().await {
        Ok(0) => {}
        Ok(gone) => tracing::info!(gone, "deleted the presence keys of an older version"),
        Err(err) => {
            tracing::warn!(error = %err, "could not delete an older version's presence keys")
        }
    }
    let lanes: Vec<mpsc::UnboundedSender<LaneWork>> = (0..LANES)
        .map(|_| {
            let (lane, work) = mpsc::unbounded_channel();
            tokio::spawn(lane_loop(io.clone(), work));
            lane
        })
        .collect();
    while let Some(work) = queue.recv().await {
        let Some(lane) = lane_of(&work) else {
            if let PresenceWork::Check(expected, reply) = work {
                let mut marks = Vec::with_capacity(LANES);
                for lane in &lanes {
                    let (mark, done) = oneshot::channel();
                    let _ = lane.send(LaneWork::Mark(mark));
                    marks.push(done);
                }
                for done in marks {
                    // An error: the lane is gone, so it has nothing left to do either.
                    let _ = done.await;
                }
                let lost = io.present().await.map(|present| expected && !present);
                let _ = reply.send(lost.map_err(EngineError::from));
            }
            continue;
        };
        let _ = lanes[lane].send(LaneWork::Work(work));
    }
}

/// The lane of `work`: by its user key, or for a nickname's claim and release by the
/// nickname's first key, its look-alike key ignoring case (so that a nickname released by one
/// user and claimed by another right after, in any case, is free by then). A release of the
/// second key alone (a rename from `Alice` to `ALICE`) and a claim of a look-alike that
/// shares only that key (`AIice`) may run side by side: such a claim can then be refused
/// while the release is under way, and succeeds when asked again. `None` for a check, which
/// is every lane's.
fn lane_of(work: &PresenceWork) -> Option<usize> {
    let key = match work {
        PresenceWork::Check(..) => return None,
        PresenceWork::Join(_, joiner, _) => joiner.user.clone(),
        PresenceWork::Claim(nick, _, _) => {
            let [folded, _] = crate::names::likeness(nick);
            folded
        }
        PresenceWork::Op(op) => match op.as_ref() {
            PresenceOp::Join { joiner, .. } => joiner.user.clone(),
            PresenceOp::Leave { user, .. }
            | PresenceOp::Renamed { user, .. }
            | PresenceOp::Announce { user, .. } => user.clone(),
            PresenceOp::Release { keys, user, .. } => keys.first().unwrap_or(user).clone(),
        },
    };
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&key, &mut hasher);
    // The remainder is below LANES, so it fits a usize.
    #[allow(clippy::cast_possible_truncation)]
    Some((std::hash::Hasher::finish(&hasher) % LANES as u64) as usize)
}

/// One lane: its work one item at a time, in the order it came. Ends when the dispatcher
/// drops its sender.
async fn lane_loop(io: Io, mut queue: mpsc::UnboundedReceiver<LaneWork>) {
    while let Some(work) = queue.recv().await {
        let work = match work {
            LaneWork::Mark(done) => {
                let _ = done.send(());
                continue;
            }
            LaneWork::Work(work) => work,
        };
        match work {
            PresenceWork::Join(room, joiner, reply) => {
                let members = io.join_room(&room, &joiner).await;
                let _ = reply.send(members);
            }
            // The dispatcher answers checks itself (lane_of).
            PresenceWork::Check(..) => {}
            PresenceWork::Claim(nick, user, reply) => {
                let granted = io.claim(&nick, &user).await;
                if let Ok(true) = granted {
                    let holder = Holder {
                        user: user.clone(),
                        nick: nick.clone(),
                        at: now_ms(),
                    };
                    if let Err(err) = directory::remember(&mut io.commands(), &holder).await {
                        // The next claim or release notes the holder again.
                        tracing::warn!(error = %err, "noting a nickname's holder failed");
                    }
                }
                let _ = reply.send(granted.map_err(EngineError::from));
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
                    PresenceOp::Release { keys, user, nick } => {
                        // Noted before the name is free: a direct message that finds it
                        // free finds its last holder.
                        let holder = Holder {
                            user: user.clone(),
                            nick: nick.clone(),
                            at: now_ms(),
                        };
                        let noted = directory::remember(&mut io.commands(), &holder).await;
                        ("release", noted.and(io.release(keys, user).await))
                    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use shared::ServerMsg;

    use super::*;

    fn op(op: PresenceOp) -> PresenceWork {
        PresenceWork::Op(Box::new(op))
    }

    #[test]
    fn a_users_changes_share_a_lane_and_so_do_a_nicknames_claim_and_release() {
        let room: RoomName = "lobby".parse().unwrap();
        let event = ServerMsg::Left { room: room.clone() };
        let mut used = std::collections::BTreeSet::new();
        for i in 0..200 {
            let user = format!("user-{i}");
            let nick: Nick = format!("Nick{i}").parse().unwrap();
            let joiner = Joiner {
                user: user.clone(),
                nick: nick.clone(),
            };
            let lanes: Vec<Option<usize>> = [
                PresenceWork::Join(room.clone(), joiner.clone(), oneshot::channel().0),
                op(PresenceOp::Join {
                    room: room.clone(),
                    joiner,
                }),
                op(PresenceOp::Renamed {
                    room: room.clone(),
                    user: user.clone(),
                    nick: nick.clone(),
                    event: event.clone(),
                }),
                op(PresenceOp::Announce {
                    room: room.clone(),
                    user: user.clone(),
                    event: event.clone(),
                }),
                op(PresenceOp::Leave {
                    room: room.clone(),
                    user,
                }),
            ]
            .iter()
            .map(lane_of)
            .collect();
            assert!(
                lanes.iter().all(|lane| lane.is_some() && *lane == lanes[0]),
                "{lanes:?}"
            );
            used.extend(lanes[0]);
            // A nickname's claim and its release share a lane whoever makes them, and
            // whatever its case (one key).
            let claim = PresenceWork::Claim(nick.clone(), "a".into(), oneshot::channel().0);
            let released: Nick = format!("nICK{i}").parse().unwrap();
            let release = op(PresenceOp::Release {
                keys: crate::names::likeness(&released).to_vec(),
                user: "b".into(),
                nick: released.clone(),
            });
            assert_eq!(lane_of(&claim), lane_of(&release));
        }
        // Different users spread over the lanes; a check is every lane's.
        assert_eq!(used.len(), LANES);
        assert!(lane_of(&PresenceWork::Check(true, oneshot::channel().0)).is_none());
    }
}
