//! HTTP routes: the WebSocket endpoints, health check and the built frontend.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use actix_files::{Files, NamedFile};
use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    dev::{ServiceRequest, ServiceResponse, fn_service},
    http::{
        StatusCode,
        header::{self, ContentType},
    },
    web,
};
use shared::paths;
use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument as _;

use crate::{
    Config,
    auth::{Auth, Gate, http::session_cookie},
    echo,
    hub::HubHandle,
    metrics::{Endpoint, Metrics, Rejection},
    outgoing,
    per_address::{self, AddressSlot, PerAddress, Refusal},
    session,
    ws::WsLink,
};

/// What every handler may read; shared by all workers.
#[derive(Clone)]
pub struct AppState {
    /// The server's configuration.
    pub config: Arc<Config>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// The chat hub.
    pub hub: HubHandle,
    /// Open WebSockets (chat and echo), for `--max-connections`.
    pub connections: Arc<AtomicUsize>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Every running WebSocket session, so a shutdown can wait for them to say goodbye.
    pub sessions: TaskTracker,
    /// The per-client-address caps.
    pub per_address: PerAddress,
    /// Who may speak (`--auth`).
    pub auth: Arc<Auth>,
    /// The running sessions of the HTTP transports (SSE, long-polling).
    pub fallback: Arc<crate::fallback::Registry>,
    /// Cluster mode: the way to other nodes' HTTP sessions.
    pub relay: Option<Arc<crate::fallback::relay::Relay>>,
    /// Image uploads: their directory, quotas and sweep.
    pub uploads: Arc<crate::uploads::Uploads>,
}

/// One of `--max-connections` WebSocket slots (and one of its address's), given back (and
/// counted) when the session ends.
pub(crate) struct Slot {
    counter: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    endpoint: Endpoint,
    _address: AddressSlot,
}

impl Slot {
    fn take(state: &AppState, endpoint: Endpoint, address: AddressSlot) -> Option<Self> {
        let previous = state.connections.fetch_add(1, Ordering::AcqRel);
        if previous >= state.config.max_connections {
            state.connections.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self {
            counter: Arc::clone(&state.connections),
            metrics: Arc::clone(&state.metrics),
            endpoint,
            _address: address,
        })
    }

    /// The handshake succeeded: from here on the slot is an open connection.
    fn opened(self) -> Open {
        self.metrics.connected(self.endpoint);
        Open(self)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Counts a session's end; created only once the session runs.
struct Open(Slot);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.metrics.disconnected(self.0.endpoint);
    }
}

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState) {
    let static_dir = state.config.static_dir.clone();
    let config = Arc::clone(&state.config);
    cfg.app_data(web::Data::new(state))
        .route(paths::HEALTHZ, web::get().to(healthz))
        .route(paths::READYZ, web::get().to(readyz))
        .route(paths::METRICS, web::get().to(metrics))
        .route(paths::CSP_REPORT, web::post().to(csp_report))
        .configure(|cfg| crate::auth::http::configure(cfg, &config))
        .configure(|cfg| crate::uploads::configure(cfg, &config))
        .configure(crate::fallback::configure)
        .service(
            web::resource(paths::WS_ECHO)
                .route(web::get().to(ws_echo))
                .default_service(web::to(socket_method_not_allowed)),
        )
        .service(
            web::resource(paths::WS_CHAT)
                .route(web::get().to(ws_chat))
                .default_service(web::to(socket_method_not_allowed)),
        );
    configure_static(cfg, &static_dir);
}

/// Any method but GET on a WebSocket path: 405 naming the one that works (RFC 9110 15.5.6
/// asks for `Allow`), rather than falling through to the static files.
async fn socket_method_not_allowed(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    state.metrics.rejected(Rejection::NotWebSocket);
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET"))
        .content_type(ContentType::plaintext())
        .body(format!(
            "{} expects a WebSocket upgrade, which is a GET request, not {}\n",
            req.path(),
            req.method()
        ))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body("ok\n")
}

/// Ready to take connections: not shutting down, and the chat hub is running.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.shutdown.is_cancelled() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    if !state.hub.is_running() {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "chat hub stopped\n".into());
    }
    if !state.hub.engine_ready() {
        // Cluster mode with Redis out of reach: sends would be refused, so a load balancer
        // should prefer another node.
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Redis unreachable\n".into(),
        );
    }
    plain(StatusCode::OK, "ready\n".into())
}

/// The largest CSP report read (a browser's is well under 2 KB).
const CSP_REPORT_BYTES: usize = 8 * 1024;

/// The CSP reports' log line: at most one a second, across the process (the counter counts
/// them all).
static CSP_LOG: Throttle = Throttle(std::sync::atomic::AtomicU64::new(0));

/// Lets one event through per second.
struct Throttle(std::sync::atomic::AtomicU64);

impl Throttle {
    /// Whether this second's one event may pass (the first caller in a new second wins).
    fn allow(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = crate::store::now_ms() / 1000;
        let last = self.0.load(Ordering::Relaxed);
        last != now
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// A browser's report of something the Content-Security-Policy refused (`report-uri`): counted
/// (`chat_csp_reports_total`, which the release check requires to stay 0) and logged, at most
/// one line a second so that nobody can fill the logs through it. Answered 204 whatever the
/// body says: nothing is stored.
async fn csp_report(state: web::Data<AppState>, mut payload: web::Payload) -> HttpResponse {
    // Read like the other bodies a stranger may send: bounded in size and in time.
    let Ok(body) =
        crate::body::read(&mut payload, CSP_REPORT_BYTES, state.config.body_timeout).await
    else {
        return crate::body::closing(HttpResponse::BadRequest().finish(), payload);
    };
    state.metrics.csp_reports.inc();
    if CSP_LOG.allow() {
        let report: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let report = report.get("csp-report").unwrap_or(&report);
        let field = |name: &str| {
            let value = report
                .get(name)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            // A URL's query may carry someone's words or ids: the path is enough to fix a page.
            let value = value.split(['?', '#']).next().unwrap_or_default();
            value.chars().take(160).collect::<String>()
        };
        tracing::warn!(
            directive = %field("effective-directive"),
            blocked = %field("blocked-uri"),
            page = %field("document-uri"),
            "the Content-Security-Policy refused something in a browser"
        );
    }
    HttpResponse::NoContent().finish()
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

/// A handshake refused before the upgrade: its status and the body saying why.
pub(crate) struct Refused {
    status: StatusCode,
    body: String,
    retry_after: Option<u32>,
}

impl Refused {
    pub(crate) fn response(self) -> HttpResponse {
        let mut response = plain(self.status, self.body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        response
    }
}

/// The 403 (counted, logged) for a page whose Origin may not connect here: Cross-Site
/// WebSocket Hijacking, and the same allow-list for the HTTP fallbacks' requests. `None` when
/// it may. Browsers always send Origin on cross-origin requests and WebSocket handshakes;
/// other clients are not a CSWSH risk.
pub(crate) fn foreign_origin(req: &HttpRequest, state: &AppState) -> Option<Refused> {
    let origin = req.headers().get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("(not text)");
    let host = requested_host(req, &state.config.trusted_proxies);
    if state.config.origin_allowed(origin, &host) {
        return None;
    }
    tracing::info!(origin, "refused a page from a foreign origin");
    state.metrics.rejected(Rejection::Origin);
    Some(Refused {
        status: StatusCode::FORBIDDEN,
        body: format!(
            "origin {origin} may not connect here (same origin or --allowed-origin only)\n"
        ),
        retry_after: None,
    })
}

/// The checks every WebSocket handshake passes first: not shutting down, an allowed Origin
/// (Cross-Site WebSocket Hijacking), the client address's caps, and a free connection slot.
pub(crate) fn admit(
    req: &HttpRequest,
    state: &AppState,
    endpoint: Endpoint,
) -> Result<Slot, Refused> {
    let refuse = |reason, status, body: String| {
        state.metrics.rejected(reason);
        Err(Refused {
            status,
            body,
            retry_after: None,
        })
    };
    if state.shutdown.is_cancelled() {
        return refuse(
            Rejection::ShuttingDown,
            StatusCode::SERVICE_UNAVAILABLE,
            "server is shutting down\n".into(),
        );
    }
    if let Some(refused) = foreign_origin(req, state) {
        return Err(refused);
    }
    let address = client_address(req, &state.config.trusted_proxies);
    let address = match state
        .per_address
        .admit(address, tokio::time::Instant::now())
    {
        Ok(address) => address,
        Err(Refusal::Connections) => {
            return refuse(
                Rejection::AddressConnections,
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many connections from {address} (at most {}); close some first\n",
                    state.config.max_connections_per_ip
                ),
            );
        }
        // `admit` paces handshakes; the upload rate is `admit_upload`'s.
        Err(Refusal::Handshakes | Refusal::Uploads) => {
            state.metrics.rejected(Rejection::AddressHandshakes);
            return Err(Refused {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: format!(
                    "too many handshakes from {address} (at most {} a second); retry later\n",
                    state.config.max_handshakes_per_ip
                ),
                retry_after: Some(1),
            });
        }
    };
    match Slot::take(state, endpoint, address) {
        Some(slot) => Ok(slot),
        None => refuse(
            Rejection::Capacity,
            StatusCode::SERVICE_UNAVAILABLE,
            "too many connections; try again later\n".into(),
        ),
    }
}

async fn ws_echo(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let slot = match admit(&req, &state, Endpoint::Echo) {
        Ok(slot) => slot,
        Err(refused) => return refused.response(),
    };
    match actix_ws::handle(&req, body) {
        Ok((response, session, stream)) => {
            let (config, shutdown) = (Arc::clone(&state.config), state.shutdown.clone());
            let metrics = Arc::clone(&state.metrics);
            let link = WsLink::new(session, stream, &state.config);
            let run = echo::run(link, config, metrics, shutdown);
            spawn_session(&req, &state, slot, run);
            response
        }
        Err(err) => handshake_refused(&state, paths::WS_ECHO, &err),
    }
}

async fn ws_chat(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let slot = match admit(&req, &state, Endpoint::Chat) {
        Ok(slot) => slot,
        Err(refused) => return refused.response(),
    };
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|protocol| protocol.trim() == shared::SUBPROTOCOL);
    if !offered {
        state.metrics.rejected(Rejection::Subprotocol);
        return plain(
            StatusCode::BAD_REQUEST,
            format!(
                "{} speaks the WebSocket subprotocol {sub}; offer it in \
                 Sec-WebSocket-Protocol: {sub}\n",
                paths::WS_CHAT,
                sub = shared::SUBPROTOCOL
            ),
        );
    }
    // Who this connection may be, decided before the upgrade (accounts mode reads the
    // session cookie here); a logged-out one is still upgraded, to be told why and closed
    // with 4401, which a browser can see and a bare HTTP status it cannot.
    let gate = match login_gate(&req, &state).await {
        Ok(gate) => gate,
        Err(refused) => return refused,
    };
    match actix_ws::handle_with_protocols(&req, body, &[shared::SUBPROTOCOL]) {
        Ok((response, session, stream)) => {
            let (outbox_tx, outbox) = mpsc::channel(state.config.outbox_capacity);
            let response = outgoing::attach(response, outbox, Arc::clone(&state.metrics));
            let hub = state.hub.clone();
            let (config, shutdown) = (Arc::clone(&state.config), state.shutdown.clone());
            let metrics = Arc::clone(&state.metrics);
            let auth = Arc::clone(&state.auth);
            let run = session::run(
                WsLink::new(session, stream, &state.config),
                outbox_tx,
                session::Services {
                    hub,
                    config,
                    metrics,
                    auth,
                    shutdown,
                },
                gate,
            );
            spawn_session(&req, &state, slot, run);
            response
        }
        Err(err) => handshake_refused(&state, paths::WS_CHAT, &err),
    }
}

/// What a new chat connection's request may claim (accounts mode reads the session cookie);
/// a 503 when the logins cannot be checked.
pub(crate) async fn login_gate(req: &HttpRequest, state: &AppState) -> Result<Gate, HttpResponse> {
    state
        .auth
        .gate(session_cookie(req).as_deref())
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "cannot check a chat login");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "logins cannot be checked right now; try again shortly\n".into(),
            )
        })
}

/// Runs an accepted connection's session on the worker's local runtime (actix-ws's stream is
/// not `Send`), counted as open until it ends, inside a span that gives every log line of the
/// session its endpoint and peer.
pub(crate) fn spawn_session(
    req: &HttpRequest,
    state: &AppState,
    slot: Slot,
    run: impl Future<Output = ()> + 'static,
) {
    let peer = req
        .peer_addr()
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let span = tracing::info_span!("ws", endpoint = slot.endpoint.label(), %peer);
    let open = slot.opened();
    let running = state.sessions.token();
    actix_web::rt::spawn(
        async move {
            run.await;
            drop(open);
            drop(running);
        }
        .instrument(span),
    );
}

/// The client's address for the per-address caps (see [`crate::per_address`]).
pub(crate) fn client_address(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> std::net::IpAddr {
    let peer = req.peer_addr().map_or(
        std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        |addr| addr.ip(),
    );
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok());
    per_address::client_address(peer, forwarded, trusted)
}

/// Whether `req` came from one of the `trusted` proxies, whose `X-Forwarded-*` count.
fn from_trusted_proxy(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> bool {
    req.peer_addr()
        .is_some_and(|addr| trusted.contains(&addr.ip()))
}

/// The last value of header `name` (the one the nearest proxy wrote), trimmed.
fn last_forwarded<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(name)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .rfind(|value| !value.is_empty())
}

/// Whether the client reached the server over https: a TLS listener, or a trusted proxy's
/// `X-Forwarded-Proto: https`. Not actix's `connection_info()`, which believes `Forwarded`
/// and `X-Forwarded-Proto` from any peer.
pub(crate) fn came_over_https(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> bool {
    if req.app_config().secure() {
        return true;
    }
    from_trusted_proxy(req, trusted)
        && last_forwarded(req, "x-forwarded-proto")
            .is_some_and(|proto| proto.eq_ignore_ascii_case("https"))
}

/// The host (and port) the client asked for, as the Origin check compares it: a trusted
/// proxy's `X-Forwarded-Host`, else `Host`. Not actix's `connection_info()`, which believes
/// `Forwarded` and `X-Forwarded-Host` from any peer.
pub(crate) fn requested_host(req: &HttpRequest, trusted: &[std::net::IpAddr]) -> String {
    let forwarded = from_trusted_proxy(req, trusted)
        .then(|| last_forwarded(req, "x-forwarded-host"))
        .flatten();
    forwarded
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
        })
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_else(|| req.app_config().host())
        .to_owned()
}

/// actix answers a bad handshake with a bare status; say what was wrong.
fn handshake_refused(state: &AppState, path: &str, err: &actix_web::Error) -> HttpResponse {
    state.metrics.rejected(Rejection::NotWebSocket);
    plain(
        err.error_response().status(),
        format!("{path} expects a WebSocket upgrade: {err}\n"),
    )
}

pub(crate) fn plain(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::plaintext())
        .body(body)
}

/// Serves `trunk build` output at `/`, with `index.html` for any unknown path so the browser
/// app can own its URLs. Without a build, `/` explains how to make one instead of a bare 404.
fn configure_static(cfg: &mut web::ServiceConfig, static_dir: &Path) {
    let index = static_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(
            dir = %static_dir.display(),
            "no built frontend (index.html missing); run `cargo xtask serve` or `trunk build`"
        );
        let message = format!(
            "The frontend is not built: {} has no index.html.\n\
             Run `cargo xtask serve`, or `trunk build` and restart with --static-dir.\n",
            static_dir.display()
        );
        cfg.default_service(web::to(move || {
            let message = message.clone();
            async move { plain(StatusCode::NOT_FOUND, message) }
        }));
        return;
    }
    cfg.service(
        Files::new("/", static_dir)
            .index_file("index.html")
            .default_handler(fn_service(move |req: ServiceRequest| {
                let index = index.clone();
                async move {
                    let (req, _) = req.into_parts();
                    let response = match NamedFile::open_async(&index).await {
                        Ok(file) => file.into_response(&req),
                        Err(err) => err.error_response(),
                    };
                    Ok::<_, actix_web::Error>(ServiceResponse::new(req, response))
                }
            })),
    );
}
