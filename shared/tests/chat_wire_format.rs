//! Golden tests for chat protocol v1: the exact JSON of every message, and a check that
//! docs/PROTOCOL.md shows exactly these (so the document cannot drift from the code).

// Example builders outside #[test] fns panic on purpose, as the tests do.
#![allow(clippy::unwrap_used)]

use shared::{
    Change, ClientMsg, DirectMessage, ErrorCode, File, HistoryMode, Image, ImageType, Limits,
    LinkPreview, MessageId, ModAction, Quote, Reaction, RemovedReason, RoomChange, RoomInfo,
    RoomMessage, ServerMsg, decode, encode,
    search::{SearchHit, SearchOrder},
};

/// The image of the examples' team photo.
fn photo() -> Option<Image> {
    Some(Image {
        id: "3f2a1c9be0d4a5f6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4"
            .parse()
            .unwrap(),
        mime: ImageType::Png,
        width: 640,
        height: 480,
        bytes: 52_113,
    })
}

/// The examples' shared log file (a file that is not an image).
fn log_file() -> Option<Box<File>> {
    Some(Box::new(File {
        id: "9b1f0c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344"
            .parse()
            .unwrap(),
        name: "배포 로그.txt".to_owned(),
        mime: "text/plain".to_owned(),
        bytes: 2_048,
    }))
}

fn client_examples() -> Vec<(ClientMsg, &'static str)> {
    vec![
        (
            ClientMsg::Hello {
                nick: "Alice".parse().unwrap(),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec!["lobby".parse().unwrap(), "rust".parse().unwrap()],
                since: Default::default(),
                epochs: Default::default(),
                direct_since: None,
                direct_epoch: None,
                jwt: None,
            },
            r#"{"type":"hello","nick":"Alice","token":"k3J9-browser-token_x","rooms":["lobby","rust"]}"#,
        ),
        (
            ClientMsg::Hello {
                nick: "Alice".parse().unwrap(),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec!["lobby".parse().unwrap(), "rust".parse().unwrap()],
                since: [("lobby".parse().unwrap(), 41)].into_iter().collect(),
                epochs: [("lobby".parse().unwrap(), "9f3c2a7e".parse().unwrap())]
                    .into_iter()
                    .collect(),
                direct_since: Some(MessageId(43)),
                direct_epoch: Some("5b0e41d2".parse().unwrap()),
                jwt: None,
            },
            r#"{"type":"hello","nick":"Alice","token":"k3J9-browser-token_x","rooms":["lobby","rust"],"since":{"lobby":41},"epochs":{"lobby":"9f3c2a7e"},"direct_since":43,"direct_epoch":"5b0e41d2"}"#,
        ),
        (
            ClientMsg::Join {
                room: "rust".parse().unwrap(),
                since: None,
                epoch: None,
            },
            r#"{"type":"join","room":"rust"}"#,
        ),
        (
            ClientMsg::Join {
                room: "rust".parse().unwrap(),
                since: Some(7),
                epoch: Some("9f3c2a7e".parse().unwrap()),
            },
            r#"{"type":"join","room":"rust","since":7,"epoch":"9f3c2a7e"}"#,
        ),
        (
            ClientMsg::LoadOlder {
                room: "lobby".parse().unwrap(),
                before: 42,
            },
            r#"{"type":"load_older","room":"lobby","before":42}"#,
        ),
        (
            ClientMsg::LoadNewer {
                room: "lobby".parse().unwrap(),
                after: 2041,
            },
            r#"{"type":"load_newer","room":"lobby","after":2041}"#,
        ),
        (
            ClientMsg::LoadAround {
                room: "lobby".parse().unwrap(),
                seq: 1207,
            },
            r#"{"type":"load_around","room":"lobby","seq":1207}"#,
        ),
        (
            ClientMsg::Leave {
                room: "rust".parse().unwrap(),
            },
            r#"{"type":"leave","room":"rust"}"#,
        ),
        (ClientMsg::ListRooms, r#"{"type":"list_rooms"}"#),
        (
            ClientMsg::Members {
                room: "lobby".parse().unwrap(),
                after: None,
                prefix: String::new(),
            },
            r#"{"type":"members","room":"lobby"}"#,
        ),
        (
            ClientMsg::Members {
                room: "lobby".parse().unwrap(),
                after: Some("Bob".parse().unwrap()),
                prefix: "민".into(),
            },
            r#"{"type":"members","room":"lobby","after":"Bob","prefix":"민"}"#,
        ),
        (
            ClientMsg::Say {
                room: "lobby".parse().unwrap(),
                text: "안녕하세요 hello".try_into().unwrap(),
                client_id: "c-17".parse().unwrap(),
                reply_to: None,
                image: None,
                file: None,
            },
            r#"{"type":"say","room":"lobby","text":"안녕하세요 hello","client_id":"c-17"}"#,
        ),
        (
            ClientMsg::Typing {
                room: "lobby".parse().unwrap(),
            },
            r#"{"type":"typing","room":"lobby"}"#,
        ),
        (
            ClientMsg::Direct {
                to: "Bob".parse().unwrap(),
                text: "psst".try_into().unwrap(),
                client_id: "c-18".parse().unwrap(),
            },
            r#"{"type":"direct","to":"Bob","text":"psst","client_id":"c-18"}"#,
        ),
        (
            ClientMsg::Rename {
                nick: "Alicia".parse().unwrap(),
            },
            r#"{"type":"rename","nick":"Alicia"}"#,
        ),
        (
            ClientMsg::Hello {
                nick: "Alice".parse().unwrap(),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec![],
                since: Default::default(),
                epochs: Default::default(),
                direct_since: None,
                direct_epoch: None,
                jwt: Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln".into()),
            },
            r#"{"type":"hello","nick":"Alice","token":"k3J9-browser-token_x","rooms":[],"jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"}"#,
        ),
        (
            ClientMsg::Reauth {
                jwt: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.bmV3".into(),
            },
            r#"{"type":"reauth","jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.bmV3"}"#,
        ),
        (
            ClientMsg::CreateRoom {
                room: "secret".parse().unwrap(),
                private: true,
                max_members: Some(10),
            },
            r#"{"type":"create_room","room":"secret","private":true,"max_members":10}"#,
        ),
        (
            ClientMsg::ShareReads { share: false },
            r#"{"type":"share_reads","share":false}"#,
        ),
        (
            ClientMsg::SetTopic {
                room: "rust".parse().unwrap(),
                topic: "릴리스 준비: 금요일 3시".to_owned(),
            },
            r#"{"type":"set_topic","room":"rust","topic":"릴리스 준비: 금요일 3시"}"#,
        ),
        (
            ClientMsg::Search {
                query: "회의 from:Bob".parse().unwrap(),
                order: SearchOrder::Newest,
                cursor: None,
                utc_offset: 540,
            },
            r#"{"type":"search","query":"회의 from:Bob","order":"newest","utc_offset":540}"#,
        ),
        (
            ClientMsg::Search {
                query: "config".parse().unwrap(),
                order: SearchOrder::Best,
                cursor: Some("b20:7352540160000000".to_owned().try_into().unwrap()),
                utc_offset: 0,
            },
            r#"{"type":"search","query":"config","order":"best","cursor":"b20:7352540160000000","utc_offset":0}"#,
        ),
        (
            ClientMsg::CreateGroup {
                with: vec!["Bob".parse().unwrap(), "민수".parse().unwrap()],
            },
            r#"{"type":"create_group","with":["Bob","민수"]}"#,
        ),
        (
            ClientMsg::LeaveGroup {
                room: "g-5b0e41d29f3c2a7e01ab".parse().unwrap(),
            },
            r#"{"type":"leave_group","room":"g-5b0e41d29f3c2a7e01ab"}"#,
        ),
        (
            ClientMsg::Invite {
                room: "secret".parse().unwrap(),
                user: "Bob".parse().unwrap(),
            },
            r#"{"type":"invite","room":"secret","user":"Bob"}"#,
        ),
        (
            ClientMsg::Uninvite {
                room: "secret".parse().unwrap(),
                user: "Bob".parse().unwrap(),
            },
            r#"{"type":"uninvite","room":"secret","user":"Bob"}"#,
        ),
        (
            ClientMsg::SetModerator {
                room: "secret".parse().unwrap(),
                user: "Bob".parse().unwrap(),
                moderator: true,
            },
            r#"{"type":"set_moderator","room":"secret","user":"Bob","moderator":true}"#,
        ),
        (
            ClientMsg::Kick {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
            },
            r#"{"type":"kick","room":"lobby","user":"Troll"}"#,
        ),
        (
            ClientMsg::Mute {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
                for_secs: 600,
            },
            r#"{"type":"mute","room":"lobby","user":"Troll","for_secs":600}"#,
        ),
        (
            ClientMsg::Ban {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
            },
            r#"{"type":"ban","room":"lobby","user":"Troll"}"#,
        ),
        (
            ClientMsg::Unban {
                room: "lobby".parse().unwrap(),
                user: "Troll".parse().unwrap(),
            },
            r#"{"type":"unban","room":"lobby","user":"Troll"}"#,
        ),
        (
            ClientMsg::DeleteMessage {
                room: "lobby".parse().unwrap(),
                id: MessageId(42),
                client_id: "c-19".parse().unwrap(),
            },
            r#"{"type":"delete_message","room":"lobby","id":42,"client_id":"c-19"}"#,
        ),
        (
            ClientMsg::Say {
                room: "lobby".parse().unwrap(),
                text: "me too".try_into().unwrap(),
                client_id: "c-18".parse().unwrap(),
                reply_to: Some(MessageId(42)),
                image: None,
                file: None,
            },
            r#"{"type":"say","room":"lobby","text":"me too","client_id":"c-18","reply_to":42}"#,
        ),
        (
            ClientMsg::Say {
                room: "lobby".parse().unwrap(),
                text: "our team photo".try_into().unwrap(),
                client_id: "c-22".parse().unwrap(),
                reply_to: None,
                image: photo(),
                file: None,
            },
            r#"{"type":"say","room":"lobby","text":"our team photo","client_id":"c-22","image":{"id":"3f2a1c9be0d4a5f6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4","mime":"image/png","width":640,"height":480,"bytes":52113}}"#,
        ),
        (
            ClientMsg::Say {
                room: "lobby".parse().unwrap(),
                text: "the deploy log".try_into().unwrap(),
                client_id: "c-23".parse().unwrap(),
                reply_to: None,
                image: None,
                file: log_file(),
            },
            r#"{"type":"say","room":"lobby","text":"the deploy log","client_id":"c-23","file":{"id":"9b1f0c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344","name":"배포 로그.txt","mime":"text/plain","bytes":2048}}"#,
        ),
        (
            ClientMsg::MarkRead {
                room: "lobby".parse().unwrap(),
                seq: 45,
            },
            r#"{"type":"mark_read","room":"lobby","seq":45}"#,
        ),
        (
            ClientMsg::MarkDirectRead {
                with: "Bob".parse().unwrap(),
                seq: 7,
            },
            r#"{"type":"mark_direct_read","with":"Bob","seq":7}"#,
        ),
        (
            ClientMsg::Edit {
                room: "lobby".parse().unwrap(),
                id: MessageId(42),
                text: "안녕하세요 hello!".try_into().unwrap(),
                client_id: "c-20".parse().unwrap(),
            },
            r#"{"type":"edit","room":"lobby","id":42,"text":"안녕하세요 hello!","client_id":"c-20"}"#,
        ),
        (
            ClientMsg::React {
                room: "lobby".parse().unwrap(),
                id: MessageId(42),
                emoji: "👍".parse().unwrap(),
                on: true,
                client_id: "c-21".parse().unwrap(),
            },
            r#"{"type":"react","room":"lobby","id":42,"emoji":"👍","on":true,"client_id":"c-21"}"#,
        ),
    ]
}

fn server_examples() -> Vec<(ServerMsg, &'static str)> {
    vec![
        (
            ServerMsg::Welcome {
                user: "Alice".parse().unwrap(),
                limits: Limits {
                    max_text_chars: 2000,
                    max_rooms: 32,
                    rate_per_sec: 10,
                    rate_burst: 20,
                    typing_timeout_ms: 5000,
                    max_reactions: 20,
                    max_reactions_per_user: 10,
                    max_owned_rooms: 20,
                },
            },
            r#"{"type":"welcome","user":"Alice","limits":{"max_text_chars":2000,"max_rooms":32,"rate_per_sec":10,"rate_burst":20,"typing_timeout_ms":5000,"max_reactions":20,"max_reactions_per_user":10,"max_owned_rooms":20}}"#,
        ),
        (
            ServerMsg::Joined {
                room: "lobby".parse().unwrap(),
                count: 2,
                members: vec!["Alice".parse().unwrap(), "Bob".parse().unwrap()],
            },
            r#"{"type":"joined","room":"lobby","count":2,"members":["Alice","Bob"]}"#,
        ),
        (
            ServerMsg::Left {
                room: "rust".parse().unwrap(),
            },
            r#"{"type":"left","room":"rust"}"#,
        ),
        (
            ServerMsg::Presence {
                room: "lobby".parse().unwrap(),
                count: 3,
                joined: vec!["Carol".parse().unwrap(), "Dan".parse().unwrap()],
                left: vec!["Bob".parse().unwrap()],
            },
            r#"{"type":"presence","room":"lobby","count":3,"joined":["Carol","Dan"],"left":["Bob"]}"#,
        ),
        (
            ServerMsg::Members {
                room: "lobby".parse().unwrap(),
                after: Some("Bob".parse().unwrap()),
                prefix: String::new(),
                members: vec!["Carol".parse().unwrap(), "Dan".parse().unwrap()],
                more: false,
            },
            r#"{"type":"members","room":"lobby","after":"Bob","members":["Carol","Dan"],"more":false}"#,
        ),
        (
            ServerMsg::Renamed {
                from: "Alice".parse().unwrap(),
                to: "Alicia".parse().unwrap(),
            },
            r#"{"type":"renamed","from":"Alice","to":"Alicia"}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(42),
                room: "lobby".parse().unwrap(),
                seq: 41,
                from: "Alice".parse().unwrap(),
                text: "안녕하세요 hello".try_into().unwrap(),
                ts: 1_795_000_000_000,
                client_id: "c-17".parse().unwrap(),
                reply_to: None,
                image: None,
                file: None,
            },
            r#"{"type":"said","id":42,"room":"lobby","seq":41,"from":"Alice","text":"안녕하세요 hello","ts":1795000000000,"client_id":"c-17"}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(43),
                room: "lobby".parse().unwrap(),
                seq: 42,
                from: "Bob".parse().unwrap(),
                text: "me too".try_into().unwrap(),
                ts: 1_795_000_000_500,
                client_id: "c-18".parse().unwrap(),
                reply_to: Some(Quote {
                    id: MessageId(42),
                    seq: 41,
                    from: "Alice".parse().unwrap(),
                    text: "안녕하세요 hello".into(),
                    deleted: false,
                }),
                image: None,
                file: None,
            },
            r#"{"type":"said","id":43,"room":"lobby","seq":42,"from":"Bob","text":"me too","ts":1795000000500,"client_id":"c-18","reply_to":{"id":42,"seq":41,"from":"Alice","text":"안녕하세요 hello"}}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(44),
                room: "lobby".parse().unwrap(),
                seq: 43,
                from: "Alice".parse().unwrap(),
                text: "our team photo".try_into().unwrap(),
                ts: 1_795_000_000_700,
                client_id: "c-22".parse().unwrap(),
                reply_to: None,
                image: photo(),
                file: None,
            },
            r#"{"type":"said","id":44,"room":"lobby","seq":43,"from":"Alice","text":"our team photo","ts":1795000000700,"client_id":"c-22","image":{"id":"3f2a1c9be0d4a5f6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4","mime":"image/png","width":640,"height":480,"bytes":52113}}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(48),
                room: "lobby".parse().unwrap(),
                seq: 46,
                from: "Alice".parse().unwrap(),
                text: "the deploy log".try_into().unwrap(),
                ts: 1_795_000_002_000,
                client_id: "c-23".parse().unwrap(),
                reply_to: None,
                image: None,
                file: log_file(),
            },
            r#"{"type":"said","id":48,"room":"lobby","seq":46,"from":"Alice","text":"the deploy log","ts":1795000002000,"client_id":"c-23","file":{"id":"9b1f0c2d3e4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344","name":"배포 로그.txt","mime":"text/plain","bytes":2048}}"#,
        ),
        (
            ServerMsg::Changed {
                room: "lobby".parse().unwrap(),
                id: MessageId(45),
                seq: 43,
                from: "Alice".parse().unwrap(),
                ts: 1_795_000_001_000,
                client_id: "c-20".parse().unwrap(),
                target: MessageId(42),
                change: Change::Edited {
                    text: "안녕하세요 hello!".try_into().unwrap(),
                },
            },
            r#"{"type":"changed","room":"lobby","id":45,"seq":43,"from":"Alice","ts":1795000001000,"client_id":"c-20","target":42,"change":{"kind":"edited","text":"안녕하세요 hello!"}}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(44),
                room: "lobby".parse().unwrap(),
                seq: 43,
                from: "Alice".parse().unwrap(),
                text: "our team photo".try_into().unwrap(),
                ts: 1_795_000_000_700,
                client_id: "c-22".parse().unwrap(),
                reply_to: None,
                image: photo(),
                file: None,
            },
            r#"{"type":"said","id":44,"room":"lobby","seq":43,"from":"Alice","text":"our team photo","ts":1795000000700,"client_id":"c-22","image":{"id":"3f2a1c9be0d4a5f6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4","mime":"image/png","width":640,"height":480,"bytes":52113}}"#,
        ),
        (
            ServerMsg::Changed {
                room: "lobby".parse().unwrap(),
                id: MessageId(46),
                seq: 44,
                from: "Bob".parse().unwrap(),
                ts: 1_795_000_001_500,
                client_id: "c-21".parse().unwrap(),
                target: MessageId(42),
                change: Change::Reacted {
                    emoji: "👍".parse().unwrap(),
                    on: true,
                },
            },
            r#"{"type":"changed","room":"lobby","id":46,"seq":44,"from":"Bob","ts":1795000001500,"client_id":"c-21","target":42,"change":{"kind":"reacted","emoji":"👍","on":true}}"#,
        ),
        (
            ServerMsg::Said {
                id: MessageId(44),
                room: "lobby".parse().unwrap(),
                seq: 43,
                from: "Alice".parse().unwrap(),
                text: "our team photo".try_into().unwrap(),
                ts: 1_795_000_000_700,
                client_id: "c-22".parse().unwrap(),
                reply_to: None,
                image: photo(),
                file: None,
            },
            r#"{"type":"said","id":44,"room":"lobby","seq":43,"from":"Alice","text":"our team photo","ts":1795000000700,"client_id":"c-22","image":{"id":"3f2a1c9be0d4a5f6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4","mime":"image/png","width":640,"height":480,"bytes":52113}}"#,
        ),
        (
            ServerMsg::Changed {
                room: "lobby".parse().unwrap(),
                id: MessageId(47),
                seq: 45,
                from: "Mona".parse().unwrap(),
                ts: 1_795_000_002_000,
                client_id: "c-19".parse().unwrap(),
                target: MessageId(43),
                change: Change::Deleted,
            },
            r#"{"type":"changed","room":"lobby","id":47,"seq":45,"from":"Mona","ts":1795000002000,"client_id":"c-19","target":43,"change":{"kind":"deleted"}}"#,
        ),
        (
            ServerMsg::Changed {
                room: "lobby".parse().unwrap(),
                id: MessageId(48),
                seq: 46,
                from: "Alice".parse().unwrap(),
                ts: 1_795_000_002_400,
                client_id: "_preview-47".parse().unwrap(),
                target: MessageId(47),
                change: Change::Previewed {
                    preview: Box::new(LinkPreview {
                        url: "https://example.com/post".into(),
                        title: "Example post".into(),
                        description: "What the page says of itself".into(),
                        image: photo(),
                    }),
                },
            },
            r#"{"type":"changed","room":"lobby","id":48,"seq":46,"from":"Alice","ts":1795000002400,"client_id":"_preview-47","target":47,"change":{"kind":"previewed","preview":{"url":"https://example.com/post","title":"Example post","description":"What the page says of itself","image":{"id":"3f2a1c9be0d4a5f6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4","mime":"image/png","width":640,"height":480,"bytes":52113}}}}"#,
        ),
        (
            ServerMsg::History {
                room: "lobby".parse().unwrap(),
                mode: HistoryMode::Older,
                messages: vec![RoomMessage {
                    preview: Some(Box::new(LinkPreview {
                        url: "https://example.com/post".into(),
                        title: "Example post".into(),
                        description: String::new(),
                        image: None,
                    })),
                    ..RoomMessage::new(
                        MessageId(47),
                        45,
                        "Alice".parse().unwrap(),
                        "see https://example.com/post".try_into().unwrap(),
                        1_795_000_002_300,
                        "c-23".parse().unwrap(),
                    )
                }],
                changes: Vec::new(),
                more_before: false,
                epoch: "9f3c2a7e".parse().unwrap(),
            },
            r#"{"type":"history","room":"lobby","mode":"older","messages":[{"id":47,"seq":45,"from":"Alice","text":"see https://example.com/post","ts":1795000002300,"client_id":"c-23","preview":{"url":"https://example.com/post","title":"Example post"}}],"more_before":false,"epoch":"9f3c2a7e"}"#,
        ),
        (
            ServerMsg::History {
                room: "lobby".parse().unwrap(),
                mode: HistoryMode::CatchUp,
                messages: vec![RoomMessage::new(
                    MessageId(44),
                    42,
                    "Bob".parse().unwrap(),
                    "welcome back".try_into().unwrap(),
                    1_795_000_000_900,
                    "b-3".parse().unwrap(),
                )],
                changes: Vec::new(),
                more_before: true,
                epoch: "9f3c2a7e".parse().unwrap(),
            },
            r#"{"type":"history","room":"lobby","mode":"catch_up","messages":[{"id":44,"seq":42,"from":"Bob","text":"welcome back","ts":1795000000900,"client_id":"b-3"}],"more_before":true,"epoch":"9f3c2a7e"}"#,
        ),
        (
            ServerMsg::History {
                room: "lobby".parse().unwrap(),
                mode: HistoryMode::CatchUp,
                messages: vec![RoomMessage {
                    edited: true,
                    reactions: vec![Reaction {
                        emoji: "👍".parse().unwrap(),
                        users: vec!["Bob".parse().unwrap(), "Carol".parse().unwrap()],
                    }],
                    ..RoomMessage::new(
                        MessageId(50),
                        48,
                        "Alice".parse().unwrap(),
                        "see you at 3".try_into().unwrap(),
                        1_795_000_003_000,
                        "c-30".parse().unwrap(),
                    )
                }],
                changes: vec![RoomChange {
                    id: MessageId(51),
                    seq: 49,
                    from: "Bob".parse().unwrap(),
                    ts: 1_795_000_003_500,
                    client_id: "b-9".parse().unwrap(),
                    target: MessageId(40),
                    change: Change::Deleted,
                }],
                more_before: true,
                epoch: "9f3c2a7e".parse().unwrap(),
            },
            r#"{"type":"history","room":"lobby","mode":"catch_up","messages":[{"id":50,"seq":48,"from":"Alice","text":"see you at 3","ts":1795000003000,"client_id":"c-30","edited":true,"reactions":[{"emoji":"👍","users":["Bob","Carol"]}]}],"changes":[{"id":51,"seq":49,"from":"Bob","ts":1795000003500,"client_id":"b-9","target":40,"change":{"kind":"deleted"}}],"more_before":true,"epoch":"9f3c2a7e"}"#,
        ),
        (
            ServerMsg::ReadPositions {
                rooms: [("lobby".parse().unwrap(), 45), ("rust".parse().unwrap(), 7)].into(),
                directs: [("bob".parse().unwrap(), 7)].into(),
            },
            r#"{"type":"read_positions","rooms":{"lobby":45,"rust":7},"directs":{"bob":7}}"#,
        ),
        (
            ServerMsg::DirectHistory {
                mode: HistoryMode::Latest,
                messages: vec![DirectMessage {
                    id: MessageId(43),
                    seq: 7,
                    from: "Alice".parse().unwrap(),
                    to: "Bob".parse().unwrap(),
                    text: "psst".try_into().unwrap(),
                    ts: 1_795_000_000_500,
                    client_id: "c-18".parse().unwrap(),
                }],
                epoch: "5b0e41d2".parse().unwrap(),
            },
            r#"{"type":"direct_history","mode":"latest","messages":[{"id":43,"seq":7,"from":"Alice","to":"Bob","text":"psst","ts":1795000000500,"client_id":"c-18"}],"epoch":"5b0e41d2"}"#,
        ),
        (
            ServerMsg::Direct {
                id: MessageId(43),
                seq: 7,
                from: "Alice".parse().unwrap(),
                to: "Bob".parse().unwrap(),
                text: "psst".try_into().unwrap(),
                ts: 1_795_000_000_500,
                client_id: "c-18".parse().unwrap(),
            },
            r#"{"type":"direct","id":43,"seq":7,"from":"Alice","to":"Bob","text":"psst","ts":1795000000500,"client_id":"c-18"}"#,
        ),
        (
            ServerMsg::Typing {
                room: "lobby".parse().unwrap(),
                user: "Bob".parse().unwrap(),
                active: true,
            },
            r#"{"type":"typing","room":"lobby","user":"Bob","active":true}"#,
        ),
        (
            ServerMsg::Rooms {
                rooms: vec![
                    RoomInfo {
                        name: "lobby".parse().unwrap(),
                        members: 3,
                    },
                    RoomInfo {
                        name: "rust".parse().unwrap(),
                        members: 1,
                    },
                ],
            },
            r#"{"type":"rooms","rooms":[{"name":"lobby","members":3},{"name":"rust","members":1}]}"#,
        ),
        (
            ServerMsg::Error {
                code: ErrorCode::NickTaken,
                message: "the nickname Alice is taken; choose another".into(),
                client_id: None,
            },
            r#"{"type":"error","code":"nick_taken","message":"the nickname Alice is taken; choose another"}"#,
        ),
        (
            ServerMsg::Error {
                code: ErrorCode::TooLong,
                message: "message has 2400 characters; the limit is 2000".into(),
                client_id: Some("c-19".parse().unwrap()),
            },
            r#"{"type":"error","code":"too_long","message":"message has 2400 characters; the limit is 2000","client_id":"c-19"}"#,
        ),
        (
            ServerMsg::ReauthNeeded {
                expires_in_ms: 60000,
            },
            r#"{"type":"reauth_needed","expires_in_ms":60000}"#,
        ),
        (
            ServerMsg::Reauthed {
                expires_in_ms: 3600000,
            },
            r#"{"type":"reauthed","expires_in_ms":3600000}"#,
        ),
        (
            ServerMsg::RoomPolicy {
                room: "secret".parse().unwrap(),
                owner: Some("Alice".parse().unwrap()),
                moderators: vec!["Bob".parse().unwrap()],
                private: true,
                max_members: Some(10),
                group: false,
                members: vec![],
                topic: None,
            },
            r#"{"type":"room_policy","room":"secret","owner":"Alice","moderators":["Bob"],"private":true,"max_members":10}"#,
        ),
        (
            ServerMsg::RoomPolicy {
                room: "rust".parse().unwrap(),
                owner: Some("Alice".parse().unwrap()),
                moderators: vec![],
                private: false,
                max_members: None,
                group: false,
                members: vec![],
                topic: Some("릴리스 준비: 금요일 3시".to_owned()),
            },
            r#"{"type":"room_policy","room":"rust","owner":"Alice","private":false,"topic":"릴리스 준비: 금요일 3시"}"#,
        ),
        (
            ServerMsg::Moderated {
                room: "rust".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                action: ModAction::Topic {
                    topic: "릴리스 준비: 금요일 3시".to_owned(),
                },
            },
            r#"{"type":"moderated","room":"rust","by":"Alice","action":{"kind":"topic","topic":"릴리스 준비: 금요일 3시"}}"#,
        ),
        (
            ServerMsg::RoomPolicy {
                room: "g-5b0e41d29f3c2a7e01ab".parse().unwrap(),
                owner: None,
                moderators: vec![],
                private: true,
                max_members: None,
                group: true,
                members: vec![
                    "Alice".parse().unwrap(),
                    "Bob".parse().unwrap(),
                    "민수".parse().unwrap(),
                ],
                topic: None,
            },
            r#"{"type":"room_policy","room":"g-5b0e41d29f3c2a7e01ab","private":true,"group":true,"members":["Alice","Bob","민수"]}"#,
        ),
        (
            ServerMsg::Seen {
                user: "Bob".parse().unwrap(),
                room: Some("g-5b0e41d29f3c2a7e01ab".parse().unwrap()),
                position: 12,
            },
            r#"{"type":"seen","user":"Bob","room":"g-5b0e41d29f3c2a7e01ab","position":12}"#,
        ),
        (
            ServerMsg::Seen {
                user: "Bob".parse().unwrap(),
                room: None,
                position: 7,
            },
            r#"{"type":"seen","user":"Bob","position":7}"#,
        ),
        (
            ServerMsg::Sharing { reads: true },
            r#"{"type":"sharing","reads":true}"#,
        ),
        (
            ServerMsg::SearchResults {
                query: "회의 from:Bob".parse().unwrap(),
                hits: vec![
                    SearchHit {
                        room: Some("lobby".parse().unwrap()),
                        seq: Some(41),
                        to: None,
                        id: MessageId(42),
                        from: "Bob".parse().unwrap(),
                        ts: 1_795_000_000_000,
                        text: "내일회의는 3시".to_owned(),
                        marks: vec![[6, 12]],
                        image: false,
                    },
                    SearchHit {
                        room: None,
                        seq: None,
                        to: Some("Alice".parse().unwrap()),
                        id: MessageId(43),
                        from: "Bob".parse().unwrap(),
                        ts: 1_794_000_000_000,
                        text: "회의 notes attached".to_owned(),
                        marks: vec![[0, 6]],
                        image: false,
                    },
                ],
                next: Some("t7352540160000000".to_owned().try_into().unwrap()),
            },
            r#"{"type":"search_results","query":"회의 from:Bob","hits":[{"room":"lobby","seq":41,"id":42,"from":"Bob","ts":1795000000000,"text":"내일회의는 3시","marks":[[6,12]]},{"to":"Alice","id":43,"from":"Bob","ts":1794000000000,"text":"회의 notes attached","marks":[[0,6]]}],"next":"t7352540160000000"}"#,
        ),
        (
            ServerMsg::Moderated {
                room: "g-5b0e41d29f3c2a7e01ab".parse().unwrap(),
                by: "Bob".parse().unwrap(),
                action: ModAction::Left {
                    user: "Bob".parse().unwrap(),
                },
            },
            r#"{"type":"moderated","room":"g-5b0e41d29f3c2a7e01ab","by":"Bob","action":{"kind":"left","user":"Bob"}}"#,
        ),
        (
            ServerMsg::Moderated {
                room: "lobby".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                action: ModAction::Muted {
                    user: "Troll".parse().unwrap(),
                    until_ms: 1795000600000,
                },
            },
            r#"{"type":"moderated","room":"lobby","by":"Alice","action":{"kind":"muted","user":"Troll","until_ms":1795000600000}}"#,
        ),
        (
            ServerMsg::Removed {
                room: "lobby".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                reason: shared::RemovedReason::Banned,
            },
            r#"{"type":"removed","room":"lobby","by":"Alice","reason":"banned"}"#,
        ),
        (
            ServerMsg::Invited {
                room: "secret".parse().unwrap(),
                by: "Alice".parse().unwrap(),
            },
            r#"{"type":"invited","room":"secret","by":"Alice"}"#,
        ),
        (
            ServerMsg::Removed {
                room: "secret".parse().unwrap(),
                by: "Alice".parse().unwrap(),
                reason: RemovedReason::Uninvited,
            },
            r#"{"type":"removed","room":"secret","by":"Alice","reason":"uninvited"}"#,
        ),
    ]
}

#[test]
fn client_messages_are_frozen() {
    for (message, json) in client_examples() {
        assert_eq!(encode(&message).unwrap(), json);
        assert_eq!(ClientMsg::parse(json).unwrap(), message);
        // The browser app's hand-written encoder writes the very same text.
        assert_eq!(message.to_json(), json);
    }
}

#[test]
fn server_messages_are_frozen() {
    for (message, json) in server_examples() {
        assert_eq!(encode(&message).unwrap(), json);
        assert_eq!(decode::<ServerMsg>(json).unwrap(), message);
        // The browser app's hand-written decoder reads the same.
        assert_eq!(ServerMsg::parse(json).unwrap(), message, "{json}");
    }
}

/// The variants the golden examples do not show one by one (every moderation action, removal
/// reason, history mode and error code) go through the browser app's decoder too.
#[test]
fn the_lean_decoder_reads_every_variant() {
    let user = || shared::Nick::try_from("Bob").unwrap();
    let actions = [
        ModAction::Invited { user: user() },
        ModAction::Uninvited { user: user() },
        ModAction::ModeratorAdded { user: user() },
        ModAction::ModeratorRemoved { user: user() },
        ModAction::Kicked { user: user() },
        ModAction::Banned { user: user() },
        ModAction::Unbanned { user: user() },
        ModAction::Muted {
            user: user(),
            until_ms: 1,
        },
        ModAction::Unmuted { user: user() },
        ModAction::Left { user: user() },
        ModAction::Topic {
            topic: "a topic".to_owned(),
        },
        ModAction::MessageRemoved {
            id: shared::MessageId(7),
        },
        ModAction::Closed,
        ModAction::Reopened,
        ModAction::PasswordReset { user: user() },
        ModAction::SessionsRevoked { user: user() },
    ];
    // A new action fails to compile here until it is added to the list above.
    for action in &actions {
        match action {
            ModAction::Invited { .. }
            | ModAction::Uninvited { .. }
            | ModAction::ModeratorAdded { .. }
            | ModAction::ModeratorRemoved { .. }
            | ModAction::Kicked { .. }
            | ModAction::Banned { .. }
            | ModAction::Unbanned { .. }
            | ModAction::Muted { .. }
            | ModAction::Unmuted { .. }
            | ModAction::Left { .. }
            | ModAction::Topic { .. }
            | ModAction::MessageRemoved { .. }
            | ModAction::Closed
            | ModAction::Reopened
            | ModAction::PasswordReset { .. }
            | ModAction::SessionsRevoked { .. } => {}
        }
    }
    let room = || shared::RoomName::try_from("lobby").unwrap();
    let mut messages: Vec<ServerMsg> = actions
        .into_iter()
        .map(|action| ServerMsg::Moderated {
            room: room(),
            by: user(),
            action,
        })
        .collect();
    for reason in [
        RemovedReason::Uninvited,
        RemovedReason::Kicked,
        RemovedReason::Banned,
        RemovedReason::Left,
        RemovedReason::Closed,
    ] {
        messages.push(ServerMsg::Removed {
            room: room(),
            by: user(),
            reason,
        });
    }
    for mode in [
        HistoryMode::Latest,
        HistoryMode::CatchUp,
        HistoryMode::Reset,
        HistoryMode::Older,
        HistoryMode::Newer,
        HistoryMode::Around,
    ] {
        messages.push(ServerMsg::DirectHistory {
            mode,
            messages: Vec::new(),
            epoch: shared::Epoch::try_from("e1").unwrap(),
        });
    }
    for code in all_error_codes() {
        messages.push(ServerMsg::Error {
            code,
            message: "no".to_owned(),
            client_id: None,
        });
    }
    for message in messages {
        let json = encode(&message).unwrap();
        assert_eq!(ServerMsg::parse(&json).unwrap(), message, "{json}");
    }
}

#[test]
fn the_lean_decoder_refuses_what_serde_refuses() {
    // The refusals among the cases both decoders are held to (`checks::LEAN_FRAMES`, also run
    // in the browsers): each says what is wrong in the message.
    let refused: Vec<&str> = shared::checks::LEAN_FRAMES
        .iter()
        .copied()
        .filter(|json| decode::<ServerMsg>(json).is_err())
        .collect();
    assert!(refused.len() >= 20, "{refused:?}");
    for json in refused {
        let err = ServerMsg::parse(json).unwrap_err();
        assert!(err.to_string().starts_with("malformed message"), "{err}");
    }
    // Optional fields may be absent or null; defaulted ones absent.
    let bare = r#"{"type":"error","code":"invalid","message":"m","client_id":null}"#;
    assert_eq!(ServerMsg::parse(bare).unwrap(), decode(bare).unwrap());
    let bare = r#"{"type":"read_positions"}"#;
    assert_eq!(ServerMsg::parse(bare).unwrap(), decode(bare).unwrap());
    let err = ServerMsg::parse(r#"{"type":"left","room":"a b"}"#).unwrap_err();
    assert!(err.to_string().contains("`room`"), "{err}");
}

/// Every `ErrorCode`, in declaration order, found by construction: serde's derived
/// `Deserialize` also accepts a variant's index, so counting up until one is refused visits
/// each variant, including any added later.
fn all_error_codes() -> Vec<ErrorCode> {
    use serde::{Deserialize as _, de::value::U32Deserializer};
    (0u32..)
        .map_while(|index| {
            ErrorCode::deserialize(U32Deserializer::<serde::de::value::Error>::new(index)).ok()
        })
        .collect()
}

/// The wire name of `code`. No wildcard arm: a new code does not compile until it is named.
fn wire_name(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Malformed => "malformed",
        ErrorCode::UnknownType => "unknown_type",
        ErrorCode::Invalid => "invalid",
        ErrorCode::BinaryNotSupported => "binary_not_supported",
        ErrorCode::NotIdentified => "not_identified",
        ErrorCode::AlreadyIdentified => "already_identified",
        ErrorCode::NickTaken => "nick_taken",
        ErrorCode::NotInRoom => "not_in_room",
        ErrorCode::TooManyRooms => "too_many_rooms",
        ErrorCode::TooLong => "too_long",
        ErrorCode::RateLimited => "rate_limited",
        ErrorCode::NoSuchUser => "no_such_user",
        ErrorCode::StoreFailed => "store_failed",
        ErrorCode::Overloaded => "overloaded",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::Unauthenticated => "unauthenticated",
        ErrorCode::RoomExists => "room_exists",
        ErrorCode::RoomFull => "room_full",
        ErrorCode::Banned => "banned",
        ErrorCode::Muted => "muted",
        ErrorCode::NoSuchMessage => "no_such_message",
        ErrorCode::TooManyReactions => "too_many_reactions",
        ErrorCode::RoomClosed => "room_closed",
    }
}

#[test]
fn every_error_code_has_its_snake_case_name_and_is_documented() {
    let codes = all_error_codes();
    assert_eq!(codes.len(), 23, "{codes:?}");
    let doc = protocol_doc();
    for code in codes {
        let name = wire_name(code);
        assert_eq!(encode(&code).unwrap(), format!("\"{name}\""));
        assert_eq!(decode::<ErrorCode>(&format!("\"{name}\"")).unwrap(), code);
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not in PROTOCOL.md"
        );
    }
}

/// docs/PROTOCOL.md, which these tests hold to the code.
fn protocol_doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .expect("docs/PROTOCOL.md exists")
}

/// The JSON lines of the fenced ```json blocks in docs/PROTOCOL.md's chat section.
fn documented_lines() -> Vec<String> {
    let doc = protocol_doc();
    let chat = doc
        .split_once("## `GET /ws`")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .expect("PROTOCOL.md has a `GET /ws` section");
    let mut lines = Vec::new();
    let mut in_json = false;
    for line in chat.lines() {
        match line.trim() {
            "```json" => in_json = true,
            "```" => in_json = false,
            text if in_json && !text.is_empty() => lines.push(text.to_owned()),
            _ => {}
        }
    }
    lines
}

#[test]
fn protocol_doc_shows_exactly_the_golden_messages() {
    let documented = documented_lines();
    let golden: Vec<&str> = client_examples()
        .iter()
        .map(|(_, json)| *json)
        .chain(server_examples().iter().map(|(_, json)| *json))
        .collect();
    for json in &golden {
        assert!(
            documented.iter().any(|d| d == json),
            "PROTOCOL.md lacks {json}"
        );
    }
    for line in &documented {
        assert!(
            golden.contains(&line.as_str()),
            "PROTOCOL.md shows a non-golden line: {line}"
        );
    }
}

/// The hand-written decoder reads the server's frames, the account API's and the upload's
/// answers and echoes as serde does, over serde_json's tree (the browser suite runs the same
/// check over the browser's `JSON.parse`).
#[test]
fn the_lean_decoder_agrees_with_serde_over_serde_jsons_tree() {
    shared::checks::lean_agrees_with_serde(|text| {
        // Leaked: the tree is read through references, and a test's few kilobytes may stay.
        let tree: &'static serde_json::Value =
            Box::leak(Box::new(serde_json::from_str(text).ok()?));
        Some(tree)
    });
}

#[test]
fn a_welcome_from_a_server_that_does_not_say_max_owned_rooms_reads_as_zero() {
    let older = r#"{"type":"welcome","user":"Alice","limits":{"max_text_chars":2000,"max_rooms":32,"rate_per_sec":10,"rate_burst":20,"typing_timeout_ms":5000,"max_reactions":20,"max_reactions_per_user":10}}"#;
    match decode::<ServerMsg>(older).unwrap() {
        ServerMsg::Welcome { limits, .. } => assert_eq!(limits.max_owned_rooms, 0),
        other => panic!("expected welcome, got {other:?}"),
    }
}
