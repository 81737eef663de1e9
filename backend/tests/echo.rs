//! `/ws/echo` over real sockets: what goes in comes back, byte for byte.

mod common;

use common::{TestServer, next_message, round_trip, within};
use futures_util::SinkExt as _;
use shared::paths::WS_ECHO;
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

#[actix_web::test]
async fn text_is_echoed_to_sender() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(WS_ECHO).await;
    let reply = round_trip(&mut client, Message::text("hello")).await;
    assert_eq!(reply, Message::text("hello"));
}

#[actix_web::test]
async fn binary_is_echoed_to_sender() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(WS_ECHO).await;
    let payload: Vec<u8> = (0..=255).collect();
    let reply = round_trip(&mut client, Message::binary(payload.clone())).await;
    assert_eq!(reply, Message::binary(payload));
}

#[actix_web::test]
async fn korean_text_and_a_60_kb_message_come_back_byte_for_byte() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(WS_ECHO).await;

    let korean = "안녕하세요 hello";
    match round_trip(&mut client, Message::text(korean)).await {
        Message::Text(text) => assert_eq!(text.as_bytes(), korean.as_bytes()),
        other => panic!("expected text, got {other:?}"),
    }

    // 60 KB mixing 1-, 2- and 3-byte UTF-8 sequences, so any re-encoding would show.
    let big: String = "가나다 abc é ".chars().cycle().take(36_000).collect();
    assert!(big.len() >= 60_000, "{}", big.len());
    match round_trip(&mut client, Message::text(big.clone())).await {
        Message::Text(text) => assert_eq!(text.as_bytes(), big.as_bytes()),
        other => panic!("expected text, got {other:?}"),
    }
}

#[actix_web::test]
async fn fragmented_message_is_echoed_whole() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut client = server.connect(WS_ECHO).await;

    // "안녕" split inside a code point: only the reassembled message is valid UTF-8.
    let bytes = "안녕 fragments".as_bytes();
    let (a, rest) = bytes.split_at(2);
    let (b, c) = rest.split_at(4);
    let frames = [
        Frame::message(a.to_vec(), OpCode::Data(Data::Text), false),
        Frame::message(b.to_vec(), OpCode::Data(Data::Continue), false),
        Frame::message(c.to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for frame in frames {
        within(client.send(Message::Frame(frame))).await.unwrap();
    }
    assert_eq!(
        next_message(&mut client).await,
        Message::text("안녕 fragments")
    );

    // A ping between fragments is answered and does not disturb reassembly (RFC 6455 5.4).
    within(client.send(Message::Frame(Frame::message(
        b"bin".to_vec(),
        OpCode::Data(Data::Binary),
        false,
    ))))
    .await
    .unwrap();
    within(client.send(Message::Ping("mid".into())))
        .await
        .unwrap();
    within(client.send(Message::Frame(Frame::message(
        b"ary".to_vec(),
        OpCode::Data(Data::Continue),
        true,
    ))))
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let message = within(futures_util::StreamExt::next(&mut client))
            .await
            .unwrap()
            .unwrap();
        if message != Message::Ping(Default::default()) {
            seen.push(message);
        }
    }
    assert_eq!(
        seen,
        [
            Message::Pong("mid".into()),
            Message::binary(b"binary".to_vec())
        ]
    );
}

#[actix_web::test]
async fn messages_from_two_clients_stay_with_their_sender() {
    let server = TestServer::spawn(TestServer::fast_config());
    let mut alice = server.connect(WS_ECHO).await;
    let mut bob = server.connect(WS_ECHO).await;
    for i in 0..20 {
        within(alice.send(Message::text(format!("a{i}"))))
            .await
            .unwrap();
        within(bob.send(Message::text(format!("b{i}"))))
            .await
            .unwrap();
    }
    for i in 0..20 {
        assert_eq!(
            next_message(&mut alice).await,
            Message::text(format!("a{i}"))
        );
        assert_eq!(next_message(&mut bob).await, Message::text(format!("b{i}")));
    }
}
