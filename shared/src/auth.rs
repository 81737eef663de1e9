//! The account API (`--auth accounts`) and what the app needs to know about the server's
//! authentication: JSON bodies of the `/api/...` routes in [`crate::paths`].
//!
//! A successful register or login sets the session cookie (HttpOnly, so the app never sees
//! it); the chat WebSocket is then authenticated from that cookie.

use serde::{Deserialize, Serialize};

use crate::ids::Nick;

/// How the server knows who is speaking (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// Anyone takes any free nickname (demos, trusted networks).
    Open,
    /// Built-in accounts: register and log in with a nickname and a password.
    Accounts,
    /// The embedding site's users: the page hands the app a signed token (JWT).
    Jwt,
}

/// `GET /api/session`: the server's mode and who this browser is logged in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The server's mode.
    pub mode: AuthMode,
    /// The account this browser's session cookie belongs to (accounts mode), if any.
    pub user: Option<Nick>,
}

/// `POST /api/register` and `POST /api/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The account's name, which is also its nickname.
    pub name: Nick,
    /// The password, in clear over the (TLS) connection; never stored or logged.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    /// Never prints the password, so a stray `{:?}` cannot leak it into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `POST /api/password`: change the logged-in account's password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordChange {
    /// The current password.
    pub old: String,
    /// The new one (same rules as at registration).
    pub new: String,
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange").finish_non_exhaustive()
    }
}

/// The body of every refused `/api/...` request: what went wrong, for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The reason.
    pub error: String,
}

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in bytes (hashing cost must not grow with input a client picks).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password is refused at registration or change, if it is.
pub fn password_problem(password: &str) -> Option<String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some(format!(
            "a password needs at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Some(format!(
            "a password may have at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_holds_a_password() {
        let credentials = Credentials {
            name: "alice".parse().unwrap(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
        let change = PasswordChange {
            old: "hunter2hunter2".into(),
            new: "correct horse".into(),
        };
        let printed = format!("{change:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("horse"));
    }

    #[test]
    fn password_rules() {
        assert!(password_problem("short").is_some());
        assert!(password_problem("long enough").is_none());
        assert!(password_problem(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_some());
    }
}
