//! Import (issue #33): our export, built here by hand as docs/EXPORT.md describes it, posted
//! to `POST /api/admin/import` of an empty server, in both modes, reads back as it was (order,
//! times, senders, texts, edits, reactions, replies, files and images); importing it again
//! stores nothing; only server admins may import, and a newer format is refused clearly.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{io::Write as _, net::SocketAddr};

use backend::{Config, transfer::import::Summary};
use common::{Chat, Mode, TestServer, post_json, set_cookie, token_for};
use sha2::{Digest as _, Sha256};
use shared::{ClientMsg, RoomMessage, RoomName, ServerMsg, paths};

/// The smallest PNG: 1×1, one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A text file's bytes.
const NOTES: &[u8] = b"minutes of the meeting\nnothing decided\n";

/// 2021-03-04, long before now: imported times are the source's, not the import's.
const T0: u64 = 1_614_816_000_000;

fn config(mode: &Mode) -> Config {
    Config {
        auth: shared::auth::AuthMode::Accounts,
        admins: vec!["root".into()],
        ..common::patient_config(mode.redis_url())
    }
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An export of format `format`, as the export writes one: `export.jsonl` first, then the
/// files. Three rooms: `hall` (public, a topic) with an edit, reactions by two users, a
/// reply, a file and an image; `den` (private, olga invited); `yard` (public, no topic). Times run out of order with the
/// rooms (den's message lies between hall's), as a server's rooms do.
fn export(format: u32) -> Vec<u8> {
    let (notes, png) = (sha(NOTES), sha(PNG));
    let lines = [
        serde_json::json!({"type":"export","format":format,"scope":"server","version":"0.1.0","at_ms":T0 + 86_400_000}),
        serde_json::json!({"type":"room","room":"hall","topic":"Plans for spring","private":false,"owner":null,"moderators":[],"members":["olga","bob"]}),
        serde_json::json!({"type":"message","room":"hall","id":"10","seq":1,"from":"olga","ts":T0,"text":"first","edited":false,
            "reactions":[{"emoji":"👍","users":["olga","bob"]},{"emoji":"🎉","users":["bob"]}]}),
        serde_json::json!({"type":"message","room":"hall","id":"11","seq":2,"from":"bob","ts":T0 + 1000,"text":"second, edited","edited":true,"reply_to":"10"}),
        serde_json::json!({"type":"future_kind","whatever":1}),
        serde_json::json!({"type":"message","room":"hall","id":"14","seq":4,"from":"olga","ts":T0 + 2000,"text":"the notes","edited":false,
            "file":{"id":notes,"name":"notes.txt","mime":"text/plain","bytes":NOTES.len()}}),
        serde_json::json!({"type":"message","room":"hall","id":"15","seq":5,"from":"bob","ts":T0 + 3000,"text":"a picture","edited":false,
            "image":{"id":png,"mime":"image/png","width":1,"height":1,"bytes":PNG.len()}}),
        serde_json::json!({"type":"room","room":"den","topic":null,"private":true,"owner":"olga","moderators":[],"members":["olga"]}),
        serde_json::json!({"type":"message","room":"den","id":"12","seq":1,"from":"olga","ts":T0 + 1500,"text":"secret","edited":false}),
        serde_json::json!({"type":"room","room":"yard","topic":null,"private":false,"owner":null,"moderators":[],"members":[]}),
        serde_json::json!({"type":"message","room":"yard","id":"16","seq":1,"from":"bob","ts":T0 + 4000,"text":"outside","edited":false}),
        serde_json::json!({"type":"direct","owner":"k","id":"1","seq":1,"from":"olga","to":"bob","ts":T0,"text":"not imported"}),
    ];
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("export.jsonl", options).unwrap();
    for line in lines {
        writeln!(zip, "{line}").unwrap();
    }
    zip.start_file(format!("files/{notes}"), options).unwrap();
    zip.write_all(NOTES).unwrap();
    zip.start_file(format!("files/{png}"), options).unwrap();
    zip.write_all(PNG).unwrap();
    zip.finish().unwrap().into_inner()
}

/// A fresh account's session cookie.
async fn register(addr: SocketAddr, name: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": "a long password" }).to_string();
    let (status, head, reply) = post_json(addr, paths::API_REGISTER, &body, None).await;
    assert_eq!(status, 201, "{reply}");
    set_cookie(&head).unwrap()
}

/// `POST /api/admin/import` of `zip` as the account behind `cookie`: status and body.
async fn post_import(addr: SocketAddr, cookie: Option<&str>, zip: &[u8]) -> (u16, String) {
    let cookie = cookie.map_or_else(String::new, |c| {
        format!("\r\nCookie: {}={c}", paths::SESSION_COOKIE)
    });
    let head = format!(
        "POST {} HTTP/1.1\r\nContent-Type: application/zip{cookie}",
        paths::API_ADMIN_IMPORT
    );
    let (status, _, body) = common::binary_exchange(addr, &head, zip).await;
    (status, String::from_utf8(body).unwrap())
}

/// `room`'s latest page as `chat` reads it on joining.
async fn history(chat: &mut Chat, room: &str) -> Vec<RoomMessage> {
    joined(chat, room).await.0
}

/// [`history`], and the topic of the room's policy (sent before it), if any.
async fn joined(chat: &mut Chat, room: &str) -> (Vec<RoomMessage>, Option<String>) {
    let wanted: RoomName = room.parse().unwrap();
    chat.send(&ClientMsg::Join {
        room: wanted.clone(),
        since: None,
        epoch: None,
    })
    .await;
    let mut found = None;
    loop {
        match chat.recv_all().await {
            ServerMsg::RoomPolicy { room, topic, .. } if room == wanted => found = topic,
            ServerMsg::History { room, messages, .. } if room == wanted => {
                return (messages, found);
            }
            ServerMsg::Error { message, .. } => panic!("cannot join {wanted}: {message}"),
            _ => {}
        }
    }
}

/// An upload's bytes, as a member of its room downloads them.
async fn download(addr: SocketAddr, cookie: &str, room: &str, id: &str) -> Vec<u8> {
    let head = format!(
        "GET {}/{room}/{id} HTTP/1.1\r\nCookie: {}={cookie}",
        paths::API_UPLOADS,
        paths::SESSION_COOKIE
    );
    let (status, _, body) = common::binary_exchange(addr, &head, &[]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    body
}

/// What a message reads as, for comparing: time, sender, text, edited, reactions, the
/// quoted text, the file's or image's name and size.
fn shape(m: &RoomMessage) -> String {
    let reactions: Vec<String> = m
        .reactions
        .iter()
        .map(|r| {
            let users: Vec<&str> = r.users.iter().map(|u| u.as_str()).collect();
            format!("{}:{}", r.emoji.as_str(), users.join("+"))
        })
        .collect();
    format!(
        "{} {} {:?} edited={} [{}] reply={:?} file={:?} image={:?}",
        m.ts,
        m.from,
        m.text.as_str(),
        m.edited,
        reactions.join(" "),
        m.reply_to.as_ref().map(|q| q.text.as_str().to_owned()),
        m.file.as_ref().map(|f| (f.name.clone(), f.bytes)),
        m.image.as_ref().map(|i| (i.width, i.height, i.bytes)),
    )
}

/// Imports the export into an empty server and reads every room back; imports it again:
/// nothing new, the same history. Olga (invited to the private room in the source) reads it.
async fn an_export_imports_as_it_was_and_only_once(mode: Mode) {
    let server = TestServer::spawn(config(&mode));
    let root = register(server.addr, "root").await;
    let olga = register(server.addr, "olga").await;
    let mallory = register(server.addr, "mallory").await;
    let zip = export(1);

    // Nobody but an admin imports; nothing is stored then.
    assert_eq!(post_import(server.addr, None, &zip).await.0, 401);
    assert_eq!(post_import(server.addr, Some(&mallory), &zip).await.0, 403);

    let (status, body) = post_import(server.addr, Some(&root), &zip).await;
    assert_eq!(status, 200, "{body}");
    let summary: Summary = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            summary.rooms,
            summary.messages,
            summary.already,
            summary.files
        ),
        (3, 6, 0, 2),
        "{summary:?}"
    );
    assert_eq!(
        summary.skipped + summary.reactions_skipped,
        0,
        "{summary:?}"
    );

    let mut chat = server.chat_socket_with_cookie(Some(&olga)).await;
    chat.identify("olga", token_for("olga"), &[], None).await;
    let (hall, topic) = joined(&mut chat, "hall").await;
    assert_eq!(topic.as_deref(), Some("Plans for spring"));
    let shapes: Vec<String> = hall.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            format!(
                "{T0} olga \"first\" edited=false [👍:olga+bob 🎉:bob] reply=None file=None image=None"
            ),
            format!(
                "{} bob \"second, edited\" edited=true [] reply=Some(\"first\") file=None image=None",
                T0 + 1000
            ),
            format!(
                "{} olga \"the notes\" edited=false [] reply=None file=Some((\"notes.txt\", {})) image=None",
                T0 + 2000,
                NOTES.len()
            ),
            format!(
                "{} bob \"a picture\" edited=false [] reply=None file=None image=Some((1, 1, {}))",
                T0 + 3000,
                PNG.len()
            ),
        ]
    );
    assert_eq!(hall[1].reply_to.as_ref().unwrap().id, hall[0].id);
    let file = hall[2].file.as_ref().unwrap();
    assert_eq!(
        download(server.addr, &olga, "hall", file.id.as_str()).await,
        NOTES
    );
    let image = hall[3].image.as_ref().unwrap();
    assert_eq!(
        download(server.addr, &olga, "hall", image.id.as_str()).await,
        PNG
    );
    let den = history(&mut chat, "den").await;
    assert_eq!(
        den.iter().map(shape).collect::<Vec<_>>(),
        [format!(
            "{} olga \"secret\" edited=false [] reply=None file=None image=None",
            T0 + 1500
        )]
    );
    let yard = history(&mut chat, "yard").await;
    assert_eq!(
        yard.iter().map(shape).collect::<Vec<_>>(),
        [format!(
            "{} bob \"outside\" edited=false [] reply=None file=None image=None",
            T0 + 4000
        )]
    );

    // The private room is closed to the uninvited.
    let mut other = server.chat_socket_with_cookie(Some(&mallory)).await;
    other
        .identify("mallory", token_for("mallory"), &[], None)
        .await;
    other
        .send(&ClientMsg::Join {
            room: "den".parse().unwrap(),
            since: None,
            epoch: None,
        })
        .await;
    other
        .until("a refusal", |e| matches!(e, ServerMsg::Error { .. }))
        .await;

    // Again: nothing new, the history as it was.
    let (status, body) = post_import(server.addr, Some(&root), &zip).await;
    assert_eq!(status, 200, "{body}");
    let again: Summary = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (again.rooms, again.messages, again.already, again.files),
        (3, 0, 6, 0),
        "{again:?}"
    );
    let mut fresh = server.chat_socket_with_cookie(Some(&olga)).await;
    fresh.identify("olga", token_for("olga"), &[], None).await;
    assert_eq!(history(&mut fresh, "hall").await, hall);
    assert_eq!(history(&mut fresh, "den").await, den);
    assert_eq!(history(&mut fresh, "yard").await, yard);
}

/// A newer format, and a file that is no ZIP, get a 400 that says why; nothing is stored.
async fn what_cannot_be_read_is_refused_clearly(mode: Mode) {
    let server = TestServer::spawn(config(&mode));
    let root = register(server.addr, "root").await;
    let (status, body) = post_import(server.addr, Some(&root), &export(2)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("format 2"), "{body}");
    let (status, body) = post_import(server.addr, Some(&root), b"hello, not a zip").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a ZIP"), "{body}");
    let mut chat = server.chat_socket_with_cookie(Some(&root)).await;
    chat.identify("root", token_for("root"), &[], None).await;
    assert!(history(&mut chat, "hall").await.is_empty());

    // Larger than --max-import-bytes: 413, before anything is read.
    let zip = export(1);
    let small = TestServer::spawn(Config {
        max_import_bytes: zip.len() as u64 - 1,
        ..config(&mode)
    });
    // (Cluster mode: the accounts and their sessions are the cluster's.)
    let root = match mode.redis_url() {
        Some(_) => root,
        None => register(small.addr, "root").await,
    };
    let (status, body) = post_import(small.addr, Some(&root), &zip).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("--max-import-bytes"), "{body}");
}

/// Rooms in use here are refused, named in the summary with why, and left as they are: one
/// the import would give a policy (hall: a topic) because it has members, one without (yard)
/// because its messages are newer than the export's (its history would run backwards). The
/// unused room (den) is imported.
async fn rooms_in_use_are_refused(mode: Mode) {
    let server = TestServer::spawn(config(&mode));
    let root = register(server.addr, "root").await;
    let olga = register(server.addr, "olga").await;
    let mut chat = server.chat_socket_with_cookie(Some(&olga)).await;
    chat.identify("olga", token_for("olga"), &["hall", "yard"], None)
        .await;
    chat.say("yard", "hello from now", "n1").await;
    chat.until("the echo", |e| matches!(e, ServerMsg::Said { .. }))
        .await;

    let (status, body) = post_import(server.addr, Some(&root), &export(1)).await;
    assert_eq!(status, 200, "{body}");
    let summary: Summary = serde_json::from_str(&body).unwrap();
    assert_eq!((summary.messages, summary.skipped), (1, 5), "{summary:?}");
    let refused: Vec<(&str, bool)> = summary
        .refused_rooms
        .iter()
        .map(|r| {
            let why = if r.room.as_str() == "hall" {
                "in use"
            } else {
                "newer"
            };
            (r.room.as_str(), r.reason.contains(why))
        })
        .collect();
    assert_eq!(refused, [("hall", true), ("yard", true)], "{summary:?}");

    let mut fresh = server.chat_socket_with_cookie(Some(&olga)).await;
    fresh.identify("olga", token_for("olga"), &[], None).await;
    let (hall, topic) = joined(&mut fresh, "hall").await;
    assert!(hall.is_empty() && topic.is_none(), "{hall:?} {topic:?}");
    let yard = history(&mut fresh, "yard").await;
    let texts: Vec<&str> = yard.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["hello from now"]);
    assert_eq!(history(&mut fresh, "den").await.len(), 1);
}

/// A run that stopped before noting what it stored (here: its ledger lost) is run again:
/// the entries in the log are found by their client ids, nothing is stored twice.
async fn a_run_that_lost_its_ledger_stores_nothing_twice(mode: Mode) {
    let server = TestServer::spawn(config(&mode));
    let root = register(server.addr, "root").await;
    let olga = register(server.addr, "olga").await;
    let zip = export(1);
    let (status, body) = post_import(server.addr, Some(&root), &zip).await;
    assert_eq!(status, 200, "{body}");
    let mut chat = server.chat_socket_with_cookie(Some(&olga)).await;
    chat.identify("olga", token_for("olga"), &[], None).await;
    let hall = history(&mut chat, "hall").await;
    assert_eq!(hall.len(), 4);

    match mode.redis_for("chat:{import}:ours") {
        Some(redis) => {
            redis.cmd(&["DEL", "chat:{import}:ours"]);
        }
        None => {
            let db = rusqlite::Connection::open(server.data_dir().join("imports.sqlite3")).unwrap();
            db.execute("DELETE FROM imported", []).unwrap();
        }
    }
    let (status, body) = post_import(server.addr, Some(&root), &zip).await;
    assert_eq!(status, 200, "{body}");
    let again: Summary = serde_json::from_str(&body).unwrap();
    // Noted again as stored (the entries were found), none refused, none twice.
    assert_eq!((again.messages, again.skipped), (6, 0), "{again:?}");
    assert!(again.refused_rooms.is_empty(), "{again:?}");
    let mut fresh = server.chat_socket_with_cookie(Some(&olga)).await;
    fresh.identify("olga", token_for("olga"), &[], None).await;
    assert_eq!(history(&mut fresh, "hall").await, hall);
}

/// A Slack workspace export (built from Slack's documented format by
/// `backend::transfer::slack_fixture`) imports into an empty server and reads right: the
/// channels as rooms (the private one closed to the uninvited), each message with its time,
/// sender, converted text, edit, reactions, thread as a reply and file bytes; again: nothing.
async fn a_slack_export_imports_and_reads_right_once(mode: Mode) {
    use backend::transfer::slack_fixture;
    let server = TestServer::spawn(config(&mode));
    let root = register(server.addr, "root").await;
    let zip = slack_fixture::export();
    let (status, body) = post_import(server.addr, Some(&root), &zip).await;
    assert_eq!(status, 200, "{body}");
    let summary: Summary = serde_json::from_str(&body).unwrap();
    assert_eq!(summary.source, "slack");
    assert_eq!(
        (
            summary.rooms,
            summary.messages,
            summary.already,
            summary.files
        ),
        (3, 7, 0, 1),
        "{summary:?}"
    );
    let left_out = summary.slack.as_ref().unwrap();
    assert_eq!(
        (left_out.conversations_skipped, left_out.files_missing),
        (1, 1),
        "{left_out:?}"
    );

    let mut chat = server.chat_socket_with_cookie(Some(&root)).await;
    chat.identify("root", token_for("root"), &[], None).await;
    let (general, topic) = joined(&mut chat, "general").await;
    assert_eq!(
        topic.as_deref(),
        Some("Company-wide news for @Alice & friends")
    );
    let shapes: Vec<String> = general.iter().map(shape).collect();
    assert_eq!(
        shapes,
        [
            "1704103300000 Alice \"Release plan: the plan (https://example.com/plan) & https://example.com/faq cc @bob @here\" edited=false [👍:bob+Carol Jones 👋🏼:Carol Jones] reply=None file=None image=None".to_owned(),
            "1704103400000 bob \"On it 😄 in #random, 3 < 4 > 2\" edited=true [] reply=Some(\"Release plan: the plan (https://example.com/plan) & https://example.com/faq cc @bob @here\") file=None image=None".to_owned(),
            "1704189600000 Carol Jones \"Late reply\" edited=false [] reply=Some(\"Release plan: the plan (https://example.com/plan) & https://example.com/faq cc @bob @here\") file=None image=None".to_owned(),
            format!(
                "1704189700000 Alice \"Two files\\n(file not in the export: diagram.png)\" edited=false [] reply=None file=Some((\"notes.txt\", {})) image=None",
                slack_fixture::NOTES_TXT.len()
            ),
            "1704189800000 deploybot \"Deployed https://example.com/v2\" edited=false [] reply=None file=None image=None".to_owned(),
        ]
    );
    let file = general[3].file.as_ref().unwrap();
    assert_eq!(
        download(server.addr, &root, "general", file.id.as_str()).await,
        slack_fixture::NOTES_TXT
    );
    let random = history(&mut chat, "random").await;
    assert_eq!(
        random.iter().map(shape).collect::<Vec<_>>(),
        [
            "1704103500000 bob \"hi @Alice and @ghost 👋🏻\" edited=false [] reply=None file=None image=None"
        ]
    );

    // The private channel is closed to someone it did not list.
    let mallory = register(server.addr, "mallory").await;
    let mut other = server.chat_socket_with_cookie(Some(&mallory)).await;
    other
        .identify("mallory", token_for("mallory"), &[], None)
        .await;
    other
        .send(&ClientMsg::Join {
            room: "secret-plans".parse().unwrap(),
            since: None,
            epoch: None,
        })
        .await;
    other
        .until("a refusal", |e| matches!(e, ServerMsg::Error { .. }))
        .await;

    // Again: nothing new, the history as it was.
    let (status, body) = post_import(server.addr, Some(&root), &zip).await;
    assert_eq!(status, 200, "{body}");
    let again: Summary = serde_json::from_str(&body).unwrap();
    assert_eq!((again.messages, again.already), (0, 7), "{again:?}");
    let mut fresh = server.chat_socket_with_cookie(Some(&root)).await;
    fresh.identify("root", token_for("root"), &[], None).await;
    assert_eq!(history(&mut fresh, "general").await, general);
}

common::in_both_modes!(
    a_slack_export_imports_and_reads_right_once,
    a_run_that_lost_its_ledger_stores_nothing_twice,
    an_export_imports_as_it_was_and_only_once,
    what_cannot_be_read_is_refused_clearly,
    rooms_in_use_are_refused,
);

/// Nobody chooses a client id an import uses (`imp-…`): an import that stopped midway finds
/// its entries by them, and a planted one would be taken for the import's own.
#[actix_web::test]
async fn nobody_sends_with_a_client_id_imports_keep_for_themselves() {
    let server = TestServer::spawn(common::patient_config(None));
    let mut chat = server.chat_as("mallory", &["general"]).await;
    let planted = ClientMsg::Say {
        room: "general".parse().unwrap(),
        text: "planted".try_into().unwrap(),
        client_id: "imp-0123456789ab-cdef".parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    };
    assert_eq!(chat.refused(planted).await, shared::ErrorCode::Invalid);
    // The connection goes on; nothing was stored.
    chat.say("general", "fine", "c-1").await;
    chat.until(
        "the message stored",
        |e| matches!(e, ServerMsg::Said { text, .. } if text.as_str() == "fine"),
    )
    .await;
    let mut reader = server.chat_as("reader", &[]).await;
    let stored = history(&mut reader, "general").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}
