//! [`PlanService`]: the one owner of the plan cache. This file holds the service itself and its
//! reads (lists, pages, single plans, live subscriptions, whether a read is still current);
//! writes are in [`writes`], bulk loads (import, warm-up) in [`bulk`], and every invalidation
//! goes through [`super::invalidation`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{DatabaseConnection, DbErr};
use tracing::{info, instrument};

use super::consistency::Freshness;
use super::error::PlanError;
use super::invalidation::Invalidator;
use super::live::{ListSource, LiveList, LiveLists, LiveMetrics, LiveSettings};
use super::reads::{PlanRead, Served};
use super::repo::PlanRepo;
use super::validation;
use super::{Page, PageRequest, Plan, PlanFilter, PlanId, PlanKey, PlanList};
use crate::cache::{Cache, CacheMetrics, CacheSettings};

mod bulk;
mod writes;

pub use bulk::WarmUpReport;

/// The one owner of plan reads, writes and the plan cache. Reads go through the cache; writes go
/// to the database and then invalidate exactly the keys they changed, before returning.
pub struct PlanService {
    repo: PlanRepo,
    cache: Arc<Cache<PlanKey, PlanList>>,
    /// The watched keys' channels: woken by every invalidation of the cache, right after it.
    live: Arc<LiveLists>,
    /// The one way keys of `cache` are dropped (and `live` woken).
    invalidate: Invalidator,
    /// Set while the cache cannot be trusted to hear about changes made elsewhere (the change
    /// feed is disconnected): reads then go straight to the database and fill nothing.
    read_through: AtomicBool,
}

impl PlanService {
    pub fn new(db: DatabaseConnection, settings: CacheSettings, metrics: CacheMetrics) -> Self {
        let live = LiveSettings {
            refresh_every: settings.ttl,
            ..LiveSettings::default()
        };
        Self::with_live_lists(db, settings, metrics, live, LiveMetrics::unregistered())
    }

    /// A service whose live lists have these settings and metrics.
    pub(crate) fn with_live_lists(
        db: DatabaseConnection,
        settings: CacheSettings,
        metrics: CacheMetrics,
        live: LiveSettings,
        live_metrics: LiveMetrics,
    ) -> Self {
        let cache = Arc::new(Cache::new(settings, metrics));
        let live = Arc::new(LiveLists::new(live, live_metrics));
        Self {
            repo: PlanRepo::new(db),
            invalidate: Invalidator::new(cache.clone(), live.clone()),
            cache,
            live,
            read_through: AtomicBool::new(false),
        }
    }

    /// A live subscription to the plans matching `filter`: the current list first, then the
    /// newest list each time it changed (see [`super::live`]). Refused beyond the configured
    /// number of live subscriptions, and once [`Self::shut_down_live_lists`] ran.
    pub async fn watch(self: &Arc<Self>, filter: PlanFilter) -> Result<LiveList, PlanError> {
        self.watch_with(filter, Freshness::Cached).await
    }

    /// [`Self::watch`], its first list read as `freshness` says.
    pub(crate) async fn watch_with(
        self: &Arc<Self>,
        filter: PlanFilter,
        freshness: Freshness,
    ) -> Result<LiveList, PlanError> {
        validation::check_filter(&filter)?;
        LiveList::start(&self.live, self, PlanKey::for_filter(filter), freshness).await
    }

    /// Completes every live subscription (for shutdown).
    pub(crate) fn shut_down_live_lists(&self) {
        self.live.shut_down();
    }

    /// Live subscriptions open now.
    pub(crate) fn live_subscriptions(&self) -> usize {
        self.live.active()
    }

    /// Plans matching `filter`, ordered by id, from the cache when possible, with the read that
    /// vouches for the list.
    /// Its span says whether the plan cache answered (`plans.plan_cache.hit`); a miss's
    /// database load is a child span (`plans.load`).
    pub async fn list(&self, filter: PlanFilter) -> Result<Served<PlanList>, PlanError> {
        self.list_with(filter, Freshness::Cached).await
    }

    /// [`Self::list`], from the database past the cache (filling nothing) when `freshness` says
    /// so (a consistency token this replica could not vouch for in time).
    #[instrument(name = "plans.list", skip(self), fields(
        cache_key = %PlanKey::for_filter(filter),
        plans.plan_cache.hit = tracing::field::Empty,
    ))]
    pub async fn list_with(
        &self,
        filter: PlanFilter,
        freshness: Freshness,
    ) -> Result<Served<PlanList>, PlanError> {
        validation::check_filter(&filter)?;
        let key = PlanKey::for_filter(filter);
        let loaded = AtomicBool::new(false);
        let load = || {
            loaded.store(true, Ordering::Relaxed);
            self.load(key)
        };
        let fetched =
            if freshness == Freshness::Database || self.read_through.load(Ordering::SeqCst) {
                self.cache.load_uncached(load).await
            } else {
                self.cache.get_or_load(&key, load).await
            }
            .map_err(PlanError::Database)?;
        tracing::Span::current().record("plans.plan_cache.hit", !loaded.load(Ordering::Relaxed));
        Ok(Served {
            value: fetched.value,
            read: PlanRead {
                key,
                stamp: fetched.stamp,
                expires_at: fetched.expires_at,
            },
        })
    }

    /// One page of the plans matching `filter`, cut from the same (cached) list [`Self::list`]
    /// serves, with the read that vouches for it: no database query when the key is cached.
    pub async fn page(
        &self,
        filter: PlanFilter,
        request: PageRequest,
    ) -> Result<Served<Page>, PlanError> {
        self.page_with(filter, request, Freshness::Cached).await
    }

    /// [`Self::page`], read as `freshness` says.
    pub(crate) async fn page_with(
        &self,
        filter: PlanFilter,
        request: PageRequest,
        freshness: Freshness,
    ) -> Result<Served<Page>, PlanError> {
        request.check()?;
        let served = self.list_with(filter, freshness).await?;
        let page = request.cut(&served.value)?;
        Ok(served.map(|_| page))
    }

    /// Whether every list in `reads` is still what the cache would serve now: none of their keys
    /// was invalidated since it was loaded. (Expiry is the caller's to check, with
    /// [`PlanRead::expires_at`].) Two atomic loads per read.
    ///
    /// Each read carries the stamp of the *load* its list came from, not the time the caller
    /// started: a request that overlapped a write may have been served the old list after the
    /// write ticked the clock, and only the load's stamp says that list is stale.
    pub fn is_current(&self, reads: &[PlanRead]) -> bool {
        // While the change feed is down nothing can be vouched for.
        !self.read_through.load(Ordering::SeqCst)
            && reads
                .iter()
                .all(|read| self.cache.is_current(&read.key, read.stamp))
    }

    /// Whether plan lists are cached at all (`PLAN_CACHE_TTL` > 0).
    pub(crate) fn is_caching(&self) -> bool {
        self.cache.is_enabled()
    }

    #[instrument(name = "plans.load", skip(self), fields(cache_key = %key))]
    async fn load(&self, key: PlanKey) -> Result<PlanList, DbErr> {
        let plans = self.repo.list(key.filter()).await?;
        info!(
            cache_key = %key,
            plans = plans.len(),
            "Fetched {} plans from DB (cache key: {key})",
            plans.len()
        );
        Ok(plans.into_iter().map(Arc::new).collect())
    }

    /// One plan by id. With the cache on, it is looked up in the cached `plans` list (ordered by
    /// id), so it obeys the same invalidation as every list.
    pub async fn get(&self, id: PlanId) -> Result<Served<Option<Plan>>, PlanError> {
        self.get_with(id, Freshness::Cached).await
    }

    /// [`Self::get`], read as `freshness` says.
    pub(crate) async fn get_with(
        &self,
        id: PlanId,
        freshness: Freshness,
    ) -> Result<Served<Option<Plan>>, PlanError> {
        if freshness == Freshness::Database
            || !self.cache.is_enabled()
            || self.read_through.load(Ordering::SeqCst)
        {
            let stamp = self.cache.stamp();
            let plan = self.repo.get(id).await?;
            return Ok(Served {
                value: plan,
                // Read straight from the database: anything derived from it expires at once.
                read: PlanRead {
                    key: PlanKey::for_filter(PlanFilter::default()),
                    stamp,
                    expires_at: std::time::Instant::now(),
                },
            });
        }
        let all = self.list(PlanFilter::default()).await?;
        Ok(all.map(|all| {
            all.binary_search_by_key(&id, |plan| plan.id)
                .ok()
                .map(|index| Plan::clone(&all[index]))
        }))
    }

    /// Whether the database answers.
    pub(crate) async fn database_is_up(&self) -> bool {
        self.repo.ping().await.is_ok()
    }

    /// Brings the entry-count gauge up to date (called before metrics are scraped).
    pub(crate) async fn refresh_metrics(&self) {
        self.cache.entry_count().await;
    }

    /// Stops trusting the cache: until [`PlanService::resume_caching`], reads go to the database.
    pub fn suspend_caching(&self) {
        self.read_through.store(true, Ordering::SeqCst);
    }
}

/// How live lists read: as every list, through the cache (single-flight, fenced).
impl ListSource for PlanService {
    async fn read(
        &self,
        key: PlanKey,
        freshness: Freshness,
    ) -> Result<Served<PlanList>, PlanError> {
        self.list_with(key.filter(), freshness).await
    }
}
