//! Properties of the decoder that must hold for *any* input, shared by the fuzz targets
//! (`fuzz/`, run by `cargo xtask fuzz`) and the regression tests over the committed corpus
//! (`shared/tests/fuzz_corpus.rs`, part of the normal suite). Each function panics when a
//! property is broken, which is what both harnesses detect.

use serde::de::DeserializeOwned;

use crate::{
    ClientMsg, ClientMsgId, EchoFrame, Image, Nick, RoomName, ServerMsg, Text, UserToken,
    auth::{ApiError, SessionInfo},
    decode, encode,
    lean::{Json, Lean, read},
};

/// Decoding a client frame never panics; whatever decodes re-encodes to something that decodes
/// to the same message.
pub fn client_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = ClientMsg::parse(text) {
        let again = encode(&message).expect("a decoded message encodes");
        assert_eq!(
            ClientMsg::parse(&again).expect("re-encoded message decodes"),
            message
        );
        // The browser app's own encoder writes what decodes to it too.
        assert_eq!(
            ClientMsg::parse(&message.to_json()).expect("the app's encoding decodes"),
            message
        );
    }
}

/// The same for server frames, with both decoders of them: serde's (the reference) and
/// [`ServerMsg::parse`] (the browser app's).
pub fn server_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(message) = decode::<ServerMsg>(text) {
        let again = encode(&message).expect("a decoded message encodes");
        assert_eq!(
            decode::<ServerMsg>(&again).expect("re-encoded message decodes"),
            message
        );
        assert_eq!(
            ServerMsg::parse(&again).expect("the app's decoder reads what serde reads"),
            message
        );
    }
    // The browser app's decoder accepts nothing the wire format cannot say: what it reads
    // encodes to a frame serde reads back the same.
    if let Ok(message) = ServerMsg::parse(text) {
        let again = encode(&message).expect("a decoded message encodes");
        assert_eq!(
            decode::<ServerMsg>(&again).expect("serde reads what the app's decoder read"),
            message
        );
    }
}

/// Every validator accepts only values that keep its documented rules.
pub fn names(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(nick) = Nick::try_from(text) {
        let chars = nick.as_str().chars().count();
        assert!((1..=Nick::MAX_CHARS).contains(&chars));
        assert!(!nick.as_str().chars().any(char::is_control));
        assert_eq!(nick.as_str().trim(), nick.as_str());
    }
    if let Ok(room) = RoomName::try_from(text) {
        let name = room.as_str();
        assert!((1..=RoomName::MAX_CHARS).contains(&name.chars().count()));
        // Stored lower-case, so `Lobby` and `lobby` are one room.
        assert_eq!(name.to_lowercase(), name);
        assert_eq!(name, text.to_lowercase());
        assert!(
            name.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(
            RoomName::try_from(name).ok().as_ref(),
            Some(&room),
            "normalising is stable"
        );
    }
    for (token, lengths) in [
        (ClientMsgId::try_from(text).map(String::from), 1..=64),
        (UserToken::try_from(text).map(String::from), 16..=128),
    ] {
        let Ok(token) = token else { continue };
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert!(lengths.contains(&token.len()), "{} bytes", token.len());
        assert_eq!(token, text, "kept exactly as given");
    }
    if let Ok(message) = Text::try_from(text) {
        assert!(!message.as_str().trim().is_empty() && message.as_str().len() <= Text::MAX_BYTES);
    }
}

/// Server frames, valid and not, on which [`crate::lean::read`] must agree with serde's
/// decoder over any [`Json`] tree: every kind of value the decoder reads (objects, arrays,
/// maps, strings, integers at their limits, booleans, `null`, absent fields, unknown tags).
pub const LEAN_FRAMES: &[&str] = &[
    r#"{"type":"welcome","user":"Ann","limits":{"max_text_chars":4000,"max_rooms":20,"rate_per_sec":5,"rate_burst":10,"typing_timeout_ms":5000}}"#,
    r#"{"type":"welcome","user":"Ann","limits":{"max_text_chars":4000,"max_rooms":20,"rate_per_sec":5,"rate_burst":10,"typing_timeout_ms":5000,"max_reactions":20,"max_reactions_per_user":10,"max_owned_rooms":20}}"#,
    r#"{"type":"said","id":7,"room":"lobby","seq":3,"from":"Ann","text":"안녕 👋","ts":1700000000000,"client_id":"c-1","reply_to":{"id":6,"seq":2,"from":"Bob","text":"hi"},"image":{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/png","width":1,"height":4294967295,"bytes":3}}"#,
    r#"{"type":"said","id":7,"room":"lobby","seq":3,"from":"Ann","text":"a","ts":9007199254740991,"client_id":"c-1","reply_to":null}"#,
    r#"{"type":"history","room":"lobby","mode":"catch_up","messages":[{"id":1,"seq":1,"from":"Ann","text":"x","ts":1,"client_id":"c","edited":true,"reactions":[{"emoji":"👍","users":["Bob","Cy"]}]}],"changes":[{"id":2,"seq":2,"from":"Ann","ts":2,"client_id":"d","target":1,"change":{"kind":"reacted","emoji":"👍","on":true}}],"more_before":false,"epoch":"e1"}"#,
    r#"{"type":"read_positions","rooms":{"lobby":3,"b":0},"directs":{"Bob":9007199254740991}}"#,
    r#"{"type":"members","room":"lobby","after":null,"members":["Ann"],"more":true}"#,
    r#"{"type":"room_policy","room":"lobby","owner":null,"private":false,"max_members":null}"#,
    r#"{"type":"moderated","room":"a","by":"b","action":{"kind":"muted","user":"c","until_ms":5}}"#,
    r#"{"type":"error","code":"rate_limited","message":"slow down","client_id":"c-9"}"#,
    r#"{"type":"presence","room":"a","count":2,"joined":[],"left":["x"],"extra":{"ignored":[1,2]}}"#,
    "not json",
    "[1]",
    "null",
    r#"{"room":"a"}"#,
    r#"{"type":"dance"}"#,
    r#"{"type":7}"#,
    r#"{"type":"left"}"#,
    r#"{"type":"left","room":"a b"}"#,
    r#"{"type":"left","room":7}"#,
    r#"{"type":"left","room":null}"#,
    r#"{"type":"typing","room":"a","user":"b","active":"yes"}"#,
    r#"{"type":"reauthed","expires_in_ms":-1}"#,
    r#"{"type":"reauthed","expires_in_ms":1.5}"#,
    r#"{"type":"reauthed","expires_in_ms":"1"}"#,
    r#"{"type":"rooms","rooms":[{"name":"a","members":4294967296}]}"#,
    r#"{"type":"rooms","rooms":{"name":"a"}}"#,
    r#"{"type":"error","code":"bogus","message":"m"}"#,
    r#"{"type":"read_positions","rooms":null}"#,
    r#"{"type":"read_positions","rooms":[1]}"#,
    r#"{"type":"read_positions","rooms":{"a b":1}}"#,
    r#"{"type":"moderated","room":"a","by":"b","action":{"kind":"hugged","user":"c"}}"#,
    r#"{"type":"moderated","room":"a","by":"b","action":{"kind":"muted","user":"c"}}"#,
];

/// The account API's answers, valid and not (see [`LEAN_FRAMES`]).
pub const LEAN_SESSIONS: &[&str] = &[
    r#"{"mode":"open","user":null}"#,
    r#"{"mode":"accounts","user":"Ann"}"#,
    r#"{"mode":"jwt"}"#,
    r#"{"mode":"ldap","user":null}"#,
    r#"{"user":"Ann"}"#,
    r#"{"mode":"accounts","user":"a b"}"#,
];

/// Refusals of the account API and the upload (see [`LEAN_FRAMES`]).
pub const LEAN_API_ERRORS: &[&str] = &[r#"{"error":"wrong password"}"#, r#"{"error":1}"#, "{}"];

/// Echo frames (see [`LEAN_FRAMES`]); their serde impl refuses unknown fields.
pub const LEAN_ECHOES: &[&str] = &[
    r#"{"id":1,"text":"hi"}"#,
    r#"{"id":1,"text":"hi","more":0}"#,
    r#"{"id":-1,"text":"hi"}"#,
    r#"{"text":"hi"}"#,
];

/// The upload's answer (an [`crate::Image`]; see [`LEAN_FRAMES`]).
pub const LEAN_IMAGES: &[&str] = &[
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/webp","width":640,"height":480,"bytes":12345}"#,
    r#"{"id":"0000000000000000000000000000000000000000000000000000000000000000","mime":"image/svg+xml","width":640,"height":480,"bytes":12345}"#,
    r#"{"id":"../etc/passwd","mime":"image/png","width":1,"height":1,"bytes":1}"#,
];

/// [`crate::lean::read`] over the trees `parse` builds reads every text of the lists above as
/// serde's decoder does: the same value, or both refuse (`parse` returns `None` for what is
/// not JSON). Run over serde_json's tree natively and over the browser's in the browser suite.
/// (Not on integers above 2^53 - 1: the browser's tree refuses those, see [`crate::lean`].)
pub fn lean_agrees_with_serde<J: Json>(parse: impl Fn(&str) -> Option<J>) {
    agree::<ServerMsg, J>(LEAN_FRAMES, &parse);
    agree::<SessionInfo, J>(LEAN_SESSIONS, &parse);
    agree::<ApiError, J>(LEAN_API_ERRORS, &parse);
    agree::<EchoFrame, J>(LEAN_ECHOES, &parse);
    agree::<Image, J>(LEAN_IMAGES, &parse);
}

fn agree<T, J>(texts: &[&str], parse: &impl Fn(&str) -> Option<J>)
where
    T: Lean + DeserializeOwned + PartialEq + std::fmt::Debug,
    J: Json,
{
    for text in texts {
        let serde = decode::<T>(text).ok();
        let lean = parse(text).and_then(|tree| read::<T, J>(&tree).ok());
        assert_eq!(lean, serde, "{text}");
    }
}
