//! Who is asking, as the resolvers see it: the HTTP layer authenticated the request and put its
//! [`Caller`] into the request's data (a credential that was sent and is invalid never gets this
//! far). Writes need the admin or an operator; the ownership rules are the plan service's.

use async_graphql::{Context, ErrorExtensions};

use super::errors::ApiError;
use super::reads::mark_not_reusable;
use crate::auth::Caller;
use crate::plans::Actor;

/// The actor a write runs as: the admin or an operator; anyone else gets `UNAUTHENTICATED`.
pub(super) fn acting(ctx: &Context<'_>) -> async_graphql::Result<Actor> {
    // The answer now depends on the credential: never give it to anyone else.
    mark_not_reusable(ctx);
    match ctx.data_opt::<Caller>().copied().unwrap_or_default() {
        Caller::Admin => Ok(Actor::Admin),
        Caller::Operator(id) => Ok(Actor::Operator(id)),
        Caller::Anonymous => Err(ApiError::Unauthenticated.extend()),
    }
}
