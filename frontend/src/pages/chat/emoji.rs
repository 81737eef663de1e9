//! The emoji picker (for reactions and the composer) and `:shortcode:` completion.
//!
//! Its data, the names and keywords of every emoji in English and Korean (Unicode CLDR, by way
//! of emojibase) and GitHub's shortcodes, is an asset of its own ([`paths::EMOJI_DATA`], made
//! by `cargo xtask emoji`), fetched the first time the picker opens or a `:shortcode` is
//! typed, never part of the wasm. Recently used emoji come first; a skin tone chosen once
//! applies to every emoji that takes one; both are kept in localStorage.

use leptos::{prelude::*, task::spawn_local};
use shared::paths;
use wasm_bindgen::JsCast as _;

use super::{ctx::ChatCtx, local_store};
use crate::{
    erase::{dynamic, reactive},
    i18n::{Lang, words},
};

/// One emoji of the data: `[emoji, skin, shortcodes, english, korean]` (see `cargo xtask
/// emoji`).
struct Entry {
    emoji: String,
    /// It takes a skin tone.
    skin: bool,
    /// Its shortcodes, space-separated (`smile`, `+1 thumbsup`).
    codes: String,
    /// Its name and keywords in English, `|`-separated, then in Korean.
    words: [String; 2],
}

impl Entry {
    /// Its name in the page's language.
    fn name(&self) -> &str {
        let words = &self.words[usize::from(crate::i18n::lang() == Lang::Ko)];
        words.split('|').next().unwrap_or_default()
    }

    /// It is what `query` (lower-cased) looks for: in a shortcode, a name or a keyword, in
    /// either language.
    fn matches(&self, query: &str) -> bool {
        self.codes.contains(query) || self.words.iter().any(|w| w.to_lowercase().contains(query))
    }

    /// `query` (lower-cased) is one of its shortcodes, or its name in either language: it
    /// is listed before the emoji that only contain the words.
    fn named(&self, query: &str) -> bool {
        self.codes.split(' ').any(|code| code == query)
            || self.words.iter().any(|w| {
                w.split('|')
                    .next()
                    .is_some_and(|name| name.to_lowercase() == query)
            })
    }

    /// Its shortcode that starts with `prefix`, if any.
    fn code_starting(&self, prefix: &str) -> Option<&str> {
        self.codes.split(' ').find(|code| code.starts_with(prefix))
    }
}

/// Most emoji the picker lists at once (typing finds the others).
const SHOWN: usize = 320;
/// Recently used emoji kept.
const RECENT: usize = 24;
/// Shortcode completions offered at once.
const COMPLETIONS: usize = 8;
const RECENT_KEY: &str = "chat.emoji.recent";
const TONE_KEY: &str = "chat.emoji.tone";

thread_local! {
    /// The data: whether it was asked for, and what came. One per page (the chat page is
    /// drawn once); `ChatCtx::emoji_ready` says when it is in.
    static DATA: std::cell::RefCell<(bool, Vec<Entry>)> = const {
        std::cell::RefCell::new((false, Vec::new()))
    };
}

/// `f` of the emoji data (empty until it is in).
fn with_data<T>(f: impl FnOnce(&[Entry]) -> T) -> T {
    DATA.with_borrow(|(_, data)| f(data))
}

/// Starts fetching the data unless it was (`ctx.emoji_ready` turns true when it is in).
pub(super) fn load(ctx: ChatCtx) {
    if DATA.with_borrow_mut(|(asked, _)| std::mem::replace(asked, true)) {
        return;
    }
    let url = crate::api::api_url(&ctx.url.get_value(), paths::EMOJI_DATA);
    spawn_local(async move {
        match fetch(&url).await {
            Ok(entries) => {
                DATA.with_borrow_mut(|(_, data)| *data = entries);
                ctx.emoji_ready.set(true);
            }
            Err(err) => {
                // Asked again the next time the picker opens.
                DATA.with_borrow_mut(|(asked, _)| *asked = false);
                log::warn!("the emoji could not be loaded: {err}");
            }
        }
    });
}

async fn fetch(url: &str) -> Result<Vec<Entry>, String> {
    // Public data: no credentials (the server allows any origin, without them).
    let window = web_sys::window().ok_or("no window")?;
    let response = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| crate::browser::js_error(&e))?
        .dyn_into::<web_sys::Response>()
        .map_err(|e| crate::browser::js_error(&e))?;
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let text = crate::fetch::text(&response).await?;
    let list = js_sys::JSON::parse(&text).map_err(|e| crate::browser::js_error(&e))?;
    let text_at = |entry: &js_sys::Array, i| entry.get(i).as_string().unwrap_or_default();
    Ok(js_sys::Array::from(&list)
        .iter()
        .map(|entry| {
            let entry = js_sys::Array::from(&entry);
            Entry {
                emoji: text_at(&entry, 0),
                skin: entry.get(1).as_f64() == Some(1.0),
                codes: text_at(&entry, 2),
                words: [text_at(&entry, 3), text_at(&entry, 4)],
            }
        })
        .filter(|entry| !entry.emoji.is_empty())
        .collect())
}

/// `emoji` in skin tone `tone` (1 to 5; 0 is none), if it takes one: the modifier right after
/// its first code point, a variation selector there dropped (the rule `cargo xtask emoji`
/// checked for every emoji it marks).
fn toned(emoji: &str, tone: u32) -> String {
    let Some(modifier) = char::from_u32(0x1f3fa + tone).filter(|_| (1..=5).contains(&tone)) else {
        return emoji.to_owned();
    };
    let mut chars = emoji.chars();
    let mut out: String = chars.next().into_iter().collect();
    out.push(modifier);
    let rest = chars.as_str();
    out.push_str(rest.strip_prefix('\u{fe0f}').unwrap_or(rest));
    out
}

/// The emoji used most recently, newest first.
fn recent() -> Vec<String> {
    local_store::stored(RECENT_KEY)
        .map(|kept| kept.split(' ').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Puts `emoji` first among the recent ones.
pub(super) fn used(emoji: &str) {
    let mut list = recent();
    list.retain(|e| e != emoji && !e.is_empty());
    list.insert(0, emoji.to_owned());
    list.truncate(RECENT);
    local_store::store(RECENT_KEY, &list.join(" "));
}

/// The `:shortcode` being typed at the end of `draft`, without the `:`, if it is one (two
/// characters at least, of those shortcodes have).
pub(super) fn shortcode_prefix(draft: &str) -> Option<&str> {
    let word = draft.rsplit(char::is_whitespace).next()?;
    let code = word.strip_prefix(':')?;
    let valid = code.len() >= 2
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    valid.then_some(code)
}

/// Up to [`COMPLETIONS`] emoji with a shortcode starting with `prefix`: (emoji, shortcode).
pub(super) fn completions(ctx: ChatCtx, prefix: &str) -> Vec<(String, String)> {
    ctx.emoji_ready.track();
    let prefix = prefix.to_lowercase();
    with_data(|data| {
        data.iter()
            .filter_map(|e| Some((e.emoji.clone(), e.code_starting(&prefix)?.to_owned())))
            .take(COMPLETIONS)
            .collect()
    })
}

/// `draft` with a `:shortcode:` just completed (typed up to its closing `:`) made its emoji.
pub(super) fn expand_shortcode(draft: &str) -> Option<String> {
    let open = draft.strip_suffix(':')?;
    let code = shortcode_prefix(open)?;
    let emoji = with_data(|data| {
        data.iter()
            .find(|e| e.codes.split(' ').any(|c| c == code))
            .map(|e| e.emoji.clone())
    })?;
    Some(format!("{}{emoji}", &open[..open.len() - code.len() - 1]))
}

/// What picking an emoji does: react with it to `ctx.picker_for`'s line, else add it to the
/// composer's text.
fn pick(ctx: ChatCtx, emoji: &str) {
    used(emoji);
    match ctx.picker_for.get_untracked() {
        Some(id) => super::message::react(ctx, id, emoji),
        None => ctx.draft.update(|d| d.push_str(emoji)),
    }
    ctx.picker_open.set(false);
}

/// The picker: a search box, the skin tones, and the emoji (recent ones first). Escape or a
/// pick closes it.
#[component]
pub(super) fn EmojiPicker() -> impl IntoView {
    let ctx = expect_context::<ChatCtx>();
    let w = words();
    load(ctx);
    let query = RwSignal::new(String::new());
    let tone = RwSignal::new(
        local_store::stored(TONE_KEY)
            .and_then(|t| t.parse::<u32>().ok())
            .unwrap_or(0),
    );
    let shown = move || {
        ctx.emoji_ready.track();
        let tone = tone.get();
        let query = query.with(|q| q.trim().to_lowercase());
        with_data(|data| {
            // Those it names first, then those whose words hold it.
            let named = data.iter().filter(|e| !query.is_empty() && e.named(&query));
            let others = data
                .iter()
                .filter(|e| query.is_empty() || (e.matches(&query) && !e.named(&query)));
            let found = named.chain(others).map(|e| {
                let emoji = if e.skin {
                    toned(&e.emoji, tone)
                } else {
                    e.emoji.clone()
                };
                (emoji, e.name().to_owned())
            });
            let mut list: Vec<(String, String)> = if query.is_empty() {
                recent().into_iter().map(|e| (e, String::new())).collect()
            } else {
                Vec::new()
            };
            list.extend(found.take(SHOWN));
            list
        })
    };
    let tones = (0..6_u32)
        .zip(w.skin_tone)
        .map(|(t, label)| {
            view! {
                <button type="button" class="tone" title=label aria-label=label
                    aria-pressed=reactive(move || (tone.get() == t).to_string())
                    on:click=move |_| {
                        tone.set(t);
                        local_store::store(TONE_KEY, &t.to_string());
                    }>{toned("✋", t)}</button>
            }
        })
        .collect_view();
    // Typing goes to the search box at once (an effect runs once the picker is drawn).
    crate::erase::effect(|| {
        let input = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| {
                d.query_selector("[data-testid=emoji-search]")
                    .ok()
                    .flatten()
            })
            .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(input) = input {
            let _ = input.focus();
        }
    });
    view! {
        <div class="emoji-picker" role="dialog" aria-label=w.emoji_picker data-testid="emoji-picker"
            on:keydown=move |ev: web_sys::KeyboardEvent| {
                if ev.key() == "Escape" {
                    ev.stop_propagation();
                    ctx.picker_open.set(false);
                }
            }>
            <div class="emoji-top">
                <input type="search" data-testid="emoji-search" aria-label=w.emoji_search
                    placeholder=w.emoji_search bind:value=query />
                <button type="button" class="dismiss" on:click=move |_| ctx.picker_open.set(false)>{w.dismiss}</button>
            </div>
            <div class="tones" role="group" aria-label=w.skin_tones>{tones}</div>
            <div class="emoji-grid" data-testid="emoji-grid">
                {dynamic(move || {
                    let list = shown();
                    if list.is_empty() {
                        let note = if ctx.emoji_ready.get() { w.no_emoji } else { w.loading };
                        return view! { <p class="hint">{note}</p> }.into_any();
                    }
                    list.into_iter().map(|(emoji, name)| {
                        let label = if name.is_empty() { emoji.clone() } else { name };
                        let text = emoji.clone();
                        view! {
                            <button type="button" class="emoji" data-testid="emoji" title=label.clone() aria-label=label
                                on:click=move |_| pick(ctx, &emoji)>{text}</button>
                        }
                    }).collect_view().into_any()
                })}
            </div>
        </div>
    }
}
