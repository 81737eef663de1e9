//! The server's VAPID key pair (RFC 8292): a P-256 key made on first use, kept in the data
//! directory (`vapid.p8`, PKCS#8, readable by the server's user only) on one node, or in
//! Redis in cluster mode (set once by whichever node is first, read by all), so that every
//! node signs as the same server and a browser's subscription outlives restarts.
//!
//! The public half is what the app gives `PushManager.subscribe`; a push service then accepts
//! for that subscription only requests signed by the private half.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use tokio::sync::OnceCell;

/// The key file in `--data-dir` (one node).
pub const KEY_FILE: &str = "vapid.p8";
/// The Redis key (cluster mode): the PKCS#8 document, base64.
const REDIS_KEY: &str = "chat:push:vapid";
/// How long a signature is good for (RFC 8292 allows at most 24 hours).
const SIGNATURE_LIFETIME_SECS: u64 = 12 * 3600;

/// The key pair could not be made, read or kept.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("the VAPID key file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Redis did not answer.
    #[error("the VAPID key in Redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// What was kept is not a P-256 key (or the system's randomness failed).
    #[error("the VAPID key: {0}")]
    Key(String),
}

/// The server's VAPID key pair, ready to sign.
pub struct Vapid {
    /// The uncompressed public point, base64url (for the app and the `k=` parameter).
    public: String,
    signing: EncodingKey,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Vapid {
    /// The key pair of this one-node server: the file in `dir`, made now if there is none.
    pub fn in_dir(dir: &Path) -> Result<Self, KeyError> {
        let path = dir.join(KEY_FILE);
        let file_error = |reason: String| KeyError::File {
            path: path.clone(),
            reason,
        };
        match std::fs::read(&path) {
            Ok(pkcs8) => return Self::from_pkcs8(&pkcs8),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(file_error(err.to_string())),
        }
        let pkcs8 = generate()?;
        // Written whole under another name, then linked in place: a second process
        // starting at the same moment finds the first one's file, never half of one.
        let temporary = dir.join(format!("{KEY_FILE}.{}", std::process::id()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new();
            file.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut file, 0o600);
            let mut file = file.open(&temporary)?;
            file.write_all(&pkcs8)?;
            file.sync_all()
        })();
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(file_error(err.to_string()));
        }
        let linked = std::fs::hard_link(&temporary, &path);
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "made the server's VAPID key pair");
                Self::from_pkcs8(&pkcs8)
            }
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let pkcs8 = std::fs::read(&path).map_err(|e| file_error(e.to_string()))?;
                Self::from_pkcs8(&pkcs8)
            }
            Err(err) => Err(file_error(err.to_string())),
        }
    }

    /// The cluster's key pair: the one in Redis, put there now by this node if there is
    /// none yet (`SET NX`: the first node's wins).
    pub async fn in_redis(conn: &mut crate::redis_set::Conn) -> Result<Self, KeyError> {
        let mine = URL_SAFE_NO_PAD.encode(generate()?);
        let () = redis::cmd("SET")
            .arg(REDIS_KEY)
            .arg(&mine)
            .arg("NX")
            .query_async::<Option<String>>(conn)
            .await
            .map(drop)?;
        let kept: String = redis::cmd("GET").arg(REDIS_KEY).query_async(conn).await?;
        let pkcs8 = URL_SAFE_NO_PAD
            .decode(kept.trim())
            .map_err(|e| KeyError::Key(format!("not base64 in Redis: {e}")))?;
        Self::from_pkcs8(&pkcs8)
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &SystemRandom::new(),
        )
        .map_err(|e| KeyError::Key(format!("not a P-256 PKCS#8 key: {e}")))?;
        Ok(Self {
            public: URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            signing: EncodingKey::from_ec_der(pkcs8),
        })
    }

    /// The public key, base64url (65 bytes: an uncompressed P-256 point).
    pub fn public(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `audience` (the push service's origin,
    /// `scheme://host[:port]`): `vapid t=JWT, k=PUBLIC` (RFC 8292, section 3), with `contact`
    /// (a `mailto:` or `https:` URL) as the JWT's `sub`.
    pub fn authorization(&self, audience: &str, contact: &str) -> Result<String, KeyError> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            exp: u64,
            sub: &'a str,
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            aud: audience,
            exp: now + SIGNATURE_LIFETIME_SECS,
            sub: contact,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.signing)
            .map_err(|e| KeyError::Key(format!("cannot sign: {e}")))?;
        Ok(format!("vapid t={token}, k={}", self.public))
    }
}

/// Where the server's VAPID key pair comes from; it is read (or made) on first use.
pub struct Keys {
    vapid: OnceCell<Vapid>,
    dir: std::path::PathBuf,
    redis: Option<crate::redis_set::Conn>,
}

impl Keys {
    /// The key pair of the server with data directory `dir`, or of the cluster on `redis`.
    pub fn new(dir: PathBuf, redis: Option<crate::redis_set::Conn>) -> Self {
        Self {
            vapid: OnceCell::new(),
            dir,
            redis,
        }
    }

    /// The key pair, read or made now if this is the first use.
    pub async fn get(&self) -> Result<&Vapid, KeyError> {
        self.vapid
            .get_or_try_init(|| async {
                match &self.redis {
                    Some(conn) => Vapid::in_redis(&mut conn.clone()).await,
                    None => {
                        let dir = self.dir.clone();
                        tokio::task::spawn_blocking(move || Vapid::in_dir(&dir))
                            .await
                            .map_err(|e| KeyError::Key(e.to_string()))?
                    }
                }
            })
            .await
    }
}

/// A subscription's keys as the encryption takes them: the browser's P-256 public key
/// (65 bytes, uncompressed) and its 16-byte authentication secret, both base64url.
pub fn browser_keys(
    p256dh: &str,
    auth: &str,
) -> Result<(web_push_native::p256::PublicKey, web_push_native::Auth), String> {
    let decode = |what: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|e| format!("{what} is not base64url: {e}"))
    };
    let public = decode("p256dh", p256dh)?;
    if public.len() != 65 {
        return Err("p256dh must be an uncompressed P-256 point (65 bytes)".to_owned());
    }
    let public = web_push_native::p256::PublicKey::from_sec1_bytes(&public)
        .map_err(|_| "p256dh is not a P-256 point".to_owned())?;
    let auth = decode("auth", auth)?;
    if auth.len() != 16 {
        return Err("auth must be 16 bytes".to_owned());
    }
    Ok((public, web_push_native::Auth::clone_from_slice(&auth)))
}

/// A new P-256 key pair as a PKCS#8 document.
fn generate() -> Result<Vec<u8>, KeyError> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|e| KeyError::Key(format!("cannot make a key pair: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_key_made_on_first_start_is_the_one_read_on_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let first = Vapid::in_dir(dir.path()).unwrap();
        let again = Vapid::in_dir(dir.path()).unwrap();
        assert_eq!(first.public(), again.public());
        assert_eq!(URL_SAFE_NO_PAD.decode(first.public()).unwrap().len(), 65);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "only the server's user reads the key");
        }
    }

    #[test]
    fn a_signature_verifies_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let vapid = Vapid::in_dir(dir.path()).unwrap();
        let header = vapid
            .authorization("https://push.example", "mailto:ops@example.org")
            .unwrap();
        let (token, key) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(key, vapid.public());
        let point = URL_SAFE_NO_PAD.decode(key).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..65]),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://push.example"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation).unwrap();
        assert_eq!(claims.claims["sub"], "mailto:ops@example.org");
    }
}
