//! The sweep of unused uploads: every `--retention-interval`, a room's record of an image or
//! a file that no stored message of the room names, `--upload-grace` after it was last
//! written or used, is removed; then every object no room has any more. So an upload never
//! sent goes after the grace, and one whose messages retention removed goes at the next sweep.
//!
//! Which uploads the messages name is the engine's answer ([`References`]): SQLite's
//! `messages.image` and `messages.file`, or in cluster mode each room's images hash in Redis
//! (an image's or a file's id per message), kept by the send
//! script and trimmed with the log. Every node sweeps the shared directory; they cannot get
//! in each other's way, nor in an upload's:
//! - Nothing is deleted where it lies: it is first renamed to a `.gone.` name of this sweep's
//!   own, looked at again, and only then deleted (or put back).
//! - A record is put back if it was touched after the sweep first looked (an upload writing
//!   it again, a `say` using it: [`super::store::attach`] touches it before the message is stored,
//!   and a `say` that finds it gone is refused).
//! - An object is put back if a room has it again once it is out of the way; an upload checks
//!   that its object is there after writing the room's record, and writes it again if not.
//!   Objects younger than the grace are left alone (their record may be on its way).

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::Arc,
    time::{Duration, SystemTime},
};

use shared::RoomName;
use tokio_util::sync::CancellationToken;

use super::{
    quota::LedgerError,
    store::{References, Uploads},
};
use crate::Config;

/// Why a sweep stopped early (the next one tries again).
#[derive(Debug, thiserror::Error)]
pub(super) enum SweepError {
    #[error("the uploads directory: {0}")]
    Io(#[from] std::io::Error),
    #[error("reading which images messages use: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("reading which images messages use: {0}")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl References {
    /// The ids of the images the stored messages of each of `rooms` name, in that order.
    async fn of(&self, rooms: &[RoomName]) -> Result<Vec<HashSet<String>>, SweepError> {
        match self {
            Self::Sqlite(dir) => {
                let (dir, rooms) = (dir.clone(), rooms.to_vec());
                let read = tokio::task::spawn_blocking(move || {
                    crate::engine::sqlite::images_in_use(&dir, &rooms)
                });
                Ok(read.await.map_err(std::io::Error::other)??)
            }
            Self::Redis(redis) => {
                let mut redis = redis.clone();
                let mut all = Vec::with_capacity(rooms.len());
                for room in rooms {
                    all.push(crate::engine::redis::images_in_use(&mut redis, room).await?);
                }
                Ok(all)
            }
        }
    }
}

impl Uploads {
    /// Starts the sweep of unused uploads (every `--retention-interval`, the first at once),
    /// until `shutdown`.
    pub fn spawn_sweep(self: &Arc<Self>, config: &Config, shutdown: CancellationToken) {
        tokio::spawn(run(
            Arc::clone(self),
            config.upload_grace,
            config.retention_interval,
            shutdown,
        ));
    }
}

/// Sweeps every `interval` (the first at once, which also measures the total for the
/// ledger) until `shutdown`; a failed sweep is logged and the next one tries again.
pub(super) async fn run(
    uploads: Arc<Uploads>,
    grace: Duration,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match sweep(&uploads, grace).await {
            Ok(Swept {
                records: 0,
                objects: 0,
            }) => {}
            Ok(swept) => tracing::info!(
                records = swept.records,
                objects = swept.objects,
                "removed uploads no message uses"
            ),
            Err(err) => {
                tracing::error!(error = %err, "sweeping unused uploads failed; retrying later")
            }
        }
    }
}

/// What one sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Swept {
    records: usize,
    objects: usize,
}

/// A file's name and when it was last written.
struct Seen {
    name: String,
    modified: SystemTime,
    bytes: u64,
}

/// The files of `dir` (none if it does not exist).
async fn files(dir: &Path) -> std::io::Result<Vec<Seen>> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut seen = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        let Ok(metadata) = entry.metadata().await else {
            continue; // Removed meanwhile.
        };
        if !metadata.is_file() {
            continue;
        }
        seen.push(Seen {
            name: entry.file_name().to_string_lossy().into_owned(),
            modified: metadata.modified()?,
            bytes: metadata.len(),
        });
    }
    Ok(seen)
}

/// The room directories under `rooms/` (invalid names are not ours, and left alone).
async fn rooms(dir: &Path) -> std::io::Result<Vec<RoomName>> {
    let mut entries = match tokio::fs::read_dir(dir.join("rooms")).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut rooms = Vec::new();
    while let Some(entry) = entries.next_entry().await? {
        if let Ok(room) = entry.file_name().to_string_lossy().parse::<RoomName>() {
            rooms.push(room);
        }
    }
    Ok(rooms)
}

fn older_than(modified: SystemTime, grace: Duration, now: SystemTime) -> bool {
    now.duration_since(modified).is_ok_and(|age| age > grace)
}

/// A name for `name` out of the way, this sweep's own, saying when it was put there.
fn gone_name(name: &str, now: SystemTime) -> std::io::Result<String> {
    let secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    Ok(format!(
        ".gone.{name}.{secs}-{}",
        crate::ids::random_hex(8)?
    ))
}

/// The id a `.gone.` name was made from and when, if it is one.
fn gone(name: &str) -> Option<(&str, SystemTime)> {
    let (id, stamp) = name.strip_prefix(".gone.")?.rsplit_once('.')?;
    let secs = stamp.split_once('-')?.0.parse().ok()?;
    Some((id, SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
}

/// Renames `from` to `to` unless `from` is gone already (another node's sweep had it);
/// whether it did.
async fn rename(from: &Path, to: &Path) -> std::io::Result<bool> {
    match tokio::fs::rename(from, to).await {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err),
    }
}

/// Removes `path` unless it is gone already.
async fn remove(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

/// Removes a room's record `name` that looked unused and older than `grace`: out of the way
/// first, then looked at again, and put back if it was written or used meanwhile. Whether it
/// was removed.
async fn retire_record(room_dir: &Path, name: &str, grace: Duration) -> std::io::Result<bool> {
    let path = room_dir.join(name);
    let aside = room_dir.join(gone_name(name, SystemTime::now())?);
    if !rename(&path, &aside).await? {
        return Ok(false);
    }
    let modified = match tokio::fs::metadata(&aside).await {
        Ok(metadata) => metadata.modified()?,
        // Another node's sweep, seeing it old, removed it meanwhile.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    if older_than(modified, grace, SystemTime::now()) {
        remove(&aside).await?;
        Ok(true)
    } else {
        // Touched since the first look: in use after all.
        rename(&aside, &path).await?;
        Ok(false)
    }
}

/// Every image id some room has a record of.
async fn recorded(dir: &Path) -> std::io::Result<HashSet<String>> {
    let mut ids = HashSet::new();
    for room in rooms(dir).await? {
        for file in files(&dir.join("rooms").join(room.as_str())).await? {
            if !file.name.starts_with('.') {
                ids.insert(file.name);
            }
        }
    }
    Ok(ids)
}

/// One sweep of `uploads`' directory; tells the ledger the bytes the objects take after it.
async fn sweep(uploads: &Uploads, grace: Duration) -> Result<Swept, SweepError> {
    let dir = &uploads.dir;
    let added_at_start = uploads.ledger.added().await?;
    let now = SystemTime::now();
    let mut swept = Swept::default();

    // The rooms' records: those older than the grace are candidates, if their room's
    // messages do not name them.
    let mut old: HashMap<RoomName, Vec<String>> = HashMap::new();
    for room in rooms(dir).await? {
        let room_dir = dir.join("rooms").join(room.as_str());
        for file in files(&room_dir).await? {
            if !older_than(file.modified, grace, now) {
                continue;
            }
            if file.name.starts_with('.') {
                // A write or a sweep that was cut off (a crash): nobody will finish it.
                remove(&room_dir.join(&file.name)).await?;
            } else {
                old.entry(room.clone()).or_default().push(file.name);
            }
        }
    }
    let candidates: Vec<RoomName> = old.keys().cloned().collect();
    let named = uploads.references.of(&candidates).await?;
    for (room, named) in candidates.iter().zip(named) {
        let room_dir = dir.join("rooms").join(room.as_str());
        for name in &old[room] {
            if !named.contains(name) && retire_record(&room_dir, name, grace).await? {
                swept.records += 1;
            }
        }
        // A room left without records loses its directory; an upload that meets the
        // directory gone makes it again.
        let _ = tokio::fs::remove_dir(&room_dir).await;
    }

    // The objects: those no room has, older than the grace, are moved out of the way, and
    // removed unless a room has them once they are.
    let kept = recorded(dir).await?;
    let objects = dir.join("objects");
    let mut total = 0;
    let mut aside = Vec::new();
    for file in files(&objects).await? {
        if let Some((id, since)) = gone(&file.name) {
            // Left there by a sweep that was cut off (a crash) if it is this old, and then
            // decided below like the others; else another node's sweep is deciding it.
            if older_than(since, grace, now) {
                aside.push((id.to_owned(), file.name.clone(), file.bytes));
            }
        } else if file.name.starts_with('.') {
            // An upload's temporary file: its writer gave up (a crash) if it is this old.
            if older_than(file.modified, grace, now) {
                remove(&objects.join(&file.name)).await?;
            }
        } else if kept.contains(&file.name) || !older_than(file.modified, grace, now) {
            total += file.bytes;
        } else {
            let out_of_the_way = gone_name(&file.name, now)?;
            if rename(&objects.join(&file.name), &objects.join(&out_of_the_way)).await? {
                aside.push((file.name, out_of_the_way, file.bytes));
            }
        }
    }
    if !aside.is_empty() {
        let kept = recorded(dir).await?;
        for (id, name, bytes) in aside {
            if kept.contains(&id) {
                // A room has it again: back in place (an upload may have written the same
                // bytes there already; either copy will do).
                if rename(&objects.join(&name), &objects.join(&id)).await? {
                    total += bytes;
                }
            } else {
                remove(&objects.join(&name)).await?;
                swept.objects += 1;
            }
        }
    }
    uploads.ledger.measured(total, added_at_start).await?;
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_the_way_name_gives_its_id_and_time_back() {
        let id = "ab".repeat(32);
        let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let name = gone_name(&id, then).unwrap();
        assert!(name.starts_with(".gone."));
        assert_eq!(gone(&name), Some((id.as_str(), then)));
        assert_eq!(gone(&id), None);
        assert_ne!(gone_name(&id, then).unwrap(), name, "each sweep's own name");
    }
}
