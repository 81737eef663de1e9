//! Search (issue #30) over real sockets, in both modes (two nodes sharing a `redis-server`
//! in cluster mode, each with its own index fed from the logs): Korean, Japanese, English and
//! mixed queries of every kind; filters; who may find what; edits, deletions and retention;
//! the same answers from both nodes; and a node whose index was lost answering correctly
//! once it has read the logs again.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Chat, Mode, TestServer};
use shared::{
    ClientMsg, ServerMsg,
    search::{SearchHit, SearchOrder},
};

/// The hits of one search (the first page, newest first).
async fn search(chat: &mut Chat, query: &str) -> Vec<SearchHit> {
    search_in_order(chat, query, SearchOrder::Newest).await
}

async fn search_in_order(chat: &mut Chat, query: &str, order: SearchOrder) -> Vec<SearchHit> {
    chat.send(&ClientMsg::Search {
        query: query.parse().unwrap(),
        order,
        cursor: None,
        utc_offset: 540,
    })
    .await;
    let asked = query.to_owned();
    match chat
        .until(
            "the results",
            |e| matches!(e, ServerMsg::SearchResults { query, .. } if query.as_str() == asked),
        )
        .await
    {
        ServerMsg::SearchResults { hits, .. } => hits,
        _ => unreachable!(),
    }
}

/// The texts `query` finds, once they are `expected` (a cluster node's index follows the logs
/// a moment later): fails after a few seconds with what it found instead.
async fn finds(chat: &mut Chat, query: &str, expected: &[&str]) {
    let deadline = Instant::now() + common::STEP;
    loop {
        let texts: Vec<String> = search(chat, query)
            .await
            .into_iter()
            .map(|h| h.text)
            .collect();
        if texts == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{query:?} found {texts:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn said(chat: &mut Chat, room: &str, text: &str, id: &str) -> (u64, shared::MessageId) {
    chat.say(room, text, id).await;
    match chat
        .until(
            "the copy",
            |e| matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == id),
        )
        .await
    {
        ServerMsg::Said { seq, id, .. } => (seq, id),
        _ => unreachable!(),
    }
}

async fn finds_everything_its_asker_may_read(mode: Mode) {
    let config = || common::patient_config(mode.redis_url());
    let node_a = TestServer::spawn(config());
    let node_b = match &mode {
        Mode::Single => None,
        Mode::Cluster(_) | Mode::Sharded(_) => Some(TestServer::spawn(config())),
    };
    let node_b = node_b.as_ref().unwrap_or(&node_a);
    let mut alice = node_a.chat_as("alice", &["ops"]).await;
    let mut bob = node_b.chat_as("bob", &["ops"]).await;
    let mut carol = node_b.chat_as("carol", &["ops"]).await;

    said(&mut alice, "ops", "내일회의는 3시", "k-1").await;
    said(&mut bob, "ops", "see rust/config.toml", "e-1").await;
    said(&mut alice, "ops", "会議室 で ミーティング", "j-1").await;
    said(&mut bob, "ops", "Café au lait at the CONFERENCE", "e-2").await;
    let (_, typo) = said(
        &mut alice,
        "ops",
        "the staging pasword rotates monday",
        "e-3",
    )
    .await;
    let (_, gone) = said(&mut alice, "ops", "delete me: 회의록", "k-2").await;

    // Korean of one, two and more syllables, inside words; Japanese; English words,
    // prefixes, substrings, case and accents; several words; filters.
    finds(&mut carol, "회의", &["delete me: 회의록", "내일회의는 3시"]).await;
    finds(&mut carol, "회", &["delete me: 회의록", "내일회의는 3시"]).await;
    finds(&mut carol, "일회의는", &["내일회의는 3시"]).await;
    finds(&mut carol, "3시", &["내일회의는 3시"]).await;
    finds(&mut carol, "会議", &["会議室 で ミーティング"]).await;
    finds(&mut carol, "ティ", &["会議室 で ミーティング"]).await;
    finds(&mut carol, "config", &["see rust/config.toml"]).await;
    finds(
        &mut carol,
        "conf",
        &["Café au lait at the CONFERENCE", "see rust/config.toml"],
    )
    .await;
    finds(
        &mut carol,
        "co",
        &["Café au lait at the CONFERENCE", "see rust/config.toml"],
    )
    .await;
    finds(&mut carol, "cafe LAIT", &["Café au lait at the CONFERENCE"]).await;
    finds(&mut carol, "rust 회의", &[]).await;
    finds(
        &mut carol,
        "from:bob co",
        &["Café au lait at the CONFERENCE", "see rust/config.toml"],
    )
    .await;
    finds(&mut carol, "in:ops 3시", &["내일회의는 3시"]).await;
    finds(&mut carol, "in:lobby 3시", &[]).await;
    finds(&mut carol, "3시 before:2000-01-01", &[]).await;
    finds(&mut carol, "3시 after:2000-01-01", &["내일회의는 3시"]).await;

    // The matched words are marked, in the text as it was written.
    let hits = search(&mut carol, "cafe conference").await;
    let hit = &hits[0];
    let marked: Vec<&str> = hit
        .marks
        .iter()
        .map(|[from, to]| &hit.text[*from as usize..*to as usize])
        .collect();
    assert_eq!(marked, ["Café", "CONFERENCE"]);
    assert_eq!(hit.room.as_ref().map(|r| r.as_str()), Some("ops"));
    assert_eq!(hit.from.as_str(), "bob");
    assert!(hit.seq.is_some());

    // An edit is found by its new words only; a deleted message not at all.
    alice
        .send(&ClientMsg::Edit {
            room: "ops".parse().unwrap(),
            id: typo,
            text: "the staging password rotates monday".try_into().unwrap(),
            client_id: "edit-1".parse().unwrap(),
        })
        .await;
    alice
        .send(&ClientMsg::DeleteMessage {
            room: "ops".parse().unwrap(),
            id: gone,
            client_id: "del-1".parse().unwrap(),
        })
        .await;
    finds(
        &mut carol,
        "password",
        &["the staging password rotates monday"],
    )
    .await;
    finds(&mut carol, "pasword", &[]).await;
    finds(&mut carol, "회의록", &[]).await;

    // A private room: found by its members only, and no more once one is removed.
    bob.send(&ClientMsg::CreateRoom {
        room: "hideout".parse().unwrap(),
        private: true,
        max_members: None,
    })
    .await;
    bob.until(
        "hideout",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "hideout"),
    )
    .await;
    bob.send(&ClientMsg::Invite {
        room: "hideout".parse().unwrap(),
        user: "alice".parse().unwrap(),
    })
    .await;
    said(&mut bob, "hideout", "the secret 회의 plan", "p-1").await;
    finds(&mut bob, "secret", &["the secret 회의 plan"]).await;
    finds(&mut alice, "secret", &["the secret 회의 plan"]).await;
    finds(&mut carol, "secret", &[]).await;
    finds(&mut carol, "in:hideout", &[]).await;
    bob.send(&ClientMsg::Uninvite {
        room: "hideout".parse().unwrap(),
        user: "alice".parse().unwrap(),
    })
    .await;
    finds(&mut alice, "secret", &[]).await;

    // Direct messages: found by their two people only.
    alice
        .send(&ClientMsg::Direct {
            to: "bob".parse().unwrap(),
            text: "direct 회의 note".try_into().unwrap(),
            client_id: "d-1".parse().unwrap(),
        })
        .await;
    finds(&mut alice, "note", &["direct 회의 note"]).await;
    finds(&mut bob, "note", &["direct 회의 note"]).await;
    finds(&mut carol, "note", &[]).await;
    finds(&mut bob, "in:@alice 회의", &["direct 회의 note"]).await;
    finds(&mut bob, "회의 NOTE", &["direct 회의 note"]).await;
    let hit = &search(&mut bob, "note").await[0];
    assert_eq!(hit.room, None);
    assert_eq!(
        (hit.from.as_str(), hit.to.as_ref().map(|n| n.as_str())),
        ("alice", Some("bob"))
    );

    // Both nodes answer alike, hit for hit (best match too).
    let mut bob_on_a = node_a.chat_as("bob", &[]).await;
    for query in ["회의", "co", "the"] {
        for order in [SearchOrder::Newest, SearchOrder::Best] {
            let deadline = Instant::now() + common::STEP;
            loop {
                let here = search_in_order(&mut bob, query, order).await;
                let there = search_in_order(&mut bob_on_a, query, order).await;
                if here == there {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{query:?}: {here:?} vs {there:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    // A bad filter is a clear error; the connection goes on.
    let refused = carol
        .refused(ClientMsg::Search {
            query: "before:yesterday".parse().unwrap(),
            order: SearchOrder::Newest,
            cursor: None,
            utc_offset: 0,
        })
        .await;
    assert_eq!(refused, shared::ErrorCode::Invalid);
    finds(&mut carol, "3시", &["내일회의는 3시"]).await;

    // A room that bans someone is no longer searched for them (alice makes "ops2", a public
    // room of hers, and bans carol from it).
    alice
        .send(&ClientMsg::CreateRoom {
            room: "ops2".parse().unwrap(),
            private: false,
            max_members: None,
        })
        .await;
    alice
        .until(
            "ops2",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "ops2"),
        )
        .await;
    said(&mut alice, "ops2", "rollout 일정 tomorrow", "b-1").await;
    finds(&mut carol, "일정", &["rollout 일정 tomorrow"]).await;
    alice
        .send(&ClientMsg::Ban {
            room: "ops2".parse().unwrap(),
            user: "carol".parse().unwrap(),
        })
        .await;
    finds(&mut carol, "일정", &[]).await;
    finds(&mut bob, "일정", &["rollout 일정 tomorrow"]).await;
}

/// Pages follow each other without a gap or a repeat; retention's removals are not found.
async fn pages_and_retention(mode: Mode) {
    let config = backend::Config {
        retention_messages: Some(30),
        retention_interval: Duration::from_millis(200),
        ..common::patient_config(mode.redis_url())
    };
    let node = TestServer::spawn(config);
    let mut alice = node.chat_as("alice", &["log"]).await;
    for n in 1..=50 {
        said(
            &mut alice,
            "log",
            &format!("entry {n} 회의"),
            &format!("n-{n}"),
        )
        .await;
    }
    // Retention keeps the last 30: entries 21..=50.
    let expected: Vec<String> = (21..=50).rev().map(|n| format!("entry {n} 회의")).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut texts = Vec::new();
        let mut cursor = None;
        loop {
            alice
                .send(&ClientMsg::Search {
                    query: "회의".parse().unwrap(),
                    order: SearchOrder::Newest,
                    cursor: cursor.clone(),
                    utc_offset: 0,
                })
                .await;
            let (hits, next) = match alice
                .until("results", |e| matches!(e, ServerMsg::SearchResults { .. }))
                .await
            {
                ServerMsg::SearchResults { hits, next, .. } => (hits, next),
                _ => unreachable!(),
            };
            assert!(hits.len() <= shared::search::SEARCH_PAGE);
            texts.extend(hits.into_iter().map(|h| h.text));
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        if texts == expected {
            break;
        }
        assert!(Instant::now() < deadline, "found {texts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A history page around a search result, then newer pages up to the newest message, a live
/// one among them: every `seq` once, in order, no gap.
async fn opens_at_a_message_and_reads_on_to_the_newest(mode: Mode) {
    let node = TestServer::spawn(common::patient_config(mode.redis_url()));
    let mut alice = node.chat_as("alice", &["long"]).await;
    for n in 1..=120 {
        said(&mut alice, "long", &format!("line {n}"), &format!("l-{n}")).await;
    }
    let history = |e: &ServerMsg| matches!(e, ServerMsg::History { .. });
    alice
        .send(&ClientMsg::LoadAround {
            room: "long".parse().unwrap(),
            seq: 60,
        })
        .await;
    let (mode, messages, more_before) = match alice.until("the page", history).await {
        ServerMsg::History {
            mode,
            messages,
            more_before,
            ..
        } => (mode, messages, more_before),
        _ => unreachable!(),
    };
    assert_eq!(mode, shared::HistoryMode::Around);
    assert!(more_before);
    let mut seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    assert_eq!(
        seqs,
        (35..=84).collect::<Vec<u64>>(),
        "half a page before, the rest from it"
    );
    // Someone writes meanwhile: the newer pages bring it too.
    said(&mut alice, "long", "line 121", "l-121").await;
    loop {
        let after = *seqs.last().unwrap();
        alice
            .send(&ClientMsg::LoadNewer {
                room: "long".parse().unwrap(),
                after,
            })
            .await;
        let page = match alice.until("a newer page", history).await {
            ServerMsg::History { messages, .. } => messages,
            _ => unreachable!(),
        };
        if page.is_empty() {
            break;
        }
        seqs.extend(page.iter().map(|m| m.seq));
    }
    assert_eq!(seqs, (35..=121).collect::<Vec<u64>>());
    // Not in the room: refused, the connection goes on.
    let refused = alice
        .refused(ClientMsg::LoadAround {
            room: "elsewhere".parse().unwrap(),
            seq: 1,
        })
        .await;
    assert_eq!(refused, shared::ErrorCode::NotInRoom);
}

common::in_both_modes!(
    finds_everything_its_asker_may_read,
    pages_and_retention,
    opens_at_a_message_and_reads_on_to_the_newest
);

/// Cluster mode: a node whose index file is lost makes it again from the Redis logs and
/// then answers as the other node does. How long that takes is printed (messages per second
/// of rebuild); `SEARCH_REBUILD_MESSAGES=100000` measures it for 100k messages
/// (docs/SCALING.md, "Search").
#[actix_web::test]
async fn a_node_that_lost_its_index_makes_it_again_from_the_logs() {
    let redis = common::redis_server::RedisServer::start().await;
    let mode = Mode::Cluster(redis);
    let count: usize = std::env::var("SEARCH_REBUILD_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    let node_a = TestServer::spawn(common::patient_config(mode.redis_url()));
    let dir = tempfile::tempdir().unwrap();
    let config_b = || backend::Config {
        data_dir: dir.path().to_owned(),
        ..common::patient_config(mode.redis_url())
    };
    let node_b = TestServer::spawn(config_b());
    let mut alice = node_a.chat_as("alice", &["big"]).await;
    // Sent in bursts of 500, each burst's last copy awaited (the outbox stays bounded).
    for start in (1..=count).step_by(500) {
        let end = (start + 499).min(count);
        for n in start..=end {
            alice
                .send(&ClientMsg::Say {
                    room: "big".parse().unwrap(),
                    text: format!("entry{n:07} 회의 notes").try_into().unwrap(),
                    client_id: format!("r-{n}").parse().unwrap(),
                    reply_to: None,
                    image: None,
                    file: None,
                })
                .await;
        }
        let last = format!("r-{end}");
        alice
            .until(
                "the burst's last copy",
                |e| matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == last),
            )
            .await;
    }
    let newest = format!("entry{count:07}");
    let mut bob = node_b.chat_as("bob", &[]).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while search(&mut bob, &newest).await.is_empty() {
        assert!(Instant::now() < deadline, "node b never indexed {newest}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(bob);
    node_b.stop().await.unwrap();
    let index = dir.path().join(backend::engine::redis::indexer::INDEX_FILE);
    assert!(index.exists(), "the index is at {}", index.display());
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index.display()));
    }

    let started = Instant::now();
    let node_b = TestServer::spawn(config_b());
    let mut bob = node_b.chat_as("bob", &[]).await;
    let deadline = Instant::now() + Duration::from_secs(600);
    while search(&mut bob, &newest).await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the rebuild did not reach {newest}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    eprintln!(
        "search index rebuilt from the logs: {count} messages in {:.2} s ({:.0} messages/s)",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    // Every message is found once more, and both nodes answer alike.
    let first = search(&mut bob, "entry0000001").await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].text, "entry0000001 회의 notes");
    let mut alice_hits = search(&mut alice, "회의").await;
    let mut bob_hits = search(&mut bob, "회의").await;
    assert_eq!(alice_hits.len(), shared::search::SEARCH_PAGE);
    alice_hits.truncate(shared::search::SEARCH_PAGE);
    bob_hits.truncate(shared::search::SEARCH_PAGE);
    assert_eq!(alice_hits, bob_hits);
}

/// Cluster mode: Redis loses its data (a wipe): what the logs no longer hold is no longer
/// found, and what is written afterwards is, on a node that indexed the old logs.
#[actix_web::test]
async fn a_wiped_redis_is_followed_by_the_index() {
    let redis = common::redis_server::RedisServer::start().await;
    let url = redis.url();
    let node = TestServer::spawn(common::patient_config(Some(url)));
    let mut alice = node.chat_as("alice", &["ops"]).await;
    said(&mut alice, "ops", "before the wipe 회의", "w-1").await;
    finds(&mut alice, "wipe", &["before the wipe 회의"]).await;
    redis.cmd(&["FLUSHALL"]);
    // The room's log starts again (a new epoch, numbers from 1 anew; alice is told with a
    // reset page that holds the new message).
    alice.say("ops", "after the wipe 회의", "w-2").await;
    finds(&mut alice, "wipe", &["after the wipe 회의"]).await;
}
