//! Refusals that leave the connection usable. Whatever answers a request before reading its body
//! (a bad credential, `READ_ACCESS`, a rate limit, 405, 406, 415, a 404, a timeout...), hyper
//! would otherwise stop reading the connection, because the rest of the body is still on its way,
//! and close it after the response without saying so: a client that sends its next request on
//! it (Python's `http.client`, SDKs with a pool) meets a broken pipe or a reset.
//!
//! The connection, outside everything that may refuse, handles every refusal the same way: each
//! request's body is watched, and when the response is ready and the body was left unread, the
//! rest is read and discarded before the response goes out, up to `MAX_REQUEST_BYTES` and
//! [`DRAIN_MAX_TIME`]. A body that is larger or slower gets `Connection: close` instead, so the
//! client knows to open a new connection. A request without a body (every `GET`) costs nothing,
//! and one whose body is read costs no allocation: the body is boxed once, as it would be
//! anyway, and what it leaves goes to a slot the connection keeps for all its requests (HTTP/1.1
//! answers them one at a time).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Request, Response, header};
use futures::future::BoxFuture;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::http::drain::discard;

/// Longest time a response waits for the rest of a body it did not read. Clients that write
/// the head and then the body send the body within milliseconds; a slower one gets
/// `Connection: close`, so a slow body never holds a response (or the server) for long.
pub(crate) const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

/// What a connection's handlers left of a request's body: filled when the body is dropped
/// before its end, emptied when that request's response is ready.
#[derive(Default)]
pub(crate) struct Leftover {
    body: Mutex<Option<Body>>,
    /// Whether `body` holds one: looked at after every request, locked only when set.
    filled: AtomicBool,
}

impl Leftover {
    /// Passes `request` to `call` with its body watched, and answers with `call`'s response once
    /// what the handlers left of the body is discarded (or with `Connection: close`).
    /// `max_bytes`: `MAX_REQUEST_BYTES`; a larger body is never read, whoever refused it.
    pub(crate) fn watch<B, F, E>(
        self: &Arc<Self>,
        request: Request<B>,
        max_bytes: usize,
        call: impl FnOnce(Request<Body>) -> F,
    ) -> UnreadBodyFuture<F, E>
    where
        B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = Result<Response<Body>, E>>,
    {
        if request.body().is_end_stream() {
            return UnreadBodyFuture {
                state: State::Plain {
                    inner: call(request.map(Body::new)),
                },
            };
        }
        let request = request.map(|body| {
            Body::new(Watched {
                inner: Some(body),
                left: self.clone(),
            })
        });
        UnreadBodyFuture {
            state: State::Watched {
                inner: call(request),
                left: self.clone(),
                max_bytes,
            },
        }
    }

    fn take(&self) -> Option<Body> {
        if !self.filled.swap(false, Ordering::Acquire) {
            return None;
        }
        self.body.lock().ok().and_then(|mut body| body.take())
    }
}

/// A request body that, dropped before its end, hands what is left to the connection's
/// [`Leftover`] rather than to hyper (which would stop reading the connection).
struct Watched<B: HttpBody<Data = Bytes> + Send + 'static>
where
    B::Error: Into<BoxError>,
{
    /// `None` once read to the end.
    inner: Option<B>,
    left: Arc<Leftover>,
}

impl<B> HttpBody for Watched<B>
where
    B: HttpBody<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    // The body's own error: `Body::new` maps it once, as it would the unwatched body's.
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = ready!(Pin::new(inner).poll_frame(cx));
        if frame.is_none() {
            self.inner = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl<B> Drop for Watched<B>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take()
            && !inner.is_end_stream()
            && let Ok(mut left) = self.left.body.lock()
        {
            *left = Some(Body::new(inner));
            self.left.filled.store(true, Ordering::Release);
        }
    }
}

pin_project! {
    pub(crate) struct UnreadBodyFuture<F, E> {
        #[pin]
        state: State<F, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, E> {
        /// No body: the inner future, as it is.
        Plain { #[pin] inner: F },
        /// The inner future, then a look at what it left of the body.
        Watched { #[pin] inner: F, left: Arc<Leftover>, max_bytes: usize },
        /// Discarding the rest of the body before the response goes out.
        Draining { drain: BoxFuture<'static, Result<Response<Body>, E>> },
    }
}

impl<F, E> Future for UnreadBodyFuture<F, E>
where
    F: Future<Output = Result<Response<Body>, E>>,
    E: Send + 'static,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let drain = match state.as_mut().project() {
                StateProj::Plain { inner } => return inner.poll(cx),
                StateProj::Draining { drain } => return drain.as_mut().poll(cx),
                StateProj::Watched {
                    inner,
                    left,
                    max_bytes,
                } => {
                    let response = ready!(inner.poll(cx))?;
                    let Some(body) = left.take() else {
                        return Poll::Ready(Ok(response));
                    };
                    let max_bytes = *max_bytes;
                    Box::pin(async move { Ok(finish(response, body, max_bytes).await) })
                }
            };
            state.set(State::Draining { drain });
        }
    }
}

/// `response`, once the rest of `body` is discarded; or with `Connection: close` when it is not
/// (larger than `max_bytes`, slower than [`DRAIN_MAX_TIME`], or broken).
async fn finish(mut response: Response<Body>, body: Body, max_bytes: usize) -> Response<Body> {
    if closes(&response) {
        return response;
    }
    let too_large = body
        .size_hint()
        .upper()
        .is_some_and(|upper| upper > max_bytes as u64);
    if too_large || !discard(body, max_bytes, DRAIN_MAX_TIME).await {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Whether the response already closes the connection (the 413 drains its body itself).
fn closes(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONNECTION)
        .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"close"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    /// A handler that refuses without reading the body, behind a connection's watch.
    async fn refused(body: Body, max_bytes: usize) -> Response<Body> {
        let request = Request::post("/").body(body).unwrap();
        let refuse = |_request: Request<Body>| async {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            Ok::<_, std::convert::Infallible>(response)
        };
        let leftover = Arc::new(Leftover::default());
        leftover.watch(request, max_bytes, refuse).await.unwrap()
    }

    fn streamed(chunks: Vec<&'static [u8]>, delay: Duration) -> Body {
        let stream = futures::stream::iter(chunks).then(move |chunk| async move {
            tokio::time::sleep(delay).await;
            Ok::<_, std::io::Error>(Bytes::from_static(chunk))
        });
        Body::from_stream(stream)
    }

    use futures::StreamExt as _;

    #[tokio::test]
    async fn an_unread_body_is_discarded_before_the_refusal() {
        let body = streamed(
            vec![b"{\"query\":", b"\"{ plans { id } }\"}"],
            Duration::ZERO,
        );
        let response = refused(body, 1024).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().get(header::CONNECTION).is_none());
    }

    #[tokio::test]
    async fn a_larger_body_closes_the_connection() {
        let body = streamed(vec![b"0123456789", b"0123456789"], Duration::ZERO);
        let response = refused(body, 8).await;
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }

    #[tokio::test]
    async fn a_slower_body_closes_the_connection() {
        let body = streamed(
            vec![b"{", b"}"],
            DRAIN_MAX_TIME / 2 + Duration::from_millis(100),
        );
        let response = refused(body, 1024).await;
        assert_eq!(response.headers()[header::CONNECTION], "close");
    }
}
