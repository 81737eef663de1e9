//! Tests of [`super`] (`accounts.rs`), beside it rather than inside it.

use super::*;

#[tokio::test]
async fn register_login_session_and_password_change_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open_sqlite(dir.path()).unwrap();
    let alice: Nick = "Alice".parse().unwrap();
    assert!(accounts.register(&alice, "phc-1".into()).await.unwrap());
    // The same name in another case is the same account.
    let shouting: Nick = "ALICE".parse().unwrap();
    assert!(!accounts.register(&shouting, "phc-2".into()).await.unwrap());
    let found = accounts.account(&shouting).await.unwrap().unwrap();
    assert_eq!(
        (found.name.as_str(), found.phc.as_str()),
        ("Alice", "phc-1")
    );
    let day = Duration::from_secs(86_400);
    accounts
        .start_session(&alice, "s1".into(), day)
        .await
        .unwrap();
    accounts
        .start_session(&alice, "s2".into(), day)
        .await
        .unwrap();
    assert_eq!(
        accounts.session("s1".into()).await.unwrap(),
        Some(alice.clone())
    );
    accounts
        .set_password(&alice, "phc-3".into(), "s2".into())
        .await
        .unwrap();
    assert_eq!(accounts.session("s1".into()).await.unwrap(), None);
    assert_eq!(
        accounts.session("s2".into()).await.unwrap(),
        Some(alice.clone())
    );
    accounts.end_session("s2".into()).await.unwrap();
    assert_eq!(accounts.session("s2".into()).await.unwrap(), None);
    accounts
        .start_session(&alice, "old".into(), Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(accounts.session("old".into()).await.unwrap(), None);
}

#[test]
fn legacy_keys_map_to_their_hashed_form_and_current_ones_stay() {
    assert_eq!(migrated_key("bob", "hash"), Some(account_key("bob")));
    assert_eq!(
        migrated_key("bob:sessions", "set"),
        Some(sessions_key("bob"))
    );
    // The account called `bob:sessions` of the hole, a hash where Bob's set would be.
    assert_eq!(
        migrated_key("bob:sessions", "hash"),
        Some(account_key("bob:sessions"))
    );
    assert_eq!(migrated_key("bob", "string"), None);
    let current = account_key("bob");
    let suffix = current.strip_prefix("{acct}:").unwrap();
    assert!(is_current(suffix));
    assert!(is_current(&format!("{suffix}:sessions")));
    assert!(!is_current("bob:sessions"));
    assert_ne!(account_key("bob:sessions"), sessions_key("bob"));
}

#[tokio::test]
async fn a_look_alike_of_a_registered_name_is_taken_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open_sqlite(dir.path()).unwrap();
    let alice: Nick = "Alice".parse().unwrap();
    assert!(accounts.register(&alice, "phc-1".into()).await.unwrap());
    // Cyrillic А; a capital I for the l; the same name ignoring case, all look-alikes.
    for look_alike in ["\u{410}lice", "AIice", "\u{430}LICE"] {
        let name: Nick = look_alike.parse().unwrap();
        assert!(
            !accounts.register(&name, "phc-2".into()).await.unwrap(),
            "{look_alike}"
        );
        // Refused whole: no account row was left behind.
        assert!(accounts.account(&name).await.unwrap().is_none());
    }
    let other: Nick = "Alicia".parse().unwrap();
    assert!(accounts.register(&other, "phc-3".into()).await.unwrap());
}

#[tokio::test]
async fn accounts_registered_before_likeness_was_kept_still_take_their_look_alikes() {
    let dir = tempfile::tempdir().unwrap();
    {
        // An accounts file as the server before this one left it.
        let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
        db.execute_batch(
            "CREATE TABLE accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL, \
             phc TEXT NOT NULL, created_ms INTEGER NOT NULL); \
             INSERT INTO accounts VALUES ('alice', 'Alice', 'phc-1', 1);",
        )
        .unwrap();
    }
    let accounts = Accounts::open_sqlite(dir.path()).unwrap();
    let look_alike: Nick = "\u{410}lice".parse().unwrap();
    assert!(
        !accounts
            .register(&look_alike, "phc-2".into())
            .await
            .unwrap()
    );
    // The old account is found as before, under the same key.
    let alice: Nick = "alice".parse().unwrap();
    let found = accounts.account(&alice).await.unwrap().unwrap();
    assert_eq!(found.name.as_str(), "Alice");
    // Done once: the file says so, and the next opening skips the scan.
    drop(accounts);
    let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let version: i64 = db
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap();
    assert_eq!(version, LIKENESS_FILLED);
}

#[tokio::test]
async fn attempts_are_counted_per_counter_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let accounts = Accounts::open_sqlite(dir.path()).unwrap();
    let window = Duration::from_millis(200);
    for _ in 0..3 {
        assert_eq!(
            accounts.attempt("a", 3, window).await.unwrap(),
            Attempt::Allowed
        );
    }
    assert!(matches!(
        accounts.attempt("a", 3, window).await.unwrap(),
        Attempt::Refused { retry_after } if retry_after <= window
    ));
    assert_eq!(
        accounts.attempt("b", 3, window).await.unwrap(),
        Attempt::Allowed
    );
    tokio::time::sleep(window).await;
    assert_eq!(
        accounts.attempt("a", 3, window).await.unwrap(),
        Attempt::Allowed
    );
}

#[test]
fn refused_attempts_do_not_move_the_window_and_ended_counters_leave() {
    let mut table = AttemptTable::default();
    let window = Duration::from_secs(60);
    let start = Instant::now();
    let at = |secs: u64| start + Duration::from_secs(secs);
    for second in 0..2 {
        assert_eq!(table.count("a", 2, window, at(second)), Attempt::Allowed);
    }
    // Refused every second for the rest of the window, each told the same end.
    for second in 2..60 {
        assert_eq!(
            table.count("a", 2, window, at(second)),
            Attempt::Refused {
                retry_after: Duration::from_secs(60 - second)
            }
        );
    }
    assert_eq!(table.count("a", 2, window, at(60)), Attempt::Allowed);
    // Counters whose window ended are gone once any attempt comes after.
    table.count("b", 2, window, at(61));
    assert_eq!(table.len(), 2);
    table.count("c", 2, window, at(121));
    assert_eq!(table.len(), 1);
}

/// An attempt costs the same with 20,000 live counters as with one (the table used to be
/// scanned whole on every attempt). Timed, so generously: the fastest of five rounds each.
#[tokio::test]
async fn an_attempt_costs_the_same_however_many_counters_are_live() {
    let dir = tempfile::tempdir().unwrap();
    let window = Duration::from_secs(600);
    let round = |accounts: Accounts| async move {
        let mut fastest = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            for _ in 0..2_000 {
                accounts.attempt("acct:x", u32::MAX, window).await.unwrap();
            }
            fastest = fastest.min(started.elapsed());
        }
        fastest
    };
    let few = Accounts::open_sqlite(dir.path()).unwrap();
    let few = round(few).await;
    let many = Accounts::open_sqlite(dir.path()).unwrap();
    for i in 0..20_000 {
        many.attempt(&format!("addr:{i}"), 5, window).await.unwrap();
    }
    let many = round(many).await;
    assert!(
        many < few * 10,
        "2,000 attempts took {many:?} beside 20,000 counters, {few:?} beside one"
    );
}
