use async_graphql::http::GraphiQLSource;
use async_graphql_axum::rejection::GraphQLRejection;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::graphql::{ErrorCode, PresentedToken};

/// `GET /graphql`: the GraphiQL playground, unless turned off (`GRAPHIQL=false`).
pub(super) async fn graphiql(State(state): State<AppState>) -> Response {
    if !state.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response()
}

/// `POST /graphql`: executes a GraphQL request. The bearer token, if any, goes into the request's
/// data for the mutations' guard.
pub(super) async fn execute(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Result<GraphQLRequest, GraphQLRejection>,
) -> Response {
    let request = match request {
        Ok(request) => request.into_inner(),
        Err(rejection) => return malformed(rejection),
    };
    let token = PresentedToken::from_authorization(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok()),
    );
    GraphQLResponse::from(state.schema.execute(request.data(token)).await).into_response()
}

/// A body that is not a GraphQL request at all: answered in GraphQL's error shape, with a code.
fn malformed(rejection: GraphQLRejection) -> Response {
    let status = if is_too_large(&rejection.0) {
        StatusCode::PAYLOAD_TOO_LARGE
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = json!({
        "errors": [{
            "message": format!("malformed GraphQL request: {}", rejection.0),
            "extensions": { "code": ErrorCode::BadRequest.as_str() },
        }]
    });
    (status, axum::Json(body)).into_response()
}

/// A body cut off by the size limit while streaming (no `Content-Length` to refuse it upfront).
/// async-graphql-axum keeps only the message of the body error, so the message is what we have.
fn is_too_large(error: &async_graphql::ParseRequestError) -> bool {
    match error {
        async_graphql::ParseRequestError::PayloadTooLarge => true,
        async_graphql::ParseRequestError::Io(io) => {
            // http-body-util's `LengthLimitError` (the chunked-body test in tests/api/limits.rs
            // fails if its wording changes).
            io.to_string().contains("length limit exceeded")
        }
        _ => false,
    }
}
