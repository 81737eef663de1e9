//! Imports (the transfer module's writer): what an admin's import stores goes through the hub like a
//! chat message does, so that the engine sequences it, the room's readers here hear it live
//! and the room's policy is made the way `create_room` makes one. The import asks one thing
//! at a time and waits for its answer; the chat rules that are a person's (membership, mutes,
//! rate limits, pushes, link previews) do not apply to history being restored.

use tokio::sync::oneshot;

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::records::{ImportOp, PolicyCtx};
use super::{Appended, Ctx, Hub, Stored};
use crate::policy::Request;

impl Hub {
    pub(super) fn import(&mut self, op: ImportOp) {
        match op {
            ImportOp::Room {
                room,
                policy,
                reply,
            } => {
                if !self.policies_loaded {
                    let _ = reply.send(Err(
                        "room permissions are still loading; try again shortly".to_owned(),
                    ));
                    return;
                }
                match (self.policies.get(&room), policy) {
                    // A group's name (or one shaped like it) is no room to import into.
                    (existing, _)
                        if existing.map_or_else(
                            || super::groups::looks_like_group(&room),
                            |p| p.group,
                        ) =>
                    {
                        let _ = reply.send(Err(format!(
                            "{room} is the name of a group conversation; rename the source's"
                        )));
                    }
                    // Whatever it has stays: made by an earlier run of this import, or by
                    // people (the writer compares it with what it needs).
                    (Some(existing), _) => {
                        let _ = reply.send(Ok(Some(existing.clone())));
                    }
                    (None, None) => {
                        let _ = reply.send(Ok(None));
                    }
                    // Never a room in use (members here, or messages or members anywhere,
                    // which the policy worker checks): making it private, or giving it a
                    // topic, would change what its people have.
                    (None, Some(_)) if self.rooms.conns(&room).next().is_some() => {
                        let _ = reply.send(Err(format!(
                            "{room} is in use already (it has members); import into an unused room"
                        )));
                    }
                    (None, Some(policy)) => self.ask_policy(Request::Create {
                        ctx: PolicyCtx::Import { reply },
                        room,
                        policy,
                        claim_used: false,
                    }),
                }
            }
            ImportOp::Append { message, reply } => {
                if self
                    .engine
                    .append(Ctx::ImportAppend { reply }, message)
                    .is_ok()
                {
                    self.unstored += 1;
                }
                // Else the store has stopped: the reply is dropped, the import hears so.
            }
            ImportOp::Read { read, reply } => self.read(Ctx::ImportRead { reply }, read),
        }
    }

    /// An imported entry stored (or not): readers of its room here hear it as they hear any
    /// message (in cluster mode, `Sent`: the room's feed delivers it everywhere).
    pub(super) fn import_stored(&mut self, reply: oneshot::Sender<Appended>, outcome: Appended) {
        if let Appended::New(Stored::Room { room, entry }) = &outcome {
            let event = entry.clone().into_event(room.clone());
            self.broadcast_live(room, &event);
        }
        let _ = reply.send(outcome);
    }
}
