//! The sea-orm queries behind [`super::PlanService`]; nothing else runs plan SQL.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{NewPlan, Plan, PlanFilter, PlanId};
use crate::entities::plan;

#[derive(Clone)]
pub(super) struct PlanRepo {
    db: DatabaseConnection,
}

impl PlanRepo {
    pub(super) fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    pub(super) async fn list(&self, filter: PlanFilter) -> Result<Vec<Plan>, DbErr> {
        let mut query = plan::Entity::find();
        if let Some(user_id) = filter.user_id {
            query = query.filter(plan::Column::UserId.eq(user_id));
        }
        if let Some(connection_type) = filter.connection_type {
            query = query.filter(plan::Column::ConnectionType.eq(connection_type));
        }
        let models = query.order_by_asc(plan::Column::Id).all(&self.db).await?;
        Ok(models.into_iter().map(Plan::from).collect())
    }

    pub(super) async fn get(&self, id: PlanId) -> Result<Option<Plan>, DbErr> {
        Ok(plan::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Plan::from))
    }

    pub(super) async fn insert(&self, new: NewPlan) -> Result<Plan, DbErr> {
        let model = plan::ActiveModel {
            id: NotSet,
            user_id: Set(new.user_id),
            name: Set(new.name),
            connection_type: Set(new.connection_type),
            price_cents: Set(new.price_cents),
            duration_minutes: Set(new.duration_minutes),
            created_at: Set(now()),
        };
        let inserted = plan::Entity::insert(model)
            .exec_with_returning(&self.db)
            .await?;
        Ok(inserted.into())
    }

    /// Deletes the plan and returns what it was, so the caller knows which keys it was in.
    pub(super) async fn delete(&self, id: PlanId) -> Result<Option<Plan>, DbErr> {
        Ok(plan::Entity::delete_by_id(id)
            .exec_with_returning(&self.db)
            .await?
            .map(Plan::from))
    }

    /// Reads the plans table (not just `SELECT 1`): a locked or missing table is not "up".
    pub(super) async fn ping(&self) -> Result<(), DbErr> {
        plan::Entity::find()
            .select_only()
            .column(plan::Column::Id)
            .limit(1)
            .into_tuple::<i32>()
            .one(&self.db)
            .await
            .map(|_| ())
    }
}

/// Creation time at the precision both databases keep (PostgreSQL stores microseconds), so a
/// plan reads back exactly as `createPlan` returned it.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
