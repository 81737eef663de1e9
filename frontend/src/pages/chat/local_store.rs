//! What the chat page keeps in the browser's localStorage (the nickname, the browser token,
//! notifications on), and the random ids it makes.

use shared::UserToken;

/// The value kept under `key`, if any (and if the browser allows storage).
pub(super) fn stored(key: &str) -> Option<String> {
    crate::browser::storage()?.get_item(key).ok()?
}

/// Keeps `value` under `key`, if the browser allows it.
pub(super) fn store(key: &str, value: &str) {
    if let Some(storage) = crate::browser::storage() {
        // Best effort: private browsing may refuse; the session still works.
        let _ = storage.set_item(key, value);
    }
}

/// `len` random characters from the token alphabet (`A-Z a-z 0-9 - _`).
pub(super) fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len)
        .map(|_| {
            ALPHABET[(js_sys::Math::random() * ALPHABET.len() as f64) as usize % ALPHABET.len()]
                as char
        })
        .collect()
}

/// This browser's token (see [`UserToken`]): created once, kept in localStorage, so every
/// tab of this browser is the same user.
pub(super) fn browser_token() -> UserToken {
    if let Some(token) = stored("chat.token").and_then(|t| t.parse().ok()) {
        return token;
    }
    let token = random_id(32);
    store("chat.token", &token);
    // Not `expect`: printing the error would compile `char`'s Debug (escapes and Unicode
    // tables) into the wasm for a case that cannot happen.
    let Ok(token) = token.parse() else {
        unreachable!("32 characters from the token alphabet make a valid token")
    };
    token
}
