//! What a read was served from, so a value derived from plan lists (a cached GraphQL response)
//! can be kept under the plan cache's own invalidation: [`Served`] hands each list out together
//! with its [`PlanRead`], and [`super::PlanService::is_current`] says later whether the reads are
//! all still current.

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
    /// The list must not be served after this moment (the plan cache's TTL); a value derived
    /// from it neither.
    pub(crate) fn expires_at(&self) -> Instant {
        self.expires_at
    }
}

/// A value [`super::PlanService`] served, with the read that vouches for it.
#[derive(Debug, Clone)]
pub struct Served<T> {
    pub value: T,
    pub read: PlanRead,
}

impl<T> Served<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            read: self.read,
        }
    }
}
