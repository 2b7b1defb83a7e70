//! GraphQL over HTTP by the specification, and what a browser frontend needs: GET queries, 405 for
//! GET mutations, media types and status codes, HTTP caching (Cache-Control, ETag, 304), CORS,
//! compression and request ids.

use std::io::Read;

use plans_api::config::AllowedOrigins;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{AppOptions, Backend, TOKEN, TestApp, error_code, spawn_app, spawn_app_with};

backend_tests!(
    get_runs_queries_and_refuses_mutations,
    media_types_and_status_codes_follow_the_accept_header,
    requests_that_are_not_graphql_get_coded_errors,
    cache_control_follows_the_configuration,
    etag_revalidation_sees_every_write,
    cors_is_closed_by_default_and_opens_to_listed_origins,
    large_responses_are_compressed_with_gzip_or_br,
    every_response_carries_a_request_id,
    graphiql_is_served_with_its_own_assets,
);

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const PLANS: &str = "{ plans { id name } }";

/// `GET /graphql?query=…` with optional variables, operation name and headers.
async fn get(
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
    let mut request = app.client.get(app.url("/graphql")).query(&params);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

/// `POST /graphql` with a JSON body and extra headers.
async fn post(app: &TestApp, body: Value, headers: &[(&str, &str)]) -> Response {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request sent")
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header"))
}

/// Whether the response names `name` in one of its `Vary` headers (layers add their own).
fn varies_on(response: &Response, name: &str) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|value| value.to_str().expect("ASCII header").split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(name))
}

fn content_type(response: &Response) -> &str {
    header(response, "content-type").unwrap_or_default()
}

async fn json_of(response: Response) -> Value {
    response.json().await.expect("JSON body")
}

async fn get_runs_queries_and_refuses_mutations(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_ok(1, "HOTSPOT", "1 Hour").await;
    app.create_ok(2, "PPPOE", "Monthly").await;

    // The same answer as POST, with variables and an operation name.
    let response = get(&app, PLANS, None, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("application/json"));
    let body = json_of(response).await;
    assert_eq!(body, app.graphql(PLANS, json!({})).await);
    assert_eq!(body["data"]["plans"].as_array().unwrap().len(), 2);

    let by_user = "query ByUser($u: Int) { plans(userId: $u) { id } }";
    let response = get(&app, by_user, Some(json!({ "u": 1 })), Some("ByUser"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(response).await,
        json!({ "data": { "plans": [{ "id": id }] } })
    );

    // A mutation by GET: 405, `Allow: POST`, a coded error, and nothing done (with the token, too).
    let delete = format!("mutation {{ deletePlan(id: \"{id}\") }}");
    let bearer = format!("Bearer {TOKEN}");
    for accept in ["application/json", GRAPHQL_RESPONSE_JSON] {
        let response = get(
            &app,
            &delete,
            None,
            None,
            &[("accept", accept), ("authorization", &bearer)],
        )
        .await;
        assert_eq!(response.status(), 405, "Accept: {accept}");
        assert_eq!(header(&response, "allow"), Some("POST"));
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        let body = json_of(response).await;
        assert_eq!(error_code(&body), "BAD_REQUEST");
        assert!(body.get("data").is_none(), "{body}");
    }
    // The operation that would run decides, not the first one in the document.
    let both =
        format!("query Plans {{ plans {{ id }} }} mutation Delete {{ deletePlan(id: \"{id}\") }}");
    let response = get(
        &app,
        &both,
        None,
        Some("Delete"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(response.status(), 405);
    let response = get(&app, &both, None, Some("Plans"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.plan_ids(Some(1), None).await,
        vec![id.clone()],
        "a GET deleted"
    );

    // Bad GET parameters.
    let response = get(&app, PLANS, Some(json!([1])), None, &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    let response = app
        .client
        .get(app.url("/graphql?variables=%7B%7D"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "no query");
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    // A JSON client that sends no query gets an error, not the HTML page.
    let response = app
        .client
        .get(app.url("/graphql"))
        .header("accept", GRAPHQL_RESPONSE_JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));
}

async fn media_types_and_status_codes_follow_the_accept_header(backend: Backend) {
    let app = spawn_app(backend).await;
    let parse_error = json!({ "query": "{ plans { id " });
    let validation_error = json!({ "query": "{ plans { price } }" });
    let unauthenticated = json!({ "query": "mutation { deletePlan(id: \"1\") }" });
    let accept_new = [("accept", GRAPHQL_RESPONSE_JSON)];

    // application/graphql-response+json: request errors are 400 without data; success is 200.
    let response = post(&app, json!({ "query": PLANS }), &accept_new).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        content_type(&response),
        "application/graphql-response+json; charset=utf-8"
    );
    assert_eq!(json_of(response).await, json!({ "data": { "plans": [] } }));
    for (body, code) in [
        (&parse_error, "GRAPHQL_PARSE_FAILED"),
        (&validation_error, "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let response = post(&app, body.clone(), &accept_new).await;
        assert_eq!(response.status(), 400, "{body}");
        assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));
        let body = json_of(response).await;
        assert_eq!(error_code(&body), code);
        assert!(
            body.get("data").is_none(),
            "a request error has no data: {body}"
        );
    }
    // An operation that ran and failed is a 200 with `"data": null`.
    let response = post(&app, unauthenticated.clone(), &accept_new).await;
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    assert!(body.get("data").is_some_and(Value::is_null), "{body}");
    // Several operations and no operationName: a request error too.
    let two = json!({ "query": "query A { plans { id } } query B { plans { id } }" });
    let response = post(&app, two, &accept_new).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");

    // application/json (also no Accept, and */*): 200 for every well-formed request.
    for accept in [Some("application/json"), None, Some("*/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        for body in [&parse_error, &validation_error, &unauthenticated] {
            let response = post(&app, body.clone(), &headers).await;
            assert_eq!(response.status(), 200, "Accept {accept:?}: {body}");
            assert_eq!(content_type(&response), "application/json; charset=utf-8");
            assert!(json_of(response).await["errors"][0]["extensions"]["code"].is_string());
        }
    }
    // The client's preference decides between the two.
    let response = post(
        &app,
        json!({ "query": PLANS }),
        &[(
            "accept",
            "application/graphql-response+json;q=0.5, application/json",
        )],
    )
    .await;
    assert!(content_type(&response).starts_with("application/json"));
    let response = get(&app, PLANS, None, None, &accept_new).await;
    assert!(content_type(&response).starts_with(GRAPHQL_RESPONSE_JSON));

    // Neither acceptable: 406, still a coded GraphQL error.
    let response = post(&app, json!({ "query": PLANS }), &[("accept", "text/plain")]).await;
    assert_eq!(response.status(), 406);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    let response = get(&app, PLANS, None, None, &[("accept", "application/xml")]).await;
    assert_eq!(response.status(), 406);

    // Unchanged for clients that send no Accept header (as before).
    let (status, body) = app.post_graphql_as(None, "{ plans { id ", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
}

async fn requests_that_are_not_graphql_get_coded_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let raw = |content_type: Option<&'static str>, body: Vec<u8>| {
        let mut request = app.client.post(app.url("/graphql")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.header("accept", GRAPHQL_RESPONSE_JSON).send()
    };
    let query = br#"{"query":"{ plans { id } }"}"#.to_vec();
    let cases: Vec<(Option<&'static str>, Vec<u8>, u16)> = vec![
        // Not JSON, not a GraphQL request, or the wrong shape of one: 400 (either media type).
        (Some("application/json"), b"{not json".to_vec(), 400),
        (Some("application/json"), Vec::new(), 400),
        (Some("application/json"), br#"{"qeury":"{ plans { id } }"}"#.to_vec(), 400),
        (Some("application/json"), br#"{"query":1}"#.to_vec(), 400),
        (Some("application/json"), br#"["{ plans { id } }"]"#.to_vec(), 400),
        (
            Some("application/json"),
            br#"{"query":"{ plans { id } }","variables":"{}"}"#.to_vec(),
            400,
        ),
        (
            Some("application/json"),
            br#"{"query":"{ plans { id } }","operationName":7}"#.to_vec(),
            400,
        ),
        (
            Some("application/json"),
            br#"{"query":"{ plans { id } }","extensions":[]}"#.to_vec(),
            400,
        ),
        // Not JSON at all by its Content-Type, or not UTF-8: 415.
        (None, query.clone(), 415),
        (Some("text/plain"), query.clone(), 415),
        (Some("application/graphql"), b"{ plans { id } }".to_vec(), 415),
        (Some("application/x-www-form-urlencoded"), query.clone(), 415),
        (Some("application/json; charset=utf-16"), query.clone(), 415),
        // Too large: 413.
        (
            Some("application/json"),
            format!(r#"{{"query":"{{ plans {{ id }} }}","x":"{}"}}"#, "a".repeat(70_000))
                .into_bytes(),
            413,
        ),
        // Fine, with null optional parameters and a UTF-8 charset.
        (
            Some("application/json; charset=UTF-8"),
            br#"{"query":"{ plans { id } }","variables":null,"operationName":null,"extensions":null}"#
                .to_vec(),
            200,
        ),
    ];
    for (content_type, body, status) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        let response = raw(content_type, body).await.expect("request sent");
        assert_eq!(response.status(), status, "{content_type:?} {shown}");
        if status != 200 {
            assert_eq!(header(&response, "cache-control"), Some("no-store"));
            let body = json_of(response).await;
            assert_eq!(error_code(&body), "BAD_REQUEST", "{shown}: {body}");
            assert!(body.get("data").is_none());
        }
    }
    // Other methods: 405 with the allowed ones.
    for method in [Method::PUT, Method::DELETE, Method::PATCH] {
        let response = app
            .client
            .request(method.clone(), app.url("/graphql"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(header(&response, "allow"), Some("GET, POST"));
        assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    }
    assert_eq!(app.get_status("/health/ready").await, 200);
}

async fn cache_control_follows_the_configuration(backend: Backend) {
    // Default: revalidate every time, so a write is seen at once.
    let app = spawn_app(backend).await;
    let response = get(&app, PLANS, None, None, &[]).await;
    assert_eq!(header(&response, "cache-control"), Some("no-cache"));
    assert!(header(&response, "etag").is_some());
    assert!(
        varies_on(&response, "accept"),
        "GET answers vary with Accept"
    );
    // POST, and errors, are never stored.
    let response = post(&app, json!({ "query": PLANS }), &[]).await;
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert!(header(&response, "etag").is_none());
    let response = get(&app, "{ plans(userId: 0) { id } }", None, None, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    assert_eq!(error_code(&json_of(response).await), "BAD_USER_INPUT");
    let response = get(&app, "{ plans { price } }", None, None, &[]).await;
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    drop(app);

    let cases = [
        // (HTTP_CACHE_MAX_AGE, PLAN_CACHE_TTL, Cache-Control)
        (60, 300, "public, max-age=60"),
        (600, 120, "public, max-age=120"),
        (60, 0, "no-store"),
        (0, 0, "no-store"),
    ];
    for (max_age, ttl, expected) in cases {
        let app = spawn_app_with(
            backend,
            AppOptions {
                http_cache_max_age: max_age,
                ttl_seconds: ttl,
                ..AppOptions::default()
            },
        )
        .await;
        let response = get(&app, PLANS, None, None, &[]).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "cache-control"),
            Some(expected),
            "HTTP_CACHE_MAX_AGE={max_age} PLAN_CACHE_TTL={ttl}"
        );
        // Nothing to revalidate when nothing may be stored.
        assert_eq!(header(&response, "etag").is_some(), expected != "no-store");
        let response = post(&app, json!({ "query": PLANS }), &[]).await;
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
    }
}

async fn etag_revalidation_sees_every_write(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "HOTSPOT", "first").await;
    let response = get(&app, PLANS, None, None, &[]).await;
    let etag = header(&response, "etag").expect("ETag").to_owned();
    assert!(etag.starts_with("W/\""), "{etag}");
    let first = response.bytes().await.unwrap();

    // Unchanged: 304 with no body, same validator, same caching headers.
    let response = get(&app, PLANS, None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), 304);
    assert_eq!(header(&response, "etag"), Some(etag.as_str()));
    assert_eq!(header(&response, "cache-control"), Some("no-cache"));
    assert!(response.bytes().await.unwrap().is_empty());
    // A list of tags, or another one.
    let response = get(
        &app,
        PLANS,
        None,
        None,
        &[("if-none-match", &format!("\"nope\", {etag}"))],
    )
    .await;
    assert_eq!(response.status(), 304);
    let response = get(&app, PLANS, None, None, &[("if-none-match", "\"nope\"")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap(), first);
    // The media type is part of the representation.
    let response = get(
        &app,
        PLANS,
        None,
        None,
        &[("accept", GRAPHQL_RESPONSE_JSON)],
    )
    .await;
    assert_ne!(header(&response, "etag"), Some(etag.as_str()));

    // After a write, revalidating gets the new list at once.
    let created = app.create_ok(1, "HOTSPOT", "second").await;
    let response = get(&app, PLANS, None, None, &[("if-none-match", &etag)]).await;
    assert_eq!(response.status(), 200);
    assert_ne!(header(&response, "etag"), Some(etag.as_str()));
    let body = json_of(response).await;
    assert_eq!(body["data"]["plans"][1]["id"], created);
}

async fn cors_is_closed_by_default_and_opens_to_listed_origins(backend: Backend) {
    const PORTAL: &str = "https://portal.example.com";
    let preflight = |app: &TestApp, origin: &str| {
        app.client
            .request(Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let from = |app: &TestApp, origin: &str| {
        app.client
            .post(app.url("/graphql"))
            .header("origin", origin)
            .json(&json!({ "query": PLANS }))
            .send()
    };

    // Closed by default: no CORS headers, so browsers block the call.
    let app = spawn_app(backend).await;
    let response = preflight(&app, PORTAL).await.unwrap();
    assert!(header(&response, "access-control-allow-origin").is_none());
    let response = from(&app, PORTAL).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "access-control-allow-origin").is_none());
    drop(app);

    // Listed origins only.
    let app = spawn_app_with(
        backend,
        AppOptions {
            cors_allowed_origins: AllowedOrigins::List(vec![
                PORTAL.to_owned(),
                "http://localhost:5173".to_owned(),
            ]),
            ..AppOptions::default()
        },
    )
    .await;
    let response = preflight(&app, PORTAL).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(PORTAL)
    );
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    for method in ["GET", "POST"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(&response, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["authorization", "content-type"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(header(&response, "access-control-max-age").is_some());
    let response = from(&app, PORTAL).await.unwrap();
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(PORTAL)
    );
    assert_eq!(
        header(&response, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert!(varies_on(&response, "origin"));
    let response = from(&app, "http://localhost:5173").await.unwrap();
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    for refused in [
        "https://evil.example.com",
        "http://portal.example.com",
        "https://portal.example.com:8443",
    ] {
        let response = preflight(&app, refused).await.unwrap();
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{refused}"
        );
        let response = from(&app, refused).await.unwrap();
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{refused}"
        );
    }
    drop(app);

    // `*`: any origin.
    let app = spawn_app_with(
        backend,
        AppOptions {
            cors_allowed_origins: AllowedOrigins::Any,
            ..AppOptions::default()
        },
    )
    .await;
    let response = from(&app, "https://anyone.example").await.unwrap();
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
}

async fn large_responses_are_compressed_with_gzip_or_br(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..30 {
        app.create_ok(1, "HOTSPOT", &format!("Plan number {i}"))
            .await;
    }
    let query = "{ plans { id userId name connectionType priceCents durationMinutes createdAt } }";
    let plain = get(&app, query, None, None, &[]).await;
    assert!(header(&plain, "content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 2_000);

    for encoding in ["gzip", "br"] {
        for method in [Method::GET, Method::POST] {
            let response = if method == Method::GET {
                get(&app, query, None, None, &[("accept-encoding", encoding)]).await
            } else {
                post(
                    &app,
                    json!({ "query": query }),
                    &[("accept-encoding", encoding)],
                )
                .await
            };
            assert_eq!(response.status(), 200);
            assert_eq!(
                header(&response, "content-encoding"),
                Some(encoding),
                "{method}"
            );
            assert!(varies_on(&response, "accept-encoding"));
            let compressed = response.bytes().await.unwrap();
            assert!(
                compressed.len() * 3 < plain.len(),
                "{encoding}: {} of {} bytes",
                compressed.len(),
                plain.len()
            );
            assert_eq!(decode(encoding, &compressed), plain, "{encoding} {method}");
        }
    }
    // The client's preference decides.
    let response = get(
        &app,
        query,
        None,
        None,
        &[("accept-encoding", "gzip;q=0.5, br")],
    )
    .await;
    assert_eq!(header(&response, "content-encoding"), Some("br"));
    // The big GraphiQL script too.
    let response = app
        .client
        .get(app.url("/graphql/assets/graphiql-3.8.3.min.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&response, "content-encoding"), Some("gzip"));
}

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .expect("gzip"),
        "br" => brotli::Decompressor::new(bytes, 4096)
            .read_to_end(&mut out)
            .expect("br"),
        other => panic!("no decoder for {other}"),
    };
    out
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            cors_allowed_origins: AllowedOrigins::Any,
            ..AppOptions::default()
        },
    )
    .await;
    let requests: Vec<(Method, &str, HeaderMap, Option<&str>)> = vec![
        (Method::GET, "/health/live", HeaderMap::new(), None),
        (Method::GET, "/health/ready", HeaderMap::new(), None),
        (Method::GET, "/metrics", HeaderMap::new(), None),
        (Method::GET, "/graphql", HeaderMap::new(), None),
        (
            Method::GET,
            "/graphql?query=%7Bplans%7Bid%7D%7D",
            HeaderMap::new(),
            None,
        ),
        (
            Method::GET,
            "/graphql/assets/nope.js",
            HeaderMap::new(),
            None,
        ),
        (Method::GET, "/no/such/path", HeaderMap::new(), None),
        (
            Method::POST,
            "/graphql",
            json_headers(),
            Some(r#"{"query":"{ plans { id } }"}"#),
        ),
        (Method::POST, "/graphql", json_headers(), Some("{not json")),
        (Method::POST, "/graphql", HeaderMap::new(), Some("x")),
        (Method::PUT, "/graphql", HeaderMap::new(), None),
        (Method::OPTIONS, "/graphql", preflight_headers(), None),
    ];
    for (method, path, headers, body) in requests {
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .headers(headers.clone());
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let id = header(&response, "x-request-id")
            .unwrap_or_else(|| panic!("{method} {path} ({status}) has no x-request-id"));
        assert_eq!(id.len(), 36, "a UUID: {id}");

        // An id the client (or a proxy) sent is kept, so logs on both sides line up.
        let ours = format!("client-{}-{}", method, path.len());
        let mut request = app
            .client
            .request(method.clone(), app.url(path))
            .headers(headers)
            .header("x-request-id", &ours);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            header(&response, "x-request-id"),
            Some(ours.as_str()),
            "{method} {path}"
        );
    }
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    headers
}

fn preflight_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::ORIGIN,
        "https://portal.example.com".parse().unwrap(),
    );
    headers.insert(
        header::ACCESS_CONTROL_REQUEST_METHOD,
        "POST".parse().unwrap(),
    );
    headers
}

async fn graphiql_is_served_with_its_own_assets(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", browser_accept)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(content_type(&page), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy")
        .expect("CSP")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("unpkg") && !html.contains("cdn"),
        "loads from a CDN"
    );

    let references: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect();
    assert!(references.len() >= 5, "{references:?}");
    for path in references {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let expected = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(content_type(&response), expected, "{path}");
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        let cache = header(&response, "cache-control")
            .unwrap_or_default()
            .to_owned();
        if path.contains("-3.8.3.") || path.contains("-18.3.1.") {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
    assert_eq!(app.get_status("/graphql/assets/nope.js").await, 404);
    assert_eq!(app.get_status("/graphql/assets/..%2FCargo.toml").await, 404);
}
