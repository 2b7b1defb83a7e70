use async_graphql::ParseRequestError;
use async_graphql::http::{GraphiQLSource, MultipartOptions};
use async_graphql_axum::GraphQLRequest;
use async_graphql_axum::rejection::GraphQLRejection;
use axum::body::Body;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::{AppState, MAX_BODY_BYTES};
use crate::graphql::{ErrorCode, Lookup, PresentedToken, ResponseCache, render};

const GRAPHQL_RESPONSE: HeaderValue = HeaderValue::from_static("application/graphql-response+json");

/// `GET /graphql`: the GraphiQL playground.
pub(super) async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

/// `POST /graphql`: executes a GraphQL request. A JSON body whose response is in the response
/// cache is answered with the stored bytes, without parsing or executing anything; any other is
/// executed (and its response stored, if it may be). The bearer token, if any, goes into the
/// request's data for the mutations' guard.
pub(super) async fn execute(State(state): State<AppState>, request: Request) -> Response {
    let token = PresentedToken::from_authorization(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok()),
    );
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    if content_type
        .as_deref()
        .is_some_and(|value| value.trim_start().starts_with("multipart/"))
    {
        // Uploads: left entirely to async-graphql, and never cached.
        return match GraphQLRequest::<GraphQLRejection>::from_request(request, &state).await {
            Ok(request) => {
                let response = state.schema.execute(request.into_inner().data(token)).await;
                graphql_response(&response, render(&response))
            }
            Err(rejection) => malformed(rejection.0),
        };
    }

    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(err) => {
            let err = err.into_inner();
            return malformed(if err.is::<http_body_util::LengthLimitError>() {
                ParseRequestError::PayloadTooLarge
            } else {
                ParseRequestError::Io(std::io::Error::other(err))
            });
        }
    };
    let keys = match state
        .responses
        .as_deref()
        .map(|cache| (cache, cache.lookup(&body)))
    {
        Some((_, Lookup::Hit(stored))) => return stored_response(stored),
        Some((cache, Lookup::Miss(keys))) => Some((cache, keys)),
        Some((_, Lookup::Uncacheable)) | None => None,
    };

    // The same parsing as async-graphql-axum's extractor, from the bytes already read.
    let request = match async_graphql::http::receive_body(
        content_type.as_deref(),
        &body[..],
        MultipartOptions::default(),
    )
    .await
    {
        Ok(request) => request.data(token),
        Err(err) => return malformed(err),
    };
    match keys {
        Some((cache, keys)) => {
            let trace = ResponseCache::trace();
            let response = state.schema.execute(request.data(trace.clone())).await;
            let body = render(&response);
            cache.store(keys, &trace, &response, &body);
            graphql_response(&response, body)
        }
        None => {
            let response = state.schema.execute(request).await;
            graphql_response(&response, render(&response))
        }
    }
}

/// An executed response, with the headers async-graphql-axum's `GraphQLResponse` would set.
fn graphql_response(response: &async_graphql::Response, body: Bytes) -> Response {
    let mut http = stored_response(body);
    if response.is_ok()
        && let Some(cache_control) = response.cache_control.value()
        && let Ok(value) = HeaderValue::from_str(&cache_control)
    {
        http.headers_mut().insert(header::CACHE_CONTROL, value);
    }
    http.headers_mut().extend(response.http_headers.clone());
    http
}

/// Response bytes as they are sent; only stored for responses that set no other header.
fn stored_response(body: Bytes) -> Response {
    let mut http = Response::new(Body::from(body));
    http.headers_mut()
        .insert(header::CONTENT_TYPE, GRAPHQL_RESPONSE);
    http
}

/// A body that is not a GraphQL request at all: answered in GraphQL's error shape, with a code.
fn malformed(err: ParseRequestError) -> Response {
    let status = match err {
        ParseRequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = json!({
        "errors": [{
            "message": format!("malformed GraphQL request: {err}"),
            "extensions": { "code": ErrorCode::BadRequest.as_str() },
        }]
    });
    (status, axum::Json(body)).into_response()
}
