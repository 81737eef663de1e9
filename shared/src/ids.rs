//! Validated newtypes for everything a client names: parse, don't validate. A value of one of
//! these types is valid by construction; decoding a bad one fails with the precise reason.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidName {
    /// Nothing (or only spaces) was given.
    #[error("{what} is empty")]
    Empty {
        /// What was being named ("nickname", "room name", ...).
        what: &'static str,
    },
    /// Longer than allowed, counted in characters (Unicode scalar values).
    #[error("{what} is longer than {max} characters")]
    TooLong {
        /// What was being named.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// Contains a character the kind of name does not allow.
    // The character and its code point (a control character or a space shows as nothing).
    #[error("{what} contains '{found}' (U+{:04X}), which is not allowed ({rule})", u32::from(*found))]
    BadCharacter {
        /// What was being named.
        what: &'static str,
        /// The first offending character.
        found: char,
        /// What is allowed, in words.
        rule: &'static str,
    },
}

fn check_length(what: &'static str, value: &str, max: usize) -> Result<(), InvalidName> {
    if value.trim().is_empty() {
        return Err(InvalidName::Empty { what });
    }
    if value.chars().count() > max {
        return Err(InvalidName::TooLong { what, max });
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidName;
            fn try_from(value: &str) -> Result<Self, InvalidName> {
                Self::try_from(value.to_owned())
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidName;
            fn from_str(value: &str) -> Result<Self, InvalidName> {
                Self::try_from(value.to_owned())
            }
        }
    };
}

string_newtype!(
    /// A user's display name: 1–32 characters, no control characters, no leading or trailing
    /// spaces. Unique among connected users ignoring case (see [`Nick::key`]); the server adds
    /// rules for the names people choose (NFC, no invisible formatting characters) and also
    /// refuses look-alikes, with Unicode tables kept out of this crate (and so of the wasm).
    Nick
);

impl Nick {
    /// Longest nickname, in characters.
    pub const MAX_CHARS: usize = 32;

    /// The form compared for uniqueness: "Alice" and "alice" are the same user. Also what an
    /// account's identity is derived from, so it must stay the plain lower case.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl TryFrom<String> for Nick {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "nickname";
        check_length(WHAT, &value, Self::MAX_CHARS)?;
        if let Some(found) = value.chars().find(|c| c.is_control()) {
            return Err(InvalidName::BadCharacter {
                what: WHAT,
                found,
                rule: "no control characters",
            });
        }
        if value.trim() != value {
            return Err(InvalidName::BadCharacter {
                what: WHAT,
                found: ' ',
                rule: "no leading or trailing spaces",
            });
        }
        Ok(Self(value))
    }
}

string_newtype!(
    /// A room's name: 1–32 letters (any script), digits, `-` or `_`, stored in lower case so
    /// that `Lobby` and `lobby` are one room.
    RoomName
);

impl RoomName {
    /// Longest room name, in characters.
    pub const MAX_CHARS: usize = 32;
    /// The room every new user is put in.
    pub const DEFAULT: &str = "lobby";

    /// The default room, [`RoomName::DEFAULT`].
    pub fn default_room() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl TryFrom<String> for RoomName {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "room name";
        // Check the lower-cased form, which is what is stored: lower-casing can add characters
        // (e.g. 'İ' becomes 'i' + U+0307, a combining mark), found by fuzzing.
        let value = value.to_lowercase();
        check_length(WHAT, &value, Self::MAX_CHARS)?;
        if let Some(found) = value
            .chars()
            .find(|&c| !(c.is_alphanumeric() || c == '-' || c == '_'))
        {
            return Err(InvalidName::BadCharacter {
                what: WHAT,
                found,
                rule: "letters, digits, '-' and '_' only",
            });
        }
        Ok(Self(value))
    }
}

string_newtype!(
    /// An id the client picks for a message it sends (1–64 of `A-Z a-z 0-9 - _`); the server's
    /// echo carries it back so the sender can match its pending message.
    ClientMsgId
);

impl TryFrom<String> for ClientMsgId {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        token_like("client message id", value, 64).map(Self)
    }
}

string_newtype!(
    /// The identity of a message log (1–64 of `A-Z a-z 0-9 - _`), chosen at random when the
    /// log is created. Sequence numbers and ids mean something only within one epoch: if the
    /// server's data is lost or replaced, the log starts again under a new epoch, and a client
    /// resuming with the old one gets a `reset` instead of unrelated messages.
    Epoch
);

impl TryFrom<String> for Epoch {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        token_like("epoch", value, 64).map(Self)
    }
}

string_newtype!(
    /// A browser's secret for "this is still me" (16–128 of `A-Z a-z 0-9 - _`), kept in
    /// localStorage and so shared by its tabs: a second tab with the same nickname and token
    /// is the same user, anyone else asking for that nickname is refused.
    UserToken
);

impl TryFrom<String> for UserToken {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "user token";
        if value.chars().count() < 16 {
            return Err(InvalidName::Empty { what: WHAT });
        }
        token_like(WHAT, value, 128).map(Self)
    }
}

fn token_like(what: &'static str, value: String, max: usize) -> Result<String, InvalidName> {
    check_length(what, &value, max)?;
    if let Some(found) = value
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    {
        return Err(InvalidName::BadCharacter {
            what,
            found,
            rule: "A-Z, a-z, 0-9, '-' and '_' only",
        });
    }
    Ok(value)
}

string_newtype!(
    /// A reaction: an emoji as typed (such as 👍, 🇰🇷 or 👩‍💻; at most 32 bytes, no letters,
    /// digits, spaces or control characters). The server does
    /// not keep a list of emoji: anything that looks like one is accepted, so new emoji work.
    Emoji
);

impl TryFrom<String> for Emoji {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "emoji";
        if value.is_empty() {
            return Err(InvalidName::Empty { what: WHAT });
        }
        if value.len() > 32 {
            return Err(InvalidName::TooLong {
                what: WHAT,
                max: 32,
            });
        }
        // Keycaps (#️⃣, 1️⃣) start with an ASCII character; every other emoji is outside ASCII.
        // Letters in other scripts (가, é) are refused: a reaction is a picture, not a word.
        let keycap = value.ends_with('\u{20E3}');
        if let Some(found) = value.chars().find(|&c| {
            c.is_control()
                || c.is_whitespace()
                || (c.is_ascii() && !keycap)
                || (!c.is_ascii() && c.is_alphanumeric())
        }) {
            return Err(InvalidName::BadCharacter {
                what: WHAT,
                found,
                rule: "one emoji",
            });
        }
        Ok(Self(value))
    }
}

string_newtype!(
    /// An uploaded file's content address: the SHA-256 of its bytes, 64 lower-case hex digits.
    UploadId
);

impl TryFrom<String> for UploadId {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "upload id";
        if value.len() != 64 {
            return Err(InvalidName::TooLong {
                what: WHAT,
                max: 64,
            });
        }
        if let Some(found) = value.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
            return Err(InvalidName::BadCharacter {
                what: WHAT,
                found,
                rule: "64 lower-case hex digits",
            });
        }
        Ok(Self(value))
    }
}

/// A server-assigned message id, increasing: unique within a room's log, and within each
/// user's log of direct messages (in cluster mode the sender's and the recipient's copies of
/// one direct message have ids of their own logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_rules() {
        assert!(Nick::try_from("앨리스 Alice").is_ok());
        assert_eq!(
            Nick::try_from("  "),
            Err(InvalidName::Empty { what: "nickname" })
        );
        assert!(matches!(
            Nick::try_from("a".repeat(33).as_str()),
            Err(InvalidName::TooLong { max: 32, .. })
        ));
        assert!(Nick::try_from("가".repeat(32).as_str()).is_ok());
        assert!(matches!(
            Nick::try_from("bad\u{7}"),
            Err(InvalidName::BadCharacter { found: '\u{7}', .. })
        ));
        assert!(Nick::try_from(" padded").is_err());
        assert_eq!(Nick::try_from("ALICE").unwrap().key(), "alice");
    }

    #[test]
    fn room_rules() {
        assert_eq!(
            RoomName::try_from("Rust-KR_2").unwrap().as_str(),
            "rust-kr_2"
        );
        assert_eq!(RoomName::try_from("한국어").unwrap().as_str(), "한국어");
        assert!(RoomName::try_from("has space").is_err());
        assert!(RoomName::try_from("").is_err());
        assert!(RoomName::try_from("x".repeat(33).as_str()).is_err());
        // Fuzzing regression: the stored (lower-cased) form must keep the rules too.
        assert!(matches!(
            RoomName::try_from("İ"),
            Err(InvalidName::BadCharacter {
                found: '\u{307}',
                ..
            })
        ));
    }

    #[test]
    fn token_rules() {
        assert!(UserToken::try_from("abcdefghijklmnop").is_ok());
        assert!(UserToken::try_from("short").is_err());
        assert!(ClientMsgId::try_from("c-1").is_ok());
        assert!(ClientMsgId::try_from("c 1").is_err());
    }

    #[test]
    fn emoji_rules() {
        for ok in ["👍", "❤️", "🇰🇷", "👩\u{200d}💻", "1\u{fe0f}\u{20e3}", "😂"] {
            assert!(Emoji::try_from(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "가", "👍 ", "\u{7}", ":+1:", &"👍".repeat(9)] {
            assert!(Emoji::try_from(bad).is_err(), "{bad:?}");
        }
    }
}
