//! Cluster mode against a real `redis-server` (started by each test on a free loopback port,
//! with its own data directory and `appendfsync always`) and several real nodes: one order
//! per room for everybody, exact catch-up on any node, idempotent sends, and recovery from
//! Redis failures.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use backend::Config;
use common::{
    Chat, Process, STEP, TestServer, eventually, http_get, redis_server::RedisServer, resume,
    tcp_proxy::TcpProxy, token_for, within,
};
use futures_util::StreamExt as _;
use shared::{ClientMsg, Epoch, ErrorCode, HistoryMode, MessageId, ServerMsg};

/// A node of the cluster at `redis` ([`common::patient_config`]).
fn node(redis: &RedisServer) -> TestServer {
    node_at(redis.url())
}

/// A node reaching Redis at `url` (e.g. through a proxy), with [`node`]'s settings.
fn node_at(url: String) -> TestServer {
    TestServer::spawn(node_config(url))
}

/// The settings of [`node_at`].
fn node_config(url: String) -> Config {
    Config {
        shutdown_timeout: Duration::from_secs(1),
        ..common::patient_config(Some(url))
    }
}

/// Reads until `count` room messages have arrived; returns them as (seq, text), in arrival
/// order. Other events (presence, typing) are skipped.
async fn said(chat: &mut Chat, count: usize) -> Vec<(u64, String)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if let ServerMsg::Said { seq, text, .. } = chat.recv().await {
            out.push((seq, text.as_str().to_owned()));
        }
    }
    out
}

/// [`said`] for a client whose node the test cuts off from Redis for a while: each message
/// may take up to `limit` instead of [`common::STEP`].
async fn said_within(chat: &mut Chat, count: usize, limit: Duration) -> Vec<(u64, String)> {
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let tokio_tungstenite::tungstenite::Message::Text(text) =
            common::next_message_within(&mut chat.ws, limit).await
        else {
            panic!("expected a text frame");
        };
        let event = shared::decode(&text).expect("a server message");
        if let ServerMsg::Said { seq, text, .. } = event {
            out.push((seq, text.as_str().to_owned()));
        }
    }
    out
}

/// The next event that is not presence (members joining or leaving, typing), which other
/// nodes' clients cause at their own pace.
async fn next_event(chat: &mut Chat) -> ServerMsg {
    loop {
        match chat.recv().await {
            ServerMsg::Presence { .. } | ServerMsg::Typing { .. } => {}
            other => return other,
        }
    }
}

/// Sends `count` messages "{prefix} {i}" without waiting for acknowledgements.
async fn send_many(chat: &mut Chat, room: &str, prefix: &str, count: usize) {
    for i in 0..count {
        chat.say(room, &format!("{prefix} {i}"), &format!("{prefix}-{i}"))
            .await;
    }
}

#[actix_web::test]
async fn a_room_over_three_nodes_has_one_order_without_holes_while_two_nodes_send() {
    let redis = RedisServer::start().await;
    let nodes = [node(&redis), node(&redis), node(&redis)];
    let mut a = nodes[0].chat_as("a", &["lobby"]).await;
    let mut b = nodes[1].chat_as("b", &["lobby"]).await;
    let mut c = nodes[2].chat_as("c", &["lobby"]).await;
    let mut c2 = nodes[2].chat_as("c2", &["lobby"]).await;
    const EACH: usize = 150;
    let sending = async {
        tokio::join!(
            send_many(&mut a, "lobby", "from-a", EACH),
            send_many(&mut b, "lobby", "from-b", EACH)
        );
        (a, b)
    };
    let ((mut a, mut b), seen_c, seen_c2) =
        tokio::join!(sending, said(&mut c, 2 * EACH), said(&mut c2, 2 * EACH));
    let seen_a = said(&mut a, 2 * EACH).await;
    let seen_b = said(&mut b, 2 * EACH).await;
    let seqs: Vec<u64> = seen_c.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=(2 * EACH) as u64).collect::<Vec<_>>(),
        "no hole, no repeat"
    );
    for (who, seen) in [("a", &seen_a), ("b", &seen_b), ("c2", &seen_c2)] {
        assert_eq!(seen, &seen_c, "{who} saw another order");
    }
    // Each sender's own messages keep their order.
    for prefix in ["from-a", "from-b"] {
        let mine: Vec<&str> = seen_c
            .iter()
            .map(|(_, t)| t.as_str())
            .filter(|t| t.starts_with(prefix))
            .collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("{prefix} {i}")).collect();
        assert_eq!(mine, sent);
    }
}

/// Bench W5's shape, small: rooms of two with one member on each node, every member sending at
/// once as soon as all rooms exist (the last rooms' subscriptions only just made). Every member
/// gets every message of its room, once, in one order without holes. (One W5 run came up short
/// of deliveries in cluster mode and was not reproduced: bench/results/message-rate.md.)
#[actix_web::test]
async fn rooms_of_two_across_two_nodes_lose_nothing_when_every_member_sends_at_once() {
    const PAIRS: usize = 100;
    const EACH: usize = 20;
    let redis = RedisServer::start().await;
    // All from 127.0.0.1: the per-address handshake limit would refuse the test itself.
    let crowded = || {
        TestServer::spawn(Config {
            max_handshakes_per_ip: 0,
            ..node_config(redis.url())
        })
    };
    let nodes = [crowded(), crowded()];
    let mut members = Vec::new();
    for k in 0..PAIRS {
        let room = format!("pair-{k}");
        for (side, node) in nodes.iter().enumerate() {
            let chat = node.chat_as(&format!("p{k}s{side}"), &[&room]).await;
            members.push((room.clone(), side, chat));
        }
    }
    let runs = members
        .into_iter()
        .map(|(room, side, mut chat)| async move {
            send_many(&mut chat, &room, &format!("{room}-{side}"), EACH).await;
            (room, said(&mut chat, 2 * EACH).await)
        });
    for (room, got) in futures_util::future::join_all(runs).await {
        let seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
        assert!(
            seqs.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "{room}: holes or repeats in {seqs:?}"
        );
        let mut texts: Vec<&str> = got.iter().map(|(_, text)| text.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), 2 * EACH, "{room}: {texts:?}");
    }
}

#[actix_web::test]
async fn a_client_reconnecting_to_another_node_gets_exactly_what_it_missed_under_load() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let mut sender = first.chat_as("sender", &["lobby"]).await;
    let reader = resume(&first, "reader", "lobby", None).await;
    let epoch = reader.epoch.clone();
    let mut reader = reader.chat;
    // About 1000 messages a second from another task, for two seconds.
    const TOTAL: usize = 2000;
    let sending = actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        for i in 0..TOTAL {
            tick.tick().await;
            sender
                .say("lobby", &format!("m{i}"), &format!("m-{i}"))
                .await;
        }
        said(&mut sender, TOTAL).await
    });
    // The reader drops after a few hundred, stays away a moment, and comes back elsewhere.
    let before = said(&mut reader, 300).await;
    let last = before.last().unwrap().0;
    drop(reader);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let back = resume(&second, "reader", "lobby", Some((last, epoch))).await;
    assert_eq!(back.mode, HistoryMode::CatchUp);
    let mut seqs: Vec<u64> = back.messages.iter().map(|m| m.seq).collect();
    let mut chat = back.chat;
    let live = said(&mut chat, TOTAL - last as usize - seqs.len()).await;
    seqs.extend(live.iter().map(|(seq, _)| *seq));
    assert_eq!(
        seqs,
        ((last + 1)..=TOTAL as u64).collect::<Vec<_>>(),
        "the catch-up and the live messages meet with no gap and no duplicate"
    );
    let acked = within(sending).await.unwrap();
    assert_eq!(acked.len(), TOTAL);
}

#[actix_web::test]
async fn a_resend_with_the_same_client_id_during_debug_sleep_is_stored_once() {
    let redis = RedisServer::start().await;
    let server = node(&redis);
    let mut alice = server.chat_as("alice", &["lobby"]).await;
    // Redis stops answering for a while; the send waits in its queue meanwhile.
    let sleeping = redis.cmd_in_background(&["DEBUG", "SLEEP", "1"]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    alice.say("lobby", "only once", "c-1").await;
    // The client gives up waiting and resends, as the app does after a reconnect.
    alice.say("lobby", "only once", "c-1").await;
    within(sleeping).await.unwrap();
    let mut acks = Vec::new();
    while acks.len() < 2 {
        if let ServerMsg::Said { id, seq, .. } = alice.recv().await {
            acks.push((id, seq));
        }
    }
    assert_eq!(acks[0], acks[1], "the resend is answered with the original");
    let later = resume(&server, "bob", "lobby", None).await;
    let texts: Vec<&str> = later.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["only once"]);
}

#[actix_web::test]
async fn after_flushall_a_resuming_client_is_reset_through_the_epoch() {
    let redis = RedisServer::start().await;
    let server = node(&redis);
    let mut alice = server.chat_as("alice", &["lobby"]).await;
    for i in 0..5 {
        alice
            .say("lobby", &format!("old {i}"), &format!("old-{i}"))
            .await;
    }
    said(&mut alice, 5).await;
    let seen = resume(&server, "bob", "lobby", None).await;
    let old_epoch = seen.epoch.clone();
    drop(seen);
    redis.cmd(&["FLUSHALL"]);
    // New messages reuse the numbers 1, 2, 3... in a new log. Alice, reading live, is told
    // with a reset page of it (her node notices the new epoch), then gets the rest live.
    for i in 0..5 {
        alice
            .say("lobby", &format!("new {i}"), &format!("new-{i}"))
            .await;
    }
    let mut seen: Vec<u64> = Vec::new();
    let mut reset = false;
    while seen.last() != Some(&5) {
        match alice.recv_any().await {
            ServerMsg::History { mode, messages, .. } => {
                assert_eq!(mode, HistoryMode::Reset);
                reset = true;
                seen = messages.iter().map(|m| m.seq).collect();
            }
            ServerMsg::Said { seq, .. } if reset => seen.push(seq),
            _ => {}
        }
    }
    assert_eq!(seen, [1, 2, 3, 4, 5], "the new log, once each");
    let back = resume(&server, "bob", "lobby", Some((2, old_epoch.clone()))).await;
    assert_eq!(
        back.mode,
        HistoryMode::Reset,
        "never the new log's 3, 4, 5 as a catch-up"
    );
    assert_ne!(back.epoch, old_epoch);
    let texts: Vec<&str> = back.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["new 0", "new 1", "new 2", "new 3", "new 4"]);
}

/// What one client heard while it sent: the acknowledgements and refusals of its own sends,
/// and every room message, in arrival order.
#[derive(Default)]
struct Heard {
    /// Per own client id, the seq of each `said` naming it (a resend of a stored message is
    /// answered with the original).
    acks: BTreeMap<String, Vec<u64>>,
    /// Own client ids a `store_failed` refused.
    refused: BTreeSet<String>,
    /// Every `said`: (seq, client id).
    said: Vec<(u64, String)>,
}

impl Heard {
    /// Takes in `event`, heard by `me`; returns whether it is the first acknowledgement of one
    /// of `me`'s messages.
    fn take(&mut self, event: ServerMsg, me: &str) -> bool {
        match event {
            ServerMsg::Said {
                seq,
                from,
                client_id,
                ..
            } => {
                let id = client_id.as_str().to_owned();
                self.said.push((seq, id.clone()));
                if from.as_str() != me {
                    return false;
                }
                let seqs = self.acks.entry(id).or_default();
                seqs.push(seq);
                seqs.len() == 1
            }
            ServerMsg::Error {
                code: ErrorCode::StoreFailed,
                client_id: Some(id),
                ..
            } => {
                self.refused.insert(id.as_str().to_owned());
                false
            }
            ServerMsg::Error { .. } => panic!("{me}: unexpected {event:?}"),
            _ => false,
        }
    }

    /// Whether each of `ids` was acknowledged or refused.
    fn answered(&self, ids: &[String]) -> bool {
        ids.iter()
            .all(|id| self.acks.contains_key(id) || self.refused.contains(id))
    }

    /// The last seq heard (0: none).
    fn last(&self) -> u64 {
        self.said.iter().map(|(seq, _)| *seq).max().unwrap_or(0)
    }
}

/// `me` sends `count` messages "{me} {i}" (client ids "{me}-{i}") to the lobby, one every
/// 2 ms, reading meanwhile, until each is acknowledged or refused; `first_ack` is called on
/// each first acknowledgement.
async fn burst(chat: &mut Chat, me: &str, count: usize, heard: &mut Heard, first_ack: &dyn Fn()) {
    let ids: Vec<String> = (0..count).map(|i| format!("{me}-{i}")).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    let mut sent = 0;
    while sent < count || !heard.answered(&ids) {
        tokio::select! {
            biased;
            event = chat.recv() => {
                if heard.take(event, me) {
                    first_ack();
                }
            }
            _ = tick.tick(), if sent < count => {
                chat.say("lobby", &format!("{me} {sent}"), &ids[sent]).await;
                sent += 1;
            }
        }
    }
}

/// Reads what `chat` hears until `done` holds.
async fn hear_until(chat: &mut Chat, me: &str, heard: &mut Heard, done: impl Fn(&Heard) -> bool) {
    while !done(heard) {
        heard.take(chat.recv().await, me);
    }
}

/// The room's log as Redis holds it (XRANGE): (seq, client id) of each entry, in order.
fn log_in_redis(redis: &RedisServer, room: &str) -> Vec<(u64, String)> {
    let log = format!("chat:{{r:{room}}}:log");
    let entries: Vec<(String, Vec<String>)> =
        redis::from_redis_value(redis.cmd(&["XRANGE", &log, "-", "+"])).unwrap();
    entries
        .into_iter()
        .map(|(id, fields)| {
            let seq = id.strip_suffix("-0").unwrap().parse().unwrap();
            assert_eq!(fields[0], "m", "only messages in this log");
            let entry: serde_json::Value = serde_json::from_str(&fields[1]).unwrap();
            (seq, entry["client_id"].as_str().unwrap().to_owned())
        })
        .collect()
}

#[actix_web::test]
async fn redis_killed_during_a_burst_keeps_every_acknowledged_message_once_and_nodes_recover() {
    const BEFORE: usize = 10;
    const EACH: usize = 250;
    const KILL_AFTER: usize = 60;
    let mut redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let mut alice = first.chat_as("alice", &["lobby"]).await;
    let mut bob = second.chat_as("bob", &["lobby"]).await;
    for i in 0..BEFORE {
        alice
            .say("lobby", &format!("before {i}"), &format!("before-{i}"))
            .await;
    }
    said(&mut alice, BEFORE).await;
    said(&mut bob, BEFORE).await;
    // Where two readers left, to come back on either node at the end.
    let left_at = (BEFORE as u64, epoch_of(&first).await);
    // Alice and Bob send at once, each on their node; Redis is SIGKILLed once the first
    // acknowledgements are in, with most of the sends still to come.
    let (mut heard_a, mut heard_b) = (Heard::default(), Heard::default());
    let acks = std::cell::Cell::new(0);
    let enough = tokio::sync::Notify::new();
    let first_ack = || {
        acks.set(acks.get() + 1);
        if acks.get() == KILL_AFTER {
            enough.notify_one();
        }
    };
    let kill = async {
        within(enough.notified()).await;
        redis.kill9();
    };
    tokio::join!(
        burst(&mut alice, "alice", EACH, &mut heard_a, &first_ack),
        burst(&mut bob, "bob", EACH, &mut heard_b, &first_ack),
        kill
    );
    let mut resend: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    resend.insert("alice", heard_a.refused.clone());
    resend.insert("bob", heard_b.refused.clone());
    assert!(
        resend.values().any(|ids| !ids.is_empty()),
        "the kill came while sends were in flight"
    );
    // Acknowledged before the kill: each under one seq.
    let mut acked_before: BTreeMap<String, u64> = BTreeMap::new();
    for heard in [&heard_a, &heard_b] {
        for (id, seqs) in &heard.acks {
            assert_eq!(seqs.len(), 1, "{id} acknowledged once");
            acked_before.insert(id.clone(), seqs[0]);
        }
    }
    assert!(acked_before.len() >= KILL_AFTER);
    redis.restart().await;
    eventually("both nodes are ready again", || async {
        http_get(first.addr, "/readyz").await.0 == 200
            && http_get(second.addr, "/readyz").await.0 == 200
    })
    .await;
    // Everything acknowledged survived, under the seq its acknowledgement named; what was
    // stored but not acknowledged (the reply lost in the kill) reaches the live readers now.
    let stored = log_in_redis(&redis, "lobby");
    let in_log: BTreeMap<&str, u64> = stored.iter().map(|(s, id)| (id.as_str(), *s)).collect();
    for (id, seq) in &acked_before {
        assert_eq!(in_log.get(id.as_str()), Some(seq), "acknowledged {id}");
    }
    let last = stored.last().unwrap().0;
    tokio::join!(
        hear_until(&mut alice, "alice", &mut heard_a, |h| h.last() >= last),
        hear_until(&mut bob, "bob", &mut heard_b, |h| h.last() >= last)
    );
    // The refused ones are sent again with the same client ids: stored once, whether or not
    // the first try was.
    for (chat, me, heard) in [
        (&mut alice, "alice", &mut heard_a),
        (&mut bob, "bob", &mut heard_b),
    ] {
        for id in &resend[me] {
            let text = id.replacen('-', " ", 1);
            chat.say("lobby", &text, id).await;
        }
        let ids: Vec<String> = resend[me].iter().cloned().collect();
        hear_until(chat, me, heard, |h| {
            ids.iter().all(|id| h.acks.contains_key(id))
        })
        .await;
    }
    let log = log_in_redis(&redis, "lobby");
    let seqs: Vec<u64> = log.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (1..=(BEFORE + 2 * EACH) as u64).collect::<Vec<_>>(),
        "every message once, no hole"
    );
    let in_log: BTreeMap<&str, u64> = log.iter().map(|(s, id)| (id.as_str(), *s)).collect();
    assert_eq!(in_log.len(), log.len(), "no client id stored twice");
    for (me, heard) in [("alice", &heard_a), ("bob", &heard_b)] {
        for (id, acks) in &heard.acks {
            for seq in acks {
                assert_eq!(
                    in_log.get(id.as_str()),
                    Some(seq),
                    "{me}: every ack of {id}"
                );
            }
        }
        // A sender's messages acknowledged at the first try are in the order sent.
        let firsts: Vec<u64> = (0..EACH)
            .map(|i| format!("{me}-{i}"))
            .filter(|id| !resend[me].contains(id))
            .map(|id| in_log[id.as_str()])
            .collect();
        assert!(firsts.is_sorted(), "{me}'s order");
    }
    // Live readers heard every message once, in order; a repeat only answers a resend.
    let total = log.len() as u64;
    tokio::join!(
        hear_until(&mut alice, "alice", &mut heard_a, |h| h.last() >= total),
        hear_until(&mut bob, "bob", &mut heard_b, |h| h.last() >= total)
    );
    for (me, heard) in [("alice", &heard_a), ("bob", &heard_b)] {
        let mut next = BEFORE as u64 + 1;
        for (seq, id) in &heard.said {
            if *seq == next {
                next += 1;
            } else {
                assert!(
                    *seq < next && resend[me].contains(id),
                    "{me} heard {seq} ({id}) when {next} was next"
                );
            }
        }
        assert_eq!(next, total + 1, "{me} heard them all");
    }
    // Readers who left before the burst come back on either node to exactly what they
    // missed.
    for (server, nick) in [(&first, "reader-1"), (&second, "reader-2")] {
        let back = resume(server, nick, "lobby", Some(left_at.clone())).await;
        assert_eq!(back.mode, HistoryMode::CatchUp);
        let missed: Vec<(u64, String)> = back
            .messages
            .iter()
            .map(|m| (m.seq, m.client_id.as_str().to_owned()))
            .collect();
        assert_eq!(missed, log[BEFORE..], "{nick}");
    }
}

/// Sends a direct message from `chat` to `to`.
async fn direct(chat: &mut Chat, to: &str, text: &str, client_id: &str) {
    chat.send(&ClientMsg::Direct {
        to: to.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
    })
    .await;
}

/// The next direct message `chat` receives: (id, text).
async fn next_direct(chat: &mut Chat) -> (MessageId, String) {
    loop {
        if let ServerMsg::Direct { id, text, .. } = chat.recv().await {
            return (id, text.as_str().to_owned());
        }
    }
}

#[actix_web::test]
async fn a_direct_message_crosses_nodes_live_and_is_caught_up_after_being_offline() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let mut alice = first.chat_as("alice", &["lobby"]).await;
    // Bob is only on the other node: his name is looked up in the cluster.
    let mut bob = second.chat_as("bob", &["lobby"]).await;
    direct(&mut alice, "bob", "psst", "d-1").await;
    assert_eq!(next_direct(&mut bob).await.1, "psst");
    assert_eq!(next_direct(&mut alice).await.1, "psst", "the sender's copy");
    // A second tab of Bob's on Alice's node: each tab gets each message once.
    let mut bob_tab = first
        .chat_with_token("bob", token_for("bob"), &["lobby"])
        .await;
    direct(&mut alice, "bob", "both tabs", "d-2").await;
    let (last_seen, text) = next_direct(&mut bob).await;
    assert_eq!(text, "both tabs");
    assert_eq!(next_direct(&mut bob_tab).await.1, "both tabs");
    bob.expect_silence(Duration::from_millis(300)).await;
    bob_tab.expect_silence(Duration::from_millis(10)).await;
    // Bob's first tab drops (his other tab keeps him online); what is sent meanwhile waits
    // in his log, and the tab catches up on another node, exactly.
    drop(bob);
    direct(&mut alice, "bob", "while you were away", "d-3").await;
    assert_eq!(next_direct(&mut bob_tab).await.1, "while you were away");
    let (mode, messages) = direct_catch_up(&first, "bob", last_seen).await;
    assert_eq!(mode, HistoryMode::CatchUp);
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["while you were away"]);
    // Nobody of that name online anywhere: refused, naming the message.
    direct(&mut alice, "nobody", "hello?", "d-4").await;
    loop {
        match next_event(&mut alice).await {
            ServerMsg::Error {
                code, client_id, ..
            } => {
                assert_eq!(code, ErrorCode::NoSuchUser);
                assert_eq!(client_id.unwrap().as_str(), "d-4");
                break;
            }
            // Her own copies of the earlier messages.
            ServerMsg::Direct { .. } => {}
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// Reads `chat`'s room messages into `out` as (seq, client id) until the one with `client_id`.
async fn said_through(chat: &mut Chat, client_id: &str, out: &mut Vec<(u64, String)>) {
    loop {
        if let ServerMsg::Said {
            seq, client_id: id, ..
        } = chat.recv().await
        {
            out.push((seq, id.as_str().to_owned()));
            if id.as_str() == client_id {
                return;
            }
        }
    }
}

#[actix_web::test]
async fn subscriber_connections_killed_or_overflowing_during_a_burst_lose_and_repeat_nothing() {
    // A tiny Pub/Sub output buffer: Redis drops a subscriber that falls 64 kB behind.
    let redis =
        RedisServer::start_with(&["--client-output-buffer-limit", "pubsub 64kb 32kb 1"]).await;
    // The third node reaches Redis through a link the test can stall. Big messages allowed:
    // the kernel's socket buffers on loopback take some 4 MB before Redis has to buffer
    // anything itself, which would take 20,000 small messages.
    let stalling = TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    // Room in each client's outbox for the whole burst: the test reads its three clients on
    // one thread, alongside other tests, and a stalled node delivers megabytes at once when
    // its link flows again; dropping a client as a slow consumer is not what this is about.
    let node_of = |url| {
        TestServer::spawn(Config {
            max_text_chars: 60_000,
            outbox_capacity: 10_000,
            ..node_config(url)
        })
    };
    let nodes = [
        node_of(redis.url()),
        node_of(redis.url()),
        node_of(format!("redis://{}/", stalling.addr)),
    ];
    let mut sender = nodes[0].chat_as("sender", &["lobby"]).await;
    let mut b = nodes[1].chat_as("b", &["lobby"]).await;
    let mut c = nodes[2].chat_as("c", &["lobby"]).await;
    const TOTAL: usize = 3000;
    const BIG: usize = 120;
    let text = "x".repeat(200);
    let huge = "y".repeat(60_000);
    let burst = async {
        let mut acked = Vec::new();
        for i in 0..TOTAL {
            sender.say("lobby", &text, &format!("m-{i}")).await;
            if i == TOTAL / 3 || i == 2 * TOTAL / 3 {
                // Twice, every subscriber connection is killed outright.
                redis.cmd(&["CLIENT", "KILL", "TYPE", "pubsub"]);
            }
            if i == TOTAL / 2 {
                // Midway, the third node's link stalls while 7 MB of messages go by: its
                // subscriber falls behind until Redis drops it.
                stalling.stall();
                for k in 0..BIG {
                    let id = format!("big-{k}");
                    sender.say("lobby", &huge, &id).await;
                    said_through(&mut sender, &id, &mut acked).await;
                }
                eventually("Redis drops the stalled subscriber", || async {
                    redis.output_buffer_disconnections() > 0
                })
                .await;
                stalling.flow();
            }
        }
        said_through(&mut sender, &format!("m-{}", TOTAL - 1), &mut acked).await;
        acked
    };
    // The third node hears nothing while its link is stalled (until Redis drops it, a few
    // seconds), and its client with it: a longer wait per message than STEP for both readers.
    let patience = Duration::from_secs(60);
    let (acked, seen_b, seen_c) = tokio::join!(
        burst,
        said_within(&mut b, TOTAL + BIG, patience),
        said_within(&mut c, TOTAL + BIG, patience)
    );
    let expected: Vec<u64> = (1..=(TOTAL + BIG) as u64).collect();
    let acked: Vec<u64> = acked.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(acked, expected, "sender: every seq exactly once, in order");
    for (who, seen) in [("b", &seen_b), ("c", &seen_c)] {
        let seqs: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, expected, "{who}: every seq exactly once, in order");
    }
    b.expect_silence(Duration::from_millis(300)).await;
    c.expect_silence(Duration::from_millis(10)).await;
}

/// The clients of `redis` other than the one asking.
fn clients(redis: &RedisServer) -> usize {
    let list: String = redis::from_redis_value(redis.cmd(&["CLIENT", "LIST"])).unwrap();
    list.lines()
        .filter(|l| !l.contains("cmd=client|list"))
        .count()
}

#[actix_web::test]
async fn a_node_speaks_to_redis_over_one_set_of_two_connections() {
    let redis = RedisServer::start().await;
    let node = node(&redis);
    // The engine (a message, presence), the room policies (a new room: written, published,
    // heard) and the relay (subscribed at start) all at work.
    let mut alice = node.chat_as("alice", &["lobby"]).await;
    alice.say("lobby", "hello", "c-1").await;
    said(&mut alice, 1).await;
    alice
        .send(&ClientMsg::CreateRoom {
            room: "owned".parse().unwrap(),
            private: false,
            max_members: None,
        })
        .await;
    // Created (stored and published by the policy script), then joined.
    while !matches!(alice.recv().await, ServerMsg::Joined { room, .. } if room.as_str() == "owned")
    {
    }
    // One connection for commands, one for Pub/Sub: whatever uses Redis shares them.
    assert_eq!(clients(&redis), 2);
}

#[actix_web::test]
async fn client_pause_makes_sends_wait_and_nothing_is_lost_or_doubled() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let mut alice = first.chat_as("alice", &["lobby"]).await;
    let mut bob = second.chat_as("bob", &["lobby"]).await;
    redis.cmd(&["CLIENT", "PAUSE", "1500", "WRITE"]);
    for i in 0..10 {
        alice
            .say("lobby", &format!("paused {i}"), &format!("p-{i}"))
            .await;
    }
    // The writes wait for the pause to end (well within the response timeout), then go
    // through in order.
    let acked = said(&mut alice, 10).await;
    let seen = said(&mut bob, 10).await;
    assert_eq!(acked, seen);
    let seqs: Vec<u64> = acked.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    let all = resume(&second, "carol", "lobby", None).await;
    assert_eq!(all.messages.len(), 10);
}

#[actix_web::test]
async fn a_node_cut_off_from_redis_refuses_sends_reports_unready_and_recovers_by_itself() {
    let redis = RedisServer::start().await;
    let mut proxy = TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let cut_off = node_at(format!("redis://{}/", proxy.addr));
    let fine = node(&redis);
    let mut alice = cut_off.chat_as("alice", &["lobby"]).await;
    let mut bob = fine.chat_as("bob", &["lobby"]).await;
    eventually("the node is ready", || async {
        http_get(cut_off.addr, "/readyz").await.0 == 200
    })
    .await;
    proxy.stop();
    eventually("/readyz is 503 while Redis is out of reach", || async {
        http_get(cut_off.addr, "/readyz").await.0 == 503
    })
    .await;
    alice.say("lobby", "into the void", "v-1").await;
    match next_event(&mut alice).await {
        ServerMsg::Error {
            code, client_id, ..
        } => {
            assert_eq!(code, ErrorCode::StoreFailed);
            assert_eq!(client_id.unwrap().as_str(), "v-1");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // Meanwhile the rest of the cluster goes on.
    bob.say("lobby", "while you were cut off", "b-1").await;
    assert_eq!(said(&mut bob, 1).await[0].0, 1);
    proxy.resume().await;
    eventually("/readyz recovers", || async {
        http_get(cut_off.addr, "/readyz").await.0 == 200
    })
    .await;
    // Alice's node caught up on what it missed, and her resend goes through.
    alice.say("lobby", "into the void", "v-1").await;
    let seen = said(&mut alice, 2).await;
    assert_eq!(
        seen,
        [
            (1, "while you were cut off".to_owned()),
            (2, "into the void".to_owned())
        ]
    );
    assert_eq!(said(&mut bob, 1).await, [(2, "into the void".to_owned())]);
}

/// The answer to a bare `hello` as `nick` with `token`: welcome (true) or nick_taken (false).
async fn try_nick(server: &TestServer, nick: &str, token: &str) -> (bool, Chat) {
    let mut chat = server.chat_socket().await;
    chat.send(&ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token.parse().unwrap(),
        rooms: vec![],
        since: BTreeMap::new(),
        epochs: BTreeMap::new(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    })
    .await;
    let welcomed = match chat.recv_any().await {
        ServerMsg::Welcome { .. } => true,
        ServerMsg::Error {
            code: ErrorCode::NickTaken,
            ..
        } => false,
        other => panic!("expected welcome or nick_taken, got {other:?}"),
    };
    (welcomed, chat)
}

#[actix_web::test]
async fn two_nodes_racing_for_one_nickname_give_exactly_one_winner() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    for round in 0..20 {
        // The same name, spelt differently: one nickname ignoring case.
        let (nick, lower) = (format!("Racer{round}"), format!("racer{round}"));
        let (a, b) = tokio::join!(
            try_nick(&first, &nick, "first-node-token-0001"),
            try_nick(&second, &lower, "second-node-token-002")
        );
        assert!(
            a.0 != b.0,
            "{nick}: exactly one of the two gets it ({}, {})",
            a.0,
            b.0
        );
    }
}

#[actix_web::test]
async fn members_typing_renames_and_the_room_list_span_the_nodes() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let mut alice = first.chat_as("alice", &["lobby"]).await;
    // Bob on the other node sees Alice in the member list.
    let mut bob = second.chat_socket().await;
    bob.send(&ClientMsg::Hello {
        nick: "bob".parse().unwrap(),
        token: token_for("bob"),
        rooms: vec!["lobby".parse().unwrap()],
        since: BTreeMap::new(),
        epochs: BTreeMap::new(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    })
    .await;
    let members = loop {
        if let ServerMsg::Joined { members, .. } = bob.recv_any().await {
            break members;
        }
    };
    let names: Vec<&str> = members.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(common::presence(&alice.recv().await), "lobby +bob");
    // Typing and renames cross too.
    alice
        .send(&ClientMsg::Typing {
            room: "lobby".parse().unwrap(),
        })
        .await;
    loop {
        if let ServerMsg::Typing { user, active, .. } = bob.recv().await {
            assert_eq!((user.as_str(), active), ("alice", true));
            break;
        }
    }
    alice
        .send(&ClientMsg::Rename {
            nick: "alicia".parse().unwrap(),
        })
        .await;
    loop {
        if let ServerMsg::Renamed { from, to } = bob.recv().await {
            assert_eq!((from.as_str(), to.as_str()), ("alice", "alicia"));
            break;
        }
    }
    // The old name is free again, across the cluster; the new one is taken.
    assert!(try_nick(&second, "alice", "someone-else-token-01").await.0);
    assert!(!try_nick(&second, "alicia", "someone-else-token-02").await.0);
    // One room list for the whole cluster.
    let _carol = second.chat_as("carol", &["rust"]).await;
    assert_eq!(
        room_counts(&mut bob).await,
        [("lobby".to_owned(), 2), ("rust".to_owned(), 1)]
    );
    // Leaving on one node is leaving the room for everyone.
    drop(alice);
    // (The window may also carry the other "alice" that came and went above.)
    loop {
        let event = bob.recv().await;
        assert!(!common::arrived(&event, "alicia"), "{event:?}");
        if common::departed(&event, "alicia") {
            break;
        }
    }
}

/// The room list of the cluster, as `chat` is told it.
async fn room_counts(chat: &mut Chat) -> Vec<(String, u32)> {
    chat.send(&ClientMsg::ListRooms).await;
    loop {
        if let ServerMsg::Rooms { rooms } = chat.recv().await {
            return rooms
                .iter()
                .map(|r| (r.name.as_str().to_owned(), r.members))
                .collect();
        }
    }
}

#[actix_web::test]
async fn many_users_joining_and_leaving_at_once_end_in_redis_where_each_ended() {
    // A node runs its users' presence changes side by side, each user's in order
    // (cluster/presence.rs). Here the end state under churn: the shared presence must hold
    // exactly who stayed. (A swap of one user's join and leave is not provoked on loopback:
    // with work dealt to the lanes round-robin, ignoring users, this still passed — the
    // lanes are rarely busy long enough to overtake one another.)
    const USERS: usize = 24;
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let mut users = Vec::with_capacity(USERS);
    for i in 0..USERS {
        users.push(first.chat_as(&format!("churn{i:02}"), &[]).await);
    }
    let room: shared::RoomName = "churn".parse().unwrap();
    // All at once: join, leave, join, leave; the even ones join a third time.
    for round in 0..5 {
        for (i, user) in users.iter_mut().enumerate() {
            let message = match (round, i % 2) {
                (1 | 3, _) => ClientMsg::Leave { room: room.clone() },
                (4, 1) => continue,
                _ => ClientMsg::Join {
                    room: room.clone(),
                    since: None,
                    epoch: None,
                },
            };
            user.send(&message).await;
        }
    }
    let stayed: Vec<String> = (0..USERS)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("churn{i:02}"))
        .collect();
    // Seen from the other node: the room holds exactly those who stayed, once the first
    // node's changes are all in.
    let mut watcher = second.chat_as("watcher", &[]).await;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let counts = room_counts(&mut watcher).await;
        let churn = counts.iter().find(|(name, _)| name == "churn");
        if churn.is_some_and(|&(_, members)| members as usize == stayed.len()) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the room list stays at {counts:?}, not churn with {}",
            stayed.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The count can pass through the right number while the last changes are still on
    // their way (one user's leave before another's join): the members are asked until they
    // are exactly those who stayed, or the step's time is up.
    let mut expected = stayed.clone();
    expected.push("watcher".to_owned());
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        watcher
            .send(&ClientMsg::Join {
                room: room.clone(),
                since: None,
                epoch: None,
            })
            .await;
        let (count, members) = loop {
            if let ServerMsg::Joined { count, members, .. } = watcher.recv().await {
                break (count, members);
            }
        };
        let names: Vec<String> = members.iter().map(|n| n.as_str().to_owned()).collect();
        if (count as usize, &names) == (expected.len(), &expected) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the room holds {names:?} ({count}), not {expected:?}"
        );
        watcher.send(&ClientMsg::Leave { room: room.clone() }).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_node_killed_loses_nothing_acknowledged_its_users_leave_and_reclaim_their_names() {
    let redis = RedisServer::start().await;
    let url = redis.url();
    let doomed = Process::start(&[
        "--redis",
        &url,
        "--rate-per-sec",
        "100000",
        "--rate-burst",
        "100000",
    ])
    .await;
    let doomed_server = TestServer::at(doomed.addr);
    let survivor = node(&redis);
    let mut bob = survivor.chat_as("bob", &["lobby"]).await;
    let mut alice = doomed_server.chat_as("alice", &["lobby"]).await;
    // Alice sends as fast as acknowledgements come back, until her node dies under her.
    let mut acked = Vec::new();
    let mut i = 0;
    let killed = loop {
        alice
            .say("lobby", &format!("m{i}"), &format!("m-{i}"))
            .await;
        i += 1;
        let Some(ServerMsg::Said { seq, .. }) = tokio::time::timeout(STEP, async {
            loop {
                match alice.ws.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                        if let Ok(said @ ServerMsg::Said { .. }) = shared::decode(&text) {
                            return Some(said);
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return None,
                }
            }
        })
        .await
        .ok()
        .flatten() else {
            break true;
        };
        acked.push(seq);
        if acked.len() == 200 {
            doomed.signal("KILL");
        }
    };
    assert!(killed && acked.len() >= 200);
    // Every acknowledged message is in the log.
    let log = resume(
        &survivor,
        "carol",
        "lobby",
        Some((0, epoch_of(&survivor).await)),
    )
    .await;
    let stored: Vec<u64> = log.messages.iter().map(|m| m.seq).collect();
    for seq in &acked {
        assert!(stored.contains(seq), "acknowledged seq {seq} is missing");
    }
    // Bob hears that Alice left within 15 s (the node's lease runs out, a sweeper acts).
    let left = tokio::time::timeout(Duration::from_secs(15), async {
        // Not `recv`, whose wait for one event is shorter than the lease.
        while let Some(Ok(frame)) = bob.ws.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame
                && let Ok(event) = shared::decode(&text)
                && common::departed(&event, "alice")
            {
                return;
            }
        }
        panic!("bob's connection ended");
    })
    .await;
    assert!(left.is_ok(), "no member_left for alice within 15 s");
    // Alice, with her token, takes her name back at once on the surviving node.
    assert!(
        try_nick(&survivor, "alice", token_for("alice").as_str())
            .await
            .0
    );
}

/// The lobby's epoch as a fresh reader sees it.
async fn epoch_of(server: &TestServer) -> Epoch {
    resume(server, "epoch-probe", "lobby", None).await.epoch
}

#[actix_web::test]
async fn retention_by_count_and_by_age_works_in_cluster_mode() {
    let redis = RedisServer::start().await;
    let config = |retention_messages, retention_age| Config {
        redis: Some(redis.url()),
        heartbeat_interval: Duration::from_secs(20),
        client_timeout: Duration::from_secs(60),
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        retention_messages,
        retention_age,
        retention_interval: Duration::from_millis(100),
        ..Config::default()
    };
    // By count: the newest five stay; a client behind them is reset.
    let counted = TestServer::spawn(config(Some(5), None));
    let mut alice = counted.chat_as("alice", &["kept"]).await;
    for i in 0..12 {
        alice.say("kept", &format!("m{i}"), &format!("m-{i}")).await;
    }
    said(&mut alice, 12).await;
    let epoch = resume(&counted, "probe", "kept", None).await.epoch;
    let latest = resume(&counted, "probe2", "kept", None).await;
    let seqs: Vec<u64> = latest.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [8, 9, 10, 11, 12]);
    let behind = resume(&counted, "behind", "kept", Some((3, epoch.clone()))).await;
    assert_eq!(behind.mode, HistoryMode::Reset);
    let close = resume(&counted, "close", "kept", Some((10, epoch))).await;
    assert_eq!(close.mode, HistoryMode::CatchUp);
    // By age: everything older than a second goes; numbering goes on.
    let aged = TestServer::spawn(config(None, Some(Duration::from_secs(1))));
    let mut bob = aged.chat_as("bob", &["aging"]).await;
    for i in 0..5 {
        bob.say("aging", &format!("old {i}"), &format!("o-{i}"))
            .await;
    }
    said(&mut bob, 5).await;
    eventually("retention empties the room", || async {
        let probe = resume(&aged, "age-probe", "aging", None).await;
        probe.messages.is_empty()
    })
    .await;
    bob.say("aging", "new", "n-1").await;
    assert_eq!(said(&mut bob, 1).await, [(6, "new".to_owned())]);
}

#[actix_web::test]
async fn a_log_that_goes_backwards_in_redis_gets_a_new_epoch_and_every_reader_is_reset() {
    let redis = RedisServer::start().await;
    let server = node(&redis);
    let mut alice = server.chat_as("alice", &["lobby"]).await;
    for i in 0..10 {
        alice
            .say("lobby", &format!("m{i}"), &format!("m-{i}"))
            .await;
    }
    said(&mut alice, 10).await;
    let old = resume(&server, "probe", "lobby", None).await.epoch;
    // What a failover to a replica that missed the last three writes looks like: the same
    // epoch, the log and its counter three messages back.
    rewind_lobby(&redis, 10, 7);
    // The next message takes number 8 again, under the same epoch: the node notices it is not
    // the 8 it delivered, gives the log a new epoch, and resets its readers.
    alice.say("lobby", "after the failover", "f-1").await;
    let mut reset = None;
    while reset.is_none() {
        if let ServerMsg::History {
            mode,
            messages,
            epoch,
            ..
        } = alice.recv_any().await
        {
            assert_eq!(mode, HistoryMode::Reset);
            reset = Some((messages, epoch));
        }
    }
    let (messages, epoch) = reset.unwrap();
    assert_ne!(epoch, old);
    let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.last(), Some(&"after the failover"));
    // A client resuming from seq 9 of the old epoch is reset too, not served the new 9.
    let back = resume(&server, "bob", "lobby", Some((9, old))).await;
    assert_eq!(back.mode, HistoryMode::Reset);
}

/// Takes the lobby's log back from `last` to `to` in place, under the same epoch: what a
/// failover to a replica that missed the newest writes leaves.
fn rewind_lobby(redis: &RedisServer, last: u64, to: u64) {
    for seq in (to + 1)..=last {
        redis.cmd(&["XDEL", "chat:{r:lobby}:log", &format!("{seq}-0")]);
    }
    redis.cmd(&["XSETID", "chat:{r:lobby}:log", &format!("{to}-0")]);
    redis.cmd(&["HSET", "chat:{r:lobby}:meta", "seq", &to.to_string()]);
}

/// The lobby's epoch as Redis holds it.
fn lobby_epoch_in_redis(redis: &RedisServer) -> String {
    redis::from_redis_value(redis.cmd(&["HGET", "chat:{r:lobby}:meta", "epoch"])).unwrap()
}

/// Settings that make Redis's slow log record every command, with its arguments and the
/// client that sent it.
const LOG_EVERY_COMMAND: [&str; 4] = [
    "--slowlog-log-slower-than",
    "0",
    "--slowlog-max-len",
    "100000",
];

/// The client addresses (one per connection) that ran replace_epoch.lua on the lobby with
/// `seen` as the epoch seen going backwards, as the slow log recorded them
/// ([`LOG_EVERY_COMMAND`]).
fn lobby_epoch_replacers(redis: &RedisServer, seen: &str) -> BTreeSet<String> {
    let redis::Value::Array(entries) = redis.cmd(&["SLOWLOG", "GET", "-1"]) else {
        panic!("SLOWLOG GET answers a list");
    };
    // Each entry: id, time, duration, [arguments], client address, client name. The script's
    // call: EVALSHA (or EVAL) <script> 1 <meta key> <seen epoch> <new epoch>.
    let call = ["1", "chat:{r:lobby}:meta", seen];
    entries
        .into_iter()
        .filter_map(|entry| {
            let redis::Value::Array(fields) = entry else {
                return None;
            };
            let args: Vec<String> = redis::from_redis_value(fields.get(3)?.clone()).ok()?;
            let client: String = redis::from_redis_value(fields.get(4)?.clone()).ok()?;
            let script = args.first().is_some_and(|c| {
                c.eq_ignore_ascii_case("evalsha") || c.eq_ignore_ascii_case("eval")
            });
            (script && args.len() == 6 && args[2..5] == call).then_some(client)
        })
        .collect()
}

/// What `chat` reads of the lobby from its reset on: the reset history's epoch, then its
/// messages and the live ones after it as (seq, text), once every text of `until` is in. A
/// live message before the reset, or a second history, fails the test.
async fn reset_then(chat: &mut Chat, until: &[&str]) -> (Epoch, Vec<(u64, String)>) {
    let mut reset: Option<Epoch> = None;
    let mut seen: Vec<(u64, String)> = Vec::new();
    loop {
        match chat.recv_any().await {
            ServerMsg::History {
                mode,
                messages,
                epoch,
                ..
            } => {
                assert!(
                    reset.is_none(),
                    "a second history ({mode:?}, epoch {epoch}) after the reset to {reset:?}"
                );
                assert_eq!(mode, HistoryMode::Reset);
                reset = Some(epoch);
                seen = messages
                    .iter()
                    .map(|m| (m.seq, m.text.as_str().to_owned()))
                    .collect();
            }
            ServerMsg::Said { seq, text, .. } => {
                assert!(reset.is_some(), "{seq} {text:?} came live before the reset");
                seen.push((seq, text.as_str().to_owned()));
            }
            _ => {}
        }
        if let Some(epoch) = &reset
            && until.iter().all(|t| seen.iter().any(|(_, s)| s == t))
        {
            return (epoch.clone(), seen);
        }
    }
}

/// `texts` numbered from 1.
fn numbered(texts: &[&str]) -> Vec<(u64, String)> {
    (1..).zip(texts.iter().map(|t| (*t).to_owned())).collect()
}

/// After a reset: the first of `readers` says `text`, and each of them gets it live as `seq`,
/// with no other history on the way and nothing after it (no node goes back to another
/// epoch).
async fn then_live(readers: &mut [&mut Chat], text: &str, seq: u64) {
    readers[0].say("lobby", text, text).await;
    for reader in readers.iter_mut() {
        match next_event(reader).await {
            ServerMsg::Said {
                seq: s, text: t, ..
            } => assert_eq!((s, t.as_str()), (seq, text)),
            other => panic!("expected {text} live, got {other:?}"),
        }
    }
    for reader in readers.iter_mut() {
        no_messages(reader, Duration::from_millis(200)).await;
    }
}

/// Asserts that no message and no history reaches `chat` for `quiet` (presence may: nodes
/// enter their users again after Redis lost them).
async fn no_messages(chat: &mut Chat, quiet: Duration) {
    let _ = tokio::time::timeout(quiet, async {
        loop {
            match chat.recv_any().await {
                ServerMsg::Presence { .. } | ServerMsg::Typing { .. } => {}
                other => panic!("expected nothing more, got {other:?}"),
            }
        }
    })
    .await;
}

#[actix_web::test]
async fn after_flushall_a_read_before_any_new_message_resets_the_node_to_the_new_log() {
    let redis = RedisServer::start().await;
    let server = node(&redis);
    let mut alice = server.chat_as("alice", &["lobby"]).await;
    for i in 0..5 {
        alice
            .say("lobby", &format!("old {i}"), &format!("old-{i}"))
            .await;
    }
    said(&mut alice, 5).await;
    let old = Epoch::try_from(lobby_epoch_in_redis(&redis).as_str()).unwrap();
    redis.cmd(&["FLUSHALL"]);
    // Bob comes back before anyone sends: his read makes the log again, in a new epoch, and
    // is the node's first news of it. He is reset to the empty new log (not served the old
    // messages the node still remembers under the new epoch), and so is Alice, reading live.
    let back = resume(&server, "bob", "lobby", Some((3, old.clone()))).await;
    assert_eq!(back.mode, HistoryMode::Reset);
    assert_ne!(back.epoch, old);
    assert_eq!(back.epoch.as_str(), lobby_epoch_in_redis(&redis));
    let texts: Vec<&str> = back.messages.iter().map(|m| m.text.as_str()).collect();
    assert!(texts.is_empty(), "the new log is empty, not {texts:?}");
    let mut bob = back.chat;
    let (epoch, seen) = reset_then(&mut alice, &[]).await;
    assert_eq!(epoch, back.epoch);
    assert!(seen.is_empty(), "{seen:?}");
    then_live(&mut [&mut alice, &mut bob], "new", 1).await;
}

/// Alice and Carol in the lobby on `first`, Bob and Dave on `second` (the epoch tests' four
/// readers, in that order).
async fn lobby_on_two_nodes(first: &TestServer, second: &TestServer) -> [Chat; 4] {
    [
        first.chat_as("alice", &["lobby"]).await,
        first.chat_as("carol", &["lobby"]).await,
        second.chat_as("bob", &["lobby"]).await,
        second.chat_as("dave", &["lobby"]).await,
    ]
}

/// A reader coming back to each of `first` and `second` from `since` in epoch `old` is reset
/// to epoch `new`; what each got.
async fn reset_on_both(
    first: &TestServer,
    second: &TestServer,
    since: u64,
    old: &str,
    new: &str,
) -> Vec<common::Resumed> {
    let mut backs = Vec::new();
    for server in [first, second] {
        let back = resume(
            server,
            "back",
            "lobby",
            Some((since, Epoch::try_from(old).unwrap())),
        )
        .await;
        assert_eq!((back.mode, back.epoch.as_str()), (HistoryMode::Reset, new));
        backs.push(back);
    }
    backs
}

#[actix_web::test]
async fn two_nodes_noticing_at_once_that_a_log_went_backwards_agree_on_one_new_epoch() {
    let redis = RedisServer::start_with(&LOG_EVERY_COMMAND).await;
    let (first, second) = (node(&redis), node(&redis));
    let [mut alice, mut carol, mut bob, mut dave] = lobby_on_two_nodes(&first, &second).await;
    let texts: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    for text in &texts {
        alice.say("lobby", text, text).await;
    }
    for reader in [&mut alice, &mut carol, &mut bob, &mut dave] {
        said(reader, 10).await;
    }
    let old = lobby_epoch_in_redis(&redis);
    rewind_lobby(&redis, 10, 7);
    // Alice and Bob send at the same moment, each on their node: both nodes are offered
    // numbers they delivered for other messages, and both ask Redis for a new epoch.
    alice.say("lobby", "alice after", "a-after").await;
    bob.say("lobby", "bob after", "b-after").await;
    let after = ["alice after", "bob after"];
    let (a, c, b, d) = tokio::join!(
        reset_then(&mut alice, &after),
        reset_then(&mut carol, &after),
        reset_then(&mut bob, &after),
        reset_then(&mut dave, &after)
    );
    assert_eq!(
        lobby_epoch_replacers(&redis, &old).len(),
        2,
        "both nodes raced to replace the epoch"
    );
    let new = lobby_epoch_in_redis(&redis);
    assert_ne!(new, old);
    for (who, (epoch, seen)) in [("alice", &a), ("carol", &c), ("bob", &b), ("dave", &d)] {
        assert_eq!(epoch.as_str(), new, "{who} is reset to the one new epoch");
        let seqs: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "{who}");
        let kept: Vec<&str> = seen[..7].iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(kept, texts[..7], "{who}");
        assert_eq!(seen, &a.1, "{who} has alice's order");
    }
    then_live(
        &mut [&mut alice, &mut carol, &mut bob, &mut dave],
        "settled",
        10,
    )
    .await;
    reset_on_both(&first, &second, 9, &old, &new).await;
}

#[actix_web::test]
async fn nodes_reconnecting_to_redis_restarted_on_an_older_copy_agree_on_one_new_epoch() {
    let mut redis = RedisServer::start_with(&LOG_EVERY_COMMAND).await;
    let (first, second) = (node(&redis), node(&redis));
    let [mut alice, mut carol, mut bob, mut dave] = lobby_on_two_nodes(&first, &second).await;
    let texts: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    for (i, text) in texts.iter().enumerate() {
        alice.say("lobby", text, text).await;
        if i == 4 {
            // Every reader has the first five: the copy holds them (fsynced before they were
            // delivered) and nothing later.
            for reader in [&mut alice, &mut carol, &mut bob, &mut dave] {
                said(reader, 5).await;
            }
        }
    }
    let copy = redis.snapshot();
    for reader in [&mut alice, &mut carol, &mut bob, &mut dave] {
        said(reader, 5).await;
    }
    let old = lobby_epoch_in_redis(&redis);
    // A failover to a copy that missed the last five messages: both nodes lose their
    // connections and come back to a log that is five messages shorter, in the same epoch.
    // Nobody sends: the nodes find out by reading the log after the reconnection.
    redis.restart_on(copy.path()).await;
    let (a, c, b, d) = tokio::join!(
        reset_then(&mut alice, &[]),
        reset_then(&mut carol, &[]),
        reset_then(&mut bob, &[]),
        reset_then(&mut dave, &[])
    );
    let new = lobby_epoch_in_redis(&redis);
    assert_ne!(new, old);
    let kept: Vec<&str> = texts[..5].iter().map(String::as_str).collect();
    for (who, (epoch, seen)) in [("alice", &a), ("carol", &c), ("bob", &b), ("dave", &d)] {
        assert_eq!(epoch.as_str(), new, "{who} is reset to the one new epoch");
        assert_eq!(seen, &numbered(&kept), "{who}");
    }
    assert!(!lobby_epoch_replacers(&redis, &old).is_empty());
    then_live(
        &mut [&mut bob, &mut alice, &mut carol, &mut dave],
        "after",
        6,
    )
    .await;
    for back in reset_on_both(&first, &second, 10, &old, &new).await {
        let texts: Vec<&str> = back.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["m0", "m1", "m2", "m3", "m4", "after"]);
    }
}

#[actix_web::test]
async fn a_node_reconnecting_to_a_log_another_node_gave_a_new_epoch_resets_its_readers_to_it() {
    let redis = RedisServer::start_with(&LOG_EVERY_COMMAND).await;
    let mut proxy = TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let cut_off = node_at(format!("redis://{}/", proxy.addr));
    let fine = node(&redis);
    let mut alice = cut_off.chat_as("alice", &["lobby"]).await;
    let mut carol = cut_off.chat_as("carol", &["lobby"]).await;
    let mut bob = fine.chat_as("bob", &["lobby"]).await;
    let texts: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    for text in &texts {
        bob.say("lobby", text, text).await;
    }
    for reader in [&mut alice, &mut carol, &mut bob] {
        said(reader, 10).await;
    }
    let old = lobby_epoch_in_redis(&redis);
    proxy.stop();
    eventually("the node knows it is cut off", || async {
        http_get(cut_off.addr, "/readyz").await.0 == 503
    })
    .await;
    // The log goes back while the node is away; the other node notices with the next
    // message and gives it a new epoch.
    rewind_lobby(&redis, 10, 7);
    bob.say("lobby", "after", "after").await;
    let (new, seen_b) = reset_then(&mut bob, &["after"]).await;
    let mut expected: Vec<&str> = texts[..7].iter().map(String::as_str).collect();
    expected.push("after");
    assert_eq!(seen_b, numbered(&expected));
    assert_eq!(new.as_str(), lobby_epoch_in_redis(&redis));
    // Back, the node finds the new epoch (and a log shorter than what it delivered): its
    // readers are reset to that epoch, without waiting for another message.
    proxy.resume().await;
    let (a, c) = tokio::join!(reset_then(&mut alice, &[]), reset_then(&mut carol, &[]));
    for (who, (epoch, seen)) in [("alice", &a), ("carol", &c)] {
        assert_eq!(
            epoch, &new,
            "{who} is reset to the epoch the other node gave"
        );
        assert_eq!(seen, &numbered(&expected), "{who}");
    }
    assert_eq!(
        lobby_epoch_replacers(&redis, &old).len(),
        1,
        "one node replaced it"
    );
    then_live(&mut [&mut alice, &mut carol, &mut bob], "back", 9).await;
    assert_eq!(new.as_str(), lobby_epoch_in_redis(&redis));
}

/// Whether Redis has `field` in the hash `key`.
fn has(redis: &RedisServer, key: &str, field: &str) -> bool {
    matches!(redis.cmd(&["HEXISTS", key, field]), redis::Value::Int(1))
}

/// A room's members hash (in the room's slot: its own presence).
fn members_of(room: &str) -> String {
    format!("chat:{{r:{room}}}:members")
}

#[actix_web::test]
async fn presence_wiped_from_redis_is_entered_again_by_the_nodes() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let _alice = first.chat_as("alice", &["lobby"]).await;
    let _bob = second.chat_as("bob", &["lobby"]).await;
    redis.cmd(&["FLUSHALL"]);
    // A nickname is held under its look-alike keys (backend/src/names.rs), "c:" its
    // skeleton ignoring case, each a lease of its own (nick.lua).
    assert!(!has(&redis, "chat:{n:c:alice}", "owner"));
    eventually("both nodes put their users back", || async {
        has(&redis, "chat:{n:c:alice}", "owner")
            && has(&redis, "chat:{n:c:bob}", "owner")
            && matches!(
                redis.cmd(&["HLEN", &members_of("lobby")]),
                redis::Value::Int(2)
            )
    })
    .await;
    assert!(!try_nick(&second, "alice", "someone-else-token-01").await.0);
}

#[actix_web::test]
async fn a_redis_outage_longer_than_a_lease_does_not_make_live_nodes_leave() {
    let mut redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let _alice = first.chat_as("alice", &["lobby"]).await;
    let mut bob = second.chat_as("bob", &["lobby"]).await;
    redis.kill9();
    // Down for longer than a node's lease: every lease has run out when Redis comes back.
    tokio::time::sleep(Duration::from_secs(6)).await;
    redis.restart().await;
    // The live nodes renew within the sweeper's grace: nobody is swept.
    bob.expect_silence(Duration::from_secs(5)).await;
    assert!(has(&redis, &members_of("lobby"), &user_key_of("alice")));
}

/// The server's key for a user: the first 16 bytes of SHA-256 of their token, in hex.
fn user_key_of(nick: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(token_for(nick).as_str().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Presence kept by an older version (every room's members and every nickname lease in the
/// shared `{p}` slot, the room list a set) is deleted by the first node of this one, which
/// keeps each room's presence in the room's own slot and each nickname key's lease in its
/// own: the room list works and the stale entries are gone.
#[actix_web::test]
async fn presence_of_the_older_layout_is_deleted_at_start() {
    let redis = RedisServer::start().await;
    redis.cmd(&["HSET", "chat:{p}:members:lobby", "ghost-key", "ghost"]);
    redis.cmd(&["ZADD", "chat:{p}:order:lobby", "0", "ghost\0ghost"]);
    redis.cmd(&["SADD", "chat:{p}:rooms", "lobby"]);
    redis.cmd(&[
        "HSET",
        "chat:{p}:nick:c:ghost",
        "owner",
        "ghost-key",
        "nick",
        "ghost",
    ]);
    let server = node(&redis);
    let mut alice = server.chat_as("alice", &["lobby"]).await;
    assert_eq!(room_counts(&mut alice).await, [("lobby".to_owned(), 1)]);
    for old in [
        "chat:{p}:members:lobby",
        "chat:{p}:order:lobby",
        "chat:{p}:nick:c:ghost",
    ] {
        assert_eq!(redis.cmd(&["EXISTS", old]), redis::Value::Int(0), "{old}");
    }
    assert!(has(&redis, &members_of("lobby"), &user_key_of("alice")));
}

/// A user who tries to rename to a look-alike of someone else's name (`Alice` looks like
/// `AIice`, whose capital I is an l) is refused and keeps the name they had: its lease is
/// not given back with the half of the new name that was theirs already (nicknames are
/// claimed key by key, nick.lua), so nobody else can take it.
#[actix_web::test]
async fn a_refused_rename_to_a_look_alike_keeps_the_name_the_user_has() {
    let redis = RedisServer::start().await;
    let (first, second) = (node(&redis), node(&redis));
    let (held, mut alice) = try_nick(&first, "alice", "alice-token-000000001").await;
    assert!(held);
    let (held, _lookalike) = try_nick(&second, "AIice", "lookalike-token-00001").await;
    assert!(held, "AIice does not look like alice ignoring case");
    alice
        .send(&ClientMsg::Rename {
            nick: "Alice".parse().unwrap(),
        })
        .await;
    let refused = alice
        .until("the rename's answer", |e| {
            matches!(e, ServerMsg::Error { .. })
        })
        .await;
    assert!(
        matches!(
            refused,
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                ..
            }
        ),
        "{refused:?}"
    );
    for node in [&first, &second] {
        let (taken, _) = try_nick(node, "ALICE", "someone-else-token-01").await;
        assert!(!taken, "alice is still alice's");
    }
}

/// Sends a direct message from `chat` and returns the sender's own copy of it (id, seq).
async fn direct_copy(chat: &mut Chat, to: &str, text: &str, client_id: &str) -> (u64, u64) {
    chat.send(&ClientMsg::Direct {
        to: to.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
    })
    .await;
    received_direct(chat, text).await
}

/// Waits for the direct message saying `text`; its (id, seq) in this reader's copy.
async fn received_direct(chat: &mut Chat, text: &str) -> (u64, u64) {
    match chat
        .until(
            text,
            |e| matches!(e, ServerMsg::Direct { text: t, .. } if t.as_str() == text),
        )
        .await
    {
        ServerMsg::Direct { id, seq, .. } => (id.0, seq),
        _ => unreachable!("until returns what it waited for"),
    }
}

/// Issue #32: direct messages between two users whose logs live on different shards of a
/// Redis Cluster (3 primaries). Each user's log counts its own ids, both copies share the
/// conversation's seq; read positions and `seen` count the seq; a catch-up by the reader's
/// own ids is exact; a resend is the original, once.
#[actix_web::test]
async fn direct_messages_between_users_on_different_shards_keep_one_conversation_order() {
    let cluster = common::redis_cluster::RedisCluster::start().await;
    let shard = |nick: &str| cluster.primary_index_of(&format!("chat:{{u:{}}}", user_key_of(nick)));
    let ann = "ann";
    let bo = (0..100)
        .map(|i| format!("bo{i}"))
        .find(|bo| shard(bo) != shard(ann))
        .expect("a name on another shard");
    let (first, second) = (
        TestServer::spawn(node_config(cluster.url())),
        TestServer::spawn(node_config(cluster.url())),
    );
    let mut a = first.chat_as(ann, &[]).await;
    let mut b = second.chat_as(&bo, &[]).await;

    // A note to herself first: Ann's log is one ahead of Bo's, and her own conversation
    // counts apart from theirs.
    assert_eq!(direct_copy(&mut a, ann, "note", "n1").await, (1, 1));
    let mut ann_copies = Vec::new();
    let mut bo_copies = Vec::new();
    for i in 0..3 {
        let text = format!("a{i}");
        ann_copies.push(direct_copy(&mut a, &bo, &text, &text).await);
        bo_copies.push(received_direct(&mut b, &text).await);
    }
    assert_eq!(ann_copies, [(2, 1), (3, 2), (4, 3)]);
    assert_eq!(bo_copies, [(1, 1), (2, 2), (3, 3)]);

    // Bo reads up to the second: Ann sees it, by the conversation's seq.
    b.send(&ClientMsg::MarkDirectRead {
        with: ann.parse().unwrap(),
        seq: 2,
    })
    .await;
    match a
        .until("seen", |e| matches!(e, ServerMsg::Seen { .. }))
        .await
    {
        ServerMsg::Seen {
            user,
            room,
            position,
        } => assert_eq!((user.as_str(), room, position), (bo.as_str(), None, 2)),
        _ => unreachable!(),
    }

    // Bo answers; a resend of Ann's first is the original, nothing new for Bo.
    assert_eq!(direct_copy(&mut b, ann, "b0", "b0").await, (4, 4));
    assert_eq!(received_direct(&mut a, "b0").await, (5, 4));
    assert_eq!(direct_copy(&mut a, &bo, "a0", "a0").await, (2, 1));

    // Bo comes back on the other node from his first message: exactly the rest, in his ids.
    drop(b);
    let (mode, messages) = direct_catch_up(&first, &bo, MessageId(1)).await;
    assert_eq!(mode, HistoryMode::CatchUp);
    let got: Vec<(u64, u64, &str)> = messages
        .iter()
        .map(|m| (m.id.0, m.seq, m.text.as_str()))
        .collect();
    assert_eq!(got, [(2, 2, "a1"), (3, 3, "a2"), (4, 4, "b0")]);
}

/// Says hello as `nick` on `server` continuing direct messages after `since`: the
/// `direct_history` that follows (its mode and messages).
async fn direct_catch_up(
    server: &TestServer,
    nick: &str,
    since: MessageId,
) -> (HistoryMode, Vec<shared::DirectMessage>) {
    let mut back = server.chat_socket().await;
    back.send(&ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token_for(nick),
        rooms: vec![],
        since: BTreeMap::new(),
        epochs: BTreeMap::new(),
        direct_since: Some(since),
        direct_epoch: None,
        jwt: None,
    })
    .await;
    loop {
        if let ServerMsg::DirectHistory { mode, messages, .. } = back.recv_any().await {
            return (mode, messages);
        }
    }
}

/// Direct messages written by a version that kept them all in one slot (`{dm}`) are moved to
/// their users' slots by the first node that needs them: a reader's catch-up from the old ids
/// in the old epoch is exact, read positions are kept, and the conversation's next seq comes
/// after every old id (old positions were ids).
#[actix_web::test]
async fn direct_messages_of_the_older_layout_are_moved_to_their_users() {
    let redis = RedisServer::start().await;
    let (ann, bo) = (user_key_of("ann"), user_key_of("bo"));
    let epoch = "0123456789abcdef";
    redis.cmd(&["HSET", "chat:{dm}:meta", "epoch", epoch, "id", "7"]);
    redis.cmd(&["SADD", "chat:logs:users", &ann, &bo]);
    for (id, text) in [(5, "old one"), (7, "old two")] {
        let json = format!(
            r#"{{"id":{id},"from":"ann","to":"bo","text":"{text}","ts":1,"client_id":"o{id}"}}"#
        );
        for user in [&ann, &bo] {
            redis.cmd(&[
                "XADD",
                &format!("chat:{{dm}}:log:{user}"),
                &format!("{id}-0"),
                "m",
                &json,
            ]);
        }
    }
    redis.cmd(&["HSET", &format!("chat:{{dm}}:reads:{bo}"), "d:ann", "5"]);
    // Carol never had a direct message: her room position and her choice not to share them
    // were in the same slot, and move too.
    let carol = user_key_of("carol");
    redis.cmd(&[
        "HSET",
        &format!("chat:{{dm}}:reads:{carol}"),
        "r:lobby",
        "3",
        "s:private",
        "1",
    ]);

    let server = node(&redis);
    let mut back = server.chat_socket().await;
    back.send(&ClientMsg::Hello {
        nick: "bo".parse().unwrap(),
        token: token_for("bo"),
        rooms: vec![],
        since: BTreeMap::new(),
        epochs: BTreeMap::new(),
        direct_since: Some(MessageId(5)),
        direct_epoch: Some(epoch.parse().unwrap()),
        jwt: None,
    })
    .await;
    let mut positions = None;
    loop {
        match back.recv_all().await {
            ServerMsg::ReadPositions { directs, .. } => positions = Some(directs),
            ServerMsg::DirectHistory {
                mode,
                messages,
                epoch: now,
            } => {
                assert_eq!((mode, now.as_str()), (HistoryMode::CatchUp, epoch));
                let got: Vec<(u64, u64)> = messages.iter().map(|m| (m.id.0, m.seq)).collect();
                assert_eq!(got, [(7, 7)]);
                break;
            }
            _ => {}
        }
    }
    let positions = positions.expect("read positions before the direct history");
    assert_eq!(positions.get(&"ann".parse().unwrap()), Some(&5));
    let mut a = server.chat_as("ann", &[]).await;
    // Ann's log goes on after her old id 7; the conversation after every old id.
    assert_eq!(direct_copy(&mut a, "bo", "new", "n1").await, (8, 8));
    assert_eq!(received_direct(&mut back, "new").await, (8, 8));
    assert_eq!(
        redis.cmd(&["EXISTS", &format!("chat:{{dm}}:log:{ann}")]),
        redis::Value::Int(0)
    );

    let mut carol = server.chat_socket().await;
    carol.send(&common::hello("carol", &[])).await;
    let rooms = match carol
        .until("read positions", |e| {
            matches!(e, ServerMsg::ReadPositions { .. })
        })
        .await
    {
        ServerMsg::ReadPositions { rooms, .. } => rooms,
        _ => unreachable!(),
    };
    assert_eq!(rooms.get(&"lobby".parse().unwrap()), Some(&3));
    assert!(matches!(
        carol
            .until("sharing", |e| matches!(e, ServerMsg::Sharing { .. }))
            .await,
        ServerMsg::Sharing { reads: false }
    ));
}
