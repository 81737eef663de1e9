//! The app's words in English and Korean: [`Words`], one table per [`Lang`], chosen once when
//! the page loads ([`words`]).
//!
//! Why hand-written tables and not `leptos_i18n`: that crate, with two strings in it, added
//! 22 KB gzipped to the release wasm (8 %, over a budget the app is already past) and 170
//! crates to the build (measured 2026-12-01; docs/DEVELOPMENT.md). A struct with a field per
//! phrase keeps the property that matters: a phrase missing in either language does not
//! compile. Phrases with values in them are functions.
//!
//! The language is the one the user picked (the switch in the top bar, kept in
//! `localStorage`), else the first of the browser's languages we have, else English. Switching
//! reloads the page, as Slack and Discord do: the chat reconnects and catches up exactly, and
//! no view needs to re-render its words. The server's error messages are English; in Korean
//! the app says each [`shared::ErrorCode`] in its own words.
//!
//! # Layout
//! - this file: [`Lang`], the choice of language, [`words`].
//! - `table`: [`Words`] (a field per phrase) and [`ModPhrase`].
//! - `en`, `ko`: the English and the Korean table ([`EN`], [`KO`]).

use std::cell::Cell;

mod en;
mod ko;
mod table;

pub use en::EN;
pub use ko::KO;
pub use table::{ModPhrase, Words};

/// A language of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English.
    En,
    /// Korean.
    Ko,
}

/// Where the user's choice is kept.
const STORAGE_KEY: &str = "chat.lang";

impl Lang {
    /// Both, in the switch's order.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ko];

    /// The BCP 47 tag (`<html lang>`, dates and times).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ko => "ko",
        }
    }

    /// The table of this language.
    pub fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Ko => &KO,
        }
    }

    /// The first of `preferred` (browser language tags, best first) that we have, or English.
    pub fn negotiate<'a>(preferred: impl IntoIterator<Item = &'a str>) -> Lang {
        preferred
            .into_iter()
            .find_map(|tag| {
                let primary = tag.split(['-', '_']).next().unwrap_or("");
                Lang::ALL
                    .into_iter()
                    .find(|lang| primary.eq_ignore_ascii_case(lang.tag()))
            })
            .unwrap_or(Lang::En)
    }
}

thread_local! {
    /// The page's language: set once by [`init`]; English until then (and in native tests).
    static CURRENT: Cell<Lang> = const { Cell::new(Lang::En) };
}

/// The page's language.
pub fn lang() -> Lang {
    CURRENT.with(Cell::get)
}

/// The page's words.
pub fn words() -> &'static Words {
    lang().words()
}

/// A moderation action as the words say it (the chat's notices, the console's log).
pub fn mod_phrase(action: shared::ModAction) -> ModPhrase {
    use ModPhrase as P;
    use shared::ModAction as A;
    match action {
        A::Invited { user } => P::Invited(user.into()),
        A::Uninvited { user } => P::Uninvited(user.into()),
        A::ModeratorAdded { user } => P::ModeratorAdded(user.into()),
        A::ModeratorRemoved { user } => P::ModeratorRemoved(user.into()),
        A::Kicked { user } => P::Kicked(user.into()),
        A::Banned { user } => P::Banned(user.into()),
        A::Unbanned { user } => P::Unbanned(user.into()),
        A::Muted { user, .. } => P::Muted(user.into()),
        A::Unmuted { user } => P::Unmuted(user.into()),
        A::Left { user } => P::Left(user.into()),
        A::Topic { topic } => P::Topic(topic),
        A::MessageRemoved { id } => P::MessageRemoved(id.0),
        A::Closed => P::Closed,
        A::Reopened => P::Reopened,
        A::PasswordReset { user } => P::PasswordReset(user.into()),
        A::SessionsRevoked { user } => P::SessionsRevoked(user.into()),
    }
}

/// Chooses the page's language (the stored choice, else the browser's), names it on
/// `<html lang>` (for screen readers and fonts) and titles the page in it.
pub fn init() {
    let window = web_sys::window();
    let stored = window
        .as_ref()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
    let browser: Vec<String> = window
        .as_ref()
        .map(|w| {
            w.navigator()
                .languages()
                .iter()
                .filter_map(|l| l.as_string())
                .collect()
        })
        .unwrap_or_default();
    let lang = Lang::negotiate(stored.iter().chain(&browser).map(String::as_str));
    CURRENT.with(|c| c.set(lang));
    if let Some(document) = window.and_then(|w| w.document()) {
        document.set_title(lang.words().chat);
        if let Some(root) = document.document_element() {
            let _ = root.set_attribute("lang", lang.tag());
        }
    }
}

/// Keeps `lang` as the user's choice and reloads the page in it.
pub fn switch_to(lang: Lang) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if let Ok(Some(storage)) = window.local_storage() {
        let _ = storage.set_item(STORAGE_KEY, lang.tag());
    }
    let _ = window.location().reload();
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ErrorCode;

    #[test]
    fn the_browser_languages_choose_the_first_we_have() {
        assert_eq!(Lang::negotiate(["ko-KR", "en-US"]), Lang::Ko);
        assert_eq!(Lang::negotiate(["fr-FR", "ko"]), Lang::Ko);
        assert_eq!(Lang::negotiate(["en-GB", "ko"]), Lang::En);
        assert_eq!(Lang::negotiate(["fr"]), Lang::En);
        assert_eq!(Lang::negotiate([]), Lang::En);
    }

    /// Every literal of the Korean table is Korean, and none of the English one is: a phrase
    /// copied from the other language (a missing translation) fails here, as a phrase missing
    /// altogether fails to compile. Placeholders (`{room}`) and punctuation do not count.
    #[test]
    fn each_table_speaks_its_language() {
        let table = |source: &str, from: &str, to: &str| {
            let start = source.find(from).expect("table start");
            let end = start + source[start..].find(to).expect("table end");
            literals(&source[start..end])
        };
        let hangul = |s: &str| s.chars().any(|c| ('가'..='힣').contains(&c));
        let latin = |s: &str| {
            strip_placeholders(s)
                .chars()
                .any(|c| c.is_ascii_alphabetic())
        };
        let korean = table(
            include_str!("ko.rs"),
            "pub static KO",
            "/// [`Words::invalid`] in Korean",
        );
        assert!(korean.len() > 100, "{}", korean.len());
        for phrase in &korean {
            assert!(
                hangul(phrase) || !latin(phrase),
                "not Korean in the Korean table: {phrase:?}"
            );
        }
        // (To the end of its table: the file holds nothing after it.)
        let english = table(include_str!("en.rs"), "pub static EN", "\n};");
        assert!(english.len() > 100, "{}", english.len());
        for phrase in &english {
            assert!(!hangul(phrase), "Korean in the English table: {phrase:?}");
        }
        assert_eq!(
            (EN.error)(ErrorCode::NickTaken),
            None,
            "English shows the server's words"
        );
        assert!((KO.error)(ErrorCode::NickTaken).is_some_and(hangul));
        let refused = shared::Nick::try_from(" x").unwrap_err();
        assert_eq!((EN.invalid)(&refused), refused.to_string());
        assert!(
            hangul(&(KO.invalid)(&refused)),
            "{}",
            (KO.invalid)(&refused)
        );
    }

    /// The string literals in `code` (no escapes but `\"` are used in the tables).
    fn literals(code: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = code;
        while let Some(open) = rest.find('"') {
            let after = &rest[open + 1..];
            let close = after.find('"').expect("closed literal");
            found.push(after[..close].to_owned());
            rest = &after[close + 1..];
        }
        found
    }

    fn strip_placeholders(text: &str) -> String {
        let mut out = String::new();
        let mut depth = 0;
        for c in text.chars() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ if depth == 0 => out.push(c),
                _ => {}
            }
        }
        out
    }
}
