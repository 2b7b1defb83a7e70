//! The sea-orm queries behind [`super::PlanService`]; nothing else runs plan SQL.

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use super::{NewPlan, Plan, PlanChanges, PlanFilter, PlanId};
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

    /// Every plan, ordered by id, handed to `each` one row at a time: reading 100,000 plans
    /// never holds them all as rows and models at once.
    pub(super) async fn for_each(&self, mut each: impl FnMut(Plan)) -> Result<usize, DbErr> {
        let mut rows = plan::Entity::find()
            .order_by_asc(plan::Column::Id)
            .stream(&self.db)
            .await?;
        let mut count = 0;
        while let Some(model) = rows.try_next().await? {
            each(model.into());
            count += 1;
        }
        Ok(count)
    }

    pub(super) async fn get(&self, id: PlanId) -> Result<Option<Plan>, DbErr> {
        Ok(plan::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(Plan::from))
    }

    pub(super) async fn insert(&self, new: NewPlan) -> Result<Plan, DbErr> {
        let inserted = plan::Entity::insert(active_model(new, now()))
            .exec_with_returning(&self.db)
            .await?;
        Ok(inserted.into())
    }

    /// Inserts all `plans` in one transaction (all or nothing), `batch` rows per statement.
    pub(super) async fn insert_all(&self, plans: Vec<NewPlan>, batch: usize) -> Result<u64, DbErr> {
        let created_at = now();
        let transaction = self.db.begin().await?;
        let mut inserted = 0;
        let mut plans = plans.into_iter().peekable();
        while plans.peek().is_some() {
            let models: Vec<_> = plans
                .by_ref()
                .take(batch)
                .map(|new| active_model(new, created_at))
                .collect();
            inserted += plan::Entity::insert_many(models)
                .exec_without_returning(&transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(inserted)
    }

    pub(super) async fn count(&self) -> Result<u64, DbErr> {
        plan::Entity::find().count(&self.db).await
    }

    /// Deletes the plan (only if `owner` owns it, when given) and returns what it was, so the
    /// caller knows which keys it was in.
    pub(super) async fn delete(
        &self,
        id: PlanId,
        owner: Option<i32>,
    ) -> Result<Option<Plan>, DbErr> {
        let mut delete = plan::Entity::delete_by_id(id);
        if let Some(owner) = owner {
            delete = delete.filter(plan::Column::UserId.eq(owner));
        }
        Ok(delete.exec_with_returning(&self.db).await?.map(Plan::from))
    }

    /// Changes a plan in one transaction that first locks and reads its row, so the caller learns
    /// what it was as well as what it became, and no concurrent write (a delete, another update)
    /// can land between the two: `Ok(None)` if there is no plan with that id (owned by `owner`,
    /// when given; nothing written). On failure, [`UpdateFailed::before`] says what the plan was
    /// if its row had been read.
    pub(super) async fn update(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<(Plan, Plan)>, UpdateFailed> {
        let failed = |before: Option<&plan::Model>| {
            let before = before.cloned().map(Plan::from);
            move |error| UpdateFailed { before, error }
        };
        // SQLite: take the write lock at BEGIN (a read that later upgrades to a write fails at
        // once if another writer committed in between). PostgreSQL: the row lock below.
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let transaction = self
            .db
            .begin_with_options(options)
            .await
            .map_err(failed(None))?;
        let mut find = plan::Entity::find_by_id(id);
        if let Some(owner) = owner {
            find = find.filter(plan::Column::UserId.eq(owner));
        }
        let Some(row) = find
            .lock_exclusive()
            .one(&transaction)
            .await
            .map_err(failed(None))?
        else {
            // Nothing was written; a failed rollback changes nothing either.
            let _ = transaction.rollback().await;
            return Ok(None);
        };
        let mut changed: plan::ActiveModel = row.clone().into();
        if let Some(user_id) = changes.user_id {
            changed.user_id = Set(user_id);
        }
        if let Some(name) = &changes.name {
            changed.name = Set(name.clone());
        }
        if let Some(connection_type) = changes.connection_type {
            changed.connection_type = Set(connection_type);
        }
        if let Some(price_cents) = changes.price_cents {
            changed.price_cents = Set(price_cents);
        }
        if let Some(duration_minutes) = changes.duration_minutes {
            changed.duration_minutes = Set(duration_minutes);
        }
        let after = changed
            .update(&transaction)
            .await
            .map_err(failed(Some(&row)))?;
        transaction.commit().await.map_err(failed(Some(&row)))?;
        Ok(Some((row.into(), after.into())))
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

/// An update that failed, perhaps after it committed (a connection lost during `COMMIT`).
#[derive(Debug)]
pub(super) struct UpdateFailed {
    /// The plan as its locked row was read, if the update got that far. `None`: it failed at
    /// `BEGIN` or while reading the row, before its transaction wrote anything.
    pub(super) before: Option<Plan>,
    pub(super) error: DbErr,
}

fn active_model(new: NewPlan, created_at: DateTime<Utc>) -> plan::ActiveModel {
    plan::ActiveModel {
        id: NotSet,
        user_id: Set(new.user_id),
        name: Set(new.name),
        connection_type: Set(new.connection_type),
        price_cents: Set(new.price_cents),
        duration_minutes: Set(new.duration_minutes),
        created_at: Set(created_at),
    }
}

/// Creation time at the precision both databases keep (PostgreSQL stores microseconds), so a
/// plan reads back exactly as `createPlan` returned it.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
