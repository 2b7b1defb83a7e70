//! The sea-orm queries behind [`super::PlanService`]; nothing else runs plan SQL.

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use sea_orm::{
    ActiveValue::{self, NotSet, Set},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, RuntimeErr, TransactionTrait, sqlx,
};

use super::{ConnectionType, NewPlan, Plan, PlanChanges, PlanFilter, PlanId, PlanOwner};
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

    /// Changes a plan with one `UPDATE … RETURNING`, atomic on its own: a concurrent delete or
    /// move lands wholly before or after it. `Ok(None)` if there is no plan with that id (owned by
    /// `owner`, when given; nothing written).
    ///
    /// The caller must invalidate the keys the plan was in as well as those it is in now. When the
    /// changes keep its owner and type, those are the same keys, learned from the row returned:
    /// one statement, as cheap as an insert. A change that can move it first reads where it is,
    /// then updates only if it is still there; if a concurrent write moved or deleted it in
    /// between, the update matches nothing and the read is repeated.
    pub(super) async fn update(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, UpdateFailed> {
        if !changes.can_move() {
            return match self.update_where(id, owner, None, changes).await {
                Ok(updated) => Ok(updated.map(|plan| Updated {
                    from: plan.owner(),
                    plan,
                })),
                Err(error) if wrote_nothing(&error) => Err(UpdateFailed::BeforeWriting(error)),
                Err(error) => Err(UpdateFailed::InPlace(error)),
            };
        }
        for _ in 0..MOVE_ATTEMPTS {
            let Some(from) = self
                .owner_of(id, owner)
                .await
                .map_err(UpdateFailed::BeforeWriting)?
            else {
                return Ok(None);
            };
            match self.update_where(id, owner, Some(from), changes).await {
                Ok(Some(plan)) => return Ok(Some(Updated { from, plan })),
                Ok(None) => continue,
                Err(error) if wrote_nothing(&error) => {
                    return Err(UpdateFailed::BeforeWriting(error));
                }
                Err(error) => return Err(UpdateFailed::Moving { from, error }),
            }
        }
        Err(UpdateFailed::BeforeWriting(DbErr::Custom(format!(
            "plan {id} was moved by other writes {MOVE_ATTEMPTS} times while it was being updated"
        ))))
    }

    /// Where the plan `id` is now (if `owner` owns it, when given).
    async fn owner_of(&self, id: PlanId, owner: Option<i32>) -> Result<Option<PlanOwner>, DbErr> {
        let mut find = plan::Entity::find_by_id(id);
        if let Some(owner) = owner {
            find = find.filter(plan::Column::UserId.eq(owner));
        }
        let found = find
            .select_only()
            .column(plan::Column::UserId)
            .column(plan::Column::ConnectionType)
            .into_tuple::<(i32, ConnectionType)>()
            .one(&self.db)
            .await?;
        Ok(found.map(|(user_id, connection_type)| PlanOwner {
            user_id,
            connection_type,
        }))
    }

    /// `UPDATE plans SET <changes> WHERE id = ? [AND user_id = owner] [AND owner and type are
    /// still `from`] RETURNING *`.
    async fn update_where(
        &self,
        id: PlanId,
        owner: Option<i32>,
        from: Option<PlanOwner>,
        changes: &PlanChanges,
    ) -> Result<Option<Plan>, DbErr> {
        let mut update = plan::Entity::update_many()
            .set(changes_model(changes))
            .filter(plan::Column::Id.eq(id));
        if let Some(owner) = owner {
            update = update.filter(plan::Column::UserId.eq(owner));
        }
        if let Some(from) = from {
            update = update
                .filter(plan::Column::UserId.eq(from.user_id))
                .filter(plan::Column::ConnectionType.eq(from.connection_type));
        }
        let updated = update.exec_with_returning(&self.db).await?;
        Ok(updated.into_iter().next().map(Plan::from))
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

/// How many times an update that moves a plan reads its row again after a concurrent write moved
/// it first. Each retry means another write to the same plan succeeded, so this is reached only
/// under a storm of writes to one plan.
const MOVE_ATTEMPTS: usize = 16;

/// A plan as an update left it, and where it was before (its owner and type).
#[derive(Debug)]
pub(super) struct Updated {
    pub(super) from: PlanOwner,
    pub(super) plan: Plan,
}

/// An update that failed, perhaps after it committed (a connection lost on the way back).
#[derive(Debug)]
pub(super) enum UpdateFailed {
    /// Nothing was written.
    BeforeWriting(DbErr),
    /// An update that keeps the plan's owner and type was sent; whose plan it was is unknown.
    InPlace(DbErr),
    /// An update that may move the plan was sent, for the plan when it was owned by `from`.
    Moving { from: PlanOwner, error: DbErr },
}

/// Whether a failed statement (run on its own, in autocommit) certainly wrote nothing: the
/// database answered with an error (a lock wait that timed out, a constraint), so the statement
/// was rolled back, or no connection was had to send it on. Any other failure (the connection
/// lost while waiting for the answer) may have come after the commit.
pub(super) fn wrote_nothing(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            matches!(
                **error,
                sqlx::Error::Database(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
            )
        }
        _ => false,
    }
}

/// The columns `changes` sets, and only those.
fn changes_model(changes: &PlanChanges) -> plan::ActiveModel {
    fn set<T: Into<sea_orm::Value>>(value: Option<T>) -> ActiveValue<T> {
        value.map_or(NotSet, Set)
    }
    plan::ActiveModel {
        id: NotSet,
        user_id: set(changes.user_id),
        name: set(changes.name.clone()),
        connection_type: set(changes.connection_type),
        price_cents: set(changes.price_cents),
        duration_minutes: set(changes.duration_minutes),
        created_at: NotSet,
    }
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

#[cfg(test)]
mod tests {
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{ConnectOptions, Database};

    use super::*;

    /// One in-memory SQLite database (one connection: each would have its own), migrated.
    async fn repo() -> PlanRepo {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        PlanRepo::new(db)
    }

    fn owner(user_id: i32, connection_type: ConnectionType) -> PlanOwner {
        PlanOwner {
            user_id,
            connection_type,
        }
    }

    fn moving_to(user_id: i32, connection_type: ConnectionType) -> PlanChanges {
        PlanChanges {
            user_id: Some(user_id),
            connection_type: Some(connection_type),
            ..PlanChanges::default()
        }
    }

    #[tokio::test]
    async fn a_move_applies_only_while_the_plan_is_where_it_was_read() {
        let repo = repo().await;
        let plan = repo
            .insert(NewPlan {
                user_id: 1,
                name: "moves".to_owned(),
                connection_type: ConnectionType::Hotspot,
                price_cents: 100,
                duration_minutes: 60,
            })
            .await
            .expect("insert");
        let read = repo.owner_of(plan.id, None).await.expect("read");
        assert_eq!(read, Some(owner(1, ConnectionType::Hotspot)));

        // Another writer moves it between this writer's read and its update...
        let other = repo
            .update(plan.id, None, &moving_to(2, ConnectionType::Pppoe))
            .await
            .expect("move")
            .expect("found");
        assert_eq!(other.from, owner(1, ConnectionType::Hotspot));
        // ...so the update conditioned on the stale read matches nothing (the caller reads again),
        let stale = moving_to(3, ConnectionType::Static);
        let applied = repo
            .update_where(plan.id, None, read, &stale)
            .await
            .expect("update");
        assert_eq!(applied, None);
        // and a whole update reports where the plan really was: the keys it must drop.
        let moved = repo
            .update(plan.id, None, &stale)
            .await
            .expect("move")
            .expect("found");
        assert_eq!(moved.from, owner(2, ConnectionType::Pppoe));
        assert_eq!(moved.plan.owner(), owner(3, ConnectionType::Static));
    }

    #[tokio::test]
    async fn an_update_that_keeps_owner_and_type_names_its_keys_by_the_row_it_returns() {
        let repo = repo().await;
        let plan = repo
            .insert(NewPlan {
                user_id: 4,
                name: "stays".to_owned(),
                connection_type: ConnectionType::Static,
                price_cents: 100,
                duration_minutes: 60,
            })
            .await
            .expect("insert");
        let repriced = PlanChanges {
            price_cents: Some(250),
            ..PlanChanges::default()
        };
        let updated = repo
            .update(plan.id, None, &repriced)
            .await
            .expect("update")
            .expect("found");
        assert_eq!(updated.from, owner(4, ConnectionType::Static));
        assert_eq!(updated.plan, repriced.applied_to(&plan));
        // Another operator's id answers as a missing one, and nothing changes.
        assert!(
            repo.update(plan.id, Some(5), &repriced)
                .await
                .expect("update")
                .is_none()
        );
        assert!(
            repo.update(plan.id + 1, None, &repriced)
                .await
                .expect("update")
                .is_none()
        );
    }
}
