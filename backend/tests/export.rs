//! Exports (issue #33, docs/EXPORT.md), in both modes: a room's export holds its messages in
//! order in their final state (edits, reactions, replies, files and images, with the
//! uploads' bytes; deletions left out), read page by page; a user's export holds their own
//! direct messages and read positions and nobody else's; only server admins get one (401,
//! 403); `backend export` writes the same from a stopped node's data directory.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{io::Read as _, net::SocketAddr};

use backend::Config;
use common::{Chat, Mode, TestServer, binary_exchange, post_json, set_cookie, token_for};
use serde_json::Value;
use shared::{ClientMsg, MessageId, ServerMsg, paths};

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

/// A fresh account's session cookie.
async fn register(addr: SocketAddr, name: &str) -> String {
    let body = serde_json::json!({ "name": name, "password": "a long password" }).to_string();
    let (status, head, reply) = post_json(addr, paths::API_REGISTER, &body, None).await;
    assert_eq!(status, 201, "{reply}");
    set_cookie(&head).unwrap()
}

/// A chat socket of the account behind `cookie`, in `rooms`.
async fn chat_in(server: &TestServer, name: &str, cookie: &str, rooms: &[&str]) -> Chat {
    let mut chat = server.chat_socket_with_cookie(Some(cookie)).await;
    chat.identify(name, token_for(name), rooms, None).await;
    chat
}

/// Uploads `bytes` to `room` as the account behind `cookie` (a file when `name` is given):
/// the upload's JSON.
async fn upload(
    addr: SocketAddr,
    cookie: &str,
    room: &str,
    name: Option<&str>,
    bytes: &[u8],
) -> Value {
    let (query, content_type) = match name {
        Some(name) => (format!("room={room}&name={name}"), "text/plain"),
        None => (format!("room={room}"), "image/png"),
    };
    let head = format!(
        "POST {}?{query} HTTP/1.1\r\nCookie: {}={cookie}\r\nContent-Type: {content_type}",
        paths::API_UPLOADS,
        paths::SESSION_COOKIE
    );
    let (status, _, body) = binary_exchange(addr, &head, bytes).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The value of the header `name` in a response `head`.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_owned())
}

/// A chunked body, whole.
fn unchunked(mut body: &[u8]) -> Vec<u8> {
    let mut whole = Vec::new();
    loop {
        let end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().trim(), 16).unwrap();
        body = &body[end + 2..];
        if size == 0 {
            return whole;
        }
        whole.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// `GET /api/admin/export?query` as the account behind `cookie` (none: anonymous): the
/// status, the head and the body (unchunked).
async fn export(addr: SocketAddr, query: &str, cookie: Option<&str>) -> (u16, String, Vec<u8>) {
    let cookie = cookie.map_or_else(String::new, |c| {
        format!("\r\nCookie: {}={c}", paths::SESSION_COOKIE)
    });
    let head = format!("GET {}{query} HTTP/1.1{cookie}", paths::API_ADMIN_EXPORT);
    let (status, head, body) = binary_exchange(addr, &head, b"").await;
    let chunked =
        header(&head, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { unchunked(&body) } else { body };
    (status, head, body)
}

/// An export's lines and its files (by entry name), checking that `export.jsonl` comes
/// first and its first line says what the export is.
fn read_zip(
    bytes: Vec<u8>,
    scope: &str,
) -> (Vec<Value>, std::collections::BTreeMap<String, Vec<u8>>) {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut lines = String::new();
    {
        let mut first = archive.by_index(0).unwrap();
        assert_eq!(first.name().unwrap(), "export.jsonl");
        first.read_to_string(&mut lines).unwrap();
    }
    let mut files = std::collections::BTreeMap::new();
    for at in 1..archive.len() {
        let mut entry = archive.by_index(at).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        files.insert(entry.name().unwrap().into_owned(), bytes);
    }
    let lines: Vec<Value> = lines
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "export");
    assert_eq!(lines[0]["format"], 1);
    assert_eq!(lines[0]["scope"], scope);
    assert!(lines[0]["at_ms"].as_u64().unwrap() > 0);
    (lines, files)
}

/// Sends `message` and waits for the sender's own copy of what it stored: (id, seq, ts).
async fn said(chat: &mut Chat, message: ClientMsg) -> (MessageId, u64, u64) {
    let ClientMsg::Say { client_id, .. } = &message else {
        panic!("not a say");
    };
    let wanted = client_id.clone();
    chat.send(&message).await;
    match chat
        .until(
            "the message stored",
            |e| matches!(e, ServerMsg::Said { client_id, .. } if *client_id == wanted),
        )
        .await
    {
        ServerMsg::Said { id, seq, ts, .. } => (id, seq, ts),
        _ => unreachable!(),
    }
}

fn say(room: &str, text: &str, client_id: &str) -> ClientMsg {
    carrying(room, text, client_id, Carried::default())
}

/// What a message may carry besides its text.
#[derive(Default)]
struct Carried {
    reply_to: Option<MessageId>,
    image: Option<shared::Image>,
    file: Option<shared::File>,
}

fn carrying(room: &str, text: &str, client_id: &str, carried: Carried) -> ClientMsg {
    ClientMsg::Say {
        room: room.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to: carried.reply_to,
        image: carried.image,
        file: carried.file.map(Box::new),
    }
}

/// Sends a change (edit, reaction, deletion) and waits for the sender's copy of it.
async fn changed(chat: &mut Chat, message: ClientMsg) {
    let (ClientMsg::Edit { client_id, .. }
    | ClientMsg::React { client_id, .. }
    | ClientMsg::DeleteMessage { client_id, .. }) = &message
    else {
        panic!("not a change");
    };
    let wanted = client_id.clone();
    chat.send(&message).await;
    chat.until(
        "the change stored",
        |e| matches!(e, ServerMsg::Changed { client_id, .. } if *client_id == wanted),
    )
    .await;
}

/// A room with everything a message can carry exports in order, in its final state, with
/// its uploads' bytes; the deleted message is not there; only an admin gets it.
async fn a_room_exports_its_messages_in_their_final_state(mode: Mode) {
    let server = TestServer::spawn(config(&mode, None));
    let olga = register(server.addr, "olga").await;
    let carol = register(server.addr, "carol").await;
    let root = register(server.addr, "root").await;
    let mut o = chat_in(&server, "olga", &olga, &["general"]).await;
    let mut c = chat_in(&server, "carol", &carol, &["general"]).await;
    let room: shared::RoomName = "general".parse().unwrap();

    let (m1, s1, t1) = said(&mut o, say("general", "hello", "c1")).await;
    let reply = carrying(
        "general",
        "hi olga",
        "c2",
        Carried {
            reply_to: Some(m1),
            ..Carried::default()
        },
    );
    let (m2, _, t2) = said(&mut c, reply).await;
    changed(
        &mut o,
        ClientMsg::Edit {
            room: room.clone(),
            id: m1,
            text: "hello, all".try_into().unwrap(),
            client_id: "c3".parse().unwrap(),
        },
    )
    .await;
    let react = |id, emoji: &str, client_id: &str| ClientMsg::React {
        room: room.clone(),
        id,
        emoji: emoji.parse().unwrap(),
        on: true,
        client_id: client_id.parse().unwrap(),
    };
    changed(&mut c, react(m1, "👍", "c4")).await;
    changed(&mut o, react(m1, "👍", "c5")).await;
    changed(&mut o, react(m1, "🎉", "c6")).await;
    let file: shared::File = serde_json::from_value(
        upload(server.addr, &olga, "general", Some("notes.txt"), NOTES).await,
    )
    .unwrap();
    let with_file = carrying(
        "general",
        "the notes",
        "c7",
        Carried {
            file: Some(file.clone()),
            ..Carried::default()
        },
    );
    let (m3, _, _) = said(&mut o, with_file).await;
    let image: shared::Image =
        serde_json::from_value(upload(server.addr, &carol, "general", None, PNG).await).unwrap();
    let with_image = carrying(
        "general",
        "the view",
        "c8",
        Carried {
            image: Some(image.clone()),
            ..Carried::default()
        },
    );
    let (m4, _, _) = said(&mut c, with_image).await;
    let (m5, _, _) = said(&mut o, say("general", "oops, wrong room", "c9")).await;
    // A reply to the message about to be deleted loses its reference with it.
    let to_deleted = carrying(
        "general",
        "which room?",
        "c9b",
        Carried {
            reply_to: Some(m5),
            ..Carried::default()
        },
    );
    let (m5r, _, _) = said(&mut c, to_deleted).await;
    changed(
        &mut o,
        ClientMsg::DeleteMessage {
            room: room.clone(),
            id: m5,
            client_id: "c10".parse().unwrap(),
        },
    )
    .await;
    let (m6, s6, t6) = said(&mut c, say("general", "bye", "c11")).await;

    // Only an admin.
    assert_eq!(export(server.addr, "?room=general", None).await.0, 401);
    assert_eq!(
        export(server.addr, "?room=general", Some(&carol)).await.0,
        403
    );
    assert_eq!(
        export(server.addr, "?room=nowhere", Some(&root)).await.0,
        404
    );
    assert_eq!(
        export(server.addr, "?room=general&user=olga", Some(&root))
            .await
            .0,
        400
    );

    let (status, head, body) = export(server.addr, "?room=general", Some(&root)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(header(&head, "content-type").unwrap(), "application/zip");
    assert_eq!(header(&head, "cache-control").unwrap(), "no-store");
    let disposition = header(&head, "content-disposition").unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"chat-export-room-"),
        "{disposition}"
    );
    let (lines, files) = read_zip(body, "room");
    assert_eq!(lines[1]["type"], "room");
    assert_eq!(lines[1]["room"], "general");
    assert_eq!(lines[1]["private"], false);
    let messages = &lines[2..];
    let ids: Vec<String> = messages
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids,
        [m1, m2, m3, m4, m5r, m6].map(|id| id.0.to_string()),
        "in order, the deleted one left out: {messages:#?}"
    );
    assert!(
        messages
            .iter()
            .all(|m| m["type"] == "message" && m["room"] == "general")
    );
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(seqs[0], s1);
    assert_eq!(seqs[5], s6);

    let first = &messages[0];
    assert_eq!(first["from"], "olga");
    assert_eq!(first["ts"], t1);
    assert_eq!(first["text"], "hello, all");
    assert_eq!(first["edited"], true);
    assert_eq!(
        first["reactions"],
        serde_json::json!([
            {"emoji": "👍", "users": ["carol", "olga"]},
            {"emoji": "🎉", "users": ["olga"]},
        ])
    );
    assert!(first.get("reply_to").is_none());
    let second = &messages[1];
    assert_eq!(second["from"], "carol");
    assert_eq!(second["ts"], t2);
    assert_eq!(second["text"], "hi olga");
    assert_eq!(second["edited"], false);
    assert_eq!(second["reply_to"], m1.0.to_string());
    assert!(second.get("reactions").is_none());
    let third = &messages[2];
    assert_eq!(third["file"]["id"], file.id.as_str());
    assert_eq!(third["file"]["name"], "notes.txt");
    assert_eq!(third["file"]["bytes"], NOTES.len());
    assert!(third.get("image").is_none());
    let fourth = &messages[3];
    assert_eq!(fourth["image"]["id"], image.id.as_str());
    assert_eq!(fourth["image"]["mime"], "image/png");
    assert_eq!(fourth["image"]["width"], 1);
    assert_eq!(fourth["image"]["height"], 1);
    assert_eq!(messages[4]["text"], "which room?");
    assert!(messages[4].get("reply_to").is_none(), "{:?}", messages[4]);
    assert_eq!(messages[5]["text"], "bye");
    assert_eq!(messages[5]["ts"], t6);

    // Each upload once, its bytes as uploaded.
    assert_eq!(files.keys().cloned().collect::<Vec<_>>(), {
        let mut names = vec![
            format!("files/{}", file.id.as_str()),
            format!("files/{}", image.id.as_str()),
        ];
        names.sort();
        names
    });
    assert_eq!(files[&format!("files/{}", file.id.as_str())], NOTES);
    assert_eq!(files[&format!("files/{}", image.id.as_str())], PNG);

    // The server's export holds the room too (and the lobby the sockets joined first).
    let (status, _, body) = export(server.addr, "", Some(&root)).await;
    assert_eq!(status, 200);
    let (lines, server_files) = read_zip(body, "server");
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "room" && l["room"] == "general")
    );
    let exported: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "message" && l["room"] == "general")
        .collect();
    assert_eq!(exported.len(), 6);
    assert_eq!(server_files, files);
}

/// A user's export: their direct messages (sent and received) and read positions, and
/// nothing of anyone else's.
async fn a_user_export_holds_their_own_data_alone(mode: Mode) {
    let server = TestServer::spawn(config(&mode, None));
    let olga = register(server.addr, "olga").await;
    let carol = register(server.addr, "carol").await;
    let dave = register(server.addr, "dave").await;
    let root = register(server.addr, "root").await;
    let mut o = chat_in(&server, "olga", &olga, &["general"]).await;
    let mut c = chat_in(&server, "carol", &carol, &[]).await;
    let mut d = chat_in(&server, "dave", &dave, &[]).await;
    let direct = |to: &str, text: &str, client_id: &str| ClientMsg::Direct {
        to: to.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
    };
    let sent = |text: &'static str| move |e: &ServerMsg| matches!(e, ServerMsg::Direct { text: t, .. } if t.as_str() == text);
    o.send(&direct("carol", "psst", "d1")).await;
    o.until("olga's direct message", sent("psst")).await;
    c.send(&direct("olga", "yes?", "d2")).await;
    c.until("carol's answer", sent("yes?")).await;
    d.send(&direct("carol", "dave's secret", "d3")).await;
    d.until("dave's direct message", sent("dave's secret"))
        .await;
    let (_, seq, _) = said(&mut o, say("general", "read up to here", "s1")).await;
    o.send(&ClientMsg::MarkRead {
        room: "general".parse().unwrap(),
        seq,
    })
    .await;
    o.until(
        "the read position stored",
        |e| matches!(e, ServerMsg::ReadPositions { rooms, .. } if !rooms.is_empty()),
    )
    .await;

    assert_eq!(export(server.addr, "?user=olga", Some(&carol)).await.0, 403);
    let (status, _, body) = export(server.addr, "?user=olga", Some(&root)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (lines, files) = read_zip(body, "user");
    assert!(files.is_empty());
    let key = backend::auth::admin_key(shared::auth::AuthMode::Accounts, "olga").unwrap();
    let directs: Vec<&Value> = lines.iter().filter(|l| l["type"] == "direct").collect();
    let texts: Vec<&str> = directs
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["psst", "yes?"], "{lines:#?}");
    assert!(directs.iter().all(|l| l["owner"] == key.as_str()));
    assert_eq!(
        (directs[0]["from"].as_str(), directs[0]["to"].as_str()),
        (Some("olga"), Some("carol"))
    );
    assert_eq!(
        (directs[1]["from"].as_str(), directs[1]["to"].as_str()),
        (Some("carol"), Some("olga"))
    );
    let reads: Vec<&Value> = lines.iter().filter(|l| l["type"] == "read").collect();
    assert_eq!(reads.len(), 1, "{reads:#?}");
    assert_eq!(reads[0]["user"], key.as_str());
    assert_eq!(reads[0]["place"], "r:general");
    assert_eq!(reads[0]["position"], seq);
    // No room of theirs but groups: `general` is the server's.
    assert!(
        lines
            .iter()
            .all(|l| l["type"] != "message" && l["type"] != "room")
    );

    // Carol's holds dave's message to her, and not olga's read position.
    let (_, _, body) = export(server.addr, "?user=carol", Some(&root)).await;
    let (lines, _) = read_zip(body, "user");
    let texts: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "direct")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["psst", "yes?", "dave's secret"]);
    assert!(lines.iter().all(|l| l["type"] != "read"));
}

/// The export reads a room, and a user's direct messages, a page at a time (a page of 4
/// here), every message, in order.
async fn an_export_reads_every_page_in_order(mode: Mode) {
    let server = TestServer::spawn(Config {
        history_page: 4,
        ..config(&mode, None)
    });
    let olga = register(server.addr, "olga").await;
    let root = register(server.addr, "root").await;
    let mut o = chat_in(&server, "olga", &olga, &["long"]).await;
    for n in 0..23 {
        said(
            &mut o,
            say("long", &format!("message {n}"), &format!("m{n}")),
        )
        .await;
    }
    let (status, _, body) = export(server.addr, "?room=long", Some(&root)).await;
    assert_eq!(status, 200);
    let (lines, _) = read_zip(body, "room");
    let texts: Vec<&str> = lines[2..]
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    let wanted: Vec<String> = (0..23).map(|n| format!("message {n}")).collect();
    assert_eq!(texts, wanted);

    // A user's direct messages too.
    let carol = register(server.addr, "carol").await;
    let _c = chat_in(&server, "carol", &carol, &[]).await;
    for n in 0..9 {
        let text = format!("direct {n}");
        o.send(&ClientMsg::Direct {
            to: "carol".parse().unwrap(),
            text: text.as_str().try_into().unwrap(),
            client_id: format!("d{n}").parse().unwrap(),
        })
        .await;
        o.until(
            "the direct message stored",
            |e| matches!(e, ServerMsg::Direct { text: t, .. } if t.as_str() == text),
        )
        .await;
    }
    let (status, _, body) = export(server.addr, "?user=carol", Some(&root)).await;
    assert_eq!(status, 200);
    let (lines, _) = read_zip(body, "user");
    let texts: Vec<&str> = lines
        .iter()
        .filter(|l| l["type"] == "direct")
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    let wanted: Vec<String> = (0..9).map(|n| format!("direct {n}")).collect();
    assert_eq!(texts, wanted);
}

/// A fresh, empty server's mode like `mode`: one node, or a Redis (Cluster) of its own.
async fn empty_like(mode: &Mode) -> Mode {
    match mode {
        Mode::Single => Mode::Single,
        Mode::Cluster(_) => Mode::Cluster(common::redis_server::RedisServer::start().await),
        Mode::Sharded(_) => Mode::Sharded(common::redis_cluster::RedisCluster::start().await),
    }
}

/// `POST /api/admin/import` of `zip` as the account behind `cookie`: status and body.
async fn import(addr: SocketAddr, cookie: &str, zip: &[u8]) -> (u16, String) {
    let head = format!(
        "POST {} HTTP/1.1\r\nContent-Type: application/zip\r\nCookie: {}={cookie}",
        paths::API_ADMIN_IMPORT,
        paths::SESSION_COOKIE
    );
    let (status, _, body) = binary_exchange(addr, &head, zip).await;
    (status, String::from_utf8(body).unwrap())
}

/// What `chat` reads of `room` on joining: its policy (private, topic) and its messages.
async fn read_room(
    chat: &mut Chat,
    room: &str,
) -> ((bool, Option<String>), Vec<shared::RoomMessage>) {
    let wanted: shared::RoomName = room.parse().unwrap();
    chat.send(&ClientMsg::Join {
        room: wanted.clone(),
        since: None,
        epoch: None,
    })
    .await;
    let mut policy = (false, None);
    loop {
        match chat.recv_all().await {
            ServerMsg::RoomPolicy {
                room,
                private,
                topic,
                ..
            } if room == wanted => policy = (private, topic),
            ServerMsg::History { room, messages, .. } if room == wanted => {
                return (policy, messages);
            }
            ServerMsg::Error { message, .. } => panic!("cannot join {wanted}: {message}"),
            _ => {}
        }
    }
}

/// What each of `messages` reads as, for comparing two servers' copies (ids differ): time,
/// sender, text, edited, reactions, which of them it answers (by place; the quote's excerpt
/// is the text as it was when quoted, and an export carries final texts only), its file's
/// name and bytes, its image's size. Deleted messages are left out (an export does).
fn shapes(messages: &[shared::RoomMessage]) -> Vec<String> {
    let kept: Vec<&shared::RoomMessage> = messages.iter().filter(|m| !m.deleted).collect();
    let place = |id: MessageId| kept.iter().position(|m| m.id == id);
    kept.iter()
        .map(|m| {
            let reactions: Vec<String> = m
                .reactions
                .iter()
                .map(|r| {
                    let users: Vec<&str> = r.users.iter().map(|u| u.as_str()).collect();
                    format!("{}:{}", r.emoji.as_str(), users.join("+"))
                })
                .collect();
            format!(
                "{} {} {:?} edited={} [{}] answers={:?} file={:?} image={:?}",
                m.ts,
                m.from,
                m.text.as_str(),
                m.edited,
                reactions.join(" "),
                m.reply_to.as_ref().and_then(|q| place(q.id)),
                m.file
                    .as_ref()
                    .map(|f| (f.name.clone(), f.id.clone(), f.bytes)),
                m.image
                    .as_ref()
                    .map(|i| (i.id.clone(), i.width, i.height, i.bytes)),
            )
        })
        .collect()
}

/// Export, then import into an empty server of the same mode: the same rooms (private, topic)
/// and the same messages, in order, with their times, senders, texts, edits, reactions,
/// replies, files and images (the uploads' bytes too); only the deleted message is gone (an
/// export leaves it out). Importing the export again changes nothing.
async fn what_a_server_exports_an_empty_one_imports_as_it_was(mode: Mode) {
    let source = TestServer::spawn(config(&mode, None));
    let olga = register(source.addr, "olga").await;
    let carol = register(source.addr, "carol").await;
    let root = register(source.addr, "root").await;
    let mut o = chat_in(&source, "olga", &olga, &["general"]).await;
    let mut c = chat_in(&source, "carol", &carol, &["general"]).await;
    let room: shared::RoomName = "general".parse().unwrap();
    let (m1, _, _) = said(&mut o, say("general", "hello", "c1")).await;
    let reply = Carried {
        reply_to: Some(m1),
        ..Carried::default()
    };
    said(&mut c, carrying("general", "hi olga", "c2", reply)).await;
    changed(
        &mut o,
        ClientMsg::Edit {
            room: room.clone(),
            id: m1,
            text: "hello, all".try_into().unwrap(),
            client_id: "c3".parse().unwrap(),
        },
    )
    .await;
    let react = |id, emoji: &str, client_id: &str| ClientMsg::React {
        room: room.clone(),
        id,
        emoji: emoji.parse().unwrap(),
        on: true,
        client_id: client_id.parse().unwrap(),
    };
    changed(&mut c, react(m1, "👍", "c4")).await;
    changed(&mut o, react(m1, "👍", "c5")).await;
    changed(&mut o, react(m1, "🎉", "c6")).await;
    let file: shared::File = serde_json::from_value(
        upload(source.addr, &olga, "general", Some("notes.txt"), NOTES).await,
    )
    .unwrap();
    let with_file = Carried {
        file: Some(file),
        ..Carried::default()
    };
    said(&mut o, carrying("general", "the notes", "c7", with_file)).await;
    let image: shared::Image =
        serde_json::from_value(upload(source.addr, &carol, "general", None, PNG).await).unwrap();
    let with_image = Carried {
        image: Some(image),
        ..Carried::default()
    };
    said(&mut c, carrying("general", "the view", "c8", with_image)).await;
    let (gone, _, _) = said(&mut o, say("general", "oops, wrong room", "c9")).await;
    changed(
        &mut o,
        ClientMsg::DeleteMessage {
            room: room.clone(),
            id: gone,
            client_id: "c10".parse().unwrap(),
        },
    )
    .await;
    said(&mut c, say("general", "bye", "c11")).await;
    // A private room with a topic, carol invited.
    o.send(&ClientMsg::CreateRoom {
        room: "den".parse().unwrap(),
        private: true,
        max_members: None,
    })
    .await;
    o.until(
        "the room made",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "den"),
    )
    .await;
    for request in [
        ClientMsg::SetTopic {
            room: "den".parse().unwrap(),
            topic: "Plans".to_owned(),
        },
        ClientMsg::Invite {
            room: "den".parse().unwrap(),
            user: "carol".parse().unwrap(),
        },
    ] {
        o.send(&request).await;
    }
    said(&mut o, say("den", "between us", "d1")).await;

    let mut reader = chat_in(&source, "olga", &olga, &[]).await;
    let (general_policy, general) = read_room(&mut reader, "general").await;
    let (den_policy, den) = read_room(&mut reader, "den").await;
    assert_eq!(den_policy, (true, Some("Plans".to_owned())));
    assert_eq!(general.len(), 6, "five messages and the deleted one");

    let (status, _, zip) = export(source.addr, "", Some(&root)).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&zip));

    let mode_b = empty_like(&mode).await;
    let target = TestServer::spawn(config(&mode_b, None));
    let root_b = register(target.addr, "root").await;
    let olga_b = register(target.addr, "olga").await;
    let carol_b = register(target.addr, "carol").await;
    let (status, body) = import(target.addr, &root_b, &zip).await;
    assert_eq!(status, 200, "{body}");
    let summary: backend::transfer::import::Summary = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            summary.messages,
            summary.files,
            summary.skipped,
            summary.reactions_skipped
        ),
        (6, 2, 0, 0),
        "{summary:?}"
    );
    assert!(summary.refused_rooms.is_empty(), "{summary:?}");

    let mut reader_b = chat_in(&target, "olga", &olga_b, &[]).await;
    let (general_policy_b, general_b) = read_room(&mut reader_b, "general").await;
    let (den_policy_b, den_b) = read_room(&mut reader_b, "den").await;
    assert_eq!(general_policy_b, general_policy);
    assert_eq!(den_policy_b, den_policy);
    assert_eq!(shapes(&general_b), shapes(&general));
    assert!(
        shapes(&general)[1].contains("answers=Some(0)"),
        "the reply is compared: {:?}",
        shapes(&general)
    );
    assert_eq!(shapes(&den_b), shapes(&den));
    // The uploads' bytes came along.
    let download = |cookie: String, id: String| async move {
        let head = format!(
            "GET {}/general/{id} HTTP/1.1\r\nCookie: {}={cookie}",
            paths::API_UPLOADS,
            paths::SESSION_COOKIE
        );
        let (status, _, body) = binary_exchange(target.addr, &head, &[]).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        body
    };
    let file = general_b.iter().find_map(|m| m.file.as_ref()).unwrap();
    assert_eq!(download(olga_b.clone(), file.id.to_string()).await, NOTES);
    let image = general_b.iter().find_map(|m| m.image.as_ref()).unwrap();
    assert_eq!(download(olga_b.clone(), image.id.to_string()).await, PNG);
    // The private room is still closed to the uninvited (root is an admin: a third account).
    let mut other = chat_in(&target, "carol", &carol_b, &[]).await;
    let (_, den_for_carol) = read_room(&mut other, "den").await;
    assert_eq!(den_for_carol.len(), 1, "carol was invited in the source");

    // Again: nothing new.
    let (status, body) = import(target.addr, &root_b, &zip).await;
    assert_eq!(status, 200, "{body}");
    let again: backend::transfer::import::Summary = serde_json::from_str(&body).unwrap();
    assert_eq!((again.messages, again.already), (0, 6), "{again:?}");
    let mut fresh = chat_in(&target, "olga", &olga_b, &[]).await;
    assert_eq!(read_room(&mut fresh, "general").await.1, general_b);
}

common::in_both_modes!(
    what_a_server_exports_an_empty_one_imports_as_it_was,
    a_room_exports_its_messages_in_their_final_state,
    a_user_export_holds_their_own_data_alone,
    an_export_reads_every_page_in_order,
);

/// `backend export` on a stopped node's data directory writes the same export as the
/// endpoint would, to the file named, and nothing else there.
#[actix_web::test]
async fn the_command_line_exports_a_stopped_node() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::spawn(config(&Mode::Single, Some(data.path().to_owned())));
    let olga = register(server.addr, "olga").await;
    let mut o = chat_in(&server, "olga", &olga, &["general"]).await;
    let image: shared::Image =
        serde_json::from_value(upload(server.addr, &olga, "general", None, PNG).await).unwrap();
    let (m1, _, t1) = said(&mut o, say("general", "first", "c1")).await;
    let with_image = carrying(
        "general",
        "a picture",
        "c2",
        Carried {
            image: Some(image.clone()),
            ..Carried::default()
        },
    );
    said(&mut o, with_image).await;
    drop(o);
    server.stop().await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("general.zip");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .arg("export")
        .arg("--room")
        .arg("general")
        .arg("--out")
        .arg(&file)
        .arg("--data-dir")
        .arg(data.path())
        .arg("--auth")
        .arg("accounts")
        .status()
        .unwrap();
    assert!(status.success());
    let (lines, files) = read_zip(std::fs::read(&file).unwrap(), "room");
    assert_eq!(lines[1]["room"], "general");
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(lines[2]["id"], m1.0.to_string());
    assert_eq!(lines[2]["ts"], t1);
    assert_eq!(lines[2]["text"], "first");
    assert_eq!(lines[3]["image"]["id"], image.id.as_str());
    assert_eq!(files[&format!("files/{}", image.id.as_str())], PNG);
    let names: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["general.zip"], "no partial file left");

    // A room that never was: an error, and no file.
    let missing = out.path().join("missing.zip");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["export", "--room", "nowhere", "--out"])
        .arg(&missing)
        .arg("--data-dir")
        .arg(data.path())
        .status()
        .unwrap();
    assert!(!status.success());
    assert!(!missing.exists());

    // A data directory without a store (a typo): an error, and no store made there.
    let empty = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["export", "--out"])
        .arg(&missing)
        .arg("--data-dir")
        .arg(empty.path())
        .status()
        .unwrap();
    assert!(!status.success());
    assert!(!missing.exists());
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

/// Cluster mode: `backend export` is one more node on the same Redis, so the cluster keeps
/// running meanwhile; it reads the shared uploads directory and keeps its own data
/// directory.
#[actix_web::test]
async fn the_command_line_exports_a_running_cluster() {
    let redis = common::redis_server::RedisServer::start().await;
    let mode = Mode::Cluster(redis);
    let server = TestServer::spawn(config(&mode, None));
    let olga = register(server.addr, "olga").await;
    let mut o = chat_in(&server, "olga", &olga, &["general"]).await;
    let file: shared::File = serde_json::from_value(
        upload(server.addr, &olga, "general", Some("notes.txt"), NOTES).await,
    )
    .unwrap();
    let (m1, _, t1) = said(&mut o, say("general", "first", "c1")).await;
    let with_file = carrying(
        "general",
        "the notes",
        "c2",
        Carried {
            file: Some(file.clone()),
            ..Carried::default()
        },
    );
    said(&mut o, with_file).await;

    let own = tempfile::tempdir().unwrap();
    let out = own.path().join("server.zip");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_backend"));
    command
        .arg("export")
        .arg("--out")
        .arg(&out)
        .arg("--redis")
        .arg(mode.redis_url().unwrap())
        .arg("--data-dir")
        .arg(own.path().join("data"))
        .arg("--uploads-dir")
        .arg(server.data_dir().join("uploads"))
        .arg("--auth")
        .arg("accounts");
    // (On a thread of its own: the server runs on this test's runtime meanwhile.)
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (lines, files) = read_zip(std::fs::read(&out).unwrap(), "server");
    let messages: Vec<&Value> = lines.iter().filter(|l| l["type"] == "message").collect();
    assert_eq!(messages.len(), 2, "{lines:#?}");
    assert_eq!(messages[0]["id"], m1.0.to_string());
    assert_eq!(messages[0]["ts"], t1);
    assert_eq!(messages[1]["file"]["id"], file.id.as_str());
    assert_eq!(files[&format!("files/{}", file.id.as_str())], NOTES);
    // The cluster still serves.
    said(&mut o, say("general", "still here", "c3")).await;
}
