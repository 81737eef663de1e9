//! The browser app's encoder of what it sends the server: [`ClientMsg::to_json`], and the
//! account API's and the Echo page's bodies ([`Credentials::to_json`],
//! [`PasswordChange::to_json`], [`EchoFrame::to_json`]), written by hand into a `String`
//! instead of serde's derived `Serialize` through serde_json.
//!
//! Why a second encoder: the derived one, every variant's field-by-field serializer calls
//! inlined into the app's one `send`, weighed 3.3 KB gzipped of the release wasm, and
//! serde_json's serializer for the other bodies 1.4 KB more (measured by leaving them out,
//! 2026-12-06); this is about a fifth of that. The twin of [`crate::lean`],
//! the hand-written decoder, and held to the same rule: one definition of the protocol. The
//! server reads these frames with serde's derived decoder; `checks::client_frame` (the fuzz
//! target, and the committed corpus in the normal suite) and this module's tests check that
//! what is written here decodes to the very message it was written from, and is the JSON
//! serde would write.
//!
//! # Layout
//! - [`ClientMsg::to_json`]: one arm per request, its fields in declaration order, the
//!   optional ones left out when serde leaves them out (`skip_serializing_if`).
//! - The other bodies' `to_json`, the same way.
//! - `Out`: a JSON object being written (strings escaped as JSON requires, numbers in
//!   decimal).

use crate::{
    ClientMsg, EchoFrame, File, Image, RoomName,
    auth::{Credentials, PasswordChange},
};

/// A JSON object being written.
struct Out(String);

impl Out {
    fn object() -> Self {
        let mut out = Self(String::with_capacity(96));
        out.0.push('{');
        out
    }

    /// An object whose first member is `"type":kind`.
    fn new(kind: &str) -> Self {
        let mut out = Self::object();
        out.str("type", kind);
        out
    }

    /// `"key":`, after a comma unless it is the object's first member.
    fn key(&mut self, key: &str) -> &mut Self {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.0.push('"');
        self.0.push_str(key);
        self.0.push_str("\":");
        self
    }

    fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key).quoted(value);
        self
    }

    /// `"key":["a","b"]`.
    fn strs<'a>(&mut self, key: &str, values: impl Iterator<Item = &'a str>) -> &mut Self {
        self.key(key).0.push('[');
        for (i, value) in values.enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            self.quoted(value);
        }
        self.0.push(']');
        self
    }

    fn num(&mut self, key: &str, value: u64) -> &mut Self {
        self.key(key).0.push_str(&value.to_string());
        self
    }

    fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key).0.push_str(&value.to_string());
        self
    }

    fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key)
            .0
            .push_str(if value { "true" } else { "false" });
        self
    }

    /// `value` as a JSON string, escaped as serde_json escapes it: `"`, `\`, the short
    /// escapes (`\n`, `\r`, `\t`, `\b`, `\f`), other control characters as `\u00XX`.
    fn quoted(&mut self, value: &str) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.0.push('"');
        for c in value.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                '\u{8}' => self.0.push_str("\\b"),
                '\u{c}' => self.0.push_str("\\f"),
                '\u{0}'..='\u{1f}' => {
                    let byte = c as u8;
                    self.0.push_str("\\u00");
                    self.0.push(char::from(HEX[usize::from(byte >> 4)]));
                    self.0.push(char::from(HEX[usize::from(byte & 0xf)]));
                }
                c => self.0.push(c),
            }
        }
        self.0.push('"');
    }

    fn end(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl ClientMsg {
    /// This request as the JSON text of one frame: what serde would write, without serde
    /// (see the module's documentation).
    pub fn to_json(&self) -> String {
        match self {
            Self::Hello {
                nick,
                token,
                rooms,
                since,
                epochs,
                direct_since,
                direct_epoch,
                jwt,
            } => {
                let mut out = Out::new("hello");
                out.str("nick", nick.as_str())
                    .str("token", token.as_str())
                    .strs("rooms", rooms.iter().map(RoomName::as_str));
                if !since.is_empty() {
                    out.key("since").0.push('{');
                    for (i, (room, seq)) in since.iter().enumerate() {
                        if i > 0 {
                            out.0.push(',');
                        }
                        out.quoted(room.as_str());
                        out.0.push(':');
                        out.0.push_str(&seq.to_string());
                    }
                    out.0.push('}');
                }
                if !epochs.is_empty() {
                    out.key("epochs").0.push('{');
                    for (i, (room, epoch)) in epochs.iter().enumerate() {
                        if i > 0 {
                            out.0.push(',');
                        }
                        out.quoted(room.as_str());
                        out.0.push(':');
                        out.quoted(epoch.as_str());
                    }
                    out.0.push('}');
                }
                if let Some(id) = direct_since {
                    out.num("direct_since", id.0);
                }
                if let Some(epoch) = direct_epoch {
                    out.str("direct_epoch", epoch.as_str());
                }
                if let Some(jwt) = jwt {
                    out.str("jwt", jwt);
                }
                out.end()
            }
            Self::Reauth { jwt } => {
                let mut out = Out::new("reauth");
                out.str("jwt", jwt);
                out.end()
            }
            Self::CreateRoom {
                room,
                private,
                max_members,
            } => {
                let mut out = Out::new("create_room");
                out.str("room", room.as_str()).bool("private", *private);
                if let Some(max) = max_members {
                    out.num("max_members", u64::from(*max));
                }
                out.end()
            }
            Self::CreateGroup { with } => {
                let mut out = Out::new("create_group");
                out.strs("with", with.iter().map(crate::Nick::as_str));
                out.end()
            }
            Self::LeaveGroup { room } => {
                let mut out = Out::new("leave_group");
                out.str("room", room.as_str());
                out.end()
            }
            Self::Invite { room, user } => room_user("invite", room, user),
            Self::Uninvite { room, user } => room_user("uninvite", room, user),
            Self::Kick { room, user } => room_user("kick", room, user),
            Self::Ban { room, user } => room_user("ban", room, user),
            Self::Unban { room, user } => room_user("unban", room, user),
            Self::SetModerator {
                room,
                user,
                moderator,
            } => {
                let mut out = Out::new("set_moderator");
                out.str("room", room.as_str())
                    .str("user", user.as_str())
                    .bool("moderator", *moderator);
                out.end()
            }
            Self::Mute {
                room,
                user,
                for_secs,
            } => {
                let mut out = Out::new("mute");
                out.str("room", room.as_str())
                    .str("user", user.as_str())
                    .num("for_secs", *for_secs);
                out.end()
            }
            Self::DeleteMessage {
                room,
                id,
                client_id,
            } => {
                let mut out = Out::new("delete_message");
                out.str("room", room.as_str())
                    .num("id", id.0)
                    .str("client_id", client_id.as_str());
                out.end()
            }
            Self::Edit {
                room,
                id,
                text,
                client_id,
            } => {
                let mut out = Out::new("edit");
                out.str("room", room.as_str())
                    .num("id", id.0)
                    .str("text", text.as_str())
                    .str("client_id", client_id.as_str());
                out.end()
            }
            Self::React {
                room,
                id,
                emoji,
                on,
                client_id,
            } => {
                let mut out = Out::new("react");
                out.str("room", room.as_str())
                    .num("id", id.0)
                    .str("emoji", emoji.as_str())
                    .bool("on", *on)
                    .str("client_id", client_id.as_str());
                out.end()
            }
            Self::Join { room, since, epoch } => {
                let mut out = Out::new("join");
                out.str("room", room.as_str());
                if let Some(since) = since {
                    out.num("since", *since);
                }
                if let Some(epoch) = epoch {
                    out.str("epoch", epoch.as_str());
                }
                out.end()
            }
            Self::LoadOlder { room, before } => room_number("load_older", room, "before", *before),
            Self::LoadNewer { room, after } => room_number("load_newer", room, "after", *after),
            Self::LoadAround { room, seq } => room_number("load_around", room, "seq", *seq),
            Self::MarkRead { room, seq } => room_number("mark_read", room, "seq", *seq),
            Self::Leave { room } => room_only("leave", room),
            Self::Typing { room } => room_only("typing", room),
            Self::ListRooms => Out::new("list_rooms").end(),
            Self::Members {
                room,
                after,
                prefix,
            } => {
                let mut out = Out::new("members");
                out.str("room", room.as_str());
                if let Some(after) = after {
                    out.str("after", after.as_str());
                }
                if !prefix.is_empty() {
                    out.str("prefix", prefix);
                }
                out.end()
            }
            Self::Say {
                room,
                text,
                client_id,
                reply_to,
                image,
                file,
            } => {
                let mut out = Out::new("say");
                out.str("room", room.as_str())
                    .str("text", text.as_str())
                    .str("client_id", client_id.as_str());
                if let Some(id) = reply_to {
                    out.num("reply_to", id.0);
                }
                if let Some(image) = image {
                    out.key("image");
                    write_image(&mut out, image);
                }
                if let Some(file) = file {
                    out.key("file");
                    write_file(&mut out, file);
                }
                out.end()
            }
            Self::Search {
                query,
                order,
                cursor,
                utc_offset,
            } => {
                let mut out = Out::new("search");
                out.str("query", query.as_str()).str(
                    "order",
                    match order {
                        crate::search::SearchOrder::Newest => "newest",
                        crate::search::SearchOrder::Best => "best",
                    },
                );
                if let Some(cursor) = cursor {
                    out.str("cursor", cursor.as_str());
                }
                out.int("utc_offset", i64::from(*utc_offset));
                out.end()
            }
            Self::SetTopic { room, topic } => {
                let mut out = Out::new("set_topic");
                out.str("room", room.as_str()).str("topic", topic);
                out.end()
            }
            Self::ShareReads { share } => {
                let mut out = Out::new("share_reads");
                out.bool("share", *share);
                out.end()
            }
            Self::MarkDirectRead { with, seq } => {
                let mut out = Out::new("mark_direct_read");
                out.str("with", with.as_str()).num("seq", *seq);
                out.end()
            }
            Self::Direct {
                to,
                text,
                client_id,
            } => {
                let mut out = Out::new("direct");
                out.str("to", to.as_str())
                    .str("text", text.as_str())
                    .str("client_id", client_id.as_str());
                out.end()
            }
            Self::Rename { nick } => {
                let mut out = Out::new("rename");
                out.str("nick", nick.as_str());
                out.end()
            }
        }
    }
}

impl Credentials {
    /// The body of `POST /api/register` and `/api/login`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("name", self.name.as_str())
            .str("password", &self.password);
        out.end()
    }
}

impl crate::admin::Ban {
    /// The body of `POST /api/admin/ban`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("user", &self.user).bool("banned", self.banned);
        out.end()
    }
}

impl crate::admin::PasswordReset {
    /// The body of `POST /api/admin/password`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("user", &self.user).str("password", &self.password);
        out.end()
    }
}

impl crate::admin::Revoke {
    /// The body of `POST /api/admin/revoke`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("user", &self.user);
        out.end()
    }
}

impl crate::admin::Close {
    /// The body of `POST /api/admin/close`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("room", self.room.as_str())
            .bool("closed", self.closed);
        out.end()
    }
}

impl crate::admin::Remove {
    /// The body of `POST /api/admin/remove`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("room", self.room.as_str()).num("id", self.id.0);
        out.end()
    }
}

impl PasswordChange {
    /// The body of `POST /api/password`, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.str("old", &self.old).str("new", &self.new);
        out.end()
    }
}

impl EchoFrame {
    /// This frame's JSON text, as serde would write it.
    pub fn to_json(&self) -> String {
        let mut out = Out::object();
        out.num("id", self.id).str("text", &self.text);
        out.end()
    }
}

fn room_only(kind: &str, room: &crate::RoomName) -> String {
    let mut out = Out::new(kind);
    out.str("room", room.as_str());
    out.end()
}

fn room_user(kind: &str, room: &crate::RoomName, user: &crate::Nick) -> String {
    let mut out = Out::new(kind);
    out.str("room", room.as_str()).str("user", user.as_str());
    out.end()
}

fn room_number(kind: &str, room: &crate::RoomName, key: &str, value: u64) -> String {
    let mut out = Out::new(kind);
    out.str("room", room.as_str()).num(key, value);
    out.end()
}

/// An [`Image`] as an object (its keys in declaration order).
fn write_image(out: &mut Out, image: &Image) {
    out.0.push_str("{\"id\":");
    out.quoted(image.id.as_str());
    out.str("mime", image.mime.mime())
        .num("width", u64::from(image.width))
        .num("height", u64::from(image.height))
        .num("bytes", image.bytes);
    out.0.push('}');
}

/// A [`File`] as an object (its keys in declaration order).
fn write_file(out: &mut Out, file: &File) {
    out.0.push_str("{\"id\":");
    out.quoted(file.id.as_str());
    out.str("name", &file.name)
        .str("mime", &file.mime)
        .num("bytes", file.bytes);
    out.0.push('}');
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::ImageType;

    /// Every request, with the optional fields both present and absent, and texts that need
    /// escaping (quotes, backslashes, control characters, Korean, emoji).
    fn examples() -> Vec<ClientMsg> {
        let room = || "lobby".parse().unwrap();
        let nick = |n: &str| n.parse().unwrap();
        let text = |t: &str| crate::Text::try_from(t).unwrap();
        let id = || "c-1".parse().unwrap();
        let tricky = "say \"hi\" \\ back\n\ttab \u{1} 안녕 👩‍💻 \u{7f} \u{2028}";
        let image = Image {
            id: "a".repeat(64).parse().unwrap(),
            mime: ImageType::Webp,
            width: 640,
            height: 480,
            bytes: 12_345,
        };
        vec![
            ClientMsg::Hello {
                nick: nick("Alice"),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec![room(), "한국어".parse().unwrap()],
                since: BTreeMap::from([(room(), 41)]),
                epochs: BTreeMap::from([(room(), "9f3c2a7e".parse().unwrap())]),
                direct_since: Some(crate::MessageId(43)),
                direct_epoch: Some("5b0e41d2".parse().unwrap()),
                jwt: Some("eyJ.x\"y".to_owned()),
            },
            ClientMsg::Hello {
                nick: nick("민수"),
                token: "k3J9-browser-token_x".parse().unwrap(),
                rooms: vec![],
                since: BTreeMap::new(),
                epochs: BTreeMap::new(),
                direct_since: None,
                direct_epoch: None,
                jwt: None,
            },
            ClientMsg::Reauth {
                jwt: "a.b.c".to_owned(),
            },
            ClientMsg::CreateRoom {
                room: room(),
                private: true,
                max_members: Some(10),
            },
            ClientMsg::CreateRoom {
                room: room(),
                private: false,
                max_members: None,
            },
            ClientMsg::Invite {
                room: room(),
                user: nick("Bob"),
            },
            ClientMsg::Uninvite {
                room: room(),
                user: nick("Bob"),
            },
            ClientMsg::SetModerator {
                room: room(),
                user: nick("Bob"),
                moderator: false,
            },
            ClientMsg::Kick {
                room: room(),
                user: nick("Bob"),
            },
            ClientMsg::Mute {
                room: room(),
                user: nick("Bob"),
                for_secs: 600,
            },
            ClientMsg::Ban {
                room: room(),
                user: nick("Bob"),
            },
            ClientMsg::Unban {
                room: room(),
                user: nick("Bob"),
            },
            ClientMsg::DeleteMessage {
                room: room(),
                id: crate::MessageId(7),
                client_id: id(),
            },
            ClientMsg::Edit {
                room: room(),
                id: crate::MessageId(7),
                text: text(tricky),
                client_id: id(),
            },
            ClientMsg::React {
                room: room(),
                id: crate::MessageId(7),
                emoji: "👍".parse().unwrap(),
                on: true,
                client_id: id(),
            },
            ClientMsg::Join {
                room: room(),
                since: Some(7),
                epoch: Some("9f3c2a7e".parse().unwrap()),
            },
            ClientMsg::Join {
                room: room(),
                since: None,
                epoch: None,
            },
            ClientMsg::LoadOlder {
                room: room(),
                before: u64::MAX,
            },
            ClientMsg::LoadNewer {
                room: room(),
                after: 0,
            },
            ClientMsg::LoadAround {
                room: room(),
                seq: 7,
            },
            ClientMsg::Leave { room: room() },
            ClientMsg::ListRooms,
            ClientMsg::Members {
                room: room(),
                after: Some(nick("Bob")),
                prefix: "민".to_owned(),
            },
            ClientMsg::Members {
                room: room(),
                after: None,
                prefix: String::new(),
            },
            ClientMsg::Search {
                query: tricky.parse().unwrap(),
                order: crate::search::SearchOrder::Best,
                cursor: Some("t:1:\"x".to_owned().try_into().unwrap()),
                utc_offset: -300,
            },
            ClientMsg::CreateGroup {
                with: vec![nick("Bob"), nick("민지")],
            },
            ClientMsg::LeaveGroup { room: room() },
            ClientMsg::ShareReads { share: false },
            ClientMsg::SetTopic {
                room: room(),
                topic: tricky.to_owned(),
            },
            ClientMsg::Search {
                query: "회의 from:민".parse().unwrap(),
                order: crate::search::SearchOrder::Newest,
                cursor: None,
                utc_offset: 540,
            },
            ClientMsg::Say {
                room: room(),
                text: text(tricky),
                client_id: id(),
                reply_to: Some(crate::MessageId(3)),
                image: Some(image),
                file: None,
            },
            ClientMsg::Say {
                room: room(),
                text: text("the log"),
                client_id: id(),
                reply_to: None,
                image: None,
                file: Some(Box::new(File {
                    id: "b".repeat(64).parse().unwrap(),
                    name: tricky.to_owned(),
                    mime: "text/plain".to_owned(),
                    bytes: 7,
                })),
            },
            ClientMsg::Say {
                room: room(),
                text: text("plain"),
                client_id: id(),
                reply_to: None,
                image: None,
                file: None,
            },
            ClientMsg::MarkRead {
                room: room(),
                seq: 42,
            },
            ClientMsg::MarkDirectRead {
                with: nick("Bob"),
                seq: 9,
            },
            ClientMsg::Typing { room: room() },
            ClientMsg::Direct {
                to: nick("Bob"),
                text: text(tricky),
                client_id: id(),
            },
            ClientMsg::Rename {
                nick: nick("Alicia"),
            },
        ]
    }

    #[test]
    fn every_request_is_written_as_serde_writes_it_and_reads_back_the_same() {
        let examples = examples();
        let mut kinds = std::collections::BTreeSet::new();
        for message in examples {
            let ours = message.to_json();
            let serdes = crate::encode(&message).unwrap();
            assert_eq!(ours, serdes);
            assert_eq!(ClientMsg::parse(&ours).unwrap(), message);
            let value: serde_json::Value = serde_json::from_str(&ours).unwrap();
            kinds.insert(value["type"].as_str().unwrap().to_owned());
        }
        assert_eq!(kinds.len(), 31, "every request type: {kinds:?}");
    }

    #[test]
    fn the_other_bodies_are_written_as_serde_writes_them() {
        let tricky = "pa\"ss\\word\n 비밀 🔑";
        let credentials = Credentials {
            name: "민수".parse().unwrap(),
            password: tricky.to_owned(),
        };
        assert_eq!(credentials.to_json(), crate::encode(&credentials).unwrap());
        let change = PasswordChange {
            old: tricky.to_owned(),
            new: "new one".to_owned(),
        };
        assert_eq!(change.to_json(), crate::encode(&change).unwrap());
        let frame = EchoFrame {
            id: u64::MAX,
            text: tricky.to_owned(),
        };
        assert_eq!(frame.to_json(), crate::encode(&frame).unwrap());
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let mut out = Out::new("x");
        out.str("t", "\u{0}\u{1f}\"\\é\n\t");
        assert_eq!(out.end(), r#"{"type":"x","t":"\u0000\u001f\"\\é\n\t"}"#);
    }
}
