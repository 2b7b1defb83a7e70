//! A request timeout that costs nothing for a request answered at once: `408 Request Timeout`
//! when the handler has not finished some time after it first had to wait. tower-http's
//! `Timeout` arms a timer for every request (registering it in the runtime's timer wheel and
//! taking it out again, a lock each time, and waking the timer driver when the new deadline is
//! its nearest); a response-cache hit is ready on its first poll and never needs one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

/// Answers `408 Request Timeout` when the handler has not finished `timeout` after it first had
/// to wait. The timer is armed only then: a request answered on its first poll arms none. (The
/// time before that first wait is the handler's own CPU time, microseconds.)
#[derive(Clone)]
pub(crate) struct LazyTimeoutLayer {
    timeout: Duration,
}

impl LazyTimeoutLayer {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for LazyTimeoutLayer {
    type Service = LazyTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LazyTimeout {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub struct LazyTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request<Body>> for LazyTimeout<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = LazyTimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        LazyTimeoutFuture {
            inner: self.inner.call(request),
            timeout: self.timeout,
            sleep: None,
        }
    }
}

pin_project! {
    pub struct LazyTimeoutFuture<F> {
        #[pin]
        inner: F,
        timeout: Duration,
        // Boxed: only slow requests pay for it, and the future every request builds stays small.
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F, E> Future for LazyTimeoutFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.inner.poll(cx) {
            return Poll::Ready(output);
        }
        let timeout = *this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(sleep.as_mut().poll(cx));
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_that_waits_past_the_timeout_gets_408_and_a_quick_one_arms_no_timer() {
        let slow = tower::service_fn(|_: Request<Body>| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        });
        let mut service = LazyTimeoutLayer::new(Duration::from_millis(50)).layer(slow);
        let response = service.call(Request::new(Body::empty())).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);

        let quick = tower::service_fn(|_: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
        });
        let mut service = LazyTimeoutLayer::new(Duration::from_secs(1)).layer(quick);
        let mut future = std::pin::pin!(service.call(Request::new(Body::empty())));
        let waker = futures::task::noop_waker();
        let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(matches!(polled, Poll::Ready(Ok(ref r)) if r.status() == StatusCode::OK));
        assert!(
            future.sleep.is_none(),
            "a request ready at once armed a timer"
        );
    }
}
