//! `POST /graphql`: any operation from an `application/json` body, or a batch of them (a JSON
//! array). A repeated body is answered from the response cache before it is parsed.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::batch;
use super::body::read_or_refuse;
use super::execute::{self, Answer, Asked, send_stored, trace_hit};
use super::get::refuse_credential;
use super::params::{Params, check_content_type};
use crate::http::admission;
use crate::http::consistency;
use crate::http::middleware::rate_limit::Charge;
use crate::http::protocol::negotiate::MediaType;
use crate::http::protocol::respond::{Delivery, encode, not_acceptable, refuse, send};
use crate::http::response_cache::{RawRequest, StoredResponse};
use crate::http::state::SharedState;

/// `POST /graphql`: runs any operation from an `application/json` body, or a batch of them.
/// `media`: the response's media type, as the routes read it from `Accept` (`None`: 406).
pub(crate) async fn post(
    State(state): State<SharedState>,
    request: Request,
    media: Option<MediaType>,
) -> Response {
    // Taken apart rather than extracted: the `HeaderMap` extractor would copy the headers.
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    let Some(media) = media else {
        return not_acceptable();
    };
    if let Err(message) = check_content_type(&headers) {
        return refuse(&headers, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let caller = match admission::admit(&state, admission::bearer_token(&headers)).await {
        Ok(admission) => admission.caller,
        Err(refusal) => return refuse_credential(&headers, refusal),
    };
    let body = match read_or_refuse(body, &headers, state.clients.max_request_bytes).await {
        Ok(body) => body,
        Err(response) => return *response,
    };
    let freshness = match consistency::catch_up(&state, &headers).await {
        Ok(freshness) => freshness,
        Err(response) => return *response,
    };
    // A repeated query whose plan lists are all still current: the stored bytes, unparsed. (An
    // APQ hash-only request too: its bytes identify it as well as a query's.)
    if let Some(stored) = execute::response_cache(&state, freshness)
        .and_then(|cache| cache.get_raw(RawRequest::Body(&body)))
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
    match execute::answer(&state, asked, Some(RawRequest::Body(&body)), params).await {
        Answer::Ready(encoded, stored) => send(
            media,
            encoded,
            Delivery::NoStore,
            stored.as_deref().map(StoredResponse::etags),
        ),
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
