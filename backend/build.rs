//! Build script: puts the built browser app inside the binary and names the commit.
//!
//! - `CHAT_APP_DIR`: a `trunk build` output (`cargo xtask dist` sets it). Every file under it is
//!   embedded with `include_bytes!` in a table (`$OUT_DIR/app.rs`, read by `src/served_app.rs`),
//!   so the release binary serves the app from memory without a `dist/` beside it. Unset (the
//!   everyday `cargo build` and tests), the table is empty and the server serves a directory.
//!   (A table of our own instead of a crate: the crates that embed a folder take its path as a
//!   literal and read it from disk in debug builds, and we want both decided by one variable.)
//! - `CHAT_COMMIT`: the commit `--version` names; else `git rev-parse`, else `unknown` (a
//!   source tarball).

use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CHAT_APP_DIR");
    println!("cargo:rerun-if-env-changed=CHAT_COMMIT");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));

    let mut files = Vec::new();
    if let Some(dir) = env::var_os("CHAT_APP_DIR").filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        // (A relative path would be read from `backend/`, where cargo runs this script.)
        assert!(
            dir.is_absolute(),
            "CHAT_APP_DIR must be an absolute path, not {}",
            dir.display()
        );
        assert!(
            dir.join("index.html").is_file(),
            "CHAT_APP_DIR={} has no index.html: run `trunk build --release` first",
            dir.display()
        );
        collect(&dir, &dir, &mut files);
        files.sort();
    }
    let mut table = String::from(
        "/// The embedded app: each file's path below the app's root (`/`-separated) and bytes.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for (name, path) in &files {
        writeln!(
            table,
            "    ({name:?}, include_bytes!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String cannot fail");
    }
    table.push_str("];\n");
    fs::write(out_dir.join("app.rs"), table).expect("OUT_DIR is writable");

    println!("cargo:rustc-env=CHAT_COMMIT={}", commit());
}

/// Every file below `dir`, as (its name relative to `root`, its absolute path); each file and
/// folder is watched, so a new build of the app rebuilds the binary.
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let entries = fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
            .path();
        // Hidden files are no part of an app (and a folder would not serve them either).
        if path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'))
        {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
            let name = path
                .strip_prefix(root)
                .expect("below the root")
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let absolute = fs::canonicalize(&path).unwrap_or(path);
            files.push((name, absolute));
        }
    }
}

/// `CHAT_COMMIT`, else the checkout's commit, else `unknown`. (Not marked dirty here: that
/// would rerun this script on every edit; `cargo xtask dist` passes `CHAT_COMMIT` with
/// `-dirty` when tracked files have uncommitted changes.)
fn commit() -> String {
    if let Some(commit) = env::var("CHAT_COMMIT").ok().filter(|c| !c.is_empty()) {
        return commit;
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_owned();
    };
    // A new commit or checkout moves HEAD's log; watching it reruns this script then.
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={git_dir}/HEAD");
        println!("cargo:rerun-if-changed={git_dir}/logs/HEAD");
    }
    commit
}
