//! Edits, deletions, reactions and replies over real sockets, in both modes (single node;
//! two nodes sharing a real `redis-server`, the two users on different nodes): each seen live
//! by both users, each caught up exactly by a user who was away, history pages showing every
//! message as it is now, and every wrong request refused with a typed error.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Chat, Mode, TestServer, redis_server::RedisServer};
use shared::{
    Change, ClientMsg, Emoji, ErrorCode, HistoryMode, MessageId, RoomMessage, RoomName, ServerMsg,
};

const ROOM: &str = "talk";

fn room() -> RoomName {
    ROOM.parse().unwrap()
}

fn thumbs() -> Emoji {
    "👍".parse().unwrap()
}

/// Says `text` (answering `reply_to`) and returns the acknowledgement.
async fn say(
    chat: &mut Chat,
    text: &str,
    client_id: &str,
    reply_to: Option<MessageId>,
) -> ServerMsg {
    chat.send(&ClientMsg::Say {
        room: room(),
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to,
        image: None,
        file: None,
    })
    .await;
    let id: shared::ClientMsgId = client_id.parse().unwrap();
    chat.until(
        "said",
        |e| matches!(e, ServerMsg::Said { client_id, .. } if *client_id == id),
    )
    .await
}

fn id_of(said: &ServerMsg) -> MessageId {
    match said {
        ServerMsg::Said { id, .. } => *id,
        other => panic!("not a said: {other:?}"),
    }
}

/// Waits for the `changed` with this `client_id` and returns it.
async fn changed(chat: &mut Chat, client_id: &str) -> ServerMsg {
    let id: shared::ClientMsgId = client_id.parse().unwrap();
    chat.until(
        "changed",
        |e| matches!(e, ServerMsg::Changed { client_id, .. } if *client_id == id),
    )
    .await
}

fn seq_of(event: &ServerMsg) -> u64 {
    match event {
        ServerMsg::Said { seq, .. } | ServerMsg::Changed { seq, .. } => *seq,
        other => panic!("no seq: {other:?}"),
    }
}

fn edit(id: MessageId, text: &str, client_id: &str) -> ClientMsg {
    ClientMsg::Edit {
        room: room(),
        id,
        text: text.try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
    }
}

fn react(id: MessageId, emoji: Emoji, on: bool, client_id: &str) -> ClientMsg {
    ClientMsg::React {
        room: room(),
        id,
        emoji,
        on,
        client_id: client_id.parse().unwrap(),
    }
}

fn delete(id: MessageId, client_id: &str) -> ClientMsg {
    ClientMsg::DeleteMessage {
        room: room(),
        id,
        client_id: client_id.parse().unwrap(),
    }
}

/// Sends `request` from `actor` and waits until both `actor` and `other` have its `changed`.
async fn change_seen_by_both(actor: &mut Chat, other: &mut Chat, request: ClientMsg) -> ServerMsg {
    let client_id = request.clone().into_client_id().unwrap();
    actor.send(&request).await;
    let mine = changed(actor, client_id.as_str()).await;
    let theirs = changed(other, client_id.as_str()).await;
    assert_eq!(mine, theirs);
    mine
}

/// Reconnects `nick` with `since` in the room and returns its catch-up `history`.
async fn reconnect(
    server: &TestServer,
    nick: &str,
    since: u64,
    epoch: shared::Epoch,
) -> (Chat, ServerMsg) {
    let mut hello = common::hello(nick, &[ROOM]);
    if let ClientMsg::Hello {
        since: from,
        epochs,
        ..
    } = &mut hello
    {
        from.insert(room(), since);
        epochs.insert(room(), epoch);
    }
    let mut chat = server.chat_socket().await;
    chat.send(&hello).await;
    let history = chat
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await;
    (chat, history)
}

async fn epoch_of(chat: &mut Chat) -> shared::Epoch {
    chat.send(&ClientMsg::LoadOlder {
        room: room(),
        before: u64::MAX,
    })
    .await;
    match chat
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await
    {
        ServerMsg::History { epoch, .. } => epoch,
        _ => unreachable!(),
    }
}

/// The messages of a `history` with its `changes` applied, by id (what a client shows).
fn shown(
    history: ServerMsg,
    mut known: BTreeMap<MessageId, RoomMessage>,
) -> BTreeMap<MessageId, RoomMessage> {
    let ServerMsg::History {
        messages, changes, ..
    } = history
    else {
        panic!("not a history: {history:?}");
    };
    for message in messages {
        known.insert(message.id, message);
    }
    for change in changes {
        if let Some(message) = known.get_mut(&change.target) {
            message.apply(&change.from, &change.change);
        }
    }
    known
}

async fn edits_deletes_reactions_and_replies(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let here = TestServer::spawn(common::patient_config(url.clone()));
    let there = url.map(|url| TestServer::spawn(common::patient_config(Some(url))));
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &[ROOM]).await;
    let mut bob = there.chat_as("bob", &[ROOM]).await;
    let mut carol = here.chat_as("carol", &[]).await;

    // A message, and a reply quoting it, seen by both.
    let hello = say(&mut ann, "hello", "a1", None).await;
    let first = id_of(&hello);
    bob.until("ann's message", |e| *e == hello).await;
    let reply = say(&mut bob, "hi ann", "b1", Some(first)).await;
    let ServerMsg::Said {
        reply_to: Some(quote),
        ..
    } = &reply
    else {
        panic!("no quote: {reply:?}");
    };
    assert_eq!(
        (quote.id, quote.from.as_str(), quote.text.as_str()),
        (first, "ann", "hello")
    );
    ann.until("bob's reply", |e| *e == reply).await;

    // What nobody may do.
    assert_eq!(
        bob.refused(edit(first, "mine now", "b2")).await,
        ErrorCode::Forbidden
    );
    assert_eq!(bob.refused(delete(first, "b3")).await, ErrorCode::Forbidden);
    let nowhere = MessageId(1_000_000);
    assert_eq!(
        ann.refused(edit(nowhere, "x", "a2")).await,
        ErrorCode::NoSuchMessage
    );
    assert_eq!(
        bob.refused(react(nowhere, thumbs(), true, "b4")).await,
        ErrorCode::NoSuchMessage
    );
    let answer_nothing = ClientMsg::Say {
        room: room(),
        text: "re: nothing".try_into().unwrap(),
        client_id: "b5".parse().unwrap(),
        reply_to: Some(nowhere),
        image: None,
        file: None,
    };
    assert_eq!(bob.refused(answer_nothing).await, ErrorCode::NoSuchMessage);
    assert_eq!(
        carol.refused(react(first, thumbs(), true, "c1")).await,
        ErrorCode::NotInRoom
    );
    let bad_emoji =
        r#"{"type":"react","room":"talk","id":1,"emoji":"ok","on":true,"client_id":"c2"}"#;
    carol.send_raw(bad_emoji).await;
    assert_eq!(carol.recv_error().await, ErrorCode::Invalid);

    // Live: an edit, a reaction given twice (once counts), a deletion of one's own message.
    let edited = change_seen_by_both(&mut ann, &mut bob, edit(first, "hello all", "a3")).await;
    assert!(
        matches!(&edited, ServerMsg::Changed { target, change: Change::Edited { text }, .. }
        if *target == first && text.as_str() == "hello all")
    );
    let thumbs_up =
        change_seen_by_both(&mut bob, &mut ann, react(first, thumbs(), true, "b6")).await;
    change_seen_by_both(&mut bob, &mut ann, react(first, thumbs(), true, "b7")).await;
    let oops = id_of(&say(&mut bob, "oops", "b8", None).await);
    let gone = change_seen_by_both(&mut bob, &mut ann, delete(oops, "b9")).await;
    // A deleted message cannot be changed any more.
    assert_eq!(
        bob.refused(edit(oops, "back", "b10")).await,
        ErrorCode::NoSuchMessage
    );
    // A resent change (same client_id) is the same entry, not a second one.
    bob.send(&delete(oops, "b9")).await;
    assert_eq!(changed(&mut bob, "b9").await, gone);

    // Bob goes away; meanwhile ann edits again, reacts, says something and deletes it.
    let since = seq_of(&gone);
    let epoch = epoch_of(&mut bob).await;
    drop(bob);
    join(&mut carol).await;
    change_seen_by_both(&mut ann, &mut carol, edit(first, "hello everyone", "a4")).await;
    let heart: Emoji = "❤️".parse().unwrap();
    ann.send(&react(first, heart.clone(), true, "a5")).await;
    changed(&mut ann, "a5").await;
    let later = id_of(&say(&mut ann, "later", "a6", None).await);
    ann.send(&delete(later, "a7")).await;
    let last = changed(&mut ann, "a7").await;

    // Bob's catch-up (on his node) is exactly what he missed, and shows what ann sees.
    let (_bob, history) = reconnect(there, "bob", since, epoch).await;
    let ServerMsg::History {
        mode,
        changes,
        messages,
        ..
    } = &history
    else {
        unreachable!()
    };
    assert_eq!(*mode, HistoryMode::CatchUp);
    let seqs: Vec<u64> = messages
        .iter()
        .map(|m| m.seq)
        .chain(changes.iter().map(|c| c.seq))
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (since + 1..=seq_of(&last)).collect::<Vec<_>>(),
        "every entry once"
    );
    // What bob had: ann's message, with the changes he saw live.
    let mut had = hello.clone().into_room_message().unwrap().1;
    for event in [&edited, &thumbs_up] {
        if let ServerMsg::Changed { from, change, .. } = event {
            had.apply(from, change);
        }
    }
    let known = BTreeMap::from([(first, had)]);
    let view = shown(history, known);
    let message = &view[&first];
    assert_eq!(
        (message.text.as_str(), message.edited),
        ("hello everyone", true)
    );
    let reactions: Vec<(&str, Vec<&str>)> = message
        .reactions
        .iter()
        .map(|r| {
            (
                r.emoji.as_str(),
                r.users.iter().map(|u| u.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(reactions, [("👍", vec!["bob"]), ("❤️", vec!["ann"])]);
    assert!(view[&later].deleted);
    assert_eq!(view[&later].text.as_str(), RoomMessage::DELETED_TEXT);

    // A fresh page shows the present state too: edited, reacted, the quote, the placeholder.
    let mut dan = there.chat_socket().await;
    dan.send(&common::hello("dan", &[ROOM])).await;
    let page = dan
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await;
    let ServerMsg::History { mode, messages, .. } = page else {
        unreachable!()
    };
    assert_eq!(mode, HistoryMode::Latest);
    let by_id: BTreeMap<MessageId, &RoomMessage> = messages.iter().map(|m| (m.id, m)).collect();
    assert_eq!(by_id[&first].text.as_str(), "hello everyone");
    assert_eq!(by_id[&first].reactions.len(), 2);
    assert_eq!(
        by_id[&id_of(&reply)].reply_to.as_ref().map(|q| q.id),
        Some(first)
    );
    assert!(by_id[&oops].deleted && by_id[&later].deleted);
    assert!(
        !messages
            .iter()
            .any(|m| m.text.as_str() == "oops" || m.text.as_str() == "later")
    );
}

/// Joins the room and waits for its history.
async fn join(chat: &mut Chat) {
    chat.send(&ClientMsg::Join {
        room: room(),
        since: None,
        epoch: None,
    })
    .await;
    chat.until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await;
}

/// The refusal `chat` gets next: its code and the `client_id` it names.
async fn refusal(chat: &mut Chat) -> (ErrorCode, Option<String>) {
    match chat
        .until("an error", |e| matches!(e, ServerMsg::Error { .. }))
        .await
    {
        ServerMsg::Error {
            code, client_id, ..
        } => (code, client_id.map(|id| id.as_str().to_owned())),
        _ => unreachable!(),
    }
}

/// Hole 9 of issue #27: every refusal of a request that carries a `client_id` carries it back,
/// including refusals at decoding (a reaction whose emoji is not one, an edit with blank text)
/// and before `hello`; the connection stays usable. On the code before the fix, the bad
/// reaction's refusal had no `client_id`.
async fn refusals_carry_the_client_id(mode: Mode) {
    let redis = mode.into_redis();
    let server = TestServer::spawn(common::patient_config(
        redis.as_ref().map(common::Redis::url),
    ));
    let mut chat = server.chat_socket().await;
    chat.send_raw(r#"{"type":"say","room":"talk","text":"too soon","client_id":"early-1"}"#)
        .await;
    assert_eq!(
        refusal(&mut chat).await,
        (ErrorCode::NotIdentified, Some("early-1".into()))
    );
    chat.identify("ida", common::token_for("ida"), &[ROOM], None)
        .await;
    let said = say(&mut chat, "hello", "s-1", None).await;
    let id = serde_json::to_string(&id_of(&said)).unwrap();
    for (frame, client_id) in [
        (
            format!(
                r#"{{"type":"react","room":"talk","id":{id},"emoji":"not an emoji","on":true,"client_id":"r-1"}}"#
            ),
            "r-1",
        ),
        (
            format!(r#"{{"type":"edit","room":"talk","id":{id},"text":"   ","client_id":"e-1"}}"#),
            "e-1",
        ),
        (
            r#"{"type":"say","room":"not a room!","text":"hi","client_id":"s-2"}"#.to_owned(),
            "s-2",
        ),
    ] {
        chat.send_raw(&frame).await;
        assert_eq!(
            refusal(&mut chat).await,
            (ErrorCode::Invalid, Some(client_id.into())),
            "{frame}"
        );
    }
    // A frame that is not JSON names nothing, and the connection still works.
    chat.send_raw("{not json").await;
    assert_eq!(refusal(&mut chat).await, (ErrorCode::Malformed, None));
    say(&mut chat, "still here", "s-3", None).await;
}

/// Every frame `chat` receives until it has been quiet for a moment, as JSON text.
async fn frames_until_quiet(chat: &mut Chat) -> Vec<String> {
    let mut frames = Vec::new();
    while let Ok(event) =
        tokio::time::timeout(std::time::Duration::from_millis(300), chat.recv_any()).await
    {
        frames.push(shared::encode(&event).unwrap());
    }
    frames
}

/// Hole 2 of issue #27: a deleted message's words are never sent again, nor kept. Ida's
/// message is quoted by Bo's reply, then edited, then deleted: a catch-up from before the edit
/// lists the edit without its text and the reply's quote as deleted, a fresh history page
/// has none of the words, and the store no longer holds them (SQLite: no row; Redis: not in
/// the changes a reader folds). On the code before the fix, the catch-up carried the edit's
/// text and the quote's words.
async fn a_deleted_message_is_forgotten(mode: Mode) {
    let redis = mode.into_redis();
    const WORDS: &str = "the launch code is 0000";
    const EDITED: &str = "the launch code is 1234";
    let url = redis.as_ref().map(common::Redis::url);
    let here = TestServer::spawn(common::patient_config(url.clone()));
    let there = url.map(|url| TestServer::spawn(common::patient_config(Some(url))));
    let there = there.as_ref().unwrap_or(&here);
    let mut ida = here.chat_as("ida", &[ROOM]).await;
    let mut bo = there.chat_as("bo", &[ROOM]).await;
    let original = id_of(&say(&mut ida, WORDS, "i-1", None).await);
    let reply = say(&mut bo, "noted", "b-1", Some(original)).await;
    let ServerMsg::Said {
        reply_to: Some(quote),
        seq: reply_seq,
        ..
    } = &reply
    else {
        panic!("not a reply: {reply:?}");
    };
    assert_eq!(quote.text, WORDS);
    let epoch = epoch_of(&mut bo).await;
    change_seen_by_both(&mut ida, &mut bo, edit(original, EDITED, "i-2")).await;
    change_seen_by_both(&mut ida, &mut bo, delete(original, "i-3")).await;

    // Bo, away since his reply, catches up: the edit is listed, as the deletion it came to.
    let (mut back, history) = reconnect(there, "bo2", *reply_seq - 1, epoch).await;
    let json = shared::encode(&history).unwrap();
    assert!(!json.contains("launch code"), "{json}");
    let ServerMsg::History {
        messages, changes, ..
    } = &history
    else {
        unreachable!()
    };
    let quoted = messages
        .iter()
        .find_map(|m| m.reply_to.as_ref())
        .expect("the reply, caught up");
    assert!(quoted.deleted && quoted.text.is_empty(), "{quoted:?}");
    assert!(
        changes.iter().all(|c| c.change == Change::Deleted),
        "{changes:?}"
    );
    assert_eq!(changes.len(), 2, "{changes:?}");
    // A fresh page, and everything else on the way, has none of the words.
    back.send(&ClientMsg::LoadOlder {
        room: room(),
        before: u64::MAX,
    })
    .await;
    for frame in frames_until_quiet(&mut back).await {
        assert!(!frame.contains("launch code"), "{frame}");
    }
    // Nor does the store.
    match &redis {
        None => {
            let db = rusqlite::Connection::open(here.data_dir().join("chat.sqlite3")).unwrap();
            let kept: u32 = db
                .query_row(
                    "SELECT count(*) FROM messages WHERE text LIKE '%launch code%'
                     OR change LIKE '%launch code%' OR reply LIKE '%launch code%'",
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(kept, 0, "the store still holds the deleted words");
        }
        Some(redis) => {
            let changes = redis.cmd(&["HGETALL", &format!("chat:{{r:{ROOM}}}:changes")]);
            assert!(
                !format!("{changes:?}").contains("launch code"),
                "{changes:?}"
            );
        }
    }
}

/// The reaction's outcome for `chat`'s request with `client_id`: `Ok` when it was stored (the
/// changer's own `changed`), the refusal's code otherwise.
async fn reacted(
    chat: &mut Chat,
    id: MessageId,
    emoji: &str,
    on: bool,
    client_id: &str,
) -> Result<(), ErrorCode> {
    chat.send(&react(id, emoji.parse().unwrap(), on, client_id))
        .await;
    let wanted: shared::ClientMsgId = client_id.parse().unwrap();
    match chat
        .until("changed or an error", |e| {
            matches!(e, ServerMsg::Changed { client_id, .. } if *client_id == wanted)
                || matches!(e, ServerMsg::Error { client_id: Some(c), .. } if *c == wanted)
        })
        .await
    {
        ServerMsg::Error { code, .. } => Err(code),
        _ => Ok(()),
    }
}

/// Hole 5 of issue #27: reactions are capped (20 distinct emoji on a message, 10 of one user's,
/// as `welcome.limits` says) and a change costs the same however many came before it: 200
/// toggles leave nothing behind for a reader to replay (SQLite: the message's state rows;
/// Redis: nothing in the changes hash). On the code before the fix, every reaction was taken.
async fn reactions_are_capped_and_cheap(mode: Mode) {
    let redis = mode.into_redis();
    const EMOJI: [&str; 22] = [
        "😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰",
        "😗", "😙", "😚", "🙂", "🤗", "🤩", "🤔",
    ];
    let url = redis.as_ref().map(common::Redis::url);
    let here = TestServer::spawn(common::patient_config(url.clone()));
    let there = url.map(|url| TestServer::spawn(common::patient_config(Some(url))));
    let there = there.as_ref().unwrap_or(&here);
    let mut ida = here.chat_socket().await;
    ida.send(&common::hello("ida", &[ROOM])).await;
    match ida
        .until("welcome", |e| matches!(e, ServerMsg::Welcome { .. }))
        .await
    {
        ServerMsg::Welcome { limits, .. } => {
            assert_eq!(
                (limits.max_reactions, limits.max_reactions_per_user),
                (20, 10)
            );
        }
        _ => unreachable!(),
    }
    ida.until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await;
    let mut bo = there.chat_as("bo", &[ROOM]).await;
    let mut cy = there.chat_as("cy", &[ROOM]).await;
    let id = id_of(&say(&mut ida, "react to this", "i-1", None).await);
    for (n, emoji) in EMOJI[..10].iter().enumerate() {
        assert_eq!(
            reacted(&mut ida, id, emoji, true, &format!("i-r{n}")).await,
            Ok(())
        );
    }
    // Ida's eleventh is one too many; the same one again is no new reaction.
    assert_eq!(
        reacted(&mut ida, id, EMOJI[10], true, "i-r10").await,
        Err(ErrorCode::TooManyReactions)
    );
    assert_eq!(
        reacted(&mut ida, id, EMOJI[0], true, "i-again").await,
        Ok(())
    );
    for (n, emoji) in EMOJI[10..20].iter().enumerate() {
        assert_eq!(
            reacted(&mut bo, id, emoji, true, &format!("b-r{n}")).await,
            Ok(())
        );
    }
    // Twenty different emoji: a new one is refused to anyone, an existing one is not.
    assert_eq!(
        reacted(&mut cy, id, EMOJI[20], true, "c-new").await,
        Err(ErrorCode::TooManyReactions)
    );
    assert_eq!(reacted(&mut cy, id, EMOJI[5], true, "c-old").await, Ok(()));
    // Taking one back frees a place.
    assert_eq!(
        reacted(&mut bo, id, EMOJI[19], false, "b-off").await,
        Ok(())
    );
    assert_eq!(
        reacted(&mut cy, id, EMOJI[21], true, "c-new2").await,
        Ok(())
    );
    // Two hundred toggles of one reaction.
    for n in 0..100 {
        assert_eq!(
            reacted(&mut cy, id, EMOJI[21], false, &format!("c-t{n}-off")).await,
            Ok(())
        );
        assert_eq!(
            reacted(&mut cy, id, EMOJI[21], true, &format!("c-t{n}-on")).await,
            Ok(())
        );
    }
    // A reader sees the message as it is.
    bo.send(&ClientMsg::LoadOlder {
        room: room(),
        before: u64::MAX,
    })
    .await;
    let ServerMsg::History { messages, .. } = bo
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await
    else {
        unreachable!()
    };
    let message = messages.iter().find(|m| m.id == id).unwrap();
    let counts: Vec<(String, usize)> = message
        .reactions
        .iter()
        .map(|r| (r.emoji.to_string(), r.users.len()))
        .collect();
    let mut expected: Vec<(String, usize)> =
        EMOJI[..19].iter().map(|e| ((*e).to_owned(), 1)).collect();
    expected[5].1 = 2;
    expected.push((EMOJI[21].to_owned(), 1));
    assert_eq!(counts, expected);
    assert_eq!(message.reactions[5].users.len(), 2);
    // What a reader folds is the state, not the history of changes.
    match &redis {
        None => {
            let db = rusqlite::Connection::open(here.data_dir().join("chat.sqlite3")).unwrap();
            let rows: u32 = db
                .query_row(
                    "SELECT count(*) FROM reactions WHERE message = ?1",
                    [serde_json::to_value(id).unwrap().as_u64().unwrap()],
                    |row| row.get(0),
                )
                .unwrap();
            assert_eq!(rows, 21);
        }
        Some(redis) => {
            let changes = redis.cmd(&[
                "HGET",
                &format!("chat:{{r:{ROOM}}}:changes"),
                &serde_json::to_string(&id).unwrap(),
            ]);
            assert_eq!(
                changes,
                redis::Value::Nil,
                "a change list to replay: {changes:?}"
            );
        }
    }
}

/// A reply outlives the message it quotes when retention trims the log: once that message
/// was deleted, the reply's quote stays forgotten after the original (and its deletion) left
/// the log. Both modes; in cluster mode the trim once took the deletion's mark along.
async fn a_quote_of_a_deleted_message_stays_forgotten_after_retention(mode: Mode) {
    let redis = mode.into_redis();
    let config = backend::Config {
        retention_messages: Some(3),
        ..common::patient_config(redis.as_ref().map(common::Redis::url))
    };
    let server = TestServer::spawn(config);
    let mut ida = server.chat_as("ida", &[ROOM]).await;
    let original = id_of(&say(&mut ida, "the launch code is 0000", "r-1", None).await);
    say(&mut ida, "noted", "r-2", Some(original)).await;
    ida.send(&delete(original, "r-3")).await;
    changed(&mut ida, "r-3").await;
    // Seq 4 pushes seq 1 (the original) out of a log of three: the reply (seq 2) and the
    // deletion (seq 3) remain.
    say(&mut ida, "later", "r-4", None).await;
    ida.send(&ClientMsg::LoadOlder {
        room: room(),
        before: u64::MAX,
    })
    .await;
    let history = ida
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await;
    let json = shared::encode(&history).unwrap();
    assert!(json.contains("noted"), "{json}");
    assert!(!json.contains("launch code"), "{json}");
}

/// Cluster mode, after an upgrade: reactions stored before the state layout name their user
/// by nickname only. Whoever now has that nickname owns them: taking one back removes it, and
/// reacting with it again does not count the user twice. (Before the fix, the old reaction
/// stayed under its nickname beside the new one.)
#[actix_web::test]
async fn cluster_reactions_from_before_the_state_layout_stay_their_users() {
    let redis = RedisServer::start().await;
    let server = TestServer::spawn(common::patient_config(Some(redis.url())));
    let mut ida = server.chat_as("Ida", &[ROOM]).await;
    let id = id_of(&say(&mut ida, "upgrade tonight", "m-1", None).await);
    reacted(&mut ida, id, "👍", true, "r-1").await.unwrap();
    reacted(&mut ida, id, "🎉", true, "r-2").await.unwrap();
    // Rewrite the message's state as the layout before kept it: its reaction entries, one
    // per line, in the changes hash, and no state hash.
    let redis::Value::Array(entries) =
        redis.cmd(&["XRANGE", &format!("chat:{{r:{ROOM}}}:log"), "-", "+"])
    else {
        panic!("a stream");
    };
    let mut lines = Vec::new();
    for entry in entries {
        let redis::Value::Array(parts) = entry else {
            panic!("an entry");
        };
        let redis::Value::Array(fields) = &parts[1] else {
            panic!("fields");
        };
        let text = |value: &redis::Value| match value {
            redis::Value::BulkString(bytes) => String::from_utf8(bytes.clone()).unwrap(),
            other => panic!("a string, got {other:?}"),
        };
        if text(&fields[0]) == "c" {
            lines.push(text(&fields[1]));
        }
    }
    assert_eq!(lines.len(), 2, "{lines:?}");
    let key = serde_json::to_string(&id).unwrap();
    redis.cmd(&["DEL", &format!("chat:{{r:{ROOM}}}:rx:{key}")]);
    redis.cmd(&[
        "HSET",
        &format!("chat:{{r:{ROOM}}}:changes"),
        &key,
        &lines.join("\n"),
    ]);

    reacted(&mut ida, id, "👍", true, "r-3").await.unwrap();
    reacted(&mut ida, id, "🎉", false, "r-4").await.unwrap();
    ida.send(&ClientMsg::LoadOlder {
        room: room(),
        before: u64::MAX,
    })
    .await;
    let ServerMsg::History { messages, .. } = ida
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await
    else {
        unreachable!()
    };
    let message = messages.iter().find(|m| m.id == id).unwrap();
    let shown: Vec<(String, Vec<String>)> = message
        .reactions
        .iter()
        .map(|r| {
            let users = r.users.iter().map(|u| u.to_string()).collect();
            (r.emoji.to_string(), users)
        })
        .collect();
    assert_eq!(shown, [("👍".to_owned(), vec!["Ida".to_owned()])]);
}

/// The page after `after` that `chat` asks for: the texts of its messages, oldest first, as
/// they are now (edited text; reactions counted).
async fn newer_page(chat: &mut Chat, after: u64) -> Vec<(u64, String, usize)> {
    chat.send(&ClientMsg::LoadNewer {
        room: room(),
        after,
    })
    .await;
    match chat
        .until("history", |e| matches!(e, ServerMsg::History { .. }))
        .await
    {
        ServerMsg::History {
            mode: HistoryMode::Newer,
            messages,
            changes,
            ..
        } => {
            assert!(changes.is_empty(), "a newer page has messages only");
            messages
                .into_iter()
                .map(|m| (m.seq, m.text.as_str().to_owned(), m.reactions.len()))
                .collect()
        }
        other => panic!("expected a newer page, got {other:?}"),
    }
}

/// Issue #34: a reader who let the newest lines go while far back asks for the pages after
/// a position ("load newer"): messages only, oldest first, each as it is now, a page at a
/// time however many changes lie between them (more than a page of reactions here, which
/// the Redis script skips batch by batch), until an empty page says there is nothing newer.
/// Only members may ask.
async fn pages_after_a_position_show_messages_as_they_are_now(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let config = |url| backend::Config {
        history_page: 4,
        ..common::patient_config(url)
    };
    let here = TestServer::spawn(config(url.clone()));
    let there = url.map(|url| TestServer::spawn(config(Some(url))));
    let there = there.as_ref().unwrap_or(&here);
    let mut ann = here.chat_as("ann", &[ROOM]).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(id_of(
            &say(&mut ann, &format!("m{i}"), &format!("a{i}"), None).await,
        ));
        if i == 2 {
            // Six changes in a row: more than a page of log entries with no message.
            const EMOJI: [&str; 5] = ["😀", "😁", "😂", "🤣", "😃"];
            for (n, emoji) in EMOJI.iter().enumerate() {
                let request = react(ids[1], emoji.parse().unwrap(), true, &format!("r{n}"));
                ann.send(&request).await;
                changed(&mut ann, &format!("r{n}")).await;
            }
            ann.send(&edit(ids[2], "m2 edited", "e1")).await;
            changed(&mut ann, "e1").await;
        }
    }
    let mut bob = there.chat_as("bob", &[ROOM]).await;
    let first = newer_page(&mut bob, 0).await;
    let texts = |page: &[(u64, String, usize)]| {
        page.iter()
            .map(|(_, text, reactions)| format!("{text}/{reactions}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(texts(&first), ["m0/0", "m1/5", "m2 edited/0", "m3/0"]);
    let second = newer_page(&mut bob, first[3].0).await;
    assert_eq!(texts(&second), ["m4/0", "m5/0", "m6/0", "m7/0"]);
    let third = newer_page(&mut bob, second[3].0).await;
    assert_eq!(texts(&third), ["m8/0", "m9/0"]);
    assert!(newer_page(&mut bob, third[1].0).await.is_empty());
    // Past the largest position a client could hold: nothing, not an error.
    assert!(newer_page(&mut bob, u64::MAX).await.is_empty());

    let mut carol = here.chat_as("carol", &[]).await;
    let request = ClientMsg::LoadNewer {
        room: room(),
        after: 0,
    };
    assert_eq!(carol.refused(request).await, ErrorCode::NotInRoom);
}

common::in_both_modes!(
    edits_deletes_reactions_and_replies,
    refusals_carry_the_client_id,
    a_deleted_message_is_forgotten,
    reactions_are_capped_and_cheap,
    a_quote_of_a_deleted_message_stays_forgotten_after_retention,
    pages_after_a_position_show_messages_as_they_are_now,
);
