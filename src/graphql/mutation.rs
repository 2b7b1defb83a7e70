use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};

use super::auth::AdminGuard;
use super::errors::{IntoGraphql, plan_service};
use super::types::{CreatePlanInput, Plan, UpdatePlanInput};
use crate::plans::parse_plan_id;

#[derive(Default)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Requires `Authorization: Bearer <ADMIN_TOKEN>`.
    #[graphql(guard = "AdminGuard")]
    async fn create_plan(&self, ctx: &Context<'_>, input: CreatePlanInput) -> Result<Plan> {
        let plan = plan_service(ctx)?
            .create(input.into())
            .await
            .into_graphql()?;
        Ok(Plan(Arc::new(plan)))
    }

    /// Requires `Authorization: Bearer <ADMIN_TOKEN>`. Changes the fields given (at least one);
    /// `createdAt` stays. null if no plan has that id.
    #[graphql(guard = "AdminGuard")]
    async fn update_plan(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePlanInput,
    ) -> Result<Option<Plan>> {
        let id = parse_plan_id(&id).into_graphql()?;
        let plan = plan_service(ctx)?
            .update(id, input.into())
            .await
            .into_graphql()?;
        Ok(plan.map(|plan| Plan(Arc::new(plan))))
    }

    /// Requires `Authorization: Bearer <ADMIN_TOKEN>`. true if a plan was deleted, false if none had that id.
    #[graphql(guard = "AdminGuard")]
    async fn delete_plan(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let id = parse_plan_id(&id).into_graphql()?;
        plan_service(ctx)?.delete(id).await.into_graphql()
    }
}
