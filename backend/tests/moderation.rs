//! The permission matrix over real sockets, in both modes (single node; two nodes sharing a
//! real `redis-server`, the users spread over both): every request type, asked by a
//! non-member, a member, a muted member, a banned user, a moderator, the owner and a server
//! admin, in a public and in a private room, gets either its effect or a typed error; and
//! nothing of the private room reaches the non-member or the banned user.
//!
//! Accounts mode, so that `--admin` means something and the target of the moderation
//! requests, `tina`, can be an account that never comes online (its key follows from its
//! name): acting on her changes nobody's sockets, so every case sees the same room.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use backend::Config;
use common::{Chat, Mode, STEP, TestServer, post_json, set_cookie, token_for};
use shared::{ClientMsg, ErrorCode, Nick, RemovedReason, RoomName, ServerMsg, paths};

fn config(redis: Option<String>) -> Config {
    Config {
        auth: shared::auth::AuthMode::Accounts,
        admins: vec!["root".into()],
        ..common::patient_config(redis)
    }
}

fn nick(name: &str) -> Nick {
    name.parse().unwrap()
}

/// A user logged in (a fresh account) with a chat socket in the lobby.
async fn user(server: &TestServer, name: &str) -> Member {
    let body = serde_json::json!({ "name": name, "password": "a long password" }).to_string();
    let (status, head, reply) = post_json(server.addr, paths::API_REGISTER, &body, None).await;
    assert_eq!(status, 201, "{reply}");
    let cookie = set_cookie(&head).unwrap();
    let mut chat = server.chat_socket_with_cookie(Some(&cookie)).await;
    let me = chat.identify(name, token_for(name), &[], None).await;
    assert_eq!(me.as_str(), name);
    Member {
        chat,
        cookie,
        server: server.addr,
        seen: Vec::new(),
    }
}

/// What a request must come to.
enum Expect {
    /// This typed error.
    Error(ErrorCode),
    /// An event for which the predicate holds (specific enough that an earlier event still
    /// queued cannot pass for it).
    Event(&'static str, Box<dyn Fn(&ServerMsg) -> bool>),
}

/// Reads the answer to the request just sent: the expected event, or the expected error.
/// Fails on any other error, or if neither comes within [`STEP`].
async fn answered(chat: &mut Member, who: &str, what: &str, expect: Expect) {
    let outcome = tokio::time::timeout(STEP, async {
        loop {
            let event = chat.next().await;
            match (&expect, &event) {
                (
                    Expect::Error(code),
                    ServerMsg::Error {
                        code: got, message, ..
                    },
                ) => {
                    assert_eq!(got, code, "{who} {what}: {message}");
                    return;
                }
                (Expect::Event(..), ServerMsg::Error { code, message, .. }) => {
                    panic!("{who} {what}: refused with {code:?}: {message}")
                }
                (Expect::Event(_, wanted), event) if wanted(event) => return,
                _ => {}
            }
        }
    })
    .await;
    if outcome.is_err() {
        let wanted = match expect {
            Expect::Error(code) => format!("{code:?}"),
            Expect::Event(name, _) => name.to_owned(),
        };
        panic!("{who} {what}: no {wanted} within {STEP:?}");
    }
}

/// The room's announcement of `request`, a moderation request (same kind, same target).
fn announced(request: &ClientMsg) -> Expect {
    let (room, kind, user) = match request {
        ClientMsg::Invite { room, user } => (room, "invited", Some(user)),
        ClientMsg::Uninvite { room, user } => (room, "uninvited", Some(user)),
        ClientMsg::SetModerator {
            room,
            user,
            moderator: true,
        } => (room, "moderator_added", Some(user)),
        ClientMsg::SetModerator { room, user, .. } => (room, "moderator_removed", Some(user)),
        ClientMsg::Kick { room, user } => (room, "kicked", Some(user)),
        ClientMsg::Mute {
            room,
            user,
            for_secs: 0,
        } => (room, "unmuted", Some(user)),
        ClientMsg::Mute { room, user, .. } => (room, "muted", Some(user)),
        ClientMsg::Ban { room, user } => (room, "banned", Some(user)),
        ClientMsg::Unban { room, user } => (room, "unbanned", Some(user)),
        other => panic!("not a moderation request: {other:?}"),
    };
    let (room, user) = (room.clone(), user.cloned());
    Expect::Event(
        "moderated",
        Box::new(move |event| match event {
            ServerMsg::Moderated {
                room: r, action, ..
            } if *r == room => {
                let json = serde_json::to_value(action).unwrap();
                json["kind"] == kind && user.as_ref().is_none_or(|u| json["user"] == u.as_str())
            }
            _ => false,
        }),
    )
}

fn joined(room: &RoomName) -> Expect {
    let room = room.clone();
    Expect::Event(
        "joined",
        Box::new(move |e| matches!(e, ServerMsg::Joined { room: r, .. } if *r == room)),
    )
}

fn said(client_id: &str) -> Expect {
    let id: shared::ClientMsgId = client_id.parse().unwrap();
    Expect::Event(
        "said",
        Box::new(move |e| matches!(e, ServerMsg::Said { client_id: c, .. } if *c == id)),
    )
}

/// The roles, by name.
const OWNER: &str = "olga";
const MODERATOR: &str = "mona";
const MEMBER: &str = "mike";
const MUTED: &str = "mute";
const BANNED: &str = "bart";
const OUTSIDER: &str = "nina";
const ADMIN: &str = "root";

/// Rank of each role for the moderation requests.
fn may_moderate(role: &str) -> bool {
    [MODERATOR, OWNER, ADMIN].contains(&role)
}

fn may_administer(role: &str) -> bool {
    [OWNER, ADMIN].contains(&role)
}

/// In the room (and so able to speak and read): everyone but the outsider and the banned.
fn inside(role: &str) -> bool {
    ![OUTSIDER, BANNED].contains(&role)
}

/// A user's socket, and every event it received (the leak checks read them all, including
/// those a test step skipped on its way to the answer it waited for).
struct Member {
    chat: Chat,
    /// Its login, for another tab.
    cookie: String,
    /// The server it is connected to.
    server: std::net::SocketAddr,
    seen: Vec<ServerMsg>,
}

impl Member {
    async fn send(&mut self, request: &ClientMsg) {
        self.chat.send(request).await;
    }

    async fn next(&mut self) -> ServerMsg {
        let event = self.chat.recv_any().await;
        self.seen.push(event.clone());
        event
    }
}

struct Users {
    chats: Vec<(&'static str, Member)>,
}

impl Users {
    fn get(&mut self, name: &str) -> &mut Member {
        &mut self.chats.iter_mut().find(|(n, _)| *n == name).unwrap().1
    }

    async fn ask(&mut self, name: &str, request: ClientMsg, what: &str, expect: Expect) {
        let chat = self.get(name);
        chat.send(&request).await;
        answered(chat, name, what, expect).await;
    }
}

/// Sets the room up: owned by Olga, Mona its moderator, everyone else but Nina in it, Mute
/// muted and Bart banned (and so out of it).
async fn set_up(users: &mut Users, room: &RoomName, private: bool) {
    users
        .ask(
            OWNER,
            ClientMsg::CreateRoom {
                room: room.clone(),
                private,
                max_members: None,
            },
            "create_room",
            joined(room),
        )
        .await;
    if private {
        for name in [MODERATOR, MEMBER, MUTED, BANNED] {
            let invite = ClientMsg::Invite {
                room: room.clone(),
                user: nick(name),
            };
            let expect = announced(&invite);
            users.ask(OWNER, invite, "invite", expect).await;
            // The invitee's node has the invitation once the invitee is told (in a cluster,
            // each node applies a change when it hears of it).
            let in_room = room.clone();
            let told = Expect::Event(
                "invited",
                Box::new(move |e| matches!(e, ServerMsg::Invited { room, .. } if *room == in_room)),
            );
            answered(users.get(name), name, "being invited", told).await;
        }
    }
    for name in [MODERATOR, MEMBER, MUTED, BANNED, ADMIN] {
        let join = ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        };
        users.ask(name, join, "join", joined(room)).await;
    }
    let set_moderator = ClientMsg::SetModerator {
        room: room.clone(),
        user: nick(MODERATOR),
        moderator: true,
    };
    let seen = announced(&set_moderator);
    let expect = announced(&set_moderator);
    users
        .ask(OWNER, set_moderator, "set_moderator", expect)
        .await;
    answered(users.get(MODERATOR), MODERATOR, "being named", seen).await;
    let mute = ClientMsg::Mute {
        room: room.clone(),
        user: nick(MUTED),
        for_secs: 600,
    };
    let seen = announced(&mute);
    let expect = announced(&mute);
    users.ask(MODERATOR, mute, "mute", expect).await;
    answered(users.get(MUTED), MUTED, "being muted", seen).await;
    let ban = ClientMsg::Ban {
        room: room.clone(),
        user: nick(BANNED),
    };
    let expect = announced(&ban);
    users.ask(MODERATOR, ban, "ban", expect).await;
    let bart = users.get(BANNED);
    answered(
        bart,
        BANNED,
        "being banned",
        Expect::Event(
            "removed",
            Box::new(|e| {
                matches!(
                    e,
                    ServerMsg::Removed {
                        reason: RemovedReason::Banned,
                        ..
                    }
                )
            }),
        ),
    )
    .await;
    let in_room = room.clone();
    let bart = users.get(BANNED);
    answered(
        bart,
        BANNED,
        "leaving when banned",
        Expect::Event(
            "left",
            Box::new(move |e| matches!(e, ServerMsg::Left { room } if *room == in_room)),
        ),
    )
    .await;
}

/// Every request by every role in `room`.
async fn every_role_and_request(users: &mut Users, room: &RoomName, private: bool) {
    // From here until unbanned, nothing of the room may reach the banned user but answers.
    let banned_from = users.get(BANNED).seen.len();
    let roles = [OUTSIDER, MEMBER, MUTED, BANNED, MODERATOR, OWNER, ADMIN];
    for role in roles {
        // join: the banned are refused; so is the outsider at a private room; the rest are
        // in (again). The outsider who joins a public room leaves again after.
        let expect = if role == BANNED {
            Expect::Error(ErrorCode::Banned)
        } else if role == OUTSIDER && private {
            Expect::Error(ErrorCode::Forbidden)
        } else {
            joined(room)
        };
        let join = ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        };
        users.ask(role, join, "join", expect).await;
        if role == OUTSIDER && !private {
            let leave = ClientMsg::Leave { room: room.clone() };
            users
                .ask(
                    role,
                    leave,
                    "leave",
                    Expect::Event("left", Box::new(|e| matches!(e, ServerMsg::Left { .. }))),
                )
                .await;
        }

        // say: the muted are refused; those not inside are not in the room.
        let client_id = format!("{role}-{}", room.as_str());
        let expect = if !inside(role) {
            Expect::Error(ErrorCode::NotInRoom)
        } else if role == MUTED {
            Expect::Error(ErrorCode::Muted)
        } else {
            said(&client_id)
        };
        let say = ClientMsg::Say {
            room: room.clone(),
            text: format!("private words from {role}").try_into().unwrap(),
            client_id: client_id.parse().unwrap(),
            reply_to: None,
            image: None,
            file: None,
        };
        users.ask(role, say, "say", expect).await;

        // typing: the same rules; its effect is seen by another member.
        let typing = ClientMsg::Typing { room: room.clone() };
        if !inside(role) || role == MUTED {
            let code = if role == MUTED {
                ErrorCode::Muted
            } else {
                ErrorCode::NotInRoom
            };
            users.ask(role, typing, "typing", Expect::Error(code)).await;
        } else {
            users.get(role).send(&typing).await;
            let observer = if role == OWNER { MODERATOR } else { OWNER };
            let chat = users.get(observer);
            let (typist, in_room) = (nick(role), room.clone());
            let typing = Expect::Event(
                "typing",
                Box::new(move |e| {
                    matches!(e, ServerMsg::Typing { room, user, active: true }
                        if *room == in_room && *user == typist)
                }),
            );
            answered(chat, observer, "seeing someone type", typing).await;
        }

        // load_older and load_newer: members read; the rest are not in the room.
        let pages = [
            (
                ClientMsg::LoadOlder {
                    room: room.clone(),
                    before: 1_000,
                },
                shared::HistoryMode::Older,
                "load_older",
            ),
            (
                ClientMsg::LoadNewer {
                    room: room.clone(),
                    after: 0,
                },
                shared::HistoryMode::Newer,
                "load_newer",
            ),
        ];
        for (request, wanted, name) in pages {
            if inside(role) {
                let chat = users.get(role);
                chat.send(&request).await;
                let got = tokio::time::timeout(STEP, async {
                    loop {
                        match chat.next().await {
                            ServerMsg::History { mode, .. } if mode == wanted => return true,
                            ServerMsg::Error { .. } => return false,
                            _ => {}
                        }
                    }
                })
                .await;
                assert_eq!(got.ok(), Some(true), "{role} {name}");
            } else {
                users
                    .ask(role, request, name, Expect::Error(ErrorCode::NotInRoom))
                    .await;
            }
        }

        // list_rooms: a private room shows only to those it admits.
        let chat = users.get(role);
        chat.send(&ClientMsg::ListRooms).await;
        let listed = loop {
            if let ServerMsg::Rooms { rooms } = chat.next().await {
                break rooms.iter().any(|r| &r.name == room);
            }
        };
        let sees = !private || inside(role);
        assert_eq!(listed, sees, "{role} sees {room} in the list: {listed}");

        // invite, uninvite, set_moderator: the owner and admins; kick, mute, ban, unban and
        // delete_message: moderators too. Everyone else: forbidden.
        let tina = || nick("tina");
        let requests = [
            (
                may_administer as fn(&str) -> bool,
                ClientMsg::Invite {
                    room: room.clone(),
                    user: tina(),
                },
            ),
            (
                may_administer,
                ClientMsg::Uninvite {
                    room: room.clone(),
                    user: tina(),
                },
            ),
            (
                may_administer,
                ClientMsg::SetModerator {
                    room: room.clone(),
                    user: tina(),
                    moderator: true,
                },
            ),
            (
                may_administer,
                ClientMsg::SetModerator {
                    room: room.clone(),
                    user: tina(),
                    moderator: false,
                },
            ),
            (
                may_moderate,
                ClientMsg::Kick {
                    room: room.clone(),
                    user: tina(),
                },
            ),
            (
                may_moderate,
                ClientMsg::Mute {
                    room: room.clone(),
                    user: tina(),
                    for_secs: 60,
                },
            ),
            (
                may_moderate,
                ClientMsg::Mute {
                    room: room.clone(),
                    user: tina(),
                    for_secs: 0,
                },
            ),
            (
                may_moderate,
                ClientMsg::Ban {
                    room: room.clone(),
                    user: tina(),
                },
            ),
            (
                may_moderate,
                ClientMsg::Unban {
                    room: room.clone(),
                    user: tina(),
                },
            ),
        ];
        for (allowed, request) in requests {
            let what = format!("{request:?}");
            let expect = if allowed(role) {
                announced(&request)
            } else {
                Expect::Error(ErrorCode::Forbidden)
            };
            users.ask(role, request, &what, expect).await;
        }

        // delete_message of someone else's message: moderators (and better) only; those not
        // inside are not in the room.
        let poster = if role == OWNER { MODERATOR } else { OWNER };
        // Client ids are per sender across rooms (single node): the room is part of them.
        let tag = format!("del-{role}-{}", room.as_str());
        let id = say_and_wait(users.get(poster), room, &tag).await;
        let delete = ClientMsg::DeleteMessage {
            room: room.clone(),
            id,
            client_id: format!("{tag}-by").parse().unwrap(),
        };
        let expect = if !inside(role) {
            Expect::Error(ErrorCode::NotInRoom)
        } else if may_moderate(role) {
            deleted(id)
        } else {
            Expect::Error(ErrorCode::Forbidden)
        };
        users.ask(role, delete, "delete_message", expect).await;
    }

    // leave: those inside leave (and come back); the others are not in the room. And nobody
    // may create the room again.
    for role in roles {
        let leave = ClientMsg::Leave { room: room.clone() };
        if inside(role) {
            let in_room = room.clone();
            let left = Expect::Event(
                "left",
                Box::new(move |e| matches!(e, ServerMsg::Left { room } if *room == in_room)),
            );
            users.ask(role, leave, "leave", left).await;
            let join = ClientMsg::Join {
                room: room.clone(),
                since: None,
                epoch: None,
            };
            users.ask(role, join, "join again", joined(room)).await;
        } else {
            let refused = Expect::Error(ErrorCode::NotInRoom);
            users.ask(role, leave, "leave", refused).await;
        }
        let create = ClientMsg::CreateRoom {
            room: room.clone(),
            private: false,
            max_members: None,
        };
        users
            .ask(
                role,
                create,
                "create_room",
                Expect::Error(ErrorCode::RoomExists),
            )
            .await;
    }
    // A ban holds for another tab (a new connection with the same login).
    let (cookie, server) = {
        let bart = users.get(BANNED);
        (bart.cookie.clone(), bart.server)
    };
    let mut tab = Member {
        chat: TestServer::at(server)
            .chat_socket_with_cookie(Some(&cookie))
            .await,
        cookie,
        server,
        seen: Vec::new(),
    };
    tab.chat
        .identify(BANNED, token_for(BANNED), &[], None)
        .await;
    tab.send(&ClientMsg::Join {
        room: room.clone(),
        since: None,
        epoch: None,
    })
    .await;
    answered(
        &mut tab,
        BANNED,
        "join from another tab",
        Expect::Error(ErrorCode::Banned),
    )
    .await;
    drain(users.get(BANNED)).await;
    assert_nothing_of(users, BANNED, room, private, banned_from);

    // Nobody acts on their own rank or above.
    for (actor, target) in [
        (MODERATOR, OWNER),
        (MODERATOR, ADMIN),
        (OWNER, ADMIN),
        (MEMBER, MUTED),
    ] {
        let kick = ClientMsg::Kick {
            room: room.clone(),
            user: nick(target),
        };
        users
            .ask(
                actor,
                kick,
                &format!("kick {target}"),
                Expect::Error(ErrorCode::Forbidden),
            )
            .await;
    }
    // The banned stay out until unbanned; the muted speak again once unmuted.
    let unban = ClientMsg::Unban {
        room: room.clone(),
        user: nick(BANNED),
    };
    let seen = announced(&unban);
    let expect = announced(&unban);
    users.ask(OWNER, unban, "unban", expect).await;
    // The banned user's node has the unban once a member there hears of it.
    answered(
        users.get(MODERATOR),
        MODERATOR,
        "hearing of the unban",
        seen,
    )
    .await;
    let join = ClientMsg::Join {
        room: room.clone(),
        since: None,
        epoch: None,
    };
    users
        .ask(BANNED, join, "join once unbanned", joined(room))
        .await;
    let unmute = ClientMsg::Mute {
        room: room.clone(),
        user: nick(MUTED),
        for_secs: 0,
    };
    let expect = announced(&unmute);
    users.ask(ADMIN, unmute, "unmute", expect).await;
    let client_id = format!("free-{}", room.as_str());
    let say = ClientMsg::Say {
        room: room.clone(),
        text: "free again".try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    };
    users
        .ask(MUTED, say, "say once unmuted", said(&client_id))
        .await;
    // A deleted message is a placeholder in everybody's history afterwards.
    let tag = format!("to-be-deleted-{}", room.as_str());
    let id = say_and_wait(users.get(MEMBER), room, &tag).await;
    let delete = ClientMsg::DeleteMessage {
        room: room.clone(),
        id,
        client_id: format!("del-{}", room.as_str()).parse().unwrap(),
    };
    users.ask(MODERATOR, delete, "delete", deleted(id)).await;
    let chat = users.get(MEMBER);
    chat.send(&ClientMsg::LoadOlder {
        room: room.clone(),
        before: 1_000_000,
    })
    .await;
    let messages = loop {
        if let ServerMsg::History {
            mode: shared::HistoryMode::Older,
            messages,
            ..
        } = chat.next().await
        {
            break messages;
        }
    };
    let gone = messages.iter().find(|m| m.id == id).unwrap();
    assert!(gone.deleted, "{gone:?}");
    assert_eq!(gone.text.as_str(), shared::RoomMessage::DELETED_TEXT);
    assert!(
        !messages
            .iter()
            .any(|m| m.text.as_str().contains("to-be-deleted"))
    );
    assert!(messages.iter().any(|m| m.text.as_str() == "free again"));
}

/// Says something with `client_id` in `room` and waits for its acknowledgement: its id.
async fn say_and_wait(chat: &mut Member, room: &RoomName, client_id: &str) -> shared::MessageId {
    chat.send(&ClientMsg::Say {
        room: room.clone(),
        text: format!("words {client_id}").try_into().unwrap(),
        client_id: client_id.parse().unwrap(),
        reply_to: None,
        image: None,
        file: None,
    })
    .await;
    loop {
        if let ServerMsg::Said {
            id, client_id: c, ..
        } = chat.next().await
            && c.as_str() == client_id
        {
            return id;
        }
    }
}

/// The room's `changed` event deleting message `id`.
fn deleted(id: shared::MessageId) -> Expect {
    Expect::Event(
        "changed (deleted)",
        Box::new(move |e| {
            matches!(e, ServerMsg::Changed { target, change: shared::Change::Deleted, .. }
                if *target == id)
        }),
    )
}

/// Everything `chat` receives until it has been quiet for a moment.
async fn drain(chat: &mut Member) {
    while tokio::time::timeout(Duration::from_millis(500), chat.next())
        .await
        .is_ok()
    {}
}

/// Fails if `who` received anything of `room` but answers to their own requests (and, for a
/// public room, its name in the room list, which everyone may see).
fn assert_nothing_of(users: &mut Users, who: &str, room: &RoomName, private: bool, since: usize) {
    for event in &users.get(who).seen[since..] {
        let public_listing = !private && matches!(event, ServerMsg::Rooms { .. });
        if matches!(event, ServerMsg::Error { .. }) || public_listing {
            continue;
        }
        let json = shared::encode(event).unwrap();
        assert!(
            !json.contains(room.as_str()) && !json.contains("private words"),
            "{who}, not in {room}, received {json}"
        );
    }
}

async fn permission_matrix(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let one = TestServer::spawn(config(url.clone()));
    let two = url.map(|url| TestServer::spawn(config(Some(url))));
    let other = two.as_ref().unwrap_or(&one);
    let mut users = Users { chats: Vec::new() };
    for (name, server) in [
        (OWNER, &one),
        (ADMIN, &one),
        (MUTED, &one),
        (MODERATOR, other),
        (MEMBER, other),
        (BANNED, other),
        (OUTSIDER, other),
    ] {
        let chat = user(server, name).await;
        users.chats.push((name, chat));
    }
    let public = RoomName::try_from("open-room".to_owned()).unwrap();
    set_up(&mut users, &public, false).await;
    every_role_and_request(&mut users, &public, false).await;
    // What the public room left in the queues is read before the private room starts.
    drain(users.get(OUTSIDER)).await;
    drain(users.get(BANNED)).await;

    let private = RoomName::try_from("closed-room".to_owned()).unwrap();
    let outsider_from = users.get(OUTSIDER).seen.len();
    set_up(&mut users, &private, true).await;
    every_role_and_request(&mut users, &private, true).await;
    // The outsider, never in the private room, received nothing of it (every event counted,
    // including those skipped on the way to an answer), only answers to their own requests.
    drain(users.get(OUTSIDER)).await;
    assert_nothing_of(&mut users, OUTSIDER, &private, true, outsider_from);
}

/// Hole 3 of issue #27: a moderator the owner banned (public room) or uninvited (private
/// room) loses the rank, `room_policy` says so, and their moderation requests are refused;
/// the uninvited one is not admitted any more. On the code before the fix, Mona kicked Mike
/// after her ban, and joined the private room again after her uninvite.
async fn a_banned_or_uninvited_moderator_moderates_no_more(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let one = TestServer::spawn(config(url.clone()));
    let two = url.map(|url| TestServer::spawn(config(Some(url))));
    let other = two.as_ref().unwrap_or(&one);
    let mut users = Users { chats: Vec::new() };
    for (name, server) in [(OWNER, &one), (MODERATOR, other), (MEMBER, other)] {
        let chat = user(server, name).await;
        users.chats.push((name, chat));
    }
    for (room, private) in [("ban-room", false), ("uninvite-room", true)] {
        let room = RoomName::try_from(room.to_owned()).unwrap();
        let create = ClientMsg::CreateRoom {
            room: room.clone(),
            private,
            max_members: None,
        };
        users.ask(OWNER, create, "create_room", joined(&room)).await;
        for name in [MODERATOR, MEMBER] {
            if private {
                let invite = ClientMsg::Invite {
                    room: room.clone(),
                    user: nick(name),
                };
                let expect = announced(&invite);
                users.ask(OWNER, invite, "invite", expect).await;
                let in_room = room.clone();
                let told = Expect::Event(
                    "invited",
                    Box::new(
                        move |e| matches!(e, ServerMsg::Invited { room, .. } if *room == in_room),
                    ),
                );
                answered(users.get(name), name, "being invited", told).await;
            }
            let join = ClientMsg::Join {
                room: room.clone(),
                since: None,
                epoch: None,
            };
            users.ask(name, join, "join", joined(&room)).await;
        }
        let name_her = ClientMsg::SetModerator {
            room: room.clone(),
            user: nick(MODERATOR),
            moderator: true,
        };
        let (seen, expect) = (announced(&name_her), announced(&name_her));
        users.ask(OWNER, name_her, "set_moderator", expect).await;
        answered(users.get(MODERATOR), MODERATOR, "being named", seen).await;

        // The owner takes her out: a ban, or (private room) an uninvite.
        let out = if private {
            ClientMsg::Uninvite {
                room: room.clone(),
                user: nick(MODERATOR),
            }
        } else {
            ClientMsg::Ban {
                room: room.clone(),
                user: nick(MODERATOR),
            }
        };
        let in_room = room.clone();
        let policy_without_her = Expect::Event(
            "room_policy without her",
            Box::new(move |e| {
                matches!(e, ServerMsg::RoomPolicy { room, moderators, .. }
                    if *room == in_room && !moderators.iter().any(|m| m.as_str() == MODERATOR))
            }),
        );
        users.get(OWNER).send(&out).await;
        answered(
            users.get(OWNER),
            OWNER,
            "taking her out",
            policy_without_her,
        )
        .await;
        let in_room = room.clone();
        let removed = Expect::Event(
            "left",
            Box::new(move |e| matches!(e, ServerMsg::Left { room } if *room == in_room)),
        );
        answered(users.get(MODERATOR), MODERATOR, "being removed", removed).await;
        // Mike's node has the change once he is told.
        let in_room = room.clone();
        let told = Expect::Event(
            "moderated",
            Box::new(move |e| matches!(e, ServerMsg::Moderated { room, .. } if *room == in_room)),
        );
        answered(users.get(MEMBER), MEMBER, "hearing of it", told).await;

        // She moderates no more, in the room or from outside it.
        for (request, what) in [
            (
                ClientMsg::Kick {
                    room: room.clone(),
                    user: nick(MEMBER),
                },
                "kick",
            ),
            (
                ClientMsg::Mute {
                    room: room.clone(),
                    user: nick(MEMBER),
                    for_secs: 60,
                },
                "mute",
            ),
            (
                ClientMsg::Unban {
                    room: room.clone(),
                    user: nick(MODERATOR),
                },
                "unban herself",
            ),
        ] {
            let refused = Expect::Error(ErrorCode::Forbidden);
            users.ask(MODERATOR, request, what, refused).await;
        }
        let join = ClientMsg::Join {
            room: room.clone(),
            since: None,
            epoch: None,
        };
        let refused = if private {
            ErrorCode::Forbidden
        } else {
            ErrorCode::Banned
        };
        users
            .ask(MODERATOR, join, "join again", Expect::Error(refused))
            .await;
    }
}

/// Hole 4 of issue #27: a passer-by cannot take a room others use private. A room with
/// messages (nobody in it at the moment), a room with members (on another node, in a
/// cluster) and the lobby (empty) are refused to `create_room` with `room_exists`; a fresh
/// name is not; a server admin may take over a room made by `join`. On the code before the
/// fix, Mike claimed the room that had only messages, and (on another node) the one with
/// members, and the empty lobby.
async fn a_room_in_use_is_nobodys_to_claim(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let one = TestServer::spawn(config(url.clone()));
    let two = url.map(|url| TestServer::spawn(config(Some(url))));
    let other = two.as_ref().unwrap_or(&one);
    let mut users = Users { chats: Vec::new() };
    for (name, server) in [(OWNER, &one), (ADMIN, &one), (MEMBER, other)] {
        let chat = user(server, name).await;
        users.chats.push((name, chat));
    }
    let room = |name: &str| RoomName::try_from(name.to_owned()).unwrap();
    let join = |name: &str| ClientMsg::Join {
        room: room(name),
        since: None,
        epoch: None,
    };
    let leave = |name: &str| ClientMsg::Leave { room: room(name) };
    let left = |name: &str| {
        let name = room(name);
        Expect::Event(
            "left",
            Box::new(move |e| matches!(e, ServerMsg::Left { room } if *room == name)),
        )
    };
    let create = |name: &str| ClientMsg::CreateRoom {
        room: room(name),
        private: true,
        max_members: None,
    };
    // Olga talks in "used-room" and leaves: messages, nobody in it.
    users
        .ask(OWNER, join("used-room"), "join", joined(&room("used-room")))
        .await;
    say_and_wait(users.get(OWNER), &room("used-room"), "u-1").await;
    users
        .ask(OWNER, leave("used-room"), "leave", left("used-room"))
        .await;
    // Olga stays in "busy-room" (on the other node, in a cluster), without a word.
    users
        .ask(OWNER, join("busy-room"), "join", joined(&room("busy-room")))
        .await;
    // Nobody in the lobby any more.
    for name in [OWNER, ADMIN, MEMBER] {
        users
            .ask(name, leave("lobby"), "leave the lobby", left("lobby"))
            .await;
    }
    for taken in ["used-room", "busy-room", "lobby"] {
        let refused = Expect::Error(ErrorCode::RoomExists);
        users
            .ask(MEMBER, create(taken), "create_room", refused)
            .await;
    }
    users
        .ask(
            MEMBER,
            create("fresh-room"),
            "create_room",
            joined(&room("fresh-room")),
        )
        .await;
    // A server admin may take a room made by join over (and so becomes its owner).
    users
        .ask(
            ADMIN,
            create("used-room"),
            "create_room",
            joined(&room("used-room")),
        )
        .await;
}

/// Moderation as users meet it, both modes: a muted user's `edit` and `react` are refused
/// with `muted` (their own message, which they may still delete); kicking a user who is
/// online (on the other node, in a cluster) removes them, they leave, and they may join
/// again (a kick is not a ban).
async fn mutes_and_kicks_of_online_users(mode: Mode) {
    let redis = mode.into_redis();
    let url = redis.as_ref().map(common::Redis::url);
    let one = TestServer::spawn(config(url.clone()));
    let two = url.map(|url| TestServer::spawn(config(Some(url))));
    let other = two.as_ref().unwrap_or(&one);
    let mut users = Users { chats: Vec::new() };
    for (name, server) in [(OWNER, &one), (MUTED, other), (MEMBER, other)] {
        let chat = user(server, name).await;
        users.chats.push((name, chat));
    }
    let room = RoomName::try_from("talk-room".to_owned()).unwrap();
    let create = ClientMsg::CreateRoom {
        room: room.clone(),
        private: false,
        max_members: None,
    };
    users.ask(OWNER, create, "create_room", joined(&room)).await;
    let join = ClientMsg::Join {
        room: room.clone(),
        since: None,
        epoch: None,
    };
    for name in [MUTED, MEMBER] {
        users.ask(name, join.clone(), "join", joined(&room)).await;
    }
    let words = say_and_wait(users.get(MUTED), &room, "m-1").await;
    let mute = ClientMsg::Mute {
        room: room.clone(),
        user: nick(MUTED),
        for_secs: 600,
    };
    let (seen, expect) = (announced(&mute), announced(&mute));
    users.ask(OWNER, mute, "mute", expect).await;
    answered(users.get(MUTED), MUTED, "being muted", seen).await;
    let edit = ClientMsg::Edit {
        room: room.clone(),
        id: words,
        text: "changed my mind".try_into().unwrap(),
        client_id: "m-2".parse().unwrap(),
    };
    users
        .ask(
            MUTED,
            edit,
            "edit while muted",
            Expect::Error(ErrorCode::Muted),
        )
        .await;
    let react = ClientMsg::React {
        room: room.clone(),
        id: words,
        emoji: "👍".parse().unwrap(),
        on: true,
        client_id: "m-3".parse().unwrap(),
    };
    users
        .ask(
            MUTED,
            react,
            "react while muted",
            Expect::Error(ErrorCode::Muted),
        )
        .await;
    let delete = ClientMsg::DeleteMessage {
        room: room.clone(),
        id: words,
        client_id: "m-4".parse().unwrap(),
    };
    users
        .ask(MUTED, delete, "delete while muted", deleted(words))
        .await;

    // Kicking Mike, online: removed and told why, out of the room, free to come back.
    let kick = ClientMsg::Kick {
        room: room.clone(),
        user: nick(MEMBER),
    };
    let expect = announced(&kick);
    users.ask(OWNER, kick, "kick", expect).await;
    let removed = Expect::Event(
        "removed (kicked)",
        Box::new(|e| {
            matches!(
                e,
                ServerMsg::Removed {
                    reason: RemovedReason::Kicked,
                    ..
                }
            )
        }),
    );
    answered(users.get(MEMBER), MEMBER, "being kicked", removed).await;
    let in_room = room.clone();
    let left = Expect::Event(
        "left",
        Box::new(move |e| matches!(e, ServerMsg::Left { room } if *room == in_room)),
    );
    answered(users.get(MEMBER), MEMBER, "leaving", left).await;
    users
        .ask(MEMBER, join, "join after the kick", joined(&room))
        .await;
}

/// In open mode a ban follows the browser token, not the nickname: the banned user back
/// under another name is still refused, and someone else who takes the old name is not.
#[actix_web::test]
async fn in_open_mode_a_ban_follows_the_token() {
    let server = TestServer::spawn(common::patient_config(None));
    let mut olga = server.chat_as("olga", &[]).await;
    let mut xena = server.chat_as("xena", &[]).await;
    let room = RoomName::try_from("open-bans".to_owned()).unwrap();
    olga.send(&ClientMsg::CreateRoom {
        room: room.clone(),
        private: false,
        max_members: None,
    })
    .await;
    olga.until("joined", |e| matches!(e, ServerMsg::Joined { .. }))
        .await;
    let join = ClientMsg::Join {
        room: room.clone(),
        since: None,
        epoch: None,
    };
    xena.send(&join).await;
    xena.until(
        "joined",
        |e| matches!(e, ServerMsg::Joined { room: r, .. } if *r == room),
    )
    .await;
    olga.send(&ClientMsg::Ban {
        room: room.clone(),
        user: nick("xena"),
    })
    .await;
    xena.until("removed", |e| matches!(e, ServerMsg::Removed { .. }))
        .await;
    drop(xena);
    // Back with the same token under another name: still banned.
    let mut again = server
        .chat_with_token("xena2", token_for("xena"), &[])
        .await;
    again.send(&join).await;
    assert_eq!(again.recv_error().await, ErrorCode::Banned);
    drop(again);
    // Someone else under the old name: welcome.
    let mut other = server
        .chat_with_token("xena", token_for("another browser"), &[])
        .await;
    other.send(&join).await;
    other
        .until(
            "joined",
            |e| matches!(e, ServerMsg::Joined { room: r, .. } if *r == room),
        )
        .await;
}

/// A room at its member cap admits a server admin (the cap is checked at the door and, with
/// every node's members, when the join's history is read: both let admins through).
async fn a_server_admin_joins_a_full_room(mode: Mode) {
    let redis = mode.into_redis();
    let server = TestServer::spawn(config(redis.as_ref().map(common::Redis::url)));
    let mut owner = user(&server, "olga").await;
    owner
        .chat
        .send(&ClientMsg::CreateRoom {
            room: "small".parse().unwrap(),
            private: false,
            max_members: Some(1),
        })
        .await;
    owner
        .chat
        .until(
            "joined small",
            |e| matches!(e, ServerMsg::Joined { room, .. } if room.as_str() == "small"),
        )
        .await;
    let mut guest = user(&server, "guest").await;
    guest
        .chat
        .send(&ClientMsg::Join {
            room: "small".parse().unwrap(),
            since: None,
            epoch: None,
        })
        .await;
    guest
        .chat
        .until("room_full", |e| {
            matches!(
                e,
                ServerMsg::Error {
                    code: ErrorCode::RoomFull,
                    ..
                }
            )
        })
        .await;
    let mut root = user(&server, "root").await;
    root.chat
        .send(&ClientMsg::Join {
            room: "small".parse().unwrap(),
            since: None,
            epoch: None,
        })
        .await;
    match root
        .chat
        .until("joined or refused", |e| {
            matches!(e, ServerMsg::Joined { .. } | ServerMsg::Error { .. })
        })
        .await
    {
        ServerMsg::Joined { room, count, .. } => {
            assert_eq!((room.as_str(), count), ("small", 2));
        }
        other => panic!("the admin was refused: {other:?}"),
    }
}

common::in_both_modes!(
    permission_matrix,
    a_server_admin_joins_a_full_room,
    a_banned_or_uninvited_moderator_moderates_no_more,
    a_room_in_use_is_nobodys_to_claim,
    mutes_and_kicks_of_online_users,
);
