//! HTTP caching of `GET /graphql` query responses: `Cache-Control` from the configuration, and an
//! `ETag` so that revalidating costs a 304 instead of the list.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};

use super::negotiate::MediaType;

/// For responses nobody may keep: POSTs, errors, and everything when caching is off.
pub fn no_store() -> HeaderValue {
    HeaderValue::from_static("no-store")
}

/// What browsers and CDNs may do with a successful `GET /graphql` query response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryCaching {
    /// `no-store`: the server itself caches nothing (`PLAN_CACHE_TTL=0`), so neither may they.
    NoStore,
    /// `no-cache`: keep it, but revalidate before each reuse. Read-your-writes holds end to end.
    Revalidate,
    /// `public, max-age=N`: reuse for N seconds without asking; a change may take that long to show.
    MaxAge(u64),
}

impl QueryCaching {
    /// `HTTP_CACHE_MAX_AGE`, capped by `PLAN_CACHE_TTL`: a client never keeps a list longer than
    /// the server's own cache would.
    pub fn new(http_cache_max_age: u64, plan_cache_ttl: u64) -> Self {
        match (plan_cache_ttl, http_cache_max_age.min(plan_cache_ttl)) {
            (0, _) => Self::NoStore,
            (_, 0) => Self::Revalidate,
            (_, seconds) => Self::MaxAge(seconds),
        }
    }

    pub fn cache_control(self) -> HeaderValue {
        match self {
            Self::NoStore => no_store(),
            Self::Revalidate => HeaderValue::from_static("no-cache"),
            Self::MaxAge(seconds) => HeaderValue::from_str(&format!("public, max-age={seconds}"))
                .unwrap_or_else(|_| no_store()),
        }
    }

    /// Whether a validator is worth sending: not for responses nobody keeps.
    pub fn uses_etag(self) -> bool {
        self != Self::NoStore
    }
}

/// A validator for a response body: a digest of its media type and bytes.
///
/// Weak (`W/`) on purpose: the compression layer may send the same JSON gzip- or br-encoded, and a
/// strong tag must differ between encodings. `If-None-Match` compares weakly anyway, so 304s work
/// the same.
pub fn etag(media: MediaType, body: &[u8]) -> HeaderValue {
    let mut digest = Sha256::new();
    digest.update(media.as_str().as_bytes());
    digest.update([0]);
    digest.update(body);
    let hex: String = digest.finalize()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    HeaderValue::from_str(&format!("W/\"{hex}\"")).unwrap_or(HeaderValue::from_static("W/\"\""))
}

/// Whether the request's `If-None-Match` matches `etag` (weak comparison, RFC 9110 §13.1.2).
pub fn not_modified(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(ours) = etag.to_str() else {
        return false;
    };
    let ours = ours.trim_start_matches("W/");
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// The `ETag`s of one body, computed once per media type it is sent as (a stored response's).
#[derive(Default)]
pub(crate) struct Etags([OnceLock<HeaderValue>; 2]);

impl Etags {
    /// The `ETag` of `body`, which must be the body these were first computed for, as `media`.
    pub(crate) fn get(&self, media: MediaType, body: &[u8]) -> HeaderValue {
        let slot = match media {
            MediaType::GraphqlResponseJson => &self.0[0],
            MediaType::Json => &self.0[1],
        };
        slot.get_or_init(|| etag(media, body)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_capped_by_the_plan_cache_ttl() {
        assert_eq!(QueryCaching::new(0, 300), QueryCaching::Revalidate);
        assert_eq!(QueryCaching::new(60, 300), QueryCaching::MaxAge(60));
        assert_eq!(QueryCaching::new(600, 300), QueryCaching::MaxAge(300));
        assert_eq!(QueryCaching::new(60, 0), QueryCaching::NoStore);
        assert_eq!(QueryCaching::new(0, 0), QueryCaching::NoStore);
        assert_eq!(
            QueryCaching::MaxAge(60).cache_control(),
            "public, max-age=60"
        );
        assert_eq!(QueryCaching::Revalidate.cache_control(), "no-cache");
        assert_eq!(QueryCaching::NoStore.cache_control(), "no-store");
    }

    #[test]
    fn etags_depend_on_body_and_media_type_and_match_weakly() {
        let a = etag(MediaType::Json, b"{\"data\":{}}");
        assert_eq!(a, etag(MediaType::Json, b"{\"data\":{}}"));
        assert_ne!(a, etag(MediaType::Json, b"{\"data\":{\"x\":1}}"));
        assert_ne!(a, etag(MediaType::GraphqlResponseJson, b"{\"data\":{}}"));
        assert!(a.to_str().unwrap().starts_with("W/\""));

        let strong_form = a.to_str().unwrap().trim_start_matches("W/").to_owned();
        let request = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(not_modified(&request(a.to_str().unwrap()), &a));
        assert!(not_modified(&request(&strong_form), &a));
        assert!(not_modified(
            &request(&format!("\"other\", {strong_form}")),
            &a
        ));
        assert!(not_modified(&request("*"), &a));
        assert!(!not_modified(&request("\"other\""), &a));
        assert!(!not_modified(&HeaderMap::new(), &a));
    }
}
