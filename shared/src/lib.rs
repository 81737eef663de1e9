//! The wire vocabulary of the chat system, compiled into both the Actix backend and the Leptos
//! browser app so that the two sides cannot disagree about a message's shape.
//!
//! Everything here is plain data plus serde: no tokio, actix or web-sys, so the crate builds for
//! `wasm32-unknown-unknown` and native alike. The exact JSON is frozen by
//! `tests/wire_format.rs`; changing a field name or a close code is a protocol change.
//!
//! # Layout
//! - [`auth`]: the account API's bodies ([`auth::Credentials`], [`auth::SessionInfo`]) and
//!   [`auth::AuthMode`].
//! - [`chat`]: protocol v1 on `/ws`: [`ClientMsg`], [`ServerMsg`], [`ErrorCode`], [`Limits`];
//!   a room's log entries ([`RoomEntry`]: a [`RoomMessage`] or a [`RoomChange`]) and the one rule
//!   that applies a change to a message ([`RoomMessage::apply`]); [`Image`] attachments.
//! - [`ids`]: validated newtypes ([`Nick`], [`RoomName`], [`ClientMsgId`], [`Epoch`], [`UserToken`],
//!   [`MessageId`], [`Emoji`], [`UploadId`]); a bad value is a decode error with a precise
//!   [`InvalidName`] reason.
//! - [`codec`]: [`encode`] / [`decode`] and [`ProtocolError`], the one place JSON is chosen.
//! - [`lean`]: the browser app's decoder of what the server sends ([`lean::read`] over a
//!   parsed JSON value, [`lean::Json`]; [`ServerMsg::parse`] natively), by hand because serde's
//!   derived one is the app's largest piece of code; [`lean_write`] its twin for what the app
//!   sends ([`ClientMsg::to_json`]).
//! - [`echo`]: [`EchoFrame`], what the Echo page sends to `/ws/echo` (the server returns the
//!   frame unchanged; the id lets the page match the echo and time the round trip).
//! - [`close`]: the WebSocket close codes the server sends, with their meaning.
//! - [`mod@format`]: a message's text as typed to the tree the app shows
//!   ([`format::format()`]): a small Markdown subset, links only for `http`, `https` and
//!   `mailto`.
//! - [`admin`]: what the admin console's HTTP API answers (the moderation log, live numbers).
//! - [`paths`]: the HTTP paths (and the upload header) both sides must agree on.
//! - [`push`]: Web Push: the VAPID key, a browser's subscription, what a push says.
//! - [`search`]: what a `search` asks and `search_results` finds ([`search::SearchHit`]).
//! - [`transport`]: [`transport::Transport`], WebSocket or one of the HTTP fallbacks, by name.
//! - `checks` (hidden): decoder and formatter properties for the fuzz targets and their
//!   regression tests.

pub mod admin;
pub mod auth;
pub mod chat;
#[doc(hidden)]
pub mod checks;
pub mod close;
pub mod codec;
pub mod echo;
pub mod format;
pub mod ids;
pub mod lean;
pub mod lean_write;
pub mod paths;
pub mod push;
pub mod search;
pub mod transport;

pub use chat::{
    Change, ClientMsg, DirectMessage, ErrorCode, File, GROUP_SIZE, HistoryMode, Image, ImageType,
    Limits, LinkPreview, MEMBER_PAGE, ModAction, Quote, Reaction, RemovedReason, RequestError,
    RoomChange, RoomEntry, RoomInfo, RoomMessage, SUBPROTOCOL, ServerMsg, TOPIC_MAX_CHARS,
    TYPING_SHOWN, Text,
};
pub use codec::{ProtocolError, decode, encode};
pub use echo::EchoFrame;
pub use ids::{
    ClientMsgId, Emoji, Epoch, InvalidName, MessageId, Nick, RoomName, UploadId, UserToken,
};
