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
//!   [`persisted`]); a POST may carry a batch (see [`batch`]); an over-size body is drained before
//!   its 413 (see [`body`]).
//!
//! The rooms: [`get`] and [`post`] take a request apart; both hand what they resolved to
//! [`execute`], which every request shares (a batch's items too), where the response cache is
//! asked, the operation run and its answer stored.

mod batch;
mod body;
mod execute;
mod get;
mod params;
pub(crate) mod persisted;
mod post;

use axum::http::HeaderMap;
use axum::response::Response;

pub(crate) use body::read_or_refuse as read_body;
pub(crate) use execute::{refused, with_freshness};
pub(crate) use get::get;
pub(crate) use params::{GetParams, Params, check_content_type};
pub(crate) use post::post;

use super::protocol::respond::method_not_allowed;

/// Any other method on `/graphql`.
pub(crate) async fn other_method(headers: HeaderMap) -> Response {
    method_not_allowed(
        &headers,
        "/graphql accepts GET (queries) and POST",
        "GET, POST",
    )
}
