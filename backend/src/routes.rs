//! HTTP routes: the wiring of every endpoint (the WebSocket endpoints, health and readiness,
//! metrics, CSP reports, the built frontend) onto the handlers of the layers below:
//! [`crate::admission`] and [`crate::state`] under all of them.

use std::sync::Arc;

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, ContentType},
    },
    web,
};
use shared::paths;
use tokio::sync::mpsc;

use crate::{
    admission::{admit, handshake_refused, login_gate, plain, spawn_session},
    echo,
    metrics::{Endpoint, Rejection},
    outgoing, session,
    state::AppState,
    ws::WsLink,
};

/// Registers every route on an `App`.
pub fn configure(cfg: &mut web::ServiceConfig, state: AppState, app: &crate::served_app::App) {
    let config = Arc::clone(&state.config);
    cfg.app_data(web::Data::new(state))
        .route(paths::HEALTHZ, web::get().to(healthz))
        .route(paths::READYZ, web::get().to(readyz))
        .route(paths::METRICS, web::get().to(metrics))
        .route(paths::CSP_REPORT, web::post().to(csp_report))
        .service(
            web::resource(paths::EMOJI_DATA)
                .wrap(actix_web::middleware::Compress::default())
                .route(web::get().to(emoji_data)),
        )
        .configure(|cfg| crate::auth::http::configure(cfg, &config))
        .configure(|cfg| crate::admin::configure(cfg, &config))
        .configure(|cfg| crate::uploads::configure(cfg, &config))
        .configure(|cfg| crate::push::http::configure(cfg, &config))
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
    crate::served_app::configure(cfg, app);
}

/// The emoji picker's data (`frontend/emoji.json`, made by `cargo xtask emoji`), built into
/// the server so that every way the app is served (the release app, `trunk serve` beside
/// the backend, the browser tests) fetches it from the API it already talks to. Public and
/// the same for everyone: any origin may read it, caches keep it a day.
async fn emoji_data() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(include_str!("../../frontend/emoji.json"))
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
        let now = crate::engine::now_ms() / 1000;
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
