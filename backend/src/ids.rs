//! The server's identities for connections and users: small types below both the hub and the
//! room registry (which would otherwise import each other).

/// One WebSocket connection (tab). Allocated from a counter, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One user (a nickname and its browser token), with one or more connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub u64);
