//! One line of the message list: its sender and time, quote, text, image, reactions and
//! actions (reply, react, edit, delete).

use leptos::prelude::*;
use shared::Nick;

use super::{ctx::ChatCtx, formatted::formatted};
use crate::{
    chat_state::{Delivery, Line, Target},
    erase::dynamic,
};

/// Lines from one sender closer together than this share one header.
const GROUP_WITHIN_MS: u64 = 5 * 60 * 1000;

/// One drawn line with everything its DOM depends on: when this is equal, the line's DOM is
/// left alone.
#[derive(Clone, PartialEq)]
pub(super) struct Row {
    pub(super) key: u64,
    pub(super) line: Line,
    /// It starts a run of one sender's lines (shows the sender and time).
    pub(super) starts_group: bool,
    /// The "new messages" divider goes above it.
    pub(super) first_new: bool,
    /// It mentions us.
    pub(super) mentioned: bool,
    /// It was the target of the last followed quote.
    pub(super) sought: bool,
    /// It is the search result just opened (highlighted for a moment).
    pub(super) jumped: bool,
    /// Who has read up to it, said ("Seen", "Seen by Bob, 민수": direct and group
    /// conversations).
    pub(super) seen: Option<String>,
    /// Its actions: `None` for none (not a stored room line), else whether we moderate the
    /// room (and so may delete it).
    pub(super) moderator: Option<bool>,
}

/// Whether `line` continues `previous`'s run (same sender, close in time): no header then.
pub(super) fn same_group(previous: &Line, line: &Line) -> bool {
    previous.from == line.from
        && match (previous.ts, line.ts) {
            (Some(a), Some(b)) => b.saturating_sub(a) < GROUP_WITHIN_MS,
            _ => true,
        }
}

/// One line; its text is drawn formatted, in DOM nodes, never as HTML (see `formatted`).
pub(super) fn line_view(ctx: ChatCtx, row: &Row) -> AnyView {
    let w = crate::i18n::words();
    let line = &row.line;
    let (state, detail) = match &line.delivery {
        Delivery::Pending => ("pending", Some(w.sending.to_owned())),
        Delivery::Sent => ("sent", None),
        Delivery::Failed(reason) => ("failed", Some((w.not_sent)(reason))),
    };
    let class = format!(
        "line {} {}{}{}{}",
        if line.mine { "own" } else { "other" },
        state,
        if row.starts_group { " group-start" } else { "" },
        if row.sought { " sought" } else { "" },
        if row.jumped { " jumped" } else { "" }
    );
    let retry =
        (line.mine && matches!(line.delivery, Delivery::Failed(_))).then(|| line.client_id.clone());
    // Stored room lines get actions: reply and react for all, edit for the author, delete
    // for the author and the room's moderators.
    let actions = match (line.id, row.moderator) {
        (Some(id), Some(moderator)) => {
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
    let class = match (line.deleted, row.mentioned) {
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
    let file = super::attachment::card(ctx, line);
    let header = row.starts_group.then(|| {
        let time = line.ts.map(|ts| local_time(ts, false)).unwrap_or_default();
        view! {
            <div class="line-header">
                <span class="sender">{line.from.to_string()}</span>
                <time class="time">{time}</time>
            </div>
        }
    });
    let preview = line.preview.clone().map(|p| {
        let room = ctx.state.with_untracked(|s| match &s.current {
            Some(Target::Room(room)) => Some(room.clone()),
            _ => None,
        });
        super::preview::preview_card(ctx, room, *p)
    });
    // A plain element, not role="separator": it is inside a list item.
    let divider = row.first_new.then(|| {
        view! {
            <div class="new-divider" data-testid="new-divider">{w.new_messages}</div>
        }
    });
    view! {
        <li class=class data-testid="line" data-state=state data-id=data_id data-key=row.key.to_string()>
            {divider}
            {header}
            {quote}
            {thumbnail}
            {file}
            <div class="bubble">
                // A deleted message's text is the server's placeholder: said in our words.
                {if line.deleted {
                    w.deleted.into_any()
                } else {
                    // "/me waves" is an action, in italics: "ann waves" (see `chat_state::commands`).
                    let (class, text) = match line.text.strip_prefix("/me ") {
                        Some(action) => ("text action", format!("{} {action}", line.from)),
                        None => ("text", line.text.clone()),
                    };
                    view! { <div class=class use:formatted=text></div> }.into_any()
                }}
                {line.edited.then(|| view! { <span class="edited" data-testid="edited">{w.edited}</span> })}
            </div>
            {preview}
            {reactions.map(|r| view! { <div class="reactions">{r}</div> })}
            {actions}
            {detail.map(|d| view! { <div class="delivery">{d}</div> })}
            {row.seen.clone().map(|s| view! { <div class="delivery" data-testid="seen">{s}</div> })}
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
    .into_any()
}

/// The quick reactions offered on every line ("…" opens the emoji picker for any other).
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
        ctx.picker_for.set(Some(id));
        ctx.picker_open.set(true);
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
pub(super) fn react(ctx: ChatCtx, id: shared::MessageId, emoji: &str) {
    if let Some(request) = ctx.state.try_update(|s| s.react(id, emoji)).flatten() {
        ctx.send(&request);
    }
}

/// Scrolls to line `id` and highlights it; if it is not loaded, loads older pages until it
/// is (see [`ChatCtx::seeking`] and the list's seeking effect).
fn seek(ctx: ChatCtx, id: shared::MessageId, click: &web_sys::MouseEvent) {
    click.prevent_default();
    ctx.seeking.set(Some(id));
}

/// Hours and minutes in the browser's time zone, the way the page's language writes them
/// ("07:05 PM", "오후 07:05"); with `day`, the day before them ("Dec 5, 07:05 PM",
/// "12월 5일 오후 07:05", and the year when it is not this one).
pub(super) fn local_time(ts_ms: u64, day: bool) -> String {
    let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64));
    let options = js_sys::Object::new();
    let set = |field: &str, value: &str| {
        let _ = js_sys::Reflect::set(&options, &field.into(), &value.into());
    };
    set("hour", "2-digit");
    set("minute", "2-digit");
    let lang = crate::i18n::lang().tag();
    if !day {
        return date
            .to_locale_time_string_with_options(lang, &options)
            .into();
    }
    set("month", "short");
    set("day", "numeric");
    if date.get_full_year() != js_sys::Date::new_0().get_full_year() {
        set("year", "numeric");
    }
    date.to_locale_string(lang, &options).into()
}
