//! A real backend process for the browser suite and the served-app check: started on a free
//! loopback port, stopped with SIGTERM (which also checks graceful shutdown).

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{Result, http, tools, workspace_root};

/// Building the backend may come first on a cold machine; this bounds the whole start.
const START_TIMEOUT: Duration = Duration::from_secs(600);
/// SIGTERM to exit: the server's drain (5 s by default) plus margin.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `backend` binary.
pub struct Backend {
    child: Child,
    /// `127.0.0.1:PORT` it listens on.
    pub addr: String,
    log: PathBuf,
}

impl Backend {
    /// `cargo run -p backend -- --listen 127.0.0.1:0 ARGS`, waiting for its "listening on" line.
    /// Its logs go to `target/xtask/backend-NAME.log`; its message store to a fresh
    /// `target/xtask/data-NAME` (left behind for inspection, wiped at the next start).
    pub fn start(name: &str, args: &[&str]) -> Result<Self> {
        Self::spawn(name, None, "127.0.0.1:0", true, args)
    }

    /// The built server `binary` itself (not `cargo run`), started in a fresh empty working
    /// directory `target/xtask/cwd-NAME` (nothing beside it to serve: the app must come from
    /// the binary); otherwise as [`Backend::start`].
    pub fn start_binary(name: &str, binary: &Path, args: &[&str]) -> Result<Self> {
        Self::spawn(name, Some(binary), "127.0.0.1:0", true, args)
    }

    /// A backend `name` again after [`Backend::stop`]: on the same address (`addr`, as the
    /// one before reported it) and over the same data directory, as a server restarted in
    /// place. Its log goes to `target/xtask/backend-NAME-again.log`.
    pub fn start_again(name: &str, addr: &str, args: &[&str]) -> Result<Self> {
        Self::spawn(name, None, addr, false, args)
    }

    fn spawn(
        name: &str,
        binary: Option<&Path>,
        listen: &str,
        fresh: bool,
        args: &[&str],
    ) -> Result<Self> {
        let log_dir = workspace_root().join("target").join("xtask");
        std::fs::create_dir_all(&log_dir)
            .map_err(|err| format!("cannot create {}: {err}", log_dir.display()))?;
        let data_dir = log_dir.join(format!("data-{name}"));
        if fresh && data_dir.exists() {
            std::fs::remove_dir_all(&data_dir)
                .map_err(|err| format!("cannot remove {}: {err}", data_dir.display()))?;
        }
        let log_name = if fresh {
            format!("backend-{name}.log")
        } else {
            format!("backend-{name}-again.log")
        };
        let log = log_dir.join(log_name);
        let log_file =
            File::create(&log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        // `cargo run` execs the binary on Unix, so the child's pid is the backend's own.
        let mut command = match binary {
            None => {
                let mut cargo = tools::cargo();
                cargo.current_dir(workspace_root()).args([
                    "run",
                    "--quiet",
                    "--package",
                    "backend",
                    "--",
                ]);
                cargo
            }
            Some(binary) => {
                let cwd = log_dir.join(format!("cwd-{name}"));
                if cwd.exists() {
                    std::fs::remove_dir_all(&cwd)
                        .map_err(|err| format!("cannot remove {}: {err}", cwd.display()))?;
                }
                std::fs::create_dir_all(&cwd)
                    .map_err(|err| format!("cannot create {}: {err}", cwd.display()))?;
                let mut command = std::process::Command::new(binary);
                command.current_dir(cwd);
                command
            }
        };
        let mut child = command
            .args(["--listen", listen])
            .arg("--data-dir")
            .arg(&data_dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("cannot start the backend: {err}"))?;
        let stdout = child.stdout.take().ok_or("backend stdout not captured")?;

        // The first line names the address; later lines keep draining so the pipe never fills.
        let addr = tools::await_stdout_line(
            stdout,
            |line| {
                line.strip_prefix("listening on http://")
                    .map(|addr| addr.trim_end_matches('/').to_owned())
            },
            START_TIMEOUT,
        );
        let mut backend = Self {
            child,
            addr: String::new(),
            log,
        };
        match addr {
            Some(addr) => {
                backend.addr = addr;
                Ok(backend)
            }
            None => Err(format!(
                "the backend did not report its address; log: {}\n{}",
                backend.log.display(),
                backend.log_tail()
            )),
        }
    }

    /// Where its logs go.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Stops the backend with SIGTERM and expects a clean exit within [`STOP_TIMEOUT`].
    pub fn stop(mut self) -> Result<()> {
        let pid = self.child.id().to_string();
        crate::run(tools::command("kill").args(["-TERM", &pid]))?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(format!(
                        "backend exited with {status} after SIGTERM\n{}",
                        self.log_tail()
                    ));
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Ok(None) => {
                    return Err(format!(
                        "backend still running {STOP_TIMEOUT:?} after SIGTERM"
                    ));
                }
                Err(err) => return Err(format!("cannot wait for the backend: {err}")),
            }
        }
    }

    /// `GET path` from the backend.
    pub fn get(&self, path: &str) -> Result<http::Response> {
        http::request(&self.addr, "GET", path, None)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // After a successful stop this is a no-op; after a failure it must not outlive xtask.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long a crowd may take to join: 10,000 members against a debug backend take ~15 s here.
const CROWD_TIMEOUT: Duration = Duration::from_secs(300);

/// `bench --crowd`: a room of many real members held open on a backend, for the browser
/// suite's large-room test (a page cannot open that many sockets itself). It lets go when
/// its standard input closes: when this is dropped, or when xtask dies.
pub struct Crowd {
    child: Child,
}

impl Crowd {
    /// Starts `bench --crowd` (the debug binary at `bench`) and waits until every member of
    /// `room` is in. Its messages go to `target/xtask/crowd.log`.
    pub fn start(bench: &std::path::Path, addr: &str, room: &str, members: usize) -> Result<Self> {
        let log = workspace_root()
            .join("target")
            .join("xtask")
            .join("crowd.log");
        let log_file =
            File::create(&log).map_err(|err| format!("cannot create {}: {err}", log.display()))?;
        let mut child = std::process::Command::new(bench)
            .args(["--crowd", addr, room, &members.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|err| format!("cannot start {}: {err}", bench.display()))?;
        let stdout = child.stdout.take().ok_or("crowd stdout not captured")?;
        let crowd = Self { child };
        tools::await_stdout_line(
            stdout,
            |line| line.starts_with("ready ").then_some(()),
            CROWD_TIMEOUT,
        )
        .ok_or_else(|| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            format!(
                "the crowd of {members} did not get in; {}:\n{text}",
                log.display()
            )
        })?;
        Ok(crowd)
    }
}

impl Drop for Crowd {
    fn drop(&mut self) {
        // Closing its standard input lets it go; it must not outlive this, whatever happens.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Ok(None) = self.child.try_wait() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}
