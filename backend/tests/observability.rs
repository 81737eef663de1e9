//! `/metrics`, `/readyz` and `/healthz`, scraped over real sockets while real clients act.

// Helpers outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use backend::Config;
use std::time::Duration;

use common::{TestServer, eventually, expect_close, http_get, http_request, within};
use futures_util::SinkExt as _;
use shared::{ClientMsg, ErrorCode, ServerMsg, paths};
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

/// The store's three numbers, as (transactions, messages in them, failures).
fn store_numbers(text: &str) -> (f64, f64, f64) {
    (
        metric(text, "chat_store_commit_seconds_count", &[]),
        metric(text, "chat_store_batch_messages_sum", &[]),
        metric(text, "chat_store_failures_total", &[]),
    )
}

#[actix_web::test]
async fn store_metrics_count_transactions_and_failures() {
    // A full database (size cap, as in tests/history.rs) is the failed write a test can cause
    // for real, without mocks: the server runs with a cap a few dozen messages fill.
    let server = TestServer::spawn(Config {
        max_store_bytes: Some(256 * 1024),
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        ..TestServer::fast_config()
    });
    assert_eq!(store_numbers(&scrape(&server).await), (0.0, 0.0, 0.0));
    let mut chat = server.chat_as("writer", &[]).await;

    // One at a time, each awaited: one transaction each.
    for i in 0..3 {
        chat.say("lobby", "stored", &format!("s{i}")).await;
        assert!(matches!(chat.recv().await, ServerMsg::Said { .. }));
    }
    let (transactions, messages, failures) = store_numbers(&scrape(&server).await);
    assert_eq!((transactions, messages, failures), (3.0, 3.0, 0.0));
    let commit_sum = metric(&scrape(&server).await, "chat_store_commit_seconds_sum", &[]);
    assert!(commit_sum > 0.0, "three commits took no time: {commit_sum}");

    // Five sent at once may share transactions (group commit): the messages are counted
    // exactly, the transactions at most once each.
    for i in 0..5 {
        chat.say("lobby", "grouped", &format!("g{i}")).await;
    }
    for _ in 0..5 {
        assert!(matches!(chat.recv().await, ServerMsg::Said { .. }));
    }
    let (grouped, messages, failures) = store_numbers(&scrape(&server).await);
    assert_eq!((messages, failures), (8.0, 0.0));
    assert!((4.0..=8.0).contains(&grouped), "{grouped}");

    // Now fill the database until a message is refused with store_failed.
    let text = "x".repeat(1900);
    let mut stored = 8.0;
    loop {
        chat.say("lobby", &text, &format!("big-{stored}")).await;
        match chat.recv().await {
            ServerMsg::Said { .. } => stored += 1.0,
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::StoreFailed);
                break;
            }
            other => panic!("{other:?}"),
        }
        assert!(stored < 200.0, "the size cap never took effect");
    }
    let text = scrape(&server).await;
    let (transactions, messages, failures) = store_numbers(&text);
    // The refused message is a failure, not a stored message nor a committed transaction.
    assert_eq!((messages, failures), (stored, 1.0), "{text}");
    // Each big one was awaited alone: one transaction each, the refused one none.
    assert_eq!(transactions, grouped + (stored - 8.0), "{text}");
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

/// Every family `docs/PROTOCOL.md` documents, without the `chat_` prefix. The test below
/// holds this list, the document's metrics table and a fresh server's output to the same set.
const DOCUMENTED: [&str; 18] = [
    "connections_open",
    "connections_total",
    "messages_in_total",
    "messages_out_total",
    "bytes_in_total",
    "bytes_out_total",
    "closes_total",
    "handshake_rejections_total",
    "slow_consumers_dropped_total",
    "rate_limited_total",
    "csp_reports_total",
    "rooms",
    "users_online",
    "search_index_lag_seconds",
    "store_commit_seconds",
    "store_batch_messages",
    "store_failures_total",
    "link_previews_total",
];

/// Whether `text` has a sample line of `name` with exactly these labels (in any order).
fn has_series(text: &str, name: &str, labels: &[(&str, &str)]) -> bool {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .any(|line| {
            let Some((series, _)) = line.rsplit_once(' ') else {
                return false;
            };
            let (metric, label_text) = series.split_once('{').unwrap_or((series, "}"));
            let label_text = label_text.trim_end_matches('}');
            let mut found: Vec<&str> = label_text.split(',').filter(|l| !l.is_empty()).collect();
            let mut wanted: Vec<String> =
                labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            found.sort_unstable();
            wanted.sort_unstable();
            metric == name && found == wanted
        })
}

/// The metric names in the rows of PROTOCOL.md's metrics table (`| \`name{labels}\` | ...`).
fn documented_in_protocol() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .unwrap();
    let table = doc
        .split_once("### Metrics (`GET /metrics`)")
        .expect("PROTOCOL.md has its metrics section")
        .1;
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|cell| cell.split(['`', '{']).next())
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn every_documented_metric_is_present_from_start_up() {
    let server = TestServer::spawn(TestServer::fast_config());
    let text = scrape(&server).await;

    // The list, the document and the output name the same families.
    let mut documented = documented_in_protocol();
    documented.sort();
    let mut listed: Vec<String> = DOCUMENTED.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(documented, listed, "PROTOCOL.md's metrics table");
    let mut exported: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE chat_"))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect();
    exported.sort();
    assert_eq!(exported, listed, "a fresh server's families:\n{text}");

    // Unlabelled ones at 0 (histograms as their count).
    for name in [
        "slow_consumers_dropped_total",
        "rate_limited_total",
        "csp_reports_total",
        "rooms",
        "users_online",
        "search_index_lag_seconds",
        "store_failures_total",
        "store_commit_seconds_count",
        "store_batch_messages_count",
    ] {
        let name = format!("chat_{name}");
        assert!(has_series(&text, &name, &[]), "{name} missing:\n{text}");
        assert_eq!(metric(&text, &name, &[]), 0.0, "{name}");
    }
    // Labelled ones: a series at 0 for every value of their closed sets.
    for endpoint in ["chat", "echo"] {
        for name in [
            "connections_open",
            "connections_total",
            "messages_in_total",
            "messages_out_total",
            "bytes_in_total",
            "bytes_out_total",
        ] {
            let name = format!("chat_{name}");
            let labels = [("endpoint", endpoint)];
            assert!(has_series(&text, &name, &labels), "{name}{labels:?}");
        }
        for code in shared::close::ALL {
            let labels = [
                ("endpoint", endpoint),
                ("code", &*code.to_string()),
                ("by", "server"),
            ];
            assert!(
                has_series(&text, "chat_closes_total", &labels),
                "{labels:?}"
            );
        }
        for code in ["1000", "1001"] {
            let labels = [("endpoint", endpoint), ("code", code), ("by", "peer")];
            assert!(
                has_series(&text, "chat_closes_total", &labels),
                "{labels:?}"
            );
        }
    }
    for reason in REASONS {
        let labels = [("reason", reason)];
        assert!(
            has_series(&text, "chat_handshake_rejections_total", &labels),
            "{reason}"
        );
    }
    let fetches = [
        "refused",
        "redirects",
        "timed_out",
        "too_large",
        "failed",
        "not_fetched",
    ];
    let outcomes = ["made", "nothing_found", "dropped"]
        .into_iter()
        .map(str::to_owned)
        .chain(fetches.iter().map(|o| (*o).to_owned()))
        .chain(fetches.iter().map(|o| format!("image_{o}")))
        .chain(["image_not_an_image".to_owned()]);
    for outcome in outcomes {
        let labels = [("outcome", outcome.as_str())];
        assert!(
            has_series(&text, "chat_link_previews_total", &labels),
            "{outcome}"
        );
    }
    // Every sample of a fresh server is 0 (nothing has happened yet).
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap();
        // Histogram buckets and the store's empty timings are 0 too; +Inf bounds are labels.
        assert_eq!(value.parse::<f64>().unwrap(), 0.0, "{series}");
    }
}

/// Polls `/metrics` until `check` holds of it (the server counts some events a moment after
/// the client sees their effect), failing after a step with the last scrape.
async fn scrape_until(server: &TestServer, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + common::STEP;
    loop {
        let text = scrape(server).await;
        if check(&text) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn connections_traffic_and_closes_move_up_and_down_with_real_sockets() {
    let server = TestServer::spawn(Config {
        max_frame_size: 1024,
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        ..TestServer::fast_config()
    });
    let chat_label = [("endpoint", "chat")];
    let echo_label = [("endpoint", "echo")];

    // A chat user: one connection open and counted, one user, one room.
    let mut chat = server.chat_as("counted", &[]).await;
    let text = scrape_until(&server, "the chat user is online", |t| {
        metric(t, "chat_users_online", &[]) == 1.0
    })
    .await;
    assert_eq!(metric(&text, "chat_connections_open", &chat_label), 1.0);
    assert_eq!(metric(&text, "chat_connections_total", &chat_label), 1.0);
    assert_eq!(metric(&text, "chat_rooms", &[]), 1.0);
    assert_eq!(metric(&text, "chat_connections_open", &echo_label), 0.0);

    // One request and its answer: one message and its exact bytes each way.
    let numbers = |t: &str| {
        [
            "chat_messages_in_total",
            "chat_bytes_in_total",
            "chat_messages_out_total",
            "chat_bytes_out_total",
        ]
        .map(|name| metric(t, name, &chat_label))
    };
    let before = numbers(&text);
    let request = shared::encode(&ClientMsg::ListRooms).unwrap();
    chat.send_raw(&request).await;
    let Message::Text(answer) = common::next_message(&mut chat.ws).await else {
        panic!("expected the rooms list")
    };
    assert!(answer.contains("\"rooms\""), "{answer}");
    let expected = [
        before[0] + 1.0,
        before[1] + request.len() as f64,
        before[2] + 1.0,
        before[3] + answer.len() as f64,
    ];
    scrape_until(&server, "the exchange is counted", |t| {
        numbers(t) == expected
    })
    .await;

    // An echo connection opens alongside; a frame over the size cap is closed with 1009 by
    // the server, and the gauge goes back down.
    let mut echo = server.connect(paths::WS_ECHO).await;
    let text = scrape_until(&server, "the echo connection is open", |t| {
        metric(t, "chat_connections_open", &echo_label) == 1.0
    })
    .await;
    assert_eq!(metric(&text, "chat_connections_total", &echo_label), 1.0);
    assert_eq!(metric(&text, "chat_connections_open", &chat_label), 1.0);
    within(echo.send(Message::binary(vec![0u8; 2048])))
        .await
        .unwrap();
    expect_close(&mut echo, shared::close::MESSAGE_TOO_BIG).await;
    let too_big = [("endpoint", "echo"), ("code", "1009"), ("by", "server")];
    let text = scrape_until(&server, "the echo connection is closed", |t| {
        metric(t, "chat_connections_open", &echo_label) == 0.0
    })
    .await;
    assert_eq!(metric(&text, "chat_closes_total", &too_big), 1.0);
    assert_eq!(
        metric(&text, "chat_closes_total", &[("endpoint", "echo")]),
        1.0
    );

    // The chat user leaves with 1001 (a page going away): the peer's close and the server's
    // answer (the same code) are counted, and the open gauge, users and rooms go back to 0.
    within(chat.ws.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "".into(),
    }))))
    .await
    .unwrap();
    expect_close(&mut chat.ws, 1001).await;
    let text = scrape_until(&server, "the chat user is gone", |t| {
        metric(t, "chat_connections_open", &chat_label) == 0.0
            && metric(t, "chat_users_online", &[]) == 0.0
            && metric(t, "chat_rooms", &[]) == 0.0
    })
    .await;
    for by in ["peer", "server"] {
        let labels = [("endpoint", "chat"), ("code", "1001"), ("by", by)];
        assert_eq!(metric(&text, "chat_closes_total", &labels), 1.0, "{by}");
    }
    assert_eq!(
        metric(&text, "chat_closes_total", &[("endpoint", "chat")]),
        2.0
    );
    // Totals never go down.
    assert_eq!(metric(&text, "chat_connections_total", &chat_label), 1.0);
    assert_eq!(metric(&text, "chat_connections_total", &echo_label), 1.0);
}

/// Every reason of `chat_handshake_rejections_total`, in a fixed order.
const REASONS: [&str; 7] = [
    "shutting_down",
    "origin",
    "address_connections",
    "address_handshakes",
    "capacity",
    "subprotocol",
    "not_websocket",
];

/// The value of every reason of `chat_handshake_rejections_total`, in [`REASONS`]' order.
fn rejections(text: &str) -> [f64; 7] {
    REASONS.map(|reason| {
        metric(
            text,
            "chat_handshake_rejections_total",
            &[("reason", reason)],
        )
    })
}

/// A WebSocket handshake on `path` (with `extra` headers), returning the status.
async fn handshake(server: &TestServer, path: &str, extra: &str) -> u16 {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n",
        server.addr
    );
    http_request(server.addr, &request).await.0
}

#[actix_web::test]
async fn each_refused_handshake_counts_its_own_reason() {
    // One connection in all; two per address (so the capacity refusal comes first).
    let server = TestServer::spawn(Config {
        max_connections: 1,
        max_connections_per_ip: 2,
        ..TestServer::fast_config()
    });
    assert_eq!(rejections(&scrape(&server).await), [0.0; 7]);
    assert_eq!(
        handshake(&server, paths::WS_ECHO, "Origin: http://evil.example\r\n").await,
        403
    );
    assert_eq!(
        rejections(&scrape(&server).await),
        [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
    // The chat endpoint without its subprotocol.
    assert_eq!(handshake(&server, paths::WS_CHAT, "").await, 400);
    assert_eq!(
        rejections(&scrape(&server).await),
        [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    );
    assert_eq!(http_get(server.addr, paths::WS_ECHO).await.0, 400);
    assert_eq!(
        rejections(&scrape(&server).await),
        [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    );
    // The one slot taken, the next is refused for capacity.
    let held = server.connect(paths::WS_ECHO).await;
    assert_eq!(handshake(&server, paths::WS_ECHO, "").await, 503);
    assert_eq!(
        rejections(&scrape(&server).await),
        [0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    );
    drop(held);

    // Per address: one connection, and a handshake rate that a quick loop exceeds.
    let server = TestServer::spawn(Config {
        max_connections_per_ip: 1,
        max_handshakes_per_ip: 2,
        ..TestServer::fast_config()
    });
    let held = server.connect(paths::WS_ECHO).await;
    assert_eq!(handshake(&server, paths::WS_ECHO, "").await, 429);
    let text = scrape(&server).await;
    assert_eq!(rejections(&text), [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    drop(held);
    scrape_until(&server, "the held connection is gone", |t| {
        metric(t, "chat_connections_open", &[("endpoint", "echo")]) == 0.0
    })
    .await;
    // Chat handshakes without the subprotocol pass the address's checks (and spend its
    // handshakes) before being refused: a quick loop exceeds two a second.
    let mut paced = false;
    for _ in 0..20 {
        match handshake(&server, paths::WS_CHAT, "").await {
            429 => {
                paced = true;
                break;
            }
            status => assert_eq!(status, 400),
        }
    }
    assert!(paced, "the handshake rate was never exceeded");
    let text = scrape(&server).await;
    assert_eq!(rejections(&text)[2..5], [1.0, 1.0, 0.0], "{text}");
}

#[actix_web::test]
async fn a_slow_reader_cut_off_with_1013_is_counted_as_a_slow_consumer() {
    let server = TestServer::spawn(Config {
        outbox_capacity: 8,
        max_text_chars: 100_000,
        // The departure told at once, while the sender still sends.
        presence_window: Duration::ZERO,
        ..common::patient_config(None)
    });
    let mut sender = server.chat_as("sender", &[]).await;
    // Says hello, then never reads again (a 4 KB receive buffer fills at once).
    let mut slow = common::RawSocket::connect_with_receive_buffer(
        server.addr,
        paths::WS_CHAT,
        Some(shared::SUBPROTOCOL),
        4096,
    )
    .await;
    let hello = shared::encode(&common::hello("slow", &[])).unwrap();
    slow.send_text(&hello).await;
    loop {
        if common::arrived(&sender.recv().await, "slow") {
            break;
        }
    }
    let text = scrape(&server).await;
    assert_eq!(metric(&text, "chat_slow_consumers_dropped_total", &[]), 0.0);
    assert_eq!(metric(&text, "chat_users_online", &[]), 2.0);

    let long = "x".repeat(64 * 1024);
    let mut left = false;
    for i in 0..common::messages_to_overflow(long.len()) {
        sender.say("lobby", &long, &format!("m{i}")).await;
        loop {
            match sender.recv().await {
                ServerMsg::Said { .. } => break,
                ref event if common::departed(event, "slow") => left = true,
                other => panic!("unexpected {other:?}"),
            }
        }
        if left {
            break;
        }
    }
    assert!(left, "the slow reader was never dropped");
    let slow_close = [("endpoint", "chat"), ("code", "1013"), ("by", "server")];
    let text = scrape_until(&server, "the slow reader's close is counted", |t| {
        metric(t, "chat_closes_total", &slow_close) == 1.0
    })
    .await;
    assert_eq!(metric(&text, "chat_slow_consumers_dropped_total", &[]), 1.0);
    assert_eq!(metric(&text, "chat_users_online", &[]), 1.0);
    // What it was cut off with, once it reads again.
    assert_eq!(
        slow.read_until_close(Duration::from_secs(30)).await,
        shared::close::SLOW_CONSUMER
    );
    // The one who reads is not counted.
    let text = scrape(&server).await;
    assert_eq!(metric(&text, "chat_slow_consumers_dropped_total", &[]), 1.0);
}

#[actix_web::test]
async fn csp_reports_are_counted() {
    let server = TestServer::spawn(TestServer::fast_config());
    let report = r#"{"csp-report":{"document-uri":"http://x/","violated-directive":"script-src"}}"#;
    for expected in [1.0, 2.0] {
        let (status, _, _) = common::post_json(server.addr, paths::CSP_REPORT, report, None).await;
        assert_eq!(status, 204);
        let text = scrape(&server).await;
        assert_eq!(metric(&text, "chat_csp_reports_total", &[]), expected);
    }
}
