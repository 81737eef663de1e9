//! Presence in memory: the single-node engine's answers to the questions the cluster's
//! shared presence (`redis/presence.lua`) answers for many nodes: who owns a nickname, who
//! is in which room, the room list and a room's member pages. The same rules, so that the
//! hub asks one engine in one way whatever the mode.
//!
//! A user is in a room once however many of their tabs are ([`Presence::join`] is called
//! for a user's first tab in a room, [`Presence::leave`] for their last). A nickname is held
//! by its two look-alike keys ([`crate::names::likeness`]); two nicknames sharing either are
//! one.

use std::collections::{BTreeMap, BTreeSet, HashMap, hash_map::Entry};

use shared::{Nick, RoomInfo, RoomName, ServerMsg};

use super::vocabulary::{Joiner, MemberPage};

/// Who is where, and who owns which nickname, on this node (which is the whole chat).
#[derive(Debug, Default)]
pub struct Presence {
    /// Nickname key → the user key that owns it, and the nickname as they spell it.
    nicks: HashMap<String, (String, Nick)>,
    /// Rooms with members.
    rooms: BTreeMap<RoomName, Members>,
}

/// A room's members.
#[derive(Debug, Default)]
struct Members {
    /// User key → their nickname's sort key ([`Nick::key`]) and their nickname.
    users: HashMap<String, (String, Nick)>,
    /// (sort key, user key): the order pages follow.
    sorted: BTreeSet<(String, String)>,
}

impl Presence {
    /// Gives `nick` to `user` unless another user holds one of its keys: whether it is
    /// `user`'s now.
    pub fn claim(&mut self, nick: &Nick, user: &str) -> bool {
        let keys = crate::names::likeness(nick);
        if keys
            .iter()
            .any(|key| self.nicks.get(key).is_some_and(|(owner, _)| owner != user))
        {
            return false;
        }
        for key in keys {
            self.nicks.insert(key, (user.to_owned(), nick.clone()));
        }
        true
    }

    /// Frees those of `keys` that `user` holds.
    pub fn release(&mut self, keys: &[String], user: &str) {
        for key in keys {
            if let Entry::Occupied(held) = self.nicks.entry(key.clone())
                && held.get().0 == user
            {
                held.remove();
            }
        }
    }

    /// The user key of whoever is called `nick` (ignoring case), if anyone is. The holder of
    /// a look-alike is not: a look-alike names nobody.
    pub fn holder(&self, nick: &Nick) -> Option<&str> {
        self.holder_named(nick).map(|(owner, _)| owner)
    }

    /// The user key of whoever is called `nick` (as [`Presence::holder`]), and the name as
    /// they spell it.
    pub fn holder_named(&self, nick: &Nick) -> Option<(&str, &Nick)> {
        let [folded, _] = crate::names::likeness(nick);
        self.nicks
            .get(&folded)
            .filter(|(_, name)| name.key() == nick.key())
            .map(|(owner, name)| (owner.as_str(), name))
    }

    /// Whether the user with key `user` is in `room`.
    pub fn present(&self, room: &RoomName, user: &str) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|members| members.users.contains_key(user))
    }

    /// Puts `joiner` in `room`: the room's count and first page of at most `page` members,
    /// and the `presence` event to announce when they were not in it yet.
    pub fn join(
        &mut self,
        room: &RoomName,
        joiner: &Joiner,
        page: usize,
    ) -> (MemberPage, Option<ServerMsg>) {
        let members = self.rooms.entry(room.clone()).or_default();
        let sort_key = joiner.nick.key();
        let arrived = match members.users.entry(joiner.user.clone()) {
            Entry::Occupied(_) => false,
            Entry::Vacant(entry) => {
                entry.insert((sort_key.clone(), joiner.nick.clone()));
                members.sorted.insert((sort_key, joiner.user.clone()));
                true
            }
        };
        let event = arrived.then(|| presence_event(room, members.count(), &joiner.nick, true));
        (self.members(room, None, "", page), event)
    }

    /// Takes `user` out of `room`: the `presence` event to announce when they were in it.
    pub fn leave(&mut self, room: &RoomName, user: &str) -> Option<ServerMsg> {
        let members = self.rooms.get_mut(room)?;
        let (sort_key, nick) = members.users.remove(user)?;
        members.sorted.remove(&(sort_key, user.to_owned()));
        let count = members.count();
        if count == 0 {
            self.rooms.remove(room);
        }
        Some(presence_event(room, count, &nick, false))
    }

    /// `user` is called `nick` now: their entry in `room` (if any) follows.
    pub fn renamed(&mut self, room: &RoomName, user: &str, nick: &Nick) {
        let Some(members) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(entry) = members.users.get_mut(user) else {
            return;
        };
        let old_key = std::mem::replace(&mut entry.0, nick.key());
        entry.1 = nick.clone();
        members.sorted.remove(&(old_key, user.to_owned()));
        members.sorted.insert((nick.key(), user.to_owned()));
    }

    /// Every room with members, by name, with its count.
    pub fn rooms(&self) -> Vec<RoomInfo> {
        self.rooms
            .iter()
            .map(|(name, members)| RoomInfo {
                name: name.clone(),
                members: members.count(),
            })
            .collect()
    }

    /// Up to `limit` members of `room` whose key starts with `prefix` (lower case), in key
    /// order, after `after`; with the room's count.
    pub fn members(
        &self,
        room: &RoomName,
        after: Option<&Nick>,
        prefix: &str,
        limit: usize,
    ) -> MemberPage {
        let Some(members) = self.rooms.get(room) else {
            return MemberPage {
                count: 0,
                members: Vec::new(),
                more: false,
            };
        };
        let after = after.map(Nick::key);
        let start = match after {
            // Past every user key of that sort key ('\u{10FFFF}' sorts after any of them).
            Some(after) if after.as_str() >= prefix => {
                std::ops::Bound::Excluded((after, char::MAX.to_string()))
            }
            _ => std::ops::Bound::Included((prefix.to_owned(), String::new())),
        };
        let mut found = members
            .sorted
            .range((start, std::ops::Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .filter_map(|(_, user)| members.users.get(user).map(|(_, nick)| nick.clone()));
        let page: Vec<Nick> = found.by_ref().take(limit).collect();
        let more = found.next().is_some();
        MemberPage {
            count: members.count(),
            members: page,
            more,
        }
    }
}

impl Members {
    fn count(&self) -> u32 {
        u32::try_from(self.users.len()).unwrap_or(u32::MAX)
    }
}

/// The `presence` event for one member who arrived or left (the hub coalesces these).
fn presence_event(room: &RoomName, count: u32, nick: &Nick, joined: bool) -> ServerMsg {
    let (joined, left) = if joined {
        (vec![nick.clone()], Vec::new())
    } else {
        (Vec::new(), vec![nick.clone()])
    };
    ServerMsg::Presence {
        room: room.clone(),
        count,
        joined,
        left,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(name: &str) -> Nick {
        name.parse().unwrap()
    }

    fn joiner(user: &str, name: &str) -> Joiner {
        Joiner {
            user: user.to_owned(),
            nick: nick(name),
        }
    }

    #[test]
    fn a_nickname_is_one_users_until_released() {
        let mut presence = Presence::default();
        assert!(presence.claim(&nick("Alice"), "a"));
        assert!(
            presence.claim(&nick("alice"), "a"),
            "another spelling, the same user"
        );
        assert!(
            !presence.claim(&nick("ALICE"), "b"),
            "a look-alike is taken"
        );
        assert_eq!(presence.holder(&nick("alice")), Some("a"));
        assert_eq!(
            presence.holder(&nick("\u{410}lice")),
            None,
            "a look-alike names nobody"
        );
        presence.release(&crate::names::likeness(&nick("Alice")), "b");
        assert_eq!(
            presence.holder(&nick("alice")),
            Some("a"),
            "only the owner releases"
        );
        presence.release(&crate::names::likeness(&nick("Alice")), "a");
        presence.release(&crate::names::likeness(&nick("alice")), "a");
        assert_eq!(presence.holder(&nick("alice")), None);
        assert!(presence.claim(&nick("ALICE"), "b"));
    }

    #[test]
    fn members_are_counted_once_paged_in_key_order_and_announced() {
        let room: RoomName = "lobby".parse().unwrap();
        let mut presence = Presence::default();
        for (user, name) in [("c", "carol"), ("a", "Alice"), ("b", "bob")] {
            let (_, event) = presence.join(&room, &joiner(user, name), 2);
            assert!(matches!(event, Some(ServerMsg::Presence { .. })));
        }
        let (page, again) = presence.join(&room, &joiner("a", "Alice"), 2);
        assert!(again.is_none(), "a second tab is no arrival");
        assert_eq!(page.count, 3);
        assert_eq!(page.members, [nick("Alice"), nick("bob")]);
        assert!(page.more);
        let next = presence.members(&room, Some(&nick("bob")), "", 2);
        assert_eq!((next.members, next.more), (vec![nick("carol")], false));
        let found = presence.members(&room, None, "ca", 2);
        assert_eq!(found.members, [nick("carol")]);
        presence.renamed(&room, "c", &nick("aaron"));
        assert_eq!(
            presence.members(&room, None, "", 1).members,
            [nick("aaron")]
        );
        assert_eq!(
            presence.rooms(),
            [RoomInfo {
                name: room.clone(),
                members: 3
            }]
        );
        let left = presence.leave(&room, "b");
        assert!(matches!(left, Some(ServerMsg::Presence { count: 2, .. })));
        assert!(presence.leave(&room, "b").is_none());
        presence.leave(&room, "a");
        presence.leave(&room, "c");
        assert!(presence.rooms().is_empty(), "an empty room is no room");
    }
}
