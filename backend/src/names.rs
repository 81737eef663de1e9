//! Names people choose (nicknames, account names): what the server adds to `shared`'s rules,
//! and when two names are one.
//!
//! `shared::Nick` refuses control characters; it is also compiled into the browser, whose
//! wasm has a size budget, so the Unicode tables these rules need (normalization, general
//! category, emoji, UTS #39 confusables) live here, on the server only:
//!
//! - A name someone chooses ([`chosen`]: open-mode `hello` and `rename`, a JWT's `name`, a
//!   registration) is stored in NFC, so that one name typed on two keyboards (a precomposed
//!   `é` or `e` + U+0301, a Hangul syllable or its jamo) is one name, and it may not hold an
//!   invisible formatting character (general category Cf: zero-width spaces, direction
//!   overrides, ...), except the joiners and tags inside emoji sequences (👩‍💻, 🏴󠁧󠁢󠁳󠁣󠁴󠁿).
//! - Two names are one when they look alike ([`likeness`]): when their confusable skeletons
//!   (UTS #39) are equal as written (`Alice`, `AIice` with a capital I, Cyrillic `Аlice`), or
//!   equal ignoring case (`alice`, Cyrillic `аlice`).
//!
//! [`shared::Nick::key`] (the lower case) is left as it was: it is more than a uniqueness key.
//! An account's row, its derived browser token and so its user key (its messages, direct
//! messages, read positions, moderation and room policies) follow from `key()` of its name,
//! so changing `key()` would orphan every existing account. It also orders member lists.
//! Uniqueness is decided with [`likeness`] instead, wherever it is decided: the hub's
//! [`NickMap`], the cluster's nickname claims, and account registration.

use std::collections::HashMap;

use shared::{InvalidName, Nick};
use unicode_normalization::UnicodeNormalization as _;
use unicode_properties::{GeneralCategory, UnicodeEmoji as _, UnicodeGeneralCategory as _};

use crate::ids::UserId;

/// Why a name someone chose was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefusedName {
    /// Against `shared`'s rules (after normalization, which can change the length).
    #[error(transparent)]
    Invalid(#[from] InvalidName),
    /// An invisible formatting character. The message names its code point only: the
    /// character itself (a direction override) would scramble the message around it.
    #[error(
        "{what} contains U+{:04X}, which is not allowed (no invisible formatting characters: \
         zero-width characters, joiners outside emoji, text direction controls)",
        u32::from(*found)
    )]
    Invisible {
        /// What was being named ("nickname", "name").
        what: &'static str,
        /// The first offending character.
        found: char,
    },
    /// Nothing of the name is visible (only fillers and other default-ignorable characters,
    /// such as U+3164 HANGUL FILLER).
    #[error("{what} has no visible character")]
    Blank {
        /// What was being named.
        what: &'static str,
    },
}

/// `name`, chosen by someone as `what` ("nickname", "name"), in the form the server keeps:
/// NFC, with no invisible formatting character outside an emoji sequence, and something
/// visible.
///
/// # Errors
/// The first rule the name breaks.
pub fn chosen(what: &'static str, name: &Nick) -> Result<Nick, RefusedName> {
    let normal: String = name.as_str().nfc().collect();
    let chars: Vec<char> = normal.chars().collect();
    if let Some(i) = (0..chars.len()).find(|&i| {
        chars[i].general_category() == GeneralCategory::Format && !in_emoji_sequence(&chars, i)
    }) {
        return Err(RefusedName::Invisible {
            what,
            found: chars[i],
        });
    }
    let nick = Nick::try_from(normal)?;
    if unicode_security::skeleton(nick.as_str()).next().is_none() {
        return Err(RefusedName::Blank { what });
    }
    Ok(nick)
}

/// `nick` in NFC, the form [`chosen`] keeps names in, without [`chosen`]'s other rules: how a
/// name typed at login finds its account whatever the keyboard composed. A name whose NFC
/// breaks `shared`'s rules (too long: a few characters decompose even in NFC) is left as it
/// is; it was never registered in NFC.
pub fn normalized(nick: &Nick) -> Nick {
    let normal: String = nick.as_str().nfc().collect();
    Nick::try_from(normal).unwrap_or_else(|_| nick.clone())
}

/// Whether the format character at `chars[i]` belongs to an emoji sequence (UTS #51): a zero
/// width joiner between two emoji (👩‍💻), or a tag of a flag's tag sequence (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
pub(crate) fn in_emoji_sequence(chars: &[char], i: usize) -> bool {
    // Emoji=Yes includes the ASCII digits, `#` and `*` (keycaps' bases): never a reason for
    // an invisible character next to them.
    let emoji = |c: char| !c.is_ascii() && c.is_emoji_char();
    let tag = |c: char| ('\u{E0020}'..='\u{E007F}').contains(&c);
    match chars[i] {
        '\u{200D}' => {
            // What it joins: an emoji, perhaps with its presentation selector or skin tone.
            let before = chars[..i]
                .iter()
                .rev()
                .find(|&&c| !(c == '\u{FE0F}' || ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)));
            before.is_some_and(|&c| emoji(c)) && chars.get(i + 1).is_some_and(|&c| emoji(c))
        }
        c if tag(c) => {
            // The run of tags around it: after an emoji, ending with CANCEL TAG (U+E007F),
            // which appears there only.
            let start = (0..i).rev().find(|&j| !tag(chars[j])).map_or(0, |j| j + 1);
            let end = (i..chars.len())
                .find(|&j| !tag(chars[j]))
                .unwrap_or(chars.len());
            let run = &chars[start..end];
            start > 0
                && emoji(chars[start - 1])
                && run.len() >= 2
                && run.last() == Some(&'\u{E007F}')
                && !run[..run.len() - 1].contains(&'\u{E007F}')
        }
        _ => false,
    }
}

/// The keys under which a name is unique: two names that share one are one name. The first
/// is the UTS #39 skeleton of the lower case (the old rule, ignoring case, widened to
/// look-alikes: `alice`, `ALICE`, Cyrillic `аlice`, `a1ice`); the second the skeleton as
/// written, for look-alikes that lower-casing would tell apart (`AIice` with a capital I
/// looks like `Alice`, but `aiice` does not look like `alice`). Each is prefixed with what
/// it is, so that a key of one kind never equals one of the other.
///
/// The skeleton drops default-ignorable characters, so names that differ only in fillers,
/// joiners or variation selectors are one name as well.
pub fn likeness(nick: &Nick) -> [String; 2] {
    let text = nick.as_str();
    let folded: String = unicode_security::skeleton(&text.to_lowercase()).collect();
    let written: String = unicode_security::skeleton(text).collect();
    [format!("c:{folded}"), format!("s:{written}")]
}

/// Who holds which nickname among the users of one hub. A name is held under its exact key
/// ([`Nick::key`], for requests that name a user) and under its [`likeness`] keys (for
/// uniqueness); no two users share a key, as long as a name is inserted only when
/// [`NickMap::holder`] found nobody else.
#[derive(Debug, Default)]
pub struct NickMap {
    /// By [`Nick::key`]: whom a `direct`, an invitation or a ban naming this nickname
    /// (ignoring case) means. A look-alike names nobody.
    exact: HashMap<String, UserId>,
    /// By each [`likeness`] key of the names held.
    alike: HashMap<String, UserId>,
}

impl NickMap {
    /// The user called `nick` (ignoring case).
    pub fn named(&self, nick: &Nick) -> Option<UserId> {
        self.exact.get(&nick.key()).copied()
    }

    /// The user holding `nick` or a name that looks like it: the one called `nick` first.
    pub fn holder(&self, nick: &Nick) -> Option<UserId> {
        self.named(nick).or_else(|| {
            likeness(nick)
                .iter()
                .find_map(|key| self.alike.get(key).copied())
        })
    }

    /// Whether anyone but `user` holds `nick` or a name that looks like it.
    pub fn taken_from(&self, nick: &Nick, user: UserId) -> bool {
        self.named(nick).is_some_and(|holder| holder != user)
            || likeness(nick)
                .iter()
                .any(|key| self.alike.get(key).is_some_and(|&holder| holder != user))
    }

    /// Whether every key of `nick` is `user`'s already (nothing new to claim for a rename).
    pub fn holds_all(&self, nick: &Nick, user: UserId) -> bool {
        self.named(nick) == Some(user)
            && likeness(nick)
                .iter()
                .all(|key| self.alike.get(key) == Some(&user))
    }

    /// `user` holds `nick`.
    pub fn insert(&mut self, nick: &Nick, user: UserId) {
        self.exact.insert(nick.key(), user);
        for key in likeness(nick) {
            self.alike.insert(key, user);
        }
    }

    /// `user` does not hold `nick` any more (keys someone else holds stay theirs).
    pub fn remove(&mut self, nick: &Nick, user: UserId) {
        if self.exact.get(&nick.key()) == Some(&user) {
            self.exact.remove(&nick.key());
        }
        for key in likeness(nick) {
            if self.alike.get(&key) == Some(&user) {
                self.alike.remove(&key);
            }
        }
    }

    /// The [`likeness`] keys of `nick` that nobody here holds: what a node releases in the
    /// cluster when a user here lets `nick` go (a rename from `Alice` to `ALICE` keeps the
    /// key they share).
    pub fn unheld(&self, nick: &Nick) -> Vec<String> {
        likeness(nick)
            .into_iter()
            .filter(|key| !self.alike.contains_key(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nick(name: &str) -> Nick {
        name.parse().unwrap()
    }

    fn alike(a: &str, b: &str) -> bool {
        let (a, b) = (likeness(&nick(a)), likeness(&nick(b)));
        a.iter().any(|key| b.contains(key))
    }

    #[test]
    fn invisible_formatting_characters_are_refused_naming_their_code_point() {
        for (name, found) in [
            ("Alice\u{200B}", '\u{200B}'),
            ("Alice\u{202E}", '\u{202E}'),
            ("\u{2066}Alice\u{2069}", '\u{2066}'),
            ("Al\u{AD}ice", '\u{AD}'),
            ("Alice\u{FEFF}", '\u{FEFF}'),
            ("Ali\u{200D}ce", '\u{200D}'),
            ("Ali\u{200C}ce", '\u{200C}'),
            ("\u{61C}علي", '\u{61C}'),
            // A joiner after a digit: Emoji=Yes, but not a picture.
            ("1\u{200D}🦀", '\u{200D}'),
            // Tags outside a flag's tag sequence.
            ("Alice\u{E0041}", '\u{E0041}'),
            ("🏴\u{E0067}\u{E0062}", '\u{E0067}'),
        ] {
            let refused = chosen("nickname", &nick(name)).unwrap_err();
            assert_eq!(
                refused,
                RefusedName::Invisible {
                    what: "nickname",
                    found
                },
                "{name:?}"
            );
            let message = refused.to_string();
            assert!(
                message.contains(&format!("U+{:04X}", u32::from(found))),
                "{message}"
            );
            assert!(!message.contains(found), "{message}");
        }
    }

    #[test]
    fn names_are_kept_in_nfc() {
        // e + COMBINING ACUTE ACCENT, and the jamo of 한글.
        let decomposed = nick("Jose\u{301}");
        assert_eq!(
            chosen("nickname", &decomposed).unwrap().as_str(),
            "Jos\u{E9}"
        );
        let jamo = nick("\u{1112}\u{1161}\u{11AB}\u{1100}\u{1173}\u{11AF}");
        assert_eq!(chosen("nickname", &jamo).unwrap().as_str(), "한글");
        assert!(alike("Jose\u{301}", "José"));
    }

    #[test]
    fn korean_japanese_arabic_and_emoji_names_are_welcome() {
        for name in [
            "김민수",
            "이지은 Jieun",
            "さくら",
            "山田太郎",
            "ヤマダ",
            "محمد",
            "فاطمة الزهراء",
            "🦀 Ferris",
            "👩\u{200D}💻 Dev",
            "👨\u{1F3FD}\u{200D}🚀",
            "❤\u{FE0F}\u{200D}🔥",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F} Scot",
            "🇰🇷",
            // An ideographic variation sequence: a glyph variant of a family name.
            "葛\u{E0100}飾",
        ] {
            assert_eq!(
                chosen("nickname", &nick(name)).unwrap().as_str(),
                name,
                "{name}"
            );
        }
        // Different names in each script stay different.
        for (a, b) in [
            ("김민수", "김민준"),
            ("さくら", "さくま"),
            ("محمد", "أحمد"),
            ("🦀 Ferris", "🐍 Ferris"),
        ] {
            assert!(!alike(a, b), "{a} and {b}");
        }
    }

    #[test]
    fn a_name_of_fillers_only_is_blank() {
        assert_eq!(
            chosen("nickname", &nick("\u{3164}\u{3164}")),
            Err(RefusedName::Blank { what: "nickname" })
        );
    }

    #[test]
    fn look_alikes_share_a_key_and_other_names_do_not() {
        for (a, b) in [
            ("Alice", "ALICE"),
            ("Alice", "\u{410}lice"),
            ("alice", "\u{430}lice"),
            ("Alice", "AIice"),
            ("alice", "a1ice"),
            ("Alice", "Alice\u{3164}"),
            ("Alice", "\u{FF21}lice"),
        ] {
            assert!(alike(a, b), "{a} and {b:?} look alike");
        }
        for (a, b) in [("Alice", "Alicia"), ("alice", "aiice"), ("bob", "rob")] {
            assert!(!alike(a, b), "{a} and {b} differ");
        }
    }

    #[test]
    fn the_map_finds_holders_of_look_alikes_and_releases_what_nobody_holds() {
        let (alice, bob) = (UserId(1), UserId(2));
        let mut map = NickMap::default();
        map.insert(&nick("Alice"), alice);
        assert_eq!(map.holder(&nick("\u{410}lice")), Some(alice));
        assert_eq!(map.named(&nick("\u{410}lice")), None);
        assert_eq!(map.named(&nick("ALICE")), Some(alice));
        assert!(map.taken_from(&nick("AIice"), bob));
        assert!(!map.taken_from(&nick("AIice"), alice));
        assert!(map.holds_all(&nick("Alice"), alice));
        assert!(!map.holds_all(&nick("ALICE"), alice));
        // A rename to ALICE keeps the lower-case key, and lets the other go.
        map.remove(&nick("Alice"), alice);
        map.insert(&nick("ALICE"), alice);
        assert_eq!(map.unheld(&nick("Alice")), ["s:Alice"]);
        map.remove(&nick("ALICE"), alice);
        assert_eq!(map.holder(&nick("Alice")), None);
        assert_eq!(map.unheld(&nick("ALICE")).len(), 2);
    }
}
