//! The `backend` binary itself: flags, the address line on stdout, and SIGTERM → close 1001 to
//! open sockets → clean exit. (The library tests cancel the token directly; this covers `main`.)

#![cfg(unix)]

mod common;

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
};

use common::{expect_close, within};
use shared::{close, paths};

#[actix_web::test]
async fn sigterm_closes_sockets_with_1001_and_exits_cleanly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["--listen", "127.0.0.1:0", "--shutdown-timeout", "2s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the backend binary");
    let stdout = child.stdout.take().unwrap();
    let first_line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = within(first_line).await.unwrap().unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}{}",
        paths::WS_ECHO
    )))
    .await
    .unwrap();
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    expect_close(&mut client, close::GOING_AWAY).await;

    let exit = within(tokio::task::spawn_blocking(move || child.wait()))
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "backend exited with {exit}");
}

#[test]
fn invalid_configuration_is_refused_with_a_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_backend"))
        .args(["--heartbeat-interval", "10s", "--client-timeout", "5s"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--client-timeout"), "{stderr}");
    // Refused before binding: no address line.
    assert!(output.stdout.is_empty());
}
