//! W7, the browser benchmark (issue #34): the release app, served by our backend, in headless
//! Chromium and Firefox, receiving and showing what a busy room sends. Ours only (the peers
//! have no app). Figures go to `bench/results/browser.md`.
//!
//! - per incoming message: a burst of [`BURST`] messages into the open room with 100, 1,000
//!   and 10,000 lines read (the app holds at most 2,000), main-thread time per message: a
//!   probe that posts itself a message over a `MessageChannel` (no timer clamping) runs
//!   through the burst, and every gap of more than a millisecond between two of its turns
//!   is time the page spent on something else, the burst's messages (received, decoded,
//!   drawn, laid out, painted); their sum from the first line drawn to the last, divided
//!   among the messages. (Not the time from first to last: that is the debug server's pace.)
//! - long tasks: main-thread stalls over 50 ms (a `setTimeout(0)` loop's gaps: works in both
//!   browsers) while the room gets 20 messages a second with about 200 people a second coming
//!   and going (`bench --churn`);
//! - memory: the wasm memory and (Chromium only) the JS heap with 1,000 lines loaded, then
//!   after reading up through 50,000;
//! - opening a conversation of 5,000 loaded lines: from the click on it in the sidebar to
//!   its newest line drawn.
//!
//! `cargo xtask bench` runs it (`cargo xtask bench browser`: only it); `W7_DIST=DIR` serves
//! another build of the app (e.g. an older commit's `dist/`, for before-and-after figures),
//! `W7_BROWSERS=chromium` measures in one browser only. A measurement that does not finish in its
//! time is reported as such, not waited for.

use std::{
    fmt::Write as _,
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    Result, build_release_frontend, run,
    server::Backend,
    target_dir, tools,
    webdriver::{Chrome, Engine},
    workspace_root,
};

/// Messages per burst.
const BURST: usize = 30;
/// The rooms (name, lines), filled before the browsers come.
const ROOMS: [(&str, usize); 5] = [
    ("w7-100", 100),
    ("w7-1000", 1_000),
    ("w7-10000", 10_000),
    ("w7-5000", 5_000),
    ("w7-50000", 50_000),
];
/// The room kept busy for the long-task measurement, and for how long (s).
const CHURN_ROOM: &str = "w7-churn";
const CHURN_SECS: u64 = 10;
/// The most one measurement may take.
const PATIENCE: Duration = Duration::from_secs(90);

/// The figures of one browser.
#[derive(Default)]
struct Figures {
    /// Main-thread time per incoming message (ms) with 100, 1,000, 10,000 lines; `None`: did
    /// not finish.
    per_message: Vec<Option<f64>>,
    /// Stalls over 50 ms during the churn, and the longest (ms).
    long_tasks: Option<(usize, f64)>,
    /// Wasm memory and JS heap (MB) with 1,000 lines and after 50,000.
    memory: [Option<(f64, Option<f64>)>; 2],
    /// Opening the conversation of 5,000 lines (ms).
    open: Option<f64>,
}

/// Runs W7 in both browsers and writes `bench/results/browser.md`.
pub fn bench() -> Result<()> {
    let dist = match std::env::var_os("W7_DIST") {
        Some(dist) => std::path::PathBuf::from(dist),
        None => {
            build_release_frontend()?;
            workspace_root().join("dist")
        }
    };
    let dist_arg = dist.to_string_lossy().into_owned();
    run(tools::cargo().args(["build", "--package", "backend", "--package", "bench"]))?;
    let bench = target_dir().join("debug").join("bench");
    let backend = Backend::start(
        "w7",
        &[
            &[
                "--static-dir",
                &dist_arg,
                "--max-connections-per-ip",
                "0",
                "--max-handshakes-per-ip",
                "0",
            ][..],
            &crate::LONG_ROOM_FLAGS,
        ]
        .concat(),
    )?;
    for (room, lines) in ROOMS.iter().chain([&(CHURN_ROOM, 200)]) {
        run(Command::new(&bench).args(["--fill", &backend.addr, room, &lines.to_string()]))?;
    }
    let base = format!("http://{}/", backend.addr);
    let mut report = String::new();
    // `W7_BROWSERS=chromium` (or `firefox`): one browser only.
    let only = std::env::var("W7_BROWSERS").unwrap_or_default();
    for engine in [Engine::Chromium, Engine::Firefox] {
        let name = match engine {
            Engine::Chromium => "chromium",
            Engine::Firefox => "firefox",
        };
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let figures = measure(engine, &base, &backend.addr, &bench)?;
        report.push_str(&table(engine, &figures));
    }
    backend.stop()?;
    let machine = capture_machine()?;
    let built = match std::env::var_os("W7_DIST") {
        Some(_) => format!("the app in `{}`", dist.display()),
        None => "this tree's release app".to_owned(),
    };
    let text = format!(
        "# W7: the browser keeping up with a busy room\n\n{machine}\n\
         Measured by `cargo xtask bench` (`xtask/src/browser_bench.rs`) on {built}, headless, \
         1280 × 900, served by a debug backend on this machine (the server is not what is \
         measured). Bursts of {BURST} messages; history pages of 200. See the module's \
         documentation for how each figure is taken.\n\n{report}"
    );
    let path = workspace_root()
        .join("bench")
        .join("results")
        .join("browser.md");
    std::fs::write(&path, &text)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    println!("{text}\nxtask: written to {}", path.display());
    Ok(())
}

/// The machine, as the load generator describes it for every report.
fn capture_machine() -> Result<String> {
    let output = Command::new(target_dir().join("debug").join("bench"))
        .arg("--machine")
        .output()
        .map_err(|err| format!("cannot run bench --machine: {err}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn measure(engine: Engine, base: &str, addr: &str, bench: &std::path::Path) -> Result<Figures> {
    let mut figures = Figures::default();
    let browser = Chrome::start_with(engine, None, &[])?;
    browser.set_window_size(1280, 900)?;

    // Memory, in a fresh page: 1,000 lines, then 50,000 read through.
    crate::app_checks::join_chat(&browser, base, "w7memory")?;
    for (slot, (room, lines)) in [(0, ROOMS[1]), (1, ROOMS[4])] {
        open_room(&browser, room)?;
        if load_all(&browser)? && to_bottom(&browser, lines).is_ok() {
            figures.memory[slot] = answered(memory(&browser), "memory");
        }
    }

    // Per incoming message, in a fresh page (as someone new: the page remembers a nickname).
    browser.script("localStorage.clear(); return true;")?;
    crate::app_checks::join_chat(&browser, base, "w7reader")?;
    for (room, lines) in &ROOMS[..3] {
        open_room(&browser, room)?;
        let loaded = load_all(&browser)? && to_bottom(&browser, *lines).is_ok();
        figures.per_message.push(if loaded {
            burst(&browser, addr, room, bench)?
        } else {
            None
        });
    }

    // Long tasks while the room churns.
    open_room(&browser, CHURN_ROOM)?;
    browser.script(
        "window.w7gaps = []; window.w7stop = false; let last = performance.now(); \
         const tick = () => { const now = performance.now(); \
           if (now - last > 50) { window.w7gaps.push(now - last); } last = now; \
           if (!window.w7stop) { setTimeout(tick, 0); } }; \
         tick(); return true;",
    )?;
    run(Command::new(bench).args(["--churn", addr, CHURN_ROOM, &CHURN_SECS.to_string()]))?;
    let gaps = browser.script("window.w7stop = true; return window.w7gaps;")?;
    let gaps: Vec<f64> = gaps
        .as_array()
        .map(|gaps| gaps.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    figures.long_tasks = Some((gaps.len(), gaps.iter().copied().fold(0.0, f64::max)));

    // Opening a conversation of 5,000 loaded lines, from another one.
    let (room, lines) = ROOMS[3];
    open_room(&browser, room)?;
    if load_all(&browser)? && to_bottom(&browser, lines).is_ok() {
        open_room(&browser, ROOMS[0].0)?;
        // Drawn: seen by a MutationObserver (no animation frames needed: a headless page
        // may get none for a while); not drawn in 25 s: `null`.
        let opened = browser.script_async(&format!(
            "const done = arguments[arguments.length - 1]; \
             const entry = [...document.querySelectorAll('[data-testid=rooms] .room')] \
               .find(b => b.textContent.includes('{room}')); \
             const drawn = () => [...document.querySelectorAll('[data-testid=line] .bubble')] \
               .some(b => b.textContent.startsWith('line {lines:05}')); \
             let finished = false; \
             const finish = (v) => {{ if (!finished) {{ finished = true; watch.disconnect(); done(v); }} }}; \
             const watch = new MutationObserver(() => {{ \
               if (drawn()) {{ finish(performance.now() - start); }} }}); \
             watch.observe(document.body, {{ childList: true, subtree: true, characterData: true }}); \
             setTimeout(() => finish(null), 25000); \
             const start = performance.now(); entry.click(); \
             if (drawn()) {{ finish(performance.now() - start); }}"
        ));
        figures.open = answered(opened, "opening").and_then(|v| v.as_f64());
    }
    Ok(figures)
}

/// A measurement's script answer, or `None` when the page did not answer in WebDriver's time
/// (an app busy for half a minute): reported as "did not finish", said here.
fn answered<T>(answer: Result<T>, what: &str) -> Option<T> {
    answer
        .map_err(|err| println!("xtask: W7: {what}: {err}"))
        .ok()
}

/// Opens `room` (joins it from the sidebar's field, which also shows it).
fn open_room(browser: &Chrome, room: &str) -> Result<()> {
    browser.type_into(&browser.find("[data-testid=join-input]")?, room)?;
    browser.click(&browser.find("[data-testid=join-submit]")?)?;
    browser.wait_for(
        &format!("{room} is shown"),
        &format!(
            "const t = document.querySelector('[data-testid=conversation-title]'); \
             return !!t && t.textContent.includes('{room}') \
               && !!document.querySelector('[data-testid=line]');"
        ),
        Duration::from_secs(20),
    )
}

/// Loads every line of the open room (scrolled to the top, and "load older" clicked where
/// the app has the button), until its first line is drawn; false if that took too long.
fn load_all(browser: &Chrome) -> Result<bool> {
    let started = Instant::now();
    let loaded = browser.wait_for(
        "the first line is loaded",
        "const l = document.querySelector('[data-testid=messages]'); \
         l.scrollTop = 0; l.dispatchEvent(new Event('scroll')); \
         const more = document.querySelector('[data-testid=load-older]'); \
         if (more && !more.disabled) { more.click(); } \
         return [...l.querySelectorAll('[data-testid=line] .bubble')] \
           .some(b => b.textContent.startsWith('line 00001'));",
        PATIENCE,
    );
    match loaded {
        Ok(()) => Ok(true),
        Err(err) if started.elapsed() >= PATIENCE => {
            println!("xtask: W7: {err}");
            Ok(false)
        }
        Err(err) => Err(err),
    }
}

/// Scrolls the open room to its newest line (`lines`) and waits until it is drawn.
fn to_bottom(browser: &Chrome, lines: usize) -> Result<()> {
    browser.wait_for(
        "the newest line is drawn",
        &format!(
            "const l = document.querySelector('[data-testid=messages]'); \
             l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); \
             return [...l.querySelectorAll('[data-testid=line] .bubble')] \
               .some(b => b.textContent.startsWith('line {lines:05}'));"
        ),
        PATIENCE,
    )
}

/// A burst of [`BURST`] messages into `room` (open, at its bottom): the page's main-thread
/// time per message (ms, see the module's documentation); `None` if they were not all drawn
/// in time.
fn burst(browser: &Chrome, addr: &str, room: &str, bench: &std::path::Path) -> Result<Option<f64>> {
    // First appearances of each "burst N" line, from the list's own records (an app that
    // draws its list again adds them again: only the first time counts).
    browser.script(
        "const l = document.querySelector('[data-testid=messages]'); \
         window.w7seen = new Map(); \
         if (window.w7obs) { window.w7obs.disconnect(); } \
         window.w7obs = new MutationObserver(records => { const now = performance.now(); \
           for (const r of records) { for (const n of r.addedNodes) { \
             if (n.nodeType !== 1) { continue; } \
             for (const b of n.matches('.bubble') ? [n] : n.querySelectorAll('.bubble')) { \
               const t = b.textContent; \
               if (t.startsWith('burst ') && !window.w7seen.has(t)) { window.w7seen.set(t, now); } \
             } } } }); \
         window.w7obs.observe(l, { childList: true, subtree: true });          window.w7busy = []; window.w7probing = true;          const channel = new MessageChannel(); let last = performance.now();          channel.port1.onmessage = () => { const now = performance.now();            if (now - last > 1) { window.w7busy.push([last, now]); } last = now;            if (window.w7probing) { channel.port2.postMessage(0); } };          channel.port2.postMessage(0); return true;",
    )?;
    run(Command::new(bench).args(["--fill", addr, room, &BURST.to_string(), "burst"]))?;
    let all = browser.wait_for(
        "the burst is drawn",
        &format!("return window.w7seen.size >= {BURST};"),
        PATIENCE,
    );
    // The busy time from just before the first line was drawn (its message came in then) to
    // a moment after the last one's (its layout and paint come after it is in the DOM): gaps
    // overlapping that window, clipped to it. Read 300 ms later, once the probe has seen the
    // last ones.
    let times = browser.script_async(
        "const done = arguments[arguments.length - 1]; setTimeout(() => { \
           window.w7obs.disconnect(); window.w7probing = false; \
           const t = [...window.w7seen.values()]; \
           const from = Math.min(...t) - 50, to = Math.max(...t) + 100; let busy = 0; \
           for (const [a, b] of window.w7busy) { \
             const s = Math.max(a, from), e = Math.min(b, to); if (e > s) { busy += e - s; } } \
           done([t.length, busy]); }, 300);",
    );
    let Some(times) = answered(times, "the burst") else {
        return Ok(None);
    };
    let figure = |i: usize| times.get(i).and_then(Value::as_f64);
    Ok(match (all, figure(0), figure(1)) {
        (Ok(()), Some(n), Some(busy)) if n >= 1.0 => Some(busy / n),
        _ => None,
    })
}

/// The wasm memory and, where the browser tells (Chromium), the JS heap in use (MB).
fn memory(browser: &Chrome) -> Result<(f64, Option<f64>)> {
    // The app's init, called again, returns the wasm exports it already has, and with them
    // the memory: trunk's page keeps the module as `window.wasmBindings` (importing the
    // module again from the script, as before, never settles in Firefox's WebDriver).
    let figures = browser.script_async(
        "const done = arguments[arguments.length - 1]; \
         Promise.resolve(window.wasmBindings.default()).then(w => done([ \
           w.memory.buffer.byteLength / 1048576, \
           performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null]), \
           e => done(['failed', String(e)]));",
    )?;
    let wasm = figures
        .get(0)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("no wasm memory figure: {figures}"))?;
    Ok((wasm, figures.get(1).and_then(Value::as_f64)))
}

/// One browser's table.
fn table(engine: Engine, figures: &Figures) -> String {
    let ms = |v: Option<f64>| v.map_or("did not finish".to_owned(), |v| format!("{v:.2} ms"));
    let mb = |v: Option<(f64, Option<f64>)>| {
        v.map_or("did not finish".to_owned(), |(wasm, heap)| {
            let heap = heap.map_or("n/a".to_owned(), |h| format!("{h:.1} MB"));
            format!("wasm {wasm:.1} MB, JS heap {heap}")
        })
    };
    let mut out = format!(
        "## {}\n\n| figure | value |\n|---|---|\n",
        match engine {
            Engine::Chromium => "Chromium",
            Engine::Firefox => "Firefox",
        }
    );
    for (lines, figure) in ["100", "1,000", "10,000"].iter().zip(&figures.per_message) {
        let _ = writeln!(
            out,
            "| main-thread time per incoming message, {lines} lines read | {} |",
            ms(*figure)
        );
    }
    let _ = writeln!(
        out,
        "| stalls over 50 ms, {CHURN_SECS} s at 20 messages/s with ~200 joins and leaves/s | {} |",
        figures
            .long_tasks
            .map_or("did not finish".to_owned(), |(n, longest)| {
                format!("{n} (longest {longest:.0} ms)")
            })
    );
    let _ = writeln!(
        out,
        "| memory, 1,000 lines loaded | {} |",
        mb(figures.memory[0])
    );
    let _ = writeln!(
        out,
        "| memory, after reading through 50,000 | {} |",
        mb(figures.memory[1])
    );
    let _ = writeln!(
        out,
        "| opening a conversation of 5,000 loaded lines | {} |\n",
        ms(figures.open)
    );
    out
}
