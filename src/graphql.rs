//! The GraphQL layer: schema, resolvers (thin: they call [`crate::plans::PlanService`]), the
//! admin-token guard, and the one place errors become `extensions.code`.

mod auth;
mod errors;
mod limits;
mod mutation;
mod operation;
mod query;
mod response_cache;
mod schema;
mod types;

pub use auth::{AdminToken, PresentedToken};
pub use errors::{ApiError, ErrorCode, bad_request, is_request_error};
pub use operation::selects_mutation;
pub use response_cache::{
    Lookup, RequestTrace, ResponseCache, ResponseCacheSettings, ResponseKey, ResponseKeys, render,
};
pub use schema::{AppSchema, SchemaLimits, build_schema, sdl};
