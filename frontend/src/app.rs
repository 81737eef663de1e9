//! The app shell: top bar and the page for the current path.

use leptos::prelude::*;
use shared::paths;

use crate::pages::{ChatPage, EchoPage};

/// The whole browser app: the chat at `/`, the Echo page at `/echo`. Plain links and a full
/// page load per page: two pages do not need a router.
#[component]
pub fn App() -> impl IntoView {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let echo = path.trim_end_matches('/') == "/echo";
    let link = |active: bool| {
        if active {
            "nav-link active"
        } else {
            "nav-link"
        }
    };
    view! {
        <div class="app">
            <nav class="topbar">
                <span class="brand">"Chat"</span>
                <a href="/" class=link(!echo)>"Chat"</a>
                <a href="/echo" class=link(echo)>"Echo"</a>
            </nav>
            <main class="content">
                {if echo {
                    view! { <EchoPage url=ws_url(paths::WS_ECHO) /> }.into_any()
                } else {
                    view! { <ChatPage url=ws_url(paths::WS_CHAT) /> }.into_any()
                }}
            </main>
        </div>
    }
}

/// The WebSocket URL of `path` on the server that served this page: `wss:` under `https:`.
///
/// Under `trunk serve` that is trunk's dev server, which proxies `/ws*` to the backend.
pub fn ws_url(path: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let secure = location
        .and_then(|l| l.protocol().ok())
        .is_some_and(|p| p == "https:");
    let scheme = if secure { "wss" } else { "ws" };
    format!("{scheme}://{host}{path}")
}
