//! The admin console (`/admin`, issue #33): the server's live numbers as small charts, the
//! moderation log's latest page, and server-wide bans, for server admins. The server decides who that is: anyone else gets 401
//! or 403 from its endpoints and the page says it is not for them, showing nothing else.
//!
//! # Layout
//! - [`AdminPage`]: the page and its poll (every [`POLL_MS`], ended with the page); the
//!   server-wide ban form (`post_ban`).
//! - [`Samples`]: what the charts draw, from the numbers' changes between polls.
//! - `chart`: one series as an SVG line with its latest value; `log_line`: one act, in words.

use std::collections::VecDeque;

use futures::future::{AbortHandle, Abortable};
use leptos::{prelude::*, task::spawn_local};
use shared::{
    admin::{LogEntry, LogPage, Stats},
    paths,
};

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
    let samples = RwSignal::new(Samples::default());
    let log = RwSignal::new(Vec::<LogEntry>::new());
    let version = RwSignal::new(String::new());

    // (Stored: the ban form's handlers are made anew with each view, so they copy it.)
    let api = StoredValue::new(url.clone());
    let (stop, registration) = AbortHandle::new_pair();
    let poll = async move {
        // Ends when the page does (the handle below), or when the server refuses.
        loop {
            match get::<Stats>(&url, paths::API_ADMIN_STATS).await {
                Ok(stats) => {
                    access.set(Access::Allowed);
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
            if let Ok(page) = get::<LogPage>(&url, paths::API_ADMIN_LOG).await {
                log.set(page.entries);
            }
            gloo_timers::future::TimeoutFuture::new(POLL_MS).await;
        }
    };
    spawn_local(async move {
        let _ = Abortable::new(poll, registration).await;
    });
    on_cleanup(move || stop.abort());

    let w = i18n::words();
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
                    </ol>
                }
                .into_any(),
            }}
        </section>
    }
}

/// `POST` a server-wide ban (or its end); the server's words when it refuses.
async fn post_ban(url: &str, ban: &shared::admin::Ban) -> Result<(), String> {
    let jwt = api::page_jwt().await.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(value) = jwt.as_deref() {
        headers.push(("authorization", value));
    }
    let path = api::api_url(url, paths::API_ADMIN_BAN);
    let response = fetch::send("POST", &path, &headers, Some(&ban.to_json()))
        .await
        .map_err(|err| format!("the server is unreachable ({err})"))?;
    if response.ok() {
        return Ok(());
    }
    let status = response.status();
    let text = fetch::text(&response).await.unwrap_or_default();
    Err(json::parse::<shared::auth::ApiError>(&text)
        .map_or_else(|_| format!("the server answered {status}"), |e| e.error))
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
