//! Group conversations: a private room of three to nine people with a name the server
//! picks, listed with direct messages. `create_group` looks the names up (those away too,
//! as a direct message would), the policy worker stores the group (its members are its
//! `invited`), and every member's tabs join it, now and on every `hello`; `leave_group`
//! takes a member out for good. Nobody moderates a group, server admins included
//! ([`crate::policy::decide`]), and a message to it is pushed to the members who are in it
//! on no node.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::records::PolicyCtx;
use super::{ConnId, Ctx, ErrorCode, Hub, Nick, RoomName, UserId, engine};
use crate::policy::{Act, Request, RoomPolicy, Whom};
use shared::{GROUP_SIZE, RoomEntry, push::Notice};

/// A group's room name: `g-` and 20 random hex digits (no one can guess it, and none is a
/// name `join` would have made by chance).
fn group_name() -> Option<RoomName> {
    let hex = crate::ids::random_hex(10).ok()?;
    RoomName::try_from(format!("g-{hex}")).ok()
}

/// Whether `room` has the shape of a group's name: a node that has not yet heard of a new
/// group's policy (cluster mode, for a moment) must still not show it to an admin.
pub(super) fn looks_like_group(room: &RoomName) -> bool {
    room.as_str()
        .strip_prefix("g-")
        .is_some_and(|hex| hex.len() == 20 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl Hub {
    /// `create_group`: checks the list, then looks the names up ([`Hub::group_resolved`]).
    pub(super) fn create_group(&mut self, conn: ConnId, user: UserId, with: Vec<Nick>) {
        let Some(profile) = self.users.get(&user) else {
            return;
        };
        let own = profile.nick.key();
        let mut keys: Vec<String> = with.iter().map(Nick::key).collect();
        keys.sort();
        keys.dedup();
        let size = with.len() + 1;
        let problem: Option<String> = if keys.len() != with.len() {
            Some("a name is listed twice".to_owned())
        } else if keys.contains(&own) {
            Some("list the others, not yourself".to_owned())
        } else if !GROUP_SIZE.contains(&size) {
            Some(format!(
                "a group has {} to {} people, you included; this would have {size}",
                GROUP_SIZE.start(),
                GROUP_SIZE.end()
            ))
        } else if let Some(over) = self.groups_cap_reached(&profile.key) {
            return self.refuse(conn, ErrorCode::TooManyRooms, &over, None);
        } else if !self.policies_loaded {
            Some("room permissions are still loading; try again shortly".to_owned())
        } else {
            None
        };
        if let Some(message) = problem {
            return self.refuse(conn, ErrorCode::Invalid, &message, None);
        }
        let asked = with.len();
        let ctx = Ctx::Group { conn, user, asked };
        self.engine.resolve(ctx, with);
    }

    /// Whom a `create_group`'s names reach: the group is stored with them (and its
    /// creator) as members, or the first name that reaches nobody is refused.
    pub(super) fn group_resolved(
        &mut self,
        conn: ConnId,
        user: UserId,
        asked: usize,
        found: Vec<Option<engine::Reached>>,
    ) {
        let Some(creator) = self.person(user) else {
            return;
        };
        let mut members = std::collections::BTreeMap::new();
        members.insert(creator.key.clone(), creator.nick.clone());
        for reached in &found {
            let Some(reached) = reached else {
                let message = "a name you listed reaches nobody (no one has it, and no one away may be reached by it)";
                return self.refuse(conn, ErrorCode::NoSuchUser, message, None);
            };
            members.insert(reached.user.clone(), reached.nick.clone());
        }
        // Two names of one person (a rename between the lookups) make a smaller group.
        if found.len() != asked || !GROUP_SIZE.contains(&members.len()) {
            let message = "the names you listed are fewer people than a group needs";
            return self.refuse(conn, ErrorCode::Invalid, message, None);
        }
        let Some(room) = group_name() else {
            let message = "the server cannot make a name for the group now; try again";
            return self.refuse(conn, ErrorCode::StoreFailed, message, None);
        };
        let policy = RoomPolicy {
            private: true,
            group: true,
            created_by: Some(creator.key.clone()),
            invited: members,
            version: 1,
            ..RoomPolicy::default()
        };
        self.ask_policy(Request::Create {
            ctx: PolicyCtx::Act { conn },
            room,
            policy,
            claim_used: false,
        });
    }

    /// `leave_group`: the member leaves for good ([`crate::policy::decide`] allows only
    /// that in a group).
    pub(super) fn leave_group(&mut self, conn: ConnId, user: UserId, room: RoomName) {
        let Some(actor) = self.person(user) else {
            return;
        };
        let whom = Some(Whom::Known(actor.clone()));
        self.ask_policy(Request::Act {
            ctx: PolicyCtx::Act { conn },
            room,
            actor,
            act: Act::LeaveGroup,
            whom,
        });
    }

    /// The refusal of one more group by the user with `key`: the groups they made that
    /// still exist count, with the rooms they own, against `--max-owned-rooms`.
    fn groups_cap_reached(&self, key: &str) -> Option<String> {
        let made = self
            .policies
            .values()
            .filter(|policy| {
                policy.created_by.as_deref() == Some(key)
                    || policy.owner_key.as_deref() == Some(key)
            })
            .count();
        let cap = self.limits.max_owned_rooms as usize;
        (made >= cap)
            .then(|| format!("you made {made} groups and rooms; one user may make at most {cap}"))
    }

    /// The groups the user with `key` is in.
    pub(super) fn groups_of(&self, key: &str) -> Vec<RoomName> {
        self.policies
            .iter()
            .filter(|(_, policy)| policy.group && policy.invited.contains_key(key))
            .map(|(room, _)| room.clone())
            .collect()
    }

    /// Joins every tab of the user with `key` here to `room` (a group they are in now).
    pub(super) fn join_group_everywhere(&mut self, key: &str, room: &RoomName) {
        let Some(&user) = self.keys.get(key) else {
            return;
        };
        let tabs: Vec<ConnId> = self
            .users
            .get(&user)
            .map(|u| u.conns.iter().copied().collect())
            .unwrap_or_default();
        for conn in tabs {
            if !self.rooms.contains(room, conn) {
                self.join(conn, user, room.clone(), None);
            }
        }
    }

    /// A message to a group was stored (on this, the sender's, node): its members in the
    /// room on no node are looked for, to be pushed to ([`Hub::away_from_group`]).
    pub(super) fn group_entry_stored(
        &mut self,
        sender_key: &str,
        room: &RoomName,
        entry: &RoomEntry,
    ) {
        let (RoomEntry::Message(message), Some(policy)) = (entry, self.policies.get(room)) else {
            return;
        };
        if !policy.group {
            return;
        }
        let others: Vec<String> = policy
            .invited
            .keys()
            .filter(|key| *key != sender_key)
            .cloned()
            .collect();
        let notice = Notice {
            open: format!("group:{room}"),
            id: message.id.0,
            from: Some(message.from.to_string()),
            preview: Some(
                message
                    .text
                    .as_str()
                    .chars()
                    .take(Notice::PREVIEW_CHARS)
                    .collect(),
            ),
        };
        self.engine
            .absent(Ctx::Push { notice }, room.clone(), others);
    }

    /// Members of a group who are in it on no node: their devices hear of the message.
    pub(super) fn away_from_group(&mut self, notice: &Notice, users: Vec<String>) {
        for user in users {
            self.notify(user, notice.clone());
        }
    }
}
