//! Unread counts and read positions: how far each conversation was read (the server's
//! positions, shared by the user's tabs), what counts as unread or as a mention, marking read,
//! and where the "new messages" divider goes.

use shared::ClientMsg;

use super::{
    lines::mentions,
    model::{ChatState, Line, Target},
};

impl ChatState {
    /// How far `target` has been read.
    pub fn read_position(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Room(room) => self.rooms.get(room).and_then(|v| v.read),
            Target::Direct(peer) => self.direct_read.get(&peer.key()).copied(),
        }
    }

    /// Unread messages of `target` (others', not deleted, after its read position) and how
    /// many of them mention this user (every unread message of a direct conversation or a
    /// group counts as one).
    pub fn unread(&self, target: &Target) -> (usize, usize) {
        let Some(me) = &self.me else {
            return (0, 0);
        };
        let read = self.read_position(target).unwrap_or(0);
        let unread: Vec<&Line> = self
            .lines_of(target)
            .iter()
            .filter(|l| !l.mine && !l.deleted && l.seq.is_some_and(|p| p > read))
            .collect();
        let (count, mentioned) = match target {
            Target::Room(room) => {
                let missed = self.rooms.get(room).map_or((0, 0), |v| v.missed);
                let mentioned = if self.is_group(room) {
                    unread.len()
                } else {
                    unread.iter().filter(|l| mentions(&l.text, me)).count()
                };
                (unread.len() + missed.0, mentioned + missed.1)
            }
            Target::Direct(_) => (unread.len(), unread.len()),
        };
        (count, mentioned)
    }

    /// What the title counts while the page is hidden: unread mentions and direct messages.
    pub fn attention(&self) -> usize {
        let rooms = self.rooms.keys().map(|r| Target::Room(r.clone()));
        let directs = self
            .directs
            .values()
            .map(|(peer, _)| Target::Direct(peer.clone()));
        rooms.chain(directs).map(|t| self.unread(&t).1).sum()
    }

    /// The request that marks the shown conversation read up to its newest line, if that is
    /// further than its read position (which moves at once; the server tells the other tabs).
    pub fn mark_current(&mut self) -> Option<ClientMsg> {
        // Not before the server said how far the user had read (the divider needs it).
        if !self.positions_known {
            return None;
        }
        match self.current.clone()? {
            Target::Room(room) => {
                let view = self.rooms.get_mut(&room)?;
                let newest = view.lines.iter().filter_map(|l| l.seq).max()?;
                if view.read.is_some_and(|read| read >= newest) {
                    return None;
                }
                view.read = Some(newest);
                Some(ClientMsg::MarkRead { room, seq: newest })
            }
            Target::Direct(peer) => {
                let (_, lines) = self.directs.get(&peer.key())?;
                let newest = lines.iter().filter_map(|l| l.seq).max()?;
                let read = self.direct_read.entry(peer.key()).or_default();
                if *read >= newest {
                    return None;
                }
                *read = newest;
                Some(ClientMsg::MarkDirectRead {
                    with: peer,
                    seq: newest,
                })
            }
        }
    }

    /// Conversations with no read position start as read up to what their first page holds
    /// (a room never read before is not 50 unread messages), once the server has said it has
    /// none. Later messages count.
    pub(super) fn baseline(&mut self) {
        if !self.positions_known {
            return;
        }
        for (room, view) in &mut self.rooms {
            // Once its history came (an empty room too: its later messages are unread).
            if view.read.is_none() && view.epoch.is_some() {
                view.read = Some(view.last_seq.unwrap_or(0));
                if self.current == Some(Target::Room(room.clone())) && self.divider.is_none() {
                    self.divider = view.read;
                }
            }
        }
        for (key, (_, lines)) in &self.directs {
            if let Some(newest) = lines.iter().filter_map(|l| l.seq).max() {
                self.direct_read.entry(key.clone()).or_insert(newest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::{HistoryMode, MessageId, ServerMsg};
    use std::collections::BTreeMap;

    #[test]
    fn unread_counts_messages_in_other_rooms() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::new(),
                directs: BTreeMap::new(),
            },
            0.0,
        );
        state.apply(
            ServerMsg::Joined {
                room: room("rust"),
                count: 1,
                members: vec![nick("me")],
            },
            0.0,
        );
        state.apply(
            ServerMsg::Said {
                id: MessageId(1),
                room: room("rust"),
                seq: 1,
                from: nick("bob"),
                text: "psst".try_into().unwrap(),
                ts: 1,
                client_id: "x".parse().unwrap(),
                reply_to: None,
                image: None,
                file: None,
            },
            0.0,
        );
        let rust = Target::Room(room("rust"));
        assert_eq!(state.unread(&rust), (1, 0));
        state.select(rust.clone());
        assert_eq!(
            state.mark_current(),
            Some(ClientMsg::MarkRead {
                room: room("rust"),
                seq: 1
            })
        );
        assert_eq!(state.unread(&rust), (0, 0));
        assert_eq!(state.mark_current(), None, "once");
    }

    #[test]
    fn read_positions_count_unread_messages_and_mentions_and_place_the_divider() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::from([(room("lobby"), 2)]),
                directs: BTreeMap::from([(nick("bob"), 7)]),
            },
            0.0,
        );
        for (id, text) in [
            (1, "old"),
            (2, "seen"),
            (3, "hi @Me!"),
            (4, "@meg is not me"),
            (5, "x"),
        ] {
            state.apply(said(id, "bob", text, "b"), 0.0);
        }
        state.apply(said(6, "me", "mine", "m"), 0.0);
        let lobby = Target::Room(room("lobby"));
        assert_eq!(state.unread(&lobby), (3, 1));
        // A direct message's place in this reader's log (its id) is not the conversation's
        // (its seq, what positions count): 7 read means the 8th is the one unread.
        let direct = |seq: u64| ServerMsg::Direct {
            id: MessageId(100 + seq),
            seq,
            from: nick("bob"),
            to: nick("me"),
            text: "psst".try_into().unwrap(),
            ts: 1,
            client_id: format!("d{seq}").parse().unwrap(),
        };
        state.apply(direct(7), 0.0);
        state.apply(direct(8), 0.0);
        assert_eq!(state.unread(&Target::Direct(nick("bob"))), (1, 1));
        // The title counts the mention and the direct message.
        assert_eq!(state.attention(), 2);
        let alerts = state.take_alerts();
        let titles: Vec<&str> = alerts.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "bob in #lobby",
                "bob (direct message)",
                "bob (direct message)"
            ]
        );
        // Opening the room puts the divider after what was read; another tab reads further.
        state.select(lobby.clone());
        assert_eq!(state.divider, Some(2));
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::from([(room("lobby"), 6)]),
                directs: BTreeMap::new(),
            },
            0.0,
        );
        assert_eq!(state.unread(&lobby), (0, 0));
        assert_eq!(state.attention(), 1);
        // Reading the conversation marks its seq, not the copy's id.
        state.select(Target::Direct(nick("bob")));
        assert_eq!(
            state.mark_current(),
            Some(ClientMsg::MarkDirectRead {
                with: nick("bob"),
                seq: 8
            })
        );
        assert_eq!(state.unread(&Target::Direct(nick("bob"))), (0, 0));
    }

    #[test]
    fn an_empty_room_never_read_counts_what_comes_and_places_the_divider_above_it() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::new(),
                directs: BTreeMap::new(),
            },
            0.0,
        );
        state.apply(history(HistoryMode::Latest, &[], false), 0.0);
        assert_eq!(state.rooms[&room("lobby")].read, Some(0));
        state.select(Target::Direct(nick("bob")));
        state.apply(said(1, "bob", "first words", "b"), 0.0);
        let lobby = Target::Room(room("lobby"));
        assert_eq!(state.unread(&lobby), (1, 0));
        state.select(lobby);
        assert_eq!(state.divider, Some(0));
    }
}
