//! Read your writes on every replica, at the HTTP edge: a request's consistency token (the
//! `Plans-Consistency` header, else the `plans_consistency` cookie) is honoured before anything
//! answers it, and a response in which a mutation succeeded carries a new one (the header, the
//! cookie, `extensions.plansConsistency`). Why an answer can then never be stale is argued in
//! [`crate::plans::consistency`].
//!
//! A request without a token pays one pass over its header names. A token is never part of a
//! cache key; a current one costs an atomic load.

use std::future::{Ready, ready};

use async_graphql::Value;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures::future::{BoxFuture, Either};

use super::protocol::respond::refuse;
use crate::http::state::AppState;
use crate::plans::{ConsistencyToken, Freshness, TokenError};

/// The request and response header.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("plans-consistency");
/// The cookie a response that wrote sets (`CONSISTENCY_COOKIE`).
const COOKIE: &str = "plans_consistency";
/// The key in a GraphQL response's `extensions`, and in a WebSocket's `connection_init` payload.
pub(crate) const EXTENSION: &str = "plansConsistency";

/// Waits (at most `CONSISTENCY_WAIT_MS`) until this replica can answer a request carrying a
/// token without a stale read, and says where its reads may then come from. A malformed or
/// foreign token in the header is refused (400); in the cookie it is ignored.
///
/// Ready at once for a request without a token (nearly every one): no state machine to run.
pub(crate) fn catch_up<'a>(state: &'a AppState, headers: &HeaderMap) -> CatchUp<'a> {
    match requested(state, headers) {
        Ok(None) => Either::Left(ready(Ok(Freshness::Cached))),
        Ok(Some(token)) => Either::Right(Box::pin(async move {
            Ok(catch_up_to(state, Some(token)).await)
        })),
        Err(err) => Either::Left(ready(Err(Box::new(refusal(headers, err))))),
    }
}

/// What [`catch_up`] gives: where the request's reads may come from, or its 400 (boxed, so
/// that the future of every request stays small).
pub(crate) type CatchUp<'a> = Either<
    Ready<Result<Freshness, Box<Response>>>,
    BoxFuture<'a, Result<Freshness, Box<Response>>>,
>;

/// Where the reads of a request carrying `token` (if any) may come from, once this replica
/// has caught up with it as far as it can.
pub(crate) async fn catch_up_to(state: &AppState, token: Option<ConsistencyToken>) -> Freshness {
    match token {
        None => Freshness::Cached,
        Some(token) => state.api.catch_up(token).await.freshness(),
    }
}

/// The token a request carries: the header's (which must be valid), else the cookie's (if
/// valid). This runs on every request, and almost none carries either: one pass over the
/// header names (no hashing, no values), and a look-up only for a name that is there.
pub(crate) fn requested(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<ConsistencyToken>, TokenError> {
    let mut has_cookie = false;
    for name in headers.keys() {
        if *name == HEADER {
            return headers
                .get(HEADER)
                .map(|value| value.to_str().map_err(|_| TokenError::Malformed))
                .transpose()?
                .map(|text| state.api.parse_consistency_token(text.trim()))
                .transpose();
        }
        has_cookie |= *name == header::COOKIE;
    }
    if !has_cookie {
        return Ok(None);
    }
    Ok(headers
        .get_all(header::COOKIE)
        .iter()
        .find_map(cookie_in)
        .and_then(|text| state.api.parse_consistency_token(text).ok()))
}

/// The 400 of a request whose `Plans-Consistency` header is not a token of this database.
pub(crate) fn refusal(headers: &HeaderMap, err: TokenError) -> Response {
    refuse(
        headers,
        StatusCode::BAD_REQUEST,
        format!(
            "the Plans-Consistency header is not valid: {err}; send the token a response of this API gave, or none"
        ),
    )
}

/// The token of a WebSocket's `connection_init` payload (`plansConsistency`) if it has a valid
/// one, else the upgrade request's. Anything unreadable in the payload is ignored, as a cookie
/// is.
pub(crate) fn in_payload(
    state: &AppState,
    payload: &serde_json::Value,
    upgrade: Option<ConsistencyToken>,
) -> Option<ConsistencyToken> {
    payload
        .get(EXTENSION)
        .and_then(serde_json::Value::as_str)
        .and_then(|text| state.api.parse_consistency_token(text).ok())
        .or(upgrade)
}

/// The `plans_consistency` cookie's value in one `Cookie` header's value, if it is there.
fn cookie_in(value: &HeaderValue) -> Option<&str> {
    value.to_str().ok()?.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then(|| value.trim_matches('"'))
    })
}

/// Gives a response in which a mutation succeeded its token, in `extensions`; returns it for
/// [`stamp`]. None (logged) when the database could not say where it is.
pub(crate) async fn issue(
    state: &AppState,
    response: &mut async_graphql::Response,
) -> Option<ConsistencyToken> {
    let token = state.api.issue_consistency_token().await?;
    add_to(response, token);
    Some(token)
}

/// Puts `token` in a GraphQL response's `extensions`.
pub(crate) fn add_to(response: &mut async_graphql::Response, token: ConsistencyToken) {
    response
        .extensions
        .insert(EXTENSION.to_owned(), Value::String(token.to_string()));
}

/// The header and (when on) the cookie of a response that wrote.
pub(crate) fn stamp(state: &AppState, headers: &mut HeaderMap, token: ConsistencyToken) {
    let text = token.to_string();
    // A token is printable ASCII: always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.insert(HEADER, value);
    }
    if let Some(max_age) = state.consistency_cookie
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{COOKIE}={text}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
            max_age.as_secs()
        ))
    {
        headers.append(header::SET_COOKIE, cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cookie's value among these `Cookie` headers, as `requested` finds it.
    fn cookie(values: &[&str]) -> Option<String> {
        values
            .iter()
            .map(|value| HeaderValue::from_str(value).unwrap())
            .find_map(|value| cookie_in(&value).map(str::to_owned))
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(cookie(&[]), None);
        assert_eq!(cookie(&["a=1; b=2"]), None);
        assert_eq!(
            cookie(&["a=1; plans_consistency=1.2.3.4; b=2"]).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(
            cookie(&["a=1", "plans_consistency=\"1.2.3.4\""]).as_deref(),
            Some("1.2.3.4")
        );
        assert_eq!(cookie(&["xplans_consistency=1"]), None);
    }
}
