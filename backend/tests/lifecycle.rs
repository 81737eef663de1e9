//! Connection lifecycle over real sockets: pings, close handshake, heartbeat timeout, size
//! limits, shutdown, and what plain HTTP gets.

mod common;

use std::time::Duration;

use backend::Config;
use common::{RawSocket, TestServer, expect_close, http_get, http_request, next_message, within};
use futures_util::{SinkExt as _, StreamExt as _};
use shared::{close, paths};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::{
        CloseFrame,
        frame::{
            Frame,
            coding::{CloseCode, Data, OpCode},
        },
    },
};

#[actix_web::test]
async fn client_ping_is_answered_with_its_payload() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(paths::WS_ECHO).await;
    within(client.send(Message::Ping("are you there".into())))
        .await
        .unwrap();
    loop {
        match within(client.next()).await.unwrap().unwrap() {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"are you there");
                break;
            }
            Message::Ping(_) => {} // the server's own heartbeat
            other => panic!("expected pong, got {other:?}"),
        }
    }
}

#[actix_web::test]
async fn close_1000_handshake_completes() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(paths::WS_ECHO).await;
    within(client.send(Message::Close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    }))))
    .await
    .unwrap();
    // The server answers with the same code and then ends the connection.
    expect_close(&mut client, close::NORMAL).await;
}

#[actix_web::test]
async fn close_without_status_code_is_answered_in_kind() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(paths::WS_ECHO).await;
    within(client.send(Message::Close(None))).await.unwrap();
    assert_eq!(next_message(&mut client).await, Message::Close(None));
}

#[actix_web::test]
async fn server_pings_and_a_responsive_client_stays_connected() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(paths::WS_ECHO).await;
    // Reading makes tungstenite answer pings; stay for 2.5 client timeouts.
    let config = TestServer::fast_config();
    let window = config.client_timeout * 5 / 2;
    let ticks = (window.as_millis() / config.heartbeat_interval.as_millis()) as usize;
    let mut pings = 0;
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(message) = tokio::time::timeout_at(deadline, client.next()).await {
        match message.unwrap().unwrap() {
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    // One ping per interval: never more (a stalled timer pings once, not in a burst), and on
    // a loaded machine at least half of them.
    assert!(
        (ticks / 2..=ticks).contains(&pings),
        "{pings} pings in {window:?} at a {:?} interval",
        config.heartbeat_interval
    );
    let reply = common::round_trip(&mut client, Message::text("still here")).await;
    assert_eq!(reply, Message::text("still here"));
}

#[actix_web::test]
async fn silent_client_is_dropped_after_the_timeout() {
    let server = TestServer::spawn(TestServer::fast_config());
    // A raw socket never answers the server's pings: a silent peer. (tungstenite would answer
    // them whenever it reads, and its pong into a closed socket can hide the close frame.)
    // The clock starts before the handshake, as the server's does during it: started after,
    // a close exactly on time looked early (999 ms of a 1 s timeout, once in CI).
    let started = std::time::Instant::now();
    let mut client = RawSocket::connect(server.addr, paths::WS_ECHO, None).await;
    let code = client.read_until_close(Duration::from_secs(5)).await;
    assert_eq!(code, close::HEARTBEAT_TIMEOUT);
    // Not before the timeout; noticed on the first heartbeat tick after it (slack for a
    // loaded machine).
    let config = TestServer::fast_config();
    let waited = started.elapsed();
    assert!(
        waited >= config.client_timeout
            && waited < config.client_timeout + config.heartbeat_interval + Duration::from_secs(1),
        "closed after {waited:?} with a {:?} timeout",
        config.client_timeout
    );
}

#[actix_web::test]
async fn shutdown_sends_1001_to_open_sockets() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut first = server.connect(paths::WS_ECHO).await;
    let mut second = server.connect(paths::WS_ECHO).await;
    server.shutdown.cancel();
    expect_close(&mut first, close::GOING_AWAY).await;
    expect_close(&mut second, close::GOING_AWAY).await;
    within(server.stop()).await.expect("server stops cleanly");
}

#[actix_web::test]
async fn shutdown_refuses_upgrades_and_readiness_during_the_drain_and_ends_at_the_timeout() {
    let config = Config {
        shutdown_timeout: Duration::from_secs(2),
        ..TestServer::fast_config()
    };
    let server = TestServer::spawn(config.clone());
    // An echo peer that never reads: only the timeout ends the drain.
    let _stuck = common::stuck_echo_socket(server.addr).await;
    let started = std::time::Instant::now();
    server.shutdown.cancel();

    // During the drain the server still answers, with 503.
    assert_eq!(
        http_get(server.addr, paths::READYZ).await,
        (503, "shutting down\n".to_owned())
    );
    let upgrade = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {}\r\n\r\n",
        paths::WS_CHAT,
        server.addr,
        shared::SUBPROTOCOL
    );
    let (status, body) = http_request(server.addr, &upgrade).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("shutting down"), "{body}");
    let (_, metrics) = http_get(server.addr, paths::METRICS).await;
    assert!(
        metrics.contains("chat_handshake_rejections_total{reason=\"shutting_down\"} 1"),
        "{metrics}"
    );

    within(server.stop()).await.expect("server stops cleanly");
    // The drain waits for the stuck session up to the timeout, then in-flight HTTP requests
    // get one more second.
    let drained = started.elapsed();
    let cut = config.shutdown_timeout + Duration::from_secs(1);
    assert!(
        drained >= config.shutdown_timeout - Duration::from_millis(100)
            && drained < cut + Duration::from_secs(1),
        "the drain took {drained:?} with --shutdown-timeout {:?}",
        config.shutdown_timeout
    );
}

#[actix_web::test]
async fn oversized_frame_closes_with_1009() {
    let server = TestServer::spawn(Config {
        max_frame_size: 1024,
        ..TestServer::fast_config()
    });
    let mut client = server.connect(paths::WS_ECHO).await;
    within(client.send(Message::binary(vec![0u8; 1025])))
        .await
        .unwrap();
    expect_close(&mut client, close::MESSAGE_TOO_BIG).await;
}

#[actix_web::test]
async fn oversized_fragmented_message_closes_with_1009() {
    let server = TestServer::spawn(Config {
        max_frame_size: 1024,
        ..TestServer::fast_config()
    });
    let mut client = server.connect(paths::WS_ECHO).await;
    // Each fragment is within the frame limit; together they are not.
    let fragment = |opcode, last| Message::Frame(Frame::message(vec![b'x'; 600], opcode, last));
    within(client.send(fragment(OpCode::Data(Data::Text), false)))
        .await
        .unwrap();
    within(client.send(fragment(OpCode::Data(Data::Continue), true)))
        .await
        .unwrap();
    expect_close(&mut client, close::MESSAGE_TOO_BIG).await;
}

#[actix_web::test]
async fn invalid_utf8_text_closes_with_1007() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(paths::WS_ECHO).await;
    let frame = Frame::message(vec![0xff, 0xfe, b'a'], OpCode::Data(Data::Text), true);
    within(client.send(Message::Frame(frame))).await.unwrap();
    expect_close(&mut client, close::INVALID_PAYLOAD).await;
}

#[actix_web::test]
async fn a_bad_client_does_not_disturb_others() {
    // Default heartbeat timings: `good` is not read while `bad` is closed, and must not be
    // dropped as silent meanwhile.
    let server = TestServer::spawn(Config::default());
    let mut good = server.connect(paths::WS_ECHO).await;
    let mut bad = server.connect(paths::WS_ECHO).await;
    let frame = Frame::message(vec![0xc3], OpCode::Data(Data::Text), true);
    within(bad.send(Message::Frame(frame))).await.unwrap();
    expect_close(&mut bad, close::INVALID_PAYLOAD).await;
    let reply = common::round_trip(&mut good, Message::text("fine")).await;
    assert_eq!(reply, Message::text("fine"));
}

#[actix_web::test]
async fn plain_get_on_the_socket_path_is_a_readable_400() {
    let server = TestServer::spawn(TestServer::fast_config());
    let (status, body) = http_get(server.addr, paths::WS_ECHO).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("expects a WebSocket upgrade"), "{body}");
}

#[actix_web::test]
async fn upgrade_with_bad_version_is_a_readable_426() {
    let server = TestServer::spawn(TestServer::fast_config());
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        paths::WS_ECHO
    );
    let (status, body) = http_request(server.addr, &request).await;
    // 426 Upgrade Required: RFC 6455 4.4 asks the server to name the versions it speaks.
    assert_eq!(status, 426, "{body}");
    assert!(body.contains("unsupported WebSocket version"), "{body}");
}

#[actix_web::test]
async fn other_methods_on_the_socket_paths_are_a_readable_405() {
    let server = TestServer::spawn(TestServer::fast_config());
    for path in [paths::WS_ECHO, paths::WS_CHAT] {
        for method in ["POST", "PUT", "DELETE"] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            );
            let (status, body) = http_request(server.addr, &request).await;
            assert_eq!(status, 405, "{method} {path}: {body}");
            assert!(body.contains("expects a WebSocket upgrade"), "{body}");
        }
    }
}

#[actix_web::test]
async fn healthz_answers_ok() {
    let server = TestServer::spawn(TestServer::fast_config());
    assert_eq!(
        http_get(server.addr, paths::HEALTHZ).await,
        (200, "ok\n".to_owned())
    );
}

#[actix_web::test]
async fn frontend_is_served_with_index_fallback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<title>chat</title>").unwrap();
    std::fs::write(dir.path().join("app.js"), "console.log(1)").unwrap();
    let server = TestServer::spawn(Config {
        static_dir: Some(dir.path().to_owned()),
        ..TestServer::fast_config()
    });
    assert_eq!(
        http_get(server.addr, "/").await,
        (200, "<title>chat</title>".into())
    );
    assert_eq!(
        http_get(server.addr, "/app.js").await,
        (200, "console.log(1)".into())
    );
    // Client-side routes get the app, so a reload on /echo works.
    assert_eq!(
        http_get(server.addr, "/echo").await,
        (200, "<title>chat</title>".into())
    );
}

#[actix_web::test]
async fn the_app_is_served_with_a_content_security_policy_that_allows_its_inline_script_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let bootstrap = "import init from '/app.js'; await init();";
    let page =
        format!("<script type=\"module\">{bootstrap}</script><script src=\"/x.js\"></script>");
    std::fs::write(dir.path().join("index.html"), &page).unwrap();
    let server = TestServer::spawn(Config {
        static_dir: Some(dir.path().to_owned()),
        ..TestServer::fast_config()
    });
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    within(stream.write_all(request.as_bytes())).await.unwrap();
    let mut response = Vec::new();
    within(stream.read_to_end(&mut response)).await.unwrap();
    let response = String::from_utf8_lossy(&response).to_lowercase();
    let header = |name: &str| {
        response
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {name} header in {response}"))
    };
    let policy = header("content-security-policy");
    let hash = backend::headers::content_security_policy(&page);
    assert_eq!(policy, hash.to_lowercase());
    assert!(policy.contains("'sha256-"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "deny");
    assert_eq!(header("referrer-policy"), "no-referrer");
}

/// The response head to `GET path` (lower-cased), read off the wire.
async fn response_head(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the test server listens");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    within(stream.write_all(request.as_bytes()))
        .await
        .expect("the request is written");
    let mut response = Vec::new();
    within(stream.read_to_end(&mut response))
        .await
        .expect("the response is read");
    let response = String::from_utf8_lossy(&response).to_lowercase();
    response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[actix_web::test]
async fn the_installable_app_is_served_with_the_headers_its_service_worker_needs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<title>chat</title>").unwrap();
    std::fs::write(dir.path().join("sw.js"), "self.onfetch = () => {};").unwrap();
    std::fs::write(dir.path().join("manifest.webmanifest"), "{}").unwrap();
    std::fs::write(dir.path().join("app-0123456789abcdef.js"), "1").unwrap();
    let server = TestServer::spawn(Config {
        static_dir: Some(dir.path().to_owned()),
        ..TestServer::fast_config()
    });
    let header = |head: &str, name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .map(str::to_owned)
    };
    // The page names the build's hashed files: a cache must ask before reusing it, on every
    // path the app answers.
    for path in ["/", "/index.html", "/echo", "/?open=room:lobby&at=3"] {
        let head = response_head(server.addr, path).await;
        assert!(head.starts_with("http/1.1 200"), "{path}: {head}");
        assert_eq!(
            header(&head, "cache-control").as_deref(),
            Some("no-cache"),
            "{path}: {head}"
        );
    }
    let worker = response_head(server.addr, paths::SERVICE_WORKER).await;
    assert!(worker.starts_with("http/1.1 200"), "{worker}");
    assert_eq!(
        header(&worker, "cache-control").as_deref(),
        Some("no-cache"),
        "{worker}"
    );
    assert_eq!(
        header(&worker, "service-worker-allowed").as_deref(),
        Some("/"),
        "{worker}"
    );
    assert!(
        header(&worker, "content-type").is_some_and(
            |t| t.starts_with("text/javascript") || t.starts_with("application/javascript")
        ),
        "{worker}"
    );
    let policy = header(&worker, "content-security-policy").unwrap_or_default();
    assert!(policy.contains("worker-src 'self'"), "{policy}");
    assert!(policy.contains("manifest-src 'self'"), "{policy}");
    let manifest = response_head(server.addr, "/manifest.webmanifest").await;
    assert_eq!(
        header(&manifest, "content-type").as_deref(),
        Some("application/manifest+json"),
        "{manifest}"
    );
    // Hashed files keep plain validators: they never change under their name.
    let hashed = response_head(server.addr, "/app-0123456789abcdef.js").await;
    assert!(hashed.starts_with("http/1.1 200"), "{hashed}");
    assert_eq!(header(&hashed, "cache-control"), None, "{hashed}");
    assert!(header(&hashed, "etag").is_some(), "{hashed}");
}

#[actix_web::test]
async fn missing_frontend_build_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::spawn(Config {
        static_dir: Some(dir.path().join("nope")),
        ..TestServer::fast_config()
    });
    let (status, body) = http_get(server.addr, "/").await;
    assert_eq!(status, 404);
    assert!(body.contains("frontend is not built"), "{body}");
}

#[actix_web::test]
async fn next_message_helper_skips_heartbeats() {
    // Guards the helper the other tests rely on: with pings every 100 ms, a reply that arrives
    // after several pings is still found.
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(paths::WS_ECHO).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    within(client.send(Message::text("x"))).await.unwrap();
    assert_eq!(next_message(&mut client).await, Message::text("x"));
}

/// CPU time (user + system) process `pid` has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process's stat");
    // The fields after the command name (which may hold spaces, in parentheses).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a command name in parentheses")
        .1
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    ticks(11) + ticks(12)
}

/// An idle server sleeps: no task polls in a loop (a closed channel polled again and again
/// once kept a core busy). Two seconds idle may cost a few ticks, not a core's 200.
async fn an_idle_server_uses_no_cpu(extra: &[&str]) {
    let data = tempfile::tempdir().expect("a data directory");
    let mut args = vec!["--data-dir", data.path().to_str().expect("a UTF-8 path")];
    args.extend_from_slice(extra);
    let process = common::Process::start(&args).await;
    let pid = process.child.id();
    // Start-up work (opening stores, the first Redis round trips) is not idling.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    assert!(used < 40, "an idle server used {used} ticks of CPU in 2 s");
}

#[actix_web::test]
async fn an_idle_single_node_uses_no_cpu() {
    an_idle_server_uses_no_cpu(&[]).await;
}

#[actix_web::test]
async fn an_idle_cluster_node_uses_no_cpu() {
    let redis = common::redis_server::RedisServer::start().await;
    let url = redis.url();
    an_idle_server_uses_no_cpu(&["--redis", &url]).await;
}

/// The emoji picker's data: public (any origin, no credentials), compressed for browsers
/// that ask, and every entry the shape the app reads (`[emoji, skin, codes, en, ko]`).
#[actix_web::test]
async fn the_emoji_data_is_public_compressed_and_well_formed() {
    let server = TestServer::spawn(TestServer::fast_config());
    let (status, body) = http_get(server.addr, paths::EMOJI_DATA).await;
    assert_eq!(status, 200);
    let entries: Vec<(String, u8, String, String, String)> =
        serde_json::from_str(&body).expect("the data is a list of 5-tuples");
    assert!(entries.len() > 1800, "{} emoji", entries.len());
    let wave = entries.iter().find(|e| e.0 == "👋").expect("👋 is in");
    assert_eq!(wave.1, 1, "👋 takes a skin tone");
    assert!(wave.3.starts_with("waving hand|") && !wave.4.is_empty());
    assert!(entries.iter().any(|e| e.2.split(' ').any(|c| c == "tada")));
    // Read raw: the compressed body is bytes, not text.
    let mut stream = within(tokio::net::TcpStream::connect(server.addr))
        .await
        .expect("connect");
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: gzip\r\n\
         Origin: http://elsewhere.test\r\nConnection: close\r\n\r\n",
        paths::EMOJI_DATA,
        server.addr
    );
    within(tokio::io::AsyncWriteExt::write_all(
        &mut stream,
        request.as_bytes(),
    ))
    .await
    .expect("write");
    let mut response = Vec::new();
    within(tokio::io::AsyncReadExt::read_to_end(
        &mut stream,
        &mut response,
    ))
    .await
    .expect("read");
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(
        response.len() < body.len() / 2,
        "compressed: {} of {} bytes",
        response.len(),
        body.len()
    );
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
}
