//! The store half of uploads: checking bytes ([`sniff`]), writing them content-addressed
//! and marking them for a room, finding them, the quotas' reservations, and [`attach`] for a
//! `say` that names an image or a file. No HTTP here: the chat session uses it directly.

use std::path::{Path, PathBuf};

use crate::redis_set::Conn;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shared::{File, Image, ImageType, RoomName, UploadId};

use super::quota::{Ledger, LedgerError};
use crate::Config;
use crate::redis_set::RedisSet;

/// Why an upload was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// Larger than `--max-upload-bytes` (413).
    #[error("the upload is larger than {0} bytes")]
    TooLarge(usize),
    /// No bytes at all (400).
    #[error("the upload is empty")]
    Empty,
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
    /// The stored uploads would pass `--max-uploads-total` (507).
    #[error("the server has no room for more uploads")]
    Full,
}

/// What the stored messages name, by engine.
pub(super) enum References {
    /// One node: the SQLite store in this data directory.
    Sqlite(PathBuf),
    /// Cluster mode: the room logs in Redis.
    Redis(Conn),
}

/// What the bytes of an upload are (see [`sniff`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One of the four image types, with its width and height in pixels: an [`Image`].
    Image(ImageType, u32, u32),
    /// Anything else: a [`File`], with the type its bytes show (for showing only).
    File(&'static str),
}

/// What a room has under an upload id (its record's JSON, and the upload's answer): an
/// [`Image`] (it has `width` and `height`) or a [`File`] (it has a `name`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Upload {
    /// Shown in the page.
    Image(Image),
    /// Only ever downloaded.
    File(File),
}

impl Upload {
    /// Its content address.
    pub fn id(&self) -> &UploadId {
        match self {
            Self::Image(image) => &image.id,
            Self::File(file) => &file.id,
        }
    }

    /// Its size in bytes.
    pub fn bytes(&self) -> u64 {
        match self {
            Self::Image(image) => image.bytes,
            Self::File(file) => file.bytes,
        }
    }
}

/// What uploads need besides the request: where they go, what they have cost, and (cluster
/// mode) the shared presence, to find uploaders whose tabs are on other nodes.
pub struct Uploads {
    pub(super) dir: PathBuf,
    pub(super) ledger: Ledger,
    pub(super) references: References,
    presence: Option<Conn>,
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

    /// Stores `bytes` (sniffed as `kind`; a file under the sanitised `name`) for `room`,
    /// uploaded by `user`: charged to the user's quota, and new bytes to the total; nothing
    /// charged stays charged if it fails.
    pub(crate) async fn store(
        &self,
        user: &str,
        room: &RoomName,
        (bytes, kind, name): (&[u8], Kind, String),
        config: &Config,
    ) -> Result<Result<Upload, Refused>, StoreError> {
        let upload = describe(bytes, kind, name)?;
        let length = upload.bytes();
        if config.upload_quota > 0
            && !self
                .ledger
                .charge(user, length, config.upload_quota)
                .await?
        {
            let used = self.ledger.used_today(user).await?;
            return Ok(Err(over_quota(config.upload_quota, used)));
        }
        // Only new bytes take space: the same bytes again are one more record.
        let new = tokio::fs::metadata(object(&self.dir, upload.id()))
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
        match write(&self.dir, room, &upload, bytes).await {
            Ok(()) => Ok(Ok(upload)),
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
    #[error("writing the upload failed: {0}")]
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

/// What `bytes` are: one of the four image types with its size in pixels, else a file of
/// the type its first bytes show (read by `infer`; UTF-8 without control characters other
/// than tabs, line ends and form feeds is `text/plain`; anything else
/// `application/octet-stream`). `declared` is the request's `Content-Type`: for an image, an
/// image type other than the bytes' is a lie; anything else it says is ignored (a file's type
/// is only ever shown, and it is always served as `application/octet-stream`).
pub fn sniff(bytes: &[u8], declared: Option<&str>) -> Result<Kind, Refused> {
    if bytes.is_empty() {
        return Err(Refused::Empty);
    }
    let image = match imagesize::image_type(bytes) {
        Ok(imagesize::ImageType::Png) => Some(ImageType::Png),
        Ok(imagesize::ImageType::Jpeg) => Some(ImageType::Jpeg),
        Ok(imagesize::ImageType::Gif) => Some(ImageType::Gif),
        Ok(imagesize::ImageType::Webp) => Some(ImageType::Webp),
        _ => None,
    };
    let Some(kind) = image else {
        return Ok(Kind::File(file_type(bytes)));
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
    // The header must also give a size: a PNG signature followed by garbage is not an image
    // (it is a file, never shown).
    let size = imagesize::blob_size(bytes).ok().and_then(|size| {
        let width = u32::try_from(size.width).ok()?;
        let height = u32::try_from(size.height).ok()?;
        (width > 0 && height > 0).then_some((width, height))
    });
    Ok(match size {
        Some((width, height)) => Kind::Image(kind, width, height),
        None => Kind::File(file_type(bytes)),
    })
}

/// The type of a file that is not an image, from its bytes (see [`sniff`]).
fn file_type(bytes: &[u8]) -> &'static str {
    if let Some(kind) = infer::get(bytes) {
        return kind.mime_type();
    }
    let text = std::str::from_utf8(bytes).is_ok_and(|text| {
        !text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
    });
    if text {
        "text/plain"
    } else {
        "application/octet-stream"
    }
}

/// Where the bytes of upload `id` are, under the uploads directory `dir` (an export reads
/// them there).
pub fn object(dir: &Path, id: &UploadId) -> PathBuf {
    dir.join("objects").join(id.as_str())
}

fn marker(dir: &Path, room: &RoomName, id: &UploadId) -> PathBuf {
    dir.join("rooms").join(room.as_str()).join(id.as_str())
}

/// The [`Upload`] of `bytes` (already sniffed as `kind`; `name` is a file's, sanitised).
fn describe(bytes: &[u8], kind: Kind, name: String) -> std::io::Result<Upload> {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let id = UploadId::try_from(hex).map_err(std::io::Error::other)?;
    let length = bytes.len() as u64;
    Ok(match kind {
        Kind::Image(mime, width, height) => Upload::Image(Image {
            id,
            mime,
            width,
            height,
            bytes: length,
        }),
        Kind::File(mime) => Upload::File(File {
            id,
            name,
            mime: mime.to_owned(),
            bytes: length,
        }),
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

/// Stores `upload`'s `bytes` (unless they are there) and `room`'s record of it (a file's
/// record again under its latest name: the same bytes uploaded for the room again under
/// another name are downloaded under that one; messages keep the name they were sent with).
async fn write(dir: &Path, room: &RoomName, upload: &Upload, bytes: &[u8]) -> std::io::Result<()> {
    let path = object(dir, upload.id());
    if tokio::fs::metadata(&path).await.is_err() {
        write_whole(&path, bytes).await?;
    }
    let json = serde_json::to_vec(upload).map_err(std::io::Error::other)?;
    write_whole(&marker(dir, room, upload.id()), &json).await?;
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

/// The upload `id` as stored for `room`, if the room has it.
pub async fn find(dir: &Path, room: &RoomName, id: &UploadId) -> std::io::Result<Option<Upload>> {
    match tokio::fs::read(marker(dir, room, id)).await {
        Ok(json) => serde_json::from_slice(&json)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// A `say` with an image or a file gets it as stored for its room (the client's description
/// is not trusted: a file's name too is the one the server sanitised at upload); one the room
/// does not have, an image named as a file or the other way round, or both at once are
/// refused with the reason. The record is touched first, so the sweep of unused uploads
/// leaves it be until the message is stored.
pub async fn attach(
    dir: &Path,
    mut request: shared::ClientMsg,
) -> Result<shared::ClientMsg, (Option<shared::ClientMsgId>, String)> {
    let shared::ClientMsg::Say {
        room,
        image,
        file,
        client_id,
        ..
    } = &mut request
    else {
        return Ok(request);
    };
    let refused = |reason: String| (Some(client_id.clone()), reason);
    let id = match (&*image, &*file) {
        (None, None) => return Ok(request),
        (Some(_), Some(_)) => {
            return Err(refused("a message has an image or a file, not both".into()));
        }
        (Some(image), None) => image.id.clone(),
        (None, Some(file)) => file.id.clone(),
    };
    let found = match touch(dir, room, &id).await {
        Ok(true) => find(dir, room, &id).await,
        Ok(false) => Ok(None),
        Err(err) => Err(err),
    };
    match (found, image.is_some()) {
        (Ok(Some(Upload::Image(stored))), true) => *image = Some(stored),
        (Ok(Some(Upload::File(stored))), false) => *file = Some(Box::new(stored)),
        (Ok(Some(Upload::Image(_))), false) => {
            return Err(refused(format!("upload {id} is an image: send it as one")));
        }
        (Ok(Some(Upload::File(_))), true) => {
            return Err(refused(format!(
                "upload {id} is not an image: send it as a file"
            )));
        }
        (Ok(None), _) => {
            return Err(refused(format!("{room} has no upload {id}")));
        }
        (Err(err), _) => {
            tracing::error!(error = %err, "reading an upload's record failed");
            return Err(refused(
                "the attachment could not be checked; send it again".into(),
            ));
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
        let png = Ok(Kind::Image(ImageType::Png, 1, 1));
        assert_eq!(sniff(PNG, None), png);
        assert_eq!(sniff(PNG, Some("application/octet-stream")), png);
        assert_eq!(sniff(PNG, Some("image/png; charset=binary")), png);
        assert!(matches!(
            sniff(PNG, Some("image/gif")),
            Err(Refused::Mislabelled { .. })
        ));
        // Not an image, whatever it says: a file, never shown.
        assert_eq!(
            sniff(b"<html><script>", Some("image/png")),
            Ok(Kind::File("text/html"))
        );
        assert_eq!(sniff(&PNG[..12], None), Ok(Kind::File("image/png")));
        assert_eq!(
            sniff(b"%PDF-1.7\n", None),
            Ok(Kind::File("application/pdf"))
        );
        assert_eq!(
            sniff("로그 line 1\r\n\tline 2\n".as_bytes(), Some("image/png")),
            Ok(Kind::File("text/plain"))
        );
        assert_eq!(
            sniff(b"\x00\x01binary", None),
            Ok(Kind::File("application/octet-stream"))
        );
        assert_eq!(sniff(b"", None), Err(Refused::Empty));
    }

    #[test]
    fn a_record_reads_back_as_what_it_was() {
        let id: UploadId = "a".repeat(64).parse().unwrap();
        let file = Upload::File(File {
            id: id.clone(),
            name: "a.pdf".into(),
            mime: "application/pdf".into(),
            bytes: 3,
        });
        let image = Upload::Image(Image {
            id,
            mime: ImageType::Png,
            width: 1,
            height: 1,
            bytes: 3,
        });
        for upload in [file, image] {
            let json = serde_json::to_string(&upload).unwrap();
            assert_eq!(
                serde_json::from_str::<Upload>(&json).unwrap(),
                upload,
                "{json}"
            );
        }
    }
}
