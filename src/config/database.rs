//! The database connection pool and the plan and response caches.

use std::time::Duration;

use clap::Args;

/// Every default of this group, written once: the flags and [`DatabaseConfig::default`] both read them.
pub mod defaults {
    pub const DATABASE_URL: &str = "sqlite://plans.db?mode=rwc";
    pub const PLAN_CACHE_TTL: u64 = 300;
    pub const PLAN_CACHE_MAX_ENTRIES: u64 = 10_000;
    pub const RESPONSE_CACHE_MAX_ENTRIES: u64 = 10_000;
    pub const PLAN_CACHE_LISTEN: bool = true;
    pub const DATABASE_MAX_CONNECTIONS: u32 = 10;
    pub const DATABASE_TIMEOUT: u64 = 5;
}

/// Database and cache.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Database and cache")]
pub struct DatabaseConfig {
    /// Any sea-orm URL: SQLite (embedded, the default) or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Largest number of database connections in the pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = defaults::DATABASE_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Seconds to wait for a database connection before a request fails. Kept below the request
    /// timeout, so a stalled database fails a request cleanly rather than hanging it.
    #[arg(long, env = "DATABASE_TIMEOUT", default_value_t = defaults::DATABASE_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_timeout: u64,

    /// Seconds a cached plan list lives; 0 turns the cache off (every read goes to the database).
    #[arg(long, env = "PLAN_CACHE_TTL", default_value_t = defaults::PLAN_CACHE_TTL,
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub plan_cache_ttl: u64,

    /// Bound on cached keys, so memory stays bounded.
    #[arg(long, env = "PLAN_CACHE_MAX_ENTRIES", default_value_t = defaults::PLAN_CACHE_MAX_ENTRIES,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub plan_cache_max_entries: u64,

    /// Bound on cached GraphQL responses (exact response bytes of repeated queries, dropped with
    /// the plan lists they were built from); a response over 4 KiB counts once per started 4 KiB,
    /// so memory stays under about this x 4 KiB. 0 turns the response cache off; it is also off
    /// when PLAN_CACHE_TTL is 0.
    #[arg(long, env = "RESPONSE_CACHE_MAX_ENTRIES", default_value_t = defaults::RESPONSE_CACHE_MAX_ENTRIES,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub response_cache_max_entries: u64,

    /// PostgreSQL: listen for changes to plans made by other replicas or plain SQL (LISTEN/NOTIFY)
    /// and invalidate at once. Turn off only behind a pooler that cannot LISTEN; changes made
    /// elsewhere are then seen after PLAN_CACHE_TTL.
    #[arg(long, env = "PLAN_CACHE_LISTEN", default_value_t = defaults::PLAN_CACHE_LISTEN, action = clap::ArgAction::Set)]
    pub plan_cache_listen: bool,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            database_url: DATABASE_URL.to_owned(),
            database_max_connections: DATABASE_MAX_CONNECTIONS,
            database_timeout: DATABASE_TIMEOUT,
            plan_cache_ttl: PLAN_CACHE_TTL,
            plan_cache_max_entries: PLAN_CACHE_MAX_ENTRIES,
            response_cache_max_entries: RESPONSE_CACHE_MAX_ENTRIES,
            plan_cache_listen: PLAN_CACHE_LISTEN,
        }
    }
}

impl DatabaseConfig {
    pub fn plan_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.plan_cache_ttl)
    }

    pub fn database_timeout(&self) -> Duration {
        Duration::from_secs(self.database_timeout)
    }
}
