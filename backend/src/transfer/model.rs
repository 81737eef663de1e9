//! What an import writes, read from any source (our export, a Slack export): a stream of
//! [`Item`]s. A reader yields a room's [`Item::Room`] before any of its messages, and a
//! room's messages in their original order (time, then the source's own order); a message
//! answering another comes after it. The writer keeps, per source, which [`SourceId`]s it
//! stored, so that importing the same source twice stores nothing new.

use shared::{Emoji, Nick, RoomName};

/// A message's or room's id in the source (a Slack `ts` with its channel, our export's
/// message id with its room): what makes an import idempotent.
pub type SourceId = String;

/// One thing to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A room, before its messages.
    Room(Room),
    /// A message of a room announced before.
    Message(Box<Message>),
}

/// A room as the source describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Its name here (the source's, made valid).
    pub name: RoomName,
    /// Its topic, when the source has one.
    pub topic: Option<String>,
    /// Visible only to its members.
    pub private: bool,
    /// Its members (nicknames here), when the source lists them.
    pub members: Vec<Nick>,
}

/// A message of a room, with what happened to it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The room (announced before by an [`Item::Room`]).
    pub room: RoomName,
    /// Its id in the source.
    pub source_id: SourceId,
    /// Who sent it (their nickname here).
    pub from: Nick,
    /// When it was sent, milliseconds since the Unix epoch.
    pub ts: u64,
    /// Its text as the source has it now (after any edits); may be empty when it carries a
    /// file.
    pub text: String,
    /// Its text was changed after it was sent.
    pub edited: bool,
    /// The message it answers (a thread's reply answers the thread's first message), by
    /// its source id; a message earlier in the same room.
    pub reply_to: Option<SourceId>,
    /// Its reactions: each emoji with who gave it, in order.
    pub reactions: Vec<(Emoji, Vec<Nick>)>,
    /// The file it carries, when the source holds its bytes.
    pub file: Option<File>,
}

/// A file carried by a message, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its name.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}
