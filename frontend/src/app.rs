//! The app shell: top bar and the page for the current path.

use leptos::prelude::*;
use shared::paths;

use crate::{
    i18n::{self, Lang},
    pages::{AdminPage, ChatGate, EchoPage, admin},
};

/// The app's pages, one per path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Chat,
    Echo,
    Admin,
}

/// The whole browser app: the chat at `/`, the Echo page at `/echo`, the admin console at
/// `/admin`. Plain links and a full page load per page: three pages do not need a router.
/// The console's link shows to those the server lets in (asked once per page load).
#[component]
pub fn App() -> impl IntoView {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let page = match path.trim_end_matches('/') {
        "/echo" => Page::Echo,
        "/admin" => Page::Admin,
        _ => Page::Chat,
    };
    let echo = page == Page::Echo;
    let admin_link = RwSignal::new(page == Page::Admin);
    if page != Page::Admin {
        leptos::task::spawn_local(async move {
            if admin::lets_in(&ws_url(paths::WS_CHAT)).await {
                admin_link.set(true);
            }
        });
    }
    let link = |active: bool| {
        if active {
            "nav-link active"
        } else {
            "nav-link"
        }
    };
    let w = i18n::words();
    // The switch names the other language in itself ("한국어" on the English page).
    let other = match i18n::lang() {
        Lang::En => Lang::Ko,
        Lang::Ko => Lang::En,
    };
    view! {
        <div class="app">
            <nav class="topbar">
                <span class="brand">{w.chat}</span>
                <a href="/" class=link(!echo)>{w.chat}</a>
                <a href="/echo" class=link(echo)>{w.echo}</a>
                <Show when=move || admin_link.get()>
                    <a href="/admin" class=link(page == Page::Admin) data-testid="admin-link">{w.admin}</a>
                </Show>
                <button class="lang-switch" data-testid="lang-switch" lang=other.tag()
                    title=w.language on:click=move |_| i18n::switch_to(other)>
                    {other.words().name}
                </button>
            </nav>
            <main class="content">
                {match page {
                    Page::Echo => view! { <EchoPage url=ws_url(paths::WS_ECHO) /> }.into_any(),
                    Page::Admin => view! { <AdminPage url=ws_url(paths::WS_CHAT) /> }.into_any(),
                    Page::Chat => view! { <ChatGate url=ws_url(paths::WS_CHAT) /> }.into_any(),
                }}
            </main>
        </div>
    }
}

/// Port of `trunk serve` in the development flow (Trunk.toml).
const DEV_SERVER_PORT: &str = "3000";
/// Port of `cargo run -p backend` in the development flow.
const DEV_BACKEND_PORT: &str = "8080";

/// The WebSocket URL of `path` on the server that served this page: `wss:` under `https:`.
///
/// One exception, for the development flow: a debug build served by `trunk serve` (port 3000)
/// connects straight to the backend on port 8080 of the same host. trunk 0.21's WebSocket proxy
/// does not pass the negotiated subprotocol back to the browser, which then refuses the chat
/// socket; the development flow's backend (`cargo dev-backend`) allows the dev server's origin.
pub fn ws_url(path: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let field = |get: fn(&web_sys::Location) -> Result<String, wasm_bindgen::JsValue>| {
        location
            .as_ref()
            .and_then(|l| get(l).ok())
            .unwrap_or_default()
    };
    let (hostname, port) = (
        field(web_sys::Location::hostname),
        field(web_sys::Location::port),
    );
    let scheme = if field(web_sys::Location::protocol) == "https:" {
        "wss"
    } else {
        "ws"
    };
    let authority = if cfg!(debug_assertions) && port == DEV_SERVER_PORT {
        format!("{hostname}:{DEV_BACKEND_PORT}")
    } else if hostname.is_empty() {
        format!("127.0.0.1:{DEV_BACKEND_PORT}")
    } else {
        field(web_sys::Location::host)
    };
    format!("{scheme}://{authority}{path}")
}
