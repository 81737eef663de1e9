//! The report: Markdown tables with ratios against the peers of the same run, the targets of
//! issue #6 with their measured figures, and an SVG chart.

use std::fmt::Write as _;

use crate::{
    dialect::Server,
    workloads::{Echo, Idle, JoinStorm, Step},
};

/// Everything one run measured.
#[derive(Default)]
pub struct Results {
    /// W1, per server and connection count.
    pub echo: Vec<(Server, Echo)>,
    /// W2: server, members, senders, steps.
    pub fanout: Vec<FanoutRun>,
    /// W3.
    pub idle: Vec<(Server, Idle)>,
    /// W4: server, members, senders, steps (two nodes and a Redis).
    pub cluster: Vec<FanoutRun>,
    /// W5: one node, or two sharing a Redis (one server or a cluster's primaries).
    pub rate: Vec<RateRun>,
    /// W2 and W4: each run's join storm (server, workload).
    pub joins: Vec<(Server, &'static str, JoinStorm)>,
    /// W6: echo over each of our transports.
    pub transports: Vec<crate::transports::TransportEcho>,
    /// W6: idle clients of each of our transports.
    pub transport_idle: Vec<crate::transports::IdleCost>,
}

/// One fan-out run: server, members, senders, steps.
pub type FanoutRun = (Server, usize, usize, Vec<Step>);

/// One W5 run.
pub struct RateRun {
    /// The server under test.
    pub server: Server,
    /// Its nodes (processes).
    pub nodes: usize,
    /// The Redis primaries they share: 0 (one node, no Redis), 1 (one redis-server), or a
    /// Redis Cluster's.
    pub primaries: usize,
    /// The offered loads' steps.
    pub steps: Vec<Step>,
}

impl RateRun {
    /// The run's layout: nodes and Redis, for the tables.
    fn layout(&self) -> String {
        match self.primaries {
            0 => format!("{} node", self.nodes),
            1 => format!("{} nodes, 1 Redis", self.nodes),
            n => format!("{} nodes, cluster of {n} primaries", self.nodes),
        }
    }
}

/// W5's target (issue #11): a step is carried when every delivery arrived exactly once and
/// the senders' acknowledgements came back within this p99.
const RATE_ACK_P99_MS: f64 = 10.0;

/// W5's target: stored messages per second on one node.
const RATE_TARGET: f64 = 100_000.0;

/// A saturated load generator, lost messages or failed connects: the run is not valid.
pub fn problems(results: &Results) -> Vec<String> {
    let mut problems = Vec::new();
    for (server, echo) in &results.echo {
        if echo.loadgen > 0.95 {
            problems.push(format!(
                "load generator saturated in W1 {} / {} connections",
                server.name(),
                echo.conns
            ));
        }
    }
    let fanouts =
        results
            .fanout
            .iter()
            .map(|(server, _, senders, steps)| ("W2", server, format!("{senders} senders"), steps))
            .chain(results.cluster.iter().map(|(server, _, senders, steps)| {
                ("W4", server, format!("{senders} senders"), steps)
            }))
            .chain(
                results
                    .rate
                    .iter()
                    .map(|run| ("W5", &run.server, run.layout(), &run.steps)),
            );
    for (workload, server, senders, steps) in fanouts {
        for step in steps {
            if step.repeated > 0 {
                problems.push(format!(
                    "{workload} {} / {senders} / {:.0}/s: {} deliveries repeated or out of order",
                    server.name(),
                    step.offered,
                    step.repeated
                ));
            }
            if step.delivered != step.expected {
                problems.push(format!(
                    "{workload} {} / {senders} / {:.0}/s: {} of {} deliveries arrived ({} jumped over in a sender's order, the rest missing at the ends)",
                    server.name(),
                    step.offered,
                    step.delivered,
                    step.expected,
                    step.skipped
                ));
            }
        }
    }
    for (server, idle) in &results.idle {
        if idle.errors > 0 {
            problems.push(format!(
                "W3 {}: {} failed connects",
                server.name(),
                idle.errors
            ));
        }
    }
    problems
}

fn find_echo(results: &Results, server: Server, conns: usize) -> Option<&Echo> {
    results
        .echo
        .iter()
        .find(|(s, e)| *s == server && e.conns == conns)
        .map(|(_, e)| e)
}

/// Median server CPU per delivery over the steps where every delivery arrived, at the offered
/// loads every server was run at (a server stops stepping once far past its knee, and heavier
/// steps, where frames queue and are written together, are cheaper per delivery).
fn cpu_per_delivery(results: &Results, server: Server) -> Option<f64> {
    let common = |offered: f64| {
        results
            .fanout
            .iter()
            .all(|(_, _, _, steps)| steps.iter().any(|step| step.offered == offered))
    };
    let mut values: Vec<f64> = results
        .fanout
        .iter()
        .filter(|(s, ..)| *s == server)
        .flat_map(|(_, _, _, steps)| steps)
        .filter(|step| complete(step) && common(step.offered))
        .map(|step| step.cpu_per_delivery)
        .collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Every delivery of a step that sent something arrived, each exactly once.
fn complete(step: &Step) -> bool {
    step.delivered == step.expected && step.repeated == 0 && step.delivered > 0
}

/// The heaviest step of one fan-out run that was carried: every delivery arrived, p99 ≤ 50 ms.
fn carried(steps: &[Step]) -> Option<&Step> {
    steps
        .iter()
        .filter(|step| complete(step) && step.p99_ms <= 50.0)
        .max_by(|a, b| a.offered.total_cmp(&b.offered))
}

/// The first step after the last one with p99 ≤ 50 ms: from there on the server is past its
/// knee. (Steps run from light to heavy; the first step of a run has only a few messages, so
/// one slow delivery can lift its p99 without the server being overloaded.)
fn knee(steps: &[Step]) -> Option<&Step> {
    let within = steps.iter().rposition(|step| step.p99_ms <= 50.0);
    steps.get(within.map_or(0, |i| i + 1))
}

/// A server's heaviest load carried over all its sender counts, and the sender count that
/// carried it; on a tie, the most senders (the harder case: more sockets to read). Not the
/// lowest CPU over the sender counts, which would pick the most flattering run; the table of
/// heaviest loads carried shows every sender count.
fn cpu_when_carried(results: &Results, server: Server) -> Option<(usize, &Step)> {
    heaviest_carried(&results.fanout, server)
}

/// The same over any fan-out runs (W2's, W4's).
fn heaviest_carried(runs: &[FanoutRun], server: Server) -> Option<(usize, &Step)> {
    runs.iter()
        .filter(|(s, ..)| *s == server)
        .filter_map(|(_, _, senders, steps)| carried(steps).map(|step| (*senders, step)))
        .max_by(|(sa, a), (sb, b)| a.offered.total_cmp(&b.offered).then(sa.cmp(sb)))
}

fn ratio(peer: f64, ours: f64) -> String {
    if ours > 0.0 && peer > 0.0 {
        format!("{:.2}×", peer / ours)
    } else {
        "–".into()
    }
}

/// The Markdown report.
pub fn markdown(results: &Results, smoke: bool) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# Benchmarks: our backend against Node ws and socket.io\n"
    );
    let _ = writeln!(
        w,
        "{}- Servers pinned to one core, the load generator to the other (taskset); ours is \
         the release build with one worker; Node {} with ws and socket.io as pinned in \
         bench/peers/package-lock.json\n",
        machine(),
        output("node", &["--version"])
    );
    let _ = writeln!(
        w,
        "Our backend runs with these settings (the rest are its defaults; it still stores every \
         chat message, fsync'd, before broadcasting it):\n"
    );
    for (flag, value, why) in crate::process::OUR_SETTINGS {
        let _ = writeln!(w, "- `{flag} {value}`: {why}");
    }
    let _ = writeln!(w);
    if smoke {
        let _ = writeln!(
            w,
            "**Smoke run** (tiny sizes, checks that every workload works; the figures mean nothing).\n"
        );
    }
    let problems = problems(results);
    if problems.is_empty() {
        let _ = writeln!(
            w,
            "Valid run: every echo matched what was sent, no message lost or repeated, no failed connect, load generator below 95 % of its core.\n"
        );
    } else {
        let _ = writeln!(w, "**INVALID RUN**:\n");
        for problem in &problems {
            let _ = writeln!(w, "- {problem}");
        }
        let _ = writeln!(w);
    }

    let _ = writeln!(w, "## W1: echo, closed loop (32-byte text messages)\n");
    let _ = writeln!(
        w,
        "| connections | server | echoes/s | p50 µs | p99 µs | p99.9 µs | server CPU µs/echo | load generator core |"
    );
    let _ = writeln!(w, "|---:|---|---:|---:|---:|---:|---:|---:|");
    for (server, echo) in &results.echo {
        let _ = writeln!(
            w,
            "| {} | {} | {:.0} | {} | {} | {} | {:.2} | {:.0} % |",
            echo.conns,
            server.name(),
            echo.rate,
            echo.p50,
            echo.p99,
            echo.p999,
            echo.cpu_per_echo,
            echo.loadgen * 100.0
        );
    }
    let _ = writeln!(
        w,
        "\nRatios (peer ÷ ours for CPU and latency, ours ÷ peer for throughput; above 1 favours ours):\n"
    );
    let _ = writeln!(
        w,
        "| connections | vs | throughput | p50 | p99 | CPU per echo |"
    );
    let _ = writeln!(w, "|---:|---|---:|---:|---:|---:|");
    let conns: Vec<usize> = results
        .echo
        .iter()
        .filter(|(s, _)| *s == Server::Ours)
        .map(|(_, e)| e.conns)
        .collect();
    for &n in &conns {
        let Some(ours) = find_echo(results, Server::Ours, n) else {
            continue;
        };
        for peer in [Server::NodeWs, Server::SocketIo] {
            if let Some(theirs) = find_echo(results, peer, n) {
                let _ = writeln!(
                    w,
                    "| {n} | {} | {} | {} | {} | {} |",
                    peer.name(),
                    ratio(ours.rate, theirs.rate),
                    ratio(theirs.p50 as f64, ours.p50 as f64),
                    ratio(theirs.p99 as f64, ours.p99 as f64),
                    ratio(theirs.cpu_per_echo, ours.cpu_per_echo)
                );
            }
        }
    }

    let _ = writeln!(w, "\n## W2: room fan-out\n");
    let _ = writeln!(
        w,
        "Every member is in one room; the first *senders* members send at the offered load (deliveries per second = messages per second × members); latency is send → receive of each delivery. Ours stores every message in SQLite before it is broadcast; the peers keep nothing.\n"
    );
    let _ = writeln!(
        w,
        "| members | senders | server | offered/s | messages sent | delivered / expected | p50 ms | p99 ms | server CPU µs/delivery | load generator core |"
    );
    let _ = writeln!(w, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for (server, members, senders, steps) in &results.fanout {
        for step in steps {
            let _ = writeln!(
                w,
                "| {members} | {senders} | {} | {:.0} | {} | {} / {} | {:.2} | {:.2} | {:.2} | {:.0} % |",
                server.name(),
                step.offered,
                step.sent,
                step.delivered,
                step.expected,
                step.p50_ms,
                step.p99_ms,
                step.cpu_per_delivery,
                step.loadgen * 100.0
            );
        }
    }
    let _ = writeln!(
        w,
        "\nKnee (the offered load from which p99 stays above 50 ms; a lighter step's single spike \
         does not count):\n"
    );
    let _ = writeln!(w, "| server | senders | knee |");
    let _ = writeln!(w, "|---|---:|---|");
    for (server, _, senders, steps) in &results.fanout {
        let knee = knee(steps).map_or_else(
            || {
                format!(
                    "not reached up to {:.0}/s",
                    steps.last().map_or(0.0, |s| s.offered)
                )
            },
            |s| format!("{:.0}/s", s.offered),
        );
        let _ = writeln!(w, "| {} | {senders} | {knee} |", server.name());
    }

    let _ = writeln!(
        w,
        "\nHeaviest load carried (every delivery arrived, p99 ≤ 50 ms), and its cost; steps stop \
         after one whose p99 passed {:.0} ms:\n",
        crate::workloads::GIVE_UP_P99_MS
    );
    let _ = writeln!(
        w,
        "| server | senders | heaviest load carried | p99 ms | server CPU µs/delivery |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    for (server, _, senders, steps) in &results.fanout {
        match carried(steps) {
            Some(step) => {
                let _ = writeln!(
                    w,
                    "| {} | {senders} | {:.0}/s | {:.2} | {:.2} |",
                    server.name(),
                    step.offered,
                    step.p99_ms,
                    step.cpu_per_delivery
                );
            }
            None => {
                let _ = writeln!(w, "| {} | {senders} | none | – | – |", server.name());
            }
        }
    }

    let _ = writeln!(w, "\n## W3: idle connections\n");
    let _ = writeln!(
        w,
        "| server | connections | failed | connects/s | server KB per connection |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    for (server, idle) in &results.idle {
        let _ = writeln!(
            w,
            "| {} | {} / {} | {} | {:.0} | {:.2} |",
            server.name(),
            idle.open,
            idle.target,
            idle.errors,
            idle.rate,
            idle.kb_per_conn
        );
    }

    cluster_section(w, results);
    rate_section(w, results);
    joins_section(w, results);
    transports_section(w, results);

    let _ = writeln!(w, "\n## Targets (issue #6)\n");
    let _ = writeln!(w, "| target | measured | met |");
    let _ = writeln!(w, "|---|---|---|");
    let fmt = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.2} µs"));
    // One row per way of reading W2's CPU per delivery, with the peers' figures and ratios.
    let mut cpu_row = |label: &str, figure: &dyn Fn(Server) -> Option<f64>| {
        let (ours, ws, io) = (
            figure(Server::Ours),
            figure(Server::NodeWs),
            figure(Server::SocketIo),
        );
        let _ = writeln!(
            w,
            "| {label} | {} (ws {}, socket.io {}; {} and {}) | {} |",
            fmt(ours),
            fmt(ws),
            fmt(io),
            ratio(ws.unwrap_or(0.0), ours.unwrap_or(0.0)),
            ratio(io.unwrap_or(0.0), ours.unwrap_or(0.0)),
            yes(ours.is_some_and(|v| v <= 1.5))
        );
    };
    cpu_row(
        "server CPU per delivery ≤ 1.5 µs (≥ 4× Node ws, ≥ 6× socket.io), median of the loads all three ran",
        &|server| cpu_per_delivery(results, server),
    );
    let carried_by = |server| {
        cpu_when_carried(results, server).map_or("–".to_owned(), |(senders, step)| {
            format!("{:.0}/s with {senders} senders", step.offered)
        })
    };
    let label = format!(
        "the same, at each server's heaviest load carried (frames queue and go out together): \
         ours {}, ws {}, socket.io {}",
        carried_by(Server::Ours),
        carried_by(Server::NodeWs),
        carried_by(Server::SocketIo)
    );
    cpu_row(&label, &|server| {
        cpu_when_carried(results, server).map(|(_, step)| step.cpu_per_delivery)
    });
    if let Some(one) = find_echo(results, Server::Ours, 1) {
        let _ = writeln!(
            w,
            "| echo, 1 connection: p50 ≤ 12 µs, p99 ≤ 25 µs | p50 {} µs, p99 {} µs | {} |",
            one.p50,
            one.p99,
            yes(one.p50 <= 12 && one.p99 <= 25)
        );
    }
    if let (Some(ours), Some(ws)) = (
        find_echo(results, Server::Ours, 100),
        find_echo(results, Server::NodeWs, 100),
    ) {
        let _ = writeln!(
            w,
            "| echo, 100 connections: ≥ 2× Node ws throughput | {} | {} |",
            ratio(ours.rate, ws.rate),
            yes(ours.rate >= 2.0 * ws.rate)
        );
    }
    if let Some((_, idle)) = results.idle.iter().find(|(s, _)| *s == Server::Ours) {
        let _ = writeln!(
            w,
            "| ≤ 4 KB server memory per idle connection; 19,000 with zero errors | {:.2} KB; {} of {} open, {} errors | {} |",
            idle.kb_per_conn,
            idle.open,
            idle.target,
            idle.errors,
            yes(idle.kb_per_conn <= 4.0 && idle.errors == 0 && idle.target >= 19_000)
        );
    }
    let _ = writeln!(
        w,
        "| release frontend ≤ 150 KB gzipped wasm | reported by `cargo xtask test` (last step) | see README |"
    );
    out
}

/// The heaviest W5 step of `steps` that was carried: every delivery arrived exactly once,
/// none refused, acknowledgement p99 within [`RATE_ACK_P99_MS`].
fn rate_carried(steps: &[Step]) -> Option<&Step> {
    steps
        .iter()
        .filter(|step| complete(step) && step.refused == 0 && step.ack_p99_ms <= RATE_ACK_P99_MS)
        .max_by(|a, b| a.offered.total_cmp(&b.offered))
}

/// W5: many two-person rooms, every member sending; on one node and on two sharing a Redis.
fn rate_section(w: &mut String, results: &Results) {
    if results.rate.is_empty() {
        return;
    }
    // A W5 step counts deliveries; each message is one per member of its room.
    let pair = crate::workloads::PAIR as f64;
    let messages_per_sec = |step: &Step| step.offered / pair;
    let cpu_per_message = |step: &Step| step.cpu_per_delivery * pair;
    let _ = writeln!(w, "\n## W5: message rate (two-person rooms)\n");
    let _ = writeln!(
        w,
        "Every connection is in a room with one other and sends at the offered rate (messages per second in all); each message reaches both members, the sender's copy being its acknowledgement (ours sends it after the message is committed with `synchronous=FULL`, or stored by Redis's script in cluster mode; the peers store nothing). Ours refuses what it cannot store soon with a typed `overloaded` error carrying the message's `client_id` (nothing refused is stored or delivered; the sender may retry): a step with refusals is not carried, and refused messages are not expected anywhere. On two nodes the members of a room sit on different nodes; ours runs them on one redis-server and on a Redis Cluster (its primaries share the rooms by hash slot; socket.io's Redis adapter has no sharded mode, so it runs on one Redis). CPU is the servers' together, per message; Redis's per message, all primaries together.\n"
    );
    let _ = writeln!(
        w,
        "| nodes | server | offered msg/s | messages sent | refused (`overloaded`) | delivered / expected | ack p50 ms | ack p99 ms | delivery p99 ms | server CPU µs/message | Redis CPU µs/message | load generator core |"
    );
    let _ = writeln!(
        w,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for run in &results.rate {
        for step in &run.steps {
            let _ = writeln!(
                w,
                "| {} | {} | {:.0} | {} | {} | {} / {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} % |",
                run.layout(),
                run.server.name(),
                messages_per_sec(step),
                step.sent,
                step.refused,
                step.delivered,
                step.expected,
                step.ack_p50_ms,
                step.ack_p99_ms,
                step.p99_ms,
                cpu_per_message(step),
                step.redis
                    .as_ref()
                    .map_or("–".to_owned(), |r| format!("{:.1}", r.cpu_per_message)),
                step.loadgen * 100.0
            );
        }
    }
    let _ = writeln!(
        w,
        "\nHeaviest rate carried (every delivery arrived once, ack p99 ≤ {RATE_ACK_P99_MS} ms):\n"
    );
    let _ = writeln!(
        w,
        "| nodes | server | messages/s | ack p99 ms | server CPU µs/message | ours ÷ this |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|");
    for run in &results.rate {
        let ours = carried_rate(results, Server::Ours, run.nodes, run.primaries)
            .map_or(0.0, |s| s.offered);
        match rate_carried(&run.steps) {
            Some(step) => {
                let _ = writeln!(
                    w,
                    "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
                    run.layout(),
                    run.server.name(),
                    messages_per_sec(step),
                    step.ack_p99_ms,
                    cpu_per_message(step),
                    ratio(ours, step.offered)
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "| {} | {} | none | – | – | – |",
                    run.layout(),
                    run.server.name()
                );
            }
        }
    }
    let single = carried_rate(results, Server::Ours, 1, 0).map_or(0.0, messages_per_sec);
    let _ = writeln!(
        w,
        "\nTarget (issue #11): ≥ {RATE_TARGET:.0} stored messages/s on one node at ack p99 ≤ {RATE_ACK_P99_MS} ms: ours {single:.0}/s — {}.",
        yes(single >= RATE_TARGET)
    );
    // What one Redis primary would sustain: its core's microseconds over its cost per
    // message, at the heaviest step ours ran on two nodes and one Redis with every delivery
    // and nothing refused. Not at the heaviest step carried: at light loads each message is
    // an event-loop turn of its own (its own read, write and fsync), so the cost per message
    // there is several times the cost under load.
    if let Some(step) = results
        .rate
        .iter()
        .filter(|run| run.server == Server::Ours && run.nodes == 2 && run.primaries == 1)
        .flat_map(|run| &run.steps)
        .filter(|step| complete(step) && step.refused == 0 && step.redis.is_some())
        .max_by(|a, b| a.offered.total_cmp(&b.offered))
        && let Some(redis) = &step.redis
    {
        let _ = writeln!(
            w,
            "Redis in cluster mode: {:.1} µs of its core per message ({:.1} less its background) at {:.0} messages/s, the heaviest step with every delivery and nothing refused, so one Redis primary (single-threaded) would saturate near {:.0} messages/s.",
            redis.cpu_per_message,
            redis.marginal_cpu_per_message,
            messages_per_sec(step),
            (1e6 - redis.background_cpu_us_per_s).max(0.0)
                / redis.marginal_cpu_per_message.max(1e-9)
        );
    }
    shards_section(w, results);
}

/// The heaviest W5 step `server` carried with `nodes` nodes on `primaries` Redis primaries.
fn carried_rate(
    results: &Results,
    server: Server,
    nodes: usize,
    primaries: usize,
) -> Option<&Step> {
    results
        .rate
        .iter()
        .filter(|run| run.server == server && run.nodes == nodes && run.primaries == primaries)
        .find_map(|run| rate_carried(&run.steps))
}

/// W5 on a Redis Cluster against one Redis: each primary's share of the 500 rooms, of the
/// commands and of the CPU, and its CPU per message of its own rooms.
fn shards_section(w: &mut String, results: &Results) {
    let runs: Vec<&RateRun> = results
        .rate
        .iter()
        .filter(|run| run.server == Server::Ours && run.primaries >= 1)
        .collect();
    if !runs.iter().any(|run| run.primaries > 1) {
        return;
    }
    let pair = crate::workloads::PAIR as f64;
    let _ = writeln!(
        w,
        "\n## W5 on a Redis Cluster: how the rooms spread over the primaries\n"
    );
    let _ = writeln!(
        w,
        "Ours, the two nodes of W5 on one redis-server and on a Redis Cluster of primaries without replicas (every redis-server pinned to the servers' core, AOF `appendfsync always`). A room's keys and its sharded channel live in its hash slot (`{{r:ROOM}}`), so each primary stores and rings the messages of the rooms whose slots it serves. Per primary: the rooms it serves (by the slot map), the messages the load generator sent to them, its share of all primaries' commands and CPU time in the step (the nodes' background reads, such as the search indexer's, included), and its CPU per message of its own rooms. With three primaries the even share is 33 %.\n"
    );
    let _ = writeln!(
        w,
        "All primaries together; *less background* takes off what they spent with every member connected and nobody sending (measured for a step's length before the steps: the nodes' polling, such as each node's search indexer reading every log's head every 100 ms, and the cluster's gossip), which grows with rooms and nodes, not with messages.\n"
    );
    let _ = writeln!(
        w,
        "| Redis | offered msg/s | messages sent | Redis CPU µs/message | less background | commands/message | background: CPU % of a core | background: commands/s |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        for step in &run.steps {
            let Some(redis) = &step.redis else { continue };
            let _ = writeln!(
                w,
                "| {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.1} % | {:.0} |",
                run.layout(),
                step.offered / pair,
                step.sent,
                redis.cpu_per_message,
                redis.marginal_cpu_per_message,
                redis.commands_per_message,
                redis.background_cpu_us_per_s / 1e4,
                redis.background_commands_per_s
            );
        }
    }
    let _ = writeln!(w, "\nEach primary:\n");
    let _ = writeln!(
        w,
        "| Redis | offered msg/s | primary | rooms | messages | share of commands | share of CPU | its CPU µs/message | less its background |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for run in &runs {
        for step in &run.steps {
            let Some(redis) = &step.redis else { continue };
            for (p, primary) in redis.primaries.iter().enumerate() {
                let _ = writeln!(
                    w,
                    "| {} | {:.0} | {} | {} | {} | {:.0} % | {:.0} % | {:.1} | {:.1} |",
                    run.layout(),
                    step.offered / pair,
                    p + 1,
                    primary.rooms,
                    primary.messages,
                    primary.command_share * 100.0,
                    primary.cpu_share * 100.0,
                    primary.cpu_per_message,
                    primary.marginal_cpu_per_message
                );
            }
        }
    }
    let _ = writeln!(
        w,
        "\nAt the heaviest step with every delivery arrived and nothing refused (where the per-message figures are the least noisy; its ack p99 may be above {RATE_ACK_P99_MS} ms):\n"
    );
    for run in &runs {
        let Some(step) = run
            .steps
            .iter()
            .filter(|step| complete(step) && step.refused == 0)
            .max_by(|a, b| a.offered.total_cmp(&b.offered))
        else {
            let _ = writeln!(w, "- {}: no such step.", run.layout());
            continue;
        };
        let Some(redis) = &step.redis else { continue };
        let spread = |f: &dyn Fn(&crate::workloads::PrimaryCost) -> f64| {
            redis
                .primaries
                .iter()
                .map(|p| format!("{:.0} %", f(p) * 100.0))
                .collect::<Vec<_>>()
                .join(" / ")
        };
        let rooms: usize = redis.primaries.iter().map(|p| p.rooms).sum();
        // A primary saturates when its background and its rooms' messages fill its one
        // thread: (1 s − background) over its marginal cost per message.
        let ceiling = |p: &crate::workloads::PrimaryCost| {
            (1e6 - p.background_cpu_us_per_s).max(0.0) / p.marginal_cpu_per_message.max(1e-9)
        };
        let lowest = redis
            .primaries
            .iter()
            .map(ceiling)
            .fold(f64::INFINITY, f64::min);
        let _ = writeln!(
            w,
            "- {}, {:.0} messages/s (ack p99 {:.1} ms): Redis CPU {:.1} µs per message over all primaries, {:.1} less background; rooms {}; commands {}; CPU {}; each primary {} µs per message of its own rooms less its background, so one primary's thread would be full near {:.0} messages/s of its rooms' traffic (the lowest of them).",
            run.layout(),
            step.offered / pair,
            step.ack_p99_ms,
            redis.cpu_per_message,
            redis.marginal_cpu_per_message,
            spread(&|p| p.rooms as f64 / rooms.max(1) as f64),
            spread(&|p| p.command_share),
            spread(&|p| p.cpu_share),
            redis
                .primaries
                .iter()
                .map(|p| format!("{:.1}", p.marginal_cpu_per_message))
                .collect::<Vec<_>>()
                .join(" / "),
            lowest
        );
    }
}

/// W2's and W4's join storms: how long every member took to connect and join (100
/// connecting at a time), and the servers' memory per member.
fn joins_section(w: &mut String, results: &Results) {
    if results.joins.is_empty() {
        return;
    }
    let _ = writeln!(w, "\n## Join storms (W2, W4)\n");
    let _ = writeln!(
        w,
        "Before each fan-out run every member connects and joins the room, {} at a time; timed from the first connect to the last welcome. Ours also sends each member the room's count and first page of members, and coalesced presence; the peers send nothing.\n",
        crate::workloads::JOINING
    );
    let _ = writeln!(
        w,
        "| workload | server | members | join storm s | joins/s | server KB per member |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---:|");
    for (server, workload, join) in &results.joins {
        let _ = writeln!(
            w,
            "| {workload} | {} | {} | {:.2} | {:.0} | {:.1} |",
            server.name(),
            join.members,
            join.seconds,
            join.members as f64 / join.seconds.max(1e-9),
            join.kb_per_member
        );
    }
}

/// W4: the room over two nodes sharing a Redis, ours against socket.io with its Redis
/// adapter; with the target of issue #7 and Redis's own cost per message.
fn cluster_section(w: &mut String, results: &Results) {
    if results.cluster.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\n## W4: room fan-out across two nodes sharing a Redis\n"
    );
    let _ = writeln!(
        w,
        "The W2 room, its members spread over two nodes of the same server (connected in turn, senders too) and one redis-server (AOF, `appendfsync always`), all three pinned to the servers' core. Ours: two `--redis` nodes (every message stored in Redis by a script, published to the room's channel, read by the other node); socket.io: two processes with `@socket.io/redis-adapter` (every broadcast published to Redis, nothing stored). Node CPU is both nodes together, per delivery; Redis CPU and commands are per message sent (Redis carries a message once per node, whatever the room's size).\n"
    );
    let _ = writeln!(
        w,
        "| members | senders | server | offered/s | messages sent | delivered / expected | p50 ms | p99 ms | nodes CPU µs/delivery | Redis CPU µs/message | Redis commands/message | load generator core |"
    );
    let _ = writeln!(
        w,
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let redis = |step: &Step, f: fn(&crate::workloads::RedisCost) -> f64| {
        step.redis
            .as_ref()
            .map_or("–".to_owned(), |r| format!("{:.1}", f(r)))
    };
    for (server, members, senders, steps) in &results.cluster {
        for step in steps {
            let _ = writeln!(
                w,
                "| {members} | {senders} | {} | {:.0} | {} | {} / {} | {:.2} | {:.2} | {:.2} | {} | {} | {:.0} % |",
                server.name(),
                step.offered,
                step.sent,
                step.delivered,
                step.expected,
                step.p50_ms,
                step.p99_ms,
                step.cpu_per_delivery,
                redis(step, |r| r.cpu_per_message),
                redis(step, |r| r.commands_per_message),
                step.loadgen * 100.0
            );
        }
    }
    let heaviest = |server: Server| heaviest_carried(&results.cluster, server);
    let _ = writeln!(
        w,
        "\nHeaviest load carried (every delivery arrived, p99 ≤ 50 ms) over the sender counts:\n"
    );
    let _ = writeln!(
        w,
        "| server | heaviest load carried | senders | p99 ms | nodes CPU µs/delivery | Redis CPU µs/message | Redis commands/message |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|");
    for server in [Server::Ours, Server::SocketIo] {
        match heaviest(server) {
            Some((senders, step)) => {
                let _ = writeln!(
                    w,
                    "| {} | {:.0}/s | {senders} | {:.2} | {:.2} | {} | {} |",
                    server.name(),
                    step.offered,
                    step.p99_ms,
                    step.cpu_per_delivery,
                    redis(step, |r| r.cpu_per_message),
                    redis(step, |r| r.commands_per_message)
                );
            }
            None => {
                let _ = writeln!(w, "| {} | none | – | – | – | – | – |", server.name());
            }
        }
    }
    let (ours, theirs) = (heaviest(Server::Ours), heaviest(Server::SocketIo));
    let ours_load = ours.map_or(0.0, |(_, s)| s.offered);
    let (theirs_said, their_load) = match theirs {
        Some((_, step)) => (format!("socket.io {:.0}/s", step.offered), step.offered),
        // Not even the lightest load offered: ours is compared with that load.
        None => {
            let lightest = results
                .cluster
                .iter()
                .filter(|(s, ..)| *s == Server::SocketIo)
                .flat_map(|(_, _, _, steps)| steps.first())
                .map(|step| step.offered)
                .fold(f64::INFINITY, f64::min);
            (
                format!("socket.io none (not even the lightest, {lightest:.0}/s)"),
                lightest,
            )
        }
    };
    let _ = writeln!(
        w,
        "\nTarget (issue #7): ≥ 3× socket.io's heaviest load carried at p99 ≤ 50 ms: ours {ours_load:.0}/s, {theirs_said}, {} — {}.",
        ratio(ours_load, their_load),
        yes(ours_load > 0.0 && their_load.is_finite() && ours_load >= 3.0 * their_load)
    );
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

/// Date, machine, the file system temporary files live on, commit and compiler: the head of
/// every benchmark report (`bench --machine` prints it for the xtask's store report).
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let temp = std::env::temp_dir();
    let filesystem = output("df", &["--output=fstype", &temp.to_string_lossy()])
        .lines()
        .last()
        .unwrap_or("unknown")
        .to_owned();
    format!(
        "- Date: {}\n- Machine: {} cores, {cpu}, {}\n- Files: {} ({filesystem})\n- Commit {}, {}\n",
        output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        output("nproc", &["--all"]),
        output("uname", &["-sr"]),
        temp.display(),
        output("git", &["rev-parse", "--short", "HEAD"]),
        output("rustc", &["--version"]),
    )
}

/// What `program args` prints, trimmed (empty if it cannot run).
fn output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default()
}

/// A bar chart of the per-unit costs, each normalized to the largest of the three servers.
pub fn svg(results: &Results) -> String {
    let metrics: Vec<(String, Vec<(Server, f64)>)> = vec![
        (
            "server CPU µs per echo (1 conn)".into(),
            per_server(|s| find_echo(results, s, 1).map(|e| e.cpu_per_echo)),
        ),
        (
            "server CPU µs per echo (100 conns)".into(),
            per_server(|s| find_echo(results, s, 100).map(|e| e.cpu_per_echo)),
        ),
        (
            "echo p99 µs (1 conn)".into(),
            per_server(|s| find_echo(results, s, 1).map(|e| e.p99 as f64)),
        ),
        (
            "server CPU µs per delivery (W2 median)".into(),
            per_server(|s| cpu_per_delivery(results, s)),
        ),
        (
            "server KB per idle connection".into(),
            per_server(|s| {
                results
                    .idle
                    .iter()
                    .find(|(x, _)| *x == s)
                    .map(|(_, i)| i.kb_per_conn)
            }),
        ),
    ];
    let colors = ["#2563eb", "#16a34a", "#dc2626"];
    let bar = 16.0;
    let group = bar * 3.0 + 34.0;
    let height = 60.0 + group * metrics.len() as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"760\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">Lower is better: costs per unit of work, same machine, same run</text>\n"
    );
    for (i, server) in Server::ALL.iter().enumerate() {
        let x = 10.0 + 150.0 * i as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"30\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"41\">{}</text>",
            colors[i],
            x + 16.0,
            server.name()
        );
    }
    for (m, (title, values)) in metrics.iter().enumerate() {
        let top = 60.0 + group * m as f64;
        let _ = writeln!(
            svg,
            "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{title}</text>",
            top + 12.0
        );
        let max = values.iter().map(|(_, v)| *v).fold(0.0, f64::max).max(1e-9);
        for (i, server) in Server::ALL.iter().enumerate() {
            let y = top + 18.0 + bar * i as f64;
            let value = values.iter().find(|(s, _)| s == server).map(|(_, v)| *v);
            let width = value.map_or(0.0, |v| 560.0 * v / max);
            let label = value.map_or("–".to_owned(), |v| format!("{v:.2}"));
            let _ = writeln!(
                svg,
                "<rect x=\"10\" y=\"{y}\" width=\"{width:.1}\" height=\"{}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{label}</text>",
                bar - 3.0,
                colors[i],
                16.0 + width,
                y + bar - 5.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn per_server(value: impl Fn(Server) -> Option<f64>) -> Vec<(Server, f64)> {
    Server::ALL
        .iter()
        .filter_map(|&s| value(s).map(|v| (s, v)))
        .collect()
}

/// W6: our three transports, each against our WebSocket in the same run.
fn transports_section(w: &mut String, results: &Results) {
    if results.transports.is_empty() && results.transport_idle.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\n## W6: our transports (WebSocket, SSE + POST, long-polling + POST)\n"
    );
    let _ = writeln!(
        w,
        "Echo, one message at a time over one client (`/ws/echo`, `/sse/echo`, `/poll/echo` \
         with `/send`); bytes counted on the client's TCP streams, both ways, request lines, \
         headers and chunk framing included (the WebSocket's own handshake excluded, as the \
         SSE stream's and the first poll's are).\n"
    );
    let _ = writeln!(
        w,
        "| transport | echoes | p50 µs | p99 µs | bytes per message | vs WebSocket |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|---|");
    let ws = results
        .transports
        .iter()
        .find(|t| t.transport == crate::transports::Transport::WebSocket);
    for echo in &results.transports {
        let versus = ws.map_or("–".to_owned(), |ws| {
            format!(
                "{:.1}x the time, {:.1}x the bytes",
                echo.p50_us as f64 / ws.p50_us.max(1) as f64,
                echo.bytes_per_message / ws.bytes_per_message.max(1.0)
            )
        });
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {:.0} | {versus} |",
            echo.transport.both_ways(),
            echo.echoes,
            echo.p50_us,
            echo.p99_us,
            echo.bytes_per_message
        );
    }
    let _ = writeln!(
        w,
        "\nIdle chat clients (connected, not identified) held for a window that covers the \
         heartbeats and one long-poll cycle (a poll waits 25 s, then the client polls again); \
         a fresh server per transport.\n"
    );
    let _ = writeln!(
        w,
        "| transport | clients open | server KB per client | server CPU µs per client per s | window |"
    );
    let _ = writeln!(w, "|---|---:|---:|---:|---:|");
    for idle in &results.transport_idle {
        let _ = writeln!(
            w,
            "| {} | {} / {} | {:.2} | {:.3} | {} s |",
            idle.transport.both_ways(),
            idle.open,
            idle.clients,
            idle.kb_per_client,
            idle.cpu_us_per_client_s,
            idle.window.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(offered: f64, expected: u64, delivered: u64, p99_ms: f64, cpu: f64) -> Step {
        Step {
            offered,
            sent: expected,
            refused: 0,
            expected,
            delivered,
            repeated: 0,
            skipped: 0,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            ack_p50_ms: p99_ms / 2.0,
            ack_p99_ms: p99_ms,
            cpu_per_delivery: cpu,
            loadgen: 0.5,
            redis: None,
        }
    }

    #[test]
    fn w4_losses_make_the_run_invalid_and_its_target_compares_the_heaviest_loads_carried() {
        let results = Results {
            cluster: vec![
                (Server::Ours, 10, 1, vec![step(300.0, 10, 10, 5.0, 1.0)]),
                (
                    Server::SocketIo,
                    10,
                    1,
                    vec![step(100.0, 10, 10, 5.0, 1.0), step(200.0, 10, 9, 5.0, 1.0)],
                ),
            ],
            ..Results::default()
        };
        let problems = problems(&results);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("W4 socket.io"), "{problems:?}");
        let report = markdown(&results, true);
        assert!(
            report.contains("ours 300/s, socket.io 100/s, 3.00× — yes"),
            "{report}"
        );
        // A peer that carries nothing is measured against the lightest load it was offered.
        let none = Results {
            cluster: vec![
                (Server::Ours, 10, 1, vec![step(300.0, 10, 10, 5.0, 1.0)]),
                (Server::SocketIo, 10, 1, vec![step(50.0, 10, 10, 80.0, 1.0)]),
            ],
            ..Results::default()
        };
        let report = markdown(&none, true);
        assert!(
            report.contains("socket.io none (not even the lightest, 50/s), 6.00× — yes"),
            "{report}"
        );
    }

    #[test]
    fn a_step_is_complete_only_with_every_delivery_exactly_once() {
        assert!(complete(&step(10.0, 100, 100, 1.0, 1.0)));
        assert!(!complete(&step(10.0, 100, 99, 1.0, 1.0)));
        assert!(
            !complete(&step(10.0, 0, 0, 1.0, 1.0)),
            "nothing sent proves nothing"
        );
        let repeated = Step {
            repeated: 1,
            ..step(10.0, 100, 100, 1.0, 1.0)
        };
        assert!(!complete(&repeated), "a repeat may hide a loss");
    }

    #[test]
    fn w5_carries_the_heaviest_step_with_nothing_refused_and_acks_within_10_ms() {
        let refused = Step {
            refused: 5,
            expected: 90,
            ..step(200.0, 90, 90, 2.0, 1.0)
        };
        let steps = [
            step(20.0, 20, 20, 9.0, 5.0),
            step(50.0, 50, 50, 11.0, 5.0), // acks too slow
            refused,                       // shed load: not carried, though nothing was lost
        ];
        assert_eq!(rate_carried(&steps).map(|s| s.offered), Some(20.0));
        assert!(complete(&steps[2]), "a refusal is not a loss");
    }

    #[test]
    fn carried_is_the_heaviest_complete_step_within_50_ms() {
        let steps = [
            step(10.0, 10, 10, 2.0, 5.0),
            step(20.0, 20, 20, 49.0, 4.0),
            step(40.0, 40, 39, 10.0, 3.0), // lost one
            step(80.0, 80, 80, 51.0, 2.0), // too slow
        ];
        assert_eq!(carried(&steps).map(|s| s.offered), Some(20.0));
        assert!(carried(&steps[2..]).is_none());
    }

    #[test]
    fn the_knee_is_the_step_after_the_last_one_within_50_ms() {
        // One slow first step does not make the knee.
        let steps = [
            step(10.0, 1, 1, 80.0, 1.0),
            step(20.0, 2, 2, 5.0, 1.0),
            step(40.0, 4, 4, 60.0, 1.0),
            step(80.0, 8, 8, 900.0, 1.0),
        ];
        assert_eq!(knee(&steps).map(|s| s.offered), Some(40.0));
        // Never within 50 ms: the first step is the knee. Always within: no knee.
        assert_eq!(knee(&steps[3..]).map(|s| s.offered), Some(80.0));
        assert!(knee(&steps[1..2]).is_none());
    }

    fn results(runs: Vec<(Server, usize, Vec<Step>)>) -> Results {
        Results {
            fanout: runs
                .into_iter()
                .map(|(server, senders, steps)| (server, 1000, senders, steps))
                .collect(),
            ..Results::default()
        }
    }

    #[test]
    fn cpu_median_is_over_complete_steps_at_loads_every_server_ran() {
        let r = results(vec![
            (
                Server::Ours,
                1,
                vec![
                    step(10.0, 10, 10, 1.0, 3.0),
                    step(20.0, 20, 20, 1.0, 2.0),
                    step(40.0, 40, 40, 1.0, 1.0),
                    step(80.0, 80, 80, 1.0, 0.1), // only ours ran it: left out
                ],
            ),
            (
                Server::NodeWs,
                1,
                vec![
                    step(10.0, 10, 10, 1.0, 9.0),
                    step(20.0, 20, 19, 1.0, 8.0), // incomplete: left out
                    step(40.0, 40, 40, 1.0, 7.0),
                ],
            ),
        ]);
        assert_eq!(cpu_per_delivery(&r, Server::Ours), Some(2.0));
        // [9, 7] sorted is [7, 9]: the upper middle.
        assert_eq!(cpu_per_delivery(&r, Server::NodeWs), Some(9.0));
        assert_eq!(cpu_per_delivery(&r, Server::SocketIo), None);
    }

    #[test]
    fn cpu_when_carried_takes_the_heaviest_load_not_the_lowest_cpu() {
        let r = results(vec![
            (Server::Ours, 1, vec![step(100.0, 100, 100, 5.0, 0.5)]),
            (Server::Ours, 4, vec![step(400.0, 400, 400, 5.0, 2.0)]),
            (Server::Ours, 16, vec![step(400.0, 400, 400, 5.0, 3.0)]),
        ]);
        let (senders, step) = cpu_when_carried(&r, Server::Ours).unwrap();
        // 400/s is the heaviest; 4 and 16 senders tie, and the most senders wins.
        assert_eq!((senders, step.cpu_per_delivery), (16, 3.0));
    }

    #[test]
    fn lost_or_repeated_deliveries_make_the_run_invalid() {
        let mut r = results(vec![(Server::Ours, 1, vec![step(10.0, 10, 10, 1.0, 1.0)])]);
        assert!(problems(&r).is_empty());
        r.fanout[0].3[0].repeated = 2;
        r.fanout[0].3[0].delivered = 9;
        let problems = problems(&r);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
