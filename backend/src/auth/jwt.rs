//! JWT mode: the embedding site signs a token for its user; the chat verifies it.
//!
//! One algorithm, fixed by the key the server is given: HS256 with `--jwt-secret-file`, or
//! RS256 / EdDSA with `--jwt-public-key-file` (a PEM public key; its type picks the
//! algorithm). A token signed with any other algorithm is refused, `none` included, so a
//! public RSA key can never be used as an HMAC secret (the HS/RS confusion). `sub` (the user),
//! `name` (the nickname shown) and `exp` are required; `exp`, and `nbf` when present, are
//! enforced to the second (no leeway: keep the clocks in sync). With `--jwt-issuer` and
//! `--jwt-audience`, `iss` and `aud` are required too and must name them: a site whose key
//! signs tokens for several services can keep theirs out of the chat.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;
use shared::Nick;

use super::Identity;
use crate::Config;

/// Verifies tokens with the server's one key and algorithm.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Who it names, as the hub will know them.
    pub identity: Identity,
    /// Its `sub`: a fresh token must name the same one.
    pub sub: String,
    /// When it expires (`exp`).
    pub expires_at: SystemTime,
}

impl Verified {
    /// How long until it expires (zero if it has).
    pub fn remaining(&self) -> Duration {
        self.expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    name: Option<String>,
    exp: Option<u64>,
}

impl Verifier {
    /// The verifier for `--jwt-secret-file` or `--jwt-public-key-file` (exactly one is set;
    /// `Config::validate` checked).
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
        };
        let (key, algorithm) = match (&config.jwt_secret_file, &config.jwt_public_key_file) {
            (Some(path), None) => {
                let secret = read(path)?;
                // Trailing newlines are an editor's, not part of the secret.
                let secret = secret.trim_ascii_end();
                if secret.len() < 32 {
                    return Err(format!(
                        "{}: an HS256 secret needs at least 32 bytes",
                        path.display()
                    ));
                }
                (DecodingKey::from_secret(secret), Algorithm::HS256)
            }
            (None, Some(path)) => {
                let pem = read(path)?;
                if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                    (key, Algorithm::RS256)
                } else if let Ok(key) = DecodingKey::from_ed_pem(&pem) {
                    (key, Algorithm::EdDSA)
                } else {
                    return Err(format!(
                        "{}: not a PEM RSA or Ed25519 public key",
                        path.display()
                    ));
                }
            }
            _ => {
                return Err(
                    "--auth jwt needs exactly one of --jwt-secret-file and --jwt-public-key-file"
                        .into(),
                );
            }
        };
        Ok(Self::new(
            key,
            algorithm,
            config.jwt_issuer.as_deref(),
            config.jwt_audience.as_deref(),
        ))
    }

    /// A verifier for `algorithm` with `key`, requiring `issuer` and `audience` when given.
    pub fn new(
        key: DecodingKey,
        algorithm: Algorithm,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = 0;
        validation.validate_nbf = true;
        // `sub`, `name` and `exp` are checked below with our own words; the library's check
        // would only say "missing".
        validation.required_spec_claims.clear();
        // The library compares `iss` and `aud` only when the token has them: required here,
        // or a token without them would pass.
        if let Some(issuer) = issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        Self { key, validation }
    }

    /// Verifies `token`: signature, algorithm, claims, expiry. The error is for the client.
    pub fn verify(&self, token: &str) -> Result<Verified, String> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|err| {
                match err.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
                    ErrorKind::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
                    ErrorKind::InvalidIssuer => {
                        "the token's issuer (`iss`) is not the one this server takes".to_owned()
                    }
                    ErrorKind::InvalidAudience => {
                        "the token's audience (`aud`) is not this server".to_owned()
                    }
                    ErrorKind::MissingRequiredClaim(claim) => {
                        format!("the token has no `{claim}` claim")
                    }
                    ErrorKind::InvalidSignature => "the token's signature is wrong".to_owned(),
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => format!(
                        "the token must be signed with {:?}",
                        self.validation.algorithms[0]
                    ),
                    _ => format!("the token is not valid: {err}"),
                }
            })?;
        let claims = data.claims;
        let missing = |claim: &str| format!("the token has no `{claim}` claim");
        let sub = claims
            .sub
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("sub"))?;
        let name = claims.name.ok_or_else(|| missing("name"))?;
        let exp = claims.exp.ok_or_else(|| missing("exp"))?;
        // The site's users are held to the rules of chosen names too (`names`): what they
        // are shown as holds no invisible formatting character, and is kept in NFC.
        let name = name
            .parse::<Nick>()
            .map_err(crate::names::RefusedName::from)
            .and_then(|name| crate::names::chosen("nickname", &name))
            .map_err(|err| format!("the token's `name` is not a valid nickname: {err}"))?;
        let expires_at = UNIX_EPOCH + Duration::from_secs(exp);
        if expires_at <= SystemTime::now() {
            return Err("the token has expired".into());
        }
        Ok(Verified {
            identity: Identity::jwt(&sub, name),
            sub,
            expires_at,
        })
    }
}
