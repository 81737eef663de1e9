//! Paging a room's lines: the latest page, catch-ups and resets, "load older" and "load newer",
//! and going back to the newest from far back (issue #34: memory stays about 1,000 lines
//! however far one reads).

use shared::{ClientMsg, HistoryMode, Nick, RoomMessage};

use super::{
    lines::push_line,
    model::{ChatState, HELD_PAGING, Line, RoomView, Target},
};

impl ChatState {
    /// The request for the page before the current room's first line, if there is one and
    /// none is out yet.
    pub fn load_older(&mut self) -> Option<ClientMsg> {
        self.load_page(false)
    }

    /// [`ChatState::load_older`], or with `newer` the page after the last line, if the
    /// newest lines were let go (see [`RoomView::more_after`]) and none is out yet.
    pub fn load_page(&mut self, newer: bool) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        let (more, loading) = if newer {
            (view.more_after, &mut view.loading_newer)
        } else {
            (view.more_before, &mut view.loading_older)
        };
        if !more || *loading {
            return None;
        }
        let mut seqs = view.lines.iter().filter_map(|l| l.seq);
        let request = if newer {
            ClientMsg::LoadNewer {
                after: seqs.next_back()?,
                room,
            }
        } else {
            ClientMsg::LoadOlder {
                before: seqs.next()?,
                room,
            }
        };
        *loading = true;
        Some(request)
    }

    /// The request that takes the current room back to its newest messages at once, if its
    /// newest lines were let go (reading far back): End, or a message sent from there. What
    /// is held goes (but our unsent lines) and the latest page replaces it, as on a join.
    pub fn to_latest(&mut self) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        if !view.more_after {
            return None;
        }
        view.lines.retain(|l| l.id.is_none());
        (view.more_after, view.loading_newer, view.paged_back) = (false, false, false);
        view.more_before = true;
        Some(ClientMsg::Join {
            room,
            since: None,
            epoch: None,
        })
    }

    /// Whether a "load older" request of the current room is out.
    pub fn current_loading_older(&self) -> bool {
        match &self.current {
            Some(Target::Room(room)) => self.rooms.get(room).is_some_and(|v| v.loading_older),
            _ => false,
        }
    }

    /// Whether the current room's newest lines were let go (see [`RoomView::more_after`]).
    pub fn current_far_back(&self) -> bool {
        match &self.current {
            Some(Target::Room(room)) => self.rooms.get(room).is_some_and(|v| v.more_after),
            _ => false,
        }
    }
}

impl RoomView {
    /// Merges a `history` answer.
    pub(super) fn history(
        &mut self,
        mode: HistoryMode,
        messages: Vec<RoomMessage>,
        more_before: bool,
        me: Option<&Nick>,
    ) {
        let mine = |from: &Nick| me.is_some_and(|me| me.key() == from.key());
        match mode {
            HistoryMode::Latest | HistoryMode::Reset => {
                // The server's page replaces what we had, except our unsent lines, which
                // follow it (a resend after `welcome` settles them).
                let unsent: Vec<Line> = self.lines.drain(..).filter(|l| l.id.is_none()).collect();
                self.paged_back = false;
                (self.more_after, self.loading_newer) = (false, false);
                // A reset may come from a new log (another epoch) whose numbers are lower
                // than ours: continue from the page, not from the larger old number.
                (self.last_seq, self.last_message, self.missed) = (None, None, (0, 0));
                for message in messages {
                    let own = mine(&message.from);
                    self.receive(message, own);
                }
                for line in unsent {
                    // Stored before the drop: the page has it now, acknowledged.
                    let stored = self
                        .lines
                        .iter()
                        .any(|l| l.mine && l.client_id == line.client_id);
                    if !stored {
                        push_line(&mut self.lines, line);
                    }
                }
                self.more_before = more_before;
            }
            HistoryMode::CatchUp => {
                for message in messages {
                    let own = mine(&message.from);
                    self.receive(message, own);
                }
                if self.lines.iter().all(|l| l.id.is_none()) {
                    self.more_before = more_before;
                }
            }
            HistoryMode::Older => {
                self.loading_older = false;
                self.paged_back = true;
                self.more_before = more_before;
                // What is older than the first line: the lines from there on are the
                // room's in order, so this is what we do not have (and a page costs the
                // same however many lines are loaded).
                let first = self.lines.iter().find_map(|l| l.seq);
                let older: Vec<Line> = messages
                    .into_iter()
                    .filter(|m| first.is_none_or(|first| m.seq < first))
                    .map(|m| {
                        let own = mine(&m.from);
                        Line::room(m, own)
                    })
                    .collect();
                self.lines.splice(0..0, older);
                // Far back: the newest lines go (never our unsent ones, which stay at the
                // bottom), and "load newer" brings them back.
                let stored = self.lines.iter().filter(|l| l.id.is_some()).count();
                if stored > HELD_PAGING && stored == self.lines.len() {
                    self.lines.truncate(HELD_PAGING);
                    self.more_after = true;
                }
            }
            HistoryMode::Around => {
                // A search result's page replaces the lines (but our unsent ones, which stay
                // last); from there it reads on both ways like a page loaded far back.
                let unsent: Vec<Line> = self.lines.drain(..).filter(|l| l.id.is_none()).collect();
                (self.loading_older, self.loading_newer) = (false, false);
                self.more_before = more_before;
                for message in messages {
                    let own = mine(&message.from);
                    self.lines.push(Line::room(message, own));
                }
                // Holding the newest message this tab was sent: live messages join it.
                let held = self.lines.iter().rev().find_map(|l| l.seq);
                let far_back = held < self.last_message;
                (self.more_after, self.paged_back) = (far_back, far_back);
                for line in unsent {
                    push_line(&mut self.lines, line);
                }
            }
            HistoryMode::Newer => {
                self.loading_newer = false;
                let last = self.lines.iter().rev().find_map(|l| l.seq);
                let newer = messages
                    .into_iter()
                    .filter(|m| last.is_none_or(|last| m.seq > last))
                    .map(|m| {
                        let own = mine(&m.from);
                        Line::room(m, own)
                    });
                // Above our unsent lines, which stay last.
                let at = self
                    .lines
                    .iter()
                    .rposition(|l| l.id.is_some())
                    .map_or(0, |i| i + 1);
                self.lines.splice(at..at, newer);
                // What was missed is coming back (the current room's count matters little).
                self.missed = (0, 0);
                // Back at the newest message this tab was sent: live messages join it again,
                // and the list is as at the newest, its oldest lines let go as new ones come.
                let held = self.lines.iter().rev().find_map(|l| l.seq);
                if held >= self.last_message {
                    (self.more_after, self.paged_back) = (false, false);
                }
                // The oldest lines go, as the newest did on the way up.
                if let Some(excess) = self.lines.len().checked_sub(HELD_PAGING) {
                    self.lines.drain(..excess);
                    self.more_before |= excess > 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::{MAX_LINES, test_support::*};
    use shared::{Change, ClientMsgId, MessageId, ServerMsg};

    #[test]
    fn history_latest_then_catch_up_then_live_shows_each_message_once() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[3, 4], true), 0.0);
        state.apply(said(5, "bob", "m5", "b"), 0.0);
        // A reconnect asks from the last seq; the catch-up overlaps nothing, a late live
        // copy of 5 and a repeated 6 are dropped by id.
        let ClientMsg::Hello { since, epochs, .. } = state.hello(nick("me"), token()) else {
            panic!()
        };
        assert_eq!(since.get(&room("lobby")), Some(&5));
        assert_eq!(
            epochs.get(&room("lobby")),
            Some(&epoch()),
            "the log 5 belongs to"
        );
        state.apply(history(HistoryMode::CatchUp, &[6, 7], true), 0.0);
        state.apply(said(5, "bob", "m5", "b"), 0.0);
        state.apply(said(6, "bob", "m6", "b"), 0.0);
        assert_eq!(ids(&state), [Some(3), Some(4), Some(5), Some(6), Some(7)]);
    }

    #[test]
    fn load_older_prepends_once_and_reset_replaces_but_keeps_unsent_lines() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[10, 11], true), 0.0);
        let request = state.load_older().unwrap();
        assert_eq!(
            request,
            ClientMsg::LoadOlder {
                room: room("lobby"),
                before: 10
            }
        );
        assert_eq!(state.load_older(), None, "one request at a time");
        state.apply(history(HistoryMode::Older, &[8, 9, 10], false), 0.0);
        assert_eq!(ids(&state), [Some(8), Some(9), Some(10), Some(11)]);
        assert_eq!(state.load_older(), None, "nothing older");

        state.compose("unsent").unwrap();
        state.apply(history(HistoryMode::Reset, &[50, 51], true), 0.0);
        assert_eq!(ids(&state), [Some(50), Some(51), None]);
        assert_eq!(state.notices.len(), 1, "a reset is explained");
        // A reset from a new log (another epoch) with lower numbers: continue from those.
        state.apply(history(HistoryMode::Reset, &[2, 3], false), 0.0);
        assert_eq!(state.rooms[&room("lobby")].last_seq, Some(3));
    }

    #[test]
    fn lines_paged_back_to_stay_while_new_ones_come_until_the_latest_page() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[1001, 1002], true), 0.0);
        let older: Vec<u64> = (801..=1000).collect();
        state.apply(history(HistoryMode::Older, &older, true), 0.0);
        // New messages drop nothing while there is room: the first line may be the one
        // being read.
        for id in 1003..1003 + MAX_LINES as u64 {
            state.apply(said(id, "bob", "x", "b"), 0.0);
        }
        assert_eq!(state.current_lines().len(), MAX_LINES + 202);
        assert_eq!(state.current_lines()[0].id, Some(MessageId(801)));
        // The latest page again (a reopened conversation): the cap holds again.
        let newest = 1002 + MAX_LINES as u64;
        state.apply(history(HistoryMode::Latest, &[newest], true), 0.0);
        for id in newest + 1..newest + 1 + MAX_LINES as u64 {
            state.apply(said(id, "bob", "x", "b"), 0.0);
        }
        assert_eq!(state.current_lines().len(), MAX_LINES);
    }

    /// Issue #34: far back, End or a message sent goes to the newest at once: what is held
    /// goes but our unsent line, the room is joined again for its latest page, which keeps
    /// that line below it; its echo then settles it as usual.
    #[test]
    fn from_far_back_the_latest_page_comes_at_once_and_keeps_our_unsent_line() {
        let mut state = welcomed();
        let lobby = room("lobby");
        state.apply(history(HistoryMode::Latest, &[2001], true), 0.0);
        assert_eq!(state.to_latest(), None, "at the newest already");
        for first in [1801, 1601, 1401, 1201, 1001, 801, 601, 401, 201, 1] {
            let older: Vec<u64> = (first..first + 200).collect();
            assert!(state.load_older().is_some());
            state.apply(history(HistoryMode::Older, &older, first > 1), 0.0);
        }
        assert!(state.rooms[&lobby].more_after);
        let ClientMsg::Say { client_id, .. } = state.compose("back").unwrap() else {
            panic!("not a say");
        };
        assert_eq!(
            state.to_latest(),
            Some(ClientMsg::Join {
                room: lobby.clone(),
                since: None,
                epoch: None
            })
        );
        assert_eq!(ids(&state), [None]);
        assert!(!state.rooms[&lobby].more_after);
        state.apply(history(HistoryMode::Latest, &[2000, 2001], true), 0.0);
        assert_eq!(ids(&state), [Some(2000), Some(2001), None]);
        state.apply(said(2002, "me", "back", client_id.as_str()), 0.0);
        assert_eq!(ids(&state), [Some(2000), Some(2001), Some(2002)]);
    }

    /// Issue #30: a search result's page replaces the lines; "load newer" reads on from it
    /// to the newest, where live messages join again, with no gap and no repeat.
    #[test]
    fn a_page_around_a_result_reads_on_to_the_live_messages() {
        let mut state = welcomed();
        let lobby = room("lobby");
        state.apply(history(HistoryMode::Latest, &[101, 102, 103], true), 0.0);
        let around: Vec<u64> = (30..=79).collect();
        state.apply(history(HistoryMode::Around, &around, true), 0.0);
        assert_eq!(
            ids(&state),
            around.iter().map(|&s| Some(s)).collect::<Vec<_>>()
        );
        assert!(state.rooms[&lobby].more_after && state.rooms[&lobby].more_before);
        // A live message far below is not added yet.
        state.apply(said(104, "bob", "x", "b-104"), 0.0);
        assert_eq!(ids(&state).last(), Some(&Some(79)));
        assert_eq!(
            state.load_page(true),
            Some(ClientMsg::LoadNewer {
                room: lobby.clone(),
                after: 79
            })
        );
        let newer: Vec<u64> = (80..=104).collect();
        state.apply(history(HistoryMode::Newer, &newer, true), 0.0);
        assert!(!state.rooms[&lobby].more_after);
        state.apply(said(105, "bob", "y", "b-105"), 0.0);
        let expected: Vec<Option<u64>> = (30..=105).map(Some).collect();
        assert_eq!(ids(&state), expected);
        // Holding the newest already: live at once.
        state.apply(
            history(HistoryMode::Around, &[100, 101, 102, 103, 104, 105], true),
            0.0,
        );
        assert!(!state.rooms[&lobby].more_after);
    }

    /// Issue #34: reading far back keeps [`HELD_PAGING`] in memory, the newest let go; live
    /// messages then only move the resume point, and "load newer" pages bring the reader
    /// back down to them, the oldest lines going on the way, until live messages join the
    /// list again.
    #[test]
    fn far_back_the_newest_lines_go_and_load_newer_brings_them_back() {
        let mut state = welcomed();
        let lobby = room("lobby");
        let newest = MAX_LINES as u64 + 100;
        let latest: Vec<u64> = (newest - 49..=newest).collect();
        state.apply(history(HistoryMode::Latest, &latest, true), 0.0);
        let mut first = newest - 49;
        while first > 1 {
            let older: Vec<u64> = (first.saturating_sub(200).max(1)..first).collect();
            first = older[0];
            assert!(state.load_older().is_some());
            state.apply(history(HistoryMode::Older, &older, first > 1), 0.0);
        }
        let held = |state: &ChatState| {
            let lines = state.current_lines();
            (lines.len(), lines[0].seq, lines[lines.len() - 1].seq)
        };
        assert_eq!(
            held(&state),
            (HELD_PAGING, Some(1), Some(HELD_PAGING as u64))
        );
        assert!(state.rooms[&lobby].more_after);
        // Not next to what is held: not added, but counted as unread; a reconnect still
        // continues after it. A reaction to it comes after it in the log (and in no page of
        // messages).
        state.apply(said(newest + 1, "bob", "x", "b"), 0.0);
        assert_eq!(held(&state).2, Some(HELD_PAGING as u64));
        assert_eq!(state.rooms[&lobby].missed, (1, 0));
        let reaction = Change::Reacted {
            emoji: "👍".parse().unwrap(),
            on: true,
        };
        state.apply(changed(newest + 2, "carol", newest + 1, reaction), 0.0);
        assert_eq!(state.rooms[&lobby].last_seq, Some(newest + 2));
        // One page at a time, after the last line held.
        let mut after = HELD_PAGING as u64;
        while state.rooms[&lobby].more_after {
            assert_eq!(
                state.load_page(true),
                Some(ClientMsg::LoadNewer {
                    room: lobby.clone(),
                    after
                })
            );
            assert_eq!(state.load_page(true), None, "one request at a time");
            let page: Vec<u64> = (after + 1..=(after + 200).min(newest + 1)).collect();
            after = page[page.len() - 1];
            state.apply(history(HistoryMode::Newer, &page, true), 0.0);
        }
        let oldest = newest + 2 - HELD_PAGING as u64;
        assert_eq!(held(&state), (HELD_PAGING, Some(oldest), Some(newest + 1)));
        assert!(state.rooms[&lobby].more_before);
        assert_eq!(state.load_page(true), None);
        assert_eq!(state.rooms[&lobby].missed, (0, 0));
        // Back at the newest: live messages join the list again.
        state.apply(said(newest + 3, "bob", "x", "b"), 0.0);
        assert_eq!(held(&state).2, Some(newest + 3));
    }

    #[test]
    fn a_latest_page_settles_our_unsent_line_it_contains_and_keeps_the_others() {
        let mut state = welcomed();
        let stored_one = client_id_of(&state.compose("stored").unwrap());
        let unsent = client_id_of(&state.compose("unsent").unwrap());
        // The page has our first line (stored before the drop) and a line of bob's that
        // carries the same client id as our unsent one.
        state.apply(
            ServerMsg::History {
                room: room("lobby"),
                mode: HistoryMode::Latest,
                messages: vec![
                    stored(1, "me", stored_one.as_str()),
                    stored(2, "bob", unsent.as_str()),
                ],
                changes: Vec::new(),
                more_before: false,
                epoch: epoch(),
            },
            0.0,
        );
        let lines: Vec<(Option<u64>, ClientMsgId)> = state
            .current_lines()
            .iter()
            .map(|l| (l.id.map(|i| i.0), l.client_id.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (Some(1), stored_one),
                (Some(2), unsent.clone()),
                (None, unsent)
            ]
        );
    }
}
