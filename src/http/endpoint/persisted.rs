//! Persisted operations: a request may name its document by hash instead of sending it.
//!
//! - **APQ** (Apollo's automatic persisted queries): `extensions.persistedQuery {version: 1,
//!   sha256Hash}`. A hash alone is looked up; unknown, it gets `PERSISTED_QUERY_NOT_FOUND` (and
//!   the client sends it again with its query). A query with its hash is checked (a mismatch is
//!   `BAD_REQUEST`: nothing runs, nothing is kept), kept in a bounded store, and run.
//! - **Trusted documents**: `documentId: "sha256:<hex>"` names a document of the manifest
//!   (`TRUSTED_DOCUMENTS_FILE`, checked at start). Under `TRUSTED_DOCUMENTS=require` only
//!   manifest documents run, however they are named or sent; anything else gets
//!   `PERSISTED_QUERY_NOT_IN_LIST`. The manifest's keys are bare hex or `sha256:<hex>` (GraphQL
//!   Code Generator's client preset writes the latter).
//!
//! Resolution turns the request's parameters into an [`Operation`] with its document text, so
//! everything after it (response cache, GET's mutation check, execution) sees an ordinary request.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

mod manifest;

use manifest::parse_manifest;
pub use manifest::{ManifestError, TrustedMode};

/// A response-cache-friendly bound on the APQ store: a document over 4 KiB counts once per
/// started 4 KiB, so memory stays under about `max_entries` x 4 KiB.
const BYTES_PER_ENTRY: usize = 4 * 1024;

#[derive(Clone, Copy)]
struct Weigh;

impl quick_cache::Weighter<String, Arc<str>> for Weigh {
    fn weight(&self, key: &String, value: &Arc<str>) -> u64 {
        (key.len() + value.len()).div_ceil(BYTES_PER_ENTRY).max(1) as u64
    }
}

/// The APQ store and the trusted-documents manifest.
pub struct PersistedOperations {
    mode: TrustedMode,
    /// Bare lowercase hex sha256 -> document.
    manifest: HashMap<String, Arc<str>>,
    /// APQ registrations: bare lowercase hex sha256 -> document. `None` under `require` (nothing
    /// may be registered) or when `max_entries` is 0.
    apq: Option<quick_cache::sync::Cache<String, Arc<str>, Weigh>>,
}

impl PersistedOperations {
    /// `manifest` is the text of `TRUSTED_DOCUMENTS_FILE`; every key is checked against its
    /// document. `mode` defaults to `allow` with a manifest and `off` without.
    pub fn new(
        manifest: Option<&str>,
        mode: Option<TrustedMode>,
        apq_max_entries: u64,
    ) -> Result<Self, ManifestError> {
        let manifest = match manifest {
            Some(text) => parse_manifest(text)?,
            None => HashMap::new(),
        };
        let has_manifest = !manifest.is_empty();
        let mode = match mode {
            Some(TrustedMode::Require) if !has_manifest => {
                return Err(ManifestError::RequireWithoutManifest);
            }
            Some(mode) => mode,
            None if has_manifest => TrustedMode::Allow,
            None => TrustedMode::Off,
        };
        let manifest = if mode == TrustedMode::Off {
            HashMap::new()
        } else {
            manifest
        };
        let apq = (mode != TrustedMode::Require && apq_max_entries > 0).then(|| {
            let items = usize::try_from(apq_max_entries).unwrap_or(usize::MAX);
            quick_cache::sync::Cache::with_weighter(items, apq_max_entries, Weigh)
        });
        Ok(Self {
            mode,
            manifest,
            apq,
        })
    }

    pub fn mode(&self) -> TrustedMode {
        self.mode
    }

    /// Keeps an APQ registration (the caller runs the operation next).
    pub(crate) fn register(&self, registration: Registration) {
        if let Some(apq) = &self.apq {
            apq.insert(registration.hash, registration.document);
        }
    }

    fn in_manifest(&self, hash: &str) -> Option<&Arc<str>> {
        self.manifest.get(hash)
    }
}

pub(crate) fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// The sha256 of `text` in lowercase hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(DIGITS[usize::from(byte >> 4)] as char);
        hex.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    hex
}

/// An APQ registration to keep once the request is known to run.
#[derive(Debug)]
pub(crate) struct Registration {
    hash: String,
    document: Arc<str>,
}

/// Why a request's document could not be resolved.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// Unknown hash or `documentId`: `PERSISTED_QUERY_NOT_FOUND`.
    NotFound,
    /// Outside the manifest under `require`: `PERSISTED_QUERY_NOT_IN_LIST`.
    NotInList,
    /// Malformed (`BAD_REQUEST`).
    BadRequest(String),
}

/// How the request named its document, if it did.
enum Named {
    Apq(String),
    DocumentId(String),
}

/// The request's document, from its `query`, its APQ extension or its `documentId`.
/// `extensions` loses its `persistedQuery` entry (resolved, it no longer changes the response).
pub(crate) fn resolve(
    persisted: &PersistedOperations,
    query: Option<String>,
    document_id: Option<String>,
    extensions: &mut Option<Map<String, Value>>,
) -> Result<(String, Option<Registration>), Refusal> {
    let apq = match extensions
        .as_mut()
        .and_then(|map| map.remove("persistedQuery"))
    {
        Some(value) => Some(apq_hash(&value)?),
        None => None,
    };
    let document_id = document_id.map(|id| document_id_hash(&id)).transpose()?;
    let named = match (apq, document_id) {
        (Some(apq), Some(id)) if apq != id => {
            return Err(Refusal::BadRequest(
                "`documentId` and `extensions.persistedQuery.sha256Hash` name different documents"
                    .to_owned(),
            ));
        }
        (Some(apq), _) => Some(Named::Apq(apq)),
        (None, Some(id)) => Some(Named::DocumentId(id)),
        (None, None) => None,
    };
    let require = persisted.mode == TrustedMode::Require;
    match (query, named) {
        (Some(query), None) => {
            if require && persisted.in_manifest(&sha256_hex(&query)).is_none() {
                return Err(Refusal::NotInList);
            }
            Ok((query, None))
        }
        (Some(query), Some(named)) => {
            let (Named::Apq(hash) | Named::DocumentId(hash)) = &named;
            if sha256_hex(&query) != *hash {
                return Err(Refusal::BadRequest(
                    "the sha256 of `query` is not the hash the request names".to_owned(),
                ));
            }
            if persisted.in_manifest(hash).is_some() {
                return Ok((query, None));
            }
            if require {
                return Err(Refusal::NotInList);
            }
            let registration = match named {
                Named::Apq(hash) => Some(Registration {
                    hash,
                    document: Arc::from(query.as_str()),
                }),
                Named::DocumentId(_) => None,
            };
            Ok((query, registration))
        }
        (None, Some(named)) => {
            let (Named::Apq(hash) | Named::DocumentId(hash)) = &named;
            if let Some(document) = persisted.in_manifest(hash) {
                return Ok((document.to_string(), None));
            }
            if require {
                return Err(Refusal::NotInList);
            }
            match (&named, &persisted.apq) {
                (Named::Apq(hash), Some(apq)) => apq
                    .get(hash.as_str())
                    .map(|document| (document.to_string(), None))
                    .ok_or(Refusal::NotFound),
                _ => Err(Refusal::NotFound),
            }
        }
        (None, None) => Err(Refusal::BadRequest(
            "a GraphQL request needs `query` (or `documentId`, or an APQ `persistedQuery` hash; \
             a browser's GET without them gets GraphiQL)"
                .to_owned(),
        )),
    }
}

/// `{"version": 1, "sha256Hash": "<hex>"}` (other fields, such as urql's `miss`, ignored).
fn apq_hash(value: &Value) -> Result<String, Refusal> {
    let bad = |message: &str| Refusal::BadRequest(format!("extensions.persistedQuery: {message}"));
    let object = value.as_object().ok_or_else(|| bad("must be an object"))?;
    if object.get("version").and_then(Value::as_u64) != Some(1) {
        return Err(bad("only version 1 is supported"));
    }
    let hash = object
        .get("sha256Hash")
        .and_then(Value::as_str)
        .filter(|hash| is_sha256_hex(hash))
        .ok_or_else(|| bad("sha256Hash must be a sha256 in hex"))?;
    Ok(hash.to_ascii_lowercase())
}

/// `sha256:<hex>`.
fn document_id_hash(id: &str) -> Result<String, Refusal> {
    id.strip_prefix("sha256:")
        .filter(|hash| is_sha256_hex(hash))
        .map(str::to_ascii_lowercase)
        .ok_or_else(|| {
            Refusal::BadRequest(format!(
                "documentId must be `sha256:` and a sha256 in hex, not {id:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLANS: &str = "{ plans { id } }";

    fn manifest() -> String {
        json!({ sha256_hex(PLANS): PLANS }).to_string()
    }

    fn apq(hash: &str) -> Option<Map<String, Value>> {
        json!({ "persistedQuery": { "version": 1, "sha256Hash": hash, "miss": true } })
            .as_object()
            .cloned()
    }

    #[test]
    fn the_manifest_is_checked() {
        assert!(PersistedOperations::new(Some(&manifest()), None, 10).is_ok());
        // As GraphQL Code Generator's client preset writes it.
        let prefixed = json!({ format!("sha256:{}", sha256_hex(PLANS)): PLANS }).to_string();
        let persisted = PersistedOperations::new(Some(&prefixed), None, 10).unwrap();
        assert!(persisted.in_manifest(&sha256_hex(PLANS)).is_some());
        let wrong = json!({ sha256_hex("{ x }"): PLANS }).to_string();
        assert!(matches!(
            PersistedOperations::new(Some(&wrong), None, 10),
            Err(ManifestError::WrongHash { .. })
        ));
        let not_hex = json!({ "abc": PLANS }).to_string();
        assert!(PersistedOperations::new(Some(&not_hex), None, 10).is_err());
        assert!(PersistedOperations::new(Some("[]"), None, 10).is_err());
        assert!(PersistedOperations::new(None, Some(TrustedMode::Require), 10).is_err());
        let defaulted = PersistedOperations::new(Some(&manifest()), None, 10).unwrap();
        assert_eq!(defaulted.mode(), TrustedMode::Allow);
        assert_eq!(
            PersistedOperations::new(None, None, 10).unwrap().mode(),
            TrustedMode::Off
        );
    }

    #[test]
    fn apq_registers_and_then_resolves_a_hash() {
        let persisted = PersistedOperations::new(None, None, 10).unwrap();
        let hash = sha256_hex(PLANS);
        let mut extensions = apq(&hash);
        assert!(matches!(
            resolve(&persisted, None, None, &mut extensions),
            Err(Refusal::NotFound)
        ));
        assert!(extensions.as_ref().unwrap().is_empty());
        let mut extensions = apq(&hash);
        let (query, registration) =
            resolve(&persisted, Some(PLANS.to_owned()), None, &mut extensions).unwrap();
        assert_eq!(query, PLANS);
        persisted.register(registration.unwrap());
        let (query, _) = resolve(&persisted, None, None, &mut apq(&hash)).unwrap();
        assert_eq!(query, PLANS);
        // A mismatch is refused.
        assert!(matches!(
            resolve(&persisted, Some("{ x }".to_owned()), None, &mut apq(&hash)),
            Err(Refusal::BadRequest(_))
        ));
    }

    #[test]
    fn the_apq_store_is_bounded() {
        let register = |persisted: &PersistedOperations, query: &str| {
            let (_, registration) = resolve(
                persisted,
                Some(query.to_owned()),
                None,
                &mut apq(&sha256_hex(query)),
            )
            .unwrap();
            persisted.register(registration.unwrap());
        };
        let kept = |persisted: &PersistedOperations, query: &str| {
            resolve(persisted, None, None, &mut apq(&sha256_hex(query))).is_ok()
        };
        // 0 keeps nothing: every hash-only request is answered NOT_FOUND.
        let none = PersistedOperations::new(None, None, 0).unwrap();
        register(&none, PLANS);
        assert!(!kept(&none, PLANS));
        // A bound of 100 holds about 100 of 1,000 documents.
        let bounded = PersistedOperations::new(None, None, 100).unwrap();
        let queries: Vec<String> = (0..1_000)
            .map(|n| format!("{{ plans(userId: {n}) {{ id }} }}"))
            .collect();
        for query in &queries {
            register(&bounded, query);
        }
        let held = queries.iter().filter(|query| kept(&bounded, query)).count();
        assert!((1..=110).contains(&held), "{held} held");
    }

    #[test]
    fn require_runs_only_the_manifest() {
        let persisted =
            PersistedOperations::new(Some(&manifest()), Some(TrustedMode::Require), 10).unwrap();
        let id = format!("sha256:{}", sha256_hex(PLANS));
        let (query, _) = resolve(&persisted, None, Some(id), &mut None).unwrap();
        assert_eq!(query, PLANS);
        assert!(resolve(&persisted, Some(PLANS.to_owned()), None, &mut None).is_ok());
        assert!(resolve(&persisted, None, None, &mut apq(&sha256_hex(PLANS))).is_ok());
        let other = "{ plans { name } }";
        for result in [
            resolve(&persisted, Some(other.to_owned()), None, &mut None),
            resolve(
                &persisted,
                Some(other.to_owned()),
                None,
                &mut apq(&sha256_hex(other)),
            ),
            resolve(&persisted, None, None, &mut apq(&sha256_hex(other))),
        ] {
            assert!(matches!(result, Err(Refusal::NotInList)), "{result:?}");
        }
    }
}
