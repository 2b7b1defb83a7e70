//! Configuration: every environment variable (and its mirroring flag) parsed and validated once,
//! into one typed struct. `plans-api --help` lists them all.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::cache::CacheSettings;
use crate::graphql::ResponseCacheSettings;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://plans.db?mode=rwc";

/// Server configuration. Flags mirror the environment variables of the same name.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Any sea-orm URL: SQLite (embedded, the default) or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8000")]
    pub bind_addr: SocketAddr,

    /// Seconds a cached plan list lives; 0 turns the cache off (every read goes to the database).
    #[arg(long, env = "PLAN_CACHE_TTL", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub plan_cache_ttl: u64,

    /// Bound on cached keys, so memory stays bounded.
    #[arg(long, env = "PLAN_CACHE_MAX_ENTRIES", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub plan_cache_max_entries: u64,

    /// Bound on cached GraphQL responses (exact response bytes of repeated queries, dropped with
    /// the plan lists they were built from); a response over 4 KiB counts once per started 4 KiB,
    /// so memory stays under about this x 4 KiB. 0 turns the response cache off; it is also off
    /// when PLAN_CACHE_TTL is 0.
    #[arg(long, env = "RESPONSE_CACHE_MAX_ENTRIES", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub response_cache_max_entries: u64,

    /// Bearer token that mutations require. When unset, a random one is made at start and logged
    /// once.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub admin_token: Option<String>,

    /// Largest number of database connections in the pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Seconds to wait for a database connection before a request fails. Kept below the request
    /// timeout, so a stalled database fails a request cleanly rather than hanging it.
    #[arg(long, env = "DATABASE_TIMEOUT", default_value_t = 5,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_timeout: u64,

    /// Seconds a request may take before the server answers 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,

    /// Tracing filter, e.g. `info` or `plans_api=debug,info`.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            bind_addr: SocketAddr::from(([127, 0, 0, 1], 8000)),
            plan_cache_ttl: 300,
            plan_cache_max_entries: 10_000,
            response_cache_max_entries: 10_000,
            admin_token: None,
            database_max_connections: 10,
            database_timeout: 5,
            request_timeout: 30,
            log_filter: "info".to_owned(),
        }
    }
}

impl Config {
    pub fn cache_settings(&self) -> CacheSettings {
        CacheSettings {
            ttl: Duration::from_secs(self.plan_cache_ttl),
            max_entries: self.plan_cache_max_entries,
        }
    }

    pub fn response_cache_settings(&self) -> ResponseCacheSettings {
        ResponseCacheSettings {
            max_entries: self.response_cache_max_entries,
            ttl: Duration::from_secs(self.plan_cache_ttl),
        }
    }

    pub fn database_timeout(&self) -> Duration {
        Duration::from_secs(self.database_timeout)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }
}

fn parse_token(raw: &str) -> Result<String, String> {
    let token = raw.trim();
    if token.is_empty() {
        return Err("must not be empty (unset it to get a random token)".to_owned());
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".to_owned());
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn flags_parse_and_are_validated() {
        let cli = Cli::try_parse_from([
            "plans-api",
            "--plan-cache-ttl",
            "0",
            "--bind-addr",
            "0.0.0.0:9000",
            "--admin-token",
            "s3cret-token",
        ])
        .unwrap();
        assert_eq!(cli.config.plan_cache_ttl, 0);
        assert_eq!(cli.config.bind_addr.port(), 9000);
        assert_eq!(cli.config.admin_token.as_deref(), Some("s3cret-token"));

        assert!(Cli::try_parse_from(["plans-api", "--plan-cache-ttl", "-1"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--plan-cache-max-entries", "0"]).is_err());
        let off = Cli::try_parse_from(["plans-api", "--response-cache-max-entries", "0"]).unwrap();
        assert_eq!(off.config.response_cache_settings().max_entries, 0);
        assert!(Cli::try_parse_from(["plans-api", "--bind-addr", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--admin-token", "  "]).is_err());
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::default();
        assert_eq!(config.database_url, "sqlite://plans.db?mode=rwc");
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.plan_cache_ttl, 300);
        assert_eq!(config.plan_cache_max_entries, 10_000);
    }
}
