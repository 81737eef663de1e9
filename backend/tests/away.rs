//! Direct messages to people who are away (issue #29), over real sockets in both modes: to an
//! account that is offline (one that never connected, one that has), stored and delivered
//! exactly once on its next connection, on each of its devices, after a SIGKILL of the
//! server in between; and the `open` mode's rule (a free nickname reaches its last holder
//! only within `--open-direct-window` after they left, and never someone who took the name
//! later), at its edges.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{Chat, Mode, Process, TestServer, departed, post_json, set_cookie, token_for};
use shared::{
    ClientMsg, DirectMessage, ErrorCode, MessageId, RoomName, ServerMsg, UserToken, paths,
};

const PASSWORD: &str = "correct horse battery";

/// Creates the account `name` and returns its session cookie (its first device).
async fn register(server: &TestServer, name: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": PASSWORD }).to_string();
    let (status, head, reply) = post_json(server.addr, paths::API_REGISTER, &body, None).await;
    assert_eq!(status, 201, "{reply}");
    set_cookie(&head).unwrap()
}

/// Logs in as `name` again: another device's session cookie.
async fn log_in(server: &TestServer, name: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": PASSWORD }).to_string();
    let (status, head, reply) = post_json(server.addr, paths::API_LOGIN, &body, None).await;
    assert_eq!(status, 200, "{reply}");
    set_cookie(&head).unwrap()
}

/// A `hello` as `nick` with `token` (no rooms: the default one), resuming the direct
/// messages after `direct_since`.
fn hello(nick: &str, token: UserToken, direct_since: Option<MessageId>) -> ClientMsg {
    ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token,
        rooms: vec![],
        since: Default::default(),
        epochs: Default::default(),
        direct_since,
        direct_epoch: None,
        jwt: None,
    }
}

/// What a hello brought: the `direct_history`, and each group joined with the texts of
/// its history.
type Brought = (Vec<DirectMessage>, Vec<(RoomName, Vec<String>)>);

/// Says hello on `chat` (no rooms: the default one, and the user's `in_groups` groups) and
/// returns the
/// `direct_history` it is sent and the groups' histories, once the lobby's history has come
/// too; then nothing more arrives for a moment (no second copy of a stored message).
async fn hello_directs(chat: &mut Chat, nick: &str, token: UserToken, in_groups: usize) -> Brought {
    chat.send(&hello(nick, token, None)).await;
    let (mut directs, mut lobby, mut groups) = (None, false, Vec::new());
    while directs.is_none() || !lobby || groups.len() < in_groups {
        match chat.recv_any().await {
            ServerMsg::DirectHistory { messages, .. } => directs = Some(messages),
            ServerMsg::History { room, messages, .. } if room == RoomName::default_room() => {
                let leaked = messages.iter().any(|m| m.text.as_str() == "group hello");
                assert!(!leaked, "a group's message stays in the group");
                lobby = true;
            }
            ServerMsg::History { room, messages, .. } => {
                let texts = messages
                    .into_iter()
                    .map(|m| m.text.as_str().to_owned())
                    .collect();
                groups.push((room, texts));
            }
            ServerMsg::Welcome { .. }
            | ServerMsg::Joined { .. }
            | ServerMsg::RoomPolicy { .. }
            | ServerMsg::Presence { .. }
            | ServerMsg::Typing { .. } => {}
            other => panic!("expected the hello's answers, got {other:?}"),
        }
    }
    chat.expect_silence(Duration::from_millis(300)).await;
    (directs.unwrap(), groups)
}

fn texts(messages: &[DirectMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.text.as_str()).collect()
}

/// Sends a direct message and waits for the sender's own copy (the server stored it), or
/// returns the error it was refused with.
async fn direct(chat: &mut Chat, to: &str, text: &str, client_id: &str) -> Result<(), ErrorCode> {
    chat.send(&ClientMsg::Direct {
        to: to.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
    })
    .await;
    loop {
        match chat.recv().await {
            ServerMsg::Direct {
                client_id: echoed, ..
            } if echoed.as_str() == client_id => return Ok(()),
            ServerMsg::Error {
                code,
                client_id: Some(refused),
                ..
            } if refused.as_str() == client_id => return Err(code),
            ServerMsg::Presence { .. } | ServerMsg::Typing { .. } => {}
            other => panic!("expected the direct's copy or error, got {other:?}"),
        }
    }
}

/// A socket presenting the session `cookie` (accounts mode: the name is the account's).
async fn device(server: &TestServer, cookie: &str) -> Chat {
    server.chat_socket_with_cookie(Some(cookie)).await
}

async fn directs_to_accounts_that_are_away_arrive_once_on_each_device_after_a_crash(mode: Mode) {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let redis = mode.redis_url();
    // Eve is a server admin: even she cannot enter a group she is not in.
    let mut args = vec![
        "--data-dir",
        &data_dir,
        "--auth",
        "accounts",
        "--admin",
        "eve",
    ];
    if let Some(url) = &redis {
        args.extend(["--redis", url]);
    }
    let process = Process::start(&args).await;
    let server = TestServer::at(process.addr);
    let alice = register(&server, "alice").await;
    // Bob registers and never connects before the crash; Carol has been here and left.
    let bob = register(&server, "bob").await;
    let carol = register(&server, "carol").await;
    {
        let mut carol = device(&server, &carol).await;
        carol.identify("carol", token_for("carol"), &[], None).await;
    }
    let mut alice_chat = device(&server, &alice).await;
    alice_chat
        .identify("alice", token_for("alice"), &[], None)
        .await;
    for (to, text, id) in [
        ("bob", "one", "a-1"),
        ("Bob", "two", "a-2"),
        ("carol", "three", "a-3"),
    ] {
        assert_eq!(
            direct(&mut alice_chat, to, text, id).await,
            Ok(()),
            "{text}"
        );
    }
    // A name no account has reaches nobody.
    assert_eq!(
        direct(&mut alice_chat, "nobody", "hello?", "a-4").await,
        Err(ErrorCode::NoSuchUser)
    );
    // A group with both of them, and a message to it.
    alice_chat
        .send(&ClientMsg::CreateGroup {
            with: vec!["bob".parse().unwrap(), "carol".parse().unwrap()],
        })
        .await;
    let joined = alice_chat
        .until("the group", |e| matches!(e, ServerMsg::Joined { .. }))
        .await;
    let ServerMsg::Joined { room: group, .. } = joined else {
        unreachable!()
    };
    alice_chat.say(group.as_str(), "group hello", "a-5").await;
    alice_chat
        .until(
            "the group message's copy",
            |e| matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == "a-5"),
        )
        .await;
    let eve = register(&server, "eve").await;
    let mut eve = device(&server, &eve).await;
    eve.identify("eve", token_for("eve"), &[], None).await;
    eve.send(&ClientMsg::Join {
        room: group.clone(),
        since: None,
        epoch: None,
    })
    .await;
    assert_eq!(eve.recv_error().await, ErrorCode::Forbidden);
    // Everything above was acknowledged; the server is killed outright.
    process.signal("KILL");
    assert!(!process.wait().await.success());

    let process = Process::start(&args).await;
    let server = TestServer::at(process.addr);
    let second_device = log_in(&server, "bob").await;
    let mut last = None;
    for cookie in [&bob, &second_device] {
        let mut chat = device(&server, cookie).await;
        let (got, groups) = hello_directs(&mut chat, "ignored", token_for("ignored"), 1).await;
        assert_eq!(texts(&got), ["one", "two"], "each of Bob's devices, once");
        assert!(got.iter().all(|m| m.from.as_str() == "alice"));
        assert_eq!(groups, [(group.clone(), vec!["group hello".to_owned()])]);
        last = got.last().map(|m| m.id);
    }
    let mut carol = device(&server, &carol).await;
    let (got, groups) = hello_directs(&mut carol, "ignored", token_for("ignored"), 1).await;
    assert_eq!(texts(&got), ["three"]);
    assert_eq!(groups, [(group, vec!["group hello".to_owned()])]);
    // And a device that comes back with what it has is sent nothing twice.
    let mut again = device(&server, &bob).await;
    again.send(&hello("bob", token_for("bob"), last)).await;
    let caught_up = again
        .until("Bob's catch-up", |e| {
            matches!(e, ServerMsg::DirectHistory { .. })
        })
        .await;
    let ServerMsg::DirectHistory { messages, .. } = caught_up else {
        unreachable!()
    };
    assert_eq!(texts(&messages), Vec::<&str>::new());
}

/// `--open-direct-window` in these tests: long enough for a step on a loaded machine, short
/// enough to wait out.
const WINDOW: Duration = Duration::from_secs(2);

fn open_config(mode: &Mode) -> Config {
    mode.config(Config {
        open_direct_window: WINDOW,
        ..common::patient_config(None)
    })
}

/// Leaves (closes the socket) and waits until `watcher` sees `who` go.
async fn leave(chat: Chat, watcher: &mut Chat, who: &str) {
    drop(chat);
    watcher.until("the departure", |e| departed(e, who)).await;
}

async fn in_open_mode_a_free_name_reaches_its_last_holder_only_for_a_while(mode: Mode) {
    let server = TestServer::spawn(open_config(&mode));
    let mut alice = server.chat_as("alice", &[]).await;
    let first = token_for("dora the first");
    let second = token_for("dora the second");

    // The first Dora holds the name for longer than the window, then leaves: the window
    // counts from when she left, so a message right after reaches her.
    let dora = server.chat_with_token("dora", first.clone(), &[]).await;
    tokio::time::sleep(WINDOW + Duration::from_millis(500)).await;
    leave(dora, &mut alice, "dora").await;
    assert_eq!(
        direct(&mut alice, "dora", "right after you left", "o-1").await,
        Ok(())
    );

    // Someone else takes the name: what was written to the first Dora is not theirs, and
    // what is written to the name now is theirs, not hers.
    let mut dora = server.chat_socket().await;
    let (got, _) = hello_directs(&mut dora, "dora", second.clone(), 0).await;
    assert_eq!(texts(&got), Vec::<&str>::new(), "not the first Dora's");
    leave(dora, &mut alice, "dora").await;
    assert_eq!(
        direct(&mut alice, "DORA", "for the second", "o-2").await,
        Ok(())
    );
    let mut dora = server.chat_socket().await;
    let (got, _) = hello_directs(&mut dora, "dora", first, 0).await;
    assert_eq!(texts(&got), ["right after you left"]);
    leave(dora, &mut alice, "dora").await;
    // The messages follow the person, whatever they are called now.
    let mut bea = server.chat_socket().await;
    let (got, _) = hello_directs(&mut bea, "bea", second, 0).await;
    assert_eq!(texts(&got), ["for the second"]);
    leave(bea, &mut alice, "bea").await;

    // Past the window the name reaches nobody.
    tokio::time::sleep(WINDOW + Duration::from_millis(500)).await;
    assert_eq!(
        direct(&mut alice, "dora", "anyone?", "o-3").await,
        Err(ErrorCode::NoSuchUser)
    );
}

common::in_both_modes!(
    directs_to_accounts_that_are_away_arrive_once_on_each_device_after_a_crash,
    in_open_mode_a_free_name_reaches_its_last_holder_only_for_a_while,
);
