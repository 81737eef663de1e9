//! The chat page's state and its reducer: server events and the user's actions in, a view
//! model out. Pure (no DOM, no socket), so every rule is tested natively.

use std::collections::{BTreeMap, BTreeSet};

use shared::{
    ClientMsg, ClientMsgId, ErrorCode, Limits, MessageId, Nick, RoomInfo, RoomName, ServerMsg, Text,
};

/// Lines kept per conversation; older ones scroll away (history arrives with issue #4).
pub const MAX_LINES: usize = 500;
/// Inline notices kept.
const MAX_NOTICES: usize = 5;

/// Where the composer sends: a room or a direct conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A room this tab has joined.
    Room(RoomName),
    /// A direct conversation with a user (keyed by their nickname).
    Direct(Nick),
}

/// Where a line of ours stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent, no echo yet.
    Pending,
    /// The server's echo arrived (it is stored and delivered).
    Sent,
    /// Refused or lost; the reason in words.
    Failed(String),
}

/// One chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Server id, once known.
    pub id: Option<MessageId>,
    /// The sender's id for it.
    pub client_id: ClientMsgId,
    /// The sender.
    pub from: Nick,
    /// The text.
    pub text: String,
    /// Server time (ms since the epoch), once known.
    pub ts: Option<u64>,
    /// Whether this is ours.
    pub mine: bool,
    /// Delivery state (always `Sent` for others' lines).
    pub delivery: Delivery,
}

/// A room as this tab sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// Members, by nickname.
    pub members: BTreeSet<Nick>,
    /// Lines, oldest first.
    pub lines: Vec<Line>,
    /// Who is typing, with when (page clock, ms) the indicator lapses if no stop arrives.
    pub typing: BTreeMap<Nick, f64>,
    /// Lines that arrived while another conversation was shown.
    pub unread: u32,
}

/// Everything the chat page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatState {
    /// Who we are, once welcomed.
    pub me: Option<Nick>,
    /// The server's limits, once welcomed.
    pub limits: Option<Limits>,
    /// Joined rooms.
    pub rooms: BTreeMap<RoomName, RoomView>,
    /// Direct conversations, by the other user's nickname key.
    pub directs: BTreeMap<String, (Nick, Vec<Line>)>,
    /// What the composer sends to.
    pub current: Option<Target>,
    /// Every room on the server with member counts (from the last `rooms`).
    pub directory: Vec<RoomInfo>,
    /// Why the nickname was refused, shown on the nickname screen.
    pub nick_problem: Option<String>,
    /// Recent problems to show inline (newest last).
    pub notices: Vec<String>,
    next_client_id: u64,
    /// A `hello` is out and no `welcome` came back yet.
    awaiting_welcome: bool,
}

/// Typing indicators lapse after the server's timeout plus this margin if no stop arrives
/// (e.g. the stop was lost in a reconnect).
const TYPING_MARGIN_MS: f64 = 1000.0;

impl ChatState {
    /// The `hello` for a (re)opened socket: it rejoins every room this tab was in.
    pub fn hello(&mut self, nick: Nick, token: shared::UserToken) -> ClientMsg {
        self.awaiting_welcome = true;
        ClientMsg::Hello {
            nick,
            token,
            rooms: self.joined_rooms(),
        }
    }

    /// The rooms to rejoin after a reconnect.
    pub fn joined_rooms(&self) -> Vec<RoomName> {
        self.rooms.keys().cloned().collect()
    }

    /// The lines of the current conversation.
    pub fn current_lines(&self) -> &[Line] {
        match &self.current {
            Some(Target::Room(room)) => self.rooms.get(room).map_or(&[], |r| &r.lines),
            Some(Target::Direct(peer)) => self.directs.get(&peer.key()).map_or(&[], |d| &d.1),
            None => &[],
        }
    }

    /// Who is typing in the current room, sorted.
    pub fn current_typing(&self) -> Vec<Nick> {
        match &self.current {
            Some(Target::Room(room)) => self
                .rooms
                .get(room)
                .map(|r| r.typing.keys().cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Shows `target`, clearing its unread count.
    pub fn select(&mut self, target: Target) {
        if let Target::Room(room) = &target
            && let Some(view) = self.rooms.get_mut(room)
        {
            view.unread = 0;
        }
        if let Target::Direct(peer) = &target {
            self.directs
                .entry(peer.key())
                .or_insert_with(|| (peer.clone(), Vec::new()));
        }
        self.current = Some(target);
    }

    /// Records a message the user typed for the current conversation and returns the request
    /// to send, or a reason it cannot be sent.
    pub fn compose(&mut self, text: &str) -> Result<ClientMsg, String> {
        let me = self.me.clone().ok_or("not connected yet")?;
        let target = self
            .current
            .clone()
            .ok_or("pick a room or a person first")?;
        let text = Text::try_from(text).map_err(|e| e.to_string())?;
        if let Some(limits) = self.limits
            && text.chars() > limits.max_text_chars as usize
        {
            return Err(format!(
                "message is {} characters; the limit is {}",
                text.chars(),
                limits.max_text_chars
            ));
        }
        self.next_client_id += 1;
        let client_id = ClientMsgId::try_from(format!("c{}", self.next_client_id))
            .map_err(|e| e.to_string())?;
        let line = Line {
            id: None,
            client_id: client_id.clone(),
            from: me,
            text: text.as_str().to_owned(),
            ts: None,
            mine: true,
            delivery: Delivery::Pending,
        };
        Ok(match target {
            Target::Room(room) => {
                if let Some(view) = self.rooms.get_mut(&room) {
                    push_line(&mut view.lines, line);
                }
                ClientMsg::Say {
                    room,
                    text,
                    client_id,
                }
            }
            Target::Direct(to) => {
                let entry = self
                    .directs
                    .entry(to.key())
                    .or_insert_with(|| (to.clone(), Vec::new()));
                push_line(&mut entry.1, line);
                ClientMsg::Direct {
                    to,
                    text,
                    client_id,
                }
            }
        })
    }

    /// The connection dropped: what was pending will not be acknowledged, and presence and
    /// typing are stale until the rejoin refreshes them.
    pub fn connection_lost(&mut self) {
        let lost = Delivery::Failed("not sent: connection lost".to_owned());
        for view in self.rooms.values_mut() {
            view.typing.clear();
            mark_pending(&mut view.lines, &lost);
        }
        for (_, lines) in self.directs.values_mut() {
            mark_pending(lines, &lost);
        }
    }

    /// Whether some typing indicator has lapsed by `now_ms`.
    pub fn typing_lapsed(&self, now_ms: f64) -> bool {
        self.rooms
            .values()
            .any(|view| view.typing.values().any(|until| *until <= now_ms))
    }

    /// Drops typing indicators whose stop never came.
    pub fn expire_typing(&mut self, now_ms: f64) {
        for view in self.rooms.values_mut() {
            view.typing.retain(|_, until| *until > now_ms);
        }
    }

    /// Applies one server event received at `now_ms` (page clock).
    pub fn apply(&mut self, event: ServerMsg, now_ms: f64) {
        match event {
            ServerMsg::Welcome { user, limits } => {
                self.awaiting_welcome = false;
                self.me = Some(user);
                self.limits = Some(limits);
                self.nick_problem = None;
            }
            ServerMsg::Joined { room, members } => {
                let view = self.rooms.entry(room.clone()).or_default();
                view.members = members.into_iter().collect();
                if self.current.is_none() {
                    self.current = Some(Target::Room(room));
                }
            }
            ServerMsg::Left { room } => {
                self.rooms.remove(&room);
                if self.current == Some(Target::Room(room)) {
                    self.current = self.rooms.keys().next().cloned().map(Target::Room);
                }
            }
            ServerMsg::MemberJoined { room, user } => {
                if let Some(view) = self.rooms.get_mut(&room) {
                    view.members.insert(user);
                }
            }
            ServerMsg::MemberLeft { room, user } => {
                if let Some(view) = self.rooms.get_mut(&room) {
                    view.typing.remove(&user);
                    view.members.remove(&user);
                }
            }
            ServerMsg::Renamed { from, to } => self.rename(&from, &to),
            ServerMsg::Said {
                id,
                room,
                from,
                text,
                ts,
                client_id,
            } => {
                let mine = self.is_me(&from);
                let shown = self.current == Some(Target::Room(room.clone()));
                if let Some(view) = self.rooms.get_mut(&room) {
                    view.typing.remove(&from);
                    let line = delivered(id, client_id, from, text, ts, mine);
                    settle(&mut view.lines, line);
                    if !shown && !mine {
                        view.unread += 1;
                    }
                }
            }
            ServerMsg::Direct {
                id,
                from,
                to,
                text,
                ts,
                client_id,
            } => {
                let mine = self.is_me(&from);
                let peer = if mine { to } else { from.clone() };
                let entry = self
                    .directs
                    .entry(peer.key())
                    .or_insert_with(|| (peer.clone(), Vec::new()));
                settle(&mut entry.1, delivered(id, client_id, from, text, ts, mine));
            }
            ServerMsg::Typing { room, user, active } => {
                let timeout = self
                    .limits
                    .map_or(5000.0, |l| f64::from(l.typing_timeout_ms));
                if let Some(view) = self.rooms.get_mut(&room) {
                    if active {
                        view.typing
                            .insert(user, now_ms + timeout + TYPING_MARGIN_MS);
                    } else {
                        view.typing.remove(&user);
                    }
                }
            }
            ServerMsg::Rooms { rooms } => self.directory = rooms,
            ServerMsg::Error {
                code,
                message,
                client_id,
            } => self.refused(code, message, client_id),
        }
    }

    fn is_me(&self, nick: &Nick) -> bool {
        self.me.as_ref().is_some_and(|me| me.key() == nick.key())
    }

    fn rename(&mut self, from: &Nick, to: &Nick) {
        if self.is_me(from) {
            self.me = Some(to.clone());
        }
        for view in self.rooms.values_mut() {
            if view.members.remove(from) {
                view.members.insert(to.clone());
            }
            if let Some(until) = view.typing.remove(from) {
                view.typing.insert(to.clone(), until);
            }
        }
        if let Some((_, lines)) = self.directs.remove(&from.key()) {
            self.directs.insert(to.key(), (to.clone(), lines));
        }
        if self.current == Some(Target::Direct(from.clone())) {
            self.current = Some(Target::Direct(to.clone()));
        }
    }

    fn refused(&mut self, code: ErrorCode, message: String, client_id: Option<ClientMsgId>) {
        // Refused at hello (first time, or the name was taken while we were away): back to
        // the nickname screen.
        if matches!(code, ErrorCode::NickTaken) && self.awaiting_welcome {
            self.awaiting_welcome = false;
            self.me = None;
            self.nick_problem = Some(message);
            return;
        }
        if let Some(client_id) = client_id {
            let failed = Delivery::Failed(message.clone());
            let lines = self
                .rooms
                .values_mut()
                .map(|v| &mut v.lines)
                .chain(self.directs.values_mut().map(|d| &mut d.1));
            for lines in lines {
                if let Some(line) = lines
                    .iter_mut()
                    .find(|l| l.mine && l.client_id == client_id)
                {
                    line.delivery = failed.clone();
                }
            }
        }
        self.notices.push(message);
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }
}

fn delivered(
    id: MessageId,
    client_id: ClientMsgId,
    from: Nick,
    text: Text,
    ts: u64,
    mine: bool,
) -> Line {
    Line {
        id: Some(id),
        client_id,
        from,
        text: text.into(),
        ts: Some(ts),
        mine,
        delivery: Delivery::Sent,
    }
}

/// Replaces our pending line with its echo, or appends a new line.
fn settle(lines: &mut Vec<Line>, line: Line) {
    if line.mine
        && let Some(pending) = lines
            .iter_mut()
            .find(|l| l.mine && l.id.is_none() && l.client_id == line.client_id)
    {
        *pending = line;
        return;
    }
    push_line(lines, line);
}

fn push_line(lines: &mut Vec<Line>, line: Line) {
    lines.push(line);
    if lines.len() > MAX_LINES {
        lines.remove(0);
    }
}

fn mark_pending(lines: &mut [Line], failed: &Delivery) {
    for line in lines.iter_mut().filter(|l| l.delivery == Delivery::Pending) {
        line.delivery = failed.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(n: &str) -> Nick {
        n.parse().unwrap()
    }
    fn room(r: &str) -> RoomName {
        r.parse().unwrap()
    }
    fn limits() -> Limits {
        Limits {
            max_text_chars: 10,
            max_rooms: 4,
            rate_per_sec: 10,
            rate_burst: 20,
            typing_timeout_ms: 5000,
        }
    }

    fn welcomed() -> ChatState {
        let mut state = ChatState::default();
        state.apply(
            ServerMsg::Welcome {
                user: nick("me"),
                limits: limits(),
            },
            0.0,
        );
        state.apply(
            ServerMsg::Joined {
                room: room("lobby"),
                members: vec![nick("me"), nick("bob")],
            },
            0.0,
        );
        state
    }

    fn said(id: u64, from: &str, text: &str, client_id: &str) -> ServerMsg {
        ServerMsg::Said {
            id: MessageId(id),
            room: room("lobby"),
            from: nick(from),
            text: text.try_into().unwrap(),
            ts: 1,
            client_id: client_id.parse().unwrap(),
        }
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
    fn refused_and_lost_messages_are_marked_failed() {
        let mut state = welcomed();
        assert!(
            state.compose("far too long text").is_err(),
            "over the announced limit"
        );
        let ClientMsg::Say { client_id, .. } = state.compose("hi").unwrap() else {
            panic!()
        };
        state.apply(
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                client_id: Some(client_id),
            },
            0.0,
        );
        assert_eq!(
            state.current_lines()[0].delivery,
            Delivery::Failed("slow down".into())
        );
        state.compose("again").unwrap();
        state.connection_lost();
        assert!(matches!(
            state.current_lines()[1].delivery,
            Delivery::Failed(_)
        ));
        assert_eq!(state.notices, ["slow down"]);
    }

    #[test]
    fn presence_typing_and_rename_update_the_view() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::MemberJoined {
                room: room("lobby"),
                user: nick("carol"),
            },
            0.0,
        );
        state.apply(
            ServerMsg::Typing {
                room: room("lobby"),
                user: nick("carol"),
                active: true,
            },
            0.0,
        );
        assert_eq!(state.current_typing(), [nick("carol")]);
        assert!(!state.typing_lapsed(5_999.0));
        state.expire_typing(5_999.0);
        assert_eq!(state.current_typing().len(), 1);
        assert!(state.typing_lapsed(6_001.0));
        state.expire_typing(6_001.0);
        assert!(state.current_typing().is_empty(), "lapses without a stop");
        state.apply(
            ServerMsg::Renamed {
                from: nick("carol"),
                to: nick("caroline"),
            },
            0.0,
        );
        state.apply(
            ServerMsg::MemberLeft {
                room: room("lobby"),
                user: nick("bob"),
            },
            0.0,
        );
        let members: Vec<_> = state.rooms[&room("lobby")]
            .members
            .iter()
            .map(Nick::as_str)
            .collect();
        assert_eq!(members, ["caroline", "me"]);
    }

    #[test]
    fn hello_after_a_reconnect_rejoins_every_room() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Joined {
                room: room("rust"),
                members: vec![nick("me")],
            },
            0.0,
        );
        state.connection_lost();
        let ClientMsg::Hello { rooms, .. } =
            state.hello(nick("me"), "0123456789abcdefgh".parse().unwrap())
        else {
            panic!()
        };
        assert_eq!(rooms, [room("lobby"), room("rust")]);
        assert!(
            state.me.is_some(),
            "the chat stays on screen while reconnecting"
        );
    }

    #[test]
    fn unread_counts_messages_in_other_rooms() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Joined {
                room: room("rust"),
                members: vec![nick("me")],
            },
            0.0,
        );
        state.apply(
            ServerMsg::Said {
                id: MessageId(1),
                room: room("rust"),
                from: nick("bob"),
                text: "psst".try_into().unwrap(),
                ts: 1,
                client_id: "x".parse().unwrap(),
            },
            0.0,
        );
        assert_eq!(state.rooms[&room("rust")].unread, 1);
        state.select(Target::Room(room("rust")));
        assert_eq!(state.rooms[&room("rust")].unread, 0);
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
    fn nick_taken_before_welcome_goes_to_the_nickname_screen() {
        let mut state = ChatState::default();
        let hello = state.hello(nick("me"), "0123456789abcdefgh".parse().unwrap());
        assert!(matches!(hello, ClientMsg::Hello { ref rooms, .. } if rooms.is_empty()));
        state.apply(
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                message: "taken".into(),
                client_id: None,
            },
            0.0,
        );
        assert_eq!(state.nick_problem.as_deref(), Some("taken"));
        assert!(state.notices.is_empty());
    }
}
