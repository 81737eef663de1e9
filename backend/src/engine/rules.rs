//! The chat rules both engines apply, written once: what an entry may refer to, the reaction
//! caps, when a catch-up becomes a `reset`, how a log's entries fold into messages and
//! changes, whom a direct message to an absent name reaches, and the server clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use shared::{
    DirectMessage, Emoji, ErrorCode, MessageId, Nick, Quote, Reaction, RoomChange, RoomEntry,
    RoomMessage, RoomName,
};

use super::vocabulary::{Authority, Body, Holder, Reach};

/// Whether a direct message to a nickname nobody holds now goes to `holder`, its last
/// holder, at `now` (milliseconds): always, or only within the open mode's window after
/// they last held it. Stored under their user key, so whoever takes the name later never
/// reads it.
pub fn reachable(reach: Reach, holder: &Holder, now: u64) -> bool {
    match reach {
        Reach::Always => true,
        Reach::Within(window) => now.saturating_sub(holder.at) <= millis(window),
    }
}

/// What a refused append says: its error code and the reason.
pub type Refusal = (ErrorCode, String);

/// The message an entry refers to (a change's target, a reply's original), and who may.
pub fn referred(body: &Body) -> Option<(MessageId, Authority)> {
    match body {
        Body::Text { reply_to, .. } => reply_to.map(|id| (id, Authority::Anyone)),
        Body::Change {
            target, authority, ..
        } => Some((*target, *authority)),
    }
}

/// The rule for both engines: an entry may refer to a message of its room that exists and is
/// not deleted, and, with [`Authority::Author`], only to the sender's own. `found` is that
/// message as it is now, with its author's key. A reply gets its quote.
pub fn refer(
    room: &RoomName,
    id: MessageId,
    authority: Authority,
    sender: &str,
    found: Option<(RoomMessage, String)>,
) -> Result<Option<Quote>, Refusal> {
    let Some((original, author)) = found.filter(|(m, _)| !m.deleted) else {
        return Err(no_such_message(room, id));
    };
    if authority == Authority::Author && author != sender {
        return Err(not_yours(room, id));
    }
    Ok(Some(Quote::of(&original)))
}

/// The refusal of an entry referring to a message that is not there (or was deleted).
pub fn no_such_message(room: &RoomName, id: MessageId) -> Refusal {
    let reason = format!("{room} has no message {} (or it was deleted)", id.0);
    (ErrorCode::NoSuchMessage, reason)
}

/// The refusal of a change only the message's author may make.
pub fn not_yours(room: &RoomName, id: MessageId) -> Refusal {
    let reason = format!("message {} of {room} is not yours", id.0);
    (ErrorCode::Forbidden, reason)
}

/// The caps on reactions, for both engines: whether a user who has (`has`) or has not this
/// emoji on the message, with `mine` reactions of their own there, may add it to a message
/// whose `kinds` distinct emoji include it (`known`) or not.
pub fn reaction_caps(has: bool, mine: u32, known: bool, kinds: u32) -> Result<(), Refusal> {
    if has {
        return Ok(());
    }
    if mine >= Reaction::MAX_PER_USER {
        let reason = format!(
            "you have {} reactions on this message already; take one back first",
            Reaction::MAX_PER_USER
        );
        return Err((ErrorCode::TooManyReactions, reason));
    }
    if !known && kinds >= Reaction::MAX_PER_MESSAGE {
        let reason = format!(
            "this message has {} different reactions already; add to one of them",
            Reaction::MAX_PER_MESSAGE
        );
        return Err((ErrorCode::TooManyReactions, reason));
    }
    Ok(())
}

/// A message's reactions from its reactors in the order they reacted, for both engines: each
/// emoji once, in the order it first came, with its users in order.
pub fn in_order(reactors: impl IntoIterator<Item = (Emoji, Nick)>) -> Vec<Reaction> {
    let mut reactions: Vec<Reaction> = Vec::new();
    for (emoji, nick) in reactors {
        match reactions.iter_mut().find(|r| r.emoji == emoji) {
            Some(reaction) => reaction.users.push(nick),
            None => reactions.push(Reaction {
                emoji,
                users: vec![nick],
            }),
        }
    }
    reactions
}

/// A log range's messages and changes, each in order.
pub fn split(entries: Vec<RoomEntry>) -> (Vec<RoomMessage>, Vec<RoomChange>) {
    let mut messages = Vec::new();
    let mut changes = Vec::new();
    for entry in entries {
        match entry {
            RoomEntry::Message(message) => messages.push(message),
            RoomEntry::Change(change) => changes.push(change),
        }
    }
    (messages, changes)
}

/// Whether a client that has a room up to `since` must get a `reset` rather than `missed`
/// (the entries after `since`, at most `max_catch_up + 1` of them, read when the room's last
/// number was `last_seq`). The rule for both engines.
pub fn catch_up_resets(since: u64, last_seq: u64, missed: &[RoomEntry], max_catch_up: u32) -> bool {
    // Sequence numbers have no holes, so the first missed entry must follow `since`
    // directly; otherwise retention deleted some (all of them, when none is left but the
    // room's number is past `since`). A `since` past the room's last number comes from
    // another log (a wiped or replaced data directory, or a Redis that lost its data).
    let contiguous = match missed.first() {
        Some(first) => first.seq() == since + 1,
        None => since >= last_seq,
    };
    let too_many = missed.len() > max_catch_up as usize;
    since > last_seq || !contiguous || too_many
}

/// Whether a client missing `missed` direct messages (at most `max_catch_up + 1` read) must
/// get a `reset` instead. The rule for both engines.
pub fn direct_catch_up_resets(missed: &[DirectMessage], max_catch_up: u32) -> bool {
    missed.len() > max_catch_up as usize
}

/// Milliseconds since the Unix epoch, for message timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// A duration in whole milliseconds (saturating).
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
