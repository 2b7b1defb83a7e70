//! Batches: a POST whose body is a JSON array of requests (Apollo's `BatchHttpLink`,
//! graphql-request's `batchRequests`) is answered with a JSON array of their responses, in order.
//! Items run one after another, each exactly as if it had come alone (its own errors, limits and
//! caches; a mutation is seen by the items after it). At most `GRAPHQL_MAX_BATCH` items (0 turns
//! batches off); over it, nothing runs.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::AppState;
use super::endpoint::{answer, refused};
use super::negotiate::MediaType;
use super::params::Params;
use super::persisted::Refusal;
use super::rate_limit::Charge;
use super::respond::{Delivery, Encoded, refuse, send};
use crate::auth::Caller;

/// Whether a POST body is a batch: a JSON array (a single request is an object).
pub(super) fn is_batch(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'[')
}

/// Answers a batch: 200 with the array of responses (each item's errors are its own), or 400
/// with nothing run when the batch itself is malformed or too long.
/// `charge`: the rate limits' hold on the request (when they are on): each item counts.
pub(super) async fn post(
    state: &AppState,
    media: MediaType,
    headers: &HeaderMap,
    caller: Caller,
    body: &Bytes,
    charge: Option<&Charge>,
) -> Response {
    let max = state.clients.max_batch;
    if max == 0 {
        return refuse(
            headers,
            StatusCode::BAD_REQUEST,
            "batches are turned off (GRAPHQL_MAX_BATCH=0): send one request per POST".to_owned(),
        );
    }
    let items = match serde_json::from_slice::<Vec<Map<String, Value>>>(body) {
        Ok(items) => items,
        Err(err) => {
            return refuse(
                headers,
                StatusCode::BAD_REQUEST,
                format!("malformed batch: a JSON array of GraphQL requests (objects): {err}"),
            );
        }
    };
    if items.is_empty() || items.len() > max {
        return refuse(
            headers,
            StatusCode::BAD_REQUEST,
            format!(
                "a batch holds 1 to {max} requests (GRAPHQL_MAX_BATCH), not {}",
                items.len()
            ),
        );
    }
    // Each item counts against the rate limit (the request itself took one token): all of them
    // fit, or none runs.
    if let Some(charge) = charge
        && let Some(refused) =
            charge.refusal_of_extra(u32::try_from(items.len() - 1).unwrap_or(u32::MAX), headers)
    {
        return refused;
    }
    let mut out = Vec::with_capacity(64 * items.len());
    out.push(b'[');
    for (index, item) in items.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let encoded = match Params::from_object(item) {
            Ok(params) => answer(state, media, caller, None, params).await.0,
            Err(err) => refused(
                state,
                media,
                Refusal::BadRequest(format!("malformed GraphQL request: {err}")),
            ),
        };
        out.extend_from_slice(&encoded.body);
    }
    out.push(b']');
    let encoded = Encoded {
        status: StatusCode::OK,
        body: Bytes::from(out),
        complete: false,
    };
    send(media, encoded, Delivery::NoStore, None)
}
