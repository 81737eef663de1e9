//! The HTTP half of uploads: `POST /api/uploads?room=ROOM` and `GET /api/uploads/ROOM/ID`,
//! with the address's upload rate, who asks, and the room's policy checked before a body is
//! read; the bytes go to [`super::store`].

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde::Deserialize;
use shared::{RoomName, UploadId};

use super::store::{Refused, find, object, sniff};
use crate::{
    auth::http::refusal, body, hub::UploadStanding, per_address::Refusal, request::client_address,
    state::AppState,
};

impl Refused {
    /// The answer: its status and `{"error": ...}` (with `Retry-After` over the quota).
    fn response(&self) -> HttpResponse {
        let status = match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotAnImage | Self::Mislabelled { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::OverQuota { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Full => StatusCode::INSUFFICIENT_STORAGE,
        };
        let mut response = refusal(status, self.to_string());
        if let Self::OverQuota { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(*retry_after));
        }
        response
    }
}

/// Registers the routes (with the account API's cross-origin rules).
pub fn configure(cfg: &mut web::ServiceConfig, config: &std::sync::Arc<crate::Config>) {
    let cors = || crate::auth::http::cors(config);
    cfg.service(
        web::resource(shared::paths::API_UPLOADS)
            .wrap(cors())
            .route(web::post().to(upload)),
    )
    .service(
        web::resource(format!("{}/{{room}}/{{id}}", shared::paths::API_UPLOADS))
            .wrap(cors())
            .route(web::get().to(serve)),
    );
}

/// `?room=ROOM`.
#[derive(Deserialize)]
struct RoomQuery {
    room: RoomName,
}

/// Who asks, and whether they may read `room`; the refusal otherwise.
async fn reader(
    req: &HttpRequest,
    state: &AppState,
    room: &RoomName,
) -> Result<Option<String>, HttpResponse> {
    let user = match state.auth.http_user(req).await {
        Ok(user) => user,
        Err(err) => {
            tracing::error!(error = %err, "cannot tell who asks for an upload");
            return Err(refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot check who you are right now; try again shortly",
            ));
        }
    };
    match state.hub.may_read(user.clone(), room.clone()).await {
        Ok(true) => Ok(user),
        Ok(false) => Err(refusal(
            StatusCode::FORBIDDEN,
            format!("you may not read {room}"),
        )),
        Err(_) => Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )),
    }
}

/// The uploader's user key, if they may upload for `room` now: named (401 otherwise), and
/// in the room (403 otherwise, and for a room that does not exist: nobody is in it).
async fn uploader(
    req: &HttpRequest,
    state: &AppState,
    room: &RoomName,
) -> Result<String, HttpResponse> {
    let unavailable = || {
        refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "cannot check who you are right now; try again shortly",
        )
    };
    let user = match state.auth.http_user(req).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "say who you are (as on the chat socket) to upload",
            ));
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot tell who asks for an upload");
            return Err(unavailable());
        }
    };
    let not_in = || {
        refusal(
            StatusCode::FORBIDDEN,
            format!("join {room} first: only its members may upload images for it"),
        )
    };
    match state.hub.upload_standing(user.clone(), room.clone()).await {
        Ok(UploadStanding::Member) => Ok(user),
        Ok(UploadStanding::Refused(reason)) => Err(refusal(StatusCode::FORBIDDEN, reason)),
        Ok(UploadStanding::Absent) => match state.uploads.present_in_cluster(&user, room).await {
            Ok(true) => Ok(user),
            Ok(false) => Err(not_in()),
            Err(err) => {
                tracing::error!(error = %err, "cannot read the shared presence for an upload");
                Err(unavailable())
            }
        },
        Err(_) => Err(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )),
    }
}

/// The 429 (or, on a shutdown, 503) for an upload the client's address may not start now.
fn address_refused(state: &AppState, req: &HttpRequest, refusal_: Refusal) -> HttpResponse {
    let address = client_address(req, &state.config.trusted_proxies);
    let (body, retry_after) = match refusal_ {
        Refusal::Uploads => (
            format!(
                "too many uploads from {address} (at most {} a minute); retry later",
                state.config.max_uploads_per_ip
            ),
            state.per_address.upload_retry_secs(),
        ),
        Refusal::Connections | Refusal::Handshakes => (
            format!(
                "too many connections and uploads from {address} (at most {}); finish some first",
                state.config.max_connections_per_ip
            ),
            1,
        ),
    };
    let mut response = refusal(StatusCode::TOO_MANY_REQUESTS, body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after));
    response
}

/// A failure that is not the uploader's: logged here, once, and answered 503.
fn unavailable(err: &dyn std::fmt::Display, room: &RoomName) -> HttpResponse {
    tracing::error!(error = %err, room = %room, "storing an upload failed");
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "the image could not be stored; try again",
    )
}

async fn upload(
    req: HttpRequest,
    query: web::Query<RoomQuery>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let response = answer_upload(&req, &query.room, &mut payload, &state).await;
    body::closing(response, payload)
}

/// An upload's answer; `payload` is read only once everything that can be checked without
/// it has been.
async fn answer_upload(
    req: &HttpRequest,
    room: &RoomName,
    payload: &mut web::Payload,
    state: &AppState,
) -> HttpResponse {
    if let Some(refused) = crate::auth::http::foreign_origin(req, state) {
        return refused;
    }
    if state.shutdown.is_cancelled() {
        return refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        );
    }
    // Paced per address first: asking costs nothing, and it holds one of the address's slots
    // until the upload is done.
    let address = client_address(req, &state.config.trusted_proxies);
    let _slot = match state
        .per_address
        .admit_upload(address, tokio::time::Instant::now())
    {
        Ok(slot) => slot,
        Err(refused) => return address_refused(state, req, refused),
    };
    let user = match uploader(req, state, room).await {
        Ok(user) => user,
        Err(refused) => return refused,
    };
    let config = &state.config;
    let max = config.max_upload_bytes;
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared_length {
        if length > max as u64 {
            return Refused::TooLarge(max).response();
        }
        match state.uploads.precheck(&user, length, config).await {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => return refused.response(),
            Err(err) => return unavailable(&err, room),
        }
    }
    let bytes = match body::read(payload, max, config.body_timeout).await {
        Ok(bytes) => bytes,
        Err(body::Refused::TooLarge) => return Refused::TooLarge(max).response(),
        Err(body::Refused::BrokenOff) => {
            return refusal(StatusCode::BAD_REQUEST, "the upload was cut off");
        }
        Err(body::Refused::TimedOut) => {
            return refusal(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the image did not arrive within {}",
                    humantime::format_duration(config.body_timeout)
                ),
            );
        }
    };
    let declared = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let kind = match sniff(&bytes, declared) {
        Ok(kind) => kind,
        Err(refused) => return refused.response(),
    };
    match state.uploads.store(&user, room, &bytes, kind, config).await {
        Ok(Ok(image)) => HttpResponse::Created().json(image),
        Ok(Err(refused)) => refused.response(),
        Err(err) => unavailable(&err, room),
    }
}

async fn serve(
    req: HttpRequest,
    path: web::Path<(RoomName, UploadId)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (room, id) = path.into_inner();
    if let Err(refused) = reader(&req, &state, &room).await {
        return refused;
    }
    let dir = state.config.uploads();
    let image = match find(&dir, &room, &id).await {
        Ok(Some(image)) => image,
        Ok(None) => return refusal(StatusCode::NOT_FOUND, format!("{room} has no image {id}")),
        Err(err) => {
            tracing::error!(error = %err, "reading an upload's record failed");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "try again shortly");
        }
    };
    match tokio::fs::read(object(&dir, &id)).await {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(image.mime.mime())
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            // A fixed, safe name: nothing the uploader chose reaches a header.
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"image.{}\"", image.mime.extension()),
            ))
            // The same id is always the same bytes; private: it is not for shared caches.
            .insert_header((
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            ))
            .body(bytes),
        Err(err) => {
            tracing::error!(error = %err, "reading an upload failed");
            refusal(StatusCode::SERVICE_UNAVAILABLE, "try again shortly")
        }
    }
}
