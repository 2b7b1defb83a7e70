//! Limits that keep one request from hurting the server: query shape, body size, time, the pool.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend_tests;
use crate::helpers::http::{get_path, post, post_body};
use crate::helpers::{
    AppOptions, Backend, TOKEN, assert_clean_internal_error, assert_coded_error, assert_no_errors,
    error_code, eventually, spawn_app, spawn_app_with,
};

backend_tests!(
    query_shape_limits_are_enforced_before_execution,
    introspection_and_graphiql_can_be_turned_off,
    oversized_bodies_get_413,
    a_slow_request_gets_408_and_its_write_still_invalidates,
    a_busy_pool_fails_fast_and_cleanly,
);

async fn query_shape_limits_are_enforced_before_execution(backend: Backend) {
    let options = AppOptions::tweaked(|config| {
        config.graphql.graphql_max_depth = 3;
        config.graphql.graphql_max_complexity = 5;
    });
    let app = spawn_app_with(backend, options).await;
    assert_no_errors(&app.query("{ plans { id name } }").await);
    // Depth 4 > 3.
    let body = app
        .query("{ __schema { types { fields { name } } } }")
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    // Complexity 6 > 5.
    let body = app
        .query("{ plans { id userId name connectionType priceCents } }")
        .await;
    assert_eq!(error_code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");

    let app = spawn_app(backend).await; // defaults: 10 root fields, 20 aliases
    let roots: String = (0..11).map(|i| format!("p{i}: plans {{ id }} ")).collect();
    let body = app.query(&format!("{{ {roots} }}")).await;
    assert_refused_for(&body, "root fields");
    let aliases: String = (0..21).map(|i| format!("a{i}: id ")).collect();
    let body = app.query(&format!("{{ plans {{ {aliases} }} }}")).await;
    assert_refused_for(&body, "aliases");
    assert!(body["data"].is_null());
}

/// Asserts a query was refused by validation, with a message that names `limit`.
fn assert_refused_for(body: &Value, limit: &str) {
    assert_eq!(error_code(body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(limit),
        "{body}"
    );
}

async fn introspection_and_graphiql_can_be_turned_off(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.query("{ __schema { queryType { name } } }").await;
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");

    let options = AppOptions::tweaked(|config| {
        config.graphql.graphql_introspection = false;
        config.graphql.graphiql = false;
    });
    let app = spawn_app_with(backend, options).await;
    let body = app.query("{ __schema { queryType { name } } }").await;
    assert_coded_error(&body);
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let page = get_path(&app, "/graphql", &[("accept", "text/html")]).await;
    assert_eq!(page.status(), 404);
    // Ordinary queries still work.
    assert_no_errors(&app.query("{ plans { id } }").await);
}

async fn oversized_bodies_get_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let padding = " ".repeat(70 * 1024);
    let big = json!({ "query": format!("{{ plans {{ id }} {padding}}}") }).to_string();
    let response = post_body(&app, Some("application/json"), big.clone(), &[]).await;
    assert_eq!(response.status(), 413);

    // Without a Content-Length (chunked), the limit cuts the stream instead.
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        app.addr
    )
    .into_bytes();
    for chunk in big.as_bytes().chunks(8 * 1024) {
        request.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend(chunk);
        request.extend(b"\r\n");
    }
    request.extend(b"0\r\n\r\n");
    // The server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(&request).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let head = String::from_utf8_lossy(&response);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    assert_eq!(app.get_status("/health/ready").await, 200);
}

/// A write blocked past the request timeout answers 408; the write itself runs to completion
/// (commit *and* invalidation), so when it lands the cache shows it.
async fn a_slow_request_gets_408_and_its_write_still_invalidates(backend: Backend) {
    let options = AppOptions::tweaked(|config| {
        config.http.request_timeout = 1;
        config.database.database_timeout = 5;
    });
    let app = spawn_app_with(backend, options).await;
    assert!(app.plan_ids(Some(9), None).await.is_empty()); // cached: empty

    let (db, lock) = app.database.lock_plans().await;
    let started = Instant::now();
    let bearer = format!("Bearer {TOKEN}");
    let late = json!({ "query": "mutation { createPlan(input: {userId: 9, name: \"late\", connectionType: STATIC, priceCents: 5, durationMinutes: 5}) { id } }" });
    let response = post(&app, late, &[("authorization", &bearer)]).await;
    assert_eq!(response.status(), 408);
    assert!(started.elapsed() < Duration::from_secs(3));
    lock.commit().await.unwrap();
    db.close().await.ok();

    // The abandoned write now commits and invalidates: the cached empty list must not survive.
    eventually(
        "the write that timed out to become visible",
        Duration::from_secs(10),
        Duration::from_millis(50),
        async || !app.plan_ids(Some(9), None).await.is_empty(),
    )
    .await;
}

/// With one connection held by a write blocked on a lock, another request waits at most
/// `DATABASE_TIMEOUT` for a connection and fails cleanly; then everything recovers. (SQLite gives
/// up on the lock itself after `DATABASE_TIMEOUT`, so there the blocked write is what fails.)
async fn a_busy_pool_fails_fast_and_cleanly(backend: Backend) {
    let options = AppOptions {
        listen: false,
        tweak: |config| {
            config.database.database_max_connections = 1;
            config.database.database_timeout = 1;
        },
        ..AppOptions::uncached()
    };
    let app = std::sync::Arc::new(spawn_app_with(backend, options).await);
    let (db, lock) = app.database.lock_plans().await;
    let started = Instant::now();
    let writer = tokio::spawn({
        let app = app.clone();
        async move {
            app.create_plan(json!({"userId": 1, "name": "n", "connectionType": "HOTSPOT", "priceCents": 1, "durationMinutes": 1}))
                .await
        }
    });
    let refused = if backend == Backend::Postgres {
        tokio::time::sleep(Duration::from_millis(200)).await; // the write holds the connection
        app.query("{ plans { id } }").await
    } else {
        writer.await.unwrap()
    };
    assert_clean_internal_error(&refused);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );

    drop(lock);
    db.close().await.ok();
    let body = app.query("{ plans { id } }").await;
    assert!(body.get("errors").is_none(), "recovered: {body}");
}
