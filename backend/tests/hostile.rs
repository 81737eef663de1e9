//! Hostile input against the real `backend` binary: floods, huge and deeply nested input,
//! connection churn, stalled handshakes. After every case the server must be healthy, a
//! bystander's chat must still work, and the process's resident memory must stay bounded.
//! Loopback only; every loop is bounded in count and time.

// Helpers outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    Chat, Process, RawSocket, TestServer, http_get, masked_frame, opcode, parse_frame, token_for,
};
use shared::{ClientMsg, ServerMsg, paths};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Growth of resident memory allowed over the whole battery (the server's own caches, allocator
/// arenas); unbounded buffering of any case would blow far past it.
const RSS_HEADROOM_KB: u64 = 96 * 1024;

struct Binary {
    process: Process,
    server: TestServer,
    _data: tempfile::TempDir,
}

impl Binary {
    async fn start() -> Self {
        let data = tempfile::tempdir().unwrap();
        // Every attack comes from 127.0.0.1: the per-address caps (tested in chat.rs) are
        // off, so that what is measured is the server surviving the attacks themselves.
        let process = Process::start(&[
            "--max-connections-per-ip",
            "0",
            "--max-handshakes-per-ip",
            "0",
            "--request-timeout",
            "1s",
            "--workers",
            "2",
            "--data-dir",
            data.path().to_str().unwrap(),
        ])
        .await;
        Self {
            server: TestServer::at(process.addr),
            process,
            _data: data,
        }
    }

    fn rss_kb(&self) -> u64 {
        common::rss_kb(self.process.child.id())
    }

    /// Healthy, a bystander can chat, memory within bounds.
    async fn assert_healthy(&self, case: &str, bystander: &mut Chat, baseline_kb: u64) {
        assert_eq!(
            http_get(self.server.addr, paths::HEALTHZ).await.0,
            200,
            "{case}: /healthz"
        );
        // One client id per case: a repeated id would be answered with the first message's
        // acknowledgement (idempotent send), not stored again.
        let client_id: String = case
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        bystander.say("lobby", case, &client_id).await;
        loop {
            match bystander.recv().await {
                ServerMsg::Said { text, .. } if text.as_str() == case => break,
                _ => {} // presence from the attackers coming and going
            }
        }
        let rss = self.rss_kb();
        assert!(
            rss < baseline_kb + RSS_HEADROOM_KB,
            "{case}: resident memory {rss} kB, baseline {baseline_kb} kB"
        );
    }
}

/// The server's defaults, which the binary runs with here (docs/PROTOCOL.md, limits).
const RATE_BURST: usize = 20;
const RATE_STRIKES: usize = 50;

/// Says hello as `nick`, then sends `frames` as fast as possible while reading what comes back,
/// and checks what the docs promise: refused by the rate limit (a `rate_limited` error for
/// each refusal until the last), then closed with 1008.
async fn flood(server: &TestServer, nick: &str, frames: impl Iterator<Item = String>) {
    let mut attacker =
        RawSocket::connect(server.addr, paths::WS_CHAT, Some(shared::SUBPROTOCOL)).await;
    let hello = ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token_for(nick),
        rooms: vec![],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    };
    attacker.send_text(&shared::encode(&hello).unwrap()).await;
    let bytes: Vec<u8> = frames
        .flat_map(|text| masked_frame(true, opcode::TEXT, text.as_bytes()))
        .collect();
    let (mut reader, mut writer) = attacker.stream.split();
    // The write may fail part-way: the server stops reading once it has closed.
    let write = async {
        let _ = writer.write_all(&bytes).await;
    };
    let read = async {
        let (mut buffer, mut chunk) = (Vec::new(), vec![0u8; 65536]);
        let (mut refused, mut accepted_or_other) = (0usize, 0usize);
        loop {
            while let Some(((_, op, payload), used)) = parse_frame(&buffer) {
                buffer.drain(..used);
                match op {
                    opcode::TEXT => match shared::decode(std::str::from_utf8(&payload).unwrap()) {
                        Ok(ServerMsg::Error {
                            code: shared::ErrorCode::RateLimited,
                            ..
                        }) => refused += 1,
                        Ok(_) => accepted_or_other += 1,
                        Err(err) => panic!("{nick}: undecodable frame: {err}"),
                    },
                    opcode::CLOSE => {
                        let code = u16::from_be_bytes([payload[0], payload[1]]);
                        return (code, refused, accepted_or_other);
                    }
                    _ => {}
                }
            }
            let n = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk))
                .await
                .unwrap_or_else(|_| panic!("{nick}: the flood was never cut off"))
                .unwrap_or_else(|err| panic!("{nick}: reset before a close frame: {err}"));
            assert!(n > 0, "{nick}: connection ended without a close frame");
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    let ((), (code, refused, other)) = tokio::join!(write, read);
    assert_eq!(code, shared::close::POLICY_VIOLATION, "{nick}: close code");
    // The last refusal in the row closes instead of answering.
    assert!(
        refused >= RATE_STRIKES - 1,
        "{nick}: {refused} refusals before the close"
    );
    // welcome, joined, read_positions, direct_history, history, then at most the burst's worth of answers
    // (a join answers with joined + history) plus what refills in the few seconds this takes.
    assert!(
        other <= 5 + 2 * (RATE_BURST + 50),
        "{nick}: {other} answers"
    );
}

#[actix_web::test]
async fn the_server_survives_the_battery() {
    let binary = Binary::start().await;
    let server = &binary.server;
    let mut bystander = server.chat_as("bystander", &[]).await;
    let baseline = binary.rss_kb();

    // Floods: joins, typing, messages. The rate limiter refuses and then closes with 1008.
    let joins = (0..5000).map(|i| format!(r#"{{"type":"join","room":"flood-{i}"}}"#));
    flood(server, "joiner", joins).await;
    binary
        .assert_healthy("join flood", &mut bystander, baseline)
        .await;

    let typing = std::iter::repeat_n(r#"{"type":"typing","room":"lobby"}"#.to_owned(), 5000);
    flood(server, "typist", typing).await;
    binary
        .assert_healthy("typing flood", &mut bystander, baseline)
        .await;

    let says = (0..5000).map(|i| {
        format!(r#"{{"type":"say","room":"lobby","text":"spam {i}","client_id":"s{i}"}}"#)
    });
    flood(server, "spammer", says).await;
    binary
        .assert_healthy("message flood", &mut bystander, baseline)
        .await;

    // Huge names and values: refused with a typed error, connection kept.
    let mut odd = server.chat_socket().await;
    let huge_nick = format!(
        r#"{{"type":"hello","nick":"{}","token":"{}"}}"#,
        "n".repeat(100_000),
        token_for("odd").as_str()
    );
    odd.send_raw(&huge_nick).await;
    assert_eq!(odd.recv_error().await, shared::ErrorCode::Invalid);
    odd.send(&ClientMsg::Hello {
        nick: "odd".parse().unwrap(),
        token: token_for("odd"),
        rooms: vec![],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    })
    .await;
    assert!(matches!(odd.recv().await, ServerMsg::Welcome { .. }));
    assert!(matches!(odd.recv().await, ServerMsg::Joined { .. }));
    let huge_room = format!(r#"{{"type":"join","room":"{}"}}"#, "r".repeat(500_000));
    odd.send_raw(&huge_room).await;
    assert_eq!(odd.recv_error().await, shared::ErrorCode::Invalid);
    // Deeply nested JSON: a recursion limit error, never a stack overflow.
    let nested = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    odd.send_raw(&nested).await;
    assert_eq!(odd.recv_error().await, shared::ErrorCode::Malformed);
    let nested_object = format!(
        r#"{{"type":"say","room":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    odd.send_raw(&nested_object).await;
    assert_eq!(odd.recv_error().await, shared::ErrorCode::Malformed);
    drop(odd);
    binary
        .assert_healthy("huge and nested input", &mut bystander, baseline)
        .await;

    // Connection churn: 2,000 sockets opened and closed, 100 at a time.
    for _ in 0..20 {
        let opens =
            (0..100).map(|_| tokio_tungstenite::connect_async(server.ws_url(paths::WS_ECHO)));
        let sockets = futures_util::future::join_all(opens).await;
        for socket in sockets {
            let (mut socket, _) = socket.unwrap();
            let _ = socket.close(None).await;
        }
    }
    binary
        .assert_healthy("connection churn", &mut bystander, baseline)
        .await;

    // Slowloris: 200 handshakes that stall half-way are cut at the request timeout (1 s).
    let mut stalled = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(
                format!("GET {} HTTP/1.1\r\nHost: x\r\nUpgrade: web", paths::WS_ECHO).as_bytes(),
            )
            .await
            .unwrap();
        stalled.push(stream);
    }
    binary
        .assert_healthy("stalled handshakes (during)", &mut bystander, baseline)
        .await;
    for mut stream in stalled {
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
        )
        .await;
        assert!(ended.is_ok(), "a stalled handshake was not timed out");
    }
    binary
        .assert_healthy("stalled handshakes (after)", &mut bystander, baseline)
        .await;
}
