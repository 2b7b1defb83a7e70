//! What every handler shares (one [`AppState`] behind an `Arc`), what the HTTP layer asks of the
//! rest of the application ([`Probes`]), and the layer's settings and metrics.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};

use super::endpoint::persisted::PersistedOperations;
use super::middleware::rate_limit::RateLimitSettings;
use super::middleware::request_metrics::RequestMetrics;
use super::protocol::caching::QueryCaching;
use super::response_cache::ResponseCache;
use super::subscriptions::SubscriptionSettings;
use crate::auth::Authenticator;
use crate::graphql::GraphqlApi;

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
pub(crate) type SharedState = Arc<AppState>;

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
