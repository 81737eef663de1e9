//! `cargo xtask`: the project's commands, which install what they need first.
//!
//! - `cargo xtask serve [-- BACKEND ARGS]`: builds the frontend in release with trunk and runs
//!   the backend serving it (default <http://127.0.0.1:8080/>).
//! - `cargo xtask test`: formatting, clippy (native and wasm32), every native test, the browser
//!   suite in headless Chromium and Firefox against a real backend (and against two cluster
//!   nodes), the release build of the app served by the real server and used in Chromium, and
//!   the app on two cluster nodes used in Chromium. Fails fast; the last lines list what ran.
//! - `cargo xtask cluster [N]`: the app on N nodes sharing one redis-server (cluster mode).
//! - `cargo xtask fuzz [SECONDS]`: each cargo-fuzz target in `fuzz/` for a bounded time.
//! - `cargo xtask mutants`: mutation testing of the pure rules; summary in docs/MUTANTS.md.
//! - `cargo xtask bench`: the benchmarks, in release; tables go to `bench/results/`.
//!
//! Plain `std::process`, with only `shared` (paths), serde_json (WebDriver) and base64
//! (screenshots) as dependencies: it must build before any tool is installed.
//!
//! # Layout
//! - `main.rs`: argument handling, the commands, the step report.
//! - `bench.rs`: `cargo xtask bench` and its report.
//! - `browser_bench.rs`: W7, the release app in headless browsers under a busy room.
//! - `cluster.rs`: `cargo xtask cluster`: redis-server and N nodes on this machine.
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

mod bench;
mod browser_bench;
mod cluster;
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
use shared::paths;

/// Errors are messages for the person at the terminal.
type Result<T, E = String> = std::result::Result<T, E>;

const USAGE: &str = "usage: cargo xtask <serve|test|cluster|fuzz|mutants|bench> [args]

  serve [-- BACKEND ARGS]  build the frontend (release) and run the backend serving it
  cluster [N]              the app on N nodes (default 3, ports 8080...) sharing one
                           redis-server (data under target/cluster)
  test [--only TEXT]       fmt, clippy, native tests, browser tests (Chromium, Firefox),
                           release app check; --only: the steps whose name has TEXT
  fuzz [SECONDS]           run each fuzz target for SECONDS (default 60) with cargo-fuzz
  mutants                  mutation testing (cargo-mutants) of shared, the frontend's state
                           and backend/src/rooms.rs; summary in docs/MUTANTS.md
  bench [browser]          run the benchmarks (release); results in bench/results/;
                           browser: only W7, the app in headless browsers";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1..).unwrap_or_default()),
        Some("test") => test(args.get(1..).unwrap_or_default()),
        Some("cluster") => cluster::cluster(args.get(1).map(String::as_str)),
        Some("fuzz") => fuzz(args.get(1).map(String::as_str)),
        Some("mutants") => mutants::mutants(),
        Some("bench") if args.get(1).map(String::as_str) == Some("browser") => {
            browser_bench::bench()
        }
        Some("bench") => bench::bench(),
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

pub(crate) fn build_release_frontend() -> Result<()> {
    // --offline: use the wasm-bindgen and wasm-opt on PATH; trunk's own downloads fail here.
    run(tools::command("trunk").args(["build", "--release", "--offline"]))
}

/// The fuzz targets in `fuzz/fuzz_targets/`.
const FUZZ_TARGETS: [&str; 3] = ["client_msg", "server_msg", "names"];

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
    let steps: [(&str, StepFn); 9] = [
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
            "release app served by the backend, used in Chromium and Firefox (echo, chat, phone size, keyboard, Korean, axe-core)",
            release_app_check,
        ),
        (
            "cluster: two nodes and redis-server, one browser on each, one chat (Chromium)",
            cluster_app_check,
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
    let accounts = Backend::start(
        "browser-accounts",
        &["--allowed-origin", "*", "--auth", "accounts"],
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

/// Builds the app as `cargo xtask serve` does, serves it from the real backend, and uses it in
/// Chromium like a person would: on the Echo page, Korean text sent with Send and with Enter
/// comes back; in the chat, two browsers join, one writes, the other sees it and types, then
/// reloads and sees the message again (history).
/// Leaves screenshots in `target/xtask/served-app.png` and `served-chat.png`.
fn release_app_check() -> Result<String> {
    build_release_frontend()?;
    let dist = workspace_root().join("dist");
    let dist_arg = dist.to_string_lossy().into_owned();
    let backend = Backend::start("served-app", &["--static-dir", &dist_arg])?;

    let health = backend.get(paths::HEALTHZ)?;
    if health.status != 200 || health.body != b"ok\n" {
        return Err(format!("GET {} answered {}", paths::HEALTHZ, health.status));
    }
    let index = backend.get("/")?;
    let index_html = String::from_utf8_lossy(&index.body).into_owned();
    let wasm_path = index_html
        .split(['"', '\''])
        .find(|part| part.ends_with("_bg.wasm"))
        .ok_or("index.html from trunk names no _bg.wasm file")?
        .to_owned();
    let wasm = backend.get(&wasm_path)?;
    if wasm.status != 200 || wasm.header("content-type") != Some("application/wasm") {
        return Err(format!(
            "GET {wasm_path} answered {}:\n{}",
            wasm.status, wasm.head
        ));
    }

    let chrome = webdriver::Chrome::start()?;
    chrome.goto(&format!("http://{}/echo", backend.addr))?;
    chrome.wait_for(
        "the page says the socket is online",
        "const s = document.querySelector('[data-testid=status]'); \
         return !!s && s.textContent.includes('online');",
        Duration::from_secs(20),
    )?;
    // First with a click on Send, then with Enter (U+E007 is WebDriver's Enter key).
    let input = chrome.find("[data-testid=echo-input]")?;
    chrome.type_into(&input, "안녕하세요 hello")?;
    chrome.click(&chrome.find("[data-testid=echo-send]")?)?;
    wait_for_echo(&chrome, "안녕하세요 hello")?;
    chrome.type_into(&input, "sent with Enter\u{E007}")?;
    wait_for_echo(&chrome, "sent with Enter")?;
    let shots = workspace_root().join("target").join("xtask");
    let echo_shot = shots.join("served-app.png");
    chrome.screenshot(&echo_shot)?;
    // The browsers report what the CSP refuses to the server (`report-uri`), from the first
    // byte of every page: the Echo page, the nickname screen, every reload. A refusal made on
    // purpose shows that this browser does report; the count must not move again until the
    // end (checked before the server stops).
    csp_canary(&chrome, &backend, 1)?;
    let axe = Axe::load()?;
    let mut audited = vec![axe.audit(&chrome, "the Echo page with echoes")?];
    let comparison = compare_transports(&chrome, &shots.join("served-echo-transports.png"))?;

    // The chat, as two people in two browsers: one writes, the other reads and types.
    let base = format!("http://{}/", backend.addr);
    let other = webdriver::Chrome::start()?;
    other.goto(&base)?;
    other.find("[data-testid=nick-input]")?;
    audited.push(axe.audit(&other, "the nickname screen")?);
    join_chat(&chrome, &base, "지민")?;
    join_chat(&other, &base, "Alice")?;
    let hello = "안녕하세요, Alice!";
    let composer = chrome.find("[data-testid=composer-input]")?;
    chrome.type_into(&composer, &format!("{hello}\u{E007}"))?;
    for (who, browser) in [("the sender", &chrome), ("the other user", &other)] {
        browser.wait_for(
            &format!("{who} sees the message as sent"),
            &format!(
                "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
                 .some(l => l.textContent.includes({hello:?}));"
            ),
            Duration::from_secs(10),
        )?;
    }
    other.type_into(&other.find("[data-testid=composer-input]")?, "반가워요")?;
    chrome.wait_for(
        "the sender sees the other user typing",
        "return document.querySelector('[data-testid=typing]')?.textContent \
         === 'Alice is typing…';",
        Duration::from_secs(10),
    )?;
    let chat_shot = shots.join("served-chat.png");
    chrome.screenshot(&chat_shot)?;
    audited.push(axe.audit(&chrome, "the chat with messages")?);
    keyboard_only_check(&base, &other)?;
    let mut phone_shots = phone_layout_check(&chrome, &base, &shots, "지민폰", "")?;
    audited.push(axe.audit(&chrome, "the chat at 390 px, dark")?);
    // A reload starts from nothing but the stored nickname: the message is back from history.
    other.goto(&base)?;
    other.wait_for(
        "the reloaded page shows the message from history",
        &format!(
            "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
             .some(l => l.textContent.includes({hello:?}));"
        ),
        Duration::from_secs(20),
    )?;
    // The same in Firefox: a fourth user chats at desktop size, then in a narrow window.
    // Headless Firefox makes no window narrower than 500 CSS pixels (at any pixel density;
    // tried), so its "phone" is 500 wide: below the breakpoint, the same one-column layout.
    let fox = webdriver::Chrome::start_with(webdriver::Engine::Firefox, None, &[])?;
    // The canary before join_chat, whose fresh page and listener must not hear it.
    fox.goto(&base)?;
    csp_canary(&fox, &backend, 2)?;
    join_chat(&fox, &base, "Fox")?;
    audited.push(axe.audit(&fox, "the chat in Firefox")?);
    phone_shots.extend(phone_layout_check(&fox, &base, &shots, "Foxy", "-firefox")?);
    drop(fox);
    drop(other);
    let korean_shots = language_check(&base, &shots)?;
    let refused = csp_reports(&backend)?;
    if refused != 2 {
        return Err(format!(
            "the Content-Security-Policy refused {} thing(s) besides the two canaries in the \
             browsers; the backend's log names them: {}",
            refused.saturating_sub(2),
            backend.log().display()
        ));
    }
    // Offline: the server is gone and the page says so.
    backend.stop()?;
    chrome.wait_for(
        "the page shows it is offline",
        "const n = document.querySelector('[data-testid=composer-note]'); \
         return !!n && n.textContent.includes('Offline');",
        Duration::from_secs(20),
    )?;
    audited.push(axe.audit(&chrome, "the chat offline")?);
    drop(chrome);
    let relative = |path: &Path| {
        path.strip_prefix(workspace_root())
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let list = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| relative(p))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(format!(
        " (echo, a two-user chat and its history after a reload seen in Chromium, a third user \
         by keyboard only, the narrow layout in Chromium (390 x 844) and Firefox (500 wide, its \
         narrowest headless window); axe-core: no serious \
         or critical violation in {} states; wasm {} KB, {} KB gzipped; {}, {}; narrow: {}; \
         in Korean: {}; the Echo page's transports (echoes / median / bytes per message): {} \
         in {})",
        audited.len(),
        wasm.body.len() / 1024,
        gzipped_len(&wasm.body).map_or_else(|| "?".to_owned(), |n| (n / 1024).to_string()),
        relative(&echo_shot),
        relative(&chat_shot),
        list(&phone_shots),
        list(&korean_shots),
        comparison,
        relative(&shots.join("served-echo-transports.png")),
    ))
}

/// A browser set up in Korean gets the app in Korean (the page's language, the nickname
/// screen, the chat); the switch in the top bar turns it into English, and the choice
/// survives a reload. Screenshots of the Korean chat at both sizes, light and dark.
fn language_check(base: &str, shots: &Path) -> Result<Vec<PathBuf>> {
    let korean = webdriver::Chrome::start_in(Some("ko-KR,ko"))?;
    korean.goto(base)?;
    korean.wait_for(
        "a Korean browser gets the nickname screen in Korean",
        "return document.documentElement.lang === 'ko' && document.title === '채팅' && \
           document.querySelector('[data-testid=nick-submit]')?.textContent === '채팅 시작';",
        Duration::from_secs(20),
    )?;
    korean.type_into(&korean.find("[data-testid=nick-input]")?, "민수")?;
    korean.click(&korean.find("[data-testid=nick-submit]")?)?;
    korean.wait_for(
        "the chat is in Korean",
        "const s = document.querySelector('[data-testid=status]'); \
         return !!s && s.textContent.includes('온라인') && \
           document.querySelector('[data-testid=composer-send]')?.textContent.trim() === '보내기';",
        Duration::from_secs(20),
    )?;
    korean.type_into(
        &korean.find("[data-testid=composer-input]")?,
        "한국어로 된 채팅입니다\u{E007}",
    )?;
    korean.wait_for(
        "the Korean user's message is sent",
        "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')] \
           .some(l => l.textContent.includes('한국어로 된 채팅입니다'));",
        Duration::from_secs(10),
    )?;
    let mut taken = Vec::new();
    for (width, height, size) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        korean.set_window_size(width, height)?;
        for dark in [false, true] {
            if !korean.prefer_dark(dark)? {
                return Err("the Korean check needs Chromium (dark mode emulation)".into());
            }
            korean.wait_for(
                "the colour scheme applies",
                &format!("return matchMedia('(prefers-color-scheme: dark)').matches === {dark};"),
                Duration::from_secs(5),
            )?;
            let scheme = if dark { "dark" } else { "light" };
            let path = shots.join(format!("served-ko-{size}-{scheme}.png"));
            korean.screenshot(&path)?;
            taken.push(path);
        }
    }
    korean.click(&korean.find("[data-testid=lang-switch]")?)?;
    let english = "return document.documentElement.lang === 'en' && \
         document.querySelector('[data-testid=composer-send]')?.textContent.trim() === 'Send';";
    korean.wait_for(
        "the switch reloads the app in English",
        english,
        Duration::from_secs(20),
    )?;
    korean.goto(base)?;
    korean.wait_for(
        "English is kept across a reload",
        english,
        Duration::from_secs(20),
    )?;
    Ok(taken)
}

/// Waits until the conversation titled `title` is shown and the drawer `panel` has closed.
fn shown_with_drawer_closed(chrome: &webdriver::Chrome, title: &str, panel: &str) -> Result<()> {
    chrome.wait_for(
        &format!("{title} is shown and the drawer {panel} closed"),
        &format!(
            "return document.querySelector('[data-testid=conversation-title]')?.textContent \
               === {title:?} \
             && getComputedStyle(document.querySelector({panel:?})).visibility === 'hidden';"
        ),
        Duration::from_secs(10),
    )
}

/// Types `text` into the composer with Enter and waits until it is shown as sent.
fn send_and_see_sent(chrome: &webdriver::Chrome, text: &str) -> Result<()> {
    chrome.type_into(
        &chrome.find("[data-testid=composer-input]")?,
        &format!("{text}\u{E007}"),
    )?;
    chrome.wait_for(
        &format!("{text:?} is shown as sent"),
        &format!(
            "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
             .some(l => l.textContent.includes({text:?}));"
        ),
        Duration::from_secs(10),
    )
}

/// Opens a drawer with its header button and waits until it is in place (it slides in).
fn open_drawer(chrome: &webdriver::Chrome, toggle: &str, panel: &str) -> Result<()> {
    chrome.click(&chrome.find(&format!("[data-testid={toggle}]"))?)?;
    chrome.wait_for(
        &format!("the drawer {panel} is open"),
        &format!(
            "const p = document.querySelector({panel:?}); const r = p.getBoundingClientRect(); \
             return getComputedStyle(p).visibility === 'visible' && r.left >= 0 \
               && r.right <= window.innerWidth;"
        ),
        Duration::from_secs(5),
    )
}

/// Clicks, through WebDriver (so it must be visible and not covered), the first element
/// matching `selector` whose text contains `text`.
fn click_text(chrome: &webdriver::Chrome, selector: &str, text: &str) -> Result<()> {
    chrome.wait_for(
        &format!("an element {selector} with {text:?} to click"),
        &format!(
            "document.querySelectorAll('[data-pick]').forEach(e => e.removeAttribute('data-pick')); \
             const e = [...document.querySelectorAll({selector:?})] \
               .find(e => e.textContent.includes({text:?})); \
             if (e) e.setAttribute('data-pick', ''); return !!e;"
        ),
        Duration::from_secs(10),
    )?;
    chrome.click(&chrome.find("[data-pick]")?).map_err(|err| {
        // What was where: the picked element's list, each item with its box.
        let layout = chrome.script(
            "const e = document.querySelector('[data-pick]'); \
             const list = e && (e.closest('ul') || e.parentElement); \
             return list ? [...list.children].map(c => { const r = c.getBoundingClientRect(); \
               return `${c.outerHTML.slice(0, 300)} at x=${r.x} y=${r.y} ${r.width}x${r.height}`; \
             }).join('\\n') : 'nothing picked';",
        );
        format!(
            "{err}\nthe items around it:\n{}",
            layout.map_or_else(|e| e, |v| v.as_str().unwrap_or_default().to_owned())
        )
    })
}

/// A third person uses the chat with the keyboard only, from the nickname screen: picks a
/// nickname, creates a room and writes in it, then writes a direct message to `peer` (who
/// joins that room), reaching every field and button with Tab. No pointer event reaches the
/// page (counted by a listener).
fn keyboard_only_check(base: &str, peer: &webdriver::Chrome) -> Result<()> {
    let keys = webdriver::Chrome::start()?;
    keys.goto(base)?;
    keys.find("[data-testid=nick-input]")?;
    keys.script(
        "window.pointerEvents = 0; \
         for (const kind of ['pointerdown', 'mousedown', 'touchstart']) \
           addEventListener(kind, () => window.pointerEvents++, true); \
         return true;",
    )?;
    let testid = |id: &str| format!("el.dataset.testid === '{id}'");
    keys.tab_to(&testid("nick-input"), false, 20)?;
    keys.press("Kim\u{E007}")?;
    keys.wait_for(
        "Kim is in the chat",
        "return !!document.querySelector('[data-testid=composer-input]');",
        Duration::from_secs(20),
    )?;
    keys.tab_to(&testid("join-input"), false, 40)?;
    keys.press("keys\u{E007}")?;
    keys.wait_for(
        "the new room is open",
        "return document.querySelector('[data-testid=conversation-title]')?.textContent \
           === '# keys';",
        Duration::from_secs(10),
    )?;
    keys.tab_to(&testid("composer-input"), false, 40)?;
    keys.press("typed without a mouse\u{E007}")?;
    keys.wait_for(
        "the room message is sent",
        "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')] \
           .some(l => l.textContent.includes('typed without a mouse'));",
        Duration::from_secs(10),
    )?;
    // The peer comes in, so that Kim can pick Alice among the room's members.
    peer.type_into(&peer.find("[data-testid=join-input]")?, "keys\u{E007}")?;
    keys.wait_for(
        "Alice is among the members",
        "return [...document.querySelectorAll('button.member')] \
           .some(b => b.textContent.includes('Alice'));",
        Duration::from_secs(10),
    )?;
    keys.tab_to(
        "el.classList.contains('member') && el.textContent.includes('Alice')",
        false,
        40,
    )?;
    keys.press("\u{E007}")?;
    keys.wait_for(
        "the direct conversation is open",
        "return document.querySelector('[data-testid=conversation-title]')?.textContent \
           === '@ Alice';",
        Duration::from_secs(10),
    )?;
    // The composer comes before the members panel: back up to it.
    keys.tab_to(&testid("composer-input"), true, 40)?;
    keys.press("a direct one, by keyboard\u{E007}")?;
    // Alice (with a pointer: she is not the one under test) opens it and reads it.
    peer.wait_for(
        "Alice's sidebar lists the direct conversation with Kim",
        "const b = [...document.querySelectorAll('.sidebar button.room')] \
           .find(b => b.textContent.includes('Kim')); \
         if (b) b.click(); return !!b;",
        Duration::from_secs(10),
    )?;
    peer.wait_for(
        "Alice reads Kim's direct message",
        "return [...document.querySelectorAll('[data-testid=line]')] \
           .some(l => l.textContent.includes('a direct one, by keyboard'));",
        Duration::from_secs(10),
    )?;
    let pointer = keys.script("return window.pointerEvents;")?;
    if pointer != 0 {
        return Err(format!(
            "the keyboard-only check caused {pointer} pointer events"
        ));
    }
    Ok(())
}

/// The chat at a phone's size (390 × 844): nothing is wider than the viewport, the composer
/// spans at least 80 % of it, the room list is a drawer that opens from the header and closes
/// once a room is picked; a room message, a direct message (to a member picked in the members
/// drawer), a rename, and the history after a reload. Screenshots in light and dark.
fn phone_layout_check(
    chrome: &webdriver::Chrome,
    base: &str,
    shots: &Path,
    renamed: &str,
    label: &str,
) -> Result<Vec<PathBuf>> {
    // CSS pixels in both browsers (Firefox's WebDriver sizes windows in them).
    let (width, height) = (390, 844);
    chrome.set_window_size(width, height)?;
    let narrowest = match chrome.engine() {
        webdriver::Engine::Chromium => 400,
        webdriver::Engine::Firefox => 500,
    };
    chrome
        .wait_for(
            "the viewport is phone-sized",
            &format!("return window.innerWidth <= {narrowest};"),
            Duration::from_secs(10),
        )
        .map_err(|err| {
            let seen = chrome.script(
                "return [window.innerWidth, window.innerHeight, window.devicePixelRatio, \
                   window.outerWidth, screen.width];",
            );
            format!("{err} (asked for {width} x {height}; inner, ratio, outer, screen: {seen:?})")
        })?;
    let fits = chrome.script(
        "const w = window.innerWidth; \
         const wide = [...document.querySelectorAll('body *')] \
           .filter(e => e.getBoundingClientRect().width > w + 0.5) \
           .map(e => e.tagName + '.' + e.className); \
         const composer = document.querySelector('.chat-composer').getBoundingClientRect().width; \
         return {scroll: document.documentElement.scrollWidth, width: w, wide, composer};",
    )?;
    let width = fits["width"].as_f64().unwrap_or(0.0);
    if fits["scroll"].as_f64().unwrap_or(f64::MAX) > width
        || fits["wide"].as_array().is_none_or(|wide| !wide.is_empty())
    {
        return Err(format!(
            "at 390 px something is wider than the viewport: {fits}"
        ));
    }
    if fits["composer"].as_f64().unwrap_or(0.0) < 0.8 * width {
        return Err(format!(
            "at 390 px the composer is under 80 % of the width: {fits}"
        ));
    }
    let sidebar_shown = "const r = document.querySelector('.sidebar').getBoundingClientRect(); \
         return getComputedStyle(document.querySelector('.sidebar')).visibility === 'visible' \
           && r.left >= 0 && r.right <= window.innerWidth;";
    // The resize from a wide window slides the room list out (0.2 s): it must be gone once
    // that ends, before anything asks for it.
    chrome
        .wait_for(
            "the room list is out of the way",
            &format!("return !(() => {{ {sidebar_shown} }})();"),
            Duration::from_secs(5),
        )
        .map_err(|_| "at 390 px the room list covers the conversation before it is asked for")?;
    chrome.click(&chrome.find("[data-testid=open-rooms]")?)?;
    chrome.wait_for(
        "the room drawer opens",
        sidebar_shown,
        Duration::from_secs(5),
    )?;
    chrome.type_into(&chrome.find("[data-testid=join-input]")?, "phones\u{E007}")?;
    shown_with_drawer_closed(chrome, "# phones", ".sidebar")?;
    let text = "폰에서 보냈어요";
    send_and_see_sent(chrome, text)?;
    // A direct message: the room with Alice through the room drawer, Alice through the
    // members drawer.
    open_drawer(chrome, "open-rooms", ".sidebar")?;
    click_text(chrome, ".sidebar button.room", "lobby")?;
    shown_with_drawer_closed(chrome, "# lobby", ".sidebar")?;
    open_drawer(chrome, "open-members", ".members")?;
    click_text(chrome, ".members button.member", "Alice")?;
    shown_with_drawer_closed(chrome, "@ Alice", ".members")?;
    let direct = "폰에서 다이렉트";
    send_and_see_sent(chrome, direct)?;
    // A rename, from the room drawer.
    open_drawer(chrome, "open-rooms", ".sidebar")?;
    click_text(chrome, "[data-testid=me]", "")?;
    chrome.type_into(
        &chrome.find("[data-testid=rename-input]")?,
        &format!("\u{E009}a\u{E009}{renamed}\u{E007}"),
    )?;
    chrome.wait_for(
        "the new nickname is shown",
        &format!("return document.querySelector('[data-testid=me]')?.textContent === {renamed:?};"),
        Duration::from_secs(10),
    )?;
    if chrome.script("return Array.isArray(window.cspRefused);")? != serde_json::json!(true) {
        return Err("the phone-size check lost join_chat's watch on the page's CSP".into());
    }
    nothing_refused(chrome, "the chat at phone size")?;
    // History after a reload: the room written in at phone size shows its message again.
    chrome.goto(base)?;
    open_drawer(chrome, "open-rooms", ".sidebar")?;
    chrome.type_into(&chrome.find("[data-testid=join-input]")?, "phones\u{E007}")?;
    chrome.wait_for(
        "the reloaded page shows the message from history",
        &format!(
            "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
             .some(l => l.textContent.includes({text:?}));"
        ),
        Duration::from_secs(20),
    )?;
    chrome.wait_for(
        "the room drawer has closed",
        "return getComputedStyle(document.querySelector('.sidebar')).visibility === 'hidden';",
        Duration::from_secs(10),
    )?;
    let light = shots.join(format!("served-phone{label}.png"));
    chrome.screenshot(&light)?;
    let mut taken = vec![light];
    if chrome.prefer_dark(true)? {
        chrome.wait_for(
            "the page follows the dark colour scheme",
            "return matchMedia('(prefers-color-scheme: dark)').matches;",
            Duration::from_secs(5),
        )?;
        let dark = shots.join(format!("served-phone{label}-dark.png"));
        chrome.screenshot(&dark)?;
        taken.push(dark);
    }
    Ok(taken)
}

/// The app in cluster mode as `cargo xtask cluster` runs it (redis-server and nodes serving
/// the release frontend), used in Chromium: two people, each on another node, in one chat.
fn cluster_app_check() -> Result<String> {
    build_release_frontend()?;
    // The debug backend the native tests built (cluster mode is the same code either way).
    run(tools::cargo().args(["build", "--package", "backend"]))?;
    let backend = target_dir().join("debug").join("backend");
    let shots = workspace_root().join("target").join("xtask");
    let dir = shots.join("cluster-check");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|err| format!("cannot remove {}: {err}", dir.display()))?;
    }
    let cluster = cluster::LocalCluster::start(&backend, 2, None, &dir, &[])?;
    let (first, second) = (
        format!("{}/", cluster.urls[0]),
        format!("{}/", cluster.urls[1]),
    );
    let ana = webdriver::Chrome::start()?;
    let ben = webdriver::Chrome::start()?;
    join_chat(&ana, &first, "Ana")?;
    join_chat(&ben, &second, "Ben")?;
    let line_shown = |text: &str| {
        format!(
            "return [...document.querySelectorAll('[data-testid=line][data-state=sent]')]\
             .some(l => l.textContent.includes({text:?}));"
        )
    };
    for (from, to, text) in [
        (&ana, &ben, "hello from the first node"),
        (&ben, &ana, "안녕, from the second node"),
    ] {
        from.type_into(
            &from.find("[data-testid=composer-input]")?,
            &format!("{text}\u{E007}"),
        )?;
        to.wait_for(
            &format!("{text:?} reaches the other node's browser"),
            &line_shown(text),
            Duration::from_secs(15),
        )?;
    }
    // Presence crosses too: each sees the other typing.
    ana.type_into(&ana.find("[data-testid=composer-input]")?, "…")?;
    ben.wait_for(
        "Ben sees Ana typing on the other node",
        "return document.querySelector('[data-testid=typing]')?.textContent \
         === 'Ana is typing…';",
        Duration::from_secs(10),
    )?;
    let (ana_shot, ben_shot) = (shots.join("cluster-ana.png"), shots.join("cluster-ben.png"));
    ana.screenshot(&ana_shot)?;
    ben.screenshot(&ben_shot)?;
    drop((ana, ben));
    drop(cluster);
    Ok(format!(
        " (Ana on {first}, Ben on {second}: each sees the other's message and typing; \
         target/xtask/cluster-ana.png, cluster-ben.png)"
    ))
}

/// Opens the chat at `base` and enters it as `nick`.
pub(crate) fn join_chat(chrome: &webdriver::Chrome, base: &str, nick: &str) -> Result<()> {
    chrome.goto(base)?;
    // What the served Content-Security-Policy refuses from here on ([`Axe::audit`] checks it):
    // the browser only reports it, and the app then looks wrong in ways no click notices
    // (inline `style` attributes are ignored, so rows drawn at their places pile up).
    chrome.script(
        "window.cspRefused = []; \
         document.addEventListener('securitypolicyviolation', e => window.cspRefused.push( \
           e.effectiveDirective + ': ' + (e.target && e.target.outerHTML \
             ? e.target.outerHTML.slice(0, 160) : e.blockedURI))); \
         return true;",
    )?;
    chrome.type_into(&chrome.find("[data-testid=nick-input]")?, nick)?;
    chrome.click(&chrome.find("[data-testid=nick-submit]")?)?;
    chrome.wait_for(
        &format!("{nick} is in the chat and online"),
        "const s = document.querySelector('[data-testid=status]'); \
         return !!document.querySelector('[data-testid=composer-input]') && !!s \
         && s.textContent.includes('online');",
        Duration::from_secs(20),
    )
}

/// How many CSP reports the browsers sent `backend` (its `chat_csp_reports_total`).
fn csp_reports(backend: &Backend) -> Result<u64> {
    let metrics = backend.get(paths::METRICS)?;
    let text = String::from_utf8_lossy(&metrics.body);
    text.lines()
        .find_map(|line| line.strip_prefix("chat_csp_reports_total "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("{} has no chat_csp_reports_total", paths::METRICS))
}

/// Breaks the page's Content-Security-Policy once on purpose (an inline `style` attribute)
/// and waits until `backend` has heard of it, its count reaching `expected`: proof that this
/// browser reports refusals, so that a count that stays put means nothing else was refused.
fn csp_canary(browser: &webdriver::Chrome, backend: &Backend, expected: u64) -> Result<()> {
    browser.script(
        "const canary = document.createElement('div'); \
         canary.setAttribute('style', 'display: none'); \
         document.body.appendChild(canary); canary.remove(); return true;",
    )?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let count = csp_reports(backend)?;
        if count == expected {
            return Ok(());
        }
        if count > expected || Instant::now() > deadline {
            return Err(format!(
                "the CSP report count is {count} after a canary, not {expected}: the browser \
                 does not report refusals, or something else was refused (see {})",
                backend.log().display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Fails if the Content-Security-Policy refused anything in the page since [`join_chat`]
/// (a page not opened by it, e.g. the Echo page, has nothing to say).
fn nothing_refused(chrome: &webdriver::Chrome, state: &str) -> Result<()> {
    let refused = chrome.script("return window.cspRefused ?? null;")?;
    match refused.as_array() {
        Some(refused) if !refused.is_empty() => Err(format!(
            "the Content-Security-Policy refused parts of {state}: {refused:?}"
        )),
        _ => Ok(()),
    }
}

/// The axe-core accessibility audit (the npm package pinned in `xtask/npm`), injected into a
/// page through WebDriver.
struct Axe {
    source: String,
}

impl Axe {
    fn load() -> Result<Self> {
        let path = tools::axe_script();
        let source = std::fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        Ok(Self { source })
    }

    /// Audits the page as it is now (WCAG 2 A and AA rules, colour contrast included) and
    /// fails on any serious or critical violation, naming each with a few of its elements;
    /// fails too on anything the Content-Security-Policy refused since [`join_chat`].
    fn audit(&self, chrome: &webdriver::Chrome, state: &str) -> Result<String> {
        nothing_refused(chrome, state)?;
        chrome.script(&format!(
            "if (!window.axe) {{ {} }} return true;",
            self.source
        ))?;
        let found = chrome.script_async(
            "const done = arguments[arguments.length - 1]; \
             axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', \
               'wcag21a', 'wcag21aa', 'best-practice']}, resultTypes: ['violations']}) \
               .then(r => done(r.violations \
                 .filter(v => v.impact === 'serious' || v.impact === 'critical') \
                 .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' (' + \
                   v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' ' + n.html.slice(0, 160)).join(', ') + ')'))) \
               .catch(e => done(['axe failed: ' + e]));",
        )?;
        match found.as_array() {
            Some(violations) if violations.is_empty() => Ok(state.to_owned()),
            Some(violations) => Err(format!(
                "accessibility audit of {state}:\n  {}",
                violations
                    .iter()
                    .map(|v| v.as_str().unwrap_or("?"))
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )),
            None => Err(format!(
                "accessibility audit of {state}: unexpected answer {found}"
            )),
        }
    }
}

/// Waits until the Echo page lists `message` as echoed.
/// The Echo page's comparison: 30 echoes over each transport, then its table (median round
/// trip, bytes per message) in words and a screenshot at `shot`.
fn compare_transports(chrome: &webdriver::Chrome, shot: &Path) -> Result<String> {
    const ECHOES: usize = 30;
    /// Rounds of WebSocket echoes at most (see below).
    const ROUNDS: usize = 4;
    // A bare `new WebSocket` in the same page, timed at send and at the message event: what
    // the page's WebSocket figure is read against. One of its round trips comes right before
    // each of the page's, so that both are timed under the same load (a page idle between
    // echoes answers slower than one sending back to back, whatever sends).
    chrome.script_async(
        "const done = arguments[arguments.length - 1]; \
         const ws = new WebSocket(location.origin.replace('http', 'ws') + '/ws/echo'); \
         window.bareRtts = []; \
         window.bareEcho = () => new Promise(resolve => { const sent = performance.now(); \
           ws.onmessage = () => { window.bareRtts.push(performance.now() - sent); resolve(); }; \
           ws.send('bare'); }); \
         ws.onopen = () => done(true);",
    )?;
    let bare_echo = || {
        chrome.script_async(
            "const done = arguments[arguments.length - 1]; window.bareEcho().then(() => done(true));",
        )
    };
    let mut figures = Vec::new();
    for key in ["websocket", "sse", "long-polling"] {
        chrome.click(&chrome.find(&format!("[data-testid=transport-{key}]"))?)?;
        chrome.wait_for(
            &format!("the Echo page is online over {key}"),
            &format!(
                "const s = document.querySelector('[data-testid=status]'); \
                 return !!s && s.dataset.transport === '{key}';"
            ),
            Duration::from_secs(10),
        )?;
        let input = chrome.find("[data-testid=echo-input]")?;
        let rounds = if key == "websocket" { ROUNDS } else { 1 };
        for round in 1..=rounds {
            for i in 0..ECHOES {
                if key == "websocket" {
                    bare_echo()?;
                }
                let text = format!("{key} {round}.{i}");
                chrome.type_into(&input, &format!("{text}\u{E007}"))?;
                wait_for_echo(chrome, &text)?;
            }
            if key != "websocket" {
                break;
            }
            // Within 2x of the bare socket (issue #34), with slack for the clock's
            // granularity (Chromium coarsens performance.now() to 0.1 ms). Another round
            // when not, both medians then over all the echoes: noise only makes a round
            // slower, while a page timing its own rendering fails every round.
            let medians = chrome.script(
                "const page = Number(document.querySelector('[data-testid=stats-websocket] \
                   [data-testid=median]').dataset.us) / 1000; \
                 const bare = [...window.bareRtts].sort((a, b) => a - b); \
                 return [page, bare[Math.floor(bare.length / 2)]];",
            )?;
            let median = |i: usize| medians.get(i).and_then(serde_json::Value::as_f64);
            let (Some(page), Some(bare)) = (median(0), median(1)) else {
                return Err(format!("no medians to compare: {medians}"));
            };
            if page <= 2.0 * bare + 0.2 {
                figures.push(format!(
                    "a bare new WebSocket in the same page, interleaved: median {bare:.2} ms \
                     (the page's: {page:.2} ms)"
                ));
                break;
            }
            if round == rounds {
                return Err(format!(
                    "the Echo page's WebSocket median is {page:.2} ms, a bare socket's in the \
                     same page {bare:.2} ms: more than 2x after {rounds} rounds of {ECHOES}"
                ));
            }
        }
        let row = chrome.script(&format!(
            "const r = document.querySelector('[data-testid=stats-{key}]'); \
             return [r.querySelector('[data-testid=count]').textContent, \
                     r.querySelector('[data-testid=median]').textContent, \
                     r.querySelector('[data-testid=bytes]').textContent].join(' / ');"
        ))?;
        figures.push(format!("{key}: {}", row.as_str().unwrap_or("?")));
    }
    chrome.screenshot(shot)?;
    Ok(figures.join("; "))
}

fn wait_for_echo(chrome: &webdriver::Chrome, message: &str) -> Result<()> {
    chrome.wait_for(
        &format!("{message:?} is shown as echoed"),
        &format!(
            "return [...document.querySelectorAll('[data-testid=echo-entry][data-state=echoed]')]\
             .some(e => e.textContent.includes({message:?}));"
        ),
        Duration::from_secs(10),
    )
}

/// Size of `bytes` after `gzip -9`, if gzip is available.
fn gzipped_len(bytes: &[u8]) -> Option<usize> {
    use std::io::Write as _;
    let mut gzip = tools::command("gzip")
        .arg("-9c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = gzip.stdin.take()?;
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let output = gzip.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    Some(output.stdout.len())
}
