//! Exports (#33): a room, a user's own data, or the whole server, as the ZIP that
//! docs/EXPORT.md describes (`export.jsonl` first, then `files/<sha256>`), written to any
//! [`std::io::Write`] as it is read: a page of history at a time from the hub's engine, each
//! upload copied through a buffer, so that memory stays the same for a room of a million
//! messages. The admin API (`GET /api/admin/export`, [`crate::admin`]) and the command line
//! (`backend export`, [`run_cli`]) both call [`write`].
//!
//! Reads go through the hub like a client's "load newer" pages ([`HubHandle::export_page`]),
//! in both modes: messages come back in their state now (edits, deletions and reactions
//! applied), so nothing is folded here. [`write`] blocks: it runs on a blocking thread
//! (`spawn_blocking`) and waits for each page on the runtime it was given.

use std::{
    collections::{BTreeSet, HashMap},
    io::{self, Write},
    path::{Path, PathBuf},
};

use serde::Serialize;
use shared::{DirectMessage, Emoji, MessageId, Nick, RoomMessage, RoomName, UploadId};
use tokio::runtime::Handle;
use zip::{CompressionMethod, ZipWriter, write::SimpleFileOptions};

use crate::{
    engine::{Answer, DirectRange, EngineError, Read, RoomRange},
    hub::HubHandle,
    policy::{PolicyError, RoomPolicy},
};

/// The format this server writes (`format` on the first line); readers refuse newer ones.
pub const FORMAT: u32 = 1;

/// The ZIP entry holding the lines (the first entry).
pub const LINES: &str = "export.jsonl";

/// Where an upload's bytes go in the ZIP: `files/<sha256>`.
pub fn file_entry(id: &UploadId) -> String {
    format!("files/{}", id.as_str())
}

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every room but group conversations (direct messages are their users' own: see
    /// docs/EXPORT.md).
    Server,
    /// One room (not a group).
    Room(RoomName),
    /// One user's own data: their direct messages, their read positions and the groups they
    /// are in (with the uploads those carry).
    User {
        /// Their user key.
        key: String,
    },
}

impl Scope {
    /// Its name on the first line and in the file name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Room(_) => "room",
            Self::User { .. } => "user",
        }
    }
}

/// Why an export failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The hub or the engine has stopped (the server is shutting down).
    #[error("the chat hub has stopped")]
    Stopped,
    /// The engine could not read a page.
    #[error("the message store: {0}")]
    Engine(#[from] EngineError),
    /// The room policies could not be read.
    #[error("the room policies: {0}")]
    Policies(#[from] PolicyError),
    /// No room of that name was ever used.
    #[error("there is no room {0}")]
    NoRoom(RoomName),
    /// A room export of a group conversation (only its members' own exports hold it).
    #[error("{0} is a group conversation: only its members' user exports hold it")]
    Group(RoomName),
    /// Writing failed (the client went away, the disk is full).
    #[error("writing the export: {0}")]
    Write(#[from] io::Error),
    /// The ZIP could not be written.
    #[error("writing the export: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// The engine answered a read with something else.
    #[error("the engine answered a read with another kind of answer")]
    Unexpected,
}

impl ExportError {
    /// The writer refused because nobody reads any more (the client went away, or read
    /// nothing for too long: [`super::stream::STALL`]): no failure of the server's.
    pub fn abandoned(&self) -> bool {
        let io = match self {
            Self::Write(err) | Self::Zip(zip::result::ZipError::Io(err)) => err,
            _ => return false,
        };
        matches!(
            io.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::TimedOut
        )
    }
}

impl From<crate::hub::HubClosed> for ExportError {
    fn from(_: crate::hub::HubClosed) -> Self {
        Self::Stopped
    }
}

/// The user key `given` names for a user export: a user key itself (32 hexadecimal
/// digits, as the store keys users; the only way to name someone in open mode), else an
/// account's name (accounts mode) or a JWT subject (jwt mode), keyed as the ban endpoint
/// keys them. `Err`: why `given` names nobody.
pub fn user_key(auth: shared::auth::AuthMode, given: &str) -> Result<String, String> {
    if given.len() == 32 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(given.to_ascii_lowercase());
    }
    let name = match auth {
        shared::auth::AuthMode::Jwt if !given.is_empty() => given.to_owned(),
        shared::auth::AuthMode::Open => {
            return Err("open mode has no accounts: name the user by their user key".into());
        }
        _ => match Nick::try_from(given) {
            Ok(nick) => crate::names::normalized(&nick).to_string(),
            Err(err) => return Err(format!("not an account name: {err}")),
        },
    };
    crate::auth::admin_key(auth, &name).ok_or_else(|| "no such user".to_owned())
}

/// What an export will write, decided before anything is written (an HTTP answer's
/// status goes first): the rooms, in order, and every room's policy.
pub struct Plan {
    rooms: Vec<RoomName>,
    policies: HashMap<RoomName, RoomPolicy>,
}

/// Plans the export of `scope`: a room export's room must have been used and be no group;
/// a server export has every room with a log or a policy but the groups; a user export
/// the groups the user is in.
pub async fn plan(hub: &HubHandle, scope: &Scope) -> Result<Plan, ExportError> {
    let (policies, _) = hub.policies().await?;
    let rooms = match scope {
        Scope::Room(room) => match policies.get(room) {
            Some(policy) if policy.group => return Err(ExportError::Group(room.clone())),
            Some(_) => vec![room.clone()],
            None if hub.export_rooms().await??.contains(room) => vec![room.clone()],
            None => return Err(ExportError::NoRoom(room.clone())),
        },
        Scope::Server => {
            // Rooms with a log, and rooms that have a policy but no message yet.
            let mut rooms: BTreeSet<RoomName> = hub.export_rooms().await??.into_iter().collect();
            rooms.extend(policies.keys().cloned());
            rooms
                .into_iter()
                .filter(|room| !policies.get(room).is_some_and(|p| p.group))
                .collect()
        }
        Scope::User { key } => {
            let mut groups: Vec<RoomName> = policies
                .iter()
                .filter(|(_, p)| p.group && p.invited.contains_key(key))
                .map(|(room, _)| room.clone())
                .collect();
            groups.sort();
            groups
        }
    };
    Ok(Plan { rooms, policies })
}

/// What an export reads from: the hub (for the engine's pages and the policies), the
/// runtime it runs on, and the uploads directory.
pub struct Source {
    /// The hub of this server (or of the command line's own, see [`run_cli`]).
    pub hub: HubHandle,
    /// The runtime the hub runs on: [`write`] waits for each answer on it.
    pub runtime: Handle,
    /// `--uploads-dir` (see [`crate::Config::uploads`]).
    pub uploads: PathBuf,
}

impl Source {
    /// A page, waited for on the runtime (only channels are awaited: the hub's command
    /// queue and its answer).
    fn page(&self, read: Read) -> Result<Answer, ExportError> {
        Ok(self.runtime.block_on(self.hub.export_page(read))??)
    }
}

/// Bytes an entry is copied through, and the write buffer's size.
const BUFFER: usize = 64 * 1024;

/// Writes the export of `scope` to `out`, page by page (blocking: see the module's docs);
/// `at_ms` is when it was asked for. On an error nothing more reaches `out`: the ZIP is
/// left without its end (its central directory), so that no reader takes a cut export for
/// a whole one.
pub fn write<W: Write>(
    source: &Source,
    scope: &Scope,
    plan: &Plan,
    at_ms: u64,
    out: W,
) -> Result<(), ExportError> {
    let cut = std::rc::Rc::new(std::cell::Cell::new(false));
    let mut zip = ZipWriter::new_stream(Guarded {
        inner: out,
        cut: std::rc::Rc::clone(&cut),
    })
    .set_auto_large_file();
    let written = write_zip(source, scope, plan, at_ms, &mut zip);
    match written {
        Ok(()) => {
            zip.finish()?.flush()?;
            Ok(())
        }
        Err(err) => {
            // The ZIP writer ends the archive when dropped: into nothing.
            cut.set(true);
            drop(zip);
            Err(err)
        }
    }
}

/// The writer under the ZIP: once `cut`, it takes and drops whatever it is given.
struct Guarded<W> {
    inner: W,
    cut: std::rc::Rc<std::cell::Cell<bool>>,
}

impl<W: Write> Write for Guarded<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.cut.get() {
            return Ok(buf.len());
        }
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.cut.get() {
            return Ok(());
        }
        self.inner.flush()
    }
}

fn write_zip<W: Write + io::Seek>(
    source: &Source,
    scope: &Scope,
    plan: &Plan,
    at_ms: u64,
    zip: &mut ZipWriter<W>,
) -> Result<(), ExportError> {
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    // The lines' size is not known in advance: ZIP64 sizes, so that a large export fits.
    zip.start_file(LINES, deflated.large_file(true))?;
    let mut files = BTreeSet::new();
    {
        let mut lines = io::BufWriter::with_capacity(BUFFER, &mut *zip);
        line(
            &mut lines,
            &Line::Export {
                format: FORMAT,
                scope: scope.name(),
                version: crate::config::VERSION,
                at_ms,
            },
        )?;
        for room in &plan.rooms {
            let policy = plan.policies.get(room);
            export_room(source, room, policy, &mut lines, &mut files)?;
        }
        if let Scope::User { key } = scope {
            export_user(source, key, &mut lines)?;
        }
        lines.flush()?;
    }
    let mut buffer = vec![0; BUFFER];
    for id in &files {
        copy_file(&source.uploads, id, zip, deflated, &mut buffer)?;
    }
    Ok(())
}

/// One room: its line, then its messages (deletions left out), a page at a time; the
/// uploads they carry are noted in `files`.
fn export_room(
    source: &Source,
    room: &RoomName,
    policy: Option<&RoomPolicy>,
    out: &mut impl Write,
    files: &mut BTreeSet<UploadId>,
) -> Result<(), ExportError> {
    let nicks = |map: &std::collections::BTreeMap<String, Nick>| map.values().cloned().collect();
    line(
        out,
        &Line::Room {
            room,
            topic: policy.and_then(|p| p.topic.as_deref()),
            private: policy.is_some_and(|p| p.private),
            owner: policy.and_then(|p| p.owner.as_ref()),
            moderators: policy.map(|p| nicks(&p.moderators)).unwrap_or_default(),
            // Only a private room knows its members for good (public rooms' are whoever is
            // there now): everyone who may enter it, its owner and moderators too (an import
            // invites them; the room it makes has no owner).
            members: policy
                .filter(|p| p.private)
                .map(|p| {
                    let mut all: BTreeSet<Nick> = p.owner.iter().cloned().collect();
                    all.extend(p.moderators.values().cloned());
                    all.extend(p.invited.values().cloned());
                    all.into_iter().collect()
                })
                .unwrap_or_default(),
        },
    )?;
    let mut after = 0;
    // Each page starts after the last one's last message: `after` grows, or the loop ends.
    loop {
        let answer = source.page(Read::Room {
            room: room.clone(),
            range: RoomRange::After(after),
            epoch: None,
            joiner: None,
        })?;
        let Answer::Room { messages, .. } = answer else {
            return Err(ExportError::Unexpected);
        };
        let Some(last) = messages.last().map(|m| m.seq) else {
            return Ok(());
        };
        if last <= after {
            return Err(ExportError::Unexpected);
        }
        after = last;
        for message in &messages {
            // Deleted: nothing of it is kept (also those deleted before deletions were
            // entries of the log, which the policy lists).
            if message.deleted || policy.is_some_and(|p| p.deleted.contains(&message.seq)) {
                continue;
            }
            if let Some(image) = &message.image {
                files.insert(image.id.clone());
            }
            if let Some(file) = &message.file {
                files.insert(file.id.clone());
            }
            // A reply to a deleted message answers nothing that is exported.
            let answered = message
                .reply_to
                .as_ref()
                .filter(|quote| {
                    !quote.deleted && !policy.is_some_and(|p| p.deleted.contains(&quote.seq))
                })
                .map(|quote| quote.id);
            line(out, &Line::message(room, message, answered))?;
        }
    }
}

/// A user's direct messages, a page at a time, then their read positions.
fn export_user(source: &Source, key: &str, out: &mut impl Write) -> Result<(), ExportError> {
    let mut after = MessageId(0);
    let mut positions = None;
    loop {
        let answer = source.page(Read::Direct {
            user: key.to_owned(),
            range: DirectRange::After(after),
            epoch: None,
        })?;
        let Answer::Direct {
            messages,
            positions: now,
            ..
        } = answer
        else {
            return Err(ExportError::Unexpected);
        };
        // The positions as the first page found them.
        positions.get_or_insert(now);
        let Some(last) = messages.last().map(|m| m.id) else {
            break;
        };
        if last.0 <= after.0 {
            return Err(ExportError::Unexpected);
        }
        after = last;
        for message in &messages {
            line(out, &Line::direct(key, message))?;
        }
    }
    let positions = positions.unwrap_or_default();
    let places = positions
        .rooms
        .iter()
        .map(|(room, position)| (crate::engine::Place::Room(room.clone()), *position))
        .chain(
            positions
                .directs
                .iter()
                .map(|(nick, position)| (crate::engine::Place::Direct(nick.clone()), *position)),
        );
    for (place, position) in places {
        line(
            out,
            &Line::Read {
                user: key,
                place: place.key(),
                position,
            },
        )?;
    }
    Ok(())
}

/// Copies the upload `id` into the ZIP through `buffer`. One whose bytes are gone (the
/// sweep, or a lost disk) is left out with a warning: its message keeps its description.
fn copy_file<W: Write + io::Seek>(
    uploads: &Path,
    id: &UploadId,
    zip: &mut ZipWriter<W>,
    options: SimpleFileOptions,
    buffer: &mut [u8],
) -> Result<(), ExportError> {
    let path = crate::uploads::store::object(uploads, id);
    let mut file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            tracing::warn!(upload = %id.as_str(), "an exported message's upload is gone; left out");
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    let large = file.metadata()?.len() >= u64::from(u32::MAX);
    zip.start_file(file_entry(id), options.large_file(large))?;
    // (`io::copy` would use its own 8 KiB buffer; ours is larger, and reused.)
    loop {
        let read = match io::Read::read(&mut file, buffer) {
            Ok(0) => return Ok(()),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err.into()),
        };
        zip.write_all(&buffer[..read])?;
    }
}

fn line(out: &mut impl Write, line: &Line<'_>) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, line).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// One line of `export.jsonl` (docs/EXPORT.md).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Export {
        format: u32,
        scope: &'static str,
        version: &'static str,
        at_ms: u64,
    },
    Room {
        room: &'a RoomName,
        topic: Option<&'a str>,
        private: bool,
        owner: Option<&'a Nick>,
        moderators: Vec<Nick>,
        members: Vec<Nick>,
    },
    Message {
        room: &'a RoomName,
        id: String,
        seq: u64,
        from: &'a Nick,
        ts: u64,
        text: &'a str,
        edited: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reply_to: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        reactions: Vec<Reaction<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        file: Option<&'a shared::File>,
        #[serde(skip_serializing_if = "Option::is_none")]
        image: Option<&'a shared::Image>,
    },
    Direct {
        owner: &'a str,
        id: String,
        seq: u64,
        from: &'a Nick,
        to: &'a Nick,
        ts: u64,
        text: &'a str,
    },
    Read {
        user: &'a str,
        place: String,
        position: u64,
    },
}

#[derive(Serialize)]
struct Reaction<'a> {
    emoji: &'a Emoji,
    users: &'a [Nick],
}

impl<'a> Line<'a> {
    fn message(room: &'a RoomName, message: &'a RoomMessage, reply_to: Option<MessageId>) -> Self {
        Self::Message {
            room,
            id: message.id.0.to_string(),
            seq: message.seq,
            from: &message.from,
            ts: message.ts,
            text: message.text.as_str(),
            edited: message.edited,
            reply_to: reply_to.map(|id| id.0.to_string()),
            reactions: message
                .reactions
                .iter()
                .map(|r| Reaction {
                    emoji: &r.emoji,
                    users: &r.users,
                })
                .collect(),
            file: message.file.as_deref(),
            image: message.image.as_ref(),
        }
    }

    fn direct(owner: &'a str, message: &'a DirectMessage) -> Self {
        Self::Direct {
            owner,
            id: message.id.0.to_string(),
            seq: message.seq,
            from: &message.from,
            to: &message.to,
            ts: message.ts,
            text: message.text.as_str(),
        }
    }
}

/// The file name an export is offered under: `chat-export-<scope>-<at_ms>.zip`.
pub fn file_name(scope: &Scope, at_ms: u64) -> String {
    format!("chat-export-{}-{at_ms}.zip", scope.name())
}

/// `backend export`: writes the export of `scope` (the `--room` or `--user` given, or the
/// server) to `out`, reading the data the flags name as the server does: it starts a hub of
/// its own over the same store (no HTTP listener), runs [`write`] on it, and stops.
///
/// One node: the SQLite files under `--data-dir` are opened as the server opens them, so
/// run it while the server is stopped (or on a copy of the data directory); a running node
/// is exported through `GET /api/admin/export` instead (docs/EXPORT.md). Cluster mode: it
/// is one more node on the same Redis that serves nobody (give it a `--data-dir` of its
/// own: its search index goes there). The ZIP is written to `OUT.partial` and renamed to
/// `out` once whole, so that `out` is never a cut export.
pub async fn run_cli(
    config: crate::Config,
    room: Option<String>,
    user: Option<String>,
    out: PathBuf,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let scope = match (room, user) {
        (Some(_), Some(_)) => anyhow::bail!("export a room or a user, not both"),
        (Some(room), None) => Scope::Room(
            RoomName::try_from(room.as_str())
                .map_err(|err| anyhow::anyhow!("not a room name: {err}"))?,
        ),
        (None, Some(user)) => Scope::User {
            key: user_key(config.auth, &user).map_err(|reason| anyhow::anyhow!(reason))?,
        },
        (None, None) => Scope::Server,
    };
    // A mistyped `--data-dir` would otherwise get a new, empty store, and its export.
    let store = config.data_dir.join(crate::engine::sqlite::DB_FILE);
    if config.redis.is_none() && !store.exists() {
        anyhow::bail!("no message store at {}: check --data-dir", store.display());
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    // Whatever happens below, the hub and its engine stop when this returns.
    let _stop = shutdown.clone().drop_guard();
    let redis = match &config.redis {
        Some(url) => Some(
            crate::redis_set::RedisSet::open(url)
                .await
                .context("cannot connect to Redis")?,
        ),
        None => None,
    };
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new()?);
    let push = crate::push::Push::open(&config, redis.as_ref(), shutdown.clone()).await?;
    let hub = HubHandle::spawn(
        &config,
        redis.as_ref(),
        metrics,
        push.notifier.clone(),
        None,
        shutdown.clone(),
    )?;
    let plan = plan(&hub, &scope).await?;
    let source = Source {
        hub,
        runtime: Handle::current(),
        uploads: config.uploads(),
    };
    let mut partial = out.clone().into_os_string();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let at_ms = crate::engine::now_ms();
    let (written, into) = (partial.clone(), out.clone());
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let file = std::fs::File::create(&written)
            .with_context(|| format!("cannot create {}", written.display()))?;
        let mut buffered = io::BufWriter::with_capacity(BUFFER, file);
        let result = write(&source, &scope, &plan, at_ms, &mut buffered)
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                let file = buffered.into_inner().map_err(io::Error::from)?;
                file.sync_all()?;
                std::fs::rename(&written, &into)?;
                Ok(())
            });
        if result.is_err() {
            // A cut export is no export.
            let _ = std::fs::remove_file(&written);
        }
        result
    })
    .await??;
    Ok(())
}

#[cfg(test)]
mod tests {
    use shared::auth::AuthMode;

    use super::*;

    #[test]
    fn a_user_is_named_by_key_account_or_subject() {
        let key = "0123456789ABCDEF0123456789abcdef";
        for mode in [AuthMode::Open, AuthMode::Accounts, AuthMode::Jwt] {
            assert_eq!(user_key(mode, key).unwrap(), key.to_ascii_lowercase());
        }
        assert!(user_key(AuthMode::Open, "olga").is_err());
        assert_eq!(
            user_key(AuthMode::Accounts, "olga"),
            Ok(crate::auth::admin_key(AuthMode::Accounts, "olga").unwrap())
        );
        assert_eq!(
            user_key(AuthMode::Jwt, "auth0|12345"),
            Ok(crate::auth::admin_key(AuthMode::Jwt, "auth0|12345").unwrap())
        );
        assert!(user_key(AuthMode::Accounts, &"x".repeat(40)).is_err());
        assert!(user_key(AuthMode::Jwt, "").is_err());
    }
}
