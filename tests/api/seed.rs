//! `plans-api seed-demo` and the bulk import behind it.

use std::sync::Arc;

use plans_api::Config;
use plans_api::app::{self, SeedOutcome};
use plans_api::plans::PlanError;

use crate::backend_tests;
use crate::helpers::{AppOptions, Backend, TestDatabase, spawn_app_on};

backend_tests!(
    seeding_loads_the_demo_set_once,
    an_invalid_import_writes_nothing
);

fn config(database: &TestDatabase) -> Config {
    let mut config = Config::default();
    config.database.database_url = database.url.clone();
    config
}

async fn seeding_loads_the_demo_set_once(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    let seeded = app::seed_demo(&config(&database), 30, 10, false)
        .await
        .unwrap();
    assert_eq!(seeded, SeedOutcome::Seeded(300));
    // Re-running on a seeded table adds nothing...
    let again = app::seed_demo(&config(&database), 30, 10, false)
        .await
        .unwrap();
    assert_eq!(again, SeedOutcome::AlreadySeeded(300));

    let app = spawn_app_on(database.clone(), AppOptions::default()).await;
    assert_eq!(app.plan_ids(None, None).await.len(), 300);
    assert_eq!(app.plan_ids(Some(7), None).await.len(), 10);
    assert_eq!(app.plan_ids(Some(7), Some("HOTSPOT")).await.len(), 6);
    assert_eq!(app.plan_ids(None, Some("STATIC")).await.len(), 30);
    app.stop().await;

    // ...unless forced.
    let forced = app::seed_demo(&config(&database), 2, 5, true)
        .await
        .unwrap();
    assert_eq!(forced, SeedOutcome::Seeded(10));
}

async fn an_invalid_import_writes_nothing(backend: Backend) {
    let database = Arc::new(TestDatabase::new(backend).await);
    let app = spawn_app_on(database.clone(), AppOptions::default()).await;
    let mut plans = plans_api::plans::demo_plans(3, 4);
    plans[7].duration_minutes = 0;
    let err = app.plans.import(plans).await.unwrap_err();
    match err {
        PlanError::InvalidInput(invalid) => {
            assert_eq!(invalid.field, "input.durationMinutes");
            assert!(
                invalid.message.starts_with("plan #7:"),
                "{}",
                invalid.message
            );
        }
        other => panic!("expected invalid input, got {other}"),
    }
    assert_eq!(app.plans.count().await.unwrap(), 0);
    assert_eq!(app.plan_ids(None, None).await.len(), 0);

    // A valid import is visible at once: the cache was dropped.
    assert_eq!(
        app.plans
            .import(plans_api::plans::demo_plans(3, 4))
            .await
            .unwrap(),
        12
    );
    assert_eq!(app.plan_ids(None, None).await.len(), 12);
}
