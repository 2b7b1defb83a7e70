//! Read tracking, so something derived from plan lists (the GraphQL response cache) can be cached
//! under the plan cache's own invalidation: it records which lists a computation read, and
//! [`super::PlanService::is_current`] says later whether all of them are still current.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::PlanKey;
use crate::cache::Stamp;

/// One plan list as it was served: its key, the plan cache's stamp of the load it came from, and
/// when it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanRead {
    pub(super) key: PlanKey,
    pub(super) stamp: Stamp,
    pub(super) expires_at: Instant,
}

impl PlanRead {
    pub fn key(&self) -> PlanKey {
        self.key
    }

    /// The list must not be served after this moment (the plan cache's TTL); a value derived
    /// from it neither.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }
}

/// Collects the [`PlanRead`]s of one computation (e.g. one GraphQL request). Resolvers may run
/// concurrently, hence the lock; it is taken once per list read, never on a cache hit of the
/// derived value.
#[derive(Debug, Default)]
pub struct PlanReads {
    reads: Mutex<Vec<PlanRead>>,
}

impl PlanReads {
    pub fn new() -> Self {
        Self::default()
    }

    pub(super) fn record(&self, read: PlanRead) {
        self.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(read);
    }

    /// What was read so far, each key once (the read with the oldest stamp wins, since it is the
    /// first to go stale).
    pub fn snapshot(&self) -> Vec<PlanRead> {
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        reads.sort_by_key(|read| (read.key.to_string(), read.stamp));
        reads.dedup_by_key(|read| read.key);
        reads
    }
}
