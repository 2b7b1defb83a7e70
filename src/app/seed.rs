//! `plans-api seed-demo`: the deterministic demo data set, loaded into the configured database.

use super::StartupError;
use super::database::connect_and_migrate;
use super::settings::cache_settings;
use crate::Config;
use crate::cache::CacheMetrics;
use crate::plans::PlanService;

/// What `plans-api seed-demo` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// This many plans were added.
    Seeded(u64),
    /// The table already held this many plans, and nothing was added.
    AlreadySeeded(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("could not seed the demo plans: {0}")]
    Plans(#[from] crate::plans::PlanError),
}

/// Loads the deterministic demo data set ([`crate::plans::demo_plans`]) into the configured
/// database. Only into an empty table unless `force`, so re-running does not duplicate it.
/// A running server does not see the new plans until its cache entries expire or it restarts.
pub async fn seed_demo(
    config: &Config,
    users: u32,
    plans_per_user: u32,
    force: bool,
) -> Result<SeedOutcome, SeedError> {
    let db = connect_and_migrate(config).await?;
    let metrics = CacheMetrics::register(&prometheus::Registry::new(), "seed_cache")
        .map_err(StartupError::Metrics)?;
    let plans = PlanService::new(db, cache_settings(config), metrics);
    let existing = plans.count().await?;
    if existing > 0 && !force {
        return Ok(SeedOutcome::AlreadySeeded(existing));
    }
    let seeded = plans
        .import(crate::plans::demo_plans(users, plans_per_user))
        .await?;
    Ok(SeedOutcome::Seeded(seeded))
}
