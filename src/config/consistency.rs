//! Read your writes on every replica: the consistency tokens' settings.

use std::time::Duration;

use clap::Args;

pub mod defaults {
    pub const CONSISTENCY_COOKIE: bool = true;
    pub const CONSISTENCY_COOKIE_SECONDS: u64 = 60;
    pub const CONSISTENCY_WAIT_MS: u64 = 500;
}

/// How a client reads its own writes whichever replica answers.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Read your writes across replicas")]
pub struct ConsistencyConfig {
    /// Set the `plans_consistency` cookie on responses that wrote, so browsers (and GraphiQL)
    /// carry their consistency token with no code.
    #[arg(long, env = "CONSISTENCY_COOKIE", default_value_t = defaults::CONSISTENCY_COOKIE, action = clap::ArgAction::Set)]
    pub consistency_cookie: bool,

    /// The cookie's Max-Age in seconds; also how long the TypeScript client sends a token.
    #[arg(long, env = "CONSISTENCY_COOKIE_SECONDS", default_value_t = defaults::CONSISTENCY_COOKIE_SECONDS,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub consistency_cookie_seconds: u64,

    /// Milliseconds a replica that is behind a request's consistency token waits for its change
    /// feed before it answers that request from the database.
    #[arg(long, env = "CONSISTENCY_WAIT_MS", default_value_t = defaults::CONSISTENCY_WAIT_MS,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub consistency_wait_ms: u64,
}

impl Default for ConsistencyConfig {
    fn default() -> Self {
        Self {
            consistency_cookie: defaults::CONSISTENCY_COOKIE,
            consistency_cookie_seconds: defaults::CONSISTENCY_COOKIE_SECONDS,
            consistency_wait_ms: defaults::CONSISTENCY_WAIT_MS,
        }
    }
}

impl ConsistencyConfig {
    pub(crate) fn max_wait(&self) -> Duration {
        Duration::from_millis(self.consistency_wait_ms)
    }

    /// The cookie's lifetime; `None` when the cookie is off.
    pub fn cookie(&self) -> Option<Duration> {
        self.consistency_cookie
            .then(|| Duration::from_secs(self.consistency_cookie_seconds))
    }
}
