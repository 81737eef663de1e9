//! What the chat state's tests share: names, a welcomed state, and the server's events built
//! in one line each. (Several tests beside the rules came from `cargo xtask mutants`,
//! docs/MUTANTS.md: they pin boundaries and branches.)

use shared::{
    Change, ClientMsg, ClientMsgId, Epoch, ErrorCode, HistoryMode, Limits, MessageId, Nick,
    RoomMessage, RoomName, ServerMsg,
};

use super::ChatState;

pub(super) fn epoch() -> Epoch {
    "e1".parse().unwrap()
}

pub(super) fn nick(n: &str) -> Nick {
    n.parse().unwrap()
}

pub(super) fn room(r: &str) -> RoomName {
    r.parse().unwrap()
}

pub(super) fn limits() -> Limits {
    Limits {
        max_text_chars: 10,
        max_rooms: 4,
        rate_per_sec: 10,
        rate_burst: 20,
        typing_timeout_ms: 5000,
        max_reactions: 20,
        max_reactions_per_user: 10,
        max_owned_rooms: 20,
    }
}

pub(super) fn token() -> shared::UserToken {
    "browser-token-0123456789".parse().unwrap()
}

pub(super) fn welcomed() -> ChatState {
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
            count: 2,
            members: vec![nick("bob"), nick("me")],
        },
        0.0,
    );
    state
}

pub(super) fn said(id: u64, from: &str, text: &str, client_id: &str) -> ServerMsg {
    ServerMsg::Said {
        id: MessageId(id),
        room: room("lobby"),
        seq: id,
        from: nick(from),
        text: text.try_into().unwrap(),
        ts: 1,
        client_id: client_id.parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    }
}

pub(super) fn changed(seq: u64, from: &str, target: u64, change: Change) -> ServerMsg {
    ServerMsg::Changed {
        room: room("lobby"),
        id: MessageId(seq),
        seq,
        from: nick(from),
        ts: 2,
        client_id: format!("ch{seq}").parse().unwrap(),
        target: MessageId(target),
        change,
    }
}

pub(super) fn stored(id: u64, from: &str, client_id: &str) -> RoomMessage {
    RoomMessage::new(
        MessageId(id),
        id,
        nick(from),
        format!("m{id}").try_into().unwrap(),
        1,
        client_id.parse().unwrap(),
    )
}

pub(super) fn history(mode: HistoryMode, ids: &[u64], more_before: bool) -> ServerMsg {
    ServerMsg::History {
        room: room("lobby"),
        mode,
        messages: ids.iter().map(|&id| stored(id, "bob", "b")).collect(),
        changes: Vec::new(),
        more_before,
        epoch: epoch(),
    }
}

pub(super) fn ids(state: &ChatState) -> Vec<Option<u64>> {
    state
        .current_lines()
        .iter()
        .map(|l| l.id.map(|i| i.0))
        .collect()
}

pub(super) fn member_names(state: &ChatState, name: &str) -> Vec<String> {
    state.rooms[&room(name)]
        .members
        .values()
        .map(ToString::to_string)
        .collect()
}

pub(super) fn names(from: u32, to: u32) -> Vec<Nick> {
    (from..to).map(|i| nick(&format!("u{i:04}"))).collect()
}

/// A direct message whose `id` (its place in this reader's log) is `id` and whose `seq` (its
/// place in the conversation) is `id + 1000`: tests cannot pass by mixing the two up.
pub(super) fn direct_from(id: u64, from: &str, to: &str, client_id: &str) -> ServerMsg {
    ServerMsg::Direct {
        id: MessageId(id),
        seq: id + 1000,
        from: nick(from),
        to: nick(to),
        text: format!("d{id}").try_into().unwrap(),
        ts: 1,
        client_id: client_id.parse().unwrap(),
    }
}

/// The server refusing something (with `client_id`, if it names a message).
pub(super) fn refusal(
    code: ErrorCode,
    message: &str,
    client_id: Option<&ClientMsgId>,
) -> ServerMsg {
    ServerMsg::Error {
        code,
        message: message.to_owned(),
        client_id: client_id.cloned(),
    }
}

pub(super) fn client_id_of(request: &ClientMsg) -> ClientMsgId {
    match request {
        ClientMsg::Say { client_id, .. } | ClientMsg::Direct { client_id, .. } => client_id.clone(),
        other => panic!("{other:?}"),
    }
}
