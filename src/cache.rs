//! A typed cache-aside store over moka: get-or-load with single-flight, and a *fence* that keeps a
//! load which started before an invalidation from ever being served after it.
//!
//! moka merges concurrent misses of a key into one load (`try_get_with`), but it does not fence:
//! invalidating a key does not stop a load already running, and that load then inserts the list it
//! read *before* the write. Worse, a reader arriving after the invalidation joins that old load and
//! is handed the old list. The fence (`src/cache/fence.rs`) closes both holes:
//!
//! * A logical clock ticks once per invalidation. Every entry carries the clock value read just
//!   before its load started (`loaded_at`).
//! * An invalidation of key `k` ticks the clock to `t` and records `t` for `k` (in one of
//!   [`STRIPES`] slots chosen by hashing `k`; two keys sharing a slot only cost a spurious miss).
//! * An entry is served only if `loaded_at >= t` for its slot and for the last `invalidate_all`.
//!   Otherwise it is removed and loaded again.
//!
//! Why that is enough: a writer commits to the database, *then* invalidates, then returns. A load
//! whose stamp is `>= t` read the clock after the tick, so its query started after the commit and
//! sees the write. A load stamped `< t` may not have, and it can never be served once the
//! invalidation has returned. The full argument, and how it is model-checked with loom, is in the
//! `fence` module's documentation. No lock is held on the read path: a hit is one moka lookup
//! plus two atomic loads.

mod fence;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge, Opts, Registry};

use fence::Fence;

/// Slots recording the last invalidation per key hash. Memory stays fixed (512 KiB) however many
/// distinct keys the cache ever sees; a write's keys share a slot with another key's one time in
/// ~16,000, which costs that key one extra miss.
pub const STRIPES: usize = 65_536;

/// How often a reader retries when every load it joins is overtaken by a write, before it answers
/// from a private, uncached load (always correct, never loops).
const MAX_LOAD_ATTEMPTS: usize = 3;

/// Sizing of a [`Cache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long an entry lives after it was loaded. `Duration::ZERO` turns the cache off: every
    /// read calls its loader.
    pub ttl: Duration,
    /// Upper bound on the number of cached keys.
    pub max_entries: u64,
}

/// Prometheus counters of one cache, registered as `{prefix}_hits_total` and so on.
#[derive(Clone)]
pub struct CacheMetrics {
    pub hits: IntCounter,
    pub misses: IntCounter,
    pub db_loads: IntCounter,
    pub invalidations: IntCounter,
    pub entries: IntGauge,
}

impl CacheMetrics {
    pub fn register(registry: &Registry, prefix: &str) -> prometheus::Result<Self> {
        let counter = |name: &str, help: &str| -> prometheus::Result<IntCounter> {
            let counter = IntCounter::with_opts(Opts::new(format!("{prefix}_{name}"), help))?;
            registry.register(Box::new(counter.clone()))?;
            Ok(counter)
        };
        let entries = IntGauge::with_opts(Opts::new(
            format!("{prefix}_entries"),
            "Keys currently held in the cache.",
        ))?;
        registry.register(Box::new(entries.clone()))?;
        Ok(Self {
            hits: counter("hits_total", "Reads answered from the cache.")?,
            misses: counter("misses_total", "Reads that found no current entry.")?,
            db_loads: counter(
                "db_loads_total",
                "Database queries made to fill the cache (concurrent misses of one key share one).",
            )?,
            invalidations: counter("invalidations_total", "Keys invalidated by writes.")?,
            entries,
        })
    }
}

/// A value together with the clock reading taken before it was loaded.
#[derive(Clone)]
struct Stamped<V> {
    loaded_at: u64,
    /// No later than the moment the store will expire the entry (taken just before inserting).
    expires_at: Instant,
    value: V,
}

/// A value as [`Cache::fetch`] served it, with what a caller needs to cache something derived
/// from it under the same rules: the stamp to pass to [`Cache::is_current`] later, and a moment
/// by which the entry has expired (the value must not outlive it).
#[derive(Clone)]
pub struct Fetched<V> {
    pub value: V,
    pub stamp: Stamp,
    pub expires_at: Instant,
}

impl<V> From<Stamped<V>> for Fetched<V> {
    fn from(entry: Stamped<V>) -> Self {
        Self {
            value: entry.value,
            stamp: Stamp(entry.loaded_at),
            expires_at: entry.expires_at,
        }
    }
}

/// A point on the cache's logical clock, taken before loading data that will be inserted with
/// [`Cache::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(u64);

/// Keys with a load or insert under way, so a pattern invalidation can fence entries that are not
/// in the store yet. A key stays registered until its value is in the store.
struct InFlight<K> {
    keys: Mutex<HashMap<K, usize>>,
}

impl<K: Hash + Eq + Clone> InFlight<K> {
    fn enter(&self, key: &K) -> FlightGuard<'_, K> {
        *self.lock().entry(key.clone()).or_insert(0) += 1;
        FlightGuard {
            flights: self,
            key: key.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, usize>> {
        // The map holds plain counters; a panic elsewhere cannot leave it inconsistent.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct FlightGuard<'a, K: Hash + Eq + Clone> {
    flights: &'a InFlight<K>,
    key: K,
}

impl<K: Hash + Eq + Clone> Drop for FlightGuard<'_, K> {
    fn drop(&mut self) {
        let mut keys = self.flights.lock();
        if let Some(count) = keys.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                keys.remove(&self.key);
            }
        }
    }
}

/// A bounded, expiring cache of `K -> V` whose values are loaded on demand. `V` should be cheap to
/// clone (an `Arc`): every hit clones it.
pub struct Cache<K, V> {
    /// `None` when the TTL is zero: the cache is off and every read loads.
    store: Option<moka::future::Cache<K, Stamped<V>>>,
    ttl: Duration,
    fence: Fence,
    in_flight: InFlight<K>,
    metrics: CacheMetrics,
}

impl<K, V> Cache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new(settings: CacheSettings, metrics: CacheMetrics) -> Self {
        let store = (!settings.ttl.is_zero()).then(|| {
            moka::future::Cache::builder()
                .max_capacity(settings.max_entries)
                .time_to_live(settings.ttl)
                .build()
        });
        Self {
            store,
            ttl: settings.ttl,
            fence: Fence::new(STRIPES),
            in_flight: InFlight {
                keys: Mutex::new(HashMap::new()),
            },
            metrics,
        }
    }

    /// Whether values are kept at all (false when the TTL is zero).
    pub fn is_enabled(&self) -> bool {
        self.store.is_some()
    }

    /// The current value of `key`, if one is cached and no invalidation has overtaken it.
    pub async fn get(&self, key: &K) -> Option<V> {
        self.get_stamped(key).await.map(|entry| entry.value)
    }

    async fn get_stamped(&self, key: &K) -> Option<Stamped<V>> {
        let entry = self.store.as_ref()?.get(key).await?;
        self.fence.is_current(key, entry.loaded_at).then_some(entry)
    }

    /// Whether a value of `key` loaded at `stamp` (from [`Fetched::stamp`]) is still current: no
    /// invalidation of `key` (or of everything) has happened since. Two atomic loads, no lock.
    pub fn is_current(&self, key: &K, stamp: Stamp) -> bool {
        self.fence.is_current(key, stamp.0)
    }

    /// Cache-aside read: the cached value, or the result of `load`, which is then cached.
    ///
    /// Concurrent misses of one key share one call of `load`. A load that an invalidation of `key`
    /// overtook is never returned to a reader that arrived after that invalidation, nor kept.
    /// Errors are not cached; every waiter of the failed load gets the same error.
    pub async fn get_or_load<F, Fut, E>(&self, key: &K, load: F) -> Result<V, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        self.fetch(key, load).await.map(|fetched| fetched.value)
    }

    /// [`Cache::get_or_load`], also telling when the value was loaded and until when it may be
    /// kept.
    pub async fn fetch<F, Fut, E>(&self, key: &K, load: F) -> Result<Fetched<V>, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        let Some(store) = &self.store else {
            self.metrics.misses.inc();
            self.metrics.db_loads.inc();
            return self.private_load(load).await;
        };
        if let Some(entry) = self.get_stamped(key).await {
            self.metrics.hits.inc();
            return Ok(entry.into());
        }
        self.metrics.misses.inc();

        let _flight = self.in_flight.enter(key);
        for _ in 0..MAX_LOAD_ATTEMPTS {
            let entry = store
                .try_get_with_by_ref(key, async {
                    let loaded_at = self.fence.now();
                    self.metrics.db_loads.inc();
                    let value = load().await?;
                    Ok::<_, E>(Stamped {
                        loaded_at,
                        expires_at: Instant::now() + self.ttl,
                        value,
                    })
                })
                .await?;
            if self.fence.is_current(key, entry.loaded_at) {
                return Ok(entry.into());
            }
            // An invalidation overtook this load (or this entry): drop it, unless a newer entry
            // has already replaced it, and load again.
            self.remove_if_stale(store, key).await;
        }
        // Writes keep overtaking every load; a private load is still correct, and cannot loop.
        self.metrics.db_loads.inc();
        self.private_load(load).await
    }

    /// A load that is not cached; what it returns expires at once.
    async fn private_load<F, Fut, E>(&self, load: F) -> Result<Fetched<V>, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let stamp = self.stamp();
        let value = load().await.map_err(Arc::new)?;
        Ok(Fetched {
            value,
            stamp,
            expires_at: Instant::now(),
        })
    }

    /// Calls `load` without looking at or filling the cache (counted as a miss and a load), for
    /// when the cache is off or its owner knows it cannot be trusted; the value expires at once.
    pub async fn load_uncached<F, Fut, E>(&self, load: F) -> Result<Fetched<V>, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.metrics.misses.inc();
        self.metrics.db_loads.inc();
        self.private_load(load).await
    }

    /// The clock reading to pass to [`Cache::insert`]; take it *before* reading the data.
    pub fn stamp(&self) -> Stamp {
        Stamp(self.fence.now())
    }

    /// Caches `value` read from the source after `loaded_at` was taken. Refused (and `false`
    /// returned) if an invalidation has overtaken it since.
    pub async fn insert(&self, key: K, value: V, loaded_at: Stamp) -> bool {
        let Some(store) = &self.store else {
            return false;
        };
        let _flight = self.in_flight.enter(&key);
        let Stamp(loaded_at) = loaded_at;
        if !self.fence.admits_insert(&key, loaded_at) {
            return false;
        }
        let expires_at = Instant::now() + self.ttl;
        store
            .insert(
                key,
                Stamped {
                    loaded_at,
                    expires_at,
                    value,
                },
            )
            .await;
        true
    }

    /// Drops exactly `keys`. When this returns, no value loaded before the call is served again.
    pub async fn invalidate(&self, keys: &[K]) {
        let at = self.fence.tick();
        for key in keys {
            self.fence.fence_key(key, at);
        }
        if let Some(store) = &self.store {
            for key in keys {
                store.invalidate(key).await;
            }
        }
        self.metrics.invalidations.inc_by(keys.len() as u64);
    }

    /// Drops every key for which `matches` holds, including keys being loaded right now.
    pub async fn invalidate_matching(&self, matches: impl Fn(&K) -> bool) {
        let at = self.fence.tick();
        self.fence.fence_inserts(at);
        // Keys still loading: their entries are not in the store yet, so fence them by key.
        for key in self.in_flight.lock().keys().filter(|key| matches(key)) {
            self.fence.fence_key(key, at);
        }
        let Some(store) = &self.store else {
            return;
        };
        // A key leaves the in-flight set only once its entry is in the store, so this pass sees
        // every entry the first one did not.
        let stored: Vec<Arc<K>> = store
            .iter()
            .map(|(key, _)| key)
            .filter(|key| matches(key))
            .collect();
        for key in &stored {
            self.fence.fence_key(key.as_ref(), at);
            store.invalidate(key.as_ref()).await;
        }
        self.metrics.invalidations.inc_by(stored.len() as u64);
    }

    /// Drops everything, including values being loaded right now.
    pub async fn invalidate_all(&self) {
        let at = self.fence.tick();
        self.fence.fence_all(at);
        if let Some(store) = &self.store {
            self.metrics.invalidations.inc_by(store.entry_count());
            store.invalidate_all();
        }
    }

    /// Number of cached keys, after applying pending evictions (moka counts lazily).
    pub async fn entry_count(&self) -> u64 {
        let Some(store) = &self.store else {
            return 0;
        };
        store.run_pending_tasks().await;
        let count = store.entry_count();
        self.metrics
            .entries
            .set(i64::try_from(count).unwrap_or(i64::MAX));
        count
    }

    async fn remove_if_stale(&self, store: &moka::future::Cache<K, Stamped<V>>, key: &K) {
        let fence = &self.fence;
        store
            .entry_by_ref(key)
            .and_compute_with(|entry| {
                let stale =
                    entry.is_some_and(|entry| !fence.is_current(key, entry.value().loaded_at));
                std::future::ready(if stale {
                    moka::ops::compute::Op::Remove
                } else {
                    moka::ops::compute::Op::Nop
                })
            })
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use tokio::sync::{Barrier, Notify};

    fn cache(ttl: Duration) -> Cache<String, Arc<str>> {
        let metrics = CacheMetrics::register(&Registry::new(), "test_cache").unwrap();
        Cache::new(
            CacheSettings {
                ttl,
                max_entries: 100,
            },
            metrics,
        )
    }

    fn key(name: &str) -> String {
        name.to_owned()
    }

    async fn load_ok(value: &str) -> Result<Arc<str>, String> {
        Ok(Arc::from(value))
    }

    #[tokio::test]
    async fn caches_a_loaded_value_until_invalidated() {
        let cache = cache(Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        let load = || {
            loads.fetch_add(1, Ordering::SeqCst);
            load_ok("v1")
        };
        assert_eq!(&*cache.get_or_load(&key("a"), load).await.unwrap(), "v1");
        assert_eq!(&*cache.get_or_load(&key("a"), load).await.unwrap(), "v1");
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.metrics.hits.get(), 1);
        assert_eq!(cache.metrics.misses.get(), 1);

        cache.invalidate(&[key("a")]).await;
        assert!(cache.get(&key("a")).await.is_none());
        cache.get_or_load(&key("a"), load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_misses_share_one_load() {
        let cache = Arc::new(cache(Duration::from_secs(60)));
        let loads = Arc::new(AtomicUsize::new(0));
        let barrier = Arc::new(Barrier::new(50));
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let (cache, loads, barrier) = (cache.clone(), loads.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    cache
                        .get_or_load(&key("hot"), || {
                            let loads = loads.clone();
                            async move {
                                loads.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(50)).await;
                                load_ok("v").await
                            }
                        })
                        .await
                        .unwrap()
                })
            })
            .collect();
        for reader in readers {
            assert_eq!(&*reader.await.unwrap(), "v");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.metrics.db_loads.get(), 1);
    }

    /// The race moka alone loses: a load starts, a write invalidates the key, the old load
    /// finishes. Neither its value nor a reader that joined it after the write may see old data.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_overtaken_by_an_invalidation_is_never_served_after_it() {
        let cache = Arc::new(cache(Duration::from_secs(60)));
        let source = Arc::new(Mutex::new("old"));
        let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));

        let slow_reader = tokio::spawn({
            let (cache, source) = (cache.clone(), source.clone());
            let (started, release) = (started.clone(), release.clone());
            async move {
                let first = AtomicBool::new(true);
                cache
                    .get_or_load(&key("k"), || {
                        let value = *source.lock().unwrap();
                        let blocks = first.swap(false, Ordering::SeqCst);
                        let (started, release) = (started.clone(), release.clone());
                        async move {
                            if blocks {
                                started.notify_one();
                                release.notified().await;
                            }
                            load_ok(value).await
                        }
                    })
                    .await
                    .unwrap()
            }
        });
        started.notified().await;

        // The write: change the source, then invalidate; from here on "old" is stale.
        *source.lock().unwrap() = "new";
        cache.invalidate(&[key("k")]).await;

        // A reader arriving now joins the slow load (moka coalesces), yet must answer "new".
        let late_reader = tokio::spawn({
            let (cache, source) = (cache.clone(), source.clone());
            async move {
                cache
                    .get_or_load(&key("k"), || {
                        let value = *source.lock().unwrap();
                        load_ok(value)
                    })
                    .await
                    .unwrap()
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        release.notify_one();

        // The slow reader started before the write returned: either answer is allowed for it.
        slow_reader.await.unwrap();
        assert_eq!(&*late_reader.await.unwrap(), "new");
        assert_eq!(cache.get(&key("k")).await.as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn a_fetched_value_stays_current_until_its_key_is_invalidated() {
        let cache = cache(Duration::from_secs(60));
        let before = Instant::now();
        let a = cache.fetch(&key("a"), || load_ok("a")).await.unwrap();
        let b = cache.fetch(&key("b"), || load_ok("b")).await.unwrap();
        assert!(a.expires_at <= Instant::now() + Duration::from_secs(60));
        assert!(a.expires_at >= before + Duration::from_secs(60));
        // A hit reports the stamp of the load it was served from.
        let a_again = cache.fetch(&key("a"), || load_ok("other")).await.unwrap();
        assert_eq!(a_again.stamp, a.stamp);
        assert!(cache.is_current(&key("a"), a.stamp));

        cache.invalidate(&[key("a")]).await;
        assert!(!cache.is_current(&key("a"), a.stamp));
        assert!(cache.is_current(&key("b"), b.stamp));
        let reloaded = cache.fetch(&key("a"), || load_ok("a2")).await.unwrap();
        assert!(cache.is_current(&key("a"), reloaded.stamp));

        cache.invalidate_all().await;
        assert!(!cache.is_current(&key("b"), b.stamp));
        assert!(!cache.is_current(&key("a"), reloaded.stamp));
    }

    #[tokio::test]
    async fn with_the_cache_off_a_fetched_value_expires_at_once() {
        let cache = cache(Duration::ZERO);
        let fetched = cache.fetch(&key("a"), || load_ok("a")).await.unwrap();
        assert!(fetched.expires_at <= Instant::now());
    }

    #[tokio::test]
    async fn insert_refuses_data_loaded_before_an_invalidation() {
        let cache = cache(Duration::from_secs(60));
        let before = cache.stamp();
        cache.invalidate(&[key("a")]).await;
        assert!(!cache.insert(key("a"), Arc::from("old"), before).await);
        assert!(cache.insert(key("b"), Arc::from("fine"), before).await);

        let before = cache.stamp();
        cache.invalidate_matching(|k| k.starts_with("zz")).await;
        assert!(!cache.insert(key("c"), Arc::from("old"), before).await);
        assert!(
            cache
                .insert(key("c"), Arc::from("new"), cache.stamp())
                .await
        );
    }

    #[tokio::test]
    async fn invalidate_matching_drops_only_matching_keys() {
        let cache = cache(Duration::from_secs(60));
        for name in ["plans:user_1", "plans:user_1:type_hotspot", "plans:user_2"] {
            cache
                .insert(key(name), Arc::from(name), cache.stamp())
                .await;
        }
        cache
            .invalidate_matching(|k| k.starts_with("plans:user_1"))
            .await;
        assert!(cache.get(&key("plans:user_1")).await.is_none());
        assert!(cache.get(&key("plans:user_1:type_hotspot")).await.is_none());
        assert_eq!(
            cache.get(&key("plans:user_2")).await.as_deref(),
            Some("plans:user_2")
        );
        assert_eq!(cache.metrics.invalidations.get(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invalidate_matching_fences_a_load_in_flight() {
        let cache = Arc::new(cache(Duration::from_secs(60)));
        let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let reader = tokio::spawn({
            let (cache, started, release) = (cache.clone(), started.clone(), release.clone());
            async move {
                let first = AtomicBool::new(true);
                cache
                    .get_or_load(&key("plans:user_7"), || {
                        let blocks = first.swap(false, Ordering::SeqCst);
                        let (started, release) = (started.clone(), release.clone());
                        async move {
                            if blocks {
                                started.notify_one();
                                release.notified().await;
                                return load_ok("old").await;
                            }
                            load_ok("new").await
                        }
                    })
                    .await
            }
        });
        started.notified().await;
        cache
            .invalidate_matching(|k| k.starts_with("plans:user_7"))
            .await;
        release.notify_one();
        // The reader overlapped the invalidation, so it may answer either; "old" is never kept.
        reader.await.unwrap().unwrap();
        assert_ne!(
            cache.get(&key("plans:user_7")).await.as_deref(),
            Some("old")
        );
    }

    #[tokio::test]
    async fn invalidate_all_drops_everything() {
        let cache = cache(Duration::from_secs(60));
        cache.insert(key("a"), Arc::from("a"), cache.stamp()).await;
        cache.insert(key("b"), Arc::from("b"), cache.stamp()).await;
        cache.invalidate_all().await;
        assert!(cache.get(&key("a")).await.is_none());
        assert!(cache.get(&key("b")).await.is_none());
        assert_eq!(cache.entry_count().await, 0);
    }

    #[tokio::test]
    async fn entries_expire_after_the_ttl() {
        let cache = cache(Duration::from_millis(100));
        cache.insert(key("a"), Arc::from("a"), cache.stamp()).await;
        assert!(cache.get(&key("a")).await.is_some());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(cache.get(&key("a")).await.is_none());
    }

    #[tokio::test]
    async fn zero_ttl_turns_the_cache_off() {
        let cache = cache(Duration::ZERO);
        assert!(!cache.is_enabled());
        let loads = AtomicUsize::new(0);
        let load = || {
            loads.fetch_add(1, Ordering::SeqCst);
            load_ok("v")
        };
        cache.get_or_load(&key("a"), load).await.unwrap();
        cache.get_or_load(&key("a"), load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert!(!cache.insert(key("a"), Arc::from("v"), cache.stamp()).await);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = cache(Duration::from_secs(60));
        let failed = cache
            .get_or_load(&key("a"), || async {
                Err::<Arc<str>, _>("down".to_owned())
            })
            .await;
        assert_eq!(failed.unwrap_err().as_str(), "down");
        assert_eq!(
            &*cache
                .get_or_load(&key("a"), || load_ok("up"))
                .await
                .unwrap(),
            "up"
        );
    }
}
