//! The GraphQL response cache seen from outside: byte-identical answers, precise invalidation,
//! and nothing cached that must not be (mutations, errors).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::http::{content_type, json_of, post_body};
use crate::helpers::{
    AppOptions, Backend, TOKEN, TestApp, TestDatabase, assert_no_errors, error_code, spawn_app,
    spawn_app_on,
};

backend_tests!(
    stored_responses_are_byte_identical_to_executed_ones,
    a_write_drops_exactly_the_responses_built_from_its_keys,
    mutations_and_errors_are_never_stored,
);

const PLANS_OF_USER: &str = "query Plans($userId: Int, $type: ConnectionType) { plans(userId: $userId, connectionType: $type) { id userId name connectionType priceCents durationMinutes createdAt } }";

/// POSTs a raw body; returns (content type, body bytes).
async fn post_raw(app: &TestApp, body: &str) -> (String, Vec<u8>) {
    let response = post_body(app, Some("application/json"), body.to_owned(), &[]).await;
    assert_eq!(response.status(), 200);
    let content_type = content_type(&response).to_owned();
    (content_type, response.bytes().await.unwrap().to_vec())
}

fn body(query: &str, variables: Value) -> String {
    json!({ "query": query, "variables": variables }).to_string()
}

async fn stored_responses_are_byte_identical_to_executed_ones(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    let cached = spawn_app_on(database.clone(), AppOptions::default()).await;
    for (user, kind) in [(1, "HOTSPOT"), (1, "PPPOE"), (2, "HOTSPOT"), (1, "HOTSPOT")] {
        cached
            .create_ok(user, kind, "Ünïcode \"quoted\" plan")
            .await;
    }
    let uncached = spawn_app_on(
        database,
        AppOptions {
            response_cache_entries: 0,
            ..AppOptions::default()
        },
    )
    .await;

    let requests = [
        body(PLANS_OF_USER, json!({ "userId": 1, "type": "HOTSPOT" })),
        body(PLANS_OF_USER, json!({ "userId": 1 })),
        body(PLANS_OF_USER, json!({})),
        body(
            "{ plan(id: \"2\") { id name createdAt } missing: plan(id: \"99\") { id } }",
            json!(null),
        ),
        body("{ __schema { queryType { name } } }", json!(null)),
    ];
    for request in &requests {
        let (executed_type, executed) = post_raw(&cached, request).await;
        let hits_before = cached.metric("graphql_response_cache_hits_total").await;
        let (stored_type, stored) = post_raw(&cached, request).await;
        assert_eq!(
            cached.metric("graphql_response_cache_hits_total").await,
            hits_before + 1.0,
            "the second request should be a hit: {request}"
        );
        let (reference_type, reference) = post_raw(&uncached, request).await;
        assert_eq!(stored, executed, "{request}");
        assert_eq!(stored, reference, "{request}");
        assert_eq!(stored_type, executed_type);
        assert_eq!(stored_type, reference_type);
        assert_no_errors(&serde_json::from_slice(&stored).unwrap());
    }
    assert_eq!(
        uncached.metric("graphql_response_cache_hits_total").await,
        0.0
    );

    // Another spelling of the same document is the same entry.
    let respelled = body(
        "query Plans( $userId:Int,$type:ConnectionType ) {\n  plans(userId: $userId, connectionType: $type) {\n id userId name connectionType priceCents durationMinutes createdAt\n }\n}",
        json!({ "type": "HOTSPOT", "userId": 1 }),
    );
    let hits_before = cached.metric("graphql_response_cache_hits_total").await;
    let (_, stored) = post_raw(&cached, &respelled).await;
    assert_eq!(stored, post_raw(&uncached, &requests[0]).await.1);
    assert_eq!(
        cached.metric("graphql_response_cache_hits_total").await,
        hits_before + 1.0
    );
}

async fn a_write_drops_exactly_the_responses_built_from_its_keys(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "HOTSPOT", "one").await;
    app.create_ok(2, "HOTSPOT", "two").await;
    let requests = [
        body(PLANS_OF_USER, json!({ "userId": 1, "type": "HOTSPOT" })),
        body(PLANS_OF_USER, json!({ "userId": 2, "type": "HOTSPOT" })),
        body(PLANS_OF_USER, json!({ "userId": 2 })),
        body(PLANS_OF_USER, json!({})),
        body("{ plan(id: \"1\") { id } }", json!(null)),
    ];
    for request in &requests {
        post_raw(&app, request).await;
    }

    app.create_ok(1, "HOTSPOT", "three").await;
    let hits = || app.metric("graphql_response_cache_hits_total");
    let before = hits().await;
    // Built from keys the write touched (`plans:user_1:type_hotspot`, `plans`): executed again,
    // and they show the new plan.
    let (_, user_1) = post_raw(&app, &requests[0]).await;
    let user_1: Value = serde_json::from_slice(&user_1).unwrap();
    assert_eq!(user_1["data"]["plans"].as_array().unwrap().len(), 2);
    let (_, all) = post_raw(&app, &requests[3]).await;
    let all: Value = serde_json::from_slice(&all).unwrap();
    assert_eq!(all["data"]["plans"].as_array().unwrap().len(), 3);
    post_raw(&app, &requests[4]).await;
    assert_eq!(hits().await, before, "stale responses were served");
    // Built from other tenants' keys: still stored.
    post_raw(&app, &requests[1]).await;
    post_raw(&app, &requests[2]).await;
    assert_eq!(hits().await, before + 2.0);
}

async fn mutations_and_errors_are_never_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let create = body(
        "mutation { createPlan(input: { userId: 5, name: \"x\", connectionType: STATIC, priceCents: 1, durationMinutes: 1 }) { userId } }",
        json!(null),
    );
    let bearer = format!("Bearer {TOKEN}");
    for _ in 0..2 {
        let headers = [("authorization", bearer.as_str())];
        let response = post_body(&app, Some("application/json"), create.clone(), &headers).await;
        assert_no_errors(&json_of(response).await);
    }
    assert_eq!(
        app.plan_ids(Some(5), None).await.len(),
        2,
        "each mutation ran"
    );

    // The unauthenticated attempt is an error, and so not kept either.
    for _ in 0..2 {
        let refused = app.query(&create_query()).await;
        assert_eq!(error_code(&refused), "UNAUTHENTICATED");
    }
    for _ in 0..2 {
        let invalid = app.query("{ plans(userId: 0) { id } }").await;
        assert_eq!(error_code(&invalid), "BAD_USER_INPUT");
    }
    assert_eq!(app.metric("graphql_response_cache_hits_total").await, 0.0);
    assert_eq!(app.plan_ids(Some(5), None).await.len(), 2);
}

fn create_query() -> String {
    "mutation { createPlan(input: { userId: 5, name: \"y\", connectionType: STATIC, priceCents: 1, durationMinutes: 1 }) { id } }".to_owned()
}
