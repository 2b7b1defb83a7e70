//! Bad input gets a clear, coded error and changes nothing; failures reveal no internals.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::http::{json_of, post_body};
use crate::helpers::{
    AppOptions, Backend, TOKEN, assert_clean_internal_error, assert_coded_error, error_code,
    spawn_app, spawn_app_with,
};

backend_tests!(
    every_invalid_input_is_refused_and_writes_nothing,
    malformed_ids_are_bad_user_input,
    malformed_requests_get_coded_errors,
    database_failures_are_internal_and_reveal_nothing,
);

fn valid_input() -> Value {
    json!({
        "userId": 1,
        "name": "1 Hour Unlimited",
        "connectionType": "HOTSPOT",
        "priceCents": 1000,
        "durationMinutes": 60,
    })
}

async fn every_invalid_input_is_refused_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "HOTSPOT", "existing").await;
    let rows_before = app.database.ids_in_table().await.len();
    let cases: [(&str, Value, &str); 9] = [
        ("name", json!(""), "input.name"),
        ("name", json!("   \t "), "input.name"),
        ("name", json!("x".repeat(101)), "input.name"),
        ("priceCents", json!(-1), "input.priceCents"),
        ("durationMinutes", json!(0), "input.durationMinutes"),
        ("durationMinutes", json!(527_041), "input.durationMinutes"),
        ("durationMinutes", json!(-5), "input.durationMinutes"),
        ("userId", json!(0), "input.userId"),
        ("userId", json!(-7), "input.userId"),
    ];
    for (field, value, reported) in cases {
        let mut input = valid_input();
        input[field] = value.clone();
        let body = app.create_plan(input).await;
        assert_eq!(
            error_code(&body),
            "BAD_USER_INPUT",
            "{field}={value}: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], reported);
        assert!(body["data"].is_null(), "{body}");
    }
    // Filters are checked too.
    let body = app.graphql("{ plans(userId: 0) { id } }", json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");

    assert_eq!(
        app.database.ids_in_table().await.len(),
        rows_before,
        "a refused request wrote a row"
    );
    assert_eq!(app.plan_ids(None, None).await.len(), 1);
}

async fn malformed_ids_are_bad_user_input(backend: Backend) {
    let app = spawn_app(backend).await;
    for id in ["abc", "0", "-1", "1.5", "99999999999999", ""] {
        let body = app
            .graphql(
                "query($id: ID!) { plan(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "plan({id:?})");
        let body = app.delete_plan(id).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "deletePlan({id:?})");
    }
}

async fn malformed_requests_get_coded_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    // Not GraphQL.
    let body = app.query("{ plans { id ").await;
    assert_eq!(error_code(&body), "GRAPHQL_PARSE_FAILED");
    // Unknown field.
    let body = app.query("{ plans { price } }").await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    // Wrong variable type, and an enum value that does not exist.
    let (_, body) = app
        .post_graphql_as(
            None,
            "query($u: Int) { plans(userId: $u) { id } }",
            json!({ "u": "one" }),
        )
        .await;
    assert_coded_error(&body);
    let body = app.query("{ plans(connectionType: WIFI) { id } }").await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED");
    // Not JSON at all.
    let response = post_body(&app, Some("application/json"), "{not json", &[]).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json_of(response).await), "BAD_REQUEST");
    // The server is still fine.
    assert_eq!(app.get_status("/health/ready").await, 200);
}

/// The table disappears behind the server's back: every operation fails cleanly, the message
/// names no SQL, table, host or credential, and the server keeps answering.
async fn database_failures_are_internal_and_reveal_nothing(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::uncached()).await;
    app.create_ok(1, "HOTSPOT", "x").await;
    app.database.execute("DROP TABLE plans").await;

    let operations = [
        ("{ plans { id } }", json!({})),
        ("{ plan(id: \"1\") { id } }", json!({})),
        (
            "mutation($id: ID!) { deletePlan(id: $id) }",
            json!({ "id": "1" }),
        ),
        (
            "mutation($input: CreatePlanInput!) { createPlan(input: $input) { id } }",
            json!({ "input": valid_input() }),
        ),
        (
            "mutation { updatePlan(id: \"1\", input: { priceCents: 5 }) { id } }",
            json!({}),
        ),
        ("{ plansConnection(first: 5) { totalCount } }", json!({})),
    ];
    for (query, variables) in operations {
        let (status, body) = app.post_graphql_as(Some(TOKEN), query, variables).await;
        assert_eq!(status, 200);
        assert_clean_internal_error(&body);
    }
    assert_eq!(app.get_status("/health/live").await, 200);
}
