//! Owned and private rooms over real sockets, in both modes (single node; two nodes sharing a
//! real `redis-server`, the owner on one and everyone else on the other): who may create,
//! join, invite, see and speak, each request getting its effect or a typed error, and nothing
//! of a private room reaching anyone who is not in it.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{Chat, Mode, TestServer, redis_server::RedisServer};
use shared::{ClientMsg, ErrorCode, RemovedReason, RoomName, ServerMsg};

fn config(redis: Option<String>) -> Config {
    common::patient_config(redis)
}

fn room(name: &str) -> RoomName {
    name.parse().unwrap()
}

/// Everything `chat` receives until it has been quiet for a moment.
async fn drain(chat: &mut Chat) -> Vec<ServerMsg> {
    let mut events = Vec::new();
    while let Ok(event) = tokio::time::timeout(Duration::from_millis(500), chat.recv_any()).await {
        events.push(event);
    }
    events
}

async fn room_list(chat: &mut Chat) -> Vec<String> {
    chat.send(&ClientMsg::ListRooms).await;
    match chat
        .until("rooms", |e| matches!(e, ServerMsg::Rooms { .. }))
        .await
    {
        ServerMsg::Rooms { rooms } => rooms.into_iter().map(|r| r.name.to_string()).collect(),
        _ => unreachable!(),
    }
}

/// A socket that keeps every event it receives from its connect on, for the leak check:
/// nothing it was sent may be skipped on the way to an answer and go unchecked.
struct Witness {
    chat: Chat,
    seen: Vec<ServerMsg>,
}

impl Witness {
    /// Connects as `nick` (the default room) and waits for the welcome.
    async fn connect(server: &TestServer, nick: &str) -> Self {
        let mut chat = server.chat_socket().await;
        chat.send(&common::hello(nick, &[])).await;
        let mut witness = Self {
            chat,
            seen: Vec::new(),
        };
        witness
            .until("welcome", |e| matches!(e, ServerMsg::Welcome { .. }))
            .await;
        witness
    }

    /// Like [`Chat::until`], keeping what it passes over.
    async fn until(&mut self, what: &str, wanted: impl Fn(&ServerMsg) -> bool) -> ServerMsg {
        let found = tokio::time::timeout(common::STEP, async {
            loop {
                let event = self.chat.recv_all().await;
                self.seen.push(event.clone());
                if wanted(&event) {
                    return event;
                }
            }
        })
        .await;
        found.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }

    /// Everything until it has been quiet for a moment, kept.
    async fn drain(&mut self) {
        while let Ok(event) =
            tokio::time::timeout(Duration::from_millis(500), self.chat.recv_all()).await
        {
            self.seen.push(event);
        }
    }
}

/// `chat` creates the private room `name` and is in it.
async fn create_private(chat: &mut Chat, name: &'static str) {
    chat.send(&ClientMsg::CreateRoom {
        room: room(name),
        private: true,
        max_members: None,
    })
    .await;
    chat.until(
        "joined the new room",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == name),
    )
    .await;
}

fn join(name: &str) -> ClientMsg {
    ClientMsg::Join {
        room: room(name),
        since: None,
        epoch: None,
    }
}

async fn every_request_gets_its_effect_or_a_typed_error(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let here = TestServer::spawn(config(url.clone()));
    let there = url.map(|url| TestServer::spawn(config(Some(url))));
    let other = there.as_ref().unwrap_or(&here);
    let mut olga = here.chat_as("Olga", &[]).await;
    let mut mike = other.chat_as("Mike", &[]).await;
    let mut sam = other.chat_as("Sam", &[]).await;
    // Never invited: nothing of the private room may ever reach Nina.
    let mut nina = Witness::connect(other, "Nina").await;

    // The owner creates a private room for two and is in it at once, with its rules.
    olga.send(&ClientMsg::CreateRoom {
        room: room("secret"),
        private: true,
        max_members: Some(2),
    })
    .await;
    olga.until("joined secret", |e| {
        matches!(e, ServerMsg::Joined { room, members, count: 1 } if room.as_str() == "secret" && members.len() == 1)
    })
    .await;
    match olga
        .until("the room's rules", |e| {
            matches!(e, ServerMsg::RoomPolicy { .. })
        })
        .await
    {
        ServerMsg::RoomPolicy {
            owner,
            private,
            max_members,
            ..
        } => {
            assert_eq!(
                (owner.as_ref().map(|o| o.as_str()), private, max_members),
                (Some("Olga"), true, Some(2))
            );
        }
        _ => unreachable!(),
    }

    // A non-member: cannot join, find, take, speak in, read, or invite into it.
    assert_eq!(sam.refused(join("secret")).await, ErrorCode::Forbidden);
    assert!(!room_list(&mut sam).await.contains(&"secret".to_owned()));
    let create = ClientMsg::CreateRoom {
        room: room("secret"),
        private: false,
        max_members: None,
    };
    assert_eq!(sam.refused(create).await, ErrorCode::RoomExists);
    let say = |text: &str| ClientMsg::Say {
        room: room("secret"),
        text: text.try_into().unwrap(),
        client_id: format!("c-{}", text.len()).parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    };
    assert_eq!(sam.refused(say("let me in")).await, ErrorCode::NotInRoom);
    let typing = ClientMsg::Typing {
        room: room("secret"),
    };
    assert_eq!(sam.refused(typing).await, ErrorCode::NotInRoom);
    let older = ClientMsg::LoadOlder {
        room: room("secret"),
        before: 100,
    };
    assert_eq!(sam.refused(older).await, ErrorCode::NotInRoom);
    let newer = ClientMsg::LoadNewer {
        room: room("secret"),
        after: 0,
    };
    assert_eq!(sam.refused(newer).await, ErrorCode::NotInRoom);
    let invite = |who: &str| ClientMsg::Invite {
        room: room("secret"),
        user: who.parse().unwrap(),
    };
    assert_eq!(sam.refused(invite("Sam")).await, ErrorCode::Forbidden);
    // An owner cannot invite someone who is nowhere.
    assert_eq!(olga.refused(invite("Nobody")).await, ErrorCode::NoSuchUser);
    // A public room made by join has no owner to invite with.
    let lobby_invite = ClientMsg::Invite {
        room: room("lobby"),
        user: "Sam".parse().unwrap(),
    };
    assert_eq!(olga.refused(lobby_invite).await, ErrorCode::Forbidden);

    // The owner invites Mike (on the other node in a cluster): he is told, may join, sees
    // the members and what is said, and finds the room in his list.
    olga.send(&invite("Mike")).await;
    match mike
        .until("the invitation", |e| matches!(e, ServerMsg::Invited { .. }))
        .await
    {
        ServerMsg::Invited { room, by } => {
            assert_eq!((room.as_str(), by.as_str()), ("secret", "Olga"))
        }
        _ => unreachable!(),
    }
    mike.send(&join("secret")).await;
    match mike
        .until(
            "joined secret",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "secret"),
        )
        .await
    {
        ServerMsg::Joined { members, .. } => {
            let names: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
            assert_eq!(names, ["Mike", "Olga"]);
        }
        _ => unreachable!(),
    }
    olga.until("Mike joining", |e| {
        matches!(e, ServerMsg::Presence { room, joined, .. } if room.as_str() == "secret" && joined.iter().any(|u| u.as_str() == "Mike"))
    })
    .await;
    assert!(room_list(&mut mike).await.contains(&"secret".to_owned()));
    olga.send(&say("hidden text")).await;
    for chat in [&mut olga, &mut mike] {
        chat.until(
            "the private message",
            |e| matches!(e, ServerMsg::Said { text, .. } if text.as_str() == "hidden text"),
        )
        .await;
    }
    olga.send(&ClientMsg::Typing {
        room: room("secret"),
    })
    .await;
    mike.until(
        "Olga typing",
        |e| matches!(e, ServerMsg::Typing { room, .. } if room.as_str() == "secret"),
    )
    .await;

    // At the cap: an invited third user is refused as the room is full, then the
    // invitation is taken back and the room is closed to him again.
    olga.send(&invite("Sam")).await;
    sam.until("the invitation", |e| matches!(e, ServerMsg::Invited { .. }))
        .await;
    assert_eq!(sam.refused(join("secret")).await, ErrorCode::RoomFull);
    olga.send(&ClientMsg::Uninvite {
        room: room("secret"),
        user: "Sam".parse().unwrap(),
    })
    .await;
    // Sam's node has the change once a member there (Mike) hears of it: in a cluster each
    // node applies a change when it hears of it.
    mike.until("the uninvitation", |e| {
        matches!(e, ServerMsg::Moderated { action: shared::ModAction::Uninvited { user }, .. } if user.as_str() == "Sam")
    })
    .await;
    assert_eq!(sam.refused(join("secret")).await, ErrorCode::Forbidden);

    // Only the owner may take an invitation back; then Mike is removed, and told why.
    let uninvite_mike = ClientMsg::Uninvite {
        room: room("secret"),
        user: "Mike".parse().unwrap(),
    };
    assert_eq!(
        mike.refused(uninvite_mike.clone()).await,
        ErrorCode::Forbidden
    );
    olga.send(&uninvite_mike).await;
    match mike
        .until("being removed", |e| matches!(e, ServerMsg::Removed { .. }))
        .await
    {
        ServerMsg::Removed { room, by, reason } => {
            assert_eq!(
                (room.as_str(), by.as_str(), reason),
                ("secret", "Olga", RemovedReason::Uninvited)
            );
        }
        _ => unreachable!(),
    }
    mike.until(
        "left",
        |e| matches!(e, ServerMsg::Left { room } if room.as_str() == "secret"),
    )
    .await;
    olga.until("Mike leaving", |e| {
        matches!(e, ServerMsg::Presence { room, left, .. } if room.as_str() == "secret" && left.iter().any(|u| u.as_str() == "Mike"))
    })
    .await;
    assert_eq!(mike.refused(join("secret")).await, ErrorCode::Forbidden);
    olga.send(&say("after mike")).await;
    olga.until(
        "her own message",
        |e| matches!(e, ServerMsg::Said { text, .. } if text.as_str() == "after mike"),
    )
    .await;

    // Nina, never invited, heard nothing of it: no member, message, typing or name, in any
    // event since she connected (her room list asked for last, too).
    nina.chat.send(&ClientMsg::ListRooms).await;
    nina.until("rooms", |e| matches!(e, ServerMsg::Rooms { .. }))
        .await;
    nina.drain().await;
    assert!(nina.seen.len() >= 4, "{:?}", nina.seen);
    for event in &nina.seen {
        let json = shared::encode(event).unwrap();
        assert!(
            !json.contains("secret") && !json.contains("hidden text"),
            "a non-member received {json}"
        );
    }
    let leaked: Vec<String> = drain(&mut mike)
        .await
        .iter()
        .map(|e| shared::encode(e).unwrap())
        .filter(|json| json.contains("after mike"))
        .collect();
    assert!(
        leaked.is_empty(),
        "a removed member still hears the room: {leaked:?}"
    );
}

#[actix_web::test]
async fn a_private_room_survives_a_restart_and_stays_closed() {
    let data = tempfile::tempdir().unwrap();
    let with_data = || Config {
        data_dir: data.path().to_owned(),
        ..config(None)
    };
    let server = TestServer::spawn(with_data());
    let mut olga = server.chat_as("Olga", &[]).await;
    create_private(&mut olga, "vault").await;
    drop(olga);
    server.stop().await.unwrap();
    let server = TestServer::spawn(with_data());
    let mut sam = server.chat_as("Sam", &[]).await;
    assert_eq!(sam.refused(join("vault")).await, ErrorCode::Forbidden);
}

#[actix_web::test]
async fn a_node_cut_off_from_redis_applies_what_it_missed_when_it_is_back() {
    let redis = RedisServer::start().await;
    let mut proxy = common::tcp_proxy::TcpProxy::start(([127, 0, 0, 1], redis.port).into()).await;
    let fine = TestServer::spawn(config(Some(redis.url())));
    let cut_off = TestServer::spawn(config(Some(format!("redis://{}/", proxy.addr))));
    let mut olga = fine.chat_as("Olga", &[]).await;
    let mut mike = cut_off.chat_as("Mike", &[]).await;
    create_private(&mut olga, "den").await;
    olga.send(&ClientMsg::Invite {
        room: room("den"),
        user: "Mike".parse().unwrap(),
    })
    .await;
    mike.until("the invitation", |e| matches!(e, ServerMsg::Invited { .. }))
        .await;
    mike.send(&join("den")).await;
    mike.until(
        "joined den",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "den"),
    )
    .await;

    // Mike's node loses Redis; meanwhile his invitation is taken back on the other node.
    proxy.stop();
    common::eventually("Mike's node notices", || async {
        common::http_get(cut_off.addr, "/readyz").await.0 == 503
    })
    .await;
    olga.send(&ClientMsg::Uninvite {
        room: room("den"),
        user: "Mike".parse().unwrap(),
    })
    .await;
    olga.until("Mike's removal announced", |e| {
        matches!(e, ServerMsg::Moderated { .. })
    })
    .await;
    // Back: his node reloads the policies (the change was published while it was away) and
    // removes him.
    proxy.resume().await;
    let removed = tokio::time::timeout(Duration::from_secs(20), async {
        // Reading the socket directly: the usual helpers give up after a step (5 s), and the
        // node's reconnection to Redis may take longer.
        use futures_util::StreamExt as _;
        loop {
            let Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) =
                mike.ws.next().await
            else {
                continue;
            };
            if let Ok(ServerMsg::Removed { room, reason, .. }) = shared::decode(&text) {
                return (room, reason);
            }
        }
    })
    .await
    .expect("removed once his node is back in touch with Redis");
    assert_eq!(removed.0.as_str(), "den");
    assert_eq!(removed.1, RemovedReason::Uninvited);
}

/// Hole 10 of issue #27, item 6: one user owns at most `--max-owned-rooms` rooms, said in
/// `welcome`. Past it `create_room` gets `too_many_rooms`, counting the rooms being created
/// (a burst of requests does not all pass) and, in cluster mode, those made on another node;
/// another user is not affected.
async fn a_user_owns_at_most_max_owned_rooms(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let with_cap = |url| Config {
        max_owned_rooms: 3,
        ..config(url)
    };
    let here = TestServer::spawn(with_cap(url.clone()));
    let there = url.map(|url| TestServer::spawn(with_cap(Some(url))));
    let other = there.as_ref().unwrap_or(&here);
    let mut probe = here.chat_socket().await;
    probe.send(&common::hello("Probe", &[])).await;
    match probe.recv().await {
        ServerMsg::Welcome { limits, .. } => assert_eq!(limits.max_owned_rooms, 3),
        other => panic!("expected welcome, got {other:?}"),
    }
    let create = |name: &str| ClientMsg::CreateRoom {
        room: room(name),
        private: false,
        max_members: None,
    };
    let mut olga = here.chat_as("Olga", &[]).await;
    create_private(&mut olga, "first").await;
    create_private(&mut olga, "second").await;
    // Three at once with one left: one is made, two refused before they reach the store.
    for name in ["third", "fourth", "fifth"] {
        olga.send(&create(name)).await;
    }
    let (mut made, mut refused) = (Vec::new(), 0);
    while made.len() + refused < 3 {
        match olga.recv_any().await {
            ServerMsg::Joined { room, .. } => made.push(room.to_string()),
            ServerMsg::Error { code, .. } => {
                assert_eq!(code, ErrorCode::TooManyRooms);
                refused += 1;
            }
            _ => {}
        }
    }
    assert_eq!(made, ["third"]);
    // Her other tab, on the other node once it knows the rooms (the newest one's rules
    // reach a member there when that node has them, and with them those of the others).
    let mut tab = other
        .chat_with_token("Olga", common::token_for("Olga"), &[])
        .await;
    tab.send(&join("third")).await;
    tab.until(
        "third's rules on the other node",
        |e| matches!(e, ServerMsg::RoomPolicy { room, .. } if room.as_str() == "third"),
    )
    .await;
    assert_eq!(tab.refused(create("sixth")).await, ErrorCode::TooManyRooms);
    // Someone else creates as before.
    let mut sam = other.chat_as("Sam", &[]).await;
    sam.send(&create("sams")).await;
    sam.until(
        "joined his room",
        |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "sams"),
    )
    .await;
}

common::in_both_modes!(
    every_request_gets_its_effect_or_a_typed_error,
    a_user_owns_at_most_max_owned_rooms,
);
