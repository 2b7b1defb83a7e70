//! Logging, traces and metrics plumbing: one tracing subscriber for the process (the log,
//! filtered by `RUST_LOG`, and, when an OTLP endpoint is set, OpenTelemetry traces), and the one
//! way metrics are registered with the Prometheus registry.

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{Link, SpanContext, SpanKind, TraceContextExt as _, TraceId};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    Sampler, SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample,
};
use prometheus::{IntCounter, IntGauge, Opts, Registry};
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// Where and what to export (from `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`,
/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`).
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The collector's base URL; spans go to `<endpoint>/v1/traces`.
    pub endpoint: String,
    pub service_name: String,
    /// One of the standard sampler names.
    pub sampler: String,
    pub sampler_arg: Option<f64>,
}

impl TraceSettings {
    /// The share of requests without a `traceparent` whose trace is kept: decided at the edge
    /// (`http::edge`) before any span exists, so a request that is not kept costs no span.
    pub fn request_ratio(&self) -> f64 {
        match self.sampler.as_str() {
            "always_off" | "parentbased_always_off" => 0.0,
            "traceidratio" | "parentbased_traceidratio" => {
                self.sampler_arg.unwrap_or(1.0).clamp(0.0, 1.0)
            }
            _ => 1.0,
        }
    }

    fn sampler(&self) -> Sampler {
        let ratio = || Sampler::TraceIdRatioBased(self.sampler_arg.unwrap_or(1.0));
        match self.sampler.as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => ratio(),
            "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            "parentbased_traceidratio" => Sampler::ParentBased(Box::new(ratio())),
            _ => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        }
    }
}

/// The SDK's sampler. A request's root span (kind server, no parent) exists only if the edge
/// kept the request ([`TraceSettings::request_ratio`]), so it is kept; a span with a parent
/// follows it (a request's trace is kept or dropped whole, also under `traceidratio`, and the
/// caller's `traceparent` flag decides a continued trace). Other root spans (the change feed's,
/// live-list reloads, WebSocket subscriptions) are sampled by `OTEL_TRACES_SAMPLER`.
#[derive(Debug, Clone)]
struct DecidedAtTheEdge(Sampler);

impl ShouldSample for DecidedAtTheEdge {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        let parent = parent_context
            .map(|cx| cx.span().span_context().clone())
            .filter(SpanContext::is_valid);
        let decision = match &parent {
            Some(parent) if parent.is_sampled() => SamplingDecision::RecordAndSample,
            Some(_) => SamplingDecision::Drop,
            None if *span_kind == SpanKind::Server => SamplingDecision::RecordAndSample,
            None => {
                return self.0.should_sample(
                    parent_context,
                    trace_id,
                    name,
                    span_kind,
                    attributes,
                    links,
                );
            }
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: parent
                .map(|parent| parent.trace_state().clone())
                .unwrap_or_default(),
        }
    }
}

/// The installed telemetry; [`Telemetry::shutdown`] sends the spans still buffered.
#[must_use = "call shutdown() at exit, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what the batch processor still holds and stops it (blocking: call it once the
    /// server has stopped).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("could not flush the OpenTelemetry exporter: {err}");
        }
    }
}

/// The target of the access-log lines (`RUST_LOG=plans_api::access=info` turns on only them).
pub const ACCESS_LOG: &str = "plans_api::access";

/// Whether `RUST_LOG` asks for the access log, as [`init`] found it.
static ACCESS_LOG_ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether the log writes a line per request (`RUST_LOG` at INFO for [`ACCESS_LOG`]): what
/// [`init`] found, or, where it was not called (in-process tests), what the subscriber says.
/// Not `tracing::enabled!` alone: with traces exported, the exporter takes this crate's INFO
/// spans, and every request would build an access-log span that nobody writes.
pub fn access_log_on() -> bool {
    ACCESS_LOG_ON.get().copied().unwrap_or_else(|| {
        tracing::enabled!(Level::INFO) || tracing::enabled!(target: ACCESS_LOG, Level::INFO)
    })
}

/// Installs the global subscriber. Call once, from `main` (tests install their own, if any).
/// With `traces`, spans of this crate at INFO and above are exported over OTLP/HTTP in batches,
/// whatever `RUST_LOG` says of the log.
pub fn init(filter: &str, traces: Option<&TraceSettings>) -> Telemetry {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|err| {
        eprintln!("invalid RUST_LOG {filter:?} ({err}); using \"info\"");
        EnvFilter::new("info")
    });
    // Asked of the log's filter alone, before the export (which takes this crate's INFO spans
    // whatever the log says) is installed beside it.
    let log_only = tracing_subscriber::registry().with(filter.clone());
    let logs_requests = tracing::subscriber::with_default(
        log_only,
        || tracing::enabled!(target: ACCESS_LOG, Level::INFO),
    );
    let _ = ACCESS_LOG_ON.set(logs_requests);
    let log = tracing_subscriber::fmt::layer().with_filter(filter);
    let provider = traces.and_then(|settings| match tracer_provider(settings) {
        Ok(provider) => Some(provider),
        Err(err) => {
            eprintln!("could not set up the OTLP exporter ({err}); no traces");
            None
        }
    });
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("plans-api"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(Targets::new().with_target("plans_api", Level::INFO))
    });
    tracing_subscriber::registry().with(log).with(otel).init();
    Telemetry { provider }
}

fn tracer_provider(
    settings: &TraceSettings,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let endpoint = format!("{}/v1/traces", settings.endpoint.trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(DecidedAtTheEdge(settings.sampler()))
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        )
        .build())
}

/// Renames the current span's OpenTelemetry span (the request's, when traces are exported), e.g.
/// to `query GetPlans` once the operation is known. (Recording `otel.name` works only before a
/// span is first entered; an exported request span has been entered by then.)
pub fn rename_current_span(name: impl Into<std::borrow::Cow<'static, str>>) {
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;
    tracing::Span::current().context().span().update_name(name);
}

/// A counter named `name`, registered with `registry`.
pub fn register_counter(
    registry: &Registry,
    name: &str,
    help: &str,
) -> prometheus::Result<IntCounter> {
    let counter = IntCounter::with_opts(Opts::new(name, help))?;
    registry.register(Box::new(counter.clone()))?;
    Ok(counter)
}

/// A gauge named `name`, registered with `registry`.
pub fn register_gauge(registry: &Registry, name: &str, help: &str) -> prometheus::Result<IntGauge> {
    let gauge = IntGauge::with_opts(Opts::new(name, help))?;
    registry.register(Box::new(gauge.clone()))?;
    Ok(gauge)
}
