//! The operational surface: health, metrics, GraphiQL, request ids.

use crate::backend_tests;
use crate::helpers::{Backend, spawn_app};

backend_tests!(health_metrics_and_playground_answer);

async fn health_metrics_and_playground_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get_status("/health/live").await, 200);
    assert_eq!(app.get_status("/health/ready").await, 200);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    for name in [
        "plan_cache_hits_total",
        "plan_cache_misses_total",
        "plan_cache_db_loads_total",
        "plan_cache_invalidations_total",
        "plan_cache_entries",
    ] {
        assert!(
            text.contains(&format!("\n{name} ")) || text.starts_with(&format!("{name} ")),
            "missing {name}:\n{text}"
        );
    }

    let page = app.client.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("graphiql"));

    let response = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("x-request-id"));
}
