//! The live lists' sizing ([`LiveSettings`]) and Prometheus metrics ([`LiveMetrics`]).

use std::time::Duration;

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

use crate::telemetry::{register_counter, register_gauge};

/// Prometheus metrics of the live lists.
#[derive(Clone)]
pub struct LiveMetrics {
    pub active: IntGauge,
    pub events: IntCounter,
    pub delay: Histogram,
}

impl LiveMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let delay = Histogram::with_opts(
            HistogramOpts::new(
                "plan_subscription_event_delay_seconds",
                "Delay from the invalidation of a live list's key to the event a subscriber got.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )?;
        registry.register(Box::new(delay.clone()))?;
        Ok(Self {
            active: register_gauge(
                registry,
                "plan_subscriptions_active",
                "Live plan-list subscriptions open now.",
            )?,
            events: register_counter(
                registry,
                "plan_subscription_events_total",
                "Lists sent to live subscriptions (first events included).",
            )?,
            delay,
        })
    }

    /// Metrics registered nowhere (for services built outside a server).
    pub(crate) fn unregistered() -> Self {
        Self::register(&Registry::new()).expect("a fresh registry accepts every metric")
    }
}

/// Sizing of the live lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSettings {
    /// Live subscriptions per process; beyond it a new one is refused.
    pub max_subscriptions: usize,
    /// How often a watched key is re-read even without an invalidation (the plan cache's TTL;
    /// zero: never).
    pub refresh_every: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            max_subscriptions: 10_000,
            refresh_every: Duration::ZERO,
        }
    }
}
