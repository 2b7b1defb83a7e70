//! The sea-orm queries behind [`super::PlanService`]; nothing else runs plan SQL.

use std::sync::LazyLock;

use chrono::{DateTime, SubsecRound, Utc};
use futures::TryStreamExt;
use sea_orm::{
    ActiveEnum,
    ActiveValue::{self, NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, RuntimeErr,
    Statement, TransactionTrait, sqlx,
};

mod settled;

use settled::{SettledOrClosed, no_transaction_was_open, sqlx_error};

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
    /// `UPDATE … RETURNING` returns. A change that may move the plan also needs the row as it was:
    /// see [`Self::update_moving`]. Either way one round trip, as for an insert.
    pub(super) async fn update(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, UpdateFailed> {
        if changes.can_move() {
            return self.update_moving(id, owner, changes).await;
        }
        match update_returning(&self.db, id, owner, changes).await {
            Ok(updated) => Ok(updated.map(|plan| Updated {
                from: plan.owner(),
                plan,
            })),
            Err(error) if wrote_nothing(&error) => Err(UpdateFailed::BeforeWriting(error)),
            Err(error) => Err(UpdateFailed::Unknown(error)),
        }
    }

    /// A change that may move the plan: the row's owner and type before and the row after, from
    /// one command to the database. (A transaction of `BEGIN`, `SELECT … FOR UPDATE`, `UPDATE`,
    /// `COMMIT` cost four round trips, 1.37x a `createPlan`; this costs 1.05-1.16x, the database's
    /// own share: see `benches/writes.rs` and the book, docs/src/write-benchmarks.md.)
    async fn update_moving(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, UpdateFailed> {
        let outcome = match self.db.get_database_backend() {
            DbBackend::Sqlite => self.update_moving_sqlite(id, owner, changes).await,
            _ => self.update_moving_postgres(id, owner, changes).await,
        };
        outcome.map_err(|error| {
            if wrote_nothing(&error) {
                UpdateFailed::BeforeWriting(error)
            } else {
                UpdateFailed::Unknown(error)
            }
        })
    }

    /// PostgreSQL: one statement. The subquery locks the row and reads it as it is now (a
    /// concurrent update commits first and is seen; a concurrent delete leaves nothing to update),
    /// and `RETURNING` names both its values and the updated row's.
    async fn update_moving_postgres(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, DbErr> {
        static MOVE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE plans SET {SET_CHANGES} \
                 FROM (SELECT {BEFORE} FROM plans WHERE {THE_ROW} FOR UPDATE) AS before \
                 WHERE id = before_id RETURNING {PLAN_COLUMNS}, before_user_id, before_connection_type"
            )
        });
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            MOVE.as_str(),
            [
                id.into(),
                owner.into(),
                changes.user_id.into(),
                changes.name.clone().into(),
                changes.connection_type.map(|kind| kind.to_value()).into(),
                changes.price_cents.into(),
                changes.duration_minutes.into(),
            ],
        );
        match self.db.query_one_raw(statement).await? {
            Some(row) => moved(&row, &row).map(Some),
            None => Ok(None),
        }
    }

    /// SQLite: one command of four statements run by the connection's worker thread in one go
    /// (sqlx runs them in order; `$n` names the same argument in each). `BEGIN IMMEDIATE` takes
    /// the write lock first, so the row read is the row updated.
    async fn update_moving_sqlite(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: &PlanChanges,
    ) -> Result<Option<Updated>, DbErr> {
        static MOVE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "BEGIN IMMEDIATE; \
                 SELECT {BEFORE} FROM plans WHERE {THE_ROW}; \
                 UPDATE plans SET {SET_CHANGES} WHERE {THE_ROW} RETURNING {PLAN_COLUMNS}; \
                 COMMIT"
            )
        });
        let mut connection = SettledOrClosed::new(
            self.db
                .get_sqlite_connection_pool()
                .acquire()
                .await
                .map_err(sqlx_error)?,
        );
        let rows = sqlx::query(MOVE.as_str())
            .bind(id)
            .bind(owner)
            .bind(changes.user_id)
            .bind(changes.name.as_deref())
            .bind(changes.connection_type.map(|kind| kind.to_value()))
            .bind(changes.price_cents)
            .bind(changes.duration_minutes)
            .fetch_all(connection.get())
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(error) => {
                // A failed statement leaves the transaction open on this connection.
                match sqlx::query("ROLLBACK").execute(connection.get()).await {
                    Ok(_) => connection.settled(),
                    Err(rollback) if no_transaction_was_open(&rollback) => connection.settled(),
                    Err(_) => {}
                }
                return Err(sqlx_error(error));
            }
        };
        connection.settled();
        // The SELECT's row, then the UPDATE's; none if there was no such plan.
        let mut rows = rows.into_iter().map(QueryResult::from);
        let (Some(before), Some(after)) = (rows.next(), rows.next()) else {
            return Ok(None);
        };
        moved(&before, &after).map(Some)
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

// The pieces of a move's SQL, the same on both databases: `$1` the id, `$2` the owner (null: any),
// `$3`.. the changes (null: kept).
const THE_ROW: &str = "id = $1 AND ($2 IS NULL OR user_id = $2)";
const SET_CHANGES: &str = "user_id = COALESCE($3, user_id), name = COALESCE($4, name), \
    connection_type = COALESCE($5, connection_type), price_cents = COALESCE($6, price_cents), \
    duration_minutes = COALESCE($7, duration_minutes)";
const PLAN_COLUMNS: &str =
    "id, user_id, name, connection_type, price_cents, duration_minutes, created_at";
/// The row before the move, under names of its own (PostgreSQL joins it to the updated row).
const BEFORE: &str =
    "id AS before_id, user_id AS before_user_id, connection_type AS before_connection_type";

/// A move's outcome from the row `before` it (its `BEFORE` columns) and the row `after` it.
fn moved(before: &QueryResult, after: &QueryResult) -> Result<Updated, DbErr> {
    Ok(Updated {
        from: PlanOwner {
            user_id: before.try_get("", "before_user_id")?,
            connection_type: before.try_get("", "before_connection_type")?,
        },
        plan: plan::Model::from_query_result(after, "")?.into(),
    })
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
    /// It may have been written, and where the plan was is unknown.
    Unknown(DbErr),
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
mod tests;
