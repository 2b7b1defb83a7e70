//! The one schema builder: roots, limits and extensions, shared by the server, `print-schema`
//! and the `schema.graphql` test.

use async_graphql::{Schema, SchemaBuilder};

use super::errors::ErrorCodes;
use super::limits::ShapeLimits;
use super::metrics::{CountOperations, OperationMetrics};
use super::mutation::MutationRoot;
use super::operation::TraceOperation;
use super::query::QueryRoot;
use super::subscription::SubscriptionRoot;

pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Bounds checked before any resolver runs, so one request cannot make the server do unbounded
/// work. (Values come from the configuration, where their defaults are written.)
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub introspection: bool,
    /// Name the request's span after the operation (`query GetPlans`) and give it the GraphQL
    /// semantic conventions' attributes: on only when spans are exported.
    pub traces: bool,
}

fn builder() -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
}

/// The schema the server runs: types, limits and the extensions that count operations, code errors
/// and record what a response was built from. Its data is added by [`super::GraphqlApi::new`].
pub(super) fn configured(
    limits: SchemaLimits,
    operations: OperationMetrics,
) -> SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    let builder = builder()
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        // First, so it is the outermost: it counts the response with the codes the others give.
        .extension(CountOperations(operations))
        .extension(ErrorCodes)
        .extension(ShapeLimits {
            max_root_fields: limits.max_root_fields,
            max_aliases: limits.max_aliases,
            introspection: limits.introspection,
        });
    let builder = if limits.traces {
        builder.extension(TraceOperation)
    } else {
        builder
    };
    if limits.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The SDL, as `plans-api print-schema` prints it and `schema.graphql` holds it. (Limits and
/// extensions do not change it.)
pub fn sdl() -> String {
    builder().finish().sdl()
}
