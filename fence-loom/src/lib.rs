//! Model-checks the plan cache's fence with loom: every interleaving (under the C11 memory
//! model, release/acquire reading) of a writer, a loader and a reader.
//!
//! The fence is compiled from the server's own source file, `src/cache/fence.rs`, with loom's
//! atomics in place of std's. Around it, these tests rebuild the cache's protocol in miniature, as
//! `src/cache.rs` runs it: a "database" per key (a *relaxed* atomic, so every ordering the
//! argument needs must come from the fence), a store slot per key (moka, here a mutex), the
//! single-flight hand-over of an in-flight load.
//! The property checked is the contract's: a read that starts after a write returned never accepts
//! the value from before the write.
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release -p fence-loom
//! ```
//!
//! (A separate target directory, because `--cfg loom` changes every crate's flags.)

#[path = "../../src/cache/fence.rs"]
pub mod fence;

#[cfg(all(test, loom))]
mod tests {
    use loom::sync::atomic::AtomicU64;
    use loom::sync::atomic::Ordering::Relaxed;
    use loom::sync::{Arc, Mutex};
    use loom::thread;

    use crate::fence::Fence;

    const OLD: u64 = 1;
    const NEW: u64 = 2;
    const KEYS: [&str; 2] = ["plans:user_1", "plans:user_2"];

    #[derive(Debug, Clone, Copy)]
    struct Stamped {
        loaded_at: u64,
        value: u64,
    }

    /// One model run's world: two keys, each with its database row and its store slot.
    struct World {
        fence: Fence,
        db: [AtomicU64; 2],
        store: [Mutex<Option<Stamped>>; 2],
        /// The result of the in-flight load of key 0, as moka hands it to readers that joined.
        flight: Mutex<Option<Stamped>>,
    }

    impl World {
        fn new(slots: usize) -> Arc<Self> {
            Arc::new(Self {
                fence: Fence::new(slots),
                db: [AtomicU64::new(OLD), AtomicU64::new(OLD)],
                store: [Mutex::new(None), Mutex::new(None)],
                flight: Mutex::new(None),
            })
        }

        /// A write through the service: commit, then invalidate the key, then return.
        fn write(&self, k: usize) {
            self.db[k].store(NEW, Relaxed);
            let at = self.fence.tick();
            self.fence.fence_key(&KEYS[k], at);
            *self.store[k].lock().unwrap() = None;
        }

        /// `invalidate_all` after a write of key `k`.
        fn write_then_invalidate_all(&self, k: usize) {
            self.db[k].store(NEW, Relaxed);
            let at = self.fence.tick();
            self.fence.fence_all(at);
            for slot in &self.store {
                *slot.lock().unwrap() = None;
            }
        }

        /// A load: read the clock, then query.
        fn load(&self, k: usize) -> Stamped {
            let loaded_at = self.fence.now();
            Stamped {
                loaded_at,
                value: self.db[k].load(Relaxed),
            }
        }

        /// A cache miss through `get_or_load`: load, then the value lands in the store.
        fn load_and_store(&self, k: usize) -> Stamped {
            let entry = self.load(k);
            *self.store[k].lock().unwrap() = Some(entry);
            entry
        }

        /// What `get_or_load` serves: a current stored value, or else (after dropping a stale
        /// one) a fresh load.
        fn read(&self, k: usize) -> u64 {
            {
                let mut stored = self.store[k].lock().unwrap();
                match *stored {
                    Some(entry) if self.fence.is_current(&KEYS[k], entry.loaded_at) => {
                        return entry.value;
                    }
                    Some(_) => *stored = None,
                    None => {}
                }
            }
            self.load_and_store(k).value
        }

        /// Validates a value handed over by a joined load the way `get_or_load` does; a rejected
        /// one is followed by a load of the reader's own.
        fn accept_or_reload(&self, k: usize, entry: Stamped) -> u64 {
            if self.fence.is_current(&KEYS[k], entry.loaded_at) {
                entry.value
            } else {
                let fresh = self.load(k);
                assert!(
                    self.fence.is_current(&KEYS[k], fresh.loaded_at),
                    "a load started after the write must be current"
                );
                fresh.value
            }
        }
    }

    fn check(model: impl Fn() + Sync + Send + 'static) {
        loom::model::Builder::new().check(model);
    }

    /// A load stamped before a write ends after the write's invalidation and puts the old value
    /// in the store (the hole moka leaves open). A reader that starts after the write returned
    /// must not be served it.
    #[test]
    fn an_old_load_stored_after_the_invalidation_is_never_served() {
        check(|| {
            let world = World::new(16);
            let loader = thread::spawn({
                let world = world.clone();
                move || {
                    world.load_and_store(0);
                }
            });
            let writer = thread::spawn({
                let world = world.clone();
                move || world.write(0)
            });
            writer.join().unwrap();
            // Runs concurrently with the loader, which may still store its value.
            assert_eq!(world.read(0), NEW);
            loader.join().unwrap();
            assert_eq!(world.read(0), NEW);
        });
    }

    /// Single-flight: a reader that arrives after the write joins the load already in flight
    /// (moka hands every waiter the leader's result). It must reject that result if the load was
    /// stamped before the write's tick.
    #[test]
    fn a_reader_joining_an_old_load_in_flight_rejects_it() {
        check(|| {
            let world = World::new(16);
            let leader = thread::spawn({
                let world = world.clone();
                move || {
                    let entry = world.load_and_store(0);
                    *world.flight.lock().unwrap() = Some(entry);
                }
            });
            let writer = thread::spawn({
                let world = world.clone();
                move || world.write(0)
            });
            writer.join().unwrap();
            let joined = loop {
                if let Some(entry) = *world.flight.lock().unwrap() {
                    break entry;
                }
                thread::yield_now();
            };
            assert_eq!(world.accept_or_reload(0, joined), NEW);
            leader.join().unwrap();
            assert_eq!(world.read(0), NEW);
        });
    }

    /// Two keys share the only slot (a hash collision); their writers fence it out of order, the
    /// later tick first. `fetch_max` must keep the larger time, or a load of key 1 stamped between
    /// the two ticks would be served its old value.
    #[test]
    fn colliding_keys_fenced_out_of_order_stay_fenced() {
        check(|| {
            let world = World::new(1);
            let writers: Vec<_> = [0, 1]
                .into_iter()
                .map(|k| {
                    let world = world.clone();
                    thread::spawn(move || world.write(k))
                })
                .collect();
            let loader = thread::spawn({
                let world = world.clone();
                move || {
                    world.load_and_store(1);
                }
            });
            for writer in writers {
                writer.join().unwrap();
            }
            assert_eq!(world.read(1), NEW);
            assert_eq!(world.read(0), NEW);
            loader.join().unwrap();
        });
    }

    /// `invalidate_all` raises the floor: a load in flight across it is never served after it.
    #[test]
    fn invalidate_all_fences_a_load_in_flight() {
        check(|| {
            let world = World::new(16);
            let loader = thread::spawn({
                let world = world.clone();
                move || {
                    world.load_and_store(0);
                }
            });
            let writer = thread::spawn({
                let world = world.clone();
                move || world.write_then_invalidate_all(0)
            });
            writer.join().unwrap();
            assert_eq!(world.read(0), NEW);
            loader.join().unwrap();
            assert_eq!(world.read(0), NEW);
        });
    }

    /// The checker has teeth: a writer that invalidates *before* it commits (the wrong order)
    /// lets a load stamped after the tick read the old row, and loom finds that interleaving.
    #[test]
    fn invalidating_before_committing_is_caught() {
        let found = std::panic::catch_unwind(|| {
            check(|| {
                let world = World::new(16);
                let loader = thread::spawn({
                    let world = world.clone();
                    move || {
                        world.load_and_store(0);
                    }
                });
                let writer = thread::spawn({
                    let world = world.clone();
                    move || {
                        let at = world.fence.tick();
                        world.fence.fence_key(&KEYS[0], at);
                        *world.store[0].lock().unwrap() = None;
                        world.db[0].store(NEW, Relaxed);
                    }
                });
                writer.join().unwrap();
                loader.join().unwrap();
                assert_eq!(world.read(0), NEW, "stale value served");
            });
        });
        assert!(found.is_err(), "loom must find the stale read");
    }
}
