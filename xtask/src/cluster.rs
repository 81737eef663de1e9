//! `cargo xtask cluster [N]`: the app as a cluster on this machine. One `redis-server` (data
//! and AOF under `target/cluster/redis`, kept between runs) and N release backends on
//! consecutive ports from 8080, each serving the app; their URLs are printed. Two browsers on
//! two of them are in one chat. Ctrl-C stops everything (the terminal sends it to the whole
//! process group; whatever is still running when xtask ends is killed).

use std::{
    fs::File,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::Duration,
};

use crate::{Result, build_release_frontend, run, tools, workspace_root};

/// The first node's port (the others follow): where `cargo xtask serve` listens too.
const FIRST_PORT: u16 = 8080;
/// How long redis-server and each node may take to say they are ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Children killed when dropped (after Ctrl-C they have usually exited already).
struct Running(Vec<(String, Child)>);

impl Drop for Running {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn cluster(nodes: Option<&str>) -> Result<()> {
    let nodes: u16 = match nodes {
        None => 3,
        Some(n) => n
            .parse()
            .ok()
            .filter(|n| (1..=16).contains(n))
            .ok_or(format!("cluster size {n:?}: give a number from 1 to 16"))?,
    };
    tools::ensure_redis()?;
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;
    tools::ensure_trunk()?;
    tools::ensure_wasm_opt()?;
    build_release_frontend()?;
    run(tools::cargo().args(["build", "--release", "--package", "backend"]))?;
    let backend = crate::target_dir().join("release").join("backend");
    let dir = workspace_root().join("target").join("cluster");
    let mut cluster = LocalCluster::start(&backend, nodes, Some(FIRST_PORT), &dir, &[])?;
    println!(
        "\nxtask: the chat runs on {nodes} nodes sharing one Redis ({}); open any of:",
        cluster.redis_url
    );
    for url in &cluster.urls {
        println!("  {url}");
    }
    println!("(logs in {}; Ctrl-C stops everything)", dir.display());
    cluster.wait();
    Ok(())
}

/// redis-server (AOF, `appendfsync always`; data in `DIR/redis`, kept between runs) and
/// nodes serving the app from `dist/`, all stopped when dropped.
pub struct LocalCluster {
    running: Running,
    /// `redis://127.0.0.1:PORT/`.
    pub redis_url: String,
    /// Each node's `http://127.0.0.1:PORT`.
    pub urls: Vec<String>,
}

impl LocalCluster {
    /// Starts redis-server on a free port and `nodes` copies of `backend` (with `args`), on
    /// consecutive ports from `first_port` (free ports when `None`); logs go to `dir`.
    pub fn start(
        backend: &Path,
        nodes: u16,
        first_port: Option<u16>,
        dir: &Path,
        args: &[&str],
    ) -> Result<Self> {
        let redis_dir = dir.join("redis");
        std::fs::create_dir_all(&redis_dir)
            .map_err(|err| format!("cannot create {}: {err}", redis_dir.display()))?;
        let mut running = Running(Vec::new());
        let redis_port = free_port()?;
        let mut redis = Command::new(tools::REDIS_SERVER);
        redis
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&redis_dir)
            // Stored before acknowledged: docs/DEPLOYMENT.md explains these.
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--maxmemory-policy", "noeviction"])
            .args(["--daemonize", "no", "--logfile", ""]);
        start(&mut running, "redis-server", redis, dir, |line| {
            line.contains("Ready to accept connections").then_some(())
        })?;
        let redis_url = format!("redis://127.0.0.1:{redis_port}/");
        let dist = workspace_root().join("dist");
        let mut urls = Vec::new();
        for i in 0..nodes {
            let listen = first_port.map_or_else(
                || "127.0.0.1:0".to_owned(),
                |port| format!("127.0.0.1:{}", port + i),
            );
            let mut node = Command::new(backend);
            node.args(["--listen", &listen])
                .arg("--static-dir")
                .arg(&dist)
                .args(["--redis", &redis_url])
                // Unused in cluster mode (history lives in Redis); kept apart per node anyway.
                .arg("--data-dir")
                .arg(dir.join(format!("node-{i}")))
                .args(args);
            let name = format!("node-{i}");
            let url = start(&mut running, &name, node, dir, |line| {
                line.strip_prefix("listening on ")
                    .map(|url| url.trim_end_matches('/').to_owned())
            })?;
            urls.push(url);
        }
        Ok(Self {
            running,
            redis_url,
            urls,
        })
    }

    /// The process id of node `i` (the first process after redis-server).
    pub fn node_pid(&self, i: usize) -> Option<u32> {
        self.running.0.get(i + 1).map(|(_, child)| child.id())
    }

    /// Waits until one of the processes exits (Ctrl-C stops them all).
    fn wait(&mut self) {
        loop {
            for (name, child) in &mut self.running.0 {
                if let Ok(Some(status)) = child.try_wait() {
                    println!("xtask: {name} exited ({status}); stopping the rest");
                    return;
                }
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Starts `command` with its stderr in `dir/NAME.log`, and waits until a line of its stdout
/// satisfies `ready`.
fn start<T: Send + 'static>(
    running: &mut Running,
    name: &str,
    mut command: Command,
    dir: &Path,
    ready: fn(&str) -> Option<T>,
) -> Result<T> {
    let log = dir.join(format!("{name}.log"));
    let log_file =
        File::create(&log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|err| format!("cannot start {name}: {err}"))?;
    let stdout = child.stdout.take().ok_or("stdout not captured")?;
    running.0.push((name.to_owned(), child));
    tools::await_stdout_line(stdout, ready, START_TIMEOUT)
        .ok_or_else(|| format!("{name} did not start; see {}", log.display()))
}

fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("no free port for redis-server: {err}"))
}
