//! The chat page: nickname screen, then rooms, messages, members, direct messages.
//!
//! The page owns one [`Connection`] to `/ws` and one [`ChatState`] signal; the pieces below
//! read the state and send requests through [`ChatCtx`].
//!
//! # Layout
//! - this file: [`ChatPage`] and [`ChatCtx`], the nickname screen, the sidebar (rooms, unread
//!   counts, invitations, direct conversations), the composer (with @ completion and images).
//! - `lines`: the message list and everything on a line.
//! - `members`: the members panel (paged, drawn only where in view, searchable), invitations
//!   and moderation.
//! - `alerts`: the page's visibility and browser notifications.

mod alerts;
mod lines;
mod members;

use alerts::{NotificationSwitch, document_hidden, notification_permission, notify};
use leptos::{html, prelude::*, task::spawn_local};
use lines::MessageList;
use members::MembersPanel;
use shared::{ClientMsg, Nick, RoomName, ServerMsg, UserToken, paths};

use crate::{
    chat_state::{ChatState, Delivery, Line, Target},
    client::{Choice, Connection, ConnectionEvent, ConnectionStatus},
    components::note,
    erase::{Reactive, dynamic, keyed, reactive, shown, shown_or},
    i18n::words,
    now_ms,
};

/// `typing` is sent at most this often while the user types (the server's timeout is longer).
const TYPING_EVERY_MS: f64 = 2000.0;
/// Lines from one sender closer together than this share one header.
const GROUP_WITHIN_MS: u64 = 5 * 60 * 1000;
/// Read positions are sent at most this often (see the marking effect in `MessageList`).
const MARK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// What the chat's pieces share; every field is a cheap, copyable handle.
#[derive(Clone, Copy)]
pub struct ChatCtx {
    /// The state, updated by server events and user actions.
    pub state: RwSignal<ChatState>,
    /// The socket's status.
    pub status: ReadSignal<ConnectionStatus>,
    connection: StoredValue<Option<Connection>, LocalStorage>,
    /// The nickname is a login's (accounts, jwt): it cannot be changed here.
    pub logged_in: bool,
    /// The composer's text (an edit puts the message's text here).
    pub draft: RwSignal<String>,
    /// A quote was clicked whose original is not loaded: older pages are asked for until it
    /// is, then it is scrolled to.
    pub seeking: RwSignal<Option<shared::MessageId>>,
    /// The line last scrolled to from a quote: marked (`sought`) until another is, also when
    /// it is drawn again (the list draws only the lines near the view).
    pub sought: RwSignal<Option<shared::MessageId>>,
    /// The page is not being looked at (another tab, minimised): new messages stay unread,
    /// the title counts mentions, notifications may show.
    pub hidden: Signal<bool>,
    /// The user turned browser notifications on (and the browser allows them).
    pub notifying: RwSignal<bool>,
    /// The chat socket's URL (the API is on the same server).
    url: StoredValue<String>,
    /// How upload requests name the user.
    uploader: StoredValue<Uploader>,
    /// Images shown: their `blob:` URLs by id, once downloaded.
    images: RwSignal<std::collections::HashMap<shared::UploadId, String>>,
    /// Images asked for (so a re-render does not ask again).
    asked: StoredValue<std::collections::HashSet<shared::UploadId>>,
    /// The image shown full size, if any.
    lightbox: RwSignal<Option<String>>,
    /// An upload in progress: the percentage sent.
    uploading: RwSignal<Option<u32>>,
    /// On a narrow screen, the side panel drawn over the conversation, if any.
    drawer: RwSignal<Option<Drawer>>,
}

/// The chat's side panels, which a narrow screen (below the stylesheet's breakpoint) shows as
/// drawers over the conversation, one at a time, from buttons in the conversation's header.
/// Wide screens show both beside it, and these buttons are hidden there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drawer {
    /// The room list (left).
    Rooms,
    /// The members of the current room (right).
    Members,
}

/// How upload requests name the user, as the chat socket does.
#[derive(Clone)]
enum Uploader {
    /// Open mode: the browser token, in a header.
    Token(UserToken),
    /// Accounts mode: the session cookie.
    Cookie,
    /// JWT mode: the page's token, as a bearer token.
    Jwt,
}

impl ChatCtx {
    /// The header naming the user on an upload request.
    async fn credential(&self) -> crate::uploads::Credential {
        match self.uploader.get_value() {
            Uploader::Token(token) => Some((paths::TOKEN_HEADER, token.as_str().to_owned())),
            Uploader::Cookie => None,
            Uploader::Jwt => crate::api::page_jwt()
                .await
                .map(|jwt| ("authorization", format!("Bearer {jwt}"))),
        }
    }

    /// The `blob:` URL of `image` of `room` once downloaded (asked for on first use).
    fn image_url(&self, room: &RoomName, image: &shared::UploadId) -> Option<String> {
        if let Some(url) = self.images.with(|images| images.get(image).cloned()) {
            return Some(url);
        }
        let first = self
            .asked
            .try_update_value(|asked| asked.insert(image.clone()));
        if first == Some(true) {
            let (ctx, room, image) = (*self, room.clone(), image.clone());
            spawn_local(async move {
                let credential = ctx.credential().await;
                let url = ctx.url.get_value();
                match crate::uploads::download(&url, &room, &image, credential).await {
                    Ok(blob) => ctx.images.update(|images| {
                        images.insert(image, blob);
                    }),
                    Err(err) => log::warn!("{err}"),
                }
            });
        }
        None
    }

    /// Uploads `file` for the current room, then sends it with the composer's text.
    fn send_image(&self, file: web_sys::Blob) {
        let ctx = *self;
        let Some(Target::Room(room)) = ctx.state.with_untracked(|s| s.current.clone()) else {
            ctx.state
                .update(|s| s.notices.push(words().images_rooms_only.into()));
            return;
        };
        ctx.uploading.set(Some(0));
        spawn_local(async move {
            let credential = ctx.credential().await;
            let url = ctx.url.get_value();
            let progress = move |sent| ctx.uploading.set(Some(sent));
            let uploaded = crate::uploads::upload(&url, &room, file, credential, progress).await;
            ctx.uploading.set(None);
            let image = match uploaded {
                Ok(image) => image,
                Err(reason) => {
                    ctx.state
                        .update(|s| s.notices.push((words().image_not_sent)(&reason)));
                    return;
                }
            };
            let caption = ctx.draft.get_untracked();
            let caption = if caption.trim().is_empty() {
                "🖼".to_owned()
            } else {
                caption
            };
            match ctx
                .state
                .try_update(|s| s.compose_with(&caption, Some(image)))
            {
                Some(Ok(request)) => {
                    if ctx.status.get_untracked().is_open() {
                        ctx.send(&request);
                    }
                    ctx.draft.set(String::new());
                }
                Some(Err(reason)) => ctx.state.update(|s| s.notices.push(reason)),
                None => {}
            }
        });
    }
}

impl ChatCtx {
    /// Sends a request if a socket is open (the composer is disabled otherwise).
    pub fn send(&self, request: &ClientMsg) {
        // The hand-written encoder (`shared::lean_write`): serde's weighed 3 KB of wasm.
        let json = request.to_json();
        self.connection.with_value(|c| {
            if let Some(c) = c {
                c.send(json);
            }
        });
    }
}

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
            if matches!(event, ServerMsg::ReauthNeeded { .. }) {
                spawn_local(async move {
                    if let Some(jwt) = crate::api::page_jwt().await {
                        ctx.send(&ClientMsg::Reauth { jwt });
                    }
                });
            }
            let refresh = matches!(event, ServerMsg::Joined { .. } | ServerMsg::Left { .. });
            let welcomed = matches!(event, ServerMsg::Welcome { .. });
            state.update(|s| s.apply(event, now_ms()));
            if refresh {
                ctx.send(&ClientMsg::ListRooms);
            }
            if welcomed {
                // The offline queue: whatever was not acknowledged goes (again) now.
                for request in state.with_untracked(ChatState::pending_requests) {
                    ctx.send(&request);
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
                on:keydown=move |ev: web_sys::KeyboardEvent| {
                    if ev.key() == "Escape" {
                        ctx.drawer.set(None);
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
                    <Composer />
                </section>
                <MembersPanel />
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

/// The first screen: pick a nickname.
#[component]
fn NicknameForm(
    /// Called with a valid nickname.
    on_choose: impl Fn(Nick) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let draft = RwSignal::new(stored("chat.nick").unwrap_or_default());
    let local_problem = RwSignal::new(None::<String>);
    let problem = move || {
        local_problem
            .get()
            .or_else(|| ctx.state.with(|s| s.nick_problem.clone()))
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match draft.get_untracked().trim().parse::<Nick>() {
            Ok(nick) => {
                local_problem.set(None);
                on_choose(nick);
            }
            Err(err) => local_problem.set(Some((words().invalid)(&err))),
        }
    };
    let w = words();
    view! {
        <form class="nick-form" on:submit=submit data-testid="nick-form">
            <h1>{w.welcome}</h1>
            <p class="hint">{w.nick_hint}</p>
            <input
                type="text"
                data-testid="nick-input"
                placeholder=w.nickname
                aria-label=w.nickname
                maxlength="32"
                autocomplete="nickname"
                bind:value=draft
            />
            <button type="submit" data-testid="nick-submit">{w.start_chatting}</button>
            <StatusLine />
            {note(problem, "problem", Some("alert"), Some("nick-problem"))}
        </form>
    }
}

/// Rooms joined, other rooms, direct conversations, and "join or create".
#[component]
fn RoomSidebar() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let state = ctx.state;
    let w = words();
    let new_room = RwSignal::new(String::new());
    let private = RwSignal::new(false);
    let room_problem = RwSignal::new(None::<String>);
    let renaming = RwSignal::new(false);
    let new_nick = RwSignal::new(String::new());
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match new_nick.get_untracked().trim().parse::<Nick>() {
            Ok(nick) => {
                room_problem.set(None);
                ctx.send(&ClientMsg::Rename { nick });
                renaming.set(false);
            }
            Err(err) => room_problem.set(Some((words().invalid)(&err))),
        }
    };
    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match new_room.get_untracked().trim().parse::<RoomName>() {
            Ok(room) => {
                room_problem.set(None);
                if private.get_untracked() {
                    // A private room is created (owned by this user), never joined by name.
                    ctx.send(&ClientMsg::CreateRoom {
                        room: room.clone(),
                        private: true,
                        max_members: None,
                    });
                } else {
                    ctx.send(&ClientMsg::Join {
                        room: room.clone(),
                        since: None,
                        epoch: None,
                    });
                }
                state.update(|s| s.select(Target::Room(room)));
                new_room.set(String::new());
                private.set(false);
            }
            Err(err) => room_problem.set(Some((words().invalid)(&err))),
        }
    };
    // Keys only: a row reads what it shows (counts, who invited) itself.
    let joined = move || state.with(|s| s.rooms.keys().cloned().collect::<Vec<_>>());
    let others = move || {
        state.with(|s| {
            s.directory
                .iter()
                .filter(|info| !s.rooms.contains_key(&info.name))
                .map(|info| info.name.clone())
                .collect::<Vec<_>>()
        })
    };
    let invitations = move || state.with(|s| s.invitations.keys().cloned().collect::<Vec<_>>());
    let directs = move || {
        state.with(|s| {
            s.directs
                .values()
                .map(|(peer, _)| peer.clone())
                .collect::<Vec<_>>()
        })
    };
    let join_room = move |room: RoomName| {
        ctx.send(&ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        });
        state.update(|s| s.select(Target::Room(room)));
    };
    view! {
        <nav class="sidebar" aria-label=w.rooms>
            <div class="me">
                {dynamic(move || if renaming.get() {
                    view! {
                        <form class="join-form" on:submit=rename>
                            <input type="text" aria-label=w.new_nickname
                                data-testid="rename-input" maxlength="32" bind:value=new_nick />
                            <button type="submit" data-testid="rename-submit">{w.ok}</button>
                        </form>
                    }.into_any()
                } else {
                    view! {
                        <button class="me-name" title=w.change_nickname data-testid="me"
                            disabled=ctx.logged_in
                            on:click=move |_| {
                                new_nick.set(state.with_untracked(|s| s.me.as_ref().map(Nick::to_string).unwrap_or_default()));
                                renaming.set(true);
                            }>
                            {reactive(move || state.with(|s| s.me.as_ref().map(Nick::to_string).unwrap_or_default()))}
                        </button>
                    }.into_any()
                })}
                <StatusLine />
                <NotificationSwitch />
            </div>
            <h2>{w.rooms}</h2>
            <ul class="room-list" data-testid="rooms">
                {keyed(joined, |room| view! { <RoomEntry room /> }.into_any())}
            </ul>
            <form class="join-form" on:submit=join>
                <input type="text" placeholder=w.join_placeholder aria-label=w.room_name bind:value=new_room data-testid="join-input" />
                <button type="submit" aria-label=w.join data-testid="join-submit">"+"</button>
            </form>
            <label class="private-toggle">
                <input type="checkbox" data-testid="private-toggle" bind:checked=private />
                {w.private_toggle}
            </label>
            {shown(move || !invitations().is_empty(), move || view! {
                <h2>{w.invitations}</h2>
                <ul class="room-list" data-testid="invitations">
                    {keyed(invitations, move |room: RoomName| {
                        let by = state.with_untracked(|s| s.invitations.get(&room).map(Nick::to_string).unwrap_or_default());
                        view! {
                            <li>
                                <button class="room other" data-testid=format!("accept-{room}")
                                    title=(w.invited_by)(&by)
                                    on:click={
                                        let room = room.clone();
                                        move |_| join_room(room.clone())
                                    }>
                                    <span class="room-name">"🔒 " {room.to_string()}</span>
                                    <span class="count">{w.accept}</span>
                                </button>
                            </li>
                        }.into_any()
                    })}
                </ul>
            }.into_any())}
            {note(move || room_problem.get(), "problem small", None, None)}
            {shown(move || !others().is_empty(), move || view! {
                <h2>{w.other_rooms}</h2>
                <ul class="room-list">
                    {keyed(others, move |room: RoomName| {
                        let members = {
                            let room = room.clone();
                            reactive(move || state.with(|s| {
                                s.directory.iter().find(|info| info.name == room).map_or(0, |info| info.members).to_string()
                            }))
                        };
                        view! {
                            <li>
                                <button class="room other" on:click={
                                    let room = room.clone();
                                    move |_| join_room(room.clone())
                                }>
                                    <span class="room-name">"# " {room.to_string()}</span>
                                    <span class="count">{members}</span>
                                </button>
                            </li>
                        }.into_any()
                    })}
                </ul>
            }.into_any())}
            {shown(move || !directs().is_empty(), move || view! {
                <h2>{w.direct_messages}</h2>
                <ul class="room-list">
                    {keyed(directs, move |peer: Nick| {
                        let target = Target::Direct(peer.clone());
                        let (active, badges) = (is_current(state, target.clone()), unread_badges(state, target.clone()));
                        view! {
                            <li>
                                <button
                                    class="room"
                                    class:active=active
                                    on:click={
                                        let target = target.clone();
                                        move |_| state.update(|s| s.select(target.clone()))
                                    }
                                >
                                    <span class="room-name">"@ " {peer.to_string()}</span>
                                    {badges}
                                </button>
                            </li>
                        }.into_any()
                    })}
                </ul>
            }.into_any())}
        </nav>
    }
}

/// Whether `target` is the conversation shown.
fn is_current(state: RwSignal<ChatState>, target: Target) -> Reactive<bool> {
    reactive(move || state.with(|s| s.current.as_ref() == Some(&target)))
}

/// One joined room in the sidebar.
#[component]
fn RoomEntry(
    /// The room.
    room: RoomName,
) -> impl IntoView {
    let state = expect_context::<ChatCtx>().state;
    let target = Target::Room(room.clone());
    let mark = {
        let room = room.clone();
        reactive(move || {
            let private = state.with(|s| s.rules.get(&room).is_some_and(|r| r.private));
            if private { "🔒 " } else { "# " }
        })
    };
    let members = {
        let room = room.clone();
        reactive(move || {
            state.with(|s| s.rooms.get(&room).map_or(0, |r| r.member_count).to_string())
        })
    };
    let (active, badges) = (
        is_current(state, target.clone()),
        unread_badges(state, target.clone()),
    );
    view! {
        <li>
            <button class="room" class:active=active
                on:click={
                    let target = target.clone();
                    move |_| state.update(|s| s.select(target.clone()))
                }>
                <span class="room-name">{mark} {room.to_string()}</span>
                {badges}
                <span class="count" title=words().members_count_title>{members}</span>
            </button>
        </li>
    }
}

/// A conversation's unread count and, apart, how many of those mention the user.
fn unread_badges(state: RwSignal<ChatState>, target: Target) -> AnyView {
    let counts = Memo::new(move |_| state.with(|s| s.unread(&target)));
    view! {
        {shown(move || counts.get().1 != 0, move || view! {
            <span class="mentions" data-testid="mentions" title=words().mentions_title>
                {reactive(move || format!("@{}", counts.get().1))}
            </span>
        }.into_any())}
        {shown(move || counts.get().0 != 0, move || view! {
            <span class="unread" data-testid="unread" title=words().unread_title>
                {reactive(move || counts.get().0.to_string())}
            </span>
        }.into_any())}
    }
    .into_any()
}

/// The conversation's title and its leave button.
#[component]
fn ConversationHeader() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let w = words();
    let current = move || ctx.state.with(|s| s.current.clone());
    // Picking a conversation (in the room drawer, or a member's name) closes the drawer.
    let picked = Memo::new(move |_| ctx.state.with(|s| s.current.clone()));
    // Not when the first conversation appears (the lobby, right after `welcome`): a drawer
    // opened in that moment stays open.
    Effect::new(move |before: Option<bool>| {
        // Read, not only tracked: a memo nobody reads is never computed, so never changes.
        let shown = picked.with(Option::is_some);
        if before == Some(true) {
            ctx.drawer.set(None);
        }
        shown
    });
    let toggle = move |drawer: Drawer| {
        ctx.drawer
            .update(|open| *open = (*open != Some(drawer)).then_some(drawer));
    };
    let expanded = move |drawer: Drawer| move || (ctx.drawer.get() == Some(drawer)).to_string();
    view! {
        <header class="conversation-header">
            <button class="drawer-toggle" data-testid="open-rooms" aria-label=w.show_rooms
                aria-expanded=expanded(Drawer::Rooms) on:click=move |_| toggle(Drawer::Rooms)>
                "☰"
            </button>
            <h1 data-testid="conversation-title">
                {reactive(move || match current() {
                    Some(Target::Room(room)) => format!("# {room}"),
                    Some(Target::Direct(peer)) => format!("@ {peer}"),
                    None => w.no_conversation.to_owned(),
                })}
            </h1>
            {shown(move || matches!(current(), Some(Target::Room(_))), move || view! {
                <button class="leave" on:click=move |_| {
                    if let Some(Target::Room(room)) = current() {
                        ctx.send(&ClientMsg::Leave { room });
                    }
                }>{w.leave}</button>
            }.into_any())}
            <button class="drawer-toggle" data-testid="open-members" aria-label=w.show_members
                aria-expanded=expanded(Drawer::Members) on:click=move |_| toggle(Drawer::Members)>
                "👥"
            </button>
        </header>
    }
}

/// "Bob is typing…", "Bob and Carol are typing…", "Several people are typing…".
#[component]
fn TypingLine() -> impl IntoView {
    let state = expect_context::<ChatCtx>().state;
    let text = move || {
        let names: Vec<String> =
            state.with(|s| s.current_typing().iter().map(Nick::to_string).collect());
        let w = words();
        match names.as_slice() {
            [] => String::new(),
            [one] => (w.typing_one)(one),
            [a, b] => (w.typing_two)(a, b),
            [_, _, _, ..] => w.typing_several.to_owned(),
        }
    };
    view! { <div class="typing" data-testid="typing" aria-live="polite">{reactive(text)}</div> }
}

/// Server refusals, inline.
#[component]
fn Notices() -> impl IntoView {
    let state = expect_context::<ChatCtx>().state;
    view! {
        {shown(move || state.with(|s| !s.notices.is_empty()), move || view! {
            <div class="notices" role="alert" data-testid="notices">
                {dynamic(move || state.with(|s| s.notices.iter().map(|n| view! { <p>{n.clone()}</p> }).collect_view().into_any()))}
                <button class="dismiss" on:click=move |_| state.update(|s| s.notices.clear())>{words().dismiss}</button>
            </div>
        }.into_any())}
    }
}

/// Message input: Enter sends, Shift+Enter is a newline; disabled with the reason while
/// offline; announces typing, throttled.
#[component]
fn Composer() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let draft = ctx.draft;
    let problem = RwSignal::new(None::<String>);
    let last_typing = StoredValue::new(f64::NEG_INFINITY);
    let w = words();
    let offline_reason = move || match ctx.status.get() {
        ConnectionStatus::Open(_) => None,
        ConnectionStatus::Connecting => Some(w.connecting_note.to_owned()),
        ConnectionStatus::Closed {
            reason,
            retry_in_secs,
        } => Some((w.offline_note)(&reason, retry_in_secs)),
    };
    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match ctx.state.try_update(|s| s.compose(&text)) {
            Some(Ok(request)) => {
                // Offline, the line waits as pending and goes after the next `welcome`.
                if ctx.status.get_untracked().is_open() {
                    ctx.send(&request);
                }
                draft.set(String::new());
                problem.set(None);
                last_typing.set_value(f64::NEG_INFINITY);
            }
            Some(Err(reason)) => problem.set(Some(reason)),
            None => {}
        }
    };
    let on_input = move |ev| {
        draft.set(event_target_value(&ev));
        let now = now_ms();
        if now - last_typing.get_value() >= TYPING_EVERY_MS
            && !draft.with_untracked(String::is_empty)
            && let Some(Target::Room(room)) = ctx.state.with_untracked(|s| s.current.clone())
        {
            last_typing.set_value(now);
            ctx.send(&ClientMsg::Typing { room });
        }
    };
    // An image pasted, dropped or picked is uploaded and sent with the text typed so far.
    let first_image = |files: Option<web_sys::FileList>| {
        let files = files?;
        (0..files.length())
            .filter_map(|i| files.get(i))
            .find(|file| file.type_().starts_with("image/"))
    };
    // A clipboard or a drop may list the file among its items rather than its files
    // (Firefox, for a copied image): both are looked at.
    let transferred = move |data: Option<web_sys::DataTransfer>| {
        let data = data?;
        first_image(data.files()).or_else(|| {
            let items = data.items();
            (0..items.length())
                .filter_map(|i| items.get(i))
                .filter(|item| item.kind() == "file" && item.type_().starts_with("image/"))
                .find_map(|item| item.get_as_file().ok().flatten())
        })
    };
    let on_paste = move |ev: web_sys::ClipboardEvent| {
        if let Some(file) = transferred(ev.clipboard_data()) {
            ev.prevent_default();
            ctx.send_image(file.into());
        }
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        if let Some(file) = transferred(ev.data_transfer()) {
            ev.prevent_default();
            ctx.send_image(file.into());
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = first_image(input.files()) {
            ctx.send_image(file.into());
        }
        input.set_value("");
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };
    // What the next message answers, or that it replaces a message's text.
    let context_bar = move || {
        ctx.state.with(|s| {
            if s.editing.is_some() {
                Some(w.editing.to_owned())
            } else {
                s.replying
                    .as_ref()
                    .map(|q| (w.replying_to)(q.from.as_str(), &q.text))
            }
        })
    };
    let cancel = move |_| {
        ctx.state.update(ChatState::cancel_compose);
        draft.set(String::new());
    };
    let suggestions = move || draft.with(|d| ctx.state.with(|s| s.mention_suggestions(d)));
    view! {
        {shown(move || !suggestions().is_empty(), move || view! {
            <ul class="mention-suggestions" data-testid="mention-suggestions" role="listbox">
                {dynamic(move || suggestions().into_iter().map(|nick| {
                    let label = nick.to_string();
                    view! {
                        <li>
                            <button role="option" data-testid="mention-suggestion" on:click=move |ev| {
                                ev.prevent_default();
                                draft.update(|d| *d = crate::chat_state::complete_mention(d, &nick));
                            }>{format!("@{label}")}</button>
                        </li>
                    }
                }).collect_view().into_any())}
            </ul>
        }.into_any())}
        {shown(move || context_bar().is_some(), move || view! {
            <div class="compose-context" data-testid="compose-context">
                <span>{reactive(move || context_bar().unwrap_or_default())}</span>
                <button class="dismiss" data-testid="compose-cancel" on:click=cancel>{w.cancel}</button>
            </div>
        }.into_any())}
        {shown(move || ctx.uploading.get().is_some(), move || view! {
            <progress class="upload-progress" data-testid="upload-progress" max="100"
                value=reactive(move || ctx.uploading.get().unwrap_or(0).to_string())></progress>
        }.into_any())}
        <form class="composer chat-composer" on:submit=move |ev| { ev.prevent_default(); send(); }
            on:dragover=move |ev: web_sys::DragEvent| ev.prevent_default() on:drop=on_drop>
            <label class="attach" title=w.attach_title>
                "🖼"
                <input type="file" accept="image/png,image/jpeg,image/gif,image/webp"
                    data-testid="image-input" on:change=on_pick />
            </label>
            <textarea
                on:paste=on_paste
                rows="1"
                data-testid="composer-input"
                aria-label=w.message
                placeholder=w.composer_placeholder
                prop:value=reactive(move || draft.get())
                on:input=on_input
                on:keydown=on_keydown
            ></textarea>
            <button type="submit" data-testid="composer-send" disabled=reactive(move || draft.with(|d| d.trim().is_empty()))>
                {w.send}
            </button>
        </form>
        {note(move || problem.get().or_else(offline_reason), "composer-note", None, Some("composer-note"))}
    }
}

/// connecting / online / reconnecting in N s.
#[component]
fn StatusLine() -> impl IntoView {
    let status = expect_context::<ChatCtx>().status;
    view! { <crate::components::StatusBadge status=status /> }
}

fn storage() -> Option<web_sys::Storage> {
    crate::storage()
}

fn stored(key: &str) -> Option<String> {
    storage()?.get_item(key).ok()?
}

fn store(key: &str, value: &str) {
    if let Some(storage) = storage() {
        // Best effort: private browsing may refuse; the session still works.
        let _ = storage.set_item(key, value);
    }
}

/// `len` random characters from the token alphabet (`A-Z a-z 0-9 - _`).
fn random_id(len: usize) -> String {
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
fn browser_token() -> UserToken {
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
