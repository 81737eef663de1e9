//! Who is chatting, before the chat: [`ChatGate`] asks the server how it knows its users
//! (`GET /api/session`) and shows the chat as it needs to be entered: the nickname screen
//! (open mode), the account screens (accounts mode: log in or create an account; then the
//! account bar with "change password" and "log out"), or straight in with the page's token
//! (JWT mode).

use leptos::{prelude::*, task::spawn_local};
use shared::{
    Nick,
    auth::{AuthMode, Credentials, PasswordChange, SessionInfo},
};

use crate::{
    api,
    components::note,
    erase::{dynamic, effect, shown},
    pages::chat::{ChatLogin, ChatPage},
};

/// How long the gate waits before asking an unreachable server again.
const RETRY: std::time::Duration = std::time::Duration::from_secs(3);

/// What the gate knows: nothing yet, the server's answer, or why there is none.
#[derive(Debug, Clone, PartialEq)]
enum Known {
    Asking,
    Session(SessionInfo),
    Unreachable(String),
}

/// The chat behind whatever login the server asks for; its socket goes to `url`.
#[component]
pub fn ChatGate(
    /// WebSocket URL of `/ws`; the account API is on the same server.
    #[prop(into)]
    url: String,
) -> impl IntoView {
    let known = RwSignal::new(Known::Asking);
    let api_base = StoredValue::new(url.clone());
    // Every change asks the server; a failure asks again by itself after RETRY, so that an
    // app opened from the service worker's cache while the server is down (or the network)
    // enters the chat once it is back (and the outbox goes).
    let attempt = RwSignal::new(0u32);
    effect(move || {
        attempt.track();
        let base = api_base.get_value();
        spawn_local(async move {
            let answer = match api::session(&base).await {
                Ok(info) => Known::Session(info),
                Err(problem) => {
                    set_timeout(
                        move || {
                            attempt.try_update(|n| *n += 1);
                        },
                        RETRY,
                    );
                    Known::Unreachable(problem)
                }
            };
            // (The same problem again is not drawn (and announced) again.)
            if known.try_with_untracked(|known| known != &answer) == Some(true) {
                known.set(answer);
            }
        });
    });
    let ask = move || attempt.update(|n| *n += 1);
    let url = StoredValue::new(url);
    view! {
        {dynamic(move || match known.get() {
            Known::Asking => view! { <p class="hint" data-testid="gate-asking">{crate::i18n::words().gate_asking}</p> }.into_any(),
            Known::Unreachable(problem) => view! {
                <div class="nick-form">
                    <p class="problem" role="alert" data-testid="gate-problem">
                        {crate::i18n::words().offline_retrying} " (" {problem} ")"
                    </p>
                    <button on:click=move |_| ask()>{crate::i18n::words().try_again}</button>
                </div>
            }.into_any(),
            Known::Session(SessionInfo { mode: AuthMode::Open, .. }) => {
                view! { <ChatPage url=url.get_value() /> }.into_any()
            }
            Known::Session(SessionInfo { mode: AuthMode::Jwt, .. }) => {
                view! { <ChatPage url=url.get_value() login=ChatLogin::Jwt /> }.into_any()
            }
            Known::Session(SessionInfo { mode: AuthMode::Accounts, user: None }) => {
                let on_login = move |info: SessionInfo| known.set(Known::Session(info));
                view! { <AccountForm url=url.get_value() on_login=on_login /> }.into_any()
            }
            Known::Session(SessionInfo { mode: AuthMode::Accounts, user: Some(user) }) => {
                let logged_out = move || {
                    super::chat::forget_drafts();
                    known.set(Known::Session(SessionInfo { mode: AuthMode::Accounts, user: None }));
                };
                view! {
                    <div class="logged-in">
                        <AccountBar url=url.get_value() user=user.clone() on_logout=logged_out />
                        <ChatPage
                            url=url.get_value()
                            login=ChatLogin::Account(user)
                            on_unauthenticated=Callback::new(move |()| ask())
                        />
                    </div>
                }
                .into_any()
            }
        })}
    }
}

/// Log in, or create an account (accounts mode).
#[component]
fn AccountForm(
    /// WebSocket URL of `/ws` (the API is on the same server).
    url: String,
    /// Called with the session once logged in.
    on_login: impl Fn(SessionInfo) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let url = StoredValue::new(url);
    let act = move |register: bool| {
        let on_login = on_login.clone();
        move |ev: leptos::ev::MouseEvent| {
            ev.prevent_default();
            let name = match name.get_untracked().trim().parse::<Nick>() {
                Ok(name) => name,
                Err(err) => return problem.set(Some((crate::i18n::words().invalid)(&err))),
            };
            let credentials = Credentials {
                name,
                password: password.get_untracked(),
            };
            let on_login = on_login.clone();
            busy.set(true);
            spawn_local(async move {
                let base = url.get_value();
                let answer = if register {
                    api::register(&base, &credentials).await
                } else {
                    api::login(&base, &credentials).await
                };
                busy.set(false);
                match answer {
                    Ok(info) => {
                        problem.set(None);
                        on_login(info);
                    }
                    Err(why) => problem.set(Some(why)),
                }
            });
        }
    };
    let w = crate::i18n::words();
    view! {
        <form class="nick-form" data-testid="account-form">
            <h1>{w.welcome}</h1>
            <p class="hint">{w.account_hint}</p>
            <label>
                {w.account_name}
                <input type="text" data-testid="account-name" maxlength="32"
                    autocomplete="username" bind:value=name />
            </label>
            <label>
                {w.password}
                <input type="password" data-testid="account-password"
                    autocomplete="current-password" bind:value=password />
            </label>
            <div class="actions">
                <button type="submit" data-testid="account-login" disabled=busy
                    on:click=act(false)>{w.log_in}</button>
                <button data-testid="account-register" disabled=busy
                    on:click=act(true)>{w.create_account}</button>
            </div>
            {note(move || problem.get(), "problem", Some("alert"), Some("account-problem"))}
        </form>
    }
}

/// Who is logged in, with "change password" and "log out" (accounts mode).
#[component]
fn AccountBar(
    /// WebSocket URL of `/ws` (the API is on the same server).
    url: String,
    /// The account.
    user: Nick,
    /// Called once logged out.
    on_logout: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let url = StoredValue::new(url);
    let changing = RwSignal::new(false);
    let old = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let outcome = RwSignal::new(None::<String>);
    let logout = move |_| {
        let on_logout = on_logout.clone();
        spawn_local(async move {
            // While the session still names the user: the server forgets this browser's
            // push subscription before the next person uses it.
            crate::pwa::forget_push(&url.get_value()).await;
            match api::logout(&url.get_value()).await {
                Ok(_) => on_logout(),
                Err(why) => outcome.set(Some(why)),
            }
        });
    };
    let change = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let change = PasswordChange {
            old: old.get_untracked(),
            new: new.get_untracked(),
        };
        spawn_local(async move {
            match api::change_password(&url.get_value(), &change).await {
                Ok(_) => {
                    outcome.set(Some(crate::i18n::words().password_changed.into()));
                    changing.set(false);
                    old.set(String::new());
                    new.set(String::new());
                }
                Err(why) => outcome.set(Some(why)),
            }
        });
    };
    let w = crate::i18n::words();
    view! {
        <div class="account-bar" data-testid="account-bar">
            <span>{w.logged_in_as} <strong data-testid="account-user">{user.to_string()}</strong></span>
            <button data-testid="account-change" on:click=move |_| changing.update(|c| *c = !*c)>
                {w.change_password}
            </button>
            <button data-testid="account-logout" on:click=logout>{w.log_out}</button>
            {shown(move || changing.get(), move || view! {
                <form class="password-form" on:submit=change data-testid="password-form">
                    <input type="password" aria-label=w.current_password placeholder=w.current_password
                        autocomplete="current-password" data-testid="password-old" bind:value=old />
                    <input type="password" aria-label=w.new_password placeholder=w.new_password
                        autocomplete="new-password" data-testid="password-new" bind:value=new />
                    <button type="submit" data-testid="password-submit">{w.change}</button>
                </form>
            }.into_any())}
            {note(move || outcome.get(), "hint", Some("status"), Some("account-outcome"))}
        </div>
    }
}
