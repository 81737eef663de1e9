//! WebSocket close codes the server sends, and why.
//!
//! 1000–1015 are RFC 6455's (section 7.4.1); 4000–4999 are reserved for applications, and ours
//! borrow the HTTP status with the same meaning so they are easy to remember.

/// The close handshake completed normally (RFC 6455 7.4.1).
pub const NORMAL: u16 = 1000;
/// The server is shutting down (or restarting); reconnect later (RFC 6455 7.4.1).
pub const GOING_AWAY: u16 = 1001;
/// The peer broke the WebSocket protocol, e.g. a bad frame (RFC 6455 7.4.1).
pub const PROTOCOL_ERROR: u16 = 1002;
/// The peer kept breaking a rule after being told (sustained rate-limit abuse)
/// (RFC 6455 7.4.1, "policy violation").
pub const POLICY_VIOLATION: u16 = 1008;
/// A text message was not valid UTF-8 (RFC 6455 7.4.1 and 8.1).
pub const INVALID_PAYLOAD: u16 = 1007;
/// A frame, or a message reassembled from fragments, exceeded the server's size limit
/// (RFC 6455 7.4.1).
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The connection read too slowly: its bounded outbox overflowed and it was dropped so that
/// nobody else waits for it; reconnect (RFC 6455 7.4.1 via IANA, "try again later").
pub const SLOW_CONSUMER: u16 = 1013;
/// The server failed in a way that is not the client's fault (RFC 6455 7.4.1).
pub const INTERNAL_ERROR: u16 = 1011;
/// No valid login: no session cookie (accounts mode) or no valid token (jwt mode), or the
/// token expired and no fresh one came in time; like HTTP 401. Log in (again), then reconnect.
pub const UNAUTHENTICATED: u16 = 4401;
/// A server admin banned this user from the whole server (each room the connection was in
/// said `removed` first); like HTTP 403. Reconnecting is refused the same way until the ban
/// is lifted.
pub const BANNED: u16 = 4403;
/// The peer answered no ping within the server's client timeout; like HTTP 408. A browser whose
/// network really died never sees this frame, but a merely stalled one does, and knows why.
pub const HEARTBEAT_TIMEOUT: u16 = 4408;

/// Every code above: the codes the server itself sends (it also echoes a peer's own code when
/// answering the peer's close). The metrics pre-create their `closes_total` series from it, so
/// a dashboard sees each at 0 from start-up; a test below fails if a code is left out.
pub const ALL: [u16; 11] = [
    NORMAL,
    GOING_AWAY,
    PROTOCOL_ERROR,
    POLICY_VIOLATION,
    INVALID_PAYLOAD,
    MESSAGE_TOO_BIG,
    SLOW_CONSUMER,
    INTERNAL_ERROR,
    UNAUTHENTICATED,
    BANNED,
    HEARTBEAT_TIMEOUT,
];

#[cfg(test)]
mod tests {
    /// A new code must join [`super::ALL`]: counted from this file's own text, so adding a
    /// `pub const` without listing it fails here.
    #[test]
    fn all_lists_every_code() {
        let declared = include_str!("close.rs")
            .lines()
            .filter(|line| line.starts_with("pub const ") && line.contains(": u16 ="))
            .count();
        assert_eq!(declared, super::ALL.len());
        let mut distinct = super::ALL.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), super::ALL.len(), "a code is listed twice");
    }
}
