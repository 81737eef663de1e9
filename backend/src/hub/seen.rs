//! "Seen": how far the others have read a direct or group conversation, from the read
//! positions the engine keeps anyway. A position marked by someone who shares goes to the
//! group (announced through the engine to every node) or to the other person of the direct
//! conversation (told to their tabs on every node); a group's join and a `direct_history`
//! are followed by everyone's positions so far. Only between people who both share: the
//! choice (`share_reads`) is kept with the user's positions and told to every tab as
//! `sharing`, which also sets it on each node's hub.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use std::collections::BTreeMap;

use super::{ConnId, Ctx, Hub, Nick, PresenceOp, RoomName, ServerMsg, UserId, engine};
use shared::DirectMessage;

impl Hub {
    /// `share_reads`: kept for the user, and told to every tab of theirs on every node.
    pub(super) fn share_reads(&mut self, user: UserId, share: bool) {
        let Some(key) = self.key_of(user) else {
            return;
        };
        self.engine.share(key.clone(), share);
        self.engine.tell(key, ServerMsg::Sharing { reads: share });
    }

    /// Whether `user` shares their positions (and so sees others'): not until their
    /// choice has been read.
    pub(super) fn shares(&self, user: UserId) -> bool {
        self.users
            .get(&user)
            .is_some_and(|u| u.sharing == Some(true))
    }

    /// Whether `event` may go to `user`'s tabs: a `seen` only to someone who shares. A
    /// `sharing` is also noted here, on whichever node it arrives.
    pub(super) fn may_see(&mut self, user: UserId, event: &ServerMsg) -> bool {
        match event {
            ServerMsg::Seen { .. } => self.shares(user),
            ServerMsg::Sharing { reads } => {
                if let Some(profile) = self.users.get_mut(&user) {
                    profile.sharing = Some(*reads);
                }
                true
            }
            _ => true,
        }
    }

    /// `user` marked `place` read up to `position`: those who may see it hear of it.
    pub(super) fn marked_seen(&mut self, user: UserId, place: &engine::Place, position: u64) {
        if !self.shares(user) {
            return;
        }
        let Some(profile) = self.users.get(&user) else {
            return;
        };
        let (key, nick) = (profile.key.clone(), profile.nick.clone());
        match place {
            engine::Place::Room(room) if self.policies.get(room).is_some_and(|p| p.group) => {
                let event = ServerMsg::Seen {
                    user: nick,
                    room: Some(room.clone()),
                    position,
                };
                let room = room.clone();
                self.engine.presence(PresenceOp::Announce {
                    room,
                    user: key,
                    event,
                });
            }
            engine::Place::Room(_) => {}
            engine::Place::Direct(with) => {
                let event = ServerMsg::Seen {
                    user: nick,
                    room: None,
                    position,
                };
                match self.nicks.named(with).and_then(|peer| self.key_of(peer)) {
                    Some(peer) => self.engine.tell(peer, event),
                    // On another node, or away: whoever the name reaches.
                    None => self
                        .engine
                        .resolve(Ctx::TellSeen { event }, vec![with.clone()]),
                }
            }
        }
    }

    /// A direct conversation's other person, looked up: they hear of the position.
    pub(super) fn tell_seen(&mut self, event: ServerMsg, found: Vec<Option<engine::Reached>>) {
        for reached in found.into_iter().flatten() {
            self.engine.tell(reached.user, event.clone());
        }
    }

    /// A group's history reached `conn`: the other members' positions follow.
    pub(super) fn group_seen(&mut self, conn: ConnId, room: &RoomName) {
        let Some(user) = self.conns.get(&conn).and_then(|state| state.user) else {
            return;
        };
        let (Some(own), Some(policy)) = (self.key_of(user), self.policies.get(room)) else {
            return;
        };
        if !policy.group || !self.shares(user) {
            return;
        }
        let names: BTreeMap<String, Nick> = policy
            .invited
            .iter()
            .filter(|(key, _)| **key != own)
            .map(|(key, nick)| (key.clone(), nick.clone()))
            .collect();
        let keys = names.keys().cloned().collect();
        let ctx = Ctx::Seen {
            conn,
            room: Some(room.clone()),
            names,
        };
        self.engine
            .positions_of(ctx, engine::Place::Room(room.clone()), keys);
    }

    /// `direct_history` reached `conn`: the positions of the people in it follow (each in
    /// their conversation with this user), once their names are looked up.
    pub(super) fn direct_seen(&mut self, conn: ConnId, messages: &[DirectMessage]) {
        let Some(user) = self.conns.get(&conn).and_then(|state| state.user) else {
            return;
        };
        if !self.shares(user) {
            return;
        }
        let own = self.nick(user).key();
        let mut peers: Vec<Nick> = Vec::new();
        for message in messages {
            for nick in [&message.from, &message.to] {
                if nick.key() != own && !peers.iter().any(|p| p.key() == nick.key()) {
                    peers.push(nick.clone());
                }
            }
        }
        if !peers.is_empty() {
            self.engine.resolve(Ctx::SeenPeers { conn }, peers);
        }
    }

    /// The people of `conn`'s direct conversations, looked up: their positions are asked.
    pub(super) fn seen_peers(&mut self, conn: ConnId, found: Vec<Option<engine::Reached>>) {
        let Some(user) = self.conns.get(&conn).and_then(|state| state.user) else {
            return;
        };
        let own = self.nick(user);
        let names: BTreeMap<String, Nick> = found
            .into_iter()
            .flatten()
            .map(|reached| (reached.user, reached.nick))
            .collect();
        let keys = names.keys().cloned().collect();
        let ctx = Ctx::Seen {
            conn,
            room: None,
            names,
        };
        self.engine
            .positions_of(ctx, engine::Place::Direct(own), keys);
    }

    /// Others' positions for `conn`, as `seen` events (if its user still shares).
    pub(super) fn seen_answered(
        &mut self,
        conn: ConnId,
        room: Option<RoomName>,
        names: &BTreeMap<String, Nick>,
        positions: Vec<(String, u64)>,
    ) {
        let Some(user) = self.conns.get(&conn).and_then(|state| state.user) else {
            return;
        };
        if !self.shares(user) {
            return;
        }
        for (key, position) in positions {
            if let Some(nick) = names.get(&key) {
                let event = ServerMsg::Seen {
                    user: nick.clone(),
                    room: room.clone(),
                    position,
                };
                self.send_to(conn, &event);
            }
        }
    }
}
