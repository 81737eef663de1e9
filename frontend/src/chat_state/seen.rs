//! "Seen" (issue #29): how far the others have read direct and group conversations (the
//! server's `seen`, between people who both share), shown under the last line each has read;
//! and whether this user shares theirs (`sharing`, the `share_reads` switch).

use shared::{Nick, RoomName};

use super::model::{ChatState, Line, Target};

impl ChatState {
    /// `user` has read up to `position` of a group (`room`: a `seq`) or of our direct
    /// conversation (no `room`: a direct message's `seq`). One entry per reader and
    /// conversation, moved.
    pub(super) fn receive_seen(&mut self, user: Nick, room: Option<RoomName>, position: u64) {
        match self
            .seen
            .iter_mut()
            .find(|(r, u, _)| *r == room && u.key() == user.key())
        {
            Some(entry) => entry.2 = position,
            None => self.seen.push((room, user, position)),
        }
    }

    /// Whether this user shares how far they have read: off, nobody's is shown either.
    pub(super) fn receive_sharing(&mut self, reads: bool) {
        self.sharing = Some(reads);
        if !reads {
            self.seen.clear();
        }
    }

    /// Who has read `target` up to exactly `line` (the last line they read), in the order the
    /// server first told of them (not sorted: a sort of nicknames weighs on the wasm).
    pub fn seen_at(&self, target: &Target, line: &Line) -> Vec<Nick> {
        let Some(position) = line.seq else {
            return Vec::new();
        };
        self.seen
            .iter()
            .filter(|(room, user, at)| {
                *at == position
                    && !self.is_me(user)
                    && match target {
                        Target::Room(name) => room.as_ref() == Some(name),
                        Target::Direct(peer) => room.is_none() && user.key() == peer.key(),
                    }
            })
            .map(|(_, user, _)| user.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::ServerMsg;

    fn seen(user: &str, room: Option<&str>, position: u64) -> ServerMsg {
        ServerMsg::Seen {
            user: nick(user),
            room: room.map(super::super::test_support::room),
            position,
        }
    }

    #[test]
    fn each_reader_is_shown_under_the_last_line_they_read_only() {
        let mut state = welcomed();
        state.apply(said(1, "bob", "one", "b1"), 0.0);
        state.apply(said(2, "bob", "two", "b2"), 0.0);
        for event in [
            seen("carol", Some("lobby"), 1),
            seen("bob", Some("lobby"), 1),
            seen("bob", Some("lobby"), 2),
            seen("me", Some("lobby"), 2),
            seen("bob", Some("other"), 1),
            // Bob's position in our conversation: the seq of the message below (id 1).
            seen("bob", None, 1001),
        ] {
            state.apply(event, 0.0);
        }
        let lobby = Target::Room(room("lobby"));
        let lines = state.lines_of(&lobby).to_vec();
        assert_eq!(state.seen_at(&lobby, &lines[0]), [nick("carol")]);
        assert_eq!(
            state.seen_at(&lobby, &lines[1]),
            [nick("bob")],
            "moved, not me"
        );
        // A direct conversation: its reader's position is a direct message's seq.
        state.apply(direct_from(1, "me", "bob", "c1"), 0.0);
        let bob = Target::Direct(nick("bob"));
        let direct = state.lines_of(&bob).to_vec();
        assert_eq!(state.seen_at(&bob, &direct[0]), [nick("bob")]);
        // Not sharing: nobody's is shown.
        state.apply(ServerMsg::Sharing { reads: false }, 0.0);
        assert_eq!(state.sharing, Some(false));
        assert!(state.seen_at(&lobby, &lines[0]).is_empty());
    }
}
