//! Configuration: every environment variable (and its mirroring flag) parsed and validated once,
//! into one typed struct. `plans-api --help` lists them all. It sits at the top, beside `app.rs`,
//! and imports no layer: `app.rs` turns it into each layer's settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

mod consistency;

pub use consistency::ConsistencyConfig;

/// Every default, written once: the flags and [`Config::default`] both read them.
pub mod defaults {
    use super::*;

    pub const DATABASE_URL: &str = "sqlite://plans.db?mode=rwc";
    pub const BIND_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);
    pub const PLAN_CACHE_TTL: u64 = 300;
    pub const PLAN_CACHE_MAX_ENTRIES: u64 = 10_000;
    pub const RESPONSE_CACHE_MAX_ENTRIES: u64 = 10_000;
    pub const PLAN_CACHE_LISTEN: bool = true;
    pub const DATABASE_MAX_CONNECTIONS: u32 = 10;
    pub const DATABASE_TIMEOUT: u64 = 5;
    pub const REQUEST_TIMEOUT: u64 = 30;
    pub const MAX_REQUEST_BYTES: u64 = 65_536;
    /// Our deepest query is `{ plans { id } }`; GraphiQL's introspection query has depth 13.
    pub const GRAPHQL_MAX_DEPTH: u64 = 16;
    pub const GRAPHQL_MAX_COMPLEXITY: u64 = 1_000;
    pub const GRAPHQL_MAX_ROOT_FIELDS: u64 = 10;
    pub const GRAPHQL_MAX_ALIASES: u64 = 20;
    pub const GRAPHQL_INTROSPECTION: bool = true;
    pub const GRAPHIQL: bool = true;
    pub const HTTP_CACHE_MAX_AGE: u64 = 0;
    pub const CORS_ALLOWED_ORIGINS: &str = "";
    pub const CORS_ALLOWED_HEADERS: &str = "";
    pub const GRAPHQL_MAX_BATCH: u64 = 10;
    pub const APQ_MAX_ENTRIES: u64 = 10_000;
    /// INFO without the access log (a line per request costs the hot path about a quarter of
    /// its throughput): `RUST_LOG=info` brings it back.
    pub const LOG_FILTER: &str = "info,plans_api::access=warn";
    pub const HTTP_HEADER_READ_TIMEOUT: u64 = 30;
    pub const HTTP_IDLE_TIMEOUT: u64 = 60;
    pub const HTTP_MAX_CONNECTIONS: u64 = 4_096;
    /// Rate limits off.
    pub const RATE_LIMIT_PER_SECOND: u32 = 0;
    /// The bucket holds this many seconds of the rate when `RATE_LIMIT_BURST` is unset.
    pub const RATE_LIMIT_BURST_SECONDS: u32 = 2;
    pub const OTEL_SERVICE_NAME: &str = "plans-api";
    pub const OTEL_TRACES_SAMPLER: &str = "parentbased_always_on";
    /// No proxy trusted: `X-Forwarded-For` is ignored.
    pub const RATE_LIMIT_TRUSTED_PROXIES: &str = "";
    pub const SUBSCRIPTIONS_MAX: u64 = 10_000;
    pub const SUBSCRIPTIONS_PER_CONNECTION: u64 = 100;
    pub const SUBSCRIPTION_KEEPALIVE: u64 = 15;
    pub const JWT_OPERATOR_CLAIM: &str = "operator_id";
    pub const JWT_ROLE_CLAIM: &str = "role";
    pub const READ_ACCESS: ReadAccess = ReadAccess::Public;
    /// Shortest `JWT_SECRET`, in bytes (HS256 wants a key as long as its hash).
    pub const JWT_SECRET_MIN_BYTES: usize = 32;
}

/// Who may read (`READ_ACCESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReadAccess {
    /// Reads need no credential (captive portals list plans without signing in).
    Public,
    /// Every read needs a valid credential (any role).
    Authenticated,
}

/// Server configuration. Flags mirror the environment variables of the same name.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Any sea-orm URL: SQLite (embedded, the default) or postgres://…
    #[arg(long, env = "DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
    pub database_url: String,

    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value_t = defaults::BIND_ADDR)]
    pub bind_addr: SocketAddr,

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

    /// Bearer token that mutations require. When unset, a random one is made at start and logged
    /// once.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_token)]
    pub admin_token: Option<String>,

    /// HS256 key for operators' JWTs: the raw bytes of the variable, at least 32. Tokens signed
    /// with it are accepted; `plans-api token` signs with it.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true, value_parser = parse_jwt_secret)]
    pub jwt_secret: Option<String>,

    /// URL of a JWKS (RS256 and ES256 keys with `kid`), fetched at start over HTTPS, read again
    /// when a token names an unknown `kid` (at most once per 30 s).
    #[arg(long, env = "JWT_JWKS_URL", value_parser = parse_jwks_url)]
    pub jwt_jwks_url: Option<String>,

    /// A JWKS document in a file (read at start, and again like JWT_JWKS_URL).
    #[arg(long, env = "JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// When set, a JWT's `iss` must equal it (and a JWT without `iss` is refused).
    #[arg(long, env = "JWT_ISSUER", value_parser = parse_non_empty)]
    pub jwt_issuer: Option<String>,

    /// When set, a JWT's `aud` must be or contain it (and a JWT without `aud` is refused).
    #[arg(long, env = "JWT_AUDIENCE", value_parser = parse_non_empty)]
    pub jwt_audience: Option<String>,

    /// The JWT claim holding the operator id: an integer >= 1, or a string of one.
    #[arg(long, env = "JWT_OPERATOR_CLAIM", default_value = defaults::JWT_OPERATOR_CLAIM,
          value_parser = parse_non_empty)]
    pub jwt_operator_claim: String,

    /// The JWT claim holding the role: `admin` or `operator` (absent means operator).
    #[arg(long, env = "JWT_ROLE_CLAIM", default_value = defaults::JWT_ROLE_CLAIM,
          value_parser = parse_non_empty)]
    pub jwt_role_claim: String,

    /// `public`: reads need no credential (captive portals); `authenticated`: every read needs a
    /// valid one (any role).
    #[arg(long, env = "READ_ACCESS", value_enum, default_value_t = defaults::READ_ACCESS)]
    pub read_access: ReadAccess,

    /// PostgreSQL: listen for changes to plans made by other replicas or plain SQL (LISTEN/NOTIFY)
    /// and invalidate at once. Turn off only behind a pooler that cannot LISTEN; changes made
    /// elsewhere are then seen after PLAN_CACHE_TTL.
    #[arg(long, env = "PLAN_CACHE_LISTEN", default_value_t = defaults::PLAN_CACHE_LISTEN, action = clap::ArgAction::Set)]
    pub plan_cache_listen: bool,

    /// Largest number of database connections in the pool.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = defaults::DATABASE_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub database_max_connections: u32,

    /// Seconds to wait for a database connection before a request fails. Kept below the request
    /// timeout, so a stalled database fails a request cleanly rather than hanging it.
    #[arg(long, env = "DATABASE_TIMEOUT", default_value_t = defaults::DATABASE_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_timeout: u64,

    /// Seconds a request may take before the server answers 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = defaults::REQUEST_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,

    /// Largest accepted request body in bytes; larger ones get 413.
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value_t = defaults::MAX_REQUEST_BYTES,
          value_parser = clap::value_parser!(u64).range(1_024..=16_777_216))]
    pub max_request_bytes: u64,

    /// Deepest selection nesting a GraphQL operation may have (GraphiQL's introspection needs 13).
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = defaults::GRAPHQL_MAX_DEPTH,
          value_parser = clap::value_parser!(u64).range(2..=256))]
    pub graphql_max_depth: u64,

    /// Largest GraphQL complexity (one point per selected field) an operation may have.
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = defaults::GRAPHQL_MAX_COMPLEXITY,
          value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    pub graphql_max_complexity: u64,

    /// Most root fields one operation may select (each `plans` is a whole list).
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = defaults::GRAPHQL_MAX_ROOT_FIELDS,
          value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub graphql_max_root_fields: u64,

    /// Most aliases one document may use.
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = defaults::GRAPHQL_MAX_ALIASES,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub graphql_max_aliases: u64,

    /// Answer introspection queries (`__schema`, `__type`). Turn off in production if clients use
    /// the committed schema.graphql; GraphiQL needs it.
    #[arg(long, env = "GRAPHQL_INTROSPECTION", default_value_t = defaults::GRAPHQL_INTROSPECTION, action = clap::ArgAction::Set)]
    pub graphql_introspection: bool,

    /// Serve the GraphiQL playground at `GET /graphql`.
    #[arg(long, env = "GRAPHIQL", default_value_t = defaults::GRAPHIQL, action = clap::ArgAction::Set)]
    pub graphiql: bool,

    /// Seconds browsers and CDNs may reuse a `GET /graphql` query response without asking again
    /// (`Cache-Control: public, max-age=N`), capped by PLAN_CACHE_TTL. 0 (the default) sends
    /// `no-cache`: they revalidate every time (cheap with the ETag), so read-your-writes holds end
    /// to end. Above 0, clients may see a list up to N seconds old after a change.
    #[arg(long, env = "HTTP_CACHE_MAX_AGE", default_value_t = defaults::HTTP_CACHE_MAX_AGE,
          value_parser = clap::value_parser!(u64).range(0..=31_536_000))]
    pub http_cache_max_age: u64,

    /// Web origins allowed to call the API from a browser (CORS), comma-separated and exact, e.g.
    /// `https://portal.example.com,http://localhost:5173`, or `*` for any. Empty (the default):
    /// no CORS headers, so browsers block cross-origin calls.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = defaults::CORS_ALLOWED_ORIGINS,
          value_parser = parse_allowed_origins)]
    pub cors_allowed_origins: AllowedOrigins,

    /// Sustained requests per second per client (the admin token when a valid one is presented,
    /// else the client IP); over it, 429 with `Retry-After` and nothing runs. 0 (the default)
    /// turns rate limits off.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value_t = defaults::RATE_LIMIT_PER_SECOND,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub rate_limit_per_second: u32,

    /// Requests a client may send at once (the bucket size); unset: twice RATE_LIMIT_PER_SECOND.
    #[arg(long, env = "RATE_LIMIT_BURST",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate_limit_burst: Option<u32>,

    /// Proxies (CIDRs, comma-separated, e.g. `10.0.0.0/8,192.168.1.7`) whose `X-Forwarded-For`
    /// names the client for rate limits. Empty (the default): the peer address is the client.
    #[arg(long, env = "RATE_LIMIT_TRUSTED_PROXIES", default_value = defaults::RATE_LIMIT_TRUSTED_PROXIES,
          value_parser = parse_cidrs)]
    pub rate_limit_trusted_proxies: Cidrs,

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

    /// Request headers a CORS preflight allows besides `content-type`, `authorization` and Apollo
    /// Client's `apollographql-client-name` and `apollographql-client-version`,
    /// comma-separated, e.g. `x-tenant,x-trace`.
    #[arg(long, env = "CORS_ALLOWED_HEADERS", default_value = defaults::CORS_ALLOWED_HEADERS,
          value_parser = parse_header_names)]
    pub cors_allowed_headers: HeaderNames,

    /// Most requests in one batch (a POST of a JSON array of requests); 0 refuses batches.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = defaults::GRAPHQL_MAX_BATCH,
          value_parser = clap::value_parser!(u64).range(0..=1_000))]
    pub graphql_max_batch: u64,

    /// Bound on documents kept for Apollo's automatic persisted queries (APQ); a document over
    /// 4 KiB counts once per started 4 KiB. 0 keeps none (every hash-only request is then
    /// answered PERSISTED_QUERY_NOT_FOUND, and clients send the query each time).
    #[arg(long, env = "APQ_MAX_ENTRIES", default_value_t = defaults::APQ_MAX_ENTRIES,
          value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub apq_max_entries: u64,

    /// A trusted documents manifest: a JSON object from each document's sha256 (bare hex) to its
    /// text, as GraphQL Code Generator's client preset writes it (`persistedDocuments`). Checked
    /// at start; requests may then name a document by `documentId: "sha256:<hex>"`.
    #[arg(long, env = "TRUSTED_DOCUMENTS_FILE")]
    pub trusted_documents_file: Option<std::path::PathBuf>,

    /// `off`, `allow` (manifest documents may be named by `documentId`; others run too) or
    /// `require` (only manifest documents run). Default: `allow` with a manifest, else `off`.
    #[arg(long, env = "TRUSTED_DOCUMENTS", value_enum)]
    pub trusted_documents: Option<TrustedDocuments>,

    /// Tracing filter, e.g. `info` or `plans_api=debug,info`. The default leaves out the access
    /// log (a line per request); `info` or `plans_api::access=info,warn` writes it.
    #[arg(long = "log", env = "RUST_LOG", default_value = defaults::LOG_FILTER)]
    pub log_filter: String,

    /// Seconds a request head may take from its first byte to its last; a slower one closes the
    /// connection (slowloris).
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT", default_value_t = defaults::HTTP_HEADER_READ_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub http_header_read_timeout: u64,

    /// Seconds a connection may stay without reading or writing a byte (an idle keep-alive
    /// connection, or a request that hangs) before it is closed. SSE streams write keep-alive
    /// comments and WebSockets are not watched. Keep it above REQUEST_TIMEOUT.
    #[arg(long, env = "HTTP_IDLE_TIMEOUT", default_value_t = defaults::HTTP_IDLE_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub http_idle_timeout: u64,

    /// Connections served at once. Past it, a few more get one answer each (`/health/live`, or
    /// 503 with Retry-After) and the rest wait in the kernel's backlog.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = defaults::HTTP_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub http_max_connections: u64,

    #[command(flatten)]
    pub consistency: ConsistencyConfig,
}

impl Default for Config {
    /// What the server runs with when no variable or flag is set.
    fn default() -> Self {
        use defaults::*;
        Self {
            database_url: DATABASE_URL.to_owned(),
            bind_addr: BIND_ADDR,
            plan_cache_ttl: PLAN_CACHE_TTL,
            plan_cache_max_entries: PLAN_CACHE_MAX_ENTRIES,
            response_cache_max_entries: RESPONSE_CACHE_MAX_ENTRIES,
            admin_token: None,
            jwt_secret: None,
            jwt_jwks_url: None,
            jwt_jwks_file: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_operator_claim: JWT_OPERATOR_CLAIM.to_owned(),
            jwt_role_claim: JWT_ROLE_CLAIM.to_owned(),
            read_access: READ_ACCESS,
            plan_cache_listen: PLAN_CACHE_LISTEN,
            database_max_connections: DATABASE_MAX_CONNECTIONS,
            database_timeout: DATABASE_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_request_bytes: MAX_REQUEST_BYTES,
            graphql_max_depth: GRAPHQL_MAX_DEPTH,
            graphql_max_complexity: GRAPHQL_MAX_COMPLEXITY,
            graphql_max_root_fields: GRAPHQL_MAX_ROOT_FIELDS,
            graphql_max_aliases: GRAPHQL_MAX_ALIASES,
            graphql_introspection: GRAPHQL_INTROSPECTION,
            graphiql: GRAPHIQL,
            http_cache_max_age: HTTP_CACHE_MAX_AGE,
            cors_allowed_origins: parse_allowed_origins(CORS_ALLOWED_ORIGINS).unwrap_or_default(),
            cors_allowed_headers: parse_header_names(CORS_ALLOWED_HEADERS).unwrap_or_default(),
            graphql_max_batch: GRAPHQL_MAX_BATCH,
            apq_max_entries: APQ_MAX_ENTRIES,
            trusted_documents_file: None,
            trusted_documents: None,
            log_filter: LOG_FILTER.to_owned(),
            http_header_read_timeout: HTTP_HEADER_READ_TIMEOUT,
            http_idle_timeout: HTTP_IDLE_TIMEOUT,
            http_max_connections: HTTP_MAX_CONNECTIONS,
            otel_exporter_otlp_endpoint: None,
            otel_service_name: OTEL_SERVICE_NAME.to_owned(),
            otel_traces_sampler: OTEL_TRACES_SAMPLER.to_owned(),
            otel_traces_sampler_arg: None,
            rate_limit_per_second: RATE_LIMIT_PER_SECOND,
            rate_limit_burst: None,
            rate_limit_trusted_proxies: parse_cidrs(RATE_LIMIT_TRUSTED_PROXIES).unwrap_or_default(),
            subscriptions_max: SUBSCRIPTIONS_MAX,
            subscriptions_per_connection: SUBSCRIPTIONS_PER_CONNECTION,
            subscription_keepalive: SUBSCRIPTION_KEEPALIVE,
            consistency: ConsistencyConfig::default(),
        }
    }
}

impl Config {
    pub fn plan_cache_ttl(&self) -> Duration {
        Duration::from_secs(self.plan_cache_ttl)
    }

    pub fn database_timeout(&self) -> Duration {
        Duration::from_secs(self.database_timeout)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }

    pub fn subscription_keepalive(&self) -> Duration {
        Duration::from_secs(self.subscription_keepalive)
    }

    pub fn max_request_bytes(&self) -> usize {
        usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX)
    }

    /// The bucket size: `RATE_LIMIT_BURST`, else [`defaults::RATE_LIMIT_BURST_SECONDS`] x the rate.
    pub fn rate_limit_burst(&self) -> u32 {
        self.rate_limit_burst.unwrap_or_else(|| {
            self.rate_limit_per_second
                .saturating_mul(defaults::RATE_LIMIT_BURST_SECONDS)
        })
    }
}

/// Address ranges (`RATE_LIMIT_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cidrs(pub Vec<Cidr>);

/// One address range: an address and how many leading bits a member shares with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 peer may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl Cidrs {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|cidr| cidr.contains(ip))
    }
}

impl std::str::FromStr for Cidrs {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        parse_cidrs(raw)
    }
}

fn parse_cidrs(raw: &str) -> Result<Cidrs, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (addr, prefix) = match entry.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (entry, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or CIDR"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(prefix) => prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|prefix| *prefix <= max)
                    .ok_or_else(|| format!("{entry:?}: the prefix length must be 0..={max}"))?,
            };
            Ok(Cidr { addr, prefix })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Cidrs)
}

/// `TRUSTED_DOCUMENTS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrustedDocuments {
    Off,
    Allow,
    Require,
}

/// HTTP header names, lowercase (`CORS_ALLOWED_HEADERS`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderNames(pub Vec<String>);

fn parse_header_names(raw: &str) -> Result<HeaderNames, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            // RFC 9110 token characters.
            let valid = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
            if valid {
                Ok(name.to_ascii_lowercase())
            } else {
                Err(format!("{name:?} is not an HTTP header name"))
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(HeaderNames)
}

/// Which browser origins may call the API (CORS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// No cross-origin calls: no CORS headers at all.
    #[default]
    None,
    /// Exactly these origins (`scheme://host[:port]`, lowercase, never empty).
    List(Vec<String>),
    /// Any origin (`*`).
    Any,
}

fn parse_allowed_origins(raw: &str) -> Result<AllowedOrigins, String> {
    let entries: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    if entries.is_empty() {
        return Ok(AllowedOrigins::None);
    }
    if entries.contains(&"*") {
        return if entries.len() == 1 {
            Ok(AllowedOrigins::Any)
        } else {
            Err("`*` allows every origin; list it alone".to_owned())
        };
    }
    entries
        .into_iter()
        .map(parse_origin)
        .collect::<Result<Vec<_>, _>>()
        .map(AllowedOrigins::List)
}

/// An origin as browsers send it in the `Origin` header: `scheme://host[:port]`, nothing more.
fn parse_origin(entry: &str) -> Result<String, String> {
    let origin = entry.to_ascii_lowercase();
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(|| {
            format!("{entry:?} is not an http(s) origin like https://app.example.com")
        })?;
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !valid {
        return Err(format!(
            "{entry:?} is not an origin: scheme://host[:port], without path or trailing slash"
        ));
    }
    Ok(origin)
}

fn parse_ratio(raw: &str) -> Result<f64, String> {
    raw.trim()
        .parse::<f64>()
        .ok()
        .filter(|ratio| (0.0..=1.0).contains(ratio))
        .ok_or_else(|| format!("{raw:?} is not a ratio from 0.0 to 1.0"))
}

/// The raw bytes of the variable, as they are: nothing trimmed.
fn parse_jwt_secret(raw: &str) -> Result<String, String> {
    if raw.len() < defaults::JWT_SECRET_MIN_BYTES {
        return Err(format!(
            "must be at least {} bytes, got {}",
            defaults::JWT_SECRET_MIN_BYTES,
            raw.len()
        ));
    }
    Ok(raw.to_owned())
}

fn parse_jwks_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{raw:?} is not an http(s) URL"));
    }
    Ok(url.to_owned())
}

fn parse_non_empty(raw: &str) -> Result<String, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty (unset it instead)".to_owned());
    }
    Ok(raw.to_owned())
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
        assert_eq!(off.config.response_cache_max_entries, 0);
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
        assert_eq!(jwt.config.read_access, ReadAccess::Authenticated);
        assert!(Cli::try_parse_from(["plans-api", "--read-access", "everyone"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--jwt-jwks-url", "file:///x"]).is_err());
    }

    #[test]
    fn allowed_origins_are_exact_origins_or_a_lone_star() {
        let parse = |raw: &str| {
            Cli::try_parse_from(["plans-api", "--cors-allowed-origins", raw])
                .map(|cli| cli.config.cors_allowed_origins)
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
            cli.config.cors_allowed_headers,
            HeaderNames(vec!["x-tenant".to_owned(), "x-trace".to_owned()])
        );
        assert_eq!(cli.config.graphql_max_batch, 0);
        assert_eq!(
            cli.config.trusted_documents,
            Some(TrustedDocuments::Require)
        );
        assert!(Cli::try_parse_from(["plans-api", "--cors-allowed-headers", "a b"]).is_err());
        assert!(Cli::try_parse_from(["plans-api", "--trusted-documents", "maybe"]).is_err());
        assert_eq!(Config::default().graphql_max_batch, 10);
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
        assert_eq!(config.database_url, "sqlite://plans.db?mode=rwc");
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.plan_cache_ttl, 300);
        assert_eq!(config.plan_cache_max_entries, 10_000);
        // Closed and uncached unless asked for.
        assert_eq!(config.cors_allowed_origins, AllowedOrigins::None);
        assert_eq!(config.http_cache_max_age, 0);
        assert!(config.plan_cache_listen);
        assert_eq!(config.subscriptions_max, 10_000);
        // Captive portals read without signing in; the claims are the contract's.
        assert_eq!(config.read_access, ReadAccess::Public);
        assert_eq!(config.jwt_operator_claim, "operator_id");
        assert_eq!(config.jwt_role_claim, "role");
        assert!(config.jwt_secret.is_none() && config.jwt_jwks_url.is_none());
        assert_eq!(config.rate_limit_per_second, 0);
        assert_eq!(config.rate_limit_trusted_proxies, Cidrs::default());
    }

    #[test]
    fn rate_limit_burst_defaults_to_twice_the_rate_and_proxies_are_cidrs() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("plans-api").chain(args.iter().copied()))
                .map(|cli| cli.config)
        };
        let config = parse(&["--rate-limit-per-second", "5"]).unwrap();
        assert_eq!(config.rate_limit_burst(), 10);
        let config = parse(&["--rate-limit-per-second", "5", "--rate-limit-burst", "3"]).unwrap();
        assert_eq!(config.rate_limit_burst(), 3);
        let config = parse(&[
            "--rate-limit-trusted-proxies",
            "10.0.0.0/8, 192.168.1.7,::1",
        ])
        .unwrap();
        let proxies = &config.rate_limit_trusted_proxies;
        assert!(proxies.contains("10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(proxies.contains("192.168.1.7".parse().unwrap()));
        assert!(!proxies.contains("192.168.1.8".parse().unwrap()));
        assert!(proxies.contains("::1".parse().unwrap()));
        assert!(!proxies.contains("11.0.0.1".parse().unwrap()));
        let all = parse(&["--rate-limit-trusted-proxies", "0.0.0.0/0"]).unwrap();
        assert!(
            all.rate_limit_trusted_proxies
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
