//! Web Push (RFC 8030, with RFC 8291 encryption and RFC 8292 VAPID): what the app and the
//! server exchange to register a browser for notifications, and what a push carries to the
//! service worker (`frontend/sw.js`), which shows it.
//!
//! The flow: the app reads the server's VAPID public key (`GET` [`crate::paths::API_PUSH`]),
//! subscribes through its service worker with it, and registers the subscription (`POST`
//! the same path, a [`Subscription`]); `DELETE` with an [`Unsubscribe`] forgets it. The
//! user is named as on uploads (session cookie, bearer token or the browser token header).
//! When that user has no connected tab and gets a direct or group message or an @mention,
//! the server sends a [`Notice`], encrypted for the subscription, through its push service.

use serde::{Deserialize, Serialize};

/// `GET /api/push`: the server's VAPID public key, for `PushManager.subscribe`'s
/// `applicationServerKey`, and where the asking user is subscribed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerKey {
    /// The uncompressed P-256 point (65 bytes), base64url without padding.
    pub key: String,
    /// The endpoints of the asking user's subscriptions (empty when the request names no
    /// user): a browser finds out whether the server still has its own.
    #[serde(default)]
    pub endpoints: Vec<String>,
}

/// `POST /api/push`: a browser's push subscription (`PushSubscription.toJSON()`'s fields),
/// and how much its notifications may say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The push service's URL for this browser (https, or http on loopback in tests).
    pub endpoint: String,
    /// The browser's keys for the payload's encryption.
    pub keys: SubscriptionKeys,
    /// Only "new message", never the sender or the text (the push service relays what the
    /// notification says, encrypted; the phone's lock screen shows it).
    #[serde(default)]
    pub private: bool,
}

/// A subscription's keys, base64url as the browser gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (65 bytes uncompressed).
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

/// `DELETE /api/push`: forget this browser's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// The subscription's endpoint.
    pub endpoint: String,
}

/// What a push says (the decrypted payload the service worker reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Where the message is: `direct:NICK`, `group:ID` or `room:NAME`; the app opens it
    /// from the notification (`/?open=WHERE&at=ID`).
    pub open: String,
    /// The message's id there.
    pub id: u64,
    /// Who wrote it; `None` with private previews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The start of its text; `None` with private previews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl Notice {
    /// Most characters of text a preview carries (a push payload is at most 4 KB, and a
    /// notification shows a line or two).
    pub const PREVIEW_CHARS: usize = 120;
}
