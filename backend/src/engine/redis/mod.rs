//! Cluster mode: the message log, sequencing and fan-out between nodes, in Redis.
//!
//! The hub keeps every chat rule; this engine is what it stores and reads through when the
//! server runs with `--redis` (the embedded [`crate::engine::sqlite`] otherwise). It speaks the same
//! [`Event`]s, so the hub cannot tell the two apart except that here live messages come from
//! the log's feed ([`Event::LiveRoom`], [`Event::LiveDirect`]) rather than from its own appends.
//!
//! - **Redis is the sequencer and the log.** One Lua script per send does, atomically: the
//!   idempotency check on (sender, `client_id`), the room's next `seq`, the append to the
//!   room's stream (entry ID `seq-0`), the PUBLISH, and remembering the answer for
//!   `--dedup-window`. With `appendfsync always` Redis writes and fsyncs the script's effects
//!   before it sends anything of that event-loop turn to any client, the PUBLISH included,
//!   so whatever a client sees has been stored (docs/DEPLOYMENT.md).
//! - **Pub/Sub is only a doorbell.** Each log this node has local readers for has a
//!   `feed::Feed` that delivers positions in order, once; a gap is read from the stream. After
//!   the subscriber connection drops, every watched log is read from where its feed stands, at
//!   once.
//! - **Catch-up is exact.** A history read notes the log's last position; its answer is held
//!   until the feed has delivered that far, then completed with what the feed delivered since.
//!   While a connection waits for it the hub skips its live messages of that log, as in the
//!   embedded mode; the answer holds exactly those.
//!
//! # Layout
//! - `mod.rs`: [`Cluster`] (the handle), the engine task, its state and its loop: jobs from
//!   the hub, finished Redis operations, pushes, the periodic checks.
//! - `logs.rs`: the watched logs: subscription, feed, held history answers, new epochs.
//! - `presence.rs`: the queue that runs this node's presence changes ([`PresenceOp`]).
//! - `redis_io.rs`: keys, the Lua scripts and the futures that run them.
//! - `feed.rs`: `feed::Feed`, the ordering of one log's live messages.
//! - `directory.rs`: who last held each nickname (direct messages to people who are away).
//! - `indexer.rs`: this node's search index, fed from the logs.
//! - `*.lua`: the scripts (one atomic step each).
//!
//! This file stays one piece (about 800 lines): it is the engine's one task, its select
//! loop and the dispatch of every request, answer and push; the per-log and presence parts
//! are already in their own files.

mod directory;
mod feed;
pub mod indexer;
mod logs;
mod presence;
mod redis_io;
mod slots;

pub(crate) use redis_io::{images_in_use, nick_holder, room_members_key, room_meta_key};

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{FutureExt as _, StreamExt as _, future::BoxFuture, stream::FuturesUnordered};
use redis::{PushInfo, PushKind, RedisResult};
use shared::{Epoch, Nick, RoomName};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::engine::search::Searcher;
pub use crate::engine::vocabulary::Log;
use crate::engine::vocabulary::{
    Answer, Appended, EngineError, Event, MemberPage, NewMessage, PresenceOp, Read, StoreClosed,
    StoreOptions,
};
use feed::GAP_WAIT;
use presence::{PRESENCE_TICK, PresenceWork, presence_loop};
use redis_io::{Io, Push, Sent};

use crate::redis_set::RedisSet;
use slots::{Item, Members, Slot, SlotState, UNWATCH_GRACE, log_of};

/// The cluster engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the cluster engine: {reason}")]
pub struct ClusterError {
    reason: String,
}

enum Job<C> {
    Append {
        ctx: C,
        message: NewMessage,
    },
    Read {
        ctx: C,
        read: Read,
    },
    Watch(Log),
    Unwatch(Log),
    Claim {
        ctx: C,
        nick: Nick,
        user: String,
    },
    Presence(PresenceOp),
    Rooms {
        ctx: C,
    },
    Logs {
        ctx: C,
    },
    Members {
        ctx: C,
        room: RoomName,
        after: Option<Nick>,
        prefix: String,
    },
    Mark {
        user: String,
        place: crate::engine::vocabulary::Place,
        position: u64,
    },
    Remember(crate::engine::vocabulary::Holder),
    Share {
        user: String,
        share: bool,
    },
    PositionsOf {
        ctx: C,
        place: crate::engine::vocabulary::Place,
        users: Vec<String>,
    },
    Tell {
        user: String,
        event: shared::ServerMsg,
    },
    Resolve {
        ctx: C,
        nicks: Vec<Nick>,
    },
    Absent {
        ctx: C,
        room: RoomName,
        users: Vec<String>,
    },
}

/// The hub's handle on the engine task; dropping it stops the task.
pub struct Cluster<C> {
    jobs: mpsc::UnboundedSender<Job<C>>,
    ready: Arc<AtomicBool>,
    /// Answers searches from this node's index (fed by the [`indexer`]).
    searcher: Searcher<C>,
}

impl<C: Send + 'static> Cluster<C> {
    /// Starts the engine task over the node's Redis connections; events arrive on the
    /// returned receiver. Connecting happens in the background (and again after every
    /// loss): until Redis answers, sends fail with an error and [`Cluster::readiness`] is
    /// false.
    pub fn start(
        redis: &RedisSet,
        options: StoreOptions,
        data_dir: &std::path::Path,
        metrics: &crate::metrics::Metrics,
        shutdown: CancellationToken,
    ) -> Result<(Self, mpsc::UnboundedReceiver<Event<C>>), ClusterError> {
        let (index, index_path) = indexer::open(data_dir).map_err(|err| ClusterError {
            reason: format!("the search index: {err}"),
        })?;
        let pushes = redis.pushes(&redis_io::CHANNELS);
        let io = Io::connect(redis, options.clone()).map_err(|err| ClusterError {
            reason: err.to_string(),
        })?;
        let (jobs, job_rx) = mpsc::unbounded_channel();
        let (events, receiver) = mpsc::unbounded_channel();
        let ready = Arc::new(AtomicBool::new(false));
        let (presence, presence_queue) = mpsc::unbounded_channel();
        tokio::spawn(presence_loop(io.clone(), presence_queue));
        tokio::spawn(indexer::run(
            io.clone(),
            index,
            indexer::Settings {
                retention_age: options.retention_age,
                lag: metrics.search_lag.clone(),
            },
            shutdown.clone(),
        ));
        let searcher =
            Searcher::start(&index_path, events.downgrade()).map_err(|err| ClusterError {
                reason: format!("cannot start the search thread: {err}"),
            })?;
        let engine = Engine {
            registered: HashSet::new(),
            retention_age: options.retention_age,
            retention_interval: options.retention_interval,
            next_trim: Instant::now(),
            trim_in_flight: false,
            presence,
            tick_in_flight: false,
            holds_entries: false,
            next_presence_tick: Instant::now(),
            io,
            events,
            slots: HashMap::new(),
            senders: HashMap::new(),
            inflight: FuturesUnordered::new(),
            ready: Arc::clone(&ready),
            writable: false,
            resync: false,
            health_in_flight: false,
            next_health: Instant::now(),
            next_generation: 1,
        };
        tokio::spawn(engine.run(job_rx, pushes, shutdown));
        Ok((
            Self {
                jobs,
                ready,
                searcher,
            },
            receiver,
        ))
    }

    /// Queues a search of this node's index; [`Event::Found`] answers.
    pub fn search(&self, ctx: C, request: crate::engine::search::Request) {
        self.searcher.search(ctx, request);
    }

    /// Queues a message to store; its [`Event::Appended`] follows, and the message itself
    /// comes back through the log's feed.
    pub fn append(&self, ctx: C, message: NewMessage) -> Result<(), StoreClosed> {
        self.send(Job::Append { ctx, message })
    }

    /// Queues a read; its [`Event::Read`] follows, after the live events of every message
    /// it holds.
    pub fn read(&self, ctx: C, read: Read) -> Result<(), StoreClosed> {
        self.send(Job::Read { ctx, read })
    }

    /// This node has local readers of `log` from now on: deliver its live messages.
    pub fn watch(&self, log: Log) {
        let _ = self.send(Job::Watch(log));
    }

    /// This node has no local reader of `log` any more.
    pub fn unwatch(&self, log: Log) {
        let _ = self.send(Job::Unwatch(log));
    }

    /// Claims a nickname for a user (key) on this node; [`Event::Claimed`] answers.
    pub fn claim(&self, ctx: C, nick: Nick, user: String) {
        let _ = self.send(Job::Claim { ctx, nick, user });
    }

    /// Changes the shared presence, or tells a room's nodes something.
    pub fn presence(&self, op: PresenceOp) {
        let _ = self.send(Job::Presence(op));
    }

    /// Moves a read position forward; every tab of the user, on every node, hears of it
    /// ([`Event::UserEvent`]).
    pub fn mark(&self, user: String, place: crate::engine::vocabulary::Place, position: u64) {
        let _ = self.send(Job::Mark {
            user,
            place,
            position,
        });
    }

    /// Keeps whether `user` shares their read positions.
    pub fn share(&self, user: String, share: bool) {
        let _ = self.send(Job::Share { user, share });
    }

    /// The positions in `place` of those of `users` who share them; [`Event::PositionsOf`]
    /// answers.
    pub fn positions_of(
        &self,
        ctx: C,
        place: crate::engine::vocabulary::Place,
        users: Vec<String>,
    ) {
        let _ = self.send(Job::PositionsOf { ctx, place, users });
    }

    /// Tells every tab of `user`, on every node, `event`.
    pub fn tell(&self, user: String, event: shared::ServerMsg) {
        let _ = self.send(Job::Tell { user, event });
    }

    /// Whom each of `nicks` reaches in the cluster; [`Event::Resolved`] answers.
    pub fn resolve(&self, ctx: C, nicks: Vec<Nick>) {
        let _ = self.send(Job::Resolve { ctx, nicks });
    }

    /// Which of `users` are in `room` on no node; [`Event::Absent`] answers.
    pub fn absent(&self, ctx: C, room: RoomName, users: Vec<String>) {
        let _ = self.send(Job::Absent { ctx, room, users });
    }

    /// Notes a nickname's holder in the shared directory (see [`directory`]).
    pub fn remember(&self, holder: crate::engine::vocabulary::Holder) {
        let _ = self.send(Job::Remember(holder));
    }

    /// Asks for every room with members; [`Event::Rooms`] answers.
    pub fn rooms(&self, ctx: C) {
        let _ = self.send(Job::Rooms { ctx });
    }

    /// Asks for every room with a log (the registry retention walks); [`Event::Logs`]
    /// answers.
    pub fn logs(&self, ctx: C) {
        let _ = self.send(Job::Logs { ctx });
    }

    /// Asks for a page of `room`'s members (see [`shared::ClientMsg::Members`]);
    /// [`Event::Members`] answers.
    pub fn members(&self, ctx: C, room: RoomName, after: Option<Nick>, prefix: String) {
        let _ = self.send(Job::Members {
            ctx,
            room,
            after,
            prefix,
        });
    }

    /// Whether Redis answered the last health check on both connections: a flag the
    /// engine keeps up to date.
    pub fn readiness(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.ready)
    }

    fn send(&self, job: Job<C>) -> Result<(), StoreClosed> {
        self.jobs.send(job).map_err(|_| StoreClosed)
    }
}

/// How often both connections are checked (a PING each): how soon `/readyz` and the refusal
/// of sends follow Redis going away or coming back.
const HEALTH_EVERY: Duration = Duration::from_millis(500);

/// How often the engine checks gaps, idle logs and whether a health check is due.
const TICK: Duration = Duration::from_millis(100);

/// What a finished Redis operation reports to the engine task.
enum Done<C> {
    Appended {
        ctx: C,
        sender: String,
        outcome: Result<Sent, EngineError>,
    },
    Read {
        ctx: C,
        read: Read,
        /// The feed's position when the read began.
        delivered: u64,
        result: Result<(Answer, u64), EngineError>,
    },
    Claimed {
        ctx: C,
        granted: Result<bool, EngineError>,
    },
    Rooms {
        ctx: C,
        rooms: Result<Vec<shared::RoomInfo>, EngineError>,
    },
    Logs {
        ctx: C,
        rooms: Result<Vec<RoomName>, EngineError>,
    },
    Resolved {
        ctx: C,
        found: Result<Vec<Option<crate::engine::vocabulary::Reached>>, EngineError>,
    },
    Absent {
        ctx: C,
        users: Vec<String>,
    },
    PositionsOf {
        ctx: C,
        positions: Vec<(String, u64)>,
    },
    Members {
        ctx: C,
        page: Result<MemberPage, EngineError>,
    },
    Ticked {
        /// This node's entries are gone from the shared presence.
        lost: bool,
    },
    EpochReplaced {
        log: Log,
        generation: u64,
        result: Result<Epoch, EngineError>,
    },
    Registered {
        logs: Vec<Log>,
        result: RedisResult<()>,
    },
    Trimmed,
    Started {
        log: Log,
        generation: u64,
        result: Result<(Epoch, u64), EngineError>,
    },
    Filled {
        log: Log,
        generation: u64,
        /// The feed's position the read started after.
        after: u64,
        result: Result<(Epoch, u64, Vec<Item>), EngineError>,
    },
    Health {
        /// The commands connection answered.
        commands: bool,
        /// The subscriber connection answered.
        subscriber: bool,
    },
}

struct Engine<C> {
    io: Io,
    events: mpsc::UnboundedSender<Event<C>>,
    slots: HashMap<Log, Slot<C>>,
    /// Sends waiting behind an earlier send of the same sender (user key); a sender has an
    /// entry while one of its sends is in flight.
    senders: HashMap<String, VecDeque<(C, NewMessage)>>,
    inflight: FuturesUnordered<BoxFuture<'static, Done<C>>>,
    ready: Arc<AtomicBool>,
    /// The commands connection answered the last health check: sends are tried (otherwise
    /// refused at once).
    writable: bool,
    /// The subscriber connection dropped: every live log is to be read from its feed's
    /// position once Redis answers again.
    resync: bool,
    health_in_flight: bool,
    next_health: Instant,
    next_generation: u64,
    /// This node's presence changes, run in order by [`presence_loop`].
    presence: mpsc::UnboundedSender<PresenceWork>,
    /// A presence tick (lease renewal, sweeping) is in flight.
    tick_in_flight: bool,
    /// This node has entered someone in the shared presence since it last found its entries
    /// gone.
    holds_entries: bool,
    next_presence_tick: Instant,
    /// Logs this node has entered in the retention registry.
    registered: HashSet<Log>,
    /// Retention by age (`--retention-age`) and how often it runs.
    retention_age: Option<Duration>,
    retention_interval: Duration,
    next_trim: Instant,
    trim_in_flight: bool,
}

impl<C: Send + 'static> Engine<C> {
    async fn run(
        mut self,
        mut jobs: mpsc::UnboundedReceiver<Job<C>>,
        mut pushes: mpsc::UnboundedReceiver<PushInfo>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => self.done(done),
                push = pushes.recv() => match push {
                    Some(push) => self.push(push),
                    None => break,
                },
                job = jobs.recv() => match job {
                    Some(job) => self.job(job),
                    None => break,
                },
                _ = tick.tick() => self.tick(),
            }
        }
        tracing::debug!("cluster engine stopped");
    }

    fn emit(&self, event: Event<C>) {
        // Only fails once the hub is gone (shutdown).
        let _ = self.events.send(event);
    }

    fn job(&mut self, job: Job<C>) {
        match job {
            Job::Append { ctx, .. } if !self.writable => self.refuse_unreachable(ctx),
            Job::Append { ctx, message } => match self.senders.get_mut(&message.sender) {
                Some(queue) => queue.push_back((ctx, message)),
                None => {
                    self.senders.insert(message.sender.clone(), VecDeque::new());
                    self.dispatch_append(ctx, message);
                }
            },
            Job::Read { ctx, read } => {
                // A join's presence entry is queued now, in the hub's order; the read waits
                // for its member list.
                let members = match &read {
                    Read::Room {
                        room,
                        joiner: Some(joiner),
                        ..
                    } => {
                        self.holds_entries = true;
                        let (reply, members) = oneshot::channel();
                        let work = PresenceWork::Join(room.clone(), joiner.clone(), reply);
                        let _ = self.presence.send(work);
                        Members::Pending(members)
                    }
                    _ => Members::None,
                };
                let log = log_of(&read);
                match self.slots.get_mut(&log).map(|s| &mut s.state) {
                    Some(SlotState::Starting { reads, .. }) => reads.push((ctx, read, members)),
                    _ => self.dispatch_read(ctx, read, members),
                }
            }
            Job::Claim { ctx, nick, user } => {
                self.holds_entries = true;
                let (reply, answer) = oneshot::channel();
                let _ = self.presence.send(PresenceWork::Claim(nick, user, reply));
                self.inflight.push(
                    async move {
                        let granted = answer
                            .await
                            .unwrap_or(Err(EngineError::Stopped("the presence queue")));
                        Done::Claimed { ctx, granted }
                    }
                    .boxed(),
                );
            }
            Job::Presence(op) => {
                if matches!(op, PresenceOp::Join { .. }) {
                    self.holds_entries = true;
                }
                let _ = self.presence.send(PresenceWork::Op(Box::new(op)));
            }
            Job::Mark {
                user,
                place,
                position,
            } => {
                // Nothing waits for it: a failure is logged here, and the next mark retries.
                let io = self.io.clone();
                tokio::spawn(async move {
                    if let Err(err) = io.mark(&user, &place, position).await {
                        tracing::warn!(error = %err, "storing a read position failed");
                    }
                });
            }
            Job::Remember(holder) => {
                // Nothing waits for it: a failure is logged here; the holder's next claim or
                // release notes them again.
                let mut conn = self.io.commands();
                tokio::spawn(async move {
                    if let Err(err) = directory::remember(&mut conn, &holder).await {
                        tracing::warn!(error = %err, "noting a nickname's holder failed");
                    }
                });
            }
            Job::Share { user, share } => {
                // Nothing waits for it: a failure is logged here.
                let io = self.io.clone();
                tokio::spawn(async move {
                    if let Err(err) = io.share_reads(&user, share).await {
                        tracing::warn!(error = %err, "storing whether reads are shared failed");
                    }
                });
            }
            Job::Tell { user, event } => {
                let io = self.io.clone();
                tokio::spawn(async move {
                    if let Err(err) = io.tell(&user, &event).await {
                        tracing::warn!(error = %err, "telling a user's tabs failed");
                    }
                });
            }
            Job::PositionsOf { ctx, place, users } => {
                let io = self.io.clone();
                self.inflight.push(
                    async move {
                        let positions = io.positions_of(&place, &users).await.unwrap_or_else(|err| {
                            // Nobody is shown as having read: a display, not a rule.
                            tracing::warn!(error = %err, "reading others' read positions failed");
                            Vec::new()
                        });
                        Done::PositionsOf { ctx, positions }
                    }
                    .boxed(),
                );
            }
            Job::Resolve { ctx, nicks } => {
                let io = self.io.clone();
                self.inflight.push(
                    async move {
                        let found = io.resolve(&nicks).await.map_err(EngineError::from);
                        Done::Resolved { ctx, found }
                    }
                    .boxed(),
                );
            }
            Job::Absent { ctx, room, users } => {
                let io = self.io.clone();
                self.inflight.push(
                    async move {
                        let users = io.absent(&room, users).await.unwrap_or_else(|err| {
                            // Out of reach: nobody is told (a push is not worth a guess).
                            tracing::warn!(error = %err, "cannot tell who is away from a room");
                            Vec::new()
                        });
                        Done::Absent { ctx, users }
                    }
                    .boxed(),
                );
            }
            Job::Rooms { ctx } => {
                let io = self.io.clone();
                self.inflight.push(
                    async move {
                        let rooms = io.rooms().await;
                        Done::Rooms { ctx, rooms }
                    }
                    .boxed(),
                );
            }
            Job::Logs { ctx } => {
                let io = self.io.clone();
                self.inflight.push(
                    async move {
                        let rooms = io
                            .logs()
                            .await
                            .map_err(EngineError::from)
                            .map(|(rooms, _)| {
                                // Names that do not parse were never written by this server.
                                let mut rooms: Vec<RoomName> =
                                    rooms.iter().filter_map(|r| r.parse().ok()).collect();
                                rooms.sort();
                                rooms
                            });
                        Done::Logs { ctx, rooms }
                    }
                    .boxed(),
                );
            }
            Job::Members {
                ctx,
                room,
                after,
                prefix,
            } => {
                let io = self.io.clone();
                self.inflight.push(
                    async move {
                        let page = io.members(&room, after.as_ref(), &prefix).await;
                        Done::Members { ctx, page }
                    }
                    .boxed(),
                );
            }
            Job::Watch(log) => self.watch(log),
            Job::Unwatch(log) => {
                if let Some(slot) = self.slots.get_mut(&log) {
                    slot.idle_since = Some(Instant::now());
                }
            }
        }
    }

    /// Refuses a send because Redis is known to be out of reach: now rather than after the
    /// reconnection attempts, about a second each (nothing is acknowledged that is not
    /// stored; the client resends later).
    fn refuse_unreachable(&mut self, ctx: C) {
        self.emit(Event::Appended {
            ctx,
            outcome: Appended::Failed(EngineError::Redis(
                "Redis is out of reach; the message was not stored (resend it later)".into(),
            )),
        });
    }

    /// Runs the next send queued behind `sender`'s last one. While Redis is known to be out of
    /// reach the queue is refused at once, as a new send is: a burst queued when Redis went
    /// away would otherwise wait out one reconnection attempt per message (minutes for a
    /// few hundred).
    fn next_send(&mut self, sender: &str) {
        loop {
            match self.senders.get_mut(sender).map(VecDeque::pop_front) {
                Some(Some((ctx, _))) if !self.writable => self.refuse_unreachable(ctx),
                Some(Some((ctx, message))) => return self.dispatch_append(ctx, message),
                _ => {
                    self.senders.remove(sender);
                    return;
                }
            }
        }
    }

    /// Runs one send. A sender's sends run one after another (the next when this one is
    /// answered), so that their order is the order they were sent in; different senders'
    /// sends are pipelined on the one connection.
    fn dispatch_append(&mut self, ctx: C, message: NewMessage) {
        let io = self.io.clone();
        self.inflight.push(
            async move {
                let outcome = io.append(&message).await;
                Done::Appended {
                    ctx,
                    sender: message.sender,
                    outcome,
                }
            }
            .boxed(),
        );
    }

    fn appended(&mut self, ctx: C, outcome: Result<Sent, EngineError>) {
        match outcome {
            Ok(Sent::New(stored, epoch, logs, away)) => {
                self.register(logs);
                if let Some(away) = away {
                    let (user, message) = *away;
                    self.emit(Event::Away { user, message });
                }
                // The reply is as good a doorbell as the publish (both come after the
                // fsync); whichever arrives first delivers.
                self.offer_stored(&stored, &epoch);
                self.emit(Event::Appended {
                    ctx,
                    outcome: Appended::Sent(stored),
                });
            }
            Ok(Sent::NoRecipient(to)) => self.emit(Event::Appended {
                ctx,
                outcome: Appended::NoRecipient(to),
            }),
            Ok(Sent::Repeat(original)) => self.emit(Event::Appended {
                ctx,
                outcome: Appended::Duplicate(original),
            }),
            Ok(Sent::Refused((code, reason))) => self.emit(Event::Appended {
                ctx,
                outcome: Appended::Refused(code, reason),
            }),
            Err(reason) => self.emit(Event::Appended {
                ctx,
                outcome: Appended::Failed(reason),
            }),
        }
    }

    fn done(&mut self, done: Done<C>) {
        match done {
            Done::Appended {
                ctx,
                sender,
                outcome,
            } => {
                // This one's answer first: refusals of the queued ones come after it, in the
                // order they were sent.
                self.appended(ctx, outcome);
                self.next_send(&sender);
            }
            Done::Read {
                ctx,
                read,
                delivered,
                result,
            } => self.read_done(ctx, read, delivered, result),
            Done::Claimed { ctx, granted } => self.emit(Event::Claimed { ctx, granted }),
            Done::Rooms { ctx, rooms } => self.emit(Event::Rooms { ctx, rooms }),
            Done::Logs { ctx, rooms } => self.emit(Event::Logs { ctx, rooms }),
            Done::Resolved { ctx, found } => self.emit(Event::Resolved { ctx, found }),
            Done::Absent { ctx, users } => self.emit(Event::Absent { ctx, users }),
            Done::PositionsOf { ctx, positions } => {
                self.emit(Event::PositionsOf { ctx, positions });
            }
            Done::Members { ctx, page } => self.emit(Event::Members { ctx, page }),
            Done::Ticked { lost } => {
                self.tick_in_flight = false;
                if lost && self.holds_entries {
                    // Wiped (FLUSHALL) or swept while this node was cut off: the hub puts its
                    // users back (once; another entry re-arms this).
                    tracing::warn!("this node's presence was lost in Redis; entering it again");
                    self.holds_entries = false;
                    self.io.forget_held();
                    self.emit(Event::PresenceLost);
                }
            }
            Done::Trimmed => self.trim_in_flight = false,
            Done::EpochReplaced {
                log,
                generation,
                result,
            } => match result {
                Ok(epoch)
                    if self
                        .slots
                        .get(&log)
                        .is_some_and(|s| s.generation == generation) =>
                {
                    self.reset_log(&log, &epoch);
                    self.fill(&log);
                }
                Ok(_) => {}
                Err(reason) => tracing::error!(?log, %reason, "could not give a log a new epoch"),
            },
            Done::Registered { logs, result } => {
                if let Err(err) = result {
                    // Registered again with the next message.
                    tracing::warn!(error = %err, "listing logs for retention failed");
                    for log in logs {
                        self.registered.remove(&log);
                    }
                }
            }
            Done::Started {
                log,
                generation,
                result,
            } => self.started(log, generation, result),
            Done::Filled {
                log,
                generation,
                after,
                result,
            } => {
                let Some(slot) = self.slots.get_mut(&log) else {
                    return;
                };
                if slot.generation != generation {
                    return;
                }
                if let SlotState::Live { filling, .. } = &mut slot.state {
                    *filling = false;
                }
                match result {
                    // Reset (and read again from the start), or stale.
                    Ok((epoch, ..)) if self.epoch_changed(&log, &epoch).is_some() => {}
                    Ok((epoch, last, _)) if self.went_backwards(&log, &epoch, last, after) => {}
                    Ok((epoch, last, items)) => {
                        for item in items {
                            self.offer(&log, &epoch, item);
                        }
                        // More than one read brings: the feed asks for the rest.
                        if let Some(Slot {
                            state: SlotState::Live { feed, .. },
                            ..
                        }) = self.slots.get_mut(&log)
                        {
                            feed.expect(last, Instant::now());
                        }
                    }
                    Err(reason) => {
                        tracing::warn!(?log, %reason, "reading a gap from Redis failed; retrying");
                    }
                }
            }
            Done::Health {
                commands,
                subscriber,
            } => {
                self.health_in_flight = false;
                if commands != self.writable {
                    if commands {
                        tracing::info!("Redis answers");
                    } else {
                        tracing::warn!("Redis does not answer; sends are refused until it does");
                    }
                }
                self.writable = commands;
                let ok = commands && subscriber;
                // Ready (for /readyz) once both connections answer and nothing is left to
                // catch up on.
                self.ready.store(ok && !self.resync, Ordering::Relaxed);
                if ok && self.resync {
                    // The subscriber connection is back (resubscribed before it answered the
                    // health check): read every log from where its feed stands.
                    self.resync = false;
                    let logs: Vec<Log> = self.slots.keys().cloned().collect();
                    for log in logs {
                        self.fill(&log);
                    }
                }
            }
        }
    }

    /// Enters logs this node wrote to in the registry retention walks, once each.
    fn register(&mut self, logs: Vec<Log>) {
        let new: Vec<Log> = logs
            .into_iter()
            .filter(|log| self.registered.insert(log.clone()))
            .collect();
        if new.is_empty() {
            return;
        }
        let io = self.io.clone();
        self.inflight.push(
            async move {
                let result = io.register(&new).await;
                Done::Registered { logs: new, result }
            }
            .boxed(),
        );
    }

    fn push(&mut self, push: PushInfo) {
        match push.kind {
            // A sharded channel's message (Redis Cluster) is an SMessage.
            PushKind::Message | PushKind::SMessage => match redis_io::parse_push(push.data) {
                Some(Push::Message(log, epoch, item)) => self.offer(&log, &epoch, item),
                Some(Push::Presence(room, user, event)) => {
                    self.emit(Event::RoomEvent { room, user, event });
                }
                Some(Push::User(user, event)) => self.emit(Event::UserEvent { user, event }),
                None => tracing::warn!("an unreadable message on a chat channel; ignored"),
            },
            PushKind::Disconnection => {
                tracing::warn!("the Redis subscriber connection dropped; will catch up");
                self.resync = true;
                self.ready.store(false, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn tick(&mut self) {
        let now = Instant::now();
        if let Some(age) = self.retention_age
            && !self.trim_in_flight
            && now >= self.next_trim
        {
            // Every node trims (the same idempotent step): simpler than electing one, and
            // cheap at one walk per --retention-interval.
            self.trim_in_flight = true;
            self.next_trim = now + self.retention_interval;
            let cutoff =
                crate::engine::rules::now_ms().saturating_sub(crate::engine::rules::millis(age));
            let io = self.io.clone();
            self.inflight.push(
                async move {
                    match io.trim_age(cutoff).await {
                        Ok(0) => {}
                        Ok(deleted) => tracing::info!(deleted, "retention removed old messages"),
                        Err(err) => {
                            tracing::error!(error = %err, "retention failed; retrying later")
                        }
                    }
                    Done::Trimmed
                }
                .boxed(),
            );
        }
        if !self.tick_in_flight && now >= self.next_presence_tick {
            self.tick_in_flight = true;
            self.next_presence_tick = now + PRESENCE_TICK;
            let io = self.io.clone();
            let (reply, answer) = oneshot::channel();
            let _ = self
                .presence
                .send(PresenceWork::Check(self.holds_entries, reply));
            self.inflight.push(
                async move {
                    match io.tick().await {
                        Ok(swept) if !swept.is_empty() => {
                            tracing::info!(?swept, "removed the presence of dead nodes");
                        }
                        Ok(_) => {}
                        Err(err) => {
                            tracing::warn!(error = %err, "renewing this node's lease failed")
                        }
                    }
                    let lost = matches!(answer.await, Ok(Ok(true)));
                    Done::Ticked { lost }
                }
                .boxed(),
            );
        }
        if !self.health_in_flight && now >= self.next_health {
            self.health_in_flight = true;
            self.next_health = now + HEALTH_EVERY;
            let io = self.io.clone();
            self.inflight.push(
                async move {
                    let (commands, subscriber) = io.healthy().await;
                    Done::Health {
                        commands,
                        subscriber,
                    }
                }
                .boxed(),
            );
        }
        let mut gaps = Vec::new();
        let mut idle = Vec::new();
        for (log, slot) in &mut self.slots {
            if slot
                .idle_since
                .is_some_and(|since| now.duration_since(since) >= UNWATCH_GRACE)
            {
                idle.push(log.clone());
                continue;
            }
            if let SlotState::Live { feed, filling, .. } = &mut slot.state
                && !*filling
                && feed.overdue(now, GAP_WAIT).is_some()
            {
                feed.reading(now);
                gaps.push(log.clone());
            }
        }
        for log in gaps {
            self.fill(&log);
        }
        for log in idle {
            if let Some(slot) = self.slots.remove(&log) {
                // Anyone still waiting on it has gone (the hub unwatches after the last
                // reader left); their answers would go nowhere.
                drop(slot);
                self.io.unsubscribe(&log);
            }
        }
    }
}
