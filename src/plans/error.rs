//! [`PlanError`]: what a plan operation can fail with. The GraphQL layer maps it to a code in one
//! place (`graphql/errors.rs`); nothing here decides what a client sees.

use std::sync::Arc;

use sea_orm::DbErr;

use super::validation::InvalidInput;

/// What a plan operation can fail with. Messages are for logs; the GraphQL layer decides what a
/// client sees.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// A valid request the actor's role may not make (an operator creating for, or moving a
    /// plan to, another operator).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("database error: {0}")]
    Database(#[source] Arc<DbErr>),
    #[error("more than {max} live subscriptions")]
    SubscriptionLimit { max: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl From<DbErr> for PlanError {
    fn from(err: DbErr) -> Self {
        Self::Database(Arc::new(err))
    }
}
