//! Golden tests: the exact JSON on the wire. A failure here means a protocol change, which needs
//! a protocol version bump and a docs update, not a new golden string.

use shared::{EchoFrame, close, decode, encode, paths};

fn golden<T>(value: &T, json: &str)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(encode(value).expect("encodes"), json, "encoding changed");
    assert_eq!(
        &decode::<T>(json).expect("decodes"),
        value,
        "decoding changed"
    );
}

#[test]
fn echo_frame_is_id_and_text() {
    golden(
        &EchoFrame {
            id: 1,
            text: "hello".to_owned(),
        },
        r#"{"id":1,"text":"hello"}"#,
    );
}

#[test]
fn echo_frame_keeps_non_ascii_unescaped() {
    // serde_json writes UTF-8 as is: Korean stays 3 bytes a syllable, not \uXXXX escapes.
    golden(
        &EchoFrame {
            id: 18_446_744_073_709_551_615,
            text: "안녕하세요 hello \"quoted\"\n<b>".to_owned(),
        },
        r#"{"id":18446744073709551615,"text":"안녕하세요 hello \"quoted\"\n<b>"}"#,
    );
}

#[test]
fn echo_frame_rejects_unknown_fields() {
    let err = decode::<EchoFrame>(r#"{"id":1,"text":"a","extra":true}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field `extra`"), "{err}");
}

#[test]
fn close_codes_are_frozen() {
    assert_eq!(
        [
            close::NORMAL,
            close::GOING_AWAY,
            close::PROTOCOL_ERROR,
            close::INVALID_PAYLOAD,
            close::POLICY_VIOLATION,
            close::MESSAGE_TOO_BIG,
            close::INTERNAL_ERROR,
            close::SLOW_CONSUMER,
            close::HEARTBEAT_TIMEOUT,
        ],
        [1000, 1001, 1002, 1007, 1008, 1009, 1011, 1013, 4408]
    );
}

#[test]
fn paths_are_frozen() {
    assert_eq!(paths::WS_ECHO, "/ws/echo");
    assert_eq!(paths::HEALTHZ, "/healthz");
    assert_eq!(paths::WS_CHAT, "/ws");
    assert_eq!(shared::SUBPROTOCOL, "chat.v1.json");
}
