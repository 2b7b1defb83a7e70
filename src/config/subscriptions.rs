//! Live subscriptions: how many, per connection, and their keep-alive.

use std::time::Duration;

use clap::Args;

/// Every default of this group, written once: the flags and [`SubscriptionsConfig::default`] both read them.
pub mod defaults {
    pub const SUBSCRIPTIONS_MAX: u64 = 10_000;
    pub const SUBSCRIPTIONS_PER_CONNECTION: u64 = 100;
    pub const SUBSCRIPTION_KEEPALIVE: u64 = 15;
}

/// Subscriptions.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Subscriptions")]
pub struct SubscriptionsConfig {
    /// Live subscriptions (`Subscription.plans`) this process keeps open at most; a new one beyond
    /// it gets an error with code `SUBSCRIPTION_LIMIT`.
    #[arg(long, env = "SUBSCRIPTIONS_MAX", default_value_t = defaults::SUBSCRIPTIONS_MAX,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub subscriptions_max: u64,

    /// Live subscriptions one WebSocket connection may have open at once (`SUBSCRIPTION_LIMIT`
    /// beyond it).
    #[arg(long, env = "SUBSCRIPTIONS_PER_CONNECTION", default_value_t = defaults::SUBSCRIPTIONS_PER_CONNECTION,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub subscriptions_per_connection: u64,

    /// Seconds between keep-alive pings on idle subscription connections (a WebSocket `ping`
    /// message, an SSE comment).
    #[arg(long, env = "SUBSCRIPTION_KEEPALIVE", default_value_t = defaults::SUBSCRIPTION_KEEPALIVE,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub subscription_keepalive: u64,
}

impl Default for SubscriptionsConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            subscriptions_max: SUBSCRIPTIONS_MAX,
            subscriptions_per_connection: SUBSCRIPTIONS_PER_CONNECTION,
            subscription_keepalive: SUBSCRIPTION_KEEPALIVE,
        }
    }
}

impl SubscriptionsConfig {
    pub(crate) fn subscription_keepalive(&self) -> Duration {
        Duration::from_secs(self.subscription_keepalive)
    }
}
