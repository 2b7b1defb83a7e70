//! The GraphQL layer: schema, resolvers (thin: they call [`crate::plans::PlanService`]), the
//! caller's role, limits, what a response was built from ([`ReadSet`]), and the one place
//! errors become `extensions.code`. Knows nothing of HTTP or of any response cache.

mod api;
mod auth;
mod connection;
mod errors;
mod limits;
mod live_events;
mod metrics;
mod mutation;
mod operation;
mod query;
mod reads;
mod request_data;
mod schema;
mod subscription;
mod types;

pub use api::{Executed, GraphqlApi};
/// An operation's type, as the metrics label it.
pub use async_graphql::parser::types::OperationType;
pub use errors::{ApiError, ErrorCode};
pub(crate) use errors::{
    bad_request, credential_lapsed, is_request_error, rate_limited, request_error, unauthenticated,
};
pub use metrics::OperationMetrics;
pub(crate) use metrics::first_code;
pub use operation::OperationLabel;
pub(crate) use operation::selects_mutation;
pub use reads::ReadSet;
pub use schema::{AppSchema, SchemaLimits, sdl};
pub use subscription::ConnectionSubscriptions;
