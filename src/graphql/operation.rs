//! Which operation a request would run, known before running it (GraphQL over HTTP must refuse a
//! mutation sent by GET without executing anything).

use std::sync::{Arc, Mutex};
use std::task::Poll;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, ServerResult, Variables};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use super::request_data::RenderList;

/// True when the document parses and the operation it selects (by `operationName`, or the only
/// one) is a mutation. The parsed document stays in the request, so execution does not parse it
/// again. Anything unclear (a parse error, an unknown operation name) is false: execution then
/// reports it as the usual coded error.
pub(crate) fn selects_mutation(request: &mut Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else {
        return false;
    };
    let selected = match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(operation), None) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()
        }
        _ => None,
    };
    selected.is_some_and(|operation| operation.node.ty == OperationType::Mutation)
}

/// Names the current span (the request's, when traces are exported) after the operation, as the
/// GraphQL semantic conventions ask: `query`, `mutation` or `subscription`, then the operation's
/// name if it has one; with `graphql.operation.type` and `graphql.operation.name`. Added to the
/// schema only when spans are exported.
///
/// An operation over a subscription transport (WebSocket, SSE) runs as a stream outside the
/// request's span, so it gets a span of its own ([`operation_span`]), for the stream's whole life,
/// named the same way: under the request's span for SSE, a root span for a WebSocket's (whose
/// upgrade request is long over). A live list's events are its children
/// ([`crate::plans::LiveList`]); rendering one runs the request again, which names nothing.
pub(super) struct TraceOperation;

/// The operation a request ran, as its span was named: kept with a stored response, so that a
/// response-cache hit names its span the same way without parsing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationLabel {
    /// `query`, `mutation` or `subscription`.
    pub kind: &'static str,
    pub name: Option<Arc<str>>,
}

impl OperationLabel {
    /// The span name the GraphQL semantic conventions ask for: `query ListPlans`, or `query`.
    pub(crate) fn span_name(&self) -> String {
        match &self.name {
            Some(name) => format!("{} {name}", self.kind),
            None => self.kind.to_owned(),
        }
    }
}

/// Where [`TraceOperation`] leaves the [`OperationLabel`] of a request executed for a response
/// (in the request's data, when spans are exported).
#[derive(Default)]
pub(super) struct LabelSlot(pub(super) std::sync::OnceLock<OperationLabel>);

/// The span of an operation run as a stream, until [`TraceOperation`] names it.
pub(super) fn operation_span() -> tracing::Span {
    tracing::info_span!(
        "graphql.operation",
        otel.name = "GraphQL Operation",
        graphql.operation.type = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
    )
}

/// `stream`, polled in `span`, which ends with the stream rather than when the transport drops
/// it: at shutdown, the process may exit (and flush its spans) before a WebSocket's task gets to
/// that.
pub(super) fn in_span<'s, T: 's>(
    stream: BoxStream<'s, T>,
    span: tracing::Span,
) -> BoxStream<'s, T> {
    let (mut stream, mut span) = (stream, Some(span));
    futures::stream::poll_fn(move |cx| {
        let Some(open) = &span else {
            return Poll::Ready(None);
        };
        let polled = open.in_scope(|| stream.poll_next_unpin(cx));
        if let Poll::Ready(None) = polled {
            span = None;
        }
        polled
    })
    .boxed()
}

impl ExtensionFactory for TraceOperation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TraceOperationOfRequest::default())
    }
}

#[derive(Default)]
struct TraceOperationOfRequest {
    operation_name: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl Extension for TraceOperationOfRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut name) = self.operation_name.lock() {
            name.clone_from(&request.operation_name);
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if ctx.data_opt::<RenderList>().is_some() {
            // A live list's later event, rendered by running the request again: its span is the
            // subscription's, named already.
            return Ok(document);
        }
        let requested = self
            .operation_name
            .lock()
            .ok()
            .and_then(|name| name.clone());
        let selected = match (&document.operations, requested.as_deref()) {
            (DocumentOperations::Single(operation), None) => Some((None, operation)),
            (DocumentOperations::Multiple(operations), Some(name)) => operations
                .get_key_value(name)
                .map(|(name, operation)| (Some(name.as_str()), operation)),
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => operations
                .iter()
                .next()
                .map(|(name, operation)| (Some(name.as_str()), operation)),
            _ => None,
        };
        if let Some((name, operation)) = selected {
            let kind = type_name(operation.node.ty);
            if let Some(slot) = ctx.data_opt::<Arc<LabelSlot>>() {
                let _ = slot.0.set(OperationLabel {
                    kind,
                    name: name.map(Arc::from),
                });
            }
            let span = tracing::Span::current();
            span.record("graphql.operation.type", kind);
            match name {
                Some(name) => {
                    crate::telemetry::rename_current_span(format!("{kind} {name}"));
                    span.record("graphql.operation.name", name);
                }
                None => crate::telemetry::rename_current_span(kind),
            }
        }
        Ok(document)
    }
}

/// An operation type as GraphQL writes it (and as spans and metrics label it).
pub(crate) fn type_name(kind: OperationType) -> &'static str {
    match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutation(query: &str, operation_name: Option<&str>) -> bool {
        let mut request = Request::new(query);
        if let Some(name) = operation_name {
            request = request.operation_name(name);
        }
        selects_mutation(&mut request)
    }

    #[test]
    fn finds_the_selected_operation() {
        assert!(mutation("mutation { deletePlan(id: \"1\") }", None));
        assert!(mutation("mutation Delete { deletePlan(id: \"1\") }", None));
        assert!(!mutation("{ plans { id } }", None));
        assert!(!mutation("query Plans { plans { id } }", None));

        let both = "query Plans { plans { id } } mutation Delete { deletePlan(id: \"1\") }";
        assert!(mutation(both, Some("Delete")));
        assert!(!mutation(both, Some("Plans")));
        // Ambiguous or unknown: execution reports it.
        assert!(!mutation(both, None));
        assert!(!mutation(both, Some("Nope")));
        assert!(!mutation("mutation {", None));
    }
}
