//! `/metrics`, `/readyz` and `/healthz`, scraped over real sockets while real clients act.

// Helpers outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use backend::Config;
use common::{TestServer, eventually, expect_close, http_get, http_request, within};
use futures_util::SinkExt as _;
use shared::{ClientMsg, ErrorCode, paths};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{CloseFrame, frame::coding::CloseCode},
};

/// The value of `name` whose labels include every pair in `labels` (0 if absent).
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = series.split_once('{').unwrap_or((series, "}"));
            (metric == name).then_some(())?;
            let matches = labels
                .iter()
                .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

async fn scrape(server: &TestServer) -> String {
    let (status, body) = http_get(server.addr, paths::METRICS).await;
    assert_eq!(status, 200);
    body
}

#[actix_web::test]
async fn metrics_move_with_traffic_closes_and_rejections() {
    let server = TestServer::spawn(Config {
        rate_per_sec: 1,
        rate_burst: 2,
        ..TestServer::fast_config()
    });
    let before = scrape(&server).await;
    assert_eq!(metric(&before, "chat_connections_total", &[]), 0.0);
    assert!(
        before.contains("# TYPE chat_rate_limited_total counter"),
        "{before}"
    );

    // Echo: two messages in and out, then a close by the peer answered by the server.
    let mut echo = server.connect(paths::WS_ECHO).await;
    for text in ["one", "three"] {
        assert_eq!(
            common::round_trip(&mut echo, Message::text(text)).await,
            Message::text(text)
        );
    }
    within(echo.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }))))
    .await
    .unwrap();
    expect_close(&mut echo, 1000).await;

    // Refused handshakes, one per reason.
    let origin = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        paths::WS_ECHO,
        server.addr
    );
    assert_eq!(http_request(server.addr, &origin).await.0, 403);
    assert_eq!(http_get(server.addr, paths::WS_ECHO).await.0, 400);
    let no_protocol = origin
        .replace("Origin: http://evil.example\r\n", "")
        .replace(paths::WS_ECHO, paths::WS_CHAT);
    assert_eq!(http_request(server.addr, &no_protocol).await.0, 400);

    // Chat: one user in the lobby, rate-limited once.
    let mut chat = server.chat_as("metered", &[]).await;
    chat.send(&ClientMsg::ListRooms).await;
    assert!(matches!(chat.recv().await, shared::ServerMsg::Rooms { .. }));
    chat.send(&ClientMsg::ListRooms).await;
    assert_eq!(chat.recv_error().await, ErrorCode::RateLimited);

    let after = scrape(&server).await;
    let echo_label = [("endpoint", "echo")];
    assert_eq!(metric(&after, "chat_connections_total", &echo_label), 1.0);
    assert_eq!(
        metric(&after, "chat_connections_total", &[("endpoint", "chat")]),
        1.0
    );
    assert_eq!(
        metric(&after, "chat_connections_open", &[("endpoint", "chat")]),
        1.0
    );
    assert_eq!(metric(&after, "chat_messages_in_total", &echo_label), 2.0);
    assert_eq!(metric(&after, "chat_messages_out_total", &echo_label), 2.0);
    assert_eq!(metric(&after, "chat_bytes_in_total", &echo_label), 8.0);
    assert_eq!(metric(&after, "chat_bytes_out_total", &echo_label), 8.0);
    let close = |by| [("endpoint", "echo"), ("code", "1000"), ("by", by)];
    assert_eq!(metric(&after, "chat_closes_total", &close("peer")), 1.0);
    assert_eq!(metric(&after, "chat_closes_total", &close("server")), 1.0);
    for reason in ["origin", "not_websocket", "subprotocol"] {
        assert_eq!(
            metric(
                &after,
                "chat_handshake_rejections_total",
                &[("reason", reason)]
            ),
            1.0,
            "{reason}"
        );
    }
    assert_eq!(metric(&after, "chat_rate_limited_total", &[]), 1.0);
    assert_eq!(metric(&after, "chat_rooms", &[]), 1.0);
    assert_eq!(metric(&after, "chat_users_online", &[]), 1.0);
    // hello, list_rooms, list_rooms: three chat messages in.
    assert_eq!(
        metric(&after, "chat_messages_in_total", &[("endpoint", "chat")]),
        3.0
    );

    // The echo connection is gone from the open gauge once its session has ended.
    eventually("the echo connection is no longer counted open", || async {
        metric(&scrape(&server).await, "chat_connections_open", &echo_label) == 0.0
    })
    .await;
}

#[actix_web::test]
async fn health_and_readiness_answer() {
    let server = TestServer::spawn(TestServer::fast_config());
    assert_eq!(
        http_get(server.addr, paths::HEALTHZ).await,
        (200, "ok\n".to_owned())
    );
    assert_eq!(
        http_get(server.addr, paths::READYZ).await,
        (200, "ready\n".to_owned())
    );
}

#[actix_web::test]
async fn store_metrics_count_transactions_and_failures() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut chat = server.chat_as("writer", &[]).await;
    chat.say("lobby", "stored", "s1").await;
    assert!(matches!(chat.recv().await, shared::ServerMsg::Said { .. }));
    let after = scrape(&server).await;
    assert_eq!(metric(&after, "chat_store_batch_messages_sum", &[]), 1.0);
    assert_eq!(metric(&after, "chat_store_commit_seconds_count", &[]), 1.0);
    assert_eq!(metric(&after, "chat_store_failures_total", &[]), 0.0);
}

#[actix_web::test]
async fn json_logs_are_one_object_per_line_and_connection_lines_carry_endpoint_and_peer() {
    let data = tempfile::tempdir().unwrap();
    let mut process = common::Process::start_logging(&[
        "--log-format",
        "json",
        "--data-dir",
        data.path().to_str().unwrap(),
    ])
    .await;
    let server = TestServer::at(process.addr);
    // One session of each endpoint that ends with an error, which its session logs.
    let mut peers = Vec::new();
    for (path, protocol) in [
        (paths::WS_ECHO, None),
        (paths::WS_CHAT, Some(shared::SUBPROTOCOL)),
    ] {
        let mut peer = common::RawSocket::connect(server.addr, path, protocol).await;
        let invalid_utf8 = common::masked_frame(true, common::opcode::TEXT, &[0xff, 0xfe]);
        peer.send_bytes(&invalid_utf8).await;
        assert_eq!(
            peer.read_until_close(common::STEP).await,
            shared::close::INVALID_PAYLOAD
        );
        peers.push((path, peer.stream.local_addr().unwrap().to_string()));
    }
    let stderr = process.child.stderr.take().unwrap();
    process.signal("TERM");
    assert!(process.wait().await.success());
    let logs = std::io::read_to_string(stderr).unwrap();

    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not JSON ({err}): {line}"))
        })
        .collect();
    for line in &lines {
        assert!(
            line["level"].is_string() && line["fields"].is_object(),
            "{line}"
        );
    }
    for (path, peer) in peers {
        let endpoint = if path == paths::WS_ECHO {
            "echo"
        } else {
            "chat"
        };
        let session_lines: Vec<_> = lines
            .iter()
            .filter(|line| {
                line["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!("{endpoint} session ended")))
            })
            .collect();
        assert!(
            !session_lines.is_empty(),
            "no {endpoint} session line in {logs}"
        );
        for line in session_lines {
            assert_eq!(line["span"]["endpoint"], endpoint, "{line}");
            assert_eq!(line["span"]["peer"], peer.as_str(), "{line}");
        }
    }
}

#[actix_web::test]
async fn every_exported_metric_is_documented() {
    let server = TestServer::spawn(TestServer::fast_config());
    let text = scrape(&server).await;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .unwrap();
    let section = doc
        .split_once("`GET /metrics`")
        .expect("PROTOCOL.md documents GET /metrics")
        .1;
    let names: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE chat_"))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(names.len() > 10, "{text}");
    for name in names {
        assert!(
            section.contains(&format!("`{name}`")) || section.contains(&format!("`{name}{{")),
            "chat_{name} is exported but not in docs/PROTOCOL.md"
        );
    }
}
