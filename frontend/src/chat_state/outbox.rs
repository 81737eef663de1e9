//! What outlives the tab: the outbox (our messages the server has not acknowledged, as the
//! requests that send them) written for the browser's storage and read back as pending lines,
//! a conversation's name (`room:NAME`, `direct:NICK`; a notification's `group:ID`), under
//! which its draft is kept and which a notification opens, and that conversation shown
//! first.
//!
//! Sending an outbox twice is safe: the server stores a `client_id` of one sender once within
//! its dedup window (24 h, docs/DEVELOPMENT.md), and answers a repeat with the original. So a
//! page that adopts the outbox of a closed tab, or two tabs that both hold the same entry
//! (one adopted the other's), make one message between them, never two.

use shared::{
    ClientMsg, ClientMsgId, MessageId, Nick, Quote, RoomName, Text,
    lean::{Json, read},
};

use super::model::{ChatState, Target};

impl Target {
    /// `room:NAME` or `direct:NICK`: how the app names a conversation outside its state (a
    /// draft's key in storage; a notification's `open`, see `shared::push::Notice`).
    pub fn name(&self) -> String {
        match self {
            Target::Room(room) => format!("room:{room}"),
            Target::Direct(peer) => format!("direct:{peer}"),
        }
    }

    /// The conversation `name` names ([`Target::name`]; a notification also names a group
    /// `group:ID`, which is its room); `None` for another kind or an invalid name.
    pub fn named(name: &str) -> Option<Target> {
        let (kind, rest) = name.split_once(':')?;
        match kind {
            "room" | "group" => rest.parse().ok().map(Target::Room),
            "direct" => rest.parse().ok().map(Target::Direct),
            _ => None,
        }
    }
}

/// The outbox as JSON text: the requests as they go on the wire, in an array.
pub fn outbox_json(requests: &[ClientMsg]) -> String {
    let mut json = String::from("[");
    for (i, request) in requests.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&request.to_json());
    }
    json.push(']');
    json
}

/// The requests of an outbox read back from its parsed JSON ([`outbox_json`]'s, through
/// `JSON.parse` in the app): says and directs; anything else, or anything that does not
/// decode (a store written by another version), is left out.
pub fn read_outbox<J: Json>(tree: &J) -> Vec<ClientMsg> {
    let mut requests = Vec::new();
    for entry in tree.items().unwrap_or_default() {
        if let Some(request) = read_request(&entry) {
            requests.push(request);
        }
    }
    requests
}

fn read_request<J: Json>(entry: &J) -> Option<ClientMsg> {
    // Each field through its type's own validation (`TryFrom<String>`), as serde reads it.
    let string = |key: &str| entry.get(key)?.string();
    let text = Text::try_from(string("text")?).ok()?;
    let client_id = ClientMsgId::try_from(string("client_id")?).ok()?;
    let optional = |key| entry.get(key).filter(|value| !value.is_null());
    match string("type")?.as_str() {
        "say" => Some(ClientMsg::Say {
            room: RoomName::try_from(string("room")?).ok()?,
            text,
            client_id,
            reply_to: match optional("reply_to") {
                Some(id) => Some(MessageId(id.unsigned()?)),
                None => None,
            },
            image: match optional("image") {
                Some(image) => Some(read(&image).ok()?),
                None => None,
            },
            file: match optional("file") {
                Some(file) => Some(read(&file).ok()?),
                None => None,
            },
        }),
        "direct" => Some(ClientMsg::Direct {
            to: Nick::try_from(string("to")?).ok()?,
            text,
            client_id,
        }),
        _ => None,
    }
}

impl ChatState {
    /// Holds `room` before it is joined, so that the next `hello` joins it. The server joins
    /// the lobby only for an empty list: the lobby is held too if nothing else was.
    fn hold_room(&mut self, room: RoomName) {
        if self.rooms.is_empty() {
            self.rooms.entry(RoomName::default_room()).or_default();
        }
        self.rooms.entry(room).or_default();
    }

    /// Shows `target` first, before the connection is up (a notification's link): a room is
    /// held, so that `hello` joins it.
    pub fn open_first(&mut self, target: Target) {
        if let Target::Room(room) = &target {
            self.hold_room(room.clone());
        }
        self.select(target);
    }

    /// Puts `requests` (an outbox an earlier page kept) back as our pending lines, written by
    /// `me`, in their rooms and direct conversations (a room not held yet is added, so that
    /// `hello` rejoins it before they are sent). They go after the next `welcome` like any
    /// pending line ([`ChatState::pending_requests`]); one already held is not added twice.
    pub fn restore_outbox(&mut self, requests: Vec<ClientMsg>, me: &Nick) {
        for request in requests {
            let (target, client_id, reply_to) = match &request {
                ClientMsg::Say {
                    room,
                    client_id,
                    reply_to,
                    ..
                } => (Target::Room(room.clone()), client_id, *reply_to),
                ClientMsg::Direct { to, client_id, .. } => {
                    (Target::Direct(to.clone()), client_id, None)
                }
                _ => continue,
            };
            if self
                .lines_of(&target)
                .iter()
                .any(|l| &l.client_id == client_id)
            {
                continue;
            }
            if let Target::Room(room) = target {
                self.hold_room(room);
            }
            // Only the id was kept: the quote is shown in full once the echo comes.
            let quote = reply_to.map(|id| Quote {
                id,
                seq: 0,
                from: me.clone(),
                text: String::new(),
                deleted: false,
            });
            self.show_pending(me.clone(), &request, quote);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::ServerMsg;

    fn parsed(json: &str) -> Vec<ClientMsg> {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        read_outbox(&&value)
    }

    #[test]
    fn conversation_names_round_trip_and_unknown_kinds_are_none() {
        for target in [Target::Room(room("lobby")), Target::Direct(nick("지민"))] {
            assert_eq!(Target::named(&target.name()), Some(target));
        }
        let group = Target::named("group:g-5b0e41d29f3c2a7e01ab");
        assert_eq!(group, Some(Target::Room(room("g-5b0e41d29f3c2a7e01ab"))));
        assert_eq!(Target::named("channel:7"), None);
        assert_eq!(Target::named("room:"), None);
        assert_eq!(Target::named("lobby"), None);
    }

    #[test]
    fn the_outbox_survives_its_json_and_comes_back_as_pending_lines_sent_once() {
        let mut state = welcomed();
        let say = state.compose("hi").unwrap();
        state.select(Target::Direct(nick("bob")));
        let direct = state.compose("psst").unwrap();
        let outbox = state.pending_requests();
        assert_eq!(outbox, [say.clone(), direct.clone()]);
        let json = outbox_json(&outbox);
        assert_eq!(parsed(&json), outbox, "{json}");

        // A new page, before it is connected: the lines are back, pending, and go after
        // `welcome` (the room is rejoined by `hello` first).
        let mut page = ChatState::new("New".into());
        page.restore_outbox(parsed(&json), &nick("me"));
        page.restore_outbox(parsed(&json), &nick("me"));
        let ClientMsg::Hello { rooms, .. } = page.hello(nick("me"), token()) else {
            panic!()
        };
        assert_eq!(rooms, [room("lobby")]);
        let follow_ups = page.apply(
            ServerMsg::Welcome {
                user: nick("me"),
                limits: limits(),
            },
            0.0,
        );
        assert_eq!(
            follow_ups,
            [
                crate::chat_state::FollowUp::Send(say.clone()),
                crate::chat_state::FollowUp::Send(direct)
            ],
            "each once, though restored twice"
        );
        // Acknowledged: out of the outbox.
        let ClientMsg::Say { client_id, .. } = say else {
            panic!()
        };
        page.apply(said(9, "me", "hi", client_id.as_str()), 0.0);
        let left: Vec<ClientMsgId> = page.pending_requests().iter().map(client_id_of).collect();
        assert_eq!(left.len(), 1);
        assert_ne!(left[0], client_id);
    }

    #[test]
    fn a_linked_room_is_shown_first_and_joined_with_the_lobby() {
        let mut page = ChatState::new("New".into());
        page.open_first(Target::Room(room("rust")));
        let ClientMsg::Hello { rooms, .. } = page.hello(nick("me"), token()) else {
            panic!()
        };
        assert_eq!(rooms, [room("lobby"), room("rust")]);
        page.apply(
            ServerMsg::Welcome {
                user: nick("me"),
                limits: limits(),
            },
            0.0,
        );
        for joined in ["lobby", "rust"] {
            page.apply(
                ServerMsg::Joined {
                    room: room(joined),
                    count: 1,
                    members: vec![nick("me")],
                },
                0.0,
            );
        }
        assert_eq!(page.current, Some(Target::Room(room("rust"))));
        let mut direct = ChatState::new("New".into());
        direct.open_first(Target::Direct(nick("bob")));
        assert_eq!(direct.current, Some(Target::Direct(nick("bob"))));
        assert!(direct.rooms.is_empty(), "the server joins the lobby itself");
    }

    #[test]
    fn entries_that_do_not_decode_are_left_out() {
        let good = r#"{"type":"say","room":"lobby","text":"ok","client_id":"a-1"}"#;
        let json = format!(
            r#"[{good},{{"type":"edit","room":"lobby","id":1,"text":"x","client_id":"a-2"}},
            {{"type":"say","room":"bad room!","text":"x","client_id":"a-3"}},
            {{"type":"direct","to":"bob","client_id":"a-4"}},
            {{"type":"say","room":"lobby","text":"r","client_id":"a-5","reply_to":"x"}}, 7]"#
        );
        assert_eq!(parsed(&json).len(), 1);
        assert_eq!(parsed("{}"), Vec::new());
        assert_eq!(outbox_json(&[]), "[]");
    }
}
