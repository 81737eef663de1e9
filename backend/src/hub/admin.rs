//! What the admin console asks of the hub (issue #33, [`crate::admin`]): the rooms and their
//! rules (the policies this hub holds, every node's in cluster mode) with who is in them now
//! (the engine's presence, every node's); and removing a message as a moderator would,
//! logged like a moderator's removal in the chat. Groups are never shown by name, only
//! counted, and nobody removes a message from one: they are as closed as direct messages, to
//! server admins too.

// One part of `impl Hub`: the hub's types come from `mod.rs`.
use shared::admin::{RoomDetail, RoomSummary, Rooms};

use super::{
    AdminRefusal, AdminReply, Appended, Authority, Body, Change, ClientMsgId, Ctx, EngineError,
    ErrorCode, Hub, MessageId, ModAction, NewMessage, Nick, RoomInfo, RoomName, Stored, Target,
    UserId, engine,
};
use crate::policy::{Person, Request, RoomPolicy};

impl Hub {
    /// `GET /api/admin/rooms`: asks the engine who is where; answered in
    /// [`Hub::admin_rooms_listed`].
    pub(super) fn admin_rooms(&mut self, reply: AdminReply<Rooms>) {
        if !self.policies_loaded {
            let _ = reply.send(Err(loading()));
            return;
        }
        self.engine.rooms(Ctx::AdminRooms { reply });
    }

    /// Every room with a policy or with members, sorted by name; groups counted only.
    pub(super) fn admin_rooms_listed(
        &self,
        reply: AdminReply<Rooms>,
        online: Result<Vec<RoomInfo>, EngineError>,
    ) {
        let answer = online.map_err(unavailable).map(|online| {
            let mut rooms: std::collections::BTreeMap<RoomName, RoomSummary> = self
                .policies
                .iter()
                .filter(|(_, policy)| !policy.group)
                .map(|(room, policy)| (room.clone(), summary(room, Some(policy), 0)))
                .collect();
            for info in online {
                let policy = self.policies.get(&info.name);
                let group = match policy {
                    Some(policy) => policy.group,
                    None => super::groups::looks_like_group(&info.name),
                };
                if group {
                    continue;
                }
                rooms
                    .entry(info.name.clone())
                    .or_insert_with(|| summary(&info.name, policy, 0))
                    .online = info.members;
            }
            let groups = self.policies.values().filter(|policy| policy.group).count();
            Rooms {
                rooms: rooms.into_values().collect(),
                groups: u32::try_from(groups).unwrap_or(u32::MAX),
            }
        });
        // (The asker may have gone; nothing to do then.)
        let _ = reply.send(answer);
    }

    /// `GET /api/admin/room?room=NAME`: how many are in it (the room list: a member page's
    /// count is not kept in cluster mode), then who ([`Hub::admin_room_counted`]).
    pub(super) fn admin_room(&mut self, room: RoomName, reply: AdminReply<RoomDetail>) {
        if !self.policies_loaded {
            let _ = reply.send(Err(loading()));
            return;
        }
        let group = match self.policies.get(&room) {
            Some(policy) => policy.group,
            None => super::groups::looks_like_group(&room),
        };
        if group {
            let _ = reply.send(Err(AdminRefusal::Group));
            return;
        }
        self.engine.rooms(Ctx::AdminRoom { room, reply });
    }

    /// The room list came for one room's detail: now its first page of members.
    pub(super) fn admin_room_counted(
        &mut self,
        room: RoomName,
        reply: AdminReply<RoomDetail>,
        online: Result<Vec<RoomInfo>, EngineError>,
    ) {
        let online = match online {
            Ok(rooms) => rooms
                .iter()
                .find(|info| info.name == room)
                .map_or(0, |info| info.members),
            Err(err) => {
                let _ = reply.send(Err(unavailable(err)));
                return;
            }
        };
        if online == 0 && !self.policies.contains_key(&room) {
            let _ = reply.send(Err(AdminRefusal::NoSuchRoom));
            return;
        }
        let ctx = Ctx::AdminMembers {
            room: room.clone(),
            online,
            reply,
        };
        self.engine.members(ctx, room, None, String::new());
    }

    /// A room's detail, with its first page of members.
    pub(super) fn admin_room_answered(
        &self,
        room: &RoomName,
        online: u32,
        reply: AdminReply<RoomDetail>,
        page: Result<engine::MemberPage, EngineError>,
    ) {
        let answer = page.map_err(unavailable).map(|page| {
            let policy = self.policies.get(room);
            let now = engine::now_ms();
            RoomDetail {
                room: summary(room, policy, online),
                members: page.members,
                more_members: page.more,
                invited: sorted(policy.into_iter().flat_map(|p| p.invited.values())),
                banned: sorted(policy.into_iter().flat_map(|p| p.banned.values())),
                muted: sorted(
                    policy
                        .into_iter()
                        .flat_map(|p| p.muted.values())
                        .filter(|m| m.until_ms > now)
                        .map(|m| &m.nick),
                ),
            }
        });
        let _ = reply.send(answer);
    }
}

impl Hub {
    /// Whether `room` is a group (or, its policy not heard of yet, named like one).
    fn is_group(&self, room: &RoomName) -> bool {
        match self.policies.get(room) {
            Some(policy) => policy.group,
            None => super::groups::looks_like_group(room),
        }
    }

    /// `POST /api/admin/remove`: the admin `by` removes the message `id` of `room` under the
    /// rule a room's moderators follow ([`crate::policy::moderates`]: an admin outranks
    /// them; nobody moderates a group), through the engine as their deletion would go.
    pub(super) fn admin_remove(
        &mut self,
        by: &Person,
        room: RoomName,
        id: MessageId,
        reply: AdminReply<bool>,
    ) {
        if self.is_group(&room) {
            let _ = reply.send(Err(AdminRefusal::Group));
            return;
        }
        if !self.policies_loaded {
            let _ = reply.send(Err(loading()));
            return;
        }
        if !crate::policy::moderates(self.policies.get(&room), by) {
            let message = format!("only the moderators of {room} (or a server admin) may");
            let _ = reply.send(Err(AdminRefusal::Refused(ErrorCode::Forbidden, message)));
            return;
        }
        if self.unstored >= self.max_unstored {
            let message = "too many messages are waiting to be stored; retry shortly";
            let _ = reply.send(Err(AdminRefusal::Unavailable(message.into())));
            return;
        }
        // Each request its own (a repeat of a removal done finds the message gone: 404).
        let Some(client_id) = crate::ids::random_hex(8)
            .ok()
            .and_then(|hex| ClientMsgId::try_from(format!("_remove-{}-{hex}", id.0)).ok())
        else {
            let message = "no randomness for a request id";
            let _ = reply.send(Err(AdminRefusal::Unavailable(message.into())));
            return;
        };
        let message = NewMessage {
            target: Target::Room(room),
            sender: by.key.clone(),
            from: by.nick.clone(),
            body: Body::Change {
                target: id,
                change: Change::Deleted,
                authority: Authority::Anyone,
            },
            client_id,
            ts: engine::now_ms(),
        };
        match self.engine.append(Ctx::AdminRemove { reply }, message) {
            Ok(()) => self.unstored += 1,
            Err(_) => {
                // (The context, and its reply, went with the refused job: the admin hears the
                // hub stopped.)
                tracing::warn!("the message store has stopped; an admin's removal was dropped");
            }
        }
    }

    /// The engine's answer to an admin's removal: the room's readers here see the deletion
    /// (in cluster mode the feed brings it to every node, this one included).
    pub(super) fn admin_removed(&mut self, reply: AdminReply<bool>, outcome: Appended) {
        let answer = match outcome {
            Appended::New(Stored::Room { room, entry }) => {
                let event = entry.into_event(room.clone());
                self.broadcast_live(&room, &event);
                Ok(true)
            }
            Appended::Sent(Stored::Room { .. }) => Ok(true),
            Appended::Duplicate(_) => Ok(false),
            Appended::Refused(code, reason) => Err(AdminRefusal::Refused(code, reason)),
            Appended::Failed(reason) => Err(AdminRefusal::Unavailable(reason.to_string())),
            other => Err(AdminRefusal::Unavailable(format!("unexpected: {other:?}"))),
        };
        let _ = reply.send(answer);
    }

    /// A moderator's deletion in the chat was stored: the moderation log keeps it (through
    /// the policy worker, which writes it; the hub never waits).
    pub(super) fn moderator_removed(&mut self, sender: UserId, room: &RoomName, id: MessageId) {
        let Some(by) = self.users.get(&sender).map(|u| u.nick.clone()) else {
            return;
        };
        self.ask_policy(Request::Log {
            room: room.clone(),
            by,
            action: ModAction::MessageRemoved { id },
        });
    }
}

/// A room's line in the console: its rules (none: a room made by `join`) and `online`.
fn summary(room: &RoomName, policy: Option<&RoomPolicy>, online: u32) -> RoomSummary {
    let default = RoomPolicy::default();
    let policy = policy.unwrap_or(&default);
    RoomSummary {
        name: room.clone(),
        private: policy.private,
        owner: policy.owner.clone(),
        moderators: sorted(policy.moderators.values()),
        banned: u32::try_from(policy.banned.len()).unwrap_or(u32::MAX),
        max_members: policy.max_members,
        topic: policy.topic.clone(),
        online,
        closed: policy.closed,
    }
}

/// Names sorted as member lists are (by [`Nick::key`]).
fn sorted<'a>(names: impl Iterator<Item = &'a Nick>) -> Vec<Nick> {
    let mut names: Vec<Nick> = names.cloned().collect();
    names.sort_by_key(Nick::key);
    names
}

fn loading() -> AdminRefusal {
    AdminRefusal::Unavailable("room permissions are still loading; try again shortly".into())
}

fn unavailable(err: EngineError) -> AdminRefusal {
    AdminRefusal::Unavailable(err.to_string())
}
