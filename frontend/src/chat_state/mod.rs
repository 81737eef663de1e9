//! The chat page's state and its reducer: server events and the user's actions in, a view
//! model out. Pure (no DOM, no socket), so every rule is tested natively.
//!
//! No message is lost or shown twice: own messages stay `Pending` until the server's echo
//! (also across a disconnect; [`ChatState::pending_requests`] resends them after the next
//! `welcome`, and the server stores a resent `client_id` once); `hello` names the last `seq`
//! of every room so the server sends exactly what was missed; every line with a server id is
//! shown once whatever path it came by (live, catch-up, a resend's acknowledgement).
//!
//! # Layout
//! - this file: [`ChatState::apply`], which dispatches each server event to the rules below
//!   and answers with the [`FollowUp`]s the page sends; `hello`, rooms left, renames, typing.
//! - `model`: the data ([`ChatState`], [`RoomView`], [`Line`], [`Target`]…), a leaf the
//!   others import.
//! - `lines`: lines settling, changes to them, direct messages, mentions.
//! - `paging`: a room's pages (latest, older, newer), within the lines held.
//! - `compose`: what the user sends (pending, retries, replies, edits, @ completion, refusals).
//! - `commands`: slash commands (`/nick`, `/mute bob 10m`, `/topic …`) read into requests.
//! - `unread`: unread counts, read positions, the divider.
//! - `members`: member lists and searches, room rules and moderation.
//! - `outbox`: what outlives the tab: the outbox as JSON and back, conversations' names.
//! - `seen`: how far the others have read (direct and group conversations), and sharing.
//! - `groups`: group conversations (named by their members) and starting a conversation by
//!   typing names.
//! - `search`: a search's results, page after page.

mod commands;
mod compose;
mod groups;
mod lines;
mod members;
mod model;
mod outbox;
mod paging;
mod search;
mod seen;
#[cfg(test)]
mod test_support;
mod unread;

use std::collections::BTreeMap;

use shared::{ClientMsg, HistoryMode, Nick, RoomName, ServerMsg};

pub use commands::Command;
pub use compose::{complete_mention, mention_prefix};
pub use lines::mentions;
pub use model::{
    Alert, ChatState, Delivery, HELD_PAGING, Line, MAX_LINES, MemberSearch, RoomRules, RoomView,
    Target,
};
pub use outbox::{outbox_json, read_outbox};

/// A request the page sends because of a server event, as [`ChatState::apply`] decides: the
/// state knows what follows from an event, the page only sends it (it holds the socket).
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    /// Send this request now: after `welcome`, each of our messages not yet acknowledged
    /// (the offline queue; the server stores a repeated `client_id` once); after `joined` or
    /// `left`, `list_rooms` (the directory's counts changed).
    Send(ClientMsg),
    /// JWT mode, after `reauth_needed`: send `reauth` with a fresh token from the page. Not a
    /// request yet: the page's token may come from a function or a promise (asked for every
    /// time, asynchronously), which the state cannot call.
    Reauth,
}

/// Typing indicators lapse after the server's timeout plus this margin if no stop arrives
/// (e.g. the stop was lost in a reconnect).
const TYPING_MARGIN_MS: f64 = 1000.0;

impl ChatState {
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

    /// The rooms to rejoin after a reconnect. Not the groups: the server joins a user's
    /// groups on every `hello` (resumed from `since`), and naming one left meanwhile on
    /// another device would be refused.
    pub fn joined_rooms(&self) -> Vec<RoomName> {
        self.rooms
            .keys()
            .filter(|room| !self.is_group(room))
            .cloned()
            .collect()
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

    /// Applies one server event received at `now_ms` (page clock), and returns what the page
    /// sends because of it, in order (usually nothing): see [`FollowUp`].
    pub fn apply(&mut self, event: ServerMsg, now_ms: f64) -> Vec<FollowUp> {
        let mut follow_ups = Vec::new();
        match event {
            ServerMsg::Welcome { user, limits } => {
                self.awaiting_welcome = false;
                self.me = Some(user);
                self.limits = Some(limits);
                self.nick_problem = None;
                // The offline queue: whatever was not acknowledged goes (again) now.
                follow_ups.extend(self.pending_requests().into_iter().map(FollowUp::Send));
            }
            ServerMsg::Joined {
                room,
                count,
                members,
            } => {
                self.invitations.remove(&room);
                let kept = self.unjoined_reads.iter().position(|(r, _)| *r == room);
                let read = kept.map(|at| self.unjoined_reads.swap_remove(at).1);
                let view = self.rooms.entry(room.clone()).or_default();
                view.read = view.read.max(read);
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
                // The directory's member counts changed (and a new room may be listed).
                follow_ups.push(FollowUp::Send(ClientMsg::ListRooms));
            }
            ServerMsg::Left { room } => {
                self.rooms.remove(&room);
                if self.current == Some(Target::Room(room)) {
                    self.current = self.rooms.keys().next().cloned().map(Target::Room);
                }
                follow_ups.push(FollowUp::Send(ClientMsg::ListRooms));
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
                if let Some(request) = self.around_after_join(&room, mode) {
                    follow_ups.push(FollowUp::Send(request));
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
            ServerMsg::Seen {
                user,
                room,
                position,
            } => self.receive_seen(user, room, position),
            ServerMsg::Sharing { reads } => self.receive_sharing(reads),
            ServerMsg::SearchResults { query, hits, next } => {
                self.receive_results(query, hits, next);
            }
            ServerMsg::ReadPositions { rooms, directs } => {
                for (room, seq) in rooms {
                    match self.rooms.get_mut(&room) {
                        Some(view) => view.read = view.read.max(Some(seq)),
                        None => {
                            self.unjoined_reads.retain(|(r, _)| *r != room);
                            self.unjoined_reads.push((room, seq));
                        }
                    }
                }
                for (peer, seq) in directs {
                    let read = self.direct_read.entry(peer.key()).or_default();
                    *read = (*read).max(seq);
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
                group,
                members,
                topic,
                ..
            } => {
                let rules = RoomRules {
                    owner,
                    moderators,
                    private,
                    group,
                    members,
                    topic,
                };
                self.rules.insert(room.clone(), rules);
                if group {
                    self.group_arrived(room);
                }
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
            // Our own leaving of a group (maybe on another tab) needs no explaining: it goes.
            ServerMsg::Removed {
                reason: shared::RemovedReason::Left,
                ..
            } => {}
            ServerMsg::Removed { room, by, reason } => {
                let said = (crate::i18n::words().removed_you)(room.as_str(), by.as_str(), reason);
                self.notice(said);
                self.invitations.remove(&room);
            }
            ServerMsg::ReauthNeeded { .. } => {
                self.reauth_needed = true;
                follow_ups.push(FollowUp::Reauth);
            }
            ServerMsg::Reauthed { .. } => self.reauth_needed = false,
        }
        follow_ups
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat_state::test_support::*;
    use shared::ServerMsg;

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
    fn welcome_resends_what_was_not_acknowledged_and_only_that() {
        let mut fresh = ChatState::default();
        let welcome = || ServerMsg::Welcome {
            user: nick("me"),
            limits: limits(),
        };
        assert!(fresh.apply(welcome(), 0.0).is_empty(), "nothing to resend");
        let mut state = welcomed();
        let sent = client_id_of(&state.compose("sent").unwrap());
        state.apply(said(1, "me", "sent", sent.as_str()), 0.0);
        let waiting = state.compose("waiting").unwrap();
        state.select(Target::Direct(nick("bob")));
        let direct = state.compose("psst").unwrap();
        state.connection_lost();
        state.hello(nick("me"), token());
        assert_eq!(
            state.apply(welcome(), 0.0),
            [FollowUp::Send(waiting.clone()), FollowUp::Send(direct)],
            "the offline queue, in order"
        );
        // Acknowledged since: a later welcome sends nothing again.
        state.apply(
            said(2, "me", "waiting", client_id_of(&waiting).as_str()),
            0.0,
        );
        state.apply(direct_from(3, "me", "bob", "c-3"), 0.0);
        assert!(state.apply(welcome(), 0.0).is_empty());
    }

    #[test]
    fn a_join_or_a_leave_of_ours_asks_for_the_room_list() {
        let mut state = welcomed();
        let list = [FollowUp::Send(ClientMsg::ListRooms)];
        let joined = ServerMsg::Joined {
            room: room("rust"),
            count: 1,
            members: vec![nick("me")],
        };
        assert_eq!(state.apply(joined, 0.0), list);
        assert_eq!(
            state.apply(ServerMsg::Left { room: room("rust") }, 0.0),
            list
        );
        // Someone else coming or going: no list of ours changed.
        let presence = ServerMsg::Presence {
            room: room("lobby"),
            count: 3,
            joined: vec![nick("carol")],
            left: vec![],
        };
        assert!(state.apply(presence, 0.0).is_empty());
    }

    #[test]
    fn reauth_needed_asks_the_page_for_a_fresh_token() {
        let mut state = welcomed();
        let needed = ServerMsg::ReauthNeeded {
            expires_in_ms: 60_000,
        };
        assert_eq!(state.apply(needed, 0.0), [FollowUp::Reauth]);
        assert!(state.reauth_needed);
        let reauthed = ServerMsg::Reauthed {
            expires_in_ms: 3_600_000,
        };
        assert!(state.apply(reauthed, 0.0).is_empty());
        assert!(!state.reauth_needed);
    }

    #[test]
    fn other_events_ask_for_nothing() {
        let mut state = welcomed();
        // A line waits to be sent: only a welcome sends it.
        state.compose("waiting").unwrap();
        let events = [
            said(1, "bob", "hi", "b1"),
            history(HistoryMode::Latest, &[1], false),
            direct_from(2, "bob", "me", "b-2"),
            refusal(shared::ErrorCode::RateLimited, "slow down", None),
            ServerMsg::Typing {
                room: room("lobby"),
                user: nick("bob"),
                active: true,
            },
            ServerMsg::Rooms { rooms: Vec::new() },
            ServerMsg::ReadPositions {
                rooms: BTreeMap::new(),
                directs: BTreeMap::new(),
            },
        ];
        for event in events {
            let said = format!("{event:?}");
            assert!(state.apply(event, 0.0).is_empty(), "{said}");
        }
    }
}
