//! The browser app (Leptos, client-side rendered), built to WebAssembly by trunk.
//!
//! The socket, the state and the views are separate so that each can be tested on its own: the
//! state reducers natively (`cargo test -p frontend`), the views and the real socket in a
//! headless browser (`tests/web.rs`, run by `cargo xtask test`).
//!
//! # Layout
//! - [`app`]: [`App`], the shell (chat at `/`, Echo at `/echo`, the admin console at
//!   `/admin`), and [`app::ws_url`] (socket URL from the page's origin).
//! - [`browser`]: small helpers over the browser: a JavaScript error's message, the clock,
//!   localStorage.
//! - [`api`]: the account API over `fetch`, and the token a JWT-mode page hands the app.
//! - [`client`]: [`client::Connection`]: open (WebSocket with a subprotocol, or an HTTP
//!   transport), choose the transport (WebSocket, then SSE, then long-polling, remembered a
//!   day), pump, reconnect with exponential backoff and jitter.
//! - [`fetch`]: HTTP requests through the browser's `fetch`, with the page's credentials.
//! - [`http_link`]: [`http_link::HttpLink`], the HTTP transports: an `EventSource` or
//!   long-polls down, numbered POST batches up.
//! - [`chat_state`]: [`chat_state::ChatState`], the chat's pure reducer (server events and user
//!   actions in; rooms, lines, presence, typing, delivery states out, and the
//!   [`chat_state::FollowUp`]s the page sends). `chat_state/`: `mod.rs` (the dispatch), `model`
//!   (the data, a leaf), `lines`, `paging`, `compose`, `unread`, `members`, each with its tests.
//! - [`echo_log`]: [`echo_log::EchoLog`], the Echo page's pure state.
//! - [`json`]: the server's JSON decoded through the browser's `JSON.parse` (no JSON parser
//!   in the wasm).
//! - [`i18n`]: the app's words in English and Korean ([`i18n::Words`]), chosen once per page.
//!   `i18n/`: `mod.rs` (the choice), `table` (the shape), `en`, `ko` (the tables).
//! - [`pages`]: one component per page: [`pages::ChatGate`] (asks the server how it knows its
//!   users: the account screens, or straight in), [`pages::ChatPage`] (nickname screen,
//!   sidebar, messages, composer, members, moderation), [`pages::EchoPage`] and
//!   [`pages::AdminPage`] (the admin console: live charts, the moderation log, bans).
//!   `pages/chat/`: one file per piece: `mod.rs` (the page: socket, state, wiring), `ctx` (what
//!   the pieces share, a leaf), `nick_form`, `sidebar`, `header`, `lines` (the list), `message`
//!   (one line), `composer`, `members`, `search` (the results panel), `alerts`,
//!   `local_store`.
//! - [`components`]: small shared views ([`components::StatusBadge`], [`components::note()`]).
//! - [`erase`]: reactive view pieces behind one type each (`<Show>`, `<For>`, reactive text),
//!   so that Leptos compiles their code once; how new views keep the wasm small.
//! - [`uploads`]: images over HTTP: an upload with its progress, a download as a `blob:` URL.
//! - [`pwa`]: the installable app's side in the wasm: the conversation a notification's link
//!   opens, the push switch's calls into `frontend/pwa.js` (docs/PWA.md).

pub mod api;
pub mod app;
pub mod browser;
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
pub mod pwa;
pub mod uploads;

pub use app::App;
// (The helpers stay reachable at the root for the browser tests; the crate itself imports
// them from `browser`, so that no module imports the root that imports it.)
pub use browser::{js_error, now_ms, storage};
