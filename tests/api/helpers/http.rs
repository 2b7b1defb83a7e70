//! Hand-written HTTP requests (for what `TestApp`'s GraphQL methods do not cover: GET queries,
//! other headers, raw bodies) and reading their responses.

use reqwest::Response;
use serde_json::Value;

use super::TestApp;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// A query for the plans, as a browser frontend would send it.
pub const PLANS: &str = "{ plans { id name } }";

/// `GET /graphql?query=…` with optional variables, operation name and headers.
pub async fn get(
    app: &TestApp,
    query: &str,
    variables: Option<Value>,
    operation_name: Option<&str>,
    headers: &[(&str, &str)],
) -> Response {
    let mut params = vec![("query", query.to_owned())];
    if let Some(variables) = variables {
        params.push(("variables", variables.to_string()));
    }
    if let Some(name) = operation_name {
        params.push(("operationName", name.to_owned()));
    }
    let request = app.client.get(app.url("/graphql")).query(&params);
    send_with(request, headers).await
}

/// `GET <path>` with headers.
pub async fn get_path(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    send_with(app.client.get(app.url(path)), headers).await
}

/// `POST /graphql` with a JSON body and extra headers.
pub async fn post(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> Response {
    send_with(app.client.post(app.url("/graphql")).json(&body), headers).await
}

/// `POST /graphql` with a body sent as it is, an optional `Content-Type`, and extra headers.
pub async fn post_body(
    app: &TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = app.client.post(app.url("/graphql")).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    send_with(request, headers).await
}

async fn send_with(mut request: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> Response {
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

pub fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header"))
}

/// Whether the response names `name` in one of its `Vary` headers (layers add their own).
pub fn varies_on(response: &Response, name: &str) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|value| value.to_str().expect("ASCII header").split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(name))
}

pub fn content_type(response: &Response) -> &str {
    header(response, "content-type").unwrap_or_default()
}

pub async fn json_of(response: Response) -> Value {
    response.json().await.expect("JSON body")
}
