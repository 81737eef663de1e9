//! The store half of uploads: checking bytes ([`sniff`]), writing them content-addressed
//! and marking them for a room, finding them, the quotas' reservations, and [`attach`] for a
//! `say` that names an image. No HTTP here: the chat session uses it directly.

use std::path::{Path, PathBuf};

use redis::aio::ConnectionManager;
use sha2::{Digest as _, Sha256};
use shared::{Image, ImageType, RoomName, UploadId};

use super::quota::{Ledger, LedgerError};
use crate::Config;
use crate::redis_set::RedisSet;

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

/// What the stored messages name, by engine.
pub(super) enum References {
    /// One node: the SQLite store in this data directory.
    Sqlite(PathBuf),
    /// Cluster mode: the room logs in Redis.
    Redis(ConnectionManager),
}

/// What uploads need besides the request: where they go, what they have cost, and (cluster
/// mode) the shared presence, to find uploaders whose tabs are on other nodes.
pub struct Uploads {
    pub(super) dir: PathBuf,
    pub(super) ledger: Ledger,
    pub(super) references: References,
    presence: Option<ConnectionManager>,
}

impl Uploads {
    /// The uploads of the server `config` describes: counted in memory, or (cluster mode) in
    /// Redis, over the node's connections.
    pub fn open(config: &Config, redis: Option<&RedisSet>) -> Self {
        let dir = config.uploads();
        match redis {
            None => Self {
                dir,
                ledger: Ledger::local(),
                references: References::Sqlite(config.data_dir.clone()),
                presence: None,
            },
            Some(redis) => {
                let redis = redis.commands();
                Self {
                    dir,
                    ledger: Ledger::redis(redis.clone()),
                    references: References::Redis(redis.clone()),
                    presence: Some(redis),
                }
            }
        }
    }

    /// Whether the user with `key` is in `room` on any node (cluster mode: the shared
    /// presence). On one node the hub's answer was the whole answer: no.
    pub(super) async fn present_in_cluster(
        &self,
        key: &str,
        room: &RoomName,
    ) -> redis::RedisResult<bool> {
        match &self.presence {
            Some(redis) => {
                redis::cmd("HEXISTS")
                    .arg(crate::engine::redis::room_members_key(room))
                    .arg(key)
                    .query_async(&mut redis.clone())
                    .await
            }
            None => Ok(false),
        }
    }

    /// Whether an upload of `length` bytes (declared before its body is read) would pass the
    /// user's quota or the space left: refused before reading it, if so.
    pub(super) async fn precheck(
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
    pub(crate) async fn store(
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
    pub(super) async fn refund(&self, user: &str, length: u64, reserved: bool, config: &Config) {
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

/// Why an upload could not be stored: not the uploader's fault (503).
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("writing the image failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

fn over_quota(quota: u64, used: u64) -> Refused {
    Refused::OverQuota {
        quota,
        used,
        retry_after: super::quota::today().1,
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

pub(super) fn object(dir: &Path, id: &UploadId) -> PathBuf {
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
