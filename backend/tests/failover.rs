//! Cluster mode on a real Redis Cluster (three primaries with a replica each) when a primary
//! dies: what `--redis-wait-replicas` keeps and what it costs without it.
//!
//! The room's primary is killed while its replica is frozen and cut off (SIGSTOP, and the
//! primary closes its link: it has stopped taking the primary's writes, as a replica behind
//! on a broken link would be), then the replica is thawed and takes over. Acknowledged messages the replica never got are what a failover
//! can lose: with `--redis-wait-replicas 1` no message is acknowledged before a replica has
//! it, so none is lost, the seqs go on without a hole or a repeat, and every reader has each
//! message once; without it, the test shows the loss that docs/DEPLOYMENT.md states.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{collections::BTreeMap, time::Duration};

use backend::Config;
use common::{Chat, TestServer, redis_cluster::RedisCluster};
use shared::{ErrorCode, ServerMsg};

const ROOM: &str = "lobby";
/// The key whose slot holds the room (its meta hash).
const ROOM_KEY: &str = "chat:{r:lobby}:meta";
/// Messages sent before the replica is frozen, and while it is.
const BEFORE: usize = 10;
const FROZEN: usize = 10;

fn node(cluster: &RedisCluster, wait: bool) -> TestServer {
    TestServer::spawn(Config {
        redis_wait_replicas: u32::from(wait),
        redis_wait_timeout: Duration::from_millis(300),
        ..common::patient_config(Some(cluster.url()))
    })
}

/// Sends `client_id`s (text = the id) and returns, for each, the seq it was acknowledged
/// with, or none when the server refused to acknowledge it (`store_failed`: not stored, or
/// not yet safe). Other events are skipped.
async fn send_all(chat: &mut Chat, ids: &[String]) -> BTreeMap<String, Option<u64>> {
    for id in ids {
        chat.say(ROOM, id, id).await;
    }
    let mut answers = BTreeMap::new();
    while answers.len() < ids.len() {
        // A send held up by the dead primary may take the client's whole retry budget.
        let event = tokio::time::timeout(Duration::from_secs(20), chat.recv())
            .await
            .expect("every send is answered");
        match event {
            ServerMsg::Said { seq, client_id, .. } => {
                answers.insert(client_id.to_string(), Some(seq));
            }
            ServerMsg::Error {
                code: ErrorCode::StoreFailed,
                client_id: Some(client_id),
                ..
            } => {
                answers.insert(client_id.to_string(), None);
            }
            _ => {}
        }
    }
    answers
}

/// The room's log as Redis has it now: seq -> client_id.
fn log_of(cluster: &RedisCluster) -> BTreeMap<u64, String> {
    let redis::Value::Array(entries) =
        cluster
            .primary_of(ROOM_KEY)
            .cmd(&["XRANGE", "chat:{r:lobby}:log", "-", "+"])
    else {
        panic!("XRANGE answers an array");
    };
    let mut log = BTreeMap::new();
    for entry in entries {
        let redis::Value::Array(parts) = entry else {
            panic!("an entry is an array")
        };
        let redis::Value::Array(fields) = &parts[1] else {
            panic!("an entry has fields")
        };
        let text = |value: &redis::Value| match value {
            redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            other => panic!("a field is a string: {other:?}"),
        };
        if text(&fields[0]) != "m" {
            continue;
        }
        let json: serde_json::Value = serde_json::from_str(&text(&fields[1])).unwrap();
        log.insert(
            json["seq"].as_u64().unwrap(),
            json["client_id"].as_str().unwrap().to_owned(),
        );
    }
    log
}

/// Sends [`BEFORE`] messages, freezes the replica of the room's primary, sends [`FROZEN`]
/// more, kills the primary, thaws the replica and waits until it has taken over. Returns the
/// cluster, the reader's connection and every id with the seq it was acknowledged with.
async fn fail_over(
    wait: bool,
) -> (
    RedisCluster,
    TestServer,
    Chat,
    BTreeMap<String, Option<u64>>,
) {
    let mut cluster = RedisCluster::start().await;
    let (here, there) = (node(&cluster, wait), node(&cluster, wait));
    let mut ann = here.chat_as("ann", &[ROOM]).await;
    let bob = there.chat_as("bob", &[ROOM]).await;
    let ids: Vec<String> = (0..BEFORE + FROZEN).map(|i| format!("m{i:03}")).collect();
    let mut acked = send_all(&mut ann, &ids[..BEFORE]).await;
    assert!(
        acked.values().all(Option::is_some),
        "with a healthy replica every send is acknowledged: {acked:?}"
    );
    let primary = cluster.primary_index_of(ROOM_KEY);
    let replica = cluster.replica_index_of(primary);
    // Frozen, and cut off by its primary: what the primary stores from now on reaches no
    // replica (what was already on the way sits in the frozen replica's socket, and counts).
    cluster.nodes[replica].signal("STOP");
    cluster.nodes[primary].cmd(&["CLIENT", "KILL", "TYPE", "replica"]);
    acked.extend(send_all(&mut ann, &ids[BEFORE..]).await);
    let old_port = cluster.nodes[primary].port;
    cluster.nodes[primary].kill9();
    cluster.nodes[replica].signal("CONT");
    cluster.wait_for_failover(ROOM_KEY, old_port).await;
    // The old primary comes back, as the new one's replica: until then its shard has no
    // replica, and with --redis-wait-replicas 1 refuses every send (docs/DEPLOYMENT.md).
    cluster.nodes[primary].start_again().await;
    cluster.wait_until_ok().await;
    drop(ann);
    drop(here);
    (cluster, there, bob, acked)
}

/// With `--redis-wait-replicas 1`: nothing acknowledged is lost when the primary dies, the
/// messages refused meanwhile are stored once when resent, and the log and a reader on
/// another node have each message once, in one order without holes.
#[actix_web::test]
async fn with_wait_replicas_a_dead_primary_loses_nothing_acknowledged() {
    let (cluster, there, mut bob, acked) = fail_over(true).await;
    let refused: Vec<String> = acked
        .iter()
        .filter(|(_, seq)| seq.is_none())
        .map(|(id, _)| id.clone())
        .collect();
    assert_eq!(
        refused.len(),
        FROZEN,
        "no send is acknowledged while no replica takes it: {acked:?}"
    );
    // The client resends what was refused (same client_ids), on the node still up.
    let mut carol = there.chat_as("carol", &[ROOM]).await;
    let resent = send_all(&mut carol, &refused).await;
    let log = log_of(&cluster);
    // One order without holes or repeats.
    let seqs: Vec<u64> = log.keys().copied().collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{log:?}");
    let mut ids: Vec<&String> = log.values().collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), log.len(), "a message stored twice: {log:?}");
    // Every acknowledgement names the seq the log has for that message.
    for (id, seq) in acked.iter().chain(&resent) {
        if let Some(seq) = seq {
            assert_eq!(
                log.get(seq),
                Some(id),
                "{id} acknowledged as {seq}: {log:?}"
            );
        }
    }
    assert!(resent.values().all(Option::is_some), "{resent:?}");
    assert_eq!(log.len(), BEFORE + FROZEN);
    // The reader on the other node heard each once, in order.
    let mut heard = Vec::new();
    while heard.len() < log.len() {
        if let ServerMsg::Said { seq, .. } =
            tokio::time::timeout(Duration::from_secs(10), bob.recv())
                .await
                .expect("the reader hears every message")
        {
            heard.push(seq);
        }
    }
    assert_eq!(heard, seqs);
    // A client that had read up to seq 5 before the failover resumes on the node still up,
    // in the same epoch, with exactly what it missed.
    let epoch = common::resume(&there, "dave", ROOM, None).await.epoch;
    let back = common::resume(&there, "dave", ROOM, Some((5, epoch.clone()))).await;
    assert_eq!(back.epoch, epoch, "the log kept its identity");
    let missed: Vec<u64> = back.messages.iter().map(|m| m.seq).collect();
    assert_eq!(missed, (6..=seqs.len() as u64).collect::<Vec<_>>());
}

/// Without it: a message the primary acknowledged, but no replica had when the primary died,
/// is gone after the failover (what docs/DEPLOYMENT.md warns of).
#[actix_web::test]
async fn without_wait_replicas_a_dead_primary_loses_what_its_replica_had_not() {
    let (cluster, _there, _bob, acked) = fail_over(false).await;
    assert!(
        acked.values().all(Option::is_some),
        "without waiting every send is acknowledged: {acked:?}"
    );
    let log = log_of(&cluster);
    let lost: Vec<&String> = acked
        .keys()
        .filter(|id| !log.values().any(|kept| kept == *id))
        .collect();
    assert_eq!(
        lost.len(),
        FROZEN,
        "the messages acknowledged while the replica was frozen are lost: {log:?}"
    );
}
