//! The admin console's API (issue #33), in both modes: the moderation log is kept (every act
//! of room moderation, who did it and when, newest first, page by page, and still there
//! after a restart of the node) and only server admins read it or the live numbers: 401
//! without a login, 403 for anyone else.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;

use backend::Config;
use common::{Chat, Mode, TestServer, post_json, set_cookie, token_for};
use shared::{
    ClientMsg, ErrorCode, MessageId, ModAction, Nick, RemovedReason, RoomName, ServerMsg,
    admin::{LogPage, Stats},
    paths,
};

fn config(mode: &Mode, data_dir: Option<std::path::PathBuf>) -> Config {
    let config = Config {
        auth: shared::auth::AuthMode::Accounts,
        admins: vec!["root".into()],
        ..common::patient_config(mode.redis_url())
    };
    match data_dir {
        Some(data_dir) => Config { data_dir, ..config },
        None => config,
    }
}

fn nick(name: &str) -> Nick {
    name.parse().unwrap()
}

/// A fresh account's session cookie.
async fn register(addr: SocketAddr, name: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": "a long password" }).to_string();
    let (status, head, reply) = post_json(addr, paths::API_REGISTER, &body, None).await;
    assert_eq!(status, 201, "{reply}");
    set_cookie(&head).unwrap()
}

/// A chat socket of the account behind `cookie`.
async fn chat(server: &TestServer, name: &str, cookie: &str) -> Chat {
    chat_in(server, name, cookie, &[]).await
}

/// [`chat`], in `rooms` (none: the lobby).
async fn chat_in(server: &TestServer, name: &str, cookie: &str, rooms: &[&str]) -> Chat {
    let mut chat = server.chat_socket_with_cookie(Some(cookie)).await;
    chat.identify(name, token_for(name), rooms, None).await;
    chat
}

/// `POST /api/admin/ban` as the account behind `cookie`: the status.
async fn post_ban(addr: SocketAddr, cookie: Option<&str>, user: &str, banned: bool) -> u16 {
    let body = shared::admin::Ban {
        user: user.to_owned(),
        banned,
    }
    .to_json();
    post_json(addr, paths::API_ADMIN_BAN, &body, cookie).await.0
}

/// `POST /api/login` of `name`: the status.
async fn login(addr: SocketAddr, name: &str) -> u16 {
    let body = serde_json::json!({ "name": name, "password": "a long password" }).to_string();
    post_json(addr, paths::API_LOGIN, &body, None).await.0
}

/// Reads a banned tab's last words: `removed` (by `by`, reason `banned`) for each of its
/// rooms, then the `banned` error, then the close with 4403.
async fn banned_tab(mut tab: Chat, by: &str) -> std::collections::BTreeSet<String> {
    let mut removed = std::collections::BTreeSet::new();
    loop {
        match tab.recv().await {
            ServerMsg::Removed {
                room,
                by: who,
                reason: RemovedReason::Banned,
            } => {
                assert_eq!(who.as_str(), by);
                removed.insert(room.to_string());
            }
            ServerMsg::Error {
                code: ErrorCode::Banned,
                ..
            } => break,
            ServerMsg::Left { .. } | ServerMsg::Presence { .. } | ServerMsg::Typing { .. } => {}
            other => panic!("expected removed, got {other:?}"),
        }
    }
    common::expect_close(&mut tab.ws, shared::close::BANNED).await;
    removed
}

/// `GET path` with `cookie` (none: anonymous): the status and body.
async fn get(addr: SocketAddr, path: &str, cookie: Option<&str>) -> (u16, String) {
    let cookie = cookie.map_or_else(String::new, |c| {
        format!("Cookie: {}={c}\r\n", paths::SESSION_COOKIE)
    });
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{cookie}Connection: close\r\n\r\n");
    let (status, _, body) = common::http_exchange(addr, &request).await;
    (status, body)
}

/// A public room `name` that `owner` creates (and is in).
async fn create_room(owner: &mut Chat, name: &str) -> RoomName {
    let room: RoomName = name.parse().unwrap();
    owner
        .send(&ClientMsg::CreateRoom {
            room: room.clone(),
            private: false,
            max_members: None,
        })
        .await;
    owner
        .until("joined the new room", |e| {
            matches!(e, ServerMsg::Joined { .. })
        })
        .await;
    room
}

async fn moderated(chat: &mut Chat, what: &str) {
    chat.until(what, |e| matches!(e, ServerMsg::Moderated { .. }))
        .await;
}

/// Olga owns a room and kicks, bans and names a moderator there; the log says so, newest
/// first, to root (an admin) alone, page by page; the numbers move with a message.
async fn the_moderation_log_is_kept_and_only_admins_read_it(mode: Mode) {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::spawn(config(&mode, Some(data.path().to_owned())));
    let olga = register(server.addr, "olga").await;
    let root = register(server.addr, "root").await;
    let carol = register(server.addr, "carol").await;
    register(server.addr, "dave").await;
    let mut owner = chat(&server, "olga", &olga).await;
    let room = create_room(&mut owner, "ops").await;
    for act in [
        ClientMsg::Kick {
            room: room.clone(),
            user: nick("carol"),
        },
        ClientMsg::Ban {
            room: room.clone(),
            user: nick("carol"),
        },
        ClientMsg::SetModerator {
            room: room.clone(),
            user: nick("dave"),
            moderator: true,
        },
    ] {
        owner.send(&act).await;
        moderated(&mut owner, "the act").await;
    }

    // Nobody, a member, the moderator's target: not for them.
    assert_eq!(get(server.addr, paths::API_ADMIN_LOG, None).await.0, 401);
    assert_eq!(get(server.addr, paths::API_ADMIN_STATS, None).await.0, 401);
    for cookie in [&olga, &carol] {
        assert_eq!(
            get(server.addr, paths::API_ADMIN_LOG, Some(cookie)).await.0,
            403
        );
        assert_eq!(
            get(server.addr, paths::API_ADMIN_STATS, Some(cookie))
                .await
                .0,
            403
        );
    }

    let (status, body) = get(server.addr, paths::API_ADMIN_LOG, Some(&root)).await;
    assert_eq!(status, 200, "{body}");
    let page: LogPage = serde_json::from_str(&body).unwrap();
    let actions: Vec<(&str, &str, &ModAction)> = page
        .entries
        .iter()
        .map(|e| {
            (
                e.room.as_ref().map_or("", |r| r.as_str()),
                e.by.as_str(),
                &e.action,
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            (
                "ops",
                "olga",
                &ModAction::ModeratorAdded { user: nick("dave") }
            ),
            (
                "ops",
                "olga",
                &ModAction::Banned {
                    user: nick("carol")
                }
            ),
            (
                "ops",
                "olga",
                &ModAction::Kicked {
                    user: nick("carol")
                }
            ),
        ]
    );
    let now = backend::engine::now_ms();
    assert!(
        page.entries
            .iter()
            .all(|e| e.at_ms <= now && now - e.at_ms < 60_000),
        "{page:?}"
    );
    assert!(page.entries.windows(2).all(|w| w[0].at_ms >= w[1].at_ms));
    assert_eq!(page.next, None, "one page holds three lines");
    assert_eq!(
        get(
            server.addr,
            &format!("{}?before=x", paths::API_ADMIN_LOG),
            Some(&root)
        )
        .await
        .0,
        400
    );

    // The numbers: a chat message moves the count of messages in.
    let (status, body) = get(server.addr, paths::API_ADMIN_STATS, Some(&root)).await;
    assert_eq!(status, 200, "{body}");
    let before: Stats = serde_json::from_str(&body).unwrap();
    assert!(before.version.contains("(commit "), "{before:?}");
    assert!(
        before.connections >= 1 && before.users_online >= 1,
        "{before:?}"
    );
    owner.say("ops", "counted", "c1").await;
    // (Counted as it arrives: by its acknowledgement it has.)
    owner
        .until("the message stored", |e| {
            matches!(e, ServerMsg::Said { .. })
        })
        .await;
    let (_, body) = get(server.addr, paths::API_ADMIN_STATS, Some(&root)).await;
    let after: Stats = serde_json::from_str(&body).unwrap();
    assert!(
        after.messages_in > before.messages_in,
        "{before:?} {after:?}"
    );

    // Kept: a node that starts again (same data, same Redis) reads the same log.
    drop(owner);
    server.stop().await.unwrap();
    let again = TestServer::spawn(config(&mode, Some(data.path().to_owned())));
    let (status, body) = get(again.addr, paths::API_ADMIN_LOG, Some(&root)).await;
    assert_eq!(status, 200, "{body}");
    let kept: LogPage = serde_json::from_str(&body).unwrap();
    assert_eq!(kept, page);
}

/// More lines than a page: the pages follow each other without a gap or a repeat.
async fn the_moderation_log_pages_back_without_gaps(mode: Mode) {
    let server = TestServer::spawn(config(&mode, None));
    let olga = register(server.addr, "olga").await;
    let root = register(server.addr, "root").await;
    register(server.addr, "dave").await;
    let mut owner = chat(&server, "olga", &olga).await;
    let room = create_room(&mut owner, "pages").await;
    let acts = shared::admin::LOG_PAGE + 5;
    for i in 0..acts {
        owner
            .send(&ClientMsg::SetModerator {
                room: room.clone(),
                user: nick("dave"),
                moderator: i % 2 == 0,
            })
            .await;
        moderated(&mut owner, "the act").await;
    }
    let mut seen = Vec::new();
    let mut path = paths::API_ADMIN_LOG.to_owned();
    loop {
        let (status, body) = get(server.addr, &path, Some(&root)).await;
        assert_eq!(status, 200, "{body}");
        let page: LogPage = serde_json::from_str(&body).unwrap();
        assert!(page.entries.len() <= shared::admin::LOG_PAGE);
        seen.extend(page.entries);
        match page.next {
            Some(next) => path = format!("{}?before={next}", paths::API_ADMIN_LOG),
            None => break,
        }
    }
    // Newest first: the last act (an odd one: removed) first, alternating back to the first.
    let expected: Vec<ModAction> = (0..acts)
        .rev()
        .map(|i| {
            if i % 2 == 0 {
                ModAction::ModeratorAdded { user: nick("dave") }
            } else {
                ModAction::ModeratorRemoved { user: nick("dave") }
            }
        })
        .collect();
    let actions: Vec<ModAction> = seen.into_iter().map(|e| e.action).collect();
    assert_eq!(actions, expected);
}

/// A server-wide ban: the user's tabs on every node are told `removed` for each of their
/// rooms and closed with 4403; their login and a `hello` on an open session are refused
/// until the ban is lifted; nobody but an admin bans, and no admin is banned; the log keeps
/// it as an act on the whole server.
async fn a_server_wide_ban_removes_the_user_from_every_node(mode: Mode) {
    let first = TestServer::spawn(config(&mode, None));
    // Cluster mode: a second node (one node is its own second).
    let second = mode
        .redis_url()
        .map(|_| TestServer::spawn(config(&mode, None)));
    let other = second.as_ref().unwrap_or(&first);
    let root = register(first.addr, "root").await;
    let carol = register(first.addr, "carol").await;
    let here = chat_in(&first, "carol", &carol, &["lobby"]).await;
    let there = chat_in(other, "carol", &carol, &["lobby", "ops"]).await;

    assert_eq!(post_ban(first.addr, None, "carol", true).await, 401);
    assert_eq!(post_ban(first.addr, Some(&carol), "root", true).await, 403);
    assert_eq!(post_ban(first.addr, Some(&root), "root", true).await, 403);
    assert_eq!(post_ban(first.addr, Some(&root), "carol", true).await, 204);
    assert_eq!(banned_tab(here, "root").await, ["lobby".to_owned()].into());
    assert_eq!(
        banned_tab(there, "root").await,
        ["lobby".to_owned(), "ops".to_owned()].into()
    );

    // Refused while banned: the login, and a `hello` on the session she still holds (on
    // either node).
    assert_eq!(login(first.addr, "carol").await, 403);
    for node in [&first, other] {
        let mut again = node.chat_socket_with_cookie(Some(&carol)).await;
        again.send(&common::hello("carol", &[])).await;
        assert!(banned_tab(again, "server").await.is_empty());
    }
    let (_, body) = get(first.addr, paths::API_ADMIN_LOG, Some(&root)).await;
    let page: LogPage = serde_json::from_str(&body).unwrap();
    let newest = &page.entries[0];
    assert_eq!(
        (newest.room.as_ref(), newest.by.as_str(), &newest.action),
        (
            None,
            "root",
            &ModAction::Banned {
                user: nick("carol")
            }
        )
    );

    // Lifted: she logs in and chats again, on every node.
    assert_eq!(post_ban(first.addr, Some(&root), "carol", false).await, 204);
    assert_eq!(login(first.addr, "carol").await, 200);
    chat(other, "carol", &carol).await;
}

/// A group's comings and goings are not the admins' to see: creating one and leaving it
/// logs nothing, while a room's act beside them is logged.
async fn nothing_of_a_group_is_in_the_moderation_log(mode: Mode) {
    let server = TestServer::spawn(config(&mode, None));
    let root = register(server.addr, "root").await;
    let olga = register(server.addr, "olga").await;
    let bob = register(server.addr, "bob").await;
    // (A group has three people at least.)
    register(server.addr, "carol").await;
    let mut owner = chat(&server, "olga", &olga).await;
    let mut member = chat(&server, "bob", &bob).await;
    owner
        .send(&ClientMsg::CreateGroup {
            with: vec![nick("bob"), nick("carol")],
        })
        .await;
    let joined = member
        .until(
            "joined the group",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str().starts_with("g-")),
        )
        .await;
    let ServerMsg::Joined { room: group, .. } = joined else {
        unreachable!()
    };
    member
        .send(&ClientMsg::LeaveGroup {
            room: group.clone(),
        })
        .await;
    member
        .until(
            "removed from the group",
            |e| matches!(e, ServerMsg::Removed { room, .. } if *room == group),
        )
        .await;
    let room = create_room(&mut owner, "beside").await;
    owner
        .send(&ClientMsg::SetTopic {
            room: room.clone(),
            topic: "a room's act".into(),
        })
        .await;
    // (The group's `left` reaches her too, first.)
    owner
        .until("the topic set", |e| {
            matches!(
                e,
                ServerMsg::Moderated {
                    action: ModAction::Topic { .. },
                    ..
                }
            )
        })
        .await;
    let (status, body) = get(server.addr, paths::API_ADMIN_LOG, Some(&root)).await;
    assert_eq!(status, 200, "{body}");
    let page: LogPage = serde_json::from_str(&body).unwrap();
    let rooms: Vec<Option<&str>> = page
        .entries
        .iter()
        .map(|e| e.room.as_ref().map(|r| r.as_str()))
        .collect();
    assert_eq!(rooms, [Some("beside")], "{page:?}");
}

/// The console's rooms: every room with rules or members, its rules and how many are in it
/// on every node (asked of another node in cluster mode); a group only counted, and refused
/// when opened; a room opened shows who is in it and who its rules name. Admins only.
async fn the_rooms_show_their_rules_and_members_but_no_group(mode: Mode) {
    let first = TestServer::spawn(config(&mode, None));
    let second = mode
        .redis_url()
        .map(|_| TestServer::spawn(config(&mode, None)));
    let other = second.as_ref().unwrap_or(&first);
    let root = register(first.addr, "root").await;
    let olga = register(first.addr, "olga").await;
    let bob = register(first.addr, "bob").await;
    register(first.addr, "carol").await;
    register(first.addr, "dave").await;
    let mut owner = chat(&first, "olga", &olga).await;
    let room = create_room(&mut owner, "ops").await;
    owner
        .send(&ClientMsg::SetTopic {
            room: room.clone(),
            topic: "on call".into(),
        })
        .await;
    moderated(&mut owner, "the topic").await;
    for act in [
        ClientMsg::SetModerator {
            room: room.clone(),
            user: nick("dave"),
            moderator: true,
        },
        ClientMsg::Ban {
            room: room.clone(),
            user: nick("carol"),
        },
    ] {
        owner.send(&act).await;
        moderated(&mut owner, "the act").await;
    }
    let mut member = chat(&first, "bob", &bob).await;
    member
        .send(&ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        })
        .await;
    member
        .until("joined ops", |e| matches!(e, ServerMsg::Joined { .. }))
        .await;
    owner
        .send(&ClientMsg::CreateGroup {
            with: vec![nick("bob"), nick("carol")],
        })
        .await;
    let joined = member
        .until(
            "joined the group",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str().starts_with("g-")),
        )
        .await;
    let ServerMsg::Joined { room: group, .. } = joined else {
        unreachable!()
    };

    let detail_path = |room: &str| format!("{}?room={room}", paths::API_ADMIN_ROOM);
    for path in [paths::API_ADMIN_ROOMS.to_owned(), detail_path("ops")] {
        assert_eq!(get(other.addr, &path, None).await.0, 401);
        assert_eq!(get(other.addr, &path, Some(&olga)).await.0, 403);
    }

    let read_rooms = || async {
        let (status, body) = get(other.addr, paths::API_ADMIN_ROOMS, Some(&root)).await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<shared::admin::Rooms>(&body).unwrap()
    };
    // (In cluster mode the other node hears of the policies and the presence within
    // moments.)
    common::eventually("the other node knows ops and the group", || async {
        let rooms = read_rooms().await;
        rooms.groups == 1
            && rooms
                .rooms
                .iter()
                .any(|r| r.name == room && r.online == 2 && r.banned == 1)
    })
    .await;
    let rooms = read_rooms().await;
    assert_eq!(rooms.groups, 1, "{rooms:?}");
    assert!(
        rooms
            .rooms
            .iter()
            .all(|r| !r.name.as_str().starts_with("g-")),
        "{rooms:?}"
    );
    let ops = rooms.rooms.iter().find(|r| r.name == room).unwrap();
    assert_eq!(
        (
            ops.private,
            ops.owner.as_ref().map(Nick::as_str),
            &ops.moderators,
            ops.banned,
            ops.topic.as_deref()
        ),
        (false, Some("olga"), &vec![nick("dave")], 1, Some("on call"))
    );
    let lobby = rooms.rooms.iter().find(|r| r.name.as_str() == "lobby");
    assert!(
        lobby.is_some_and(|l| l.owner.is_none() && l.online >= 1),
        "{rooms:?}"
    );

    let (status, body) = get(other.addr, &detail_path("ops"), Some(&root)).await;
    assert_eq!(status, 200, "{body}");
    let detail: shared::admin::RoomDetail = serde_json::from_str(&body).unwrap();
    assert_eq!(detail.room, *ops);
    assert_eq!(detail.members, [nick("bob"), nick("olga")]);
    assert_eq!(detail.banned, [nick("carol")]);
    assert!(!detail.more_members);
    assert_eq!(
        get(other.addr, &detail_path(group.as_str()), Some(&root))
            .await
            .0,
        403
    );
    assert_eq!(
        get(other.addr, &detail_path("nowhere"), Some(&root))
            .await
            .0,
        404
    );
}

/// `text` said in `room` by `chat`: its id once stored.
async fn said(chat: &mut Chat, room: &RoomName, text: &str, client_id: &str) -> MessageId {
    chat.say(room.as_str(), text, client_id).await;
    let event = chat
        .until(
            "the message stored",
            |e| matches!(e, ServerMsg::Said { client_id: c, .. } if c.as_str() == client_id),
        )
        .await;
    let ServerMsg::Said { id, .. } = event else {
        unreachable!()
    };
    id
}

/// `POST /api/admin/remove` as the account behind `cookie`: the status.
async fn post_remove(
    addr: SocketAddr,
    cookie: Option<&str>,
    room: &RoomName,
    id: MessageId,
) -> u16 {
    let body = shared::admin::Remove {
        room: room.clone(),
        id,
    }
    .to_json();
    post_json(addr, paths::API_ADMIN_REMOVE, &body, cookie)
        .await
        .0
}

/// An admin removes a message as a room's moderator would: another client (on another node
/// in cluster mode) sees it deleted, and so does a later reader of the history; a repeat finds
/// nothing (404); nobody else may (401, 403), nor in a group. The log keeps it, and a room
/// owner's deletion of someone's message in the chat too.
async fn an_admin_removes_a_message_and_the_log_keeps_every_removal(mode: Mode) {
    let first = TestServer::spawn(config(&mode, None));
    let second = mode
        .redis_url()
        .map(|_| TestServer::spawn(config(&mode, None)));
    let other = second.as_ref().unwrap_or(&first);
    let root = register(first.addr, "root").await;
    let olga = register(first.addr, "olga").await;
    let bob = register(first.addr, "bob").await;
    let carol = register(first.addr, "carol").await;
    let mut owner = chat(&first, "olga", &olga).await;
    let room = create_room(&mut owner, "ops").await;
    let mut reader = chat(other, "bob", &bob).await;
    let mut author = chat(&first, "carol", &carol).await;
    for tab in [&mut reader, &mut author] {
        tab.send(&ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        })
        .await;
        tab.until("joined ops", |e| matches!(e, ServerMsg::Joined { .. }))
            .await;
    }
    let first_id = said(&mut author, &room, "remove me", "c1").await;
    let second_id = said(&mut author, &room, "and me", "c2").await;

    assert_eq!(post_remove(first.addr, None, &room, first_id).await, 401);
    assert_eq!(
        post_remove(first.addr, Some(&carol), &room, first_id).await,
        403
    );
    assert_eq!(
        post_remove(first.addr, Some(&olga), &room, first_id).await,
        403
    );
    assert_eq!(
        post_remove(first.addr, Some(&root), &room, first_id).await,
        204
    );
    reader
        .until("the message deleted", |e| {
            matches!(
                e,
                ServerMsg::Changed { target, change: shared::Change::Deleted, from, .. }
                    if *target == first_id && from.as_str() == "root"
            )
        })
        .await;
    assert_eq!(
        post_remove(first.addr, Some(&root), &room, first_id).await,
        404
    );

    // The owner removes the other message in the chat: logged too.
    owner
        .send(&ClientMsg::DeleteMessage {
            room: room.clone(),
            id: second_id,
            client_id: "d1".parse().unwrap(),
        })
        .await;
    reader
        .until(
            "the second message deleted",
            |e| matches!(e, ServerMsg::Changed { target, .. } if *target == second_id),
        )
        .await;

    // A later reader's history holds neither.
    let mut later = chat(other, "dave", &register(first.addr, "dave").await).await;
    later
        .send(&ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        })
        .await;
    let history = later
        .until("the history", |e| matches!(e, ServerMsg::History { .. }))
        .await;
    let ServerMsg::History { messages, .. } = history else {
        unreachable!()
    };
    let shown: Vec<MessageId> = messages
        .iter()
        .filter(|m| !m.deleted)
        .map(|m| m.id)
        .collect();
    assert!(
        !shown.contains(&first_id) && !shown.contains(&second_id),
        "{messages:?}"
    );

    let removals = || async {
        let (status, body) = get(first.addr, paths::API_ADMIN_LOG, Some(&root)).await;
        assert_eq!(status, 200, "{body}");
        let page: LogPage = serde_json::from_str(&body).unwrap();
        page.entries
            .into_iter()
            .filter(|e| matches!(e.action, ModAction::MessageRemoved { .. }))
            .map(|e| (e.room.unwrap().to_string(), e.by.to_string(), e.action))
            .collect::<Vec<_>>()
    };
    common::eventually("the owner's removal is logged", || async {
        removals().await.len() == 2
    })
    .await;
    assert_eq!(
        removals().await,
        [
            (
                "ops".to_owned(),
                "olga".to_owned(),
                ModAction::MessageRemoved { id: second_id }
            ),
            (
                "ops".to_owned(),
                "root".to_owned(),
                ModAction::MessageRemoved { id: first_id }
            ),
        ]
    );

    // Nobody removes anything from a group.
    owner
        .send(&ClientMsg::CreateGroup {
            with: vec![nick("bob"), nick("carol")],
        })
        .await;
    let joined = author
        .until(
            "joined the group",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str().starts_with("g-")),
        )
        .await;
    let ServerMsg::Joined { room: group, .. } = joined else {
        unreachable!()
    };
    let in_group = said(&mut author, &group, "ours", "c3").await;
    assert_eq!(
        post_remove(first.addr, Some(&root), &group, in_group).await,
        403
    );
}

/// `POST /api/admin/close` as the account behind `cookie`: the status.
async fn post_close(addr: SocketAddr, cookie: Option<&str>, room: &RoomName, closed: bool) -> u16 {
    let body = shared::admin::Close {
        room: room.clone(),
        closed,
    }
    .to_json();
    post_json(addr, paths::API_ADMIN_CLOSE, &body, cookie)
        .await
        .0
}

/// `join` of `room` on `chat`: the refusal's code, or none when joined.
async fn join_refusal(chat: &mut Chat, room: &RoomName) -> Option<ErrorCode> {
    chat.send(&ClientMsg::Join {
        room: room.clone(),
        since: None,
        epoch: None,
    })
    .await;
    match chat
        .until("joined or refused", |e| {
            matches!(e, ServerMsg::Joined { .. } | ServerMsg::Error { .. })
        })
        .await
    {
        ServerMsg::Error { code, .. } => Some(code),
        _ => None,
    }
}

/// An admin closes a room: its members (on every node) are removed with the reason
/// `closed`, a join is refused with `room_closed` (an admin's is let in, to read it, but
/// its `say` is refused too), the console lists it closed, the log keeps it; reopened, it
/// lets people in again. Nobody else closes a room, and nobody the lobby or a group.
async fn a_closed_room_refuses_everyone_until_reopened(mode: Mode) {
    let first = TestServer::spawn(config(&mode, None));
    let second = mode
        .redis_url()
        .map(|_| TestServer::spawn(config(&mode, None)));
    let other = second.as_ref().unwrap_or(&first);
    let root = register(first.addr, "root").await;
    let olga = register(first.addr, "olga").await;
    let bob = register(first.addr, "bob").await;
    register(first.addr, "carol").await;
    let mut owner = chat(&first, "olga", &olga).await;
    let room = create_room(&mut owner, "ops").await;
    let mut member = chat(other, "bob", &bob).await;
    assert_eq!(join_refusal(&mut member, &room).await, None);

    assert_eq!(post_close(first.addr, None, &room, true).await, 401);
    assert_eq!(post_close(first.addr, Some(&olga), &room, true).await, 403);
    assert_eq!(
        post_close(first.addr, Some(&root), &RoomName::default_room(), true).await,
        403
    );
    assert_eq!(post_close(first.addr, Some(&root), &room, true).await, 204);
    for tab in [&mut owner, &mut member] {
        tab.until("removed as the room closed", |e| {
            matches!(
                e,
                ServerMsg::Removed { room: r, by, reason: RemovedReason::Closed }
                    if *r == room && by.as_str() == "root"
            )
        })
        .await;
    }
    assert_eq!(
        join_refusal(&mut member, &room).await,
        Some(ErrorCode::RoomClosed)
    );
    assert_eq!(post_close(first.addr, Some(&root), &room, true).await, 403);

    // The admin reads it, and may not speak in it.
    let mut admin = chat(other, "root", &root).await;
    assert_eq!(join_refusal(&mut admin, &room).await, None);
    admin.say(room.as_str(), "anyone here?", "a1").await;
    let refused = admin
        .until("the say refused", |e| matches!(e, ServerMsg::Error { .. }))
        .await;
    assert!(
        matches!(
            refused,
            ServerMsg::Error {
                code: ErrorCode::RoomClosed,
                ..
            }
        ),
        "{refused:?}"
    );

    let (_, body) = get(other.addr, paths::API_ADMIN_ROOMS, Some(&root)).await;
    let rooms: shared::admin::Rooms = serde_json::from_str(&body).unwrap();
    assert!(
        rooms.rooms.iter().any(|r| r.name == room && r.closed),
        "{rooms:?}"
    );

    assert_eq!(post_close(first.addr, Some(&root), &room, false).await, 204);
    // (In cluster mode the other node hears of it within moments.)
    common::eventually("the room lets bob in again", || async {
        let mut again = chat(other, "bob", &bob).await;
        join_refusal(&mut again, &room).await.is_none()
    })
    .await;

    let (_, body) = get(first.addr, paths::API_ADMIN_LOG, Some(&root)).await;
    let page: LogPage = serde_json::from_str(&body).unwrap();
    let newest: Vec<(&str, &ModAction)> = page
        .entries
        .iter()
        .take(2)
        .map(|e| (e.by.as_str(), &e.action))
        .collect();
    assert_eq!(
        newest,
        [("root", &ModAction::Reopened), ("root", &ModAction::Closed)]
    );

    // A group is nobody's to close.
    owner
        .send(&ClientMsg::CreateGroup {
            with: vec![nick("bob"), nick("carol")],
        })
        .await;
    let joined = owner
        .until(
            "joined the group",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str().starts_with("g-")),
        )
        .await;
    let ServerMsg::Joined { room: group, .. } = joined else {
        unreachable!()
    };
    assert_eq!(post_close(first.addr, Some(&root), &group, true).await, 403);
}

/// `POST /api/login` of `name` with `password`: the status and the session cookie.
async fn login_with(addr: SocketAddr, name: &str, password: &str) -> (u16, Option<String>) {
    let body = serde_json::json!({ "name": name, "password": password }).to_string();
    let (status, head, _) = post_json(addr, paths::API_LOGIN, &body, None).await;
    (status, set_cookie(&head))
}

/// A tab whose session ended: told `unauthenticated`, then closed with 4401.
async fn logged_out_tab(mut tab: Chat) {
    tab.until("told the session ended", |e| {
        matches!(
            e,
            ServerMsg::Error {
                code: ErrorCode::Unauthenticated,
                ..
            }
        )
    })
    .await;
    common::expect_close(&mut tab.ws, shared::close::UNAUTHENTICATED).await;
}

/// Accounts mode: an admin resets a password (the sign-up rules) and revokes sessions: the
/// user's sockets (on another node in cluster mode) are closed with 4401, their old cookie
/// gets 401, the old password fails and the new one logs in; nobody else may, nor on an
/// admin; both acts are logged as acts on the whole server.
async fn an_admin_resets_a_password_and_revokes_sessions(mode: Mode) {
    let quick = |config: Config| Config {
        session_recheck: std::time::Duration::from_millis(100),
        ..config
    };
    let first = TestServer::spawn(quick(config(&mode, None)));
    let second = mode
        .redis_url()
        .map(|_| TestServer::spawn(quick(config(&mode, None))));
    let other = second.as_ref().unwrap_or(&first);
    let root = register(first.addr, "root").await;
    let carol = register(first.addr, "carol").await;
    let dave = register(first.addr, "dave").await;
    let tab = chat(other, "carol", &carol).await;

    let reset = |password: &str| {
        shared::admin::PasswordReset {
            user: "carol".into(),
            password: password.into(),
        }
        .to_json()
    };
    let revoke = shared::admin::Revoke {
        user: "carol".into(),
    }
    .to_json();
    let post = |path: &'static str, body: String, cookie: Option<String>| async move {
        post_json(first.addr, path, &body, cookie.as_deref())
            .await
            .0
    };
    for (path, body) in [
        (paths::API_ADMIN_PASSWORD, reset("a new long password")),
        (paths::API_ADMIN_REVOKE, revoke.clone()),
    ] {
        assert_eq!(post(path, body.clone(), None).await, 401);
        assert_eq!(post(path, body.clone(), Some(dave.clone())).await, 403);
    }
    let on_root = shared::admin::Revoke {
        user: "root".into(),
    }
    .to_json();
    assert_eq!(
        post(paths::API_ADMIN_REVOKE, on_root, Some(root.clone())).await,
        403
    );
    assert_eq!(
        post(
            paths::API_ADMIN_PASSWORD,
            reset("short"),
            Some(root.clone())
        )
        .await,
        400
    );
    let nobody = shared::admin::Revoke {
        user: "nobody".into(),
    }
    .to_json();
    assert_eq!(
        post(paths::API_ADMIN_REVOKE, nobody, Some(root.clone())).await,
        404
    );

    assert_eq!(
        post(
            paths::API_ADMIN_PASSWORD,
            reset("a new long password"),
            Some(root.clone())
        )
        .await,
        204
    );
    logged_out_tab(tab).await;
    assert_eq!(
        get(first.addr, paths::API_ADMIN_LOG, Some(&carol)).await.0,
        401
    );
    assert_eq!(login(first.addr, "carol").await, 401);
    let (status, cookie) = login_with(first.addr, "carol", "a new long password").await;
    assert_eq!(status, 200);
    let cookie = cookie.unwrap();
    assert_eq!(
        get(first.addr, paths::API_ADMIN_LOG, Some(&cookie)).await.0,
        403
    );

    let tab = chat(other, "carol", &cookie).await;
    assert_eq!(
        post(paths::API_ADMIN_REVOKE, revoke, Some(root.clone())).await,
        204
    );
    logged_out_tab(tab).await;
    assert_eq!(
        get(first.addr, paths::API_ADMIN_LOG, Some(&cookie)).await.0,
        401
    );

    let (_, body) = get(first.addr, paths::API_ADMIN_LOG, Some(&root)).await;
    let page: LogPage = serde_json::from_str(&body).unwrap();
    let newest: Vec<(Option<&RoomName>, &str, &ModAction, Option<&str>)> = page
        .entries
        .iter()
        .take(2)
        .map(|e| {
            (
                e.room.as_ref(),
                e.by.as_str(),
                &e.action,
                e.target.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        newest,
        [
            (
                None,
                "root",
                &ModAction::SessionsRevoked {
                    user: nick("carol")
                },
                Some("carol")
            ),
            (
                None,
                "root",
                &ModAction::PasswordReset {
                    user: nick("carol")
                },
                Some("carol")
            ),
        ]
    );
}

/// In jwt mode a ban names a token's `sub` as it is, here an id of 36 characters (no
/// nickname): the admin, by its own `sub` over a Bearer token, bans it; that user's socket is
/// told and closed, their `hello` refused; the log names the subject.
#[actix_web::test]
async fn in_jwt_mode_a_ban_names_the_tokens_subject_as_it_is() {
    const SECRET: &str = "a test secret of at least thirty-two bytes";
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), SECRET).unwrap();
    let server = TestServer::spawn(Config {
        auth: shared::auth::AuthMode::Jwt,
        jwt_secret_file: Some(secret.path().to_owned()),
        admins: vec!["root-subject".into()],
        ..common::patient_config(None)
    });
    let token = |sub: &str, name: &str| {
        let exp = backend::engine::now_ms() / 1000 + 600;
        let claims = serde_json::json!({ "sub": sub, "name": name, "exp": exp });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let subject = "4f0c6a8e-2b1d-4c8e-9a51-8c9a1e2b3c4d";
    let mut mallory = server.chat_socket().await;
    mallory
        .identify(
            "Mallory",
            token_for("Mallory"),
            &[],
            Some(token(subject, "Mallory")),
        )
        .await;
    let bearer = |path: &str, body: Option<&str>| {
        let root = token("root-subject", "Root");
        match body {
            Some(body) => format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Authorization: Bearer {root}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
            None => format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
                 Authorization: Bearer {root}\r\n\r\n"
            ),
        }
    };
    let ban = shared::admin::Ban {
        user: subject.to_owned(),
        banned: true,
    }
    .to_json();
    let request = bearer(paths::API_ADMIN_BAN, Some(&ban));
    let (status, _, body) = common::http_exchange(server.addr, &request).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        banned_tab(mallory, "root-subject").await,
        ["lobby".to_owned()].into()
    );
    let mut again = server.chat_socket().await;
    again
        .send(&ClientMsg::Hello {
            nick: nick("Mallory"),
            token: token_for("Mallory"),
            rooms: Vec::new(),
            since: Default::default(),
            epochs: Default::default(),
            direct_since: None,
            direct_epoch: None,
            jwt: Some(token(subject, "Mallory")),
        })
        .await;
    assert!(banned_tab(again, "server").await.is_empty());
    let (status, _, body) =
        common::http_exchange(server.addr, &bearer(paths::API_ADMIN_LOG, None)).await;
    assert_eq!(status, 200, "{body}");
    let page: LogPage = serde_json::from_str(&body).unwrap();
    assert_eq!(page.entries[0].target.as_deref(), Some(subject));
    assert!(page.entries[0].room.is_none());
    // Passwords and sessions are the identity provider's: nothing to reset or revoke here.
    let revoke = shared::admin::Revoke {
        user: subject.to_owned(),
    }
    .to_json();
    let request = bearer(paths::API_ADMIN_REVOKE, Some(&revoke));
    let (status, _, body) = common::http_exchange(server.addr, &request).await;
    assert_eq!(status, 404, "{body}");
}

common::in_both_modes!(
    the_moderation_log_is_kept_and_only_admins_read_it,
    the_moderation_log_pages_back_without_gaps,
    a_server_wide_ban_removes_the_user_from_every_node,
    nothing_of_a_group_is_in_the_moderation_log,
    the_rooms_show_their_rules_and_members_but_no_group,
    an_admin_removes_a_message_and_the_log_keeps_every_removal,
    a_closed_room_refuses_everyone_until_reopened,
    an_admin_resets_a_password_and_revokes_sessions,
);
