//! The chat state's data: [`ChatState`] and its parts (rooms, lines, members), with nothing
//! but the few helpers every concern shares. The rules live beside it, one file per concern
//! (`lines`, `compose`, `unread`, `members`) and the dispatch in `mod.rs`.
//!
//! A leaf: it imports nothing from its siblings, so each of them can import it (no cycle).

use litemap::LiteMap;
use shared::{ClientMsgId, Epoch, Limits, MessageId, Nick, Quote, Reaction, RoomInfo, RoomName};

/// Lines kept per conversation; older ones are dropped from memory and can be loaded again
/// ("load older").
pub const MAX_LINES: usize = 2000;

/// Lines held while paging far from the newest (older pages past this let the newest go,
/// newer ones the oldest): memory stays about what a conversation of 1,000 lines takes,
/// however far one reads (issue #34).
pub const HELD_PAGING: usize = 1000;

/// Inline notices kept.
const MAX_NOTICES: usize = 5;

/// Alerts kept for the page at most (the oldest go first).
const MAX_ALERTS: usize = 20;

/// Where the composer sends: a room or a direct conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// A room this tab has joined.
    Room(RoomName),
    /// A direct conversation with a user (keyed by their nickname).
    Direct(Nick),
}

/// Where a line of ours stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent, no echo yet.
    Pending,
    /// The server's echo arrived (it is stored and delivered).
    Sent,
    /// Refused or lost; the reason in words.
    Failed(String),
}

/// One chat line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Server id, once known.
    pub id: Option<MessageId>,
    /// Position in its conversation, once known: the room's `seq`, or the direct
    /// conversation's (the same for both users, unlike the `id` of a direct message): what
    /// read positions and `seen` count.
    pub seq: Option<u64>,
    /// The sender's id for it.
    pub client_id: ClientMsgId,
    /// The sender.
    pub from: Nick,
    /// The text.
    pub text: String,
    /// Server time (ms since the epoch), once known.
    pub ts: Option<u64>,
    /// Whether this is ours.
    pub mine: bool,
    /// Delivery state (always `Sent` for others' lines).
    pub delivery: Delivery,
    /// The message this one answers.
    pub reply_to: Option<Quote>,
    /// The server's preview of its first link (`Change::Previewed`).
    pub preview: Option<Box<shared::LinkPreview>>,
    /// Its text was changed.
    pub edited: bool,
    /// It was deleted (the text is the placeholder).
    pub deleted: bool,
    /// Its reactions.
    pub reactions: Vec<Reaction>,
    /// Its image.
    pub image: Option<shared::Image>,
    /// Its file.
    pub file: Option<Box<shared::File>>,
}

/// A room as this tab sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoomView {
    /// The members this tab has loaded, by nickname key: the room's list from its start
    /// (pages in the server's order), kept current by `presence`. In a big room only a part
    /// of it; see `members_upto`.
    pub members: LiteMap<String, Nick>,
    /// How many members the room has: the server's count, not `members.len()`.
    pub member_count: u32,
    /// The key of the last member loaded while the list is partial: joins past it are left
    /// to the pages still to come (the server sends only those up to it in a big room).
    /// `None`: the whole list is here.
    pub members_upto: Option<String>,
    /// A page of members has been asked for and not answered yet.
    pub members_loading: bool,
    /// The member search in progress, if any.
    pub member_search: Option<MemberSearch>,
    /// Lines, oldest first.
    pub lines: Vec<Line>,
    /// Who is typing, with when (page clock, ms) the indicator lapses if no stop arrives.
    pub typing: LiteMap<Nick, f64>,
    /// How far this user has read it (from the server, shared by their tabs and devices).
    pub read: Option<u64>,
    /// The newest `seq` received, kept even when its line scrolled out of memory: what a
    /// reconnect asks to continue from.
    pub last_seq: Option<u64>,
    /// The epoch of the room's log that `last_seq` belongs to (from the last `history`).
    pub epoch: Option<Epoch>,
    /// Whether the server has older messages than the first line.
    pub more_before: bool,
    /// A "load older" request is out.
    pub loading_older: bool,
    /// Older pages were loaded since the latest page: lines are no longer dropped from the
    /// front as new ones come (see `receive`).
    pub paged_back: bool,
    /// The newest lines were let go from memory while the reader was far back (more than
    /// [`HELD_PAGING`] held): live messages are not added until "load newer" reaches
    /// `last_seq` again.
    pub more_after: bool,
    /// A "load newer" request is out.
    pub loading_newer: bool,
    /// The newest message `seq` this tab was sent (`last_seq` counts changes too, which no
    /// page of messages holds): far back, the list is at the newest again once it holds it.
    pub last_message: Option<u64>,
    /// Messages of others (and how many mention us) that came while the newest lines were
    /// let go: not held, so counted here for the unread badge until pages come again.
    pub missed: (usize, usize),
}

/// A search among a room's members by nickname prefix: a snapshot, not kept current by
/// `presence` (the full list is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemberSearch {
    /// What the nicknames start with, as typed.
    pub prefix: String,
    /// The matches found so far, sorted by key.
    pub found: Vec<Nick>,
    /// Whether more matches follow the last one.
    pub more: bool,
    /// A page of matches has been asked for and not answered yet.
    pub loading: bool,
}

/// Everything the chat page shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatState {
    /// Who we are, once welcomed.
    pub me: Option<Nick>,
    /// The server's limits, once welcomed.
    pub limits: Option<Limits>,
    /// Joined rooms.
    pub rooms: LiteMap<RoomName, RoomView>,
    /// Direct conversations, by the other user's nickname key.
    pub directs: LiteMap<String, (Nick, Vec<Line>)>,
    /// What the composer sends to.
    pub current: Option<Target>,
    /// Every room on the server with member counts (from the last `rooms`).
    pub directory: Vec<RoomInfo>,
    /// Why the nickname was refused, shown on the nickname screen.
    pub nick_problem: Option<String>,
    /// Recent problems to show inline (newest last).
    pub notices: Vec<String>,
    /// The newest direct message id received (what a reconnect continues from).
    pub direct_last: Option<MessageId>,
    /// The epoch of the direct-message log that `direct_last` belongs to.
    pub direct_epoch: Option<Epoch>,
    /// Starts every `client_id` of this page load: random, so ids never repeat across
    /// reloads (the server treats a repeated id as a resend of the same message).
    pub client_prefix: String,
    pub(super) next_client_id: u64,
    /// A `hello` is out and no `welcome` came back yet.
    pub(super) awaiting_welcome: bool,
    /// JWT mode: the server asked for a fresh token (`reauth_needed`) and none was sent yet.
    pub reauth_needed: bool,
    /// Rooms' rules (from `room_policy`).
    pub rules: LiteMap<RoomName, RoomRules>,
    /// Private rooms this user was invited to and has not joined: room → who invited.
    pub invitations: LiteMap<RoomName, Nick>,
    /// The line the next room message answers (chosen with "Reply").
    pub replying: Option<Quote>,
    /// The line being edited (chosen with "Edit"): the composer's text replaces its text.
    pub editing: Option<MessageId>,
    /// How far this user has read each direct conversation (other user's nickname key → the
    /// last `seq` read).
    pub direct_read: LiteMap<String, u64>,
    /// How far the others have read (`seen`): the group (none: our direct conversation with
    /// them), who, and their position there. A few entries: a list, not a map.
    pub seen: Vec<(Option<RoomName>, Nick, u64)>,
    /// Whether this user shares how far they have read (`sharing`; unknown until told).
    pub sharing: Option<bool>,
    /// What the last search found so far (its pages in order) and where its next page
    /// starts: see `search.rs`.
    pub search: Option<Found>,
    /// A search result being opened: its conversation and its position there (a room's
    /// `seq`, a direct message's id). The message list scrolls to that line once it holds
    /// it, then takes this back ([`ChatState::jumped`]).
    pub jump: Option<(Target, u64)>,
    /// A room joined to open a search result in it: the page around the result is asked
    /// for once the join's history is in (asked before, it could come first and be
    /// replaced by the join's latest page).
    pub jump_after_join: Option<(RoomName, u64)>,
    /// Read positions of rooms this tab is not in: the server keeps them for rooms and
    /// groups left, too (not a reason to list or rejoin them); a room joined later (the
    /// lobby or a group the `hello` under way brings) takes its own from here.
    pub(super) unjoined_reads: Vec<(RoomName, u64)>,
    /// The others of the group this page asked for (`create_group`), by nickname key,
    /// sorted: shown when it arrives.
    pub(super) asked_group: Option<Vec<String>>,
    /// The server told this user's read positions since the last `hello`.
    pub(super) positions_known: bool,
    /// Where the "new messages" divider of the shown conversation goes: after this position
    /// (its read position when it was opened).
    pub divider: Option<u64>,
    /// Mentions of this user and direct messages to them, newest last, for browser
    /// notifications: the page takes them ([`ChatState::take_alerts`]).
    pub(super) alerts: Vec<Alert>,
}

/// Something to tell a user who is not looking: a mention or a direct message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// "Bob in #lobby", "Bob (direct)".
    pub title: String,
    /// The message.
    pub body: String,
}

/// A room's rules as the server announced them (`room_policy`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomRules {
    /// Its owner, if it has one.
    pub owner: Option<Nick>,
    /// Its moderators.
    pub moderators: Vec<Nick>,
    /// Only invited users may find or join it.
    pub private: bool,
    /// A group conversation: listed with direct messages, named by its members, and never
    /// moderated.
    pub group: bool,
    /// A group's members, online or not, sorted (empty for other rooms).
    pub members: Vec<Nick>,
    /// What the room is about (shown in its header).
    pub topic: Option<String>,
}

impl ChatState {
    /// A state whose client ids start with `client_prefix` (see [`ChatState::client_prefix`]).
    pub fn new(client_prefix: String) -> Self {
        Self {
            client_prefix,
            ..Self::default()
        }
    }

    /// The alerts gathered since the last call.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    pub(super) fn alert(&mut self, title: String, body: &str) {
        self.alerts.push(Alert {
            title,
            body: Quote::excerpt(body),
        });
        if self.alerts.len() > MAX_ALERTS {
            self.alerts.remove(0);
        }
    }

    pub(super) fn notice(&mut self, message: String) {
        self.notices.push(message);
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    pub(super) fn is_me(&self, nick: &Nick) -> bool {
        self.me.as_ref().is_some_and(|me| me.key() == nick.key())
    }
}

impl Line {
    /// What a search hit names it by in conversation `target`: the `seq` in a room, the id
    /// among direct messages (a place in the reader's own log, which may differ from the
    /// other user's).
    pub fn found_as(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Room(_) => self.seq,
            Target::Direct(_) => self.id.map(|id| id.0),
        }
    }
}

/// A search's results as they came: every page of one query, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The query.
    pub query: shared::search::SearchQuery,
    /// The hits of its pages so far.
    pub hits: Vec<shared::search::SearchHit>,
    /// Where its next page starts (none: all found).
    pub next: Option<shared::search::SearchCursor>,
}
