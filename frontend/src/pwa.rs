//! The installable app's side in the wasm (docs/PWA.md): the conversation a notification's
//! link asks to open (`/?open=room:lobby&at=12`), and the push switch's calls into
//! `frontend/pwa.js` (`window.chatPush`), the page's plain-JavaScript helper that registers the
//! service worker and subscribes to Web Push ([`shared::paths::API_PUSH`]).
//!
//! The browser's service worker and push APIs stay in JavaScript: from the wasm, each promise
//! and callback of theirs is glue of its own; two calls by name here cost next to nothing.

use js_sys::{Function, Object, Promise, Reflect};
use shared::paths;
use wasm_bindgen::{JsCast as _, JsValue};

use crate::{api::api_url, chat_state::Target};

/// The conversation this page's URL asks to open (a notification's link,
/// `?open=room:lobby&at=12`), with the message to show in it (`at`; none if absent or 0).
/// A group (`group:ID`) is its room, joined by `hello` like every group; an unknown kind is
/// no conversation: see [`Target::named`].
pub fn opening() -> Option<(Target, Option<shared::MessageId>)> {
    let query = web_sys::window()?.location().search().ok()?;
    let params = web_sys::UrlSearchParams::new_with_str(&query).ok()?;
    let target = Target::named(&params.get("open")?)?;
    let at = params
        .get("at")
        .and_then(|at| at.parse().ok())
        .filter(|at| *at > 0)
        .map(shared::MessageId);
    Some((target, at))
}

/// Turns Web Push on (`private`: the server sends no sender and no text) or off for this
/// browser, through `window.chatPush` (frontend/pwa.js), naming the user by `credential` as
/// uploads do. `None` when done; otherwise the problem: `unsupported`, `blocked`,
/// `not_on_server` (the server answered 404), or a message.
pub async fn switch_push(
    ws_url: &str,
    on: bool,
    private: bool,
    credential: crate::uploads::Credential,
) -> Option<String> {
    let helper = web_sys::window()
        .and_then(|window| Reflect::get(&window, &"chatPush".into()).ok())
        .filter(|helper| helper.is_object());
    let Some(helper) = helper else {
        // The page was not loaded from index.html (a test page): no worker, no push.
        return Some("unsupported".into());
    };
    let headers = Object::new();
    if let Some((name, value)) = credential {
        let _ = Reflect::set(&headers, &name.into(), &value.into());
    }
    let url = JsValue::from(api_url(ws_url, paths::API_PUSH));
    let method = if on { "subscribe" } else { "unsubscribe" };
    let called = Reflect::get(&helper, &method.into())
        .and_then(|function| function.dyn_into::<Function>())
        .and_then(|function| {
            if on {
                function.call3(&helper, &url, &private.into(), &headers)
            } else {
                function.call2(&helper, &url, &headers)
            }
        });
    let answer = match called {
        Ok(promise) => wasm_bindgen_futures::JsFuture::from(Promise::resolve(&promise)).await,
        Err(err) => Err(err),
    };
    match answer {
        Ok(problem) => problem.as_string(),
        Err(err) => Some(crate::browser::js_error(&err)),
    }
}

/// Where the push switch keeps that it is on (the browser keeps the subscription itself).
pub const PUSH_KEY: &str = "chat.push";

/// Before logging out (accounts mode): this browser's push subscription is dropped and the
/// server told to forget it, so that the next person on a shared computer is not notified
/// of the previous one's messages (docs/SECURITY.md). Named by the session cookie, which is
/// still valid; what fails is logged, and the logout goes on.
pub async fn forget_push(ws_url: &str) {
    if let Some(problem) = switch_push(ws_url, false, false, None).await {
        log::info!("push subscription not dropped: {problem}");
    }
    if let Some(storage) = crate::browser::storage() {
        let _ = storage.remove_item(PUSH_KEY);
    }
}
