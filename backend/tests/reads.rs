//! Read positions over real sockets, in both modes: a position one tab marks reaches the
//! user's other tabs (on another node too), only moves forward, is told to the user after every
//! `welcome`, and survives a restart (of the single node with its data directory; of a
//! cluster node and of Redis itself, kill -9, with its append-only file).

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{collections::BTreeMap, time::Duration};

use backend::Config;
use common::{Chat, Mode, TestServer};
use shared::{ClientMsg, ErrorCode, RoomName, ServerMsg};

const ROOM: &str = "news";

fn room() -> RoomName {
    ROOM.parse().unwrap()
}

/// The next `read_positions` (within [`STEP`]), skipping everything else.
async fn positions(chat: &mut Chat) -> (BTreeMap<RoomName, u64>, BTreeMap<shared::Nick, u64>) {
    let wanted = |e: &ServerMsg| matches!(e, ServerMsg::ReadPositions { .. });
    match chat.until("read_positions", wanted).await {
        ServerMsg::ReadPositions { rooms, directs } => (rooms, directs),
        _ => unreachable!(),
    }
}

/// A new tab of `nick` (same token) in the room, with the `read_positions` after its welcome.
async fn tab(
    server: &TestServer,
    nick: &str,
) -> (Chat, (BTreeMap<RoomName, u64>, BTreeMap<shared::Nick, u64>)) {
    let mut chat = server.chat_socket().await;
    chat.send(&common::hello(nick, &[ROOM])).await;
    let found = positions(&mut chat).await;
    (chat, found)
}

fn mark(seq: u64) -> ClientMsg {
    ClientMsg::MarkRead { room: room(), seq }
}

fn mark_direct(with: &str, seq: u64) -> ClientMsg {
    ClientMsg::MarkDirectRead {
        with: with.parse().unwrap(),
        seq,
    }
}

/// Nothing but heartbeats and presence for a moment: no `read_positions`.
async fn no_positions(chat: &mut Chat) {
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let event @ ServerMsg::ReadPositions { .. } = chat.recv_all().await {
                return event;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "unexpected {quiet:?}");
}

/// Two tabs (on `here` and `there`) share what one marks; positions only move forward.
async fn tabs_share_positions(here: &TestServer, there: &TestServer) {
    let (mut first, (rooms, directs)) = tab(here, "reader").await;
    assert!(
        rooms.is_empty() && directs.is_empty(),
        "{rooms:?} {directs:?}"
    );
    let (mut second, _) = tab(there, "reader").await;

    first.send(&mark(5)).await;
    let told = positions(&mut second).await;
    assert_eq!(told.0, BTreeMap::from([(room(), 5)]));
    // The marking tab is told too (every tab shows the same counts).
    assert_eq!(positions(&mut first).await, told);
    second.send(&mark_direct("Bob", 9)).await;
    let told = positions(&mut first).await;
    assert_eq!(told.1, BTreeMap::from([("bob".parse().unwrap(), 9)]));
    assert_eq!(positions(&mut second).await, told);

    // Backwards is ignored (a tab that was behind cannot undo another's reading).
    second.send(&mark(3)).await;
    no_positions(&mut first).await;
    first.send(&mark(8)).await;
    assert_eq!(positions(&mut second).await.0[&room()], 8);

    // Marking a room the connection is not in is refused.
    first
        .send(&ClientMsg::MarkRead {
            room: "elsewhere".parse().unwrap(),
            seq: 1,
        })
        .await;
    assert_eq!(first.recv_error().await, ErrorCode::NotInRoom);
}

/// The positions after a fresh `welcome`.
async fn positions_of(
    server: &TestServer,
) -> (BTreeMap<RoomName, u64>, BTreeMap<shared::Nick, u64>) {
    tab(server, "reader").await.1
}

fn expected() -> (BTreeMap<RoomName, u64>, BTreeMap<shared::Nick, u64>) {
    (
        BTreeMap::from([(room(), 8)]),
        BTreeMap::from([("bob".parse().unwrap(), 9)]),
    )
}

/// Read positions are one user's on every tab (on any node), and survive a restart of the
/// node (on one node: on its data directory) and, in cluster mode, of Redis.
async fn positions_are_shared_by_tabs_and_survive_restarts(mode: Mode) {
    let data = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: data.path().to_owned(),
        ..mode.config(common::patient_config(None))
    };
    let here = TestServer::spawn(config());
    // In cluster mode the second tab is on another node.
    let there = mode.redis_url().map(|_| TestServer::spawn(config()));
    tabs_share_positions(&here, there.as_ref().unwrap_or(&here)).await;
    // A node restarts: the next one (on one node, the same store) answers with the positions.
    here.stop().await.unwrap();
    let again = TestServer::spawn(config());
    assert_eq!(positions_of(&again).await, expected());
    // Redis is killed and started again from its append-only file.
    if let Some(mut redis) = mode.into_redis() {
        redis.restart().await;
        common::eventually("the node answers after Redis restarted", || async {
            let mut chat = again.chat_socket().await;
            chat.send(&common::hello("reader", &[ROOM])).await;
            tokio::time::timeout(Duration::from_secs(1), positions(&mut chat))
                .await
                .is_ok_and(|found| found == expected())
        })
        .await;
    }
}

common::in_both_modes!(positions_are_shared_by_tabs_and_survive_restarts);
