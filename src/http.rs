//! HTTP wiring (axum): routes, middleware and the shared application state.

mod graphql;
mod health;
mod metrics;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::routing::get;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
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

/// Request ids shaped like UUIDs: a random prefix chosen at start, then a counter. Unique per
/// process and unlikely to repeat across processes, without tower-http's `MakeRequestUuid` asking
/// the kernel for random bytes on every request (a syscall on the hot path).
#[derive(Clone)]
struct MakeRequestId {
    prefix: u64,
    counter: Arc<AtomicU64>,
}

impl MakeRequestId {
    fn new() -> Self {
        Self {
            prefix: rand::random(),
            counter: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            self.prefix >> 32,
            (self.prefix >> 16) & 0xffff,
            self.prefix & 0xffff,
            (n >> 48) & 0xffff,
            n & 0xffff_ffff_ffff
        );
        axum::http::HeaderValue::from_str(&id)
            .ok()
            .map(RequestId::new)
    }
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
                .layer(SetRequestIdLayer::new(
                    request_id.clone(),
                    MakeRequestId::new(),
                ))
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
