//! `graphql_operations_total{type, outcome, code}`: every GraphQL operation the server answered,
//! by its type and the first error's `extensions.code`.
//!
//! Executed operations are counted here, by an extension ([`CountOperations`]) that sees the
//! final response (its codes given by [`super::errors::ErrorCodes`], which runs inside it); one
//! run as a stream (SSE, WebSocket) is counted on its first response, and a live list's later
//! events (rendered by running the request again) are not counted at all. The HTTP layer counts
//! what never reaches the schema: response-cache hits, and requests refused before GraphQL ran.
//!
//! Every label value comes from a fixed set (three types; `none` or an [`ErrorCode`]), so the
//! counters are resolved once, at start-up: counting is an index and an atomic add.

use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    NextSubscribe,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use super::errors::ErrorCode;
use super::operation::type_name;
use super::request_data::RenderList;

/// The counters of every (type, code) pair, resolved once. Cheap to clone.
#[derive(Clone)]
pub struct OperationMetrics {
    /// By type (query, mutation, subscription), then `ok` (index 0) or the code's index + 1.
    counters: Arc<[[IntCounter; ErrorCode::ALL.len() + 1]; 3]>,
}

/// In the order of [`OperationMetrics::count`]'s index.
const TYPES: [OperationType; 3] = [
    OperationType::Query,
    OperationType::Mutation,
    OperationType::Subscription,
];

impl OperationMetrics {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let family = IntCounterVec::new(
            Opts::new(
                "graphql_operations_total",
                "GraphQL operations answered, by type, outcome and the first error's extensions.code (response-cache hits and refused requests included; each batch item counts).",
            ),
            &["type", "outcome", "code"],
        )?;
        registry.register(Box::new(family.clone()))?;
        let counters = TYPES.map(|kind| {
            let kind = type_name(kind);
            std::array::from_fn(|index| match index {
                0 => family.with_label_values(&[kind, "ok", "none"]),
                _ => family.with_label_values(&[kind, "error", ErrorCode::ALL[index - 1].as_str()]),
            })
        });
        Ok(Self {
            counters: Arc::new(counters),
        })
    }

    /// Counts one operation of type `kind`: `ok` when `code` is `None`, else `error` with it.
    pub(crate) fn count(&self, kind: OperationType, code: Option<ErrorCode>) {
        let by_type = &self.counters[match kind {
            OperationType::Query => 0,
            OperationType::Mutation => 1,
            OperationType::Subscription => 2,
        }];
        let index = code.map_or(0, |code| code.index() + 1);
        by_type[index].inc();
    }

    /// Counts `response`, an answer to an operation of type `kind`.
    pub(crate) fn count_response(&self, kind: OperationType, response: &Response) {
        self.count(kind, first_code(response));
    }
}

/// The code of `response`'s first error, if it has errors. Every error the server sends carries
/// one of [`ErrorCode`]'s (see [`super::errors`]); one that did not would be a bug, counted as
/// `INTERNAL_SERVER_ERROR` rather than growing the label set.
pub(crate) fn first_code(response: &Response) -> Option<ErrorCode> {
    let error = response.errors.first()?;
    let code = error
        .extensions
        .as_ref()
        .and_then(|extensions| extensions.get("code"))
        .and_then(|code| match code {
            async_graphql::Value::String(code) => ErrorCode::parse(code),
            _ => None,
        });
    Some(code.unwrap_or(ErrorCode::InternalServerError))
}

/// The extension that counts executed operations. Registered first, so it is the outermost and
/// sees the codes the others give. It also marks a response built by anything but queries as not
/// reusable ([`super::reads::record_operation_types`]), from the same look at the document.
pub(super) struct CountOperations(pub OperationMetrics);

impl ExtensionFactory for CountOperations {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CountOperation {
            metrics: self.0.clone(),
            seen: Arc::default(),
        })
    }
}

/// What the document said about the operation's type, learnt when it was parsed.
#[derive(Default)]
enum Seen {
    /// Not parsed (a parse error): counted as a query, GraphQL's default operation type.
    #[default]
    Nothing,
    /// The type of every operation in the document.
    Type(OperationType),
    /// Operations of different types: the one executed is chosen by name.
    Mixed(Vec<(String, OperationType)>),
    /// A live list's later event: not an operation of its own.
    Rendering,
}

struct CountOperation {
    metrics: OperationMetrics,
    /// Shared with the stream of a subscription, which outlives the hooks' borrows.
    seen: Arc<Mutex<Seen>>,
}

impl CountOperation {
    fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
        seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The type to count, or `None` for a rendering.
    fn kind(seen: &Mutex<Seen>) -> Option<OperationType> {
        match &*Self::lock(seen) {
            Seen::Nothing | Seen::Mixed(_) => Some(OperationType::Query),
            Seen::Type(kind) => Some(*kind),
            Seen::Rendering => None,
        }
    }
}

#[async_trait::async_trait]
impl Extension for CountOperation {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        if let Some(kind) = Self::kind(&self.seen) {
            self.metrics.count_response(kind, &response);
        }
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let (metrics, seen) = (self.metrics.clone(), self.seen.clone());
        let mut counted = false;
        next.run(ctx, stream)
            .inspect(move |response| {
                if !counted {
                    counted = true;
                    if let Some(kind) = Self::kind(&seen) {
                        metrics.count_response(kind, response);
                    }
                }
            })
            .boxed()
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        super::reads::record_operation_types(ctx, &document);
        let seen = if ctx.data_opt::<RenderList>().is_some() {
            Seen::Rendering
        } else {
            match &document.operations {
                DocumentOperations::Single(operation) => Seen::Type(operation.node.ty),
                DocumentOperations::Multiple(operations) => {
                    let mut types = operations.values().map(|operation| operation.node.ty);
                    let first = types.next().unwrap_or(OperationType::Query);
                    if types.all(|kind| kind == first) {
                        Seen::Type(first)
                    } else {
                        Seen::Mixed(
                            operations
                                .iter()
                                .map(|(name, operation)| (name.to_string(), operation.node.ty))
                                .collect(),
                        )
                    }
                }
            }
        };
        *Self::lock(&self.seen) = seen;
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        {
            // Executing: the operation was chosen by its name.
            let mut seen = Self::lock(&self.seen);
            if let (Seen::Mixed(operations), Some(name)) = (&*seen, operation_name)
                && let Some((_, kind)) = operations.iter().find(|(known, _)| known == name)
            {
                *seen = Seen::Type(*kind);
            }
        }
        next.run(ctx, operation_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_of(registry: &Registry, labels: [&str; 3]) -> u64 {
        let families = registry.gather();
        let family = families
            .iter()
            .find(|family| family.name() == "graphql_operations_total")
            .expect("registered");
        family
            .get_metric()
            .iter()
            .find(|metric| {
                let values: Vec<&str> = metric.get_label().iter().map(|l| l.value()).collect();
                values == labels
            })
            .map_or(0, |metric| metric.get_counter().get_value() as u64)
    }

    #[test]
    fn every_label_set_is_resolved_once_and_counts_land_on_theirs() {
        let registry = Registry::new();
        let metrics = OperationMetrics::register(&registry).unwrap();
        metrics.count(OperationType::Query, None);
        metrics.count(OperationType::Mutation, Some(ErrorCode::Forbidden));
        metrics.count(OperationType::Mutation, Some(ErrorCode::Forbidden));
        // Label values in the names' order: code, outcome, type.
        assert_eq!(count_of(&registry, ["none", "ok", "query"]), 1);
        assert_eq!(count_of(&registry, ["FORBIDDEN", "error", "mutation"]), 2);
        assert_eq!(count_of(&registry, ["none", "ok", "subscription"]), 0);
        assert_eq!(count_of(&registry, ["FORBIDDEN", "error", "query"]), 0);
        let series = registry.gather()[0].get_metric().len();
        assert_eq!(series, 3 * (ErrorCode::ALL.len() + 1));
    }

    #[test]
    fn the_first_errors_code_is_the_label_and_a_stray_one_is_internal() {
        let coded = super::super::errors::request_error(ErrorCode::PersistedQueryNotFound, "x");
        assert_eq!(first_code(&coded), Some(ErrorCode::PersistedQueryNotFound));
        assert_eq!(first_code(&Response::new(async_graphql::Value::Null)), None);
        let stray = Response::from_errors(vec![async_graphql::ServerError::new("?", None)]);
        assert_eq!(first_code(&stray), Some(ErrorCode::InternalServerError));
    }
}
