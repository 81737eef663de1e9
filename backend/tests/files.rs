//! Files of any type over real sockets, in both modes (single node; two nodes sharing Redis
//! and an uploads directory, uploading through one and reading through the other): bytes that
//! are not an image are a file with a sanitised name and the type its bytes show; a `say`
//! carries what the server stored, to every member, live and in a catch-up; the download is
//! the same bytes as an attachment that cannot render in our origin, to readers of the room
//! only; a file a message names outlives the upload grace, one nobody sent does not.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{net::SocketAddr, path::Path, time::Duration};

use backend::Config;
use common::{Chat, Mode, TestServer, binary_exchange, token_for, token_header};
use shared::{ClientMsg, ErrorCode, File, HistoryMode, Image, ServerMsg, paths};

/// The smallest PNG: 1×1, one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A small PDF (its bytes, with a NUL, are not text).
const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n\x00trailer <<>>\n%%EOF\n";

/// A name with a path, a direction override, a line break and quotes, around Korean.
const HOSTILE_NAME: &str = "../evil\u{202E}txt.exe\r\n\"보고서\".pdf";

/// What the server makes of [`HOSTILE_NAME`] (the rule: uploads/name.rs).
const SANITISED_NAME: &str = "_eviltxt.exe_보고서_.pdf";

/// `text` percent-encoded for a query (every byte but unreserved ASCII).
fn query_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `text` with its `%XX` escapes decoded (a `filename*` value).
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Uploads `bytes` for `room` as `nick`, named `name` (none: no `name` in the query).
async fn upload(
    addr: SocketAddr,
    room: &str,
    nick: &str,
    name: Option<&str>,
    content_type: &str,
    bytes: &[u8],
) -> (u16, String) {
    let name = name
        .map(|name| format!("&name={}", query_encoded(name)))
        .unwrap_or_default();
    let head = format!(
        "POST {}?room={room}{name} HTTP/1.1\r\n{}\r\nContent-Type: {content_type}",
        paths::API_UPLOADS,
        token_header(nick)
    );
    let (status, _, body) = binary_exchange(addr, &head, bytes).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// An upload that must be a file.
async fn upload_file(
    addr: SocketAddr,
    room: &str,
    nick: &str,
    name: Option<&str>,
    bytes: &[u8],
) -> File {
    let (status, body) = upload(addr, room, nick, name, "application/octet-stream", bytes).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        serde_json::from_str::<Image>(&body).is_err(),
        "not an image: {body}"
    );
    serde_json::from_str(&body).unwrap()
}

async fn fetch(addr: SocketAddr, room: &str, id: &str, nick: &str) -> (u16, String, Vec<u8>) {
    let head = format!(
        "GET {}/{room}/{id} HTTP/1.1\r\n{}",
        paths::API_UPLOADS,
        token_header(nick)
    );
    binary_exchange(addr, &head, b"").await
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Two nodes sharing Redis and `dir` (cluster mode), or one.
fn nodes(
    redis: Option<&common::Redis>,
    dir: &Path,
    tune: impl Fn(Config) -> Config,
) -> (TestServer, Option<TestServer>) {
    let config = || {
        tune(Config {
            uploads_dir: Some(dir.to_owned()),
            ..common::patient_config(redis.map(common::Redis::url))
        })
    };
    let here = TestServer::spawn(config());
    let there = redis.map(|_| TestServer::spawn(config()));
    (here, there)
}

/// A `say` in `room` with `image` and `file`.
fn say(room: &str, client_id: &str, image: Option<Image>, file: Option<File>) -> ClientMsg {
    ClientMsg::Say {
        room: room.parse().unwrap(),
        text: "the report".try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to: None,
        image,
        file: file.map(Box::new),
    }
}

/// Sends `request` and expects it refused as `invalid`, by its client id.
async fn refused(chat: &mut Chat, request: ClientMsg, client_id: &str) {
    chat.send(&request).await;
    let refused = chat
        .until("the refusal", |e| matches!(e, ServerMsg::Error { .. }))
        .await;
    assert!(
        matches!(&refused, ServerMsg::Error { code: ErrorCode::Invalid, client_id: Some(c), .. }
            if c.as_str() == client_id),
        "{refused:?}"
    );
}

/// Ann makes the private room `room` and lets Bob in.
async fn private_room_of_two(ann: &mut Chat, bob: &mut Chat, room: &str) {
    ann.send(&ClientMsg::CreateRoom {
        room: room.parse().unwrap(),
        private: true,
        max_members: None,
    })
    .await;
    ann.until(
        "joined",
        |e| matches!(e, ServerMsg::Joined { room: r, .. } if r.as_str() == room),
    )
    .await;
    ann.send(&ClientMsg::Invite {
        room: room.parse().unwrap(),
        user: "bob".parse().unwrap(),
    })
    .await;
    bob.until("the invitation", |e| matches!(e, ServerMsg::Invited { .. }))
        .await;
    bob.send(&ClientMsg::Join {
        room: room.parse().unwrap(),
        since: None,
        epoch: None,
    })
    .await;
    bob.until(
        "joined",
        |e| matches!(e, ServerMsg::Joined { room: r, .. } if r.as_str() == room),
    )
    .await;
}

async fn a_file_is_shared_downloaded_and_caught_up(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| c);
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &["lobby"]).await;
    let mut bob = there.chat_as("bob", &["lobby"]).await;
    private_room_of_two(&mut ann, &mut bob, "docs").await;

    // Any bytes: a file, named as the rule says, typed by its bytes (not by what the request
    // declares); an image stays an image.
    let pdf = upload_file(here.addr, "docs", "ann", Some(HOSTILE_NAME), PDF).await;
    assert_eq!(pdf.name, SANITISED_NAME);
    assert_eq!(pdf.mime, "application/pdf");
    assert_eq!(pdf.bytes, PDF.len() as u64);
    let log = "2026-12-06 17:00 배포 시작\n\tok\n".as_bytes();
    let unnamed = upload_file(there.addr, "docs", "bob", None, log).await;
    assert_eq!(
        (unnamed.name.as_str(), unnamed.mime.as_str()),
        ("file", "text/plain")
    );
    let html = b"<html><script>alert(1)</script></html>";
    let (status, body) = upload(here.addr, "docs", "ann", Some("x.png"), "image/png", html).await;
    assert_eq!(status, 201, "{body}");
    let page: File = serde_json::from_str(&body).unwrap();
    assert_eq!(page.mime, "text/html");
    let (status, body) = upload(here.addr, "docs", "ann", Some("a.pdf"), "image/png", PNG).await;
    assert_eq!(status, 201, "{body}");
    let image: Image = serde_json::from_str(&body).unwrap();

    // Said with a file: the message carries what the server stored, not what the client
    // claimed, to every member.
    let claimed = File {
        name: "claimed.exe".into(),
        mime: "text/html".into(),
        bytes: 1,
        ..pdf.clone()
    };
    ann.send(&say("docs", "f1", None, Some(claimed))).await;
    let said = bob
        .until("the file", |e| matches!(e, ServerMsg::Said { .. }))
        .await;
    let (id, seq) = match &said {
        ServerMsg::Said {
            file: Some(got),
            image: None,
            id,
            seq,
            ..
        } if **got == pdf => (*id, *seq),
        other => panic!("expected the stored file, got {other:?}"),
    };
    ann.until(
        "the echo",
        |e| matches!(e, ServerMsg::Said { file: Some(got), .. } if **got == pdf),
    )
    .await;

    // An image named as a file, a file as an image, both at once, or a file the room does
    // not have: refused.
    let as_file = File {
        id: image.id.clone(),
        ..pdf.clone()
    };
    refused(&mut ann, say("docs", "f2", None, Some(as_file)), "f2").await;
    let as_image = Image {
        id: pdf.id.clone(),
        ..image.clone()
    };
    refused(&mut ann, say("docs", "f3", Some(as_image), None), "f3").await;
    refused(
        &mut ann,
        say("docs", "f4", Some(image), Some(pdf.clone())),
        "f4",
    )
    .await;
    refused(&mut ann, say("lobby", "f5", None, Some(pdf.clone())), "f5").await;

    // The download: the same bytes, as an attachment under the sanitised name, of a type
    // that cannot render, sandboxed; through the other node.
    let (status, head, bytes) = fetch(there.addr, "docs", pdf.id.as_str(), "bob").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(bytes, PDF);
    assert_eq!(
        header(&head, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"));
    assert!(
        header(&head, "content-security-policy").is_some_and(|csp| csp.contains("sandbox")),
        "{head}"
    );
    let disposition = header(&head, "content-disposition").unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let (_, encoded) = disposition
        .split_once("filename*=UTF-8''")
        .expect("a UTF-8 file name");
    assert_eq!(percent_decoded(encoded), SANITISED_NAME);
    assert!(disposition.is_ascii(), "{disposition}");
    // Text is downloaded the same way (never shown as a page).
    let (status, head, bytes) = fetch(here.addr, "docs", page.id.as_str(), "ann").await;
    assert_eq!((status, bytes.as_slice()), (200, html.as_slice()), "{head}");
    assert_eq!(
        header(&head, "content-type"),
        Some("application/octet-stream")
    );

    // Who may not read the room may not download; nor through a room without it.
    let _carol = there.chat_as("carol", &["lobby"]).await;
    let (status, head, _) = fetch(there.addr, "docs", pdf.id.as_str(), "carol").await;
    assert_eq!(status, 403, "{head}");
    let (status, head, _) = fetch(here.addr, "lobby", pdf.id.as_str(), "carol").await;
    assert_eq!(status, 404, "{head}");

    // Back after a while away (on the other node), Bob's catch-up has the file.
    drop(bob);
    ann.say("docs", "while you were away", "f6").await;
    ann.until(
        "the echo",
        |e| matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == "f6"),
    )
    .await;
    let mut bob = here.chat_socket().await;
    bob.send(&ClientMsg::Hello {
        nick: "bob".parse().unwrap(),
        token: token_for("bob"),
        rooms: vec!["docs".parse().unwrap()],
        since: [("docs".parse().unwrap(), seq - 1)].into(),
        epochs: Default::default(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    })
    .await;
    let history = bob
        .until(
            "the catch-up",
            |e| matches!(e, ServerMsg::History { room, .. } if room.as_str() == "docs"),
        )
        .await;
    let ServerMsg::History { mode, messages, .. } = history else {
        unreachable!()
    };
    assert_eq!(mode, HistoryMode::CatchUp);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[0].file.as_deref(), Some(&pdf));
    assert_eq!(messages[1].file, None);

    // Deleted, the message names its file no more (in a page read afterwards).
    ann.send(&ClientMsg::DeleteMessage {
        room: "docs".parse().unwrap(),
        id,
        client_id: "f7".parse().unwrap(),
    })
    .await;
    bob.until("the deletion", |e| matches!(e, ServerMsg::Changed { .. }))
        .await;
    bob.send(&ClientMsg::LoadAround {
        room: "docs".parse().unwrap(),
        seq,
    })
    .await;
    let page = bob
        .until("the page", |e| matches!(e, ServerMsg::History { .. }))
        .await;
    let ServerMsg::History { messages, .. } = page else {
        unreachable!()
    };
    let deleted = messages.iter().find(|m| m.id == id).unwrap();
    assert!(deleted.deleted && deleted.file.is_none(), "{deleted:?}");
}

/// A file a message names outlives the upload grace; one nobody sent goes after it.
async fn a_sent_file_stays_and_an_unsent_one_is_swept(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(600);
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| Config {
        upload_grace: grace,
        retention_interval: Duration::from_millis(100),
        ..c
    });
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &["notes"]).await;
    let _bob = there.chat_as("bob", &["notes"]).await;
    let sent = upload_file(here.addr, "notes", "ann", Some("kept.txt"), b"kept\n").await;
    let unsent = upload_file(there.addr, "notes", "ann", Some("gone.txt"), b"gone\n").await;
    ann.send(&say("notes", "s1", None, Some(sent.clone())))
        .await;
    ann.until(
        "the echo",
        |e| matches!(e, ServerMsg::Said { client_id, .. } if client_id.as_str() == "s1"),
    )
    .await;
    let object = |file: &File| dir.path().join("objects").join(file.id.as_str());
    common::eventually("the unsent file is gone", || async {
        !object(&unsent).exists()
    })
    .await;
    // Past another grace and several sweeps, the sent one is still there and served.
    tokio::time::sleep(grace * 2).await;
    assert!(object(&sent).exists());
    let (status, _, bytes) = fetch(there.addr, "notes", sent.id.as_str(), "bob").await;
    assert_eq!((status, bytes.as_slice()), (200, b"kept\n".as_slice()));
    let (status, _, _) = fetch(there.addr, "notes", unsent.id.as_str(), "bob").await;
    assert_eq!(status, 404);
}

common::in_both_modes!(
    a_file_is_shared_downloaded_and_caught_up,
    a_sent_file_stays_and_an_unsent_one_is_swept,
);
