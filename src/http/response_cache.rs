//! A cache of whole GraphQL responses at the HTTP edge, in front of parsing, validation and
//! execution.
//!
//! The plan cache takes the database off the read path; then the GraphQL work itself (parse,
//! validate, execute, serialize) dominates a hit. This cache stores the exact response bytes of a
//! successful query, so a repeated request costs a hash lookup. It is looked up first by the exact
//! request bytes (a POST body, a GET query string: no parsing at all on a hit), then by the
//! request's normalized [`ResponseKey`], which catches other spellings and then remembers their
//! bytes too. GET and POST of the same request share the normalized entry: the body is the same.
//!
//! It never serves anything the plan cache would not: each entry keeps the [`ReadSet`] it was
//! built from, and is served only while [`GraphqlApi::is_current`] holds for it and none of its
//! lists has expired. So a write's precise invalidation drops exactly the responses built from
//! the keys it touched, with the same fence guarantee.
//!
//! Stored: responses without errors, extensions or HTTP headers, of documents that hold only
//! queries, where nothing consulted the caller's credential. Never mutations.

mod key;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::{IntCounter, Registry};

pub use key::ResponseKey;

use super::protocol::caching::Etags;
use crate::graphql::{Executed, GraphqlApi, OperationLabel, ReadSet};
use crate::telemetry::register_counter;

/// A response larger than this counts as one more entry per started block, so the entry bound
/// also bounds memory: about `max_entries` x 4 KiB, however the responses are sized.
const BYTES_PER_ENTRY: usize = 4 * 1024;

/// Sizing of a [`ResponseCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCacheSettings {
    /// Bound on cached responses (a response over 4 KiB counts once per started 4 KiB); 0 turns
    /// the cache off.
    pub max_entries: u64,
    /// Upper bound on an entry's life; entries also expire with the plan lists they came from.
    pub ttl: Duration,
}

/// The exact bytes a request arrived as.
#[derive(Clone, Copy)]
pub enum RawRequest<'a> {
    /// A POST body.
    Body(&'a Bytes),
    /// A GET query string.
    Query(&'a str),
}

/// A stored response: the body bytes, what they were built from, and their validators.
pub struct StoredResponse {
    body: Bytes,
    reads: ReadSet,
    /// The operation it answers, when spans are exported: a hit's span is named after it.
    operation: Option<OperationLabel>,
    expires_at: Instant,
    /// `ETag`s of the body, one per media type, computed on the first GET that needs one.
    etags: Etags,
}

impl StoredResponse {
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn operation(&self) -> Option<&OperationLabel> {
        self.operation.as_ref()
    }

    /// The body's `ETag`s, each computed once.
    pub(crate) fn etags(&self) -> &Etags {
        &self.etags
    }
}

/// Entries a request or response of `bytes` counts as against the bound.
fn weight(bytes: usize) -> u64 {
    bytes.div_ceil(BYTES_PER_ENTRY).max(1) as u64
}

/// Weighs an entry by its key's bytes, plus its body's when `with_body` (the normalized map,
/// which owns the bodies; the raw maps only add their request bytes).
#[derive(Clone, Copy)]
struct Weigh {
    with_body: bool,
}

impl<K: AsRef<[u8]>> quick_cache::Weighter<K, Arc<StoredResponse>> for Weigh {
    fn weight(&self, key: &K, value: &Arc<StoredResponse>) -> u64 {
        let body = if self.with_body { value.body.len() } else { 0 };
        weight(key.as_ref().len() + body)
    }
}

/// A bounded map of stored responses. quick_cache (S3-FIFO): a hit is one sharded read lock and
/// a flag, with no bookkeeping queued for later, which matters on the path a hit takes.
type Store<K> = quick_cache::sync::Cache<K, Arc<StoredResponse>, Weigh>;

fn store<K: Eq + std::hash::Hash + AsRef<[u8]>>(max_entries: u64, with_body: bool) -> Store<K> {
    let items = usize::try_from(max_entries).unwrap_or(usize::MAX);
    quick_cache::sync::Cache::with_weighter(items, max_entries, Weigh { with_body })
}

/// See the module documentation.
pub struct ResponseCache {
    by_body: Store<Bytes>,
    by_query_string: Store<Box<[u8]>>,
    /// Each entry's body is counted here; the raw maps count only their request bytes.
    by_key: Store<ResponseKey>,
    api: GraphqlApi,
    ttl: Duration,
    hits: IntCounter,
    misses: IntCounter,
}

impl ResponseCache {
    /// `None` when the settings turn it off, or when plan lists are not cached (then every read
    /// must reach the database, and so must every response).
    pub fn new(
        settings: ResponseCacheSettings,
        api: GraphqlApi,
        registry: &Registry,
    ) -> prometheus::Result<Option<Self>> {
        if settings.max_entries == 0 || settings.ttl.is_zero() || !api.caches_plan_lists() {
            return Ok(None);
        }
        Ok(Some(Self {
            by_body: store(settings.max_entries, false),
            by_query_string: store(settings.max_entries, false),
            by_key: store(settings.max_entries, true),
            api,
            ttl: settings.ttl,
            hits: register_counter(
                registry,
                "graphql_response_cache_hits_total",
                "GraphQL requests answered with stored response bytes.",
            )?,
            misses: register_counter(
                registry,
                "graphql_response_cache_misses_total",
                "Cacheable-looking GraphQL requests that had to be executed.",
            )?,
        }))
    }

    /// The stored response to a request that arrived as exactly these bytes, if still current.
    pub fn get_raw(&self, raw: RawRequest<'_>) -> Option<Arc<StoredResponse>> {
        let entry = match raw {
            RawRequest::Body(body) => self.by_body.get(body.as_ref())?,
            RawRequest::Query(query) => self.by_query_string.get(query.as_bytes())?,
        };
        if self.is_servable(&entry) {
            self.hits.inc();
            return Some(entry);
        }
        // A write overtook it, or it expired: make room, never serve it again.
        match raw {
            RawRequest::Body(body) => {
                self.by_body.remove(body.as_ref());
            }
            RawRequest::Query(query) => {
                self.by_query_string.remove(query.as_bytes());
            }
        };
        None
    }

    /// The stored response to the request with this normalized key, if still current; it is
    /// then also remembered under `raw` (when the request came alone, as exactly those bytes).
    /// Counts a miss otherwise.
    pub fn get(
        &self,
        key: &ResponseKey,
        raw: Option<RawRequest<'_>>,
    ) -> Option<Arc<StoredResponse>> {
        if let Some(entry) = self.by_key.get(key) {
            if self.is_servable(&entry) {
                self.hits.inc();
                self.remember(raw, entry.clone());
                return Some(entry);
            }
            self.by_key.remove(key);
        }
        self.misses.inc();
        None
    }

    /// Keeps `body`, the serialized response of `executed`, if it may be given to anyone who sends the same
    /// request and the plan lists it was built from are still current. Returns whether it was
    /// kept.
    pub fn store(
        &self,
        key: ResponseKey,
        raw: Option<RawRequest<'_>>,
        executed: &Executed,
        body: &Bytes,
    ) -> bool {
        let (response, reads) = (&executed.response, &executed.reads);
        let reusable = reads.is_reusable()
            && response.errors.is_empty()
            && response.extensions.is_empty()
            && response.http_headers.is_empty()
            && response.cache_control.value().is_none();
        if !reusable {
            return false;
        }
        let now = Instant::now();
        let expires_at = reads.expires_at(now + self.ttl);
        if expires_at <= now || !self.api.is_current(reads) {
            return false;
        }
        let entry = Arc::new(StoredResponse {
            body: body.clone(),
            reads: reads.clone(),
            operation: executed.operation.clone(),
            expires_at,
            etags: Etags::default(),
        });
        self.by_key.insert(key, entry.clone());
        self.remember(raw, entry);
        true
    }

    /// Whether `entry` may be served now: unexpired, and every plan list it was built from still
    /// current.
    fn is_servable(&self, entry: &StoredResponse) -> bool {
        entry.expires_at > Instant::now() && self.api.is_current(&entry.reads)
    }

    /// Indexes `entry` under the request's exact bytes too. Copied, so the key does not pin the
    /// buffer the request was read into.
    fn remember(&self, raw: Option<RawRequest<'_>>, entry: Arc<StoredResponse>) {
        match raw {
            Some(RawRequest::Body(body)) => {
                self.by_body.insert(Bytes::copy_from_slice(body), entry);
            }
            Some(RawRequest::Query(query)) => {
                self.by_query_string.insert(query.as_bytes().into(), entry);
            }
            None => {}
        }
    }
}
