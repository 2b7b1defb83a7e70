//! The GraphQL layer as the HTTP layer sees it: run a request, and say later whether the plan
//! lists a response was built from are still current.

use std::sync::Arc;

use async_graphql::{Data, Request, Response};
use bytes::Bytes;

use super::live_events;
use super::metrics::OperationMetrics;
use super::operation::{LabelSlot, OperationLabel};
use super::reads::{ReadLog, ReadSet};
use super::schema::{AppSchema, SchemaLimits, configured};
use crate::plans::{Consistency, ConsistencyToken, Outcome, PlanService, TokenError};

/// Cheap to clone (Arcs inside).
#[derive(Clone)]
pub struct GraphqlApi {
    schema: AppSchema,
    plans: Arc<PlanService>,
    consistency: Arc<Consistency>,
    /// Whether spans are exported: then an execution says which operation it ran.
    traces: bool,
    operations: OperationMetrics,
}

/// A response, with what it was built from.
pub struct Executed {
    pub response: Response,
    pub reads: ReadSet,
    /// The operation it ran, when spans are exported (for a stored response's hits).
    pub operation: Option<OperationLabel>,
}

impl GraphqlApi {
    /// `operations`: where every operation the schema runs is counted (the HTTP layer counts
    /// the ones answered without it there too).
    pub(crate) fn new(
        plans: Arc<PlanService>,
        consistency: Arc<Consistency>,
        limits: SchemaLimits,
        operations: OperationMetrics,
    ) -> Self {
        let traces = limits.traces;
        let schema = configured(limits, operations.clone())
            .data(plans.clone())
            .finish();
        Self {
            schema,
            plans,
            consistency,
            traces,
            operations,
        }
    }

    /// `graphql_operations_total`.
    pub(crate) fn operations(&self) -> &OperationMetrics {
        &self.operations
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
    pub(crate) async fn execute(&self, request: Request) -> Executed {
        let log = Arc::new(ReadLog::default());
        // Boxed: execution's state machine is kilobytes, and without the box every caller's
        // future would be that large, and so every request's, hit or miss (each middleware layer
        // moves it into its own future). A miss can afford one allocation.
        let mut request = request.data(log.clone());
        let label = self.traces.then(|| Arc::new(LabelSlot::default()));
        if let Some(label) = &label {
            request = request.data(label.clone());
        }
        let response = Box::pin(self.schema.execute(request)).await;
        let reads = log.read_set();
        let operation = label.and_then(|label| label.0.get().cloned());
        Executed {
            response,
            reads,
            operation,
        }
    }

    /// Runs `request` as a stream of serialized responses (the subscription transports): one for
    /// a query or mutation, one per event for a subscription, later events rendered once per
    /// changed list and shared by its subscribers (see [`super::live_events`]). `session`: the
    /// connection's data (a WebSocket's), if any.
    pub(crate) fn subscribe(
        &self,
        request: Request,
        session: Option<Arc<Data>>,
    ) -> futures::stream::BoxStream<'static, Bytes> {
        live_events::subscribe(self.schema.clone(), request, session)
    }

    /// Whether every plan list in `reads` is still what the plan cache would serve now. Two
    /// atomic loads per list; no lock.
    pub(crate) fn is_current(&self, reads: &ReadSet) -> bool {
        self.plans.is_current(reads.reads())
    }

    /// Whether plan lists are cached at all (`PLAN_CACHE_TTL` > 0). When not, every read must
    /// reach the database, so nothing built from one may be kept either.
    pub(crate) fn caches_plan_lists(&self) -> bool {
        self.plans.is_caching()
    }
}
