//! GraphiQL, for people exploring the API: served with its own assets, no CDN.

use crate::backend_tests;
use crate::helpers::http::{content_type, get_path, header};
use crate::helpers::{Backend, assert_no_errors, spawn_app};

backend_tests!(
    graphiql_is_served_with_its_own_assets,
    graphiql_default_query_shows_a_page
);

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

/// The query GraphiQL opens with (in `graphiql-start.js`) runs as it is, without a token, and
/// shows a page of `plansConnection`.
async fn graphiql_default_query_shows_a_page(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..12 {
        app.create_ok(1, "HOTSPOT", &format!("p{i}")).await;
    }
    let script = get_path(&app, "/graphql/assets/graphiql-start.js", &[])
        .await
        .text()
        .await
        .unwrap();
    let start = script.find("var DEFAULT_QUERY = [").expect("DEFAULT_QUERY");
    let end = start + script[start..].find("].join").expect("its end");
    // One single-quoted JavaScript string per line.
    let query: String = script[start..end]
        .lines()
        .skip(1)
        .filter_map(|line| {
            let line = line.trim().strip_suffix(',')?;
            Some(line.strip_prefix('\'')?.strip_suffix('\'')?.to_owned() + "\n")
        })
        .collect();
    assert!(query.contains("plansConnection"), "{query}");
    let body = app.query(&query).await;
    assert_no_errors(&body);
    let page = &body["data"]["plansConnection"];
    assert_eq!(page["totalCount"], 12);
    assert_eq!(page["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
}
