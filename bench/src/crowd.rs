//! `bench --crowd ADDR ROOM MEMBERS`: a crowd for the browser suite's large-room test. It
//! brings MEMBERS real members into ROOM on our server at ADDR (named `c00000`, `c00001`, …,
//! so their order in the member list is their number), prints `ready MEMBERS` once every one
//! is welcomed, and then holds them, reading what the room sends them, until its standard
//! input closes (the test runner that started it is done, or gone).
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
