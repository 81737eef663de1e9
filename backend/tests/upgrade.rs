//! Upgrades over real sockets (issue #33): a data directory written by the previous release's
//! own server (`tests/fixtures/release-*/`, see the README there) opens with today's server,
//! which migrates its store and serves every bit of its history: accounts and their passwords,
//! each room's messages as they are now (edits, deletions, reactions, replies, an image), the
//! direct messages, the read positions and a room's owner and topic; and what is said after
//! the upgrade is stored after the old history, surviving another restart.
//!
//! The fixture is copied into a temporary directory first: the committed files are never
//! opened in place, so no run can change them.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::Duration,
};

use backend::Config;
use common::{Chat, TestServer, binary_exchange, post_json, set_cookie};
use shared::{
    ClientMsg, DirectMessage, HistoryMode, ImageType, MessageId, Nick, RoomMessage, RoomName,
    ServerMsg, auth::AuthMode, paths,
};

/// The fixture made by commit b05e78a (chat.sqlite3 at schema version 10).
const RELEASE: &str = "release-b05e78a";
/// `PRAGMA user_version` of the fixture's chat.sqlite3, as that release wrote it.
const RELEASE_SCHEMA: i64 = 10;
/// The image ann attached in "projects" (a 1×1 PNG of 67 bytes).
const IMAGE_ID: &str = "2b1da20a14b97d8f01f0a809d9f7d53eeefc59df6312eaa5a0c8b5c1228d1d7f";
/// The accounts and their passwords.
const ACCOUNTS: [(&str, &str); 3] = [
    ("ann", "ann's old password"),
    ("bob", "bob's old password"),
    ("민지", "민지의 비밀번호"),
];

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(RELEASE)
}

/// A copy of the directory `from` (recursively) in `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn config(data_dir: &Path) -> Config {
    Config {
        auth: AuthMode::Accounts,
        data_dir: data_dir.to_owned(),
        shutdown_timeout: Duration::from_secs(1),
        ..common::patient_config(None)
    }
}

/// The schema version of the message store in `dir`, and its schema (every table, index and
/// trigger with its SQL, by name).
fn schema(dir: &Path) -> (i64, Vec<(String, Option<String>)>) {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("chat.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let version = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    let mut query = db
        .prepare("SELECT name, sql FROM sqlite_master ORDER BY name")
        .unwrap();
    let objects = query
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    (version, objects)
}

/// `POST /api/login`: (status, session cookie).
async fn login(server: &TestServer, name: &str, password: &str) -> (u16, Option<String>) {
    let body = serde_json::json!({ "name": name, "password": password }).to_string();
    let (status, head, _) = post_json(server.addr, paths::API_LOGIN, &body, None).await;
    (status, set_cookie(&head))
}

/// What a `hello` brings back: the welcome's name, the read positions, each room's
/// `history` and `room_policy`, and the `direct_history`.
#[derive(Default)]
struct Welcome {
    user: Option<Nick>,
    rooms_read: BTreeMap<RoomName, u64>,
    directs_read: BTreeMap<Nick, u64>,
    histories: BTreeMap<String, (HistoryMode, Vec<RoomMessage>, bool)>,
    policies: BTreeMap<String, (Option<Nick>, Option<String>)>,
    directs: Option<Vec<DirectMessage>>,
}

/// Logs in as `name`, opens a chat socket with the cookie and says hello with `rooms`,
/// collecting everything up to the last history.
async fn arrive(
    server: &TestServer,
    name: &str,
    password: &str,
    rooms: &[&str],
) -> (Chat, Welcome) {
    let (status, cookie) = login(server, name, password).await;
    assert_eq!(status, 200, "{name} logs in with the password from before");
    let mut chat = server.chat_socket_with_cookie(cookie.as_deref()).await;
    // (The nickname is the account's, whatever the hello says.)
    chat.send(&common::hello("ignored", rooms)).await;
    let mut welcome = Welcome::default();
    while welcome.histories.len() < rooms.len() || welcome.directs.is_none() {
        match chat.recv_all().await {
            ServerMsg::Welcome { user, .. } => welcome.user = Some(user),
            ServerMsg::ReadPositions { rooms, directs } => {
                welcome.rooms_read = rooms;
                welcome.directs_read = directs;
            }
            ServerMsg::History {
                room,
                mode,
                messages,
                more_before,
                ..
            } => {
                welcome
                    .histories
                    .insert(room.to_string(), (mode, messages, more_before));
            }
            ServerMsg::RoomPolicy {
                room, owner, topic, ..
            } => {
                welcome.policies.insert(room.to_string(), (owner, topic));
            }
            ServerMsg::DirectHistory { messages, .. } => welcome.directs = Some(messages),
            ServerMsg::Error { code, message, .. } => panic!("{name}: {code:?} {message}"),
            _ => {}
        }
    }
    assert_eq!(welcome.user.as_ref().map(Nick::as_str), Some(name));
    (chat, welcome)
}

/// One message of a history, in a line: `seq from: text`, then its marks.
fn line(message: &RoomMessage) -> String {
    let mut line = format!(
        "{} {}: {}",
        message.seq,
        message.from,
        message.text.as_str()
    );
    if message.edited {
        line += " [edited]";
    }
    if message.deleted {
        line += " [deleted]";
    }
    if let Some(quote) = &message.reply_to {
        line += &format!(
            " [reply to {}/{} {}: {}]",
            quote.id.0, quote.seq, quote.from, quote.text
        );
    }
    for reaction in &message.reactions {
        let users: Vec<&str> = reaction.users.iter().map(Nick::as_str).collect();
        line += &format!(" [{} {}]", reaction.emoji.as_str(), users.join(","));
    }
    if let Some(image) = &message.image {
        line += &format!(" [image {}]", image.id.as_str());
    }
    assert!(
        message.file.is_none() && message.preview.is_none(),
        "{message:?}"
    );
    line
}

fn lines(messages: &[RoomMessage]) -> Vec<String> {
    messages.iter().map(line).collect()
}

/// The fixture README's lobby, as it is now.
fn lobby() -> Vec<String> {
    [
        "1 ann: 안녕하세요, 여러분! [👍 bob,민지]",
        "2 bob: Hi ann, bob here.",
        "3 민지: 반갑습니다 😊 저는 민지예요",
        "4 ann: see you at the meeting [edited]",
        "5 bob: 네, 안녕하세요! [reply to 1/1 ann: 안녕하세요, 여러분!] [🎉 ann]",
        "6 민지: message deleted [deleted]",
    ]
    .map(String::from)
    .to_vec()
}

/// The fixture README's projects room.
fn projects() -> Vec<String> {
    [
        "1 ann: 프로젝트 회의는 내일 오전 10시입니다.".to_owned(),
        "2 bob: OK, I'll be there.".to_owned(),
        format!("3 ann: 회의 자료 [image {IMAGE_ID}]"),
        "4 민지: 좋아요!".to_owned(),
    ]
    .to_vec()
}

/// The direct messages between ann and bob: (id, seq, from, to, text).
fn directs() -> Vec<(u64, u64, String, String, String)> {
    [
        (16, 16, "ann", "bob", "bob, 내일 점심 같이 해요?"),
        (17, 17, "bob", "ann", "Sure, 12시에 봐요."),
    ]
    .map(|(id, seq, from, to, text)| (id, seq, from.into(), to.into(), text.into()))
    .to_vec()
}

fn direct_lines(messages: &[DirectMessage]) -> Vec<(u64, u64, String, String, String)> {
    messages
        .iter()
        .map(|m| {
            (
                m.id.0,
                m.seq,
                m.from.to_string(),
                m.to.to_string(),
                m.text.as_str().to_owned(),
            )
        })
        .collect()
}

fn room(name: &str) -> RoomName {
    name.parse().unwrap()
}

fn nick(name: &str) -> Nick {
    name.parse().unwrap()
}

/// The release fixture opens with today's server: its store is migrated to today's schema
/// (the same as a new store's), and accounts, history, direct messages, read positions, the
/// room's owner and topic and the uploaded image are all served as that release left them;
/// a new message goes after the old ones and is kept across a restart.
#[actix_web::test]
async fn a_store_written_by_the_previous_release_is_migrated_and_serves_its_history() {
    // Today's schema: what a new store gets.
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = TestServer::spawn(config(fresh_dir.path()));
    login(&fresh, "nobody", "no password").await;
    fresh.stop().await.unwrap();
    let (today, today_schema) = schema(fresh_dir.path());

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(&fixture(), &data);
    let (before, before_schema) = schema(&data);
    assert_eq!(before, RELEASE_SCHEMA, "the fixture is the release's store");
    assert!(
        today > before,
        "today's store ({today}) is newer than the fixture's ({before}): move the fixture on"
    );
    assert_ne!(before_schema, today_schema);

    let server = TestServer::spawn(config(&data));

    // Every account logs in with its password (and with no other).
    for (name, password) in ACCOUNTS {
        assert_eq!(login(&server, name, password).await.0, 200, "{name}");
        assert_eq!(
            login(&server, name, "not the password").await.0,
            401,
            "{name}"
        );
    }
    // Its name is still taken.
    let taken = serde_json::json!({ "name": "Ann", "password": "another password" });
    let (status, _, body) =
        post_json(server.addr, paths::API_REGISTER, &taken.to_string(), None).await;
    assert_eq!(status, 409, "{body}");

    let rooms = ["lobby", "projects"];
    let (_ann, ann) = arrive(&server, "ann", ACCOUNTS[0].1, &rooms).await;
    let (mut bob_chat, bob) = arrive(&server, "bob", ACCOUNTS[1].1, &rooms).await;
    let (_minji, minji) = arrive(&server, "민지", ACCOUNTS[2].1, &rooms).await;

    // The store is migrated: its schema is today's, exactly.
    let (after, after_schema) = schema(&data);
    assert_eq!(after, today, "every migration ran");
    assert_eq!(
        after_schema, today_schema,
        "the migrated schema is a new store's"
    );

    for (who, welcome) in [("ann", &ann), ("bob", &bob), ("민지", &minji)] {
        let (mode, messages, more_before) = &welcome.histories["lobby"];
        assert_eq!(*mode, HistoryMode::Latest, "{who}");
        assert!(!more_before, "{who}");
        assert_eq!(lines(messages), lobby(), "{who}: the lobby");
        let ids: Vec<u64> = messages.iter().map(|m| m.id.0).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6], "{who}");
        let (_, messages, _) = &welcome.histories["projects"];
        assert_eq!(lines(messages), projects(), "{who}: projects");
        let image = messages[2].image.as_ref().unwrap();
        assert_eq!(
            (image.mime, image.width, image.height, image.bytes),
            (ImageType::Png, 1, 1, 67)
        );
        // The room ann created is still hers, with its topic.
        assert_eq!(
            welcome.policies.get("projects"),
            Some(&(Some(nick("ann")), Some("회의 일정".to_owned()))),
            "{who}"
        );
        assert!(!welcome.policies.contains_key("lobby"), "{who}");
    }
    // The direct messages, for both of their people, and nobody else.
    assert_eq!(direct_lines(ann.directs.as_ref().unwrap()), directs());
    assert_eq!(direct_lines(bob.directs.as_ref().unwrap()), directs());
    assert_eq!(minji.directs.as_ref().unwrap(), &Vec::new());
    // The read positions.
    assert_eq!(bob.rooms_read, BTreeMap::from([(room("lobby"), 5)]));
    assert_eq!(bob.directs_read, BTreeMap::from([(nick("ann"), 16)]));
    assert_eq!(minji.rooms_read, BTreeMap::from([(room("projects"), 2)]));
    assert!(minji.directs_read.is_empty());
    assert!(ann.rooms_read.is_empty() && ann.directs_read.is_empty());

    // The image is still served to a reader of its room.
    let (_, cookie) = login(&server, "민지", ACCOUNTS[2].1).await;
    let head = format!(
        "GET {}/projects/{IMAGE_ID} HTTP/1.1\r\nCookie: {}={}",
        paths::API_UPLOADS,
        paths::SESSION_COOKIE,
        cookie.unwrap()
    );
    let (status, _, bytes) = binary_exchange(server.addr, &head, b"").await;
    assert_eq!((status, bytes.len()), (200, 67));
    assert!(bytes.starts_with(b"\x89PNG"));

    // A new message goes after the old ones (the lobby's last entry, the 🎉, was seq 11;
    // the last message of all, bob's direct one, id 17), and a reply to an old one quotes it.
    bob_chat
        .send(&ClientMsg::Say {
            room: room("lobby"),
            text: "업그레이드 후 첫 메시지".try_into().unwrap(),
            client_id: "after-upgrade".parse().unwrap(),
            reply_to: Some(MessageId(4)),
            image: None,
            file: None,
        })
        .await;
    let said = bob_chat
        .until("said", |e| {
            matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == "after-upgrade")
        })
        .await;
    let ServerMsg::Said {
        id, seq, reply_to, ..
    } = said
    else {
        unreachable!()
    };
    assert_eq!((id, seq), (MessageId(18), 12));
    let quote = reply_to.unwrap();
    assert_eq!(
        (quote.id, quote.seq, quote.text.as_str()),
        (MessageId(4), 4, "see you at the meeting")
    );
    drop((_ann, bob_chat, _minji));
    server.stop().await.unwrap();

    // Stored: after another start on the same data (nothing left to migrate), the lobby ends
    // with it.
    let again = TestServer::spawn(config(&data));
    let (_ann, ann) = arrive(&again, "ann", ACCOUNTS[0].1, &["lobby"]).await;
    let (_, messages, _) = &ann.histories["lobby"];
    let mut expected = lobby();
    expected.push(
        "12 bob: 업그레이드 후 첫 메시지 [reply to 4/4 ann: see you at the meeting]".to_owned(),
    );
    assert_eq!(lines(messages), expected);
    drop(_ann);
    again.stop().await.unwrap();
    assert_eq!(schema(&data), (today, today_schema));
}
