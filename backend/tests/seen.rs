//! "Seen" (issue #29) over real sockets, in both modes (two nodes sharing a `redis-server`
//! in cluster mode): how far the others have read a group or a direct conversation reaches
//! those who share theirs, live and on their next connection; `share_reads` off stops it
//! both ways, and the choice outlives the connection.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Chat, Mode, TestServer, token_for};
use shared::{ClientMsg, RoomName, ServerMsg};

/// The next `seen`, skipping everything else.
async fn next_seen(chat: &mut Chat) -> (String, Option<RoomName>, u64) {
    let seen = chat
        .until("a seen", |e| matches!(e, ServerMsg::Seen { .. }))
        .await;
    let ServerMsg::Seen {
        user,
        room,
        position,
    } = seen
    else {
        unreachable!()
    };
    (user.to_string(), room, position)
}

/// The next `sharing`.
async fn sharing(chat: &mut Chat) -> bool {
    match chat
        .until("sharing", |e| matches!(e, ServerMsg::Sharing { .. }))
        .await
    {
        ServerMsg::Sharing { reads } => reads,
        _ => unreachable!(),
    }
}

async fn say(chat: &mut Chat, room: &RoomName, text: &str, id: &str) -> u64 {
    chat.say(room.as_str(), text, id).await;
    match chat
        .until(
            "the copy",
            |e| matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == id),
        )
        .await
    {
        ServerMsg::Said { seq, .. } => seq,
        _ => unreachable!(),
    }
}

fn mark(room: &RoomName, seq: u64) -> ClientMsg {
    ClientMsg::MarkRead {
        room: room.clone(),
        seq,
    }
}

async fn seen_is_shared_between_those_who_share(mode: Mode) {
    let config = || common::patient_config(mode.redis_url());
    let node_a = TestServer::spawn(config());
    let node_b = match &mode {
        Mode::Single => None,
        Mode::Cluster(_) | Mode::Sharded(_) => Some(TestServer::spawn(config())),
    };
    let node_b = node_b.as_ref().unwrap_or(&node_a);
    let mut alice = node_a.chat_socket().await;
    alice.identify("alice", token_for("alice"), &[], None).await;
    let mut bob = node_b.chat_as("bob", &[]).await;
    let mut carol = node_b.chat_as("carol", &[]).await;
    alice
        .send(&ClientMsg::CreateGroup {
            with: vec!["bob".parse().unwrap(), "carol".parse().unwrap()],
        })
        .await;
    let group = match alice
        .until("the group", |e| matches!(e, ServerMsg::Joined { .. }))
        .await
    {
        ServerMsg::Joined { room, .. } => room,
        _ => unreachable!(),
    };
    for chat in [&mut bob, &mut carol] {
        chat.until(
            "the group",
            |e| matches!(e, ServerMsg::History { room, .. } if *room == group),
        )
        .await;
    }
    let first = say(&mut alice, &group, "one", "s-1").await;
    for chat in [&mut bob, &mut carol] {
        chat.until("one", |e| matches!(e, ServerMsg::Said { .. }))
            .await;
    }

    // Bob reads it: the others see it (he is not told his own).
    bob.send(&mark(&group, first)).await;
    for chat in [&mut alice, &mut carol] {
        assert_eq!(
            next_seen(chat).await,
            ("bob".to_owned(), Some(group.clone()), first)
        );
    }

    // Carol stops sharing: her tabs are told; she sees nobody's, nobody sees hers.
    carol.send(&ClientMsg::ShareReads { share: false }).await;
    assert!(!sharing(&mut carol).await);
    let second = say(&mut alice, &group, "two", "s-2").await;
    carol.send(&mark(&group, second)).await;
    bob.send(&mark(&group, second)).await;
    // Alice's next `seen` is Bob's, not Carol's (hers was marked first).
    assert_eq!(
        next_seen(&mut alice).await,
        ("bob".to_owned(), Some(group.clone()), second)
    );

    // A direct conversation: Bob reads Alice's message, she sees how far.
    alice
        .send(&ClientMsg::Direct {
            to: "bob".parse().unwrap(),
            text: "psst".try_into().unwrap(),
            client_id: "d-1".parse().unwrap(),
        })
        .await;
    // Alice sees the conversation's seq, which both copies share (a copy's id is its
    // place in its reader's own log).
    let seq = match bob
        .until("the direct", |e| matches!(e, ServerMsg::Direct { .. }))
        .await
    {
        ServerMsg::Direct { seq, .. } => seq,
        _ => unreachable!(),
    };
    bob.send(&ClientMsg::MarkDirectRead {
        with: "alice".parse().unwrap(),
        seq,
    })
    .await;
    assert_eq!(next_seen(&mut alice).await, ("bob".to_owned(), None, seq));

    // Alice comes back: after her direct history and the group's, where the others are
    // (Bob's; Carol shares nothing).
    drop(alice);
    let mut alice = node_b.chat_socket().await;
    alice.send(&common::hello("alice", &[])).await;
    assert!(sharing(&mut alice).await);
    let mut seen = vec![next_seen(&mut alice).await, next_seen(&mut alice).await];
    seen.sort();
    assert_eq!(
        seen,
        [
            ("bob".to_owned(), None, seq),
            ("bob".to_owned(), Some(group.clone()), second)
        ]
    );

    // Carol's choice outlives her connection.
    drop(carol);
    let mut carol = node_a.chat_socket().await;
    carol.send(&common::hello("carol", &[])).await;
    assert!(!sharing(&mut carol).await);
    carol.send(&ClientMsg::ShareReads { share: true }).await;
    assert!(sharing(&mut carol).await);
    let third = say(&mut bob, &group, "three", "s-3").await;
    carol.send(&mark(&group, third)).await;
    assert_eq!(
        next_seen(&mut alice).await,
        ("carol".to_owned(), Some(group.clone()), third)
    );
}

common::in_both_modes!(seen_is_shared_between_those_who_share);
