//! Golden tests for chat protocol v1: the exact JSON of every message, and a check that
//! docs/PROTOCOL.md shows exactly these (so the document cannot drift from the code).

// Example builders outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

use shared::{
    ClientMsg, DirectMessage, ErrorCode, HistoryMode, Limits, MessageId, RoomInfo, RoomMessage,
    ServerMsg, decode, encode,
};

fn client_examples() -> Vec<(ClientMsg, &'static str)> {
    vec![
        (
            ClientMsg::Hello {
                nick: "Alice".parse().unwrap(),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec!["lobby".parse().unwrap(), "rust".parse().unwrap()],
                since: Default::default(),
                epochs: Default::default(),
                direct_since: None,
                direct_epoch: None,
                jwt: None,
            },
            r#"{"type":"hello","nick":"Alice","token":"k3J9-browser-token_x","rooms":["lobby","rust"]}"#,
        ),
        (
            ClientMsg::Hello {
                nick: "Alice".parse().unwrap(),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec!["lobby".parse().unwrap(), "rust".parse().unwrap()],
                since: [("lobby".parse().unwrap(), 41)].into_iter().collect(),
                epochs: [("lobby".parse().unwrap(), "9f3c2a7e".parse().unwrap())]
                    .into_iter()
                    .collect(),
                direct_since: Some(MessageId(43)),
                direct_epoch: Some("5b0e41d2".parse().unwrap()),
                jwt: None,
            },
            r#"{"type":"hello","nick":"Alice","token":"k3J9-browser-token_x","rooms":["lobby","rust"],"since":{"lobby":41},"epochs":{"lobby":"9f3c2a7e"},"direct_since":43,"direct_epoch":"5b0e41d2"}"#,
        ),
        (
            ClientMsg::Join {
                room: "rust".parse().unwrap(),
                since: None,
                epoch: None,
            },
            r#"{"type":"join","room":"rust"}"#,
        ),
        (
            ClientMsg::Join {
                room: "rust".parse().unwrap(),
                since: Some(7),
                epoch: Some("9f3c2a7e".parse().unwrap()),
            },
            r#"{"type":"join","room":"rust","since":7,"epoch":"9f3c2a7e"}"#,
        ),
        (
            ClientMsg::LoadOlder {
                room: "lobby".parse().unwrap(),
                before: 42,
            },
            r#"{"type":"load_older","room":"lobby","before":42}"#,
        ),
        (
            ClientMsg::Leave {
                room: "rust".parse().unwrap(),
            },
            r#"{"type":"leave","room":"rust"}"#,
        ),
        (ClientMsg::ListRooms, r#"{"type":"list_rooms"}"#),
        (
            ClientMsg::Say {
                room: "lobby".parse().unwrap(),
                text: "안녕하세요 hello".try_into().unwrap(),
                client_id: "c-17".parse().unwrap(),
            },
            r#"{"type":"say","room":"lobby","text":"안녕하세요 hello","client_id":"c-17"}"#,
        ),
        (
            ClientMsg::Typing {
                room: "lobby".parse().unwrap(),
            },
            r#"{"type":"typing","room":"lobby"}"#,
        ),
        (
            ClientMsg::Direct {
                to: "Bob".parse().unwrap(),
                text: "psst".try_into().unwrap(),
                client_id: "c-18".parse().unwrap(),
            },
            r#"{"type":"direct","to":"Bob","text":"psst","client_id":"c-18"}"#,
        ),
        (
            ClientMsg::Rename {
                nick: "Alicia".parse().unwrap(),
            },
            r#"{"type":"rename","nick":"Alicia"}"#,
        ),
        (
            ClientMsg::Hello {
                nick: "Alice".parse().unwrap(),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec![],
                since: Default::default(),
                epochs: Default::default(),
                direct_since: None,
                direct_epoch: None,
                jwt: Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln".into()),
            },
            r#"{"type":"hello","nick":"Alice","token":"k3J9-browser-token_x","rooms":[],"jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"}"#,
        ),
        (
            ClientMsg::Reauth {
                jwt: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.bmV3".into(),
            },
            r#"{"type":"reauth","jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.bmV3"}"#,
        ),
        (
            ClientMsg::CreateRoom {
                room: "secret".parse().unwrap(),
                private: true,
                max_members: Some(10),
            },
            r#"{"type":"create_room","room":"secret","private":true,"max_members":10}"#,
        ),
        (
            ClientMsg::Invite {
                room: "secret".parse().unwrap(),
                user: "Bob".parse().unwrap(),
            },
            r#"{"type":"invite","room":"secret","user":"Bob"}"#,
        ),
        (
            ClientMsg::Uninvite {
                room: "secret".parse().unwrap(),
                user: "Bob".parse().unwrap(),
            },
            r#"{"type":"uninvite","room":"secret","user":"Bob"}"#,
        ),
        (
            ClientMsg::SetModerator {
                room: "secret".parse().unwrap(),
                user: "Bob".parse().unwrap(),
                moderator: true,
            },
            r#"{"type":"set_moderator","room":"secret","user":"Bob","moderator":true}"#,
        ),
        (
            ClientMsg::Kick {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
            },
            r#"{"type":"kick","room":"lobby","user":"Troll"}"#,
        ),
        (
            ClientMsg::Mute {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
                for_secs: 600,
            },
            r#"{"type":"mute","room":"lobby","user":"Troll","for_secs":600}"#,
        ),
        (
            ClientMsg::Ban {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
            },
            r#"{"type":"ban","room":"lobby","user":"Troll"}"#,
        ),
        (
            ClientMsg::Unban {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
            },
            r#"{"type":"unban","room":"lobby","user":"Troll"}"#,
        ),
        (
            ClientMsg::DeleteMessage {
                room: "lobby".parse().unwrap(),
                seq: 41,
            },
            r#"{"type":"delete_message","room":"lobby","seq":41}"#,
        ),
    ]
}

fn server_examples() -> Vec<(ServerMsg, &'static str)> {
    vec![
        (
            ServerMsg::Welcome {
                user: "Alice".parse().unwrap(),
                limits: Limits {
                    max_text_chars: 2000,
                    max_rooms: 32,
                    rate_per_sec: 10,
                    rate_burst: 20,
                    typing_timeout_ms: 5000,
                },
            },
            r#"{"type":"welcome","user":"Alice","limits":{"max_text_chars":2000,"max_rooms":32,"rate_per_sec":10,"rate_burst":20,"typing_timeout_ms":5000}}"#,
        ),
        (
            ServerMsg::Joined {
                room: "lobby".parse().unwrap(),
                members: vec!["Alice".parse().unwrap(), "Bob".parse().unwrap()],
            },
            r#"{"type":"joined","room":"lobby","members":["Alice","Bob"]}"#,
        ),
        (
            ServerMsg::Left {
                room: "rust".parse().unwrap(),
            },
            r#"{"type":"left","room":"rust"}"#,
        ),
        (
            ServerMsg::MemberJoined {
                room: "lobby".parse().unwrap(),
                user: "Carol".parse().unwrap(),
            },
            r#"{"type":"member_joined","room":"lobby","user":"Carol"}"#,
        ),
        (
            ServerMsg::MemberLeft {
                room: "lobby".parse().unwrap(),
                user: "Carol".parse().unwrap(),
            },
            r#"{"type":"member_left","room":"lobby","user":"Carol"}"#,
        ),
        (
            ServerMsg::Renamed {
                from: "Alice".parse().unwrap(),
                to: "Alicia".parse().unwrap(),
            },
            r#"{"type":"renamed","from":"Alice","to":"Alicia"}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(42),
                room: "lobby".parse().unwrap(),
                seq: 41,
                from: "Alice".parse().unwrap(),
                text: "안녕하세요 hello".try_into().unwrap(),
                ts: 1_795_000_000_000,
                client_id: "c-17".parse().unwrap(),
            },
            r#"{"type":"said","id":42,"room":"lobby","seq":41,"from":"Alice","text":"안녕하세요 hello","ts":1795000000000,"client_id":"c-17"}"#,
        ),
        (
            ServerMsg::History {
                room: "lobby".parse().unwrap(),
                mode: HistoryMode::CatchUp,
                messages: vec![RoomMessage {
                    id: MessageId(44),
                    seq: 42,
                    from: "Bob".parse().unwrap(),
                    text: "welcome back".try_into().unwrap(),
                    ts: 1_795_000_000_900,
                    client_id: "b-3".parse().unwrap(),
                }],
                more_before: true,
                epoch: "9f3c2a7e".parse().unwrap(),
            },
            r#"{"type":"history","room":"lobby","mode":"catch_up","messages":[{"id":44,"seq":42,"from":"Bob","text":"welcome back","ts":1795000000900,"client_id":"b-3"}],"more_before":true,"epoch":"9f3c2a7e"}"#,
        ),
        (
            ServerMsg::DirectHistory {
                mode: HistoryMode::Latest,
                messages: vec![DirectMessage {
                    id: MessageId(43),
                    from: "Alice".parse().unwrap(),
                    to: "Bob".parse().unwrap(),
                    text: "psst".try_into().unwrap(),
                    ts: 1_795_000_000_500,
                    client_id: "c-18".parse().unwrap(),
                }],
                epoch: "5b0e41d2".parse().unwrap(),
            },
            r#"{"type":"direct_history","mode":"latest","messages":[{"id":43,"from":"Alice","to":"Bob","text":"psst","ts":1795000000500,"client_id":"c-18"}],"epoch":"5b0e41d2"}"#,
        ),
        (
            ServerMsg::Direct {
                id: MessageId(43),
                from: "Alice".parse().unwrap(),
                to: "Bob".parse().unwrap(),
                text: "psst".try_into().unwrap(),
                ts: 1_795_000_000_500,
                client_id: "c-18".parse().unwrap(),
            },
            r#"{"type":"direct","id":43,"from":"Alice","to":"Bob","text":"psst","ts":1795000000500,"client_id":"c-18"}"#,
        ),
        (
            ServerMsg::Typing {
                room: "lobby".parse().unwrap(),
                user: "Bob".parse().unwrap(),
                active: true,
            },
            r#"{"type":"typing","room":"lobby","user":"Bob","active":true}"#,
        ),
        (
            ServerMsg::Rooms {
                rooms: vec![
                    RoomInfo {
                        name: "lobby".parse().unwrap(),
                        members: 3,
                    },
                    RoomInfo {
                        name: "rust".parse().unwrap(),
                        members: 1,
                    },
                ],
            },
            r#"{"type":"rooms","rooms":[{"name":"lobby","members":3},{"name":"rust","members":1}]}"#,
        ),
        (
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                message: "the nickname Alice is taken; choose another".into(),
                client_id: None,
            },
            r#"{"type":"error","code":"nick_taken","message":"the nickname Alice is taken; choose another"}"#,
        ),
        (
            ServerMsg::Error {
                code: ErrorCode::TooLong,
                message: "message has 2400 characters; the limit is 2000".into(),
                client_id: Some("c-19".parse().unwrap()),
            },
            r#"{"type":"error","code":"too_long","message":"message has 2400 characters; the limit is 2000","client_id":"c-19"}"#,
        ),
        (
            ServerMsg::ReauthNeeded {
                expires_in_ms: 60000,
            },
            r#"{"type":"reauth_needed","expires_in_ms":60000}"#,
        ),
        (
            ServerMsg::Reauthed {
                expires_in_ms: 3600000,
            },
            r#"{"type":"reauthed","expires_in_ms":3600000}"#,
        ),
        (
            ServerMsg::RoomPolicy {
                room: "secret".parse().unwrap(),
                owner: Some("Alice".parse().unwrap()),
                moderators: vec!["Bob".parse().unwrap()],
                private: true,
                max_members: Some(10),
            },
            r#"{"type":"room_policy","room":"secret","owner":"Alice","moderators":["Bob"],"private":true,"max_members":10}"#,
        ),
        (
            ServerMsg::Moderated {
                room: "lobby".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                action: shared::ModAction::Muted {
                    user: "Troll".parse().unwrap(),
                    until_ms: 1795000600000,
                },
            },
            r#"{"type":"moderated","room":"lobby","by":"Alice","action":{"kind":"muted","user":"Troll","until_ms":1795000600000}}"#,
        ),
        (
            ServerMsg::Moderated {
                room: "lobby".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                action: shared::ModAction::Deleted { seq: 41 },
            },
            r#"{"type":"moderated","room":"lobby","by":"Alice","action":{"kind":"deleted","seq":41}}"#,
        ),
        (
            ServerMsg::Removed {
                room: "lobby".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                reason: shared::RemovedReason::Banned,
            },
            r#"{"type":"removed","room":"lobby","by":"Alice","reason":"banned"}"#,
        ),
        (
            ServerMsg::Invited {
                room: "secret".parse().unwrap(),
                by: "Alice".parse().unwrap(),
            },
            r#"{"type":"invited","room":"secret","by":"Alice"}"#,
        ),
        (
            ServerMsg::Removed {
                room: "secret".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                reason: shared::RemovedReason::Uninvited,
            },
            r#"{"type":"removed","room":"secret","by":"Alice","reason":"uninvited"}"#,
        ),
    ]
}

#[test]
fn client_messages_are_frozen() {
    for (message, json) in client_examples() {
        assert_eq!(encode(&message).unwrap(), json);
        assert_eq!(ClientMsg::parse(json).unwrap(), message);
    }
}

#[test]
fn server_messages_are_frozen() {
    for (message, json) in server_examples() {
        assert_eq!(encode(&message).unwrap(), json);
        assert_eq!(decode::<ServerMsg>(json).unwrap(), message);
    }
}

/// Every `ErrorCode`, in declaration order, found by construction: serde's derived
/// `Deserialize` also accepts a variant's index, so counting up until one is refused visits
/// each variant, including any added later.
fn all_error_codes() -> Vec<ErrorCode> {
    use serde::{Deserialize as _, de::value::U32Deserializer};
    (0u32..)
        .map_while(|index| {
            ErrorCode::deserialize(U32Deserializer::<serde::de::value::Error>::new(index)).ok()
        })
        .collect()
}

/// The wire name of `code`. No wildcard arm: a new code does not compile until it is named.
fn wire_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Malformed => "malformed",
        ErrorCode::UnknownType => "unknown_type",
        ErrorCode::Invalid => "invalid",
        ErrorCode::BinaryNotSupported => "binary_not_supported",
        ErrorCode::NotIdentified => "not_identified",
        ErrorCode::AlreadyIdentified => "already_identified",
        ErrorCode::NickTaken => "nick_taken",
        ErrorCode::NotInRoom => "not_in_room",
        ErrorCode::TooManyRooms => "too_many_rooms",
        ErrorCode::TooLong => "too_long",
        ErrorCode::RateLimited => "rate_limited",
        ErrorCode::NoSuchUser => "no_such_user",
        ErrorCode::StoreFailed => "store_failed",
        ErrorCode::Overloaded => "overloaded",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Unauthenticated => "unauthenticated",
        ErrorCode::RoomExists => "room_exists",
        ErrorCode::RoomFull => "room_full",
        ErrorCode::Banned => "banned",
        ErrorCode::Muted => "muted",
    }
}

#[test]
fn every_error_code_has_its_snake_case_name_and_is_documented() {
    let codes = all_error_codes();
    assert_eq!(codes.len(), 20, "{codes:?}");
    let doc = protocol_doc();
    for code in codes {
        let name = wire_name(code);
        assert_eq!(encode(&code).unwrap(), format!("\"{name}\""));
        assert_eq!(decode::<ErrorCode>(&format!("\"{name}\"")).unwrap(), code);
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not in PROTOCOL.md"
        );
    }
}

/// docs/PROTOCOL.md, which these tests hold to the code.
fn protocol_doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md exists")
}

/// The JSON lines of the fenced ```json blocks in docs/PROTOCOL.md's chat section.
fn documented_lines() -> Vec<String> {
    let doc = protocol_doc();
    let chat = doc
        .split_once("## `GET /ws`")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .expect("PROTOCOL.md has a `GET /ws` section");
    let mut lines = Vec::new();
    let mut in_json = false;
    for line in chat.lines() {
        match line.trim() {
            "```json" => in_json = true,
            "```" => in_json = false,
            text if in_json && !text.is_empty() => lines.push(text.to_owned()),
            _ => {}
        }
    }
    lines
}

#[test]
fn protocol_doc_shows_exactly_the_golden_messages() {
    let documented = documented_lines();
    let golden: Vec<&str> = client_examples()
        .iter()
        .map(|(_, json)| *json)
        .chain(server_examples().iter().map(|(_, json)| *json))
        .collect();
    for json in &golden {
        assert!(
            documented.iter().any(|d| d == json),
            "PROTOCOL.md lacks {json}"
        );
    }
    for line in &documented {
        assert!(
            golden.contains(&line.as_str()),
            "PROTOCOL.md shows a non-golden line: {line}"
        );
    }
}
