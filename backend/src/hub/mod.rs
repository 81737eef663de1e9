//! The hub: the one owner of chat state (users, nicknames, rooms, typing), run as a single task
//! that sessions talk to through a channel. No locks; one global order of events.
//!
//! Messages are stored before they are sent: `say` and `direct` go to the [`engine::sqlite::Store`] thread,
//! and the hub broadcasts each one when the store reports it written (a failed write is an
//! error to the sender and nothing else). History reads go through the same store queue, and
//! while a connection waits for a room's history, live messages of that room skip it: the
//! store's ordering guarantees they are in the history it will get (see [`crate::engine::sqlite`]).
//!
//! The hub never awaits a session. Every outgoing event is encoded once into a [`Frame`] and
//! handed to each recipient's bounded outbox with `try_send`; a full outbox means that reader
//! is too slow, so it is cut off (its kick token is cancelled and its session closes with
//! 1013) while everyone else carries on. Memory per connection is therefore bounded by the
//! outbox capacity.
//!
//! # Layout
//! - `mod.rs`: [`HubHandle`], the commands, the hub's state and its run loop.
//! - `people.rs`: users and nicknames: `hello`, renames, a connection's end.
//! - `membership.rs`: joining and leaving rooms, the room list, typing.
//! - `presence.rs`: member pages, coalesced presence events, typing slots: what keeps a
//!   room of ten thousand from costing its square.
//! - `messages.rs`: sending (stored first), the store's answers, history reads.
//! - `policies.rs`: owned and private rooms: creating, inviting, who may join and see what.
//! - `groups.rs`: group conversations: creating one, joining its members' tabs, leaving.
//! - `seen.rs`: "seen": how far the others have read direct and group conversations.
//! - `search.rs`: `search`: who may find what, asked of the engine's index.
//! - `previews.rs`: link previews: asking for one when a message is stored, appending it.
//! - `away.rs`: who hears of a stored message by a push (direct messages to people away,
//!   @mentions).
//! - `delivery.rs`: encoding an event once and queueing it for its recipients; slow readers.
//! - `imports.rs`: what an admin's import (the transfer module) stores: rooms' policies, and
//!   entries with their original times, through the engine like any message.
//! - `admin.rs`: what the admin console asks: the rooms, their rules and who is in them.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use shared::{
    Change, ClientMsg, ClientMsgId, Epoch, ErrorCode, MessageId, ModAction, Nick, RemovedReason,
    RoomInfo, RoomName, ServerMsg, Text, UserToken,
};
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

pub use self::records::ImportOp;
use crate::ids::{ConnId, UserId};
use crate::policy::Act;
use crate::{
    Config,
    engine::{
        self, Answer, Appended, Authority, Body, Engine, EngineError, Log, NewMessage, OpenError,
        PresenceOp, Read, RoomRange, Stored, Target,
    },
    metrics::Metrics,
    names::NickMap,
    outgoing::Frame,
    redis_set::RedisSet,
    rooms::Rooms,
};

/// The hub task has stopped (server shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the chat hub has stopped")]
pub struct HubClosed;

/// How sessions reach the hub; cheap to clone.
#[derive(Clone)]
pub struct HubHandle {
    commands: mpsc::Sender<Command>,
    next_conn: Arc<AtomicU64>,
    /// The policy store, for what is read without the hub: the moderation log.
    policies: crate::policy::PolicyStore,
    /// Whether the engine can store messages now (see [`Engine::readiness`]).
    engine_ready: Arc<AtomicBool>,
}

enum Command {
    Connect {
        conn: ConnId,
        outbox: mpsc::Sender<Frame>,
        kick: CancellationToken,
        farewell: Farewell,
    },
    Request {
        conn: ConnId,
        message: ClientMsg,
    },
    Disconnect {
        conn: ConnId,
    },
    MayRead {
        user: Option<String>,
        room: RoomName,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    UploadStanding {
        user: String,
        room: RoomName,
        reply: tokio::sync::oneshot::Sender<UploadStanding>,
    },
    Known {
        nick: Nick,
        user: String,
    },
    /// The server's policy changed here (an admin's ban); cluster nodes also hear it.
    ServerPolicy(crate::policy::ServerApplied),
    /// A step of an admin's import.
    Import(ImportOp),
    /// The admin console's room list.
    AdminRooms {
        reply: AdminReply<shared::admin::Rooms>,
    },
    /// The admin console opens one room.
    AdminRoom {
        room: RoomName,
        reply: AdminReply<shared::admin::RoomDetail>,
    },
    /// A room's policy changed by an admin's request (closing a room); cluster nodes also
    /// hear it.
    Adopt(crate::policy::Applied),
    /// An admin removes a message.
    AdminRemove {
        by: crate::policy::Person,
        room: RoomName,
        id: MessageId,
        reply: AdminReply<bool>,
    },
    /// An export's question for the engine: a page of a log (`Some`), or the rooms with
    /// a log; answered to the export alone.
    Export(Option<Read>, ExportReply),
}

/// Where the hub answers an admin console's question.
pub type AdminReply<T> = tokio::sync::oneshot::Sender<Result<T, AdminRefusal>>;

/// Why the hub did not answer an admin console's question.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminRefusal {
    /// The room is a group: not the admins' to see (403).
    #[error("a group is as closed as a direct message: not even server admins see into it")]
    Group,
    /// Nobody is in the room and it has no rules (404).
    #[error("no such room")]
    NoSuchRoom,
    /// The rules refuse it, or the engine did (no such message: 404; else 403).
    #[error("{1}")]
    Refused(ErrorCode, String),
    /// The engine or the policies cannot answer now (503).
    #[error("{0}")]
    Unavailable(String),
    /// The hub has stopped (503).
    #[error(transparent)]
    Closed(#[from] HubClosed),
}

/// Where the engine's answer to an export's question goes (see [`HubHandle::export_page`],
/// [`HubHandle::export_rooms`]): no connection waits for it and nothing else is done with
/// it, so an export never changes what anyone sees.
#[derive(Debug)]
enum ExportReply {
    /// A page of a room's or a user's log.
    Read(tokio::sync::oneshot::Sender<Result<Answer, EngineError>>),
    /// Every room with a log.
    Logs(tokio::sync::oneshot::Sender<Result<Vec<RoomName>, EngineError>>),
}

/// Where a would-be uploader stands in a room, as this hub sees it (see
/// [`HubHandle::upload_standing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadStanding {
    /// In the room now (a tab of theirs here has joined it), and not muted.
    Member,
    /// The room's rules let them in, but none of their tabs here is in it: in cluster mode a
    /// tab on another node may be (the shared presence knows); on one node, not a member.
    Absent,
    /// Refused: why (banned, private, muted, or the rooms' rules not loaded yet).
    Refused(String),
}

/// A connection's last words when its user is banned from the server (`removed` for each of
/// its rooms, then why), handed to its session before the kick: the session writes them ahead
/// of its close frame, where frames still in the outbox could be cut off by the close.
pub type Farewell = tokio::sync::oneshot::Sender<Vec<ServerMsg>>;

/// Commands queued for the hub before senders wait: sessions then feel back-pressure rather
/// than the hub's memory growing.
const COMMAND_CAPACITY: usize = 4096;

impl HubHandle {
    /// Opens the engine (the message store under [`Config::data_dir`], or Redis with
    /// `--redis`) and starts the hub task; it stops when `shutdown` is cancelled or every
    /// handle is dropped.
    pub fn spawn(
        config: &Config,
        redis: Option<&RedisSet>,
        metrics: Arc<Metrics>,
        push: crate::push::Notifier,
        previews: Option<(
            crate::previews::Previewer,
            mpsc::Receiver<crate::previews::Done>,
        )>,
        shutdown: CancellationToken,
    ) -> Result<Self, OpenError> {
        let (engine, stored) = Engine::open(config, redis, &metrics, shutdown.clone())?;
        let engine_ready = engine.readiness();
        let store =
            crate::policy::PolicyStore::open(&config.data_dir, redis).map_err(|err| OpenError {
                path: config.data_dir.join(crate::policy::DB_FILE),
                reason: err.to_string(),
            })?;
        let initial = store.load_now().map_err(|err| OpenError {
            path: config.data_dir.join(crate::policy::DB_FILE),
            reason: err.to_string(),
        })?;
        let (policy_events, policy_answers) = mpsc::unbounded_channel();
        let policies = store.clone();
        let policy = crate::policy::Worker::spawn(
            store,
            crate::auth::admin_keys(config),
            redis.cloned(),
            policy_events,
            shutdown.clone(),
        );
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let (previewer, previews) = previews.unzip();
        let mut hub = Hub::new(config, metrics, engine, policy, push);
        hub.previewer = previewer;
        if let Some((rooms, server)) = initial {
            hub.policies = rooms;
            hub.server = server;
            hub.policies_loaded = true;
        }
        tokio::spawn(hub.run(receiver, stored, policy_answers, previews, shutdown));
        Ok(Self {
            commands,
            next_conn: Arc::new(AtomicU64::new(1)),
            policies,
            engine_ready,
        })
    }

    /// A page of the moderation log, newest first (see [`crate::policy::PolicyStore::log_page`]).
    pub async fn moderation_log(
        &self,
        before: Option<&str>,
        limit: usize,
    ) -> Result<shared::admin::LogPage, crate::policy::LogError> {
        let (entries, next) = self.policies.log_page(before, limit).await?;
        Ok(shared::admin::LogPage { entries, next })
    }

    /// Registers a connection whose frames go to `outbox`; `kick` is cancelled if the hub
    /// drops it for reading too slowly, or (after `farewell`) when its user is banned.
    pub async fn connect(
        &self,
        outbox: mpsc::Sender<Frame>,
        kick: CancellationToken,
        farewell: Farewell,
    ) -> Result<ConnId, HubClosed> {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        self.send(Command::Connect {
            conn,
            outbox,
            kick,
            farewell,
        })
        .await?;
        Ok(conn)
    }

    /// Bans the user with `key` (known as `name`) from the whole server, or lifts the ban,
    /// as the admin `by` (see [`crate::policy::PolicyStore::ban_from_server`]); their
    /// connections here are told and closed at once, those on other nodes when the change
    /// reaches them.
    pub async fn ban_from_server(
        &self,
        by: &Nick,
        key: &str,
        name: &str,
        banned: bool,
        admins: &HashSet<String>,
    ) -> Result<(), crate::policy::Refusal> {
        let (applied, _changed) = self
            .policies
            .ban_from_server(by, key, name, banned, admins)
            .await?;
        // Told even when nothing changed: a hub that missed the change (its command lost at
        // a shutdown, say) catches up when the admin asks again. (The hub gone means the
        // server is stopping: nobody left to tell.)
        let _ = self.send(Command::ServerPolicy(applied)).await;
        Ok(())
    }

    /// Whether the user with `key` is banned from the server (read from the store).
    pub async fn banned_from_server(&self, key: &str) -> Result<bool, crate::policy::PolicyError> {
        Ok(self
            .policies
            .server_policy()
            .await?
            .banned
            .contains_key(key))
    }

    /// Every room with rules or members, for the admin console.
    pub async fn admin_rooms(&self) -> Result<shared::admin::Rooms, AdminRefusal> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::AdminRooms { reply }).await?;
        answer.await.map_err(|_| HubClosed)?
    }

    /// One room, its members now and its rules, for the admin console.
    pub async fn admin_room(
        &self,
        room: RoomName,
    ) -> Result<shared::admin::RoomDetail, AdminRefusal> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::AdminRoom { room, reply }).await?;
        answer.await.map_err(|_| HubClosed)?
    }

    /// Removes the message `id` of `room` as the server admin `by` (named as the policies
    /// name people), through the rule in-chat moderation follows
    /// ([`crate::policy::moderates`]), and logs it.
    pub async fn admin_remove(
        &self,
        by: crate::policy::Person,
        room: RoomName,
        id: MessageId,
    ) -> Result<(), AdminRefusal> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let nick = by.nick.clone();
        self.send(Command::AdminRemove {
            by,
            room: room.clone(),
            id,
            reply,
        })
        .await?;
        let removed_now = answer.await.map_err(|_| HubClosed)??;
        if removed_now {
            // Written before the answer (unlike a moderator's in-chat removal, which the hub
            // hands to the policy worker): the admin's next read of the log holds it.
            let action = ModAction::MessageRemoved { id };
            self.policies
                .append_log(Some(&room), &nick, &action, None)
                .await
                .map_err(|err| AdminRefusal::Unavailable(err.to_string()))?;
        }
        Ok(())
    }

    /// Closes `room` (or reopens it) as the server admin `by`, through the rule function of
    /// every act on a room ([`crate::policy::decide`]), which logs it; the room's members
    /// here are removed at once, those on other nodes when the change reaches them.
    pub async fn admin_close(
        &self,
        by: &crate::policy::Person,
        room: &RoomName,
        closed: bool,
    ) -> Result<(), AdminRefusal> {
        use crate::policy::Refusal;
        let applied = self
            .policies
            .act(room, by, &Act::Close(closed), None)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Store(err) => AdminRefusal::Unavailable(err.to_string()),
                other => AdminRefusal::Refused(ErrorCode::Forbidden, other.to_string()),
            })?;
        self.send(Command::Adopt(applied)).await?;
        Ok(())
    }

    /// Keeps a line of the moderation log for an act on the whole server by `by` (a
    /// password reset, sessions revoked), about the user `target` names.
    pub async fn log_server_act(
        &self,
        by: &Nick,
        action: &ModAction,
        target: &str,
    ) -> Result<(), crate::policy::PolicyError> {
        self.policies
            .append_log(None, by, action, Some(target))
            .await
    }

    /// Hands a decoded client request to the hub; answers arrive in the outbox.
    pub async fn request(&self, conn: ConnId, message: ClientMsg) -> Result<(), HubClosed> {
        self.send(Command::Request { conn, message }).await
    }

    /// Unregisters a connection: it leaves its rooms, and its user goes offline if it was the
    /// last tab.
    pub async fn disconnect(&self, conn: ConnId) -> Result<(), HubClosed> {
        self.send(Command::Disconnect { conn }).await
    }

    /// Whether the user with key `user` (`None`: someone who did not say) may read `room`
    /// (for its uploads): the room's policy, as this hub has it.
    pub async fn may_read(&self, user: Option<String>, room: RoomName) -> Result<bool, HubClosed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::MayRead { user, room, reply }).await?;
        answer.await.map_err(|_| HubClosed)
    }

    /// Where the user with key `user` stands for uploading an image or a file to `room`: only
    /// a member of the room now may (so the room exists: someone is in it), and not a muted
    /// one.
    pub async fn upload_standing(
        &self,
        user: String,
        room: RoomName,
    ) -> Result<UploadStanding, HubClosed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::UploadStanding { user, room, reply })
            .await?;
        answer.await.map_err(|_| HubClosed)
    }

    /// A new account's name stands for its user (key `user`) from now on: direct messages
    /// reach them before they ever connect.
    pub async fn known(&self, nick: Nick, user: String) -> Result<(), HubClosed> {
        self.send(Command::Known { nick, user }).await
    }

    /// A step of an import (the transfer module's writer): a room's policy, an entry stored as
    /// given, a read of a room's log; the answer comes back on the op's reply channel.
    pub async fn import(&self, op: ImportOp) -> Result<(), HubClosed> {
        self.send(Command::Import(op)).await
    }

    /// A page of history for an export (`read` names a room's or a user's log and where
    /// the page starts), read by the engine in its usual order; messages in their state
    /// now (edits, deletions and reactions applied).
    pub async fn export_page(&self, read: Read) -> Result<Result<Answer, EngineError>, HubClosed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::Export(Some(read), ExportReply::Read(reply)))
            .await?;
        answer.await.map_err(|_| HubClosed)
    }

    /// Every room with a log (messages now or once), sorted by name, for an export.
    pub async fn export_rooms(&self) -> Result<Result<Vec<RoomName>, EngineError>, HubClosed> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::Export(None, ExportReply::Logs(reply)))
            .await?;
        answer.await.map_err(|_| HubClosed)
    }

    /// Every room's policy and the server's, read from the policy store (for an export).
    pub async fn policies(&self) -> Result<crate::policy::Loaded, crate::policy::PolicyError> {
        self.policies.load_all().await
    }

    /// Whether the hub task is still running (for `/readyz`).
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    /// Whether messages can be stored now: while the store thread runs (one node), while
    /// Redis answers (cluster mode); for `/readyz`.
    pub fn engine_ready(&self) -> bool {
        self.engine_ready.load(Ordering::Relaxed)
    }

    async fn send(&self, command: Command) -> Result<(), HubClosed> {
        self.commands.send(command).await.map_err(|_| HubClosed)
    }
}

struct Conn {
    outbox: mpsc::Sender<Frame>,
    kick: CancellationToken,
    /// Used before `kick` when the user is banned from the server: the session writes these
    /// last words itself and closes with [`shared::close::BANNED`] rather than as a slow
    /// reader.
    farewell: Option<Farewell>,
    user: Option<UserId>,
    /// Rooms whose history this connection waits for, with the read's number: their live
    /// messages skip it meanwhile (the history will hold them).
    catching_up: HashMap<RoomName, u64>,
    /// The same for direct messages.
    direct_catching_up: Option<u64>,
    /// Presence events of rooms in `catching_up`, sent after their history
    /// (which follows the member list they update).
    held_events: Vec<(RoomName, ServerMsg)>,
    /// A `hello` waits for its nickname claim.
    claiming: bool,
    /// The last rename this connection was told (the renamer's key, their new name) and
    /// when: a rename reaches a connection through every room it shares with the renamer,
    /// and is told once.
    last_renamed: Option<((String, Nick), Instant)>,
    /// How much of each room's member list it has (see [`records::Loaded`]).
    loaded: HashMap<RoomName, records::Loaded>,
}

struct User {
    nick: Nick,
    token: UserToken,
    /// What the store knows this user by (see [`NewMessage::sender`]).
    key: String,
    conns: BTreeSet<ConnId>,
    /// Whether they share how far they have read (`share_reads`); `None` until read with
    /// their first `direct_history`.
    sharing: Option<bool>,
}

/// A join waiting for the room policies: connection, user, room, and where it left off.
type PendingJoin = (ConnId, UserId, RoomName, Option<(u64, Option<Epoch>)>);

/// What the hub needs back from the store with each answer.
#[derive(Debug)]
enum Ctx {
    /// A `say` or `direct` from `conn`.
    Send {
        conn: ConnId,
        sender: UserId,
        recipient: Option<UserId>,
        client_id: ClientMsgId,
        /// A deletion with a moderator's authority: the message, logged once stored.
        removal: Option<MessageId>,
    },
    /// The history of `room` that `conn` waits for (read number `read`).
    CatchUp {
        conn: ConnId,
        room: RoomName,
        read: u64,
    },
    /// The direct messages `conn` waits for.
    DirectCatchUp { conn: ConnId, read: u64 },
    /// A "load older" or "load newer" page (no live event waits for it).
    Page { conn: ConnId },
    /// A `create_group`'s names, being looked up.
    Group {
        conn: ConnId,
        user: UserId,
        asked: usize,
    },
    /// A `seen` for the other person of a direct conversation, whose name is being looked up.
    TellSeen { event: ServerMsg },
    /// The people of `conn`'s direct conversations, being looked up for their positions.
    SeenPeers { conn: ConnId },
    /// Others' positions for `conn` (in `room`, or its direct conversations), by key.
    Seen {
        conn: ConnId,
        room: Option<RoomName>,
        names: BTreeMap<String, Nick>,
    },
    /// A group message's members, being checked for who is away; the push for them.
    Push { notice: shared::push::Notice },
    /// The names a message in `room` mentions, being looked up for pushes.
    Mention {
        room: RoomName,
        notice: shared::push::Notice,
    },
    /// A `hello` whose nickname is being claimed across the cluster.
    Hello {
        conn: ConnId,
        nick: Nick,
        token: UserToken,
        rooms: Vec<RoomName>,
        resume: Resume,
    },
    /// A rename whose new nickname is being claimed across the cluster (for `user`, whose
    /// key is `key`).
    Rename {
        conn: ConnId,
        user: UserId,
        key: String,
        nick: Nick,
    },
    /// A room list asked of the engine.
    Rooms { conn: ConnId },
    /// A page of a room's members asked of the engine.
    Members {
        conn: ConnId,
        room: RoomName,
        after: Option<Nick>,
        prefix: String,
    },
    /// A user's nickname entered again after the shared presence lost it.
    Reclaim { user: UserId },
    /// A link preview the hub appends (see `previews.rs`).
    Preview,
    /// A search asked of the engine.
    Search {
        conn: ConnId,
        query: shared::search::SearchQuery,
    },
    /// An entry an import stores; what became of it goes back.
    ImportAppend {
        reply: tokio::sync::oneshot::Sender<Appended>,
    },
    /// A read an import asks for.
    ImportRead {
        reply: tokio::sync::oneshot::Sender<Result<Answer, EngineError>>,
    },
    /// The admin console's room list, asked of the engine (who is where).
    AdminRooms {
        reply: AdminReply<shared::admin::Rooms>,
    },
    /// One room's count for the admin console (then [`Ctx::AdminMembers`]).
    AdminRoom {
        room: RoomName,
        reply: AdminReply<shared::admin::RoomDetail>,
    },
    /// One room's members for the admin console.
    AdminMembers {
        room: RoomName,
        online: u32,
        reply: AdminReply<shared::admin::RoomDetail>,
    },
    /// An admin's removal of a message (answered `true` when it was removed now, `false`
    /// when this same removal was stored already).
    AdminRemove { reply: AdminReply<bool> },
    /// An export's question (its reply; a read's request is in the engine's hands).
    Export(ExportReply),
}

/// Where a reconnecting client's `hello` says it left off (see [`ClientMsg::Hello`]).
#[derive(Debug)]
struct Resume {
    since: std::collections::BTreeMap<RoomName, u64>,
    epochs: std::collections::BTreeMap<RoomName, Epoch>,
    direct_since: Option<MessageId>,
    direct_epoch: Option<Epoch>,
}

/// How often expired typing indicators are swept.
const TYPING_SWEEP: Duration = Duration::from_millis(250);

struct Hub {
    /// Where pushes to people who are away are asked for (never waited on).
    push: crate::push::Notifier,
    metrics: Arc<Metrics>,
    limits: shared::Limits,
    typing_timeout: Duration,
    rooms: Rooms,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<UserId, User>,
    /// Who holds which nickname here: by its lower case, and by its look-alike keys for
    /// uniqueness ([`crate::names`]).
    nicks: NickMap,
    typing: HashMap<(RoomName, UserId), Instant>,
    /// The people announced typing in each room (at most [`shared::TYPING_SHOWN`]), by
    /// nickname key, with when their slot lapses.
    typing_slots: HashMap<RoomName, Vec<(String, Instant)>>,
    /// Presence changes waiting for their room's window (see `presence.rs`).
    presence: HashMap<RoomName, records::Pending>,
    /// `--presence-window`.
    presence_window: Duration,
    /// `--presence-detail-limit`.
    presence_detail_limit: u32,
    engine: Engine<Ctx>,
    /// User key → the user with that key here (direct messages from the engine's live logs).
    keys: HashMap<String, UserId>,
    /// Appends queued in the store and not yet answered.
    unstored: usize,
    /// `unstored` beyond which sends are refused with `overloaded` (`--max-store-queue`): the
    /// store queue cannot grow without bound if the disk stalls.
    max_unstored: usize,
    next_user: u64,
    next_read: u64,
    /// Connections whose outbox overflowed during the current command, dropped after it.
    overflowed: Vec<ConnId>,
    /// Every room's policy (rooms without one are public and unowned), kept current by the
    /// policy worker ([`crate::policy`]).
    policies: HashMap<RoomName, crate::policy::RoomPolicy>,
    /// Until the worker has loaded them, nobody may join or create a room: a private room
    /// must never pass for a public one. Joins wait in `pending_joins` meanwhile (at most
    /// `--max-rooms` per connection).
    policies_loaded: bool,
    pending_joins: Vec<PendingJoin>,
    /// `create_room` requests on their way to the policy worker, per user: they count
    /// against `--max-owned-rooms` as the rooms they will make (see `policies.rs`).
    creating: HashMap<UserId, u32>,
    /// Requests to the policy worker.
    policy: mpsc::UnboundedSender<crate::policy::Request<records::PolicyCtx>>,
    /// Accounts mode: an invitation may name an account that is offline.
    accounts: bool,
    /// The user keys of `--admin`.
    admins: HashSet<String>,
    /// The server's policy: who is banned from it.
    server: crate::policy::ServerPolicy,
    /// Searches asked of the engine and not yet answered (see `search.rs`).
    searching: usize,
    /// Where link previews are asked for (`--link-previews`; see `previews.rs`).
    previewer: Option<crate::previews::Previewer>,
}

impl Hub {
    fn new(
        config: &Config,
        metrics: Arc<Metrics>,
        engine: Engine<Ctx>,
        policy: mpsc::UnboundedSender<crate::policy::Request<records::PolicyCtx>>,
        push: crate::push::Notifier,
    ) -> Self {
        Self {
            push,
            metrics,
            limits: config.limits(),
            typing_timeout: config.typing_timeout,
            rooms: Rooms::default(),
            conns: HashMap::new(),
            users: HashMap::new(),
            nicks: NickMap::default(),
            typing: HashMap::new(),
            typing_slots: HashMap::new(),
            presence: HashMap::new(),
            presence_window: config.presence_window,
            presence_detail_limit: config.presence_detail_limit,
            engine,
            keys: HashMap::new(),
            unstored: 0,
            max_unstored: config.max_store_queue,
            next_user: 1,
            next_read: 1,
            overflowed: Vec::new(),
            policies: HashMap::new(),
            policies_loaded: false,
            pending_joins: Vec::new(),
            creating: HashMap::new(),
            policy,
            accounts: config.auth == shared::auth::AuthMode::Accounts,
            admins: crate::auth::admin_keys(config),
            server: crate::policy::ServerPolicy::default(),
            searching: 0,
            previewer: None,
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut stored: mpsc::UnboundedReceiver<engine::Event<Ctx>>,
        mut policy: mpsc::UnboundedReceiver<crate::policy::PolicyEvent<records::PolicyCtx>>,
        mut previews: Option<mpsc::Receiver<crate::previews::Done>>,
        shutdown: CancellationToken,
    ) {
        // Often enough that a presence window is not stretched by much.
        let every = TYPING_SWEEP
            .min(self.presence_window / 4)
            .max(Duration::from_millis(10));
        let mut sweep = tokio::time::interval(every);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                // Store answers first: they free memory and deliver what users wait for.
                event = stored.recv() => match event {
                    Some(event) => self.stored(event),
                    None => {
                        tracing::error!("the message store thread has stopped");
                        break;
                    }
                },
                event = policy.recv() => match event {
                    Some(event) => self.policy_event(event),
                    None => {
                        tracing::error!("the room policy worker has stopped");
                        break;
                    }
                },
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                done = async {
                    match previews.as_mut() {
                        Some(previews) => previews.recv().await,
                        None => std::future::pending().await,
                    }
                } => match done {
                    Some(done) => self.previewed(done),
                    // The workers stopped (shutdown): no more previews.
                    None => previews = None,
                },
                _ = sweep.tick() => {
                    let now = Instant::now();
                    self.expire_typing(now);
                    self.presence_due(now);
                }
            }
            self.drop_overflowed();
            self.metrics.rooms.set(self.rooms.len() as i64);
            self.metrics.users.set(self.users.len() as i64);
        }
        tracing::debug!("hub stopped");
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect {
                conn,
                outbox,
                kick,
                farewell,
            } => {
                self.conns.insert(
                    conn,
                    Conn {
                        outbox,
                        kick,
                        farewell: Some(farewell),
                        user: None,
                        catching_up: HashMap::new(),
                        direct_catching_up: None,
                        held_events: Vec::new(),
                        claiming: false,
                        last_renamed: None,
                        loaded: HashMap::new(),
                    },
                );
            }
            Command::Request { conn, message } => self.request(conn, message),
            Command::Disconnect { conn } => self.remove(conn),
            Command::MayRead { user, room, reply } => {
                // The asker may have gone; nothing to do then.
                let _ = reply.send(self.may_read(user.as_deref(), &room));
            }
            Command::UploadStanding { user, room, reply } => {
                let _ = reply.send(self.upload_standing(&user, &room));
            }
            Command::Known { nick, user } => self.engine.remember(nick, user),
            Command::ServerPolicy(applied) => self.adopt_server(applied),
            Command::Import(op) => self.import(op),
            Command::AdminRooms { reply } => self.admin_rooms(reply),
            Command::AdminRoom { room, reply } => self.admin_room(room, reply),
            Command::Adopt(applied) => self.adopt(applied),
            Command::AdminRemove {
                by,
                room,
                id,
                reply,
            } => self.admin_remove(&by, room, id, reply),
            // (A stopped engine drops the reply: the export hears that the hub stopped.)
            Command::Export(Some(read), reply) => {
                let _ = self.engine.read(Ctx::Export(reply), read);
            }
            Command::Export(None, reply) => self.engine.logs(Ctx::Export(reply)),
        }
    }

    fn request(&mut self, conn: ConnId, message: ClientMsg) {
        let Some(state) = self.conns.get(&conn) else {
            return; // Disconnected (or dropped) meanwhile.
        };
        let chosen = match &message {
            ClientMsg::Say { client_id, .. }
            | ClientMsg::Direct { client_id, .. }
            | ClientMsg::Edit { client_id, .. }
            | ClientMsg::DeleteMessage { client_id, .. }
            | ClientMsg::React { client_id, .. } => Some(client_id),
            _ => None,
        };
        if chosen.is_some_and(|id| {
            id.as_str()
                .starts_with(crate::ids::IMPORTED_CLIENT_ID_PREFIX)
        }) {
            // An import finds its own entries by this prefix (a run that stopped midway).
            return self.refuse(
                conn,
                ErrorCode::Invalid,
                "client ids starting with imp- are the server's own (imports)",
                message.into_client_id(),
            );
        }
        if state.claiming {
            // Its `hello` is still being answered (the nickname claim); as before a `hello`.
            let (code, text) = match message {
                ClientMsg::Hello { .. } => {
                    (ErrorCode::AlreadyIdentified, "hello is being answered")
                }
                _ => (
                    ErrorCode::NotIdentified,
                    "wait for welcome before anything else",
                ),
            };
            return self.refuse(conn, code, text, message.into_client_id());
        }
        match (state.user, message) {
            (
                None,
                ClientMsg::Hello {
                    nick,
                    token,
                    rooms,
                    since,
                    epochs,
                    direct_since,
                    direct_epoch,
                    // The session has verified and consumed it.
                    jwt: _,
                },
            ) => {
                let resume = Resume {
                    since,
                    epochs,
                    direct_since,
                    direct_epoch,
                };
                self.hello(conn, nick, token, rooms, resume);
            }
            (Some(_), ClientMsg::Hello { .. }) => {
                self.refuse(
                    conn,
                    ErrorCode::AlreadyIdentified,
                    "already identified",
                    None,
                );
            }
            (None, request) => self.refuse(
                conn,
                ErrorCode::NotIdentified,
                "send hello with a nickname first",
                request.into_client_id(),
            ),
            (Some(user), ClientMsg::Join { room, since, epoch }) => {
                let since = since.map(|seq| (seq, epoch));
                self.join(conn, user, room, since);
            }
            (Some(_), ClientMsg::LoadOlder { room, before }) => {
                self.load_page(conn, room, engine::RoomRange::Before, before);
            }
            (Some(_), ClientMsg::LoadNewer { room, after }) => {
                self.load_page(conn, room, engine::RoomRange::After, after);
            }
            (Some(_), ClientMsg::LoadAround { room, seq }) => {
                self.load_page(conn, room, engine::RoomRange::Around, seq);
            }
            (Some(_), ClientMsg::Leave { room }) => self.leave(conn, &room),
            (Some(_), ClientMsg::ListRooms) => self.list_rooms(conn),
            (
                Some(_),
                ClientMsg::Members {
                    room,
                    after,
                    prefix,
                },
            ) => self.members(conn, room, after, prefix),
            (
                Some(user),
                ClientMsg::Say {
                    room,
                    text,
                    client_id,
                    reply_to,
                    image,
                    file,
                },
            ) => {
                let body = Body::Text {
                    text,
                    reply_to,
                    image,
                    file,
                };
                self.say(conn, user, room, body, client_id);
            }
            (Some(user), ClientMsg::Typing { room }) => self.typing(conn, user, room),
            (Some(user), ClientMsg::MarkRead { room, seq }) => {
                self.mark(conn, user, engine::Place::Room(room), seq);
            }
            (Some(user), ClientMsg::MarkDirectRead { with, seq }) => {
                self.mark(conn, user, engine::Place::Direct(with), seq);
            }
            (Some(user), ClientMsg::ShareReads { share }) => self.share_reads(user, share),
            (Some(user), ClientMsg::SetTopic { room, topic }) => {
                self.set_topic(conn, user, room, &topic);
            }
            (
                Some(user),
                ClientMsg::Search {
                    query,
                    order,
                    cursor,
                    utc_offset,
                },
            ) => self.search(conn, user, query, order, cursor, utc_offset),
            (
                Some(user),
                ClientMsg::Direct {
                    to,
                    text,
                    client_id,
                },
            ) => {
                self.direct(conn, user, &to, text, client_id);
            }
            (Some(user), ClientMsg::Rename { nick }) => self.rename(conn, user, nick),
            (
                Some(user),
                ClientMsg::CreateRoom {
                    room,
                    private,
                    max_members,
                },
            ) => self.create_room(conn, user, room, private, max_members),
            (Some(user), ClientMsg::CreateGroup { with }) => self.create_group(conn, user, with),
            (Some(user), ClientMsg::LeaveGroup { room }) => self.leave_group(conn, user, room),
            (Some(user), ClientMsg::Invite { room, user: target }) => {
                self.moderate(conn, user, room, Act::Invite, Some(target));
            }
            (Some(user), ClientMsg::Uninvite { room, user: target }) => {
                self.moderate(conn, user, room, Act::Uninvite, Some(target));
            }
            (
                Some(user),
                ClientMsg::SetModerator {
                    room,
                    user: target,
                    moderator,
                },
            ) => self.moderate(conn, user, room, Act::SetModerator(moderator), Some(target)),
            (Some(user), ClientMsg::Kick { room, user: target }) => {
                self.moderate(conn, user, room, Act::Kick, Some(target));
            }
            (Some(user), ClientMsg::Ban { room, user: target }) => {
                self.moderate(conn, user, room, Act::Ban, Some(target));
            }
            (Some(user), ClientMsg::Unban { room, user: target }) => {
                self.moderate(conn, user, room, Act::Unban, Some(target));
            }
            (
                Some(user),
                ClientMsg::Mute {
                    room,
                    user: target,
                    for_secs,
                },
            ) => {
                let until_ms = if for_secs == 0 {
                    0
                } else {
                    engine::now_ms().saturating_add(for_secs.saturating_mul(1000))
                };
                self.moderate(conn, user, room, Act::Mute { until_ms }, Some(target));
            }
            (
                Some(user),
                ClientMsg::DeleteMessage {
                    room,
                    id,
                    client_id,
                },
            ) => self.change(conn, user, room, id, Change::Deleted, client_id),
            (
                Some(user),
                ClientMsg::Edit {
                    room,
                    id,
                    text,
                    client_id,
                },
            ) => self.change(conn, user, room, id, Change::Edited { text }, client_id),
            (
                Some(user),
                ClientMsg::React {
                    room,
                    id,
                    emoji,
                    on,
                    client_id,
                },
            ) => self.change(
                conn,
                user,
                room,
                id,
                Change::Reacted { emoji, on },
                client_id,
            ),
            // The session answers it (crate::session); one reaching here has no token to renew.
            (Some(_), ClientMsg::Reauth { .. }) => self.refuse(
                conn,
                ErrorCode::Invalid,
                "reauth is for a connection identified with a token (JWT mode)",
                None,
            ),
        }
    }
}

mod admin;
mod away;
mod delivery;
mod groups;
mod imports;
mod membership;
mod messages;
mod people;
mod policies;
mod presence;
mod previews;
mod records;
mod search;
mod seen;

#[cfg(test)]
mod tests;
