//! `Mutation`: thin resolvers for `createPlan`, `updatePlan` and `deletePlan`; who is acting,
//! ownership and validation are [`crate::plans::PlanService`]'s.

use std::sync::Arc;

use async_graphql::{Context, ID, Object, Result};

use super::auth::acting;
use super::errors::{IntoGraphql, plan_service};
use super::reads::mark_wrote;
use super::types::{CreatePlanInput, Plan, UpdatePlanInput};
use crate::plans::parse_plan_id;

#[derive(Default)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Requires `Authorization: Bearer <token>`: the admin token or an admin JWT (then `input.userId` is required), or an operator's JWT (`input.userId` may be left out; another operator's id: FORBIDDEN).
    async fn create_plan(&self, ctx: &Context<'_>, input: CreatePlanInput) -> Result<Plan> {
        let actor = acting(ctx)?;
        let plan = plan_service(ctx)?
            .create_as(actor, input.into())
            .await
            .into_graphql()?;
        mark_wrote(ctx);
        Ok(Plan(Arc::new(plan)))
    }

    /// Requires `Authorization: Bearer <token>`. Changes the fields given (at least one); `createdAt` stays. null if no plan has that id (for an operator: none of its own). Only the admin moves a plan to another operator (`input.userId`).
    async fn update_plan(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePlanInput,
    ) -> Result<Option<Plan>> {
        let actor = acting(ctx)?;
        let id = parse_plan_id(&id).into_graphql()?;
        let plan = plan_service(ctx)?
            .update_as(actor, id, input.into())
            .await
            .into_graphql()?;
        if plan.is_some() {
            mark_wrote(ctx);
        }
        Ok(plan.map(|plan| Plan(Arc::new(plan))))
    }

    /// Requires `Authorization: Bearer <token>`. true if a plan was deleted, false if none had that id (for an operator: none of its own).
    async fn delete_plan(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let actor = acting(ctx)?;
        let id = parse_plan_id(&id).into_graphql()?;
        let deleted = plan_service(ctx)?
            .delete_as(actor, id)
            .await
            .into_graphql()?;
        if deleted {
            mark_wrote(ctx);
        }
        Ok(deleted)
    }
}
