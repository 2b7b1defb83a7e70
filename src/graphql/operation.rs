//! Which operation a request would run, known before running it (GraphQL over HTTP must refuse a
//! mutation sent by GET without executing anything).

use async_graphql::Request;
use async_graphql::parser::types::{DocumentOperations, OperationType};

/// True when the document parses and the operation it selects (by `operationName`, or the only
/// one) is a mutation. The parsed document stays in the request, so execution does not parse it
/// again. Anything unclear (a parse error, an unknown operation name) is false: execution then
/// reports it as the usual coded error.
pub fn selects_mutation(request: &mut Request) -> bool {
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
