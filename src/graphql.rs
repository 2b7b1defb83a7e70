//! The GraphQL layer: schema, resolvers (thin: they call [`crate::plans::PlanService`]), the
//! admin-token guard, and the one place errors become `extensions.code`.

mod auth;
mod errors;
mod limits;
mod mutation;
mod operation;
mod query;
mod schema;
mod types;

pub use auth::{AdminToken, PresentedToken};
pub use errors::{ApiError, ErrorCode, bad_request, is_request_error};
pub use operation::selects_mutation;
pub use schema::{AppSchema, SchemaLimits, build_schema, sdl};
