//! Chat protocol v1 on `/ws` over real sockets: one test per rule of the chat.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{
    Chat, Mode, RawSocket, TestServer, eventually, expect_close, http_request, token_for, within,
};
use futures_util::SinkExt as _;
use shared::{ClientMsg, ErrorCode, Nick, RoomInfo, ServerMsg, close};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

/// Long heartbeat timings: these clients read only when a test asks them to.
fn config() -> Config {
    Config {
        heartbeat_interval: Duration::from_secs(5),
        client_timeout: Duration::from_secs(30),
        shutdown_timeout: Duration::from_secs(1),
        typing_timeout: Duration::from_millis(300),
        ..Config::default()
    }
}

const QUIET: Duration = Duration::from_millis(300);

fn nick(name: &str) -> Nick {
    name.parse().unwrap()
}

fn nicks(names: &[&str]) -> Vec<Nick> {
    names.iter().map(|n| nick(n)).collect()
}

async fn expect_said(chat: &mut Chat, room: &str, from: &str, text: &str) -> ServerMsg {
    let event = chat.recv().await;
    match &event {
        ServerMsg::Said {
            room: r,
            from: f,
            text: t,
            ..
        } => {
            assert_eq!((r.as_str(), f.as_str(), t.as_str()), (room, from, text));
        }
        other => panic!("expected said in {room}, got {other:?}"),
    }
    event
}

async fn hello_welcomes_and_joins_the_default_room(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_socket().await;
    alice
        .send(&ClientMsg::Hello {
            nick: nick("Alice"),
            token: token_for("Alice"),
            rooms: vec![],
            since: Default::default(),
            direct_since: None,
            epochs: Default::default(),
            direct_epoch: None,
            jwt: None,
        })
        .await;
    match alice.recv().await {
        ServerMsg::Welcome { user, limits } => {
            assert_eq!(user, nick("Alice"));
            assert_eq!(limits, config().limits());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        alice.recv().await,
        ServerMsg::Joined {
            room: "lobby".parse().unwrap(),
            count: 1,
            members: nicks(&["Alice"])
        }
    );
}

async fn message_reaches_room_members_only_sender_included(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &["rust"]).await;
    let mut bob = server.chat_as("bob", &["rust"]).await;
    let mut carol = server.chat_as("carol", &["go"]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));

    alice.say("rust", "안녕 rustaceans", "m1").await;
    let echo = expect_said(&mut alice, "rust", "alice", "안녕 rustaceans").await;
    let seen = expect_said(&mut bob, "rust", "alice", "안녕 rustaceans").await;
    assert_eq!(echo, seen, "one encoding for everyone");
    let ServerMsg::Said {
        client_id, id, ts, ..
    } = echo
    else {
        unreachable!()
    };
    assert_eq!(
        client_id.as_str(),
        "m1",
        "the sender can match its pending message"
    );
    assert!(id.0 > 0 && ts > 1_700_000_000_000);
    carol.expect_silence(QUIET).await;
}

async fn one_connection_chats_in_several_rooms(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &["a", "b"]).await;
    let mut bob = server.chat_as("bob", &["b"]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    alice.say("a", "in a", "1").await;
    alice.say("b", "in b", "2").await;
    // Order is per room: on a Redis Cluster two rooms live on two shards, and the second
    // room's answer may come first (docs/PROTOCOL.md).
    let mut heard = vec![];
    for _ in 0..2 {
        match alice.recv().await {
            ServerMsg::Said {
                room, from, text, ..
            } => heard.push((room.to_string(), from.to_string(), text.as_str().to_owned())),
            other => panic!("expected said, got {other:?}"),
        }
    }
    heard.sort();
    let owned = |(r, f, t): (&str, &str, &str)| (r.to_owned(), f.to_owned(), t.to_owned());
    assert_eq!(
        heard,
        [owned(("a", "alice", "in a")), owned(("b", "alice", "in b"))]
    );
    expect_said(&mut bob, "b", "alice", "in b").await;
    bob.expect_silence(QUIET).await;
}

async fn join_gives_members_then_presence_events_follow(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &[]).await;
    let mut bob = server.chat_socket().await;
    bob.send(&ClientMsg::Hello {
        nick: nick("bob"),
        token: token_for("bob"),
        rooms: vec![],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    })
    .await;
    assert!(matches!(bob.recv().await, ServerMsg::Welcome { .. }));
    assert_eq!(
        bob.recv().await,
        ServerMsg::Joined {
            room: "lobby".parse().unwrap(),
            count: 2,
            members: nicks(&["alice", "bob"])
        }
    );
    assert_eq!(common::presence(&alice.recv().await), "lobby +bob");
    bob.send(&ClientMsg::Leave {
        room: "lobby".parse().unwrap(),
    })
    .await;
    assert_eq!(
        bob.recv().await,
        ServerMsg::Left {
            room: "lobby".parse().unwrap()
        }
    );
    assert_eq!(common::presence(&alice.recv().await), "lobby -bob");
    // Disconnecting is leaving too.
    let mut carol = server.chat_as("carol", &[]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    within(carol.ws.close(None)).await.unwrap();
    assert_eq!(common::presence(&alice.recv().await), "lobby -carol");
}

async fn two_tabs_of_one_user_are_one_member(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut watcher = server.chat_as("watcher", &[]).await;
    let mut tab1 = server.chat_with_token("Dana", token_for("dana"), &[]).await;
    assert!(matches!(watcher.recv().await, ServerMsg::Presence { .. }));
    // Same nickname (any case) and token: the same user, not a duplicate.
    let mut tab2 = server.chat_socket().await;
    tab2.send(&ClientMsg::Hello {
        nick: nick("dana"),
        token: token_for("dana"),
        rooms: vec![],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    })
    .await;
    assert_eq!(
        tab2.recv().await,
        ServerMsg::Welcome {
            user: nick("Dana"),
            limits: config().limits()
        }
    );
    assert_eq!(
        tab2.recv().await,
        ServerMsg::Joined {
            room: "lobby".parse().unwrap(),
            count: 2,
            members: nicks(&["Dana", "watcher"])
        }
    );
    watcher.expect_silence(QUIET).await;
    // Both tabs get room messages.
    watcher.say("lobby", "hi dana", "w1").await;
    expect_said(&mut tab1, "lobby", "watcher", "hi dana").await;
    expect_said(&mut tab2, "lobby", "watcher", "hi dana").await;
    expect_said(&mut watcher, "lobby", "watcher", "hi dana").await;
    // Closing one tab is not leaving; closing the last is.
    within(tab1.ws.close(None)).await.unwrap();
    watcher.expect_silence(QUIET).await;
    within(tab2.ws.close(None)).await.unwrap();
    assert_eq!(common::presence(&watcher.recv().await), "lobby -Dana");
}

async fn taken_nickname_is_refused_ignoring_case_and_the_socket_stays_usable(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let _alice = server.chat_as("Alice", &[]).await;
    let mut impostor = server.chat_socket().await;
    impostor
        .send(&ClientMsg::Hello {
            nick: nick("ALICE"),
            token: token_for("someone else"),
            rooms: vec![],
            since: Default::default(),
            direct_since: None,
            epochs: Default::default(),
            direct_epoch: None,
            jwt: None,
        })
        .await;
    assert_eq!(impostor.recv_error().await, ErrorCode::NickTaken);
    impostor
        .send(&ClientMsg::Hello {
            nick: nick("Alicia"),
            token: token_for("someone else"),
            rooms: vec![],
            since: Default::default(),
            direct_since: None,
            epochs: Default::default(),
            direct_epoch: None,
            jwt: None,
        })
        .await;
    assert!(matches!(impostor.recv().await, ServerMsg::Welcome { .. }));
}

async fn rename_propagates_and_respects_uniqueness(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &[]).await;
    let mut bob = server.chat_as("bob", &[]).await;
    let mut loner = server.chat_as("loner", &["elsewhere"]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    bob.send(&ClientMsg::Rename {
        nick: nick("ALICE"),
    })
    .await;
    assert_eq!(bob.recv_error().await, ErrorCode::NickTaken);
    bob.send(&ClientMsg::Rename {
        nick: nick("robert"),
    })
    .await;
    let renamed = ServerMsg::Renamed {
        from: nick("bob"),
        to: nick("robert"),
    };
    assert_eq!(bob.recv().await, renamed);
    assert_eq!(alice.recv().await, renamed);
    loner.expect_silence(QUIET).await;
    // The old name is free again, for anyone: another browser (another token) gets it.
    let mut newcomer = server.chat_socket().await;
    newcomer
        .send(&ClientMsg::Hello {
            nick: nick("bob"),
            token: token_for("someone else"),
            rooms: vec!["elsewhere".parse().unwrap()],
            since: Default::default(),
            direct_since: None,
            epochs: Default::default(),
            direct_epoch: None,
            jwt: None,
        })
        .await;
    match newcomer.recv().await {
        ServerMsg::Welcome { user, .. } => assert_eq!(user, nick("bob")),
        other => panic!("expected welcome as bob, got {other:?}"),
    }
    assert_eq!(common::presence(&loner.recv().await), "elsewhere +bob");
}

async fn a_rename_is_told_once_to_who_shares_several_rooms_with_the_renamer(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &["lobby", "dev"]).await;
    let mut bob = server.chat_as("bob", &["lobby", "dev"]).await;
    // Bob's arrival, in each room.
    for _ in 0..2 {
        assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    }
    bob.send(&ClientMsg::Rename {
        nick: nick("robert"),
    })
    .await;
    let renamed = ServerMsg::Renamed {
        from: nick("bob"),
        to: nick("robert"),
    };
    assert_eq!(bob.recv().await, renamed);
    assert_eq!(alice.recv().await, renamed);
    alice.expect_silence(QUIET).await;
    bob.expect_silence(QUIET).await;
}

async fn typing_is_announced_once_and_expires_on_its_own(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &[]).await;
    let mut bob = server.chat_as("bob", &[]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    let typing = ClientMsg::Typing {
        room: "lobby".parse().unwrap(),
    };
    bob.send(&typing).await;
    bob.send(&typing).await; // a repeat only extends it
    let active = |active| ServerMsg::Typing {
        room: "lobby".parse().unwrap(),
        user: nick("bob"),
        active,
    };
    assert_eq!(alice.recv().await, active(true));
    // Typing timeout is 300 ms here: the stop comes without bob doing anything.
    assert_eq!(alice.recv().await, active(false));
    bob.expect_silence(QUIET).await;
    // Sending a message ends typing at once.
    bob.send(&typing).await;
    assert_eq!(alice.recv().await, active(true));
    bob.say("lobby", "done", "b1").await;
    assert_eq!(alice.recv().await, active(false));
    expect_said(&mut alice, "lobby", "bob", "done").await;
}

async fn direct_message_reaches_both_users_on_every_tab_and_nobody_else(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice1 = server.chat_as("alice", &["a"]).await;
    let mut alice2 = server.chat_as("alice", &["a"]).await;
    let mut bob1 = server.chat_as("bob", &["b"]).await;
    let mut bob2 = server.chat_as("bob", &["b"]).await;
    let mut carol = server.chat_as("carol", &["a"]).await;
    for tab in [&mut alice1, &mut alice2] {
        assert!(matches!(tab.recv().await, ServerMsg::Presence { .. }));
    }
    alice1
        .send(&ClientMsg::Direct {
            to: nick("BOB"),
            text: "psst".try_into().unwrap(),
            client_id: "d1".parse().unwrap(),
        })
        .await;
    for tab in [&mut alice1, &mut alice2, &mut bob1, &mut bob2] {
        match tab.recv().await {
            ServerMsg::Direct {
                from,
                to,
                text,
                client_id,
                ..
            } => {
                assert_eq!((from.as_str(), to.as_str()), ("alice", "bob"));
                assert_eq!((text.as_str(), client_id.as_str()), ("psst", "d1"));
            }
            other => panic!("expected direct, got {other:?}"),
        }
    }
    carol.expect_silence(QUIET).await;
    alice1
        .send(&ClientMsg::Direct {
            to: nick("nobody"),
            text: "hello?".try_into().unwrap(),
            client_id: "d2".parse().unwrap(),
        })
        .await;
    match alice1.recv().await {
        ServerMsg::Error {
            code: ErrorCode::NoSuchUser,
            client_id,
            ..
        } => assert_eq!(client_id.unwrap().as_str(), "d2"),
        other => panic!("{other:?}"),
    }
}

async fn rooms_are_listed_with_member_counts(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &["lobby", "rust"]).await;
    let _alice_tab = server.chat_as("alice", &["rust"]).await;
    let _bob = server.chat_as("bob", &["rust"]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    alice.send(&ClientMsg::ListRooms).await;
    let room = |name: &str, members| RoomInfo {
        name: name.parse().unwrap(),
        members,
    };
    assert_eq!(
        alice.recv().await,
        ServerMsg::Rooms {
            rooms: vec![room("lobby", 1), room("rust", 2)]
        }
    );
}

async fn requests_before_hello_and_outside_joined_rooms_are_refused(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut anon = server.chat_socket().await;
    anon.send(&ClientMsg::ListRooms).await;
    assert_eq!(anon.recv_error().await, ErrorCode::NotIdentified);
    let mut alice = server.chat_as("alice", &[]).await;
    alice.say("elsewhere", "hi", "x1").await;
    match alice.recv().await {
        ServerMsg::Error {
            code: ErrorCode::NotInRoom,
            client_id,
            ..
        } => assert_eq!(client_id.unwrap().as_str(), "x1"),
        other => panic!("{other:?}"),
    }
    alice
        .send(&ClientMsg::Hello {
            nick: nick("alice"),
            token: token_for("alice"),
            rooms: vec![],
            since: Default::default(),
            direct_since: None,
            epochs: Default::default(),
            direct_epoch: None,
            jwt: None,
        })
        .await;
    assert_eq!(alice.recv_error().await, ErrorCode::AlreadyIdentified);
}

async fn every_bad_input_gets_a_typed_error_and_nobody_else_notices(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut alice = server.chat_as("alice", &[]).await;
    let mut bob = server.chat_as("bob", &[]).await;
    assert!(matches!(alice.recv().await, ServerMsg::Presence { .. }));
    let cases = [
        ("{not json", ErrorCode::Malformed),
        (r#"["say"]"#, ErrorCode::UnknownType),
        (r#"{"type":"shout","room":"lobby"}"#, ErrorCode::UnknownType),
        (
            r#"{"type":"say","room":"lobby","client_id":"c"}"#,
            ErrorCode::Invalid,
        ),
        (r#"{"type":"join","room":"no spaces"}"#, ErrorCode::Invalid),
        (
            r#"{"type":"join","room":"x23456789012345678901234567890123"}"#,
            ErrorCode::Invalid,
        ),
        (
            r#"{"type":"rename","nick":"bell\u0007"}"#,
            ErrorCode::Invalid,
        ),
        (
            r#"{"type":"say","room":"lobby","text":"   ","client_id":"c"}"#,
            ErrorCode::Invalid,
        ),
    ];
    for (input, code) in cases {
        bob.send_raw(input).await;
        match bob.recv().await {
            ServerMsg::Error {
                code: got, message, ..
            } => {
                assert_eq!(got, code, "{input} → {message}");
                assert!(!message.is_empty());
            }
            other => panic!("{input}: expected error, got {other:?}"),
        }
    }
    within(bob.ws.send(Message::binary(vec![1, 2, 3])))
        .await
        .unwrap();
    assert_eq!(bob.recv_error().await, ErrorCode::BinaryNotSupported);
    // Still connected and working; alice saw none of it.
    bob.say("lobby", "still here", "ok").await;
    expect_said(&mut bob, "lobby", "bob", "still here").await;
    expect_said(&mut alice, "lobby", "bob", "still here").await;
    alice.expect_silence(QUIET).await;
}

#[actix_web::test]
async fn invalid_utf8_closes_with_1007() {
    let server = TestServer::spawn(config());
    let mut alice = server.chat_as("alice", &[]).await;
    let frame = Frame::message(vec![b'{', 0xff], OpCode::Data(Data::Text), true);
    within(alice.ws.send(Message::Frame(frame))).await.unwrap();
    expect_close(&mut alice.ws, close::INVALID_PAYLOAD).await;
}

#[actix_web::test]
async fn oversized_frame_closes_with_1009() {
    let server = TestServer::spawn(Config {
        max_frame_size: 4096,
        ..config()
    });
    let mut alice = server.chat_as("alice", &[]).await;
    alice.say("lobby", &"x".repeat(5000), "big").await;
    expect_close(&mut alice.ws, close::MESSAGE_TOO_BIG).await;
}

async fn text_over_the_limit_is_refused_with_its_client_id(mode: Mode) {
    let server = TestServer::spawn(mode.config(Config {
        max_text_chars: 10,
        ..config()
    }));
    let mut alice = server.chat_as("alice", &[]).await;
    alice.say("lobby", "가나다라마바사아자차카", "long").await;
    match alice.recv().await {
        ServerMsg::Error {
            code: ErrorCode::TooLong,
            client_id,
            ..
        } => assert_eq!(client_id.unwrap().as_str(), "long"),
        other => panic!("{other:?}"),
    }
    alice.say("lobby", "가나다라마바사아자차", "fits").await;
    expect_said(&mut alice, "lobby", "alice", "가나다라마바사아자차").await;
}

/// Scrolling a big room's member list asks for many pages in a row: they are slowed to their
/// own rate, never refused (a refused page would leave the list waiting).
async fn member_pages_are_slowed_to_their_own_rate_never_refused(mode: Mode) {
    const PAGES: usize = 30;
    let server = TestServer::spawn(mode.config(Config {
        rate_per_sec: 1,
        rate_burst: 4,
        ..config()
    }));
    let mut alice = server.chat_as("alice", &["lobby"]).await;
    let started = std::time::Instant::now();
    for _ in 0..PAGES {
        alice
            .send(&ClientMsg::Members {
                room: "lobby".parse().unwrap(),
                after: None,
                prefix: String::new(),
            })
            .await;
    }
    for page in 0..PAGES {
        match alice.recv().await {
            ServerMsg::Members { members, more, .. } => {
                assert_eq!((members, more), (nicks(&["alice"]), false));
            }
            other => panic!("page {page}: expected members, got {other:?}"),
        }
    }
    // Reads: 5 a second, burst 20 (five times the messages'), so the last ten waited.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{PAGES} pages in {:?}: not slowed",
        started.elapsed()
    );
    // Messages have their own bucket: the hello took one of four; three says pass now.
    for i in 0..3 {
        alice
            .say("lobby", "after the pages", &format!("s{i}"))
            .await;
        expect_said(&mut alice, "lobby", "alice", "after the pages").await;
    }
}

async fn rate_limit_refuses_then_sustained_abuse_closes_with_1008(mode: Mode) {
    const BURST: u32 = 4;
    const STRIKES: u32 = 20;
    let server = TestServer::spawn(mode.config(Config {
        rate_per_sec: 1,
        rate_burst: BURST,
        rate_strikes: STRIKES,
        ..config()
    }));
    // The hello takes one token of the burst.
    let mut alice = server.chat_as("alice", &[]).await;
    // Ten messages at once. The bucket refills one token a second, so how many pass depends
    // on how long the server takes, which a loaded machine stretches: bound it by the time
    // measured instead of assuming none passes.
    let started = std::time::Instant::now();
    for i in 0..10 {
        alice.say("lobby", "burst", &format!("b{i}")).await;
    }
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    while accepted.len() + refused.len() < 10 {
        match alice.recv().await {
            ServerMsg::Said { client_id, .. } => accepted.push(client_id.to_string()),
            // The refused message's id comes back so the client can mark it failed.
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                client_id,
                ..
            } => refused.push(client_id.expect("the refused say's id").to_string()),
            other => panic!("{other:?}"),
        }
    }
    let refills = started.elapsed().as_secs() as usize + 1;
    assert!(
        (BURST as usize - 1..=BURST as usize - 1 + refills).contains(&accepted.len()),
        "{accepted:?} accepted in {:?}",
        started.elapsed()
    );
    // Refusals are written by the session at once, acknowledgements after the store: they
    // arrive out of order, so read the outcome in the order sent.
    accepted.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    assert_eq!(accepted[..3], ["b0", "b1", "b2"], "the burst passes first");
    let mut all = [accepted.clone(), refused].concat();
    all.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    let sent: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    assert_eq!(all, sent, "every message answered once");
    // Refusals in a row so far, as the server counts them: those after the last accepted.
    let last_accepted: usize = accepted.last().unwrap()[1..].parse().unwrap();
    let mut in_a_row = 9 - last_accepted as u32;
    // Sustained abuse: refusals in a row close the socket with 1008. A refill in between
    // (a stall of a second) resets the count, so keep going, boundedly, until the close.
    for _ in 0..100 {
        alice.send(&ClientMsg::ListRooms).await;
        match common::next_message(&mut alice.ws).await {
            Message::Text(text) => match shared::decode(&text).unwrap() {
                ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    ..
                } => in_a_row += 1,
                ServerMsg::Rooms { .. } => in_a_row = 0,
                other => panic!("{other:?}"),
            },
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), close::POLICY_VIOLATION);
                assert_eq!(
                    in_a_row,
                    STRIKES - 1,
                    "closed on the {STRIKES}th refusal in a row"
                );
                return;
            }
            other => panic!("{other:?}"),
        }
    }
    panic!("never closed for rate abuse");
}

async fn joining_past_the_room_limit_is_refused(mode: Mode) {
    let server = TestServer::spawn(mode.config(Config {
        max_rooms: 2,
        ..config()
    }));
    let mut alice = server.chat_as("alice", &["a", "b"]).await;
    alice
        .send(&ClientMsg::Join {
            room: "c".parse().unwrap(),
            since: None,
            epoch: None,
        })
        .await;
    assert_eq!(alice.recv_error().await, ErrorCode::TooManyRooms);
    alice
        .send(&ClientMsg::Leave {
            room: "a".parse().unwrap(),
        })
        .await;
    assert!(matches!(alice.recv().await, ServerMsg::Left { .. }));
    alice
        .send(&ClientMsg::Join {
            room: "c".parse().unwrap(),
            since: None,
            epoch: None,
        })
        .await;
    assert!(matches!(alice.recv().await, ServerMsg::Joined { .. }));
}

#[actix_web::test]
async fn connections_past_the_limit_get_503() {
    let server = TestServer::spawn(Config {
        max_connections: 2,
        ..config()
    });
    let _one = server.chat_socket().await;
    let _two = server.connect(shared::paths::WS_ECHO).await;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {}\r\n\r\n",
        shared::paths::WS_CHAT,
        server.addr,
        shared::SUBPROTOCOL
    );
    let (status, body) = http_request(server.addr, &request).await;
    assert_eq!(status, 503, "{body}");
    let (_, metrics) = common::http_get(server.addr, shared::paths::METRICS).await;
    assert!(
        metrics.contains("chat_handshake_rejections_total{reason=\"capacity\"} 1"),
        "{metrics}"
    );
    // A slot frees when a connection ends (once the server has noticed).
    drop(_one);
    eventually("the slot is freed", || async {
        http_request(server.addr, &request).await.0 == 101
    })
    .await;
}

/// A chat handshake from this test, with `extra` header lines.
fn chat_handshake(server: &TestServer, extra: &str) -> String {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {}\r\n{extra}\r\n",
        shared::paths::WS_CHAT,
        server.addr,
        shared::SUBPROTOCOL
    )
}

#[actix_web::test]
async fn connections_from_one_address_past_its_cap_get_429() {
    let server = TestServer::spawn(Config {
        max_connections_per_ip: 3,
        ..config()
    });
    let _one = server.chat_socket().await;
    let _two = server.chat_socket().await;
    let three = server.connect(shared::paths::WS_ECHO).await;
    let (status, body) = http_request(server.addr, &chat_handshake(&server, "")).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body.contains("too many connections from 127.0.0.1"),
        "{body}"
    );
    let (_, metrics) = common::http_get(server.addr, shared::paths::METRICS).await;
    assert!(
        metrics.contains("chat_handshake_rejections_total{reason=\"address_connections\"} 1"),
        "{metrics}"
    );
    // Ending one connection gives its address the slot back.
    drop(three);
    eventually("the address's slot is freed", || async {
        http_request(server.addr, &chat_handshake(&server, ""))
            .await
            .0
            == 101
    })
    .await;
}

#[actix_web::test]
async fn handshakes_from_one_address_past_its_rate_get_429_with_retry_after() {
    let server = TestServer::spawn(Config {
        max_handshakes_per_ip: 5,
        ..config()
    });
    let request = chat_handshake(&server, "");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(common::http_exchange(server.addr, &request).await);
    }
    // The burst passes (the sockets close at once, which does not give handshakes back).
    assert!(statuses[..5].iter().all(|(status, _, _)| *status == 101));
    assert!(statuses[5..].iter().all(|(status, _, _)| *status == 429));
    let (_, head, body) = &statuses[7];
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(body.contains("too many handshakes"), "{body}");
    // A second later the bucket has refilled.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(http_request(server.addr, &request).await.0, 101);
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_capped_not_the_proxy() {
    let server = TestServer::spawn(Config {
        max_connections_per_ip: 1,
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..config()
    });
    let from = |client: &str| chat_handshake(&server, &format!("X-Forwarded-For: {client}\r\n"));
    let mut held = Vec::new();
    for client in ["203.0.113.1", "203.0.113.2"] {
        let mut socket = TcpStream::connect(server.addr).await.unwrap();
        socket.write_all(from(client).as_bytes()).await.unwrap();
        let mut head = [0u8; 12];
        socket.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 101", "{client}");
        held.push(socket);
    }
    // A second connection of the same forwarded client is its second.
    let (status, body) = http_request(server.addr, &from("203.0.113.1")).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("203.0.113.1"), "{body}");
}

#[actix_web::test]
async fn foreign_origin_gets_403_and_same_origin_passes() {
    let server = TestServer::spawn(config());
    let handshake = |origin: &str| {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
            shared::paths::WS_CHAT,
            server.addr,
            shared::SUBPROTOCOL
        )
    };
    let (status, body) = http_request(server.addr, &handshake("http://evil.example")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("evil.example"), "{body}");
    // The echo socket is protected the same way.
    let echo =
        handshake("http://evil.example").replace(shared::paths::WS_CHAT, shared::paths::WS_ECHO);
    assert_eq!(http_request(server.addr, &echo).await.0, 403);

    // Hole 10 of issue #27, item 4: by default no other origin, not even a development
    // server's (trunk serve on port 3000); it is allowed only when named.
    const DEV_SERVER: &str = "http://127.0.0.1:3000";
    let (status, body) = http_request(server.addr, &handshake(DEV_SERVER)).await;
    assert_eq!(status, 403, "{body}");
    let dev = TestServer::spawn(Config {
        allowed_origins: vec![DEV_SERVER.into()],
        ..config()
    });

    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    for (server, origin) in [
        (&server, format!("http://{}", server.addr)),
        (&dev, DEV_SERVER.to_owned()),
    ] {
        let mut request = server
            .ws_url(shared::paths::WS_CHAT)
            .into_client_request()
            .unwrap();
        let headers = request.headers_mut();
        headers.insert("Origin", origin.parse().unwrap());
        headers.insert(
            "Sec-WebSocket-Protocol",
            shared::SUBPROTOCOL.parse().unwrap(),
        );
        let (_, response) = within(tokio_tungstenite::connect_async(request))
            .await
            .unwrap();
        assert_eq!(response.status(), 101, "{origin}");
    }
}

#[actix_web::test]
async fn handshake_without_the_subprotocol_is_refused_naming_it() {
    let server = TestServer::spawn(config());
    for offered in ["", "Sec-WebSocket-Protocol: chat.v2.json\r\n"] {
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{offered}\r\n",
            shared::paths::WS_CHAT,
            server.addr
        );
        let (status, body) = http_request(server.addr, &request).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains(shared::SUBPROTOCOL), "{body}");
    }
}

#[actix_web::test]
async fn shutdown_sends_1001_to_chat_sockets() {
    let server = TestServer::spawn(config());
    let mut alice = server.chat_as("alice", &[]).await;
    server.shutdown.cancel();
    expect_close(&mut alice.ws, close::GOING_AWAY).await;
}

/// Single node only: its memory bound is the hub's outboxes'; in cluster mode the Redis
/// client buffers the same 16 MB of pushes on their way in, which this bound does not cover
/// (the slow reader's drop itself is the same code in both modes).
#[actix_web::test]
async fn slow_reader_is_dropped_with_1013_memory_stays_bounded_and_everyone_else_gets_everything() {
    // The real binary, so its resident memory can be read while the reader lags.
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--data-dir",
        data.path().to_str().unwrap(),
        // Room for a hello's five frames (welcome, joined, read_positions, direct_history,
        // history) for the readers, small for the one that stops reading.
        "--outbox-capacity",
        "8",
        "--rate-per-sec",
        "100000",
        "--rate-burst",
        "100000",
        "--max-text-chars",
        "100000",
    ];
    let process = common::Process::start(&args).await;
    let server = TestServer::at(process.addr);
    let mut sender = server.chat_as("sender", &[]).await;
    let mut watcher = server.chat_as("watcher", &[]).await;
    // A raw socket with a 4 KB receive buffer that says hello and never reads again.
    let mut slow = RawSocket::connect_with_receive_buffer(
        server.addr,
        shared::paths::WS_CHAT,
        Some(shared::SUBPROTOCOL),
        4096,
    )
    .await;
    let hello = ClientMsg::Hello {
        nick: nick("slow"),
        token: token_for("slow"),
        rooms: vec![],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    };
    slow.send_text(&shared::encode(&hello).unwrap()).await;
    for chat in [&mut sender, &mut watcher] {
        loop {
            if common::arrived(&chat.recv().await, "slow") {
                break;
            }
        }
    }
    let baseline_kb = common::rss_kb(process.child.id());

    // Enough to fill every buffer between the hub and the slow peer several times over, on
    // this host: the server must drop it on the way, whatever those sizes are.
    let text = "x".repeat(64 * 1024);
    let messages = common::messages_to_overflow(text.len());
    let mut slow_left_at = None;
    let mut peak_kb = baseline_kb;
    for i in 0..messages {
        sender.say("lobby", &text, &format!("m{i}")).await;
        for chat in [&mut sender, &mut watcher] {
            loop {
                match chat.recv().await {
                    ServerMsg::Said { client_id, .. } => {
                        assert_eq!(client_id.as_str(), format!("m{i}"), "a message was lost");
                        break;
                    }
                    ref event if common::departed(event, "slow") => {
                        slow_left_at.get_or_insert(i);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        peak_kb = peak_kb.max(common::rss_kb(process.child.id()));
    }
    // Departures are coalesced per `--presence-window` (1 s): "slow" joined within the
    // window, so its departure may be told after the last message has been read.
    // Fails (after STEP) if the server never drops it.
    let dropped_after = match slow_left_at {
        Some(i) => i,
        None => loop {
            match watcher.recv().await {
                ref event if common::departed(event, "slow") => break messages,
                ServerMsg::Presence { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        },
    };
    // Bounded: what reached the server while the reader lagged (dropped_after messages of
    // 64 KB, every one also kept for the others until they read it) must not pile up.
    let sent_kb = (messages * text.len() / 1024) as u64;
    assert!(
        peak_kb < baseline_kb + sent_kb / 2,
        "resident memory grew from {baseline_kb} kB to {peak_kb} kB while {sent_kb} kB were sent"
    );
    // Now it reads again: first what was buffered, then the close frame the server queued for
    // it when it fell behind. Mandatory: the close waits in the connection's own queue until
    // the socket takes it.
    let code = slow.read_until_close(Duration::from_secs(30)).await;
    assert_eq!(
        code,
        close::SLOW_CONSUMER,
        "dropped after message {dropped_after}"
    );
}

async fn silent_chat_client_is_dropped_and_leaves_its_rooms(mode: Mode) {
    let server = TestServer::spawn(mode.config(Config {
        heartbeat_interval: Duration::from_millis(100),
        client_timeout: Duration::from_millis(400),
        ..config()
    }));
    let mut watcher = server.chat_as("watcher", &[]).await;
    // A raw socket: it says hello and then never reads or answers a ping.
    let mut silent = RawSocket::connect(
        server.addr,
        shared::paths::WS_CHAT,
        Some(shared::SUBPROTOCOL),
    )
    .await;
    let hello = ClientMsg::Hello {
        nick: nick("silent"),
        token: token_for("silent"),
        rooms: vec![],
        since: Default::default(),
        direct_since: None,
        epochs: Default::default(),
        direct_epoch: None,
        jwt: None,
    };
    silent.send_text(&shared::encode(&hello).unwrap()).await;
    // Its arrival and departure may fall in one presence window: then only the departure
    // is told (each user as they ended).
    loop {
        let event = watcher.recv().await;
        assert!(matches!(event, ServerMsg::Presence { .. }), "{event:?}");
        if common::departed(&event, "silent") {
            break;
        }
    }
    let code = silent.read_until_close(Duration::from_secs(5)).await;
    assert_eq!(code, close::HEARTBEAT_TIMEOUT);
}

async fn close_without_a_code_is_answered_in_kind_and_leaves_the_rooms(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut watcher = server.chat_as("watcher", &[]).await;
    let mut leaver = server.chat_as("leaver", &[]).await;
    assert!(matches!(watcher.recv().await, ServerMsg::Presence { .. }));
    within(leaver.ws.send(Message::Close(None))).await.unwrap();
    assert_eq!(
        common::next_message(&mut leaver.ws).await,
        Message::Close(None)
    );
    assert_eq!(common::presence(&watcher.recv().await), "lobby -leaver");
}

#[actix_web::test]
async fn pings_are_answered_with_their_payload_and_a_quiet_client_is_pinged() {
    let server = TestServer::spawn(Config {
        heartbeat_interval: Duration::from_millis(100),
        ..config()
    });
    let mut alice = server.chat_as("alice", &[]).await;
    within(alice.ws.send(Message::Ping("are you there".into())))
        .await
        .unwrap();
    let (mut ponged, mut pinged) = (false, false);
    while !(ponged && pinged) {
        match within(futures_util::StreamExt::next(&mut alice.ws))
            .await
            .unwrap()
            .unwrap()
        {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"are you there");
                ponged = true;
            }
            Message::Ping(_) => pinged = true,
            other => panic!("expected a pong and a ping, got {other:?}"),
        }
    }
}

async fn a_connection_that_vanishes_leaves_its_rooms_at_once(mode: Mode) {
    let server = TestServer::spawn(mode.config(config()));
    let mut watcher = server.chat_as("watcher", &[]).await;
    let leaver = server.chat_as("leaver", &[]).await;
    assert!(matches!(watcher.recv().await, ServerMsg::Presence { .. }));
    // No close frame: the TCP connection just ends. The heartbeat timeout is 30 s here, so
    // only the connection's end can make the session notice within `within`'s limit.
    drop(leaver);
    assert_eq!(common::presence(&watcher.recv().await), "lobby -leaver");
}

common::in_both_modes!(
    hello_welcomes_and_joins_the_default_room,
    message_reaches_room_members_only_sender_included,
    one_connection_chats_in_several_rooms,
    join_gives_members_then_presence_events_follow,
    two_tabs_of_one_user_are_one_member,
    taken_nickname_is_refused_ignoring_case_and_the_socket_stays_usable,
    rename_propagates_and_respects_uniqueness,
    a_rename_is_told_once_to_who_shares_several_rooms_with_the_renamer,
    typing_is_announced_once_and_expires_on_its_own,
    direct_message_reaches_both_users_on_every_tab_and_nobody_else,
    rooms_are_listed_with_member_counts,
    requests_before_hello_and_outside_joined_rooms_are_refused,
    every_bad_input_gets_a_typed_error_and_nobody_else_notices,
    text_over_the_limit_is_refused_with_its_client_id,
    member_pages_are_slowed_to_their_own_rate_never_refused,
    rate_limit_refuses_then_sustained_abuse_closes_with_1008,
    joining_past_the_room_limit_is_refused,
    silent_chat_client_is_dropped_and_leaves_its_rooms,
    close_without_a_code_is_answered_in_kind_and_leaves_the_rooms,
    a_connection_that_vanishes_leaves_its_rooms_at_once,
);
