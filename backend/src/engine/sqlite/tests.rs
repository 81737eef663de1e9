//! Tests of [`super`] (`sqlite.rs`), beside it rather than inside it.

use super::*;

fn message(room: &str, client_id: &str, ts: u64) -> NewMessage {
    NewMessage {
        target: Target::Room(room.parse().unwrap()),
        sender: "sender-key".into(),
        from: "alice".parse().unwrap(),
        body: Body::text("hello".try_into().unwrap()),
        client_id: client_id.parse().unwrap(),
        ts,
    }
}

#[test]
fn appends_waiting_in_the_queue_share_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = StoreMetrics {
        commit_seconds: Histogram::with_opts(prometheus::HistogramOpts::new("c", "c")).unwrap(),
        batch_size: Histogram::with_opts(prometheus::HistogramOpts::new("b", "b")).unwrap(),
        failures: IntCounter::new("f", "f").unwrap(),
    };
    let (store, mut events) =
        Store::<usize>::open(dir.path(), StoreOptions::default(), Some(metrics.clone())).unwrap();
    // Another connection holds the write lock: the store's first transaction waits (busy
    // timeout) while the rest queue up behind it, as they do behind a slow fsync.
    let blocker = Connection::open(dir.path().join(DB_FILE)).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    for i in 0..20 {
        store
            .append(i, message("room", &format!("m{i}"), now_ms()))
            .unwrap();
    }
    blocker.execute_batch("ROLLBACK").unwrap();
    for i in 0..20 {
        match events.blocking_recv() {
            Some(Event::Appended {
                ctx,
                outcome: Appended::New(_),
            }) => assert_eq!(ctx, i, "acknowledged in order"),
            other => panic!("{other:?}"),
        }
    }
    // The first may have started alone before the others arrived; the rest share one.
    let transactions = metrics.batch_size.get_sample_count();
    assert!(
        transactions <= 2,
        "{transactions} transactions for 20 messages"
    );
}

#[test]
fn the_store_connection_is_in_wal_mode_with_synchronous_full() {
    // `synchronous` is a setting of the connection, not of the file: ask the very
    // connection the store thread is given. A SIGKILL test cannot tell FULL from OFF
    // (the page cache outlives the process); this can.
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_connection(&dir.path().join(DB_FILE), &StoreOptions::default()).unwrap();
    let synchronous: i64 = db
        .query_row("PRAGMA synchronous", [], |row| row.get(0))
        .unwrap();
    assert_eq!(synchronous, 2, "FULL is 2 (OFF 0, NORMAL 1, EXTRA 3)");
    let mode: String = db
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn the_duplicate_lookup_is_compiled_once_not_per_message() {
    // Found with perf under bench W5: SQLite recompiled this statement on every step.
    let dir = tempfile::tempdir().unwrap();
    let (mut db, _) = open_connection(&dir.path().join(DB_FILE), &StoreOptions::default()).unwrap();
    for i in 0..50 {
        let sent = message("room", &format!("m{i}"), now_ms());
        let outcomes = append_all(&mut db, std::slice::from_ref(&sent), 0, true).unwrap();
        assert!(matches!(outcomes[..], [Appended::New(_)]));
    }
    let lookup = db.prepare_cached(&find_sent_sql()).unwrap();
    assert_eq!(
        lookup.get_status(rusqlite::StatementStatus::RePrepare),
        0,
        "recompiled on a step"
    );
}

#[test]
fn with_a_stable_planner_the_reads_still_use_their_partial_indexes() {
    // The stability guarantee plans without the bound values: `room = ?1` must still
    // imply the partial indexes' `room IS NOT NULL` (`target = ?1` theirs), or every
    // history read and catch-up would scan the whole table.
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_connection(&dir.path().join(DB_FILE), &StoreOptions::default()).unwrap();
    let plan = |sql: &str| -> String {
        let mut query = db.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let values = vec![rusqlite::types::Value::Integer(1); query.parameter_count()];
        let rows = query
            .query_map(rusqlite::params_from_iter(values), |row| {
                row.get::<_, String>(3)
            })
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    for (sql, index) in [
        (
            "SELECT text FROM messages WHERE room = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            "messages_room_seq",
        ),
        (
            "SELECT text FROM messages WHERE room = ?1 AND seq < ?2 AND target IS NULL \
             ORDER BY seq DESC LIMIT ?3",
            "messages_room_seq",
        ),
        (
            "SELECT change FROM messages WHERE target = ?1 ORDER BY seq",
            "messages_target",
        ),
        (
            "SELECT text FROM messages WHERE sender = ?1 AND client_id = ?2 AND ts >= ?3 \
             ORDER BY id DESC LIMIT 1",
            "messages_sender_client",
        ),
    ] {
        let found = plan(sql);
        assert!(found.contains(index), "{sql}: {found}");
    }
}

#[test]
fn changes_stored_before_the_state_layout_are_replayed_once_and_deletions_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    // A database as the server before issue #27 left it: a message, a reply quoting it,
    // an edit, reactions toggled, and a second message edited and then deleted.
    let mut db = Connection::open(&path).unwrap();
    for migration in &MIGRATIONS[..5] {
        db.execute_batch(migration).unwrap();
    }
    db.execute_batch("PRAGMA user_version = 5").unwrap();
    let tx = db.transaction().unwrap();
    let row = |seq: u64,
               sender: &str,
               text: &str,
               target: Option<u64>,
               change: Option<&str>,
               reply: Option<&str>| {
        tx.execute(
            "INSERT INTO messages (room, seq, sender, sender_nick, client_id, text, ts, target, change, reply)
             VALUES ('r', ?1, ?2, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
            params![seq, sender, format!("c{seq}"), text, target, change, reply],
        )
        .unwrap();
    };
    row(1, "ann", "first", None, None, None);
    row(
        2,
        "bob",
        "re",
        None,
        None,
        Some(r#"{"id":4,"seq":4,"from":"ann","text":"secret"}"#),
    );
    row(
        3,
        "ann",
        "",
        Some(1),
        Some(r#"{"kind":"edited","text":"first!"}"#),
        None,
    );
    row(4, "ann", "secret", None, None, None);
    row(
        5,
        "bob",
        "",
        Some(1),
        Some(r#"{"kind":"reacted","emoji":"👍","on":true}"#),
        None,
    );
    row(
        6,
        "ann",
        "",
        Some(1),
        Some(r#"{"kind":"reacted","emoji":"🎉","on":true}"#),
        None,
    );
    row(
        7,
        "bob",
        "",
        Some(1),
        Some(r#"{"kind":"reacted","emoji":"👍","on":false}"#),
        None,
    );
    row(
        8,
        "bob",
        "",
        Some(1),
        Some(r#"{"kind":"reacted","emoji":"👍","on":true}"#),
        None,
    );
    row(
        9,
        "ann",
        "",
        Some(4),
        Some(r#"{"kind":"edited","text":"more secret"}"#),
        None,
    );
    row(10, "ann", "", Some(4), Some(r#"{"kind":"deleted"}"#), None);
    tx.execute("INSERT INTO rooms (name, last_seq) VALUES ('r', 10)", [])
        .unwrap();
    tx.commit().unwrap();
    drop(db);

    let (mut db, _) = open_connection(&path, &StoreOptions::default()).unwrap();
    let tx = db.transaction().unwrap();
    let mut messages: Vec<RoomMessage> = tx
        .prepare(&format!(
            "SELECT {ROOM_COLUMNS} FROM messages WHERE target IS NULL ORDER BY seq"
        ))
        .unwrap()
        .query_map([], room_message)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    for message in &mut messages {
        fold(&tx, message).unwrap();
    }
    let first = &messages[0];
    assert_eq!((first.text.as_str(), first.edited), ("first!", true));
    let reactions: Vec<(String, Vec<String>)> = first
        .reactions
        .iter()
        .map(|r| {
            (
                r.emoji.to_string(),
                r.users.iter().map(ToString::to_string).collect(),
            )
        })
        .collect();
    assert_eq!(
        reactions,
        [
            ("🎉".to_owned(), vec!["ann".to_owned()]),
            ("👍".to_owned(), vec!["bob".to_owned()])
        ]
    );
    let quote = messages[1].reply_to.as_ref().unwrap();
    assert!(quote.deleted && quote.text.is_empty(), "{quote:?}");
    assert!(messages[2].deleted);
    let words: u32 = tx
        .query_row(
            "SELECT count(*) FROM messages WHERE text LIKE '%secret%' OR change LIKE '%secret%' OR reply LIKE '%secret%'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(words, 0);
    // The search index, made by a later migration, holds what the messages say now.
    let indexed: Vec<String> = tx
        .prepare("SELECT text FROM search_docs ORDER BY seq")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(indexed, ["first!", "re"]);
}

#[test]
fn a_database_from_a_newer_server_is_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::<()>::open(dir.path(), StoreOptions::default(), None).unwrap());
    let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
    db.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(db);
    let Err(err) = Store::<()>::open(dir.path(), StoreOptions::default(), None) else {
        panic!("opened a database with a newer schema")
    };
    let err = err.to_string();
    assert!(err.contains("schema version 99"), "{err}");
    assert!(err.contains(DB_FILE), "{err}");
}

#[test]
fn retention_by_age_deletes_old_messages_but_sequence_numbers_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        retention_age: Some(Duration::from_secs(3600)),
        ..StoreOptions::default()
    };
    let (mut db, epoch) = open_connection(&dir.path().join(DB_FILE), &options).unwrap();
    let now = now_ms();
    let old = now - 2 * 3600 * 1000;
    let batch = [
        message("lobby", "a", old),
        message("lobby", "b", old),
        message("lobby", "c", now),
    ];
    append_all(&mut db, &batch, 0, true).unwrap();
    assert_eq!(sweep(&mut db, &options).unwrap(), 2);
    let tx = db.transaction().unwrap();
    let room: RoomName = "lobby".parse().unwrap();
    let Answer::Room { messages, .. } =
        read_room(&tx, &options, &room, RoomRange::Latest, &epoch).unwrap()
    else {
        panic!()
    };
    assert_eq!(messages.iter().map(|m| m.seq).collect::<Vec<_>>(), [3]);
    tx.finish().unwrap();
    let next = append_all(&mut db, &[message("lobby", "d", now)], 0, true).unwrap();
    assert!(matches!(
        &next[0],
        Appended::New(Stored::Room { entry, .. }) if entry.seq() == 4
    ));
    // Deleting every message of a room does not restart its numbering either.
    append_all(&mut db, &[message("empty", "e", old)], 0, true).unwrap();
    sweep(&mut db, &options).unwrap();
    let again = append_all(&mut db, &[message("empty", "f", now)], 0, true).unwrap();
    assert!(matches!(
        &again[0],
        Appended::New(Stored::Room { entry, .. }) if entry.seq() == 2
    ));
}

#[test]
fn a_client_id_is_remembered_for_the_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions::default();
    let (mut db, _) = open_connection(&dir.path().join(DB_FILE), &options).unwrap();
    let now = now_ms();
    let first = append_all(&mut db, &[message("lobby", "same", now - 10_000)], 0, true).unwrap();
    // Within the window (since = before the first): the original comes back.
    let retry = append_all(
        &mut db,
        &[message("lobby", "same", now)],
        now - 20_000,
        true,
    )
    .unwrap();
    let (Appended::New(original), Appended::Duplicate(again)) = (&first[0], &retry[0]) else {
        panic!("{first:?} {retry:?}")
    };
    assert_eq!(original, again);
    // Outside it (since = after the first): a new message.
    let later = append_all(&mut db, &[message("lobby", "same", now)], now - 5_000, true).unwrap();
    assert!(matches!(later[0], Appended::New(_)));
}

#[test]
fn the_epoch_is_kept_with_the_database_and_a_new_database_has_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let (_, first) = open_connection(&path, &StoreOptions::default()).unwrap();
    let (_, reopened) = open_connection(&path, &StoreOptions::default()).unwrap();
    assert_eq!(first, reopened, "a restart is the same log");
    let other = tempfile::tempdir().unwrap();
    let (_, fresh) =
        open_connection(&other.path().join(DB_FILE), &StoreOptions::default()).unwrap();
    assert_ne!(first, fresh, "a replaced data directory is another log");
}

#[test]
fn a_since_from_another_epoch_gets_a_reset_even_when_its_seq_exists_here() {
    let dir = tempfile::tempdir().unwrap();
    let (store, mut events) = Store::<u8>::open(dir.path(), StoreOptions::default(), None).unwrap();
    for n in 0..3 {
        store
            .append(0, message("lobby", &format!("m{n}"), now_ms()))
            .unwrap();
    }
    let room: RoomName = "lobby".parse().unwrap();
    let other: Epoch = "someone-else".parse().unwrap();
    let read = |epoch: Option<Epoch>| Read::Room {
        room: room.clone(),
        range: RoomRange::Since(1),
        epoch,
        joiner: None,
    };
    store.read(1, read(Some(other.clone()))).unwrap();
    store.read(2, read(None)).unwrap();
    store
        .read(
            3,
            Read::Direct {
                user: "nobody".into(),
                range: DirectRange::Since(MessageId(1)),
                epoch: Some(other),
            },
        )
        .unwrap();
    let mut answers = Vec::new();
    while answers.len() < 3 {
        if let Some(Event::Read { answer, .. }) = events.blocking_recv() {
            answers.push(answer.unwrap());
        }
    }
    let [
        Answer::Room {
            mode: stale,
            messages,
            epoch: ours,
            ..
        },
        Answer::Room { mode: trusted, .. },
        Answer::Direct { mode: direct, .. },
    ] = &answers[..]
    else {
        panic!("{answers:?}")
    };
    assert_eq!(*stale, HistoryMode::Reset);
    assert_eq!(messages.len(), 3, "the latest page");
    assert_ne!(ours.as_str(), "someone-else");
    assert_eq!(
        *trusted,
        HistoryMode::CatchUp,
        "no epoch: trusted, as before"
    );
    assert_eq!(*direct, HistoryMode::Reset);
}

#[test]
fn a_since_whose_followers_were_all_deleted_is_a_reset_not_an_empty_catch_up() {
    // Retention deleted seq 4 and 5, the last ones: nothing is left after 3, yet the
    // client missed two messages.
    assert!(catch_up_resets(3, 5, &[], 1000));
    assert!(!catch_up_resets(5, 5, &[], 1000), "up to date");
    assert!(catch_up_resets(6, 5, &[], 1000), "from another log");
}

#[test]
fn the_store_is_ready_while_its_thread_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _events) = Store::<()>::open(dir.path(), StoreOptions::default(), None).unwrap();
    let ready = store.readiness();
    assert!(ready.load(std::sync::atomic::Ordering::Acquire));
    // Dropping the handle ends the thread (its queue is done): no longer ready.
    drop(store);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while ready.load(std::sync::atomic::Ordering::Acquire) {
        assert!(
            std::time::Instant::now() < deadline,
            "the store thread did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
