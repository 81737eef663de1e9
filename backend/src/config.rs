//! Server configuration: command-line flags, each also settable by an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;
use shared::auth::AuthMode;

/// What `backend --version` says after the name: the package's version and the commit it was
/// built from (`build.rs`: `CHAT_COMMIT`, else `git rev-parse`, else `unknown`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CHAT_COMMIT"),
    ")"
);

// Defaults as the strings clap parses, so `--help` and `Config::default()` cannot disagree.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// A ping every 10 s keeps NAT and proxy idle timers (often 30–60 s) from dropping quiet sockets.
const DEFAULT_HEARTBEAT_INTERVAL: &str = "10s";
/// Three missed heartbeats: long enough for a busy browser tab, short enough to free a dead slot.
const DEFAULT_CLIENT_TIMEOUT: &str = "30s";
/// 1 MiB: far above any chat message, small enough that one client cannot make the server hold
/// much memory for it.
const DEFAULT_MAX_FRAME_SIZE: &str = "1048576";
/// How long shutdown waits for open connections to finish their close handshake.
const DEFAULT_SHUTDOWN_TIMEOUT: &str = "5s";
/// Stays clear of the per-process open-file limit (20,000 here) with room for files and logs.
const DEFAULT_MAX_CONNECTIONS: &str = "10000";
/// One address may hold this many WebSockets: a household or a small office behind one NAT
/// address fits, one host cannot take all of `--max-connections`.
const DEFAULT_MAX_CONNECTIONS_PER_IP: &str = "256";
/// Handshakes per second (and burst) from one address: a whole office reloading at once fits,
/// a handshake flood from one host does not.
const DEFAULT_MAX_HANDSHAKES_PER_IP: &str = "50";
/// A login lasts a month, as in most chat apps; logging out or a password change ends it.
const DEFAULT_SESSION_TTL: &str = "30days";
/// One store read per logged-in socket per interval; a logout reaches every tab this soon.
const DEFAULT_SESSION_RECHECK: &str = "30s";
/// Time for the page to fetch a fresh token before the old one expires.
const DEFAULT_JWT_RENEW_BEFORE: &str = "60s";
/// About a page of text: enough for a chat message, small enough to keep rooms readable.
const DEFAULT_MAX_TEXT_CHARS: &str = "2000";
const DEFAULT_MAX_ROOMS: &str = "32";
/// Rooms one user may own: plenty for a person's projects and teams, few enough that one
/// user cannot fill the room list and the policy store with names.
const DEFAULT_MAX_OWNED_ROOMS: &str = "20";
/// A person types at most a few messages a second; bursts cover pastes and reconnect replays.
const DEFAULT_RATE_PER_SEC: &str = "10";
const DEFAULT_RATE_BURST: &str = "20";
/// Refused messages in a row before a flooding connection is closed with 1008.
const DEFAULT_RATE_STRIKES: &str = "50";
/// Frames queued for one connection before it counts as too slow and is dropped (1013):
/// several seconds of a busy room, at a few hundred bytes a frame.
const DEFAULT_OUTBOX_CAPACITY: &str = "256";
/// How long one `typing` shows; clients resend every couple of seconds while typing.
const DEFAULT_TYPING_TIMEOUT: &str = "5s";
/// Presence changes in a room go out at most this often (the first after a quiet spell at
/// once): a join storm costs each member one frame per window, not one per join.
const DEFAULT_PRESENCE_WINDOW: &str = "1s";
/// Above this many members, a connection hears of joins and leaves only among the members
/// it has loaded (and the count).
const DEFAULT_PRESENCE_DETAIL_LIMIT: &str = "1000";
/// A client gets this long to send its request headers (slowloris defence).
const DEFAULT_REQUEST_TIMEOUT: &str = "5s";
/// Relative to the working directory, like `dist`: `cargo run -p backend` keeps its history
/// in the checkout (git-ignored).
const DEFAULT_DATA_DIR: &str = "data";
const DEFAULT_MAX_UPLOAD_BYTES: &str = "10485760";
/// A request body (an upload, a `POST /send`) must have arrived this long after its headers:
/// a whole 10 MB image on a link of about 3 Mbit/s, while a body that stalls or trickles
/// holds its connection (and up to `--max-upload-bytes` of memory) no longer.
const DEFAULT_BODY_TIMEOUT: &str = "30s";
/// Uploads one address may start per minute (also the burst): a room's worth of people
/// behind one NAT sharing photos fits, a script filling the disk from one host does not.
const DEFAULT_MAX_UPLOADS_PER_IP: &str = "30";
/// 100 MiB per user per (UTC) day: a few dozen phone photos.
const DEFAULT_UPLOAD_QUOTA: &str = "104857600";
/// 10 GiB for the uploads directory, which shares its disk with the message store.
const DEFAULT_MAX_UPLOADS_TOTAL: &str = "10737418240";
/// 2 GiB: a team's years of messages with their files; spooled to disk, never in memory.
const DEFAULT_MAX_IMPORT_BYTES: &str = "2147483648";
/// How long an upload no message names is kept: time to write the message that uses it.
const DEFAULT_UPLOAD_GRACE: &str = "1h";
/// About a screenful of messages.
const DEFAULT_HISTORY_PAGE: &str = "50";
/// A client this many messages behind is better served by a fresh page than by a flood.
const DEFAULT_MAX_CATCH_UP: &str = "1000";
const DEFAULT_RETENTION_INTERVAL: &str = "1m";
/// Messages waiting to be stored before sends are refused: a few seconds of the store's
/// throughput, so a stalled disk shows as `overloaded` soon, not as unbounded memory.
const DEFAULT_MAX_STORE_QUEUE: &str = "16384";
/// Long enough for a laptop that slept overnight to retry its queued messages safely.
const DEFAULT_DEDUP_WINDOW: &str = "24h";
/// `--open-direct-window`'s default: a weekend and then some.
const DEFAULT_OPEN_DIRECT_WINDOW: &str = "7days";
/// `--push-contact`'s default (operators should set theirs).
const DEFAULT_PUSH_CONTACT: &str = "mailto:postmaster@localhost";
/// `--push-services`' default: the push services of Chromium-based browsers, Firefox,
/// Edge and Safari.
const DEFAULT_PUSH_SERVICES: &str =
    "fcm.googleapis.com,push.services.mozilla.com,notify.windows.com,push.apple.com";

/// The window of the attempt limits ([`Config::login_attempt_window`]'s default; auth's limits count in it), fixed from a counter's
/// first attempt: attempts refused meanwhile do not move its end.
pub const ATTEMPT_WINDOW: Duration = Duration::from_secs(60);

/// Everything the server can be told at start-up.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "backend",
    version = VERSION,
    about = "Real-time chat server (Actix-web + WebSockets)"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the bound address is printed on stdout).
    #[arg(long, env = "CHAT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Directory with the built frontend (`trunk build` output), served at `/`. Without it:
    /// the app inside this binary (a `cargo xtask dist` build), else `dist`.
    #[arg(long, env = "CHAT_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// How often the server pings each WebSocket (e.g. `10s`, `500ms`). Keep it at most half
    /// of the client timeout so one lost pong is not fatal.
    #[arg(long, env = "CHAT_HEARTBEAT_INTERVAL", default_value = DEFAULT_HEARTBEAT_INTERVAL,
          value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// A WebSocket from which nothing (not even a pong) arrived for this long is closed with
    /// code 4408.
    #[arg(long, env = "CHAT_CLIENT_TIMEOUT", default_value = DEFAULT_CLIENT_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub client_timeout: Duration,

    /// Largest accepted WebSocket frame in bytes, and largest message reassembled from
    /// fragments; anything bigger closes the socket with code 1009.
    #[arg(long, env = "CHAT_MAX_FRAME_SIZE", default_value = DEFAULT_MAX_FRAME_SIZE)]
    pub max_frame_size: usize,

    /// On SIGTERM/Ctrl-C, how long open connections get to finish before they are cut.
    #[arg(long, env = "CHAT_SHUTDOWN_TIMEOUT", default_value = DEFAULT_SHUTDOWN_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Number of worker threads (default: one per core).
    #[arg(long, env = "CHAT_WORKERS")]
    pub workers: Option<usize>,

    /// Origins (scheme://host:port) besides the server's own that may open WebSockets and
    /// use the API with credentials; comma-separated. None by default: the development flow
    /// names trunk serve's (`--allowed-origin http://127.0.0.1:3000,http://localhost:3000`,
    /// see the README), so that no build, release or debug, trusts a page it was not told of.
    /// `*` allows any origin (tests only: it disables the Cross-Site WebSocket Hijacking
    /// check). Requests without an Origin (non-browsers) pass.
    #[arg(
        long = "allowed-origin",
        env = "CHAT_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Open WebSockets (chat and echo) beyond which handshakes get 503.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value = DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// WebSockets one client address may hold open; more get 429. 0 turns the cap off (e.g.
    /// behind a proxy that caps connections itself). See `--trusted-proxy`.
    #[arg(long, env = "CHAT_MAX_CONNECTIONS_PER_IP", default_value = DEFAULT_MAX_CONNECTIONS_PER_IP)]
    pub max_connections_per_ip: usize,

    /// WebSocket handshakes one client address may make per second (also the burst); more get
    /// 429 with `Retry-After`. 0 turns the cap off.
    #[arg(long, env = "CHAT_MAX_HANDSHAKES_PER_IP", default_value = DEFAULT_MAX_HANDSHAKES_PER_IP)]
    pub max_handshakes_per_ip: u32,

    /// Reverse proxies (IP addresses, comma-separated) whose `X-Forwarded-For` names the
    /// client: behind them the per-address caps count the client, not the proxy. Without
    /// this, every client behind a proxy shares the proxy's address. Their
    /// `X-Forwarded-Proto` (https: `Secure` cookies) and `X-Forwarded-Host` (the Origin
    /// check) count too; from any other peer those headers are ignored.
    #[arg(
        long = "trusted-proxy",
        env = "CHAT_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Who may speak: `open` (anyone takes a free nickname), `accounts` (register and log in;
    /// the nickname is the account) or `jwt` (the embedding site's signed tokens; needs
    /// `--jwt-secret-file` or `--jwt-public-key-file`). See docs/SECURITY.md.
    #[arg(long, env = "CHAT_AUTH", default_value = "open", value_parser = parse_auth_mode)]
    pub auth: AuthMode,

    /// Server admins, comma-separated, who may moderate every room: account names (accounts
    /// mode) or token `sub`s (jwt mode). Not in open mode, where names prove nothing.
    #[arg(long = "admin", env = "CHAT_ADMINS", value_delimiter = ',')]
    pub admins: Vec<String>,

    /// How long a login (accounts mode) lasts.
    #[arg(long, env = "CHAT_SESSION_TTL", default_value = DEFAULT_SESSION_TTL,
          value_parser = humantime::parse_duration)]
    pub session_ttl: Duration,

    /// How often an open socket of a logged-in user (accounts mode) checks that its session
    /// still lives: a logout or a password change closes the session's other sockets (4401)
    /// within this time.
    #[arg(long, env = "CHAT_SESSION_RECHECK", default_value = DEFAULT_SESSION_RECHECK,
          value_parser = humantime::parse_duration)]
    pub session_recheck: Duration,

    /// JWT mode: how long before a token expires the socket is sent `reauth_needed` (at once
    /// for a token with less left).
    #[arg(long, env = "CHAT_JWT_RENEW_BEFORE", default_value = DEFAULT_JWT_RENEW_BEFORE,
          value_parser = humantime::parse_duration)]
    pub jwt_renew_before: Duration,
    /// The window of the login attempt limits (accounts mode): [`ATTEMPT_WINDOW`].
    /// Not a flag: tests shorten it rather than wait a minute.
    #[arg(skip = ATTEMPT_WINDOW)]
    pub login_attempt_window: Duration,

    /// JWT mode, HS256: a file holding the shared secret (at least 32 bytes).
    #[arg(long, env = "CHAT_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,

    /// JWT mode, RS256 or EdDSA: a file holding the PEM public key (its type picks the
    /// algorithm).
    #[arg(long, env = "CHAT_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// JWT mode: the issuer (`iss`) every token must name, e.g. `https://site.example`.
    /// Unset: `iss` is not checked. Set it when the key signs tokens for other services too.
    #[arg(long, env = "CHAT_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// JWT mode: the audience (`aud`, a string or one of a list) every token must name, e.g.
    /// `chat`. Unset: `aud` is not checked. Set it when the key signs tokens for other
    /// services too, so that a token meant for one of them is not accepted here.
    #[arg(long, env = "CHAT_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Longest chat or direct message, in characters; longer ones get a `too_long` error.
    #[arg(long, env = "CHAT_MAX_TEXT_CHARS", default_value = DEFAULT_MAX_TEXT_CHARS)]
    pub max_text_chars: u32,

    /// Most rooms one connection may be in at once.
    #[arg(long, env = "CHAT_MAX_ROOMS", default_value = DEFAULT_MAX_ROOMS)]
    pub max_rooms: u32,

    /// Most rooms one user may own: past it `create_room` gets `too_many_rooms`. Counts the
    /// rooms whose owner the user is (in cluster mode, made on any node).
    #[arg(long, env = "CHAT_MAX_OWNED_ROOMS", default_value = DEFAULT_MAX_OWNED_ROOMS)]
    pub max_owned_rooms: u32,

    /// Messages per second one chat connection may send, sustained (token bucket refill).
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value = DEFAULT_RATE_PER_SEC)]
    pub rate_per_sec: u32,

    /// Messages one chat connection may send in a burst (token bucket size).
    #[arg(long, env = "CHAT_RATE_BURST", default_value = DEFAULT_RATE_BURST)]
    pub rate_burst: u32,

    /// Rate-limited messages in a row after which the connection is closed with 1008.
    #[arg(long, env = "CHAT_RATE_STRIKES", default_value = DEFAULT_RATE_STRIKES)]
    pub rate_strikes: u32,

    /// Frames queued for one connection before it is dropped as a slow reader (close 1013).
    #[arg(long, env = "CHAT_OUTBOX_CAPACITY", default_value = DEFAULT_OUTBOX_CAPACITY)]
    pub outbox_capacity: usize,

    /// How long a `typing` lasts without a new one before others see it stop.
    #[arg(long, env = "CHAT_TYPING_TIMEOUT", default_value = DEFAULT_TYPING_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub typing_timeout: Duration,

    /// Presence changes in a room are sent at most once per this window, coalesced (the
    /// first change after a quiet window goes out at once).
    #[arg(long, env = "CHAT_PRESENCE_WINDOW", default_value = DEFAULT_PRESENCE_WINDOW,
          value_parser = humantime::parse_duration)]
    pub presence_window: Duration,

    /// In rooms with more members than this, a connection is told of joins and leaves only
    /// among the members it has loaded (`joined`'s page and the `members` pages after it);
    /// everyone still gets the count.
    #[arg(long, env = "CHAT_PRESENCE_DETAIL_LIMIT", default_value = DEFAULT_PRESENCE_DETAIL_LIMIT)]
    pub presence_detail_limit: u32,

    /// How long a client may take to send its request headers (including a WebSocket
    /// handshake) before the connection is dropped: stalled handshakes (slowloris) cannot
    /// hold connections open.
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT", default_value = DEFAULT_REQUEST_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// Directory of the message store (`chat.sqlite3`, SQLite in WAL mode); created if
    /// missing.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Where uploaded images are kept (content-addressed): `DATA_DIR/uploads` unless given.
    /// In cluster mode every node must see the same directory (a shared volume).
    #[arg(long, env = "CHAT_UPLOADS_DIR")]
    pub uploads_dir: Option<PathBuf>,

    /// Largest image upload, in bytes (larger ones are refused with 413).
    #[arg(long, env = "CHAT_MAX_UPLOAD_BYTES", default_value = DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: usize,

    /// Largest import (`POST /api/admin/import`: our export or a Slack export, a ZIP), in
    /// bytes; larger ones get 413. The body is spooled to a temporary file in `--data-dir`
    /// (it must have room for it) and must keep coming: a pause longer than
    /// `--body-timeout` ends it with 408.
    #[arg(long, env = "CHAT_MAX_IMPORT_BYTES", default_value = DEFAULT_MAX_IMPORT_BYTES)]
    pub max_import_bytes: u64,

    /// How long a request body (an upload, a `POST /send`) may take to arrive after the
    /// headers; a body that stalls or trickles past it gets 408 and its connection closed.
    #[arg(long, env = "CHAT_BODY_TIMEOUT", default_value = DEFAULT_BODY_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub body_timeout: Duration,

    /// Uploads one client address may start per minute (also the burst); more get 429 with
    /// `Retry-After`. An upload in progress also holds one of the address's
    /// `--max-connections-per-ip`. 0 turns the rate off.
    #[arg(long, env = "CHAT_MAX_UPLOADS_PER_IP", default_value = DEFAULT_MAX_UPLOADS_PER_IP)]
    pub max_uploads_per_ip: u32,

    /// Bytes one user may upload per UTC day (shared by every node in cluster mode); past it,
    /// 429 with `Retry-After` (until midnight UTC). 0 turns the quota off.
    #[arg(long, env = "CHAT_UPLOAD_QUOTA", default_value = DEFAULT_UPLOAD_QUOTA)]
    pub upload_quota: u64,

    /// Bytes the uploaded images may take in all (the uploads directory's objects); an upload
    /// of new bytes past it gets 507. 0 turns the cap off.
    #[arg(long, env = "CHAT_MAX_UPLOADS_TOTAL", default_value = DEFAULT_MAX_UPLOADS_TOTAL)]
    pub max_uploads_total: u64,

    /// An uploaded image that no stored message names this long after its upload (or its
    /// last use in a `say`) is removed, and so is one whose messages retention removed; the
    /// sweep runs every `--retention-interval`.
    #[arg(long, env = "CHAT_UPLOAD_GRACE", default_value = DEFAULT_UPLOAD_GRACE,
          value_parser = humantime::parse_duration)]
    pub upload_grace: Duration,

    /// Link previews (off by default): the server fetches each room message's first `http(s)`
    /// link and adds the page's title, description and image (copied into the room's
    /// uploads) to the message. Fetches refuse private, loopback, link-local and metadata
    /// addresses, re-check every redirect and are capped in size and time (docs/SECURITY.md);
    /// still, turning this on lets message authors make the server visit URLs of their
    /// choice on the public internet.
    #[arg(long, env = "CHAT_LINK_PREVIEWS")]
    pub link_previews: bool,

    /// TESTS ONLY, never in production: link previews may fetch loopback addresses on this one
    /// port (and only that port), so a test can serve the linked site on 127.0.0.1. In
    /// production it would open the server's own services to anyone who can post a link.
    #[arg(long, hide = true, value_name = "PORT")]
    pub link_previews_allow_loopback: Option<u16>,

    /// Cluster mode: keep history, sequence numbers, presence and nicknames in this Redis
    /// (e.g. `redis://127.0.0.1:6379/`), shared by every node using it, instead of the local
    /// SQLite store. A Redis Cluster works too: one of its nodes' URLs, or a comma-separated
    /// list. See docs/DEPLOYMENT.md for the Redis settings it relies on.
    #[arg(long, env = "CHAT_REDIS_URL")]
    pub redis: Option<String>,

    /// Messages sent on joining a room, and per "load older".
    #[arg(long, env = "CHAT_HISTORY_PAGE", default_value = DEFAULT_HISTORY_PAGE)]
    pub history_page: u32,

    /// Most missed messages one reconnect catch-up delivers; a client further behind is told
    /// so (`reset`) and gets the latest page.
    #[arg(long, env = "CHAT_MAX_CATCH_UP", default_value = DEFAULT_MAX_CATCH_UP)]
    pub max_catch_up: u32,

    /// Keep at most this many messages per room (default: all).
    #[arg(long, env = "CHAT_RETENTION_MESSAGES")]
    pub retention_messages: Option<u64>,

    /// Delete messages older than this, e.g. `30days` (default: keep).
    #[arg(long, env = "CHAT_RETENTION_AGE", value_parser = humantime::parse_duration)]
    pub retention_age: Option<Duration>,

    /// How often retention, and the sweep of unused uploads, run in the background.
    #[arg(long, env = "CHAT_RETENTION_INTERVAL", default_value = DEFAULT_RETENTION_INTERVAL,
          value_parser = humantime::parse_duration)]
    pub retention_interval: Duration,

    /// Cluster mode: a message is acknowledged, and published to the other nodes, only once
    /// this many replicas of its Redis primary have it (`WAIT`), so that a primary dying
    /// right after a send loses no acknowledged message when a replica takes over. 0 (the
    /// default): acknowledged once the primary has it (with `appendfsync always`, on its
    /// disk). See docs/DEPLOYMENT.md for the trade-off.
    #[arg(long, env = "CHAT_REDIS_WAIT_REPLICAS", default_value_t = 0)]
    pub redis_wait_replicas: u32,

    /// How long a send waits for `--redis-wait-replicas`; past it the send fails with
    /// `store_failed` (resending is safe: it is stored once). Between 1 ms and 4 s: Redis's
    /// `WAIT` with 0 waits for ever, and a command may take at most 5 s.
    #[arg(long, env = "CHAT_REDIS_WAIT_TIMEOUT", default_value = "1s",
          value_parser = wait_timeout)]
    pub redis_wait_timeout: Duration,

    /// A message resent with the same `client_id` within this window is stored and
    /// broadcast once; the retry gets the original acknowledgement.
    #[arg(long, env = "CHAT_DEDUP_WINDOW", default_value = DEFAULT_DEDUP_WINDOW,
          value_parser = humantime::parse_duration)]
    pub dedup_window: Duration,

    /// In `open` mode, how long after someone leaves a nickname a direct message to it is
    /// still stored for them (for their next visit); past it, or once someone else holds
    /// the name, `no_such_user`. In `accounts` and `jwt` modes a name always reaches its
    /// owner. See docs/PROTOCOL.md, "Direct messages to people who are away".
    #[arg(long, env = "CHAT_OPEN_DIRECT_WINDOW", default_value = DEFAULT_OPEN_DIRECT_WINDOW,
          value_parser = humantime::parse_duration)]
    pub open_direct_window: Duration,

    /// Web Push: how push services may reach the operator (the VAPID JWT's `sub`, RFC 8292):
    /// a `mailto:` or `https:` URL. Set it to yours.
    #[arg(long, env = "CHAT_PUSH_CONTACT", default_value = DEFAULT_PUSH_CONTACT)]
    pub push_contact: String,

    /// Web Push: the push services a browser's subscription may name (host names, each
    /// also covering the hosts under it; comma-separated). The server sends to nothing
    /// else: a subscription is a URL a user gives it. A loopback entry (`127.0.0.1`,
    /// `localhost`) also allows plain http, for development and tests.
    #[arg(long, env = "CHAT_PUSH_SERVICES", value_delimiter = ',',
          default_value = DEFAULT_PUSH_SERVICES)]
    pub push_services: Vec<String>,

    /// Cap on the database size in bytes; sends beyond it get `store_failed` (default: none).
    #[arg(long, env = "CHAT_MAX_STORE_BYTES")]
    pub max_store_bytes: Option<u64>,

    /// Messages waiting to be stored (a stalled disk) beyond which sends are refused with
    /// `overloaded`; nothing refused is stored or sent, and a retry is safe.
    #[arg(long, env = "CHAT_MAX_STORE_QUEUE", default_value = DEFAULT_MAX_STORE_QUEUE)]
    pub max_store_queue: usize,
}

fn parse_auth_mode(text: &str) -> Result<AuthMode, String> {
    match text {
        "open" => Ok(AuthMode::Open),
        "accounts" => Ok(AuthMode::Accounts),
        "jwt" => Ok(AuthMode::Jwt),
        other => Err(format!("{other:?} is not one of open, accounts, jwt")),
    }
}

impl Default for Config {
    /// The documented defaults, ignoring the environment (unlike [`Config::parse`]).
    fn default() -> Self {
        let duration =
            |text: &str| humantime::parse_duration(text).expect("default durations are valid");
        let number = |text: &str| -> u32 { text.parse().expect("default numbers are valid") };
        Self {
            listen: DEFAULT_LISTEN.parse().expect("default address is valid"),
            static_dir: None,
            heartbeat_interval: duration(DEFAULT_HEARTBEAT_INTERVAL),
            client_timeout: duration(DEFAULT_CLIENT_TIMEOUT),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE
                .parse()
                .expect("default size is valid"),
            shutdown_timeout: duration(DEFAULT_SHUTDOWN_TIMEOUT),
            workers: None,
            allowed_origins: Vec::new(),
            max_connections: number(DEFAULT_MAX_CONNECTIONS) as usize,
            max_connections_per_ip: number(DEFAULT_MAX_CONNECTIONS_PER_IP) as usize,
            max_handshakes_per_ip: number(DEFAULT_MAX_HANDSHAKES_PER_IP),
            trusted_proxies: Vec::new(),
            auth: AuthMode::Open,
            admins: Vec::new(),
            session_ttl: duration(DEFAULT_SESSION_TTL),
            session_recheck: duration(DEFAULT_SESSION_RECHECK),
            jwt_renew_before: duration(DEFAULT_JWT_RENEW_BEFORE),
            login_attempt_window: ATTEMPT_WINDOW,
            jwt_secret_file: None,
            jwt_public_key_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            max_text_chars: number(DEFAULT_MAX_TEXT_CHARS),
            max_rooms: number(DEFAULT_MAX_ROOMS),
            max_owned_rooms: number(DEFAULT_MAX_OWNED_ROOMS),
            rate_per_sec: number(DEFAULT_RATE_PER_SEC),
            rate_burst: number(DEFAULT_RATE_BURST),
            rate_strikes: number(DEFAULT_RATE_STRIKES),
            outbox_capacity: number(DEFAULT_OUTBOX_CAPACITY) as usize,
            typing_timeout: duration(DEFAULT_TYPING_TIMEOUT),
            presence_window: duration(DEFAULT_PRESENCE_WINDOW),
            presence_detail_limit: number(DEFAULT_PRESENCE_DETAIL_LIMIT),
            request_timeout: duration(DEFAULT_REQUEST_TIMEOUT),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            uploads_dir: None,
            max_upload_bytes: number(DEFAULT_MAX_UPLOAD_BYTES) as usize,
            max_import_bytes: DEFAULT_MAX_IMPORT_BYTES
                .parse()
                .expect("default size is valid"),
            body_timeout: duration(DEFAULT_BODY_TIMEOUT),
            max_uploads_per_ip: number(DEFAULT_MAX_UPLOADS_PER_IP),
            upload_quota: DEFAULT_UPLOAD_QUOTA.parse().expect("default size is valid"),
            max_uploads_total: DEFAULT_MAX_UPLOADS_TOTAL
                .parse()
                .expect("default size is valid"),
            upload_grace: duration(DEFAULT_UPLOAD_GRACE),
            link_previews: false,
            link_previews_allow_loopback: None,
            redis: None,
            history_page: number(DEFAULT_HISTORY_PAGE),
            max_catch_up: number(DEFAULT_MAX_CATCH_UP),
            retention_messages: None,
            retention_age: None,
            retention_interval: duration(DEFAULT_RETENTION_INTERVAL),
            redis_wait_replicas: 0,
            redis_wait_timeout: Duration::from_secs(1),
            dedup_window: duration(DEFAULT_DEDUP_WINDOW),
            open_direct_window: duration(DEFAULT_OPEN_DIRECT_WINDOW),
            push_contact: DEFAULT_PUSH_CONTACT.to_owned(),
            push_services: DEFAULT_PUSH_SERVICES
                .split(',')
                .map(str::to_owned)
                .collect(),
            max_store_bytes: None,
            max_store_queue: number(DEFAULT_MAX_STORE_QUEUE) as usize,
        }
    }
}

impl Config {
    /// Rejects combinations that would make the server misbehave, with a message for the user.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() {
            return Err("--heartbeat-interval must be greater than zero".into());
        }
        if self.client_timeout <= self.heartbeat_interval {
            return Err(format!(
                "--client-timeout ({}) must be longer than --heartbeat-interval ({}), or every \
                 client would time out between two pings",
                humantime::format_duration(self.client_timeout),
                humantime::format_duration(self.heartbeat_interval),
            ));
        }
        if self.max_frame_size == 0 {
            return Err("--max-frame-size must be greater than zero".into());
        }
        if self.workers == Some(0) {
            return Err("--workers must be at least 1".into());
        }
        for (flag, value) in [
            ("--max-connections", self.max_connections),
            ("--max-text-chars", self.max_text_chars as usize),
            ("--max-rooms", self.max_rooms as usize),
            ("--max-owned-rooms", self.max_owned_rooms as usize),
            ("--rate-per-sec", self.rate_per_sec as usize),
            ("--rate-burst", self.rate_burst as usize),
            ("--outbox-capacity", self.outbox_capacity),
            ("--history-page", self.history_page as usize),
            ("--max-catch-up", self.max_catch_up as usize),
            ("--max-store-queue", self.max_store_queue),
        ] {
            if value == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        let jwt_keys = [&self.jwt_secret_file, &self.jwt_public_key_file]
            .iter()
            .filter(|file| file.is_some())
            .count();
        match (self.auth, jwt_keys) {
            (AuthMode::Jwt, 1) => {}
            (AuthMode::Jwt, _) => {
                return Err(
                    "--auth jwt needs exactly one of --jwt-secret-file (HS256) and \
                            --jwt-public-key-file (RS256 or EdDSA)"
                        .into(),
                );
            }
            (_, 0) => {}
            (_, _) => {
                return Err("--jwt-secret-file and --jwt-public-key-file need --auth jwt".into());
            }
        }
        if (self.jwt_issuer.is_some() || self.jwt_audience.is_some()) && self.auth != AuthMode::Jwt
        {
            return Err("--jwt-issuer and --jwt-audience need --auth jwt".into());
        }
        if !self.admins.is_empty() && self.auth == AuthMode::Open {
            return Err(
                "--admin needs --auth accounts or --auth jwt: in open mode anyone may take \
                 any free nickname"
                    .into(),
            );
        }
        if self
            .admins
            .iter()
            .any(|name| name.parse::<shared::Nick>().is_err() && self.auth == AuthMode::Accounts)
        {
            return Err("--admin names must be valid account names".into());
        }
        if self.session_recheck.is_zero() {
            return Err("--session-recheck must be greater than zero".into());
        }
        if self.login_attempt_window.is_zero() {
            return Err("the login attempt window must be greater than zero".into());
        }
        if self.session_ttl.is_zero() {
            return Err("--session-ttl must be greater than zero".into());
        }
        if self.retention_interval.is_zero() {
            return Err("--retention-interval must be greater than zero".into());
        }
        if self.body_timeout.is_zero() {
            return Err("--body-timeout must be greater than zero".into());
        }
        if self.retention_messages == Some(0) {
            return Err(
                "--retention-messages must be at least 1 (leave it out to keep all)".into(),
            );
        }
        Ok(())
    }

    /// The directory of uploaded images.
    pub fn uploads(&self) -> PathBuf {
        self.uploads_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("uploads"))
    }

    /// The store's settings from the flags.
    pub fn store_options(&self) -> crate::engine::vocabulary::StoreOptions {
        crate::engine::vocabulary::StoreOptions {
            page: self.history_page,
            max_catch_up: self.max_catch_up,
            retention_messages: self.retention_messages,
            retention_age: self.retention_age,
            retention_interval: self.retention_interval,
            dedup_window: self.dedup_window,
            max_bytes: self.max_store_bytes,
            wait_replicas: self.redis_wait_replicas,
            wait_timeout: self.redis_wait_timeout,
            reach: match self.auth {
                AuthMode::Open => crate::engine::vocabulary::Reach::Within(self.open_direct_window),
                AuthMode::Accounts | AuthMode::Jwt => crate::engine::vocabulary::Reach::Always,
            },
            ..crate::engine::vocabulary::StoreOptions::default()
        }
    }

    /// The limits announced to chat clients in `welcome`.
    pub fn limits(&self) -> shared::Limits {
        shared::Limits {
            max_text_chars: self.max_text_chars,
            max_rooms: self.max_rooms,
            rate_per_sec: self.rate_per_sec,
            rate_burst: self.rate_burst,
            typing_timeout_ms: u32::try_from(self.typing_timeout.as_millis()).unwrap_or(u32::MAX),
            max_reactions: shared::Reaction::MAX_PER_MESSAGE,
            max_reactions_per_user: shared::Reaction::MAX_PER_USER,
            max_owned_rooms: self.max_owned_rooms,
        }
    }

    /// Whether a browser page from `origin` may open a socket to a server reached as `host`.
    pub fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let same_origin = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        same_origin
            || self
                .allowed_origins
                .iter()
                .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    }
}

/// `--redis-wait-timeout`: a duration of at least 1 ms and at most 4 s.
fn wait_timeout(text: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if timeout < Duration::from_millis(1) || timeout > Duration::from_secs(4) {
        return Err("must be between 1ms and 4s (Redis's WAIT with 0 waits for ever)".to_owned());
    }
    Ok(timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marks the child process of [`defaults_match_the_flags_without_environment`].
    const CHILD: &str = "BACKEND_CONFIG_TEST_CHILD";

    #[test]
    fn defaults_match_the_flags_without_environment() {
        if std::env::var_os(CHILD).is_some() {
            // In a process without any CHAT_* variable: every field, not a sample.
            let parsed = Config::try_parse_from(["backend"]).unwrap();
            assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
            assert!(Config::default().validate().is_ok());
            return;
        }
        // The environment may set CHAT_* (a developer's shell, CI): run this test again in a
        // child process without them, instead of skipping the comparison.
        let mut child = std::process::Command::new(std::env::current_exe().unwrap());
        child.args([
            "--exact",
            "config::tests::defaults_match_the_flags_without_environment",
        ]);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("CHAT_") {
                child.env_remove(name);
            }
        }
        let output = child.env(CHILD, "1").output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran nothing: {stdout}"
        );
    }

    #[test]
    fn link_previews_are_off_unless_asked_and_the_test_flag_is_hidden() {
        let off = Config::try_parse_from(["backend"]).unwrap();
        assert!(!off.link_previews && off.link_previews_allow_loopback.is_none());
        let on = Config::try_parse_from([
            "backend",
            "--link-previews",
            "--link-previews-allow-loopback",
            "8081",
        ])
        .unwrap();
        assert!(on.link_previews);
        assert_eq!(on.link_previews_allow_loopback, Some(8081));
        let help = <Config as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("--link-previews"));
        assert!(!help.contains("allow-loopback"), "{help}");
    }

    #[test]
    fn flags_parse_human_durations() {
        let c = Config::try_parse_from([
            "backend",
            "--heartbeat-interval",
            "250ms",
            "--client-timeout",
            "1s",
        ])
        .unwrap();
        assert_eq!(c.heartbeat_interval, Duration::from_millis(250));
        assert_eq!(c.client_timeout, Duration::from_secs(1));
    }

    #[test]
    fn origin_check_allows_same_origin_and_listed_ones_only() {
        let config = Config::default();
        assert!(config.origin_allowed("http://chat.example:8080", "chat.example:8080"));
        assert!(!config.origin_allowed("http://evil.example", "chat.example:8080"));
        assert!(!config.origin_allowed("null", "chat.example:8080"));
        // No other origin by default, not even a development server's.
        assert!(!config.origin_allowed("http://127.0.0.1:3000", "127.0.0.1:8080"));
        assert!(!config.origin_allowed("http://localhost:3000", "localhost:8080"));
        let dev = Config::try_parse_from([
            "backend",
            "--allowed-origin",
            "http://127.0.0.1:3000,http://localhost:3000",
        ])
        .unwrap();
        assert!(dev.origin_allowed("http://127.0.0.1:3000", "127.0.0.1:8080"));
        assert!(dev.origin_allowed("http://localhost:3000", "localhost:8080"));
        let any = Config {
            allowed_origins: vec!["*".into()],
            ..Config::default()
        };
        assert!(any.origin_allowed("http://evil.example", "chat.example:8080"));
    }

    #[test]
    fn jwt_claim_flags_need_jwt_mode() {
        let c = Config {
            jwt_audience: Some("chat".into()),
            ..Config::default()
        };
        let err = c.validate().unwrap_err();
        assert!(err.contains("--jwt-audience"), "{err}");
    }

    #[test]
    fn timeout_shorter_than_interval_is_refused() {
        let c = Config {
            heartbeat_interval: Duration::from_secs(10),
            client_timeout: Duration::from_secs(5),
            ..Config::default()
        };
        let err = c.validate().unwrap_err();
        assert!(err.contains("--client-timeout"), "{err}");
    }
}
