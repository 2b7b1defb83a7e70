//! The routes. `/graphql` picks its transport first: a WebSocket upgrade, an SSE subscription
//! (`Accept: text/event-stream`), or plain GraphQL over HTTP; the others are GraphiQL's assets,
//! the health checks and the metrics.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::get;

use super::endpoint;
use super::middleware::request_metrics::{GRAPHQL, HEALTH_LIVE, HEALTH_READY, METRICS};
use super::protocol::negotiate::{self, Transport};
use super::state::{AppState, SharedState};
use super::subscriptions::{sse, websocket};
use super::{graphiql, health, metrics};

/// Every route, with the state its handlers share.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            GRAPHQL,
            get(graphql_get)
                .post(graphql_post)
                .fallback(endpoint::other_method),
        )
        .route(graphiql::ASSETS_PATH, get(graphiql::asset))
        .route(HEALTH_LIVE, get(health::live))
        .route(HEALTH_READY, get(health::ready))
        .route(METRICS, get(metrics::scrape))
        .with_state(Arc::new(state))
}

/// `GET /graphql`: a WebSocket upgrade, an SSE subscription, or plain GraphQL over HTTP.
async fn graphql_get(state: State<SharedState>, request: Request) -> Response {
    if websocket::is_websocket_upgrade(request.headers()) {
        return websocket::websocket(state, request).await;
    }
    match negotiate::transport(request.headers()) {
        Transport::EventStream => sse::get(state, request).await,
        Transport::Http(media) => endpoint::get(state, request, media).await,
    }
}

/// `POST /graphql`: an SSE subscription, or plain GraphQL over HTTP.
async fn graphql_post(state: State<SharedState>, request: Request) -> Response {
    match negotiate::transport(request.headers()) {
        Transport::EventStream => sse::post(state, request).await,
        Transport::Http(media) => endpoint::post(state, request, media).await,
    }
}
