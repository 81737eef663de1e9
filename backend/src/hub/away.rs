//! Reaching people who are away: after a message is stored, the sender's node (only it, and
//! once) finds who should hear of it by a push: the recipient of a direct message the
//! engine found away ([`engine::Event::Away`]), the members of a group who are in it on no
//! node (`groups.rs`), and the people an @mention names who are connected nowhere and may
//! read the room. The pushes go to the [`crate::push::Notifier`],
//! which never makes the hub wait.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::{Ctx, Hub, RoomName, UserId, engine};
use shared::{DirectMessage, RoomEntry, push::Notice};

/// Names of one message resolved for mention pushes at most: a message naming more is
/// a broadcast, and a broadcast is not worth a buzz on every phone.
const MENTIONS_PER_MESSAGE: usize = 10;

/// The start of `text`, as much as a notification shows.
fn preview(text: &str) -> String {
    text.chars().take(Notice::PREVIEW_CHARS).collect()
}

impl Hub {
    /// Tells `user`'s devices, unless an admin banned them from the server (their
    /// subscriptions outlive the ban; nothing of the chat reaches them).
    pub(super) fn notify(&mut self, user: String, notice: Notice) {
        if !self.banned_from_server(&user) {
            self.push.notify(user, notice);
        }
    }

    /// A direct message was stored for `user`, who is away: tell their devices.
    pub(super) fn direct_to_away(&mut self, user: String, message: &DirectMessage) {
        let notice = Notice {
            open: format!("direct:{}", message.from),
            id: message.id.0,
            from: Some(message.from.to_string()),
            preview: Some(preview(message.text.as_str())),
        };
        self.notify(user, notice);
    }

    /// A room entry from `sender` (here) was stored: the names it mentions are looked up,
    /// and those who are away hear of it ([`Hub::mentions_resolved`]).
    pub(super) fn room_entry_stored(&mut self, sender: UserId, room: &RoomName, entry: &RoomEntry) {
        let RoomEntry::Message(message) = entry else {
            return;
        };
        let Some(sender) = self.users.get(&sender) else {
            return;
        };
        if self.policies.get(room).is_some_and(|policy| policy.group) {
            // Everyone who may read a group is a member, and members away are told anyway.
            let key = sender.key.clone();
            return self.group_entry_stored(&key, room, entry);
        }
        let own = sender.nick.key();
        let nicks: Vec<shared::Nick> = message
            .text
            .mentions()
            .into_iter()
            .filter(|name| *name != own)
            .filter_map(|name| shared::Nick::try_from(name).ok())
            .take(MENTIONS_PER_MESSAGE)
            .collect();
        if nicks.is_empty() {
            return;
        }
        let notice = Notice {
            open: format!("room:{room}"),
            id: message.id.0,
            from: Some(message.from.to_string()),
            preview: Some(preview(message.text.as_str())),
        };
        let ctx = Ctx::Mention {
            room: room.clone(),
            notice,
        };
        self.engine.resolve(ctx, nicks);
    }

    /// Whom a message's mentions reach: those away who may read the room get a push.
    pub(super) fn mentions_resolved(
        &mut self,
        room: &RoomName,
        notice: &Notice,
        found: Vec<Option<engine::Reached>>,
    ) {
        for reached in found.into_iter().flatten() {
            if !reached.away {
                continue;
            }
            // A private room's messages reach its members only, pushes included.
            let admitted = self
                .policies
                .get(room)
                .is_none_or(|policy| policy.admits(&reached.user));
            if admitted {
                self.notify(reached.user, notice.clone());
            }
        }
    }
}
