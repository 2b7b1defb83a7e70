//! What every HTTP response gets: compression when it is large, and a request id.

use std::io::Read;

use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{get, get_path, header, post, varies_on};
use crate::helpers::{AppOptions, Backend, spawn_app, spawn_app_with};

backend_tests!(
    large_responses_are_compressed_with_gzip_or_br,
    every_response_carries_a_request_id,
);

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
    let response = get_path(
        &app,
        "/graphql/assets/graphiql-3.8.3.min.js",
        &[("accept-encoding", "gzip")],
    )
    .await;
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
    let app = spawn_app_with(backend, AppOptions::cors_any()).await;
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
