//! The HTTP transports (`/sse`, `/poll`, `/send`) over real sockets: the same session core as
//! the WebSocket, seen byte for byte, with their own statuses and failure modes.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{
    Chat, TestServer,
    http_transports::{CloseInfo, Poller, Sse, SseEvent, exchange, header, post},
    stalled_request, token_for, within,
};
use shared::{ClientMsg, ServerMsg, close, paths};

/// Long heartbeats (these clients read only when the test asks) and no rate limit in the way.
fn config() -> Config {
    Config {
        heartbeat_interval: Duration::from_secs(5),
        client_timeout: Duration::from_secs(30),
        shutdown_timeout: Duration::from_secs(2),
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        ..Config::default()
    }
}

fn json(message: &ClientMsg) -> String {
    shared::encode(message).unwrap()
}

fn hello(nick: &str, rooms: &[&str]) -> String {
    json(&common::hello(nick, rooms))
}

fn say(room: &str, text: &str, client_id: &str) -> String {
    json(&ClientMsg::Say {
        room: room.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    })
}

fn decode(text: &str) -> ServerMsg {
    shared::decode(text).unwrap_or_else(|err| panic!("undecodable {text}: {err}"))
}

/// Opens `/sse` and says hello as `nick`, POSTing batch 1; returns the stream once its
/// `welcome` has come.
async fn sse_as(server: &TestServer, nick: &str) -> Sse {
    let mut sse = Sse::open(server.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    let (status, body) = post(
        server.addr,
        &sse.session,
        1,
        &format!("[{}]", hello(nick, &[])),
        "",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert!(matches!(
        decode(&sse.next_json().await),
        ServerMsg::Welcome { .. }
    ));
    sse
}

/// The next event a WebSocket client gets, as its raw text (pings skipped).
async fn ws_text(chat: &mut Chat) -> String {
    match common::next_message(&mut chat.ws).await {
        tokio_tungstenite::tungstenite::Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[actix_web::test]
async fn a_stream_says_what_it_is_and_names_its_session_first() {
    let server = TestServer::spawn(config());
    let sse = Sse::open(server.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    assert_eq!(
        sse.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert_eq!(
        sse.header("cache-control").as_deref(),
        Some("no-cache, no-transform")
    );
    assert_eq!(sse.header("x-accel-buffering").as_deref(), Some("no"));
    assert_eq!(sse.header("transfer-encoding").as_deref(), Some("chunked"));
    // 128 random bits, never a token.
    assert_eq!(sse.session.len(), 32);
    assert!(sse.session.bytes().all(|b| b.is_ascii_hexdigit()));
    let other = Sse::open(server.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    assert_ne!(sse.session, other.session);
    let poller = Poller::open(server.addr, paths::POLL_CHAT).await;
    assert_eq!(poller.session.len(), 32);
    assert_ne!(poller.session, sse.session);
}

/// Three clients, one per transport, and a WebSocket sender in one room: each sees the same
/// events in the same order, byte for byte what the WebSocket carries.
#[actix_web::test]
async fn every_transport_sees_the_same_events_in_the_same_order() {
    // No presence window: each join is its own `presence`, the same frame for every reader
    // (coalesced, each reader's would leave out its own arrival, so the bytes would differ).
    let server = TestServer::spawn(Config {
        presence_window: Duration::ZERO,
        ..config()
    });
    let mut ws = server.chat_as("wsreader", &[]).await;
    let mut sse = sse_as(&server, "ssereader").await;
    let mut poller = Poller::open(server.addr, paths::POLL_CHAT).await;
    assert_eq!(poller.send(&[hello("pollreader", &[])]).await, 204);
    assert!(matches!(
        decode(&poller.next_json().await.unwrap()),
        ServerMsg::Welcome { .. }
    ));
    let mut sender = server.chat_as("sender", &[]).await;

    // Everyone's view from here: the messages of four senders, one per transport.
    let mut said = Vec::new();
    for i in 0..10 {
        sender
            .say("lobby", &format!("from ws {i}"), &format!("w{i}"))
            .await;
        said.push(format!("w{i}"));
        if i % 3 == 0 {
            let status = post(
                server.addr,
                &sse.session,
                2 + i / 3,
                &format!(
                    "[{}]",
                    say("lobby", &format!("from sse {i}"), &format!("s{i}"))
                ),
                "",
            )
            .await
            .0;
            assert_eq!(status, 204);
            said.push(format!("s{i}"));
            assert_eq!(
                poller
                    .send(&[say("lobby", &format!("from poll {i}"), &format!("p{i}"))])
                    .await,
                204
            );
            said.push(format!("p{i}"));
        }
    }
    // The WebSocket's view of the room from the reader's join on.
    let relevant = |text: &str| {
        matches!(
            decode(text),
            ServerMsg::Said { .. } | ServerMsg::Presence { .. }
        )
    };
    let mut views: [Vec<String>; 3] = Default::default();
    let count = |view: &Vec<String>| {
        view.iter()
            .filter(|t| matches!(decode(t), ServerMsg::Said { .. }))
            .count()
    };
    while count(&views[0]) < said.len() {
        let text = ws_text(&mut ws).await;
        if relevant(&text) {
            views[0].push(text);
        }
    }
    while count(&views[1]) < said.len() {
        let text = sse.next_json().await;
        if relevant(&text) {
            views[1].push(text);
        }
    }
    while count(&views[2]) < said.len() {
        let text = poller.next_json().await.unwrap();
        if relevant(&text) {
            views[2].push(text);
        }
    }
    // Joins seen differ by who joined before whom; the messages are the same bytes, in the
    // same order.
    let messages = |view: &Vec<String>| -> Vec<String> {
        view.iter()
            .filter(|t| matches!(decode(t), ServerMsg::Said { .. }))
            .cloned()
            .collect()
    };
    assert_eq!(messages(&views[0]), messages(&views[1]));
    assert_eq!(messages(&views[0]), messages(&views[2]));
    let ids: Vec<String> = messages(&views[0])
        .iter()
        .map(|t| match decode(t) {
            ServerMsg::Said { client_id, .. } => client_id.to_string(),
            _ => unreachable!(),
        })
        .collect();
    let mut expected = said.clone();
    expected.sort();
    let mut got = ids.clone();
    got.sort();
    assert_eq!(got, expected, "every message, once");
    // The sender joined after the three readers: each saw its join, the same bytes.
    let join_of_sender = |view: &Vec<String>| {
        view.iter()
            .find(|t| common::arrived(&decode(t), "sender"))
            .cloned()
            .expect("the sender's join")
    };
    assert_eq!(join_of_sender(&views[0]), join_of_sender(&views[1]));
    assert_eq!(join_of_sender(&views[0]), join_of_sender(&views[2]));
}

#[actix_web::test]
async fn posts_answer_with_clear_statuses() {
    let server = TestServer::spawn(Config {
        max_frame_size: 1024,
        // A development server's page, allowed as `cargo run` is told to in the README.
        allowed_origins: vec!["http://127.0.0.1:3000".into()],
        ..config()
    });
    let mut sse = sse_as(&server, "poster").await;
    let addr = server.addr;
    // 204: applied (batch 1 was the hello).
    assert_eq!(
        post(
            addr,
            &sse.session,
            2,
            &format!("[{}]", say("lobby", "hi", "c1")),
            ""
        )
        .await
        .0,
        204
    );
    // 404: no such session.
    let (status, body) = post(addr, "0123456789abcdef0123456789abcdef", 1, "[]", "").await;
    assert_eq!(status, 404, "{body}");
    // 409: batch 4 before batch 3.
    let (status, body) = post(addr, &sse.session, 4, "[]", "").await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("batch 3"), "{body}");
    // 413: a body over four frames, or one message over a frame.
    let big = format!("[\"{}\"]", "x".repeat(5000));
    assert_eq!(post(addr, &sse.session, 3, &big, "").await.0, 413);
    let one_big = format!("[{}]", say("lobby", &"y".repeat(1100), "c2"));
    assert_eq!(post(addr, &sse.session, 3, &one_big, "").await.0, 413);
    // 403: a page from a foreign origin, as for the WebSocket.
    let (status, body) = post(
        addr,
        &sse.session,
        3,
        "[]",
        "Origin: http://evil.example\r\n",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let refused = Sse::open(
        addr,
        paths::SSE_CHAT,
        "Origin: http://evil.example\r\n",
        None,
    )
    .await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(403));
    // An allowed other origin gets CORS headers that let the page read the answer.
    let (status, head, _) = exchange(
        addr,
        &format!(
            "GET {}?session={}&ack=0 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nOrigin: http://127.0.0.1:3000\r\n\r\n",
            paths::POLL_CHAT, "0123456789abcdef0123456789abcdef"
        ),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        header(&head, "access-control-allow-origin").as_deref(),
        Some("http://127.0.0.1:3000")
    );
    // The session was not disturbed by any of it.
    assert_eq!(
        post(
            addr,
            &sse.session,
            3,
            &format!("[{}]", say("lobby", "still here", "c3")),
            ""
        )
        .await
        .0,
        204
    );
    let mut texts = Vec::new();
    while texts.len() < 2 {
        if let ServerMsg::Said { text, .. } = decode(&sse.next_json().await) {
            texts.push(text.as_str().to_owned());
        }
    }
    assert_eq!(texts, ["hi", "still here"]);
}

#[actix_web::test]
async fn a_retried_post_is_applied_once() {
    let server = TestServer::spawn(config());
    let mut watcher = server.chat_as("watcher", &[]).await;
    let mut sse = sse_as(&server, "retrier").await;
    // A typing notice is not deduplicated by the chat: only the batch number keeps it single.
    let batch = format!(
        "[{},{}]",
        json(&ClientMsg::Typing {
            room: "lobby".parse().unwrap()
        }),
        say("lobby", "once", "r1")
    );
    for _ in 0..3 {
        assert_eq!(post(server.addr, &sse.session, 2, &batch, "").await.0, 204);
    }
    assert_eq!(
        post(
            server.addr,
            &sse.session,
            3,
            &format!("[{}]", say("lobby", "after", "r2")),
            ""
        )
        .await
        .0,
        204
    );
    let mut seen = Vec::new();
    loop {
        match watcher.recv().await {
            ServerMsg::Typing { active, .. } => seen.push(format!("typing {active}")),
            ServerMsg::Said { text, .. } => {
                seen.push(text.as_str().to_owned());
                if text.as_str() == "after" {
                    break;
                }
            }
            ServerMsg::Presence { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // The message ends the typing notice: one of each, in order.
    assert_eq!(seen, ["typing true", "typing false", "once", "after"]);
    let mut own = Vec::new();
    while own.len() < 2 {
        if let ServerMsg::Said { client_id, .. } = decode(&sse.next_json().await) {
            own.push(client_id.to_string());
        }
    }
    assert_eq!(own, ["r1", "r2"], "the sender's own copies, once each");
}

/// The next `error` event's code, skipping everything else.
async fn next_error(sse: &mut Sse) -> shared::ErrorCode {
    loop {
        if let ServerMsg::Error { code, .. } = decode(&sse.next_json().await) {
            return code;
        }
    }
}

#[actix_web::test]
async fn bad_json_gets_an_error_event_and_the_stream_stays() {
    let server = TestServer::spawn(config());
    let mut sse = sse_as(&server, "clumsy").await;
    assert_eq!(
        post(server.addr, &sse.session, 2, "{not json", "").await.0,
        204
    );
    assert_eq!(next_error(&mut sse).await, shared::ErrorCode::Malformed);
    let unknown = r#"[{"type":"no_such_thing"}]"#;
    assert_eq!(post(server.addr, &sse.session, 3, unknown, "").await.0, 204);
    assert_eq!(next_error(&mut sse).await, shared::ErrorCode::UnknownType);
    let fine = format!("[{}]", say("lobby", "fine", "ok1"));
    assert_eq!(post(server.addr, &sse.session, 4, &fine, "").await.0, 204);
    loop {
        if let ServerMsg::Said { text, .. } = decode(&sse.next_json().await) {
            assert_eq!(text.as_str(), "fine");
            break;
        }
    }
}

/// The close event, after whatever else the stream still carries; then the stream ends.
async fn close_of(sse: &mut Sse, limit: Duration) -> CloseInfo {
    loop {
        match sse.next_event_within(limit).await {
            Some(SseEvent { kind, data }) if kind == "close" => {
                let info: CloseInfo = serde_json::from_str(&data).unwrap();
                assert_eq!(
                    sse.next_event_within(limit).await,
                    None,
                    "the stream ends after close"
                );
                return info;
            }
            Some(_) => {}
            None => panic!("the stream ended without a close event"),
        }
    }
}

#[actix_web::test]
async fn rate_abuse_ends_the_stream_with_1008_and_frees_the_slot() {
    let server = TestServer::spawn(Config {
        rate_per_sec: 1,
        rate_burst: 1,
        rate_strikes: 3,
        max_connections: 1,
        ..config()
    });
    let mut sse = sse_as(&server, "flooder").await;
    let flood: Vec<String> = (0..10)
        .map(|i| say("lobby", "spam", &format!("f{i}")))
        .collect();
    assert_eq!(
        post(
            server.addr,
            &sse.session,
            2,
            &format!("[{}]", flood.join(",")),
            ""
        )
        .await
        .0,
        404
    );
    let info = close_of(&mut sse, common::STEP).await;
    assert_eq!(info.code, close::POLICY_VIOLATION);
    // The session is gone, and its connection slot (the only one) is free again.
    assert_eq!(post(server.addr, &sse.session, 3, "[]", "").await.0, 404);
    common::eventually("the slot is given back", || async {
        Sse::open(server.addr, paths::SSE_CHAT, "", None)
            .await
            .is_ok()
    })
    .await;
}

#[actix_web::test]
async fn a_stream_that_is_not_read_is_cut_off_with_1013() {
    let server = TestServer::spawn(Config {
        outbox_capacity: 8,
        max_text_chars: 100_000,
        // The departure told at once, while the sender still sends.
        presence_window: Duration::ZERO,
        ..config()
    });
    let mut sender = server.chat_as("sender", &[]).await;
    let mut slow = Sse::open(server.addr, paths::SSE_CHAT, "", Some(4096))
        .await
        .unwrap();
    assert_eq!(
        post(
            server.addr,
            &slow.session,
            1,
            &format!("[{}]", hello("slow", &[])),
            ""
        )
        .await
        .0,
        204
    );
    loop {
        if common::arrived(&sender.recv().await, "slow") {
            break;
        }
    }
    let text = "x".repeat(64 * 1024);
    let mut left = false;
    for i in 0..common::messages_to_overflow(text.len()) {
        sender.say("lobby", &text, &format!("m{i}")).await;
        loop {
            match sender.recv().await {
                ServerMsg::Said { .. } => break,
                ref event if common::departed(event, "slow") => left = true,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(left, "the slow reader was never dropped");
    // A reader that reads nothing may not get the close event either: it waits behind the
    // backlog in the server's write buffer, which the server does not keep once the stream
    // has ended (no lingering: `CLIENT_DISCONNECT_TIMEOUT` in lib.rs). So: the stream ends;
    // if the event made it, it says 1013; and the server counts the close as a 1013 of its own.
    if let Some(told) = end_of(&mut slow, Duration::from_secs(30)).await {
        assert_eq!(told.code, close::SLOW_CONSUMER);
    }
    let (_, metrics) = common::http_get(server.addr, paths::METRICS).await;
    assert!(
        metrics.lines().any(|line| {
            line.starts_with("chat_closes_total{")
                && line.contains(r#"by="server""#)
                && line.contains(r#"code="1013""#)
                && line.contains(r#"endpoint="chat""#)
                && !line.ends_with(" 0")
        }),
        "no 1013 close counted:\n{metrics}"
    );
}

/// The close event if the stream carries one before it ends (what else it carries is
/// skipped), once it has ended.
async fn end_of(sse: &mut Sse, limit: Duration) -> Option<CloseInfo> {
    let mut told = None;
    while let Some(SseEvent { kind, data }) = sse.next_event_within(limit).await {
        if kind == "close" {
            told = Some(serde_json::from_str(&data).unwrap());
        }
    }
    told
}

#[actix_web::test]
async fn a_poller_that_stops_polling_is_cut_off_with_1013_and_told_so() {
    let server = TestServer::spawn(Config {
        outbox_capacity: 8,
        // The departure told at once, while the sender still sends.
        presence_window: Duration::ZERO,
        ..config()
    });
    let mut sender = server.chat_as("sender", &[]).await;
    let mut slow = Poller::open(server.addr, paths::POLL_CHAT).await;
    assert_eq!(slow.send(&[hello("slowpoll", &[])]).await, 204);
    loop {
        if common::arrived(&sender.recv().await, "slowpoll") {
            break;
        }
    }
    // The sender reads as it goes; the poller never polls.
    let mut left = false;
    for i in 0..40 {
        sender.say("lobby", "x", &format!("m{i}")).await;
        loop {
            match sender.recv().await {
                ServerMsg::Said { .. } => break,
                ref event if common::departed(event, "slowpoll") => left = true,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert!(left, "the poller was never cut off");
    while slow.next_json().await.is_some() {}
    assert_eq!(
        slow.close.as_ref().map(|c| c.code),
        Some(close::SLOW_CONSUMER)
    );
}

#[actix_web::test]
async fn a_lost_poll_answer_is_sent_again() {
    let server = TestServer::spawn(config());
    let mut poller = Poller::open(server.addr, paths::POLL_CHAT).await;
    assert_eq!(poller.send(&[hello("loser", &[])]).await, 204);
    let (status, first) = poller.poll_acking(0).await;
    assert_eq!(status, 200);
    let first = first.unwrap();
    assert_eq!(first.seq, 1);
    assert!(!first.events.is_empty());
    // The client "lost" that answer: polling again without acknowledging gets it again.
    let (_, again) = poller.poll_acking(0).await;
    let again = again.unwrap();
    let texts = |a: &common::http_transports::PollAnswer| -> Vec<String> {
        a.events.iter().map(|e| e.get().to_owned()).collect()
    };
    assert_eq!(texts(&again)[..first.events.len()], texts(&first)[..]);
    // Acknowledging drops them.
    let last = first.seq + first.events.len() as u64 - 1;
    assert_eq!(poller.send(&[say("lobby", "next", "n1")]).await, 204);
    // (The rest of the hello's events may come first: poll on, acknowledging, until it does.)
    let mut ack = again.seq + again.events.len() as u64 - 1;
    within(async {
        loop {
            let (_, after) = poller.poll_acking(ack).await;
            let after = after.unwrap();
            assert!(after.seq > last, "acknowledged events came again");
            if after.events.iter().any(|e| e.get().contains("\"next\"")) {
                break;
            }
            ack = after.seq + after.events.len() as u64 - 1;
        }
    })
    .await;
}

#[actix_web::test]
async fn a_poller_that_goes_away_leaves_its_rooms_after_the_client_timeout() {
    let server = TestServer::spawn(Config {
        heartbeat_interval: Duration::from_millis(100),
        client_timeout: Duration::from_millis(800),
        ..config()
    });
    let mut watcher = server.chat_as("watcher", &[]).await;
    let mut poller = Poller::open(server.addr, paths::POLL_CHAT).await;
    assert_eq!(poller.send(&[hello("goner", &[])]).await, 204);
    // One poll, then nothing: the session expires.
    let _ = poller.next_json().await;
    let gone = within(async {
        loop {
            if common::departed(&watcher.recv().await, "goner") {
                break;
            }
        }
    });
    gone.await;
    common::eventually("the session is forgotten", || async {
        poller.poll_acking(poller.ack).await.0 == 404
    })
    .await;
}

#[actix_web::test]
async fn sigterm_closes_streams_and_polls_with_1001_and_refuses_new_sessions() {
    // The real binary, stopped the way an operator does.
    let process = common::Process::start(&["--shutdown-timeout", "2s"]).await;
    let server = TestServer::at(process.addr);
    let mut sse = sse_as(&server, "streamer").await;
    let poller = Poller::open(server.addr, paths::POLL_CHAT).await;
    let addr = server.addr;
    // A poll waiting when the shutdown begins.
    let waiting = actix_web::rt::spawn(async move {
        let (status, answer) = poller.poll_acking(0).await;
        (status, answer.and_then(|a| a.close))
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // An echo peer that never reads keeps the drain going (until --shutdown-timeout), so
    // requests during it can be seen refused.
    let _stuck = common::stuck_echo_socket(addr).await;
    process.signal("TERM");
    assert_eq!(
        close_of(&mut sse, common::STEP).await.code,
        close::GOING_AWAY
    );
    let (status, close) = within(waiting).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(close.map(|c| c.code), Some(close::GOING_AWAY));
    let refused = Sse::open(addr, paths::SSE_CHAT, "", None).await;
    assert_eq!(refused.err().map(|(status, _)| status), Some(503));
    assert_eq!(post(addr, &sse.session, 2, "[]", "").await.0, 503);
    assert!(
        process.wait().await.success(),
        "a clean exit after the drain"
    );
}

/// A stream that drops is resumed by a new session whose hello carries `since`: the missed
/// messages come in the catch-up, exactly, then live ones.
#[actix_web::test]
async fn a_dropped_stream_resumed_with_since_catches_up_exactly() {
    let server = TestServer::spawn(config());
    let mut sender = server.chat_as("sender", &[]).await;
    let mut sse = Sse::open(server.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    assert_eq!(
        post(
            server.addr,
            &sse.session,
            1,
            &format!("[{}]", hello("resumer", &[])),
            ""
        )
        .await
        .0,
        204
    );
    let mut epoch = None;
    while epoch.is_none() {
        if let ServerMsg::History { epoch: e, .. } = decode(&sse.next_json().await) {
            epoch = Some(e);
        }
    }
    for i in 0..3 {
        sender
            .say("lobby", &format!("before {i}"), &format!("b{i}"))
            .await;
    }
    let mut last_seq = 0;
    while last_seq < 3 {
        if let ServerMsg::Said { seq, .. } = decode(&sse.next_json().await) {
            last_seq = seq;
        }
    }
    drop(sse);
    for i in 0..4 {
        sender
            .say("lobby", &format!("missed {i}"), &format!("x{i}"))
            .await;
    }
    // Stored before the resume (the sender's own copy comes once it is).
    loop {
        if let ServerMsg::Said { client_id, .. } = sender.recv().await
            && client_id.as_str() == "x3"
        {
            break;
        }
    }
    let mut back = Sse::open(server.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    let resume = ClientMsg::Hello {
        nick: "resumer".parse().unwrap(),
        token: token_for("resumer"),
        rooms: vec!["lobby".parse().unwrap()],
        since: [("lobby".parse().unwrap(), last_seq)].into(),
        epochs: [("lobby".parse().unwrap(), epoch.unwrap())].into(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    };
    assert_eq!(
        post(
            server.addr,
            &back.session,
            1,
            &format!("[{}]", json(&resume)),
            ""
        )
        .await
        .0,
        204
    );
    let caught_up = loop {
        if let ServerMsg::History { mode, messages, .. } = decode(&back.next_json().await) {
            assert_eq!(mode, shared::HistoryMode::CatchUp);
            break messages;
        }
    };
    let texts: Vec<String> = caught_up
        .iter()
        .map(|m| m.text.as_str().to_owned())
        .collect();
    assert_eq!(texts, ["missed 0", "missed 1", "missed 2", "missed 3"]);
    sender.say("lobby", "live", "l1").await;
    loop {
        if let ServerMsg::Said { text, seq, .. } = decode(&back.next_json().await) {
            assert_eq!((text.as_str(), seq), ("live", 8));
            break;
        }
    }
}

#[actix_web::test]
async fn echo_works_over_both_http_transports() {
    let server = TestServer::spawn(config());
    let mut sse = Sse::open(server.addr, paths::SSE_ECHO, "", None)
        .await
        .unwrap();
    let (status, _) = post(server.addr, &sse.session, 1, r#"["one","two\nlines"]"#, "").await;
    assert_eq!(status, 204);
    assert_eq!(sse.next().await.unwrap().data, "\"one\"");
    assert_eq!(sse.next().await.unwrap().data, "\"two\\nlines\"");
    let mut poller = Poller::open(server.addr, paths::POLL_ECHO).await;
    assert_eq!(poller.send(&["{\"ping\":1}".to_owned()]).await, 204);
    assert_eq!(poller.next_json().await.unwrap(), "{\"ping\":1}");
}

/// Behind a load balancer without sticky sessions: a stream on one node, its POSTs through
/// the other; a long-polled session polled through the other node; a session of a node that
/// is gone is unknown.
#[actix_web::test]
async fn in_a_cluster_posts_and_polls_reach_the_node_that_holds_the_session() {
    let redis = common::redis_server::RedisServer::start().await;
    let node = || {
        TestServer::spawn(Config {
            shutdown_timeout: Duration::from_secs(1),
            ..common::patient_config(Some(redis.url()))
        })
    };
    let (first, second) = (node(), node());
    let mut watcher = first.chat_as("watcher", &[]).await;

    // SSE on the first node, every POST through the second.
    let mut sse = Sse::open(first.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    assert_eq!(sse.session.len(), 48, "a node's name, then 128 random bits");
    let greeting = format!("[{}]", hello("streamer", &[]));
    assert_eq!(
        post(second.addr, &sse.session, 1, &greeting, "").await.0,
        204
    );
    assert!(matches!(
        decode(&sse.next_json().await),
        ServerMsg::Welcome { .. }
    ));
    let said = format!("[{}]", say("lobby", "via the other node", "v1"));
    assert_eq!(post(second.addr, &sse.session, 2, &said, "").await.0, 204);
    // Applied once, whichever node a retry reaches.
    assert_eq!(post(first.addr, &sse.session, 2, &said, "").await.0, 204);
    assert_eq!(post(second.addr, &sse.session, 4, "[]", "").await.0, 409);
    loop {
        if let ServerMsg::Said { text, .. } = watcher.recv().await {
            assert_eq!(text.as_str(), "via the other node");
            break;
        }
    }

    // A long-polled session opened on the first node, polled and posted through the second.
    let opened = Poller::open(first.addr, paths::POLL_CHAT).await;
    let mut poller = Poller::at(second.addr, opened);
    assert_eq!(poller.send(&[hello("poller", &[])]).await, 204);
    assert!(matches!(
        decode(&poller.next_json().await.unwrap()),
        ServerMsg::Welcome { .. }
    ));
    watcher.say("lobby", "to the poller", "w1").await;
    // Live, or in the room's history if it was stored before the poller's join read it.
    loop {
        match decode(&poller.next_json().await.unwrap()) {
            ServerMsg::Said { text, .. } if text.as_str() == "to the poller" => break,
            ServerMsg::History { messages, .. }
                if messages.iter().any(|m| m.text.as_str() == "to the poller") =>
            {
                break;
            }
            _ => {}
        }
    }

    // The first node goes away: its sessions are unknown everywhere.
    let session = sse.session.clone();
    drop(sse);
    first.stop().await.unwrap();
    common::eventually("a session of a node that is gone is unknown", || async {
        post(second.addr, &session, 3, "[]", "").await.0 == 404
    })
    .await;
}

/// One raw poll of `session` acknowledging `ack`: (status, body).
async fn raw_poll(addr: std::net::SocketAddr, session: &str, ack: u64) -> (u16, String) {
    let request = format!(
        "GET {}?session={session}&ack={ack} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        paths::POLL_CHAT
    );
    let (status, _, body) =
        common::http_transports::exchange_within(addr, &request, Duration::from_secs(10)).await;
    (status, body)
}

/// A poll replaced by a newer one of the same session is answered 409 (and the newer one
/// goes on); a poll with nothing to say is answered empty, 200, once its wait has passed
/// (here the short client timeout).
#[actix_web::test]
async fn a_replaced_poll_gets_409_and_an_idle_one_an_empty_answer() {
    let server = TestServer::spawn(Config {
        heartbeat_interval: Duration::from_millis(300),
        client_timeout: Duration::from_millis(1500),
        ..config()
    });
    let mut poller = Poller::open(server.addr, paths::POLL_CHAT).await;
    assert_eq!(poller.send(&[hello("poller", &[])]).await, 204);
    // Read what the hello brought (welcome, joined, histories) until a poll has nothing: it
    // is answered empty when its wait passes.
    let mut ack = 0;
    loop {
        let (status, body) = raw_poll(server.addr, &poller.session, ack).await;
        assert_eq!(status, 200, "{body}");
        let answer: common::http_transports::PollAnswer = serde_json::from_str(&body).unwrap();
        assert!(answer.close.is_none(), "{body}");
        if answer.events.is_empty() {
            break;
        }
        ack = answer.seq + answer.events.len() as u64 - 1;
    }
    // Two polls at once: the first is replaced.
    let (addr, session) = (server.addr, poller.session.clone());
    let first = tokio::spawn(async move { raw_poll(addr, &session, ack).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (addr, session) = (server.addr, poller.session.clone());
    let second = tokio::spawn(async move { raw_poll(addr, &session, ack).await });
    // Whichever reached the session first (on a loaded machine the second may), it is the
    // one replaced: one 409, and the other answered in full.
    let mut answers = [within(first).await.unwrap(), within(second).await.unwrap()];
    answers.sort();
    let [(answered, body), (replaced, why)] = answers;
    assert_eq!((answered, replaced), (200, 409), "{body} / {why}");
    let answer: common::http_transports::PollAnswer = serde_json::from_str(&body).unwrap();
    assert!(answer.events.is_empty() && answer.close.is_none(), "{body}");
}

/// An SSE stream carries `ping` events at the heartbeat, and a session whose stream is
/// dropped (the TCP connection gone, no close) leaves its rooms within a heartbeat or two:
/// the next ping finds the connection gone.
#[actix_web::test]
async fn sse_pings_and_a_dropped_stream_leaves_its_rooms() {
    let server = TestServer::spawn(Config {
        heartbeat_interval: Duration::from_millis(300),
        client_timeout: Duration::from_secs(30),
        ..config()
    });
    let mut watcher = server.chat_as("watcher", &[]).await;
    let mut sse = sse_as(&server, "streamer").await;
    let mut pings = 0;
    while pings < 2 {
        if sse
            .next_event_within(Duration::from_secs(2))
            .await
            .unwrap()
            .kind
            == "ping"
        {
            pings += 1;
        }
    }
    drop(sse);
    // Well under the client timeout (30 s): the heartbeat noticed.
    tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if common::departed(&watcher.recv().await, "streamer") {
                break;
            }
        }
    })
    .await
    .expect("the dropped stream's user left within the heartbeat");
}

/// Hole 10 of issue #27, item 3: a fallback session's id travels in the URL's query and is
/// the capability to speak in that session, so the request log shows the path only. The
/// real binary, logging as in production, serves a long-polled and a streamed session.
#[actix_web::test]
async fn fallback_session_ids_never_reach_the_request_log() {
    let process = common::Process::start_logging(&[]).await;
    let addr = process.addr;
    let mut poller = Poller::open(addr, paths::POLL_CHAT).await;
    assert_eq!(poller.send(&[hello("logged", &[])]).await, 204);
    assert!(matches!(
        decode(&poller.next_json().await.unwrap()),
        ServerMsg::Welcome { .. }
    ));
    let sse = Sse::open(addr, paths::SSE_CHAT, "", None).await.unwrap();
    let (status, body) = post(
        addr,
        &sse.session,
        1,
        &format!("[{}]", hello("streamed", &[])),
        "",
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let secrets = [poller.session.clone(), sse.session.clone()];
    drop(sse);
    let logs = process.stop_and_read_logs().await;
    for request in [
        format!("GET {}", paths::POLL_CHAT),
        format!("POST {}", paths::SEND),
    ] {
        assert!(
            logs.contains(&request),
            "the request log was not captured: {logs}"
        );
    }
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a session id is in the logs: {logs}"
        );
    }
}

/// A POST whose body stalls is cut at `--body-timeout` with 408 and its connection closed;
/// the session carries on.
#[actix_web::test]
async fn a_stalled_post_is_cut_off_at_the_body_timeout() {
    let timeout = Duration::from_millis(500);
    let server = TestServer::spawn(Config {
        body_timeout: timeout,
        ..config()
    });
    let mut sse = sse_as(&server, "staller").await;
    let addr = server.addr;
    let request = format!(
        "POST {}?session={}&batch=2 HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: text/plain\r\nContent-Length: 100\r\n\r\n",
        paths::SEND,
        sse.session
    );
    let answer = stalled_request(addr, &request, b"[{\"type\"").await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.after >= timeout, "{answer:?}");
    assert!(answer.closed, "{answer:?}");
    // A chunked body that stalls: the same (actix would drain it for as long as it came).
    let chunked = request.replace("Content-Length: 100", "Transfer-Encoding: chunked");
    let answer = stalled_request(addr, &chunked, b"2\r\n[{\r\n").await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.closed, "{answer:?}");
    // Nothing of it was applied: batch 2 is still the next one.
    let said = format!("[{}]", say("lobby", "after the stall", "a1"));
    assert_eq!(post(addr, &sse.session, 2, &said, "").await.0, 204);
    loop {
        if let ServerMsg::Said { text, .. } = decode(&sse.next_json().await) {
            assert_eq!(text.as_str(), "after the stall");
            break;
        }
    }
}

/// A POST whose body announces 4 MB and sends none, for `session` through `addr`.
fn unsent_post(addr: std::net::SocketAddr, session: &str) -> String {
    format!(
        "POST {}?session={session}&batch=1 HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: text/plain\r\nContent-Length: 4000000\r\n\r\n",
        paths::SEND
    )
}

/// A POST for a session that is not there is answered from its headers alone: its body is
/// never waited for, on one node or when the session is named as another node's.
#[actix_web::test]
async fn a_post_for_an_unknown_session_is_answered_before_its_body() {
    let redis = common::redis_server::RedisServer::start().await;
    // A body timeout far beyond the test's wait: only an answer without the body passes.
    let patient = |redis: Option<String>| Config {
        body_timeout: Duration::from_secs(120),
        ..common::patient_config(redis)
    };
    let single = TestServer::spawn(patient(None));
    let (first, second) = (
        TestServer::spawn(patient(Some(redis.url()))),
        TestServer::spawn(patient(Some(redis.url()))),
    );
    // Sessions of each node, for their names.
    let on_first = Sse::open(first.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    let on_second = Sse::open(second.addr, paths::SSE_CHAT, "", None)
        .await
        .unwrap();
    let unknown = "0123456789abcdef0123456789abcdef";
    for (addr, session) in [
        (single.addr, unknown.to_owned()),
        (first.addr, unknown.to_owned()),
        // Named as the other node's, and as this node's.
        (second.addr, format!("{}{unknown}", &on_first.session[..16])),
        (
            second.addr,
            format!("{}{unknown}", &on_second.session[..16]),
        ),
    ] {
        let answer = stalled_request(addr, &unsent_post(addr, &session), b"").await;
        assert_eq!(answer.status, 404, "{session}: {answer:?}");
        assert!(answer.after < Duration::from_secs(2), "{answer:?}");
        assert!(
            answer.closed,
            "the unread body ends the connection: {answer:?}"
        );
    }
    // A chunked body (no length said) that has begun and stalls: the same.
    let chunked = format!(
        "POST {}?session={unknown}&batch=1 HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n",
        paths::SEND,
        single.addr
    );
    let answer = stalled_request(single.addr, &chunked, b"2\r\n[{\r\n").await;
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(answer.after < Duration::from_secs(2), "{answer:?}");
    assert!(answer.closed, "{answer:?}");
}
