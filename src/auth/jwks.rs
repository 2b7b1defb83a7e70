//! The public keys of a JWKS (RS256 and ES256 keys with a `kid`), from a URL (fetched over HTTPS
//! with rustls) and/or a file. Kept in memory; when a token names a `kid` none of them has, the
//! sources are read again, at most once per [`REFRESH_INTERVAL`], and that token is verified with
//! the new keys. A key gone from the sources at such a read ends what it admitted: see
//! [`Jwks::removal`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tracing::{info, warn};

/// The shortest time between two reads of the sources.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("could not read the JWKS file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not fetch the JWKS: {0}")]
    Fetch(#[from] reqwest::Error),
    #[error("the JWKS is not a JSON object with a `keys` array")]
    Malformed,
    #[error("could not build the HTTP client for the JWKS: {0}")]
    Client(reqwest::Error),
}

/// One usable key.
pub(super) struct JwksKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

type Keys = Arc<HashMap<String, Arc<JwksKey>>>;

pub(super) struct Jwks {
    url: Option<String>,
    file: Option<PathBuf>,
    client: reqwest::Client,
    /// The current keys; a watch so that a subscription admitted by a key learns when it goes.
    keys: tokio::sync::watch::Sender<Keys>,
    /// When the sources were last read; held while reading them, so concurrent requests naming
    /// the same new `kid` wait for one read instead of each starting one.
    last_read: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    /// `None` when neither source is configured. The file must load; a URL that fails is logged
    /// and read again when a token needs a key.
    pub(super) async fn load(
        url: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<Option<Self>, JwksError> {
        if url.is_none() && file.is_none() {
            return Ok(None);
        }
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .map_err(JwksError::Client)?;
        let mut jwks = Self {
            url,
            file,
            client,
            keys: tokio::sync::watch::Sender::new(Arc::default()),
            last_read: tokio::sync::Mutex::new(None),
        };
        let mut keys = HashMap::new();
        if let Some(path) = &jwks.file {
            keys.extend(read_file(path).await?);
        }
        let mut last_read = None;
        if let Some(url) = &jwks.url {
            match fetch(&jwks.client, url).await {
                Ok(fetched) => {
                    keys.extend(fetched);
                    last_read = Some(Instant::now());
                }
                Err(err) => {
                    warn!(error = %err, "JWKS not fetched at start; fetching again when a token needs it")
                }
            }
        }
        info!(keys = keys.len(), "JWKS loaded");
        jwks.keys.send_replace(Arc::new(keys));
        *jwks.last_read.get_mut() = last_read;
        Ok(Some(jwks))
    }

    fn current(&self) -> Keys {
        self.keys.borrow().clone()
    }

    /// Whether the key named `kid` is still published.
    pub(super) fn has(&self, kid: &str) -> bool {
        self.keys.borrow().contains_key(kid)
    }

    /// Resolves once the key named `kid` is no longer published (at once if it is not now);
    /// never while it is. Costs nothing until the keys are read again.
    pub(super) fn removal(&self, kid: Arc<str>) -> impl Future<Output = ()> + Send + 'static {
        let mut keys = self.keys.subscribe();
        async move {
            if keys
                .wait_for(|keys| !keys.contains_key(&*kid))
                .await
                .is_err()
            {
                // The keys are gone with the server: nothing removes this one any more.
                std::future::pending::<()>().await;
            }
        }
    }

    /// The key named `kid`, reading the sources again if none has it and they were not read in
    /// the last [`REFRESH_INTERVAL`].
    pub(super) async fn key(&self, kid: &str) -> Option<Arc<JwksKey>> {
        if let Some(key) = self.current().get(kid) {
            return Some(key.clone());
        }
        let mut last_read = self.last_read.lock().await;
        // Another request may have read them while this one waited.
        if let Some(key) = self.current().get(kid) {
            return Some(key.clone());
        }
        if last_read.is_some_and(|at| at.elapsed() < REFRESH_INTERVAL) {
            return None;
        }
        *last_read = Some(Instant::now());
        match self.read_sources().await {
            Ok(keys) => {
                info!(
                    keys = keys.len(),
                    "JWKS read again (a token named an unknown kid)"
                );
                let keys = Arc::new(keys);
                let found = keys.get(kid).cloned();
                self.keys.send_replace(keys);
                found
            }
            Err(err) => {
                warn!(error = %err, "could not read the JWKS again; keeping the keys we have");
                None
            }
        }
    }

    async fn read_sources(&self) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
        let mut keys = HashMap::new();
        if let Some(path) = &self.file {
            keys.extend(read_file(path).await?);
        }
        if let Some(url) = &self.url {
            keys.extend(fetch(&self.client, url).await?);
        }
        Ok(keys)
    }
}

async fn read_file(path: &PathBuf) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
    let text = tokio::fs::read(path)
        .await
        .map_err(|source| JwksError::File {
            path: path.clone(),
            source,
        })?;
    parse(&text)
}

async fn fetch(
    client: &reqwest::Client,
    url: &str,
) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
    let body = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await?;
    parse(&body)
}

/// The usable keys of a JWKS document: RSA keys (RS256) and P-256 keys (ES256) with a `kid`.
/// Other keys (encryption keys, other curves or algorithms) are skipped.
pub(super) fn parse(document: &[u8]) -> Result<HashMap<String, Arc<JwksKey>>, JwksError> {
    let document: Value = serde_json::from_slice(document).map_err(|_| JwksError::Malformed)?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::Malformed)?;
    let mut keys = HashMap::new();
    for entry in entries {
        let Ok(jwk) = serde_json::from_value::<Jwk>(entry.clone()) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let algorithm = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                Algorithm::ES256
            }
            _ => continue,
        };
        let declared_matches = match jwk.common.key_algorithm {
            None => true,
            Some(KeyAlgorithm::RS256) => algorithm == Algorithm::RS256,
            Some(KeyAlgorithm::ES256) => algorithm == Algorithm::ES256,
            Some(_) => false,
        };
        let for_signing = jwk
            .common
            .public_key_use
            .as_ref()
            .is_none_or(|usage| *usage == jsonwebtoken::jwk::PublicKeyUse::Signature);
        if !declared_matches || !for_signing {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else {
            continue;
        };
        keys.insert(kid, Arc::new(JwksKey { key, algorithm }));
    }
    Ok(keys)
}
