//! The checks a connection passes before it runs, below the routes that use them: not
//! shutting down, an allowed Origin, the client address's caps, a free connection slot
//! ([`admit`]), who it may be ([`login_gate`]); and the running of an accepted session
//! ([`spawn_session`]). The WebSocket routes and the HTTP fallbacks share them.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        StatusCode,
        header::{self, ContentType},
    },
};
use tracing::Instrument as _;

use crate::{
    auth::Gate,
    metrics::{Endpoint, Metrics, Rejection},
    per_address::{AddressSlot, Refusal},
    request::{client_address, requested_host, session_cookie},
    state::AppState,
};

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

/// actix answers a bad handshake with a bare status; say what was wrong.
pub(crate) fn handshake_refused(
    state: &AppState,
    path: &str,
    err: &actix_web::Error,
) -> HttpResponse {
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
