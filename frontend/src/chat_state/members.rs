//! Members: a room's member list loaded page by page, the search among them, and the room's
//! rules (owner, moderators) with the moderation said in the notices.

use shared::{ClientMsg, Nick, RoomName};

use super::model::{ChatState, MemberSearch, RoomView, Target};

impl RoomView {
    /// Adds a page of the member list that continues what is loaded; `more` or a count
    /// beyond what is loaded leaves the list partial.
    pub(super) fn add_members(&mut self, page: Vec<Nick>, count: u32) {
        let last = page.last().map(Nick::key);
        self.insert_members(page);
        let partial = usize::try_from(count).is_ok_and(|count| self.members.len() < count);
        self.members_upto = last.filter(|_| partial);
    }

    /// Adds members one by one: a page comes in order after what is loaded, so each lands at
    /// the end (`extend` would sort, and a sort is kilobytes of wasm per type).
    fn insert_members(&mut self, page: Vec<Nick>) {
        for member in page {
            self.members.insert(member.key(), member);
        }
    }

    /// A `members` answer: the next page of the list, or of the search under way. An answer
    /// to anything else (a search since replaced, a page from before a rejoin) is dropped.
    pub(super) fn members_listed(
        &mut self,
        after: Option<Nick>,
        prefix: &str,
        page: Vec<Nick>,
        more: bool,
    ) {
        if prefix.is_empty() {
            let last_loaded = self.members.keys().next_back().cloned();
            if !self.members_loading || after.map(|a| a.key()) != last_loaded {
                return;
            }
            self.members_loading = false;
            let last = page.last().map(Nick::key);
            self.insert_members(page);
            self.members_upto = if more { last.or(last_loaded) } else { None };
            return;
        }
        let Some(search) = self.member_search.as_mut() else {
            return;
        };
        let continues = after.map(|a| a.key()) == search.found.last().map(Nick::key);
        if search.prefix != prefix || !search.loading || !continues {
            return;
        }
        search.loading = false;
        search.found.extend(page);
        search.more = more;
    }
}

impl ChatState {
    /// The request for the current room's next page of members (or of search matches while
    /// a search is on), if there is one and none is out yet.
    pub fn load_more_members(&mut self) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        let (after, prefix) = match &mut view.member_search {
            Some(search) => {
                if !search.more || search.loading {
                    return None;
                }
                search.loading = true;
                (search.found.last().cloned(), search.prefix.clone())
            }
            None => {
                if view.members_upto.is_none() || view.members_loading {
                    return None;
                }
                view.members_loading = true;
                (view.members.values().next_back().cloned(), String::new())
            }
        };
        Some(ClientMsg::Members {
            room,
            after,
            prefix,
        })
    }

    /// Starts a search of the current room's members for nicknames beginning with `prefix`
    /// (ends it when `prefix` is blank): the request for the first page of matches.
    pub fn search_members(&mut self, prefix: &str) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        let prefix = prefix.trim();
        if prefix.is_empty() {
            view.member_search = None;
            return None;
        }
        view.member_search = Some(MemberSearch {
            prefix: prefix.to_owned(),
            found: Vec::new(),
            more: false,
            loading: true,
        });
        Some(ClientMsg::Members {
            room,
            after: None,
            prefix: prefix.to_owned(),
        })
    }

    /// Whether this user owns `room` (and so may invite, and name moderators).
    pub fn owns(&self, room: &RoomName) -> bool {
        let owner = self.rules.get(room).and_then(|r| r.owner.as_ref());
        owner.is_some_and(|owner| self.is_me(owner))
    }

    /// Whether this user may moderate `room` (its owner or one of its moderators).
    pub fn moderates(&self, room: &RoomName) -> bool {
        self.owns(room)
            || self
                .rules
                .get(room)
                .is_some_and(|r| r.moderators.iter().any(|m| self.is_me(m)))
    }

    /// A moderation action in `room`, said in the notices.
    pub(super) fn moderated(&mut self, room: &RoomName, by: &Nick, action: shared::ModAction) {
        let what = crate::i18n::mod_phrase(action);
        // A group is called by its members, not by the name the server gave it.
        let said = (crate::i18n::words().moderated)(&self.room_title(room), by.as_str(), &what);
        self.notice(said);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::ServerMsg;

    #[test]
    fn a_big_room_loads_its_members_page_by_page_and_applies_presence_within_them() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Joined {
                room: room("big"),
                count: 120,
                members: names(0, 50),
            },
            0.0,
        );
        state.select(Target::Room(room("big")));
        let view = &state.rooms[&room("big")];
        assert_eq!((view.member_count, view.members.len()), (120, 50));
        assert_eq!(view.members_upto.as_deref(), Some("u0049"));
        // A join past what is loaded waits for its page; one within it shows at once.
        state.apply(
            ServerMsg::Presence {
                room: room("big"),
                count: 122,
                joined: vec![nick("u0010a"), nick("zed")],
                left: vec![nick("u0003")],
            },
            0.0,
        );
        let view = &state.rooms[&room("big")];
        assert_eq!(view.member_count, 122);
        assert!(view.members.contains_key("u0010a") && !view.members.contains_key("zed"));
        assert!(!view.members.contains_key("u0003"));
        let next = ClientMsg::Members {
            room: room("big"),
            after: Some(nick("u0049")),
            prefix: String::new(),
        };
        assert_eq!(state.load_more_members(), Some(next));
        assert_eq!(state.load_more_members(), None, "one page at a time");
        // An answer to something else (an old request) changes nothing.
        state.apply(
            ServerMsg::Members {
                room: room("big"),
                after: Some(nick("u0020")),
                prefix: String::new(),
                members: names(21, 30),
                more: true,
            },
            0.0,
        );
        assert_eq!(state.rooms[&room("big")].members.len(), 50);
        for (after, page, more) in [(49, names(50, 100), true), (99, names(100, 120), false)] {
            state.apply(
                ServerMsg::Members {
                    room: room("big"),
                    after: Some(nick(&format!("u{after:04}"))),
                    prefix: String::new(),
                    members: page,
                    more,
                },
                0.0,
            );
            if more {
                assert!(state.load_more_members().is_some());
            }
        }
        let view = &state.rooms[&room("big")];
        assert_eq!(view.members.len(), 120);
        assert_eq!(view.members_upto, None, "the whole list is here");
        assert_eq!(state.load_more_members(), None);
        state.apply(
            ServerMsg::Presence {
                room: room("big"),
                count: 123,
                joined: vec![nick("zed")],
                left: vec![],
            },
            0.0,
        );
        assert!(state.rooms[&room("big")].members.contains_key("zed"));
    }

    #[test]
    fn a_member_search_pages_its_matches_and_a_new_search_drops_old_answers() {
        let mut state = welcomed();
        state.select(Target::Room(room("lobby")));
        let ask = state.search_members(" u01 ");
        let expected = ClientMsg::Members {
            room: room("lobby"),
            after: None,
            prefix: "u01".into(),
        };
        assert_eq!(ask, Some(expected));
        state.apply(
            ServerMsg::Members {
                room: room("lobby"),
                after: None,
                prefix: "u01".into(),
                members: names(100, 150),
                more: true,
            },
            0.0,
        );
        let Some(ClientMsg::Members { after, prefix, .. }) = state.load_more_members() else {
            panic!("the next page of matches");
        };
        assert_eq!((after, prefix.as_str()), (Some(nick("u0149")), "u01"));
        assert!(state.search_members("u02").is_some());
        // The answer to the replaced search is dropped.
        state.apply(
            ServerMsg::Members {
                room: room("lobby"),
                after: Some(nick("u0149")),
                prefix: "u01".into(),
                members: names(150, 200),
                more: false,
            },
            0.0,
        );
        let search = state.rooms[&room("lobby")].member_search.clone();
        assert_eq!(search.map(|s| s.found.len()), Some(0));
        assert_eq!(state.search_members(""), None);
        assert_eq!(state.rooms[&room("lobby")].member_search, None);
        assert_eq!(
            member_names(&state, "lobby"),
            ["bob", "me"],
            "the list stays"
        );
    }
}
