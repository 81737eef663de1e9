//! `cargo xtask bench`: runs the benchmarks in release mode and writes their tables, with the
//! date and the machine, to `bench/results/`.
//!
//! Today that is the message store's group commit against one transaction per message
//! (`backend/benches/store.rs`).

use std::process::{Command, Stdio};

use crate::{Result, describe, tools, workspace_root};

/// Runs every benchmark and saves the report.
pub fn bench() -> Result<()> {
    let table =
        capture(tools::cargo().args(["bench", "--package", "backend", "--bench", "store"]))?;
    let report = format!(
        "# Message store: group commit against one transaction per message\n\n\
         {machine}\n\
         W writers each send a message and wait for its acknowledgement (stored with \
         `synchronous=FULL` in WAL mode) before sending the next. Group commit puts every \
         append waiting in the store's queue into one transaction; the baseline commits each \
         message on its own. `(tx)` is the number of transactions. Measured in one run by \
         `cargo xtask bench` (`backend/benches/store.rs`).\n\n{table}",
        machine = machine()
    );
    let dir = workspace_root().join("bench").join("results");
    std::fs::create_dir_all(&dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    let path = dir.join("history-store.md");
    std::fs::write(&path, &report)
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    println!("{report}\nxtask: written to {}", path.display());
    Ok(())
}

/// Runs `command` from the repository root and returns its standard output.
fn capture(command: &mut Command) -> Result<String> {
    let shown = describe(command);
    println!("$ {shown}");
    let output = command
        .current_dir(workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("cannot run `{shown}`: {err}"))?;
    if !output.status.success() {
        return Err(format!("`{shown}` failed ({})", output.status));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Date, CPU, cores, kernel and the file system the benchmark's temporary files live on.
fn machine() -> String {
    let line = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let temp = std::env::temp_dir();
    let filesystem = line("df", &["--output=fstype", &temp.to_string_lossy()])
        .lines()
        .last()
        .unwrap_or("unknown")
        .to_owned();
    format!(
        "- Date: {}\n- Machine: {} cores, {cpu}, {}\n- Files: {} ({filesystem})\n- {}\n",
        line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        line("nproc", &[]),
        line("uname", &["-sr"]),
        temp.display(),
        line("rustc", &["--version"]),
    )
}
