//! Owned and private rooms: `create_room`, `invite`, `uninvite`, who may join, what the room
//! list shows, and applying a room's new policy (from this node's change or, in cluster mode,
//! another node's) to the connections here.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::*;
use crate::policy::{Change, PolicyEvent, Request, RoomPolicy};

/// What the hub needs back from the policy worker with each answer.
#[derive(Debug)]
pub(super) enum PolicyCtx {
    /// `create_room` from `conn` (user `user`): join it once created.
    Create {
        conn: ConnId,
        user: UserId,
        room: RoomName,
    },
    /// An invitation or its withdrawal asked for by `conn`.
    Change { conn: ConnId, room: RoomName },
}

impl Hub {
    pub(super) fn create_room(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        private: bool,
        max_members: Option<u32>,
    ) {
        if !self.policies_loaded {
            return self.policies_loading(conn);
        }
        if self.policies.contains_key(&room) || self.rooms.conns(&room).next().is_some() {
            let message = format!("{room} exists already; choose another name");
            return self.refuse(conn, ErrorCode::RoomExists, &message, None);
        }
        if max_members == Some(0) {
            let message = "max_members must be at least 1";
            return self.refuse(conn, ErrorCode::Invalid, message, None);
        }
        let Some(profile) = self.users.get(&user) else {
            return;
        };
        let policy = RoomPolicy {
            owner_key: profile.key.clone(),
            owner: profile.nick.clone(),
            private,
            max_members,
            invited: std::collections::BTreeMap::new(),
            version: 1,
        };
        let ctx = PolicyCtx::Create {
            conn,
            user,
            room: room.clone(),
        };
        self.ask_policy(Request::Create { ctx, room, policy });
    }

    pub(super) fn invite(&mut self, conn: ConnId, user: UserId, room: RoomName, target: Nick) {
        if let Err(message) = self.check_owner(user, &room) {
            return self.refuse(conn, ErrorCode::Forbidden, &message, None);
        }
        let ctx = PolicyCtx::Change {
            conn,
            room: room.clone(),
        };
        let local = self
            .nicks
            .get(&target.key())
            .and_then(|u| self.users.get(u))
            .map(|u| (u.key.clone(), u.nick.clone()));
        let request = match local {
            Some((key, nick)) => Request::Change {
                ctx,
                room,
                change: Change::Invite { key, nick },
            },
            // An account's key follows from its name, online or not.
            None if self.accounts => {
                let token = crate::auth::Identity::account(&target).token;
                Request::Change {
                    ctx,
                    room,
                    change: Change::Invite {
                        key: people::user_key(&token),
                        nick: target,
                    },
                }
            }
            // Online on another node, perhaps: the worker looks the nickname up.
            None if self.shared => Request::InviteNick {
                ctx,
                room,
                nick: target,
            },
            None => {
                let message = format!("nobody called {target} is online");
                return self.refuse(conn, ErrorCode::NoSuchUser, &message, None);
            }
        };
        self.ask_policy(request);
    }

    pub(super) fn uninvite(&mut self, conn: ConnId, user: UserId, room: RoomName, target: Nick) {
        if let Err(message) = self.check_owner(user, &room) {
            return self.refuse(conn, ErrorCode::Forbidden, &message, None);
        }
        let key = self.policies.get(&room).and_then(|policy| {
            policy
                .invited
                .iter()
                .find(|(_, nick)| nick.key() == target.key())
                .map(|(key, _)| key.clone())
        });
        let Some(key) = key else {
            let message = format!("{target} is not invited to {room}");
            return self.refuse(conn, ErrorCode::NoSuchUser, &message, None);
        };
        let ctx = PolicyCtx::Change {
            conn,
            room: room.clone(),
        };
        self.ask_policy(Request::Change {
            ctx,
            room,
            change: Change::Uninvite { key },
        });
    }

    fn check_owner(&self, user: UserId, room: &RoomName) -> Result<(), String> {
        let key = self.users.get(&user).map(|u| u.key.as_str());
        match self.policies.get(room) {
            Some(policy) if Some(policy.owner_key.as_str()) == key => Ok(()),
            Some(_) => Err(format!("only the owner of {room} may do that")),
            None => Err(format!(
                "{room} has no owner; only an owned room has invitations"
            )),
        }
    }

    fn ask_policy(&mut self, request: Request<PolicyCtx>) {
        if self.policy.send(request).is_err() {
            tracing::warn!("room policy request dropped: the worker has stopped");
        }
    }

    fn policies_loading(&mut self, conn: ConnId) {
        let message = "room permissions are still loading; try again shortly";
        self.refuse(conn, ErrorCode::StoreFailed, message, None);
    }

    /// Whether `user` may join `room` now (`conn` is the joining tab), or the refusal.
    pub(super) fn may_join(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: &RoomName,
    ) -> Result<(), (ErrorCode, String)> {
        let Some(policy) = self.policies.get(room) else {
            return Ok(());
        };
        let key = self.users.get(&user).map_or("", |u| u.key.as_str());
        if !policy.admits(key) {
            return Err((ErrorCode::Forbidden, format!("{room} is private")));
        }
        let present = self.rooms.users(room).any(|u| u == user);
        if let Some(cap) = policy.max_members
            && !present
            && !self.rooms.contains(room, conn)
            && self.rooms.users(room).collect::<BTreeSet<_>>().len() >= cap as usize
        {
            return Err((
                ErrorCode::RoomFull,
                format!("{room} is full ({cap} members)"),
            ));
        }
        Ok(())
    }

    /// Whether the user with `key` may see `room` in the room list.
    pub(super) fn visible_to(&self, key: Option<&str>, room: &RoomName) -> bool {
        self.policies
            .get(room)
            .is_none_or(|policy| key.is_some_and(|key| policy.admits(key)))
    }

    /// The conn's user's key, if identified.
    pub(super) fn conn_key(&self, conn: ConnId) -> Option<String> {
        let user = self.conns.get(&conn)?.user?;
        self.users.get(&user).map(|u| u.key.clone())
    }

    /// `room_policy` for `conn`, if the room has an owner.
    pub(super) fn send_policy(&mut self, conn: ConnId, room: &RoomName) {
        if let Some(event) = self.policies.get(room).map(|p| policy_event(room, p)) {
            self.send_to(conn, &event);
        }
    }

    pub(super) fn policy_event(&mut self, event: PolicyEvent<PolicyCtx>) {
        match event {
            PolicyEvent::Loaded(all) => {
                self.policies_loaded = true;
                for (room, policy) in all {
                    self.adopt(room, policy);
                }
                for (conn, user, room, since) in std::mem::take(&mut self.pending_joins) {
                    if self.conns.contains_key(&conn) {
                        self.join(conn, user, room, since);
                    }
                }
            }
            PolicyEvent::Changed { room, policy } => self.adopt(room, policy),
            PolicyEvent::Done { ctx, result } => match (ctx, result) {
                (PolicyCtx::Create { conn, user, room }, Ok(Some(policy))) => {
                    self.adopt(room.clone(), policy);
                    if self.conns.contains_key(&conn) {
                        self.join(conn, user, room, None);
                    }
                }
                (PolicyCtx::Create { conn, room, .. }, Ok(None)) => {
                    let message = format!("{room} exists already; choose another name");
                    self.refuse(conn, ErrorCode::RoomExists, &message, None);
                }
                (PolicyCtx::Change { room, .. }, Ok(Some(policy))) => self.adopt(room, policy),
                (PolicyCtx::Change { conn, room }, Ok(None)) => {
                    let message = format!("{room} has no owner");
                    self.refuse(conn, ErrorCode::Forbidden, &message, None);
                }
                (PolicyCtx::Create { conn, .. } | PolicyCtx::Change { conn, .. }, Err(err)) => {
                    let message = format!("{err}; try again");
                    let code = if err.to_string().contains("nobody online") {
                        ErrorCode::NoSuchUser
                    } else {
                        ErrorCode::StoreFailed
                    };
                    self.refuse(conn, code, &message, None);
                }
            },
        }
    }

    /// Takes `policy` for `room` if it is newer than what this node has, and applies it here:
    /// newly invited users' tabs are told, members no longer admitted are removed, and the
    /// members left get the rules.
    fn adopt(&mut self, room: RoomName, policy: RoomPolicy) {
        let previous = self.policies.get(&room);
        if previous.is_some_and(|p| p.version >= policy.version) {
            return;
        }
        let newly_invited: Vec<String> = policy
            .invited
            .keys()
            .filter(|key| previous.is_none_or(|p| !p.invited.contains_key(*key)))
            .cloned()
            .collect();
        let by = policy.owner.clone();
        self.policies.insert(room.clone(), policy);
        let Some(policy) = self.policies.get(&room).cloned() else {
            return;
        };
        for key in newly_invited {
            let tabs: Vec<ConnId> = self
                .keys
                .get(&key)
                .and_then(|u| self.users.get(u))
                .map(|u| u.conns.iter().copied().collect())
                .unwrap_or_default();
            let event = ServerMsg::Invited {
                room: room.clone(),
                by: by.clone(),
            };
            self.broadcast(tabs, &event);
        }
        let members: Vec<(ConnId, UserId)> = self.rooms.conns(&room).collect();
        let mut staying = Vec::new();
        for (conn, user) in members {
            let admitted = self.users.get(&user).is_some_and(|u| policy.admits(&u.key));
            if admitted {
                staying.push(conn);
                continue;
            }
            if let Some(state) = self.conns.get_mut(&conn) {
                state.catching_up.remove(&room);
                state.held_events.retain(|(r, _)| *r != room);
            }
            let removed = ServerMsg::Removed {
                room: room.clone(),
                by: by.clone(),
                reason: shared::RemovedReason::Uninvited,
            };
            self.send_to(conn, &removed);
            if let Some(left) = self.rooms.leave(&room, conn) {
                self.send_to(conn, &ServerMsg::Left { room: room.clone() });
                self.announce_left(left);
            }
        }
        let event = policy_event(&room, &policy);
        self.broadcast(staying, &event);
    }
}

fn policy_event(room: &RoomName, policy: &RoomPolicy) -> ServerMsg {
    ServerMsg::RoomPolicy {
        room: room.clone(),
        owner: policy.owner.clone(),
        private: policy.private,
        max_members: policy.max_members,
    }
}
