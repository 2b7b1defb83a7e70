//! Per-client rate limits and the proxies trusted to name the client.

use std::net::IpAddr;

use clap::Args;

/// Every default of this group, written once: the flags and [`RateLimitConfig::default`] both read them.
pub mod defaults {
    /// Rate limits off.
    pub const RATE_LIMIT_PER_SECOND: u32 = 0;
    /// The bucket holds this many seconds of the rate when `RATE_LIMIT_BURST` is unset.
    pub const RATE_LIMIT_BURST_SECONDS: u32 = 2;
    /// No proxy trusted: `X-Forwarded-For` is ignored.
    pub const RATE_LIMIT_TRUSTED_PROXIES: &str = "";
}

/// Rate limits.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Rate limits")]
pub struct RateLimitConfig {
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
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        use defaults::*;
        Self {
            rate_limit_per_second: RATE_LIMIT_PER_SECOND,
            rate_limit_burst: None,
            rate_limit_trusted_proxies: parse_cidrs(RATE_LIMIT_TRUSTED_PROXIES).unwrap_or_default(),
        }
    }
}

impl RateLimitConfig {
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
