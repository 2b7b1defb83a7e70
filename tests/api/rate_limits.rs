//! Per-client rate limits against the real server: the burst, the refill, a bucket per valid
//! credential (the admin; each operator, from its first request), else per client IP (from
//! `X-Forwarded-For` only behind trusted proxies), each batch item counted, and a refused request
//! that runs nothing.

use std::time::Duration;

use reqwest::Response;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{GRAPHQL_RESPONSE_JSON, PLANS, header, json_of, post};
use crate::helpers::tokens::{self, AUDIENCE, ISSUER, JWT_SECRET};
use crate::helpers::{AppOptions, Backend, TOKEN, TestApp, assert_no_errors, spawn_app_with};

backend_tests!(
    a_client_gets_its_burst_then_429_until_a_token_comes_back,
    each_valid_credential_has_its_own_bucket,
    a_rate_limited_mutation_writes_nothing,
    forwarded_addresses_count_only_from_trusted_proxies,
    each_operator_has_its_own_bucket_from_its_first_request,
    each_batch_item_counts_and_a_batch_that_does_not_fit_runs_nothing,
);

/// 1 request a second, 3 at once.
fn one_per_second_burst_three() -> AppOptions {
    AppOptions::tweaked(|config| {
        config.rate_limit.rate_limit_per_second = 1;
        config.rate_limit.rate_limit_burst = Some(3);
    })
}

async fn send(app: &TestApp, token: Option<&str>, forwarded_for: Option<&str>) -> Response {
    let mut headers = vec![("accept", GRAPHQL_RESPONSE_JSON)];
    let bearer = token.map(|token| format!("Bearer {token}"));
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    if let Some(forwarded_for) = forwarded_for {
        headers.push(("x-forwarded-for", forwarded_for));
    }
    post(app, json!({ "query": PLANS }), &headers).await
}

/// Asserts a 429 with `Retry-After` (whole seconds, at least 1) and a `RATE_LIMITED` error that
/// ran nothing (no `data`).
async fn assert_rate_limited(response: Response) {
    assert_eq!(response.status().as_u16(), 429);
    let retry_after: u64 = header(&response, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!((1..=3).contains(&retry_after), "{retry_after}");
    let body = json_of(response).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert!(body.get("data").is_none(), "{body}");
}

async fn assert_ok(response: Response) {
    assert_eq!(response.status().as_u16(), 200);
    assert_no_errors(&json_of(response).await);
}

async fn a_client_gets_its_burst_then_429_until_a_token_comes_back(backend: Backend) {
    let app = spawn_app_with(backend, one_per_second_burst_three()).await;
    for _ in 0..3 {
        assert_ok(send(&app, None, None).await).await;
    }
    assert_rate_limited(send(&app, None, None).await).await;
    // Refused requests take no tokens, and probes and scrapes are never limited.
    assert_rate_limited(send(&app, None, None).await).await;
    assert_eq!(app.get_status("/health/live").await, 200);
    assert_eq!(app.get_status("/health/ready").await, 200);
    assert!(app.metric("http_requests_rate_limited_total").await >= 2.0);
    // A token comes back each second: one request, not two.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_ok(send(&app, None, None).await).await;
    assert_rate_limited(send(&app, None, None).await).await;
}

async fn each_valid_credential_has_its_own_bucket(backend: Backend) {
    let app = spawn_app_with(backend, one_per_second_burst_three()).await;
    for _ in 0..3 {
        assert_ok(send(&app, None, None).await).await;
    }
    assert_rate_limited(send(&app, None, None).await).await;
    // A wrong token is no credential: the client is its address, whose bucket is empty.
    assert_rate_limited(send(&app, Some("not-the-token"), None).await).await;
    // The admin has a bucket of its own, full.
    for _ in 0..3 {
        assert_ok(send(&app, Some(TOKEN), None).await).await;
    }
    assert_rate_limited(send(&app, Some(TOKEN), None).await).await;
}

async fn a_rate_limited_mutation_writes_nothing(backend: Backend) {
    let options = AppOptions::tweaked(|config| {
        config.rate_limit.rate_limit_per_second = 1;
        config.rate_limit.rate_limit_burst = Some(1);
    });
    let app = spawn_app_with(backend, options).await;
    app.create_ok(1, "HOTSPOT", "first").await;
    let (status, body) = app
        .post_graphql_as(
            Some(TOKEN),
            "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
            json!({ "input": {
                "userId": 1, "name": "refused", "connectionType": "HOTSPOT",
                "priceCents": 1000, "durationMinutes": 60,
            }}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(app.database.ids_in_table().await.len(), 1);
}

async fn forwarded_addresses_count_only_from_trusted_proxies(backend: Backend) {
    // Not trusted: X-Forwarded-For is the client's word and is ignored; one bucket for all.
    let options = AppOptions::tweaked(|config| {
        config.rate_limit.rate_limit_per_second = 1;
        config.rate_limit.rate_limit_burst = Some(1);
    });
    let app = spawn_app_with(backend, options).await;
    assert_eq!(limited(&app, "203.0.113.1").await, (200, 429));
    assert_eq!(limited(&app, "203.0.113.2").await, (429, 429));

    // The peer (loopback) is a trusted proxy: each forwarded client has its own bucket, named by
    // the right-most address that is not a trusted proxy.
    let options = AppOptions::tweaked(|config| {
        config.rate_limit.rate_limit_per_second = 1;
        config.rate_limit.rate_limit_burst = Some(1);
        config.rate_limit.rate_limit_trusted_proxies = "127.0.0.0/8,10.0.0.0/8".parse().unwrap();
    });
    let app = spawn_app_with(backend, options).await;
    assert_eq!(limited(&app, "203.0.113.1").await, (200, 429));
    assert_eq!(limited(&app, "203.0.113.2").await, (200, 429));
    // A client cannot choose its bucket by writing an address to the left.
    assert_eq!(
        limited(&app, "198.51.100.9, 203.0.113.1, 10.0.0.1").await,
        (429, 429)
    );
}

/// The statuses of two requests in a row forwarded for `forwarded_for`.
async fn limited(app: &TestApp, forwarded_for: &str) -> (u16, u16) {
    let first = send(app, None, Some(forwarded_for)).await.status().as_u16();
    let second = send(app, None, Some(forwarded_for)).await.status().as_u16();
    (first, second)
}

async fn each_operator_has_its_own_bucket_from_its_first_request(backend: Backend) {
    let options = AppOptions::tweaked(|config| {
        config.rate_limit.rate_limit_per_second = 1;
        config.rate_limit.rate_limit_burst = Some(2);
        config.auth.jwt_secret = Some(JWT_SECRET.to_owned());
        config.auth.jwt_issuer = Some(ISSUER.to_owned());
        config.auth.jwt_audience = Some(AUDIENCE.to_owned());
    });
    let app = spawn_app_with(backend, options).await;
    // The address's bucket emptied by anonymous reads ...
    for _ in 0..2 {
        assert_ok(send(&app, None, None).await).await;
    }
    assert_rate_limited(send(&app, None, None).await).await;
    // ... does not hold back an operator, not even its first request (its token's signature is
    // checked before the request is counted).
    let seven = tokens::operator_token(7);
    let eight = tokens::operator_token(8);
    for _ in 0..2 {
        assert_ok(send(&app, Some(&seven), None).await).await;
    }
    assert_rate_limited(send(&app, Some(&seven), None).await).await;
    // Another token of the same operator draws from the same bucket.
    let seven_again = tokens::hs256(&{
        let mut claims = tokens::operator_claims(7);
        claims["jti"] = "another".into();
        claims
    });
    assert_rate_limited(send(&app, Some(&seven_again), None).await).await;
    // Another operator has its own, and so has the admin.
    assert_ok(send(&app, Some(&eight), None).await).await;
    assert_ok(send(&app, Some(TOKEN), None).await).await;
}

async fn each_batch_item_counts_and_a_batch_that_does_not_fit_runs_nothing(backend: Backend) {
    let app = spawn_app_with(backend, one_per_second_burst_three()).await;
    let item = |name: &str| {
        json!({
            "query": "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
            "variables": { "input": {
                "userId": 1, "name": name, "connectionType": "HOTSPOT",
                "priceCents": 1000, "durationMinutes": 60,
            }},
        })
    };
    let bearer = format!("Bearer {TOKEN}");
    let headers = [("authorization", bearer.as_str())];
    // Four items, three tokens: refused whole, nothing written, no token taken.
    let response = post(
        &app,
        json!([item("a"), item("b"), item("c"), item("d")]),
        &headers,
    )
    .await;
    assert_rate_limited(response).await;
    assert!(app.database.ids_in_table().await.is_empty());
    // Three items fit exactly: all run ...
    let response = post(&app, json!([item("a"), item("b"), item("c")]), &headers).await;
    assert_eq!(response.status().as_u16(), 200);
    let body = json_of(response).await;
    assert_eq!(body.as_array().map(Vec::len), Some(3), "{body}");
    assert_eq!(app.database.ids_in_table().await.len(), 3);
    // ... and took the whole bucket.
    assert_rate_limited(send(&app, Some(TOKEN), None).await).await;
}
