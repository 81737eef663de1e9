//! The workloads, each against its own server processes: W1 echo (closed loop), W2 room
//! fan-out (offered load in steps), W3 idle connections, W4 fan-out across two nodes, W5
//! message rate (many two-person rooms, every member sending).

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

use crate::{
    dialect::{Client, Server},
    process::{Process, Redis, RedisUsage},
};

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// The load generator's CPU share of wall time over a window, to flag a saturated run.
pub struct Busy {
    own_start: f64,
    wall_start: Instant,
    ticks: f64,
}

impl Busy {
    /// Starts a window.
    pub fn start(ticks: f64) -> Self {
        Self {
            own_start: crate::process::own_cpu_us(ticks),
            wall_start: Instant::now(),
            ticks,
        }
    }

    /// The share (0–1) of one core the load generator used since the start.
    pub fn share(&self) -> f64 {
        let wall = self.wall_start.elapsed().as_secs_f64() * 1e6;
        (crate::process::own_cpu_us(self.ticks) - self.own_start) / wall.max(1.0)
    }
}

/// W1 for one connection count.
pub struct Echo {
    /// Connections.
    pub conns: usize,
    /// Echoes per second.
    pub rate: f64,
    /// Round-trip percentiles, µs.
    pub p50: u64,
    /// p99, µs.
    pub p99: u64,
    /// p99.9, µs.
    pub p999: u64,
    /// Server CPU per echo, µs.
    pub cpu_per_echo: f64,
    /// Load generator's share of its core.
    pub loadgen: f64,
}

/// The `n`th echo payload of a connection: 32 bytes, unique, so an echo can be matched to
/// what was sent (a lost, repeated or altered echo fails the run).
fn echo_payload(n: u64) -> String {
    format!("{n:032}")
}

/// Sends the `n`th payload and checks that exactly it comes back.
async fn echo_once(client: &mut Client, n: u64) -> std::io::Result<()> {
    let payload = echo_payload(n);
    client.send_echo(&payload).await?;
    let server = client.server();
    let reply = client.next().await?;
    if Client::is_echo_of(server, reply, &payload) {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "echo {n} came back as {:?}",
            String::from_utf8_lossy(reply)
        )))
    }
}

/// Closed loop: every connection sends, waits for its echo, and repeats, for `duration`.
pub async fn echo(
    server: Server,
    process: &Process,
    conns: usize,
    duration: Duration,
    ticks: f64,
) -> Result<Echo, String> {
    let mut clients = Vec::with_capacity(conns);
    for _ in 0..conns {
        clients.push(
            server
                .echo_socket(process.addr)
                .await
                .map_err(|err| format!("{} echo connect: {err}", server.name()))?,
        );
    }
    // Warm up (JIT, allocator, caches), then measure.
    for client in &mut clients {
        for n in 0..20 {
            echo_once(client, n)
                .await
                .map_err(|err| format!("{} echo: {err}", server.name()))?;
        }
    }
    let cpu_start = process.cpu_us();
    let busy = Busy::start(ticks);
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            tokio::task::spawn_local(async move {
                let mut latencies = histogram();
                let mut n = 20;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    echo_once(&mut client, n).await?;
                    n += 1;
                    let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                    latencies.saturating_record(micros.max(1));
                }
                Ok::<_, std::io::Error>(latencies)
            })
        })
        .collect();
    let mut all = histogram();
    for task in tasks {
        let latencies = task
            .await
            .map_err(|err| err.to_string())?
            .map_err(|err| format!("{} echo: {err}", server.name()))?;
        all.add(&latencies).map_err(|err| err.to_string())?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process.cpu_us() - cpu_start;
    let count = all.len() as f64;
    Ok(Echo {
        conns,
        rate: count / elapsed,
        p50: all.value_at_quantile(0.5),
        p99: all.value_at_quantile(0.99),
        p999: all.value_at_quantile(0.999),
        cpu_per_echo: cpu / count.max(1.0),
        loadgen: busy.share(),
    })
}

/// One offered-load step of W2.
pub struct Step {
    /// Deliveries per second offered (messages per second × members).
    pub offered: f64,
    /// Messages sent.
    pub sent: u64,
    /// Messages the server refused with a typed `overloaded` error (ours sheds load when
    /// more are waiting to be stored than `--max-store-queue`): not stored, not
    /// delivered, and the sender knows; not a loss.
    pub refused: u64,
    /// Deliveries expected (messages not refused × members).
    pub expected: u64,
    /// Deliveries received, each message once per member (repeats are not counted here).
    pub delivered: u64,
    /// Deliveries of a message a member had already received, or received out of its
    /// sender's order: each one could hide a loss in `delivered`.
    pub repeated: u64,
    /// Messages a member's deliveries jumped over in a sender's order (refused ones
    /// included): where a shortfall in `delivered` lies, in the middle of a run or at its end.
    pub skipped: u64,
    /// Send → receive latency, ms.
    pub p50_ms: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// Send → the sender's own copy (its acknowledgement: ours sends it once the message is
    /// stored), ms.
    pub ack_p50_ms: f64,
    /// p99, ms.
    pub ack_p99_ms: f64,
    /// Server CPU per delivery, µs.
    pub cpu_per_delivery: f64,
    /// Load generator's share of its core.
    pub loadgen: f64,
    /// What Redis spent (W4, the nodes' shared Redis).
    pub redis: Option<RedisCost>,
}

/// Redis's own cost of a step, per message sent (not per delivery: Redis carries a message
/// once per node, whatever the room's size).
#[derive(Debug, Clone)]
pub struct RedisCost {
    /// CPU µs per message, all primaries together.
    pub cpu_per_message: f64,
    /// Commands per message (scripts, publishes, reads, the nodes' health checks).
    pub commands_per_message: f64,
    /// CPU µs per message, all primaries together, less what they spend with every member
    /// connected and none sending (the nodes' polling, such as the search indexer's reads of
    /// every log's head, and the cluster's gossip) over the step's length: the cost that
    /// grows with messages.
    pub marginal_cpu_per_message: f64,
    /// What the primaries spend with nobody sending, all together: CPU µs per second.
    pub background_cpu_us_per_s: f64,
    /// The same: commands per second.
    pub background_commands_per_s: f64,
    /// Each primary's part, in the order the cluster was created (one on a single Redis).
    pub primaries: Vec<PrimaryCost>,
}

/// One Redis primary's part of a step: how much of the traffic its hash slots drew.
#[derive(Debug, Clone, Copy)]
pub struct PrimaryCost {
    /// Rooms whose hash slot (`{r:ROOM}`) it serves.
    pub rooms: usize,
    /// Messages sent in the step to those rooms.
    pub messages: u64,
    /// Its share (0–1) of the step's commands over all primaries.
    pub command_share: f64,
    /// Its share (0–1) of the step's CPU time over all primaries.
    pub cpu_share: f64,
    /// Its CPU µs per message of its own rooms (everything it did in the step, the nodes'
    /// background reads included, over the messages its slots received).
    pub cpu_per_message: f64,
    /// The same less its own background (see [`RedisCost::marginal_cpu_per_message`]).
    pub marginal_cpu_per_message: f64,
    /// Its own background CPU, µs per second.
    pub background_cpu_us_per_s: f64,
}

/// What a Redis server spends per second with every member connected and none sending.
#[derive(Debug, Clone, Copy, Default)]
pub struct Background {
    /// CPU µs per second.
    pub cpu_us_per_s: f64,
    /// Commands per second.
    pub commands_per_s: f64,
}

/// What the member tasks share (one thread: `Rc`, `Cell`).
struct Shared {
    clock: Instant,
    step: Cell<usize>,
    sending: Cell<bool>,
    period: Cell<Duration>,
    sent: RefCell<Vec<u64>>,
    /// Per step, messages sent to the rooms of each Redis primary.
    sent_to_primary: RefCell<Vec<Vec<u64>>>,
    refused: RefCell<Vec<u64>>,
    delivered: RefCell<Vec<u64>>,
    repeated: RefCell<Vec<u64>>,
    skipped: RefCell<Vec<u64>>,
    latencies: RefCell<Vec<Histogram<u64>>>,
    acks: RefCell<Vec<Histogram<u64>>>,
    failed: RefCell<Option<String>>,
}

/// The number after `key` in `text`.
fn number_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = crate::wire::find(text, key)? + key.len();
    let digits = text[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut value: u64 = 0;
    let mut any = false;
    for digit in digits {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
        any = true;
    }
    any.then_some(value)
}

/// Members connecting at once in a fan-out's join storm.
pub const JOINING: usize = 100;

/// A fan-out's join storm: every member connecting and joining the room.
#[derive(Debug, Clone, Copy)]
pub struct JoinStorm {
    /// Members.
    pub members: usize,
    /// From the first connect to the last welcome, s.
    pub seconds: f64,
    /// The servers' memory grown per member, KB.
    pub kb_per_member: f64,
}

/// A step ends when no delivery has arrived for this long (a lost message, not a slow one).
const DRAIN_IDLE: Duration = Duration::from_secs(3);

/// No heavier step after one whose p99 was over this.
pub const GIVE_UP_P99_MS: f64 = 1000.0;

/// Room fan-out: `members` in one room, the first `senders` of them sending at each offered
/// load for `step_time`, then draining until every delivery arrived (or nothing more arrived
/// for [`DRAIN_IDLE`]). Steps stop after one whose p99 passed [`GIVE_UP_P99_MS`]: the server is
/// far past its knee, and heavier loads would only take long to drain.
pub async fn fanout(
    server: Server,
    process: &Process,
    members: usize,
    senders: usize,
    offered: &[f64],
    step_time: Duration,
    ticks: f64,
) -> Result<(JoinStorm, Vec<Step>), String> {
    fanout_across(
        server,
        &[process],
        None,
        Rooms::One,
        members,
        senders,
        offered,
        step_time,
        ticks,
    )
    .await
}

/// Members of each W5 room.
pub const PAIR: usize = 2;

/// How a fan-out's members are put in rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rooms {
    /// All in one room (W2, W4).
    One,
    /// Two to a room, members `2k` and `2k + 1` in room `k` (W5): with two nodes they sit on
    /// different ones, so every message crosses between them.
    Pairs,
}

impl Rooms {
    /// The room of member `i`.
    fn of(self, i: usize) -> String {
        match self {
            Self::One => "bench".to_owned(),
            Self::Pairs => format!("pair-{}", i / 2),
        }
    }

    /// Members of each room, of `members` in all.
    pub fn size(self, members: usize) -> usize {
        match self {
            Self::One => members,
            Self::Pairs => PAIR.min(members),
        }
    }
}

/// W5, message rate: `members` in two-person rooms, all of them sending, at each of the
/// offered `messages` per second in all, spread over `nodes` (and `redis`) as in
/// [`fanout_across`]. Each message is two deliveries: to its sender (the acknowledgement)
/// and to the other member; the steps' `offered` counts deliveries, like W2's.
pub async fn message_rate(
    server: Server,
    nodes: &[&Process],
    redis: Option<&Redis>,
    members: usize,
    messages: &[f64],
    step_time: Duration,
    ticks: f64,
) -> Result<Vec<Step>, String> {
    let per_room = Rooms::Pairs.size(members) as f64;
    let offered: Vec<f64> = messages.iter().map(|m| m * per_room).collect();
    let (_, steps) = fanout_across(
        server,
        nodes,
        redis,
        Rooms::Pairs,
        members,
        members,
        &offered,
        step_time,
        ticks,
    )
    .await?;
    Ok(steps)
}

/// W2 over several nodes (W4): the members are spread over `nodes` in turn (the senders
/// too), so most deliveries cross from one node to another through `redis`, whose CPU and
/// commands each step also reports. `rooms` puts them in one room or in pairs (W5).
#[allow(clippy::too_many_arguments)] // The workload's sizes, as for `fanout`.
pub async fn fanout_across(
    server: Server,
    nodes: &[&Process],
    redis: Option<&Redis>,
    rooms: Rooms,
    members: usize,
    senders: usize,
    offered: &[f64],
    step_time: Duration,
    ticks: f64,
) -> Result<(JoinStorm, Vec<Step>), String> {
    // Which Redis primary serves each member's room: the room's keys and channel carry the
    // hash tag `{r:ROOM}`.
    let primaries = redis.map_or(1, Redis::primaries);
    let primary_of_room = |room: &str| redis.map_or(0, |r| r.primary_of(&format!("{{r:{room}}}")));
    let shared = Rc::new(Shared {
        clock: Instant::now(),
        step: Cell::new(0),
        sending: Cell::new(false),
        period: Cell::new(Duration::from_secs(1)),
        sent: RefCell::new(vec![0; offered.len()]),
        sent_to_primary: RefCell::new(vec![vec![0; primaries]; offered.len()]),
        refused: RefCell::new(vec![0; offered.len()]),
        delivered: RefCell::new(vec![0; offered.len()]),
        repeated: RefCell::new(vec![0; offered.len()]),
        skipped: RefCell::new(vec![0; offered.len()]),
        latencies: RefCell::new(offered.iter().map(|_| histogram()).collect()),
        acks: RefCell::new(offered.iter().map(|_| histogram()).collect()),
        failed: RefCell::new(None),
    });
    // The join storm: every member connects and joins, JOINING at a time; timed until the
    // last is welcomed, with the servers' memory before and after.
    let rss_before: f64 = nodes.iter().map(|n| n.rss_kb()).sum();
    let storm = Instant::now();
    let mut clients = Vec::with_capacity(members);
    for batch in (0..members).collect::<Vec<_>>().chunks(JOINING) {
        let opened = futures_util::future::join_all(batch.iter().map(|&i| async move {
            let nick = format!("m{i}");
            server
                .chat_socket(nodes[i % nodes.len()].addr, &nick, &rooms.of(i))
                .await
        }))
        .await;
        for (client, &i) in opened.into_iter().zip(batch) {
            clients.push(client.map_err(|err| format!("{} member {i}: {err}", server.name()))?);
        }
    }
    let join = JoinStorm {
        members,
        seconds: storm.elapsed().as_secs_f64(),
        kb_per_member: (nodes.iter().map(|n| n.rss_kb()).sum::<f64>() - rss_before)
            / members as f64,
    };
    let mut tasks = Vec::with_capacity(members);
    for (i, mut client) in clients.into_iter().enumerate() {
        let shared = Rc::clone(&shared);
        let sender = i < senders;
        let room = rooms.of(i);
        let primary = primary_of_room(&room);
        tasks.push(tokio::task::spawn_local(async move {
            let mut next_send = tokio::time::Instant::now();
            let mut counter = 0u64;
            // The last message number seen from each sender: the room keeps each sender's
            // order, so anything not above it is a repeat (or out of order).
            let mut last_from = vec![0u64; senders];
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(next_send), if sender => {
                        if shared.sending.get() {
                            let step = shared.step.get();
                            let now = shared.clock.elapsed().as_micros();
                            counter += 1;
                            let text = format!("t={now} s={step} f={i} n={counter} from a member of the bench room");
                            if let Err(err) = client.send_say(&room, &text, &format!("b{i}-s{step}-{counter}")).await {
                                *shared.failed.borrow_mut() = Some(err.to_string());
                                return;
                            }
                            shared.sent.borrow_mut()[step] += 1;
                            shared.sent_to_primary.borrow_mut()[step][primary] += 1;
                            next_send += shared.period.get();
                        } else {
                            // Each sender starts at its own phase of the period: started
                            // together, a thousand senders would send in bursts.
                            let phase = shared.period.get().mul_f64(i as f64 / senders as f64);
                            next_send = tokio::time::Instant::now() + Duration::from_millis(5) + phase;
                        }
                    }
                    message = client.next() => match message {
                        Ok(text) => {
                            if let (Some(t), Some(step), Some(from), Some(n)) = (
                                number_after(text, b"\"t="),
                                number_after(text, b" s="),
                                number_after(text, b" f="),
                                number_after(text, b" n="),
                            ) {
                                let now = shared.clock.elapsed().as_micros() as u64;
                                let step = step as usize;
                                let fresh = match last_from.get_mut(from as usize) {
                                    Some(last) if n > *last => {
                                        if let Some(count) = shared.skipped.borrow_mut().get_mut(step) {
                                            *count += n - *last - 1;
                                        }
                                        *last = n;
                                        true
                                    }
                                    _ => false,
                                };
                                let counts = if fresh { &shared.delivered } else { &shared.repeated };
                                if let Some(count) = counts.borrow_mut().get_mut(step) {
                                    *count += 1;
                                }
                                let latency = now.saturating_sub(t).max(1);
                                if let Some(h) = shared.latencies.borrow_mut().get_mut(step) {
                                    h.saturating_record(latency);
                                }
                                if from as usize == i
                                    && let Some(h) = shared.acks.borrow_mut().get_mut(step)
                                {
                                    h.saturating_record(latency);
                                }
                            } else if crate::wire::find(text, b"\"overloaded\"").is_some()
                                && let Some(step) = number_after(text, b"-s")
                                && let Some(count) = shared.refused.borrow_mut().get_mut(step as usize)
                            {
                                *count += 1;
                            }
                        }
                        Err(err) => {
                            // Closing after the run ends it; anything else is a failure.
                            if shared.step.get() < usize::MAX {
                                *shared.failed.borrow_mut() = Some(err.to_string());
                            }
                            return;
                        }
                    },
                }
            }
        }));
    }
    let mut room_counts = vec![0; primaries];
    let distinct: std::collections::BTreeSet<String> = (0..members).map(|i| rooms.of(i)).collect();
    for room in &distinct {
        room_counts[primary_of_room(room)] += 1;
    }
    // Let presence and history traffic from the joins settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // What Redis spends meanwhile with nobody sending, for as long as a step sends.
    let background = match redis {
        Some(redis) => {
            let (start, clock) = (redis.usage()?, Instant::now());
            tokio::time::sleep(step_time).await;
            let seconds = clock.elapsed().as_secs_f64();
            start
                .iter()
                .zip(redis.usage()?)
                .map(|(a, b)| Background {
                    cpu_us_per_s: (b.cpu_us - a.cpu_us).max(0.0) / seconds,
                    commands_per_s: b.commands.saturating_sub(a.commands) as f64 / seconds,
                })
                .collect()
        }
        None => Vec::new(),
    };
    let mut steps = Vec::with_capacity(offered.len());
    for (k, &deliveries_per_sec) in offered.iter().enumerate() {
        let per_room = rooms.size(members);
        let messages_per_sec = deliveries_per_sec / per_room as f64;
        let per_sender = messages_per_sec / senders as f64;
        if per_sender * step_time.as_secs_f64() < 1.0 {
            // Not one message per sender in the step: nothing would be measured.
            continue;
        }
        shared
            .period
            .set(Duration::from_secs_f64(1.0 / per_sender.max(0.001)));
        shared.step.set(k);
        let nodes_cpu = || nodes.iter().map(|n| n.cpu_us()).sum::<f64>();
        let cpu_start = nodes_cpu();
        let redis_start = match redis {
            Some(redis) => Some((redis.usage()?, Instant::now())),
            None => None,
        };
        let busy = Busy::start(ticks);
        shared.sending.set(true);
        tokio::time::sleep(step_time).await;
        shared.sending.set(false);
        let (mut seen, mut last_progress) = (shared.delivered.borrow()[k], Instant::now());
        let accepted = || shared.sent.borrow()[k].saturating_sub(shared.refused.borrow()[k]);
        while seen < accepted() * per_room as u64
            && last_progress.elapsed() < DRAIN_IDLE
            && shared.failed.borrow().is_none()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let now_seen = shared.delivered.borrow()[k];
            if now_seen > seen {
                (seen, last_progress) = (now_seen, Instant::now());
            }
        }
        if let Some(err) = shared.failed.borrow().clone() {
            return Err(format!("{}: a member failed: {err}", server.name()));
        }
        let cpu = nodes_cpu() - cpu_start;
        let sent = shared.sent.borrow()[k];
        let redis = match (redis, redis_start) {
            (Some(redis), Some((start, clock))) => Some(redis_cost(
                &start,
                &redis.usage()?,
                &background,
                clock.elapsed().as_secs_f64(),
                &shared.sent_to_primary.borrow()[k],
                &room_counts,
            )),
            _ => None,
        };
        let delivered = shared.delivered.borrow()[k];
        let repeated = shared.repeated.borrow()[k];
        let latencies = &shared.latencies.borrow()[k];
        let acks = &shared.acks.borrow()[k];
        let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let refused = shared.refused.borrow()[k];
        steps.push(Step {
            offered: deliveries_per_sec,
            sent,
            refused,
            expected: sent.saturating_sub(refused) * per_room as u64,
            delivered,
            repeated,
            skipped: shared.skipped.borrow()[k],
            p50_ms: ms(latencies, 0.5),
            p99_ms: ms(latencies, 0.99),
            ack_p50_ms: ms(acks, 0.5),
            ack_p99_ms: ms(acks, 0.99),
            cpu_per_delivery: cpu / (delivered.max(1) as f64),
            loadgen: busy.share(),
            redis,
        });
        if steps
            .last()
            .is_some_and(|step| step.p99_ms > GIVE_UP_P99_MS)
        {
            break;
        }
    }
    shared.step.set(usize::MAX);
    for task in tasks {
        task.abort();
    }
    Ok((join, steps))
}

/// Redis's cost of one step from each primary's usage at its start and end (`seconds`
/// apart) and its `background`, the messages sent to each primary's rooms and how many rooms
/// each serves.
fn redis_cost(
    start: &[RedisUsage],
    end: &[RedisUsage],
    background: &[Background],
    seconds: f64,
    messages: &[u64],
    rooms: &[usize],
) -> RedisCost {
    let idle = |p: usize| background.get(p).copied().unwrap_or_default();
    let cpu: Vec<f64> = start
        .iter()
        .zip(end)
        .map(|(a, b)| (b.cpu_us - a.cpu_us).max(0.0))
        .collect();
    let commands: Vec<u64> = start
        .iter()
        .zip(end)
        .map(|(a, b)| b.commands.saturating_sub(a.commands))
        .collect();
    let sent: u64 = messages.iter().sum();
    let (all_cpu, all_commands) = (cpu.iter().sum::<f64>(), commands.iter().sum::<u64>());
    let share = |part: f64, whole: f64| if whole > 0.0 { part / whole } else { 0.0 };
    let background_cpu: f64 = (0..cpu.len()).map(|p| idle(p).cpu_us_per_s).sum();
    RedisCost {
        cpu_per_message: all_cpu / sent.max(1) as f64,
        commands_per_message: all_commands as f64 / sent.max(1) as f64,
        marginal_cpu_per_message: (all_cpu - background_cpu * seconds).max(0.0)
            / sent.max(1) as f64,
        background_cpu_us_per_s: background_cpu,
        background_commands_per_s: (0..cpu.len()).map(|p| idle(p).commands_per_s).sum(),
        primaries: (0..cpu.len())
            .map(|p| {
                let own = messages.get(p).copied().unwrap_or(0).max(1) as f64;
                PrimaryCost {
                    rooms: rooms.get(p).copied().unwrap_or(0),
                    messages: messages.get(p).copied().unwrap_or(0),
                    command_share: share(commands[p] as f64, all_commands as f64),
                    cpu_share: share(cpu[p], all_cpu),
                    cpu_per_message: cpu[p] / own,
                    marginal_cpu_per_message: (cpu[p] - idle(p).cpu_us_per_s * seconds).max(0.0)
                        / own,
                    background_cpu_us_per_s: idle(p).cpu_us_per_s,
                }
            })
            .collect(),
    }
}

/// W3: idle connections.
pub struct Idle {
    /// Connections attempted.
    pub target: usize,
    /// Connections open at the end.
    pub open: usize,
    /// Failed connects.
    pub errors: usize,
    /// Connections per second.
    pub rate: f64,
    /// Server memory per connection, KB.
    pub kb_per_conn: f64,
}

/// Opens `target` connections (64 at a time) and holds them while memory is read.
pub async fn idle(server: Server, process: &Process, target: usize) -> Result<Idle, String> {
    const IN_FLIGHT: usize = 64;
    let rss_start = process.rss_kb();
    let started = Instant::now();
    let opened = Rc::new(RefCell::new(Vec::with_capacity(target)));
    let errors = Rc::new(Cell::new(0usize));
    let workers: Vec<_> = (0..IN_FLIGHT)
        .map(|w| {
            let opened = Rc::clone(&opened);
            let errors = Rc::clone(&errors);
            let addr = process.addr;
            tokio::task::spawn_local(async move {
                for _ in (w..target).step_by(IN_FLIGHT) {
                    match server.echo_socket(addr).await {
                        Ok(client) => opened.borrow_mut().push(client),
                        Err(_) => errors.set(errors.get() + 1),
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.map_err(|err| err.to_string())?;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let the server finish whatever each connect started.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let open = opened.borrow().len();
    let rss = process.rss_kb() - rss_start;
    drop(opened);
    Ok(Idle {
        target,
        open,
        errors: errors.get(),
        rate: open as f64 / elapsed,
        kb_per_conn: rss / (open.max(1) as f64),
    })
}
