//! The servers under test as processes pinned to one core, with their CPU time and memory
//! read from /proc.

use std::{
    fmt::Write as _,
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use crate::dialect::Server;

/// How our backend runs in the benchmark, where it differs from its defaults, and why. The
/// report prints this list, so the figures never come without it.
pub const OUR_SETTINGS: [(&str, &str, &str); 7] = [
    (
        "--workers",
        "1",
        "one worker thread, as each peer is one Node process; all pinned to one core",
    ),
    (
        "--max-connections",
        "20000",
        "W3 opens 19,000 (the default is 10,000)",
    ),
    (
        "--max-connections-per-ip",
        "0",
        "every benchmark client connects from 127.0.0.1 (the default caps one address at 256)",
    ),
    (
        "--max-handshakes-per-ip",
        "0",
        "the same: W3 opens its sockets as fast as it can (the default allows 50 a second)",
    ),
    (
        "--rate-per-sec",
        "1000000",
        "the load generator sends for many users over few sockets: the default per-connection \
         limit (10/s) would measure the limiter",
    ),
    ("--rate-burst", "1000000", "the same"),
    (
        "--outbox-capacity",
        "4096",
        "the load generator reads 10,000 members' sockets on one core and falls behind at the \
         heaviest steps; the default 256 would cut members off as slow readers instead of \
         measuring their latency",
    ),
];

/// A running server.
pub struct Process {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    ticks_per_second: f64,
}

/// What the binaries and files are.
pub struct Setup<'a> {
    /// Our release backend binary.
    pub backend: &'a Path,
    /// `bench/peers` with its node_modules installed.
    pub peers: &'a Path,
    /// A scratch directory (our server's data directory goes below it).
    pub scratch: &'a Path,
    /// The core the servers are pinned to.
    pub core: &'a str,
}

impl Process {
    /// Starts `server` pinned to `setup.core` and waits for its address.
    pub fn start(server: Server, setup: &Setup<'_>) -> Result<Self, String> {
        Self::start_node(server, setup, None)
    }

    /// [`Process::start`], as one node of a cluster sharing the Redis at `redis` when given
    /// (ours: `--redis`; socket.io: its Redis adapter).
    pub fn start_node(
        server: Server,
        setup: &Setup<'_>,
        redis: Option<&str>,
    ) -> Result<Self, String> {
        let mut command = Command::new("taskset");
        command.args(["-c", setup.core]);
        match (server, redis) {
            (Server::Ours, Some(url)) => {
                // A data directory of its own (its search index; see
                // backend/src/engine/redis/indexer.rs), fresh each run: two nodes sharing
                // one, or a run reading an older run's, would not be two fresh nodes.
                static NODES: AtomicUsize = AtomicUsize::new(0);
                let n = NODES.fetch_add(1, Ordering::Relaxed);
                let data = setup
                    .scratch
                    .join(format!("node-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&data);
                command.arg(setup.backend).args(["--listen", "127.0.0.1:0"]);
                for (flag, value, _) in OUR_SETTINGS {
                    command.args([flag, value]);
                }
                command
                    .args(["--redis", url])
                    .arg("--data-dir")
                    .arg(data)
                    .env("RUST_LOG", "warn");
            }
            (Server::SocketIo, Some(url)) => {
                command
                    .arg("node")
                    .arg(setup.peers.join("socketio-server.js"))
                    .env("REDIS_URL", url);
            }
            (Server::NodeWs, Some(_)) => {
                return Err("the ws peer has no cluster mode".into());
            }
            (server, None) => Self::single(&mut command, server, setup),
        }
        Self::spawn(command, server)
    }

    fn single(command: &mut Command, server: Server, setup: &Setup<'_>) {
        match server {
            Server::Ours => {
                let data = setup.scratch.join(format!("data-{}", std::process::id()));
                // A fresh database each run; the store's fsyncs are part of what is measured.
                let _ = std::fs::remove_dir_all(&data);
                command.arg(setup.backend).args(["--listen", "127.0.0.1:0"]);
                for (flag, value, _) in OUR_SETTINGS {
                    command.args([flag, value]);
                }
                command.arg("--data-dir").arg(data).env("RUST_LOG", "warn");
            }
            Server::NodeWs => {
                command.arg("node").arg(setup.peers.join("ws-server.js"));
            }
            Server::SocketIo => {
                command
                    .arg("node")
                    .arg(setup.peers.join("socketio-server.js"));
            }
        }
    }

    fn spawn(mut command: Command, server: Server) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", server.name()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|err| format!("{}: {err}", server.name()))?;
        let listening = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_default();
        let listening = listening.strip_prefix("http://").unwrap_or(listening);
        let addr = if listening.contains(':') {
            listening.parse()
        } else {
            format!("127.0.0.1:{listening}").parse()
        }
        .map_err(|_| format!("{}: unexpected first line {line:?}", server.name()))?;
        let ticks_per_second = ticks_per_second();
        Ok(Self {
            child,
            addr,
            ticks_per_second,
        })
    }

    /// CPU time (user + system) the process has used so far, in microseconds.
    pub fn cpu_us(&self) -> f64 {
        cpu_ticks(&format!("/proc/{}/stat", self.child.id())) / self.ticks_per_second * 1e6
    }

    /// Resident memory in KB.
    pub fn rss_kb(&self) -> f64 {
        rss_kb(self.child.id())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime from a /proc/…/stat file, in clock ticks.
pub fn cpu_ticks(stat_path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(stat_path) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    field(11) + field(12)
}

/// The Redis the cluster workloads share (W4, W5): one redis-server, or a Redis Cluster of
/// several primaries (no replicas: the bench measures the primaries' work), each pinned with
/// the servers, with the durability settings cluster mode asks for in production (AOF,
/// `appendfsync always`); killed when dropped.
pub struct Redis {
    /// One server, or the cluster's primaries in the order they were created.
    servers: Vec<RedisServer>,
    /// Where each server's hash slots start and end (inclusive), in the order of `servers`;
    /// a single server holds them all.
    slots: Vec<Vec<(u16, u16)>>,
    /// `redis://127.0.0.1:PORT/` of the first server: what `--redis` is given (our backend
    /// asks it whether it is a cluster node and finds the others from it).
    pub url: String,
    ticks_per_second: f64,
}

/// One redis-server process of a [`Redis`].
struct RedisServer {
    child: Child,
    addr: SocketAddr,
}

/// What one redis-server has used so far.
#[derive(Debug, Clone, Copy)]
pub struct RedisUsage {
    /// CPU time (user + system), µs.
    pub cpu_us: f64,
    /// Commands processed (`INFO stats`: `total_commands_processed`; the commands a script
    /// runs count too).
    pub commands: u64,
}

/// How long a Redis Cluster may take to form on this machine.
const CLUSTER_WAIT: Duration = Duration::from_secs(30);

/// Hash slots of a Redis Cluster.
const SLOTS: u16 = 16384;

impl Redis {
    /// Starts one redis-server on a free port with a fresh data directory under
    /// `setup.scratch`.
    pub fn start(setup: &Setup<'_>) -> Result<Self, String> {
        let server = RedisServer::start(setup, false)?;
        Ok(Self {
            url: server.url(),
            servers: vec![server],
            slots: vec![vec![(0, SLOTS - 1)]],
            ticks_per_second: ticks_per_second(),
        })
    }

    /// Starts `primaries` redis-servers with `--cluster-enabled yes` (each on free ports with
    /// a data directory of its own), joins them with `redis-cli --cluster create` without
    /// replicas, and returns once every one says `cluster_state:ok` and knows the others.
    pub fn start_cluster(setup: &Setup<'_>, primaries: usize) -> Result<Self, String> {
        let servers = (0..primaries)
            .map(|_| RedisServer::start(setup, true))
            .collect::<Result<Vec<_>, _>>()?;
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(servers.iter().map(|s| s.addr.to_string()))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|err| format!("cannot run redis-cli --cluster create: {err}"))?;
        if !created.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&created.stdout)
            ));
        }
        let deadline = Instant::now() + CLUSTER_WAIT;
        let known = format!("cluster_known_nodes:{primaries}");
        loop {
            let mut ready = true;
            for server in &servers {
                let info = query(server.addr, &["CLUSTER", "INFO"])?;
                ready &= info.contains("cluster_state:ok") && info.contains(&known);
            }
            if ready {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the Redis Cluster of {primaries} was not ok after {CLUSTER_WAIT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let slots = servers
            .iter()
            .map(|server| Ok(own_slots(&query(server.addr, &["CLUSTER", "NODES"])?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Self {
            url: servers[0].url(),
            servers,
            slots,
            ticks_per_second: ticks_per_second(),
        })
    }

    /// How many primaries hold the data (1 for a single server).
    pub fn primaries(&self) -> usize {
        self.servers.len()
    }

    /// The primary (an index in [`Redis::usage`]'s order) that serves `key`'s hash slot.
    pub fn primary_of(&self, key: &str) -> usize {
        let slot = key_slot(key);
        self.slots
            .iter()
            .position(|ranges| ranges.iter().any(|&(a, b)| (a..=b).contains(&slot)))
            .unwrap_or(0)
    }

    /// Each server's CPU time and commands so far, in the order the cluster was created.
    pub fn usage(&self) -> Result<Vec<RedisUsage>, String> {
        self.servers
            .iter()
            .map(|server| {
                Ok(RedisUsage {
                    cpu_us: cpu_ticks(&format!("/proc/{}/stat", server.child.id()))
                        / self.ticks_per_second
                        * 1e6,
                    commands: server.commands()?,
                })
            })
            .collect()
    }
}

impl RedisServer {
    /// Starts one on a free port with a fresh data directory under `setup.scratch`; as a
    /// cluster node when `cluster`.
    fn start(setup: &Setup<'_>, cluster: bool) -> Result<Self, String> {
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|err| format!("no free port for redis-server: {err}"))
        };
        let port = free_port()?.port();
        let dir = setup
            .scratch
            .join(format!("redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
        let mut command = Command::new("taskset");
        command
            .args(["-c", setup.core, "redis-server"])
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--logfile", ""]);
        if cluster {
            // The bus port is given: the default, PORT + 10000, is past 65535 for a port
            // from the upper half of the ephemeral range.
            let bus = free_port()?.port();
            command
                .args(["--cluster-enabled", "yes"])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", "2000"])
                .args(["--cluster-port", &bus.to_string()]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("cannot start redis-server: {err}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = lines
            .by_ref()
            .map_while(Result::ok)
            .any(|line| line.contains("Ready to accept connections"));
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err("redis-server exited before it was ready".into());
        }
        // Drained so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// Commands it has processed so far (`INFO stats`: `total_commands_processed`).
    fn commands(&self) -> Result<u64, String> {
        query(self.addr, &["INFO", "stats"])?
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| "no total_commands_processed in INFO stats".to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one command to the redis-server at `addr` on a connection of its own and returns
/// its reply's text (a bulk or simple string; an error reply is an error).
fn query(addr: SocketAddr, args: &[&str]) -> Result<String, String> {
    use std::io::{Read as _, Write as _};
    let failed = |err: std::io::Error| format!("redis-server {addr}: {err}");
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(failed)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(failed)?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        let _ = write!(request, "${}\r\n{arg}\r\n", arg.len());
    }
    stream.write_all(request.as_bytes()).map_err(failed)?;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        if let Some(end) = reply.windows(2).position(|w| w == b"\r\n") {
            let head = String::from_utf8_lossy(&reply[..end]).into_owned();
            match head.split_at_checked(1) {
                Some(("$", len)) => {
                    let len: usize = len
                        .parse()
                        .map_err(|_| format!("redis-server {addr}: a bulk reply of {len:?}"))?;
                    if reply.len() >= end + 2 + len {
                        return Ok(
                            String::from_utf8_lossy(&reply[end + 2..end + 2 + len]).into_owned()
                        );
                    }
                }
                Some(("+" | ":", text)) => return Ok(text.to_owned()),
                _ => return Err(format!("redis-server {addr} answered {head:?} to {args:?}")),
            }
        }
        let n = stream.read(&mut buffer).map_err(failed)?;
        if n == 0 {
            return Err(format!("redis-server {addr} closed before answering"));
        }
        reply.extend_from_slice(&buffer[..n]);
    }
}

/// The slot ranges the node answering `CLUSTER NODES` serves itself (its `myself` line; a
/// slot being moved, `[…]`, is not counted).
fn own_slots(nodes: &str) -> Vec<(u16, u16)> {
    let Some(line) = nodes.lines().find(|line| {
        line.split_whitespace()
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    }) else {
        return Vec::new();
    };
    line.split_whitespace()
        .skip(8)
        .filter(|range| !range.starts_with('['))
        .filter_map(|range| {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .collect()
}

/// Redis Cluster's hash slot of `key`: CRC16 (XMODEM) of its hash tag (what lies between the
/// first `{` and the next `}`, if not empty) or of the whole key, modulo 16384.
pub fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % SLOTS
}

/// VmRSS of `pid` in KB.
pub fn rss_kb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0.0)
}

/// This process's own CPU time in microseconds (to tell a saturated load generator).
pub fn own_cpu_us(ticks_per_second: f64) -> f64 {
    cpu_ticks("/proc/self/stat") / ticks_per_second * 1e6
}

/// Clock ticks per second for /proc CPU times.
pub fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_are_redis_clusters() {
        // Values from `CLUSTER KEYSLOT` on redis-server 7.0.
        assert_eq!(key_slot("123456789"), 0x31C3 % SLOTS);
        assert_eq!(key_slot("foo"), 12182);
        assert_eq!(key_slot("{foo}:bar"), key_slot("foo"));
    }

    #[test]
    fn own_slots_are_read_from_the_myself_line() {
        let nodes = "a1 127.0.0.1:7001@17001 master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7002@17002 myself,master - 0 0 2 connected 5461-10922 12000 [13000->-c3]\n";
        assert_eq!(own_slots(nodes), vec![(5461, 10922), (12000, 12000)]);
    }
}
