//! Cluster mode against a real `redis-server` (started by each test on a free loopback port,
//! with its own data directory and `appendfsync always`) and several real nodes: one order
//! per room for everybody, exact catch-up on any node, idempotent sends, and recovery from
//! Redis failures.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{Chat, TestServer, redis_server::RedisServer};
use shared::ServerMsg;

/// A node of the cluster at `redis`: no rate limit in the way, long heartbeats.
fn node(redis: &RedisServer) -> TestServer {
    TestServer::spawn(Config {
        redis: Some(redis.url()),
        heartbeat_interval: Duration::from_secs(5),
        client_timeout: Duration::from_secs(30),
        shutdown_timeout: Duration::from_secs(1),
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        ..Config::default()
    })
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
