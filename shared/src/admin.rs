//! The admin console's HTTP API, for server admins (`--admin`, in accounts and jwt modes):
//! what it answers. The user is named as on [`crate::paths::API_UPLOADS`]; every endpoint
//! answers 401 without one and 403 to a user who is not a server admin (open mode has none).

use serde::{Deserialize, Serialize};

use crate::{MessageId, ModAction, Nick, RoomName};

/// One kept line of the moderation log: who did what in which room, and when. Every act of
/// room moderation (invitations, moderators, kicks, bans, mutes, topics) adds one, in the
/// same write as the change itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When, in milliseconds since the Unix epoch (the clock of the node that wrote it).
    pub at_ms: u64,
    /// The room; none for an act on the whole server (a server-wide ban).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomName>,
    /// Who did it.
    pub by: Nick,
    /// What, as the room was told.
    pub action: ModAction,
    /// For an act on the whole server: the user acted on, as the admin named them (an
    /// account's name, or a JWT `sub`, which may be no nickname: then `action` says
    /// `jwt-user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A page of the moderation log, newest first: `GET` [`crate::paths::API_ADMIN_LOG`], then
/// `?before=NEXT` for the page after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    /// At most [`LOG_PAGE`] entries, newest first.
    pub entries: Vec<LogEntry>,
    /// Where the next (older) page starts; none at the log's beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `POST` [`crate::paths::API_ADMIN_BAN`]: ban `user` from the whole server, or lift the
/// ban. `user` is an account's name (accounts mode) or a token's `sub` (jwt mode, as it is).
/// A ban is of that account or subject: a new account is a new user. A banned
/// user's connections on every node are told `removed` for each room they are in and closed
/// with [`crate::close::BANNED`]; their `hello` (and in accounts mode their login) is refused
/// until the ban is lifted. Server admins cannot be banned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// Who.
    pub user: String,
    /// Banned (`true`) or no longer.
    pub banned: bool,
}

/// `POST` [`crate::paths::API_ADMIN_REMOVE`]: remove a message from a room, as its
/// moderators may (server admins outrank them; a group's messages are nobody's to remove but
/// their authors'). The room sees the deletion as any moderator's; the log keeps
/// [`ModAction::MessageRemoved`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remove {
    /// The room.
    pub room: RoomName,
    /// The message.
    pub id: MessageId,
}

/// `POST` [`crate::paths::API_ADMIN_CLOSE`]: close a room (`closed: true`), or reopen it.
/// A closed room refuses `join` (but a server admin's, who may read it), `say`, `typing` and
/// changes other than deletions with `room_closed`; everyone in it but server admins is
/// told `removed` with the reason `closed`. Its history is kept. Groups and the lobby cannot
/// be closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Close {
    /// The room.
    pub room: RoomName,
    /// Closed (`true`) or open again.
    pub closed: bool,
}

/// `POST` [`crate::paths::API_ADMIN_PASSWORD`] (accounts mode): give `user`'s account a new
/// password (the same rules as at sign-up) and end every session of it: their open sockets
/// are closed with [`crate::close::UNAUTHENTICATED`] at their next session check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordReset {
    /// The account's name.
    pub user: String,
    /// Its new password.
    pub password: String,
}

/// `POST` [`crate::paths::API_ADMIN_REVOKE`] (accounts mode): end every session of `user`'s
/// account, as [`PasswordReset`] does without changing the password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    /// The account's name.
    pub user: String,
}

/// Entries per [`LogPage`].
pub const LOG_PAGE: usize = 100;

/// One room as the console lists it (`GET` [`crate::paths::API_ADMIN_ROOMS`]): its rules,
/// and how many are in it now. Groups are not listed (they are as closed as direct
/// messages, to admins too): [`Rooms::groups`] counts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    /// The room.
    pub name: RoomName,
    /// Invisible and closed to anyone not invited.
    pub private: bool,
    /// Who created it (none: made by `join`, moderated by server admins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Nick>,
    /// Its moderators, sorted by [`Nick::key`].
    pub moderators: Vec<Nick>,
    /// How many users are banned from it.
    pub banned: u32,
    /// At most this many users at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_members: Option<u32>,
    /// What it is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Distinct users in it now, on every node.
    pub online: u32,
    /// Closed by a server admin ([`Close`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}

/// Every room with rules or with someone in it, sorted by name, and how many groups exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rooms {
    /// The rooms.
    pub rooms: Vec<RoomSummary>,
    /// Group conversations (not listed, only counted).
    pub groups: u32,
}

/// One room opened in the console (`GET` [`crate::paths::API_ADMIN_ROOM`]`?room=NAME`): its
/// summary, who is in it now and who its rules name. A group is refused (403).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomDetail {
    /// As in the list.
    pub room: RoomSummary,
    /// Who is in it now, sorted by [`Nick::key`]: the first [`crate::MEMBER_PAGE`].
    pub members: Vec<Nick>,
    /// Whether more are in it than `members` shows.
    pub more_members: bool,
    /// Invited users (a private room), sorted by [`Nick::key`].
    pub invited: Vec<Nick>,
    /// Banned users, sorted by [`Nick::key`].
    pub banned: Vec<Nick>,
    /// Users muted now, sorted by [`Nick::key`].
    pub muted: Vec<Nick>,
}

/// The server's own numbers at the moment asked (`GET` [`crate::paths::API_ADMIN_STATS`]):
/// the gauges as they are and the counters since start-up, from the same metrics `/metrics`
/// exports. The console polls it and draws each counter's change per interval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// `backend --version`'s words.
    pub version: String,
    /// Which server process answered (its process id and start time): the numbers are that
    /// node's, and in a cluster the load balancer may send each poll to another node, so the
    /// console starts its charts again when this changes.
    pub node: String,
    /// Open chat connections, every transport (`chat_connections_open{endpoint="chat"}`).
    pub connections: u64,
    /// Users online on this node (`chat_users_online`).
    pub users_online: u64,
    /// Chat messages received since start-up (`chat_messages_in_total{endpoint="chat"}`).
    pub messages_in: u64,
    /// Store transactions since start-up (`chat_store_commit_seconds`' count; one node).
    pub store_commits: u64,
    /// Their total time in microseconds (its sum): with `store_commits`, the mean latency.
    pub store_commit_micros: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The app reads these with its own decoder (`crate::lean`): it must read exactly what
    /// serde writes on the server.
    #[test]
    fn the_apps_decoder_reads_what_the_server_writes() {
        let page = LogPage {
            entries: vec![
                LogEntry {
                    at_ms: 1_765_000_000_000,
                    room: Some("팀".parse().unwrap()),
                    by: "olga".parse().unwrap(),
                    action: ModAction::Banned {
                        user: "carol".parse().unwrap(),
                    },
                    target: None,
                },
                LogEntry {
                    at_ms: 1_765_000_000_001,
                    room: None,
                    by: "dave".parse().unwrap(),
                    action: ModAction::Topic {
                        topic: "release day".into(),
                    },
                    target: Some("auth0|1234567890".into()),
                },
            ],
            next: Some("1765000000000-0".into()),
        };
        let value = serde_json::to_value(&page).unwrap();
        assert_eq!(crate::lean::read::<LogPage, _>(&&value).unwrap(), page);
        let last = LogPage {
            entries: Vec::new(),
            next: None,
        };
        let value = serde_json::to_value(&last).unwrap();
        assert_eq!(crate::lean::read::<LogPage, _>(&&value).unwrap(), last);
        let stats = Stats {
            version: "0.1.0 (commit abc)".into(),
            node: "4242@1765000000000".into(),
            connections: 3,
            users_online: 2,
            messages_in: 1_000_000,
            store_commits: 12,
            store_commit_micros: 4_567,
        };
        let value = serde_json::to_value(&stats).unwrap();
        assert_eq!(crate::lean::read::<Stats, _>(&&value).unwrap(), stats);
        let summary = RoomSummary {
            name: "ops".parse().unwrap(),
            private: true,
            owner: Some("olga".parse().unwrap()),
            moderators: vec!["dave".parse().unwrap()],
            banned: 2,
            max_members: Some(40),
            topic: Some("on call".into()),
            online: 3,
            closed: true,
        };
        let bare = RoomSummary {
            name: "lobby".parse().unwrap(),
            private: false,
            owner: None,
            moderators: Vec::new(),
            banned: 0,
            max_members: None,
            topic: None,
            online: 0,
            closed: false,
        };
        let rooms = Rooms {
            rooms: vec![summary.clone(), bare],
            groups: 4,
        };
        let value = serde_json::to_value(&rooms).unwrap();
        assert_eq!(crate::lean::read::<Rooms, _>(&&value).unwrap(), rooms);
        let detail = RoomDetail {
            room: summary,
            members: vec!["민지".parse().unwrap()],
            more_members: true,
            invited: vec!["bob".parse().unwrap()],
            banned: vec!["carol".parse().unwrap()],
            muted: Vec::new(),
        };
        let value = serde_json::to_value(&detail).unwrap();
        assert_eq!(crate::lean::read::<RoomDetail, _>(&&value).unwrap(), detail);
        // And the server reads what the app writes.
        let ban = Ban {
            user: "민지 \"x\"".into(),
            banned: true,
        };
        assert_eq!(serde_json::from_str::<Ban>(&ban.to_json()).unwrap(), ban);
        let close = Close {
            room: "팀".parse().unwrap(),
            closed: true,
        };
        assert_eq!(
            serde_json::from_str::<Close>(&close.to_json()).unwrap(),
            close
        );
        let remove = Remove {
            room: "ops".parse().unwrap(),
            id: MessageId(42),
        };
        assert_eq!(
            serde_json::from_str::<Remove>(&remove.to_json()).unwrap(),
            remove
        );
        assert_eq!(ban.to_json(), serde_json::to_string(&ban).unwrap());
    }
}
