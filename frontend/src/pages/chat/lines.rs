//! The message list: the current conversation's lines grouped by sender, drawn as a virtual
//! list (only what is near the view), the "new messages" divider, marking read, paging as the
//! reader scrolls, and following a quote to its original. One line's view is in `message`.

use leptos::{html, prelude::*};

use super::{
    ctx::ChatCtx,
    message::{Row, line_view, same_group},
};
use crate::{
    chat_state::{ChatState, Line, Target},
    erase::{keyed, reactive, shown},
};

/// Read positions are sent at most this often (see the marking effect in `MessageList`).
const MARK_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Pixels drawn beyond each edge of the visible part of the list, so that a quick scroll
/// shows no gap.
const OVERSCAN_PX: i32 = 800;
/// Lines the drawn window may grow by (at its bottom, while new messages arrive) before it is
/// drawn again from where the list is scrolled: new lines are added one by one, and the lines
/// above are let go in batches, not one per message.
const WINDOW_SLACK: usize = 64;
/// How long the line of a search result just opened stays highlighted.
const FLASH_FOR: std::time::Duration = std::time::Duration::from_secs(3);
/// The height of a line not measured yet, until some are (px).
const FIRST_ESTIMATE_PX: u32 = 48;
/// The list's height until it is first measured (px): about a phone's.
const FIRST_VIEWPORT_PX: u32 = 640;

/// A line's key in the list: its server id, or, for a line of ours not stored yet, its
/// client id hashed (FNV-1a) with the top bit set, which no server id has.
fn line_key(line: &Line) -> u64 {
    match line.id {
        Some(id) => id.0,
        None => {
            let hash = line
                .client_id
                .as_str()
                .bytes()
                .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
            hash | 1 << 63
        }
    }
}

/// Lines whose heights make the estimate of the others; after them it stays as it is, so that
/// measuring one more line does not move every line not measured yet (and the spacers).
const ESTIMATE_SAMPLES: u32 = 100;
/// The most a line not measured yet is taken to be (px): a few huge messages must not make
/// every other line huge (and the list taller than a browser draws).
const MOST_ESTIMATE_PX: u32 = 200;

/// The measured heights of the current conversation's lines, by key, and what a line not
/// measured yet is taken to be: the average of the first [`ESTIMATE_SAMPLES`], capped.
#[derive(Default)]
struct Heights {
    // A sorted Vec, not a HashMap: hashing code for one more key type weighs KBs of wasm,
    // and lines are measured a window at a time.
    by_key: litemap::LiteMap<u64, u32>,
    sampled: u32,
    sampled_px: u32,
}

impl Heights {
    /// Records `px` for `key`; whether that changed anything.
    fn set(&mut self, key: u64, px: u32) -> bool {
        let old = self.by_key.insert(key, px);
        if old.is_none() && self.sampled < ESTIMATE_SAMPLES {
            self.sampled += 1;
            self.sampled_px = self.sampled_px.saturating_add(px.min(MOST_ESTIMATE_PX));
        }
        old != Some(px)
    }

    fn estimate(&self) -> u32 {
        self.sampled_px
            .checked_div(self.sampled)
            .unwrap_or(FIRST_ESTIMATE_PX)
    }
}

/// The lines of the current conversation, grouped by sender; sticks to the bottom unless
/// the user scrolled up to read.
///
/// A virtual list: only the lines in and near the visible part are in the DOM, between two
/// spacers as tall as the lines above and below them (measured once drawn, estimated until
/// then), so a conversation of any length costs the page the same. Each drawn line is keyed
/// and rebuilt only when what it shows changes; typing, presence and unread counts do not
/// reach the list. When lines above the visible part change height or arrive (older pages),
/// the line at the top of the view stays where it was.
#[component]
pub(super) fn MessageList() -> impl IntoView {
    use wasm_bindgen::{JsCast as _, closure::Closure};
    let ctx = expect_context::<ChatCtx>();
    let state = ctx.state;
    let w = crate::i18n::words();
    let list: NodeRef<html::Ol> = NodeRef::new();
    let top_spacer: NodeRef<html::Li> = NodeRef::new();
    let stick = RwSignal::new(true);
    // Where the list is scrolled and how tall its visible part is, in the lines' own
    // coordinates (0 is the top of the first line).
    // (Whole pixels, unsigned: the view starting above the first line counts as at its top.
    // The types the members panel's signals have: no new signal code in the wasm.)
    let scroll = RwSignal::new(0_u32);
    let viewport = RwSignal::new(FIRST_VIEWPORT_PX);
    let heights = StoredValue::new_local(Heights::default());
    let heights_changed = RwSignal::new(0_u32);
    // The line at the top of the view and how far into it the view starts (px): kept in
    // place while what is above it changes.
    let anchor = RwSignal::new(None::<(u64, i32)>);
    // The line of a search result just opened, highlighted for a moment.
    // (The type of `ctx.sought`: no new signal code in the wasm.)
    let flash = RwSignal::new(None::<shared::MessageId>);
    // A search result is being opened in this conversation (`ChatState::jump`): until its
    // line is shown the list does not stick to the bottom, so it neither jumps there nor
    // marks read what the reader has not seen.
    let jumping = move || {
        state.with_untracked(|s| {
            s.jump
                .as_ref()
                .is_some_and(|(target, _)| s.current.as_ref() == Some(target))
        })
    };

    // The keys of every line: this changes when lines come, go or are stored, not when
    // anything else in the state does.
    let keys = Memo::new(move |_| {
        state.with(|s| s.current_lines().iter().map(line_key).collect::<Vec<u64>>())
    });
    // Another conversation: its own heights, from its bottom.
    let target = Memo::new(move |_| state.with(|s| s.current.clone()));
    Effect::new(move |_| {
        target.track();
        heights.set_value(Heights::default());
        heights_changed.update(|n| *n = n.wrapping_add(1));
        anchor.set(None);
        stick.set(!jumping());
    });
    // Where each line starts (and, last, where the last one ends), in px.
    let offsets = Memo::new(move |_| {
        heights_changed.track();
        keys.with(|keys| {
            heights.with_value(|h| {
                let estimate = h.estimate();
                let mut offsets = Vec::with_capacity(keys.len() + 1);
                let mut y = 0_u32;
                offsets.push(y);
                for key in keys {
                    y = y.saturating_add(h.by_key.get(key).copied().unwrap_or(estimate));
                    offsets.push(y);
                }
                offsets
            })
        })
    });
    // The drawn lines, `first..end`.
    // Where the view is: at the bottom when it sticks there, else where its anchor line is now
    // (so that lines arriving above, or measured, move the window with it at once, before
    // the list's own scroll position is set to match), else where the list is scrolled.
    let range = Memo::new(move |previous: Option<&(usize, usize)>| {
        let stuck = stick.get();
        let height = i32::try_from(viewport.get()).unwrap_or(i32::MAX);
        let anchored = anchor.get();
        let scrolled = i32::try_from(scroll.get()).unwrap_or(i32::MAX);
        let anchor_at = anchored.and_then(|(key, into)| {
            keys.with(|keys| keys.iter().position(|&k| k == key))
                .map(|i| (i, into))
        });
        offsets.with(|offsets| {
            let count = offsets.len() - 1;
            let total = offsets
                .last()
                .map_or(0, |&y| i32::try_from(y).unwrap_or(i32::MAX));
            let top = match anchor_at {
                _ if stuck => (total - height).max(0),
                Some((i, into)) => i32::try_from(offsets[i]).unwrap_or(i32::MAX) + into,
                None => scrolled,
            };
            // The line at `y` (the last one past the end).
            let at = |y: i32| {
                let y = u32::try_from(y.max(0)).unwrap_or(0);
                offsets
                    .partition_point(|&o| o <= y)
                    .saturating_sub(1)
                    .min(count)
            };
            let wanted = (
                at(top - OVERSCAN_PX),
                (at(top + height + OVERSCAN_PX) + 1).min(count),
            );
            if let Some(&(first, end)) = previous {
                // The lines drawn still cover the view and half the margin: keep them (and
                // at the bottom, add what came).
                let end = if stuck { count } else { end.min(count) };
                let first = first.min(end);
                let covers = first <= at(top - OVERSCAN_PX / 2)
                    && end >= (at(top + height + OVERSCAN_PX / 2) + 1).min(count);
                if covers && end - first <= wanted.1 - wanted.0 + WINDOW_SLACK {
                    return (first, end);
                }
            }
            (wanted.0, if stuck { count } else { wanted.1 })
        })
    });
    // The drawn rows, each with a version that changes when anything it shows does: the
    // keyed list below builds a row per (key, version), so a changed line is replaced and
    // every other line's DOM is left alone.
    let rows = Memo::new(move |previous: Option<&Vec<(Row, u32)>>| {
        let (first, end) = range.get();
        let sought = ctx.sought.get();
        let flashed = flash.get();
        state.with(|s| {
            let lines = s.current_lines();
            let (first, end) = (first.min(lines.len()), end.min(lines.len()));
            // The divider goes above the first line of someone else after the read position
            // the conversation had when it was opened.
            let first_new = s.current.as_ref().and(s.divider).and_then(|read| {
                lines
                    .iter()
                    .position(|l| !l.mine && l.seq.is_some_and(|p| p > read))
            });
            let moderator = match &s.current {
                Some(Target::Room(room)) => Some(s.moderates(room)),
                _ => None,
            };
            (first..end)
                .map(|i| {
                    let line = &lines[i];
                    Row {
                        key: line_key(line),
                        line: line.clone(),
                        starts_group: i == 0 || !same_group(&lines[i - 1], line),
                        first_new: first_new == Some(i),
                        mentioned: !line.mine
                            && s.me
                                .as_ref()
                                .is_some_and(|me| crate::chat_state::mentions(&line.text, me)),
                        sought: line.id.is_some() && line.id == sought,
                        jumped: line.id.is_some() && line.id == flashed,
                        seen: s.current.as_ref().and_then(|target| {
                            let readers = s.seen_at(target, line);
                            let w = crate::i18n::words();
                            match (target, readers.as_slice()) {
                                (_, []) => None,
                                (Target::Direct(_), _) => Some(w.seen.to_owned()),
                                (Target::Room(_), names) => {
                                    let names: Vec<String> =
                                        names.iter().map(shared::Nick::to_string).collect();
                                    Some((w.seen_by)(&names.join(", ")))
                                }
                            }
                        }),
                        moderator: moderator.filter(|_| line.id.is_some() && !line.deleted),
                    }
                })
                .map(|row| {
                    let version = previous
                        .and_then(|previous| previous.iter().find(|(p, _)| p.key == row.key))
                        .map_or(0, |(p, version)| {
                            if *p == row {
                                *version
                            } else {
                                version.wrapping_add(1)
                            }
                        });
                    (row, version)
                })
                .collect::<Vec<(Row, u32)>>()
        })
    });
    // The spacers' heights, each its own memo: a change of one does not write the other.
    let y = move |i: usize| offsets.with(|o| o.get(i).or(o.last()).copied().unwrap_or(0));
    let above = Memo::new(move |_| y(range.get().0));
    let below = Memo::new(move |_| y(usize::MAX).saturating_sub(y(range.get().1)));

    // The lines' coordinates in the list's: the top spacer's place (the button above it
    // comes and goes).
    let origin = move || top_spacer.get_untracked().map_or(0, |el| el.offset_top());
    // Reads where the list is scrolled; loads older lines when the top comes near.
    let read_scroll = move || {
        let Some(el) = list.get_untracked() else {
            return;
        };
        let top = el.scroll_top() - origin();
        scroll.set(u32::try_from(top).unwrap_or(0));
        let seen = el.client_height();
        if seen > 0 {
            viewport.set(seen.unsigned_abs());
        }
        // The bottom of what is held: the newest line only when no newer ones were let go.
        let below = el.scroll_height() - el.scroll_top() - el.client_height();
        let detached = state.with_untracked(ChatState::current_far_back);
        let near_bottom = below <= 40 && !detached && !jumping();
        if stick.get_untracked() != near_bottom {
            stick.set(near_bottom);
        }

        // (Above the first line, e.g. at the very top with the "load older" button in
        // view, the first line is the anchor, the view starting before it.)
        let anchored = offsets.with_untracked(|offsets| {
            let i = offsets
                .partition_point(|&o| i64::from(o) <= i64::from(top))
                .saturating_sub(1);
            let key = keys.with_untracked(|keys| keys.get(i).copied())?;
            Some((key, top - i32::try_from(offsets[i]).unwrap_or(0)))
        });
        if anchor.get_untracked() != anchored {
            anchor.set(anchored);
        }
        // Scrolled near the top: the page before (a list that fits its view, or is no
        // scrolling box at all, has its "load older" button for that); near the bottom of
        // what is held, far back, the page after. (Not while a search result is opened: the
        // page around it replaces what is held.)
        let newer = detached && below < el.client_height();
        let older = el.scroll_height() > el.client_height()
            && u32::try_from(top).unwrap_or(0) < viewport.get_untracked();
        if (newer || older)
            && !jumping()
            && let Some(request) = state.try_update(|s| s.load_page(newer)).flatten()
        {
            ctx.send(&request);
        }
    };
    // Measures the drawn lines; their heights place the lines not drawn.
    let measure = move || {
        let Some(el) = list.get_untracked() else {
            return;
        };
        let Ok(drawn) = el.query_selector_all(":scope > li[data-key]") else {
            return;
        };
        let mut changed = false;
        heights.update_value(|h| {
            // Lines let go from memory (a long read up or down) leave their heights behind:
            // now and then they all go, and the lines drawn are measured again (the anchor
            // keeps the view where it is meanwhile).
            if h.by_key.len() > 4 * crate::chat_state::MAX_LINES {
                h.by_key.clear();
            }
            for i in 0..drawn.length() {
                let Some(li) = drawn
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
                else {
                    continue;
                };
                let key = li
                    .get_attribute("data-key")
                    .and_then(|k| k.parse::<u64>().ok());
                if let (Some(key), Ok(px @ 1..)) = (key, u32::try_from(li.offset_height())) {
                    changed |= h.set(key, px);
                }
            }
        });
        if changed {
            heights_changed.update(|n| *n = n.wrapping_add(1));
        }
    };
    // Drawn: measured.
    Effect::new(move |_| {
        rows.track();
        measure();
    });
    // Laid out again: at the bottom if it sticks there, else the top line where it was.
    Effect::new(move |_| {
        offsets.track();
        rows.track();
        let Some(el) = list.get() else {
            return;
        };
        if stick.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        } else if let Some((key, into)) = anchor.get_untracked() {
            let at = keys.with_untracked(|keys| keys.iter().position(|&k| k == key));
            if let Some(y) = at.and_then(|i| offsets.with_untracked(|o| o.get(i).copied())) {
                let wanted = origin() + i32::try_from(y).unwrap_or(0) + into;
                if (el.scroll_top() - wanted).abs() > 1 {
                    el.set_scroll_top(wanted);
                }
            }
        }
        read_scroll();
    });
    // The list's size changes with the page's: measured again, lines and view.
    let observer = StoredValue::new_local(None::<(web_sys::ResizeObserver, Closure<dyn FnMut()>)>);
    Effect::new(move |_| {
        let Some(el) = list.get() else {
            return;
        };
        // A list that sticks to the bottom stays there when it shrinks (a phone's keyboard
        // opening, a notice appearing under it): the bottom first, then what it shows.
        let changed = Closure::<dyn FnMut()>::new(move || {
            if stick.get_untracked()
                && let Some(el) = list.get_untracked()
            {
                el.set_scroll_top(el.scroll_height());
            }
            measure();
            read_scroll();
        });
        if let Ok(watch) = web_sys::ResizeObserver::new(changed.as_ref().unchecked_ref()) {
            watch.observe(&el);
            observer.update_value(|o| {
                if let Some((old, _)) = o.replace((watch, changed)) {
                    old.disconnect();
                }
            });
        }
    });
    on_cleanup(move || {
        observer.update_value(|o| {
            if let Some((watch, _)) = o.take() {
                watch.disconnect();
            }
        });
    });

    // A quote was followed to a line not loaded: when a page comes, the line is shown, or
    // another page is asked for (unless none is left).
    Effect::new(move |_| {
        keys.track();
        let Some(id) = ctx.seeking.get() else {
            return;
        };
        let at = state.with_untracked(|s| s.current_lines().iter().position(|l| l.id == Some(id)));
        if let Some(i) = at {
            ctx.seeking.set(None);
            // In the middle of the view: drawn there, then marked (until another is).
            stick.set(false);
            let y = offsets.with_untracked(|o| {
                let (top, end) = (
                    o.get(i).copied().unwrap_or(0),
                    o.get(i + 1).copied().unwrap_or(0),
                );
                i32::try_from(top / 2 + end / 2).unwrap_or(0)
            });
            if let Some(el) = list.get_untracked() {
                el.set_scroll_top(origin() + y - el.client_height() / 2);
            }
            read_scroll();
            ctx.sought.set(Some(id));
        } else {
            match state.try_update(ChatState::load_older).flatten() {
                Some(request) => ctx.send(&request),
                // (Nothing held yet, e.g. a notification's conversation before its history
                // came: sought once it comes.)
                None if state.with_untracked(|s| {
                    !s.current_loading_older() && !s.current_lines().is_empty()
                }) =>
                {
                    ctx.seeking.set(None);
                }
                None => {}
            }
        }
    });
    // A search result being opened (`ChatState::jump`): once the list holds its line (a
    // room's page around it comes after the click), that line is put in the middle of the
    // view, where the anchor holds it while the lines around it are drawn and measured, and
    // highlighted for a moment. A line that is not coming ends the jump where the list is: a
    // direct message older than those held (the conversation holds its latest page), a room
    // line gone since (the lines held are on both sides of it), or another conversation
    // chosen meanwhile.
    // (A flag, read again below: a memo of a type the list has already.)
    let jump = Memo::new(move |_| state.with(|s| s.jump.is_some()));
    Effect::new(move |_| {
        keys.track();
        if !jump.get() {
            return;
        }
        let Some((target, at)) = state.with_untracked(|s| s.jump.clone()) else {
            return;
        };
        let found = state.with_untracked(|s| {
            if s.current.as_ref() != Some(&target) {
                return Err(true);
            }
            let lines = s.current_lines();
            if let Some(i) = lines.iter().position(|l| l.found_as(&target) == Some(at)) {
                return Ok((i, lines[i].id));
            }
            let mut seqs = lines.iter().filter_map(|l| l.seq);
            let gone = match target {
                Target::Direct(_) => true,
                Target::Room(_) => {
                    seqs.next().is_some_and(|first| first < at)
                        && seqs.next_back().is_some_and(|last| last > at)
                }
            };
            Err(gone)
        });
        match found {
            Ok((i, id)) => {
                stick.set(false);
                let (top, end) = offsets.with_untracked(|o| {
                    (
                        o.get(i).copied().unwrap_or(0),
                        o.get(i + 1).copied().unwrap_or(0),
                    )
                });
                let half_view = i32::try_from(viewport.get_untracked() / 2).unwrap_or(0);
                let into = i32::try_from(end.saturating_sub(top) / 2).unwrap_or(0) - half_view;
                if let Some(key) = keys.with_untracked(|keys| keys.get(i).copied()) {
                    anchor.set(Some((key, into)));
                }
                flash.set(id);
                set_timeout(
                    move || {
                        if flash.try_get_untracked() == Some(id) {
                            flash.set(None);
                        }
                    },
                    FLASH_FOR,
                );
                if let Some(el) = list.get_untracked() {
                    el.set_scroll_top(origin() + i32::try_from(top).unwrap_or(0) + into);
                }
                state.update(ChatState::jumped);
            }
            Err(true) => state.update(ChatState::jumped),
            Err(false) => {}
        }
    });
    // Read is what a visible page shows at its bottom: marked as such (the server tells the
    // user's other tabs and devices), at most once per MARK_EVERY so that a busy room does
    // not spend the connection's rate limit on it.
    let mark_scheduled = StoredValue::new(false);
    Effect::new(move |_| {
        keys.track();
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
    // Screen readers hear each new message of others once, from a live region of its own:
    // the list is not one (a page of older lines would be read out).
    // Only a line newer than the last one announced: not the history shown on opening a
    // conversation, not an edit, not an older line that becomes the last when the newest is
    // deleted. (Ids grow; only others' lines are announced, and they always have one.)
    //
    // The same look at each change tells when a message of ours was just written (one more
    // unsent line, at the bottom): the list goes to the newest, where it is shown (from far
    // back, the latest page is asked for first).
    // To the newest: from far back the latest page is asked for at once (online only:
    // offline, the lines held stay, and End or a message sent once connected goes there).
    let to_newest = move || {
        if ctx.status.get_untracked().is_open()
            && let Some(request) = state.try_update(ChatState::to_latest).flatten()
        {
            ctx.send(&request);
        }
        stick.set(true);
    };
    let announced = RwSignal::new(String::new());
    let last_seen = StoredValue::new((None::<Target>, 0_u64, 0_usize, false));
    Effect::new(move |_| {
        let written = state.with(|s| {
            let lines = s.current_lines();
            let newest = lines
                .iter()
                .rev()
                .find(|l| !l.mine && !l.deleted && l.id.is_some());
            let key = newest.map_or(0, line_key);
            let unsent = lines.iter().rev().take_while(|l| l.id.is_none()).count();
            // Pages after a position (reading down from far back, up to the newest page)
            // are not news: nothing is announced while the room was or is that far back.
            let far = s.current_far_back();
            let (target, last, unsent_before, far_before) = last_seen.get_value();
            last_seen.set_value((s.current.clone(), key.max(last), unsent, far));
            if target != s.current {
                // Another conversation: what it shows on opening is not news.
                last_seen.set_value((s.current.clone(), key, unsent, far));
                announced.set(String::new());
                return false;
            }
            // The first lines to come (the history, after the conversation opened empty)
            // are not news either.
            if let Some(line) = newest.filter(|_| key > last && last != 0 && !far && !far_before) {
                announced.set(format!("{}: {}", line.from, line.text));
            }
            unsent > unsent_before
        });
        if written {
            to_newest();
        }
    });
    // Memos: the button's attributes are written when these change, not on every change of
    // the state.
    let room_view = move |f: fn(&crate::chat_state::RoomView) -> bool| {
        state.with(|s| match &s.current {
            Some(Target::Room(room)) => s.rooms.get(room).is_some_and(f),
            _ => false,
        })
    };
    let more_before = Memo::new(move |_| room_view(|v| v.more_before));
    let loading_older = Memo::new(move |_| room_view(|v| v.loading_older));
    let load_older = move |_| {
        stick.set(false);
        if let Some(request) = state.try_update(ChatState::load_older).flatten() {
            ctx.send(&request);
        }
    };
    // The keyboard scrolls the list when it has the focus (as the browser would, and the
    // same in every browser): arrows by a line, Page Up/Down by a view, Home/End to the ends.
    let on_key = move |ev: web_sys::KeyboardEvent| {
        let Some(el) = list.get_untracked() else {
            return;
        };
        // Only keys aimed at the list itself, without modifiers (those are the browser's).
        if ev.target().as_ref() != Some(el.as_ref())
            || ev.ctrl_key()
            || ev.alt_key()
            || ev.meta_key()
        {
            return;
        }
        let page = (el.client_height() * 9 / 10).max(1);
        let top = el.scroll_top();
        let to = match ev.key().as_str() {
            "ArrowUp" => top - 40,
            "ArrowDown" => top + 40,
            "PageUp" => top - page,
            "PageDown" => top + page,
            "Home" => 0,
            "End" => {
                to_newest();
                el.scroll_height()
            }
            _ => return,
        };
        ev.prevent_default();
        el.set_scroll_top(to.max(0));
        read_scroll();
    };
    // Built once per (key, version), from the rows as they are then.
    let row_view = move |(key, version): (u64, u32)| {
        rows.with_untracked(|rows| {
            rows.iter()
                .find(|(r, v)| r.key == key && *v == version)
                .map(|(row, _)| line_view(ctx, row))
        })
        .into_any()
    };
    view! {
        <ol class="messages" data-testid="messages" node_ref=list tabindex="0"
            aria-label=w.messages_label on:scroll=move |_| read_scroll() on:keydown=on_key
            on:click=move |ev| super::formatted::copy_code(&ev)>
            {shown(move || more_before.get(), move || view! {
                <li class="load-older">
                    <button data-testid="load-older" on:click=load_older
                        disabled=reactive(move || loading_older.get())>
                        {reactive(move || if loading_older.get() { w.loading } else { w.load_older })}
                    </button>
                </li>
            }.into_any())}
            <li class="spacer" aria-hidden="true" node_ref=top_spacer data-testid="spacer-above"
                style:height=reactive(move || format!("{}px", above.get()))></li>
            {keyed(move || rows.with(|rows| rows.iter().map(|(r, version)| (r.key, *version)).collect()), row_view)}
            <li class="spacer" aria-hidden="true" data-testid="spacer-below"
                style:height=reactive(move || format!("{}px", below.get()))></li>
        </ol>
        <div class="visually-hidden" aria-live="polite" data-testid="announcer">
            {reactive(move || announced.get())}
        </div>
    }
}
