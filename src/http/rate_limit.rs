//! Per-client rate limits: a GCRA (the token bucket as arrival times) per client, keyed by a
//! *valid* credential (the admin token's digest), else by the client IP. Over the limit: 429,
//! `Retry-After`, a `RATE_LIMITED` GraphQL error, and nothing below this layer runs.
//!
//! The layer is left out of the stack when `RATE_LIMIT_PER_SECOND=0` (the default), so it costs
//! nothing then.
//!
//! Batches (a JSON array of requests, each item counting once) are not parsed here: this layer
//! charges one token per HTTP request. When batches arrive, the handler that splits one charges
//! the other `n - 1` items with [`RateLimiter::check`] (`cost`), under the same [`ClientKey`].

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, Response, header};
use axum::serve::IncomingStream;
use futures::future::Either;
use moka::ops::compute::Op;
use tokio::net::TcpListener;
use tower::{Layer, Service};

use super::respond::too_many_requests;
use crate::graphql::{AdminToken, PresentedToken};

/// Most clients remembered at once; the least recently seen are forgotten first (and start again
/// with a full bucket).
const MAX_CLIENTS: u64 = 100_000;

/// The rate limits' settings, from [`crate::Config`].
#[derive(Clone)]
pub struct RateLimitSettings {
    /// Sustained requests per second per client (at least 1: 0 leaves the layer out).
    pub per_second: u32,
    /// Requests a client may send at once.
    pub burst: u32,
    /// Whether a peer is a proxy whose `X-Forwarded-For` names the client; `None`: no proxy is.
    pub trusted_proxy: Option<Arc<dyn Fn(IpAddr) -> bool + Send + Sync>>,
    /// Whose credential has a bucket of its own.
    pub admin_token: AdminToken,
    /// `http_requests_rate_limited_total`.
    pub refused: prometheus::IntCounter,
}

impl std::fmt::Debug for RateLimitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitSettings")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("trusted_proxies", &self.trusted_proxy.is_some())
            .finish_non_exhaustive()
    }
}

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A valid credential, by its digest (never the secret itself).
    Credential([u8; 32]),
    /// Anyone else, by address.
    Ip(IpAddr),
}

/// The buckets: for each client, the GCRA's "theoretical arrival time" (nanoseconds since
/// `start`): when its bucket will be full again.
pub struct RateLimiter {
    /// Nanoseconds one request's token takes to come back.
    interval: u64,
    /// How far ahead of now a client's arrival time may run: `burst` tokens.
    tolerance: u64,
    start: Instant,
    buckets: moka::sync::Cache<ClientKey, u64>,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let interval = 1_000_000_000 / u64::from(per_second.max(1));
        let tolerance = interval * u64::from(burst.max(1));
        Self {
            interval,
            tolerance,
            start: Instant::now(),
            // A bucket untouched for `tolerance` is full again, the same as a new one: forgetting
            // it then changes nothing, and bounds memory to the clients of the last moments.
            buckets: moka::sync::Cache::builder()
                .max_capacity(MAX_CLIENTS)
                .time_to_idle(Duration::from_nanos(tolerance))
                .build(),
        }
    }

    /// Takes `cost` tokens from `key`'s bucket, or, if it does not hold that many, takes none and
    /// says how long until it will.
    pub fn check(&self, key: ClientKey, cost: u32) -> Result<(), Duration> {
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut refused = None;
        self.buckets.entry(key).and_compute_with(|entry| {
            let arrival = entry.map_or(now, |entry| entry.into_value()).max(now);
            let next = arrival.saturating_add(self.interval.saturating_mul(u64::from(cost)));
            let ahead = next - now;
            if ahead > self.tolerance {
                refused = Some(Duration::from_nanos(ahead - self.tolerance));
                Op::Nop
            } else {
                Op::Put(next)
            }
        });
        match refused {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }
}

/// Puts the rate limits around a service.
#[derive(Clone)]
pub(super) struct RateLimitLayer {
    shared: Arc<Shared>,
}

struct Shared {
    limiter: RateLimiter,
    settings: RateLimitSettings,
}

impl RateLimitLayer {
    /// `None` when rate limits are off.
    pub(super) fn new(settings: Option<RateLimitSettings>) -> Option<Self> {
        let settings = settings.filter(|settings| settings.per_second > 0)?;
        Some(Self {
            shared: Arc::new(Shared {
                limiter: RateLimiter::new(settings.per_second, settings.burst),
                settings,
            }),
        })
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request<Body>> for RateLimit<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let path = request.uri().path();
        // Probes and scrapes must get through whatever a client does.
        if path.starts_with("/health/") || path == "/metrics" {
            return Either::Left(self.inner.call(request));
        }
        let key = self.shared.key(&request);
        match self.shared.limiter.check(key, 1) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(wait) => {
                self.shared.settings.refused.inc();
                // Whole seconds, at least 1: when retrying then, the token is back.
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let seconds = seconds.max(1);
                let mut response = too_many_requests(request.headers(), seconds);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
                Either::Right(ready(Ok(response)))
            }
        }
    }
}

impl Shared {
    /// The valid credential the request carries, else the client's address.
    fn key(&self, request: &Request<Body>) -> ClientKey {
        let headers = request.headers();
        if let Some(authorization) = headers.get(header::AUTHORIZATION)
            && let Ok(authorization) = authorization.to_str()
            && let PresentedToken(Some(token)) =
                PresentedToken::from_authorization(Some(authorization))
            && let Some(digest) = self.settings.admin_token.digest_if_valid(&token)
        {
            return ClientKey::Credential(digest);
        }
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        ClientKey::Ip(self.client_ip(peer, headers))
    }

    /// The client's address: the peer, unless the peer is a trusted proxy; then the address the
    /// proxies say they were called from (the right-most in `X-Forwarded-For` that is not itself
    /// a trusted proxy: entries further left were written by the client and prove nothing).
    fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let Some(trusted) = &self.settings.trusted_proxy else {
            return peer;
        };
        if !trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for value in headers.get_all("x-forwarded-for").iter().rev() {
            let Ok(value) = value.to_str() else {
                return client;
            };
            for hop in value.rsplit(',') {
                let Ok(hop) = hop.trim().parse::<IpAddr>() else {
                    return client;
                };
                client = hop;
                if !trusted(hop) {
                    return client;
                }
            }
        }
        client
    }
}

/// Makes each connection's service with the peer's address in every request (as axum's
/// `ConnectInfo`), for the rate limits' client key. Used only when rate limits are on.
#[derive(Clone)]
pub struct MakeWithPeer<S>(pub S);

impl<'a, S: Clone> Service<IncomingStream<'a, TcpListener>> for MakeWithPeer<S> {
    type Response = WithPeer<S>;
    type Error = Infallible;
    type Future = Ready<Result<WithPeer<S>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'a, TcpListener>) -> Self::Future {
        ready(Ok(WithPeer {
            inner: self.0.clone(),
            peer: *stream.remote_addr(),
        }))
    }
}

/// One connection's service: the request, with its peer's address.
#[derive(Clone)]
pub struct WithPeer<S> {
    inner: S,
    peer: SocketAddr,
}

impl<S, B> Service<Request<B>> for WithPeer<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_the_burst_then_refills_at_the_rate() {
        let limiter = RateLimiter::new(10, 3);
        let key = ClientKey::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        for _ in 0..3 {
            limiter.check(key, 1).unwrap();
        }
        let wait = limiter.check(key, 1).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        // Refused requests take nothing: still refused, not further behind.
        let again = limiter.check(key, 1).unwrap_err();
        assert!(again <= wait);
        std::thread::sleep(wait + Duration::from_millis(5));
        limiter.check(key, 1).unwrap();
        // Another client has its own bucket.
        let other = ClientKey::Credential([7; 32]);
        limiter.check(other, 3).unwrap();
        assert!(limiter.check(other, 1).is_err());
    }
}
