//! The layers every request passes, written for the hit path: the edge (request id, access log,
//! request metrics) and a timeout that costs nothing for a request answered at once. (The body
//! limit is no layer: [`super::body::read`], the one place a body is read, applies it.)
//!
//! tower-http's `SetRequestId` + `PropagateRequestId` + `Trace` are three layers (three futures
//! nested around the handler's, each moved into the next) for one job, and its `Timeout` arms a
//! timer for every request: registering it in the runtime's timer wheel and taking it out again
//! (a lock each time), and waking the timer driver when the new deadline is its nearest. A
//! response-cache hit is ready on its first poll; it never needed the timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

use super::request_metrics::{RequestMetrics, method_of, route_of};
use crate::telemetry::ACCESS_LOG;

/// The outermost layer: gives every response an `x-request-id` (the client's own, if it sent
/// one) and, when the access log is on, runs the request in a span carrying that id and writes
/// one line as the response goes out. Every response is timed and counted here, whichever layer
/// answered it (a response-cache hit, a 429, a 404).
#[derive(Clone)]
pub(crate) struct EdgeLayer {
    ids: RequestIds,
    access_log: bool,
    /// With traces exported: the share of requests without a `traceparent` that are kept.
    traces: Option<f64>,
    /// Leaked once per server, so each request's future holds a plain reference rather than a
    /// clone (an atomic reference count up and down per request).
    server_errors: &'static prometheus::IntCounter,
    /// Leaked once per server too.
    requests: &'static RequestMetrics,
}

impl EdgeLayer {
    /// `access_log`: whether to write the INFO line (left out where the log filter would drop
    /// it, so it costs nothing then). `traces`: when spans are exported (OpenTelemetry), the
    /// share of requests that start a trace which are kept (`OTEL_TRACES_SAMPLER`). A kept
    /// request's span carries the attributes of the GraphQL semantic conventions, continues the
    /// caller's W3C `traceparent` (a request with one is always given its span: its flag
    /// decides), and the log line names its trace id. A request not kept gets no span, and
    /// runs in an unsampled context, so that what it does (a miss's load, a write) is dropped
    /// with it rather than exported as traces of their own. Without traces, none of that is
    /// done. `server_errors` counts the 5xx responses; `requests` times every response and
    /// counts the refused operations.
    pub(crate) fn new(
        access_log: bool,
        traces: Option<f64>,
        server_errors: prometheus::IntCounter,
        requests: RequestMetrics,
    ) -> Self {
        Self {
            ids: RequestIds::new(),
            access_log,
            traces,
            server_errors: Box::leak(Box::new(server_errors)),
            requests: Box::leak(Box::new(requests)),
        }
    }
}

/// The span of a traced request, its parent the caller's `traceparent` if it sent one.
fn traced_span(request: &Request<Body>, id: &HeaderValue) -> tracing::Span {
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let method = request.method().as_str();
    let path = request.uri().path();
    // Named `POST /graphql` until the GraphQL layer knows the operation.
    let name = format!("{method} {path}");
    let span = tracing::info_span!(
        target: ACCESS_LOG,
        "request",
        otel.name = name.as_str(),
        otel.kind = "server",
        http.request.method = method,
        url.path = path,
        request_id = id.to_str().unwrap_or("-"),
        http.response.status_code = tracing::field::Empty,
        graphql.operation.type = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
        plans.response_cache.hit = tracing::field::Empty,
    );
    if request.headers().contains_key("traceparent") {
        let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new()
            .extract(&HeaderExtractor(request.headers()));
        let _ = span.set_parent(parent);
    }
    span
}

/// Reads W3C trace context headers for the propagator.
struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl opentelemetry::propagation::Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Edge {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    layer: EdgeLayer,
}

impl<S> Service<Request<Body>> for Edge<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let (method, route) = (method_of(request.method()), route_of(request.uri().path()));
        // Nothing below reads the id from the request, so it goes only on the response (and
        // into the access log's span).
        let id = match request.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => self.layer.ids.next(),
        };
        let traced = self.layer.traces.is_some_and(|kept| {
            request.headers().contains_key("traceparent") || rand::random::<f64>() < kept
        });
        // Attached before the access log's span is started, so that it is dropped too.
        let unsampled = (self.layer.traces.is_some() && !traced).then(|| UNSAMPLED.clone());
        let _unsampled = unsampled.clone().map(opentelemetry::Context::attach);
        let log = (traced || self.layer.access_log).then(|| AccessLog {
            span: if traced {
                traced_span(&request, &id)
            } else {
                tracing::info_span!(
                    target: ACCESS_LOG,
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = id.to_str().unwrap_or("-"),
                )
            },
            traced,
        });
        let inner = match &log {
            Some(log) => log.span.in_scope(|| self.inner.call(request)),
            None => self.inner.call(request),
        };
        EdgeFuture {
            inner,
            id: Some(id),
            log,
            unsampled,
            server_errors: self.layer.server_errors,
            requests: self.layer.requests,
            started,
            method,
            route,
        }
    }
}

/// The context a request that is not kept runs in: a remote parent that is not sampled, so every
/// span started under it is dropped ([`crate::telemetry`]'s sampler follows the parent). One for
/// all such requests: nothing of theirs is exported, so they need no trace id of their own.
static UNSAMPLED: std::sync::LazyLock<opentelemetry::Context> = std::sync::LazyLock::new(|| {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(rand::random::<u128>() | 1),
        SpanId::from(rand::random::<u64>() | 1),
        TraceFlags::default(),
        true,
        TraceState::default(),
    ))
});

struct AccessLog {
    span: tracing::Span,
    traced: bool,
}

pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
        log: Option<AccessLog>,
        unsampled: Option<opentelemetry::Context>,
        server_errors: &'static prometheus::IntCounter,
        requests: &'static RequestMetrics,
        started: Instant,
        // The request's `method` and `route` labels.
        method: u8,
        route: u8,
    }
}

impl<F, E> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _unsampled = this.unsampled.clone().map(opentelemetry::Context::attach);
        let polled = match this.log {
            Some(log) => log.span.in_scope(|| this.inner.poll(cx)),
            None => this.inner.poll(cx),
        };
        let mut response = ready!(polled)?;
        let elapsed = this.started.elapsed();
        if response.status().is_server_error() {
            this.server_errors.inc();
        }
        this.requests.observe(
            *this.method,
            *this.route,
            response.status(),
            elapsed.as_secs_f64(),
        );
        this.requests.count_refusal(&response);
        if let Some(id) = this.id.take() {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        if let Some(log) = this.log.take() {
            let status = response.status().as_u16();
            let latency = elapsed.as_millis();
            if log.traced {
                use opentelemetry::trace::TraceContextExt as _;
                use tracing_opentelemetry::OpenTelemetrySpanExt as _;
                log.span.record("http.response.status_code", status);
                let trace_id = log.span.context().span().span_context().trace_id();
                tracing::info!(
                    target: ACCESS_LOG,
                    parent: &log.span,
                    status,
                    latency = %format_args!("{latency} ms"),
                    trace_id = %trace_id,
                    "finished processing request"
                );
            } else {
                tracing::info!(
                    target: ACCESS_LOG,
                    parent: &log.span,
                    status,
                    latency = %format_args!("{latency} ms"),
                    "finished processing request"
                );
            }
        }
        Poll::Ready(Ok(response))
    }
}

/// Request ids shaped like UUIDs: a random prefix chosen at start, then a counter. Unique per
/// process and unlikely to repeat across processes, without asking the kernel for random bytes
/// on every request (a syscall on the hot path).
#[derive(Clone)]
struct RequestIds {
    /// `xxxxxxxx-xxxx-xxxx-`: the random prefix, formatted once.
    prefix: [u8; 19],
    counter: Arc<AtomicU64>,
}

impl RequestIds {
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

    fn next(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut id = [b'-'; 36];
        id[..19].copy_from_slice(&self.prefix);
        write_hex(n >> 48, &mut id[19..23]);
        write_hex(n, &mut id[24..36]);
        HeaderValue::from_bytes(&id).expect("hex digits and dashes are a valid header value")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_unique_and_shaped_like_uuids() {
        let ids = RequestIds::new();
        let ids: Vec<String> = (0..3)
            .map(|_| ids.next().to_str().unwrap().to_owned())
            .collect();
        assert_ne!(ids[0], ids[1]);
        assert_ne!(ids[1], ids[2]);
        for id in &ids {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
        }
    }
}
