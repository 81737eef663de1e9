//! What the chat page keeps in the browser's localStorage (the nickname, the browser token,
//! notifications on, the outbox, the drafts), and the random ids it makes.

use shared::{ClientMsg, UserToken};
use wasm_bindgen::{JsCast as _, JsValue};

use crate::chat_state::{Target, read_outbox};

/// Where a page keeps its outbox: this prefix and the page's own `client_id` prefix, so that
/// two tabs never overwrite each other's.
const OUTBOX: &str = "chat.outbox.";
/// Where the drafts are kept: one JSON object, a draft per conversation name.
const DRAFTS: &str = "chat.drafts";

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

/// The outboxes pages of this browser left (closed tabs, and the outboxes of tabs still open),
/// with their keys, for a new page to take over: their entries become its pending lines, it
/// keeps them under its own key, then drops these keys ([`drop_items`]). A tab still open
/// writes its own again at its next change; an entry both then hold is sent by both, and the
/// server stores it once (the same `client_id`, see `chat_state::outbox`).
pub(super) fn left_outboxes() -> (Vec<ClientMsg>, Vec<String>) {
    let (mut requests, mut keys) = (Vec::new(), Vec::new());
    let Some(storage) = crate::browser::storage() else {
        return (requests, keys);
    };
    // (Plain loops: iterator adapters over these cost the wasm a kilobyte more.)
    for i in 0..storage.length().unwrap_or(0) {
        let Some(key) = storage.key(i).ok().flatten() else {
            continue;
        };
        if !key.starts_with(OUTBOX) {
            continue;
        }
        if let Some(Ok(tree)) = stored(&key).map(|json| js_sys::JSON::parse(&json)) {
            requests.extend(read_outbox(&crate::json::Tree(tree)));
        }
        keys.push(key);
    }
    (requests, keys)
}

/// Keeps this page's outbox (`json`, `chat_state::outbox_json`) under its `prefix`; an empty
/// one is removed.
pub(super) fn keep_outbox(prefix: &str, json: &str) {
    let key = format!("{OUTBOX}{prefix}");
    if json == "[]" {
        drop_items(&[key]);
    } else {
        store(&key, json);
    }
}

/// Removes `keys` from the storage.
pub(super) fn drop_items(keys: &[String]) {
    if let Some(storage) = crate::browser::storage() {
        for key in keys {
            let _ = storage.remove_item(key);
        }
    }
}

/// Forgets every draft (logging out: the next person at this browser must not read them).
pub fn forget_drafts() {
    if let Some(storage) = crate::browser::storage() {
        let _ = storage.remove_item(DRAFTS);
    }
}

/// The draft kept for `target`, if any.
pub(super) fn draft_of(target: &Target) -> Option<String> {
    let drafts = js_sys::JSON::parse(&stored(DRAFTS)?).ok()?;
    js_sys::Reflect::get(&drafts, &target.name().into())
        .ok()?
        .as_string()
}

/// Keeps `text` as the draft of `target` (an empty one is dropped), beside the others.
pub(super) fn keep_draft(target: &Target, text: &str) {
    let drafts = stored(DRAFTS)
        .and_then(|json| js_sys::JSON::parse(&json).ok())
        .filter(JsValue::is_object)
        .unwrap_or_else(|| js_sys::Object::new().into());
    let key = JsValue::from(target.name());
    let _ = if text.is_empty() {
        js_sys::Reflect::delete_property(drafts.unchecked_ref::<js_sys::Object>(), &key).map(drop)
    } else {
        js_sys::Reflect::set(&drafts, &key, &text.into()).map(drop)
    };
    if let Ok(json) = js_sys::JSON::stringify(&drafts)
        && let Some(json) = json.as_string()
    {
        store(DRAFTS, &json);
    }
}
