//! The admin console (`/admin`, issue #33): the server's live numbers as small charts, the
//! rooms with their rules (each opens to who is in it), the moderation log (its newest page,
//! kept current, and older pages on demand), server-wide bans, and exports and imports
//! (docs/EXPORT.md, docs/IMPORT.md), for server admins. The
//! server decides who that is: anyone else gets 401 or 403 from its endpoints and the page
//! says it is not for them, showing nothing else.
//!
//! # Layout
//! - [`AdminPage`]: the page and its poll (every [`POLL_MS`], ended with the page); the
//!   server-wide ban form (`post_ban`) and the removal of a message (`post`).
//! - [`Samples`]: what the charts draw, from the numbers' changes between polls.
//! - `chart`: one series as an SVG line with its latest value; `log_line`: one act, in words.
//! - `rooms_table`, `room_detail`: the rooms, and the one opened.
//! - [`export_path`], `save_export`: the export's link (accounts mode: the browser streams
//!   the ZIP to disk itself) or, in JWT mode, its fetch into a saved `Blob`; `import_zip`:
//!   a chosen ZIP's upload and its summary in words.

use std::collections::VecDeque;

use futures::future::{AbortHandle, Abortable};
use leptos::{prelude::*, task::spawn_local};
use shared::{
    admin::{LogEntry, LogPage, RoomDetail, Rooms, Stats},
    paths,
};

use wasm_bindgen::JsCast as _;

use crate::{api, fetch, i18n, json};

/// How often the page asks for the numbers and the log (ms).
pub const POLL_MS: u32 = 2_000;
/// Polls kept for the charts: two minutes.
const KEPT: usize = 60;

/// Whether the server lets this browser in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Asking,
    Allowed,
    /// The server's refusal (401, 403), or that it could not be asked (0).
    Refused(u16),
}

/// What an export holds (docs/EXPORT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportScope {
    /// The whole server.
    Server,
    /// One room, named.
    Room,
    /// One user's own data, named.
    User,
}

/// The export's path and query for `scope` and the name typed (trimmed); `None` when the
/// scope needs a name and has none (or, for a room, no valid one).
pub fn export_path(scope: ExportScope, name: &str) -> Option<String> {
    let name = name.trim();
    let key = match scope {
        ExportScope::Server => return Some(paths::API_ADMIN_EXPORT.to_owned()),
        ExportScope::Room if shared::RoomName::try_from(name).is_ok() => "room",
        ExportScope::User if !name.is_empty() => "user",
        _ => return None,
    };
    Some(format!(
        "{}?{key}={}",
        paths::API_ADMIN_EXPORT,
        js_sys::encode_uri_component(name)
    ))
}

/// The numbers of successive polls, oldest first (at most [`KEPT`]).
#[derive(Debug, Default, Clone)]
pub struct Samples {
    points: VecDeque<(f64, Stats)>,
}

impl Samples {
    /// The numbers read at `at_ms`.
    pub fn push(&mut self, at_ms: f64, stats: Stats) {
        // Another node's numbers (a cluster's load balancer chose it): a series of its own.
        if self
            .points
            .back()
            .is_some_and(|(_, last)| last.node != stats.node)
        {
            self.points.clear();
        }
        if self.points.len() == KEPT {
            self.points.pop_front();
        }
        self.points.push_back((at_ms, stats));
    }

    /// Open chat connections at each poll.
    pub fn connections(&self) -> Vec<f64> {
        self.points
            .iter()
            .map(|(_, s)| s.connections as f64)
            .collect()
    }

    /// Users online at each poll.
    pub fn users(&self) -> Vec<f64> {
        self.points
            .iter()
            .map(|(_, s)| s.users_online as f64)
            .collect()
    }

    /// Messages received per minute between successive polls (0 across a restart, when the
    /// counters start again).
    pub fn rate(&self) -> Vec<f64> {
        self.between(|a, b, ms| b.messages_in.saturating_sub(a.messages_in) as f64 * 60_000.0 / ms)
    }

    /// The mean time of a store transaction between successive polls, in ms (0 when none
    /// ran).
    pub fn latency(&self) -> Vec<f64> {
        self.between(|a, b, _| {
            let commits = b.store_commits.saturating_sub(a.store_commits);
            if commits == 0 {
                return 0.0;
            }
            b.store_commit_micros.saturating_sub(a.store_commit_micros) as f64
                / commits as f64
                / 1_000.0
        })
    }

    fn between(&self, value: impl Fn(&Stats, &Stats, f64) -> f64) -> Vec<f64> {
        self.points
            .iter()
            .zip(self.points.iter().skip(1))
            .map(|((at_a, a), (at_b, b))| value(a, b, (at_b - at_a).max(1.0)))
            .collect()
    }
}

/// The admin console, asking the server whose chat socket is `url` (e.g.
/// `ws://127.0.0.1:8080/ws`).
#[component]
pub fn AdminPage(
    /// WebSocket URL of `/ws`: the API is on the same server.
    #[prop(into)]
    url: String,
) -> impl IntoView {
    let access = RwSignal::new(Access::Asking);
    // The last poll went unanswered after earlier ones were (a restart, the network).
    let stale = RwSignal::new(false);
    let ban_name = RwSignal::new(String::new());
    let ban_said = RwSignal::new(String::new());
    let remove_room = RwSignal::new(String::new());
    let remove_id = RwSignal::new(String::new());
    let remove_said = RwSignal::new(String::new());
    let close_said = RwSignal::new(String::new());
    let account_name = RwSignal::new(String::new());
    let account_password = RwSignal::new(String::new());
    let account_said = RwSignal::new(String::new());
    let samples = RwSignal::new(Samples::default());
    let log = RwSignal::new(Vec::<LogEntry>::new());
    // Where the page after the newest starts (none: the newest is all there is).
    let log_next = RwSignal::new(None::<String>);
    // Older pages the admin asked for, oldest last, and where the next one starts. While
    // any is shown the newest page is not refreshed: a refresh would open a gap between it
    // and them.
    let older = RwSignal::new(Vec::<LogEntry>::new());
    let older_next = RwSignal::new(None::<String>);
    let paging = RwSignal::new(false);
    let rooms = RwSignal::new(None::<Rooms>);
    let opened = RwSignal::new(None::<Result<RoomDetail, u16>>);
    let version = RwSignal::new(String::new());
    let export_scope = RwSignal::new(ExportScope::Server);
    let export_name = RwSignal::new(String::new());
    let export_said = RwSignal::new(String::new());
    let import_file = StoredValue::new_local(None::<web_sys::File>);
    let import_said = RwSignal::new(String::new());

    // (Stored: the ban form's handlers are made anew with each view, so they copy it.)
    let api = StoredValue::new(url.clone());
    let (stop, registration) = AbortHandle::new_pair();
    let poll = async move {
        // Ends when the page does (the handle below), or when the server refuses.
        loop {
            match get::<Stats>(&url, paths::API_ADMIN_STATS).await {
                Ok(stats) => {
                    // (Only on a change: each set would draw the whole console anew, and a
                    // chosen file with it.)
                    if access.get_untracked() != Access::Allowed {
                        access.set(Access::Allowed);
                    }
                    stale.set(false);
                    version.set(stats.version.clone());
                    samples.update(|s| s.push(js_sys::Date::now(), stats));
                }
                Err(status @ (401 | 403)) => {
                    access.set(Access::Refused(status));
                    return;
                }
                // Unreachable for a moment (a restart): the charts wait for it, and say so.
                Err(_) if access.get_untracked() == Access::Allowed => stale.set(true),
                Err(status) => access.set(Access::Refused(status)),
            }
            if !paging.get_untracked()
                && let Ok(page) = get::<LogPage>(&url, paths::API_ADMIN_LOG).await
            {
                log.set(page.entries);
                log_next.set(page.next);
            }
            if let Ok(list) = get::<Rooms>(&url, paths::API_ADMIN_ROOMS).await {
                rooms.set(Some(list));
            }
            gloo_timers::future::TimeoutFuture::new(POLL_MS).await;
        }
    };
    spawn_local(async move {
        let _ = Abortable::new(poll, registration).await;
    });
    on_cleanup(move || stop.abort());

    let w = i18n::words();
    // The page before the last one shown.
    let load_older = move || {
        let Some(cursor) = older_next.get_untracked().or_else(|| {
            (!paging.get_untracked())
                .then(|| log_next.get_untracked())
                .flatten()
        }) else {
            return;
        };
        paging.set(true);
        let api = api.get_value();
        spawn_local(async move {
            let path = format!(
                "{}?before={}",
                paths::API_ADMIN_LOG,
                js_sys::encode_uri_component(&cursor)
            );
            if let Ok(page) = get::<LogPage>(&api, &path).await {
                older.update(|lines| lines.extend(page.entries));
                older_next.set(page.next);
            }
        });
    };
    let newest = move || {
        paging.set(false);
        older.set(Vec::new());
        older_next.set(None);
    };
    let open_room = move |room: shared::RoomName| {
        let api = api.get_value();
        spawn_local(async move {
            let path = format!(
                "{}?room={}",
                paths::API_ADMIN_ROOM,
                js_sys::encode_uri_component(room.as_str())
            );
            opened.set(Some(get::<RoomDetail>(&api, &path).await));
        });
    };
    let remove = move || {
        let room = remove_room.get_untracked().trim().to_owned();
        let (Ok(room), Ok(id)) = (
            shared::RoomName::try_from(room),
            remove_id.get_untracked().trim().parse::<u64>(),
        ) else {
            remove_said.set(w.admin_remove_invalid.to_owned());
            return;
        };
        let api = api.get_value();
        spawn_local(async move {
            let body = shared::admin::Remove {
                room: room.clone(),
                id: shared::MessageId(id),
            }
            .to_json();
            let said = match post(&api, paths::API_ADMIN_REMOVE, &body).await {
                Ok(()) => (w.admin_removed)(room.as_str(), id),
                Err(problem) => problem,
            };
            remove_said.set(said);
        });
    };
    let close_room = move |room: shared::RoomName, closed: bool| {
        let api = api.get_value();
        spawn_local(async move {
            let body = shared::admin::Close {
                room: room.clone(),
                closed,
            }
            .to_json();
            let said = match post(&api, paths::API_ADMIN_CLOSE, &body).await {
                Ok(()) if closed => (w.admin_closed)(room.as_str()),
                Ok(()) => (w.admin_reopened)(room.as_str()),
                Err(problem) => problem,
            };
            close_said.set(said);
        });
    };
    // Accounts mode: a new password (with every session ended), or the sessions alone.
    let act_on_account = move |reset: bool| {
        let user = account_name.get_untracked().trim().to_owned();
        if user.is_empty() {
            return;
        }
        let password = account_password.get_untracked();
        let api = api.get_value();
        spawn_local(async move {
            let (path, body) = if reset {
                let body = shared::admin::PasswordReset {
                    user: user.clone(),
                    password,
                };
                (paths::API_ADMIN_PASSWORD, body.to_json())
            } else {
                let body = shared::admin::Revoke { user: user.clone() };
                (paths::API_ADMIN_REVOKE, body.to_json())
            };
            let said = match post(&api, path, &body).await {
                Ok(()) if reset => {
                    account_password.set(String::new());
                    (w.admin_password_reset)(&user)
                }
                Ok(()) => (w.admin_sessions_revoked)(&user),
                Err(problem) => problem,
            };
            account_said.set(said);
        });
    };
    let ban = move |banned: bool| {
        let user = ban_name.get_untracked().trim().to_owned();
        if user.is_empty() {
            return;
        }
        let api = api.get_value();
        spawn_local(async move {
            let said = match post_ban(
                &api,
                &shared::admin::Ban {
                    user: user.clone(),
                    banned,
                },
            )
            .await
            {
                Ok(()) if banned => (w.admin_banned)(&user),
                Ok(()) => (w.admin_unbanned)(&user),
                Err(problem) => problem,
            };
            ban_said.set(said);
        });
    };
    let href = move || {
        let path = export_path(export_scope.get(), &export_name.get());
        api::api_url(
            &api.get_value(),
            path.as_deref().unwrap_or(paths::API_ADMIN_EXPORT),
        )
    };
    // Accounts mode: the link itself (the session cookie goes with it), so the browser
    // streams the ZIP to disk however large. JWT mode: a link cannot send the header, so
    // the page fetches it and saves the Blob (held by the browser, not the wasm).
    let export = move |ev: leptos::ev::MouseEvent| {
        let Some(path) = export_path(export_scope.get_untracked(), &export_name.get_untracked())
        else {
            ev.prevent_default();
            export_said.set(w.admin_export_invalid.to_owned());
            return;
        };
        export_said.set(String::new());
        if !api::page_has_jwt() {
            return;
        }
        ev.prevent_default();
        let api = api.get_value();
        spawn_local(async move {
            if let Err(problem) = save_export(&api, &path).await {
                export_said.set(problem);
            }
        });
    };
    let import = move || {
        let Some(file) = import_file.get_value() else {
            import_said.set(w.admin_import_none.to_owned());
            return;
        };
        import_said.set(w.admin_importing.to_owned());
        let api = api.get_value();
        spawn_local(async move {
            import_said.set(
                import_zip(&api, &file)
                    .await
                    .unwrap_or_else(|problem| problem),
            );
        });
    };
    let scope_choice = move |scope: ExportScope, label: &'static str| {
        view! {
            <label>
                <input type="radio" name="export-scope" data-testid="export-scope"
                    prop:checked=move || export_scope.get() == scope
                    on:change=move |_| export_scope.set(scope) />
                {label}
            </label>
        }
    };
    view! {
        <section class="admin" data-testid="admin">
            <h1>{w.admin_title}</h1>
            {move || match access.get() {
                Access::Asking => view! { <p class="hint">{w.admin_asking}</p> }.into_any(),
                Access::Refused(status) => view! {
                    <p class="hint" data-testid="admin-refused">{(w.admin_refused)(status)}</p>
                }
                .into_any(),
                Access::Allowed => view! {
                    <p class="hint" data-testid="admin-version">{move || version.get()}</p>
                    <Show when=move || stale.get()>
                        <p class="hint" role="status">{w.admin_stale}</p>
                    </Show>
                    <div class="admin-charts">
                        {move || samples.with(|s| view! {
                            {chart(w.admin_connections, "chart-connections", s.connections(), "")}
                            {chart(w.admin_users, "chart-users", s.users(), "")}
                            {chart(w.admin_rate, "chart-rate", s.rate(), "")}
                            {chart(w.admin_latency, "chart-latency", s.latency(), " ms")}
                        })}
                    </div>
                    <h2>{w.admin_ban_title}</h2>
                    <form class="admin-ban" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        ban(true);
                    }>
                        <input data-testid="ban-user" aria-label=w.admin_ban_user
                            placeholder=w.admin_ban_user autocomplete="off"
                            prop:value=move || ban_name.get()
                            on:input=move |ev| ban_name.set(event_target_value(&ev)) />
                        <button type="submit" data-testid="ban">{w.admin_ban}</button>
                        <button type="button" data-testid="unban"
                            on:click=move |_| ban(false)>{w.admin_unban}</button>
                    </form>
                    <p class="hint" role="status" data-testid="ban-result">{move || ban_said.get()}</p>
                    <h2>{w.admin_account_title}</h2>
                    <form class="admin-ban" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        act_on_account(true);
                    }>
                        <input data-testid="account-user" aria-label=w.admin_ban_user
                            placeholder=w.admin_ban_user autocomplete="off"
                            prop:value=move || account_name.get()
                            on:input=move |ev| account_name.set(event_target_value(&ev)) />
                        <input data-testid="account-password" type="password"
                            aria-label=w.admin_new_password placeholder=w.admin_new_password
                            autocomplete="new-password"
                            prop:value=move || account_password.get()
                            on:input=move |ev| account_password.set(event_target_value(&ev)) />
                        <button type="submit" data-testid="reset-password">{w.admin_reset_password}</button>
                        <button type="button" data-testid="revoke"
                            on:click=move |_| act_on_account(false)>{w.admin_revoke}</button>
                    </form>
                    <p class="hint" role="status" data-testid="account-result">{move || account_said.get()}</p>
                    <h2>{w.admin_remove_title}</h2>
                    <form class="admin-ban" on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        remove();
                    }>
                        <input data-testid="remove-room" aria-label=w.admin_room
                            placeholder=w.admin_room autocomplete="off"
                            prop:value=move || remove_room.get()
                            on:input=move |ev| remove_room.set(event_target_value(&ev)) />
                        <input data-testid="remove-id" aria-label=w.admin_message_id
                            placeholder=w.admin_message_id autocomplete="off" inputmode="numeric"
                            prop:value=move || remove_id.get()
                            on:input=move |ev| remove_id.set(event_target_value(&ev)) />
                        <button type="submit" data-testid="remove">{w.admin_remove}</button>
                    </form>
                    <p class="hint" role="status" data-testid="remove-result">{move || remove_said.get()}</p>
                    <h2>{w.admin_export_title}</h2>
                    <div class="admin-ban" data-testid="admin-export">
                        {scope_choice(ExportScope::Server, w.admin_export_server)}
                        {scope_choice(ExportScope::Room, w.admin_export_room)}
                        {scope_choice(ExportScope::User, w.admin_export_user)}
                        <input data-testid="export-name" aria-label=w.admin_export_name
                            placeholder=w.admin_export_name autocomplete="off"
                            prop:value=move || export_name.get()
                            on:input=move |ev| export_name.set(event_target_value(&ev)) />
                        <a class="button" data-testid="export" href=href download=""
                            on:click=export>{w.admin_export}</a>
                    </div>
                    <p class="hint" role="status" data-testid="export-result">{move || export_said.get()}</p>
                    <h2>{w.admin_import_title}</h2>
                    <form class="admin-ban" data-testid="admin-import"
                        on:submit=move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            import();
                        }>
                        <input type="file" accept=".zip,application/zip" data-testid="import-file"
                            aria-label=w.admin_import_file
                            on:change=move |ev| {
                                let input: web_sys::HtmlInputElement = event_target(&ev);
                                import_file.set_value(input.files().and_then(|files| files.get(0)));
                            } />
                        <button type="submit" data-testid="import">{w.admin_import}</button>
                    </form>
                    <p class="hint" role="status" data-testid="import-result">{move || import_said.get()}</p>
                    <h2>{w.admin_rooms}</h2>
                    {move || rooms.get().map(|list| rooms_table(list, open_room, close_room))}
                    <p class="hint" role="status" data-testid="close-result">{move || close_said.get()}</p>
                    {move || opened.get().map(|detail| room_detail(detail, move || opened.set(None)))}
                    <h2>{w.admin_log}</h2>
                    <ol class="admin-log" data-testid="admin-log">
                        {move || {
                            let lines = log.get();
                            if lines.is_empty() {
                                view! { <li class="hint">{w.admin_log_empty}</li> }.into_any()
                            } else {
                                lines.into_iter().map(log_line).collect_view().into_any()
                            }
                        }}
                        {move || older.get().into_iter().map(log_line).collect_view()}
                    </ol>
                    <div class="admin-log-pages">
                        <Show when=move || {
                            older_next.get().is_some()
                                || (!paging.get() && log_next.get().is_some())
                        }>
                            <button type="button" data-testid="log-older"
                                on:click=move |_| load_older()>{w.admin_log_older}</button>
                        </Show>
                        <Show when=move || paging.get()>
                            <button type="button" data-testid="log-newest"
                                on:click=move |_| newest()>{w.admin_log_newest}</button>
                        </Show>
                    </div>
                }
                .into_any(),
            }}
        </section>
    }
}

/// The rooms, one row each; a room's name opens it (`open`). Groups are only counted.
fn rooms_table(
    list: Rooms,
    open: impl Fn(shared::RoomName) + Copy + Send + Sync + 'static,
    close: impl Fn(shared::RoomName, bool) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let w = i18n::words();
    let rows = list
        .rooms
        .into_iter()
        .map(|room| {
            let name = room.name.clone();
            let owner = room
                .owner
                .as_ref()
                .map_or_else(|| w.admin_no_owner.to_owned(), |o| o.to_string());
            let moderators = room
                .moderators
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let max = room
                .max_members
                .map_or_else(|| "–".to_owned(), |m| m.to_string());
            let (closed, target) = (room.closed, room.name.clone());
            // (The lobby is everyone's first room: the server keeps it open.)
            let closable = room.name != shared::RoomName::default_room();
            view! {
                <tr data-room=room.name.to_string() class:closed=closed>
                    <th scope="row">
                        <button type="button" class="link" on:click=move |_| open(name.clone())>
                            {room.name.to_string()}
                        </button>
                    </th>
                    <td>{if room.private { w.admin_private } else { w.admin_public }}</td>
                    <td>{owner}</td>
                    <td>{moderators}</td>
                    <td>{room.banned}</td>
                    <td>{max}</td>
                    <td>{room.online}</td>
                    <td class="topic">{room.topic.unwrap_or_default()}</td>
                    <td>
                        {closed.then_some(w.admin_room_closed)}" "
                        <Show when=move || closable>
                            <button type="button" data-testid="close-room"
                                on:click={
                                    let target = target.clone();
                                    move |_| close(target.clone(), !closed)
                                }>
                                {if closed { w.admin_reopen } else { w.admin_close }}
                            </button>
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="admin-rooms" data-testid="admin-rooms">
            <thead><tr>
                <th scope="col">{w.admin_room}</th>
                <th scope="col">{w.admin_access}</th>
                <th scope="col">{w.admin_owner}</th>
                <th scope="col">{w.admin_moderators}</th>
                <th scope="col">{w.admin_banned_count}</th>
                <th scope="col">{w.admin_max_members}</th>
                <th scope="col">{w.admin_online}</th>
                <th scope="col">{w.admin_topic}</th>
                <th scope="col">{w.admin_state}</th>
            </tr></thead>
            <tbody>{rows}</tbody>
        </table>
        <p class="hint" data-testid="admin-groups">{(w.admin_groups)(list.groups)}</p>
    }
}

/// The room opened: who is in it now and who its rules name; or why it cannot be shown.
fn room_detail(
    detail: Result<RoomDetail, u16>,
    close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let w = i18n::words();
    let names = |names: Vec<shared::Nick>| {
        if names.is_empty() {
            "–".to_owned()
        } else {
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let body = match detail {
        Ok(detail) => {
            let members = if detail.more_members {
                format!("{} …", names(detail.members))
            } else {
                names(detail.members)
            };
            view! {
                <h3>{detail.room.name.to_string()}</h3>
                <dl>
                    <dt>{(w.admin_members_now)(detail.room.online)}</dt>
                    <dd data-testid="admin-room-members">{members}</dd>
                    <dt>{w.admin_invited}</dt><dd>{names(detail.invited)}</dd>
                    <dt>{w.admin_banned_list}</dt><dd>{names(detail.banned)}</dd>
                    <dt>{w.admin_muted}</dt><dd>{names(detail.muted)}</dd>
                </dl>
            }
            .into_any()
        }
        Err(status) => view! { <p class="hint">{(w.admin_room_refused)(status)}</p> }.into_any(),
    };
    view! {
        <section class="admin-room" data-testid="admin-room">
            {body}
            <button type="button" on:click=move |_| close()>{w.admin_close_detail}</button>
        </section>
    }
}

/// `POST` a server-wide ban (or its end); the server's words when it refuses.
async fn post_ban(url: &str, ban: &shared::admin::Ban) -> Result<(), String> {
    post(url, paths::API_ADMIN_BAN, &ban.to_json()).await
}

/// `POST` `body` (JSON) to the admin API's `path`; the server's words when it refuses.
async fn post(url: &str, path: &str, body: &str) -> Result<(), String> {
    let jwt = api::page_jwt().await.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(value) = jwt.as_deref() {
        headers.push(("authorization", value));
    }
    let path = api::api_url(url, path);
    let response = fetch::send("POST", &path, &headers, Some(body))
        .await
        .map_err(|err| format!("the server is unreachable ({err})"))?;
    if response.ok() {
        return Ok(());
    }
    Err(api::refusal(response).await)
}

/// `authorization: Bearer …` in JWT mode.
async fn jwt_header() -> Option<String> {
    api::page_jwt().await.map(|token| format!("Bearer {token}"))
}

/// JWT mode: fetches the export at `path` and saves it (as a link to the Blob would, clicked);
/// the server's words when it refuses.
async fn save_export(url: &str, path: &str) -> Result<(), String> {
    let jwt = jwt_header().await;
    let headers: Vec<(&str, &str)> = jwt.iter().map(|v| ("authorization", v.as_str())).collect();
    let response = fetch::send("GET", &api::api_url(url, path), &headers, None)
        .await
        .map_err(|err| format!("the server is unreachable ({err})"))?;
    if !response.ok() {
        return Err(api::refusal(response).await);
    }
    let blob = fetch::blob(&response).await?;
    let href = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|err| crate::browser::js_error(&err))?;
    let link = document()
        .create_element("a")
        .map_err(|err| crate::browser::js_error(&err))?;
    let _ = link.set_attribute("href", &href);
    let _ = link.set_attribute("download", "chat-export.zip");
    if let Some(link) = link.dyn_ref::<web_sys::HtmlElement>() {
        link.click();
    }
    // (The save has started when the click returns; a minute leaves slow browsers room.)
    gloo_timers::future::TimeoutFuture::new(60_000).await;
    let _ = web_sys::Url::revoke_object_url(&href);
    Ok(())
}

/// `POST`s `file` (streamed by the browser) to the import; its summary in words, or the
/// server's when it refuses.
async fn import_zip(url: &str, file: &web_sys::File) -> Result<String, String> {
    let jwt = jwt_header().await;
    let headers: Vec<(&str, &str)> = jwt.iter().map(|v| ("authorization", v.as_str())).collect();
    let path = api::api_url(url, paths::API_ADMIN_IMPORT);
    let response = fetch::send_body("POST", &path, &headers, Some(file.as_ref()))
        .await
        .map_err(|err| format!("the server is unreachable ({err})"))?;
    if !response.ok() {
        return Err(api::refusal(response).await);
    }
    let text = fetch::text(&response).await?;
    // The summary (docs/IMPORT.md) is read field by field from the browser's parse: its
    // type is the backend's, and a decoder of its own here would cost wasm for five numbers.
    let tree = js_sys::JSON::parse(&text).map_err(|err| crate::browser::js_error(&err))?;
    let field = |name: &str| js_sys::Reflect::get(&tree, &name.into()).unwrap_or_default();
    let number = |name: &str| field(name).as_f64().unwrap_or(0.0) as u64;
    let w = i18n::words();
    let mut said = (w.admin_imported)(
        number("rooms"),
        number("messages"),
        number("already"),
        number("files"),
    );
    let refused: js_sys::Array = field("refused_rooms").dyn_into().unwrap_or_default();
    if refused.length() > 0 {
        let rooms: Vec<String> = refused
            .iter()
            .map(|room| {
                let text = |name: &str| {
                    js_sys::Reflect::get(&room, &name.into())
                        .ok()
                        .and_then(|v| v.as_string())
                        .unwrap_or_default()
                };
                format!("{} ({})", text("room"), text("reason"))
            })
            .collect();
        said.push(' ');
        said.push_str(&(w.admin_import_refused)(&rooms.join(", ")));
    }
    Ok(said)
}

/// Whether the server whose chat socket is `url` lets this browser into the console.
pub async fn lets_in(url: &str) -> bool {
    get::<Stats>(url, paths::API_ADMIN_STATS).await.is_ok()
}

/// `GET path` as `T`, or the status that refused it (0: no answer, or not readable).
async fn get<T: shared::lean::Lean>(url: &str, path: &str) -> Result<T, u16> {
    let jwt = api::page_jwt().await.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = jwt
        .as_deref()
        .map(|value| ("authorization", value))
        .into_iter()
        .collect();
    let response = fetch::send("GET", &api::api_url(url, path), &headers, None)
        .await
        .map_err(|_| 0u16)?;
    if !response.ok() {
        return Err(response.status());
    }
    let text = fetch::text(&response).await.map_err(|_| 0u16)?;
    json::parse(&text).map_err(|_| 0u16)
}

/// Width and height of a chart's drawing (SVG units).
const CHART: (f64, f64) = (120.0, 36.0);

/// One series as a line (scaled to its largest value), with its title and latest value.
fn chart(
    title: &'static str,
    test_id: &'static str,
    values: Vec<f64>,
    unit: &'static str,
) -> impl IntoView {
    let top = values.iter().copied().fold(1.0_f64, f64::max);
    let step = CHART.0 / (KEPT - 1) as f64;
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                CHART.1 - v / top * (CHART.1 - 2.0) - 1.0
            )
        })
        .collect();
    let latest = values
        .last()
        .map_or_else(|| "–".to_owned(), |v| format!("{}{unit}", round(*v)));
    view! {
        <figure class="admin-chart" data-testid=test_id data-points=values.len()>
            <figcaption>{title}" " <strong data-testid=format!("{test_id}-value")>{latest.clone()}</strong></figcaption>
            <svg viewBox=format!("0 0 {} {}", CHART.0, CHART.1) role="img"
                aria-label=format!("{title}: {latest}")>
                <polyline points=points.join(" ") />
            </svg>
        </figure>
    }
}

/// Whole numbers above 10, one decimal below.
fn round(value: f64) -> String {
    if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// One act of moderation, with its time in the reader's language.
fn log_line(entry: LogEntry) -> impl IntoView {
    let w = i18n::words();
    let when = js_sys::Date::new(&(entry.at_ms as f64).into())
        .to_locale_string(i18n::lang().tag(), &wasm_bindgen::JsValue::UNDEFINED);
    let room = entry
        .room
        .as_ref()
        .map_or(w.admin_server, |room| room.as_str());
    // A server-wide act names its user as the admin did (a JWT `sub` may be no nickname).
    let phrase = match (entry.target.clone(), entry.action.clone()) {
        (Some(user), shared::ModAction::Banned { .. }) => i18n::ModPhrase::Banned(user),
        (Some(user), shared::ModAction::Unbanned { .. }) => i18n::ModPhrase::Unbanned(user),
        (_, action) => i18n::mod_phrase(action),
    };
    let what = (w.moderated)(room, entry.by.as_str(), &phrase);
    view! {
        <li><time>{String::from(when)}</time>" " <span>{what}</span></li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(connections: u64, messages_in: u64, commits: u64, micros: u64) -> Stats {
        Stats {
            version: String::new(),
            node: "1@1".into(),
            connections,
            users_online: connections,
            messages_in,
            store_commits: commits,
            store_commit_micros: micros,
        }
    }

    #[test]
    fn the_charts_draw_rates_and_means_between_polls_and_keep_two_minutes() {
        let mut samples = Samples::default();
        samples.push(0.0, stats(1, 100, 10, 10_000));
        samples.push(2_000.0, stats(2, 110, 14, 18_000));
        // A restart: the counters start again.
        samples.push(4_000.0, stats(1, 3, 1, 500));
        assert_eq!(samples.connections(), [1.0, 2.0, 1.0]);
        // 10 messages in 2 s: 300 a minute; none across the restart.
        assert_eq!(samples.rate(), [300.0, 0.0]);
        // 8 ms over 4 transactions: 2 ms each.
        assert_eq!(samples.latency(), [2.0, 0.0]);
        for i in 0..100 {
            samples.push(6_000.0 + f64::from(i) * 2_000.0, stats(1, 3, 1, 500));
        }
        assert_eq!(samples.connections().len(), KEPT);
        assert_eq!(samples.rate().len(), KEPT - 1);
        // Another node answers: its numbers start a series of their own.
        samples.push(
            1e6,
            Stats {
                node: "2@2".into(),
                ..stats(7, 1, 1, 1)
            },
        );
        assert_eq!(samples.connections(), [7.0]);
        assert!(samples.rate().is_empty());
    }
}
