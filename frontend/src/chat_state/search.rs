//! Search (issue #30): the pages of `search_results`, gathered in the order they came (a
//! first page of another query starts over; a late page of the same query, asked before a
//! re-submit, is added: the protocol does not say which request a page answers); and
//! opening a result: its conversation, at that message, with its neighbours.

use shared::{
    ClientMsg, HistoryMode, RoomName,
    search::{SearchCursor, SearchHit, SearchQuery},
};

use super::model::{ChatState, Found, Target};

impl ChatState {
    /// A page of results: the first of a query replaces what was found before, the next of
    /// the same query is added after it.
    pub(super) fn receive_results(
        &mut self,
        query: SearchQuery,
        hits: Vec<SearchHit>,
        next: Option<SearchCursor>,
    ) {
        match &mut self.search {
            Some(found) if found.query == query && found.next.is_some() => {
                found.hits.extend(hits);
                found.next = next;
            }
            _ => self.search = Some(Found { query, hits, next }),
        }
    }

    /// Opens `hit`: shows its conversation and marks where to scroll; returns what to send.
    /// A room this tab is in: the page around the message. A room it is not in: a join,
    /// and that page once the join's history is in. A direct message: its conversation (the
    /// message is there if this tab holds it).
    pub fn open_hit(&mut self, hit: &SearchHit) -> Vec<ClientMsg> {
        let mut requests = Vec::new();
        match (&hit.room, hit.seq) {
            (Some(room), Some(seq)) => {
                let target = Target::Room(room.clone());
                if self.rooms.contains_key(room) {
                    requests.push(ClientMsg::LoadAround {
                        room: room.clone(),
                        seq,
                    });
                } else {
                    requests.push(ClientMsg::Join {
                        room: room.clone(),
                        since: None,
                        epoch: None,
                    });
                    self.jump_after_join = Some((room.clone(), seq));
                }
                self.select(target.clone());
                self.jump = Some((target, seq));
            }
            _ => {
                let mine = self.me.as_ref().map(shared::Nick::key);
                let peer = match &hit.to {
                    Some(to) if mine.as_ref() == Some(&hit.from.key()) => to.clone(),
                    _ => hit.from.clone(),
                };
                let target = Target::Direct(peer);
                self.select(target.clone());
                self.jump = Some((target, hit.id.0));
            }
        }
        requests
    }

    /// The list has scrolled to the result being opened.
    pub fn jumped(&mut self) {
        self.jump = None;
    }

    /// After a join's history, the page around the result that joined it, if one did.
    pub(super) fn around_after_join(
        &mut self,
        room: &RoomName,
        mode: HistoryMode,
    ) -> Option<ClientMsg> {
        if !matches!(
            mode,
            HistoryMode::Latest | HistoryMode::CatchUp | HistoryMode::Reset
        ) || self.jump_after_join.as_ref().is_none_or(|(r, _)| r != room)
        {
            return None;
        }
        let (room, seq) = self.jump_after_join.take()?;
        Some(ClientMsg::LoadAround { room, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::{MessageId, ServerMsg};

    fn hit(room_name: Option<&str>, id: u64) -> SearchHit {
        SearchHit {
            room: room_name.map(room),
            seq: room_name.map(|_| id),
            to: room_name.is_none().then(|| nick("me")),
            id: MessageId(id),
            from: nick("bob"),
            ts: 1,
            text: format!("회의 {id}"),
            marks: vec![[0, 6]],
            image: false,
        }
    }

    fn page(query: &str, ids: &[u64], next: Option<&str>) -> ServerMsg {
        ServerMsg::SearchResults {
            query: query.parse().unwrap(),
            hits: ids.iter().map(|&id| hit(Some("lobby"), id)).collect(),
            next: next.map(|n| n.to_owned().try_into().unwrap()),
        }
    }

    #[test]
    fn pages_of_one_query_add_up_and_a_new_query_starts_over() {
        let mut state = welcomed();
        state.apply(page("회의", &[9, 8], Some("t8")), 0.0);
        state.apply(page("회의", &[7], None), 0.0);
        let ids = |state: &ChatState| -> Vec<u64> {
            state
                .search
                .as_ref()
                .unwrap()
                .hits
                .iter()
                .map(|h| h.id.0)
                .collect()
        };
        assert_eq!(ids(&state), [9, 8, 7]);
        assert_eq!(state.search.as_ref().unwrap().next, None);
        state.apply(page("config", &[3], None), 0.0);
        assert_eq!(ids(&state), [3]);
    }

    #[test]
    fn a_result_in_a_room_not_joined_joins_it_then_asks_for_its_page() {
        let mut state = welcomed();
        let requests = state.open_hit(&hit(Some("elsewhere"), 40));
        assert!(
            matches!(&requests[..], [ClientMsg::Join { room, .. }] if room.as_str() == "elsewhere")
        );
        assert_eq!(state.current, Some(Target::Room(room("elsewhere"))));
        assert_eq!(state.jump, Some((Target::Room(room("elsewhere")), 40)));
        state.apply(
            ServerMsg::Joined {
                room: room("elsewhere"),
                count: 1,
                members: vec![nick("me")],
            },
            0.0,
        );
        let follow_ups = state.apply(
            ServerMsg::History {
                room: room("elsewhere"),
                mode: HistoryMode::Latest,
                messages: Vec::new(),
                changes: Vec::new(),
                more_before: true,
                epoch: "e1".parse().unwrap(),
            },
            0.0,
        );
        assert!(follow_ups.iter().any(|f| matches!(
            f,
            crate::chat_state::FollowUp::Send(ClientMsg::LoadAround { seq: 40, .. })
        )));
        // In the room now: the next result there asks for its page at once.
        let requests = state.open_hit(&hit(Some("elsewhere"), 7));
        assert!(matches!(
            &requests[..],
            [ClientMsg::LoadAround { seq: 7, .. }]
        ));
        // A direct message opens the conversation with the other person.
        state.open_hit(&hit(None, 3));
        assert_eq!(state.current, Some(Target::Direct(nick("bob"))));
    }
}
