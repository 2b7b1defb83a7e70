//! The admin bearer token that mutations require.

use async_graphql::{Context, ErrorExtensions, Guard};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::errors::ApiError;
use super::reads::mark_not_reusable;

/// The configured admin token, kept only as a digest: comparing fixed-length digests in constant
/// time reveals neither the token's bytes nor its length.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// A random token (256 bits, hex), for a server started without `ADMIN_TOKEN`.
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        (Self::new(&token), token)
    }

    pub fn accepts(&self, presented: &str) -> bool {
        self.digest_if_valid(presented).is_some()
    }

    /// The token's SHA-256 digest when `presented` is the admin token: a name for the credential
    /// (the rate limits key its bucket by it) that is not the secret itself.
    pub fn digest_if_valid(&self, presented: &str) -> Option<[u8; 32]> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.digest.ct_eq(&digest)).then_some(digest)
    }
}

/// The bearer token a request carried, if any; put into the request's data by the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct PresentedToken(pub Option<String>);

impl PresentedToken {
    /// Reads `Authorization: Bearer <token>` (scheme case-insensitive, per RFC 7235).
    pub fn from_authorization(header: Option<&str>) -> Self {
        let token = header.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
        Self(token.filter(|token| !token.is_empty()))
    }
}

/// Lets a field run only for a request that presented the admin token.
pub(super) struct AdminGuard;

impl Guard for AdminGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        // The answer now depends on the token: never give it to anyone else.
        mark_not_reusable(ctx);
        let expected = ctx
            .data::<AdminToken>()
            .map_err(|_| ApiError::Internal.extend())?;
        let presented = ctx
            .data_opt::<PresentedToken>()
            .and_then(|t| t.0.as_deref());
        match presented {
            Some(token) if expected.accepts(token) => Ok(()),
            _ => Err(ApiError::Unauthenticated.extend()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_exact_token() {
        let token = AdminToken::new("s3cret");
        assert!(token.accepts("s3cret"));
        assert!(!token.accepts("s3cre"));
        assert!(!token.accepts("s3cret "));
        assert!(!token.accepts(""));
    }

    #[test]
    fn generated_tokens_are_long_and_distinct() {
        let (admin, first) = AdminToken::generate();
        let (_, second) = AdminToken::generate();
        assert_eq!(first.len(), 64);
        assert_ne!(first, second);
        assert!(admin.accepts(&first));
    }

    #[test]
    fn parses_the_bearer_scheme() {
        let token = |header| PresentedToken::from_authorization(header).0;
        assert_eq!(token(Some("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(token(Some("bearer  abc ")).as_deref(), Some("abc"));
        assert_eq!(token(Some("Basic abc")), None);
        assert_eq!(token(Some("Bearer")), None);
        assert_eq!(token(Some("Bearer ")), None);
        assert_eq!(token(None), None);
    }
}
