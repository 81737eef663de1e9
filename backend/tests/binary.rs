//! The `backend` binary itself: flags, the address line on stdout, and SIGTERM → close 1001 to
//! open sockets → clean exit. (The library tests cancel the token directly; this covers `main`.)

#![cfg(unix)]

mod common;

use std::process::Command;

use common::{Process, expect_close, within};
use shared::{close, paths};

#[actix_web::test]
async fn sigterm_closes_sockets_with_1001_and_exits_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let process = Process::start(&["--shutdown-timeout", "2s", "--data-dir", data_dir]).await;
    let addr = process.addr;

    let (mut client, _) = within(tokio_tungstenite::connect_async(format!(
        "ws://{addr}{}",
        paths::WS_ECHO
    )))
    .await
    .unwrap();
    process.signal("TERM");
    expect_close(&mut client, close::GOING_AWAY).await;

    let exit = process.wait().await;
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
