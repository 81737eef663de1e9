//! `backend`: parse flags, set up logging, bind, serve until SIGTERM or Ctrl-C; or, as
//! `backend export [--room R | --user U] --out FILE` with the same flags, write an export
//! (docs/EXPORT.md) and stop; or, as `backend import FILE [--source LABEL]` with the same
//! flags, import an export (ours or Slack's, docs/IMPORT.md) and stop.

use std::net::TcpListener;

use anyhow::Context as _;
use backend::Config;
use clap::{Parser, ValueEnum};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The server's flags plus how it logs (logging is the binary's business, not the library's).
#[derive(Parser)]
#[command(
    name = "backend",
    version = backend::config::VERSION,
    about = "Real-time chat server (Actix-web + WebSockets)",
    after_help = "Also: `backend export [--room ROOM | --user NAME] --out FILE [these flags]` \
                  writes an export (docs/EXPORT.md); `backend import FILE [--source LABEL] \
                  [these flags]` imports ours or Slack's (docs/IMPORT.md); `backend export \
                  --help` and `backend import --help` list their flags."
)]
struct Cli {
    #[command(flatten)]
    config: Config,

    /// Log format on stderr: human-readable text, or one JSON object per line for log
    /// collectors. Verbosity comes from RUST_LOG (default `info`).
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

/// Files the server keeps open besides its clients' sockets: databases, logs, Redis, the
/// static files being served.
const FILES_BESIDE_SOCKETS: u64 = 256;

/// `backend export`: the server's flags, and what to export where.
#[derive(Parser)]
#[command(
    name = "backend export",
    bin_name = "backend export",
    version = backend::config::VERSION,
    about = "Writes an export (docs/EXPORT.md): one room, one user's own data, or the whole server"
)]
struct ExportCli {
    #[command(flatten)]
    config: Config,

    /// Export this room (not a group conversation).
    #[arg(long, conflicts_with = "user")]
    room: Option<String>,

    /// Export this user's own data: an account's name, a JWT subject, or a user key.
    #[arg(long)]
    user: Option<String>,

    /// Where to write the ZIP (written to FILE.partial, renamed when whole).
    #[arg(long)]
    out: std::path::PathBuf,
}

/// `backend import`: the server's flags, and the file to import.
#[derive(Parser)]
#[command(
    name = "backend import",
    bin_name = "backend import",
    version = backend::config::VERSION,
    about = "Imports FILE (our export or a Slack workspace export, a ZIP) into the store the \
             flags name, prints what was stored (JSON) and exits. Cluster mode (--redis): while \
             the other nodes run. One node: with the server stopped (else use POST \
             /api/admin/import)"
)]
struct ImportCli {
    #[command(flatten)]
    config: Config,

    /// The ZIP to import.
    file: std::path::PathBuf,

    /// Keeps the ledgers of sources of the same kind apart (e.g. two servers' exports).
    #[arg(long)]
    source: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // The commands' own words come first, the server's flags after them.
    match std::env::args_os().nth(1) {
        Some(word) if word == "export" => return export().await,
        Some(word) if word == "import" => return import().await,
        _ => {}
    }
    let Cli { config, log_format } = Cli::parse();
    if let Err(problem) = config.validate() {
        anyhow::bail!("invalid configuration: {problem}");
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().with_current_span(true).init(),
    }

    // Every socket is a file: a soft limit of 1024 (a common default) would refuse clients
    // long before `--max-connections`. Raised to the hard limit, as servers do.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(files) if files < config.max_connections as u64 + FILES_BESIDE_SOCKETS => {
            tracing::warn!(
                open_files = files,
                max_connections = config.max_connections,
                "the open-file limit is below --max-connections; raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower the flag"
            );
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "cannot raise the open-file limit"),
    }

    let listener = TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("listener has no local address")?;
    // stdout carries exactly this line, so scripts (the xtask) can learn the port when the
    // listen address asked for port 0; logs go to stderr.
    println!("listening on http://{addr}");
    tracing::info!(%addr, "server started");

    let shutdown = CancellationToken::new();
    actix_web::rt::spawn(cancel_on_signal(shutdown.clone()));
    backend::run(listener, config, shutdown)
        .await
        .context("server failed")
}

/// A command's own flags (`T`), read from the arguments after its word (`export`,
/// `import`); checks the server's flags among them and logs warnings and worse on stderr
/// (stdout is the command's answer).
fn command<T: Parser>(config: impl Fn(&T) -> &Config) -> anyhow::Result<T> {
    let args = std::env::args_os()
        .enumerate()
        .filter(|(at, _)| *at != 1)
        .map(|(_, arg)| arg);
    let parsed = T::parse_from(args);
    if let Err(problem) = config(&parsed).validate() {
        anyhow::bail!("invalid configuration: {problem}");
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    Ok(parsed)
}

/// `backend export …`: the export's own flags after the word `export`.
async fn export() -> anyhow::Result<()> {
    let ExportCli {
        config,
        room,
        user,
        out,
    } = command(|cli: &ExportCli| &cli.config)?;
    backend::transfer::export::run_cli(config, room, user, out.clone()).await?;
    eprintln!("export written to {}", out.display());
    Ok(())
}

/// `backend import FILE …`: the import's own flags after the word `import`.
async fn import() -> anyhow::Result<()> {
    let ImportCli {
        config,
        file,
        source,
    } = command(|cli: &ImportCli| &cli.config)?;
    let summary = backend::transfer::import::offline(config, &file, source.as_deref())
        .await
        .with_context(|| format!("cannot import {}", file.display()))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// Cancels `shutdown` on the first Ctrl-C or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        result = ctrl_c => {
            if let Err(err) = result {
                tracing::error!(error = %err, "cannot listen for Ctrl-C");
                return;
            }
        }
        () = terminate => {}
    }
    tracing::info!("signal received");
    shutdown.cancel();
}
