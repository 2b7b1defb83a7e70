//! CORS for the configured origins (`CORS_ALLOWED_ORIGINS`); none at all by default, so browsers
//! refuse cross-origin calls.

use std::time::Duration;

use axum::http::{HeaderName, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::edge::REQUEST_ID;
use crate::http::consistency;
use crate::http::state::CorsOrigins;

/// Seconds a browser may reuse a CORS preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// Request headers every CORS preflight allows: the content type, a credential, a consistency
/// token, and Apollo Client's client-awareness headers.
const CORS_ALLOWED_HEADERS: [HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::AUTHORIZATION,
    consistency::HEADER,
    HeaderName::from_static("apollographql-client-name"),
    HeaderName::from_static("apollographql-client-version"),
];

/// CORS for the configured origins; none at all (browsers refuse cross-origin calls) by default.
/// `extra_headers` are allowed in requests besides [`CORS_ALLOWED_HEADERS`].
pub(crate) fn cors(origins: &CorsOrigins, extra_headers: &[HeaderName]) -> Option<CorsLayer> {
    let allow_origin = match origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(origins) => AllowOrigin::list(origins.iter().cloned()),
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(
                CORS_ALLOWED_HEADERS
                    .into_iter()
                    .chain(extra_headers.iter().cloned())
                    .collect::<Vec<_>>(),
            )
            .expose_headers([REQUEST_ID, header::RETRY_AFTER, consistency::HEADER])
            .max_age(CORS_MAX_AGE),
    )
}
