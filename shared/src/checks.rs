//! Properties of the decoder that must hold for *any* input, shared by the fuzz targets
//! (`fuzz/`, run by `cargo xtask fuzz`) and the regression tests over the committed corpus
//! (`shared/tests/fuzz_corpus.rs`, part of the normal suite). Each function panics when a
//! property is broken, which is what both harnesses detect.

use crate::{ClientMsg, ClientMsgId, Nick, RoomName, ServerMsg, Text, UserToken, decode, encode};

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
