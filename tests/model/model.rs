//! The model: the database truth, the snapshot the cache holds per key, and what a read of a key
//! should therefore do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use plans_api::plans::{Plan, PlanFilter, PlanId, PlanKey, PlanOwner};

use crate::ops::Pick;
use crate::{MISSING_ID, SLACK, TTL, TYPES};

/// The wall-clock window of the call that filled an entry; moka stamped it somewhere inside.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub plans: Vec<Plan>,
    pub filled: Window,
}

/// What a read of a key should do.
pub enum Prediction {
    Hit(Vec<Plan>),
    Miss,
    /// The entry is about as old as the TTL: either outcome is right.
    HitOrMiss(Vec<Plan>),
}

#[derive(Default)]
pub struct Model {
    pub truth: BTreeMap<PlanId, Plan>,
    pub cache: HashMap<PlanKey, Snapshot>,
    pub suspended: bool,
}

impl Model {
    pub fn select(&self, filter: PlanFilter) -> Vec<Plan> {
        self.truth
            .values()
            .filter(|plan| filter.matches(plan))
            .cloned()
            .collect()
    }

    pub fn existing(&self, n: usize) -> Option<Plan> {
        if self.truth.is_empty() {
            return None;
        }
        self.truth.values().nth(n % self.truth.len()).cloned()
    }

    pub fn id_of(&self, pick: Pick) -> PlanId {
        match pick {
            Pick::Existing(n) => self.existing(n).map_or(MISSING_ID, |plan| plan.id),
            Pick::Missing => MISSING_ID,
        }
    }

    pub fn drop_keys_of(&mut self, owner: PlanOwner) {
        for key in PlanKey::affected_by(owner.user_id, owner.connection_type) {
            self.cache.remove(&key);
        }
    }

    /// A read of `key` running within `now` (the call's window).
    pub fn predict(&self, key: &PlanKey, now: Window) -> Prediction {
        let Some(snapshot) = self.cache.get(key) else {
            return Prediction::Miss;
        };
        if now.end + SLACK < snapshot.filled.start + TTL {
            Prediction::Hit(snapshot.plans.clone())
        } else if now.start > snapshot.filled.end + TTL + SLACK {
            Prediction::Miss
        } else {
            Prediction::HitOrMiss(snapshot.plans.clone())
        }
    }

    /// The keys warm-up fills: `plans`, every type key, and the four keys of every plan.
    pub fn warm_keys(&self) -> HashSet<PlanKey> {
        let mut keys: HashSet<PlanKey> = TYPES
            .iter()
            .map(|&kind| {
                PlanKey::for_filter(PlanFilter {
                    user_id: None,
                    connection_type: Some(kind),
                })
            })
            .collect();
        keys.insert(PlanKey::for_filter(PlanFilter::default()));
        for plan in self.truth.values() {
            keys.extend(PlanKey::affected_by(plan.user_id, plan.connection_type));
        }
        keys
    }
}

pub fn owner(plan: &Plan) -> PlanOwner {
    PlanOwner {
        user_id: plan.user_id,
        connection_type: plan.connection_type,
    }
}
