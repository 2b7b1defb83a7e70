use std::sync::Arc;

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

use super::auth::AdminToken;
use super::errors::ErrorCodes;
use super::limits::ShapeLimits;
use super::mutation::MutationRoot;
use super::query::QueryRoot;
use super::response_cache::TraceOperations;
use crate::plans::PlanService;

pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Bounds checked before any resolver runs, so one request cannot make the server do unbounded
/// work.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_root_fields: usize,
    pub max_aliases: usize,
    pub introspection: bool,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        // Our deepest query is `{ plans { id } }`; GraphiQL's introspection query has depth 13.
        Self {
            max_depth: 16,
            max_complexity: 1_000,
            max_root_fields: 10,
            max_aliases: 20,
            introspection: true,
        }
    }
}

fn builder(limits: SchemaLimits) -> SchemaBuilder<QueryRoot, MutationRoot, EmptySubscription> {
    let builder = Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(ErrorCodes)
        .extension(ShapeLimits {
            max_root_fields: limits.max_root_fields,
            max_aliases: limits.max_aliases,
            introspection: limits.introspection,
        })
        .extension(TraceOperations);
    if limits.introspection {
        builder
    } else {
        builder.disable_introspection()
    }
}

/// The schema the server runs, with its data.
pub fn build_schema(
    plans: Arc<PlanService>,
    admin_token: AdminToken,
    limits: SchemaLimits,
) -> AppSchema {
    builder(limits).data(plans).data(admin_token).finish()
}

/// The SDL, as `plans-api print-schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    builder(SchemaLimits::default()).finish().sdl()
}
