//! A cache of whole GraphQL responses, in front of parsing, validation and execution.
//!
//! The plan cache takes the database off the read path; then the GraphQL work itself (parse,
//! validate, execute, serialize) dominates a hit. This cache stores the exact response bytes of a
//! successful query, keyed by the request's normalized document, operation name, variables and
//! extensions, so a repeated request costs a hash lookup.
//!
//! It never serves anything the plan cache would not: each entry remembers which plan lists
//! ([`PlanRead`]s) it was built from, and is served only while [`PlanService::is_current`] holds
//! for all of them and none has expired. So a write's precise invalidation drops exactly the
//! responses built from the keys it touched, with the same generation (fence) guarantee.
//!
//! Stored: responses without errors, extensions or HTTP headers, of documents that hold only
//! queries, where nothing consulted the admin token. Never mutations.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Context, Response, ServerResult, Variables};
use bytes::Bytes;
use prometheus::{IntCounter, Opts, Registry};
use serde::Deserialize;
use serde_json::Value;

use crate::plans::{PlanRead, PlanReads, PlanService};

/// A response larger than this counts as one more entry per started block, so the entry bound
/// also bounds memory: about `max_entries` x 4 KiB, however the responses are sized.
const BYTES_PER_ENTRY: usize = 4 * 1024;

/// What one request did that decides whether its response may be cached; lives in the request's
/// data for the resolvers, the guard and [`TraceOperations`] to fill.
#[derive(Debug, Default)]
pub struct RequestTrace {
    reads: PlanReads,
    uncacheable: AtomicBool,
}

impl RequestTrace {
    /// The response depends on something other than the plan lists read (a mutation, the admin
    /// token): it must not be cached.
    pub fn mark_uncacheable(&self) {
        self.uncacheable.store(true, Ordering::Relaxed);
    }

    fn is_uncacheable(&self) -> bool {
        self.uncacheable.load(Ordering::Relaxed)
    }
}

/// The plan reads collector of the running request, if its response may be cached.
pub(super) fn plan_reads<'a>(ctx: &Context<'a>) -> Option<&'a PlanReads> {
    ctx.data_opt::<Arc<RequestTrace>>()
        .map(|trace| &trace.reads)
}

/// Marks the request uncacheable when its document holds anything but queries. Runs on the parsed
/// document, whether it came from the query text or from the persisted-query store.
pub(super) struct TraceOperations;

impl ExtensionFactory for TraceOperations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TraceOperations)
    }
}

#[async_trait::async_trait]
impl Extension for TraceOperations {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if let Some(trace) = ctx.data_opt::<Arc<RequestTrace>>() {
            let only_queries = match &document.operations {
                DocumentOperations::Single(operation) => operation.node.ty == OperationType::Query,
                DocumentOperations::Multiple(operations) => operations
                    .values()
                    .all(|operation| operation.node.ty == OperationType::Query),
            };
            if !only_queries {
                trace.mark_uncacheable();
            }
        }
        Ok(document)
    }
}

/// A request reduced to what decides its response: equal keys mean equal responses (given the
/// same plan lists).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResponseKey(Box<[u8]>);

/// The fields of a GraphQL-over-HTTP JSON body, as async-graphql's `Request` reads them.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    query: std::borrow::Cow<'a, str>,
    #[serde(default, rename = "operationName", borrow)]
    operation_name: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    variables: Value,
    #[serde(default)]
    extensions: Value,
}

impl ResponseKey {
    /// The key of a JSON request body, or `None` if it is not a single JSON request (a batch, a
    /// malformed body: those are never cached).
    pub fn of_json_body(body: &[u8]) -> Option<Self> {
        let envelope: Envelope<'_> = serde_json::from_slice(body).ok()?;
        let mut key = Vec::with_capacity(body.len() + 16);
        let mut document = Vec::with_capacity(envelope.query.len());
        normalize_document(&envelope.query, &mut document);
        push_part(&mut key, &document);
        match &envelope.operation_name {
            // An absent name and an empty one mean different things to async-graphql.
            None => key.push(0),
            Some(name) => {
                key.push(1);
                push_part(&mut key, name.as_bytes());
            }
        }
        let mut json = String::new();
        canonical_json(&envelope.variables, &mut json);
        push_part(&mut key, json.as_bytes());
        json.clear();
        canonical_json(&envelope.extensions, &mut json);
        push_part(&mut key, json.as_bytes());
        Some(Self(key.into_boxed_slice()))
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Appends a length-prefixed part, so no two different part lists give the same bytes.
fn push_part(key: &mut Vec<u8>, part: &[u8]) {
    key.extend_from_slice(&(part.len() as u64).to_le_bytes());
    key.extend_from_slice(part);
}

/// Punctuators that need no space around them: a space beside one never separates two tokens.
/// (`.` is left out: `. . .` is three tokens, `...` one.)
const PUNCTUATORS: &[u8] = b"!$&():=@[]{|}";

/// Collapses every run of GraphQL's ignored tokens (whitespace, line terminators, commas,
/// comments, byte-order marks) outside string literals into one space, or into nothing beside a
/// punctuator, and trims the ends. Tokens and string literals (block strings too) are copied
/// verbatim, so two documents with the same result have the same token sequence, hence the same
/// meaning.
fn normalize_document(document: &str, out: &mut Vec<u8>) {
    const BOM: &[u8] = "\u{feff}".as_bytes();
    let bytes = document.as_bytes();
    let mut i = 0;
    let mut pending_space = false;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                pending_space = true;
                i += 1;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                pending_space = true;
            }
            _ if bytes[i..].starts_with(BOM) => {
                pending_space = true;
                i += BOM.len();
            }
            byte => {
                if pending_space
                    && out.last().is_some_and(|last| !PUNCTUATORS.contains(last))
                    && !PUNCTUATORS.contains(&byte)
                {
                    out.push(b' ');
                }
                pending_space = false;
                if byte == b'"' {
                    i = copy_string(bytes, i, out);
                } else {
                    out.push(byte);
                    i += 1;
                }
            }
        }
    }
}

/// Copies the string literal starting at `start` (a `"`) verbatim; returns the index after it.
fn copy_string(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let end = if bytes[start..].starts_with(b"\"\"\"") {
        // Block string: ends at the first `"""` not escaped as `\"""`.
        let mut i = start + 3;
        loop {
            if i >= bytes.len() {
                break bytes.len();
            }
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                break i + 3;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => break bytes.len(),
                Some(b'\\') => i += 2,
                Some(b'"') => break i + 1,
                Some(_) => i += 1,
            }
        }
    };
    let end = end.min(bytes.len());
    out.extend_from_slice(&bytes[start..end]);
    end
}

/// JSON with object keys sorted (whatever map order serde_json was built with); `null` and an
/// absent value both mean "none", as for async-graphql's variables and extensions.
fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("{}"),
        other => write_canonical(other, out),
    }
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (name, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json_string(name, out);
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(text) => write_json_string(text, out),
        Value::Number(number) => {
            let _ = write!(out, "{number}");
        }
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
    }
}

fn write_json_string(text: &str, out: &mut String) {
    // Serializing a string to JSON cannot fail.
    out.push_str(&serde_json::to_string(text).unwrap_or_default());
}

/// Sizing of a [`ResponseCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCacheSettings {
    /// Bound on cached responses (a response over 4 KiB counts once per started 4 KiB); 0 turns
    /// the cache off.
    pub max_entries: u64,
    /// Upper bound on an entry's life; entries also expire with the plan lists they came from.
    pub ttl: Duration,
}

/// A stored response.
struct CachedResponse {
    body: Bytes,
    reads: Box<[PlanRead]>,
    expires_at: Instant,
}

/// Expires each entry when the first plan list it was built from expires.
struct ExpiresWithItsReads;

impl<K> moka::Expiry<K, Arc<CachedResponse>> for ExpiresWithItsReads {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Arc<CachedResponse>,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.expires_at.saturating_duration_since(created_at))
    }
}

/// Entries a response of `bytes` counts as against the bound.
fn weight(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(BYTES_PER_ENTRY).max(1)).unwrap_or(u32::MAX)
}

/// The outcome of [`ResponseCache::lookup`].
pub enum Lookup {
    /// The stored response bytes, current.
    Hit(Bytes),
    /// Not stored (or no longer current): execute, then [`ResponseCache::store`] with these keys.
    Miss(ResponseKeys),
    /// Not a single JSON request: execute, never store.
    Uncacheable,
}

/// Where a response is stored: under its normalized key, and under the exact request bytes.
pub struct ResponseKeys {
    body: Bytes,
    normalized: ResponseKey,
}

/// See the module documentation.
///
/// Two maps share the entries: `by_body`, keyed by the exact request body, answers a repeated
/// request without even parsing its JSON (no allocation on a hit); `by_key`, keyed by the
/// normalized request, catches other spellings of it and then remembers their bytes too.
pub struct ResponseCache {
    by_body: moka::sync::Cache<Bytes, Arc<CachedResponse>>,
    by_key: moka::sync::Cache<ResponseKey, Arc<CachedResponse>>,
    plans: Arc<PlanService>,
    ttl: Duration,
    hits: IntCounter,
    misses: IntCounter,
}

impl ResponseCache {
    /// `None` when the settings turn it off, or when plan lists are not cached (then every read
    /// must reach the database, and so must every response).
    pub fn new(
        settings: ResponseCacheSettings,
        plans: Arc<PlanService>,
        registry: &Registry,
    ) -> prometheus::Result<Option<Self>> {
        if settings.max_entries == 0 || settings.ttl.is_zero() || !plans.is_caching() {
            return Ok(None);
        }
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let counter = IntCounter::with_opts(Opts::new(name, help))?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let by_key = moka::sync::Cache::builder()
            .max_capacity(settings.max_entries)
            .weigher(|key: &ResponseKey, value: &Arc<CachedResponse>| {
                weight(key.len() + value.body.len())
            })
            .expire_after(ExpiresWithItsReads)
            .build();
        // The bodies are shared with `by_key`: only the request bytes count here.
        let by_body = moka::sync::Cache::builder()
            .max_capacity(settings.max_entries)
            .weigher(|body: &Bytes, _: &Arc<CachedResponse>| weight(body.len()))
            .expire_after(ExpiresWithItsReads)
            .build();
        Ok(Some(Self {
            by_body,
            by_key,
            plans,
            ttl: settings.ttl,
            hits: counter(
                "graphql_response_cache_hits_total",
                "GraphQL requests answered with stored response bytes.",
            )?,
            misses: counter(
                "graphql_response_cache_misses_total",
                "Cacheable-looking GraphQL requests that had to be executed.",
            )?,
        }))
    }

    /// Whether `entry` may still be served: none of its plan lists was invalidated since it was
    /// loaded. (Expiry is the store's: an expired entry is never returned by `get`.)
    fn is_current(&self, entry: &CachedResponse) -> bool {
        self.plans.is_current(&entry.reads)
    }

    /// The stored response to the JSON request `body`, if it is still current.
    pub fn lookup(&self, body: &Bytes) -> Lookup {
        if let Some(entry) = self.by_body.get(body) {
            if self.is_current(&entry) {
                self.hits.inc();
                return Lookup::Hit(entry.body.clone());
            }
            // A write overtook it: make room, never serve it again.
            self.by_body.invalidate(body);
        }
        let Some(normalized) = ResponseKey::of_json_body(body) else {
            return Lookup::Uncacheable;
        };
        if let Some(entry) = self.by_key.get(&normalized) {
            if self.is_current(&entry) {
                self.hits.inc();
                let stored = entry.body.clone();
                // Remember this spelling's bytes; copied, so the key does not pin the buffer
                // the request was read into.
                self.by_body.insert(Bytes::copy_from_slice(body), entry);
                return Lookup::Hit(stored);
            }
            self.by_key.invalidate(&normalized);
        }
        self.misses.inc();
        Lookup::Miss(ResponseKeys {
            body: Bytes::copy_from_slice(body),
            normalized,
        })
    }

    /// A trace to put into the request's data before executing it, and to pass to
    /// [`ResponseCache::store`] afterwards.
    pub fn trace() -> Arc<RequestTrace> {
        Arc::new(RequestTrace::default())
    }

    /// Keeps `body`, the serialized `response`, if the request may be cached and the plan lists
    /// it read are still current. Returns whether it was kept.
    pub fn store(
        &self,
        keys: ResponseKeys,
        trace: &RequestTrace,
        response: &Response,
        body: &Bytes,
    ) -> bool {
        let cacheable = !trace.is_uncacheable()
            && response.errors.is_empty()
            && response.extensions.is_empty()
            && response.http_headers.is_empty()
            && response.cache_control.value().is_none();
        if !cacheable {
            return false;
        }
        let reads = trace.reads.snapshot();
        let now = Instant::now();
        let expires_at = reads
            .iter()
            .map(PlanRead::expires_at)
            .fold(now + self.ttl, Instant::min);
        if expires_at <= now || !self.plans.is_current(&reads) {
            return false;
        }
        let entry = Arc::new(CachedResponse {
            body: body.clone(),
            reads: reads.into_boxed_slice(),
            expires_at,
        });
        self.by_key.insert(keys.normalized, entry.clone());
        self.by_body.insert(keys.body, entry);
        true
    }
}

/// The response body exactly as async-graphql-axum's `GraphQLResponse` writes it.
pub fn render(response: &Response) -> Bytes {
    match serde_json::to_vec(response) {
        Ok(body) => Bytes::from(body),
        Err(err) => {
            // Values are plain data; this cannot happen, but must not panic a worker.
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            Bytes::from_static(
                br#"{"data":null,"errors":[{"message":"internal server error; the server log has details","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(document: &str) -> String {
        let mut out = Vec::new();
        normalize_document(document, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn key(body: &str) -> ResponseKey {
        ResponseKey::of_json_body(body.as_bytes()).unwrap()
    }

    #[test]
    fn collapses_ignored_tokens_outside_strings() {
        assert_eq!(
            normalized(
                "\u{feff} query  Q($u: Int,\n\t$t: T) {\r\n plans(userId: $u) # why\n { id } }  "
            ),
            "query Q($u:Int$t:T){plans(userId:$u){id}}"
        );
        assert_eq!(normalized("{a(x: \"a  ,b # c\")}"), "{a(x:\"a  ,b # c\")}");
        assert_eq!(
            normalized("{a(x: \"q\\\"  \\\\\" y: 1)}"),
            "{a(x:\"q\\\"  \\\\\" y:1)}"
        );
        assert_eq!(
            normalized("{a(x: \"\"\" in  \\\"\"\"  block \"\"\"   y: 1)}"),
            "{a(x:\"\"\" in  \\\"\"\"  block \"\"\" y:1)}"
        );
        // A comment ends at the line; what follows is kept.
        assert_eq!(normalized("{ a # b\n c }"), "{a c}");
        // Spaces that separate tokens stay; dots and strings never lose theirs.
        assert_eq!(normalized("{ ... on T { a } } . . ."), "{... on T{a}}. . .");
        assert_eq!(normalized("{ a(x: \"\" y: \"b\") }"), "{a(x:\"\" y:\"b\")}");
        assert_eq!(normalized("{ a(x: [\"\" \"b\"]) }"), "{a(x:[\"\" \"b\"])}");
        // Unterminated literals are copied to the end (the parser refuses them later).
        assert_eq!(normalized("{ a(x: \"open  "), "{a(x:\"open  ");
    }

    #[test]
    fn equal_requests_share_a_key_and_different_ones_do_not() {
        let a = key(r#"{"query":"{ plans(userId: $u) { id } }","variables":{"u":1,"t":"X"}}"#);
        let b = key(
            r#"{"variables":{"t":"X","u":1},"query":"{plans(userId:$u){id}}","operationName":null,"unknown":3}"#,
        );
        // Same tokens: only ignored ones, key order and unknown fields differ.
        let c = key(r#"{"query":"{ plans(userId: $u) {\n id\n} }","variables":{"t":"X","u":1}}"#);
        assert_eq!(a, b);
        assert_eq!(a, c);
        let d = key(r#"{"query":"{ plans(userId: $u) { id } }","variables":{"u":2,"t":"X"}}"#);
        assert_ne!(a, d);
        let none = key(r#"{"query":"{ a }"}"#);
        assert_eq!(
            none,
            key(r#"{"query":"{ a }","variables":null,"extensions":{}}"#)
        );
        assert_ne!(none, key(r#"{"query":"{ a }","operationName":""}"#));
        assert_ne!(
            key(r#"{"query":"{ a }","operationName":"A"}"#),
            key(r#"{"query":"{ a }","operationName":"B"}"#)
        );
        assert_ne!(none, key(r#"{"query":"{ a }","extensions":{"x":1}}"#));
        assert_ne!(
            key(r#"{"query":"{ a(s: \"x y\") }"}"#),
            key(r#"{"query":"{ a(s: \"x  y\") }"}"#)
        );
    }

    #[test]
    fn only_single_json_requests_have_a_key() {
        assert!(ResponseKey::of_json_body(b"[{\"query\":\"{ a }\"}]").is_none());
        assert!(ResponseKey::of_json_body(b"not json").is_none());
        assert!(ResponseKey::of_json_body(b"{\"query\": 5}").is_none());
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let value: Value = serde_json::from_str(r#"{"b":[{"y":1,"x":"é\""}],"a":null}"#).unwrap();
        let mut out = String::new();
        canonical_json(&value, &mut out);
        assert_eq!(out, r#"{"a":null,"b":[{"x":"é\"","y":1}]}"#);
    }

    #[test]
    fn renders_like_async_graphql_axum() {
        let response = Response::new(
            async_graphql::Value::from_json(
                serde_json::json!({"plans": [{"id": "1", "name": "a \"b\""}]}),
            )
            .unwrap(),
        );
        let expected = serde_json::to_string(&async_graphql::BatchResponse::from(Response::new(
            response.data.clone(),
        )))
        .unwrap();
        assert_eq!(render(&response), Bytes::from(expected));
    }
}
