//! Serving connections so that they cannot be hoarded: what `axum::serve` does (HTTP/1.1 with
//! upgrades, graceful shutdown), plus three bounds, each a setting:
//!
//! - **a header read timeout**: once the first byte of a request head arrives, the whole head
//!   must follow within it (slowloris);
//! - **an idle timeout**: a connection on which nothing is read or written for that long is
//!   closed. The subscription transports are spared: an SSE stream writes a keep-alive comment
//!   every `SUBSCRIPTION_KEEPALIVE`, and an upgraded WebSocket leaves this watch altogether (it
//!   has its own pings);
//! - **a connection limit**. Past it, a few more connections are still accepted (the overflow)
//!   and answer one request each, with `Connection: close`: `/health/live` as usual, anything
//!   else 503 with `Retry-After`; beyond those, new connections wait in the kernel's backlog.
//!   The clients already connected are served as before.
//!
//! hyper's own `header_read_timeout` is not used: it is armed whenever the connection waits for
//! a head, idle keep-alive time included, so it cannot tell a slow head from an idle client.
//! Both are watched here instead ([`activity`]).
//!
//! The connection also keeps itself usable after a refusal: what a handler left unread of a
//! request's body is discarded before the response goes out ([`unread_body`]).

mod activity;
mod unread_body;

use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use futures::FutureExt as _;
use futures::future::Either;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::util::Oneshot;
use tower::{Service, ServiceExt as _};

use super::middleware::peer::WithPeer;
use super::protocol::respond::too_many_requests;
use activity::{Activity, Watched};
use unread_body::{Leftover, UnreadBodyFuture};

/// The connection bounds, from [`crate::Config`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionSettings {
    /// `HTTP_HEADER_READ_TIMEOUT`: from a head's first byte to its last.
    pub header_read_timeout: Duration,
    /// `HTTP_IDLE_TIMEOUT`: nothing read or written for this long closes the connection.
    pub idle_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS`: connections served at once (besides the overflow).
    pub max_connections: usize,
    /// `MAX_REQUEST_BYTES`: most of an unread body discarded after a refusal.
    pub max_request_bytes: usize,
}

/// Connections accepted past the limit, each answering one request: enough for probes and for
/// clients to learn they should come back, few enough to bound memory.
pub const OVERFLOW_CONNECTIONS: usize = 32;

/// How long an overflow connection may take to send its one request head.
const OVERFLOW_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `service` on `listener` until `shutdown` completes, then lets the requests in
/// progress finish (as `axum::serve(..).with_graceful_shutdown(..)` does). With `with_peer`,
/// every request carries its peer's address (for the rate limits).
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    with_peer: bool,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let (signal_tx, signal_rx) = watch::channel(());
    tokio::spawn(async move {
        shutdown.await;
        drop(signal_rx);
    });
    // Each connection task holds a receiver; shutdown waits until all are dropped.
    let (close_tx, close_rx) = watch::channel(());
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    loop {
        // A place first, so that past both bounds new connections wait in the backlog rather
        // than in memory.
        let lane = tokio::select! {
            biased;
            () = signal_tx.closed() => break,
            permit = permits.clone().acquire_owned() => Lane::Normal(permit.expect("never closed")),
            permit = overflow.clone().acquire_owned() => Lane::Overflow(permit.expect("never closed")),
        };
        let (stream, peer) = tokio::select! {
            () = signal_tx.closed() => break,
            accepted = accept(&listener) => accepted,
        };
        // A place may have come free in the meantime.
        let lane = match lane {
            Lane::Overflow(spare) => match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    drop(spare);
                    Lane::Normal(permit)
                }
                Err(_) => Lane::Overflow(spare),
            },
            normal => normal,
        };
        let connection = Connection {
            settings,
            signal: signal_tx.clone(),
            close: close_rx.clone(),
        };
        let service = service.clone();
        match (lane, with_peer) {
            (Lane::Normal(permit), true) => {
                connection.spawn(stream, WithPeer::new(service, peer), permit, false);
            }
            (Lane::Normal(permit), false) => connection.spawn(stream, service, permit, false),
            (Lane::Overflow(permit), true) => {
                let service = Overflow(WithPeer::new(service, peer));
                connection.spawn(stream, service, permit, true);
            }
            (Lane::Overflow(permit), false) => {
                connection.spawn(stream, Overflow(service), permit, true);
            }
        }
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

enum Lane {
    Normal(OwnedSemaphorePermit),
    Overflow(OwnedSemaphorePermit),
}

/// The next connection. Errors that concern one connection are skipped; others (out of file
/// descriptors...) are waited out, as `axum::serve` does.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(err) if is_connection_error(&err) => {}
            Err(err) => {
                tracing::error!(error = %err, "accept failed; retrying in a moment");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn is_connection_error(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// What a connection's task needs besides its socket and service.
struct Connection {
    settings: ConnectionSettings,
    signal: watch::Sender<()>,
    close: watch::Receiver<()>,
}

impl Connection {
    fn spawn<S>(self, stream: TcpStream, service: S, permit: OwnedSemaphorePermit, overflow: bool)
    where
        S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let activity = Arc::new(Activity::default());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = Served {
            inner: service,
            activity: activity.clone(),
            leftover: Arc::new(Leftover::default()),
            max_request_bytes: self.settings.max_request_bytes,
        };
        let Self {
            settings,
            signal,
            close,
        } = self;
        let settings = if overflow {
            ConnectionSettings {
                header_read_timeout: settings.header_read_timeout.min(OVERFLOW_HEAD_TIMEOUT),
                idle_timeout: settings.idle_timeout.min(OVERFLOW_HEAD_TIMEOUT),
                ..settings
            }
        } else {
            settings
        };
        let serving = tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.keep_alive(!overflow);
            let connection = builder.serve_connection(io, service).with_upgrades();
            let mut connection = std::pin::pin!(connection);
            let mut signal = std::pin::pin!(signal.closed().fuse());
            loop {
                tokio::select! {
                    biased;
                    _ = connection.as_mut() => break,
                    () = &mut signal => connection.as_mut().graceful_shutdown(),
                }
            }
            drop(close);
        });
        // The timeouts are watched beside the connection rather than in its task, so that
        // serving a request polls no timer. At a timeout, the connection's task is aborted,
        // which drops the connection and so closes it.
        let abort = serving.abort_handle();
        tokio::spawn(async move {
            tokio::select! {
                () = activity::watch(&activity, settings) => abort.abort(),
                _ = serving => {}
            }
        });
    }
}

/// A connection's service, as hyper calls it: counts each request (a head is complete when its
/// request starts), watches its body for what a refusal leaves unread, and runs it through a
/// clone of the stack.
struct Served<S> {
    inner: S,
    activity: Arc<Activity>,
    leftover: Arc<Leftover>,
    max_request_bytes: usize,
}

impl<S> hyper::service::Service<Request<Incoming>> for Served<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future =
        UnreadBodyFuture<Either<S::Future, Pin<Box<Oneshot<S, Request<Body>>>>>, Infallible>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.requests.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.inner.clone();
        // Every layer of the stack is ready at once, so the request is passed straight on
        // rather than through `Oneshot` (a state machine the request would be moved through,
        // on every request). A layer that were not ready would get a proper wait, boxed so that
        // the future of every request stays as small as the stack's own.
        let ready = inner.poll_ready(&mut Context::from_waker(Waker::noop()));
        self.leftover
            .watch(request, self.max_request_bytes, |request| match ready {
                Poll::Ready(Ok(())) => Either::Left(inner.call(request)),
                _ => Either::Right(Box::pin(inner.oneshot(request))),
            })
    }
}

/// An overflow connection's service: `/health/live` as usual, 503 for anything else.
#[derive(Clone)]
struct Overflow<S>(S);

impl<S> Service<Request<Body>> for Overflow<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response<Body>, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if request.uri().path() == "/health/live" {
            return Either::Left(self.0.call(request));
        }
        // A `RATE_LIMITED` GraphQL error, as for a client over its rate limit: come back later.
        let mut response = too_many_requests(request.headers(), 1);
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        let headers = response.headers_mut();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        Either::Right(ready(Ok(response)))
    }
}
