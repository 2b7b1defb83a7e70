//! The listening address, request timeout and size, connection bounds (slow heads, idle
//! connections, how many at once), HTTP caching headers and CORS.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;

/// Every default of this group, written once: the flags and [`HttpConfig::default`] both read them.
pub mod defaults {
    use super::*;

    pub const BIND_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);
    pub const REQUEST_TIMEOUT: u64 = 30;
    pub const MAX_REQUEST_BYTES: u64 = 65_536;
    pub const HTTP_CACHE_MAX_AGE: u64 = 0;
    pub const CORS_ALLOWED_ORIGINS: &str = "";
    pub const CORS_ALLOWED_HEADERS: &str = "";
    pub const HTTP_HEADER_READ_TIMEOUT: u64 = 30;
    pub const HTTP_IDLE_TIMEOUT: u64 = 60;
    pub const HTTP_MAX_CONNECTIONS: u64 = 4_096;
}

/// HTTP.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP")]
pub struct HttpConfig {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDR", default_value_t = defaults::BIND_ADDR)]
    pub bind_addr: SocketAddr,

    /// Seconds a request may take before the server answers 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value_t = defaults::REQUEST_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout: u64,

    /// Largest accepted request body in bytes; larger ones get 413.
    #[arg(long, env = "MAX_REQUEST_BYTES", default_value_t = defaults::MAX_REQUEST_BYTES,
          value_parser = clap::value_parser!(u64).range(1_024..=16_777_216))]
    pub max_request_bytes: u64,

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

    /// Request headers a CORS preflight allows besides `content-type`, `authorization` and Apollo
    /// Client's `apollographql-client-name` and `apollographql-client-version`,
    /// comma-separated, e.g. `x-tenant,x-trace`.
    #[arg(long, env = "CORS_ALLOWED_HEADERS", default_value = defaults::CORS_ALLOWED_HEADERS,
          value_parser = parse_header_names)]
    pub cors_allowed_headers: HeaderNames,

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
}

impl Default for HttpConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            bind_addr: BIND_ADDR,
            request_timeout: REQUEST_TIMEOUT,
            max_request_bytes: MAX_REQUEST_BYTES,
            http_cache_max_age: HTTP_CACHE_MAX_AGE,
            cors_allowed_origins: parse_allowed_origins(CORS_ALLOWED_ORIGINS).unwrap_or_default(),
            cors_allowed_headers: parse_header_names(CORS_ALLOWED_HEADERS).unwrap_or_default(),
            http_header_read_timeout: HTTP_HEADER_READ_TIMEOUT,
            http_idle_timeout: HTTP_IDLE_TIMEOUT,
            http_max_connections: HTTP_MAX_CONNECTIONS,
        }
    }
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }

    pub(crate) fn max_request_bytes(&self) -> usize {
        usize::try_from(self.max_request_bytes).unwrap_or(usize::MAX)
    }
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
