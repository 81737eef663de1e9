//! The members panel: the current room's member count, its list loaded page by page as it
//! scrolls and drawn only where it is in view, a search by nickname prefix, invitations to a
//! private room and moderation.
//!
//! A room may have 10,000 members: the panel never draws them all. Rows have a fixed height,
//! so a row's place is its index times that height; the list is a box as tall as every
//! loaded row, holding only the rows in view (and a few around them). When those come near
//! the end of what is loaded, the next page is asked for (`members` with `after`).

use leptos::{html, prelude::*};
use shared::{ClientMsg, Nick, RoomName};
use wasm_bindgen::{JsCast as _, closure::Closure};

use super::ctx::ChatCtx;
use crate::{
    chat_state::{ChatState, RoomView, Target},
    components::note,
    erase::{keyed, reactive, shown},
    i18n::words,
};

/// The height of a member row (px) until the stylesheet's `--member-row` is read: the
/// stylesheet decides (on a phone every button is a 44 px touch target, so rows are taller).
const ROW_PX: u32 = 32;
/// The height of a row with moderation buttons under the name (px), until the stylesheet's
/// `--member-row-mod` is read.
const ROW_MOD_PX: u32 = 56;
/// Rows drawn above and below the visible ones, so a quick scroll shows no gap.
const OVERSCAN: usize = 8;
/// The next page is asked for when the drawn rows come this close to the end of the loaded.
const LOAD_AHEAD: usize = 20;
/// The list's height until it is first measured (px): about a phone's.
const FIRST_HEIGHT_PX: u32 = 640;

/// A count of pixels or rows as an index (a u32 always fits a usize on wasm32 and up).
fn index_of(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The rows in view of the list being shown (the room's members, or a search's matches).
#[derive(Debug, Clone, Default, PartialEq)]
struct Window {
    /// How many rows are loaded: the list's height in rows.
    loaded: usize,
    /// The drawn rows, with their index in the list.
    rows: Vec<(usize, Nick)>,
    /// More rows can be asked for now (the server has more, no page is out).
    can_load: bool,
    /// A page is out.
    loading: bool,
    /// A search is shown.
    searching: bool,
}

impl Window {
    /// The rows `first..first + count` of `view`'s shown list.
    fn of(view: &RoomView, first: usize, count: usize) -> Self {
        match &view.member_search {
            Some(search) => Self {
                loaded: search.found.len(),
                rows: search
                    .found
                    .iter()
                    .cloned()
                    .enumerate()
                    .skip(first)
                    .take(count)
                    .collect(),
                can_load: search.more && !search.loading,
                loading: search.loading,
                searching: true,
            },
            None => Self {
                loaded: view.members.len(),
                rows: view
                    .members
                    .values()
                    .cloned()
                    .enumerate()
                    .skip(first)
                    .take(count)
                    .collect(),
                can_load: view.members_upto.is_some() && !view.members_loading,
                loading: view.members_loading,
                searching: false,
            },
        }
    }
}

/// Members of the current room; click one to message them directly.
#[component]
pub(super) fn MembersPanel() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let state = ctx.state;
    let current_room = move || {
        state.with(|s| match &s.current {
            Some(Target::Room(room)) => Some(room.clone()),
            _ => None,
        })
    };
    let is_me =
        move |nick: &Nick| state.with(|s| s.me.as_ref().is_some_and(|me| me.key() == nick.key()));
    let owns_private = move || {
        state.with(|s| {
            current_room()
                .is_some_and(|room| s.owns(&room) && s.rules.get(&room).is_some_and(|r| r.private))
        })
    };
    let moderates = move || state.with(|s| current_room().is_some_and(|room| s.moderates(&room)));
    // The row heights (plain, with moderation buttons) as the stylesheet gives them.
    let row_heights = RwSignal::new((ROW_PX, ROW_MOD_PX));
    let row_px = move || {
        let (plain, moderated) = row_heights.get();
        if moderates() { moderated } else { plain }
    };

    let scroller: NodeRef<html::Div> = NodeRef::new();
    // Whole pixels: no float reaches a `Display` in the app (its formatting code weighs KBs).
    let scroll_top = RwSignal::new(0_u32);
    let height = RwSignal::new(FIRST_HEIGHT_PX);
    let measure = move || {
        let Some(el) = scroller.get_untracked() else {
            return;
        };
        scroll_top.set(u32::try_from(el.scroll_top()).unwrap_or(0));
        if let Ok(seen @ 1..) = u32::try_from(el.client_height()) {
            height.set(seen);
        }
        if let Ok(Some(css)) = window().get_computed_style(&el) {
            let px = |name: &str, fallback: u32| {
                css.get_property_value(name)
                    .ok()
                    .and_then(|v| v.trim().strip_suffix("px")?.parse::<u32>().ok())
                    .filter(|v| *v > 0)
                    .unwrap_or(fallback)
            };
            let heights = (
                px("--member-row", ROW_PX),
                px("--member-row-mod", ROW_MOD_PX),
            );
            if row_heights.get_untracked() != heights {
                row_heights.set(heights);
            }
        }
    };
    // Measured once drawn and again whenever the panel's size changes: the height in view and
    // the row heights change with the layout (a page narrowed to a phone's turns the panel
    // into a drawer with taller rows). A ResizeObserver rather than the window's `resize`:
    // the layout follows the page area's width, which need not be the window's.
    let observer = StoredValue::new_local(None::<(web_sys::ResizeObserver, Closure<dyn FnMut()>)>);
    Effect::new(move |_| {
        let Some(el) = scroller.get() else {
            return;
        };
        let changed = Closure::<dyn FnMut()>::new(measure);
        if let Ok(watch) = web_sys::ResizeObserver::new(changed.as_ref().unchecked_ref()) {
            // Reported once at once, then on every change.
            watch.observe(&el);
            observer.update_value(|o| {
                if let Some((old, _)) = o.replace((watch, changed)) {
                    old.disconnect();
                }
            });
        } else {
            measure();
        }
    });
    on_cleanup(move || {
        observer.update_value(|o| {
            if let Some((watch, _)) = o.take() {
                watch.disconnect();
            }
        });
    });
    let window = Memo::new(move |_| {
        // Never 0: the stylesheet's heights are read only when positive.
        let row = row_px().max(1);
        let (first, count) = (
            index_of(scroll_top.get() / row).saturating_sub(OVERSCAN),
            index_of(height.get().div_ceil(row)) + 2 * OVERSCAN,
        );
        state.with(|s| match &s.current {
            Some(Target::Room(room)) => s
                .rooms
                .get(room)
                .map(|view| Window::of(view, first, count))
                .unwrap_or_default(),
            _ => Window::default(),
        })
    });
    let count = move || {
        state.with(|s| match &s.current {
            Some(Target::Room(room)) => s.rooms.get(room).map_or(0, |v| v.member_count),
            _ => 0,
        })
    };
    // Near the end of what is loaded: the next page (one at a time: `can_load` turns false
    // while it is out, and its arrival runs this again, so a tall panel fills up).
    Effect::new(move |_| {
        let w = window.get();
        let drawn_end = w.rows.last().map_or(0, |(i, _)| i + 1);
        if w.can_load
            && drawn_end + LOAD_AHEAD >= w.loaded
            && let Some(request) = state.try_update(ChatState::load_more_members).flatten()
        {
            ctx.send(&request);
        }
    });
    // The search is the room's (kept in the state, so each room keeps its own).
    let search = Memo::new(move |_| {
        state.with(|s| match &s.current {
            Some(Target::Room(room)) => s
                .rooms
                .get(room)
                .and_then(|v| v.member_search.as_ref())
                .map(|search| search.prefix.clone()),
            _ => None,
        })
    });
    // Another room or another search starts at the top.
    Effect::new(move |_| {
        let _ = (current_room(), search.get());
        scroll_top.set(0);
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(0);
        }
    });
    let on_search = move |ev: leptos::ev::Event| {
        let prefix = event_target_value(&ev);
        if let Some(request) = state.try_update(|s| s.search_members(&prefix)).flatten() {
            ctx.send(&request);
        }
    };

    let invitee = RwSignal::new(String::new());
    let invite_problem = RwSignal::new(None::<String>);
    let invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(room) = current_room() else {
            return;
        };
        match invitee.get_untracked().trim().parse::<Nick>() {
            Ok(user) => {
                invite_problem.set(None);
                ctx.send(&ClientMsg::Invite { room, user });
                invitee.set(String::new());
            }
            Err(err) => invite_problem.set(Some((words().invalid)(&err))),
        }
    };
    let moderate = move |make: fn(RoomName, Nick) -> ClientMsg, user: Nick| {
        if let Some(room) = current_room() {
            ctx.send(&make(room, user));
        }
    };
    let row = move |index: usize, member: Nick| {
        let w = words();
        // Reactive: a row is kept (same index, same member) across a change of row height —
        // from a room one moderates to one one does not — and must move and shrink with it,
        // or a stale tall row covers the next one.
        // Set through the element's style object (`style:`), not its `style` attribute: the
        // served app's Content-Security-Policy (`style-src 'self'`) ignores inline style
        // attributes, and every row was drawn at the top.
        let top = reactive(move || format!("{}px", index.saturating_mul(index_of(row_px()))));
        let row_height = reactive(move || format!("{}px", row_px()));
        let content = if is_me(&member) {
            view! { <span class="member me">{member.to_string()} {w.you}</span> }.into_any()
        } else {
            let peer = member.clone();
            view! {
                <button class="member" title=w.direct_title
                    on:click=move |_| state.update(|s| s.select(Target::Direct(peer.clone())))>
                    {member.to_string()}
                </button>
                {shown(moderates, move || MOD_ACTIONS.iter().map(|&(says, id, make)| {
                    let [label, title] = says(w);
                    let who = member.clone();
                    view! {
                        <button class="mod-action" title=title
                            data-testid=format!("{id}-{who}")
                            on:click=move |_| moderate(make, who.clone())>
                            {label}
                        </button>
                    }
                }).collect_view().into_any())}
            }
            .into_any()
        };
        let set_size = reactive(move || count().to_string());
        view! {
            <li style:top=top style:height=row_height aria-posinset=index + 1 aria-setsize=set_size>{content}</li>
        }
        .into_any()
    };
    let w = words();
    view! {
        <aside class="members" aria-label=w.show_members>
            {shown(owns_private, move || view! {
                <form class="join-form" on:submit=invite data-testid="invite-form">
                    <input type="text" placeholder=w.nickname aria-label=w.invite_label
                        maxlength="32" bind:value=invitee data-testid="invite-input" />
                    <button type="submit" data-testid="invite-submit">{w.invite}</button>
                </form>
                {note(move || invite_problem.get(), "problem small", None, None)}
            }.into_any())}
            <h2 data-testid="member-count">{reactive(move || (w.members)(count() as usize))}</h2>
            <input type="search" class="member-search" placeholder=w.search_members
                aria-label=w.search_members maxlength="32" prop:value=reactive(move || search.get().unwrap_or_default())
                on:input=on_search data-testid="member-search" />
            <div class="member-scroll" node_ref=scroller on:scroll=move |_| measure()
                data-testid="member-scroll">
                <ul class="member-list" data-testid="members"
                    style:height=reactive(move || format!("{}px",
                        window.with(|w| w.loaded).saturating_mul(index_of(row_px()))))>
                    {keyed(move || window.get().rows, move |(i, m)| row(i, m))}
                </ul>
                {shown(move || window.with(|w| w.loading), move || view! {
                    <p class="member-note">{w.loading_members}</p>
                }.into_any())}
                {shown(move || window.with(|w| w.searching && !w.loading && w.loaded == 0), move || view! {
                    <p class="member-note" data-testid="no-member-found">{w.no_member_found}</p>
                }.into_any())}
            </div>
        </aside>
    }
}

/// The moderation buttons beside a member: label and tooltip, test id prefix, and the request.
type ModAction = (
    fn(&'static crate::i18n::Words) -> [&'static str; 2],
    &'static str,
    fn(RoomName, Nick) -> ClientMsg,
);
const MOD_ACTIONS: [ModAction; 3] = [
    (
        |w| [w.kick, w.kick_title],
        "kick",
        |room, user| ClientMsg::Kick { room, user },
    ),
    (
        |w| [w.mute, w.mute_title],
        "mute",
        |room, user| ClientMsg::Mute {
            room,
            user,
            for_secs: 600,
        },
    ),
    (
        |w| [w.ban, w.ban_title],
        "ban",
        |room, user| ClientMsg::Ban { room, user },
    ),
];
