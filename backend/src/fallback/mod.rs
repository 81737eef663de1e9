//! The HTTP transports for networks that break WebSocket: Server-Sent Events downstream
//! (`GET /sse`) or long-polling (`GET /poll`), each with POST upstream (`POST /send`).
//!
//! A session of either kind runs the same session core as a WebSocket ([`crate::session`],
//! [`crate::echo`]) behind a [`crate::link::Link`]; this module only moves messages. Requests
//! find their session by its id, an unguessable 128-bit random name handed out in the first
//! answer (never the user's token: it travels in the URL). Every endpoint is documented with
//! examples in docs/PROTOCOL.md, "HTTP fallbacks".
//!
//! # Layout
//! - `mod.rs`: the routes, the Origin check and CORS headers.
//! - `registry.rs`: the session registry ([`Registry`]), what a request hands a session, and
//!   upstream batches (`Batches`: numbered, applied once); no HTTP.
//! - `sse.rs`: [`sse::SseLink`] and the `text/event-stream` body.
//! - `poll.rs`: [`poll::PollLink`], the queue of unacknowledged events and the waiting poll.
//! - `relay.rs`: cluster mode: a POST or poll that reaches another node than the session's
//!   is carried there through Redis (a channel per node), so no sticky sessions are needed.

mod poll;
pub mod registry;
pub mod relay;
mod sse;

use std::sync::Arc;

use actix_web::{
    HttpRequest, HttpResponse, HttpResponseBuilder,
    http::{StatusCode, header},
    web::{self, Bytes},
};
use bytestring::ByteString;
use futures_util::future::Either;
use serde::Deserialize;
use shared::paths;
use tokio::sync::mpsc;

pub use self::registry::Registry;
use self::registry::{Outcome, poll_here, post_here, probe_here};
use crate::{admission, body, echo, metrics::Endpoint, session, state::AppState};

/// A POST body may hold this many times `--max-frame-size` (each message at most one).
const POST_FRAMES: usize = 4;

impl Outcome {
    fn response(self, req: &HttpRequest, body_len: usize) -> HttpResponse {
        match self {
            Self::Applied => cors_for(req, StatusCode::NO_CONTENT, body_len).finish(),
            Self::OutOfOrder(expected) => plain_cors(
                req,
                StatusCode::CONFLICT,
                &format!("this batch cannot be applied before batch {expected}\n"),
            ),
            Self::Busy => plain_cors(
                req,
                StatusCode::CONFLICT,
                "another batch of this session is still being applied\n",
            ),
            Self::Unknown => unknown_session(req),
            Self::Events(body) => poll::response(cors_for(req, StatusCode::OK, 0), body),
            Self::Replaced => plain_cors(
                req,
                StatusCode::CONFLICT,
                "a newer poll of this session took over\n",
            ),
            Self::NotPolled => plain_cors(
                req,
                StatusCode::BAD_REQUEST,
                "this session streams over Server-Sent Events; it is not polled\n",
            ),
            Self::Unreachable => plain_cors(
                req,
                StatusCode::SERVICE_UNAVAILABLE,
                "the node that holds this session does not answer; retry, or open a new one\n",
            ),
            Self::Found => cors_for(req, StatusCode::NO_CONTENT, body_len).finish(),
        }
    }
}

/// Registers the routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let sse = |endpoint| {
        web::get().to(
            move |req: HttpRequest, state: web::Data<AppState>| async move {
                start(&req, &state, endpoint, Downstream::Sse).await
            },
        )
    };
    let poll = |endpoint| {
        web::get().to(
            move |req: HttpRequest, query: web::Query<PollQuery>, state: web::Data<AppState>| {
                poll(req, query, state, endpoint)
            },
        )
    };
    cfg.route(paths::SSE_CHAT, sse(Endpoint::Chat))
        .route(paths::SSE_ECHO, sse(Endpoint::Echo))
        .route(paths::POLL_CHAT, poll(Endpoint::Chat))
        .route(paths::POLL_ECHO, poll(Endpoint::Echo))
        .route(paths::SEND, web::post().to(send));
}

/// The checks before a new session: those of a WebSocket handshake (shutting down, Origin,
/// per-address caps, a connection slot), then the login.
async fn open(
    req: &HttpRequest,
    state: &AppState,
    endpoint: Endpoint,
) -> Result<(admission::Slot, crate::auth::Gate), HttpResponse> {
    let slot = admission::admit(req, state, endpoint).map_err(admission::Refused::response)?;
    if endpoint == Endpoint::Echo {
        return Ok((slot, crate::auth::Gate::Open));
    }
    let gate = admission::login_gate(req, state).await?;
    Ok((slot, gate))
}

fn session_services(state: &AppState) -> session::Services {
    session::Services {
        hub: state.hub.clone(),
        config: Arc::clone(&state.config),
        metrics: Arc::clone(&state.metrics),
        auth: Arc::clone(&state.auth),
        shutdown: state.shutdown.clone(),
    }
}

/// How a new session's events go down.
#[derive(Clone, Copy)]
enum Downstream {
    Sse,
    Poll,
}

/// Opens a session for `endpoint` whose events go down as `downstream` says, and runs its
/// session core (the chat's, or the echo) over the link.
async fn start(
    req: &HttpRequest,
    state: &AppState,
    endpoint: Endpoint,
    downstream: Downstream,
) -> HttpResponse {
    let (slot, gate) = match open(req, state, endpoint).await {
        Ok(opened) => opened,
        Err(refused) => return refused,
    };
    // The hub's queue for the connection; echo has no hub.
    let (outbox_tx, outbox) = match endpoint {
        Endpoint::Chat => {
            let (sender, receiver) = mpsc::channel(state.config.outbox_capacity);
            (Some(sender), Some(receiver))
        }
        Endpoint::Echo => (None, None),
    };
    match downstream {
        Downstream::Sse => {
            let (link, body) = sse::open(&state.fallback, outbox, Arc::clone(&state.metrics));
            admission::spawn_session(req, state, slot, core(link, outbox_tx, state, gate));
            sse::response(cors(req, StatusCode::OK), body)
        }
        Downstream::Poll => {
            let link = poll::PollLink::open(state, outbox);
            let first = link.first_answer();
            admission::spawn_session(req, state, slot, core(link, outbox_tx, state, gate));
            poll::response(cors(req, StatusCode::OK), first)
        }
    }
}

/// The session core over `link`: the chat's when there is a hub `outbox`, else the echo.
fn core<L: crate::link::Link + 'static>(
    link: L,
    outbox: Option<mpsc::Sender<crate::outgoing::Frame>>,
    state: &AppState,
    gate: crate::auth::Gate,
) -> impl Future<Output = ()> + 'static {
    match outbox {
        Some(outbox) => Either::Left(session::run(link, outbox, session_services(state), gate)),
        None => Either::Right(echo::run(
            link,
            Arc::clone(&state.config),
            Arc::clone(&state.metrics),
            state.shutdown.clone(),
        )),
    }
}

/// `?session=ID&ack=N` on a poll; both absent on the request that opens a session.
#[derive(Deserialize)]
struct PollQuery {
    session: Option<String>,
    #[serde(default)]
    ack: u64,
}

/// `GET /poll` (`/poll/echo`): polls the session named, or opens one for `endpoint`.
async fn poll(
    req: HttpRequest,
    query: web::Query<PollQuery>,
    state: web::Data<AppState>,
    endpoint: Endpoint,
) -> HttpResponse {
    match &query.session {
        Some(id) => poll_existing(&req, &state, id, query.ack).await,
        None => start(&req, &state, endpoint, Downstream::Poll).await,
    }
}

/// A poll of a running session, on this node or (cluster mode) the one that holds it.
async fn poll_existing(req: &HttpRequest, state: &AppState, id: &str, ack: u64) -> HttpResponse {
    if let Some(refused) = foreign_origin(req, state) {
        return refused;
    }
    let outcome = match (state.fallback.owner_elsewhere(id), &state.relay) {
        (Some(owner), Some(relay)) => relay.poll(owner, id, ack).await,
        _ => poll_here(&state.fallback, id, ack).await,
    };
    outcome.response(req, 0)
}

/// `?session=ID&batch=N` on a POST.
#[derive(Deserialize)]
struct SendQuery {
    session: String,
    batch: u64,
}

/// `POST /send`: a JSON array of client messages for a session of either kind.
///
/// The session is looked up before the body is read (on its node, in cluster mode): a POST
/// for a session that is not there costs no more than its headers. The body must then arrive
/// within `--body-timeout`.
async fn send(
    req: HttpRequest,
    query: web::Query<SendQuery>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let response = answer_send(&req, &query, &mut payload, &state).await;
    body::closing(response, payload)
}

/// A POST's answer; `payload` is read only once its session is known to be there.
async fn answer_send(
    req: &HttpRequest,
    query: &SendQuery,
    payload: &mut web::Payload,
    state: &AppState,
) -> HttpResponse {
    if let Some(refused) = foreign_origin(req, state) {
        return refused;
    }
    if state.shutdown.is_cancelled() {
        return plain_cors(
            req,
            StatusCode::SERVICE_UNAVAILABLE,
            "server is shutting down\n",
        );
    }
    let elsewhere = state.fallback.owner_elsewhere(&query.session);
    let found = match (elsewhere, &state.relay) {
        (Some(owner), Some(relay)) => relay.probe(owner, &query.session).await,
        _ => probe_here(&state.fallback, &query.session),
    };
    if !matches!(found, Outcome::Found) {
        return found.response(req, 0);
    }
    let frame_limit = state.config.max_frame_size;
    let limit = frame_limit.saturating_mul(POST_FRAMES);
    let body = match body::read(payload, limit, state.config.body_timeout).await {
        Ok(body) => body,
        Err(body::Refused::TooLarge) => return too_large(req, limit),
        Err(body::Refused::BrokenOff) => {
            return plain_cors(req, StatusCode::BAD_REQUEST, "the request body broke off\n");
        }
        Err(body::Refused::TimedOut) => {
            return plain_cors(
                req,
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body did not arrive within {}\n",
                    humantime::format_duration(state.config.body_timeout)
                ),
            );
        }
    };
    let body_len = body.len();
    let messages = match split_batch(&body.freeze(), frame_limit) {
        Ok(messages) => messages,
        Err(()) => return too_large(req, frame_limit),
    };
    let outcome = match (elsewhere, &state.relay) {
        (Some(owner), Some(relay)) => {
            relay
                .post(owner, &query.session, query.batch, messages)
                .await
        }
        _ => post_here(&state.fallback, &query.session, query.batch, messages).await,
    };
    outcome.response(req, body_len)
}

/// A POST body's messages: the elements of a JSON array, each as its own text. A body that
/// is not a JSON array is one message, which the session core then answers with the typed
/// error a WebSocket frame of that text would get. `Err` when a message is over the limit.
fn split_batch(body: &Bytes, frame_limit: usize) -> Result<Vec<ByteString>, ()> {
    let messages = match serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(body) {
        Ok(elements) => elements
            .into_iter()
            .map(|element| ByteString::from(element.get()))
            .collect(),
        Err(_) => vec![ByteString::from(String::from_utf8_lossy(body).into_owned())],
    };
    if messages.iter().any(|message| message.len() > frame_limit) {
        return Err(());
    }
    Ok(messages)
}

/// The 403 for a page whose Origin may not use sessions here (the WebSocket's allow-list);
/// `None` when it may.
fn foreign_origin(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    admission::foreign_origin(req, state).map(admission::Refused::response)
}

/// The header that tells the client how many bytes its request took on the wire (request
/// line, headers, body), which a browser cannot see: the Echo page's bytes per message.
const REQUEST_BYTES: &str = "x-request-bytes";

/// A response builder carrying the CORS headers a page from an allowed other origin needs to
/// read it (the Origin was checked before), with credentials so the session cookie counts;
/// also [`REQUEST_BYTES`], and `Timing-Allow-Origin` so the page may read the response's size.
fn cors(req: &HttpRequest, status: StatusCode) -> HttpResponseBuilder {
    cors_for(req, status, 0)
}

/// [`cors`] for a request whose body had `body` bytes.
fn cors_for(req: &HttpRequest, status: StatusCode, body: usize) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((REQUEST_BYTES, request_bytes(req, body)));
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        builder
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()))
            .insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
            .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, REQUEST_BYTES))
            .insert_header(("timing-allow-origin", origin.clone()))
            .insert_header((header::VARY, "Origin"));
    }
    builder
}

/// The size of `req` as it came over HTTP/1.1: request line, each header line, the blank
/// line, and `body` bytes (header names have the same length in any case).
fn request_bytes(req: &HttpRequest, body: usize) -> usize {
    let line = req.method().as_str().len() + 1 + req.uri().to_string().len() + 1 + 8 + 2;
    let headers: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    line + headers + 2 + body
}

fn plain_cors(req: &HttpRequest, status: StatusCode, body: &str) -> HttpResponse {
    cors(req, status)
        .content_type(header::ContentType::plaintext())
        .body(body.to_owned())
}

fn unknown_session(req: &HttpRequest) -> HttpResponse {
    plain_cors(
        req,
        StatusCode::NOT_FOUND,
        "unknown session (it ended or never was); open a new one\n",
    )
}

fn too_large(req: &HttpRequest, limit: usize) -> HttpResponse {
    plain_cors(
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("too large: at most {limit} bytes\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_an_array_is_one_message() {
        let body = Bytes::from_static(br#"[{"type":"ping"}, {"type":"x"}]"#);
        let messages = split_batch(&body, 100).unwrap();
        assert_eq!(messages, [r#"{"type":"ping"}"#, r#"{"type":"x"}"#]);
        let body = Bytes::from_static(b"{not json");
        assert_eq!(split_batch(&body, 100).unwrap(), ["{not json"]);
        let body = Bytes::from_static(br#"["0123456789"]"#);
        assert!(split_batch(&body, 5).is_err());
    }
}
