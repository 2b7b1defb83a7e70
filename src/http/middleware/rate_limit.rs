//! Per-client rate limits: a GCRA (the token bucket as arrival times) per client, keyed by a
//! *valid* credential (the admin, or an operator: each has its own bucket, whichever of its
//! tokens it sends), else by the client IP. Over the limit: 429, `Retry-After`, a `RATE_LIMITED`
//! GraphQL error, and nothing below this layer runs.
//!
//! The layer is left out of the stack when `RATE_LIMIT_PER_SECOND=0` (the default), so it costs
//! nothing then.
//!
//! This layer charges one token per HTTP request. A batch (a JSON array of requests) counts each
//! item: the batch handler charges the other `n - 1` items through the request's [`Charge`]
//! before running any, and if they do not fit, refuses the whole batch (429) and gives the first
//! token back.

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, Response, header};
use futures::future::{BoxFuture, Either};
use moka::ops::compute::Op;
use tower::{Layer, Service};

use crate::auth::{Authenticator, Caller};
use crate::http::admission::bearer_token;
use crate::http::protocol::respond::too_many_requests;

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
    /// Whose credentials have buckets of their own.
    pub auth: Authenticator,
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
    /// The admin (`ADMIN_TOKEN`, or a JWT with the admin role).
    Admin,
    /// An operator, whichever of its tokens it sent.
    Operator(i32),
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

    /// Gives back `cost` tokens taken by [`Self::check`] for a request that was refused after
    /// all (a batch whose other items did not fit).
    pub fn refund(&self, key: ClientKey, cost: u32) {
        self.buckets
            .entry(key)
            .and_compute_with(|entry| match entry {
                Some(entry) => Op::Put(
                    entry
                        .into_value()
                        .saturating_sub(self.interval.saturating_mul(u64::from(cost))),
                ),
                None => Op::Nop,
            });
    }
}

/// What a request may still take from its client's bucket: in the request's extensions when
/// rate limits are on (POST only: batches are POSTs).
#[derive(Clone)]
pub(crate) struct Charge {
    shared: Arc<Shared>,
    key: ClientKey,
}

impl Charge {
    /// Takes `extra` more tokens (a batch's items after the first); `None` when they fit. Else
    /// the whole request is refused: the token the layer took is given back, and the 429 to send
    /// is returned.
    pub(crate) fn refusal_of_extra(
        &self,
        extra: u32,
        headers: &HeaderMap,
    ) -> Option<Response<Body>> {
        if extra == 0 {
            return None;
        }
        let wait = self.shared.limiter.check(self.key, extra).err()?;
        self.shared.limiter.refund(self.key, 1);
        Some(self.shared.refuse(headers, wait))
    }
}

/// Puts the rate limits around a service.
#[derive(Clone)]
pub(crate) struct RateLimitLayer {
    shared: Arc<Shared>,
}

struct Shared {
    limiter: RateLimiter,
    settings: RateLimitSettings,
}

impl RateLimitLayer {
    /// `None` when rate limits are off.
    pub(crate) fn new(settings: Option<RateLimitSettings>) -> Option<Self> {
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

/// What a request's future is: the inner service's; a refusal, ready at once; or, for a bearer
/// token not seen before, the signature check and then either (boxed: once per new token).
type RateLimitFuture<F, E> = Either<
    F,
    Either<Ready<Result<Response<Body>, E>>, BoxFuture<'static, Result<Response<Body>, E>>>,
>;

impl<S> Service<Request<Body>> for RateLimit<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let path = request.uri().path();
        // Probes and scrapes must get through whatever a client does.
        if path.starts_with("/health/") || path == "/metrics" {
            return Either::Left(self.inner.call(request));
        }
        let key = match self.shared.known_key(&request) {
            Ok(key) => key,
            Err(token) => {
                // A token whose owner is not known yet: check its signature first (the endpoint
                // then finds it verified), so it is counted as its owner from the first request.
                let shared = self.shared.clone();
                let ready_inner = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, ready_inner);
                return Either::Right(Either::Right(Box::pin(async move {
                    let key = match shared.settings.auth.authenticate(Some(&token)).await {
                        Ok(Caller::Admin) => ClientKey::Admin,
                        Ok(Caller::Operator(id)) => ClientKey::Operator(id),
                        Ok(Caller::Anonymous) | Err(_) => shared.ip_key(&request),
                    };
                    match shared.refusal(key, &mut request) {
                        None => inner.call(request).await,
                        Some(refused) => Ok(refused),
                    }
                })));
            }
        };
        match self.shared.refusal(key, &mut request) {
            None => Either::Left(self.inner.call(request)),
            Some(refused) => Either::Right(Either::Left(ready(Ok(refused)))),
        }
    }
}

impl Shared {
    /// Takes `key`'s token for `request` (`None`), or says what to answer instead.
    fn refusal(
        self: &Arc<Self>,
        key: ClientKey,
        request: &mut Request<Body>,
    ) -> Option<Response<Body>> {
        match self.limiter.check(key, 1) {
            Ok(()) => {
                if request.method() == axum::http::Method::POST {
                    request.extensions_mut().insert(Charge {
                        shared: self.clone(),
                        key,
                    });
                }
                None
            }
            Err(wait) => Some(self.refuse(request.headers(), wait)),
        }
    }

    /// The 429 for a client that must wait `wait`, counted.
    fn refuse(&self, headers: &HeaderMap, wait: Duration) -> Response<Body> {
        self.settings.refused.inc();
        // Whole seconds, at least 1: when retrying then, the token is back.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut response = too_many_requests(headers, seconds);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        response
    }

    /// The valid credential the request carries, else the client's address; or, for a bearer
    /// token not checked before, the token (see [`Authenticator::known_caller`]).
    fn known_key(&self, request: &Request<Body>) -> Result<ClientKey, String> {
        if let Some(token) = bearer_token(request.headers()) {
            match self.settings.auth.known_caller(token) {
                Some(Caller::Admin) => return Ok(ClientKey::Admin),
                Some(Caller::Operator(id)) => return Ok(ClientKey::Operator(id)),
                Some(Caller::Anonymous) => {}
                None => return Err(token.to_owned()),
            }
        }
        Ok(self.ip_key(request))
    }

    /// The client's address as the key.
    fn ip_key(&self, request: &Request<Body>) -> ClientKey {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        ClientKey::Ip(self.client_ip(peer, request.headers()))
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
        let other = ClientKey::Operator(7);
        limiter.check(other, 3).unwrap();
        assert!(limiter.check(other, 1).is_err());
        // A refund gives a token back.
        limiter.refund(other, 1);
        limiter.check(other, 1).unwrap();
    }
}
