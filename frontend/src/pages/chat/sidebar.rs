//! The sidebar: the search box (see `search`), who the user is (and renaming), the rooms joined with their unread counts,
//! "join or create", invitations, the other rooms, and the conversations with people: "new
//! conversation" (names typed, suggested from the people the page knows), the groups (named
//! by their members) and the direct conversations.

use leptos::prelude::*;
use shared::{ClientMsg, Nick, RoomName};

use super::{
    alerts::{NotificationSwitch, PushSwitch},
    ctx::ChatCtx,
    header::StatusLine,
    local_store::draft_of,
    search::SearchBox,
};
use crate::{
    chat_state::{ChatState, Target},
    components::note,
    erase::{Reactive, dynamic, keyed, reactive, shown},
    i18n::words,
};

/// Rooms joined, other rooms, direct conversations, and "join or create".
#[component]
pub(super) fn RoomSidebar() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let state = ctx.state;
    let w = words();
    let new_room = RwSignal::new(String::new());
    let private = RwSignal::new(false);
    let room_problem = RwSignal::new(None::<String>);
    let renaming = RwSignal::new(false);
    let new_nick = RwSignal::new(String::new());
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match new_nick.get_untracked().trim().parse::<Nick>() {
            Ok(nick) => {
                room_problem.set(None);
                ctx.send(&ClientMsg::Rename { nick });
                renaming.set(false);
            }
            Err(err) => room_problem.set(Some((words().invalid)(&err))),
        }
    };
    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match new_room.get_untracked().trim().parse::<RoomName>() {
            Ok(room) => {
                room_problem.set(None);
                if private.get_untracked() {
                    // A private room is created (owned by this user), never joined by name.
                    ctx.send(&ClientMsg::CreateRoom {
                        room: room.clone(),
                        private: true,
                        max_members: None,
                    });
                } else {
                    ctx.send(&ClientMsg::Join {
                        room: room.clone(),
                        since: None,
                        epoch: None,
                    });
                }
                state.update(|s| s.select(Target::Room(room)));
                new_room.set(String::new());
                private.set(false);
            }
            Err(err) => room_problem.set(Some((words().invalid)(&err))),
        }
    };
    let people = RwSignal::new(String::new());
    let people_problem = RwSignal::new(None::<String>);
    let start = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = people.get_untracked();
        match state.try_update(|s| s.start_conversation(&typed)) {
            Some(Ok(request)) => {
                if let Some(request) = request {
                    ctx.send(&request);
                }
                people.set(String::new());
                people_problem.set(None);
            }
            Some(Err(problem)) => people_problem.set(Some(problem)),
            None => {}
        }
    };
    let suggestions = move || people.with(|typed| state.with(|s| s.people_matching(typed)));
    // Keys only: a row reads what it shows (counts, who invited) itself. Groups are listed
    // with the direct conversations.
    let joined = move || {
        state.with(|s| {
            s.rooms
                .keys()
                .filter(|room| !s.is_group(room))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let groups = move || state.with(ChatState::groups);
    let others = move || {
        state.with(|s| {
            s.directory
                .iter()
                .filter(|info| !s.rooms.contains_key(&info.name))
                .map(|info| info.name.clone())
                .collect::<Vec<_>>()
        })
    };
    let invitations = move || state.with(|s| s.invitations.keys().cloned().collect::<Vec<_>>());
    let directs = move || {
        state.with(|s| {
            s.directs
                .values()
                .map(|(peer, _)| peer.clone())
                .collect::<Vec<_>>()
        })
    };
    let join_room = move |room: RoomName| {
        ctx.send(&ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        });
        state.update(|s| s.select(Target::Room(room)));
    };
    view! {
        <nav class="sidebar" aria-label=w.rooms>
            <SearchBox />
            <div class="me">
                {dynamic(move || if renaming.get() {
                    view! {
                        <form class="join-form" on:submit=rename>
                            <input type="text" aria-label=w.new_nickname
                                data-testid="rename-input" maxlength="32" bind:value=new_nick />
                            <button type="submit" data-testid="rename-submit">{w.ok}</button>
                        </form>
                    }.into_any()
                } else {
                    view! {
                        <button class="me-name" title=w.change_nickname data-testid="me"
                            disabled=ctx.logged_in
                            on:click=move |_| {
                                new_nick.set(state.with_untracked(|s| s.me.as_ref().map(Nick::to_string).unwrap_or_default()));
                                renaming.set(true);
                            }>
                            {reactive(move || state.with(|s| s.me.as_ref().map(Nick::to_string).unwrap_or_default()))}
                        </button>
                    }.into_any()
                })}
                <StatusLine />
                <NotificationSwitch />
                <PushSwitch />
                // "Seen": off, the server shows my positions to nobody and theirs to me.
                <label class="private-toggle">
                    <input type="checkbox" data-testid="share-reads"
                        prop:checked=reactive(move || state.with(|s| s.sharing == Some(true)))
                        on:change=move |ev| {
                            ctx.send(&ClientMsg::ShareReads { share: event_target_checked(&ev) });
                        } />
                    {w.share_reads}
                </label>
            </div>
            <h2>{w.rooms}</h2>
            <ul class="room-list" data-testid="rooms">
                {keyed(joined, |room| view! { <RoomEntry room /> }.into_any())}
            </ul>
            <form class="join-form" on:submit=join>
                <input type="text" placeholder=w.join_placeholder aria-label=w.room_name bind:value=new_room data-testid="join-input" />
                <button type="submit" aria-label=w.join data-testid="join-submit">"+"</button>
            </form>
            <label class="private-toggle">
                <input type="checkbox" data-testid="private-toggle" bind:checked=private />
                {w.private_toggle}
            </label>
            {shown(move || !invitations().is_empty(), move || view! {
                <h2>{w.invitations}</h2>
                <ul class="room-list" data-testid="invitations">
                    {keyed(invitations, move |room: RoomName| {
                        let by = state.with_untracked(|s| s.invitations.get(&room).map(Nick::to_string).unwrap_or_default());
                        view! {
                            <li>
                                <button class="room other" data-testid=format!("accept-{room}")
                                    title=(w.invited_by)(&by)
                                    on:click={
                                        let room = room.clone();
                                        move |_| join_room(room.clone())
                                    }>
                                    <span class="room-name">"🔒 " {room.to_string()}</span>
                                    <span class="count">{w.accept}</span>
                                </button>
                            </li>
                        }.into_any()
                    })}
                </ul>
            }.into_any())}
            {note(move || room_problem.get(), "problem small", None, None)}
            {shown(move || !others().is_empty(), move || view! {
                <h2>{w.other_rooms}</h2>
                <ul class="room-list">
                    {keyed(others, move |room: RoomName| {
                        let members = {
                            let room = room.clone();
                            reactive(move || state.with(|s| {
                                s.directory.iter().find(|info| info.name == room).map_or(0, |info| info.members).to_string()
                            }))
                        };
                        view! {
                            <li>
                                <button class="room other" on:click={
                                    let room = room.clone();
                                    move |_| join_room(room.clone())
                                }>
                                    <span class="room-name">"# " {room.to_string()}</span>
                                    <span class="count">{members}</span>
                                </button>
                            </li>
                        }.into_any()
                    })}
                </ul>
            }.into_any())}
            <h2>{w.direct_messages}</h2>
            <form class="join-form" on:submit=start>
                <input type="text" placeholder=w.people_placeholder aria-label=w.new_conversation
                    title=w.new_conversation bind:value=people data-testid="people-input" />
                <button type="submit" aria-label=w.new_conversation title=w.new_conversation
                    data-testid="people-submit">"+"</button>
            </form>
            // While a name is being typed (not right after a comma).
            {shown(move || people.with(|p| !p.rsplit(',').next().unwrap_or_default().trim().is_empty()) && !suggestions().is_empty(), move || view! {
                <ul class="mention-suggestions" data-testid="people-suggestions">
                    {dynamic(move || suggestions().into_iter().map(|nick| view! {
                        <li>
                            <button type="button" data-testid="person-suggestion" on:click=move |_| {
                                people.update(|typed| {
                                    let before = typed.rsplit_once(',').map_or("", |(before, _)| before);
                                    *typed = if before.is_empty() { format!("{nick}, ") } else { format!("{before}, {nick}, ") };
                                });
                            }>{nick.to_string()}</button>
                        </li>
                    }).collect_view().into_any())}
                </ul>
            }.into_any())}
            {note(move || people_problem.get(), "problem small", None, Some("people-problem"))}
            <ul class="room-list" data-testid="directs">
                {keyed(groups, move |room: RoomName| {
                    let target = Target::Room(room.clone());
                    let (active, badges) = (is_current(state, target.clone()), unread_badges(state, target.clone()));
                    let name = reactive(move || state.with(|s| s.room_title(&room)));
                    view! {
                        <li>
                            <button class="room" class:active=active data-testid="group-entry"
                                on:click=move |_| state.update(|s| s.select(target.clone()))>
                                <span class="room-name">"👥 " {name}</span>
                                {badges}
                            </button>
                        </li>
                    }.into_any()
                })}
                {keyed(directs, move |peer: Nick| {
                    let target = Target::Direct(peer.clone());
                    let (active, badges) = (is_current(state, target.clone()), unread_badges(state, target.clone()));
                    view! {
                        <li>
                            <button
                                class="room"
                                class:active=active
                                on:click={
                                    let target = target.clone();
                                    move |_| state.update(|s| s.select(target.clone()))
                                }
                            >
                                <span class="room-name">"@ " {peer.to_string()}</span>
                                {badges}
                            </button>
                        </li>
                    }.into_any()
                })}
            </ul>
        </nav>
    }
}

/// Whether `target` is the conversation shown.
fn is_current(state: RwSignal<ChatState>, target: Target) -> Reactive<bool> {
    reactive(move || state.with(|s| s.current.as_ref() == Some(&target)))
}

/// One joined room in the sidebar.
#[component]
fn RoomEntry(
    /// The room.
    room: RoomName,
) -> impl IntoView {
    let state = expect_context::<ChatCtx>().state;
    let target = Target::Room(room.clone());
    let mark = {
        let room = room.clone();
        reactive(move || {
            let private = state.with(|s| s.rules.get(&room).is_some_and(|r| r.private));
            if private { "🔒 " } else { "# " }
        })
    };
    let members = {
        let room = room.clone();
        reactive(move || {
            state.with(|s| s.rooms.get(&room).map_or(0, |r| r.member_count).to_string())
        })
    };
    let (active, badges) = (
        is_current(state, target.clone()),
        unread_badges(state, target.clone()),
    );
    view! {
        <li>
            <button class="room" class:active=active
                on:click={
                    let target = target.clone();
                    move |_| state.update(|s| s.select(target.clone()))
                }>
                <span class="room-name">{mark} {room.to_string()}</span>
                {badges}
                <span class="count" title=words().members_count_title>{members}</span>
            </button>
        </li>
    }
}

/// A conversation's unread count and, apart, how many of those mention the user; and a
/// marker when it has a draft (and is not the one shown).
fn unread_badges(state: RwSignal<ChatState>, target: Target) -> AnyView {
    // The drafts are in storage (`local_store`); what is typed may change them.
    let typed = expect_context::<ChatCtx>().draft;
    let drafted = target.clone();
    let current = is_current(state, target.clone());
    let counts = Memo::new(move |_| state.with(|s| s.unread(&target)));
    view! {
        {shown(move || { typed.track(); !current() && draft_of(&drafted).is_some() }, move || view! {
            <span class="draft" data-testid="draft-marker" title=words().draft_marker>"✎"</span>
        }.into_any())}
        {shown(move || counts.get().1 != 0, move || view! {
            <span class="mentions" data-testid="mentions" title=words().mentions_title>
                {reactive(move || format!("@{}", counts.get().1))}
            </span>
        }.into_any())}
        {shown(move || counts.get().0 != 0, move || view! {
            <span class="unread" data-testid="unread" title=words().unread_title>
                {reactive(move || counts.get().0.to_string())}
            </span>
        }.into_any())}
    }
    .into_any()
}
