//! HTTP wiring (axum): routes, middleware, the shared application state, and the response cache
//! at the edge. Talks to the GraphQL layer only; what it needs from the rest of the application
//! (health, metrics) comes through [`Probes`].

mod batch;
mod body;
mod caching;
mod compression;
mod endpoint;
mod graphiql;
mod health;
mod metrics;
mod negotiate;
mod params;
mod persisted;
mod respond;
mod response_cache;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use caching::QueryCaching;
pub use persisted::{ManifestError, PersistedOperations, TrustedMode};
pub use response_cache::{ResponseCache, ResponseCacheSettings, ResponseKey};

use crate::graphql::GraphqlApi;

/// Seconds a browser may reuse a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the health and metrics endpoints ask of the rest of the application.
#[async_trait::async_trait]
pub trait Probes: Send + Sync {
    /// Whether the database answers.
    async fn database_is_up(&self) -> bool;
    /// Brings gauges up to date before a scrape.
    async fn refresh_metrics(&self);
}

/// What the handlers get: one `Arc`, so handing it to a request touches one reference count
/// (every request clones it, on whichever core it runs).
type SharedState = Arc<AppState>;

/// Everything a handler needs.
pub struct AppState {
    pub api: GraphqlApi,
    /// `None` when off (`RESPONSE_CACHE_MAX_ENTRIES=0` or `PLAN_CACHE_TTL=0`).
    pub responses: Option<Arc<ResponseCache>>,
    pub probes: Arc<dyn Probes>,
    pub metrics: prometheus::Registry,
    /// True from the end of start-up (migrated, warmed) until shutdown begins.
    pub accepting_requests: Arc<AtomicBool>,
    pub database_timeout: Duration,
    /// `Cache-Control` for successful `GET /graphql` queries.
    pub query_caching: QueryCaching,
    /// Whether `GET /graphql` serves the GraphiQL playground (and its assets).
    pub graphiql: bool,
    /// What popular clients send besides plain requests: persisted operations, batches.
    pub clients: ClientSupport,
}

/// Persisted operations (APQ, trusted documents), batches, and the body limit they share.
pub struct ClientSupport {
    pub persisted: PersistedOperations,
    /// `GRAPHQL_MAX_BATCH`: most requests in one batch; 0 refuses batches.
    pub max_batch: usize,
    /// `MAX_REQUEST_BYTES`, for a POST's whole body (a batch's too).
    pub max_request_bytes: usize,
}

/// Request ids shaped like UUIDs: a random prefix chosen at start, then a counter. Unique per
/// process and unlikely to repeat across processes, without tower-http's `MakeRequestUuid` asking
/// the kernel for random bytes on every request (a syscall on the hot path).
#[derive(Clone)]
struct MakeRequestId {
    /// `xxxxxxxx-xxxx-xxxx-`: the random prefix, formatted once.
    prefix: [u8; 19],
    counter: Arc<AtomicU64>,
}

impl MakeRequestId {
    fn new() -> Self {
        let mut prefix = [b'-'; 19];
        let random: u64 = rand::random();
        write_hex(random >> 32, &mut prefix[0..8]);
        write_hex(random >> 16, &mut prefix[9..13]);
        write_hex(random, &mut prefix[14..18]);
        Self {
            prefix,
            counter: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Writes the low `out.len()` hex digits of `value` into `out`, most significant first.
fn write_hex(mut value: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = [b'-'; 36];
        id[..19].copy_from_slice(&self.prefix);
        write_hex(n >> 48, &mut id[19..23]);
        write_hex(n, &mut id[24..36]);
        HeaderValue::from_bytes(&id).ok().map(RequestId::new)
    }
}

/// The HTTP layer's settings, from [`crate::Config`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Slower requests get 408.
    pub request_timeout: Duration,
    /// Larger bodies get 413.
    pub max_request_bytes: usize,
    pub cors_origins: CorsOrigins,
    /// Request headers a CORS preflight allows besides the built-in ones
    /// (`CORS_ALLOWED_HEADERS`).
    pub cors_allowed_headers: Vec<HeaderName>,
}

/// Which browser origins may call the API (CORS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin calls: no CORS headers at all.
    #[default]
    None,
    /// Exactly these origins.
    List(Vec<HeaderValue>),
    /// Any origin (`*`).
    Any,
}

/// The routes and, around them, the middleware, as one stack: axum boxes a layer added to a
/// `Router` per route and clones the box per request, so the whole stack goes on in one piece.
pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    // The access log (one line per request, in a span carrying the request id) is an INFO
    // event: when the log filter drops it, the layer is left out rather than run for nothing.
    let access_log = tracing::enabled!(Level::INFO)
        || tracing::enabled!(target: "tower_http::trace::on_response", Level::INFO);
    let middleware = ServiceBuilder::new()
        // Outermost, so every response carries the request id: CORS preflights, timeouts, 404s.
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestId::new()))
        .option_layer(access_log.then(|| {
            ServiceBuilder::new()
                .map_response(|response: axum::http::Response<_>| response.map(Body::new))
                .layer(access_log_layer())
        }))
        .map_response(|response: axum::http::Response<_>| response.map(Body::new))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .option_layer(cors(&settings.cors_origins, &settings.cors_allowed_headers))
        // gzip or br, as the client accepts; small bodies (< 32 bytes) stay as they are.
        .layer(compression::CompressWhenAcceptedLayer)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        // Over the limit, the GraphQL handler answers 413 with a GraphQL error.
        .layer(DefaultBodyLimit::max(settings.max_request_bytes));
    Router::new()
        .route(
            "/graphql",
            get(endpoint::get)
                .post(endpoint::post)
                .fallback(endpoint::other_method),
        )
        .route(graphiql::ASSETS_PATH, get(graphiql::asset))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::scrape))
        .with_state(Arc::new(state))
        .layer(middleware)
}

/// A span per request carrying its id, and one access-log line per request inside it.
fn access_log_layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    impl Fn(&axum::http::Request<Body>) -> tracing::Span + Clone,
    tower_http::trace::DefaultOnRequest,
    DefaultOnResponse,
> {
    TraceLayer::new_for_http()
        .make_span_with(|request: &axum::http::Request<Body>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-");
            tracing::info_span!(
                "request",
                method = %request.method(),
                path = %request.uri().path(),
                request_id,
            )
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// Keeps the runtime's timer driver from sleeping longer than `period`, for as long as the
/// returned task runs.
///
/// Every request arms a timer (the request timeout). Tokio wakes its parked timer driver (a
/// futex and an eventfd write) whenever a timer is armed that expires before the driver's next
/// deadline; with no other timer pending, that is every request's. A ticker whose period is
/// shorter than the request timeout keeps that deadline nearer, so arming a request's timer
/// never wakes anyone: measured at one connection, the server's futex calls fell from 2.1 to 0.3
/// per request (`strace -c`). The ticker itself costs one wake-up per period.
pub fn spawn_timer_pacer(period: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
        }
    })
}

/// Request headers every CORS preflight allows: the content type, a credential, and Apollo
/// Client's client-awareness headers.
const CORS_ALLOWED_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::AUTHORIZATION,
    HeaderName::from_static("apollographql-client-name"),
    HeaderName::from_static("apollographql-client-version"),
];

/// CORS for the configured origins; none at all (browsers refuse cross-origin calls) by default.
/// `extra_headers` are allowed in requests besides [`CORS_ALLOWED_HEADERS`].
fn cors(origins: &CorsOrigins, extra_headers: &[HeaderName]) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(origins) => AllowOrigin::list(origins.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(
                CORS_ALLOWED_HEADERS
                    .into_iter()
                    .chain(extra_headers.iter().cloned())
                    .collect::<Vec<_>>(),
            )
            .expose_headers([REQUEST_ID])
            .max_age(CORS_MAX_AGE),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_http::request_id::MakeRequestId as _;

    #[test]
    fn request_ids_are_unique_and_shaped_like_uuids() {
        let mut make = MakeRequestId::new();
        let request = axum::http::Request::new(());
        let ids: Vec<String> = (0..3)
            .map(|_| {
                let id = make.make_request_id(&request).unwrap();
                id.header_value().to_str().unwrap().to_owned()
            })
            .collect();
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
        for id in &ids {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        }
    }
}
