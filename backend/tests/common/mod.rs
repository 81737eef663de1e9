//! A real server on 127.0.0.1:0 and an independent WebSocket client (tokio-tungstenite), the way
//! a browser would see it. Every wait is bounded so a broken server fails a test, never hangs it.

#![allow(dead_code, missing_docs)]
// each test binary uses its own subset
// Test helpers: a panic is the failure report (allow-unwrap-in-tests covers #[test] fns only).
#![allow(clippy::unwrap_used)]

pub mod http_transports;
pub mod redis_cluster;
pub mod redis_server;
pub mod tcp_proxy;

use std::{future::Future, net::SocketAddr, time::Duration};

use backend::Config;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};
use tokio_util::sync::CancellationToken;

/// Which engine a test's servers run, for the suites whose rules hold in both modes: one
/// node (SQLite), or cluster mode on a `redis-server` of the test's own, or on a Redis Cluster
/// of its own (three primaries, three replicas).
pub enum Mode {
    /// One node, SQLite.
    Single,
    /// Nodes sharing this Redis.
    Cluster(redis_server::RedisServer),
    /// Nodes sharing this Redis Cluster.
    Sharded(redis_cluster::RedisCluster),
}

impl Mode {
    /// The Redis a node of this mode uses (`--redis`), if any.
    pub fn redis_url(&self) -> Option<String> {
        match self {
            Self::Single => None,
            Self::Cluster(redis) => Some(redis.url()),
            Self::Sharded(cluster) => Some(cluster.url()),
        }
    }

    /// `config` for a node of this mode.
    pub fn config(&self, config: Config) -> Config {
        Config {
            redis: self.redis_url(),
            ..config
        }
    }

    /// Every `redis-server` of the test (none, one, or a cluster's six).
    pub fn redis_servers(&self) -> Vec<&redis_server::RedisServer> {
        match self {
            Self::Single => Vec::new(),
            Self::Cluster(redis) => vec![redis],
            Self::Sharded(cluster) => cluster.nodes.iter().collect(),
        }
    }

    /// The `redis-server` holding `key` (on a Redis Cluster, the primary of its slot now), to
    /// read or write it as a test.
    pub fn redis_for(&self, key: &str) -> Option<&redis_server::RedisServer> {
        match self {
            Self::Single => None,
            Self::Cluster(redis) => Some(redis),
            Self::Sharded(cluster) => Some(cluster.primary_of(key)),
        }
    }

    /// The test's Redis, if any (to inspect or change what it holds).
    pub fn into_redis(self) -> Option<Redis> {
        match self {
            Self::Single => None,
            Self::Cluster(redis) => Some(Redis::One(redis)),
            Self::Sharded(cluster) => Some(Redis::Sharded(cluster)),
        }
    }
}

/// A test's Redis of either kind, once its [`Mode`] was taken apart.
pub enum Redis {
    /// One `redis-server`.
    One(redis_server::RedisServer),
    /// A Redis Cluster.
    Sharded(redis_cluster::RedisCluster),
}

impl Redis {
    /// `--redis` for a node.
    pub fn url(&self) -> String {
        match self {
            Self::One(redis) => redis.url(),
            Self::Sharded(cluster) => cluster.url(),
        }
    }

    /// The directories its data lives in.
    pub fn data_dirs(&self) -> Vec<&std::path::Path> {
        match self {
            Self::One(redis) => vec![redis.data_dir()],
            Self::Sharded(cluster) => cluster.nodes.iter().map(|n| n.data_dir()).collect(),
        }
    }

    /// SIGKILLs every server and starts it again on the same port and data (a cluster forms
    /// again from its nodes' files).
    pub async fn restart(&mut self) {
        match self {
            Self::One(redis) => redis.restart().await,
            Self::Sharded(cluster) => cluster.restart().await,
        }
    }

    /// Runs one command (its first argument after the name being its key, on a cluster:
    /// sent to the primary of that key's slot) and returns the reply.
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        match self {
            Self::One(redis) => redis.cmd(args),
            Self::Sharded(cluster) => cluster
                .primary_of(args.get(1).copied().unwrap_or(""))
                .cmd(args),
        }
    }
}

/// Runs each `async fn name(mode: Mode)` of the invoking file as three tests from the same
/// body: `single::name`, `cluster::name` (with a `redis-server` of its own) and
/// `sharded::name` (with a Redis Cluster of its own). The one way the suites run both modes.
#[allow(unused_macros)] // each test binary uses its own subset
macro_rules! in_both_modes {
    ($($name:ident),* $(,)?) => {
        mod single {
            $(#[actix_web::test]
            async fn $name() {
                super::$name($crate::common::Mode::Single).await
            })*
        }
        mod cluster {
            $(#[actix_web::test]
            async fn $name() {
                let redis = $crate::common::redis_server::RedisServer::start().await;
                super::$name($crate::common::Mode::Cluster(redis)).await
            })*
        }
        mod sharded {
            $(#[actix_web::test]
            async fn $name() {
                let cluster = $crate::common::redis_cluster::RedisCluster::start().await;
                super::$name($crate::common::Mode::Sharded(cluster)).await
            })*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use in_both_modes;

/// How long any single expected event may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A backend serving on a free loopback port; shut down when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    server: Option<actix_web::rt::task::JoinHandle<std::io::Result<()>>>,
    /// The message store's directory, when the server made its own (removed on drop).
    data: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts `backend::run` with one worker on 127.0.0.1:0. A config with the default
    /// `data_dir` gets a fresh temporary one, so tests never share (or litter) a database;
    /// pass a directory of your own to restart a server on the same data.
    pub fn spawn(config: Config) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shutdown = CancellationToken::new();
        let data = (config.data_dir == Config::default().data_dir)
            .then(|| tempfile::tempdir().expect("a temporary data directory"));
        let config = Config {
            workers: Some(1),
            data_dir: data
                .as_ref()
                .map_or(config.data_dir.clone(), |dir| dir.path().to_owned()),
            ..config
        };
        let server = actix_web::rt::spawn(backend::run(listener, config, shutdown.clone()));
        Self {
            addr,
            shutdown,
            server: Some(server),
            data,
        }
    }

    /// The directory of the server's message store (`chat.sqlite3`).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.data
            .as_ref()
            .expect("a server with its own temporary data directory")
            .path()
            .to_owned()
    }

    /// A handle for a server started elsewhere (e.g. the real binary) at `addr`.
    pub fn at(addr: SocketAddr) -> Self {
        Self {
            addr,
            shutdown: CancellationToken::new(),
            server: None,
            data: None,
        }
    }

    /// The default configuration with timings short enough for tests (the timeout leaves a
    /// loaded CI machine plenty of slack to answer pings).
    pub fn fast_config() -> Config {
        Config {
            heartbeat_interval: Duration::from_millis(100),
            client_timeout: Duration::from_millis(1000),
            shutdown_timeout: Duration::from_secs(1),
            ..Config::default()
        }
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    /// Opens a WebSocket to `path`, failing the test if the handshake does not complete.
    pub async fn connect(&self, path: &str) -> Client {
        let (client, response) = within(tokio_tungstenite::connect_async(self.ws_url(path)))
            .await
            .expect("websocket handshake");
        assert_eq!(response.status(), 101);
        client
    }

    /// Cancels the shutdown token and waits for the server to finish draining.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        let server = self
            .server
            .take()
            .expect("a server started by spawn, not yet stopped");
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("server stops within 10 s")
            .expect("server task did not panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A server for tests whose clients read only when the test asks and send as fast as it
/// asks: heartbeats rarer than a step (a ping would restart a client's wait for the next
/// event), no rate limit in the way; with `redis`, a cluster node.
pub fn patient_config(redis: Option<String>) -> Config {
    Config {
        redis,
        heartbeat_interval: Duration::from_secs(20),
        client_timeout: Duration::from_secs(60),
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        ..Config::default()
    }
}

/// Awaits `future`, failing the test after [`STEP`] with the line that waited.
#[track_caller]
pub fn within<F: Future>(future: F) -> impl Future<Output = F::Output> {
    // Not an `async fn`: those cannot know their caller, and "timed out" alone does not say
    // which of a test's many waits it was.
    let caller = std::panic::Location::caller();
    async move {
        tokio::time::timeout(STEP, future)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for the server (the wait at {caller})"))
    }
}

/// Polls `check` every 50 ms until it holds, failing the test after 5 s: for effects the server
/// applies a moment after the client's action (a freed slot, a gauge going down).
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(what, STEP, check).await;
}

/// [`eventually`] with a limit of its own (forming a Redis Cluster, a failover).
pub async fn eventually_within<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The next data or close message, skipping the server's heartbeat pings.
pub async fn next_message(client: &mut Client) -> Message {
    // One deadline for the whole wait: heartbeats must not keep a silent wait going.
    within(next_message_whenever(client)).await
}

/// [`next_message`] with a limit of its own, for a client the test cuts off on purpose for
/// longer than [`STEP`] (a stalled node).
pub async fn next_message_within(client: &mut Client, limit: Duration) -> Message {
    tokio::time::timeout(limit, next_message_whenever(client))
        .await
        .unwrap_or_else(|_| panic!("nothing from the server within {limit:?}"))
}

/// The next data or close message, however long it takes.
async fn next_message_whenever(client: &mut Client) -> Message {
    loop {
        let message = client
            .next()
            .await
            .expect("stream ended")
            .expect("websocket error");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}

/// Sends `message` and returns what comes back.
pub async fn round_trip(client: &mut Client, message: Message) -> Message {
    within(client.send(message)).await.expect("send");
    next_message(client).await
}

/// Expects a close frame with `code`, then the end of the connection.
pub async fn expect_close(client: &mut Client, code: u16) {
    match next_message(client).await {
        Message::Close(Some(frame)) => assert_eq!(u16::from(frame.code), code, "{frame:?}"),
        other => panic!("expected close {code}, got {other:?}"),
    }
    // After the close frame nothing but the end of the stream may follow.
    loop {
        match within(client.next()).await {
            None | Some(Err(_)) => break,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => panic!("data after close: {other:?}"),
        }
    }
}

/// Sends a raw HTTP/1.1 request and returns (status, body). Raw on purpose: it is what a
/// misconfigured proxy or a curious `curl` sends, with no client library smoothing it over.
/// Reads one response (by `Content-Length`), so keep-alive connections do not stall the test.
pub async fn http_request(addr: SocketAddr, request: &str) -> (u16, String) {
    let (status, _, body) = http_exchange(addr, request).await;
    (status, body)
}

/// Like [`http_request`], also returning the response head (status line and headers).
pub async fn http_exchange(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = within(TcpStream::connect(addr)).await.expect("connect");
    within(stream.write_all(request.as_bytes()))
        .await
        .expect("write request");
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(parsed) = parse_response(&response) {
            return parsed;
        }
        let n = within(stream.read(&mut chunk))
            .await
            .expect("read response");
        assert!(n > 0, "connection closed mid-response: {response:?}");
        response.extend_from_slice(&chunk[..n]);
    }
}

/// What came back for a request whose body was not all sent.
#[derive(Debug)]
pub struct Stalled {
    pub status: u16,
    pub head: String,
    pub body: String,
    /// How long after the request the answer came.
    pub after: Duration,
    /// Whether the server then closed the connection (within [`STEP`]).
    pub closed: bool,
}

/// Sends `request` (request line and headers, ending in the blank line, its `Content-Length`
/// promising more than it sends) and `body` (the part of the body sent), then stops sending
/// and waits (within [`STEP`]) for the answer, and for the connection to end: a client that
/// stalls its body, or never meant to send it.
pub async fn stalled_request(addr: SocketAddr, request: &str, body: &[u8]) -> Stalled {
    let mut stream = within(TcpStream::connect(addr)).await.expect("connect");
    let started = tokio::time::Instant::now();
    within(stream.write_all(request.as_bytes()))
        .await
        .expect("write request");
    within(stream.write_all(body)).await.expect("write body");
    let mut response = Vec::new();
    let mut chunk = [0u8; 4096];
    let (status, head, body) = loop {
        if let Some(parsed) = parse_response(&response) {
            break parsed;
        }
        let n = within(stream.read(&mut chunk))
            .await
            .expect("read response");
        assert!(n > 0, "connection closed before an answer: {response:?}");
        response.extend_from_slice(&chunk[..n]);
    };
    let after = started.elapsed();
    let closed = loop {
        match tokio::time::timeout(STEP, stream.read(&mut chunk)).await {
            Err(_) => break false,
            Ok(Ok(0) | Err(_)) => break true,
            Ok(Ok(_)) => {}
        }
    };
    Stalled {
        status,
        head,
        body,
        after,
        closed,
    }
}

/// (status, head, body) once `bytes` hold a whole response with a `Content-Length`.
fn parse_response(bytes: &[u8]) -> Option<(u16, String, String)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    if matches!(status, 101 | 204 | 304) {
        // What follows are WebSocket frames (101), or nothing: these have no body.
        return Some((status, head.to_owned(), String::new()));
    }
    let length: usize = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })?;
    (body.len() >= length).then(|| (status, head.to_owned(), body[..length].to_owned()))
}

/// One HTTP exchange with a binary-safe body (an upload, a download): (status, head, body).
pub async fn binary_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut response))
        .await
        .expect("a response in time")
        .unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, response[split + 4..].to_vec())
}

/// The header naming `nick` (by its test token) on an upload request in open mode.
pub fn token_header(nick: &str) -> String {
    format!(
        "{}: {}",
        shared::paths::TOKEN_HEADER,
        token_for(nick).as_str()
    )
}

/// `POST path` with a JSON `body` (and the session `cookie`): (status, head, body).
pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &str,
    cookie: Option<&str>,
) -> (u16, String, String) {
    let cookie = cookie
        .map(|c| format!("Cookie: {}={c}\r\n", shared::paths::SESSION_COOKIE))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n{cookie}\r\n{body}",
        body.len()
    );
    http_exchange(addr, &request).await
}

/// The value of the session cookie a response `head` sets, if it sets one.
pub fn set_cookie(head: &str) -> Option<String> {
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .find_map(|(_, value)| {
            value
                .trim()
                .strip_prefix(&format!("{}=", shared::paths::SESSION_COOKIE))
                .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
        })
}

/// `GET path` with `Connection: close`.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http_request(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"),
    )
    .await
}

/// A `hello` from `nick` with its test token ([`token_for`]), joining `rooms`, resuming
/// nothing.
pub fn hello(nick: &str, rooms: &[&str]) -> shared::ClientMsg {
    shared::ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token_for(nick),
        rooms: rooms.iter().map(|r| r.parse().unwrap()).collect(),
        since: std::collections::BTreeMap::new(),
        epochs: std::collections::BTreeMap::new(),
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    }
}

/// A chat client speaking `chat.v1.json` through tokio-tungstenite.
pub struct Chat {
    pub ws: Client,
}

/// What a `hello` that resumes brought for one room: the `history` (mode, messages, epoch).
pub struct Resumed {
    pub chat: Chat,
    pub mode: shared::HistoryMode,
    pub messages: Vec<shared::RoomMessage>,
    pub epoch: shared::Epoch,
}

/// Says hello as `nick` in `room`, continuing from `since` in `epoch` when given, and reads
/// up to the room's `history`. Live messages cannot come before it (they wait for it).
pub async fn resume(
    server: &TestServer,
    nick: &str,
    room: &str,
    since: Option<(u64, shared::Epoch)>,
) -> Resumed {
    let mut chat = server.chat_socket().await;
    let room_name: shared::RoomName = room.parse().unwrap();
    let (since, epochs) = match since {
        Some((seq, epoch)) => (
            [(room_name.clone(), seq)].into_iter().collect(),
            [(room_name.clone(), epoch)].into_iter().collect(),
        ),
        None => Default::default(),
    };
    chat.send(&shared::ClientMsg::Hello {
        nick: nick.parse().unwrap(),
        token: token_for(nick),
        rooms: vec![room_name],
        since,
        epochs,
        direct_since: None,
        direct_epoch: None,
        jwt: None,
    })
    .await;
    loop {
        match chat.recv_any().await {
            shared::ServerMsg::History {
                mode,
                messages,
                epoch,
                ..
            } => {
                return Resumed {
                    chat,
                    mode,
                    messages,
                    epoch,
                };
            }
            shared::ServerMsg::Said { .. } => panic!("a live message before the history"),
            _ => {}
        }
    }
}

/// A token unique to `name`, as a browser would keep in localStorage.
/// A `presence` event in a line for assertions: the room, then `+name` for each arrival and
/// `-name` for each departure (`"lobby +bob -carol"`); anything else in debug form.
pub fn presence(event: &shared::ServerMsg) -> String {
    match event {
        shared::ServerMsg::Presence {
            room, joined, left, ..
        } => {
            let mut line = room.as_str().to_owned();
            for nick in joined {
                line += &format!(" +{nick}");
            }
            for nick in left {
                line += &format!(" -{nick}");
            }
            line
        }
        other => format!("{other:?}"),
    }
}

/// Whether `event` is a `presence` telling that `who` joined.
pub fn arrived(event: &shared::ServerMsg, who: &str) -> bool {
    matches!(event, shared::ServerMsg::Presence { joined, .. }
        if joined.iter().any(|n| n.as_str() == who))
}

/// Whether `event` is a `presence` telling that `who` left.
pub fn departed(event: &shared::ServerMsg, who: &str) -> bool {
    matches!(event, shared::ServerMsg::Presence { left, .. }
        if left.iter().any(|n| n.as_str() == who))
}

pub fn token_for(name: &str) -> shared::UserToken {
    let token = format!("token-for-{}", name.to_lowercase().replace(' ', "-"));
    shared::UserToken::try_from(format!("{token:0<16}")).expect("valid test token")
}

impl TestServer {
    /// Opens `/ws` offering the chat subprotocol, without identifying.
    pub async fn chat_socket(&self) -> Chat {
        self.chat_socket_with_cookie(None).await
    }

    /// Like [`TestServer::chat_socket`], sending the session cookie `cookie` (accounts mode).
    pub async fn chat_socket_with_cookie(&self, cookie: Option<&str>) -> Chat {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let mut request = self
            .ws_url(shared::paths::WS_CHAT)
            .into_client_request()
            .unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            shared::SUBPROTOCOL.parse().unwrap(),
        );
        if let Some(cookie) = cookie {
            request.headers_mut().insert(
                "Cookie",
                format!("{}={cookie}", shared::paths::SESSION_COOKIE)
                    .parse()
                    .unwrap(),
            );
        }
        let (ws, response) = within(tokio_tungstenite::connect_async(request))
            .await
            .expect("chat handshake");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap()),
            Some(shared::SUBPROTOCOL)
        );
        Chat { ws }
    }

    /// Connects and says hello as `nick` (token derived from `nick`), consuming the welcome
    /// the `joined` of each room (the default room when `rooms` is empty) and the history that
    /// follows.
    pub async fn chat_as(&self, nick: &str, rooms: &[&str]) -> Chat {
        self.chat_with_token(nick, token_for(nick), rooms).await
    }

    /// Like [`TestServer::chat_as`] with an explicit token (a second tab shares it).
    pub async fn chat_with_token(
        &self,
        nick: &str,
        token: shared::UserToken,
        rooms: &[&str],
    ) -> Chat {
        let mut chat = self.chat_socket().await;
        chat.identify(nick, token, rooms, None).await;
        chat
    }
}

impl Chat {
    /// Says hello (with `jwt` in JWT mode) and consumes the welcome, the `joined` of each room
    /// (the default room when `rooms` is empty) and the history that follows. Returns the
    /// nickname the welcome names.
    pub async fn identify(
        &mut self,
        nick: &str,
        token: shared::UserToken,
        rooms: &[&str],
        jwt: Option<String>,
    ) -> shared::Nick {
        let chat = self;
        let rooms: Vec<shared::RoomName> = rooms.iter().map(|r| r.parse().unwrap()).collect();
        let expected_joins = rooms.len().max(1);
        chat.send(&shared::ClientMsg::Hello {
            nick: nick.parse().unwrap(),
            token,
            rooms,
            since: std::collections::BTreeMap::new(),
            direct_since: None,
            epochs: Default::default(),
            direct_epoch: None,
            jwt,
        })
        .await;
        let user = match chat.recv().await {
            shared::ServerMsg::Welcome { user, .. } => user,
            other => panic!("expected welcome, got {other:?}"),
        };
        // A joined and a history per room (in that order), and one direct_history. Single
        // node: all joined first, then direct_history, then the histories. Cluster mode
        // (separate logs, read concurrently; the member list comes with the history): in any
        // order, each room's joined right before its history.
        let mut joined = std::collections::BTreeSet::new();
        let (mut directs, mut histories) = (0, 0);
        while directs + histories < 1 + expected_joins {
            match chat.recv_any().await {
                shared::ServerMsg::Joined { room, .. } => {
                    joined.insert(room);
                }
                shared::ServerMsg::DirectHistory { .. } => directs += 1,
                shared::ServerMsg::History { room, .. } => {
                    assert!(
                        joined.contains(&room),
                        "history of {room} before its joined"
                    );
                    histories += 1;
                }
                // Cluster mode: others' presence in a room whose history came already.
                shared::ServerMsg::Presence { .. } | shared::ServerMsg::Typing { .. } => {}
                other => panic!("expected joined, direct_history or history, got {other:?}"),
            }
        }
        assert_eq!((directs, histories), (1, expected_joins));
        user
    }

    pub async fn send(&mut self, message: &shared::ClientMsg) {
        self.send_raw(&shared::encode(message).unwrap()).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        within(self.ws.send(Message::text(text)))
            .await
            .expect("send");
    }

    /// The next server event, skipping heartbeats and the `history` / `direct_history` that
    /// follow every join (tests/history.rs checks those; elsewhere they are noise).
    pub async fn recv(&mut self) -> shared::ServerMsg {
        loop {
            match self.recv_any().await {
                shared::ServerMsg::History { .. } | shared::ServerMsg::DirectHistory { .. } => {}
                other => return other,
            }
        }
    }

    /// The next server event, whatever it is, except heartbeats, `read_positions` and the
    /// `sharing` after it (tests/reads.rs and tests/seen.rs check those with
    /// [`Chat::recv_all`] and [`Chat::until`]; elsewhere they are noise).
    pub async fn recv_any(&mut self) -> shared::ServerMsg {
        loop {
            match self.recv_all().await {
                shared::ServerMsg::ReadPositions { .. } | shared::ServerMsg::Sharing { .. } => {}
                other => return other,
            }
        }
    }

    /// The next server event, whatever it is (heartbeats skipped).
    pub async fn recv_all(&mut self) -> shared::ServerMsg {
        match next_message(&mut self.ws).await {
            Message::Text(text) => shared::decode(&text)
                .unwrap_or_else(|err| panic!("undecodable server message {text}: {err}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The first event (within [`STEP`]) that `wanted` accepts, skipping the others; fails
    /// the test naming `what` if none comes.
    pub async fn until(
        &mut self,
        what: &str,
        wanted: impl Fn(&shared::ServerMsg) -> bool,
    ) -> shared::ServerMsg {
        let found = tokio::time::timeout(STEP, async {
            loop {
                let event = self.recv_all().await;
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    /// Sends `request` and returns the code of the error it gets (it must get one; other
    /// events on the way are skipped).
    pub async fn refused(&mut self, request: shared::ClientMsg) -> shared::ErrorCode {
        self.send(&request).await;
        match self
            .until("an error", |e| matches!(e, shared::ServerMsg::Error { .. }))
            .await
        {
            shared::ServerMsg::Error { code, .. } => code,
            _ => unreachable!("until returns what it waited for"),
        }
    }

    /// The next event, which must be an error; returns its code.
    pub async fn recv_error(&mut self) -> shared::ErrorCode {
        match self.recv().await {
            shared::ServerMsg::Error { code, .. } => code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// Asserts nothing but heartbeats arrives for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return,
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Ok(other) => panic!("expected silence, got {other:?}"),
            }
        }
    }

    /// Says `text` in `room` with client id `client_id`.
    pub async fn say(&mut self, room: &str, text: &str, client_id: &str) {
        self.send(&shared::ClientMsg::Say {
            room: room.parse().unwrap(),
            text: text.try_into().unwrap(),
            client_id: client_id.parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        })
        .await;
    }
}

/// A WebSocket spoken by hand over TCP, for tests where a client library would get in the way
/// (tungstenite answers pings by itself, so it can never play a silent peer, and it cannot
/// stop reading while the server writes).
pub struct RawSocket {
    pub stream: TcpStream,
    /// Bytes read but not yet parsed into frames.
    buffer: Vec<u8>,
}

/// A server frame: (fin, opcode, payload).
pub type ServerFrame = (bool, u8, Vec<u8>);

/// Frame opcodes (RFC 6455 5.2).
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

impl RawSocket {
    /// Performs the opening handshake on `path`, offering `protocol` if given.
    pub async fn connect(addr: SocketAddr, path: &str, protocol: Option<&str>) -> Self {
        let stream = within(TcpStream::connect(addr)).await.expect("connect");
        Self::handshake(stream, addr, path, protocol).await
    }

    /// Like [`RawSocket::connect`] with a receive buffer of about `bytes` (set before the
    /// connection exists, so the window the server sees is small from the start): a peer that
    /// stops reading then stops the server's writes after a few kilobytes, whatever the host's
    /// TCP defaults.
    pub async fn connect_with_receive_buffer(
        addr: SocketAddr,
        path: &str,
        protocol: Option<&str>,
        bytes: u32,
    ) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = within(socket.connect(addr)).await.expect("connect");
        Self::handshake(stream, addr, path, protocol).await
    }

    async fn handshake(
        mut stream: TcpStream,
        addr: SocketAddr,
        path: &str,
        protocol: Option<&str>,
    ) -> Self {
        let protocol = protocol
            .map(|p| format!("Sec-WebSocket-Protocol: {p}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{protocol}\r\n"
        );
        within(stream.write_all(request.as_bytes()))
            .await
            .expect("send handshake");
        // Read the 101 response byte by byte so no frame after it is consumed.
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let byte = within(stream.read_u8()).await.expect("handshake response");
            head.push(byte);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Sends one masked text frame (clients must mask, RFC 6455 5.3).
    pub async fn send_text(&mut self, text: &str) {
        self.send_bytes(&masked_frame(true, opcode::TEXT, text.as_bytes()))
            .await;
    }

    /// Writes `bytes` (frames built by hand) as they are.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        within(self.stream.write_all(bytes)).await.expect("send");
    }

    /// The next server frame, heartbeat pings included; `None` when the connection ended
    /// (closed or reset). Fails the test if nothing comes within [`STEP`].
    pub async fn next_frame(&mut self) -> Option<ServerFrame> {
        loop {
            if let Some((frame, used)) = parse_frame(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            let n = match within(self.stream.read(&mut chunk)).await {
                Ok(n) => n,
                Err(_) => return None, // reset by the server
            };
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads server frames until a close frame arrives (within `limit`); returns its code.
    pub async fn read_until_close(&mut self, limit: Duration) -> u16 {
        tokio::time::timeout(limit, async {
            loop {
                match self.next_frame().await {
                    Some((_, opcode::CLOSE, payload)) => {
                        assert!(payload.len() >= 2, "close frame without a code");
                        return u16::from_be_bytes([payload[0], payload[1]]);
                    }
                    Some(_) => {}
                    None => panic!("connection ended without a close frame"),
                }
            }
        })
        .await
        .expect("a close frame in time")
    }
}

/// One client frame, built byte by byte: `rsv` in the three reserved bits, masked with `mask`
/// unless it is `None` (which clients must not do, RFC 6455 5.3: for conformance tests).
pub fn client_frame(
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// One ordinary client frame: no reserved bits, masked as clients must.
pub fn masked_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(fin, 0, opcode, Some([0x12, 0x34, 0x56, 0x78]), payload)
}

/// Parses one unmasked server frame from the front of `bytes`: the frame and the bytes it took.
pub fn parse_frame(bytes: &[u8]) -> Option<(ServerFrame, usize)> {
    let first = *bytes.first()?;
    let second = *bytes.get(1)?;
    assert_eq!(second & 0x80, 0, "server frames must not be masked (5.1)");
    let (len, header) = match second & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(bytes.get(2..10)?);
            (u64::from_be_bytes(n) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = bytes.get(header..header + len)?.to_vec();
    Some(((first & 0x80 != 0, first & 0x0f, payload), header + len))
}

/// How many messages of `len` bytes a peer that stops reading must be sent before every buffer
/// between the server and it is full several times over, on this host: three times the most
/// the kernel lets a socket queue for sending (`tcp_wmem`'s maximum), plus 64 more for the
/// receiver's small buffer and the server's own (actix's write buffer, an outbox).
pub fn messages_to_overflow(len: usize) -> usize {
    let tcp_wmem_max: usize = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    3 * tcp_wmem_max / len + 64
}

/// An echo peer that sends and never reads: once its socket is full, its session waits on a
/// write and cannot say goodbye, so only `--shutdown-timeout` ends a drain (and requests during
/// it can be seen refused).
pub async fn stuck_echo_socket(addr: SocketAddr) -> RawSocket {
    let mut stuck =
        RawSocket::connect_with_receive_buffer(addr, shared::paths::WS_ECHO, None, 4096).await;
    // More than the buffers on the way back can hold, several times.
    let payload = vec![0u8; 60_000];
    let frames: Vec<u8> = (0..messages_to_overflow(payload.len()))
        .flat_map(|_| masked_frame(true, opcode::BINARY, &payload))
        .collect();
    // The server stops reading once its echoes back up: the write stalls, which is the sign.
    let written = tokio::time::timeout(
        Duration::from_secs(2),
        tokio::io::AsyncWriteExt::write_all(&mut stuck.stream, &frames),
    )
    .await;
    assert!(written.is_err(), "the server read everything: not stuck");
    stuck
}

/// The resident memory of process `pid`, in kB (`VmRSS`).
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// How many sockets process `pid` holds open: its socket descriptors, counting descriptors of
/// the same socket once (each worker thread gets its own descriptor of the listener, some
/// time after start-up).
pub fn socket_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_link(entry.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with("socket:"))
        .collect::<std::collections::HashSet<_>>()
        .len()
}

/// The real `backend` binary, started on 127.0.0.1:0; killed (SIGKILL) when dropped if still
/// running.
pub struct Process {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    /// The data directory it was given when the test named none (dropped with it).
    _data: Option<tempfile::TempDir>,
}

impl Process {
    /// Starts the binary with `--listen 127.0.0.1:0` and `args`, and reads the address it
    /// prints.
    pub async fn start(args: &[&str]) -> Self {
        Self::spawn(args, "warn", std::process::Stdio::null()).await
    }

    /// Like [`Process::start`] with `RUST_LOG=info` and stderr (the logs) kept for reading
    /// from `child.stderr`.
    pub async fn start_logging(args: &[&str]) -> Self {
        Self::spawn(args, "info", std::process::Stdio::piped()).await
    }

    async fn spawn(args: &[&str], log: &str, stderr: std::process::Stdio) -> Self {
        use std::io::BufRead as _;
        // A fresh data directory unless the test names one: never the working directory's
        // `data/` (tests must not share, or leave, a database).
        let data = (!args.contains(&"--data-dir")).then(|| tempfile::tempdir().unwrap());
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_backend"));
        if let Some(dir) = &data {
            command.arg("--data-dir").arg(dir.path());
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", log)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the backend binary");
        let stdout = child.stdout.take().unwrap();
        let line = within(tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .map(|_| line)
        }))
        .await
        .unwrap()
        .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            _data: data,
        }
    }

    /// Sends `signal` (e.g. "TERM", "KILL") with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Waits (bounded) for the process to exit.
    /// Stops a process started with [`Process::start_logging`] with SIGTERM and returns
    /// everything it logged (stderr, read to its end), once it has exited.
    pub async fn stop_and_read_logs(mut self) -> String {
        self.signal("TERM");
        let mut logs = String::new();
        let mut stderr = self.child.stderr.take().expect("a process started logging");
        std::io::Read::read_to_string(&mut stderr, &mut logs).unwrap();
        self.wait().await;
        logs
    }

    pub async fn wait(mut self) -> std::process::ExitStatus {
        let mut child = std::mem::replace(
            &mut self.child,
            // A finished placeholder, so Drop has nothing left to kill.
            std::process::Command::new("true").spawn().unwrap(),
        );
        within(tokio::task::spawn_blocking(move || child.wait()))
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
