//! Link previews (`--link-previews`) against a real loopback site of the test's own (a tiny
//! HTTP server on 127.0.0.1:0, the only port `--link-previews-allow-loopback` opens): title,
//! description and image (stored in our uploads and served by us), the preview as a `changed`
//! seen live and caught up exactly (both modes; in cluster mode the site is fetched once),
//! the image kept by the sweep of unused uploads while its message has the preview (both);
//! and the defences: redirects to other loopback ports, private and metadata addresses
//! refused, an endless body cut, a slow site timed out, too many redirects.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use backend::Config;
use common::{Chat, Mode, STEP, TestServer, eventually, http_get};
use shared::{
    Change, ClientMsg, HistoryMode, LinkPreview, MessageId, RoomMessage, RoomName, ServerMsg, paths,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::mpsc,
    time::Instant,
};

const ROOM: &str = "links";

fn room() -> RoomName {
    ROOM.parse().unwrap()
}

/// The smallest PNG: 1×1, one transparent pixel.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// The long description of `/page`: a right-to-left override and a bell to strip, and more
/// than the 300 characters kept.
fn long_description() -> String {
    format!("A \u{202E}described\u{7} page {}", "x".repeat(500))
}

/// What the site saw of a body it could not finish.
#[derive(Debug)]
enum Ended {
    /// `/endless`: the reader hung up after this many bytes.
    Endless(usize),
    /// `/slow`: the reader hung up this long after connecting.
    Slow(Duration),
}

/// The test's site on 127.0.0.1 (the one port the servers may fetch from), and an "internal
/// service" on another loopback port that no preview may reach.
struct Site {
    addr: SocketAddr,
    internal: SocketAddr,
    /// Paths requested of the site, in order.
    hits: Arc<Mutex<Vec<String>>>,
    /// Connections the internal service accepted.
    internal_hits: Arc<Mutex<usize>>,
    ended: mpsc::UnboundedReceiver<Ended>,
}

impl Site {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let internal = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, internal_addr) = (
            listener.local_addr().unwrap(),
            internal.local_addr().unwrap(),
        );
        let hits = Arc::new(Mutex::new(Vec::new()));
        let internal_hits = Arc::new(Mutex::new(0));
        let (tell, ended) = mpsc::unbounded_channel();
        let seen = Arc::clone(&hits);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, tell) = (Arc::clone(&seen), tell.clone());
                tokio::spawn(page(stream, addr, internal_addr, seen, tell));
            }
        });
        let counted = Arc::clone(&internal_hits);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = internal.accept().await {
                *counted.lock().unwrap() += 1;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 41\r\n\r\n<title>the internal admin page</title>..")
                    .await;
            }
        });
        Self {
            addr,
            internal: internal_addr,
            hits,
            internal_hits,
            ended,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits_of(&self, path: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    async fn ended(&mut self) -> Ended {
        // The slow site is cut at the server's 5 s page budget: wait past it.
        tokio::time::timeout(Duration::from_secs(15), self.ended.recv())
            .await
            .expect("the server hung up on the site in time")
            .unwrap()
    }
}

/// Serves one request of the site.
async fn page(
    mut stream: TcpStream,
    addr: SocketAddr,
    internal: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    ended: mpsc::UnboundedSender<Ended>,
) {
    let start = Instant::now();
    let mut head = Vec::new();
    let mut buffer = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        assert!(head.len() < 16 * 1024, "a request head this long");
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
    hits.lock().unwrap().push(path.clone());
    let html = |body: String| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    let redirect = |to: String| {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    };
    let response = match path.as_str() {
        "/page" => html(format!(
            "<!doctype html><html><head><title>not this one</title>\
             <meta property=\"og:title\" content=\"Test page &amp; more ✓\">\
             <meta property=\"og:description\" content=\"{}\">\
             <meta property=\"og:image\" content=\"/img.png\"></head><body>hi</body></html>",
            long_description()
        )),
        "/plain" => html(
            "<html><head><title>Plain\n  page</title>\
             <meta name=\"description\" content=\"plainly described\"></head></html>"
                .into(),
        ),
        "/untitled" => html(
            "<html><head><title> \u{202E} </title><meta name=\"description\" content=\"no title\"></head></html>"
                .into(),
        ),
        "/img.png" => {
            let mut response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                PNG.len()
            )
            .into_bytes();
            response.extend_from_slice(PNG);
            response
        }
        "/to-internal" => redirect(format!("http://{internal}/admin")),
        "/to-metadata" => redirect("http://169.254.169.254/latest/meta-data/".into()),
        "/to-private" => redirect(format!("http://10.0.0.1:{}/page", addr.port())),
        "/to-mapped" => redirect(format!(
            "http://[::ffff:127.0.0.1]:{}/admin",
            internal.port()
        )),
        "/hop" => redirect("/hop".into()),
        "/endless" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html><head><title>Endless</title></head><body>")
                .await;
            let chunk = [b'x'; 16 * 1024];
            let mut written = 0;
            // Until the reader hangs up (or a gigabyte: a reader that never stops fails).
            while written < 1 << 30 {
                if stream.write_all(&chunk).await.is_err() {
                    break;
                }
                written += chunk.len();
            }
            let _ = ended.send(Ended::Endless(written));
            return;
        }
        "/slow" => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<html><head><title>Slow")
                .await;
            // A byte every 100 ms, until the reader hangs up (at most a minute).
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if stream.write_all(b".").await.is_err() {
                    break;
                }
            }
            let _ = ended.send(Ended::Slow(start.elapsed()));
            return;
        }
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

/// A node with previews on, fetching from `site` only; with `redis`, two sharing Redis and
/// the uploads directory `dir`.
fn nodes(
    redis: Option<&common::Redis>,
    dir: &Path,
    site: &Site,
) -> (TestServer, Option<TestServer>) {
    let config = || Config {
        link_previews: true,
        link_previews_allow_loopback: Some(site.addr.port()),
        uploads_dir: Some(dir.to_owned()),
        ..common::patient_config(redis.map(common::Redis::url))
    };
    let here = TestServer::spawn(config());
    let there = redis.map(|_| TestServer::spawn(config()));
    (here, there)
}

async fn say(chat: &mut Chat, text: &str, client_id: &str) -> ServerMsg {
    chat.say(ROOM, text, client_id).await;
    let id: shared::ClientMsgId = client_id.parse().unwrap();
    chat.until(
        "said",
        |e| matches!(e, ServerMsg::Said { client_id, .. } if *client_id == id),
    )
    .await
}

fn id_of(event: &ServerMsg) -> MessageId {
    match event {
        ServerMsg::Said { id, .. } | ServerMsg::Changed { id, .. } => *id,
        other => panic!("no id: {other:?}"),
    }
}

fn seq_of(event: &ServerMsg) -> u64 {
    match event {
        ServerMsg::Said { seq, .. } | ServerMsg::Changed { seq, .. } => *seq,
        other => panic!("no seq: {other:?}"),
    }
}

/// Waits for the preview asked for by entry `source` (its `client_id` is `_preview-ID`).
async fn previewed(chat: &mut Chat, source: MessageId) -> (ServerMsg, LinkPreview) {
    let wanted: shared::ClientMsgId = format!("_preview-{}", source.0).parse().unwrap();
    let event = chat
        .until(
            "a preview",
            |e| matches!(e, ServerMsg::Changed { client_id, .. } if *client_id == wanted),
        )
        .await;
    match &event {
        ServerMsg::Changed {
            change: Change::Previewed { preview },
            ..
        } => {
            let preview = preview.clone();
            (event, *preview)
        }
        other => panic!("not a preview: {other:?}"),
    }
}

/// `ROOM`'s latest page as `chat` loads it.
async fn latest_page(chat: &mut Chat) -> (Vec<RoomMessage>, shared::Epoch) {
    chat.send(&ClientMsg::LoadOlder {
        room: room(),
        before: u64::MAX,
    })
    .await;
    match chat
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await
    {
        ServerMsg::History {
            messages, epoch, ..
        } => (messages, epoch),
        _ => unreachable!(),
    }
}

/// Reconnects `nick` with `since` in the room; returns the catch-up `history`.
async fn reconnect(server: &TestServer, nick: &str, since: u64, epoch: shared::Epoch) -> ServerMsg {
    let mut hello = common::hello(nick, &[ROOM]);
    if let ClientMsg::Hello {
        since: from,
        epochs,
        ..
    } = &mut hello
    {
        from.insert(room(), since);
        epochs.insert(room(), epoch);
    }
    let mut chat = server.chat_socket().await;
    chat.send(&hello).await;
    chat.until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await
}

/// One image from our server, as `nick`: (status, body).
async fn our_image(server: &TestServer, image: &shared::Image, nick: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET {}/{ROOM}/{} HTTP/1.1\r\nHost: {}\r\n{}: {}\r\nConnection: close\r\n\r\n",
        paths::API_UPLOADS,
        image.id,
        server.addr,
        paths::TOKEN_HEADER,
        common::token_for(nick).as_str()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut response))
        .await
        .expect("an answer in time")
        .unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&response[..split])
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    (status, response[split + 4..].to_vec())
}

/// `history` applied to what the client `known` (by id): what it shows afterwards.
fn shown(
    history: ServerMsg,
    mut known: BTreeMap<MessageId, RoomMessage>,
) -> BTreeMap<MessageId, RoomMessage> {
    let ServerMsg::History {
        messages,
        changes,
        mode,
        ..
    } = history
    else {
        panic!("not a history: {history:?}");
    };
    assert_eq!(mode, HistoryMode::CatchUp);
    for message in messages {
        known.insert(message.id, message);
    }
    for change in changes {
        if let Some(message) = known.get_mut(&change.target) {
            message.apply(&change.from, &change.change);
        }
    }
    known
}

async fn previews_arrive_as_changes_and_are_caught_up_exactly(mode: Mode) {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let redis = mode.into_redis();
    let (here, there) = nodes(redis.as_ref(), dir.path(), &site);
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &[ROOM]).await;
    let mut bob = there.chat_as("bob", &[ROOM]).await;

    // A message with a link (the text's first: the mailto is not fetched, the code span is
    // not a link): both see it, then its preview as a change.
    let text = format!(
        "mailto:a@b.example `http://x.example` see {}.",
        site.url("/page")
    );
    let said = say(&mut ann, &text, "a1").await;
    let first = id_of(&said);
    bob.until("ann's message", |e| *e == said).await;
    let (live, preview) = previewed(&mut ann, first).await;
    assert_eq!(previewed(&mut bob, first).await.0, live, "bob sees it too");
    let ServerMsg::Changed { target, from, .. } = &live else {
        unreachable!()
    };
    assert_eq!((*target, from.as_str()), (first, "ann"));
    assert_eq!(preview.url, site.url("/page"));
    assert_eq!(preview.title, "Test page & more ✓");
    // Cut to 300 characters, the override and the bell gone.
    assert_eq!(
        preview.description.chars().count(),
        LinkPreview::MAX_DESCRIPTION_CHARS
    );
    assert!(
        preview.description.starts_with("A described page xxx"),
        "{}",
        preview.description
    );
    assert!(preview.description.ends_with('…'));
    // The image is ours: stored in the room's uploads, served by either node, not linked.
    let image = preview.image.clone().expect("the page's image");
    assert_eq!(
        (image.mime, image.width, image.height),
        (shared::ImageType::Png, 1, 1)
    );
    assert_eq!(our_image(there, &image, "bob").await, (200, PNG.to_vec()));
    assert_eq!(site.hits_of("/img.png"), 1);
    // A fresh page shows it with the message.
    let (page, epoch) = latest_page(&mut bob).await;
    let on_page = page.iter().find(|m| m.id == first).unwrap();
    assert_eq!(on_page.preview.as_deref(), Some(&preview));

    // Bob goes; meanwhile ann edits the link: the preview goes with the old text, and the
    // edited text's link is previewed afresh (its <title>, its meta description).
    let since = seq_of(&live);
    let mut had = said.clone().into_room_message().unwrap().1;
    if let ServerMsg::Changed { from, change, .. } = &live {
        had.apply(from, change);
    }
    drop(bob);
    let edit = ClientMsg::Edit {
        room: room(),
        id: first,
        text: format!("now {}", site.url("/plain"))
            .as_str()
            .try_into()
            .unwrap(),
        client_id: "a2".parse().unwrap(),
    };
    ann.send(&edit).await;
    let edited = ann
        .until("the edit", |e| {
            matches!(
                e,
                ServerMsg::Changed {
                    change: Change::Edited { .. },
                    ..
                }
            )
        })
        .await;
    let (again, plain) = previewed(&mut ann, id_of(&edited)).await;
    assert_eq!(
        (
            plain.title.as_str(),
            plain.description.as_str(),
            plain.image.is_none()
        ),
        ("Plain page", "plainly described", true)
    );
    // A message without a link asks for nothing; one more with a link, to end the round.
    let quiet = say(&mut ann, "no link here", "a3").await;
    let last = say(&mut ann, &site.url("/plain"), "a4").await;
    let (last_preview, _) = previewed(&mut ann, id_of(&last)).await;

    // Bob's catch-up is exactly what he missed, and shows what a fresh page shows.
    let history = reconnect(there, "bob", since, epoch).await;
    let ServerMsg::History {
        messages, changes, ..
    } = &history
    else {
        unreachable!()
    };
    let mut seqs: Vec<u64> = messages
        .iter()
        .map(|m| m.seq)
        .chain(changes.iter().map(|c| c.seq))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (since + 1..=seq_of(&last_preview)).collect::<Vec<_>>()
    );
    assert!(changes.iter().any(|c| c.seq == seq_of(&again)));
    let view = shown(history, BTreeMap::from([(first, had)]));
    let (fresh, _) = latest_page(&mut ann).await;
    for message in &fresh {
        assert_eq!(view.get(&message.id), Some(message), "caught up exactly");
    }
    let fresh_first = fresh.iter().find(|m| m.id == first).unwrap();
    assert_eq!(fresh_first.preview.as_deref(), Some(&plain));
    assert_eq!(
        fresh
            .iter()
            .find(|m| m.id == id_of(&quiet))
            .unwrap()
            .preview,
        None
    );
    // Each page was fetched once: in cluster mode by the node that took the message only.
    assert_eq!((site.hits_of("/page"), site.hits_of("/plain")), (1, 2));

    // A deleted message has no preview, and a catch-up no longer tells what it said.
    ann.send(&ClientMsg::DeleteMessage {
        room: room(),
        id: first,
        client_id: "a5".parse().unwrap(),
    })
    .await;
    ann.until("the deletion", |e| {
        matches!(
            e,
            ServerMsg::Changed {
                change: Change::Deleted,
                ..
            }
        )
    })
    .await;
    let (page, _) = latest_page(&mut ann).await;
    assert_eq!(page.iter().find(|m| m.id == first).unwrap().preview, None);
    // (From before the first preview: every change of the message since it was said.)
    let history = reconnect(there, "bob", seq_of(&said), epoch_of(&mut ann).await).await;
    let ServerMsg::History { changes, .. } = &history else {
        unreachable!()
    };
    // Both previews and the edit between them are listed as what they came to: the deletion.
    let of_first: Vec<&Change> = changes
        .iter()
        .filter(|c| c.target == first)
        .map(|c| &c.change)
        .collect();
    assert_eq!(of_first.len(), 4, "{changes:?}");
    assert!(
        of_first.iter().all(|c| **c == Change::Deleted),
        "{changes:?}"
    );
}

async fn epoch_of(chat: &mut Chat) -> shared::Epoch {
    latest_page(chat).await.1
}

/// One HTTP exchange with our server: (status, body).
async fn exchange(server: &TestServer, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = common::binary_exchange(server.addr, head, body).await;
    (status, body)
}

/// A preview's image is one of the room's uploads the sweep keeps while its message has the
/// preview, and removes after the grace once the message is deleted (both engines name it).
async fn a_previews_image_is_kept_while_its_message_has_it(mode: Mode) {
    let site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let redis = mode.into_redis();
    let grace = Duration::from_millis(600);
    let config = || Config {
        link_previews: true,
        link_previews_allow_loopback: Some(site.addr.port()),
        uploads_dir: Some(dir.path().to_owned()),
        upload_grace: grace,
        retention_interval: Duration::from_millis(100),
        ..common::patient_config(redis.as_ref().map(common::Redis::url))
    };
    let here = TestServer::spawn(config());
    let there = redis.as_ref().map(|_| TestServer::spawn(config()));
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &[ROOM]).await;
    let _bob = there.chat_as("bob", &[ROOM]).await;
    let record = |id: &str| dir.path().join("rooms").join(ROOM).join(id);

    let said = say(&mut ann, &site.url("/page"), "a1").await;
    let (_, preview) = previewed(&mut ann, id_of(&said)).await;
    let image = preview.image.unwrap();
    // An upload nothing names, made now: once the sweep has taken it, a grace has passed
    // since the preview's image was stored, and sweeps ran.
    let (status, body) = exchange(
        &here,
        &format!(
            "POST {}?room={ROOM} HTTP/1.1\r\n{}: {}",
            paths::API_UPLOADS,
            paths::TOKEN_HEADER,
            common::token_for("ann").as_str()
        ),
        &[PNG, b"unused"].concat(),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let unused: shared::Image = serde_json::from_slice(&body).unwrap();
    eventually("the unused upload is swept", || async {
        !record(unused.id.as_str()).exists()
    })
    .await;
    tokio::time::sleep(grace).await;
    assert!(
        record(image.id.as_str()).exists(),
        "the preview's image was swept"
    );
    assert_eq!(our_image(there, &image, "bob").await, (200, PNG.to_vec()));

    // Deleted, the message names it no more: it goes after the grace.
    ann.send(&ClientMsg::DeleteMessage {
        room: room(),
        id: id_of(&said),
        client_id: "a2".parse().unwrap(),
    })
    .await;
    ann.until("the deletion", |e| {
        matches!(
            e,
            ServerMsg::Changed {
                change: Change::Deleted,
                ..
            }
        )
    })
    .await;
    eventually("the preview's image is swept", || async {
        !record(image.id.as_str()).exists()
    })
    .await;
}

common::in_both_modes!(
    previews_arrive_as_changes_and_are_caught_up_exactly,
    a_previews_image_is_kept_while_its_message_has_it
);

/// The value of `chat_link_previews_total{outcome}` on `server`.
async fn outcomes(server: &TestServer, outcome: &str) -> u64 {
    let (status, text) = http_get(server.addr, paths::METRICS).await;
    assert_eq!(status, 200);
    let series = format!("chat_link_previews_total{{outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |value| value.trim().parse().unwrap())
}

/// Says `link` and waits until the server counts one more preview with `outcome`.
async fn counted(server: &TestServer, chat: &mut Chat, link: &str, client_id: &str, outcome: &str) {
    let before = outcomes(server, outcome).await;
    say(chat, link, client_id).await;
    eventually(&format!("{link} counts as {outcome}"), || async {
        outcomes(server, outcome).await > before
    })
    .await;
}

#[actix_web::test]
async fn forged_requests_are_refused_and_bodies_and_time_are_capped() {
    let mut site = Site::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = nodes(None, dir.path(), &site);
    let mut ann = server.chat_as("ann", &[ROOM]).await;

    // Redirects off the allowed site: to the internal service on another loopback port (as
    // a name, too), to the cloud metadata address, to a private network, to IPv4-mapped
    // loopback. Each refused before connecting: the internal service never hears a thing.
    let internal = site.internal;
    for (i, link) in [
        site.url("/to-internal"),
        site.url("/to-metadata"),
        site.url("/to-private"),
        site.url("/to-mapped"),
        format!("http://{internal}/admin"),
        format!("http://localhost:{}/admin", internal.port()),
        // Loopback spelled as one number, and in hex: the URL parser reads both as 127.0.0.1.
        format!("http://2130706433:{}/admin", internal.port()),
        format!("http://0x7f.1:{}/admin", internal.port()),
    ]
    .iter()
    .enumerate()
    {
        counted(&server, &mut ann, link, &format!("r{i}"), "refused").await;
    }
    assert_eq!(*site.internal_hits.lock().unwrap(), 0);
    assert_eq!(site.hits_of("/admin"), 0);
    // A page without a title (this one's is a bidi control and spaces) makes no card.
    counted(
        &server,
        &mut ann,
        &site.url("/untitled"),
        "u1",
        "nothing_found",
    )
    .await;
    // Redirects are followed 3 times at most.
    counted(&server, &mut ann, &site.url("/hop"), "h1", "redirects").await;
    assert_eq!(site.hits_of("/hop"), 4);

    // An endless body is cut (the head was at its start: the preview is made).
    let endless = say(&mut ann, &site.url("/endless"), "e1").await;
    let (_, preview) = previewed(&mut ann, id_of(&endless)).await;
    assert_eq!(preview.title, "Endless");
    let Ended::Endless(written) = site.ended().await else {
        panic!("the endless page should end first")
    };
    // 512 KB read, and what the sockets' buffers hold besides; never the whole gigabyte.
    assert!(written < 32 << 20, "the server read {written} bytes");

    // A site that trickles is cut off at the page budget (5 s), with no preview.
    counted_slow(&server, &mut ann, &mut site).await;

    // Nothing refused, cut short or timed out became a preview; the next link still works.
    let fine = say(&mut ann, &site.url("/plain"), "f1").await;
    let mut previews = Vec::new();
    let wanted: shared::ClientMsgId = format!("_preview-{}", id_of(&fine).0).parse().unwrap();
    loop {
        let event = ann
            .until("a change", |e| matches!(e, ServerMsg::Changed { .. }))
            .await;
        let done = matches!(&event, ServerMsg::Changed { client_id, .. } if *client_id == wanted);
        previews.push(event);
        if done {
            break;
        }
    }
    assert_eq!(
        previews.len(),
        1,
        "only the last link's preview: {previews:?}"
    );
    let (page, _) = latest_page(&mut ann).await;
    let with_preview: Vec<MessageId> = page
        .iter()
        .filter(|m| m.preview.is_some())
        .map(|m| m.id)
        .collect();
    assert_eq!(with_preview, [id_of(&endless), id_of(&fine)]);
    // Those two are the previews counted as made (a moment after they went out).
    eventually("the two previews count as made", || async {
        outcomes(&server, "made").await == 2
    })
    .await;
}

/// `/slow`'s fetch is abandoned at the page budget.
async fn counted_slow(server: &TestServer, chat: &mut Chat, site: &mut Site) {
    let before = outcomes(server, "timed_out").await;
    say(chat, &site.url("/slow"), "s1").await;
    let Ended::Slow(after) = site.ended().await else {
        panic!("the slow page should end")
    };
    assert!(
        (Duration::from_millis(4500)..Duration::from_secs(9)).contains(&after),
        "hung up after {after:?}"
    );
    eventually("the slow site counts as timed out", || async {
        outcomes(server, "timed_out").await > before
    })
    .await;
}

#[actix_web::test]
async fn previews_are_off_by_default() {
    let site = Site::start().await;
    // The site may be fetched, but `--link-previews` is not given.
    let server = TestServer::spawn(Config {
        link_previews_allow_loopback: Some(site.addr.port()),
        ..common::patient_config(None)
    });
    let mut ann = server.chat_as("ann", &[ROOM]).await;
    say(&mut ann, &site.url("/plain"), "a1").await;
    // A preview of /plain comes within a few milliseconds when previews are on.
    ann.expect_silence(Duration::from_secs(1)).await;
    assert_eq!(site.hits_of("/plain"), 0);
}
