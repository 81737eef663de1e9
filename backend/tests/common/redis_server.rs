//! A real `redis-server` for cluster tests: its own free loopback port and data directory,
//! AOF with `appendfsync always` (what docs/DEPLOYMENT.md asks of production), started and
//! stopped by the test. `cargo xtask test` installs the Debian package when it is missing.

use std::{
    io::{BufRead as _, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use super::within;

/// One redis-server process (killed when dropped) and the directory its data lives in.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra `--name value` settings, kept for restarts.
    extra: Vec<String>,
    /// Clients its log says it dropped for going over `client-output-buffer-limit` (over every
    /// run of the process).
    overflows: Arc<AtomicU64>,
}

impl RedisServer {
    /// Starts a server on a free port with a fresh data directory.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// [`RedisServer::start`] with extra settings, e.g. `["--client-output-buffer-limit",
    /// "pubsub 64kb 32kb 1"]`.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::start_on(free_port(), extra).await
    }

    /// [`RedisServer::start_with`] on `port` (a free one: [`free_port`]).
    pub async fn start_on(port: u16, extra: &[&str]) -> Self {
        Self::try_start_on(port, extra)
            .await
            .expect("redis-server exited before it was ready")
    }

    /// [`RedisServer::start_on`], or none if it exits before it is ready (the port was taken
    /// meanwhile: [`free_port`] can only say it was free a moment ago).
    pub async fn try_start_on(port: u16, extra: &[&str]) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a data directory for redis");
        let mut server = Self {
            port,
            dir,
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            overflows: Arc::default(),
        };
        server.try_launch().await.then_some(server)
    }

    /// The directory its data (the append-only file) lives in.
    pub fn data_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// `redis://127.0.0.1:PORT/`, for `--redis`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    async fn launch(&mut self) {
        assert!(
            self.try_launch().await,
            "redis-server exited before it was ready"
        );
    }

    /// Starts the process; false if it exited before it was ready.
    async fn try_launch(&mut self) -> bool {
        let mut child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", "", "--daemonize", "no", "--logfile", ""])
            // DEBUG SLEEP is how a test makes Redis slow; this server is the test's alone.
            .args(["--enable-debug-command", "local"])
            .args(&self.extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (cargo xtask test installs it: apt package redis-server)");
        let stdout = child.stdout.take().expect("piped stdout");
        let overflows = Arc::clone(&self.overflows);
        // Ready when it says so; the rest of its log is drained so it never blocks on a pipe,
        // counting the clients it drops for their output buffer (Redis 7.0, which the tests run
        // on Debian, has no INFO field for them yet).
        let ready = within(tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let ready = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|line| line.contains("Ready to accept connections"));
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    if line.contains("closed ASAP for overcoming of output buffer limits") {
                        overflows.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
            ready
        }))
        .await
        .expect("redis-server starts");
        if ready {
            self.child = Some(child);
        } else {
            let _ = child.kill();
            let _ = child.wait();
        }
        ready
    }

    /// SIGKILL: no shutdown, no final save; what the AOF has is what survives.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and data.
    pub async fn restart(&mut self) {
        self.kill9();
        self.launch().await;
    }

    /// A copy of its data directory as it is now (call it while nothing is being written):
    /// what a replica that misses every later write would hold.
    pub fn snapshot(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().expect("a directory for the copy");
        copy_dir(self.dir.path(), copy.path());
        copy
    }

    /// SIGKILLs it and starts it again on `snapshot` (from [`RedisServer::snapshot`]) instead
    /// of its own data: a failover to a copy that lost the writes made after it.
    pub async fn restart_on(&mut self, snapshot: &std::path::Path) {
        self.kill9();
        for entry in std::fs::read_dir(self.dir.path()).expect("the data directory") {
            let path = entry.expect("an entry of the data directory").path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).expect("remove a data directory");
            } else {
                std::fs::remove_file(&path).expect("remove a data file");
            }
        }
        copy_dir(snapshot, self.dir.path());
        self.launch().await;
    }

    /// Starts it again after [`RedisServer::kill9`] (a no-op if it runs).
    pub async fn start_again(&mut self) {
        if self.child.is_none() {
            self.launch().await;
        }
    }

    /// Sends `signal` ("STOP", "CONT") to the process with kill(1): SIGSTOP freezes it as a
    /// hung machine would (its sockets stay open, nothing is answered), SIGCONT thaws it.
    pub fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server runs");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    /// Whether the process runs (not killed by the test).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `INFO section`, as text.
    pub fn info(&self, section: &str) -> String {
        match self.cmd(&["INFO", section]) {
            redis::Value::BulkString(text) => String::from_utf8_lossy(&text).into_owned(),
            redis::Value::VerbatimString { text, .. } => text,
            other => panic!("INFO answered {other:?}"),
        }
    }

    /// One field of `INFO section`, if Redis reports it.
    pub fn info_field(&self, section: &str, field: &str) -> Option<u64> {
        self.info(section).lines().find_map(|line| {
            let (name, value) = line.trim_end().split_once(':')?;
            (name == field).then(|| value.parse().ok())?
        })
    }

    /// How many clients Redis disconnected for going over `client-output-buffer-limit` (a
    /// Pub/Sub subscriber that fell too far behind): `INFO stats`
    /// `client_output_buffer_limit_disconnections` where Redis has it (newer than 7.0; since its
    /// last start), else the warnings its log printed for them (over every start).
    pub fn output_buffer_disconnections(&self) -> u64 {
        self.info_field("stats", "client_output_buffer_limit_disconnections")
            .unwrap_or_else(|| self.overflows.load(Ordering::Relaxed))
    }

    /// `CLUSTER INFO`, as text.
    pub fn cluster_info(&self) -> String {
        match self.cmd(&["CLUSTER", "INFO"]) {
            redis::Value::BulkString(text) => String::from_utf8_lossy(&text).into_owned(),
            redis::Value::VerbatimString { text, .. } => text,
            other => panic!("CLUSTER INFO answered {other:?}"),
        }
    }

    /// Whether this cluster node serves hash slot `slot` (its line in `CLUSTER NODES`).
    pub fn owns(&self, slot: i64) -> bool {
        let nodes = match self.cmd(&["CLUSTER", "NODES"]) {
            redis::Value::BulkString(text) => String::from_utf8_lossy(&text).into_owned(),
            redis::Value::VerbatimString { text, .. } => text,
            other => panic!("CLUSTER NODES answered {other:?}"),
        };
        let Some(mine) = nodes.lines().find(|line| line.contains("myself")) else {
            return false;
        };
        // Fields 9 onwards: slots and ranges ("0-5460"), or migration notes ("[...]").
        mine.split(' ').skip(8).any(|range| {
            let mut ends = range.splitn(2, '-').map(str::parse::<i64>);
            match (ends.next(), ends.next()) {
                (Some(Ok(first)), Some(Ok(last))) => (first..=last).contains(&slot),
                (Some(Ok(only)), None) => only == slot,
                _ => false,
            }
        })
    }

    /// Runs one command on a connection of its own and returns the reply.
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .expect("a connection to the test redis");
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query(&mut conn).expect("the command succeeds")
    }

    /// [`RedisServer::cmd`] on a blocking thread (for commands that take a while, like DEBUG
    /// SLEEP, while the test goes on).
    pub fn cmd_in_background(&self, args: &[&str]) -> tokio::task::JoinHandle<redis::Value> {
        let url = self.url();
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let client = redis::Client::open(url).unwrap();
            let mut conn = client.get_connection().unwrap();
            let mut cmd = redis::cmd(&args[0]);
            for arg in &args[1..] {
                cmd.arg(arg);
            }
            cmd.query(&mut conn).unwrap()
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Copies the files of `from` (and of its directories: the AOF lives in one) into `to`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).expect("a directory to copy") {
        let path = entry.expect("an entry to copy").path();
        let target = to.join(path.file_name().expect("a named entry"));
        if path.is_dir() {
            std::fs::create_dir_all(&target).expect("create a directory");
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy a data file");
        }
    }
}

/// A port nobody listens on now (bound and released; the window for a clash is tiny, and a
/// clash fails the start loudly rather than silently sharing a server).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
