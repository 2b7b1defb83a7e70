use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{DatabaseConnection, DbErr};
use tracing::{Instrument as _, info, info_span, instrument, warn};

use super::consistency::Freshness;
use super::live::{LiveList, LiveLists, LiveMetrics, LiveSettings};
use super::reads::{PlanRead, Served};
use super::repo::{self, PlanRepo, UpdateFailed};
use super::validation::{self, InvalidInput};
use super::{
    Actor, NewPlan, Page, PageRequest, Plan, PlanChanges, PlanDraft, PlanFilter, PlanId, PlanKey,
    PlanList, PlanOwner,
};
use crate::cache::{Cache, CacheMetrics, CacheSettings};

mod bulk;

pub use bulk::WarmUpReport;

/// What a plan operation can fail with. Messages are for logs; the GraphQL layer decides what a
/// client sees.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// A valid request the actor's role may not make (an operator creating for, or moving a
    /// plan to, another operator).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("database error: {0}")]
    Database(#[source] Arc<DbErr>),
    #[error("more than {max} live subscriptions")]
    SubscriptionLimit { max: usize },
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl From<DbErr> for PlanError {
    fn from(err: DbErr) -> Self {
        Self::Database(Arc::new(err))
    }
}

/// The one owner of plan reads, writes and the plan cache. Reads go through the cache; writes go
/// to the database and then invalidate exactly the keys they changed, before returning.
pub struct PlanService {
    repo: PlanRepo,
    cache: Arc<Cache<PlanKey, PlanList>>,
    /// The watched keys' channels: woken by every invalidation of the cache, right after it.
    live: Arc<LiveLists>,
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
    pub fn with_live_lists(
        db: DatabaseConnection,
        settings: CacheSettings,
        metrics: CacheMetrics,
        live: LiveSettings,
        live_metrics: LiveMetrics,
    ) -> Self {
        Self {
            repo: PlanRepo::new(db),
            cache: Arc::new(Cache::new(settings, metrics)),
            live: Arc::new(LiveLists::new(live, live_metrics)),
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
    pub async fn watch_with(
        self: &Arc<Self>,
        filter: PlanFilter,
        freshness: Freshness,
    ) -> Result<LiveList, PlanError> {
        validation::check_filter(&filter)?;
        LiveList::start(&self.live, self, PlanKey::for_filter(filter), freshness).await
    }

    /// Completes every live subscription (for shutdown).
    pub fn shut_down_live_lists(&self) {
        self.live.shut_down();
    }

    /// Live subscriptions open now.
    pub fn live_subscriptions(&self) -> usize {
        self.live.active()
    }

    /// Keys watched by at least one live subscription now.
    pub fn watched_keys(&self) -> usize {
        self.live.watched_keys()
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
    pub async fn page_with(
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
    pub fn is_caching(&self) -> bool {
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
    pub async fn get_with(
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

    /// Creates a plan as `actor`: the admin names the owner (`input.userId` is required); an
    /// operator creates for itself (the owner may be left out, and naming another operator is
    /// [`PlanError::Forbidden`], with nothing written).
    pub async fn create_as(&self, actor: Actor, draft: PlanDraft) -> Result<Plan, PlanError> {
        let user_id = match (actor, draft.user_id) {
            (Actor::Admin, Some(user_id)) => user_id,
            (Actor::Admin, None) => {
                return Err(validation::invalid(
                    "input.userId",
                    "is required for the admin: say which operator the plan is for",
                )
                .into());
            }
            (Actor::Operator(me), None) => me,
            (Actor::Operator(me), Some(user_id)) if user_id == me => me,
            (Actor::Operator(_), Some(other)) => {
                // An invalid input is refused as such first.
                validation::check_new_plan(draft.owned_by(other))?;
                return Err(PlanError::Forbidden(
                    "an operator creates plans only for itself",
                ));
            }
        };
        self.create(draft.owned_by(user_id)).await
    }

    /// Updates a plan as `actor`: an operator changes only its own plans (any other id is
    /// answered `Ok(None)`, as for an id that does not exist, and nothing changes) and may not
    /// move one to another operator ([`PlanError::Forbidden`], decided from the input alone, so
    /// it tells nothing about other operators' plans).
    pub async fn update_as(
        &self,
        actor: Actor,
        id: PlanId,
        changes: PlanChanges,
    ) -> Result<Option<Plan>, PlanError> {
        match actor {
            Actor::Admin => self.update_owned(id, None, changes).await,
            Actor::Operator(me) => {
                if changes.user_id.is_some_and(|user_id| user_id != me) {
                    validation::check_changes(changes)?;
                    return Err(PlanError::Forbidden(
                        "only the admin moves a plan to another operator",
                    ));
                }
                self.update_owned(id, Some(me), changes).await
            }
        }
    }

    /// Deletes a plan as `actor`: an operator deletes only its own (`Ok(false)` for any other id,
    /// as for one that does not exist).
    pub async fn delete_as(&self, actor: Actor, id: PlanId) -> Result<bool, PlanError> {
        match actor {
            Actor::Admin => self.delete_owned(id, None).await,
            Actor::Operator(me) => self.delete_owned(id, Some(me)).await,
        }
    }

    /// Validates and stores a new plan, then invalidates the four keys it belongs to. (No
    /// ownership rule: the admin's create; see [`Self::create_as`].)
    #[instrument(name = "plans.create", skip_all, fields(user_id = new.user_id))]
    pub async fn create(&self, new: NewPlan) -> Result<Plan, PlanError> {
        let new = validation::check_new_plan(new)?;
        let (repo, cache, live) = (self.repo.clone(), self.cache.clone(), self.live.clone());
        run_to_completion(async move {
            let (user_id, connection_type) = (new.user_id, new.connection_type);
            match repo.insert(new).await {
                Ok(plan) => {
                    invalidate_for(&cache, &live, &plan, "created").await;
                    Ok(plan)
                }
                Err(err) if repo::wrote_nothing(&err) => Err(err.into()),
                Err(err) => {
                    // The insert may have committed before the error (a dropped connection): its
                    // keys are dropped anyway, which costs a reload and is never wrong.
                    let keys = PlanKey::affected_by(user_id, connection_type);
                    cache.invalidate(&keys).await;
                    live.wake(&keys);
                    Err(err.into())
                }
            }
        })
        .await
    }

    /// Deletes a plan as the admin; `Ok(false)` if there was none with that id.
    pub async fn delete(&self, id: PlanId) -> Result<bool, PlanError> {
        self.delete_owned(id, None).await
    }

    /// Deletes a plan (only if `owner` owns it, when given).
    #[instrument(name = "plans.delete", skip(self))]
    async fn delete_owned(&self, id: PlanId, owner: Option<i32>) -> Result<bool, PlanError> {
        let (repo, cache, live) = (self.repo.clone(), self.cache.clone(), self.live.clone());
        run_to_completion(async move {
            match repo.delete(id, owner).await {
                Ok(Some(plan)) => {
                    invalidate_for(&cache, &live, &plan, "deleted").await;
                    Ok(true)
                }
                Ok(None) => Ok(false),
                Err(err) if repo::wrote_nothing(&err) => Err(err.into()),
                Err(err) => {
                    // Whether the delete committed is unknown, and so is the plan's owner.
                    warn!(plan_id = id, "delete failed; dropping the whole plan cache");
                    cache.invalidate_all().await;
                    live.wake_all();
                    Err(err.into())
                }
            }
        })
        .await
    }

    /// Changes the given fields of a plan (validated as for a new plan; at least one), then
    /// invalidates the keys of the plan before *and* after the change: the same four when owner
    /// and type stay, up to seven when it moves. `Ok(None)` if there is no plan with that id.
    /// Its id and creation time never change.
    /// (As the admin; see [`Self::update_as`].)
    pub async fn update(
        &self,
        id: PlanId,
        changes: PlanChanges,
    ) -> Result<Option<Plan>, PlanError> {
        self.update_owned(id, None, changes).await
    }

    /// Updates a plan (only if `owner` owns it, when given).
    #[instrument(name = "plans.update", skip(self, changes))]
    async fn update_owned(
        &self,
        id: PlanId,
        owner: Option<i32>,
        changes: PlanChanges,
    ) -> Result<Option<Plan>, PlanError> {
        let changes = validation::check_changes(changes)?;
        let (repo, cache, live) = (self.repo.clone(), self.cache.clone(), self.live.clone());
        run_to_completion(async move {
            match repo.update(id, owner, &changes).await {
                Ok(Some(updated)) => {
                    let keys = keys_changed([updated.from, updated.plan.owner()]);
                    // The wake-up in the span too: live lists' events link to it.
                    async {
                        cache.invalidate(&keys).await;
                        live.wake(&keys);
                    }
                    .instrument(info_span!("plans.invalidate", change = "updated"))
                    .await;
                    info!(
                        plan_id = id,
                        change = "updated",
                        keys = %join_keys(&keys),
                        "Plan cache invalidated"
                    );
                    Ok(Some(updated.plan))
                }
                Ok(None) => Ok(None),
                Err(UpdateFailed::BeforeWriting(error)) => Err(error.into()),
                Err(UpdateFailed::Unknown(error)) => {
                    // It may have committed (a connection lost on the way back), and which
                    // operator's plan it was is unknown.
                    warn!(
                        plan_id = id,
                        "update failed after it was sent; dropping the whole plan cache"
                    );
                    cache.invalidate_all().await;
                    live.wake_all();
                    Err(error.into())
                }
            }
        })
        .await
    }

    /// Whether the database answers.
    pub async fn database_is_up(&self) -> bool {
        self.repo.ping().await.is_ok()
    }

    /// Brings the entry-count gauge up to date (called before metrics are scraped).
    pub async fn refresh_metrics(&self) {
        self.cache.entry_count().await;
    }

    /// Drops the whole plan cache (e.g. after changes made behind the server's back).
    pub async fn invalidate_all(&self) {
        self.cache.invalidate_all().await;
        self.live.wake_all();
        info!(keys = "all", "Plan cache invalidated");
    }

    /// A change made anywhere (another replica, plain SQL), as announced by the change feed:
    /// drops the keys of the plan's owner and type before and after the change. (In a span of its
    /// own, for the live lists' events to link to.)
    #[instrument(name = "plans.invalidate", skip_all, fields(source = "change feed"))]
    pub async fn apply_external_change(&self, before: Option<PlanOwner>, after: Option<PlanOwner>) {
        let keys = keys_changed(before.into_iter().chain(after));
        self.cache.invalidate(&keys).await;
        self.live.wake(&keys);
        info!(
            source = "change feed",
            keys = %join_keys(&keys),
            "Plan cache invalidated"
        );
    }

    /// Stops trusting the cache: until [`PlanService::resume_caching`], reads go to the database.
    pub fn suspend_caching(&self) {
        self.read_through.store(true, Ordering::SeqCst);
    }

    /// Trusts the cache again after changes may have been missed: drops everything (fencing
    /// loads in flight), then serves from the cache again.
    pub async fn resume_caching(&self) {
        self.cache.invalidate_all().await;
        self.read_through.store(false, Ordering::SeqCst);
        // After the flag: the reloads the wake-up causes go through the (fenced) cache again.
        self.live.wake_all();
        info!(keys = "all", "Plan cache invalidated; caching resumed");
    }
}

/// Runs a write and its invalidation as one task that finishes even if the caller goes away (a
/// request timeout, a client hanging up): otherwise a write could commit and its invalidation
/// never run, leaving the cache stale until the TTL.
async fn run_to_completion<T: Send + 'static>(
    write: impl Future<Output = T> + Send + 'static,
) -> T {
    // In the caller's span, so the write and its invalidation show in the request's trace.
    match tokio::spawn(write.in_current_span()).await {
        Ok(output) => output,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Cancelled only when the runtime shuts down, which is ending this caller too.
        Err(_) => std::future::pending().await,
    }
}

/// The keys of every owner in `owners`, each once: for a change from one owner and type to
/// another, `plans` and the old and new owner, type and owner-type keys (at most seven).
fn keys_changed(owners: impl IntoIterator<Item = PlanOwner>) -> Vec<PlanKey> {
    let mut keys: Vec<PlanKey> = Vec::with_capacity(8);
    for owner in owners {
        for key in PlanKey::affected_by(owner.user_id, owner.connection_type) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys
}

fn join_keys(keys: &[PlanKey]) -> String {
    keys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[instrument(name = "plans.invalidate", skip(cache, live, plan))]
async fn invalidate_for(
    cache: &Cache<PlanKey, PlanList>,
    live: &LiveLists,
    plan: &Plan,
    change: &'static str,
) {
    let keys = PlanKey::affected_by(plan.user_id, plan.connection_type);
    cache.invalidate(&keys).await;
    live.wake(&keys);
    info!(
        plan_id = plan.id,
        change,
        keys = %keys.map(|key| key.to_string()).join(","),
        "Plan cache invalidated"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plans::ConnectionType;

    fn owner(user_id: i32, connection_type: ConnectionType) -> PlanOwner {
        PlanOwner {
            user_id,
            connection_type,
        }
    }

    fn keys(owners: &[PlanOwner]) -> Vec<String> {
        keys_changed(owners.iter().copied())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_change_touches_the_keys_before_and_after_each_once() {
        let hotspot_1 = owner(1, ConnectionType::Hotspot);
        assert_eq!(keys(&[hotspot_1, hotspot_1]).len(), 4);
        assert_eq!(
            keys(&[hotspot_1, owner(2, ConnectionType::Hotspot)]),
            [
                "plans",
                "plans:user_1",
                "plans:type_hotspot",
                "plans:user_1:type_hotspot",
                "plans:user_2",
                "plans:user_2:type_hotspot",
            ]
        );
        assert_eq!(
            keys(&[hotspot_1, owner(1, ConnectionType::Static)]).len(),
            6
        );
        // A move to another owner and type: the most a change touches.
        assert_eq!(
            keys(&[hotspot_1, owner(2, ConnectionType::Pppoe)]),
            [
                "plans",
                "plans:user_1",
                "plans:type_hotspot",
                "plans:user_1:type_hotspot",
                "plans:user_2",
                "plans:type_pppoe",
                "plans:user_2:type_pppoe",
            ]
        );
    }
}
