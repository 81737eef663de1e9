//! Image uploads over real sockets, in both modes (single node; two nodes sharing Redis and
//! an uploads directory, uploading through one and reading through the other): an image is
//! stored by its bytes, attached to a message with what the server knows of it, served with
//! safe headers to those who may read its room and to nobody else; every bad upload is
//! refused with a clear status and leaves nothing behind.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{net::SocketAddr, path::Path, time::Duration};

use backend::Config;
use common::{
    Mode, TestServer, binary_exchange, redis_server::RedisServer, stalled_request, token_for,
    token_header,
};
use shared::{ClientMsg, ErrorCode, Image, ImageType, ServerMsg, paths};

/// The smallest PNG: 1×1, one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// A 1×1 GIF.
const GIF: &[u8] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

async fn upload(
    addr: SocketAddr,
    room: &str,
    as_nick: Option<&str>,
    content_type: &str,
    bytes: &[u8],
) -> (u16, String) {
    let mut head = format!("POST {}?room={room} HTTP/1.1", paths::API_UPLOADS);
    if let Some(nick) = as_nick {
        head.push_str(&format!("\r\n{}", token_header(nick)));
    }
    head.push_str(&format!("\r\nContent-Type: {content_type}"));
    let (status, _, body) = binary_exchange(addr, &head, bytes).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn fetch(addr: SocketAddr, room: &str, id: &str, as_nick: &str) -> (u16, String, Vec<u8>) {
    let head = format!(
        "GET {}/{room}/{id} HTTP/1.1\r\n{}",
        paths::API_UPLOADS,
        token_header(as_nick)
    );
    binary_exchange(addr, &head, b"").await
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// Everything in `dir` (recursively), as paths relative to it.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

async fn uploads_are_checked_stored_and_served_to_readers_only(mode: Mode) {
    let redis = mode.into_redis();
    let shared_dir = tempfile::tempdir().unwrap();
    let config = || Config {
        uploads_dir: Some(shared_dir.path().to_owned()),
        max_upload_bytes: 1000,
        ..common::patient_config(redis.as_ref().map(common::Redis::url))
    };
    let here = TestServer::spawn(config());
    let there = redis.as_ref().map(|_| TestServer::spawn(config()));
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &["pics"]).await;
    let mut bob = there.chat_as("bob", &["pics"]).await;

    // Upload, then attach: the message carries what the server stored, not what the client
    // claimed.
    let (status, body) = upload(here.addr, "pics", Some("ann"), "image/png", PNG).await;
    assert_eq!(status, 201, "{body}");
    let image: Image = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (image.mime, image.width, image.height),
        (ImageType::Png, 1, 1)
    );
    assert_eq!(image.bytes, PNG.len() as u64);
    ann.send(&ClientMsg::Say {
        room: "pics".parse().unwrap(),
        text: "look".try_into().unwrap(),
        client_id: "a1".parse().unwrap(),
        reply_to: None,
        image: Some(Image {
            width: 9999,
            ..image.clone()
        }),
        file: None,
    })
    .await;
    let said = bob
        .until("the event", |e| matches!(e, ServerMsg::Said { .. }))
        .await;
    assert!(
        matches!(&said, ServerMsg::Said { image: Some(got), .. } if *got == image),
        "{said:?}"
    );

    // Served to a reader of the room (on the other node), with safe headers.
    let (status, head, bytes) = fetch(there.addr, "pics", image.id.as_str(), "bob").await;
    assert_eq!(status, 200, "{head}");
    assert_eq!(bytes, PNG);
    assert_eq!(header(&head, "content-type"), Some("image/png"));
    assert_eq!(header(&head, "x-content-type-options"), Some("nosniff"));
    assert_eq!(
        header(&head, "content-disposition"),
        Some("inline; filename=\"image.png\"")
    );
    assert!(header(&head, "cache-control").is_some_and(|c| c.contains("immutable")));
    // Its own policy: nothing in it runs, and no shared cache keeps it.
    assert_eq!(
        header(&head, "content-security-policy"),
        Some("default-src 'none'; sandbox")
    );
    assert!(header(&head, "cache-control").is_some_and(|c| c.starts_with("private")));
    // A page from a foreign origin cannot upload in a user's name.
    let foreign = "image/png\r\nOrigin: http://elsewhere.example";
    assert_eq!(
        upload(here.addr, "pics", Some("ann"), foreign, PNG).await.0,
        403
    );

    // A private room's image: its members only, and not through another room.
    ann.send(&ClientMsg::CreateRoom {
        room: "vault".parse().unwrap(),
        private: true,
        max_members: None,
    })
    .await;
    ann.until(
        "the event",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "vault"),
    )
    .await;
    let (status, body) = upload(here.addr, "vault", Some("ann"), "image/gif", GIF).await;
    assert_eq!(status, 201, "{body}");
    let secret: Image = serde_json::from_str(&body).unwrap();
    assert_eq!(
        fetch(here.addr, "vault", secret.id.as_str(), "ann").await.0,
        200
    );
    assert_eq!(
        fetch(there.addr, "vault", secret.id.as_str(), "bob")
            .await
            .0,
        403
    );
    assert_eq!(
        fetch(there.addr, "pics", secret.id.as_str(), "bob").await.0,
        404
    );
    assert_eq!(
        upload(there.addr, "vault", Some("bob"), "image/png", PNG)
            .await
            .0,
        403
    );
    assert_eq!(
        upload(here.addr, "pics", None, "image/png", PNG).await.0,
        401
    );
    // Invited, Bob may upload and read there; banned, neither.
    ann.send(&ClientMsg::Invite {
        room: "vault".parse().unwrap(),
        user: "bob".parse().unwrap(),
    })
    .await;
    bob.until("the invitation", |e| matches!(e, ServerMsg::Invited { .. }))
        .await;
    bob.send(&ClientMsg::Join {
        room: "vault".parse().unwrap(),
        since: None,
        epoch: None,
    })
    .await;
    bob.until(
        "joined",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "vault"),
    )
    .await;
    let (status, body) = upload(there.addr, "vault", Some("bob"), "image/png", PNG).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        fetch(there.addr, "vault", secret.id.as_str(), "bob")
            .await
            .0,
        200
    );
    ann.send(&ClientMsg::Ban {
        room: "vault".parse().unwrap(),
        user: "bob".parse().unwrap(),
    })
    .await;
    bob.until("being banned", |e| matches!(e, ServerMsg::Removed { .. }))
        .await;
    assert_eq!(
        upload(there.addr, "vault", Some("bob"), "image/png", PNG)
            .await
            .0,
        403
    );
    assert_eq!(
        fetch(there.addr, "vault", secret.id.as_str(), "bob")
            .await
            .0,
        403
    );

    // Bad uploads: refused, nothing stored.
    let before = files(shared_dir.path());
    // (Bytes that are not an image are a file: tests/files.rs.)
    let (status, body) = upload(here.addr, "pics", Some("ann"), "image/gif", PNG).await;
    assert_eq!(status, 415, "mislabelled: {body}");
    let (status, body) = upload(here.addr, "pics", Some("ann"), "image/png", b"").await;
    assert_eq!(status, 400, "nothing: {body}");
    let mut big = PNG.to_vec();
    big.resize(2000, 0);
    let (status, body) = upload(here.addr, "pics", Some("ann"), "image/png", &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(files(shared_dir.path()), before, "nothing stored");

    // A message naming an image its room does not have is refused, by client id.
    ann.send(&ClientMsg::Say {
        room: "pics".parse().unwrap(),
        text: "sneaky".try_into().unwrap(),
        client_id: "a2".parse().unwrap(),
        reply_to: None,
        image: Some(secret),
        file: None,
    })
    .await;
    let refused = ann
        .until("the event", |e| matches!(e, ServerMsg::Error { .. }))
        .await;
    assert!(
        matches!(&refused, ServerMsg::Error { code: ErrorCode::Invalid, client_id: Some(c), .. }
            if c.as_str() == "a2"),
        "{refused:?}"
    );
}

/// A node of the test's server: one, or with `redis` two sharing Redis and `dir`.
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

/// The head of an upload of `length` bytes to `room` as `nick` (if any).
fn upload_head(addr: SocketAddr, room: &str, nick: Option<&str>, length: usize) -> String {
    upload_head_framed(addr, room, nick, &format!("Content-Length: {length}"))
}

/// The head of an upload whose body is chunked (no length said).
fn chunked_upload_head(addr: SocketAddr, room: &str, nick: Option<&str>) -> String {
    upload_head_framed(addr, room, nick, "Transfer-Encoding: chunked")
}

fn upload_head_framed(addr: SocketAddr, room: &str, nick: Option<&str>, framing: &str) -> String {
    let who = nick
        .map(|nick| format!("{}\r\n", token_header(nick)))
        .unwrap_or_default();
    format!(
        "POST {}?room={room} HTTP/1.1\r\nHost: {addr}\r\n{who}Content-Type: image/png\r\n\
         {framing}\r\n\r\n",
        paths::API_UPLOADS
    )
}

/// The first chunk of a chunked body that never ends.
const FIRST_CHUNK: &[u8] = b"a\r\n0123456789\r\n";

/// The JSON error of a refusal.
fn error_of(body: &str) -> String {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("a JSON error, got {body:?}"));
    json["error"]
        .as_str()
        .unwrap_or_else(|| panic!("an error field in {body}"))
        .to_owned()
}

/// An upload whose body stalls (or trickles) is cut at `--body-timeout` with 408, its
/// connection closed.
#[actix_web::test]
async fn a_stalled_upload_is_cut_off_at_the_body_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let timeout = Duration::from_millis(500);
    let (here, _) = nodes(None, dir.path(), |c| Config {
        body_timeout: timeout,
        ..c
    });
    let _ann = here.chat_as("ann", &["pics"]).await;
    let head = upload_head(here.addr, "pics", Some("ann"), 1000);
    let answer = stalled_request(here.addr, &head, &PNG[..10]).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(
        error_of(&answer.body).contains("did not arrive"),
        "{answer:?}"
    );
    assert!(answer.after >= timeout, "{answer:?}");
    assert!(answer.closed, "{answer:?}");
    // A chunked body that stalls: the same (actix would drain it for as long as it came).
    let head = chunked_upload_head(here.addr, "pics", Some("ann"));
    let answer = stalled_request(here.addr, &head, FIRST_CHUNK).await;
    assert_eq!(answer.status, 408, "{answer:?}");
    assert!(answer.closed, "{answer:?}");
    assert!(files(dir.path()).is_empty(), "nothing stored");
    // A whole upload in time still works.
    let (status, body) = upload(here.addr, "pics", Some("ann"), "image/png", PNG).await;
    assert_eq!(status, 201, "{body}");
}

/// A distinct image of `len` bytes (at least the PNG's 67): the PNG with `fill` after its
/// end, which the type check ignores and the content address does not.
fn image(len: usize, fill: u8) -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.resize(len, fill);
    bytes
}

/// Who may not upload is told so from the headers alone: the body (here 5 MB announced, none
/// sent) is never waited for.
async fn refused_uploaders_are_answered_before_their_body(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    // A body timeout far beyond the test's wait: only an answer without the body passes.
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| Config {
        body_timeout: Duration::from_secs(120),
        ..c
    });
    let there = there.as_ref().unwrap_or(&here);
    let _ann = here.chat_as("ann", &["pics"]).await;
    let _eve = there.chat_as("eve", &[]).await;
    let length = 5_000_000;
    for (addr, room, nick, status) in [
        (here.addr, "pics", None, 401),
        // Connected, but not in the room.
        (there.addr, "pics", Some("eve"), 403),
        (here.addr, "pics", Some("eve"), 403),
        // Not connected at all.
        (here.addr, "pics", Some("mallory"), 403),
        // A member elsewhere, for a room nobody is in.
        (here.addr, "nowhere", Some("ann"), 403),
    ] {
        let answer = stalled_request(addr, &upload_head(addr, room, nick, length), b"").await;
        assert_eq!(answer.status, status, "{nick:?} to {room}: {answer:?}");
        assert!(!error_of(&answer.body).is_empty());
        assert!(answer.after < Duration::from_secs(2), "{answer:?}");
        // The unread body is not taken for the next request: the connection ends.
        assert!(answer.closed, "{answer:?}");
    }
    // A chunked body (no length said) that has begun and stalls: the same.
    let head = chunked_upload_head(there.addr, "pics", Some("eve"));
    let answer = stalled_request(there.addr, &head, FIRST_CHUNK).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert!(answer.after < Duration::from_secs(2), "{answer:?}");
    assert!(answer.closed, "{answer:?}");
}

/// Only someone in the room now may upload for it (through any node); nothing is stored,
/// and no directory made, for a room that does not exist.
async fn only_members_of_a_room_upload_for_it(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| c);
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &["pics"]).await;
    let _eve = here.chat_as("eve", &[]).await;

    // A member, through the node her socket is on and through the other.
    let (status, body) = upload(here.addr, "pics", Some("ann"), "image/png", PNG).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = upload(there.addr, "pics", Some("ann"), "image/gif", GIF).await;
    assert_eq!(status, 201, "{body}");
    // Someone connected but not in the room, someone not connected at all: 403.
    for (nick, addr) in [
        ("eve", here.addr),
        ("eve", there.addr),
        ("mallory", here.addr),
    ] {
        let (status, body) = upload(addr, "pics", Some(nick), "image/png", &image(90, 7)).await;
        assert_eq!(status, 403, "{nick}: {body}");
        assert!(error_of(&body).contains("join pics first"), "{body}");
    }
    // Any name for a room nobody is in: refused, and no directory for it.
    for room in ["ghost", "ghost2"] {
        let (status, body) = upload(there.addr, room, Some("ann"), "image/png", PNG).await;
        assert_eq!(status, 403, "{body}");
    }
    assert!(!dir.path().join("rooms").join("ghost").exists());
    assert!(!dir.path().join("rooms").join("ghost2").exists());
    // Once she has left the room, she may not either.
    ann.send(&ClientMsg::Leave {
        room: "pics".parse().unwrap(),
    })
    .await;
    common::eventually("ann's leave is seen by both nodes", || async {
        upload(there.addr, "pics", Some("ann"), "image/png", PNG)
            .await
            .0
            == 403
            && upload(here.addr, "pics", Some("ann"), "image/png", PNG)
                .await
                .0
                == 403
    })
    .await;
}

/// An upload to `pics` as `nick` with `headers` (each ending in `\r\n`): (status, head, body).
async fn upload_with(
    addr: SocketAddr,
    nick: &str,
    headers: &str,
    bytes: &[u8],
) -> (u16, String, String) {
    let head = format!(
        "POST {}?room=pics HTTP/1.1\r\n{headers}{}\r\nContent-Type: image/png",
        paths::API_UPLOADS,
        token_header(nick)
    );
    let (status, head, body) = binary_exchange(addr, &head, bytes).await;
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// An upload in progress holds one of its address's `--max-connections-per-ip`, and gives
/// it back when it ends (here: cut at the body timeout).
#[actix_web::test]
async fn an_upload_in_progress_holds_one_of_its_address_slots() {
    let dir = tempfile::tempdir().unwrap();
    let (here, _) = nodes(None, dir.path(), |c| Config {
        max_connections_per_ip: 2,
        body_timeout: Duration::from_millis(500),
        ..c
    });
    let addr = here.addr;
    // The chat socket holds one of the address's two slots.
    let _ann = here.chat_as("ann", &["pics"]).await;
    // A stalled upload holds the other: another upload meanwhile is refused.
    let stalled = tokio::spawn(async move {
        stalled_request(addr, &upload_head(addr, "pics", Some("ann"), 1000), b"").await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, head, body) = upload_with(addr, "ann", "", PNG).await;
    assert_eq!(status, 429, "{head} {body}");
    assert!(error_of(&body).contains("too many connections"), "{body}");
    assert!(header(&head, "retry-after").is_some(), "{head}");
    // Cut at the body timeout, it gives its slot back.
    assert_eq!(stalled.await.unwrap().status, 408);
    let (status, _, body) = upload_with(addr, "ann", "", PNG).await;
    assert_eq!(status, 201, "{body}");
}

/// One address may start `--max-uploads-per-ip` uploads a minute; more get 429 with
/// `Retry-After` (one upload's share of the minute), and other addresses are not affected.
#[actix_web::test]
async fn uploads_are_paced_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let (here, _) = nodes(None, dir.path(), |c| Config {
        max_uploads_per_ip: 3,
        // So that a test client can be another address (X-Forwarded-For).
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..c
    });
    let addr = here.addr;
    let _ann = here.chat_as("ann", &["pics"]).await;
    for fill in 1..=3 {
        let (status, _, body) = upload_with(addr, "ann", "", &image(100, fill)).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, head, body) = upload_with(addr, "ann", "", &image(100, 4)).await;
    assert_eq!(status, 429, "{head} {body}");
    assert!(error_of(&body).contains("too many uploads"), "{body}");
    assert_eq!(header(&head, "retry-after"), Some("20"), "{head}");
    let elsewhere = "X-Forwarded-For: 203.0.113.9\r\n";
    let (status, _, body) = upload_with(addr, "ann", elsewhere, &image(100, 4)).await;
    assert_eq!(status, 201, "another address: {body}");
}

/// Each user may upload `--upload-quota` bytes per UTC day, counted across the nodes of a
/// cluster: past it, 429 with `Retry-After` (until midnight UTC); a declared length over it is
/// refused before the body is read.
async fn a_user_uploads_at_most_the_daily_quota(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| Config {
        upload_quota: 300,
        body_timeout: Duration::from_secs(120),
        ..c
    });
    let there = there.as_ref().unwrap_or(&here);
    let _ann = here.chat_as("ann", &["pics"]).await;
    let _bob = there.chat_as("bob", &["pics"]).await;
    // 200 + 100 bytes fit Ann's 300, through either node; 67 more do not.
    let (status, _, body) = upload_with(here.addr, "ann", "", &image(200, 1)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = upload_with(there.addr, "ann", "", &image(100, 2)).await;
    assert_eq!(status, 201, "{body}");
    let (status, head, body) = upload_with(there.addr, "ann", "", PNG).await;
    assert_eq!(status, 429, "{head} {body}");
    assert!(error_of(&body).contains("300 bytes a day"), "{body}");
    let retry: u64 = header(&head, "retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "until midnight UTC: {retry}");
    // Bob's quota is his own; an announced length over it is refused unread.
    let head = upload_head(here.addr, "pics", Some("bob"), 301);
    let answer = stalled_request(here.addr, &head, b"").await;
    assert_eq!(answer.status, 429, "{answer:?}");
    let (status, _, body) = upload_with(here.addr, "bob", "", &image(300, 3)).await;
    assert_eq!(status, 201, "{body}");
}

/// All images together take at most `--max-uploads-total` bytes, counted across the nodes of
/// a cluster: new bytes past it get 507 (a declared length past it, before the body is read),
/// while the same bytes again take no space.
async fn the_images_take_at_most_the_total(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| Config {
        max_uploads_total: 500,
        body_timeout: Duration::from_secs(120),
        ..c
    });
    let there = there.as_ref().unwrap_or(&here);
    let _ann = here.chat_as("ann", &["pics"]).await;
    let _bob = there.chat_as("bob", &["pics"]).await;
    let (status, _, body) = upload_with(here.addr, "ann", "", &image(200, 1)).await;
    assert_eq!(status, 201, "{body}");
    // The same bytes again take no space (else Bob's 300 new ones would not fit after them).
    let (status, _, body) = upload_with(there.addr, "bob", "", &image(200, 1)).await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = upload_with(there.addr, "bob", "", &image(300, 2)).await;
    assert_eq!(status, 201, "{body}");
    // 500 of 500: 67 new bytes do not fit, through either node.
    for addr in [here.addr, there.addr] {
        let (status, _, body) = upload_with(addr, "ann", "", PNG).await;
        assert_eq!(status, 507, "{body}");
        assert!(error_of(&body).contains("no room"), "{body}");
    }
    let head = upload_head(there.addr, "pics", Some("bob"), 100);
    let answer = stalled_request(there.addr, &head, b"").await;
    assert_eq!(answer.status, 507, "{answer:?}");
    let objects = files(dir.path());
    assert_eq!(
        objects.iter().filter(|f| f.starts_with("objects")).count(),
        2,
        "{objects:?}"
    );
}

/// Says `text` in `room` with the image `image` (an upload's answer).
async fn say_with(chat: &mut common::Chat, room: &str, client_id: &str, image: &Image) {
    chat.send(&ClientMsg::Say {
        room: room.parse().unwrap(),
        text: "look".try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to: None,
        image: Some(image.clone()),
        file: None,
    })
    .await;
    chat.until(
        "the acknowledgement",
        |e| matches!(e, ServerMsg::Said { client_id: c, .. } if c.as_str() == client_id),
    )
    .await;
}

async fn upload_image(addr: SocketAddr, room: &str, nick: &str, bytes: &[u8]) -> Image {
    let (status, body) = upload(addr, room, Some(nick), "image/png", bytes).await;
    assert_eq!(status, 201, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The paths of `image`'s bytes and of `room`'s record of it, under `dir`.
fn stored(dir: &Path, room: &str, image: &Image) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        dir.join("objects").join(image.id.as_str()),
        dir.join("rooms").join(room).join(image.id.as_str()),
    )
}

/// Uploads no stored message names are removed after `--upload-grace`: a room's record of
/// an image, and the bytes once no room has a record (an image shared by two rooms stays
/// while one of them uses it); what messages name stays, and is served.
async fn unused_uploads_are_swept_after_the_grace(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(600);
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| Config {
        upload_grace: grace,
        retention_interval: Duration::from_millis(100),
        ..c
    });
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &["pics", "other"]).await;
    let _bob = there.chat_as("bob", &["pics", "other"]).await;
    let gone = |room: &str, image: &Image| {
        let (object, record) = stored(dir.path(), room, image);
        !object.exists() && !record.exists()
    };

    let used = upload_image(here.addr, "pics", "ann", &image(80, 1)).await;
    let unused = upload_image(there.addr, "pics", "ann", &image(81, 2)).await;
    let shared = upload_image(here.addr, "pics", "ann", &image(82, 3)).await;
    let again = upload_image(there.addr, "other", "ann", &image(82, 3)).await;
    assert_eq!(again, shared);
    // Used a while after the upload, within the grace.
    tokio::time::sleep(grace / 2).await;
    say_with(&mut ann, "pics", "u1", &used).await;
    say_with(&mut ann, "other", "s1", &shared).await;

    common::eventually("the unused upload is gone", || async {
        gone("pics", &unused)
    })
    .await;
    common::eventually("pics' record of the shared image is gone", || async {
        !stored(dir.path(), "pics", &shared).1.exists()
    })
    .await;
    // Past another grace and several sweeps, what messages name is still there and served.
    tokio::time::sleep(grace * 2).await;
    let (object, record) = stored(dir.path(), "other", &shared);
    assert!(object.exists() && record.exists());
    let (object, record) = stored(dir.path(), "pics", &used);
    assert!(object.exists() && record.exists());
    for (room, image, status) in [
        ("other", &shared, 200),
        ("pics", &shared, 404),
        ("pics", &used, 200),
        ("pics", &unused, 404),
    ] {
        let (got, head, _) = fetch(there.addr, room, image.id.as_str(), "bob").await;
        assert_eq!(got, status, "{room}: {head}");
    }
    // A say naming the removed image is refused.
    ann.send(&ClientMsg::Say {
        room: "pics".parse().unwrap(),
        text: "late".try_into().unwrap(),
        client_id: "late".parse().unwrap(),
        reply_to: None,
        image: Some(unused),
        file: None,
    })
    .await;
    let refused = ann
        .until("the refusal", |e| matches!(e, ServerMsg::Error { .. }))
        .await;
    assert!(
        matches!(
            &refused,
            ServerMsg::Error {
                code: ErrorCode::Invalid,
                ..
            }
        ),
        "{refused:?}"
    );
}

/// An image whose message retention removed goes at the next sweep; its bytes stay while
/// another room's message names them.
async fn an_image_goes_with_the_message_retention_removed(mode: Mode) {
    let redis = mode.into_redis();
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(600);
    let (here, there) = nodes(redis.as_ref(), dir.path(), |c| Config {
        upload_grace: grace,
        retention_interval: Duration::from_millis(100),
        // Retention keeps the last 3 messages of each room.
        retention_messages: Some(3),
        ..c
    });
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &["pics", "other"]).await;
    let _bob = there.chat_as("bob", &["pics", "other"]).await;
    let used = upload_image(here.addr, "pics", "ann", &image(80, 1)).await;
    let shared = upload_image(there.addr, "pics", "ann", &image(82, 3)).await;
    assert_eq!(
        upload_image(here.addr, "other", "ann", &image(82, 3)).await,
        shared
    );
    say_with(&mut ann, "pics", "u1", &used).await;
    say_with(&mut ann, "pics", "s1", &shared).await;
    say_with(&mut ann, "other", "s2", &shared).await;
    // Past the grace, named by messages: kept.
    tokio::time::sleep(grace * 2).await;
    assert_eq!(
        fetch(there.addr, "pics", used.id.as_str(), "bob").await.0,
        200
    );
    assert_eq!(
        fetch(there.addr, "pics", shared.id.as_str(), "bob").await.0,
        200
    );

    // Three more messages push both images' messages out of pics.
    for i in 0..3 {
        ann.say("pics", &format!("more {i}"), &format!("m{i}"))
            .await;
    }
    common::eventually(
        "the images whose messages retention removed are gone",
        || async {
            let (object, record) = stored(dir.path(), "pics", &used);
            !object.exists() && !record.exists() && !stored(dir.path(), "pics", &shared).1.exists()
        },
    )
    .await;
    assert_eq!(
        fetch(there.addr, "pics", used.id.as_str(), "bob").await.0,
        404
    );
    assert_eq!(
        fetch(there.addr, "pics", shared.id.as_str(), "bob").await.0,
        404
    );
    // The other room still names the shared bytes.
    assert!(stored(dir.path(), "other", &shared).0.exists());
    assert_eq!(
        fetch(there.addr, "other", shared.id.as_str(), "bob")
            .await
            .0,
        200
    );
}

/// Messages stored in Redis before the send script kept each room's index of images (an
/// older version's logs) keep their images all the same: the sweep reads them into the index
/// first.
#[actix_web::test]
async fn cluster_images_of_messages_older_than_the_index_are_kept() {
    let redis = common::Redis::One(RedisServer::start().await);
    let dir = tempfile::tempdir().unwrap();
    let grace = Duration::from_millis(300);
    let (here, _there) = nodes(Some(&redis), dir.path(), |c| Config {
        upload_grace: grace,
        retention_interval: Duration::from_millis(100),
        ..c
    });
    let mut ann = here.chat_as("ann", &["pics"]).await;
    let used = upload_image(here.addr, "pics", "ann", &image(80, 1)).await;
    say_with(&mut ann, "pics", "u1", &used).await;
    // What an older version left: the log, without the index.
    redis.cmd(&["DEL", "chat:{r:pics}:images"]);
    tokio::time::sleep(grace * 4).await;
    let (object, record) = stored(dir.path(), "pics", &used);
    assert!(object.exists() && record.exists());
    assert_eq!(
        fetch(here.addr, "pics", used.id.as_str(), "ann").await.0,
        200
    );
    assert_eq!(
        redis.cmd(&["HGET", "chat:{r:pics}:images", "1"]),
        redis::Value::BulkString(used.id.as_str().as_bytes().to_vec())
    );
}

/// Accounts mode: the uploader is named by the session cookie, as on the socket; a browser
/// token header names nobody there, and no cookie is 401.
#[actix_web::test]
async fn with_accounts_the_session_cookie_names_the_uploader() {
    let server = TestServer::spawn(Config {
        auth: shared::auth::AuthMode::Accounts,
        ..common::patient_config(None)
    });
    let credentials = r#"{"name":"cora","password":"a long password"}"#;
    let (status, head, body) =
        common::post_json(server.addr, paths::API_REGISTER, credentials, None).await;
    assert_eq!(status, 201, "{body}");
    let cookie = common::set_cookie(&head).unwrap();
    let mut chat = server.chat_socket_with_cookie(Some(&cookie)).await;
    chat.identify("cora", token_for("cora"), &["pics"], None)
        .await;
    let post = |extra: String| {
        format!(
            "POST {}?room=pics HTTP/1.1\r\n{extra}Content-Type: image/png",
            paths::API_UPLOADS
        )
    };
    let with_cookie = post(format!("Cookie: {}={cookie}\r\n", paths::SESSION_COOKIE));
    let (status, _, body) = binary_exchange(server.addr, &with_cookie, PNG).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let with_token = post(format!("{}\r\n", token_header("cora")));
    assert_eq!(binary_exchange(server.addr, &with_token, PNG).await.0, 401);
    assert_eq!(
        binary_exchange(server.addr, &post(String::new()), PNG)
            .await
            .0,
        401
    );
}

/// JWT mode: the uploader is named by `Authorization: Bearer` with a valid token, as on the
/// socket; an expired or foreign-signed token, a browser token header, or nothing is 401.
#[actix_web::test]
async fn with_jwt_a_bearer_token_names_the_uploader() {
    use jsonwebtoken::{EncodingKey, Header};
    let secret = "an upload test secret of at least thirty-two bytes";
    let key = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(key.path(), secret).unwrap();
    let server = TestServer::spawn(Config {
        auth: shared::auth::AuthMode::Jwt,
        jwt_secret_file: Some(key.path().to_owned()),
        ..common::patient_config(None)
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sign = |exp: i64, secret: &str| {
        let claims = serde_json::json!({ "sub": "u-cora", "name": "cora", "exp": now + exp });
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let jwt = sign(3600, secret);
    let mut chat = server.chat_socket().await;
    chat.identify("cora", token_for("cora"), &["pics"], Some(jwt.clone()))
        .await;
    let post = |extra: String| {
        format!(
            "POST {}?room=pics HTTP/1.1\r\n{extra}Content-Type: image/png",
            paths::API_UPLOADS
        )
    };
    let bearer = |token: &str| post(format!("Authorization: Bearer {token}\r\n"));
    let (status, _, body) = binary_exchange(server.addr, &bearer(&jwt), PNG).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    // Past `exp` by more than the verifier's leeway, and signed with another key.
    for refused in [
        sign(-600, secret),
        sign(3600, &format!("{secret}, not ours")),
    ] {
        assert_eq!(
            binary_exchange(server.addr, &bearer(&refused), PNG).await.0,
            401
        );
    }
    let with_token = post(format!("{}\r\n", token_header("cora")));
    assert_eq!(binary_exchange(server.addr, &with_token, PNG).await.0, 401);
    assert_eq!(
        binary_exchange(server.addr, &post(String::new()), PNG)
            .await
            .0,
        401
    );
    drop(chat);
}

common::in_both_modes!(
    uploads_are_checked_stored_and_served_to_readers_only,
    refused_uploaders_are_answered_before_their_body,
    only_members_of_a_room_upload_for_it,
    a_user_uploads_at_most_the_daily_quota,
    the_images_take_at_most_the_total,
    unused_uploads_are_swept_after_the_grace,
    an_image_goes_with_the_message_retention_removed,
);
