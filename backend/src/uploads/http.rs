//! The HTTP half of uploads: `POST /api/uploads?room=ROOM&name=NAME` and
//! `GET /api/uploads/ROOM/ID`,
//! with the address's upload rate, who asks, and the room's policy checked before a body is
//! read; the bytes go to [`super::store`].

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use serde::Deserialize;
use shared::{RoomName, UploadId};

use super::store::{Refused, Upload, find, object, sniff};
use crate::{
    auth::http::refusal, body, hub::UploadStanding, per_address::Refusal, request::client_address,
    state::AppState,
};

impl Refused {
    /// The answer: its status and `{"error": ...}` (with `Retry-After` over the quota).
    fn response(&self) -> HttpResponse {
        let status = match self {
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Empty => StatusCode::BAD_REQUEST,
            Self::Mislabelled { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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

/// `?room=ROOM` (and for a file, `&name=NAME`: its name, sanitised before use).
#[derive(Deserialize)]
struct RoomQuery {
    room: RoomName,
    #[serde(default)]
    name: String,
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
            format!("join {room} first: only its members may upload for it"),
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
        "the upload could not be stored; try again",
    )
}

async fn upload(
    req: HttpRequest,
    query: web::Query<RoomQuery>,
    mut payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let response = answer_upload(&req, &query, &mut payload, &state).await;
    body::closing(response, payload)
}

/// An upload's answer; `payload` is read only once everything that can be checked without
/// it has been.
async fn answer_upload(
    req: &HttpRequest,
    query: &RoomQuery,
    payload: &mut web::Payload,
    state: &AppState,
) -> HttpResponse {
    let room = &query.room;
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
                    "the upload did not arrive within {}",
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
    let name = super::name::sanitised(&query.name);
    match state
        .uploads
        .store(&user, room, (&bytes, kind, name), config)
        .await
    {
        Ok(Ok(upload)) => HttpResponse::Created().json(upload),
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
    let upload = match find(&dir, &room, &id).await {
        Ok(Some(upload)) => upload,
        Ok(None) => return refusal(StatusCode::NOT_FOUND, format!("{room} has no upload {id}")),
        Err(err) => {
            tracing::error!(error = %err, "reading an upload's record failed");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "try again shortly");
        }
    };
    // Streamed from the file in 64 KB pieces, never read whole into memory: a file may be as
    // large as the upload cap, and many may be downloaded at once.
    let opened = match tokio::fs::File::open(object(&dir, &id)).await {
        Ok(file) => match file.metadata().await {
            Ok(meta) => Ok((file, meta.len())),
            Err(err) => Err(err),
        },
        Err(err) => Err(err),
    };
    let (file, length) = match opened {
        Ok(opened) => opened,
        Err(err) => {
            tracing::error!(error = %err, "reading an upload failed");
            return refusal(StatusCode::SERVICE_UNAVAILABLE, "try again shortly");
        }
    };
    let (content_type, disposition) = match &upload {
        // A fixed, safe name: nothing the uploader chose reaches a header.
        Upload::Image(image) => (
            image.mime.mime(),
            format!("inline; filename=\"image.{}\"", image.mime.extension()),
        ),
        // Never shown in our origin, whatever the bytes are: a download, under the name the
        // server sanitised (in UTF-8, and in ASCII for old clients).
        Upload::File(file) => (
            "application/octet-stream",
            header::ContentDisposition {
                disposition: header::DispositionType::Attachment,
                parameters: vec![
                    header::DispositionParam::Filename(super::name::ascii_fallback(&file.name)),
                    header::DispositionParam::FilenameExt(header::ExtendedValue {
                        charset: header::Charset::Ext("UTF-8".to_owned()),
                        language_tag: None,
                        value: file.name.clone().into_bytes(),
                    }),
                ],
            }
            .to_string(),
        ),
    };
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        // The same id is always the same bytes; private: it is not for shared caches.
        .insert_header((
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable",
        ))
        // Should a browser render it anyway (one that ignores the headers above), it runs
        // nothing and reaches nothing in our origin.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .no_chunking(length)
        .streaming(tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024))
}
