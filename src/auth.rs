//! Credentials -> who is asking: the admin (the `ADMIN_TOKEN`, or a JWT with the admin role), an
//! operator (a JWT naming it), or nobody. Knows nothing of GraphQL or HTTP: the HTTP layer hands
//! it the bearer token, and passes the [`Caller`] on.
//!
//! JWTs: HS256 with `JWT_SECRET`, RS256/ES256 with the keys of a JWKS (`JWT_JWKS_URL`,
//! `JWT_JWKS_FILE`). Verified tokens are kept in a bounded cache, keyed by the token's digest,
//! until they expire: a dashboard that sends the same token on every read pays for its signature
//! once.
//!
//! What admits a caller ([`Authenticator::admit`]) says until when: a live subscription ends when
//! its credential does ([`Authenticator::lapse`]): at the moment it would be refused (`exp` plus
//! the 30 s leeway), or when its key leaves the JWKS.

mod admin;
mod jwks;
mod jwt;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

pub use admin::AdminToken;
pub use jwks::JwksError;
pub use jwt::{JwtSettings, LEEWAY_SECONDS, MintError, Role, mint_hs256};

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

/// Who was admitted, and by what: until when the credential holds, and the JWKS key that signed
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admission {
    pub caller: Caller,
    /// When the credential stops being accepted; `None`: never (the admin token, no credential).
    pub expires: Option<Instant>,
    /// The `kid` of the JWKS key that signed it (none for the admin token and HS256).
    pub kid: Option<Arc<str>>,
}

/// Resolves when the credential of an [`Admission`] stops holding (see
/// [`Authenticator::lapse`]). Boxed: a connection that has none holds a null pointer.
pub struct Lapse(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for Lapse {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for Lapse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lapse")
    }
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

/// A token verified before (an entry of the cache of verified tokens).
#[derive(Clone)]
struct Verified {
    caller: Caller,
    until: Instant,
    kid: Option<Arc<str>>,
}

impl Verified {
    fn admission(self) -> Admission {
        Admission {
            caller: self.caller,
            expires: Some(self.until),
            kid: self.kid,
        }
    }
}

/// Decides who a bearer token belongs to. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

struct Inner {
    admin_token: AdminToken,
    jwt: Option<JwtVerifier>,
    reads_need_credential: bool,
    /// Tokens already verified: digest -> who, until when, signed by which JWKS key.
    verified: quick_cache::sync::Cache<[u8; 32], Verified>,
}

impl Authenticator {
    /// Loads the JWKS (a file must load; a URL that does not answer yet is retried when a token
    /// needs it).
    pub(crate) async fn new(settings: AuthSettings) -> Result<Self, JwksError> {
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
    pub(crate) async fn authenticate(&self, token: Option<&str>) -> Result<Caller, Refused> {
        self.admit(token).await.map(|admission| admission.caller)
    }

    /// As [`Self::authenticate`], with until when the credential holds: for what outlives the
    /// moment of admission (a live subscription).
    pub(crate) async fn admit(&self, token: Option<&str>) -> Result<Admission, Refused> {
        let Some(token) = token else {
            return Ok(Admission::default());
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.inner.admin_token.matches_digest(&digest) {
            return Ok(Admission {
                caller: Caller::Admin,
                ..Admission::default()
            });
        }
        let now = Instant::now();
        if let Some(known) = self.inner.verified.get(&digest) {
            if known.until > now && self.key_published(known.kid.as_deref()) {
                return Ok(known.admission());
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
        let known = Verified {
            caller: verified.caller,
            until: now + verified.valid_for,
            kid: verified.kid,
        };
        if verified.valid_for > Duration::ZERO {
            self.inner.verified.insert(digest, known.clone());
        }
        Ok(known.admission())
    }

    /// Resolves when the credential of `admission` stops holding: at `expires`, or once its key
    /// is gone from the JWKS (seen when the JWKS is read again). `None` when nothing ends it.
    /// Known when admitted, so what it guards pays nothing per event.
    pub(crate) fn lapse(&self, admission: &Admission) -> Option<Lapse> {
        let expiry = admission
            .expires
            .map(|at| tokio::time::sleep_until(tokio::time::Instant::from_std(at)));
        let removal = admission.kid.clone().and_then(|kid| {
            let jwks = self.inner.jwt.as_ref()?.jwks()?;
            Some(jwks.removal(kid))
        });
        let lapse: Pin<Box<dyn Future<Output = ()> + Send>> = match (expiry, removal) {
            (None, None) => return None,
            (Some(expiry), None) => Box::pin(expiry),
            (None, Some(removal)) => Box::pin(removal),
            (Some(expiry), Some(removal)) => Box::pin(async move {
                tokio::select! {
                    () = expiry => {}
                    () = removal => {}
                }
            }),
        };
        Some(Lapse(lapse))
    }

    /// Whether the JWKS key named `kid` (if any) is still published: a token verified with a key
    /// since removed is verified again (and refused).
    fn key_published(&self, kid: Option<&str>) -> bool {
        let Some(kid) = kid else {
            return true;
        };
        self.inner
            .jwt
            .as_ref()
            .and_then(JwtVerifier::jwks)
            .is_some_and(|jwks| jwks.has(kid))
    }

    /// Who `token` belongs to when that is known without checking a signature now: the admin
    /// token, or a JWT verified before and not yet expired. (The rate limits key a request by it
    /// before anything runs; for a token not known yet they call [`Self::authenticate`].)
    pub(crate) fn known_caller(&self, token: &str) -> Option<Caller> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.inner.admin_token.matches_digest(&digest) {
            return Some(Caller::Admin);
        }
        let known = self.inner.verified.get(&digest)?;
        (known.until > Instant::now() && self.key_published(known.kid.as_deref()))
            .then_some(known.caller)
    }

    /// Whether `caller` may read (`READ_ACCESS`).
    pub(crate) fn may_read(&self, caller: Caller) -> bool {
        !self.inner.reads_need_credential || caller != Caller::Anonymous
    }
}
