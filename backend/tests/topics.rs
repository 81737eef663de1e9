//! Room topics (issue #31) over real sockets, in both modes (two nodes sharing a
//! `redis-server` in cluster mode): set by the room's owner or moderators, told to every
//! member (`moderated` `topic` and the new `room_policy`), given to whoever joins later,
//! refused to members, in groups, and when too long or not one line.

// Test helpers below #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Chat, Mode, TestServer};
use shared::{ClientMsg, ErrorCode, ModAction, ServerMsg};

fn set_topic(topic: &str) -> ClientMsg {
    ClientMsg::SetTopic {
        room: "den".parse().unwrap(),
        topic: topic.to_owned(),
    }
}

/// The next `room_policy` of the den: its topic.
async fn topic_of_policy(chat: &mut Chat) -> Option<String> {
    match chat
        .until(
            "the den's policy",
            |e| matches!(e, ServerMsg::RoomPolicy { room, .. } if room.as_str() == "den"),
        )
        .await
    {
        ServerMsg::RoomPolicy { topic, .. } => topic,
        _ => unreachable!(),
    }
}

async fn topics_are_set_by_those_who_moderate(mode: Mode) {
    let config = || common::patient_config(mode.redis_url());
    let node_a = TestServer::spawn(config());
    let node_b = match &mode {
        Mode::Single => None,
        Mode::Cluster(_) | Mode::Sharded(_) => Some(TestServer::spawn(config())),
    };
    let node_b = node_b.as_ref().unwrap_or(&node_a);
    let mut olga = node_a.chat_as("olga", &[]).await;
    olga.send(&ClientMsg::CreateRoom {
        room: "den".parse().unwrap(),
        private: false,
        max_members: None,
    })
    .await;
    assert_eq!(topic_of_policy(&mut olga).await, None);
    let mut bob = node_b.chat_as("bob", &[]).await;
    bob.send(&ClientMsg::Join {
        room: "den".parse().unwrap(),
        since: None,
        epoch: None,
    })
    .await;
    assert_eq!(topic_of_policy(&mut bob).await, None);
    bob.until(
        "the den's history",
        |e| matches!(e, ServerMsg::History { room, .. } if room.as_str() == "den"),
    )
    .await;

    // A member may not.
    assert_eq!(
        bob.refused(set_topic("bob's topic")).await,
        ErrorCode::Forbidden
    );
    // The owner may: every member is told, on every node.
    olga.send(&set_topic("  릴리스 준비: 금요일 3시  ")).await;
    for chat in [&mut olga, &mut bob] {
        let action = match chat
            .until("the topic", |e| matches!(e, ServerMsg::Moderated { .. }))
            .await
        {
            ServerMsg::Moderated { by, action, .. } => {
                assert_eq!(by.as_str(), "olga");
                action
            }
            _ => unreachable!(),
        };
        assert_eq!(
            action,
            ModAction::Topic {
                topic: "릴리스 준비: 금요일 3시".to_owned()
            }
        );
        assert_eq!(
            topic_of_policy(chat).await.as_deref(),
            Some("릴리스 준비: 금요일 3시")
        );
    }
    // Whoever joins later gets it with the room's policy.
    let mut carol = node_a.chat_socket().await;
    carol.send(&common::hello("carol", &["den"])).await;
    assert_eq!(
        topic_of_policy(&mut carol).await.as_deref(),
        Some("릴리스 준비: 금요일 3시")
    );
    // A moderator may too; too long, or more than one line, is refused.
    olga.send(&ClientMsg::SetModerator {
        room: "den".parse().unwrap(),
        user: "bob".parse().unwrap(),
        moderator: true,
    })
    .await;
    // (Once Bob's node knows: in cluster mode the owner's may be another.)
    bob.until("Bob made a moderator", |e| {
        matches!(e, ServerMsg::Moderated { action: ModAction::ModeratorAdded { user }, .. } if user.as_str() == "bob")
    })
    .await;
    let long = "가".repeat(shared::TOPIC_MAX_CHARS + 1);
    assert_eq!(bob.refused(set_topic(&long)).await, ErrorCode::TooLong);
    assert_eq!(
        bob.refused(set_topic("two\nlines")).await,
        ErrorCode::Invalid
    );
    // Nor may it turn the header's text around.
    assert_eq!(
        bob.refused(set_topic("abc\u{202E}fed")).await,
        ErrorCode::Invalid
    );
    bob.send(&set_topic("")).await;
    bob.until("the cleared topic", |e| {
        matches!(e, ServerMsg::Moderated { action: ModAction::Topic { topic }, .. } if topic.is_empty())
    })
    .await;
    assert_eq!(topic_of_policy(&mut bob).await, None);
}

common::in_both_modes!(topics_are_set_by_those_who_moderate);
