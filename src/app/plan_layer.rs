//! The plan layer, started in order: the plan service and its caches, the consistency origin,
//! the change feed (on PostgreSQL, listening before the cache is warmed, so no change can fall
//! between the two), then the warm-up.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};
use tracing::{info, warn};

use super::StartupError;
use super::settings::{cache_settings, live_settings};
use crate::Config;
use crate::cache::CacheMetrics;
use crate::plans::change_feed::{self, ChangeFeed, ChangeFeedMetrics};
use crate::plans::{
    Consistency, ConsistencyMetrics, ConsistencySettings, LiveMetrics, PlanService,
};

/// The started plan layer.
pub(super) struct PlanLayer {
    pub plans: Arc<PlanService>,
    pub consistency: Arc<Consistency>,
    /// Keeps the PostgreSQL change listener running as long as the server.
    pub change_feed: Option<ChangeFeed>,
}

/// Builds, connects and warms the plan layer on `db`, its metrics in `metrics`.
pub(super) async fn start(
    config: &Config,
    db: DatabaseConnection,
    metrics: &prometheus::Registry,
) -> Result<PlanLayer, StartupError> {
    let cache_metrics = CacheMetrics::register(metrics, "plan_cache")?;
    let backend = db.get_database_backend();
    let plans = Arc::new(PlanService::with_live_lists(
        db.clone(),
        cache_settings(config),
        cache_metrics,
        live_settings(config),
        LiveMetrics::register(metrics)?,
    ));
    let listens = backend == DbBackend::Postgres && config.database.plan_cache_listen;
    let feed_schema = match listens {
        true => Some(
            change_feed::current_schema(&db)
                .await
                .map_err(StartupError::ChangeFeed)?,
        ),
        false => None,
    };
    let consistency = Arc::new(
        Consistency::load(
            db.clone(),
            feed_schema.as_deref(),
            ConsistencySettings {
                max_wait: config.consistency.max_wait(),
            },
            ConsistencyMetrics::register(metrics)?,
        )
        .await
        .map_err(StartupError::Consistency)?,
    );
    let change_feed = if listens {
        let feed = ChangeFeed::start(
            &config.database.database_url,
            &db,
            plans.clone(),
            consistency.clone(),
            ChangeFeedMetrics::register(metrics)?,
            config.database.database_timeout(),
        )
        .await
        .map_err(StartupError::ChangeFeed)?;
        // Listen before warming, so no change can fall between the two.
        if !feed
            .wait_connected(config.database.database_timeout())
            .await
        {
            warn!(
                "Plan change listener not connected yet; reading through to the database until it is"
            );
        }
        Some(feed)
    } else {
        if backend == DbBackend::Postgres {
            warn!(
                "PLAN_CACHE_LISTEN is off: changes made by other replicas or plain SQL are seen after PLAN_CACHE_TTL"
            );
        } else {
            info!(
                "SQLite: single-replica mode; changes made to the database behind this server's back are seen after PLAN_CACHE_TTL"
            );
        }
        None
    };
    plans
        .warm_up(config.database.plan_cache_max_entries)
        .await
        .map_err(StartupError::WarmUp)?;

    Ok(PlanLayer {
        plans,
        consistency,
        change_feed,
    })
}
