//! Rooms from a connection's side: joining (with its history read), leaving, the room list,
//! and typing indicators.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::*;

impl Hub {
    /// `since` is where the client left off: the last `seq` it has and that log's epoch.
    pub(super) fn join(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        since: Option<(u64, Option<Epoch>)>,
    ) {
        let already = self.rooms.contains(&room, conn);
        if !already && self.rooms.rooms_of(conn).count() >= self.limits.max_rooms as usize {
            let message = format!(
                "cannot join {room}: at most {} rooms per connection; leave one first",
                self.limits.max_rooms
            );
            return self.refuse(conn, ErrorCode::TooManyRooms, &message, None);
        }
        let joined = self.rooms.join(&room, conn, user);
        if self.rooms.conns(&room).nth(1).is_none() {
            // The first reader here: live messages of the room are wanted from now on (queued
            // before the history read below, which relies on it).
            self.engine.watch(Log::Room(room.clone()));
        }
        if joined == (crate::rooms::Joined::Now { new_user: true }) {
            let event = ServerMsg::MemberJoined {
                room: room.clone(),
                user: self.nick(user),
            };
            self.broadcast_room(&room, Some(user), &event);
        }
        let mut members: Vec<Nick> = self.rooms.users(&room).map(|u| self.nick(u)).collect();
        members.sort_by_key(Nick::key);
        self.send_to(
            conn,
            &ServerMsg::Joined {
                room: room.clone(),
                members,
            },
        );
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
        self.read(ctx, Read::Room { room, range, epoch });
    }

    pub(super) fn leave(&mut self, conn: ConnId, room: &RoomName) {
        if let Some(state) = self.conns.get_mut(&conn) {
            state.catching_up.remove(room);
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
        let event = ServerMsg::MemberLeft {
            room: left.room.clone(),
            user: self.nick(left.user),
        };
        self.broadcast_room(&left.room, None, &event);
    }

    pub(super) fn list_rooms(&mut self, conn: ConnId) {
        let rooms = self
            .rooms
            .list()
            .map(|(name, members)| RoomInfo {
                name: name.clone(),
                members: u32::try_from(members).unwrap_or(u32::MAX),
            })
            .collect();
        self.send_to(conn, &ServerMsg::Rooms { rooms });
    }

    pub(super) fn typing(&mut self, conn: ConnId, user: UserId, room: RoomName) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("not in room {room}");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
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
        self.broadcast_room(room, Some(user), &event);
    }
}
