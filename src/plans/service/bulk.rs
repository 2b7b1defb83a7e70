//! Many plans at once: warming the whole cache at start-up, importing a data set.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::{info, instrument};

use super::{PlanError, PlanService};
use crate::plans::validation::{self, InvalidInput};
use crate::plans::{ConnectionType, NewPlan, Plan, PlanFilter, PlanKey};

/// Rows per INSERT statement in [`PlanService::import`]: 7 bind parameters a row stays far below
/// SQLite's (32,766) and PostgreSQL's (65,535) limits, and big batches amortise round trips.
const IMPORT_BATCH_ROWS: usize = 1_000;

/// What start-up warming loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmUpReport {
    pub plans: usize,
    pub keys: usize,
}

impl PlanService {
    /// Validates every plan, then stores them all in one transaction (nothing is written if any
    /// is invalid or an insert fails) and drops the whole cache: a bulk load touches most keys.
    /// Returns how many plans were stored.
    #[instrument(skip_all, fields(plans = plans.len()))]
    pub async fn import(&self, plans: Vec<NewPlan>) -> Result<u64, PlanError> {
        let plans = plans
            .into_iter()
            .enumerate()
            .map(|(index, plan)| {
                validation::check_new_plan(plan).map_err(|invalid| InvalidInput {
                    message: format!("plan #{index}: {}", invalid.message),
                    ..invalid
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let result = self.repo.insert_all(plans, IMPORT_BATCH_ROWS).await;
        // Also after a failure: whether the commit happened before the error is unknown.
        self.invalidate_all().await;
        let imported = result?;
        info!(plans = imported, "Imported plans");
        Ok(imported)
    }

    /// How many plans the database holds (read from the database, not the cache).
    pub async fn count(&self) -> Result<u64, PlanError> {
        Ok(self.repo.count().await?)
    }

    /// Loads every plan with one query and fills the whole keyspace from it, most general keys
    /// first, up to the cache's capacity.
    pub async fn warm_up(&self, max_entries: u64) -> Result<WarmUpReport, PlanError> {
        if !self.cache.is_enabled() {
            info!("Plan cache is off (PLAN_CACHE_TTL=0); nothing to warm");
            return Ok(WarmUpReport { plans: 0, keys: 0 });
        }
        let loaded_at = self.cache.stamp();

        let mut lists: HashMap<PlanKey, Vec<Arc<Plan>>> = HashMap::new();
        // Every type key exists even when no plan has that type: an empty list is an answer too.
        for connection_type in [
            ConnectionType::Hotspot,
            ConnectionType::Pppoe,
            ConnectionType::Static,
        ] {
            lists.insert(
                PlanKey::for_filter(PlanFilter {
                    user_id: None,
                    connection_type: Some(connection_type),
                }),
                Vec::new(),
            );
        }
        let plans = self
            .repo
            .for_each(|plan| {
                let plan = Arc::new(plan);
                for key in PlanKey::affected_by(plan.user_id, plan.connection_type) {
                    lists.entry(key).or_default().push(plan.clone());
                }
            })
            .await?;
        lists
            .entry(PlanKey::for_filter(PlanFilter::default()))
            .or_default();

        let mut lists: Vec<(PlanKey, Vec<Arc<Plan>>)> = lists.into_iter().collect();
        // General keys serve the most requests; if the keyspace is larger than the cache, they
        // are the ones kept. Within a shape, lower user ids first, for a deterministic result.
        lists.sort_by_key(|(key, _)| {
            let filter = key.filter();
            (
                filter.user_id.is_some(),
                filter.connection_type.is_some() && filter.user_id.is_some(),
                filter.user_id,
            )
        });
        let capacity = usize::try_from(max_entries).unwrap_or(usize::MAX);
        let mut keys = 0;
        for (key, list) in lists.into_iter().take(capacity) {
            if self.cache.insert(key, list.into(), loaded_at).await {
                keys += 1;
            }
        }
        let report = WarmUpReport { plans, keys };
        info!(
            plans = report.plans,
            keys = report.keys,
            "Plan cache warmed up"
        );
        Ok(report)
    }
}
