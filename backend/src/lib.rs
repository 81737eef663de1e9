//! The chat server: an Actix-web app whose WebSocket sessions (actix-ws) echo and relay
//! messages typed by the `shared` crate, and which also serves the built browser app.
//!
//! [`run`] is the whole server: `main.rs` only parses [`Config`], sets up logging, binds the
//! listener and calls it; integration tests call it on `127.0.0.1:0`.
//!
//! # Layout
//! Grouped from the top down. `cargo xtask test` checks that no module imports, directly or
//! around a circle, one that imports it (`use` lines, signatures and paths written in
//! function bodies alike).
//! - HTTP: [`routes`] only wires every endpoint to its handler: `GET /ws` (chat),
//!   `GET /ws/echo`, `/healthz`, `/readyz`, `/metrics`, CSP reports, and [`served_app`]: the
//!   browser app, from this binary (a `cargo xtask dist` build: `build.rs` writes the table
//!   of its files) or a directory.
//!   [`fallback`]: `GET /sse`, `GET /poll`, `POST /send` (and echo twins) over
//!   `fallback::registry` (their sessions, no HTTP) and, in cluster mode, the relay to other
//!   nodes. [`uploads`]: its HTTP half (`/api/uploads`) over its store half (sniffing,
//!   content-addressed files, quotas) and the sweep. [`auth`]: the account API (`auth::http`)
//!   over accounts, session cookies and JWT. [`previews`]: link previews (`--link-previews`):
//!   a message's first link fetched off the request path, behind request-forgery guards.
//!   [`admin`]: the admin console's API (`/api/admin/*`, server admins only), whose import
//!   goes to [`transfer`] (exports and imports: readers of each source, the one writer).
//! - The state floor under all HTTP: [`state`] ([`state::AppState`], what every handler
//!   reads), [`admission`] (not shutting down, Origin, per-address caps, a connection slot,
//!   the login gate, running an accepted session) and [`request`] (what a request says of
//!   its client, trusting `X-Forwarded-*` only from `--trusted-proxy`).
//! - The chat core (no HTTP request or response in it; it speaks WebSocket frames and close
//!   codes through [`link`]): [`session`] (a connection's loop: decode,
//!   rate-limit, forward to the hub; the one core of every transport, behind [`link`]),
//!   [`echo`], [`hub`] ([`hub::HubHandle`] and the hub task, the one owner of users, rooms
//!   and typing: the chat rules), [`policy`] (room policies: the rules and their store).
//! - The engine wing: [`engine`] ([`engine::Engine`], the hub's one door to where messages
//!   live and who is where, the same questions and events in both modes):
//!   `engine::vocabulary` (what is asked and answered, [`engine::EngineError`]),
//!   `engine::rules` (what both engines apply), `engine::single` (one node: `engine::sqlite`,
//!   SQLite on its own thread with group commit, and `engine::presence`, in memory) and
//!   `engine::redis` (cluster mode: Lua scripts, a stream per room, ordered feeds, shared
//!   presence) over [`redis_set`] (the node's one set of Redis connections, which the
//!   policies, accounts, uploads and relay share).
//! - Below: [`rate`] (token buckets), [`outgoing`] (a broadcast encoded once; the chat
//!   response body), [`ws`]
//!   (WebSocket limits, reassembly, heartbeat, close codes), [`error`], [`metrics`],
//!   [`per_address`], [`rooms`] (the membership registry), [`names`] (nicknames: NFC,
//!   look-alikes), [`ids`], [`body`], [`headers`] (security headers, CSP), [`config`].
//!
//! A `say` travels: browser → [`routes`] (`/ws`, admitted by [`admission`]) → [`session`]
//! (decoded, rate-limited) → [`hub`] (may this user speak here?) → [`engine::Engine::append`]
//! → `engine::sqlite` stores it (or `engine::redis` runs `send_room.lua`) → an
//! [`engine::Event`] back to the hub → [`outgoing::Frame`] encoded once → each member's
//! outbox → their sockets.
//!
//! # Shutdown
//! Cancelling the token passed to [`run`] makes every session send close `1001` (going away)
//! and `/readyz` and new WebSocket upgrades answer 503, while the listener stays open. Once
//! every session has ended, or [`Config::shutdown_timeout`] has passed, the HTTP server stops:
//! requests still in flight get one more second.

pub mod admin;
pub mod admission;
pub mod auth;
pub mod body;
pub mod config;
pub mod echo;
pub mod engine;
pub mod error;
pub mod fallback;
pub mod headers;
pub mod hub;
pub mod ids;
pub mod link;
pub mod metrics;
pub mod names;
pub mod outgoing;
pub mod per_address;
pub mod policy;
pub mod previews;
pub mod push;
pub mod rate;
pub mod redis_set;
pub mod request;
pub mod rooms;
pub mod routes;
pub mod served_app;
pub mod session;
pub mod state;
pub mod transfer;
pub mod uploads;
pub mod ws;

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, middleware};
pub use config::Config;
use tokio_util::sync::CancellationToken;

/// How long a finished connection lingers before the server closes it: not at all.
///
/// Zero turns actix-http's linger off: when a WebSocket response ends (after the close
/// handshake, whoever started it, or a silent peer's heartbeat close) the dispatcher flushes
/// and shuts the TCP connection down at once, as RFC 6455 5.5.1 asks. With any linger,
/// actix-http 3.20 arms its timer from a clock it updates every 500 ms, so the connection
/// stayed open 100–600 ms after the close (and, below 500 ms, often forever: a deadline
/// already past when armed never wakes the connection again). What lingering protects (a
/// client whose unread request body would turn the close into a reset) does not apply:
/// every response here either reads its request fully or is a WebSocket that has finished
/// its close handshake. Checked by
/// `rfc5_5_1_the_server_closes_the_tcp_connection_after_a_close_the_client_started`.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::ZERO;

/// After the sessions have ended (or `--shutdown-timeout` has passed), how long HTTP
/// requests still in flight get before the workers stop. Whole seconds: actix's unit.
const HTTP_DRAIN_SECS: u64 = 1;

/// The request log: a line per request with the client's address, method, path, version,
/// status, size and time.
///
/// The path is logged without its query: the HTTP fallbacks carry their session id there
/// (`/poll?session=…`), the capability to speak in that session, and logs are read by more
/// people, and kept longer, than the session lives (issue #27). The address is the client's
/// as the per-address caps count it (behind a `--trusted-proxy` its `X-Forwarded-For`), not
/// actix's `%a`, which believes `X-Forwarded-For` and `Forwarded` from anyone.
fn request_log(trusted: Vec<std::net::IpAddr>) -> middleware::Logger {
    middleware::Logger::new("%{client}xi \"%{request}xi\" %s %b %Dms")
        .custom_request_replace("client", move |req| {
            request::client_address(req.request(), &trusted).to_string()
        })
        .custom_request_replace("request", |req| {
            format!("{} {} {:?}", req.method(), req.path(), req.version())
        })
        .log_target("http")
}

/// Serves the app on `listener` until `shutdown` is cancelled and the drain has finished.
///
/// Fails at once, naming the file, if the message store under [`Config::data_dir`] cannot be
/// opened (unwritable directory, corrupt database, newer schema).
///
/// Must be awaited inside an Actix system (`#[actix_web::main]` / `#[actix_web::test]`).
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new().map_err(std::io::Error::other)?);
    let per_address =
        per_address::PerAddress::new(config.max_connections_per_ip, config.max_handshakes_per_ip)
            .with_uploads(config.max_uploads_per_ip);
    // Cluster mode: the node's one set of Redis connections, for everything that uses Redis.
    let redis = match &config.redis {
        Some(url) => Some(
            redis_set::RedisSet::open(url)
                .await
                .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let auth = Arc::new(auth::Auth::open(&config, redis.as_ref()).map_err(std::io::Error::other)?);
    // Cluster mode: HTTP sessions' ids name their node, and requests for another node's
    // sessions go there through Redis.
    let node = match redis {
        Some(_) => Some(fallback::relay::new_node_name().map_err(std::io::Error::other)?),
        None => None,
    };
    let fallback = Arc::new(fallback::registry::Registry::new(node));
    let relay = match &redis {
        Some(redis) => Some(
            fallback::relay::Relay::start(redis, Arc::clone(&fallback), shutdown.clone())
                .map_err(std::io::Error::other)?,
        ),
        None => None,
    };
    let uploads = Arc::new(uploads::store::Uploads::open(&config, redis.as_ref()));
    let imports =
        transfer::ledger::Imports::open(&config, redis.as_ref()).map_err(std::io::Error::other)?;
    let push = push::Push::open(&config, redis.as_ref(), shutdown.clone())
        .await
        .map_err(std::io::Error::other)?;
    let previews =
        previews::Previewer::start(&config, Arc::clone(&uploads), &metrics, shutdown.clone());
    let state = state::AppState {
        hub: hub::HubHandle::spawn(
            &config,
            redis.as_ref(),
            Arc::clone(&metrics),
            push.notifier.clone(),
            previews,
            shutdown.clone(),
        )
        .map_err(std::io::Error::other)?,
        push,
        metrics,
        config: Arc::new(config),
        shutdown: shutdown.clone(),
        connections: Arc::default(),
        sessions: tokio_util::task::TaskTracker::new(),
        per_address,
        auth,
        fallback,
        relay,
        uploads,
        imports,
    };
    // After the hub: the sweep reads the message store the hub has opened (and migrated).
    state.uploads.spawn_sweep(&state.config, shutdown.clone());
    let sessions = state.sessions.clone();
    let config = Arc::clone(&state.config);
    let app = served_app::App::choose(config.static_dir.as_deref());
    tracing::info!(from = %app.describe(), "serving the app");
    let policy = headers::content_security_policy(&app.index_html());
    let mut server = HttpServer::new(move || {
        let state = state.clone();
        App::new()
            .wrap(headers::default_headers(&policy))
            .wrap(request_log(state.config.trusted_proxies.clone()))
            .configure(|cfg| routes::configure(cfg, state, &app))
    })
    // Shutdown is ours to decide (main wires SIGTERM/Ctrl-C to the token), so that sessions
    // say goodbye with 1001 before the server stops accepting.
    // After a WebSocket close handshake actix would wait for the peer to drop the TCP
    // connection (default 1 s); RFC 6455 5.5.1 has the server close first (see the constant).
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    // A chat frame is small and should leave now: with Nagle's algorithm (the OS default,
    // which actix keeps) a frame written while an earlier one is unacknowledged waits for
    // that acknowledgement.
    .tcp_nodelay(true)
    .client_request_timeout(config.request_timeout)
    .disable_signals()
    .shutdown_timeout(HTTP_DRAIN_SECS)
    .listen(listener)?;
    if let Some(workers) = config.workers {
        server = server.workers(workers);
    }
    let server = server.run();
    let handle = server.handle();
    let drain = config.shutdown_timeout;
    actix_web::rt::spawn(async move {
        shutdown.cancelled().await;
        // The drain: every session sends 1001 and ends, while the listener stays open so that
        // clients reconnecting (and a load balancer polling /readyz) get a 503 instead of a
        // refused connection. A session stuck on a peer that does not read is cut at the
        // timeout.
        tracing::info!("shutting down: closing sockets with 1001, draining connections");
        sessions.close();
        if tokio::time::timeout(drain, sessions.wait()).await.is_err() {
            tracing::warn!(
                sessions = sessions.len(),
                "sessions still open after --shutdown-timeout; cutting them"
            );
        }
        handle.stop(true).await;
    });
    server.await
}
