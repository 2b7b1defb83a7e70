//! Credentials -> who is asking: the admin (the `ADMIN_TOKEN`, or a JWT with the admin role), an
//! operator (a JWT naming it), or nobody. Knows nothing of GraphQL or HTTP: the HTTP layer hands
//! it the bearer token, and passes the [`Caller`] on.
//!
//! JWTs: HS256 with `JWT_SECRET`, RS256/ES256 with the keys of a JWKS (`JWT_JWKS_URL`,
//! `JWT_JWKS_FILE`). Verified tokens are kept in a bounded cache, keyed by the token's digest,
//! until they expire: a dashboard that sends the same token on every read pays for its signature
//! once.

mod admin;
mod jwks;
mod jwt;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use admin::AdminToken;
pub use jwks::JwksError;
pub use jwt::{JwtSettings, MintError, Role, mint_hs256};

use jwks::Jwks;
use jwt::JwtVerifier;

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Caller {
    /// No credential was sent.
    #[default]
    Anonymous,
    /// Every operator's plans.
    Admin,
    /// Its own plans only (`userId` = the id).
    Operator(i32),
}

/// A credential was sent and is not valid. Why goes to the log (at debug level), never to the
/// client: every refusal looks the same from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid credential ({0})")]
pub struct Refused(pub(crate) &'static str);

/// Settings of an [`Authenticator`] (from the configuration).
pub struct AuthSettings {
    pub admin_token: AdminToken,
    /// `None`: only the admin token is accepted.
    pub jwt: Option<JwtSettings>,
    /// `READ_ACCESS=authenticated`: queries need a valid credential too.
    pub reads_need_credential: bool,
}

/// Bound on verified tokens kept (each entry is a digest and a few words).
const VERIFIED_MAX_ENTRIES: usize = 100_000;

/// Decides who a bearer token belongs to. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    admin_token: AdminToken,
    jwt: Option<JwtVerifier>,
    reads_need_credential: bool,
    /// Tokens already verified: digest -> who, until when.
    verified: quick_cache::sync::Cache<[u8; 32], (Caller, Instant)>,
}

impl Authenticator {
    /// Loads the JWKS (a file must load; a URL that does not answer yet is retried when a token
    /// needs it).
    pub async fn new(settings: AuthSettings) -> Result<Self, JwksError> {
        let jwt = match settings.jwt {
            Some(jwt) => {
                let jwks = Jwks::load(jwt.jwks_url.clone(), jwt.jwks_file.clone()).await?;
                Some(JwtVerifier::new(jwt, jwks))
            }
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                admin_token: settings.admin_token,
                jwt,
                reads_need_credential: settings.reads_need_credential,
                verified: quick_cache::sync::Cache::new(VERIFIED_MAX_ENTRIES),
            }),
        })
    }

    /// Who `token` (a bearer token, if one was sent) belongs to. A token that was sent but is not
    /// valid is refused, never taken for no token.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Caller, Refused> {
        let Some(token) = token else {
            return Ok(Caller::Anonymous);
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.inner.admin_token.matches_digest(&digest) {
            return Ok(Caller::Admin);
        }
        let now = Instant::now();
        if let Some((caller, until)) = self.inner.verified.get(&digest) {
            if until > now {
                return Ok(caller);
            }
            self.inner.verified.remove(&digest);
        }
        let Some(jwt) = &self.inner.jwt else {
            return Err(Refused(
                "not the admin token, and no JWT keys are configured",
            ));
        };
        let verified = jwt.verify(token).await.inspect_err(|refused| {
            tracing::debug!(reason = refused.0, "credential refused");
        })?;
        if verified.valid_for > Duration::ZERO {
            self.inner
                .verified
                .insert(digest, (verified.caller, now + verified.valid_for));
        }
        Ok(verified.caller)
    }

    /// Whether `caller` may read (`READ_ACCESS`).
    pub fn may_read(&self, caller: Caller) -> bool {
        !self.inner.reads_need_credential || caller != Caller::Anonymous
    }
}
