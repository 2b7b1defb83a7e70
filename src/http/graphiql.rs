//! The GraphiQL playground, self-hosted: the page and every script and style it loads are
//! embedded in the binary (see `assets/README.md`), so it works without a CDN.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::protocol::caching;

/// Where [`asset`] is routed; the page refers to its files by these paths.
pub const ASSETS_PATH: &str = "/graphql/assets/{name}";

const PAGE: &str = include_str!("assets/graphiql.html");

/// Scripts and styles come only from this server; the page's own fetches go only to it.
/// (`'unsafe-inline'` styles: GraphiQL's editors set inline styles.)
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A year: the vendored files carry their version in their name, so a name never changes content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Our own files change between releases under the same name: browsers revalidate them.
    cache_control: &'static str,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        name: "graphiql-3.8.3.min.js",
        content_type: JS,
        body: include_bytes!("assets/graphiql-3.8.3.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        name: "graphiql-3.8.3.min.css",
        content_type: CSS,
        body: include_bytes!("assets/graphiql-3.8.3.min.css"),
        cache_control: IMMUTABLE,
    },
    Asset {
        name: "react-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("assets/react-18.3.1.production.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        name: "react-dom-18.3.1.production.min.js",
        content_type: JS,
        body: include_bytes!("assets/react-dom-18.3.1.production.min.js"),
        cache_control: IMMUTABLE,
    },
    Asset {
        name: "graphiql-start.js",
        content_type: JS,
        body: include_bytes!("assets/graphiql-start.js"),
        cache_control: "no-cache",
    },
    Asset {
        name: "graphiql-page.css",
        content_type: CSS,
        body: include_bytes!("assets/graphiql-page.css"),
        cache_control: "no-cache",
    },
];

/// `GET /graphql` from a browser: the playground page.
pub(crate) fn page() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // `GET /graphql` answers this page or JSON depending on Accept: keep caches apart.
            (header::VARY, HeaderValue::from_static("accept")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /graphql/assets/{name}`: a file the page loads.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, caching::no_store())],
            "no such asset",
        )
            .into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, asset.cache_control),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.body,
    )
        .into_response()
}

/// Every path the page refers to, for the test below.
#[cfg(test)]
fn page_references() -> Vec<&'static str> {
    PAGE.split('"')
        .filter(|part| part.starts_with("/graphql/assets/"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_embedded_files() {
        let references = page_references();
        assert_eq!(references.len(), ASSETS.len(), "{references:?}");
        for reference in references {
            let name = reference.trim_start_matches("/graphql/assets/");
            assert!(
                ASSETS.iter().any(|asset| asset.name == name),
                "the page loads {reference}, which is not embedded"
            );
        }
        assert!(
            !PAGE.contains("://"),
            "the page must not load anything from elsewhere"
        );
    }
}
