//! The small pieces around the conversation: its header (title, leave, the drawer buttons;
//! a group's members), who is typing, the notices, and the connection's status line.

use leptos::prelude::*;
use shared::{ClientMsg, Nick};

use super::ctx::{ChatCtx, Drawer};
use crate::{
    chat_state::Target,
    erase::{dynamic, reactive, shown},
    i18n::words,
};

/// The conversation's title, a room's topic, and its leave button; a group's title is its
/// members (but this user), with all of them, online or not, under it, and leaving it is for
/// good.
#[component]
pub(super) fn ConversationHeader() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let w = words();
    let current = move || ctx.state.with(|s| s.current.clone());
    let group = move || {
        ctx.state.with(|s| match &s.current {
            Some(Target::Room(room)) if s.is_group(room) => Some(room.clone()),
            _ => None,
        })
    };
    // The current room's topic (issue #31), if it has one.
    let topic = move || {
        ctx.state.with(|s| match &s.current {
            Some(Target::Room(room)) => s.rules.get(room).and_then(|r| r.topic.clone()),
            _ => None,
        })
    };
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
                {reactive(move || ctx.state.with(|s| match &s.current {
                    Some(Target::Room(room)) if s.is_group(room) => format!("👥 {}", s.room_title(room)),
                    Some(Target::Room(room)) => format!("# {room}"),
                    Some(Target::Direct(peer)) => format!("@ {peer}"),
                    None => w.no_conversation.to_owned(),
                }))}
            </h1>
            {shown(move || group().is_some(), move || view! {
                <span class="typing" data-testid="group-members">
                    {reactive(move || ctx.state.with(|s| {
                        let members = group().and_then(|room| s.rules.get(&room)).map_or(&[][..], |r| &r.members[..]);
                        let names: Vec<&str> = members.iter().map(Nick::as_str).collect();
                        format!("{}: {}", (w.members)(names.len()), names.join(", "))
                    }))}
                </span>
            }.into_any())}
            {shown(move || topic().is_some(), move || view! {
                <span class="typing topic" data-testid="room-topic" title=topic>
                    {reactive(move || topic().unwrap_or_default())}
                </span>
            }.into_any())}
            {shown(move || matches!(current(), Some(Target::Room(_))), move || view! {
                <button class="leave" data-testid="leave" on:click=move |_| {
                    if let Some(room) = group() {
                        ctx.send(&ClientMsg::LeaveGroup { room });
                    } else if let Some(Target::Room(room)) = current() {
                        ctx.send(&ClientMsg::Leave { room });
                    }
                }>{reactive(move || if group().is_some() { w.leave_group } else { w.leave })}</button>
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
pub(super) fn TypingLine() -> impl IntoView {
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
pub(super) fn Notices() -> impl IntoView {
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

/// connecting / online / reconnecting in N s.
#[component]
pub(super) fn StatusLine() -> impl IntoView {
    let status = expect_context::<ChatCtx>().status;
    view! { <crate::components::StatusBadge status=status /> }
}
