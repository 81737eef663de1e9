//! Who may speak (`--auth accounts` and `--auth jwt`) over real sockets: the account API and
//! its session cookie, the WebSocket authenticated from it, brute-force limits, passwords kept
//! out of storage and logs, and every JWT outcome. Accounts run in both modes (single node,
//! and two nodes sharing a real `redis-server`).

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use backend::Config;
use common::{
    Chat, Mode, Process, TestServer, expect_close, http_exchange, post_json,
    redis_server::RedisServer, set_cookie, token_for,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use shared::{
    ClientMsg, ErrorCode, ServerMsg,
    auth::{AuthMode, SessionInfo},
    close, paths,
};

fn accounts_config(redis: Option<String>) -> Config {
    Config {
        auth: AuthMode::Accounts,
        redis,
        heartbeat_interval: Duration::from_secs(20),
        client_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(1),
        // An ended session's open sockets close this soon (30 s by default).
        session_recheck: Duration::from_millis(200),
        ..Config::default()
    }
}

/// Two servers of `mode` (in single-node mode, the same one twice).
async fn servers(mode: &Mode) -> (TestServer, Option<TestServer>) {
    match mode {
        Mode::Single => (TestServer::spawn(accounts_config(None)), None),
        Mode::Cluster(_) | Mode::Sharded(_) => (
            TestServer::spawn(accounts_config(mode.redis_url())),
            Some(TestServer::spawn(accounts_config(mode.redis_url()))),
        ),
    }
}

fn credentials(name: &str, password: &str) -> String {
    serde_json::json!({ "name": name, "password": password }).to_string()
}

async fn register(server: &TestServer, name: &str, password: &str) -> String {
    let (status, head, body) = post_json(
        server.addr,
        paths::API_REGISTER,
        &credentials(name, password),
        None,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        head.contains("HttpOnly") && head.contains("SameSite=Strict"),
        "{head}"
    );
    set_cookie(&head).unwrap()
}

async fn login(server: &TestServer, name: &str, password: &str) -> (u16, Option<String>, String) {
    let (status, head, body) = post_json(
        server.addr,
        paths::API_LOGIN,
        &credentials(name, password),
        None,
    )
    .await;
    (status, set_cookie(&head), body)
}

/// `POST /api/password` with the session `cookie`: (status, body).
async fn change_password(server: &TestServer, cookie: &str, old: &str, new: &str) -> (u16, String) {
    let body = serde_json::json!({ "old": old, "new": new }).to_string();
    let (status, _, reply) = post_json(server.addr, paths::API_PASSWORD, &body, Some(cookie)).await;
    (status, reply)
}

async fn session(server: &TestServer, cookie: &str) -> SessionInfo {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nCookie: {}={cookie}\r\n\r\n",
        paths::API_SESSION,
        server.addr,
        paths::SESSION_COOKIE
    );
    let (status, _, body) = http_exchange(server.addr, &request).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// A chat socket with `cookie`, identified with a nickname and token of its own choosing
/// (which accounts mode ignores); returns the socket and the nickname the welcome gave it.
async fn chat_with_cookie(server: &TestServer, cookie: &str, asks_for: &str) -> (Chat, String) {
    let mut chat = server.chat_socket_with_cookie(Some(cookie)).await;
    let user = chat
        .identify(asks_for, token_for(asks_for), &[], None)
        .await;
    (chat, user.to_string())
}

/// An open socket whose session ended is told so and closed with 4401 (other events that
/// were on their way before are skipped).
async fn session_ended(chat: &mut Chat) {
    loop {
        match chat.recv().await {
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::Unauthenticated);
                break;
            }
            ServerMsg::Presence { .. } => {}
            other => panic!("expected an unauthenticated error, got {other:?}"),
        }
    }
    expect_close(&mut chat.ws, close::UNAUTHENTICATED).await;
}

/// A bare `hello` (no rooms, nothing to resume) as `nick` with `token`, carrying `jwt`.
fn hello(nick: &str, token: shared::UserToken, jwt: Option<String>) -> ClientMsg {
    ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token,
        rooms: vec![],
        since: Default::default(),
        epochs: Default::default(),
        direct_since: None,
        direct_epoch: None,
        jwt,
    }
}

/// The connection is told it is not logged in, and closed with 4401.
async fn refused_as_unauthenticated(chat: &mut Chat) {
    match chat.recv().await {
        ServerMsg::Error { code, .. } => assert_eq!(code, ErrorCode::Unauthenticated),
        other => panic!("expected an unauthenticated error, got {other:?}"),
    }
    expect_close(&mut chat.ws, close::UNAUTHENTICATED).await;
}

async fn register_log_in_reconnect_log_out(mode: Mode) {
    let (one, two) = servers(&mode).await;
    let other = two.as_ref().unwrap_or(&one);
    let (status, body) = common::http_get(one.addr, paths::API_SESSION).await;
    assert_eq!(status, 200);
    let info: SessionInfo = serde_json::from_str(&body).unwrap();
    assert_eq!((info.mode, info.user), (AuthMode::Accounts, None));

    // No cookie: told and closed, before any hello.
    let mut anonymous = one.chat_socket().await;
    refused_as_unauthenticated(&mut anonymous).await;

    let cookie = register(&one, "Alice", "correct horse battery").await;
    assert_eq!(
        session(other, &cookie).await.user.unwrap().as_str(),
        "Alice"
    );
    // The nickname is the account's, whatever the hello asks for; on every node.
    let (mut tab, user) = chat_with_cookie(&one, &cookie, "Mallory").await;
    assert_eq!(user, "Alice");
    let (mut second_tab, user) = chat_with_cookie(other, &cookie, "alice-2").await;
    assert_eq!(user, "Alice");
    // Renaming is not for logins.
    tab.send(&ClientMsg::Rename {
        nick: "Alicia".parse().unwrap(),
    })
    .await;
    assert_eq!(tab.recv_error().await, ErrorCode::Forbidden);
    drop(second_tab.ws.close(None).await);
    // Reconnect with the same cookie.
    drop(tab);
    let (mut open_tab, user) = chat_with_cookie(other, &cookie, "x").await;
    assert_eq!(user, "Alice");

    // Taken, in any case.
    let (status, _, body) = post_json(
        other.addr,
        paths::API_REGISTER,
        &credentials("ALICE", "another password"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");

    // Log out: the cookie is cleared and the session is gone on every node.
    let (status, head, _) = post_json(one.addr, paths::API_LOGOUT, "", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(head.contains("Max-Age=0"), "{head}");
    assert_eq!(session(other, &cookie).await.user, None);
    // The tab still open with that session is closed too.
    session_ended(&mut open_tab).await;
    let mut stale = other.chat_socket_with_cookie(Some(&cookie)).await;
    refused_as_unauthenticated(&mut stale).await;

    // Log in again.
    let (status, cookie, body) = login(other, "alice", "wrong password!").await;
    assert_eq!((status, cookie), (401, None), "{body}");
    assert!(body.contains("wrong name or password"), "{body}");
    let (status, cookie, body) = login(other, "alice", "correct horse battery").await;
    assert_eq!(status, 200, "{body}");
    let (_chat, user) = chat_with_cookie(&one, &cookie.unwrap(), "y").await;
    assert_eq!(user, "Alice");
}

async fn a_password_change_ends_the_other_sessions(mode: Mode) {
    let (one, two) = servers(&mode).await;
    let other = two.as_ref().unwrap_or(&one);
    let here = register(&one, "bob", "first password").await;
    let (_, there, _) = login(other, "bob", "first password").await;
    let there = there.unwrap();
    let (mut there_tab, _) = chat_with_cookie(other, &there, "bob").await;
    let (status, body) = change_password(&one, &here, "not it at all", "second password").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = change_password(&one, &here, "first password", "short").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = change_password(other, &here, "first password", "second password").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(session(&one, &here).await.user.unwrap().as_str(), "bob");
    assert_eq!(session(&one, &there).await.user, None);
    session_ended(&mut there_tab).await;
    let mut ended = one.chat_socket_with_cookie(Some(&there)).await;
    refused_as_unauthenticated(&mut ended).await;
    assert_eq!(login(other, "bob", "first password").await.0, 401);
    assert_eq!(login(&one, "bob", "second password").await.0, 200);
}

async fn a_registered_name_is_nobody_elses(mode: Mode) {
    let (one, two) = servers(&mode).await;
    let other = two.as_ref().unwrap_or(&one);
    let alice = register(&one, "carol", "carol's password").await;
    // Carol is offline (logged out); Dave registers and asks for her name.
    post_json(one.addr, paths::API_LOGOUT, "", Some(&alice)).await;
    let dave = register(other, "dave", "dave's password").await;
    let (_chat, user) = chat_with_cookie(other, &dave, "carol").await;
    assert_eq!(user, "dave");
    let (status, _, _) = post_json(
        other.addr,
        paths::API_REGISTER,
        &credentials("Carol", "dave's password"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(login(other, "carol", "dave's password").await.0, 401);
}

async fn brute_force_is_limited_and_unknown_names_answer_alike(mode: Mode) {
    let (one, _two) = servers(&mode).await;
    register(&one, "erin", "erin's password").await;
    // Unknown name or wrong password: the same status and words, and as slow (both run a
    // password hash; the median of three of each, generously compared on a noisy machine).
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let (status, _, body) = login(&one, "erin", "guess guess").await;
        known.push(started.elapsed());
        assert_eq!(
            (status, body.as_str()),
            (401, r#"{"error":"wrong name or password"}"#)
        );
        let started = std::time::Instant::now();
        let (status, _, body) = login(&one, "nobody-here", "guess guess").await;
        unknown.push(started.elapsed());
        assert_eq!(
            (status, body.as_str()),
            (401, r#"{"error":"wrong name or password"}"#)
        );
    }
    known.sort();
    unknown.sort();
    assert!(
        unknown[1] * 3 > known[1],
        "an unknown name answered much faster ({:?}) than a wrong password ({:?})",
        unknown[1],
        known[1]
    );
    // Five attempts per account per minute: the sixth and later are refused, even with the
    // right password; an unknown name behaves the same.
    for _ in 3..5 {
        assert_eq!(login(&one, "erin", "guess guess").await.0, 401);
        assert_eq!(login(&one, "nobody-here", "guess guess").await.0, 401);
    }
    let (status, _, body) = login(&one, "erin", "erin's password").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(login(&one, "nobody-here", "guess guess").await.0, 429);
    // Twenty per address per minute, over any accounts (the registration counted too).
    let mut refused_after = None;
    for attempt in 0..20 {
        if login(&one, &format!("name-{attempt}"), "guess guess")
            .await
            .0
            == 429
        {
            refused_after = Some(attempt);
            break;
        }
    }
    assert!(refused_after.is_some(), "the address was never limited");
}

/// Hole 10 of issue #27, item 5: a refused login does not extend its own lock-out. After
/// the sixth attempt on an account (429, with a `Retry-After` no longer than the window),
/// attempts keep coming while it lasts, all refused; once the time `Retry-After` named has
/// passed, the right password logs in. In cluster mode, also a counter that lost its expiry
/// (the connection dropped between counting and setting it) ends with its window.
async fn a_refused_login_does_not_extend_its_lock_out(mode: Mode) {
    const WINDOW: Duration = Duration::from_secs(3);
    let config = |redis| Config {
        login_attempt_window: WINDOW,
        ..accounts_config(redis)
    };
    let server = TestServer::spawn(config(mode.redis_url()));
    register(&server, "gus", "gus's password").await;
    let retry_after = |head: &str| -> u64 {
        common::http_transports::header(head, "retry-after")
            .unwrap_or_else(|| panic!("no Retry-After: {head}"))
            .parse()
            .unwrap()
    };
    let login_head = |name: &'static str, password: &'static str| {
        let addr = server.addr;
        async move {
            let (status, head, _) =
                post_json(addr, paths::API_LOGIN, &credentials(name, password), None).await;
            (status, head)
        }
    };
    for _ in 0..5 {
        assert_eq!(login_head("gus", "not the password").await.0, 401);
    }
    let (status, head) = login_head("gus", "gus's password").await;
    assert_eq!(status, 429, "{head}");
    let refused_at = std::time::Instant::now();
    let announced = retry_after(&head);
    assert!(
        (1..=WINDOW.as_secs()).contains(&announced),
        "Retry-After {announced} s with a window of {WINDOW:?}"
    );
    let deadline = Duration::from_secs(announced);
    let mut last = announced;
    loop {
        let (status, head) = login_head("gus", "gus's password").await;
        if status == 200 {
            break;
        }
        assert_eq!(status, 429, "{head}");
        let now_announced = retry_after(&head);
        assert!(
            now_announced <= last,
            "Retry-After grew: {now_announced} after {last}"
        );
        last = now_announced;
        assert!(
            refused_at.elapsed() < deadline + Duration::from_millis(500),
            "still locked out {:?} after a Retry-After of {announced} s",
            refused_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    assert!(
        refused_at.elapsed() >= deadline.saturating_sub(Duration::from_secs(1)),
        "the lock-out ended long before its Retry-After"
    );

    // A counter without an expiry, as INCR leaves it when PEXPIRE never comes.
    let digest: String = {
        use sha2::Digest as _;
        sha2::Sha256::digest(b"acct:hal")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    if let Some(redis) = mode.redis_for("{attempts}") {
        register(&server, "hal", "hal's password").await;
        redis.cmd(&["SET", &format!("{{attempts}}:{digest}"), "1"]);
        let mut refused = false;
        for _ in 0..6 {
            refused = login_head("hal", "not the password").await.0 == 429;
            if refused {
                break;
            }
        }
        assert!(refused, "hal was never limited");
        tokio::time::sleep(WINDOW + Duration::from_millis(200)).await;
        assert_eq!(login_head("hal", "hal's password").await.0, 200);
    }
}

async fn passwords_are_never_stored_or_logged(mode: Mode) {
    const FIRST: &str = "sentinel-first-Zq81";
    const SECOND: &str = "sentinel-second-Zq82";
    const WRONG: &str = "sentinel-wrong-Zq83";
    const WORDS: &str = "sentinel-words-Zq84";
    let data = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--auth".to_owned(),
        "accounts".into(),
        "--data-dir".into(),
        data.path().to_str().unwrap().into(),
    ];
    if let Some(url) = mode.redis_url() {
        args.extend(["--redis".into(), url]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = Process::start_logging(&args).await;
    let server = TestServer::at(process.addr);
    let cookie = register(&server, "frank", FIRST).await;
    assert_eq!(login(&server, "frank", WRONG).await.0, 401);
    assert_eq!(
        change_password(&server, &cookie, FIRST, SECOND).await.0,
        200
    );
    let (status, session, _) = login(&server, "frank", SECOND).await;
    assert_eq!(status, 200);
    let session = session.unwrap();
    // Chat with the session: the words said are the room's to keep, never the logs'.
    let (mut chat, _) = chat_with_cookie(&server, &session, "frank").await;
    chat.say("lobby", WORDS, "w-1").await;
    chat.until("said", |e| matches!(e, ServerMsg::Said { .. }))
        .await;
    drop(chat);
    // Everything Redis holds, in its files.
    for redis in mode.redis_servers() {
        redis.cmd(&["SAVE"]);
    }
    let logs = process.stop_and_read_logs().await;
    assert!(
        logs.contains("account registered"),
        "the logs were not captured: {logs}"
    );
    let mut stored: Vec<PathBuf> = files_under(data.path());
    for redis in mode.redis_servers() {
        stored.extend(files_under(redis.data_dir()));
    }
    assert!(!stored.is_empty());
    assert!(!logs.contains(WORDS), "a message text is in the logs");
    // The session cookies (the first, and the one the password change left) are credentials:
    // stored only as hashes, never logged.
    for secret in [FIRST, SECOND, WRONG, cookie.as_str(), session.as_str()] {
        assert!(
            !logs.contains(secret),
            "a password or a cookie is in the logs"
        );
        for file in &stored {
            let bytes = std::fs::read(file).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "a password or a cookie is stored in {}",
                file.display()
            );
        }
    }
}

/// Hole 7 of issue #27: an account name may contain `:`, so a name built from another
/// account's name and one of its keys' suffixes must not reach that account's data. Each
/// name below is the one that, keyed as `{acct}:NAME`, was another account's session set
/// (before that account existed, and after it had sessions). Bob and Carol stay unaffected:
/// they register, log in on every node, keep their sessions and their passwords, whatever
/// the others do with theirs.
async fn an_account_name_cannot_reach_another_accounts_keys(mode: Mode) {
    let (one, two) = servers(&mode).await;
    let other = two.as_ref().unwrap_or(&one);
    // Carol first, with a session: her session set exists when `carol:sessions` registers.
    let carol = register(&one, "carol", "carol's password").await;
    let carol_squatter = register(other, "carol:sessions", "squatter password").await;
    // `bob:sessions` before Bob: its account would sit where Bob's session set goes.
    let bob_squatter = register(&one, "Bob:Sessions", "squatter password").await;
    let bob = register(other, "bob", "bob's password").await;
    for (cookie, name) in [
        (&carol, "carol"),
        (&carol_squatter, "carol:sessions"),
        (&bob_squatter, "Bob:Sessions"),
        (&bob, "bob"),
    ] {
        for server in [&one, other] {
            assert_eq!(session(server, cookie).await.user.unwrap().as_str(), name);
        }
    }
    let (_bob_tab, user) = chat_with_cookie(&one, &bob, "x").await;
    assert_eq!(user, "bob");
    // The squatters change their passwords and log out: Bob's and Carol's sessions live on.
    for (cookie, server) in [(&carol_squatter, &one), (&bob_squatter, other)] {
        let (status, body) =
            change_password(server, cookie, "squatter password", "another squatter one").await;
        assert_eq!(status, 200, "{body}");
        post_json(server.addr, paths::API_LOGOUT, "", Some(cookie)).await;
    }
    for (cookie, name) in [(&carol, "carol"), (&bob, "bob")] {
        assert_eq!(session(other, cookie).await.user.unwrap().as_str(), name);
    }
    // Their passwords are theirs, unchanged.
    assert_eq!(login(other, "bob", "bob's password").await.0, 200);
    assert_eq!(login(&one, "carol", "carol's password").await.0, 200);
    assert_eq!(login(&one, "bob", "another squatter one").await.0, 401);
    assert_eq!(
        login(other, "bob:sessions", "another squatter one").await.0,
        200
    );
}

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

common::in_both_modes!(
    a_second_hello_changes_nothing,
    browser_tokens_are_never_stored_or_logged,
    an_account_name_cannot_reach_another_accounts_keys,
    register_log_in_reconnect_log_out,
    a_password_change_ends_the_other_sessions,
    a_registered_name_is_nobody_elses,
    brute_force_is_limited_and_unknown_names_answer_alike,
    passwords_are_never_stored_or_logged,
    a_refused_login_does_not_extend_its_lock_out,
);

#[actix_web::test]
async fn open_mode_refuses_the_tokens_reserved_for_logins() {
    let server = TestServer::spawn(Config::default());
    let mut chat = server.chat_socket().await;
    let reserved = "acct-0123456789abcdef".parse().unwrap();
    chat.send(&hello("eve", reserved, None)).await;
    assert_eq!(chat.recv_error().await, ErrorCode::Invalid);
    // The account API is not there.
    let (status, _, _) = post_json(
        server.addr,
        paths::API_REGISTER,
        &credentials("eve", "eve's password"),
        None,
    )
    .await;
    assert_eq!(status, 404);
}

/// Accounts stored in Redis before hole 7 was closed (keyed by their name) keep working
/// after the upgrade: their keys are renamed, their password and live sessions still count,
/// and their names stay taken. One account is the `bob:sessions` of the hole, stored where
/// Bob's session set would be; Bob never registered, so his name is free.
#[actix_web::test]
async fn accounts_stored_under_their_names_are_migrated() {
    let redis = RedisServer::start().await;
    let phc = backend::auth::hash_password("dora's password".into())
        .await
        .unwrap();
    let cookie = "a-session-cookie-from-before-the-upgrade";
    let hash = backend::auth::session_hash(cookie);
    redis.cmd(&["HSET", "{acct}:dora", "name", "Dora", "phc", &phc]);
    redis.cmd(&["SET", &format!("{{sess}}:{hash}"), "dora", "EX", "3600"]);
    redis.cmd(&["SADD", "{acct}:dora:sessions", &hash]);
    redis.cmd(&["EXPIRE", "{acct}:dora:sessions", "3600"]);
    redis.cmd(&[
        "HSET",
        "{acct}:bob:sessions",
        "name",
        "bob:sessions",
        "phc",
        &phc,
    ]);
    let mode = Mode::Cluster(redis);
    let (one, two) = servers(&mode).await;
    let two = two.unwrap();
    assert_eq!(session(&one, cookie).await.user.unwrap().as_str(), "Dora");
    assert_eq!(login(&two, "dora", "dora's password").await.0, 200);
    assert_eq!(login(&one, "bob:sessions", "dora's password").await.0, 200);
    let (status, _, body) = post_json(
        two.addr,
        paths::API_REGISTER,
        &credentials("DORA", "another password"),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    register(&two, "bob", "bob's password").await;
    // A password change still ends the session from before the upgrade (its set moved too).
    let (_, fresh, _) = login(&one, "dora", "dora's password").await;
    let (status, body) =
        change_password(&two, &fresh.unwrap(), "dora's password", "dora's new one").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(session(&one, cookie).await.user, None);
    // Nothing is left under a name.
    let Mode::Cluster(redis) = &mode else {
        unreachable!()
    };
    for legacy in ["{acct}:dora", "{acct}:dora:sessions", "{acct}:bob:sessions"] {
        assert_eq!(
            redis.cmd(&["EXISTS", legacy]),
            redis::Value::Int(0),
            "{legacy}"
        );
    }
}

// ---- JWT ----

const SECRET: &str = "a test secret of at least thirty-two bytes";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A server in JWT mode with `key_file` (`secret` selects HS256, else the PEM public key).
fn jwt_server(key: &std::path::Path, secret: bool, redis: Option<String>) -> TestServer {
    let (jwt_secret_file, jwt_public_key_file) = if secret {
        (Some(key.to_owned()), None)
    } else {
        (None, Some(key.to_owned()))
    };
    TestServer::spawn(Config {
        auth: AuthMode::Jwt,
        jwt_secret_file,
        jwt_public_key_file,
        redis,
        heartbeat_interval: Duration::from_secs(20),
        client_timeout: Duration::from_secs(60),
        ..Config::default()
    })
}

fn secret_file() -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{SECRET}\n")).unwrap();
    file
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str, name: &str, exp_in_secs: i64) -> serde_json::Value {
    serde_json::json!({ "sub": sub, "name": name, "exp": now() as i64 + exp_in_secs })
}

fn hs256(claims: &serde_json::Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn signed_with_pem(claims: &serde_json::Value, algorithm: Algorithm, private: &str) -> String {
    let pem = std::fs::read(fixture(private)).unwrap();
    let key = match algorithm {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
        _ => EncodingKey::from_ed_pem(&pem).unwrap(),
    };
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key).unwrap()
}

/// A socket presenting `jwt` in its hello, past its welcome, joined, and histories; the
/// welcome's nickname, or `None` when it was refused with `unauthenticated` and 4401.
async fn hello_with(server: &TestServer, jwt: Option<String>) -> Option<(Chat, String)> {
    hello_with_notice(server, jwt)
        .await
        .map(|(chat, user, _)| (chat, user))
}

/// [`hello_with`], also returning the `reauth_needed` that came meanwhile, if one did (the
/// connection's own message, which may come before or after the welcome).
async fn hello_with_notice(
    server: &TestServer,
    jwt: Option<String>,
) -> Option<(Chat, String, Option<u64>)> {
    let mut chat = server.chat_socket().await;
    chat.send(&hello("ignored", token_for("ignored"), jwt))
        .await;
    let mut notice = None;
    let mut user = None;
    // The welcome, then the default room's joined and history and the direct history.
    let mut rest = 3;
    while user.is_none() || rest > 0 {
        match chat.recv_any().await {
            ServerMsg::Welcome { user: nick, .. } => user = Some(nick.to_string()),
            ServerMsg::ReauthNeeded { expires_in_ms } => notice = Some(expires_in_ms),
            ServerMsg::Joined { .. }
            | ServerMsg::History { .. }
            | ServerMsg::DirectHistory { .. } => {
                rest -= 1;
            }
            ServerMsg::Error { code, .. } if user.is_none() => {
                assert_eq!(code, ErrorCode::Unauthenticated);
                expect_close(&mut chat.ws, close::UNAUTHENTICATED).await;
                return None;
            }
            other => panic!("expected welcome or an error, got {other:?}"),
        }
    }
    Some((chat, user.unwrap(), notice))
}

#[actix_web::test]
async fn jwt_hs256_outcomes() {
    let secret = secret_file();
    let server = jwt_server(secret.path(), true, None);
    // Valid: `name` is the nickname shown; the hello's own nick is ignored.
    let valid = hs256(&claims("user-42", "Grace", 3600), SECRET.as_bytes());
    let (mut grace, user) = hello_with(&server, Some(valid.clone())).await.unwrap();
    assert_eq!(user, "Grace");
    grace
        .send(&ClientMsg::Rename {
            nick: "Hopper".parse().unwrap(),
        })
        .await;
    assert_eq!(grace.recv_error().await, ErrorCode::Forbidden);
    // Expired.
    let expired = hs256(&claims("user-42", "Grace", -10), SECRET.as_bytes());
    assert!(hello_with(&server, Some(expired)).await.is_none());
    // Wrong signature (another secret).
    let forged = hs256(
        &claims("user-42", "Grace", 3600),
        b"another secret of at least thirty-two bytes!",
    );
    assert!(hello_with(&server, Some(forged)).await.is_none());
    // alg "none": no signature at all.
    let b64 = |json: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    };
    let unsigned = format!(
        "{}.{}.",
        b64(r#"{"alg":"none","typ":"JWT"}"#),
        b64(&claims("user-42", "Grace", 3600).to_string())
    );
    assert!(hello_with(&server, Some(unsigned)).await.is_none());
    // Missing claims, one at a time.
    for missing in ["sub", "name", "exp"] {
        let mut partial = claims("user-42", "Grace", 3600);
        partial.as_object_mut().unwrap().remove(missing);
        let token = hs256(&partial, SECRET.as_bytes());
        assert!(
            hello_with(&server, Some(token)).await.is_none(),
            "without {missing}"
        );
    }
    // No token at all, and garbage.
    assert!(hello_with(&server, None).await.is_none());
    assert!(
        hello_with(&server, Some("not.a.token".into()))
            .await
            .is_none()
    );
}

/// Hole 8 of issue #27: the site's `name` is held to the rules of chosen names
/// (backend/src/names.rs): one with a direction override is refused, one typed decomposed is
/// shown in NFC. On the code before the fix, "Grace\u{202E}" was welcome as it was.
#[actix_web::test]
async fn a_jwt_name_with_an_invisible_character_is_refused_and_one_in_nfd_is_shown_in_nfc() {
    let secret = secret_file();
    let server = jwt_server(secret.path(), true, None);
    let overridden = hs256(&claims("user-7", "Grace\u{202E}", 3600), SECRET.as_bytes());
    assert!(hello_with(&server, Some(overridden)).await.is_none());
    let decomposed = hs256(&claims("user-8", "Jose\u{301}", 3600), SECRET.as_bytes());
    let (_jose, user) = hello_with(&server, Some(decomposed)).await.unwrap();
    assert_eq!(user, "Jos\u{E9}");
}

#[actix_web::test]
async fn jwt_public_keys_fix_the_algorithm() {
    let rsa = jwt_server(&fixture("jwt_rsa_public.pem"), false, None);
    let claims = claims("user-7", "Ada", 3600);
    let token = signed_with_pem(&claims, Algorithm::RS256, "jwt_rsa_private.pem");
    assert_eq!(hello_with(&rsa, Some(token)).await.unwrap().1, "Ada");
    // HS/RS confusion: an HS256 token "signed" with the server's public key as the secret.
    let public = std::fs::read(fixture("jwt_rsa_public.pem")).unwrap();
    assert!(
        hello_with(&rsa, Some(hs256(&claims, &public)))
            .await
            .is_none()
    );
    // Another algorithm with a valid key of its own.
    let ed_token = signed_with_pem(&claims, Algorithm::EdDSA, "jwt_ed25519_private.pem");
    assert!(hello_with(&rsa, Some(ed_token.clone())).await.is_none());

    let ed = jwt_server(&fixture("jwt_ed25519_public.pem"), false, None);
    assert_eq!(hello_with(&ed, Some(ed_token)).await.unwrap().1, "Ada");
    let rs_token = signed_with_pem(&claims, Algorithm::RS256, "jwt_rsa_private.pem");
    assert!(hello_with(&ed, Some(rs_token)).await.is_none());
}

#[actix_web::test]
async fn a_jwt_is_refreshed_before_it_expires_or_the_socket_closes() {
    let secret = secret_file();
    let server = jwt_server(secret.path(), true, None);
    // Less than a minute left: asked for a fresh token at once.
    let short = hs256(&claims("user-9", "Linus", 3), SECRET.as_bytes());
    let (mut linus, _, notice) = hello_with_notice(&server, Some(short)).await.unwrap();
    let notice = match notice {
        Some(ms) => ms,
        None => match linus.recv().await {
            ServerMsg::ReauthNeeded { expires_in_ms } => expires_in_ms,
            other => panic!("expected reauth_needed, got {other:?}"),
        },
    };
    assert!(notice <= 3000, "{notice}");
    // A token for someone else is not a refresh.
    let stranger = hs256(&claims("user-10", "Mallory", 3600), SECRET.as_bytes());
    linus.send(&ClientMsg::Reauth { jwt: stranger }).await;
    assert_eq!(linus.recv_error().await, ErrorCode::Forbidden);
    let fresh = hs256(&claims("user-9", "Linus", 3600), SECRET.as_bytes());
    linus.send(&ClientMsg::Reauth { jwt: fresh }).await;
    match linus.recv().await {
        ServerMsg::Reauthed { expires_in_ms } => assert!(expires_in_ms > 3_000_000),
        other => panic!("expected reauthed, got {other:?}"),
    }
    // Past the first token's expiry the connection still works.
    tokio::time::sleep(Duration::from_secs(4)).await;
    linus
        .send(&ClientMsg::Say {
            room: "lobby".parse().unwrap(),
            text: "still here".try_into().unwrap(),
            client_id: "c-1".parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        })
        .await;
    assert!(matches!(linus.recv().await, ServerMsg::Said { .. }));

    // Without a refresh: told, then closed with 4401 when the token expires.
    let short = hs256(&claims("user-11", "Ken", 2), SECRET.as_bytes());
    let (mut ken, _, notice) = hello_with_notice(&server, Some(short)).await.unwrap();
    if notice.is_none() {
        assert!(matches!(ken.recv().await, ServerMsg::ReauthNeeded { .. }));
    }
    refused_as_unauthenticated(&mut ken).await;
}

#[actix_web::test]
async fn a_jwt_user_is_one_user_across_a_cluster() {
    let redis = RedisServer::start().await;
    let secret = secret_file();
    let one = jwt_server(secret.path(), true, Some(redis.url()));
    let two = jwt_server(secret.path(), true, Some(redis.url()));
    let token = hs256(&claims("user-1", "Barbara", 3600), SECRET.as_bytes());
    let (_a, user) = hello_with(&one, Some(token.clone())).await.unwrap();
    assert_eq!(user, "Barbara");
    // The same sub on another node: another tab of the same user, not a name clash.
    let (_b, user) = hello_with(&two, Some(token)).await.unwrap();
    assert_eq!(user, "Barbara");
    // Another sub with the same name is someone else, refused the name.
    let impostor = hs256(&claims("user-2", "Barbara", 3600), SECRET.as_bytes());
    let mut chat = two.chat_socket().await;
    chat.send(&hello("x", token_for("x"), Some(impostor))).await;
    assert_eq!(chat.recv_error().await, ErrorCode::NickTaken);
}

/// Hole 10 of issue #27, item 1: a token is refused before its `nbf`; with `--jwt-issuer`
/// and `--jwt-audience` a token must name that issuer and audience (a missing claim is as
/// wrong as another value); without them `iss` and `aud` are not looked at.
#[actix_web::test]
async fn jwt_not_before_issuer_and_audience_are_enforced() {
    let secret = secret_file();
    let plain = jwt_server(secret.path(), true, None);
    let with = |extra: serde_json::Value| {
        let mut claims = claims("user-5", "Hedy", 3600);
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        hs256(&claims, SECRET.as_bytes())
    };
    let soon = now() + 600;
    assert!(
        hello_with(&plain, Some(with(serde_json::json!({ "nbf": soon }))))
            .await
            .is_none(),
        "a token used before its nbf"
    );
    let past = now() - 10;
    assert_eq!(
        hello_with(&plain, Some(with(serde_json::json!({ "nbf": past }))))
            .await
            .unwrap()
            .1,
        "Hedy"
    );
    let other = serde_json::json!({ "iss": "https://elsewhere.example", "aud": "another" });
    assert!(hello_with(&plain, Some(with(other))).await.is_some());

    let strict = TestServer::spawn(Config {
        auth: AuthMode::Jwt,
        jwt_secret_file: Some(secret.path().to_owned()),
        jwt_issuer: Some("https://site.example".into()),
        jwt_audience: Some("chat".into()),
        heartbeat_interval: Duration::from_secs(20),
        client_timeout: Duration::from_secs(60),
        ..Config::default()
    });
    let right = serde_json::json!({ "iss": "https://site.example", "aud": "chat" });
    assert_eq!(
        hello_with(&strict, Some(with(right))).await.unwrap().1,
        "Hedy"
    );
    let among = serde_json::json!({ "iss": "https://site.example", "aud": ["wiki", "chat"] });
    assert!(hello_with(&strict, Some(with(among))).await.is_some());
    for (wrong, what) in [
        (
            serde_json::json!({ "iss": "https://elsewhere.example", "aud": "chat" }),
            "another issuer",
        ),
        (serde_json::json!({ "aud": "chat" }), "no issuer"),
        (
            serde_json::json!({ "iss": "https://site.example", "aud": "wiki" }),
            "another audience",
        ),
        (
            serde_json::json!({ "iss": "https://site.example" }),
            "no audience",
        ),
    ] {
        assert!(
            hello_with(&strict, Some(with(wrong))).await.is_none(),
            "a token with {what}"
        );
    }
}

#[actix_web::test]
async fn the_api_serves_allowed_origins_only() {
    let server = TestServer::spawn(Config {
        allowed_origins: vec!["http://127.0.0.1:3000".into()],
        ..accounts_config(None)
    });
    let preflight = |origin: &str| {
        format!(
            "OPTIONS {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type\r\n\r\n",
            paths::API_LOGIN,
            server.addr
        )
    };
    // The development server's origin may use the API with credentials...
    let (status, head, _) = http_exchange(server.addr, &preflight("http://127.0.0.1:3000")).await;
    let head = head.to_ascii_lowercase();
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains("access-control-allow-origin: http://127.0.0.1:3000"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-credentials: true"),
        "{head}"
    );
    // ...another origin may not: no grant in the preflight, and a POST that comes anyway
    // (a form, say) is refused.
    let (_, head, _) = http_exchange(server.addr, &preflight("https://evil.example")).await;
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin"),
        "{head}"
    );
    let body = credentials("mallory", "mallory's password");
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nOrigin: https://evil.example\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        paths::API_REGISTER,
        server.addr,
        body.len()
    );
    let (status, _, body) = http_exchange(server.addr, &request).await;
    assert!((400..500).contains(&status), "{status}: {body}");
    // Nothing was created: the name is still free.
    register(&server, "mallory", "mallory's password").await;
}

/// Hole 10 of issue #27, item 2: `X-Forwarded-Proto` (which makes the session cookie
/// `Secure`) and `X-Forwarded-Host` (which the Origin check compares with) count only from a
/// `--trusted-proxy`; from anyone else they are headers like any other.
#[actix_web::test]
async fn forwarded_proto_and_host_count_only_from_a_trusted_proxy() {
    let register_via = |server: &TestServer, name: &str, extra: &str| {
        let body = credentials(name, "a long enough password");
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            paths::API_REGISTER,
            server.addr,
            body.len()
        );
        let addr = server.addr;
        async move { http_exchange(addr, &request).await }
    };
    let secure = |head: &str| {
        head.lines().any(|line| {
            line.to_ascii_lowercase().starts_with("set-cookie:") && line.contains("; Secure")
        })
    };
    let handshake = |server: &TestServer, extra: &str| {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\n{extra}Connection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
            paths::WS_CHAT,
            server.addr,
            shared::SUBPROTOCOL
        )
    };
    let forged_host = "Origin: http://evil.example\r\nX-Forwarded-Host: evil.example\r\n";

    // Nobody trusted: the test client (127.0.0.1) cannot claim https or another host.
    let direct = TestServer::spawn(accounts_config(None));
    let (status, head, body) = register_via(
        &direct,
        "ivy",
        "X-Forwarded-Proto: https\r\nForwarded: proto=https\r\n",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(!secure(&head), "{head}");
    let (status, _, body) = register_via(&direct, "jack", forged_host).await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = common::http_request(direct.addr, &handshake(&direct, forged_host)).await;
    assert_eq!(status, 403);

    // Behind a trusted proxy (the test client stands in for it), both count.
    let proxied = TestServer::spawn(Config {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..accounts_config(None)
    });
    let (status, head, body) = register_via(&proxied, "ivy", "X-Forwarded-Proto: https\r\n").await;
    assert_eq!(status, 201, "{body}");
    assert!(secure(&head), "{head}");
    let (status, head, body) = register_via(&proxied, "kim", "").await;
    assert_eq!(status, 201, "{body}");
    assert!(!secure(&head), "{head}");
    let (status, _, body) = register_via(&proxied, "jack", forged_host).await;
    assert_eq!(status, 201, "{body}");
}

/// Hole 1 of issue #27: a second `hello` must not swap the login that keeps a socket alive.
/// Alice's socket, identified with a token about to expire, presents Mallory's long one (and
/// then a longer one of her own) in another `hello`: both are refused and change nothing, so
/// the socket still closes with 4401 when Alice's first token expires. Both modes.
async fn a_second_hello_changes_nothing(mode: Mode) {
    let redis = mode.redis_url();
    let secret = secret_file();
    let server = jwt_server(secret.path(), true, redis);
    let short = hs256(&claims("user-a", "Alice", 3), SECRET.as_bytes());
    let (mut alice, user, notice) = hello_with_notice(&server, Some(short)).await.unwrap();
    assert_eq!(user, "Alice");
    let mut notices = usize::from(notice.is_some());

    let mallory = hs256(&claims("user-m", "Mallory", 3600), SECRET.as_bytes());
    alice.send(&hello("x", token_for("x"), Some(mallory))).await;
    // Her own fresh token in a hello is no renewal either: only `reauth` renews.
    let longer = hs256(&claims("user-a", "Alice", 3600), SECRET.as_bytes());
    alice.send(&hello("x", token_for("x"), Some(longer))).await;
    let mut refusals = Vec::new();
    while refusals.len() < 2 {
        match alice.recv().await {
            ServerMsg::Error { code, .. } => refusals.push(code),
            ServerMsg::ReauthNeeded { .. } => notices += 1,
            other => panic!("expected the two refusals, got {other:?}"),
        }
    }
    assert_eq!(
        refusals,
        [ErrorCode::Forbidden, ErrorCode::AlreadyIdentified]
    );
    if notices == 0 {
        assert!(matches!(alice.recv().await, ServerMsg::ReauthNeeded { .. }));
    }
    // Still Alice's three seconds: closed when they run out.
    refused_as_unauthenticated(&mut alice).await;
}

/// Renewal of an hour-long token, with `--jwt-renew-before` set so that the notice is due a
/// few seconds after the hello (as a minute before `exp` would be, 59 minutes in): nothing at
/// first, then `reauth_needed`; a `reauth` with a bad token gets `unauthenticated` and the
/// socket still works; a good one gets `reauthed`.
#[actix_web::test]
async fn an_hour_long_token_is_renewed_when_its_notice_is_due() {
    let secret = secret_file();
    let server = TestServer::spawn(Config {
        auth: AuthMode::Jwt,
        jwt_secret_file: Some(secret.path().to_owned()),
        jwt_renew_before: Duration::from_secs(3600 - 3),
        heartbeat_interval: Duration::from_secs(20),
        client_timeout: Duration::from_secs(60),
        ..Config::default()
    });
    let hour = hs256(&claims("user-h", "Hana", 3600), SECRET.as_bytes());
    let (mut hana, _, notice) = hello_with_notice(&server, Some(hour)).await.unwrap();
    assert_eq!(
        notice, None,
        "a notice at once for a token with an hour left"
    );
    hana.expect_silence(Duration::from_millis(500)).await;
    match hana.recv().await {
        ServerMsg::ReauthNeeded { expires_in_ms } => {
            assert!(
                (3_590_000..=3_600_000).contains(&expires_in_ms),
                "{expires_in_ms}"
            );
        }
        other => panic!("expected reauth_needed, got {other:?}"),
    }
    hana.send(&ClientMsg::Reauth {
        jwt: "not.a.token".into(),
    })
    .await;
    assert_eq!(hana.recv_error().await, ErrorCode::Unauthenticated);
    hana.send(&ClientMsg::Say {
        room: "lobby".parse().unwrap(),
        text: "still here".try_into().unwrap(),
        client_id: "h-1".parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    })
    .await;
    assert!(matches!(hana.recv().await, ServerMsg::Said { .. }));
    let fresh = hs256(&claims("user-h", "Hana", 7200), SECRET.as_bytes());
    hana.send(&ClientMsg::Reauth { jwt: fresh }).await;
    assert!(matches!(hana.recv().await, ServerMsg::Reauthed { .. }));
}

/// Open mode: the browser token a user presents is a credential (whoever has it speaks as
/// them): the data directory, Redis's files and the logs hold at most its hash, and the logs
/// none of what was said. Both modes.
async fn browser_tokens_are_never_stored_or_logged(mode: Mode) {
    let redis = mode.into_redis();
    const WORDS: &str = "sentinel-open-words-Zq85";
    let token: shared::UserToken = "sentinel-browser-token-Zq86".parse().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--data-dir".to_owned(),
        data.path().to_str().unwrap().into(),
    ];
    if let Some(redis) = &redis {
        args.extend(["--redis".into(), redis.url()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let process = Process::start_logging(&args).await;
    let server = TestServer::at(process.addr);
    let mut chat = server.chat_socket().await;
    chat.identify("opal", token.clone(), &[], None).await;
    chat.say("lobby", WORDS, "o-1").await;
    chat.until("said", |e| matches!(e, ServerMsg::Said { .. }))
        .await;
    drop(chat);
    if let Some(redis) = &redis {
        redis.cmd(&["SAVE"]);
    }
    let logs = process.stop_and_read_logs().await;
    assert!(
        logs.contains("listening"),
        "the logs were not captured: {logs}"
    );
    assert!(!logs.contains(WORDS), "a message text is in the logs");
    assert!(
        !logs.contains(token.as_str()),
        "a browser token is in the logs"
    );
    let mut stored = files_under(data.path());
    for dir in redis.iter().flat_map(common::Redis::data_dirs) {
        stored.extend(files_under(dir));
    }
    assert!(!stored.is_empty());
    for file in &stored {
        let bytes = std::fs::read(file).unwrap();
        let secret = token.as_str().as_bytes();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret),
            "a browser token is stored in {}",
            file.display()
        );
    }
}

/// `POST /api/login` of `name` on `server`: (status, Retry-After if any).
async fn login_limited(server: &TestServer, name: &str, password: &str) -> (u16, Option<u64>) {
    let (status, head, _) = post_json(
        server.addr,
        paths::API_LOGIN,
        &credentials(name, password),
        None,
    )
    .await;
    let retry = common::http_transports::header(&head, "retry-after").map(|v| v.parse().unwrap());
    (status, retry)
}

/// The login limits are the cluster's, not a node's: attempts on one account alternating
/// between two nodes meet one limit (the sixth is 429 with a Retry-After of at most a minute),
/// and so do attempts from one address on different names (the 21st is the first 429).
#[actix_web::test]
async fn login_limits_hold_across_nodes() {
    let mode = Mode::Cluster(RedisServer::start().await);
    let (one, two) = servers(&mode).await;
    let two = two.unwrap();
    register(&one, "gail", "gail's password").await;
    for attempt in 0..5 {
        let node = if attempt % 2 == 0 { &one } else { &two };
        assert_eq!(
            login_limited(node, "gail", "guess guess").await.0,
            401,
            "attempt {attempt}"
        );
    }
    let (status, retry) = login_limited(&two, "gail", "gail's password").await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");

    // A fresh cluster for the address's count (the one above has counted seven already).
    let mode = Mode::Cluster(RedisServer::start().await);
    let (one, two) = servers(&mode).await;
    let two = two.unwrap();
    for attempt in 0..20 {
        let node = if attempt % 2 == 0 { &one } else { &two };
        let name = format!("stranger-{attempt}");
        assert_eq!(
            login_limited(node, &name, "guess guess").await.0,
            401,
            "attempt {attempt}"
        );
    }
    let (status, retry) = login_limited(&one, "stranger-21", "guess guess").await;
    assert_eq!(status, 429);
    assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");
}
