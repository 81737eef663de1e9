//! `cargo xtask bench`: runs the benchmarks in release mode and writes their reports, with the
//! date and the machine, to `bench/results/`:
//! - `README.md` and `chart.svg`: our backend against Node ws and socket.io (the `bench`
//!   crate: W1 echo, W2 room fan-out, W3 idle connections), servers pinned to core 0 and the
//!   load generator to core 1;
//! - `history-store.md`: the message store's group commit against one transaction per
//!   message (`backend/benches/store.rs`);
//! - `search.md`: W8, the search index over a million messages: its cost per message, its
//!   size, and search latency against a `LIKE` scan (`backend/benches/search.rs`);
//! - `browser.md`: W7, the release app in headless Chromium and Firefox under a busy room
//!   (`browser_bench.rs`).
//!
//! `cargo xtask test` calls [`smoke`]: every workload at tiny sizes, so the benchmark cannot
//! rot.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use crate::{Result, describe, run, target_dir, tools, workspace_root};

/// The Node peers' folder (`package.json`, lockfile, the two servers).
fn peers_dir() -> PathBuf {
    workspace_root().join("bench").join("peers")
}

/// Installs the Node peers by their lockfile unless they are there.
pub fn ensure_peers() -> Result<()> {
    let installed = ["ws", "socket.io", "@socket.io/redis-adapter", "redis"]
        .iter()
        .all(|module| peers_dir().join("node_modules").join(module).is_dir());
    if installed {
        return Ok(());
    }
    tools::ensure_node()?;
    println!("xtask: installing the benchmark peers (npm ci in bench/peers)");
    run(tools::command("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(peers_dir()))
}

/// Every workload against every server at tiny sizes (debug build): fails if one breaks.
pub fn smoke() -> Result<String> {
    ensure_peers()?;
    tools::ensure_redis()?;
    run(tools::cargo().args(["build", "--package", "backend", "--package", "bench"]))?;
    let target = target_dir().join("debug");
    run(Command::new(target.join("bench"))
        .arg("--backend")
        .arg(target.join("backend"))
        .arg("--peers")
        .arg(peers_dir())
        .arg("--smoke")
        .stdout(Stdio::null()))?;
    Ok(
        " (echo, fan-out, idle, two-node fan-out and message rate against ours, Node ws and \
         socket.io, ours also on a Redis Cluster of three primaries; our three transports)"
            .to_owned(),
    )
}

/// Runs every benchmark and saves the reports.
pub fn bench() -> Result<()> {
    ensure_peers()?;
    tools::ensure_redis()?;
    run(tools::cargo().args([
        "build",
        "--release",
        "--package",
        "backend",
        "--package",
        "bench",
    ]))?;
    let target = target_dir().join("release");
    let results = workspace_root().join("bench").join("results");
    // Servers on core 0 (bench pins them), the load generator on core 1.
    run(Command::new("taskset")
        .args(["-c", "1"])
        .arg(target.join("bench"))
        .arg("--backend")
        .arg(target.join("backend"))
        .arg("--peers")
        .arg(peers_dir())
        .args(["--server-core", "0", "--out"])
        .arg(&results))?;
    store_bench()?;
    search_bench()?;
    crate::browser_bench::bench()
}

/// The store's group-commit benchmark, saved to `bench/results/history-store.md`.
fn store_bench() -> Result<()> {
    let table =
        capture(tools::cargo().args(["bench", "--package", "backend", "--bench", "store"]))?;
    let machine = machine()?;
    let report = format!(
        "# Message store: group commit against one transaction per message\n\n\
         {machine}\n\
         W writers each send a message and wait for its acknowledgement (stored with \
         `synchronous=FULL` in WAL mode) before sending the next. Group commit puts every \
         append waiting in the store's queue into one transaction; the baseline commits each \
         message on its own. `(tx)` is the number of transactions. Measured in one run by \
         `cargo xtask bench` (`backend/benches/store.rs`).\n\n{table}"
    );
    save("history-store.md", &report)
}

/// W8, the search benchmark (issue #30, where it is called W6), saved to
/// `bench/results/search.md`.
fn search_bench() -> Result<()> {
    let body =
        capture(tools::cargo().args(["bench", "--package", "backend", "--bench", "search"]))?;
    let machine = machine()?;
    let report = format!(
        "# W8: search over a million messages\n\n\
         {machine}\n\
         Issue #30 asks for this benchmark as W6 (taken by then: W6 is our transports, W7 the \
         browser). Goal: p99 ≤ 50 ms per search on one node. Measured in one run of \
         `backend/benches/search.rs` (by `cargo xtask bench`, or alone by \
         `cargo bench -p backend --bench search`). The machine has 2 cores shared with other \
         work: figures move by tens of percent from run to run.\n\n{body}"
    );
    save("search.md", &report)
}

/// The load generator (built by [`bench`]) describes the machine for the reports it does not
/// write itself.
fn machine() -> Result<String> {
    capture(Command::new(target_dir().join("release").join("bench")).arg("--machine"))
}

/// Writes `report` to `bench/results/{file}` and shows it.
fn save(file: &str, report: &str) -> Result<()> {
    let dir = workspace_root().join("bench").join("results");
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let path = dir.join(file);
    std::fs::write(&path, report)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    println!("{report}\nxtask: written to {}", path.display());
    Ok(())
}

/// Runs `command` from the repository root and returns its standard output.
fn capture(command: &mut Command) -> Result<String> {
    let shown = describe(command);
    println!("$ {shown}");
    let output = command
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run `{shown}`: {err}"))?;
    if !output.status.success() {
        return Err(format!("`{shown}` failed ({})", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
