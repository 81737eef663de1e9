//! Image uploads: `POST /api/uploads?room=ROOM` stores an image for a room (201 and its
//! [`Image`]), `GET /api/uploads/ROOM/ID` serves it to those who may read the room; a `say`
//! names the image by its id, and the session fills in what was stored.
//!
//! The type comes from the bytes (PNG, JPEG, GIF and WebP, read by `imagesize`), never from
//! the name; a declared `Content-Type` naming another image type is refused as a lie, and so
//! is anything that is not one of the four. Who asks is named as on the chat socket
//! ([`crate::auth::Auth::http_user`]); the room's policy decides (the hub's copy).
//!
//! An upload is refused before its body is read when it can be: past the address's upload
//! rate (`--max-uploads-per-ip`), from nobody, from someone who is not in the room now (so no
//! room that does not exist gets a directory), over `--max-upload-bytes`, the user's quota for
//! the day (`--upload-quota`) or the space left (`--max-uploads-total`) by its declared
//! length. The body must then arrive within `--body-timeout`.
//!
//! # Layout
//! - `mod.rs`: the routes, the checks, storing and finding images.
//! - `quota.rs`: what uploads have cost (per user per day, the total), in memory or Redis.
//! - `sweep.rs`: the removal of records no message uses after `--upload-grace`, and of
//!   objects no room has.
//!
//! # On disk (under `--uploads-dir`, `DATA_DIR/uploads` by default; shared by cluster nodes)
//! - `objects/ID`: the bytes, named by their SHA-256 (content-addressed: one copy however
//!   many rooms use it), written to a temporary file and renamed, so a reader never sees a
//!   half-written image.
//! - `rooms/ROOM/ID`: this room has the image; the file holds its [`Image`] as JSON (written
//!   the same way). A request for an image through a room that does not have it is a 404, so
//!   an image posted in a private room cannot be fetched through a public one.

mod quota;
mod sweep;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use shared::{Image, ImageType, RoomName, UploadId};
use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    auth::http::refusal,
    body,
    hub::UploadStanding,
    per_address::Refusal,
    routes::{AppState, client_address},
};
use quota::{Ledger, LedgerError};

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Larger than `--max-upload-bytes` (413).
    #[error("the image is larger than {0} bytes")]
    TooLarge(usize),
    /// Not PNG, JPEG, GIF or WebP (415).
    #[error("not an image this chat takes (PNG, JPEG, GIF or WebP)")]
    NotAnImage,
    /// Declared as one type, made of another (415).
    #[error("declared as {declared} but the bytes are {actual}")]
    Mislabelled {
        /// What the request said.
        declared: String,
        /// What the bytes are.
        actual: &'static str,
    },
    /// The uploader's bytes for today would pass `--upload-quota` (429 until the day ends).
    #[error("you may upload {quota} bytes a day, and have used {used}; more after midnight UTC")]
    OverQuota {
        /// `--upload-quota`.
        quota: u64,
        /// What the uploader has used today.
        used: u64,
        /// Seconds until the day ends (`Retry-After`).
        retry_after: u64,
    },
    /// The stored images would pass `--max-uploads-total` (507).
    #[error("the server has no room for more images")]
    Full,
}

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

/// What uploads need besides the request: where they go, what they have cost, and (cluster
/// mode) the shared presence, to find uploaders whose tabs are on other nodes.
pub struct Uploads {
    dir: PathBuf,
    ledger: Ledger,
    references: sweep::References,
    presence: Option<ConnectionManager>,
}

impl Uploads {
    /// The uploads of the server `config` describes: counted in memory, or (with `--redis`)
    /// in Redis, connected lazily (the connection comes up on first use, and back by itself).
    pub fn open(config: &Config) -> redis::RedisResult<Self> {
        let dir = config.uploads();
        match &config.redis {
            None => Ok(Self {
                dir,
                ledger: Ledger::local(),
                references: sweep::References::Sqlite(config.data_dir.clone()),
                presence: None,
            }),
            Some(url) => {
                let client = crate::cluster::resp3_client(url)?;
                let redis = ConnectionManager::new_lazy_with_config(
                    client,
                    ConnectionManagerConfig::new()
                        .set_response_timeout(Some(REDIS_TIMEOUT))
                        .set_connection_timeout(Some(REDIS_TIMEOUT)),
                )?;
                Ok(Self {
                    dir,
                    ledger: Ledger::redis(redis.clone()),
                    references: sweep::References::Redis(redis.clone()),
                    presence: Some(redis),
                })
            }
        }
    }

    /// Starts the sweep of unused uploads (every `--retention-interval`, the first at once),
    /// until `shutdown`.
    pub fn spawn_sweep(self: &Arc<Self>, config: &Config, shutdown: CancellationToken) {
        tokio::spawn(sweep::run(
            Arc::clone(self),
            config.upload_grace,
            config.retention_interval,
            shutdown,
        ));
    }

    /// Whether the user with `key` is in `room` on any node (cluster mode: the shared
    /// presence). On one node the hub's answer was the whole answer: no.
    async fn present_in_cluster(&self, key: &str, room: &RoomName) -> redis::RedisResult<bool> {
        match &self.presence {
            Some(redis) => {
                redis::cmd("HEXISTS")
                    .arg(crate::cluster::room_members_key(room))
                    .arg(key)
                    .query_async(&mut redis.clone())
                    .await
            }
            None => Ok(false),
        }
    }

    /// Whether an upload of `length` bytes (declared before its body is read) would pass the
    /// user's quota or the space left: refused before reading it, if so.
    async fn precheck(
        &self,
        user: &str,
        length: u64,
        config: &Config,
    ) -> Result<Result<(), Refused>, LedgerError> {
        if config.upload_quota > 0 {
            let used = self.ledger.used_today(user).await?;
            if used.saturating_add(length) > config.upload_quota {
                return Ok(Err(over_quota(config.upload_quota, used)));
            }
        }
        if config.max_uploads_total > 0
            && self.ledger.total().await?.saturating_add(length) > config.max_uploads_total
        {
            return Ok(Err(Refused::Full));
        }
        Ok(Ok(()))
    }

    /// Stores `bytes` (sniffed as `kind`) for `room`, uploaded by `user`: charged to the
    /// user's quota, and new bytes to the total; nothing charged stays charged if it fails.
    async fn store(
        &self,
        user: &str,
        room: &RoomName,
        bytes: &[u8],
        kind: (ImageType, u32, u32),
        config: &Config,
    ) -> Result<Result<Image, Refused>, StoreError> {
        let image = describe(bytes, kind)?;
        let length = image.bytes;
        if config.upload_quota > 0
            && !self
                .ledger
                .charge(user, length, config.upload_quota)
                .await?
        {
            let used = self.ledger.used_today(user).await?;
            return Ok(Err(over_quota(config.upload_quota, used)));
        }
        // Only new bytes take space: the same image again is one more record.
        let new = tokio::fs::metadata(object(&self.dir, &image.id))
            .await
            .is_err();
        let reserved = new && config.max_uploads_total > 0;
        if reserved
            && !self
                .ledger
                .reserve(length, config.max_uploads_total)
                .await?
        {
            self.refund(user, length, false, config).await;
            return Ok(Err(Refused::Full));
        }
        match write(&self.dir, room, &image, bytes).await {
            Ok(()) => Ok(Ok(image)),
            Err(err) => {
                self.refund(user, length, reserved, config).await;
                Err(err.into())
            }
        }
    }

    /// Gives back what an upload that was not stored was charged (a failure to is logged:
    /// the quota errs against the user until the day ends, the total until the next sweep).
    async fn refund(&self, user: &str, length: u64, reserved: bool, config: &Config) {
        if config.upload_quota > 0
            && let Err(err) = self.ledger.refund(user, length).await
        {
            tracing::warn!(error = %err, "cannot give back an upload's quota");
        }
        if reserved && let Err(err) = self.ledger.release(length).await {
            tracing::warn!(error = %err, "cannot give back an upload's space");
        }
    }
}

/// How long a Redis command of the uploads may take (the shared presence, the quotas).
const REDIS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Why an upload could not be stored: not the uploader's fault (503).
#[derive(Debug, thiserror::Error)]
enum StoreError {
    #[error("writing the image failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn over_quota(quota: u64, used: u64) -> Refused {
    Refused::OverQuota {
        quota,
        used,
        retry_after: quota::today().1,
    }
}

/// What `bytes` are: one of the four image types, with their size in pixels. `declared` is
/// the request's `Content-Type`: an image type other than the bytes' is a lie (anything else,
/// e.g. `application/octet-stream`, says nothing and is ignored).
pub fn sniff(bytes: &[u8], declared: Option<&str>) -> Result<(ImageType, u32, u32), Refused> {
    let kind = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => ImageType::Png,
        Ok(imagesize::ImageType::Jpeg) => ImageType::Jpeg,
        Ok(imagesize::ImageType::Gif) => ImageType::Gif,
        Ok(imagesize::ImageType::Webp) => ImageType::Webp,
        _ => return Err(Refused::NotAnImage),
    };
    if let Some(declared) = declared.map(|d| d.split(';').next().unwrap_or(d).trim())
        && declared.starts_with("image/")
        && !declared.eq_ignore_ascii_case(kind.mime())
        && !(declared.eq_ignore_ascii_case("image/jpg") && kind == ImageType::Jpeg)
    {
        return Err(Refused::Mislabelled {
            declared: declared.to_owned(),
            actual: kind.mime(),
        });
    }
    // The header must also give a size: a PNG signature followed by garbage is not an image.
    let size = imagesize::blob_size(bytes).map_err(|_| Refused::NotAnImage)?;
    let (width, height) = (
        u32::try_from(size.width).map_err(|_| Refused::NotAnImage)?,
        u32::try_from(size.height).map_err(|_| Refused::NotAnImage)?,
    );
    if width == 0 || height == 0 {
        return Err(Refused::NotAnImage);
    }
    Ok((kind, width, height))
}

fn object(dir: &Path, id: &UploadId) -> PathBuf {
    dir.join("objects").join(id.as_str())
}

fn marker(dir: &Path, room: &RoomName, id: &UploadId) -> PathBuf {
    dir.join("rooms").join(room.as_str()).join(id.as_str())
}

/// The [`Image`] of `bytes` (already sniffed as `kind`).
fn describe(bytes: &[u8], (kind, width, height): (ImageType, u32, u32)) -> std::io::Result<Image> {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let id = UploadId::try_from(hex).map_err(std::io::Error::other)?;
    Ok(Image {
        id,
        mime: kind,
        width,
        height,
        bytes: bytes.len() as u64,
    })
}

/// Writes `contents` to `path` through a temporary name in the same directory (made if
/// missing) renamed into place: a reader sees the whole file or none.
async fn write_whole(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(std::io::Error::other("not a file path"));
    };
    // A name no other writer uses (and that the sweep takes for a write in progress).
    let temporary = parent.join(format!(
        ".{}.{}",
        name.to_string_lossy(),
        crate::ids::new_epoch()?.as_str()
    ));
    // The sweep removes a room's directory once it has no records: made again if so.
    let mut attempts = 0;
    loop {
        attempts += 1;
        tokio::fs::create_dir_all(parent).await?;
        match tokio::fs::write(&temporary, contents).await {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && attempts < 3 => continue,
            written => written?,
        }
        match tokio::fs::rename(&temporary, path).await {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && attempts < 3 => continue,
            renamed => return renamed,
        }
    }
}

/// Stores `image`'s `bytes` (unless they are there) and `room`'s record of it.
async fn write(dir: &Path, room: &RoomName, image: &Image, bytes: &[u8]) -> std::io::Result<()> {
    let path = object(dir, &image.id);
    if tokio::fs::metadata(&path).await.is_err() {
        write_whole(&path, bytes).await?;
    }
    let json = serde_json::to_vec(image).map_err(std::io::Error::other)?;
    write_whole(&marker(dir, room, &image.id), &json).await?;
    // A sweep may have taken the object away meanwhile (old, and no room had it yet); now
    // that the room has it, it must be there.
    if tokio::fs::metadata(&path).await.is_err() {
        write_whole(&path, bytes).await?;
    }
    Ok(())
}

/// Marks `room`'s record of `id` as used now, so the sweep leaves it alone for
/// `--upload-grace`; `false` if the room has no such record.
async fn touch(dir: &Path, room: &RoomName, id: &UploadId) -> std::io::Result<bool> {
    let path = marker(dir, room, id);
    let touched = tokio::task::spawn_blocking(move || {
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(std::time::SystemTime::now())
    })
    .await
    .map_err(std::io::Error::other)?;
    match touched {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// The image `id` as stored for `room`, if the room has it.
pub async fn find(dir: &Path, room: &RoomName, id: &UploadId) -> std::io::Result<Option<Image>> {
    match tokio::fs::read(marker(dir, room, id)).await {
        Ok(json) => serde_json::from_slice(&json)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// A `say` with an image gets the image as stored for its room (the client's description
/// is not trusted); an image the room does not have is refused with the reason. The record is
/// touched first, so the sweep of unused uploads leaves it be until the message is stored.
pub async fn attach(
    dir: &Path,
    mut request: shared::ClientMsg,
) -> Result<shared::ClientMsg, (Option<shared::ClientMsgId>, String)> {
    if let shared::ClientMsg::Say {
        room,
        image: Some(image),
        client_id,
        ..
    } = &mut request
    {
        let refused = |reason: String| (Some(client_id.clone()), reason);
        let found = match touch(dir, room, &image.id).await {
            Ok(true) => find(dir, room, &image.id).await,
            Ok(false) => Ok(None),
            Err(err) => Err(err),
        };
        match found {
            Ok(Some(stored)) => *image = stored,
            Ok(None) => {
                return Err(refused(format!(
                    "{room} has no uploaded image {}",
                    image.id
                )));
            }
            Err(err) => {
                tracing::error!(error = %err, "reading an upload's record failed");
                return Err(refused(
                    "the image could not be checked; send it again".into(),
                ));
            }
        }
    }
    Ok(request)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest PNG: 1×1, one transparent pixel.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(sniff(PNG, None), Ok((ImageType::Png, 1, 1)));
        assert_eq!(
            sniff(PNG, Some("application/octet-stream")),
            Ok((ImageType::Png, 1, 1))
        );
        assert_eq!(
            sniff(PNG, Some("image/png; charset=binary")),
            Ok((ImageType::Png, 1, 1))
        );
        assert!(matches!(
            sniff(PNG, Some("image/gif")),
            Err(Refused::Mislabelled { .. })
        ));
        assert_eq!(
            sniff(b"<html><script>", Some("image/png")),
            Err(Refused::NotAnImage)
        );
        assert_eq!(sniff(&PNG[..12], None), Err(Refused::NotAnImage));
        assert_eq!(sniff(b"", None), Err(Refused::NotAnImage));
    }
}
