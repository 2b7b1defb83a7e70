//! The GraphQL response cache seen from outside: byte-identical answers, precise invalidation,
//! and nothing cached that must not be (mutations, errors).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::http::{content_type, get, header, json_of, post_body};
use crate::helpers::{
    AppOptions, Backend, TOKEN, TestApp, TestDatabase, assert_no_errors, error_code, spawn_app,
    spawn_app_on,
};

backend_tests!(
    stored_responses_are_byte_identical_to_executed_ones,
    a_write_drops_exactly_the_responses_built_from_its_keys,
    mutations_and_errors_are_never_stored,
    get_queries_are_answered_from_the_response_cache_with_etags,
);

const PAGE_OF_USER: &str = "query Page($userId: Int, $first: Int, $after: String, $last: Int, $before: String) { plansConnection(userId: $userId, first: $first, after: $after, last: $last, before: $before) { totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id userId name connectionType priceCents durationMinutes createdAt } } nodes { id name } } }";
/// The cursor of plan 1 (base64url of `plan:1`), as a page gives it out.
const CURSOR_OF_PLAN_1: &str = "cGxhbjox";
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
        body(PAGE_OF_USER, json!({ "userId": 1, "first": 2 })),
        body(
            PAGE_OF_USER,
            json!({ "userId": 1, "first": 2, "after": CURSOR_OF_PLAN_1 }),
        ),
        body(PAGE_OF_USER, json!({ "last": 2, "before": "cGxhbjo0" })),
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
    if backend == Backend::Postgres {
        // The creates' own notifications drop their keys again: let them land before storing.
        app.wait_for_notifications(2).await;
    }
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

    // Pages are stored like any response; a move drops those built from the keys before and
    // after it, and no other.
    app.create_ok(3, "STATIC", "four").await;
    let feed = backend == Backend::Postgres;
    if feed {
        // The four creates' notifications drop their keys again: let them land first.
        app.wait_for_notifications(4).await;
    }
    let pages = [1, 2, 3].map(|user| body(PAGE_OF_USER, json!({ "userId": user, "first": 5 })));
    for page in &pages {
        post_raw(&app, page).await;
    }
    let before = hits().await;
    for page in &pages {
        post_raw(&app, page).await;
    }
    assert_eq!(hits().await, before + 3.0, "pages are stored");
    let moved = app
        .graphql(
            "mutation { updatePlan(id: \"1\", input: { userId: 2 }) { userId } }",
            json!(null),
        )
        .await;
    assert_eq!(moved["data"]["updatePlan"]["userId"], 2, "{moved}");
    if feed {
        app.wait_for_notifications(5).await;
    }
    let before = hits().await;
    let total = |bytes: Vec<u8>| {
        let page: Value = serde_json::from_slice(&bytes).unwrap();
        page["data"]["plansConnection"]["totalCount"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        total(post_raw(&app, &pages[0]).await.1),
        1,
        "user 1 lost it"
    );
    assert_eq!(
        total(post_raw(&app, &pages[1]).await.1),
        2,
        "user 2 gained it"
    );
    assert_eq!(hits().await, before, "stale pages were served");
    assert_eq!(total(post_raw(&app, &pages[2]).await.1), 1);
    assert_eq!(hits().await, before + 1.0, "user 3's page is still stored");
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

/// GET queries go through the response cache too: the second GET is a hit (by its exact query
/// string), a POST of the same request is a hit on the normalized entry, the stored bytes are
/// those a GET executes, `If-None-Match` on a hit gets 304, and a write drops the entry so the
/// next GET carries the new list and a new ETag.
async fn get_queries_are_answered_from_the_response_cache_with_etags(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(5, "HOTSPOT", "first").await;
    let variables = json!({ "userId": 5, "type": "HOTSPOT" });
    let hits = || app.metric("graphql_response_cache_hits_total");

    let first = get(&app, PLANS_OF_USER, Some(variables.clone()), None, &[]).await;
    assert_eq!(first.status(), 200);
    let etag = header(&first, "etag").expect("an ETag").to_owned();
    let first_body = first.bytes().await.unwrap();
    let hits_before = hits().await;

    let again = get(&app, PLANS_OF_USER, Some(variables.clone()), None, &[]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "etag"), Some(etag.as_str()));
    assert_eq!(header(&again, "cache-control"), Some("no-cache"));
    assert_eq!(again.bytes().await.unwrap(), first_body);
    assert_eq!(hits().await, hits_before + 1.0, "the second GET is a hit");

    let revalidated = get(
        &app,
        PLANS_OF_USER,
        Some(variables.clone()),
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(revalidated.status(), 304);
    assert_eq!(hits().await, hits_before + 2.0, "a revalidation is a hit");

    // The same request by POST shares the entry (and is answered with the same bytes).
    let (_, posted) = post_raw(&app, &body(PLANS_OF_USER, variables.clone())).await;
    assert_eq!(posted, first_body.to_vec());
    assert_eq!(
        hits().await,
        hits_before + 3.0,
        "POST finds the GET's entry"
    );

    app.create_ok(5, "HOTSPOT", "second").await;
    let after_write = get(
        &app,
        PLANS_OF_USER,
        Some(variables),
        None,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(
        after_write.status(),
        200,
        "a write changes the list and its ETag"
    );
    assert_ne!(header(&after_write, "etag"), Some(etag.as_str()));
    let plans = json_of(after_write).await;
    assert_no_errors(&plans);
    assert_eq!(plans["data"]["plans"].as_array().unwrap().len(), 2);
}
