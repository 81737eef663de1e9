//! The chat page: nickname screen, then rooms, messages, members, direct messages.
//!
//! The page owns one [`Connection`] to `/ws` and one [`ChatState`] signal; the pieces below
//! read the state and send requests through [`ChatCtx`].
//!
//! # Layout
//! - this file: [`ChatPage`]: the socket, what the server sends applied to the state (and the
//!   requests that follow sent), the outbox kept in storage, the conversation a notification
//!   opens, the title and notifications, and the pieces put together.
//! - `ctx`: [`ChatCtx`], what the pieces share (a leaf: it imports none of them).
//! - `nick_form`: the nickname screen.
//! - `sidebar`: the search box, rooms, unread counts and draft markers, invitations, direct
//!   conversations.
//! - `search`: the search box and the results panel (issue #30); opening a result.
//! - `header`: the conversation's header, who is typing, notices, the status line.
//! - `lines`: the message list (a virtual list: only what is near the view is drawn).
//! - `message`: one line of it (quote, text, image, reactions, actions).
//! - `attachment`: a file's card in a line (name, size, type, download).
//! - `formatted`: a message's text drawn formatted (`shared::format`), and copying code.
//! - `preview`: a link preview's card under a line.
//! - `composer`: the message input, with @ and `:shortcode:` completion, commands and files
//!   (images among them).
//! - `emoji`: the emoji picker (its data an asset fetched on first use) and shortcodes.
//! - `members`: the members panel (paged, drawn only where in view, searchable), invitations
//!   and moderation.
//! - `alerts`: the page's visibility, browser notifications and the push switch.
//! - `local_store`: what the page keeps in localStorage (the outbox and the drafts among it),
//!   and random ids.

mod alerts;
mod attachment;
mod composer;
mod ctx;
mod emoji;
mod formatted;
mod header;
mod lines;
mod local_store;
mod members;
mod message;
mod nick_form;
mod preview;
mod search;
mod sidebar;

use alerts::{document_hidden, notification_permission, notify};
use composer::Composer;
pub use ctx::ChatCtx;
use ctx::{Drawer, SearchSignals, Uploader};
use header::{ConversationHeader, Notices, StatusLine, TypingLine};
use leptos::{prelude::*, task::spawn_local};
use lines::MessageList;
pub use local_store::forget_drafts;
use local_store::{
    browser_token, drop_items, keep_outbox, left_outboxes, random_id, store, stored,
};
use members::MembersPanel;
use nick_form::NicknameForm;
use search::SearchPanel;
use shared::{ClientMsg, Nick, ServerMsg, UserToken};
use sidebar::RoomSidebar;

use crate::{
    browser::now_ms,
    chat_state::{ChatState, FollowUp, outbox_json},
    client::{Choice, Connection, ConnectionEvent, ConnectionStatus},
    erase::{effect, reactive, shown, shown_or},
    i18n::words,
};

/// How a chat page is logged in, when the server does not take any free nickname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatLogin {
    /// Accounts mode: the socket's cookie is this account's, and so is the nickname.
    Account(Nick),
    /// JWT mode: `hello` carries the token the page hands the app (see [`crate::api::page_jwt`]).
    Jwt,
}

/// The chat, connected to the chat endpoint at `url` while mounted.
#[component]
pub fn ChatPage(
    /// WebSocket URL of `/ws`, e.g. `ws://127.0.0.1:8080/ws`.
    #[prop(into)]
    url: String,
    /// While this is `true` the page is cut off as by a network failure; when it turns
    /// `false` the page reconnects and catches up. How the browser tests take a page offline.
    #[prop(optional, into)]
    offline: Option<Signal<bool>>,
    /// How the page is logged in (none: open mode, the nickname screen).
    #[prop(optional)]
    login: Option<ChatLogin>,
    /// Called when the server closes the socket with 4401 (logged out, or the login expired).
    #[prop(optional)]
    on_unauthenticated: Option<Callback<()>>,
    /// This page's browser token instead of the one the browser keeps (shared by its tabs):
    /// another user in the same browser, as the tests need.
    #[prop(optional)]
    token: Option<UserToken>,
    /// Whether the page is hidden, instead of the document's visibility: how the browser
    /// tests show a page that is not looked at.
    #[prop(optional, into)]
    hidden: Option<Signal<bool>>,
) -> impl IntoView {
    let (status, set_status) = signal(ConnectionStatus::Connecting);
    let state = RwSignal::new(ChatState::new(random_id(8)));
    let jwt = login == Some(ChatLogin::Jwt);
    // A login decides the nickname (the server does; this one only skips the nickname screen).
    let initial = match &login {
        Some(ChatLogin::Account(name)) => Some(name.clone()),
        Some(ChatLogin::Jwt) => "guest".parse().ok(),
        None => stored("chat.nick").and_then(|n| n.parse().ok()),
    };
    let logged_in = login.is_some();
    // What earlier pages of this browser could not send (a tab closed offline) is ours to
    // send now, as pending lines (written by whoever we were then; the echo says who).
    let (left, adopted) = left_outboxes();
    if let Some(author) = initial.clone().or_else(|| "me".parse().ok()) {
        state.update(|s| s.restore_outbox(left, &author));
    }
    let nick: RwSignal<Option<Nick>> = RwSignal::new(initial);
    let token = token.unwrap_or_else(browser_token);
    let connection = StoredValue::new_local(None::<Connection>);
    let ctx = ChatCtx {
        state,
        status,
        connection,
        logged_in: login.is_some(),
        draft: RwSignal::new(String::new()),
        seeking: RwSignal::new(None),
        sought: RwSignal::new(None),
        hidden: hidden.unwrap_or_else(document_hidden),
        url: StoredValue::new(url.clone()),
        uploader: StoredValue::new(match &login {
            Some(ChatLogin::Account(_)) => Uploader::Cookie,
            Some(ChatLogin::Jwt) => Uploader::Jwt,
            None => Uploader::Token(token.clone()),
        }),
        images: RwSignal::new(std::collections::HashMap::new()),
        asked: StoredValue::new(std::collections::HashSet::new()),
        lightbox: RwSignal::new(None),
        uploading: RwSignal::new(None),
        drawer: RwSignal::new(None),
        emoji_ready: RwSignal::new(false),
        picker_open: RwSignal::new(false),
        picker_for: RwSignal::new(None),
        search: SearchSignals {
            query: RwSignal::new(None),
            best: RwSignal::new(false),
            notices: RwSignal::new((0, 0)),
            more: RwSignal::new(None),
        },
        notifying: RwSignal::new(
            notification_permission() == "granted" && stored("chat.notify").is_some(),
        ),
    };
    provide_context(ctx);

    let greet = {
        let token = token.clone();
        move || {
            let Some(nick) = nick.get_untracked() else {
                return;
            };
            let Some(hello) = state.try_update(|s| s.hello(nick, token.clone())) else {
                return;
            };
            if !jwt {
                return ctx.send(&hello);
            }
            // The page's token may come from a function or a promise: asked for every time.
            spawn_local(async move {
                let mut hello = hello;
                if let ClientMsg::Hello { jwt, .. } = &mut hello {
                    *jwt = crate::api::page_jwt().await;
                }
                ctx.send(&hello);
            });
        }
    };
    // What the server sends, decoded and applied.
    let on_text = move |text: String| match crate::json::parse::<ServerMsg>(&text) {
        Ok(event) => {
            // What follows from the event is the state's to decide; the page sends it.
            let follow_ups = state
                .try_update(|s| s.apply(event, now_ms()))
                .unwrap_or_default();
            for follow_up in follow_ups {
                match follow_up {
                    FollowUp::Send(request) => ctx.send(&request),
                    FollowUp::Reauth => spawn_local(async move {
                        if let Some(jwt) = crate::api::page_jwt().await {
                            ctx.send(&ClientMsg::Reauth { jwt });
                        }
                    }),
                }
            }
            // After a rename (ours, maybe from another tab) reconnects use the new name.
            let me = state.with_untracked(|s| s.me.clone());
            if let Some(me) = me.filter(|me| nick.with_untracked(|n| n.as_ref() != Some(me))) {
                if !logged_in {
                    store("chat.nick", me.as_str());
                }
                nick.set(Some(me));
            }
        }
        Err(err) => {
            log::warn!("unreadable server message: {err}");
            state.update(|s| s.notices.push(words().unreadable.into()));
        }
    };
    // Frames that arrive together are applied together: each frame's task only queues its
    // text, and the first one queued schedules them all for right after the tasks already
    // waiting (a 0 ms timeout). The page's effects then run, and the list is drawn, once per
    // burst instead of once per message (issue #34: a busy room costs the page less per
    // message). Anything else the connection reports comes after what was queued before it.
    let inbox = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let flush = {
        let inbox = inbox.clone();
        move || {
            let texts = std::mem::take(&mut *inbox.borrow_mut());
            // (The page may be gone by the time a timeout comes.)
            if state.try_with_untracked(|_| ()).is_some() {
                texts.into_iter().for_each(on_text);
            }
        }
    };
    let on_event = {
        let greet = greet.clone();
        move |event| match event {
            // (A connection opens after the last one closed: nothing is queued then.)
            ConnectionEvent::Opened => greet(),
            ConnectionEvent::Sent | ConnectionEvent::Wire(_) => {}
            ConnectionEvent::Text(text) => {
                let mut queued = inbox.borrow_mut();
                queued.push(text);
                if queued.len() == 1 {
                    set_timeout(flush.clone(), std::time::Duration::ZERO);
                }
            }
            ConnectionEvent::Closed => {
                flush.clone()();
                state.update(ChatState::connection_lost);
            }
            // (The page is left for the login screen: what is queued does not matter.)
            ConnectionEvent::Unauthenticated => {
                if let Some(callback) = on_unauthenticated {
                    callback.run(());
                }
            }
        }
    };
    connection.set_value(Some(Connection::open(
        url,
        Some(shared::SUBPROTOCOL),
        Choice::Auto,
        set_status,
        on_event,
    )));
    if let Some(offline) = offline {
        Effect::new(move |_| {
            let offline = offline.get();
            connection.with_value(|c| c.as_ref().map(|c| c.set_offline(offline)));
        });
    }

    // The outbox outlives the tab: what is pending is kept in storage after every change,
    // under this page's own key (then the outboxes taken over are dropped), so a message
    // typed offline is sent once the server is back, even if the tab was closed meanwhile.
    let prefix = state.with_untracked(|s| s.client_prefix.clone());
    let written = StoredValue::new(String::new());
    effect(move || {
        let json = state.with(|s| outbox_json(&s.pending_requests()));
        let first = written.with_value(String::is_empty);
        if written.with_value(|w| w != &json) {
            keep_outbox(&prefix, &json);
            written.set_value(json);
        }
        if first {
            drop_items(&adopted);
        }
    });
    // A notification's link (`/?open=room:lobby&at=12`): that conversation is shown first (a
    // room is joined by `hello`), and the message is sought once its lines come.
    if let Some((target, at)) = crate::pwa::opening() {
        state.update(|s| s.open_first(target));
        ctx.seeking.set(at);
    }

    // Typing indicators whose stop was lost lapse on their own.
    // (Only touch the state when something lapses: an update re-renders what reads it.)
    let sweep = set_interval_with_handle(
        move || {
            let now = now_ms();
            if state.with_untracked(|s| s.typing_lapsed(now)) {
                state.update(|s| s.expire_typing(now));
            }
        },
        std::time::Duration::from_secs(1),
    );
    on_cleanup(move || {
        if let Ok(handle) = sweep {
            handle.clear();
        }
    });

    // While hidden, the title counts what waits for the user ("(3) Chat"), and alerts
    // become browser notifications if the user turned them on.
    let base_title = document().title();
    Effect::new(move |_| {
        let hidden = ctx.hidden.get();
        let waiting = state.with(ChatState::attention);
        let title = if hidden && waiting > 0 {
            format!("({waiting}) {base_title}")
        } else {
            base_title.clone()
        };
        document().set_title(&title);
        let alerts = state
            .try_update_untracked(ChatState::take_alerts)
            .unwrap_or_default();
        if hidden && ctx.notifying.get_untracked() {
            for alert in alerts {
                notify(&alert);
            }
        }
    });
    on_cleanup({
        let base_title = document().title();
        move || document().set_title(&base_title)
    });

    let choose_nick = move |chosen: Nick| {
        store("chat.nick", chosen.as_str());
        nick.set(Some(chosen));
        if status.get_untracked().is_open() {
            greet();
        }
    };

    view! {
        {shown_or(move || state.with(|s| s.me.is_some()), move || view! {
            <div data-testid="chat"
                class=reactive(move || match ctx.drawer.get() {
                    None => "chat",
                    Some(Drawer::Rooms) => "chat rooms-open",
                    Some(Drawer::Members) => "chat members-open",
                })
                // Escape closes the drawer open, else the search results.
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if ev.key() == "Escape" {
                        if ctx.drawer.get_untracked().is_some() {
                            ctx.drawer.set(None);
                        } else if ctx.search.query.with_untracked(Option::is_some) {
                            search::close(ctx);
                        }
                    }
                }>
                // Covers the conversation while a drawer is open (narrow screens); a tap on it
                // closes the drawer.
                <div class="scrim" aria-hidden="true" on:click=move |_| ctx.drawer.set(None)></div>
                <RoomSidebar />
                <section class="conversation">
                    <ConversationHeader />
                    <MessageList />
                    <TypingLine />
                    <Notices />
                    {shown(move || ctx.picker_open.get(), || view! { <emoji::EmojiPicker /> }.into_any())}
                    <Composer />
                </section>
                <MembersPanel />
                <SearchPanel />
            </div>
            {shown(move || ctx.lightbox.get().is_some(), move || view! {
                <div class="lightbox" data-testid="lightbox" role="dialog" aria-label=words().image
                    on:click=move |_| ctx.lightbox.set(None)>
                    <img src=reactive(move || ctx.lightbox.get().unwrap_or_default()) alt=words().image_full />
                </div>
            }.into_any())}
        }.into_any(), move || {
            let choose = choose_nick.clone();
            if logged_in {
                view! { <p class="hint" data-testid="chat-connecting"><StatusLine /></p> }.into_any()
            } else {
                view! { <NicknameForm on_choose=choose /> }.into_any()
            }
        })}
    }
}
