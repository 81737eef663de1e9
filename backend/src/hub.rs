//! The hub: the one owner of chat state (users, nicknames, rooms, typing), run as a single task
//! that sessions talk to through a channel. No locks; one global order of events.
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
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytestring::ByteString;
use shared::{
    ClientMsg, ClientMsgId, ErrorCode, MessageId, Nick, RoomInfo, RoomName, ServerMsg, Text,
    UserToken,
};
use tokio::{
    sync::mpsc,
    time::{Instant, MissedTickBehavior},
};
use tokio_util::sync::CancellationToken;

use crate::{Config, metrics::Metrics, rooms::Rooms};

/// An encoded server message, shared by all its recipients (cloning is a reference count).
pub type Frame = ByteString;

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
    /// Starts the hub task; it stops when `shutdown` is cancelled or every handle is dropped.
    pub fn spawn(config: &Config, metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let hub = Hub::new(config, metrics);
        tokio::spawn(hub.run(receiver, shutdown));
        Self {
            commands,
            next_conn: Arc::new(AtomicU64::new(1)),
        }
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
}

struct User {
    nick: Nick,
    token: UserToken,
    conns: BTreeSet<ConnId>,
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
    next_user: u64,
    next_message: u64,
    /// Connections whose outbox overflowed during the current command, dropped after it.
    overflowed: Vec<ConnId>,
}

impl Hub {
    fn new(config: &Config, metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            limits: config.limits(),
            typing_timeout: config.typing_timeout,
            rooms: Rooms::default(),
            conns: HashMap::new(),
            users: HashMap::new(),
            nicks: HashMap::new(),
            typing: HashMap::new(),
            next_user: 1,
            next_message: 1,
            overflowed: Vec::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut sweep = tokio::time::interval(TYPING_SWEEP);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
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
            (None, ClientMsg::Hello { nick, token, rooms }) => self.hello(conn, nick, token, rooms),
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
            (Some(user), ClientMsg::Join { room }) => self.join(conn, user, room),
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

    fn hello(&mut self, conn: ConnId, nick: Nick, token: UserToken, rooms: Vec<RoomName>) {
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
                self.users.insert(
                    user,
                    User {
                        nick,
                        token,
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
        if let Some(state) = self.conns.get_mut(&conn) {
            state.user = Some(user);
        }
        self.send_to(conn, &welcome);
        let rooms = if rooms.is_empty() {
            vec![RoomName::default_room()]
        } else {
            rooms
        };
        for room in rooms {
            self.join(conn, user, room);
        }
    }

    fn join(&mut self, conn: ConnId, user: UserId, room: RoomName) {
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
        self.send_to(conn, &ServerMsg::Joined { room, members });
    }

    fn leave(&mut self, conn: ConnId, room: &RoomName) {
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
        let event = ServerMsg::Said {
            id: self.message_id(),
            room: room.clone(),
            from: self.nick(user),
            text,
            ts: now_ms(),
            client_id,
        };
        self.broadcast_room(&room, None, &event);
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
        let event = ServerMsg::Direct {
            id: self.message_id(),
            from: self.nick(user),
            to: self.nick(recipient),
            text,
            ts: now_ms(),
            client_id,
        };
        let conns: BTreeSet<ConnId> = [user, recipient]
            .iter()
            .filter_map(|u| self.users.get(u))
            .flat_map(|u| u.conns.iter().copied())
            .collect();
        self.broadcast(conns, &event);
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

    fn message_id(&mut self) -> MessageId {
        let id = MessageId(self.next_message);
        self.next_message += 1;
        id
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
            Ok(json) => Frame::from(json),
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

/// Milliseconds since the Unix epoch, for message timestamps.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        conn: ConnId,
        outbox: mpsc::Receiver<Frame>,
        kick: CancellationToken,
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
        };
        hub.request(fake.conn, message).await.unwrap();
    }

    async fn next(fake: &mut Fake) -> Frame {
        tokio::time::timeout(Duration::from_secs(2), fake.outbox.recv())
            .await
            .expect("a frame in time")
            .expect("outbox open")
    }

    #[tokio::test]
    async fn a_broadcast_is_encoded_once_and_shared_by_every_recipient() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let hub = HubHandle::spawn(&Config::default(), metrics, CancellationToken::new());
        let mut alice = connect(&hub, 16).await;
        let mut bob = connect(&hub, 16).await;
        hello(&hub, &alice, "alice").await;
        hello(&hub, &bob, "bob").await;
        for _ in 0..3 {
            next(&mut alice).await; // welcome, joined, bob joined
        }
        for _ in 0..2 {
            next(&mut bob).await; // welcome, joined
        }
        let say = ClientMsg::Say {
            room: RoomName::default_room(),
            text: "one buffer".try_into().unwrap(),
            client_id: "c1".parse().unwrap(),
        };
        hub.request(alice.conn, say).await.unwrap();
        let (a, b) = (next(&mut alice).await, next(&mut bob).await);
        assert_eq!(a, b);
        assert!(a.contains("one buffer"));
        assert_eq!(
            a.as_bytes().as_ptr(),
            b.as_bytes().as_ptr(),
            "same bytes, not a copy"
        );
    }

    #[tokio::test]
    async fn a_full_outbox_gets_its_connection_kicked_and_removed() {
        let metrics = Arc::new(Metrics::new().unwrap());
        let hub = HubHandle::spawn(
            &Config::default(),
            Arc::clone(&metrics),
            CancellationToken::new(),
        );
        let mut alice = connect(&hub, 64).await;
        let slow = connect(&hub, 2).await;
        hello(&hub, &alice, "alice").await;
        hello(&hub, &slow, "slow").await; // welcome + joined fill its outbox of 2
        for _ in 0..3 {
            next(&mut alice).await;
        }
        let say = ClientMsg::Say {
            room: RoomName::default_room(),
            text: "overflow".try_into().unwrap(),
            client_id: "c1".parse().unwrap(),
        };
        hub.request(alice.conn, say).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), slow.kick.cancelled())
            .await
            .expect("the slow connection is kicked");
        // Alice got her message and then saw the slow user leave; nothing stalled.
        assert!(next(&mut alice).await.contains("\"said\""));
        assert!(next(&mut alice).await.contains("\"member_left\""));
        assert_eq!(metrics.slow_consumers.get(), 1);
    }
}
