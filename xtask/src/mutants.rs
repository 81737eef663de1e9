//! `cargo xtask mutants`: mutation testing with cargo-mutants over the code whose rules live
//! in pure functions and are meant to be pinned by fast tests: the `shared` crate (protocol,
//! validators; its unit, golden and corpus tests), the frontend's pure state (`chat_state/`,
//! `echo_log.rs`, the reconnect backoff in `client.rs`; its native tests) and the backend's
//! room registry (`rooms.rs`; the backend's unit tests). Optional, like `fuzz`: it takes tens
//! of minutes and is not part of `cargo xtask test`.
//!
//! Each scope runs in cargo-mutants' own copy of the tree (`target/mutants/<scope>/`); the
//! summary, with every mutant no test caught, is written to `docs/MUTANTS.md`. Mutants that
//! cannot be caught (equivalent ones) are excluded in `.cargo/mutants.toml`, each with the
//! reason, which the summary repeats.

use std::{fmt::Write as _, path::Path};

use crate::{Result, run, tools, workspace_root};

/// What one cargo-mutants run covers.
struct Scope {
    name: &'static str,
    package: &'static str,
    /// Files to mutate (empty: the whole package).
    files: &'static [&'static str],
    /// Arguments for `cargo test` after `--`.
    test_args: &'static [&'static str],
    why: &'static str,
}

const SCOPES: [Scope; 3] = [
    Scope {
        name: "shared",
        package: "shared",
        files: &[],
        test_args: &[],
        why: "the wire types, validators and their checks, by `cargo test -p shared`",
    },
    Scope {
        name: "frontend",
        package: "frontend",
        files: &[
            "frontend/src/chat_state/*.rs",
            "frontend/src/echo_log.rs",
            "frontend/src/client.rs",
        ],
        test_args: &[],
        why: "the app's pure state and the reconnect backoff, by the native tests \
              (`cargo test -p frontend`; the views are covered by the browser suite)",
    },
    Scope {
        name: "rooms",
        package: "backend",
        files: &["backend/src/rooms.rs"],
        test_args: &["--lib"],
        why: "the membership rules, by the backend's unit tests (`cargo test -p backend --lib`)",
    },
];

/// Runs every scope and writes `docs/MUTANTS.md`.
pub fn mutants() -> Result<()> {
    tools::ensure_cargo_mutants()?;
    let root = workspace_root();
    let mut summary = String::new();
    let mut missed_total = 0;
    for scope in &SCOPES {
        let output = root.join("target").join("mutants").join(scope.name);
        std::fs::create_dir_all(&output)
            .map_err(|err| format!("cannot create {}: {err}", output.display()))?;
        println!("\n==> mutants: {} ({})", scope.name, scope.why);
        let mut command = tools::cargo();
        command
            .current_dir(&root)
            .args(["mutants", "--package", scope.package, "--output"])
            .arg(&output);
        for file in scope.files {
            command.args(["--file", file]);
        }
        if !scope.test_args.is_empty() {
            command.arg("--").args(scope.test_args);
        }
        // cargo-mutants exits non-zero when a mutant is missed; the summary says which.
        if let Err(err) = run(&mut command) {
            println!("xtask: {err}");
        }
        let result = read_outcomes(&output.join("mutants.out"))?;
        if result.caught == 0 && result.missed.is_empty() {
            // The unmutated tree failed its own tests (or nothing matched): no verdict at all.
            return Err(format!(
                "{}: no mutant was tested; see {}",
                scope.name,
                output.join("mutants.out").join("debug.log").display()
            ));
        }
        missed_total += result.missed.len();
        write_scope(&mut summary, scope, &result);
    }
    let exclusions = std::fs::read_to_string(root.join(".cargo").join("mutants.toml"))
        .unwrap_or_else(|_| "(none)".to_owned());
    let doc = format!(
        "# Mutation testing\n\n\
         `cargo xtask mutants` (cargo-mutants {}) changes the code one small way at a time (a \
         condition negated, a return value replaced, an operator swapped) and runs the tests: \
         a mutant no test notices is a behaviour nothing checks. This file is written by it; \
         the figures are from the last run.\n\n{summary}\
         ## Excluded on purpose\n\n\
         Mutants that cannot change behaviour, or whose effect only the browser suite or the \
         integration tests can see, are excluded in `.cargo/mutants.toml`, each with its \
         reason:\n\n```toml\n{}\n```\n",
        tools::CARGO_MUTANTS_VERSION,
        exclusions.trim_end()
    );
    let path = root.join("docs").join("MUTANTS.md");
    std::fs::write(&path, doc).map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    println!("\nmutants: summary in {}", path.display());
    if missed_total > 0 {
        return Err(format!(
            "{missed_total} mutants missed: kill each with a test or explain it in .cargo/mutants.toml"
        ));
    }
    Ok(())
}

/// The counts and the missed mutants of one run.
struct Outcomes {
    caught: u64,
    unviable: u64,
    timeout: u64,
    missed: Vec<String>,
}

/// Reads the lists cargo-mutants writes (`caught.txt`, `missed.txt`, ...; one mutant a line).
/// `outcomes.json` must exist: without it the run did not finish.
fn read_outcomes(dir: &Path) -> Result<Outcomes> {
    let outcomes = dir.join("outcomes.json");
    if !outcomes.is_file() {
        return Err(format!(
            "{} is missing: cargo-mutants did not finish",
            outcomes.display()
        ));
    }
    let lines = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(name))
            .unwrap_or_default()
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(str::to_owned)
            .collect()
    };
    let count = |name: &str| lines(name).len() as u64;
    Ok(Outcomes {
        caught: count("caught.txt"),
        unviable: count("unviable.txt"),
        timeout: count("timeout.txt"),
        missed: lines("missed.txt"),
    })
}

fn write_scope(out: &mut String, scope: &Scope, result: &Outcomes) {
    let files = if scope.files.is_empty() {
        format!("the `{}` crate", scope.package)
    } else {
        scope
            .files
            .iter()
            .map(|f| format!("`{f}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(out, "## {}: {files}\n", scope.name);
    let _ = writeln!(
        out,
        "What is mutated, and by what tests it is judged: {}.\n",
        scope.why
    );
    let _ = writeln!(
        out,
        "| caught | missed | timed out | unviable (did not build) |\n|---:|---:|---:|---:|\n| {} | {} | {} | {} |\n",
        result.caught,
        result.missed.len(),
        result.timeout,
        result.unviable
    );
    if result.missed.is_empty() {
        let _ = writeln!(out, "No mutant was missed.\n");
    } else {
        let _ = writeln!(out, "Missed:\n");
        for line in &result.missed {
            let _ = writeln!(out, "- `{line}`");
        }
        let _ = writeln!(out);
    }
}
