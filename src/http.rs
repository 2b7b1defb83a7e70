//! HTTP wiring (axum): routes, middleware, the shared application state, and the response cache
//! at the edge. Talks to the GraphQL layer only; what it needs from the rest of the application
//! (health, metrics) comes through [`Probes`].

mod batch;
mod body;
mod caching;
mod compression;
mod connections;
mod consistency;
mod edge;
mod endpoint;
mod graphiql;
mod health;
mod lapse;
mod live;
mod metrics;
mod negotiate;
mod params;
mod persisted;
mod rate_limit;
mod request_metrics;
mod respond;
mod response_cache;
mod unread_body;
mod websocket;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use tower::ServiceBuilder;
use tower::util::Either;
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};

pub use caching::QueryCaching;
pub use connections::{ConnectionSettings, OVERFLOW_CONNECTIONS, serve};
pub use live::SubscriptionSettings;
pub use persisted::{ManifestError, PersistedOperations, TrustedMode};
pub use rate_limit::{
    ClientKey, MakeWithPeer, RateLimit, RateLimitSettings, RateLimiter, WithPeer,
};
pub use request_metrics::RequestMetrics;
pub use response_cache::{ResponseCache, ResponseCacheSettings, ResponseKey};

use crate::auth::Authenticator;
use crate::graphql::GraphqlApi;
use compression::{CompressWhenAccepted, CompressWhenAcceptedLayer};
use edge::{Edge, EdgeLayer, LazyTimeout, LazyTimeoutLayer, REQUEST_ID};
use rate_limit::RateLimitLayer;
use unread_body::{UnreadBody, UnreadBodyLayer};

/// Seconds a browser may reuse a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

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
    /// Who sent a request (`ADMIN_TOKEN`, JWTs) and whether it may read.
    pub auth: Authenticator,
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
    /// Whether request spans are exported: then a response-cache hit or miss is recorded on them.
    pub traces: bool,
    /// `http_ready`, set by the readiness check.
    pub ready: prometheus::IntGauge,
    /// The WebSocket and SSE transports' settings.
    pub subscriptions: SubscriptionSettings,
    /// Becomes true when shutdown begins: WebSockets close once their subscriptions completed.
    pub shutting_down: tokio::sync::watch::Sender<bool>,
    /// What popular clients send besides plain requests: persisted operations, batches.
    pub clients: ClientSupport,
    /// `CONSISTENCY_COOKIE_SECONDS` when the `plans_consistency` cookie is set (`CONSISTENCY_COOKIE`).
    pub consistency_cookie: Option<Duration>,
}

/// The HTTP layer's own metrics.
#[derive(Clone)]
pub struct HttpMetrics {
    /// `http_responses_server_errors_total`: responses with a 5xx status.
    pub server_errors: prometheus::IntCounter,
    /// `http_ready`: what `/health/ready` last answered (1 ready, 0 not).
    pub ready: prometheus::IntGauge,
    /// `http_server_request_duration_seconds`, and the refused requests' operations.
    pub requests: RequestMetrics,
}

impl HttpMetrics {
    /// `operations`: `graphql_operations_total`, where the edge counts refused requests.
    pub fn register(
        registry: &prometheus::Registry,
        operations: crate::graphql::OperationMetrics,
    ) -> prometheus::Result<Self> {
        Ok(Self {
            requests: RequestMetrics::register(registry, operations)?,
            server_errors: crate::telemetry::register_counter(
                registry,
                "http_responses_server_errors_total",
                "Responses with a 5xx status.",
            )?,
            ready: crate::telemetry::register_gauge(
                registry,
                "http_ready",
                "1 when /health/ready last answered ready, else 0 (set by each readiness probe).",
            )?,
        })
    }
}

/// Persisted operations (APQ, trusted documents), batches, and the body limit they share.
pub struct ClientSupport {
    pub persisted: PersistedOperations,
    /// `GRAPHQL_MAX_BATCH`: most requests in one batch; 0 refuses batches.
    pub max_batch: usize,
    /// `MAX_REQUEST_BYTES`, for a POST's whole body (a batch's too).
    pub max_request_bytes: usize,
}

/// The HTTP layer's settings, from [`crate::Config`].
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Slower requests get 408.
    pub request_timeout: Duration,
    pub cors_origins: CorsOrigins,
    /// `None`: no rate limits (the layer is left out).
    pub rate_limits: Option<RateLimitSettings>,
    /// When request spans are exported (OpenTelemetry): the share of requests that start a
    /// trace which are kept (their spans get the GraphQL attributes).
    pub traces: Option<f64>,
    /// `http_responses_server_errors_total`, counted at the edge.
    pub server_errors: prometheus::IntCounter,
    /// Request durations and refused operations, recorded at the edge.
    pub requests: RequestMetrics,
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

/// What a request passes below the edge, CORS and the rate limits: compression, the timeout and
/// the routes.
type Handlers = CompressWhenAccepted<LazyTimeout<Router>>;

/// The handlers, behind the rate limits when they are on.
type Limited = Either<RateLimit<Handlers>, Handlers>;

/// The server: the routes and, around them, the middleware. Layered around the `Router` rather
/// than with `Router::layer`, which would box the stack around every route (two more boxed
/// service clones and a boxed future per request).
pub type HttpService = Edge<UnreadBody<Either<Cors<Limited>, Limited>>>;

pub fn service(state: AppState, settings: &HttpSettings) -> HttpService {
    // The access log (one line per request, in a span carrying the request id) is an INFO
    // event: when the log filter drops it, it is left out rather than run for nothing.
    let access_log = crate::telemetry::access_log_on();
    let max_request_bytes = state.clients.max_request_bytes;
    let routes = Router::new()
        .route(
            request_metrics::GRAPHQL,
            get(live::get)
                .post(live::post)
                .fallback(endpoint::other_method),
        )
        .route(graphiql::ASSETS_PATH, get(graphiql::asset))
        .route(request_metrics::HEALTH_LIVE, get(health::live))
        .route(request_metrics::HEALTH_READY, get(health::ready))
        .route(request_metrics::METRICS, get(metrics::scrape))
        .with_state(Arc::new(state));
    ServiceBuilder::new()
        // Outermost, so every response carries the request id: CORS preflights, timeouts, 404s.
        .layer(EdgeLayer::new(
            access_log,
            settings.traces,
            settings.server_errors.clone(),
            settings.requests.clone(),
        ))
        // Outside everything that may refuse a request before reading its body (CORS, the rate
        // limits, the timeout, the handlers): the rest is discarded, or the connection closed.
        .layer(UnreadBodyLayer::new(max_request_bytes))
        .option_layer(cors(&settings.cors_origins, &settings.cors_allowed_headers))
        // Inside CORS, so a browser can read a 429; before anything else runs.
        .option_layer(RateLimitLayer::new(settings.rate_limits.clone()))
        // gzip or br, as the client accepts; small bodies (< 32 bytes) stay as they are.
        .layer(CompressWhenAcceptedLayer)
        // 408 for a slow request, inside CORS so a browser can read it.
        .layer(LazyTimeoutLayer::new(settings.request_timeout))
        // No body-limit layer: no route uses axum's body extractors (which read
        // `DefaultBodyLimit`); every body is read by `body::read` within `MAX_REQUEST_BYTES`,
        // and one over it gets 413 with a GraphQL error.
        .service(routes)
}

/// Request headers every CORS preflight allows: the content type, a credential, a consistency
/// token, and Apollo Client's client-awareness headers.
const CORS_ALLOWED_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::AUTHORIZATION,
    consistency::HEADER,
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
            .expose_headers([REQUEST_ID, header::RETRY_AFTER, consistency::HEADER])
            .max_age(CORS_MAX_AGE),
    )
}
