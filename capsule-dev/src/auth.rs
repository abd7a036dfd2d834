//! Bearer tokens: HS256 JWTs scoped to one tenant, minted and verified with one secret.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims of a token: the tenant it is scoped to and its lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The tenant the token is scoped to.
    pub sub: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: u64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: u64,
}

/// Why a request's token was refused; each answers `401`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// The header is not `Bearer <jwt>`, or the JWT cannot be decoded.
    Malformed(String),
    /// The JWT was signed with another secret or algorithm.
    BadSignature,
    /// The JWT's `exp` has passed.
    Expired,
}

impl AuthError {
    /// A short machine-readable code: `missing`, `malformed`, `bad_signature` or `expired`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing",
            AuthError::Malformed(_) => "malformed",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::Missing => {
                f.write_str("missing token: send `Authorization: Bearer <token>`")
            }
            AuthError::Malformed(detail) => write!(
                f,
                "malformed token ({detail}): send `Authorization: Bearer <jwt>` with a token \
                 from `capsule-dev token`"
            ),
            AuthError::BadSignature => f.write_str(
                "token signature does not match this server's secret: mint a new token with \
                 the same secret the server runs with",
            ),
            AuthError::Expired => f.write_str("token expired: mint a new one"),
        }
    }
}

impl std::error::Error for AuthError {}

/// The HS256 secret of a server, which mints and verifies its tokens. Its `Debug` output
/// never shows the secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl TokenKeys {
    /// Keys from a configured secret.
    #[must_use]
    pub fn from_secret(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Keys from a fresh random secret of 32 bytes, for a server whose tokens need not
    /// outlive it.
    #[must_use]
    pub fn generate() -> TokenKeys {
        TokenKeys::from_secret(&random_secret())
    }

    /// Mints a token for `tenant` that expires after `ttl`.
    #[must_use]
    pub fn mint(&self, tenant: &str, ttl: Duration) -> String {
        self.mint_expiring_at(tenant, SystemTime::now() + ttl)
    }

    /// Mints a token for `tenant` that expires at `expires_at`, which may be in the past
    /// (to test how a client handles an expired token).
    ///
    /// # Panics
    ///
    /// Never in practice: signing plain claims with HS256 has no failure mode.
    #[must_use]
    pub fn mint_expiring_at(&self, tenant: &str, expires_at: SystemTime) -> String {
        let claims = Claims {
            sub: tenant.to_owned(),
            iat: unix_seconds(SystemTime::now()),
            exp: unix_seconds(expires_at),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Checks the value of an `Authorization` header.
    ///
    /// # Errors
    ///
    /// An [`AuthError`] saying whether the token is missing, malformed, wrongly signed or
    /// expired.
    pub fn verify(&self, authorization: Option<&str>) -> Result<Claims, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| AuthError::Malformed("not of the form `Bearer <token>`".into()))?;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::BadSignature
                }
                _ => AuthError::Malformed(err.to_string()),
            })
    }
}

fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// 32 bytes from the operating system's random source, by way of two v4 UUIDs (whose
/// generator reads that source), as hex so it can also be printed and pasted.
pub(crate) fn random_secret() -> Vec<u8> {
    let mut secret = uuid::Uuid::new_v4().simple().to_string();
    secret.push_str(&uuid::Uuid::new_v4().simple().to_string());
    secret.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_each_failure_apart() {
        let keys = TokenKeys::generate();
        let good = keys.mint("acme", Duration::from_secs(60));
        assert_eq!(
            keys.verify(Some(&format!("Bearer {good}"))).unwrap().sub,
            "acme"
        );
        assert_eq!(keys.verify(None), Err(AuthError::Missing));
        assert_eq!(keys.verify(Some(&good)).unwrap_err().code(), "malformed");
        assert_eq!(
            keys.verify(Some("Bearer abc")).unwrap_err().code(),
            "malformed"
        );

        let other = TokenKeys::generate().mint("acme", Duration::from_secs(60));
        assert_eq!(
            keys.verify(Some(&format!("Bearer {other}"))),
            Err(AuthError::BadSignature)
        );

        let old = keys.mint_expiring_at("acme", SystemTime::now() - Duration::from_secs(600));
        assert_eq!(
            keys.verify(Some(&format!("Bearer {old}"))),
            Err(AuthError::Expired)
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let keys = TokenKeys::from_secret(b"hunter2-hunter2");
        assert!(!format!("{keys:?}").contains("hunter2"));
    }
}
