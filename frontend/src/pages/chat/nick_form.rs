//! The first screen of open mode: pick a nickname.

use leptos::prelude::*;
use shared::Nick;

use super::{ctx::ChatCtx, header::StatusLine, local_store::stored};
use crate::{components::note, i18n::words};

/// The first screen: pick a nickname.
#[component]
pub(super) fn NicknameForm(
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
