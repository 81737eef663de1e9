//! Finds the tools the build and tests need, and installs whichever is missing: the exact
//! versions and steps come from `../shared/TOOLCHAIN.md` (checked on this kind of machine).

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use crate::{Result, run, workspace_root};

/// trunk 0.22 needs a newer rustc than this machine's 1.95; 0.21.14 is the last that builds.
const TRUNK_VERSION: &str = "0.21.14";
/// The fuzzing driver.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// binaryen's wasm-opt, as pinned in xtask/npm/package.json.
const BINARYEN_VERSION: &str = "132";
/// Pinned so a fresh machine gets the driver verified with Firefox ESR here.
const GECKODRIVER_VERSION: &str = "0.37.1";
/// cargo-mutants, for `cargo xtask mutants` (27.x, as issue #12 asks).
pub const CARGO_MUTANTS_VERSION: &str = "27.1.0";
/// cargo-modules, whose module graph the no-import-loops check reads (0.27 is the last whose
/// rust-version this machine's 1.95 meets).
const CARGO_MODULES_VERSION: &str = "0.27.0";
/// Where Debian's packages put the browsers and drivers (and what `webdriver.json` names).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's ChromeDriver, matching its Chromium.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Firefox ESR.
pub const FIREFOX: &str = "/usr/bin/firefox-esr";

/// A command for `program` whose PATH has cargo's install directory first, so a tool that
/// `cargo install` just put there is found even if the user's shell never added it.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env("PATH", search_path());
    command
}

/// PATH with our npm tools first (so our wasm-opt wins over an older system one), then cargo's
/// install directory, then the caller's PATH.
fn search_path() -> std::ffi::OsString {
    let path = env::var_os("PATH").unwrap_or_default();
    let ours = [npm_bin(), cargo_home().join("bin")];
    let theirs = env::split_paths(&path).filter(|dir| !ours.contains(dir));
    let dirs: Vec<PathBuf> = ours.iter().cloned().chain(theirs).collect();
    env::join_paths(dirs).unwrap_or(path)
}

/// `xtask/npm`: build tools from the npm registry, pinned by its package-lock.json.
fn npm_dir() -> PathBuf {
    workspace_root().join("xtask").join("npm")
}

fn npm_bin() -> PathBuf {
    npm_dir().join("node_modules").join(".bin")
}

fn cargo_home() -> PathBuf {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// Reads `stdout` on a thread until a line yields `Some` from `parse`, and returns that within
/// `timeout` (`None` if it never came). The thread keeps draining the pipe afterwards, so a
/// child that goes on printing never blocks on a full pipe.
pub fn await_stdout_line<T: Send + 'static>(
    stdout: std::process::ChildStdout,
    parse: fn(&str) -> Option<T>,
    timeout: std::time::Duration,
) -> Option<T> {
    use std::io::BufRead as _;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(std::io::Result::ok)
        {
            if let Some(found) = parse(&line) {
                // The receiver may have given up; nothing else to do then.
                let _ = tx.send(found);
            }
        }
    });
    rx.recv_timeout(timeout).ok()
}

/// The `cargo` that runs us (so a toolchain override is respected).
///
/// Without incremental compilation: the xtask's runs are whole builds, for which incremental
/// artifacts only cost disk (2.6 GB of a cold `cargo xtask test`'s 7.5 GB, and CI's disk once
/// filled up in the native tests).
pub fn cargo() -> Command {
    let mut cargo = command(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.env("CARGO_INCREMENTAL", "0");
    cargo
}

/// First line of `program --version`, or `None` if it does not run.
fn version_of(program: &str) -> Option<String> {
    let output = command(program).arg("--version").output().ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    })
}

/// Installs `krate` at `version` with `cargo install` unless `program --version` already says
/// that version.
fn ensure_cargo_tool(program: &str, krate: &str, version: &str, locked: bool) -> Result<()> {
    if let Some(found) = version_of(program)
        && found.split_whitespace().any(|word| word == version)
    {
        return Ok(());
    }
    println!("xtask: installing {krate} {version} (cargo install; one-time, takes minutes)");
    let mut install = cargo();
    install.args(["install", krate, "--version", version]);
    if locked {
        install.arg("--locked");
    }
    run(&mut install)
}

/// The wasm32 target of the one toolchain here (RUSTUP_AUTO_INSTALL=0 means a
/// rust-toolchain.toml would not fetch it by itself).
pub fn ensure_wasm_target() -> Result<()> {
    let output = command("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match output {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("wasm32-unknown-unknown") => {
            Ok(())
        }
        Ok(_) => run(command("rustup").args(["target", "add", "wasm32-unknown-unknown"])),
        Err(err) => Err(format!(
            "rustup not found ({err}); install the wasm32-unknown-unknown target for your toolchain"
        )),
    }
}

/// wasm-bindgen-cli at exactly the version of the `wasm-bindgen` crate in Cargo.lock (the CLI
/// refuses a wasm file built by any other version). Gives `wasm-bindgen-test-runner` too.
pub fn ensure_wasm_bindgen() -> Result<()> {
    let version = locked_version("wasm-bindgen")?;
    // Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &version, false)
}

/// trunk, the frontend bundler.
pub fn ensure_trunk() -> Result<()> {
    ensure_cargo_tool("trunk", "trunk", TRUNK_VERSION, true)
}

/// cargo-fuzz, for `cargo xtask fuzz`.
pub fn ensure_cargo_fuzz() -> Result<()> {
    ensure_cargo_tool("cargo-fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION, true)
}

/// cargo-mutants, for `cargo xtask mutants`.
pub fn ensure_cargo_mutants() -> Result<()> {
    ensure_cargo_tool(
        "cargo-mutants",
        "cargo-mutants",
        CARGO_MUTANTS_VERSION,
        true,
    )
}

/// cargo-modules, for the no-import-loops check ([`crate::cycles`]).
pub fn ensure_cargo_modules() -> Result<()> {
    ensure_cargo_tool(
        "cargo-modules",
        "cargo-modules",
        CARGO_MODULES_VERSION,
        true,
    )
}

/// geckodriver, for the Firefox run of the browser suite.
pub fn ensure_geckodriver() -> Result<PathBuf> {
    ensure_cargo_tool("geckodriver", "geckodriver", GECKODRIVER_VERSION, true)?;
    Ok(cargo_home().join("bin").join("geckodriver"))
}

/// wasm-opt, which trunk runs on the release wasm: binaryen from npm, pinned in
/// `xtask/npm/package-lock.json`. Not Debian's binaryen 108: its output of a Rust 1.95 build
/// (reference types on by default) fails in the browser with "WebAssembly.Table.set(): Argument
/// 1 is invalid", whatever feature flags it is given.
pub fn ensure_wasm_opt() -> Result<()> {
    let wanted = format!("version {BINARYEN_VERSION}");
    if version_of("wasm-opt").is_some_and(|found| found.contains(&wanted))
        && npm_bin().join("wasm-opt").is_file()
        && axe_script().is_file()
    {
        return Ok(());
    }
    ensure_node()?;
    println!("xtask: installing binaryen {BINARYEN_VERSION} and axe-core (npm ci in xtask/npm)");
    run(command("npm")
        .args(["ci", "--no-audit", "--no-fund", "--prefix"])
        .arg(npm_dir()))
}

/// axe-core's browser script (the accessibility audit of the release check), installed with
/// wasm-opt by the same `npm ci` and pinned by the same lockfile.
pub fn axe_script() -> PathBuf {
    npm_dir()
        .join("node_modules")
        .join("axe-core")
        .join("axe.min.js")
}

/// Node.js and npm (on the machine already; from Debian otherwise).
pub fn ensure_node() -> Result<()> {
    ensure_apt(&[("node", "nodejs"), ("npm", "npm")])
}

/// Chromium and ChromeDriver from Debian (a test tool's own browser download fails here).
pub fn ensure_chromium() -> Result<()> {
    ensure_apt(&[(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")])
}

/// Where Debian's redis-server package puts the server.
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// redis-server from Debian, for cluster mode: its tests start their own servers, and
/// `cargo xtask cluster` one for the app (never the package's system service).
pub fn ensure_redis() -> Result<()> {
    ensure_apt(&[(REDIS_SERVER, "redis-server")])
}

/// Where Debian's fonts-noto-cjk puts its sans-serif font.
pub const CJK_FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// Where Debian's fonts-noto-color-emoji puts its font.
pub const EMOJI_FONT: &str = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf";

/// Korean, Japanese and Chinese fonts (Noto CJK) and color emoji (Noto), from Debian: without
/// them the browsers draw Hangul and reactions as boxes, and the screenshots of the served app
/// could not show that they render.
pub fn ensure_fonts() -> Result<()> {
    ensure_apt(&[
        (CJK_FONT, "fonts-noto-cjk"),
        (EMOJI_FONT, "fonts-noto-color-emoji"),
    ])
}

/// `systemd-analyze` (Debian's systemd), for the check of the documented unit file.
pub fn ensure_systemd_analyze() -> Result<()> {
    ensure_apt(&[("systemd-analyze", "systemd")])
}

/// Firefox ESR from Debian.
pub fn ensure_firefox() -> Result<()> {
    ensure_apt(&[(FIREFOX, "firefox-esr")])
}

/// Installs the Debian packages whose program (a path, or a name looked up on PATH) is missing.
fn ensure_apt(wanted: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(program, _)| !is_installed(program))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "missing Debian packages: {list}. Install them with `sudo apt-get install -y {list}` \
             (xtask installs them itself only when running as root)",
            list = missing.join(" ")
        ));
    }
    println!("xtask: installing {} (apt-get)", missing.join(" "));
    run(command("apt-get").args(["update", "-q"]))?;
    run(command("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        // Packages with a service (redis-server) must not start it: our tests and tools start
        // their own servers on ports of their own.
        .env("RUNLEVEL", "1")
        .args(["install", "-y", "-q"])
        .args(&missing))
}

fn is_installed(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    env::split_paths(&search_path()).any(|dir| dir.join(program).is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The version of `package` that Cargo.lock pins (the first, if several).
fn locked_version(package: &str) -> Result<String> {
    let lock_path = workspace_root().join("Cargo.lock");
    let lock = std::fs::read_to_string(&lock_path)
        .map_err(|err| format!("cannot read {}: {err}", lock_path.display()))?;
    parse_locked_version(&lock, package)
        .ok_or_else(|| format!("{package} is not in {}", lock_path.display()))
}

fn parse_locked_version(lock: &str, package: &str) -> Option<String> {
    let name_line = format!("name = \"{package}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == name_line {
            let version = lines.next()?.trim().strip_prefix("version = \"")?;
            return Some(version.trim_end_matches('"').to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exact_package_not_a_prefix() {
        let lock = "[[package]]\nname = \"wasm-bindgen-futures\"\nversion = \"0.4.1\"\n\n\
                    [[package]]\nname = \"wasm-bindgen\"\nversion = \"0.2.130\"\n";
        assert_eq!(
            parse_locked_version(lock, "wasm-bindgen").as_deref(),
            Some("0.2.130")
        );
        assert_eq!(parse_locked_version(lock, "trunk"), None);
    }

    #[test]
    fn the_workspace_lock_pins_wasm_bindgen() {
        let version = locked_version("wasm-bindgen").unwrap();
        assert!(version.starts_with("0.2."), "{version}");
    }
}
