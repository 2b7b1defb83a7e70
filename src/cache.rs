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
//!
//! This module knows nothing about plans: keys and values are generic.

mod fence;
#[cfg(test)]
mod tests;

use std::hash::Hash;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGauge, Registry};

use crate::telemetry::{register_counter, register_gauge};
use fence::Fence;

/// Slots recording the last invalidation per key hash. Memory stays fixed (512 KiB) however many
/// distinct keys the cache ever sees; a write's keys share a slot with another key's one time in
/// ~16,000, which costs that key one extra miss.
pub const STRIPES: usize = 65_536;

/// How often a reader retries when every load it joins is overtaken by a write, before it answers
/// from a private, uncached load (always correct, never loops).
const MAX_LOAD_ATTEMPTS: usize = 3;

/// The fence slot `key` uses: two keys with the same slot fence each other (a spurious miss,
/// never a stale read). Public so tests that predict hits and misses exactly can pick keys that
/// do not collide.
pub fn fence_slot<K: Hash>(key: &K) -> usize {
    Fence::slot_index(key, STRIPES)
}

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
        let name = |suffix: &str| format!("{prefix}_{suffix}");
        Ok(Self {
            hits: register_counter(
                registry,
                &name("hits_total"),
                "Reads answered from the cache.",
            )?,
            misses: register_counter(
                registry,
                &name("misses_total"),
                "Reads that found no current entry.",
            )?,
            db_loads: register_counter(
                registry,
                &name("db_loads_total"),
                "Database queries made to fill the cache (concurrent misses of one key share one).",
            )?,
            invalidations: register_counter(
                registry,
                &name("invalidations_total"),
                "Keys invalidated by writes.",
            )?,
            entries: register_gauge(
                registry,
                &name("entries"),
                "Keys currently held in the cache.",
            )?,
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

/// A value as [`Cache::get_or_load`] served it, with what a caller needs to cache something
/// derived from it under the same rules: the stamp to pass to [`Cache::is_current`] later, and a
/// moment by which the entry has expired (the value must not outlive it).
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

/// A bounded, expiring cache of `K -> V` whose values are loaded on demand. `V` should be cheap to
/// clone (an `Arc`): every hit clones it.
pub struct Cache<K, V> {
    /// `None` when the TTL is zero: the cache is off and every read loads.
    store: Option<moka::future::Cache<K, Stamped<V>>>,
    ttl: Duration,
    fence: Fence,
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
            metrics,
        }
    }

    /// Whether values are kept at all (false when the TTL is zero).
    pub(crate) fn is_enabled(&self) -> bool {
        self.store.is_some()
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

    /// Cache-aside read: the cached value, or the result of `load`, which is then cached; with
    /// the stamp of the load it came from and when it expires.
    ///
    /// Concurrent misses of one key share one call of `load`. A load that an invalidation of `key`
    /// overtook is never returned to a reader that arrived after that invalidation, nor kept.
    /// Errors are not cached; every waiter of the failed load gets the same error.
    pub async fn get_or_load<F, Fut, E>(&self, key: &K, load: F) -> Result<Fetched<V>, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        let Some(store) = &self.store else {
            return self.load_uncached(load).await;
        };
        if let Some(entry) = self.get_stamped(key).await {
            self.metrics.hits.inc();
            return Ok(entry.into());
        }
        self.metrics.misses.inc();

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

    /// Calls `load` without looking at or filling the cache (counted as a miss and a load), for
    /// when the cache is off or its owner knows it cannot be trusted; the value expires at once.
    pub(crate) async fn load_uncached<F, Fut, E>(&self, load: F) -> Result<Fetched<V>, Arc<E>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.metrics.misses.inc();
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

    /// The clock reading to pass to [`Cache::insert`]; take it *before* reading the data.
    pub(crate) fn stamp(&self) -> Stamp {
        Stamp(self.fence.now())
    }

    /// Caches `value` read from the source after `loaded_at` was taken. Refused (and `false`
    /// returned) if an invalidation has overtaken it since. (One that overtakes it after this
    /// check is caught by the check every read makes.)
    pub async fn insert(&self, key: K, value: V, loaded_at: Stamp) -> bool {
        let Some(store) = &self.store else {
            return false;
        };
        let Stamp(loaded_at) = loaded_at;
        if !self.fence.is_current(&key, loaded_at) {
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
    pub(crate) async fn entry_count(&self) -> u64 {
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
