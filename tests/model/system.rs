//! The system under test: the real `PlanService` on a migrated SQLite file, with its own metrics,
//! and plain SQL behind its back.

use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait};
use plans_api::cache::{CacheMetrics, CacheSettings};
use plans_api::entities::plan as plan_row;
use plans_api::plans::{
    ConnectionType, Page, PageRequest, Plan, PlanError, PlanFilter, PlanId, PlanService,
};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ActiveModelTrait, Database, DatabaseConnection, EntityTrait};

use crate::TTL;

pub struct System {
    pub service: PlanService,
    /// The service's own connection pool, used for changes behind its back.
    pub db: DatabaseConnection,
    pub metrics: CacheMetrics,
    _dir: tempfile::TempDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub loads: u64,
}

impl System {
    pub async fn start() -> Self {
        // A memory-backed file where there is one: the same SQLite, without waiting for fsync.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("plans.db").display()
        );
        let db = Database::connect(&url).await.expect("connect");
        Migrator::up(&db, None).await.expect("migrate");
        let registry = prometheus::Registry::new();
        let metrics = CacheMetrics::register(&registry, "plan_cache").expect("metrics");
        let settings = CacheSettings {
            ttl: TTL,
            max_entries: 10_000,
        };
        let service = PlanService::new(db.clone(), settings, metrics.clone());
        Self {
            service,
            db,
            metrics,
            _dir: dir,
        }
    }

    /// `list(filter)`: the plans served.
    pub async fn list(&self, filter: PlanFilter) -> Result<Vec<Plan>, PlanError> {
        let plans = self.service.list(filter).await?.value;
        Ok(plans.iter().map(|plan| plan.as_ref().clone()).collect())
    }

    /// `get(id)`: the plan served.
    pub async fn get(&self, id: PlanId) -> Result<Option<Plan>, PlanError> {
        Ok(self.service.get(id).await?.value)
    }

    /// `page(filter, request)`: the page served.
    pub async fn page(&self, filter: PlanFilter, request: PageRequest) -> Result<Page, PlanError> {
        Ok(self.service.page(filter, request).await?.value)
    }

    pub fn counts(&self) -> Counts {
        Counts {
            hits: self.metrics.hits.get(),
            misses: self.metrics.misses.get(),
            loads: self.metrics.db_loads.get(),
        }
    }

    pub async fn sql_insert(&self, user: i32, kind: ConnectionType) -> Plan {
        let row = plan_row::ActiveModel {
            id: NotSet,
            user_id: Set(user),
            name: Set("behind the back".to_owned()),
            connection_type: Set(kind),
            price_cents: Set(500),
            duration_minutes: Set(30),
            created_at: Set(DateTime::<Utc>::from_timestamp(1_767_225_600, 0).expect("time")),
        };
        let model = plan_row::Entity::insert(row)
            .exec_with_returning(&self.db)
            .await
            .expect("SQL insert");
        Plan::from(model)
    }

    pub async fn sql_delete(&self, id: PlanId) {
        plan_row::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .expect("SQL delete");
    }

    pub async fn sql_update(&self, id: PlanId, user: i32, kind: ConnectionType) -> Plan {
        let row = plan_row::ActiveModel {
            id: Set(id),
            user_id: Set(user),
            connection_type: Set(kind),
            ..Default::default()
        };
        Plan::from(row.update(&self.db).await.expect("SQL update"))
    }
}
