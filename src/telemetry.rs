//! Logging and metrics plumbing: one tracing subscriber for the process, filtered by `RUST_LOG`,
//! and the one way metrics are registered with the Prometheus registry.

use prometheus::{IntCounter, IntGauge, Opts, Registry};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, from `main` (tests install their own, if any).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|err| {
        eprintln!("invalid RUST_LOG {filter:?} ({err}); using \"info\"");
        EnvFilter::new("info")
    });
    tracing_subscriber::fmt().with_env_filter(filter).init();
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
