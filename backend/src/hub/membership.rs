//! Rooms from a connection's side: joining (with its history read), leaving, the room list,
//! and typing indicators.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::{
    ConnId, Ctx, EngineError, Epoch, ErrorCode, Hub, Instant, Log, PresenceOp, Read, RoomInfo,
    RoomName, RoomRange, ServerMsg, UserId, engine,
};

/// How long a rename heard through one room is taken for the same rename when it comes
/// through another: its copies arrive together (the same node sends them at once); a real
/// second rename to the same name needs one away in between.
const RENAME_REPEAT_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

impl Hub {
    /// `since` is where the client left off: the last `seq` it has and that log's epoch.
    pub(super) fn join(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        since: Option<(u64, Option<Epoch>)>,
    ) {
        if !self.policies_loaded {
            // Answered once the policies are here (a server just started, or Redis is out
            // of reach at a node's start).
            return self.pending_joins.push((conn, user, room, since));
        }
        if let Err((code, message)) = self.may_join(user, &room) {
            return self.refuse(conn, code, &message, None);
        }
        let already = self.rooms.contains(&room, conn);
        if !already && self.rooms.rooms_of(conn).count() >= self.limits.max_rooms as usize {
            let message = format!(
                "cannot join {room}: at most {} rooms per connection; leave one first",
                self.limits.max_rooms
            );
            return self.refuse(conn, ErrorCode::TooManyRooms, &message, None);
        }
        let key = self.nick(user).key();
        self.rooms.join(&room, conn, user, &key);
        if self.rooms.conns(&room).nth(1).is_none() {
            // The first reader here: live messages of the room are wanted from now on (queued
            // before the history read below, which relies on it).
            self.engine.watch(Log::Room(room.clone()));
        }
        // The engine's presence decides and tells: the history read below enters this user
        // first (once per user: a tab joining where another of theirs is changes nothing)
        // and answers with the count and first members (`joined` goes out then, before
        // `history`); the `presence` change comes back through the room.
        let joiner = self.users.get(&user).map(|u| engine::Joiner {
            user: u.key.clone(),
            nick: u.nick.clone(),
        });
        // From now until the history arrives, this room's live messages skip this connection.
        let number = self.read_number();
        if let Some(state) = self.conns.get_mut(&conn) {
            state.catching_up.insert(room.clone(), number);
        }
        let (range, epoch) = match since {
            Some((seq, epoch)) => (RoomRange::Since(seq), epoch),
            None => (RoomRange::Latest, None),
        };
        let ctx = Ctx::CatchUp {
            conn,
            room: room.clone(),
            read: number,
        };
        let read = Read::Room {
            room,
            range,
            epoch,
            joiner,
        };
        self.read(ctx, read);
    }

    pub(super) fn leave(&mut self, conn: ConnId, room: &RoomName) {
        if let Some(state) = self.conns.get_mut(&conn) {
            state.catching_up.remove(room);
            state.held_events.retain(|(r, _)| r != room);
            state.loaded.remove(room);
        }
        match self.rooms.leave(room, conn) {
            Some(left) => {
                self.send_to(conn, &ServerMsg::Left { room: room.clone() });
                self.announce_left(left);
            }
            None => {
                let message = format!("not in room {room}");
                self.refuse(conn, ErrorCode::NotInRoom, &message, None);
            }
        }
    }

    /// Tells the room a user is gone, once their last tab has left it.
    pub(super) fn announce_left(&mut self, left: crate::rooms::Left) {
        if self.rooms.conns(&left.room).next().is_none() {
            self.engine.unwatch(Log::Room(left.room.clone()));
        }
        if !left.user_gone {
            return;
        }
        self.stop_typing(&left.room, left.user);
        // Gone from this node; the engine's presence says whether from the room.
        if let Some(user) = self.users.get(&left.user) {
            let op = PresenceOp::Leave {
                room: left.room,
                user: user.key.clone(),
            };
            self.engine.presence(op);
        }
    }

    /// Every room with members (on every node): the engine answers (`rooms_listed`).
    pub(super) fn list_rooms(&mut self, conn: ConnId) {
        self.engine.rooms(Ctx::Rooms { conn });
    }

    pub(super) fn typing(&mut self, conn: ConnId, user: UserId, room: RoomName) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("not in room {room}");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
        }
        if let Some(message) = self.muted(user, &room) {
            return self.refuse(conn, ErrorCode::Muted, &message, None);
        }
        if let Some(message) = self.closed(&room) {
            return self.refuse(conn, ErrorCode::RoomClosed, &message, None);
        }
        let deadline = Instant::now() + self.typing_timeout;
        // Only a start is announced; repeats just push the deadline (server-side throttle).
        if self.typing.insert((room.clone(), user), deadline).is_none() {
            self.announce_typing(&room, user, true);
        }
    }

    pub(super) fn stop_typing(&mut self, room: &RoomName, user: UserId) {
        if self.typing.remove(&(room.clone(), user)).is_some() {
            self.announce_typing(room, user, false);
        }
    }

    pub(super) fn expire_typing(&mut self, now: Instant) {
        let expired: Vec<(RoomName, UserId)> = self
            .typing
            .iter()
            .filter(|&(_, &deadline)| deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for (room, user) in expired {
            self.stop_typing(&room, user);
        }
    }

    /// Typing goes to the room's other users (the typist's own tabs know already).
    pub(super) fn announce_typing(&mut self, room: &RoomName, user: UserId, active: bool) {
        let event = ServerMsg::Typing {
            room: room.clone(),
            user: self.nick(user),
            active,
        };
        // To the room's members (on every node); each node leaves out the typist's tabs.
        if let Some(profile) = self.users.get(&user) {
            let op = PresenceOp::Announce {
                room: room.clone(),
                user: profile.key.clone(),
                event,
            };
            self.engine.presence(op);
        }
    }

    /// The engine's room list, as this connection may see it.
    pub(super) fn rooms_listed(&mut self, conn: ConnId, rooms: Result<Vec<RoomInfo>, EngineError>) {
        match rooms {
            Ok(mut rooms) => {
                let key = self.conn_key(conn);
                rooms.retain(|room| self.visible_to(key.as_deref(), &room.name));
                self.send_to(conn, &ServerMsg::Rooms { rooms });
            }
            Err(reason) => {
                let message = format!("could not list the rooms ({reason}); try again");
                self.refuse(conn, ErrorCode::StoreFailed, &message, None);
            }
        }
    }

    /// A presence event from the engine's presence, caused by the user with key `user`: to
    /// this node's connections in the room. A member's arrival or departure joins the room's coalesced
    /// `presence`; typing passes the typing slots; a user's own tabs do not hear that they
    /// are typing or renamed (they know); a connection still waiting for the room's history
    /// gets it after that history.
    pub(super) fn room_event(&mut self, room: &RoomName, user: &str, event: ServerMsg) {
        match event {
            ServerMsg::Presence {
                count,
                joined,
                left,
                ..
            } => {
                for nick in left {
                    self.member_changed(room, nick, false, count);
                }
                for nick in joined {
                    self.member_changed(room, nick, true, count);
                }
            }
            ServerMsg::Typing {
                user: ref nick,
                active,
                ..
            } => {
                if self.typing_shown(room, nick, active) {
                    let own = self.keys.get(user).copied();
                    let conns = self.room_conns_except(room, own);
                    self.deliver_in_room(room, conns, event);
                }
            }
            ServerMsg::Renamed { ref to, .. } => {
                let own = self.keys.get(user).copied();
                let now = Instant::now();
                let told = (user.to_owned(), to.clone());
                let mut conns = self.room_conns_except(room, own);
                // The same rename comes through every room the connection shares with the
                // renamer: told once. Noted only where it goes out now (a copy held for a
                // history may yet be dropped with it), and forgotten after a while.
                conns.retain(|conn| {
                    self.conns.get_mut(conn).is_some_and(|state| {
                        let repeat = state.last_renamed.as_ref().is_some_and(|(last, at)| {
                            *last == told && now.duration_since(*at) < RENAME_REPEAT_WINDOW
                        });
                        if !repeat && !state.catching_up.contains_key(room) {
                            state.last_renamed = Some((told.clone(), now));
                        }
                        !repeat
                    })
                });
                self.deliver_in_room(room, conns, event);
            }
            // A group member's position: to the others who share theirs.
            ServerMsg::Seen { .. } => {
                let own = self.keys.get(user).copied();
                let conns: Vec<ConnId> = self
                    .rooms
                    .conns(room)
                    .filter(|&(_, u)| Some(u) != own && self.shares(u))
                    .map(|(conn, _)| conn)
                    .collect();
                self.deliver_in_room(room, conns, event);
            }
            other => {
                let conns = self.room_conns_except(room, None);
                self.deliver_in_room(room, conns, other);
            }
        }
    }
}
