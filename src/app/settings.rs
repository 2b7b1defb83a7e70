//! The [`Config`] turned into each layer's settings: the one place that knows both the
//! configuration's names and the layers' types.

use std::sync::Arc;

use tracing::{info, warn};

use super::StartupError;
use crate::Config;
use crate::auth::{Authenticator, JwtSettings};
use crate::cache::CacheSettings;
use crate::config::{AllowedOrigins, TrustedDocuments};
use crate::graphql::SchemaLimits;
use crate::http::{
    ClientSupport, ConnectionSettings, CorsOrigins, HttpMetrics, HttpSettings, PersistedOperations,
    QueryCaching, RateLimitSettings, SubscriptionSettings, TrustedMode,
};
use crate::plans::LiveSettings;

/// The HTTP layer's settings; `rate_limits` from [`rate_limits`], `http_metrics` registered.
pub(super) fn http_settings(
    config: &Config,
    rate_limits: Option<RateLimitSettings>,
    http_metrics: &HttpMetrics,
) -> HttpSettings {
    HttpSettings {
        request_timeout: config.http.request_timeout(),
        cors_origins: cors_origins(&config.http.cors_allowed_origins),
        rate_limits,
        traces: trace_settings(config).map(|settings| settings.request_ratio()),
        server_errors: http_metrics.server_errors.clone(),
        requests: http_metrics.requests.clone(),
        cors_allowed_headers: config
            .http
            .cors_allowed_headers
            .0
            .iter()
            .filter_map(|name| axum::http::HeaderName::from_bytes(name.as_bytes()).ok())
            .collect(),
    }
}

pub(super) fn query_caching(config: &Config) -> QueryCaching {
    QueryCaching::new(
        config.http.http_cache_max_age,
        config.database.plan_cache_ttl,
    )
}

pub(super) fn subscription_settings(config: &Config) -> SubscriptionSettings {
    SubscriptionSettings {
        per_connection: usize::try_from(config.subscriptions.subscriptions_per_connection)
            .unwrap_or(usize::MAX),
        keepalive: config.subscriptions.subscription_keepalive(),
    }
}

pub(super) fn connection_settings(config: &Config) -> ConnectionSettings {
    if config.http.http_idle_timeout <= config.http.request_timeout {
        warn!(
            "HTTP_IDLE_TIMEOUT is not above REQUEST_TIMEOUT: a request that writes nothing until then is cut off at HTTP_IDLE_TIMEOUT"
        );
    }
    ConnectionSettings {
        header_read_timeout: std::time::Duration::from_secs(config.http.http_header_read_timeout),
        idle_timeout: std::time::Duration::from_secs(config.http.http_idle_timeout),
        max_connections: usize::try_from(config.http.http_max_connections).unwrap_or(usize::MAX),
        max_request_bytes: config.http.max_request_bytes(),
    }
}

pub(super) fn live_settings(config: &Config) -> LiveSettings {
    LiveSettings {
        max_subscriptions: usize::try_from(config.subscriptions.subscriptions_max)
            .unwrap_or(usize::MAX),
        refresh_every: config.database.plan_cache_ttl(),
    }
}

pub(super) fn cache_settings(config: &Config) -> CacheSettings {
    CacheSettings {
        ttl: config.database.plan_cache_ttl(),
        max_entries: config.database.plan_cache_max_entries,
    }
}

/// The trace export settings; `None` when `OTEL_EXPORTER_OTLP_ENDPOINT` is unset or empty.
pub fn trace_settings(config: &Config) -> Option<crate::telemetry::TraceSettings> {
    let endpoint = config
        .telemetry
        .otel_exporter_otlp_endpoint
        .as_deref()?
        .trim();
    (!endpoint.is_empty()).then(|| crate::telemetry::TraceSettings {
        endpoint: endpoint.to_owned(),
        service_name: config.telemetry.otel_service_name.clone(),
        sampler: config.telemetry.otel_traces_sampler.clone(),
        sampler_arg: config.telemetry.otel_traces_sampler_arg,
    })
}

/// The rate limits' settings; `None` when `RATE_LIMIT_PER_SECOND` is 0. The counter is
/// registered either way, so dashboards see a zero rather than no series.
pub(super) fn rate_limits(
    config: &Config,
    auth: &Authenticator,
    metrics: &prometheus::Registry,
) -> Result<Option<RateLimitSettings>, StartupError> {
    let refused = crate::telemetry::register_counter(
        metrics,
        "http_requests_rate_limited_total",
        "Requests refused with 429 because their client was over its rate limit",
    )?;
    if config.rate_limit.rate_limit_per_second == 0 {
        return Ok(None);
    }
    let proxies = config.rate_limit.rate_limit_trusted_proxies.clone();
    let trusted_proxy: Option<Arc<dyn Fn(std::net::IpAddr) -> bool + Send + Sync>> =
        (!proxies.0.is_empty())
            .then(|| Arc::new(move |ip| proxies.contains(ip)) as Arc<dyn Fn(_) -> _ + Send + Sync>);
    info!(
        per_second = config.rate_limit.rate_limit_per_second,
        burst = config.rate_limit.rate_limit_burst(),
        "rate limits on"
    );
    Ok(Some(RateLimitSettings {
        per_second: config.rate_limit.rate_limit_per_second,
        burst: config.rate_limit.rate_limit_burst(),
        trusted_proxy,
        auth: auth.clone(),
        refused,
    }))
}

/// `None` when no JWT key is configured (then only the admin token is accepted).
pub fn jwt_settings(config: &Config) -> Option<JwtSettings> {
    let configured = config.auth.jwt_secret.is_some()
        || config.auth.jwt_jwks_url.is_some()
        || config.auth.jwt_jwks_file.is_some();
    configured.then(|| JwtSettings {
        secret: config
            .auth
            .jwt_secret
            .as_ref()
            .map(|secret| secret.as_bytes().to_vec()),
        jwks_url: config.auth.jwt_jwks_url.clone(),
        jwks_file: config.auth.jwt_jwks_file.clone(),
        issuer: config.auth.jwt_issuer.clone(),
        audience: config.auth.jwt_audience.clone(),
        operator_claim: config.auth.jwt_operator_claim.clone(),
        role_claim: config.auth.jwt_role_claim.clone(),
    })
}

pub(super) fn schema_limits(config: &Config) -> SchemaLimits {
    let size = |value: u64| usize::try_from(value).unwrap_or(usize::MAX);
    SchemaLimits {
        max_depth: size(config.graphql.graphql_max_depth),
        max_complexity: size(config.graphql.graphql_max_complexity),
        max_root_fields: size(config.graphql.graphql_max_root_fields),
        max_aliases: size(config.graphql.graphql_max_aliases),
        introspection: config.graphql.graphql_introspection,
        traces: false,
    }
}

/// Persisted operations (the manifest read and checked), batches and the body limit.
pub(super) fn client_support(config: &Config) -> Result<ClientSupport, StartupError> {
    let manifest = config
        .graphql
        .trusted_documents_file
        .as_ref()
        .map(|path| {
            std::fs::read_to_string(path).map_err(|source| StartupError::TrustedDocumentsFile {
                path: path.clone(),
                source,
            })
        })
        .transpose()?;
    let mode = config.graphql.trusted_documents.map(|mode| match mode {
        TrustedDocuments::Off => TrustedMode::Off,
        TrustedDocuments::Allow => TrustedMode::Allow,
        TrustedDocuments::Require => TrustedMode::Require,
    });
    let persisted =
        PersistedOperations::new(manifest.as_deref(), mode, config.graphql.apq_max_entries)?;
    if persisted.mode() != TrustedMode::Off {
        info!(mode = ?persisted.mode(), "trusted documents manifest loaded and checked");
    }
    Ok(ClientSupport {
        persisted,
        max_batch: usize::try_from(config.graphql.graphql_max_batch).unwrap_or(usize::MAX),
        max_request_bytes: config.http.max_request_bytes(),
    })
}

fn cors_origins(origins: &AllowedOrigins) -> CorsOrigins {
    match origins {
        AllowedOrigins::None => CorsOrigins::None,
        AllowedOrigins::Any => CorsOrigins::Any,
        // Parsing checked each is a plain `scheme://host[:port]`, so each is a valid header value.
        AllowedOrigins::List(origins) => CorsOrigins::List(
            origins
                .iter()
                .filter_map(|origin| axum::http::HeaderValue::from_str(origin).ok())
                .collect(),
        ),
    }
}
