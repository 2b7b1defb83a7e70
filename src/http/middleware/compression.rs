//! gzip or br for the clients that accept them, and no cost at all for the ones that don't.
//!
//! tower-http's compression wraps every response body in an encoder enum sized for its largest
//! encoder, which then gets boxed into axum's `Body`: an allocation and a copy of that state per
//! response, even when the client accepts no encoding (most server-to-server clients). Requests
//! without `Accept-Encoding` skip the wrapper entirely; the others get tower-http's compression,
//! which applies its own rules (weights, `identity`, minimum size, content types).

use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{Request, Response, header};
use futures::TryFutureExt;
use futures::future::{Either, MapOk};
use tower::{Layer, Service};
use tower_http::compression::{Compression, CompressionBody, CompressionLayer};

#[derive(Clone, Default)]
pub(crate) struct CompressWhenAcceptedLayer;

impl<S: Clone> Layer<S> for CompressWhenAcceptedLayer {
    type Service = CompressWhenAccepted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressWhenAccepted {
            compressed: CompressionLayer::new().layer(inner.clone()),
            plain: inner,
        }
    }
}

#[derive(Clone)]
pub struct CompressWhenAccepted<S> {
    compressed: Compression<S>,
    plain: S,
}

type Boxed = fn(Response<CompressionBody<Body>>) -> Response<Body>;

fn into_body(response: Response<CompressionBody<Body>>) -> Response<Body> {
    response.map(Body::new)
}

impl<S> Service<Request<Body>> for CompressWhenAccepted<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future =
        Either<MapOk<<Compression<S> as Service<Request<Body>>>::Future, Boxed>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Both wrap clones of one service; it is ready when both are.
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.compressed.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if request.headers().contains_key(header::ACCEPT_ENCODING) {
            Either::Left(self.compressed.call(request).map_ok(into_body as Boxed))
        } else {
            Either::Right(self.plain.call(request))
        }
    }
}
