//! Lines: how a message becomes a line and settles (our pending line replaced by its echo,
//! each server id shown once, our unsent lines kept last), the cap on lines held, changes to
//! a line (edits, reactions, deletions), direct messages, and whether a line mentions the user.

use shared::{Change, DirectMessage, HistoryMode, Nick, RoomChange, RoomMessage, RoomName, Text};

use super::model::{ChatState, Delivery, Line, MAX_LINES, RoomView, Target};

/// Whether `text` mentions `me` as `@me` (any case, not inside a longer name).
pub fn mentions(text: &str, me: &Nick) -> bool {
    let wanted = me.key();
    let lower = text.to_lowercase();
    lower.match_indices('@').any(|(at, _)| {
        let rest = &lower[at + 1..];
        rest.starts_with(&wanted)
            && rest[wanted.len()..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
    })
}

impl ChatState {
    /// The lines of the current conversation.
    pub fn current_lines(&self) -> &[Line] {
        self.current
            .as_ref()
            .map_or(&[], |target| self.lines_of(target))
    }

    /// The lines of `target`.
    pub fn lines_of(&self, target: &Target) -> &[Line] {
        match target {
            Target::Room(room) => self.rooms.get(room).map_or(&[], |r| &r.lines),
            Target::Direct(peer) => self.directs.get(&peer.key()).map_or(&[], |d| &d.1),
        }
    }

    pub(super) fn receive_said(&mut self, room: &RoomName, message: RoomMessage) {
        let mine = self.is_me(&message.from);
        // In a group, as in a direct conversation, every message is for this user.
        let mentioned = !mine
            && (self.is_group(room)
                || self
                    .me
                    .as_ref()
                    .is_some_and(|me| mentions(message.text.as_str(), me)));
        let (from, text) = (message.from.clone(), message.text.as_str().to_owned());
        let title = self.room_title(room);
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        view.typing.remove(&from);
        if view.more_after && !mine {
            view.missed.0 += 1;
            view.missed.1 += usize::from(mentioned);
        }
        if view.receive(message, mine) && mentioned {
            let title = (crate::i18n::words().room_alert)(from.as_str(), &title);
            self.alert(title, &text);
        }
    }

    pub(super) fn receive_direct(&mut self, message: DirectMessage) {
        let mine = self.is_me(&message.from);
        let peer = if mine {
            message.to.clone()
        } else {
            message.from.clone()
        };
        self.direct_last = self.direct_last.max(Some(message.id));
        let entry = self
            .directs
            .entry(peer.key())
            .or_insert_with(|| (peer.clone(), Vec::new()));
        settle(&mut entry.1, Line::direct(message, mine), MAX_LINES);
    }

    pub(super) fn direct_history(&mut self, mode: HistoryMode, messages: Vec<DirectMessage>) {
        if mode == HistoryMode::Reset {
            // Only what was acknowledged goes; our unsent lines stay to be sent.
            for (_, lines) in self.directs.iter_mut().map(|(_, v)| v) {
                lines.retain(|l| l.id.is_none());
            }
            // As for rooms: the new log's ids may be lower than ours.
            self.direct_last = None;
            self.notice(crate::i18n::words().directs_reset.into());
        }
        for message in messages {
            self.receive_direct(message);
        }
    }
}

impl RoomView {
    /// Applies a change entry (live, or from a catch-up) to its line, if this view has it.
    pub(super) fn change(&mut self, change: &RoomChange) {
        self.last_seq = self.last_seq.max(Some(change.seq));
        if let Some(line) = self.lines.iter_mut().find(|l| l.id == Some(change.target)) {
            line.apply(&change.from, &change.change);
        }
        if change.change == Change::Deleted {
            // Its words leave the replies that quoted it too, as the server's pages have them.
            for line in &mut self.lines {
                if let Some(quote) = line.reply_to.take_if(|q| q.id == change.target) {
                    line.reply_to = Some(quote.forgotten());
                }
            }
        }
    }

    /// Adds a live message (or one of a latest page or a catch-up); false if it was here
    /// already (by id), or is ours while the newest lines are let go.
    pub(super) fn receive(&mut self, message: RoomMessage, mine: bool) -> bool {
        self.last_seq = self.last_seq.max(Some(message.seq));
        self.last_message = self.last_message.max(Some(message.seq));
        if self.more_after {
            // Not next to what is held: "load newer" brings it when the reader gets there.
            // Our own line is stored now: it leaves the bottom (no longer unsent) too.
            if mine {
                self.lines
                    .retain(|l| l.id.is_some() || l.client_id != message.client_id);
            }
            return !mine;
        }
        // Older pages the reader loaded stay: the line dropped could be the one they are
        // reading (the list shows only what is near the view; the state holds the lines).
        let cap = if self.paged_back {
            usize::MAX
        } else {
            MAX_LINES
        };
        let new = settle(&mut self.lines, Line::room(message, mine), cap);
        if self.lines.len() >= cap {
            // The oldest line was dropped from memory; "load older" brings it back.
            self.more_before = true;
        }
        new
    }
}

impl Line {
    /// A delivered room message.
    pub(super) fn room(message: RoomMessage, mine: bool) -> Self {
        Self {
            id: Some(message.id),
            seq: Some(message.seq),
            client_id: message.client_id,
            from: message.from,
            text: message.text.into(),
            ts: Some(message.ts),
            mine,
            delivery: Delivery::Sent,
            reply_to: message.reply_to,
            preview: message.preview,
            edited: message.edited,
            deleted: message.deleted,
            reactions: message.reactions,
            image: message.image,
            file: message.file,
        }
    }

    /// Applies a change by `from`, with the server's rule ([`RoomMessage::apply`]).
    fn apply(&mut self, from: &Nick, change: &Change) {
        let (Some(id), Ok(text)) = (self.id, Text::try_from(self.text.as_str())) else {
            return;
        };
        let mut message = RoomMessage {
            reply_to: self.reply_to.take(),
            preview: self.preview.take(),
            image: self.image.take(),
            file: self.file.take(),
            edited: self.edited,
            deleted: self.deleted,
            reactions: std::mem::take(&mut self.reactions),
            ..RoomMessage::new(id, 0, self.from.clone(), text, 0, self.client_id.clone())
        };
        message.apply(from, change);
        self.text = message.text.into();
        self.reply_to = message.reply_to;
        self.preview = message.preview;
        self.image = message.image;
        self.file = message.file;
        self.edited = message.edited;
        self.deleted = message.deleted;
        self.reactions = message.reactions;
    }

    /// A delivered direct message.
    fn direct(message: DirectMessage, mine: bool) -> Self {
        Self {
            id: Some(message.id),
            seq: Some(message.seq),
            client_id: message.client_id,
            from: message.from,
            text: message.text.into(),
            ts: Some(message.ts),
            mine,
            delivery: Delivery::Sent,
            reply_to: None,
            preview: None,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            image: None,
            file: None,
        }
    }
}

/// Replaces our pending line with its echo, or appends a new line; a line whose server id
/// is here already is dropped. Returns whether the line is new.
fn settle(lines: &mut Vec<Line>, line: Line, cap: usize) -> bool {
    if line.id.is_some() && lines.iter().rev().any(|l| l.id == line.id) {
        return false;
    }
    if line.mine
        && let Some(pending) = lines
            .iter()
            .position(|l| l.mine && l.id.is_none() && l.client_id == line.client_id)
    {
        // Delivered now: it moves up to its place among the delivered lines.
        lines.remove(pending);
        push_line_capped(lines, line, cap);
        return false;
    }
    push_line_capped(lines, line, cap);
    true
}

/// Appends `line`; a delivered line goes before the unsent ones at the bottom (which stay
/// last until the server has them), so the list shows the server's order.
pub(super) fn push_line(lines: &mut Vec<Line>, line: Line) {
    push_line_capped(lines, line, MAX_LINES);
}

/// [`push_line`], keeping at most `cap` lines (the oldest go).
fn push_line_capped(lines: &mut Vec<Line>, line: Line, cap: usize) {
    if line.id.is_some() {
        let at = lines
            .iter()
            .rposition(|l| l.id.is_some())
            .map_or(0, |i| i + 1);
        lines.insert(at, line);
    } else {
        lines.push(line);
    }
    if lines.len() > cap {
        lines.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::{ClientMsg, Emoji, MessageId, ServerMsg};

    #[test]
    fn edits_reactions_and_deletions_change_the_line_and_move_the_resume_point() {
        let mut state = welcomed();
        state.apply(said(1, "bob", "hi", "b1"), 0.0);
        let thumbs: Emoji = "👍".parse().unwrap();
        state.apply(
            changed(
                2,
                "bob",
                1,
                Change::Edited {
                    text: "hello".try_into().unwrap(),
                },
            ),
            0.0,
        );
        let toggle = state.react(MessageId(1), "👍").unwrap();
        assert!(
            matches!(toggle, ClientMsg::React { on: true, .. }),
            "{toggle:?}"
        );
        state.apply(
            changed(
                3,
                "me",
                1,
                Change::Reacted {
                    emoji: thumbs.clone(),
                    on: true,
                },
            ),
            0.0,
        );
        let line = &state.current_lines()[0];
        assert_eq!((line.text.as_str(), line.edited), ("hello", true));
        assert_eq!(line.reactions[0].users, [nick("me")]);
        // Our reaction is there: a click takes it back.
        let toggle = state.react(MessageId(1), "👍").unwrap();
        assert!(
            matches!(toggle, ClientMsg::React { on: false, .. }),
            "{toggle:?}"
        );
        assert!(state.react(MessageId(1), "a").is_none(), "not an emoji");
        // A catch-up's changes apply to lines already shown.
        state.apply(
            ServerMsg::History {
                room: room("lobby"),
                mode: HistoryMode::CatchUp,
                messages: Vec::new(),
                changes: vec![RoomChange {
                    id: MessageId(4),
                    seq: 4,
                    from: nick("mod"),
                    ts: 3,
                    client_id: "m".parse().unwrap(),
                    target: MessageId(1),
                    change: Change::Deleted,
                }],
                more_before: false,
                epoch: "e".parse().unwrap(),
            },
            0.0,
        );
        let line = &state.current_lines()[0];
        assert!(line.deleted && line.reactions.is_empty());
        assert_eq!(line.text, RoomMessage::DELETED_TEXT);
        assert_eq!(state.rooms[&room("lobby")].last_seq, Some(4));
    }

    #[test]
    fn a_preview_shows_on_its_line_until_an_edit() {
        let mut state = welcomed();
        state.apply(said(1, "bob", "see https://a.example", "b1"), 0.0);
        let preview = Box::new(shared::LinkPreview {
            url: "https://a.example".into(),
            title: "A".into(),
            description: String::new(),
            image: None,
        });
        state.apply(
            changed(
                2,
                "bob",
                1,
                Change::Previewed {
                    preview: preview.clone(),
                },
            ),
            0.0,
        );
        assert_eq!(state.current_lines()[0].preview.as_ref(), Some(&preview));
        assert_eq!(state.rooms[&room("lobby")].last_seq, Some(2));
        let edit = Change::Edited {
            text: "see https://b.example".try_into().unwrap(),
        };
        state.apply(changed(3, "bob", 1, edit), 0.0);
        assert_eq!(state.current_lines()[0].preview, None);
        // A late preview of the old link changes nothing.
        state.apply(changed(4, "bob", 1, Change::Previewed { preview }), 0.0);
        assert_eq!(state.current_lines()[0].preview, None);
    }

    #[test]
    fn own_message_is_pending_until_its_echo_then_sent() {
        let mut state = welcomed();
        let request = state.compose("hello").unwrap();
        let ClientMsg::Say { client_id, .. } = request else {
            panic!("{request:?}")
        };
        assert_eq!(state.current_lines()[0].delivery, Delivery::Pending);
        state.apply(said(7, "me", "hello", client_id.as_str()), 1.0);
        let lines = state.current_lines();
        assert_eq!(lines.len(), 1, "the echo replaces the pending line");
        assert_eq!(
            (lines[0].delivery.clone(), lines[0].id),
            (Delivery::Sent, Some(MessageId(7)))
        );
    }

    #[test]
    fn unsent_lines_stay_below_what_arrives_meanwhile() {
        let mut state = welcomed();
        let ClientMsg::Say { client_id, .. } = state.compose("queued").unwrap() else {
            panic!()
        };
        state.apply(history(HistoryMode::CatchUp, &[1, 2], false), 0.0);
        assert_eq!(ids(&state), [Some(1), Some(2), None]);
        state.apply(said(3, "me", "queued", client_id.as_str()), 0.0);
        state.apply(said(4, "bob", "m4", "b"), 0.0);
        assert_eq!(ids(&state), [Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn direct_messages_are_filed_under_the_other_user() {
        let mut state = welcomed();
        state.select(Target::Direct(nick("Bob")));
        let ClientMsg::Direct { client_id, .. } = state.compose("hi bob").unwrap() else {
            panic!()
        };
        state.apply(
            ServerMsg::Direct {
                id: MessageId(2),
                seq: 2,
                from: nick("me"),
                to: nick("Bob"),
                text: "hi bob".try_into().unwrap(),
                ts: 1,
                client_id,
            },
            0.0,
        );
        state.apply(
            ServerMsg::Direct {
                id: MessageId(3),
                seq: 3,
                from: nick("Bob"),
                to: nick("me"),
                text: "hi!".try_into().unwrap(),
                ts: 2,
                client_id: "b1".parse().unwrap(),
            },
            0.0,
        );
        let lines = state.current_lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].mine && lines[0].delivery == Delivery::Sent && !lines[1].mine);
    }

    #[test]
    fn direct_history_shows_messages_and_a_reset_keeps_only_unsent_lines() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::DirectHistory {
                mode: HistoryMode::Latest,
                epoch: epoch(),
                messages: vec![
                    direct_from(1, "bob", "me", "b-1")
                        .into_direct_message()
                        .unwrap(),
                ],
            },
            0.0,
        );
        assert_eq!(state.directs[&nick("bob").key()].1.len(), 1);
        assert_eq!(state.direct_last, Some(MessageId(1)));
        assert!(state.notices.is_empty());
        state.select(Target::Direct(nick("bob")));
        let unsent = client_id_of(&state.compose("later").unwrap());
        state.apply(
            ServerMsg::DirectHistory {
                mode: HistoryMode::Reset,
                epoch: epoch(),
                messages: vec![],
            },
            0.0,
        );
        let lines = &state.directs[&nick("bob").key()].1;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].client_id, unsent);
        assert_eq!(state.notices.len(), 1);
        assert_eq!(state.direct_last, None, "the new log's ids start again");
    }

    #[test]
    fn a_full_room_marks_that_older_lines_were_dropped() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[], false), 0.0);
        for id in 1..MAX_LINES as u64 {
            state.apply(said(id, "bob", "x", "b"), 0.0);
        }
        assert!(!state.rooms[&room("lobby")].more_before);
        assert_eq!(state.current_lines().len(), MAX_LINES - 1);
        state.apply(said(MAX_LINES as u64, "bob", "x", "b"), 0.0);
        assert_eq!(
            state.current_lines().len(),
            MAX_LINES,
            "all kept up to the cap"
        );
        assert!(state.rooms[&room("lobby")].more_before);
        state.apply(said(MAX_LINES as u64 + 1, "bob", "x", "b"), 0.0);
        assert_eq!(state.current_lines().len(), MAX_LINES);
        assert_eq!(
            state.current_lines()[0].id,
            Some(MessageId(2)),
            "the oldest went"
        );
    }

    #[test]
    fn an_echo_replaces_its_own_pending_line_and_leaves_our_delivered_ones() {
        let mut state = welcomed();
        let first = client_id_of(&state.compose("first").unwrap());
        state.apply(said(1, "me", "first", first.as_str()), 0.0);
        let second = client_id_of(&state.compose("second").unwrap());
        state.apply(said(2, "me", "second", second.as_str()), 0.0);
        assert_eq!(ids(&state), [Some(1), Some(2)]);
        assert!(
            state
                .current_lines()
                .iter()
                .all(|l| l.delivery == Delivery::Sent)
        );
    }
}
