//! The sea-orm queries behind [`super::PlanService`]; nothing else runs plan SQL.

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use sea_orm::{
    ActiveValue::{self, NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RuntimeErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait, sqlx,
};

use super::{NewPlan, Plan, PlanChanges, PlanFilter, PlanId, PlanOwner};
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

    /// Changes a plan atomically: a concurrent delete or update lands wholly before or after it.
    /// `Ok(None)` if there is no plan with that id (owned by `owner`, when given; nothing written).
    ///
    /// The caller must invalidate the keys the plan was in as well as those it is in now. When the
    /// changes keep its owner and type, those are the same keys, named by the row that one
    /// `UPDATE … RETURNING` returns: as cheap as an insert. A change that may move the plan runs
    /// in a transaction that first locks and reads its row, to learn where it was.
    pub(super) async fn update(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, UpdateFailed> {
        if changes.can_move() {
            return self.update_locked(id, owner, changes).await;
        }
        match update_returning(&self.db, id, owner, changes).await {
            Ok(updated) => Ok(updated.map(|plan| Updated {
                from: plan.owner(),
                plan,
            })),
            Err(error) if wrote_nothing(&error) => Err(UpdateFailed::BeforeWriting(error)),
            Err(error) => Err(UpdateFailed::InPlace(error)),
        }
    }

    /// A change that may move the plan: lock and read its row, update it, commit.
    async fn update_locked(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, UpdateFailed> {
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
            .map_err(UpdateFailed::BeforeWriting)?;
        let mut find = plan::Entity::find_by_id(id);
        if let Some(owner) = owner {
            find = find.filter(plan::Column::UserId.eq(owner));
        }
        let Some(row) = find
            .lock_exclusive()
            .one(&transaction)
            .await
            .map_err(UpdateFailed::BeforeWriting)?
        else {
            // Nothing was written; a failed rollback changes nothing either.
            let _ = transaction.rollback().await;
            return Ok(None);
        };
        let from = Plan::from(row).owner();
        // Until COMMIT nothing is written: an error before it rolls back (the transaction is
        // dropped). The row is locked, so the update finds it.
        let plan = update_returning(&transaction, id, owner, changes)
            .await
            .map_err(UpdateFailed::BeforeWriting)?
            .ok_or(UpdateFailed::BeforeWriting(DbErr::RecordNotUpdated))?;
        match transaction.commit().await {
            Ok(()) => Ok(Some(Updated { from, plan })),
            Err(error) if wrote_nothing(&error) => Err(UpdateFailed::BeforeWriting(error)),
            Err(error) => Err(UpdateFailed::Moving { from, error }),
        }
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
    /// The `COMMIT` of an update that may move the plan failed, its outcome unknown; the plan was
    /// owned by `from`.
    Moving { from: PlanOwner, error: DbErr },
}

/// `UPDATE plans SET <changes> WHERE id = ? [AND user_id = owner] RETURNING *`.
async fn update_returning(
    db: &impl ConnectionTrait,
    id: PlanId,
    owner: Option<i32>,
    changes: &PlanChanges,
) -> Result<Option<Plan>, DbErr> {
    let mut update = plan::Entity::update_many()
        .set(changes_model(changes))
        .filter(plan::Column::Id.eq(id));
    if let Some(owner) = owner {
        update = update.filter(plan::Column::UserId.eq(owner));
    }
    let updated = update.exec_with_returning(db).await?;
    Ok(updated.into_iter().next().map(Plan::from))
}

/// Whether a failed statement (run on its own, in autocommit, or a `COMMIT`) certainly wrote nothing: the
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
    use crate::plans::ConnectionType;

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

    async fn insert(repo: &PlanRepo, owner: PlanOwner) -> Plan {
        let new = NewPlan {
            user_id: owner.user_id,
            name: "a plan".to_owned(),
            connection_type: owner.connection_type,
            price_cents: 100,
            duration_minutes: 60,
        };
        repo.insert(new).await.expect("insert")
    }

    #[tokio::test]
    async fn a_move_reports_where_the_plan_was() {
        let repo = repo().await;
        let plan = insert(&repo, owner(1, ConnectionType::Hotspot)).await;
        for (from, to) in [
            (
                owner(1, ConnectionType::Hotspot),
                owner(2, ConnectionType::Pppoe),
            ),
            (
                owner(2, ConnectionType::Pppoe),
                owner(2, ConnectionType::Static),
            ),
            (
                owner(2, ConnectionType::Static),
                owner(3, ConnectionType::Static),
            ),
        ] {
            let changes = PlanChanges {
                user_id: Some(to.user_id),
                connection_type: Some(to.connection_type),
                ..PlanChanges::default()
            };
            let moved = repo
                .update(plan.id, None, &changes)
                .await
                .expect("move")
                .expect("found");
            assert_eq!((moved.from, moved.plan.owner()), (from, to));
        }
        // Only its owner's move applies.
        let changes = PlanChanges {
            connection_type: Some(ConnectionType::Hotspot),
            ..PlanChanges::default()
        };
        assert!(
            repo.update(plan.id, Some(1), &changes)
                .await
                .expect("update")
                .is_none()
        );
    }

    #[tokio::test]
    async fn an_update_that_keeps_owner_and_type_names_its_keys_by_the_row_it_returns() {
        let repo = repo().await;
        let plan = insert(&repo, owner(4, ConnectionType::Static)).await;
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
