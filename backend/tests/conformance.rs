//! RFC 6455 conformance of `/ws/echo`, written from the RFC's sections 5–7 with raw frames over
//! a TCP socket (the Autobahn suite needs Python 2, which this machine cannot have). Each test
//! is named after the section it checks. Where the server is stricter or laxer than the RFC
//! asks, docs/CONFORMANCE.md says so and why.

// Frame builders outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{RawSocket, TestServer, within};
use shared::{close, paths};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// One frame as a client sends it: masked unless `mask` is `None`.
fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

const KEY: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

fn data(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, 0, opcode, KEY, payload)
}

fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason);
    payload
}

/// A server frame: (fin, opcode, payload).
type ServerFrame = (bool, u8, Vec<u8>);

struct Peer {
    socket: RawSocket,
    buffer: Vec<u8>,
}

impl Peer {
    async fn open(server: &TestServer) -> Self {
        Self {
            socket: RawSocket::connect(server.addr, paths::WS_ECHO, None).await,
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        within(self.socket.stream.write_all(bytes)).await.unwrap();
    }

    /// The next server frame other than a heartbeat ping; `None` when the connection ended.
    async fn next(&mut self) -> Option<ServerFrame> {
        loop {
            if let Some((frame, used)) = parse(&self.buffer) {
                self.buffer.drain(..used);
                if frame.1 == PING {
                    continue;
                }
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            let n = match within(self.socket.stream.read(&mut chunk)).await {
                Ok(n) => n,
                Err(_) => return None, // reset by the server
            };
            if n == 0 {
                return None;
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    /// Expects a close frame with `code` (and, per 5.5.1, nothing after it).
    async fn expect_close(&mut self, code: u16) {
        match self.next().await {
            Some((true, CLOSE, payload)) => {
                assert!(payload.len() >= 2, "close without code");
                assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code);
            }
            other => panic!("expected close {code}, got {other:?}"),
        }
    }

    async fn expect(&mut self, opcode: u8, payload: &[u8]) {
        match self.next().await {
            Some((true, op, got)) if op == opcode => assert_eq!(got, payload),
            other => panic!(
                "expected opcode {opcode:#x} with {} bytes, got {other:?}",
                payload.len()
            ),
        }
    }
}

/// Parses one unmasked server frame from the front of `bytes`.
fn parse(bytes: &[u8]) -> Option<(ServerFrame, usize)> {
    let first = *bytes.first()?;
    let second = *bytes.get(1)?;
    assert_eq!(second & 0x80, 0, "server frames must not be masked (5.1)");
    let (len, header) = match second & 0x7f {
        126 => (
            u16::from_be_bytes([*bytes.get(2)?, *bytes.get(3)?]) as usize,
            4,
        ),
        127 => {
            let mut n = [0u8; 8];
            n.copy_from_slice(bytes.get(2..10)?);
            (u64::from_be_bytes(n) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = bytes.get(header..header + len)?.to_vec();
    Some(((first & 0x80 != 0, first & 0x0f, payload), header + len))
}

fn server() -> TestServer {
    TestServer::spawn(Config {
        max_frame_size: 128 * 1024,
        heartbeat_interval: Duration::from_secs(5),
        client_timeout: Duration::from_secs(30),
        ..Config::default()
    })
}

#[actix_web::test]
async fn rfc5_2_every_payload_length_encoding_round_trips() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    // 7-bit (0, 125), 16-bit (126, 65535) and 64-bit (65536) lengths.
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        peer.send(&data(BINARY, &payload)).await;
        peer.expect(BINARY, &payload).await;
    }
}

#[actix_web::test]
async fn rfc5_1_unmasked_client_frame_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&frame(true, 0, TEXT, None, b"not masked")).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_2_reserved_bits_without_an_extension_are_a_protocol_error() {
    for rsv in [0b100, 0b010, 0b001] {
        let server = server();
        let mut peer = Peer::open(&server).await;
        peer.send(&frame(true, rsv, TEXT, KEY, b"rsv")).await;
        peer.expect_close(close::PROTOCOL_ERROR).await;
    }
}

#[actix_web::test]
async fn rfc5_2_reserved_opcodes_are_a_protocol_error() {
    for opcode in [0x3, 0x7, 0xB, 0xF] {
        let server = server();
        let mut peer = Peer::open(&server).await;
        peer.send(&data(opcode, b"?")).await;
        peer.expect_close(close::PROTOCOL_ERROR).await;
    }
}

#[actix_web::test]
async fn rfc5_5_2_ping_is_answered_with_a_pong_carrying_its_payload() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    for payload in [&b""[..], b"ping payload", &[0xab; 125]] {
        peer.send(&data(PING, payload)).await;
        peer.expect(PONG, payload).await;
    }
}

#[actix_web::test]
async fn rfc5_5_3_unsolicited_pong_is_ignored() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(PONG, b"unsolicited")).await;
    peer.send(&data(TEXT, b"after pong")).await;
    peer.expect(TEXT, b"after pong").await;
}

#[actix_web::test]
async fn rfc5_5_control_frame_over_125_bytes_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(PING, &[0u8; 126])).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_5_fragmented_control_frame_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&frame(false, 0, PING, KEY, b"part")).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_4_fragments_are_reassembled_with_control_frames_between_them() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&frame(false, 0, TEXT, KEY, b"frag")).await;
    peer.send(&data(PING, b"between")).await;
    peer.send(&frame(false, 0, CONTINUATION, KEY, b"men")).await;
    peer.send(&frame(true, 0, CONTINUATION, KEY, b"ted")).await;
    peer.expect(PONG, b"between").await;
    peer.expect(TEXT, b"fragmented").await;
}

#[actix_web::test]
async fn rfc5_4_continuation_without_a_start_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&frame(true, 0, CONTINUATION, KEY, b"orphan"))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_4_new_data_frame_in_the_middle_of_a_fragmented_message_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&frame(false, 0, TEXT, KEY, b"first half")).await;
    peer.send(&data(TEXT, b"interloper")).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc8_1_invalid_utf8_in_one_frame_closes_with_1007() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(TEXT, &[b'o', b'k', 0xed, 0xa0, 0x80]))
        .await; // an encoded surrogate
    peer.expect_close(close::INVALID_PAYLOAD).await;
}

#[actix_web::test]
async fn rfc8_1_invalid_utf8_split_across_fragments_closes_with_1007() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&frame(false, 0, TEXT, KEY, "valid ".as_bytes()))
        .await;
    peer.send(&frame(true, 0, CONTINUATION, KEY, &[0xc0, 0xaf]))
        .await; // overlong '/'
    peer.expect_close(close::INVALID_PAYLOAD).await;
}

#[actix_web::test]
async fn rfc5_6_a_character_split_across_fragments_is_valid() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    let bytes = "한".as_bytes(); // three bytes, split 1 + 2
    peer.send(&frame(false, 0, TEXT, KEY, &bytes[..1])).await;
    peer.send(&frame(true, 0, CONTINUATION, KEY, &bytes[1..]))
        .await;
    peer.expect(TEXT, bytes).await;
}

#[actix_web::test]
async fn rfc7_4_valid_close_codes_are_echoed() {
    for code in [
        1000u16, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999,
    ] {
        let server = server();
        let mut peer = Peer::open(&server).await;
        peer.send(&data(CLOSE, &close_payload(code, b"bye"))).await;
        peer.expect_close(code).await;
    }
}

#[actix_web::test]
async fn rfc7_4_close_without_a_code_is_answered_without_one() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(CLOSE, b"")).await;
    match peer.next().await {
        Some((true, CLOSE, payload)) => assert!(payload.is_empty(), "{payload:?}"),
        other => panic!("expected an empty close, got {other:?}"),
    }
}

#[actix_web::test]
async fn rfc7_4_invalid_close_codes_are_a_protocol_error() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
        let server = server();
        let mut peer = Peer::open(&server).await;
        peer.send(&data(CLOSE, &close_payload(code, b""))).await;
        peer.expect_close(close::PROTOCOL_ERROR).await;
    }
}

#[actix_web::test]
async fn rfc5_5_1_close_with_a_one_byte_payload_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(CLOSE, &[0x03])).await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_5_close_reason_too_long_is_a_protocol_error() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    // 2 + 124 = 126 bytes: over the 125-byte control frame limit.
    peer.send(&data(CLOSE, &close_payload(1000, &[b'x'; 124])))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_5_1_invalid_utf8_close_reason_fails_the_connection_with_1002() {
    // Deviation (docs/CONFORMANCE.md): 8.1 suggests 1007; actix-http rejects the whole close
    // frame as a protocol error before the application sees it, so the answer is 1002.
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(CLOSE, &close_payload(1000, &[0xff, 0xfe])))
        .await;
    peer.expect_close(close::PROTOCOL_ERROR).await;
}

#[actix_web::test]
async fn rfc5_5_1_nothing_is_processed_after_a_close() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    let mut bytes = data(CLOSE, &close_payload(1000, b""));
    bytes.extend(data(TEXT, b"after close"));
    peer.send(&bytes).await;
    peer.expect_close(1000).await;
    // No echo of the late message: the next thing is the end of the connection.
    if let Some(frame) = peer.next().await {
        panic!("data after close: {frame:?}");
    }
}

#[actix_web::test]
async fn rfc5_5_1_a_second_close_is_not_answered() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    let mut bytes = data(CLOSE, &close_payload(1000, b"first"));
    bytes.extend(data(CLOSE, &close_payload(1001, b"second")));
    peer.send(&bytes).await;
    peer.expect_close(1000).await;
    if let Some(frame) = peer.next().await {
        panic!("answered a close after close: {frame:?}");
    }
}

#[actix_web::test]
async fn rfc10_4_frame_over_the_size_limit_closes_with_1009() {
    let server = server();
    let mut peer = Peer::open(&server).await;
    peer.send(&data(BINARY, &vec![0u8; 128 * 1024 + 1])).await;
    peer.expect_close(close::MESSAGE_TOO_BIG).await;
}
