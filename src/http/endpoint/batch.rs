//! Batches: a POST whose body is a JSON array of requests (Apollo's `BatchHttpLink`,
//! graphql-request's `batchRequests`) is answered with a JSON array of their responses, in order.
//! Items run one after another, each exactly as if it had come alone (its own errors, limits and
//! caches; a mutation is seen by the items after it). At most `GRAPHQL_MAX_BATCH` items (0 turns
//! batches off); over it, nothing runs.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use super::execute::{Answer, Asked, answer, refused};
use super::params::Params;
use super::persisted::Refusal;
use crate::http::consistency;
use crate::http::middleware::rate_limit::Charge;
use crate::http::protocol::respond::{Delivery, Encoded, encode, refuse, send};
use crate::http::state::AppState;

/// Whether a POST body is a batch: a JSON array (a single request is an object).
pub(crate) fn is_batch(body: &[u8]) -> bool {
    body.iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'[')
}

/// Answers a batch: 200 with the array of responses (each item's errors are its own), or 400
/// with nothing run when the batch itself is malformed or too long.
/// `charge`: the rate limits' hold on the request (when they are on): each item counts.
/// When an item wrote, every item that wrote carries the same consistency token, issued after
/// the last of them, and so does the response's header.
pub(crate) async fn post(
    state: &AppState,
    asked: Asked,
    headers: &HeaderMap,
    body: &Bytes,
    charge: Option<&Charge>,
) -> Response {
    let media = asked.media;
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
    let mut answers = Vec::with_capacity(items.len());
    for item in items {
        answers.push(match Params::from_object(item) {
            Ok(params) => answer(state, asked, None, params).await,
            Err(err) => Answer::Ready(
                refused(
                    state,
                    media,
                    Refusal::BadRequest(format!("malformed GraphQL request: {err}")),
                ),
                None,
            ),
        });
    }
    let wrote = answers
        .iter()
        .any(|answer| matches!(answer, Answer::Wrote(_)));
    let token = match wrote {
        true => state.api.issue_consistency_token().await,
        false => None,
    };
    let mut out = Vec::with_capacity(64 * answers.len());
    out.push(b'[');
    for (index, answer) in answers.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let encoded = match answer {
            Answer::Ready(encoded, _) => encoded,
            Answer::Wrote(mut response) => {
                if let Some(token) = token {
                    consistency::add_to(&mut response, token);
                }
                encode(media, &response)
            }
        };
        out.extend_from_slice(&encoded.body);
    }
    out.push(b']');
    let encoded = Encoded {
        status: StatusCode::OK,
        body: Bytes::from(out),
        complete: false,
    };
    let mut sent = send(media, encoded, Delivery::NoStore, None);
    if let Some(token) = token {
        consistency::stamp(state, sent.headers_mut(), token);
    }
    sent
}
