//! The Echo page's frame.

use serde::{Deserialize, Serialize};

/// One message typed on the Echo page, as sent to `/ws/echo` and returned unchanged.
///
/// `/ws/echo` itself is payload-agnostic (it returns any text or binary frame byte for byte); the
/// page wraps what the user typed in this frame so that it can match each echo to its send and
/// show the round-trip time, even when several are in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EchoFrame {
    /// Chosen by the sender, unique per page load; the echo carries it back.
    pub id: u64,
    /// What the user typed, any Unicode text.
    pub text: String,
}
