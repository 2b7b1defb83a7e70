//! The GraphQL layer as the HTTP layer sees it: run a request, and say later whether the plan
//! lists a response was built from are still current.

use std::sync::Arc;

use async_graphql::{Data, Request, Response};
use bytes::Bytes;

use super::live_events;
use super::reads::{ReadLog, ReadSet};
use super::schema::{AppSchema, SchemaLimits, configured};
use crate::plans::{Consistency, ConsistencyToken, Outcome, PlanService, TokenError};

/// Cheap to clone (Arcs inside).
#[derive(Clone)]
pub struct GraphqlApi {
    schema: AppSchema,
    plans: Arc<PlanService>,
    consistency: Arc<Consistency>,
}

/// A response, with what it was built from.
pub struct Executed {
    pub response: Response,
    pub reads: ReadSet,
}

impl GraphqlApi {
    pub fn new(
        plans: Arc<PlanService>,
        consistency: Arc<Consistency>,
        limits: SchemaLimits,
    ) -> Self {
        let schema = configured(limits).data(plans.clone()).finish();
        Self {
            schema,
            plans,
            consistency,
        }
    }

    /// Reads a consistency token a client sent.
    pub(crate) fn parse_consistency_token(
        &self,
        text: &str,
    ) -> Result<ConsistencyToken, TokenError> {
        self.consistency.parse(text)
    }

    /// Waits (bounded) until this replica can answer a request carrying `token` without a stale
    /// read; the outcome's [`crate::plans::Freshness`] goes into the request's data.
    pub(crate) async fn catch_up(&self, token: ConsistencyToken) -> Outcome {
        self.consistency.catch_up(token).await
    }

    /// The token for a response in which a mutation succeeded ([`ReadSet::wrote`]); none, with a
    /// warning, when the database cannot say where it is.
    pub(crate) async fn issue_consistency_token(&self) -> Option<ConsistencyToken> {
        match self.consistency.issue().await {
            Ok(token) => Some(token),
            Err(err) => {
                tracing::warn!(error = %err, "cannot issue a consistency token; the response goes without one");
                None
            }
        }
    }

    /// Runs `request` (which carries the [`crate::auth::Caller`] in its data; none: anonymous).
    pub async fn execute(&self, request: Request) -> Executed {
        let log = Arc::new(ReadLog::default());
        // Boxed: execution's state machine is kilobytes, and without the box every caller's
        // future would be that large, and so every request's, hit or miss (each middleware layer
        // moves it into its own future). A miss can afford one allocation.
        let response = Box::pin(self.schema.execute(request.data(log.clone()))).await;
        let reads = log.read_set();
        Executed { response, reads }
    }

    /// Runs `request` as a stream of serialized responses (the subscription transports): one for
    /// a query or mutation, one per event for a subscription, later events rendered once per
    /// changed list and shared by its subscribers (see [`super::live_events`]). `session`: the
    /// connection's data (a WebSocket's), if any.
    pub fn subscribe(
        &self,
        request: Request,
        session: Option<Arc<Data>>,
    ) -> futures::stream::BoxStream<'static, Bytes> {
        live_events::subscribe(self.schema.clone(), request, session)
    }

    /// Whether every plan list in `reads` is still what the plan cache would serve now. Two
    /// atomic loads per list; no lock.
    pub fn is_current(&self, reads: &ReadSet) -> bool {
        self.plans.is_current(reads.reads())
    }

    /// Whether plan lists are cached at all (`PLAN_CACHE_TTL` > 0). When not, every read must
    /// reach the database, so nothing built from one may be kept either.
    pub(crate) fn caches_plan_lists(&self) -> bool {
        self.plans.is_caching()
    }
}
