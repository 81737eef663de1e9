//! Room membership: a pure, synchronous registry owned by the hub. Every membership rule lives
//! here, so it is tested without sockets or tasks.
//!
//! Membership is per connection (a tab joins a room); presence is per user (a person with two
//! tabs in a room is one member). Joining reports whether the *user* just appeared in the room,
//! leaving whether they just disappeared, so the hub announces people, not tabs.
//!
//! Each room also keeps its users sorted by their nickname's key ([`shared::Nick::key`]), so
//! that a page of members, or a prefix search, costs the page, not the room: rooms have
//! ten thousand members.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use shared::RoomName;

use crate::ids::{ConnId, UserId};

/// All rooms with at least one member.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: BTreeMap<RoomName, Room>,
    by_conn: HashMap<ConnId, BTreeSet<RoomName>>,
}

#[derive(Debug, Default)]
struct Room {
    /// Each member connection and its user.
    conns: HashMap<ConnId, UserId>,
    /// Each member user: how many of their connections are in, and their sort key.
    users: HashMap<UserId, (usize, String)>,
    /// The users by sort key (a nickname's key is unique among users on a node).
    sorted: BTreeSet<(String, UserId)>,
}

/// What a join changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// The connection was already in the room.
    Already,
    /// The connection is in now; `new_user` if no other tab of the user was.
    Now {
        /// The user was not in the room before.
        new_user: bool,
    },
}

/// What a leave changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Left {
    /// The room left.
    pub room: RoomName,
    /// The user of the connection.
    pub user: UserId,
    /// No other tab of the user is in the room any more.
    pub user_gone: bool,
}

impl Rooms {
    /// Puts `conn` (of `user`, whose nickname's key is `key`) in `room`, creating the room
    /// if needed.
    pub fn join(&mut self, room: &RoomName, conn: ConnId, user: UserId, key: &str) -> Joined {
        let entry = self.rooms.entry(room.clone()).or_default();
        if entry.conns.insert(conn, user).is_some() {
            return Joined::Already;
        }
        self.by_conn.entry(conn).or_default().insert(room.clone());
        let (count, _) = entry
            .users
            .entry(user)
            .or_insert_with(|| (0, key.to_owned()));
        *count += 1;
        let new_user = *count == 1;
        if new_user {
            entry.sorted.insert((key.to_owned(), user));
        }
        Joined::Now { new_user }
    }

    /// `user` sorts under `key` from now on (a rename).
    pub fn rekey(&mut self, room: &RoomName, user: UserId, key: &str) {
        let Some(entry) = self.rooms.get_mut(room) else {
            return;
        };
        if let Some((_, old)) = entry.users.get_mut(&user) {
            let old = std::mem::replace(old, key.to_owned());
            entry.sorted.remove(&(old, user));
            entry.sorted.insert((key.to_owned(), user));
        }
    }

    /// Up to `limit` users of `room` whose key starts with `prefix`, in key order, after
    /// the key `after` (from the first without it); and whether more follow.
    pub fn page(
        &self,
        room: &RoomName,
        after: Option<&str>,
        prefix: &str,
        limit: usize,
    ) -> (Vec<UserId>, bool) {
        let Some(entry) = self.rooms.get(room) else {
            return (Vec::new(), false);
        };
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded((after.to_owned(), UserId(u64::MAX))),
            _ => Bound::Included((prefix.to_owned(), UserId(0))),
        };
        let mut found = entry
            .sorted
            .range((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .map(|&(_, user)| user);
        let page: Vec<UserId> = found.by_ref().take(limit).collect();
        let more = found.next().is_some();
        (page, more)
    }

    /// How many distinct users `room` has.
    pub fn count(&self, room: &RoomName) -> usize {
        self.rooms.get(room).map_or(0, |r| r.users.len())
    }

    /// Takes `conn` out of `room`; `None` if it was not in. An emptied room disappears.
    pub fn leave(&mut self, room: &RoomName, conn: ConnId) -> Option<Left> {
        let entry = self.rooms.get_mut(room)?;
        let user = entry.conns.remove(&conn)?;
        let user_gone = match entry.users.get_mut(&user) {
            Some((count, _)) if *count > 1 => {
                *count -= 1;
                false
            }
            _ => {
                if let Some((_, key)) = entry.users.remove(&user) {
                    entry.sorted.remove(&(key, user));
                }
                true
            }
        };
        if entry.conns.is_empty() {
            self.rooms.remove(room);
        }
        if let Some(rooms) = self.by_conn.get_mut(&conn) {
            rooms.remove(room);
            if rooms.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        Some(Left {
            room: room.clone(),
            user,
            user_gone,
        })
    }

    /// Takes `conn` out of every room it is in.
    pub fn leave_all(&mut self, conn: ConnId) -> Vec<Left> {
        let rooms = self.by_conn.get(&conn).cloned().unwrap_or_default();
        rooms
            .iter()
            .filter_map(|room| self.leave(room, conn))
            .collect()
    }

    /// Whether `conn` is in `room`.
    pub fn contains(&self, room: &RoomName, conn: ConnId) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.conns.contains_key(&conn))
    }

    /// The rooms `conn` is in.
    pub fn rooms_of(&self, conn: ConnId) -> impl Iterator<Item = &RoomName> {
        self.by_conn.get(&conn).into_iter().flatten()
    }

    /// The connections in `room`.
    pub fn conns(&self, room: &RoomName) -> impl Iterator<Item = (ConnId, UserId)> + '_ {
        self.rooms
            .get(room)
            .into_iter()
            .flat_map(|r| r.conns.iter().map(|(c, u)| (*c, *u)))
    }

    /// The distinct users in `room`.
    pub fn users(&self, room: &RoomName) -> impl Iterator<Item = UserId> + '_ {
        self.rooms
            .get(room)
            .into_iter()
            .flat_map(|r| r.users.keys().copied())
    }

    /// How many rooms have members.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether no room has members.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Every room with its number of distinct users, sorted by name.
    pub fn list(&self) -> impl Iterator<Item = (&RoomName, usize)> {
        self.rooms.iter().map(|(name, r)| (name, r.users.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::try_from(name).unwrap()
    }

    fn key(user: UserId) -> String {
        format!("user{:03}", user.0)
    }

    #[test]
    fn pages_list_every_member_once_in_key_order_and_search_by_prefix() {
        let mut rooms = Rooms::default();
        let lobby = room("lobby");
        for n in (0..120).rev() {
            rooms.join(&lobby, ConnId(n), UserId(n), &key(UserId(n)));
        }
        // A second tab does not list its user twice.
        rooms.join(&lobby, ConnId(1000), UserId(7), &key(UserId(7)));
        assert_eq!(rooms.count(&lobby), 120);
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, more) = rooms.page(&lobby, after.as_deref(), "", 50);
            assert!(page.len() <= 50);
            after = page.last().map(|&u| key(u));
            seen.extend(page);
            if !more {
                break;
            }
        }
        assert_eq!(seen, (0..120).map(UserId).collect::<Vec<_>>());
        let (found, more) = rooms.page(&lobby, None, "user11", 50);
        assert_eq!(found, (110..120).map(UserId).collect::<Vec<_>>());
        assert!(!more);
        let (found, more) = rooms.page(&lobby, Some("user112"), "user11", 5);
        assert_eq!(found, (113..118).map(UserId).collect::<Vec<_>>());
        assert!(more);
        // A cursor before the prefix starts at the prefix.
        let (found, _) = rooms.page(&lobby, Some("a"), "user119", 5);
        assert_eq!(found, [UserId(119)]);
        assert_eq!(
            rooms.page(&room("nowhere"), None, "", 5),
            (Vec::new(), false)
        );

        rooms.rekey(&lobby, UserId(0), "zed");
        let (last, _) = rooms.page(&lobby, Some("user119"), "", 5);
        assert_eq!(
            last,
            [UserId(0)],
            "a renamed member sorts under the new name"
        );
        rooms.leave(&lobby, ConnId(0));
        assert_eq!(
            rooms.page(&lobby, Some("user119"), "", 5),
            (Vec::new(), false)
        );
        assert_eq!(rooms.count(&lobby), 119);
    }

    #[test]
    fn two_tabs_of_one_user_are_one_member() {
        let mut rooms = Rooms::default();
        let lobby = room("lobby");
        let alice = UserId(1);
        assert_eq!(
            rooms.join(&lobby, ConnId(1), alice, &key(alice)),
            Joined::Now { new_user: true }
        );
        assert_eq!(
            rooms.join(&lobby, ConnId(2), alice, &key(alice)),
            Joined::Now { new_user: false }
        );
        assert_eq!(
            rooms.join(&lobby, ConnId(2), alice, &key(alice)),
            Joined::Already
        );
        assert_eq!(rooms.users(&lobby).count(), 1);
        assert_eq!(rooms.conns(&lobby).count(), 2);
        assert!(!rooms.leave(&lobby, ConnId(1)).unwrap().user_gone);
        assert!(rooms.leave(&lobby, ConnId(2)).unwrap().user_gone);
        assert_eq!(rooms.list().count(), 0, "empty rooms disappear");
    }

    #[test]
    fn leave_all_reports_every_room() {
        let mut rooms = Rooms::default();
        rooms.join(&room("a"), ConnId(1), UserId(1), &key(UserId(1)));
        rooms.join(&room("b"), ConnId(1), UserId(1), &key(UserId(1)));
        rooms.join(&room("b"), ConnId(2), UserId(2), &key(UserId(2)));
        let left = rooms.leave_all(ConnId(1));
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|l| l.user_gone));
        assert_eq!(
            rooms
                .list()
                .map(|(n, c)| (n.as_str(), c))
                .collect::<Vec<_>>(),
            [("b", 1)]
        );
        assert_eq!(rooms.rooms_of(ConnId(1)).count(), 0);
        assert!(rooms.leave(&room("b"), ConnId(1)).is_none());
    }

    #[test]
    fn membership_is_per_connection_and_counts_are_per_user() {
        let mut rooms = Rooms::default();
        let (a, b) = (room("a"), room("b"));
        assert!(rooms.is_empty());
        assert_eq!(rooms.len(), 0);
        rooms.join(&a, ConnId(1), UserId(1), &key(UserId(1)));
        rooms.join(&a, ConnId(2), UserId(1), &key(UserId(1))); // the same user's second tab
        rooms.join(&a, ConnId(3), UserId(2), &key(UserId(2)));
        rooms.join(&b, ConnId(3), UserId(2), &key(UserId(2)));
        assert!(!rooms.is_empty());
        assert_eq!(rooms.len(), 2);
        assert!(rooms.contains(&a, ConnId(2)));
        assert!(!rooms.contains(&b, ConnId(1)));
        assert!(!rooms.contains(&room("nowhere"), ConnId(1)));
        assert_eq!(
            rooms
                .rooms_of(ConnId(3))
                .map(RoomName::as_str)
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let mut users: Vec<u64> = rooms.users(&a).map(|u| u.0).collect();
        users.sort_unstable();
        assert_eq!(users, [1, 2], "two users, though three connections");
        let mut conns: Vec<(u64, u64)> = rooms.conns(&a).map(|(c, u)| (c.0, u.0)).collect();
        conns.sort_unstable();
        assert_eq!(conns, [(1, 1), (2, 1), (3, 2)]);
        assert_eq!(
            rooms
                .list()
                .map(|(n, c)| (n.as_str(), c))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 1)]
        );
        assert_eq!(rooms.users(&room("nowhere")).count(), 0);
        assert_eq!(rooms.conns(&room("nowhere")).count(), 0);
    }

    #[test]
    fn leaving_reports_who_left_and_forgets_empty_rooms_and_connections() {
        let mut rooms = Rooms::default();
        let a = room("a");
        rooms.join(&a, ConnId(1), UserId(7), &key(UserId(7)));
        rooms.join(&a, ConnId(2), UserId(7), &key(UserId(7)));
        assert_eq!(rooms.leave(&a, ConnId(9)), None, "not a member");
        assert_eq!(
            rooms.leave(&a, ConnId(1)),
            Some(Left {
                room: a.clone(),
                user: UserId(7),
                user_gone: false
            })
        );
        assert_eq!(rooms.rooms_of(ConnId(1)).count(), 0);
        assert!(!rooms.contains(&a, ConnId(1)));
        assert!(rooms.contains(&a, ConnId(2)));
        assert_eq!(rooms.list().map(|(_, c)| c).collect::<Vec<_>>(), [1]);
        // Joining again after leaving is a fresh join of a user still present in another tab.
        assert_eq!(
            rooms.join(&a, ConnId(1), UserId(7), &key(UserId(7))),
            Joined::Now { new_user: false }
        );
        assert_eq!(rooms.leave_all(ConnId(1)).len(), 1);
        let last = rooms.leave_all(ConnId(2));
        assert_eq!(last.len(), 1);
        assert!(last[0].user_gone);
        assert!(rooms.is_empty());
        assert_eq!(rooms.leave(&a, ConnId(2)), None, "the room is gone");
        assert!(rooms.leave_all(ConnId(2)).is_empty());
    }
}
