//! The single node's nickname directory: who last held each nickname (by its lower case),
//! and when, so that a direct message to someone who is away reaches them on their next
//! visit. Read and written on the store thread only.

use rusqlite::{Connection, OptionalExtension as _, params};
use shared::Nick;

use crate::engine::vocabulary::Holder;

/// Notes `holder`; an older note (a release that arrives after a later claim) changes
/// nothing.
pub(super) fn remember(db: &Connection, holder: &Holder) -> rusqlite::Result<()> {
    db.prepare_cached(
        "INSERT INTO directory (nick_key, nick, user, held) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (nick_key) DO UPDATE
             SET nick = excluded.nick, user = excluded.user, held = excluded.held
             WHERE excluded.held >= directory.held",
    )?
    .execute(params![
        holder.nick.key(),
        holder.nick.as_str(),
        holder.user,
        // SQLite's integers are signed; a clock past 2^63 ms is not this server's problem.
        i64::try_from(holder.at).unwrap_or(i64::MAX),
    ])
    .map(drop)
}

/// The last holder of `nick` (ignoring case), if anyone ever held it.
pub(super) fn holder(db: &Connection, nick: &Nick) -> rusqlite::Result<Option<Holder>> {
    db.prepare_cached("SELECT nick, user, held FROM directory WHERE nick_key = ?1")?
        .query_row(params![nick.key()], |row| {
            let nick: String = row.get(0)?;
            let held: i64 = row.get(2)?;
            Ok((nick, row.get::<_, String>(1)?, held))
        })
        .optional()
        .map(|found| {
            found.and_then(|(nick, user, held)| {
                Some(Holder {
                    // A name that no longer passes validation names nobody.
                    nick: Nick::try_from(nick).ok()?,
                    user,
                    at: u64::try_from(held).unwrap_or(0),
                })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let db = Connection::open_in_memory().expect("an in-memory database");
        db.execute_batch(
            "CREATE TABLE directory (nick_key TEXT PRIMARY KEY, nick TEXT NOT NULL,
             user TEXT NOT NULL, held INTEGER NOT NULL) WITHOUT ROWID;",
        )
        .expect("the table");
        db
    }

    fn holder(user: &str, nick: &str, at: u64) -> Holder {
        Holder {
            user: user.to_owned(),
            nick: Nick::try_from(nick).expect("a nickname"),
            at,
        }
    }

    #[test]
    fn the_latest_holder_wins_whatever_order_the_notes_arrive_in() {
        let db = db();
        remember(&db, &holder("bob-key", "Bob", 10)).expect("noted");
        remember(&db, &holder("eve-key", "bob", 30)).expect("noted");
        // Bob's release, older than Eve's claim, arrives late: Eve stays.
        remember(&db, &holder("bob-key", "Bob", 20)).expect("noted");
        let found = super::holder(&db, &Nick::try_from("BOB").expect("a nickname"));
        assert_eq!(found.expect("read"), Some(holder("eve-key", "bob", 30)));
        assert_eq!(
            super::holder(&db, &Nick::try_from("carol").expect("a nickname")).expect("read"),
            None
        );
    }
}
