//! `bench`: the load generator behind `cargo xtask bench`. It starts each server under test
//! pinned to one core (taskset), runs the workloads from the other core, and writes a Markdown
//! report and an SVG chart with ratios against the peers measured in the same run.
//!
//! `bench --machine` prints only the description of the machine that heads every report;
//! `bench --crowd ADDR ROOM MEMBERS` holds a room of MEMBERS for the browser suite, and
//! `bench --fill ADDR ROOM COUNT [PREFIX]` says COUNT numbered lines into a room for it, and
//! `bench --churn ADDR ROOM SECONDS` keeps a room busy for the browser benchmark (`crowd.rs`).
//!
//! Run it through `cargo xtask bench` (which builds the release backend, installs the Node
//! peers from `bench/peers` by their lockfile, and pins this process) or `cargo xtask test`
//! (a smoke run of every workload, so the benchmark cannot rot).
//!
//! # Layout
//! - `wire.rs`: a lean WebSocket client (hand-made handshake and frame reader).
//! - `dialect.rs`: each server's way of echoing, joining and broadcasting.
//! - `process.rs`: the servers as pinned processes; CPU time and memory from /proc.
//! - `workloads.rs`: W1 echo, W2 room fan-out, W3 idle connections, W4 fan-out across two
//!   nodes sharing a Redis, W5 message rate (two-person rooms; one node, and two on one
//!   Redis; ours also on a Redis Cluster of three primaries).
//! - `transports.rs`: W6, our WebSocket against our HTTP fallbacks (SSE + POST,
//!   long-polling + POST): echo round trip, bytes per message, idle clients' cost.
//! - `report.rs`: the Markdown tables, ratios and the SVG chart.
//! - `crowd.rs`: `--crowd`, a large room held open for the browser suite's members panel test;
//!   `--fill`, long rooms for the message-list tests and W7; `--churn`, W7's busy room.

// A benchmark reports by printing and stops at the first failure.
#![allow(clippy::unwrap_used)]

mod crowd;
mod dialect;
mod process;
mod report;
mod transports;
mod wire;
mod workloads;

use std::{path::PathBuf, process::ExitCode, time::Duration};

use dialect::Server;
use process::{Process, Redis, Setup};

/// The sizes of a run.
struct Plan {
    echo_conns: Vec<usize>,
    echo_time: Duration,
    members: usize,
    senders: Vec<usize>,
    offered: Vec<f64>,
    step_time: Duration,
    idle: usize,
    /// W4: senders per run (over the same members as W2).
    cluster_senders: Vec<usize>,
    /// W4's offered loads: W2's, with lighter ones first (socket.io over Redis is slower).
    cluster_offered: Vec<f64>,
    /// W5: connections (two to a room, all sending) and the offered messages per second.
    rate_members: usize,
    rate_offered: Vec<f64>,
    /// W6: echoes per transport, idle clients per transport, and the idle window (one
    /// long-poll cycle, 25 s, and a few heartbeats).
    transport_echoes: usize,
    transport_idle: usize,
    idle_window: Duration,
}

/// Nodes in W4's cluster (each server: its own processes, one shared Redis).
const CLUSTER_NODES: usize = 2;

/// Primaries of the Redis Cluster W5 also runs ours on (no replicas: the bench measures how
/// the primaries share the work).
const SHARDS: usize = 3;

impl Plan {
    fn full() -> Self {
        Self {
            echo_conns: vec![1, 100, 1000],
            echo_time: Duration::from_secs(4),
            members: 10_000,
            senders: vec![1, 4, 16],
            // Up to where frames queue per connection and are written together (the server
            // saturates); a server is not offered more once its p99 has passed a second.
            offered: vec![
                10_000.0, 25_000.0, 50_000.0, 100_000.0, 150_000.0, 300_000.0, 600_000.0,
            ],
            step_time: Duration::from_secs(2),
            idle: 19_000,
            cluster_senders: vec![4, 16],
            cluster_offered: vec![
                2_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 100_000.0, 150_000.0, 300_000.0,
                600_000.0,
            ],
            rate_members: 1000,
            // From 2,000: on this machine ours on two nodes and a Redis Cluster, all on one
            // core, is past 10 ms at 5,000.
            rate_offered: vec![
                2_000.0, 5_000.0, 10_000.0, 25_000.0, 50_000.0, 75_000.0, 100_000.0, 150_000.0,
            ],
            transport_echoes: 1000,
            transport_idle: 1000,
            idle_window: Duration::from_secs(30),
        }
    }

    fn smoke() -> Self {
        Self {
            echo_conns: vec![1, 4],
            echo_time: Duration::from_millis(300),
            members: 8,
            senders: vec![2],
            offered: vec![400.0],
            step_time: Duration::from_millis(300),
            idle: 50,
            cluster_senders: vec![2],
            cluster_offered: vec![400.0],
            rate_members: 8,
            rate_offered: vec![100.0],
            transport_echoes: 20,
            transport_idle: 10,
            idle_window: Duration::from_millis(500),
        }
    }
}

struct Args {
    backend: PathBuf,
    peers: PathBuf,
    out: Option<PathBuf>,
    smoke: bool,
    core: String,
    /// Only the server whose name starts with this (for profiling one under load).
    only_server: Option<String>,
    /// Only this workload (`w1` … `w6`).
    only_workload: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        backend: PathBuf::new(),
        peers: PathBuf::new(),
        out: None,
        smoke: false,
        core: "0".into(),
        only_server: None,
        only_workload: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let mut value = || words.next().ok_or(format!("{word} needs a value"));
        match word.as_str() {
            "--backend" => args.backend = value()?.into(),
            "--peers" => args.peers = value()?.into(),
            "--out" => args.out = Some(value()?.into()),
            "--server-core" => args.core = value()?,
            "--smoke" => args.smoke = true,
            "--only-server" => args.only_server = Some(value()?),
            "--only-workload" => args.only_workload = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.backend.as_os_str().is_empty() || args.peers.as_os_str().is_empty() {
        return Err(
            "usage: bench --backend PATH --peers DIR [--out DIR] [--smoke] [--server-core N] \
             [--only-server ours|ws|socket.io] [--only-workload w1|w2|w3|w4|w5|w6]"
                .into(),
        );
    }
    Ok(args)
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("--machine") {
        print!("{}", report::machine());
        return ExitCode::SUCCESS;
    }
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())
    };
    let crowd: Vec<String> = std::env::args().skip(1).collect();
    let result = if let [flag, addr, room, count, rest @ ..] = crowd.as_slice()
        && flag == "--fill"
        && rest.len() <= 1
    {
        let prefix = rest.first().map_or("line", String::as_str);
        let parsed = || -> Result<(std::net::SocketAddr, usize), String> {
            let addr = addr
                .parse()
                .map_err(|err| format!("--fill {addr}: {err}"))?;
            let count = count
                .parse()
                .map_err(|err| format!("--fill {count}: {err}"))?;
            Ok((addr, count))
        };
        parsed().and_then(|(addr, count)| {
            tokio::task::LocalSet::new()
                .block_on(&runtime()?, crowd::fill(addr, room, count, prefix))
        })
    } else if let [flag, addr, room, seconds] = crowd.as_slice()
        && flag == "--churn"
    {
        let parsed = || -> Result<(std::net::SocketAddr, u64), String> {
            let addr = addr
                .parse()
                .map_err(|err| format!("--churn {addr}: {err}"))?;
            let seconds = seconds
                .parse()
                .map_err(|err| format!("--churn {seconds}: {err}"))?;
            Ok((addr, seconds))
        };
        parsed().and_then(|(addr, seconds)| {
            tokio::task::LocalSet::new().block_on(&runtime()?, crowd::churn(addr, room, seconds))
        })
    } else if let [flag, addr, room, members] = crowd.as_slice()
        && flag == "--crowd"
    {
        let crowd = || -> Result<(std::net::SocketAddr, usize), String> {
            let addr = addr
                .parse()
                .map_err(|err| format!("--crowd {addr}: {err}"))?;
            let members = members
                .parse()
                .map_err(|err| format!("--crowd {members}: {err}"))?;
            Ok((addr, members))
        };
        crowd().and_then(|(addr, members)| {
            tokio::task::LocalSet::new().block_on(&runtime()?, crowd::hold(addr, room, members))
        })
    } else {
        args().and_then(|args| tokio::task::LocalSet::new().block_on(&runtime()?, run(&args)))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), String> {
    let plan = if args.smoke {
        Plan::smoke()
    } else {
        Plan::full()
    };
    let scratch = std::env::temp_dir().join("chat-bench");
    std::fs::create_dir_all(&scratch).map_err(|err| err.to_string())?;
    let setup = Setup {
        backend: &args.backend,
        peers: &args.peers,
        scratch: &scratch,
        core: &args.core,
    };
    let ticks = process::ticks_per_second();
    let mut results = report::Results::default();
    let wanted = |workload: &str| args.only_workload.as_deref().is_none_or(|w| w == workload);
    for server in Server::ALL {
        if args
            .only_server
            .as_deref()
            .is_some_and(|only| !server.name().starts_with(only))
        {
            continue;
        }
        eprintln!("bench: {} …", server.name());
        // A fresh process per workload, so one workload's leftovers do not bill the next.
        let process = Process::start(server, &setup)?;
        for &conns in plan.echo_conns.iter().filter(|_| wanted("w1")) {
            let echo = workloads::echo(server, &process, conns, plan.echo_time, ticks).await?;
            results.echo.push((server, echo));
        }
        drop(process);
        for &senders in plan.senders.iter().filter(|_| wanted("w2")) {
            let process = Process::start(server, &setup)?;
            let (join, steps) = workloads::fanout(
                server,
                &process,
                plan.members,
                senders,
                &plan.offered,
                plan.step_time,
                ticks,
            )
            .await?;
            results.joins.push((server, "W2", join));
            results.fanout.push((server, plan.members, senders, steps));
        }
        if wanted("w3") {
            let process = Process::start(server, &setup)?;
            let idle = workloads::idle(server, &process, plan.idle).await?;
            results.idle.push((server, idle));
        }
        if wanted("w5") {
            let process = Process::start(server, &setup)?;
            let steps = workloads::message_rate(
                server,
                &[&process],
                None,
                plan.rate_members,
                &plan.rate_offered,
                plan.step_time,
                ticks,
            )
            .await?;
            results.rate.push(report::RateRun {
                server,
                nodes: 1,
                primaries: 0,
                steps,
            });
        }
        // W4 (and W5) over two nodes and a Redis (the ws peer has no cluster mode).
        if server == Server::NodeWs {
            continue;
        }
        for &senders in plan.cluster_senders.iter().filter(|_| wanted("w4")) {
            let redis = Redis::start(&setup)?;
            let nodes = (0..CLUSTER_NODES)
                .map(|_| Process::start_node(server, &setup, Some(&redis.url)))
                .collect::<Result<Vec<_>, _>>()?;
            let nodes: Vec<&Process> = nodes.iter().collect();
            let (join, steps) = workloads::fanout_across(
                server,
                &nodes,
                Some(&redis),
                workloads::Rooms::One,
                plan.members,
                senders,
                &plan.cluster_offered,
                plan.step_time,
                ticks,
            )
            .await?;
            results.joins.push((server, "W4", join));
            results.cluster.push((server, plan.members, senders, steps));
        }
        // Ours also on a Redis Cluster, whose primaries share the rooms by hash slot;
        // socket.io's Redis adapter publishes on one Redis, not a sharded cluster.
        let layouts: &[usize] = match server {
            Server::Ours => &[1, SHARDS],
            _ => &[1],
        };
        for &primaries in layouts.iter().filter(|_| wanted("w5")) {
            let redis = if primaries == 1 {
                Redis::start(&setup)?
            } else {
                Redis::start_cluster(&setup, primaries)?
            };
            let nodes = (0..CLUSTER_NODES)
                .map(|_| Process::start_node(server, &setup, Some(&redis.url)))
                .collect::<Result<Vec<_>, _>>()?;
            let nodes: Vec<&Process> = nodes.iter().collect();
            let steps = workloads::message_rate(
                server,
                &nodes,
                Some(&redis),
                plan.rate_members,
                &plan.rate_offered,
                plan.step_time,
                ticks,
            )
            .await?;
            results.rate.push(report::RateRun {
                server,
                nodes: CLUSTER_NODES,
                primaries,
                steps,
            });
        }
    }
    // W6: ours only (the peers have no SSE; socket.io's polling is its own protocol).
    let ours_wanted = args
        .only_server
        .as_deref()
        .is_none_or(|only| Server::Ours.name().starts_with(only));
    if wanted("w6") && ours_wanted {
        eprintln!("bench: W6 transports …");
        let process = Process::start(Server::Ours, &setup)?;
        for transport in transports::Transport::ALL {
            let echo = transports::echo(process.addr, transport, plan.transport_echoes).await?;
            results.transports.push(echo);
        }
        for transport in transports::Transport::ALL {
            // A fresh server per transport, so each is measured from the same baseline.
            let process = Process::start(Server::Ours, &setup)?;
            let cost = transports::idle(&process, transport, plan.transport_idle, plan.idle_window)
                .await?;
            results.transport_idle.push(cost);
        }
    }
    let markdown = report::markdown(&results, args.smoke);
    println!("{markdown}");
    let problems = report::problems(&results);
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).map_err(|err| err.to_string())?;
        std::fs::write(out.join("README.md"), &markdown).map_err(|err| err.to_string())?;
        std::fs::write(out.join("chart.svg"), report::svg(&results))
            .map_err(|err| err.to_string())?;
    }
    // A smoke run (debug build, shared cores) may saturate the load generator; losing a
    // message or a connection is a failure whatever the build.
    let failures: Vec<&String> = problems
        .iter()
        .filter(|p| !p.contains("saturated"))
        .collect();
    if args.smoke && !failures.is_empty() {
        return Err(format!(
            "smoke run failed: {}",
            failures
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    Ok(())
}
