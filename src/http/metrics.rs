//! `GET /metrics`: the Prometheus registry in text format, gauges refreshed first.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, TextEncoder};

use super::state::SharedState;

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn scrape(State(state): State<SharedState>) -> Response {
    state.probes.refresh_metrics().await;
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    match encoder.encode(&state.metrics.gather(), &mut body) {
        Ok(()) => (
            [(header::CONTENT_TYPE, encoder.format_type().to_owned())],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not encode metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
