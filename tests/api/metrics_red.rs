//! The metrics an operator reads first, read from `/metrics` after a known mix of requests:
//! `http_server_request_duration_seconds{method, route, status}` counts every response once under
//! its matched route, and `graphql_operations_total{type, outcome, code}` every operation once
//! (executed, answered from the response cache, refused before GraphQL ran, each batch item, each
//! subscription), with nothing counted that was not sent.

use std::collections::BTreeMap;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::backend_tests;
use crate::helpers::http::{get, get_path, post, post_body};
use crate::helpers::live::connect_ws;
use crate::helpers::{Backend, TOKEN, TestApp, assert_no_errors, error_code, spawn_app};

backend_tests!(
    both: every_request_and_operation_is_counted_once_under_its_labels;
    sqlite_only: label_values_never_come_from_the_client;
);

const PLANS_OF: &str =
    "query Plans($userId: Int) { plans(userId: $userId) { id name connectionType } }";
const CREATE: &str = "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }";
const SUBSCRIPTION: &str = "subscription($userId: Int) { plans(userId: $userId) { id } }";

fn create_input(user_id: i32, price_cents: i32) -> Value {
    json!({ "input": {
        "userId": user_id, "name": "metered", "connectionType": "HOTSPOT",
        "priceCents": price_cents, "durationMinutes": 60,
    } })
}

/// What the test sent and saw, in the metrics' labels.
#[derive(Default)]
struct Sent {
    /// (method, route, status) -> responses.
    http: BTreeMap<(String, String, String), u64>,
    /// (type, outcome, code) -> operations.
    operations: BTreeMap<(String, String, String), u64>,
}

impl Sent {
    fn http(&mut self, method: &str, route: &str, status: u16) {
        *self
            .http
            .entry((method.into(), route.into(), status.to_string()))
            .or_default() += 1;
    }

    /// One operation of `kind`; `code` `None` is `ok`.
    fn operation(&mut self, kind: &str, code: Option<&str>) {
        let (outcome, code) = match code {
            None => ("ok", "none"),
            Some(code) => ("error", code),
        };
        *self
            .operations
            .entry((kind.into(), outcome.into(), code.into()))
            .or_default() += 1;
    }
}

/// `name{a="x",b="y"} value` lines of `/metrics` for `name`, as (label values in name order,
/// value); zero values left out.
fn series(text: &str, name: &str) -> BTreeMap<Vec<String>, f64> {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (labels, value) = rest.split_once("} ")?;
            let value: f64 = value.trim().parse().ok()?;
            let mut pairs: Vec<(&str, &str)> = labels
                .split("\",")
                .map(|pair| {
                    let (key, value) = pair.split_once("=\"").expect("label");
                    (key, value.trim_end_matches('"'))
                })
                .collect();
            pairs.sort_unstable();
            (value != 0.0).then(|| {
                (
                    pairs.into_iter().map(|(_, v)| v.to_owned()).collect(),
                    value,
                )
            })
        })
        .collect()
}

async fn metrics_text(app: &TestApp) -> String {
    let response = get_path(app, "/metrics", &[]).await;
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// POSTs `body` with the admin token; records the response; returns it as JSON.
async fn post_as_admin(app: &TestApp, sent: &mut Sent, body: Value) -> Value {
    let response = post(app, body, &[("authorization", &format!("Bearer {TOKEN}"))]).await;
    sent.http("POST", "/graphql", response.status().as_u16());
    response.json().await.unwrap()
}

/// The first `next` event of an SSE subscription to `user_id`'s plans, and the response to read
/// on.
async fn sse_first_event(app: &TestApp, sent: &mut Sent, user_id: i32) -> reqwest::Response {
    let mut response = app
        .client
        .post(app.url("/graphql"))
        .header("accept", "text/event-stream")
        .json(&json!({ "query": SUBSCRIPTION, "variables": { "userId": user_id } }))
        .send()
        .await
        .unwrap();
    sent.http("POST", "/graphql", response.status().as_u16());
    next_sse_event(&mut response).await;
    response
}

/// The next `next` event's data (keep-alive comments skipped).
async fn next_sse_event(response: &mut reqwest::Response) -> Value {
    let mut buffer = String::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let is_next = block.lines().any(|line| line.trim() == "event: next");
            if let Some(data) = block.lines().find_map(|line| line.strip_prefix("data:"))
                && is_next
            {
                return serde_json::from_str(data.trim()).unwrap();
            }
        }
        let chunk = response.chunk().await.unwrap().expect("an event");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn every_request_and_operation_is_counted_once_under_its_labels(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut sent = Sent::default();

    // Mutations: two that succeed, one refused by validation, one without a credential.
    for price in [1000, 2000] {
        let body = post_as_admin(
            &app,
            &mut sent,
            json!({ "query": CREATE, "variables": create_input(1, price) }),
        )
        .await;
        assert_no_errors(&body);
        sent.operation("mutation", None);
    }
    let body = post_as_admin(
        &app,
        &mut sent,
        json!({ "query": CREATE, "variables": create_input(1, -5) }),
    )
    .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    sent.operation("mutation", Some("BAD_USER_INPUT"));
    let response = post(
        &app,
        json!({ "query": CREATE, "variables": create_input(1, 1) }),
        &[],
    )
    .await;
    sent.http("POST", "/graphql", response.status().as_u16());
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "UNAUTHENTICATED"
    );
    sent.operation("mutation", Some("UNAUTHENTICATED"));

    // A query twice by POST and twice by GET: a miss, then a hit, each counted once.
    let hits_before = app.metric("graphql_response_cache_hits_total").await;
    sent.http("GET", "/metrics", 200);
    let query = json!({ "query": PLANS_OF, "variables": { "userId": 1 } });
    for _ in 0..2 {
        let response = post(&app, query.clone(), &[]).await;
        sent.http("POST", "/graphql", response.status().as_u16());
        assert_no_errors(&response.json().await.unwrap());
        sent.operation("query", None);
    }
    for _ in 0..2 {
        let response = get(&app, PLANS_OF, Some(json!({ "userId": 2 })), None, &[]).await;
        sent.http("GET", "/graphql", response.status().as_u16());
        assert_no_errors(&response.json().await.unwrap());
        sent.operation("query", None);
    }
    assert_eq!(
        app.metric("graphql_response_cache_hits_total").await,
        hits_before + 2.0,
        "the second POST and the second GET should be response-cache hits"
    );
    sent.http("GET", "/metrics", 200);

    // Refused before GraphQL ran, or in it before executing.
    let response = post_body(&app, Some("application/json"), "{not json", &[]).await;
    sent.http("POST", "/graphql", response.status().as_u16());
    assert_eq!(error_code(&response.json().await.unwrap()), "BAD_REQUEST");
    sent.operation("query", Some("BAD_REQUEST"));
    let response = post(
        &app,
        query.clone(),
        &[("authorization", "Bearer not-a-token")],
    )
    .await;
    sent.http("POST", "/graphql", response.status().as_u16());
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "UNAUTHENTICATED"
    );
    sent.operation("query", Some("UNAUTHENTICATED"));
    let unknown_hash = json!({ "extensions": { "persistedQuery": { "version": 1,
        "sha256Hash": "0000000000000000000000000000000000000000000000000000000000000000" } } });
    let response = post(&app, unknown_hash, &[]).await;
    sent.http("POST", "/graphql", response.status().as_u16());
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "PERSISTED_QUERY_NOT_FOUND"
    );
    sent.operation("query", Some("PERSISTED_QUERY_NOT_FOUND"));
    let response = post(&app, json!({ "query": "{ plans { id" }), &[]).await;
    sent.http("POST", "/graphql", response.status().as_u16());
    assert_eq!(
        error_code(&response.json().await.unwrap()),
        "GRAPHQL_PARSE_FAILED"
    );
    sent.operation("query", Some("GRAPHQL_PARSE_FAILED"));
    let response = get(&app, "mutation { deletePlan(id: \"1\") }", None, None, &[]).await;
    assert_eq!(response.status(), 405);
    sent.http("GET", "/graphql", 405);
    sent.operation("mutation", Some("BAD_REQUEST"));

    // A batch: each item counts, a hit (the query above), an executed mutation, a malformed item.
    let batch =
        json!([query, { "query": CREATE, "variables": create_input(3, 300) }, { "query": 5 }]);
    let items = post_as_admin(&app, &mut sent, batch).await;
    assert_no_errors(&items[0]);
    assert_no_errors(&items[1]);
    assert_eq!(error_code(&items[2]), "BAD_REQUEST");
    sent.operation("query", None);
    sent.operation("mutation", None);
    sent.operation("query", Some("BAD_REQUEST"));

    // Subscriptions: over SSE (a later event, rendered again, is no operation of its own) and
    // over a WebSocket.
    let mut sse = sse_first_event(&app, &mut sent, 4).await;
    sent.operation("subscription", None);
    let body = post_as_admin(
        &app,
        &mut sent,
        json!({ "query": CREATE, "variables": create_input(4, 400) }),
    )
    .await;
    assert_no_errors(&body);
    sent.operation("mutation", None);
    let event = next_sse_event(&mut sse).await;
    assert_eq!(
        event["data"]["plans"].as_array().map(Vec::len),
        Some(1),
        "{event}"
    );
    drop(sse);

    let (mut socket, response) = connect_ws(app.addr).await;
    sent.http("GET", "/graphql", response.status().as_u16());
    for message in [
        json!({ "type": "connection_init", "payload": {} }),
        json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION, "variables": { "userId": 1 } } }),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("the WebSocket closed before the first event");
        };
        if serde_json::from_str::<Value>(&text).unwrap()["type"] == "next" {
            break;
        }
    }
    sent.operation("subscription", None);
    drop(socket);

    // Outside GraphQL: a probe and a path no route serves (one label for every such path).
    assert_eq!(app.get_status("/health/live").await, 200);
    sent.http("GET", "/health/live", 200);
    assert_eq!(app.get_status("/wp-login.php").await, 404);
    assert_eq!(app.get_status("/graphql/../etc/passwd").await, 404);
    sent.http("GET", "unmatched", 404);
    sent.http("GET", "unmatched", 404);

    let text = metrics_text(&app).await;
    let operations = series(&text, "graphql_operations_total");
    let expected: BTreeMap<Vec<String>, f64> = sent
        .operations
        .iter()
        // Labels in name order: code, outcome, type.
        .map(|((kind, outcome, code), count)| {
            (
                vec![code.clone(), outcome.clone(), kind.clone()],
                *count as f64,
            )
        })
        .collect();
    assert_eq!(operations, expected, "graphql_operations_total\n{text}");

    let requests = series(&text, "http_server_request_duration_seconds_count");
    let expected: BTreeMap<Vec<String>, f64> = sent
        .http
        .iter()
        .map(|((method, route, status), count)| {
            (
                vec![method.clone(), route.clone(), status.clone()],
                *count as f64,
            )
        })
        .collect();
    assert_eq!(
        requests, expected,
        "http_server_request_duration_seconds\n{text}"
    );
    // Buckets from 100 µs to 10 s.
    for bound in ["0.0001", "10"] {
        let bucket = format!(
            "http_server_request_duration_seconds_bucket{{method=\"GET\",route=\"/health/live\",status=\"200\",le=\"{bound}\"}}"
        );
        assert!(text.contains(&bucket), "no {bucket}\n{text}");
    }
}

/// Whatever a client sends (an operation name, odd methods and paths), the label values stay
/// within their fixed sets.
async fn label_values_never_come_from_the_client() {
    {
        let app = spawn_app(Backend::Sqlite).await;
        let named = json!({ "query": "query Evil { plans { id } }", "operationName": "Evil" });
        post(&app, named, &[]).await;
        let custom = reqwest::Method::from_bytes(b"BREW").unwrap();
        app.client
            .request(custom, app.url("/graphql"))
            .send()
            .await
            .unwrap();
        app.client
            .get(app.url("/graphql/assets/graphiql-3.8.3.min.js"))
            .send()
            .await
            .unwrap();
        let text = metrics_text(&app).await;
        assert!(!text.contains("Evil"), "{text}");
        for (name, values) in [
            (
                "http_server_request_duration_seconds_count",
                vec![
                    "/graphql",
                    "/graphql/assets/{name}",
                    "_OTHER",
                    "GET",
                    "POST",
                ],
            ),
            ("graphql_operations_total", vec!["query"]),
        ] {
            let seen = series(&text, name);
            assert!(!seen.is_empty(), "{name}\n{text}");
            for labels in seen.keys() {
                for value in labels {
                    assert!(
                        value
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "/{}_".contains(c)),
                        "{name}: label value {value:?}"
                    );
                }
            }
            for value in values {
                assert!(
                    seen.keys().any(|labels| labels.iter().any(|v| v == value)),
                    "{name}: no series labelled {value}\n{text}"
                );
            }
        }
    }
}
