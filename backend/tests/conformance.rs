//! RFC 6455 conformance of `/ws/echo`, written from the RFC's sections 5–7 with raw frames over
//! a TCP socket (the Autobahn suite needs Python 2, which this machine cannot have). Each test
//! is named after the section it checks. Where the server is stricter or laxer than the RFC
//! asks, docs/CONFORMANCE.md says so and why.

// Frame builders outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{
    RawSocket, ServerFrame, TestServer, client_frame,
    opcode::{BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT},
};
use futures_util::StreamExt as _;
use shared::{ClientMsg, ErrorCode, ServerMsg, close, paths};

const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn data(opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(true, 0, opcode, KEY, payload)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// The endpoint a test speaks to: the suite runs against both, since `/ws` writes through its
/// own output path (`outgoing.rs`) and reads through the same codec.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// `/ws/echo`: every message comes back unchanged.
    Echo,
    /// `/ws` before `hello`: every message gets a typed `error`, which tells what the server
    /// understood (reassembled JSON, a binary frame, ...).
    Chat,
}

impl Target {
    fn path(self) -> &'static str {
        match self {
            Self::Echo => paths::WS_ECHO,
            Self::Chat => paths::WS_CHAT,
        }
    }

    fn protocol(self) -> Option<&'static str> {
        match self {
            Self::Echo => None,
            Self::Chat => Some(shared::SUBPROTOCOL),
        }
    }
}

struct Peer {
    socket: RawSocket,
    target: Target,
}

impl Peer {
    async fn open(server: &TestServer, target: Target) -> Self {
        Self {
            socket: RawSocket::connect(server.addr, target.path(), target.protocol()).await,
            target,
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.socket.send_bytes(bytes).await;
    }

    /// The next server frame other than a heartbeat ping; `None` when the connection ended.
    async fn next(&mut self) -> Option<ServerFrame> {
        loop {
            match self.socket.next_frame().await {
                Some((_, PING, _)) => {}
                other => return other,
            }
        }
    }

    /// Expects a close frame with `code` (and, per 5.5.1, nothing after it).
    async fn expect_close(&mut self, code: u16) {
        match self.next().await {
            Some((true, CLOSE, payload)) => {
                assert!(payload.len() >= 2, "close without code");
                assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
            }
            other => panic!("{:?}: expected close {code}, got {other:?}", self.target),
        }
    }

    async fn expect(&mut self, opcode: u8, payload: &[u8]) {
        match self.next().await {
            Some((true, op, got)) if op == opcode => assert_eq!(got, payload),
            other => panic!(
                "{:?}: expected opcode {opcode:#x} with {} bytes, got {other:?}",
                self.target,
                payload.len()
            ),
        }
    }

    /// Expects the server's answer to the data message (`opcode`, `payload`): the echo, or the
    /// chat's `error` for exactly that message (so a message misread, e.g. not reassembled,
    /// gets a different code).
    async fn expect_answer(&mut self, opcode: u8, payload: &[u8]) {
        match self.target {
            Target::Echo => self.expect(opcode, payload).await,
            Target::Chat => {
                let expected = match opcode {
                    BINARY => ErrorCode::BinaryNotSupported,
                    _ => match ClientMsg::parse(std::str::from_utf8(payload).unwrap()) {
                        Err(refused) => refused.code,
                        Ok(_) => ErrorCode::NotIdentified, // before hello
                    },
                };
                match self.next().await {
                    Some((true, TEXT, json)) => {
                        match shared::decode::<ServerMsg>(std::str::from_utf8(&json).unwrap()) {
                            Ok(ServerMsg::Error { code, .. }) => assert_eq!(code, expected),
                            other => panic!("expected a {expected:?} error, got {other:?}"),
                        }
                    }
                    other => panic!("expected a {expected:?} error, got {other:?}"),
                }
            }
        }
    }
}

fn server() -> TestServer {
    TestServer::spawn(Config {
        max_frame_size: 128 * 1024,
        heartbeat_interval: Duration::from_secs(5),
        client_timeout: Duration::from_secs(30),
        // The close-code sweep opens 65,536 connections, 64 at a time, while the rest of the
        // suite runs beside it; on a loaded 2-core CI machine a worker was once busy for over
        // 5 s and answered a handshake already sent with 408. The request timeout is not what
        // these tests check, so it is generous here.
        request_timeout: Duration::from_secs(60),
        rate_per_sec: 100_000,
        rate_burst: 100_000,
        max_connections: 100_000,
        // Some tests open a hundred sockets in a row from 127.0.0.1.
        max_connections_per_ip: 0,
        max_handshakes_per_ip: 0,
        ..Config::default()
    })
}

/// Runs each `async fn name(target: Target)` below as two tests, `echo::name` and
/// `chat::name`.
macro_rules! on_both_endpoints {
    ($($name:ident),* $(,)?) => {
        mod echo {
            $(#[actix_web::test] async fn $name() { super::$name(super::Target::Echo).await })*
        }
        mod chat {
            $(#[actix_web::test] async fn $name() { super::$name(super::Target::Chat).await })*
        }
    };
}

on_both_endpoints!(
    rfc5_2_every_payload_length_encoding_round_trips,
    rfc5_1_unmasked_client_frame_is_a_protocol_error,
    rfc5_2_reserved_bits_without_an_extension_are_a_protocol_error,
    rfc5_2_reserved_opcodes_are_a_protocol_error,
    rfc5_5_2_ping_is_answered_with_a_pong_carrying_its_payload,
    rfc5_5_3_unsolicited_pong_is_ignored,
    rfc5_5_control_frame_over_125_bytes_is_a_protocol_error,
    rfc5_5_fragmented_control_frame_is_a_protocol_error,
    rfc5_4_fragments_are_reassembled_with_control_frames_between_them,
    rfc5_4_continuation_without_a_start_is_a_protocol_error,
    rfc5_4_new_data_frame_in_the_middle_of_a_fragmented_message_is_a_protocol_error,
    rfc8_1_invalid_utf8_in_one_frame_closes_with_1007,
    rfc8_1_invalid_utf8_split_across_fragments_closes_with_1007,
    rfc5_6_a_character_split_across_fragments_is_valid,
    rfc7_4_every_close_code_is_echoed_if_valid_and_a_protocol_error_if_not,
    rfc7_4_close_without_a_code_is_answered_without_one,
    rfc5_5_1_close_with_a_one_byte_payload_is_a_protocol_error,
    rfc5_5_close_reason_too_long_is_a_protocol_error,
    rfc5_5_1_invalid_utf8_close_reason_fails_the_connection_with_1002,
    rfc5_5_1_nothing_is_processed_after_a_close,
    rfc5_5_1_a_second_close_is_not_answered,
    rfc5_5_1_the_server_closes_the_tcp_connection_after_a_close_the_client_started,
    rfc7_1_1_a_silent_peer_is_closed_and_its_tcp_connection_ends_after_the_heartbeat_timeout,
    rfc10_4_frame_over_the_size_limit_closes_with_1009,
);

async fn rfc5_2_every_payload_length_encoding_round_trips(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    // 7-bit (0, 125), 16-bit (126, 65535) and 64-bit (65536) lengths.
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        peer.send(&data(BINARY, &payload)).await;
        peer.expect_answer(BINARY, &payload).await;
    }
}

async fn rfc5_1_unmasked_client_frame_is_a_protocol_error(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&client_frame(true, 0, TEXT, None, b"not masked"))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_2_reserved_bits_without_an_extension_are_a_protocol_error(target: Target) {
    for rsv in 1..=0b111 {
        let server = server();
        let mut peer = Peer::open(&server, target).await;
        peer.send(&client_frame(true, rsv, TEXT, KEY, b"rsv")).await;
        peer.expect_close(close::PROTOCOL_ERROR).await;
    }
}

async fn rfc5_2_reserved_opcodes_are_a_protocol_error(target: Target) {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        let server = server();
        let mut peer = Peer::open(&server, target).await;
        peer.send(&data(opcode, b"?")).await;
        peer.expect_close(close::PROTOCOL_ERROR).await;
    }
}

async fn rfc5_5_2_ping_is_answered_with_a_pong_carrying_its_payload(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    for payload in [&b""[..], b"ping payload", &[0xab; 125]] {
        peer.send(&data(PING, payload)).await;
        peer.expect(PONG, payload).await;
    }
}

async fn rfc5_5_3_unsolicited_pong_is_ignored(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(PONG, b"unsolicited")).await;
    peer.send(&data(TEXT, b"after pong")).await;
    peer.expect_answer(TEXT, b"after pong").await;
}

async fn rfc5_5_control_frame_over_125_bytes_is_a_protocol_error(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(PING, &[0u8; 126])).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_5_fragmented_control_frame_is_a_protocol_error(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&client_frame(false, 0, PING, KEY, b"part")).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_4_fragments_are_reassembled_with_control_frames_between_them(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    // Valid JSON only when whole: the chat answers `not_identified` (a request before hello)
    // only if it reassembled the message.
    peer.send(&client_frame(false, 0, TEXT, KEY, br#"{"type":"#))
        .await;
    peer.send(&data(PING, b"between")).await;
    peer.send(&client_frame(false, 0, CONTINUATION, KEY, br#""list_"#))
        .await;
    peer.send(&client_frame(true, 0, CONTINUATION, KEY, br#"rooms"}"#))
        .await;
    peer.expect(PONG, b"between").await;
    peer.expect_answer(TEXT, br#"{"type":"list_rooms"}"#).await;
}

async fn rfc5_4_continuation_without_a_start_is_a_protocol_error(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&client_frame(true, 0, CONTINUATION, KEY, b"orphan"))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_4_new_data_frame_in_the_middle_of_a_fragmented_message_is_a_protocol_error(
    target: Target,
) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&client_frame(false, 0, TEXT, KEY, b"first half"))
        .await;
    peer.send(&data(TEXT, b"interloper")).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc8_1_invalid_utf8_in_one_frame_closes_with_1007(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(TEXT, &[b'o', b'k', 0xed, 0xa0, 0x80]))
        .await; // an encoded surrogate
    peer.expect_close(close::INVALID_PAYLOAD).await;
}

async fn rfc8_1_invalid_utf8_split_across_fragments_closes_with_1007(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&client_frame(false, 0, TEXT, KEY, "valid ".as_bytes()))
        .await;
    peer.send(&client_frame(true, 0, CONTINUATION, KEY, &[0xc0, 0xaf]))
        .await; // overlong '/'
    peer.expect_close(close::INVALID_PAYLOAD).await;
}

async fn rfc5_6_a_character_split_across_fragments_is_valid(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    let bytes = r#"{"type":"한"}"#.as_bytes(); // 한 is three bytes: split after its first
    peer.send(&client_frame(false, 0, TEXT, KEY, &bytes[..10]))
        .await;
    peer.send(&client_frame(true, 0, CONTINUATION, KEY, &bytes[10..]))
        .await;
    peer.expect_answer(TEXT, bytes).await;
}

/// Whether RFC 6455 7.4 lets a close frame carry `code` (7.4.1's defined codes, 7.4.2's
/// ranges for libraries and applications; 1004–1006 and 1015 must not be sent). 1012–1014
/// (service restart, try again later, bad gateway) were registered with IANA after the RFC;
/// actix-http accepts them, as do browsers.
fn close_code_is_valid(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

async fn rfc7_4_every_close_code_is_echoed_if_valid_and_a_protocol_error_if_not(target: Target) {
    // All 65,536 values, on one server, a connection each, many at a time.
    let server = server();
    let server = &server;
    let wrong: Vec<String> = futures_util::stream::iter(0..=u16::MAX)
        .map(|code| async move {
            let mut peer = Peer::open(server, target).await;
            peer.send(&data(CLOSE, &close_payload(code, b""))).await;
            let answer = match peer.next().await {
                Some((true, CLOSE, payload)) if payload.len() >= 2 => {
                    u16::from_be_bytes([payload[0], payload[1]])
                }
                other => return Some(format!("{code}: {other:?}")),
            };
            let expected = if close_code_is_valid(code) {
                code
            } else {
                close::PROTOCOL_ERROR
            };
            (answer != expected).then(|| format!("{code}: answered {answer}"))
        })
        .buffer_unordered(64)
        .filter_map(|wrong| async move { wrong })
        .collect()
        .await;
    assert!(
        wrong.is_empty(),
        "{} wrong: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(20)]
    );
}

async fn rfc7_4_close_without_a_code_is_answered_without_one(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(CLOSE, b"")).await;
    match peer.next().await {
        Some((true, CLOSE, payload)) => assert!(payload.is_empty(), "{payload:?}"),
        other => panic!("expected an empty close, got {other:?}"),
    }
}

async fn rfc5_5_1_close_with_a_one_byte_payload_is_a_protocol_error(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(CLOSE, &[0x03])).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_5_close_reason_too_long_is_a_protocol_error(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    // 2 + 124 = 126 bytes: over the 125-byte control frame limit.
    peer.send(&data(CLOSE, &close_payload(1000, &[b'x'; 124])))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_5_1_invalid_utf8_close_reason_fails_the_connection_with_1002(target: Target) {
    // Deviation (docs/CONFORMANCE.md): 8.1 suggests 1007; actix-http rejects the whole close
    // frame as a protocol error before the application sees it, so the answer is 1002.
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(CLOSE, &close_payload(1000, &[0xff, 0xfe])))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

async fn rfc5_5_1_nothing_is_processed_after_a_close(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    let mut bytes = data(CLOSE, &close_payload(1000, b""));
    bytes.extend(data(TEXT, b"after close"));
    peer.send(&bytes).await;
    peer.expect_close(1000).await;
    // No echo of the late message: the next thing is the end of the connection.
    if let Some(frame) = peer.next().await {
        panic!("data after close: {frame:?}");
    }
}

async fn rfc5_5_1_a_second_close_is_not_answered(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    let mut bytes = data(CLOSE, &close_payload(1000, b"first"));
    bytes.extend(data(CLOSE, &close_payload(1001, b"second")));
    peer.send(&bytes).await;
    peer.expect_close(1000).await;
    if let Some(frame) = peer.next().await {
        panic!("answered a close after close: {frame:?}");
    }
}

async fn rfc5_5_1_the_server_closes_the_tcp_connection_after_a_close_the_client_started(
    target: Target,
) {
    // "the server MUST close the underlying TCP connection immediately": a client that answers
    // nothing more and waits must see the end of the stream within 500 ms of the server's
    // close frame, not hold a descriptor open on the server. A hundred in a row, since a miss
    // was a race in the server (see lib.rs).
    let server = server();
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let mut peer = Peer::open(&server, target).await;
        peer.send(&data(CLOSE, &close_payload(1000, b""))).await;
        peer.expect_close(1000).await;
        let started = std::time::Instant::now();
        assert!(peer.next().await.is_none(), "a frame after the close");
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(500),
        "the server held a TCP connection {slowest:?} after the close handshake"
    );
}

async fn rfc7_1_1_a_silent_peer_is_closed_and_its_tcp_connection_ends_after_the_heartbeat_timeout(
    target: Target,
) {
    // 300 peers that complete the handshake and then never read or write (no pong either):
    // the server closes each with 4408 after --client-timeout and then ends the TCP
    // connection, releasing its descriptor, without waiting for an answer that never comes.
    // The real binary, so that its socket descriptors can be counted apart from the test's.
    const PEERS: usize = 300;
    let process = common::Process::start(&[
        "--heartbeat-interval",
        "300ms",
        "--client-timeout",
        "1s",
        "--max-connections-per-ip",
        "0",
        "--max-handshakes-per-ip",
        "0",
    ])
    .await;
    let server = TestServer::at(process.addr);
    let pid = process.child.id();
    let before = common::socket_descriptors(pid);
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        peers.push(Peer::open(&server, target).await);
    }
    let opened = std::time::Instant::now();
    assert!(
        common::socket_descriptors(pid) >= before + PEERS,
        "the server does not hold the {PEERS} sockets it accepted"
    );
    // Their sockets are never read by the peers until the deadline has passed.
    let deadline = Duration::from_secs(1) + Duration::from_secs(5);
    let mut held = usize::MAX;
    while opened.elapsed() < deadline {
        held = common::socket_descriptors(pid).saturating_sub(before);
        if held == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        held,
        0,
        "{held} of {PEERS} silent peers' sockets were still open after {:?}",
        opened.elapsed()
    );
    for peer in &mut peers {
        peer.expect_close(close::HEARTBEAT_TIMEOUT).await;
        assert!(peer.next().await.is_none(), "a frame after the close");
    }
}

async fn rfc10_4_frame_over_the_size_limit_closes_with_1009(target: Target) {
    let server = server();
    let mut peer = Peer::open(&server, target).await;
    peer.send(&data(BINARY, &vec![0u8; 128 * 1024 + 1])).await;
    peer.expect_close(close::MESSAGE_TOO_BIG).await;
}
