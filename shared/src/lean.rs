//! The browser app's decoder of everything the server sends it, written by hand over a parsed
//! JSON value ([`Json`]) instead of serde's derived `Deserialize` over JSON text.
//!
//! Why a second decoder: the derived one is the largest single piece of the release wasm.
//! Internally tagged enums (`ServerMsg`, `Change`, `ModAction`) make serde buffer each frame
//! into its private `Content` tree and generate, per variant, a visitor for maps *and*
//! sequences with field visitors for strings, bytes and integers: ~50 KB gzipped of the app
//! (measured with twiggy, 2026-12-01). Here each field is one call into a few shared helpers.
//! And because it reads a parsed value, the app hands it what the browser's own `JSON.parse`
//! built, and carries no JSON parser at all (frontend/src/json.rs).
//!
//! It stays one definition of the protocol: the types are serde's, the unit enums and the
//! validated ids decode through their own serde impls and `TryFrom<String>`, and
//! `tests/chat_wire_format.rs` decodes every golden server example with both decoders (this
//! one over serde_json's tree, [`ServerMsg::parse`]), while the fuzz target
//! (`checks::server_frame`) checks that whatever either accepts, the other reads the same from
//! its canonical encoding. The browser's tree is checked against serde's decoder by the
//! browser suite (frontend/tests/web.rs). The backend keeps the derived decoder: it is native
//! code, where size does not matter and serde's precise errors do.
//!
//! One difference is deliberate: the browser's numbers are doubles, so [`Json::unsigned`]
//! there stops at 2^53 - 1 (ids, sequence numbers and timestamps stay far below it); larger
//! integers are refused rather than rounded.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _, IntoDeserializer as _};
use serde_json::Value;

use crate::{
    Change, ClientMsgId, DirectMessage, EchoFrame, Emoji, Epoch, Image, Limits, MessageId,
    ModAction, Nick, ProtocolError, Quote, Reaction, RoomChange, RoomInfo, RoomMessage, RoomName,
    ServerMsg, Text, UploadId,
    auth::{ApiError, AuthMode, SessionInfo},
};

type Result<T> = std::result::Result<T, ProtocolError>;

impl ServerMsg {
    /// Decodes a server frame like [`crate::decode`] does, with a fraction of the code (see the
    /// module's docs), over serde_json's tree: the native twin of what the browser app does
    /// over the browser's (`JSON.parse`, then [`read`]).
    pub fn parse(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text)?;
        read(&&value)
    }
}

/// A parsed JSON value, as the decoder reads it: serde_json's tree natively, the browser's
/// (`JSON.parse`) in the app, which then needs no JSON parser of its own.
pub trait Json: Sized {
    /// The member `key` of an object; `None` when absent (or when this is not an object).
    fn get(&self, key: &str) -> Option<Self>;
    /// An object (not an array, not `null`).
    fn is_object(&self) -> bool;
    /// `null`.
    fn is_null(&self) -> bool;
    /// A string's text.
    fn string(&self) -> Option<String>;
    /// A non-negative integer that fits (the browser's numbers: at most 2^53 - 1).
    fn unsigned(&self) -> Option<u64>;
    /// `true` or `false`.
    fn boolean(&self) -> Option<bool>;
    /// An array's items.
    fn items(&self) -> Option<Vec<Self>>;
    /// An object's members, in order.
    fn members(&self) -> Option<Vec<(String, Self)>>;
}

impl Json for &Value {
    fn get(&self, key: &str) -> Option<Self> {
        Value::get(self, key)
    }
    fn is_object(&self) -> bool {
        Value::is_object(self)
    }
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn string(&self) -> Option<String> {
        self.as_str().map(str::to_owned)
    }
    fn unsigned(&self) -> Option<u64> {
        self.as_u64()
    }
    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.as_array().map(|items| items.iter().collect())
    }
    fn members(&self) -> Option<Vec<(String, Self)>> {
        self.as_object()
            .map(|object| object.iter().map(|(k, v)| (k.clone(), v)).collect())
    }
}

/// Decodes a `T` from a parsed JSON value (a server frame: `T` = [`ServerMsg`]; the account
/// API's and the upload's answers; an echo).
pub fn read<T: Lean, J: Json>(value: &J) -> Result<T> {
    T::lean(value)
}

/// A problem in the shape of a message (what serde's `Error::custom` says for its decoder).
pub fn problem(message: String) -> ProtocolError {
    ProtocolError::Malformed(serde_json::Error::custom(message))
}

fn object<J: Json>(value: &J) -> Result<&J> {
    if value.is_object() {
        Ok(value)
    } else {
        Err(problem("expected a JSON object".to_owned()))
    }
}

/// A value of the wire that decodes from a parsed JSON value: the messages and everything in
/// them.
pub trait Lean: Sized {
    /// Decodes one from `value`.
    fn lean<J: Json>(value: &J) -> Result<Self>;
}

/// The required field `key`.
fn field<T: Lean, J: Json>(object: &J, key: &str) -> Result<T> {
    match object.get(key) {
        Some(value) => T::lean(&value).map_err(|err| problem(format!("`{key}`: {err}"))),
        None => Err(problem(format!("missing field `{key}`"))),
    }
}

/// An optional field (`#[serde(default)]` on an `Option`): absent or `null` is `None`.
fn optional<T: Lean, J: Json>(object: &J, key: &str) -> Result<Option<T>> {
    match object.get(key) {
        None => Ok(None),
        Some(value) if value.is_null() => Ok(None),
        Some(_) => field(object, key).map(Some),
    }
}

/// A field with `#[serde(default)]`: absent is the default (`null` is not).
fn or_default<T: Lean + Default, J: Json>(object: &J, key: &str) -> Result<T> {
    match object.get(key) {
        None => Ok(T::default()),
        Some(_) => field(object, key),
    }
}

fn string<J: Json>(value: &J) -> Result<String> {
    value
        .string()
        .ok_or_else(|| problem("expected a string".to_owned()))
}

impl Lean for u64 {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        value
            .unsigned()
            .ok_or_else(|| problem("expected an unsigned integer".to_owned()))
    }
}

impl Lean for u32 {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        u32::try_from(u64::lean(value)?)
            .map_err(|_| problem("expected an unsigned 32-bit integer".to_owned()))
    }
}

impl Lean for bool {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        value
            .boolean()
            .ok_or_else(|| problem("expected a boolean".to_owned()))
    }
}

impl Lean for String {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        string(value)
    }
}

impl Lean for MessageId {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        u64::lean(value).map(MessageId)
    }
}

impl<T: Lean> Lean for Box<T> {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        T::lean(value).map(Box::new)
    }
}

impl<T: Lean> Lean for Vec<T> {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        value
            .items()
            .ok_or_else(|| problem("expected an array".to_owned()))?
            .iter()
            .map(T::lean)
            .collect()
    }
}

/// Maps keyed by a validated name (read positions).
impl<K: TryFrom<String, Error = crate::InvalidName> + Ord, V: Lean> Lean for BTreeMap<K, V> {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        // Inserted one by one: collecting into a BTreeMap sorts first, and a sort costs
        // kilobytes of wasm per type.
        let mut map = BTreeMap::new();
        let members = value
            .members()
            .ok_or_else(|| problem("expected a JSON object".to_owned()))?;
        for (key, value) in members {
            let key = K::try_from(key).map_err(|err| problem(err.to_string()))?;
            map.insert(key, V::lean(&value)?);
        }
        Ok(map)
    }
}

/// The validated strings: their `TryFrom<String>`, as serde's `try_from = "String"` does.
macro_rules! lean_via_string {
    ($($name:ty),*) => {$(
        impl Lean for $name {
            fn lean<J: Json>(value: &J) -> Result<Self> {
                <$name>::try_from(string(value)?).map_err(|err| problem(err.to_string()))
            }
        }
    )*};
}
lean_via_string!(
    Nick,
    RoomName,
    ClientMsgId,
    Epoch,
    Emoji,
    UploadId,
    Text,
    crate::search::SearchQuery,
    crate::search::SearchCursor
);

impl Lean for [u32; 2] {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        match Vec::<u32>::lean(value)?[..] {
            [start, end] => Ok([start, end]),
            _ => Err(problem("expected two numbers".to_owned())),
        }
    }
}

impl Lean for crate::search::SearchHit {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::search::SearchHit {
            room: optional(o, "room")?,
            seq: optional(o, "seq")?,
            to: optional(o, "to")?,
            id: field(o, "id")?,
            from: field(o, "from")?,
            ts: field(o, "ts")?,
            text: field(o, "text")?,
            marks: or_default(o, "marks")?,
            image: or_default(o, "image")?,
        })
    }
}

/// Unit enums (one string each): their own derived impl, so the names are written once.
macro_rules! lean_via_serde {
    ($($name:ty),*) => {$(
        impl Lean for $name {
            fn lean<J: Json>(value: &J) -> Result<Self> {
                unit_enum(value)
            }
        }
    )*};
}
lean_via_serde!(
    AuthMode,
    crate::ErrorCode,
    crate::HistoryMode,
    crate::RemovedReason,
    crate::ImageType
);

/// A unit variant, named by a string: read by the type's own serde impl (over serde's
/// deserializer of one string, not over JSON).
fn unit_enum<T: DeserializeOwned, J: Json>(value: &J) -> Result<T> {
    let name = string(value)?;
    T::deserialize(name.as_str().into_deserializer()).map_err(ProtocolError::Malformed)
}

/// The tag of an internally tagged object.
fn tag<J: Json>(object: &J, key: &str) -> Result<String> {
    object
        .get(key)
        .and_then(|tag| tag.string())
        .ok_or_else(|| problem(format!("missing or non-string `{key}`")))
}

fn unknown(kind: &str) -> ProtocolError {
    problem(format!("unknown variant `{kind}`"))
}

impl Lean for Limits {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(Limits {
            max_text_chars: field(o, "max_text_chars")?,
            max_rooms: field(o, "max_rooms")?,
            rate_per_sec: field(o, "rate_per_sec")?,
            rate_burst: field(o, "rate_burst")?,
            typing_timeout_ms: field(o, "typing_timeout_ms")?,
            max_reactions: field(o, "max_reactions")?,
            max_reactions_per_user: field(o, "max_reactions_per_user")?,
            max_owned_rooms: or_default(o, "max_owned_rooms")?,
        })
    }
}

impl Lean for Quote {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(Quote {
            id: field(o, "id")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            text: or_default(o, "text")?,
            deleted: or_default(o, "deleted")?,
        })
    }
}

impl Lean for Image {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(Image {
            id: field(o, "id")?,
            mime: field(o, "mime")?,
            width: field(o, "width")?,
            height: field(o, "height")?,
            bytes: field(o, "bytes")?,
        })
    }
}

impl Lean for crate::File {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::File {
            id: field(o, "id")?,
            name: field(o, "name")?,
            mime: field(o, "mime")?,
            bytes: field(o, "bytes")?,
        })
    }
}

impl Lean for Reaction {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(Reaction {
            emoji: field(o, "emoji")?,
            users: field(o, "users")?,
        })
    }
}

impl Lean for RoomMessage {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(RoomMessage {
            id: field(o, "id")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            text: field(o, "text")?,
            ts: field(o, "ts")?,
            client_id: field(o, "client_id")?,
            reply_to: optional(o, "reply_to")?,
            image: optional(o, "image")?,
            file: optional(o, "file")?,
            edited: or_default(o, "edited")?,
            deleted: or_default(o, "deleted")?,
            reactions: or_default(o, "reactions")?,
            preview: optional(o, "preview")?,
        })
    }
}

impl Lean for crate::LinkPreview {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::LinkPreview {
            url: field(o, "url")?,
            title: field(o, "title")?,
            description: or_default(o, "description")?,
            image: optional(o, "image")?,
        })
    }
}

impl Lean for Change {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(match tag(o, "kind")?.as_str() {
            "edited" => Change::Edited {
                text: field(o, "text")?,
            },
            "deleted" => Change::Deleted,
            "reacted" => Change::Reacted {
                emoji: field(o, "emoji")?,
                on: field(o, "on")?,
            },
            "previewed" => Change::Previewed {
                preview: field(o, "preview")?,
            },
            other => return Err(unknown(other)),
        })
    }
}

impl Lean for RoomChange {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(RoomChange {
            id: field(o, "id")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            ts: field(o, "ts")?,
            client_id: field(o, "client_id")?,
            target: field(o, "target")?,
            change: field(o, "change")?,
        })
    }
}

impl Lean for DirectMessage {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(DirectMessage {
            id: field(o, "id")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            to: field(o, "to")?,
            text: field(o, "text")?,
            ts: field(o, "ts")?,
            client_id: field(o, "client_id")?,
        })
    }
}

impl Lean for RoomInfo {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(RoomInfo {
            name: field(o, "name")?,
            members: field(o, "members")?,
        })
    }
}

impl Lean for ModAction {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        let kind = tag(o, "kind")?;
        let kind = kind.as_str();
        if kind == "muted" {
            return Ok(ModAction::Muted {
                user: field(o, "user")?,
                until_ms: field(o, "until_ms")?,
            });
        }
        if kind == "topic" {
            return Ok(ModAction::Topic {
                topic: field(o, "topic")?,
            });
        }
        if kind == "closed" {
            return Ok(ModAction::Closed);
        }
        if kind == "reopened" {
            return Ok(ModAction::Reopened);
        }
        if kind == "message_removed" {
            return Ok(ModAction::MessageRemoved {
                id: field(o, "id")?,
            });
        }
        // Every other action names only its user.
        let action: fn(Nick) -> ModAction = match kind {
            "invited" => |user| ModAction::Invited { user },
            "uninvited" => |user| ModAction::Uninvited { user },
            "moderator_added" => |user| ModAction::ModeratorAdded { user },
            "moderator_removed" => |user| ModAction::ModeratorRemoved { user },
            "kicked" => |user| ModAction::Kicked { user },
            "banned" => |user| ModAction::Banned { user },
            "unbanned" => |user| ModAction::Unbanned { user },
            "unmuted" => |user| ModAction::Unmuted { user },
            "left" => |user| ModAction::Left { user },
            "password_reset" => |user| ModAction::PasswordReset { user },
            "sessions_revoked" => |user| ModAction::SessionsRevoked { user },
            other => return Err(unknown(other)),
        };
        Ok(action(field(o, "user")?))
    }
}

impl Lean for ServerMsg {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        server_msg(object(value)?)
    }
}

impl Lean for SessionInfo {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(SessionInfo {
            mode: field(o, "mode")?,
            user: optional(o, "user")?,
        })
    }
}

impl Lean for crate::admin::LogEntry {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::admin::LogEntry {
            at_ms: field(o, "at_ms")?,
            room: optional(o, "room")?,
            by: field(o, "by")?,
            action: field(o, "action")?,
            target: optional(o, "target")?,
        })
    }
}

impl Lean for crate::admin::LogPage {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::admin::LogPage {
            entries: field(o, "entries")?,
            next: optional(o, "next")?,
        })
    }
}

impl Lean for crate::admin::RoomSummary {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::admin::RoomSummary {
            name: field(o, "name")?,
            private: field(o, "private")?,
            owner: optional(o, "owner")?,
            moderators: field(o, "moderators")?,
            banned: field(o, "banned")?,
            max_members: optional(o, "max_members")?,
            topic: optional(o, "topic")?,
            online: field(o, "online")?,
            closed: or_default(o, "closed")?,
        })
    }
}

impl Lean for crate::admin::Rooms {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::admin::Rooms {
            rooms: field(o, "rooms")?,
            groups: field(o, "groups")?,
        })
    }
}

impl Lean for crate::admin::RoomDetail {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::admin::RoomDetail {
            room: field(o, "room")?,
            members: field(o, "members")?,
            more_members: field(o, "more_members")?,
            invited: field(o, "invited")?,
            banned: field(o, "banned")?,
            muted: field(o, "muted")?,
        })
    }
}

impl Lean for crate::admin::Stats {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        Ok(crate::admin::Stats {
            version: field(o, "version")?,
            node: field(o, "node")?,
            connections: field(o, "connections")?,
            users_online: field(o, "users_online")?,
            messages_in: field(o, "messages_in")?,
            store_commits: field(o, "store_commits")?,
            store_commit_micros: field(o, "store_commit_micros")?,
        })
    }
}

impl Lean for ApiError {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        Ok(ApiError {
            error: field(object(value)?, "error")?,
        })
    }
}

impl Lean for EchoFrame {
    fn lean<J: Json>(value: &J) -> Result<Self> {
        let o = object(value)?;
        // `#[serde(deny_unknown_fields)]`, as serde's impl.
        for (key, _) in o.members().unwrap_or_default() {
            if key != "id" && key != "text" {
                return Err(problem(format!("unknown field `{key}`")));
            }
        }
        Ok(EchoFrame {
            id: field(o, "id")?,
            text: field(o, "text")?,
        })
    }
}

fn server_msg<J: Json>(o: &J) -> Result<ServerMsg> {
    Ok(match tag(o, "type")?.as_str() {
        "welcome" => ServerMsg::Welcome {
            user: field(o, "user")?,
            limits: field(o, "limits")?,
        },
        "joined" => ServerMsg::Joined {
            room: field(o, "room")?,
            count: field(o, "count")?,
            members: field(o, "members")?,
        },
        "left" => ServerMsg::Left {
            room: field(o, "room")?,
        },
        "presence" => ServerMsg::Presence {
            room: field(o, "room")?,
            count: field(o, "count")?,
            joined: field(o, "joined")?,
            left: field(o, "left")?,
        },
        "members" => ServerMsg::Members {
            room: field(o, "room")?,
            after: optional(o, "after")?,
            prefix: or_default(o, "prefix")?,
            members: field(o, "members")?,
            more: field(o, "more")?,
        },
        "renamed" => ServerMsg::Renamed {
            from: field(o, "from")?,
            to: field(o, "to")?,
        },
        "said" => ServerMsg::Said {
            id: field(o, "id")?,
            room: field(o, "room")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            text: field(o, "text")?,
            ts: field(o, "ts")?,
            client_id: field(o, "client_id")?,
            reply_to: optional(o, "reply_to")?,
            image: optional(o, "image")?,
            file: optional(o, "file")?,
        },
        "changed" => ServerMsg::Changed {
            room: field(o, "room")?,
            id: field(o, "id")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            ts: field(o, "ts")?,
            client_id: field(o, "client_id")?,
            target: field(o, "target")?,
            change: field(o, "change")?,
        },
        "direct" => ServerMsg::Direct {
            id: field(o, "id")?,
            seq: field(o, "seq")?,
            from: field(o, "from")?,
            to: field(o, "to")?,
            text: field(o, "text")?,
            ts: field(o, "ts")?,
            client_id: field(o, "client_id")?,
        },
        "typing" => ServerMsg::Typing {
            room: field(o, "room")?,
            user: field(o, "user")?,
            active: field(o, "active")?,
        },
        "history" => ServerMsg::History {
            room: field(o, "room")?,
            mode: field(o, "mode")?,
            messages: field(o, "messages")?,
            changes: or_default(o, "changes")?,
            more_before: field(o, "more_before")?,
            epoch: field(o, "epoch")?,
        },
        "read_positions" => ServerMsg::ReadPositions {
            rooms: or_default(o, "rooms")?,
            directs: or_default(o, "directs")?,
        },
        "direct_history" => ServerMsg::DirectHistory {
            mode: field(o, "mode")?,
            messages: field(o, "messages")?,
            epoch: field(o, "epoch")?,
        },
        "rooms" => ServerMsg::Rooms {
            rooms: field(o, "rooms")?,
        },
        "error" => ServerMsg::Error {
            code: field(o, "code")?,
            message: field(o, "message")?,
            client_id: optional(o, "client_id")?,
        },
        "room_policy" => ServerMsg::RoomPolicy {
            room: field(o, "room")?,
            owner: optional(o, "owner")?,
            moderators: or_default(o, "moderators")?,
            private: field(o, "private")?,
            max_members: optional(o, "max_members")?,
            group: or_default(o, "group")?,
            members: or_default(o, "members")?,
            topic: optional(o, "topic")?,
        },
        "invited" => ServerMsg::Invited {
            room: field(o, "room")?,
            by: field(o, "by")?,
        },
        "moderated" => ServerMsg::Moderated {
            room: field(o, "room")?,
            by: field(o, "by")?,
            action: field(o, "action")?,
        },
        "removed" => ServerMsg::Removed {
            room: field(o, "room")?,
            by: field(o, "by")?,
            reason: field(o, "reason")?,
        },
        "reauth_needed" => ServerMsg::ReauthNeeded {
            expires_in_ms: field(o, "expires_in_ms")?,
        },
        "reauthed" => ServerMsg::Reauthed {
            expires_in_ms: field(o, "expires_in_ms")?,
        },
        "seen" => ServerMsg::Seen {
            user: field(o, "user")?,
            room: optional(o, "room")?,
            position: field(o, "position")?,
        },
        "sharing" => ServerMsg::Sharing {
            reads: field(o, "reads")?,
        },
        "search_results" => ServerMsg::SearchResults {
            query: field(o, "query")?,
            hits: field(o, "hits")?,
            next: optional(o, "next")?,
        },
        other => return Err(unknown(other)),
    })
}
