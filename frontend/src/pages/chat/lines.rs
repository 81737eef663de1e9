//! The message list: lines grouped by sender, the "new messages" divider, each line's quote,
//! image, reactions and actions (reply, react, edit, delete), and following a quote to its
//! original.

// One part of the chat page: its types and helpers come from `chat.rs`.
use super::*;

/// The lines of the current conversation, grouped by sender; sticks to the bottom unless
/// the user scrolled up to read.
#[component]
pub(super) fn MessageList() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let state = ctx.state;
    let w = crate::i18n::words();
    let list: NodeRef<html::Ol> = NodeRef::new();
    let stick = RwSignal::new(true);
    // A memo, so typing and presence changes do not rebuild the message list.
    let lines = Memo::new(move |_| state.with(|s| s.current_lines().to_vec()));

    let on_scroll = move |_| {
        if let Some(el) = list.get() {
            stick.set(el.scroll_top() + el.client_height() >= el.scroll_height() - 40);
        }
    };
    Effect::new(move |_| {
        lines.track();
        if let Some(id) = ctx.seeking.get_untracked() {
            // A page came: the original is here now (shown once drawn), or another page is
            // needed (unless none is left).
            let loaded =
                state.with_untracked(|s| s.current_lines().iter().any(|l| l.id == Some(id)));
            if loaded {
                ctx.seeking.set(None);
                request_animation_frame(move || {
                    // The page may be gone by the next frame.
                    if let Some(Some(el)) = list.try_get_untracked() {
                        show_line(ctx, &el, id);
                    }
                });
            } else {
                match state.try_update(ChatState::load_older).flatten() {
                    Some(request) => ctx.send(&request),
                    None if state.with_untracked(|s| !s.current_loading_older()) => {
                        ctx.seeking.set(None);
                    }
                    None => {}
                }
            }
            return;
        }
        if stick.get_untracked()
            && let Some(el) = list.get()
        {
            el.set_scroll_top(el.scroll_height());
        }
    });
    // Read is what a visible page shows at its bottom: marked as such (the server tells the
    // user's other tabs and devices), at most once per MARK_EVERY so that a busy room does
    // not spend the connection's rate limit on it.
    let mark_scheduled = StoredValue::new(false);
    Effect::new(move |_| {
        lines.track();
        if ctx.hidden.get() || !stick.get() || mark_scheduled.get_value() {
            return;
        }
        mark_scheduled.set_value(true);
        set_timeout(
            move || {
                // The page may be gone by then: every access is a try.
                if mark_scheduled.try_set_value(false).is_some() {
                    return;
                }
                let visible = ctx.hidden.try_get_untracked() == Some(false)
                    && stick.try_get_untracked() == Some(true);
                if visible
                    && let Some(request) = state.try_update(ChatState::mark_current).flatten()
                {
                    ctx.send(&request);
                }
            },
            MARK_EVERY,
        );
    });
    let rows = move || {
        let (divider, current, me) = state.with(|s| (s.divider, s.current.clone(), s.me.clone()));
        lines.with(|lines| {
            // The divider goes above the first line of someone else after the read position
            // the conversation had when it was opened.
            let first_new = divider.zip(current.as_ref()).and_then(|(read, target)| {
                lines
                    .iter()
                    .position(|l| !l.mine && l.position(target).is_some_and(|p| p > read))
            });
            lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let starts_group = i == 0 || !same_group(&lines[i - 1], line);
                    let mentioned = !line.mine
                        && me
                            .as_ref()
                            .is_some_and(|me| crate::chat_state::mentions(&line.text, me));
                    // A plain item, not role="separator": a list may hold only list items.
                    view! {
                        {(first_new == Some(i)).then(|| view! {
                            <li class="new-divider" data-testid="new-divider">{w.new_messages}</li>
                        })}
                        {line_view(ctx, line, starts_group, mentioned)}
                    }
                })
                .collect_view()
        })
    };
    let more_before = move || {
        state.with(|s| match &s.current {
            Some(Target::Room(room)) => s.rooms.get(room).map(|v| (v.more_before, v.loading_older)),
            _ => None,
        })
    };
    let load_older = move |_| {
        stick.set(false);
        if let Some(request) = state.try_update(ChatState::load_older).flatten() {
            ctx.send(&request);
        }
    };
    view! {
        <ol class="messages" data-testid="messages" node_ref=list on:scroll=on_scroll aria-live="polite">
            {shown(move || more_before().is_some_and(|(more, _)| more), move || view! {
                <li class="load-older">
                    <button data-testid="load-older" on:click=load_older
                        disabled=reactive(move || more_before().is_some_and(|(_, loading)| loading))>
                        {reactive(move || if more_before().is_some_and(|(_, loading)| loading) { w.loading } else { w.load_older })}
                    </button>
                </li>
            }.into_any())}
            {dynamic(move || rows().into_any())}
        </ol>
    }
}

fn same_group(previous: &Line, line: &Line) -> bool {
    previous.from == line.from
        && match (previous.ts, line.ts) {
            (Some(a), Some(b)) => b.saturating_sub(a) < GROUP_WITHIN_MS,
            _ => true,
        }
}

/// One line; text goes in as a text node, never as HTML.
fn line_view(
    ctx: ChatCtx,
    line: &Line,
    starts_group: bool,
    mentioned: bool,
) -> impl IntoView + use<> {
    let w = crate::i18n::words();
    let (state, detail) = match &line.delivery {
        Delivery::Pending => ("pending", Some(w.sending.to_owned())),
        Delivery::Sent => ("sent", None),
        Delivery::Failed(reason) => ("failed", Some((w.not_sent)(reason))),
    };
    let sought = line.id.is_some() && line.id == ctx.sought.get_untracked();
    let class = format!(
        "line {} {}{}{}",
        if line.mine { "own" } else { "other" },
        state,
        if starts_group { " group-start" } else { "" },
        if sought { " sought" } else { "" }
    );
    let retry =
        (line.mine && matches!(line.delivery, Delivery::Failed(_))).then(|| line.client_id.clone());
    // Stored room lines get actions: reply and react for all, edit for the author, delete
    // for the author and the room's moderators.
    let in_room = ctx.state.with_untracked(|s| match &s.current {
        Some(Target::Room(room)) => Some(s.moderates(room)),
        _ => None,
    });
    let actions = match (line.id, in_room) {
        (Some(id), Some(moderator)) if !line.deleted => {
            Some(line_actions(ctx, id, line.mine, line.mine || moderator))
        }
        _ => None,
    };
    let quote = line.reply_to.clone().map(|quote| {
        let target = quote.id;
        let text = if quote.deleted {
            w.deleted.to_owned()
        } else {
            quote.text
        };
        view! {
            <button class="quote" data-testid="quote" title=w.quote_title
                on:click=move |ev| seek(ctx, target, &ev)>
                <span class="quote-from">{quote.from.to_string()}</span>
                <span class="quote-text">{text}</span>
            </button>
        }
    });
    let reactions = line.id.filter(|_| !line.reactions.is_empty()).map(|id| {
        let me = ctx.state.with_untracked(|s| s.me.clone());
        line.reactions
            .iter()
            .map(|reaction| {
                let emoji = reaction.emoji.to_string();
                let mine = me
                    .as_ref()
                    .is_some_and(|me| reaction.users.iter().any(|u| u.key() == me.key()));
                let who = reaction
                    .users
                    .iter()
                    .map(Nick::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let label = format!("{emoji} {}", reaction.users.len());
                let class = if mine { "reaction mine" } else { "reaction" };
                view! {
                    <button class=class data-testid="reaction" title=who aria-pressed=mine.to_string()
                        on:click=move |_| react(ctx, id, &emoji)>
                        {label}
                    </button>
                }
            })
            .collect_view()
    });
    let class = match (line.deleted, mentioned) {
        (true, _) => format!("{class} deleted"),
        (false, true) => format!("{class} mentioned"),
        (false, false) => class,
    };
    let data_id = line.id.map(|id| id.0.to_string());
    let thumbnail = line
        .image
        .clone()
        .zip(ctx.state.with_untracked(|s| match &s.current {
            Some(Target::Room(room)) => Some(room.clone()),
            _ => None,
        }));
    let thumbnail = thumbnail.map(|(image, room)| {
        // Shown at most 240 px wide or high, in proportion; the box keeps its size while the
        // image loads, so the list does not jump.
        // Whole pixels, computed in integers: an f64 attribute would pull float printing
        // into the wasm.
        let longest = image.width.max(image.height).max(240);
        let scaled = |side: u32| (u64::from(side) * 240).div_ceil(u64::from(longest)).max(1);
        let (width, height) = (scaled(image.width), scaled(image.height));
        let src = StoredValue::new((room, image.id));
        let src = move || src.with_value(|(room, id)| ctx.image_url(room, id));
        view! {
            <button class="thumb" data-testid="image" title=w.show_full_size
                style:width=format!("{width}px") style:height=format!("{height}px")
                on:click=move |_| ctx.lightbox.set(src())>
                {dynamic(move || src().map(|src| view! { <img src=src alt=w.image width=width height=height /> }).into_any())}
            </button>
        }
    });
    let header = starts_group.then(|| {
        let time = line.ts.map(local_time).unwrap_or_default();
        view! {
            <div class="line-header">
                <span class="sender">{line.from.to_string()}</span>
                <time class="time">{time}</time>
            </div>
        }
    });
    view! {
        <li class=class data-testid="line" data-state=state data-id=data_id>
            {header}
            {quote}
            {thumbnail}
            <div class="bubble">
                // A deleted message's text is the server's placeholder: said in our words.
                {if line.deleted { w.deleted.to_owned() } else { line.text.clone() }}
                {line.edited.then(|| view! { <span class="edited" data-testid="edited">{w.edited}</span> })}
            </div>
            {reactions.map(|r| view! { <div class="reactions">{r}</div> })}
            {actions}
            {detail.map(|d| view! { <div class="delivery">{d}</div> })}
            {retry.map(|client_id| view! {
                <button class="retry" data-testid="retry" on:click=move |_| {
                    if let Some(request) = ctx.state.try_update(|s| s.retry(&client_id)).flatten()
                        && ctx.status.get_untracked().is_open()
                    {
                        ctx.send(&request);
                    }
                }>{w.retry}</button>
            })}
        </li>
    }
}

/// The quick reactions offered on every line ("…" asks for any other emoji).
const QUICK_REACTIONS: [&str; 4] = ["👍", "❤️", "😂", "🎉"];

/// Reply, react, and (when allowed) edit and delete, for the stored line `id`.
fn line_actions(
    ctx: ChatCtx,
    id: shared::MessageId,
    editable: bool,
    deletable: bool,
) -> impl IntoView + use<> {
    let w = crate::i18n::words();
    let quick = QUICK_REACTIONS
        .iter()
        .map(|emoji| {
            view! {
                <button class="line-action" data-testid="quick-reaction" title=(w.react_with)(emoji)
                    on:click=move |_| react(ctx, id, emoji)>{*emoji}</button>
            }
        })
        .collect_view();
    let other = move |_| {
        let typed = web_sys::window().and_then(|w| {
            w.prompt_with_message(crate::i18n::words().react_prompt)
                .ok()
                .flatten()
        });
        if let Some(emoji) = typed.filter(|e| !e.trim().is_empty()) {
            react(ctx, id, emoji.trim());
        }
    };
    view! {
        <div class="line-actions">
            <button class="line-action" data-testid="reply-line" on:click=move |_| {
                ctx.state.update(|s| s.reply_to(id));
            }>{w.reply}</button>
            {quick}
            <button class="line-action" title=w.react_other data-testid="other-reaction"
                on:click=other>"…"</button>
            {editable.then(|| view! {
                <button class="line-action" data-testid="edit-line" on:click=move |_| {
                    if let Some(text) = ctx.state.try_update(|s| s.start_edit(id)).flatten() {
                        ctx.draft.set(text);
                    }
                }>{w.edit}</button>
            })}
            {deletable.then(|| view! {
                <button class="line-action mod-action" title=w.delete_title
                    data-testid="delete-line"
                    on:click=move |_| {
                        if let Some(request) = ctx.state.try_update(|s| s.delete(id)).flatten() {
                            ctx.send(&request);
                        }
                    }>{w.delete}</button>
            })}
        </div>
    }
}

/// Toggles our reaction `emoji` on line `id`.
fn react(ctx: ChatCtx, id: shared::MessageId, emoji: &str) {
    if let Some(request) = ctx.state.try_update(|s| s.react(id, emoji)).flatten() {
        ctx.send(&request);
    }
}

/// Scrolls to line `id` and highlights it; if it is not loaded, loads older pages until it
/// is (see [`ChatCtx::seeking`]).
fn seek(ctx: ChatCtx, id: shared::MessageId, click: &web_sys::MouseEvent) {
    use wasm_bindgen::JsCast as _;
    // The line is looked for in this page's list: another chat may share the document (the
    // browser tests mount several).
    let list = click
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("ol").ok().flatten());
    if list.is_some_and(|list| show_line(ctx, &list, id)) {
        return;
    }
    ctx.seeking.set(Some(id));
    match ctx.state.try_update(ChatState::load_older).flatten() {
        Some(request) => ctx.send(&request),
        None => ctx.seeking.set(None),
    }
}

/// Scrolls line `id` of `list` into view and marks it (until another is); false if it is not
/// there.
fn show_line(ctx: ChatCtx, list: &web_sys::Element, id: shared::MessageId) -> bool {
    let found = list
        .query_selector(&format!("li[data-id=\"{}\"]", id.0))
        .ok()
        .flatten();
    let Some(element) = found else {
        return false;
    };
    let options = web_sys::ScrollIntoViewOptions::new();
    options.set_block(web_sys::ScrollLogicalPosition::Center);
    element.scroll_into_view_with_scroll_into_view_options(&options);
    // Marked now, and kept by `line_view` when the lines are drawn again.
    ctx.sought.set(Some(id));
    let _ = element.class_list().add_1("sought");
    true
}

/// Hours and minutes in the browser's time zone, the way the page's language writes them
/// ("07:05 PM", "오후 07:05").
fn local_time(ts_ms: u64) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
    let options = js_sys::Object::new();
    for field in ["hour", "minute"] {
        let _ = js_sys::Reflect::set(&options, &field.into(), &"2-digit".into());
    }
    date.to_locale_time_string_with_options(crate::i18n::lang().tag(), &options)
        .into()
}
