//! `cargo xtask`: the project's commands, which install what they need first.
//!
//! - `cargo xtask serve [-- BACKEND ARGS]`: builds the frontend in release with trunk and runs
//!   the backend serving it (default <http://127.0.0.1:8080/>).
//! - `cargo xtask dist`: the release server with the release app inside it, one file to deploy.
//! - `cargo xtask test`: formatting, clippy (native and wasm32), every native test, the browser
//!   suite in headless Chromium and Firefox against a real backend (and against two cluster
//!   nodes), the release binary of `dist` (the app inside it) started from an empty
//!   directory and used in Chromium and Firefox, and the app on two cluster nodes used in
//!   Chromium. Fails fast; the last lines list what ran.
//! - `cargo xtask cluster [N]`: the app on N nodes sharing one redis-server (cluster mode).
//! - `cargo xtask fuzz [SECONDS]`: each cargo-fuzz target in `fuzz/` for a bounded time.
//! - `cargo xtask mutants`: mutation testing of the pure rules; summary in docs/MUTANTS.md.
//! - `cargo xtask bench`: the benchmarks, in release; tables go to `bench/results/`.
//! - `cargo xtask emoji`: writes the emoji picker's data (`frontend/emoji.json`, committed)
//!   from the emojibase-data npm package.
//!
//! Plain `std::process`, with only `shared` (paths), serde_json (WebDriver) and base64
//! (screenshots) as dependencies: it must build before any tool is installed.
//!
//! # Layout
//! - `main.rs`: argument handling, the commands, the step report, the browser suite's set-up.
//! - `app_checks.rs` (and `app_checks/screens.rs`, `app_checks/pwa.rs`): the WebDriver checks
//!   of the release app, of it as an installable app, and of a two-node cluster (`cargo xtask
//!   test`'s last steps).
//! - `bench.rs`: `cargo xtask bench` and its report.
//! - `browser_bench.rs`: W7, the release app in headless browsers under a busy room.
//! - `cluster.rs`: `cargo xtask cluster`: redis-server and N nodes on this machine.
//! - `emoji.rs`: `cargo xtask emoji`.
//! - `cycles.rs`: the no-import-loops check (cargo-modules' module graph, its circles), proven
//!   on `fixtures/import-loop` first.
//! - `mutants.rs`: `cargo xtask mutants` and its summary.
//! - `tools.rs`: find-or-install for every external tool (versions from ../shared/TOOLCHAIN.md,
//!   except wasm-opt: binaryen from npm, see docs/DEVELOPMENT.md).
//! - `server.rs`: a backend process on a free port, stopped with SIGTERM.
//! - `http.rs`: a minimal HTTP/1.1 client for the loopback servers above.
//! - `proxy.rs`: a loopback TCP proxy for the browser suite that can leave its connections
//!   half-open (browser side closed, server side open and silent), stand in for a load
//!   balancer, or break WebSocket (refuse or stall the Upgrade, buffer responses) for the
//!   transport fallback test.
//! - `webdriver.rs`: Chromium through chromedriver (W3C WebDriver) for the end-to-end check.

mod app_checks;
mod bench;
mod browser_bench;
mod cluster;
mod cycles;
mod emoji;
mod http;
mod mutants;
mod proxy;
mod server;
mod tools;
mod webdriver;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
    time::{Duration, Instant},
};

use server::Backend;

/// Errors are messages for the person at the terminal.
type Result<T, E = String> = std::result::Result<T, E>;

const USAGE: &str = "usage: cargo xtask <serve|dist|test|cluster|fuzz|mutants|bench> [args]

  serve [-- BACKEND ARGS]  build the frontend (release) and run the backend serving it
  dist                     the release server with the app inside, one file:
                           target/dist/backend (docs/DEPLOYMENT.md)
  cluster [N]              the app on N nodes (default 3, ports 8080...) sharing one
                           redis-server (data under target/cluster)
  test [--only TEXT]       fmt, clippy, native tests, browser tests (Chromium, Firefox),
                           release app check; --only: the steps whose name has TEXT
  fuzz [SECONDS]           run each fuzz target for SECONDS (default 60) with cargo-fuzz
  mutants                  mutation testing (cargo-mutants) of shared, the frontend's state
                           and backend/src/rooms.rs; summary in docs/MUTANTS.md
  bench [browser]          run the benchmarks (release); results in bench/results/;
                           browser: only W7, the app in headless browsers
  emoji                    write frontend/emoji.json (the emoji picker's data) from the
                           emojibase-data npm package";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1..).unwrap_or_default()),
        Some("dist") => dist().map(drop),
        Some("test") => test(args.get(1..).unwrap_or_default()),
        Some("cluster") => cluster::cluster(args.get(1).map(String::as_str)),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str)),
        Some("mutants") => mutants::mutants(),
        Some("bench") if args.get(1).map(String::as_str) == Some("browser") => {
            browser_bench::bench()
        }
        Some("bench") => bench::bench(),
        Some("emoji") => emoji::emoji(),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The repository root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where cargo puts what it builds: `CARGO_TARGET_DIR` if set (cargo honours it, so the
/// binaries the xtask runs must come from there too), else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Runs `command` from the repository root, echoing it; a non-zero exit is an error.
pub fn run(command: &mut Command) -> Result<()> {
    if command.get_current_dir().is_none() {
        command.current_dir(workspace_root());
    }
    let shown = describe(command);
    println!("$ {shown}");
    let status = command
        .status()
        .map_err(|err| format!("cannot run `{shown}`: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// `cargo xtask serve`.
fn serve(backend_args: &[String]) -> Result<()> {
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;
    tools::ensure_trunk()?;
    tools::ensure_wasm_opt()?;
    build_release_frontend()?;
    let dist = workspace_root().join("dist");
    let backend_args = backend_args
        .strip_prefix(&["--".to_owned()])
        .unwrap_or(backend_args);
    let mut backend = tools::cargo();
    backend
        .current_dir(workspace_root())
        .args([
            "run",
            "--release",
            "--package",
            "backend",
            "--",
            "--static-dir",
        ])
        .arg(&dist)
        .args(backend_args);
    println!("xtask: starting the app; open the URL it prints (Ctrl-C stops it)");
    exec(backend)
}

/// Replaces this process with `command` (so Ctrl-C and SIGTERM reach the server directly).
#[cfg(unix)]
fn exec(mut command: Command) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let shown = describe(&command);
    Err(format!("cannot run `{shown}`: {}", command.exec()))
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> Result<()> {
    run(&mut command)
}

/// `cargo xtask dist`: the release server with the release app inside it, one file
/// (`target/dist/backend`, `CARGO_TARGET_DIR` honoured) to copy to a server; its
/// `--version` names this checkout's commit (`-dirty` with uncommitted changes).
pub(crate) fn dist() -> Result<PathBuf> {
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;
    tools::ensure_trunk()?;
    tools::ensure_wasm_opt()?;
    build_release_frontend()?;
    let app = workspace_root().join("dist");
    run(tools::cargo()
        .args(["build", "--release", "--package", "backend"])
        .env("CHAT_APP_DIR", &app)
        .env("CHAT_COMMIT", commit()))?;
    let built = target_dir().join("release").join("backend");
    let out = target_dir().join("dist");
    std::fs::create_dir_all(&out)
        .map_err(|err| format!("cannot create {}: {err}", out.display()))?;
    let binary = out.join("backend");
    std::fs::copy(&built, &binary).map_err(|err| {
        format!(
            "cannot copy {} to {}: {err}",
            built.display(),
            binary.display()
        )
    })?;
    let size = std::fs::metadata(&binary).map_or(0, |meta| meta.len());
    println!(
        "xtask: {} ({:.1} MB): the server with the app inside; see docs/DEPLOYMENT.md",
        binary.display(),
        size as f64 / 1e6
    );
    Ok(binary)
}

/// This checkout's commit (12 hex digits), `-dirty` when tracked files have uncommitted
/// changes; `unknown` without git.
fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short=12", "HEAD"]) {
        None => "unknown".to_owned(),
        Some(commit) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|changes| !changes.is_empty());
            if dirty {
                format!("{commit}-dirty")
            } else {
                commit
            }
        }
    }
}

pub(crate) fn build_release_frontend() -> Result<()> {
    // --offline: use the wasm-bindgen and wasm-opt on PATH; trunk's own downloads fail here.
    run(tools::command("trunk").args(["build", "--release", "--offline"]))
}

/// The fuzz targets in `fuzz/fuzz_targets/`.
const FUZZ_TARGETS: [&str; 4] = ["client_msg", "server_msg", "names", "format"];

/// `cargo xtask fuzz [SECONDS]`: each target for a bounded time, seeded from the committed
/// corpus in `fuzz/corpus/<target>`; new inputs go to `target/fuzz-corpus/<target>`, crashes
/// to `fuzz/artifacts/<target>/` (copy one into `fuzz/corpus/<target>/` and it becomes a
/// regression test in the normal suite, `shared/tests/fuzz_corpus.rs`).
fn fuzz(seconds: Option<&str>) -> Result<()> {
    let seconds: u32 = seconds
        .unwrap_or("60")
        .parse()
        .map_err(|_| format!("fuzz takes a number of seconds per target\n{USAGE}"))?;
    tools::ensure_cargo_fuzz()?;
    for target in FUZZ_TARGETS {
        let found = workspace_root()
            .join("target")
            .join("fuzz-corpus")
            .join(target);
        std::fs::create_dir_all(&found)
            .map_err(|err| format!("cannot create {}: {err}", found.display()))?;
        let seeds = workspace_root().join("fuzz").join("corpus").join(target);
        println!("\n==> fuzzing {target} for {seconds} s");
        run(tools::cargo()
            // cargo-fuzz needs unstable rustc flags for its coverage instrumentation; this
            // machine has only the stable toolchain, which allows them with RUSTC_BOOTSTRAP.
            // No sanitizer: the decoder is safe Rust (unsafe_code is forbidden), so ASan would
            // find nothing the panics and the RSS limit do not.
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", "--sanitizer", "none", target])
            .arg(&found)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            // Frames over 64 KiB are rejected by the server before decoding.
            .args(["-max_len=65536", "-rss_limit_mb=2048"]))?;
    }
    println!(
        "\nfuzz: {} targets ran {seconds} s each without a finding",
        FUZZ_TARGETS.len()
    );
    Ok(())
}

/// A test step: `Ok` carries a detail for the summary line.
type StepFn = fn() -> Result<String>;

/// One line of the closing report.
struct Step {
    name: &'static str,
    outcome: Option<(Duration, Result<String>)>,
}

/// `cargo xtask test`.
fn test(args: &[String]) -> Result<()> {
    // `--only TEXT`: the install step and the steps whose name contains TEXT (by hand, to
    // rerun one step; CI runs them all).
    let only = match args {
        [] => None,
        [flag, text] if flag == "--only" => Some(text.as_str()),
        _ => return Err(USAGE.to_owned()),
    };
    let steps: [(&str, StepFn); 11] = [
        ("install missing tools", install_test_tools),
        ("cargo fmt --check", || {
            cargo_step(&["fmt", "--all", "--check"])
        }),
        ("clippy, native, -D warnings", || {
            cargo_step(&[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
        }),
        ("clippy, wasm32 (frontend, shared), -D warnings", || {
            cargo_step(&[
                "clippy",
                "--package",
                "frontend",
                "--package",
                "shared",
                "--target",
                "wasm32-unknown-unknown",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ])
        }),
        (
            "no import loops between modules (backend, frontend; cargo-modules)",
            cycles::check,
        ),
        ("native tests (cargo test --workspace)", || {
            // A test that fails once in many runs is diagnosed from this one log: every
            // panic comes with its backtrace (the test's own line among the frames).
            run(tools::cargo()
                .args(["test", "--workspace"])
                .env("RUST_BACKTRACE", "1"))
            .map(|()| String::new())
        }),
        (
            "benchmark smoke run (W1-W5 ours vs Node ws and socket.io, W6 our transports)",
            bench::smoke,
        ),
        (
            "browser tests vs real backend (Chromium, Firefox)",
            browser_tests,
        ),
        (
            "release app: the one release binary with the app inside (cargo xtask dist), its --version and systemd unit, used in Chromium and Firefox (echo, chat, phone size, keyboard, Korean, axe-core)",
            app_checks::release_app_check,
        ),
        (
            "installable app: manifest, service worker, push and its click, offline from the cache, the outbox across a closed tab (Chromium)",
            app_checks::pwa_app_check,
        ),
        (
            "cluster: two nodes and redis-server, one browser on each, one chat (Chromium)",
            app_checks::cluster_app_check,
        ),
    ];
    let mut report: Vec<Step> = Vec::new();
    let mut failed = false;
    for (name, body) in steps {
        let chosen = only.is_none_or(|text| name.contains(text) || name.starts_with("install"));
        if failed || !chosen {
            report.push(Step {
                name,
                outcome: None,
            });
            continue;
        }
        println!("\n==> {name}");
        let started = Instant::now();
        let result = body();
        failed = result.is_err();
        report.push(Step {
            name,
            outcome: Some((started.elapsed(), result)),
        });
    }

    println!("\ncargo xtask test summary:");
    for step in &report {
        match &step.outcome {
            Some((took, Ok(detail))) => {
                println!(
                    "  ok      {:>6.1}s  {}{detail}",
                    took.as_secs_f64(),
                    step.name
                );
            }
            Some((took, Err(err))) => {
                println!(
                    "  FAILED  {:>6.1}s  {}: {err}",
                    took.as_secs_f64(),
                    step.name
                );
            }
            None => println!("  skipped          {}", step.name),
        }
    }
    let count = |wanted: fn(&Step) -> bool| report.iter().filter(|s| wanted(s)).count();
    println!(
        "{} passed, {} failed, {} skipped",
        count(|s| matches!(s.outcome, Some((_, Ok(_))))),
        count(|s| matches!(s.outcome, Some((_, Err(_))))),
        count(|s| s.outcome.is_none()),
    );
    if failed {
        Err("tests failed (see the summary above)".to_owned())
    } else {
        Ok(())
    }
}

fn cargo_step(args: &[&str]) -> Result<String> {
    run(tools::cargo().args(args)).map(|()| String::new())
}

fn install_test_tools() -> Result<String> {
    tools::ensure_wasm_target()?;
    tools::ensure_wasm_bindgen()?;
    tools::ensure_chromium()?;
    tools::ensure_redis()?;
    tools::ensure_firefox()?;
    tools::ensure_fonts()?;
    tools::ensure_geckodriver()?;
    tools::ensure_trunk()?;
    tools::ensure_wasm_opt()?;
    tools::ensure_cargo_modules()?;
    tools::ensure_systemd_analyze()?;
    bench::ensure_peers()?;
    Ok(String::new())
}

/// The browser suite's large room (issue #11: the members panel with 10,000 members).
const CROWD_ROOM: &str = "crowd";
/// Its members, besides the page.
const CROWD_MEMBERS: usize = 10_000;

/// A backend for long rooms (the browser suite's, W7's): filled through one socket (no rate
/// limit) and read in pages of 200.
pub(crate) const LONG_ROOM_FLAGS: [&str; 6] = [
    "--rate-per-sec",
    "1000000",
    "--rate-burst",
    "1000000",
    "--history-page",
    "200",
];

/// The browser suite's long rooms (issue #34), filled on a backend of their own before the suite:
/// the message-list tests' 1,000 lines and 50,000 lines.
const BUSY_ROOM: (&str, usize) = ("busy", 1_000);
const BIG_ROOM: (&str, usize) = ("long", 50_000);

/// The HS256 secret of the browser suite's JWT-mode backend (test-only: it signs nothing else).
const JWT_TEST_SECRET: &str = "browser-suite-secret-for-test-tokens-only";

/// Runs `frontend/tests` in both browsers against one backend, then stops it with SIGTERM.
fn browser_tests() -> Result<String> {
    // The test runner serves its page from its own random port: a foreign origin to the
    // backend, so this test-only backend accepts any origin.
    let backend = Backend::start("browser-tests", &["--allowed-origin", "*"])?;
    println!("xtask: backend for the browser suite at {}", backend.addr);
    // For the account screens: a backend with built-in accounts (its API answers the test
    // page's cross-origin requests, with credentials, for the same reason).
    // `chief` is its server admin, for the admin console's test.
    let accounts = Backend::start(
        "browser-accounts",
        &[
            "--allowed-origin",
            "*",
            "--auth",
            "accounts",
            "--admin",
            "chief",
        ],
    )?;
    // And one in JWT mode: the tests sign their own tokens with this test-only secret.
    let secret_file = workspace_root()
        .join("target")
        .join("xtask")
        .join("jwt-secret");
    std::fs::write(&secret_file, JWT_TEST_SECRET)
        .map_err(|err| format!("cannot write {}: {err}", secret_file.display()))?;
    let secret_arg = secret_file.to_string_lossy().into_owned();
    let jwt = Backend::start(
        "browser-jwt",
        &[
            "--allowed-origin",
            "*",
            "--auth",
            "jwt",
            "--jwt-secret-file",
            &secret_arg,
            // The token `sub` of the admin console's JWT-mode test.
            "--admin",
            "sub-jwt-chief",
        ],
    )?;
    // For the members panel test: a room of 10,000 real members, held by `bench --crowd`
    // against a backend of its own (limits per address off: they all come from 127.0.0.1).
    let crowd_backend = Backend::start(
        "browser-crowd",
        &[
            "--allowed-origin",
            "*",
            "--max-connections",
            "30000",
            "--max-connections-per-ip",
            "0",
            "--max-handshakes-per-ip",
            "0",
        ],
    )?;
    // For the message-list tests: long rooms, on a backend of their own (the crowd's is busy
    // for a while after its 10,000 come in), filled through one socket and read in pages
    // of 200.
    let long_backend = Backend::start(
        "browser-long",
        &[&["--allowed-origin", "*"][..], &LONG_ROOM_FLAGS].concat(),
    )?;
    run(tools::cargo().args(["build", "--package", "backend", "--package", "bench"]))?;
    let debug = target_dir().join("debug");
    for (room, count) in [BUSY_ROOM, BIG_ROOM] {
        run(Command::new(debug.join("bench")).args([
            "--fill",
            &long_backend.addr,
            room,
            &count.to_string(),
        ]))?;
    }
    let crowd = server::Crowd::start(
        &debug.join("bench"),
        &crowd_backend.addr,
        CROWD_ROOM,
        CROWD_MEMBERS,
    )?;
    // For the half-open test: a page connects through it, and the test has it cut the
    // browser's side while the server's side stays open.
    let proxy = proxy::Proxy::start(&backend.addr)?;
    // For the transport fallback test: networks that break WebSocket, one way each.
    let refusing = proxy::Proxy::start_hostile(&backend.addr, proxy::Hostility::RefuseUpgrade)?;
    let stalling = proxy::Proxy::start_hostile(&backend.addr, proxy::Hostility::StallUpgrade)?;
    let buffering = proxy::Proxy::start_hostile(&backend.addr, proxy::Hostility::Buffer)?;
    let geckodriver = tools::ensure_geckodriver()?;
    let browsers = [
        (
            "Chromium",
            "CHROMEDRIVER",
            PathBuf::from(tools::CHROMEDRIVER),
        ),
        ("Firefox", "GECKODRIVER", geckodriver),
    ];
    // For the failover test: two cluster nodes sharing a redis-server, and a proxy standing in
    // for the load balancer that kills the first node on request. Fresh for each browser
    // (the test kills a node).
    let debug_backend = debug.join("backend");
    for (browser, variable, driver) in browsers {
        println!("xtask: browser suite in headless {browser}");
        let dir = workspace_root()
            .join("target")
            .join("xtask")
            .join(format!("failover-{}", browser.to_lowercase()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|err| format!("cannot remove {}: {err}", dir.display()))?;
        }
        let cluster = cluster::LocalCluster::start(
            &debug_backend,
            2,
            None,
            &dir,
            &["--allowed-origin", "*"],
        )?;
        let node = |i: usize| cluster.urls[i].trim_start_matches("http://").to_owned();
        let doomed = cluster.node_pid(0).ok_or("no first node")?.to_string();
        let balancer = proxy::Proxy::start_with_failover(&node(0), &node(1), move || {
            run(tools::command("kill").args(["-KILL", &doomed]))
        })?;
        run(tools::cargo()
            // The tests read the address at build time (option_env!); webdriver.json beside
            // the crate holds the browser flags (--no-sandbox: we may run as root).
            .current_dir(workspace_root().join("frontend"))
            .env("CHAT_BACKEND_ADDR", &backend.addr)
            .env("CHAT_ACCOUNTS_ADDR", &accounts.addr)
            .env("CHAT_JWT_ADDR", &jwt.addr)
            .env("CHAT_JWT_SECRET", JWT_TEST_SECRET)
            .env("CHAT_CROWD_ADDR", &crowd_backend.addr)
            .env("CHAT_CROWD_ROOM", CROWD_ROOM)
            .env("CHAT_CROWD_MEMBERS", CROWD_MEMBERS.to_string())
            .env("CHAT_LONG_ADDR", &long_backend.addr)
            .env("CHAT_BUSY_ROOM", BUSY_ROOM.0)
            .env("CHAT_BUSY_LINES", BUSY_ROOM.1.to_string())
            .env("CHAT_BIG_ROOM", BIG_ROOM.0)
            .env("CHAT_BIG_LINES", BIG_ROOM.1.to_string())
            .env("CHAT_PROXY_ADDR", &proxy.addr)
            .env("CHAT_PROXY_CONTROL", &proxy.control)
            .env("CHAT_PROXY_REFUSE", &refusing.addr)
            .env("CHAT_PROXY_REFUSE_CONTROL", &refusing.control)
            .env("CHAT_PROXY_STALL", &stalling.addr)
            .env("CHAT_PROXY_STALL_CONTROL", &stalling.control)
            .env("CHAT_PROXY_BUFFER", &buffering.addr)
            .env("CHAT_PROXY_BUFFER_CONTROL", &buffering.control)
            .env("CHAT_CLUSTER_BALANCER", &balancer.addr)
            .env("CHAT_CLUSTER_CONTROL", &balancer.control)
            .env("CHAT_CLUSTER_OTHER", node(1))
            // The runner gives the whole page 20 s by default; the suite runs longer (its
            // tests wait on real timeouts, e.g. a stalled WebSocket's 4 s, and one reads a
            // room of 50,000 messages from end to end).
            .env("WASM_BINDGEN_TEST_TIMEOUT", "480")
            .env(variable, driver)
            .args([
                "test",
                "--package",
                "frontend",
                "--target",
                "wasm32-unknown-unknown",
            ])
            // While working on one browser test: `XTASK_BROWSER_FILTER=name cargo xtask test
            // --only browser` runs only the tests whose name has it.
            .args(
                std::env::var("XTASK_BROWSER_FILTER")
                    .ok()
                    .map(|filter| vec!["--".to_owned(), filter])
                    .unwrap_or_default(),
            ))
        .map_err(|err| format!("{browser}: {err}"))?;
    }
    drop((proxy, refusing, stalling, buffering, crowd));
    crowd_backend.stop()?;
    long_backend.stop()?;
    accounts.stop()?;
    jwt.stop()?;
    backend.stop()?;
    Ok(" (backend stopped cleanly by SIGTERM)".to_owned())
}
