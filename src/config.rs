//! Configuration: every environment variable (and its mirroring flag) parsed and validated once,
//! into one typed [`Config`] made of one flattened struct per concern, each in its own file with
//! its own `--help` heading and its defaults written once beside it. `plans-api --help` lists them
//! all. It sits at the top, beside `app.rs`, and imports no layer: `app.rs` turns it into each
//! layer's settings.

use clap::Args;

mod auth;
mod consistency;
mod database;
mod graphql;
mod http;
mod rate_limit;
mod subscriptions;
mod telemetry;

pub use auth::{AuthConfig, ReadAccess};
pub use consistency::ConsistencyConfig;
pub use database::DatabaseConfig;
pub use graphql::{GraphqlConfig, TrustedDocuments};
pub use http::{AllowedOrigins, HeaderNames, HttpConfig};
pub use rate_limit::{Cidr, Cidrs, RateLimitConfig};
pub use subscriptions::SubscriptionsConfig;
pub use telemetry::TelemetryConfig;

/// Server configuration, by concern. Flags mirror the environment variables of the same name.
#[derive(Debug, Clone, Default, Args)]
pub struct Config {
    #[command(flatten)]
    pub database: DatabaseConfig,

    #[command(flatten)]
    pub http: HttpConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub graphql: GraphqlConfig,

    #[command(flatten)]
    pub rate_limit: RateLimitConfig,

    #[command(flatten)]
    pub subscriptions: SubscriptionsConfig,

    #[command(flatten)]
    pub telemetry: TelemetryConfig,

    #[command(flatten)]
    pub consistency: ConsistencyConfig,
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
        assert_eq!(cli.config.database.plan_cache_ttl, 0);
        assert_eq!(cli.config.http.bind_addr.port(), 9000);
        assert_eq!(cli.config.auth.admin_token.as_deref(), Some("s3cret-token"));

        assert!(Cli::try_parse_from(["plans-api", "--plan-cache-ttl", "-1"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--plan-cache-max-entries", "0"]).is_err());
        let off = Cli::try_parse_from(["plans-api", "--response-cache-max-entries", "0"]).unwrap();
        assert_eq!(off.config.database.response_cache_max_entries, 0);
        assert!(Cli::try_parse_from(["plans-api", "--bind-addr", "nowhere"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--admin-token", "  "]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--jwt-secret", "too short"]).is_err());
        let jwt = Cli::try_parse_from([
            "plans-api",
            "--jwt-secret",
            "0123456789abcdef0123456789abcdef",
            "--read-access",
            "authenticated",
        ])
        .unwrap();
        assert_eq!(jwt.config.auth.read_access, ReadAccess::Authenticated);
        assert!(Cli::try_parse_from(["plans-api", "--read-access", "everyone"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--jwt-jwks-url", "file:///x"]).is_err());
    }

    #[test]
    fn allowed_origins_are_exact_origins_or_a_lone_star() {
        let parse = |raw: &str| {
            Cli::try_parse_from(["plans-api", "--cors-allowed-origins", raw])
                .map(|cli| cli.config.http.cors_allowed_origins)
        };
        assert_eq!(parse("").unwrap(), AllowedOrigins::None);
        assert_eq!(parse(" , ").unwrap(), AllowedOrigins::None);
        assert_eq!(parse("*").unwrap(), AllowedOrigins::Any);
        assert_eq!(
            parse("https://Portal.example.com, http://localhost:5173").unwrap(),
            AllowedOrigins::List(vec![
                "https://portal.example.com".to_owned(),
                "http://localhost:5173".to_owned(),
            ])
        );
        for bad in [
            "*,https://a.example",
            "portal.example.com",
            "https://a.example/",
            "https://a.example/path",
            "ftp://a.example",
            "https://",
            "https://a b",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Cli::try_parse_from(["plans-api", "--http-cache-max-age", "-1"]).is_err());
    }

    #[test]
    fn client_settings_parse() {
        let cli = Cli::try_parse_from([
            "plans-api",
            "--cors-allowed-headers",
            "X-Tenant, x-trace,",
            "--graphql-max-batch",
            "0",
            "--trusted-documents",
            "require",
        ])
        .unwrap();
        assert_eq!(
            cli.config.http.cors_allowed_headers,
            HeaderNames(vec!["x-tenant".to_owned(), "x-trace".to_owned()])
        );
        assert_eq!(cli.config.graphql.graphql_max_batch, 0);
        assert_eq!(
            cli.config.graphql.trusted_documents,
            Some(TrustedDocuments::Require)
        );
        assert!(Cli::try_parse_from(["plans-api", "--cors-allowed-headers", "a b"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--trusted-documents", "maybe"]).is_err());
        assert_eq!(Config::default().graphql.graphql_max_batch, 10);
    }

    /// The flags' defaults and `Config::default()` agree (both read `defaults`); checked with
    /// the environment ignored, so variables set where the test runs cannot interfere.
    #[test]
    fn the_flags_defaults_are_config_default() {
        use clap::{Args as _, Command, FromArgMatches as _};
        let command = Config::augment_args(Command::new("plans-api")).mut_args(|arg| arg.env(None));
        let parsed = Config::from_arg_matches(&command.get_matches_from(["plans-api"])).unwrap();
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Config::default()));
    }

    #[test]
    fn defaults_match_the_contract() {
        let config = Config::default();
        assert_eq!(config.database.database_url, "sqlite://plans.db?mode=rwc");
        assert_eq!(config.http.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.database.plan_cache_ttl, 300);
        assert_eq!(config.database.plan_cache_max_entries, 10_000);
        // Closed and uncached unless asked for.
        assert_eq!(config.http.cors_allowed_origins, AllowedOrigins::None);
        assert_eq!(config.http.http_cache_max_age, 0);
        assert!(config.database.plan_cache_listen);
        assert_eq!(config.subscriptions.subscriptions_max, 10_000);
        // Captive portals read without signing in; the claims are the contract's.
        assert_eq!(config.auth.read_access, ReadAccess::Public);
        assert_eq!(config.auth.jwt_operator_claim, "operator_id");
        assert_eq!(config.auth.jwt_role_claim, "role");
        assert!(config.auth.jwt_secret.is_none() && config.auth.jwt_jwks_url.is_none());
        assert_eq!(config.rate_limit.rate_limit_per_second, 0);
        assert_eq!(
            config.rate_limit.rate_limit_trusted_proxies,
            Cidrs::default()
        );
    }

    #[test]
    fn rate_limit_burst_defaults_to_twice_the_rate_and_proxies_are_cidrs() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("plans-api").chain(args.iter().copied()))
                .map(|cli| cli.config)
        };
        let config = parse(&["--rate-limit-per-second", "5"]).unwrap();
        assert_eq!(config.rate_limit.rate_limit_burst(), 10);
        let config = parse(&["--rate-limit-per-second", "5", "--rate-limit-burst", "3"]).unwrap();
        assert_eq!(config.rate_limit.rate_limit_burst(), 3);
        let config = parse(&[
            "--rate-limit-trusted-proxies",
            "10.0.0.0/8, 192.168.1.7,::1",
        ])
        .unwrap();
        let proxies = &config.rate_limit.rate_limit_trusted_proxies;
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("192.168.1.7".parse().unwrap()));
        assert!(!proxies.contains("192.168.1.8".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        assert!(!proxies.contains("11.0.0.1".parse().unwrap()));
        let all = parse(&["--rate-limit-trusted-proxies", "0.0.0.0/0"]).unwrap();
        assert!(
            all.rate_limit
                .rate_limit_trusted_proxies
                .contains("8.8.8.8".parse().unwrap())
        );
        for bad in ["10.0.0.0/33", "nowhere", "10.0.0.0/x", "::1/129"] {
            assert!(
                parse(&["--rate-limit-trusted-proxies", bad]).is_err(),
                "{bad:?}"
            );
        }
    }
}
