//! The reader of a Slack workspace export (#33): the ZIP Slack produces (`users.json`,
//! `channels.json`, `groups.json`, one folder per channel with a JSON file per day), turned
//! into the import model's [`Item`]s. docs/IMPORT-SLACK.md says what is carried and how
//! names are mapped; the decisions in short:
//!
//! - **Streaming.** [`read`] reads the small lists (users, channels) and the ZIP's directory;
//!   the [`SlackExport`] it returns then reads one day file at a time, so an export of years
//!   never sits in memory whole. Every [`Item::Room`] comes first (a room's members, and a
//!   message's `#channel` mention, may name any room), then each channel's messages, in
//!   `channels.json`'s then `groups.json`'s order, days in date order, each day's messages by
//!   `ts` (the file's order where two are equal).
//! - **A bad day file fails the read**: the iterator yields the error (naming the file) and
//!   then ends. Skipping it would half-import silently; the writer is idempotent by
//!   [`Message::source_id`], so fixing the file and importing again stores only what is
//!   missing.
//! - **Skipped, and counted in [`SlackReport`]**: direct messages and group DMs (`dms.json`,
//!   `mpims.json`: our direct messages are another store, and a DM's people did not agree to
//!   it becoming a room); system messages ([`SYSTEM_SUBTYPES`]: joins, leaves, topic changes,
//!   ...); messages with nothing left to show; reactions whose emoji is a workspace's custom
//!   one (no picture to carry).
//! - **Files** carry no bytes in Slack's own export: a file's bytes are taken from the ZIP
//!   when an exporter put them at `__uploads/<file id>/<name>` (slackdump's layout); a file
//!   that is not there, or is too large, becomes a line of the message's text naming it, so
//!   that nothing disappears without a trace. A message with several files carries the first
//!   in the ZIP itself and each other one in a message of its own right after it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io::{Read, Seek};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use shared::{Emoji, Nick, RoomName};
use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};
use zip::ZipArchive;
use zip::result::ZipError;

use super::model::{File, Item, Message, Room};
use crate::names;

/// The largest JSON file of an export read (a list or one day of one channel): far above a
/// real day's (a busy channel's day is a few hundred KB), low enough that a crafted entry
/// cannot take the server's memory.
pub const MAX_JSON_BYTES: u64 = 64 * 1024 * 1024;

/// The most files one message brings (Slack's own limit is 10); the rest are named in its
/// text.
pub const MAX_FILES_PER_MESSAGE: usize = 10;

/// The largest file carried by default, the server's default upload limit: a larger one
/// becomes a line in its message's text ([`SlackExport::with_max_file_bytes`] changes it).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// Message subtypes that are the workspace talking about itself, not people talking:
/// skipped. Every other subtype (`bot_message`, `me_message`, `thread_broadcast`,
/// `file_share`, and ones Slack adds later) is imported, so that nothing people wrote is
/// lost to a list that is out of date.
pub const SYSTEM_SUBTYPES: &[&str] = &[
    "channel_join",
    "channel_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "channel_archive",
    "channel_unarchive",
    "channel_convert_to_private",
    "channel_convert_to_public",
    "group_join",
    "group_leave",
    "group_topic",
    "group_purpose",
    "group_name",
    "group_archive",
    "group_unarchive",
    "pinned_item",
    "unpinned_item",
    "bot_add",
    "bot_remove",
    "reminder_add",
    "tombstone",
];

/// Why a Slack export could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// The file is not a ZIP archive (or a broken one).
    #[error("not a ZIP file: {0}")]
    NotZip(#[source] ZipError),
    /// A file every Slack export has is missing.
    #[error("not a Slack export: it has no {0}")]
    Missing(&'static str),
    /// A file of the export could not be read out of the ZIP.
    #[error("cannot read {file} from the ZIP: {source}")]
    Zip {
        /// The file, as named in the ZIP.
        file: String,
        /// What went wrong.
        #[source]
        source: ZipError,
    },
    /// A file of the export could not be read out of the ZIP.
    #[error("cannot read {file} from the ZIP: {source}")]
    Io {
        /// The file, as named in the ZIP.
        file: String,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file is larger than [`MAX_JSON_BYTES`].
    #[error("{file} is larger than {max} bytes")]
    TooLarge {
        /// The file, as named in the ZIP.
        file: String,
        /// The limit.
        max: u64,
    },
    /// A JSON file is not what Slack writes there.
    #[error("{file} is not a valid Slack export file: {source}")]
    Json {
        /// The file, as named in the ZIP.
        file: String,
        /// Where and why it failed.
        #[source]
        source: serde_json::Error,
    },
    /// A message's `ts` is not Slack's "seconds.micros".
    #[error("{file}: a message's ts {ts:?} is not \"seconds.micros\"")]
    BadTs {
        /// The day file, as named in the ZIP.
        file: String,
        /// The `ts` found.
        ts: String,
    },
}

/// What the reader left out, for the person importing: counts, so that a skipped message
/// is never silent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlackReport {
    /// Direct-message and group-DM conversations (`dms.json`, `mpims.json`), not imported.
    pub conversations_skipped: usize,
    /// System messages ([`SYSTEM_SUBTYPES`]).
    pub system_messages_skipped: usize,
    /// Messages with no text and no file left (after conversion).
    pub empty_messages_skipped: usize,
    /// Messages with neither a user nor a bot.
    pub unattributed_messages_skipped: usize,
    /// Replies whose thread's first message is not in the export (or was skipped): imported
    /// as plain messages.
    pub replies_without_parent: usize,
    /// Reactions with an emoji that is not a standard one, by Slack name: not imported.
    pub unknown_reactions: BTreeMap<String, usize>,
    /// Files whose bytes were not in the ZIP (named in their message's text instead).
    pub files_missing: usize,
    /// Files larger than the limit (named in their message's text instead).
    pub files_too_large: usize,
    /// Files in channel folders that are not day files (`YYYY-MM-DD.json`), such as canvases.
    pub other_files_ignored: usize,
}

/// Opens a Slack export: reads its users and channels, and the ZIP's directory. The
/// messages are read as the returned iterator is consumed.
///
/// # Errors
/// The source is not a ZIP, has no `channels.json` or `users.json`, or one of the lists is
/// malformed.
pub fn read<R: Read + Seek>(source: R) -> Result<SlackExport<R>, SlackError> {
    let mut zip = ZipArchive::new(source).map_err(SlackError::NotZip)?;
    let names: Vec<String> = zip
        .file_names()
        .filter_map(Result::ok)
        .map(|name| name.into_owned())
        .collect();
    // An export someone unpacked and zipped again has everything under one folder.
    let prefix = names
        .iter()
        .filter_map(|name| name.strip_suffix("channels.json"))
        .filter(|dir| dir.is_empty() || (dir.ends_with('/') && dir.matches('/').count() == 1))
        .min_by_key(|dir| dir.len())
        .ok_or(SlackError::Missing("channels.json"))?
        .to_owned();
    let has = |file: &str| names.iter().any(|name| *name == format!("{prefix}{file}"));
    if !has("users.json") {
        return Err(SlackError::Missing("users.json"));
    }

    let mut users: Vec<SlackUser> = read_json(&mut zip, &format!("{prefix}users.json"))?;
    // By id, so that who keeps a contested name does not depend on the list's order.
    users.sort_by(|a, b| a.id.cmp(&b.id));
    let mut people = People::default();
    for user in &users {
        let profile = user.profile.as_ref();
        people.assign(
            &user.id,
            &[
                profile.and_then(|p| p.display_name.as_deref()),
                profile.and_then(|p| p.real_name.as_deref()),
                user.real_name.as_deref(),
                user.name.as_deref(),
            ],
            user.name.as_deref(),
        );
    }

    let mut channels: Vec<(SlackChannel, bool)> = Vec::new();
    let public: Vec<SlackChannel> = read_json(&mut zip, &format!("{prefix}channels.json"))?;
    channels.extend(public.into_iter().map(|c| {
        let private = c.is_private.unwrap_or(false);
        (c, private)
    }));
    if has("groups.json") {
        let groups: Vec<SlackChannel> = read_json(&mut zip, &format!("{prefix}groups.json"))?;
        channels.extend(groups.into_iter().map(|c| (c, true)));
    }
    let mut report = SlackReport::default();
    for list in ["dms.json", "mpims.json"] {
        if has(list) {
            let skipped: Vec<serde::de::IgnoredAny> =
                read_json(&mut zip, &format!("{prefix}{list}"))?;
            report.conversations_skipped += skipped.len();
        }
    }

    let mut rooms = RoomNames::default();
    for (channel, _) in &channels {
        rooms.assign(&channel.id, &channel.name);
    }
    let text = Text {
        people: &people,
        rooms: &rooms,
    };
    let mut announced = VecDeque::new();
    let mut queue = VecDeque::new();
    let mut folders: HashMap<String, usize> = HashMap::new();
    let mut seen = HashSet::new();
    for (channel, private) in &channels {
        // A channel listed twice (in channels.json and groups.json) is one room.
        if !seen.insert(channel.id.as_str()) {
            continue;
        }
        let Some(name) = rooms.by_id.get(&channel.id).cloned() else {
            continue;
        };
        let topic = [&channel.topic, &channel.purpose]
            .into_iter()
            .flatten()
            .filter_map(|t| t.value.as_deref())
            .map(|value| text.convert(value))
            .find(|value| !value.trim().is_empty());
        let mut members = Vec::new();
        for id in channel.members.iter().flatten() {
            // A member the export does not list (a guest of a shared channel) has no name
            // to give them: left out.
            if let Some(nick) = people.by_id.get(id)
                && !members.contains(nick)
            {
                members.push(nick.clone());
            }
        }
        announced.push_back(Room {
            name: name.clone(),
            topic,
            private: *private,
            members,
        });
        folders.insert(format!("{prefix}{}/", channel.name), queue.len());
        queue.push_back(Channel {
            id: channel.id.clone(),
            room: name,
            days: Vec::new(),
        });
    }

    let mut uploads = HashMap::new();
    for name in &names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        if let Some(upload) = rest.strip_prefix("__uploads/") {
            if let Some((id, file)) = upload.split_once('/')
                && !file.is_empty()
                && !file.contains('/')
            {
                uploads.insert(id.to_owned(), name.clone());
            }
            continue;
        }
        let Some((folder, file)) = rest.split_once('/') else {
            continue;
        };
        let Some(&i) = folders.get(&format!("{prefix}{folder}/")) else {
            continue;
        };
        if file.is_empty() || file.ends_with('/') {
            continue;
        }
        if is_day_file(file) {
            queue[i].days.push(name.clone());
        } else {
            report.other_files_ignored += 1;
        }
    }
    for channel in &mut queue {
        // ISO dates sort as text; popped from the end, so the latest first here.
        channel.days.sort_unstable_by(|a, b| b.cmp(a));
    }

    Ok(SlackExport {
        zip,
        people,
        rooms,
        uploads,
        announced,
        channels: queue,
        parents: HashSet::new(),
        pending: VecDeque::new(),
        report,
        max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        done: false,
    })
}

/// An open Slack export: an iterator of the [`Item`]s it holds (see the module docs for
/// their order). After an error it yields nothing more.
pub struct SlackExport<R> {
    zip: ZipArchive<R>,
    people: People,
    rooms: RoomNames,
    /// Slack file id → its entry under `__uploads/`.
    uploads: HashMap<String, String>,
    /// The rooms not yet yielded.
    announced: VecDeque<Room>,
    /// The channels whose messages are not all yielded, the current one first.
    channels: VecDeque<Channel>,
    /// The `ts` of the current channel's thread starts yielded so far: a reply names its
    /// thread only when the thread's first message was imported.
    parents: HashSet<String>,
    /// Items of the current day file not yet yielded.
    /// Items of the day file read, each with the ZIP entry its file's bytes are read from
    /// when it is yielded (so that one message's file at a time is in memory, never a
    /// day's).
    pending: VecDeque<(Item, Option<String>)>,
    report: SlackReport,
    max_file_bytes: u64,
    /// An error was yielded, or everything.
    done: bool,
}

/// A channel whose messages are still to be read.
struct Channel {
    id: String,
    room: RoomName,
    /// Its day files still to read, the next one last.
    days: Vec<String>,
}

impl<R: Read + Seek> SlackExport<R> {
    /// Carries files up to `max` bytes (the server's upload limit); a larger one becomes a
    /// line of its message's text.
    pub fn with_max_file_bytes(mut self, max: u64) -> Self {
        self.max_file_bytes = max;
        self
    }

    /// What was left out so far (all of it once the iterator is exhausted).
    pub fn report(&self) -> &SlackReport {
        &self.report
    }

    /// Reads the next day file into `pending`; `false` when no day is left.
    fn next_day(&mut self) -> Result<bool, SlackError> {
        // Each turn either reads a day file or drops a finished channel: both lists are
        // finite, so this ends.
        loop {
            let Some(channel) = self.channels.front_mut() else {
                return Ok(false);
            };
            let Some(file) = channel.days.pop() else {
                self.channels.pop_front();
                self.parents.clear();
                continue;
            };
            let (id, room) = (channel.id.clone(), channel.room.clone());
            let day: Vec<SlackMessage> = read_json(&mut self.zip, &file)?;
            let mut timed = Vec::with_capacity(day.len());
            for message in day {
                let Some(ts) = parse_ts(&message.ts) else {
                    return Err(SlackError::BadTs {
                        file,
                        ts: message.ts,
                    });
                };
                timed.push((ts, message));
            }
            // Stable: messages with the same ts keep the file's order.
            timed.sort_by_key(|(ts, _)| *ts);
            for (ts, message) in timed {
                self.convert(&id, &room, ts, message)?;
            }
            return Ok(true);
        }
    }

    /// Turns one Slack message into items (none, one, or one per further file) in `pending`.
    fn convert(
        &mut self,
        channel: &str,
        room: &RoomName,
        (seconds, micros): (u64, u32),
        message: SlackMessage,
    ) -> Result<(), SlackError> {
        let subtype = message.subtype.as_deref().unwrap_or("");
        if SYSTEM_SUBTYPES.contains(&subtype) {
            self.report.system_messages_skipped += 1;
            return Ok(());
        }
        let from = if subtype == "bot_message" || message.user.is_none() {
            let name = message
                .username
                .as_deref()
                .or(message.bot_profile.as_ref().and_then(|b| b.name.as_deref()));
            match (&message.bot_id, name) {
                (None, None) => None,
                (bot_id, name) => {
                    let owner = format!("bot:{}", name.or(bot_id.as_deref()).unwrap_or(""));
                    Some(self.people.assign(&owner, &[name], Some("bot")))
                }
            }
        } else {
            message
                .user
                .as_deref()
                .map(|user| match self.people.by_id.get(user) {
                    Some(nick) => nick.clone(),
                    None => {
                        // Someone the export's users.json does not list (another workspace's
                        // member in a shared channel): named by the profile the message carries.
                        // Slackbot is in no users.json.
                        let profile = message.user_profile.as_ref();
                        let handle = profile.and_then(|p| p.name.as_deref());
                        self.people.assign(
                            user,
                            &[
                                profile.and_then(|p| p.display_name.as_deref()),
                                profile.and_then(|p| p.real_name.as_deref()),
                                handle,
                                (user == "USLACKBOT").then_some("Slackbot"),
                            ],
                            handle,
                        )
                    }
                })
        };
        let Some(from) = from else {
            self.report.unattributed_messages_skipped += 1;
            return Ok(());
        };

        let text_of = Text {
            people: &self.people,
            rooms: &self.rooms,
        };
        let mut text = text_of.convert(message.text.as_deref().unwrap_or(""));
        if text.trim().is_empty() {
            // A bot's message may be all attachments; a link's preview (`from_url`) only
            // repeats a link the text has.
            let lines: Vec<String> = message
                .attachments
                .iter()
                .flatten()
                .filter(|a| a.from_url.is_none())
                .filter_map(|a| a.fallback.as_deref().or(a.text.as_deref()))
                .map(|line| text_of.convert(line))
                .filter(|line| !line.trim().is_empty())
                .collect();
            text = lines.join("\n");
        }
        let text = text.trim().to_owned();

        let mut carried = Vec::new();
        let mut notes = Vec::new();
        for file in message.files.iter().flatten().chain(&message.file) {
            let name = file
                .name
                .as_deref()
                .or(file.title.as_deref())
                .filter(|n| !n.trim().is_empty())
                .unwrap_or(&file.id)
                .to_owned();
            match self.uploads.get(&file.id).cloned() {
                // (Slack lets a message carry 10 files; a crafted one carrying thousands
                // would be as many messages here.)
                Some(_) if carried.len() >= MAX_FILES_PER_MESSAGE => {
                    self.report.files_too_large += 1;
                    notes.push(format!(
                        "(file not imported, one message carries too many: {name})"
                    ));
                }
                Some(entry) if self.declared_size(&entry)? > self.max_file_bytes => {
                    self.report.files_too_large += 1;
                    notes.push(format!("(file too large to import: {name})"));
                }
                // Its bytes are read when the message is yielded.
                Some(entry) => carried.push((
                    file.id.clone(),
                    entry,
                    File {
                        name,
                        bytes: Vec::new(),
                    },
                )),
                None => {
                    self.report.files_missing += 1;
                    notes.push(format!("(file not in the export: {name})"));
                }
            }
        }
        let text = [text]
            .into_iter()
            .chain(notes)
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() && carried.is_empty() {
            self.report.empty_messages_skipped += 1;
            return Ok(());
        }

        let source_id = format!("{channel}/{}", message.ts);
        let reply_to = match message.thread_ts.as_deref() {
            Some(thread) if thread != message.ts => {
                if self.parents.contains(thread) {
                    Some(format!("{channel}/{thread}"))
                } else {
                    self.report.replies_without_parent += 1;
                    None
                }
            }
            Some(_) => {
                self.parents.insert(message.ts.clone());
                None
            }
            None => None,
        };

        let mut reactions: Vec<(Emoji, Vec<Nick>)> = Vec::new();
        for reaction in message.reactions.iter().flatten() {
            let Some(emoji) = emoji_named(&reaction.name) else {
                *self
                    .report
                    .unknown_reactions
                    .entry(reaction.name.clone())
                    .or_default() += 1;
                continue;
            };
            let who: Vec<Nick> = reaction
                .users
                .iter()
                .flatten()
                .filter_map(|id| self.people.by_id.get(id).cloned())
                .collect();
            if who.is_empty() {
                continue;
            }
            // `+1` and `thumbsup` are one emoji: one reaction.
            let at = match reactions.iter().position(|(e, _)| *e == emoji) {
                Some(at) => at,
                None => {
                    reactions.push((emoji, Vec::new()));
                    reactions.len() - 1
                }
            };
            for nick in who {
                if !reactions[at].1.contains(&nick) {
                    reactions[at].1.push(nick);
                }
            }
        }

        let ts = seconds
            .saturating_mul(1000)
            .saturating_add(u64::from(micros / 1000));
        let mut carried = carried.into_iter();
        let first = carried.next();
        let first_entry = first.as_ref().map(|(_, entry, _)| entry.clone());
        let message_item = Item::Message(Box::new(Message {
            room: room.clone(),
            source_id: source_id.clone(),
            from: from.clone(),
            ts,
            text,
            edited: message.edited.is_some(),
            reply_to: reply_to.clone(),
            reactions,
            file: first.map(|(_, _, file)| file),
        }));
        self.pending.push_back((message_item, first_entry));
        for (file_id, entry, file) in carried {
            let item = Item::Message(Box::new(Message {
                room: room.clone(),
                source_id: format!("{source_id}/{file_id}"),
                from: from.clone(),
                ts,
                text: String::new(),
                edited: false,
                reply_to: reply_to.clone(),
                reactions: Vec::new(),
                file: Some(file),
            }));
            self.pending.push_back((item, Some(entry)));
        }
        Ok(())
    }

    /// The size the ZIP's directory gives `entry` (checked again on what is read).
    fn declared_size(&mut self, entry: &str) -> Result<u64, SlackError> {
        self.zip
            .by_name(entry)
            .map(|file| file.size())
            .map_err(|source| SlackError::Zip {
                file: entry.to_owned(),
                source,
            })
    }

    /// `item` with its file's bytes read from `entry`; a file larger than it claimed is
    /// left out and named in the text instead.
    fn with_bytes(&mut self, mut item: Item, entry: Option<String>) -> Result<Item, SlackError> {
        let (Some(entry), Item::Message(message)) = (entry, &mut item) else {
            return Ok(item);
        };
        match read_limited(&mut self.zip, &entry, self.max_file_bytes)? {
            Some(bytes) => {
                if let Some(file) = &mut message.file {
                    file.bytes = bytes;
                }
            }
            None => {
                self.report.files_too_large += 1;
                if let Some(file) = message.file.take() {
                    let note = format!("(file too large to import: {})", file.name);
                    message.text = if message.text.is_empty() {
                        note
                    } else {
                        format!("{}\n{note}", message.text)
                    };
                }
            }
        }
        Ok(item)
    }
}

impl<R: Read + Seek> Iterator for SlackExport<R> {
    type Item = Result<Item, SlackError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(room) = self.announced.pop_front() {
            return Some(Ok(Item::Room(room)));
        }
        // Each turn yields or reads a day file (a day may hold nothing to import); the
        // day files are finite, so this ends.
        loop {
            if let Some((item, entry)) = self.pending.pop_front() {
                let item = self.with_bytes(item, entry);
                if item.is_err() {
                    self.done = true;
                    self.pending.clear();
                }
                return Some(item);
            }
            match self.next_day() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(err) => {
                    self.done = true;
                    self.pending.clear();
                    return Some(Err(err));
                }
            }
        }
    }
}

/// Whether `file` is a day file's name, `YYYY-MM-DD.json`.
fn is_day_file(file: &str) -> bool {
    let Some(date) = file.strip_suffix(".json") else {
        return false;
    };
    date.len() == 10
        && date.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            _ => c.is_ascii_digit(),
        })
}

/// Slack's `ts`, "seconds.micros", as (seconds, micros).
fn parse_ts(ts: &str) -> Option<(u64, u32)> {
    let (seconds, fraction) = ts.split_once('.').unwrap_or((ts, ""));
    if seconds.is_empty()
        || fraction.len() > 6
        || !seconds.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds = seconds.parse().ok()?;
    // "5.1" is 5.100000 s.
    let micros = format!("{fraction:0<6}").parse().ok()?;
    Some((seconds, micros))
}

/// Reads and parses one JSON file of the export.
fn read_json<R: Read + Seek, T: DeserializeOwned>(
    zip: &mut ZipArchive<R>,
    file: &str,
) -> Result<T, SlackError> {
    let bytes = read_limited(zip, file, MAX_JSON_BYTES)?.ok_or_else(|| SlackError::TooLarge {
        file: file.to_owned(),
        max: MAX_JSON_BYTES,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| SlackError::Json {
        file: file.to_owned(),
        source,
    })
}

/// The bytes of `file`, or `None` when it is larger than `max` (checked on what is read, not
/// on the size the ZIP claims).
fn read_limited<R: Read + Seek>(
    zip: &mut ZipArchive<R>,
    file: &str,
    max: u64,
) -> Result<Option<Vec<u8>>, SlackError> {
    let entry = zip.by_name(file).map_err(|source| SlackError::Zip {
        file: file.to_owned(),
        source,
    })?;
    if entry.size() > max {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    entry
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| SlackError::Io {
            file: file.to_owned(),
            source,
        })?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// The emoji Slack calls `name` (`thumbsup`, `+1`, `wave::skin-tone-3`): a GitHub/gemoji
/// shortcode, which Slack's standard names are, with Slack's skin tones 2–6 (light to dark).
/// `None` for a workspace's custom emoji.
fn emoji_named(name: &str) -> Option<Emoji> {
    let (base, tone) = match name.split_once("::") {
        Some((base, tone)) => (base, Some(tone)),
        None => (name, None),
    };
    let emoji = emojis::get_by_shortcode(base)?;
    let tone = match tone {
        Some("skin-tone-2") => Some(emojis::SkinTone::Light),
        Some("skin-tone-3") => Some(emojis::SkinTone::MediumLight),
        Some("skin-tone-4") => Some(emojis::SkinTone::Medium),
        Some("skin-tone-5") => Some(emojis::SkinTone::MediumDark),
        Some("skin-tone-6") => Some(emojis::SkinTone::Dark),
        _ => None,
    };
    // An emoji without skin tones keeps its one look, and so does one whose toned form is
    // longer than a reaction may be (a couple kissing, with two tones, is 35 bytes).
    tone.and_then(|tone| emoji.with_skin_tone(tone))
        .and_then(|toned| Emoji::try_from(toned.as_str()).ok())
        .or_else(|| Emoji::try_from(emoji.as_str()).ok())
}

/// Slack users (and bots) to nicknames: one nickname per Slack id, distinct as the server
/// tells names apart ([`names::likeness`]).
#[derive(Default)]
struct People {
    by_id: HashMap<String, Nick>,
    /// Each likeness key held, by the owner holding it.
    taken: HashMap<String, String>,
    /// The next number to try after each name, so that many people of one name cost one
    /// try each rather than one per earlier namesake (a crafted `users.json` of a million
    /// "a"s would otherwise take a million squared).
    next: HashMap<String, usize>,
}

impl People {
    /// The nickname of `owner` (a Slack user id, or `bot:<name>`), given on first sight: the
    /// first of `candidates` that makes a valid name; on a clash with someone else's,
    /// `name (handle)`, then `name 2`, `name 3`, ...; the id itself when no candidate is
    /// usable.
    fn assign(&mut self, owner: &str, candidates: &[Option<&str>], handle: Option<&str>) -> Nick {
        if let Some(nick) = self.by_id.get(owner) {
            return nick.clone();
        }
        let base = candidates
            .iter()
            .flatten()
            .find_map(|c| nickname(c, ""))
            .or_else(|| nickname(owner.strip_prefix("bot:").unwrap_or(owner), ""))
            .unwrap_or_else(|| Nick::try_from("slack").expect("a valid nickname"));
        let handle_suffix = handle
            .map(|h| format!(" ({h})"))
            .filter(|s| !base.as_str().ends_with(s.as_str()));
        let first = self.next.get(base.as_str()).copied().unwrap_or(2);
        let numbered = (first..=first + self.taken.len() + 2)
            .map(|n| (n, nickname(base.as_str(), &format!(" {n}"))));
        let tries = std::iter::once((0, Some(base.clone())))
            .chain(handle_suffix.map(|s| (0, nickname(base.as_str(), &s))))
            .chain(numbered);
        let free = |nick: &Nick| {
            names::likeness(nick)
                .iter()
                .all(|key| self.taken.get(key).is_none_or(|held| held == owner))
        };
        let (number, nick) = tries
            .filter_map(|(n, nick)| nick.map(|nick| (n, nick)))
            .find(|(_, nick)| free(nick))
            .unwrap_or((0, base.clone()));
        if number > 0 {
            self.next.insert(base.as_str().to_owned(), number + 1);
        }
        for key in names::likeness(&nick) {
            self.taken.entry(key).or_insert_with(|| owner.to_owned());
        }
        self.by_id.insert(owner.to_owned(), nick.clone());
        nick
    }
}

/// `name` made a nickname the server accepts from someone choosing it (NFC, no control or
/// invisible formatting characters, runs of spaces as one), cut so that `suffix` fits in
/// [`Nick::MAX_CHARS`]; `None` when nothing usable is left.
fn nickname(name: &str, suffix: &str) -> Option<Nick> {
    let chars: Vec<char> = name.nfc().collect();
    let mut clean = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let invisible =
            c.general_category() == GeneralCategory::Format && !names::in_emoji_sequence(&chars, i);
        if c.is_control() || c.is_whitespace() {
            if !clean.is_empty() && !clean.ends_with(' ') {
                clean.push(' ');
            }
        } else if !invisible {
            clean.push(c);
        }
    }
    let room = Nick::MAX_CHARS.saturating_sub(suffix.chars().count());
    let cut: String = clean.trim().chars().take(room).collect();
    let cut = cut.trim_end();
    if cut.is_empty() {
        return None;
    }
    let nick = Nick::try_from(format!("{cut}{suffix}")).ok()?;
    names::chosen("nickname", &nick).ok()
}

/// Slack channels to room names.
#[derive(Default)]
struct RoomNames {
    by_id: HashMap<String, RoomName>,
    taken: HashSet<RoomName>,
    /// The next number to try after each name (see [`People`]'s).
    next: HashMap<String, usize>,
}

impl RoomNames {
    /// The room of channel `id`, named `name` in Slack: lower case, each character a room
    /// name cannot hold made `-`, cut to [`RoomName::MAX_CHARS`]; `-2`, `-3`, ... when two
    /// channels end up with one name (in the export's order).
    fn assign(&mut self, id: &str, name: &str) {
        if self.by_id.contains_key(id) {
            return;
        }
        let base: String = name
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let base = if base.is_empty() {
            format!("slack-{}", id.to_lowercase())
        } else {
            base
        };
        let made = |suffix: &str| {
            let room = RoomName::MAX_CHARS.saturating_sub(suffix.chars().count());
            let cut: String = base.chars().take(room).collect();
            RoomName::try_from(format!("{cut}{suffix}")).ok()
        };
        let first = self.next.get(&base).copied().unwrap_or(2);
        let name = std::iter::once((0, made("")))
            .chain((first..=first + self.taken.len() + 2).map(|n| (n, made(&format!("-{n}")))))
            .filter_map(|(n, name)| name.map(|name| (n, name)))
            .find(|(_, name)| !self.taken.contains(name));
        if let Some((number, name)) = name {
            if number > 0 {
                self.next.insert(base.clone(), number + 1);
            }
            self.taken.insert(name.clone());
            self.by_id.insert(id.to_owned(), name);
        }
    }
}

/// Slack's text ("mrkdwn" as stored) to plain text.
struct Text<'a> {
    people: &'a People,
    rooms: &'a RoomNames,
}

impl Text<'_> {
    /// `<@U1>` → `@nick`, `<#C1|name>` → `#room`, `<!here>` → `@here`, `<url|label>` →
    /// `label (url)`, `<url>` → `url`, `&amp; &lt; &gt;` → `& < >`, and `:shortcode:` →
    /// its emoji outside code (`` ` ``), as Slack shows them.
    fn convert(&self, raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut in_code = false;
        let mut rest = raw;
        // Each turn consumes at least the `<`: this ends.
        while let Some(start) = rest.find('<') {
            out.push_str(&plain(&rest[..start], &mut in_code));
            let after = &rest[start + 1..];
            let Some(end) = after.find('>') else {
                out.push_str(&plain(&rest[start..], &mut in_code));
                return out;
            };
            out.push_str(&self.control(&after[..end]));
            rest = &after[end + 1..];
        }
        out.push_str(&plain(rest, &mut in_code));
        out
    }

    /// The text of one `<...>`.
    fn control(&self, inner: &str) -> String {
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target, Some(unescape(label))),
            None => (inner, None),
        };
        if let Some(id) = target.strip_prefix('@') {
            return match (self.people.by_id.get(id), label) {
                (Some(nick), _) => format!("@{nick}"),
                (None, Some(label)) => format!("@{}", label.trim_start_matches('@')),
                (None, None) => format!("@{id}"),
            };
        }
        if let Some(id) = target.strip_prefix('#') {
            return match (self.rooms.by_id.get(id), label) {
                (Some(room), _) => format!("#{room}"),
                (None, Some(label)) => format!("#{}", label.trim_start_matches('#')),
                (None, None) => format!("#{id}"),
            };
        }
        if let Some(command) = target.strip_prefix('!') {
            return match (command, label) {
                ("here" | "channel" | "everyone", _) => format!("@{command}"),
                // A user group (`!subteam^S1|@team`), a date (`!date^...|fallback`).
                (_, Some(label)) => label,
                (command, None) => command.to_owned(),
            };
        }
        let url = unescape(target);
        match label {
            Some(label) if label == url || url.strip_prefix("mailto:") == Some(&label) => label,
            Some(label) if !label.trim().is_empty() => format!("{label} ({url})"),
            _ => url,
        }
    }
}

/// Text outside `<...>`: unescaped, shortcodes made emoji outside code.
fn plain(text: &str, in_code: &mut bool) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, part) in text.split('`').enumerate() {
        if i > 0 {
            out.push('`');
            *in_code = !*in_code;
        }
        if *in_code {
            out.push_str(part);
        } else {
            out.push_str(&shortcodes(part));
        }
    }
    unescape(&out)
}

/// `:name:` (and `:name::skin-tone-N:`) made the emoji, where it is one.
fn shortcodes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Each turn consumes at least one character: this ends.
    while let Some(start) = rest.find(':') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let code = after.find(':').map(|end| &after[..end]).filter(|code| {
            !code.is_empty()
                && code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
        let Some(code) = code else {
            out.push(':');
            rest = after;
            continue;
        };
        let tail = &after[code.len() + 1..];
        let toned = tail
            .strip_prefix(":skin-tone-")
            .and_then(|t| t.get(..2))
            .filter(|t| t.ends_with(':'))
            .map(|t| (format!("{code}::skin-tone-{}", &t[..1]), 13));
        match toned.and_then(|(name, len)| emoji_named(&name).map(|e| (e, len))) {
            Some((emoji, len)) => {
                out.push_str(emoji.as_str());
                rest = &tail[len..];
            }
            None => match emoji_named(code) {
                Some(emoji) => {
                    out.push_str(emoji.as_str());
                    rest = tail;
                }
                None => {
                    out.push(':');
                    rest = after;
                }
            },
        }
    }
    out.push_str(rest);
    out
}

/// Slack's three escapes undone (`&amp;` last, so that `&amp;lt;` stays `&lt;`).
fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

// What the export's JSON holds, as far as it is read. Every field but ids is optional:
// exports from different years and tools leave out (or null) different ones.

#[derive(Deserialize)]
struct SlackUser {
    id: String,
    name: Option<String>,
    real_name: Option<String>,
    profile: Option<UserProfile>,
}

#[derive(Deserialize)]
struct UserProfile {
    display_name: Option<String>,
    real_name: Option<String>,
    /// Only in a message's `user_profile`: the handle.
    name: Option<String>,
}

#[derive(Deserialize)]
struct SlackChannel {
    id: String,
    name: String,
    topic: Option<Value>,
    purpose: Option<Value>,
    members: Option<Vec<String>>,
    is_private: Option<bool>,
}

#[derive(Deserialize)]
struct Value {
    value: Option<String>,
}

#[derive(Deserialize)]
struct SlackMessage {
    ts: String,
    subtype: Option<String>,
    user: Option<String>,
    user_profile: Option<UserProfile>,
    username: Option<String>,
    bot_id: Option<String>,
    bot_profile: Option<BotProfile>,
    text: Option<String>,
    thread_ts: Option<String>,
    edited: Option<serde::de::IgnoredAny>,
    reactions: Option<Vec<Reaction>>,
    files: Option<Vec<SlackFile>>,
    /// Old exports' single file.
    file: Option<SlackFile>,
    attachments: Option<Vec<Attachment>>,
}

#[derive(Deserialize)]
struct BotProfile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    name: String,
    users: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct SlackFile {
    id: String,
    name: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct Attachment {
    fallback: Option<String>,
    text: Option<String>,
    from_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::transfer::slack_fixture;

    fn nick(name: &str) -> Nick {
        Nick::try_from(name).unwrap()
    }

    fn room(name: &str) -> RoomName {
        RoomName::try_from(name).unwrap()
    }

    fn emoji(e: &str) -> Emoji {
        Emoji::try_from(e).unwrap()
    }

    /// A message of the fixture with the defaults of a plain one.
    fn message(room_name: &str, source_id: &str, from: &str, ts: u64, text: &str) -> Message {
        Message {
            room: room(room_name),
            source_id: source_id.to_owned(),
            from: nick(from),
            ts,
            text: text.to_owned(),
            edited: false,
            reply_to: None,
            reactions: Vec::new(),
            file: None,
        }
    }

    /// Everything `files` yields, and the report at the end.
    fn read_all(files: &[(String, Vec<u8>)]) -> (Vec<Item>, SlackReport) {
        let mut export = read(Cursor::new(slack_fixture::zip(files))).unwrap();
        let items = export.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
        (items, export.report().clone())
    }

    fn expected() -> Vec<Item> {
        let (alice, bob, carol) = (nick("Alice"), nick("bob"), nick("Carol Jones"));
        let parent = "C01/1704103300.000200";
        let mut thread = message(
            "general",
            parent,
            "Alice",
            1_704_103_300_000,
            "Release plan: the plan (https://example.com/plan) & https://example.com/faq cc @bob @here",
        );
        thread.reactions = vec![
            (emoji("👍"), vec![bob.clone(), carol.clone()]),
            (emoji("👋🏼"), vec![carol.clone()]),
        ];
        let mut reply = message(
            "general",
            "C01/1704103400.000300",
            "bob",
            1_704_103_400_000,
            "On it 😄 in #random, 3 < 4 > 2",
        );
        reply.edited = true;
        reply.reply_to = Some(parent.to_owned());
        let mut late = message(
            "general",
            "C01/1704189600.000100",
            "Carol Jones",
            1_704_189_600_000,
            "Late reply",
        );
        late.reply_to = Some(parent.to_owned());
        let mut files = message(
            "general",
            "C01/1704189700.000200",
            "Alice",
            1_704_189_700_000,
            "Two files\n(file not in the export: diagram.png)",
        );
        files.file = Some(File {
            name: "notes.txt".to_owned(),
            bytes: slack_fixture::NOTES_TXT.to_vec(),
        });
        vec![
            Item::Room(Room {
                name: room("general"),
                topic: Some("Company-wide news for @Alice & friends".to_owned()),
                private: false,
                members: vec![alice.clone(), bob.clone(), carol.clone()],
            }),
            Item::Room(Room {
                name: room("random"),
                topic: Some("Anything goes".to_owned()),
                private: false,
                members: vec![alice.clone(), bob.clone()],
            }),
            Item::Room(Room {
                name: room("secret-plans"),
                topic: None,
                private: true,
                members: vec![alice, carol],
            }),
            Item::Message(Box::new(thread)),
            Item::Message(Box::new(reply)),
            Item::Message(Box::new(late)),
            Item::Message(Box::new(files)),
            Item::Message(Box::new(message(
                "general",
                "C01/1704189800.000300",
                "deploybot",
                1_704_189_800_000,
                "Deployed https://example.com/v2",
            ))),
            Item::Message(Box::new(message(
                "random",
                "C02/1704103500.000200",
                "bob",
                1_704_103_500_000,
                "hi @Alice and @ghost 👋🏻",
            ))),
            Item::Message(Box::new(message(
                "secret-plans",
                "G01/1704276000.000100",
                "Carol Jones",
                1_704_276_000_000,
                "Quiet 🤫 `:smile:` a@b.example",
            ))),
        ]
    }

    #[test]
    fn fixture_export_yields_rooms_then_messages_in_time_order() {
        let (items, report) = read_all(&slack_fixture::files());
        let want = expected();
        for (i, (got, want)) in items.iter().zip(&want).enumerate() {
            assert_eq!(got, want, "item {i}");
        }
        assert_eq!(items.len(), want.len());
        assert_eq!(
            report,
            SlackReport {
                conversations_skipped: 1,
                system_messages_skipped: 2,
                empty_messages_skipped: 1,
                unattributed_messages_skipped: 0,
                replies_without_parent: 0,
                unknown_reactions: BTreeMap::from([("partyparrot".to_owned(), 1)]),
                files_missing: 1,
                files_too_large: 0,
                other_files_ignored: 1,
            }
        );
    }

    #[test]
    fn names_do_not_depend_on_the_order_of_users_json() {
        let mut files = slack_fixture::files();
        let users: Vec<serde_json::Value> = serde_json::from_slice(&files[0].1).unwrap();
        let reversed: Vec<_> = users.into_iter().rev().collect();
        files[0].1 = serde_json::to_vec(&reversed).unwrap();
        assert_eq!(read_all(&files).0, expected());
    }

    #[test]
    fn an_export_zipped_inside_a_folder_reads_the_same() {
        let files: Vec<_> = slack_fixture::files()
            .into_iter()
            .map(|(name, bytes)| (format!("My Workspace Slack export/{name}"), bytes))
            .collect();
        assert_eq!(read_all(&files).0, expected());
    }

    #[test]
    fn a_channel_listed_twice_is_one_room() {
        let mut files = slack_fixture::files();
        let mut groups: Vec<serde_json::Value> = serde_json::from_slice(&files[2].1).unwrap();
        let channels: Vec<serde_json::Value> = serde_json::from_slice(&files[1].1).unwrap();
        groups.push(channels[0].clone());
        files[2].1 = serde_json::to_vec(&groups).unwrap();
        assert_eq!(read_all(&files).0, expected());
    }

    #[test]
    fn every_file_in_the_zip_is_carried_the_others_in_messages_of_their_own() {
        let mut files = slack_fixture::files();
        files.push(("__uploads/F02/diagram.png".to_owned(), b"PNG".to_vec()));
        let (items, report) = read_all(&files);
        let [Item::Message(first), Item::Message(second)] = &items[6..8] else {
            panic!("{items:#?}");
        };
        assert_eq!(first.text, "Two files");
        assert_eq!(first.file.as_ref().unwrap().name, "notes.txt");
        assert_eq!(second.source_id, "C01/1704189700.000200/F02");
        assert_eq!((second.ts, second.from.as_str()), (first.ts, "Alice"));
        assert_eq!(second.text, "");
        assert_eq!(
            second.file,
            Some(File {
                name: "diagram.png".to_owned(),
                bytes: b"PNG".to_vec()
            })
        );
        assert_eq!(report.files_missing, 0);
    }

    #[test]
    fn a_file_over_the_limit_is_named_not_carried() {
        let zip = slack_fixture::export();
        let mut export = read(Cursor::new(zip)).unwrap().with_max_file_bytes(3);
        let items = export.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
        let Item::Message(files) = &items[6] else {
            panic!("{items:#?}");
        };
        assert_eq!(
            files.text,
            "Two files\n(file too large to import: notes.txt)\n(file not in the export: diagram.png)"
        );
        assert_eq!(files.file, None);
        assert_eq!(export.report().files_too_large, 1);
    }

    #[test]
    fn a_malformed_day_file_fails_the_read_naming_it() {
        let mut files = slack_fixture::files();
        let day = files
            .iter_mut()
            .find(|(name, _)| name == "general/2024-01-01.json")
            .unwrap();
        day.1 = b"[{\"ts\": \"1704103200.000100\", \"text\": ".to_vec();
        let mut export = read(Cursor::new(slack_fixture::zip(&files))).unwrap();
        for _ in 0..3 {
            assert!(matches!(export.next(), Some(Ok(Item::Room(_)))));
        }
        let err = export.next().unwrap().unwrap_err();
        assert!(
            matches!(&err, SlackError::Json { file, .. } if file == "general/2024-01-01.json"),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("general/2024-01-01.json is not"),
            "{err}"
        );
        assert!(export.next().is_none(), "nothing after an error");
    }

    #[test]
    fn a_bad_ts_fails_the_read_naming_the_file() {
        let mut files = slack_fixture::files();
        files.push((
            "random/2024-01-02.json".to_owned(),
            br#"[{"type": "message", "user": "U01", "ts": "yesterday", "text": "x"}]"#.to_vec(),
        ));
        let export = read(Cursor::new(slack_fixture::zip(&files))).unwrap();
        let err = export.filter_map(Result::err).next().unwrap();
        assert!(
            matches!(&err, SlackError::BadTs { file, ts } if file == "random/2024-01-02.json" && ts == "yesterday"),
            "{err:?}"
        );
    }

    #[test]
    fn what_is_not_a_slack_export_is_refused_clearly() {
        let err = read(Cursor::new(b"not a zip at all".to_vec()))
            .err()
            .unwrap();
        assert!(matches!(err, SlackError::NotZip(_)), "{err:?}");

        let without = |missing: &str| {
            let files: Vec<_> = slack_fixture::files()
                .into_iter()
                .filter(|(name, _)| name != missing)
                .collect();
            read(Cursor::new(slack_fixture::zip(&files))).err().unwrap()
        };
        let err = without("channels.json");
        assert!(
            matches!(err, SlackError::Missing("channels.json")),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "not a Slack export: it has no channels.json"
        );
        assert!(matches!(
            without("users.json"),
            SlackError::Missing("users.json")
        ));

        let mut files = slack_fixture::files();
        files[0].1 = b"{\"users\": []}".to_vec();
        let err = read(Cursor::new(slack_fixture::zip(&files))).err().unwrap();
        assert!(
            matches!(&err, SlackError::Json { file, .. } if file == "users.json"),
            "{err:?}"
        );
    }

    #[test]
    fn a_reply_whose_thread_start_is_missing_is_a_plain_message() {
        let mut files = slack_fixture::files();
        files.retain(|(name, _)| name != "general/2024-01-01.json");
        let (items, report) = read_all(&files);
        let Item::Message(late) = &items[3] else {
            panic!("{items:#?}");
        };
        assert_eq!(late.text, "Late reply");
        assert_eq!(late.reply_to, None);
        assert_eq!(report.replies_without_parent, 1);
    }

    #[test]
    fn nicknames_are_valid_stable_and_distinct() {
        let mut people = People::default();
        let mut give = |id: &str, candidates: &[&str], handle: Option<&str>| {
            let candidates: Vec<Option<&str>> = candidates.iter().map(|c| Some(*c)).collect();
            people.assign(id, &candidates, handle).as_str().to_owned()
        };
        assert_eq!(give("U1", &["Alice"], Some("alice")), "Alice");
        assert_eq!(give("U1", &["Someone else"], None), "Alice", "stable");
        // The same name ignoring case, then a look-alike (Cyrillic А).
        assert_eq!(give("U2", &["ALICE"], Some("alice2")), "ALICE (alice2)");
        assert_eq!(give("U3", &["\u{410}lice"], None), "\u{410}lice 2");
        // Invisible and control characters dropped, spaces collapsed, NFC.
        assert_eq!(give("U4", &["Bo\u{200B}b\t  Lee "], None), "Bob Lee");
        assert_eq!(give("U5", &["e\u{301}mile"], None), "\u{e9}mile");
        // Nothing usable: the next candidate, then the id.
        assert_eq!(
            give("U6", &["", "\u{200B}", "Real Name"], None),
            "Real Name"
        );
        assert_eq!(give("U7", &["  "], None), "U7");
        // Cut to 32 characters, with room for the suffix on a clash.
        let long = "x".repeat(40);
        assert_eq!(give("U8", &[&long], None), "x".repeat(32));
        assert_eq!(
            give("U9", &[&long], Some("xh")),
            format!("{} (xh)", "x".repeat(27))
        );
        assert_eq!(give("bot:Alice", &["Alice"], Some("bot")), "Alice (bot)");
    }

    #[test]
    fn room_names_are_valid_and_distinct() {
        let mut rooms = RoomNames::default();
        for (id, name) in [
            ("C1", "general"),
            ("C2", "General"),
            ("C3", "Random Stuff.old"),
            ("C4", "한국어-채널"),
            ("C5", ""),
            ("C6", &"y".repeat(40)),
            ("C7", &"y".repeat(33)),
        ] {
            rooms.assign(id, name);
        }
        let name = |id: &str| rooms.by_id[id].as_str().to_owned();
        assert_eq!(name("C1"), "general");
        assert_eq!(name("C2"), "general-2");
        assert_eq!(name("C3"), "random-stuff-old");
        assert_eq!(name("C4"), "한국어-채널");
        assert_eq!(name("C5"), "slack-c5");
        assert_eq!(name("C6"), "y".repeat(32));
        assert_eq!(name("C7"), format!("{}-2", "y".repeat(30)));
    }

    #[test]
    fn slack_emoji_names_become_emoji() {
        let named = |name: &str| emoji_named(name).map(|e| e.as_str().to_owned());
        assert_eq!(named("+1").as_deref(), Some("👍"));
        assert_eq!(named("thumbsup").as_deref(), Some("👍"));
        assert_eq!(named("wave::skin-tone-2").as_deref(), Some("👋🏻"));
        assert_eq!(named("wave::skin-tone-6").as_deref(), Some("👋🏿"));
        // An emoji without skin tones, or a tone Slack does not have: the emoji itself.
        assert_eq!(named("smile::skin-tone-3").as_deref(), Some("😄"));
        assert_eq!(named("wave::skin-tone-9").as_deref(), Some("👋"));
        assert_eq!(named("partyparrot"), None);
        assert_eq!(named(""), None);
    }

    #[test]
    fn every_shortcode_and_skin_tone_is_a_valid_reaction() {
        let tones = [
            "",
            "::skin-tone-2",
            "::skin-tone-3",
            "::skin-tone-4",
            "::skin-tone-5",
            "::skin-tone-6",
        ];
        let mut refused = Vec::new();
        for emoji in emojis::iter() {
            for code in emoji.shortcodes() {
                for tone in tones {
                    let name = format!("{code}{tone}");
                    if emoji_named(&name).is_none() {
                        refused.push(name);
                    }
                }
            }
        }
        // Six letter-like emoji (🅰️ 🅱️ ℹ️ Ⓜ️ 🅾️ 🅿️) that shared's `Emoji` refuses: their
        // characters are Alphabetic in Unicode, and a reaction may hold no letter. Counted as
        // unknown reactions until that rule makes room for them.
        let letters = ["a", "b", "information_source", "m", "o2", "parking"];
        let expected: Vec<String> = letters
            .iter()
            .flat_map(|code| tones.iter().map(move |tone| format!("{code}{tone}")))
            .collect();
        refused.sort();
        assert_eq!(refused, expected);
    }

    #[test]
    fn slack_text_becomes_plain_text() {
        let mut people = People::default();
        people.assign("U1", &[Some("Alice")], None);
        let mut rooms = RoomNames::default();
        rooms.assign("C1", "Dev Ops");
        let text = Text {
            people: &people,
            rooms: &rooms,
        };
        for (raw, plain) in [
            ("<!channel> and <!everyone>", "@channel and @everyone"),
            (
                "<!subteam^S1|@devs> <!date^1392734382^{date}|Feb 18>",
                "@devs Feb 18",
            ),
            (
                "<#C1> <#C1|old-name> <#C9|gone> <#C8>",
                "#dev-ops #dev-ops #gone #C8",
            ),
            ("<@U1> <@U1|x> <@U9>", "@Alice @Alice @U9"),
            (
                "<https://x.example/?a=1&amp;b=2|x &amp; y>",
                "x & y (https://x.example/?a=1&b=2)",
            ),
            ("<https://x.example|https://x.example>", "https://x.example"),
            ("a &amp;lt; b", "a &lt; b"),
            ("unclosed <oops", "unclosed <oops"),
            (
                "at 10:30:45 :not_an_emoji: :+1:",
                "at 10:30:45 :not_an_emoji: 👍",
            ),
            ("```:smile:``` :smile:", "```:smile:``` 😄"),
            (":wave::skin-tone-4:", "👋🏽"),
        ] {
            assert_eq!(text.convert(raw), plain, "{raw}");
        }
    }

    #[test]
    fn unlisted_senders_are_named_by_their_profile_or_id() {
        let mut files = slack_fixture::files();
        files.push((
            "random/2024-01-05.json".to_owned(),
            br#"[
                {"type": "message", "user": "USLACKBOT", "ts": "1704412800.000100", "text": "Reminder: lunch"},
                {"type": "message", "user": "UEXT", "ts": "1704412801.000100", "text": "hello from afar",
                 "user_profile": {"display_name": "", "real_name": "Dana Far", "name": "dana"}},
                {"type": "message", "user": "UEXT2", "ts": "1704412802.000100", "text": "and me"},
                {"type": "message", "ts": "1704412803.000100", "text": "from nobody"}
            ]"#
            .to_vec(),
        ));
        let (items, report) = read_all(&files);
        let from: Vec<&str> = items[9..12]
            .iter()
            .map(|item| match item {
                Item::Message(message) => message.from.as_str(),
                Item::Room(room) => panic!("{room:?}"),
            })
            .collect();
        assert_eq!(from, ["Slackbot", "Dana Far", "UEXT2"]);
        assert_eq!(items.len(), 13);
        assert_eq!(report.unattributed_messages_skipped, 1);
    }

    #[test]
    fn an_open_export_can_move_to_a_blocking_thread() {
        fn send<T: Send>(_: &T) {}
        let export = read(Cursor::new(slack_fixture::export())).unwrap();
        send(&export);
    }

    #[test]
    fn ts_is_seconds_and_micros() {
        assert_eq!(parse_ts("1704103300.000200"), Some((1_704_103_300, 200)));
        assert_eq!(parse_ts("5.1"), Some((5, 100_000)));
        assert_eq!(parse_ts("5"), Some((5, 0)));
        for bad in ["", ".5", "abc", "1.1234567", "1.-2", "-1.0"] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
        assert!(is_day_file("2024-01-31.json"));
        assert!(!is_day_file("canvas_in_the_conversation.json"));
        assert!(!is_day_file("2024-01-31.txt"));
    }
}
