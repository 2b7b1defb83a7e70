//! The operational surface: health, metrics, GraphiQL, request ids.

use crate::backend_tests;
use crate::helpers::http::{content_type, get_path, header};
use crate::helpers::{Backend, spawn_app};

backend_tests!(health_metrics_and_playground_answer);

async fn health_metrics_and_playground_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get_status("/health/live").await, 200);
    assert_eq!(app.get_status("/health/ready").await, 200);

    let metrics = get_path(&app, "/metrics", &[]).await;
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

    let page = get_path(&app, "/graphql", &[]).await;
    assert_eq!(page.status(), 200);
    assert!(content_type(&page).starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.to_lowercase().contains("graphiql"));

    let response = get_path(&app, "/health/live", &[]).await;
    assert!(header(&response, "x-request-id").is_some());
}
