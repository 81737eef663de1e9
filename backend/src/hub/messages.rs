//! Messages: checked, handed to the store, and sent on once stored; the store's answers
//! (acknowledgements, failures, history pages) go back to the connections that wait for them.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::{
    Answer, Appended, Authority, Body, Change, ClientMsgId, ConnId, Ctx, EngineError, ErrorCode,
    Hub, Log, MessageId, NewMessage, Nick, Read, RoomName, RoomRange, ServerMsg, Stored, Target,
    Text, UserId, engine,
};

impl Hub {
    /// A page of `room` asked for by scrolling: before a position ("load older") or after it
    /// ("load newer", for a client that let its newest lines go while reading far back). No
    /// live event is held for it: the client knows the last message it was sent, and asks
    /// again until it holds it.
    /// (SQLite integers are signed: positions past the largest mean the same anyway.)
    /// `load_older`, `load_newer` or `load_around` (`range`'s kind, at `at`).
    pub(super) fn load_page(
        &mut self,
        conn: ConnId,
        room: RoomName,
        range: fn(u64) -> RoomRange,
        at: u64,
    ) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("join {room} before reading its history");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
        }
        let range = range(at.min(i64::MAX as u64));
        let read = Read::Room {
            room,
            range,
            epoch: None,
            joiner: None,
        };
        self.read(Ctx::Page { conn }, read);
    }

    pub(super) fn read_number(&mut self) -> u64 {
        self.next_read += 1;
        self.next_read
    }

    pub(super) fn read(&mut self, ctx: Ctx, read: Read) {
        if self.engine.read(ctx, read).is_err() {
            // Only while shutting down; the run loop is about to stop too.
            tracing::warn!("history read dropped: the message store has stopped");
        }
    }

    pub(super) fn say(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        body: Body,
        client_id: ClientMsgId,
    ) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("join {room} before sending to it");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, Some(client_id));
        }
        if let Body::Text { text, .. } = &body
            && let Err(message) = self.check_length(text)
        {
            return self.refuse(conn, ErrorCode::TooLong, &message, Some(client_id));
        }
        if let Some(message) = self.muted(user, &room) {
            return self.refuse(conn, ErrorCode::Muted, &message, Some(client_id));
        }
        if let Some(message) = self.closed(&room) {
            return self.refuse(conn, ErrorCode::RoomClosed, &message, Some(client_id));
        }
        self.stop_typing(&room, user);
        self.append(conn, user, None, Target::Room(room), body, client_id);
    }

    /// An edit, deletion or reaction: checked here as far as the hub knows (in the room, not
    /// muted, the text's length, the deleter's rank); whether the message is there and whose
    /// it is, the store checks as it writes the change into the log.
    pub(super) fn change(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        target: MessageId,
        change: Change,
        client_id: ClientMsgId,
    ) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("join {room} before changing its messages");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, Some(client_id));
        }
        let authority = match &change {
            Change::Edited { text } => {
                if let Err(message) = self.check_length(text) {
                    return self.refuse(conn, ErrorCode::TooLong, &message, Some(client_id));
                }
                Authority::Author
            }
            Change::Reacted { .. } => Authority::Anyone,
            // Made by the server alone (`previews.rs`); no request names one.
            Change::Previewed { .. } => {
                let message = "link previews are made by the server";
                return self.refuse(conn, ErrorCode::Invalid, message, Some(client_id));
            }
            Change::Deleted => {
                let moderator = self.person(user).is_some_and(|person| {
                    crate::policy::moderates(self.policies.get(&room), &person)
                });
                if moderator {
                    Authority::Anyone
                } else {
                    Authority::Author
                }
            }
        };
        // A deletion says nothing: a muted user may still take their words back, and an
        // admin reading a closed room may still remove what should not stay.
        if !matches!(change, Change::Deleted) {
            if let Some(message) = self.muted(user, &room) {
                return self.refuse(conn, ErrorCode::Muted, &message, Some(client_id));
            }
            if let Some(message) = self.closed(&room) {
                return self.refuse(conn, ErrorCode::RoomClosed, &message, Some(client_id));
            }
        }
        let body = Body::Change {
            target,
            change,
            authority,
        };
        self.append(conn, user, None, Target::Room(room), body, client_id);
    }

    /// Hands a message to the store; [`Hub::stored`] sends it on once it is written.
    pub(super) fn append(
        &mut self,
        conn: ConnId,
        sender: UserId,
        recipient: Option<UserId>,
        target: Target,
        body: Body,
        client_id: ClientMsgId,
    ) {
        if self.unstored >= self.max_unstored {
            let message = "too many messages are waiting to be stored; retry shortly";
            return self.refuse(conn, ErrorCode::Overloaded, message, Some(client_id));
        }
        let Some(profile) = self.users.get(&sender) else {
            return;
        };
        let message = NewMessage {
            target,
            sender: profile.key.clone(),
            from: profile.nick.clone(),
            body,
            client_id: client_id.clone(),
            ts: engine::now_ms(),
        };
        // A deletion with a moderator's authority is an act of moderation: logged once
        // stored (`Hub::moderator_removed`). (A moderator's deletion of their own message is
        // logged too: the hub cannot tell whose it is before the engine looks.)
        let removal = match &message.body {
            Body::Change {
                target,
                change: Change::Deleted,
                authority: Authority::Anyone,
            } => Some(*target),
            _ => None,
        };
        let ctx = Ctx::Send {
            conn,
            sender,
            recipient,
            client_id: client_id.clone(),
            removal,
        };
        if self.engine.append(ctx, message).is_err() {
            let message = "the message store has stopped; the message was not sent";
            return self.refuse(conn, ErrorCode::StoreFailed, message, Some(client_id));
        }
        self.unstored += 1;
    }

    /// An answer from the store.
    pub(super) fn stored(&mut self, event: engine::Event<Ctx>) {
        match event {
            engine::Event::Appended { ctx, outcome } => {
                self.unstored = self.unstored.saturating_sub(1);
                if let Ctx::Preview = ctx {
                    return self.preview_stored(outcome);
                }
                if let Ctx::ImportAppend { reply } = ctx {
                    return self.import_stored(reply, outcome);
                }
                if let Ctx::AdminRemove { reply } = ctx {
                    return self.admin_removed(reply, outcome);
                }
                let Ctx::Send {
                    conn,
                    sender,
                    recipient,
                    client_id,
                    removal,
                } = ctx
                else {
                    return;
                };
                if let (
                    Some(id),
                    Appended::New(Stored::Room { room, .. })
                    | Appended::Sent(Stored::Room { room, .. }),
                ) = (removal, &outcome)
                {
                    self.moderator_removed(sender, room, id);
                }
                match outcome {
                    Appended::New(Stored::Room { room, entry }) => {
                        self.room_entry_stored(sender, &room, &entry);
                        self.want_preview(sender, &room, &entry);
                        let event = entry.into_event(room.clone());
                        self.broadcast_live(&room, &event);
                    }
                    Appended::New(Stored::Direct(message)) => {
                        let users = [Some(sender), recipient].into_iter().flatten();
                        self.broadcast_direct(users, &message.into_event());
                    }
                    // A retry of a stored message: the original acknowledgement, to the
                    // sender only (everyone else has it already).
                    Appended::Duplicate(Stored::Room { room, entry }) => {
                        self.send_to(conn, &entry.into_event(room));
                    }
                    Appended::Duplicate(Stored::Direct(message)) => {
                        self.send_to(conn, &message.into_event());
                    }
                    Appended::Failed(reason) => {
                        let reason = reason.to_string();
                        self.refuse(conn, ErrorCode::StoreFailed, &reason, Some(client_id));
                    }
                    Appended::Refused(code, reason) => {
                        self.refuse(conn, code, &reason, Some(client_id));
                    }
                    Appended::NoRecipient(to) => self.no_such_user(conn, &to, client_id),
                    // Delivered by the feed (`LiveRoom`/`LiveDirect`), like everyone's; what
                    // the sender's node alone does follows here.
                    Appended::Sent(Stored::Room { room, entry }) => {
                        self.room_entry_stored(sender, &room, &entry);
                        self.want_preview(sender, &room, &entry);
                    }
                    Appended::Sent(Stored::Direct(_)) => {}
                }
            }
            engine::Event::Read {
                ctx: Ctx::ImportRead { reply },
                answer,
            } => {
                // The import may have given up (its request ended); nobody else waits.
                let _ = reply.send(answer);
            }
            engine::Event::Read {
                ctx: Ctx::Export(super::ExportReply::Read(reply)),
                answer,
            } => {
                // The export may have ended (its client gone); nothing to do then.
                let _ = reply.send(answer);
            }
            engine::Event::Read { ctx, answer } => self.answered(ctx, answer),
            engine::Event::Logs { ctx, rooms } => {
                if let Ctx::Export(super::ExportReply::Logs(reply)) = ctx {
                    let _ = reply.send(rooms);
                }
            }
            engine::Event::LiveRoom { room, entry } => {
                let event = entry.into_event(room.clone());
                self.broadcast_live(&room, &event);
            }
            engine::Event::LogReset { log } => self.log_reset(log),
            engine::Event::Claimed { ctx, granted } => self.claimed(ctx, granted),
            engine::Event::PresenceLost => self.reassert(),
            engine::Event::RoomEvent { room, user, event } => self.room_event(&room, &user, event),
            engine::Event::Rooms { ctx, rooms } => match ctx {
                Ctx::Rooms { conn } => self.rooms_listed(conn, rooms),
                Ctx::AdminRooms { reply } => self.admin_rooms_listed(reply, rooms),
                Ctx::AdminRoom { room, reply } => self.admin_room_counted(room, reply, rooms),
                _ => {}
            },
            engine::Event::Members { ctx, page } => match ctx {
                Ctx::Members {
                    conn,
                    room,
                    after,
                    prefix,
                } => {
                    let page = page.map(|p| (p.members, p.more));
                    self.members_listed(conn, room, after, prefix, page);
                }
                Ctx::AdminMembers {
                    room,
                    online,
                    reply,
                } => self.admin_room_answered(&room, online, reply, page),
                _ => {}
            },
            engine::Event::UserEvent { user, event } => {
                let user = self.keys.get(&user).copied();
                if let Some(user) = user
                    && self.may_see(user, &event)
                {
                    self.broadcast_direct(std::iter::once(user), &event);
                }
            }
            engine::Event::Found { ctx, result } => {
                if let Ctx::Search { conn, query } = ctx {
                    self.found(conn, query, result);
                }
            }
            engine::Event::PositionsOf { ctx, positions } => {
                if let Ctx::Seen { conn, room, names } = ctx {
                    self.seen_answered(conn, room, &names, positions);
                }
            }
            engine::Event::LiveDirect { user, message } => {
                let user = self.keys.get(&user).copied();
                self.broadcast_direct(user.into_iter(), &message.into_event());
            }
            engine::Event::Away { user, message } => self.direct_to_away(user, &message),
            engine::Event::Resolved { ctx, found } => match (ctx, found) {
                (Ctx::Mention { room, notice }, Ok(found)) => {
                    self.mentions_resolved(&room, &notice, found);
                }
                (Ctx::Group { conn, user, asked }, Ok(found)) => {
                    self.group_resolved(conn, user, asked, found);
                }
                (Ctx::TellSeen { event }, Ok(found)) => self.tell_seen(event, found),
                (Ctx::SeenPeers { conn }, Ok(found)) => self.seen_peers(conn, found),
                (Ctx::Group { conn, .. }, Err(err)) => {
                    let message = format!("could not look the names up ({err}); try again");
                    self.refuse(conn, ErrorCode::StoreFailed, &message, None);
                }
                (_, Err(err)) => tracing::warn!(error = %err, "cannot look names up for a push"),
                _ => {}
            },
            engine::Event::Absent { ctx, users } => {
                if let Ctx::Push { notice } = ctx {
                    self.away_from_group(&notice, users);
                }
            }
        }
    }

    /// A log was replaced under its readers here: each gets the new log's latest page as a
    /// `reset` (and, meanwhile, none of its live messages: the page will hold them).
    pub(super) fn log_reset(&mut self, log: Log) {
        match log {
            Log::Room(room) => {
                let conns: Vec<ConnId> = self.rooms.conns(&room).map(|(c, _)| c).collect();
                for conn in conns {
                    let number = self.read_number();
                    if let Some(state) = self.conns.get_mut(&conn) {
                        state.catching_up.insert(room.clone(), number);
                    }
                    let ctx = Ctx::CatchUp {
                        conn,
                        room: room.clone(),
                        read: number,
                    };
                    let read = Read::Room {
                        room: room.clone(),
                        range: RoomRange::Reset,
                        epoch: None,
                        joiner: None,
                    };
                    self.read(ctx, read);
                }
            }
            Log::User(key) => {
                let Some(profile) = self.keys.get(&key).and_then(|u| self.users.get(u)) else {
                    return;
                };
                let conns: Vec<ConnId> = profile.conns.iter().copied().collect();
                for conn in conns {
                    let number = self.read_number();
                    if let Some(state) = self.conns.get_mut(&conn) {
                        state.direct_catching_up = Some(number);
                    }
                    let read = Read::Direct {
                        user: key.clone(),
                        range: engine::DirectRange::Reset,
                        epoch: None,
                    };
                    self.read(Ctx::DirectCatchUp { conn, read: number }, read);
                }
            }
        }
    }

    /// History for a connection: sent only if it still waits for this very read.
    pub(super) fn answered(&mut self, ctx: Ctx, answer: Result<Answer, EngineError>) {
        let (conn, waited) = match &ctx {
            Ctx::CatchUp { conn, room, read } => {
                let Some(state) = self.conns.get_mut(conn) else {
                    return;
                };
                if state.catching_up.get(room) != Some(read) {
                    return; // Left the room, or joined again and waits for a newer read.
                }
                state.catching_up.remove(room);
                (*conn, Some(room.clone()))
            }
            Ctx::DirectCatchUp { conn, read } => {
                let Some(state) = self.conns.get_mut(conn) else {
                    return;
                };
                if state.direct_catching_up != Some(*read) {
                    return;
                }
                state.direct_catching_up = None;
                (*conn, None)
            }
            Ctx::Page { conn } => (*conn, None),
            _ => return,
        };
        let mut after = Vec::new();
        // What "seen" follows the history with: its direct messages' people.
        let mut seen_after: Option<Vec<shared::DirectMessage>> = None;
        // Whether this answer told the user's choice for the first time.
        let mut first_choice = false;
        let event = match answer {
            Ok(Answer::Room {
                room,
                mode,
                mut messages,
                changes,
                more_before,
                epoch,
                members,
            }) => {
                messages.retain(|m| !self.is_deleted(&room, m.seq));
                if let Some(members) = members {
                    // The member cap is checked here, against the room's members on every
                    // node (entering the presence and reading it is one step): over it, this
                    // join is undone. Server admins pass, as at the door (`may_join`).
                    let admin = self
                        .conn_key(conn)
                        .is_some_and(|key| self.admins.contains(&key));
                    // (A group has no cap: its members are all it admits.)
                    if let Some(cap) = self.policies.get(&room).and_then(|p| p.max_members)
                        && members.count > cap
                        && !admin
                    {
                        if let Some(state) = self.conns.get_mut(&conn) {
                            state.held_events.retain(|(r, _)| *r != room);
                        }
                        if let Some(left) = self.rooms.leave(&room, conn) {
                            self.announce_left(left);
                        }
                        let message = format!("{room} is full ({cap} members)");
                        return self.refuse(conn, ErrorCode::RoomFull, &message, None);
                    }
                    // The member list came with the history, and goes first.
                    let joined = self.joined_event(
                        conn,
                        &room,
                        members.count,
                        members.members,
                        members.more,
                    );
                    self.send_to(conn, &joined);
                    self.send_policy(conn, &room);
                }
                // Presence events that came while it waited follow the history.
                if let Some(state) = self.conns.get_mut(&conn) {
                    let (held, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut state.held_events)
                        .into_iter()
                        .partition(|(r, _)| *r == room);
                    state.held_events = rest;
                    after = held.into_iter().map(|(_, event)| event).collect();
                }
                ServerMsg::History {
                    room,
                    mode,
                    messages,
                    changes,
                    more_before,
                    epoch,
                }
            }
            Ok(Answer::Direct {
                mode,
                messages,
                epoch,
                positions,
            }) => {
                let reads = !positions.private;
                self.send_to(conn, &positions.into_event());
                if let Some(user) = self.conns.get(&conn).and_then(|state| state.user)
                    && let Some(profile) = self.users.get_mut(&user)
                {
                    first_choice = profile.sharing.is_none();
                    profile.sharing = Some(reads);
                }
                self.send_to(conn, &ServerMsg::Sharing { reads });
                seen_after = Some(messages.clone());
                ServerMsg::DirectHistory {
                    mode,
                    messages,
                    epoch,
                }
            }
            Err(reason) => {
                let message = match waited {
                    Some(room) => {
                        // Presence held for a history that will not come: the retried join
                        // sends the member list afresh.
                        if let Some(state) = self.conns.get_mut(&conn) {
                            state.held_events.retain(|(r, _)| *r != room);
                        }
                        format!("{reason} of {room}; join it again to retry")
                    }
                    None => reason.to_string(),
                };
                return self.refuse(conn, ErrorCode::StoreFailed, &message, None);
            }
        };
        self.send_to(conn, &event);
        for event in after {
            self.send_to(conn, &event);
        }
        match (seen_after, waited) {
            (Some(messages), _) => {
                self.direct_seen(conn, &messages);
                // Groups whose history came first waited for the choice just read.
                let ready: Vec<RoomName> = self
                    .rooms
                    .rooms_of(conn)
                    .filter(|_| first_choice)
                    .filter(|room| {
                        self.conns
                            .get(&conn)
                            .is_some_and(|state| !state.catching_up.contains_key(*room))
                    })
                    .cloned()
                    .collect();
                for room in ready {
                    self.group_seen(conn, &room);
                }
            }
            (None, Some(room)) => self.group_seen(conn, &room),
            (None, None) => {}
        }
    }

    /// A read position: kept for the user (by key), told to all their tabs once stored.
    /// Positions past the end are the client's business (it only hurts its own counts).
    pub(super) fn mark(&mut self, conn: ConnId, user: UserId, place: engine::Place, position: u64) {
        if let engine::Place::Room(room) = &place
            && !self.rooms.contains(room, conn)
        {
            let message = format!("join {room} before marking it read");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
        }
        if let Some(key) = self.key_of(user) {
            // Stored as SQLite's signed integer.
            let position = position.min(i64::MAX as u64);
            self.marked_seen(user, &place, position);
            self.engine.mark(key, place, position);
        }
    }

    pub(super) fn direct(
        &mut self,
        conn: ConnId,
        user: UserId,
        to: &Nick,
        text: Text,
        client_id: ClientMsgId,
    ) {
        if let Err(message) = self.check_length(&text) {
            return self.refuse(conn, ErrorCode::TooLong, &message, Some(client_id));
        }
        let recipient = self.nicks.named(to);
        let target = match recipient.and_then(|r| self.users.get(&r)) {
            Some(profile) => Target::Direct {
                recipient: Some(profile.key.clone()),
                to: profile.nick.clone(),
                away: false,
            },
            // Online on another node, perhaps: the engine looks the nickname up (and answers
            // `NoRecipient` if nobody has it).
            None => Target::Direct {
                recipient: None,
                to: to.clone(),
                away: false,
            },
        };
        self.append(conn, user, recipient, target, Body::text(text), client_id);
    }

    fn no_such_user(&mut self, conn: ConnId, to: &Nick, client_id: ClientMsgId) {
        let message = format!("nobody is called {to} (or not any more)");
        self.refuse(conn, ErrorCode::NoSuchUser, &message, Some(client_id));
    }

    pub(super) fn check_length(&self, text: &Text) -> Result<(), String> {
        let chars = text.chars();
        if chars > self.limits.max_text_chars as usize {
            return Err(format!(
                "message has {chars} characters; the limit is {}",
                self.limits.max_text_chars
            ));
        }
        Ok(())
    }
}
