//! `http_server_request_duration_seconds{method, route, status}` (OpenTelemetry's
//! `http.server.request.duration`), observed by the edge for every response, and the requests
//! refused before GraphQL ran, which the edge counts in `graphql_operations_total`.
//!
//! Labels come from fixed sets: the method (the standard ones, else `_OTHER`), the route the
//! router matched (never the raw path; `unmatched` for any other path) and the status code. The
//! edge runs outside the router, so the route is found from the path here, by the same table the
//! router is built from ([`ROUTES`]). Each (method, route, status) series is resolved the first
//! time it is seen and kept in a slot of its own, so observing is an index, an atomic load and the
//! histogram's own atomics: no label is formatted or hashed per request. (A status outside
//! [`STATUSES`] is resolved on every use: rare, and still correct.)

use std::sync::OnceLock;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use prometheus::{Histogram, HistogramOpts, HistogramVec, Registry};

use crate::graphql::OperationMetrics;
use crate::http::graphiql::ASSETS_PATH;
use crate::http::protocol::respond::RefusedOperation;

/// The paths the router serves; [`super::service`] routes them by these constants.
pub(crate) const GRAPHQL: &str = "/graphql";
pub(crate) const HEALTH_LIVE: &str = "/health/live";
pub(crate) const HEALTH_READY: &str = "/health/ready";
pub(crate) const METRICS: &str = "/metrics";

/// The `route` label's values; the last is every path the router has no route for.
const ROUTES: [&str; 6] = [
    GRAPHQL,
    ASSETS_PATH,
    HEALTH_LIVE,
    HEALTH_READY,
    METRICS,
    "unmatched",
];

/// The `method` label's values: the methods of RFC 9110 and PATCH, then `_OTHER` (as
/// OpenTelemetry's conventions name any other, so a client cannot grow the label set).
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

/// The statuses this server answers with, each with a slot of its own.
/// (200 first: it is looked up on every response.)
const STATUSES: [u16; 17] = [
    200, 101, 204, 304, 400, 401, 403, 404, 405, 406, 408, 413, 415, 429, 500, 503, 504,
];

/// Bucket bounds in seconds, 100 µs to 10 s: a response-cache hit takes tens of microseconds, a
/// database read milliseconds, and the request timeout is seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The request duration histogram and the count of refused operations. Cheap to clone.
#[derive(Clone)]
pub struct RequestMetrics {
    durations: HistogramVec,
    /// One slot per (method, route, status in [`STATUSES`]).
    series: std::sync::Arc<[OnceLock<Histogram>]>,
    operations: OperationMetrics,
}

impl std::fmt::Debug for RequestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetrics").finish_non_exhaustive()
    }
}

impl RequestMetrics {
    /// `operations`: where requests refused before GraphQL ran are counted.
    pub fn register(registry: &Registry, operations: OperationMetrics) -> prometheus::Result<Self> {
        let durations = HistogramVec::new(
            HistogramOpts::new(
                "http_server_request_duration_seconds",
                "Time from a request's arrival to its response's headers, by method, matched route and status (its _count is the request counter; response-cache hits included).",
            )
            .buckets(BUCKETS.to_vec()),
            &["method", "route", "status"],
        )?;
        registry.register(Box::new(durations.clone()))?;
        let slots = METHODS.len() * ROUTES.len() * STATUSES.len();
        Ok(Self {
            durations,
            series: (0..slots).map(|_| OnceLock::new()).collect(),
            operations,
        })
    }

    /// Records one response: `seconds` after its request arrived, with `status`. `method` and
    /// `route` are what [`method_of`] and [`route_of`] said of the request.
    pub(crate) fn observe(&self, method: u8, route: u8, status: StatusCode, seconds: f64) {
        let (method, route) = (usize::from(method), usize::from(route));
        let labels = [METHODS[method], ROUTES[route], status.as_str()];
        match STATUSES.iter().position(|known| *known == status.as_u16()) {
            Some(index) => self.series[(method * ROUTES.len() + route) * STATUSES.len() + index]
                .get_or_init(|| self.durations.with_label_values(&labels))
                .observe(seconds),
            None => self.durations.with_label_values(&labels).observe(seconds),
        }
    }

    /// Counts the operation `response` refused, if it is such a refusal ([`crate::http::protocol::respond::mark_refused`]).
    pub(crate) fn count_refusal(&self, response: &Response) {
        if let Some(refused) = response.extensions().get::<RefusedOperation>() {
            self.operations.count(refused.kind, Some(refused.code));
        }
    }
}

/// The `method` label of a request's method.
pub(crate) fn method_of(method: &Method) -> u8 {
    match method.as_str() {
        "GET" => 0,
        "HEAD" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        "CONNECT" => 5,
        "OPTIONS" => 6,
        "TRACE" => 7,
        "PATCH" => 8,
        _ => 9,
    }
}

/// The `route` label of a request's path: the route the router matches it to, or `unmatched`.
pub(crate) fn route_of(path: &str) -> u8 {
    match path {
        GRAPHQL => 0,
        HEALTH_LIVE => 2,
        HEALTH_READY => 3,
        METRICS => 4,
        _ => {
            let assets = ASSETS_PATH.trim_end_matches("{name}");
            match path.strip_prefix(assets) {
                Some(name) if !name.is_empty() && !name.contains('/') => 1,
                _ => 5,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_the_routers_and_any_other_path_is_unmatched() {
        let route = |path| ROUTES[usize::from(route_of(path))];
        assert_eq!(route("/graphql"), "/graphql");
        assert_eq!(route("/graphql/assets/graphiql.js"), ASSETS_PATH);
        assert_eq!(route("/health/live"), "/health/live");
        assert_eq!(route("/health/ready"), "/health/ready");
        assert_eq!(route("/metrics"), "/metrics");
        for path in [
            "/",
            "/graphql/",
            "/graphql/assets/",
            "/graphql/assets/a/b",
            "/metrics2",
            "/wp-login.php",
        ] {
            assert_eq!(route(path), "unmatched", "{path}");
        }
    }

    #[test]
    fn methods_outside_the_standard_set_are_other() {
        assert_eq!(METHODS[usize::from(method_of(&Method::POST))], "POST");
        assert_eq!(METHODS[usize::from(method_of(&Method::PATCH))], "PATCH");
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(METHODS[usize::from(method_of(&custom))], "_OTHER");
    }

    #[test]
    fn a_series_is_resolved_once_and_an_unlisted_status_still_counts() {
        let registry = Registry::new();
        let operations = OperationMetrics::register(&Registry::new()).unwrap();
        let metrics = RequestMetrics::register(&registry, operations).unwrap();
        metrics.observe(2, 0, StatusCode::OK, 0.000_05);
        metrics.observe(2, 0, StatusCode::OK, 0.2);
        metrics.observe(0, 5, StatusCode::IM_A_TEAPOT, 0.001);
        let families = registry.gather();
        let series = families[0].get_metric();
        assert_eq!(series.len(), 2);
        let count = |labels: [&str; 3]| {
            series
                .iter()
                .find(|metric| {
                    let values: Vec<&str> = metric.get_label().iter().map(|l| l.value()).collect();
                    // Labels come sorted by name: method, route, status.
                    values == labels
                })
                .map(|metric| metric.get_histogram().get_sample_count())
        };
        assert_eq!(count(["POST", "/graphql", "200"]), Some(2));
        assert_eq!(count(["GET", "unmatched", "418"]), Some(1));
    }
}
