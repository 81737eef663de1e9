//! Group conversations (issue #29) over real sockets, in both modes (one node; two nodes
//! sharing a `redis-server`, members on both): a group reaches every member's tabs at once
//! and those away on their next `hello`, with exact catch-up; nobody else can find, join or
//! read it; nobody moderates it; a member leaves for good; bad requests get typed errors.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Chat, Mode, TestServer, departed, token_for};
use shared::{ClientMsg, ErrorCode, HistoryMode, ModAction, RemovedReason, RoomName, ServerMsg};

fn nicks(names: &[&str]) -> Vec<shared::Nick> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

/// Waits for `chat` to be in a group: its `joined`, then its rules; returns the group's
/// room and members.
async fn in_group(chat: &mut Chat) -> (RoomName, Vec<String>) {
    let joined = chat
        .until(
            "a group's joined",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str().starts_with("g-")),
        )
        .await;
    let ServerMsg::Joined { room, .. } = joined else {
        unreachable!()
    };
    let rules = chat
        .until(
            "the group's rules",
            |e| matches!(e, ServerMsg::RoomPolicy { room: r, group: true, .. } if *r == room),
        )
        .await;
    let ServerMsg::RoomPolicy { members, .. } = rules else {
        unreachable!()
    };
    (room, members.into_iter().map(|m| m.to_string()).collect())
}

/// Says hello as `nick` resuming `since` (per room), and returns the `history` of `room`
/// it is sent.
async fn hello_history(
    chat: &mut Chat,
    nick: &str,
    room: &RoomName,
    since: Option<u64>,
) -> (HistoryMode, Vec<String>) {
    let since: BTreeMap<RoomName, u64> = since.map(|s| (room.clone(), s)).into_iter().collect();
    chat.send(&ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token_for(nick),
        rooms: vec![],
        since,
        epochs: Default::default(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    })
    .await;
    let history = chat
        .until(
            "the group's history",
            |e| matches!(e, ServerMsg::History { room: r, .. } if r == room),
        )
        .await;
    let ServerMsg::History { mode, messages, .. } = history else {
        unreachable!()
    };
    (
        mode,
        messages
            .into_iter()
            .map(|m| m.text.as_str().to_owned())
            .collect(),
    )
}

async fn said(chat: &mut Chat, room: &RoomName, text: &str) {
    chat.until("the message", |e| {
        matches!(e, ServerMsg::Said { room: r, text: t, .. } if r == room && t.as_str() == text)
    })
    .await;
}

async fn a_group_reaches_its_members_everywhere_and_no_one_else(mode: Mode) {
    let config = || backend::Config {
        max_owned_rooms: 2,
        ..common::patient_config(mode.redis_url())
    };
    let node_a = TestServer::spawn(config());
    let node_b = match &mode {
        Mode::Single => None,
        Mode::Cluster(_) | Mode::Sharded(_) => Some(TestServer::spawn(config())),
    };
    let node_b = node_b.as_ref().unwrap_or(&node_a);
    let mut alice = node_a.chat_as("alice", &[]).await;
    let mut bob = node_b.chat_as("bob", &[]).await;
    let mut bob_again = node_b.chat_with_token("bob", token_for("bob"), &[]).await;
    let mut dave = node_a.chat_as("dave", &[]).await;
    // Carol has been here, and is away.
    drop(node_b.chat_as("carol", &[]).await);
    alice.until("Carol leaving", |e| departed(e, "carol")).await;

    // Bad lists are refused, naming nothing created.
    for (with, code) in [
        (nicks(&["bob"]), ErrorCode::Invalid),
        (nicks(&["bob", "alice"]), ErrorCode::Invalid),
        (nicks(&["bob", "BOB"]), ErrorCode::Invalid),
        (nicks(&["bob", "nobody-ever"]), ErrorCode::NoSuchUser),
    ] {
        let request = ClientMsg::CreateGroup { with };
        assert_eq!(alice.refused(request).await, code);
    }

    alice
        .send(&ClientMsg::CreateGroup {
            with: nicks(&["Bob", "carol"]),
        })
        .await;
    let (group, members) = in_group(&mut alice).await;
    assert_eq!(members, ["alice", "bob", "carol"]);
    // Both of Bob's tabs are in it at once, on the other node too.
    for tab in [&mut bob, &mut bob_again] {
        let (room, _) = in_group(tab).await;
        assert_eq!(room, group);
    }
    alice
        .send(&ClientMsg::Say {
            room: group.clone(),
            text: "hello group".try_into().unwrap(),
            client_id: "g-1".parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        })
        .await;
    for tab in [&mut alice, &mut bob, &mut bob_again] {
        said(tab, &group, "hello group").await;
    }

    // Nobody else finds it, joins it or moderates it; not even its creator moderates.
    dave.send(&ClientMsg::ListRooms).await;
    let rooms = dave
        .until("the room list", |e| matches!(e, ServerMsg::Rooms { .. }))
        .await;
    let ServerMsg::Rooms { rooms } = rooms else {
        unreachable!()
    };
    assert!(rooms.iter().all(|r| r.name != group), "{rooms:?}");
    let join = ClientMsg::Join {
        room: group.clone(),
        since: None,
        epoch: None,
    };
    assert_eq!(dave.refused(join).await, ErrorCode::Forbidden);
    let kick = ClientMsg::Kick {
        room: group.clone(),
        user: "carol".parse().unwrap(),
    };
    assert_eq!(alice.refused(kick).await, ErrorCode::Forbidden);

    // Carol comes back: the group is hers, with what was said, once.
    let mut carol = node_a.chat_socket().await;
    let (_, texts) = hello_history(&mut carol, "carol", &group, None).await;
    assert_eq!(texts, ["hello group"]);
    alice
        .send(&ClientMsg::Say {
            room: group.clone(),
            text: "welcome back".try_into().unwrap(),
            client_id: "g-2".parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        })
        .await;
    said(&mut carol, &group, "welcome back").await;
    drop(carol);
    // And resuming where she was gets exactly what she missed.
    alice
        .send(&ClientMsg::Say {
            room: group.clone(),
            text: "while you were out".try_into().unwrap(),
            client_id: "g-3".parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        })
        .await;
    said(&mut alice, &group, "while you were out").await;
    let mut carol = node_b.chat_socket().await;
    let (mode, texts) = hello_history(&mut carol, "carol", &group, Some(2)).await;
    assert_eq!(
        (mode, texts),
        (HistoryMode::CatchUp, vec!["while you were out".to_owned()])
    );

    // Bob leaves for good: his tabs are told and out, the others see him go.
    bob.send(&ClientMsg::LeaveGroup {
        room: group.clone(),
    })
    .await;
    for tab in [&mut bob, &mut bob_again] {
        let removed = tab
            .until("the removal", |e| matches!(e, ServerMsg::Removed { .. }))
            .await;
        assert!(
            matches!(
                removed,
                ServerMsg::Removed {
                    reason: RemovedReason::Left,
                    ..
                }
            ),
            "{removed:?}"
        );
        tab.until(
            "the left",
            |e| matches!(e, ServerMsg::Left { room } if *room == group),
        )
        .await;
    }
    let moderated = alice
        .until("Bob leaving the group", |e| {
            matches!(e, ServerMsg::Moderated { .. })
        })
        .await;
    assert!(
        matches!(&moderated, ServerMsg::Moderated { action: ModAction::Left { user }, .. } if user.as_str() == "bob"),
        "{moderated:?}"
    );
    let rules = alice
        .until("the group's new members", |e| {
            matches!(e, ServerMsg::RoomPolicy { .. })
        })
        .await;
    assert!(
        matches!(&rules, ServerMsg::RoomPolicy { members, .. } if members.iter().map(|m| m.as_str()).eq(["alice", "carol"])),
        "{rules:?}"
    );
    let join = ClientMsg::Join {
        room: group.clone(),
        since: None,
        epoch: None,
    };
    assert_eq!(bob.refused(join).await, ErrorCode::Forbidden);

    // Groups one makes count against --max-owned-rooms: nobody buries others in groups.
    alice
        .send(&ClientMsg::CreateGroup {
            with: nicks(&["carol", "dave"]),
        })
        .await;
    in_group(&mut alice).await;
    let request = ClientMsg::CreateGroup {
        with: nicks(&["carol", "dave"]),
    };
    assert_eq!(alice.refused(request).await, ErrorCode::TooManyRooms);
}

common::in_both_modes!(a_group_reaches_its_members_everywhere_and_no_one_else);

/// A name shaped like a group's (`g-` and 20 hex digits) is no public room anyone makes by
/// joining it: the admin console leaves such names out, so it would be a room admins never
/// see.
#[actix_web::test]
async fn nobody_makes_a_room_of_a_groups_name_by_joining_it() {
    let server = TestServer::spawn(common::patient_config(None));
    let mut mallory = server.chat_as("mallory", &[]).await;
    let join = ClientMsg::Join {
        room: "g-0123456789abcdef0123".parse().unwrap(),
        since: None,
        epoch: None,
    };
    assert_eq!(mallory.refused(join).await, ErrorCode::Forbidden);
}
