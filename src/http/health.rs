//! `GET /health/live` and `GET /health/ready`: liveness, and readiness (started, database up,
//! not shutting down).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;

use super::state::{AppState, SharedState};

/// `GET /health/live`: the process is up.
pub(crate) async fn live() -> &'static str {
    "ok"
}

/// `GET /health/ready`: start-up finished (migrated, cache warmed), shutdown has not begun, and
/// the database answers. (The listener is bound only after start-up, so before it nothing
/// answers at all.)
pub(crate) async fn ready(State(state): State<SharedState>) -> (StatusCode, &'static str) {
    readiness(&state).await
}

/// The readiness check; sets `http_ready` to its answer (so the gauge says what the load
/// balancer's last probe was told).
async fn readiness(state: &AppState) -> (StatusCode, &'static str) {
    let answer = if state.accepting_requests.load(Ordering::SeqCst) {
        let database_up =
            tokio::time::timeout(state.database_timeout, state.probes.database_is_up()).await;
        match database_up {
            Ok(true) => (StatusCode::OK, "ready"),
            _ => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
        }
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    };
    state.ready.set(i64::from(answer.0 == StatusCode::OK));
    answer
}
