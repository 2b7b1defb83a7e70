//! `GET /graphql`: a query from the query string (a mutation gets 405 with `Allow: POST`), with
//! caching headers a browser or CDN may use; or, for a browser asking for nothing, GraphiQL.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::execute::{self, Answer, Asked, Prepared, send_stored, trace_hit};
use super::params::GetParams;
use crate::http::admission::{self, Refusal};
use crate::http::consistency;
use crate::http::graphiql;
use crate::http::protocol::negotiate::{self, MediaType};
use crate::http::protocol::respond::{
    Delivery, encode, mutation_by_get, not_acceptable, refuse, send,
};
use crate::http::response_cache::{RawRequest, StoredResponse};
use crate::http::state::SharedState;

/// `GET /graphql`: runs a query from the query string, or shows GraphiQL to a browser.
/// `media`: the response's media type, as the routes read it from `Accept` (`None`: 406).
pub(crate) async fn get(
    State(state): State<SharedState>,
    request: Request,
    media: Option<MediaType>,
) -> Response {
    // Taken apart rather than extracted: the `HeaderMap` extractor would copy the headers.
    let (parts, _) = request.into_parts();
    let headers = parts.headers;
    let raw_query = parts.uri.query().unwrap_or_default();
    let delivery = Delivery::Get {
        caching: state.query_caching,
        request: &headers,
    };
    // Anonymous where a credential is needed still gets GraphiQL's page.
    let admitted = admission::admit(&state, admission::bearer_token(&headers)).await;
    let caller = match admitted {
        Ok(admission) => Some(admission.caller),
        Err(Refusal::Missing) => None,
        Err(refusal) => return refuse_credential(&headers, refusal),
    };
    let freshness = match consistency::catch_up(&state, &headers).await {
        Ok(freshness) => freshness,
        Err(response) => return *response,
    };
    // Only queries that ran without errors are stored, so a hit is never GraphiQL's page, a
    // mutation or a malformed request.
    if caller.is_some()
        && let Some(cache) = execute::response_cache(&state, freshness)
        && let Some(stored) = cache.get_raw(RawRequest::Query(raw_query))
    {
        trace_hit(&state, &stored);
        let Some(media) = media else {
            return not_acceptable();
        };
        return send_stored(media, &stored, delivery);
    }
    let params = match serde_urlencoded::from_str::<GetParams>(raw_query) {
        Ok(params) => params,
        Err(err) => {
            return refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                format!("malformed query string: {err}"),
            );
        }
    };
    if params.is_empty() && negotiate::accepts_html(&headers) {
        if !state.graphiql {
            return StatusCode::NOT_FOUND.into_response();
        }
        return graphiql::page();
    }
    let Some(caller) = caller else {
        return refuse_credential(&headers, Refusal::Missing);
    };
    let Some(media) = media else {
        return not_acceptable();
    };
    let params = match params.into_params() {
        Ok(params) => params,
        Err(message) => return refuse(&headers, StatusCode::BAD_REQUEST, message),
    };
    let asked = Asked {
        media,
        caller,
        freshness,
    };
    let raw = Some(RawRequest::Query(raw_query));
    let answer = match execute::prepare(&state, asked, raw, params) {
        Prepared::Answered(answer) => answer,
        Prepared::ToRun(mut to_run) => {
            if to_run.selects_mutation() {
                return mutation_by_get(&headers);
            }
            execute::run(&state, media, raw, to_run).await
        }
    };
    match answer {
        Answer::Ready(encoded, stored) => send(
            media,
            encoded,
            delivery,
            stored.as_deref().map(StoredResponse::etags),
        ),
        // Mutations were refused above, so nothing wrote; were it otherwise, the answer would
        // still go out, unstored by anyone.
        Answer::Wrote(response) => send(media, encode(media, &response), Delivery::NoStore, None),
    }
}

/// The `UNAUTHENTICATED` answer, in the media type the client accepts (406 if none).
pub(crate) fn refuse_credential(headers: &HeaderMap, refusal: Refusal) -> Response {
    match negotiate::response_media_type(headers) {
        Some(media) => refusal.response(media),
        None => not_acceptable(),
    }
}
