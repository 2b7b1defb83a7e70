//! HTTP wiring (axum): the routes, the layers around them, the shared state, and the response
//! cache at the edge. Talks to the GraphQL layer only; what it needs from the rest of the
//! application (health, metrics) comes through [`Probes`].
//!
//! The rooms, along a request's path:
//!
//! - [`connections`]: accepting and serving connections (timeouts, the connection limit);
//! - [`middleware`]: the layers every request passes (request id, access log, metrics, refusals
//!   that keep the connection, CORS, rate limits, compression, timeout);
//! - [`routes`]: which handler a request goes to, the transport picked first at `/graphql`;
//! - [`admission`]: who is asking, decided the same way for every transport;
//! - [`endpoint`]: GraphQL over HTTP (GET, POST, batches, persisted operations), and the one
//!   `execute` they share;
//! - [`subscriptions`]: SSE and WebSocket;
//! - [`response_cache`]: the exact bytes of answers, by request;
//! - [`consistency`]: a request's consistency token, honoured before either cache answers;
//! - [`protocol`]: media types, responses, caching headers;
//! - [`drain`]: discarding what is left of a body, within bounds;
//! - [`state`]: what the handlers share; `health`, `metrics` and `graphiql`: the other routes.

mod admission;
mod connections;
mod consistency;
mod drain;
mod endpoint;
mod graphiql;
mod health;
mod metrics;
mod middleware;
mod protocol;
mod response_cache;
mod routes;
mod state;
mod subscriptions;

use axum::Router;
use tower::ServiceBuilder;
use tower::util::Either;
use tower_http::cors::Cors;

pub use connections::{ConnectionSettings, serve};
pub use endpoint::persisted::{ManifestError, PersistedOperations, TrustedMode};
pub use middleware::rate_limit::RateLimitSettings;
pub use protocol::caching::QueryCaching;
pub use response_cache::{ResponseCache, ResponseCacheSettings, ResponseKey};
pub use state::{AppState, ClientSupport, CorsOrigins, HttpMetrics, HttpSettings, Probes};
pub use subscriptions::SubscriptionSettings;

use middleware::compression::{CompressWhenAccepted, CompressWhenAcceptedLayer};
use middleware::cors::cors;
use middleware::edge::{Edge, EdgeLayer};
use middleware::rate_limit::{RateLimit, RateLimitLayer};
use middleware::timeout::{LazyTimeout, LazyTimeoutLayer};

/// What a request passes below the edge, CORS and the rate limits: compression, the timeout and
/// the routes.
type Handlers = CompressWhenAccepted<LazyTimeout<Router>>;

/// The handlers, behind the rate limits when they are on.
type Limited = Either<RateLimit<Handlers>, Handlers>;

/// The server: the routes and, around them, the middleware. Layered around the `Router` rather
/// than with `Router::layer`, which would box the stack around every route (two more boxed
/// service clones and a boxed future per request).
pub type HttpService = Edge<Either<Cors<Limited>, Limited>>;

pub fn service(state: AppState, settings: &HttpSettings) -> HttpService {
    // The access log (one line per request, in a span carrying the request id) is an INFO
    // event: when the log filter drops it, it is left out rather than run for nothing.
    let access_log = crate::telemetry::access_log_on();
    let routes = routes::router(state);
    ServiceBuilder::new()
        // Outermost, so every response carries the request id: CORS preflights, timeouts, 404s.
        .layer(EdgeLayer::new(
            access_log,
            settings.traces,
            settings.server_errors.clone(),
            settings.requests.clone(),
        ))
        .option_layer(cors(&settings.cors_origins, &settings.cors_allowed_headers))
        // Inside CORS, so a browser can read a 429; before anything else runs.
        .option_layer(RateLimitLayer::new(settings.rate_limits.clone()))
        // gzip or br, as the client accepts; small bodies (< 32 bytes) stay as they are.
        .layer(CompressWhenAcceptedLayer)
        // 408 for a slow request, inside CORS so a browser can read it.
        .layer(LazyTimeoutLayer::new(settings.request_timeout))
        // No body-limit layer: no route uses axum's body extractors (which read
        // `DefaultBodyLimit`); every body is read by `endpoint::read_body` within `MAX_REQUEST_BYTES`,
        // and one over it gets 413 with a GraphQL error.
        .service(routes)
}
