//! The search index: its tables (in the message store's SQLite file in single-node mode,
//! kept in the transaction of each message; in a node's own file in cluster mode, fed from
//! the Redis logs), what keeps it up to date ([`put`], [`edit`], [`remove`]) and the one
//! query that answers a search ([`search`]), the same in both modes.
//!
//! Two FTS5 indexes over the folded text, both contentless (the text is in `search_docs`
//! once): `search_tri` (trigrams: any substring of three characters or more, in any script)
//! and `search_short` (words, and each character and pair of Korean, Japanese and Chinese
//! runs: one- and two-character queries). A document's key orders it by time (`ts` in the
//! high bits, see `free_key`), so "newest first" walks an index backwards and stops after a page, and two
//! nodes holding the same messages order them the same way.

use rusqlite::{Connection, OptionalExtension as _, ToSql, params};
use shared::{
    MessageId, Nick, RoomName,
    search::{SearchHit, SearchOrder},
};

use super::{
    fold::{fold, fold_mapped, short_tokens},
    query::{In, Kind, Query, kind},
};

/// The index's tables; `IF NOT EXISTS`, so opening an index twice is harmless.
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS search_docs (
        doc INTEGER PRIMARY KEY,
        room TEXT,
        owner TEXT,
        seq INTEGER NOT NULL,
        id INTEGER NOT NULL,
        from_nick TEXT NOT NULL,
        from_key TEXT NOT NULL,
        to_nick TEXT,
        to_key TEXT,
        ts INTEGER NOT NULL,
        image INTEGER NOT NULL,
        text TEXT NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS search_docs_room ON search_docs (room, id)
        WHERE room IS NOT NULL;
    CREATE UNIQUE INDEX IF NOT EXISTS search_docs_direct ON search_docs (owner, id)
        WHERE room IS NULL;
    CREATE INDEX IF NOT EXISTS search_docs_direct_id ON search_docs (id) WHERE room IS NULL;
    CREATE INDEX IF NOT EXISTS search_docs_from ON search_docs (from_key, doc);
    CREATE VIRTUAL TABLE IF NOT EXISTS search_tri USING fts5(
        text, tokenize = 'trigram', content = '', contentless_delete = 1
    );
    CREATE VIRTUAL TABLE IF NOT EXISTS search_short USING fts5(
        text, tokenize = 'unicode61 remove_diacritics 0', content = '', contentless_delete = 1
    );
    CREATE TRIGGER IF NOT EXISTS search_docs_gone AFTER DELETE ON search_docs BEGIN
        DELETE FROM search_tri WHERE rowid = old.doc;
        DELETE FROM search_short WHERE rowid = old.doc;
    END;
";

/// Rows one page may look at before it answers with what it found (and a cursor to go on):
/// a query whose filters almost nothing passes costs a bounded time per page.
const MAX_EXAMINED: usize = 20_000;

/// "Best match" ranks the newest this many matches (recent messages are what a team chat
/// looks for; ranking all of a common word's matches costs their count).
const BEST_WINDOW: i64 = 2_000;

/// A message to index. A direct message is indexed once for each of its two people (its
/// `owner`): each finds it among their own, whichever log it was read from.
#[derive(Debug, Clone)]
pub struct Doc<'a> {
    /// Its room (none: a direct message).
    pub room: Option<&'a RoomName>,
    /// A direct message's copy: whose (user key).
    pub owner: Option<&'a str>,
    /// Its position in the room (0 for a direct message).
    pub seq: u64,
    /// Its id.
    pub id: MessageId,
    /// The sender's nickname then.
    pub from: &'a Nick,
    /// A direct message's recipient's nickname then.
    pub to: Option<&'a Nick>,
    /// When, ms since the epoch.
    pub ts: u64,
    /// It has an image.
    pub image: bool,
    /// Its text now.
    pub text: &'a str,
}

/// Indexes `doc`; a message indexed already is left as it is (a replay of the logs is
/// harmless).
pub fn put(db: &Connection, doc: &Doc<'_>) -> rusqlite::Result<()> {
    let exists = match doc.room {
        Some(room) => find(db, room, doc.id)?.is_some(),
        None => db
            .prepare_cached(
                "SELECT 1 FROM search_docs WHERE room IS NULL AND owner = ?1 AND id = ?2",
            )?
            .exists(params![doc.owner, doc.id.0])?,
    };
    if exists {
        return Ok(());
    }
    let key = free_key(db, doc)?;
    db.prepare_cached(
        "INSERT INTO search_docs
             (doc, room, owner, seq, id, from_nick, from_key, to_nick, to_key, ts, image, text)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        key,
        doc.room.map(RoomName::as_str),
        doc.owner,
        doc.seq,
        doc.id.0,
        doc.from.as_str(),
        doc.from.key(),
        doc.to.map(Nick::as_str),
        doc.to.map(Nick::key),
        doc.ts,
        doc.image,
        doc.text,
    ])?;
    index_text(db, key, doc.text)
}

/// The message `id` of `room` now reads `text` (direct messages are not edited).
pub fn edit(db: &Connection, room: &RoomName, id: MessageId, text: &str) -> rusqlite::Result<()> {
    let found: Option<(i64, String)> = db
        .prepare_cached("SELECT doc, text FROM search_docs WHERE room = ?1 AND id = ?2")?
        .query_row(params![room.as_str(), id.0], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((key, now)) = found else {
        return Ok(());
    };
    if now == text {
        return Ok(());
    }
    db.prepare_cached("UPDATE search_docs SET text = ?2 WHERE doc = ?1")?
        .execute(params![key, text])?;
    db.prepare_cached("DELETE FROM search_tri WHERE rowid = ?1")?
        .execute([key])?;
    db.prepare_cached("DELETE FROM search_short WHERE rowid = ?1")?
        .execute([key])?;
    index_text(db, key, text)
}

/// The message `id` (of `room`, or a direct message) is gone: deleted, or removed by
/// retention.
pub fn remove(db: &Connection, room: Option<&RoomName>, id: MessageId) -> rusqlite::Result<()> {
    match room {
        Some(room) => db
            .prepare_cached("DELETE FROM search_docs WHERE room = ?1 AND id = ?2")?
            .execute(params![room.as_str(), id.0])?,
        None => db
            .prepare_cached("DELETE FROM search_docs WHERE room IS NULL AND id = ?1")?
            .execute([id.0])?,
    };
    Ok(())
}

fn index_text(db: &Connection, key: i64, text: &str) -> rusqlite::Result<()> {
    let folded = fold(text);
    db.prepare_cached("INSERT INTO search_tri (rowid, text) VALUES (?1, ?2)")?
        .execute(params![key, folded])?;
    db.prepare_cached("INSERT INTO search_short (rowid, text) VALUES (?1, ?2)")?
        .execute(params![key, short_tokens(&folded)])?;
    Ok(())
}

fn find(db: &Connection, room: &RoomName, id: MessageId) -> rusqlite::Result<Option<i64>> {
    db.prepare_cached("SELECT doc FROM search_docs WHERE room = ?1 AND id = ?2")?
        .query_row(params![room.as_str(), id.0], |row| row.get(0))
        .optional()
}

/// A document's key: its time in the high bits, its position's low 12 bits below (so every
/// node gives the same message the same key, and messages of one room or of one person's
/// direct messages within the same millisecond keep their order), the next free one if
/// taken (the other copy of a direct message; two rooms' messages of the same millisecond
/// and the same low bits, where two nodes may then order those two differently).
fn free_key(db: &Connection, doc: &Doc<'_>) -> rusqlite::Result<i64> {
    let position = if doc.room.is_some() {
        doc.seq
    } else {
        doc.id.0
    };
    let ts = doc.ts.min((1 << 50) - 1) as i64;
    let mut key = (ts << 12) | (position & 0xfff) as i64;
    let mut taken = db.prepare_cached("SELECT 1 FROM search_docs WHERE doc = ?1")?;
    while taken.exists([key])? {
        key += 1;
    }
    Ok(key)
}

/// A search, as the hub asks it.
#[derive(Debug, Clone)]
pub struct Request {
    /// What to find.
    pub query: Query,
    /// In which order.
    pub order: SearchOrder,
    /// Where the previous page ended (the answer's `next`).
    pub cursor: Option<String>,
    /// Who asks (user key): their direct messages are searched.
    pub me: String,
    /// The rooms they may not read now (private rooms they are not in, rooms that banned
    /// them): never searched.
    pub excluded: Vec<RoomName>,
    /// Hits per page.
    pub limit: usize,
}

/// One page of hits (the engines' word for it, [`SearchPage`]).
pub use crate::engine::vocabulary::SearchPage as Page;

/// Answers `request` (see the module's docs).
pub fn search(db: &Connection, request: &Request) -> rusqlite::Result<Page> {
    let query = &request.query;
    let match_of = |wanted: &dyn Fn(Kind) -> bool| {
        let parts: Vec<String> = query
            .terms
            .iter()
            .filter(|t| wanted(kind(t)))
            .map(|t| fts_term(t))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" AND "))
    };
    let long = match_of(&|k| k == Kind::Long);
    let short = match_of(&|k| k != Kind::Long);
    let mut sql = String::from(
        "SELECT d.doc, d.room, d.seq, d.id, d.from_nick, d.to_nick, d.ts, d.image, d.text FROM ",
    );
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let (driver, rank) = match (&long, &short) {
        // The short terms of a query with a long one are checked on the text of each match
        // (`marks`), not by the word index: matching them there first collects every
        // document with a common syllable (W8: 40 ms at the 99th percentile).
        (Some(long), _) => {
            sql.push_str(
                "search_tri t JOIN search_docs d ON d.doc = t.rowid WHERE search_tri MATCH ?",
            );
            args.push(Box::new(long.clone()));
            ("t.rowid", "bm25(search_tri)")
        }
        (None, Some(short)) => {
            sql.push_str(
                "search_short t JOIN search_docs d ON d.doc = t.rowid WHERE search_short MATCH ?",
            );
            args.push(Box::new(short.clone()));
            ("t.rowid", "bm25(search_short)")
        }
        (None, None) => {
            sql.push_str("search_docs d WHERE 1");
            ("d.doc", "0")
        }
    };
    // Only what the asker may read now: their own direct messages, rooms not excluded.
    sql.push_str(
        " AND (CASE WHEN d.room IS NULL THEN d.owner = ?
                ELSE d.room NOT IN (SELECT value FROM json_each(?)) END)",
    );
    args.push(Box::new(request.me.clone()));
    let excluded: Vec<&str> = request.excluded.iter().map(RoomName::as_str).collect();
    // Fails closed: no list, no search.
    let excluded = serde_json::to_string(&excluded)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))?;
    args.push(Box::new(excluded));
    if let Some(from) = &query.from {
        sql.push_str(" AND d.from_key = ?");
        args.push(Box::new(from.clone()));
    }
    match &query.place {
        Some(In::Room(room)) => {
            sql.push_str(" AND d.room = ?");
            args.push(Box::new(room.as_str().to_owned()));
        }
        Some(In::Direct(nick)) => {
            sql.push_str(" AND d.room IS NULL AND (d.from_key = ? OR d.to_key = ?)");
            args.push(Box::new(nick.clone()));
            args.push(Box::new(nick.clone()));
        }
        None => {}
    }
    if query.image {
        sql.push_str(" AND d.image = 1");
    }
    if let Some(before) = query.before {
        sql.push_str(" AND d.ts < ?");
        args.push(Box::new(before as i64));
    }
    if let Some(after) = query.after {
        sql.push_str(" AND d.ts >= ?");
        args.push(Box::new(after as i64));
    }
    let (mut skip, mut best_floor) = (0usize, i64::MIN);
    match request.order {
        SearchOrder::Newest => {
            if let Some(before) = cursor_number(request.cursor.as_deref(), 't') {
                sql.push_str(&format!(" AND {driver} < ?"));
                args.push(Box::new(before));
            }
            sql.push_str(&format!(" ORDER BY {driver} DESC"));
        }
        SearchOrder::Best => {
            // Ranked among the newest [`BEST_WINDOW`] matches: ranking every match of a
            // common word costs its count (W8: 114 ms at the 99th percentile for a million
            // messages). The window's start is fixed by the first page and kept in the
            // cursor, so later pages rank the same set.
            // The window is of what the asker may read and the filters pass (a window of
            // everything would tell, through the cursor, how many hidden messages match).
            let (offset, floor) = match best_cursor(request.cursor.as_deref()) {
                Some(cursor) => cursor,
                None => {
                    let window = format!(
                        "{sql} ORDER BY {driver} DESC LIMIT 1 OFFSET {}",
                        BEST_WINDOW - 1
                    );
                    let floor: Option<i64> = db
                        .prepare_cached(&window)?
                        .query_row(rusqlite::params_from_iter(args.iter()), |row| row.get(0))
                        .optional()?;
                    (0, floor.unwrap_or(i64::MIN))
                }
            };
            if offset >= BEST_WINDOW as usize {
                // Past the window: nothing more (a crafted offset costs nothing).
                return Ok(Page::default());
            }
            skip = offset;
            best_floor = floor;
            if floor > i64::MIN {
                sql.push_str(&format!(" AND {driver} >= ?"));
                args.push(Box::new(floor));
            }
            sql.push_str(&format!(" ORDER BY {rank}, {driver} DESC"));
        }
    }
    // A few dozen shapes at most (which filters are present): cached like the fixed ones.
    let mut statement = db.prepare_cached(&sql)?;
    let mut rows = statement.query(rusqlite::params_from_iter(args.iter()))?;
    let mut page = Page::default();
    let (mut examined, mut last_key) = (0usize, None);
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            // Out of time (the searcher's budget): what was found, and where to go on.
            Err(rusqlite::Error::SqliteFailure(err, _))
                if err.code == rusqlite::ErrorCode::OperationInterrupted
                    && (last_key.is_some() || !page.hits.is_empty()) =>
            {
                page.next = match request.order {
                    SearchOrder::Newest => last_key.map(|key| format!("t{key}")),
                    SearchOrder::Best => Some(format!("b{examined}:{best_floor}")),
                };
                break;
            }
            Err(err) => return Err(err),
        };
        examined += 1;
        if examined <= skip {
            continue;
        }
        let key: i64 = row.get(0)?;
        if page.hits.len() == request.limit || examined - skip > MAX_EXAMINED {
            // More to come: the next page starts here.
            page.next = Some(match request.order {
                SearchOrder::Newest => format!("t{}", last_key.unwrap_or(key + 1)),
                SearchOrder::Best => format!("b{}:{best_floor}", examined - 1),
            });
            break;
        }
        last_key = Some(key);
        let text: String = row.get(8)?;
        let Some(marks) = marks(&text, &query.terms) else {
            continue;
        };
        let room: Option<String> = row.get(1)?;
        let from: String = row.get(4)?;
        let to: Option<String> = row.get(5)?;
        let room = room.map(|name| name.parse::<RoomName>()).transpose();
        let to = to.map(|nick| nick.parse::<Nick>()).transpose();
        let (Ok(room), Ok(from), Ok(to)) = (room, from.parse::<Nick>(), to) else {
            continue;
        };
        page.hits.push(SearchHit {
            seq: room.is_some().then(|| row.get::<_, u64>(2)).transpose()?,
            room,
            to,
            id: MessageId(row.get(3)?),
            from,
            ts: row.get(6)?,
            text,
            marks,
            image: row.get(7)?,
        });
    }
    Ok(page)
}

/// A term as FTS5 reads it: a quoted string (quotes doubled); a word start with `*`; an
/// unspaced pair or character as its token; mixed short text as the phrase of its tokens.
fn fts_term(term: &str) -> String {
    let quoted = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
    match kind(term) {
        Kind::Long => quoted(term),
        Kind::Prefix => format!("{}*", quoted(term)),
        Kind::Unspaced => {
            if term.chars().all(super::fold::is_unspaced) {
                quoted(term)
            } else {
                // A digit or letter beside a syllable ("2시"): the other is part of a word
                // ("12시" is the tokens "12" and "시"), so only the syllable is looked up and
                // the pair is checked on the text (`marks`).
                let unspaced: String = term
                    .chars()
                    .filter(|&c| super::fold::is_unspaced(c))
                    .collect();
                quoted(&unspaced)
            }
        }
    }
}

fn cursor_number(cursor: Option<&str>, kind: char) -> Option<i64> {
    cursor?.strip_prefix(kind)?.parse().ok()
}

/// A best-match cursor: the rows ranked before the page, and the window's oldest key.
fn best_cursor(cursor: Option<&str>) -> Option<(usize, i64)> {
    let (offset, floor) = cursor?.strip_prefix('b')?.split_once(':')?;
    Some((offset.parse().ok()?, floor.parse().ok()?))
}

/// Where `terms` are in `text` (byte ranges, sorted, merged); none if one of them is not
/// there after all (the indexes are a superset: a mixed pair found as two tokens, say).
fn marks(text: &str, terms: &[String]) -> Option<Vec<[u32; 2]>> {
    let (folded, map) = fold_mapped(text);
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for term in terms {
        let found: Vec<usize> = match kind(term) {
            Kind::Prefix => folded
                .match_indices(term.as_str())
                .map(|(at, _)| at)
                .filter(|&at| {
                    !folded[..at]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_alphanumeric)
                })
                .collect(),
            _ => folded
                .match_indices(term.as_str())
                .map(|(at, _)| at)
                .collect(),
        };
        if found.is_empty() {
            return None;
        }
        for at in found {
            let end = at + term.len() - 1;
            ranges.push((map[at].0, map[end].1));
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<[u32; 2]> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match merged.last_mut() {
            Some(last) if start <= last[1] => last[1] = last[1].max(end),
            _ => merged.push([start, end]),
        }
    }
    Some(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch(SCHEMA).unwrap();
        db
    }

    fn nick(name: &str) -> Nick {
        name.parse().unwrap()
    }

    fn room(name: &str) -> RoomName {
        name.parse().unwrap()
    }

    fn say(db: &Connection, room_name: &str, id: u64, from: &str, text: &str) {
        let room = room(room_name);
        let from = nick(from);
        put(
            db,
            &Doc {
                room: Some(&room),
                owner: None,
                seq: id,
                id: MessageId(id),
                from: &from,
                to: None,
                ts: 1_000_000 + id,
                image: false,
                text,
            },
        )
        .unwrap();
    }

    fn find_all(db: &Connection, text: &str) -> Vec<String> {
        let request = Request {
            query: Query::parse(text, 0).unwrap(),
            order: SearchOrder::Newest,
            cursor: None,
            me: "me".to_owned(),
            excluded: vec![room("secret")],
            limit: 50,
        };
        search(db, &request)
            .unwrap()
            .hits
            .into_iter()
            .map(|hit| hit.text)
            .collect()
    }

    #[test]
    fn finds_korean_of_any_length_english_words_and_substrings() {
        let db = db();
        say(&db, "lobby", 1, "ann", "내일회의는 3시");
        say(&db, "lobby", 2, "bob", "see rust/config.toml");
        say(
            &db,
            "lobby",
            3,
            "ann",
            "Café au lait, 会議室 and ミーティング",
        );
        say(&db, "secret", 4, "ann", "회의 in secret");
        say(&db, "cafe", 5, "dan", "점심은 12시");
        assert_eq!(find_all(&db, "회의"), ["내일회의는 3시"]);
        assert_eq!(find_all(&db, "회"), ["내일회의는 3시"]);
        assert_eq!(find_all(&db, "일회의"), ["내일회의는 3시"]);
        assert_eq!(find_all(&db, "3시"), ["내일회의는 3시"]);
        assert_eq!(
            find_all(&db, "2시"),
            ["점심은 12시"],
            "a digit inside a number"
        );
        assert_eq!(find_all(&db, "시"), ["점심은 12시", "내일회의는 3시"]);
        assert_eq!(find_all(&db, "config"), ["see rust/config.toml"]);
        assert_eq!(find_all(&db, "CONF"), ["see rust/config.toml"]);
        assert_eq!(
            find_all(&db, "co"),
            ["see rust/config.toml"],
            "a word start"
        );
        assert_eq!(
            find_all(&db, "cafe"),
            ["Café au lait, 会議室 and ミーティング"]
        );
        assert_eq!(
            find_all(&db, "会議"),
            ["Café au lait, 会議室 and ミーティング"]
        );
        assert_eq!(
            find_all(&db, "ティ"),
            ["Café au lait, 会議室 and ミーティング"]
        );
        assert_eq!(find_all(&db, "rust 3시"), Vec::<String>::new(), "all words");
        assert_eq!(find_all(&db, "see toml"), ["see rust/config.toml"]);
        assert_eq!(find_all(&db, "from:bob"), ["see rust/config.toml"]);
        assert_eq!(find_all(&db, "in:lobby 시"), ["내일회의는 3시"]);
    }

    #[test]
    fn edits_and_removals_change_what_is_found() {
        let db = db();
        say(&db, "lobby", 1, "ann", "old words");
        edit(&db, &room("lobby"), MessageId(1), "new text").unwrap();
        assert!(find_all(&db, "old").is_empty());
        assert_eq!(find_all(&db, "new"), ["new text"]);
        remove(&db, Some(&room("lobby")), MessageId(1)).unwrap();
        assert!(find_all(&db, "new").is_empty());
        let rows: i64 = db
            .query_row("SELECT count(*) FROM search_docs", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn marks_point_at_the_original_characters() {
        let text = "Ｃafé: 내일회의는";
        let marks = marks(text, &["cafe".to_owned(), "회의".to_owned()]).unwrap();
        let marked: Vec<&str> = marks
            .iter()
            .map(|[from, to]| &text[*from as usize..*to as usize])
            .collect();
        assert_eq!(marked, ["Ｃafé", "회의"]);
    }

    #[test]
    fn pages_newest_first_continue_where_they_ended() {
        let db = db();
        for id in 1..=45 {
            say(&db, "lobby", id, "ann", &format!("회의 number {id}"));
        }
        let mut request = Request {
            query: Query::parse("회의", 0).unwrap(),
            order: SearchOrder::Newest,
            cursor: None,
            me: "me".to_owned(),
            excluded: Vec::new(),
            limit: 20,
        };
        let mut seen = Vec::new();
        loop {
            let page = search(&db, &request).unwrap();
            seen.extend(page.hits.iter().map(|hit| hit.id.0));
            match page.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, (1..=45).rev().collect::<Vec<u64>>());
        request.order = SearchOrder::Best;
        request.cursor = None;
        let mut best = Vec::new();
        loop {
            let page = search(&db, &request).unwrap();
            best.extend(page.hits.iter().map(|hit| hit.id.0));
            match page.next {
                Some(next) => request.cursor = Some(next),
                None => break,
            }
        }
        best.sort_unstable();
        assert_eq!(best, (1..=45).collect::<Vec<u64>>(), "each once");
        // A crafted cursor past the window costs nothing and finds nothing.
        request.cursor = Some(format!("b{}:0", BEST_WINDOW));
        assert_eq!(search(&db, &request).unwrap(), Page::default());
    }
}
