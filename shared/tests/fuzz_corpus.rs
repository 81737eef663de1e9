//! Regression tests for the fuzz targets: every input in `fuzz/corpus/` (the seeds, plus
//! anything `cargo xtask fuzz` found and committed) goes through the same property checks as
//! the fuzzers, as part of the normal suite.

use std::path::Path;

fn run_corpus(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    let mut count = 0;
    for entry in entries {
        let path = entry.expect("readable corpus entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        check(&data);
        count += 1;
    }
    count
}

#[test]
fn client_msg_corpus_keeps_its_properties() {
    assert!(run_corpus("client_msg", shared::checks::client_frame) > 5);
}

#[test]
fn server_msg_corpus_keeps_its_properties() {
    assert!(run_corpus("server_msg", shared::checks::server_frame) > 5);
}

#[test]
fn names_corpus_keeps_its_properties() {
    assert!(run_corpus("names", shared::checks::names) > 5);
}

#[test]
fn format_corpus_keeps_its_properties() {
    assert!(run_corpus("format", shared::checks::format) > 5);
}
