//! Chat protocol v1 (`chat.v1.json`), spoken on `GET /ws`: [`ClientMsg`] requests in the
//! imperative, [`ServerMsg`] facts in the past tense, both JSON objects tagged by `"type"`.
//! docs/PROTOCOL.md shows every message; `tests/wire_format.rs` freezes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{
    ClientMsgId, Emoji, Epoch, InvalidName, MessageId, Nick, RoomName, UploadId, UserToken,
};
use crate::search::{SearchCursor, SearchHit, SearchOrder, SearchQuery};

/// The WebSocket subprotocol a client must offer in `Sec-WebSocket-Protocol`.
pub const SUBPROTOCOL: &str = "chat.v1.json";

/// Members per page: in `joined`, and in each `members` answer.
pub const MEMBER_PAGE: usize = 50;

/// How many people a room announces typing at once.
pub const TYPING_SHOWN: usize = 3;

/// The longest room topic, in characters.
pub const TOPIC_MAX_CHARS: usize = 250;

/// How many people a group conversation has, its creator included.
pub const GROUP_SIZE: std::ops::RangeInclusive<usize> = 3..=9;

/// The text of a chat or direct message: not blank, at most [`Text::MAX_BYTES`] bytes. The
/// server's own (smaller, configurable) limit in characters is announced in [`Limits`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    /// Hard ceiling of the protocol, whatever the server's configuration.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in characters (what limits count).
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// The names this text mentions, each once, lower-cased, in order: every `@` followed
    /// by a name of letters, digits, `-` and `_` (the name ends at any other character).
    /// The one rule for the app's mention highlight and the server's mention pushes.
    pub fn mentions(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (at, _) in self.0.match_indices('@') {
            let name: String = mention_name(&self.0[at + 1..])
                .chars()
                .flat_map(char::to_lowercase)
                .collect();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// The name an `@` mentions, as typed, given the text right after the `@`: its longest start
/// of letters, digits, `-` and `_` (empty: no mention). [`Text::mentions`] and the formatter's
/// mention nodes ([`crate::format`]) both read names with this, so they cannot disagree.
pub(crate) fn mention_name(after_at: &str) -> &str {
    let end = after_at
        .find(|c: char| !is_name_char(c))
        .unwrap_or(after_at.len());
    &after_at[..end]
}

/// A character a mentioned name may hold.
fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

impl TryFrom<String> for Text {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        if value.trim().is_empty() {
            return Err(InvalidName::Empty {
                what: "message text",
            });
        }
        if value.len() > Self::MAX_BYTES {
            return Err(InvalidName::TooLong {
                what: "message text (in bytes)",
                max: Self::MAX_BYTES,
            });
        }
        Ok(Self(value))
    }
}

impl TryFrom<&str> for Text {
    type Error = InvalidName;
    fn try_from(value: &str) -> Result<Self, InvalidName> {
        Self::try_from(value.to_owned())
    }
}

impl From<Text> for String {
    fn from(value: Text) -> String {
        value.0
    }
}

/// A request from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    /// Identify (must come first). `rooms` are (re)joined at once; empty means the default
    /// room. A second tab sends the same `nick` and `token` and becomes the same user.
    Hello {
        /// The nickname wanted.
        nick: Nick,
        /// This browser's secret (shared by its tabs).
        token: UserToken,
        /// Rooms to join right away (a reconnecting client's rooms).
        #[serde(default)]
        rooms: Vec<RoomName>,
        /// A reconnecting client's last `seq` per room in `rooms`: each such room's `history`
        /// is then exactly the messages after it (`catch_up`). Rooms not named here get the
        /// latest page.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        since: BTreeMap<RoomName, u64>,
        /// The `epoch` of each room in `since`, from its last `history`: a room whose log has
        /// another epoch now gets a `reset`. A room without one is trusted (older clients).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        epochs: BTreeMap<RoomName, Epoch>,
        /// A reconnecting client's last direct message id: `direct_history` is then exactly
        /// the direct messages after it. Without it, the latest page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direct_since: Option<MessageId>,
        /// The `epoch` of the last `direct_history`, with `direct_since`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direct_epoch: Option<Epoch>,
        /// JWT mode: the token the embedding page handed the app. Its `sub` is the user and
        /// its `name` the nickname (`nick` and `token` above are then ignored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jwt: Option<String>,
    },
    /// JWT mode: a fresh token for the same `sub`, answering `reauth_needed` (or sooner).
    Reauth {
        /// The token.
        jwt: String,
    },
    /// Create a room you own (and join it): public or private (invisible, and closed to
    /// anyone not invited), with an optional cap on how many users may be in it at once.
    CreateRoom {
        /// The room; refused (`room_exists`) if it has an owner already or anyone is in it.
        room: RoomName,
        /// Private: only invited users may find it or join it.
        #[serde(default)]
        private: bool,
        /// At most this many users in it at once (`room_full` beyond).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_members: Option<u32>,
    },
    /// Starts a group conversation with these people ([`GROUP_SIZE`] in all, with you): a
    /// private room with a name of the server's choosing whose members are joined to it on
    /// every tab, now and on every `hello` (those away on their next one). A name that
    /// reaches nobody (see `direct`) is `no_such_user`.
    CreateGroup {
        /// The others, by nickname.
        with: Vec<Nick>,
    },
    /// Leaves a group for good: its other members see `moderated` `left`; your tabs get
    /// `removed` (`left`).
    LeaveGroup {
        /// The group's room.
        room: RoomName,
    },
    /// The owner invites a user (by nickname) into a private room.
    Invite {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
    },
    /// The owner takes an invitation back; the user is removed from the room.
    Uninvite {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
    },
    /// The owner (or a server admin) names or unnames a moderator of the room.
    SetModerator {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
        /// Moderator from now on, or not.
        moderator: bool,
    },
    /// A moderator removes a user from the room (they may join again).
    Kick {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
    },
    /// A moderator mutes a user in the room for `for_secs` seconds (0 lifts a mute).
    Mute {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
        /// How long; 0 unmutes.
        for_secs: u64,
    },
    /// A moderator bans a user from the room: removed, and refused until unbanned (whatever
    /// tab, connection or, with logins, nickname they come back with).
    Ban {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
    },
    /// A moderator lifts a ban.
    Unban {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
    },
    /// Delete a message: your own, or anyone's as a moderator. It becomes a placeholder for
    /// everyone (`changed` with `deleted`); its text is never sent again.
    DeleteMessage {
        /// The room.
        room: RoomName,
        /// The message's `id`.
        id: MessageId,
        /// Comes back on the `changed` event (or an `error`), like a `say`'s.
        client_id: ClientMsgId,
    },
    /// Replace the text of your own message (`changed` with `edited`).
    Edit {
        /// The room.
        room: RoomName,
        /// The message's `id`.
        id: MessageId,
        /// The new text.
        text: Text,
        /// Comes back on the `changed` event.
        client_id: ClientMsgId,
    },
    /// Add (`on: true`) or take back your reaction `emoji` to a message of a room you are in.
    React {
        /// The room.
        room: RoomName,
        /// The message's `id`.
        id: MessageId,
        /// The reaction.
        emoji: Emoji,
        /// Add it or take it back (both are idempotent).
        on: bool,
        /// Comes back on the `changed` event.
        client_id: ClientMsgId,
    },
    /// Join (and create, if new) a room. `history` follows `joined`.
    Join {
        /// The room.
        room: RoomName,
        /// The last `seq` this client has of the room, if any (see `hello`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<u64>,
        /// The `epoch` that `since` belongs to (see `hello`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        epoch: Option<Epoch>,
    },
    /// Ask for the page of a room's messages just before `before` ("load older").
    LoadOlder {
        /// The room (joined).
        room: RoomName,
        /// The oldest `seq` the client has; the answer holds messages with smaller ones.
        before: u64,
    },
    /// Ask for the page of a room's messages just after `after` ("load newer"): a client that
    /// let its newest lines go from memory while reading far back reads them again.
    LoadNewer {
        /// The room (joined).
        room: RoomName,
        /// The newest `seq` the client holds; the answer holds messages with larger ones.
        after: u64,
    },
    /// Ask for the page of a room's messages around `seq` (a search result): up to half a
    /// page before it and the rest from it on, oldest first; answered by a `history` in mode
    /// `around`, which replaces the client's lines. Paging on both ways from there is
    /// `load_older` and `load_newer`, back to the newest messages.
    LoadAround {
        /// The room (joined).
        room: RoomName,
        /// The message to show, by its `seq`.
        seq: u64,
    },
    /// Leave a room.
    Leave {
        /// The room.
        room: RoomName,
    },
    /// Ask for the list of rooms with their member counts.
    ListRooms,
    /// Ask for a page of a room's members (this connection must be in it), sorted by
    /// [`Nick::key`]: the first page after `after` (from the start without it), only those
    /// whose key starts with `prefix` (lower-cased; empty: everyone). Answered by `members`.
    /// Paging on from the last nickname of each page lists every member exactly once while
    /// nobody joins or leaves.
    Members {
        /// The room.
        room: RoomName,
        /// The last member of the previous page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Nick>,
        /// A search: only nicknames starting with this, ignoring case (at most
        /// [`Nick::MAX_CHARS`] characters).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
    /// Send a message to a room this connection has joined.
    Say {
        /// The room.
        room: RoomName,
        /// The message.
        text: Text,
        /// Comes back on the `said` echo, so the sender can match its pending message.
        client_id: ClientMsgId,
        /// The `id` of the message of the same room this one answers (it is quoted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<MessageId>,
        /// An image uploaded for this room (`id` is what counts; the server fills in the
        /// rest from what it stored).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<Image>,
        /// A file uploaded for this room (the same: `id` counts, the server fills in the
        /// rest). A message has an image or a file, not both. (Boxed, here and in messages:
        /// most messages have none, and every request and log entry would otherwise carry
        /// its room.)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<Box<File>>,
    },
    /// This user has read `room` up to `seq` (kept by the server for all their tabs and
    /// devices; a position only moves forward).
    MarkRead {
        /// The room.
        room: RoomName,
        /// The last `seq` read.
        seq: u64,
    },
    /// This user has read the direct conversation with `with` up to the message whose
    /// `seq` (the conversation's order, the same for both users) is `seq`.
    MarkDirectRead {
        /// The other user.
        with: Nick,
        /// The last direct message's `seq` read.
        seq: u64,
    },
    /// Whether others see how far this user has read direct and group conversations
    /// (`seen`); off, they do not, and neither does this user see theirs. The choice is the
    /// account's, kept by the server (`sharing` tells every tab); on until turned off.
    ShareReads {
        /// Share (`true`) or not.
        share: bool,
    },
    /// Set what `room` is about (its owner, a moderator or a server admin; not in groups):
    /// at most [`TOPIC_MAX_CHARS`] characters on one line, empty to clear it. Every member
    /// sees `moderated` `topic` and the new `room_policy`; the topic is in the `room_policy`
    /// each joiner gets.
    SetTopic {
        /// The room.
        room: RoomName,
        /// The topic (empty: none).
        topic: String,
    },
    /// Search every room and conversation this user may read now (issue #30): the words of
    /// `query` (all of them, as substrings; Korean, Japanese and Chinese of any length) and
    /// its filters `from:NICK`, `in:ROOM`, `in:@NICK`, `has:image`, `before:DATE` and
    /// `after:DATE` (`YYYY-MM-DD`, days in the client's time zone: `utc_offset` minutes east
    /// of UTC). Answered by `search_results`; the next page with its `next` as `cursor`.
    Search {
        /// What was typed.
        query: SearchQuery,
        /// Newest first (the default) or best match first.
        #[serde(default)]
        order: SearchOrder,
        /// Where to go on from: a previous answer's `next`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<SearchCursor>,
        /// The client's time zone for dates, minutes east of UTC (Seoul: 540).
        #[serde(default)]
        utc_offset: i32,
    },
    /// "I am typing" in a room; send at most every couple of seconds while typing.
    Typing {
        /// The room.
        room: RoomName,
    },
    /// Send a direct message to another user (all their tabs, and all of ours, get it).
    Direct {
        /// The recipient.
        to: Nick,
        /// The message.
        text: Text,
        /// Comes back on the `direct` echo.
        client_id: ClientMsgId,
    },
    /// Change nickname.
    Rename {
        /// The new nickname.
        nick: Nick,
    },
}

/// A fact from the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The `hello` was accepted: this is who you are and what the server allows.
    Welcome {
        /// Your nickname.
        user: Nick,
        /// The server's limits.
        limits: Limits,
    },
    /// You joined `room`: how many members it has now, you included, and the first page of
    /// them (at most [`MEMBER_PAGE`], sorted by [`Nick::key`]); ask for more with `members`.
    Joined {
        /// The room.
        room: RoomName,
        /// How many members the room has.
        count: u32,
        /// The first members, sorted by [`Nick::key`].
        members: Vec<Nick>,
    },
    /// You left `room`.
    Left {
        /// The room.
        room: RoomName,
    },
    /// Who came and went in a room you are in, coalesced: at most one per room per
    /// presence window (a second by default; the first change in a quiet room goes out at
    /// once). `joined` and `left` never name the same user (each is where that user ended).
    /// In a room with more members than the server's presence detail limit, they name only
    /// users that sort (by [`Nick::key`]) within the members this connection has loaded
    /// (`joined`'s page and the `members` pages it asked for without a prefix); `count` is
    /// always the room's.
    Presence {
        /// The room.
        room: RoomName,
        /// How many members the room has now.
        count: u32,
        /// Who joined, sorted by [`Nick::key`].
        joined: Vec<Nick>,
        /// Who left (or disconnected), sorted by [`Nick::key`].
        left: Vec<Nick>,
    },
    /// A page of a room's members, answering `members`.
    Members {
        /// The room.
        room: RoomName,
        /// As asked.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<Nick>,
        /// As asked.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
        /// At most [`MEMBER_PAGE`], sorted by [`Nick::key`].
        members: Vec<Nick>,
        /// Whether more members follow the last one (ask with it as `after`).
        more: bool,
    },
    /// A user you share a room with (or you) changed nickname.
    Renamed {
        /// The old nickname.
        from: Nick,
        /// The new one.
        to: Nick,
    },
    /// A message in a room (to every member, sender included: the sender's copy is its ack).
    /// It is stored before it is sent.
    Said {
        /// Server-assigned id, stable: the same message always has the same id.
        id: MessageId,
        /// The room.
        room: RoomName,
        /// Position in the room: 1, 2, 3, ... with no holes, kept across restarts.
        seq: u64,
        /// The sender.
        from: Nick,
        /// The message.
        text: Text,
        /// Server time, milliseconds since the Unix epoch.
        ts: u64,
        /// The sender's id for this message.
        client_id: ClientMsgId,
        /// The message this one answers, quoted as it was then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<Quote>,
        /// Its image.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<Image>,
        /// Its file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<Box<File>>,
    },
    /// A change to an earlier message of a room (an edit, a deletion, a reaction): an entry of
    /// the room's log with its own `seq`, to every member, the author's copy being its ack.
    Changed {
        /// The room.
        room: RoomName,
        /// The entry's id.
        id: MessageId,
        /// The entry's position in the room (the same numbering as messages).
        seq: u64,
        /// Who made the change.
        from: Nick,
        /// Server time, milliseconds since the Unix epoch.
        ts: u64,
        /// The changer's id for this request.
        client_id: ClientMsgId,
        /// The `id` of the message changed.
        target: MessageId,
        /// What changed.
        change: Change,
    },
    /// A direct message (to both users' tabs). It is stored before it is sent.
    Direct {
        /// Server-assigned id: the message's place in the reader's own direct-message log
        /// (what `direct_since` counts). In cluster mode each user's log counts its own, so
        /// the sender's copy and the recipient's differ.
        id: MessageId,
        /// The message's place in the conversation between its two users, the same for both:
        /// what read positions (`mark_direct_read`, `read_positions`, `seen`) count. It grows
        /// with each message of the conversation but need not be contiguous (a single node
        /// numbers all messages with one counter): count unread messages, not the difference.
        seq: u64,
        /// The sender.
        from: Nick,
        /// The recipient.
        to: Nick,
        /// The message.
        text: Text,
        /// Server time, milliseconds since the Unix epoch.
        ts: u64,
        /// The sender's id for this message.
        client_id: ClientMsgId,
    },
    /// `user` started (`active: true`) or stopped typing in `room`. Stopping is also sent when
    /// the server's typing timeout passes without a new `typing`, or when they send. At most
    /// [`TYPING_SHOWN`] people are announced typing in a room at a time (a client shows
    /// "several people are typing" then); others typing meanwhile are not announced.
    Typing {
        /// The room.
        room: RoomName,
        /// Who.
        user: Nick,
        /// Typing now or not.
        active: bool,
    },
    /// Stored messages of a room, oldest first, sent after `joined` and for `load_older` and
    /// `load_newer`.
    /// While a connection catches up on a room, live `said` events of that room wait until
    /// this has been sent, so the two never overlap or leave a gap.
    History {
        /// The room.
        room: RoomName,
        /// Why these messages; tells the client how to merge them.
        mode: HistoryMode,
        /// Oldest first, each as it is now (edited, deleted, with its reactions).
        messages: Vec<RoomMessage>,
        /// In a `catch_up`: the changes made after `since`, oldest first, to apply in order
        /// (messages among `messages` already show them). Empty in other modes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<RoomChange>,
        /// Whether older messages are stored before the first one ("load older" can fetch
        /// them).
        more_before: bool,
        /// The room log's identity: keep it with the `seq`s and send it back with `since`.
        epoch: Epoch,
    },
    /// How far this user has read: all their positions right after `welcome` (before
    /// `direct_history`), then each position that moves, to all their tabs.
    ReadPositions {
        /// Rooms: the last `seq` read.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        rooms: BTreeMap<RoomName, u64>,
        /// Direct conversations, by the other user's nickname in lower case: the last
        /// message's `seq` read.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        directs: BTreeMap<Nick, u64>,
    },
    /// Stored direct messages of this user (sent or received), oldest first, sent after
    /// `welcome`.
    DirectHistory {
        /// `latest`, `catch_up` or `reset`, as for rooms.
        mode: HistoryMode,
        /// Oldest first.
        messages: Vec<DirectMessage>,
        /// The direct-message log's identity: send it back with `direct_since`.
        epoch: Epoch,
    },
    /// The rooms that exist, with member counts.
    Rooms {
        /// Sorted by name.
        rooms: Vec<RoomInfo>,
    },
    /// A request was refused; the connection stays open.
    Error {
        /// What kind of problem.
        code: ErrorCode,
        /// In words, precise enough to fix the request.
        message: String,
        /// The refused request's `client_id`, when it had one (`say`, `direct`, a change).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_id: Option<ClientMsgId>,
    },
    /// The rules of a room you joined that has an owner or moderation (sent right after its
    /// `joined`, and again when they change).
    RoomPolicy {
        /// The room.
        room: RoomName,
        /// Its owner (none: a room made by `join`, moderated by server admins).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<Nick>,
        /// Its moderators, sorted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        moderators: Vec<Nick>,
        /// Only invited users may find or join it.
        private: bool,
        /// The cap on users in it, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_members: Option<u32>,
        /// A group conversation (see `create_group`): listed with direct messages, named by
        /// its members; nobody moderates it.
        #[serde(default, skip_serializing_if = "is_false")]
        group: bool,
        /// A group's members (everyone in it, online or not), sorted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        members: Vec<Nick>,
        /// What the room is about, set by its owner or moderators (see `set_topic`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// You were invited into a private room (join it to enter).
    Invited {
        /// The room.
        room: RoomName,
        /// The owner who invited you.
        by: Nick,
    },
    /// A moderation action in a room you are in (every member sees every action).
    Moderated {
        /// The room.
        room: RoomName,
        /// Who did it.
        by: Nick,
        /// What.
        action: ModAction,
    },
    /// You were removed from a room (a `left` follows); `reason` says why.
    Removed {
        /// The room.
        room: RoomName,
        /// Who removed you.
        by: Nick,
        /// Why.
        reason: RemovedReason,
    },
    /// `user` has read up to `position`: in `room` (a group: a `seq`), or, without `room`,
    /// in their direct conversation with you (a direct message's `seq`). Sent when it moves, and for
    /// everyone at a group's join and after `direct_history`; only between users who both
    /// share (see `share_reads`).
    Seen {
        /// Who read.
        user: Nick,
        /// The group; none for a direct conversation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<RoomName>,
        /// How far.
        position: u64,
    },
    /// Whether this user shares how far they have read (see `share_reads`): right after
    /// `welcome`'s `read_positions`, and to every tab when it changes.
    Sharing {
        /// Shared.
        reads: bool,
    },
    /// A page of what a `search` found (at most [`crate::search::SEARCH_PAGE`]), in the order
    /// asked; `next` pages on (none: nothing more).
    SearchResults {
        /// The query, as asked.
        query: SearchQuery,
        /// The messages found.
        hits: Vec<SearchHit>,
        /// The `cursor` of the next page.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<SearchCursor>,
    },
    /// JWT mode: your token expires in `expires_in_ms`; send `reauth` with a fresh one before
    /// then, or the connection closes with 4401.
    ReauthNeeded {
        /// Milliseconds left.
        expires_in_ms: u64,
    },
    /// JWT mode: the fresh token was accepted; it expires in `expires_in_ms`.
    Reauthed {
        /// Milliseconds left.
        expires_in_ms: u64,
    },
}

/// Why a user was removed from a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovedReason {
    /// The owner took back the invitation to a private room.
    Uninvited,
    /// A moderator kicked you (you may join again).
    Kicked,
    /// A moderator banned you (you may not join again until unbanned).
    Banned,
    /// You left the group (on another tab, perhaps).
    Left,
    /// A server admin closed the room: nobody joins or speaks there until it is reopened
    /// (its history is kept).
    Closed,
}

/// A moderation action, as the room sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModAction {
    /// `user` was invited (private room).
    Invited {
        /// Who.
        user: Nick,
    },
    /// `user`'s invitation was taken back.
    Uninvited {
        /// Who.
        user: Nick,
    },
    /// `user` is a moderator now.
    ModeratorAdded {
        /// Who.
        user: Nick,
    },
    /// `user` is a moderator no longer.
    ModeratorRemoved {
        /// Who.
        user: Nick,
    },
    /// `user` was removed (may come back).
    Kicked {
        /// Who.
        user: Nick,
    },
    /// `user` was banned.
    Banned {
        /// Who.
        user: Nick,
    },
    /// `user`'s ban was lifted.
    Unbanned {
        /// Who.
        user: Nick,
    },
    /// `user` may not speak until `until_ms` (ms since the Unix epoch).
    Muted {
        /// Who.
        user: Nick,
        /// Until when.
        until_ms: u64,
    },
    /// `user` left the group (groups only; `by` is they themselves).
    Left {
        /// Who.
        user: Nick,
    },
    /// `user` may speak again.
    Unmuted {
        /// Who.
        user: Nick,
    },
    /// The room's topic is now `topic` (empty: none); `by` set it.
    Topic {
        /// The new topic.
        topic: String,
    },
    /// A server admin closed the room (its members were removed, with the reason `closed`).
    Closed,
    /// A server admin reopened the room.
    Reopened,
    /// A server admin set a new password for `user`'s account and ended its sessions (the
    /// moderation log only).
    PasswordReset {
        /// Whose.
        user: Nick,
    },
    /// A server admin ended every session of `user`'s account (the moderation log only).
    SessionsRevoked {
        /// Whose.
        user: Nick,
    },
    /// A moderator (or owner, or server admin) removed the message `id`: only in the
    /// moderation log (the room sees the deletion itself, as a change of the message).
    MessageRemoved {
        /// The message.
        id: MessageId,
    },
}

/// How a `history` relates to what the client already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryMode {
    /// The latest page (the client said it has nothing).
    Latest,
    /// Exactly the messages after the client's `since`, however many: append them.
    CatchUp,
    /// The client is further behind than the server keeps (retention, or more missed messages
    /// than one catch-up sends): this is the latest page, and the client's view must be
    /// replaced by it. Messages in between are not delivered.
    Reset,
    /// The page before the `load_older` request's `before`: prepend it.
    Older,
    /// The page after the `load_newer` request's `after`, oldest first: append it. (No live
    /// message waits for it: the client is back at the newest messages once it holds the
    /// last `seq` it has been sent.)
    Newer,
    /// The page around the `load_around` request's `seq`, oldest first: replace the view
    /// with it; newer messages come with `load_newer` (no live message waits for it).
    Around,
}

/// One stored room message, as in `said` without the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMessage {
    /// Server-assigned id.
    pub id: MessageId,
    /// Position in the room.
    pub seq: u64,
    /// The sender (nickname at the time).
    pub from: Nick,
    /// The message.
    pub text: Text,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The sender's id for this message.
    pub client_id: ClientMsgId,
    /// The message this one answers, quoted as it was then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Quote>,
    /// Its image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
    /// Its file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<Box<File>>,
    /// Its text was changed since it was sent.
    #[serde(default, skip_serializing_if = "is_false")]
    pub edited: bool,
    /// It was deleted: `text` is [`RoomMessage::DELETED_TEXT`], and it has no reactions or
    /// quote any more.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Its reactions, in the order they were first given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// A preview of its first link, when the server made one ([`Change::Previewed`]). (Boxed:
    /// most messages have none, and every log entry is as large as its largest kind.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<Box<LinkPreview>>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// The message a reply answers, as it was when the reply was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The message's id.
    pub id: MessageId,
    /// Its position (a client loads older pages until it reaches it).
    pub seq: u64,
    /// Its sender.
    pub from: Nick,
    /// Its text, cut to [`Quote::MAX_CHARS`] characters; empty once the message was deleted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// The message was deleted: its words are not quoted any more, anywhere.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}

impl Quote {
    /// The longest quoted text, in characters (the rest is cut off with "…").
    pub const MAX_CHARS: usize = 200;

    /// The quote of `message`.
    pub fn of(message: &RoomMessage) -> Self {
        Self {
            id: message.id,
            seq: message.seq,
            from: message.from.clone(),
            text: Self::excerpt(message.text.as_str()),
            deleted: false,
        }
    }

    /// This quote once its message was deleted: who and where, without a word of it.
    #[must_use]
    pub fn forgotten(self) -> Self {
        Self {
            text: String::new(),
            deleted: true,
            ..self
        }
    }

    /// `text` cut to [`Quote::MAX_CHARS`] characters.
    pub fn excerpt(text: &str) -> String {
        match text.char_indices().nth(Self::MAX_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        }
    }
}

/// An image attached to a message: uploaded first (`POST /api/uploads?room=ROOM`), then
/// named in `say`. The server fills in what it knows of it (from the bytes it stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Its content address: the SHA-256 of its bytes, 64 lower-case hex digits.
    pub id: UploadId,
    /// Its type, read from its bytes.
    pub mime: ImageType,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub bytes: u64,
}

/// What a link's page says of itself (its OpenGraph title, description and image), fetched
/// by the server (`--link-previews`) for a message's first link and added to the message as a
/// [`Change::Previewed`]. The image is a copy in the room's uploads, never the site's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPreview {
    /// The link previewed: exactly the message's first `http(s)` link
    /// ([`crate::format::first_link`]).
    pub url: String,
    /// The page's title (never empty), at most [`LinkPreview::MAX_TITLE_CHARS`] characters.
    pub title: String,
    /// Its description, at most [`LinkPreview::MAX_DESCRIPTION_CHARS`]; may be empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Its image, stored in the room's uploads (`GET /api/uploads/ROOM/ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

impl LinkPreview {
    /// The longest title, in characters.
    pub const MAX_TITLE_CHARS: usize = 200;
    /// The longest description, in characters.
    pub const MAX_DESCRIPTION_CHARS: usize = 300;
}

/// The image types the server accepts (anything else is refused at upload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ImageType {
    /// PNG.
    #[serde(rename = "image/png")]
    Png,
    /// JPEG.
    #[serde(rename = "image/jpeg")]
    Jpeg,
    /// GIF.
    #[serde(rename = "image/gif")]
    Gif,
    /// WebP.
    #[serde(rename = "image/webp")]
    Webp,
}

impl ImageType {
    /// The media type, e.g. `image/png`.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }

    /// The file name extension, e.g. `png`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
            Self::Webp => "webp",
        }
    }
}

/// A file attached to a message: any upload that is not one of the [`ImageType`]s,
/// uploaded first (`POST /api/uploads?room=ROOM&name=NAME`), then named in `say`. The server
/// fills in what it knows of it; it is only ever downloaded (`Content-Disposition:
/// attachment`), never shown in the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its content address: the SHA-256 of its bytes, 64 lower-case hex digits.
    pub id: UploadId,
    /// Its name, as the server sanitised it at upload (docs/PROTOCOL.md "Files"): never
    /// empty, no path separators, no control or direction characters.
    pub name: String,
    /// Its type, read by the server from its first bytes (`application/octet-stream` when
    /// they say nothing); for showing only: it is always served as
    /// `application/octet-stream`.
    pub mime: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji.
    pub emoji: Emoji,
    /// Who reacted with it, in order (the count is their number).
    pub users: Vec<Nick>,
}

impl Reaction {
    /// Most distinct emoji one message carries: a reaction with another is refused
    /// (`too_many_reactions`). Bounds what every reader of the message is sent.
    pub const MAX_PER_MESSAGE: u32 = 20;
    /// Most emoji one user puts on one message.
    pub const MAX_PER_USER: u32 = 10;
}

/// What a [`ServerMsg::Changed`] entry does to its message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The author replaced the text.
    Edited {
        /// The new text.
        text: Text,
    },
    /// The author or a moderator deleted it.
    Deleted,
    /// `from` added or took back a reaction.
    Reacted {
        /// The emoji.
        emoji: Emoji,
        /// Added (or taken back).
        on: bool,
    },
    /// The server previewed the message's first link (`from` is the message's author). It
    /// holds only while that link is still the text's first: an edit drops the preview, and
    /// a preview of a link the text no longer starts with is ignored.
    Previewed {
        /// What the link's page says.
        preview: Box<LinkPreview>,
    },
}

/// One stored change of a room's log, as in `changed` without the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomChange {
    /// The entry's id.
    pub id: MessageId,
    /// Its position in the room.
    pub seq: u64,
    /// Who made it.
    pub from: Nick,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The changer's id for the request.
    pub client_id: ClientMsgId,
    /// The message changed.
    pub target: MessageId,
    /// What changed.
    pub change: Change,
}

/// An entry of a room's log: a message, or a change to an earlier one. Stored as the JSON of
/// either (a change has `target`, a message has `text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoomEntry {
    /// A message.
    Message(RoomMessage),
    /// A change.
    Change(RoomChange),
}

impl RoomEntry {
    /// Decodes an entry's JSON (as [`serde_json`] wrote it) in one pass, without the
    /// trial-and-error an untagged enum costs: a change is the only entry with a `change`
    /// member, and no string can hold `,"change":{` unescaped.
    pub fn from_json(json: &str) -> serde_json::Result<Self> {
        if json.contains(",\"change\":{") {
            serde_json::from_str(json).map(Self::Change)
        } else {
            serde_json::from_str(json).map(Self::Message)
        }
    }

    /// The entry's position in its room.
    pub fn seq(&self) -> u64 {
        match self {
            Self::Message(m) => m.seq,
            Self::Change(c) => c.seq,
        }
    }

    /// The entry's id.
    pub fn id(&self) -> MessageId {
        match self {
            Self::Message(m) => m.id,
            Self::Change(c) => c.id,
        }
    }

    /// The live event for this entry in `room`.
    pub fn into_event(self, room: RoomName) -> ServerMsg {
        match self {
            Self::Message(m) => m.into_said(room),
            Self::Change(c) => c.into_event(room),
        }
    }
}

impl RoomChange {
    /// The live event for this change in `room`.
    pub fn into_event(self, room: RoomName) -> ServerMsg {
        let Self {
            id,
            seq,
            from,
            ts,
            client_id,
            target,
            change,
        } = self;
        ServerMsg::Changed {
            room,
            id,
            seq,
            from,
            ts,
            client_id,
            target,
            change,
        }
    }
}

/// One stored direct message, as in `direct`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectMessage {
    /// Server-assigned id: the message's place in the reader's own direct-message log (see
    /// `direct`).
    pub id: MessageId,
    /// The message's place in the conversation, the same for both users (see `direct`).
    /// (Defaults to 0 only where an engine reads an entry stored before the field existed;
    /// the engine then gives it the entry's `id`, which was the conversation's order too.)
    #[serde(default)]
    pub seq: u64,
    /// The sender (nickname at the time).
    pub from: Nick,
    /// The recipient (nickname at the time).
    pub to: Nick,
    /// The message.
    pub text: Text,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The sender's id for this message.
    pub client_id: ClientMsgId,
}

impl RoomMessage {
    /// What a deleted message's `text` says.
    pub const DELETED_TEXT: &str = "message deleted";

    /// A new message: not edited, no reactions, answering nothing.
    pub fn new(
        id: MessageId,
        seq: u64,
        from: Nick,
        text: Text,
        ts: u64,
        client_id: ClientMsgId,
    ) -> Self {
        Self {
            id,
            seq,
            from,
            text,
            ts,
            client_id,
            reply_to: None,
            image: None,
            file: None,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            preview: None,
        }
    }

    /// The live event for this message in `room` (its state, if it was changed since, is
    /// not part of a `said`: the changes follow as their own events).
    pub fn into_said(self, room: RoomName) -> ServerMsg {
        let Self {
            id,
            seq,
            from,
            text,
            ts,
            client_id,
            reply_to,
            image,
            file,
            ..
        } = self;
        ServerMsg::Said {
            id,
            room,
            seq,
            from,
            text,
            ts,
            client_id,
            reply_to,
            image,
            file,
        }
    }

    /// Applies `change` (made by `from`), the one rule for server and client: an edit replaces
    /// the text (and drops the link preview), a deletion leaves a placeholder, a reaction is
    /// added or taken back per user, a preview is kept if its link is the text's first.
    /// Applying the same change twice is the same as once; nothing changes a deleted
    /// message.
    pub fn apply(&mut self, from: &Nick, change: &Change) {
        if self.deleted {
            return;
        }
        match change {
            Change::Edited { text } => {
                self.text = text.clone();
                self.edited = true;
                self.preview = None;
            }
            Change::Deleted => {
                self.deleted = true;
                self.text = Text(Self::DELETED_TEXT.to_owned());
                self.reply_to = None;
                self.image = None;
                self.file = None;
                self.reactions.clear();
                self.preview = None;
            }
            Change::Previewed { preview } => {
                // A preview fetched for the text before an edit is not the edited text's.
                if crate::format::first_link(self.text.as_str()).as_deref()
                    == Some(preview.url.as_str())
                {
                    self.preview = Some(preview.clone());
                }
            }
            Change::Reacted { emoji, on } => {
                let found = self.reactions.iter().position(|r| r.emoji == *emoji);
                match (found, on) {
                    (Some(i), true) => {
                        let users = &mut self.reactions[i].users;
                        if !users.iter().any(|u| u.key() == from.key()) {
                            users.push(from.clone());
                        }
                    }
                    (None, true) => self.reactions.push(Reaction {
                        emoji: emoji.clone(),
                        users: vec![from.clone()],
                    }),
                    (Some(i), false) => {
                        self.reactions[i].users.retain(|u| u.key() != from.key());
                        if self.reactions[i].users.is_empty() {
                            self.reactions.remove(i);
                        }
                    }
                    (None, false) => {}
                }
            }
        }
    }
}

impl DirectMessage {
    /// The live event for this message.
    pub fn into_event(self) -> ServerMsg {
        let Self {
            id,
            seq,
            from,
            to,
            text,
            ts,
            client_id,
        } = self;
        ServerMsg::Direct {
            id,
            seq,
            from,
            to,
            text,
            ts,
            client_id,
        }
    }
}

impl ServerMsg {
    /// A `said` as its room and stored message (the inverse of [`RoomMessage::into_said`]).
    pub fn into_room_message(self) -> Option<(RoomName, RoomMessage)> {
        match self {
            Self::Said {
                id,
                room,
                seq,
                from,
                text,
                ts,
                client_id,
                reply_to,
                image,
                file,
            } => Some((
                room,
                RoomMessage {
                    reply_to,
                    image,
                    file,
                    ..RoomMessage::new(id, seq, from, text, ts, client_id)
                },
            )),
            _ => None,
        }
    }

    /// A `changed` as its room and stored change (the inverse of [`RoomChange::into_event`]).
    pub fn into_room_change(self) -> Option<(RoomName, RoomChange)> {
        match self {
            Self::Changed {
                room,
                id,
                seq,
                from,
                ts,
                client_id,
                target,
                change,
            } => Some((
                room,
                RoomChange {
                    id,
                    seq,
                    from,
                    ts,
                    client_id,
                    target,
                    change,
                },
            )),
            _ => None,
        }
    }

    /// A `direct` as its stored message (the inverse of [`DirectMessage::into_event`]).
    pub fn into_direct_message(self) -> Option<DirectMessage> {
        match self {
            Self::Direct {
                id,
                seq,
                from,
                to,
                text,
                ts,
                client_id,
            } => Some(DirectMessage {
                id,
                seq,
                from,
                to,
                text,
                ts,
                client_id,
            }),
            _ => None,
        }
    }
}

/// A room and how many users are in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    /// The room.
    pub name: RoomName,
    /// Distinct users (not tabs) in it.
    pub members: u32,
}

/// What the server allows, announced in `welcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Longest message text, in characters.
    pub max_text_chars: u32,
    /// Most rooms one connection may be in.
    pub max_rooms: u32,
    /// Messages per second a connection may send, sustained.
    pub rate_per_sec: u32,
    /// Messages a connection may send in a burst.
    pub rate_burst: u32,
    /// A `typing` counts for this long (milliseconds).
    pub typing_timeout_ms: u32,
    /// Most distinct emoji on one message ([`Reaction::MAX_PER_MESSAGE`]).
    pub max_reactions: u32,
    /// Most emoji one user puts on one message ([`Reaction::MAX_PER_USER`]).
    pub max_reactions_per_user: u32,
    /// Most rooms one user may own (make with `create_room`); 0 from a server older than
    /// this field, which does not say.
    #[serde(default)]
    pub max_owned_rooms: u32,
}

/// The kinds of refusal in [`ServerMsg::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON.
    Malformed,
    /// No `type`, or one this protocol does not have.
    UnknownType,
    /// A known `type` with a missing or invalid field (bad name, blank text, ...).
    Invalid,
    /// A binary frame; this protocol is JSON text.
    BinaryNotSupported,
    /// Anything but `hello` before `welcome`.
    NotIdentified,
    /// A second `hello` on one connection.
    AlreadyIdentified,
    /// Someone else uses that nickname.
    NickTaken,
    /// `say` or `typing` in a room this connection has not joined.
    NotInRoom,
    /// `join` past the per-connection room limit, or `create_room` past the per-user limit
    /// of owned rooms.
    TooManyRooms,
    /// Text longer than `max_text_chars`.
    TooLong,
    /// Sending faster than the rate limit; slow down.
    RateLimited,
    /// `direct` to a nickname that reaches nobody: nobody holds it, and no one who is away
    /// may be reached by it (docs/PROTOCOL.md, "Direct messages to people who are away").
    NoSuchUser,
    /// The message could not be stored (disk full, I/O error); it was not sent to anyone.
    /// Sending it again with the same `client_id` is safe.
    StoreFailed,
    /// Too many messages are waiting to be stored; nothing was sent. Retry shortly.
    Overloaded,
    /// Not allowed to you (e.g. a rename where nicknames are accounts', joining a private
    /// room you were not invited to, inviting into a room you do not own).
    Forbidden,
    /// `create_room` for a room that has an owner, or was used already (messages, or members
    /// on any node), or the lobby: only a server admin may take over a room made by `join`.
    RoomExists,
    /// `join` of a room at its member cap.
    RoomFull,
    /// `join` of a room you are banned from, or `hello` of a user banned from the whole
    /// server by an admin (the connection then closes with 4403).
    Banned,
    /// `say` or `typing` in a room where you are muted.
    Muted,
    /// No valid login, or its token expired (the connection then closes with 4401).
    Unauthenticated,
    /// `edit`, `delete_message`, `react` or a `say`'s `reply_to` naming a message the room
    /// does not have (any more), or one that was deleted.
    NoSuchMessage,
    /// A `react` past `max_reactions` distinct emoji on the message, or past
    /// `max_reactions_per_user` of the sender's own.
    TooManyReactions,
    /// `join`, `say`, `typing` or a change (other than a deletion) in a room a server admin
    /// closed. (Server admins may still join it, to read it.)
    RoomClosed,
}

/// Why a text frame is not a [`ClientMsg`]: the code and the precise reason, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The kind of problem.
    pub code: ErrorCode,
    /// What exactly, for a person.
    pub message: String,
    /// The request's `client_id`, when the frame had a valid one although the request as a
    /// whole was refused: every refusal names the request it refuses, so the sender can mark
    /// that one failed.
    pub client_id: Option<ClientMsgId>,
}

impl ClientMsg {
    /// The client-chosen id of a `say`, `direct` or change request, for refusals that must
    /// name it.
    pub fn into_client_id(self) -> Option<ClientMsgId> {
        match self {
            Self::Say { client_id, .. }
            | Self::Direct { client_id, .. }
            | Self::Edit { client_id, .. }
            | Self::DeleteMessage { client_id, .. }
            | Self::React { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    /// Decodes a client frame, telling malformed JSON, an unknown `type` and a bad field apart.
    pub fn parse(text: &str) -> Result<Self, RequestError> {
        match serde_json::from_str(text) {
            Ok(message) => Ok(message),
            // Classify only on the error path, so valid traffic is parsed once.
            Err(err) => Err(classify(text, &err)),
        }
    }
}

/// Every `type` a client may send, for telling "unknown type" from "bad field".
const CLIENT_TYPES: [&str; 28] = [
    "hello",
    "join",
    "load_older",
    "load_newer",
    "leave",
    "list_rooms",
    "members",
    "say",
    "typing",
    "direct",
    "rename",
    "reauth",
    "create_room",
    "create_group",
    "leave_group",
    "invite",
    "uninvite",
    "set_moderator",
    "kick",
    "mute",
    "ban",
    "unban",
    "delete_message",
    "edit",
    "react",
    "mark_read",
    "mark_direct_read",
    "share_reads",
];

fn classify(text: &str, err: &serde_json::Error) -> RequestError {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(syntax) => {
            return RequestError {
                code: ErrorCode::Malformed,
                message: format!("not JSON: {syntax}"),
                client_id: None,
            };
        }
    };
    let client_id = value
        .get("client_id")
        .and_then(serde_json::Value::as_str)
        .and_then(|id| id.parse::<ClientMsgId>().ok());
    let fail = |code, message: String| RequestError {
        code,
        message,
        client_id: client_id.clone(),
    };
    match value.get("type") {
        None => fail(
            ErrorCode::UnknownType,
            "a message must be a JSON object with a \"type\" field".into(),
        ),
        Some(serde_json::Value::String(kind)) if !CLIENT_TYPES.contains(&kind.as_str()) => fail(
            ErrorCode::UnknownType,
            format!(
                "unknown message type {kind:?}; expected one of {}",
                CLIENT_TYPES.join(", ")
            ),
        ),
        Some(serde_json::Value::String(_)) => fail(ErrorCode::Invalid, err.to_string()),
        Some(other) => fail(
            ErrorCode::UnknownType,
            format!("\"type\" must be a string, not {other}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_at_most_64_kib_and_not_blank() {
        let max = "x".repeat(Text::MAX_BYTES);
        assert_eq!(Text::MAX_BYTES, 65_536);
        assert_eq!(Text::try_from(max.clone()).unwrap().as_str(), max);
        assert!(matches!(
            Text::try_from(format!("{max}y")),
            Err(InvalidName::TooLong { max: 65_536, .. })
        ));
        assert!(Text::try_from(" \n\t".to_owned()).is_err());
        let korean = Text::try_from("가나다".to_owned()).unwrap();
        assert_eq!((korean.as_str(), korean.chars()), ("가나다", 3));
    }

    #[test]
    fn mentions_are_names_after_an_at_sign_once_each_in_lower_case() {
        let text = Text::try_from("hi @Bob, @bob and @김민수! cc @a_b-c.@ @".to_owned()).unwrap();
        assert_eq!(text.mentions(), ["bob", "김민수", "a_b-c"]);
        let none = Text::try_from("mail me at someone@ or @ alone".to_owned()).unwrap();
        assert!(none.mentions().is_empty());
    }

    #[test]
    fn only_say_and_direct_carry_a_client_id() {
        let id: ClientMsgId = "c-1".parse().unwrap();
        let say = ClientMsg::Say {
            room: "lobby".parse().unwrap(),
            text: "hi".try_into().unwrap(),
            client_id: id.clone(),
            reply_to: None,
            image: None,
            file: None,
        };
        let direct = ClientMsg::Direct {
            to: "bob".parse().unwrap(),
            text: "hi".try_into().unwrap(),
            client_id: id.clone(),
        };
        assert_eq!(say.into_client_id(), Some(id.clone()));
        assert_eq!(direct.into_client_id(), Some(id));
        assert_eq!(ClientMsg::ListRooms.into_client_id(), None);
    }

    #[test]
    fn parse_tells_problems_apart() {
        let code = |text: &str| ClientMsg::parse(text).unwrap_err().code;
        assert_eq!(code("{"), ErrorCode::Malformed);
        assert_eq!(code("[1]"), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"room":"a"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":7}"#), ErrorCode::UnknownType);
        assert_eq!(code(r#"{"type":"join"}"#), ErrorCode::Invalid);
        let err = ClientMsg::parse(r#"{"type":"join","room":"a b"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid);
        assert!(
            err.message.contains("room name contains ' '"),
            "{}",
            err.message
        );
        assert!(ClientMsg::parse(r#"{"type":"list_rooms"}"#).is_ok());
    }

    #[test]
    fn client_types_list_matches_the_enum() {
        // Every listed type parses to something other than "unknown type".
        for kind in CLIENT_TYPES {
            let err = ClientMsg::parse(&format!(r#"{{"type":"{kind}"}}"#));
            assert!(
                !matches!(
                    err,
                    Err(RequestError {
                        code: ErrorCode::UnknownType,
                        ..
                    })
                ),
                "{kind}"
            );
        }
    }

    #[test]
    fn stored_messages_and_live_events_convert_both_ways() {
        let message = RoomMessage {
            reply_to: Some(Quote {
                id: MessageId(0),
                seq: 1,
                from: "b".parse().unwrap(),
                text: "q".into(),
                deleted: false,
            }),
            ..RoomMessage::new(
                MessageId(1),
                2,
                "a".parse().unwrap(),
                "t".try_into().unwrap(),
                3,
                "c".parse().unwrap(),
            )
        };
        let room: RoomName = "r".parse().unwrap();
        let said = message.clone().into_said(room.clone());
        assert_eq!(said.into_room_message(), Some((room, message)));
        let direct = DirectMessage {
            id: MessageId(1),
            seq: 1,
            from: "a".parse().unwrap(),
            to: "b".parse().unwrap(),
            text: "t".try_into().unwrap(),
            ts: 3,
            client_id: "c".parse().unwrap(),
        };
        assert_eq!(
            direct.clone().into_event().into_direct_message(),
            Some(direct)
        );
        let left = ServerMsg::Left {
            room: "r".parse().unwrap(),
        };
        assert!(left.into_room_message().is_none());
    }

    #[test]
    fn changes_apply_once_and_nothing_changes_a_deleted_message() {
        let nick = |n: &str| -> Nick { n.parse().unwrap() };
        let mut message = RoomMessage::new(
            MessageId(1),
            1,
            nick("ann"),
            "hi".try_into().unwrap(),
            0,
            "c".parse().unwrap(),
        );
        let thumbs: Emoji = "👍".parse().unwrap();
        let react = |on| Change::Reacted {
            emoji: thumbs.clone(),
            on,
        };
        let edit = Change::Edited {
            text: "hello".try_into().unwrap(),
        };
        for _ in 0..2 {
            message.apply(&nick("ann"), &edit);
            message.apply(&nick("Bob"), &react(true));
            message.apply(&nick("bob"), &react(true));
        }
        message.apply(&nick("cy"), &react(true));
        assert_eq!((message.text.as_str(), message.edited), ("hello", true));
        assert_eq!(message.reactions[0].users, [nick("Bob"), nick("cy")]);
        message.apply(&nick("bob"), &react(false));
        message.apply(&nick("cy"), &react(false));
        message.apply(&nick("cy"), &react(false));
        assert!(message.reactions.is_empty());
        message.apply(&nick("bob"), &react(true));
        message.apply(&nick("mod"), &Change::Deleted);
        message.apply(&nick("ann"), &edit);
        message.apply(&nick("bob"), &react(true));
        assert!(message.deleted && message.reactions.is_empty());
        assert_eq!(message.text.as_str(), RoomMessage::DELETED_TEXT);
    }

    #[test]
    fn a_preview_holds_while_its_link_is_the_texts_first() {
        let nick: Nick = "ann".parse().unwrap();
        let mut message = RoomMessage::new(
            MessageId(1),
            1,
            nick.clone(),
            "see https://a.example/x and https://b.example"
                .try_into()
                .unwrap(),
            0,
            "c".parse().unwrap(),
        );
        let preview = |url: &str| Change::Previewed {
            preview: Box::new(LinkPreview {
                url: url.into(),
                title: "T".into(),
                description: String::new(),
                image: None,
            }),
        };
        message.apply(&nick, &preview("https://b.example"));
        assert_eq!(message.preview, None, "not the first link");
        message.apply(&nick, &preview("https://a.example/x"));
        assert_eq!(
            message.preview.as_ref().map(|p| p.title.as_str()),
            Some("T")
        );
        let edit = Change::Edited {
            text: "now https://c.example".try_into().unwrap(),
        };
        message.apply(&nick, &edit);
        assert_eq!(message.preview, None, "an edit drops it");
        message.apply(&nick, &preview("https://a.example/x"));
        assert_eq!(message.preview, None, "a late preview of the old text");
        message.apply(&nick, &preview("https://c.example"));
        assert!(message.preview.is_some());
        message.apply(&nick, &Change::Deleted);
        assert_eq!(message.preview, None, "a deleted message has none");
        message.apply(&nick, &preview("https://c.example"));
        assert_eq!(message.preview, None);
    }

    #[test]
    fn a_quote_is_cut_at_a_character_boundary() {
        let long = "가".repeat(Quote::MAX_CHARS + 5);
        let message = RoomMessage::new(
            MessageId(4),
            3,
            "a".parse().unwrap(),
            long.as_str().try_into().unwrap(),
            0,
            "c".parse().unwrap(),
        );
        let quote = Quote::of(&message);
        assert_eq!(quote.text.chars().count(), Quote::MAX_CHARS + 1);
        assert!(quote.text.ends_with('…'));
        assert_eq!((quote.id, quote.seq), (MessageId(4), 3));
    }

    #[test]
    fn log_entries_tell_messages_from_changes() {
        let change: RoomEntry = serde_json::from_str(
            r#"{"id":9,"seq":9,"from":"a","ts":1,"client_id":"c","target":3,"change":{"kind":"deleted"}}"#,
        )
        .unwrap();
        assert!(matches!(
            change,
            RoomEntry::Change(RoomChange {
                target: MessageId(3),
                ..
            })
        ));
        let message: RoomEntry = serde_json::from_str(
            r#"{"id":3,"seq":3,"from":"a","text":"t","ts":1,"client_id":"c"}"#,
        )
        .unwrap();
        assert!(matches!(message, RoomEntry::Message(_)));
        assert_eq!((change.seq(), message.id()), (9, MessageId(3)));
        let room: RoomName = "r".parse().unwrap();
        if let RoomEntry::Change(stored) = &change {
            let event = change.clone().into_event(room.clone());
            assert_eq!(event.into_room_change(), Some((room, stored.clone())));
        }
        // The fast decoder agrees, also on a message whose text looks like a change.
        let tricky = r#"{"id":4,"seq":4,"from":"a","text":",\"change\":{","ts":1,"client_id":"c"}"#;
        for json in [
            serde_json::to_string(&change).unwrap(),
            serde_json::to_string(&message).unwrap(),
            tricky.to_owned(),
        ] {
            let slow: RoomEntry = serde_json::from_str(&json).unwrap();
            assert_eq!(RoomEntry::from_json(&json).unwrap(), slow, "{json}");
        }
    }

    #[test]
    fn text_must_not_be_blank() {
        assert!(Text::try_from(" \n").is_err());
        assert!(Text::try_from("x".repeat(Text::MAX_BYTES + 1).as_str()).is_err());
        assert_eq!(Text::try_from("hi").unwrap().chars(), 2);
    }
}
