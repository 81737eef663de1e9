//! Look-alike and invisible names over real sockets (issue #27, hole 8), in both modes (single
//! node; two nodes sharing a real `redis-server`, the look-alike asked for on the other node):
//! a nickname with an invisible formatting character is refused as invalid, one that looks
//! like a nickname online (or, with accounts, a registered name) is taken, and names in
//! Korean, Japanese, Arabic and emoji are welcome. The rules are backend/src/names.rs's.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use backend::Config;
use common::{Chat, Mode, TestServer, post_json, redis_server::RedisServer, set_cookie, token_for};
use shared::{ClientMsg, ErrorCode, ServerMsg, auth::AuthMode, paths};

/// Two servers sharing `redis` (cluster mode), or one (single node, returned twice as the
/// same server by [`Servers::other`]).
fn servers(redis: Option<&common::Redis>, config: fn(Option<String>) -> Config) -> Servers {
    let url = redis.map(common::Redis::url);
    Servers {
        one: TestServer::spawn(config(url.clone())),
        two: url.map(|url| TestServer::spawn(config(Some(url)))),
    }
}

struct Servers {
    one: TestServer,
    two: Option<TestServer>,
}

impl Servers {
    /// The other node in cluster mode; the only one on a single node.
    fn other(&self) -> &TestServer {
        self.two.as_ref().unwrap_or(&self.one)
    }
}

fn open_config(redis: Option<String>) -> Config {
    common::patient_config(redis)
}

fn accounts_config(redis: Option<String>) -> Config {
    Config {
        auth: AuthMode::Accounts,
        ..common::patient_config(redis)
    }
}

/// A browser token for the `i`th name of a test (names outside ASCII make no token).
fn token(i: usize) -> shared::UserToken {
    format!("names-test-token-{i:04}").parse().unwrap()
}

/// The first answer to a bare `hello` as `nick` (with a token nobody else has) on a fresh
/// socket: the welcome's nickname, or the error's code and message.
async fn hello_answer(server: &TestServer, nick: &str) -> (Result<String, ErrorCode>, String) {
    let mut chat = server.chat_socket().await;
    chat.send(&ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token(9999),
        rooms: vec![],
        since: Default::default(),
        epochs: Default::default(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    })
    .await;
    match chat.recv_any().await {
        ServerMsg::Welcome { user, .. } => (Ok(user.to_string()), String::new()),
        ServerMsg::Error { code, message, .. } => (Err(code), message),
        other => panic!("expected welcome or an error, got {other:?}"),
    }
}

/// The answer to `chat`'s request to be called `nick`: the renamed event or the error's code.
async fn rename(chat: &mut Chat, nick: &str) -> Result<String, ErrorCode> {
    chat.send(&ClientMsg::Rename {
        nick: nick.parse().unwrap(),
    })
    .await;
    loop {
        match chat.recv().await {
            ServerMsg::Renamed { to, .. } => return Ok(to.to_string()),
            ServerMsg::Error { code, .. } => return Err(code),
            // Others arriving in the lobby meanwhile.
            ServerMsg::Presence { .. } => {}
            other => panic!("expected renamed or an error, got {other:?}"),
        }
    }
}

/// Alice is online on one node; on the other, her name with an invisible character is
/// invalid (the message names the code point, not the character) and look-alikes of it are
/// taken, by `hello` and by `rename`; a look-alike names nobody in a `direct`. On the code
/// before the fix, "Alice\u{200B}", "Alice\u{202E}" and Cyrillic "Аlice" were all welcome.
async fn look_alikes_of_an_online_nickname_are_refused(mode: Mode) {
    let redis = mode.into_redis();
    let servers = servers(redis.as_ref(), open_config);
    let _alice = servers.one.chat_as("Alice", &[]).await;
    let other = servers.other();
    for (invisible, code_point) in [
        ("Alice\u{200B}", "U+200B"),
        ("Alice\u{202E}", "U+202E"),
        ("\u{2067}Alice", "U+2067"),
        ("Ali\u{AD}ce", "U+00AD"),
    ] {
        let (answer, message) = hello_answer(other, invisible).await;
        assert_eq!(answer, Err(ErrorCode::Invalid), "{invisible:?}");
        assert!(message.contains(code_point), "{message}");
        let found = invisible
            .chars()
            .find(|c| !c.is_ascii_alphabetic())
            .unwrap();
        assert!(!message.contains(found), "{message}");
    }
    // Cyrillic А; capital I for the l; digit one for the l; Cyrillic а, upper case after.
    for look_alike in ["\u{410}lice", "AIice", "a1ice", "\u{430}LICE", "ALICE"] {
        let (answer, message) = hello_answer(other, look_alike).await;
        assert_eq!(answer, Err(ErrorCode::NickTaken), "{look_alike}: {message}");
    }
    let mut bob = other.chat_as("Bob", &[]).await;
    assert_eq!(
        rename(&mut bob, "\u{410}lice").await,
        Err(ErrorCode::NickTaken)
    );
    assert_eq!(
        rename(&mut bob, "Bob\u{200B}").await,
        Err(ErrorCode::Invalid)
    );
    // Exact names only: a direct to a look-alike reaches nobody.
    bob.send(&ClientMsg::Direct {
        to: "\u{410}lice".parse().unwrap(),
        text: "hi".try_into().unwrap(),
        client_id: "d-1".parse().unwrap(),
    })
    .await;
    assert_eq!(bob.recv_error().await, ErrorCode::NoSuchUser);
    // A name that only resembles hers in letters is free.
    assert_eq!(rename(&mut bob, "Alicia").await, Ok("Alicia".into()));
}

/// Names in Korean, Japanese, Arabic and emoji (joiners and tags inside emoji included) are
/// welcome side by side; a name typed decomposed is kept in NFC, and is the same name as its
/// precomposed spelling.
async fn names_in_every_script_are_welcome_and_kept_in_nfc(mode: Mode) {
    let redis = mode.into_redis();
    let servers = servers(redis.as_ref(), open_config);
    let mut online = Vec::new();
    for (i, name) in [
        "김민수",
        "김민준",
        "さくら",
        "山田太郎",
        "محمد",
        "فاطمة",
        "🦀 Ferris",
        "👩\u{200D}💻 Dev",
        "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Scot",
    ]
    .into_iter()
    .enumerate()
    {
        let server = if i % 2 == 0 {
            &servers.one
        } else {
            servers.other()
        };
        let mut chat = server.chat_socket().await;
        let user = chat.identify(name, token(i), &[], None).await;
        assert_eq!(user.as_str(), name);
        online.push(chat);
    }
    // Hangul typed as jamo is the syllables; é typed as e + U+0301 is é.
    let mut jamo = servers.one.chat_socket().await;
    let user = jamo
        .identify(
            "\u{1112}\u{1161}\u{11AB}\u{1100}\u{1173}\u{11AF}",
            token(100),
            &[],
            None,
        )
        .await;
    assert_eq!(user.as_str(), "한글");
    let mut jose = servers.one.chat_socket().await;
    let user = jose.identify("Jose\u{301}", token(101), &[], None).await;
    assert_eq!(user.as_str(), "Jos\u{E9}");
    for taken in ["한글", "Jos\u{E9}"] {
        let (answer, _) = hello_answer(servers.other(), taken).await;
        assert_eq!(answer, Err(ErrorCode::NickTaken), "{taken}");
    }
}

/// `POST /api/register` as `name`: (status, body).
async fn register(server: &TestServer, name: &str) -> (u16, String) {
    let body = serde_json::json!({ "name": name, "password": "a long password" }).to_string();
    let (status, _, reply) = post_json(server.addr, paths::API_REGISTER, &body, None).await;
    (status, reply)
}

/// Alice registered on one node; on the other, look-alikes of her name are taken (409) and
/// her name with an invisible character is refused (400), whether or not she is online. On
/// the code before the fix, Cyrillic "Аlice" and "Alice\u{200B}" were registered (201).
async fn look_alikes_of_a_registered_name_are_refused(mode: Mode) {
    let redis = mode.into_redis();
    let servers = servers(redis.as_ref(), accounts_config);
    let other = servers.other();
    assert_eq!(register(&servers.one, "Alice").await.0, 201);
    for look_alike in ["\u{410}lice", "AIice", "a1ice", "\u{430}LICE"] {
        let (status, body) = register(other, look_alike).await;
        assert_eq!(status, 409, "{look_alike}: {body}");
    }
    for (invisible, code_point) in [("Alice\u{200B}", "U+200B"), ("Alice\u{202E}", "U+202E")] {
        let (status, body) = register(other, invisible).await;
        assert_eq!(status, 400, "{invisible:?}: {body}");
        assert!(body.contains(code_point), "{body}");
    }
    // Another name is free; a name in NFD is registered in NFC, and its chat name is that.
    assert_eq!(register(other, "Alicia").await.0, 201);
    let body =
        serde_json::json!({ "name": "Jose\u{301}", "password": "a long password" }).to_string();
    let (status, head, _) = post_json(other.addr, paths::API_REGISTER, &body, None).await;
    assert_eq!(status, 201);
    let mut chat = servers
        .one
        .chat_socket_with_cookie(Some(&set_cookie(&head).unwrap()))
        .await;
    let user = chat
        .identify("ignored", token_for("ignored"), &[], None)
        .await;
    assert_eq!(user.as_str(), "Jos\u{E9}");
    assert_eq!(register(&servers.one, "Jos\u{E9}").await.0, 409);
}

/// An account a server before this one registered in Redis (no look-alike keys stored) still
/// takes its look-alikes: the first registration fills them in. (The SQLite file's twin is a
/// unit test in backend/src/auth/accounts.rs.)
#[actix_web::test]
async fn cluster_accounts_from_before_likeness_still_take_their_look_alikes() {
    let redis = common::Redis::One(RedisServer::start().await);
    redis.cmd(&["HSET", "{acct}:bob", "name", "Bob", "phc", "x"]);
    let servers = servers(Some(&redis), accounts_config);
    // Cyrillic В and о.
    let (status, body) = register(&servers.one, "\u{412}\u{43E}b").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(register(servers.other(), "Carol").await.0, 201);
}

common::in_both_modes!(
    look_alikes_of_an_online_nickname_are_refused,
    names_in_every_script_are_welcome_and_kept_in_nfc,
    look_alikes_of_a_registered_name_are_refused,
);
