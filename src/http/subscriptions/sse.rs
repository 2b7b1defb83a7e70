//! GraphQL over Server-Sent Events, `graphql-sse`'s distinct-connections mode: a `POST` (JSON
//! body) or `GET` (query string) with `Accept: text/event-stream` gets a `next` event per result
//! (`data:` the JSON result) and a final `complete` event. The request is admitted, its document
//! resolved and its body read as any request's; refusals are JSON, which an `EventSource`-style
//! client can still read.

use std::convert::Infallible;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{StreamExt, stream};

use super::lapse;
use crate::auth::{Admission, Lapse};
use crate::graphql;
use crate::http::admission;
use crate::http::consistency;
use crate::http::endpoint::{
    GetParams, Params, check_content_type, read_body, refused, with_freshness,
};
use crate::http::protocol::negotiate::{self, MediaType};
use crate::http::protocol::respond::{Delivery, mutation_by_get, refuse, send};
use crate::http::state::SharedState;

/// Who an SSE request comes from, by the same rules as any request, and until when its
/// credential holds. A refusal is JSON: the client asked for an event stream, and gets a
/// GraphQL error it can read.
async fn sse_caller(state: &SharedState, headers: &HeaderMap) -> Result<Admission, Box<Response>> {
    admission::admit(state, admission::bearer_token(headers))
        .await
        .map_err(|refusal| Box::new(refusal.response(MediaType::Json)))
}

/// The operation of `params` (its document resolved as for any request: APQ, trusted documents),
/// run as `caller`; or the refusal.
fn sse_request(
    state: &SharedState,
    headers: &HeaderMap,
    params: Params,
    admission: &Admission,
) -> Result<async_graphql::Request, Box<Response>> {
    match params.resolve(&state.clients.persisted) {
        Ok((operation, _registration)) => Ok(operation.into_request(admission.caller)),
        Err(refusal) => {
            let media = negotiate::response_media_type(headers).unwrap_or(MediaType::Json);
            Err(Box::new(send(
                media,
                refused(state, media, refusal),
                Delivery::NoStore,
                None,
            )))
        }
    }
}

/// `GET /graphql` with `Accept: text/event-stream`: the operation from the query string.
pub(crate) async fn get(State(state): State<SharedState>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let admission = match sse_caller(&state, &parts.headers).await {
        Ok(admission) => admission,
        Err(response) => return *response,
    };
    let params = serde_urlencoded::from_str::<GetParams>(parts.uri.query().unwrap_or_default())
        .map_err(|err| format!("malformed query string: {err}"))
        .and_then(GetParams::into_params);
    let params = match params {
        Ok(params) => params,
        Err(message) => return refuse(&parts.headers, StatusCode::BAD_REQUEST, message),
    };
    let mut request = match sse_request(&state, &parts.headers, params, &admission) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    if graphql::selects_mutation(&mut request) {
        return mutation_by_get(&parts.headers);
    }
    match consistency::catch_up(&state, &parts.headers).await {
        Ok(freshness) => event_stream(
            &state,
            with_freshness(request, freshness),
            state.auth.lapse(&admission),
        ),
        Err(response) => *response,
    }
}

/// `POST /graphql` with `Accept: text/event-stream`: the operation from the JSON body.
pub(crate) async fn post(State(state): State<SharedState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    if let Err(message) = check_content_type(&headers) {
        return refuse(&headers, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let admission = match sse_caller(&state, &headers).await {
        Ok(admission) => admission,
        Err(response) => return *response,
    };
    let body = match read_body(body, &headers, state.clients.max_request_bytes).await {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let params = match Params::from_json_body(&body) {
        Ok(params) => params,
        Err(message) => return refuse(&headers, StatusCode::BAD_REQUEST, message),
    };
    let request = match sse_request(&state, &headers, params, &admission) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    match consistency::catch_up(&state, &headers).await {
        Ok(freshness) => event_stream(
            &state,
            with_freshness(request, freshness),
            state.auth.lapse(&admission),
        ),
        Err(response) => *response,
    }
}

/// The results of `request` as `next` events (each event's bytes rendered once for every
/// subscriber of its list), then `complete`. When the credential lapses first, the last `next`
/// is an `UNAUTHENTICATED` error.
fn event_stream(
    state: &SharedState,
    request: async_graphql::Request,
    lapse: Option<Lapse>,
) -> Response {
    let events = lapse::until_lapse(state.api.subscribe(request, None), lapse, || {
        serde_json::to_vec(&graphql::credential_lapsed())
            .unwrap_or_default()
            .into()
    });
    let next = events.map(|bytes| {
        // serde_json's output: UTF-8 and one line, as an SSE `data:` line must be.
        let data = std::str::from_utf8(&bytes).unwrap_or("{}");
        Ok::<_, Infallible>(Event::default().event("next").data(data))
    });
    let complete = stream::once(async { Ok(Event::default().event("complete").data("")) });
    let mut response = Sse::new(next.chain(complete))
        .keep_alive(KeepAlive::new().interval(state.subscriptions.keepalive))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tells nginx-style proxies not to buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
