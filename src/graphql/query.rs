//! `Query`: thin resolvers for `plans`, `plansPage` and `plan`, each reading through
//! [`crate::plans::PlanService`] and recording the reads its response was built from.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};

use super::connection::{PlanConnection, decode_cursor};
use super::errors::{IntoGraphql, plan_service};
use super::reads::{freshness, record};
use super::types::{ConnectionType, Plan, PlanItems};
use crate::plans::{PageRequest, PlanFilter, parse_plan_id};

#[derive(Default)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Plans, filtered by owner and/or connection type (filters are AND-ed), ordered by id ascending.
    async fn plans(
        &self,
        ctx: &Context<'_>,
        user_id: Option<i32>,
        connection_type: Option<ConnectionType>,
    ) -> Result<PlanItems> {
        let filter = PlanFilter {
            user_id,
            connection_type: connection_type.map(Into::into),
        };
        let served = plan_service(ctx)?
            .list_with(filter, freshness(ctx))
            .await
            .into_graphql()?;
        record(ctx, served.read);
        Ok(PlanItems(served.value))
    }

    /// The same lists as plans (same filters, ordered by id ascending), a page at a time: Relay cursor connections; `first`/`last` 1 to 100, default `first: 50`; cursors stay valid across creates and deletes.
    //
    // Complexity: what one plan selects times the page size (the wrappers count nothing).
    #[graphql(complexity = "1 + PageRequest::requested_size(first, last) * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn plans_connection(
        &self,
        ctx: &Context<'_>,
        user_id: Option<i32>,
        connection_type: Option<ConnectionType>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<PlanConnection> {
        let filter = PlanFilter {
            user_id,
            connection_type: connection_type.map(Into::into),
        };
        let request = PageRequest {
            first,
            after: after
                .as_deref()
                .map(|cursor| decode_cursor("after", cursor))
                .transpose()
                .into_graphql()?,
            last,
            before: before
                .as_deref()
                .map(|cursor| decode_cursor("before", cursor))
                .transpose()
                .into_graphql()?,
        };
        let served = plan_service(ctx)?
            .page_with(filter, request, freshness(ctx))
            .await
            .into_graphql()?;
        record(ctx, served.read);
        Ok(PlanConnection(served.value))
    }

    /// One plan by id, or null if there is none.
    async fn plan(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Plan>> {
        let id = parse_plan_id(&id).into_graphql()?;
        let served = plan_service(ctx)?
            .get_with(id, freshness(ctx))
            .await
            .into_graphql()?;
        record(ctx, served.read);
        Ok(served.value.map(|plan| Plan(Arc::new(plan))))
    }
}
