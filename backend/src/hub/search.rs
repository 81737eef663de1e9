//! Search: a `search` is checked and scoped here (the rooms the asker may not read now are
//! named to the engine, which never searches them; their own direct messages are theirs by
//! key) and answered from the engine's index, the same in both modes.
//!
//! "May read now" is the rule of joining: a public room, a private room that admits them
//! (invited, owner, moderator; a server admin, except groups), never a room that banned
//! them or a group they left. Search never shows more than opening the room would.

// One part of `impl Hub`: the hub's types, and what they are built from, come from `mod.rs`.
use shared::search::{SEARCH_PAGE, SearchCursor, SearchOrder, SearchQuery};

use super::{ConnId, Ctx, ErrorCode, Hub, RoomName, ServerMsg, UserId, engine};

/// Searches in flight at once, across the hub: beyond, `overloaded` (each connection is
/// also held to its request rate).
const MAX_SEARCHING: usize = 64;

impl Hub {
    pub(super) fn search(
        &mut self,
        conn: ConnId,
        user: UserId,
        query: SearchQuery,
        order: SearchOrder,
        cursor: Option<SearchCursor>,
        utc_offset: i32,
    ) {
        if !self.policies_loaded {
            let message = "room permissions are still loading; try again shortly";
            return self.refuse(conn, ErrorCode::StoreFailed, message, None);
        }
        if self.searching >= MAX_SEARCHING {
            let message = "too many searches at once; try again shortly";
            return self.refuse(conn, ErrorCode::Overloaded, message, None);
        }
        let parsed = match engine::search::Query::parse(query.as_str(), utc_offset) {
            Ok(parsed) => parsed,
            Err(message) => return self.refuse(conn, ErrorCode::Invalid, &message, None),
        };
        let Some(me) = self.key_of(user) else {
            return;
        };
        let excluded: Vec<RoomName> = self
            .policies
            .keys()
            .filter(|room| !self.may_read(Some(&me), room))
            .cloned()
            .collect();
        self.searching += 1;
        let request = engine::search::Request {
            query: parsed,
            order,
            cursor: cursor.map(String::from),
            me,
            excluded,
            limit: SEARCH_PAGE,
        };
        self.engine.search(Ctx::Search { conn, query }, request);
    }

    /// The engine's answer to `conn`'s search of `query`.
    pub(super) fn found(
        &mut self,
        conn: ConnId,
        query: SearchQuery,
        result: Result<engine::search::Page, engine::EngineError>,
    ) {
        self.searching = self.searching.saturating_sub(1);
        match result {
            Ok(page) => {
                let event = ServerMsg::SearchResults {
                    query,
                    hits: page.hits,
                    next: page.next.and_then(|next| SearchCursor::try_from(next).ok()),
                };
                self.send_to(conn, &event);
            }
            Err(err) => {
                let message = format!("the search failed ({err}); try again");
                self.refuse(conn, ErrorCode::StoreFailed, &message, None);
            }
        }
    }
}
