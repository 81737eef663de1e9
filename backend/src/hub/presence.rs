//! Presence that scales with the work, not its square: who is in a room is told in pages and
//! in coalesced windows, and typing in a few slots.
//!
//! Filling a room of n members one by one used to cost about n² frames (every join told to
//! every member, every `joined` listing everyone). Now:
//! - `joined` carries the member count and the first page ([`MEMBER_PAGE`]); the rest comes
//!   in pages on request (`members`, also searchable by prefix);
//! - a room's joins and leaves wait in its [`Pending`] and go out as one `presence` event per
//!   window (`--presence-window`; the first change after a quiet window at once), so each
//!   member gets at most one presence frame per window however many people come and go;
//! - above `--presence-detail-limit` members, a connection is told only of changes among
//!   the members it has loaded ([`Loaded`]) besides the count, so a frame stays small;
//! - at most [`TYPING_SHOWN`] people are announced typing in a room at once.
//!
//! One set of rules for both modes: the engine's presence (in memory on one node,
//! presence.lua in a cluster) decides who joined or left, and its events arrive through
//! [`Hub::room_event`], which calls [`Hub::member_changed`].

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::records::Loaded;
use super::{
    BTreeMap, ConnId, Ctx, Duration, EngineError, ErrorCode, Hub, Instant, Nick, RoomName,
    ServerMsg,
};
use shared::TYPING_SHOWN;

/// The longest search prefix: a nickname's length.
const MAX_PREFIX_CHARS: usize = Nick::MAX_CHARS;

impl Hub {
    /// `joined` with `count` and the first page `members`, noting what `conn` has loaded.
    pub(super) fn joined_event(
        &mut self,
        conn: ConnId,
        room: &RoomName,
        count: u32,
        members: Vec<Nick>,
        more: bool,
    ) -> ServerMsg {
        if let Some(state) = self.conns.get_mut(&conn) {
            // A join starts the list afresh (it may be a rejoin after a reconnect).
            state.loaded.remove(room);
        }
        self.note_loaded(conn, room, None, "", members.last(), more);
        ServerMsg::Joined {
            room: room.clone(),
            count,
            members,
        }
    }

    /// A `members` request: a page of `room`'s members.
    pub(super) fn members(
        &mut self,
        conn: ConnId,
        room: RoomName,
        after: Option<Nick>,
        prefix: String,
    ) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("not in room {room}: join it to list its members");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
        }
        if prefix.chars().count() > MAX_PREFIX_CHARS {
            let message = format!("a member search is at most {MAX_PREFIX_CHARS} characters");
            return self.refuse(conn, ErrorCode::Invalid, &message, None);
        }
        // The members of every node: the engine's presence answers (`members_listed`).
        let ctx = Ctx::Members {
            conn,
            room: room.clone(),
            after: after.clone(),
            prefix: prefix.clone(),
        };
        self.engine.members(ctx, room, after, prefix.to_lowercase());
    }

    /// The engine's answer to a `members` request.
    pub(super) fn members_listed(
        &mut self,
        conn: ConnId,
        room: RoomName,
        after: Option<Nick>,
        prefix: String,
        page: Result<(Vec<Nick>, bool), EngineError>,
    ) {
        match page {
            Ok((members, more)) => {
                self.note_loaded(conn, &room, after.as_ref(), &prefix, members.last(), more);
                let event = ServerMsg::Members {
                    room,
                    after,
                    prefix,
                    members,
                    more,
                };
                self.send_to(conn, &event);
            }
            Err(reason) => {
                let message = format!("could not list the members of {room} ({reason}); try again");
                self.refuse(conn, ErrorCode::StoreFailed, &message, None);
            }
        }
    }

    /// Extends what `conn` has loaded of `room` by a page that came after `after`: only a
    /// page without a search that continues what it has (its start is within it) counts.
    fn note_loaded(
        &mut self,
        conn: ConnId,
        room: &RoomName,
        after: Option<&Nick>,
        prefix: &str,
        last: Option<&Nick>,
        more: bool,
    ) {
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        if !prefix.is_empty() {
            return;
        }
        let current = state.loaded.get(room);
        let continues = match (after, current) {
            (None, _) | (Some(_), Some(Loaded::All)) => true,
            (Some(after), Some(Loaded::Upto(upto))) => after.key() <= *upto,
            (Some(_), None) => false,
        };
        if !continues {
            return;
        }
        let loaded = match (current, last) {
            (Some(Loaded::All), _) => Loaded::All,
            _ if !more => Loaded::All,
            (Some(Loaded::Upto(upto)), Some(last)) if *upto >= last.key() => {
                Loaded::Upto(upto.clone())
            }
            (_, Some(last)) => Loaded::Upto(last.key()),
            // More, yet an empty page: nothing learnt.
            (_, None) => return,
        };
        state.loaded.insert(room.clone(), loaded);
    }

    /// `nick` joined (`joined`) or left `room`, which has `count` members now: told with the
    /// room's next `presence` event (at once if its window has passed).
    pub(super) fn member_changed(&mut self, room: &RoomName, nick: Nick, joined: bool, count: u32) {
        let now = Instant::now();
        let pending = self.presence.entry(room.clone()).or_default();
        let key = nick.key();
        if joined {
            pending.left.remove(&key);
            pending.joined.insert(key, nick);
        } else {
            pending.joined.remove(&key);
            pending.left.insert(key, nick);
        }
        pending.count = count;
        if pending
            .sent
            .is_none_or(|sent| now.duration_since(sent) >= self.presence_window)
        {
            self.flush_presence(room, now);
        }
    }

    /// Sends the presence events whose window has passed; forgets rooms quiet for a window.
    pub(super) fn presence_due(&mut self, now: Instant) {
        let window = self.presence_window;
        let due: Vec<(RoomName, bool)> = self
            .presence
            .iter()
            .filter(|(_, p)| p.sent.is_none_or(|sent| now.duration_since(sent) >= window))
            .map(|(room, p)| (room.clone(), p.joined.is_empty() && p.left.is_empty()))
            .collect();
        for (room, quiet) in due {
            if quiet {
                self.presence.remove(&room);
            } else {
                self.flush_presence(&room, now);
            }
        }
    }

    /// One `presence` event for `room`'s pending changes, to every connection in it: the
    /// same frame for all, or in a large room, one per distinct part of the list loaded.
    fn flush_presence(&mut self, room: &RoomName, now: Instant) {
        let Some(pending) = self.presence.get_mut(room) else {
            return;
        };
        if pending.joined.is_empty() && pending.left.is_empty() {
            return;
        }
        pending.sent = Some(now);
        let count = pending.count;
        let joined: Vec<(String, Nick)> = std::mem::take(&mut pending.joined).into_iter().collect();
        let left: Vec<(String, Nick)> = std::mem::take(&mut pending.left).into_iter().collect();
        let detailed = count <= self.presence_detail_limit;
        // What each connection gets: how many of each list (a prefix of it, by key), and
        // which joiner it leaves out (its own user: `joined` told them).
        let mut groups: BTreeMap<(usize, usize, Option<usize>), Vec<ConnId>> = BTreeMap::new();
        for (conn, user) in self.rooms.conns(room) {
            let (j, l) = match self.conns.get(&conn).and_then(|s| s.loaded.get(room)) {
                _ if detailed => (joined.len(), left.len()),
                Some(Loaded::All) => (joined.len(), left.len()),
                Some(Loaded::Upto(upto)) => (
                    joined.partition_point(|(key, _)| key <= upto),
                    left.partition_point(|(key, _)| key <= upto),
                ),
                None => (0, 0),
            };
            let own = self.users.get(&user).map(|u| u.nick.key());
            let skip = own.and_then(|own| joined[..j].binary_search_by(|(k, _)| k.cmp(&own)).ok());
            // In a room small enough for details every change names someone: nothing left
            // to say once a connection's own arrival is left out.
            if detailed && l == 0 && j == usize::from(skip.is_some()) {
                continue;
            }
            groups.entry((j, l, skip)).or_default().push(conn);
        }
        for ((j, l, skip), conns) in groups {
            let event = ServerMsg::Presence {
                room: room.clone(),
                count,
                joined: joined[..j]
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| Some(i) != skip)
                    .map(|(_, (_, nick))| nick.clone())
                    .collect(),
                left: left[..l].iter().map(|(_, nick)| nick.clone()).collect(),
            };
            self.deliver_in_room(room, conns, event);
        }
    }

    /// Sends a room's presence-like `event` to `conns`, except that a connection still
    /// waiting for the room's history gets it after that history (which follows the member
    /// list it updates).
    pub(super) fn deliver_in_room(
        &mut self,
        room: &RoomName,
        conns: Vec<ConnId>,
        event: ServerMsg,
    ) {
        let mut now = Vec::with_capacity(conns.len());
        for conn in conns {
            match self.conns.get_mut(&conn) {
                Some(state) if state.catching_up.contains_key(room) => {
                    state.held_events.push((room.clone(), event.clone()));
                }
                Some(_) => now.push(conn),
                None => {}
            }
        }
        self.broadcast(now, &event);
    }

    /// Whether `nick` starting (`active`) or stopping typing in `room` is announced: at most
    /// [`TYPING_SHOWN`] people per room at once; a stop only for someone announced. A slot
    /// lapses when clients drop an indicator whose stop never came (the typing timeout and
    /// their margin), so a lost stop cannot hold it.
    pub(super) fn typing_shown(&mut self, room: &RoomName, nick: &Nick, active: bool) -> bool {
        let now = Instant::now();
        let lapse = self.typing_timeout + TYPING_SLOT_MARGIN;
        let shown = self.typing_slots.entry(room.clone()).or_default();
        shown.retain(|(_, until)| *until > now);
        let key = nick.key();
        let at = shown.iter().position(|(k, _)| *k == key);
        let pass = match (active, at) {
            (true, Some(i)) => {
                shown[i].1 = now + lapse;
                true
            }
            (true, None) if shown.len() < TYPING_SHOWN => {
                shown.push((key, now + lapse));
                true
            }
            (false, Some(i)) => {
                shown.remove(i);
                true
            }
            (true | false, None) => false,
        };
        if shown.is_empty() {
            self.typing_slots.remove(room);
        }
        pass
    }
}

/// A typing slot outlives the typing timeout by the clients' own margin (see the frontend's
/// `TYPING_MARGIN_MS`).
const TYPING_SLOT_MARGIN: Duration = Duration::from_secs(1);
