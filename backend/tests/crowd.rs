//! Rooms of 10,000 members (issue #11), single node and cluster: a join storm costs presence
//! frames in proportion to the members, not their square; every member ends with the right
//! count; the paged member list names every member exactly once, and its search finds by
//! prefix.
//!
//! Real sockets throughout. The backend runs as its own process (its 10,000 sockets and ours
//! would not fit one process's open-file limit); this test is the one load process.

#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::BTreeSet,
    sync::{
        Arc,
        atomic::{AtomicU32, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Process, redis_server::RedisServer, token_for};
use futures_util::{SinkExt as _, StreamExt as _};
use shared::{ClientMsg, Nick, ServerMsg};
use tokio::{sync::Notify, task::JoinSet};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest as _};

const MEMBERS: usize = 10_000;
/// The backend's `--presence-window` (its default): a member gets at most one `presence`
/// frame per window, so the storm's frames are bounded by members × windows, where
/// announcing every join to everyone would be `MEMBERS / 2` frames per member.
const WINDOW: Duration = Duration::from_secs(1);
/// Sockets opening at once.
const OPENING: usize = 200;
/// How long the storm may take to settle (a debug build on a 2-core machine; the release
/// figure is the benchmark's).
const SETTLE: Duration = Duration::from_secs(120);
const ROOM: &str = "crowd";

/// What the members' socket tasks report.
#[derive(Default)]
struct Tally {
    /// Presence frames received, all members together.
    presence_frames: AtomicUsize,
    /// Each member's latest member count (0: no `joined` yet).
    counts: Vec<AtomicU32>,
    /// How many members see the full count now.
    at_full: AtomicUsize,
    /// Rung when `at_full` changes.
    changed: Notify,
}

impl Tally {
    fn new() -> Self {
        Self {
            counts: (0..MEMBERS).map(|_| AtomicU32::new(0)).collect(),
            ..Self::default()
        }
    }

    fn count(&self, member: usize, count: u32) {
        let full = u32::try_from(MEMBERS).unwrap();
        let before = self.counts[member].swap(count, Ordering::SeqCst);
        if (before == full) != (count == full) {
            if count == full {
                self.at_full.fetch_add(1, Ordering::SeqCst);
            } else {
                self.at_full.fetch_sub(1, Ordering::SeqCst);
            }
            self.changed.notify_one();
        }
    }
}

/// The open-file limit this process (and the backends it starts) has, raised to the hard
/// limit as the backend raises its own.
fn open_file_limit() -> usize {
    let files = rlimit::increase_nofile_limit(u64::MAX).expect("read the open-file limit");
    usize::try_from(files).unwrap_or(usize::MAX)
}

/// A backend process taking the whole crowd from one address.
async fn backend(extra: &[&str]) -> Process {
    let window = format!("{}ms", WINDOW.as_millis());
    let mut args = vec![
        "--presence-window",
        &window,
        "--max-connections",
        "30000",
        "--max-connections-per-ip",
        "0",
        "--max-handshakes-per-ip",
        "0",
        // Nobody is cut off for being slow to answer a ping while the machine is busy.
        "--heartbeat-interval",
        "30s",
        "--client-timeout",
        "300s",
    ];
    args.extend_from_slice(extra);
    Process::start(&args).await
}

async fn open(addr: std::net::SocketAddr) -> common::Client {
    let mut request = format!("ws://{addr}{}", shared::paths::WS_CHAT)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        shared::SUBPROTOCOL.parse().unwrap(),
    );
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(60),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("handshake in time")
    .expect("handshake");
    ws
}

fn hello(nick: &str) -> Message {
    let hello = ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token_for(nick),
        rooms: vec![ROOM.parse().unwrap()],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    };
    Message::text(shared::encode(&hello).unwrap())
}

fn member_name(i: usize) -> String {
    format!("m{i:05}")
}

/// Member `i`: joins, then reads until its socket ends, telling `tally` its counts.
async fn member(ws: common::Client, i: usize, tally: Arc<Tally>) {
    let (mut tx, mut rx) = ws.split();
    tx.send(hello(&member_name(i))).await.expect("send hello");
    while let Some(Ok(frame)) = rx.next().await {
        let Message::Text(text) = frame else {
            continue;
        };
        match shared::decode::<ServerMsg>(&text) {
            Ok(ServerMsg::Joined { count, .. }) => tally.count(i, count),
            Ok(ServerMsg::Presence { count, .. }) => {
                tally.presence_frames.fetch_add(1, Ordering::SeqCst);
                tally.count(i, count);
            }
            Ok(_) => {}
            Err(err) => panic!("undecodable frame {text}: {err}"),
        }
    }
}

/// Fills the room with [`MEMBERS`] members spread over `nodes`, waits until every member
/// sees the full count, and checks the frames and the paged list.
async fn storm(nodes: &[&Process]) {
    assert!(
        open_file_limit() >= MEMBERS + 1000,
        "this test needs an open-file limit of {} (ulimit -n), has {}",
        MEMBERS + 1000,
        open_file_limit()
    );
    let tally = Arc::new(Tally::new());
    let mut members = JoinSet::new();
    let started = Instant::now();
    for batch in (0..MEMBERS).collect::<Vec<_>>().chunks(OPENING) {
        let opened = futures_util::future::join_all(
            batch.iter().map(|&i| open(nodes[i % nodes.len()].addr)),
        )
        .await;
        for (ws, &i) in opened.into_iter().zip(batch) {
            members.spawn(member(ws, i, tally.clone()));
        }
    }
    let deadline = started + SETTLE;
    while tally.at_full.load(Ordering::SeqCst) < MEMBERS {
        let wait = deadline.saturating_duration_since(Instant::now());
        if tokio::time::timeout(wait, tally.changed.notified())
            .await
            .is_err()
        {
            let short = tally
                .counts
                .iter()
                .filter(|c| c.load(Ordering::SeqCst) != MEMBERS as u32)
                .count();
            panic!("{short} members do not see {MEMBERS} after {SETTLE:?}");
        }
        if members.try_join_next().is_some() {
            panic!("a member's socket ended during the storm");
        }
    }
    let frames = tally.presence_frames.load(Ordering::SeqCst);
    let took = started.elapsed();
    eprintln!(
        "{MEMBERS} members over {} node(s) settled in {took:?}: {frames} presence frames ({:.1} per member)",
        nodes.len(),
        frames as f64 / MEMBERS as f64
    );
    // At most one frame per member per window (the first of a quiet window at once).
    let windows = took.as_secs_f64() / WINDOW.as_secs_f64();
    assert!(
        frames as f64 <= (windows.ceil() + 1.0) * MEMBERS as f64,
        "{frames} presence frames for {MEMBERS} members in {took:?}: more than one per window"
    );
    check_pages(nodes[nodes.len() - 1]).await;
    // Every socket closed before the next storm opens its own.
    members.shutdown().await;
}

/// The next `joined` or `members` on `rx`, skipping the rest.
async fn next_list(rx: &mut futures_util::stream::SplitStream<common::Client>) -> ServerMsg {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), rx.next())
            .await
            .expect("a frame in time")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = frame {
            let event = shared::decode::<ServerMsg>(&text).unwrap();
            if matches!(event, ServerMsg::Joined { .. } | ServerMsg::Members { .. }) {
                return event;
            }
        }
    }
}

/// One more member pages through the list: everyone exactly once, in key order; and a search.
async fn check_pages(node: &Process) {
    let ws = open(node.addr).await;
    let (mut tx, mut rx) = ws.split();
    tx.send(hello("pager")).await.unwrap();
    let ServerMsg::Joined { count, members, .. } = next_list(&mut rx).await else {
        panic!("expected joined");
    };
    assert_eq!(count as usize, MEMBERS + 1);
    assert_eq!(members.len(), shared::MEMBER_PAGE);
    let mut all: Vec<Nick> = members;
    loop {
        let request = ClientMsg::Members {
            room: ROOM.parse().unwrap(),
            after: all.last().cloned(),
            prefix: String::new(),
        };
        tx.send(Message::text(shared::encode(&request).unwrap()))
            .await
            .unwrap();
        let ServerMsg::Members { members, more, .. } = next_list(&mut rx).await else {
            panic!("expected members");
        };
        assert!(members.len() <= shared::MEMBER_PAGE);
        all.extend(members);
        if !more {
            break;
        }
    }
    let keys: Vec<String> = all.iter().map(Nick::key).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "in key order, once each"
    );
    let expected: BTreeSet<String> = (0..MEMBERS)
        .map(member_name)
        .chain(["pager".to_owned()])
        .collect();
    assert_eq!(keys.into_iter().collect::<BTreeSet<_>>(), expected);
    // A search: the ten nicknames m00010..m00019.
    let search = ClientMsg::Members {
        room: ROOM.parse().unwrap(),
        after: None,
        prefix: "M0001".into(),
    };
    tx.send(Message::text(shared::encode(&search).unwrap()))
        .await
        .unwrap();
    let ServerMsg::Members { members, more, .. } = next_list(&mut rx).await else {
        panic!("expected members");
    };
    let found: Vec<String> = members.iter().map(Nick::to_string).collect();
    let expected: Vec<String> = (10..20).map(member_name).collect();
    assert_eq!((found, more), (expected, false));
}

// One test for both modes, one after the other: two crowds at once would not fit one
// process's open-file limit.
#[actix_web::test]
async fn ten_thousand_members_fill_a_room_with_presence_linear_in_members_single_node_and_cluster()
{
    let node = backend(&[]).await;
    storm(&[&node]).await;
    drop(node);

    let redis = RedisServer::start().await;
    let url = redis.url();
    let first = backend(&["--redis", &url]).await;
    let second = backend(&["--redis", &url]).await;
    storm(&[&first, &second]).await;
}
