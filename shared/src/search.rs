//! Search (issue #30): what a `search` request asks ([`SearchQuery`], [`SearchOrder`], a
//! [`SearchCursor`] to page on) and what `search_results` finds ([`SearchHit`]). The query is
//! the words people type, with filters (`from:`, `in:`, `has:image`, `before:`, `after:`);
//! the server reads it (docs/PROTOCOL.md, "Search"), so both sides agree on nothing more
//! than this text.

use serde::{Deserialize, Serialize};

use crate::ids::{InvalidName, MessageId, Nick, RoomName};

/// Results in one `search_results` page.
pub const SEARCH_PAGE: usize = 20;

/// What was typed in the search box: not blank, at most [`SearchQuery::MAX_CHARS`]
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SearchQuery(String);

impl SearchQuery {
    /// Longest query, in characters.
    pub const MAX_CHARS: usize = 200;

    /// The query as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SearchQuery {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "search";
        if value.trim().is_empty() {
            return Err(InvalidName::Empty { what: WHAT });
        }
        if value.chars().count() > Self::MAX_CHARS {
            return Err(InvalidName::TooLong {
                what: WHAT,
                max: Self::MAX_CHARS,
            });
        }
        Ok(Self(value))
    }
}

impl std::str::FromStr for SearchQuery {
    type Err = InvalidName;
    fn from_str(value: &str) -> Result<Self, InvalidName> {
        Self::try_from(value.to_owned())
    }
}

impl From<SearchQuery> for String {
    fn from(value: SearchQuery) -> String {
        value.0
    }
}

/// Where paging on from a `search_results` page starts: the server's, given back as it came
/// (at most [`SearchCursor::MAX_BYTES`] bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SearchCursor(String);

impl SearchCursor {
    /// Longest cursor, in bytes.
    pub const MAX_BYTES: usize = 100;

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SearchCursor {
    type Error = InvalidName;
    fn try_from(value: String) -> Result<Self, InvalidName> {
        const WHAT: &str = "search cursor";
        if value.is_empty() {
            return Err(InvalidName::Empty { what: WHAT });
        }
        if value.len() > Self::MAX_BYTES {
            return Err(InvalidName::TooLong {
                what: WHAT,
                max: Self::MAX_BYTES,
            });
        }
        Ok(Self(value))
    }
}

impl From<SearchCursor> for String {
    fn from(value: SearchCursor) -> String {
        value.0
    }
}

/// The order of results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchOrder {
    /// Newest first.
    #[default]
    Newest,
    /// Best match first (the words rarer in the chat and more often in the message count
    /// more; ties newest first).
    Best,
}

/// One message found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Its room; none for a direct message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<RoomName>,
    /// Its position in the room (rooms only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// A direct message's recipient (the nickname then; with `from`, the conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Nick>,
    /// The message's id.
    pub id: MessageId,
    /// Who wrote it (the nickname at the time).
    pub from: Nick,
    /// When, milliseconds since the Unix epoch.
    pub ts: u64,
    /// Its text now (after its last edit).
    pub text: String,
    /// The matched words: byte ranges `[start, end)` of `text`, in order, not overlapping.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<[u32; 2]>,
    /// It has an image.
    #[serde(default, skip_serializing_if = "is_false")]
    pub image: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}
