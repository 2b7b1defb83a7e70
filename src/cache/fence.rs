//! The fence: a logical clock, the last invalidation time per key slot, and two global floors.
//! It decides whether a cached value may still be served, and nothing else; the store, the
//! single-flight and the metrics live in `Cache` (`src/cache.rs`).
//!
//! This file is self-contained (no `super::`, no `crate::`) so that it can be model-checked with
//! loom: the `fence-loom` workspace crate compiles this very file with `--cfg loom`, which swaps
//! the std atomics below for loom's, and explores every interleaving of a writer, a loader and a
//! reader (see `fence-loom/src/lib.rs` and the book, docs/src/testing.md).
//!
//! # The protocol
//!
//! * **Load** (a cache miss): read the clock, `s = now()`, *then* query the database, then store
//!   the value stamped with `s`. Moka may hand the same in-flight load to readers that arrive
//!   later (single-flight), so a stamped value can reach a reader long after `s` was read.
//! * **Invalidate** key `k` (after a write): the writer first commits to the database, then
//!   `t = tick()`, then `fence_key(k, t)` (a `fetch_max` into `k`'s slot), then removes `k` from
//!   the store, then returns to its caller. `invalidate_all` raises the global `floor` to `t`
//!   instead.
//! * **Serve**: a stamped value `(s, v)` of key `k` is served only if `is_current(k, s)`:
//!   `s >= floor` and `s >= slot(k)`. Otherwise it is dropped and loaded again.
//!
//! # Why no reader is served a value older than a write that returned
//!
//! Take a write `W` to key `k` whose invalidation ticked the clock to `t`, and a reader `R` that
//! starts after `W` returned. `R` is handed some stamped value `(s, v)` of `k` (from the store, or
//! by joining a load in flight). Either:
//!
//! 1. `s >= t`. The clock is only ever advanced by `tick` (an atomic read-modify-write), so the
//!    load read the clock after `W`'s tick: `W`'s `tick` *happens before* that load's `now()`
//!    (release/acquire on the clock), and `W`'s commit happens before its tick (program order).
//!    The load queried the database after reading the clock, so after the commit: `v` reflects
//!    `W`. Serving it is correct.
//! 2. `s < t`. `W` stored `t` into `k`'s slot with `fetch_max` before it returned, and `R` started
//!    after that, so `R`'s load of the slot sees a value `>= t` (coherence; `fetch_max` never
//!    lowers a slot, so a later, smaller fence from another writer cannot undo it). Hence
//!    `slot(k) >= t > s`, `is_current` is false, and `R` rejects the value. The same holds for the
//!    `floor` after `invalidate_all`.
//!
//! So a value is served to `R` only in case 1. A rejected value is removed (unless a newer one
//! replaced it) and `R` loads again with a fresh stamp `>= t`: case 1. Slots are shared between
//! keys by hash; a collision makes `is_current` false more often (a spurious miss), never true
//! more often, so it costs a reload and never a stale read.
//!
//! Orderings: every access is `SeqCst`. The argument above needs only release/acquire on the clock
//! and coherence on the slots; loom checks it under exactly that weaker reading (it treats
//! `SeqCst` as `AcqRel`), with the "database" itself modelled as a *relaxed* atomic, so all the
//! ordering the proof uses comes from the fence.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};

#[cfg(loom)]
use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU64, Ordering};

/// A logical clock and the last invalidation time per key slot.
pub struct Fence {
    clock: AtomicU64,
    /// Last `invalidate_all`: values loaded before it are stale, whatever their key.
    floor: AtomicU64,
    slots: Box<[AtomicU64]>,
}

impl Fence {
    /// A fence with `slots` slots (at least one). More slots, fewer spurious misses.
    pub fn new(slots: usize) -> Self {
        Self {
            clock: AtomicU64::new(0),
            floor: AtomicU64::new(0),
            slots: (0..slots.max(1)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The stamp for a load that starts now. Read it *before* querying the source.
    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Advances the clock and returns the new time; a load stamped from now on is not fenced by
    /// it. Call it only after the write it announces has committed.
    pub fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Which of `slots` slots `key` uses; keys with the same index fence each other. The hasher
    /// is deterministic, so which keys share a slot does not change from run to run. (Only a
    /// writer can invalidate, so chosen collisions buy an attacker nothing.)
    pub fn slot_index<K: Hash>(key: &K, slots: usize) -> usize {
        // Truncation is intended: the hash only picks a slot.
        BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize % slots.max(1)
    }

    fn slot<K: Hash>(&self, key: &K) -> &AtomicU64 {
        &self.slots[Self::slot_index(key, self.slots.len())]
    }

    /// Values of `key` loaded before `at` are stale from now on.
    pub fn fence_key<K: Hash>(&self, key: &K, at: u64) {
        self.slot(key).fetch_max(at, Ordering::SeqCst);
    }

    /// Every value loaded before `at` is stale from now on.
    pub fn fence_all(&self, at: u64) {
        self.floor.fetch_max(at, Ordering::SeqCst);
    }

    /// Whether a value of `key` loaded at `loaded_at` may be served.
    pub fn is_current<K: Hash>(&self, key: &K, loaded_at: u64) -> bool {
        loaded_at >= self.floor.load(Ordering::SeqCst)
            && loaded_at >= self.slot(key).load(Ordering::SeqCst)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_taken_before_a_fence_is_stale_and_one_taken_after_is_current() {
        let fence = Fence::new(1024);
        let before = fence.now();
        let at = fence.tick();
        fence.fence_key(&"a", at);
        assert!(!fence.is_current(&"a", before));
        assert!(fence.is_current(&"a", fence.now()));
    }

    #[test]
    fn a_later_smaller_fence_never_lowers_a_slot() {
        // One slot: every key shares it, as colliding keys do.
        let fence = Fence::new(1);
        let first = fence.tick();
        let second = fence.tick();
        fence.fence_key(&"b", second);
        fence.fence_key(&"a", first);
        assert!(!fence.is_current(&"b", first));
        assert!(fence.is_current(&"b", second));
    }

    #[test]
    fn the_floor_fences_every_key() {
        let fence = Fence::new(1024);
        let before = fence.now();
        let at = fence.tick();
        fence.fence_all(at);
        assert!(!fence.is_current(&"x", at - 1));
        assert!(!fence.is_current(&"y", before));
        assert!(fence.is_current(&"y", at));
    }
}
