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

use std::collections::BTreeMap;

use async_graphql::{ServerError, Variables};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AppState;
use super::caching::{self, QueryCaching};
use super::graphiql;
use super::negotiate::{self, MediaType};
use crate::graphql::{self, Lookup, PresentedToken, ResponseCache};

/// The request parameters of the specification, as a POST body carries them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Params {
    query: String,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    /// Accepted (it must be a map) but unused: the server offers no request extensions.
    #[serde(default)]
    #[allow(dead_code)]
    extensions: Option<Map<String, Value>>,
}

/// The same parameters in a GET query string, where `variables` and `extensions` are JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParams {
    fn is_empty(&self) -> bool {
        self.query.is_none()
            && self.operation_name.is_none()
            && self.variables.is_none()
            && self.extensions.is_none()
    }

    fn into_params(self) -> Result<Params, String> {
        let query = self
            .query
            .ok_or("GET /graphql needs a `query` parameter (or Accept: text/html for GraphiQL)")?;
        let map = |name: &str, text: Option<String>| -> Result<_, String> {
            text.filter(|text| !text.is_empty())
                .map(|text| serde_json::from_str::<Option<Map<String, Value>>>(&text))
                .transpose()
                .map(Option::flatten)
                .map_err(|err| format!("`{name}` must be a JSON object: {err}"))
        };
        Ok(Params {
            variables: map("variables", self.variables)?,
            extensions: map("extensions", self.extensions)?,
            query,
            operation_name: self.operation_name,
        })
    }
}

impl Params {
    /// The request async-graphql runs, with the bearer token (if any) for the mutations' guard.
    fn into_request(self, headers: &HeaderMap) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            request = request.variables(Variables::from_json(Value::Object(variables)));
        }
        let token = PresentedToken::from_authorization(
            headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok()),
        );
        request.data(token)
    }
}

/// `GET /graphql`: runs a query from the query string, or shows GraphiQL to a browser.
pub(super) async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<GetParams>, QueryRejection>,
) -> Response {
    let params = match params {
        Ok(Query(params)) => params,
        Err(rejection) => {
            return refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                format!("malformed query string: {}", rejection.body_text()),
            );
        }
    };
    if params.is_empty() && negotiate::accepts_html(&headers) {
        if !state.graphiql {
            return StatusCode::NOT_FOUND.into_response();
        }
        return graphiql::page();
    }
    let Some(media) = negotiate::response_media_type(&headers) else {
        return not_acceptable();
    };
    let mut request = match params.into_params() {
        Ok(params) => params.into_request(&headers),
        Err(message) => return refuse(&headers, StatusCode::BAD_REQUEST, message),
    };
    if graphql::selects_mutation(&mut request) {
        let mut response = refuse(
            &headers,
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST".to_owned(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let response = state.schema.execute(request).await;
    respond(media, &response, Some((state.query_caching, &headers)))
}

/// `POST /graphql`: runs any operation from an `application/json` body.
pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(media) = negotiate::response_media_type(&headers) else {
        return not_acceptable();
    };
    if let Err(message) = check_content_type(&headers) {
        return refuse(&headers, StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            return refuse(
                &headers,
                status,
                format!("malformed GraphQL request: {}", rejection.body_text()),
            );
        }
    };
    // A repeated query whose plan lists are all still current: the stored bytes, unparsed.
    let keys = match state.responses.as_deref().map(|cache| cache.lookup(&body)) {
        Some(Lookup::Hit(bytes)) => return stored_response(media, bytes),
        Some(Lookup::Miss(keys)) => Some(keys),
        Some(Lookup::Uncacheable) | None => None,
    };
    // An object first: serde would also read a struct from a JSON array (a batch we don't take).
    let params = serde_json::from_slice::<Map<String, Value>>(&body)
        .and_then(|object| Params::deserialize(Value::Object(object)));
    let params = match params {
        Ok(params) => params,
        Err(err) => {
            return refuse(
                &headers,
                StatusCode::BAD_REQUEST,
                format!("malformed GraphQL request: {err}"),
            );
        }
    };
    let request = params.into_request(&headers);
    let (Some(cache), Some(keys)) = (state.responses.as_deref(), keys) else {
        let response = state.schema.execute(request).await;
        return respond(media, &response, None);
    };
    // Record which plan lists the execution reads, so the stored bytes are dropped as soon as
    // any of them is invalidated (see `graphql::response_cache`).
    let trace = ResponseCache::trace();
    let response = state.schema.execute(request.data(trace.clone())).await;
    let (status, body) = render(media, &response);
    cache.store(keys, &trace, &response, &body);
    finish(media, status, body, &response, None)
}

/// Any other method on `/graphql`.
pub(super) async fn other_method(headers: HeaderMap) -> Response {
    let mut response = refuse(
        &headers,
        StatusCode::METHOD_NOT_ALLOWED,
        "/graphql accepts GET (queries) and POST".to_owned(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
    response
}

/// POST bodies must be JSON in UTF-8 (the only encoding JSON may use between systems).
fn check_content_type(headers: &HeaderMap) -> Result<(), String> {
    let expected = "POST /graphql needs `Content-Type: application/json`";
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .ok_or(expected)?;
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(format!("{expected}, not {media:?}"));
    }
    for param in parts {
        if let Some((name, charset)) = param.split_once('=')
            && name.trim().eq_ignore_ascii_case("charset")
            && !charset
                .trim()
                .trim_matches('"')
                .eq_ignore_ascii_case("utf-8")
        {
            return Err(format!("the body must be UTF-8, not {}", charset.trim()));
        }
    }
    Ok(())
}

/// A GraphQL response as JSON. A request error (nothing was executed) has no `data` entry, as
/// the GraphQL specification asks; an execution that failed has `"data": null`.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a async_graphql::Value>,
    #[serde(skip_serializing_if = "<[ServerError]>::is_empty")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

/// Writes a GraphQL response. `cacheable` is set for GET, with the request's headers (for
/// `If-None-Match`).
fn respond(
    media: MediaType,
    response: &async_graphql::Response,
    cacheable: Option<(QueryCaching, &HeaderMap)>,
) -> Response {
    let (status, body) = render(media, response);
    finish(media, status, body, response, cacheable)
}

/// The status and body of a GraphQL response: the bytes a stored response must equal.
fn render(media: MediaType, response: &async_graphql::Response) -> (StatusCode, Bytes) {
    let request_error = graphql::is_request_error(response);
    let status = if request_error && media == MediaType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body = Body {
        data: (!request_error).then_some(&response.data),
        errors: &response.errors,
        extensions: &response.extensions,
    };
    match serde_json::to_vec(&body) {
        Ok(body) => (status, Bytes::from(body)),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Bytes::from_static(
                    br#"{"errors":[{"message":"internal server error; the server log has details","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}"#,
                ),
            )
        }
    }
}

fn finish(
    media: MediaType,
    status: StatusCode,
    body: Bytes,
    response: &async_graphql::Response,
    cacheable: Option<(QueryCaching, &HeaderMap)>,
) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    match cacheable {
        // Only a complete answer may be reused: an error may be gone on the next try.
        Some((caching, request_headers)) if response.errors.is_empty() => {
            headers.insert(header::CACHE_CONTROL, caching.cache_control());
            if caching.uses_etag() {
                let etag = caching::etag(media, &body);
                let not_modified = caching::not_modified(request_headers, &etag);
                headers.insert(header::ETAG, etag);
                if not_modified {
                    headers.remove(header::CONTENT_TYPE);
                    return (StatusCode::NOT_MODIFIED, headers).into_response();
                }
            }
        }
        _ => {
            headers.insert(header::CACHE_CONTROL, caching::no_store());
        }
    }
    (status, headers, body).into_response()
}

/// A stored response to a POST: only successful ones are stored, so 200 with `no-store`, exactly
/// what [`finish`] sends for the executed original.
fn stored_response(media: MediaType, body: Bytes) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    headers.insert(header::VARY, HeaderValue::from_static("accept"));
    headers.insert(header::CACHE_CONTROL, caching::no_store());
    (StatusCode::OK, headers, body).into_response()
}

/// A request that is not a GraphQL request (or not allowed as sent): a GraphQL error with code
/// `BAD_REQUEST`, in the media type the client accepts (JSON if none), with `status`.
fn refuse(headers: &HeaderMap, status: StatusCode, message: String) -> Response {
    let media = negotiate::response_media_type(headers).unwrap_or(MediaType::Json);
    let mut response = respond(media, &graphql::bad_request(message), None);
    *response.status_mut() = status;
    response
}

fn not_acceptable() -> Response {
    let mut response = respond(
        MediaType::Json,
        &graphql::bad_request(
            "Accept must allow application/graphql-response+json or application/json",
        ),
        None,
    );
    *response.status_mut() = StatusCode::NOT_ACCEPTABLE;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_must_be_json_in_utf8() {
        let check = |value: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            }
            check_content_type(&headers)
        };
        assert!(check(Some("application/json")).is_ok());
        assert!(check(Some("Application/JSON; charset=UTF-8")).is_ok());
        assert!(check(Some("application/json;charset=\"utf-8\"")).is_ok());
        assert!(check(None).is_err());
        assert!(check(Some("text/plain")).is_err());
        assert!(check(Some("application/graphql")).is_err());
        assert!(check(Some("application/x-www-form-urlencoded")).is_err());
        assert!(check(Some("application/json; charset=utf-16")).is_err());
    }
}
