//! The import writer: [`model::Item`]s stored through the hub and the engine, as chat
//! messages are, in both modes. [`import`] is the one entrance: the admin API
//! (`POST /api/admin/import`) and `backend import FILE` both call it.
//!
//! What it decides (docs/IMPORT.md says the same to operators):
//! - Who sent an imported message: the sender's nickname as the source has it, under a user
//!   key of its own, `import:NICK` (lower case), which no real user's key can be (those are
//!   32 hex digits): imported messages belong to nobody who can connect, so nobody can edit
//!   them as their author; moderators may delete them as any message.
//! - Time and order: each entry is appended with its original `ts`; the engine numbers
//!   entries in the order they come, so a room's imported messages keep the source's order.
//!   A room that has messages of its own is imported into only while that keeps time in
//!   order: its newest entry not from this import must be no newer than the first message
//!   still to store there; otherwise the room is refused (named in the summary, its messages
//!   skipped), since its timeline would run backwards. An empty room is always fine.
//! - An edited message: appended with its final text, then an `edited` change by its sender
//!   with the same text, so it reads back `edited: true` with the right words.
//! - Reactions: one `reacted` change per user and emoji, by that user (`import:NICK`).
//! - A reply: its original's new id, from this run or the ledger; the store quotes it.
//! - A file: stored in the room's uploads (sniffed: an image or a file), not charged to any
//!   daily `--upload-quota` (an admin's import is not a user's upload), but within
//!   `--max-upload-bytes` and `--max-uploads-total`; one refused is left out of its message.
//! - Text longer than `--max-text-chars` is cut to it (ending in `…`); an empty text with a
//!   file becomes the file's name.
//! - Rooms: a private room, or one with a topic, gets a policy (no owner: server admins
//!   moderate it; its topic; in accounts mode its members invited by their accounts' keys;
//!   other modes have no key for a name, so admins invite people again), unless the room
//!   is in use here (members, messages): then it is refused, since a policy would change
//!   what its people have. A room that has a policy keeps it; one whose privacy differs
//!   from the source's is refused.
//! - Idempotency: the ledger (`ledger.rs`) notes each message once all its entries are
//!   stored; every entry carries a client id derived from the source and the message's
//!   source id, so that entries stored by a run that stopped before noting them are found
//!   in the room's log and not stored twice.
//! - Limits: the per-connection rate limits are not an import's; one import runs at a time
//!   per node ([`Imports::begin`]).

use std::{collections::HashMap, path::Path, sync::Arc};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shared::{Change, ClientMsgId, MessageId, Nick, RoomName, Text};
use tokio::sync::{mpsc, oneshot};

use super::{
    ReadError, Source, Stopped,
    ledger::{Done, Imports, LedgerError},
    model::{self, Item},
};
use crate::{
    Config,
    engine::{Answer, Appended, Authority, Body, NewMessage, Read, RoomRange, Stored, Target},
    hub::{HubClosed, HubHandle, ImportOp},
    policy::RoomPolicy,
    redis_set::RedisSet,
    uploads::store::{Upload, Uploads},
};

/// Items read ahead of the writer at most (the reader waits beyond). Few: each may carry a
/// file of up to `--max-upload-bytes`.
const READ_AHEAD: usize = 4;

/// How far ahead of this server's clock an imported message's time may be (clocks differ).
const MAX_FUTURE_MS: u64 = 24 * 60 * 60 * 1000;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// The source's kind (`ours`, `slack`).
    pub source: String,
    /// Rooms read from the source.
    pub rooms: u64,
    /// Messages stored now.
    pub messages: u64,
    /// Messages stored by an earlier import of the same source (left as they are).
    pub already: u64,
    /// Files (and images) stored now.
    pub files: u64,
    /// Messages not stored: their room was refused, or the store refused them.
    pub skipped: u64,
    /// Files left out of their messages (too large, or the server has no room for them).
    pub files_skipped: u64,
    /// Reactions not stored (over the reaction caps).
    pub reactions_skipped: u64,
    /// Messages cut to `--max-text-chars`.
    pub shortened: u64,
    /// Rooms not imported into, and why.
    pub refused_rooms: Vec<RefusedRoom>,
    /// What a Slack export held that the reader left out (direct messages, system
    /// messages, custom emoji, files not in the ZIP), counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<super::slack::SlackReport>,
}

/// A room the import did not write to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRoom {
    /// The room.
    pub room: RoomName,
    /// Why.
    pub reason: String,
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as any source (the client's fault: 400).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// An import runs on this node already (409).
    #[error("an import is running already; try again when it has finished")]
    Busy,
    /// The source label is not `A-Z a-z 0-9 - _` (1–64).
    #[error("the source label must be 1–64 of A-Z a-z 0-9 - _")]
    Label,
    /// The server cannot store now (503); what was stored stays, and importing again goes on.
    #[error("{0}")]
    Unavailable(String),
}

impl From<LedgerError> for ImportError {
    fn from(err: LedgerError) -> Self {
        Self::Unavailable(err.to_string())
    }
}

impl From<HubClosed> for ImportError {
    fn from(err: HubClosed) -> Self {
        Self::Unavailable(err.to_string())
    }
}

/// What an import writes through.
pub struct Destination<'a> {
    /// The hub.
    pub hub: &'a HubHandle,
    /// The uploads.
    pub uploads: &'a Uploads,
    /// The server's configuration.
    pub config: &'a Config,
    /// The ledger.
    pub imports: &'a Imports,
}

/// Imports the file at `path` (our export, or any source [`super::detect`] knows) into the
/// server `to` describes. `label` keeps the ledgers of sources of the same kind apart (two
/// servers' exports both number their messages from 1): none is the kind's default ledger.
/// `busy`: this node's one import slot, taken by the caller before it spooled anything
/// ([`super::ledger::Imports::begin`]; held until the import ends).
pub async fn import(
    to: &Destination<'_>,
    path: &Path,
    label: Option<&str>,
    busy: super::ledger::Busy,
) -> Result<Summary, ImportError> {
    let _busy = busy;
    if let Some(label) = label
        && ClientMsgId::try_from(label.to_owned()).is_err()
    {
        return Err(ImportError::Label);
    }
    let owned = path.to_owned();
    let source = tokio::task::spawn_blocking(move || super::detect(&owned))
        .await
        .map_err(|err| ImportError::Unavailable(err.to_string()))??;
    let ledger_name = match label {
        Some(label) => format!("{}:{label}", source.name()),
        None => source.name().to_owned(),
    };
    let (items, mut queue) = mpsc::channel(READ_AHEAD);
    let owned = path.to_owned();
    let max_file = to.config.max_upload_bytes as u64;
    let reader = tokio::task::spawn_blocking(move || {
        let mut sink = move |item: Item| items.blocking_send(item).map_err(|_| Stopped);
        super::read(source, &owned, max_file, &mut sink)
    });
    let mut writer = Writer::new(to, source, ledger_name);
    let mut written = Ok(());
    while let Some(item) = queue.recv().await {
        if let Err(err) = writer.item(item).await {
            written = Err(err);
            break;
        }
    }
    // The reader stops at its next item once the queue is gone.
    drop(queue);
    let read = reader
        .await
        .map_err(|err| ImportError::Unavailable(err.to_string()))?;
    written?;
    let left_out = read?;
    let mut summary = writer.summary;
    summary.slack = left_out;
    tracing::info!(
        source = %summary.source,
        rooms = summary.rooms,
        messages = summary.messages,
        already = summary.already,
        files = summary.files,
        skipped = summary.skipped,
        "import finished"
    );
    Ok(summary)
}

/// A room as this run knows it.
#[derive(Default)]
struct RoomState {
    /// Not imported into, and why.
    refused: Option<String>,
    /// Its log was looked at (before its first message still to store).
    checked: bool,
    /// This source's entries in its log that the ledger does not name yet (a run that
    /// stopped midway): client id → id and `seq`.
    found: HashMap<String, (MessageId, u64)>,
    /// The `seq` this source's entries reach in its log (as the ledger will note it).
    last: u64,
}

struct Writer<'a> {
    to: &'a Destination<'a>,
    /// The ledger's name of this source.
    ledger: String,
    /// What every client id of this source starts with.
    prefix: String,
    rooms: HashMap<RoomName, RoomState>,
    /// Source id → id here, of the messages stored or found in this run.
    ids: HashMap<model::SourceId, MessageId>,
    /// The configuration files are stored with (no daily quota).
    uploads_config: Config,
    summary: Summary,
}

/// An entry appended, or not.
enum Put {
    /// Stored now or before: its id and `seq`.
    Stored(MessageId, u64),
    /// Refused by the chat's rules (the reason).
    Refused(String),
}

impl<'a> Writer<'a> {
    fn new(to: &'a Destination<'a>, source: Source, ledger: String) -> Self {
        let prefix = format!(
            "{}{}-",
            crate::ids::IMPORTED_CLIENT_ID_PREFIX,
            hex(&ledger, 6)
        );
        Self {
            uploads_config: Config {
                upload_quota: 0,
                ..to.config.clone()
            },
            to,
            prefix,
            ledger,
            rooms: HashMap::new(),
            ids: HashMap::new(),
            summary: Summary {
                source: source.name().to_owned(),
                ..Summary::default()
            },
        }
    }

    async fn item(&mut self, item: Item) -> Result<(), ImportError> {
        match item {
            Item::Room(room) => self.room(room).await,
            Item::Message(message) => self.message(*message).await,
        }
    }

    async fn room(&mut self, room: model::Room) -> Result<(), ImportError> {
        self.summary.rooms += 1;
        let topic = room.topic.as_deref().map(topic).filter(|t| !t.is_empty());
        let wanted = (room.private || topic.is_some()).then(|| RoomPolicy {
            private: room.private,
            topic: topic.clone(),
            invited: self.invited(&room.members),
            version: 1,
            ..RoomPolicy::default()
        });
        let (reply, answer) = oneshot::channel();
        self.to
            .hub
            .import(ImportOp::Room {
                room: room.name.clone(),
                policy: wanted,
                reply,
            })
            .await?;
        let answer = answer.await.map_err(|_| HubClosed)?;
        let refused = match answer {
            Ok(Some(policy)) if policy.group => Some(format!("{} is a group here", room.name)),
            Ok(Some(policy)) if policy.private != room.private => Some(format!(
                "{} exists here as a {} room; the source's is {}",
                room.name,
                if policy.private { "private" } else { "public" },
                if room.private { "private" } else { "public" },
            )),
            Ok(_) => None,
            Err(reason) => Some(reason),
        };
        if let Some(reason) = &refused {
            tracing::warn!(room = %room.name, %reason, "import: room refused");
            self.summary.refused_rooms.push(RefusedRoom {
                room: room.name.clone(),
                reason: reason.clone(),
            });
        }
        self.rooms.insert(
            room.name,
            RoomState {
                refused,
                ..RoomState::default()
            },
        );
        Ok(())
    }

    /// The keys of `members` to invite: accounts' keys follow from their names; other modes
    /// have none for a name.
    fn invited(&self, members: &[Nick]) -> std::collections::BTreeMap<String, Nick> {
        if self.to.config.auth != shared::auth::AuthMode::Accounts {
            return std::collections::BTreeMap::new();
        }
        members
            .iter()
            .map(|nick| {
                let key = crate::ids::user_key(&crate::auth::Identity::account(nick).token);
                (key, nick.clone())
            })
            .collect()
    }

    async fn message(&mut self, message: model::Message) -> Result<(), ImportError> {
        // A time before 1970 or more than a day ahead is no message's: stored, it would sort
        // the room's later imports wrong (or not fit the store's integer at all).
        let latest = crate::engine::now_ms().saturating_add(MAX_FUTURE_MS);
        let ready = match self.rooms.get(&message.room) {
            _ if message.ts == 0 || message.ts > latest => Err(format!(
                "{} in {} has no believable time ({})",
                message.source_id, message.room, message.ts
            )),
            None => Err(format!("{} was not announced before it", message.room)),
            Some(RoomState {
                refused: Some(_), ..
            }) => Err(String::new()),
            Some(_) => Ok(()),
        };
        if let Err(reason) = ready {
            if !reason.is_empty() {
                tracing::warn!(%reason, "import: a message skipped");
            }
            self.summary.skipped += 1;
            return Ok(());
        }
        let ledger = &self.to.imports.ledger();
        if let Some(done) = ledger.message(&self.ledger, &message.source_id).await? {
            self.ids.insert(message.source_id, done.id);
            self.summary.already += 1;
            return Ok(());
        }
        if !self.rooms.get(&message.room).is_some_and(|r| r.checked) {
            self.check(&message.room, message.ts).await?;
            if self
                .rooms
                .get(&message.room)
                .is_some_and(|r| r.refused.is_some())
            {
                self.summary.skipped += 1;
                return Ok(());
            }
        }
        self.store(message).await
    }

    /// Looks at `room`'s log after this source's last entry there: entries of this source
    /// not in the ledger yet (a run that stopped midway) are noted, and others newer than
    /// `ts` (the first message still to store) refuse the room.
    async fn check(&mut self, room: &RoomName, ts: u64) -> Result<(), ImportError> {
        let after = self
            .to
            .imports
            .ledger()
            .room(&self.ledger, room)
            .await?
            .unwrap_or(0);
        let (reply, answer) = oneshot::channel();
        let read = Read::Room {
            room: room.clone(),
            range: RoomRange::Since(after),
            epoch: None,
            joiner: None,
        };
        self.to.hub.import(ImportOp::Read { read, reply }).await?;
        let answer = answer
            .await
            .map_err(|_| HubClosed)?
            .map_err(|err| ImportError::Unavailable(err.to_string()))?;
        let Answer::Room {
            messages, changes, ..
        } = answer
        else {
            return Err(ImportError::Unavailable("a direct read answered".into()));
        };
        let entries = messages
            .iter()
            .map(|m| (m.client_id.as_str(), m.id, m.seq, m.ts))
            .chain(
                changes
                    .iter()
                    .map(|c| (c.client_id.as_str(), c.id, c.seq, c.ts)),
            );
        let mut found = HashMap::new();
        let mut newest_other = None;
        for (client_id, id, seq, at) in entries {
            if client_id.starts_with(&self.prefix) {
                found.insert(client_id.to_owned(), (id, seq));
            } else {
                newest_other = newest_other.max(Some(at));
            }
        }
        let state = self.rooms.entry(room.clone()).or_default();
        state.checked = true;
        state.found = found;
        state.last = after;
        if let Some(newest) = newest_other.filter(|&newest| newest > ts) {
            let reason = format!(
                "{room} has messages newer ({newest} ms) than the import's next one ({ts} ms): \
                 its history would run backwards; import into an empty room (or one whose \
                 messages are all older)"
            );
            tracing::warn!(%room, %reason, "import: room refused");
            state.refused = Some(reason.clone());
            self.summary.refused_rooms.push(RefusedRoom {
                room: room.clone(),
                reason,
            });
        }
        Ok(())
    }

    /// Stores a message and what happened to it, then notes it in the ledger.
    async fn store(&mut self, message: model::Message) -> Result<(), ImportError> {
        let model::Message {
            room,
            source_id,
            from,
            ts,
            text,
            edited,
            reply_to,
            reactions,
            file,
        } = message;
        let base = format!("{}{}", self.prefix, hex(&source_id, 12));
        let (image, file, name) = match file {
            Some(file) => self.upload(&room, &from, file).await?,
            None => (None, None, None),
        };
        let Some(text) = self.text(text, name) else {
            tracing::warn!(%room, %source_id, "import: a message without text or file skipped");
            self.summary.skipped += 1;
            return Ok(());
        };
        let mut reply = match reply_to {
            Some(original) => self.id_of(&original).await?,
            None => None,
        };
        let sender = import_key(&from);
        let (id, seq) = loop {
            let body = Body::Text {
                text: text.clone(),
                reply_to: reply,
                image: image.clone(),
                file: file.clone(),
            };
            match self
                .put(&room, &sender, &from, body, &base, "m", ts)
                .await?
            {
                Put::Stored(id, seq) => break (id, seq),
                // The original is gone (deleted here since): the answer stands alone.
                Put::Refused(_) if reply.is_some() => reply = None,
                Put::Refused(reason) => {
                    tracing::warn!(%room, %source_id, %reason, "import: a message refused");
                    self.summary.skipped += 1;
                    return Ok(());
                }
            }
        };
        let mut last = seq;
        let mut note = |put: &Put| {
            if let Put::Stored(_, seq) = put {
                last = last.max(*seq);
            }
        };
        if edited {
            let change = Body::Change {
                target: id,
                change: Change::Edited { text },
                authority: Authority::Author,
            };
            let put = self
                .put(&room, &sender, &from, change, &base, "e", ts)
                .await?;
            note(&put);
        }
        let mut n = 0;
        for (emoji, users) in reactions {
            for user in users {
                n += 1;
                let change = Body::Change {
                    target: id,
                    change: Change::Reacted {
                        emoji: emoji.clone(),
                        on: true,
                    },
                    authority: Authority::Anyone,
                };
                let key = import_key(&user);
                let put = self
                    .put(&room, &key, &user, change, &base, &format!("r{n}"), ts)
                    .await?;
                if let Put::Refused(reason) = &put {
                    tracing::warn!(%room, %source_id, %reason, "import: a reaction refused");
                    self.summary.reactions_skipped += 1;
                }
                note(&put);
            }
        }
        // (Never backwards: entries found again may sort before the room's mark.)
        let last = match self.rooms.get_mut(&room) {
            Some(state) => {
                state.last = state.last.max(last);
                state.last
            }
            None => last,
        };
        let done = Done { id, last };
        self.to
            .imports
            .ledger()
            .stored(&self.ledger, &room, &source_id, done)
            .await?;
        self.ids.insert(source_id, id);
        self.summary.messages += 1;
        Ok(())
    }

    /// Appends one entry, unless this source's entry with its client id is in the log
    /// already (a run that stopped midway).
    #[allow(clippy::too_many_arguments)]
    async fn put(
        &mut self,
        room: &RoomName,
        sender: &str,
        from: &Nick,
        body: Body,
        base: &str,
        suffix: &str,
        ts: u64,
    ) -> Result<Put, ImportError> {
        let client_id = format!("{base}-{suffix}");
        if let Some((id, seq)) = self.rooms.get(room).and_then(|r| r.found.get(&client_id)) {
            return Ok(Put::Stored(*id, *seq));
        }
        let client_id = ClientMsgId::try_from(client_id)
            .map_err(|err| ImportError::Unavailable(format!("a client id: {err}")))?;
        let message = NewMessage {
            target: Target::Room(room.clone()),
            sender: sender.to_owned(),
            from: from.clone(),
            body,
            client_id,
            ts,
        };
        let (reply, answer) = oneshot::channel();
        self.to
            .hub
            .import(ImportOp::Append { message, reply })
            .await?;
        match answer.await.map_err(|_| HubClosed)? {
            Appended::New(Stored::Room { entry, .. })
            | Appended::Sent(Stored::Room { entry, .. })
            | Appended::Duplicate(Stored::Room { entry, .. }) => {
                Ok(Put::Stored(entry.id(), entry.seq()))
            }
            Appended::Refused(_, reason) => Ok(Put::Refused(reason)),
            Appended::Failed(err) => Err(ImportError::Unavailable(err.to_string())),
            other => Err(ImportError::Unavailable(format!(
                "the store answered an import with {other:?}"
            ))),
        }
    }

    /// The id here of the message `source_id` of this source, if it was stored.
    async fn id_of(&mut self, source_id: &str) -> Result<Option<MessageId>, ImportError> {
        if let Some(id) = self.ids.get(source_id) {
            return Ok(Some(*id));
        }
        let done = self
            .to
            .imports
            .ledger()
            .message(&self.ledger, source_id)
            .await?;
        Ok(done.map(|done| done.id))
    }

    /// Stores a message's file in its room's uploads: an image or a file, and its name.
    async fn upload(
        &mut self,
        room: &RoomName,
        from: &Nick,
        file: model::File,
    ) -> Result<
        (
            Option<shared::Image>,
            Option<Box<shared::File>>,
            Option<String>,
        ),
        ImportError,
    > {
        let name = crate::uploads::name::sanitised(&file.name);
        let refused = |reason: String| {
            tracing::warn!(%room, file = %name, %reason, "import: a file left out of its message");
        };
        if file.bytes.len() > self.to.config.max_upload_bytes {
            refused(format!(
                "larger than --max-upload-bytes ({})",
                self.to.config.max_upload_bytes
            ));
            self.summary.files_skipped += 1;
            return Ok((None, None, Some(name)));
        }
        let kind = match crate::uploads::store::sniff(&file.bytes, None) {
            Ok(kind) => kind,
            Err(reason) => {
                refused(reason.to_string());
                self.summary.files_skipped += 1;
                return Ok((None, None, Some(name)));
            }
        };
        let stored = self
            .to
            .uploads
            .store(
                &import_key(from),
                room,
                (&file.bytes, kind, name.clone()),
                &self.uploads_config,
            )
            .await
            .map_err(|err| ImportError::Unavailable(err.to_string()))?;
        match stored {
            Ok(Upload::Image(image)) => {
                self.summary.files += 1;
                Ok((Some(image), None, Some(name)))
            }
            Ok(Upload::File(stored)) => {
                self.summary.files += 1;
                Ok((None, Some(Box::new(stored)), Some(name)))
            }
            Err(reason) => {
                refused(reason.to_string());
                self.summary.files_skipped += 1;
                Ok((None, None, Some(name)))
            }
        }
    }

    /// A message's text as this server takes it: cut to `--max-text-chars` (and the
    /// protocol's bytes), and, when empty, its file's name.
    fn text(&mut self, text: String, file: Option<String>) -> Option<Text> {
        let text = if text.trim().is_empty() { file? } else { text };
        let max = (self.to.config.max_text_chars as usize).max(1);
        let cut = text.chars().count() > max || text.len() > Text::MAX_BYTES;
        let text = if cut {
            self.summary.shortened += 1;
            let mut cut = String::new();
            for c in text.chars().take(max - 1) {
                if cut.len() + c.len_utf8() + '…'.len_utf8() > Text::MAX_BYTES {
                    break;
                }
                cut.push(c);
            }
            cut.push('…');
            cut
        } else {
            text
        };
        Text::try_from(text).ok()
    }
}

/// The user key imported messages of `nick` are stored under: never a real user's (those
/// are 32 hex digits).
pub fn import_key(nick: &Nick) -> String {
    format!("import:{}", nick.key())
}

/// A topic as `set_topic` takes one: one line, at most [`shared::TOPIC_MAX_CHARS`]
/// characters, without control characters.
fn topic(topic: &str) -> String {
    topic
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .take(shared::TOPIC_MAX_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// The first `bytes` bytes of `value`'s SHA-256, in hex.
fn hex(value: &str, bytes: usize) -> String {
    Sha256::digest(value.as_bytes())[..bytes]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `backend import FILE`: the import without a listener, through a hub and engine of its own
/// over the same store, then stopped; what [`import`] answers.
///
/// Cluster mode: this process is one more node of the cluster for as long as it runs, so the
/// running nodes hear what it stores (their readers see the messages live, the policies
/// arrive by the policy channel). One node: the store belongs to its one server, whose hub
/// would not hear what another process stores, so this refuses to run while something
/// answers on `--listen` (import through `POST /api/admin/import` then, or stop the server).
pub async fn offline(
    config: Config,
    path: &Path,
    label: Option<&str>,
) -> Result<Summary, OfflineError> {
    if config.redis.is_none() {
        let mut probe = config.listen;
        if probe.ip().is_unspecified() {
            probe.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let timeout = std::time::Duration::from_secs(1);
        if let Ok(Ok(_)) =
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(probe)).await
        {
            return Err(OfflineError::Running(probe.to_string()));
        }
    }
    let shutdown = tokio_util::sync::CancellationToken::new();
    // Whatever happens below, the hub and its workers stop when this returns.
    let _stop = shutdown.clone().drop_guard();
    let setup = |err: &dyn std::fmt::Display| OfflineError::Setup(err.to_string());
    let metrics = Arc::new(crate::metrics::Metrics::new().map_err(|e| setup(&e))?);
    let redis = match &config.redis {
        Some(url) => Some(RedisSet::open(url).await.map_err(|e| setup(&e))?),
        None => None,
    };
    let push = crate::push::Push::open(&config, redis.as_ref(), shutdown.clone())
        .await
        .map_err(|e| setup(&e))?;
    let hub = HubHandle::spawn(
        &config,
        redis.as_ref(),
        metrics,
        push.notifier.clone(),
        None,
        shutdown.clone(),
    )
    .map_err(|e| setup(&e))?;
    let uploads = Uploads::open(&config, redis.as_ref());
    let imports = Imports::open(&config, redis.as_ref()).map_err(|e| setup(&e))?;
    let to = Destination {
        hub: &hub,
        uploads: &uploads,
        config: &config,
        imports: &imports,
    };
    let busy = to.imports.begin().ok_or(ImportError::Busy)?;
    Ok(import(&to, path, label, busy).await?)
}

/// Why `backend import` did not import.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// One node, and its server runs.
    #[error(
        "a server answers on {0}: import through it (POST /api/admin/import as a server admin), \
         or stop it first (one node's store belongs to its one server)"
    )]
    Running(String),
    /// The store, Redis or the hub could not be opened.
    #[error("cannot open the server's store: {0}")]
    Setup(String),
    /// The import stopped.
    #[error(transparent)]
    Import(#[from] ImportError),
}
