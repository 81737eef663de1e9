//! `bench --crowd ADDR ROOM MEMBERS`: a crowd for the browser suite's large-room test. It
//! brings MEMBERS real members into ROOM on our server at ADDR (named `c00000`, `c00001`, …,
//! so their order in the member list is their number), prints `ready MEMBERS` once every one
//! is welcomed, and then holds them, reading what the room sends them, until its standard
//! input closes (the test runner that started it is done, or gone).
//!
//! `bench --fill ADDR ROOM COUNT [PREFIX]`: a long room for the browser suite's message-list
//! tests and the browser benchmark (issue #34): COUNT messages said into ROOM through one
//! socket, "line 00001" to "line NNNNN" in order (PREFIX instead of "line" when given), every
//! seventh one long enough to wrap; returns once the server has stored them all.
//!
//! The same lean client as the benchmark's: a browser page cannot open 10,000 sockets, and a
//! tungstenite client per member would cost more than the server it stands in front of.

use std::{cell::Cell, net::SocketAddr, rc::Rc};

use crate::{dialect::Server, workloads::JOINING};

/// The name of member `i` (zero-padded: the member list is ordered by name).
pub fn nick(i: usize) -> String {
    format!("c{i:05}")
}

/// Joins the crowd, says `ready`, holds it until standard input closes.
pub async fn hold(addr: SocketAddr, room: &str, members: usize) -> Result<(), String> {
    let mut clients = Vec::with_capacity(members);
    for batch in (0..members).collect::<Vec<_>>().chunks(JOINING) {
        let opened = futures_util::future::join_all(
            batch
                .iter()
                .map(|&i| async move { Server::Ours.chat_socket(addr, &nick(i), room).await }),
        )
        .await;
        for (client, &i) in opened.into_iter().zip(batch) {
            clients.push(client.map_err(|err| format!("crowd member {i}: {err}"))?);
        }
    }
    println!("ready {members}");
    // Each member reads until its socket ends; a member the server lets go is told once.
    let lost = Rc::new(Cell::new(0usize));
    for (i, mut client) in clients.into_iter().enumerate() {
        let lost = Rc::clone(&lost);
        tokio::task::spawn_local(async move {
            while client.next().await.is_ok() {}
            lost.set(lost.get() + 1);
            eprintln!(
                "bench --crowd: member {} was let go ({} so far)",
                nick(i),
                lost.get()
            );
        });
    }
    // Blocking read on its own thread: the runtime keeps serving the members meanwhile.
    tokio::task::spawn_blocking(|| std::io::copy(&mut std::io::stdin(), &mut std::io::sink()))
        .await
        .map_err(|err| err.to_string())?
        .map_err(|err| format!("standard input: {err}"))?;
    Ok(())
}

/// Messages sent ahead of their acknowledgements while filling (the server's outbox for the
/// filler holds them all).
const FILL_AHEAD: usize = 200;

/// Says COUNT numbered lines into `room` (see the module's documentation).
pub async fn fill(addr: SocketAddr, room: &str, count: usize, prefix: &str) -> Result<(), String> {
    let mut filler = crate::dialect::Server::Ours
        .chat_socket(addr, "filler", room)
        .await
        .map_err(|err| format!("the filler: {err}"))?;
    // Client ids are new in every run: the server takes a repeated one (same token) for a
    // resend and stores nothing.
    let run = run_id();
    let (mut sent, mut stored) = (0, 0);
    while stored < count {
        while sent < count && sent - stored < FILL_AHEAD {
            sent += 1;
            let mut text = format!("{prefix} {sent:05}");
            if sent % 7 == 0 {
                text.push_str(&" and a longer thought that wraps".repeat(1 + sent % 9));
            }
            filler
                .send_say(room, &text, &format!("{room}-{prefix}-{run}-{sent}"))
                .await
                .map_err(|err| format!("line {sent}: {err}"))?;
        }
        let event = filler
            .next()
            .await
            .map_err(|err| format!("after {stored} stored: {err}"))?;
        if crate::wire::find(event, b"\"type\":\"said\"").is_some() {
            stored += 1;
        } else if crate::wire::find(event, b"\"type\":\"error\"").is_some() {
            return Err(format!("refused: {}", String::from_utf8_lossy(event)));
        }
    }
    println!("filled {count}");
    Ok(())
}

/// `bench --churn ADDR ROOM SECONDS`: for SECONDS, a busy room for the browser benchmark
/// (W7): a talker says a numbered "churn N" line 20 times a second while members come and
/// go, five in and (past a hundred in the room) five out every 50 ms: about 200 people
/// joining and leaving a second. Every socket's traffic is read and dropped.
pub async fn churn(addr: SocketAddr, room: &str, seconds: u64) -> Result<(), String> {
    const TICK: std::time::Duration = std::time::Duration::from_millis(50);
    const PER_TICK: usize = 5;
    const PRESENT: usize = 100;
    let drain = |mut client: crate::dialect::Client| {
        tokio::task::spawn_local(async move { while client.next().await.is_ok() {} })
    };
    let mut talker = Server::Ours
        .chat_socket(addr, "talker", room)
        .await
        .map_err(|err| format!("the talker: {err}"))?;
    let run = run_id();
    let mut present = std::collections::VecDeque::new();
    let mut next_member = 0_usize;
    let mut ticker = tokio::time::interval(TICK);
    let ticks = seconds * 1000 / TICK.as_millis() as u64;
    for tick in 0..ticks {
        ticker.tick().await;
        talker
            .send_say(
                room,
                &format!("churn {tick:05}"),
                &format!("churn-{run}-{tick}"),
            )
            .await
            .map_err(|err| format!("the talker: {err}"))?;
        // Reads what came for the talker so far without waiting for more.
        while let Ok(Ok(_)) = tokio::time::timeout(std::time::Duration::ZERO, talker.next()).await {
        }
        for _ in 0..PER_TICK {
            let nick = format!("m{next_member:05}");
            next_member += 1;
            let member = Server::Ours
                .chat_socket(addr, &nick, room)
                .await
                .map_err(|err| format!("member {nick}: {err}"))?;
            present.push_back(drain(member));
            if present.len() > PRESENT
                && let Some(leaving) = present.pop_front()
            {
                leaving.abort();
            }
        }
    }
    for member in present {
        member.abort();
    }
    println!("churned {next_member}");
    Ok(())
}

/// This process's mark for client ids: its start time in microseconds.
fn run_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}
