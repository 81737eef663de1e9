//! Owned, private and moderated rooms: `create_room`, invitations, moderators, kick, mute,
//! ban, deletion; who may join, speak and see what; and applying a room's new policy (this
//! node's change or, in cluster mode, another node's) to the connections here. The rules
//! themselves are [`crate::policy::decide`], the same in both modes.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::records::PolicyCtx;
use super::{
    ConnId, ErrorCode, Hub, ModAction, Nick, RemovedReason, RoomName, ServerMsg, UploadStanding,
    UserId, engine,
};
use crate::policy::{Act, Applied, Person, PolicyEvent, Refusal, Request, RoomPolicy, Whom};

impl Hub {
    pub(super) fn create_room(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        private: bool,
        max_members: Option<u32>,
    ) {
        if let Some(message) = self.owned_rooms_cap_reached(user) {
            return self.refuse(conn, ErrorCode::TooManyRooms, &message, None);
        }
        if !self.policies_loaded {
            let message = "room permissions are still loading; try again shortly";
            return self.refuse(conn, ErrorCode::StoreFailed, message, None);
        }
        let Some(profile) = self.users.get(&user) else {
            return;
        };
        // Who may claim a room: anyone, a name nobody used; a server admin, also a room made
        // by `join` that people use (the lobby among them). Nobody, a room with an owner.
        // Members here are checked at once; messages, and members on other nodes, by the
        // policy worker before it writes (`PolicyStore::create`).
        let admin = self.admins.contains(&profile.key);
        if self.policies.contains_key(&room) {
            let message = format!("{room} exists already; choose another name");
            return self.refuse(conn, ErrorCode::RoomExists, &message, None);
        }
        if !admin && (room == RoomName::default_room() || self.rooms.conns(&room).next().is_some())
        {
            let message = format!(
                "{room} is in use already; choose another name (only a server admin may take it over)"
            );
            return self.refuse(conn, ErrorCode::RoomExists, &message, None);
        }
        if max_members == Some(0) {
            let message = "max_members must be at least 1";
            return self.refuse(conn, ErrorCode::Invalid, message, None);
        }
        let policy = RoomPolicy {
            owner_key: Some(profile.key.clone()),
            owner: Some(profile.nick.clone()),
            private,
            max_members,
            version: 1,
            ..RoomPolicy::default()
        };
        let ctx = PolicyCtx::Create {
            conn,
            user,
            room: room.clone(),
        };
        self.ask_policy(Request::Create {
            ctx,
            room,
            policy,
            claim_used: admin,
        });
    }

    /// A moderation request (`target`: the user named, none for a deletion). The hub names
    /// the actor and the target; the worker decides against the stored policy.
    pub(super) fn moderate(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        act: Act,
        target: Option<Nick>,
    ) {
        let Some(actor) = self.person(user) else {
            return;
        };
        if self.policies.get(&room).is_some_and(|policy| policy.group) {
            // Decided here, before the target is looked up (`decide` says the same).
            let message = format!("{room} is a group: nobody moderates it");
            return self.refuse(conn, ErrorCode::Forbidden, &message, None);
        }
        let whom = target.map(|nick| self.whom(&nick));
        let ctx = PolicyCtx::Act { conn };
        self.ask_policy(Request::Act {
            ctx,
            room,
            actor,
            act,
            whom,
        });
    }

    /// `set_topic`: one line of at most [`shared::TOPIC_MAX_CHARS`] characters (trimmed;
    /// empty clears it), then decided like any moderation (owner, moderators, admins).
    pub(super) fn set_topic(&mut self, conn: ConnId, user: UserId, room: RoomName, topic: &str) {
        let topic = topic.trim();
        if topic.chars().count() > shared::TOPIC_MAX_CHARS {
            let message = format!("a topic has at most {} characters", shared::TOPIC_MAX_CHARS);
            return self.refuse(conn, ErrorCode::TooLong, &message, None);
        }
        // One line, and no bidirectional controls that could turn the header's text around.
        let bad = |c: &char| {
            c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        };
        if let Some(bad) = topic.chars().find(bad) {
            let message = format!(
                "a topic is one line of text (U+{:04X} is not allowed)",
                u32::from(bad)
            );
            return self.refuse(conn, ErrorCode::Invalid, &message, None);
        }
        self.moderate(conn, user, room, Act::SetTopic(topic.to_owned()), None);
    }

    pub(super) fn person(&self, user: UserId) -> Option<Person> {
        self.users.get(&user).map(|u| Person {
            admin: self.admins.contains(&u.key),
            key: u.key.clone(),
            nick: u.nick.clone(),
        })
    }

    /// Who `nick` is: a user here; an account (accounts mode, online or not: its key follows
    /// from its name); or whoever holds the name on another node (the worker looks it up,
    /// and says nobody is called so if nobody is).
    fn whom(&self, nick: &Nick) -> Whom {
        if let Some(person) = self.nicks.named(nick).and_then(|u| self.person(u)) {
            return Whom::Known(person);
        }
        if self.accounts {
            let key = crate::ids::user_key(&crate::auth::Identity::account(nick).token);
            return Whom::Known(Person {
                admin: self.admins.contains(&key),
                key,
                nick: nick.clone(),
            });
        }
        Whom::Nick(nick.clone())
    }

    pub(super) fn ask_policy(&mut self, request: Request<PolicyCtx>) {
        if let Request::Create {
            ctx: PolicyCtx::Create { user, .. },
            ..
        } = &request
        {
            *self.creating.entry(*user).or_default() += 1;
        }
        if self.policy.send(request).is_err() {
            tracing::warn!("room policy request dropped: the worker has stopped");
        }
    }

    /// Whether `user` may join `room` now, or the refusal.
    pub(super) fn may_join(
        &self,
        user: UserId,
        room: &RoomName,
    ) -> Result<(), (ErrorCode, String)> {
        let Some(policy) = self.policies.get(room) else {
            // A name shaped like a group's is a group's: nobody makes it a public room by
            // joining it (it would be hidden from the admin console), and a group whose
            // policy this node has not heard of yet is not entered before it has.
            if super::groups::looks_like_group(room) {
                return Err((
                    ErrorCode::Forbidden,
                    format!("{room} is the name of a group conversation"),
                ));
            }
            return Ok(());
        };
        let key = self.users.get(&user).map_or("", |u| u.key.as_str());
        // Server admins pass every door but a group's (as closed as a direct message).
        if self.admins.contains(key) && !policy.group {
            return Ok(());
        }
        if policy.closed {
            return Err((ErrorCode::RoomClosed, closed_message(room)));
        }
        if policy.banned.contains_key(key) {
            return Err((ErrorCode::Banned, format!("you are banned from {room}")));
        }
        if !policy.admits(key) {
            return Err((ErrorCode::Forbidden, format!("{room} is private")));
        }
        // Another tab of a user already in counts no further.
        let present = self.rooms.users(room).any(|u| u == user);
        if let Some(cap) = policy.max_members
            && !present
            && self.rooms.users(room).count() >= cap as usize
        {
            return Err((
                ErrorCode::RoomFull,
                format!("{room} is full ({cap} members)"),
            ));
        }
        Ok(())
    }

    /// The refusal of a `say`, `typing` or change in a room a server admin closed (server
    /// admins included: a closed room is read, not spoken in).
    pub(super) fn closed(&self, room: &RoomName) -> Option<String> {
        self.policies
            .get(room)
            .is_some_and(|policy| policy.closed)
            .then(|| closed_message(room))
    }

    /// The refusal of a `say` or `typing` by a muted user.
    pub(super) fn muted(&self, user: UserId, room: &RoomName) -> Option<String> {
        self.muted_key(&self.users.get(&user)?.key, room)
    }

    /// The same for the user with `key`.
    fn muted_key(&self, key: &str, room: &RoomName) -> Option<String> {
        let until = self
            .policies
            .get(room)?
            .muted_until(key, engine::now_ms())?;
        let left = until.saturating_sub(engine::now_ms()).div_ceil(1000);
        Some(format!("you are muted in {room} for {left} more seconds"))
    }

    /// Whether the message `seq` of `room` was deleted.
    pub(super) fn is_deleted(&self, room: &RoomName, seq: u64) -> bool {
        self.policies
            .get(room)
            .is_some_and(|policy| policy.deleted.contains(&seq))
    }

    /// Whether the user with `key` may read `room` (its uploads): public rooms anyone not
    /// banned; private rooms those they admit, and admins. Nobody while the policies load.
    pub(super) fn may_read(&self, key: Option<&str>, room: &RoomName) -> bool {
        if !self.policies_loaded {
            return false;
        }
        let key = key.unwrap_or("");
        if self.banned_from_server(key) {
            return false;
        }
        self.policies
            .get(room)
            .is_none_or(|policy| policy.admits(key) || (self.admins.contains(key) && !policy.group))
    }

    /// Where the user with `key` stands for uploading to `room` (see [`UploadStanding`]).
    pub(super) fn upload_standing(&self, key: &str, room: &RoomName) -> UploadStanding {
        if !self.may_read(Some(key), room) {
            return UploadStanding::Refused(format!("you may not read {room}"));
        }
        if let Some(muted) = self.muted_key(key, room) {
            return UploadStanding::Refused(muted);
        }
        if let Some(closed) = self.closed(room) {
            return UploadStanding::Refused(closed);
        }
        let here = self
            .tabs_of(key)
            .into_iter()
            .any(|conn| self.rooms.contains(room, conn));
        if here {
            UploadStanding::Member
        } else {
            UploadStanding::Absent
        }
    }

    /// Whether the user with `key` may see `room` in the room list.
    pub(super) fn visible_to(&self, key: Option<&str>, room: &RoomName) -> bool {
        self.policies.get(room).is_none_or(|policy| {
            !policy.private
                || key.is_some_and(|key| {
                    policy.admits(key) || (self.admins.contains(key) && !policy.group)
                })
        })
    }

    /// The conn's user's key, if identified.
    pub(super) fn conn_key(&self, conn: ConnId) -> Option<String> {
        self.key_of(self.conns.get(&conn)?.user?)
    }

    /// `room_policy` for `conn`, if the room has one.
    pub(super) fn send_policy(&mut self, conn: ConnId, room: &RoomName) {
        if let Some(event) = self.policies.get(room).map(|p| policy_event(room, p)) {
            self.send_to(conn, &event);
        }
    }

    pub(super) fn policy_event(&mut self, event: PolicyEvent<PolicyCtx>) {
        if let PolicyEvent::Done {
            ctx: PolicyCtx::Create { user, .. },
            ..
        } = &event
        {
            self.creation_answered(*user);
        }
        match event {
            PolicyEvent::Loaded((all, server)) => {
                self.policies_loaded = true;
                // What the store holds now, whatever its version (a restored or failed-over
                // Redis may hold an older one).
                self.adopt_server_policy(server, None, true);
                for (room, policy) in all {
                    self.adopt(Applied {
                        room,
                        policy,
                        by: None,
                        action: None,
                        target_key: None,
                    });
                }
                for (conn, user, room, since) in std::mem::take(&mut self.pending_joins) {
                    if self.conns.contains_key(&conn) {
                        self.join(conn, user, room, since);
                    }
                }
                // Whoever said hello before the policies came is joined to their groups.
                let groups: Vec<(String, RoomName)> = self
                    .policies
                    .iter()
                    .filter(|(_, policy)| policy.group)
                    .flat_map(|(room, policy)| {
                        policy
                            .invited
                            .keys()
                            .map(move |key| (key.clone(), room.clone()))
                    })
                    .filter(|(key, _)| self.keys.contains_key(key))
                    .collect();
                for (key, room) in groups {
                    self.join_group_everywhere(&key, &room);
                }
            }
            PolicyEvent::Changed(applied) => self.adopt(applied),
            PolicyEvent::ServerChanged(applied) => self.adopt_server(applied),
            PolicyEvent::Done { ctx, result } => match (ctx, result) {
                (PolicyCtx::Create { conn, user, room }, Ok(applied)) => {
                    self.adopt(applied);
                    if self.conns.contains_key(&conn) {
                        self.join(conn, user, room, None);
                    }
                }
                (PolicyCtx::Act { .. }, Ok(applied)) => self.adopt(applied),
                (PolicyCtx::Import { reply }, Ok(applied)) => {
                    let policy = applied.policy.clone();
                    self.adopt(applied);
                    let _ = reply.send(Ok(Some(policy)));
                }
                (PolicyCtx::Import { reply }, Err(refusal)) => {
                    let _ = reply.send(Err(refusal.to_string()));
                }
                (PolicyCtx::Create { conn, .. } | PolicyCtx::Act { conn }, Err(refusal)) => {
                    let code = match &refusal {
                        Refusal::Forbidden(_) => ErrorCode::Forbidden,
                        Refusal::NoSuchUser(_) => ErrorCode::NoSuchUser,
                        Refusal::Exists(_) => ErrorCode::RoomExists,
                        Refusal::Store(_) => ErrorCode::StoreFailed,
                    };
                    self.refuse(conn, code, &refusal.to_string(), None);
                }
            },
        }
    }

    /// Takes a room's new policy if it is newer than what this node has, and applies it here:
    /// newly invited users' tabs are told; members no longer admitted (uninvited, banned) and
    /// the kicked are removed and told why; the room hears the action; and gets the rules
    /// again if who runs it changed.
    pub(super) fn adopt(&mut self, applied: Applied) {
        let Applied {
            room,
            policy,
            by,
            action,
            target_key,
        } = applied;
        let previous = self.policies.get(&room).cloned();
        if previous
            .as_ref()
            .is_some_and(|p| p.version >= policy.version)
        {
            return;
        }
        self.policies.insert(room.clone(), policy.clone());
        let by = by.or_else(|| policy.owner.clone());
        if let Some(by) = &by {
            for key in policy.invited.keys().filter(|key| {
                previous
                    .as_ref()
                    .is_none_or(|p| !p.invited.contains_key(*key))
            }) {
                let tabs = self.tabs_of(key);
                let event = ServerMsg::Invited {
                    room: room.clone(),
                    by: by.clone(),
                };
                self.broadcast(tabs, &event);
            }
        }
        if policy.group {
            // A group's new members are in it on every tab here, at once.
            let joined: Vec<String> = policy
                .invited
                .keys()
                .filter(|key| {
                    previous
                        .as_ref()
                        .is_none_or(|p| !p.invited.contains_key(*key))
                })
                .cloned()
                .collect();
            for key in joined {
                self.join_group_everywhere(&key, &room);
            }
        }
        let kicked = match &action {
            Some(ModAction::Kicked { .. }) => target_key.clone(),
            _ => None,
        };
        let left = match &action {
            Some(ModAction::Left { .. }) => target_key.clone(),
            _ => None,
        };
        let members: Vec<(ConnId, UserId)> = self.rooms.conns(&room).collect();
        let mut removed = Vec::new();
        let mut staying = Vec::new();
        for (conn, user) in members {
            let Some(key) = self.key_of(user) else {
                continue;
            };
            let reason = if kicked.as_deref() == Some(key.as_str()) {
                Some(RemovedReason::Kicked)
            } else if left.as_deref() == Some(key.as_str()) {
                Some(RemovedReason::Left)
            } else if self.admins.contains(&key) && !policy.group {
                None
            } else if policy.closed {
                Some(RemovedReason::Closed)
            } else if policy.admits(&key) {
                None
            } else if policy.banned.contains_key(&key) {
                Some(RemovedReason::Banned)
            } else {
                Some(RemovedReason::Uninvited)
            };
            match reason {
                Some(reason) => removed.push((conn, reason)),
                None => staying.push(conn),
            }
        }
        if let (Some(by), Some(action)) = (&by, &action) {
            let event = ServerMsg::Moderated {
                room: room.clone(),
                by: by.clone(),
                action: action.clone(),
            };
            let everyone: Vec<ConnId> = staying
                .iter()
                .copied()
                .chain(removed.iter().map(|(c, _)| *c))
                .collect();
            self.broadcast(everyone, &event);
        }
        for (conn, reason) in removed {
            if let Some(state) = self.conns.get_mut(&conn) {
                state.catching_up.remove(&room);
                state.held_events.retain(|(r, _)| *r != room);
            }
            let event = ServerMsg::Removed {
                room: room.clone(),
                by: by
                    .clone()
                    .unwrap_or_else(|| policy_owner_or_server(&policy)),
                reason,
            };
            self.send_to(conn, &event);
            if let Some(left) = self.rooms.leave(&room, conn) {
                self.send_to(conn, &ServerMsg::Left { room: room.clone() });
                self.announce_left(left);
            }
        }
        let rules_changed = previous.as_ref().is_none_or(|p| shown_changed(p, &policy));
        if rules_changed {
            let event = policy_event(&room, &policy);
            self.broadcast(staying, &event);
        }
    }

    /// An admin's change of the server's policy (here, or heard from another node).
    pub(super) fn adopt_server(&mut self, applied: crate::policy::ServerApplied) {
        self.adopt_server_policy(applied.server, Some(applied.by), false);
    }

    /// Takes the server's policy if it is newer than this node's (or, `loaded`, as the store
    /// has it now): the tabs here of everyone it newly bans are removed from each of their
    /// rooms (`removed`, reason `banned`, by the admin) and closed with 4403.
    pub(super) fn adopt_server_policy(
        &mut self,
        policy: crate::policy::ServerPolicy,
        by: Option<Nick>,
        loaded: bool,
    ) {
        if !loaded && policy.version <= self.server.version {
            return;
        }
        let previous = std::mem::replace(&mut self.server, policy);
        let newly: Vec<String> = self
            .server
            .banned
            .keys()
            .filter(|key| !previous.banned.contains_key(*key))
            .cloned()
            .collect();
        let by = by.unwrap_or_else(|| Nick::try_from("server").expect("a valid nickname"));
        for key in newly {
            for conn in self.tabs_of(&key) {
                self.ban_tab(conn, &by);
            }
        }
    }

    /// Takes the tab `conn` of a user banned from the server out of the hub at once, as a
    /// disconnect would (its rooms see it leave; nothing more reaches it; what it asked and
    /// is still queued finds no connection), and has its session write `removed` for each of
    /// its rooms and `error` `banned`, then close with 4403.
    pub(super) fn ban_tab(&mut self, conn: ConnId, by: &Nick) {
        let mut farewell = Vec::new();
        for room in self.rooms.rooms_of(conn) {
            farewell.push(ServerMsg::Removed {
                room: room.clone(),
                by: by.clone(),
                reason: RemovedReason::Banned,
            });
            farewell.push(ServerMsg::Left { room: room.clone() });
        }
        farewell.push(ServerMsg::Error {
            code: ErrorCode::Banned,
            message: "you are banned from this server".into(),
            client_id: None,
        });
        let Some(state) = self.conns.get_mut(&conn) else {
            return;
        };
        let tell = state.farewell.take();
        let kick = state.kick.clone();
        self.remove(conn);
        if let Some(tell) = tell {
            // (The session may have ended meanwhile: nobody left to tell.)
            let _ = tell.send(farewell);
        }
        kick.cancel();
    }

    /// Whether the user with `key` is banned from the whole server.
    pub(super) fn banned_from_server(&self, key: &str) -> bool {
        self.server.banned.contains_key(key)
    }

    /// Every tab of the user with `key` here.
    fn tabs_of(&self, key: &str) -> Vec<ConnId> {
        self.keys
            .get(key)
            .and_then(|u| self.users.get(u))
            .map(|u| u.conns.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The refusal of a `create_room` by `user` when the rooms they own and the ones they
    /// are creating (asked for, not yet answered: a burst of requests must not all pass
    /// before the first is stored) reach `--max-owned-rooms`.
    ///
    /// Counted from the policies this node knows, which in cluster mode include every
    /// node's (changes arrive within milliseconds): only requests racing on several nodes
    /// within that time can pass the cap, by at most the other nodes' share. A scan of the
    /// policies, not an index: `create_room` is rare and rate-limited, and the policies are
    /// the one truth about who owns what.
    fn owned_rooms_cap_reached(&self, user: UserId) -> Option<String> {
        let key = self.users.get(&user)?.key.as_str();
        let owned = self
            .policies
            .values()
            .filter(|policy| policy.owner_key.as_deref() == Some(key))
            .count();
        let creating = self.creating.get(&user).map_or(0, |&n| n as usize);
        let cap = self.limits.max_owned_rooms;
        (owned + creating >= cap as usize).then(|| {
            let more = match creating {
                0 => String::new(),
                n => format!(" and are creating {n} more"),
            };
            format!("you own {owned} rooms{more}; one user may own at most {cap}")
        })
    }

    /// The policy worker answered a `create_room` of `user` (made, or refused).
    fn creation_answered(&mut self, user: UserId) {
        if let Some(creating) = self.creating.get_mut(&user) {
            *creating = creating.saturating_sub(1);
            if *creating == 0 {
                self.creating.remove(&user);
            }
        }
    }
}

/// Why a closed room refuses.
fn closed_message(room: &RoomName) -> String {
    format!("{room} is closed by a server admin")
}

/// Who a removal is attributed to when a policy arrives without its author (a reload).
fn policy_owner_or_server(policy: &RoomPolicy) -> Nick {
    policy
        .owner
        .clone()
        .or_else(|| "server".parse().ok())
        .expect("\"server\" is a valid nickname")
}

/// Whether what `room_policy` shows differs between two versions of a room's policy.
fn shown_changed(before: &RoomPolicy, after: &RoomPolicy) -> bool {
    before.owner != after.owner
        || before.moderators != after.moderators
        || before.private != after.private
        || before.max_members != after.max_members
        || before.topic != after.topic
        // A group's members are part of what it shows.
        || (after.group && before.invited != after.invited)
}

fn policy_event(room: &RoomName, policy: &RoomPolicy) -> ServerMsg {
    let mut moderators: Vec<Nick> = policy.moderators.values().cloned().collect();
    moderators.sort_by_key(Nick::key);
    let mut members: Vec<Nick> = if policy.group {
        policy.invited.values().cloned().collect()
    } else {
        Vec::new()
    };
    members.sort_by_key(Nick::key);
    ServerMsg::RoomPolicy {
        room: room.clone(),
        owner: policy.owner.clone(),
        moderators,
        private: policy.private,
        max_members: policy.max_members,
        group: policy.group,
        members,
        topic: policy.topic.clone(),
    }
}
