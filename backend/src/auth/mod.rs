//! Who is speaking (`--auth open|accounts|jwt`).
//!
//! - `open`: a `hello` names any free nickname; its browser token keeps it (as before).
//! - `accounts`: built-in accounts ([`accounts`]); the browser logs in over HTTP ([`http`]) and
//!   gets an HttpOnly session cookie, from which the chat WebSocket is authenticated at its
//!   handshake. The nickname is the account's name.
//! - `jwt`: the embedding site's users; the `hello` carries a signed token ([`jwt`]), whose
//!   `sub` is the user and `name` the nickname; the session asks for a fresh one before it
//!   expires and closes with 4401 if none comes.
//!
//! Either way the hub sees an ordinary `hello`: the session rewrites its nickname and browser
//! token to the authenticated ones ([`Identity`]). The token of an authenticated user is
//! derived from the account (or `sub`), so every tab and every node agrees on who it is, and a
//! client in open mode can never present one (their prefixes are reserved).
//!
//! # Layout
//! - `mod.rs`: [`Auth`], [`Gate`] (what a chat connection is allowed to claim), [`Identity`],
//!   password hashing.
//! - [`accounts`]: the account and session store (SQLite file, or Redis in cluster mode).
//! - [`http`]: `/api/session`, `/api/register`, `/api/login`, `/api/logout`, `/api/password`.
//! - [`jwt`]: token verification (HS256, RS256, EdDSA).

pub mod accounts;
pub mod http;
pub mod jwt;

use std::time::Duration;

use argon2::{
    Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _, password_hash::SaltString,
};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use shared::{Nick, UserToken, auth::AuthMode};

use crate::Config;
use accounts::{Accounts, StoreError};

/// Prefixes of derived browser tokens; refused in a client's own `hello` in open mode, so that
/// nobody can speak as an account's user by sending its token.
const RESERVED_TOKEN_PREFIXES: [&str; 2] = ["acct-", "jwt-"];

/// An authenticated user, as the hub will know them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The nickname shown.
    pub nick: Nick,
    /// The browser token the hub keys the user by, derived from the account or `sub`.
    pub token: UserToken,
}

impl Identity {
    /// The identity of the account called `name`.
    pub fn account(name: &Nick) -> Self {
        Self {
            nick: name.clone(),
            token: derived_token("acct-", &name.key()),
        }
    }

    /// The identity of the JWT subject `sub`, shown as `name`.
    pub fn jwt(sub: &str, name: Nick) -> Self {
        Self {
            nick: name,
            token: derived_token("jwt-", sub),
        }
    }
}

fn derived_token(prefix: &str, subject: &str) -> UserToken {
    let digest = Sha256::digest(format!("{prefix}{subject}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    UserToken::try_from(format!("{prefix}{hex}")).expect("a prefix and hex digits form a token")
}

/// The user key of the admin called `name` in `mode` (an account name, or a JWT `sub`).
pub fn admin_key(mode: AuthMode, name: &str) -> Option<String> {
    let token = match mode {
        AuthMode::Open => return None,
        AuthMode::Accounts => Identity::account(&name.parse().ok()?).token,
        AuthMode::Jwt => derived_token("jwt-", name),
    };
    Some(crate::ids::user_key(&token))
}

/// The user keys of `--admin` (none in open mode).
pub fn admin_keys(config: &crate::Config) -> std::collections::HashSet<String> {
    config
        .admins
        .iter()
        .filter_map(|name| admin_key(config.auth, name))
        .collect()
}

/// Whether a client may present `token` in its own `hello` (open mode).
pub fn token_is_reserved(token: &UserToken) -> bool {
    RESERVED_TOKEN_PREFIXES
        .iter()
        .any(|prefix| token.as_str().starts_with(prefix))
}

/// What a chat connection may claim, decided at its handshake.
#[derive(Debug, Clone)]
pub enum Gate {
    /// Open mode: any free nickname.
    Open,
    /// Accounts mode, logged in: this identity and no other, for as long as the session whose
    /// hash is `session` lives.
    Account {
        /// Who.
        identity: Identity,
        /// The session's hash (as stored), rechecked while the socket is open.
        session: String,
    },
    /// Accounts mode without a valid session cookie: the connection is told and closed.
    LoggedOut,
    /// JWT mode: the `hello` must carry a valid token.
    Jwt,
}

/// Login attempts one account may get per [`ATTEMPT_WINDOW`].
pub const ATTEMPTS_PER_ACCOUNT: u32 = 5;
/// Login and registration attempts one client address may make per [`ATTEMPT_WINDOW`].
pub const ATTEMPTS_PER_ADDRESS: u32 = 20;
pub use crate::config::ATTEMPT_WINDOW;

/// The server's authentication: its mode and what that mode needs.
pub struct Auth {
    /// The mode.
    pub mode: AuthMode,
    accounts: Option<Accounts>,
    jwt: Option<jwt::Verifier>,
    /// A hash of a password nobody has: a login for an unknown account is verified against
    /// it, so that it costs the same time as a wrong password for a real one.
    decoy: String,
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// The window of the attempt limits.
    pub attempt_window: Duration,
}

/// Something in authentication failed that is not the client's fault.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The account store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing (the blocking task died, or argon2 refused its input).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl Auth {
    /// Sets up `config.auth`'s mode: opens the account store (accounts mode) or reads the key
    /// (jwt mode). Errors name the flag or file at fault.
    pub fn open(
        config: &Config,
        redis: Option<&crate::redis_set::RedisSet>,
    ) -> Result<Self, String> {
        let accounts = match config.auth {
            AuthMode::Accounts => Some(
                match redis {
                    Some(redis) => Accounts::open_redis(redis),
                    None => {
                        std::fs::create_dir_all(&config.data_dir).map_err(|err| {
                            format!("cannot create {}: {err}", config.data_dir.display())
                        })?;
                        Accounts::open_sqlite(&config.data_dir)
                    }
                }
                .map_err(|err| err.to_string())?,
            ),
            _ => None,
        };
        let jwt = match config.auth {
            AuthMode::Jwt => Some(jwt::Verifier::from_config(config)?),
            _ => None,
        };
        // Only accounts mode checks passwords (and hashing costs tens of milliseconds).
        let decoy = if config.auth == AuthMode::Accounts {
            hash_blocking("a password nobody has".into()).map_err(|e| e.to_string())?
        } else {
            String::new()
        };
        Ok(Self {
            mode: config.auth,
            accounts,
            jwt,
            decoy,
            session_ttl: config.session_ttl,
            attempt_window: config.login_attempt_window,
        })
    }

    /// The account store (accounts mode only).
    pub fn accounts(&self) -> Option<&Accounts> {
        self.accounts.as_ref()
    }

    /// The JWT verifier (jwt mode only).
    pub fn jwt(&self) -> Option<&jwt::Verifier> {
        self.jwt.as_ref()
    }

    /// What a chat connection presenting the session cookie `cookie` may claim.
    pub async fn gate(&self, cookie: Option<&str>) -> Result<Gate, AuthError> {
        Ok(match self.mode {
            AuthMode::Open => Gate::Open,
            AuthMode::Jwt => Gate::Jwt,
            AuthMode::Accounts => {
                let session = cookie.map(session_hash);
                let name = match &session {
                    Some(hash) => self.account_of(hash).await?,
                    None => None,
                };
                match (name, session) {
                    (Some(name), Some(session)) => Gate::Account {
                        identity: Identity::account(&name),
                        session,
                    },
                    _ => Gate::LoggedOut,
                }
            }
        })
    }

    /// The account whose live session `cookie` is, if any.
    pub async fn session_user(&self, cookie: Option<&str>) -> Result<Option<Nick>, AuthError> {
        match cookie {
            Some(cookie) => self.account_of(&session_hash(cookie)).await,
            None => Ok(None),
        }
    }

    /// The account of the live session stored as `hash` (none outside accounts mode).
    async fn account_of(&self, hash: &str) -> Result<Option<Nick>, AuthError> {
        match &self.accounts {
            Some(accounts) => Ok(accounts.session(hash.to_owned()).await?),
            None => Ok(None),
        }
    }

    /// Whether the session stored as `hash` still lives (not logged out, not ended by a
    /// password change, not expired).
    pub async fn session_alive(&self, hash: &str) -> Result<bool, AuthError> {
        Ok(self.account_of(hash).await?.is_some())
    }

    /// Whether `password` is `account`'s (`None`: no such account, checked against the
    /// decoy so that the answer takes as long).
    pub async fn check_password(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, AuthError> {
        let exists = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.decoy.clone());
        let matches = tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
            .await
            .map_err(|err| AuthError::Hash(err.to_string()))?;
        Ok(exists && matches)
    }
}

/// The Argon2id PHC string of `password` (with a fresh salt), computed off the async workers.
pub async fn hash_password(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_blocking(password))
        .await
        .map_err(|err| AuthError::Hash(err.to_string()))?
}

fn hash_blocking(password: String) -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| AuthError::Hash(err.to_string()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|err| AuthError::Hash(err.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AuthError::Hash(err.to_string()))
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A new session cookie value: 32 random bytes, base64url.
pub fn new_session_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| AuthError::Hash(err.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// What the store keeps of a session cookie: its SHA-256, so that a reader of the store
/// cannot log in with what they read.
pub fn session_hash(cookie: &str) -> String {
    Sha256::digest(cookie.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tokens_are_stable_distinct_and_reserved() {
        let alice: Nick = "Alice".parse().unwrap();
        let shouting: Nick = "ALICE".parse().unwrap();
        assert_eq!(
            Identity::account(&alice).token,
            Identity::account(&shouting).token
        );
        assert_ne!(
            Identity::account(&alice).token,
            Identity::jwt("alice", alice.clone()).token
        );
        assert!(token_is_reserved(&Identity::account(&alice).token));
        assert!(token_is_reserved(&Identity::jwt("42", alice).token));
        let browser = UserToken::try_from("k3J9-browser-token_x".to_owned()).unwrap();
        assert!(!token_is_reserved(&browser));
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let phc = hash_blocking("correct horse".into()).unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(!phc.contains("correct horse"));
        assert!(verify_blocking("correct horse", &phc));
        assert!(!verify_blocking("battery staple", &phc));
        assert!(!verify_blocking("correct horse", "not a phc string"));
    }
}
