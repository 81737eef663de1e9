//! The server's identities for connections and users: small types below both the hub and the
//! room registry (which would otherwise import each other).

/// One WebSocket connection (tab). Allocated from a counter, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// One user (a nickname and its browser token), with one or more connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(pub u64);

/// What the client id of every entry an import stores starts with (`transfer::import`): no
/// connection may choose one (the hub refuses it), so that a member cannot plant a message
/// an import would take for its own.
pub const IMPORTED_CLIENT_ID_PREFIX: &str = "imp-";

/// A fresh random [`shared::Epoch`] for a new message log (128 bits from the OS, as hex).
///
/// # Errors
/// When the operating system has no randomness to give (the log is then not created).
pub fn new_epoch() -> Result<shared::Epoch, getrandom::Error> {
    let hex = random_hex(16)?;
    Ok(shared::Epoch::try_from(hex).expect("32 hex digits are a valid epoch"))
}

/// `bytes` random bytes from the OS, as lowercase hex (two digits each).
///
/// # Errors
/// When the operating system has no randomness to give.
pub fn random_hex(bytes: usize) -> Result<String, getrandom::Error> {
    let mut random = vec![0u8; bytes];
    getrandom::fill(&mut random)?;
    Ok(random.iter().map(|b| format!("{b:02x}")).collect())
}

/// The store's key for a user: a hash of their browser token (or of the token derived from
/// their login), so the database holds no secret that would let its reader speak as someone.
pub fn user_key(token: &shared::UserToken) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(token.as_str().as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}
