//! Web Push end to end without the Internet (issue #29), in both modes: a push receiver on
//! loopback, written here, stands in for a browser's push service. It checks what a real
//! one would (the VAPID JWT against the key the server announces) and what the browser
//! would (it decrypts each payload with the subscription's private key): a direct message
//! to someone away is pushed once per conversation and minute, says nothing with private
//! previews, is not pushed to someone with a tab open; a 410 removes the subscription; a
//! push service that never answers leaves online users' messages as quick as before; the
//! server sends to no push service it was not told of.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    net::{SocketAddr, TcpListener},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use common::{Chat, Mode, TestServer, departed, eventually, http_exchange, within};
use shared::{
    ClientMsg, ServerMsg, paths,
    push::{Notice, ServerKey},
};
use tokio::sync::mpsc;
use web_push_native::p256::{SecretKey, elliptic_curve::sec1::ToEncodedPoint as _};

/// A push as the receiver got it.
#[derive(Debug)]
struct Pushed {
    /// The subscription's path (`/NAME`).
    path: String,
    authorization: String,
    encoding: String,
    ttl: Option<String>,
    topic: Option<String>,
    body: Vec<u8>,
}

/// The push service on loopback: answers 201, except `/gone-*` (410, as for an expired
/// subscription) and `/stall-*` (never).
struct Receiver {
    addr: SocketAddr,
    pushes: mpsc::UnboundedReceiver<Pushed>,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    pushes: web::Data<mpsc::UnboundedSender<Pushed>>,
) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let path = req.path().to_owned();
    let _ = pushes.send(Pushed {
        path: path.clone(),
        authorization: header("authorization").unwrap_or_default(),
        encoding: header("content-encoding").unwrap_or_default(),
        ttl: header("ttl"),
        topic: header("topic"),
        body: body.to_vec(),
    });
    if path.starts_with("/gone") {
        return HttpResponse::Gone().finish();
    }
    if path.starts_with("/stall") {
        std::future::pending::<()>().await;
    }
    HttpResponse::Created().finish()
}

impl Receiver {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (sender, pushes) = mpsc::unbounded_channel();
        let sender = web::Data::new(sender);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(sender.clone())
                .default_service(web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        actix_web::rt::spawn(server);
        Self { addr, pushes }
    }

    fn endpoint(&self, name: &str) -> String {
        format!("http://{}/{name}", self.addr)
    }

    /// The next push (within a step).
    async fn next(&mut self) -> Pushed {
        within(self.pushes.recv()).await.unwrap()
    }
}

/// A browser's subscription keys: its P-256 key pair and its authentication secret.
struct Browser {
    secret: SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Self {
        let secret = loop {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).unwrap();
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                break secret;
            }
        };
        let mut auth = [0u8; 16];
        getrandom::fill(&mut auth).unwrap();
        Self { secret, auth }
    }

    /// `POST /api/push`'s body for `endpoint`.
    fn subscription(&self, endpoint: &str, private: bool) -> String {
        let public = self.secret.public_key().to_encoded_point(false);
        serde_json::json!({
            "endpoint": endpoint,
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(public.as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(self.auth),
            },
            "private": private,
        })
        .to_string()
    }

    /// What the push says, decrypted as the browser would.
    fn read(&self, pushed: &Pushed) -> Notice {
        assert_eq!(pushed.encoding, "aes128gcm");
        let auth = web_push_native::Auth::clone_from_slice(&self.auth);
        let plain = web_push_native::decrypt(pushed.body.clone(), &self.secret, &auth)
            .expect("the payload decrypts with the subscription's keys");
        serde_json::from_slice(&plain).unwrap()
    }
}

/// `/api/push` as the user with the browser token of `nick` (open mode): (status, body).
async fn api(server: &TestServer, method: &str, nick: &str, body: &str) -> (u16, String) {
    let request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{}: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        paths::API_PUSH,
        server.addr,
        paths::TOKEN_HEADER,
        common::token_for(nick).as_str(),
        body.len()
    );
    let (status, _, body) = http_exchange(server.addr, &request).await;
    (status, body)
}

async fn server_key(server: &TestServer, nick: &str) -> ServerKey {
    let (status, body) = api(server, "GET", nick, "").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Checks the VAPID signature of `pushed` as a push service does (RFC 8292): the JWT is
/// ES256 under the key `k=`, which is the server's, for the receiver's origin, not expired,
/// naming a contact.
fn check_vapid(pushed: &Pushed, server_key: &str, origin: &str) {
    let (token, key) = pushed
        .authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .unwrap_or_else(|| panic!("not a VAPID authorization: {:?}", pushed.authorization));
    assert_eq!(key, server_key, "signed with the key the server announces");
    let point = URL_SAFE_NO_PAD.decode(key).unwrap();
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        &URL_SAFE_NO_PAD.encode(&point[1..33]),
        &URL_SAFE_NO_PAD.encode(&point[33..65]),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
        .expect("a valid VAPID JWT")
        .claims;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exp = claims["exp"].as_u64().unwrap();
    assert!(
        exp > now && exp <= now + 24 * 3600,
        "RFC 8292: at most 24 hours"
    );
    assert!(claims["sub"].as_str().unwrap().starts_with("mailto:"));
    assert!(pushed.ttl.is_some(), "a TTL");
}

/// Connects as `nick` and leaves at once (seen leaving by `watcher`): the name now reaches
/// them while they are away.
async fn visit(server: &TestServer, nick: &str, watcher: &mut Chat) {
    let chat = server.chat_as(nick, &[]).await;
    drop(chat);
    watcher
        .until("the visit's end", |e| departed(e, nick))
        .await;
}

/// Sends a direct message and waits for the sender's own copy (it is stored).
async fn direct(chat: &mut Chat, to: &str, text: &str, client_id: &str) {
    chat.send(&ClientMsg::Direct {
        to: to.parse().unwrap(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
    })
    .await;
    chat.until(
        "the direct's copy",
        |e| matches!(e, ServerMsg::Direct { client_id: c, .. } if c.as_str() == client_id),
    )
    .await;
}

/// The median time of `rounds` room messages from `from` until `to` has them.
async fn latency(from: &mut Chat, to: &mut Chat, rounds: usize, tag: &str) -> Duration {
    let mut times = Vec::new();
    for i in 0..rounds {
        let text = format!("{tag} {i}");
        let started = Instant::now();
        from.say("lobby", &text, &format!("{tag}-{i}")).await;
        to.until(
            "the message",
            |e| matches!(e, ServerMsg::Said { text: t, .. } if t.as_str() == text),
        )
        .await;
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

async fn pushes_reach_people_who_are_away(mode: Mode) {
    let mut receiver = Receiver::start();
    let origin = format!("http://{}", receiver.addr);
    let config = || backend::Config {
        push_services: vec!["127.0.0.1".to_owned()],
        ..common::patient_config(mode.redis_url())
    };
    // Two nodes sharing Redis in cluster mode (the sender on one, the recipient's
    // subscription made on the other); one server twice on one node.
    let node_a = TestServer::spawn(config());
    let node_b = match &mode {
        Mode::Single => None,
        Mode::Cluster(_) | Mode::Sharded(_) => Some(TestServer::spawn(config())),
    };
    let node_b = node_b.as_ref().unwrap_or(&node_a);

    // One key pair, whichever node is asked; a P-256 point.
    let key = server_key(&node_a, "bob").await.key;
    assert_eq!(server_key(node_b, "bob").await.key, key);
    assert_eq!(URL_SAFE_NO_PAD.decode(&key).unwrap().len(), 65);

    let (bob, dave, erin, gina) = (
        Browser::new(),
        Browser::new(),
        Browser::new(),
        Browser::new(),
    );
    // The server sends to no push service it was not told of, and not over plain http
    // except on loopback; nobody unnamed subscribes.
    for endpoint in [
        "https://push.example.net/x",
        "http://10.0.0.1/x",
        "http://user:pw@127.0.0.1/x",
    ] {
        let (status, body) = api(&node_a, "POST", "bob", &bob.subscription(endpoint, false)).await;
        assert_eq!(status, 400, "{endpoint}: {body}");
    }
    let body = bob.subscription(&receiver.endpoint("bob"), false);
    let nameless = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        paths::API_PUSH,
        body.len()
    );
    assert_eq!(http_exchange(node_a.addr, &nameless).await.0, 401);
    for (nick, browser, name, private) in [
        ("bob", &bob, "bob", false),
        ("dave", &dave, "dave", true),
        ("erin", &erin, "gone-erin", false),
        ("gina", &gina, "stall-gina", false),
    ] {
        let body = browser.subscription(&receiver.endpoint(name), private);
        let (status, reply) = api(&node_a, "POST", nick, &body).await;
        assert_eq!(status, 204, "{reply}");
    }
    assert_eq!(
        server_key(node_b, "bob").await.endpoints,
        [receiver.endpoint("bob")]
    );

    let mut alice = node_b.chat_as("alice", &[]).await;
    let mut carol = node_a.chat_as("carol", &[]).await;
    for nick in ["dave", "erin", "gina"] {
        visit(&node_a, nick, &mut alice).await;
    }

    // Bob is here: a direct message to him is not pushed. Then he goes away: it is.
    let bob_here = node_a.chat_as("bob", &[]).await;
    direct(&mut carol, "bob", "while you are here", "c-1").await;
    drop(bob_here);
    alice.until("Bob leaving", |e| departed(e, "bob")).await;
    direct(&mut alice, "bob", "first words", "a-1").await;
    let pushed = receiver.next().await;
    assert_eq!(pushed.path, "/bob");
    check_vapid(&pushed, &key, &origin);
    let notice = bob.read(&pushed);
    assert_eq!(notice.open, "direct:alice");
    assert_eq!(notice.from.as_deref(), Some("alice"));
    assert_eq!(notice.preview.as_deref(), Some("first words"));
    assert_eq!(
        pushed.topic.as_deref(),
        Some(backend::push::send::topic("direct:alice").as_str())
    );
    // Within the minute a second message in that conversation is not pushed; Carol's,
    // another conversation, is (the one he had while here was not).
    direct(&mut alice, "bob", "second words", "a-2").await;
    direct(&mut carol, "bob", "from carol", "c-2").await;
    let pushed = receiver.next().await;
    assert_eq!(pushed.path, "/bob");
    let notice = bob.read(&pushed);
    assert_eq!(
        (notice.open.as_str(), notice.preview.as_deref()),
        ("direct:carol", Some("from carol"))
    );

    // Private previews: only that there is something, and where.
    direct(&mut alice, "dave", "a secret", "a-3").await;
    let pushed = receiver.next().await;
    assert_eq!(pushed.path, "/dave");
    check_vapid(&pushed, &key, &origin);
    let notice = dave.read(&pushed);
    assert_eq!(notice.open, "direct:alice");
    assert_eq!((notice.from, notice.preview), (None, None));

    // A 410 (the subscription expired) removes it.
    direct(&mut alice, "erin", "are you there", "a-4").await;
    assert_eq!(receiver.next().await.path, "/gone-erin");
    eventually("the gone subscription is removed", || async {
        server_key(&node_a, "erin").await.endpoints.is_empty()
    })
    .await;

    // An @mention of someone away who may read the room is pushed; not in a private room
    // they are not invited to (were it, Dave's first push would be that one).
    alice
        .send(&ClientMsg::CreateRoom {
            room: "secret".parse().unwrap(),
            private: true,
            max_members: None,
        })
        .await;
    alice
        .until(
            "the private room",
            |e| matches!(e, ServerMsg::History { room, .. } if room.as_str() == "secret"),
        )
        .await;
    alice.say("secret", "@dave must not hear this", "m-1").await;
    alice
        .until("the private message", |e| {
            matches!(e, ServerMsg::Said { .. })
        })
        .await;
    alice.say("lobby", "look here @Dave and @bob", "m-2").await;
    let mut pushed = [receiver.next().await, receiver.next().await];
    pushed.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        [pushed[0].path.as_str(), pushed[1].path.as_str()],
        ["/bob", "/dave"]
    );
    let notice = bob.read(&pushed[0]);
    assert_eq!(
        (notice.open.as_str(), notice.preview.as_deref()),
        ("room:lobby", Some("look here @Dave and @bob"))
    );
    assert_eq!(dave.read(&pushed[1]).open, "room:lobby");

    // A group message is pushed to the members who are away.
    alice
        .send(&ClientMsg::CreateGroup {
            with: vec!["bob".parse().unwrap(), "dave".parse().unwrap()],
        })
        .await;
    let joined = alice
        .until(
            "the group",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str().starts_with("g-")),
        )
        .await;
    let ServerMsg::Joined { room: group, .. } = joined else {
        unreachable!()
    };
    alice.say(group.as_str(), "team news", "m-3").await;
    let mut pushed = [receiver.next().await, receiver.next().await];
    pushed.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        [pushed[0].path.as_str(), pushed[1].path.as_str()],
        ["/bob", "/dave"]
    );
    let notice = bob.read(&pushed[0]);
    assert_eq!(notice.open, format!("group:{group}"));
    assert_eq!(notice.preview.as_deref(), Some("team news"));

    // A push service that never answers holds a delivery, not the hub: online users'
    // messages are as quick as before (a loose bound: the machine is shared and noisy).
    let before = latency(&mut alice, &mut carol, 20, "before").await;
    direct(&mut alice, "gina", "hello gina", "a-5").await;
    let pushed = receiver.next().await;
    assert_eq!(pushed.path, "/stall-gina");
    let during = latency(&mut alice, &mut carol, 20, "during").await;
    assert!(
        during <= before * 5 + Duration::from_millis(50),
        "median {during:?} while a push service stalls, {before:?} before"
    );
    let _ = gina.read(&pushed);
}

common::in_both_modes!(pushes_reach_people_who_are_away);
