//! What every request to `/graphql` shares once its document is known, whether it came by GET,
//! by POST or as an item of a batch: the response cache asked (by the operation's key), the
//! operation run, its answer encoded and, when it may be, stored; and the counting and tracing
//! of hits and misses.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;

use super::params::{Operation, Params};
use super::persisted::{Refusal, Registration};
use crate::auth::Caller;
use crate::graphql::{self, ErrorCode};
use crate::http::protocol::negotiate::MediaType;
use crate::http::protocol::respond::{Delivery, Encoded, encode, send};
use crate::http::response_cache::{RawRequest, ResponseCache, ResponseKey, StoredResponse};
use crate::http::state::AppState;
use crate::plans::Freshness;

/// How a request (alone, or one of a batch) asks to be answered.
#[derive(Clone, Copy)]
pub(crate) struct Asked {
    pub media: MediaType,
    pub caller: Caller,
    /// Where its reads may come from (its consistency token's outcome).
    pub freshness: Freshness,
}

/// What [`answer`] gives.
pub(crate) enum Answer {
    /// The bytes to send: a refusal, a stored response (also given), or an executed response in
    /// which nothing was written.
    Ready(Encoded, Option<Arc<StoredResponse>>),
    /// A response in which a mutation succeeded: it gets a consistency token before it is
    /// encoded.
    Wrote(async_graphql::Response),
}

/// What a request's parameters resolved to before anything runs.
pub(crate) enum Prepared {
    /// Answered already: its document could not be resolved, or the response cache had it.
    Answered(Answer),
    /// To be run by [`run`].
    ToRun(Run),
}

/// An operation ready to run, with what storing its answer needs.
pub(crate) struct Run {
    request: async_graphql::Request,
    key: Option<ResponseKey>,
    registration: Option<Registration>,
}

impl Run {
    /// Whether the operation it would run is a mutation (GET refuses those before they run).
    pub(crate) fn selects_mutation(&mut self) -> bool {
        graphql::selects_mutation(&mut self.request)
    }
}

/// Resolves `params` (APQ, trusted documents) and asks the response cache. `raw` is the exact
/// bytes the request came as, when it came alone.
pub(crate) fn prepare(
    state: &AppState,
    asked: Asked,
    raw: Option<RawRequest<'_>>,
    params: Params,
) -> Prepared {
    let (operation, registration) = match params.resolve(&state.clients.persisted) {
        Ok(resolved) => resolved,
        Err(refusal) => {
            return Prepared::Answered(Answer::Ready(refused(state, asked.media, refusal), None));
        }
    };
    let cache = response_cache(state, asked.freshness);
    let key = cache.map(|_| operation.response_key());
    if let (Some(cache), Some(key)) = (cache, &key)
        && let Some(stored) = cache.get(key, raw)
    {
        trace_hit(state, &stored);
        // Stored responses are never mutations: the registration may be kept.
        register(state, registration);
        return Prepared::Answered(Answer::Ready(stored_encoded(&stored), Some(stored)));
    }
    if key.is_some() {
        trace_miss(state);
    }
    Prepared::ToRun(Run {
        request: request_of(operation, asked),
        key,
        registration,
    })
}

/// Runs what [`prepare`] left to run, and stores its answer when it may be.
pub(crate) async fn run(
    state: &AppState,
    media: MediaType,
    raw: Option<RawRequest<'_>>,
    run: Run,
) -> Answer {
    register(state, run.registration);
    let executed = state.api.execute(run.request).await;
    if executed.reads.wrote() {
        return Answer::Wrote(executed.response);
    }
    let encoded = encode(media, &executed.response);
    if let (Some(cache), Some(key)) = (state.responses.as_deref(), run.key) {
        cache.store(key, raw, &executed, &encoded.body);
    }
    Answer::Ready(encoded, None)
}

/// One POSTed request (alone, or one of a batch): [`prepare`], then [`run`].
pub(crate) async fn answer(
    state: &AppState,
    asked: Asked,
    raw: Option<RawRequest<'_>>,
    params: Params,
) -> Answer {
    match prepare(state, asked, raw, params) {
        Prepared::Answered(answer) => answer,
        Prepared::ToRun(to_run) => run(state, asked.media, raw, to_run).await,
    }
}

/// The response cache, unless the request's consistency token asks for the database.
pub(crate) fn response_cache(state: &AppState, freshness: Freshness) -> Option<&ResponseCache> {
    match freshness {
        Freshness::Cached => state.responses.as_deref(),
        Freshness::Database => None,
    }
}

fn request_of(operation: Operation, asked: Asked) -> async_graphql::Request {
    with_freshness(operation.into_request(asked.caller), asked.freshness)
}

/// Tells the resolvers to read past the caches when the consistency token asks for it.
pub(crate) fn with_freshness(
    request: async_graphql::Request,
    freshness: Freshness,
) -> async_graphql::Request {
    match freshness {
        Freshness::Cached => request,
        Freshness::Database => request.data(freshness),
    }
}

fn register(state: &AppState, registration: Option<Registration>) {
    if let Some(registration) = registration {
        state.clients.persisted.register(registration);
    }
}

/// The answer to a request whose document could not be resolved. An unknown hash gets 200
/// whatever the media type, as Apollo Server answers (the persisted-query links then send the
/// query); the others are request errors. Counted as a refused operation (a query: its document
/// is unknown).
pub(crate) fn refused(state: &AppState, media: MediaType, refusal: Refusal) -> Encoded {
    let code = match &refusal {
        Refusal::NotFound => ErrorCode::PersistedQueryNotFound,
        Refusal::NotInList => ErrorCode::PersistedQueryNotInList,
        Refusal::BadRequest(_) => ErrorCode::BadRequest,
    };
    state
        .api
        .operations()
        .count(graphql::OperationType::Query, Some(code));
    match refusal {
        Refusal::NotFound => {
            let mut encoded = encode(
                media,
                &graphql::request_error(
                    ErrorCode::PersistedQueryNotFound,
                    "PersistedQueryNotFound",
                ),
            );
            encoded.status = StatusCode::OK;
            encoded
        }
        Refusal::NotInList => encode(
            media,
            &graphql::request_error(
                ErrorCode::PersistedQueryNotInList,
                "this server runs only the documents of its trusted documents manifest",
            ),
        ),
        Refusal::BadRequest(message) => {
            let mut encoded = encode(media, &graphql::bad_request(message));
            encoded.status = StatusCode::BAD_REQUEST;
            encoded
        }
    }
}

/// The response cache answered: counted as a query and, when spans are exported, recorded on
/// the request's span, named after the operation as the execution that stored the response
/// named its own (only queries are stored; stored without a label, e.g. before spans were
/// exported, it is a `query`).
pub(crate) fn trace_hit(state: &AppState, stored: &StoredResponse) {
    // A hit is an operation answered without the schema: counted here, once.
    state
        .api
        .operations()
        .count(graphql::OperationType::Query, None);
    if state.traces {
        let span = tracing::Span::current();
        span.record("plans.response_cache.hit", true);
        match stored.operation() {
            Some(operation) => {
                crate::telemetry::rename_current_span(operation.span_name());
                span.record("graphql.operation.type", operation.kind);
                if let Some(name) = &operation.name {
                    span.record("graphql.operation.name", &**name);
                }
            }
            None => {
                crate::telemetry::rename_current_span("query");
                span.record("graphql.operation.type", "query");
            }
        }
    }
}

/// When spans are exported: the response cache was asked and did not answer.
fn trace_miss(state: &AppState) {
    if state.traces {
        tracing::Span::current().record("plans.response_cache.hit", false);
    }
}

/// A stored response: only complete ones are stored, so 200, exactly what the executed original
/// got for this delivery.
pub(crate) fn send_stored(
    media: MediaType,
    stored: &Arc<StoredResponse>,
    delivery: Delivery<'_>,
) -> Response {
    send(
        media,
        stored_encoded(stored),
        delivery,
        Some(stored.etags()),
    )
}

fn stored_encoded(stored: &StoredResponse) -> Encoded {
    Encoded {
        status: StatusCode::OK,
        body: stored.body().clone(),
        complete: true,
    }
}
