//! The browser app (Leptos, client-side rendered), built to WebAssembly by trunk.
//!
//! The socket, the state and the views are separate so that each can be tested on its own: the
//! state reducers natively (`cargo test -p frontend`), the views and the real socket in a
//! headless browser (`tests/web.rs`, run by `cargo xtask test`).
//!
//! # Layout
//! - [`app`]: [`App`], the shell (chat at `/`, Echo at `/echo`), and [`app::ws_url`] (socket
//!   URL from the page's origin).
//! - [`api`]: the account API over `fetch`, and the token a JWT-mode page hands the app.
//! - [`client`]: [`client::Connection`]: open (WebSocket with a subprotocol, or an HTTP
//!   transport), choose the transport (WebSocket, then SSE, then long-polling, remembered a
//!   day), pump, reconnect with exponential backoff and jitter.
//! - [`fetch`]: HTTP requests through the browser's `fetch`, with the page's credentials.
//! - [`http_link`]: [`http_link::HttpLink`], the HTTP transports: an `EventSource` or
//!   long-polls down, numbered POST batches up.
//! - [`chat_state`]: [`chat_state::ChatState`], the chat's pure reducer (server events and user
//!   actions in; rooms, lines, presence, typing, delivery states out).
//! - [`echo_log`]: [`echo_log::EchoLog`], the Echo page's pure state.
//! - [`json`]: the server's JSON decoded through the browser's `JSON.parse` (no JSON parser
//!   in the wasm).
//! - [`i18n`]: the app's words in English and Korean ([`i18n::Words`]), chosen once per page.
//! - [`pages`]: one component per page: [`pages::ChatGate`] (asks the server how it knows its
//!   users: the account screens, or straight in), [`pages::ChatPage`] (nickname screen,
//!   sidebar, messages, composer, members, moderation) and [`pages::EchoPage`].
//! - [`components`]: small shared views ([`components::StatusBadge`], [`components::note()`]).
//! - [`erase`]: reactive view pieces behind one type each (`<Show>`, `<For>`, reactive text),
//!   so that Leptos compiles their code once; how new views keep the wasm small.
//! - [`uploads`]: images over HTTP: an upload with its progress, a download as a `blob:` URL.

pub mod api;
pub mod app;
pub mod chat_state;
pub mod client;
pub mod components;
pub mod echo_log;
pub mod erase;
pub mod fetch;
pub mod http_link;
pub mod i18n;
pub mod json;
pub mod pages;
pub mod uploads;

pub use app::App;

/// A JavaScript error's message (`TypeError: Failed to fetch` says `Failed to fetch`), for
/// the words shown to the user; "an unknown error" for a thrown value that is not an `Error`.
pub fn js_error(err: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast as _;
    err.dyn_ref::<js_sys::Error>().map_or_else(
        || "an unknown error".to_owned(),
        |err| String::from(err.message()),
    )
}

/// Milliseconds from `performance.now()`: monotonic, sub-millisecond, for round-trip times.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// This origin's localStorage, when the browser allows it.
pub fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}
