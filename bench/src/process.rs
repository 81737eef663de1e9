//! The servers under test as processes pinned to one core, with their CPU time and memory
//! read from /proc.

use std::{
    io::{BufRead as _, BufReader},
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
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
                command.arg(setup.backend).args(["--listen", "127.0.0.1:0"]);
                for (flag, value, _) in OUR_SETTINGS {
                    command.args([flag, value]);
                }
                command.args(["--redis", url]).env("RUST_LOG", "warn");
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

/// A redis-server for W4, pinned with the servers, with the durability settings cluster mode
/// asks for in production (AOF, `appendfsync always`); killed when dropped.
pub struct Redis {
    child: Child,
    /// `redis://127.0.0.1:PORT/`.
    pub url: String,
    addr: SocketAddr,
    ticks_per_second: f64,
}

impl Redis {
    /// Starts one on a free port with a fresh data directory under `setup.scratch`.
    pub fn start(setup: &Setup<'_>) -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|err| format!("no free port for redis-server: {err}"))?
            .port();
        let dir = setup
            .scratch
            .join(format!("redis-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
        let mut child = Command::new("taskset")
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
            .args(["--daemonize", "no", "--logfile", ""])
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
            return Err("redis-server exited before it was ready".into());
        }
        // Drained so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ticks_per_second: ticks_per_second(),
        })
    }

    /// CPU time (user + system) it has used so far, in microseconds.
    pub fn cpu_us(&self) -> f64 {
        cpu_ticks(&format!("/proc/{}/stat", self.child.id())) / self.ticks_per_second * 1e6
    }

    /// Commands it has processed so far (`INFO stats`: `total_commands_processed`).
    pub fn commands(&self) -> Result<u64, String> {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
        stream
            .write_all(b"INFO stats\r\n")
            .map_err(|e| e.to_string())?;
        let mut reply = Vec::new();
        let mut buffer = [0u8; 8192];
        // A bulk string: "$LEN\r\n" then LEN bytes; read until the field is in.
        while !String::from_utf8_lossy(&reply).contains("total_net_input_bytes") {
            let n = stream.read(&mut buffer).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            reply.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&reply)
            .lines()
            .find_map(|l| l.strip_prefix("total_commands_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .ok_or_else(|| "no total_commands_processed in INFO stats".to_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
