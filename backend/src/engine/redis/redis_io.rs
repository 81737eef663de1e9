//! What the engine asks of Redis: the key layout, the Lua scripts, and one async function per
//! operation (each run as a future in the engine's set, so none blocks another).
//!
//! Keys of one room (its log, its presence, its channel) share the hash tag `{r:ROOM}`, each
//! nickname key's lease has a slot of its own (`{n:KEY}`), each user's direct-message log,
//! read positions and channel share `{u:USER}`, each direct conversation's counter and
//! idempotency records `{d:A:B}`, and node leases, holdings and the room list share `{p}`:
//! every script touches one hash slot, so it runs on a Redis Cluster (docs/DEPLOYMENT.md has
//! the table). Room names and user keys are validated `[A-Za-z0-9_-]` and hex, so they cannot
//! contain a brace or a colon.
//!
//! One piece (about 1,800 lines) on purpose: it is the one list of the engine's keys and
//! scripts with the parsing of each script's reply beside its call, so a key's layout and
//! every reader of it are changed in one place.

use std::{sync::Arc, time::Duration};

use redis::{RedisResult, Script, Value};
use serde::Serialize;
use shared::{
    Change, DirectMessage, Epoch, HistoryMode, MessageId, Nick, RoomChange, RoomEntry, RoomInfo,
    RoomName, ServerMsg,
};
use tokio::sync::{mpsc, oneshot};

use super::{Log, slots::Item};
use crate::engine::{
    rules::{millis, now_ms, reachable},
    vocabulary::{
        Answer, Authority, Body, DirectRange, EngineError, Holder, Joiner, MemberPage, NewMessage,
        PRIVATE_READS, Reached, Read, RoomRange, StoreOptions, Stored, Target,
    },
};
use crate::redis_set::{Conn, RedisSet};

/// A health check that takes longer than this counts as a failure (`/readyz` 503).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The key naming the presence hash slot (presence.lua builds its keys from it).
const PRESENCE: &str = "chat:{p}";
/// A node whose lease ran out, and stayed out for [`SWEEP_GRACE`], is dead: its members
/// leave, its nicknames are freed. With the sweeper running every second that takes about
/// 9 s from the node's last renewal.
const NODE_LEASE: Duration = Duration::from_secs(5);
/// How long a lease must stay missing before its node is swept: live nodes renew well within
/// it, also after Redis was down longer than a lease (a restart expires every lease at once).
const SWEEP_GRACE: Duration = Duration::from_secs(3);
/// How long the sweeper lock lasts without renewal (another node takes over after it).
const SWEEPER_LOCK: Duration = Duration::from_secs(3);

/// Rooms and users with a log, for retention by age (sets; not in any log's slot: written
/// by the node after a send, not by the send script).
const ROOM_LOGS: &str = "chat:logs:rooms";
const USER_LOGS: &str = "chat:logs:users";
/// Entries one retention step looks at.
const TRIM_STEP: u32 = 2000;

/// A room's channel is `chat:{r:ROOM}`: in the room's hash slot, so on a Redis Cluster it is a
/// sharded channel of the room's shard (`SPUBLISH` by the room's scripts, `SSUBSCRIBE`d by the
/// nodes with members there). Its name is also the prefix of the room's keys.
const ROOM_CHANNEL: &str = "chat:{r:";
/// A user's channel is `chat:{u:USER}`, in the user's slot (whose scripts publish on it): a
/// sharded channel on a Redis Cluster, as a room's is. Its name is also the prefix of the
/// user's keys.
const USER_CHANNEL: &str = "chat:{u:";
/// The channels the engine's logs are published on (by prefix).
pub(super) const CHANNELS: [&str; 2] = [ROOM_CHANNEL, USER_CHANNEL];

fn room_meta(room: &RoomName) -> String {
    format!("chat:{{r:{room}}}:meta")
}

/// The key of a room's meta hash (seq, epoch): there once the room was used.
pub(crate) fn room_meta_key(room: &RoomName) -> String {
    room_meta(room)
}

/// The lease of nickname key `key` (a [`crate::names::likeness`] key): a hash in a slot of its
/// own (nick.lua).
fn nick_key(key: &str) -> String {
    format!("chat:{{n:{key}}}")
}

/// The key of a room's members (a hash, user key -> nickname; room_presence.lua's `members`,
/// in the room's slot).
pub(crate) fn room_members_key(room: &RoomName) -> String {
    format!("chat:{{r:{room}}}:members")
}

/// The room's channel, and the base of its presence keys (room_presence.lua's KEYS[1]).
fn room_base(room: &RoomName) -> String {
    format!("{ROOM_CHANNEL}{room}}}")
}

fn room_log(room: &RoomName) -> String {
    format!("chat:{{r:{room}}}:log")
}

/// Who wrote each message of the room still there and not deleted (id -> sender key).
fn room_authors(room: &RoomName) -> String {
    format!("chat:{{r:{room}}}:authors")
}

/// Each message's changes (id -> change entries, one JSON per line).
fn room_changes(room: &RoomName) -> String {
    format!("chat:{{r:{room}}}:changes")
}

/// The image or file of each message of the room still there that has one (id -> upload id), and
/// the field `indexed` once messages stored before this hash existed are in it too
/// (index_images.lua).
fn room_images(room: &RoomName) -> String {
    format!("chat:{{r:{room}}}:images")
}

/// The ids of the images that the messages in `room`'s log name, for the sweep of unused
/// uploads ([`crate::uploads`]). The first time for a room, the messages stored before the
/// send script kept the images hash are read into it, atomically with the sends.
pub(crate) async fn images_in_use(
    redis: &mut Conn,
    room: &RoomName,
) -> RedisResult<std::collections::HashSet<String>> {
    static INDEX: std::sync::LazyLock<Script> =
        std::sync::LazyLock::new(|| Script::new(include_str!("index_images.lua")));
    let ids: Vec<String> = INDEX
        .key(room_log(room))
        .key(room_images(room))
        .invoke_async(redis)
        .await?;
    Ok(ids.into_iter().collect())
}

fn room_sent(room: &RoomName, sender: &str, client_id: &str) -> String {
    format!("chat:{{r:{room}}}:sent:{sender}:{client_id}")
}

/// A user's meta hash: the `id` counter and the `epoch` of the user's log.
fn user_meta(user: &str) -> String {
    format!("chat:{{u:{user}}}:meta")
}

/// A user's direct messages (sent and received), a stream with an entry per id.
fn user_log(user: &str) -> String {
    format!("chat:{{u:{user}}}:log")
}

/// A user's read positions (in the user's slot, beside the user's log).
fn user_reads(user: &str) -> String {
    format!("chat:{{u:{user}}}:reads")
}

/// The copy in `user`'s log of `sender`'s message `client_id` in `conversation`
/// (append_direct.lua's record, which makes a retried append a repeat). Named by the message,
/// not by its seq: a conversation's counter lost in a failover must not make a new message
/// look like a copy already made.
fn user_got(user: &str, conversation: &str, sender: &str, client_id: &str) -> String {
    format!("chat:{{u:{user}}}:got:{conversation}:{sender}:{client_id}")
}

/// The conversation between users `a` and `b`: both keys, in order (one name for both
/// directions).
fn conversation(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}:{b}")
    } else {
        format!("{b}:{a}")
    }
}

/// A conversation's meta hash: its `seq` counter.
fn conversation_meta(conversation: &str) -> String {
    format!("chat:{{d:{conversation}}}:meta")
}

/// The idempotency record of `sender`'s `client_id` in `conversation` (direct_seq.lua).
fn direct_sent(conversation: &str, sender: &str, client_id: &str) -> String {
    format!("chat:{{d:{conversation}}}:sent:{sender}:{client_id}")
}

/// Where direct messages were kept before each user's slot had their own (one slot for all
/// of them, `{dm}`): its meta hash (`epoch`, and `id`, the one counter), each user's log and
/// read positions. Moved once by [`Io::directs_ready`]; the meta hash stays (its `id` is
/// where conversations count from).
const OLD_DIRECT_META: &str = "chat:{dm}:meta";

fn old_user_log(user: &str) -> String {
    format!("chat:{{dm}}:log:{user}")
}

fn old_user_reads(user: &str) -> String {
    format!("chat:{{dm}}:reads:{user}")
}

fn channel(log: &Log) -> String {
    match log {
        Log::Room(room) => room_base(room),
        Log::User(user) => format!("{USER_CHANNEL}{user}}}"),
    }
}

/// What arrived on a channel.
pub(super) enum Push {
    /// A stored message of a log, with the log's epoch.
    Message(Log, Epoch, Item),
    /// A presence event (member joined or left, typing, renamed) in a room, caused by a user
    /// (key).
    Presence(RoomName, String, ServerMsg),
    /// An event for every tab of a user (key): a read position that moved.
    User(String, ServerMsg),
}

/// Turns a Pub/Sub message into what it says: "EPOCH JSON" (a stored message) on a log's
/// channel, "~USER JSON" (a presence event) on a room's, "~JSON" (an event for the user's
/// tabs) on a user's.
pub(super) fn parse_push(data: Vec<Value>) -> Option<Push> {
    let mut data = data.into_iter();
    let channel: String = redis::from_redis_value(data.next()?).ok()?;
    let payload: String = redis::from_redis_value(data.next()?).ok()?;
    let room = channel
        .strip_prefix(ROOM_CHANNEL)
        .and_then(|rest| rest.strip_suffix('}'));
    if let Some(tagged) = payload.strip_prefix('~') {
        if let Some(room) = room {
            let (user, json) = tagged.split_once(' ')?;
            let event = shared::decode(json).ok()?;
            return Some(Push::Presence(room.parse().ok()?, user.to_owned(), event));
        }
        let user = channel
            .strip_prefix(USER_CHANNEL)
            .and_then(|rest| rest.strip_suffix('}'))?;
        return Some(Push::User(user.to_owned(), shared::decode(tagged).ok()?));
    }
    let (epoch, json) = payload.split_once(' ')?;
    let epoch = Epoch::try_from(epoch).ok()?;
    if let Some(room) = room {
        let entry = RoomEntry::from_json(json).ok()?;
        let log = Log::Room(room.parse().ok()?);
        return Some(Push::Message(log, epoch, Item::Room(entry)));
    }
    let user = channel
        .strip_prefix(USER_CHANNEL)
        .and_then(|rest| rest.strip_suffix('}'))?;
    let message = parse_direct(json).ok()?;
    Some(Push::Message(
        Log::User(user.to_owned()),
        epoch,
        Item::Direct(message),
    ))
}

/// Messages one gap read brings at most; a longer gap takes several.
const FILL_COUNT: u32 = 1000;

struct Scripts {
    presence: Script,
    room_presence: Script,
    nick: Script,
    replace_epoch: Script,
    trim_age: Script,
    send_room: Script,
    mark_read: Script,
    read_room: Script,
    direct_seq: Script,
    append_direct: Script,
    read_direct: Script,
}

/// Subscription changes and health checks for the subscriber connection, done one at a time
/// in the order the engine queued them.
enum SubCmd {
    Subscribe(String, oneshot::Sender<RedisResult<()>>),
    Unsubscribe(String),
    Ping(oneshot::Sender<bool>),
}

/// The engine's connections and scripts; cheap to clone into each operation.
#[derive(Clone)]
pub(super) struct Io {
    /// This node's id in presence entries (random per process start: a restarted node is a
    /// new node, and the old one's entries are swept).
    node: Arc<str>,
    commands: Conn,
    subscriber: mpsc::UnboundedSender<SubCmd>,
    scripts: Arc<Scripts>,
    options: Arc<StoreOptions>,
    /// The rooms this node has listed among its holdings in `{p}` (a join writes the entry
    /// only the first time); forgotten when the node's presence was lost
    /// ([`Io::forget_held`]). Never held across an await.
    held: Arc<std::sync::Mutex<std::collections::HashSet<RoomName>>>,
    /// Set once direct messages of the older one-slot layout are in their users' slots:
    /// the lowest seq a conversation counts from ([`Io::directs_ready`]).
    directs: Arc<tokio::sync::OnceCell<u64>>,
}

impl Io {
    /// Over the node's connections (commands; Pub/Sub, whose pushes for [`CHANNELS`] the
    /// engine reads from [`RedisSet::pushes`]).
    pub(super) fn connect(redis: &RedisSet, options: StoreOptions) -> Result<Self, EngineError> {
        let commands = redis.commands();
        let (subscriber, queue) = mpsc::unbounded_channel();
        tokio::spawn(subscriber_loop(redis.pubsub(), queue));
        let node = crate::ids::new_epoch()
            .map_err(|e| EngineError::Randomness(format!("a node name: {e}")))?;
        Ok(Self {
            node: node.as_str().into(),
            commands,
            subscriber,
            scripts: Arc::new(Scripts {
                presence: Script::new(include_str!("presence.lua")),
                room_presence: Script::new(include_str!("room_presence.lua")),
                nick: Script::new(include_str!("nick.lua")),
                replace_epoch: Script::new(include_str!("replace_epoch.lua")),
                trim_age: Script::new(include_str!("trim_age.lua")),
                send_room: Script::new(include_str!("send_room.lua")),
                read_room: Script::new(include_str!("read_room.lua")),
                direct_seq: Script::new(include_str!("direct_seq.lua")),
                append_direct: Script::new(include_str!("append_direct.lua")),
                mark_read: Script::new(include_str!("mark_read.lua")),
                read_direct: Script::new(include_str!("read_direct.lua")),
            }),
            options: Arc::new(options),
            held: Arc::default(),
            directs: Arc::default(),
        })
    }

    /// This node's presence was lost in Redis (wiped, or swept while it was cut off): its
    /// holdings are gone too, and the next join of each room lists it again.
    pub(super) fn forget_held(&self) {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// How scripts and commands publish on a log's channel: sharded on a Redis Cluster (the
    /// channel lives on its slot's shard), plain on one Redis (whose connection manager
    /// subscribes again after a reconnect only to plain channels).
    fn publish(&self) -> &'static str {
        if self.commands.is_cluster() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// What the send scripts ring their doorbell with: nothing when the node rings it after
    /// the replicas confirmed (`--redis-wait-replicas`).
    fn doorbell(&self) -> &'static str {
        if self.options.wait_replicas > 0 {
            ""
        } else {
            self.publish()
        }
    }

    /// Queues the subscription to `log`'s channel; the receiver tells when it is in place.
    pub(super) fn subscribe(&self, log: &Log) -> oneshot::Receiver<RedisResult<()>> {
        let (reply, done) = oneshot::channel();
        let _ = self.subscriber.send(SubCmd::Subscribe(channel(log), reply));
        done
    }

    /// Queues leaving `log`'s channel.
    pub(super) fn unsubscribe(&self, log: &Log) {
        let _ = self.subscriber.send(SubCmd::Unsubscribe(channel(log)));
    }

    /// Waits for the subscription, then learns the log's epoch and last position: every
    /// message after it will arrive on the channel (or be found by a gap read).
    pub(super) async fn start(
        &self,
        log: &Log,
        subscribed: oneshot::Receiver<RedisResult<()>>,
    ) -> Result<(Epoch, u64), EngineError> {
        subscribed
            .await
            .map_err(|_| EngineError::Stopped("the subscriber"))?
            .map_err(EngineError::from)?;
        // A read after the end brings no message, only the epoch and last position.
        let (epoch, last, _) = self.after(log, u64::MAX - 1).await?;
        Ok((epoch, last))
    }

    /// Whether each connection (commands, subscriber) answers a PING in time.
    pub(super) async fn healthy(&self) -> (bool, bool) {
        let mut conn = self.commands.clone();
        let commands = tokio::time::timeout(HEALTH_TIMEOUT, async {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        });
        let (reply, answer) = oneshot::channel();
        let _ = self.subscriber.send(SubCmd::Ping(reply));
        let subscriber = tokio::time::timeout(HEALTH_TIMEOUT, answer);
        let (commands, subscriber) = tokio::join!(commands, subscriber);
        (
            matches!(commands, Ok(Ok(_))),
            matches!(subscriber, Ok(Ok(true))),
        )
    }

    /// Runs the send script: `Sent::New` when stored now (with the log's epoch),
    /// `Sent::Repeat` with the original for a repeated `client_id`.
    pub(super) async fn append(&self, message: &NewMessage) -> Result<Sent, EngineError> {
        let epoch = fresh_epoch()?;
        let window = millis(self.options.dedup_window);
        let mut conn = self.commands.clone();
        let client_id = message.client_id.as_str();
        let reply: RedisResult<Vec<String>> = match &message.target {
            Target::Room(room) => {
                let referred = crate::engine::rules::referred(&message.body);
                // The images hash names it (an image's or a file's: a message has one or the
                // other), for the sweep of unused uploads.
                let image_id = match &message.body {
                    Body::Text {
                        image: Some(image), ..
                    } => image.id.as_str().to_owned(),
                    Body::Change {
                        change: Change::Previewed { preview },
                        ..
                    } => preview
                        .image
                        .as_ref()
                        .map(|image| image.id.as_str().to_owned())
                        .unwrap_or_default(),
                    Body::Text {
                        file: Some(file), ..
                    } => file.id.as_str().to_owned(),
                    _ => String::new(),
                };
                let (kind, body) = match &message.body {
                    Body::Text {
                        text,
                        reply_to,
                        image,
                        file,
                    } => {
                        // A reply quotes its original as it is now; the script checks again,
                        // atomically, that it is still there.
                        let reply_to = match reply_to {
                            Some(id) => match self.quote(room, *id, &message.sender).await? {
                                Ok(quote) => quote,
                                Err(refusal) => return Ok(Sent::Refused(refusal)),
                            },
                            None => None,
                        };
                        let body = members(&RoomBody {
                            from: message.from.as_str(),
                            text: text.as_str(),
                            ts: message.ts,
                            client_id,
                            reply_to,
                            image: image.as_ref(),
                            file: file.as_deref(),
                        })?;
                        ("message", body)
                    }
                    Body::Change { target, change, .. } => {
                        let body = members(&ChangeBody {
                            from: message.from.as_str(),
                            ts: message.ts,
                            client_id,
                            target: *target,
                            change,
                        })?;
                        let kind = match change {
                            Change::Deleted => "delete",
                            Change::Edited { .. } => "edit",
                            Change::Reacted { on: true, .. } => "react_on",
                            Change::Reacted { on: false, .. } => "react_off",
                            Change::Previewed { .. } => "preview",
                        };
                        (kind, body)
                    }
                };
                let (target, author_only) = match referred {
                    Some((id, authority)) => (id.0.to_string(), authority == Authority::Author),
                    None => (String::new(), false),
                };
                self.scripts
                    .send_room
                    .key(room_meta(room))
                    .key(room_log(room))
                    .key(room_sent(room, &message.sender, client_id))
                    .key(room_authors(room))
                    .key(room_changes(room))
                    .key(room_images(room))
                    .arg(epoch.as_str())
                    .arg(window)
                    .arg(channel(&Log::Room(room.clone())))
                    .arg(body)
                    .arg(self.options.retention_messages.unwrap_or(0))
                    .arg(&message.sender)
                    .arg(kind)
                    .arg(target)
                    .arg(if author_only { "1" } else { "0" })
                    .arg(match &message.body {
                        Body::Change {
                            change: Change::Reacted { emoji, .. },
                            ..
                        } => emoji.as_str(),
                        _ => "",
                    })
                    .arg(message.from.as_str())
                    .arg(shared::Reaction::MAX_PER_MESSAGE)
                    .arg(shared::Reaction::MAX_PER_USER)
                    .arg(image_id)
                    .arg(self.doorbell())
                    .invoke_async(&mut conn)
                    .await
            }
            Target::Direct { recipient, to, .. } => {
                return self.append_direct(message, recipient.as_ref(), to).await;
            }
        };
        let reply = reply.map_err(|e| {
            EngineError::Redis(format!(
                "the message may not have been stored (Redis: {e}); resending it is safe: \
                 the same client_id is stored at most once"
            ))
        })?;
        let mut reply = reply.into_iter();
        let new = reply.next().unwrap_or_default();
        if let (Target::Room(room), Some((id, _))) = (
            &message.target,
            crate::engine::rules::referred(&message.body),
        ) {
            match new.as_str() {
                "-1" => {
                    return Ok(Sent::Refused(crate::engine::rules::no_such_message(
                        room, id,
                    )));
                }
                "-2" => return Ok(Sent::Refused(crate::engine::rules::not_yours(room, id))),
                "-3" => {
                    // The script counted; the rule words the refusal (store::reaction_caps).
                    let numbers: Vec<u32> = reply.filter_map(|n| n.parse().ok()).collect();
                    let [has, mine, known, kinds] = numbers[..] else {
                        return Err(EngineError::unreadable(
                            "a short answer from the send script",
                        ));
                    };
                    let refusal =
                        crate::engine::rules::reaction_caps(has == 1, mine, known == 1, kinds)
                            .err()
                            .unwrap_or_else(|| {
                                let reason = "this message has all the reactions it may".to_owned();
                                (shared::ErrorCode::TooManyReactions, reason)
                            });
                    return Ok(Sent::Refused(refusal));
                }
                _ => {}
            }
        }
        let Some(json) = reply.next() else {
            return Err(EngineError::unreadable(
                "a short answer from the send script",
            ));
        };
        let Target::Room(room) = &message.target else {
            return Err(EngineError::unreadable("a direct message in the room send"));
        };
        let stored = Stored::Room {
            room: room.clone(),
            entry: parse_entry(&json)?,
        };
        let logs = vec![Log::Room(room.clone())];
        let epoch = match reply.next() {
            Some(epoch) => Some(
                Epoch::try_from(epoch)
                    .map_err(|_| EngineError::unreadable("an unreadable epoch from the send"))?,
            ),
            None => None,
        };
        if self.options.wait_replicas > 0 {
            let epoch = match &epoch {
                Some(epoch) => epoch.as_str().to_owned(),
                None => redis::cmd("HGET")
                    .arg(room_meta(room))
                    .arg("epoch")
                    .query_async::<String>(&mut conn)
                    .await
                    .map_err(EngineError::from)?,
            };
            self.replicate_then_ring(
                &[room_sent(room, &message.sender, client_id)],
                &[room_meta(room)],
                &[(channel(&logs[0]), format!("{epoch} {json}"))],
            )
            .await?;
        }
        match (new.as_str(), epoch) {
            ("1", Some(epoch)) => Ok(Sent::New(stored, epoch, logs, None)),
            ("1", None) => Err(EngineError::unreadable(
                "the send script's answer has no epoch",
            )),
            _ => Ok(Sent::Repeat(stored)),
        }
    }

    /// A direct message: its place in the conversation (its slot), then a copy in the
    /// sender's log and one in the recipient's (each in its user's slot, each rung on that
    /// user's channel). The acknowledgement waits for all three; should the node stop between
    /// them, the sender's resend (same `client_id`) finds the conversation's record and makes
    /// the copies still missing, once each.
    async fn append_direct(
        &self,
        message: &NewMessage,
        recipient: Option<&String>,
        to: &Nick,
    ) -> Result<Sent, EngineError> {
        let Body::Text {
            text,
            reply_to: None,
            image: None,
            file: None,
        } = &message.body
        else {
            let reason =
                "direct messages cannot be answered, changed or carry images or files".to_owned();
            return Ok(Sent::Refused((shared::ErrorCode::Invalid, reason)));
        };
        let floor = self.directs_ready().await?;
        let mut away = false;
        let (recipient, to) = match recipient {
            Some(recipient) => (recipient.clone(), to.clone()),
            // Not on this node: whoever owns the nickname in the cluster now, or its last
            // holder if the rules let the name reach them while away.
            None => match self.owner_of(to).await.map_err(EngineError::from)? {
                Some(owner) => owner,
                None => match self.last_holder(to).await.map_err(EngineError::from)? {
                    Some(holder) => {
                        away = true;
                        (holder.user, holder.nick)
                    }
                    None => return Ok(Sent::NoRecipient(to.clone())),
                },
            },
        };
        let client_id = message.client_id.as_str();
        let window = millis(self.options.dedup_window);
        let body = members(&DirectBody {
            from: message.from.as_str(),
            to: to.as_str(),
            text: text.as_str(),
            ts: message.ts,
            client_id,
        })?;
        let conversation = conversation(&message.sender, &recipient);
        let record = direct_sent(&conversation, &message.sender, client_id);
        let mut conn = self.commands.clone();
        let placed: Vec<String> = self
            .scripts
            .direct_seq
            .key(conversation_meta(&conversation))
            .key(&record)
            .arg(window)
            .arg(body)
            .arg(floor)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| {
                EngineError::Redis(format!(
                    "the message may not have been stored (Redis: {e}); resending it is safe: \
                     the same client_id is stored at most once"
                ))
            })?;
        // (The seq is in `members`, first: each copy carries it.)
        let [new, _seq, members] = &placed[..] else {
            return Err(EngineError::unreadable(
                "a short answer from the direct send script",
            ));
        };
        // The copies: the sender's, and the recipient's unless writing to oneself.
        let mut users = vec![message.sender.clone()];
        if recipient != message.sender {
            users.push(recipient.clone());
        }
        let records: Vec<String> = users
            .iter()
            .map(|user| user_got(user, &conversation, &message.sender, client_id))
            .collect();
        let copies = futures_util::future::try_join_all(
            users
                .iter()
                .zip(&records)
                .map(|(user, record)| self.append_copy(user, record, members)),
        )
        .await
        .map_err(|e| {
            EngineError::Redis(format!(
                "the message is stored but not yet in every log (Redis: {e}); resending it is \
                 safe: the same client_id is stored at most once"
            ))
        })?;
        if self.options.wait_replicas > 0 {
            let waits: Vec<String> = std::iter::once(conversation_meta(&conversation))
                .chain(users.iter().map(|user| user_meta(user)))
                .collect();
            let rings: Vec<(String, String)> = users
                .iter()
                .zip(&copies)
                .map(|(user, (json, epoch))| {
                    (
                        channel(&Log::User(user.clone())),
                        format!("{} {json}", epoch.as_str()),
                    )
                })
                .collect();
            let kept: Vec<String> = std::iter::once(record.clone()).chain(records).collect();
            self.replicate_then_ring(&kept, &waits, &rings).await?;
        }
        let mut copies = copies.into_iter();
        let Some((json, epoch)) = copies.next() else {
            return Err(EngineError::unreadable("no copy of a direct message"));
        };
        let mine = parse_direct(&json)?;
        let logs: Vec<Log> = users.into_iter().map(Log::User).collect();
        if new != "1" {
            // A repeat may have made the copies a first try did not: their logs are listed
            // here (the engine lists only new messages' logs), for retention and search.
            self.register(&logs).await.map_err(EngineError::from)?;
            return Ok(Sent::Repeat(Stored::Direct(mine)));
        }
        // Someone away is told with their own copy (its id is their log's).
        let away = match (away, copies.next()) {
            (true, Some((json, _))) => Some(Box::new((recipient.clone(), parse_direct(&json)?))),
            (true, None) => Some(Box::new((recipient.clone(), mine.clone()))),
            (false, _) => None,
        };
        Ok(Sent::New(Stored::Direct(mine), epoch, logs, away))
    }

    /// Puts a direct message (its JSON `members`, seq first) in `user`'s log once, `record`
    /// naming it there (append_direct.lua); the copy's JSON and the log's epoch.
    async fn append_copy(
        &self,
        user: &str,
        record: &str,
        members: &str,
    ) -> RedisResult<(String, Epoch)> {
        let epoch = fresh_epoch()
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let reply: Vec<String> = self
            .scripts
            .append_direct
            .key(user_meta(user))
            .key(user_log(user))
            .key(record)
            .arg(epoch.as_str())
            .arg(millis(self.options.dedup_window))
            .arg(channel(&Log::User(user.to_owned())))
            .arg(members)
            .arg(self.doorbell())
            .invoke_async(&mut self.commands.clone())
            .await?;
        let [json, epoch] = &reply[..] else {
            return Err(redis::RedisError::from(std::io::Error::other(
                "a short answer from the direct append script",
            )));
        };
        let epoch = Epoch::try_from(epoch.clone()).map_err(|_| {
            redis::RedisError::from(std::io::Error::other("an unreadable epoch of a user's log"))
        })?;
        Ok((json.clone(), epoch))
    }

    /// The lowest seq a direct conversation counts from, once direct messages of the older
    /// one-slot layout are in their users' slots (moved here by the first node that needs
    /// them; every direct-message operation waits for it). The older layout's ids were one
    /// counter for every conversation, and read positions kept them: new seqs start above.
    pub(super) async fn directs_ready(&self) -> Result<u64, EngineError> {
        self.directs
            .get_or_try_init(|| async { self.move_old_directs().await.map_err(EngineError::from) })
            .await
            .copied()
    }

    /// [`Io::directs_ready`] for the operations that speak Redis's errors.
    async fn users_ready(&self) -> RedisResult<()> {
        self.directs_ready()
            .await
            .map(drop)
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))
    }

    /// Moves each user's direct messages (keeping ids, so catch-ups stay exact) and read
    /// positions from the one `{dm}` slot of an older version into the user's own slot, and
    /// gives each user's log the old epoch; then returns the old id counter. Safe to run on
    /// several nodes at once and again after a stop half-way: a copied entry is not copied
    /// again, a position kept here is not overwritten.
    async fn move_old_directs(&self) -> RedisResult<u64> {
        let mut conn = self.commands.clone();
        let (epoch, last, done): (Option<String>, Option<u64>, Option<u8>) = redis::cmd("HMGET")
            .arg(OLD_DIRECT_META)
            .arg("epoch")
            .arg("id")
            .arg("moved")
            .query_async(&mut conn)
            .await?;
        let floor = last.unwrap_or(0);
        if done.is_some() {
            return Ok(floor);
        }
        // Whoever has a log or read positions there: the registry of logs, and the keys
        // themselves (read positions are rooms' too, kept for users who never had a direct
        // message; a log may have missed the registry).
        let mut users: std::collections::BTreeSet<String> = redis::cmd("SMEMBERS")
            .arg(USER_LOGS)
            .query_async::<Vec<String>>(&mut conn)
            .await?
            .into_iter()
            .collect();
        for prefix in [old_user_log(""), old_user_reads("")] {
            let keys = keys_on_slot_of(&mut conn, OLD_DIRECT_META, &format!("{prefix}*")).await?;
            users.extend(
                keys.iter()
                    .filter_map(|k| Some(k.strip_prefix(&prefix)?.to_owned())),
            );
        }
        static MOVE: std::sync::LazyLock<Script> =
            std::sync::LazyLock::new(|| Script::new(include_str!("move_direct.lua")));
        let mut moved = 0_u64;
        for user in &users {
            let old = old_user_log(user);
            // Without an epoch there, no log was ever read or written.
            if let Some(epoch) = &epoch {
                let mut after = "-".to_owned();
                // A page at a time: a long history never makes one long script.
                loop {
                    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                        .arg(&old)
                        .arg(&after)
                        .arg("+")
                        .arg("COUNT")
                        .arg(500)
                        .query_async(&mut conn)
                        .await?;
                    let Some((newest, _)) = entries.last() else {
                        break;
                    };
                    after = format!("({newest}");
                    let mut invocation = MOVE.key(user_log(user));
                    invocation.key(user_meta(user)).arg(epoch);
                    for (id, fields) in &entries {
                        let id = id.split('-').next().unwrap_or_default();
                        if let Some((_, json)) = fields.iter().find(|(name, _)| name == "m") {
                            invocation.arg(id).arg(json);
                        }
                    }
                    moved += invocation.invoke_async::<u64>(&mut conn).await?;
                }
                // A user whose log is empty there still keeps the epoch readers hold.
                redis::cmd("HSETNX")
                    .arg(user_meta(user))
                    .arg("epoch")
                    .arg(epoch)
                    .query_async::<Value>(&mut conn)
                    .await?;
            }
            let reads: Vec<(String, String)> = redis::cmd("HGETALL")
                .arg(old_user_reads(user))
                .query_async(&mut conn)
                .await?;
            for (place, position) in reads {
                redis::cmd("HSETNX")
                    .arg(user_reads(user))
                    .arg(place)
                    .arg(position)
                    .query_async::<Value>(&mut conn)
                    .await?;
            }
            redis::cmd("DEL")
                .arg(&old)
                .query_async::<Value>(&mut conn)
                .await?;
            redis::cmd("DEL")
                .arg(old_user_reads(user))
                .query_async::<Value>(&mut conn)
                .await?;
        }
        // Done: later starts skip the walk over every user.
        redis::cmd("HSET")
            .arg(OLD_DIRECT_META)
            .arg("moved")
            .arg(1)
            .query_async::<Value>(&mut conn)
            .await?;
        if moved > 0 {
            tracing::info!(
                moved,
                "moved direct messages of an older version to their users' slots"
            );
        }
        Ok(floor)
    }

    /// `--redis-wait-replicas`: waits until that many replicas of the primary of each of
    /// `waits` (a key of each slot the message was written in) have it, then rings each
    /// doorbell of `rings` (channel, "EPOCH JSON"; the scripts did not: nobody hears of a
    /// message a failover could still lose). A repeat is waited for and rung again too: its
    /// first try may have stopped here. Fails, with the message stored and resending safe,
    /// when the replicas do not confirm in time, or when one of the message's `records` (its
    /// idempotency record in each slot written) is no longer on its slot's primary (a
    /// failover lost it).
    async fn replicate_then_ring(
        &self,
        records: &[String],
        waits: &[String],
        rings: &[(String, String)],
    ) -> Result<(), EngineError> {
        let mut conn = self.commands.clone();
        let mut wait = redis::cmd("WAIT");
        wait.arg(self.options.wait_replicas)
            .arg(u64::try_from(self.options.wait_timeout.as_millis()).unwrap_or(u64::MAX));
        for key in waits {
            // WAIT counts the replicas that have every write this connection made to that
            // primary so far, the script's included; it must go to the primary of the slot.
            let confirmed: u32 = conn
                .on_primary_of(key, &wait)
                .await
                .map_err(EngineError::from)?;
            if confirmed < self.options.wait_replicas {
                return Err(EngineError::Redis(format!(
                    "the message is stored but only {confirmed} of {} replicas have it yet; \
                     resending it is safe: the same client_id is stored at most once",
                    self.options.wait_replicas
                )));
            }
        }
        // WAIT speaks for the writes of the connection it goes on. Had the primary died
        // since the script, the client may have sent WAIT to the replica that took over, on
        // a new connection that wrote nothing: it answers at once, whatever that primary
        // holds. So the message's idempotency record must be on the slot's primary now; if
        // it is not, the failover lost the message and the sender resends it (stored anew,
        // once).
        for record in records {
            let mut exists = redis::cmd("EXISTS");
            exists.arg(record);
            let kept: bool = conn
                .on_primary_of(record, &exists)
                .await
                .map_err(EngineError::from)?;
            if !kept {
                return Err(EngineError::Redis(
                    "the message was lost by a Redis failover before its replicas had it; \
                     resending it is safe: the same client_id is stored at most once"
                        .to_owned(),
                ));
            }
        }
        for (channel, doorbell) in rings {
            redis::cmd(self.publish())
                .arg(channel)
                .arg(doorbell)
                .query_async::<Value>(&mut conn)
                .await
                .map_err(EngineError::from)?;
        }
        Ok(())
    }

    /// Moves `user`'s read position in `place` forward (see mark_read.lua).
    pub(super) async fn mark(
        &self,
        user: &str,
        place: &crate::engine::vocabulary::Place,
        position: u64,
    ) -> RedisResult<()> {
        self.users_ready().await?;
        let event = crate::engine::vocabulary::Positions::one(place, position).into_event();
        let event = shared::encode(&event)
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let mut conn = self.commands.clone();
        self.scripts
            .mark_read
            .key(user_reads(user))
            .arg(place.key())
            .arg(position)
            .arg(channel(&Log::User(user.to_owned())))
            .arg(event)
            .arg(self.publish())
            .invoke_async::<Value>(&mut conn)
            .await
            .map(drop)
    }

    /// Keeps whether `user` shares their read positions ([`PRIVATE_READS`] among them).
    pub(super) async fn share_reads(&self, user: &str, share: bool) -> RedisResult<()> {
        self.users_ready().await?;
        let mut conn = self.commands.clone();
        let mut command = if share {
            redis::cmd("HDEL")
        } else {
            redis::cmd("HSET")
        };
        command.arg(user_reads(user)).arg(PRIVATE_READS);
        if !share {
            command.arg(1);
        }
        command.query_async::<Value>(&mut conn).await.map(drop)
    }

    /// The positions in `place` of those of `users` who share them.
    pub(super) async fn positions_of(
        &self,
        place: &crate::engine::vocabulary::Place,
        users: &[String],
    ) -> RedisResult<Vec<(String, u64)>> {
        self.users_ready().await?;
        let mut pipe = redis::pipe();
        for user in users {
            pipe.cmd("HMGET")
                .arg(user_reads(user))
                .arg(place.key())
                .arg(PRIVATE_READS);
        }
        let answers: Vec<(Option<u64>, Option<u64>)> =
            self.commands.clone().pipeline(&pipe).await?;
        Ok(users
            .iter()
            .zip(answers)
            .filter_map(|(user, (position, private))| match (position, private) {
                (Some(position), None | Some(0)) => Some((user.clone(), position)),
                _ => None,
            })
            .collect())
    }

    /// Tells `user`'s tabs on every node `event` (on the user's channel, as `mark_read.lua`
    /// does).
    pub(super) async fn tell(&self, user: &str, event: &ServerMsg) -> RedisResult<()> {
        let json = shared::encode(event)
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        redis::cmd(self.publish())
            .arg(channel(&Log::User(user.to_owned())))
            .arg(format!("~{json}"))
            .query_async::<Value>(&mut self.commands.clone())
            .await
            .map(drop)
    }

    /// Runs one operation of the shared presence (see presence.lua).
    async fn presence<T: redis::FromRedisValue>(&self, op: &str, args: &[&str]) -> RedisResult<T> {
        let mut conn = self.commands.clone();
        let mut invocation = self.scripts.presence.key(PRESENCE);
        invocation.arg(op);
        for arg in args {
            invocation.arg(*arg);
        }
        invocation.invoke_async(&mut conn).await
    }

    /// Runs one operation of `room`'s own presence (see room_presence.lua).
    async fn room_presence<T: redis::FromRedisValue>(
        &self,
        room: &RoomName,
        op: &str,
        args: &[&[u8]],
    ) -> RedisResult<T> {
        let mut conn = self.commands.clone();
        let mut invocation = self.scripts.room_presence.key(room_base(room));
        invocation.arg(op).arg(self.publish()).arg(room.as_str());
        for arg in args {
            invocation.arg(*arg);
        }
        invocation.invoke_async(&mut conn).await
    }

    /// Tells the room list `room`'s member count after a change (`reply` starts with a
    /// join's, leave's or sweep's {count, version, changed}); returns the count and the rest.
    async fn counted(
        &self,
        room: &RoomName,
        reply: Vec<Value>,
    ) -> RedisResult<(u32, std::vec::IntoIter<Value>)> {
        let mut reply = reply.into_iter();
        let mut next = || redis::from_redis_value::<u64>(reply.next().unwrap_or(Value::Nil));
        let (count, version, changed) = (next()?, next()?, next()?);
        if changed == 1 {
            // Not awaited: the version orders the writes, whichever lands first, and a join
            // need not wait for the room list.
            let (io, room) = (self.clone(), room.clone());
            tokio::spawn(async move {
                let (count, version) = (count.to_string(), version.to_string());
                let written = io
                    .presence::<Value>("count", &[room.as_str(), &count, &version])
                    .await;
                if let Err(err) = written {
                    tracing::warn!(%room, error = %err, "the room list missed a member count");
                }
            });
        }
        Ok((u32::try_from(count).unwrap_or(u32::MAX), reply))
    }

    /// Enters `joiner` in `room`'s presence (a `presence` event to the room if they were
    /// not in it on any node); returns the room's member count and first page of members.
    /// The node lists the room among its holdings first, so that if it dies the sweeper
    /// finds its members there.
    pub(super) async fn join_room(
        &self,
        room: &RoomName,
        joiner: &Joiner,
    ) -> Result<MemberPage, EngineError> {
        let held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(room);
        if !held {
            self.presence::<Value>("hold", &[&self.node, room.as_str()])
                .await?;
            self.held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(room.clone());
        }
        let page_size = shared::MEMBER_PAGE.to_string();
        let key = joiner.nick.key();
        let args: [&[u8]; 5] = [
            joiner.user.as_bytes(),
            joiner.nick.as_str().as_bytes(),
            self.node.as_bytes(),
            key.as_bytes(),
            page_size.as_bytes(),
        ];
        let reply: Vec<Value> = self.room_presence(room, "join", &args).await?;
        let (count, rest) = self.counted(room, reply).await?;
        let (more, names) = page_of(rest)?;
        Ok(MemberPage {
            count,
            members: nicks(names),
            more: more == 1,
        })
    }

    /// A page of `room`'s members (see [`shared::ClientMsg::Members`]).
    pub(super) async fn members(
        &self,
        room: &RoomName,
        after: Option<&Nick>,
        prefix: &str,
    ) -> Result<MemberPage, EngineError> {
        let (min, max) = lex_range(after.map(Nick::key).as_deref(), prefix);
        let page_size = shared::MEMBER_PAGE.to_string();
        let args = [&min[..], &max[..], page_size.as_bytes()];
        let reply: Vec<Value> = self
            .room_presence(room, "members", &args)
            .await
            .map_err(EngineError::from)?;
        let (more, names) = page_of(reply.into_iter()).map_err(EngineError::from)?;
        Ok(MemberPage {
            count: 0,
            members: nicks(names),
            more: more == 1,
        })
    }

    /// This node has no tab of `user` in `room` any more (a `presence` leaving the room if no
    /// node has).
    pub(super) async fn leave_room(&self, room: &RoomName, user: &str) -> RedisResult<()> {
        let args: [&[u8]; 2] = [user.as_bytes(), self.node.as_bytes()];
        let reply: Vec<Value> = self.room_presence(room, "leave", &args).await?;
        self.counted(room, reply).await.map(drop)
    }

    /// Claims nickname `nick` for `user` on this node, under each of its keys
    /// ([`crate::names::likeness`]): true if it is theirs now (no other user holds any of
    /// them, on any node).
    ///
    /// Key by key, each lease in its own slot (nick.lua): the node lists both keys among its
    /// holdings first (so that if it dies the sweeper ends its leases), then claims the "c:"
    /// key, then the "s:" key. If the second is someone else's, or its claim fails, the
    /// first is given back, but only if this claim took it: a user renaming to a look-alike
    /// of someone else's name keeps the key of the name they have (the review of #32).
    pub(super) async fn claim(&self, nick: &Nick, user: &str) -> RedisResult<bool> {
        let [folded, written] = crate::names::likeness(nick);
        self.presence::<Value>("hold_nicks", &[&self.node, &folded, &written])
            .await?;
        let args = ["claim", user, nick.as_str(), &self.node];
        let first = self.nick_lease::<i64>(&folded, &args).await?;
        if first == 0 {
            return Ok(false);
        }
        let second = self.nick_lease::<i64>(&written, &args).await;
        if matches!(second, Ok(1 | 2)) {
            return Ok(true);
        }
        if first == 1 {
            // Best effort: if this fails too, the node's hold ends when the node does.
            let undone = self
                .nick_lease::<Value>(&folded, &["release", user, &self.node])
                .await;
            if let Err(err) = undone {
                tracing::warn!(error = %err, "could not give back half a nickname claim");
            }
        }
        second.map(|_| false)
    }

    /// This node has no tab of `user` holding these nickname keys any more.
    pub(super) async fn release(&self, keys: &[String], user: &str) -> RedisResult<()> {
        for key in keys {
            self.nick_lease::<Value>(key, &["release", user, &self.node])
                .await?;
        }
        Ok(())
    }

    /// Runs one operation on the lease of nickname key `key` (see nick.lua).
    async fn nick_lease<T: redis::FromRedisValue>(
        &self,
        key: &str,
        args: &[&str],
    ) -> RedisResult<T> {
        let mut conn = self.commands.clone();
        let mut invocation = self.scripts.nick.key(nick_key(key));
        for arg in args {
            invocation.arg(*arg);
        }
        invocation.invoke_async(&mut conn).await
    }

    /// `user` is called `nick` now in `room`'s member list, and the room hears `event`.
    pub(super) async fn renamed(
        &self,
        room: &RoomName,
        user: &str,
        nick: &Nick,
        event: &ServerMsg,
    ) -> RedisResult<()> {
        let key = nick.key();
        let args: [&[u8]; 3] = [user.as_bytes(), nick.as_str().as_bytes(), key.as_bytes()];
        self.room_presence::<Value>(room, "renamed", &args).await?;
        self.announce(room, user, event).await
    }

    /// The user key and nickname (as they spell it) of whoever owns `nick` now, if anyone.
    async fn owner_of(&self, nick: &Nick) -> RedisResult<Option<(String, Nick)>> {
        nick_holder(&mut self.commands.clone(), nick).await
    }

    /// Whom each of `nicks` reaches: its holder in the cluster now, or its last holder, away
    /// (see [`Io::last_holder`]).
    pub(super) async fn resolve(&self, nicks: &[Nick]) -> RedisResult<Vec<Option<Reached>>> {
        let mut found = Vec::with_capacity(nicks.len());
        for nick in nicks {
            let reached = match self.owner_of(nick).await? {
                Some((user, nick)) => Some(Reached {
                    user,
                    nick,
                    away: false,
                }),
                None => self.last_holder(nick).await?.map(|holder| Reached {
                    user: holder.user,
                    nick: holder.nick,
                    away: true,
                }),
            };
            found.push(reached);
        }
        Ok(found)
    }

    /// Those of `users` who are in `room`'s shared member list on no node.
    pub(super) async fn absent(
        &self,
        room: &RoomName,
        users: Vec<String>,
    ) -> RedisResult<Vec<String>> {
        if users.is_empty() {
            return Ok(users);
        }
        let present: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(room_members_key(room))
            .arg(&users)
            .query_async(&mut self.commands.clone())
            .await?;
        Ok(users
            .into_iter()
            .zip(present)
            .filter_map(|(user, present)| present.is_none().then_some(user))
            .collect())
    }

    /// The last holder of `nick`, if anyone held it and the rules let the name reach them.
    async fn last_holder(&self, nick: &Nick) -> RedisResult<Option<Holder>> {
        let holder = super::directory::holder(&mut self.commands.clone(), nick).await?;
        Ok(holder.filter(|h| reachable(self.options.reach, h, now_ms())))
    }

    /// The commands connection (for the engine's fire-and-forget writes).
    pub(super) fn commands(&self) -> Conn {
        self.commands.clone()
    }

    /// Gives `log` a new epoch if it still has `seen` (it went backwards); returns the epoch
    /// it has now.
    pub(super) async fn replace_epoch(
        &self,
        log: &Log,
        seen: &Epoch,
    ) -> Result<Epoch, EngineError> {
        let meta = match log {
            Log::Room(room) => room_meta(room),
            Log::User(user) => user_meta(user),
        };
        let mut conn = self.commands.clone();
        let now: String = self
            .scripts
            .replace_epoch
            .key(meta)
            .arg(seen.as_str())
            .arg(fresh_epoch()?.as_str())
            .invoke_async(&mut conn)
            .await
            .map_err(EngineError::from)?;
        Epoch::try_from(now).map_err(EngineError::unreadable)
    }

    /// Lists logs in the registry retention by age walks (once per node and log: a set).
    pub(super) async fn register(&self, logs: &[Log]) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        for log in logs {
            match log {
                Log::Room(room) => pipe.sadd(ROOM_LOGS, room.as_str()),
                Log::User(user) => pipe.sadd(USER_LOGS, user),
            };
        }
        self.commands
            .clone()
            .pipeline::<Value>(&pipe)
            .await
            .map(drop)
    }

    /// Retention by age: deletes every log's messages older than `cutoff` (ms since the
    /// Unix epoch); returns how many.
    pub(super) async fn trim_age(&self, cutoff: u64) -> RedisResult<u64> {
        // Not while logs of the older layout are being moved (a log trimmed half-copied).
        self.users_ready().await?;
        let mut conn = self.commands.clone();
        let rooms: Vec<String> = redis::cmd("SMEMBERS")
            .arg(ROOM_LOGS)
            .query_async(&mut conn)
            .await?;
        let users: Vec<String> = redis::cmd("SMEMBERS")
            .arg(USER_LOGS)
            .query_async(&mut conn)
            .await?;
        // A room's log comes with its side hashes (what leaves the log leaves them too).
        let keys = rooms
            .iter()
            .filter_map(|r| r.parse::<RoomName>().ok())
            .map(|r| {
                vec![
                    room_log(&r),
                    room_authors(&r),
                    room_changes(&r),
                    room_images(&r),
                ]
            })
            .chain(users.iter().map(|u| vec![user_log(u)]));
        let mut deleted = 0;
        for keys in keys {
            // A bounded step per call, so a large backlog never holds Redis for long.
            loop {
                let (gone, more): (u64, u64) = self
                    .scripts
                    .trim_age
                    .key(&keys)
                    .arg(cutoff)
                    .arg(TRIM_STEP)
                    .invoke_async(&mut conn)
                    .await?;
                deleted += gone;
                if more == 0 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Every room and user with a log (the registry retention walks), for the indexer and
    /// exports.
    pub(super) async fn logs(&self) -> RedisResult<(Vec<String>, Vec<String>)> {
        self.commands
            .clone()
            .pipeline(redis::pipe().smembers(ROOM_LOGS).smembers(USER_LOGS))
            .await
    }

    /// The newest position and the epoch of each room's log and of each user's log (0 and
    /// none: nothing yet), in one round trip: what the indexer compares with how far it has
    /// read.
    #[allow(clippy::type_complexity)]
    pub(super) async fn heads(
        &self,
        rooms: &[RoomName],
        users: &[String],
    ) -> RedisResult<(Vec<(u64, Option<String>)>, Vec<(u64, Option<String>)>)> {
        if !users.is_empty() {
            self.users_ready().await?;
        }
        let mut pipe = redis::pipe();
        for room in rooms {
            pipe.cmd("HMGET")
                .arg(room_meta(room))
                .arg("seq")
                .arg("epoch");
        }
        for user in users {
            pipe.hget(user_meta(user), "epoch");
            pipe.cmd("XREVRANGE")
                .arg(user_log(user))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1);
        }
        let replies: Vec<Value> = self.commands.clone().pipeline(&pipe).await?;
        let mut replies = replies.into_iter();
        let room_heads = replies
            .by_ref()
            .take(rooms.len())
            .map(|value| {
                let (seq, epoch): (Option<u64>, Option<String>) =
                    redis::from_redis_value(value).map_err(redis::RedisError::from)?;
                Ok((seq.unwrap_or_default(), epoch))
            })
            .collect::<RedisResult<Vec<_>>>()?;
        let mut user_heads = Vec::with_capacity(users.len());
        while let (Some(epoch), Some(last)) = (replies.next(), replies.next()) {
            let epoch: Option<String> =
                redis::from_redis_value(epoch).map_err(redis::RedisError::from)?;
            let last: Vec<(String, Value)> =
                redis::from_redis_value(last).map_err(redis::RedisError::from)?;
            let head = last
                .first()
                .and_then(|(id, _)| id.split('-').next()?.parse().ok())
                .unwrap_or(0);
            user_heads.push((head, epoch));
        }
        Ok((room_heads, user_heads))
    }

    /// Up to `count` entries of `room`'s log after `after`, as they are now, with the log's
    /// epoch and its oldest position still kept (0: none), for the indexer.
    pub(super) async fn room_since(
        &self,
        room: &RoomName,
        after: u64,
        count: u32,
    ) -> Result<(Epoch, u64, Vec<RoomEntry>), EngineError> {
        let page = self.room_page(room, "since", after, count).await?;
        Ok((page.epoch, page.oldest, page.entries))
    }

    /// Up to `count` direct messages of `user`'s log after id `after`, with its epoch.
    pub(super) async fn direct_since(
        &self,
        user: &str,
        after: u64,
        count: u32,
    ) -> Result<(Epoch, Vec<DirectMessage>), EngineError> {
        self.directs_ready().await?;
        let (epoch, _, messages) = self.direct_page(user, "since", after, count).await?;
        Ok((epoch, messages))
    }

    /// Deletes what the shared presence kept per room and per nickname before rooms and
    /// nickname keys kept their own (`chat:{p}:members:ROOM`, `count:`, `order:`, `entry:`,
    /// `nick:KEY`, and the room list as a set):
    /// an older version's, stale once every node runs this one (docs/DEPLOYMENT.md,
    /// "Upgrading"). None of these names is written any more, so this is safe beside nodes
    /// at work; returns how many keys went.
    pub(super) async fn forget_old_presence(&self) -> RedisResult<u64> {
        let mut conn = self.commands.clone();
        // Done once per Redis: the scan walks the whole keyspace of the `{p}` slot's node.
        let layout = format!("{PRESENCE}:layout");
        let done: Option<u32> = redis::cmd("GET")
            .arg(&layout)
            .query_async(&mut conn)
            .await?;
        if done.is_some_and(|version| version >= 2) {
            return Ok(0);
        }
        let mut deleted = 0;
        for kind in ["members", "count", "order", "entry", "nick"] {
            let pattern = format!("{PRESENCE}:{kind}:*");
            for key in keys_on_slot_of(&mut conn, PRESENCE, &pattern).await? {
                deleted += redis::cmd("DEL")
                    .arg(&key)
                    .query_async::<u64>(&mut conn)
                    .await?;
            }
        }
        let rooms = format!("{PRESENCE}:rooms");
        let kind: String = redis::cmd("TYPE")
            .arg(&rooms)
            .query_async(&mut conn)
            .await?;
        if kind == "set" {
            deleted += redis::cmd("DEL")
                .arg(&rooms)
                .query_async::<u64>(&mut conn)
                .await?;
        }
        redis::cmd("SET")
            .arg(&layout)
            .arg(2)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(deleted)
    }

    /// Whether this node's entries exist in the shared presence.
    pub(super) async fn present(&self) -> RedisResult<bool> {
        let exists: i64 = self.presence("present", &[&self.node]).await?;
        Ok(exists == 1)
    }

    /// Every room with members, with how many.
    pub(super) async fn rooms(&self) -> Result<Vec<RoomInfo>, EngineError> {
        let flat: Vec<(String, u32)> = self
            .presence("rooms", &[])
            .await
            .map_err(EngineError::from)?;
        let mut rooms: Vec<RoomInfo> = flat
            .into_iter()
            .filter_map(|(name, members)| {
                Some(RoomInfo {
                    name: name.parse().ok()?,
                    members,
                })
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rooms)
    }

    /// Renews this node's lease and, when this node holds the sweeper lock, removes the
    /// presence of nodes whose lease ran out; returns those nodes.
    pub(super) async fn tick(&self) -> RedisResult<Vec<String>> {
        let lease = millis(NODE_LEASE).to_string();
        let lock = millis(SWEEPER_LOCK).to_string();
        let grace = millis(SWEEP_GRACE).to_string();
        let dead: Vec<Vec<String>> = self
            .presence("tick", &[&self.node, &lease, &lock, &grace])
            .await?;
        let mut swept = Vec::with_capacity(dead.len());
        for entry in dead {
            let mut entry = entry.into_iter();
            let Some(node) = entry.next() else { continue };
            for held in entry {
                if let Some(room) = held.strip_prefix("r ").and_then(|r| r.parse().ok()) {
                    let reply: Vec<Value> = self
                        .room_presence(&room, "sweep", &[node.as_bytes()])
                        .await?;
                    self.counted(&room, reply).await?;
                } else if let Some(key) = held.strip_prefix("n ") {
                    self.nick_lease::<Value>(key, &["sweep", &node]).await?;
                }
            }
            self.presence::<Value>("swept", &[&node]).await?;
            swept.push(node);
        }
        Ok(swept)
    }

    /// Publishes a presence-like `event` (typing, renamed) from `user` to `room`'s nodes.
    pub(super) async fn announce(
        &self,
        room: &RoomName,
        user: &str,
        event: &ServerMsg,
    ) -> RedisResult<()> {
        let json = shared::encode(event)
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e.to_string())))?;
        let mut conn = self.commands.clone();
        redis::cmd(self.publish())
            .arg(channel(&Log::Room(room.clone())))
            .arg(format!("~{user} {json}"))
            .query_async::<Value>(&mut conn)
            .await
            .map(drop)
    }

    /// Answers a history read, with the log's last position at the time of the read.
    pub(super) async fn read(&self, read: &Read) -> Result<(Answer, u64), EngineError> {
        let answer = async {
            match read {
                Read::Room {
                    room, range, epoch, ..
                } => self.read_room(room, *range, epoch.as_ref()).await,
                Read::Direct { user, range, epoch } => {
                    self.read_direct(user, *range, epoch.as_ref()).await
                }
            }
        };
        answer.await
    }

    async fn read_room(
        &self,
        room: &RoomName,
        range: RoomRange,
        client_epoch: Option<&Epoch>,
    ) -> Result<(Answer, u64), EngineError> {
        let page = self.options.page;
        let (mode, page) = match range {
            RoomRange::Latest | RoomRange::Reset => {
                let mode = if range == RoomRange::Latest {
                    HistoryMode::Latest
                } else {
                    HistoryMode::Reset
                };
                (mode, self.room_page(room, "latest", 0, page).await?)
            }
            RoomRange::Before(before) => (
                HistoryMode::Older,
                self.room_page(room, "before", before, page).await?,
            ),
            RoomRange::After(after) => (
                HistoryMode::Newer,
                self.room_page(room, "after", after, page).await?,
            ),
            RoomRange::Around(at) => {
                let half = page / 2;
                let mut entries = if half > 0 {
                    self.room_page(room, "before", at, half).await?.entries
                } else {
                    Vec::new()
                };
                let from = self
                    .room_page(room, "after", at.saturating_sub(1), page - half)
                    .await?;
                // The later read's epoch and ends (a message stored between the two reads
                // is after both).
                entries.extend(from.entries);
                (HistoryMode::Around, RoomPage { entries, ..from })
            }
            RoomRange::Since(since) => {
                let limit = self.options.max_catch_up + 1;
                let missed = self.room_page(room, "since", since, limit).await?;
                let stale = client_epoch.is_some_and(|e| *e != missed.epoch);
                if stale
                    || crate::engine::rules::catch_up_resets(
                        since,
                        missed.last,
                        &missed.entries,
                        self.options.max_catch_up,
                    )
                {
                    (
                        HistoryMode::Reset,
                        self.room_page(room, "latest", 0, page).await?,
                    )
                } else {
                    (HistoryMode::CatchUp, missed)
                }
            }
        };
        let oldest_wanted = match (range, page.entries.first()) {
            (_, Some(first)) => first.seq(),
            (RoomRange::Since(since), None) if mode == HistoryMode::CatchUp => since + 1,
            (RoomRange::Before(before), None) => before,
            (RoomRange::After(after), None) => after.saturating_add(1),
            (RoomRange::Around(at), None) => at,
            _ => 0,
        };
        let more_before = page.oldest != 0 && page.oldest < oldest_wanted;
        let tail = page.last;
        let (messages, changes) = crate::engine::rules::split(page.entries);
        Ok((
            Answer::Room {
                room: room.clone(),
                mode,
                messages,
                changes,
                more_before,
                epoch: page.epoch,
                members: None,
            },
            tail,
        ))
    }

    async fn room_page(
        &self,
        room: &RoomName,
        kind: &str,
        at: u64,
        count: u32,
    ) -> Result<RoomPage, EngineError> {
        let mut conn = self.commands.clone();
        let reply: Vec<String> = self
            .scripts
            .read_room
            .key(room_meta(room))
            .key(room_log(room))
            .key(room_changes(room))
            .arg(fresh_epoch()?.as_str())
            .arg(kind)
            .arg(at)
            .arg(count)
            .invoke_async(&mut conn)
            .await?;
        let mut reply = reply.into_iter();
        let (Some(epoch), Some(last), Some(oldest)) = (reply.next(), reply.next(), reply.next())
        else {
            return Err(EngineError::Unreadable(
                "a short answer from the read script".into(),
            ));
        };
        let mut entries = Vec::new();
        while let (Some(json), Some(changes), Some(reactions), Some(forgotten)) =
            (reply.next(), reply.next(), reply.next(), reply.next())
        {
            let entry = current(&json, &changes, &reactions)?;
            entries.push(if forgotten.is_empty() {
                entry
            } else {
                forgotten_words(entry)
            });
        }
        if kind == "before" || kind == "latest" {
            entries.reverse(); // newest first from XREVRANGE
        }
        Ok(RoomPage {
            epoch: Epoch::try_from(epoch).map_err(EngineError::unreadable)?,
            last: last.parse().map_err(EngineError::unreadable)?,
            oldest: oldest.parse().map_err(EngineError::unreadable)?,
            entries,
        })
    }

    /// The quote of message `id` of `room` for a reply, or why there is none.
    async fn quote(
        &self,
        room: &RoomName,
        id: MessageId,
        sender: &str,
    ) -> Result<Result<Option<shared::Quote>, crate::engine::rules::Refusal>, EngineError> {
        let page = self.room_page(room, "at", id.0, 1).await.map_err(|e| {
            EngineError::Redis(format!(
                "the message answered could not be read (Redis: {e})"
            ))
        })?;
        let found = page.entries.into_iter().find_map(|entry| match entry {
            RoomEntry::Message(message) => Some((message, String::new())),
            RoomEntry::Change(_) => None,
        });
        Ok(crate::engine::rules::refer(
            room,
            id,
            Authority::Anyone,
            sender,
            found,
        ))
    }

    async fn read_direct(
        &self,
        user: &str,
        range: DirectRange,
        client_epoch: Option<&Epoch>,
    ) -> Result<(Answer, u64), EngineError> {
        self.directs_ready().await?;
        let page = self.options.page;
        let (mode, answer) = match range {
            DirectRange::Latest | DirectRange::Reset => {
                let mode = if range == DirectRange::Latest {
                    HistoryMode::Latest
                } else {
                    HistoryMode::Reset
                };
                (mode, self.direct_page(user, "latest", 0, page).await?)
            }
            DirectRange::After(MessageId(after)) => (
                HistoryMode::Newer,
                self.direct_page(user, "since", after, page).await?,
            ),
            DirectRange::Since(MessageId(since)) => {
                let limit = self.options.max_catch_up + 1;
                let missed = self.direct_page(user, "since", since, limit).await?;
                let stale = client_epoch.is_some_and(|e| *e != missed.0);
                if stale
                    || crate::engine::rules::direct_catch_up_resets(
                        &missed.2,
                        self.options.max_catch_up,
                    )
                {
                    (
                        HistoryMode::Reset,
                        self.direct_page(user, "latest", 0, page).await?,
                    )
                } else {
                    (HistoryMode::CatchUp, missed)
                }
            }
        };
        let (epoch, last, messages) = answer;
        let mut conn = self.commands.clone();
        let stored: Vec<(String, u64)> = redis::cmd("HGETALL")
            .arg(user_reads(user))
            .query_async(&mut conn)
            .await?;
        let mut positions = crate::engine::vocabulary::Positions::default();
        for (place, position) in stored {
            positions.insert(&place, position);
        }
        Ok((
            Answer::Direct {
                mode,
                messages,
                epoch,
                positions,
            },
            last,
        ))
    }

    async fn direct_page(
        &self,
        user: &str,
        kind: &str,
        at: u64,
        count: u32,
    ) -> Result<(Epoch, u64, Vec<DirectMessage>), EngineError> {
        let mut conn = self.commands.clone();
        let reply: Vec<String> = self
            .scripts
            .read_direct
            .key(user_meta(user))
            .key(user_log(user))
            .arg(fresh_epoch()?.as_str())
            .arg(kind)
            .arg(at)
            .arg(count)
            .invoke_async(&mut conn)
            .await?;
        let mut reply = reply.into_iter();
        let (Some(epoch), Some(last)) = (reply.next(), reply.next()) else {
            return Err(EngineError::Unreadable(
                "a short answer from the read script".into(),
            ));
        };
        let mut messages = reply
            .map(|json| parse_direct(&json))
            .collect::<Result<Vec<_>, EngineError>>()?;
        if kind != "since" {
            messages.reverse();
        }
        Ok((
            Epoch::try_from(epoch).map_err(EngineError::unreadable)?,
            last.parse().map_err(EngineError::unreadable)?,
            messages,
        ))
    }

    /// Up to [`FILL_COUNT`] messages of `log` after position `after`, oldest first (a gap, or
    /// what a dropped subscription missed), with the log's epoch and last position.
    pub(super) async fn after(
        &self,
        log: &Log,
        after: u64,
    ) -> Result<(Epoch, u64, Vec<Item>), EngineError> {
        if let Log::User(_) = log {
            self.directs_ready().await?;
        }
        let read = async {
            Ok::<_, EngineError>(match log {
                Log::Room(room) => {
                    let page = self.room_page(room, "since", after, FILL_COUNT).await?;
                    let items = page.entries.into_iter().map(Item::Room).collect();
                    (page.epoch, page.last, items)
                }
                Log::User(user) => {
                    let (epoch, last, messages) =
                        self.direct_page(user, "since", after, FILL_COUNT).await?;
                    (
                        epoch,
                        last,
                        messages.into_iter().map(Item::Direct).collect(),
                    )
                }
            })
        };
        read.await
    }
}

/// What became of a send.
pub(super) enum Sent {
    /// Stored now, in the log with this epoch, into these logs (for a direct message: the
    /// sender's copy, the sender's log's epoch); a direct message to someone found away
    /// names them (their user key) with their own copy (boxed: rarely there, and large).
    New(
        Stored,
        Epoch,
        Vec<Log>,
        Option<Box<(String, DirectMessage)>>,
    ),
    /// Not stored: nobody online has the recipient's nickname.
    NoRecipient(Nick),
    /// Not stored: the entry refers to a message it may not (see [`crate::engine::rules::refer`]).
    Refused(crate::engine::rules::Refusal),
    /// The sender sent this `client_id` before: the original.
    Repeat(Stored),
}

/// One answer of the room read script.
struct RoomPage {
    epoch: Epoch,
    last: u64,
    oldest: u64,
    /// Messages in their current state, and (in a `since` read) changes.
    entries: Vec<RoomEntry>,
}

/// An entry read with its message's changes (one JSON per line): a message as it is now.
/// `entry` without the words of the message it quotes, edits or previews, which was deleted
/// since: a reply keeps who and where it quoted, an edit or a preview is listed as what it
/// came to (a deletion).
/// The stream's entries cannot be rewritten in place; readers never get those words again.
fn forgotten_words(entry: RoomEntry) -> RoomEntry {
    match entry {
        RoomEntry::Message(mut message) => {
            message.reply_to = message.reply_to.map(shared::Quote::forgotten);
            RoomEntry::Message(message)
        }
        RoomEntry::Change(change) => RoomEntry::Change(RoomChange {
            change: shared::Change::Deleted,
            ..change
        }),
    }
}

/// An entry as it is now: a message with its changes folded in (its last edit or deletion;
/// every change, one per line, for messages not changed since the state layout) and its
/// `reactions` ("SEQ EMOJI NICK" lines, see read_room.lua).
fn current(json: &str, changes: &str, reactions: &str) -> Result<RoomEntry, EngineError> {
    let mut entry = parse_entry(json)?;
    if let RoomEntry::Message(message) = &mut entry {
        for line in changes.lines() {
            let change: RoomChange = parse(line)?;
            message.apply(&change.from, &change.change);
        }
        if !message.deleted && !reactions.is_empty() {
            let mut found = Vec::new();
            for line in reactions.lines() {
                let mut parts = line.splitn(3, ' ');
                let (Some(seq), Some(emoji), Some(nick)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(EngineError::Unreadable(format!(
                        "an unreadable reaction in Redis: {line:?}"
                    )));
                };
                let seq: u64 = seq
                    .parse()
                    .map_err(|e| EngineError::Unreadable(format!("a reaction's seq: {e}")))?;
                let emoji: shared::Emoji = emoji
                    .parse()
                    .map_err(|e| EngineError::Unreadable(format!("a reaction's emoji: {e}")))?;
                let nick: shared::Nick = nick
                    .parse()
                    .map_err(|e| EngineError::Unreadable(format!("a reaction's nickname: {e}")))?;
                found.push((seq, emoji, nick));
            }
            found.sort_by_key(|(seq, ..)| *seq);
            message.reactions =
                crate::engine::rules::in_order(found.into_iter().map(|(_, e, n)| (e, n)));
        }
    }
    Ok(entry)
}

/// The JSON members of a room message the script completes with `id` and `seq` (field order
/// as in [`RoomMessage`]).
#[derive(Serialize)]
struct RoomBody<'a> {
    from: &'a str,
    text: &'a str,
    ts: u64,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<shared::Quote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a shared::Image>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a shared::File>,
}

/// The same for a change (field order as in [`RoomChange`]).
#[derive(Serialize)]
struct ChangeBody<'a> {
    from: &'a str,
    ts: u64,
    client_id: &'a str,
    target: MessageId,
    change: &'a Change,
}

/// The same for a direct message (the script adds `id`).
#[derive(Serialize)]
struct DirectBody<'a> {
    from: &'a str,
    to: &'a str,
    text: &'a str,
    ts: u64,
    client_id: &'a str,
}

/// The ZRANGEBYLEX bounds of a member page (presence.lua keeps entries as "KEY\0NAME"):
/// after the entries of key `after`, within those starting with `prefix`. No UTF-8 has the
/// byte 0xFF, so "KEY\0\xFF" follows every entry of KEY and precedes every longer key, and
/// "PREFIX\xFF" follows every key starting with PREFIX.
fn lex_range(after: Option<&str>, prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let min = match after {
        Some(after) if after >= prefix => [b"(", after.as_bytes(), b"\0\xff"].concat(),
        _ if prefix.is_empty() => b"-".to_vec(),
        _ => [b"[", prefix.as_bytes()].concat(),
    };
    let max = if prefix.is_empty() {
        b"+".to_vec()
    } else {
        [b"(", prefix.as_bytes(), b"\xff"].concat()
    };
    (min, max)
}

/// A page as presence.lua returns it: whether more follow (1 or 0), then the names.
fn page_of(mut reply: impl Iterator<Item = Value>) -> RedisResult<(i64, Vec<String>)> {
    let more = redis::from_redis_value(reply.next().unwrap_or(Value::Nil))?;
    let names = reply
        .map(|name| redis::from_redis_value(name).map_err(redis::RedisError::from))
        .collect::<RedisResult<_>>()?;
    Ok((more, names))
}

/// The user key and nickname (as they spell it) of whoever is called `nick` (ignoring case)
/// anywhere in the cluster now, if anyone. The holder of a look-alike is not: a look-alike
/// names nobody. The shared presence holds a nickname under its look-alike keys
/// ([`crate::names::likeness`]); the one ignoring case finds it.
pub(crate) async fn nick_holder(
    conn: &mut Conn,
    nick: &Nick,
) -> RedisResult<Option<(String, Nick)>> {
    let [folded, _] = crate::names::likeness(nick);
    let (owner, name): (Option<String>, Option<String>) = redis::cmd("HMGET")
        .arg(nick_key(&folded))
        .arg("owner")
        .arg("nick")
        .query_async(conn)
        .await?;
    let name = name
        .and_then(|n| Nick::try_from(n).ok())
        .filter(|name| name.key() == nick.key());
    Ok(owner.zip(name))
}

/// Names read from Redis as nicknames (one that is not valid is left out).
fn nicks(names: Vec<String>) -> Vec<Nick> {
    names
        .into_iter()
        .filter_map(|n| Nick::try_from(n).ok())
        .collect()
}

/// A JSON object's members without the braces, for the script to prepend to.
fn members(body: &impl Serialize) -> Result<String, EngineError> {
    let json = serde_json::to_string(body).map_err(EngineError::unreadable)?;
    Ok(json
        .strip_prefix('{')
        .and_then(|j| j.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned())
}

fn parse<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, EngineError> {
    serde_json::from_str(json)
        .map_err(|e| EngineError::Unreadable(format!("an unreadable message in Redis: {e}")))
}

/// Every key matching `pattern` in the slot of `slot_key` (a hash tag's keys: on a cluster,
/// on the node that owns that slot, which the SCAN walks a page at a time).
async fn keys_on_slot_of(
    conn: &mut Conn,
    slot_key: &str,
    pattern: &str,
) -> RedisResult<Vec<String>> {
    let mut found = Vec::new();
    let mut cursor = 0_u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, keys): (u64, Vec<String>) = conn.on_primary_of(slot_key, &scan).await?;
        found.extend(keys);
        if next == 0 {
            return Ok(found);
        }
        cursor = next;
    }
}

/// A stored direct message. One stored before messages carried their `seq` gets its `id`:
/// ids came from one counter then, so they were each conversation's order as well.
fn parse_direct(json: &str) -> Result<DirectMessage, EngineError> {
    let mut message: DirectMessage = parse(json)?;
    if message.seq == 0 {
        message.seq = message.id.0;
    }
    Ok(message)
}

fn parse_entry(json: &str) -> Result<RoomEntry, EngineError> {
    RoomEntry::from_json(json)
        .map_err(|e| EngineError::Unreadable(format!("an unreadable entry in Redis: {e}")))
}

fn fresh_epoch() -> Result<Epoch, EngineError> {
    crate::ids::new_epoch().map_err(|e| EngineError::Randomness(format!("an epoch: {e}")))
}

/// Runs subscription changes one at a time, in order, on the subscriber connection.
async fn subscriber_loop(mut sub: Conn, mut queue: mpsc::UnboundedReceiver<SubCmd>) {
    while let Some(command) = queue.recv().await {
        match command {
            SubCmd::Subscribe(channel, reply) => {
                let _ = reply.send(sub.subscribe(&channel).await);
            }
            SubCmd::Unsubscribe(channel) => {
                if let Err(err) = sub.unsubscribe(&channel).await {
                    tracing::warn!(%channel, error = %err, "unsubscribing failed");
                }
            }
            SubCmd::Ping(reply) => {
                let ok = redis::cmd("PING")
                    .query_async::<Value>(&mut sub)
                    .await
                    .is_ok();
                let _ = reply.send(ok);
            }
        }
    }
}
