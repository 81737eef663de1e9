//! Group conversations (issue #29): rooms whose `room_policy` says `group`, listed with the
//! direct conversations and named by their members; and "new conversation", which starts a
//! direct conversation with one person typed, or a group with two to eight.

use shared::{ClientMsg, GROUP_SIZE, Nick, RoomName};

use super::model::{ChatState, Target};

/// Suggestions shown under "new conversation" at most.
const MAX_SUGGESTIONS: usize = 6;

impl ChatState {
    /// Whether `room` is a group conversation (its `room_policy` said so).
    pub fn is_group(&self, room: &RoomName) -> bool {
        self.rules.get(room).is_some_and(|r| r.group)
    }

    /// A group's members other than this user, "Bob, 민수" (their names are its name); the
    /// room's name for any other room.
    pub fn room_title(&self, room: &RoomName) -> String {
        let members = self.rules.get(room).map_or(&[][..], |r| &r.members[..]);
        let others: Vec<&str> = members
            .iter()
            .filter(|m| !self.is_me(m))
            .map(Nick::as_str)
            .collect();
        if others.is_empty() {
            room.to_string()
        } else {
            others.join(", ")
        }
    }

    /// The groups this tab is in (by room), in the order of their names.
    pub fn groups(&self) -> Vec<RoomName> {
        self.rooms
            .keys()
            .filter(|room| self.is_group(room))
            .cloned()
            .collect()
    }

    /// People this page knows (the members loaded of its rooms, its groups' members, its
    /// direct conversations' peers) whose nickname starts with the last name of `typed`
    /// (names separated by commas), except this user and the names already typed.
    pub fn people_matching(&self, typed: &str) -> Vec<Nick> {
        let (before, last) = typed.rsplit_once(',').unwrap_or(("", typed));
        let prefix = last.trim().to_lowercase();
        let listed: Vec<String> = before.split(',').map(|n| n.trim().to_lowercase()).collect();
        let rooms = self.rooms.values().flat_map(|view| view.members.values());
        let groups = self.rules.values().flat_map(|rules| rules.members.iter());
        let peers = self.directs.values().map(|(peer, _)| peer);
        let mut found: Vec<Nick> = Vec::new();
        for person in rooms.chain(groups).chain(peers) {
            let key = person.key();
            if found.len() < MAX_SUGGESTIONS
                && key.starts_with(&prefix)
                && !self.is_me(person)
                && !listed.contains(&key)
                && !found.iter().any(|f| f.key() == key)
            {
                found.push(person.clone());
            }
        }
        found
    }

    /// "New conversation" with the people `typed` names (separated by commas; repeats and
    /// this user left out). One: their direct conversation is shown at once (they may be
    /// away; a name that reaches nobody is the server's `no_such_user` at the first message).
    /// Two to eight: the `create_group` to send; the group is shown when it arrives. Else,
    /// or a name that is not a nickname, the problem in words.
    pub fn start_conversation(&mut self, typed: &str) -> Result<Option<ClientMsg>, String> {
        let w = crate::i18n::words();
        let mut with: Vec<Nick> = Vec::new();
        for name in typed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let nick: Nick = name.parse().map_err(|err| (w.invalid)(&err))?;
            if !self.is_me(&nick) && !with.iter().any(|n| n.key() == nick.key()) {
                with.push(nick);
            }
        }
        match with.len() {
            1 => {
                self.select(Target::Direct(with.remove(0)));
                Ok(None)
            }
            // With this user, a group's size.
            others if GROUP_SIZE.contains(&(others + 1)) => {
                let mut keys: Vec<String> = with.iter().map(Nick::key).collect();
                keys.sort_unstable();
                self.asked_group = Some(keys);
                Ok(Some(ClientMsg::CreateGroup { with }))
            }
            _ => Err(w.conversation_size.to_owned()),
        }
    }

    /// A group's `room_policy` came: the one this page asked for (the same others) is shown.
    pub(super) fn group_arrived(&mut self, room: RoomName) {
        let Some(members) = self.rules.get(&room).map(|r| &r.members) else {
            return;
        };
        let mut others: Vec<String> = members
            .iter()
            .filter(|m| !self.is_me(m))
            .map(Nick::key)
            .collect();
        others.sort_unstable();
        if self.asked_group.as_ref() == Some(&others) {
            self.asked_group = None;
            self.select(Target::Room(room));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::{ModAction, RemovedReason, ServerMsg};

    fn group_policy(name: &str, members: &[&str]) -> ServerMsg {
        ServerMsg::RoomPolicy {
            room: room(name),
            owner: None,
            moderators: Vec::new(),
            private: true,
            max_members: None,
            group: true,
            members: members.iter().map(|m| nick(m)).collect(),
            topic: None,
        }
    }

    fn joined(name: &str, members: &[&str]) -> ServerMsg {
        ServerMsg::Joined {
            room: room(name),
            count: 1,
            members: members.iter().map(|m| nick(m)).collect(),
        }
    }

    #[test]
    fn one_name_opens_a_direct_conversation_and_several_ask_for_a_group() {
        let mut state = welcomed();
        assert_eq!(state.start_conversation(" Carol "), Ok(None));
        assert_eq!(state.current, Some(Target::Direct(nick("Carol"))));
        assert!(
            state.directs.contains_key("carol"),
            "listed before a message"
        );
        // Myself and repeats are left out.
        let asked = state.start_conversation("bob, me, 민수, BOB");
        assert_eq!(
            asked,
            Ok(Some(ClientMsg::CreateGroup {
                with: vec![nick("bob"), nick("민수")]
            }))
        );
        assert_eq!(
            state.current,
            Some(Target::Direct(nick("Carol"))),
            "not yet"
        );
        // Nobody, too many, or a name that cannot be one: told, nothing sent.
        let w = crate::i18n::words();
        assert_eq!(
            state.start_conversation(" , me"),
            Err(w.conversation_size.into())
        );
        let nine: Vec<String> = (0..9).map(|i| format!("u{i}")).collect();
        assert_eq!(
            state.start_conversation(&nine.join(",")),
            Err(w.conversation_size.into())
        );
        let eight = &nine[..8];
        assert!(matches!(
            state.start_conversation(&eight.join(",")),
            Ok(Some(_))
        ));
        let too_long = format!("bob, {}", "x".repeat(33));
        assert!(state.start_conversation(&too_long).is_err());
    }

    #[test]
    fn the_group_asked_for_is_shown_when_it_arrives_and_another_is_not() {
        let mut state = welcomed();
        state.start_conversation("bob, 민수").unwrap();
        // Someone else's group with us comes first: listed, not shown.
        state.apply(joined("g-1", &["me"]), 0.0);
        state.apply(group_policy("g-1", &["carol", "me", "민수"]), 0.0);
        assert_eq!(state.current, Some(Target::Room(room("lobby"))));
        state.apply(joined("g-2", &["me"]), 0.0);
        state.apply(group_policy("g-2", &["Bob", "me", "민수"]), 0.0);
        assert_eq!(state.current, Some(Target::Room(room("g-2"))));
        assert_eq!(state.groups(), [room("g-1"), room("g-2")]);
        assert_eq!(state.room_title(&room("g-2")), "Bob, 민수");
        assert_eq!(state.room_title(&room("lobby")), "lobby");
        // Once: a later policy of the same people (someone came back) moves nothing.
        state.select(Target::Room(room("lobby")));
        state.apply(group_policy("g-2", &["Bob", "me", "민수"]), 0.0);
        assert_eq!(state.current, Some(Target::Room(room("lobby"))));
    }

    #[test]
    fn hello_resumes_groups_without_naming_them() {
        let mut state = welcomed();
        state.apply(joined("g-1", &["me"]), 0.0);
        state.apply(group_policy("g-1", &["bob", "carol", "me"]), 0.0);
        state.apply(
            ServerMsg::History {
                room: room("g-1"),
                mode: shared::HistoryMode::Latest,
                messages: vec![stored(7, "bob", "b7")],
                changes: Vec::new(),
                more_before: false,
                epoch: epoch(),
            },
            0.0,
        );
        let ClientMsg::Hello {
            rooms,
            since,
            epochs,
            ..
        } = state.hello(nick("me"), token())
        else {
            panic!()
        };
        assert_eq!(rooms, [room("lobby")], "the server joins groups itself");
        assert_eq!(since.get(&room("g-1")), Some(&7));
        assert_eq!(epochs.get(&room("g-1")), Some(&epoch()));
    }

    #[test]
    fn positions_of_rooms_not_held_neither_list_nor_rejoin_them_and_wait_for_a_join() {
        let mut state = welcomed();
        let mut rooms = std::collections::BTreeMap::new();
        // A group left on another device and a room left long ago keep their positions;
        // a group the `hello` under way brings is joined after them.
        rooms.extend([(room("g-1"), 4), (room("old"), 9), (room("g-2"), 7)]);
        state.apply(
            ServerMsg::ReadPositions {
                rooms,
                directs: std::collections::BTreeMap::new(),
            },
            0.0,
        );
        assert_eq!(state.rooms.keys().collect::<Vec<_>>(), [&room("lobby")]);
        state.apply(joined("g-2", &["me"]), 0.0);
        assert_eq!(
            state.rooms[&room("g-2")].read,
            Some(7),
            "its position, kept"
        );
        assert_eq!(state.joined_rooms(), [room("g-2"), room("lobby")]);
    }

    #[test]
    fn leaving_a_group_is_quiet_and_others_leaving_is_said_by_its_name() {
        let mut state = welcomed();
        state.apply(joined("g-1", &["me"]), 0.0);
        state.apply(group_policy("g-1", &["bob", "carol", "me"]), 0.0);
        state.apply(
            ServerMsg::Moderated {
                room: room("g-1"),
                by: nick("carol"),
                action: ModAction::Left {
                    user: nick("carol"),
                },
            },
            0.0,
        );
        assert_eq!(state.notices.len(), 1);
        assert!(
            state.notices[0].starts_with("bob, carol"),
            "{:?}",
            state.notices
        );
        state.select(Target::Room(room("g-1")));
        state.apply(
            ServerMsg::Removed {
                room: room("g-1"),
                by: nick("me"),
                reason: RemovedReason::Left,
            },
            0.0,
        );
        state.apply(ServerMsg::Left { room: room("g-1") }, 0.0);
        assert_eq!(state.notices.len(), 1, "our own leaving is not a notice");
        assert!(state.groups().is_empty());
        assert_eq!(state.current, Some(Target::Room(room("lobby"))));
    }

    #[test]
    fn every_message_of_a_group_counts_and_alerts_as_a_direct_one_does() {
        let mut state = welcomed();
        state.apply(joined("g-1", &["me"]), 0.0);
        state.apply(group_policy("g-1", &["bob", "carol", "me"]), 0.0);
        let in_group = |id: u64, from: &str| ServerMsg::Said {
            id: shared::MessageId(id),
            room: room("g-1"),
            seq: id,
            from: nick(from),
            text: "lunch?".try_into().unwrap(),
            ts: 1,
            client_id: format!("c{id}").parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        };
        state.apply(in_group(1, "bob"), 0.0);
        state.apply(in_group(2, "me"), 0.0);
        let group = Target::Room(room("g-1"));
        assert_eq!(
            state.unread(&group),
            (1, 1),
            "no @ needed; ours not counted"
        );
        let alerts = state.take_alerts();
        assert_eq!(alerts.len(), 1);
        assert!(alerts[0].title.contains("bob, carol"), "{:?}", alerts[0]);
        // In a room, only a mention does.
        state.apply(said(3, "bob", "lunch?", "b3"), 0.0);
        assert_eq!(state.unread(&Target::Room(room("lobby"))).1, 0);
        assert!(state.take_alerts().is_empty());
    }

    #[test]
    fn suggestions_come_from_rooms_groups_and_direct_peers_once_each() {
        let mut state = welcomed();
        state.apply(group_policy("g-1", &["me", "bobby", "carol"]), 0.0);
        state.apply(direct_from(1, "Bo", "me", "b-1"), 0.0);
        let names = |typed: &str, state: &ChatState| -> Vec<String> {
            state
                .people_matching(typed)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(names("b", &state), ["bob", "bobby", "Bo"]);
        assert_eq!(names("BOB", &state), ["bob", "bobby"]);
        // The last name is completed; those already typed and this user are not offered.
        assert_eq!(names("bob, ", &state), ["bobby", "carol", "Bo"]);
        assert!(names("m", &state).is_empty());
    }
}
