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
    ClientMsg, ModAction, Nick, RoomName, ServerMsg,
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
    let mut chat = server.chat_socket_with_cookie(Some(cookie)).await;
    chat.identify(name, token_for(name), &[], None).await;
    chat
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
        .map(|e| (e.room.as_str(), e.by.as_str(), &e.action))
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

common::in_both_modes!(
    the_moderation_log_is_kept_and_only_admins_read_it,
    the_moderation_log_pages_back_without_gaps,
);
