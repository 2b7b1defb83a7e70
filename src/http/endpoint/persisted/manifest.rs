//! The trusted documents manifest (`TRUSTED_DOCUMENTS_FILE`): read and checked once, at start.
//! Its keys are bare hex or `sha256:<hex>` (GraphQL Code Generator's client preset writes the
//! latter), and each must be the sha256 of its document.

use std::collections::HashMap;
use std::sync::Arc;

use super::{is_sha256_hex, sha256_hex};

/// `TRUSTED_DOCUMENTS`: what the manifest decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedMode {
    /// No manifest: `documentId` is unknown, anything runs.
    Off,
    /// Manifest documents may be named by `documentId`; anything else runs too.
    Allow,
    /// Only manifest documents run.
    Require,
}

/// A manifest that failed the start-up check.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the trusted documents manifest is not a JSON object of strings: {0}")]
    NotAnObject(serde_json::Error),
    #[error(
        "trusted documents manifest: {key:?} is not a sha256 in hex (64 hex digits, optionally after `sha256:`)"
    )]
    NotAHash { key: String },
    #[error(
        "trusted documents manifest: {key:?} is not the sha256 of its document (that is {actual})"
    )]
    WrongHash { key: String, actual: String },
    #[error("TRUSTED_DOCUMENTS=require needs TRUSTED_DOCUMENTS_FILE")]
    RequireWithoutManifest,
}

pub(super) fn parse_manifest(text: &str) -> Result<HashMap<String, Arc<str>>, ManifestError> {
    let entries: HashMap<String, String> =
        serde_json::from_str(text).map_err(ManifestError::NotAnObject)?;
    entries
        .into_iter()
        .map(|(key, document)| {
            // Bare hex, or `sha256:<hex>` as GraphQL Code Generator's client preset writes it.
            let hash = key.strip_prefix("sha256:").unwrap_or(&key);
            if !is_sha256_hex(hash) {
                return Err(ManifestError::NotAHash { key });
            }
            let actual = sha256_hex(&document);
            if !hash.eq_ignore_ascii_case(&actual) {
                return Err(ManifestError::WrongHash { key, actual });
            }
            Ok((actual, Arc::from(document)))
        })
        .collect()
}
