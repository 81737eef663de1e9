//! Server configuration: command-line flags, each also settable by an environment variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Parser;

// Defaults as the strings clap parses, so `--help` and `Config::default()` cannot disagree.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_STATIC_DIR: &str = "dist";
/// A ping every 10 s keeps NAT and proxy idle timers (often 30–60 s) from dropping quiet sockets.
const DEFAULT_HEARTBEAT_INTERVAL: &str = "10s";
/// Three missed heartbeats: long enough for a busy browser tab, short enough to free a dead slot.
const DEFAULT_CLIENT_TIMEOUT: &str = "30s";
/// 1 MiB: far above any chat message, small enough that one client cannot make the server hold
/// much memory for it.
const DEFAULT_MAX_FRAME_SIZE: &str = "1048576";
/// How long shutdown waits for open connections to finish their close handshake.
const DEFAULT_SHUTDOWN_TIMEOUT: &str = "5s";

/// Everything the server can be told at start-up.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "backend",
    version,
    about = "Real-time chat server (Actix-web + WebSockets)"
)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the bound address is printed on stdout).
    #[arg(long, env = "CHAT_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// Directory with the built frontend (`trunk build` output), served at `/`.
    #[arg(long, env = "CHAT_STATIC_DIR", default_value = DEFAULT_STATIC_DIR)]
    pub static_dir: PathBuf,

    /// How often the server pings each WebSocket (e.g. `10s`, `500ms`). Keep it at most half
    /// of the client timeout so one lost pong is not fatal.
    #[arg(long, env = "CHAT_HEARTBEAT_INTERVAL", default_value = DEFAULT_HEARTBEAT_INTERVAL,
          value_parser = humantime::parse_duration)]
    pub heartbeat_interval: Duration,

    /// A WebSocket from which nothing (not even a pong) arrived for this long is closed with
    /// code 4408.
    #[arg(long, env = "CHAT_CLIENT_TIMEOUT", default_value = DEFAULT_CLIENT_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub client_timeout: Duration,

    /// Largest accepted WebSocket frame in bytes, and largest message reassembled from
    /// fragments; anything bigger closes the socket with code 1009.
    #[arg(long, env = "CHAT_MAX_FRAME_SIZE", default_value = DEFAULT_MAX_FRAME_SIZE)]
    pub max_frame_size: usize,

    /// On SIGTERM/Ctrl-C, how long open connections get to finish before they are cut.
    #[arg(long, env = "CHAT_SHUTDOWN_TIMEOUT", default_value = DEFAULT_SHUTDOWN_TIMEOUT,
          value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Number of worker threads (default: one per core).
    #[arg(long, env = "CHAT_WORKERS")]
    pub workers: Option<usize>,
}

impl Default for Config {
    /// The documented defaults, ignoring the environment (unlike [`Config::parse`]).
    fn default() -> Self {
        let duration =
            |text: &str| humantime::parse_duration(text).expect("default durations are valid");
        Self {
            listen: DEFAULT_LISTEN.parse().expect("default address is valid"),
            static_dir: PathBuf::from(DEFAULT_STATIC_DIR),
            heartbeat_interval: duration(DEFAULT_HEARTBEAT_INTERVAL),
            client_timeout: duration(DEFAULT_CLIENT_TIMEOUT),
            max_frame_size: DEFAULT_MAX_FRAME_SIZE
                .parse()
                .expect("default size is valid"),
            shutdown_timeout: duration(DEFAULT_SHUTDOWN_TIMEOUT),
            workers: None,
        }
    }
}

impl Config {
    /// Rejects combinations that would make the server misbehave, with a message for the user.
    pub fn validate(&self) -> Result<(), String> {
        if self.heartbeat_interval.is_zero() {
            return Err("--heartbeat-interval must be greater than zero".into());
        }
        if self.client_timeout <= self.heartbeat_interval {
            return Err(format!(
                "--client-timeout ({}) must be longer than --heartbeat-interval ({}), or every \
                 client would time out between two pings",
                humantime::format_duration(self.client_timeout),
                humantime::format_duration(self.heartbeat_interval),
            ));
        }
        if self.max_frame_size == 0 {
            return Err("--max-frame-size must be greater than zero".into());
        }
        if self.workers == Some(0) {
            return Err("--workers must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_flags_without_environment() {
        let parsed = Config::try_parse_from(["backend"]).unwrap();
        let default = Config::default();
        // The environment may set CHAT_*; compare only what the test process leaves alone.
        if std::env::vars().all(|(k, _)| !k.starts_with("CHAT_")) {
            assert_eq!(parsed.listen, default.listen);
            assert_eq!(parsed.heartbeat_interval, default.heartbeat_interval);
            assert_eq!(parsed.max_frame_size, default.max_frame_size);
        }
        assert!(default.validate().is_ok());
    }

    #[test]
    fn flags_parse_human_durations() {
        let c = Config::try_parse_from([
            "backend",
            "--heartbeat-interval",
            "250ms",
            "--client-timeout",
            "1s",
        ])
        .unwrap();
        assert_eq!(c.heartbeat_interval, Duration::from_millis(250));
        assert_eq!(c.client_timeout, Duration::from_secs(1));
    }

    #[test]
    fn timeout_shorter_than_interval_is_refused() {
        let c = Config {
            heartbeat_interval: Duration::from_secs(10),
            client_timeout: Duration::from_secs(5),
            ..Config::default()
        };
        let err = c.validate().unwrap_err();
        assert!(err.contains("--client-timeout"), "{err}");
    }
}
