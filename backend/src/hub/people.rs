//! Users and nicknames: `hello` (a nickname is unique ignoring case; the same browser token
//! is the same user), renames, and what a connection's end leaves behind.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use sha2::{Digest as _, Sha256};

use super::*;

impl Hub {
    pub(super) fn hello(
        &mut self,
        conn: ConnId,
        nick: Nick,
        token: UserToken,
        rooms: Vec<RoomName>,
        mut resume: Resume,
    ) {
        let user = match self.nicks.get(&nick.key()) {
            Some(&user) if self.users.get(&user).is_some_and(|u| u.token == token) => user,
            Some(_) => {
                let message = format!("the nickname {nick} is taken; choose another");
                return self.refuse(conn, ErrorCode::NickTaken, &message, None);
            }
            None => {
                let user = UserId(self.next_user);
                self.next_user += 1;
                self.nicks.insert(nick.key(), user);
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
                    },
                );
                user
            }
        };
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
                .map_or(store::DirectRange::Latest, store::DirectRange::Since),
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
        for room in rooms {
            let since = resume
                .since
                .get(&room)
                .map(|&seq| (seq, resume.epochs.remove(&room)));
            self.join(conn, user, room, since);
        }
    }

    pub(super) fn rename(&mut self, conn: ConnId, user: UserId, nick: Nick) {
        match self.nicks.get(&nick.key()) {
            Some(&owner) if owner != user => {
                let message = format!("the nickname {nick} is taken; choose another");
                return self.refuse(conn, ErrorCode::NickTaken, &message, None);
            }
            _ => {}
        }
        let Some(profile) = self.users.get_mut(&user) else {
            return;
        };
        let from = std::mem::replace(&mut profile.nick, nick.clone());
        self.nicks.remove(&from.key());
        self.nicks.insert(nick.key(), user);
        // The user's own tabs, and everyone sharing a room with any of them.
        let own: Vec<ConnId> = profile.conns.iter().copied().collect();
        let mut audience: HashSet<ConnId> = own.iter().copied().collect();
        for &tab in &own {
            for room in self.rooms.rooms_of(tab) {
                audience.extend(self.rooms.conns(room).map(|(c, _)| c));
            }
        }
        self.broadcast(audience, &ServerMsg::Renamed { from, to: nick });
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
        if profile.conns.is_empty() {
            let key = profile.nick.key();
            if let Some(gone) = self.users.remove(&user) {
                self.keys.remove(&gone.key);
                self.engine.unwatch(Log::User(gone.key));
            }
            self.nicks.remove(&key);
        }
    }
}

/// The store's key for a user: a hash of their browser token, so the database holds no
/// secret that would let its reader speak as someone.
fn user_key(token: &UserToken) -> String {
    let digest = Sha256::digest(token.as_str().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
