//! The GraphQL layer: schema, resolvers (thin: they call [`crate::plans::PlanService`]), the
//! caller's role, limits, what a response was built from ([`ReadSet`]), and the one place
//! errors become `extensions.code`. Knows nothing of HTTP or of any response cache.

mod api;
mod auth;
mod connection;
mod errors;
mod limits;
mod live_events;
mod mutation;
mod operation;
mod query;
mod reads;
mod request_data;
mod schema;
mod subscription;
mod types;

pub use api::{Executed, GraphqlApi};
pub use errors::{
    ApiError, ErrorCode, bad_request, is_request_error, rate_limited, request_error,
    unauthenticated,
};
pub use operation::selects_mutation;
pub use reads::ReadSet;
pub use schema::{AppSchema, SchemaLimits, sdl};
pub use subscription::ConnectionSubscriptions;
