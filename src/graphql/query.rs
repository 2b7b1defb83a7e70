use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};

use super::errors::{IntoGraphql, plan_service};
use super::reads::record;
use super::types::{ConnectionType, Plan, PlanItems};
use crate::plans::{PlanFilter, parse_plan_id};

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
        let served = plan_service(ctx)?.list(filter).await.into_graphql()?;
        record(ctx, served.read);
        Ok(PlanItems(served.value))
    }

    /// One plan by id, or null if there is none.
    async fn plan(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Plan>> {
        let id = parse_plan_id(&id).into_graphql()?;
        let served = plan_service(ctx)?.get(id).await.into_graphql()?;
        record(ctx, served.read);
        Ok(served.value.map(|plan| Plan(Arc::new(plan))))
    }
}
