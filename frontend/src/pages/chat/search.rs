//! Search (issue #30): the search box atop the sidebar, the results panel (beside the
//! conversation, in the members' place; over it on a narrow screen), and opening a result:
//! its conversation, scrolled to it by the message list (`lines`).

use leptos::{html, prelude::*};
use shared::{
    ClientMsg,
    search::{SearchCursor, SearchHit, SearchOrder, SearchQuery},
};
use wasm_bindgen::JsCast as _;

use super::{ctx::ChatCtx, message::local_time};
use crate::{
    chat_state::ChatState,
    erase::{dynamic, reactive, shown},
    i18n::words,
};

/// The search box: Enter (or its button) asks for the first page of results, in the order
/// last chosen in the panel, and opens the panel; the down arrow goes to the results.
#[component]
pub(super) fn SearchBox() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let w = words();
    let typed = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // (A blank query finds nothing; one too long cannot be typed: the box holds fewer
        // UTF-16 units than the limit's characters.)
        if let Ok(query) = typed.get_untracked().trim().parse::<SearchQuery>() {
            ask(ctx, query);
            // (On a narrow screen the box is in the room drawer: the results take its place.)
            ctx.drawer.set(None);
        }
    };
    view! {
        <form class="join-form search-form" role="search" on:submit=submit>
            <input type="search" id="search-input" data-testid="search-input" aria-label=w.search
                placeholder=w.search_placeholder title=w.search_hint maxlength="200"
                autocomplete="off" bind:value=typed on:keydown=step_through_hits />
            <button type="submit" data-testid="search-submit" aria-label=w.search title=w.search
                disabled=reactive(move || !ctx.status.get().is_open())>"🔍"</button>
        </form>
    }
}

/// Asks for the first page of `query`, in the order chosen; what was found before goes.
fn ask(ctx: ChatCtx, query: SearchQuery) {
    let search = ctx.search;
    let notices = ctx
        .state
        .try_update(|s| {
            s.search = None;
            notices_now(s)
        })
        .unwrap_or_default();
    search.notices.set(notices);
    search.more.set(None);
    search.query.set(Some(query.as_str().to_owned()));
    send(ctx, query, None);
}

/// How many notices there are, and the last one's length: enough to tell when one comes.
fn notices_now(s: &ChatState) -> (u32, u32) {
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (
        count(s.notices.len()),
        count(s.notices.last().map_or(0, String::len)),
    )
}

/// Sends a `search` for `query` from `cursor` in the order chosen, with the browser's time
/// zone (for `before:` and `after:`).
fn send(ctx: ChatCtx, query: SearchQuery, cursor: Option<SearchCursor>) {
    let order = if ctx.search.best.get_untracked() {
        SearchOrder::Best
    } else {
        SearchOrder::Newest
    };
    // Minutes west of UTC in JavaScript; the protocol counts them east.
    let utc_offset = -(js_sys::Date::new_0().get_timezone_offset() as i32);
    ctx.send(&ClientMsg::Search {
        query,
        order,
        cursor,
        utc_offset,
    });
}

/// Closes the results panel. The keyboard focus, if it was in it, goes back to the search
/// box, or, where that is hidden (in the closed room drawer of a narrow screen), to the
/// message list.
pub(super) fn close(ctx: ChatCtx) {
    let document = document();
    // Within the chat page the focus is in (a page may hold more than one: the tests').
    let active = document.active_element();
    let page = active
        .as_ref()
        .and_then(|a| a.closest("[data-testid=chat]").ok().flatten());
    let inside = page
        .as_ref()
        .and_then(|page| page.query_selector(".search-panel").ok().flatten())
        .zip(active)
        .is_some_and(|(panel, active)| panel.contains(Some(&*active)));
    ctx.search.query.set(None);
    if let Some(page) = page.filter(|_| inside) {
        focus_first(&page, &["#search-input", "[data-testid=messages]"]);
    }
}

/// Focuses the first of `selectors` within `page` that takes the focus (a hidden element does
/// not).
fn focus_first(page: &web_sys::Element, selectors: &[&str]) {
    let document = document();
    for selector in selectors {
        if let Ok(Some(element)) = page.query_selector(selector) {
            let element: web_sys::HtmlElement = element.unchecked_into();
            let _ = element.focus();
            if document.active_element().as_ref() == Some(&*element) {
                return;
            }
        }
    }
}

/// Arrow keys: from the search box (down) to the first result, and from result to result.
fn step_through_hits(ev: web_sys::KeyboardEvent) {
    let step = match ev.key().as_str() {
        "ArrowDown" => 1,
        "ArrowUp" => -1,
        _ => return,
    };
    let document = document();
    let Ok(hits) = document.query_selector_all(".search-hit") else {
        return;
    };
    let active = document.active_element();
    let at = (0..hits.length()).find(|&i| {
        hits.item(i)
            .as_ref()
            .map(|hit| hit.unchecked_ref::<web_sys::Element>())
            == active.as_ref()
    });
    let next = match at {
        Some(i) => i.checked_add_signed(step),
        None if step > 0 => Some(0),
        None => None,
    };
    if let Some(hit) = next.and_then(|i| hits.item(i)) {
        ev.prevent_default();
        let _ = hit.unchecked_into::<web_sys::HtmlElement>().focus();
    }
}

/// Where the panel is, the second of its `progress` (after the number of results): the first
/// page is out, the server refused the search, or results are in (all, or more to come).
const SEARCHING: usize = 0;
const FAILED: usize = 1;
const FOUND_ALL: usize = 2;
const FOUND_MORE: usize = 3;

/// The results panel while a search is open: what was found for it, newest first or best
/// first, "more" for the next page, a close button (and Escape, see `ChatPage`). A result is
/// a button that opens it; on a narrow screen, where the panel covers the conversation, the
/// panel closes then (the results come back by searching again).
#[component]
pub(super) fn SearchPanel() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    shown(
        move || ctx.search.query.with(Option::is_some),
        move || panel(ctx),
    )
}

fn panel(ctx: ChatCtx) -> AnyView {
    let (state, search) = (ctx.state, ctx.search);
    let w = words();
    let aside: NodeRef<html::Aside> = NodeRef::new();
    // How many results the search shown has, page after page, and where it is (another
    // query's are not its own: the answer to a next page of an earlier search can come after
    // a new one is asked). The results are drawn again when this changes, not whenever the
    // state does (every message). (A pair of numbers: a memo of a type the app has already,
    // no new signal code in the wasm.)
    let progress = Memo::new(move |_| {
        let asked = search.notices.get();
        search.query.with(|query| {
            let Some(query) = query else {
                return (0, SEARCHING);
            };
            state.with(
                |s| match s.search.as_ref().filter(|f| f.query.as_str() == query) {
                    Some(found) if found.next.is_some() => (found.hits.len(), FOUND_MORE),
                    Some(found) => (found.hits.len(), FOUND_ALL),
                    None if notices_now(s) != asked => (0, FAILED),
                    None => (0, SEARCHING),
                },
            )
        })
    });
    // A next page is out (as many results as when it was asked for).
    let more_out = Memo::new(move |_| {
        let count = u32::try_from(progress.get().0).ok();
        search.more.get().is_some() && search.more.get() == count
    });
    let status = move || match progress.get() {
        (_, SEARCHING) => w.searching.to_owned(),
        // (With what a query may hold: the refusal is usually of a filter.)
        (_, FAILED) => format!(
            "{} {}",
            (w.search_failed)(
                &state.with_untracked(|s| s.notices.last().cloned().unwrap_or_default())
            ),
            w.search_hint
        ),
        (0, _) => search
            .query
            .with_untracked(|query| (w.no_results)(query.as_deref().unwrap_or_default())),
        (count, progress) => (w.search_found)(count, progress == FOUND_MORE),
    };
    // The search shown, as typed (it was a query when asked).
    let asked = move || search.query.get_untracked().and_then(|q| q.parse().ok());
    let more = move |_| {
        let next = state.with_untracked(|s| {
            s.search
                .as_ref()
                .and_then(|f| Some((f.next.clone()?, f.hits.len())))
        });
        if let (Some(query), Some((cursor, count))) = (asked(), next) {
            search.more.set(u32::try_from(count).ok());
            send(ctx, query, Some(cursor));
        }
    };
    let reorder = move |_| {
        search.best.update(|best| *best = !*best);
        if let Some(query) = asked() {
            ask(ctx, query);
        }
    };
    let open = move |hit: &SearchHit| {
        if !ctx.status.get_untracked().is_open() {
            return;
        }
        let requests = state.try_update(|s| s.open_hit(hit)).unwrap_or_default();
        for request in &requests {
            ctx.send(request);
        }
        // Covering the conversation (a narrow screen): out of its way, the list focused.
        let covering = aside.get_untracked().is_some_and(|aside| {
            window()
                .get_computed_style(&aside)
                .ok()
                .flatten()
                .and_then(|style| style.get_property_value("position").ok())
                .is_some_and(|position| position == "absolute")
        });
        if covering {
            search.query.set(None);
            let page = aside
                .get_untracked()
                .and_then(|aside| aside.closest("[data-testid=chat]").ok().flatten());
            if let Some(page) = page {
                focus_first(&page, &["[data-testid=messages]"]);
            }
        }
    };
    // Drawn again when the results change: the hits are read untracked.
    let hits = move || {
        if progress.get().0 == 0 {
            return ().into_any();
        }
        state
            .with_untracked(|s| {
                s.search.as_ref().map(|found| {
                    found
                        .hits
                        .iter()
                        .map(|hit| hit_view(s, hit, open))
                        .collect_view()
                })
            })
            .into_any()
    };
    view! {
        <aside class="search-panel" data-testid="search-results" aria-label=w.search_results
            node_ref=aside>
            <header class="search-header">
                <h2>{w.search_results}</h2>
                // The order: newest first, or (pressed) the best matches first.
                <button class="search-order" data-testid="search-order" title=w.search_order
                    aria-pressed=reactive(move || search.best.get().to_string()) on:click=reorder>
                    {w.best_match}
                </button>
                <button class="search-close" data-testid="search-close" aria-label=w.close_search
                    title=w.close_search on:click=move |_| close(ctx)>"✕"</button>
            </header>
            <div class="search-scroll">
                <p class="search-status" role="status" data-testid="search-status">
                    {reactive(status)}
                </p>
                <ul class="search-hits" on:keydown=step_through_hits>{dynamic(hits)}</ul>
                {shown(move || progress.get().1 == FOUND_MORE, move || view! {
                    <button class="search-more" data-testid="search-more" on:click=more
                        disabled=reactive(move || more_out.get())>
                        {reactive(move || if more_out.get() { w.loading } else { w.more_results })}
                    </button>
                }.into_any())}
            </div>
        </aside>
    }
    .into_any()
}

/// One result: where (a room, a group, the person of a direct conversation), who and when,
/// and its text with the words found marked.
fn hit_view(
    s: &ChatState,
    hit: &SearchHit,
    open: impl Fn(&SearchHit) + Copy + Send + Sync + 'static,
) -> AnyView {
    let w = words();
    let place = match (&hit.room, &hit.to) {
        (Some(room), _) if s.is_group(room) => format!("👥 {}", s.room_title(room)),
        (Some(room), _) => format!("# {room}"),
        // The conversation is with the other of the two.
        (None, Some(to)) if s.me.as_ref().is_some_and(|me| me.key() == hit.from.key()) => {
            format!("@ {to}")
        }
        (None, _) => format!("@ {}", hit.from),
    };
    let text = marked(&hit.text, &hit.marks)
        .into_iter()
        .map(|(part, mark)| {
            let part = part.to_owned();
            if mark {
                view! { <mark>{part}</mark> }.into_any()
            } else {
                part.into_any()
            }
        })
        .collect_view();
    let image = hit.image.then(|| format!("🖼 {}", w.image));
    let time = local_time(hit.ts, true);
    let from = hit.from.to_string();
    let hit = hit.clone();
    view! {
        <li>
            <button class="search-hit" data-testid="search-hit" on:click=move |_| open(&hit)>
                <span class="hit-place">{place}</span>
                <span class="line-header">
                    <span class="sender">{from}</span>
                    <time class="time">{time}</time>
                </span>
                <span class="hit-text">{text}{image.map(|i| view! { <span class="time">" " {i}</span> })}</span>
            </button>
        </li>
    }
    .into_any()
}

/// Characters of a long text shown before the first word found.
const LEAD_CHARS: usize = 40;
/// Characters of a long text shown in all.
const EXCERPT_CHARS: usize = 240;

/// `text` in parts, each marked or not, as `marks` (byte ranges, in order) say; a long text
/// cut to an excerpt around its first mark ("…" where cut). Marks are kept within the text
/// and after each other; one that does not fall on characters' boundaries is left out.
fn marked<'a>(text: &'a str, marks: &[[u32; 2]]) -> Vec<(&'a str, bool)> {
    let byte = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    // The excerpt: from a little before the first mark, for so many characters.
    let mut first = marks.first().map_or(0, |m| byte(m[0]).min(text.len()));
    while !text.is_char_boundary(first) {
        first -= 1;
    }
    let from = if text.chars().count() <= EXCERPT_CHARS {
        0
    } else {
        text[..first]
            .char_indices()
            .rev()
            .nth(LEAD_CHARS - 1)
            .map_or(0, |(i, _)| i)
    };
    let to = text[from..]
        .char_indices()
        .nth(EXCERPT_CHARS)
        .map_or(text.len(), |(i, _)| from + i);
    let mut parts = Vec::new();
    if from > 0 {
        parts.push(("…", false));
    }
    let mut at = from;
    for &[start, end] in marks {
        let (start, end) = (byte(start).max(at), byte(end).min(to));
        if start >= end || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        if start > at {
            parts.push((&text[at..start], false));
        }
        parts.push((&text[start..end], true));
        at = end;
    }
    if at < to {
        parts.push((&text[at..to], false));
    }
    if to < text.len() {
        parts.push(("…", false));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_found_are_marked_on_character_boundaries() {
        // "내일회의는 3시": 회의 is bytes 6..12.
        assert_eq!(
            marked("내일회의는 3시", &[[6, 12]]),
            [("내일", false), ("회의", true), ("는 3시", false)]
        );
        assert_eq!(
            marked("config and conf", &[[0, 6], [11, 15]]),
            [("config", true), (" and ", false), ("conf", true)]
        );
        // Not on a boundary (inside 회): left out; overlapping the last, or past the end:
        // cut.
        assert_eq!(
            marked("회의 ok", &[[1, 3], [0, 3], [2, 6], [7, 99]]),
            [("회", true), ("의", true), (" ", false), ("ok", true)]
        );
        assert_eq!(marked("plain", &[]), [("plain", false)]);
    }

    #[test]
    fn a_long_text_is_cut_around_its_first_mark() {
        let text = format!("{}회의{}", "가".repeat(300), "나".repeat(300));
        let start = u32::try_from("가".len() * 300).unwrap();
        let parts = marked(&text, &[[start, start + 6]]);
        assert_eq!(parts[0], ("…", false));
        assert_eq!(parts[1], (&*"가".repeat(LEAD_CHARS), false));
        assert_eq!(parts[2], ("회의", true));
        assert_eq!(parts[3].0.chars().count(), EXCERPT_CHARS - LEAD_CHARS - 2);
        assert_eq!(parts[4], ("…", false));
        // Near the start: from the start.
        let text = format!("회의{}", "나".repeat(300));
        let parts = marked(&text, &[[0, 6]]);
        assert_eq!(parts[0], ("회의", true));
        assert_eq!(parts.last(), Some(&("…", false)));
    }
}
