//! CORS, for a browser frontend on another origin: closed by default, open to listed origins.

use reqwest::{Method, Response};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::http::{PLANS, header, post, varies_on};
use crate::helpers::{AppOptions, Backend, TestApp, spawn_app, spawn_app_with};

backend_tests!(cors_is_closed_by_default_and_opens_to_listed_origins);

async fn cors_is_closed_by_default_and_opens_to_listed_origins(backend: Backend) {
    const PORTAL: &str = "https://portal.example.com";
    let preflight = |app: &TestApp, origin: &str| {
        app.client
            .request(Method::OPTIONS, app.url("/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };

    // Closed by default: no CORS headers, so browsers block the call.
    let app = spawn_app(backend).await;
    let response = preflight(&app, PORTAL).await.unwrap();
    assert!(header(&response, "access-control-allow-origin").is_none());
    let response = from(&app, PORTAL).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "access-control-allow-origin").is_none());
    drop(app);

    // Listed origins only.
    let options = AppOptions::cors_list(&[PORTAL, "http://localhost:5173"]);
    let app = spawn_app_with(backend, options).await;
    let response = preflight(&app, PORTAL).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(PORTAL)
    );
    let methods = header(&response, "access-control-allow-methods").unwrap_or_default();
    for method in ["GET", "POST"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = header(&response, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["authorization", "content-type"] {
        assert!(allowed.contains(name), "{allowed}");
    }
    assert!(header(&response, "access-control-max-age").is_some());
    let response = from(&app, PORTAL).await;
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(PORTAL)
    );
    assert_eq!(
        header(&response, "access-control-expose-headers"),
        // Retry-After, so a browser client can honour a 429's wait; Plans-Consistency, so it can
        // read its own writes on any replica.
        Some("x-request-id,retry-after,plans-consistency")
    );
    assert!(varies_on(&response, "origin"));
    let response = from(&app, "http://localhost:5173").await;
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    for refused in [
        "https://evil.example.com",
        "http://portal.example.com",
        "https://portal.example.com:8443",
    ] {
        let response = preflight(&app, refused).await.unwrap();
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{refused}"
        );
        let response = from(&app, refused).await;
        assert!(
            header(&response, "access-control-allow-origin").is_none(),
            "{refused}"
        );
    }
    drop(app);

    // `*`: any origin.
    let app = spawn_app_with(backend, AppOptions::cors_any()).await;
    let response = from(&app, "https://anyone.example").await;
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
}

/// A query from a page on `origin`.
async fn from(app: &TestApp, origin: &str) -> Response {
    post(app, json!({ "query": PLANS }), &[("origin", origin)]).await
}
