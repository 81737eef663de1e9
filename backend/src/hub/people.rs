//! Users and nicknames: `hello` (a nickname is unique ignoring case and look-alikes, see
//! [`crate::names`]; the same browser token is the same user), renames, and what a
//! connection's end leaves behind.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use super::{
    BTreeSet, ConnId, Ctx, EngineError, ErrorCode, Hub, Log, Nick, PresenceOp, Read, Resume,
    RoomName, ServerMsg, User, UserId, UserToken, engine,
};
use crate::ids::user_key;

impl Hub {
    pub(super) fn hello(
        &mut self,
        conn: ConnId,
        nick: Nick,
        token: UserToken,
        rooms: Vec<RoomName>,
        resume: Resume,
    ) {
        self.identify(conn, nick, token, rooms, resume, true);
    }

    /// Makes `conn` a tab of the user called `nick` with `token`: another tab of a user here,
    /// a new user, or refused. With `ask` (before the engine has answered) a nickname nobody
    /// here has is claimed first, and [`Hub::claimed`] comes back here.
    fn identify(
        &mut self,
        conn: ConnId,
        nick: Nick,
        token: UserToken,
        rooms: Vec<RoomName>,
        resume: Resume,
        ask: bool,
    ) {
        let key = user_key(&token);
        // (An admin is never banned: one named admin after a ban gets in.)
        if self.banned_from_server(&key) && !self.admins.contains(&key) {
            // Said and closed by its session (4403), as for a tab open at the ban.
            let by = Nick::try_from("server").expect("a valid nickname");
            return self.ban_tab(conn, &by);
        }
        match self.nicks.holder(&nick) {
            // Another tab of a user here: no need to ask anyone.
            Some(user) if self.users.get(&user).is_some_and(|u| u.token == token) => {
                self.welcome(conn, user, rooms, resume);
            }
            Some(_) => self.nick_taken(conn, &nick),
            None if ask => {
                // The engine decides who owns a nickname; `claimed` goes on from here.
                if let Some(state) = self.conns.get_mut(&conn) {
                    state.claiming = true;
                }
                let user = user_key(&token);
                let ctx = Ctx::Hello {
                    conn,
                    nick: nick.clone(),
                    token,
                    rooms,
                    resume,
                };
                self.engine.claim(ctx, nick, user);
            }
            None => {
                let user = self.register(nick, token);
                self.welcome(conn, user, rooms, resume);
            }
        }
    }

    /// The engine's answer to a nickname claim.
    pub(super) fn claimed(&mut self, ctx: Ctx, granted: Result<bool, EngineError>) {
        match ctx {
            Ctx::Hello {
                conn,
                nick,
                token,
                rooms,
                resume,
            } => {
                let Some(state) = self.conns.get_mut(&conn) else {
                    // Gone meanwhile: what it claimed is not needed (unless another tab of
                    // the user holds it by now).
                    if granted == Ok(true) {
                        self.release_name(&nick, user_key(&token));
                    }
                    return;
                };
                state.claiming = false;
                match granted {
                    // Another tab may have registered the user while the claim was out.
                    Ok(true) => self.identify(conn, nick, token, rooms, resume, false),
                    Ok(false) => self.nick_taken(conn, &nick),
                    Err(reason) => self.claim_failed(conn, &reason),
                }
            }
            Ctx::Rename {
                conn,
                user,
                key,
                nick,
            } => match granted {
                Ok(true) if self.users.contains_key(&user) => self.apply_rename(user, nick),
                Ok(true) => {
                    // The user left meanwhile: the name claimed for them is not needed.
                    self.release_name(&nick, key);
                }
                Ok(false) => self.nick_taken(conn, &nick),
                Err(reason) => self.claim_failed(conn, &reason),
            },
            Ctx::Reclaim { user } => {
                let Some(profile) = self.users.get(&user) else {
                    return;
                };
                if granted == Ok(false) {
                    // Someone took the name while this node was out of the cluster. The
                    // protocol has no forced rename: the user's tabs are told, and the two
                    // users share the name until one of them renames.
                    let message = format!(
                        "your nickname {} was taken by someone else while this server was \
                         cut off; choose another",
                        profile.nick
                    );
                    tracing::warn!(nick = %profile.nick, "a nickname was taken while this node was cut off");
                    let tabs: Vec<ConnId> = profile.conns.iter().copied().collect();
                    for tab in tabs {
                        self.refuse(tab, ErrorCode::NickTaken, &message, None);
                    }
                }
            }
            _ => {}
        }
    }

    fn nick_taken(&mut self, conn: ConnId, nick: &Nick) {
        let message = format!("the nickname {nick} is taken; choose another");
        self.refuse(conn, ErrorCode::NickTaken, &message, None);
    }

    fn claim_failed(&mut self, conn: ConnId, reason: &EngineError) {
        let message = format!("could not check the nickname ({reason}); try again");
        self.refuse(conn, ErrorCode::StoreFailed, &message, None);
    }

    /// Frees the keys of `nick` claimed for `user` (a user key) that nobody here holds (any
    /// more); the engine notes that `user` held the name until now.
    fn release_name(&mut self, nick: &Nick, user: String) {
        let keys = self.nicks.unheld(nick);
        if !keys.is_empty() {
            let nick = nick.clone();
            self.engine
                .presence(PresenceOp::Release { keys, user, nick });
        }
    }

    pub(super) fn key_of(&self, user: UserId) -> Option<String> {
        self.users.get(&user).map(|u| u.key.clone())
    }

    /// A new user here, with their first tab still to come.
    fn register(&mut self, nick: Nick, token: UserToken) -> UserId {
        let user = UserId(self.next_user);
        self.next_user += 1;
        self.nicks.insert(&nick, user);
        let key = user_key(&token);
        self.keys.insert(key.clone(), user);
        self.engine.watch(Log::User(key.clone()));
        self.users.insert(
            user,
            User {
                nick,
                token,
                key,
                conns: BTreeSet::new(),
                sharing: None,
            },
        );
        user
    }

    /// A tab of `user` is identified: welcome, its direct messages, its rooms.
    fn welcome(&mut self, conn: ConnId, user: UserId, rooms: Vec<RoomName>, mut resume: Resume) {
        let Some(profile) = self.users.get_mut(&user) else {
            return;
        };
        profile.conns.insert(conn);
        let welcome = ServerMsg::Welcome {
            user: profile.nick.clone(),
            limits: self.limits,
        };
        let read = Read::Direct {
            user: profile.key.clone(),
            range: resume
                .direct_since
                .map_or(engine::DirectRange::Latest, engine::DirectRange::Since),
            epoch: resume.direct_epoch,
        };
        let number = self.read_number();
        if let Some(state) = self.conns.get_mut(&conn) {
            state.user = Some(user);
            state.direct_catching_up = Some(number);
        }
        self.send_to(conn, &welcome);
        self.read(Ctx::DirectCatchUp { conn, read: number }, read);
        let rooms = if rooms.is_empty() {
            vec![RoomName::default_room()]
        } else {
            rooms
        };
        // The user's groups come along on every tab, asked for or not (those the client
        // knows, it resumes like its rooms). Until the policies are loaded nobody's groups
        // are known: `policies_loaded` joins them then.
        let key = self
            .users
            .get(&user)
            .map(|u| u.key.clone())
            .unwrap_or_default();
        let groups: Vec<RoomName> = self
            .groups_of(&key)
            .into_iter()
            .filter(|group| !rooms.contains(group))
            .collect();
        for room in rooms.into_iter().chain(groups) {
            let since = resume
                .since
                .get(&room)
                .map(|&seq| (seq, resume.epochs.remove(&room)));
            self.join(conn, user, room, since);
        }
    }

    pub(super) fn rename(&mut self, conn: ConnId, user: UserId, nick: Nick) {
        if self.nicks.taken_from(&nick, user) {
            return self.nick_taken(conn, &nick);
        }
        // The engine decides unless every key of the name is this user's already (a rename
        // back and forth between two spellings, say).
        if !self.nicks.holds_all(&nick, user) {
            let Some(key) = self.key_of(user) else {
                return;
            };
            let ctx = Ctx::Rename {
                conn,
                user,
                key: key.clone(),
                nick: nick.clone(),
            };
            return self.engine.claim(ctx, nick, key);
        }
        self.apply_rename(user, nick);
    }

    /// `user` is called `nick` from now on.
    fn apply_rename(&mut self, user: UserId, nick: Nick) {
        let Some(profile) = self.users.get_mut(&user) else {
            return;
        };
        let from = std::mem::replace(&mut profile.nick, nick.clone());
        let key = profile.key.clone();
        let own: Vec<ConnId> = profile.conns.iter().copied().collect();
        self.nicks.remove(&from, user);
        self.nicks.insert(&nick, user);
        // What the two names share (a change of case keeps the lower-case key) stays held.
        self.release_name(&from, key.clone());
        let event = ServerMsg::Renamed {
            from,
            to: nick.clone(),
        };
        let rooms: BTreeSet<RoomName> = own
            .iter()
            .flat_map(|&tab| self.rooms.rooms_of(tab).cloned().collect::<Vec<_>>())
            .collect();
        let sort_key = nick.key();
        for room in &rooms {
            self.rooms.rekey(room, user, &sort_key);
        }
        // The user's own tabs hear it here; each room's members, on whatever node, hear it
        // through the room.
        for room in rooms {
            self.engine.presence(PresenceOp::Renamed {
                room,
                user: key.clone(),
                nick: nick.clone(),
                event: event.clone(),
            });
        }
        self.broadcast(own, &event);
    }

    /// The shared presence lost this node's entries (cluster mode): every user here claims
    /// their nickname again and is entered in their rooms again.
    pub(super) fn reassert(&mut self) {
        let users: Vec<(UserId, String, Nick)> = self
            .users
            .iter()
            .map(|(&id, u)| (id, u.key.clone(), u.nick.clone()))
            .collect();
        for (user, key, nick) in users {
            self.engine.claim(Ctx::Reclaim { user }, nick, key);
        }
        let rooms: Vec<RoomName> = self.rooms.list().map(|(room, _)| room.clone()).collect();
        for room in rooms {
            let users: BTreeSet<UserId> = self.rooms.users(&room).collect();
            for user in users {
                if let Some(u) = self.users.get(&user) {
                    let joiner = engine::Joiner {
                        user: u.key.clone(),
                        nick: u.nick.clone(),
                    };
                    self.engine.presence(PresenceOp::Join {
                        room: room.clone(),
                        joiner,
                    });
                }
            }
        }
    }

    pub(super) fn nick(&self, user: UserId) -> Nick {
        self.users
            .get(&user)
            .map(|u| u.nick.clone())
            .expect("every user in a room or conn map is registered")
    }

    pub(super) fn remove(&mut self, conn: ConnId) {
        let Some(state) = self.conns.remove(&conn) else {
            return;
        };
        for left in self.rooms.leave_all(conn) {
            self.announce_left(left);
        }
        let Some(user) = state.user else {
            return;
        };
        let Some(profile) = self.users.get_mut(&user) else {
            return;
        };
        profile.conns.remove(&conn);
        if profile.conns.is_empty()
            && let Some(gone) = self.users.remove(&user)
        {
            self.keys.remove(&gone.key);
            self.engine.unwatch(Log::User(gone.key.clone()));
            self.nicks.remove(&gone.nick, user);
            self.release_name(&gone.nick, gone.key);
        }
    }
}
