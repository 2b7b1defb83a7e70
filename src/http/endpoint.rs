//! `/graphql`, GraphQL over HTTP as its specification describes it:
//!
//! - `POST` with an `application/json` body runs any operation; `GET ?query=…` runs queries only
//!   (a mutation gets 405 with `Allow: POST`), so query responses can be cached by browsers and
//!   CDNs. A `GET` without `query` from a browser gets the GraphiQL page.
//! - The response is `application/graphql-response+json` when the client accepts it (then a
//!   request that fails before execution gets 400), else `application/json` (200 for every
//!   well-formed request). Requests that are not GraphQL requests get 400, 405, 406, 413 or 415.
//! - Every error body is a GraphQL error with `extensions.code`.
//! - Successful `GET` queries get `Cache-Control` from the configuration and an `ETag`
//!   (`If-None-Match` gets 304); everything else gets `no-store`.
//! - Both methods first decide who is asking ([`crate::auth`]): a bearer token that is not valid
//!   is refused (`UNAUTHENTICATED`) even for a read, and with `READ_ACCESS=authenticated` so is a
//!   request without one (GraphiQL's page excepted). Only then is the response cache consulted:
//!   a repeated query is answered with stored bytes, before its parameters are even parsed.
//! - A request may name its document instead of sending it (APQ, trusted documents: see
//!   `persisted`); a POST may carry a batch (see `batch`); an over-size body is drained before
//!   its 413 (see `body`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::body::{self, BodyError};
use super::negotiate::{self, MediaType};
use super::params::{GetParams, Params, bearer_token, check_content_type};
use super::persisted::{Refusal, Registration};
use super::rate_limit::Charge;
use super::respond::{
    Delivery, Encoded, encode, method_not_allowed, mutation_by_get, not_acceptable, refuse,
    respond, send,
};
use super::response_cache::{RawRequest, StoredResponse};
use super::{AppState, SharedState, batch, consistency, graphiql};
use crate::auth::Caller;
use crate::graphql::{self, ErrorCode};
use crate::plans::Freshness;

/// Who sent the request, decided before anything else (the response cache too): a credential
/// that was sent and is invalid is refused even where none is needed, and with
/// `READ_ACCESS=authenticated` nothing is answered without a valid one (but GraphiQL's page).
enum Admission {
    Admitted(Caller),
    /// Anonymous where reads need a credential: refused, unless the request is for GraphiQL.
    NeedsCredential,
    Refused(Response),
}

async fn admit(state: &SharedState, headers: &HeaderMap) -> Admission {
    match state.auth.authenticate(bearer_token(headers)).await {
        Ok(caller) if state.auth.may_read(caller) => Admission::Admitted(caller),
        Ok(_) => Admission::NeedsCredential,
        Err(_) => Admission::Refused(refuse_credential(headers, true)),
    }
}

/// The `UNAUTHENTICATED` answer to a request refused for its credential (`invalid`) or for the
/// lack of one. Never stored, by anyone.
fn refuse_credential(headers: &HeaderMap, invalid: bool) -> Response {
    let Some(media) = negotiate::response_media_type(headers) else {
        return not_acceptable();
    };
    respond(media, &graphql::unauthenticated(invalid), Delivery::NoStore)
}

/// `GET /graphql`: runs a query from the query string, or shows GraphiQL to a browser.
pub(super) async fn get(State(state): State<SharedState>, request: Request) -> Response {
    // Taken apart rather than extracted: the `HeaderMap` extractor would copy the headers.
    let (parts, _) = request.into_parts();
    let headers = parts.headers;
    let raw_query = parts.uri.query().unwrap_or_default();
    let delivery = Delivery::Get {
        caching: state.query_caching,
        request: &headers,
    };
    let caller = match admit(&state, &headers).await {
        Admission::Admitted(caller) => Some(caller),
        Admission::NeedsCredential => None,
        Admission::Refused(response) => return response,
    };
    let freshness = match consistency::catch_up(&state, &headers).await {
        Ok(freshness) => freshness,
        Err(response) => return response,
    };
    let responses = response_cache(&state, freshness);
    // Only queries that ran without errors are stored, so a hit is never GraphiQL's page, a
    // mutation or a malformed request.
    if caller.is_some()
        && let Some(cache) = responses
        && let Some(stored) = cache.get_raw(RawRequest::Query(raw_query))
    {
        trace_hit(&state, &stored);
        let Some(media) = negotiate::response_media_type(&headers) else {
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
        return refuse_credential(&headers, false);
    };
    let Some(media) = negotiate::response_media_type(&headers) else {
        return not_acceptable();
    };
    let params = match params.into_params() {
        Ok(params) => params,
        Err(message) => return refuse(&headers, StatusCode::BAD_REQUEST, message),
    };
    let (operation, registration) = match params.resolve(&state.clients.persisted) {
        Ok(resolved) => resolved,
        Err(refusal) => {
            return send(
                media,
                refused(&state, media, refusal),
                Delivery::NoStore,
                None,
            );
        }
    };
    let key = responses.map(|_| operation.response_key());
    if let (Some(cache), Some(key)) = (responses, &key)
        && let Some(stored) = cache.get(key, Some(RawRequest::Query(raw_query)))
    {
        trace_hit(&state, &stored);
        // Stored responses are never mutations: the registration may be kept.
        register(&state, registration);
        return send_stored(media, &stored, delivery);
    }
    if key.is_some() {
        trace_miss(&state);
    }
    let mut request = with_freshness(operation.into_request(caller), freshness);
    if graphql::selects_mutation(&mut request) {
        return mutation_by_get(&headers);
    }
    register(&state, registration);
    let executed = state.api.execute(request).await;
    let encoded = encode(media, &executed.response);
    if let (Some(cache), Some(key)) = (responses, key) {
        cache.store(
            key,
            Some(RawRequest::Query(raw_query)),
            &executed,
            &encoded.body,
        );
    }
    send(media, encoded, delivery, None)
}

/// `POST /graphql`: runs any operation from an `application/json` body, or a batch of them (a
/// JSON array).
pub(super) async fn post(State(state): State<SharedState>, request: Request) -> Response {
    // Taken apart rather than extracted: the `HeaderMap` extractor would copy the headers.
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let Some(media) = negotiate::response_media_type(&headers) else {
        return not_acceptable();
    };
    if let Err(message) = check_content_type(&headers) {
        return refuse(&headers, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let caller = match admit(&state, &headers).await {
        Admission::Admitted(caller) => caller,
        Admission::NeedsCredential => return refuse_credential(&headers, false),
        Admission::Refused(response) => return response,
    };
    let body = match body::read(body, state.clients.max_request_bytes).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            let mut response = refuse(
                &headers,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the request body is larger than MAX_REQUEST_BYTES ({} bytes)",
                    state.clients.max_request_bytes
                ),
            );
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
        Err(BodyError::Unreadable(message)) => {
            return refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                format!("malformed GraphQL request: {message}"),
            );
        }
    };
    let freshness = match consistency::catch_up(&state, &headers).await {
        Ok(freshness) => freshness,
        Err(response) => return response,
    };
    // A repeated query whose plan lists are all still current: the stored bytes, unparsed. (An
    // APQ hash-only request too: its bytes identify it as well as a query's.)
    if let Some(stored) =
        response_cache(&state, freshness).and_then(|cache| cache.get_raw(RawRequest::Body(&body)))
    {
        trace_hit(&state, &stored);
        return send_stored(media, &stored, Delivery::NoStore);
    }
    let asked = Asked {
        media,
        caller,
        freshness,
    };
    if batch::is_batch(&body) {
        let charge = parts.extensions.get::<Charge>();
        return batch::post(&state, asked, &headers, &body, charge).await;
    }
    let params = match Params::from_json_body(&body) {
        Ok(params) => params,
        Err(message) => return refuse(&headers, StatusCode::BAD_REQUEST, message),
    };
    match answer(&state, asked, Some(RawRequest::Body(&body)), params).await {
        Answer::Ready(encoded, stored) => {
            send(media, encoded, Delivery::NoStore, stored.as_deref())
        }
        Answer::Wrote(mut response) => {
            let token = consistency::issue(&state, &mut response).await;
            let mut sent = send(media, encode(media, &response), Delivery::NoStore, None);
            if let Some(token) = token {
                consistency::stamp(&state, sent.headers_mut(), token);
            }
            sent
        }
    }
}

/// How a POSTed request (alone, or one of a batch) asks to be answered.
#[derive(Clone, Copy)]
pub(super) struct Asked {
    pub media: MediaType,
    pub caller: Caller,
    /// Where its reads may come from (its consistency token's outcome).
    pub freshness: Freshness,
}

/// What [`answer`] gives.
pub(super) enum Answer {
    /// The bytes to send: a refusal, a stored response (also given), or an executed response in
    /// which nothing was written.
    Ready(Encoded, Option<Arc<StoredResponse>>),
    /// A response in which a mutation succeeded: it gets a consistency token before it is
    /// encoded.
    Wrote(async_graphql::Response),
}

/// The response cache, unless the request's consistency token asks for the database.
fn response_cache(state: &AppState, freshness: Freshness) -> Option<&super::ResponseCache> {
    match freshness {
        Freshness::Cached => state.responses.as_deref(),
        Freshness::Database => None,
    }
}

/// Tells the resolvers to read past the caches when the consistency token asks for it.
pub(super) fn with_freshness(
    request: async_graphql::Request,
    freshness: Freshness,
) -> async_graphql::Request {
    match freshness {
        Freshness::Cached => request,
        Freshness::Database => request.data(freshness),
    }
}

/// One POSTed request (alone, or one of a batch): the stored response, a refusal, or what it
/// executed to (stored when it may be). `raw` is the exact bytes it came as, when it came alone.
pub(super) async fn answer(
    state: &AppState,
    asked: Asked,
    raw: Option<RawRequest<'_>>,
    params: Params,
) -> Answer {
    let media = asked.media;
    let (operation, registration) = match params.resolve(&state.clients.persisted) {
        Ok(resolved) => resolved,
        Err(refusal) => return Answer::Ready(refused(state, media, refusal), None),
    };
    register(state, registration);
    let cache = response_cache(state, asked.freshness);
    let key = cache.map(|_| operation.response_key());
    if let (Some(cache), Some(key)) = (cache, &key)
        && let Some(stored) = cache.get(key, raw)
    {
        trace_hit(state, &stored);
        return Answer::Ready(stored_encoded(&stored), Some(stored));
    }
    if key.is_some() {
        trace_miss(state);
    }
    let request = with_freshness(operation.into_request(asked.caller), asked.freshness);
    let executed = state.api.execute(request).await;
    if executed.reads.wrote() {
        return Answer::Wrote(executed.response);
    }
    let encoded = encode(media, &executed.response);
    if let (Some(cache), Some(key)) = (cache, key) {
        cache.store(key, raw, &executed, &encoded.body);
    }
    Answer::Ready(encoded, None)
}

fn register(state: &AppState, registration: Option<Registration>) {
    if let Some(registration) = registration {
        state.clients.persisted.register(registration);
    }
}

/// The answer to a request whose document could not be resolved. An unknown hash gets 200
/// whatever the media type, as Apollo Server answers (the persisted-query links then send the
/// query); the others are request errors. Counted as a refused operation (a query: its document
/// is unknown).
pub(super) fn refused(state: &AppState, media: MediaType, refusal: Refusal) -> Encoded {
    let code = match &refusal {
        Refusal::NotFound => ErrorCode::PersistedQueryNotFound,
        Refusal::NotInList => ErrorCode::PersistedQueryNotInList,
        Refusal::BadRequest(_) => ErrorCode::BadRequest,
    };
    state
        .api
        .operations()
        .count(graphql::OperationType::Query, Some(code));
    match refusal {
        Refusal::NotFound => {
            let mut encoded = encode(
                media,
                &graphql::request_error(
                    ErrorCode::PersistedQueryNotFound,
                    "PersistedQueryNotFound",
                ),
            );
            encoded.status = StatusCode::OK;
            encoded
        }
        Refusal::NotInList => encode(
            media,
            &graphql::request_error(
                ErrorCode::PersistedQueryNotInList,
                "this server runs only the documents of its trusted documents manifest",
            ),
        ),
        Refusal::BadRequest(message) => {
            let mut encoded = encode(media, &graphql::bad_request(message));
            encoded.status = StatusCode::BAD_REQUEST;
            encoded
        }
    }
}

/// The response cache answered: counted as a query and, when spans are exported, recorded on
/// the request's span, named after the operation as the execution that stored the response
/// named its own (only queries are stored; stored without a label, e.g. before spans were
/// exported, it is a `query`).
fn trace_hit(state: &AppState, stored: &StoredResponse) {
    // A hit is an operation answered without the schema: counted here, once.
    state
        .api
        .operations()
        .count(graphql::OperationType::Query, None);
    if state.traces {
        let span = tracing::Span::current();
        span.record("plans.response_cache.hit", true);
        match stored.operation() {
            Some(operation) => {
                crate::telemetry::rename_current_span(operation.span_name());
                span.record("graphql.operation.type", operation.kind);
                if let Some(name) = &operation.name {
                    span.record("graphql.operation.name", &**name);
                }
            }
            None => {
                crate::telemetry::rename_current_span("query");
                span.record("graphql.operation.type", "query");
            }
        }
    }
}

/// When spans are exported: the response cache was asked and did not answer.
fn trace_miss(state: &AppState) {
    if state.traces {
        tracing::Span::current().record("plans.response_cache.hit", false);
    }
}

/// A stored response: only complete ones are stored, so 200, exactly what the executed original
/// got for this delivery.
fn send_stored(media: MediaType, stored: &Arc<StoredResponse>, delivery: Delivery<'_>) -> Response {
    send(media, stored_encoded(stored), delivery, Some(stored))
}

fn stored_encoded(stored: &StoredResponse) -> Encoded {
    Encoded {
        status: StatusCode::OK,
        body: stored.body().clone(),
        complete: true,
    }
}

/// Any other method on `/graphql`.
pub(super) async fn other_method(headers: HeaderMap) -> Response {
    method_not_allowed(
        &headers,
        "/graphql accepts GET (queries) and POST",
        "GET, POST",
    )
}
