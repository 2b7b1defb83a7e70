//! Cache behaviour seen from outside: warming, hits, single-flight, precise invalidation, TTL.
//! Counts come from `/metrics`, the same numbers an operator sees.

use std::sync::Arc;
use std::time::Duration;

use crate::backend_tests;
use crate::helpers::{AppOptions, Backend, TestDatabase, spawn_app, spawn_app_on, spawn_app_with};

backend_tests!(
    plans_present_at_start_are_served_without_a_miss,
    concurrent_cold_reads_make_one_database_load,
    a_write_leaves_other_tenants_warm,
    entries_expire_after_the_ttl,
    zero_ttl_reads_the_database_every_time,
    warming_respects_the_entry_bound,
);

async fn plans_present_at_start_are_served_without_a_miss(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    // A first run creates the schema; its plans are then in the database at the next start.
    let first = spawn_app_on(database.clone(), AppOptions::default()).await;
    first.create_ok(1, "HOTSPOT", "a").await;
    first.create_ok(2, "PPPOE", "b").await;
    first.stop().await;

    let app = spawn_app_on(database, AppOptions::default()).await;
    let loads_after_warm_up = app.metric("plan_cache_db_loads_total").await;
    assert_eq!(app.plan_ids(None, None).await.len(), 2);
    assert_eq!(app.plan_ids(Some(1), None).await.len(), 1);
    assert_eq!(app.plan_ids(None, Some("PPPOE")).await.len(), 1);
    assert_eq!(app.plan_ids(Some(2), Some("PPPOE")).await.len(), 1);
    assert_eq!(app.plan_ids(None, Some("STATIC")).await.len(), 0);
    assert_eq!(app.metric("plan_cache_misses_total").await, 0.0);
    assert_eq!(app.metric("plan_cache_hits_total").await, 5.0);
    assert_eq!(
        app.metric("plan_cache_db_loads_total").await,
        loads_after_warm_up
    );
    assert!(app.metric("plan_cache_entries").await >= 8.0);
}

async fn concurrent_cold_reads_make_one_database_load(backend: Backend) {
    // Without the change feed, so no notification of the insert below races the readers.
    let options = AppOptions {
        listen: false,
        ..AppOptions::default()
    };
    let app = Arc::new(spawn_app_with(backend, options).await);
    // User 42 had no plans at warm-up, so its key is cold.
    app.database.insert_behind_the_back(42, "hotspot").await;
    let loads_before = app.metric("plan_cache_db_loads_total").await;

    let readers: Vec<_> = (0..64)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.plan_ids(Some(42), None).await })
        })
        .collect();
    for reader in readers {
        assert_eq!(reader.await.unwrap().len(), 1);
    }
    assert_eq!(
        app.metric("plan_cache_db_loads_total").await - loads_before,
        1.0,
        "64 concurrent misses of one key must cost one database query"
    );
    // Readers that came after the first response was stored were answered by the response cache
    // and never asked the plan cache.
    assert_eq!(
        app.metric("plan_cache_misses_total").await
            + app.metric("plan_cache_hits_total").await
            + app.metric("graphql_response_cache_hits_total").await,
        64.0
    );
}

/// Keys a write of user 1's HOTSPOT plan does not touch.
const OTHER_KEYS: [(Option<i32>, Option<&str>); 4] = [
    (Some(2), None),
    (Some(2), Some("PPPOE")),
    (None, Some("PPPOE")),
    (None, Some("STATIC")),
];

async fn a_write_leaves_other_tenants_warm(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_ok(1, "HOTSPOT", "one").await;
    app.create_ok(2, "PPPOE", "two").await;
    // On PostgreSQL each write is also announced by the change feed, which drops the same four
    // keys again when its notification arrives: let those of the writes so far land first.
    let feed = backend == Backend::Postgres;
    if feed {
        app.wait_for_notifications(2).await;
    }
    for (user, kind) in OTHER_KEYS {
        app.plan_ids(user, kind).await;
    }
    let invalidations_before = app.metric("plan_cache_invalidations_total").await;
    app.create_ok(1, "HOTSPOT", "three").await;
    if feed {
        app.wait_for_notifications(3).await;
    }
    // Exactly its four keys (once by the write, once more by its notification).
    let invalidated = app.metric("plan_cache_invalidations_total").await - invalidations_before;
    let expected = if feed { 8.0 } else { 4.0 };
    assert_eq!(
        invalidated, expected,
        "a write invalidates exactly its four keys"
    );

    let misses_before = app.metric("plan_cache_misses_total").await;
    for (user, kind) in OTHER_KEYS {
        app.plan_ids(user, kind).await;
    }
    assert_eq!(
        app.metric("plan_cache_misses_total").await,
        misses_before,
        "other keys stay warm"
    );
    app.plan_ids(Some(1), None).await;
    assert_eq!(
        app.metric("plan_cache_misses_total").await,
        misses_before + 1.0
    );
}

async fn entries_expire_after_the_ttl(backend: Backend) {
    let app = spawn_app_with(
        backend,
        AppOptions {
            ttl_seconds: 1,
            listen: false,
            ..AppOptions::default()
        },
    )
    .await;
    app.create_ok(3, "STATIC", "cached").await;
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 1);
    app.database.insert_behind_the_back(3, "static").await;
    // Cached: the change made behind the server's back is not seen yet...
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // ...and is once the entry has expired.
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 2);
}

async fn zero_ttl_reads_the_database_every_time(backend: Backend) {
    let app = spawn_app_with(backend, AppOptions::uncached()).await;
    app.create_ok(3, "STATIC", "x").await;
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 1);
    app.database.insert_behind_the_back(3, "static").await;
    assert_eq!(app.plan_ids(Some(3), None).await.len(), 2);
    assert_eq!(app.metric("plan_cache_hits_total").await, 0.0);
    assert_eq!(app.metric("plan_cache_db_loads_total").await, 2.0);
    assert_eq!(app.metric("plan_cache_entries").await, 0.0);
}

async fn warming_respects_the_entry_bound(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    let first = spawn_app_on(database.clone(), AppOptions::default()).await;
    for user in 1..=20 {
        first.create_ok(user, "HOTSPOT", "p").await;
    }
    first.stop().await;
    let app = spawn_app_on(
        database,
        AppOptions {
            max_entries: 10,
            ..AppOptions::default()
        },
    )
    .await;
    assert!(app.metric("plan_cache_entries").await <= 10.0);
    // The most general keys were kept: these are hits.
    assert_eq!(app.plan_ids(None, None).await.len(), 20);
    assert_eq!(app.plan_ids(None, Some("HOTSPOT")).await.len(), 20);
    assert_eq!(app.metric("plan_cache_misses_total").await, 0.0);
}
