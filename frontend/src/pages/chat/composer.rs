//! The composer: the message input (Enter sends, Up edits the last message), slash commands
//! (`chat_state::commands`; `/help` lists them), @ and `:shortcode:` completion, the reply or
//! edit under way, files (images among them) pasted, dropped or picked, and a draft per
//! conversation (kept in storage: it survives a closed tab).

use leptos::prelude::*;
use shared::ClientMsg;

use super::{
    ctx::ChatCtx,
    emoji,
    local_store::{draft_of, keep_draft},
};
use crate::{
    browser::now_ms,
    chat_state::{ChatState, Command, Target},
    client::ConnectionStatus,
    components::note,
    erase::{dynamic, effect, reactive, shown},
    i18n::words,
};

/// `typing` is sent at most this often while the user types (the server's timeout is longer).
const TYPING_EVERY_MS: f64 = 2000.0;

/// Message input: Enter sends, Shift+Enter is a newline; disabled with the reason while
/// offline; announces typing, throttled.
#[component]
pub(super) fn Composer() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let draft = ctx.draft;
    let problem = RwSignal::new(None::<String>);
    let last_typing = StoredValue::new(f64::NEG_INFINITY);
    let w = words();
    // Each conversation has its own draft: the one shown follows the conversation (whose
    // name `shown_for` keeps), and what is typed is kept under the conversation's name.
    let shown_for = StoredValue::new(String::new());
    let current_name = move || ctx.state.with(|s| s.current.as_ref().map(Target::name));
    effect(move || {
        let name = current_name().unwrap_or_default();
        if shown_for.with_value(|shown| shown != &name) {
            let target = ctx.state.with_untracked(|s| s.current.clone());
            draft.set(target.as_ref().and_then(draft_of).unwrap_or_default());
            shown_for.set_value(name);
        }
    });
    effect(move || {
        let text = draft.get();
        // (Not the text of a message being edited: after a reload it would come back as a
        // new message's.)
        if let Some(target) = ctx
            .state
            .with_untracked(|s| s.current.clone().filter(|_| s.editing.is_none()))
            && shown_for.with_value(|shown| shown == &target.name())
        {
            keep_draft(&target, &text);
        }
    });
    let offline_reason = move || match ctx.status.get() {
        ConnectionStatus::Open(_) => None,
        ConnectionStatus::Connecting => Some(w.connecting_note.to_owned()),
        ConnectionStatus::Closed {
            reason,
            retry_in_secs,
        } => Some((w.offline_note)(&reason, retry_in_secs)),
    };
    let send = move || {
        let mut text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        // A slash command (not while editing: an edit's text is only text).
        let command = ctx
            .state
            .with_untracked(|s| s.editing.is_none().then(|| s.command(&text)))
            .flatten();
        let done = move || {
            draft.set(String::new());
            problem.set(None);
        };
        match command {
            None => {}
            Some(Ok(Command::Say(said))) => text = said,
            Some(Ok(Command::Help)) => {
                // The list, in the composer's note (until the next message).
                draft.set(String::new());
                return problem.set(Some(w.command_help.to_owned()));
            }
            Some(Err(reason)) => return problem.set(Some(reason)),
            Some(Ok(_)) if !ctx.status.get_untracked().is_open() => {
                return problem.set(offline_reason());
            }
            Some(Ok(Command::Send(requests))) => {
                requests.iter().for_each(|r| ctx.send(r));
                return done();
            }
            Some(Ok(Command::Join(room, request))) => {
                ctx.send(&request);
                ctx.state.update(|s| s.select(Target::Room(room)));
                return done();
            }
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
        let typed = event_target_value(&ev);
        // `:smile:` typed whole becomes 😄; `:sm` asks for the emoji data, to offer some.
        if emoji::shortcode_prefix(&typed).is_some() {
            emoji::load(ctx);
        }
        draft.set(emoji::expand_shortcode(&typed).unwrap_or(typed));
        let now = now_ms();
        if now - last_typing.get_value() >= TYPING_EVERY_MS
            && !draft.with_untracked(String::is_empty)
            && let Some(Target::Room(room)) = ctx.state.with_untracked(|s| s.current.clone())
        {
            last_typing.set_value(now);
            ctx.send(&ClientMsg::Typing { room });
        }
    };
    // A file pasted, dropped or picked is uploaded and sent with the text typed so far (as
    // an image if the server reads its bytes as one).
    let first_file = |files: Option<web_sys::FileList>| files?.get(0);
    // A clipboard or a drop may list the file among its items rather than its files
    // (Firefox, for a copied image): both are looked at.
    let transferred = move |data: Option<web_sys::DataTransfer>| {
        let data = data?;
        first_file(data.files()).or_else(|| {
            let items = data.items();
            (0..items.length())
                .filter_map(|i| items.get(i))
                .filter(|item| item.kind() == "file")
                .find_map(|item| item.get_as_file().ok().flatten())
        })
    };
    let on_paste = move |ev: web_sys::ClipboardEvent| {
        if let Some(file) = transferred(ev.clipboard_data()) {
            ev.prevent_default();
            ctx.send_upload(file);
        }
    };
    let on_drop = move |ev: web_sys::DragEvent| {
        if let Some(file) = transferred(ev.data_transfer()) {
            ev.prevent_default();
            ctx.send_upload(file);
        }
    };
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = first_file(input.files()) {
            ctx.send_upload(file);
        }
        input.set_value("");
    };
    let on_keydown = move |ev: web_sys::KeyboardEvent| {
        if ev.is_composing() {
            return;
        }
        if ev.key() == "Enter" && !ev.shift_key() {
            ev.prevent_default();
            send();
        } else if ev.key() == "ArrowUp"
            && draft.with_untracked(String::is_empty)
            && let Some(text) = ctx.state.try_update(ChatState::edit_last).flatten()
        {
            // The Up arrow in an empty composer edits our last message.
            ev.prevent_default();
            draft.set(text);
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
    // What the last word typed may become: `@bo` a member's name, `:sm` an emoji. Each is
    // what to show and what the draft becomes when it is picked.
    let suggestions = move || {
        draft.with(|d| {
            let cut = d.rfind(char::is_whitespace).map_or(0, |i| i + 1);
            let before = &d[..cut];
            let mut list: Vec<(String, String)> = ctx.state.with(|s| {
                s.mention_suggestions(d)
                    .into_iter()
                    .map(|nick| {
                        (
                            format!("@{nick}"),
                            crate::chat_state::complete_mention(d, &nick),
                        )
                    })
                    .collect()
            });
            if let Some(code) = emoji::shortcode_prefix(d) {
                list.extend(
                    emoji::completions(ctx, code)
                        .into_iter()
                        .map(|(emoji, code)| {
                            (format!("{emoji} :{code}:"), format!("{before}{emoji}"))
                        }),
                );
            }
            list
        })
    };
    view! {
        {shown(move || !suggestions().is_empty(), move || view! {
            <ul class="mention-suggestions" data-testid="mention-suggestions" role="listbox">
                {dynamic(move || suggestions().into_iter().map(|(label, completed)| {
                    view! {
                        <li>
                            <button role="option" data-testid="mention-suggestion" on:click=move |ev| {
                                ev.prevent_default();
                                draft.set(completed.clone());
                            }>{label}</button>
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
                "📎"
                <input type="file" data-testid="image-input" on:change=on_pick />
            </label>
            <button type="button" class="attach" data-testid="emoji-button" title=w.insert_emoji
                aria-label=w.insert_emoji aria-expanded=reactive(move || ctx.picker_open.get().to_string())
                on:click=move |_| {
                    ctx.picker_for.set(None);
                    ctx.picker_open.update(|open| *open = !*open);
                }>"🙂"</button>
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
