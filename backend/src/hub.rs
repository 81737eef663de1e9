//! The hub: the one owner of chat state (users, nicknames, rooms, typing), run as a single task
//! that sessions talk to through a channel. No locks; one global order of events.
//!
//! Messages are stored before they are sent: `say` and `direct` go to the [`Store`] thread,
//! and the hub broadcasts each one when the store reports it written (a failed write is an
//! error to the sender and nothing else). History reads go through the same store queue, and
//! while a connection waits for a room's history, live messages of that room skip it: the
//! store's ordering guarantees they are in the history it will get (see [`crate::store`]).
//!
//! The hub never awaits a session. Every outgoing event is encoded once into a [`Frame`] and
//! handed to each recipient's bounded outbox with `try_send`; a full outbox means that reader
//! is too slow, so it is cut off (its kick token is cancelled and its session closes with
//! 1013) while everyone else carries on. Memory per connection is therefore bounded by the
//! outbox capacity.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use sha2::{Digest as _, Sha256};
use shared::{
    ClientMsg, ClientMsgId, ErrorCode, MessageId, Nick, RoomInfo, RoomName, ServerMsg, Text,
    UserToken,
};
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

use crate::{
    Config,
    metrics::Metrics,
    outgoing::Frame,
    rooms::Rooms,
    store::{
        self, Answer, Appended, NewMessage, OpenError, Read, RoomRange, Store, Stored, Target,
    },
};

/// One WebSocket connection (tab). Allocated from a counter, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One user (a nickname and its browser token), with one or more connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub u64);

/// The hub task has stopped (server shutting down).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the chat hub has stopped")]
pub struct HubClosed;

/// How sessions reach the hub; cheap to clone.
#[derive(Clone)]
pub struct HubHandle {
    commands: mpsc::Sender<Command>,
    next_conn: Arc<AtomicU64>,
}

enum Command {
    Connect {
        conn: ConnId,
        outbox: mpsc::Sender<Frame>,
        kick: CancellationToken,
    },
    Request {
        conn: ConnId,
        message: ClientMsg,
    },
    Disconnect {
        conn: ConnId,
    },
}

/// Commands queued for the hub before senders wait: sessions then feel back-pressure rather
/// than the hub's memory growing.
const COMMAND_CAPACITY: usize = 4096;

impl HubHandle {
    /// Opens the message store under [`Config::data_dir`] and starts the hub task; it stops
    /// when `shutdown` is cancelled or every handle is dropped.
    pub fn spawn(
        config: &Config,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Result<Self, OpenError> {
        let (store, stored) = Store::open(
            &config.data_dir,
            config.store_options(),
            Some(metrics.store()),
        )?;
        tracing::info!(path = %store.path().display(), "message store open");
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let hub = Hub::new(config, metrics, store);
        tokio::spawn(hub.run(receiver, stored, shutdown));
        Ok(Self {
            commands,
            next_conn: Arc::new(AtomicU64::new(1)),
        })
    }

    /// Registers a connection whose frames go to `outbox`; `kick` is cancelled if the hub
    /// drops it for reading too slowly.
    pub async fn connect(
        &self,
        outbox: mpsc::Sender<Frame>,
        kick: CancellationToken,
    ) -> Result<ConnId, HubClosed> {
        let conn = ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed));
        self.send(Command::Connect { conn, outbox, kick }).await?;
        Ok(conn)
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

    /// Whether the hub task is still running (for `/readyz`).
    pub fn is_running(&self) -> bool {
        !self.commands.is_closed()
    }

    async fn send(&self, command: Command) -> Result<(), HubClosed> {
        self.commands.send(command).await.map_err(|_| HubClosed)
    }
}

struct Conn {
    outbox: mpsc::Sender<Frame>,
    kick: CancellationToken,
    user: Option<UserId>,
    /// Rooms whose history this connection waits for, with the read's number: their live
    /// messages skip it meanwhile (the history will hold them).
    catching_up: HashMap<RoomName, u64>,
    /// The same for direct messages.
    direct_catching_up: Option<u64>,
}

struct User {
    nick: Nick,
    token: UserToken,
    /// What the store knows this user by (see [`NewMessage::sender`]).
    key: String,
    conns: BTreeSet<ConnId>,
}

/// What the hub needs back from the store with each answer.
#[derive(Debug)]
enum Ctx {
    /// A `say` or `direct` from `conn`.
    Send {
        conn: ConnId,
        sender: UserId,
        recipient: Option<UserId>,
        client_id: ClientMsgId,
    },
    /// The history of `room` that `conn` waits for (read number `read`).
    CatchUp {
        conn: ConnId,
        room: RoomName,
        read: u64,
    },
    /// The direct messages `conn` waits for.
    DirectCatchUp { conn: ConnId, read: u64 },
    /// A "load older" page.
    Older { conn: ConnId },
}

/// How often expired typing indicators are swept.
const TYPING_SWEEP: Duration = Duration::from_millis(250);

struct Hub {
    metrics: Arc<Metrics>,
    limits: shared::Limits,
    typing_timeout: Duration,
    rooms: Rooms,
    conns: HashMap<ConnId, Conn>,
    users: HashMap<UserId, User>,
    /// Lower-cased nickname → user, for uniqueness ignoring case.
    nicks: HashMap<String, UserId>,
    typing: HashMap<(RoomName, UserId), Instant>,
    store: Store<Ctx>,
    /// Appends queued in the store and not yet answered.
    unstored: usize,
    /// `unstored` beyond which sends are refused with `overloaded` (`--max-store-queue`): the
    /// store queue cannot grow without bound if the disk stalls.
    max_unstored: usize,
    next_user: u64,
    next_read: u64,
    /// Connections whose outbox overflowed during the current command, dropped after it.
    overflowed: Vec<ConnId>,
}

impl Hub {
    fn new(config: &Config, metrics: Arc<Metrics>, store: Store<Ctx>) -> Self {
        Self {
            metrics,
            limits: config.limits(),
            typing_timeout: config.typing_timeout,
            rooms: Rooms::default(),
            conns: HashMap::new(),
            users: HashMap::new(),
            nicks: HashMap::new(),
            typing: HashMap::new(),
            store,
            unstored: 0,
            max_unstored: config.max_store_queue,
            next_user: 1,
            next_read: 1,
            overflowed: Vec::new(),
        }
    }

    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut stored: mpsc::UnboundedReceiver<store::Event<Ctx>>,
        shutdown: CancellationToken,
    ) {
        let mut sweep = tokio::time::interval(TYPING_SWEEP);
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
                command = commands.recv() => match command {
                    Some(command) => self.handle(command),
                    None => break,
                },
                _ = sweep.tick() => self.expire_typing(Instant::now()),
            }
            self.drop_overflowed();
            self.metrics.rooms.set(self.rooms.len() as i64);
            self.metrics.users.set(self.users.len() as i64);
        }
        tracing::debug!("hub stopped");
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { conn, outbox, kick } => {
                self.conns.insert(
                    conn,
                    Conn {
                        outbox,
                        kick,
                        user: None,
                        catching_up: HashMap::new(),
                        direct_catching_up: None,
                    },
                );
            }
            Command::Request { conn, message } => self.request(conn, message),
            Command::Disconnect { conn } => self.remove(conn),
        }
    }

    fn request(&mut self, conn: ConnId, message: ClientMsg) {
        let Some(state) = self.conns.get(&conn) else {
            return; // Disconnected (or dropped) meanwhile.
        };
        match (state.user, message) {
            (
                None,
                ClientMsg::Hello {
                    nick,
                    token,
                    rooms,
                    since,
                    direct_since,
                },
            ) => self.hello(conn, nick, token, rooms, &since, direct_since),
            (Some(_), ClientMsg::Hello { .. }) => {
                self.refuse(
                    conn,
                    ErrorCode::AlreadyIdentified,
                    "already identified",
                    None,
                );
            }
            (None, _) => self.refuse(
                conn,
                ErrorCode::NotIdentified,
                "send hello with a nickname first",
                None,
            ),
            (Some(user), ClientMsg::Join { room, since }) => self.join(conn, user, room, since),
            (Some(_), ClientMsg::LoadOlder { room, before }) => {
                self.load_older(conn, room, before);
            }
            (Some(_), ClientMsg::Leave { room }) => self.leave(conn, &room),
            (Some(_), ClientMsg::ListRooms) => self.list_rooms(conn),
            (
                Some(user),
                ClientMsg::Say {
                    room,
                    text,
                    client_id,
                },
            ) => {
                self.say(conn, user, room, text, client_id);
            }
            (Some(user), ClientMsg::Typing { room }) => self.typing(conn, user, room),
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
        }
    }

    fn hello(
        &mut self,
        conn: ConnId,
        nick: Nick,
        token: UserToken,
        rooms: Vec<RoomName>,
        since: &std::collections::BTreeMap<RoomName, u64>,
        direct_since: Option<MessageId>,
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
            since: direct_since,
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
            let since = since.get(&room).copied();
            self.join(conn, user, room, since);
        }
    }

    fn join(&mut self, conn: ConnId, user: UserId, room: RoomName, since: Option<u64>) {
        let already = self.rooms.contains(&room, conn);
        if !already && self.rooms.rooms_of(conn).count() >= self.limits.max_rooms as usize {
            let message = format!(
                "cannot join {room}: at most {} rooms per connection; leave one first",
                self.limits.max_rooms
            );
            return self.refuse(conn, ErrorCode::TooManyRooms, &message, None);
        }
        let joined = self.rooms.join(&room, conn, user);
        if joined == (crate::rooms::Joined::Now { new_user: true }) {
            let event = ServerMsg::MemberJoined {
                room: room.clone(),
                user: self.nick(user),
            };
            self.broadcast_room(&room, Some(user), &event);
        }
        let mut members: Vec<Nick> = self.rooms.users(&room).map(|u| self.nick(u)).collect();
        members.sort_by_key(Nick::key);
        self.send_to(
            conn,
            &ServerMsg::Joined {
                room: room.clone(),
                members,
            },
        );
        // From now until the history arrives, this room's live messages skip this connection.
        let number = self.read_number();
        if let Some(state) = self.conns.get_mut(&conn) {
            state.catching_up.insert(room.clone(), number);
        }
        let range = since.map_or(RoomRange::Latest, RoomRange::Since);
        let ctx = Ctx::CatchUp {
            conn,
            room: room.clone(),
            read: number,
        };
        self.read(ctx, Read::Room { room, range });
    }

    fn load_older(&mut self, conn: ConnId, room: RoomName, before: u64) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("join {room} before reading its history");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
        }
        let range = RoomRange::Before(before);
        self.read(Ctx::Older { conn }, Read::Room { room, range });
    }

    fn read_number(&mut self) -> u64 {
        self.next_read += 1;
        self.next_read
    }

    fn read(&mut self, ctx: Ctx, read: Read) {
        if self.store.read(ctx, read).is_err() {
            // Only while shutting down; the run loop is about to stop too.
            tracing::warn!("history read dropped: the message store has stopped");
        }
    }

    fn leave(&mut self, conn: ConnId, room: &RoomName) {
        if let Some(state) = self.conns.get_mut(&conn) {
            state.catching_up.remove(room);
        }
        match self.rooms.leave(room, conn) {
            Some(left) => {
                self.send_to(conn, &ServerMsg::Left { room: room.clone() });
                self.announce_left(left);
            }
            None => {
                let message = format!("not in room {room}");
                self.refuse(conn, ErrorCode::NotInRoom, &message, None);
            }
        }
    }

    /// Tells the room a user is gone, once their last tab has left it.
    fn announce_left(&mut self, left: crate::rooms::Left) {
        if !left.user_gone {
            return;
        }
        self.stop_typing(&left.room, left.user);
        let event = ServerMsg::MemberLeft {
            room: left.room.clone(),
            user: self.nick(left.user),
        };
        self.broadcast_room(&left.room, None, &event);
    }

    fn list_rooms(&mut self, conn: ConnId) {
        let rooms = self
            .rooms
            .list()
            .map(|(name, members)| RoomInfo {
                name: name.clone(),
                members: u32::try_from(members).unwrap_or(u32::MAX),
            })
            .collect();
        self.send_to(conn, &ServerMsg::Rooms { rooms });
    }

    fn say(
        &mut self,
        conn: ConnId,
        user: UserId,
        room: RoomName,
        text: Text,
        client_id: ClientMsgId,
    ) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("join {room} before sending to it");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, Some(client_id));
        }
        if let Err(message) = self.check_length(&text) {
            return self.refuse(conn, ErrorCode::TooLong, &message, Some(client_id));
        }
        self.stop_typing(&room, user);
        self.append(conn, user, None, Target::Room(room), text, client_id);
    }

    /// Hands a message to the store; [`Hub::stored`] sends it on once it is written.
    fn append(
        &mut self,
        conn: ConnId,
        sender: UserId,
        recipient: Option<UserId>,
        target: Target,
        text: Text,
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
            text,
            client_id: client_id.clone(),
            ts: store::now_ms(),
        };
        let ctx = Ctx::Send {
            conn,
            sender,
            recipient,
            client_id: client_id.clone(),
        };
        if self.store.append(ctx, message).is_err() {
            let message = "the message store has stopped; the message was not sent";
            return self.refuse(conn, ErrorCode::StoreFailed, message, Some(client_id));
        }
        self.unstored += 1;
    }

    /// An answer from the store.
    fn stored(&mut self, event: store::Event<Ctx>) {
        match event {
            store::Event::Appended { ctx, outcome } => {
                self.unstored = self.unstored.saturating_sub(1);
                let Ctx::Send {
                    conn,
                    sender,
                    recipient,
                    client_id,
                } = ctx
                else {
                    return;
                };
                match outcome {
                    Appended::New(Stored::Room { room, message }) => {
                        let event = message.into_said(room.clone());
                        self.broadcast_live(&room, &event);
                    }
                    Appended::New(Stored::Direct(message)) => {
                        let conns: BTreeSet<ConnId> = [Some(sender), recipient]
                            .into_iter()
                            .flatten()
                            .filter_map(|u| self.users.get(&u))
                            .flat_map(|u| u.conns.iter().copied())
                            .filter(|c| {
                                self.conns
                                    .get(c)
                                    .is_some_and(|s| s.direct_catching_up.is_none())
                            })
                            .collect();
                        self.broadcast(conns, &message.into_event());
                    }
                    // A retry of a stored message: the original acknowledgement, to the
                    // sender only (everyone else has it already).
                    Appended::Duplicate(Stored::Room { room, message }) => {
                        self.send_to(conn, &message.into_said(room));
                    }
                    Appended::Duplicate(Stored::Direct(message)) => {
                        self.send_to(conn, &message.into_event());
                    }
                    Appended::Failed(reason) => {
                        self.refuse(conn, ErrorCode::StoreFailed, &reason, Some(client_id));
                    }
                }
            }
            store::Event::Read { ctx, answer } => self.answered(ctx, answer),
        }
    }

    /// History for a connection: sent only if it still waits for this very read.
    fn answered(&mut self, ctx: Ctx, answer: Result<Answer, String>) {
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
            Ctx::Older { conn } => (*conn, None),
            Ctx::Send { .. } => return,
        };
        let event = match answer {
            Ok(Answer::Room {
                room,
                mode,
                messages,
                more_before,
            }) => ServerMsg::History {
                room,
                mode,
                messages,
                more_before,
            },
            Ok(Answer::Direct { mode, messages }) => ServerMsg::DirectHistory { mode, messages },
            Err(reason) => {
                let message = match waited {
                    Some(room) => format!("{reason} of {room}; join it again to retry"),
                    None => reason,
                };
                return self.refuse(conn, ErrorCode::StoreFailed, &message, None);
            }
        };
        self.send_to(conn, &event);
    }

    /// A room message to every member, except connections still waiting for the room's
    /// history (which contains it).
    fn broadcast_live(&mut self, room: &RoomName, event: &ServerMsg) {
        let conns: Vec<ConnId> = self
            .rooms
            .conns(room)
            .map(|(c, _)| c)
            .filter(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|s| !s.catching_up.contains_key(room))
            })
            .collect();
        self.broadcast(conns, event);
    }

    fn typing(&mut self, conn: ConnId, user: UserId, room: RoomName) {
        if !self.rooms.contains(&room, conn) {
            let message = format!("not in room {room}");
            return self.refuse(conn, ErrorCode::NotInRoom, &message, None);
        }
        let deadline = Instant::now() + self.typing_timeout;
        // Only a start is announced; repeats just push the deadline (server-side throttle).
        if self.typing.insert((room.clone(), user), deadline).is_none() {
            self.announce_typing(&room, user, true);
        }
    }

    fn stop_typing(&mut self, room: &RoomName, user: UserId) {
        if self.typing.remove(&(room.clone(), user)).is_some() {
            self.announce_typing(room, user, false);
        }
    }

    fn expire_typing(&mut self, now: Instant) {
        let expired: Vec<(RoomName, UserId)> = self
            .typing
            .iter()
            .filter(|&(_, &deadline)| deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for (room, user) in expired {
            self.stop_typing(&room, user);
        }
    }

    /// Typing goes to the room's other users (the typist's own tabs know already).
    fn announce_typing(&mut self, room: &RoomName, user: UserId, active: bool) {
        let event = ServerMsg::Typing {
            room: room.clone(),
            user: self.nick(user),
            active,
        };
        self.broadcast_room(room, Some(user), &event);
    }

    fn direct(
        &mut self,
        conn: ConnId,
        user: UserId,
        to: &Nick,
        text: Text,
        client_id: ClientMsgId,
    ) {
        let Some(&recipient) = self.nicks.get(&to.key()) else {
            let message = format!("nobody called {to} is online");
            return self.refuse(conn, ErrorCode::NoSuchUser, &message, Some(client_id));
        };
        if let Err(message) = self.check_length(&text) {
            return self.refuse(conn, ErrorCode::TooLong, &message, Some(client_id));
        }
        let Some(profile) = self.users.get(&recipient) else {
            return;
        };
        let target = Target::Direct {
            recipient: profile.key.clone(),
            to: profile.nick.clone(),
        };
        self.append(conn, user, Some(recipient), target, text, client_id);
    }

    fn rename(&mut self, conn: ConnId, user: UserId, nick: Nick) {
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

    fn check_length(&self, text: &Text) -> Result<(), String> {
        let chars = text.chars();
        if chars > self.limits.max_text_chars as usize {
            return Err(format!(
                "message has {chars} characters; the limit is {}",
                self.limits.max_text_chars
            ));
        }
        Ok(())
    }

    fn refuse(
        &mut self,
        conn: ConnId,
        code: ErrorCode,
        message: &str,
        client_id: Option<ClientMsgId>,
    ) {
        let event = ServerMsg::Error {
            code,
            message: message.to_owned(),
            client_id,
        };
        self.send_to(conn, &event);
    }

    fn nick(&self, user: UserId) -> Nick {
        self.users
            .get(&user)
            .map(|u| u.nick.clone())
            .expect("every user in a room or conn map is registered")
    }

    fn send_to(&mut self, conn: ConnId, event: &ServerMsg) {
        self.broadcast([conn], event);
    }

    /// Sends `event` to every connection in `room`, except the tabs of `except` (who already
    /// know, e.g. the user who joined or is typing).
    fn broadcast_room(&mut self, room: &RoomName, except: Option<UserId>, event: &ServerMsg) {
        let conns: Vec<ConnId> = self
            .rooms
            .conns(room)
            .filter(|&(_, u)| Some(u) != except)
            .map(|(c, _)| c)
            .collect();
        self.broadcast(conns, event);
    }

    /// Encodes `event` once and queues the same frame for every connection in `conns`.
    fn broadcast(&mut self, conns: impl IntoIterator<Item = ConnId>, event: &ServerMsg) {
        let frame = match shared::encode(event) {
            Ok(json) => Frame::text(&json),
            Err(err) => {
                tracing::error!(error = %err, ?event, "cannot encode a server message");
                return;
            }
        };
        for conn in conns {
            let Some(state) = self.conns.get(&conn) else {
                continue;
            };
            match state.outbox.try_send(frame.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tracing::info!(conn = conn.0, "outbox full: dropping slow reader");
                    self.metrics.slow_consumers.inc();
                    state.kick.cancel();
                    self.overflowed.push(conn);
                }
                // The session ended; its Disconnect is on the way.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Removes connections cut off for slowness; their departures may overflow others, which
    /// are removed in turn (each connection at most once, so this ends).
    fn drop_overflowed(&mut self) {
        while let Some(conn) = self.overflowed.pop() {
            self.remove(conn);
        }
    }

    fn remove(&mut self, conn: ConnId) {
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
            self.users.remove(&user);
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

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        conn: ConnId,
        outbox: mpsc::Receiver<Frame>,
        kick: CancellationToken,
    }

    /// A hub whose store lives in a fresh directory (dropped with the returned guard).
    fn spawn_hub(metrics: Arc<Metrics>) -> (HubHandle, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let hub = HubHandle::spawn(&config, metrics, CancellationToken::new()).unwrap();
        (hub, dir)
    }

    async fn connect(hub: &HubHandle, capacity: usize) -> Fake {
        let (tx, outbox) = mpsc::channel(capacity);
        let kick = CancellationToken::new();
        let conn = hub.connect(tx, kick.clone()).await.unwrap();
        Fake { conn, outbox, kick }
    }

    async fn hello(hub: &HubHandle, fake: &Fake, nick: &str) {
        let message = ClientMsg::Hello {
            nick: nick.parse().unwrap(),
            token: format!("{nick}-token-0123456789").parse().unwrap(),
            rooms: vec![],
            since: std::collections::BTreeMap::new(),
            direct_since: None,
        };
        hub.request(fake.conn, message).await.unwrap();
    }

    async fn next(fake: &mut Fake) -> Frame {
        tokio::time::timeout(Duration::from_secs(2), fake.outbox.recv())
            .await
            .expect("a frame in time")
            .expect("outbox open")
    }

    /// A text frame's JSON.
    fn text(frame: &Frame) -> &str {
        std::str::from_utf8(frame.payload()).expect("a text frame")
    }

    /// Reads frames until one contains `needle`, and returns it.
    async fn until(fake: &mut Fake, needle: &str) -> Frame {
        loop {
            let frame = next(fake).await;
            if text(&frame).contains(needle) {
                return frame;
            }
        }
    }

    fn say(text: &str) -> ClientMsg {
        ClientMsg::Say {
            room: RoomName::default_room(),
            text: text.try_into().unwrap(),
            client_id: "c1".parse().unwrap(),
        }
    }

    #[tokio::test]
    async fn a_broadcast_is_encoded_once_and_shared_by_every_recipient() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let (hub, _dir) = spawn_hub(metrics);
        let mut alice = connect(&hub, 16).await;
        let mut bob = connect(&hub, 16).await;
        hello(&hub, &alice, "alice").await;
        until(&mut alice, "\"history\"").await;
        hello(&hub, &bob, "bob").await;
        until(&mut bob, "\"history\"").await;
        until(&mut alice, "\"member_joined\"").await;
        hub.request(alice.conn, say("one buffer")).await.unwrap();
        let (a, b) = (next(&mut alice).await, next(&mut bob).await);
        assert_eq!(text(&a), text(&b));
        assert!(text(&a).contains("one buffer"));
        assert_eq!(
            a.payload().as_ptr(),
            b.payload().as_ptr(),
            "same bytes, not a copy"
        );
    }

    #[tokio::test]
    async fn a_full_outbox_gets_its_connection_kicked_and_removed() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let (hub, _dir) = spawn_hub(Arc::clone(&metrics));
        let mut alice = connect(&hub, 64).await;
        hello(&hub, &alice, "alice").await;
        until(&mut alice, "\"history\"").await;
        // welcome, joined, direct_history and history fill an outbox of 4.
        let slow = connect(&hub, 4).await;
        hello(&hub, &slow, "slow").await;
        until(&mut alice, "\"member_joined\"").await;
        hub.request(alice.conn, say("overflow")).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), slow.kick.cancelled())
            .await
            .expect("the slow connection is kicked");
        // Alice got her message and then saw the slow user leave; nothing stalled.
        assert!(text(&next(&mut alice).await).contains("\"said\""));
        assert!(text(&next(&mut alice).await).contains("\"member_left\""));
        assert_eq!(metrics.slow_consumers.get(), 1);
    }
}
