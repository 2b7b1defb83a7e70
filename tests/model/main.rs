//! Model-based test of the plan cache: random sequences of operations run against the real
//! [`PlanService`] (a migrated SQLite file, the real moka cache and fence) and, in lockstep,
//! against a model small enough to be obviously right:
//!
//! * the database truth: a map of plans by id;
//! * per cache key, the snapshot the cache holds, if any: filled by a list (or page) miss and by
//!   warm-up; dropped by a write's precise invalidation of its four keys (an update's keys before
//!   and after, also when it moves the plan), by a change-feed notice (the keys before and after
//!   the change), by `invalidate_all`, by `resume_caching`, and by expiry;
//! * whether caching is suspended (reads then go to the database and fill nothing).
//!
//! Every read must return exactly what the model predicts (a page: what the Relay specification
//! cuts from the predicted list, computed naively), including a *stale* snapshot after a
//! change made behind the service's back with plain SQL, and must be the predicted hit or miss
//! (read from the `plan_cache_*` Prometheus counters). A divergence fails with the shrunk,
//! shortest sequence of operations that shows it.
//!
//! Expiry uses moka's real clock: the TTL is short and `Expire` sleeps past it. The model knows
//! when each snapshot was filled (the wall-clock window of the read that filled it) and predicts a
//! hit only while the entry is certainly younger than the TTL, a miss once it is certainly older;
//! in the narrow window in between (only after a scheduling hiccup) it accepts either outcome but
//! still checks the value against the one that happened.
//!
//! Cases: `PROPTEST_CASES` (default 100). SQLite only: the cache logic does not depend on the
//! backend, and PostgreSQL is covered by `tests/api`.

mod lockstep;
mod model;
mod ops;
mod shrinking;
mod system;

use std::collections::HashSet;
use std::time::Duration;

use plans_api::plans::{ConnectionType, PlanFilter, PlanId, PlanKey};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::lockstep::run;
use crate::ops::op;
use crate::shrinking::Sequence;

/// How long an entry lives. Short, so `Expire` is cheap; long next to one operation (~1 ms).
const TTL: Duration = Duration::from_millis(100);
/// Allowance between our clock readings and moka's.
const SLACK: Duration = Duration::from_millis(20);
const USERS: [i32; 2] = [1, 2];
const TYPES: [ConnectionType; 3] = [
    ConnectionType::Hotspot,
    ConnectionType::Pppoe,
    ConnectionType::Static,
];
/// An id no plan ever has in a case (ids grow from 1; a case makes at most a few dozen).
const MISSING_ID: PlanId = 1_000_000;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(100);
    Config {
        cases,
        ..Config::default()
    }
}

/// Every key the model uses has a fence slot of its own, so hits and misses are exactly
/// predictable (a shared slot would turn some predicted hits into harmless misses). If a change
/// of keys or hashing makes two share one, pick other user ids.
#[test]
fn the_model_keys_do_not_share_fence_slots() {
    let mut slots = HashSet::new();
    let mut keys = 0;
    for user_id in std::iter::once(None).chain(USERS.map(Some)) {
        for connection_type in std::iter::once(None).chain(TYPES.map(Some)) {
            let key = PlanKey::for_filter(PlanFilter {
                user_id,
                connection_type,
            });
            slots.insert(plans_api::cache::fence_slot(&key));
            keys += 1;
        }
    }
    assert_eq!(slots.len(), keys, "two model keys share a fence slot");
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_plan_service_behaves_like_its_model(ops in Sequence { element: op(), len: 1..50 }) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(&ops))?;
    }
}
