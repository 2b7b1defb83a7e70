//! Writing GraphQL responses: the one serializer (whose bytes the response cache stores), and
//! the headers each kind of answer gets.

use std::collections::BTreeMap;

use async_graphql::ServerError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

use super::caching::{self, Etags, QueryCaching};
use super::negotiate::{self, MediaType};
use crate::graphql::{self, ErrorCode, OperationType, first_code};

/// A GraphQL response as JSON. A request error (nothing was executed) has no `data` entry, as
/// the GraphQL specification asks; an execution that failed has `"data": null`.
#[derive(Serialize)]
struct JsonBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// A serialized GraphQL response.
pub(crate) struct Encoded {
    pub status: StatusCode,
    pub body: Bytes,
    /// No errors: the answer is complete, and a GET may be reused by browsers and CDNs.
    pub complete: bool,
}

/// The status and body of a GraphQL response: the bytes a stored response must equal.
pub(crate) fn encode(media: MediaType, response: &async_graphql::Response) -> Encoded {
    let request_error = graphql::is_request_error(response);
    let status = if request_error && media == MediaType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = JsonBody {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    match serde_json::to_vec(&body) {
        Ok(body) => Encoded {
            status,
            body: Bytes::from(body),
            complete: response.errors.is_empty(),
        },
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            Encoded {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: Bytes::from_static(
                    br#"{"errors":[{"message":"internal server error; the server log has details","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
                ),
                complete: false,
            }
        }
    }
}

/// How the request came, which decides the caching headers.
#[derive(Clone, Copy)]
pub(crate) enum Delivery<'a> {
    /// A POST, or a refused request: nobody may keep the answer.
    NoStore,
    /// A GET query: a complete answer gets `Cache-Control` from the configuration and an `ETag`
    /// (`If-None-Match` then gets 304).
    Get {
        caching: QueryCaching,
        request: &'a HeaderMap,
    },
}

/// Sends `encoded` as `media`. When it is a stored response's body, `etags` are that entry's,
/// reused rather than computed again.
pub(crate) fn send(
    media: MediaType,
    encoded: Encoded,
    delivery: Delivery<'_>,
    etags: Option<&Etags>,
) -> Response {
    let Encoded {
        status,
        body,
        complete,
    } = encoded;
    let (cache_control, etag) = match delivery {
        // Only a complete answer may be reused: an error may be gone on the next try.
        Delivery::Get { caching, request } if complete => {
            let etag = caching.uses_etag().then(|| match etags {
                Some(etags) => etags.get(media, &body),
                None => caching::etag(media, &body),
            });
            if let Some(etag) = &etag
                && caching::not_modified(request, etag)
            {
                return build(
                    StatusCode::NOT_MODIFIED,
                    Body::empty(),
                    [
                        (header::VARY, HeaderValue::from_static("accept")),
                        (header::CACHE_CONTROL, caching.cache_control()),
                        (header::ETAG, etag.clone()),
                    ],
                );
            }
            (caching.cache_control(), etag)
        }
        _ => (caching::no_store(), None),
    };
    let mut response = build(
        status,
        Body::from(body),
        [
            (header::CONTENT_TYPE, media.content_type()),
            (header::VARY, HeaderValue::from_static("accept")),
            (header::CACHE_CONTROL, cache_control),
        ],
    );
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// A response with `headers`, built in place: a `(status, headers, body)` tuple would give the
/// response a header map of its own (with a default content type), then merge these into it.
fn build<const N: usize>(
    status: StatusCode,
    body: Body,
    headers: [(HeaderName, HeaderValue); N],
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let map = response.headers_mut();
    // Room for these, an ETag, and what the layers add (the request id, CORS, compression).
    map.reserve(8);
    for (name, value) in headers {
        map.insert(name, value);
    }
    response
}

/// Serializes and sends the answer to a request refused before GraphQL ran (every caller is
/// one), marked so that the edge counts it as a refused operation.
pub(crate) fn respond(
    media: MediaType,
    response: &async_graphql::Response,
    delivery: Delivery<'_>,
) -> Response {
    let mut sent = send(media, encode(media, response), delivery, None);
    mark_refused(&mut sent, response);
    sent
}

/// A request that is not a GraphQL request (or not allowed as sent): a GraphQL error with code
/// `BAD_REQUEST`, in the media type the client accepts (JSON if none), with `status`.
pub(crate) fn refuse(headers: &HeaderMap, status: StatusCode, message: String) -> Response {
    let media = negotiate::response_media_type(headers).unwrap_or(MediaType::Json);
    let mut response = respond(media, &graphql::bad_request(message), Delivery::NoStore);
    *response.status_mut() = status;
    response
}

/// Over a rate limit: 429 with one `RATE_LIMITED` error, in the media type the client accepts
/// (JSON if none). The caller adds `Retry-After`.
pub(crate) fn too_many_requests(headers: &HeaderMap, retry_after_seconds: u64) -> Response {
    let media = negotiate::response_media_type(headers).unwrap_or(MediaType::Json);
    let mut response = respond(
        media,
        &graphql::rate_limited(retry_after_seconds),
        Delivery::NoStore,
    );
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
}

/// 405 with `Allow: allow`: a method `/graphql` does not take, or a mutation sent by GET.
pub(crate) fn method_not_allowed(
    headers: &HeaderMap,
    message: &str,
    allow: &'static str,
) -> Response {
    let mut response = refuse(headers, StatusCode::METHOD_NOT_ALLOWED, message.to_owned());
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// A mutation sent by GET (GET must stay safe: caches and prefetchers replay it).
pub(crate) fn mutation_by_get(headers: &HeaderMap) -> Response {
    let mut response = method_not_allowed(headers, "mutations must be sent with POST", "POST");
    mark_refused_mutation(&mut response);
    response
}

pub(crate) fn not_acceptable() -> Response {
    let mut response = respond(
        MediaType::Json,
        &graphql::bad_request(
            "Accept must allow application/graphql-response+json or application/json",
        ),
        Delivery::NoStore,
    );
    *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
    response
}

/// On a response that refused a GraphQL request before it ran: what to count it as.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefusedOperation {
    pub(crate) kind: OperationType,
    pub(crate) code: ErrorCode,
}

/// Marks `response`, which answers a request refused before GraphQL ran with `refusal`, as one
/// refused operation: the edge's request metrics count it (once, whichever layer refused it). Its type is a query
/// (GraphQL's default: the document was not read, or not parsed) unless the caller knows better
/// ([`mark_refused_mutation`]).
pub(crate) fn mark_refused(response: &mut Response, refusal: &async_graphql::Response) {
    let code = first_code(refusal).unwrap_or(ErrorCode::BadRequest);
    response.extensions_mut().insert(RefusedOperation {
        kind: OperationType::Query,
        code,
    });
}

/// A refused request whose document was parsed and is a mutation (sent by GET).
pub(crate) fn mark_refused_mutation(response: &mut Response) {
    if let Some(refused) = response.extensions_mut().get_mut::<RefusedOperation>() {
        refused.kind = OperationType::Mutation;
    }
}
