//! A small Slack workspace export, built in code from Slack's documented export format: what
//! the Slack reader's tests, the import's integration tests and a browser test import. In the
//! library (not in `tests/`) so that all three can use it; nothing in the server calls it.
//!
//! What it holds ([`files`], in this order in the ZIP, the second day before the first):
//! - `users.json`: `U01` Alice (display name), `U02` bob.smith (display name "bob"), `U03`
//!   carol (no display name, real name "Carol Jones").
//! - `channels.json`: `#general` (`C01`, a topic mentioning Alice, all three members) and
//!   `#random` (`C02`, a purpose only); `groups.json`: the private `#secret-plans` (`G01`,
//!   Alice and Carol); `dms.json`: one DM (`D01`, with a day file: not imported).
//! - `general/2024-01-02.json`: a late reply to the thread, a message with two files (only
//!   `notes.txt` has its bytes, under `__uploads/F01/`), a bot's message, an empty message.
//! - `general/2024-01-01.json` (its messages out of `ts` order): Carol's join, a thread's
//!   first message with links, a mention, `<!here>`, an escape and reactions (`+1` by two,
//!   `wave::skin-tone-3`, a custom `partyparrot`), and its first reply, edited, with a
//!   channel link, escapes and a shortcode.
//! - `random/2024-01-01.json`: a purpose change, a message mentioning a user the export does
//!   not list; `random/canvas_in_the_conversation.json`: not a day file.
//! - `secret-plans/2024-01-03.json`: a message with code and a mail link.

use std::io::{Cursor, Write as _};

use serde_json::json;
use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// The bytes of `notes.txt`, the one file whose bytes the export holds.
pub const NOTES_TXT: &[u8] = b"step 1: plan\nstep 2: ship\n";

/// The export's files, by name in the ZIP, in the ZIP's order.
///
/// # Panics
/// Never: the JSON is built from literals.
pub fn files() -> Vec<(String, Vec<u8>)> {
    let users = json!([
        {
            "id": "U03", "team_id": "T01", "name": "carol", "deleted": false,
            "real_name": "Carol Jones", "is_bot": false,
            "profile": {"display_name": "", "real_name": "Carol Jones", "title": ""}
        },
        {
            "id": "U01", "team_id": "T01", "name": "alice", "deleted": false,
            "real_name": "Alice Kim", "is_bot": false,
            "profile": {"display_name": "Alice", "real_name": "Alice Kim", "title": "Lead"}
        },
        {
            "id": "U02", "team_id": "T01", "name": "bob.smith", "deleted": false,
            "real_name": "Bob Smith", "is_bot": false,
            "profile": {"display_name": "bob", "real_name": "Bob Smith"}
        }
    ]);
    let channels = json!([
        {
            "id": "C01", "name": "general", "created": 1_704_000_000, "creator": "U01",
            "is_archived": false, "is_general": true,
            "members": ["U01", "U02", "U03"],
            "topic": {"value": "Company-wide news for <@U01> &amp; friends", "creator": "U01", "last_set": 1_704_000_000},
            "purpose": {"value": "Everyone", "creator": "U01", "last_set": 1_704_000_000}
        },
        {
            "id": "C02", "name": "random", "created": 1_704_000_000, "creator": "U01",
            "is_archived": false, "is_general": false,
            "members": ["U01", "U02"],
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "Anything goes", "creator": "U01", "last_set": 1_704_000_000}
        }
    ]);
    let groups = json!([
        {
            "id": "G01", "name": "secret-plans", "created": 1_704_000_000, "creator": "U01",
            "is_archived": false,
            "members": ["U01", "U03"],
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0}
        }
    ]);
    let dms = json!([{"id": "D01", "created": 1_704_000_000, "members": ["U01", "U02"]}]);
    let parent = "1704103300.000200";
    let general_day1 = json!([
        {
            "type": "message", "user": "U02", "ts": "1704103400.000300", "thread_ts": parent,
            "parent_user_id": "U01",
            "text": "On it :smile: in <#C02|random>, 3 &lt; 4 &gt; 2",
            "edited": {"user": "U02", "ts": "1704103450.000000"}
        },
        {
            "type": "message", "subtype": "channel_join", "user": "U03",
            "ts": "1704103200.000100", "text": "<@U03> has joined the channel"
        },
        {
            "type": "message", "user": "U01", "ts": parent, "thread_ts": parent,
            "reply_count": 2, "reply_users": ["U02", "U03"],
            "text": "Release plan: <https://example.com/plan|the plan> &amp; <https://example.com/faq> cc <@U02> <!here>",
            "reactions": [
                {"name": "+1", "users": ["U02", "U03"], "count": 2},
                {"name": "wave::skin-tone-3", "users": ["U03"], "count": 1},
                {"name": "partyparrot", "users": ["U02"], "count": 1}
            ]
        }
    ]);
    let general_day2 = json!([
        {
            "type": "message", "user": "U03", "ts": "1704189600.000100", "thread_ts": parent,
            "parent_user_id": "U01", "text": "Late reply"
        },
        {
            "type": "message", "subtype": "file_share", "user": "U01", "ts": "1704189700.000200",
            "text": "Two files",
            "files": [
                {"id": "F01", "name": "notes.txt", "title": "notes", "mimetype": "text/plain",
                 "url_private": "https://files.slack.com/files-pri/T01-F01/notes.txt"},
                {"id": "F02", "name": "diagram.png", "title": "Diagram", "mimetype": "image/png",
                 "url_private": "https://files.slack.com/files-pri/T01-F02/diagram.png"}
            ]
        },
        {
            "type": "message", "subtype": "bot_message", "bot_id": "B01", "username": "deploybot",
            "ts": "1704189800.000300", "text": "Deployed <https://example.com/v2>"
        },
        {"type": "message", "user": "U02", "ts": "1704189900.000400", "text": ""}
    ]);
    let random_day1 = json!([
        {
            "type": "message", "subtype": "channel_purpose", "user": "U01",
            "ts": "1704103000.000100", "text": "set the channel purpose: Anything goes",
            "purpose": "Anything goes"
        },
        {
            "type": "message", "user": "U02", "ts": "1704103500.000200",
            "text": "hi <@U01|alice> and <@U09|ghost> :wave::skin-tone-2:"
        }
    ]);
    let secret_day = json!([
        {
            "type": "message", "user": "U03", "ts": "1704276000.000100",
            "text": "Quiet :shushing_face: `:smile:` <mailto:a@b.example|a@b.example>"
        }
    ]);
    let dm_day =
        json!([{"type": "message", "user": "U01", "ts": "1704103300.000900", "text": "psst"}]);
    let json = |value: serde_json::Value| value.to_string().into_bytes();
    vec![
        ("users.json".to_owned(), json(users)),
        ("channels.json".to_owned(), json(channels)),
        ("groups.json".to_owned(), json(groups)),
        ("dms.json".to_owned(), json(dms)),
        ("general/2024-01-02.json".to_owned(), json(general_day2)),
        ("general/2024-01-01.json".to_owned(), json(general_day1)),
        ("random/2024-01-01.json".to_owned(), json(random_day1)),
        (
            "random/canvas_in_the_conversation.json".to_owned(),
            b"{\"canvas\": true}".to_vec(),
        ),
        ("secret-plans/2024-01-03.json".to_owned(), json(secret_day)),
        ("D01/2024-01-01.json".to_owned(), json(dm_day)),
        ("__uploads/F01/notes.txt".to_owned(), NOTES_TXT.to_vec()),
    ]
}

/// `files` as a ZIP (deflated, as Slack writes it).
///
/// # Panics
/// Never in practice: it writes to memory.
pub fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options)
            .expect("a ZIP in memory");
        zip.write_all(bytes).expect("a ZIP in memory");
    }
    zip.finish().expect("a ZIP in memory").into_inner()
}

/// The fixture export as a ZIP: [`zip`] of [`files`].
pub fn export() -> Vec<u8> {
    zip(&files())
}
