//! The chat page's state and its reducer: server events and the user's actions in, a view
//! model out. Pure (no DOM, no socket), so every rule is tested natively.
//!
//! No message is lost or shown twice: own messages stay `Pending` until the server's echo
//! (also across a disconnect; [`ChatState::pending_requests`] resends them after the next
//! `welcome`, and the server stores a resent `client_id` once); `hello` names the last `seq`
//! of every room so the server sends exactly what was missed; every line with a server id is
//! shown once whatever path it came by (live, catch-up, a resend's acknowledgement).

use std::collections::BTreeMap;

use litemap::LiteMap;

use shared::{
    Change, ClientMsg, ClientMsgId, DirectMessage, Emoji, Epoch, ErrorCode, HistoryMode, Limits,
    MessageId, Nick, Quote, Reaction, RoomChange, RoomInfo, RoomMessage, RoomName, ServerMsg, Text,
};

/// Lines kept per conversation; older ones are dropped from memory and can be loaded again
/// ("load older").
pub const MAX_LINES: usize = 2000;
/// Lines held while paging far from the newest (older pages past this let the newest go,
/// newer ones the oldest): memory stays about what a conversation of 1,000 lines takes,
/// however far one reads (issue #34).
pub const HELD_PAGING: usize = 1000;
/// Inline notices kept.
const MAX_NOTICES: usize = 5;

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
    /// Position in its room, once known (room lines only).
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
    /// Its text was changed.
    pub edited: bool,
    /// It was deleted (the text is the placeholder).
    pub deleted: bool,
    /// Its reactions.
    pub reactions: Vec<Reaction>,
    /// Its image.
    pub image: Option<shared::Image>,
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

impl RoomView {
    /// Adds a page of the member list that continues what is loaded; `more` or a count
    /// beyond what is loaded leaves the list partial.
    fn add_members(&mut self, page: Vec<Nick>, count: u32) {
        let last = page.last().map(Nick::key);
        self.insert_members(page);
        let partial = usize::try_from(count).is_ok_and(|count| self.members.len() < count);
        self.members_upto = last.filter(|_| partial);
    }

    /// Adds members one by one: a page comes in order after what is loaded, so each lands at
    /// the end (`extend` would sort, and a sort is kilobytes of wasm per type).
    fn insert_members(&mut self, page: Vec<Nick>) {
        for member in page {
            self.members.insert(member.key(), member);
        }
    }

    /// A `members` answer: the next page of the list, or of the search under way. An answer
    /// to anything else (a search since replaced, a page from before a rejoin) is dropped.
    fn members_listed(&mut self, after: Option<Nick>, prefix: &str, page: Vec<Nick>, more: bool) {
        if prefix.is_empty() {
            let last_loaded = self.members.keys().next_back().cloned();
            if !self.members_loading || after.map(|a| a.key()) != last_loaded {
                return;
            }
            self.members_loading = false;
            let last = page.last().map(Nick::key);
            self.insert_members(page);
            self.members_upto = if more { last.or(last_loaded) } else { None };
            return;
        }
        let Some(search) = self.member_search.as_mut() else {
            return;
        };
        let continues = after.map(|a| a.key()) == search.found.last().map(Nick::key);
        if search.prefix != prefix || !search.loading || !continues {
            return;
        }
        search.loading = false;
        search.found.extend(page);
        search.more = more;
    }
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
    next_client_id: u64,
    /// A `hello` is out and no `welcome` came back yet.
    awaiting_welcome: bool,
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
    /// How far this user has read each direct conversation (other user's nickname key → id).
    pub direct_read: LiteMap<String, u64>,
    /// The server told this user's read positions since the last `hello`.
    positions_known: bool,
    /// Where the "new messages" divider of the shown conversation goes: after this position
    /// (its read position when it was opened).
    pub divider: Option<u64>,
    /// Mentions of this user and direct messages to them, newest last, for browser
    /// notifications: the page takes them ([`ChatState::take_alerts`]).
    alerts: Vec<Alert>,
}

/// Something to tell a user who is not looking: a mention or a direct message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// "Bob in #lobby", "Bob (direct)".
    pub title: String,
    /// The message.
    pub body: String,
}

/// Alerts kept for the page at most (the oldest go first).
const MAX_ALERTS: usize = 20;

/// Whether `text` mentions `me` as `@me` (any case, not inside a longer name).
pub fn mentions(text: &str, me: &Nick) -> bool {
    let wanted = me.key();
    let lower = text.to_lowercase();
    lower.match_indices('@').any(|(at, _)| {
        let rest = &lower[at + 1..];
        rest.starts_with(&wanted)
            && rest[wanted.len()..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))
    })
}

/// The `@` word being typed at the end of `draft`, without the `@`, if any.
pub fn mention_prefix(draft: &str) -> Option<&str> {
    let word = draft.rsplit(char::is_whitespace).next()?;
    word.strip_prefix('@')
}

/// `draft` with its last word (an `@` prefix) replaced by `@nick `.
pub fn complete_mention(draft: &str, nick: &Nick) -> String {
    let cut = draft.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    format!("{}@{nick} ", &draft[..cut])
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
}

/// Typing indicators lapse after the server's timeout plus this margin if no stop arrives
/// (e.g. the stop was lost in a reconnect).
const TYPING_MARGIN_MS: f64 = 1000.0;

impl ChatState {
    /// A state whose client ids start with `client_prefix` (see [`ChatState::client_prefix`]).
    pub fn new(client_prefix: String) -> Self {
        Self {
            client_prefix,
            ..Self::default()
        }
    }

    /// The `hello` for a (re)opened socket: it rejoins every room this tab was in, from the
    /// last message it has of each.
    pub fn hello(&mut self, nick: Nick, token: shared::UserToken) -> ClientMsg {
        self.awaiting_welcome = true;
        self.positions_known = false;
        // Maps are filled with `extend`, not `collect`: collecting into a BTreeMap sorts
        // first, and each sort instantiation costs kilobytes of wasm (docs/DEVELOPMENT.md, "Wasm size").
        let mut since = BTreeMap::new();
        since.extend(
            self.rooms
                .iter()
                .filter_map(|(room, view)| Some((room.clone(), view.last_seq?))),
        );
        let mut epochs = BTreeMap::new();
        epochs.extend(
            self.rooms
                .iter()
                .filter(|(_, view)| view.last_seq.is_some())
                .filter_map(|(room, view)| Some((room.clone(), view.epoch.clone()?))),
        );
        ClientMsg::Hello {
            nick,
            token,
            rooms: self.joined_rooms(),
            since,
            epochs,
            direct_since: self.direct_last,
            direct_epoch: self.direct_last.and(self.direct_epoch.clone()),
            jwt: None,
        }
    }

    /// Our messages not yet acknowledged, to send again after `welcome` (oldest first per
    /// conversation). The server stores a repeated `client_id` once, so a message that did
    /// arrive before the connection dropped is not duplicated.
    pub fn pending_requests(&self) -> Vec<ClientMsg> {
        let text = |line: &Line| Text::try_from(line.text.as_str()).ok();
        let rooms = self.rooms.iter().flat_map(|(room, view)| {
            view.lines
                .iter()
                .filter(|l| l.mine && l.delivery == Delivery::Pending)
                .filter_map(move |line| {
                    Some(ClientMsg::Say {
                        room: room.clone(),
                        text: text(line)?,
                        client_id: line.client_id.clone(),
                        reply_to: line.reply_to.as_ref().map(|q| q.id),
                        image: line.image.clone(),
                    })
                })
        });
        let directs = self.directs.values().flat_map(|(peer, lines)| {
            lines
                .iter()
                .filter(|l| l.mine && l.delivery == Delivery::Pending)
                .filter_map(move |line| {
                    Some(ClientMsg::Direct {
                        to: peer.clone(),
                        text: text(line)?,
                        client_id: line.client_id.clone(),
                    })
                })
        });
        rooms.chain(directs).collect()
    }

    /// Marks our failed line `client_id` pending again and returns the request that resends
    /// it (same `client_id`: if it was stored after all, the server answers with the
    /// original).
    pub fn retry(&mut self, client_id: &ClientMsgId) -> Option<ClientMsg> {
        let line = self
            .rooms
            .iter_mut()
            .map(|(_, view)| view)
            .flat_map(|v| v.lines.iter_mut())
            .chain(
                self.directs
                    .iter_mut()
                    .map(|(_, v)| v)
                    .flat_map(|d| d.1.iter_mut()),
            )
            .find(|l| l.mine && l.id.is_none() && &l.client_id == client_id)?;
        line.delivery = Delivery::Pending;
        self.pending_requests()
            .into_iter()
            .find(|r| matches!(r, ClientMsg::Say { client_id: c, .. } | ClientMsg::Direct { client_id: c, .. } if c == client_id))
    }

    /// The request for the page before the current room's first line, if there is one and
    /// none is out yet.
    pub fn load_older(&mut self) -> Option<ClientMsg> {
        self.load_page(false)
    }

    /// [`ChatState::load_older`], or with `newer` the page after the last line, if the
    /// newest lines were let go (see [`RoomView::more_after`]) and none is out yet.
    pub fn load_page(&mut self, newer: bool) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        let (more, loading) = if newer {
            (view.more_after, &mut view.loading_newer)
        } else {
            (view.more_before, &mut view.loading_older)
        };
        if !more || *loading {
            return None;
        }
        let mut seqs = view.lines.iter().filter_map(|l| l.seq);
        let request = if newer {
            ClientMsg::LoadNewer {
                after: seqs.next_back()?,
                room,
            }
        } else {
            ClientMsg::LoadOlder {
                before: seqs.next()?,
                room,
            }
        };
        *loading = true;
        Some(request)
    }

    /// The request that takes the current room back to its newest messages at once, if its
    /// newest lines were let go (reading far back): End, or a message sent from there. What
    /// is held goes (but our unsent lines) and the latest page replaces it, as on a join.
    pub fn to_latest(&mut self) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        if !view.more_after {
            return None;
        }
        view.lines.retain(|l| l.id.is_none());
        (view.more_after, view.loading_newer, view.paged_back) = (false, false, false);
        view.more_before = true;
        Some(ClientMsg::Join {
            room,
            since: None,
            epoch: None,
        })
    }

    /// Whether a "load older" request of the current room is out.
    pub fn current_loading_older(&self) -> bool {
        match &self.current {
            Some(Target::Room(room)) => self.rooms.get(room).is_some_and(|v| v.loading_older),
            _ => false,
        }
    }

    /// Whether the current room's newest lines were let go (see [`RoomView::more_after`]).
    pub fn current_far_back(&self) -> bool {
        match &self.current {
            Some(Target::Room(room)) => self.rooms.get(room).is_some_and(|v| v.more_after),
            _ => false,
        }
    }

    /// The request for the current room's next page of members (or of search matches while
    /// a search is on), if there is one and none is out yet.
    pub fn load_more_members(&mut self) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        let (after, prefix) = match &mut view.member_search {
            Some(search) => {
                if !search.more || search.loading {
                    return None;
                }
                search.loading = true;
                (search.found.last().cloned(), search.prefix.clone())
            }
            None => {
                if view.members_upto.is_none() || view.members_loading {
                    return None;
                }
                view.members_loading = true;
                (view.members.values().next_back().cloned(), String::new())
            }
        };
        Some(ClientMsg::Members {
            room,
            after,
            prefix,
        })
    }

    /// Starts a search of the current room's members for nicknames beginning with `prefix`
    /// (ends it when `prefix` is blank): the request for the first page of matches.
    pub fn search_members(&mut self, prefix: &str) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let view = self.rooms.get_mut(&room)?;
        let prefix = prefix.trim();
        if prefix.is_empty() {
            view.member_search = None;
            return None;
        }
        view.member_search = Some(MemberSearch {
            prefix: prefix.to_owned(),
            found: Vec::new(),
            more: false,
            loading: true,
        });
        Some(ClientMsg::Members {
            room,
            after: None,
            prefix: prefix.to_owned(),
        })
    }

    /// The rooms to rejoin after a reconnect.
    pub fn joined_rooms(&self) -> Vec<RoomName> {
        self.rooms.keys().cloned().collect()
    }

    /// The lines of the current conversation.
    pub fn current_lines(&self) -> &[Line] {
        self.current
            .as_ref()
            .map_or(&[], |target| self.lines_of(target))
    }

    /// The lines of `target`.
    pub fn lines_of(&self, target: &Target) -> &[Line] {
        match target {
            Target::Room(room) => self.rooms.get(room).map_or(&[], |r| &r.lines),
            Target::Direct(peer) => self.directs.get(&peer.key()).map_or(&[], |d| &d.1),
        }
    }

    /// Who is typing in the current room, sorted.
    pub fn current_typing(&self) -> Vec<Nick> {
        match &self.current {
            Some(Target::Room(room)) => self
                .rooms
                .get(room)
                .map(|r| r.typing.keys().cloned().collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Shows `target`; its "new messages" divider goes after what was read so far.
    pub fn select(&mut self, target: Target) {
        if let Target::Direct(peer) = &target {
            self.directs
                .entry(peer.key())
                .or_insert_with(|| (peer.clone(), Vec::new()));
        }
        // A room's position may come with its history (then `baseline` places the divider);
        // a direct conversation never read has every message of the other's new.
        self.divider = match &target {
            Target::Room(_) => self.read_position(&target),
            Target::Direct(_) => Some(self.read_position(&target).unwrap_or(0)),
        };
        // A reply or an edit belongs to the conversation it was started in.
        if self.current.as_ref() != Some(&target) {
            self.cancel_compose();
        }
        self.current = Some(target);
    }

    /// How far `target` has been read.
    pub fn read_position(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Room(room) => self.rooms.get(room).and_then(|v| v.read),
            Target::Direct(peer) => self.direct_read.get(&peer.key()).copied(),
        }
    }

    /// Unread messages of `target` (others', not deleted, after its read position) and how
    /// many of them mention this user (every unread direct message counts as one).
    pub fn unread(&self, target: &Target) -> (usize, usize) {
        let Some(me) = &self.me else {
            return (0, 0);
        };
        let read = self.read_position(target).unwrap_or(0);
        let unread: Vec<&Line> = self
            .lines_of(target)
            .iter()
            .filter(|l| !l.mine && !l.deleted && l.position(target).is_some_and(|p| p > read))
            .collect();
        let (count, mentioned) = match target {
            Target::Room(room) => {
                let missed = self.rooms.get(room).map_or((0, 0), |v| v.missed);
                let mentioned = unread.iter().filter(|l| mentions(&l.text, me)).count();
                (unread.len() + missed.0, mentioned + missed.1)
            }
            Target::Direct(_) => (unread.len(), unread.len()),
        };
        (count, mentioned)
    }

    /// What the title counts while the page is hidden: unread mentions and direct messages.
    pub fn attention(&self) -> usize {
        let rooms = self.rooms.keys().map(|r| Target::Room(r.clone()));
        let directs = self
            .directs
            .values()
            .map(|(peer, _)| Target::Direct(peer.clone()));
        rooms.chain(directs).map(|t| self.unread(&t).1).sum()
    }

    /// The request that marks the shown conversation read up to its newest line, if that is
    /// further than its read position (which moves at once; the server tells the other tabs).
    pub fn mark_current(&mut self) -> Option<ClientMsg> {
        // Not before the server said how far the user had read (the divider needs it).
        if !self.positions_known {
            return None;
        }
        match self.current.clone()? {
            Target::Room(room) => {
                let view = self.rooms.get_mut(&room)?;
                let newest = view.lines.iter().filter_map(|l| l.seq).max()?;
                if view.read.is_some_and(|read| read >= newest) {
                    return None;
                }
                view.read = Some(newest);
                Some(ClientMsg::MarkRead { room, seq: newest })
            }
            Target::Direct(peer) => {
                let (_, lines) = self.directs.get(&peer.key())?;
                let newest = lines.iter().filter_map(|l| l.id).max()?;
                let read = self.direct_read.entry(peer.key()).or_default();
                if *read >= newest.0 {
                    return None;
                }
                *read = newest.0;
                Some(ClientMsg::MarkDirectRead {
                    with: peer,
                    id: newest,
                })
            }
        }
    }

    /// Members of the current room whose nickname starts with the `@` word at the end of
    /// `draft` (not this user), for autocompletion.
    pub fn mention_suggestions(&self, draft: &str) -> Vec<Nick> {
        let (Some(prefix), Some(Target::Room(room))) = (mention_prefix(draft), &self.current)
        else {
            return Vec::new();
        };
        let prefix = prefix.to_lowercase();
        self.rooms.get(room).map_or_else(Vec::new, |view| {
            view.members
                .values()
                .filter(|m| !self.is_me(m) && m.key().starts_with(&prefix))
                .take(5)
                .cloned()
                .collect()
        })
    }

    /// The alerts gathered since the last call.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    fn alert(&mut self, title: String, body: &str) {
        self.alerts.push(Alert {
            title,
            body: Quote::excerpt(body),
        });
        if self.alerts.len() > MAX_ALERTS {
            self.alerts.remove(0);
        }
    }

    /// Conversations with no read position start as read up to what their first page holds
    /// (a room never read before is not 50 unread messages), once the server has said it has
    /// none. Later messages count.
    fn baseline(&mut self) {
        if !self.positions_known {
            return;
        }
        for (room, view) in &mut self.rooms {
            // Once its history came (an empty room too: its later messages are unread).
            if view.read.is_none() && view.epoch.is_some() {
                view.read = Some(view.last_seq.unwrap_or(0));
                if self.current == Some(Target::Room(room.clone())) && self.divider.is_none() {
                    self.divider = view.read;
                }
            }
        }
        for (key, (_, lines)) in &self.directs {
            if let Some(newest) = lines.iter().filter_map(|l| l.id).max() {
                self.direct_read.entry(key.clone()).or_insert(newest.0);
            }
        }
    }

    /// Records a message the user typed for the current conversation and returns the request
    /// to send, or a reason it cannot be sent.
    pub fn compose(&mut self, text: &str) -> Result<ClientMsg, String> {
        self.compose_with(text, None)
    }

    /// [`ChatState::compose`] for a message carrying an uploaded image (rooms only).
    pub fn compose_with(
        &mut self,
        text: &str,
        image: Option<shared::Image>,
    ) -> Result<ClientMsg, String> {
        let w = crate::i18n::words();
        let me = self.me.clone().ok_or(w.not_connected)?;
        let target = self.current.clone().ok_or(w.pick_conversation)?;
        let text = Text::try_from(text).map_err(|e| (w.invalid)(&e))?;
        if let Some(limits) = self.limits
            && text.chars() > limits.max_text_chars as usize
        {
            return Err((w.too_long)(text.chars(), limits.max_text_chars as usize));
        }
        if image.is_some() && matches!(target, Target::Direct(_)) {
            return Err(w.images_rooms_only.into());
        }
        let client_id = self.next_client_id()?;
        if let (Some(id), Target::Room(room)) = (self.editing.take(), &target) {
            return Ok(ClientMsg::Edit {
                room: room.clone(),
                id,
                text,
                client_id,
            });
        }
        let reply_to = match target {
            Target::Room(_) => self.replying.take(),
            Target::Direct(_) => None,
        };
        let line = Line {
            id: None,
            seq: None,
            client_id: client_id.clone(),
            from: me,
            text: text.as_str().to_owned(),
            ts: None,
            mine: true,
            delivery: Delivery::Pending,
            reply_to: reply_to.clone(),
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            image: image.clone(),
        };
        Ok(match target {
            Target::Room(room) => {
                if let Some(view) = self.rooms.get_mut(&room) {
                    push_line(&mut view.lines, line);
                }
                ClientMsg::Say {
                    room,
                    text,
                    client_id,
                    reply_to: reply_to.map(|q| q.id),
                    image,
                }
            }
            Target::Direct(to) => {
                let entry = self
                    .directs
                    .entry(to.key())
                    .or_insert_with(|| (to.clone(), Vec::new()));
                push_line(&mut entry.1, line);
                ClientMsg::Direct {
                    to,
                    text,
                    client_id,
                }
            }
        })
    }

    /// A fresh `client_id` for a request of ours.
    fn next_client_id(&mut self) -> Result<ClientMsgId, String> {
        self.next_client_id += 1;
        let prefix = if self.client_prefix.is_empty() {
            "c"
        } else {
            &self.client_prefix
        };
        ClientMsgId::try_from(format!("{prefix}-{}", self.next_client_id))
            .map_err(|e| e.to_string())
    }

    /// The request that deletes message `id` of the current room.
    pub fn delete(&mut self, id: MessageId) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let client_id = self.next_client_id().ok()?;
        Some(ClientMsg::DeleteMessage {
            room,
            id,
            client_id,
        })
    }

    /// The request that toggles our reaction `emoji` on message `id` of the current room:
    /// taken back if we gave it, given otherwise.
    pub fn react(&mut self, id: MessageId, emoji: &str) -> Option<ClientMsg> {
        let Some(Target::Room(room)) = self.current.clone() else {
            return None;
        };
        let emoji = match Emoji::try_from(emoji) {
            Ok(emoji) => emoji,
            Err(err) => {
                self.notice(format!("{} ({err})", crate::i18n::words().not_an_emoji));
                return None;
            }
        };
        let me = self.me.clone()?;
        let line = self
            .rooms
            .get(&room)?
            .lines
            .iter()
            .find(|l| l.id == Some(id))?;
        let given = line
            .reactions
            .iter()
            .any(|r| r.emoji == emoji && r.users.iter().any(|u| u.key() == me.key()));
        let client_id = self.next_client_id().ok()?;
        Some(ClientMsg::React {
            room,
            id,
            emoji,
            on: !given,
            client_id,
        })
    }

    /// Starts editing our line `id` of the current room: returns its text for the composer.
    pub fn start_edit(&mut self, id: MessageId) -> Option<String> {
        let line = self
            .current_lines()
            .iter()
            .find(|l| l.id == Some(id) && l.mine)?;
        let text = line.text.clone();
        self.replying = None;
        self.editing = Some(id);
        Some(text)
    }

    /// Drops a reply or an edit in progress.
    pub fn cancel_compose(&mut self) {
        self.replying = None;
        self.editing = None;
    }

    /// Starts answering line `id` of the current room (the next message quotes it).
    pub fn reply_to(&mut self, id: MessageId) {
        self.editing = None;
        let line = self.current_lines().iter().find(|l| l.id == Some(id));
        self.replying = line.map(|line| Quote {
            id,
            seq: line.seq.unwrap_or(0),
            from: line.from.clone(),
            text: Quote::excerpt(&line.text),
            deleted: false,
        });
    }

    /// The connection dropped: typing is stale until the rejoin refreshes it. Pending lines
    /// stay pending; they are sent again after the next `welcome`.
    pub fn connection_lost(&mut self) {
        for view in self.rooms.iter_mut().map(|(_, v)| v) {
            view.typing.clear();
            view.loading_older = false;
            view.loading_newer = false;
            view.members_loading = false;
            if let Some(search) = &mut view.member_search {
                search.loading = false;
            }
        }
    }

    /// Whether some typing indicator has lapsed by `now_ms`.
    pub fn typing_lapsed(&self, now_ms: f64) -> bool {
        self.rooms
            .values()
            .any(|view| view.typing.values().any(|until| *until <= now_ms))
    }

    /// Drops typing indicators whose stop never came.
    pub fn expire_typing(&mut self, now_ms: f64) {
        for view in self.rooms.iter_mut().map(|(_, v)| v) {
            view.typing.retain(|_, until| *until > now_ms);
        }
    }

    /// Applies one server event received at `now_ms` (page clock).
    pub fn apply(&mut self, event: ServerMsg, now_ms: f64) {
        match event {
            ServerMsg::Welcome { user, limits } => {
                self.awaiting_welcome = false;
                self.me = Some(user);
                self.limits = Some(limits);
                self.nick_problem = None;
            }
            ServerMsg::Joined {
                room,
                count,
                members,
            } => {
                self.invitations.remove(&room);
                let view = self.rooms.entry(room.clone()).or_default();
                // A join (or a rejoin after a reconnect) starts the list afresh.
                view.member_count = count;
                view.members_loading = false;
                view.member_search = None;
                view.members_upto = None;
                view.members.clear();
                view.add_members(members, count);
                if self.current.is_none() {
                    self.current = Some(Target::Room(room));
                }
            }
            ServerMsg::Left { room } => {
                self.rooms.remove(&room);
                if self.current == Some(Target::Room(room)) {
                    self.current = self.rooms.keys().next().cloned().map(Target::Room);
                }
            }
            ServerMsg::Presence {
                room,
                count,
                joined,
                left,
            } => {
                if let Some(view) = self.rooms.get_mut(&room) {
                    view.member_count = count;
                    for user in left {
                        view.typing.remove(&user);
                        view.members.remove(&user.key());
                    }
                    for user in joined {
                        let key = user.key();
                        if view.members_upto.as_ref().is_none_or(|upto| key <= *upto) {
                            view.members.insert(key, user);
                        }
                    }
                }
            }
            ServerMsg::Members {
                room,
                after,
                prefix,
                members,
                more,
            } => {
                if let Some(view) = self.rooms.get_mut(&room) {
                    view.members_listed(after, &prefix, members, more);
                }
            }
            ServerMsg::Renamed { from, to } => self.rename(&from, &to),
            said @ ServerMsg::Said { .. } => {
                if let Some((room, message)) = said.into_room_message() {
                    self.receive_said(&room, message);
                }
            }
            ServerMsg::History {
                room,
                mode,
                messages,
                changes,
                more_before,
                epoch,
            } => {
                let me = self.me.clone();
                let reset = mode == HistoryMode::Reset;
                if let Some(view) = self.rooms.get_mut(&room) {
                    view.epoch = Some(epoch);
                    view.history(mode, messages, more_before, me.as_ref());
                    for change in changes {
                        view.change(&change);
                    }
                }
                if mode != HistoryMode::CatchUp {
                    self.baseline();
                }
                if reset {
                    self.notice((crate::i18n::words().room_reset)(room.as_str()));
                }
            }
            ServerMsg::DirectHistory {
                mode,
                messages,
                epoch,
            } => {
                self.direct_epoch = Some(epoch);
                let fresh = mode != HistoryMode::CatchUp;
                self.direct_history(mode, messages);
                if fresh {
                    self.baseline();
                }
            }
            direct @ ServerMsg::Direct { .. } => {
                if let Some(message) = direct.into_direct_message() {
                    if !self.is_me(&message.from) {
                        let title = (crate::i18n::words().direct_alert)(message.from.as_str());
                        self.alert(title, message.text.as_str());
                    }
                    self.receive_direct(message);
                }
            }
            ServerMsg::Typing { room, user, active } => {
                let timeout = self
                    .limits
                    .map_or(5000.0, |l| f64::from(l.typing_timeout_ms));
                if let Some(view) = self.rooms.get_mut(&room) {
                    if active {
                        view.typing
                            .insert(user, now_ms + timeout + TYPING_MARGIN_MS);
                    } else {
                        view.typing.remove(&user);
                    }
                }
            }
            ServerMsg::Rooms { rooms } => self.directory = rooms,
            ServerMsg::ReadPositions { rooms, directs } => {
                for (room, seq) in rooms {
                    let view = self.rooms.entry(room).or_default();
                    view.read = view.read.max(Some(seq));
                }
                for (peer, id) in directs {
                    let read = self.direct_read.entry(peer.key()).or_default();
                    *read = (*read).max(id);
                }
                self.positions_known = true;
                self.baseline();
                if self.divider.is_none()
                    && let Some(current) = self.current.clone()
                {
                    self.divider = self.read_position(&current);
                }
            }
            ServerMsg::Error {
                code,
                message,
                client_id,
            } => self.refused(code, message, client_id),
            ServerMsg::RoomPolicy {
                room,
                owner,
                moderators,
                private,
                ..
            } => {
                let rules = RoomRules {
                    owner,
                    moderators,
                    private,
                };
                self.rules.insert(room, rules);
            }
            ServerMsg::Moderated { room, by, action } => self.moderated(&room, &by, action),
            changed @ ServerMsg::Changed { .. } => {
                if let Some((room, change)) = changed.into_room_change()
                    && let Some(view) = self.rooms.get_mut(&room)
                {
                    view.change(&change);
                }
            }
            ServerMsg::Invited { room, by } => {
                if !self.rooms.contains_key(&room) {
                    let said = (crate::i18n::words().invited_you)(by.as_str(), room.as_str());
                    self.notice(said);
                    self.invitations.insert(room, by);
                }
            }
            ServerMsg::Removed { room, by, reason } => {
                let said = (crate::i18n::words().removed_you)(room.as_str(), by.as_str(), reason);
                self.notice(said);
                self.invitations.remove(&room);
            }
            ServerMsg::ReauthNeeded { .. } => self.reauth_needed = true,
            ServerMsg::Reauthed { .. } => self.reauth_needed = false,
        }
    }

    /// Whether this user owns `room` (and so may invite, and name moderators).
    pub fn owns(&self, room: &RoomName) -> bool {
        let owner = self.rules.get(room).and_then(|r| r.owner.as_ref());
        owner.is_some_and(|owner| self.is_me(owner))
    }

    /// Whether this user may moderate `room` (its owner or one of its moderators).
    pub fn moderates(&self, room: &RoomName) -> bool {
        self.owns(room)
            || self
                .rules
                .get(room)
                .is_some_and(|r| r.moderators.iter().any(|m| self.is_me(m)))
    }

    /// A moderation action in `room`, said in the notices.
    fn moderated(&mut self, room: &RoomName, by: &Nick, action: shared::ModAction) {
        use crate::i18n::ModPhrase as P;
        use shared::ModAction as A;
        let what = match action {
            A::Invited { user } => P::Invited(user.into()),
            A::Uninvited { user } => P::Uninvited(user.into()),
            A::ModeratorAdded { user } => P::ModeratorAdded(user.into()),
            A::ModeratorRemoved { user } => P::ModeratorRemoved(user.into()),
            A::Kicked { user } => P::Kicked(user.into()),
            A::Banned { user } => P::Banned(user.into()),
            A::Unbanned { user } => P::Unbanned(user.into()),
            A::Muted { user, .. } => P::Muted(user.into()),
            A::Unmuted { user } => P::Unmuted(user.into()),
        };
        let said = (crate::i18n::words().moderated)(room.as_str(), by.as_str(), &what);
        self.notice(said);
    }

    fn receive_said(&mut self, room: &RoomName, message: RoomMessage) {
        let mine = self.is_me(&message.from);
        let mentioned = !mine
            && self
                .me
                .as_ref()
                .is_some_and(|me| mentions(message.text.as_str(), me));
        let (from, text) = (message.from.clone(), message.text.as_str().to_owned());
        let Some(view) = self.rooms.get_mut(room) else {
            return;
        };
        view.typing.remove(&from);
        if view.more_after && !mine {
            view.missed.0 += 1;
            view.missed.1 += usize::from(mentioned);
        }
        if view.receive(message, mine) && mentioned {
            let title = (crate::i18n::words().room_alert)(from.as_str(), room.as_str());
            self.alert(title, &text);
        }
    }

    fn receive_direct(&mut self, message: DirectMessage) {
        let mine = self.is_me(&message.from);
        let peer = if mine {
            message.to.clone()
        } else {
            message.from.clone()
        };
        self.direct_last = self.direct_last.max(Some(message.id));
        let entry = self
            .directs
            .entry(peer.key())
            .or_insert_with(|| (peer.clone(), Vec::new()));
        settle(&mut entry.1, Line::direct(message, mine), MAX_LINES);
    }

    fn direct_history(&mut self, mode: HistoryMode, messages: Vec<DirectMessage>) {
        if mode == HistoryMode::Reset {
            // Only what was acknowledged goes; our unsent lines stay to be sent.
            for (_, lines) in self.directs.iter_mut().map(|(_, v)| v) {
                lines.retain(|l| l.id.is_none());
            }
            // As for rooms: the new log's ids may be lower than ours.
            self.direct_last = None;
            self.notice(crate::i18n::words().directs_reset.into());
        }
        for message in messages {
            self.receive_direct(message);
        }
    }

    fn notice(&mut self, message: String) {
        self.notices.push(message);
        if self.notices.len() > MAX_NOTICES {
            self.notices.remove(0);
        }
    }

    fn is_me(&self, nick: &Nick) -> bool {
        self.me.as_ref().is_some_and(|me| me.key() == nick.key())
    }

    fn rename(&mut self, from: &Nick, to: &Nick) {
        if self.is_me(from) {
            self.me = Some(to.clone());
        }
        for view in self.rooms.iter_mut().map(|(_, v)| v) {
            // Only a member this tab has loaded is known to be in the room.
            if view.members.remove(&from.key()).is_some() {
                let key = to.key();
                if view.members_upto.as_ref().is_none_or(|upto| key <= *upto) {
                    view.members.insert(key, to.clone());
                }
            }
            if let Some(until) = view.typing.remove(from) {
                view.typing.insert(to.clone(), until);
            }
        }
        if let Some((_, lines)) = self.directs.remove(&from.key()) {
            self.directs.insert(to.key(), (to.clone(), lines));
        }
        if self.current == Some(Target::Direct(from.clone())) {
            self.current = Some(Target::Direct(to.clone()));
        }
    }

    fn refused(&mut self, code: ErrorCode, message: String, client_id: Option<ClientMsgId>) {
        // The server's words are English; another language says the code its own way.
        let message = (crate::i18n::words().error)(code).map_or(message, str::to_owned);
        // Refused at hello (first time, or the name was taken while we were away): back to
        // the nickname screen.
        if matches!(code, ErrorCode::NickTaken) && self.awaiting_welcome {
            self.awaiting_welcome = false;
            self.me = None;
            self.nick_problem = Some(message);
            return;
        }
        if let Some(client_id) = client_id {
            let failed = Delivery::Failed(message.clone());
            let lines = self
                .rooms
                .iter_mut()
                .map(|(_, view)| view)
                .map(|v| &mut v.lines)
                .chain(self.directs.iter_mut().map(|(_, v)| v).map(|d| &mut d.1));
            for lines in lines {
                if let Some(line) = lines
                    .iter_mut()
                    .find(|l| l.mine && l.client_id == client_id)
                {
                    line.delivery = failed.clone();
                }
            }
        }
        self.notice(message);
    }
}

impl RoomView {
    /// Applies a change entry (live, or from a catch-up) to its line, if this view has it.
    fn change(&mut self, change: &RoomChange) {
        self.last_seq = self.last_seq.max(Some(change.seq));
        if let Some(line) = self.lines.iter_mut().find(|l| l.id == Some(change.target)) {
            line.apply(&change.from, &change.change);
        }
        if change.change == Change::Deleted {
            // Its words leave the replies that quoted it too, as the server's pages have them.
            for line in &mut self.lines {
                if let Some(quote) = line.reply_to.take_if(|q| q.id == change.target) {
                    line.reply_to = Some(quote.forgotten());
                }
            }
        }
    }

    /// Adds a live message (or one of a latest page or a catch-up); false if it was here
    /// already (by id), or is ours while the newest lines are let go.
    fn receive(&mut self, message: RoomMessage, mine: bool) -> bool {
        self.last_seq = self.last_seq.max(Some(message.seq));
        self.last_message = self.last_message.max(Some(message.seq));
        if self.more_after {
            // Not next to what is held: "load newer" brings it when the reader gets there.
            // Our own line is stored now: it leaves the bottom (no longer unsent) too.
            if mine {
                self.lines
                    .retain(|l| l.id.is_some() || l.client_id != message.client_id);
            }
            return !mine;
        }
        // Older pages the reader loaded stay: the line dropped could be the one they are
        // reading (the list shows only what is near the view; the state holds the lines).
        let cap = if self.paged_back {
            usize::MAX
        } else {
            MAX_LINES
        };
        let new = settle(&mut self.lines, Line::room(message, mine), cap);
        if self.lines.len() >= cap {
            // The oldest line was dropped from memory; "load older" brings it back.
            self.more_before = true;
        }
        new
    }

    /// Merges a `history` answer.
    fn history(
        &mut self,
        mode: HistoryMode,
        messages: Vec<RoomMessage>,
        more_before: bool,
        me: Option<&Nick>,
    ) {
        let mine = |from: &Nick| me.is_some_and(|me| me.key() == from.key());
        match mode {
            HistoryMode::Latest | HistoryMode::Reset => {
                // The server's page replaces what we had, except our unsent lines, which
                // follow it (a resend after `welcome` settles them).
                let unsent: Vec<Line> = self.lines.drain(..).filter(|l| l.id.is_none()).collect();
                self.paged_back = false;
                (self.more_after, self.loading_newer) = (false, false);
                // A reset may come from a new log (another epoch) whose numbers are lower
                // than ours: continue from the page, not from the larger old number.
                (self.last_seq, self.last_message, self.missed) = (None, None, (0, 0));
                for message in messages {
                    let own = mine(&message.from);
                    self.receive(message, own);
                }
                for line in unsent {
                    // Stored before the drop: the page has it now, acknowledged.
                    let stored = self
                        .lines
                        .iter()
                        .any(|l| l.mine && l.client_id == line.client_id);
                    if !stored {
                        push_line(&mut self.lines, line);
                    }
                }
                self.more_before = more_before;
            }
            HistoryMode::CatchUp => {
                for message in messages {
                    let own = mine(&message.from);
                    self.receive(message, own);
                }
                if self.lines.iter().all(|l| l.id.is_none()) {
                    self.more_before = more_before;
                }
            }
            HistoryMode::Older => {
                self.loading_older = false;
                self.paged_back = true;
                self.more_before = more_before;
                // What is older than the first line: the lines from there on are the
                // room's in order, so this is what we do not have (and a page costs the
                // same however many lines are loaded).
                let first = self.lines.iter().find_map(|l| l.seq);
                let older: Vec<Line> = messages
                    .into_iter()
                    .filter(|m| first.is_none_or(|first| m.seq < first))
                    .map(|m| {
                        let own = mine(&m.from);
                        Line::room(m, own)
                    })
                    .collect();
                self.lines.splice(0..0, older);
                // Far back: the newest lines go (never our unsent ones, which stay at the
                // bottom), and "load newer" brings them back.
                let stored = self.lines.iter().filter(|l| l.id.is_some()).count();
                if stored > HELD_PAGING && stored == self.lines.len() {
                    self.lines.truncate(HELD_PAGING);
                    self.more_after = true;
                }
            }
            HistoryMode::Newer => {
                self.loading_newer = false;
                let last = self.lines.iter().rev().find_map(|l| l.seq);
                let newer = messages
                    .into_iter()
                    .filter(|m| last.is_none_or(|last| m.seq > last))
                    .map(|m| {
                        let own = mine(&m.from);
                        Line::room(m, own)
                    });
                // Above our unsent lines, which stay last.
                let at = self
                    .lines
                    .iter()
                    .rposition(|l| l.id.is_some())
                    .map_or(0, |i| i + 1);
                self.lines.splice(at..at, newer);
                // What was missed is coming back (the current room's count matters little).
                self.missed = (0, 0);
                // Back at the newest message this tab was sent: live messages join it again,
                // and the list is as at the newest, its oldest lines let go as new ones come.
                let held = self.lines.iter().rev().find_map(|l| l.seq);
                if held >= self.last_message {
                    (self.more_after, self.paged_back) = (false, false);
                }
                // The oldest lines go, as the newest did on the way up.
                if let Some(excess) = self.lines.len().checked_sub(HELD_PAGING) {
                    self.lines.drain(..excess);
                    self.more_before |= excess > 0;
                }
            }
        }
    }
}

impl Line {
    /// Its position in conversation `target` (what read positions count): the `seq` in a
    /// room, the id among direct messages; none until delivered.
    pub fn position(&self, target: &Target) -> Option<u64> {
        match target {
            Target::Room(_) => self.seq,
            Target::Direct(_) => self.id.map(|id| id.0),
        }
    }

    /// A delivered room message.
    fn room(message: RoomMessage, mine: bool) -> Self {
        Self {
            id: Some(message.id),
            seq: Some(message.seq),
            client_id: message.client_id,
            from: message.from,
            text: message.text.into(),
            ts: Some(message.ts),
            mine,
            delivery: Delivery::Sent,
            reply_to: message.reply_to,
            edited: message.edited,
            deleted: message.deleted,
            reactions: message.reactions,
            image: message.image,
        }
    }

    /// Applies a change by `from`, with the server's rule ([`RoomMessage::apply`]).
    fn apply(&mut self, from: &Nick, change: &Change) {
        let (Some(id), Ok(text)) = (self.id, Text::try_from(self.text.as_str())) else {
            return;
        };
        let mut message = RoomMessage {
            reply_to: self.reply_to.take(),
            image: self.image.take(),
            edited: self.edited,
            deleted: self.deleted,
            reactions: std::mem::take(&mut self.reactions),
            ..RoomMessage::new(id, 0, self.from.clone(), text, 0, self.client_id.clone())
        };
        message.apply(from, change);
        self.text = message.text.into();
        self.reply_to = message.reply_to;
        self.image = message.image;
        self.edited = message.edited;
        self.deleted = message.deleted;
        self.reactions = message.reactions;
    }

    /// A delivered direct message.
    fn direct(message: DirectMessage, mine: bool) -> Self {
        Self {
            id: Some(message.id),
            seq: None,
            client_id: message.client_id,
            from: message.from,
            text: message.text.into(),
            ts: Some(message.ts),
            mine,
            delivery: Delivery::Sent,
            reply_to: None,
            edited: false,
            deleted: false,
            reactions: Vec::new(),
            image: None,
        }
    }
}

/// Replaces our pending line with its echo, or appends a new line; a line whose server id
/// is here already is dropped. Returns whether the line is new.
fn settle(lines: &mut Vec<Line>, line: Line, cap: usize) -> bool {
    if line.id.is_some() && lines.iter().rev().any(|l| l.id == line.id) {
        return false;
    }
    if line.mine
        && let Some(pending) = lines
            .iter()
            .position(|l| l.mine && l.id.is_none() && l.client_id == line.client_id)
    {
        // Delivered now: it moves up to its place among the delivered lines.
        lines.remove(pending);
        push_line_capped(lines, line, cap);
        return false;
    }
    push_line_capped(lines, line, cap);
    true
}

/// Appends `line`; a delivered line goes before the unsent ones at the bottom (which stay
/// last until the server has them), so the list shows the server's order.
fn push_line(lines: &mut Vec<Line>, line: Line) {
    push_line_capped(lines, line, MAX_LINES);
}

/// [`push_line`], keeping at most `cap` lines (the oldest go).
fn push_line_capped(lines: &mut Vec<Line>, line: Line, cap: usize) {
    if line.id.is_some() {
        let at = lines
            .iter()
            .rposition(|l| l.id.is_some())
            .map_or(0, |i| i + 1);
        lines.insert(at, line);
    } else {
        lines.push(line);
    }
    if lines.len() > cap {
        lines.remove(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch() -> Epoch {
        "e1".parse().unwrap()
    }

    fn nick(n: &str) -> Nick {
        n.parse().unwrap()
    }
    fn room(r: &str) -> RoomName {
        r.parse().unwrap()
    }
    fn limits() -> Limits {
        Limits {
            max_text_chars: 10,
            max_rooms: 4,
            rate_per_sec: 10,
            rate_burst: 20,
            typing_timeout_ms: 5000,
            max_reactions: 20,
            max_reactions_per_user: 10,
            max_owned_rooms: 20,
        }
    }

    fn token() -> shared::UserToken {
        "browser-token-0123456789".parse().unwrap()
    }

    fn welcomed() -> ChatState {
        let mut state = ChatState::default();
        state.apply(
            ServerMsg::Welcome {
                user: nick("me"),
                limits: limits(),
            },
            0.0,
        );
        state.apply(
            ServerMsg::Joined {
                room: room("lobby"),
                count: 2,
                members: vec![nick("bob"), nick("me")],
            },
            0.0,
        );
        state
    }

    fn said(id: u64, from: &str, text: &str, client_id: &str) -> ServerMsg {
        ServerMsg::Said {
            id: MessageId(id),
            room: room("lobby"),
            seq: id,
            from: nick(from),
            text: text.try_into().unwrap(),
            ts: 1,
            client_id: client_id.parse().unwrap(),
            reply_to: None,
            image: None,
        }
    }

    fn changed(seq: u64, from: &str, target: u64, change: Change) -> ServerMsg {
        ServerMsg::Changed {
            room: room("lobby"),
            id: MessageId(seq),
            seq,
            from: nick(from),
            ts: 2,
            client_id: format!("ch{seq}").parse().unwrap(),
            target: MessageId(target),
            change,
        }
    }

    #[test]
    fn edits_reactions_and_deletions_change_the_line_and_move_the_resume_point() {
        let mut state = welcomed();
        state.apply(said(1, "bob", "hi", "b1"), 0.0);
        let thumbs: Emoji = "👍".parse().unwrap();
        state.apply(
            changed(
                2,
                "bob",
                1,
                Change::Edited {
                    text: "hello".try_into().unwrap(),
                },
            ),
            0.0,
        );
        let toggle = state.react(MessageId(1), "👍").unwrap();
        assert!(
            matches!(toggle, ClientMsg::React { on: true, .. }),
            "{toggle:?}"
        );
        state.apply(
            changed(
                3,
                "me",
                1,
                Change::Reacted {
                    emoji: thumbs.clone(),
                    on: true,
                },
            ),
            0.0,
        );
        let line = &state.current_lines()[0];
        assert_eq!((line.text.as_str(), line.edited), ("hello", true));
        assert_eq!(line.reactions[0].users, [nick("me")]);
        // Our reaction is there: a click takes it back.
        let toggle = state.react(MessageId(1), "👍").unwrap();
        assert!(
            matches!(toggle, ClientMsg::React { on: false, .. }),
            "{toggle:?}"
        );
        assert!(state.react(MessageId(1), "a").is_none(), "not an emoji");
        // A catch-up's changes apply to lines already shown.
        state.apply(
            ServerMsg::History {
                room: room("lobby"),
                mode: HistoryMode::CatchUp,
                messages: Vec::new(),
                changes: vec![RoomChange {
                    id: MessageId(4),
                    seq: 4,
                    from: nick("mod"),
                    ts: 3,
                    client_id: "m".parse().unwrap(),
                    target: MessageId(1),
                    change: Change::Deleted,
                }],
                more_before: false,
                epoch: "e".parse().unwrap(),
            },
            0.0,
        );
        let line = &state.current_lines()[0];
        assert!(line.deleted && line.reactions.is_empty());
        assert_eq!(line.text, RoomMessage::DELETED_TEXT);
        assert_eq!(state.rooms[&room("lobby")].last_seq, Some(4));
    }

    #[test]
    fn a_reply_quotes_its_original_and_an_edit_replaces_text() {
        let mut state = welcomed();
        state.apply(said(1, "bob", "lunch?", "b1"), 0.0);
        state.reply_to(MessageId(1));
        let request = state.compose("yes").unwrap();
        assert!(
            matches!(
                request,
                ClientMsg::Say {
                    reply_to: Some(MessageId(1)),
                    image: None,
                    ..
                }
            ),
            "{request:?}"
        );
        let pending = state.current_lines().last().unwrap();
        assert_eq!(
            pending.reply_to.as_ref().map(|q| q.text.as_str()),
            Some("lunch?")
        );
        assert!(state.replying.is_none(), "one reply per choice");
        state.apply(said(2, "me", "yes", "x"), 0.0);
        assert!(state.start_edit(MessageId(1)).is_none(), "not ours");
        assert_eq!(state.start_edit(MessageId(2)).as_deref(), Some("yes"));
        let request = state.compose("yes!").unwrap();
        assert!(
            matches!(
                request,
                ClientMsg::Edit {
                    id: MessageId(2),
                    ..
                }
            ),
            "{request:?}"
        );
    }

    #[test]
    fn own_message_is_pending_until_its_echo_then_sent() {
        let mut state = welcomed();
        let request = state.compose("hello").unwrap();
        let ClientMsg::Say { client_id, .. } = request else {
            panic!("{request:?}")
        };
        assert_eq!(state.current_lines()[0].delivery, Delivery::Pending);
        state.apply(said(7, "me", "hello", client_id.as_str()), 1.0);
        let lines = state.current_lines();
        assert_eq!(lines.len(), 1, "the echo replaces the pending line");
        assert_eq!(
            (lines[0].delivery.clone(), lines[0].id),
            (Delivery::Sent, Some(MessageId(7)))
        );
    }

    fn stored(id: u64, from: &str, client_id: &str) -> RoomMessage {
        RoomMessage::new(
            MessageId(id),
            id,
            nick(from),
            format!("m{id}").try_into().unwrap(),
            1,
            client_id.parse().unwrap(),
        )
    }

    fn history(mode: HistoryMode, ids: &[u64], more_before: bool) -> ServerMsg {
        ServerMsg::History {
            room: room("lobby"),
            mode,
            messages: ids.iter().map(|&id| stored(id, "bob", "b")).collect(),
            changes: Vec::new(),
            more_before,
            epoch: epoch(),
        }
    }

    fn ids(state: &ChatState) -> Vec<Option<u64>> {
        state
            .current_lines()
            .iter()
            .map(|l| l.id.map(|i| i.0))
            .collect()
    }

    #[test]
    fn history_latest_then_catch_up_then_live_shows_each_message_once() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[3, 4], true), 0.0);
        state.apply(said(5, "bob", "m5", "b"), 0.0);
        // A reconnect asks from the last seq; the catch-up overlaps nothing, a late live
        // copy of 5 and a repeated 6 are dropped by id.
        let ClientMsg::Hello { since, epochs, .. } = state.hello(nick("me"), token()) else {
            panic!()
        };
        assert_eq!(since.get(&room("lobby")), Some(&5));
        assert_eq!(
            epochs.get(&room("lobby")),
            Some(&epoch()),
            "the log 5 belongs to"
        );
        state.apply(history(HistoryMode::CatchUp, &[6, 7], true), 0.0);
        state.apply(said(5, "bob", "m5", "b"), 0.0);
        state.apply(said(6, "bob", "m6", "b"), 0.0);
        assert_eq!(ids(&state), [Some(3), Some(4), Some(5), Some(6), Some(7)]);
    }

    #[test]
    fn load_older_prepends_once_and_reset_replaces_but_keeps_unsent_lines() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[10, 11], true), 0.0);
        let request = state.load_older().unwrap();
        assert_eq!(
            request,
            ClientMsg::LoadOlder {
                room: room("lobby"),
                before: 10
            }
        );
        assert_eq!(state.load_older(), None, "one request at a time");
        state.apply(history(HistoryMode::Older, &[8, 9, 10], false), 0.0);
        assert_eq!(ids(&state), [Some(8), Some(9), Some(10), Some(11)]);
        assert_eq!(state.load_older(), None, "nothing older");

        state.compose("unsent").unwrap();
        state.apply(history(HistoryMode::Reset, &[50, 51], true), 0.0);
        assert_eq!(ids(&state), [Some(50), Some(51), None]);
        assert_eq!(state.notices.len(), 1, "a reset is explained");
        // A reset from a new log (another epoch) with lower numbers: continue from those.
        state.apply(history(HistoryMode::Reset, &[2, 3], false), 0.0);
        assert_eq!(state.rooms[&room("lobby")].last_seq, Some(3));
    }

    #[test]
    fn pending_lines_survive_a_drop_are_resent_and_settle_once() {
        let mut state = welcomed();
        let ClientMsg::Say {
            client_id: first, ..
        } = state.compose("one").unwrap()
        else {
            panic!()
        };
        state.compose("two").unwrap();
        state.connection_lost();
        assert!(
            state
                .current_lines()
                .iter()
                .all(|l| l.delivery == Delivery::Pending)
        );
        let resend = state.pending_requests();
        assert_eq!(resend.len(), 2);
        assert!(matches!(&resend[0], ClientMsg::Say { client_id, .. } if *client_id == first));
        // "one" had been stored before the drop: the catch-up brings it, then the resend's
        // acknowledgement repeats it; "two" is stored now.
        let mut caught_up = stored(20, "me", first.as_str());
        caught_up.text = "one".try_into().unwrap();
        state.apply(
            ServerMsg::History {
                room: room("lobby"),
                mode: HistoryMode::CatchUp,
                messages: vec![caught_up],
                changes: Vec::new(),
                more_before: false,
                epoch: epoch(),
            },
            0.0,
        );
        state.apply(said(20, "me", "one", first.as_str()), 0.0);
        let ClientMsg::Say {
            client_id: second, ..
        } = &resend[1]
        else {
            panic!()
        };
        state.apply(said(21, "me", "two", second.as_str()), 0.0);
        assert_eq!(ids(&state), [Some(20), Some(21)]);
        assert!(state.pending_requests().is_empty());
    }

    #[test]
    fn unsent_lines_stay_below_what_arrives_meanwhile() {
        let mut state = welcomed();
        let ClientMsg::Say { client_id, .. } = state.compose("queued").unwrap() else {
            panic!()
        };
        state.apply(history(HistoryMode::CatchUp, &[1, 2], false), 0.0);
        assert_eq!(ids(&state), [Some(1), Some(2), None]);
        state.apply(said(3, "me", "queued", client_id.as_str()), 0.0);
        state.apply(said(4, "bob", "m4", "b"), 0.0);
        assert_eq!(ids(&state), [Some(1), Some(2), Some(3), Some(4)]);
    }

    #[test]
    fn client_ids_carry_the_page_prefix() {
        let mut state = ChatState::new("Xy7".into());
        state.apply(
            ServerMsg::Welcome {
                user: nick("me"),
                limits: limits(),
            },
            0.0,
        );
        state.select(Target::Direct(nick("bob")));
        let ClientMsg::Direct { client_id, .. } = state.compose("hi").unwrap() else {
            panic!()
        };
        assert_eq!(client_id.as_str(), "Xy7-1");
    }

    #[test]
    fn refused_messages_are_marked_failed() {
        let mut state = welcomed();
        assert!(
            state.compose("far too long text").is_err(),
            "over the announced limit"
        );
        let ClientMsg::Say { client_id, .. } = state.compose("hi").unwrap() else {
            panic!()
        };
        state.apply(
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: "slow down".into(),
                client_id: Some(client_id.clone()),
            },
            0.0,
        );
        assert_eq!(
            state.current_lines()[0].delivery,
            Delivery::Failed("slow down".into())
        );
        assert_eq!(state.notices, ["slow down"]);
        let ClientMsg::Say {
            client_id: again, ..
        } = state.retry(&client_id).unwrap()
        else {
            panic!()
        };
        assert_eq!(again, client_id, "a retry keeps the id");
        assert_eq!(state.current_lines()[0].delivery, Delivery::Pending);
    }

    #[test]
    fn presence_typing_and_rename_update_the_view() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Presence {
                room: room("lobby"),
                count: 3,
                joined: vec![nick("carol")],
                left: vec![],
            },
            0.0,
        );
        state.apply(
            ServerMsg::Typing {
                room: room("lobby"),
                user: nick("carol"),
                active: true,
            },
            0.0,
        );
        assert_eq!(state.current_typing(), [nick("carol")]);
        assert!(!state.typing_lapsed(5_999.0));
        state.expire_typing(5_999.0);
        assert_eq!(state.current_typing().len(), 1);
        assert!(state.typing_lapsed(6_001.0));
        state.expire_typing(6_001.0);
        assert!(state.current_typing().is_empty(), "lapses without a stop");
        state.apply(
            ServerMsg::Renamed {
                from: nick("carol"),
                to: nick("caroline"),
            },
            0.0,
        );
        state.apply(
            ServerMsg::Presence {
                room: room("lobby"),
                count: 2,
                joined: vec![],
                left: vec![nick("bob")],
            },
            0.0,
        );
        assert_eq!(member_names(&state, "lobby"), ["caroline", "me"]);
        assert_eq!(state.rooms[&room("lobby")].member_count, 2);
    }

    fn member_names(state: &ChatState, name: &str) -> Vec<String> {
        state.rooms[&room(name)]
            .members
            .values()
            .map(ToString::to_string)
            .collect()
    }

    fn names(from: u32, to: u32) -> Vec<Nick> {
        (from..to).map(|i| nick(&format!("u{i:04}"))).collect()
    }

    #[test]
    fn a_big_room_loads_its_members_page_by_page_and_applies_presence_within_them() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Joined {
                room: room("big"),
                count: 120,
                members: names(0, 50),
            },
            0.0,
        );
        state.select(Target::Room(room("big")));
        let view = &state.rooms[&room("big")];
        assert_eq!((view.member_count, view.members.len()), (120, 50));
        assert_eq!(view.members_upto.as_deref(), Some("u0049"));
        // A join past what is loaded waits for its page; one within it shows at once.
        state.apply(
            ServerMsg::Presence {
                room: room("big"),
                count: 122,
                joined: vec![nick("u0010a"), nick("zed")],
                left: vec![nick("u0003")],
            },
            0.0,
        );
        let view = &state.rooms[&room("big")];
        assert_eq!(view.member_count, 122);
        assert!(view.members.contains_key("u0010a") && !view.members.contains_key("zed"));
        assert!(!view.members.contains_key("u0003"));
        let next = ClientMsg::Members {
            room: room("big"),
            after: Some(nick("u0049")),
            prefix: String::new(),
        };
        assert_eq!(state.load_more_members(), Some(next));
        assert_eq!(state.load_more_members(), None, "one page at a time");
        // An answer to something else (an old request) changes nothing.
        state.apply(
            ServerMsg::Members {
                room: room("big"),
                after: Some(nick("u0020")),
                prefix: String::new(),
                members: names(21, 30),
                more: true,
            },
            0.0,
        );
        assert_eq!(state.rooms[&room("big")].members.len(), 50);
        for (after, page, more) in [(49, names(50, 100), true), (99, names(100, 120), false)] {
            state.apply(
                ServerMsg::Members {
                    room: room("big"),
                    after: Some(nick(&format!("u{after:04}"))),
                    prefix: String::new(),
                    members: page,
                    more,
                },
                0.0,
            );
            if more {
                assert!(state.load_more_members().is_some());
            }
        }
        let view = &state.rooms[&room("big")];
        assert_eq!(view.members.len(), 120);
        assert_eq!(view.members_upto, None, "the whole list is here");
        assert_eq!(state.load_more_members(), None);
        state.apply(
            ServerMsg::Presence {
                room: room("big"),
                count: 123,
                joined: vec![nick("zed")],
                left: vec![],
            },
            0.0,
        );
        assert!(state.rooms[&room("big")].members.contains_key("zed"));
    }

    #[test]
    fn a_member_search_pages_its_matches_and_a_new_search_drops_old_answers() {
        let mut state = welcomed();
        state.select(Target::Room(room("lobby")));
        let ask = state.search_members(" u01 ");
        let expected = ClientMsg::Members {
            room: room("lobby"),
            after: None,
            prefix: "u01".into(),
        };
        assert_eq!(ask, Some(expected));
        state.apply(
            ServerMsg::Members {
                room: room("lobby"),
                after: None,
                prefix: "u01".into(),
                members: names(100, 150),
                more: true,
            },
            0.0,
        );
        let Some(ClientMsg::Members { after, prefix, .. }) = state.load_more_members() else {
            panic!("the next page of matches");
        };
        assert_eq!((after, prefix.as_str()), (Some(nick("u0149")), "u01"));
        assert!(state.search_members("u02").is_some());
        // The answer to the replaced search is dropped.
        state.apply(
            ServerMsg::Members {
                room: room("lobby"),
                after: Some(nick("u0149")),
                prefix: "u01".into(),
                members: names(150, 200),
                more: false,
            },
            0.0,
        );
        let search = state.rooms[&room("lobby")].member_search.clone();
        assert_eq!(search.map(|s| s.found.len()), Some(0));
        assert_eq!(state.search_members(""), None);
        assert_eq!(state.rooms[&room("lobby")].member_search, None);
        assert_eq!(
            member_names(&state, "lobby"),
            ["bob", "me"],
            "the list stays"
        );
    }

    #[test]
    fn hello_after_a_reconnect_rejoins_every_room() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Joined {
                room: room("rust"),
                count: 1,
                members: vec![nick("me")],
            },
            0.0,
        );
        state.connection_lost();
        let ClientMsg::Hello { rooms, .. } =
            state.hello(nick("me"), "0123456789abcdefgh".parse().unwrap())
        else {
            panic!()
        };
        assert_eq!(rooms, [room("lobby"), room("rust")]);
        assert!(
            state.me.is_some(),
            "the chat stays on screen while reconnecting"
        );
    }

    #[test]
    fn unread_counts_messages_in_other_rooms() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::new(),
                directs: BTreeMap::new(),
            },
            0.0,
        );
        state.apply(
            ServerMsg::Joined {
                room: room("rust"),
                count: 1,
                members: vec![nick("me")],
            },
            0.0,
        );
        state.apply(
            ServerMsg::Said {
                id: MessageId(1),
                room: room("rust"),
                seq: 1,
                from: nick("bob"),
                text: "psst".try_into().unwrap(),
                ts: 1,
                client_id: "x".parse().unwrap(),
                reply_to: None,
                image: None,
            },
            0.0,
        );
        let rust = Target::Room(room("rust"));
        assert_eq!(state.unread(&rust), (1, 0));
        state.select(rust.clone());
        assert_eq!(
            state.mark_current(),
            Some(ClientMsg::MarkRead {
                room: room("rust"),
                seq: 1
            })
        );
        assert_eq!(state.unread(&rust), (0, 0));
        assert_eq!(state.mark_current(), None, "once");
    }

    #[test]
    fn read_positions_count_unread_messages_and_mentions_and_place_the_divider() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::from([(room("lobby"), 2)]),
                directs: BTreeMap::from([(nick("bob"), 7)]),
            },
            0.0,
        );
        for (id, text) in [
            (1, "old"),
            (2, "seen"),
            (3, "hi @Me!"),
            (4, "@meg is not me"),
            (5, "x"),
        ] {
            state.apply(said(id, "bob", text, "b"), 0.0);
        }
        state.apply(said(6, "me", "mine", "m"), 0.0);
        let lobby = Target::Room(room("lobby"));
        assert_eq!(state.unread(&lobby), (3, 1));
        let direct = |id: u64| ServerMsg::Direct {
            id: MessageId(id),
            from: nick("bob"),
            to: nick("me"),
            text: "psst".try_into().unwrap(),
            ts: 1,
            client_id: format!("d{id}").parse().unwrap(),
        };
        state.apply(direct(7), 0.0);
        state.apply(direct(8), 0.0);
        assert_eq!(state.unread(&Target::Direct(nick("bob"))), (1, 1));
        // The title counts the mention and the direct message.
        assert_eq!(state.attention(), 2);
        let alerts = state.take_alerts();
        let titles: Vec<&str> = alerts.iter().map(|a| a.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "bob in #lobby",
                "bob (direct message)",
                "bob (direct message)"
            ]
        );
        // Opening the room puts the divider after what was read; another tab reads further.
        state.select(lobby.clone());
        assert_eq!(state.divider, Some(2));
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::from([(room("lobby"), 6)]),
                directs: BTreeMap::new(),
            },
            0.0,
        );
        assert_eq!(state.unread(&lobby), (0, 0));
        assert_eq!(state.attention(), 1);
    }

    #[test]
    fn an_empty_room_never_read_counts_what_comes_and_places_the_divider_above_it() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::ReadPositions {
                rooms: BTreeMap::new(),
                directs: BTreeMap::new(),
            },
            0.0,
        );
        state.apply(history(HistoryMode::Latest, &[], false), 0.0);
        assert_eq!(state.rooms[&room("lobby")].read, Some(0));
        state.select(Target::Direct(nick("bob")));
        state.apply(said(1, "bob", "first words", "b"), 0.0);
        let lobby = Target::Room(room("lobby"));
        assert_eq!(state.unread(&lobby), (1, 0));
        state.select(lobby);
        assert_eq!(state.divider, Some(0));
    }

    #[test]
    fn mentions_complete_from_the_room_members() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Presence {
                room: room("lobby"),
                count: 3,
                joined: vec![nick("Bobby")],
                left: vec![],
            },
            0.0,
        );
        assert_eq!(
            state.mention_suggestions("hi @bo"),
            [nick("bob"), nick("Bobby")]
        );
        assert_eq!(
            state.mention_suggestions("hi @me"),
            Vec::<Nick>::new(),
            "not myself"
        );
        assert!(state.mention_suggestions("hi bo").is_empty());
        assert_eq!(complete_mention("hi @bo", &nick("Bobby")), "hi @Bobby ");
        assert!(mentions("ping @BOBBY.", &nick("bobby")));
        assert!(!mentions("@bobbyz", &nick("bobby")));
    }

    #[test]
    fn direct_messages_are_filed_under_the_other_user() {
        let mut state = welcomed();
        state.select(Target::Direct(nick("Bob")));
        let ClientMsg::Direct { client_id, .. } = state.compose("hi bob").unwrap() else {
            panic!()
        };
        state.apply(
            ServerMsg::Direct {
                id: MessageId(2),
                from: nick("me"),
                to: nick("Bob"),
                text: "hi bob".try_into().unwrap(),
                ts: 1,
                client_id,
            },
            0.0,
        );
        state.apply(
            ServerMsg::Direct {
                id: MessageId(3),
                from: nick("Bob"),
                to: nick("me"),
                text: "hi!".try_into().unwrap(),
                ts: 2,
                client_id: "b1".parse().unwrap(),
            },
            0.0,
        );
        let lines = state.current_lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].mine && lines[0].delivery == Delivery::Sent && !lines[1].mine);
    }

    #[test]
    fn nick_taken_before_welcome_goes_to_the_nickname_screen() {
        let mut state = ChatState::default();
        let hello = state.hello(nick("me"), "0123456789abcdefgh".parse().unwrap());
        assert!(matches!(hello, ClientMsg::Hello { ref rooms, .. } if rooms.is_empty()));
        state.apply(
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                message: "taken".into(),
                client_id: None,
            },
            0.0,
        );
        assert_eq!(state.nick_problem.as_deref(), Some("taken"));
        assert!(state.notices.is_empty());
    }

    // ---- Boundaries and branches found by `cargo xtask mutants` (docs/MUTANTS.md) ----

    fn direct_from(id: u64, from: &str, to: &str, client_id: &str) -> ServerMsg {
        ServerMsg::Direct {
            id: MessageId(id),
            from: nick(from),
            to: nick(to),
            text: format!("d{id}").try_into().unwrap(),
            ts: 1,
            client_id: client_id.parse().unwrap(),
        }
    }

    /// The server refusing something (with `client_id`, if it names a message).
    fn refusal(code: ErrorCode, message: &str, client_id: Option<&ClientMsgId>) -> ServerMsg {
        ServerMsg::Error {
            code,
            message: message.to_owned(),
            client_id: client_id.cloned(),
        }
    }

    fn client_id_of(request: &ClientMsg) -> ClientMsgId {
        match request {
            ClientMsg::Say { client_id, .. } | ClientMsg::Direct { client_id, .. } => {
                client_id.clone()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pending_requests_are_only_our_unacknowledged_lines_rooms_and_directs() {
        let mut state = welcomed();
        let sent = client_id_of(&state.compose("sent").unwrap());
        state.apply(said(1, "me", "sent", sent.as_str()), 0.0);
        let waiting = client_id_of(&state.compose("waiting").unwrap());
        state.apply(direct_from(2, "bob", "me", "b-1"), 0.0);
        state.select(Target::Direct(nick("bob")));
        let direct = client_id_of(&state.compose("psst").unwrap());
        let acked_direct = client_id_of(&state.compose("acked").unwrap());
        state.apply(direct_from(3, "me", "bob", acked_direct.as_str()), 0.0);
        let pending: Vec<ClientMsgId> = state.pending_requests().iter().map(client_id_of).collect();
        assert_eq!(pending, [waiting, direct]);
    }

    #[test]
    fn retry_resends_only_our_own_undelivered_line() {
        let mut state = welcomed();
        let delivered = client_id_of(&state.compose("one").unwrap());
        state.apply(said(1, "me", "one", delivered.as_str()), 0.0);
        let failed = client_id_of(&state.compose("two").unwrap());
        state.apply(
            refusal(ErrorCode::RateLimited, "slow down", Some(&failed)),
            0.0,
        );
        // Someone else's message that happens to carry the same client id.
        state.apply(said(2, "bob", "theirs", failed.as_str()), 0.0);
        assert_eq!(state.retry(&delivered), None, "already delivered");
        assert_eq!(state.retry(&"unknown".parse().unwrap()), None);
        let request = state.retry(&failed).unwrap();
        assert_eq!(client_id_of(&request), failed);
        let line = state
            .current_lines()
            .iter()
            .find(|l| l.mine && l.client_id == failed)
            .unwrap();
        assert_eq!(line.delivery, Delivery::Pending);
    }

    #[test]
    fn a_text_of_exactly_the_limit_is_allowed_one_more_is_not() {
        let mut state = welcomed(); // max_text_chars: 10
        assert!(state.compose("가나다라마바사아자차").is_ok());
        assert!(state.compose("가나다라마바사아자차카").is_err());
    }

    #[test]
    fn a_lost_connection_clears_typing_and_an_older_page_in_flight() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[5], true), 0.0);
        assert!(state.load_older().is_some());
        state.apply(
            ServerMsg::Typing {
                room: room("lobby"),
                user: nick("bob"),
                active: true,
            },
            0.0,
        );
        state.connection_lost();
        let view = &state.rooms[&room("lobby")];
        assert!(view.typing.is_empty());
        assert!(!view.loading_older);
        assert!(
            state.load_older().is_some(),
            "the page can be asked for again"
        );
    }

    #[test]
    fn typing_lapses_exactly_at_its_deadline() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::Typing {
                room: room("lobby"),
                user: nick("bob"),
                active: true,
            },
            0.0,
        );
        let until = 5000.0 + TYPING_MARGIN_MS;
        assert!(!state.typing_lapsed(until - 1.0));
        state.expire_typing(until - 1.0);
        assert_eq!(state.current_typing(), [nick("bob")]);
        assert!(state.typing_lapsed(until));
        state.expire_typing(until);
        assert!(state.current_typing().is_empty());
    }

    #[test]
    fn leaving_the_shown_room_shows_another_and_leaving_another_keeps_it() {
        let mut state = welcomed();
        for name in ["b-room", "c-room"] {
            state.apply(
                ServerMsg::Joined {
                    room: room(name),
                    count: 1,
                    members: vec![nick("me")],
                },
                0.0,
            );
        }
        assert_eq!(state.current, Some(Target::Room(room("lobby"))));
        state.apply(
            ServerMsg::Left {
                room: room("c-room"),
            },
            0.0,
        );
        assert_eq!(state.current, Some(Target::Room(room("lobby"))));
        state.apply(
            ServerMsg::Left {
                room: room("lobby"),
            },
            0.0,
        );
        assert_eq!(state.current, Some(Target::Room(room("b-room"))));
    }

    #[test]
    fn direct_history_shows_messages_and_a_reset_keeps_only_unsent_lines() {
        let mut state = welcomed();
        state.apply(
            ServerMsg::DirectHistory {
                mode: HistoryMode::Latest,
                epoch: epoch(),
                messages: vec![
                    direct_from(1, "bob", "me", "b-1")
                        .into_direct_message()
                        .unwrap(),
                ],
            },
            0.0,
        );
        assert_eq!(state.directs[&nick("bob").key()].1.len(), 1);
        assert_eq!(state.direct_last, Some(MessageId(1)));
        assert!(state.notices.is_empty());
        state.select(Target::Direct(nick("bob")));
        let unsent = client_id_of(&state.compose("later").unwrap());
        state.apply(
            ServerMsg::DirectHistory {
                mode: HistoryMode::Reset,
                epoch: epoch(),
                messages: vec![],
            },
            0.0,
        );
        let lines = &state.directs[&nick("bob").key()].1;
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].client_id, unsent);
        assert_eq!(state.notices.len(), 1);
        assert_eq!(state.direct_last, None, "the new log's ids start again");
    }

    #[test]
    fn notices_keep_the_newest_five() {
        let mut state = welcomed();
        let refuse = |state: &mut ChatState, i: u32| {
            state.apply(refusal(ErrorCode::NotInRoom, &format!("n{i}"), None), 0.0);
        };
        for i in 0..5 {
            refuse(&mut state, i);
        }
        assert_eq!(state.notices, ["n0", "n1", "n2", "n3", "n4"]);
        refuse(&mut state, 5);
        assert_eq!(state.notices, ["n1", "n2", "n3", "n4", "n5"]);
    }

    #[test]
    fn a_renamed_peer_keeps_the_shown_conversation() {
        let mut state = welcomed();
        state.apply(direct_from(1, "bob", "me", "b-1"), 0.0);
        state.select(Target::Direct(nick("bob")));
        state.apply(
            ServerMsg::Renamed {
                from: nick("bob"),
                to: nick("robert"),
            },
            0.0,
        );
        assert_eq!(state.current, Some(Target::Direct(nick("robert"))));
        assert_eq!(state.current_lines().len(), 1);
        // Someone else's rename leaves the shown conversation alone.
        state.apply(
            ServerMsg::Renamed {
                from: nick("carol"),
                to: nick("caroline"),
            },
            0.0,
        );
        assert_eq!(state.current, Some(Target::Direct(nick("robert"))));
    }

    #[test]
    fn nick_taken_returns_to_the_nickname_screen_only_while_awaiting_welcome() {
        let mut state = welcomed();
        state.apply(refusal(ErrorCode::NickTaken, "taken", None), 0.0);
        assert_eq!(state.me, Some(nick("me")), "a refused rename keeps us in");
        assert_eq!(state.nick_problem, None);
        state.hello(nick("me"), token());
        state.apply(refusal(ErrorCode::NickTaken, "taken", None), 0.0);
        assert_eq!(state.me, None);
        assert_eq!(state.nick_problem.as_deref(), Some("taken"));
    }

    #[test]
    fn a_refusal_fails_exactly_the_line_it_names() {
        let mut state = welcomed();
        let first = client_id_of(&state.compose("first").unwrap());
        let second = client_id_of(&state.compose("second").unwrap());
        state.apply(refusal(ErrorCode::TooLong, "too long", Some(&second)), 0.0);
        let delivery = |id: &ClientMsgId| {
            state
                .current_lines()
                .iter()
                .find(|l| &l.client_id == id)
                .unwrap()
                .delivery
                .clone()
        };
        assert_eq!(delivery(&first), Delivery::Pending);
        assert_eq!(delivery(&second), Delivery::Failed("too long".into()));
    }

    #[test]
    fn lines_paged_back_to_stay_while_new_ones_come_until_the_latest_page() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[1001, 1002], true), 0.0);
        let older: Vec<u64> = (801..=1000).collect();
        state.apply(history(HistoryMode::Older, &older, true), 0.0);
        // New messages drop nothing while there is room: the first line may be the one
        // being read.
        for id in 1003..1003 + MAX_LINES as u64 {
            state.apply(said(id, "bob", "x", "b"), 0.0);
        }
        assert_eq!(state.current_lines().len(), MAX_LINES + 202);
        assert_eq!(state.current_lines()[0].id, Some(MessageId(801)));
        // The latest page again (a reopened conversation): the cap holds again.
        let newest = 1002 + MAX_LINES as u64;
        state.apply(history(HistoryMode::Latest, &[newest], true), 0.0);
        for id in newest + 1..newest + 1 + MAX_LINES as u64 {
            state.apply(said(id, "bob", "x", "b"), 0.0);
        }
        assert_eq!(state.current_lines().len(), MAX_LINES);
    }

    /// Issue #34: far back, End or a message sent goes to the newest at once: what is held
    /// goes but our unsent line, the room is joined again for its latest page, which keeps
    /// that line below it; its echo then settles it as usual.
    #[test]
    fn from_far_back_the_latest_page_comes_at_once_and_keeps_our_unsent_line() {
        let mut state = welcomed();
        let lobby = room("lobby");
        state.apply(history(HistoryMode::Latest, &[2001], true), 0.0);
        assert_eq!(state.to_latest(), None, "at the newest already");
        for first in [1801, 1601, 1401, 1201, 1001, 801, 601, 401, 201, 1] {
            let older: Vec<u64> = (first..first + 200).collect();
            assert!(state.load_older().is_some());
            state.apply(history(HistoryMode::Older, &older, first > 1), 0.0);
        }
        assert!(state.rooms[&lobby].more_after);
        let ClientMsg::Say { client_id, .. } = state.compose("back").unwrap() else {
            panic!("not a say");
        };
        assert_eq!(
            state.to_latest(),
            Some(ClientMsg::Join {
                room: lobby.clone(),
                since: None,
                epoch: None
            })
        );
        assert_eq!(ids(&state), [None]);
        assert!(!state.rooms[&lobby].more_after);
        state.apply(history(HistoryMode::Latest, &[2000, 2001], true), 0.0);
        assert_eq!(ids(&state), [Some(2000), Some(2001), None]);
        state.apply(said(2002, "me", "back", client_id.as_str()), 0.0);
        assert_eq!(ids(&state), [Some(2000), Some(2001), Some(2002)]);
    }

    /// Issue #34: reading far back keeps [`HELD_PAGING`] in memory, the newest let go; live
    /// messages then only move the resume point, and "load newer" pages bring the reader
    /// back down to them, the oldest lines going on the way, until live messages join the
    /// list again.
    #[test]
    fn far_back_the_newest_lines_go_and_load_newer_brings_them_back() {
        let mut state = welcomed();
        let lobby = room("lobby");
        let newest = MAX_LINES as u64 + 100;
        let latest: Vec<u64> = (newest - 49..=newest).collect();
        state.apply(history(HistoryMode::Latest, &latest, true), 0.0);
        let mut first = newest - 49;
        while first > 1 {
            let older: Vec<u64> = (first.saturating_sub(200).max(1)..first).collect();
            first = older[0];
            assert!(state.load_older().is_some());
            state.apply(history(HistoryMode::Older, &older, first > 1), 0.0);
        }
        let held = |state: &ChatState| {
            let lines = state.current_lines();
            (lines.len(), lines[0].seq, lines[lines.len() - 1].seq)
        };
        assert_eq!(
            held(&state),
            (HELD_PAGING, Some(1), Some(HELD_PAGING as u64))
        );
        assert!(state.rooms[&lobby].more_after);
        // Not next to what is held: not added, but counted as unread; a reconnect still
        // continues after it. A reaction to it comes after it in the log (and in no page of
        // messages).
        state.apply(said(newest + 1, "bob", "x", "b"), 0.0);
        assert_eq!(held(&state).2, Some(HELD_PAGING as u64));
        assert_eq!(state.rooms[&lobby].missed, (1, 0));
        let reaction = Change::Reacted {
            emoji: "👍".parse().unwrap(),
            on: true,
        };
        state.apply(changed(newest + 2, "carol", newest + 1, reaction), 0.0);
        assert_eq!(state.rooms[&lobby].last_seq, Some(newest + 2));
        // One page at a time, after the last line held.
        let mut after = HELD_PAGING as u64;
        while state.rooms[&lobby].more_after {
            assert_eq!(
                state.load_page(true),
                Some(ClientMsg::LoadNewer {
                    room: lobby.clone(),
                    after
                })
            );
            assert_eq!(state.load_page(true), None, "one request at a time");
            let page: Vec<u64> = (after + 1..=(after + 200).min(newest + 1)).collect();
            after = page[page.len() - 1];
            state.apply(history(HistoryMode::Newer, &page, true), 0.0);
        }
        let oldest = newest + 2 - HELD_PAGING as u64;
        assert_eq!(held(&state), (HELD_PAGING, Some(oldest), Some(newest + 1)));
        assert!(state.rooms[&lobby].more_before);
        assert_eq!(state.load_page(true), None);
        assert_eq!(state.rooms[&lobby].missed, (0, 0));
        // Back at the newest: live messages join the list again.
        state.apply(said(newest + 3, "bob", "x", "b"), 0.0);
        assert_eq!(held(&state).2, Some(newest + 3));
    }

    #[test]
    fn a_full_room_marks_that_older_lines_were_dropped() {
        let mut state = welcomed();
        state.apply(history(HistoryMode::Latest, &[], false), 0.0);
        for id in 1..MAX_LINES as u64 {
            state.apply(said(id, "bob", "x", "b"), 0.0);
        }
        assert!(!state.rooms[&room("lobby")].more_before);
        assert_eq!(state.current_lines().len(), MAX_LINES - 1);
        state.apply(said(MAX_LINES as u64, "bob", "x", "b"), 0.0);
        assert_eq!(
            state.current_lines().len(),
            MAX_LINES,
            "all kept up to the cap"
        );
        assert!(state.rooms[&room("lobby")].more_before);
        state.apply(said(MAX_LINES as u64 + 1, "bob", "x", "b"), 0.0);
        assert_eq!(state.current_lines().len(), MAX_LINES);
        assert_eq!(
            state.current_lines()[0].id,
            Some(MessageId(2)),
            "the oldest went"
        );
    }

    #[test]
    fn a_latest_page_settles_our_unsent_line_it_contains_and_keeps_the_others() {
        let mut state = welcomed();
        let stored_one = client_id_of(&state.compose("stored").unwrap());
        let unsent = client_id_of(&state.compose("unsent").unwrap());
        // The page has our first line (stored before the drop) and a line of bob's that
        // carries the same client id as our unsent one.
        state.apply(
            ServerMsg::History {
                room: room("lobby"),
                mode: HistoryMode::Latest,
                messages: vec![
                    stored(1, "me", stored_one.as_str()),
                    stored(2, "bob", unsent.as_str()),
                ],
                changes: Vec::new(),
                more_before: false,
                epoch: epoch(),
            },
            0.0,
        );
        let lines: Vec<(Option<u64>, ClientMsgId)> = state
            .current_lines()
            .iter()
            .map(|l| (l.id.map(|i| i.0), l.client_id.clone()))
            .collect();
        assert_eq!(
            lines,
            [
                (Some(1), stored_one),
                (Some(2), unsent.clone()),
                (None, unsent)
            ]
        );
    }

    #[test]
    fn an_echo_replaces_its_own_pending_line_and_leaves_our_delivered_ones() {
        let mut state = welcomed();
        let first = client_id_of(&state.compose("first").unwrap());
        state.apply(said(1, "me", "first", first.as_str()), 0.0);
        let second = client_id_of(&state.compose("second").unwrap());
        state.apply(said(2, "me", "second", second.as_str()), 0.0);
        assert_eq!(ids(&state), [Some(1), Some(2)]);
        assert!(
            state
                .current_lines()
                .iter()
                .all(|l| l.delivery == Delivery::Sent)
        );
    }
}
