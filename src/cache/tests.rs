//! Unit tests of the cache: single-flight, the fence against real tasks, expiry, errors.

use super::*;
use std::sync::Mutex;
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

impl Cache<String, Arc<str>> {
    /// The value a read would be served now without loading, if any.
    async fn get(&self, key: &String) -> Option<Arc<str>> {
        self.get_stamped(key).await.map(|entry| entry.value)
    }

    async fn value_or_load<F, Fut>(&self, key: &String, load: F) -> Result<Arc<str>, Arc<String>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Arc<str>, String>>,
    {
        self.get_or_load(key, load)
            .await
            .map(|fetched| fetched.value)
    }
}

#[tokio::test]
async fn caches_a_loaded_value_until_invalidated() {
    let cache = cache(Duration::from_secs(60));
    let loads = AtomicUsize::new(0);
    let load = || {
        loads.fetch_add(1, Ordering::SeqCst);
        load_ok("v1")
    };
    assert_eq!(&*cache.value_or_load(&key("a"), load).await.unwrap(), "v1");
    assert_eq!(&*cache.value_or_load(&key("a"), load).await.unwrap(), "v1");
    assert_eq!(loads.load(Ordering::SeqCst), 1);
    assert_eq!(cache.metrics.hits.get(), 1);
    assert_eq!(cache.metrics.misses.get(), 1);

    cache.invalidate(&[key("a")]).await;
    assert!(cache.get(&key("a")).await.is_none());
    cache.value_or_load(&key("a"), load).await.unwrap();
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
                    .value_or_load(&key("hot"), || {
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
                .value_or_load(&key("k"), || {
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
                .value_or_load(&key("k"), || {
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
    let a = cache.get_or_load(&key("a"), || load_ok("a")).await.unwrap();
    let b = cache.get_or_load(&key("b"), || load_ok("b")).await.unwrap();
    assert!(a.expires_at <= Instant::now() + Duration::from_secs(60));
    assert!(a.expires_at >= before + Duration::from_secs(60));
    // A hit reports the stamp of the load it was served from.
    let a_again = cache
        .get_or_load(&key("a"), || load_ok("other"))
        .await
        .unwrap();
    assert_eq!(a_again.stamp, a.stamp);
    assert!(cache.is_current(&key("a"), a.stamp));

    cache.invalidate(&[key("a")]).await;
    assert!(!cache.is_current(&key("a"), a.stamp));
    assert!(cache.is_current(&key("b"), b.stamp));
    let reloaded = cache
        .get_or_load(&key("a"), || load_ok("a2"))
        .await
        .unwrap();
    assert!(cache.is_current(&key("a"), reloaded.stamp));

    cache.invalidate_all().await;
    assert!(!cache.is_current(&key("b"), b.stamp));
    assert!(!cache.is_current(&key("a"), reloaded.stamp));
}

#[tokio::test]
async fn with_the_cache_off_a_fetched_value_expires_at_once() {
    let cache = cache(Duration::ZERO);
    let fetched = cache.get_or_load(&key("a"), || load_ok("a")).await.unwrap();
    assert!(fetched.expires_at <= Instant::now());
}

#[tokio::test]
async fn insert_refuses_data_loaded_before_an_invalidation() {
    let cache = cache(Duration::from_secs(60));
    let before = cache.stamp();
    cache.invalidate(&[key("a")]).await;
    assert!(!cache.insert(key("a"), Arc::from("old"), before).await);
    assert!(cache.insert(key("b"), Arc::from("fine"), before).await);

    cache.invalidate_all().await;
    assert!(!cache.insert(key("c"), Arc::from("old"), before).await);
    assert!(
        cache
            .insert(key("c"), Arc::from("new"), cache.stamp())
            .await
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
    cache.value_or_load(&key("a"), load).await.unwrap();
    cache.value_or_load(&key("a"), load).await.unwrap();
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    assert!(!cache.insert(key("a"), Arc::from("v"), cache.stamp()).await);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let cache = cache(Duration::from_secs(60));
    let failed = cache
        .value_or_load(&key("a"), || async {
            Err::<Arc<str>, _>("down".to_owned())
        })
        .await;
    assert_eq!(failed.unwrap_err().as_str(), "down");
    assert_eq!(
        &*cache
            .value_or_load(&key("a"), || load_ok("up"))
            .await
            .unwrap(),
        "up"
    );
}
