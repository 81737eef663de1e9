//! The app shell: top bar and the page for the current path.

use leptos::prelude::*;
use shared::paths;

use crate::pages::EchoPage;

/// The whole browser app.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <div class="app">
            <nav class="topbar">
                <span class="brand">"Chat"</span>
                <a href="/echo" class="nav-link active">"Echo"</a>
            </nav>
            <main class="content">
                <EchoPage url=ws_url(paths::WS_ECHO) />
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
