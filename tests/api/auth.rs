//! Mutations need `Authorization: Bearer <ADMIN_TOKEN>`; without it nothing is written.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{json_of, post};
use crate::helpers::{Backend, TOKEN, assert_no_errors, error_code, spawn_app};

backend_tests!(mutations_without_the_token_are_refused_and_write_nothing);

async fn mutations_without_the_token_are_refused_and_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_ok(1, "HOTSPOT", "kept").await;
    let create = "mutation { createPlan(input: {userId: 1, name: \"n\", connectionType: HOTSPOT, priceCents: 1, durationMinutes: 1}) { id } }";
    let delete = format!("mutation {{ deletePlan(id: \"{id}\") }}");

    let wrong_token = format!("{TOKEN}x");
    for token in [None, Some("wrong"), Some(wrong_token.as_str()), Some("")] {
        for query in [create, delete.as_str()] {
            let (status, body) = app.post_graphql_as(token, query, json!({})).await;
            assert_eq!(status, 200);
            assert_eq!(
                error_code(&body),
                "UNAUTHENTICATED",
                "token {token:?}: {body}"
            );
            assert!(body["data"].is_null());
        }
    }
    // A non-bearer scheme is not accepted either.
    let basic = format!("Basic {TOKEN}");
    let response = post(
        &app,
        json!({ "query": create }),
        &[("authorization", &basic)],
    )
    .await;
    let body = json_of(response).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    assert_eq!(app.plan_ids(None, None).await, vec![id]);
    // Queries need no token.
    assert_no_errors(&app.query("{ plans { id } }").await);
}
