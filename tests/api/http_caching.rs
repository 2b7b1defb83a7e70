//! HTTP caching of GraphQL answers: Cache-Control by the configuration, ETag and 304.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{GRAPHQL_RESPONSE_JSON, PLANS, get, header, json_of, post, varies_on};
use crate::helpers::{AppOptions, Backend, error_code, spawn_app, spawn_app_with};

backend_tests!(
    cache_control_follows_the_configuration,
    etag_revalidation_sees_every_write,
);

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
