//! The log filter and the OpenTelemetry trace export.

use clap::Args;

/// Every default of this group, written once: the flags and [`TelemetryConfig::default`] both read them.
pub mod defaults {
    /// INFO without the access log (a line per request costs the hot path about a quarter of
    /// its throughput): `RUST_LOG=info` brings it back.
    pub const LOG_FILTER: &str = "info,plans_api::access=warn";
    pub const OTEL_SERVICE_NAME: &str = "plans-api";
    pub const OTEL_TRACES_SAMPLER: &str = "parentbased_always_on";
}

/// Logs and traces.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logs and traces")]
pub struct TelemetryConfig {
    /// Tracing filter, e.g. `info` or `plans_api=debug,info`.
    #[arg(long = "log", env = "RUST_LOG", default_value = defaults::LOG_FILTER)]
    pub log_filter: String,

    /// OpenTelemetry: where to send traces over OTLP/HTTP (protobuf), e.g.
    /// `http://otel-collector:4318` (`/v1/traces` is appended). Unset (the default): no traces.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otel_exporter_otlp_endpoint: Option<String>,

    /// The `service.name` of the traces.
    #[arg(long, env = "OTEL_SERVICE_NAME", default_value = defaults::OTEL_SERVICE_NAME)]
    pub otel_service_name: String,

    /// Which traces to keep: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio (the ratio in OTEL_TRACES_SAMPLER_ARG).
    #[arg(long, env = "OTEL_TRACES_SAMPLER", default_value = defaults::OTEL_TRACES_SAMPLER,
          value_parser = ["always_on", "always_off", "traceidratio", "parentbased_always_on",
                          "parentbased_always_off", "parentbased_traceidratio"])]
    pub otel_traces_sampler: String,

    /// The ratio of the `traceidratio` samplers, 0.0 to 1.0 (default 1.0).
    #[arg(long, env = "OTEL_TRACES_SAMPLER_ARG", value_parser = parse_ratio)]
    pub otel_traces_sampler_arg: Option<f64>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            log_filter: LOG_FILTER.to_owned(),
            otel_exporter_otlp_endpoint: None,
            otel_service_name: OTEL_SERVICE_NAME.to_owned(),
            otel_traces_sampler: OTEL_TRACES_SAMPLER.to_owned(),
            otel_traces_sampler_arg: None,
        }
    }
}

fn parse_ratio(raw: &str) -> Result<f64, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|ratio| (0.0..=1.0).contains(ratio))
        .ok_or_else(|| format!("{raw:?} is not a ratio from 0.0 to 1.0"))
}
