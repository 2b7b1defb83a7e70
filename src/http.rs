//! HTTP wiring (axum): routes, middleware and the shared application state.

mod graphql;
mod health;
mod metrics;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::graphql::{AppSchema, ResponseCache};
use crate::plans::PlanService;

/// Largest accepted request body; GraphQL documents for this API are a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a handler needs; cheap to clone (Arcs inside).
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// `None` when off (`RESPONSE_CACHE_MAX_ENTRIES=0` or `PLAN_CACHE_TTL=0`).
    pub responses: Option<Arc<ResponseCache>>,
    pub plans: Arc<PlanService>,
    pub metrics: prometheus::Registry,
    /// Set once migrations ran and the cache was warmed.
    pub started: Arc<AtomicBool>,
    pub database_timeout: Duration,
}

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/graphql", get(graphql::graphiql).post(graphql::execute))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::render))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(
                    |request: &axum::http::Request<_>| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                        )
                    },
                ))
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    request_timeout,
                )),
        )
}
