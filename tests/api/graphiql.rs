//! GraphiQL, for people exploring the API: served with its own assets, no CDN.

use crate::backend_tests;
use crate::helpers::http::{content_type, get_path, header};
use crate::helpers::{Backend, spawn_app};

backend_tests!(graphiql_is_served_with_its_own_assets);

async fn graphiql_is_served_with_its_own_assets(backend: Backend) {
    let app = spawn_app(backend).await;
    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let page = get_path(&app, "/graphql", &[("accept", browser_accept)]).await;
    assert_eq!(page.status(), 200);
    assert_eq!(content_type(&page), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy")
        .expect("CSP")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("unpkg") && !html.contains("cdn"),
        "loads from a CDN"
    );

    let references: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect();
    assert!(references.len() >= 5, "{references:?}");
    for path in references {
        let response = get_path(&app, path, &[]).await;
        assert_eq!(response.status(), 200, "{path}");
        let expected = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(content_type(&response), expected, "{path}");
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
        let cache = header(&response, "cache-control")
            .unwrap_or_default()
            .to_owned();
        if path.contains("-3.8.3.") || path.contains("-18.3.1.") {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
        assert!(!response.bytes().await.unwrap().is_empty(), "{path}");
    }
    assert_eq!(app.get_status("/graphql/assets/nope.js").await, 404);
    assert_eq!(app.get_status("/graphql/assets/..%2FCargo.toml").await, 404);
}
