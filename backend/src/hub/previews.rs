//! Link previews (`--link-previews`, [`crate::previews`]): when a room message or an edit is
//! stored through this node, its text's first link is queued for a preview (so in cluster
//! mode exactly one node fetches: the one that accepted it); a preview made comes back here
//! and is appended to the room's log through the engine as a change of the message by its
//! author, which the engine checks like an edit (the message is there, not deleted, theirs).

// One part of `impl Hub`: the hub's types come from `mod.rs`.
use super::{
    Appended, Authority, Body, Change, ClientMsgId, Ctx, Hub, NewMessage, RoomName, Stored, Target,
    UserId, engine,
};
use crate::previews::{Done, Job};
use shared::RoomEntry;

impl Hub {
    /// Queues a preview of `entry`'s first link, if previews are on and it is a message or an
    /// edit with one; `sender` wrote it.
    pub(super) fn want_preview(&mut self, sender: UserId, room: &RoomName, entry: &RoomEntry) {
        let Some(previewer) = &self.previewer else {
            return;
        };
        let (target, text, from, source) = match entry {
            RoomEntry::Message(message) => (message.id, &message.text, &message.from, message.id),
            RoomEntry::Change(change) => match &change.change {
                Change::Edited { text } => (change.target, text, &change.from, change.id),
                _ => return,
            },
        };
        let Some(url) = shared::format::first_link(text.as_str()) else {
            return;
        };
        let Some(user) = self.users.get(&sender) else {
            return;
        };
        // One per entry that asks: a repeat is stored once (the engine's idempotency).
        let Ok(client_id) = ClientMsgId::try_from(format!("_preview-{}", source.0)) else {
            return;
        };
        previewer.ask(Job {
            room: room.clone(),
            target,
            url,
            author: user.key.clone(),
            from: from.clone(),
            client_id,
        });
    }

    /// A preview made: appended as a change by the message's author (the engine refuses it if
    /// the message was deleted meanwhile). Dropped when the store is overloaded.
    pub(super) fn previewed(&mut self, done: Done) {
        if self.unstored >= self.max_unstored {
            tracing::debug!("a link preview was dropped: the store queue is full");
            return;
        }
        let Done { job, preview } = done;
        let message = NewMessage {
            target: Target::Room(job.room),
            sender: job.author,
            from: job.from,
            body: Body::Change {
                target: job.target,
                change: Change::Previewed {
                    preview: Box::new(preview),
                },
                authority: Authority::Author,
            },
            client_id: job.client_id,
            ts: engine::now_ms(),
        };
        if self.engine.append(Ctx::Preview, message).is_ok() {
            self.unstored += 1;
        }
    }

    /// The engine's answer to a preview's append: a new entry goes to the room's readers here
    /// (in cluster mode the feed brings it to every node, this one included).
    pub(super) fn preview_stored(&mut self, outcome: Appended) {
        match outcome {
            Appended::New(Stored::Room { room, entry }) => {
                let event = entry.into_event(room.clone());
                self.broadcast_live(&room, &event);
            }
            Appended::Refused(_, reason) => {
                tracing::debug!(reason, "a link preview was not stored");
            }
            Appended::Failed(reason) => {
                tracing::warn!(error = %reason, "storing a link preview failed");
            }
            _ => {}
        }
    }
}
