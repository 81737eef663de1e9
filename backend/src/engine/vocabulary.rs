//! The engines' common vocabulary: what the hub asks an engine ([`NewMessage`], [`Read`],
//! [`Place`]), what it answers ([`Appended`], [`Answer`], [`Event`]) and the errors it can
//! give. Both engines ([`super::sqlite`], [`super::redis`]) speak it and neither owns it; it
//! imports nothing of theirs.

use std::{path::PathBuf, time::Duration};

use shared::{
    Change, ClientMsgId, DirectMessage, Epoch, ErrorCode, HistoryMode, MessageId, Nick, RoomChange,
    RoomEntry, RoomMessage, RoomName, ServerMsg, Text,
};

/// A log the hub has local readers for (the cluster engine then delivers its live messages).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Log {
    /// A room's messages.
    Room(RoomName),
    /// One user's direct messages, by user key.
    User(String),
}

/// How the store behaves; [`crate::Config`] fills it from flags.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Messages in a `latest`, `reset` or `older` page.
    pub page: u32,
    /// Most messages one catch-up sends; a client further behind gets a `reset`.
    pub max_catch_up: u32,
    /// Messages kept per room (older ones are deleted in the background).
    pub retention_messages: Option<u64>,
    /// Messages older than this are deleted in the background.
    pub retention_age: Option<Duration>,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// A `client_id` seen from the same sender within this window is the same message.
    pub dedup_window: Duration,
    /// Size cap of the database file; writes beyond it fail (`store_failed`).
    pub max_bytes: Option<u64>,
    /// Appends per transaction at most; 1 is one transaction per message (the benchmark's
    /// baseline).
    pub max_batch: usize,
    /// Whom a direct message to a nickname nobody holds now reaches (`--auth` decides).
    pub reach: Reach,
    /// Keep the single node's search index in each message's transaction (false: the
    /// benchmark's baseline, measuring what the index costs; never a server's setting, as
    /// the index would miss what was stored meanwhile).
    pub search_index: bool,
    /// Cluster mode: replicas that must have each stored message before anyone hears of it
    /// (`WAIT`), and how long to wait for them (`--redis-wait-replicas`); 0: none.
    pub wait_replicas: u32,
    /// How long a send waits for [`StoreOptions::wait_replicas`] before it fails (and may be
    /// resent: it is stored once).
    pub wait_timeout: Duration,
}

/// Whom a direct message to a nickname nobody holds now reaches: the user who held it
/// last (stored per user key, so only they ever read it), if the auth mode lets a name
/// stand for them while they are away ([`super::rules::reachable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// However long ago they held it: in `accounts` and `jwt` modes a name is an identity
    /// (an account's name is its own for good; a JWT name is the last subject given it).
    Always,
    /// Only if they held it within this long: in `open` mode a free nickname is anyone's,
    /// so it stands for its last holder only for a while after they leave.
    Within(Duration),
}

/// Whom a nickname reaches ([`super::Engine::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// Their user key.
    pub user: String,
    /// The nickname as they spell it (as asked, for someone online).
    pub nick: Nick,
    /// Nobody holds the name now: it reaches its last holder, who is away.
    pub away: bool,
}

/// The last holder of a nickname, as the directory keeps it (both engines).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Holder {
    /// Their user key.
    pub user: String,
    /// The nickname as they spelled it.
    pub nick: Nick,
    /// When they last held it (milliseconds since the Unix epoch).
    pub at: u64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            page: 50,
            max_catch_up: 1000,
            retention_messages: None,
            retention_age: None,
            retention_interval: Duration::from_secs(60),
            dedup_window: Duration::from_secs(24 * 3600),
            max_bytes: None,
            max_batch: 1024,
            reach: Reach::Always,
            search_index: true,
            wait_replicas: 0,
            wait_timeout: Duration::from_secs(1),
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A room.
    Room(RoomName),
    /// A user.
    Direct {
        /// The recipient's user key (see [`NewMessage::sender`]); `None` when the recipient
        /// is not on this node's hub (the engine looks their nickname up).
        recipient: Option<String>,
        /// The recipient's nickname now.
        to: Nick,
        /// Set by the engine when it found the recipient in the nickname directory (nobody
        /// holds the name now): the stored message is then also an [`Event::Away`].
        away: bool,
    },
}

/// What a new log entry says.
#[derive(Debug, Clone)]
pub enum Body {
    /// A message (in a room, perhaps answering one there: the store quotes it).
    Text {
        /// The text.
        text: Text,
        /// The message of the same room it answers.
        reply_to: Option<MessageId>,
        /// Its image (uploaded for the room; checked by the session).
        image: Option<shared::Image>,
        /// Its file (the same; a message has an image or a file, not both).
        file: Option<Box<shared::File>>,
    },
    /// A change to message `target` of the room (rooms only).
    Change {
        /// The message.
        target: MessageId,
        /// What changes.
        change: Change,
        /// Whether only the message's author may make it.
        authority: Authority,
    },
}

/// Who may change a message: checked by the store, which knows who wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// Only its author (the same user key).
    Author,
    /// Any member (reactions; a moderator's deletion, the hub checked the rank).
    Anyone,
}

impl Body {
    /// A plain message.
    pub fn text(text: Text) -> Self {
        Self::Text {
            text,
            reply_to: None,
            image: None,
            file: None,
        }
    }
}

/// A message to store.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Room or user.
    pub target: Target,
    /// A stable key for the sending user (a hash of their browser token): idempotent sends
    /// and direct-message history are per key, not per nickname, which anyone may take once
    /// its owner is gone.
    pub sender: String,
    /// The sender's nickname now.
    pub from: Nick,
    /// What it says.
    pub body: Body,
    /// The sender's id for it.
    pub client_id: ClientMsgId,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
}

/// A message as stored, with its id (and sequence number, in a room).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// In a room: a message or a change.
    Room {
        /// The room.
        room: RoomName,
        /// The entry.
        entry: RoomEntry,
    },
    /// Between two users.
    Direct(DirectMessage),
}

/// What became of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now.
    New(Stored),
    /// The sender sent this `client_id` before, within the window: the original, not stored
    /// again.
    Duplicate(Stored),
    /// Not stored; the reason, for the sender.
    Failed(EngineError),
    /// Not stored: the request is wrong (a change of a message that is not there, or not
    /// the sender's); the code and reason, for the sender.
    Refused(ErrorCode, String),
    /// Stored: the message, the sender's acknowledgement included, is delivered live to its
    /// log's readers ([`Event::LiveRoom`], [`Event::LiveDirect`]). The entry, for what the
    /// sender's node alone does once (pushes to people who are away).
    Sent(Stored),
    /// Not stored: nobody online has the recipient's nickname.
    NoRecipient(Nick),
}

/// What to read.
#[derive(Debug, Clone)]
pub enum Read {
    /// A room's messages.
    Room {
        /// The room.
        room: RoomName,
        /// Which ones.
        range: RoomRange,
        /// The epoch the client's `since` belongs to: another one than the log's means a
        /// reset.
        epoch: Option<Epoch>,
        /// The reader joining the room, when this read is a join's: the engine enters them in
        /// the room's presence first and answers with its members.
        joiner: Option<Joiner>,
    },
    /// A user's direct messages (sent and received).
    Direct {
        /// The user key.
        user: String,
        /// Which ones.
        range: DirectRange,
        /// The epoch the client's `since` belongs to.
        epoch: Option<Epoch>,
    },
}

/// Where a user reads: a room, or the direct conversation with another user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A room (positions are `seq`s).
    Room(RoomName),
    /// The conversation with the user of this nickname (positions are the direct messages'
    /// `seq`s, the conversation's order).
    Direct(Nick),
}

impl Place {
    /// Its key in storage: `r:ROOM` or `d:NICKNAME` (lower case).
    pub fn key(&self) -> String {
        match self {
            Self::Room(room) => format!("r:{room}"),
            Self::Direct(nick) => format!("d:{}", nick.key()),
        }
    }
}

/// Where, among a user's read positions, their choice not to share them (`share_reads`
/// off) is kept: a position of 1.
pub const PRIVATE_READS: &str = "s:private";

/// A user's read positions, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    /// Per room, the last `seq` read.
    pub rooms: std::collections::BTreeMap<RoomName, u64>,
    /// Per conversation (the other user's nickname in lower case), the last id read.
    pub directs: std::collections::BTreeMap<Nick, u64>,
    /// The user shares none of them with others ([`PRIVATE_READS`]).
    pub private: bool,
}

impl Positions {
    /// Adds the position stored under `key` (see [`Place::key`]); unreadable keys are skipped.
    pub fn insert(&mut self, key: &str, position: u64) {
        if key == PRIVATE_READS {
            self.private = position != 0;
        } else if let Some(room) = key.strip_prefix("r:").and_then(|r| r.parse().ok()) {
            self.rooms.insert(room, position);
        } else if let Some(nick) = key.strip_prefix("d:").and_then(|n| n.parse().ok()) {
            self.directs.insert(nick, position);
        }
    }

    /// One position.
    pub fn one(place: &Place, position: u64) -> Self {
        let mut positions = Self::default();
        positions.insert(&place.key(), position);
        positions
    }

    /// The `read_positions` event.
    pub fn into_event(self) -> shared::ServerMsg {
        shared::ServerMsg::ReadPositions {
            rooms: self.rooms,
            directs: self.directs,
        }
    }
}

/// Who joins a room with a history read.
#[derive(Debug, Clone)]
pub struct Joiner {
    /// Their user key.
    pub user: String,
    /// Their nickname.
    pub nick: Nick,
}

/// A page of a room's members, sorted by [`Nick::key`], from the engine's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberPage {
    /// How many members the room has (for a join's page; 0 where not asked).
    pub count: u32,
    /// At most [`shared::MEMBER_PAGE`] of them.
    pub members: Vec<Nick>,
    /// Whether more follow the last one.
    pub more: bool,
}

/// Which of a user's direct messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectRange {
    /// The latest page.
    Latest,
    /// Everything after this id (or a reset, if that cannot be done).
    Since(MessageId),
    /// The latest page, as a `reset` (the log was replaced under the client).
    Reset,
    /// The page after this id, oldest first (an export reads the whole log this way, a
    /// page at a time).
    After(MessageId),
}

/// Which messages of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomRange {
    /// The latest page.
    Latest,
    /// Everything after this sequence number (or a reset, if that cannot be done).
    Since(u64),
    /// The page before this sequence number.
    Before(u64),
    /// The page after this sequence number (messages only, oldest first).
    After(u64),
    /// The page around this sequence number: up to half a page before it, the rest from it
    /// on (messages only, oldest first).
    Around(u64),
    /// The latest page, as a `reset`: the client's `since` belongs to another epoch.
    Reset,
}

/// The answer to a [`Read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Room messages, oldest first.
    Room {
        /// The room.
        room: RoomName,
        /// How they relate to the request.
        mode: HistoryMode,
        /// Oldest first, each as it is now.
        messages: Vec<RoomMessage>,
        /// Changes in the range read (a catch-up's), oldest first.
        changes: Vec<RoomChange>,
        /// Whether older ones exist.
        more_before: bool,
        /// The log's epoch.
        epoch: Epoch,
        /// The room's member count and first members (for a join's read; see
        /// [`Read::Room`]).
        members: Option<MemberPage>,
    },
    /// Direct messages, oldest first.
    Direct {
        /// How they relate to the request.
        mode: HistoryMode,
        /// Oldest first.
        messages: Vec<DirectMessage>,
        /// The log's epoch.
        epoch: Epoch,
        /// The user's read positions (read with their direct messages: both are what the
        /// user has, asked for once per `hello`).
        positions: Positions,
    },
}

/// An answer from the store thread, in job order.
#[derive(Debug)]
pub enum Event<C> {
    /// An append is done.
    Appended {
        /// The context given with the job.
        ctx: C,
        /// Its outcome.
        outcome: Appended,
    },
    /// A read is done.
    Read {
        /// The context given with the job.
        ctx: C,
        /// The messages, or why they could not be read.
        answer: Result<Answer, EngineError>,
    },
    /// A room entry stored by any node, in the room's order, once, for a watched room: to
    /// the room's connections here.
    LiveRoom {
        /// The room.
        room: RoomName,
        /// The message or change.
        entry: RoomEntry,
    },
    /// A direct message sent or received by `user` (a user key), once per watched user: to
    /// that user's connections here.
    LiveDirect {
        /// The user key.
        user: String,
        /// The message.
        message: DirectMessage,
    },
    /// A direct message was stored for `user` (a user key), who holds no nickname anywhere:
    /// they were found in the nickname directory, away, and may be told by a push. Once
    /// per message, by the engine that stored it.
    Away {
        /// The recipient's user key.
        user: String,
        /// The message.
        message: DirectMessage,
    },
    /// A log was replaced under its readers (cluster mode: Redis lost its data): everyone
    /// reading it here needs a `reset` history of the new log.
    LogReset {
        /// The log.
        log: Log,
    },
    /// The answer to a nickname claim.
    Claimed {
        /// The context given with the claim.
        ctx: C,
        /// Whether the nickname is the user's now, or why the engine could not say.
        granted: Result<bool, EngineError>,
    },
    /// A presence event in a room, from this node or another: to the room's connections
    /// here.
    RoomEvent {
        /// The room.
        room: RoomName,
        /// The user key of who caused it.
        user: String,
        /// The event (`presence`, `typing`, `renamed`).
        event: shared::ServerMsg,
    },
    /// This node's entries in the shared presence are gone (cluster mode: Redis was wiped,
    /// or this node was cut off long enough to be taken for dead): the hub enters its users
    /// again.
    PresenceLost,
    /// An event for every tab of `user` (a user key): a read position that moved.
    UserEvent {
        /// The user key.
        user: String,
        /// The event.
        event: shared::ServerMsg,
    },
    /// The answer to [`super::Engine::resolve`]: for each nickname asked about, in order,
    /// whom it reaches (nobody: `None`).
    Resolved {
        /// The context given with the request.
        ctx: C,
        /// Whom each nickname reaches.
        found: Result<Vec<Option<Reached>>, EngineError>,
    },
    /// The answer to [`super::Engine::absent`]: those of the users asked about who are in
    /// the room on no node.
    Absent {
        /// The context given with the request.
        ctx: C,
        /// Their user keys.
        users: Vec<String>,
    },
    /// The answer to [`super::Engine::positions_of`]: the position of each user asked
    /// about who has one there and shares it.
    PositionsOf {
        /// The context given with the request.
        ctx: C,
        /// (user key, position).
        positions: Vec<(String, u64)>,
    },
    /// The answer to a room list request.
    Rooms {
        /// The context given with the request.
        ctx: C,
        /// Every room with members, sorted by name.
        rooms: Result<Vec<shared::RoomInfo>, EngineError>,
    },
    /// The answer to a member page request.
    Members {
        /// The context given with the request.
        ctx: C,
        /// The page.
        page: Result<MemberPage, EngineError>,
    },
    /// The answer to [`super::Engine::logs`].
    Logs {
        /// The context given with the request.
        ctx: C,
        /// Every room with a log (messages now or once), sorted by name.
        rooms: Result<Vec<RoomName>, EngineError>,
    },
    /// The answer to [`super::Engine::search`].
    Found {
        /// The context given with the request.
        ctx: C,
        /// The page of hits.
        result: Result<SearchPage, EngineError>,
    },
}

/// One page of what a search found (see [`super::search`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchPage {
    /// The hits, in the order asked.
    pub hits: Vec<shared::search::SearchHit>,
    /// Where the next page starts (none: nothing more).
    pub next: Option<String>,
}

/// Why an engine could not do what was asked: the hub tells the client to try again. Its
/// cause is kept as text, so that an answer carrying it stays cheap to clone and compare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Redis failed or did not answer (cluster mode).
    #[error("{0}")]
    Redis(String),
    /// The SQLite store failed (one node).
    #[error("{0}")]
    Store(String),
    /// Something stored could not be read back, or a script answered short.
    #[error("{0}")]
    Unreadable(String),
    /// A task the engine needs has stopped (the server is shutting down).
    #[error("{0} has stopped")]
    Stopped(&'static str),
    /// No randomness for a new epoch or node name.
    #[error("no randomness for {0}")]
    Randomness(String),
}

impl EngineError {
    /// Something read back that does not parse.
    pub fn unreadable(err: impl std::fmt::Display) -> Self {
        Self::Unreadable(err.to_string())
    }
}

impl From<redis::RedisError> for EngineError {
    fn from(err: redis::RedisError) -> Self {
        Self::Redis(err.to_string())
    }
}

impl From<rusqlite::Error> for EngineError {
    fn from(err: rusqlite::Error) -> Self {
        Self::Store(err.to_string())
    }
}

/// The store could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the message store {}: {reason}", path.display())]
pub struct OpenError {
    /// The database file (or the directory that should hold it).
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// The store thread has stopped.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the message store has stopped")]
pub struct StoreClosed;

/// A change to presence (rooms' members, nicknames) or an event for a room's members, in
/// the order the hub made them. The cluster shares presence between nodes (a user's changes
/// run one at a time, so that a quick join and leave cannot be applied the other way
/// round); one node keeps it in memory.
pub enum PresenceOp {
    /// A user with tabs here is in a room (entered again after the shared presence lost it;
    /// a join's own entry comes with its history read).
    Join {
        /// The room.
        room: RoomName,
        /// The user.
        joiner: Joiner,
    },
    /// A user's last tab here left a room.
    Leave {
        /// The room.
        room: RoomName,
        /// The user key.
        user: String,
    },
    /// A user's last tab here is gone, or they renamed: these keys of their (old) nickname
    /// are free unless another node has them. The engine notes the user in the nickname
    /// directory as its holder until now before it frees the keys, so a direct message
    /// that finds the name free finds them.
    Release {
        /// The nickname's keys ([`crate::names::likeness`]) that nobody here holds now.
        keys: Vec<String>,
        /// The user key.
        user: String,
        /// The nickname.
        nick: Nick,
    },
    /// A user renamed: their entry in `room` changes and the room hears `event`.
    Renamed {
        /// The room.
        room: RoomName,
        /// The user key.
        user: String,
        /// The new nickname.
        nick: Nick,
        /// The `renamed` event.
        event: ServerMsg,
    },
    /// An event (typing) for every node with members in `room`.
    Announce {
        /// The room.
        room: RoomName,
        /// Who caused it (user key): their own tabs are left out where the rules say so.
        user: String,
        /// The event.
        event: ServerMsg,
    },
}
