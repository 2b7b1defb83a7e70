//! The contract's queries and mutations: CRUD, every filter combination, ordering, shapes.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, assert_no_errors, spawn_app};

backend_tests!(
    create_returns_the_plan_as_stored,
    plans_filters_combine_and_are_ordered_by_id,
    plan_by_id_finds_existing_and_null_for_missing,
    delete_reports_whether_a_plan_was_deleted,
    reads_reflect_writes_for_all_four_key_shapes,
);

async fn create_returns_the_plan_as_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app
        .create_plan(json!({
            "userId": 7,
            "name": "  1 Hour Unlimited  ",
            "connectionType": "HOTSPOT",
            "priceCents": 1000,
            "durationMinutes": 60,
        }))
        .await;
    assert_no_errors(&body);
    let created = &body["data"]["createPlan"];
    assert_eq!(created["userId"], 7);
    assert_eq!(created["name"], "1 Hour Unlimited", "names are trimmed");
    assert_eq!(created["connectionType"], "HOTSPOT");
    assert_eq!(created["priceCents"], 1000);
    assert_eq!(created["durationMinutes"], 60);
    let created_at = created["createdAt"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(created_at).expect("RFC 3339");
    assert_eq!(parsed.offset().local_minus_utc(), 0, "UTC: {created_at}");

    // Reading it back (from the database, after invalidation) gives the same plan.
    let id = created["id"].as_str().unwrap();
    let read = app
        .graphql(
            "query($id: ID!) { plan(id: $id) { id userId name connectionType priceCents durationMinutes createdAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_no_errors(&read);
    assert_eq!(&read["data"]["plan"], created);
}

async fn plans_filters_combine_and_are_ordered_by_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for (user, kind) in [
        (1, "HOTSPOT"),
        (2, "PPPOE"),
        (1, "STATIC"),
        (1, "HOTSPOT"),
        (2, "HOTSPOT"),
        (3, "STATIC"),
    ] {
        ids.push(
            app.create_ok(user, kind, &format!("{kind} for {user}"))
                .await,
        );
    }
    let pick =
        |indexes: &[usize]| -> Vec<String> { indexes.iter().map(|&i| ids[i].clone()).collect() };

    assert_eq!(app.plan_ids(None, None).await, pick(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(app.plan_ids(Some(1), None).await, pick(&[0, 2, 3]));
    assert_eq!(app.plan_ids(Some(2), None).await, pick(&[1, 4]));
    assert_eq!(app.plan_ids(None, Some("HOTSPOT")).await, pick(&[0, 3, 4]));
    assert_eq!(app.plan_ids(None, Some("STATIC")).await, pick(&[2, 5]));
    assert_eq!(app.plan_ids(None, Some("PPPOE")).await, pick(&[1]));
    assert_eq!(app.plan_ids(Some(1), Some("HOTSPOT")).await, pick(&[0, 3]));
    assert_eq!(app.plan_ids(Some(1), Some("PPPOE")).await, pick(&[]));
    assert_eq!(app.plan_ids(Some(99), None).await, pick(&[]));
    assert_eq!(app.plan_ids(Some(99), Some("STATIC")).await, pick(&[]));

    // Ids are numeric and ascending.
    let numeric: Vec<i64> = ids.iter().map(|id| id.parse().unwrap()).collect();
    assert!(numeric.windows(2).all(|pair| pair[0] < pair[1]));
}

async fn plan_by_id_finds_existing_and_null_for_missing(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_ok(4, "PPPOE", "Monthly").await;
    let body = app
        .graphql(
            "query($id: ID!) { plan(id: $id) { id name } }",
            json!({ "id": id }),
        )
        .await;
    assert_no_errors(&body);
    assert_eq!(body["data"]["plan"]["name"], "Monthly");

    let body = app
        .graphql("{ plan(id: \"999999\") { id } }", json!({}))
        .await;
    assert_no_errors(&body);
    assert!(body["data"]["plan"].is_null());
}

async fn delete_reports_whether_a_plan_was_deleted(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = app.create_ok(5, "STATIC", "Static IP").await;
    let first = app.delete_plan(&id).await;
    assert_no_errors(&first);
    assert_eq!(first["data"]["deletePlan"], true);
    let second = app.delete_plan(&id).await;
    assert_no_errors(&second);
    assert_eq!(second["data"]["deletePlan"], false);
    assert!(app.plan_ids(Some(5), None).await.is_empty());
}

/// Every key shape is cached before the write, and reflects it right after.
async fn reads_reflect_writes_for_all_four_key_shapes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "HOTSPOT", "seed").await;
    let shapes: [(Option<i32>, Option<&str>); 4] = [
        (None, None),
        (Some(1), None),
        (None, Some("HOTSPOT")),
        (Some(1), Some("HOTSPOT")),
    ];
    for (user, kind) in shapes {
        app.plan_ids(user, kind).await; // fill the key
    }
    let created = app.create_ok(1, "HOTSPOT", "new").await;
    for (user, kind) in shapes {
        assert!(
            app.plan_ids(user, kind).await.contains(&created),
            "{user:?}/{kind:?} misses the created plan"
        );
    }
    for (user, kind) in shapes {
        app.plan_ids(user, kind).await; // cached again, now with the plan
    }
    assert_no_errors(&app.delete_plan(&created).await);
    for (user, kind) in shapes {
        assert!(
            !app.plan_ids(user, kind).await.contains(&created),
            "{user:?}/{kind:?} still serves the deleted plan"
        );
    }
    let body = app
        .graphql(
            "query($id: ID!) { plan(id: $id) { id } }",
            json!({ "id": created }),
        )
        .await;
    assert!(
        body["data"]["plan"].is_null(),
        "plan(id) serves a deleted plan"
    );
}
