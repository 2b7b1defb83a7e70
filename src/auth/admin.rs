//! The admin bearer token (`ADMIN_TOKEN`).

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The configured admin token, kept only as a digest: comparing fixed-length digests in constant
/// time reveals neither the token's bytes nor its length.
#[derive(Clone)]
pub struct AdminToken {
    digest: [u8; 32],
}

impl AdminToken {
    pub(crate) fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// A random token (256 bits, hex), for a server started without `ADMIN_TOKEN`.
    pub(crate) fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        (Self::new(&token), token)
    }

    /// Whether `presented` is the admin token (the server compares digests it already has).
    #[cfg(test)]
    fn accepts(&self, presented: &str) -> bool {
        self.matches_digest(&Sha256::digest(presented.as_bytes()).into())
    }

    /// Whether a token with this SHA-256 digest is the admin token.
    pub(super) fn matches_digest(&self, digest: &[u8; 32]) -> bool {
        self.digest.ct_eq(digest).into()
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
}
